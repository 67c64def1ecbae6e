package nfs

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"path"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	billy "github.com/go-git/go-billy/v5"
	gonfs "github.com/willscott/go-nfs"
)

// File handles.
//
// go-nfs's CachingHandler hands out random handles kept in an LRU: a client
// that boots from the share gets ESTALE once its handle is evicted, or when
// sharecd restarts, and a live system with its root on NFS cannot recover from
// that. The medium never changes while it is shared, so a handle here is a pure
// function of the export and the path:
//
//	exportID (8 bytes) || SHA-256(exportID || path)[:16]
//
// exportID hashes the export path and the medium's root listing, so a handle
// from a different medium shared under the same path is STALE rather than
// silently naming another file. With several exports, exportID is also what
// picks the export a handle belongs to: the path half is looked up in that
// export's table only, so a handle never names a file of another export (a
// forged one, another export's ID with this one's key, is simply STALE).
// Handles we have not handed out since start (a client from before a restart)
// are found by walking the medium once.
const (
	handleLen   = 24
	maxNFSFH    = 64      // NFS3_FHSIZE
	maxWalkObjs = 2 << 20 // bound on the one-time walk, far above any live medium
)

var (
	errBadHandle = errors.New("malformed file handle")
	errStale     = errors.New("stale file handle")
)

// export is one exported medium and the handles handed out for it.
type export struct {
	path string // clean, absolute: what clients mount
	id   [8]byte
	fs   *roFS
	log  *slog.Logger

	mu    sync.RWMutex
	paths map[[16]byte]string

	walk  sync.Once
	attrs sync.Map // file name → encoded post_op_attr, for the READ fast path
	// used is when each client last made a call on this export (netip.Addr → *atomic.Int64
	// of Unix nanoseconds): what says whether a medium being taken out is still in use.
	used sync.Map
}

// touch records that client made a call on the export now.
func (ex *export) touch(client netip.Addr) {
	now := time.Now().UnixNano()
	if v, ok := ex.used.Load(client); ok {
		v.(*atomic.Int64).Store(now)
		return
	}
	t := new(atomic.Int64)
	t.Store(now)
	if v, loaded := ex.used.LoadOrStore(client, t); loaded {
		v.(*atomic.Int64).Store(now)
	}
}

// usersSince lists the clients that made a call on the export at or after since.
func (ex *export) usersSince(since time.Time) []netip.Addr {
	var out []netip.Addr
	ex.used.Range(func(k, v any) bool {
		if time.Unix(0, v.(*atomic.Int64).Load()).Before(since) {
			return true
		}
		out = append(out, k.(netip.Addr))
		return true
	})
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func newExport(spec exportSpec, multi bool, log *slog.Logger) *export {
	idPrefix := ""
	if multi {
		idPrefix = spec.path + "\x00"
	}
	rofs := newROFS(spec.fsys, idPrefix)
	ex := &export{
		path:  spec.path,
		id:    exportID(spec.path, rofs.fsys),
		fs:    rofs,
		log:   log,
		paths: make(map[[16]byte]string),
	}
	ex.register(".")
	return ex
}

type handler struct {
	s   *Server
	set atomic.Pointer[exportSet] // swapped whole by Server.SetExports
	log *slog.Logger
}

// exportSet is what a handler serves at one time; never changed once made, only replaced.
type exportSet struct {
	exports []*export // sorted by path; one unless Server.Exports or SetExports gave several
	byID    map[[8]byte]*export
	byFS    map[*roFS]*export
	// multi is set when the exports came from Server.Exports (or SetExports gave several): MNT
	// takes only an export's path or a directory below it, and events name the export.
	multi bool
}

var _ gonfs.Handler = (*handler)(nil)

func newHandler(s *Server, specs []exportSpec, multi bool, log *slog.Logger) (*handler, error) {
	h := &handler{s: s, log: log}
	set, _, err := h.newSet(specs, multi)
	if err != nil {
		return nil, err
	}
	h.set.Store(set)
	return h, nil
}

// newSet makes the set serving specs. An export the current set already serves under the same
// path from the same tree is kept as it is, with its handles, open files and file IDs, so that
// clients running from it notice nothing; removed are the current set's exports left out.
func (h *handler) newSet(specs []exportSpec, multi bool) (set *exportSet, removed []*export, err error) {
	old := h.set.Load()
	set = &exportSet{
		byID:  make(map[[8]byte]*export, len(specs)),
		byFS:  make(map[*roFS]*export, len(specs)),
		multi: multi,
	}
	kept := map[*export]bool{}
	for _, spec := range specs {
		var ex *export
		if old != nil {
			for _, o := range old.exports {
				if o.path == spec.path && sameFS(o.fs.fsys, spec.fsys) {
					ex, kept[o] = o, true
				}
			}
		}
		if ex == nil {
			ex = newExport(spec, multi, h.log)
		}
		if prev, ok := set.byID[ex.id]; ok {
			// 64 bits of SHA-256 over different paths: not expected to ever happen, but two
			// exports sharing an ID would share handles.
			return nil, nil, fmt.Errorf("exports %s and %s hash to the same ID", prev.path, ex.path)
		}
		set.exports = append(set.exports, ex)
		set.byID[ex.id] = ex
		set.byFS[ex.fs] = ex
	}
	if old != nil {
		for _, o := range old.exports {
			if !kept[o] {
				removed = append(removed, o)
			}
		}
	}
	return set, removed, nil
}

// sameFS says whether a and b are the same tree; trees of a type that cannot be compared are
// taken as different (their export is made anew).
func sameFS(a, b fs.FS) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	return ta == tb && ta != nil && ta.Comparable() && a == b
}

