package nfs

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sharecd/sharecd/netboot/netlab"
)

// --- the test medium ---------------------------------------------------------

const bigName = "live/filesystem.squashfs"

// pattern is the content of the generated big file: each 8-byte word holds
// its own offset, so a misplaced block shows where it came from.
func pattern(size int) []byte {
	b := make([]byte, size)
	for i := 0; i+8 <= size; i += 8 {
		binary.BigEndian.PutUint64(b[i:], uint64(i)^0x5348415245434400)
	}
	return b
}

// medium copies testdata/medium into a temp dir, adds the big file and the
// symlinks, and returns the directory and its os.Root FS.
func medium(t testing.TB, bigSize int) (string, fs.FS) {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/medium")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, bigName), pattern(bigSize), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("vmlinuz", filepath.Join(dir, "live/vmlinuz.link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "outside.link")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return dir, root.FS()
}

// serve starts s on 127.0.0.1:0 and stops it at cleanup, checking that Serve
// returns nil on cancel.
func serve(t testing.TB, s *Server) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Serve returned %v after cancel", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}

// --- a small RPC client, for the tests only ----------------------------------

type rpcClient struct {
	t   testing.TB
	c   net.Conn
	br  io.Reader
	xid uint32
}

func dial(t testing.TB, port int) *rpcClient {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rpcClient{t: t, c: c, br: c, xid: 0x1000}
}

type rpcReply struct {
	denied bool
	stat   uint32 // accept_stat, or reject_stat when denied
	body   []byte
}

func callMsg(xid, rpcvers, prog, vers, proc uint32, args []byte) []byte {
	w := xdrWriter{}
	w.u32(xid)
	w.u32(msgCall)
	w.u32(rpcvers)
	w.u32(prog)
	w.u32(vers)
	w.u32(proc)
	// AUTH_UNIX as klibc and the Linux client send it.
	cred := xdrWriter{}
	cred.u32(0) // stamp
	cred.opaque([]byte("client"))
	cred.u32(0) // uid
	cred.u32(0) // gid
	cred.u32(0) // gids
	w.u32(1)
	w.opaque(cred.b)
	w.u32(0)
	w.u32(0)
	w.b = append(w.b, args...)
	return w.b
}

