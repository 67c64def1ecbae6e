//go:build !linux

package dhcp

import (
	"errors"
	"net"
)

// Listen is only implemented on Linux (SO_BINDTODEVICE).
func Listen(iface string, port int) (net.PacketConn, error) {
	return nil, errors.New("dhcp.Listen: only supported on Linux")
}
