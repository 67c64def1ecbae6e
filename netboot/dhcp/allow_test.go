package dhcp

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func TestCheckAllowed(t *testing.T) {
	lan := netip.MustParsePrefix("10.0.0.0/24")
	allow := func(a netip.Addr) bool { return lan.Contains(a) }
	src := func(s string) net.Addr { return net.UDPAddrFromAddrPort(netip.MustParseAddrPort(s)) }
	tests := []struct {
		name   string
		allow  func(netip.Addr) bool
		giaddr string
		port   int
		src    net.Addr
		ok     bool
	}{
		{"broadcast DISCOVER from this segment", allow, "", Port67, src("0.0.0.0:68"), true},
		{"relay inside", allow, "10.0.0.1", Port67, src("10.0.0.1:67"), true},
		{"relay outside", allow, "192.0.2.1", Port67, src("10.0.0.9:67"), false},
		{"4011 from inside", allow, "", Port4011, src("10.0.0.50:68"), true},
		{"4011 from outside", allow, "", Port4011, src("192.0.2.50:68"), false},
		{"4011 relayed from outside", allow, "192.0.2.1", Port4011, src("10.0.0.50:68"), false},
		{"nil allows everyone", nil, "192.0.2.1", Port4011, src("192.0.2.50:68"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := dhcpv4.New()
			if err != nil {
				t.Fatal(err)
			}
			if tt.giaddr != "" {
				req.GatewayIPAddr = net.ParseIP(tt.giaddr)
			}
			err = checkAllowed(tt.allow, req, tt.port, tt.src)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrNotAllowed)) {
				t.Errorf("checkAllowed = %v, want allowed %v", err, tt.ok)
			}
		})
	}
}

// The socket side asks Allow: an offer for a relay outside, or a 4011 answer to a sender
// outside, is never sent.
func TestServeRefusesOutsiders(t *testing.T) {
	seabios := firstDiscover(t, "seabios-ipxe-discover.pcap", macSeaBIOS)
	p := testProxy()
	lan := netip.MustParsePrefix("10.0.0.0/24") // the harness's client is 127.0.0.1: outside
	p.Allow = func(a netip.Addr) bool { return lan.Contains(a) }
	h := startServe(t, p)

	if m, _ := h.exchange(t, h.c67, seabios.ToBytes(), 5*time.Second); m == nil {
		t.Fatal("a broadcast DISCOVER got no offer")
	}
	relayed := func(gi string) []byte {
		return clone(t, seabios, func(m *dhcpv4.DHCPv4) { m.GatewayIPAddr = net.ParseIP(gi) }).ToBytes()
	}
	if m, _ := h.exchange(t, h.c67, relayed("10.0.0.1"), 5*time.Second); m == nil {
		t.Error("a DISCOVER relayed from inside got no offer")
	}
	if m, _ := h.exchange(t, h.c67, relayed("192.0.2.1"), 300*time.Millisecond); m != nil {
		t.Errorf("a DISCOVER relayed from outside got %v", m.MessageType())
	}
	req := clone(t, seabios, bootRequest(net.IPv4(127, 0, 0, 1).To4()))
	if m, _ := h.exchange(t, h.c4011, req.ToBytes(), 300*time.Millisecond); m != nil {
		t.Errorf("a 4011 REQUEST from outside got %v", m.MessageType())
	}
	// Still serving after the refusals.
	if m, _ := h.exchange(t, h.c67, seabios.ToBytes(), 5*time.Second); m == nil {
		t.Fatal("no offer after the refusals")
	}
}