func (c *rpcClient) send(msg []byte) {
	c.t.Helper()
	rec := binary.BigEndian.AppendUint32(nil, 1<<31|uint32(len(msg)))
	if _, err := c.c.Write(append(rec, msg...)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rpcClient) recv() (rpcReply, error) {
	_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	rec, err := readRecord(c.br, nil, 64<<20)
	if err != nil {
		return rpcReply{}, err
	}
	r := xdrReader{b: rec}
	xid, mtype, rstat := r.u32(), r.u32(), r.u32()
	if r.bad || mtype != msgReply {
		return rpcReply{}, fmt.Errorf("bad reply header %x", rec[:min(len(rec), 16)])
	}
	if xid != c.xid {
		return rpcReply{}, fmt.Errorf("reply xid %#x, want %#x", xid, c.xid)
	}
	if rstat == replyDenied {
		st := r.u32()
		return rpcReply{denied: true, stat: st, body: r.b}, nil
	}
	r.u32()
	r.opaque(400)
	st := r.u32()
	if r.bad {
		return rpcReply{}, errors.New("short accepted reply")
	}
	return rpcReply{stat: st, body: r.b}, nil
}

func (c *rpcClient) callVers(rpcvers, prog, vers, proc uint32, args []byte) rpcReply {
	c.t.Helper()
	c.xid++
	c.send(callMsg(c.xid, rpcvers, prog, vers, proc, args))
	rep, err := c.recv()
	if err != nil {
		c.t.Fatalf("prog %d v%d proc %d: %v", prog, vers, proc, err)
	}
	return rep
}

func (c *rpcClient) call(prog, proc uint32, args []byte) rpcReply {
	c.t.Helper()
	return c.callVers(rpcVersion, prog, 3, proc, args)
}

// nfsOK calls an NFS procedure that must succeed at the RPC level and returns
// the nfsstat3 and the rest of the result.
func (c *rpcClient) nfs(proc uint32, args []byte) (uint32, []byte) {
	c.t.Helper()
	rep := c.call(progNFS, proc, args)
	if rep.denied || rep.stat != acceptSuccess {
		c.t.Fatalf("NFS proc %d: rpc reply %+v", proc, rep)
	}
	r := xdrReader{b: rep.body}
	st := r.u32()
	return st, r.b
}

func xdrArgs(f func(w *xdrWriter)) []byte {
	w := xdrWriter{}
	f(&w)
	return w.b
}

func (c *rpcClient) mount(path string) (uint32, []byte) {
	c.t.Helper()
	rep := c.call(progMount, mountMnt, xdrArgs(func(w *xdrWriter) { w.opaque([]byte(path)) }))
	if rep.denied || rep.stat != acceptSuccess {
		c.t.Fatalf("MNT %q: rpc reply %+v", path, rep)
	}
	r := xdrReader{b: rep.body}
	st := r.u32()
	if st != 0 {
		return st, nil
	}
	return st, r.opaque(64)
}

func (c *rpcClient) lookup(dir []byte, name string) (uint32, []byte) {
	c.t.Helper()
	st, res := c.nfs(nfsLookup, xdrArgs(func(w *xdrWriter) { w.opaque(dir); w.opaque([]byte(name)) }))
	if st != 0 {
		return st, nil
	}
	r := xdrReader{b: res}
	return st, r.opaque(64)
}

// walk looks a slash-separated path up from the root handle.
func (c *rpcClient) walk(root []byte, p string) []byte {
	c.t.Helper()
	fh := root
	for _, name := range strings.Split(p, "/") {
		st, next := c.lookup(fh, name)
		if st != 0 {
			c.t.Fatalf("LOOKUP %q in %q: nfsstat %d", name, p, st)
		}
		fh = next
	}
	return fh
}

// fattr3 fields we look at.
type fattr struct {
	typ, mode uint32
	size      uint64
	fileid    uint64
	rest      []byte
}

func readFattr(r *xdrReader) fattr {
	var a fattr
	a.typ, a.mode = r.u32(), r.u32()
	r.skip(12) // nlink uid gid
	a.size = r.u64()
	r.skip(8 + 8 + 8) // used rdev fsid
	a.fileid = r.u64()
	r.skip(24) // times
	return a
}

func (c *rpcClient) getattr(fh []byte) (uint32, fattr) {
	c.t.Helper()
	st, res := c.nfs(nfsGetattr, xdrArgs(func(w *xdrWriter) { w.opaque(fh) }))
	r := xdrReader{b: res}
	if st != 0 {
		return st, fattr{}
	}
	return st, readFattr(&r)
}

func (c *rpcClient) read(fh []byte, off uint64, count uint32) (uint32, []byte, bool) {
	c.t.Helper()
	st, res := c.nfs(nfsRead, xdrArgs(func(w *xdrWriter) {
		w.opaque(fh)
		w.u32(uint32(off >> 32))
		w.u32(uint32(off))
		w.u32(count)
	}))
	if st != 0 {
		return st, nil, false
	}
	r := xdrReader{b: res}
	if r.u32() == 1 {
		readFattr(&r)
	}
	r.u32() // count
	eof := r.u32() == 1
	data := r.opaque(1 << 30)
	if r.bad {
		c.t.Fatalf("short READ reply")
	}
	return st, data, eof
}

// --- Go-level RPC tests ----------------------------------------------------

func newServer(t testing.TB, bigSize int) (*Server, string) {
	dir, fsys := medium(t, bigSize)
	return &Server{FS: fsys, Export: "/sharecd"}, dir
}

func TestMountAndRead(t *testing.T) {
	s, _ := newServer(t, 3<<20+123)
	var mu sync.Mutex
	var events []string
	s.OnEvent = func(ip netip.Addr, what string) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, ip.String()+" "+what)
	}
	c := dial(t, serve(t, s))

	tests := []struct {
		path string
		want uint32
	}{
		{"/sharecd", 0},
		{"/sharecd/", 0},
		{"/", 0},
		{"/other", mnt3ErrNoEnt},
		{"/sharecd/nonexistent", mnt3ErrNoEnt},
		{"/sharecd/hello.txt", 20}, // MNT3ERR_NOTDIR
		{"sharecd", mnt3ErrNoEnt},
		{"", mnt3ErrNoEnt},
		{strings.Repeat("/x", 600), mnt3ErrNameTooLong},
	}
	var root []byte
	for _, tt := range tests {
		st, fh := c.mount(tt.path)
		if st != tt.want {
			t.Errorf("MNT %q = %d, want %d", tt.path, st, tt.want)
		}
		if st == 0 {
			if root != nil && !bytes.Equal(fh, root) {
				t.Errorf("MNT %q gave another root handle", tt.path)
			}
			root = fh
		}
	}
	if len(root) != handleLen {
		t.Fatalf("root handle %x", root)
	}
	// A directory below the export (or below "/") mounts as that directory.
	for _, p := range []string{"/sharecd/docs/deep", "/docs/deep/", "/sharecd/docs/../docs/deep"} {
		if st, fh := c.mount(p); st != 0 || !bytes.Equal(fh, c.walk(root, "docs/deep")) {
			t.Errorf("MNT %q = %d %x, want the handle of docs/deep", p, st, fh)
		}
	}

	// Read the big file in client-sized pieces and compare.
	fh := c.walk(root, bigName)
	st, attr := c.getattr(fh)
	want := pattern(3<<20 + 123)
	if st != 0 || attr.typ != 1 || attr.size != uint64(len(want)) {
		t.Fatalf("GETATTR = %d %+v", st, attr)
	}
	if attr.mode != 0o444 {
		t.Errorf("file mode %o, want 0444: read-only, readable, and no type bits", attr.mode)
	}
	// The type is in the type field; mode has only the permissions (RFC 1813 §2.6).
	if st, attr := c.getattr(root); st != 0 || attr.typ != 2 || attr.mode != 0o555 {
		t.Errorf("directory GETATTR = %d, type %d mode %o; want NF3DIR, 0555", st, attr.typ, attr.mode)
	}
	if st, attr := c.getattr(c.walk(root, "live/vmlinuz.link")); st != 0 || attr.typ != 5 {
		t.Errorf("symlink GETATTR = %d, type %d; want NF3LNK", st, attr.typ)
	}
	var got []byte
	for {
		st, data, eof := c.read(fh, uint64(len(got)), 1<<20)
		if st != 0 {
			t.Fatalf("READ at %d: %d", len(got), st)
		}
		got = append(got, data...)
		if eof || len(data) == 0 {
			break
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, differ from the file (%d bytes)", len(got), len(want))
	}

	// READLINK gives the link text, even for a link pointing outside.
	for name, target := range map[string]string{"live/vmlinuz.link": "vmlinuz", "outside.link": "/etc/passwd"} {
		st, res := c.nfs(nfsReadlink, xdrArgs(func(w *xdrWriter) { w.opaque(c.walk(root, name)) }))
		r := xdrReader{b: res}
		if r.u32() == 1 {
			readFattr(&r)
		}
		if got := string(r.opaque(1024)); st != 0 || got != target {
			t.Errorf("READLINK %s = %d %q, want %q", name, st, got, target)
		}
	}
	// READ through a symlink's handle is refused: the server never follows.
	if st, _, _ := c.read(c.walk(root, "outside.link"), 0, 100); st == 0 {
		t.Error("READ of a symlink handle succeeded")
	}

	mu.Lock()
	defer mu.Unlock()
	wantEv := []string{"127.0.0.1 mount", "127.0.0.1 read " + bigName}
	for _, w := range wantEv {
		found := false
		for _, e := range events {
			found = found || e == w
		}
		if !found {
			t.Errorf("event %q missing from %q", w, events)
		}
	}
	n := 0
	for _, e := range events {
		if strings.HasSuffix(e, " read "+bigName) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("read event for %s sent %d times, want once", bigName, n)
	}
}

