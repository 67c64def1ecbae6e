package netboot

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/iana"
	"golang.org/x/sync/errgroup"

	"github.com/sharecd/sharecd/netboot/dhcp"
	"github.com/sharecd/sharecd/netboot/netcheck"
	"github.com/sharecd/sharecd/netboot/seats"
)

// dhcpSide is the DHCP part of a share in its mode: the proxy (ports 67 and 4011), or in full
// mode the full server on 67 with the proxy on 4011 only (UEFI ROMs that still ask there), or
// nothing when DHCP is off.
type dhcpSide struct {
	mode  DHCPMode
	proxy *dhcp.Proxy
	full  *dhcp.Server
	watch func(ctx context.Context) // full mode's watch for another DHCP server
}

func (s *Share) dhcpServers(lp *livePlan, allow func(netip.Addr) bool, tr *tracker, log *slog.Logger) *dhcpSide {
	p := lp.Load() // the network and the DHCP mode, which no change of media changes
	ip := p.Iface.Addr.Addr()
	onEvent := func(e dhcp.Event) {
		if e.BootFile == "" {
			return // full mode's plain lease, e.g. for the initramfs: no boot stage
		}
		a, _ := netip.AddrFromSlice(e.IP.To4())
		if tr.report(e.MAC, a, StageOffered, e.BootFile) && e.Kind == dhcp.EventOffer {
			logChain(log, e, lp.Load().firstFor(e.Arch).SecureBoot)
		}
	}
	refuse := noBootRefuser(p.Seats, log)
	d := &dhcpSide{mode: p.DHCP, proxy: &dhcp.Proxy{
		ServerIP: ip.AsSlice(),
		BootFile: p.BootFile,
		Refuse:   refuse,
		Allow:    allow,
		Log:      log.With("server", "dhcp"),
		OnEvent:  onEvent,
	}}
	switch p.DHCP {
	case DHCPOff:
		bios, _ := p.BootFile(dhcp.Client{Arch: iana.INTEL_X86PC})
		efi, ok := p.BootFile(dhcp.Client{Arch: iana.EFI_X86_64})
		if !ok {
			efi = "(none)"
		}
		args := []any{"next-server", ip, "bios-file", bios, "uefi-x64-file", efi}
		if arm, ok := p.BootFile(dhcp.Client{Arch: iana.EFI_ARM64}); ok {
			args = append(args, "uefi-arm64-file", arm)
		}
		log.Info("DHCP is off: point your DHCP server at this machine", args...)
	case DHCPFull:
		d.full = &dhcp.Server{
			ServerIP:  ip,
			Subnet:    p.Iface.Addr,
			BootFile:  p.BootFile,
			StateFile: s.leaseFile(p.Iface.Name),
			Refuse:    refuse,
			Hostname:  p.Seats.Hostname,
			Ignore:    netcheck.IsProbeMAC,
			Allow:     allow,
			InUse: func(a netip.Addr, client net.HardwareAddr) bool {
				mac, err := netcheck.ARPInUse(p.Iface.Name, a, client, 0)
				return err == nil && mac != nil
			},
			Log:     log.With("server", "dhcp"),
			OnEvent: onEvent,
		}
		if s.ShareInternet != "" {
			// The room goes out through this host (openInternet).
			d.full.Router = ip
			d.full.DNS = roomDNS(log, resolvConfs[:]...)
		}
		d.watch = func(ctx context.Context) { s.watch(ctx, p.Iface, d.full, log) }
		log.Info("serving full DHCP", "iface", p.Iface.Name, "subnet", p.Iface.Addr.Masked(), "leases", d.full.StateFile)
	}
	return d
}

// noBootRefuser is what both DHCP servers ask before answering a client: whether the seats file
// says it is not to boot. Each such machine is logged once, the first time it asks, and then
// only at debug with every ignored packet: it asks again at every power-on and retry. The
// record is bounded by the seats file, whose MACs are the only ones it holds.
func noBootRefuser(all *seats.Seats, log *slog.Logger) func(net.HardwareAddr) bool {
	if all.Len() == 0 {
		return nil
	}
	var told sync.Map
	return func(mac net.HardwareAddr) bool {
		st, ok := all.Lookup(mac)
		if !ok || !st.NoBoot {
			return false
		}
		if _, again := told.LoadOrStore(mac.String(), true); !again {
			log.Info("seat not to boot: not answered", "seat", st.Label(), "mac", mac.String())
		}
		return true
	}
}

func (d *dhcpSide) start(ctx context.Context, g *errgroup.Group, c67, c4011 net.PacketConn) {
	switch d.mode {
	case DHCPOff:
	case DHCPFull:
		g.Go(func() error { return d.full.Serve(ctx, c67) })
		g.Go(func() error { return d.proxy.Serve(ctx, nil, c4011) })
		g.Go(func() error { d.watch(ctx); return nil })
	default:
		g.Go(func() error { return d.proxy.Serve(ctx, c67, c4011) })
	}
}

// leaseFile is where full mode keeps its leases: LeaseFile, else StateDir.
func (s *Share) leaseFile(iface string) string {
	if s.LeaseFile != "" {
		return s.LeaseFile
	}
	dir := s.StateDir
	if dir == "" {
		dir = "/var/lib/sharecd"
	}
	return filepath.Join(dir, "leases-"+iface+".json")
}

// watch probes the LAN now and then while full mode serves; when another DHCP server appears, it
// stops offering addresses and says so, and resumes when the other one is gone.
func (s *Share) watch(ctx context.Context, ifc Iface, srv *dhcp.Server, log *slog.Logger) {
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
		rep, err := netcheck.Check(ctx, ifc.Name, ifc.Addr, s.checkWait(), nil)
		if err != nil || ctx.Err() != nil {
			continue
		}
		log.Debug("DHCP watch", "answering", len(rep.Responders))
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
