package dhcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// Server is a complete DHCP server for an isolated LAN (a classroom switch with no router): it
// hands out addresses from a pool in its own subnet and, to PXE clients, the boot file with
// siaddr = itself, so no proxy exchange is needed. Zero fields mean the default; ServerIP and
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
	// Ignore drops DISCOVERs from these clients without a word (sharecd's own LAN probe).
	Ignore func(mac net.HardwareAddr) bool
	// StateFile keeps the leases across restarts ("" = in memory only).
	StateFile string
	// Allow says whether a relay's network (giaddr) is served, as in Proxy. Nil allows
	// everyone.
	Allow   func(netip.Addr) bool
	Log     *slog.Logger
	OnEvent func(Event)

	paused atomic.Bool
	mu     sync.Mutex
	leases map[string]*lease // by MAC
	taken  map[netip.Addr]time.Time
	loaded bool
	// dest replaces the broadcast destination in tests on loopback.
	dest func(req *dhcpv4.DHCPv4) net.Addr
}

type lease struct {
	MAC    string     `json:"mac"`
	IP     netip.Addr `json:"ip"`
	Expiry time.Time  `json:"expiry"`
	Bound  bool       `json:"bound"` // ACKed, not just offered
}

// offerHold is how long an offered address stays reserved for its client.
const offerHold = 30 * time.Second

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

func (s *Server) pool() (netip.Addr, netip.Addr) {
	if s.PoolStart.IsValid() && s.PoolEnd.IsValid() {
		return s.PoolStart, s.PoolEnd
	}
	net := s.Subnet.Masked().Addr()
	bcast := broadcast(s.Subnet)
	if s.Subnet.Bits() <= 24 {
		return nth(net, 100), nth(net, 199)
	}
	return net.Next(), bcast.Prev()
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

// load reads the state file once; a missing or broken file means no leases.
func (s *Server) load() {
	if s.loaded {
		return
	}
	s.loaded = true
	s.leases = map[string]*lease{}
	s.taken = map[netip.Addr]time.Time{}
	if s.StateFile == "" {
		return
	}
	b, err := os.ReadFile(s.StateFile)
	if err != nil {
		return
	}
	var ls []*lease
	if err := json.Unmarshal(b, &ls); err != nil {
		s.logger().Warn("DHCP: ignoring unreadable lease file", "file", s.StateFile, "err", err)
		return
	}
	for _, l := range ls {
		if l.Bound && s.inPool(l.IP) {
			s.leases[l.MAC] = l
		}
	}
}

// save writes the bound leases atomically (write, then rename).
func (s *Server) save() {
	if s.StateFile == "" {
		return
	}
	var ls []*lease
	for _, l := range s.leases {
		if l.Bound {
			ls = append(ls, l)
		}
	}
	b, _ := json.MarshalIndent(ls, "", " ")
	if err := os.MkdirAll(filepath.Dir(s.StateFile), 0o755); err == nil {
		tmp := s.StateFile + ".tmp"
		if err = os.WriteFile(tmp, b, 0o644); err == nil {
			err = os.Rename(tmp, s.StateFile)
		}
		if err == nil {
			return
		}
	}
	s.logger().Warn("DHCP: could not save the leases", "file", s.StateFile)
}

func (s *Server) inPool(a netip.Addr) bool {
	lo, hi := s.pool()
	return a.IsValid() && a != s.ServerIP && lo.Compare(a) <= 0 && a.Compare(hi) <= 0 && s.Subnet.Contains(a)
}

// holder returns the MAC holding a (an unexpired lease or offer), or "".
func (s *Server) holder(a netip.Addr, now time.Time) string {
	for mac, l := range s.leases {
		if l.IP == a && now.Before(l.Expiry) {
			return mac
		}
	}
	return ""
}

// Leases returns the current bound leases (for tests and the UI).
func (s *Server) Leases() map[string]netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.load()
	out := map[string]netip.Addr{}
	for mac, l := range s.leases {
		if l.Bound {
			out[mac] = l.IP
		}
	}
	return out
}