func TestLookupDotDot(t *testing.T) {
	s, _ := newServer(t, 100)
	c := dial(t, serve(t, s))
	_, root := c.mount("/sharecd")
	for _, name := range []string{"..", "."} {
		st, fh := c.lookup(root, name)
		if st != 0 || !bytes.Equal(fh, root) {
			t.Errorf("LOOKUP %q at the root = %d %x, want the root %x", name, st, fh, root)
		}
	}
	deep := c.walk(root, "docs/deep/er")
	st, up := c.lookup(deep, "..")
	if st != 0 || !bytes.Equal(up, c.walk(root, "docs/deep")) {
		t.Errorf("LOOKUP .. from docs/deep/er = %d", st)
	}
	// A name with slashes and dot-dots cannot climb out of the medium.
	if st, fh := c.lookup(root, "../../../etc"); st == 0 {
		t.Errorf("LOOKUP ../../../etc succeeded: %x", fh)
	}
	if st, _ := c.lookup(root, "nonexistent"); st != 2 {
		t.Errorf("LOOKUP nonexistent = %d, want NFS3ERR_NOENT", st)
	}
}

func TestReadOnly(t *testing.T) {
	s, dir := newServer(t, 100)
	c := dial(t, serve(t, s))
	_, root := c.mount("/sharecd")
	file := c.walk(root, "hello.txt")

	sattrNone := func(w *xdrWriter) {
		for range 6 {
			w.u32(0)
		}
	}
	diropargs := func(w *xdrWriter, dir []byte, name string) { w.opaque(dir); w.opaque([]byte(name)) }
	tests := []struct {
		name string
		proc uint32
		args func(fh []byte) []byte
	}{
		{"SETATTR", nfsSetattr, func(fh []byte) []byte {
			return xdrArgs(func(w *xdrWriter) {
				w.opaque(fh)
				w.u32(1)
				w.u32(0o777)
				for range 5 {
					w.u32(0)
				}
				w.u32(0)
			})
		}},
		{"WRITE", nfsWrite, func(fh []byte) []byte {
			return xdrArgs(func(w *xdrWriter) {
				w.opaque(fh)
				w.u32(0)
				w.u32(0)
				w.u32(5)
				w.u32(2)
				w.opaque([]byte("hello"))
			})
		}},
		{"CREATE", nfsCreate, func(fh []byte) []byte {
			return xdrArgs(func(w *xdrWriter) { diropargs(w, fh, "new"); w.u32(0); sattrNone(w) })
		}},
		{"MKDIR", nfsMkdir, func(fh []byte) []byte {
			return xdrArgs(func(w *xdrWriter) { diropargs(w, fh, "newdir"); sattrNone(w) })
		}},
		{"SYMLINK", nfsSymlink, func(fh []byte) []byte {
			return xdrArgs(func(w *xdrWriter) { diropargs(w, fh, "newlink"); sattrNone(w); w.opaque([]byte("hello.txt")) })
		}},
		{"MKNOD", nfsMknod, func(fh []byte) []byte {
			return xdrArgs(func(w *xdrWriter) { diropargs(w, fh, "fifo"); w.u32(7); sattrNone(w) })
		}},
		{"REMOVE", nfsRemove, func(fh []byte) []byte {
			return xdrArgs(func(w *xdrWriter) { diropargs(w, fh, "hello.txt") })
		}},
		{"RMDIR", nfsRmdir, func(fh []byte) []byte {
			return xdrArgs(func(w *xdrWriter) { diropargs(w, fh, "docs") })
		}},
		{"RENAME", nfsRename, func(fh []byte) []byte {
			return xdrArgs(func(w *xdrWriter) { diropargs(w, fh, "hello.txt"); diropargs(w, root, "renamed.txt") })
		}},
		{"LINK", nfsLink, func(fh []byte) []byte {
			return xdrArgs(func(w *xdrWriter) { w.opaque(file); diropargs(w, fh, "hardlink") })
		}},
		{"COMMIT", nfsCommit, func(fh []byte) []byte {
			return xdrArgs(func(w *xdrWriter) { w.opaque(fh); w.u32(0); w.u32(0); w.u32(0) })
		}},
	}
	forgedOurs := append(append([]byte(nil), root[:8]...), bytes.Repeat([]byte{0xee}, 16)...)
	forgedOther := append(bytes.Repeat([]byte{0x42}, 8), root[8:]...)
	for _, tt := range tests {
		fh := root
		if tt.proc == nfsSetattr || tt.proc == nfsWrite || tt.proc == nfsCommit {
			fh = file
		}
		for _, h := range []struct {
			what string
			fh   []byte
			want uint32
		}{
			{"real", fh, nfs3ErrROFS},
			{"unknown", forgedOurs, nfs3ErrStale},
			{"other export", forgedOther, nfs3ErrStale},
			{"short", []byte{1, 2, 3}, nfs3ErrBadHandle},
		} {
			args := tt.args(h.fh)
			if tt.proc == nfsLink {
				args = xdrArgs(func(w *xdrWriter) { w.opaque(h.fh); diropargs(w, root, "hardlink") })
			}
			st, res := c.nfs(tt.proc, args)
			if st != h.want {
				t.Errorf("%s with %s handle = nfsstat %d, want %d", tt.name, h.what, st, h.want)
			}
			if len(res) != 4*roFailWords[tt.proc] {
				t.Errorf("%s resfail body %d bytes, want %d", tt.name, len(res), 4*roFailWords[tt.proc])
			}
		}
	}

	// Nothing changed on disk.
	if b, err := os.ReadFile(filepath.Join(dir, "hello.txt")); err != nil || string(b) != "hello from the medium\n" {
		t.Errorf("hello.txt now %q, %v", b, err)
	}
	for _, n := range []string{"new", "newdir", "newlink", "fifo", "renamed.txt", "hardlink"} {
		if _, err := os.Lstat(filepath.Join(dir, n)); err == nil {
			t.Errorf("%s was created", n)
		}
	}

	// Forged handles on read procedures: STALE from go-nfs, never a panic.
	for _, h := range []struct {
		fh   []byte
		want uint32
	}{{forgedOurs, nfs3ErrStale}, {forgedOther, nfs3ErrStale}, {[]byte{1, 2, 3}, nfs3ErrBadHandle}, {nil, nfs3ErrBadHandle}} {
		if st, _ := c.getattr(h.fh); st != h.want {
			t.Errorf("GETATTR forged %x = %d, want %d", h.fh, st, h.want)
		}
		if st, _, _ := c.read(h.fh, 0, 10); st != h.want {
			t.Errorf("READ forged %x = %d, want %d", h.fh, st, h.want)
		}
		if st, _ := c.lookup(h.fh, "live"); st != h.want {
			t.Errorf("LOOKUP in forged %x = %d, want %d", h.fh, st, h.want)
		}
	}
	// A handle longer than NFS3_FHSIZE is garbage.
	rep := c.call(progNFS, nfsGetattr, xdrArgs(func(w *xdrWriter) { w.opaque(make([]byte, 65)) }))
	if rep.stat != acceptGarbageArgs {
		t.Errorf("GETATTR with 65-byte handle: %+v, want GARBAGE_ARGS", rep)
	}
	// ACCESS grants no modify bits.
	st, res := c.nfs(nfsAccess, xdrArgs(func(w *xdrWriter) { w.opaque(file); w.u32(0x3f) }))
	r := xdrReader{b: res}
	if r.u32() == 1 {
		readFattr(&r)
	}
	if mask := r.u32(); st != 0 || mask&(0x04|0x08|0x10) != 0 {
		t.Errorf("ACCESS = %d mask %#x: grants modify/extend/delete", st, mask)
	}
}

