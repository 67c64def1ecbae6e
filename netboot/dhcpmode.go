package netboot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/insomniacslk/dhcp/iana"
	"github.com/vishvananda/netlink"
	"golang.org/x/sync/errgroup"

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

// Errors the DHCP check refuses a share with; the GUI branches on them.
var (
	ErrOtherPXEServer    = errors.New("another PXE server is on this network")
	ErrNoDHCPServer      = errors.New("no DHCP server answered")
	ErrDHCPServerPresent = errors.New("a DHCP server is already on this network")
	ErrLocalConflict     = errors.New("a port sharecd needs is taken on this host")
)

// DefaultFullAddr is the address full mode gives an interface that has none.
var DefaultFullAddr = netip.MustParsePrefix("192.168.77.1/24")

// CheckWait is how long the LAN check collects answers.
const CheckWait = 4500 * time.Millisecond

// CheckDHCP probes an interface ("" = the default one, as for a share; it may lack IPv4) for
// other DHCP and PXE servers and lists local port conflicts. It needs CAP_NET_RAW.
func CheckDHCP(ctx context.Context, iface string) (LANCheck, error) {
	ifc, err := lookupIface(iface, false)
	if err != nil {
		return LANCheck{}, err
	}
	r, err := netcheck.Check(ctx, ifc.Name, ifc.Addr, CheckWait)
	if err != nil {
		return LANCheck{}, err
	}
	c := LANCheck{Report: r, Firewall: []firewall.Block{}}
	blocks, err := (&firewall.Host{State: firewallState(ifc.Name)}).Check(ctx, shareHole(ifc.Name, DefaultPorts, false))
	switch {
	case err != nil:
		c.FirewallErr = err.Error()
	case blocks != nil:
		c.Firewall = blocks
	}
	return c, nil
}

// LANCheck is what --check-dhcp reports: the LAN's DHCP servers and this host's port holders
// (netcheck), and what in this host's firewall would block a share's clients, which --share
// opens for as long as it runs (unless --no-firewall-changes).
type LANCheck struct {
	netcheck.Report
	Firewall    []firewall.Block `json:"firewall"`
	FirewallErr string           `json:"firewall_error,omitempty"`
}

