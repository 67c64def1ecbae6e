package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/sharecd/sharecd/bench/room"
)

// rpcClient makes ONC RPC calls (RFC 5531) over one TCP connection, many in flight at once as
// the kernel's NFS client has them, matched to their replies by XID.
type rpcClient struct {
	conn    net.Conn
	mu      sync.Mutex // held while writing a call and changing pending
	xid     uint32
	pending map[uint32]chan []byte
	err     error
}

func dialRPC(addr string) (*rpcClient, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c := &rpcClient{conn: conn, xid: uint32(time.Now().UnixNano()), pending: map[uint32]chan []byte{}}
	go c.read()
	return c, nil
}

func (c *rpcClient) read() {
	r := bufio.NewReaderSize(c.conn, 256<<10)
	var err error
	for {
		var rec []byte
		for last := false; !last && err == nil; {
			var m [4]byte
			if _, err = io.ReadFull(r, m[:]); err != nil {
				break
			}
			n := binary.BigEndian.Uint32(m[:])
			last = n&0x80000000 != 0
			frag := make([]byte, n&0x7fffffff)
			_, err = io.ReadFull(r, frag)
			rec = append(rec, frag...)
		}
		if err != nil {
			break
		}
		if len(rec) < 4 {
			continue
		}
		c.mu.Lock()
		ch := c.pending[binary.BigEndian.Uint32(rec)]
		delete(c.pending, binary.BigEndian.Uint32(rec))
		c.mu.Unlock()
		if ch != nil {
			ch <- rec
		}
	}
	c.mu.Lock()
	c.err = fmt.Errorf("RPC connection to %v: %w", c.conn.RemoteAddr(), err)
	for _, ch := range c.pending {
		close(ch)
	}
	c.pending = nil
	c.mu.Unlock()
}

// call sends a call and returns the results of its successful reply.
func (c *rpcClient) call(prog, vers, proc uint32, args []byte) (room.XDR, error) {
	ch := make(chan []byte, 1)
	c.mu.Lock()
	if c.pending == nil {
		c.mu.Unlock()
		return room.XDR{}, c.err
	}
	c.xid++
	xid := c.xid
	c.pending[xid] = ch
	// AUTH_SYS as root, as the kernel's mount is: ganesha's export is for "sys".
	cred := (&xdrw{}).u32(0).str("room").u32(0).u32(0).u32(0).b
	msg := (&xdrw{}).u32(xid).u32(0).u32(2).u32(prog).u32(vers).u32(proc).
		u32(1).opaque(cred).u32(0).u32(0).b
	msg = append(msg, args...)
	rec := binary.BigEndian.AppendUint32(nil, uint32(len(msg))|0x80000000)
	_, err := c.conn.Write(append(rec, msg...))
	c.mu.Unlock()
	if err != nil {
		return room.XDR{}, fmt.Errorf("sending RPC call: %w", err)
	}
	rep, ok := <-ch
	if !ok {
		return room.XDR{}, c.err
	}
	x := room.NewXDR(rep[8:]) // past XID and the message type
	if x.U32() != 0 {
		return room.XDR{}, errors.New("RPC call denied")
	}
	x.U32() // verifier
	x.Opaque()
	if st := x.U32(); st != 0 || x.Failed() {
		return room.XDR{}, fmt.Errorf("RPC program %d proc %d: accept status %d", prog, proc, st)
	}
	return x, nil
}

func (c *rpcClient) Close() error { return c.conn.Close() }

// getport asks a portmapper (PMAP v2 GETPORT) where a program's TCP service is.
func getport(server string, prog, vers uint32) (int, error) {
	c, err := dialRPC(net.JoinHostPort(server, "111"))
	if err != nil {
		return 0, fmt.Errorf("portmapper: %w", err)
	}
	defer c.Close()
	x, err := c.call(100000, 2, 3, (&xdrw{}).u32(prog).u32(vers).u32(6).u32(0).b)
	if err != nil {
		return 0, fmt.Errorf("portmapper GETPORT %d: %w", prog, err)
	}
	port := x.U32()
	if port == 0 || x.Failed() {
		return 0, fmt.Errorf("portmapper: program %d v%d is not on TCP", prog, vers)
	}
	return int(port), nil
}

// xdrw writes RFC 4506 data.
type xdrw struct{ b []byte }

func (w *xdrw) u32(v uint32) *xdrw { w.b = binary.BigEndian.AppendUint32(w.b, v); return w }
func (w *xdrw) u64(v uint64) *xdrw { w.b = binary.BigEndian.AppendUint64(w.b, v); return w }
func (w *xdrw) opaque(v []byte) *xdrw {
	w.u32(uint32(len(v)))
	w.b = append(w.b, v...)
	for len(w.b)%4 != 0 {
		w.b = append(w.b, 0)
	}
	return w
}
func (w *xdrw) str(s string) *xdrw { return w.opaque([]byte(s)) }
