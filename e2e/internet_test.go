package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sharecd/sharecd/netboot/netlab"
)

// TestShareInternet: a room on its own switch goes online through the host's other interface.
// The server namespace has the room's switch on s0 (no address: full mode gives it one) and an
// uplink u0 to a namespace standing in for the internet (203.0.113.1, a tiny HTTP server, no
// route back to the room: only masqueraded packets get answers), and a forward chain that drops,
// as Docker's does. A client leases from sharecd --dhcp-mode full --share-internet u0 with busybox
// udhcpc, finds sharecd named its router and the host's DNS server, and fetches a page from the
// internet. After SIGTERM nothing of it is left in the ruleset and forwarding is back off; after a
// kill -9 the next start takes the leftovers back first, and its stop leaves nothing again. No
// QEMU: every packet stays in the lab's namespaces.
func TestShareInternet(t *testing.T) {
	// busybox wget's -T crashes Debian 12's busybox 1.35 (SIGSEGV): timeout(1) bounds it instead.
	netlab.Require(t, "nft", "busybox", "ss", "timeout")
	bin := sharecd(t)
	l := newLab(t, "10.77.9")
	cl := l.clientNS("10.77.9.50/24")
	l.ipn(cl, "addr", "flush", "dev", "c0")
	l.ipn(l.server, "addr", "flush", "dev", "s0")

	// The internet, and the host's uplink to it.
	inet := "scd-in-" + l.id
	l.addNS(inet)
	l.ipn(inet, "link", "set", "lo", "up")
	l.ipn(l.server, "link", "add", "u0", "type", "veth", "peer", "name", "i0", "netns", inet)
	l.ipn(l.server, "addr", "add", "203.0.113.2/24", "dev", "u0")
	l.ipn(inet, "addr", "add", "203.0.113.1/24", "dev", "i0")
	l.ipn(l.server, "link", "set", "u0", "up")
	l.ipn(inet, "link", "set", "i0", "up")
	l.ipn(l.server, "route", "add", "default", "via", "203.0.113.1")
	l.waitUp(map[string][]string{l.server: {"u0"}, inet: {"i0"}})
	www := t.TempDir()
	os.WriteFile(filepath.Join(www, "index.html"), []byte("hello from the internet\n"), 0o644)
	l.start(inet, "httpd.log", "busybox", "httpd", "-f", "-p", "203.0.113.1:80", "-h", www)
	l.waitListening(inet, "tcp", 80)

	// The host's resolver, as `ip netns exec` shows it to sharecd (/etc/netns/NS/resolv.conf is
	// bind-mounted over /etc/resolv.conf): a loopback stub, passed over, and a real server.
	etc := filepath.Join("/etc/netns", l.server)
	_, err := os.Stat("/etc/netns")
	hadNetns := err == nil
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.RemoveAll(etc)
		if !hadNetns {
			os.Remove("/etc/netns") // only if empty: another lab's may be there meanwhile
		}
	})
	os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte("nameserver 127.0.0.53\nnameserver 203.0.113.1\n"), 0o644)

	// A forward chain that drops everything, as Docker's does.
	l.runOK(l.server, "nft", "add table ip filter; add chain ip filter FORWARD { type filter hook forward priority 0; policy drop; }")
	rulesBefore := l.runOK(l.server, "nft", "list ruleset")
	fwd := func() string {
		return strings.Join(strings.Fields(l.runOK(l.server, "sh", "-c", "cat /proc/sys/net/ipv4/conf/s0/forwarding /proc/sys/net/ipv4/conf/u0/forwarding /proc/sys/net/ipv4/ip_forward")), " ")
	}
	if got := fwd(); got != "0 0 0" {
		t.Fatalf("forwarding s0 u0 global = %s before sharing, want 0 0 0", got)
	}
	leftNothing := func(when string) {
		t.Helper()
		if after := l.runOK(l.server, "nft", "list ruleset"); after != rulesBefore {
			t.Errorf("%s: the ruleset changed:\nbefore:\n%s\nafter:\n%s", when, rulesBefore, after)
		}
		if got := fwd(); got != "0 0 0" {
			t.Errorf("%s: forwarding s0 u0 global = %s, want 0 0 0", when, got)
		}
	}

	state := filepath.Join(l.dir, "state")
	args := []string{"env", "STATE_DIRECTORY=" + state, bin, "--share", "--source", tinyMedium(t), "--iface", "s0",
		"--dhcp-mode", "full", "--share-internet", "u0", "--debug"}
	startShare := func(logName string) *exec.Cmd {
		t.Helper()
		srv := l.start(l.server, logName, args...)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := waitFor(ctx, filepath.Join(l.dir, logName), "msg=sharing"); err != nil {
			t.Fatalf("sharecd did not share: %v\n%s", err, tail(filepath.Join(l.dir, logName), 30))
		}
		return srv
	}

	// Refused outside full mode, changing nothing.
	if out, err := l.run(l.server, bin, "--share", "--source", tinyMedium(t), "--iface", "s0", "--dhcp-mode", "proxy", "--share-internet", "u0"); err == nil || !strings.Contains(string(out), "--dhcp-mode full") {
		t.Errorf("--share-internet in proxy mode: want a refusal naming --dhcp-mode full, got %v:\n%s", err, out)
	}

	srv := startShare("sharecd-internet.log")
	logf := filepath.Join(l.dir, "sharecd-internet.log")
	if got := fwd(); got != "1 1 0" {
		t.Errorf("forwarding s0 u0 global = %s while sharing, want 1 1 0 (the two interfaces only)", got)
	}
	script := filepath.Join(t.TempDir(), "udhcpc.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"event=$1 ip=$ip router=$router dns=$dns\"\n"), 0o755)
	out, err := l.run(cl, "busybox", "udhcpc", "-f", "-q", "-n", "-i", "c0", "-t", "5", "-T", "2", "-s", script)
	m := regexp.MustCompile(`event=bound ip=(192\.168\.77\.\d+) router=(\S*) dns=(.*)`).FindStringSubmatch(string(out))
	if err != nil || m == nil {
		t.Fatalf("udhcpc got no lease: %v\n%s\n--- sharecd ---\n%s", err, out, tail(logf, 20))
	}
	if m[2] != "192.168.77.1" || strings.TrimSpace(m[3]) != "203.0.113.1" {
		t.Errorf("lease names router %q and DNS %q, want 192.168.77.1 and 203.0.113.1 (the stub passed over)", m[2], m[3])
	}
	l.ipn(cl, "addr", "add", m[1]+"/24", "dev", "c0")
	l.ipn(cl, "route", "add", "default", "via", m[2])
	page, err := l.run(cl, "timeout", "10", "busybox", "wget", "-q", "-O", "-", "http://203.0.113.1/")
	if err != nil || !strings.Contains(string(page), "hello from the internet") {
		t.Errorf("the client did not reach the internet: %v\n%s\n--- server ruleset ---\n%s", err, page, l.runOK(l.server, "nft", "list ruleset"))
	}
	if err := stop(srv, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Errorf("sharecd on SIGTERM: %v\n%s", err, tail(logf, 20))
	}
	leftNothing("after SIGTERM")
	if out, err := l.run(cl, "timeout", "3", "busybox", "wget", "-q", "-O", "-", "http://203.0.113.1/"); err == nil {
		t.Errorf("the client still reaches the internet after stop:\n%s", out)
	}

	// Killed: its table, rules and forwarding stay until the next start takes them back.
	srv = startShare("sharecd-killed.log")
	stop(srv, syscall.SIGKILL, 5*time.Second)
	if got := fwd(); got != "1 1 0" || !strings.Contains(l.runOK(l.server, "nft", "list ruleset"), "sharecd_nat_s0") {
		t.Fatalf("a kill -9 left forwarding %s and no table: was anything open?", got)
	}
	srv = startShare("sharecd-restart.log")
	rules := l.runOK(l.server, "nft", "list ruleset")
	if n := strings.Count(rules, `comment "sharecd internet s0"`); n != 2 || strings.Count(rules, "table ip sharecd_nat_s0") != 1 {
		t.Errorf("after a restart over a killed run: %d tagged rules (want 2) in:\n%s", n, rules)
	}
	if err := stop(srv, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Errorf("sharecd on SIGTERM: %v", err)
	}
	leftNothing("after kill -9, restart and stop")
	if _, err := os.Stat(filepath.Join(state, "internet-s0.json")); !os.IsNotExist(err) {
		t.Errorf("the forwarding record is left: %v", err)
	}
}

// runOK runs a command in a namespace and returns its output; it fails the test on an error.
func (l *lab) runOK(ns string, args ...string) string {
	l.t.Helper()
	out, err := l.run(ns, args...)
	if err != nil {
		l.t.Fatalf("%s in %s: %v\n%s", strings.Join(args, " "), ns, err, out)
	}
	return string(out)
}
