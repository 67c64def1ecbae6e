package dhcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Server is a complete DHCP server for an isolated LAN (a classroom switch with no router): it
// hands out addresses from a pool in its own subnet and, to PXE clients, the same boot
// information Proxy gives (file, siaddr = itself, option 60, option 43 for BIOS), so BIOS ROMs
// boot straight from the offer; EDK2 UEFI firmware still asks on 4011, where netboot runs the
// Proxy in full mode too. Zero fields mean the default; ServerIP and
// Subnet are required. Only netboot's "full" mode runs it, after a check found no other DHCP
// server; it must never run next to one (netboot-facts §2; iVentoy's ventoy/PXE#118).
type Server struct {
	ServerIP netip.Addr
	Subnet   netip.Prefix // the interface's subnet; the pool lies inside it
	// Pool is the range handed out, inclusive. Zero: .100–.199 of a /24 or larger; every host
	// address of a smaller subnet. ServerIP is never handed out.
	PoolStart, PoolEnd netip.Addr
	// Lease is the lease time; 0 = 10 minutes. Short, so a mistake heals quickly.
	Lease time.Duration
	// BootFile as in Proxy; nil: BIOS gets DefaultBIOSFile.
	BootFile func(c Client) (file string, ok bool)
	// InUse ARP-probes an address before it is offered: it returns true when a machine other
	// than client answers for it. Nil: no probe (tests).
	InUse func(ip netip.Addr, client net.HardwareAddr) bool
	// Refuse: as in Proxy, no answer of any kind, not even an address: the machine is left to
	// whatever else it boots from.
	Refuse func(mac net.HardwareAddr) bool
	// Hostname is the name a client is given in option 12 ("" = none): a seat's name.
	Hostname func(mac net.HardwareAddr) string
	// Ignore drops DISCOVERs from these clients without a word (sharecd's own LAN probe).
	Ignore func(mac net.HardwareAddr) bool
	// StateFile keeps the leases across restarts ("" = in memory only).
	StateFile string
	// Router and DNS are named in every answer when set (option 3 and 6): a room sharing the
	// host's internet goes out through Router. Zero and empty: neither, the room is isolated.
	Router netip.Addr
	DNS    []netip.Addr
	// Allow says whether a relay's network (giaddr) is served, as in Proxy. Nil allows
	// everyone.
	Allow   func(netip.Addr) bool
	Log     *slog.Logger
	OnEvent func(Event)

	paused atomic.Bool
	table  leaseTable
	loaded sync.Once
	saves  saver
	// store replaces the StateFile in tests (a slow disk); nil: StateFile.
	store leaseStore
	// dest replaces the broadcast destination in tests on loopback.
	dest func(req *dhcpv4.DHCPv4) net.Addr
}

// Pause stops (true) or resumes (false) handing out addresses. Renewals of existing leases are
// still answered; new DISCOVERs and REQUESTs for new addresses are ignored. netboot pauses the
// server when another DHCP server appears on the LAN.
func (s *Server) Pause(p bool) { s.paused.Store(p) }

// Paused reports whether the server is paused.
func (s *Server) Paused() bool { return s.paused.Load() }

func (s *Server) leaseTime() time.Duration {
	if s.Lease > 0 {
		return s.Lease
	}
	return 10 * time.Minute
}

func (s *Server) pool() addrPool {
	p := addrPool{lo: s.PoolStart, hi: s.PoolEnd, server: s.ServerIP, subnet: s.Subnet}
	if s.PoolStart.IsValid() && s.PoolEnd.IsValid() {
		return p
	}
	net := s.Subnet.Masked().Addr()
	if s.Subnet.Bits() <= 24 {
		p.lo, p.hi = nth(net, 100), nth(net, 199)
	} else {
		p.lo, p.hi = net.Next(), broadcast(s.Subnet).Prev()
	}
	return p
}

func nth(a netip.Addr, n int) netip.Addr {
	for range n {
		a = a.Next()
	}
	return a
}

func broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func (s *Server) leaseStore() leaseStore {
	switch {
	case s.store != nil:
		return s.store
	case s.StateFile != "":
		return leaseFile(s.StateFile)
	}
	return nil
}

