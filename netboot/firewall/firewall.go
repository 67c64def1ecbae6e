// Package firewall lets a share through the host's own firewall. Fedora's and openSUSE's live
// sessions start with firewalld, and many systems run nftables or ufw rules: a share the host
// filters looks fine on the host while every client times out.
//
// It works on the nftables ruleset, where firewalld, ufw (iptables-nft) and hand-written rules
// all end up. An accept verdict in a table of our own would not help: nftables runs every base
// chain on the input hook, and a drop in any of them is final. So the accept rules are inserted at
// the top of each input chain that drops or rejects, tagged with a comment naming sharecd and the
// interface, and deleted by handle on stop, or by tag on the next start after a crash. Nothing is
// saved to the permanent configuration.
//
// Where firewalld runs, its tables are its own and a reload drops what others put there, so
// there the ports go into firewalld's runtime configuration over D-Bus instead (Firewalld).
// Host picks the way.
package firewall

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
)

// Hole is what clients on one interface must reach.
type Hole struct {
	Iface string
	UDP   []int // 67, 69, 111, 4011
	TCP   []int // 111, 2049
}

// Chain is an input chain that would drop or reject a share's clients.
type Chain struct {
	Family, Table, Name string
	Why                 string // "policy drop", "reject rule"
}

func (c Chain) String() string { return fmt.Sprintf("%s %s %s (%s)", c.Family, c.Table, c.Name, c.Why) }

// ErrNoNft means the ruleset cannot be read: nft is not installed.
var ErrNoNft = errors.New("nft is not installed, so the firewall could not be checked")

// Runner runs nft with args and stdin; tests and the real system differ only in where it runs.
type Runner func(ctx context.Context, stdin []byte, args ...string) ([]byte, error)

// Firewall checks and opens the host firewall for one interface.
type Firewall struct {
	Run Runner // nil = Nft
	Log *slog.Logger
}

func (f *Firewall) run(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	if f.Run == nil {
		return Nft(ctx, stdin, args...)
	}
	return f.Run(ctx, stdin, args...)
}

func (f *Firewall) log() *slog.Logger {
	if f.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Log
}

// ruleset is the part of `nft -j list ruleset` this package reads.
type ruleset struct {
	Nftables []struct {
		Table *struct {
			Family, Name string
		} `json:"table"`
		Chain *struct {
			Family, Table, Name, Hook, Policy string
		} `json:"chain"`
		Rule *struct {
			Family, Table, Chain, Comment string
			Handle                        int
			Expr                          []map[string]json.RawMessage
		} `json:"rule"`
	} `json:"nftables"`
}

func (f *Firewall) list(ctx context.Context) (*ruleset, error) {
	out, err := f.run(ctx, nil, "-j", "list", "ruleset")
	if err != nil {
		return nil, err
	}
	var rs ruleset
	if err := json.Unmarshal(out, &rs); err != nil {
		return nil, fmt.Errorf("reading the nftables ruleset: %w", err)
	}
	return &rs, nil
}

// Blocking lists the input chains that would drop or reject clients.
func (f *Firewall) Blocking(ctx context.Context) ([]Chain, error) {
	rs, err := f.list(ctx)
	if err != nil {
		return nil, err
	}
	return blocking(rs), nil
}

func blocking(rs *ruleset) []Chain { return blockingAt(rs, "input") }

