package medium

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sharecd/sharecd/netboot/netlab"
)

const longName = "Mixed Case Name With Spaces And A Rather Long Tail, Longer Than Sixty-Four Characters.TXT"

var (
	fixedTime = time.Date(2024, 4, 24, 12, 34, 56, 0, time.UTC)
	kernel    = pattern(5000) // a file that spans three sectors
)

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// tree is a source directory description: a file (content), a symlink
// ("-> target") or a directory (trailing "/").
type tree []struct {
	path, content string
	mode          os.FileMode
}

// fullTree has what a live medium has and the cases that break readers:
// deep and long mixed-case names, executables, an empty file, symlinks
// inside, out of and around the medium.
var fullTree = tree{
	{"ReadMe.txt", "hello\n", 0o644},
	{longName, "long\n", 0o644},
	{"bin/tool", "#!/bin/sh\n", 0o755},
	{"empty", "", 0o644},
	{"live/vmlinuz", string(kernel), 0o644},
	{"a/b/c/d/e/f/g/h/i/j/deep.txt", "deep\n", 0o644},
	{".disk/info", "Share Test 1.0 \"Tiny\" - amd64\nsecond line\n", 0o644},
	{"link", "-> ReadMe.txt", 0},
	{"dirlink", "-> a/b", 0},
	{"a/b/up", "-> ../../live/vmlinuz", 0},
	{"escape", "-> ../../etc/passwd", 0},
	{"abs", "-> /etc/passwd", 0},
	{"loop1", "-> loop2", 0},
	{"loop2", "-> loop1", 0},
}

func (tr tree) build(t testing.TB, dir string) {
	t.Helper()
	for _, e := range tr {
		p := filepath.Join(dir, e.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(e.content, "-> "):
			if err := os.Symlink(strings.TrimPrefix(e.content, "-> "), p); err != nil {
				t.Fatal(err)
			}
			continue
		case strings.HasSuffix(e.path, "/"):
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(p, []byte(e.content), e.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, e.mode); err != nil { // umask
				t.Fatal(err)
			}
		}
		if err := os.Chtimes(p, fixedTime, fixedTime); err != nil {
			t.Fatal(err)
		}
	}
}

func needXorriso(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("xorriso"); err != nil {
		netlab.Skipf(t, "xorriso not installed (apt-get install xorriso)")
	}
}

