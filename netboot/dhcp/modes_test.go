package dhcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// serverHarness runs Server.Serve on a 127.0.0.1 socket with an in-test client. Replies the
// server would broadcast come to the client instead (Server.dest), so no packet leaves
// loopback.
type serverHarness struct {
	conn, client net.PacketConn
	replies      chan *dhcpv4.DHCPv4
	aside        []*dhcpv4.DHCPv4 // read while waiting for another xid
	events       chan Event
}

func startServer(t *testing.T, s *Server) *serverHarness {
	t.Helper()
	h := &serverHarness{conn: loopback(t), client: loopback(t), replies: make(chan *dhcpv4.DHCPv4, 64), events: make(chan Event, 64)}
	// Never remove this: without it the answers go to 255.255.255.255 on the real LAN.
	s.dest = func(*dhcpv4.DHCPv4) net.Addr { return h.client.LocalAddr() }
	s.OnEvent = func(ev Event) { h.events <- ev }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, h.conn) }()
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 2048)
		for {
			n, _, err := h.client.ReadFrom(buf)
			if err != nil {
				return
			}
			if m, err := dhcpv4.FromBytes(buf[:n]); err == nil {
				h.replies <- m
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after cancel")
		}
		h.client.Close()
		<-read
	})
	return h
}

func (h *serverHarness) send(t *testing.T, m *dhcpv4.DHCPv4) {
	t.Helper()
	if _, err := h.client.WriteTo(m.ToBytes(), h.conn.LocalAddr()); err != nil {
		t.Fatal(err)
	}
}

// await returns the reply with xid, or fails the test after within.
func (h *serverHarness) await(t *testing.T, xid dhcpv4.TransactionID, within time.Duration) *dhcpv4.DHCPv4 {
	t.Helper()
	for i, m := range h.aside {
		if m.TransactionID == xid {
			h.aside = append(h.aside[:i], h.aside[i+1:]...)
			return m
		}
	}
	deadline := time.After(within)
	for {
		select {
		case m := <-h.replies:
			if m.TransactionID == xid {
				return m
			}
			h.aside = append(h.aside, m)
		case <-deadline:
			t.Fatalf("no reply for xid %v within %v", xid, within)
			return nil
		}
	}
}

// awaitEvent returns the next event, or fails the test after within.
func (h *serverHarness) awaitEvent(t *testing.T, within time.Duration) Event {
	t.Helper()
	select {
	case ev := <-h.events:
		return ev
	case <-time.After(within):
		t.Fatalf("no event within %v", within)
		return Event{}
	}
}

// requestFor is the REQUEST a client sends to take offer (SELECTING).
func requestFor(t *testing.T, disc, offer *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	t.Helper()
	req := clone(t, disc, func(m *dhcpv4.DHCPv4) {
		m.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeRequest))
		m.UpdateOption(dhcpv4.OptServerIdentifier(offer.ServerIdentifier()))
		m.UpdateOption(dhcpv4.OptRequestedIPAddress(offer.YourIPAddr))
	})
	return req
}

// withMAC gives a captured packet another client's MAC.
func withMAC(mac string) func(*dhcpv4.DHCPv4) {
	return func(m *dhcpv4.DHCPv4) { m.ClientHWAddr = mustMAC(mac) }
}

// Full mode reports the architecture as the proxy does: arch 9 (EFI BC, sent by some x86-64
// UEFI firmware) as 7, the value BootFile and the UI know.
func TestServerEventsNormaliseArch(t *testing.T) {
	s := newTestServer(t)
	s.BootFile = testBootFile
	h := startServer(t, s)
	ovmf := firstDiscover(t, "ovmf-pxebc-discover.pcap", macOVMF)
	for _, tc := range []struct {
		name string
		disc *dhcpv4.DHCPv4
		arch iana.Arch
		file string
	}{
		{"arch 9 is x86-64 UEFI", clone(t, ovmf, withArch(9)), iana.EFI_X86_64, "bootx64.efi"},
		{"arch 0 BIOS", firstDiscover(t, "seabios-ipxe-discover.pcap", macSeaBIOS), iana.INTEL_X86PC, "pxelinux.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.send(t, tc.disc)
			offer := h.await(t, tc.disc.TransactionID, 5*time.Second)
			ev := h.awaitEvent(t, 5*time.Second)
			if ev.Kind != EventOffer || ev.Arch != tc.arch || ev.BootFile != tc.file || !ev.IP.Equal(offer.YourIPAddr) ||
				ev.MAC.String() != tc.disc.ClientHWAddr.String() {
				t.Errorf("offer event %+v, want arch %v, file %q, IP %v", ev, tc.arch, tc.file, offer.YourIPAddr)
			}
			req := requestFor(t, tc.disc, offer)
			h.send(t, req)
			if ack := h.await(t, req.TransactionID, 5*time.Second); ack.MessageType() != dhcpv4.MessageTypeAck {
				t.Fatalf("REQUEST: %v", ack.Summary())
			}
			if ev := h.awaitEvent(t, 5*time.Second); ev.Kind != EventAck || ev.Arch != tc.arch {
				t.Errorf("ack event %+v, want arch %v", ev, tc.arch)
			}
		})
	}
}

