package netboot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/sharecd/sharecd/netboot/firewall"
)

// ErrFirewallBlocks: this host's firewall would drop the share's clients and could not be
// opened. A share that went ahead would look fine here while every client timed out.
var ErrFirewallBlocks = errors.New("this host's firewall blocks the clients and could not be opened")

// ErrFirewallUnknown: sharecd may neither read nor open this host's nftables firewall (it runs
// as a user without CAP_NET_ADMIN, and nftables answers nothing without it, not even a listing),
// so whether clients get through is unknown. A desktop user's share on a default-drop host went
// ahead on a warning while every client timed out; it is refused instead, and
// --no-firewall-changes shares anyway.
var ErrFirewallUnknown = errors.New("this host's firewall may block the clients, and sharecd is not allowed to read or open it")

// openFirewall lets the share's clients through this host's firewall for as long as it serves
// (through firewalld where it runs, else by nftables rules), or, with NoFirewallChanges, only says
// what would block them. The returned func undoes it. It fails (ErrFirewallBlocks) when the
// firewall blocks clients and could not be opened, and (ErrFirewallUnknown) when sharecd is not
// allowed to read it; when it cannot be read for another reason, that is said and the share goes
// ahead, since nothing known stands in the way.
func (s *Share) openFirewall(ctx context.Context, iface string, ports Ports, http bool, log *slog.Logger) (func(), error) {
	h := hole(iface, ports, http)
	fw := s.firewall(iface, log)
	nothing := func() {}
	if s.NoFirewallChanges {
		blocks, err := fw.Check(ctx, h)
		if err != nil {
			log.Warn("could not check the firewall", "err", err)
			return nothing, nil
		}
		for _, b := range blocks {
			log.Warn("the firewall will block clients (--no-firewall-changes: left alone); open it with",
				"where", b.Where, "run", b.Open)
		}
		return nothing, nil
	}
	blocks, undo, err := fw.Open(ctx, h)
	switch {
	case errors.Is(err, firewall.ErrNoNft):
		log.Debug("firewall not checked", "err", err)
		return nothing, nil
	case err != nil:
		blocks, cerr := fw.Check(ctx, h)
		if errors.Is(cerr, firewall.ErrNotPermitted) {
			return nil, fmt.Errorf("%w: %v", ErrFirewallUnknown, cerr)
		}
		if cerr != nil {
			log.Warn("could not open or read the firewall; if it filters, clients will time out", "err", err)
			return nothing, nil
		}
		if len(blocks) > 0 {
			return nil, fmt.Errorf("%w: %s (%v)", ErrFirewallBlocks, blocks[0].Where, err)
		}
		log.Debug("firewall: nothing blocks clients", "open_err", err)
		return nothing, nil
	}
	if len(blocks) == 0 {
		log.Debug("firewall: nothing blocks clients")
	}
	return func() {
		if err := undo(context.WithoutCancel(ctx)); err != nil {
			log.Warn("could not remove sharecd's firewall changes", "err", err)
		}
	}, nil
}

// hole is what a share's clients must reach on iface: the ports the share binds (ports.uses),
// so the firewall opens exactly what the port check looked at.
func hole(iface string, ports Ports, http bool) firewall.Hole {
	h := firewall.Hole{Iface: iface}
	for _, p := range ports.uses(http) {
		if p.Proto == "udp" {
			h.UDP = append(h.UDP, p.Port)
		} else {
			h.TCP = append(h.TCP, p.Port)
		}
	}
	return h
}

// firewall is this host's firewall as a share on iface sees it; it records what it opened in
// firewalld under RunDir, for the next start after a kill.
func (s *Share) firewall(iface string, log *slog.Logger) *firewall.Host {
	if log == nil {
		log = s.logger()
	}
	return &firewall.Host{State: filepath.Join(s.runDir(), "firewall-"+iface+".json"), Log: log.With("part", "firewall")}
}

// addAddr gives the interface the network's address (full mode on an interface without IPv4)
// and returns the function that takes it away again.
func addAddr(n Network, log *slog.Logger) (func(), error) {
	if !n.AddAddr {
		return func() {}, nil
	}
	link, err := netlink.LinkByIndex(n.Iface.Index)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", n.Iface.Name, err)
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: n.Iface.Addr.Addr().AsSlice(), Mask: net.CIDRMask(n.Iface.Addr.Bits(), 32)}}
	if err := netlink.AddrAdd(link, a); err != nil {
		return nil, fmt.Errorf("giving %s the address %s: %w", n.Iface.Name, n.Iface.Addr, err)
	}
	log.Info("gave the interface an address for full DHCP mode", "iface", n.Iface.Name, "addr", n.Iface.Addr)
	return func() {
		if err := netlink.AddrDel(link, a); err != nil {
			log.Warn("could not remove the address again", "iface", n.Iface.Name, "addr", n.Iface.Addr, "err", err)
			return
		}
		log.Info("removed the interface's address", "iface", n.Iface.Name, "addr", n.Iface.Addr)
	}, nil
}

// watchIface reports the interface losing and regaining its link or its address until ctx ends.
// The servers need nothing done: sockets bound to the device or the address stay open while the
// cable is out and work again when it is back, so the user only needs to know why clients stall.
// An address that comes back different is another matter: the menus name the old one.
func watchIface(ctx context.Context, ifc Iface, log *slog.Logger) error {
	done := make(chan struct{})
	defer close(done)
	links := make(chan netlink.LinkUpdate, 16)
	addrs := make(chan netlink.AddrUpdate, 16)
	onErr := func(err error) { log.Debug("watching the interface", "err", err) }
	if err := netlink.LinkSubscribeWithOptions(links, done, netlink.LinkSubscribeOptions{ErrorCallback: onErr}); err != nil {
		log.Warn("cannot watch the interface for unplugged cables", "iface", ifc.Name, "err", err)
		links = nil
	}
	if err := netlink.AddrSubscribeWithOptions(addrs, done, netlink.AddrSubscribeOptions{ErrorCallback: onErr}); err != nil {
		log.Warn("cannot watch the interface's address", "iface", ifc.Name, "err", err)
		addrs = nil
	}
	ours := ifc.Addr.Addr()
	linkUp, haveAddr := true, true
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-links:
			if !ok {
				links = nil
				continue
			}
			a := u.Attrs()
			if a.Index != ifc.Index {
				continue
			}
			up := a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_LOWER_UP != 0
			if up == linkUp {
				continue
			}
			linkUp = up
			if up {
				log.Info("interface has its link again: serving", "iface", ifc.Name)
			} else {
				log.Warn("interface lost its link (cable unplugged or interface down): clients cannot reach the share until it is back", "iface", ifc.Name)
			}
		case u, ok := <-addrs:
			if !ok {
				addrs = nil
				continue
			}
			ip, isV4 := netip.AddrFromSlice(u.LinkAddress.IP.To4())
			if u.LinkIndex != ifc.Index || !isV4 {
				continue
			}
			switch {
			case ip == ours && u.NewAddr && !haveAddr:
				haveAddr = true
				log.Info("interface has its address again: serving", "iface", ifc.Name, "addr", ours)
			case ip == ours && !u.NewAddr && haveAddr:
				haveAddr = false
				log.Warn("interface lost its address: clients cannot reach the share until it is back", "iface", ifc.Name, "addr", ours)
			case ip != ours && u.NewAddr && !haveAddr:
				log.Error("interface came back with another address; the boot menus name the old one: restart sharecd",
					"iface", ifc.Name, "old", ours, "new", ip)
			}
		}
	}
}
