#!/usr/bin/env bash
# Builds the embedded UEFI x86-64 network loader from Debian's grub-efi-amd64-bin modules
# (apt-get install grub-efi-amd64-bin grub-common).
#
# Why our own image and not Debian's signed grubnetx64.efi: GRUB 2.06 takes its TFTP server from
# the router's DHCPACK (siaddr), not from our proxy offer, so behind a proxy-DHCP the signed image
# asks the router for its config and never finds it (docs: netboot-facts §7, proven in the lab).
# This image carries its prefix "(tftp,SERVER)/grub" instead. The server's address is only known
# when sharecd runs, so the prefix is built with a placeholder of the longest dotted quad, which
# assets.UEFI overwrites in place (the prefix is a NUL-terminated string in its own module object;
# the shorter real address leaves NULs behind it).
#
# Every module the network menu needs is built in: GRUB then loads nothing over TFTP but its
# grub.cfg, the kernel and the initrd (it still asks for x86_64-efi/*.lst, which the server
# refuses at once).
set -euo pipefail
cd "$(dirname "$0")/grub-efi"
mods=(
  normal configfile echo test true sleep minicmd regexp loadenv   # menu and script
  efinet net tftp http                                            # the network and its files
  linux gzio chain boot reboot halt efifwsetup                    # what the entries do
  all_video efi_gop efi_uga video_bochs video_cirrus serial terminal  # consoles
  part_gpt part_msdos iso9660 search                              # harmless if a menu searches
)
grub-mkimage -O x86_64-efi -o grubx64.efi -p "(tftp,255.255.255.255)/grub" "${mods[@]}"
cp /usr/share/doc/grub-efi-amd64-bin/copyright COPYRIGHT
cp /usr/share/common-licenses/GPL-3 GPL-3
{
  dpkg-query -W -f='${Package} ${Version}\n' grub-efi-amd64-bin grub-common
  echo "grub-mkimage -O x86_64-efi -p (tftp,255.255.255.255)/grub ${mods[*]}"
} > VERSION