// xorriso runs xorriso with args and returns the image it wrote to out.
func xorriso(t testing.TB, out string, args ...string) string {
	t.Helper()
	needXorriso(t)
	cmd := exec.Command("xorriso", args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xorriso %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return out
}

// mkisofs builds an image of src with xorriso's mkisofs emulation.
func mkisofs(t testing.TB, src string, args ...string) string {
	out := filepath.Join(t.TempDir(), "test.iso")
	return xorriso(t, out, append(append([]string{"-as", "mkisofs", "-quiet"}, args...), "-o", out, src)...)
}

func srcDir(t testing.TB, tr tree) string {
	dir := filepath.Join(t.TempDir(), "src")
	tr.build(t, dir)
	return dir
}

func openT(t testing.TB, path string) *Medium {
	t.Helper()
	m, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func readAll(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// TestRockRidge reads the same tree from its directory and from a Rock
// Ridge + Joliet image: both sources must look the same.
func TestRockRidge(t *testing.T) {
	src := srcDir(t, fullTree)
	iso := mkisofs(t, src, "-R", "-J", "-joliet-long", "-V", "SHARE_TEST")
	for _, tc := range []struct {
		path  string
		kind  Kind
		label string
	}{
		{src, KindDir, `Share Test 1.0 "Tiny" - amd64`},
		{iso, KindISO, "SHARE_TEST"},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			m := openT(t, tc.path)
			if m.Kind != tc.kind || m.Label != tc.label || m.Source != tc.path {
				t.Errorf("got kind %q label %q source %q, want %q %q %q", m.Kind, m.Label, m.Source, tc.kind, tc.label, tc.path)
			}
			checkFullTree(t, m)
		})
	}
}

func checkFullTree(t *testing.T, m *Medium) {
	fsys := m.FS
	for _, iface := range []struct {
		name string
		ok   bool
	}{
		{"fs.StatFS", isA[fs.StatFS](fsys)},
		{"fs.ReadDirFS", isA[fs.ReadDirFS](fsys)},
		{"fs.ReadLinkFS", isA[fs.ReadLinkFS](fsys)},
	} {
		if !iface.ok {
			t.Errorf("FS does not implement %s", iface.name)
		}
	}

	t.Run("fstest", func(t *testing.T) {
		// fstest opens every entry it lists; the bad links are tested
		// below, so check the tree without them.
		sub, err := fs.Sub(fsys, "a")
		if err != nil {
			t.Fatal(err)
		}
		if err := fstest.TestFS(sub, "b/c/d/e/f/g/h/i/j/deep.txt", "b/up"); err != nil {
			t.Error(err)
		}
		if err := fstest.TestFS(fsys, "ReadMe.txt", longName, "bin/tool", "live/vmlinuz", "empty", "link"); err != nil &&
			!strings.Contains(err.Error(), "escape") && !strings.Contains(err.Error(), "abs") && !strings.Contains(err.Error(), "loop") {
			t.Error(err)
		}
	})

	t.Run("files", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			want string
			mode fs.FileMode
		}{
			{"ReadMe.txt", "hello\n", 0o644},
			{longName, "long\n", 0o644},
			{"bin/tool", "#!/bin/sh\n", 0o755},
			{"empty", "", 0o644},
			{"live/vmlinuz", string(kernel), 0o644},
			{"a/b/c/d/e/f/g/h/i/j/deep.txt", "deep\n", 0o644},
			{"link", "hello\n", 0o644},                            // followed
			{"dirlink/c/d/e/f/g/h/i/j/deep.txt", "deep\n", 0o644}, // through a dir link
			{"a/b/up", string(kernel), 0o644},                     // .. inside the medium
			{"dirlink/up", string(kernel), 0o644},
		} {
			got, err := readAll(fsys, tc.name)
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			if !bytes.Equal(got, []byte(tc.want)) {
				t.Errorf("%s: read %d bytes, not the %d written", tc.name, len(got), len(tc.want))
			}
			fi, err := fs.Stat(fsys, tc.name)
			if err != nil {
				t.Errorf("stat %s: %v", tc.name, err)
				continue
			}
			if fi.Size() != int64(len(tc.want)) || fi.Mode() != tc.mode || fi.Name() != filepath.Base(tc.name) {
				t.Errorf("stat %s: name %q size %d mode %v, want %q %d %v",
					tc.name, fi.Name(), fi.Size(), fi.Mode(), filepath.Base(tc.name), len(tc.want), tc.mode)
			}
			if !fi.ModTime().Equal(fixedTime) {
				t.Errorf("stat %s: mtime %v, want %v", tc.name, fi.ModTime(), fixedTime)
			}
			if _, ok := fi.Sys().(*syscall.Stat_t); !ok {
				t.Errorf("stat %s: Sys() is %T, want *syscall.Stat_t", tc.name, fi.Sys())
			}
		}
	})

	t.Run("dirs", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			want []string
		}{
			{".", []string{".disk", longName, "ReadMe.txt", "a", "abs", "bin", "dirlink", "empty", "escape", "link", "live", "loop1", "loop2"}},
			{"a/b", []string{"c", "up"}},
			{"dirlink", []string{"c", "up"}},
		} {
			list, err := fs.ReadDir(fsys, tc.name)
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			var names []string
			for _, e := range list {
				names = append(names, e.Name())
			}
			if fmt.Sprint(names) != fmt.Sprint(tc.want) {
				t.Errorf("readdir %s:\n got %q\nwant %q", tc.name, names, tc.want)
			}
		}
		fi, err := fs.Stat(fsys, "a")
		if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
			t.Errorf("stat a: %v, %v", fi, err)
		}
	})

	t.Run("symlinks", func(t *testing.T) {
		for _, tc := range []struct {
			name, target string
			openErr      bool // Open must fail: the link leaves the medium or loops
		}{
			{"link", "ReadMe.txt", false},
			{"dirlink", "a/b", false},
			{"a/b/up", "../../live/vmlinuz", false},
			{"escape", "../../etc/passwd", true},
			{"abs", "/etc/passwd", true},
			{"loop1", "loop2", true},
		} {
			fi, err := fs.Lstat(fsys, tc.name)
			if err != nil || fi.Mode().Type() != fs.ModeSymlink {
				t.Errorf("lstat %s: %v, %v", tc.name, fi, err)
			}
			target, err := fs.ReadLink(fsys, tc.name)
			if err != nil || target != tc.target {
				t.Errorf("readlink %s: %q, %v; want %q", tc.name, target, err, tc.target)
			}
			f, err := fsys.Open(tc.name)
			if tc.openErr {
				if err == nil {
					f.Close()
					t.Errorf("open %s: followed a link that leaves the medium", tc.name)
				}
				if _, serr := fs.Stat(fsys, tc.name); serr == nil {
					t.Errorf("stat %s: followed a link that leaves the medium", tc.name)
				}
				continue
			}
			if err != nil {
				t.Errorf("open %s: %v", tc.name, err)
				continue
			}
			f.Close()
		}
		if m.Kind == KindISO {
			if _, err := fsys.Open("escape"); !errors.Is(err, fs.ErrPermission) {
				t.Errorf("open escape: %v, want fs.ErrPermission", err)
			}
		}
		if _, err := fs.ReadLink(fsys, "ReadMe.txt"); err == nil {
			t.Error("readlink of a regular file succeeded")
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			want error
		}{
			{"nope", fs.ErrNotExist},
			{"a/nope", fs.ErrNotExist},
			{"dirlink/nope", fs.ErrNotExist},
			{"/ReadMe.txt", fs.ErrInvalid},
			{"a/../ReadMe.txt", fs.ErrInvalid},
			{"./ReadMe.txt", fs.ErrInvalid},
			{"a/", fs.ErrInvalid},
			{"", fs.ErrInvalid},
		} {
			_, err := fsys.Open(tc.name)
			if !errors.Is(err, tc.want) {
				t.Errorf("open %q: %v, want %v", tc.name, err, tc.want)
			}
			if tc.want == fs.ErrNotExist && !errors.Is(err, ErrNotExist) {
				t.Errorf("open %q: %v, want ErrNotExist", tc.name, err)
			}
			var pe *fs.PathError
			if !errors.As(err, &pe) {
				t.Errorf("open %q: %T is not a *fs.PathError", tc.name, err)
			}
			for _, op := range []func() error{
				func() error { _, err := fs.Stat(fsys, tc.name); return err },
				func() error { _, err := fs.Lstat(fsys, tc.name); return err },
				func() error { _, err := fs.ReadDir(fsys, tc.name); return err },
				func() error { _, err := fs.ReadLink(fsys, tc.name); return err },
			} {
				if err := op(); !errors.Is(err, tc.want) {
					t.Errorf("%q: %v, want %v", tc.name, err, tc.want)
				}
			}
		}
		if _, err := fsys.Open("ReadMe.txt/x"); err == nil {
			t.Error("open ReadMe.txt/x: no error")
		}
	})

	t.Run("ReaderAt+Seeker", func(t *testing.T) {
		f, err := fsys.Open("live/vmlinuz")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		ra, ok := f.(io.ReaderAt)
		if !ok {
			t.Fatalf("%T is not an io.ReaderAt", f)
		}
		sk, ok := f.(io.Seeker)
		if !ok {
			t.Fatalf("%T is not an io.Seeker", f)
		}
		if size, err := sk.Seek(0, io.SeekEnd); err != nil || size != int64(len(kernel)) {
			t.Errorf("Seek(0, SeekEnd) = %d, %v; want %d (TFTP tsize)", size, err, len(kernel))
		}
		// Concurrent preads across sector boundaries, as NFS clients do.
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Go(func() {
				buf := make([]byte, 777)
				for i := range 50 {
					off := int64((g*131 + i*977) % len(kernel))
					n, err := ra.ReadAt(buf, off)
					want := kernel[off:min(int(off)+len(buf), len(kernel))]
					if n != len(want) || !bytes.Equal(buf[:n], want) || (err != nil && err != io.EOF) ||
						(n < len(buf) && err != io.EOF) {
						t.Errorf("ReadAt(%d): %d, %v", off, n, err)
						return
					}
				}
			})
		}
		wg.Wait()
		if n, err := ra.ReadAt(make([]byte, 10), int64(len(kernel))); n != 0 || err != io.EOF {
			t.Errorf("ReadAt at the end: %d, %v; want 0, EOF", n, err)
		}
		if _, err := sk.Seek(-1, io.SeekStart); err == nil {
			t.Error("Seek(-1) succeeded")
		}
	})
}

