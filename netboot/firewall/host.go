package firewall

import (
	"context"
	"errors"
	"log/slog"
	"strings"
)

// Host lets a share through whichever firewall this host runs: firewalld over D-Bus when it
// runs (its own tables are its own), else the nftables ruleset directly.
type Host struct {
	// State is where the firewalld path records what it opened (see Firewalld.State).
	State string
	// Bus is the system bus's address; "" = $DBUS_SYSTEM_BUS_ADDRESS, else the system bus.
	Bus string
	// Run runs nft; nil = Nft.
	Run Runner
	Log *slog.Logger

	sameNetns func(pid uint32) bool // see Firewalld
}

// Block is one part of the firewall that would stop a share's clients, and what opens it.
type Block struct {
	Where string // "firewalld zone public (target default)", "inet filter input (policy drop)"
	Open  string // the command or rules that let clients through
}

func (h *Host) firewalld() *Firewalld {
	return &Firewalld{Bus: h.Bus, State: h.State, Log: h.Log, sameNetns: h.sameNetns}
}
func (h *Host) nft() *Firewall { return &Firewall{Run: h.Run, Log: h.Log} }

func (h *Host) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

// Check says what would block hole's clients, changing nothing. ErrNoNft: neither firewalld nor
// nft is there to ask.
func (h *Host) Check(ctx context.Context, hole Hole) ([]Block, error) {
	op, err := h.firewalld().Check(ctx, hole)
	switch {
	case err == nil:
		if len(op.Ports) == 0 {
			return nil, nil
		}
		return []Block{{Where: op.Where(), Open: op.Command()}}, nil
	case !errors.Is(err, ErrNoFirewalld):
		return nil, err
	}
	h.log().Debug("firewall: no firewalld", "err", err)
	chains, err := h.nft().Blocking(ctx)
	if err != nil {
		return nil, err
	}
	return nftBlocks(chains, hole), nil
}

// Open lets hole's clients through until the returned close runs, after closing what a killed
// run left open. It returns what it opened: nothing when nothing blocks clients. ErrNoNft:
// neither firewalld nor nft is there.
func (h *Host) Open(ctx context.Context, hole Hole) ([]Block, func(context.Context) error, error) {
	op, closeFn, err := h.firewalld().Open(ctx, hole)
	switch {
	case err == nil:
		if len(op.Ports) == 0 {
			return nil, closeFn, nil
		}
		return []Block{{Where: op.Where(), Open: op.Command()}}, closeFn, nil
	case !errors.Is(err, ErrNoFirewalld):
		return nil, nil, err
	}
	h.log().Debug("firewall: no firewalld", "err", err)
	// What a killed run opened in firewalld went when firewalld stopped.
	if err := writeState(h.State, nil); err != nil {
		h.log().Warn("firewall: could not remove a stale record", "err", err)
	}
	chains, closeFn, err := h.nft().Open(ctx, hole)
	if err != nil {
		return nil, nil, err
	}
	return nftBlocks(chains, hole), closeFn, nil
}

func nftBlocks(chains []Chain, hole Hole) []Block {
	var out []Block
	for _, c := range chains {
		out = append(out, Block{Where: c.String(), Open: strings.Join(Rules(c, hole), "; ")})
	}
	return out
}
