// Package tftp serves the boot tree (generated menus over the boot loaders over the medium)
// read-only over TFTP with github.com/pin/tftp.
package tftp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pin/tftp/v3"

	"github.com/sharecd/sharecd/netboot/connlimit"
)

// Transfer describes one finished (or failed) read request, for progress reporting.
type Transfer struct {
	Client netip.Addr
	File   string // the cleaned path inside the tree
	Bytes  int64  // bytes handed to the client
	Size   int64  // the file's size
	Err    error  // nil when the whole file was sent
}

// Server serves FS over TFTP. Zero values of the optional fields mean "default".
type Server struct {
	FS fs.FS // the boot tree

	// Allow decides which clients are served; nil serves everyone.
	Allow func(netip.Addr) bool
	// Timeout per packet before a resend. A lost packet costs the whole timeout, and pin/tftp's
	// default of 5 s makes a ROM on a lossy link crawl, so the default here is tftpd-hpa's 1 s.
	// A client that is merely slow gets a duplicate block, which it ignores or re-ACKs.
	Timeout time.Duration
	// Window is the largest RFC 7440 windowsize granted to a client that asks for one (OVMF
	// asks for 4): that many blocks go out before the client's ACK, and a lost one is sent
	// again from the client's ACK of the block before it. Clients that do not ask (pxelinux,
	// GRUB, iPXE) stay lock-step. Zero means DefaultWindow; 1 keeps every client lock-step.
	Window uint
	// OnStart is called when a file starts going out and OnDone when it ends; either may be nil.
	OnStart func(Transfer)
	OnDone  func(Transfer)
	// MaxTransfers bounds the transfers in flight; a read request over it is answered with an
	// ERROR packet ("server busy"). Zero means DefaultMaxTransfers.
	MaxTransfers int
	// MaxTransfersPerClient bounds one client address's transfers in flight. Zero means
	// DefaultMaxTransfersPerClient.
	MaxTransfersPerClient int
	Log                   *slog.Logger
}

// Transfer bounds. A transfer holds a UDP socket, an open file and about 100 KB until it ends,
// and one whose client never ACKs holds them for the ~30 s of resends: unbounded, 3,000 such
// requests in 5 s took every descriptor from HTTP and the portmapper.
const (
	// DefaultMaxTransfers: a booting client fetches one file at a time over TFTP, and only its
	// loader, menu or script (kernels go over HTTP), so 128 serves a room of a hundred clients
	// powered on at once.
	DefaultMaxTransfers = 128
	// DefaultMaxTransfersPerClient: one transfer, plus those a ROM left behind when it timed
	// out and asked again from a new port (each held until its resends run out).
	DefaultMaxTransfersPerClient = 8
)

// DefaultWindow bounds what a client's windowsize may make a transfer hold: one block buffer
// per block of the window (23 KB at 1468-byte blocks), kept until the window's ACK.
const DefaultWindow = 16

// ErrBusy is what a client over a bound is told; it may ask again later.
var ErrBusy = errors.New("server busy, try again later")

// resends is how many times a block is sent again before its client is given up: with
// resendPause, after about 30 s of silence (a few seconds once the server is stopping).
const resends = 6

// resendPause is how long pin/tftp waits, after a block's timeout, before sending it again the
// attempt-th time. Its own default sleeps up to 1 s at random; each transfer resends only its own
// block to its one client, so the first two resends go at once and a lost packet costs one
// timeout. After that the server falls silent for longer than a client's own timeout (5 s for
// atftp and tftp-hpa): atftp answers a repeated block with one extra ACK and then ignores the
// repeats, so when that ACK is lost too, only its timeout's ACK can move the transfer on, and
// repeats every second would keep that timeout from ever running out.
func resendPause(attempt int) time.Duration {
	if attempt < 2 {
		return 0
	}
	return 6 * time.Second
}

// ErrNotFound is what a client is told for every file it may not have: missing, outside the
// tree, refused by name. The real reason stays in the server's log.
var ErrNotFound = errors.New("file not found")

// Serve answers read requests on conn until ctx ends; it closes conn and returns nil then.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	lim := &connlimit.Counter{Max: s.MaxTransfers, PerClient: s.MaxTransfersPerClient}
	if lim.Max == 0 {
		lim.Max = DefaultMaxTransfers
	}
	if lim.PerClient == 0 {
		lim.PerClient = DefaultMaxTransfersPerClient
	}
	read := func(name string, rf io.ReaderFrom) error { return s.read(lim, name, rf) }
	srv := tftp.NewServer(read, nil) // nil write handler: every write request is refused
	timeout := s.Timeout
	if timeout == 0 {
		timeout = time.Second
	}
	srv.SetTimeout(timeout)
	srv.SetBackoff(func(attempt int) time.Duration {
		// pin/tftp sleeps what this returns and nothing wakes it: wait here instead, so that a
		// stopping server does not sit out a pause (Shutdown waits for every transfer).
		if d := resendPause(attempt); d > 0 {
			// pin/tftp does not tell whose block this is; the transfer's end is logged with
			// its client.
			s.log().Debug("tftp: a client is silent; pausing before the next resend", "attempt", attempt, "pause", d)
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
			case <-t.C:
			}
		}
		return 0
	})
	srv.SetRetries(resends)
	window := s.Window
	if window == 0 {
		window = DefaultWindow
	}
	srv.SetWindowSize(window)
	srv.SetHook(statsLog{s.log()})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(conn) }()
	select {
	case <-ctx.Done():
		srv.Shutdown()
		<-done
		return nil
	case err := <-done:
		return fmt.Errorf("tftp server: %w", err)
	}
}

