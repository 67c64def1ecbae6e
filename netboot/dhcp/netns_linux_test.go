package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/sharecd/sharecd/netboot/netlab"
)

// TestMain first removes what an earlier, killed run of these tests left: its namespaces and the
// processes in them (netlab.RemoveLeftovers).
func TestMain(m *testing.M) {
	netlab.RemoveLeftovers(os.Stderr)
	os.Exit(m.Run())
}

// netnsLab is two network namespaces joined by a veth pair: the server side
// ("srv0", 10.99.0.1/24) and a client side ("cli0", no address yet). Every DHCP
// packet of the test stays on that pair, never on the host's interfaces.
type netnsLab struct{ srv, cli string }

func newNetnsLab(t *testing.T) *netnsLab {
	t.Helper()
	netlab.Require(t)
	lab := &netnsLab{srv: netlab.Namespace(t, "scd-dhcp-srv"), cli: netlab.Namespace(t, "scd-dhcp-cli")}
	netlab.Veth(t, lab.srv, "srv0", lab.cli, "cli0")
	netlab.IP(t, lab.srv, "addr", "add", "10.99.0.1/24", "dev", "srv0")
	return lab
}

// in runs fn in namespace ns.
func in(t *testing.T, ns string, fn func()) {
	t.Helper()
	if err := netlab.In(ns, func() error { fn(); return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestListenNetns(t *testing.T) {
	lab := newNetnsLab(t)

	// A DHCP server already on port 67 of this host (dnsmasq binds 0.0.0.0:67):
	// Listen must refuse instead of sharing the port.
	in(t, lab.srv, func() {
		other, err := net.ListenPacket("udp4", "0.0.0.0:67")
		if err != nil {
			t.Errorf("binding the stand-in server: %v", err)
			return
		}
		defer other.Close()
		c, err := Listen("srv0", 67)
		if err == nil {
			c.Close()
			t.Error("Listen succeeded on a port another server holds")
		} else if !errors.Is(err, ErrPortInUse) || !strings.Contains(err.Error(), "67") {
			t.Errorf("Listen error %q: want ErrPortInUse naming port 67", err)
		}
		if c, err := Listen("nosuchif0", 4011); err == nil {
			c.Close()
			t.Error("Listen on a missing interface succeeded")
		}
	})

	var c67, c4011, client net.PacketConn
	in(t, lab.srv, func() {
		var err error
		if c67, err = Listen("srv0", 67); err != nil {
			t.Errorf("Listen 67: %v", err)
		}
		if c4011, err = Listen("srv0", 4011); err != nil {
			t.Errorf("Listen 4011: %v", err)
		}
	})
	// The client is like a PXE ROM: port 68, no address, broadcasts.
	in(t, lab.cli, func() {
		var err error
		if client, err = Listen("cli0", 68); err != nil {
			t.Errorf("client socket: %v", err)
		}
	})
	if t.Failed() {
		for _, c := range []net.PacketConn{c67, c4011, client} {
			if c != nil {
				c.Close()
			}
		}
		t.FailNow()
	}
	defer client.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	serverIP := net.IPv4(10, 99, 0, 1).To4()
	go func() { done <- (&Proxy{ServerIP: serverIP, BootFile: testBootFile}).Serve(ctx, c67, c4011) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	// read returns the next message, or nil after a second unless last.
	read := func(what string, last bool) (*dhcpv4.DHCPv4, *net.UDPAddr) {
		t.Helper()
		client.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 1500)
		n, from, err := client.ReadFrom(buf)
		var ne net.Error
		if err != nil && !last && errors.As(err, &ne) && ne.Timeout() {
			return nil, nil
		}
		if err != nil {
			t.Fatalf("waiting for the %s: %v", what, err)
		}
		m, err := dhcpv4.FromBytes(buf[:n])
		if err != nil {
			t.Fatalf("%s does not parse: %v", what, err)
		}
		return m, from.(*net.UDPAddr)
	}

	// Broadcast DISCOVER → broadcast OFFER, heard by a client with no address.
	// Like a ROM, send again if nothing came back: a fresh veth can drop the
	// first frames while its carrier comes up.
	seabios := firstDiscover(t, "seabios-ipxe-discover.pcap", macSeaBIOS)
	var offer *dhcpv4.DHCPv4
	var from *net.UDPAddr
	for try := 0; offer == nil; try++ {
		if _, err := client.WriteTo(seabios.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: 67}); err != nil {
			t.Fatal(err)
		}
		offer, from = read("OFFER", try == 4)
	}
	if !from.IP.Equal(serverIP) || from.Port != 67 {
		t.Errorf("OFFER from %v, want %v:67", from, serverIP)
	}
	if offer.MessageType() != dhcpv4.MessageTypeOffer || offer.BootFileName != "pxelinux.0" ||
		!offer.ServerIPAddr.Equal(serverIP) || offer.TransactionID != seabios.TransactionID {
		t.Errorf("OFFER: %v", offer.Summary())
	}

	// The router gave the client an address; now the unicast 4011 exchange.
	clientIP := net.IPv4(10, 99, 0, 2).To4()
	netlab.IP(t, lab.cli, "addr", "add", "10.99.0.2/24", "dev", "cli0")
	ovmf := firstDiscover(t, "ovmf-pxebc-discover.pcap", macOVMF)
	req := clone(t, ovmf, bootRequest(clientIP))
	var ack *dhcpv4.DHCPv4
	for try := 0; ack == nil; try++ {
		if _, err := client.WriteTo(req.ToBytes(), &net.UDPAddr{IP: serverIP, Port: Port4011}); err != nil {
			t.Fatal(err)
		}
		ack, from = read("ACK", try == 4)
	}
	if !from.IP.Equal(serverIP) || from.Port != Port4011 {
		t.Errorf("ACK from %v, want %v:4011", from, serverIP)
	}
	if ack.MessageType() != dhcpv4.MessageTypeAck || ack.BootFileName != "bootx64.efi" || ack.TransactionID != req.TransactionID {
		t.Errorf("ACK: %v", ack.Summary())
	}
}

// Without privileges, port 67 must give ErrPermission with advice, not a bare EACCES.
func TestListenUnprivileged(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("runs as root: the unprivileged case can't happen (run the test binary as another user to see it)")
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil {
		var start int
		if _, err := fmt.Sscan(string(b), &start); err == nil && start <= 67 {
			t.Skipf("ip_unprivileged_port_start is %d: port 67 needs no privilege here", start)
		}
	}
	c, err := Listen("", 67)
	if err == nil {
		c.Close()
		t.Skip("this process may bind port 67 (CAP_NET_BIND_SERVICE?)")
	}
	if !errors.Is(err, ErrPermission) || !strings.Contains(err.Error(), "CAP_NET_BIND_SERVICE") {
		t.Errorf("Listen error %q: want ErrPermission mentioning CAP_NET_BIND_SERVICE", err)
	}
}
