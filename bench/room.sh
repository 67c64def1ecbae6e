#!/usr/bin/env bash
# A room at once: N simulated clients boot at the same moment, each replaying one real client's
# network boot (bench/testdata/room-trace.txt: its DHCP, TFTP, HTTP, NFS MOUNT and READs with
# its own pauses between them), against sharecd and against the stock stack (dnsmasq
# proxy-DHCP + TFTP, nfs-ganesha), over a link shaped to RATE. Prints, for each N, the time
# until the last client was served, the median client's, the physical limit and the ratios;
# and the servers' footprint at the largest N. --json FILE writes the same as JSON.
# Usage: bench/room.sh [--json FILE]
#   CLIENTS="1 10 30"  RATE=1gbit  KEEP=DIR keeps each client's replayed ops and results there  GAPS=1 (0 replays without the client's pauses: then only the
#   servers and the link set the pace)  TRACE=bench/testdata/room-trace.txt
# Needs root, dnsmasq, nfs-ganesha-vfs, rpcbind, xorriso and the e2e test ISO.
. "$(dirname "$0")/lib.sh"
json=${2:-}; [ "${1:-}" = --json ] || json=
clients=${CLIENTS:-1 10 30}
rate=${RATE:-1gbit}
gaps=${GAPS:-1}
trace=${TRACE:-$here/testdata/room-trace.txt}
iso=${SHARECD_TEST_ISO:-/var/cache/sharecd-e2e/debian-live-test.iso}
[ -s "$iso" ] || { echo "no test ISO at $iso (the e2e tests build it)" >&2; exit 1; }
max=0; for n in $clients; do [ "$n" -gt "$max" ] && max=$n; done
[ "$max" -le 200 ] || { echo "CLIENTS: at most 200" >&2; exit 1; }

# Namespaces of an earlier run of this script that was killed (its PID is gone).
for old in $(ip netns list | awk '{print $1}' | grep -E '^scd-r(s|c[0-9]+)-[0-9]+$' || true); do
  [ -d "/proc/${old##*-}" ] || ip netns del "$old"
done

med=$work/medium
xorriso -osirrox on -indev "$iso" -extract / "$med" >/dev/null 2>&1
chmod -R u+w "$med"
bin=$(sharecd_bin)
(cd "$top" && go build -o "$work/roomclient" ./bench/roomclient)
sync

# The room: a switch namespace ($cli, from lib.sh) with a bridge; the server's namespace and
# one namespace per client hang off it. The server's port is shaped both ways: every byte a
# client gets or sends crosses it, as on a room's switch with the server on one 1 Gbit/s port.
sw=$cli srv=scd-rs-$id
ip -n "$sw" link add br0 type bridge; ip -n "$sw" link set br0 up
ip netns add "$srv"; namespaces+=("$srv"); ip -n "$srv" link set lo up
ip -n "$sw" link add p-s0 type veth peer name s0 netns "$srv"
ip -n "$sw" link set p-s0 master br0 up
ip -n "$srv" addr add 10.97.0.2/16 dev s0; ip -n "$srv" link set s0 up
tc -n "$srv" qdisc add dev s0 root tbf rate "$rate" burst 256kb latency 20ms
tc -n "$sw" qdisc add dev p-s0 root tbf rate "$rate" burst 256kb latency 20ms
for i in $(seq "$max"); do
  ns=scd-rc$i-$id
  ip netns add "$ns"; namespaces+=("$ns"); ip -n "$ns" link set lo up
  ip -n "$sw" link add p-c$i type veth peer name e0 netns "$ns"
  ip -n "$sw" link set p-c$i master br0 up
  # Static addresses: the room has no router; the proxies answer PXE clients whatever their address.
  ip -n "$ns" link set e0 address "52:54:00:97:$(printf '%02x:%02x' $((i / 256)) $((i % 256)))"
  ip -n "$ns" addr add "10.97.$((1 + i / 250)).$((i % 250 + 1))/16" dev e0; ip -n "$ns" link set e0 up
done
sleep 2  # the veths' queues (see e2e's waitUp)

tree=$work/tree
"$bin" --boot-tree "$tree" --server-ip 10.97.0.2 --source "$med" --menu-timeout 2 >"$work/tree.log" 2>&1 ||
  { cat "$work/tree.log" >&2; exit 1; }

stack_pids=()
start_stack() { # sharecd | stock
  stack_pids=()
  if [ "$1" = sharecd ]; then
    bg "$srv" "$work/sharecd.log" "$bin" --share --source "$med" --iface s0 --dhcp-mode proxy --menu-timeout 2
    stack_pids+=("${pids[-1]}")
    for _ in $(seq 100); do grep -q msg=sharing "$work/sharecd.log" && break; sleep 0.2; done
    grep -q msg=sharing "$work/sharecd.log" || { cat "$work/sharecd.log" >&2; exit 1; }
  else
    bg "$srv" "$work/ganesha.log" "$here/ganesha.sh" 10.97.0.2 "$med"; stack_pids+=("${pids[-1]}")
    bg "$srv" "$work/dnsmasq.log" dnsmasq --no-daemon --conf-file=/dev/null --port=0 \
      --interface=s0 --bind-interfaces --user=root --dhcp-range=10.97.0.0,proxy \
      --pxe-service=x86PC,"Network boot",pxelinux --pxe-prompt="Network boot",0 \
      --enable-tftp --tftp-root="$tree"
    stack_pids+=("${pids[-1]}")
    wait_port "$srv" tcp 2049; wait_port "$srv" udp 69
  fi
  wait_port "$srv" tcp 111
}

