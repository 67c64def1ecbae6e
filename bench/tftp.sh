#!/usr/bin/env bash
# TFTP throughput: sharecd against tftpd-hpa and dnsmasq, the same files, the same client, side by
# side in one run. Prints a table of MB/s (median of RUNS) and sharecd's ratio to each peer.
# Usage: bench/tftp.sh [--json FILE]   (RUNS=3 by default; needs root, tftpd-hpa, dnsmasq, curl)
#   CLIENT=atftp fetches with atftp instead of curl; ASK=N makes atftp ask for RFC 7440 windowsize N
#   (OVMF asks for 4; curl cannot ask, and without ASK every server sends lock-step). FILES,
#   BLKSIZES and CLIENTS narrow the table (e.g. FILES=live/initrd.img BLKSIZES=1468 CLIENTS=8);
#   WINDOW sets sharecd's --tftp-window, the largest window it grants (default 16); the sharecd-w1
#   column is sharecd with --tftp-window 1, lock-step whatever the client asks.
#   LOSS=N drops one UDP packet in N at random, both ways, as a busy switch does (e.g. LOSS=2000
#   FILES=live/vmlinuz BLKSIZES=1468). A fetch that fails counts as 0 MB/s.
#   BASE=REV adds a column: sharecd built from git revision REV, in the same rounds (a change's
#   before and after, measured side by side; its ratio to the new one is "/base").
. "$(dirname "$0")/lib.sh"
json=${2:-}; [ "${1:-}" = --json ] || json=
runs=${RUNS:-3}

med=$work/medium; make_medium "$med" 64
bin=$(sharecd_bin)
srvs="1 4 2 3"
server 1; server 2; server 3; server 4  # sharecd, tftpd-hpa, dnsmasq, sharecd lock-step
if [ -n "${BASE:-}" ]; then
  mkdir "$work/base"; (cd "$top" && git archive "$BASE") | tar -x -C "$work/base"
  (cd "$work/base" && go build -o "$work/sharecd-base" ./cmd/sharecd)
  server 5; srvs="$srvs 5"
fi
# sharecd hands the kernel a window as one buffer to cut into datagrams (UDP segmentation offload).
# A veth would carry that buffer whole to the client, which a wire never does: have each server's
# port cut it, so every datagram reaches the client (and LOSS's rule) alone. Only sharecd sends so.
for n in $srvs; do ip -n "$(ns $n)" link set s0 gso_max_segs 1; done
# --dhcp-mode off: no DHCP server is needed to serve files.
bg "$(ns 1)" "$work/sharecd.log" "$bin" --share --source "$med" --iface s0 --dhcp-mode off ${WINDOW:+--tftp-window "$WINDOW"}
bg "$(ns 4)" "$work/sharecd-w1.log" "$bin" --share --source "$med" --iface s0 --dhcp-mode off --tftp-window 1
[ -z "${BASE:-}" ] || bg "$(ns 5)" "$work/sharecd-base.log" "$work/sharecd-base" --share --source "$med" --iface s0 --dhcp-mode off ${WINDOW:+--tftp-window "$WINDOW"}
bg "$(ns 2)" "$work/hpa.log" in.tftpd --foreground --address 10.99.2.1:69 --secure "$med"
bg "$(ns 3)" "$work/dnsmasq.log" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --enable-tftp \
  --tftp-root="$med" --interface=s0 --bind-interfaces --user=root
for n in $srvs; do wait_port "$(ns $n)" udp 69; done
if [ -n "${LOSS:-}" ]; then
  # Dropped where they arrive (input hook): DATA at the client, ACKs at each server.
  for n in cli $srvs; do
    [ "$n" = cli ] && where=$cli || where=$(ns "$n")
    ip netns exec "$where" nft -f - <<EOF
table inet loss {
  chain in {
    type filter hook input priority 0;
    meta l4proto udp numgen random mod $LOSS < 1 drop
  }
}
EOF
  done
fi

client=${CLIENT:-curl}
case $client in
  curl) get='curl -s --tftp-blksize $0 -o /dev/null tftp://$1/$2' ;;
  atftp) get='atftp --option "blksize $0" --option "tsize 0" '"${ASK:+--option \"windowsize $ASK\"}"' -g -r $2 -l /dev/null $1 >/dev/null 2>&1' ;;
  *) echo "CLIENT=$client: want curl or atftp" >&2; exit 1 ;;
esac

# fetch N FILE BLKSIZE IP: N clients at once, each fetching FILE; prints MB/s over all, or 0 when
# a fetch failed.
fetch() {
  local n=$1 file=$2 blk=$3 ip=$4 size secs
  size=$(stat -c %s "$med/$file")
  rm -f "$work/failed"
  secs=$(timed ip netns exec "$cli" sh -c '
    for i in $(seq '"$n"'); do sh -c '"'$get'"' '"$blk $ip $file"' || touch '"$work/failed"' & done; wait')
  # printf, not bc's own output: bc writes .5 for 0.5, which is no JSON number.
  if [ -e "$work/failed" ]; then echo 0; else printf '%.3f\n' "$(echo "$n * $size / $secs / 1000000" | bc -l)"; fi
}

# sharecd grants the window a client asks for, up to WINDOW (16); sharecd-w1 grants none.
echo "client: $client${ASK:+, asking for windowsize $ASK}${LOSS:+, one UDP packet in $LOSS lost}"
printf '%-26s %-6s %-5s %10s %10s %10s %10s %8s %8s %8s' file blksz conc sharecd sharecd-w1 tftpd-hpa dnsmasq "/hpa" "/dnsmasq" "w1/hpa"
[ -z "${BASE:-}" ] && echo || printf ' %10s %8s %8s\n' base "base/hpa" "/base"
rows=()
for file in ${FILES:-live/filesystem.squashfs live/initrd.img}; do
  for blk in ${BLKSIZES:-512 1468}; do
    for conc in ${CLIENTS:-1 8}; do
      # Runs go round the servers in turn, so whatever else the machine does is shared among them.
      declare -A all=() r=()
      for _ in $(seq "$runs"); do
        for srv in $srvs; do all[$srv]+="$(fetch "$conc" "$file" "$blk" "10.99.$srv.1") "; done
      done
      for srv in $srvs; do r[$srv]=$(printf '%s\n' ${all[$srv]} | median); done
      printf '%-26s %-6s %-5s %10.1f %10.1f %10.1f %10.1f %8.2f %8.2f %8.2f' "$file" "$blk" "$conc" "${r[1]}" "${r[4]}" "${r[2]}" "${r[3]}" \
        "$(echo "${r[1]} / ${r[2]}" | bc -l)" "$(echo "${r[1]} / ${r[3]}" | bc -l)" "$(echo "${r[4]} / ${r[2]}" | bc -l)"
      if [ -z "${BASE:-}" ]; then echo; else
        printf ' %10.1f %8.2f %8.2f\n' "${r[5]}" "$(echo "${r[5]} / ${r[2]}" | bc -l)" "$(echo "${r[1]} / ${r[5]}" | bc -l)"
      fi
      rows+=("{\"client\":\"$client\",\"windowsize\":${ASK:-1},\"file\":\"$file\",\"blksize\":$blk,\"clients\":$conc,\"sharecd_MBps\":${r[1]},\"sharecd_lockstep_MBps\":${r[4]},\"tftpd_hpa_MBps\":${r[2]},\"dnsmasq_MBps\":${r[3]}}")
    done
  done
done
if [ -n "$json" ]; then (IFS=,; echo "[${rows[*]}]") > "$json"; fi
