#!/usr/bin/env bash
# Boot time: QEMU clients from power-on to the kernel and to login:, served by sharecd and by the
# stock stack (dnsmasq proxy-DHCP + TFTP, nfs-ganesha), side by side in one run; sharecd's peak RSS
# and CPU time. Prints one table (and writes it as JSON with --json FILE).
# Usage: bench/boot.sh [--json FILE]
#   FIRMWARE=bios,uefi CLIENTS=1,4 by default; each boot takes minutes under TCG.
#   CPU=0.45 caps each QEMU client at 45% of one CPU (a cgroup each), so that 1 and 4 clients get
#   the same CPU apiece and the 4-client time shows what the servers add; STACKS=sharecd skips
#   the stock stack; STACKS=sharecd,stock,local adds clients that boot
#   the medium from a disk of their own, with no server: the floor no server can go below.
# Needs root, qemu-system-x86, ovmf, dnsmasq, nfs-ganesha-vfs, rpcbind, and the e2e test ISO
# (built and cached by the e2e tests).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "the boot benchmark needs root (network namespaces)" >&2; exit 1; }
json=${2:-}; [ "${1:-}" = --json ] || json=
case "$json" in ""|/*) ;; *) json=$PWD/$json ;; esac
cd "$(dirname "$0")/.."
SHARECD_BOOT_FIRMWARE=${FIRMWARE:-bios,uefi} SHARECD_BOOT_CLIENTS=${CLIENTS:-1,4} SHARECD_BOOT_JSON=$json \
  SHARECD_BOOT_CPU=${CPU:-} SHARECD_BOOT_STACKS=${STACKS:-sharecd,stock} \
  go test ./e2e -run '^$' -bench '^BenchmarkBoot$' -benchtime 1x -timeout 300m