// candidate picks an address for mac under s.mu: its current lease, the address it asks for if
// free, else the first free one. Addresses found in use are skipped for a while.
func (s *Server) candidate(mac string, want netip.Addr, now time.Time, skip map[netip.Addr]bool) (netip.Addr, bool) {
	if l, ok := s.leases[mac]; ok && !skip[l.IP] {
		return l.IP, true
	}
	free := func(a netip.Addr) bool {
		if skip[a] || !s.inPool(a) {
			return false
		}
		if until, ok := s.taken[a]; ok && now.Before(until) {
			return false
		}
		h := s.holder(a, now)
		return h == "" || h == mac
	}
	if free(want) {
		return want, true
	}
	lo, hi := s.pool()
	// Prefer never-used addresses, then ones whose leases expired (oldest first would be nicer;
	// a short pool scan is enough for a classroom).
	for a := lo; a.Compare(hi) <= 0; a = a.Next() {
		if free(a) && s.holderAny(a) == "" {
			return a, true
		}
	}
	for a := lo; a.Compare(hi) <= 0; a = a.Next() {
		if free(a) {
			return a, true
		}
	}
	return netip.Addr{}, false
}

func (s *Server) holderAny(a netip.Addr) string {
	for mac, l := range s.leases {
		if l.IP == a {
			return mac
		}
	}
	return ""
}

// Errors Reply wraps besides those of Proxy.
var (
	ErrPaused   = errors.New("paused: another DHCP server is on the LAN")
	ErrPoolFull = errors.New("no free address in the pool")
)

// Reply computes the answer to req at time now. It keeps the lease table; InUse is called for a
// new address before it is offered. A nil reply comes with the reason the packet is ignored.
func (s *Server) Reply(req *dhcpv4.DHCPv4, now time.Time) (*dhcpv4.DHCPv4, error) {
	if req == nil || req.OpCode != dhcpv4.OpcodeBootRequest {
		return nil, fmt.Errorf("%w: not a BOOTREQUEST", ErrBadPacket)
	}
	if len(req.ClientHWAddr) != 6 {
		return nil, fmt.Errorf("%w: hardware address %v", ErrBadPacket, req.ClientHWAddr)
	}
	if !s.ServerIP.Is4() || !s.Subnet.Contains(s.ServerIP) {
		return nil, fmt.Errorf("DHCP server: ServerIP %v is not in Subnet %v", s.ServerIP, s.Subnet)
	}
	mac := req.ClientHWAddr.String()
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		if s.Ignore != nil && s.Ignore(req.ClientHWAddr) {
			return nil, fmt.Errorf("%w: sharecd's own LAN probe", ErrNotOurs)
		}
		if s.Paused() {
			return nil, ErrPaused
		}
		return s.offer(req, mac, now)
	case dhcpv4.MessageTypeRequest:
		return s.request(req, mac, now)
	case dhcpv4.MessageTypeRelease:
		s.mu.Lock()
		if l, ok := s.leases[mac]; ok && l.IP == addrOf(req.ClientIPAddr) {
			delete(s.leases, mac)
			s.save()
		}
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: released", ErrNotOurs)
	case dhcpv4.MessageTypeDecline:
		// The client found the address in use (its own ARP check): don't offer it for a while.
		s.mu.Lock()
		if l, ok := s.leases[mac]; ok {
			s.taken[l.IP] = now.Add(10 * time.Minute)
			delete(s.leases, mac)
			s.save()
		}
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: declined", ErrNotOurs)
	case dhcpv4.MessageTypeInform:
		return s.reply(req, dhcpv4.MessageTypeAck, netip.Addr{}), nil
	}
	return nil, fmt.Errorf("%w: %v", ErrNotOurs, req.MessageType())
}

