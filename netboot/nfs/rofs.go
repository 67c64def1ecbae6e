package nfs

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sync"
	"time"

	billy "github.com/go-git/go-billy/v5"
	nfsfile "github.com/willscott/go-nfs/file"
)

// maxOpenFiles bounds the open-file cache. A live client reads a handful of
// files (kernel, initrd, the squashfs); the rest of a medium is thousands of
// small files nobody reads over NFS. Past the bound, files are opened per READ
// as go-nfs would.
const maxOpenFiles = 256

// maxCachedDirs bounds the directory-listing cache the same way.
const maxCachedDirs = 4096

// roFS is a read-only go-billy filesystem over the medium's fs.FS.
//
// go-nfs opens and stats the file again on every READ and lists the whole
// directory again on every READDIR(PLUS) page. The medium is immutable, so
// this adapter keeps files open (ReadAt is safe for concurrent use) and
// caches attributes and listings for the life of the server.
//
// Capabilities() lacks billy.WriteCapability, which is what makes go-nfs answer
// NFS3ERR_ROFS; every write method fails as well, in case something calls it
// anyway.
type roFS struct {
	fsys fs.FS
	// idPrefix goes in front of every path whose hash is a fileid: empty for a single medium,
	// so its fileids are what they always were; the export's path and a NUL with several, so two
	// media's files of the same name differ in fileid too. (go-nfs sends fsid 0 for every
	// export: a client that mounts two of them may put both on one superblock, where equal
	// inode numbers for different files would fool hard-link detection in cp -a, tar, rsync.)
	idPrefix string

	mu    sync.Mutex
	files map[string]*sharedFile
	lstat map[string]fs.FileInfo
	stat  map[string]fs.FileInfo
	dirs  map[string][]os.FileInfo
}

var _ billy.Filesystem = (*roFS)(nil)
var _ billy.Capable = (*roFS)(nil)

func newROFS(fsys fs.FS, idPrefix string) *roFS {
	return &roFS{
		fsys:     fsys,
		idPrefix: idPrefix,
		files:    make(map[string]*sharedFile),
		lstat:    make(map[string]fs.FileInfo),
		stat:     make(map[string]fs.FileInfo),
		dirs:     make(map[string][]os.FileInfo),
	}
}

// cleanName turns any billy/go-nfs path ("", "/", "a//b", "../x") into an
// fs.FS name ("." for the root). Cleaning against "/" first means ".." can
// never climb above the medium's root.
func cleanName(name string) string {
	c := path.Clean("/" + name)
	if c == "/" {
		return "."
	}
	return c[1:]
}

// close closes every cached file. Called when the server stops.
func (f *roFS) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, sf := range f.files {
		_ = sf.c.Close()
		delete(f.files, name)
	}
}

func (f *roFS) Capabilities() billy.Capability {
	return billy.ReadCapability | billy.SeekCapability
}

func (f *roFS) Join(elem ...string) string { return path.Join(elem...) }

func (f *roFS) Root() string { return "/" }

func (f *roFS) Chroot(p string) (billy.Filesystem, error) {
	return nil, &fs.PathError{Op: "chroot", Path: p, Err: billy.ErrNotSupported}
}

func (f *roFS) Lstat(name string) (os.FileInfo, error) {
	name = cleanName(name)
	f.mu.Lock()
	fi, ok := f.lstat[name]
	f.mu.Unlock()
	if ok {
		return fi, nil
	}
	fi, err := fs.Lstat(f.fsys, name)
	if err != nil {
		return nil, err
	}
	fi = newInfo(f.idPrefix, name, fi)
	f.mu.Lock()
	f.lstat[name] = fi
	f.mu.Unlock()
	return fi, nil
}

func (f *roFS) Stat(name string) (os.FileInfo, error) {
	name = cleanName(name)
	f.mu.Lock()
	fi, ok := f.stat[name]
	f.mu.Unlock()
	if ok {
		return fi, nil
	}
	// The medium follows symlinks only while they stay inside it.
	fi, err := fs.Stat(f.fsys, name)
	if err != nil {
		return nil, err
	}
	fi = newInfo(f.idPrefix, name, fi)
	f.mu.Lock()
	f.stat[name] = fi
	f.mu.Unlock()
	return fi, nil
}

// Readlink returns the link text as stored; the NFS client resolves it. The
// server itself never follows it.
func (f *roFS) Readlink(name string) (string, error) {
	return fs.ReadLink(f.fsys, cleanName(name))
}

func (f *roFS) ReadDir(name string) ([]os.FileInfo, error) {
	name = cleanName(name)
	f.mu.Lock()
	list, ok := f.dirs[name]
	f.mu.Unlock()
	if ok {
		// go-nfs sorts the slice it gets in place: hand out a copy.
		return append([]os.FileInfo(nil), list...), nil
	}
	ents, err := fs.ReadDir(f.fsys, name)
	if err != nil {
		return nil, err
	}
	list = make([]os.FileInfo, 0, len(ents))
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			continue // vanished or unreadable entry: leave it out of the listing
		}
		list = append(list, newInfo(f.idPrefix, path.Join(name, e.Name()), fi))
	}
	f.mu.Lock()
	if len(f.dirs) < maxCachedDirs {
		f.dirs[name] = list
	}
	f.mu.Unlock()
	// go-nfs sorts the slice it gets in place: hand out a copy.
	return append([]os.FileInfo(nil), list...), nil
}

