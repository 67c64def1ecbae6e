#!/usr/bin/env bash
# Copies the signed UEFI x86-64 chain from Debian's packages
# (apt-get install shim-signed grub-efi-amd64-signed), unmodified: any change breaks the signatures.
#
#   shimx64.efi   Microsoft-signed shim; firmware with Secure Boot on trusts it out of the box
#   grubx64.efi   Debian-signed network GRUB (grubnetx64.efi.signed); shim trusts Debian's key and
#                 fetches it from the directory it was loaded from, under this fixed name
#   mmx64.efi     MokManager, which shim starts when a signature check fails (to enrol a key)
#
# This chain is served where the DHCP answer that names the loader is also the one that names the
# TFTP server (sharecd's full-DHCP mode, or your own DHCP server pointed at us): GRUB 2.06 takes its
# server from that answer (siaddr), which behind a proxy-DHCP is the router's (netboot-facts §7).
set -euo pipefail
cd "$(dirname "$0")/secureboot"
cp /usr/lib/shim/shimx64.efi.signed shimx64.efi
cp /usr/lib/shim/mmx64.efi.signed mmx64.efi
cp /usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed grubx64.efi
cp /usr/share/doc/shim-signed/copyright COPYRIGHT.shim
cp /usr/share/doc/grub-efi-amd64-signed/copyright COPYRIGHT.grub
cp /usr/share/common-licenses/GPL-3 GPL-3
dpkg-query -W -f='${Package} ${Version}\n' shim-signed grub-efi-amd64-signed > VERSION
sha256sum shimx64.efi grubx64.efi mmx64.efi >> VERSION
