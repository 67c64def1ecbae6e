#!/usr/bin/env bash
# HTTP throughput of the live image a dracut client fetches (root=live:http://…): sharecd's
# read-only HTTP server against busybox httpd serving the same directory, curl as the client
# (dracut's livenet fetches with curl), 1 and 8 downloads at once, side by side in one run.
# sharecd also serves the image straight from an ISO file.
# Usage: bench/http.sh [--json FILE]   (RUNS=3; needs root, busybox, curl, xorriso)
. "$(dirname "$0")/lib.sh"
json=${2:-}; [ "${1:-}" = --json ] || json=
runs=${RUNS:-3}

# A dracut-family medium: sharecd serves HTTP only for media whose initrd fetches by URL.
med=$work/medium; make_medium "$med" 256
mkdir -p "$med/LiveOS"; mv "$med/live/filesystem.squashfs" "$med/LiveOS/squashfs.img"
printf 'default linux\nlabel linux\n kernel /live/vmlinuz\n append initrd=/live/initrd.img root=live:CDLABEL=B rd.live.image\n' \
  > "$med/isolinux/isolinux.cfg"
iso=$work/medium.iso
xorriso -as mkisofs -quiet -R -J -V BENCH -o "$iso" "$med" 2>/dev/null
bin=$(sharecd_bin)
server 1; server 2; server 3  # sharecd (directory), busybox httpd, sharecd (ISO file)
bg "$(ns 1)" "$work/sharecd.log" "$bin" --share --source "$med" --iface s0 --dhcp-mode off
bg "$(ns 3)" "$work/sharecd-iso.log" "$bin" --share --source "$iso" --iface s0 --dhcp-mode off
bg "$(ns 2)" "$work/busybox.log" busybox httpd -f -p 10.99.2.1:80 -h "$med"
for n in 1 2 3; do wait_port "$(ns $n)" tcp 80; done

# get_mbps N FILE IP: N curl downloads at once; prints MB/s over all.
get_mbps() {
  local n=$1 file=$2 ip=$3 size secs
  size=$(stat -c %s "$med/$file")
  secs=$(timed ip netns exec "$cli" sh -c '
    for i in $(seq '"$n"'); do curl -sf -o /dev/null http://'"$ip"'/'"$file"' & done; wait')
  echo "$n * $size / $secs / 1000000" | bc -l
}

printf '%-22s %-5s %12s %12s %12s %8s %8s\n' file conc sharecd-dir sharecd-iso busybox "dir/bb" "iso/bb"
rows=()
file=LiveOS/squashfs.img
for conc in 1 8; do
  declare -A r=()
  for srv in 1 3 2; do
    r[$srv]=$(for _ in $(seq "$runs"); do get_mbps "$conc" "$file" "10.99.$srv.1"; done | median)
  done
  printf '%-22s %-5s %12.1f %12.1f %12.1f %8.2f %8.2f\n' "$file" "$conc" "${r[1]}" "${r[3]}" "${r[2]}" \
    "$(echo "${r[1]} / ${r[2]}" | bc -l)" "$(echo "${r[3]} / ${r[2]}" | bc -l)"
  rows+=("{\"file\":\"$file\",\"downloads\":$conc,\"sharecd_dir_MBps\":${r[1]},\"sharecd_iso_MBps\":${r[3]},\"busybox_MBps\":${r[2]}}")
done
if [ -n "$json" ]; then (IFS=,; echo "[${rows[*]}]") > "$json"; fi
