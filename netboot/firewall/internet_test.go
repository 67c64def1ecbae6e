package firewall

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sharecd/sharecd/netboot/netlab"
)

var update = flag.Bool("update", false, "rewrite testdata/internet.nft")

var room = Internet{In: "enp0s25", Out: "wlp3s0", Subnet: netip.MustParsePrefix("192.168.77.1/24")}

// TestInternetRulesGolden: the table and the forward rules, as nft reads them.
func TestInternetRulesGolden(t *testing.T) {
	got := NatRules(room) + strings.Join(ForwardRules(Chain{Family: "ip", Table: "filter", Name: "FORWARD"}, room), "\n") + "\n"
	const golden = "testdata/internet.nft"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("rules:\n%s\nwant (%s):\n%s", got, golden, want)
	}
	if NatTable("enp0s25.100-x") != "sharecd_nat_enp0s25_100_x" {
		t.Errorf("NatTable = %s", NatTable("enp0s25.100-x"))
	}
}

// fakeConf is a /proc/sys/net/ipv4/conf with forwarding off for each interface.
func fakeConf(t *testing.T, ifaces ...string) string {
	dir := t.TempDir()
	for _, i := range ifaces {
		os.MkdirAll(filepath.Join(dir, i), 0o755)
		if err := os.WriteFile(filepath.Join(dir, i, "forwarding"), []byte("0\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readFwd(t *testing.T, conf, ifc string) string {
	b, err := os.ReadFile(filepath.Join(conf, ifc, "forwarding"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestSharingCrashLeftovers: with a fake nft, a run's changes are recorded before they are made;
// the next start after a kill deletes the tagged rules by handle and the table, and restores the
// forwarding values the killed run found, before opening again; close leaves nothing.
func TestSharingCrashLeftovers(t *testing.T) {
	conf := fakeConf(t, room.In, room.Out, "eth9")
	os.WriteFile(filepath.Join(conf, "eth9", "forwarding"), []byte("1\n"), 0o644)
	state := filepath.Join(t.TempDir(), "internet-enp0s25.json")
	// What a killed run left: forwarding on, its record, its table, one tagged rule.
	os.WriteFile(filepath.Join(conf, room.In, "forwarding"), []byte("1\n"), 0o644)
	os.WriteFile(state, []byte(`{"in":"enp0s25","forwarding":{"enp0s25":"0","wlp3s0":"0"}}`), 0o644)
	listing := `{"nftables":[
	{"table":{"family":"ip","name":"filter"}},
	{"chain":{"family":"ip","table":"filter","name":"FORWARD","hook":"forward","policy":"drop"}},
	{"table":{"family":"ip","name":"sharecd_nat_enp0s25"}},
	{"rule":{"family":"ip","table":"filter","chain":"FORWARD","handle":7,"comment":"sharecd internet enp0s25"}},
	{"rule":{"family":"ip","table":"filter","chain":"FORWARD","handle":8,"comment":"sharecd enp0s25"}}]}`
	var scripts []string
	run := func(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
		if strings.Join(args, " ") == "-j list ruleset" {
			return []byte(listing), nil
		}
		scripts = append(scripts, string(stdin))
		return nil, nil
	}
	s := &Sharing{Run: run, State: state, Conf: conf}
	ctx := context.Background()
	chains, closeFn, err := s.Open(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	if len(chains) != 1 || chains[0].String() != "ip filter FORWARD (policy drop)" {
		t.Errorf("chains = %v", chains)
	}
	if len(scripts) != 2 || scripts[0] != "delete rule ip filter FORWARD handle 7\ndelete table ip sharecd_nat_enp0s25\n" {
		t.Fatalf("leftovers not removed first (the input rule is not ours to touch): %q", scripts)
	}
	if !strings.Contains(scripts[1], "masquerade") || strings.Count(scripts[1], `comment "sharecd internet enp0s25"`) != 2 {
		t.Errorf("open script:\n%s", scripts[1])
	}
	var st internetState
	if ok, err := readJSON(state, &st); !ok || err != nil || st.Forwarding[room.In] != "0" || st.Forwarding[room.Out] != "0" {
		t.Errorf("record while open = %+v, %v, %v: want the values from before the killed run", st, ok, err)
	}
	for _, i := range []string{room.In, room.Out} {
		if v := readFwd(t, conf, i); v != "1" {
			t.Errorf("forwarding on %s = %s while open", i, v)
		}
	}
	scripts = nil
	if err := closeFn(ctx); err != nil {
		t.Fatal(err)
	}
	for i, want := range map[string]string{room.In: "0", room.Out: "0", "eth9": "1"} {
		if v := readFwd(t, conf, i); v != want {
			t.Errorf("forwarding on %s = %s after close, want %s", i, v, want)
		}
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("record left after close: %v", err)
	}
}

// TestSharingRefuses: one interface, or no IPv4 subnet, is no way out.
func TestSharingRefuses(t *testing.T) {
	s := &Sharing{Run: func(context.Context, []byte, ...string) ([]byte, error) { return []byte(`{"nftables":[]}`), nil }, Conf: fakeConf(t, "a")}
	for _, n := range []Internet{{In: "a", Out: "a", Subnet: room.Subnet}, {In: "a", Out: "", Subnet: room.Subnet}, {In: "a", Out: "b"}} {
		if _, _, err := s.Open(context.Background(), n); err == nil {
			t.Errorf("Open(%+v) succeeded", n)
		}
	}
}

// TestSharingInNamespace runs the real nft in a namespace of the test's own (the forwarding
// values are a fake directory: this test process is in the host's namespace): the table and rules
// go in, and after close the ruleset is exactly what it was.
func TestSharingInNamespace(t *testing.T) {
	netlab.Require(t, "nft")
	ns := netlab.Namespace(t, "scd-inet")
	run := func(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, "nft"}, args...)...)
		cmd.Stdin = strings.NewReader(string(stdin))
		out, err := cmd.Output()
		if ee, ok := err.(*exec.ExitError); ok {
			return out, fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return out, err
	}
	ctx := context.Background()
	setup := `table ip filter {
	chain FORWARD { type filter hook forward priority 0; policy drop; }
}
`
	if _, err := run(ctx, []byte(setup), "-f", "-"); err != nil {
		t.Fatal(err)
	}
	before, _ := run(ctx, nil, "list", "ruleset")
	s := &Sharing{Run: run, Conf: fakeConf(t, room.In, room.Out), State: filepath.Join(t.TempDir(), "st.json")}
	_, closeFn, err := s.Open(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	during, _ := run(ctx, nil, "list", "ruleset")
	for _, want := range []string{"table ip sharecd_nat_enp0s25", `ip saddr 192.168.77.0/24 oifname "wlp3s0" masquerade`, `comment "sharecd internet enp0s25"`} {
		if !strings.Contains(string(during), want) {
			t.Errorf("ruleset while open lacks %q:\n%s", want, during)
		}
	}
	// A second Open (a restart after a kill) replaces, not doubles.
	if _, closeFn, err = s.Open(ctx, room); err != nil {
		t.Fatal(err)
	}
	again, _ := run(ctx, nil, "-j", "list", "ruleset")
	var rs ruleset
	json.Unmarshal(again, &rs)
	n := 0
	for _, e := range rs.Nftables {
		if e.Rule != nil && e.Rule.Comment == internetTag(room.In) {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d tagged rules after a second Open, want 2", n)
	}
	if err := closeFn(ctx); err != nil {
		t.Fatal(err)
	}
	after, _ := run(ctx, nil, "list", "ruleset")
	if string(after) != string(before) {
		t.Errorf("ruleset changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
