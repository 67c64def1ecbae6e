package nfs

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

// Several media in one share: two exports with the same names and different
// contents, one a directory (os.Root) and one an fstest.MapFS.

const (
	exportA = "/sharecd/a"
	exportB = "/sharecd/b"
	sizeA   = 2<<20 + 3
)

// contentB is export B's squashfs: a different length and bytes from A's pattern.
var contentB = bytes.Repeat([]byte("the other medium, export b\n"), 4000)

func twoExports(t testing.TB) (s *Server, dirA string, events func() []string) {
	t.Helper()
	dirA, fsA := medium(t, sizeA)
	if err := os.WriteFile(filepath.Join(dirA, "only-a.txt"), []byte("a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fsB := fstest.MapFS{
		"hello.txt":         {Data: []byte("hello from medium b\n"), ModTime: time.Unix(2, 0)},
		bigName:             {Data: contentB, ModTime: time.Unix(2, 0)},
		"live/vmlinuz":      {Data: []byte("b kernel\n")},
		"live/vmlinuz.link": {Data: []byte("vmlinuz-b"), Mode: fs.ModeSymlink},
		"only-b.txt":        {Data: []byte("b\n")},
		"sub/dir/x":         {Data: []byte("x\n")},
	}
	var mu sync.Mutex
	var evs []string
	s = &Server{
		Exports: map[string]fs.FS{exportA: fsA, exportB + "/": fsB},
		OnEvent: func(ip netip.Addr, what string) {
			mu.Lock()
			defer mu.Unlock()
			evs = append(evs, ip.String()+" "+what)
		},
	}
	return s, dirA, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(evs)
	}
}

// readAll READs a whole file through fh.
func (c *rpcClient) readAll(fh []byte) (uint32, []byte) {
	c.t.Helper()
	var got []byte
	for {
		st, data, eof := c.read(fh, uint64(len(got)), 1<<20)
		if st != 0 {
			return st, got
		}
		got = append(got, data...)
		if eof || len(data) == 0 {
			return 0, got
		}
	}
}

func (c *rpcClient) readdir(fh []byte, plus bool) (uint32, []byte) {
	c.t.Helper()
	proc := uint32(nfsReaddir)
	if plus {
		proc = nfsReaddirplus
	}
	return c.nfs(proc, xdrArgs(func(w *xdrWriter) {
		w.opaque(fh)
		for range 4 { // cookie, cookieverf
			w.u32(0)
		}
		w.u32(8192)
		if plus {
			w.u32(65536)
		}
	}))
}

func (c *rpcClient) readlink(fh []byte) (uint32, string) {
	c.t.Helper()
	st, res := c.nfs(nfsReadlink, xdrArgs(func(w *xdrWriter) { w.opaque(fh) }))
	r := xdrReader{b: res}
	if r.u32() == 1 {
		readFattr(&r)
	}
	if st != 0 {
		return st, ""
	}
	return st, string(r.opaque(1024))
}

