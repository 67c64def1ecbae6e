package netcheck

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

var (
	dnsmasqIP     = netip.MustParseAddr("10.98.0.1")
	dnsmasqMAC, _ = net.ParseMAC("52:54:00:98:00:01")
)

func captured(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestClassifyCaptured(t *testing.T) {
	for _, tc := range []struct {
		file       string
		kind       Kind
		subnet     string
		router     string
		bootFile   string
		nextServer string
	}{
		{"dnsmasq-plain-plain.dhcp", KindDHCP, "10.98.0.0/24", "10.98.0.1", "", ""},
		{"dnsmasq-boot-plain.dhcp", KindDHCPPXE, "10.98.0.0/24", "10.98.0.1", "pxelinux.0", "10.98.0.1"},
		{"dnsmasq-proxy-pxe.dhcp", KindProxy, "", "", "", ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			r, err := Classify(captured(t, tc.file), dnsmasqIP, dnsmasqMAC)
			if err != nil {
				t.Fatal(err)
			}
			if r.Kind != tc.kind || r.ServerIP != dnsmasqIP || r.MACText != dnsmasqMAC.String() || r.Relay.IsValid() {
				t.Errorf("got %+v, want %s from %v / %v", r, tc.kind, dnsmasqIP, dnsmasqMAC)
			}
			if dash(r.Subnet) != or(tc.subnet) || dash(r.Router) != or(tc.router) ||
				r.BootFile != tc.bootFile || r.NextServer != tc.nextServer {
				t.Errorf("subnet %v router %v boot %q next %q; want %s %s %q %q",
					r.Subnet, r.Router, r.BootFile, r.NextServer, tc.subnet, tc.router, tc.bootFile, tc.nextServer)
			}
			if tc.kind == KindProxy && !strings.HasPrefix(r.Vendor, "PXEClient") {
				t.Errorf("proxy offer's vendor class %q", r.Vendor)
			}
		})
	}
}

func or(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Variations of a real offer: each PXE marker alone makes a DHCP server "dhcp+pxe"; siaddr alone
// does not; a relayed offer names the server by option 54 and the relay separately.
func TestClassifyMarkers(t *testing.T) {
	base := captured(t, "dnsmasq-plain-plain.dhcp")
	for _, tc := range []struct {
		name string
		mod  func(m *dhcpv4.DHCPv4)
		want Kind
	}{
		{"as captured", func(*dhcpv4.DHCPv4) {}, KindDHCP},
		{"siaddr only", func(m *dhcpv4.DHCPv4) { m.ServerIPAddr = net.IPv4(10, 98, 0, 9) }, KindDHCP},
		{"option 67", func(m *dhcpv4.DHCPv4) { m.UpdateOption(dhcpv4.OptBootFileName("ipxe.efi")) }, KindDHCPPXE},
		{"option 66", func(m *dhcpv4.DHCPv4) { m.UpdateOption(dhcpv4.OptTFTPServerName("10.98.0.9")) }, KindDHCPPXE},
		{"option 60", func(m *dhcpv4.DHCPv4) { m.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient")) }, KindDHCPPXE},
		{"file", func(m *dhcpv4.DHCPv4) { m.BootFileName = "undionly.kpxe" }, KindDHCPPXE},
		{"no address, no PXE", func(m *dhcpv4.DHCPv4) { m.YourIPAddr = net.IPv4zero }, KindOther},
		{"no address, PXEClient", func(m *dhcpv4.DHCPv4) {
			m.YourIPAddr = net.IPv4zero
			m.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient"))
		}, KindProxy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := dhcpv4.FromBytes(base)
			if err != nil {
				t.Fatal(err)
			}
			tc.mod(m)
			r, err := Classify(m.ToBytes(), dnsmasqIP, dnsmasqMAC)
			if err != nil || r.Kind != tc.want {
				t.Errorf("got %v (%v), want %v", r.Kind, err, tc.want)
			}
		})
	}

	m, _ := dhcpv4.FromBytes(base)
	m.GatewayIPAddr = net.IPv4(10, 98, 0, 254)
	relay := netip.MustParseAddr("10.98.0.254")
	r, err := Classify(m.ToBytes(), relay, dnsmasqMAC)
	if err != nil || r.ServerIP != dnsmasqIP || r.Relay != relay || !strings.Contains(r.Describe(), "via relay 10.98.0.254") {
		t.Errorf("relayed: %+v %v", r, err)
	}

	m, _ = dhcpv4.FromBytes(base)
	m.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeAck))
	if _, err := Classify(m.ToBytes(), dnsmasqIP, dnsmasqMAC); err == nil {
		t.Error("an ACK was classified as an offer")
	}
}

// The same server answering both DISCOVERs is one responder; the worse kind wins.
func TestMerge(t *testing.T) {
	plain, _ := Classify(captured(t, "dnsmasq-plain-plain.dhcp"), dnsmasqIP, dnsmasqMAC)
	plain.Answered = []string{"plain"}
	proxy, _ := Classify(captured(t, "dnsmasq-proxy-pxe.dhcp"), dnsmasqIP, dnsmasqMAC)
	proxy.Answered = []string{"pxe"}
	rs := add(add(nil, plain), proxy)
	if len(rs) != 1 || rs[0].Kind != KindProxy || !rs[0].Subnet.IsValid() || len(rs[0].Answered) != 2 {
		t.Errorf("merged: %+v", rs)
	}
	other := proxy
	other.MACText = "52:54:00:00:00:02"
	if rs = add(rs, other); len(rs) != 2 {
		t.Errorf("a second MAC was merged into the first: %+v", rs)
	}
}
