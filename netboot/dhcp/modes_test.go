package dhcp

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// pxeView is what a reply tells a client about booting, and what both modes must agree on.
type pxeView struct {
	file, sname, siaddr, sid, giaddr string
	opt60, opt43, opt97, opt82       string
}

func viewOf(m *dhcpv4.DHCPv4) pxeView {
	hex := func(c dhcpv4.OptionCode) string { return fmt.Sprintf("%x", m.Options.Get(c)) }
	return pxeView{
		file: m.BootFileName, sname: m.ServerHostName, siaddr: m.ServerIPAddr.String(),
		sid: m.ServerIdentifier().String(), giaddr: m.GatewayIPAddr.String(),
		opt60: m.ClassIdentifier(), opt43: hex(dhcpv4.OptionVendorSpecificInformation),
		opt97: hex(dhcpv4.OptionClientMachineIdentifier), opt82: hex(dhcpv4.OptionRelayAgentInformation),
	}
}

// labServer is a full server on the lab's network, with the lab proxy's address and loaders.
func labServer() *Server {
	return &Server{ServerIP: netip.AddrFrom4([4]byte(labServerIP)), Subnet: netip.MustParsePrefix("10.77.0.2/24"),
		BootFile: testBootFile}
}

// Every DISCOVER captured in testdata (and variants of them the ROMs in the field send) gets
// the same boot information from the proxy and from the full server, in its OFFER and in its
// ACK: the PXE step is one piece of code. Where the proxy stays silent, the full server
// still leases an address but says nothing about booting.
func TestModesAgree(t *testing.T) {
	var discovers []*dhcpv4.DHCPv4
	seen := map[string]bool{}
	for _, name := range []string{"seabios-ipxe-discover.pcap", "ovmf-pxebc-discover.pcap",
		"ovmf-ipxe-discover.pcap", "lab-proxy-exchange.pcap"} {
		for _, m := range capturedDHCP(t, name, func(_ udpPacket, m *dhcpv4.DHCPv4) bool {
			return m.OpCode == dhcpv4.OpcodeBootRequest && m.MessageType() == dhcpv4.MessageTypeDiscover
		}) {
			// Retransmits differ in xid and secs only.
			key := m.ClientHWAddr.String() + m.ClassIdentifier() + fmt.Sprint(m.Options.Has(optionIPXEEncap))
			if !seen[key] {
				seen[key] = true
				discovers = append(discovers, m)
			}
		}
	}
	if len(discovers) < 5 { // SeaBIOS iPXE, OVMF PxeBcDxe ×2 NICs, OVMF iPXE, OVMF HTTP boot
		t.Fatalf("only %d distinct captured DISCOVERs", len(discovers))
	}
	type variant struct {
		name string
		mod  func(*dhcpv4.DHCPv4)
	}
	variants := []variant{
		{"as captured", func(*dhcpv4.DHCPv4) {}},
		{"arch 9", withArch(9)},
		{"arch 11", withArch(11)},
		{"arch 10, no loader", withArch(10)},
		{"no option 97", func(m *dhcpv4.DHCPv4) { m.Options.Del(dhcpv4.OptionClientMachineIdentifier) }},
		{"relayed with option 82", func(m *dhcpv4.DHCPv4) {
			m.GatewayIPAddr = net.IPv4(192, 168, 5, 1)
			m.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionRelayAgentInformation, []byte{1, 4, 'p', 'o', 'r', 't'}))
		}},
		{"Linux ipconfig", func(m *dhcpv4.DHCPv4) {
			m.UpdateOption(dhcpv4.OptClassIdentifier("Linux ipconfig"))
			m.Options.Del(dhcpv4.OptionUserClassInformation)
			m.Options.Del(optionIPXEEncap)
		}},
	}
	now := time.Unix(1_700_000_000, 0)
	answered := 0
	for i, d := range discovers {
		for _, v := range variants {
			name := fmt.Sprintf("%s/%s/%s", d.ClientHWAddr, d.ClassIdentifier(), v.name)
			t.Run(name, func(t *testing.T) {
				req := clone(t, d, v.mod, func(m *dhcpv4.DHCPv4) { m.ClientHWAddr[5] = byte(i) })
				proxyOffer, perr := testProxy().Reply(req, Port67)
				s := labServer()
				offer, err := s.Reply(req, now)
				if err != nil {
					t.Fatalf("full server: %v", err)
				}
				ack, err := s.Reply(requestFor(t, req, offer), now)
				if err != nil || ack.MessageType() != dhcpv4.MessageTypeAck {
					t.Fatalf("full server REQUEST: %v %v", ack, err)
				}
				want := pxeView{}
				if perr == nil {
					want = viewOf(proxyOffer)
					answered++
				} else if !errors.Is(perr, ErrNotPXE) && !errors.Is(perr, ErrUnsupportedArch) && !errors.Is(perr, ErrNoBootFile) {
					t.Fatalf("proxy: %v", perr)
				}
				for _, full := range []*dhcpv4.DHCPv4{offer, ack} {
					got := viewOf(full)
					if perr != nil {
						// No boot information, but the lease's own skeleton.
						if got.file != "" || got.sname != "" || got.opt60 != "" || got.opt43 != "" {
							t.Errorf("%v: boot information for a client the proxy ignores (%v): %+v", full.MessageType(), perr, got)
						}
						continue
					}
					if got != want {
						t.Errorf("%v differs from the proxy's offer:\nfull  %+v\nproxy %+v", full.MessageType(), got, want)
					}
				}
			})
		}
	}
	if answered < 2*len(discovers) {
		t.Errorf("the proxy answered only %d cases: the comparison checks too little", answered)
	}
}

