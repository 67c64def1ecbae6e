package netboot

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/sharecd/sharecd/netboot/firewall"
)

// openFirewall lets the share's clients through this host's firewall for as long as it serves,
// or, with NoFirewallChanges, only says what would block them. The returned func undoes it.
func (s *Share) openFirewall(ctx context.Context, iface string, ports Ports, http bool, log *slog.Logger) func() {
	hole := firewall.Hole{
		Iface: iface,
		UDP:   []int{ports.DHCP, ports.TFTP, ports.Portmap, ports.PXE},
		TCP:   []int{ports.Portmap, ports.NFS},
	}
	if http {
		hole.TCP = append(hole.TCP, ports.HTTP)
	}
	fw := &firewall.Firewall{Log: log.With("part", "firewall")}
	nothing := func() {}
	if s.NoFirewallChanges {
		chains, err := fw.Blocking(ctx)
		if err != nil {
			log.Warn("could not check the firewall", "err", err)
			return nothing
		}
		for _, c := range chains {
			log.Warn("the firewall will block clients (--no-firewall-changes: left alone); open it with",
				"chain", c.String(), "nft", strings.Join(firewall.Rules(c, hole), "; "))
		}
		return nothing
	}
	chains, undo, err := fw.Open(ctx, hole)
	switch {
	case errors.Is(err, firewall.ErrNoNft):
		log.Debug("firewall not checked", "err", err)
		return nothing
	case err != nil:
		log.Warn("could not open the firewall; clients may time out", "err", err)
		return nothing
	}
	if len(chains) == 0 {
		log.Debug("firewall: nothing blocks clients")
	}
	return func() {
		if err := undo(context.WithoutCancel(ctx)); err != nil {
			log.Warn("could not remove sharecd's firewall rules", "err", err)
		}
	}
}