# footprint PID...: peak RSS (MB, summed) and CPU seconds of these processes and their children,
# as JSON, with each process's own.
footprint() {
  local all=() p rss=0 cpu=0 r c procs=() hz
  hz=$(getconf CLK_TCK)
  for p in "$@"; do all+=("$p" $(pgrep -P "$p" || true)); done
  for p in "${all[@]}"; do
    [ -r "/proc/$p/status" ] || continue
    r=$(awk '/^VmHWM:/{print $2}' "/proc/$p/status")
    c=$(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')
    rss=$((rss + r)) cpu=$((cpu + c))
    procs+=("$(printf '"%s":[%d,%.2f]' "$(cat "/proc/$p/comm")" $((r / 1024)) "$(echo "$c / $hz" | bc -l)")")
  done
  printf '{"rss_mb":%.1f,"cpu_s":%.2f,"procs":{%s}}\n' "$(echo "$rss / 1024" | bc -l)" "$(echo "$cpu / $hz" | bc -l)" \
    "$(IFS=,; echo "${procs[*]}")"
}

stop_stack() {
  local p
  for p in "${stack_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${stack_pids[@]}"; do wait "$p" 2>/dev/null || true; done
}

# room STACK N: N clients at once; their JSON lines in $work/STACK-N.json.
room() {
  local stack=$1 n=$2 i start
  start_stack "$stack"
  start=$(( $(date +%s%N) + 2000000000 + n * 100000000 ))  # time for all to be started
  local cps=()
  for i in $(seq "$n"); do
    ip netns exec "scd-rc$i-$id" "$work/roomclient" -trace "$trace" -server 10.97.0.2 -iface e0 \
      -stack "$stack" -start "$start" -gaps "$gaps" -ops "$work/$stack-$n-$i.ops" > "$work/$stack-$n-$i.json" 2>"$work/$stack-$n-$i.err" &
    cps+=($!)
  done
  for i in "${cps[@]}"; do wait "$i" || true; done
  footprint "${stack_pids[@]}" > "$work/$stack-$n.fp"
  stop_stack
  cat "$work/$stack-$n"-*.err >&2 || true
  cat "$work/$stack-$n"-*.json > "$work/$stack-$n.json"
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP"; cp "$work/$stack-$n"-*.ops "$work/$stack-$n.json" "$work/$stack-$n.fp" "$KEEP/"; fi
}

bits=$(tc -n "$srv" -j qdisc show dev s0 | jq '.[0].options.rate * 8')
floor() { "$work/roomclient" -trace "$trace" -floor -gaps "$gaps" -rate "$bits" -clients "$1"; }
one=$(floor 1)
echo "trace: $(jq .ops <<<"$one") requests, $(jq .bytes <<<"$one") bytes a client; one client alone needs" \
  "$(jq .client_s <<<"$one" | xargs printf %.1f) s at $rate (its pauses: $(jq .think_s <<<"$one" | xargs printf %.1f) s)"
printf '%-8s %-8s %9s %9s %9s %9s %8s %8s %8s %7s %s\n' clients stack last_s median_s bytes/link limit_s \
  "÷limit" "÷stock" rss_MB cpu_s errors
rows=() k=0
for n in $clients; do
  order="sharecd stock"; [ $((k % 2)) = 1 ] && order="stock sharecd"; k=$((k + 1))
  for s in $order; do room "$s" "$n"; done
  fl=$(floor "$n"); limit=$(jq .limit_s <<<"$fl"); link=$(jq .link_s <<<"$fl")
  declare -A last=() middle=()
  for s in sharecd stock; do
    last[$s]=$(jq -s 'map(.total_s) | max' "$work/$s-$n.json")
    middle[$s]=$(jq -s 'map(.total_s) | sort | .[(length - 1) / 2 | floor]' "$work/$s-$n.json")
  done
  for s in sharecd stock; do
    errs=$(jq -s 'map(.errors) | add' "$work/$s-$n.json")
    got=$(jq -s 'length' "$work/$s-$n.json")
    fp=$(cat "$work/$s-$n.fp")
    printf '%-8s %-8s %9.1f %9.1f %9.1f %9.1f %8.3f %8.3f %8.0f %7.1f %s\n' "$n" "$s" "${last[$s]}" "${middle[$s]}" "$link" \
      "$limit" "$(echo "${last[$s]} / $limit" | bc -l)" "$(echo "${last[$s]} / ${last[stock]}" | bc -l)" \
      "$(jq .rss_mb <<<"$fp")" "$(jq .cpu_s <<<"$fp")" "$errs"
    [ "$got" = "$n" ] || echo "  only $got of $n $s clients reported (see stderr above)"
  done
  rows+=("{\"clients\":$n,\"floor\":$fl,\"gaps\":$gaps,\"rate\":\"$rate\",
    \"sharecd\":{\"last_s\":${last[sharecd]},\"median_s\":${middle[sharecd]},\"footprint\":$(cat "$work/sharecd-$n.fp"),\"clients_s\":$(jq -s 'map(.total_s)' "$work/sharecd-$n.json")},
    \"stock\":{\"last_s\":${last[stock]},\"median_s\":${middle[stock]},\"footprint\":$(cat "$work/stock-$n.fp"),\"clients_s\":$(jq -s 'map(.total_s)' "$work/stock-$n.json")}}")
done
if [ -n "$json" ]; then (IFS=,; echo "[${rows[*]}]") | jq . > "$json"; fi
