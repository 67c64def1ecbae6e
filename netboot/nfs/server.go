// Package nfs exports the live medium read-only over NFSv3 so initramfs
// clients (klibc nfsmount for live-boot/casper, dracut's mount.nfs, libnfs)
// can mount it and loop-mount its squashfs.
//
// NFSv3 and MOUNT v3 come from github.com/willscott/go-nfs, unmodified. This
// package adds what it lacks: a read-only billy adapter over an fs.FS with
// cached open files, deterministic file handles, an RPC layer in front of
// go-nfs that answers the calls it gets wrong or not at all, and a portmapper
// (klibc nfsmount only ever asks port 111).
package nfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"path"
	"sync"

	gonfs "github.com/willscott/go-nfs"
)

// DefaultExport is the export path used when Server.Export is empty.
const DefaultExport = "/sharecd"

// Server serves one fs.FS read-only as NFSv3 + MOUNT v3 on one TCP listener.
// Zero fields mean the default.
type Server struct {
	// FS is the medium, rooted at its root. It should implement fs.StatFS,
	// fs.ReadDirFS and fs.ReadLinkFS, and every regular file it opens must
	// implement io.ReaderAt (READ is served with ReadAt). Required.
	FS fs.FS
	// Export is the path clients mount ("server:/sharecd"); "/" is accepted
	// too. Empty means DefaultExport.
	Export string
	// Allow says whether a client may connect and mount. It is checked when
	// a connection is accepted and again at MNT. Nil allows everyone.
	Allow func(netip.Addr) bool
	// Log gets connection and mount logs. Nil discards.
	Log *slog.Logger
	// OnEvent is told of a client's progress: "mount", and "read <path>" the
	// first time the client READs a file (paths relative to the medium's
	// root, e.g. "read live/filesystem.squashfs"). It is called from the
	// serving goroutines and must not block. Nil means none.
	OnEvent func(client netip.Addr, what string)
}

func (s *Server) export() string {
	if s.Export == "" {
		return DefaultExport
	}
	return path.Clean("/" + s.Export)
}

func (s *Server) allowed(ip netip.Addr) bool {
	return s.Allow == nil || s.Allow(ip)
}

func (s *Server) event(ip netip.Addr, what string) {
	if s.OnEvent != nil {
		s.OnEvent(ip, what)
	}
}

func (s *Server) logger() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// instance is the state of one Serve call.
type instance struct {
	s   *Server
	h   *handler
	log *slog.Logger

	mu     sync.Mutex
	conns  map[*gapConn]struct{}
	closed bool
	reads  map[readKey]struct{}
	attrs  sync.Map // file name → encoded post_op_attr, for the READ fast path
}

func newInstance(s *Server) *instance {
	log := s.logger()
	rofs := newROFS(s.FS)
	return &instance{
		s:     s,
		h:     newHandler(s, rofs, log),
		log:   log,
		conns: make(map[*gapConn]struct{}),
		reads: make(map[readKey]struct{}),
	}
}

func (in *instance) track(c *gapConn) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return false
	}
	in.conns[c] = struct{}{}
	return true
}

func (in *instance) untrack(c *gapConn) {
	in.mu.Lock()
	defer in.mu.Unlock()
	delete(in.conns, c)
}

// shutdown closes every connection: go-nfs does not close them when its
// context ends.
func (in *instance) shutdown() {
	in.mu.Lock()
	in.closed = true
	conns := make([]*gapConn, 0, len(in.conns))
	for c := range in.conns {
		conns = append(conns, c)
	}
	in.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	in.h.fs.close()
}

// Serve serves NFS and MOUNT on l until ctx is done, then closes l and every
// connection and returns nil. Another failure of l is returned.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	if s.FS == nil {
		_ = l.Close()
		return errors.New("serving NFS: no filesystem")
	}
	in := newInstance(s)
	srv := &gonfs.Server{Handler: in.h, ID: in.h.id, Context: ctx}
	in.log.Debug("serving NFS", "addr", l.Addr(), "export", in.h.export)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(&gapListener{Listener: l, in: in}) }()

	var err error
	select {
	case <-ctx.Done():
		_ = l.Close()
		<-errc
	case err = <-errc:
	}
	in.shutdown()
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("serving NFS on %v: %w", l.Addr(), err)
}
