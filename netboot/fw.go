package netboot

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/sharecd/sharecd/netboot/firewall"
)

// openFirewall lets the share's clients through this host's firewall for as long as it serves
// (through firewalld where it runs, else by nftables rules), or, with NoFirewallChanges, only says
// what would block them. The returned func undoes it.
func (s *Share) openFirewall(ctx context.Context, iface string, ports Ports, http bool, log *slog.Logger) func() {
	hole := shareHole(iface, ports, http)
	fw := &firewall.Host{State: firewallState(iface), Log: log.With("part", "firewall")}
	nothing := func() {}
	if s.NoFirewallChanges {
		blocks, err := fw.Check(ctx, hole)
		if err != nil {
			log.Warn("could not check the firewall", "err", err)
			return nothing
		}
		for _, b := range blocks {
			log.Warn("the firewall will block clients (--no-firewall-changes: left alone); open it with",
				"where", b.Where, "run", b.Open)
		}
		return nothing
	}
	blocks, undo, err := fw.Open(ctx, hole)
	switch {
	case errors.Is(err, firewall.ErrNoNft):
		log.Debug("firewall not checked", "err", err)
		return nothing
	case err != nil:
		log.Warn("could not open the firewall; clients may time out", "err", err)
		return nothing
	}
	if len(blocks) == 0 {
		log.Debug("firewall: nothing blocks clients")
	}
	return func() {
		if err := undo(context.WithoutCancel(ctx)); err != nil {
			log.Warn("could not remove sharecd's firewall changes", "err", err)
		}
	}
}

// shareHole is what a share's clients must reach on iface.
func shareHole(iface string, ports Ports, http bool) firewall.Hole {
	hole := firewall.Hole{
		Iface: iface,
		UDP:   []int{ports.DHCP, ports.TFTP, ports.Portmap, ports.PXE},
		TCP:   []int{ports.Portmap, ports.NFS},
	}
	if http {
		hole.TCP = append(hole.TCP, ports.HTTP)
	}
	return hole
}

// firewallState is where a share on iface records what it opened in firewalld, for the next
// start after a kill: $STATE_DIRECTORY, else the user's $XDG_RUNTIME_DIR/sharecd, else /run/sharecd.
func firewallState(iface string) string {
	dir := os.Getenv("STATE_DIRECTORY")
	if dir == "" {
		dir = "/run/sharecd"
		if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" && os.Geteuid() != 0 {
			dir = filepath.Join(x, "sharecd")
		}
	}
	return filepath.Join(dir, "firewall-"+iface+".json")
}
