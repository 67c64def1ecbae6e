// Package app is the desktop face of sharecd: a fyne window and a tray icon that drive the same
// netboot engine as `sharecd --share`. It runs as the user, never as root; the packaged binary
// carries the network capabilities the servers need (see packaging/).
//
// The window does no networking itself: everything it needs goes through Engine, so the tests
// drive every state of the window through a fake.
package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/sharecd/sharecd/netboot"
	"github.com/sharecd/sharecd/netboot/bootmenu"
	"github.com/sharecd/sharecd/netboot/changes"
	"github.com/sharecd/sharecd/netboot/medium"
	"github.com/sharecd/sharecd/netboot/seats"
)

// Engine is what the window needs from the engine. NetbootEngine is the real one.
type Engine interface {
	// Detect opens the medium at source ("" = the running live medium) and describes it. A
	// directory of ISO files is one MediumInfo naming the live ISOs in it.
	Detect(source string) (MediumInfo, error)
	// Interfaces lists the network interfaces a share could serve on, usable or not.
	Interfaces() ([]IfaceInfo, error)
	// CheckDHCP looks for other DHCP and PXE servers on the interface's LAN.
	CheckDHCP(ctx context.Context, iface string) (CheckResult, error)
	// Share serves what req says until ctx ends; it returns nil when ctx ended it.
	Share(ctx context.Context, req ShareRequest) error
	// SetSources makes sources the media of the running share: new ones become bootable,
	// removed ones leave the menus (netboot.Live.SetSources). netboot.ErrNotSharing when no
	// share runs.
	SetSources(sources []string) error
	// Seats are the room's machines the seats file names, to boot (none without a file): the
	// window lists them from the start of a share, so that Wake all wakes a cold room.
	Seats() []seats.Seat
	// SessionChanges says whether a share can boot the machines into this live session as it is
	// now (its writable layer, netboot/changes), and if not, why.
	SessionChanges() error
	// Wake sends a Wake-on-LAN packet to each MAC on the interface, and on no other.
	Wake(iface string, macs []net.HardwareAddr) error
}

// ShareRequest is one share started from the window.
type ShareRequest struct {
	// Sources are in menu order, the first booted by default: paths, or netboot.Running.
	Sources []string
	Iface   string
	// Full makes this computer the network's DHCP server (netboot.DHCPFull): only offered where
	// the check found none. Internet, with Full, lets the machines out through that interface.
	Full     bool
	Internet string
	// WithChanges stacks this live session's changes on the first medium (the running one).
	WithChanges bool
	// Serving is called once clients can boot: every server listens, the firewall is open.
	Serving func()
	OnEvent func(netboot.Event) // each client's progress
	// OnMedia tells of media added, still in use and removed while the share runs (SetSources).
	OnMedia func(netboot.MediaEvent)
}

// MediumInfo describes the medium the window offers to share.
type MediumInfo struct {
	Source string // the path it was opened from
	Name   string // the volume label or .disk/info line ("Debian live 12 amd64"), else the file name
	// Family is the bootmenu.Family: "live-boot", "casper", "dracut", …; "" = not a supported
	// live system. A directory of ISO files whose live ISOs differ lists theirs: "casper, dracut".
	Family string
	Kind   string // medium.Kind: "dir", "iso", "device"
	// Arch is the machine its kernel is for (kernelarch.Arch: "amd64", "arm64", …; "" = not
	// read, offered to x86 clients). A directory of ISO files lists theirs: "amd64, arm64".
	Arch string
	// SecureBootOK: the medium's kernel is signed by a key the signed chain trusts, so machines
	// with Secure Boot on boot it when sharecd is the network's DHCP server.
	SecureBootOK bool
}

// IfaceInfo is one network interface as the picker shows it, with the share's own verdict on it
// (Problem) and the one a share would pick (Chosen).
type IfaceInfo = netboot.IfaceStatus

// CheckResult is the outcome of the DHCP check in plain words.
type CheckResult struct {
	Checked  bool   // false: no check was made (Summary says why)
	Summary  string // what was found ("Your router 192.168.1.1 hands out addresses.")
	Mode     string // how sharecd will answer ("proxy-DHCP next to your router")
	Conflict bool   // another network-boot server answers: clients may boot from it instead
	Advice   string // what to do about a conflict
	// NoDHCPServer: nothing hands out addresses here, so this computer may (a switch of its own).
	NoDHCPServer bool
	// Uplink is the host's other interface the machines could reach the internet through in
	// full mode; UplinkProblem says why there is none to offer ("" when Uplink is set).
	Uplink, UplinkProblem string
}

