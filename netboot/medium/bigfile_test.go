package medium

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sharecd/sharecd/netboot/netlab"
)

// TestFileOver4GiB reads a 4.5 GiB file, which ISO 9660 can only store as
// several extents of under 4 GiB each (Ubuntu's filesystem.squashfs is
// like that). The source file is sparse; the image is really 4.5 GiB, so it
// is built once, here, and only skipped when xorriso or the disk space is
// missing.
func TestFileOver4GiB(t *testing.T) {
	needXorriso(t)
	const (
		size     = 4<<30 + 512<<20
		boundary = 4 << 30 // xorriso cuts extents just below it (4 GiB - 2 KiB)
		window   = 16 << 10
	)
	dir := t.TempDir()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if free := int64(st.Bavail) * int64(st.Bsize); free < size+1<<30 {
		netlab.Skipf(t, "needs %d GiB free in %s for a 4.5 GiB image, has %.1f GiB", (size+1<<30)>>30, dir, float64(free)/(1<<30))
	}

	// Known bytes at the start, the end, and across 4 GiB (both possible
	// extent boundaries, 4 GiB - 2 KiB and 4 GiB); zeros elsewhere.
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(filepath.Join(src, "casper"), 0o755); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(src, "casper", "filesystem.squashfs")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	marks := map[int64][]byte{
		0:                     pattern(window),
		boundary - window/2:   pattern(window + 1)[1:],
		size - window:         pattern(window + 3)[3:],
		boundary + 1<<20 + 17: []byte("in the second extent"),
	}
	for off, b := range marks {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// A file after the big one: its record follows the multi-extent ones.
	if err := os.WriteFile(filepath.Join(src, "casper", "vmlinuz"), kernel, 0o644); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	iso := filepath.Join(dir, "big.iso")
	sparseXorriso(t, iso, "-as", "mkisofs", "-quiet", "-iso-level", "3", "-R", "-J", "-V", "BIG", "-o", "-", src)
	if err := os.RemoveAll(src); err != nil {
		t.Fatal(err)
	}
	t.Logf("built the %.1f GiB image in %v", float64(size)/(1<<30), time.Since(start).Round(time.Millisecond))

	m := openT(t, iso)
	list, err := fs.ReadDir(m.FS, "casper")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name() != "filesystem.squashfs" || list[1].Name() != "vmlinuz" {
		t.Fatalf("casper lists %v; want the big file once, then vmlinuz", list)
	}
	if fi, err := list[0].Info(); err != nil || fi.Size() != size {
		t.Fatalf("listed size %v, %v; want %d", fi, err, int64(size))
	}
	if got, err := readAll(m.FS, "casper/vmlinuz"); err != nil || !bytes.Equal(got, kernel) {
		t.Errorf("casper/vmlinuz after the big file: %d bytes, %v", len(got), err)
	}

	bf, err := m.FS.Open("casper/filesystem.squashfs")
	if err != nil {
		t.Fatal(err)
	}
	defer bf.Close()
	fi, err := bf.Stat()
	if err != nil || fi.Size() != size {
		t.Fatalf("stat: %v, %v; want size %d", fi, err, int64(size))
	}
	ra := bf.(io.ReaderAt)
	rs := bf.(io.ReadSeeker)
	if end, err := rs.Seek(0, io.SeekEnd); end != size || err != nil {
		t.Errorf("Seek(0, SeekEnd) = %d, %v", end, err)
	}

	for off, want := range marks {
		// ReadAt of the mark with some zeros either side, and Seek+Read
		// of the same bytes.
		lo := max(off-100, 0)
		hi := min(off+int64(len(want))+100, size)
		exp := make([]byte, hi-lo)
		copy(exp[off-lo:], want)

		got := make([]byte, hi-lo)
		n, err := ra.ReadAt(got, lo)
		if n != len(got) || (err != nil && !(err == io.EOF && hi == size)) || !bytes.Equal(got, exp) {
			t.Errorf("ReadAt(%d, %d bytes) = %d, %v; equal %v", lo, len(got), n, err, bytes.Equal(got, exp))
		}
		if _, err := rs.Seek(lo, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		clear(got)
		if n, err := io.ReadFull(rs, got); n != len(got) || err != nil || !bytes.Equal(got, exp) {
			t.Errorf("Seek(%d)+Read(%d bytes) = %d, %v; equal %v", lo, len(got), n, err, bytes.Equal(got, exp))
		}
	}

	// Byte by byte across the extent boundary xorriso uses.
	for off := int64(boundary - 2048 - 2); off < boundary-2048+2; off++ {
		b := make([]byte, 1)
		if _, err := ra.ReadAt(b, off); err != nil || b[0] != marks[boundary-window/2][off-(boundary-window/2)] {
			t.Errorf("byte %d: %v, %v", off, b, err)
		}
	}
	if n, err := ra.ReadAt(make([]byte, 10), size-5); n != 5 || err != io.EOF {
		t.Errorf("ReadAt over the end: %d, %v; want 5, EOF", n, err)
	}
}

// sparseXorriso runs xorriso writing an image to its standard output and
// stores it in out with holes where it is zero: the 4.5 GiB image then costs
// seconds and a few MiB of disk instead of a minute of writing.
func sparseXorriso(t *testing.T, out string, args ...string) {
	t.Helper()
	cmd := exec.Command("xorriso", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf, zero := make([]byte, 1<<20), make([]byte, 1<<20)
	var size int64
	for {
		n, err := io.ReadFull(stdout, buf)
		if n > 0 {
			if chunk := buf[:n]; !bytes.Equal(chunk, zero[:n]) {
				if _, err := f.WriteAt(chunk, size); err != nil {
					t.Fatal(err)
				}
			}
			size += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("xorriso %v: %v\n%s", args, err, stderr.Bytes())
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