func TestExportsMount(t *testing.T) {
	s, _, _ := twoExports(t)
	c := dial(t, serve(t, s))
	_, rootA := c.mount(exportA)
	_, rootB := c.mount(exportB)
	if len(rootA) != handleLen || len(rootB) != handleLen || bytes.Equal(rootA, rootB) {
		t.Fatalf("root handles %x and %x: want two different handles", rootA, rootB)
	}
	if bytes.Equal(rootA[:8], rootB[:8]) {
		t.Errorf("both exports' handles carry the export ID %x", rootA[:8])
	}
	tests := []struct {
		path string
		want uint32
		root []byte // nil: the handle of walk
		walk string
	}{
		{exportA, 0, rootA, ""},
		{exportA + "/", 0, rootA, ""},
		{"/sharecd/b/../a", 0, rootA, ""},
		{exportB, 0, rootB, ""},
		{"//sharecd//b/.", 0, rootB, ""},
		{exportB + "/live", 0, rootB, "live"},
		{exportB + "/sub/dir/", 0, rootB, "sub/dir"},
		{exportA + "/docs/deep", 0, rootA, "docs/deep"},
		// Not an export, or outside every export: MNT3ERR_NOENT. With several media there is
		// no medium "/" or another path could mean.
		{"/sharecd", mnt3ErrNoEnt, nil, ""},
		{"/", mnt3ErrNoEnt, nil, ""},
		{"/sharecd/c", mnt3ErrNoEnt, nil, ""},
		{"/sharecd/ab", mnt3ErrNoEnt, nil, ""},
		{"/live", mnt3ErrNoEnt, nil, ""},
		{"/sharecd/a/../../etc", mnt3ErrNoEnt, nil, ""},
		{"sharecd/a", mnt3ErrNoEnt, nil, ""},
		{"", mnt3ErrNoEnt, nil, ""},
		// In an export, but names what it lacks (only the other one has it), or a file.
		{exportA + "/sub/dir", mnt3ErrNoEnt, nil, ""},
		{exportB + "/docs", mnt3ErrNoEnt, nil, ""},
		{exportA + "/hello.txt", 20, nil, ""}, // MNT3ERR_NOTDIR
		{strings.Repeat("/x", 600), mnt3ErrNameTooLong, nil, ""},
	}
	for _, tt := range tests {
		st, fh := c.mount(tt.path)
		if st != tt.want {
			t.Errorf("MNT %q = %d, want %d", tt.path, st, tt.want)
			continue
		}
		if st != 0 {
			continue
		}
		want := tt.root
		if tt.walk != "" {
			want = c.walk(tt.root, tt.walk)
		}
		if !bytes.Equal(fh, want) {
			t.Errorf("MNT %q = handle %x, want %x", tt.path, fh, want)
		}
	}

	// EXPORT lists both, in path order, with no groups.
	rep := c.call(progMount, mountExport, nil)
	want := xdrArgs(func(w *xdrWriter) {
		w.u32(1)
		w.opaque([]byte(exportA))
		w.u32(0)
		w.u32(1)
		w.opaque([]byte(exportB))
		w.u32(0)
		w.u32(0)
	})
	if rep.stat != acceptSuccess || !bytes.Equal(rep.body, want) {
		t.Errorf("EXPORT: %+v, want body %x", rep, want)
	}
}

// Each export serves its own medium through every read procedure.
func TestExportsServeTheirOwnFiles(t *testing.T) {
	s, _, events := twoExports(t)
	c := dial(t, serve(t, s))
	_, rootA := c.mount(exportA)
	_, rootB := c.mount(exportB)
	wantBig := map[string][]byte{exportA: pattern(sizeA), exportB: contentB}
	wantHello := map[string]string{exportA: "hello from the medium\n", exportB: "hello from medium b\n"}
	wantLink := map[string]string{exportA: "vmlinuz", exportB: "vmlinuz-b"}
	only := map[string]string{exportA: "only-a.txt", exportB: "only-b.txt"}
	other := map[string]string{exportA: exportB, exportB: exportA}
	fileids := map[string]uint64{}

	for _, ex := range []struct {
		path string
		root []byte
	}{{exportA, rootA}, {exportB, rootB}} {
		t.Run(ex.path, func(t *testing.T) {
			big := c.walk(ex.root, bigName)
			if st, attr := c.getattr(big); st != 0 || attr.size != uint64(len(wantBig[ex.path])) {
				t.Errorf("GETATTR %s = %d, size %d; want %d", bigName, st, attr.size, len(wantBig[ex.path]))
			}
			if st, attr := c.getattr(big); st == 0 {
				fileids[ex.path] = attr.fileid
			}
			if st, got := c.readAll(big); st != 0 || !bytes.Equal(got, wantBig[ex.path]) {
				t.Errorf("READ %s = %d, %d bytes; want this export's %d bytes", bigName, st, len(got), len(wantBig[ex.path]))
			}
			if st, got := c.readAll(c.walk(ex.root, "hello.txt")); st != 0 || string(got) != wantHello[ex.path] {
				t.Errorf("READ hello.txt = %d %q, want %q", st, got, wantHello[ex.path])
			}
			if st, got := c.readlink(c.walk(ex.root, "live/vmlinuz.link")); st != 0 || got != wantLink[ex.path] {
				t.Errorf("READLINK = %d %q, want %q", st, got, wantLink[ex.path])
			}
			// The other export's own file is not here, not even by climbing out.
			if st, _ := c.lookup(ex.root, only[other[ex.path]]); st != 2 {
				t.Errorf("LOOKUP %s = %d, want NFS3ERR_NOENT", only[other[ex.path]], st)
			}
			for _, name := range []string{"..", "../..", "../" + strings.TrimPrefix(other[ex.path], "/sharecd/")} {
				if st, fh := c.lookup(ex.root, name); st == 0 && !bytes.Equal(fh, ex.root) {
					t.Errorf("LOOKUP %q at the root gave %x, not the root", name, fh)
				}
			}
			for _, plus := range []bool{false, true} {
				st, res := c.readdir(ex.root, plus)
				if st != 0 || !bytes.Contains(res, []byte(only[ex.path])) || bytes.Contains(res, []byte(only[other[ex.path]])) {
					t.Errorf("READDIR(plus %v) = %d: want %s listed and %s not", plus, st, only[ex.path], only[other[ex.path]])
				}
			}
			for _, proc := range []uint32{nfsFsstat, nfsFsinfo, nfsPathconf} {
				if st, _ := c.nfs(proc, xdrArgs(func(w *xdrWriter) { w.opaque(ex.root) })); st != 0 {
					t.Errorf("proc %d on the root = %d", proc, st)
				}
			}
			if st, _ := c.nfs(nfsAccess, xdrArgs(func(w *xdrWriter) { w.opaque(big); w.u32(1) })); st != 0 {
				t.Errorf("ACCESS = %d", st)
			}
		})
	}

	if fileids[exportA] == fileids[exportB] {
		t.Errorf("%s has fileid %x in both exports: a client that mounts both could take them for one file", bigName, fileids[exportA])
	}

	evs := events()
	for _, w := range []string{
		"127.0.0.1 mount " + exportA,
		"127.0.0.1 mount " + exportB,
		"127.0.0.1 read " + exportA + "/" + bigName,
		"127.0.0.1 read " + exportB + "/" + bigName,
		"127.0.0.1 read " + exportB + "/hello.txt",
	} {
		if !slices.Contains(evs, w) {
			t.Errorf("event %q missing from %q", w, evs)
		}
	}
	seen := map[string]bool{}
	for _, e := range evs {
		if strings.Contains(e, " read ") && seen[e] {
			t.Errorf("event %q sent more than once: %q", e, evs)
		}
		seen[e] = true
	}
}

