package medium

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// isoImage is an ISO 9660 image built byte by byte, for the images xorriso
// refuses to write: a primary volume descriptor at sector 16, a terminator at
// 17, Rock Ridge announced (SP, ER) in the root's "." record, and whatever
// directories and file bytes a case puts at which blocks.
type isoImage struct {
	bs int64
	b  []byte
}

// rootBlock is the root directory's block: the first after the volume
// descriptors (sectors 16 and 17).
func rootBlock(bs int64) int64 { return 18 * sectorSize / bs }

// newISO starts an image with blocks of bs bytes; root writes its root.
func newISO(bs int64) *isoImage {
	m := &isoImage{bs: bs, b: make([]byte, 18*sectorSize)}
	pvd := m.b[16*sectorSize:]
	pvd[0], pvd[6] = 1, 1
	copy(pvd[1:], "CD001")
	copy(pvd[40:72], "HOSTILE                         ")
	binary.LittleEndian.PutUint16(pvd[128:], uint16(bs))
	binary.BigEndian.PutUint16(pvd[130:], uint16(bs))
	term := m.b[17*sectorSize:]
	term[0], term[6] = 255, 1
	copy(term[1:], "CD001")
	return m
}

// root writes the root directory with entries and returns the image.
func (m *isoImage) root(entries ...[]byte) *isoImage {
	r := rootBlock(m.bs)
	dot := dirRec(r, 0, flagDir, "\x00",
		susp("SP", 0xBE, 0xEF, 0),
		susp("ER", append([]byte{10, 0, 0, 1}, "RRIP_1991A"...)...))
	size := m.dirWith(r, r, dot, entries...)
	copy(m.b[16*sectorSize+156:], dirRec(r, size, flagDir, "\x00"))
	return m
}

// put writes data at block, growing the image.
func (m *isoImage) put(block int64, data []byte) {
	if end := block*m.bs + int64(len(data)); end > int64(len(m.b)) {
		m.b = append(m.b, make([]byte, end-int64(len(m.b)))...)
	}
	copy(m.b[block*m.bs:], data)
}

// dir writes a directory at block whose ".." is parent and returns its size.
func (m *isoImage) dir(block, parent int64, entries ...[]byte) int64 {
	return m.dirWith(block, parent, dirRec(block, 0, flagDir, "\x00"), entries...)
}

// dirWith lays out dot, ".." and entries as ECMA-119 6.8.1.1 wants (a
// record that would cross a sector boundary starts the next sector) and
// returns the directory's size in whole sectors.
func (m *isoImage) dirWith(block, parent int64, dot []byte, entries ...[]byte) int64 {
	var d []byte
	for _, r := range append([][]byte{dot, dirRec(parent, sectorSize, flagDir, "\x01")}, entries...) {
		if rest := sectorSize - len(d)%sectorSize; len(r) > rest {
			d = append(d, make([]byte, rest)...)
		}
		d = append(d, r...)
	}
	size := (len(d) + sectorSize - 1) / sectorSize * sectorSize
	m.put(block, append(d, make([]byte, size-len(d))...))
	return int64(size)
}

// file writes content at block and returns its record, named by NM.
func (m *isoImage) file(block int64, name, content string) []byte {
	m.put(block, []byte(content))
	return dirRec(block, int64(len(content)), 0, "F;1", nm(name))
}

// bytes returns the image padded to whole sectors.
func (m *isoImage) bytes() []byte {
	if r := len(m.b) % sectorSize; r != 0 {
		m.b = append(m.b, make([]byte, sectorSize-r)...)
	}
	return m.b
}

// dirRec encodes a directory record (ECMA-119 9.1) with both-endian
// numbers and system use entries after the identifier.
func dirRec(lba, size int64, flags byte, ident string, sua ...[]byte) []byte {
	r := make([]byte, 33+len(ident))
	copy(r[33:], ident)
	if len(ident)%2 == 0 {
		r = append(r, 0)
	}
	for _, e := range sua {
		r = append(r, e...)
	}
	if len(r)%2 == 1 {
		r = append(r, 0)
	}
	r[0] = byte(len(r))
	binary.LittleEndian.PutUint32(r[2:], uint32(lba))
	binary.BigEndian.PutUint32(r[6:], uint32(lba))
	binary.LittleEndian.PutUint32(r[10:], uint32(size))
	binary.BigEndian.PutUint32(r[14:], uint32(size))
	copy(r[18:], []byte{125, 1, 1, 0, 0, 0, 0}) // 2025-01-01 UTC
	r[25] = flags
	r[28], r[31] = 1, 1 // volume sequence number 1
	r[32] = byte(len(ident))
	return r
}