// statsLog logs what each transfer negotiated and cost, which pin/tftp tells only its hook:
// the window a client asked for shows up nowhere else.
type statsLog struct{ log *slog.Logger }

func (h statsLog) OnSuccess(st tftp.TransferStats) { h.logStats(st, nil) }

func (h statsLog) OnFailure(st tftp.TransferStats, err error) { h.logStats(st, err) }

func (h statsLog) logStats(st tftp.TransferStats, err error) {
	window := st.Opts["windowsize"]
	if window == "" {
		window = "1"
	}
	h.log.Debug("tftp: transfer stats", "client", st.RemoteAddr, "file", st.Filename, "window", window,
		"blksize", st.Opts["blksize"], "datagrams", st.DatagramsSent, "acks", st.DatagramsAcked,
		"duration", st.Duration.Round(time.Millisecond), "err", err)
}

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

func (s *Server) read(lim *connlimit.Counter, name string, rf io.ReaderFrom) error {
	var client netip.Addr
	if ot, ok := rf.(tftp.OutgoingTransfer); ok {
		ra := ot.RemoteAddr()
		client, _ = netip.AddrFromSlice(ra.IP)
		client = client.Unmap()
	}
	if s.Allow != nil && !s.Allow(client) {
		s.log().Debug("tftp: client not allowed", "client", client, "file", name)
		return errors.New("access denied")
	}
	// Before the file is opened: a refused request costs only the socket pin/tftp already
	// opened, and that is closed with the ERROR.
	ok, over, n := lim.Take(client)
	if !ok {
		var why string
		switch over {
		case connlimit.OverTotal:
			why = "transfers at their bound"
		case connlimit.OverClient:
			why = "client at its bound of transfers"
		}
		if why != "" {
			s.log().Warn("tftp: refusing read requests: "+why+" (logged once until it is under its bound again)",
				"client", client, "transfers", n, "max", lim.Max, "per_client", lim.PerClient)
		}
		return ErrBusy
	}
	defer lim.Give(client)
	clean, err := CleanPath(name)
	if err != nil {
		s.log().Debug("tftp: refused name", "client", client, "file", name, "err", err)
		return ErrNotFound
	}
	f, size, err := s.open(clean)
	if err != nil {
		s.log().Debug("tftp: not served", "client", client, "file", clean, "err", err)
		return ErrNotFound
	}
	defer f.Close()
	if ot, ok := rf.(tftp.OutgoingTransfer); ok {
		// tsize from the size we know: OVMF asks for it before every download, and pin/tftp
		// would otherwise seek the reader to find it.
		ot.SetSize(size)
	}

	t := Transfer{Client: client, File: clean, Size: size}
	if s.OnStart != nil {
		s.OnStart(t)
	}
	// pin/tftp reads one block at a time: through the buffer that is one read of the medium
	// per 44 blocks of 1468 bytes, not one per block.
	cr := &countingReader{r: bufio.NewReaderSize(f, 64<<10)}
	_, err = rf.ReadFrom(cr)
	t.Bytes, t.Err = cr.n.Load(), err
	if err != nil {
		s.log().Debug("tftp: transfer ended early", "client", client, "file", clean, "bytes", t.Bytes, "err", err)
	} else {
		s.log().Debug("tftp: sent", "client", client, "file", clean, "bytes", t.Bytes)
	}
	if s.OnDone != nil {
		s.OnDone(t)
	}
	// The transfer itself already told the client; returning the error again would make
	// pin/tftp send a second ERROR packet.
	return nil
}

// open returns a regular file of the tree and its size.
func (s *Server) open(name string) (fs.File, int64, error) {
	f, err := s.FS.Open(name)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s: not a regular file", name)
	}
	return f, fi.Size(), nil
}

// CleanPath turns a client's file name into a path inside the tree, or an error for a name that
// must not be served. GRUB asks with absolute paths ("/live/vmlinuz") and Windows-minded ROMs use
// backslashes, so both are normalised; ".." is refused outright rather than resolved, so no name
// can climb out of the tree.
func CleanPath(name string) (string, error) {
	if len(name) > 1024 {
		return "", errors.New("name too long")
	}
	if strings.ContainsRune(name, 0) {
		return "", errors.New("NUL in name")
	}
	name = strings.ReplaceAll(name, `\`, "/")
	var parts []string
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".":
			continue
		case "..":
			return "", errors.New("parent directory in name")
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "", errors.New("empty name")
	}
	clean := strings.Join(parts, "/")
	if !fs.ValidPath(clean) {
		return "", errors.New("invalid name")
	}
	return clean, nil
}

// countingReader counts what went out.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
