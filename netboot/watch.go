package netboot

import (
	"context"
	"log/slog"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

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
