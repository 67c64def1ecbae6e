package room

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
)

// Stats counts what FromPcap saw but left out of the trace, for the trace's header.
type Stats struct {
	Packets  int
	NFSOther map[string]int // NFS procedures other than LOOKUP and READ, by name
	Gaps     int            // TCP streams the capture lost bytes of (their later calls are missing)
	ReadData int64          // bytes the READ replies carried
}

// FromPcap turns a capture (classic pcap, Ethernet) of one client booting from server into the
// client's ops, sorted by when they were sent. The client is whoever sent the first DHCP
// DISCOVER; its time 0 is that packet.
func FromPcap(r io.Reader, server netip.Addr) ([]Op, Stats, error) {
	p := parser{server: server, tftp: map[uint16]int{}, streams: map[streamKey]*stream{},
		calls: map[uint32]rpcCall{}, fhs: map[string]string{}, http: map[uint16]int{}}
	p.st.NFSOther = map[string]int{}
	hdr := make([]byte, 24)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, p.st, fmt.Errorf("reading the pcap header: %w", err)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	nano := false
	switch binary.LittleEndian.Uint32(hdr) {
	case 0xa1b2c3d4:
	case 0xa1b23c4d:
		nano = true
	default:
		bo = binary.BigEndian
		switch binary.BigEndian.Uint32(hdr) {
		case 0xa1b2c3d4:
		case 0xa1b23c4d:
			nano = true
		default:
			return nil, p.st, errors.New("not a classic pcap file (pcapng? write it with tcpdump -w)")
		}
	}
	if lt := bo.Uint32(hdr[20:]); lt != 1 {
		return nil, p.st, fmt.Errorf("link type %d, want Ethernet (1)", lt)
	}
	rec := make([]byte, 16)
	for {
		if _, err := io.ReadFull(r, rec); err == io.EOF {
			break
		} else if err != nil {
			return nil, p.st, fmt.Errorf("reading packet %d: %w", p.st.Packets+1, err)
		}
		sec, frac, n := bo.Uint32(rec), bo.Uint32(rec[4:]), bo.Uint32(rec[8:])
		data := make([]byte, n)
		if _, err := io.ReadFull(r, data); err != nil {
			return nil, p.st, fmt.Errorf("reading packet %d: %w", p.st.Packets+1, err)
		}
		t := float64(sec) + float64(frac)/1e6
		if nano {
			t = float64(sec) + float64(frac)/1e9
		}
		p.st.Packets++
		p.packet(t, data)
	}
	if p.mac == "" {
		return nil, p.st, errors.New("no DHCP DISCOVER in the capture")
	}
	for i := range p.ops {
		p.ops[i].Call -= p.t0
		p.ops[i].Done -= p.t0
	}
	sort.SliceStable(p.ops, func(i, j int) bool { return p.ops[i].Call < p.ops[j].Call })
	return p.ops, p.st, nil
}

type parser struct {
	server netip.Addr
	mac    string // the client's
	t0     float64
	ops    []Op
	st     Stats
	dhcp   map[uint32]int // open DHCP ops by xid
	tftp   map[uint16]int // TFTP transfers by the client's port
	http   map[uint16]int // the last GET on each connection, by the client's port
	// RPC over TCP: one reassembled stream each way of each connection.
	streams map[streamKey]*stream
	calls   map[uint32]rpcCall
	fhs     map[string]string // file handle → path from the export's root
}

type streamKey struct {
	src, dst netip.AddrPort
}

type stream struct {
	next    uint32 // the sequence number of the next byte
	started bool
	broken  bool
	buf     []byte
}

type rpcCall struct {
	t                float64
	prog, vers, proc uint32
	args             []byte
}

