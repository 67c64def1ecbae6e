#!/usr/bin/env bash
# Builds a casper-family (Ubuntu-like) live ISO from the Debian live ISO that build-live-iso.sh
# makes, with an initrd of Ubuntu's own casper 1.470.2 (../shared/thirdparty, used from there,
# never copied into the project), so the e2e lab boots casper's real code without Ubuntu's ISO.
# Laid out as Ubuntu 24.04 ships:
#   casper/vmlinuz, casper/initrd           Debian's kernel; initramfs-tools + casper, built in
#                                           the test ISO's own root (live-root.sh)
#   casper/minimal.squashfs                 the test ISO's root filesystem, unchanged
#   casper/minimal.standard.squashfs        a layer on top: what casper's root needs of a Debian
#                                           root (the live user's uid, below)
#   .disk/info, .disk/casper-uuid-generic   the uuid casper checks against its initrd's
#   boot/grub/grub.cfg                      Ubuntu's menu: no isolinux, no boot=casper, "---"
# The initrd names the layer to stack as Ubuntu 24.04's does (conf/conf.d/default-layer.conf,
# LAYERFS_PATH=minimal.standard.squashfs): casper mounts minimal, then minimal.standard over it.
# Usage: build-casper-medium.sh [OUT.iso]   (default: $SHARECD_CACHE/casper-test.iso)
# Needs squashfs-tools, xorriso and root (chroot, overlay mount). ~2 minutes once the ISO exists.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=live-root.sh
. "$here/live-root.sh"
out=${1:-$cache/casper-test.iso}
casper=${SHARECD_THIRDPARTY:-$here/../../shared/thirdparty}/casper-1.470.2
[ -f "$casper/scripts/casper" ] ||
  { echo "no casper at $casper: ../shared/thirdparty must sit beside the clone" >&2; exit 1; }
casper=$(cd "$casper" && pwd)

live_root
start_medium "$out" "$casper"
mkdir -p "$med/casper" "$med/.disk" "$med/boot/grub"

# casper's files where its debian/casper.install puts them, in an overlay of the test root.
# live-boot's own initramfs parts are taken out of this overlay, so that the initrd is casper's
# alone (the squashfs the clients mount keeps them: casper never runs them).
enter_root "$work/root"
c=$entered
install -D -m 0755 "$casper/hooks/casper" "$c/usr/share/initramfs-tools/hooks/casper"
cp -r "$casper/scripts/." "$c/usr/share/initramfs-tools/scripts/"
mkdir -p "$c/usr/share/casper"
for f in casper-preseed casper-reconfigure casper-set-selections; do
  install -m 0755 "$casper/bin/$f" "$c/usr/share/casper/$f"
done
install -m 0644 "$casper/casper.conf" "$c/etc/casper.conf"
chroot "$c" sh -c 'dpkg -L live-boot-initramfs-tools | while read -r f; do
  case $f in /usr/share/initramfs-tools/*|/etc/initramfs-tools/*) [ -f "$f" ] && rm -f "$f";; esac
done; true'
# The hook writes `uuidgen -r` into conf/uuid.conf; the medium must carry the same uuid. The
# root has no uuid-runtime, so uuidgen is the kernel's random uuid, chosen here and kept.
uuid=$(cat /proc/sys/kernel/random/uuid)
printf '#!/bin/sh\necho %s\n' "$uuid" > "$c/usr/bin/uuidgen"
chmod 0755 "$c/usr/bin/uuidgen"
echo 'LAYERFS_PATH=minimal.standard.squashfs' > "$c/etc/initramfs-tools/conf.d/default-layer.conf"
chroot "$c" env CASPER_GENERATE_UUID=1 \
  mkinitramfs -o /tmp/initrd "$kver" >"$work/mkinitramfs.log" 2>&1 ||
  { tail -n 40 "$work/mkinitramfs.log" >&2; exit 1; }
mv "$c/tmp/initrd" "$med/casper/initrd"
leave_root

cp "$live/live/vmlinuz-$kver" "$med/casper/vmlinuz"
cp "$live/live/filesystem.squashfs" "$med/casper/minimal.squashfs"

# The layer over the Debian root. casper-bottom/25adduser makes the live user with uid and gid
# 999; a Debian root gives 999 to a system group (systemd-journal), and then no user is made.
# Whatever holds 999 moves to a free id below it (its files on the lower layer then show as 999;
# journald's tmpfiles set /var/log/journal right by group name at boot).
layer=$work/layer
mkdir -p "$layer/etc"
free=$(awk -F: '{ used[$3] = 1 } END { for (i = 998; i > 900; i--) if (!used[i]) { print i; exit } }' \
  "$root/etc/group" "$root/etc/passwd")
awk -F: -v OFS=: -v to="$free" '$3 == 999 { $3 = to } { print }' "$root/etc/group" > "$layer/etc/group"
awk -F: -v OFS=: -v to="$free" '$3 == 999 { $3 = to } $4 == 999 { $4 = to } { print }' \
  "$root/etc/passwd" > "$layer/etc/passwd"
chmod 0644 "$layer/etc/group" "$layer/etc/passwd"
mksquashfs "$layer" "$med/casper/minimal.standard.squashfs" -quiet -noappend -all-root >/dev/null

echo "$uuid" > "$med/.disk/casper-uuid-generic"
# casper names the live user and host after the first word of .disk/info ("ubuntu"), as on Ubuntu.
echo "Ubuntu 24.04-like sharecd lab (casper 1.470.2, Debian kernel $kver) - amd64" > "$med/.disk/info"
# Ubuntu 24.04's grub.cfg, with the serial console the lab reads last on each kernel line (systemd
# starts its getty on the last console=). The memory test is not on this medium, as on a remaster
# that dropped it: sharecd must leave that entry out and boot the others.
cat > "$med/boot/grub/grub.cfg" <<'EOF'
set timeout=30

loadfont unicode

set menu_color_normal=white/black
set menu_color_highlight=black/light-gray

menuentry "Try or Install Ubuntu" {
	set gfxpayload=keep
	linux	/casper/vmlinuz  --- console=tty0 console=ttyS0,115200
	initrd	/casper/initrd
}
menuentry "Ubuntu (safe graphics)" {
	set gfxpayload=keep
	linux	/casper/vmlinuz nomodeset  --- console=tty0 console=ttyS0,115200
	initrd	/casper/initrd
}
grub_platform
if [ "$grub_platform" = "efi" ]; then
menuentry 'Boot from next volume' {
	exit 1
}
menuentry 'UEFI Firmware Settings' {
	fwsetup
}
else
menuentry 'Test memory' {
	linux16 /boot/memtest86+x64.bin
}
fi
EOF

# What the clients' probe must read back over NFS: the checksum of each layer as it went in.
(cd "$med" && sha256sum casper/*.squashfs) > "$out.sha256"
finish_medium SHARECD_CASPER
echo "built: $out (kernel $kver, casper uuid $uuid, initrd $(du -h "$med/casper/initrd" | cut -f1))"
