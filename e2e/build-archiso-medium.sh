#!/usr/bin/env bash
# Builds an archiso-family (Arch-like) live ISO from the Debian live ISO that build-live-iso.sh
# makes, with an initrd made by Arch's own mkinitcpio v41 and archiso's hooks v73
# (../shared/thirdparty, used from there, never copied into the project), so the e2e lab boots
# archiso's real initramfs code without Arch's ISO. Laid out as archiso's releng profile does:
#   arch/boot/x86_64/vmlinuz-linux            Debian's kernel
#   arch/boot/x86_64/initramfs-linux.img      mkinitcpio: base udev modconf archiso
#                                             archiso_pxe_common archiso_pxe_nfs block filesystems
#   arch/x86_64/airootfs.sfs                  the test ISO's root filesystem, unchanged
#   syslinux/syslinux.cfg, archiso_sys*.cfg   BIOS menus in archiso's shape (whichsys → sys menu)
#   loader/entries/*.conf                     UEFI: systemd-boot entries, which cannot netboot;
#                                             sharecd gives UEFI clients the syslinux menu instead
# Usage: build-archiso-medium.sh [OUT.iso]   (default: $SHARECD_CACHE/archiso-test.iso)
# Needs squashfs-tools, xorriso and root (chroot, overlay mount). ~1 minute once the ISO exists.
#
# mkinitcpio is a meson project (meson fills @INITCPIO_LIBDIR@, @BINDIR@, ... at install time)
# and bookworm's meson is too old for its meson.build, so the placeholders are filled here with
# Debian's paths. What Debian lays out otherwise than Arch is bridged in the build root only:
# each bridge is named where it is made.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=live-root.sh
. "$here/live-root.sh"
out=${1:-$cache/archiso-test.iso}
third=${SHARECD_THIRDPARTY:-$here/../../shared/thirdparty}
mk=$third/mkinitcpio-41
ai=$third/mkinitcpio-archiso-73
[ -f "$mk/mkinitcpio" ] && [ -f "$ai/hooks/archiso_pxe_nfs" ] ||
  { echo "no mkinitcpio or archiso hooks under $third: ../shared/thirdparty must sit beside the clone" >&2; exit 1; }
mk=$(cd "$mk" && pwd)
ai=$(cd "$ai" && pwd)

live_root
start_medium "$out" "$mk" "$ai"
mkdir -p "$med/arch/boot/x86_64" "$med/arch/x86_64" "$med/syslinux" "$med/loader/entries"