// susp encodes one SUSP entry: signature, length, version 1, data.
func susp(sig string, data ...byte) []byte {
	return append([]byte{sig[0], sig[1], byte(4 + len(data)), 1}, data...)
}

// nm is a Rock Ridge NM entry (RRIP 4.1.4) with no flags.
func nm(name string) []byte { return susp("NM", append([]byte{0}, name...)...) }

// ce is a SUSP CE entry (SUSP 5.1): the continuation area is length bytes
// at offset off of block.
func ce(block, off, length uint32) []byte {
	d := make([]byte, 24)
	for i, v := range []uint32{block, off, length} {
		binary.LittleEndian.PutUint32(d[8*i:], v)
		binary.BigEndian.PutUint32(d[8*i+4:], v)
	}
	return susp("CE", d...)
}

// sl is a Rock Ridge SL entry (RRIP 4.1.3) with one component per string:
// ".." and "/" become the parent and root components, anything else is
// taken as it is, slashes included.
func sl(comps ...string) []byte {
	d := []byte{0}
	for _, c := range comps {
		switch c {
		case "..":
			d = append(d, 0x04, 0)
		case "/":
			d = append(d, 0x08, 0)
		default:
			d = append(append(d, 0, byte(len(c))), c...)
		}
	}
	return susp("SL", d...)
}

// chain is an image of depth directories "d", each in the one before, each
// in its own block of bs bytes: three records, 102 bytes.
func chain(bs int64, depth int) []byte {
	first := rootBlock(bs) + 1
	const size = 3 * 34
	m := newISO(bs).root(dirRec(first, size, flagDir, "D"))
	for i := range int64(depth) {
		parent := first + i - 1
		if i == 0 {
			parent = rootBlock(bs)
		}
		d := append(dirRec(first+i, size, flagDir, "\x00"), dirRec(parent, size, flagDir, "\x01")...)
		if i+1 < int64(depth) {
			d = append(d, dirRec(first+i+1, size, flagDir, "D")...)
		}
		m.put(first+i, d)
	}
	return m.bytes()
}

func chainPaths(depth int) []string {
	var p []string
	for i := range depth {
		p = append(p, strings.TrimSuffix(strings.Repeat("d/", i+1), "/"))
	}
	return p
}

// hostileCase is an image built to hurt the reader and what opening it must
// do: open and walk cleanly showing exactly paths, or be refused with one
// line that wraps ErrNotISO and contains err.
type hostileCase struct {
	name  string
	image func() []byte
	size  int64 // the image file is made this long, sparse; 0: as built
	err   string
	paths []string                // every path the walk yields, sorted
	check func(*testing.T, fs.FS) // more checks on an image that opens
	alloc int64                   // bytes Open may allocate; 0: 16 MiB
}

const miB = 1 << 20

// badName is an image with a good file "ok" and one whose NM entry (or
// entries) are nms; the bad one must not show.
func badName(nms ...[]byte) func() []byte {
	return func() []byte {
		m := newISO(sectorSize)
		m.put(31, []byte("bad\n"))
		return m.root(m.file(30, "ok", "fine\n"), dirRec(31, 4, 0, "BAD;1", nms...)).bytes()
	}
}

// link is an image with a file "ok", a directory "sub" and in it a symlink
// "sub/l" made of the SL components comps.
func link(comps ...string) func() []byte {
	return func() []byte {
		m := newISO(sectorSize)
		m.dir(20, rootBlock(sectorSize), dirRec(0, 0, 0, "L", nm("l"), sl(comps...)))
		return m.root(m.file(30, "ok", "fine\n"), dirRec(20, sectorSize, flagDir, "SUB", nm("sub"))).bytes()
	}
}

