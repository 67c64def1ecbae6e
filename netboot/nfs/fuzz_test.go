package nfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"testing"
	"testing/fstest"
	"time"
)

func record(msg []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, 1<<31|uint32(len(msg))), msg...)
}

func rpcSeeds() [][]byte {
	fh := make([]byte, handleLen)
	fhArgs := xdrArgs(func(w *xdrWriter) { w.opaque(fh) })
	seeds := [][]byte{
		callMsg(1, 2, progNFS, 3, nfsNull, nil),
		callMsg(2, 2, progNFS, 4, nfsNull, nil),
		callMsg(3, 2, progMount, 3, mountExport, nil),
		callMsg(4, 2, progMount, 3, mountMnt, xdrArgs(func(w *xdrWriter) { w.opaque([]byte("/sharecd")) })),
		callMsg(5, 2, progNFS, 3, nfsRead, append(fhArgs, make([]byte, 12)...)),
		callMsg(6, 2, progNFS, 3, nfsWrite, append(fhArgs, make([]byte, 20)...)),
		callMsg(7, 2, progNFS, 3, nfsLookup, append(fhArgs, xdrArgs(func(w *xdrWriter) { w.opaque([]byte("..")) })...)),
		callMsg(8, 3, progNFS, 3, nfsNull, nil),
		callMsg(9, 2, 100021, 4, 0, nil),
		acceptedReply(10, 2),
	}
	var out [][]byte
	for _, s := range seeds {
		out = append(out, record(s))
	}
	return append(out, bytes.Join(out, nil), []byte{0x00, 0x00, 0x00, 0x03, 1, 2, 3, 0x80, 0, 0, 1, 9})
}

// discardConn is a net.Conn whose writes go nowhere: the fuzzer drives the
// gap layer's outgoing record tracker with it.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error) { return len(p), nil }
func (discardConn) Close() error                { return nil }

// FuzzRPCRecord feeds arbitrary bytes to the record reader and the
// dispatcher (as a client would), and to the outgoing tracker (as go-nfs
// would).
func FuzzRPCRecord(f *testing.F) {
	for _, s := range rpcSeeds() {
		f.Add(s)
	}
	fsys := fstest.MapFS{
		"live/filesystem.squashfs": {Data: []byte("data"), ModTime: time.Unix(1, 0)},
		"hello.txt":                {Data: []byte("hi")},
	}
	single := mustInstance(f, &Server{FS: fsys, OnEvent: func(netip.Addr, string) {}})
	multi := mustInstance(f, &Server{Exports: fuzzExports(), OnEvent: func(netip.Addr, string) {}})
	// Real handles of both exports of multi, and one of each export's ID with
	// the other's path key, in calls that reach the READ fast path and go-nfs.
	for _, fh := range fuzzHandles(multi) {
		f.Add(record(callMsg(11, 2, progNFS, 3, nfsRead, append(xdrArgs(func(w *xdrWriter) { w.opaque(fh) }), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0))))
		f.Add(record(callMsg(12, 2, progNFS, 3, nfsGetattr, xdrArgs(func(w *xdrWriter) { w.opaque(fh) }))))
	}
	f.Add(record(callMsg(13, 2, progMount, 3, mountMnt, xdrArgs(func(w *xdrWriter) { w.opaque([]byte("/sharecd/b/live")) }))))
	peer := netip.MustParseAddr("192.0.2.1")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, in := range []*instance{single, multi} {
			fuzzRecords(t, in, peer, data)
		}
	})
}

