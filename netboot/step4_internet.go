package netboot

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sharecd/sharecd/netboot/firewall"
	"github.com/vishvananda/netlink"
)

// ErrShareInternetNeedsFull: sharing the host's internet is for a room on its own switch, where
// sharecd is the DHCP server and so can name itself the router. Next to the LAN's own DHCP
// server the clients already have a router.
var ErrShareInternetNeedsFull = errors.New("sharing the internet needs full DHCP mode (a room on its own switch, sharecd its DHCP server)")

// checkShareInternet refuses ShareInternet outside full mode, or out through the share's own
// interface.
func (s *Share) checkShareInternet() error {
	if s.ShareInternet == "" {
		return nil
	}
	if s.DHCPMode != DHCPFull {
		return ErrShareInternetNeedsFull
	}
	if s.ShareInternet == s.Iface {
		return errRoomIface(s.Iface)
	}
	if _, err := net.InterfaceByName(s.ShareInternet); err != nil {
		return fmt.Errorf("sharing the internet through %s: %w", s.ShareInternet, err)
	}
	return nil
}

// openInternet lets the room's clients out through ShareInternet until the returned func runs
// (firewall.Sharing: runtime-only nftables masquerading and forwarding, taken back on the next
// start after a kill).
func (s *Share) openInternet(ctx context.Context, p *Plan, log *slog.Logger) (func(), error) {
	if s.ShareInternet == "" {
		return func() {}, nil
	}
	if p.Iface.Name == s.ShareInternet {
		// Checked again: with no interface named, the room's is known only now.
		return nil, errRoomIface(s.ShareInternet)
	}
	sh := &firewall.Sharing{
		State: filepath.Join(s.runDir(), "internet-"+p.Iface.Name+".json"),
		Log:   log.With("part", "internet"),
	}
	_, undo, err := sh.Open(ctx, firewall.Internet{In: p.Iface.Name, Out: s.ShareInternet, Subnet: p.Iface.Addr})
	if err != nil {
		return nil, fmt.Errorf("sharing the internet through %s: %w", s.ShareInternet, err)
	}
	return func() {
		if err := undo(context.WithoutCancel(ctx)); err != nil {
			log.Warn("could not take back sharing the internet", "err", err)
			return
		}
		log.Info("stopped sharing the internet", "out", s.ShareInternet)
	}, nil
}

// ErrNoUplink: the host has no default route out of an interface other than the room's.
var ErrNoUplink = errors.New("no other interface with a default route")

// Uplink is the interface of the host's IPv4 default route, when that is not room: where a
// room's clients could reach the internet through (what the window offers for ShareInternet).
func Uplink(room string) (string, error) {
	var names []string
	for idx := range defaultRouteLinks() {
		if l, err := netlink.LinkByIndex(idx); err == nil && l.Attrs().Name != room {
			names = append(names, l.Attrs().Name)
		}
	}
	if len(names) == 0 {
		return "", ErrNoUplink
	}
	slices.Sort(names) // several default routes: the same answer every time
	return names[0], nil
}

func errRoomIface(name string) error {
	return fmt.Errorf("sharing the internet: %s is the room's interface; name the host's other one", name)
}

// runDir is where a share records what it changed on the host (RunDir's default).
func (s *Share) runDir() string {
	if s.RunDir == "" {
		return "/run/sharecd"
	}
	return s.RunDir
}

// resolvConfs are where the host's resolvers are named: the system's file, then, when that names
// only a local stub (systemd-resolved's 127.0.0.53, dnsmasq's 127.0.1.1), the upstream servers
// systemd-resolved keeps for programs that bypass it.
var resolvConfs = [...]string{"/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"}

// roomDNS are the DNS servers a room sharing the host's internet is told: the host's own, when
// the clients can reach them through the masquerade. A stub on the host's loopback is not
// reachable from the room, and sharecd runs no DNS forwarder, so then the room gets none, with a
// warning: addresses work, names do not.
func roomDNS(log *slog.Logger, files ...string) []netip.Addr {
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if dns := nameservers(b); len(dns) > 0 {
			log.Info("the room's DNS servers are the host's", "dns", dns, "from", f)
			return dns
		}
	}
	log.Warn("the host's DNS servers are not reachable from the room (only a local stub resolver, or none): clients get no DNS server, so they reach addresses but not names", "looked_in", strings.Join(files, ", "))
	return nil
}

// nameservers are the IPv4 nameserver lines of a resolv.conf that are not loopback or
// link-local (the room cannot reach either through the masquerade).
func nameservers(conf []byte) []netip.Addr {
	var out []netip.Addr
	sc := bufio.NewScanner(bytes.NewReader(conf))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		if err != nil || !a.Is4() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() {
			continue
		}
		out = append(out, a)
	}
	return out
}
