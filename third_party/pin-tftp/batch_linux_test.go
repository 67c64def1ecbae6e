package tftp

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// batchPair is a connConnection on loopback and a socket that reads what
// it sends.
func batchPair(t *testing.T) (*connConnection, *net.UDPConn) {
	t.Helper()
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	a, err := net.ListenUDP("udp", lo)
	if err != nil {
		t.Fatal(err)
	}
	b, err := net.ListenUDP("udp", lo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return &connConnection{conn: a}, b
}

// datagrams makes datagrams of the given sizes, each filled with its index.
func datagrams(sizes ...int) [][]byte {
	bufs := make([][]byte, len(sizes))
	for i, n := range sizes {
		bufs[i] = bytes.Repeat([]byte{byte(i)}, n)
	}
	return bufs
}

// expectDatagrams reads len(want) datagrams from r and checks each.
func expectDatagrams(t *testing.T, r *net.UDPConn, want [][]byte) {
	t.Helper()
	buf := make([]byte, 65536)
	for i, w := range want {
		r.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _, err := r.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("datagram %d of %d: %v", i, len(want), err)
		}
		if !bytes.Equal(buf[:n], w) {
			t.Fatalf("datagram %d: got %d bytes starting %v, want %d bytes of %d", i, n, buf[:min(n, 4)], len(w), w[0])
		}
	}
	r.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, _, err := r.ReadFromUDP(buf); err == nil {
		t.Fatalf("a datagram too many: %d bytes starting %v", n, buf[:min(n, 4)])
	}
}

func TestSendBatch(t *testing.T) {
	full := make([]int, 70) // more than one segmented send takes
	for i := range full {
		full[i] = 516
	}
	for _, tc := range []struct {
		name  string
		sizes []int
	}{
		{"a window ending short", []int{1472, 1472, 1472, 100}},
		{"a window of whole blocks", []int{516, 516, 516, 516}},
		{"a final empty block", []int{516, 516, 4}},
		{"one datagram", []int{516}},
		{"sizes that change", []int{1000, 1000, 500, 1000, 1000, 2000, 700}},
		{"over one send's segments", full},
		{"over one send's bytes", []int{9000, 9000, 9000, 9000, 9000, 9000, 9000, 9000, 9000}},
	} {
		for _, way := range []string{"segmented", "sendmmsg", "sendto"} {
			t.Run(tc.name+", "+way, func(t *testing.T) {
				c, r := batchPair(t)
				c.batch.noGSO = way != "segmented"
				c.batch.noMmsg = way == "sendto"
				bufs := datagrams(tc.sizes...)
				if err := sendAll(c, bufs, r.LocalAddr().(*net.UDPAddr)); err != nil {
					t.Fatal(err)
				}
				expectDatagrams(t, r, bufs)
				// Loopback can do both: no way may have been given up.
				if c.batch.noGSO != (way != "segmented") || c.batch.noMmsg != (way == "sendto") {
					t.Errorf("after sending: noGSO %v, noMmsg %v", c.batch.noGSO, c.batch.noMmsg)
				}
			})
		}
	}
}

// A segmented send the kernel refuses (here: segments too small for the
// data, EINVAL) falls back to sendmmsg, and does not try again.
func TestSendBatchSegmentationRefused(t *testing.T) {
	c, r := batchPair(t)
	c.batch.gsoOOB, c.batch.gsoSize = segmentSize(1), 1472
	bufs := datagrams(1472, 1472, 1472, 100)
	if err := sendAll(c, bufs, r.LocalAddr().(*net.UDPAddr)); err != nil {
		t.Fatal(err)
	}
	expectDatagrams(t, r, bufs)
	if !c.batch.noGSO || c.batch.noMmsg {
		t.Errorf("noGSO %v, noMmsg %v; want segmentation given up, sendmmsg not", c.batch.noGSO, c.batch.noMmsg)
	}
	if err := sendAll(c, bufs, r.LocalAddr().(*net.UDPAddr)); err != nil {
		t.Fatal(err)
	}
	expectDatagrams(t, r, bufs)
}

// fakeBatch stands for WriteBatch: it sends at most max messages a call
// (1 is what x/net does off Linux), or fails with err.
type fakeBatch struct {
	c     *net.UDPConn
	max   int
	err   error
	calls int
}

func (f *fakeBatch) WriteBatch(ms []ipv4.Message, flags int) (int, error) {
	f.calls++
	if f.err != nil {
		return 0, f.err
	}
	n := min(len(ms), f.max)
	for _, m := range ms[:n] {
		if _, err := f.c.WriteTo(m.Buffers[0], m.Addr); err != nil {
			return 0, err
		}
	}
	return n, nil
}

func TestSendBatchWriteBatch(t *testing.T) {
	refused := &net.OpError{Op: "write", Net: "udp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name       string
		fake       fakeBatch
		wantErr    error
		wantNoMmsg bool
		wantCalls  int
	}{
		{name: "all at once", fake: fakeBatch{max: 64}, wantCalls: 1},
		{name: "one a call, as off Linux", fake: fakeBatch{max: 1}, wantCalls: 4},
		{name: "some a call", fake: fakeBatch{max: 3}, wantCalls: 2},
		{name: "not implemented: sendto instead", fake: fakeBatch{err: &net.OpError{Op: "write", Net: "udp", Err: syscall.ENOSYS}},
			wantNoMmsg: true, wantCalls: 1},
		{name: "sends nothing: sendto instead", fake: fakeBatch{max: 0}, wantNoMmsg: true, wantCalls: 1},
		{name: "an error any send would meet", fake: fakeBatch{err: refused}, wantErr: syscall.ECONNREFUSED, wantCalls: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, r := batchPair(t)
			c.batch.noGSO = true
			f := tc.fake
			f.c = c.conn
			c.batch.writer = &f
			bufs := datagrams(516, 516, 516, 200)
			err := sendAll(c, bufs, r.LocalAddr().(*net.UDPAddr))
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil {
				expectDatagrams(t, r, bufs)
			}
			if c.batch.noMmsg != tc.wantNoMmsg || f.calls != tc.wantCalls {
				t.Errorf("noMmsg %v after %d calls, want %v after %d", c.batch.noMmsg, f.calls, tc.wantNoMmsg, tc.wantCalls)
			}
			for i, m := range c.batch.msgs {
				if m.Buffers[0] != nil {
					t.Errorf("message %d still holds a buffer of the window", i)
				}
			}
		})
	}
}

// A connection that is not a connConnection (single-port mode's, or one of
// a test) sends a window datagram by datagram.
type countingConn struct {
	connection
	sent [][]byte
}

func (c *countingConn) sendTo(p []byte, addr *net.UDPAddr) error {
	c.sent = append(c.sent, append([]byte(nil), p...))
	return nil
}

func TestSendAllWithoutBatch(t *testing.T) {
	c := &countingConn{}
	bufs := datagrams(516, 516, 300)
	if err := sendAll(c, bufs, &net.UDPAddr{}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(c.sent) != fmt.Sprint(bufs) {
		t.Errorf("sent %d datagrams, not the window's %d in order", len(c.sent), len(bufs))
	}
}
