package connlimit

import (
	"net/netip"
	"sync"
)

// Counter counts what clients hold at once (connections, transfers) in total and per client
// address, and refuses one more over either bound. Zero bounds mean none. Both the listener here
// and the TFTP server count with it, so a refusal is reported the same way everywhere: once per
// episode, until the bound is left again.
type Counter struct {
	Max, PerClient int

	mu       sync.Mutex
	n        int
	perIP    map[netip.Addr]*held // only clients holding something
	fullSaid bool                 // the total bound was reported and not yet left
}

type held struct {
	n    int
	said bool // this client's bound was reported; cleared when it is under it again
}

// Over says which bound refused a Take, the first time in an episode; later refusals of the
// same episode are OverNone, so that the caller logs each episode once.
type Over int

const (
	OverNone Over = iota
	OverTotal
	OverClient
)

// Take counts one more for ip and reports true, or reports false with the bound it is over (see
// Over) and how many are held in all.
func (c *Counter) Take(ip netip.Addr) (ok bool, over Over, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.perIP == nil {
		c.perIP = map[netip.Addr]*held{}
	}
	h := c.perIP[ip]
	switch {
	case c.Max > 0 && c.n >= c.Max:
		if !c.fullSaid {
			c.fullSaid = true
			over = OverTotal
		}
	case c.PerClient > 0 && h != nil && h.n >= c.PerClient:
		if !h.said {
			h.said = true
			over = OverClient
		}
	default:
		if h == nil {
			h = &held{}
			c.perIP[ip] = h
		}
		h.n++
		c.n++
		return true, OverNone, c.n
	}
	return false, over, c.n
}

// Give hands back what a Take of ip counted.
func (c *Counter) Give(ip netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n--
	if c.Max > 0 && c.n < c.Max {
		c.fullSaid = false
	}
	if h := c.perIP[ip]; h != nil {
		h.n--
		if h.n < c.PerClient {
			h.said = false
		}
		if h.n <= 0 {
			delete(c.perIP, ip)
		}
	}
}

// Held reports how many are held now and by how many client addresses.
func (c *Counter) Held() (n, clients int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, len(c.perIP)
}
