package wol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sharecd/sharecd/netboot/netlab"
)

// TestMain first removes what an earlier, killed run of these tests left: its namespaces and the
// processes in them (netlab.RemoveLeftovers).
func TestMain(m *testing.M) {
	netlab.RemoveLeftovers(os.Stderr)
	os.Exit(m.Run())
}

// wakeLab is the sender's namespace with two links into the room's namespace: w0 (to w1), the
// interface chosen, and x0 (to x1), a decoy the sender's routes prefer: it has an address and
// the default route, so a broadcast that followed the routing table would leave by x0. Every
// packet of the test stays in these namespaces.
type wakeLab struct {
	tx, rx string
}

func newWakeLab(t *testing.T, addrOnChosen bool) *wakeLab {
	t.Helper()
	netlab.Require(t)
	l := &wakeLab{tx: netlab.Namespace(t, "scd-wol-tx"), rx: netlab.Namespace(t, "scd-wol-rx")}
	netlab.IP(t, l.tx, "link", "add", "w0", "address", "02:00:00:00:00:01", "type", "veth", "peer", "name", "w1", "netns", l.rx)
	netlab.IP(t, l.tx, "link", "add", "x0", "address", "02:00:00:00:00:02", "type", "veth", "peer", "name", "x1", "netns", l.rx)
	for _, i := range []string{"w0", "x0"} {
		netlab.IP(t, l.tx, "link", "set", i, "up")
	}
	for _, i := range []string{"w1", "x1"} {
		netlab.IP(t, l.rx, "link", "set", i, "up")
	}
	netlab.IP(t, l.tx, "addr", "add", "10.97.1.2/24", "dev", "x0")
	netlab.IP(t, l.tx, "route", "add", "default", "via", "10.97.1.1")
	if addrOnChosen {
		netlab.IP(t, l.tx, "addr", "add", "10.97.0.2/24", "dev", "w0")
	}
	return l
}

// capture is an AF_PACKET reader of every frame on one interface of the room, opened inside its
// namespace.
type capture struct {
	fd   int
	name string
}

func (l *wakeLab) listen(t *testing.T, iface string) *capture {
	t.Helper()
	c := &capture{name: iface}
	err := netlab.In(l.rx, func() error {
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		c.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		return unix.Bind(c.fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(c.fd) })
	return c
}

// frames returns the frames that arrive within d which carry a magic packet's sync stream: the
// NIC of a sleeping machine wakes on the pattern wherever it is in a frame, so any such frame
// counts, whatever its EtherType (IPv6 router solicitations and the like are left out).
func (c *capture) frames(t *testing.T, d time.Duration) [][]byte {
	t.Helper()
	var out [][]byte
	buf := make([]byte, 2048)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		fds := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(time.Until(deadline)/time.Millisecond)+1)
		if errors.Is(err, unix.EINTR) || n == 0 {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		n, _, err = unix.Recvfrom(c.fd, buf, unix.MSG_DONTWAIT)
		if err != nil {
			continue
		}
		if bytes.Contains(buf[:n], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54}) {
			out = append(out, append([]byte(nil), buf[:n]...))
		}
	}
	return out
}

