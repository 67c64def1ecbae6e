package netcheck

import (
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// rawConn is an AF_PACKET datagram socket on one interface for one EtherType: the kernel adds and
// strips the Ethernet header and tells us the sender's MAC, which is what names a rogue server.
type rawConn struct {
	fd    int
	ifc   *net.Interface
	proto uint16
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func openRawProto(ifc *net.Interface, proto uint16) (*rawConn, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(proto)))
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("a raw socket needs root or CAP_NET_RAW: %w", err)
		}
		return nil, fmt.Errorf("opening a raw socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(proto), Ifindex: ifc.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("binding a raw socket to %s: %w", ifc.Name, err)
	}
	return &rawConn{fd: fd, ifc: ifc, proto: proto}, nil
}

// openRaw opens the socket the DHCP probe uses. Servers that ignore the broadcast flag answer
// the probe's MAC by unicast, which the NIC drops unless promiscuous: the socket asks for
// promiscuous mode, which the kernel ends with the socket.
func openRaw(ifc *net.Interface) (*rawConn, error) {
	c, err := openRawProto(ifc, unix.ETH_P_IP)
	if err != nil {
		return nil, err
	}
	mreq := unix.PacketMreq{Ifindex: int32(ifc.Index), Type: unix.PACKET_MR_PROMISC}
	unix.SetsockoptPacketMreq(c.fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq) // best effort
	return c, nil
}

func (c *rawConn) Close() error { return unix.Close(c.fd) }

func (c *rawConn) sendBroadcast(b []byte) error {
	to := &unix.SockaddrLinklayer{Protocol: htons(c.proto), Ifindex: c.ifc.Index, Halen: 6}
	copy(to.Addr[:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	return unix.Sendto(c.fd, b, 0, to)
}

// recv waits up to wait for a packet received (not sent) on the interface. n = 0 means nothing
// came in time.
func (c *rawConn) recv(buf []byte, wait time.Duration) (int, net.HardwareAddr, error) {
	fds := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}}
	nready, err := unix.Poll(fds, int(wait/time.Millisecond))
	if err != nil {
		if errors.Is(err, unix.EINTR) {
			return 0, nil, nil
		}
		return 0, nil, err
	}
	if nready == 0 {
		return 0, nil, nil
	}
	n, from, err := unix.Recvfrom(c.fd, buf, unix.MSG_DONTWAIT)
	if err != nil {
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			return 0, nil, nil
		}
		return 0, nil, err
	}
	ll, ok := from.(*unix.SockaddrLinklayer)
	// Our own frames come back to a packet socket as PACKET_OUTGOING, among them the offers of
	// a DHCP server on this host: they are not answers from the LAN.
	if !ok || ll.Pkttype == unix.PACKET_OUTGOING || ll.Halen < 6 {
		return 0, nil, nil
	}
	return n, net.HardwareAddr(append([]byte(nil), ll.Addr[:ll.Halen]...)), nil
}