func (s *Server) offer(req *dhcpv4.DHCPv4, mac string, now time.Time) (*dhcpv4.DHCPv4, error) {
	skip := map[netip.Addr]bool{}
	for tries := 0; tries < 5; tries++ {
		s.mu.Lock()
		s.load()
		a, ok := s.candidate(mac, addrOf(req.RequestedIPAddress()), now, skip)
		if ok {
			// Reserve it while probing, so a concurrent DISCOVER picks another.
			l := s.leases[mac]
			if l == nil || l.IP != a {
				l = &lease{MAC: mac, IP: a}
				s.leases[mac] = l
			}
			if !l.Bound || now.After(l.Expiry) {
				l.Bound = false
				l.Expiry = now.Add(offerHold)
			}
		}
		s.mu.Unlock()
		if !ok {
			return nil, ErrPoolFull
		}
		if s.InUse != nil && s.InUse(a, req.ClientHWAddr) {
			s.logger().Warn("DHCP: address in use by a machine without a lease; skipping it", "ip", a)
			s.mu.Lock()
			s.taken[a] = now.Add(10 * time.Minute)
			if l := s.leases[mac]; l != nil && l.IP == a {
				delete(s.leases, mac)
			}
			s.mu.Unlock()
			skip[a] = true
			continue
		}
		return s.reply(req, dhcpv4.MessageTypeOffer, a), nil
	}
	return nil, ErrPoolFull
}

// request handles the three kinds of REQUEST (RFC 2131 §4.3.2).
func (s *Server) request(req *dhcpv4.DHCPv4, mac string, now time.Time) (*dhcpv4.DHCPv4, error) {
	sid := addrOf(req.ServerIdentifier())
	want := addrOf(req.RequestedIPAddress())
	if !want.IsValid() {
		want = addrOf(req.ClientIPAddr) // RENEWING / REBINDING
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.load()
	l := s.leases[mac]
	if sid.IsValid() && sid != s.ServerIP {
		// SELECTING another server's offer: drop our reservation.
		if l != nil && !l.Bound {
			delete(s.leases, mac)
		}
		return nil, fmt.Errorf("%w: the client chose server %v", ErrNotOurs, sid)
	}
	switch {
	case l != nil && l.IP == want && (l.Bound || now.Before(l.Expiry)):
		if !l.Bound && s.Paused() {
			return nil, ErrPaused
		}
	case !sid.IsValid() && want.IsValid() && !s.Subnet.Contains(want):
		// INIT-REBOOT with an address from another network: tell it to start over.
		return s.nak(req, "address not on this network"), nil
	case !sid.IsValid() && want.IsValid() && s.inPool(want) && s.holder(want, now) == "" && !s.Paused():
		// INIT-REBOOT with an address we don't know (lease file lost): we are the only server
		// on an isolated LAN, so grant it if free.
		l = &lease{MAC: mac, IP: want}
		s.leases[mac] = l
	case sid.IsValid() || want.IsValid():
		return s.nak(req, "no such lease"), nil
	default:
		return nil, fmt.Errorf("%w: REQUEST without an address", ErrBadPacket)
	}
	l.Bound = true
	l.Expiry = now.Add(s.leaseTime())
	s.save()
	return s.reply(req, dhcpv4.MessageTypeAck, l.IP), nil
}

func (s *Server) nak(req *dhcpv4.DHCPv4, why string) *dhcpv4.DHCPv4 {
	resp, _ := dhcpv4.NewReplyFromRequest(req,
		dhcpv4.WithMessageType(dhcpv4.MessageTypeNak),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(s.ServerIP.AsSlice())),
		dhcpv4.WithOption(dhcpv4.OptMessage(why)))
	resp.YourIPAddr, resp.ClientIPAddr = net.IPv4zero, net.IPv4zero
	resp.SetBroadcast()
	return resp
}

