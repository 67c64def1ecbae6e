package dhcp

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The full server's addresses live in three pieces kept apart so that nothing slow happens
// under a lock: leaseTable decides (in memory, under its mutex, clock passed in), leaseStore
// keeps the bound leases across restarts (disk, no lock of the table held), and Server.Reply
// runs the ARP probe and the save between the table's steps.

type lease struct {
	MAC    string     `json:"mac"`
	IP     netip.Addr `json:"ip"`
	Expiry time.Time  `json:"expiry"`
	Bound  bool       `json:"bound"` // ACKed, not just offered
}

// offerHold is how long an offered address stays reserved for its client.
const offerHold = 30 * time.Second

// takenFor is how long an address someone else answers ARP for (or a client DECLINEd) is
// left alone.
const takenFor = 10 * time.Minute

// addrPool is what the table needs of the server's configuration: the range it hands out,
// the subnet that range must lie in and the server's own address, never handed out.
type addrPool struct {
	lo, hi, server netip.Addr
	subnet         netip.Prefix
}

func (p addrPool) contains(a netip.Addr) bool {
	return a.IsValid() && a != p.server && p.lo.Compare(a) <= 0 && a.Compare(p.hi) <= 0 && p.subnet.Contains(a)
}

// leaseTable is who holds which address. Every method takes the lock for one whole decision
// and nothing else: no probe, no file, no logging.
type leaseTable struct {
	mu     sync.Mutex
	leases map[string]*lease // by MAC
	taken  map[netip.Addr]time.Time
}

// init readies the maps; called with t.mu held.
func (t *leaseTable) init() {
	if t.leases == nil {
		t.leases = map[string]*lease{}
		t.taken = map[netip.Addr]time.Time{}
	}
}

// restore adds the bound leases of a saved table that are still in pool.
func (t *leaseTable) restore(ls []lease, pool addrPool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	for _, l := range ls {
		if l.Bound && pool.contains(l.IP) {
			t.leases[l.MAC] = &l
		}
	}
}

// bound returns a copy of the bound leases, for saving and for Server.Leases.
func (t *leaseTable) bound() []lease {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []lease
	for _, l := range t.leases {
		if l.Bound {
			out = append(out, *l)
		}
	}
	return out
}

// holder returns the MAC holding a (an unexpired lease or offer), or "". t.mu held.
func (t *leaseTable) holder(a netip.Addr, now time.Time) string {
	for mac, l := range t.leases {
		if l.IP == a && now.Before(l.Expiry) {
			return mac
		}
	}
	return ""
}

// everHeld says whether a lease, even an expired one, names a. t.mu held.
func (t *leaseTable) everHeld(a netip.Addr) bool {
	for _, l := range t.leases {
		if l.IP == a {
			return true
		}
	}
	return false
}

// reserve picks an address for mac and holds it for offerHold, so that a concurrent DISCOVER
// picks another while this one is probed: its current lease, else the address it asks for if
// free, else the first never-used free one, else the first free one. skip holds addresses
// this DISCOVER already found in use.
func (t *leaseTable) reserve(pool addrPool, mac string, want netip.Addr, now time.Time, skip map[netip.Addr]bool) (netip.Addr, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	a, ok := t.candidate(pool, mac, want, now, skip)
	if !ok {
		return netip.Addr{}, false
	}
	l := t.leases[mac]
	if l == nil || l.IP != a {
		l = &lease{MAC: mac, IP: a}
		t.leases[mac] = l
	}
	if !l.Bound || now.After(l.Expiry) {
		l.Bound = false
		l.Expiry = now.Add(offerHold)
	}
	return a, true
}