// NetbootEngine is the Engine over netboot, the same orchestration `sharecd --share` runs.
type NetbootEngine struct {
	// Settings is the template of every share (menu timeout, --allow, DHCP mode, log): main fills
	// it from the same flags as --share. Sources, Iface and OnEvent are set per share.
	Settings netboot.Share

	mu   sync.Mutex
	live *netboot.Live // the running share's, for SetSources
}

// Detect implements Engine with netboot.Describe, what `sharecd --detect` prints.
func (e *NetbootEngine) Detect(source string) (MediumInfo, error) {
	ds, _, err := netboot.Describe(source)
	if errors.Is(err, medium.ErrNoLiveMedium) {
		return MediumInfo{}, ErrNoMedium
	}
	if err != nil && errors.Is(err, bootmenu.ErrUnsupportedFamily) && source != "" {
		// Still a medium: the window names it and says why it cannot be shared.
		return MediumInfo{Source: source, Name: filepath.Base(source)}, nil
	}
	if err != nil {
		return MediumInfo{}, err
	}
	if len(ds) > 1 {
		return isoDirInfo(source, ds), nil
	}
	d := ds[0]
	info := MediumInfo{Source: d.Source, Name: strings.TrimSpace(d.Label), Family: string(d.Family),
		Kind: string(d.Kind), SecureBootOK: d.SecureBoot.Works, Arch: string(d.Arch)}
	if info.Name == "" {
		info.Name = filepath.Base(d.Source)
	}
	return info, nil
}

// isoDirInfo is a directory of ISO files (`--source DIR`) as one row of the window: a share of
// it serves every live ISO in it, so the row names them all, in their menu order.
func isoDirInfo(dir string, ds []*netboot.Description) MediumInfo {
	info := MediumInfo{Source: dir, Kind: "dir", SecureBootOK: true}
	var titles, fams, archs []string
	for _, d := range ds {
		titles = append(titles, d.Title)
		if f := string(d.Family); !slices.Contains(fams, f) {
			fams = append(fams, f)
		}
		if a := string(d.Arch); !slices.Contains(archs, a) {
			archs = append(archs, a)
		}
		info.SecureBootOK = info.SecureBootOK && d.SecureBoot.Works
	}
	info.Name = fmt.Sprintf("%s (%d live ISO files: %s)", filepath.Base(dir), len(ds), strings.Join(titles, ", "))
	info.Family = strings.Join(fams, ", ")
	info.Arch = strings.Join(archs, ", ")
	return info
}

// ErrNoMedium: this system did not boot from a live medium and none was chosen.
var ErrNoMedium = errors.New("no live medium found")

// Interfaces implements Engine with netboot.Interfaces: the window never offers an interface the
// share would refuse, and picks the one the share would pick.
func (e *NetbootEngine) Interfaces() ([]IfaceInfo, error) { return netboot.Interfaces() }

// CheckDHCP implements Engine with the share's own check (Share.CheckLAN, what `sharecd
// --check-dhcp` runs), so the window shows the verdict the share will act on, in words for
// people who are not network admins.
func (e *NetbootEngine) CheckDHCP(ctx context.Context, iface string) (CheckResult, error) {
	s := e.Settings
	s.Iface = iface
	c, err := s.CheckLAN(ctx)
	if err != nil {
		return CheckResult{}, err
	}
	res := checkWords(c)
	if res.NoDHCPServer {
		res.Uplink, res.UplinkProblem = uplinkFor(iface, os.Geteuid())
	}
	if len(c.Firewall) > 0 && !res.Conflict {
		res.Mode += "; this computer's firewall is opened for the clients while it shares, and closed again after"
	}
	return res, nil
}

// Seats implements Engine with the seats file main read (netboot.Share.Seats).
func (e *NetbootEngine) Seats() []seats.Seat {
	var out []seats.Seat
	for _, st := range e.Settings.Seats.All() {
		if !st.NoBoot {
			out = append(out, st)
		}
	}
	return out
}