// opens checks that name in fsys opens (or not) with the error errors.Is
// matches.
func opens(name string, want error) func(*testing.T, fs.FS) {
	return func(t *testing.T, fsys fs.FS) {
		b, err := fs.ReadFile(fsys, name)
		if !errors.Is(err, want) {
			t.Errorf("read %s: %q, %v; want %v", name, b, err, want)
		}
	}
}

func hostileCases() []hostileCase {
	linkPaths := []string{"ok", "sub", "sub/l"}
	return []hostileCase{
		{name: "well formed", image: link("..", "ok"), paths: linkPaths, check: opens("sub/l", nil)},

		// Rock Ridge names no path can carry: the entry is left out.
		{name: "NM with a slash", image: badName(nm("a/b")), paths: []string{"ok"}},
		{name: "NM only a slash", image: badName(nm("/")), paths: []string{"ok"}},
		{name: "NM dot dot", image: badName(nm("..")), paths: []string{"ok"}},
		{name: "NM dot", image: badName(nm(".")), paths: []string{"ok"}},
		{name: "NM with NUL", image: badName(nm("a\x00b")), paths: []string{"ok"}},
		{name: "NM empty", image: badName(nm("")), paths: []string{"ok"}},
		{name: "NM dot dot in two parts", image: badName(susp("NM", 1, '.'), nm(".")), paths: []string{"ok"}},
		{name: "NM dot dot after a CE", image: func() []byte {
			m := newISO(sectorSize)
			m.put(40, nm(".."))
			return m.root(m.file(30, "ok", "fine\n"), dirRec(31, 0, 0, "BAD;1", ce(40, 0, 7))).bytes()
		}, paths: []string{"ok"}},
		// NM flagged "parent" (RRIP 4.1.4 bit 2) names nothing: the
		// ECMA-119 name is used.
		{name: "NM flagged parent", image: badName(susp("NM", 4)), paths: []string{"bad", "ok"}},
		{name: "ISO name dot dot dot", image: func() []byte {
			m := newISO(sectorSize)
			return m.root(m.file(30, "ok", "fine\n"), dirRec(31, 4, 0, "...")).bytes()
		}, paths: []string{"ok"}},

		// Directory loops.
		{name: "directory is its own child", image: func() []byte {
			return newISO(sectorSize).root(dirRec(rootBlock(sectorSize), sectorSize, flagDir, "SELF")).bytes()
		}, err: "directory loop"},
		{name: "directory holds its grandparent", image: func() []byte {
			m := newISO(sectorSize)
			m.dir(19, 18, dirRec(20, sectorSize, flagDir, "B"))
			m.dir(20, 19, dirRec(19, sectorSize, flagDir, "A"))
			return m.root(dirRec(19, sectorSize, flagDir, "A")).bytes()
		}, err: "directory loop"},
		{name: "CL to the root", image: func() []byte {
			m := newISO(sectorSize)
			return m.root(dirRec(0, 0, 0, "C", nm("c"), susp("CL", 18, 0, 0, 0, 0, 0, 0, 18))).bytes()
		}, err: "directory loop"},

		// Extents past the end of the image.
		{name: "directory past the end", image: func() []byte {
			return newISO(sectorSize).root(dirRec(1000, sectorSize, flagDir, "D")).bytes()
		}, err: "does not fit the image"},
		{name: "directory across the end", image: func() []byte {
			return newISO(sectorSize).root(dirRec(19, 1<<20, flagDir, "D")).bytes()
		}, err: "does not fit the image"},
		{name: "file past the end", image: func() []byte {
			return newISO(sectorSize).root(dirRec(1000, 5, 0, "F")).bytes()
		}, err: "truncated"},
		{name: "file larger than the image", image: func() []byte {
			return newISO(sectorSize).root(dirRec(18, 0xFFFFFFFF, 0, "F")).bytes()
		}, err: "truncated"},
		{name: "empty file past the end", image: func() []byte {
			return newISO(sectorSize).root(dirRec(1000, 0, 0, "F")).bytes()
		}, paths: []string{"f"}},

		// Nesting.
		{name: "10000 levels", image: func() []byte { return chain(sectorSize, 10000) }, err: "nested more than"},
		{name: "deepest allowed", image: func() []byte { return chain(512, maxDepth) }, paths: chainPaths(maxDepth)},
		{name: "one level too deep", image: func() []byte { return chain(512, maxDepth+1) }, err: "nested more than"},

		// Huge directories.
		{name: "directory of 4 GiB in a small image", image: func() []byte {
			return newISO(sectorSize).root(dirRec(19, 0xFFFFFFFF, flagDir, "D")).bytes()
		}, err: "over the limit"},
		{name: "directory of 4 GiB in a 5 GiB image", image: func() []byte {
			return newISO(sectorSize).root(dirRec(19, 0xFFFFFFFF, flagDir, "D")).bytes()
		}, size: 5 << 30, err: "directory of 4294967295 bytes is over the limit"},
		{name: "directory of 32 MiB, empty", image: func() []byte {
			return newISO(sectorSize).root(dirRec(19, 32*miB, flagDir, "D")).bytes()
		}, size: 40 * miB, paths: []string{"d"}, alloc: 40 * miB},
		{name: "directory of two million files", image: func() []byte {
			m := newISO(sectorSize)
			m.root(dirRec(19, 64*miB, flagDir, "D"))
			sector := make([]byte, 0, sectorSize)
			for len(sector)+34 <= sectorSize {
				sector = append(sector, dirRec(0, 0, 0, "F")...)
			}
			for i := range int64(64 * miB / sectorSize) {
				m.put(19+i, sector)
			}
			return m.bytes()
		}, err: "more than 1048576 directory entries", alloc: 512 * miB},
		{name: "sixty directories over the same 8 MiB", image: func() []byte {
			var subs [][]byte
			for i := range int64(60) {
				subs = append(subs, dirRec(30+i, 8*miB, flagDir, "D"+string(rune('A'+i/26))+string(rune('A'+i%26))))
			}
			return newISO(sectorSize).root(subs...).bytes()
		}, size: 8*miB + 100*sectorSize, err: "more than the image", alloc: 40 * miB},

		// Continuation areas.
		{name: "CE to itself", image: func() []byte {
			m := newISO(sectorSize)
			m.put(40, append(nm("y"), ce(40, 0, 34)...))
			return m.root(dirRec(0, 0, 0, "F", nm("x"), ce(40, 0, 34))).bytes()
		}, paths: []string{"x" + strings.Repeat("y", maxCEHops)}},
		{name: "CE past the end", image: func() []byte {
			return newISO(sectorSize).root(dirRec(0, 0, 0, "F", nm("x"), ce(100000, 0, 33))).bytes()
		}, paths: []string{"x"}},
		{name: "CE across a block", image: func() []byte {
			m := newISO(sectorSize)
			m.put(41, nm("y"))
			return m.root(dirRec(0, 0, 0, "F", nm("x"), ce(40, 2040, 100))).bytes()
		}, paths: []string{"x"}},
		{name: "CE loops on every record", image: func() []byte {
			m := newISO(sectorSize)
			m.put(2000, append(nm("y"), ce(2000, 0, 2048)...))
			var recs [][]byte
			for i := range 3000 {
				recs = append(recs, dirRec(0, 0, 0, "F", nm(strconv.Itoa(i)), ce(2000, 0, 2048)))
			}
			return m.root(recs...).bytes()
		}, err: "more than the image"},

		// Symlinks that climb out.
		{name: "SL up and back in", image: link("..", "ok"), paths: linkPaths, check: opens("sub/l", nil)},
		{name: "SL out by dot dot", image: link("..", "..", "etc", "passwd"), paths: linkPaths, check: opens("sub/l", fs.ErrPermission)},
		{name: "SL out by a component with slashes", image: link("../../etc/passwd"), paths: linkPaths, check: opens("sub/l", fs.ErrPermission)},
		{name: "SL absolute", image: link("/", "etc", "passwd"), paths: linkPaths, check: opens("sub/l", fs.ErrPermission)},
		{name: "SL empty", image: link(), paths: linkPaths, check: opens("sub/l", fs.ErrPermission)},
		{name: "SL with NUL", image: link("ok\x00"), paths: []string{"ok", "sub"}},

		// Multi-extent files.
		{name: "multi-extent, the same part three times", image: func() []byte {
			m := newISO(sectorSize)
			m.put(30, []byte("abc"))
			return m.root(dirRec(30, 3, flagMultiExtent, "F"), dirRec(30, 3, flagMultiExtent, "F"), dirRec(30, 3, 0, "F")).bytes()
		}, paths: []string{"f"}, check: func(t *testing.T, fsys fs.FS) {
			if b, err := fs.ReadFile(fsys, "f"); string(b) != "abcabcabc" || err != nil {
				t.Errorf("read f: %q, %v", b, err)
			}
		}},
		{name: "multi-extent, a part past the end", image: func() []byte {
			m := newISO(sectorSize)
			m.put(30, []byte("abc"))
			return m.root(dirRec(30, 3, flagMultiExtent, "F"), dirRec(5000, 3, 0, "F")).bytes()
		}, err: "truncated"},
		{name: "multi-extent, no last part", image: func() []byte {
			m := newISO(sectorSize)
			m.put(30, []byte("abc"))
			return m.root(dirRec(30, 3, flagMultiExtent, "F"), dirRec(30, 3, 0, "G")).bytes()
		}, paths: []string{"f", "g"}},
		{name: "multi-extent, continued by a directory", image: func() []byte {
			m := newISO(sectorSize)
			m.put(30, []byte("abc"))
			return m.root(dirRec(30, 3, flagMultiExtent, "F"), dirRec(18, sectorSize, flagDir, "F")).bytes()
		}, err: "continued by a directory"},
		{name: "multi-extent, 5000 parts", image: func() []byte {
			m := newISO(sectorSize)
			m.put(30, []byte("abc"))
			recs := make([][]byte, 5000)
			for i := range recs {
				recs[i] = dirRec(30, 3, flagMultiExtent, "F")
			}
			return m.root(recs...).bytes()
		}, err: "extents"},
	}
}