// RFC 3046 §2.2: the full server echoes option 82 in every reply to a relayed request, as the
// proxy does, and answers through the relay (giaddr kept).
func TestServerEchoesRelayInfo(t *testing.T) {
	s := labServer()
	now := time.Unix(1_700_000_000, 0)
	rai := []byte{1, 6, 'v', 'l', 'a', 'n', '1', '0', 2, 2, 0xab, 0xcd}
	relay := net.IPv4(10, 77, 0, 1).To4()
	relayed := func(m *dhcpv4.DHCPv4) {
		m.GatewayIPAddr = relay
		m.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionRelayAgentInformation, rai))
	}
	pc := clone(t, firstDiscover(t, "seabios-ipxe-discover.pcap", macSeaBIOS), relayed)
	plain, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:02"))
	plain = clone(t, plain, relayed)
	offer, err := s.Reply(pc, now)
	if err != nil {
		t.Fatal(err)
	}
	ack, _ := s.Reply(requestFor(t, pc, offer), now)
	plainOffer, _ := s.Reply(plain, now)
	nak, _ := s.Reply(clone(t, plain, func(m *dhcpv4.DHCPv4) {
		m.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeRequest))
		m.UpdateOption(dhcpv4.OptRequestedIPAddress(net.IPv4(192, 0, 2, 9)))
	}), now)
	for name, m := range map[string]*dhcpv4.DHCPv4{"PXE OFFER": offer, "PXE ACK": ack, "plain OFFER": plainOffer, "NAK": nak} {
		if m == nil {
			t.Errorf("%s: no reply", name)
			continue
		}
		if got := m.Options.Get(dhcpv4.OptionRelayAgentInformation); !bytes.Equal(got, rai) {
			t.Errorf("%s: option 82 %x, want %x", name, got, rai)
		}
		if !m.GatewayIPAddr.Equal(relay) {
			t.Errorf("%s: giaddr %v, want %v", name, m.GatewayIPAddr, relay)
		}
	}
	if nak != nil && nak.MessageType() != dhcpv4.MessageTypeNak {
		t.Errorf("foreign REQUEST: %v", nak.MessageType())
	}
}

// Clients racing for one address never get it both: each DISCOVER asks for the same address
// while every probe waits for all the others (so all run at once, none under a lock), and
// exactly one client is offered it, the rest distinct others. Run with -race.
func TestServerRace(t *testing.T) {
	const n = 20
	s := labServer()
	s.StateFile = t.TempDir() + "/leases.json"
	want := netip.MustParseAddr("10.77.0.150")
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	s.InUse = func(netip.Addr, net.HardwareAddr) bool {
		mu.Lock()
		arrived++
		if arrived == n {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(10 * time.Second):
			t.Error("probes did not run concurrently: one waited for another")
		}
		return false
	}
	now := time.Unix(1_700_000_000, 0)
	acked := make([]netip.Addr, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			d, _ := dhcpv4.NewDiscovery(net.HardwareAddr{2, 0, 0, 0, 1, byte(i)},
				dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(want.AsSlice())))
			offer, err := s.Reply(d, now)
			if err != nil {
				t.Errorf("client %d DISCOVER: %v", i, err)
				return
			}
			ack, err := s.Reply(requestFor(t, d, offer), now)
			if err != nil || ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.Equal(offer.YourIPAddr) {
				t.Errorf("client %d REQUEST: %v %v", i, ack, err)
				return
			}
			acked[i] = addrOf(ack.YourIPAddr)
		})
	}
	wg.Wait()
	got := map[netip.Addr]int{}
	for _, a := range acked {
		got[a]++
	}
	if len(got) != n || got[want] != 1 {
		t.Errorf("addresses given: %v; want %d distinct, %v once", got, n, want)
	}
	restarted := &Server{ServerIP: s.ServerIP, Subnet: s.Subnet, StateFile: s.StateFile}
	if l := restarted.Leases(); len(l) != n {
		t.Errorf("the lease file holds %d leases, want %d", len(l), n)
	}
}

// A probe runs without the lock, so a reservation can change under it: then the probed
// address is not offered. Here A's reservation goes (A took another server's offer) and B
// takes the address while A's probe still runs; A's late DISCOVER must get another address.
func TestServerOfferAfterLostReservation(t *testing.T) {
	s := labServer()
	probing := make(chan netip.Addr, 1)
	release := newGate(t)
	const slow = "02:00:00:00:00:0a"
	var once sync.Once
	s.InUse = func(ip netip.Addr, client net.HardwareAddr) bool {
		if client.String() == slow {
			once.Do(func() {
				probing <- ip
				<-release.ch
			})
		}
		return false
	}
	now := time.Unix(1_700_000_000, 0)
	a, _ := dhcpv4.NewDiscovery(mustMAC(slow))
	offerA := make(chan *dhcpv4.DHCPv4, 1)
	go func() {
		o, err := s.Reply(a, now)
		if err != nil {
			t.Errorf("A: %v", err)
		}
		offerA <- o
	}()
	probed := <-probing
	other := clone(t, a, func(m *dhcpv4.DHCPv4) {
		m.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeRequest))
		m.UpdateOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 77, 0, 1)))
	})
	if _, err := s.Reply(other, now); !errors.Is(err, ErrNotOurs) {
		t.Fatalf("A selecting another server: %v", err)
	}
	b, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:0b"), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(probed.AsSlice())))
	ob, err := s.Reply(b, now)
	if err != nil || addrOf(ob.YourIPAddr) != probed {
		t.Fatalf("B asked for the free %v: %v %v", probed, ob, err)
	}
	release.open()
	if o := <-offerA; o != nil && addrOf(o.YourIPAddr) == probed {
		t.Errorf("A and B were both offered %v", probed)
	}
}
