// Package httpd serves the boot tree read-only over HTTP, for initrds that fetch their root image
// by URL (dracut's livenet: root=live:http://…) rather than mounting it over NFS.
package httpd

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

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
	Log    *slog.Logger
}

// Serve answers requests on ln until ctx ends; it closes ln and returns nil then.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler: s,
		// A client that opens a connection and sends nothing must not hold it forever; a
		// download of a multi-GiB image may take as long as it needs.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log().Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
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

func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
