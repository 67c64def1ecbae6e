package dhcp

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// serveHarness runs Serve on 127.0.0.1 sockets with an in-test client.
type serveHarness struct {
	c67, c4011 net.PacketConn
	client     net.PacketConn
	done       chan error
	cancel     context.CancelFunc

	mu     sync.Mutex
	events []Event
}

// loopback opens a UDP socket on 127.0.0.1 at a free port: every test packet stays on it.
func loopback(t *testing.T) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func startServe(t *testing.T, p *Proxy) *serveHarness {
	t.Helper()
	h := &serveHarness{c67: loopback(t), c4011: loopback(t), client: loopback(t), done: make(chan error, 1)}
	t.Cleanup(func() { h.client.Close() })
	// Broadcasts would leave through the host's real interface: send what
	// would be broadcast to the test client instead. Never remove this.
	p.dest = func(req *dhcpv4.DHCPv4, port int, src net.Addr) net.Addr {
		if port == Port67 {
			return h.client.LocalAddr()
		}
		return replyDest(req, port, src)
	}
	p.OnEvent = func(ev Event) {
		h.mu.Lock()
		h.events = append(h.events, ev)
		h.mu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- p.Serve(ctx, h.c67, h.c4011) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	return h
}

// exchange sends req to the server socket to and returns the reply, or nil after wait.
func (h *serveHarness) exchange(t *testing.T, to net.PacketConn, payload []byte, wait time.Duration) (*dhcpv4.DHCPv4, net.Addr) {
	t.Helper()
	if _, err := h.client.WriteTo(payload, to.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	h.client.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 2048)
	n, from, err := h.client.ReadFrom(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, nil
		}
		t.Fatal(err)
	}
	m, err := dhcpv4.FromBytes(buf[:n])
	if err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	return m, from
}

func TestServe(t *testing.T) {
	seabios := firstDiscover(t, "seabios-ipxe-discover.pcap", macSeaBIOS)
	ovmf := firstDiscover(t, "ovmf-pxebc-discover.pcap", macOVMF)
	h := startServe(t, testProxy())

	// DISCOVER on 67 → OFFER (redirected from the broadcast address to us).
	offer, from := h.exchange(t, h.c67, seabios.ToBytes(), 5*time.Second)
	if offer == nil {
		t.Fatal("no OFFER")
	}
	if from.String() != h.c67.LocalAddr().String() {
		t.Errorf("OFFER came from %v, want the port-67 socket %v", from, h.c67.LocalAddr())
	}
	checkReply(t, seabios, offer, reply{typ: dhcpv4.MessageTypeOffer, file: "pxelinux.0", opt43: []byte{6, 1, 8, 255}})

	// Boot-server REQUESTs on 4011 → unicast ACK to the sender, per arch.
	clientIP := net.IPv4(127, 0, 0, 1).To4()
	for _, tc := range []struct {
		req  *dhcpv4.DHCPv4
		file string
	}{
		{clone(t, seabios, bootRequest(clientIP)), "pxelinux.0"},
		{clone(t, ovmf, bootRequest(clientIP)), "bootx64.efi"},
		{clone(t, ovmf, bootRequest(clientIP), withArch(9)), "bootx64.efi"},
		{clone(t, ovmf, bootRequest(clientIP), withArch(11)), "bootaa64.efi"},
	} {
		ack, from := h.exchange(t, h.c4011, tc.req.ToBytes(), 5*time.Second)
		if ack == nil {
			t.Fatalf("no ACK for %v", tc.req.ClientArch())
		}
		if from.String() != h.c4011.LocalAddr().String() {
			t.Errorf("ACK came from %v, want the 4011 socket", from)
		}
		if ack.MessageType() != dhcpv4.MessageTypeAck || ack.BootFileName != tc.file || ack.TransactionID != tc.req.TransactionID {
			t.Errorf("arch %v: got %v %q, want ACK %q", tc.req.ClientArch(), ack.MessageType(), ack.BootFileName, tc.file)
		}
	}

	// Ignored and junk packets get no answer and don't stop the server.
	for name, pkt := range map[string][]byte{
		"REQUEST on 67":  clone(t, seabios, bootRequest(clientIP)).ToBytes(),
		"Linux ipconfig": plainDiscover(t, "Linux ipconfig").ToBytes(),
		"garbage":        []byte("GET / HTTP/1.0\r\n\r\n"),
		"bad cookie":     make([]byte, 300),
		"oversized":      append(seabios.ToBytes(), make([]byte, 2000)...),
	} {
		if m, _ := h.exchange(t, h.c67, pkt, 200*time.Millisecond); m != nil {
			t.Errorf("%s: got a reply %v", name, m.MessageType())
		}
	}
	if m, _ := h.exchange(t, h.c67, ovmf.ToBytes(), 5*time.Second); m == nil || m.BootFileName != "bootx64.efi" {
		t.Fatalf("server stopped answering after junk: %v", m)
	}

	h.mu.Lock()
	events := append([]Event(nil), h.events...)
	h.mu.Unlock()
	if len(events) != 6 {
		t.Fatalf("got %d events, want 6: %+v", len(events), events)
	}
	// The two ports are served by two goroutines, so events need not come in request order.
	find := func(match func(Event) bool) (Event, bool) {
		for _, ev := range events {
			if match(ev) {
				return ev, true
			}
		}
		return Event{}, false
	}
	if ev, ok := find(func(ev Event) bool { return ev.Kind == EventOffer && ev.MAC.String() == macSeaBIOS }); !ok ||
		ev.IP != nil || ev.BootFile != "pxelinux.0" || ev.Time.IsZero() {
		t.Errorf("offer event %+v (found %v) in %+v", ev, ok, events)
	}
	if ev, ok := find(func(ev Event) bool { return ev.Kind == EventAck && ev.Arch == 7 }); !ok ||
		!ev.IP.Equal(clientIP) || ev.BootFile != "bootx64.efi" {
		t.Errorf("ack event %+v (found %v) in %+v", ev, ok, events)
	}

	// Cancel: Serve returns nil and closes both sockets.
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("Serve returned %v after cancel, want nil", err)
		}
		h.done <- nil // for the cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	for _, c := range []net.PacketConn{h.c67, h.c4011} {
		if _, err := c.WriteTo([]byte{0}, h.client.LocalAddr()); !errors.Is(err, net.ErrClosed) {
			t.Errorf("socket %v still open after cancel (%v)", c.LocalAddr(), err)
		}
	}
}

