package wol

import (
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/unix"

	"github.com/sharecd/sharecd/netboot/dhcp"
)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// rawConn is an AF_PACKET datagram socket bound to one interface, as netcheck's probe opens:
// the kernel adds the Ethernet header with the interface's own MAC as the source.
type rawConn struct {
	fd  int
	ifc *net.Interface
}

func openRaw(ifc *net.Interface) (*rawConn, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(EtherType)))
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("%w: %w", ErrPermission, err)
		}
		return nil, fmt.Errorf("opening a raw socket: %w", err)
	}
	// Bound to the index, the socket can send on no other interface; sendto names it again.
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(EtherType), Ifindex: ifc.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("binding a raw socket to %s: %w", ifc.Name, err)
	}
	return &rawConn{fd: fd, ifc: ifc}, nil
}

func (c *rawConn) Close() error { return unix.Close(c.fd) }

func (c *rawConn) send(payload []byte) error {
	to := &unix.SockaddrLinklayer{Protocol: htons(EtherType), Ifindex: c.ifc.Index, Halen: 6}
	copy(to.Addr[:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	return unix.Sendto(c.fd, payload, 0, to)
}

// udpConn is a UDP socket bound to the interface with SO_BINDTODEVICE and allowed to
// broadcast: the socket dhcp.Listen opens for the DHCP servers, on any free port.
type udpConn struct{ pc net.PacketConn }

func openUDP(ifc *net.Interface) (*udpConn, error) {
	pc, err := dhcp.Listen(ifc.Name, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			// SO_BINDTODEVICE without CAP_NET_RAW before Linux 5.7.
			return nil, fmt.Errorf("%w: %w", ErrPermission, err)
		}
		return nil, err
	}
	return &udpConn{pc: pc}, nil
}

func (c *udpConn) Close() error { return c.pc.Close() }

func (c *udpConn) send(payload []byte) error {
	_, err := c.pc.WriteTo(payload, &net.UDPAddr{IP: net.IPv4bcast, Port: Port})
	return err
}
