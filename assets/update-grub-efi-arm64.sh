#!/usr/bin/env bash
# Builds the embedded ARM64 UEFI network loader, grubaa64.efi, the way update-grub-efi.sh builds
# the x86-64 one: GRUB's own image with every module the network menu needs and a prefix whose
# server is a placeholder that assets.UEFIArm64 overwrites at run time.
#
# The prefix's directory is grub-arm64, not grub: the ARM64 GRUB reads grub-arm64/grub.cfg, which
# lists only the arm64 media, so an x86 client can never be shown an arm64 kernel nor the other
# way round.
#
# grub-efi-arm64-bin is built for arm64 only, so on an x86 host its modules are taken from the
# package file itself (apt-get download after `dpkg --add-architecture arm64 && apt-get update`);
# the host's grub-mkimage (grub-common) writes images for any target given the modules.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download grub-efi-arm64-bin:arm64
deb=(grub-efi-arm64-bin_*_arm64.deb)
dpkg-deb -x "${deb[0]}" root
version="$(dpkg-deb -f "${deb[0]}" Version)"
mods=(
  normal configfile echo test true sleep minicmd regexp loadenv   # menu and script
  efinet net tftp http                                            # the network and its files
  linux gzio chain boot reboot halt efifwsetup                    # what the entries do
  all_video efi_gop serial terminal                               # consoles (no UGA, bochs or cirrus on arm64)
  part_gpt part_msdos iso9660 search                              # harmless if a menu searches
)
prefix="(tftp,255.255.255.255)/grub-arm64"
mkdir -p "$here/grub-efi-arm64"
grub-mkimage -d root/usr/lib/grub/arm64-efi -O arm64-efi -o "$here/grub-efi-arm64/grubaa64.efi" -p "$prefix" "${mods[@]}"
# The package's doc directory is a link to grub-common's: the same copyright file.
cp /usr/share/doc/grub-common/copyright "$here/grub-efi-arm64/COPYRIGHT"
cp /usr/share/common-licenses/GPL-3 "$here/grub-efi-arm64/GPL-3"
{
  echo "grub-efi-arm64-bin $version"
  dpkg-query -W -f='${Package} ${Version}\n' grub-common
  echo "grub-mkimage -O arm64-efi -p $prefix ${mods[*]}"
} > "$here/grub-efi-arm64/VERSION"