// WriteText prints the check for people.
func (c LANCheck) WriteText(w io.Writer) {
	c.Report.WriteText(w)
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

func (s *Share) dhcpMode() (DHCPMode, error) { return ParseDHCPMode(string(s.DHCPMode)) }

// lookupIface finds the share's interface. In full mode it may have no IPv4 address yet: the
// plan then gives it FullAddr (added by Serve, removed when it returns).
func (s *Share) lookupIface() (Iface, bool, error) {
	mode, err := s.dhcpMode()
	if err != nil {
		return Iface{}, false, err
	}
	ifc, err := lookupIface(s.Iface, mode != DHCPFull)
	if err != nil || ifc.Addr.IsValid() {
		return ifc, false, err
	}
	ifc.Addr = s.FullAddr
	if !ifc.Addr.IsValid() {
		ifc.Addr = DefaultFullAddr
	}
	return ifc, true, nil
}

// Decide runs the LAN check for the plan's interface and settles the DHCP mode (Plan.DHCP), or
// refuses with one of the errors above. Run calls it between Prepare and Serve.
func (s *Share) Decide(ctx context.Context, p *Plan) error {
	log := s.logger()
	mode, err := s.dhcpMode()
	if err != nil {
		return err
	}
	p.DHCP = mode
	if mode == DHCPOff {
		return nil
	}
	own := p.Iface.Addr
	if p.AddAddr {
		own = netip.Prefix{}
	}
	rep, err := netcheck.Check(ctx, p.Iface.Name, own, s.checkWait())
	if err != nil {
		if mode == DHCPProxy {
			log.Warn("could not check the LAN for other DHCP servers; serving proxy-DHCP anyway", "err", err)
			return nil
		}
		return fmt.Errorf("checking %s for other DHCP servers: %w (--dhcp-mode proxy skips the check)", p.Iface.Name, err)
	}
	p.Report = &rep
	if mode != DHCPProxy {
		if u, ok := realConflict(rep.Local, p.Iface.Name); ok {
			return fmt.Errorf("%w: %s; stop it first", ErrLocalConflict, u)
		}
	}
	pxe, addrs := rep.PXEServers(), rep.AddressServers()
	switch mode {
	case DHCPAuto:
		if len(pxe) > 0 {
			return fmt.Errorf("%w: %s answers on %s. Switch it off, or share anyway with --dhcp-mode proxy "+
				"(clients may then boot from either)", ErrOtherPXEServer, pxe[0].Describe(), p.Iface.Name)
		}
		if len(addrs) == 0 {
			return fmt.Errorf("%w on %s: PXE clients would get no address. If this is an isolated network, "+
				"--dhcp-mode full runs sharecd's own DHCP server on %s", ErrNoDHCPServer, p.Iface.Name, p.Iface.Name)
		}
		p.DHCP = DHCPProxy
	case DHCPProxy:
		for _, x := range pxe {
			log.Warn("another PXE server is on this network; clients may boot from either", "server", x.Describe())
		}
		if len(addrs) == 0 {
			log.Warn("no DHCP server answered: PXE clients will get no address from anyone")
		}
	case DHCPFull:
		if len(rep.Responders) > 0 {
			return fmt.Errorf("%w: %s answers on %s; --dhcp-mode full is only for a network without one "+
				"(use --dhcp-mode auto or proxy next to it)", ErrDHCPServerPresent, rep.Responders[0].Describe(), p.Iface.Name)
		}
	}
	// Said once the share goes ahead; a refusal names what matters in its one line.
	for _, r := range rep.Responders {
		log.Info("DHCP check: "+r.Describe(), "kind", r.Kind, "subnet", r.Subnet, "router", r.Router)
	}
	log.Info("DHCP mode", "mode", p.DHCP, "iface", p.Iface.Name)
	return nil
}

// realConflict returns the first local conflict that will stop the share. A DHCP server on this
// host bound to another interface (libvirt's dnsmasq on virbr0) does not conflict: a trial bind
// on this interface tells.
func realConflict(local []netcheck.PortUse, iface string) (netcheck.PortUse, bool) {
	for _, u := range local {
		if u.Proto == "udp" && (u.Port == dhcp.Port67 || u.Port == dhcp.Port4011) {
			if c, err := dhcp.Listen(iface, u.Port); err == nil {
				c.Close()
				continue
			}
		}
		return u, true
	}
	return netcheck.PortUse{}, false
}

func (s *Share) checkWait() time.Duration {
	if s.CheckWait > 0 {
		return s.CheckWait
	}
	return CheckWait
}

func (s *Share) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// addAddr gives the interface the plan's address (full mode on an interface without IPv4) and
// returns the function that takes it away again.
func addAddr(p *Plan, log *slog.Logger) (func(), error) {
	if !p.AddAddr {
		return func() {}, nil
	}
	link, err := netlink.LinkByIndex(p.Iface.Index)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", p.Iface.Name, err)
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Iface.Addr.Addr().AsSlice(), Mask: net.CIDRMask(p.Iface.Addr.Bits(), 32)}}
	if err := netlink.AddrAdd(link, a); err != nil {
		return nil, fmt.Errorf("giving %s the address %s: %w", p.Iface.Name, p.Iface.Addr, err)
	}
	log.Info("gave the interface an address for full DHCP mode", "iface", p.Iface.Name, "addr", p.Iface.Addr)
	return func() {
		if err := netlink.AddrDel(link, a); err != nil {
			log.Warn("could not remove the address again", "iface", p.Iface.Name, "addr", p.Iface.Addr, "err", err)
			return
		}
		log.Info("removed the interface's address", "iface", p.Iface.Name, "addr", p.Iface.Addr)
	}, nil
}