func isA[T any](v any) bool { _, ok := v.(T); return ok }

// TestJolietOnly reads an image with Joliet names and no Rock Ridge, as
// Windows tools write them: mixed case and long names, no modes.
func TestJolietOnly(t *testing.T) {
	src := srcDir(t, tree{
		{"ReadMe.txt", "hello\n", 0o644},
		{"Boot Files/Kernel Image With A Long Name.bin", string(kernel), 0o644},
		{"Boot Files/ünïcödé.txt", "u\n", 0o644},
	})
	m := openT(t, mkisofs(t, src, "--norock", "-J", "-joliet-long", "-V", "JOLIET"))
	if m.Label != "JOLIET" {
		t.Errorf("label %q", m.Label)
	}
	for name, want := range map[string]string{
		"ReadMe.txt": "hello\n",
		"Boot Files/Kernel Image With A Long Name.bin": string(kernel),
		"Boot Files/ünïcödé.txt":                       "u\n",
	} {
		got, err := readAll(m.FS, name)
		if err != nil || string(got) != want {
			t.Errorf("%s: %d bytes, %v", name, len(got), err)
		}
		fi, err := fs.Stat(m.FS, name)
		if err != nil || fi.Mode() != 0o444 || fi.Size() != int64(len(want)) {
			t.Errorf("stat %s: %v, %v", name, fi, err)
		}
	}
	// Joliet keeps case: no folding.
	if _, err := m.FS.Open("readme.txt"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("open readme.txt: %v, want not exist", err)
	}
	if err := fstest.TestFS(m.FS, "ReadMe.txt", "Boot Files/ünïcödé.txt"); err != nil {
		t.Error(err)
	}
}

