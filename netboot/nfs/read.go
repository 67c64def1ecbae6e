package nfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net/netip"
	"sync"

	gonfs "github.com/willscott/go-nfs"
)

// The READ fast path.
//
// A client running from the medium spends nearly all its NFS calls on READ of
// one big squashfs. go-nfs answers one call at a time per connection, opens
// and stats the file again for every READ and copies the data three times.
// The medium is immutable, so READ is answered here instead: the handle maps
// to a file kept open, the data is read with ReadAt straight into the reply,
// and up to maxReadsInFlight READs of one connection run at once (RPC over TCP
// matches replies by xid, so they may go out in any order). The attributes
// are go-nfs's own encoding of the same file, so they agree with its GETATTR.

const (
	maxRead          = 1 << 20 // what go-nfs caps a READ at, and Linux's rsize limit
	maxReadsInFlight = 8
	nfs3ErrIO        = 5
	nfs3ErrInval     = 22
)

// readCall recognises an NFSv3 READ this layer answers and returns the job
// that builds its reply; nil for anything else (which dispatch then handles).
func (in *instance) readCall(rec []byte, peer netip.Addr) func() []byte {
	c, st, err := parseCall(rec)
	if err != nil || st != callOK || c.prog != progNFS || c.vers != 3 || c.proc != nfsRead {
		return nil
	}
	r := xdrReader{b: c.args}
	fh := r.opaque(maxNFSFH)
	off := r.u64()
	count := r.u32()
	if r.bad || len(fh) != handleLen {
		return nil // dispatch answers GARBAGE_ARGS or BADHANDLE
	}
	in.noteRead(peer, fh)
	fh = bytes.Clone(fh) // rec's buffer is reused for the next call while the job runs
	return func() []byte { return in.readReply(c.xid, fh, off, count) }
}

func (in *instance) readReply(xid uint32, fh []byte, off uint64, count uint32) []byte {
	fail := func(status uint32) []byte { return acceptedReply(xid, acceptSuccess, status, 0) }
	name, err := in.h.resolve(fh)
	switch {
	case errors.Is(err, errBadHandle):
		return fail(nfs3ErrBadHandle)
	case err != nil:
		return fail(nfs3ErrStale)
	}
	info, err := in.h.fs.Stat(name)
	if err != nil {
		return fail(nfs3ErrStale)
	}
	if !info.Mode().IsRegular() {
		return fail(nfs3ErrInval)
	}
	f, err := in.h.fs.Open(name)
	if err != nil {
		in.log.Debug("READ: opening a medium file failed", "file", name, "err", err)
		return fail(nfs3ErrIO)
	}
	defer f.Close()

	size := uint64(info.Size())
	count = min(count, maxRead)
	eof := false
	switch {
	case off >= size:
		count, eof = 0, true
	case size-off <= uint64(count):
		count, eof = uint32(size-off), true
	}

	attrs := in.postOpAttrs(name, info)
	w := xdrWriter{b: replyBuffer(24 + 4 + len(attrs) + 12 + int(count) + 3)}
	w.b = acceptedReplyTo(w.b, xid)
	w.u32(0) // NFS3_OK
	w.b = append(w.b, attrs...)
	w.u32(count)
	eofWord := uint32(0)
	if eof {
		eofWord = 1
	}
	w.u32(eofWord)
	w.u32(count)
	start := len(w.b)
	w.b = w.b[:start+int(count)]
	n, err := f.ReadAt(w.b[start:], int64(off))
	if err != nil && !(errors.Is(err, io.EOF) && n == int(count)) {
		// A failing disc: the client gets an I/O error for this read, the server carries on.
		in.log.Warn("reading the medium failed", "file", name, "offset", off, "err", err)
		return fail(nfs3ErrIO)
	}
	if pad := (4 - int(count)%4) % 4; pad > 0 {
		w.b = append(w.b, make([]byte, pad)...)
	}
	return w.b
}

// Reply buffers of READs are reused: a client streaming its squashfs would otherwise make the
// garbage collector chase a fresh megabyte per call.
var replyPool = sync.Pool{New: func() any { return new([]byte) }}

func replyBuffer(n int) []byte {
	p := replyPool.Get().(*[]byte)
	if cap(*p) < n {
		return make([]byte, 0, max(n, maxRead+512))
	}
	return (*p)[:0]
}

// releaseReply hands a READ reply's buffer back once it is written.
func releaseReply(b []byte) {
	if cap(b) >= maxRead {
		replyPool.Put(&b)
	}
}

// postOpAttrs is go-nfs's encoding of a file's attributes, made once per file: the medium does
// not change, and go-nfs's reflective XDR encoder costs more than the rest of a READ.
func (in *instance) postOpAttrs(name string, info fs.FileInfo) []byte {
	if b, ok := in.attrs.Load(name); ok {
		return b.([]byte)
	}
	var buf bytes.Buffer
	_ = gonfs.WritePostOpAttrs(&buf, gonfs.ToFileAttribute(info, name)) // writes to memory: no error
	in.attrs.Store(name, buf.Bytes())
	return buf.Bytes()
}

// acceptedReplyTo appends a successful MSG_ACCEPTED reply header to b.
func acceptedReplyTo(b []byte, xid uint32) []byte {
	return append(b, acceptedReply(xid, acceptSuccess)...)
}