// TestHostileISO opens images built to break the reader, through Open and
// the fs.FS the servers get, and walks and reads what opens.
func TestHostileISO(t *testing.T) {
	for _, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			img := tc.image()
			path := filepath.Join(t.TempDir(), "hostile.iso")
			if err := os.WriteFile(path, img, 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.size > 0 {
				if err := os.Truncate(path, tc.size); err != nil {
					t.Fatal(err)
				}
			}

			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			type result struct {
				m   *Medium
				err error
			}
			done := make(chan result, 1)
			go func() {
				m, err := Open(path)
				done <- result{m, err}
			}()
			var res result
			select {
			case res = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Open hangs")
			}
			runtime.ReadMemStats(&after)
			alloc := tc.alloc
			if alloc == 0 {
				alloc = 16 * miB
			}
			if got := int64(after.TotalAlloc - before.TotalAlloc); got > alloc {
				t.Errorf("Open allocated %d MiB, want at most %d MiB", got/miB, alloc/miB)
			}

			if tc.err != "" {
				if res.err == nil {
					res.m.Close()
					t.Fatalf("opened; want an error containing %q", tc.err)
				}
				msg := res.err.Error()
				if !errors.Is(res.err, ErrNotISO) || strings.Contains(msg, "\n") || !strings.Contains(msg, tc.err) {
					t.Fatalf("error %q; want one line that wraps ErrNotISO and contains %q", msg, tc.err)
				}
				t.Log(msg)
				return
			}
			if res.err != nil {
				t.Fatalf("Open: %v", res.err)
			}
			defer res.m.Close()
			walk(t, res.m.FS.(*isoFS))
			var paths []string
			fs.WalkDir(res.m.FS, ".", func(name string, d fs.DirEntry, err error) error {
				if name != "." {
					paths = append(paths, name)
				}
				return err
			})
			if !slices.Equal(paths, tc.paths) {
				t.Errorf("paths %q\nwant %q", paths, tc.paths)
			}
			if tc.check != nil {
				tc.check(t, res.m.FS)
			}
		})
	}
}
