package e2e

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/sharecd/sharecd/assets"
	"github.com/sharecd/sharecd/netboot/dhcp"
	"github.com/sharecd/sharecd/netboot/netlab"
)

// TestPlainBIOSROMGetsIPXE runs the real command in proxy mode on a namespace LAN and asks as a
// BIOS PXE ROM that is not iPXE does (option 93 = 0, no user class), on port 67 and on 4011: it is
// offered undionly.kpxe, and tftp-hpa fetches exactly the embedded image. The same MAC asking as
// the iPXE that image runs (user class "iPXE") is offered boot.ipxe, never iPXE again. Then full
// mode, asked by busybox udhcpc as a ROM and as iPXE, gives the same two files with an address.
// The machine is a seat of a seats file: the boot.ipxe its iPXE fetches by that name over TFTP
// chains the seat's own script over HTTP, as it does for an iPXE ROM.
//
// QEMU cannot prove this chain: its BIOS ROMs are iPXE, which takes the boot.ipxe path at once.
func TestPlainBIOSROMGetsIPXE(t *testing.T) {
	need(t, "tftp", "busybox", "curl")
	bin := sharecd(t)
	l := newLab(t, "10.77.22")
	const server = "10.77.22.2"
	cl := l.clientNS("10.77.22.50/24")
	mac, err := net.ParseMAC(l.linkMAC(cl, "c0"))
	if err != nil {
		t.Fatal(err)
	}
	dir := tinyMedium(t)
	seatsFile := filepath.Join(l.dir, "seats.json")
	if err := os.WriteFile(seatsFile, []byte(`{"seats": [{"mac": "`+mac.String()+`", "name": "desk-01", "args": "seat_arg=1"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}

	srv := l.start(l.server, "sharecd-proxy.log", bin, "--share", "--source", dir, "--iface", "s0",
		"--dhcp-mode", "proxy", "--seats", seatsFile, "--debug")
	logf := filepath.Join(l.dir, "sharecd-proxy.log")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := waitFor(ctx, logf, "msg=sharing"); err != nil {
		t.Fatalf("sharecd did not start: %v\n%s", err, tail(logf, 20))
	}

	var conn net.PacketConn
	if err := netlab.In(cl, func() (err error) { conn, err = dhcp.Listen("c0", 68); return err }); err != nil {
		t.Fatalf("the client's DHCP socket: %v", err)
	}
	defer conn.Close()
	for _, tc := range []struct {
		name string
		ipxe bool
		want string
	}{
		{"PXE ROM", false, "undionly.kpxe"},
		{"iPXE", true, "boot.ipxe"},
	} {
		t.Run("proxy/"+tc.name, func(t *testing.T) {
			offer, ack := proxyExchange(t, conn, mac, net.ParseIP(server), tc.ipxe)
			if offer != tc.want || ack != tc.want {
				t.Errorf("offered %q on 67 and %q on 4011, want %q\n--- sharecd ---\n%s", offer, ack, tc.want, tail(logf, 20))
			}
		})
	}

	got := filepath.Join(l.dir, "got-undionly.kpxe")
	out, err := l.run(cl, "tftp", server, "-m", "binary", "-c", "get", "undionly.kpxe", got)
	b, _ := os.ReadFile(got)
	if err != nil || len(out) > 0 || !bytes.Equal(b, assets.BIOSIPXE()) {
		// tftp-hpa exits 0 on a TFTP error and says it on stdout.
		t.Errorf("tftp get undionly.kpxe: %v %s: %d bytes, want the embedded %d", err, out, len(b), len(assets.BIOSIPXE()))
	}
	// What the iPXE in undionly.kpxe fetches next: the file its DHCP answer named, over TFTP, and
	// from it the seat's script over HTTP.
	got = filepath.Join(l.dir, "got-boot.ipxe")
	out, err = l.run(cl, "tftp", server, "-m", "binary", "-c", "get", "boot.ipxe", got)
	b, _ = os.ReadFile(got)
	if chain := "chain --autofree http://" + server + "/boot.ipxe-01-${netX/mac:hexhyp}"; err != nil || !bytes.Contains(b, []byte(chain)) {
		t.Errorf("tftp get boot.ipxe: %v %s: want %q in\n%s", err, out, chain, b)
	}
	seatScript := "http://" + server + "/boot.ipxe-01-" + strings.ReplaceAll(mac.String(), ":", "-")
	if out, err := l.run(cl, "curl", "-sSf", seatScript); err != nil || !bytes.Contains(out, []byte("seat_arg=1")) {
		t.Errorf("the seat's script %s: %v\n%s", seatScript, err, out)
	}
	if log, _ := os.ReadFile(logf); !strings.Contains(string(log), "chain=\"BIOS: iPXE undionly.kpxe") {
		t.Errorf("the log does not name the undionly chain:\n%s", tail(logf, 20))
	}
	if err := stop(srv, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatalf("sharecd on SIGTERM: %v\n%s", err, tail(logf, 20))
	}

	// Full mode: our own DHCP server's answer names the same files. udhcpc runs the script with
	// the answer's file field in its environment.
	srv = l.start(l.server, "sharecd-full.log", bin, "--share", "--source", dir, "--iface", "s0",
		"--dhcp-mode", "full", "--lease-file", filepath.Join(l.dir, "leases.json"), "--debug")
	logf = filepath.Join(l.dir, "sharecd-full.log")
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := waitFor(ctx, logf, "msg=sharing"); err != nil {
		t.Fatalf("full mode did not start: %v\n%s", err, tail(logf, 20))
	}
	script := filepath.Join(l.dir, "udhcpc.sh")
	os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && echo \"bound boot_file=$boot_file siaddr=$siaddr\"\nexit 0\n"), 0o755)
	for _, tc := range []struct {
		name  string
		extra []string
		want  string
	}{
		{"PXE ROM", nil, "undionly.kpxe"},
		// iPXE's user class is the bare string, not RFC 3004's length-prefixed list.
		{"iPXE", []string{"-x", "0x4d:69505845"}, "boot.ipxe"},
	} {
		args := append([]string{"busybox", "udhcpc", "-f", "-q", "-n", "-i", "c0", "-t", "5", "-T", "2", "-s", script,
			"-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000"}, tc.extra...)
		out, err := l.run(cl, args...)
		if want := "boot_file=" + tc.want + " siaddr=" + server; err != nil || !strings.Contains(string(out), want) {
			t.Errorf("full mode, %s: want %q: %v\n%s\n--- sharecd ---\n%s", tc.name, want, err, out, tail(logf, 20))
		}
	}
	if err := stop(srv, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Errorf("sharecd on SIGTERM: %v\n%s", err, tail(logf, 20))
	}
}

// proxyExchange asks the proxy-DHCP at server as a BIOS client with mac does, as iPXE when ipxe:
// a DISCOVER broadcast to port 67, then the boot-server REQUEST to server:4011. It returns the
// boot file of each answer ("" for none).
func proxyExchange(t *testing.T, conn net.PacketConn, mac net.HardwareAddr, server net.IP, ipxe bool) (offer, ack string) {
	t.Helper()
	pxe := []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)),
		dhcpv4.WithGeneric(dhcpv4.OptionClientNetworkInterfaceIdentifier, []byte{1, 2, 1}), // UNDI 2.1
		dhcpv4.WithBroadcast(true),
	}
	if ipxe {
		pxe = append(pxe, dhcpv4.WithOption(dhcpv4.OptUserClass("iPXE")))
	}
	disc, err := dhcpv4.NewDiscovery(mac, pxe...)
	if err != nil {
		t.Fatal(err)
	}
	// A ROM retries too: the first broadcast may meet a veth still settling.
	for try := 0; try < 3 && offer == ""; try++ {
		if _, err := conn.WriteTo(disc.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: dhcp.Port67}); err != nil {
			t.Fatalf("sending the DISCOVER: %v", err)
		}
		if m := replyFrom(conn, disc.TransactionID, server, 3*time.Second); m != nil {
			offer = m.BootFileName
		}
	}
	req, err := dhcpv4.New(append(pxe, dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithClientIP(net.ParseIP("10.77.22.50")))...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.WriteTo(req.ToBytes(), &net.UDPAddr{IP: server, Port: dhcp.Port4011}); err != nil {
		t.Fatalf("sending the 4011 REQUEST: %v", err)
	}
	if m := replyFrom(conn, req.TransactionID, server, 3*time.Second); m != nil {
		ack = m.BootFileName
	}
	return offer, ack
}

// replyFrom is the first answer to transaction xid from server within d, or nil.
func replyFrom(conn net.PacketConn, xid dhcpv4.TransactionID, server net.IP, d time.Duration) *dhcpv4.DHCPv4 {
	conn.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 1500)
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			return nil // the deadline
		}
		m, err := dhcpv4.FromBytes(buf[:n])
		if err == nil && m.OpCode == dhcpv4.OpcodeBootReply && m.TransactionID == xid && m.ServerIdentifier().Equal(server) {
			return m
		}
	}
}
