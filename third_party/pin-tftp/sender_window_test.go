package tftp

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand"
	"net"
	"strconv"
	"testing"
	"time"
)

// windowClient is a reader in the manner of RFC 7440 that loses what it is
// told to lose. It ACKs the end of each window and the final block, ACKs
// the last block it has in order for every block that comes out of order
// or again, and ACKs again after its own timeout.
type windowClient struct {
	window  string         // windowsize option to ask for; "" asks for none
	drop    map[uint16]int // DATA blocks to lose, and how many times
	dropACK map[uint16]int // ACKs to lose, and how many times
	swap    map[uint16]bool
	// lockStepProbe, with no window asked for: leave block 1 unACKed for
	// this long and fail if anything but block 1 comes meanwhile.
	lockStepProbe time.Duration

	oack     options
	arrivals []uint16 // DATA blocks as they came, before any loss
	acks     int
	timeouts int // times the client waited 250 ms for the server and ACKed again
}

func (c *windowClient) get(t *testing.T, server *net.UDPAddr, name string) []byte {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	opts := options{"blksize": "512"}
	if c.window != "" {
		opts["windowsize"] = c.window
	}
	buf := make([]byte, 65536)
	n := packRQ(buf, opRRQ, name, "octet", opts)
	if _, err := conn.WriteToUDP(buf[:n], server); err != nil {
		t.Fatal(err)
	}
	var peer *net.UDPAddr
	ack := func(block uint16) {
		if c.dropACK[block] > 0 {
			c.dropACK[block]--
			return
		}
		var p [4]byte
		binary.BigEndian.PutUint16(p[0:2], opACK)
		binary.BigEndian.PutUint16(p[2:4], block)
		if _, err := conn.WriteToUDP(p[:], peer); err != nil {
			t.Fatal(err)
		}
		c.acks++
	}
	w := 1
	if c.window != "" {
		w, _ = strconv.Atoi(c.window)
	}
	var (
		out      bytes.Buffer
		expected = uint16(1)
		inWindow = 0
		held     []byte // a block kept back to come after the next one
		done     = false
		// 65,540 blocks lock-step took 19.7 s once under -race on 2 busy cores:
		// give such a run room.
		deadline = time.Now().Add(60 * time.Second)
	)
	for time.Now().Before(deadline) {
		if done {
			// Stay a little for a lost final ACK, as a real client would.
			conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		} else {
			conn.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
		}
		n, addr, err := conn.ReadFromUDP(buf)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			if done {
				return out.Bytes()
			}
			if peer != nil {
				c.timeouts++
				ack(expected - 1)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		peer = addr
		p, err := parsePacket(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		switch p := p.(type) {
		case pOACK:
			c.oack, _ = unpackOACK(p)
			if ws, ok := c.oack["windowsize"]; ok {
				w, _ = strconv.Atoi(ws)
			} else {
				w = 1
			}
			ack(0)
			continue
		case pERROR:
			t.Fatalf("server: %s", p.message())
		case pDATA:
		default:
			t.Fatalf("unexpected %T", p)
		}
		blocks := [][]byte{append([]byte(nil), buf[:n]...)}
		b := binary.BigEndian.Uint16(buf[2:4])
		c.arrivals = append(c.arrivals, b)
		if c.drop[b] > 0 {
			c.drop[b]--
			continue
		}
		if c.swap[b] && held == nil {
			delete(c.swap, b)
			held = blocks[0]
			continue
		}
		if held != nil {
			blocks = append(blocks, held)
			held = nil
		}
		for _, d := range blocks {
			b := binary.BigEndian.Uint16(d[2:4])
			if c.lockStepProbe > 0 && b != 1 {
				t.Fatalf("lock-step: block %d came before block 1 was ACKed", b)
			}
			if c.lockStepProbe > 0 {
				time.Sleep(c.lockStepProbe)
				c.lockStepProbe = 0
				c.arrivals = c.arrivals[:0]
				conn.SetReadDeadline(time.Now())
				for { // what came meanwhile must all be block 1 again
					n, _, err := conn.ReadFromUDP(buf)
					if err != nil {
						break
					}
					if got := binary.BigEndian.Uint16(buf[2:4]); got != 1 {
						t.Fatalf("lock-step: block %d came before block 1 was ACKed", got)
					}
					_ = n
				}
			}
			if b != expected || done {
				ack(expected - 1)
				inWindow = 0
				continue
			}
			out.Write(d[4:])
			expected++
			inWindow++
			if len(d) < 4+512 {
				done = true
				ack(b)
			} else if inWindow == w {
				ack(b)
				inWindow = 0
			}
		}
	}
	t.Fatal("transfer did not finish")
	return nil
}

func startWindowServer(t *testing.T, max uint, files map[string][]byte) *net.UDPAddr {
	return startWindowServerPorts(t, max, files, false, 100*time.Millisecond)
}

// startWindowServerPorts starts a server of windows up to max; with
// singlePort, one that answers every transfer from its own port, which
// sends a window datagram by datagram.
func startWindowServerPorts(t *testing.T, max uint, files map[string][]byte, singlePort bool, timeout time.Duration) *net.UDPAddr {
	t.Helper()
	s := NewServer(func(name string, rf io.ReaderFrom) error {
		_, err := rf.ReadFrom(bytes.NewReader(files[name]))
		return err
	}, nil)
	if singlePort {
		s.EnableSinglePort()
	}
	s.SetWindowSize(max)
	s.SetTimeout(timeout)
	s.SetRetries(20)
	s.SetBackoff(func(int) time.Duration { return 0 })
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(conn)
	t.Cleanup(s.Shutdown)
	return conn.LocalAddr().(*net.UDPAddr)
}

func TestWindowSize(t *testing.T) {
	data := make([]byte, 200*512+100)
	rand.New(rand.NewSource(1)).Read(data)
	exact := data[:64*512] // ends with an empty block
	big := make([]byte, 65540*512+7)
	rand.New(rand.NewSource(2)).Read(big)
	files := map[string][]byte{"data": data, "exact": exact, "big": big}
	srv := startWindowServer(t, 16, files)
	off := startWindowServer(t, 0, files)
	single := startWindowServerPorts(t, 16, files, true, 100*time.Millisecond)
	// A server that would wait 5 s before sending a window again on its own.
	patient := startWindowServerPorts(t, 16, files, false, 5*time.Second)
	for _, tc := range []struct {
		name, file string
		server     *net.UDPAddr
		c          windowClient
		wantWindow string // in the OACK; "" = no windowsize there
		wantFirst  []uint16
		noTimeout  bool // the client never waits for the server's timeout
	}{
		{name: "window 1", file: "data", server: srv, c: windowClient{window: "1"}, wantWindow: "1"},
		{name: "window 4", file: "data", server: srv, c: windowClient{window: "4"}, wantWindow: "4"},
		{name: "window 16", file: "data", server: srv, c: windowClient{window: "16"}, wantWindow: "16"},
		{name: "window over the server's maximum", file: "data", server: srv, c: windowClient{window: "64"}, wantWindow: "16"},
		{name: "file of whole windows", file: "exact", server: srv, c: windowClient{window: "16"}, wantWindow: "16"},
		{name: "windowsize 0 refused", file: "data", server: srv, c: windowClient{window: "0"}},
		{name: "not negotiated when the server has no maximum", file: "data", server: off, c: windowClient{window: "16"}},
		{
			// An ACK short of the window's end: go back to the block after it.
			name: "window 4, block 2 lost", file: "data", server: srv,
			c:          windowClient{window: "4", drop: map[uint16]int{2: 1}},
			wantWindow: "4", wantFirst: []uint16{1, 2, 3, 4, 2, 3, 4, 5, 6},
		},
		{
			// A lost window-end ACK: the server's timeout sends the window again.
			name: "window 4, ACK of block 4 lost", file: "data", server: srv,
			c:          windowClient{window: "4", dropACK: map[uint16]int{4: 1}},
			wantWindow: "4", wantFirst: []uint16{1, 2, 3, 4, 1, 2, 3, 4, 5},
		},
		{
			// Block 1 lost: the ACKs of 0 for the blocks after it are duplicates of
			// the OACK's, so only the timeout sends the window again.
			name: "window 4, blocks 1 and 4 lost twice", file: "data", server: srv,
			c:          windowClient{window: "4", drop: map[uint16]int{1: 2, 4: 2}},
			wantWindow: "4", wantFirst: []uint16{1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8},
		},
		{
			// The second window's first block lost: the client ACKs block 4 for each
			// block after it, and the first of those sends the window again, long
			// before the server's 5 s timeout or the client's own 250 ms.
			name: "window 4, a window's first block lost", file: "data", server: patient,
			c:          windowClient{window: "4", drop: map[uint16]int{5: 1}},
			wantWindow: "4", wantFirst: []uint16{1, 2, 3, 4, 5, 6, 7, 8, 5, 6, 7, 8, 9}, noTimeout: true,
		},
		{
			name: "window 16, losses and a reorder", file: "data", server: srv,
			c: windowClient{window: "16", drop: map[uint16]int{3: 1, 17: 1, 40: 3, 201: 1},
				dropACK: map[uint16]int{32: 1, 100: 1}, swap: map[uint16]bool{60: true}},
			wantWindow: "16",
		},
		{
			name: "window 16, the final block and its ACK lost", file: "data", server: srv,
			c:          windowClient{window: "16", drop: map[uint16]int{201: 1}, dropACK: map[uint16]int{201: 1}},
			wantWindow: "16",
		},
		{
			// Block numbers wrap to 0 after 65535, inside a window.
			name: "rollover, window 16, losses at the wrap", file: "big", server: srv,
			c: windowClient{window: "16", drop: map[uint16]int{65535: 1, 0: 1, 3: 1},
				dropACK: map[uint16]int{65530: 1}},
			wantWindow: "16",
		},
		{name: "rollover, window 1", file: "big", server: srv, c: windowClient{window: "1"}, wantWindow: "1"},
		{name: "window 4, single port", file: "data", server: single, c: windowClient{window: "4"}, wantWindow: "4"},
		{
			name: "window 4, block 2 lost, single port", file: "data", server: single,
			c:          windowClient{window: "4", drop: map[uint16]int{2: 1}},
			wantWindow: "4", wantFirst: []uint16{1, 2, 3, 4, 2, 3, 4, 5, 6},
		},
		{
			// No windowsize asked for: one block, then nothing new until its ACK.
			name: "lock-step unchanged", file: "data", server: srv,
			c: windowClient{lockStepProbe: 300 * time.Millisecond},
		},
		{name: "lock-step, block 2 lost", file: "data", server: srv, c: windowClient{drop: map[uint16]int{2: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			got := c.get(t, tc.server, tc.file)
			if !bytes.Equal(got, files[tc.file]) {
				t.Fatalf("got %d bytes, want the file's %d", len(got), len(files[tc.file]))
			}
			if ws, ok := c.oack["windowsize"]; ws != tc.wantWindow || ok != (tc.wantWindow != "") {
				t.Errorf("OACK windowsize %q (present %v), want %q", ws, ok, tc.wantWindow)
			}
			if tc.noTimeout && c.timeouts > 0 {
				t.Errorf("the client waited for the server %d times", c.timeouts)
			}
			if n := len(tc.wantFirst); n > 0 && (len(c.arrivals) < n || !equalBlocks(c.arrivals[:n], tc.wantFirst)) {
				t.Errorf("blocks came as %v…, want %v…", c.arrivals[:min(n+4, len(c.arrivals))], tc.wantFirst)
			}
			// Without loss, a window of w blocks costs one ACK per window.
			if w, _ := strconv.Atoi(tc.wantWindow); w > 1 && len(c.drop)+len(c.dropACK)+len(c.swap) == 0 {
				blocks := len(files[tc.file])/512 + 1
				if want := (blocks+w-1)/w + 1; c.acks != want {
					t.Errorf("%d ACKs for %d blocks at window %d, want %d", c.acks, blocks, w, want)
				}
				if len(c.arrivals) != blocks {
					t.Errorf("%d DATA packets for %d blocks", len(c.arrivals), blocks)
				}
			}
		})
	}
}

func equalBlocks(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