enter_root "$work/root"
c=$entered
lib=$c/usr/lib/initcpio
mkdir -p "$lib/hooks" "$lib/install" "$c/etc/initcpio/hooks" "$c/etc/initcpio/install" "$c/etc/mkinitcpio.conf.d"
# @BINDIR@ only makes mkinitcpio's PATH: Debian keeps modinfo, losetup, blkid and dmsetup in sbin.
fill() {
  sed -e 's|@INITCPIO_LIBDIR@|/usr/lib/initcpio|g' -e 's|@INITCPIO_SYSCONFDIR@|/etc/initcpio|g' \
    -e 's|@SYSCONFDIR@|/etc|g' -e 's|@BINDIR@|/usr/bin:/usr/sbin|g' -e 's|@VERSION@|41|g' \
    -e 's|@TMPFILES_PATH@|/usr/bin/systemd-tmpfiles|g' \
    -e 's|@UDEVD_PATH@|/usr/lib/systemd/systemd-udevd|g' "$1" > "$2"
}
fill "$mk/mkinitcpio" "$c/usr/bin/mkinitcpio"
chmod 0755 "$c/usr/bin/mkinitcpio"
for f in functions init init_functions shutdown; do fill "$mk/$f" "$lib/$f"; done
for d in hooks install; do
  for f in "$mk/$d"/* "$ai/$d"/*; do
    [ "${f##*/}" = meson.build ] || fill "$f" "$lib/$d/${f##*/}"
  done
done

# Bridges from Arch's layout to Debian's, in the build root only:
# - the tools mkinitcpio's hooks take from /usr/lib/initcpio: busybox, and klibc's ipconfig and
#   nfsmount (Arch packs klibc's tools there too). Copies, not symlinks: mkinitcpio packs a
#   symlink as a link to its target, and busybox's then loops through /bin -> usr/bin.
cp "$c/usr/bin/busybox" "$lib/busybox"
cp "$c/usr/lib/klibc/bin/nfsmount" "$lib/nfsmount"
# - Debian's klibc ipconfig writes /run/net-IFACE.conf; archiso_pxe_common sources
#   /tmp/net-*.conf (Arch's klibc writes there), and a missing file ends /init.
cat > "$lib/ipconfig" <<'EOF'
#!/usr/bin/ash
# sharecd lab: Debian's klibc ipconfig, its results copied where Arch's puts them
/usr/lib/klibc/bin/ipconfig "$@" || exit
cp /run/net-*.conf /tmp/ 2>/dev/null
exit 0
EOF
chmod 0755 "$lib/ipconfig"
# - libraries named by Arch's paths (Debian: the multiarch directory); udev's hwdb, which the
#   udev hook takes from /etc/udev as well (Debian has it under /usr/lib/udev only).
for so in libkmod.so.2 libnss_files.so.2 libnss_dns.so.2; do
  [ -e "$c/usr/lib/$so" ] || ln -s "x86_64-linux-gnu/$so" "$c/usr/lib/$so"
done
[ -e "$c/etc/udev/hwdb.bin" ] || ln -s /usr/lib/udev/hwdb.bin "$c/etc/udev/hwdb.bin"
# - Arch's lvm2 ships device-mapper's udev rules as 10-dm.rules, Debian's dmsetup as 55-dm.rules.
[ -e "$c/usr/lib/udev/rules.d/10-dm.rules" ] || ln -s 55-dm.rules "$c/usr/lib/udev/rules.d/10-dm.rules"
# - What Arch's packages bring and Debian's do not: klibc's shared library (ipconfig and
#   nfsmount look static to ldd but load it), the real ipconfig, and util-linux's mountpoint
#   (archiso's hook calls it; Debian's busybox lacks it), in a hook of the lab's own.
cat > "$c/etc/initcpio/install/sharecd_debian" <<'EOF'
#!/bin/bash
build() {
    local so
    for so in /usr/lib/klibc-*.so; do add_file "$so"; done
    add_binary /usr/lib/klibc/bin/ipconfig
    add_binary /usr/bin/mountpoint
}
EOF
# archiso's own mkinitcpio.conf.d/archiso.conf lists more hooks (kms, memdisk, microcode, the
# HTTP and NBD ones); these are the ones an NFS boot of a virtual PC runs.
cat > "$c/etc/mkinitcpio.conf" <<'EOF'
MODULES=()
BINARIES=()
FILES=()
HOOKS=(base udev modconf sharecd_debian archiso archiso_pxe_common archiso_pxe_nfs block filesystems keyboard)
COMPRESSION="gzip"
EOF
chroot "$c" mkinitcpio -k "$kver" -g /tmp/initramfs-linux.img >"$work/mkinitcpio.log" 2>&1 ||
  { grep -v "Possibly missing firmware" "$work/mkinitcpio.log" | tail -n 40 >&2; exit 1; }
mv "$c/tmp/initramfs-linux.img" "$med/arch/boot/x86_64/initramfs-linux.img"
leave_root

cp "$live/live/vmlinuz-$kver" "$med/arch/boot/x86_64/vmlinuz-linux"
cp "$live/live/filesystem.squashfs" "$med/arch/x86_64/airootfs.sfs"

# BIOS menus in archiso's shape: syslinux.cfg picks the menu by how syslinux was started
# (whichsys.c32), the disc's menu includes its head, the entries and its tail. The serial
# console the lab reads is last on each kernel line. init= because mkinitcpio's init checks
# /new_root/sbin/init from the initramfs: Arch's is a relative link, Debian's an absolute one
# (/lib/systemd/systemd), which resolves outside /new_root and reads as missing.
label=SHARECD_ARCH
args="archisobasedir=arch archisolabel=$label init=/lib/systemd/systemd"
cat > "$med/syslinux/syslinux.cfg" <<'EOF'
DEFAULT select

LABEL select
COM32 whichsys.c32
APPEND -pxe- pxe -sys- sys -iso- sys

LABEL pxe
CONFIG archiso_pxe.cfg

LABEL sys
CONFIG archiso_sys.cfg
EOF
cat > "$med/syslinux/archiso_sys.cfg" <<'EOF'
INCLUDE archiso_head.cfg

DEFAULT arch64
TIMEOUT 150

INCLUDE archiso_sys-linux.cfg

INCLUDE archiso_tail.cfg
EOF
cat > "$med/syslinux/archiso_head.cfg" <<'EOF'
SERIAL 0 115200
UI vesamenu.c32
MENU TITLE Arch-like sharecd lab
MENU ROWS 7
EOF
cat > "$med/syslinux/archiso_sys-linux.cfg" <<EOF
LABEL arch64
TEXT HELP
Boot the lab's Arch-like live medium on BIOS.
ENDTEXT
MENU LABEL Arch-like live medium (x86_64, BIOS)
LINUX /arch/boot/x86_64/vmlinuz-linux
INITRD /arch/boot/x86_64/initramfs-linux.img
APPEND $args console=tty0 console=ttyS0,115200

LABEL arch64speech
MENU LABEL Arch-like live medium (x86_64, BIOS) with ^speech
LINUX /arch/boot/x86_64/vmlinuz-linux
INITRD /arch/boot/x86_64/initramfs-linux.img
APPEND $args accessibility=on console=tty0 console=ttyS0,115200
EOF
cat > "$med/syslinux/archiso_tail.cfg" <<'EOF'
LABEL existing
MENU LABEL Boot existing OS
COM32 chain.c32
APPEND hd0 0

LABEL reboot
MENU LABEL Reboot
COM32 reboot.c32

LABEL poweroff
MENU LABEL Power Off
COM32 poweroff.c32
EOF
# The disc's own PXE menu (archiso ships one for its NBD/NFS/HTTP hooks; sharecd writes its own).
cat > "$med/syslinux/archiso_pxe.cfg" <<'EOF'
INCLUDE archiso_head.cfg
DEFAULT arch64_nfs
LABEL arch64_nfs
MENU LABEL Arch-like live medium (x86_64, NFS)
LINUX ::/arch/boot/x86_64/vmlinuz-linux
INITRD ::/arch/boot/x86_64/initramfs-linux.img
APPEND archisobasedir=arch archiso_nfs_srv=${pxeserver}:/run/archiso/bootmnt init=/lib/systemd/systemd
SYSAPPEND 3
INCLUDE archiso_tail.cfg
EOF
cat > "$med/loader/entries/01-archiso-x86_64-linux.conf" <<EOF
title    Arch-like live medium (x86_64, UEFI)
sort-key 01
linux    /arch/boot/x86_64/vmlinuz-linux
initrd   /arch/boot/x86_64/initramfs-linux.img
options  $args console=tty0 console=ttyS0,115200
EOF
printf 'timeout 15\ndefault 01-archiso-x86_64-linux.conf\n' > "$med/loader/loader.conf"

finish_medium "$label"
echo "built: $out (kernel $kver, initramfs $(du -h "$med/arch/boot/x86_64/initramfs-linux.img" | cut -f1))"
