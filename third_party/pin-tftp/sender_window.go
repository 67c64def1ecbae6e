package tftp

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
)

// windowSizeMax bounds the windowsize a server grants. Block numbers wrap
// at 65536, so a window must stay under half of that for an ACK to tell a
// block of the current window from an old one.
const windowSizeMax = 32767

// setWindowSize takes the client's windowsize option (RFC 7440) and keeps
// the smaller of it and the server's maximum for the OACK.
func (s *sender) setWindowSize(windowsize string) error {
	if s.maxWindow < 2 {
		return fmt.Errorf("windowsize not enabled")
	}
	n, err := strconv.Atoi(windowsize)
	if err != nil {
		return err
	}
	if n < 1 || n > 65535 {
		return fmt.Errorf("windowsize out of range: %d", n)
	}
	if uint(n) > s.maxWindow {
		n = int(s.maxWindow)
	}
	s.opts["windowsize"] = strconv.Itoa(n)
	s.window = uint(n)
	return nil
}

// readFromWindow sends r in windows of s.window blocks (RFC 7440). The
// client ACKs the last block of a window, or the last block it got in order
// when one went missing; either way sending goes on from the block after
// the ACKed one, so blocks lost from a window are sent again and the
// transfer goes on. When the window's first block is lost, the client ACKs
// the block before the window; that ACK sends the window again once. A
// timeout sends the whole window again.
func readFromWindow(s *sender, r io.Reader) (n int64, err error) {
	w := int(s.window)
	bufs := make([][]byte, w) // bufs[i] holds block base+i, for i < filled
	lens := make([]int, w)
	spare := make([][]byte, w)
	base := uint16(1)
	filled := 0
	last := false // bufs[filled-1] is the final, short block
	whole := true // the ACK that opened this window was for the whole window before it
	for {
		for !last && filled < w {
			if bufs[filled] == nil {
				bufs[filled] = make([]byte, len(s.send))
			}
			b := bufs[filled]
			l, err := io.ReadFull(r, b[4:])
			n += int64(l)
			if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
				s.abort(err)
				return n, err
			}
			binary.BigEndian.PutUint16(b[0:2], opDATA)
			binary.BigEndian.PutUint16(b[2:4], base+uint16(filled))
			lens[filled] = 4 + l
			filled++
			last = l < len(b)-4
		}
		s.block = base
		acked, err := s.sendWindowWithRetry(bufs[:filled], lens[:filled], whole)
		if err != nil {
			s.abort(err)
			return n, err
		}
		if last && acked == filled {
			if s.hook != nil {
				s.hook.OnSuccess(s.buildTransferStats())
			}
			return n, nil
		}
		whole = acked == filled
		// Slide past the ACKed blocks; their buffers take the free places.
		copy(spare, bufs[acked:filled])
		copy(spare[filled-acked:], bufs[:acked])
		copy(spare[filled:], bufs[filled:])
		bufs, spare = spare, bufs
		copy(lens, lens[acked:filled])
		base += uint16(acked)
		filled -= acked
	}
}

// sendWindowWithRetry sends the window until an ACK for one of its blocks
// arrives and returns how many blocks that ACK covers. resend says whether an
// ACK of the block before the window may send it again (see sendWindow).
func (s *sender) sendWindowWithRetry(bufs [][]byte, lens []int, resend bool) (int, error) {
	s.retry.reset()
	s.resentOnACK = !resend
	for {
		acked, err := s.sendWindow(bufs, lens)
		if _, ok := err.(net.Error); ok && s.retry.count() < s.retries {
			s.retry.backoff()
			continue
		}
		return acked, err
	}
}

// sendWindow sends every block of the window, starting with block s.block,
// and waits for an ACK of one of them.
//
// An ACK of the block just before the window says the client has none of
// it in order: its first block was lost, and the client ACKs that for each
// block that came after it. It may also be a copy of the ACK that opened the
// window, which looks the same: a client that lost a block in the window
// before ACKs it once for every block that came out of order after it. So
// only where the window was opened by the ACK of a whole window (no loss
// before, so no such copies) does the first one send the window again at
// once instead of after a timeout; later ones, and ACKs of earlier blocks,
// are ignored. At most one extra window goes out per window, and a client
// that ACKs every out-of-order block cannot multiply the traffic.
func (s *sender) sendWindow(bufs [][]byte, lens []int) (int, error) {
	err := s.conn.setDeadline(s.timeout)
	if err != nil {
		return 0, err
	}
	pkts := s.windowPkts[:0]
	for i := range bufs {
		pkts = append(pkts, bufs[i][:lens[i]])
	}
	s.windowPkts = pkts
	err = sendAll(s.conn, pkts, s.addr)
	if err != nil {
		return 0, err
	}
	s.datagramsSent += len(pkts)
	for {
		n, addr, err := s.conn.readFrom(s.receive)
		if err != nil {
			return 0, err
		}
		if !addr.IP.Equal(s.addr.IP) || (s.tid != 0 && addr.Port != s.tid) {
			continue
		}
		p, err := parsePacket(s.receive[:n])
		if err != nil {
			continue
		}
		s.tid = addr.Port
		switch p := p.(type) {
		case pACK:
			acked := int(p.block() - (s.block - 1))
			if acked >= 1 && acked <= len(bufs) {
				s.datagramsAcked++
				return acked, nil
			}
			if acked == 0 && !s.resentOnACK {
				s.resentOnACK = true
				if err := sendAll(s.conn, pkts, s.addr); err != nil {
					return 0, err
				}
				s.datagramsSent += len(pkts)
				if err := s.conn.setDeadline(s.timeout); err != nil {
					return 0, err
				}
			}
		case pERROR:
			return 0, fmt.Errorf("sending block %d: code=%d, error: %s",
				s.block, p.code(), p.message())
		}
	}
}