func (f *roFS) Open(name string) (billy.File, error) {
	name = cleanName(name)
	fi, err := f.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !isRegular(fi) {
		// READ is for regular files; a symlink's handle must not read its
		// target (the client resolves links itself).
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	f.mu.Lock()
	sf, ok := f.files[name]
	f.mu.Unlock()
	if ok {
		return &roFile{sf: sf, name: name, size: fi.Size()}, nil
	}
	h, err := f.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	ra, ok := h.(io.ReaderAt)
	if !ok {
		_ = h.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("medium file does not implement io.ReaderAt")}
	}
	sf = &sharedFile{ra: ra, c: h}
	f.mu.Lock()
	if prev, ok := f.files[name]; ok {
		// Another READ opened it meanwhile: keep one.
		f.mu.Unlock()
		_ = h.Close()
		return &roFile{sf: prev, name: name, size: fi.Size()}, nil
	}
	cached := len(f.files) < maxOpenFiles
	if cached {
		f.files[name] = sf
	}
	f.mu.Unlock()
	return &roFile{sf: sf, name: name, size: fi.Size(), owned: !cached}, nil
}

func (f *roFS) OpenFile(name string, flag int, _ os.FileMode) (billy.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND) != 0 {
		return nil, roErr("open", name)
	}
	return f.Open(name)
}

func roErr(op, name string) error {
	return &fs.PathError{Op: op, Path: name, Err: billy.ErrReadOnly}
}

func (f *roFS) Create(name string) (billy.File, error)     { return nil, roErr("create", name) }
func (f *roFS) Rename(from, _ string) error                { return roErr("rename", from) }
func (f *roFS) Remove(name string) error                   { return roErr("remove", name) }
func (f *roFS) MkdirAll(name string, _ os.FileMode) error  { return roErr("mkdir", name) }
func (f *roFS) Symlink(_, link string) error               { return roErr("symlink", link) }
func (f *roFS) TempFile(dir, _ string) (billy.File, error) { return nil, roErr("tempfile", dir) }

// sharedFile is one open medium file shared by all READs of it.
type sharedFile struct {
	ra io.ReaderAt
	c  io.Closer
}

// roFile is what Open hands go-nfs: a cursor over a sharedFile. go-nfs only
// uses ReadAt and Close; Read and Seek are there for billy.File.
type roFile struct {
	sf    *sharedFile
	name  string
	size  int64
	mu    sync.Mutex
	off   int64
	owned bool // not in the cache: Close closes the medium file
}

func (r *roFile) Name() string                            { return r.name }
func (r *roFile) ReadAt(p []byte, off int64) (int, error) { return r.sf.ra.ReadAt(p, off) }
func (r *roFile) Write([]byte) (int, error)               { return 0, roErr("write", r.name) }
func (r *roFile) Truncate(int64) error                    { return roErr("truncate", r.name) }
func (r *roFile) Lock() error                             { return nil }
func (r *roFile) Unlock() error                           { return nil }

func (r *roFile) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.sf.ra.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (r *roFile) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return r.off, fmt.Errorf("seeking %s: bad whence %d", r.name, whence)
	}
	if offset < 0 {
		return r.off, fmt.Errorf("seeking %s: negative offset", r.name)
	}
	r.off = offset
	return offset, nil
}

func (r *roFile) Close() error {
	if r.owned {
		return r.sf.c.Close()
	}
	return nil
}

// info wraps a medium FileInfo so go-nfs sends stable, medium-independent
// attributes: the fileid (the client's inode number) is a hash of the path, so
// it is the same for a directory, an ISO or a block device and across
// restarts; owner is root; write bits are cleared because nobody can write.
type info struct {
	fs.FileInfo
	sys nfsfile.FileInfo
}

func newInfo(idPrefix, name string, fi fs.FileInfo) *info {
	sum := sha256.Sum256([]byte(idPrefix + name))
	nlink := uint32(1)
	if fi.IsDir() {
		nlink = 2
	}
	return &info{FileInfo: fi, sys: nfsfile.FileInfo{
		Nlink:  nlink,
		Fileid: binary.BigEndian.Uint64(sum[:8]) | 1, // 0 is not a valid fileid for some clients
	}}
}

// Mode is what go-nfs copies into fattr3's mode, whole: RFC 1813 §2.6 has the file's type in
// its own field (ftype3) and only the permission bits in mode3, but Go keeps the type in the high
// bits (a directory was 0o20000000555 on the wire). go-nfs takes the type from IsDir and calls
// whatever is not a directory or special a regular file, so directories and regular files get
// the bare permissions. A symlink keeps os.ModeSymlink: go-nfs finds symlinks (ftype3 NF3LNK,
// READLINK) by that bit and nothing else. Our own code asks isRegular, not this.
func (i *info) Mode() fs.FileMode {
	m := i.FileInfo.Mode()
	perm := m.Perm() &^ 0o222
	switch {
	case m.IsDir():
		return perm | 0o555
	case m.IsRegular():
		return perm | 0o444
	}
	return m&^fs.ModePerm | perm
}

// isRegular reports whether fi is a regular file, also for an *info, whose Mode no longer says.
func isRegular(fi fs.FileInfo) bool {
	if i, ok := fi.(*info); ok {
		fi = i.FileInfo
	}
	return fi.Mode().IsRegular()
}

func (i *info) Sys() any           { return i.sys }
func (i *info) ModTime() time.Time { return i.FileInfo.ModTime() }
