package tcpcc

import (
	"net"
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// pair is both ends of a loopback TCP connection; the accepted end starts with algorithm start.
func pair(t *testing.T, start string) (accepted, dialed net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialed, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialed.Close() })
	accepted, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { accepted.Close() })
	raw, _ := accepted.(*net.TCPConn).SyscallConn()
	var serr error
	_ = raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, start)
	})
	if serr != nil {
		// BBR is a module: a kernel without it has nothing for Unpace to do.
		t.Skipf("this kernel will not give a socket %q (%v); available: %s", start, serr, available())
	}
	return accepted, dialed
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
		{"bbr", Fallbacks},         // paced: switched
		{"reno", []string{"reno"}}, // an administrator's other choice stays
	} {
		t.Run(tc.start, func(t *testing.T) {
			c, _ := pair(t, tc.start)
			if got := Unpace(c); !slices.Contains(tc.want, got) {
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
