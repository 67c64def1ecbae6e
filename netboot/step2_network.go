package netboot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/sharecd/sharecd/netboot/dhcp"
	"github.com/sharecd/sharecd/netboot/firewall"
	"github.com/sharecd/sharecd/netboot/netcheck"
)

// DHCPMode says how a share takes part in DHCP.
type DHCPMode string

const (
	// DHCPAuto (the default) checks the LAN first: a plain DHCP server → proxy mode; another
	// PXE or proxy server → refuse (ErrOtherPXEServer); nothing → refuse (ErrNoDHCPServer).
	DHCPAuto DHCPMode = "auto"
	// DHCPProxy is proxy-DHCP whatever the check found (it warns about other PXE servers).
	DHCPProxy DHCPMode = "proxy"
	// DHCPFull runs a complete DHCP server for an isolated LAN; it refuses to start when any
	// other DHCP server answers (ErrDHCPServerPresent) and stops offering when one appears.
	DHCPFull DHCPMode = "full"
	// DHCPOff answers no DHCP at all: the admin's own DHCP server points clients at us.
	DHCPOff DHCPMode = "off"
)

// ParseDHCPMode checks a mode's name.
func ParseDHCPMode(s string) (DHCPMode, error) {
	switch m := DHCPMode(s); m {
	case DHCPAuto, DHCPProxy, DHCPFull, DHCPOff:
		return m, nil
	case "":
		return DHCPAuto, nil
	}
	return "", fmt.Errorf("unknown DHCP mode %q (auto, proxy, full or off)", s)
}

// Errors the DHCP check refuses a share with; cmd and the GUI branch on them to word the fix
// for their own users.
var (
	ErrOtherPXEServer    = errors.New("another PXE server is on this network")
	ErrNoDHCPServer      = errors.New("no DHCP server answered")
	ErrDHCPServerPresent = errors.New("a DHCP server is already on this network")
	ErrLocalConflict     = errors.New("a port sharecd needs is taken on this host")
	// ErrCheckFailed: the LAN could not be checked (the cause is wrapped beside it).
	ErrCheckFailed = errors.New("could not check the LAN for other DHCP servers")
)

// DefaultFullAddr is the address full mode gives an interface that has none.
func DefaultFullAddr() netip.Prefix { return netip.MustParsePrefix("192.168.77.1/24") }

// CheckWait is how long the LAN check collects answers.
const CheckWait = 4500 * time.Millisecond

// Network is where and how a share takes part in the LAN, settled before any menu is built:
// the menus name the interface's address, and the DHCP mode decides which loaders UEFI
// clients get.
type Network struct {
	Iface   Iface
	AddAddr bool // full mode on an interface without IPv4: serve gives it Iface.Addr, then takes it away
	DHCP    DHCPMode
	Report  *netcheck.Report // the LAN check, if one ran
}

// network finds the share's interface, checks the LAN on it and settles the DHCP mode, or
// refuses with one of the errors above.
func (s *Share) network(ctx context.Context) (Network, error) {
	mode, err := ParseDHCPMode(string(s.DHCPMode))
	if err != nil {
		return Network{}, err
	}
	n := Network{DHCP: mode}
	// In full mode the interface may have no IPv4 address yet: the share gives it one.
	if n.Iface, err = lookupIface(s.Iface, mode != DHCPFull); err != nil {
		return Network{}, err
	}
	if !n.Iface.Addr.IsValid() {
		n.Iface.Addr, n.AddAddr = s.FullAddr, true
		if !n.Iface.Addr.IsValid() {
			n.Iface.Addr = DefaultFullAddr()
		}
	}
	if mode == DHCPOff {
		return n, nil
	}
	own := n.Iface.Addr
	if n.AddAddr {
		own = netip.Prefix{}
	}
	log := s.logger()
	rep, err := netcheck.Check(ctx, n.Iface.Name, own, s.checkWait(), DefaultPorts().uses(!s.TFTPBoot))
	if err != nil {
		if mode == DHCPProxy {
			log.Warn("could not check the LAN for other DHCP servers; serving proxy-DHCP anyway", "err", err)
			return n, nil
		}
		return Network{}, fmt.Errorf("%w on %s: %w", ErrCheckFailed, n.Iface.Name, err)
	}
	n.Report = &rep
	v := decide(mode, rep, realConflicts(rep.Local, n.Iface.Name))
	if v.Err != nil {
		return Network{}, v.Err
	}
	for _, w := range v.Warnings {
		log.Warn(w)
	}
	// Said once the share goes ahead; a refusal names what matters in its one line.
	for _, r := range rep.Responders {
		log.Info("DHCP check: "+r.Describe(), "kind", r.Kind, "subnet", r.Subnet, "router", r.Router)
	}
	n.DHCP = v.Mode
	log.Info("DHCP mode", "mode", n.DHCP, "iface", n.Iface.Name)
	return n, nil
}

// Verdict is what a share in a DHCP mode does on a LAN as the check found it.
type Verdict struct {
	Mode     DHCPMode `json:"mode"`               // how the share answers DHCP; "" when refused
	Err      error    `json:"-"`                  // why it refuses (wraps an Err* above); nil = it goes ahead
	Refusal  string   `json:"refusal,omitempty"`  // Err for people and JSON
	Blocker  string   `json:"blocker,omitempty"`  // what stands in the way, described: a server, a program
	Warnings []string `json:"warnings,omitempty"` // what it goes ahead despite
}

