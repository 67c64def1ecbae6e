#!/usr/bin/env bash
# Builds a dracut-family (Fedora-like) live medium from the Debian live ISO that build-live-iso.sh
# makes, so the end-to-end tests can boot a dracut dmsquash-live client without downloading Fedora.
# The result is a directory laid out like a Fedora live ISO, cached outside the repository:
#   LiveOS/squashfs.img          the ISO's live/filesystem.squashfs, unchanged (a plain root
#                                filesystem: dmsquash-live mounts it with an overlayfs on top)
#   images/pxeboot/vmlinuz       the ISO's kernel
#   images/pxeboot/initrd.img    a new dracut initrd (dmsquash-live, livenet, nfs) for that kernel
#   isolinux/isolinux.cfg        Fedora <= 36 style menu
#   boot/grub2/grub.cfg          Fedora 43 style menu (+ EFI/BOOT/grub.cfg and the search marker)
# Boots with  root=live:http://SERVER[:PORT]/LiveOS/squashfs.img rd.live.image ip=dhcp
#        or   root=live:nfs://SERVER/EXPORT/LiveOS/squashfs.img rd.live.image ip=dhcp  (NFSv3)
# Usage: build-dracut-medium.sh [OUTDIR]   (default: $SHARECD_CACHE/dracut-medium)
#
# Needs (apt, --no-install-recommends): dracut-core dracut-live dracut-network nfs-common curl
# squashfs-tools xorriso, and systemd (the initrd is systemd-based, like Fedora's). dracut copies
# the tools into the initrd from this machine, so each dracut module needs them here:
#   livenet/url-lib: curl;  network-legacy: isc-dhcp-client, iputils-arping (dracut-network pulls
#   both in);  nfs: mount.nfs and rpc.statd (nfs-common) and rpcbind (nfs-common depends on it).
# Installing rpcbind on a systemd machine starts rpcbind.socket on port 111, which sharecd's own
# portmapper needs: stop it (systemctl disable --now rpcbind.socket rpcbind.service).
# Takes ~2-3 minutes on 2 cores, nearly all of it dracut.
set -euo pipefail

cache=${SHARECD_CACHE:-/var/cache/sharecd-e2e}
out=${1:-$cache/dracut-medium}
out=${out%/}
here=$(cd "$(dirname "$0")" && pwd)
iso=$cache/debian-live-test.iso
label=SHARECD_DRACUT
export PATH=$PATH:/usr/sbin:/sbin

# dracut skips a module whose tools are missing and says so only in its log: check them first.
for tool in dracut unsquashfs xorriso curl mount.nfs rpc.statd rpcbind dhclient arping \
  /lib/systemd/systemd; do
  command -v "$tool" >/dev/null || {
    echo "missing $tool: apt-get install --no-install-recommends dracut-core dracut-live" \
      "dracut-network nfs-common curl squashfs-tools xorriso systemd" >&2
    exit 1
  }
done

# The source ISO is itself cached by stamp; this is a no-op when it is up to date.
"$here/build-live-iso.sh" "$iso" >&2