// A handle of one export never yields another's data: not its own handle used as is, nor one
// crafted to carry the other export's ID, nor that ID with the key of a path outside the export.
func TestExportsHandlesAreScoped(t *testing.T) {
	s, _, _ := twoExports(t)
	c := dial(t, serve(t, s))
	_, rootA := c.mount(exportA)
	_, rootB := c.mount(exportB)
	idA, idB := rootA[:8], rootB[:8]

	bigA, bigB := c.walk(rootA, bigName), c.walk(rootB, bigName)
	// An export's handle is its ID and a key hashed with that ID: the same path has
	// different handles in the two exports.
	if bytes.Equal(bigA[8:], bigB[8:]) {
		t.Fatalf("%s has the same key in both exports", bigName)
	}
	key := func(id []byte, name string) []byte {
		sum := sha256.Sum256(append(slices.Clone(id), name...))
		return sum[:16]
	}
	if !bytes.Equal(bigA[8:], key(idA, bigName)) {
		t.Fatalf("handle %x is not ID || SHA-256(ID || path)[:16]", bigA)
	}
	forge := func(id, k []byte) []byte { return append(slices.Clone(id), k...) }
	onlyA := c.walk(rootA, "only-a.txt")

	forged := []struct {
		what string
		fh   []byte
	}{
		{"A's file with B's ID", forge(idB, bigA[8:])},
		{"B's file with A's ID", forge(idA, bigB[8:])},
		{"A-only file with B's ID", forge(idB, onlyA[8:])},
		{"B's ID, key of A's file hashed with B's ID", forge(idB, key(idB, "only-a.txt"))},
		{"B's ID, path climbing into A", forge(idB, key(idB, "../a/"+bigName))},
		{"B's ID, absolute path", forge(idB, key(idB, "/"+bigName))},
		{"B's ID, path outside", forge(idB, key(idB, "../../etc/passwd"))},
		{"A's ID, path outside", forge(idA, key(idA, "../b/only-b.txt"))},
		{"unknown ID", forge([]byte("ABCDEFGH"), bigA[8:])},
	}
	for _, f := range forged {
		if st, _ := c.getattr(f.fh); st != nfs3ErrStale {
			t.Errorf("GETATTR %s = %d, want STALE", f.what, st)
		}
		if st, data, _ := c.read(f.fh, 0, 1<<20); st != nfs3ErrStale {
			t.Errorf("READ %s = %d (%d bytes), want STALE", f.what, st, len(data))
		}
		if st, _ := c.lookup(f.fh, "live"); st != nfs3ErrStale {
			t.Errorf("LOOKUP in %s = %d, want STALE", f.what, st)
		}
		if st, _ := c.readdir(f.fh, true); st != nfs3ErrStale {
			t.Errorf("READDIRPLUS %s = %d, want STALE", f.what, st)
		}
		if st, _ := c.readlink(f.fh); st != nfs3ErrStale {
			t.Errorf("READLINK %s = %d, want STALE", f.what, st)
		}
		for _, proc := range []uint32{nfsAccess, nfsFsstat, nfsFsinfo, nfsPathconf} {
			args := xdrArgs(func(w *xdrWriter) { w.opaque(f.fh) })
			if proc == nfsAccess {
				args = xdrArgs(func(w *xdrWriter) { w.opaque(f.fh); w.u32(1) })
			}
			if st, _ := c.nfs(proc, args); st != nfs3ErrStale {
				t.Errorf("proc %d with %s = %d, want STALE", proc, f.what, st)
			}
		}
		// A modifying call checks the handle first, as for a single medium.
		if st, _ := c.nfs(nfsCommit, xdrArgs(func(w *xdrWriter) { w.opaque(f.fh); w.u32(0); w.u32(0); w.u32(0) })); st != nfs3ErrStale {
			t.Errorf("COMMIT %s = %d, want STALE", f.what, st)
		}
	}

	// A's handles keep naming A's files, also after B's were walked (a stale handle walks the
	// medium its ID names), and a LOOKUP from A's directory stays in A.
	if st, got := c.readAll(bigA); st != 0 || !bytes.Equal(got, pattern(sizeA)) {
		t.Errorf("READ of A's file = %d, %d bytes: want A's", st, len(got))
	}
	if st, fh := c.lookup(c.walk(rootA, "live"), "filesystem.squashfs"); st != 0 || !bytes.Equal(fh, bigA) {
		t.Errorf("LOOKUP in A's live = %d %x, want A's handle %x", st, fh, bigA)
	}
}