func TestRPCGaps(t *testing.T) {
	s, _ := newServer(t, 100)
	c := dial(t, serve(t, s))
	tests := []struct {
		name                    string
		rpcvers, prog, vers, pr uint32
		denied                  bool
		stat                    uint32
		body                    []uint32
	}{
		{"NFSv4 NULL", 2, progNFS, 4, 0, false, acceptProgMismatch, []uint32{3, 3}},
		{"NFSv2 NULL", 2, progNFS, 2, 0, false, acceptProgMismatch, []uint32{3, 3}},
		{"MOUNT v1 NULL", 2, progMount, 1, 0, false, acceptProgMismatch, []uint32{3, 3}},
		{"NLM", 2, 100021, 4, 0, false, acceptProgUnavail, nil},
		{"portmapper on the NFS port", 2, progPortmap, 2, 0, false, acceptProgUnavail, nil},
		{"NFS proc 22", 2, progNFS, 3, 22, false, acceptProcUnavail, nil},
		{"MOUNT proc 6", 2, progMount, 3, 6, false, acceptProcUnavail, nil},
		{"rpcvers 3", 3, progNFS, 3, 0, true, rejectRPCMismatch, []uint32{2, 2}},
		{"NFS NULL", 2, progNFS, 3, 0, false, acceptSuccess, nil},
		{"MOUNT NULL", 2, progMount, 3, 0, false, acceptSuccess, nil},
		{"MOUNT DUMP", 2, progMount, 3, mountDump, false, acceptSuccess, []uint32{0}},
		{"MOUNT UMNTALL", 2, progMount, 3, mountUmntall, false, acceptSuccess, nil},
	}
	for _, tt := range tests {
		rep := c.callVers(tt.rpcvers, tt.prog, tt.vers, tt.pr, nil)
		want := xdrArgs(func(w *xdrWriter) {
			for _, v := range tt.body {
				w.u32(v)
			}
		})
		if rep.denied != tt.denied || rep.stat != tt.stat || !bytes.Equal(rep.body, want) {
			t.Errorf("%s: reply %+v, want denied=%v stat=%d body=%x", tt.name, rep, tt.denied, tt.stat, want)
		}
	}

	// UMNT, with or without a path.
	for _, p := range []string{"/sharecd", ""} {
		rep := c.call(progMount, mountUmnt, xdrArgs(func(w *xdrWriter) { w.opaque([]byte(p)) }))
		if rep.stat != acceptSuccess || len(rep.body) != 0 {
			t.Errorf("UMNT %q: %+v", p, rep)
		}
	}

	// EXPORT: one export, no groups.
	rep := c.call(progMount, mountExport, nil)
	want := xdrArgs(func(w *xdrWriter) { w.u32(1); w.opaque([]byte("/sharecd")); w.u32(0); w.u32(0) })
	if rep.stat != acceptSuccess || !bytes.Equal(rep.body, want) {
		t.Errorf("EXPORT: %+v, want body %x", rep, want)
	}

	// A malformed credential.
	c.xid++
	msg := binary.BigEndian.AppendUint32(nil, c.xid)
	for _, v := range []uint32{msgCall, 2, progNFS, 3, 0, 1, 500} {
		msg = binary.BigEndian.AppendUint32(msg, v)
	}
	c.send(msg)
	if rep, err := c.recv(); err != nil || !rep.denied || rep.stat != rejectAuthError {
		t.Errorf("bad credential: %+v %v, want AUTH_ERROR", rep, err)
	}

	// A call split into several fragments is joined before go-nfs sees it.
	c.xid++
	msg = callMsg(c.xid, 2, progMount, 3, mountNull, nil)
	var frag []byte
	for i := 0; i < len(msg); i += 7 {
		end := min(i+7, len(msg))
		mark := uint32(end - i)
		if end == len(msg) {
			mark |= 1 << 31
		}
		frag = binary.BigEndian.AppendUint32(frag, mark)
		frag = append(frag, msg[i:end]...)
	}
	if _, err := c.c.Write(frag); err != nil {
		t.Fatal(err)
	}
	if rep, err := c.recv(); err != nil || rep.stat != acceptSuccess {
		t.Errorf("fragmented MOUNT NULL: %+v %v", rep, err)
	}

	// Pipelined calls, ours and go-nfs's interleaved, all answered in order
	// and none corrupted.
	_, root := c.mount("/")
	var batch []byte
	first := c.xid + 1
	for i := range 50 {
		proc, prog := uint32(nfsGetattr), uint32(progNFS)
		args := xdrArgs(func(w *xdrWriter) { w.opaque(root) })
		if i%2 == 1 {
			prog, proc, args = progMount, mountExport, nil
		}
		m := callMsg(first+uint32(i), 2, prog, 3, proc, args)
		batch = binary.BigEndian.AppendUint32(batch, 1<<31|uint32(len(m)))
		batch = append(batch, m...)
	}
	if _, err := c.c.Write(batch); err != nil {
		t.Fatal(err)
	}
	seen := map[uint32]bool{}
	for range 50 {
		_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		rec, err := readRecord(c.br, nil, 1<<20)
		if err != nil {
			t.Fatalf("pipelined replies: %v", err)
		}
		xid := binary.BigEndian.Uint32(rec)
		if xid < first || xid >= first+50 || seen[xid] {
			t.Fatalf("unexpected reply xid %#x", xid)
		}
		seen[xid] = true
	}
	c.xid = first + 49
}

