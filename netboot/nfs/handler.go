package nfs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"path"
	"slices"
	"strings"
	"sync"

	billy "github.com/go-git/go-billy/v5"
	gonfs "github.com/willscott/go-nfs"
)

// File handles.
//
// go-nfs's CachingHandler hands out random handles kept in an LRU: a client
// that boots from the share gets ESTALE once its handle is evicted, or when
// sharecd restarts, and a live system with its root on NFS cannot recover from
// that. The medium never changes while it is shared, so a handle here is a pure
// function of the path:
//
//	exportID (8 bytes) || SHA-256(exportID || path)[:16]
//
// exportID hashes the export path and the medium's root listing, so a handle
// from a different medium shared under the same path is STALE rather than
// silently naming another file. Handles we have not handed out since start
// (a client from before a restart) are found by walking the medium once.
const (
	handleLen   = 24
	maxNFSFH    = 64      // NFS3_FHSIZE
	maxWalkObjs = 2 << 20 // bound on the one-time walk, far above any live medium
)

var (
	errBadHandle = errors.New("malformed file handle")
	errStale     = errors.New("stale file handle")
)

type handler struct {
	s      *Server
	fs     *roFS
	export string
	id     [8]byte
	log    *slog.Logger

	mu    sync.RWMutex
	paths map[[16]byte]string

	walk sync.Once
}

var _ gonfs.Handler = (*handler)(nil)

func newHandler(s *Server, rofs *roFS, log *slog.Logger) *handler {
	h := &handler{
		s:      s,
		fs:     rofs,
		export: s.export(),
		log:    log,
		paths:  make(map[[16]byte]string),
	}
	h.id = exportID(h.export, rofs.fsys)
	h.register(".")
	return h
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

func (h *handler) key(name string) [16]byte {
	sum := sha256.Sum256(append(h.id[:], name...))
	var k [16]byte
	copy(k[:], sum[:])
	return k
}

func (h *handler) handleOf(k [16]byte) []byte {
	fh := make([]byte, 0, handleLen)
	fh = append(fh, h.id[:]...)
	return append(fh, k[:]...)
}

// register records name (already cleaned) and returns its handle.
func (h *handler) register(name string) []byte {
	k := h.key(name)
	h.mu.RLock()
	_, ok := h.paths[k]
	h.mu.RUnlock()
	if !ok {
		h.mu.Lock()
		h.paths[k] = name
		h.mu.Unlock()
	}
	return h.handleOf(k)
}

// resolve maps a handle back to its clean path: errBadHandle when it is not
// one of ours at all, errStale when it is shaped like ours but names nothing.
func (h *handler) resolve(fh []byte) (string, error) {
	if len(fh) != handleLen {
		return "", errBadHandle
	}
	if !bytes.Equal(fh[:8], h.id[:]) {
		return "", errStale
	}
	var k [16]byte
	copy(k[:], fh[8:])
	if name, ok := h.lookup(k); ok {
		return name, nil
	}
	h.walk.Do(h.walkMedium)
	if name, ok := h.lookup(k); ok {
		return name, nil
	}
	return "", errStale
}

func (h *handler) lookup(k [16]byte) (string, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	name, ok := h.paths[k]
	return name, ok
}

// walkMedium registers every path on the medium, once, so handles issued by a
// previous run of sharecd resolve again.
func (h *handler) walkMedium() {
	n := 0
	err := fs.WalkDir(h.fs.fsys, ".", func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable directory: skip it, keep walking
		}
		h.register(p)
		if n++; n >= maxWalkObjs {
			return fs.SkipAll
		}
		return nil
	})
	h.log.Debug("walked medium for file handles", "objects", n, "err", err)
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
	sub, status := h.mountDir(dir)
	if status != gonfs.MountStatusOk {
		h.log.Info("mount refused", "client", peer, "path", dir, "export", h.export, "status", status)
		return status, nil, nil
	}
	h.log.Debug("mount", "client", peer, "path", dir)
	h.s.event(peer, "mount")
	// AUTH_UNIX first: the Linux client and klibc use the first flavour they
	// support. The server checks neither; the export is public, read-only.
	return gonfs.MountStatusOk, &mountFS{roFS: h.fs, dir: sub}, []gonfs.AuthFlavor{gonfs.AuthFlavorUnix, gonfs.AuthFlavorNull}
}

// mountDir maps a MNT path to a directory of the medium. The export and "/"
// both name the medium's root ("/" for menus we did not rewrite, or users
// typing by hand). Like knfsd, a directory below either may be mounted too:
// libnfs (nfs-cp nfs://server/sharecd/live/file) mounts the URL's directory,
// not the export.
func (h *handler) mountDir(dir string) (string, gonfs.MountStatus) {
	if !strings.HasPrefix(dir, "/") {
		return "", gonfs.MountStatusErrNoEnt
	}
	clean := path.Clean(dir)
	var sub string
	switch {
	case clean == h.export || clean == "/":
		return ".", gonfs.MountStatusOk
	case strings.HasPrefix(clean, h.export+"/"):
		sub = clean[len(h.export)+1:]
	default:
		sub = clean[1:]
	}
	fi, err := h.fs.Lstat(sub)
	switch {
	case err != nil:
		return "", gonfs.MountStatusErrNoEnt
	case !fi.IsDir():
		return "", gonfs.MountStatusErrNotDir
	}
	return sub, gonfs.MountStatusOk
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

func (h *handler) ToHandle(fsys billy.Filesystem, p []string) []byte {
	if m, ok := fsys.(*mountFS); ok {
		return h.register(cleanName(path.Join(m.dir, path.Join(p...))))
	}
	return h.register(cleanName(path.Join(p...)))
}

// FromHandle returns the root as [""] rather than []: go-nfs answers LOOKUP ".."
// with NFS3ERR_ACCES when the path is empty, while a ".." at the root of an
// export should stay at the root (RFC 1813 leaves it to the server; knfsd does
// this). With [""], go-nfs takes the parent of "" to be the root again.
func (h *handler) FromHandle(fh []byte) (billy.Filesystem, []string, error) {
	name, err := h.resolve(fh)
	if err != nil {
		return nil, nil, err
	}
	if name == "." {
		return h.fs, []string{""}, nil
	}
	// A fresh slice with len == cap: go-nfs appends to it.
	return h.fs, slices.Clip(strings.Split(name, "/")), nil
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