// Two clients reading both exports at once, pipelined: each gets its own export's bytes (the
// fast path's attribute and open-file caches are per export).
func TestExportsConcurrentReads(t *testing.T) {
	s, _, _ := twoExports(t)
	port := serve(t, s)
	// The group returns once its parallel subtests have, before serve's cleanup stops the server.
	t.Run("group", func(t *testing.T) {
		for i, ex := range []struct {
			path string
			want []byte
		}{{exportA, pattern(sizeA)}, {exportB, contentB}, {exportA, pattern(sizeA)}, {exportB, contentB}} {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				c := dial(t, port)
				_, root := c.mount(ex.path)
				fh := c.walk(root, bigName)
				for range 3 {
					if st, attr := c.getattr(fh); st != 0 || attr.size != uint64(len(ex.want)) {
						t.Fatalf("%s: GETATTR = %d size %d, want %d", ex.path, st, attr.size, len(ex.want))
					}
					if st, data, _ := c.read(fh, 0, 1<<20); st != 0 || !bytes.Equal(data, ex.want[:min(len(ex.want), 1<<20)]) {
						t.Fatalf("%s: READ = %d, %d bytes not this export's", ex.path, st, len(data))
					}
				}
			})
		}
	})
}

// Nested exports: the longest export path wins.
func TestExportsNested(t *testing.T) {
	outer := fstest.MapFS{"b/x": {Data: []byte("outer\n")}, "o.txt": {Data: []byte("o\n")}}
	inner := fstest.MapFS{"x": {Data: []byte("inner\n")}}
	s := &Server{Exports: map[string]fs.FS{"/sharecd": outer, "/sharecd/b": inner, "/": fstest.MapFS{"r": {Data: []byte("r")}}}}
	c := dial(t, serve(t, s))
	_, root := c.mount("/sharecd/b")
	if st, got := c.readAll(c.walk(root, "x")); st != 0 || string(got) != "inner\n" {
		t.Errorf("/sharecd/b/x = %d %q, want the inner export's", st, got)
	}
	_, root = c.mount("/sharecd")
	if st, got := c.readAll(c.walk(root, "b/x")); st != 0 || string(got) != "outer\n" {
		t.Errorf("/sharecd then b/x = %d %q, want the outer export's", st, got)
	}
	// "/" is an export of its own: the other exports' trees are not below it.
	_, root = c.mount("/")
	if st, got := c.readAll(c.walk(root, "r")); st != 0 || string(got) != "r" {
		t.Errorf("/ then r = %d %q, want the \"/\" export's", st, got)
	}
	for _, p := range []string{"/o.txt", "/sharecd/b/nonexistent"} {
		if st, _ := c.mount(p); st != mnt3ErrNoEnt {
			t.Errorf("MNT %s = %d, want MNT3ERR_NOENT", p, st)
		}
	}
}