func TestRefusedClient(t *testing.T) {
	s, _ := newServer(t, 100)
	s.Allow = func(ip netip.Addr) bool { return ip != netip.MustParseAddr("127.0.0.1") }
	port := serve(t, s)
	c := dial(t, port)
	c.xid++
	c.send(callMsg(c.xid, 2, progMount, 3, mountExport, nil))
	if rep, err := c.recv(); err == nil {
		t.Fatalf("refused client got a reply: %+v", rep)
	}

	// Allowed at accept but not at MNT (an Allow that changes its mind):
	// MNT3ERR_ACCES.
	s2, _ := newServer(t, 100)
	calls := 0
	var mu sync.Mutex
	s2.Allow = func(netip.Addr) bool {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return calls == 1
	}
	c2 := dial(t, serve(t, s2))
	if st, _ := c2.mount("/sharecd"); st != 13 {
		t.Errorf("MNT by a client refused at MNT = %d, want MNT3ERR_ACCES", st)
	}
}

func TestOversizeRecord(t *testing.T) {
	s, _ := newServer(t, 100)
	c := dial(t, serve(t, s))
	if _, err := c.c.Write([]byte{0x80, 0x20, 0, 0}); err != nil { // 2 MiB fragment
		t.Fatal(err)
	}
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.c.Read(make([]byte, 10)); err == nil {
		t.Errorf("connection still open after an oversize record (read %d)", n)
	}
}

