package tcpcc

import (
	"syscall"

	"golang.org/x/sys/unix"
)

func unpace(raw syscall.RawConn) string {
	var algo string
	_ = raw.Control(func(fd uintptr) {
		cur, err := unix.GetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION)
		if err != nil {
			return
		}
		algo = cur
		if !paces(cur) {
			return
		}
		for _, a := range fallbacks {
			if unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, a) == nil {
				algo = a
				return
			}
		}
	})
	return algo
}
