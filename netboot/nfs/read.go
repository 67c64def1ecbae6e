package nfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"sync"

	gonfs "github.com/willscott/go-nfs"
)

// The READ fast path.
//
// A client running from the medium spends nearly all its NFS calls on READ of
// one big squashfs. go-nfs answers one call at a time per connection, opens
// and stats the file again for every READ and copies the data three times.
// The medium is immutable, so READ is answered here instead: the handle maps
// to a file kept open, and up to maxReadsInFlight READs of one connection run
// at once (RPC over TCP matches replies by xid, so they may go out in any
// order). Where the data lies in an OS file (a directory medium, or one extent
// of an ISO file) it goes from the page cache to the socket without a copy
// (splice through a pipe, or sendfile(2): splice_linux.go); copying a megabyte
// through user space and back was most of the server's CPU time per READ. Otherwise it is read with ReadAt straight into the reply.
// The attributes are go-nfs's own encoding of the same file, so they agree
// with its GETATTR.

const (
	maxRead          = 1 << 20 // what go-nfs caps a READ at, and Linux's rsize limit
	maxReadsInFlight = 8
	nfs3ErrIO        = 5
	nfs3ErrInval     = 22
)

// reply is one record to send: msg, then, when file is set, n bytes of file
// from offset at, sent without a copy (splice_linux.go), then the XDR padding
// of those bytes.
type reply struct {
	msg  []byte
	file *os.File
	at   int64
	n    int
	done func() // called once the record is written: lets go of the medium file
}

// pad is the XDR padding after the file's bytes.
func (r reply) pad() int { return (4 - r.n%4) % 4 }

// readCall recognises an NFSv3 READ this layer answers and returns the job
// that builds its reply; nil for anything else (which dispatch then handles).
// With sendfile the reply may leave the data in the medium file.
func (in *instance) readCall(rec []byte, peer netip.Addr, sendfile bool) func() reply {
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
	in.noteUse(peer, fh)
	in.noteRead(peer, fh)
	fh = bytes.Clone(fh) // rec's buffer is reused for the next call while the job runs
	return func() reply { return in.readReply(c.xid, fh, off, count, sendfile) }
}

func (in *instance) readReply(xid uint32, fh []byte, off uint64, count uint32, sendfile bool) reply {
	fail := func(status uint32) reply { return reply{msg: acceptedReply(xid, acceptSuccess, status, 0)} }
	ex, name, err := in.h.resolve(fh)
	switch {
	case errors.Is(err, errBadHandle):
		return fail(nfs3ErrBadHandle)
	case err != nil:
		return fail(nfs3ErrStale)
	}
	info, err := ex.fs.Stat(name)
	if err != nil {
		return fail(nfs3ErrStale)
	}
	if !isRegular(info) {
		return fail(nfs3ErrInval)
	}
	f, err := ex.fs.Open(name)
	if err != nil {
		in.log.Debug("READ: opening a medium file failed", "export", ex.path, "file", name, "err", err)
		return fail(nfs3ErrIO)
	}
	closeFile := func() { _ = f.Close() }

	size := uint64(info.Size())
	count = min(count, maxRead)
	eof := false
	switch {
	case off >= size:
		count, eof = 0, true
	case size-off <= uint64(count):
		count, eof = uint32(size-off), true
	}

	var (
		osf *os.File
		at  int64
	)
	if rf, ok := f.(*roFile); ok && sendfile && count > 0 {
		osf, at, _ = osExtent(rf.sf.ra, int64(off), int64(count))
	}

	attrs := ex.postOpAttrs(name, info)
	head := 24 + 4 + len(attrs) + 12
	var w xdrWriter
	if osf != nil {
		w.b = make([]byte, 0, head)
	} else {
		w.b = replyBuffer(head + int(count) + 3)
	}
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
	if osf != nil {
		return reply{msg: w.b, file: osf, at: at, n: int(count), done: closeFile}
	}
	defer closeFile()
	start := len(w.b)
	w.b = w.b[:start+int(count)]
	n, err := f.ReadAt(w.b[start:], int64(off))
	if err != nil && !(errors.Is(err, io.EOF) && n == int(count)) {
		// A failing disc: the client gets an I/O error for this read, the server carries on.
		in.log.Warn("reading the medium failed", "export", ex.path, "file", name, "offset", off, "err", err)
		releaseReply(w.b)
		return fail(nfs3ErrIO)
	}
	if pad := (4 - int(count)%4) % 4; pad > 0 {
		w.b = append(w.b, make([]byte, pad)...)
	}
	return reply{msg: w.b}
}

// osExtent finds where the bytes [off, off+n) of a medium file lie in an OS
// file: the file itself in a directory medium, an extent of the image for an
// ISO file (medium's Extent).
func osExtent(ra io.ReaderAt, off, n int64) (*os.File, int64, bool) {
	switch f := ra.(type) {
	case *os.File:
		return f, off, true
	case interface {
		Extent(off, n int64) (*os.File, int64, bool)
	}:
		return f.Extent(off, n)
	}
	return nil, 0, false
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
func (ex *export) postOpAttrs(name string, info fs.FileInfo) []byte {
	if b, ok := ex.attrs.Load(name); ok {
		return b.([]byte)
	}
	var buf bytes.Buffer
	_ = gonfs.WritePostOpAttrs(&buf, gonfs.ToFileAttribute(info, name)) // writes to memory: no error
	ex.attrs.Store(name, buf.Bytes())
	return buf.Bytes()
}

// acceptedReplyTo appends a successful MSG_ACCEPTED reply header to b.
func acceptedReplyTo(b []byte, xid uint32) []byte {
	return append(b, acceptedReply(xid, acceptSuccess)...)
}