// TestPlainISO9660 reads an ISO level 1 image with no extensions: 8.3
// uppercase names with ";1", shown lowercase and looked up in any case.
func TestPlainISO9660(t *testing.T) {
	src := srcDir(t, tree{
		{"readme.txt", "hello\n", 0o644},
		{"isolinux/isolinux.cfg", "default live\n", 0o644},
		{"isolinux/vmlinuz", string(kernel), 0o644},
		{"noext", "x\n", 0o644},
	})
	m := openT(t, mkisofs(t, src, "--norock", "-iso-level", "1", "-V", "PLAIN"))
	list, err := fs.ReadDir(m.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range list {
		names = append(names, e.Name())
	}
	if got, want := fmt.Sprint(names), "[isolinux noext readme.txt]"; got != want {
		t.Errorf("root: %s, want %s", got, want)
	}
	for _, tc := range []struct{ name, want string }{
		{"readme.txt", "hello\n"},
		{"README.TXT", "hello\n"},
		{"ISOLINUX/isolinux.CFG", "default live\n"},
		{"isolinux/vmlinuz", string(kernel)},
		{"NOEXT", "x\n"},
	} {
		got, err := readAll(m.FS, tc.name)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: %q, %v", tc.name, got, err)
		}
	}
	if err := fstest.TestFS(m.FS, "readme.txt", "isolinux/vmlinuz", "noext"); err != nil {
		t.Error(err)
	}
}

