package dhcp

import (
	"context"
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
	listen := func() net.PacketConn {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	h := &serverHarness{conn: listen(), client: listen(), replies: make(chan *dhcpv4.DHCPv4, 64), events: make(chan Event, 64)}
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
