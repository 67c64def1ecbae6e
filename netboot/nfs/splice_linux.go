package nfs

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Sending a READ's data through a pipe of our own.
//
// sendfile(2) moves a file to a socket through a pipe of the kernel's that holds 64 KiB, so a
// 1 MiB READ is 16 rounds of page cache → pipe → socket inside one call, each ending in a push.
// Here the READ's bytes go from the page cache into a 1 MiB pipe (page references, not a copy)
// and from the pipe to the socket in as few splices as the socket takes, with SPLICE_F_MORE
// until the last piece. Side by side with the sendfile build on the loaded 2-core machine
// (nfs-cp of the lab ISO's squashfs, medians of 15 to 31 runs) one reader got 3 to 14% more, 8
// readers the same; nfs-ganesha, which copies, stayed ahead for one reader (README, Performance).
//
// The pipes are pooled per server, a few at most: a reply holds one only while it is written,
// under its connection's write lock, and only a few replies are written at once on 2 or 4
// cores. A reply that finds none free falls back to sendfile.

// pipeSize is what each pipe is asked to hold: Linux's largest READ. Where the kernel grants
// less (an unprivileged user over fs.pipe-user-pages-soft), the pipe still works, in more pieces.
const pipeSize = maxRead

// maxPipes bounds the pool of each server: two descriptors a pipe, from the quarter of the file
// limit netboot keeps aside (boundsFor); where none is left, get fails and sendfile takes over.
const maxPipes = 8

type pipe struct{ r, w int }

type pipePool struct {
	mu     sync.Mutex
	idle   []*pipe
	made   int
	closed bool
}

func newPipePool() *pipePool { return &pipePool{} }

// get is an idle pipe, a new one while fewer than maxPipes exist, or nil.
func (p *pipePool) get() *pipe {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	if n := len(p.idle); n > 0 {
		pp := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return pp
	}
	if p.made >= maxPipes {
		return nil
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil // out of descriptors: sendfile needs none
	}
	_, _ = unix.FcntlInt(uintptr(fds[1]), unix.F_SETPIPE_SZ, pipeSize)
	p.made++
	return &pipe{r: fds[0], w: fds[1]}
}

// put takes back a pipe; one that still holds bytes (a reply that failed halfway) is closed,
// as is every pipe after close.
func (p *pipePool) put(pp *pipe, empty bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if empty && !p.closed {
		p.idle = append(p.idle, pp)
		return
	}
	p.made--
	pp.close()
}

// close closes the idle pipes; those in use are closed when they come back.
func (p *pipePool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, pp := range p.idle {
		pp.close()
	}
	p.made -= len(p.idle)
	p.idle = nil
}

func (pp *pipe) close() {
	_ = unix.Close(pp.r)
	_ = unix.Close(pp.w)
}

// send writes n bytes of src from offset off to the socket dst, through a pooled pipe, or with
// sendfile where none is free. src's own offset is left alone.
func (p *pipePool) send(dst syscall.RawConn, src *os.File, off int64, n int) error {
	pp := p.get()
	if pp == nil {
		return sendFile(dst, src, off, n)
	}
	sc, err := src.SyscallConn()
	if err != nil {
		p.put(pp, true)
		return err
	}
	held := 0 // bytes in the pipe
	var werr, serr error
	cerr := sc.Control(func(sfd uintptr) {
		werr = dst.Write(func(dfd uintptr) bool {
			for n > 0 || held > 0 {
				if held == 0 {
					k, err := unix.Splice(int(sfd), &off, pp.w, nil, n, unix.SPLICE_F_MOVE)
					switch {
					case err == unix.EINTR:
						continue
					case err != nil:
						serr = err
						return true
					case k == 0:
						serr = io.ErrUnexpectedEOF // the file is shorter than it said
						return true
					}
					held += int(k)
					n -= int(k)
				}
				flags := unix.SPLICE_F_MOVE | unix.SPLICE_F_NONBLOCK
				if n > 0 {
					flags |= unix.SPLICE_F_MORE // more of this reply follows: no push yet
				}
				k, err := unix.Splice(pp.r, nil, int(dfd), nil, held, flags)
				if k > 0 {
					held -= int(k)
				}
				switch {
				case err == unix.EAGAIN:
					return false // wait until the socket takes more
				case err == unix.EINTR:
				case err != nil:
					serr = err
					return true
				}
			}
			return true
		})
	})
	p.put(pp, held == 0)
	return errors.Join(cerr, werr, serr)
}

// sendBuffer is the send buffer a connection is given: room for a few whole READ replies.
const sendBuffer = 4 * maxRead

// holdReplies lets the socket take whole READ replies, so that the kernel sends each on its own as
// the client's ACKs come in. With the send buffer Linux grows by itself, a 1 MiB reply filled it,
// and each time it drained the server had to be woken to add more: captures of one nfs-cp showed
// the link idle for about 20 ms, 16 times in one 200 MiB read, waiting for that; with this, not
// once. SO_SNDBUFFORCE needs CAP_NET_ADMIN (sharecd run as root has it); SO_SNDBUF would be capped
// at net.core.wmem_max, smaller than what Linux grows to by itself, so without the capability the
// buffer is left alone.
func holdReplies(raw syscall.RawConn) {
	if raw == nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUFFORCE, sendBuffer)
	})
}
