package connlimit

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"
)

// dialFrom connects to addr from the loopback address src, so one test can be several clients.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reports whether the server closed c (EOF or reset). The deadline only ends
// the wait when the server kept it, which fails the test.
func closedByServer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

func TestBounds(t *testing.T) {
	tests := []struct {
		name      string
		max, per  int
		clients   []string // source address of each connection, in order
		wantKept  []bool
		wantConns int
	}{
		{"under both bounds", 4, 2, []string{"127.0.0.1", "127.0.0.2"}, []bool{true, true}, 2},
		{"per client", 10, 2, []string{"127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.2"}, []bool{true, true, false, true}, 3},
		{"total", 2, 0, []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}, []bool{true, true, false}, 2},
		{"no bounds", 0, 0, []string{"127.0.0.1", "127.0.0.1", "127.0.0.1"}, []bool{true, true, true}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			l := &Listener{Listener: inner, Name: "test", Max: tt.max, PerClient: tt.per}
			defer l.Close()
			accepted := make(chan net.Conn, len(tt.clients))
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					accepted <- c
				}
			}()
			var kept []net.Conn
			for i, src := range tt.clients {
				c := dialFrom(t, src, inner.Addr().String())
				if !tt.wantKept[i] {
					// A refused connection is closed by the server, never handed to it.
					if !closedByServer(c) {
						t.Errorf("connection %d from %s was not refused", i, src)
					}
					continue
				}
				// A kept one reaches the server, and the next dial waits for it, so the
				// bounds are checked in the order of the table.
				kept = append(kept, <-accepted)
			}
			if n, _ := l.Open(); n != tt.wantConns {
				t.Errorf("open = %d, want %d", n, tt.wantConns)
			}
			// Closing frees the slots: the bound is on connections open now, not ever.
			for _, c := range kept {
				c.Close()
			}
			if n, clients := l.Open(); n != 0 || clients != 0 {
				t.Errorf("after close: %d connections from %d clients, want none", n, clients)
			}
			if tt.max > 0 || tt.per > 0 {
				dialFrom(t, tt.clients[0], inner.Addr().String())
				c := <-accepted // hangs (test timeout) if it was refused
				c.Close()
			}
		})
	}
}

func TestIdle(t *testing.T) {
	inner, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &Listener{Listener: inner, Idle: 50 * time.Millisecond}
	defer l.Close()
	c := dialFrom(t, "127.0.0.1", inner.Addr().String())
	sc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	if _, err := sc.Read(buf); err != nil {
		t.Fatalf("read of what the client sent: %v", err)
	}
	_, err = sc.Read(buf)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read from a silent client = %v, want a timeout", err)
	}
}

// failing returns errs from Accept, one per call, then the connections of inner.
type failing struct {
	net.Listener
	mu   sync.Mutex
	errs []error
}

func (f *failing) Accept() (net.Conn, error) {
	f.mu.Lock()
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		f.mu.Unlock()
		return nil, err
	}
	f.mu.Unlock()
	return f.Listener.Accept()
}

func TestAcceptErrorsAreWaitedOut(t *testing.T) {
	inner, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errs := []error{
		&net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE},
		&net.OpError{Op: "accept", Net: "tcp", Err: syscall.ENFILE},
		&net.OpError{Op: "accept", Net: "tcp", Err: syscall.ECONNABORTED},
		&net.OpError{Op: "accept", Net: "tcp", Err: syscall.ENOBUFS},
	}
	l := &Listener{Listener: &failing{Listener: inner, errs: errs}}
	defer l.Close()
	dialFrom(t, "127.0.0.1", inner.Addr().String())
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept after %d errors = %v, want the connection", len(errs), err)
	}
	c.Close()
}

func TestCloseEndsAWaitingAccept(t *testing.T) {
	inner, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	many := make([]error, 1000) // far more than the test waits for: only Close can end Accept
	for i := range many {
		many[i] = &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	l := &Listener{Listener: &failing{Listener: inner, errs: many}}
	done := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		done <- err
	}()
	l.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close = %v, want net.ErrClosed", err)
	}
}

func TestPassesSocketThrough(t *testing.T) {
	inner, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &Listener{Listener: inner}
	defer l.Close()
	dialFrom(t, "127.0.0.1", inner.Addr().String())
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(syscall.Conn); !ok {
		t.Error("connection hides its socket: sendfile(2) would not be used")
	}
	if _, ok := c.(io.ReaderFrom); !ok {
		t.Error("connection is no io.ReaderFrom: net/http would not use sendfile(2)")
	}
}

// TestCounterReportsOncePerEpisode: each bound's refusal is reported the first time in an
// episode and not again until what is held is under that bound once more.
func TestCounterReportsOncePerEpisode(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	c := &Counter{Max: 3, PerClient: 2}
	steps := []struct {
		take   bool // else give
		ip     netip.Addr
		wantOK bool
		want   Over
	}{
		{true, a, true, OverNone},
		{true, a, true, OverNone},
		{true, a, false, OverClient}, // a at its bound: reported
		{true, a, false, OverNone},   // same episode: not again
		{false, a, true, OverNone},
		{true, a, true, OverNone}, // under it again, and back up to it
		{true, a, false, OverClient},
		{true, b, true, OverNone},
		{true, b, false, OverTotal}, // 3 held in all
		{true, b, false, OverNone},
		{false, b, true, OverNone},
		{true, b, true, OverNone},
		{true, b, false, OverTotal},
	}
	for i, st := range steps {
		if !st.take {
			c.Give(st.ip)
			continue
		}
		ok, over, _ := c.Take(st.ip)
		if ok != st.wantOK || over != st.want {
			t.Errorf("step %d: Take(%s) = %v, %v; want %v, %v", i, st.ip, ok, over, st.wantOK, st.want)
		}
	}
	if n, clients := c.Held(); n != 3 || clients != 2 {
		t.Errorf("held %d by %d clients, want 3 by 2", n, clients)
	}
}