// load reads the saved leases, once, before the first request touches the table; a missing
// or broken file means no leases. Concurrent first requests wait for it (sync.Once), holding
// no lock of the table.
func (s *Server) load() {
	s.loaded.Do(func() {
		st := s.leaseStore()
		if st == nil {
			return
		}
		ls, err := st.load()
		if err != nil {
			s.logger().Warn("DHCP: ignoring unreadable lease file", "file", s.StateFile, "err", err)
			return
		}
		s.table.restore(ls, s.pool())
	})
}

// save writes the bound leases, never under the table's lock (saver).
func (s *Server) save() {
	st := s.leaseStore()
	if st == nil {
		return
	}
	s.saves.save(st, &s.table, func(err error) {
		s.logger().Warn("DHCP: could not save the leases", "file", s.StateFile, "err", err)
	})
}

// Leases returns the current bound leases (for tests and the UI).
func (s *Server) Leases() map[string]netip.Addr {
	s.load()
	out := map[string]netip.Addr{}
	for _, l := range s.table.bound() {
		out[l.MAC] = l.IP
	}
	return out
}

// Errors Reply wraps besides those of Proxy.
var (
	ErrPaused   = errors.New("paused: another DHCP server is on the LAN")
	ErrPoolFull = errors.New("no free address in the pool")
)

// Reply computes the answer to req at time now: the lease step (address, subnet, lease time)
// from the lease table, then the PXE step shared with Proxy. InUse is called for a new
// address before it is offered, and the leases are saved after a change; neither runs under
// the table's lock, so other clients are answered meanwhile. A nil reply comes with the
// reason the packet is ignored.
func (s *Server) Reply(req *dhcpv4.DHCPv4, now time.Time) (*dhcpv4.DHCPv4, error) {
	resp, _, err := s.answer(req, now)
	return resp, err
}

// answer is Reply, also returning the client as describe saw it (for the event).
func (s *Server) answer(req *dhcpv4.DHCPv4, now time.Time) (*dhcpv4.DHCPv4, clientInfo, error) {
	if req == nil || req.OpCode != dhcpv4.OpcodeBootRequest {
		return nil, clientInfo{}, fmt.Errorf("%w: not a BOOTREQUEST", ErrBadPacket)
	}
	if len(req.ClientHWAddr) != 6 {
		return nil, clientInfo{}, fmt.Errorf("%w: hardware address %v", ErrBadPacket, req.ClientHWAddr)
	}
	if !s.ServerIP.Is4() || !s.Subnet.Contains(s.ServerIP) {
		return nil, clientInfo{}, fmt.Errorf("DHCP server: ServerIP %v is not in Subnet %v", s.ServerIP, s.Subnet)
	}
	c := describe(req)
	if s.Refuse != nil && s.Refuse(req.ClientHWAddr) {
		return nil, c, ErrRefused
	}
	s.load()
	mac := c.MAC.String()
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		if s.Ignore != nil && s.Ignore(req.ClientHWAddr) {
			return nil, c, fmt.Errorf("%w: sharecd's own LAN probe", ErrNotOurs)
		}
		if s.Paused() {
			return nil, c, ErrPaused
		}
		a, err := s.offerAddr(req, mac, now)
		if err != nil {
			return nil, c, err
		}
		return s.reply(req, c, dhcpv4.MessageTypeOffer, a), c, nil
	case dhcpv4.MessageTypeRequest:
		want := addrOf(req.RequestedIPAddress())
		if !want.IsValid() {
			want = addrOf(req.ClientIPAddr) // RENEWING / REBINDING
		}
		g := s.table.request(s.pool(), mac, addrOf(req.ServerIdentifier()), want, now, s.leaseTime(), s.Paused())
		if g.saved {
			s.save()
		}
		switch {
		case g.err != nil:
			return nil, c, g.err
		case g.nak != "":
			return s.nak(req, c, g.nak), c, nil
		}
		return s.reply(req, c, dhcpv4.MessageTypeAck, g.ip), c, nil
	case dhcpv4.MessageTypeRelease:
		if s.table.release(mac, addrOf(req.ClientIPAddr)) {
			s.save()
		}
		return nil, c, fmt.Errorf("%w: released", ErrNotOurs)
	case dhcpv4.MessageTypeDecline:
		if s.table.decline(mac, now) {
			s.save()
		}
		return nil, c, fmt.Errorf("%w: declined", ErrNotOurs)
	case dhcpv4.MessageTypeInform:
		return s.reply(req, c, dhcpv4.MessageTypeAck, netip.Addr{}), c, nil
	}
	return nil, c, fmt.Errorf("%w: %v", ErrNotOurs, req.MessageType())
}