// reply builds an OFFER or ACK for yiaddr (none for INFORM). No router and no DNS: the LAN is
// isolated and the live system needs neither to mount its root from us.
func (s *Server) reply(req *dhcpv4.DHCPv4, mt dhcpv4.MessageType, yiaddr netip.Addr) *dhcpv4.DHCPv4 {
	server := s.ServerIP.AsSlice()
	resp := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootReply,
		HWType:        req.HWType,
		ClientHWAddr:  bytes.Clone(req.ClientHWAddr),
		TransactionID: req.TransactionID,
		Flags:         req.Flags,
		ClientIPAddr:  ipv4OrZero(req.ClientIPAddr),
		YourIPAddr:    net.IPv4zero,
		ServerIPAddr:  server,
		GatewayIPAddr: ipv4OrZero(req.GatewayIPAddr),
		Options:       make(dhcpv4.Options),
	}
	if mt != dhcpv4.MessageTypeAck || req.MessageType() != dhcpv4.MessageTypeInform {
		resp.YourIPAddr = yiaddr.AsSlice()
		resp.ClientIPAddr = net.IPv4zero
		lt := s.leaseTime()
		resp.UpdateOption(dhcpv4.OptIPAddressLeaseTime(lt))
		resp.UpdateOption(dhcpv4.OptRenewTimeValue(lt / 2))
		resp.UpdateOption(dhcpv4.OptRebindingTimeValue(lt * 7 / 8))
	}
	resp.UpdateOption(dhcpv4.OptMessageType(mt))
	resp.UpdateOption(dhcpv4.OptServerIdentifier(server))
	resp.UpdateOption(dhcpv4.OptSubnetMask(net.CIDRMask(s.Subnet.Bits(), 32)))
	resp.UpdateOption(dhcpv4.OptBroadcastAddress(broadcast(s.Subnet).AsSlice()))
	// PXE clients get the boot file straight in the offer with siaddr = us, like ISC dhcpd's
	// next-server/filename: every ROM boots that, and GRUB takes its TFTP server from siaddr
	// (netboot-facts §7), which here is right.
	if kind, _ := classify(req); kind != notPXE {
		if raw, ok := clientArch(req); ok {
			if arch, _, known := normalizeArch(raw); known {
				file, ok := DefaultBIOSFile, arch == iana.INTEL_X86PC
				if s.BootFile != nil {
					file, ok = s.BootFile(Client{Arch: arch, IPXE: kind == ipxe})
				}
				if ok && len(file) <= 127 {
					resp.BootFileName = file
					resp.ServerHostName = s.ServerIP.String()
				}
			}
		}
	}
	if guid := req.Options.Get(dhcpv4.OptionClientMachineIdentifier); len(guid) > 0 {
		resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, bytes.Clone(guid)))
	}
	return resp
}

func addrOf(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip.To4())
	if !ok || a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
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
	buf := make([]byte, maxPacket+1)
	for {
		n, src, err := c.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("reading UDP port %d: %w", Port67, err)
		}
		if n > maxPacket || n < minPacket {
			continue
		}
		pkt := bytes.Clone(buf[:n])
		select {
		case sem <- struct{}{}:
		default:
			s.logger().Debug("DHCP: busy, dropped a packet", "src", src)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s.handle(c, pkt, src)
		}()
	}
}

func (s *Server) handle(c net.PacketConn, pkt []byte, src net.Addr) {
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
	resp, err := s.Reply(req, time.Now())
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
	if _, err := c.WriteTo(resp.ToBytes(), dest); err != nil {
		log.Warn("DHCP: sending reply failed", "mac", req.ClientHWAddr.String(), "dest", dest, "err", err)
		return
	}
	mt := resp.MessageType()
	log.Debug("DHCP: "+mt.String(), "mac", req.ClientHWAddr.String(), "ip", resp.YourIPAddr, "file", resp.BootFileName)
	if s.OnEvent != nil && (mt == dhcpv4.MessageTypeOffer || mt == dhcpv4.MessageTypeAck) {
		kind := EventOffer
		if mt == dhcpv4.MessageTypeAck {
			kind = EventAck
		}
		arch, _ := clientArch(req)
		s.OnEvent(Event{Time: time.Now(), Kind: kind, MAC: bytes.Clone(req.ClientHWAddr), IP: resp.YourIPAddr,
			Arch: arch, BootFile: resp.BootFileName})
	}
}

func (s *Server) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}
