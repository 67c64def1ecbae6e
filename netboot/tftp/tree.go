package tftp

import (
	"bytes"
	"errors"
	"io/fs"
	"path"
	"strings"
	"time"
)

// Overlay is a read-only tree made of layers: a name is served from the first layer that has
// it. sharecd stacks the generated menus over the embedded loaders over the medium, so its own
// pxelinux.0 and modules win over the medium's isolinux copies of another syslinux version.
type Overlay []fs.FS

// Open implements fs.FS.
func (o Overlay) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	for _, layer := range o {
		f, err := layer.Open(name)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// Files is an in-memory layer of generated files, keyed by slash path.
type Files map[string][]byte

// Open implements fs.FS. Only files are listed; there is nothing to browse over TFTP.
func (m Files) Open(name string) (fs.File, error) {
	b, ok := m[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &memFile{Reader: bytes.NewReader(b), name: path.Base(name), size: int64(len(b))}, nil
}

type memFile struct {
	*bytes.Reader
	name string
	size int64
}

func (f *memFile) Stat() (fs.FileInfo, error) { return memInfo{f.name, f.size}, nil }
func (f *memFile) Close() error               { return nil }

type memInfo struct {
	name string
	size int64
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return 0o444 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }

// Only limits a layer to the given top-level names, so the embedded loader folder exposes its
// boot files but not, say, its licence texts at paths a medium might also use.
func Only(fsys fs.FS, names ...string) fs.FS {
	set := map[string]bool{}
	for _, n := range names {
		set[strings.TrimPrefix(n, "/")] = true
	}
	return onlyFS{fsys, set}
}

type onlyFS struct {
	fs.FS
	names map[string]bool
}

func (o onlyFS) Open(name string) (fs.File, error) {
	if !o.names[name] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return o.FS.Open(name)
}

// Under serves fsys's files below dir ("ubuntu": fsys's casper/vmlinuz is ubuntu/casper/vmlinuz)
// and nothing else, so that two media with the same paths share one tree without colliding and
// a client asking for one medium's files never gets another's.
func Under(dir string, fsys fs.FS) fs.FS { return underFS{dir: path.Clean(dir), fsys: fsys} }

type underFS struct {
	dir  string
	fsys fs.FS
}

func (u underFS) Open(name string) (fs.File, error) {
	rest, ok := strings.CutPrefix(name, u.dir+"/")
	if !fs.ValidPath(name) || !ok || !fs.ValidPath(rest) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return u.fsys.Open(rest)
}