// offerAddr reserves an address for a DISCOVER and probes it with InUse outside the table's
// lock; an address in use is skipped and the next one tried.
func (s *Server) offerAddr(req *dhcpv4.DHCPv4, mac string, now time.Time) (netip.Addr, error) {
	pool := s.pool()
	skip := map[netip.Addr]bool{}
	for tries := 0; tries < 5; tries++ {
		a, ok := s.table.reserve(pool, mac, addrOf(req.RequestedIPAddress()), now, skip)
		if !ok {
			return netip.Addr{}, ErrPoolFull
		}
		if s.InUse != nil && s.InUse(a, req.ClientHWAddr) {
			s.logger().Warn("DHCP: address in use by a machine without a lease; skipping it", "ip", a)
			s.table.inUse(mac, a, now)
			skip[a] = true
			continue
		}
		// The probe ran without the lock: offer a only if it is still this client's.
		if s.table.stillReserved(mac, a, now) {
			return a, nil
		}
		skip[a] = true
	}
	return netip.Addr{}, ErrPoolFull
}

// nak refuses a REQUEST: RFC 2131 table 3, yiaddr, ciaddr and siaddr zero, broadcast so
// that a client whose address is wrong still hears it.
func (s *Server) nak(req *dhcpv4.DHCPv4, c clientInfo, why string) *dhcpv4.DHCPv4 {
	resp := newReply(req, c, s.ServerIP.AsSlice(), dhcpv4.MessageTypeNak)
	resp.ServerIPAddr = net.IPv4zero
	resp.UpdateOption(dhcpv4.OptMessage(why))
	resp.SetBroadcast()
	return resp
}

// reply builds an OFFER or ACK for yiaddr (none for INFORM): the skeleton, the lease step,
// then the PXE step Proxy takes too. No router and no DNS unless set: an isolated LAN's live
// system needs neither to mount its root from us.
func (s *Server) reply(req *dhcpv4.DHCPv4, c clientInfo, mt dhcpv4.MessageType, yiaddr netip.Addr) *dhcpv4.DHCPv4 {
	server := s.ServerIP.AsSlice()
	resp := newReply(req, c, server, mt)
	if yiaddr.IsValid() {
		resp.YourIPAddr = yiaddr.AsSlice()
		lt := s.leaseTime()
		resp.UpdateOption(dhcpv4.OptIPAddressLeaseTime(lt))
		resp.UpdateOption(dhcpv4.OptRenewTimeValue(lt / 2))
		resp.UpdateOption(dhcpv4.OptRebindingTimeValue(lt * 7 / 8))
	} else {
		// INFORM: the client has its address and keeps it (RFC 2131 §4.3.5).
		resp.ClientIPAddr = ipv4OrZero(req.ClientIPAddr)
	}
	resp.UpdateOption(dhcpv4.OptSubnetMask(net.CIDRMask(s.Subnet.Bits(), 32)))
	resp.UpdateOption(dhcpv4.OptBroadcastAddress(broadcast(s.Subnet).AsSlice()))
	if s.Router.Is4() {
		resp.UpdateOption(dhcpv4.OptRouter(s.Router.AsSlice()))
	}
	var dns []net.IP
	for _, a := range s.DNS {
		if a.Is4() {
			dns = append(dns, a.AsSlice())
		}
	}
	if len(dns) > 0 {
		resp.UpdateOption(dhcpv4.OptDNS(dns...))
	}
	if s.Hostname != nil {
		// In every answer, the lease's and the initramfs's alike: whichever DHCP client the
		// system runs names its host by it.
		if name := s.Hostname(req.ClientHWAddr); name != "" {
			resp.UpdateOption(dhcpv4.OptHostName(name))
		}
	}
	// PXE clients get the boot file straight in the offer with siaddr = us, like ISC dhcpd's
	// next-server/filename: every ROM boots that, and GRUB takes its TFTP server from siaddr
	// (netboot-facts §7), which here is right. A client without one still gets its lease.
	if file, err := bootFile(s.BootFile, c); err == nil {
		addBootOptions(resp, c, server, file, false)
	}
	return resp
}