func TestExportsConfig(t *testing.T) {
	m := fstest.MapFS{"f": {Data: []byte("f")}}
	for _, tt := range []struct {
		name string
		s    *Server
		want string // "" means valid
	}{
		{"one FS", &Server{FS: m}, ""},
		{"two exports", &Server{Exports: map[string]fs.FS{"/a": m, "b": m}}, ""},
		{"nothing", &Server{}, "no filesystem"},
		{"FS and Exports", &Server{FS: m, Exports: map[string]fs.FS{"/a": m}}, "both"},
		{"Export and Exports", &Server{Export: "/x", Exports: map[string]fs.FS{"/a": m}}, "both"},
		{"same path twice", &Server{Exports: map[string]fs.FS{"/a": m, "a/": m}}, "same path"},
		{"empty path", &Server{Exports: map[string]fs.FS{"": m}}, "empty path"},
		{"nil FS", &Server{Exports: map[string]fs.FS{"/a": nil}}, "no filesystem"},
		{"path too long", &Server{Exports: map[string]fs.FS{strings.Repeat("/x", 600): m}}, "MNTPATHLEN"},
	} {
		_, err := newInstance(tt.s)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: %v, want an error with %q", tt.name, err, tt.want)
		}
	}
}

// A single medium is served as before Exports existed: these handles and this fileid were
// taken from the server before it had Exports, so clients that mounted it then keep theirs.
func TestSingleExportHandlesUnchanged(t *testing.T) {
	fsys := fstest.MapFS{
		"hello.txt":                {Data: []byte("hi\n"), Mode: 0o644, ModTime: time.Unix(1700000000, 0)},
		"live/filesystem.squashfs": {Data: []byte("sq"), Mode: 0o644, ModTime: time.Unix(1700000000, 0)},
		"live":                     {Mode: fs.ModeDir | 0o755, ModTime: time.Unix(1700000000, 0)},
	}
	c := dial(t, serve(t, &Server{FS: fsys}))
	_, root := c.mount(DefaultExport)
	fh := c.walk(root, "live/filesystem.squashfs")
	_, attr := c.getattr(fh)
	got := fmt.Sprintf("%x %x %x", root, fh, attr.fileid)
	const want = "63c4d29106bb60d3da9e73bb9966f20a9e76bfabfd28eeef 63c4d29106bb60d327c9f0890b45c93f1a9412d5ff13b810 2a28508b5988d139"
	if got != want {
		t.Errorf("handles %s, want %s", got, want)
	}
}

// libnfs, a real client, copies a file from each export and lists each one's directory.
func TestLibnfsExports(t *testing.T) {
	needTool(t, "nfs-cp")
	s, dirA, events := twoExports(t)
	port := serve(t, s)
	q := fmt.Sprintf("?nfsport=%d&mountport=%d", port, port)
	for _, ex := range []struct {
		path, only string
		want       []byte
	}{{exportA, "only-a.txt", pattern(sizeA)}, {exportB, "only-b.txt", contentB}} {
		t.Run(ex.path, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			runTool(t, "nfs-cp", "nfs://127.0.0.1"+ex.path+"/"+bigName+q, out)
			if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, ex.want) {
				t.Errorf("nfs-cp from %s: %d bytes (%v), want this export's %d", ex.path, len(got), err, len(ex.want))
			}
			ls := string(runTool(t, "nfs-ls", "nfs://127.0.0.1"+ex.path+q))
			if !strings.Contains(ls, ex.only) {
				t.Errorf("nfs-ls %s lacks %s:\n%s", ex.path, ex.only, ls)
			}
		})
	}
	// The other's file is not in A, and a path that is no export is refused.
	out := filepath.Join(t.TempDir(), "out")
	for _, url := range []string{"nfs://127.0.0.1" + exportA + "/only-b.txt" + q, "nfs://127.0.0.1/sharecd/c/hello.txt" + q} {
		b, err := execTool(t, "nfs-cp", url, out)
		t.Logf("nfs-cp %s: %v: %s", url, err, b)
		if err == nil {
			t.Errorf("nfs-cp %s succeeded:\n%s", url, b)
		}
	}
	if _, err := os.Stat(filepath.Join(dirA, "only-b.txt")); err == nil {
		t.Error("only-b.txt appeared in A")
	}
	evs := events()
	for _, w := range []string{"read " + exportA + "/" + bigName, "read " + exportB + "/" + bigName, "mount " + exportA, "mount " + exportB} {
		if !slices.Contains(evs, "127.0.0.1 "+w) {
			t.Errorf("event %q missing from %q", w, evs)
		}
	}
}

