//go:build !linux

package netcheck

import (
	"errors"
	"net"
	"net/netip"
	"time"
)

var errNoRaw = errors.New("probing for DHCP servers needs Linux raw sockets")

type rawConn struct{}

func openRaw(*net.Interface) (*rawConn, error)                               { return nil, errNoRaw }
func (c *rawConn) Close() error                                              { return nil }
func (c *rawConn) sendBroadcast([]byte) error                                { return errNoRaw }
func (c *rawConn) recv([]byte, time.Duration) (int, net.HardwareAddr, error) { return 0, nil, errNoRaw }

// ARPInUse always fails off Linux.
func ARPInUse(string, netip.Addr, net.HardwareAddr, time.Duration) (net.HardwareAddr, error) {
	return nil, errNoRaw
}