// Serve answers DHCP on c (from Listen(iface, 67)) until ctx is done, then closes c and returns
// nil. Each DISCOVER is handled in its own goroutine: the ARP probe takes half a second, and a
// room of PCs switched on together must not queue behind it.
func (s *Server) Serve(ctx context.Context, c net.PacketConn) error {
	if !s.ServerIP.Is4() || !s.Subnet.Contains(s.ServerIP) {
		return fmt.Errorf("serving DHCP: ServerIP %v is not in Subnet %v", s.ServerIP, s.Subnet)
	}
	go func() {
		<-ctx.Done()
		c.Close()
	}()
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	defer wg.Wait()
	return readPackets(ctx, c, Port67, func(pkt []byte, src net.Addr) {
		if len(pkt) > maxPacket || len(pkt) < minPacket {
			return
		}
		select {
		case sem <- struct{}{}:
		default:
			s.logger().Debug("DHCP: busy, dropped a packet", "src", src)
			return
		}
		pkt = bytes.Clone(pkt)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s.handle(c, pkt, src)
		}()
	})
}

func (s *Server) handle(conn net.PacketConn, pkt []byte, src net.Addr) {
	log := s.logger()
	defer func() {
		if r := recover(); r != nil {
			log.Error("DHCP: panic while handling a packet", "src", src, "panic", r)
		}
	}()
	req, err := dhcpv4.FromBytes(pkt)
	if err != nil {
		log.Debug("DHCP: ignored malformed packet", "src", src, "err", err)
		return
	}
	// Before Reply, which reserves an address for the client.
	if err := checkAllowed(s.Allow, req, Port67, src); err != nil {
		log.Debug("DHCP: ignored", "mac", req.ClientHWAddr.String(), "type", req.MessageType().String(), "reason", err.Error())
		return
	}
	resp, c, err := s.answer(req, time.Now())
	if err != nil {
		log.Debug("DHCP: ignored", "mac", req.ClientHWAddr.String(), "type", req.MessageType().String(), "reason", err.Error())
		return
	}
	var dest net.Addr = &net.UDPAddr{IP: net.IPv4bcast, Port: clientPort}
	switch {
	case s.dest != nil:
		dest = s.dest(req)
	case addrOf(req.GatewayIPAddr).IsValid():
		dest = &net.UDPAddr{IP: req.GatewayIPAddr, Port: Port67}
	case addrOf(req.ClientIPAddr).IsValid():
		// RENEWING: the client has its address and asked by unicast (RFC 2131 §4.1).
		dest = &net.UDPAddr{IP: req.ClientIPAddr, Port: clientPort}
	}
	// Otherwise broadcast: a client without an address hears nothing else unless we add an ARP
	// entry for it, and every client accepts a broadcast answer.
	if _, err := conn.WriteTo(resp.ToBytes(), dest); err != nil {
		log.Warn("DHCP: sending reply failed", "mac", req.ClientHWAddr.String(), "dest", dest, "err", err)
		return
	}
	mt := resp.MessageType()
	log.Debug("DHCP: "+mt.String(), "mac", req.ClientHWAddr.String(), "ip", resp.YourIPAddr, "file", resp.BootFileName)
	if s.OnEvent != nil && (mt == dhcpv4.MessageTypeOffer || mt == dhcpv4.MessageTypeAck) {
		ip := resp.YourIPAddr
		if addrOf(ip) == (netip.Addr{}) {
			ip = resp.ClientIPAddr // INFORM
		}
		s.OnEvent(c.event(resp, ip, time.Now()))
	}
}

func (s *Server) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}
