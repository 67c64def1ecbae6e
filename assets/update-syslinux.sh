#!/usr/bin/env bash
# Refreshes the embedded BIOS boot loader from Debian's pxelinux and syslinux-common packages.
# pxelinux.0 and the .c32 modules must come from one syslinux build: ldlinux.c32 refuses modules
# of another version, which is why the medium's own isolinux modules are never served.
set -euo pipefail
cd "$(dirname "$0")/syslinux"
cp /usr/lib/PXELINUX/pxelinux.0 /usr/lib/PXELINUX/lpxelinux.0 .
for m in ldlinux libcom32 libutil libmenu libgpl menu vesamenu chain hdt reboot poweroff; do
  cp "/usr/lib/syslinux/modules/bios/$m.c32" .
done
cp /usr/share/doc/pxelinux/copyright COPYRIGHT
cp /usr/share/common-licenses/GPL-2 GPL-2
dpkg-query -W -f='${Package} ${Version}\n' pxelinux syslinux-common > VERSION
