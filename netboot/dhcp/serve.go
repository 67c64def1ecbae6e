package dhcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// maxPacket is the largest DHCP message we read: an Ethernet frame's UDP payload
// (1500 − 20 IP − 8 UDP). PXE ROMs advertise 1472 in option 57 at most; anything
// bigger arrived fragmented and is not from a boot ROM.
const maxPacket = 1472

// minPacket is the fixed BOOTP header plus the magic cookie (RFC 2131 §2).
const minPacket = 240

// Serve answers PXE clients on c67 (the DHCP port) and c4011 (the PXE boot-server
// port) until ctx is done; then it closes both sockets and returns nil. c67 should
// come from Listen, so that broadcast replies leave through the right interface;
// tests may pass any PacketConn. A nil conn is not served. It returns an error
// only if a socket fails.
func (p *Proxy) Serve(ctx context.Context, c67, c4011 net.PacketConn) error {
	if s := p.ServerIP.To4(); s == nil || s.IsUnspecified() {
		return fmt.Errorf("serving proxy-DHCP: no IPv4 ServerIP (%v)", p.ServerIP)
	}
	if c67 == nil && c4011 == nil {
		return errors.New("serving proxy-DHCP: no socket")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type loop struct {
		conn net.PacketConn
		port int
	}
	var loops []loop
	if c67 != nil {
		loops = append(loops, loop{c67, Port67})
	}
	if c4011 != nil {
		loops = append(loops, loop{c4011, Port4011})
	}
	// Closing the sockets is what unblocks ReadFrom.
	go func() {
		<-ctx.Done()
		for _, l := range loops {
			l.conn.Close()
		}
	}()

	errc := make(chan error, len(loops))
	for _, l := range loops {
		go func() { errc <- p.serveConn(ctx, l.conn, l.port) }()
	}
	var first error
	for range loops {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel() // one port failing stops the other: PXE needs both
		}
	}
	return first
}

// serveConn is the read loop of one socket. It returns nil once ctx is done.
func (p *Proxy) serveConn(ctx context.Context, conn net.PacketConn, port int) error {
	return readPackets(ctx, conn, port, func(pkt []byte, src net.Addr) { p.handle(conn, port, pkt, src) })
}

// readPackets calls handle with each datagram read from conn, which was opened on port,
// until the socket fails (an error) or is closed because ctx is done (nil). pkt is only valid
// during the call.
func readPackets(ctx context.Context, conn net.PacketConn, port int, handle func(pkt []byte, src net.Addr)) error {
	// One byte more than we accept, so a longer datagram shows up as n > maxPacket
	// instead of being silently truncated into something that parses.
	buf := make([]byte, maxPacket+1)
	for {
		n, src, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("reading UDP port %d: %w", port, err)
		}
		handle(buf[:n], src)
	}
}

// handle answers one datagram.
func (p *Proxy) handle(conn net.PacketConn, port int, pkt []byte, src net.Addr) {
	log := p.logger()
	defer func() {
		// The packet parser is third-party code fed by anyone on the LAN: a
		// panic there must cost one packet, not every client's boot.
		if r := recover(); r != nil {
			log.Error("proxy-DHCP: panic while handling a packet", "port", port, "src", src, "panic", r)
		}
	}()
	if len(pkt) > maxPacket {
		log.Debug("proxy-DHCP: ignored oversized packet", "port", port, "src", src, "len", len(pkt))
		return
	}
	if len(pkt) < minPacket {
		log.Debug("proxy-DHCP: ignored short packet", "port", port, "src", src, "len", len(pkt))
		return
	}
	req, err := dhcpv4.FromBytes(pkt)
	if err != nil {
		log.Debug("proxy-DHCP: ignored malformed packet", "port", port, "src", src, "err", err)
		return
	}
	resp, c, err := p.answer(req, port)
	if err == nil {
		err = checkAllowed(p.Allow, req, port, src)
	}
	if err != nil {
		log.Debug("proxy-DHCP: ignored", "mac", req.ClientHWAddr.String(), "xid", req.TransactionID.String(),
			"type", req.MessageType().String(), "port", port, "src", src, "reason", err.Error())
		return
	}
	dest := replyDest(req, port, src)
	if p.dest != nil {
		dest = p.dest(req, port, src)
	}
	if _, err := conn.WriteTo(resp.ToBytes(), dest); err != nil {
		log.Warn("proxy-DHCP: sending reply failed", "mac", req.ClientHWAddr.String(), "dest", dest, "err", err)
		return
	}
	ev := c.event(resp, proxyClientIP(req, port, src), time.Now())
	log.Debug("proxy-DHCP: "+ev.Kind, "mac", ev.MAC.String(), "arch", uint16(ev.Arch), "file", ev.BootFile,
		"dest", dest.String())
	if p.OnEvent != nil {
		p.OnEvent(ev)
	}
}

// replyDest says where the reply to req goes.
//
//   - 4011: back to the sender's address and port. The boot-server REQUEST is
//     unicast from a client that already has its address (PXE spec 2.1 §2.2.6;
//     dnsmasq and pixiecore answer the source the same way).
//   - 67, relayed (giaddr set): to the relay's server port, which forwards it
//     (RFC 2131 §4.1).
//   - 67, otherwise: broadcast to 255.255.255.255:68. We only answer DISCOVERs
//     there, from clients in INIT state with no address (ciaddr is 0 in a
//     DISCOVER, RFC 2131 §4.4.1), and a proxy cannot unicast to yiaddr the way a
//     real server may, since it assigns none. dnsmasq forces the broadcast flag
//     on proxy offers for the same reason; iPXE sends flags 0 yet only hears
//     broadcasts at that point.
func replyDest(req *dhcpv4.DHCPv4, port int, src net.Addr) net.Addr {
	if port == Port4011 {
		return src
	}
	if gi := req.GatewayIPAddr.To4(); gi != nil && !gi.IsUnspecified() {
		return &net.UDPAddr{IP: gi, Port: Port67}
	}
	return &net.UDPAddr{IP: net.IPv4bcast, Port: clientPort}
}

// proxyClientIP is the client's address as the proxy knows it: ciaddr if the client has
// one, else on 4011 the sender's address (the client asks from the address the router gave
// it); else none, since a proxy assigns no address.
func proxyClientIP(req *dhcpv4.DHCPv4, port int, src net.Addr) net.IP {
	if ci := addrOf(req.ClientIPAddr); ci.IsValid() {
		return ci.AsSlice()
	}
	if port != Port4011 || src == nil {
		return nil
	}
	if a := srcAddr(src); a.Is4() && !a.IsUnspecified() {
		return a.AsSlice()
	}
	return nil
}

func (p *Proxy) logger() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.New(slog.DiscardHandler)
}
