#!/usr/bin/env bash
# Builds the ARM64 lab's medium: Debian 12's real arm64 kernel under the arm64 test medium's GRUB
# menu (netboot/testdata/debian-live-arm64), cached outside the repository:
#   live/vmlinuz-VERSION      the kernel of Debian's linux-image-arm64 (an EFI-stub Image)
#   live/initrd.img-VERSION   an empty initramfs (no arm64 root filesystem exists here: the lab
#                             proves the kernel starts, not a live session)
#   boot/grub/grub.cfg        the test medium's menu, its kernel names this kernel's and its
#                             console the virt machine's PL011 UART (ttyAMA0)
# Usage: build-arm64-medium.sh [OUTDIR]   (default: $SHARECD_CACHE/arm64-medium)
#
# Needs the arm64 package lists, for apt-get download only (nothing arm64 is installed):
#   dpkg --add-architecture arm64 && apt-get update
# and dpkg-deb, cpio.
set -euo pipefail

cache=${SHARECD_CACHE:-/var/cache/sharecd-e2e}
out=${1:-$cache/arm64-medium}
out=${out%/}
here=$(cd "$(dirname "$0")" && pwd)
menu=$here/../netboot/testdata/debian-live-arm64/boot/grub/grub.cfg

# The kernel package the metapackage names now: a point release changes it, and the cache with it.
pkg=$(apt-cache depends linux-image-arm64:arm64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
if [ -z "$pkg" ]; then
  echo "no arm64 package lists: dpkg --add-architecture arm64 && apt-get update" >&2
  exit 1
fi
stamp=$({ cat "$0" "$menu"; echo "$pkg"; } | sha256sum | cut -c1-16)
if [ "$(cat "$out.stamp" 2>/dev/null)" = "$stamp" ] && ls "$out"/live/vmlinuz-* >/dev/null 2>&1; then
  echo "cached: $out"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download "$pkg" >&2)
dpkg-deb --fsys-tarfile "$work"/*.deb | tar -x -C "$work" --wildcards './boot/vmlinuz-*'
kernel=$(basename "$work"/boot/vmlinuz-*)
version=${kernel#vmlinuz-}

rm -rf "$out"
mkdir -p "$out/boot/grub" "$out/live"
cp "$work/boot/$kernel" "$out/live/$kernel"
(cd "$work" && true | cpio --quiet -o -H newc) > "$out/live/initrd.img-$version"
: > "$out/live/filesystem.squashfs"
sed -e "s/vmlinuz-[0-9.]*-[0-9]*-arm64/$kernel/g" -e "s/initrd.img-[0-9.]*-[0-9]*-arm64/initrd.img-$version/g" \
  -e 's/console=ttyS0,115200/console=ttyAMA0,115200/g' "$menu" > "$out/boot/grub/grub.cfg"
echo "$stamp" > "$out.stamp"
echo "built: $out ($pkg)"
