#!/usr/bin/env bash
# Writes the lab's probe into a root filesystem tree (DIR): a boot-time service that prints, on
# the serial console and before the login prompt, what the e2e tests check of a netbooted
# client: which file system holds the medium and where (casper's /cdrom, live-boot's
# /run/live/medium, archiso's bootmnt), the live user's account, the memory left, and the
# checksum of each root image read back whole from the NFS mount, as an installer copying it
# would read it.
# Usage: lab-probe.sh DIR
set -euo pipefail
dir=${1:?usage: lab-probe.sh DIR}
mkdir -p "$dir/usr/local/sbin" "$dir/etc/systemd/system/multi-user.target.wants"

cat > "$dir/usr/local/sbin/sharecd-probe" <<'EOF'
#!/bin/sh
# sharecd e2e probe: every line starts "sharecd-probe:" so the test can find it on ttyS0.
p() { echo "sharecd-probe: $*"; }
while read -r dev mnt type _; do
	case $type in nfs*) p "medium $dev on $mnt type $type" ;; esac
done < /proc/mounts
getent passwd 999 | sed 's/^/sharecd-probe: user /'
# What a diskless client has left to run in: archiso's copytoram=y would hold the root image here.
p "mem $(awk '/^(MemTotal|MemAvailable|Shmem):/ { printf "%s %s ", $1, $2 }' /proc/meminfo)"
[ -s /var/log/casper.log ] && p "casper log $(head -c 300 /var/log/casper.log | tr '\n' ' ')"
while read -r _ mnt type _; do
	case $type in nfs*) ;; *) continue ;; esac
	for img in "$mnt"/casper/*.squashfs "$mnt"/live/*.squashfs "$mnt"/*/x86_64/*.sfs; do
		[ -f "$img" ] || continue
		p "sha256 $(sha256sum "$img" | cut -d' ' -f1) ${img#"$mnt"/}"
	done
done < /proc/mounts
p done
EOF
chmod 0755 "$dir/usr/local/sbin/sharecd-probe"

# Before the serial getty, so every line is on the console when login: is.
cat > "$dir/etc/systemd/system/sharecd-probe.service" <<'EOF'
[Unit]
Description=sharecd e2e probe
After=local-fs.target network.target
Before=serial-getty@ttyS0.service getty.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/sharecd-probe
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
EOF
ln -sf ../sharecd-probe.service "$dir/etc/systemd/system/multi-user.target.wants/sharecd-probe.service"