// blockingAt lists the chains on hook that drop or reject: by policy or by a rule.
func blockingAt(rs *ruleset, hook string) []Chain {
	type key struct{ family, table, name string }
	var chains []Chain
	index := map[key]int{}
	for _, e := range rs.Nftables {
		c := e.Chain
		if c == nil || c.Hook != hook || (c.Family != "inet" && c.Family != "ip") {
			continue
		}
		index[key{c.Family, c.Table, c.Name}] = len(chains)
		ch := Chain{Family: c.Family, Table: c.Table, Name: c.Name}
		if c.Policy == "drop" {
			ch.Why = "policy drop"
		}
		chains = append(chains, ch)
	}
	for _, e := range rs.Nftables {
		r := e.Rule
		if r == nil {
			continue
		}
		i, ok := index[key{r.Family, r.Table, r.Chain}]
		if !ok || chains[i].Why != "" {
			continue
		}
		for _, x := range r.Expr {
			if _, ok := x["drop"]; ok {
				chains[i].Why = "drop rule"
			}
			if _, ok := x["reject"]; ok {
				chains[i].Why = "reject rule"
			}
		}
	}
	return slices.DeleteFunc(chains, func(c Chain) bool { return c.Why == "" })
}

func tag(iface string) string { return "sharecd " + iface }

// Rules are the nft commands that let h through chain c.
func Rules(c Chain, h Hole) []string {
	var out []string
	add := func(match string) {
		out = append(out, fmt.Sprintf(`insert rule %s %s %s iifname "%s" %s accept comment "%s"`,
			c.Family, c.Table, c.Name, h.Iface, match, tag(h.Iface)))
	}
	// Inserted one by one at the top, so the last written ends up first.
	if len(h.TCP) > 0 {
		add("tcp dport " + portSet(h.TCP))
	}
	if len(h.UDP) > 0 {
		add("udp dport " + portSet(h.UDP))
	}
	// TFTP sends each file from a fresh port; the client's ACKs come back to it as replies.
	add("ct state established,related")
	return out
}

func portSet(ports []int) string {
	var s []string
	for _, p := range ports {
		s = append(s, strconv.Itoa(p))
	}
	return "{ " + strings.Join(s, ", ") + " }"
}

// Open removes what an earlier run on the same interface left behind, then inserts accept rules
// into every blocking chain. The returned close deletes them again. Chains lists what was found.
func (f *Firewall) Open(ctx context.Context, h Hole) (chains []Chain, closeFn func(context.Context) error, err error) {
	if err := f.Remove(ctx, h.Iface); err != nil {
		return nil, nil, err
	}
	rs, err := f.list(ctx)
	if err != nil {
		return nil, nil, err
	}
	chains = blocking(rs)
	if len(chains) == 0 {
		return nil, func(context.Context) error { return nil }, nil
	}
	var script strings.Builder
	for _, c := range chains {
		for _, r := range Rules(c, h) {
			script.WriteString(r + "\n")
		}
	}
	// One nft -f is one transaction: all the rules go in, or none.
	if _, err := f.run(ctx, []byte(script.String()), "-f", "-"); err != nil {
		return chains, nil, fmt.Errorf("opening the firewall: %w", err)
	}
	for _, c := range chains {
		f.log().Info("firewall: let clients through", "chain", c.String(), "iface", h.Iface)
	}
	return chains, func(ctx context.Context) error { return f.Remove(ctx, h.Iface) }, nil
}

// deleteTagged writes the nft commands that delete every rule of rs whose comment is tag: how
// both the firewall hole and internet sharing find their own rules again, even after a crash.
func (rs *ruleset) deleteTagged(script *strings.Builder, tag string) {
	for _, e := range rs.Nftables {
		if r := e.Rule; r != nil && r.Comment == tag {
			fmt.Fprintf(script, "delete rule %s %s %s handle %d\n", r.Family, r.Table, r.Chain, r.Handle)
		}
	}
}

// Remove deletes every rule sharecd tagged for iface.
func (f *Firewall) Remove(ctx context.Context, iface string) error {
	rs, err := f.list(ctx)
	if err != nil {
		return err
	}
	var script strings.Builder
	rs.deleteTagged(&script, tag(iface))
	if script.Len() == 0 {
		return nil
	}
	if _, err := f.run(ctx, []byte(script.String()), "-f", "-"); err != nil {
		return fmt.Errorf("removing sharecd's firewall rules: %w", err)
	}
	return nil
}
