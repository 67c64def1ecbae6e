#!/usr/bin/env bash
# Refreshes the embedded UEFI iPXE from Debian's ipxe package (apt-get install ipxe).
#
# snponly.efi drives the NIC through the firmware's own network driver (SNP), the one the
# firmware's PXE loaded it from, so it needs no driver of its own for the card. It replaces GRUB
# for UEFI clients in proxy mode because GRUB's TCP is what made their kernels slow (README,
# "How clients fetch their kernel"). Unsigned: like the unsigned GRUB it boots with Secure Boot off.
set -euo pipefail
cd "$(dirname "$0")/ipxe"
cp /usr/lib/ipxe/snponly.efi .
cp /usr/share/doc/ipxe/copyright COPYRIGHT
cp /usr/share/common-licenses/GPL-2 GPL-2
dpkg-query -W -f='${Package} ${Version}\n' ipxe > VERSION
