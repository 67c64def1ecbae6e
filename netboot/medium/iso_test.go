package medium

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
)

var update = flag.Bool("update", false, "rebuild testdata/small.iso with xorriso")

// smallLongName is long enough that xorriso moves its NM entry into a
// continuation area (CE).
var smallLongName = strings.Repeat("L", 120) + "ong_Name_" + strings.Repeat("x", 100)

// smallTree is what testdata/small.iso holds: a live medium in miniature
// with the cases the fuzzer should start from (CE, SL, Joliet, a loop).
var smallTree = tree{
	{"isolinux/isolinux.cfg", "default live\nlabel live\n  kernel /live/vmlinuz\n  append initrd=/live/initrd.img boot=live\n", 0o644},
	{"live/vmlinuz", "kernel\n", 0o644},
	{"live/initrd.img", "initrd\n", 0o644},
	{"a/b/", "", 0o755},
	{smallLongName, "x\n", 0o644},
	{"isolinux/vmlinuz", "-> ../live/vmlinuz", 0},
	{"escape", "-> ../../etc/passwd", 0},
	{"dirlink", "-> a/b", 0},
	{"loop", "-> loop", 0},
}

const smallISO = "testdata/small.iso"

// TestSmallISO reads the checked-in image the fuzzer starts from; with
// -update it first rebuilds it from smallTree.
func TestSmallISO(t *testing.T) {
	if *update {
		src := srcDir(t, smallTree)
		out := mkisofs(t, src, "-R", "-J", "-joliet-long", "-no-pad", "-V", "SMALL")
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(smallISO), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(smallISO, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := openT(t, smallISO)
	if m.Label != "SMALL" || m.Kind != KindISO {
		t.Errorf("label %q kind %q", m.Label, m.Kind)
	}
	for _, e := range smallTree {
		name := strings.TrimSuffix(e.path, "/")
		if target, ok := strings.CutPrefix(e.content, "-> "); ok {
			if got, err := fs.ReadLink(m.FS, name); got != target || err != nil {
				t.Errorf("readlink %s: %q, %v; want %q", name, got, err, target)
			}
			continue
		}
		fi, err := fs.Stat(m.FS, name)
		if err != nil || fi.Mode() != e.mode|fs.FileMode(boolMode(strings.HasSuffix(e.path, "/"))) {
			t.Errorf("stat %s: %v, %v; want mode %v", name, fi, err, e.mode)
			continue
		}
		if fi.IsDir() {
			continue
		}
		if got, err := readAll(m.FS, name); string(got) != e.content || err != nil {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
	if err := fstest.TestFS(m.FS, "live/vmlinuz", "isolinux/vmlinuz", smallLongName); err != nil &&
		!strings.Contains(err.Error(), "escape") && !strings.Contains(err.Error(), "loop") {
		t.Error(err)
	}
}

func boolMode(dir bool) fs.FileMode {
	if dir {
		return fs.ModeDir
	}
	return 0
}

// TestScatteredExtents reads a file whose extents are not back to back:
// xorriso never writes one, but ECMA-119 allows it.
func TestScatteredExtents(t *testing.T) {
	img := []byte("....abc....defgh..ij")
	f := &file{r: bytes.NewReader(img), n: &node{size: 10, data: []extent{{4, 3}, {11, 5}, {18, 2}}}}
	want := "abcdefghij"
	for off := range len(want) + 1 {
		for n := range len(want) + 2 {
			buf := make([]byte, n)
			got, err := f.ReadAt(buf, int64(off))
			exp := want[min(off, len(want)):min(off+n, len(want))]
			if string(buf[:got]) != exp || (got < n && err != io.EOF) || (got == n && off+n < len(want) && err != nil) {
				t.Errorf("ReadAt(%d bytes at %d) = %q, %v; want %q", n, off, buf[:got], err, exp)
			}
		}
	}
	all, err := io.ReadAll(f)
	if string(all) != want || err != nil {
		t.Errorf("ReadAll = %q, %v", all, err)
	}
}

// FuzzOpenISO feeds arbitrary bytes as an image and walks what comes out.
// It must never panic, hang or allocate without bound, and every error must
// say the image is damaged. The input starts at sector 16: the 32 KiB system
// area before it is all zeros here, which saves the fuzzer from mutating it
// for nothing.
func FuzzOpenISO(f *testing.F) {
	seed, err := os.ReadFile(smallISO)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed[systemAreaSize:])
	f.Add(seed[systemAreaSize : systemAreaSize+3*sectorSize])
	f.Add([]byte{})
	// The hostile images of TestHostileISO, so the fuzzer starts next to
	// each limit; those only a large image reaches stay out (inputs are
	// copied on every run).
	for _, tc := range hostileCases() {
		if img := tc.image(); tc.size == 0 && len(img) <= 512<<10 {
			f.Add(img[systemAreaSize:])
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		img := append(make([]byte, systemAreaSize, systemAreaSize+len(data)), data...)
		fsys, _, err := openISO(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			if !errors.Is(err, ErrNotISO) {
				t.Fatalf("error %v does not match ErrNotISO", err)
			}
			return
		}
		walk(t, fsys)
	})
}

// walk visits every entry of fsys through every method and checks that they
// agree.
func walk(t *testing.T, fsys *isoFS) {
	budget := int64(1 << 20) // bytes to read in all
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatalf("walk %s: %v", name, err)
		}
		if !fs.ValidPath(name) {
			t.Fatalf("invalid path %q", name)
		}
		// ValidPath holds for "a/b" even when it is one entry named so.
		if n := d.Name(); name != "." && (n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\x00")) {
			t.Fatalf("%s: entry named %q", name, n)
		}
		li, err := fsys.Lstat(name)
		if err != nil {
			t.Fatalf("lstat %s: %v", name, err)
		}
		if li.Mode() != d.Type()|li.Mode().Perm()|li.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) {
			t.Fatalf("%s: lstat mode %v, entry type %v", name, li.Mode(), d.Type())
		}
		if d.Type() == fs.ModeSymlink {
			if _, err := fsys.ReadLink(name); err != nil {
				t.Fatalf("readlink %s: %v", name, err)
			}
		}
		fsys.Stat(name) // may fail: a link out of the medium or a loop
		if d.IsDir() {
			list, err := fsys.ReadDir(name)
			if err != nil {
				t.Fatalf("readdir %s: %v", name, err)
			}
			if !slices.IsSortedFunc(list, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) }) {
				t.Fatalf("readdir %s: not sorted", name)
			}
			return nil
		}
		file, err := fsys.Open(name)
		if err != nil {
			return nil
		}
		defer file.Close()
		fi, err := file.Stat()
		if err != nil {
			t.Fatalf("stat open %s: %v", name, err)
		}
		if fi.IsDir() {
			return nil // a link to a directory
		}
		rs := file.(io.ReadSeeker)
		if end, err := rs.Seek(0, io.SeekEnd); end != fi.Size() || err != nil {
			t.Fatalf("%s: Seek end = %d, %v; size %d", name, end, err, fi.Size())
		}
		if _, err := rs.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, io.LimitReader(rs, min(budget, 64<<10)))
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		budget -= n
		if fi.Size() > 0 {
			if _, err := file.(io.ReaderAt).ReadAt(make([]byte, 1), fi.Size()-1); err != nil && err != io.EOF {
				t.Fatalf("ReadAt the last byte of %s: %v", name, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNames checks how identifiers become fs.FS names; the Latin-1 case
// was found by FuzzOpenISO (fs.ValidPath refuses invalid UTF-8).
func TestNames(t *testing.T) {
	for _, tc := range []struct {
		ident string
		want  string
	}{
		{"README.TXT;1", "readme.txt"},
		{"README.;1", "readme"},
		{"ISOLINUX", "isolinux"},
		{"VMLINUZ;12", "vmlinuz"},
	} {
		if got := plainName([]byte(tc.ident)); got != tc.want {
			t.Errorf("plainName(%q) = %q, want %q", tc.ident, got, tc.want)
		}
	}
	if got := latin1("caf\xe9"); got != "café" {
		t.Errorf("latin1 = %q", got)
	}
	if got := decodeUCS2([]byte{0, 'K', 0, 0xfc, 0, ';', 0, '1'}); stripVersion(got) != "Kü" {
		t.Errorf("decodeUCS2 = %q", got)
	}
}

// eofAtEnd is a reader that says io.EOF along with a full read that ends at
// the end of its bytes, as io.ReaderAt allows.
type eofAtEnd []byte

func (b eofAtEnd) ReadAt(p []byte, off int64) (int, error) {
	n, err := bytes.NewReader(b).ReadAt(p, off)
	if err == nil && off+int64(n) == int64(len(b)) {
		err = io.EOF
	}
	return n, err
}

// failingReader fails every read past off with err, like a scratched disc.
type failingReader struct {
	b   []byte
	off int64
	err error
}

func (r failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > r.off {
		return 0, r.err
	}
	return bytes.NewReader(r.b).ReadAt(p, off)
}

// TestShortReads opens images whose reads come up short or fail. A read
// short of the size the image claims is damage and matches ErrNotISO, as
// FuzzOpenISO demands; an I/O error is passed on and does not.
func TestShortReads(t *testing.T) {
	// The root (block 18) holds a directory "d" (block 20, the last) that
	// holds a file "f" (block 19).
	m := newISO(sectorSize)
	m.dir(20, rootBlock(sectorSize), m.file(19, "f", "data\n"))
	img := m.root(dirRec(20, sectorSize, flagDir, "D", nm("d"))).bytes()
	size := int64(len(img))

	for _, tc := range []struct {
		name  string
		r     io.ReaderAt
		size  int64
		err   string // "": opens
		notIs error  // the error must not match this
	}{
		// Found by FuzzOpenISO: bytes.Reader says EOF for an empty read
		// at the end, where this image records an empty directory.
		{name: "empty directory at the end", r: bytes.NewReader(newISO(sectorSize).root(dirRec(19, 0, flagDir, "D")).bytes()), size: 19 * sectorSize},
		{name: "EOF with a full read", r: eofAtEnd(img), size: size},
		{name: "cut in the volume descriptor", r: bytes.NewReader(img[:16*sectorSize+100]), size: size, err: "volume descriptor ends after 100 of its 2048 bytes"},
		{name: "cut in the root's first record", r: bytes.NewReader(img[:18*sectorSize+10]), size: size, err: "directory ends after 10 of its 255 bytes"},
		{name: "cut in a directory", r: bytes.NewReader(img[:20*sectorSize+10]), size: size, err: "directory ends after 10 of its 2048 bytes"},
		{name: "I/O error", r: failingReader{img, 20 * sectorSize, syscall.EIO}, size: size, err: "reading directory at byte 40960: input/output error", notIs: ErrNotISO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys, _, err := openISO(tc.r, tc.size)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("openISO: %v", err)
				}
				walk(t, fsys)
				return
			}
			if err == nil {
				t.Fatalf("opened; want an error containing %q", tc.err)
			}
			if !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %q; want it to contain %q", err, tc.err)
			}
			if wantNotISO := tc.notIs == nil; errors.Is(err, ErrNotISO) != wantNotISO {
				t.Errorf("error %q: errors.Is(ErrNotISO) = %v, want %v", err, !wantNotISO, wantNotISO)
			}
		})
	}
}
