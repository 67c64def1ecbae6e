// Package nfs exports the live medium (or several, each under its own path)
// read-only over NFSv3 so initramfs clients (klibc nfsmount for
// live-boot/casper, dracut's mount.nfs, libnfs) can mount it and loop-mount
// its squashfs.
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
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sharecd/sharecd/netboot/connlimit"
	gonfs "github.com/willscott/go-nfs"
)

// DefaultExport is the export path used when Server.Export is empty.
const DefaultExport = "/sharecd"

// Connection bounds. Each connection costs a descriptor, a 64 KiB read buffer and up to
// maxReadsInFlight READ replies: unbounded, 20,000 idle connections from one host held 862 MB
// and ran the process out of descriptors.
const (
	// DefaultMaxConns: a mounted client holds one connection (Linux shares one per server),
	// plus one for MOUNT while it mounts; 512 serves a room of a few hundred clients.
	DefaultMaxConns = 512
	// DefaultMaxConnsPerClient: one mount, its MOUNT call, and connections a client that
	// rebooted or reconnected left behind (held until they go idle), with room to spare.
	DefaultMaxConnsPerClient = 16
	// DefaultIdleTimeout is generous on purpose. A client running from the share reads its
	// squashfs through its page cache, and once that is warm its connection may carry nothing
	// for a long time. Closing it is harmless: Linux's NFS client itself closes a transport
	// after 5 idle minutes and reconnects on the next call, as it does after a close from
	// us. So this only frees the slots of clients that vanished (powered off, half-open).
	DefaultIdleTimeout = 10 * time.Minute
)

// Server serves one fs.FS, or several under their own export paths, read-only
// as NFSv3 + MOUNT v3 on one TCP listener. Zero fields mean the default.
type Server struct {
	// FS is the medium, rooted at its root. It should implement fs.StatFS,
	// fs.ReadDirFS and fs.ReadLinkFS, and every regular file it opens must
	// implement io.ReaderAt (READ is served with ReadAt). Required unless
	// Exports is set.
	FS fs.FS
	// Export is the path clients mount ("server:/sharecd"); "/" is accepted
	// too. Empty means DefaultExport.
	Export string
	// Exports, when not empty, serves several media at once, each under its
	// own path: path ("/sharecd/debian-live") → that medium's tree, with the
	// same requirements as FS. FS and Export must then be unset. A client
	// mounts an export's path or a directory below it (the longest matching
	// path wins when exports nest); "/" and any other path are MNT3ERR_NOENT
	// unless "/" is itself an export. A file handle belongs to the export it
	// came from: it never resolves in another one.
	Exports map[string]fs.FS
	// Allow says whether a client may connect and mount. It is checked when
	// a connection is accepted and again at MNT. Nil allows everyone.
	Allow func(netip.Addr) bool
	// Log gets connection and mount logs. Nil discards.
	Log *slog.Logger
	// MaxConns bounds the NFS connections open at once; one more is closed at once, and its
	// client tries again later. Zero means DefaultMaxConns.
	MaxConns int
	// MaxConnsPerClient bounds one client address's connections. Zero means
	// DefaultMaxConnsPerClient.
	MaxConnsPerClient int
	// IdleTimeout closes a connection whose client has sent nothing for that long. Zero means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// OnEvent is told of a client's progress: "mount", and "read <path>" the
	// first time the client READs a file (paths relative to the medium's
	// root, e.g. "read live/filesystem.squashfs"). With Exports, both name
	// the export: "mount /sharecd/debian-live" and, with the export's path in
	// front of the file's, "read /sharecd/debian-live/live/filesystem.squashfs"
	// (so these paths start with "/", a single medium's never do). It is
	// called from the serving goroutines and must not block. Nil means none.
	OnEvent func(client netip.Addr, what string)

	mu   sync.Mutex
	in   *instance    // while Serve runs: the latest one
	next []exportSpec // from SetExports before Serve made its instance
}

// SetExports replaces the exports while the server serves (or before it starts): path →
// tree, with Exports' rules, except that a lone export is served as FS and Export would be.
// An export kept under the same path with the same tree keeps its handles, open files and
// file IDs, so clients running from it go on as if nothing happened; a new one is as Exports
// would make it; a removed one answers its clients' handles as stale from now on, and its
// open files are closed.
func (s *Server) SetExports(exports map[string]fs.FS) error {
	specs, err := cleanExports(exports)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.in == nil {
		s.next = specs
		return nil
	}
	set, removed, err := s.in.h.newSet(specs, len(specs) > 1)
	if err != nil {
		return err
	}
	s.in.h.set.Store(set)
	for _, ex := range removed {
		ex.fs.close()
	}
	s.in.log.Debug("NFS exports changed", "exports", set.paths())
	return nil
}