func TestHandlesSurviveRestart(t *testing.T) {
	_, fsys := medium(t, 1000)
	s1 := &Server{FS: fsys}
	c1 := dial(t, serve(t, s1))
	_, root := c1.mount(DefaultExport)
	fh := c1.walk(root, "docs/deep/er/file.txt")

	// A new server (a restart): the handle still resolves without LOOKUPs.
	s2 := &Server{FS: fsys}
	c2 := dial(t, serve(t, s2))
	st, data, _ := c2.read(fh, 0, 100)
	if st != 0 || string(data) != "deep file\n" {
		t.Errorf("READ with a handle from before the restart = %d %q", st, data)
	}
	// Another export path is another export: its handles are stale here.
	s3 := &Server{FS: fsys, Export: "/other"}
	c3 := dial(t, serve(t, s3))
	if st, _ := c3.getattr(fh); st != nfs3ErrStale {
		t.Errorf("GETATTR with a handle of another export = %d, want STALE", st)
	}
}

func TestReaddir(t *testing.T) {
	s, _ := newServer(t, 100)
	c := dial(t, serve(t, s))
	_, root := c.mount("/sharecd")
	live := c.walk(root, "live")
	for _, proc := range []uint32{nfsReaddir, nfsReaddirplus} {
		st, res := c.nfs(proc, xdrArgs(func(w *xdrWriter) {
			w.opaque(live)
			w.u32(0)
			w.u32(0)
			w.u32(0)
			w.u32(0)
			w.u32(8192)
			if proc == nfsReaddirplus {
				w.u32(65536)
			}
		}))
		if st != 0 {
			t.Fatalf("READDIR proc %d = %d", proc, st)
		}
		for _, n := range []string{"vmlinuz", "initrd.img", "filesystem.squashfs", "vmlinuz.link"} {
			if !bytes.Contains(res, []byte(n)) {
				t.Errorf("proc %d listing lacks %s", proc, n)
			}
		}
	}
}

