package nfs

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// A reply's bytes go through a pooled pipe unchanged, in pieces larger than the pipe, at odd
// offsets; with every pipe taken they go by sendfile instead; and a pipe is reused only empty.
func TestPipePoolSends(t *testing.T) {
	const size = 3<<20 + 5
	want := pattern(size)
	path := filepath.Join(t.TempDir(), "medium")
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	pool := newPipePool()
	defer pool.close()
	cases := []struct {
		name    string
		off, n  int
		exhaust bool // every pipe is taken: the reply goes by sendfile
	}{
		{"one READ", 4097, 1 << 20, false},
		{"more than a pipe holds", 1, size - 1, false},
		{"the file's last bytes", size - 3, 3, false},
		{"no pipe free", 12345, 2<<20 + 7, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var taken []*pipe
			if tc.exhaust {
				for pp := pool.get(); pp != nil; pp = pool.get() {
					taken = append(taken, pp)
				}
				if len(taken) == 0 || len(taken) > maxPipes {
					t.Fatalf("took %d pipes from the pool, want 1..%d", len(taken), maxPipes)
				}
			}
			got := sendOverTCP(t, func(raw syscall.RawConn) error { return pool.send(raw, f, int64(tc.off), tc.n) }, tc.n)
			if !bytes.Equal(got, want[tc.off:tc.off+tc.n]) {
				t.Errorf("received %d bytes, not the file's %d from offset %d", len(got), tc.n, tc.off)
			}
			for _, pp := range taken {
				pool.put(pp, true)
			}
		})
	}

	// A pipe left holding bytes (a reply that failed halfway) is closed, not reused.
	pp := pool.get()
	pool.put(pp, false)
	if _, err := unix.FcntlInt(uintptr(pp.r), unix.F_GETFD, 0); err == nil {
		t.Error("a pipe put back with bytes in it is still open")
	}
	// After close, idle pipes are closed, get has none, and a pipe in use is closed on its return.
	inUse := pool.get()
	pool.close()
	if pool.get() != nil {
		t.Error("a closed pool still hands out pipes")
	}
	pool.put(inUse, true)
	if _, err := unix.FcntlInt(uintptr(inUse.w), unix.F_GETFD, 0); err == nil {
		t.Error("a pipe returned to a closed pool is still open")
	}
	if pool.made != 0 {
		t.Errorf("a closed pool counts %d pipes, want 0", pool.made)
	}
}

// sendOverTCP runs send on the server end of a loopback TCP connection and returns the n bytes
// the client end receives.
func sendOverTCP(t *testing.T, send func(syscall.RawConn) error, n int) []byte {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	errc := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		raw, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			errc <- err
			return
		}
		errc <- send(raw)
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := make([]byte, n)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("receiving: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("sending: %v", err)
	}
	return got
}

// As root, a connection's send buffer holds whole READ replies.
func TestSendBufferHoldsReplies(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SO_SNDBUFFORCE needs CAP_NET_ADMIN; without it the buffer is left alone, as meant")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	holdReplies(raw)
	var got int
	_ = raw.Control(func(fd uintptr) { got, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF) })
	if err != nil || got < sendBuffer {
		t.Errorf("send buffer %d bytes (%v), want at least %d", got, err, sendBuffer)
	}
}
