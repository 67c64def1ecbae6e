package firewall

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sharecd/sharecd/netboot/netlab"
)

func TestBlockingFromRealRuleset(t *testing.T) {
	b, err := os.ReadFile("testdata/ruleset.json")
	if err != nil {
		t.Fatal(err)
	}
	var rs ruleset
	if err := json.Unmarshal(b, &rs); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range blocking(&rs) {
		got = append(got, c.String())
	}
	want := []string{"inet filter input (policy drop)", "ip fw2 INPUT (reject rule)"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("blocking chains = %q, want %q", got, want)
	}
}

func TestRules(t *testing.T) {
	got := Rules(Chain{Family: "inet", Table: "filter", Name: "input"}, Hole{Iface: "eth0", UDP: []int{67, 69}, TCP: []int{2049}})
	want := []string{
		`insert rule inet filter input iifname "eth0" tcp dport { 2049 } accept comment "sharecd eth0"`,
		`insert rule inet filter input iifname "eth0" udp dport { 67, 69 } accept comment "sharecd eth0"`,
		`insert rule inet filter input iifname "eth0" ct state established,related accept comment "sharecd eth0"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestOpenAndRemoveInNamespace runs the real nft in a network namespace of the test's own: the
// rules go in, a leftover of a crashed run is cleared, and after Remove the ruleset is exactly
// what it was.
func TestOpenAndRemoveInNamespace(t *testing.T) {
	netlab.Require(t, "nft")
	ns := netlab.Namespace(t, "scd-fw")
	run := func(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, "nft"}, args...)...)
		cmd.Stdin = strings.NewReader(string(stdin))
		out, err := cmd.Output()
		if err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				t.Logf("nft stderr: %s", ee.Stderr)
			}
		}
		return out, err
	}
	ctx := context.Background()
	setup := `table inet filter {
	chain input { type filter hook input priority 0; policy drop; iifname "lo" accept; }
}
table ip fw2 {
	chain INPUT { type filter hook input priority 10; tcp dport 22 accept; reject; }
}
`
	if _, err := run(ctx, []byte(setup), "-f", "-"); err != nil {
		t.Fatal(err)
	}
	before, _ := run(ctx, nil, "list", "ruleset")

	// A crashed run left a rule behind.
	if _, err := run(ctx, []byte(`insert rule inet filter input iifname "s0" udp dport 69 accept comment "sharecd s0"`+"\n"), "-f", "-"); err != nil {
		t.Fatal(err)
	}
	f := &Firewall{Run: run}
	chains, closeFn, err := f.Open(ctx, Hole{Iface: "s0", UDP: []int{67, 69, 111, 4011}, TCP: []int{111, 2049}})
	if err != nil {
		t.Fatal(err)
	}
	if len(chains) != 2 {
		t.Errorf("chains = %v", chains)
	}
	during, _ := run(ctx, nil, "list", "ruleset")
	if n := strings.Count(string(during), `comment "sharecd s0"`); n != 6 {
		t.Errorf("%d sharecd rules while open, want 3 in each of 2 chains:\n%s", n, during)
	}
	if err := closeFn(ctx); err != nil {
		t.Fatal(err)
	}
	after, _ := run(ctx, nil, "list", "ruleset")
	if string(after) != string(before) {
		t.Errorf("ruleset changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