// decide is the one place the DHCP verdict is made: the share, --check-dhcp and the window all
// read it. local are the port conflicts that stand on the share's interface (realConflicts).
func decide(mode DHCPMode, rep netcheck.Report, local []netcheck.PortUse) Verdict {
	refuse := func(kind error, blocker, where string) Verdict {
		err := fmt.Errorf("%w: %s%s", kind, blocker, where)
		return Verdict{Err: err, Refusal: err.Error(), Blocker: blocker}
	}
	if mode != DHCPProxy && len(local) > 0 {
		return refuse(ErrLocalConflict, local[0].String(), "")
	}
	pxe, addrs := rep.PXEServers(), rep.AddressServers()
	v := Verdict{Mode: mode}
	switch mode {
	case DHCPAuto:
		if len(pxe) > 0 {
			return refuse(ErrOtherPXEServer, pxe[0].Describe(), " answers on "+rep.Iface)
		}
		if len(addrs) == 0 {
			err := fmt.Errorf("%w on %s: PXE clients would get no address", ErrNoDHCPServer, rep.Iface)
			return Verdict{Err: err, Refusal: err.Error()}
		}
		v.Mode = DHCPProxy
	case DHCPProxy:
		for _, x := range pxe {
			v.Warnings = append(v.Warnings, "another PXE server is on this network; clients may boot from either: "+x.Describe())
		}
		if len(addrs) == 0 {
			v.Warnings = append(v.Warnings, "no DHCP server answered: PXE clients will get no address from anyone")
		}
	case DHCPFull:
		if len(rep.Responders) > 0 {
			return refuse(ErrDHCPServerPresent, rep.Responders[0].Describe(), " answers on "+rep.Iface)
		}
	}
	return v
}

// realConflicts returns the local conflicts that will stop the share. A DHCP server on this
// host bound to another interface (libvirt's dnsmasq on virbr0) does not conflict: a trial bind
// on this interface tells.
func realConflicts(local []netcheck.PortUse, iface string) []netcheck.PortUse {
	var out []netcheck.PortUse
	for _, u := range local {
		if u.Proto == "udp" && (u.Port == dhcp.Port67 || u.Port == dhcp.Port4011) {
			if c, err := dhcp.Listen(iface, u.Port); err == nil {
				c.Close()
				continue
			}
		}
		out = append(out, u)
	}
	return out
}

func (s *Share) checkWait() time.Duration {
	if s.CheckWait > 0 {
		return s.CheckWait
	}
	return CheckWait
}

// LANCheck is what --check-dhcp and the window report: the LAN's DHCP servers and this host's
// port holders (netcheck), what a share with these settings would do there (the same verdict
// the share acts on), and what in this host's firewall would block its clients, which the
// share opens for as long as it runs (unless NoFirewallChanges).
type LANCheck struct {
	netcheck.Report
	Share       Verdict          `json:"share"`
	Firewall    []firewall.Block `json:"firewall"`
	FirewallErr string           `json:"firewall_error,omitempty"`
}

// CheckLAN probes the share's interface (it may lack IPv4, as in full mode) for other DHCP and
// PXE servers, says what the share would do, and checks the firewall for the ports the share
// would open. It needs CAP_NET_RAW.
func (s *Share) CheckLAN(ctx context.Context) (LANCheck, error) {
	mode, err := ParseDHCPMode(string(s.DHCPMode))
	if err != nil {
		return LANCheck{}, err
	}
	ifc, err := lookupIface(s.Iface, false)
	if err != nil {
		return LANCheck{}, err
	}
	r, err := netcheck.Check(ctx, ifc.Name, ifc.Addr, s.checkWait(), DefaultPorts().uses(!s.TFTPBoot))
	if err != nil {
		return LANCheck{}, err
	}
	c := LANCheck{Report: r, Share: decide(mode, r, realConflicts(r.Local, ifc.Name)), Firewall: []firewall.Block{}}
	if err := s.checkShareInternet(); err != nil && c.Share.Err == nil {
		c.Share = Verdict{Err: err, Refusal: err.Error()} // as Run would refuse
	}
	blocks, err := s.firewall(ifc.Name, nil).Check(ctx, hole(ifc.Name, DefaultPorts(), !s.TFTPBoot))
	switch {
	case err != nil:
		c.FirewallErr = err.Error()
	case blocks != nil:
		c.Firewall = blocks
	}
	return c, nil
}

// WriteText prints the check for people.
func (c LANCheck) WriteText(w io.Writer) {
	c.Report.WriteText(w)
	if c.Share.Refusal != "" {
		fmt.Fprintf(w, "\nREFUSED: a share would not start: %s\n", c.Share.Refusal)
	} else {
		fmt.Fprintf(w, "\nOK: a share would serve here in %s mode.\n", c.Share.Mode)
	}
	for _, x := range c.Share.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", x)
	}
	fmt.Fprintln(w, "\nUEFI clients with Secure Boot on: in proxy mode they must have it turned off; with "+
		"--dhcp-mode full they get Debian's signed chain, which boots media whose kernel Debian signed "+
		"(sharecd --detect says whether yours is).")
	switch {
	case c.FirewallErr != "":
		fmt.Fprintf(w, "\nThe firewall could not be checked: %s\n", c.FirewallErr)
	case len(c.Firewall) == 0:
		fmt.Fprintln(w, "\nThe firewall lets clients through.")
	default:
		fmt.Fprintln(w, "\nThe firewall would block clients; --share opens it while it runs (not with --no-firewall-changes):")
		for _, b := range c.Firewall {
			fmt.Fprintf(w, "  %s: %s\n", b.Where, b.Open)
		}
	}
}