// Users lists the clients that made a call on the export at path (its exact path, as given)
// at or after since, in address order; none when the server does not serve it.
func (s *Server) Users(path string, since time.Time) []netip.Addr {
	s.mu.Lock()
	in := s.in
	s.mu.Unlock()
	if in == nil {
		return nil
	}
	for _, ex := range in.h.set.Load().exports {
		if ex.path == pathClean(path) {
			return ex.usersSince(since)
		}
	}
	return nil
}

func pathClean(p string) string { return path.Clean("/" + p) }

// exportSpec is one export as configured: its clean path and its tree.
type exportSpec struct {
	path string
	fsys fs.FS
}

// exportSpecs checks FS/Export/Exports and returns the exports to serve,
// sorted by path, and whether they came from Exports.
func (s *Server) exportSpecs() (specs []exportSpec, multi bool, err error) {
	if len(s.Exports) == 0 {
		if s.FS == nil {
			return nil, false, errors.New("no filesystem")
		}
		ex := DefaultExport
		if s.Export != "" {
			ex = path.Clean("/" + s.Export)
		}
		return []exportSpec{{ex, s.FS}}, false, nil
	}
	if s.FS != nil || s.Export != "" {
		return nil, true, errors.New("both FS/Export and Exports set")
	}
	specs, err = cleanExports(s.Exports)
	return specs, true, err
}

// cleanExports checks an Exports map and returns it as specs sorted by path.
func cleanExports(exports map[string]fs.FS) (specs []exportSpec, err error) {
	if len(exports) == 0 {
		return nil, errors.New("no export")
	}
	seen := make(map[string]string, len(exports))
	for p, fsys := range exports {
		if p == "" || fsys == nil {
			return nil, fmt.Errorf("export %q: empty path or no filesystem", p)
		}
		clean := pathClean(p)
		if len(clean) > maxMountPath {
			return nil, fmt.Errorf("export %q: path longer than MNTPATHLEN (%d)", p, maxMountPath)
		}
		if prev, dup := seen[clean]; dup {
			return nil, fmt.Errorf("exports %q and %q are the same path", prev, p)
		}
		seen[clean] = p
		specs = append(specs, exportSpec{clean, fsys})
	}
	slices.SortFunc(specs, func(a, b exportSpec) int { return strings.Compare(a.path, b.path) })
	return specs, nil
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
	pipes  *pipePool // READ data's way to the socket (splice_linux.go)
}

func newInstance(s *Server) (*instance, error) {
	log := s.logger()
	s.mu.Lock()
	defer s.mu.Unlock()
	specs, multi, err := s.exportSpecs()
	if s.next != nil {
		specs, multi, err = s.next, len(s.next) > 1, nil
	}
	if err != nil {
		return nil, err
	}
	h, err := newHandler(s, specs, multi, log)
	if err != nil {
		return nil, err
	}
	s.in = &instance{
		s:     s,
		h:     h,
		log:   log,
		conns: make(map[*gapConn]struct{}),
		reads: make(map[readKey]struct{}),
		pipes: newPipePool(),
	}
	return s.in, nil
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
	in.pipes.close()
	// Under the server's lock: a SetExports racing the stop either swaps first (and closes
	// what it removed) or finds no instance.
	in.s.mu.Lock()
	if in.s.in == in {
		in.s.in = nil
	}
	for _, ex := range in.h.set.Load().exports {
		ex.fs.close()
	}
	in.s.mu.Unlock()
}

// Serve serves NFS and MOUNT on l until ctx is done, then closes l and every
// connection and returns nil. Another failure of l is returned.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	in, err := newInstance(s)
	if err != nil {
		_ = l.Close()
		return fmt.Errorf("serving NFS: %w", err)
	}
	l = &connlimit.Listener{
		Listener:  l,
		Name:      "NFS",
		Max:       orDefault(s.MaxConns, DefaultMaxConns),
		PerClient: orDefault(s.MaxConnsPerClient, DefaultMaxConnsPerClient),
		Idle:      orDefault(s.IdleTimeout, DefaultIdleTimeout),
		Log:       in.log,
	}
	srv := &gonfs.Server{Handler: in.h, ID: in.h.set.Load().exports[0].id, Context: ctx}
	in.log.Debug("serving NFS", "addr", l.Addr(), "exports", in.h.set.Load().paths())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(&gapListener{Listener: l, in: in}) }()

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

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