// paths lists the export paths, for logs.
func (set *exportSet) paths() []string {
	ps := make([]string, len(set.exports))
	for i, ex := range set.exports {
		ps[i] = ex.path
	}
	return ps
}

// exportID identifies this export of this medium: the export path plus the
// names, sizes, modes and times of the root's entries.
func exportID(export string, fsys fs.FS) [8]byte {
	d := sha256.New()
	d.Write([]byte("sharecd-nfs-v1\x00" + export + "\x00"))
	if ents, err := fs.ReadDir(fsys, "."); err == nil {
		for _, e := range ents {
			d.Write([]byte(e.Name() + "\x00"))
			if fi, err := e.Info(); err == nil {
				d.Write([]byte(fi.Mode().String() + "\x00" + fi.ModTime().UTC().String() + "\x00"))
				var sz [8]byte
				for i := range sz {
					sz[i] = byte(fi.Size() >> (8 * i))
				}
				d.Write(sz[:])
			}
		}
	}
	var id [8]byte
	copy(id[:], d.Sum(nil))
	return id
}

func (ex *export) key(name string) [16]byte {
	sum := sha256.Sum256(append(ex.id[:], name...))
	var k [16]byte
	copy(k[:], sum[:])
	return k
}

func (ex *export) handleOf(k [16]byte) []byte {
	fh := make([]byte, 0, handleLen)
	fh = append(fh, ex.id[:]...)
	return append(fh, k[:]...)
}

// register records name (already cleaned) and returns its handle.
func (ex *export) register(name string) []byte {
	k := ex.key(name)
	ex.mu.RLock()
	_, ok := ex.paths[k]
	ex.mu.RUnlock()
	if !ok {
		ex.mu.Lock()
		ex.paths[k] = name
		ex.mu.Unlock()
	}
	return ex.handleOf(k)
}

// resolve maps a handle back to its export and clean path: errBadHandle when
// it is not one of ours at all, errStale when it is shaped like ours but names
// nothing in the export its ID names.
func (h *handler) resolve(fh []byte) (*export, string, error) {
	if len(fh) != handleLen {
		return nil, "", errBadHandle
	}
	ex, ok := h.set.Load().byID[[8]byte(fh[:8])]
	if !ok {
		return nil, "", errStale
	}
	k := [16]byte(fh[8:])
	if name, ok := ex.lookup(k); ok {
		return ex, name, nil
	}
	ex.walk.Do(ex.walkMedium)
	if name, ok := ex.lookup(k); ok {
		return ex, name, nil
	}
	return nil, "", errStale
}

func (ex *export) lookup(k [16]byte) (string, bool) {
	ex.mu.RLock()
	defer ex.mu.RUnlock()
	name, ok := ex.paths[k]
	return name, ok
}

// walkMedium registers every path on the medium, once, so handles issued by a
// previous run of sharecd resolve again.
func (ex *export) walkMedium() {
	n := 0
	err := fs.WalkDir(ex.fs.fsys, ".", func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable directory: skip it, keep walking
		}
		ex.register(p)
		if n++; n >= maxWalkObjs {
			return fs.SkipAll
		}
		return nil
	})
	ex.log.Debug("walked medium for file handles", "export", ex.path, "objects", n, "err", err)
}

// mountEvent and readEvent are OnEvent's words; see Server.OnEvent.
func (h *handler) mountEvent(ex *export) string {
	if !h.set.Load().multi {
		return "mount"
	}
	return "mount " + ex.path
}

func (h *handler) readEvent(ex *export, name string) string {
	if !h.set.Load().multi {
		return "read " + name
	}
	return "read " + path.Join(ex.path, name)
}

// Mount answers MOUNT MNT. go-nfs hands us the (gap-layer wrapped) conn, so
// the peer address is the client's.
func (h *handler) Mount(_ context.Context, c net.Conn, req gonfs.MountRequest) (gonfs.MountStatus, billy.Filesystem, []gonfs.AuthFlavor) {
	peer := peerAddr(c.RemoteAddr())
	dir := string(req.Dirpath)
	if !h.s.allowed(peer) {
		h.log.Info("mount refused: client not allowed", "client", peer, "path", dir)
		return gonfs.MountStatusErrAcces, nil, nil
	}
	ex, sub, status := h.mountDir(dir)
	if status != gonfs.MountStatusOk {
		h.log.Info("mount refused", "client", peer, "path", dir, "exports", h.set.Load().paths(), "status", status)
		return status, nil, nil
	}
	ex.touch(peer)
	h.log.Debug("mount", "client", peer, "path", dir, "export", ex.path)
	h.s.event(peer, h.mountEvent(ex))
	// AUTH_UNIX first: the Linux client and klibc use the first flavour they
	// support. The server checks neither; the export is public, read-only.
	return gonfs.MountStatusOk, &mountFS{roFS: ex.fs, dir: sub}, []gonfs.AuthFlavor{gonfs.AuthFlavorUnix, gonfs.AuthFlavorNull}
}

