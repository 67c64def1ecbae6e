package dhcp

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// TestRefuseAndHostname: a machine Refuse names gets nothing from either server, on either
// port, for any message, from real ROMs' packets; the full server names a host in option 12 in
// its OFFER and ACK alike, and a client Hostname has no name for gets no option 12.
func TestRefuseAndHostname(t *testing.T) {
	seabios := firstDiscover(t, "seabios-ipxe-discover.pcap", macSeaBIOS)
	ovmf := firstDiscover(t, "ovmf-pxebc-discover.pcap", macOVMF)
	refused := mustMAC(macSeaBIOS)
	refuse := func(mac net.HardwareAddr) bool { return mac.String() == refused.String() }

	p := testProxy()
	p.Refuse = refuse
	for _, tc := range []struct {
		name string
		req  *dhcpv4.DHCPv4
		port int
	}{
		{"DISCOVER on 67", seabios, Port67},
		{"REQUEST on 4011", clone(t, seabios, bootRequest(net.IPv4(10, 77, 0, 128))), Port4011},
	} {
		if resp, err := p.Reply(tc.req, tc.port); resp != nil || !errors.Is(err, ErrRefused) {
			t.Errorf("proxy, refused machine, %s: %v, %v", tc.name, resp, err)
		}
	}
	if resp, err := p.Reply(ovmf, Port67); resp == nil || err != nil {
		t.Errorf("proxy refused a machine Refuse does not name: %v", err)
	}

	s := newTestServer(t)
	s.BootFile = testBootFile
	s.Refuse = refuse
	s.Hostname = func(mac net.HardwareAddr) string {
		if mac.String() == macOVMF {
			return "desk-01"
		}
		return ""
	}
	now := time.Unix(1_700_000_000, 0)
	if resp, err := s.Reply(seabios, now); resp != nil || !errors.Is(err, ErrRefused) {
		t.Errorf("full server offered a refused machine: %v, %v", resp, err)
	}
	req, _ := dhcpv4.NewRequestFromOffer(&dhcpv4.DHCPv4{OpCode: dhcpv4.OpcodeBootReply, ClientHWAddr: refused,
		YourIPAddr: net.IPv4(192, 168, 77, 100), Options: dhcpv4.Options{}})
	req.ClientHWAddr = refused
	if resp, err := s.Reply(req, now); resp != nil || !errors.Is(err, ErrRefused) {
		t.Errorf("full server answered a refused machine's REQUEST: %v, %v", resp, err)
	}
	if got := s.Leases(); len(got) != 0 {
		t.Errorf("a refused machine holds a lease: %v", got)
	}
	exchange(t, s, ovmf, now)
	offer, _ := s.Reply(ovmf, now)
	if offer == nil || offer.HostName() != "desk-01" {
		t.Errorf("the seat's OFFER names host %q, want desk-01", offer.HostName())
	}
	other, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:07"))
	if o, err := s.Reply(other, now); err != nil || o.Options.Has(dhcpv4.OptionHostName) {
		t.Errorf("a client without a seat name got option 12 or nothing: %v %v", o, err)
	}
}