// TestRelocatedDirs reads Rock Ridge directories that were moved to keep
// the ECMA-119 tree 8 levels deep (RRIP CL/RE entries), as genisoimage does
// by default and xorriso with deep_paths_off.
func TestRelocatedDirs(t *testing.T) {
	src := srcDir(t, tree{{"1/2/3/4/5/6/7/8/9/10/deep.txt", "deep\n", 0o644}})
	out := filepath.Join(t.TempDir(), "reloc.iso")
	xorriso(t, out, "-report_about", "SORRY", "-compliance", "deep_paths_off", "-outdev", out, "-map", src, "/")
	m := openT(t, out)
	got, err := readAll(m.FS, "1/2/3/4/5/6/7/8/9/10/deep.txt")
	if err != nil || string(got) != "deep\n" {
		t.Errorf("deep file: %q, %v", got, err)
	}
	list, err := fs.ReadDir(m.FS, ".")
	if err != nil || len(list) != 1 || list[0].Name() != "1" {
		t.Errorf("root lists %v, %v; want only the original tree", list, err)
	}
	if err := fstest.TestFS(m.FS, "1/2/3/4/5/6/7/8/9/10/deep.txt"); err != nil {
		t.Error(err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "emptydir")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		want       []error
		text       string
	}{
		{"missing", filepath.Join(dir, "nope.iso"), []error{ErrNotExist, fs.ErrNotExist}, "no such file or directory"},
		{"text file", write("notes.txt", []byte("hello\n")), []error{ErrNotISO, ErrUnsupported}, "not an ISO 9660 image"},
		{"empty file", write("empty.iso", nil), []error{ErrNotISO}, "not an ISO 9660 image"},
		{"zeros", write("zeros.iso", make([]byte, 64<<10)), []error{ErrNotISO}, "not an ISO 9660 image"},
		{"fifo", fifo, []error{ErrUnsupported}, "not a directory, ISO 9660 image or block device"},
		{"empty dir", empty, []error{ErrUnsupported}, "is the medium mounted?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Open(tc.path)
			if err == nil {
				m.Close()
				t.Fatal("no error")
			}
			for _, want := range tc.want {
				if !errors.Is(err, want) {
					t.Errorf("%v: does not match %v", err, want)
				}
			}
			if !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("%q: want the path and %q", err, tc.text)
			}
		})
	}
}

func TestOpenPermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		// Not netlab.Skipf: CI's test run is root, where this test can never run, so it is not
		// a missing prerequisite. .ci/run runs it again as nobody and fails unless it passes.
		t.Skip("running as root: permissions are not enforced (.ci/run runs this test as nobody)")
	}
	p := filepath.Join(t.TempDir(), "secret.iso")
	if err := os.WriteFile(p, nil, 0); err != nil {
		t.Fatal(err)
	}
	_, err := Open(p)
	if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), p) {
		t.Errorf("%v: want permission denied naming the path", err)
	}
}

// TestTruncatedImage: an image cut short (an interrupted download) is
// refused at Open rather than failing a client mid-boot.
func TestTruncatedImage(t *testing.T) {
	src := srcDir(t, tree{{"big", string(pattern(200 << 10)), 0o644}})
	iso := mkisofs(t, src, "-R", "-no-pad")
	fi, err := os.Stat(iso)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(iso, fi.Size()-100<<10); err != nil {
		t.Fatal(err)
	}
	_, err = Open(iso)
	if !errors.Is(err, ErrNotISO) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("%v: want a truncated-image error", err)
	}
}