// leaseFile is where full mode keeps its leases: LeaseFile, else $STATE_DIRECTORY (systemd's
// StateDirectory=), else /var/lib/sharecd.
func (s *Share) leaseFile(iface string) string {
	if s.LeaseFile != "" {
		return s.LeaseFile
	}
	dir := os.Getenv("STATE_DIRECTORY")
	if dir == "" {
		dir = "/var/lib/sharecd"
	}
	return filepath.Join(dir, "leases-"+iface+".json")
}

// startDHCP starts the DHCP side of the share in its mode. proxy is the configured proxy; in
// full mode it serves only port 4011 (UEFI ROMs that still ask there), the full server port 67.
func (s *Share) startDHCP(ctx context.Context, g *errgroup.Group, p *Plan, proxy *dhcp.Proxy,
	c67, c4011 net.PacketConn, log *slog.Logger, onEvent func(dhcp.Event)) {
	ip := p.Iface.Addr.Addr()
	switch p.DHCP {
	case DHCPOff:
		bios, _ := proxy.BootFile(dhcp.Client{Arch: iana.INTEL_X86PC})
		efi, ok := proxy.BootFile(dhcp.Client{Arch: iana.EFI_X86_64})
		if !ok {
			efi = "(none)"
		}
		log.Info("DHCP is off: point your DHCP server at this machine", "next-server", ip,
			"bios-file", bios, "uefi-x64-file", efi)
		return
	case DHCPFull:
		srv := &dhcp.Server{
			ServerIP:  ip,
			Subnet:    p.Iface.Addr,
			BootFile:  proxy.BootFile,
			StateFile: s.leaseFile(p.Iface.Name),
			Ignore:    netcheck.IsProbeMAC,
			Allow:     proxy.Allow,
			InUse: func(a netip.Addr, client net.HardwareAddr) bool {
				mac, err := netcheck.ARPInUse(p.Iface.Name, a, client, 0)
				return err == nil && mac != nil
			},
			Log:     log.With("server", "dhcp"),
			OnEvent: onEvent,
		}
		log.Info("serving full DHCP", "iface", p.Iface.Name, "subnet", p.Iface.Addr.Masked(), "leases", srv.StateFile)
		g.Go(func() error { return srv.Serve(ctx, c67) })
		g.Go(func() error { return proxy.Serve(ctx, nil, c4011) })
		g.Go(func() error { s.watch(ctx, p, srv, log); return nil })
	default:
		g.Go(func() error { return proxy.Serve(ctx, c67, c4011) })
	}
}

// watch probes the LAN now and then while full mode serves; when another DHCP server appears, it
// stops offering addresses and says so, and resumes when the other one is gone.
func (s *Share) watch(ctx context.Context, p *Plan, srv *dhcp.Server, log *slog.Logger) {
	every := s.WatchEvery
	if every <= 0 {
		every = 30 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	silent := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rep, err := netcheck.Check(ctx, p.Iface.Name, p.Iface.Addr, s.checkWait())
		if err != nil || ctx.Err() != nil {
			continue
		}
		if len(rep.Responders) > 0 {
			silent = 0
		} else {
			silent++
		}
		switch {
		case len(rep.Responders) > 0 && !srv.Paused():
			srv.Pause(true)
			log.Warn("another DHCP server appeared on the network: stopped handing out addresses",
				"server", rep.Responders[0].Describe())
		case silent >= silentToResume && srv.Paused():
			srv.Pause(false)
			log.Info("the other DHCP server is gone: handing out addresses again")
		}
	}
}

// silentToResume is how many probes in a row must go unanswered before full mode hands out
// addresses again: one answer lost on a busy LAN (or a router slow to answer) must not put two
// DHCP servers on it until the next probe.
const silentToResume = 2