func (p *parser) packet(t float64, b []byte) {
	if len(b) < 14 {
		return
	}
	dstMAC, srcMAC, et := fmt.Sprintf("%x", b[0:6]), fmt.Sprintf("%x", b[6:12]), binary.BigEndian.Uint16(b[12:])
	b = b[14:]
	if et == 0x8100 && len(b) >= 4 { // a VLAN tag
		et, b = binary.BigEndian.Uint16(b[2:]), b[4:]
	}
	if et != 0x0800 || len(b) < 20 || b[0]>>4 != 4 {
		return
	}
	ihl := int(b[0]&15) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if total > len(b) || ihl > total {
		return
	}
	proto := b[9]
	src, _ := netip.AddrFromSlice(b[12:16])
	dst, _ := netip.AddrFromSlice(b[16:20])
	b = b[ihl:total]
	fromClient := p.mac != "" && srcMAC == p.mac
	toClient := p.mac != "" && (dstMAC == p.mac || dstMAC == "ffffffffffff") && src == p.server
	switch proto {
	case 17:
		if len(b) < 8 {
			return
		}
		sp, dp := binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])
		p.udp(t, srcMAC, fromClient, toClient, sp, dp, b[8:])
	case 6:
		if len(b) < 20 || !(fromClient || toClient) {
			return
		}
		sp, dp := binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])
		seq, flags := binary.BigEndian.Uint32(b[4:]), b[13]
		off := int(b[12]>>4) * 4
		if off > len(b) {
			return
		}
		p.tcp(t, fromClient, netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp), seq, flags, b[off:])
	}
}

func (p *parser) udp(t float64, srcMAC string, fromClient, toClient bool, sp, dp uint16, b []byte) {
	switch {
	case (dp == 67 || dp == 4011) && len(b) >= 240 && b[0] == 1:
		if p.mac == "" {
			if dhcpType(b) != "discover" {
				return
			}
			p.mac, p.t0, fromClient = srcMAC, t, true
			p.dhcp = map[uint32]int{}
		}
		if !fromClient {
			return
		}
		xid := binary.BigEndian.Uint32(b[4:])
		p.dhcp[xid] = len(p.ops)
		p.ops = append(p.ops, Op{Call: t, Done: t, Kind: "dhcp", Path: fmt.Sprintf("%s/%d", dhcpType(b), dp)})
	case (sp == 67 || sp == 4011) && toClient && len(b) >= 240 && b[0] == 2:
		if i, ok := p.dhcp[binary.BigEndian.Uint32(b[4:])]; ok && p.ops[i].Count == 0 {
			p.ops[i].Done, p.ops[i].Count = t, 1
		}
	case fromClient && dp == 69 && len(b) > 4 && binary.BigEndian.Uint16(b) == 1: // RRQ
		name, _, _ := strings.Cut(string(b[2:]), "\x00")
		p.tftp[sp] = len(p.ops)
		p.ops = append(p.ops, Op{Call: t, Done: t, Kind: "tftp", Path: strings.TrimPrefix(name, "/")})
	case fromClient:
		if i, ok := p.tftp[sp]; ok {
			p.ops[i].Done = t
			return
		}
		p.rpcUDP(t, b)
	case toClient:
		if i, ok := p.tftp[dp]; ok {
			p.ops[i].Done = t
			if len(b) >= 4 && binary.BigEndian.Uint16(b) == 3 { // DATA
				p.ops[i].Count += int64(len(b) - 4)
			}
			return
		}
		p.rpcUDP(t, b)
	}
}