// TestImageSize checks the block device path of imageSize, which seeks to
// the end because Stat reports 0 for a device, on a regular file.
func TestImageSize(t *testing.T) {
	p := filepath.Join(t.TempDir(), "dev")
	if err := os.WriteFile(p, make([]byte, 12345), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, device := range []bool{false, true} {
		if size, err := imageSize(f, device); size != 12345 || err != nil {
			t.Errorf("imageSize(device=%v) = %d, %v; want 12345", device, size, err)
		}
	}
}

// TestBlockDevice opens an image through a read-only loop device, where
// root and loop devices are available.
func TestBlockDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		netlab.Skipf(t, "needs root for losetup")
	}
	if _, err := exec.LookPath("losetup"); err != nil {
		netlab.Skipf(t, "losetup not installed (apt-get install mount)")
	}
	src := srcDir(t, tree{{"live/vmlinuz", string(kernel), 0o644}})
	iso := mkisofs(t, src, "-R", "-V", "DEVICE")
	out, err := exec.Command("losetup", "--find", "--show", "--read-only", iso).CombinedOutput()
	if err != nil {
		netlab.Skipf(t, "no loop device here (a container without /dev/loop*?): losetup: %v: %s", err, bytes.TrimSpace(out))
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "--detach", dev).Run() })
	m := openT(t, dev)
	if m.Kind != KindDevice || m.Label != "DEVICE" {
		t.Errorf("kind %q label %q", m.Kind, m.Label)
	}
	if got, err := readAll(m.FS, "live/vmlinuz"); err != nil || !bytes.Equal(got, kernel) {
		t.Errorf("live/vmlinuz: %d bytes, %v", len(got), err)
	}
}