func mustInstance(t testing.TB, s *Server) *instance {
	t.Helper()
	in, err := newInstance(s)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// fuzzExports: two media with the same names and different contents.
func fuzzExports() map[string]fs.FS {
	return map[string]fs.FS{
		"/sharecd/a": fstest.MapFS{
			"live/filesystem.squashfs": {Data: []byte("AAAA"), ModTime: time.Unix(1, 0)},
			"only-a.txt":               {Data: []byte("a")},
		},
		"/sharecd/b": fstest.MapFS{
			"live/filesystem.squashfs": {Data: []byte("BBBBBB"), ModTime: time.Unix(2, 0)},
			"only-b.txt":               {Data: []byte("b")},
		},
	}
}

// fuzzHandles: every path's handle in every export of in, and each of those
// with every other export's ID in front.
func fuzzHandles(in *instance) [][]byte {
	var out [][]byte
	for _, ex := range in.h.set.Load().exports {
		for _, name := range []string{".", "live", "live/filesystem.squashfs", "only-a.txt", "only-b.txt"} {
			if _, err := fs.Lstat(ex.fs.fsys, name); err != nil {
				continue // register takes what go-nfs found: only names the export holds
			}
			fh := ex.register(name)
			out = append(out, fh)
			for _, other := range in.h.set.Load().exports {
				if other != ex {
					out = append(out, append(bytes.Clone(other.id[:]), fh[8:]...))
				}
			}
		}
	}
	return out
}

func fuzzRecords(t *testing.T, in *instance, peer netip.Addr, data []byte) {
	{
		r := bytes.NewReader(data)
		for {
			rec, err := readRecord(r, nil, maxRecord)
			if err != nil {
				break
			}
			if cap(rec) > 2*len(data)+64 {
				t.Fatalf("record buffer %d bytes from %d input bytes", cap(rec), len(data))
			}
			if job := in.readCall(rec, peer, false); job != nil {
				if r := job(); len(r.msg) > maxRead+512 || r.file != nil {
					t.Fatalf("READ reply of %d bytes (file %v) without sendfile", len(r.msg), r.file)
				}
				continue
			}
			reply, pass := in.dispatch(rec, peer)
			if reply != nil && pass {
				t.Fatal("both answered and passed on")
			}
			if len(reply) > 1024 {
				t.Fatalf("reply of %d bytes", len(reply))
			}
			if pass && len(rec) > maxPassRecord {
				t.Fatalf("passed a %d-byte record to go-nfs", len(rec))
			}
		}
		gc := newGapConn(discardConn{}, in, peer)
		n, err := gc.Write(data)
		if err != nil || n != len(data) {
			t.Fatalf("Write = %d, %v", n, err)
		}
		_ = fixAcceptStat(data)
		// The gap conn's Read over the same bytes must not panic either.
		gr := newGapConn(readConn{bytes.NewReader(data)}, in, peer)
		_, _ = io.Copy(io.Discard, gr)
	}
}

// FuzzHandle: any 24 bytes a client sends as a file handle resolve either not
// at all or to a path of the export whose ID they carry, a path that export
// handed out (or holds) and whose key they are: never another export's file.
func FuzzHandle(f *testing.F) {
	in := mustInstance(f, &Server{Exports: fuzzExports()})
	for _, fh := range fuzzHandles(in) {
		f.Add(fh)
	}
	f.Add(make([]byte, handleLen))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, fh []byte) {
		ex, name, err := in.h.resolve(fh)
		if err != nil {
			if ex != nil || name != "" {
				t.Fatalf("failed resolve returned %v %q", ex, name)
			}
			if len(fh) != handleLen && !errors.Is(err, errBadHandle) {
				t.Fatalf("%d-byte handle: %v, want errBadHandle", len(fh), err)
			}
			return
		}
		if !bytes.Equal(fh[:8], ex.id[:]) {
			t.Fatalf("handle with ID %x resolved in export %s (ID %x)", fh[:8], ex.path, ex.id)
		}
		if k := ex.key(name); !bytes.Equal(fh[8:], k[:]) {
			t.Fatalf("handle resolved to %q in %s, whose key is %x", name, ex.path, k)
		}
		if name != "." && !fs.ValidPath(name) {
			t.Fatalf("handle resolved to %q, not a path inside the export", name)
		}
		if _, err := fs.Lstat(ex.fs.fsys, name); err != nil {
			t.Fatalf("handle resolved to %q, not in export %s: %v", name, ex.path, err)
		}
	})
}

type readConn struct{ r io.Reader }

func (c readConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c readConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c readConn) Close() error                     { return nil }
func (c readConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c readConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c readConn) SetDeadline(time.Time) error      { return nil }
func (c readConn) SetReadDeadline(time.Time) error  { return nil }
func (c readConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzPortmap: the portmapper's reply function on arbitrary messages.
func FuzzPortmap(f *testing.F) {
	f.Add(pmapCall(1, 2, pmapGetport, progNFS, 3, ipprotoTCP, 0))
	f.Add(pmapCall(2, 2, pmapDump))
	f.Add(pmapCall(3, 4, 3))
	f.Add(callMsg(4, 2, progPortmap, 2, 0, nil))
	f.Add([]byte{0, 0, 0, 1})
	p := &Portmapper{NFSPort: 2049}
	f.Fuzz(func(t *testing.T, msg []byte) {
		out, err := p.reply(msg)
		if err != nil {
			return
		}
		if len(out) < 16 || len(out) > 512 {
			t.Fatalf("reply of %d bytes", len(out))
		}
		if !bytes.Equal(out[:4], msg[:4]) {
			t.Fatal("reply xid differs")
		}
	})
}