func (p *parser) tcp(t float64, fromClient bool, src, dst netip.AddrPort, seq uint32, flags byte, payload []byte) {
	if dst.Port() == 80 || src.Port() == 80 {
		p.httpSeg(t, fromClient, src, dst, payload)
		return
	}
	k := streamKey{src, dst}
	s := p.streams[k]
	if s == nil {
		s = &stream{}
		p.streams[k] = s
	}
	if flags&2 != 0 { // SYN
		s.next, s.started, s.broken, s.buf = seq+1, true, false, nil
		return
	}
	if !s.started || s.broken || len(payload) == 0 {
		return
	}
	if d := int32(seq - s.next); d > 0 {
		s.broken = true // lost by the capture: its record marks cannot be found again
		p.st.Gaps++
		return
	} else if d < 0 { // a retransmission, or part of one
		if -int(d) >= len(payload) {
			return
		}
		payload = payload[-d:]
	}
	s.next += uint32(len(payload))
	s.buf = append(s.buf, payload...)
	// RPC record marking (RFC 5531 §11): a 4-byte length, top bit set on a record's last
	// fragment. Whole records only, each at the time its last byte went by.
	for {
		var rec []byte
		off, last := 0, false
		for !last {
			if len(s.buf) < off+4 {
				return
			}
			m := binary.BigEndian.Uint32(s.buf[off:])
			n := int(m & 0x7fffffff)
			last = m&0x80000000 != 0
			if len(s.buf) < off+4+n {
				return
			}
			rec = append(rec, s.buf[off+4:off+4+n]...)
			off += 4 + n
		}
		s.buf = s.buf[off:]
		p.rpc(t, rec)
	}
}

func (p *parser) httpSeg(t float64, fromClient bool, src, dst netip.AddrPort, payload []byte) {
	if len(payload) == 0 {
		return
	}
	if fromClient {
		if bytes.HasPrefix(payload, []byte("GET ")) {
			f := strings.Fields(string(payload[:bytes.IndexByte(append(payload, '\n'), '\n')]))
			if len(f) >= 2 {
				p.http[src.Port()] = len(p.ops)
				p.ops = append(p.ops, Op{Call: t, Done: t, Kind: "http", Path: strings.TrimPrefix(f[1], "/")})
			}
		}
		return
	}
	if i, ok := p.http[dst.Port()]; ok {
		p.ops[i].Done = t
		p.ops[i].Count += int64(len(payload))
	}
}

// rpcUDP takes a datagram that may be an RPC message (the portmapper and MOUNT over UDP).
func (p *parser) rpcUDP(t float64, b []byte) {
	if len(b) >= 8 {
		p.rpc(t, b)
	}
}

const (
	progNFS   = 100003
	progMount = 100005
)

var nfsProcs = []string{"NULL", "GETATTR", "SETATTR", "LOOKUP", "ACCESS", "READLINK", "READ", "WRITE",
	"CREATE", "MKDIR", "SYMLINK", "MKNOD", "REMOVE", "RMDIR", "RENAME", "LINK", "READDIR",
	"READDIRPLUS", "FSSTAT", "FSINFO", "PATHCONF", "COMMIT"}

// rpc takes one whole RPC message (RFC 5531 §9): calls are kept until their reply, which makes
// the op.
func (p *parser) rpc(t float64, m []byte) {
	x := XDR{b: m}
	xid, typ := x.U32(), x.U32()
	switch typ {
	case 0: // CALL
		if x.U32() != 2 {
			return
		}
		c := rpcCall{t: t, prog: x.U32(), vers: x.U32(), proc: x.U32()}
		x.U32()    // credentials: flavour,
		x.Opaque() // body
		x.U32()    // verifier
		x.Opaque()
		if x.err || (c.prog != progNFS && c.prog != progMount) {
			return
		}
		c.args = x.b
		p.calls[xid] = c
	case 1: // REPLY
		c, ok := p.calls[xid]
		if !ok {
			return
		}
		delete(p.calls, xid)
		if x.U32() != 0 { // MSG_DENIED
			return
		}
		x.U32() // verifier: flavour, body
		x.Opaque()
		if x.U32() != 0 || x.err { // not SUCCESS
			return
		}
		p.reply(t, c, XDR{b: c.args}, x)
	}
}

