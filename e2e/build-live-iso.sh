#!/usr/bin/env bash
# Builds the small Debian live ISO the end-to-end tests boot, with live-build from Debian's own
# packages, and caches it outside the repository (the build takes ~10 minutes).
# Usage: build-live-iso.sh [OUT.iso]   (default: $SHARECD_CACHE/debian-live-test.iso)
# The mirror is read from this machine's apt sources, never written down here.
set -euo pipefail

cache=${SHARECD_CACHE:-/var/cache/sharecd-e2e}
out=${1:-$cache/debian-live-test.iso}
here=$(cd "$(dirname "$0")" && pwd)

# The config hash names the cached image, so a change to this script or the probe rebuilds it.
stamp=$(cat "$0" "$here/lab-probe.sh" | sha256sum | cut -c1-16)
if [ -s "$out" ] && [ "$(cat "$out.stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "cached: $out"
  exit 0
fi

mirror_of() { # suite regexp -> first URI of the deb822 or one-line source naming it
  local re=$1 f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v re="$re" '
      /^URIs:/ {u=$2} /^Suites:/ {for (i=2;i<=NF;i++) if ($i ~ re) s=1}
      /^$/ {if (s && u) {print u; exit} u=""; s=0}
      END {if (s && u) print u}' "$f"
  done | head -n1
}
mirror=$(mirror_of '^bookworm$')
security=$(mirror_of '^bookworm-security$')
if [ -z "$mirror" ]; then
  mirror=$(awk '$1=="deb" && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
fi
[ -n "$mirror" ] || { echo "no bookworm mirror in /etc/apt/sources.list*" >&2; exit 1; }
[ -n "$security" ] || security=$mirror-security

work=$(mktemp -d /var/tmp/sharecd-lb.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"

# console=ttyS0 comes last so systemd starts a getty on the serial console the tests read.
lb config \
  --distribution bookworm --archive-areas main \
  --mirror-bootstrap "$mirror" --mirror-chroot "$mirror" --mirror-binary "$mirror" \
  --mirror-chroot-security "$security" --mirror-binary-security "$security" \
  --binary-images iso-hybrid --bootloaders "syslinux,grub-efi" \
  --debian-installer none --memtest none --apt-indices false --apt-recommends false \
  --firmware-binary false --firmware-chroot false --security true --updates false \
  --iso-volume "SHARECD_TEST" \
  --bootappend-live "boot=live components hostname=sharecd-client console=tty0 console=ttyS0,115200" \
  >/dev/null

# user-setup and sudo create the live user; without them there is no login prompt user.
# The same root is wrapped for the other families' own initramfs code (build-casper-medium.sh,
# build-archiso-medium.sh), whose initrds are built in it: casper's hook copies sfdisk (fdisk),
# eject and busybox's tools; mkinitcpio packs with bsdtar (libarchive-tools), and archiso's hook
# copies openssl.
echo "live-boot live-config live-config-systemd systemd-sysv user-setup sudo" \
  "fdisk eject busybox libarchive-tools openssl" > config/package-lists/live.list.chroot

# The probe prints on the serial console what the labs check of a booted client (lab-probe.sh).
"$here/lab-probe.sh" config/includes.chroot

# With several TCG guests sharing two cores, udev can take longer than systemd's 90 s wait for
# /dev/ttyS0; systemd then gives up on the serial getty, and the tests never see login:.
mkdir -p config/includes.chroot/etc/systemd/system/dev-ttyS0.device.d
printf '[Unit]\nJobRunningTimeoutSec=infinity\n' \
  > config/includes.chroot/etc/systemd/system/dev-ttyS0.device.d/no-timeout.conf

lb build > build.log 2>&1 || { tail -n 60 build.log >&2; exit 1; }
iso=$(ls ./*.iso | head -n1)
mkdir -p "$(dirname "$out")"
mv "$iso" "$out.tmp" && mv "$out.tmp" "$out"
echo "$stamp" > "$out.stamp"
echo "built: $out ($(du -h "$out" | cut -f1))"
