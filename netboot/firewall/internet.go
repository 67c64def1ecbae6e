package firewall

// Internet for a room on its own switch: the clients go out through the host's other interface,
// masqueraded as the host. Like the input rules, it is runtime only and taken back on stop, and
// on the next start after a crash:
//
//   - the masquerade lives in a table of sharecd's own (ip sharecd_nat_IN), deleted whole;
//   - a forward chain that drops or rejects (Docker's ip filter FORWARD, a default-drop inet
//     filter) would drop the clients whatever our table says, as for input: so accept rules go
//     at its top, tagged "sharecd internet IN", deleted by handle or by tag;
//   - IPv4 forwarding is switched on for the two interfaces only
//     (/proc/sys/net/ipv4/conf/IF/forwarding: the kernel checks the receiving interface's, so
//     the host's other interfaces keep not routing), the old values recorded in State first so
//     that a crash's leftovers are put back.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// Internet is a room's way out: clients of Subnet on In leave through Out.
type Internet struct {
	In, Out string
	Subnet  netip.Prefix
}

// Sharing opens and takes back an Internet. Zero fields mean the default.
type Sharing struct {
	Run Runner // nil = Nft
	Log *slog.Logger
	// State records the forwarding values found before they were changed, so that the next
	// start after a kill restores them; "" = not recorded (tests).
	State string
	// Conf is /proc/sys/net/ipv4/conf, faked in tests.
	Conf string
}

func (s *Sharing) fw() *Firewall { return &Firewall{Run: s.Run, Log: s.Log} }

func (s *Sharing) log() *slog.Logger { return s.fw().log() }

func (s *Sharing) conf() string {
	if s.Conf == "" {
		return "/proc/sys/net/ipv4/conf"
	}
	return s.Conf
}

// NatTable is the table of sharecd's own that masquerades in's clients.
func NatTable(in string) string {
	return "sharecd_nat_" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, in)
}

func internetTag(in string) string { return "sharecd internet " + in }

// NatRules is the nft script that creates the masquerading table.
func NatRules(n Internet) string {
	t := NatTable(n.In)
	// The table is added empty, flushed and deleted first: the script works whether or not a
	// crashed run left it behind, in one transaction.
	return fmt.Sprintf(`add table ip %[1]s
delete table ip %[1]s
table ip %[1]s {
	chain postrouting {
		type nat hook postrouting priority 100; policy accept;
		ip saddr %[2]s oifname "%[3]s" masquerade
	}
}
`, t, n.Subnet.Masked(), n.Out)
}

// ForwardRules are the nft commands that let n's clients through forward chain c, and their
// replies back.
func ForwardRules(c Chain, n Internet) []string {
	tag := internetTag(n.In)
	// Inserted one by one at the top, so the last written ends up first.
	return []string{
		fmt.Sprintf(`insert rule %s %s %s iifname "%s" oifname "%s" ct state established,related accept comment "%s"`,
			c.Family, c.Table, c.Name, n.Out, n.In, tag),
		fmt.Sprintf(`insert rule %s %s %s iifname "%s" oifname "%s" ip saddr %s accept comment "%s"`,
			c.Family, c.Table, c.Name, n.In, n.Out, n.Subnet.Masked(), tag),
	}
}

// internetState is the record of the forwarding values before a run changed them.
type internetState struct {
	In         string            `json:"in"`
	Forwarding map[string]string `json:"forwarding"` // interface → its old value
}