// A socket failing under Serve (not a cancel) is an error, and stops the other port.
func TestServeSocketError(t *testing.T) {
	c67, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	c4011, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	client, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	defer client.Close()
	done := make(chan error, 1)
	go func() { done <- testProxy().Serve(context.Background(), c67, c4011) }()
	// Wait until Serve answers on 4011, so that the close below breaks a running server
	// rather than one that never started reading.
	req := clone(t, firstDiscover(t, "ovmf-pxebc-discover.pcap", macOVMF), bootRequest(net.IPv4(127, 0, 0, 1).To4()))
	buf := make([]byte, 2048)
	for deadline := time.Now().Add(5 * time.Second); ; {
		if time.Now().After(deadline) {
			t.Fatal("Serve never answered on 4011")
		}
		client.WriteTo(req.ToBytes(), c4011.LocalAddr())
		client.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, _, err := client.ReadFrom(buf); err == nil {
			break
		}
	}
	c4011.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Serve returned nil after its socket broke")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve kept running with a broken socket")
	}
	if _, err := c67.WriteTo([]byte{0}, c67.LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("port 67 socket left open: %v", err)
	}
}

func TestServeNeedsServerIP(t *testing.T) {
	c, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	defer c.Close()
	if err := (&Proxy{}).Serve(context.Background(), c, nil); err == nil {
		t.Error("Serve without ServerIP returned nil")
	}
}

func TestReplyDest(t *testing.T) {
	src := &net.UDPAddr{IP: net.IPv4(10, 77, 0, 129), Port: 4011}
	d := plainDiscover(t, "PXEClient")
	relayed := clone(t, d, func(m *dhcpv4.DHCPv4) { m.GatewayIPAddr = net.IPv4(192, 168, 5, 1) })
	withCI := clone(t, d, func(m *dhcpv4.DHCPv4) { m.ClientIPAddr = net.IPv4(10, 77, 0, 50) })
	for _, tc := range []struct {
		name string
		req  *dhcpv4.DHCPv4
		port int
		want string
	}{
		{"67 broadcast", d, Port67, "255.255.255.255:68"},
		{"67 even with ciaddr", withCI, Port67, "255.255.255.255:68"},
		{"67 relayed", relayed, Port67, "192.168.5.1:67"},
		{"4011 back to sender", withCI, Port4011, "10.77.0.129:4011"},
	} {
		if got := replyDest(tc.req, tc.port, src).String(); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