func TestWakeOnlyOnTheChosenInterface(t *testing.T) {
	macs := []net.HardwareAddr{mustMAC(t, "52:54:00:12:34:56"), mustMAC(t, "52:54:00:ab:cd:ef")}
	for _, tc := range []struct {
		name    string
		udpOnly bool
		addr    bool // w0 has an IPv4 address
	}{
		{name: "raw frame, no IPv4 on the interface"},
		{name: "raw frame, with IPv4", addr: true},
		{name: "UDP fallback, no IPv4 on the interface", udpOnly: true},
		{name: "UDP fallback, with IPv4", udpOnly: true, addr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newWakeLab(t, tc.addr)
			chosen, decoy := l.listen(t, "w1"), l.listen(t, "x1")
			s := &Sender{Iface: "w0", Repeat: 2, udpOnly: tc.udpOnly}
			if err := netlab.In(l.tx, func() error { return s.Wake(macs...) }); err != nil {
				t.Fatalf("Wake: %v", err)
			}
			got := chosen.frames(t, 300*time.Millisecond)
			if len(got) != 2*len(macs) {
				t.Fatalf("w1 saw %d wake-up frames, want %d (each MAC twice)", len(got), 2*len(macs))
			}
			for i, f := range got {
				mac := macs[i/2]
				want, _ := MagicPacket(mac, nil)
				dst, src, typ := f[0:6], f[6:12], binary.BigEndian.Uint16(f[12:14])
				if !bytes.Equal(dst, net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) || net.HardwareAddr(src).String() != "02:00:00:00:00:01" {
					t.Errorf("frame %d from %v to %v: want from w0's MAC to broadcast", i, net.HardwareAddr(src), net.HardwareAddr(dst))
				}
				var payload []byte
				if tc.udpOnly {
					// IPv4 (20-byte header) and UDP to 255.255.255.255:9.
					if typ != 0x0800 || len(f) < 14+28 || !net.IP(f[30:34]).Equal(net.IPv4bcast) || binary.BigEndian.Uint16(f[36:38]) != Port {
						t.Fatalf("frame %d is not a UDP broadcast to port 9: % x", i, f)
					}
					payload = f[42:]
				} else {
					if typ != EtherType {
						t.Fatalf("frame %d has EtherType %#04x, want %#04x", i, typ, EtherType)
					}
					payload = f[14:]
				}
				// Ethernet pads short frames; the magic packet is the start of the payload.
				if !bytes.HasPrefix(payload, want) {
					t.Errorf("frame %d payload % x\nwant magic packet for %v", i, payload, mac)
				}
			}
			if n := len(decoy.frames(t, 100*time.Millisecond)); n != 0 {
				t.Errorf("x1, the other interface, saw %d wake-up frames: the packet left by more than the chosen interface", n)
			}
		})
	}
}

// TestWakeRefusesDownInterface: the interface exists but is down, or up with no carrier.
func TestWakeRefusesDownInterface(t *testing.T) {
	l := newWakeLab(t, false)
	netlab.IP(t, l.tx, "link", "set", "x0", "down")
	netlab.IP(t, l.rx, "link", "set", "w1", "down") // w0 up, its peer down: no carrier
	// The kernel's link watch clears IFF_RUNNING up to a second after the carrier goes.
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		out, _ := exec.Command("ip", "-n", l.tx, "-o", "link", "show", "w0").Output()
		if strings.Contains(string(out), "NO-CARRIER") && !strings.Contains(string(out), "state UP") {
			break
		}
	}
	for iface, want := range map[string]error{"x0": ErrIfaceDown, "w0": ErrNoLink} {
		err := netlab.In(l.tx, func() error { return (&Sender{Iface: iface}).Wake(mustMAC(t, "52:54:00:12:34:56")) })
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", iface, err, want)
		}
	}
}

// TestWakeWithoutCapNetRaw: without CAP_NET_RAW the raw socket is refused and Wake falls back
// to the UDP broadcast bound to the interface, which Linux 5.7 and later allow unprivileged
// (an unpackaged build run as a user). Capabilities are per thread: only the thread netlab.In
// locks into the namespace drops CAP_NET_RAW from its effective set, and takes it back.
func TestWakeWithoutCapNetRaw(t *testing.T) {
	l := newWakeLab(t, false)
	chosen, decoy := l.listen(t, "w1"), l.listen(t, "x1")
	mac := mustMAC(t, "52:54:00:12:34:56")
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var werr error
	err := netlab.In(l.tx, func() error {
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			return err
		}
		saved := data
		data[0].Effective &^= 1 << unix.CAP_NET_RAW
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			return err
		}
		if _, err := openRaw(&net.Interface{Name: "w0", Index: 1}); !errors.Is(err, ErrPermission) {
			werr = errors.New("a raw socket opened without CAP_NET_RAW")
		} else {
			werr = (&Sender{Iface: "w0", Repeat: 1}).Wake(mac)
		}
		if err := unix.Capset(&hdr, &saved[0]); err != nil {
			panic("cannot take CAP_NET_RAW back: " + err.Error()) // never leave a thread without it
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if werr != nil {
		t.Fatalf("Wake without CAP_NET_RAW: %v", werr)
	}
	got := chosen.frames(t, 300*time.Millisecond)
	if len(got) != 1 || binary.BigEndian.Uint16(got[0][12:14]) != 0x0800 {
		t.Errorf("w1 saw %d frames, want the one UDP broadcast", len(got))
	}
	if n := len(decoy.frames(t, 100*time.Millisecond)); n != 0 {
		t.Errorf("x1 saw %d wake-up frames", n)
	}
}