func TestDetect(t *testing.T) {
	mk := func(root string, dirs ...string) {
		for _, d := range dirs {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	touch := func(p string) {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		setup func(root string)
		want  string // relative to root; "" = ErrNoLiveMedium
	}{
		{"nothing", func(string) {}, ""},
		{"empty mount points", func(r string) { mk(r, "cdrom", "run/live/medium") }, ""},
		{"casper", func(r string) { mk(r, "cdrom/casper"); mk(r, "run/live/medium") }, "cdrom"},
		{"live-boot first", func(r string) { mk(r, "cdrom/x", "run/live/medium/live") }, "run/live/medium"},
		{"a file, not a dir", func(r string) { mk(r, "run/live"); touch(filepath.Join(r, "run/live/medium")) }, ""},
		{"archiso", func(r string) { mk(r, "run/archiso/bootmnt/arch") }, "run/archiso/bootmnt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tc.setup(root)
			got, err := Detect(root)
			if tc.want == "" {
				if !errors.Is(err, ErrNoLiveMedium) {
					t.Errorf("Detect = %q, %v; want ErrNoLiveMedium", got, err)
				}
				return
			}
			if want := filepath.Join(root, tc.want); got != want || err != nil {
				t.Errorf("Detect = %q, %v; want %q", got, err, want)
			}
		})
	}
}

// TestDetectRunning uses fake /proc files shaped like real live sessions' (testdata/proc/*).
func TestDetectRunning(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cmdline string
		mounts  []string // mount points (under the fake root) and their source, "point source"
		dirs    []string
		want    Running // Path relative to root
		wantErr bool
	}{
		{name: "ubuntu from a DVD", cmdline: "BOOT_IMAGE=/casper/vmlinuz boot=casper quiet splash ---",
			mounts: []string{"/cdrom /dev/sr0"}, dirs: []string{"cdrom/casper", "run/live/medium/live"},
			want: Running{Family: "casper", Path: "cdrom", Device: "/dev/sr0"}},
		{name: "debian live from USB", cmdline: "BOOT_IMAGE=/live/vmlinuz boot=live components quiet splash",
			mounts: []string{"/run/live/medium /dev/sdb1"}, dirs: []string{"run/live/medium/live"},
			want: Running{Family: "live-boot", Path: "run/live/medium", Device: "/dev/sdb1"}},
		{name: "older live-boot", cmdline: "boot=live", dirs: []string{"lib/live/mount/medium/live"},
			want: Running{Family: "live-boot", Path: "lib/live/mount/medium"}},
		{name: "fedora", cmdline: "BOOT_IMAGE=/images/pxeboot/vmlinuz root=live:CDLABEL=Fedora-WS-Live-43 rd.live.image quiet",
			mounts: []string{"/run/initramfs/live /dev/sr0"}, dirs: []string{"run/initramfs/live/LiveOS"},
			want: Running{Family: "dracut", Path: "run/initramfs/live", Device: "/dev/sr0"}},
		{name: "arch", cmdline: "initrd=/arch/boot/x86_64/initramfs-linux.img archisobasedir=arch archisosearchuuid=2026-03-01-10-00-00-00",
			mounts: []string{"/run/archiso/bootmnt /dev/sr0"}, dirs: []string{"run/archiso/bootmnt/arch"},
			want: Running{Family: "archiso", Path: "run/archiso/bootmnt", Device: "/dev/sr0"}},
		{name: "manjaro", cmdline: "misobasedir=manjaro misolabel=MANJARO_KDE quiet", dirs: []string{"run/miso/bootmnt/manjaro"},
			want: Running{Family: "miso", Path: "run/miso/bootmnt"}},
		{name: "ubuntu from an ISO file on disk", cmdline: "boot=casper iso-scan/filename=/isos/ubuntu-25.10-desktop-amd64.iso quiet",
			mounts: []string{"/cdrom /dev/loop0", "/isodevice /dev/sda2"}, dirs: []string{"cdrom/casper"},
			want: Running{Family: "casper", Path: "cdrom", Device: "/dev/loop0", ISO: "/isos/ubuntu-25.10-desktop-amd64.iso"}},
		{name: "debian findiso", cmdline: "boot=live findiso=/live.iso", mounts: []string{"/run/live/medium /dev/loop0"},
			dirs: []string{"run/live/medium/live"}, want: Running{Family: "live-boot", Path: "run/live/medium", Device: "/dev/loop0", ISO: "/live.iso"}},
		{name: "casper toram keeps /cdrom", cmdline: "boot=casper toram", mounts: []string{"/cdrom /dev/loop1"}, dirs: []string{"cdrom/casper"},
			want: Running{Family: "casper", Path: "cdrom", Device: "/dev/loop1", ToRAM: true}},
		{name: "live-boot toram, medium gone", cmdline: "boot=live toram", dirs: []string{"run/live"}, wantErr: true},
		{name: "installed system", cmdline: "BOOT_IMAGE=/boot/vmlinuz root=UUID=1234 ro quiet", dirs: []string{"cdrom"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			os.MkdirAll(filepath.Join(root, "proc/self"), 0o755)
			os.WriteFile(filepath.Join(root, "proc/cmdline"), []byte(tc.cmdline+"\n"), 0o644)
			var mi strings.Builder
			mi.WriteString("22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw\n")
			for i, m := range tc.mounts {
				point, src, _ := strings.Cut(m, " ")
				fmt.Fprintf(&mi, "%d 22 7:0 / %s ro,noatime shared:%d - iso9660 %s ro\n", 30+i, point, 5+i, src)
			}
			os.WriteFile(filepath.Join(root, "proc/self/mountinfo"), []byte(mi.String()), 0o644)
			for _, d := range tc.dirs {
				os.MkdirAll(filepath.Join(root, d), 0o755)
			}
			got, err := DetectRunning(root)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("DetectRunning = %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			want.Path = filepath.Join(root, want.Path)
			if got != want {
				t.Errorf("DetectRunning =\n %+v\nwant\n %+v", got, want)
			}
		})
	}
}