// Open takes back what an earlier run on n.In left behind, then masquerades n's clients out of
// n.Out, lets them through the forward chains that would drop them, and switches forwarding on
// for the two interfaces. The returned close takes all of it back. Chains lists the forward
// chains that got rules.
func (s *Sharing) Open(ctx context.Context, n Internet) (chains []Chain, closeFn func(context.Context) error, err error) {
	if n.In == "" || n.Out == "" || n.In == n.Out || !n.Subnet.Addr().Is4() {
		return nil, nil, fmt.Errorf("sharing the internet: want two interfaces and an IPv4 subnet, got %q, %q, %v", n.In, n.Out, n.Subnet)
	}
	if err := s.Remove(ctx, n.In); err != nil {
		return nil, nil, err
	}
	undo := func(ctx context.Context) error { return s.Remove(ctx, n.In) }
	fail := func(err error) ([]Chain, func(context.Context) error, error) {
		if uerr := undo(context.WithoutCancel(ctx)); uerr != nil {
			s.log().Warn("internet: could not take back a half-open share", "err", uerr)
		}
		return nil, nil, err
	}
	rs, err := s.fw().list(ctx)
	if err != nil {
		return nil, nil, err
	}
	chains = forwardBlocking(rs)
	script := NatRules(n)
	for _, c := range chains {
		for _, r := range ForwardRules(c, n) {
			script += r + "\n"
		}
	}
	// Recorded before anything changes: a kill from here on is taken back on the next start.
	st := internetState{In: n.In, Forwarding: map[string]string{}}
	for _, ifc := range []string{n.In, n.Out} {
		v, err := os.ReadFile(s.forwarding(ifc))
		if err != nil {
			return nil, nil, fmt.Errorf("sharing the internet: %w", err)
		}
		st.Forwarding[ifc] = strings.TrimSpace(string(v))
	}
	if err := writeJSON(s.State, st); err != nil {
		return nil, nil, err
	}
	// One nft -f is one transaction: the table and every rule go in, or none.
	if _, err := s.fw().run(ctx, []byte(script), "-f", "-"); err != nil {
		return fail(fmt.Errorf("sharing the internet: %w", err))
	}
	for _, ifc := range []string{n.In, n.Out} {
		if err := os.WriteFile(s.forwarding(ifc), []byte("1\n"), 0o644); err != nil {
			return fail(fmt.Errorf("sharing the internet: switching forwarding on: %w", err))
		}
	}
	for _, c := range chains {
		s.log().Info("internet: let clients through", "chain", c.String(), "in", n.In, "out", n.Out)
	}
	s.log().Info("internet: clients go out masqueraded", "subnet", n.Subnet.Masked(), "in", n.In, "out", n.Out, "table", "ip "+NatTable(n.In))
	return chains, undo, nil
}

func (s *Sharing) forwarding(ifc string) string {
	return filepath.Join(s.conf(), ifc, "forwarding")
}

// Remove takes back everything a run on in put there: the tagged forward rules, the table, and
// the recorded forwarding values. An interface gone since (a USB adapter unplugged) has nothing
// left to restore.
func (s *Sharing) Remove(ctx context.Context, in string) error {
	rs, err := s.fw().list(ctx)
	if err != nil {
		return err
	}
	var script strings.Builder
	rs.deleteTagged(&script, internetTag(in))
	for _, e := range rs.Nftables {
		if t := e.Table; t != nil && t.Family == "ip" && t.Name == NatTable(in) {
			fmt.Fprintf(&script, "delete table ip %s\n", t.Name)
		}
	}
	var errs []error
	if script.Len() > 0 {
		if _, err := s.fw().run(ctx, []byte(script.String()), "-f", "-"); err != nil {
			errs = append(errs, fmt.Errorf("removing sharecd's internet rules: %w", err))
		}
	}
	var st internetState
	ok, err := readJSON(s.State, &st)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if ok {
		for ifc, v := range st.Forwarding {
			err := os.WriteFile(s.forwarding(ifc), []byte(v+"\n"), 0o644)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("restoring forwarding on %s: %w", ifc, err))
			}
		}
		if len(errs) == 0 {
			if err := writeJSON(s.State, nil); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// forwardBlocking lists the forward chains that would drop or reject the clients.
func forwardBlocking(rs *ruleset) []Chain { return blockingAt(rs, "forward") }
