# Shared set-up of the benchmarks: a client namespace wired to one namespace per server, so every
# packet stays on this machine, and helpers to time runs and print the table.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "benchmarks need root (network namespaces)" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
id=$$
cli=scd-bc-$id
pids=()
namespaces=()
work=$(mktemp -d /var/tmp/sharecd-bench.XXXXXX)

cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$cli"; namespaces+=("$cli")
ip -n "$cli" link set lo up

# server N: namespace scd-bN-$id with 10.99.N.1, the client reaching it as 10.99.N.2. Not in a
# subshell: the namespace must be remembered for cleanup.
server() {
  local ns=scd-b$1-$id
  ip netns add "$ns"; namespaces+=("$ns")
  ip -n "$ns" link set lo up
  ip -n "$cli" link add c$1 type veth peer name s0 netns "$ns"
  ip -n "$cli" addr add 10.99.$1.2/24 dev c$1; ip -n "$cli" link set c$1 up
  ip -n "$ns" addr add 10.99.$1.1/24 dev s0; ip -n "$ns" link set s0 up
}
ns() { echo "scd-b$1-$id"; }

# bg NS LOG CMD...: start a server in a namespace, remembered for cleanup.
bg() { local ns=$1 log=$2; shift 2; ip netns exec "$ns" "$@" >"$log" 2>&1 & pids+=($!); }

# timed CMD...: wall seconds of a command, with 3 decimals.
timed() { local s e; s=$(date +%s.%N); "$@"; e=$(date +%s.%N); echo "$e - $s" | bc -l; }

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

sharecd_bin() {
  local bin=$work/sharecd
  (cd "$top" && go build -o "$bin" ./cmd/sharecd)
  echo "$bin"
}

# A medium directory sharecd accepts: a live-boot menu, a kernel and initrd, and $1 MiB of data.
make_medium() {
  local dir=$1 mib=$2
  mkdir -p "$dir/isolinux" "$dir/live"
  printf 'default live\nlabel live\n kernel /live/vmlinuz\n append initrd=/live/initrd.img boot=live\n' > "$dir/isolinux/isolinux.cfg"
  local iso=${SHARECD_TEST_ISO:-/var/cache/sharecd-e2e/debian-live-test.iso}
  if [ -s "$iso" ]; then
    xorriso -osirrox on -indev "$iso" -extract /live/vmlinuz "$dir/live/vmlinuz" -extract /live/initrd.img "$dir/live/initrd.img" >/dev/null 2>&1
  else
    head -c 8M /dev/urandom > "$dir/live/vmlinuz"; head -c 40M /dev/urandom > "$dir/live/initrd.img"
  fi
  head -c "${mib}M" /dev/urandom > "$dir/live/filesystem.squashfs"
  # Written back now, not during the first server's runs: that disk traffic slowed whichever
  # server was measured first.
  sync
}

wait_port() { # NS PROTO PORT
  for _ in $(seq 50); do ip netns exec "$1" ss -Hln"${2:0:1}" "sport = :$3" | grep -q . && return 0; sleep 0.2; done
  echo "nothing listens on $2/$3 in $1" >&2; return 1
}