func (p *parser) reply(t float64, c rpcCall, args, res XDR) {
	op := Op{Call: c.t, Done: t}
	switch {
	case c.prog == progMount && c.vers == 3 && c.proc == 1: // MNT
		dir := args.Str()
		if res.U32() == 0 {
			p.fhs[string(res.Opaque())] = "" // paths are from the export's root
		}
		op.Kind, op.Path = "mount", dir
	case c.prog == progNFS && c.vers == 3 && c.proc == 3: // LOOKUP
		dir, name := p.fhs[string(args.Opaque())], args.Str()
		op.Kind, op.Path = "lookup", join(dir, name)
		if res.U32() == 0 {
			p.fhs[string(res.Opaque())] = op.Path
		}
	case c.prog == progNFS && c.vers == 3 && c.proc == 6: // READ
		fh := args.Opaque()
		op.Kind, op.Path = "read", p.fhs[string(fh)]
		op.Offset, op.Count = int64(args.U64()), int64(args.U32())
		if op.Path == "" {
			op.Path = fmt.Sprintf("fh:%x", fh)
		}
		if res.U32() == 0 {
			if res.U32() == 1 { // post_op_attr: a fattr3 of 84 bytes
				res.Skip(84)
			}
			p.st.ReadData += int64(res.U32())
		}
	case c.prog == progNFS && c.vers == 3 && c.proc == 17: // READDIRPLUS
		dir := p.fhs[string(args.Opaque())]
		op.Kind, op.Path = "readdir", dir
		if dir == "" {
			op.Path = "."
		}
		// The kernel takes the handles of the files it opens from here, not from LOOKUPs.
		if res.U32() == 0 {
			if res.U32() == 1 {
				res.Skip(84)
			}
			res.Skip(8) // cookie verifier
			for res.U32() == 1 && !res.err {
				res.U64() // fileid
				name := res.Str()
				res.U64() // cookie
				if res.U32() == 1 {
					res.Skip(84)
				}
				if res.U32() == 1 {
					p.fhs[string(res.Opaque())] = join(dir, name)
				}
			}
		}
	case c.prog == progNFS:
		name := fmt.Sprintf("proc %d", c.proc)
		if int(c.proc) < len(nfsProcs) {
			name = nfsProcs[c.proc]
		}
		p.st.NFSOther[name]++
		return
	default:
		return
	}
	if args.err {
		return
	}
	p.ops = append(p.ops, op)
}

func dhcpType(b []byte) string {
	opts := b[240:]
	for len(opts) >= 2 && opts[0] != 255 {
		if opts[0] == 0 {
			opts = opts[1:]
			continue
		}
		n := int(opts[1])
		if len(opts) < 2+n {
			break
		}
		if opts[0] == 53 && n == 1 {
			names := map[byte]string{1: "discover", 3: "request", 8: "inform", 7: "release", 4: "decline"}
			if s, ok := names[opts[2]]; ok {
				return s
			}
			return fmt.Sprintf("type%d", opts[2])
		}
		opts = opts[2+n:]
	}
	return "bootp"
}

// XDR reads RFC 4506 data; a short message sets err and reads zeros from then on. The replayer
// reads its replies with it too.
type XDR struct {
	b   []byte
	err bool
}

// NewXDR reads b.
func NewXDR(b []byte) XDR { return XDR{b: b} }

// Failed says whether a read ran past the end.
func (x *XDR) Failed() bool { return x.err }

func (x *XDR) U32() uint32 {
	if len(x.b) < 4 {
		x.err, x.b = true, nil
		return 0
	}
	v := binary.BigEndian.Uint32(x.b)
	x.b = x.b[4:]
	return v
}

func (x *XDR) U64() uint64 { return uint64(x.U32())<<32 | uint64(x.U32()) }

func (x *XDR) Skip(n int) {
	if len(x.b) < n {
		x.err, x.b = true, nil
		return
	}
	x.b = x.b[n:]
}

func (x *XDR) Opaque() []byte {
	n := int(x.U32())
	if n > len(x.b) {
		x.err, x.b = true, nil
		return nil
	}
	v := x.b[:n]
	x.Skip((n + 3) &^ 3)
	return v
}

func (x *XDR) Str() string { return string(x.Opaque()) }

// join makes a path from the export's root, which is "".
func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}