func (t *leaseTable) candidate(pool addrPool, mac string, want netip.Addr, now time.Time, skip map[netip.Addr]bool) (netip.Addr, bool) {
	if l, ok := t.leases[mac]; ok && !skip[l.IP] && pool.contains(l.IP) {
		if h := t.holder(l.IP, now); h == "" || h == mac {
			return l.IP, true
		}
	}
	free := func(a netip.Addr) bool {
		if skip[a] || !pool.contains(a) {
			return false
		}
		if until, ok := t.taken[a]; ok && now.Before(until) {
			return false
		}
		h := t.holder(a, now)
		return h == "" || h == mac
	}
	if free(want) {
		return want, true
	}
	// Prefer never-used addresses, then ones whose leases expired; a short pool scan is
	// enough for a classroom.
	for a := pool.lo; a.Compare(pool.hi) <= 0; a = a.Next() {
		if free(a) && !t.everHeld(a) {
			return a, true
		}
	}
	for a := pool.lo; a.Compare(pool.hi) <= 0; a = a.Next() {
		if free(a) {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// stillReserved says whether mac still holds a after a probe that ran without the lock: the
// reservation may have been dropped meanwhile (the client chose another server, DECLINEd,
// or another reservation replaced it), and then a must not be offered.
func (t *leaseTable) stillReserved(mac string, a netip.Addr, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.leases[mac]
	return l != nil && l.IP == a && t.holder(a, now) == mac
}

// inUse records that another machine answers for a: it is left alone for takenFor and mac's
// reservation of it is dropped.
func (t *leaseTable) inUse(mac string, a netip.Addr, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	t.taken[a] = now.Add(takenFor)
	if l := t.leases[mac]; l != nil && l.IP == a && !l.Bound {
		delete(t.leases, mac)
	}
}

// A grant is the table's answer to a REQUEST.
type grant struct {
	ip    netip.Addr // ACK this address
	nak   string     // or NAK with this message
	err   error      // or ignore the request for this reason
	saved bool       // the bound leases changed: save them
}

// request decides a REQUEST (RFC 2131 §4.3.2): SELECTING (server id set), INIT-REBOOT
// (requested address, no server id), RENEWING/REBINDING (ciaddr, in want). paused refuses new
// addresses but not renewals.
func (t *leaseTable) request(pool addrPool, mac string, sid, want netip.Addr, now time.Time, leaseTime time.Duration, paused bool) grant {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	l := t.leases[mac]
	if sid.IsValid() && sid != pool.server {
		// SELECTING another server's offer: drop our reservation.
		if l != nil && !l.Bound {
			delete(t.leases, mac)
		}
		return grant{err: fmt.Errorf("%w: the client chose server %v", ErrNotOurs, sid)}
	}
	switch {
	case l != nil && l.IP == want && (l.Bound || now.Before(l.Expiry)):
		if !l.Bound && paused {
			return grant{err: ErrPaused}
		}
	case !sid.IsValid() && want.IsValid() && !pool.subnet.Contains(want):
		// INIT-REBOOT with an address from another network: tell it to start over.
		return grant{nak: "address not on this network"}
	case !sid.IsValid() && want.IsValid() && pool.contains(want) && t.holder(want, now) == "" && !paused:
		// INIT-REBOOT with an address we don't know (lease file lost): we are the only
		// server on an isolated LAN, so grant it if free.
		l = &lease{MAC: mac, IP: want}
		t.leases[mac] = l
	case sid.IsValid() || want.IsValid():
		return grant{nak: "no such lease"}
	default:
		return grant{err: fmt.Errorf("%w: REQUEST without an address", ErrBadPacket)}
	}
	l.Bound = true
	l.Expiry = now.Add(leaseTime)
	return grant{ip: l.IP, saved: true}
}

// release ends mac's lease on ip (RELEASE); it says whether there was one.
func (t *leaseTable) release(mac string, ip netip.Addr) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if l, ok := t.leases[mac]; ok && l.IP == ip {
		delete(t.leases, mac)
		return l.Bound
	}
	return false
}

// decline handles a DECLINE: the client found its address in use (its own ARP check), so it
// is not offered for a while. It says whether a bound lease went.
func (t *leaseTable) decline(mac string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	l, ok := t.leases[mac]
	if !ok {
		return false
	}
	t.taken[l.IP] = now.Add(takenFor)
	delete(t.leases, mac)
	return l.Bound
}

// leaseStore keeps the bound leases across restarts.
type leaseStore interface {
	load() ([]lease, error)
	save([]lease) error
}

// leaseFile is a leaseStore in a JSON file.
type leaseFile string

func (f leaseFile) load() ([]lease, error) {
	b, err := os.ReadFile(string(f))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var ls []lease
	if err := json.Unmarshal(b, &ls); err != nil {
		return nil, fmt.Errorf("reading %s: %w", string(f), err)
	}
	return ls, nil
}

// save writes atomically (write, then rename), so a crash leaves the old file or the new one.
func (f leaseFile) save(ls []lease) error {
	b, err := json.MarshalIndent(ls, "", " ")
	if err != nil {
		return err
	}
	path := string(f)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// saver writes the table to a store, one write at a time, without holding the table's lock.
// A save asked for while one is under way is folded into it: the writer takes a fresh
// snapshot and writes again when it is done. So a slow disk holds up only the one request
// that started the write, and a lease bound meanwhile still reaches the file.
type saver struct {
	mu      sync.Mutex
	pending bool
	writing bool
}

// save writes table's bound leases to st; err is called with each failed write.
func (s *saver) save(st leaseStore, table *leaseTable, failed func(error)) {
	s.mu.Lock()
	s.pending = true
	if s.writing {
		s.mu.Unlock()
		return
	}
	s.writing = true
	for s.pending {
		s.pending = false
		s.mu.Unlock()
		if err := st.save(table.bound()); err != nil {
			failed(err)
		}
		s.mu.Lock()
	}
	s.writing = false
	s.mu.Unlock()
}

// LeasedMACs returns the MACs of the leases saved in a full server's lease file, in the file's
// order, each once: the clients it has given an address, which `sharecd --wake all` wakes. A
// missing file is no clients and no error.
func LeasedMACs(path string) ([]net.HardwareAddr, error) {
	ls, err := leaseFile(path).load()
	if err != nil {
		return nil, err
	}
	var out []net.HardwareAddr
	seen := map[string]bool{}
	for _, l := range ls {
		mac, err := net.ParseMAC(l.MAC)
		if err != nil || len(mac) != 6 || seen[mac.String()] {
			continue // not one a magic packet can name
		}
		seen[mac.String()] = true
		out = append(out, mac)
	}
	return out, nil
}
