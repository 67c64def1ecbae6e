#!/usr/bin/env bash
# NFS READ throughput: sharecd against nfs-ganesha (VFS FSAL, with its own rpcbind), the same
# medium, libnfs nfs-cp as the client, 1 and 8 readers at once, side by side in one run. Both the
# directory source and sharecd reading straight from the ISO file are measured.
# Usage: bench/nfs.sh [--json FILE]   (RUNS=3; ISO=FILE; needs root, nfs-ganesha-vfs, rpcbind, libnfs-utils)
. "$(dirname "$0")/lib.sh"
json=${2:-}; [ "${1:-}" = --json ] || json=
runs=${RUNS:-3}

# ISO=FILE measures a real live ISO's own live/filesystem.squashfs instead: the ISO-file share
# reads FILE, the directory share and ganesha its tree as xorriso copies it out.
med=$work/medium
if [ -n "${ISO:-}" ]; then
  iso=$ISO
  xorriso -osirrox on -indev "$iso" -extract / "$med" >/dev/null 2>&1
  chmod -R u+w "$med"
else
  make_medium "$med" 256
  iso=$work/medium.iso
  xorriso -as mkisofs -quiet -R -J -V BENCH -o "$iso" "$med" 2>/dev/null
fi
sync
bin=$(sharecd_bin)
server 1; server 2; server 3  # sharecd (directory), nfs-ganesha, sharecd (ISO file)
bg "$(ns 1)" "$work/sharecd.log" "$bin" --share --source "$med" --iface s0 --dhcp-mode off
bg "$(ns 3)" "$work/sharecd-iso.log" "$bin" --share --source "$iso" --iface s0 --dhcp-mode off

bg "$(ns 2)" "$work/ganesha.log" "$here/ganesha.sh" 10.99.2.1 "$med"
for n in 1 2 3; do wait_port "$(ns $n)" tcp 2049; done

# read N FILE IP: N nfs-cp readers at once; prints MB/s over all.
read_mbps() {
  local n=$1 file=$2 ip=$3 size secs
  size=$(stat -c %s "$med/$file")
  secs=$(timed ip netns exec "$cli" sh -c '
    for i in $(seq '"$n"'); do nfs-cp nfs://'"$ip"'/sharecd/'"$file"' /dev/shm/scd-bench-$$-$i >/dev/null & done; wait
    rm -f /dev/shm/scd-bench-$$-*')
  echo "$n * $size / $secs / 1000000" | bc -l
}

printf '%-26s %-5s %12s %12s %12s %8s %8s\n' file conc sharecd-dir sharecd-iso ganesha "dir/g" "iso/g"
rows=()
file=live/filesystem.squashfs
for conc in 1 8; do
  # Runs go round the servers in turn, so whatever else the machine does is shared among them.
  declare -A all=() r=()
  for _ in $(seq "$runs"); do
    for srv in 1 3 2; do all[$srv]+="$(read_mbps "$conc" "$file" "10.99.$srv.1") "; done
  done
  for srv in 1 3 2; do r[$srv]=$(printf '%s\n' ${all[$srv]} | median); done
  printf '%-26s %-5s %12.1f %12.1f %12.1f %8.2f %8.2f\n' "$file" "$conc" "${r[1]}" "${r[3]}" "${r[2]}" \
    "$(echo "${r[1]} / ${r[2]}" | bc -l)" "$(echo "${r[3]} / ${r[2]}" | bc -l)"
  rows+=("{\"file\":\"$file\",\"readers\":$conc,\"sharecd_dir_MBps\":${r[1]},\"sharecd_iso_MBps\":${r[3]},\"ganesha_MBps\":${r[2]}}")
done
if [ -n "$json" ]; then (IFS=,; echo "[${rows[*]}]") > "$json"; fi
