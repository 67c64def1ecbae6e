//go:build !linux

package tcpcc

import "syscall"

// unpace: only Linux names its congestion control per socket.
func unpace(syscall.RawConn) string { return "" }