func TestServeCancelClosesConns(t *testing.T) {
	_, fsys := medium(t, 100)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- (&Server{FS: fsys}).Serve(ctx, l) }()
	c := dial(t, l.Addr().(*net.TCPAddr).Port)
	c.mount(DefaultExport)
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Serve = %v after cancel", err)
	}
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("client connection not closed at shutdown: %v", err)
	}
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Error("listener still open after cancel")
	}
}

func TestFixAcceptStat(t *testing.T) {
	tests := []struct{ in, out uint32 }{{0, 0}, {1, 1}, {2, 3}, {3, 4}, {4, 5}, {5, 5}}
	for _, tt := range tests {
		rep := acceptedReply(7, tt.in)
		chunk := binary.BigEndian.AppendUint32(nil, 1<<31|uint32(len(rep)))
		chunk = append(chunk, rep...)
		orig := append([]byte(nil), chunk...)
		got := fixAcceptStat(chunk)
		if st := binary.BigEndian.Uint32(got[24:]); st != tt.out {
			t.Errorf("accept_stat %d → %d, want %d", tt.in, st, tt.out)
		}
		if !bytes.Equal(chunk, orig) {
			t.Error("fixAcceptStat modified its input")
		}
	}
}

// --- libnfs: a real client -----------------------------------------------------

func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		netlab.Skipf(t, "%s not installed (Debian: libnfs-utils): %v", name, err)
	}
	return p
}

