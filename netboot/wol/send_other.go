//go:build !linux

package wol

import (
	"errors"
	"net"
)

var errNotLinux = errors.New("sending on one chosen interface needs Linux (AF_PACKET, SO_BINDTODEVICE)")

type rawConn struct{}

func openRaw(*net.Interface) (*rawConn, error) { return nil, errNotLinux }
func (c *rawConn) Close() error                { return nil }
func (c *rawConn) send([]byte) error           { return errNotLinux }

type udpConn struct{}

func openUDP(*net.Interface) (*udpConn, error) { return nil, errNotLinux }
func (c *udpConn) Close() error                { return nil }
func (c *udpConn) send([]byte) error           { return errNotLinux }
