// Package httpd serves the boot tree read-only over HTTP, for initrds that fetch their root image
// by URL (dracut's livenet: root=live:http://…) rather than mounting it over NFS.
package httpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/sharecd/sharecd/netboot/connlimit"
	"github.com/sharecd/sharecd/netboot/tcpcc"
	"github.com/sharecd/sharecd/netboot/tftp"
)

// Server serves FS over HTTP: GET and HEAD of regular files only, with ranges, nothing else.
type Server struct {
	FS fs.FS
	// Allow decides which clients are served; nil serves everyone.
	Allow func(netip.Addr) bool
	// OnStart is called when a client starts fetching a file (not for HEAD or a range that
	// starts past 0, so a resumed download is one event); nil = nothing.
	OnStart func(client netip.Addr, file string)
	// OnDone is called when such a download has sent the whole file; nil = nothing.
	OnDone func(client netip.Addr, file string)
	// MaxConns bounds the connections open at once. Zero means DefaultMaxConns.
	MaxConns int
	// MaxConnsPerClient bounds one client address's connections. Zero means
	// DefaultMaxConnsPerClient.
	MaxConnsPerClient int
	Log               *slog.Logger
}

// Connection bounds. net/http waits out an accept error itself, but without a bound one host's
// idle connections (each held ReadHeaderTimeout, then IdleTimeout) take every descriptor the
// process has, and TFTP and NFS with them.
const (
	// DefaultMaxConns: iPXE and GRUB fetch a kernel and an initrd one after the other over one
	// connection, dracut's initrd its image: one or two per booting client.
	DefaultMaxConns = 256
	// DefaultMaxConnsPerClient: iPXE opens a new connection per file, and the previous one may
	// not be closed yet; 8 is several times what a booting client holds.
	DefaultMaxConnsPerClient = 8
)

// Serve answers requests on ln until ctx ends; it closes ln and returns nil then.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	max, per := s.MaxConns, s.MaxConnsPerClient
	if max == 0 {
		max = DefaultMaxConns
	}
	if per == 0 {
		per = DefaultMaxConnsPerClient
	}
	// No Idle here: net/http sets its own read deadlines (below).
	ln = &connlimit.Listener{Listener: ln, Name: "HTTP", Max: max, PerClient: per, Log: s.log()}
	srv := &http.Server{
		Handler: s,
		// A client that opens a connection and sends nothing must not hold it forever; a
		// download of a multi-GiB image may take as long as it needs.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log().Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		// Kernels and initrds go out unpaced (package tcpcc says why).
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			tcpcc.Unpace(c)
			return ctx
		},
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		srv.Close() // also ends downloads in flight: the share is over
	}()
	err := srv.Serve(ln)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// ServeHTTP answers one request. Every refusal names no reason to the client; the log has it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	client := remoteAddr(r)
	if s.Allow != nil && !s.Allow(client) {
		s.log().Warn("http: refused a client outside the LAN", "client", client)
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "read-only", http.StatusMethodNotAllowed)
		return
	}
	name, err := tftp.CleanPath(r.URL.Path)
	if err != nil {
		s.log().Debug("http: refused name", "client", client, "path", r.URL.Path, "err", err)
		http.NotFound(w, r)
		return
	}
	f, err := s.FS.Open(name)
	if err != nil {
		s.log().Debug("http: not served", "client", client, "file", name, "err", err)
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	rs, ok := f.(io.ReadSeeker)
	if !ok {
		s.log().Error("http: file cannot seek", "file", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if sec, err := imageSectionOf(f, fi.Size()); err != nil {
		s.log().Debug("http: reading through the ISO reader", "file", name, "err", err)
	} else if sec != nil {
		defer sec.Close()
		rs = sec
	}
	whole := r.Method == http.MethodGet && !strings.HasPrefix(r.Header.Get("Range"), "bytes=")
	if whole && s.OnStart != nil {
		s.OnStart(client, name)
	}
	cw := &countingWriter{ResponseWriter: w}
	s.log().Debug("http: sending", "client", client, "file", name, "size", fi.Size(), "range", r.Header.Get("Range"))
	// ServeContent does ranges, HEAD and If-Modified-Since. The content type is fixed: the
	// medium's files are images and kernels, and sniffing would read from them for nothing.
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(cw, r, "", fi.ModTime(), rs)
	if whole && s.OnDone != nil && cw.n == fi.Size() {
		s.OnDone(client, name)
	}
}

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

// ReadFrom keeps the response's own ReadFrom reachable, so a medium that is a directory goes out
// with sendfile(2), as from any web server, instead of through a user-space buffer.
func (w *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	n, err := io.Copy(w.ResponseWriter, r)
	w.n += n
	return n, err
}

// imageSection is a file of an ISO medium that is one run of the image,
// served from a descriptor of the image of its own. Its position is that
// descriptor's offset, and SyscallConn hands the descriptor to the net
// package, which then sends with sendfile(2) as it does for a directory
// medium's *os.File; through the ISO reader it went in 32 KiB copies.
type imageSection struct {
	f          *os.File
	base, size int64
}

// imageSectionOf returns f as an imageSection, or nil when f is not an ISO
// medium's file in one extent (a directory medium's files are *os.File
// already, a device is read with ReadAt).
func imageSectionOf(f fs.File, size int64) (*imageSection, error) {
	e, ok := f.(interface {
		Extent(off, n int64) (*os.File, int64, bool)
	})
	if !ok || size == 0 {
		return nil, nil
	}
	img, base, ok := e.Extent(0, size)
	if !ok {
		return nil, nil
	}
	// A new open file description, not dup(2): its offset is this request's alone.
	sc, err := img.SyscallConn()
	if err != nil {
		return nil, err
	}
	var priv *os.File
	cerr := sc.Control(func(fd uintptr) { priv, err = os.Open(fmt.Sprintf("/proc/self/fd/%d", fd)) })
	if err = errors.Join(cerr, err); err != nil {
		return nil, fmt.Errorf("opening the image again: %w", err)
	}
	if _, err := priv.Seek(base, io.SeekStart); err != nil {
		priv.Close()
		return nil, err
	}
	return &imageSection{f: priv, base: base, size: size}, nil
}

func (s *imageSection) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		cur, err := s.f.Seek(0, io.SeekCurrent)
		if err != nil {
			return 0, err
		}
		off += cur - s.base
	case io.SeekEnd:
		off += s.size
	default:
		return 0, errors.New("seek: bad whence")
	}
	if off < 0 {
		return 0, errors.New("seek: negative position")
	}
	_, err := s.f.Seek(s.base+off, io.SeekStart)
	return off, err
}

func (s *imageSection) Read(p []byte) (int, error) {
	cur, err := s.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	rest := s.base + s.size - cur
	if rest <= 0 {
		return 0, io.EOF
	}
	return s.f.Read(p[:min(int64(len(p)), rest)])
}

// SyscallConn is what makes the net package send with sendfile(2). It sends
// what ServeContent's io.CopyN limits it to, from the descriptor's offset,
// which Seek keeps inside the section.
func (s *imageSection) SyscallConn() (syscall.RawConn, error) { return s.f.SyscallConn() }

func (s *imageSection) Close() error { return s.f.Close() }

func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
