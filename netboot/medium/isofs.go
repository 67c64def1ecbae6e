package medium

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// maxSymlinks is how many symlinks one lookup may follow, as Linux's
// MAXSYMLINKS: enough for any real medium, and it ends loops.
const maxSymlinks = 40

// errOutside: a symlink whose target leaves the medium (an absolute path, or
// too many ".."). It matches fs.ErrPermission so a TFTP server answers
// "access violation" and an NFS server EACCES. Absolute targets are refused
// like os.Root does: on a live system they name the running system's files,
// not the medium's.
type outsideError struct{}

func (outsideError) Error() string        { return "symlink points outside the medium" }
func (outsideError) Is(target error) bool { return target == fs.ErrPermission }

var errOutside error = outsideError{}

// isoFS is the indexed file system of an ISO 9660 image.
type isoFS struct {
	r        io.ReaderAt
	root     *node
	foldCase bool // plain ECMA-119 names: lookups ignore case
}

// node is one file, directory or symlink. It is its own fs.FileInfo and
// fs.DirEntry (Lstat view), so listing a directory allocates nothing.
type node struct {
	name     string
	mode     fs.FileMode
	size     int64
	mtime    time.Time
	ino      uint64 // byte offset of the record or directory: unique and stable
	nlink    uint32
	uid, gid uint32
	data     []extent // regular files: the bytes, in order, in the image
	target   string   // symlinks
	children []*node  // directories, sorted by name
}

// extent is a run of file bytes in the image.
type extent struct{ off, len int64 }

func (n *node) Name() string               { return n.name }
func (n *node) Size() int64                { return n.size }
func (n *node) Mode() fs.FileMode          { return n.mode }
func (n *node) ModTime() time.Time         { return n.mtime }
func (n *node) IsDir() bool                { return n.mode.IsDir() }
func (n *node) Type() fs.FileMode          { return n.mode.Type() }
func (n *node) Info() (fs.FileInfo, error) { return n, nil }
func (n *node) String() string             { return fs.FormatFileInfo(n) }

// Sys returns a *syscall.Stat_t like os.Stat does, so a server that takes
// inode numbers, link counts and owners from it (go-nfs does) sees the same
// kind of information for an image as for a mounted directory.
func (n *node) Sys() any {
	st := &syscall.Stat_t{
		Ino:     n.ino,
		Nlink:   uint64(n.nlink),
		Mode:    posixMode(n.mode),
		Uid:     n.uid,
		Gid:     n.gid,
		Size:    n.size,
		Blksize: sectorSize,
		Blocks:  (n.size + 511) / 512,
	}
	st.Mtim = syscall.NsecToTimespec(n.mtime.UnixNano())
	st.Atim, st.Ctim = st.Mtim, st.Mtim
	return st
}

func posixMode(m fs.FileMode) uint32 {
	mode := uint32(m.Perm())
	switch m.Type() {
	case fs.ModeDir:
		mode |= sIFDIR
	case fs.ModeSymlink:
		mode |= sIFLNK
	case fs.ModeNamedPipe:
		mode |= sIFIFO
	case fs.ModeSocket:
		mode |= sIFSOCK
	case fs.ModeDevice | fs.ModeCharDevice:
		mode |= sIFCHR
	case fs.ModeDevice:
		mode |= sIFBLK
	default:
		mode |= sIFREG
	}
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

// renamed is a node seen through a symlink: it keeps the name it was looked
// up by, as os.Stat does.
type renamed struct {
	*node
	name string
}

func (r renamed) Name() string   { return r.name }
func (r renamed) String() string { return fs.FormatFileInfo(r) }

func infoAs(n *node, name string) fs.FileInfo {
	if base := path.Base(name); base != n.name && name != "." {
		return renamed{n, base}
	}
	return n
}

// lookup finds the child called name, ignoring case for plain names.
func (f *isoFS) lookup(dir *node, name string) *node {
	if f.foldCase {
		name = strings.ToLower(name)
	}
	i, ok := slices.BinarySearchFunc(dir.children, name, func(n *node, name string) int {
		return strings.Compare(n.name, name)
	})
	if !ok {
		return nil
	}
	return dir.children[i]
}

// resolve walks name from the root, following symlinks in the middle of the
// path and, if follow is set, at its end. Targets are resolved against the
// directory holding the link and must not climb above the root.
func (f *isoFS) resolve(name string, follow bool) (*node, error) {
	if name == "." {
		return f.root, nil
	}
	comps := strings.Split(name, "/")
	stack := []*node{f.root} // the directories walked so far, for ".."
	links := 0
	for i := 0; i < len(comps); i++ {
		c := comps[i]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) == 1 {
				return nil, errOutside
			}
			stack = stack[:len(stack)-1]
			continue
		}
		dir := stack[len(stack)-1]
		if !dir.IsDir() {
			return nil, syscall.ENOTDIR
		}
		n := f.lookup(dir, c)
		if n == nil {
			return nil, fs.ErrNotExist
		}
		if n.mode.Type() == fs.ModeSymlink && (follow || i < len(comps)-1) {
			if links++; links > maxSymlinks {
				return nil, syscall.ELOOP
			}
			if n.target == "" || n.target[0] == '/' {
				return nil, errOutside
			}
			// Walk the target from the link's directory, then the rest.
			comps = append(strings.Split(n.target, "/"), comps[i+1:]...)
			i = -1
			continue
		}
		stack = append(stack, n)
	}
	return stack[len(stack)-1], nil
}

