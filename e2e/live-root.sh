# Sourced by the family media scripts (build-casper-medium.sh, ...): the test ISO's root
# filesystem, built once by build-live-iso.sh, unpacked once, and entered through an overlay so
# that building one family's initrd in it never changes what another family's build sees.
#
# After `live_root`: $iso, $root (the unpacked root, read-only by convention), $kver, and
# $live (a folder with the ISO's live/vmlinuz-$kver and live/filesystem.squashfs).
# `start_medium OUT SOURCES...` ends the script with "cached: OUT" when OUT was built from the
# calling script, this file, the root and SOURCES as they are; else it gives a fresh $work (gone
# on exit) and $med, the tree to fill, and `finish_medium LABEL` packs $med into OUT.
# `enter_root WORK` mounts an overlay of $root at WORK/chroot with /proc, /sys and /dev inside;
# `leave_root` undoes it, and start_medium's EXIT trap calls it.

cache=${SHARECD_CACHE:-/var/cache/sharecd-e2e}
iso=$cache/debian-live-test.iso
export PATH=$PATH:/usr/sbin:/sbin

live_root() {
  local here stamp
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  "$here/build-live-iso.sh" "$iso" >&2
  live=$cache/live-files
  root=$cache/live-root
  stamp=$({ cat "$iso.stamp"; stat -c '%s %Y' "$iso"; } | sha256sum | cut -c1-16)
  # The e2e labs build their media side by side: one unpacks, the others wait for it.
  exec {lock}>"$cache/.live-root.lock"
  flock "$lock"
  if [ "$(cat "$root.stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$root" "$live" "$root.stamp"
    mkdir -p "$live"
    xorriso -osirrox on -indev "$iso" -extract /live "$live/live" >"$live/xorriso.log" 2>&1 ||
      { cat "$live/xorriso.log" >&2; return 1; }
    # -no-xattrs: the root's capabilities are not needed to build initrds, and some hosts'
    # overlay upper layers refuse security.* attributes.
    unsquashfs -q -n -no-xattrs -d "$root" "$live/live/filesystem.squashfs" >/dev/null
    echo "$stamp" > "$root.stamp"
  fi
  flock -u "$lock"
  local kernels=("$live"/live/vmlinuz-*)
  [ ${#kernels[@]} -eq 1 ] && [ -f "${kernels[0]}" ] ||
    { echo "want one live/vmlinuz-* in $iso" >&2; return 1; }
  kver=${kernels[0]##*/vmlinuz-}
}

entered=
enter_root() {
  local work=$1
  mkdir -p "$work/upper" "$work/ovl" "$work/chroot"
  mount -t overlay overlay -o "lowerdir=$root,upperdir=$work/upper,workdir=$work/ovl" "$work/chroot"
  entered=$work/chroot
  mount -t proc proc "$entered/proc"
  mount --rbind /sys "$entered/sys" && mount --make-rslave "$entered/sys"
  mount --rbind /dev "$entered/dev" && mount --make-rslave "$entered/dev"
  mount -t tmpfs tmpfs "$entered/tmp"
}

leave_root() {
  [ -n "$entered" ] || return 0
  local m
  for m in tmp dev sys proc; do umount -R "$entered/$m" 2>/dev/null || umount -lR "$entered/$m" 2>/dev/null || true; done
  umount "$entered" 2>/dev/null || umount -l "$entered" 2>/dev/null || true
  entered=
}

start_medium() {
  out=$1
  shift
  stamp=$({ cat "$0" "${BASH_SOURCE[0]}" "$root.stamp"; \
    find "$@" -type f -print0 | sort -z | xargs -0 cat; } | sha256sum | cut -c1-16)
  if [ -s "$out" ] && [ "$(cat "$out.stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "cached: $out"
    exit 0
  fi
  rm -f "$out.stamp" # a build that stops half-way is never taken for a cached one
  mkdir -p "$(dirname "$out")"
  work=$(mktemp -d "$cache/.$(basename "$out").XXXXXX")
  trap 'leave_root; rm -rf "$work"' EXIT
  med=$work/medium
  mkdir -p "$med"
}

finish_medium() {
  xorriso -as mkisofs -quiet -R -J -V "$1" -o "$work/out.iso" "$med" 2>"$work/xorriso.log" ||
    { cat "$work/xorriso.log" >&2; exit 1; }
  mv "$work/out.iso" "$out"
  echo "$stamp" > "$out.stamp"
}