// TestSetExportsWhileServing changes a running server's exports the way a share adds and removes
// media: a lone medium at /sharecd gets a second export beside it and loses it again, and a
// client that took a handle before each change goes on reading with it, seeing the same file IDs.
func TestSetExportsWhileServing(t *testing.T) {
	_, fsA := medium(t, sizeA)
	fsB := fstest.MapFS{"only-b.txt": {Data: []byte("b\n")}, bigName: {Data: contentB}}
	s := &Server{FS: fsA, Export: "/sharecd"}
	c := dial(t, serve(t, s))
	client := netip.MustParseAddr("127.0.0.1")

	_, root := c.mount("/sharecd")
	big := c.walk(root, bigName)
	st, before := c.getattr(big)
	if st != 0 {
		t.Fatalf("GETATTR before the change = %d", st)
	}
	start := time.Now()
	if st, data, _ := c.read(big, 0, 16); st != 0 || !bytes.Equal(data, pattern(sizeA)[:16]) {
		t.Fatalf("READ before the change = %d %q", st, data)
	}
	if got := s.Users("/sharecd", start); !slices.Equal(got, []netip.Addr{client}) {
		t.Errorf("Users(/sharecd) = %v, want the client that read", got)
	}

	if err := s.SetExports(map[string]fs.FS{"/sharecd": fsA, "/sharecd/b": fsB}); err != nil {
		t.Fatal(err)
	}
	st, after := c.getattr(big)
	if st != 0 || after.fileid != before.fileid || after.size != before.size {
		t.Errorf("GETATTR of a handle taken before the change = %d %+v, want %+v", st, after, before)
	}
	if st, data, _ := c.read(big, sizeA-5, 16); st != 0 || !bytes.Equal(data, pattern(sizeA)[sizeA-5:]) {
		t.Errorf("READ of a handle taken before the change = %d %q", st, data)
	}
	_, rootB := c.mount("/sharecd/b")
	onlyB := c.walk(rootB, "only-b.txt")
	if st, data := c.readAll(onlyB); st != 0 || string(data) != "b\n" {
		t.Errorf("the new export's only-b.txt = %d %q", st, data)
	}
	if got := s.Users("/sharecd/b", start); !slices.Equal(got, []netip.Addr{client}) {
		t.Errorf("Users(/sharecd/b) = %v, want the client that mounted it", got)
	}
	if got := s.Users("/sharecd/b", time.Now().Add(time.Minute)); len(got) != 0 {
		t.Errorf("Users(/sharecd/b) since a time to come = %v, want none", got)
	}

	// Back to the lone medium: the first export's handles still read, the removed one's are stale.
	if err := s.SetExports(map[string]fs.FS{"/sharecd": fsA}); err != nil {
		t.Fatal(err)
	}
	if st, after := c.getattr(big); st != 0 || after.fileid != before.fileid || after.size != before.size {
		t.Errorf("GETATTR after the second export left = %d %+v, want %+v", st, after, before)
	}
	if st, _ := c.getattr(onlyB); st != nfs3ErrStale {
		t.Errorf("GETATTR of the removed export's file = %d, want NFS3ERR_STALE", st)
	}
	if st, _ := c.mount("/sharecd/b"); st == 0 {
		t.Error("the removed export still mounts")
	}
	if err := s.SetExports(nil); err == nil {
		t.Error("SetExports(nil) was taken: a server with no export")
	}
}
