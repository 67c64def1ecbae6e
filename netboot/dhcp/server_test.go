package dhcp

import (
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func newTestServer(t *testing.T) *Server {
	return &Server{
		ServerIP:  netip.MustParseAddr("192.168.77.1"),
		Subnet:    netip.MustParsePrefix("192.168.77.1/24"),
		StateFile: filepath.Join(t.TempDir(), "leases.json"),
	}
}

func mustMAC(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }

// exchange runs DISCOVER → OFFER → REQUEST → ACK for a client and returns the ACKed address.
func exchange(t *testing.T, s *Server, disc *dhcpv4.DHCPv4, now time.Time) netip.Addr {
	t.Helper()
	offer, err := s.Reply(disc, now)
	if err != nil {
		t.Fatalf("DISCOVER: %v", err)
	}
	if offer.MessageType() != dhcpv4.MessageTypeOffer || offer.ServerIdentifier().String() != s.ServerIP.String() {
		t.Fatalf("OFFER: %v", offer.Summary())
	}
	req, _ := dhcpv4.NewRequestFromOffer(offer)
	req.ClientHWAddr = disc.ClientHWAddr
	for _, o := range []dhcpv4.OptionCode{dhcpv4.OptionClassIdentifier, dhcpv4.OptionClientSystemArchitectureType} {
		if v := disc.Options.Get(o); v != nil {
			req.UpdateOption(dhcpv4.OptGeneric(o, v))
		}
	}
	ack, err := s.Reply(req, now)
	if err != nil || ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.Equal(offer.YourIPAddr) {
		t.Fatalf("REQUEST: %v %v", ack, err)
	}
	a, _ := netip.AddrFromSlice(ack.YourIPAddr.To4())
	return a
}

func TestServerLeases(t *testing.T) {
	s := newTestServer(t)
	now := time.Unix(1_700_000_000, 0)
	pc := firstDiscover(t, "seabios-ipxe-discover.pcap", macSeaBIOS)
	offer, _ := s.Reply(pc, now)
	if offer.BootFileName != DefaultBIOSFile || offer.ServerIPAddr.String() != "192.168.77.1" ||
		offer.YourIPAddr.String() != "192.168.77.100" || offer.SubnetMask().String() != "ffffff00" {
		t.Errorf("PXE OFFER: %v", offer.Summary())
	}
	a := exchange(t, s, pc, now)
	plain, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:02"))
	b := exchange(t, s, plain, now)
	if a == b || !s.Subnet.Contains(b) {
		t.Errorf("two clients got %v and %v", a, b)
	}
	if o, _ := s.Reply(plain, now); o.BootFileName != "" {
		t.Errorf("a non-PXE client got a boot file: %q", o.BootFileName)
	}

	// A restart keeps the leases.
	s2 := &Server{ServerIP: s.ServerIP, Subnet: s.Subnet, StateFile: s.StateFile}
	if got := s2.Leases(); got[pc.ClientHWAddr.String()] != a || got["02:00:00:00:00:02"] != b {
		t.Errorf("leases after restart: %v, want %v and %v", got, a, b)
	}
	if c := exchange(t, s2, pc, now.Add(time.Minute)); c != a {
		t.Errorf("after restart the client got %v, want its lease %v", c, a)
	}

	// An address another machine answers ARP for is skipped.
	s3 := newTestServer(t)
	s3.InUse = func(ip netip.Addr, _ net.HardwareAddr) bool { return ip == netip.MustParseAddr("192.168.77.100") }
	if o, err := s3.Reply(plain, now); err != nil || o.YourIPAddr.String() != "192.168.77.101" {
		t.Errorf("with .100 in use: %v %v", o, err)
	}

	// Paused: no new offers; a bound client still renews.
	s.Pause(true)
	if _, err := s.Reply(pc, now); !errors.Is(err, ErrPaused) {
		t.Errorf("paused DISCOVER: %v", err)
	}
	renew, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithHwAddr(plain.ClientHWAddr),
		dhcpv4.WithClientIP(b.AsSlice()))
	if ack, err := s.Reply(renew, now); err != nil || ack.MessageType() != dhcpv4.MessageTypeAck {
		t.Errorf("paused renewal: %v %v", ack, err)
	}
	// A REQUEST for an address from another network gets a NAK.
	s.Pause(false)
	foreign, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithHwAddr(mustMAC("02:00:00:00:00:03")),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 0, 0, 5))))
	if nak, err := s.Reply(foreign, now); err != nil || nak.MessageType() != dhcpv4.MessageTypeNak {
		t.Errorf("foreign INIT-REBOOT: %v %v", nak, err)
	}
	// The probe's DISCOVERs are ignored.
	s.Ignore = func(m net.HardwareAddr) bool { return m[0] == 0x02 && m[1] == 's' }
	if _, err := s.Reply(func() *dhcpv4.DHCPv4 { d, _ := dhcpv4.NewDiscovery(mustMAC("02:73:63:01:02:03")); return d }(), now); err == nil {
		t.Error("answered the LAN probe")
	}
}

func TestServerPool(t *testing.T) {
	s := &Server{ServerIP: netip.MustParseAddr("10.0.0.1"), Subnet: netip.MustParsePrefix("10.0.0.1/30")}
	now := time.Now()
	d1, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:01"))
	d2, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:02"))
	if a := exchange(t, s, d1, now); a.String() != "10.0.0.2" {
		t.Errorf("got %v, want the only free host 10.0.0.2", a)
	}
	if _, err := s.Reply(d2, now); !errors.Is(err, ErrPoolFull) {
		t.Errorf("full pool: %v", err)
	}
}

// TestServerRouterAndDNS: an isolated room gets neither option; a room sharing the host's
// internet gets both, in the OFFER and in the ACK.
func TestServerRouterAndDNS(t *testing.T) {
	s := newTestServer(t)
	now := time.Unix(1_700_000_000, 0)
	disc, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:03"))
	o, _ := s.Reply(disc, now)
	if o.Options.Has(dhcpv4.OptionRouter) || o.Options.Has(dhcpv4.OptionDomainNameServer) {
		t.Errorf("isolated room got a router or DNS: %v", o.Summary())
	}
	s.Router = s.ServerIP
	s.DNS = []netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("2001:db8::53"), netip.MustParseAddr("198.51.100.53")}
	o, _ = s.Reply(disc, now)
	req, _ := dhcpv4.NewRequestFromOffer(o)
	ack, _ := s.Reply(req, now)
	for _, m := range []*dhcpv4.DHCPv4{o, ack} {
		if r := m.Router(); len(r) != 1 || r[0].String() != "192.168.77.1" {
			t.Errorf("%s router = %v", m.MessageType(), r)
		}
		if d := m.DNS(); len(d) != 2 || d[0].String() != "192.0.2.53" || d[1].String() != "198.51.100.53" {
			t.Errorf("%s DNS = %v (IPv6 servers left out)", m.MessageType(), d)
		}
	}
}