// SessionChanges implements Engine with what --with-changes finds (changes.Find). Only root
// snapshots them: only root reads every file of the session and overlay's trusted xattrs.
func (e *NetbootEngine) SessionChanges() error {
	if _, err := changes.Find("/"); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("booting the machines into this session needs sharecd run as root (sudo sharecd)")
	}
	return nil
}

// uplinkFor is the interface the window offers for sharing the internet with a room on iface,
// or why it offers none. Switching forwarding on writes /proc/sys, which only root may: the
// package's capabilities do not reach that far, on purpose.
func uplinkFor(iface string, euid int) (string, string) {
	out, err := netboot.Uplink(iface)
	switch {
	case err != nil:
		return "", "This computer has no other connection to the internet to share."
	case euid != 0:
		return "", "Sharing " + out + "'s internet connection needs sharecd run as root (sudo sharecd)."
	}
	return out, ""
}

const proxyMode = "proxy-DHCP: your router keeps handing out addresses; this computer only adds the boot information"

// checkWords words the engine's verdict for the window. The verdict is the share's; only the
// words are the window's.
func checkWords(c netboot.LANCheck) CheckResult {
	res := CheckResult{Checked: true, Mode: proxyMode}
	if c.Share.Mode == netboot.DHCPFull {
		res.Mode = "full DHCP: this computer hands out addresses to the machines itself"
	}
	err := c.Share.Err
	res.Conflict = err != nil
	switch {
	case errors.Is(err, netboot.ErrLocalConflict):
		res.Summary = "On this computer, " + c.Share.Blocker + "."
		res.Advice = "Stop that program (or the network sharing that started it), then choose the network again."
	case errors.Is(err, netboot.ErrOtherPXEServer):
		res.Summary = "Another network-boot server already answers here: " + c.Share.Blocker + "."
		res.Advice = "Machines could boot from either one. Switch the other one's network boot off, " +
			"or connect this computer and the machines to a switch of their own."
	case errors.Is(err, netboot.ErrNoDHCPServer):
		res.Mode = ""
		res.Summary = "No router or DHCP server answered on " + c.Iface + ": the machines would get no address."
		res.Advice = "Connect this computer to the network with your router. On a switch of its own, " +
			"tick “Hand out addresses” below: this computer then gives the machines their addresses too."
		res.NoDHCPServer = true
	case errors.Is(err, netboot.ErrDHCPServerPresent):
		res.Mode = ""
		res.Summary = "A DHCP server already answers here: " + c.Share.Blocker + "."
		res.Advice = "This computer was set to hand out addresses itself, which is only for a network without one."
	case err != nil:
		res.Summary = c.Share.Refusal
	default:
		if addr := c.AddressServers(); len(addr) > 0 {
			res.Summary = "Good: " + addr[0].Describe() + " hands out addresses, and no other network-boot server answered."
		} else {
			res.Summary = "No other DHCP or network-boot server answered."
		}
	}
	return res
}

// Share implements Engine with netboot.Share.Run, exactly what `sharecd --share --source A
// --source B [--dhcp-mode full --share-internet IFACE]` runs.
func (e *NetbootEngine) Share(ctx context.Context, req ShareRequest) error {
	s := e.Settings
	s.Sources, s.Iface, s.OnServing, s.OnEvent, s.OnMedia = req.Sources, req.Iface, req.Serving, req.OnEvent, req.OnMedia
	if req.Full {
		s.DHCPMode = netboot.DHCPFull
		s.ShareInternet = req.Internet
	}
	s.WithChanges = req.WithChanges
	s.Live = &netboot.Live{}
	e.mu.Lock()
	e.live = s.Live
	e.mu.Unlock()
	return s.Run(ctx)
}

// SetSources implements Engine with the running share's netboot.Live, what SIGHUP drives for
// `sharecd --share`.
func (e *NetbootEngine) SetSources(sources []string) error {
	e.mu.Lock()
	live := e.live
	e.mu.Unlock()
	return live.SetSources(sources)
}

// Wake implements Engine with netboot.Share.Wake, what `sharecd --wake` runs: the packet goes
// out of the shared interface only (netboot/wol), with the package's CAP_NET_RAW.
func (e *NetbootEngine) Wake(iface string, macs []net.HardwareAddr) error {
	s := e.Settings
	return s.Wake(iface, macs)
}