# This script's content and the ISO it starts from name the cached medium: a change to either
# rebuilds it. The stamp sits beside the directory so it is not served as part of the medium.
stamp=$({ cat "$0"; cat "$iso.stamp" 2>/dev/null; stat -c '%s %Y' "$iso"; } | sha256sum | cut -c1-16)
if [ -s "$out/LiveOS/squashfs.img" ] && [ -s "$out/images/pxeboot/initrd.img" ] &&
  [ "$(cat "$out.stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "cached: $out"
  exit 0
fi

# Work next to the output so the finished tree is moved into place by rename, never half-built.
mkdir -p "$(dirname "$out")"
work=$(mktemp -d "$(dirname "$out")/.dracut-medium.XXXXXX")
trap 'rm -rf "$work"' EXIT
med=$work/medium
mkdir -p "$med/LiveOS" "$med/images/pxeboot" "$med/isolinux" "$med/boot/grub2" "$med/EFI/BOOT" \
  "$work/no-conf.d"

# Kernel and squashfs straight from the ISO (extracting is a copy; the ISO is one file).
xorriso -osirrox on -indev "$iso" -extract /live "$work/live" >"$work/xorriso.log" 2>&1 ||
  { cat "$work/xorriso.log" >&2; exit 1; }
kernels=("$work"/live/vmlinuz-*)
[ ${#kernels[@]} -eq 1 ] && [ -f "${kernels[0]}" ] ||
  { echo "want one live/vmlinuz-* in $iso" >&2; exit 1; }
kver=${kernels[0]##*/vmlinuz-}
mv "$work/live/filesystem.squashfs" "$med/LiveOS/squashfs.img"
mv "${kernels[0]}" "$med/images/pxeboot/vmlinuz"
rm -rf "$work/live"

# The client kernel's modules live only in the squashfs. Take just that directory (usr-merged
# Debian has it under usr/lib; lib/ is a symlink that unsquashfs does not follow, so ask for both).
unsquashfs -q -n -d "$work/root" "$med/LiveOS/squashfs.img" \
  "usr/lib/modules/$kver" "lib/modules/$kver" >/dev/null
kmoddir=$work/root/usr/lib/modules/$kver
[ -d "$kmoddir" ] || kmoddir=$work/root/lib/modules/$kver
[ -f "$kmoddir/modules.dep" ] || { echo "no modules for $kver in the squashfs" >&2; exit 1; }

# Debian's dracut 059 lacks upstream's later overlayfs/prepare-overlayfs.sh pre-mount hook. With a
# plain-root squashfs, dmsquash-live switches sysroot.mount (written by its systemd generator) to
# an overlay with upperdir=/run/overlayfs and workdir=/run/ovlwork, but in 059 only the mount hook
# (mount-overlayfs.sh, which runs after sysroot.mount, too late) creates them, so the mount fails
# ("overlayfs: failed to resolve '/run/overlayfs'") and the client drops to the emergency shell.
# This pre-mount hook (sourced by dracut-pre-mount.service, before sysroot.mount) makes them.
cat > "$work/prepare-overlayfs.sh" <<'EOF'
#!/bin/sh
# sharecd: create the overlay dirs sysroot.mount needs (dracut 059 makes them only in a mount hook)
if [ -e /run/rootfsbase ]; then
    [ -e /run/overlayfs ] || mkdir -m 0755 -p /run/overlayfs
    [ -e /run/ovlwork ] || mkdir -m 0755 -p /run/ovlwork
fi
EOF
chmod 0755 "$work/prepare-overlayfs.sh"

# --no-hostonly: a generic initrd for another machine. An empty config (--conf/--confdir) so this
# host's /etc/dracut.conf.d cannot change what goes in. Modules:
#   dmsquash-live  root=live:... (loop-mounts the squashfs, overlayfs on top)
#   livenet        root=live:<URL>: http(s)/ftp/tftp via curl into RAM, nfs:// mounted
#   nfs            livenet's nfs:// handler (mount.nfs, NFSv3 with nolock)
#   network-legacy ip=dhcp with dhclient. Chosen by name: the network module would otherwise
#                  pick systemd-networkd from this host, whose 059 module has no netroot/online
#                  hook, so livenet would never start.
#   url-lib        (livenet pulls it in) curl and the URL handlers
#   dracut-systemd a systemd initrd, as on Fedora
# plymouth is left out (no splash; messages go to the serial console), as are the other network
# stacks and ifcfg. No early microcode: the clients are VMs.
dracut --force --quiet --conf /dev/null --confdir "$work/no-conf.d" --tmpdir "$work" \
  --kver "$kver" --kmoddir "$kmoddir" --no-hostonly --no-hostonly-cmdline --no-early-microcode \
  --add "dracut-systemd dmsquash-live livenet nfs network-legacy url-lib" \
  --omit "plymouth systemd-networkd network-manager connman ifcfg" \
  --include "$work/prepare-overlayfs.sh" /lib/dracut/hooks/pre-mount/01-sharecd-prepare-overlayfs.sh \
  --compress gzip \
  "$med/images/pxeboot/initrd.img" "$kver" >"$work/dracut.log" 2>&1 ||
  { tail -n 40 "$work/dracut.log" >&2; exit 1; }
rm -rf "$work/root"

# The menus a Fedora live ISO carries; as on Fedora, the media-check entry is the default (sharecd
# drops rd.live.check entries for network clients). console=ttyS0,115200 stays last on every
# kernel line: systemd starts its serial getty on the last console=, and the tests read ttyS0.
root="root=live:CDLABEL=$label rd.live.image"
rest="quiet console=tty0 console=ttyS0,115200"
cat > "$med/isolinux/isolinux.cfg" <<EOF
default vesamenu.c32
timeout 600

# Clear the screen when exiting the menu, instead of leaving the menu displayed.
menu clear
menu title Debian dracut test
menu vshift 8
menu rows 18
menu margin 8
menu helpmsgrow 15
menu tabmsgrow 13

menu tabmsg Press Tab for full configuration options on menu items.

menu separator # insert an empty line
menu separator # insert an empty line

label linux
  menu label ^Start Debian dracut test
  kernel /images/pxeboot/vmlinuz
  append initrd=/images/pxeboot/initrd.img $root $rest

label check
  menu label Test this ^media & start Debian dracut test
  menu default
  kernel /images/pxeboot/vmlinuz
  append initrd=/images/pxeboot/initrd.img $root rd.live.check $rest

menu separator # insert an empty line

# utilities submenu
menu begin ^Troubleshooting
  menu title Troubleshooting Debian dracut test

label basic
  menu indent count 5
  menu label Start Debian dracut test in ^basic graphics mode
  text help
	Try this option out if you're having trouble starting.
  endtext
  kernel /images/pxeboot/vmlinuz
  append initrd=/images/pxeboot/initrd.img $root nomodeset $rest

label local
  menu label Boot from ^local drive
  localboot 0xffff

menu separator # insert an empty line
menu separator # insert an empty line

label returntomain
  menu label Return to ^main menu
  menu exit

menu end
EOF

# Fedora 43's grub2 menu: EFI/BOOT/grub.cfg finds the medium by a marker file under /boot and
# loads boot/grub2/grub.cfg, where the entries are.
marker=0x73686364 # "shcd"; Fedora uses a random 0x%08x name the same way
: > "$med/boot/$marker"
cat > "$med/EFI/BOOT/grub.cfg" <<EOF
set btrfs_relative_path="yes"
search --file --set=root /boot/$marker
set prefix=(\$root)/boot/grub2
configfile (\$root)/boot/grub2/grub.cfg
EOF
cat > "$med/boot/grub2/grub.cfg" <<EOF
# Inspired by the config used for lorax-built live media

set default="1"

if [ "\$grub_platform" == "efi" ]; then
	function load_video {
		insmod efi_gop
		insmod efi_uga
		insmod video_bochs
		insmod video_cirrus
		insmod all_video
	}
	set basicgfx="nomodeset"
else
	function load_video {
		insmod all_video
	}
	set basicgfx="nomodeset vga=791"
fi

load_video
set gfxpayload=keep
insmod gzio
insmod part_gpt
insmod ext2

terminal_input console
terminal_output console

set timeout=10
set timeout_style=menu

search --file --set=root /boot/$marker

menuentry "Start Debian dracut test" --class fedora --class gnu-linux --class gnu --class os {
	linux /images/pxeboot/vmlinuz $root $rest
	initrd /images/pxeboot/initrd.img
}
menuentry "Test this media & start Debian dracut test" --class fedora --class gnu-linux --class gnu --class os {
	linux /images/pxeboot/vmlinuz $root rd.live.check $rest
	initrd /images/pxeboot/initrd.img
}
submenu "Troubleshooting -->" {
	menuentry "Start Debian dracut test in basic graphics mode" --class fedora --class gnu-linux --class gnu --class os {
		linux /images/pxeboot/vmlinuz $root \${basicgfx} $rest
		initrd /images/pxeboot/initrd.img
	}
}
EOF
echo "source /boot/grub2/grub.cfg" > "$med/boot/grub2/loopback.cfg"

# Readable by the unprivileged servers that may share it (xorriso keeps the ISO's r-x modes).
chmod -R u+w,a+rX "$med"
chmod 0644 "$med/LiveOS/squashfs.img" "$med/images/pxeboot/"*

rm -rf "$out" "$out.stamp"
mv "$med" "$out"
echo "$stamp" > "$out.stamp"
echo "built: $out (kernel $kver, initrd $(du -h "$out/images/pxeboot/initrd.img" | cut -f1))"