func (f *isoFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	n, err := f.resolve(name, true)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if n.IsDir() {
		return &dirFile{n: n, info: infoAs(n, name)}, nil
	}
	return &file{r: f.r, n: n, info: infoAs(n, name), name: name}, nil
}

func (f *isoFS) Stat(name string) (fs.FileInfo, error) {
	return f.stat("stat", name, true)
}

func (f *isoFS) Lstat(name string) (fs.FileInfo, error) {
	return f.stat("lstat", name, false)
}

func (f *isoFS) stat(op, name string, follow bool) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	n, err := f.resolve(name, follow)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return infoAs(n, name), nil
}

func (f *isoFS) ReadLink(name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	n, err := f.resolve(name, false)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	if n.mode.Type() != fs.ModeSymlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return n.target, nil
}

// ReadDir returns the directory's entries sorted by name. Symlinks are
// listed as symlinks (Lstat view), as os.ReadDir does.
func (f *isoFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrInvalid}
	}
	n, err := f.resolve(name, true)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	if !n.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: syscall.ENOTDIR}
	}
	return entries(n.children), nil
}

func entries(nodes []*node) []fs.DirEntry {
	list := make([]fs.DirEntry, len(nodes))
	for i, c := range nodes {
		list[i] = c
	}
	return list
}

// file is an open regular file (or a device/fifo node, which has no data).
// ReadAt is safe for concurrent use; Read and Seek share an offset and are
// not, like *os.File.
type file struct {
	r      io.ReaderAt
	n      *node
	info   fs.FileInfo
	name   string
	off    int64
	closed atomic.Bool
}

var (
	_ io.ReaderAt = (*file)(nil)
	_ io.Seeker   = (*file)(nil)
)

func (f *file) Stat() (fs.FileInfo, error) {
	if f.closed.Load() {
		return nil, &fs.PathError{Op: "stat", Path: f.name, Err: fs.ErrClosed}
	}
	return f.info, nil
}

func (f *file) Close() error {
	if f.closed.Swap(true) {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	return nil
}

func (f *file) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.off)
	f.off += int64(n)
	if err != nil && errors.Is(err, io.EOF) && n > 0 {
		err = nil // io.Reader: the EOF comes on the next call
	}
	if pe, ok := err.(*fs.PathError); ok {
		pe.Op = "read"
	}
	return n, err
}

func (f *file) Seek(offset int64, whence int) (int64, error) {
	if f.closed.Load() {
		return 0, &fs.PathError{Op: "seek", Path: f.name, Err: fs.ErrClosed}
	}
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		offset += f.n.size
	default:
		return 0, &fs.PathError{Op: "seek", Path: f.name, Err: fs.ErrInvalid}
	}
	if offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: f.name, Err: fs.ErrInvalid}
	}
	f.off = offset
	return offset, nil
}

// Extent returns the image file and the offset in it of the file's bytes
// [off, off+n), when they lie in one extent of an image that is an *os.File.
// A server can then send them with sendfile(2), from the page cache to the
// socket, instead of copying them through its own memory.
func (f *file) Extent(off, n int64) (*os.File, int64, bool) {
	img, ok := f.r.(*os.File)
	if !ok || f.closed.Load() || off < 0 || n <= 0 || off+n > f.n.size {
		return nil, 0, false
	}
	start := int64(0) // file offset of the extent
	for _, e := range f.n.data {
		if off < start+e.len {
			if off+n > start+e.len {
				return nil, 0, false
			}
			return img, e.off + off - start, true
		}
		start += e.len
	}
	return nil, 0, false
}

// ReadAt reads from the image with ReadAt (pread for an *os.File), extent
// by extent. The image was checked to hold every extent, so a short read
// here is an I/O error of the device.
func (f *file) ReadAt(p []byte, off int64) (int, error) {
	if f.closed.Load() {
		return 0, &fs.PathError{Op: "readat", Path: f.name, Err: fs.ErrClosed}
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "readat", Path: f.name, Err: fs.ErrInvalid}
	}
	if off >= f.n.size {
		return 0, io.EOF
	}
	eof := false
	if rest := f.n.size - off; int64(len(p)) > rest {
		p, eof = p[:rest], true
	}
	done := 0
	start := int64(0) // file offset of the extent
	for _, e := range f.n.data {
		if len(p) == 0 {
			break
		}
		if off >= start+e.len {
			start += e.len
			continue
		}
		chunk := p[:min(int64(len(p)), start+e.len-off)]
		n, err := f.r.ReadAt(chunk, e.off+off-start)
		done += n
		if n < len(chunk) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return done, &fs.PathError{Op: "readat", Path: f.name, Err: err}
		}
		p, off = p[n:], off+int64(n)
		start += e.len
	}
	if eof || len(p) > 0 {
		return done, io.EOF
	}
	return done, nil
}

// dirFile is an open directory.
type dirFile struct {
	n      *node
	info   fs.FileInfo
	pos    int
	closed bool
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Close() error               { d.closed = true; return nil }

func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.Name(), Err: syscall.EISDIR}
}

func (d *dirFile) ReadDir(count int) ([]fs.DirEntry, error) {
	if d.closed {
		return nil, &fs.PathError{Op: "readdir", Path: d.info.Name(), Err: fs.ErrClosed}
	}
	rest := d.n.children[d.pos:]
	if count <= 0 {
		d.pos += len(rest)
		return entries(rest), nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	rest = rest[:min(count, len(rest))]
	d.pos += len(rest)
	return entries(rest), nil
}
