package nfs

import (
	"bytes"
	"encoding/binary"
	"io"
	"io/fs"
	"net/netip"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	sharecdmedium "github.com/sharecd/sharecd/netboot/medium"
	"github.com/sharecd/sharecd/netboot/netlab"
)

// failingFS makes reads of one file fail past an offset, like a scratched disc.
type failingFS struct {
	fs.FS
	name string
	from int64
}

func (f failingFS) Open(name string) (fs.File, error) {
	file, err := f.FS.Open(name)
	if err != nil || name != f.name {
		return file, err
	}
	return &failingFile{File: file, ra: file.(io.ReaderAt), from: f.from}, nil
}

func (f failingFS) Stat(name string) (fs.FileInfo, error) { return fs.Stat(f.FS, name) }
func (f failingFS) ReadDir(name string) ([]fs.DirEntry, error) {
	return fs.ReadDir(f.FS, name)
}
func (f failingFS) ReadLink(name string) (string, error)   { return fs.ReadLink(f.FS, name) }
func (f failingFS) Lstat(name string) (fs.FileInfo, error) { return fs.Lstat(f.FS, name) }

type failingFile struct {
	fs.File
	ra   io.ReaderAt
	from int64
}

func (f *failingFile) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.from {
		return 0, &fs.PathError{Op: "read", Path: "medium", Err: syscall.EIO}
	}
	return f.ra.ReadAt(p, off)
}

// TestReadErrorIsNFS3ERR_IO: a medium that fails to read gives the client an I/O error for that
// READ, and the server goes on answering.
func TestReadErrorIsNFS3ERR_IO(t *testing.T) {
	_, fsys := medium(t, 1<<20)
	s := &Server{FS: failingFS{FS: fsys, name: bigName, from: 64 << 10}, Export: "/sharecd"}
	c := dial(t, serve(t, s))
	_, root := c.mount("/sharecd")
	fh := c.walk(root, bigName)
	want := pattern(1 << 20)

	if st, data, _ := c.read(fh, 0, 32<<10); st != 0 || !bytes.Equal(data, want[:32<<10]) {
		t.Fatalf("good READ: status %d, %d bytes", st, len(data))
	}
	if st, _, _ := c.read(fh, 512<<10, 32<<10); st != nfs3ErrIO {
		t.Fatalf("READ of a failing area: status %d, want NFS3ERR_IO", st)
	}
	if st, data, _ := c.read(fh, 4096, 4096); st != 0 || !bytes.Equal(data, want[4096:8192]) {
		t.Fatalf("READ after the failure: status %d, %d bytes", st, len(data))
	}
}

// TestPipelinedReads sends many READs before reading any reply, as the Linux client does with
// read-ahead, and checks every reply by xid: the fast path answers them concurrently and out of
// order.
func TestPipelinedReads(t *testing.T) {
	const size = 4 << 20
	s, _ := newServer(t, size)
	c := dial(t, serve(t, s))
	_, root := c.mount("/sharecd")
	fh := c.walk(root, bigName)
	want := pattern(size)

	const n, chunk = 64, 64 << 10
	var batch []byte
	for i := 0; i < n; i++ {
		off := uint64(i * chunk)
		m := callMsg(uint32(1000+i), rpcVersion, progNFS, 3, nfsRead, xdrArgs(func(w *xdrWriter) {
			w.opaque(fh)
			w.u32(uint32(off >> 32))
			w.u32(uint32(off))
			w.u32(chunk)
		}))
		batch = binary.BigEndian.AppendUint32(batch, 1<<31|uint32(len(m)))
		batch = append(batch, m...)
	}
	if _, err := c.c.Write(batch); err != nil {
		t.Fatal(err)
	}
	seen := map[uint32]bool{}
	for range n {
		_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		rec, err := readRecord(c.br, nil, 2<<20)
		if err != nil {
			t.Fatalf("pipelined replies: %v", err)
		}
		r := xdrReader{b: rec}
		xid := r.u32()
		idx := int(xid) - 1000
		if idx < 0 || idx >= n || seen[xid] {
			t.Fatalf("unexpected reply xid %d", xid)
		}
		seen[xid] = true
		r.u32()       // REPLY
		r.u32()       // MSG_ACCEPTED
		r.u32()       // verifier flavor
		r.opaque(400) // verifier
		if st := r.u32(); st != acceptSuccess {
			t.Fatalf("READ %d: accept_stat %d", idx, st)
		}
		if st := r.u32(); st != 0 {
			t.Fatalf("READ %d: status %d", idx, st)
		}
		if r.u32() == 1 {
			readFattr(&r)
		}
		r.u32() // count
		r.u32() // eof
		if data := r.opaque(1 << 30); !bytes.Equal(data, want[idx*chunk:(idx+1)*chunk]) {
			t.Fatalf("READ %d: wrong data", idx)
		}
	}
}

// READs of a directory medium and of an ISO file leave their data in the medium file (sent by
// splice or sendfile); the bytes on the wire must be the file's, at odd offsets and lengths (XDR
// padding) and at the end of the file.
func TestReadsWithoutCopy(t *testing.T) {
	if _, err := exec.LookPath("xorriso"); err != nil {
		netlab.Skipf(t, "needs xorriso to build the ISO medium (apt-get install xorriso)")
	}
	const size = 3<<20 + 5
	dir, dirFS := medium(t, size)
	iso := filepath.Join(t.TempDir(), "medium.iso")
	if out, err := exec.Command("xorriso", "-as", "mkisofs", "-quiet", "-R", "-o", iso, dir).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	m, err := sharecdmedium.Open(iso)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	want := pattern(size)

	for _, src := range []struct {
		name string
		fsys fs.FS
	}{{"directory", dirFS}, {"ISO file", m.FS}} {
		t.Run(src.name, func(t *testing.T) {
			s := &Server{FS: src.fsys, Export: "/sharecd"}
			in := mustInstance(t, s)
			fh := in.h.set.Load().exports[0].register(bigName)
			for _, rd := range []struct {
				off   uint64
				count uint32
			}{{0, 1 << 20}, {4097, 65537}, {size - 3, 1 << 20}, {1<<20 - 1, 2}} {
				rec := callMsg(7, rpcVersion, progNFS, 3, nfsRead, xdrArgs(func(w *xdrWriter) {
					w.opaque(fh)
					w.u32(uint32(rd.off >> 32))
					w.u32(uint32(rd.off))
					w.u32(rd.count)
				}))
				r := in.readCall(rec, netip.MustParseAddr("192.0.2.1"), true)()
				if r.file == nil || r.n != int(min(uint64(rd.count), size-rd.off)) {
					t.Errorf("READ %d+%d: reply {file %v, n %d}, want the data left in the medium file", rd.off, rd.count, r.file, r.n)
				}
				if r.done != nil {
					r.done()
				}
			}

			c := dial(t, serve(t, s))
			_, root := c.mount("/sharecd")
			fh = c.walk(root, bigName)
			for _, rd := range []struct {
				off   uint64
				count uint32
			}{{0, 1 << 20}, {4097, 65537}, {size - 3, 1 << 20}, {1<<20 - 1, 2}, {size, 10}} {
				st, data, eof := c.read(fh, rd.off, rd.count)
				end := min(rd.off+uint64(rd.count), size)
				if st != 0 || !bytes.Equal(data, want[rd.off:end]) || eof != (end == size) {
					t.Errorf("READ %d+%d: status %d, %d bytes (eof %v), want %d bytes of the file", rd.off, rd.count, st, len(data), eof, end-rd.off)
				}
			}
		})
	}
}
