// Package connlimit bounds what one TCP listener's clients may hold: connections in total and
// per client address, and how long a connection may sit idle. It also keeps a failing accept
// from ending a server: every error but the listener's own close is waited out and retried.
package connlimit

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// Listener wraps a net.Listener. Zero fields mean "no bound"; each server chooses its own
// defaults and says why there.
type Listener struct {
	net.Listener
	// Name says which server this is in log lines ("NFS", "portmapper").
	Name string
	// Max bounds the connections open at once; one more is accepted and closed at once.
	Max int
	// PerClient bounds the connections open at once from one client address.
	PerClient int
	// Idle closes a connection whose client has sent nothing for this long: every Read waits at
	// most Idle. Not for servers that set read deadlines of their own (net/http).
	Idle time.Duration
	// Log gets one line per episode of refusals or accept errors. Nil discards.
	Log *slog.Logger

	mu        sync.Mutex
	count     *Counter // made from Max and PerClient at the first Accept or Close
	closeOnce sync.Once
	closed    chan struct{}
}

// Backoff bounds of the accept retry, as net/http's Server.Serve has them.
const (
	minDelay = 5 * time.Millisecond
	maxDelay = time.Second
)

func (l *Listener) log() *slog.Logger {
	if l.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l.Log
}

func (l *Listener) init() {
	l.mu.Lock()
	if l.count == nil {
		l.count = &Counter{Max: l.Max, PerClient: l.PerClient}
	}
	if l.closed == nil {
		l.closed = make(chan struct{})
	}
	l.mu.Unlock()
}

// Close closes the listener and ends an Accept that waits out an error.
func (l *Listener) Close() error {
	l.init()
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// Accept returns the next connection within the bounds. An accept error other than the
// listener's close (EMFILE and ENFILE when descriptors run out, ECONNABORTED, ENOBUFS, ENOMEM)
// comes from the host's state or from one client, not from the listener: it is waited out with a
// growing pause (5 ms to 1 s) and logged once per episode, so a flood of connections slows the
// share down instead of ending it. Only net.ErrClosed is returned.
func (l *Listener) Accept() (net.Conn, error) {
	l.init()
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			if delay == 0 {
				delay = minDelay
				l.log().Warn(l.Name+": accepting connections failed; retrying until it works again", "err", err)
			} else {
				delay = min(2*delay, maxDelay)
			}
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-l.closed:
				t.Stop()
				return nil, net.ErrClosed
			}
			continue
		}
		if delay != 0 {
			l.log().Info(l.Name + ": accepting connections again")
			delay = 0
		}
		if lc := l.admit(c); lc != nil {
			return lc, nil
		}
	}
}

// admit counts c in, or closes it when it is over a bound.
func (l *Listener) admit(c net.Conn) net.Conn {
	ip := addrOf(c.RemoteAddr())
	ok, over, open := l.count.Take(ip)
	if ok {
		return &conn{Conn: c, l: l, ip: ip}
	}
	var why string
	switch over {
	case OverTotal:
		why = "server full"
	case OverClient:
		why = "client over its bound"
	}
	if why != "" {
		l.log().Warn(l.Name+": refusing connections: "+why+" (logged once until it is under its bound again)",
			"client", ip, "open", open, "max", l.Max, "per_client", l.PerClient)
	}
	_ = c.Close()
	return nil
}

// Open reports the connections open now and the number of client addresses holding them.
func (l *Listener) Open() (conns, clients int) {
	l.init()
	return l.count.Held()
}

func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// conn is one counted connection. It passes SyscallConn and ReadFrom through, so servers that
// send files with sendfile(2) still can.
type conn struct {
	net.Conn
	l    *Listener
	ip   netip.Addr
	once sync.Once
}

func (c *conn) Read(p []byte) (int, error) {
	if c.l.Idle > 0 {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.l.Idle)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(p)
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.count.Give(c.ip) })
	return err
}

// SyscallConn gives the socket, for sendfile(2).
func (c *conn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("connection has no socket")
	}
	return sc.SyscallConn()
}

// ReadFrom lets io.Copy (net/http's file responses) reach *net.TCPConn's sendfile.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// Unwrap returns the connection the listener accepted.
func (c *conn) Unwrap() net.Conn { return c.Conn }
