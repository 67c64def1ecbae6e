package nfs

import "encoding/binary"

// Minimal XDR (RFC 4506) reading and writing for the RPC headers and the few
// procedures we answer ourselves. go-nfs has its own reflection-based XDR; ours
// is separate because it must never allocate more than the bytes it was given
// (go-nfs-client's xdr.ReadOpaque does make([]byte, length) with the length
// from the wire).

// xdrReader reads from a byte slice. The first short read sets bad; every
// later read then returns zero values, so callers check bad once at the end.
type xdrReader struct {
	b   []byte
	bad bool
}

func (r *xdrReader) u32() uint32 {
	if r.bad || len(r.b) < 4 {
		r.bad = true
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *xdrReader) u64() uint64 {
	hi := uint64(r.u32())
	return hi<<32 | uint64(r.u32())
}

// opaque reads a variable-length opaque of at most max bytes. It returns a
// sub-slice of the input (no copy) and never allocates, whatever length the
// wire claims.
func (r *xdrReader) opaque(max int) []byte {
	n := r.u32()
	if r.bad {
		return nil
	}
	padded := (uint64(n) + 3) &^ 3
	if uint64(n) > uint64(max) || padded > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[padded:]
	return v
}

func (r *xdrReader) skip(n int) {
	if r.bad || len(r.b) < n {
		r.bad = true
		return
	}
	r.b = r.b[n:]
}

// xdrWriter appends XDR to a byte slice.
type xdrWriter struct{ b []byte }

func (w *xdrWriter) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }

func (w *xdrWriter) opaque(v []byte) {
	w.u32(uint32(len(v)))
	w.b = append(w.b, v...)
	if pad := (4 - len(v)%4) % 4; pad > 0 {
		w.b = append(w.b, make([]byte, pad)...)
	}
}
