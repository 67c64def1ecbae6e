package netboot

import (
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
}

// tracker turns the servers' raw observations into one Event per client stage change, so a
// client fetching the same file twice (OVMF's tsize probe, a retry) is reported once.
type tracker struct {
	mu      sync.Mutex
	byIP    map[netip.Addr]net.HardwareAddr
	last    map[string]Event // the stage and detail last reported, by MAC or IP
	emit    func(Event)
	lookMAC func(netip.Addr) net.HardwareAddr
}

func newTracker(emit func(Event), lookMAC func(netip.Addr) net.HardwareAddr) *tracker {
	return &tracker{byIP: map[netip.Addr]net.HardwareAddr{}, last: map[string]Event{}, emit: emit, lookMAC: lookMAC}
}

// report tells of a stage and reports whether it was news (and so was emitted).
func (t *tracker) report(mac net.HardwareAddr, ip netip.Addr, st Stage, detail string) bool {
	t.mu.Lock()
	if ip.IsValid() && mac != nil {
		t.byIP[ip] = mac
	}
	if mac == nil && ip.IsValid() {
		mac = t.byIP[ip]
		if mac == nil && t.lookMAC != nil {
			mac = t.lookMAC(ip)
			if mac != nil {
				t.byIP[ip] = mac
			}
		}
	}
	key := ip.String()
	if mac != nil {
		key = mac.String()
	}
	prev := t.last[key]
	// A running client reads file after file (a medium served as a plain tree, live-boot's
	// *.dir layers): it is running once, until it boots again.
	same := prev.Stage == st && (prev.Detail == detail || st == StageRunning)
	t.last[key] = Event{Stage: st, Detail: detail}
	t.mu.Unlock()
	if same {
		return false
	}
	if t.emit != nil {
		t.emit(Event{Time: time.Now(), MAC: mac, IP: ip, Stage: st, Detail: detail})
	}
	return true
}
