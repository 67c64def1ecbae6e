package netboot

import (
	"container/list"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Stage is how far a client has come in booting the shared system.
type Stage string

// The stages in the order a client reaches them.
const (
	StageOffered Stage = "offered"      // it got our proxy-DHCP offer
	StageLoader  Stage = "loader"       // it fetched the network boot loader
	StageMenu    Stage = "menu"         // the loader read its menu
	StageKernel  Stage = "kernel"       // it fetched a kernel from the medium
	StageInitrd  Stage = "initrd"       // it fetched an initrd
	StageMounted Stage = "root mounted" // its initramfs mounted the medium over NFS
	StageRunning Stage = "running"      // it reads its root filesystem image: the live system is starting
)

// Event tells that a client reached a stage.
type Event struct {
	Time   time.Time
	MAC    net.HardwareAddr // may be nil when not known yet
	IP     netip.Addr       // may be invalid before the client has an address
	Stage  Stage
	Detail string // the file fetched, the export mounted, the boot file offered
	// Seat is the client's name in the seats file, "" for a client it does not name.
	Seat string
}

// Bounds of the tracker. Anyone on the LAN can send DISCOVERs from as many made-up MACs as it
// likes: unbounded, 100,000 of them added 28 MB and 200,000 log lines that never went away.
const (
	// maxTracked clients are remembered, the least recently seen forgotten first. A room of
	// clients is hundreds; a forgotten client that comes back is simply reported again.
	maxTracked = 4096
	// newClientBurst clients never seen before are reported at once, then one per
	// newClientEvery: a room powered on together (tens to a hundred clients) is reported
	// whole, a flood of made-up MACs costs a few lines a second and one line saying how many
	// were left out.
	newClientBurst = 128
	newClientEvery = 100 * time.Millisecond
)

// tracker turns the servers' raw observations into one Event per client stage change, so a
// client fetching the same file twice (OVMF's tsize probe, a retry) is reported once.
type tracker struct {
	mu      sync.Mutex
	byIP    *lru[netip.Addr, string]   // MAC by IP, for servers that see only the IP
	last    *lru[string, trackedStage] // the stage and detail last reported, by MAC or IP
	emit    func(Event)
	lookMAC func(netip.Addr) net.HardwareAddr
	log     *slog.Logger
	now     func() time.Time

	// The budget of new clients to report (a token bucket).
	tokens     float64
	refilled   time.Time
	unreported int // new clients left out since the last one reported
}

type trackedStage struct {
	Stage  Stage
	Detail string
	IP     netip.Addr
	Seen   time.Time // last heard of at this stage, news or not
}

func newTracker(emit func(Event), lookMAC func(netip.Addr) net.HardwareAddr, log *slog.Logger) *tracker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &tracker{
		byIP:    newLRU[netip.Addr, string](maxTracked),
		last:    newLRU[string, trackedStage](maxTracked),
		emit:    emit,
		lookMAC: lookMAC,
		log:     log,
		now:     time.Now,
		tokens:  newClientBurst,
	}
}

// report tells of a stage and reports whether it was news (and so was emitted).
func (t *tracker) report(mac net.HardwareAddr, ip netip.Addr, st Stage, detail string) bool {
	t.mu.Lock()
	if ip.IsValid() && mac != nil {
		t.byIP.put(ip, mac.String())
	}
	if mac == nil && ip.IsValid() {
		if m, ok := t.byIP.get(ip); ok {
			mac, _ = net.ParseMAC(m)
		} else if t.lookMAC != nil {
			mac = t.lookMAC(ip)
			if mac != nil {
				t.byIP.put(ip, mac.String())
			}
		}
	}
	key := ip.String()
	if mac != nil {
		key = mac.String()
	}
	prev, known := t.last.get(key)
	// A running client reads file after file (a medium served as a plain tree, live-boot's
	// *.dir layers): it is running once, until it boots again.
	same := prev.Stage == st && (prev.Detail == detail || st == StageRunning)
	if same && st == StageRunning {
		detail = prev.Detail // what it first ran from names the medium it runs from
	}
	t.last.put(key, trackedStage{Stage: st, Detail: detail, IP: ip, Seen: t.now()})
	if same {
		t.mu.Unlock()
		return false
	}
	var left int
	if !known {
		if !t.take() {
			t.unreported++
			t.mu.Unlock()
			return false
		}
		left, t.unreported = t.unreported, 0
	}
	t.mu.Unlock()
	if left > 0 {
		t.log.Warn("many new clients at once: some were not reported", "not_reported", left)
	}
	if t.emit != nil {
		t.emit(Event{Time: time.Now(), MAC: mac, IP: ip, Stage: st, Detail: detail})
	}
	return true
}

// recent lists the clients last heard of at or after since at a stage and detail that match
// says are of interest: which clients still use a medium taken out of the share.
func (t *tracker) recent(since time.Time, match func(Stage, string) bool) []netip.Addr {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []netip.Addr
	for e := t.last.order.Front(); e != nil; e = e.Next() {
		ts := e.Value.(*lruEntry[string, trackedStage]).val
		if !ts.Seen.Before(since) && ts.IP.IsValid() && match(ts.Stage, ts.Detail) {
			out = append(out, ts.IP)
		}
	}
	return out
}

// take spends one new-client report if the budget has one. Called with mu held.
func (t *tracker) take() bool {
	now := t.now()
	if !t.refilled.IsZero() {
		t.tokens = min(newClientBurst, t.tokens+float64(now.Sub(t.refilled))/float64(newClientEvery))
	}
	t.refilled = now
	if t.tokens < 1 {
		return false
	}
	t.tokens--
	return true
}

// lru is a map of at most max entries that forgets the least recently used first.
type lru[K comparable, V any] struct {
	max   int
	order *list.List // of *lruEntry, most recent at the front
	index map[K]*list.Element
}

type lruEntry[K comparable, V any] struct {
	key K
	val V
}

func newLRU[K comparable, V any](max int) *lru[K, V] {
	return &lru[K, V]{max: max, order: list.New(), index: map[K]*list.Element{}}
}

func (l *lru[K, V]) get(k K) (V, bool) {
	if e, ok := l.index[k]; ok {
		l.order.MoveToFront(e)
		return e.Value.(*lruEntry[K, V]).val, true
	}
	var zero V
	return zero, false
}

func (l *lru[K, V]) put(k K, v V) {
	if e, ok := l.index[k]; ok {
		e.Value.(*lruEntry[K, V]).val = v
		l.order.MoveToFront(e)
		return
	}
	l.index[k] = l.order.PushFront(&lruEntry[K, V]{key: k, val: v})
	if l.order.Len() > l.max {
		old := l.order.Back()
		l.order.Remove(old)
		delete(l.index, old.Value.(*lruEntry[K, V]).key)
	}
}

func (l *lru[K, V]) len() int { return l.order.Len() }
