package tftp

import (
	"encoding/binary"
	"errors"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Linux sends a window's datagrams in one system call, at best as one
// buffer the kernel cuts into datagrams (UDP generic segmentation offload,
// UDP_SEGMENT, Linux 4.18), else with sendmmsg(2) (golang.org/x/net's
// WriteBatch). Either way the network stack is gone through once for the
// lot, and the peer is woken once rather than for every block.

const (
	udpSegment      = 103   // UDP_SEGMENT in linux/udp.h
	udpMaxSegments  = 64    // UDP_MAX_SEGMENTS in linux/udp.h
	udpMaxGSOLength = 65000 // a segmented send's bytes, under the 64 KiB of one IP packet
)

// batchState is what a connection learned about sending several datagrams
// at once. A way that failed is not tried again on that connection.
type batchState struct {
	noGSO   bool
	noMmsg  bool
	gsoBuf  []byte
	gsoOOB  []byte
	gsoSize int
	writer  batchWriter
	msgs    []ipv4.Message
}

// batchWriter is what ipv4.PacketConn and ipv6.PacketConn offer to send
// several datagrams at once.
type batchWriter interface {
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// sendBatch sends bufs with as few system calls as it can: runs of
// datagrams of one size (the last of a run may be shorter) as one
// segmented buffer, what is left with one sendmmsg(2), and, where a way
// turns out not to work here, one sendto(2) a datagram.
func (c *connConnection) sendBatch(bufs [][]byte, addr *net.UDPAddr) error {
	b := &c.batch
	if !b.noGSO {
		n, err := c.sendSegmented(bufs, addr)
		if err != nil {
			return err
		}
		bufs = bufs[n:]
	}
	if !b.noMmsg && len(bufs) > 1 {
		n, err := c.sendMmsg(bufs, addr)
		if err != nil {
			return err
		}
		bufs = bufs[n:]
	}
	for _, p := range bufs {
		if err := c.sendTo(p, addr); err != nil {
			return err
		}
	}
	return nil
}

// sendSegmented sends the leading datagrams of bufs as segmented buffers
// while they come in runs of at least two and returns how many it sent.
func (c *connConnection) sendSegmented(bufs [][]byte, addr *net.UDPAddr) (int, error) {
	b := &c.batch
	sent := 0
	for len(bufs)-sent > 1 {
		size := len(bufs[sent])
		n, total := 0, 0
		for sent+n < len(bufs) && n < udpMaxSegments {
			l := len(bufs[sent+n])
			if l > size || total+l > udpMaxGSOLength {
				break
			}
			n++
			total += l
			if l < size {
				break // a shorter datagram ends a run
			}
		}
		if n < 2 {
			break
		}
		buf := b.gsoBuf[:0]
		for _, p := range bufs[sent : sent+n] {
			buf = append(buf, p...)
		}
		b.gsoBuf = buf
		if b.gsoOOB == nil || b.gsoSize != size {
			b.gsoOOB = segmentSize(size)
			b.gsoSize = size
		}
		_, _, err := c.conn.WriteMsgUDP(buf, b.gsoOOB, addr)
		if err != nil {
			if cannotBatch(err) {
				b.noGSO = true
				return sent, nil
			}
			return sent, err
		}
		sent += n
	}
	return sent, nil
}

// sendMmsg sends bufs with WriteBatch and returns how many it sent.
func (c *connConnection) sendMmsg(bufs [][]byte, addr *net.UDPAddr) (int, error) {
	b := &c.batch
	if b.writer == nil {
		if addr.IP.To4() != nil {
			b.writer = ipv4.NewPacketConn(c.conn)
		} else {
			b.writer = ipv6.NewPacketConn(c.conn)
		}
	}
	for len(b.msgs) < len(bufs) {
		b.msgs = append(b.msgs, ipv4.Message{Buffers: make([][]byte, 1)})
	}
	ms := b.msgs[:len(bufs)]
	for i := range ms {
		ms[i].Buffers[0] = bufs[i]
		ms[i].Addr = addr
	}
	defer func() {
		for i := range ms {
			ms[i].Buffers[0] = nil // do not keep the caller's buffers
		}
	}()
	sent := 0
	for sent < len(ms) {
		n, err := b.writer.WriteBatch(ms[sent:], 0)
		if err != nil {
			if cannotBatch(err) {
				b.noMmsg = true
				return sent, nil
			}
			return sent, err
		}
		if n <= 0 {
			b.noMmsg = true
			break
		}
		sent += n
	}
	return sent, nil
}

// segmentSize is the control message that has the kernel cut a buffer
// into datagrams of size bytes.
func segmentSize(size int) []byte {
	oob := make([]byte, syscall.CmsgSpace(2))
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level = syscall.IPPROTO_UDP
	h.Type = udpSegment
	h.SetLen(syscall.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[syscall.CmsgLen(0):], uint16(size))
	return oob
}

// cannotBatch tells an error that says this way of sending does not work
// here (an old kernel, a device that cannot checksum segments, a datagram
// over the MTU) from one that any send would meet, such as a peer's port
// found unreachable, which is returned as before.
func cannotBatch(err error) bool {
	for _, e := range []error{syscall.EINVAL, syscall.EIO, syscall.ENOPROTOOPT, syscall.EOPNOTSUPP,
		syscall.ENOSYS, syscall.EAFNOSUPPORT, syscall.EMSGSIZE, syscall.ENOTSUP} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
