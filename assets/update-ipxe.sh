#!/usr/bin/env bash
# Refreshes the embedded iPXE images from Debian's ipxe package (apt-get install ipxe).
#
# undionly.kpxe is what BIOS clients whose ROM is not iPXE are offered: it drives the NIC through
# the ROM's own UNDI driver, DHCPs again as iPXE and is handed boot.ipxe, so that kernels go over
# HTTP rather than TFTP (README, "How clients fetch their kernel").
#
# snponly.efi drives the NIC through the firmware's own network driver (SNP), the one the
# firmware's PXE loaded it from, so it needs no driver of its own for the card. It replaces GRUB
# for UEFI clients in proxy mode because GRUB's TCP is what made their kernels slow (README,
# "How clients fetch their kernel"). Unsigned: like the unsigned GRUB it boots with Secure Boot off.
set -euo pipefail
cd "$(dirname "$0")/ipxe"
cp /usr/lib/ipxe/snponly.efi /usr/lib/ipxe/undionly.kpxe .
cp /usr/share/doc/ipxe/copyright COPYRIGHT
cp /usr/share/common-licenses/GPL-2 GPL-2
dpkg-query -W -f='${Package} ${Version}\n' ipxe > VERSION