// release is a gate a test opens once, also at cleanup so that a failed test leaves no
// goroutine stuck behind it.
type gate struct {
	once sync.Once
	ch   chan struct{}
}

func newGate(t *testing.T) *gate {
	g := &gate{ch: make(chan struct{})}
	t.Cleanup(g.open)
	return g
}
func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }

// A slow ARP probe holds up only its own client: while InUse blocks for one client's
// address, another client is offered a different one.
func TestServeNotBlockedByInUse(t *testing.T) {
	s := newTestServer(t)
	probing := make(chan netip.Addr, 1)
	release := newGate(t)
	const slow = "02:00:00:00:00:0a"
	s.InUse = func(ip netip.Addr, client net.HardwareAddr) bool {
		if client.String() == slow {
			probing <- ip
			<-release.ch
		}
		return false
	}
	h := startServer(t, s)

	a, _ := dhcpv4.NewDiscovery(mustMAC(slow))
	h.send(t, a)
	probed := <-probing // the probe is running and blocked
	b, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:0b"), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(probed.AsSlice())))
	h.send(t, b)
	offerB := h.await(t, b.TransactionID, 5*time.Second)
	if addrOf(offerB.YourIPAddr) == probed {
		t.Errorf("client B was offered %v, reserved for A while A's probe runs", probed)
	}
	release.open()
	if offerA := h.await(t, a.TransactionID, 5*time.Second); addrOf(offerA.YourIPAddr) != probed {
		t.Errorf("client A was offered %v, want the probed %v", offerA.YourIPAddr, probed)
	}
}

// slowStore is a leaseStore whose first save blocks until released.
type slowStore struct {
	saving  chan struct{} // receives when the first save starts
	release *gate

	mu    sync.Mutex
	calls int
	last  []lease
}

func (st *slowStore) load() ([]lease, error) { return nil, nil }

func (st *slowStore) save(ls []lease) error {
	st.mu.Lock()
	st.calls++
	first := st.calls == 1
	st.mu.Unlock()
	if first {
		st.saving <- struct{}{}
		<-st.release.ch
	}
	st.mu.Lock()
	st.last = ls
	st.mu.Unlock()
	return nil
}

// A slow lease save holds up no other client: while A's lease is being written, B is offered
// an address and ACKed, and B's lease is written after A's (one writer, never the table's
// lock).
func TestServeNotBlockedBySave(t *testing.T) {
	s := newTestServer(t)
	st := &slowStore{saving: make(chan struct{}, 1), release: newGate(t)}
	s.store = st
	h := startServer(t, s)

	a, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:0a"))
	h.send(t, a)
	reqA := requestFor(t, a, h.await(t, a.TransactionID, 5*time.Second))
	h.send(t, reqA)
	<-st.saving // A's save is under way and blocked

	b, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:0b"))
	h.send(t, b)
	offerB := h.await(t, b.TransactionID, 5*time.Second)
	reqB := requestFor(t, b, offerB)
	h.send(t, reqB)
	if ack := h.await(t, reqB.TransactionID, 5*time.Second); ack.MessageType() != dhcpv4.MessageTypeAck {
		t.Errorf("B's REQUEST during A's save: %v", ack.Summary())
	}

	st.release.open()
	if ack := h.await(t, reqA.TransactionID, 5*time.Second); ack.MessageType() != dhcpv4.MessageTypeAck {
		t.Errorf("A's REQUEST: %v", ack.Summary())
	}
	// A's ACK leaves after its save returned, and that save took B's along.
	st.mu.Lock()
	last := st.last
	st.mu.Unlock()
	if len(last) != 2 {
		t.Errorf("last save %+v, want both leases", last)
	}
}

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
