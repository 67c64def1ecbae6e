// Package tcpcc chooses the congestion control of the TCP connections that carry a medium to
// its clients (NFS READ replies, HTTP downloads).
//
// Those connections are request and answer: a client asks for up to 1 MiB, waits for all of it,
// and asks again. Under BBR, which paces what it sends by its own estimate of the path, the lab
// (bench/nfs.sh, one nfs-cp reader over veth) saw the link stand idle for 20-30 ms in the middle
// of a reply, with the whole reply already in the socket and every byte sent so far
// acknowledged: 0.4-0.5x nfs-ganesha on the same machine, and ganesha itself 30% slower than under
// Reno. A loss-based algorithm sends what the window allows as soon as ACKs come in, which is what a LAN
// needs. Only BBR is replaced: any other choice an administrator made is left alone.
package tcpcc

import (
	"net"
	"strings"
	"syscall"
)

// fallbacks are what a paced connection is switched to, in order: CUBIC, Linux's default, and
// Reno, which the kernel always allows (CUBIC needs CAP_NET_ADMIN where it is not in
// net.ipv4.tcp_allowed_congestion_control).
var fallbacks = []string{"cubic", "reno"}

// Unpace switches c away from a pacing congestion control (BBR) and returns the algorithm c
// uses afterwards, or "" where that cannot be read (not a TCP socket, not Linux).
func Unpace(c net.Conn) string {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return ""
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return ""
	}
	return unpace(raw)
}

func paces(algo string) bool { return strings.HasPrefix(algo, "bbr") }