// execTool runs a libnfs tool and returns its output and how it ended.
func execTool(t testing.TB, name string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return exec.CommandContext(ctx, needTool(t, name), args...).CombinedOutput()
}

func runTool(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	out, err := execTool(t, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func libnfsChecks(t *testing.T, base, query, dir string) {
	// nfs-cp of the multi-MB file.
	out := filepath.Join(t.TempDir(), "out")
	runTool(t, "nfs-cp", base+"/"+bigName+query, out)
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(dir, bigName))
	if !bytes.Equal(got, want) {
		t.Fatalf("nfs-cp copied %d bytes that differ from the %d-byte file", len(got), len(want))
	}
	// nfs-ls of a directory.
	ls := string(runTool(t, "nfs-ls", base+"/live"+query))
	for _, n := range []string{"vmlinuz", "initrd.img", "filesystem.squashfs", "vmlinuz.link"} {
		if !strings.Contains(ls, n) {
			t.Errorf("nfs-ls lacks %s:\n%s", n, ls)
		}
	}
	// Through a symlink: libnfs resolves it client-side via READLINK.
	out2 := filepath.Join(t.TempDir(), "out2") // nfs-cp does not overwrite
	runTool(t, "nfs-cp", base+"/live/vmlinuz.link"+query, out2)
	if b, _ := os.ReadFile(out2); string(b) != "not a kernel: sharecd nfs test file\n" {
		t.Errorf("nfs-cp through the symlink gave %q", b)
	}
}

func TestLibnfs(t *testing.T) {
	needTool(t, "nfs-cp")
	s, dir := newServer(t, 5<<20+7)
	port := serve(t, s)

	t.Run("ports in URL", func(t *testing.T) {
		q := fmt.Sprintf("?nfsport=%d&mountport=%d", port, port)
		libnfsChecks(t, "nfs://127.0.0.1/sharecd", q, dir)
	})

	t.Run("portmapper on 111", func(t *testing.T) {
		if os.Geteuid() != 0 {
			netlab.Skipf(t, "needs root to bind 127.0.0.1:111")
		}
		tl, err := net.Listen("tcp", "127.0.0.1:111")
		if err != nil {
			netlab.Skipf(t, "port 111 busy (another portmapper? .ci/run stops rpcbind): %v", err)
		}
		ul, err := net.ListenPacket("udp", "127.0.0.1:111")
		if err != nil {
			tl.Close()
			netlab.Skipf(t, "UDP port 111 busy (another portmapper? .ci/run stops rpcbind): %v", err)
		}
		pm := &Portmapper{NFSPort: port}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- pm.Serve(ctx, tl, ul) }()
		defer func() {
			cancel()
			if err := <-errc; err != nil {
				t.Errorf("Portmapper.Serve = %v", err)
			}
		}()
		libnfsChecks(t, "nfs://127.0.0.1/sharecd", "", dir)
	})
}

// BenchmarkLibnfs256 measures libnfs's nfs-cp copying a 256 MiB file from the server over
// loopback, one whole copy per iteration, and reports MB/s. The copy goes to /dev/shm where
// there is one, so the local disk is not what is measured. A few copies:
//
//	go test -run '^$' -bench '^BenchmarkLibnfs256$' -benchtime 5x ./netboot/nfs
//
// (bench/nfs.sh measures more: 1 and 8 readers, directory and ISO-file sources.)
func BenchmarkLibnfs256(b *testing.B) {
	needTool(b, "nfs-cp")
	const size = 256 << 20
	s, dir := newServer(b, size)
	port := serve(b, s)
	outDir := b.TempDir()
	if d, err := os.MkdirTemp("/dev/shm", "sharecd-nfs-bench"); err == nil {
		outDir = d
		b.Cleanup(func() { os.RemoveAll(d) })
	}
	out := filepath.Join(outDir, "out")
	url := fmt.Sprintf("nfs://127.0.0.1/sharecd/%s?nfsport=%d&mountport=%d", bigName, port, port)
	for b.Loop() {
		os.Remove(out) // nfs-cp does not overwrite
		runTool(b, "nfs-cp", url, out)
	}
	b.ReportMetric(float64(size)*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
	got, err := os.ReadFile(out)
	if err != nil {
		b.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(dir, bigName))
	if err != nil {
		b.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		b.Fatal("the copy differs from the file")
	}
}
