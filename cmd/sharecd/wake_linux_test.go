package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
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

// TestWakeAllNetns runs `sharecd --wake all --iface w0` in a namespace of its own: the MACs of
// the lease file each get a magic packet on w0's link, and the namespace's other link, which
// has the default route, gets none. Every packet stays in the test's namespaces.
func TestWakeAllNetns(t *testing.T) {
	netlab.Require(t)
	tx, rx := netlab.Namespace(t, "scd-wake-tx"), netlab.Namespace(t, "scd-wake-rx")
	netlab.Veth(t, tx, "w0", rx, "w1")
	netlab.Veth(t, tx, "x0", rx, "x1")
	netlab.IP(t, tx, "addr", "add", "10.96.1.2/24", "dev", "x0")
	netlab.IP(t, tx, "route", "add", "default", "via", "10.96.1.1")

	leases := filepath.Join(t.TempDir(), "leases.json")
	os.WriteFile(leases, []byte(`[
 {"mac": "52:54:00:12:34:56", "ip": "192.168.77.100", "expiry": "2026-05-01T12:00:00Z", "bound": true},
 {"mac": "52:54:00:ab:cd:ef", "ip": "192.168.77.101", "expiry": "2026-05-01T12:00:00Z", "bound": true}
]`), 0o644)

	listen := func(iface string) int {
		var fd int
		err := netlab.In(rx, func() error {
			ifc, err := net.InterfaceByName(iface)
			if err != nil {
				return err
			}
			proto := int(uint16(unix.ETH_P_ALL)<<8 | uint16(unix.ETH_P_ALL)>>8)
			if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto); err != nil {
				return err
			}
			return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: ifc.Index})
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		return fd
	}
	chosen, decoy := listen("w1"), listen("x1")

	var stdout, stderr bytes.Buffer
	var code int
	netlab.In(tx, func() error {
		code = run([]string{"--wake", "all", "--iface", "w0", "--lease-file", leases}, &stdout, &stderr)
		return nil
	})
	if code != 0 || stderr.Len() > 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	if want := "sent a wake-up packet to 52:54:00:12:34:56 on w0\nsent a wake-up packet to 52:54:00:ab:cd:ef on w0\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}

	macs := []string{"52:54:00:12:34:56", "52:54:00:ab:cd:ef"}
	// woken counts, for each MAC, the frames carrying its magic packet (the sync stream, then
	// the MAC 16 times) that arrived within d.
	woken := func(fd int, d time.Duration) map[string]int {
		got := map[string]int{}
		buf := make([]byte, 2048)
		for deadline := time.Now().Add(d); time.Now().Before(deadline); {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			if n, _ := unix.Poll(fds, 50); n <= 0 {
				continue
			}
			n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
			if err != nil {
				continue
			}
			for _, m := range macs {
				hw, _ := net.ParseMAC(m)
				if bytes.Contains(buf[:n], append(bytes.Repeat([]byte{0xff}, 6), bytes.Repeat(hw, 16)...)) {
					got[m]++
				}
			}
		}
		return got
	}
	got := woken(chosen, 300*time.Millisecond)
	for _, mac := range macs {
		if got[mac] == 0 {
			t.Errorf("w1 saw no magic packet for %s (saw %v)", mac, got)
		}
	}
	if bad := woken(decoy, 100*time.Millisecond); len(bad) > 0 {
		t.Errorf("x1, the other link, saw magic packets for %v", bad)
	}
}
