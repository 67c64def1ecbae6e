package tcpcc

import (
	"net"
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// accepted is the server end of a loopback TCP connection, started with algorithm start.
func accepted(t *testing.T, start string) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialed, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialed.Close() })
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	raw, _ := c.(*net.TCPConn).SyscallConn()
	var serr error
	_ = raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, start)
	})
	if serr != nil {
		// BBR is a module: a kernel without it has nothing for Unpace to do.
		t.Skipf("this kernel will not give a socket %q (%v); available: %s", start, serr, available())
	}
	return c
}

func available() string {
	b, _ := os.ReadFile("/proc/sys/net/ipv4/tcp_available_congestion_control")
	return string(b)
}

func TestUnpace(t *testing.T) {
	for _, tc := range []struct {
		start string
		want  []string // any of these
	}{
		{"bbr", fallbacks},         // paced: switched
		{"reno", []string{"reno"}}, // an administrator's other choice stays
	} {
		t.Run(tc.start, func(t *testing.T) {
			if got := Unpace(accepted(t, tc.start)); !slices.Contains(tc.want, got) {
				t.Fatalf("Unpace on a %s socket = %q, want one of %q", tc.start, got, tc.want)
			}
		})
	}
}

func TestUnpaceNotTCP(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if got := Unpace(a); got != "" {
		t.Fatalf("Unpace(net.Pipe) = %q, want \"\"", got)
	}
	u, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if got := Unpace(u.(*net.UDPConn)); got != "" {
		t.Fatalf("Unpace(UDP) = %q, want \"\"", got)
	}
}
