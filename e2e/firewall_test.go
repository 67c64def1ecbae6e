package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestThroughTheFirewall gives the server a default-drop input policy, as ufw and firewalld have:
// with --no-firewall-changes clients cannot fetch and the log names what to open; by default
// sharecd lets them through, and after it stops the ruleset is exactly what it was.
func TestThroughTheFirewall(t *testing.T) {
	need(t, "nft", "tftp", "nfs-cp", "curl")
	bin := sharecd(t)
	l := newLab(t, "10.77.6")
	l.startRouter()
	cl := l.clientNS("10.77.6.50/24")
	med := tinyMedium(t)

	ruleset := `table inet filter {
	chain input { type filter hook input priority 0; policy drop; iifname "lo" accept; }
}
`
	if out, err := l.runIn(l.server, ruleset, "nft", "-f", "-"); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	before, _ := l.run(l.server, "nft", "list", "ruleset")

	share := func(logName string, extra ...string) (*exec.Cmd, string) {
		args := append([]string{bin, "--share", "--source", med, "--iface", "s0", "--debug"}, extra...)
		srv := l.start(l.server, logName, args...)
		logPath := filepath.Join(l.dir, logName)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := waitFor(ctx, logPath, "msg=sharing"); err != nil {
			t.Fatalf("%v\n%s", err, tail(logPath, 20))
		}
		return srv, logPath
	}
	fetch := func() error {
		out, err := l.run(cl, "sh", "-c", "timeout 8 tftp 10.77.6.2 -m binary -c get live/vmlinuz /dev/null 2>&1; r=$?; exit $r")
		if err == nil && strings.Contains(strings.ToLower(string(out)), "timed out") {
			return exec.ErrNotFound
		}
		return err
	}

	// The check says so before any share (and what Secure Boot needs), and changes nothing.
	out, _ := l.run(l.server, bin, "--check-dhcp", "--iface", "s0")
	if !strings.Contains(string(out), "The firewall would block clients") || !strings.Contains(string(out), "inet filter input") || !strings.Contains(string(out), "Secure Boot on: in proxy mode") {
		t.Errorf("--check-dhcp does not report the blocking firewall:\n%s", out)
	}
	if now, _ := l.run(l.server, "nft", "list", "ruleset"); string(now) != string(before) {
		t.Errorf("--check-dhcp changed the ruleset:\n%s", now)
	}

	srv, logPath := share("sharecd-hands-off.log", "--no-firewall-changes")
	if err := fetch(); err == nil {
		t.Error("a client got through a default-drop firewall that sharecd was told to leave alone")
	}
	if msg := tail(logPath, 50); !strings.Contains(msg, "firewall will block clients") || !strings.Contains(msg, "udp dport { 67, 69, 111, 4011 }") {
		t.Errorf("the log does not say what to open:\n%s", msg)
	}
	if err := stop(srv, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	if now, _ := l.run(l.server, "nft", "list", "ruleset"); string(now) != string(before) {
		t.Errorf("--no-firewall-changes changed the ruleset:\n%s", now)
	}

	srv, logPath = share("sharecd.log")
	if err := fetch(); err != nil {
		t.Errorf("tftp through the opened firewall: %v\n%s", err, tail(logPath, 20))
	}
	if out, err := l.run(cl, "nfs-cp", "nfs://10.77.6.2/sharecd/live/vmlinuz", filepath.Join(l.dir, "vmlinuz")); err != nil {
		t.Errorf("nfs-cp through the opened firewall: %v %s", err, out)
	}
	// GRUB's kernels come over HTTP.
	if out, err := l.run(cl, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "http://10.77.6.2/live/vmlinuz"); err != nil || string(out) != "200" {
		t.Errorf("HTTP through the opened firewall: %v %s", err, out)
	}
	if err := stop(srv, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	if after, _ := l.run(l.server, "nft", "list", "ruleset"); string(after) != string(before) {
		t.Errorf("ruleset after stop differs:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
