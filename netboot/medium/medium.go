// Package medium opens a live medium read-only as an fs.FS: a mounted
// directory, an ISO 9660 image file, or a block device such as /dev/sr0 read
// as an image. It needs neither root nor a loop mount.
//
// ISO 9660 is read by a small reader of our own (iso.go) rather than
// github.com/diskfs/go-diskfs. go-diskfs v1.9.4 lists a file larger than
// 4 GiB (several extents, as Ubuntu's filesystem.squashfs is) twice and stops
// reading it at 4 GiB, has no ReadAt, and reads directories lazily through a
// shared handle; working around all three means re-walking its directory
// records anyway. A read-only reader (iso.go, isofs.go) is small: volume
// descriptors, directory records with the multi-extent flag, SUSP/Rock Ridge
// (NM, PX, SL, TF, CE, RE, CL) and Joliet names. Owning it also lets us bound
// every allocation and loop on damaged input, which FuzzOpenISO checks.
//
// The directory tree of an image is indexed once in Open (the medium is
// immutable) and file contents are read with ReadAt on the image (pread), so
// any number of TFTP and NFS clients read concurrently without a seek lock.
package medium

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// Kind says what a Medium was opened from.
type Kind string

const (
	KindDir    Kind = "dir"    // a mounted medium (or any directory)
	KindISO    Kind = "iso"    // an ISO 9660 image file
	KindDevice Kind = "device" // a block device read as an ISO 9660 image
)

// Medium is an opened live medium.
type Medium struct {
	// FS is rooted at the medium's root. It implements fs.StatFS,
	// fs.ReadDirFS and fs.ReadLinkFS. Every regular file it opens implements
	// io.ReaderAt (safe for concurrent use) and io.Seeker. Symlinks are
	// followed only while they stay inside the medium; others give an error.
	// Paths are fs.ValidPath; a missing file gives an error matching
	// fs.ErrNotExist.
	FS     fs.FS
	Source string // the path passed to Open
	Kind   Kind
	// Label is the volume id of an image or device; for a directory, the
	// first line of .disk/info (Debian and Ubuntu media) or "".
	Label string

	closer io.Closer
}

// Close releases the image file or the directory handle. FS must not be used
// afterwards.
func (m *Medium) Close() error {
	if m.closer == nil {
		return nil
	}
	return m.closer.Close()
}

// sentinel is an error callers branch on; its parent lets a narrower error
// (not ISO 9660) also match a wider one (unsupported).
type sentinel struct {
	msg    string
	parent error
}

func (e *sentinel) Error() string { return e.msg }
func (e *sentinel) Unwrap() error { return e.parent }

var (
	// ErrNotExist is fs.ErrNotExist: the medium, or a file on it, is missing.
	// An alias, so errors.Is works for the OS's ENOENT as for our own.
	ErrNotExist = fs.ErrNotExist

	// ErrUnsupported: the path is something we cannot share (not a
	// directory, ISO 9660 image or block device, or an empty directory).
	ErrUnsupported error = &sentinel{msg: "not a directory, ISO 9660 image or block device"}

	// ErrNotISO: the file or device holds no (intact) ISO 9660 file system.
	// It matches ErrUnsupported too.
	ErrNotISO error = &sentinel{msg: "not an ISO 9660 image", parent: ErrUnsupported}

	errEmptyDir error = &sentinel{msg: "the directory is empty (is the medium mounted?)", parent: ErrUnsupported}
)

// Open opens path read-only as a medium: a directory, an ISO 9660 image file
// or a block device holding one. Errors name the path and match ErrNotExist,
// ErrNotISO, ErrUnsupported or fs.ErrPermission.
func Open(path string) (*Medium, error) {
	// Stat, not Lstat: /dev/cdrom is usually a symlink to /dev/sr0.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("opening medium: %w", err)
	}
	switch mode := fi.Mode(); {
	case mode.IsDir():
		return openDir(path)
	case mode.IsRegular():
		return openImage(path, KindISO)
	case mode&fs.ModeDevice != 0 && mode&fs.ModeCharDevice == 0:
		return openImage(path, KindDevice)
	default:
		return nil, fmt.Errorf("opening medium %s: %w", path, ErrUnsupported)
	}
}

func openDir(path string) (*Medium, error) {
	// os.Root refuses every path, symlinks included, that leaves the
	// directory, so a link like ../../etc/passwd on the medium cannot hand
	// out the server's own files.
	root, err := os.OpenRoot(path)
	if err != nil {
		return nil, fmt.Errorf("opening medium: %w", err)
	}
	empty, err := isEmpty(root)
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("opening medium %s: %w", path, err)
	}
	if empty {
		root.Close()
		return nil, fmt.Errorf("opening medium %s: %w", path, errEmptyDir)
	}
	fsys := root.FS()
	return &Medium{FS: fsys, Source: path, Kind: KindDir, Label: diskInfo(fsys), closer: root}, nil
}

func isEmpty(root *os.Root) (bool, error) {
	d, err := root.Open(".")
	if err != nil {
		return false, err
	}
	defer d.Close()
	_, err = d.Readdirnames(1)
	if err == io.EOF {
		return true, nil
	}
	return false, err
}

// diskInfo returns the first line of .disk/info, which Debian and Ubuntu media
// carry as their human-readable name ("Ubuntu 24.04 LTS ..."), or "".
func diskInfo(fsys fs.FS) string {
	f, err := fsys.Open(".disk/info")
	if err != nil {
		return ""
	}
	defer f.Close()
	line, _ := bufio.NewReader(io.LimitReader(f, 256)).ReadString('\n')
	return strings.TrimSpace(line)
}

func openImage(path string, kind Kind) (*Medium, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening medium: %w", err)
	}
	size, err := imageSize(f, kind == KindDevice)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening medium %s: %w", path, err)
	}
	var img io.ReaderAt = f
	if kind == KindDevice {
		// Hidden from Extent, so servers read a disc with ReadAt: a scratched sector then fails
		// one read with an error the client is told, where sendfile would fail halfway through
		// a reply already promised in full.
		img = struct{ io.ReaderAt }{f}
	}
	fsys, label, err := openISO(img, size)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening medium %s: %w", path, err)
	}
	return &Medium{FS: fsys, Source: path, Kind: kind, Label: label, closer: f}, nil
}

// imageSize returns the size of an image file or device. A block device
// reports size 0 from Stat; seeking to its end gives the real size. Seeking
// does not disturb the ReadAt calls that serve the files.
func imageSize(f *os.File, device bool) (int64, error) {
	if !device {
		fi, err := f.Stat()
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("finding the size of the device: %w", err)
	}
	return size, nil
}