// mountDir maps a MNT path to an export and a directory of its medium. Like
// knfsd, a directory below an export may be mounted too: libnfs
// (nfs-cp nfs://server/sharecd/live/file) mounts the URL's directory, not the
// export. With a single medium, "/" names its root as well and any other path
// is taken from the medium's root ("/" for menus we did not rewrite, or users
// typing by hand); with several, a path must lie in one of them.
func (h *handler) mountDir(dir string) (*export, string, gonfs.MountStatus) {
	if !strings.HasPrefix(dir, "/") {
		return nil, "", gonfs.MountStatusErrNoEnt
	}
	clean := path.Clean(dir)
	set := h.set.Load()
	var ex *export
	sub := "."
	if !set.multi {
		ex = set.exports[0]
		switch {
		case clean == ex.path || clean == "/":
			return ex, ".", gonfs.MountStatusOk
		case strings.HasPrefix(clean, ex.path+"/"):
			sub = clean[len(ex.path)+1:]
		default:
			sub = clean[1:]
		}
	} else {
		// The longest export path that is clean or a parent of it.
		for _, e := range set.exports {
			if clean == e.path || e.path == "/" || strings.HasPrefix(clean, e.path+"/") {
				if ex == nil || len(e.path) > len(ex.path) {
					ex = e
				}
			}
		}
		if ex == nil {
			return nil, "", gonfs.MountStatusErrNoEnt
		}
		if sub = cleanName(strings.TrimPrefix(clean, ex.path)); sub == "." {
			return ex, ".", gonfs.MountStatusOk
		}
	}
	fi, err := ex.fs.Lstat(sub)
	switch {
	case err != nil:
		return nil, "", gonfs.MountStatusErrNoEnt
	case !fi.IsDir():
		return nil, "", gonfs.MountStatusErrNotDir
	}
	return ex, sub, gonfs.MountStatusOk
}

// mountFS is what Mount returns: go-nfs passes it straight back to ToHandle
// with an empty path to make the mounted directory's handle. Every later call
// goes through FromHandle and gets the plain roFS.
type mountFS struct {
	*roFS
	dir string
}

// Change returns nil: nothing may change attributes on the medium.
func (h *handler) Change(billy.Filesystem) billy.Change { return nil }

// FSStat: go-nfs already reports no free space for a filesystem without
// WriteCapability.
func (h *handler) FSStat(context.Context, billy.Filesystem, *gonfs.FSStat) error { return nil }

// ToHandle makes the handle of p in the export fsys belongs to: go-nfs only
// hands back a filesystem it got from Mount or FromHandle, each an export's.
func (h *handler) ToHandle(fsys billy.Filesystem, p []string) []byte {
	dir := ""
	if m, ok := fsys.(*mountFS); ok {
		fsys, dir = m.roFS, m.dir
	}
	rofs, _ := fsys.(*roFS)
	ex, ok := h.set.Load().byFS[rofs]
	if !ok {
		// Not reachable; an empty handle is answered as BADHANDLE, never as another export's.
		h.log.Error("NFS handle asked for a filesystem that is no export", "fs", fmt.Sprintf("%T", fsys))
		return nil
	}
	return ex.register(cleanName(path.Join(dir, path.Join(p...))))
}

// FromHandle returns the root as [""] rather than []: go-nfs answers LOOKUP ".."
// with NFS3ERR_ACCES when the path is empty, while a ".." at the root of an
// export should stay at the root (RFC 1813 leaves it to the server; knfsd does
// this). With [""], go-nfs takes the parent of "" to be the root again.
func (h *handler) FromHandle(fh []byte) (billy.Filesystem, []string, error) {
	ex, name, err := h.resolve(fh)
	if err != nil {
		return nil, nil, err
	}
	if name == "." {
		return ex.fs, []string{""}, nil
	}
	// A fresh slice with len == cap: go-nfs appends to it.
	return ex.fs, slices.Clip(strings.Split(name, "/")), nil
}

func (h *handler) InvalidateHandle(billy.Filesystem, []byte) error { return nil }

// HandleLimit also caps READDIR pages at half of it in go-nfs; handles here
// are not cached, so any large number will do.
func (h *handler) HandleLimit() int { return 1 << 20 }

func peerAddr(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	if ua, ok := a.(*net.UDPAddr); ok {
		ip, _ := netip.AddrFromSlice(ua.IP)
		return ip.Unmap()
	}
	if a == nil {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
