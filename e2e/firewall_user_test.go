package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sharecd/sharecd/netboot/netlab"
)

// TestDesktopUserOpensFirewall shares as a desktop user would: as nobody, with only the file
// capabilities the package gives the binary, on a server whose input chain drops by default.
// With cap_net_admin the share lets its clients through (TFTP and HTTP fetches), takes its rules
// back on SIGTERM, leaves them after a kill -9 and clears them on the next start. Without it the
// share refuses in one line rather than serving while every client times out. No QEMU: the
// clients are tftp and curl in a namespace of the lab.
func TestDesktopUserOpensFirewall(t *testing.T) {
	netlab.Require(t, "nft", "setcap", "setpriv", "tftp", "curl", "env")
	bin := sharecd(t)
	l := newLab(t, "10.77.8")
	cl := l.clientNS("10.77.8.50/24")

	// Everything nobody reads lives under a directory every user may enter: t.TempDir()'s
	// parents are 0700.
	dir, err := os.MkdirTemp("", "sharecd-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	med := filepath.Join(dir, "medium")
	if out, err := exec.Command("cp", "-r", tinyMedium(t), med).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	exec.Command("chmod", "-R", "a+rX", med).Run()
	// Two copies of the binary: as the package installs it, and as a source build given only the
	// two capabilities the package gave before cap_net_admin.
	copyBin := func(name, caps string) string {
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("setcap", caps, p).CombinedOutput(); err != nil {
			netlab.Skipf(t, "setcap on %s: %v %s (no xattrs on this file system?)", dir, err, out)
		}
		return p
	}
	pkgBin := copyBin("sharecd", "cap_net_bind_service,cap_net_raw,cap_net_admin+ep")
	oldBin := copyBin("sharecd-no-admin", "cap_net_bind_service,cap_net_raw+ep")
	// The user's runtime directory, where the share records what it opened.
	home := filepath.Join(dir, "home")
	os.Mkdir(home, 0o700)
	os.Chown(home, 65534, 65534)

	if out, err := l.runIn(l.server, `table inet filter {
	chain input { type filter hook input priority 0; policy drop; iifname "lo" accept; }
}
`, "nft", "-f", "-"); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	ruleset := func() string {
		out, err := l.run(l.server, "nft", "list", "ruleset")
		if err != nil {
			t.Fatalf("nft list ruleset: %v %s", err, out)
		}
		return string(out)
	}
	before := ruleset()
	const tagged = `comment "sharecd s0"`

	// asUser is the command line of sharecd run as nobody with nothing but the binary's file
	// capabilities (setpriv changes no bounding set or securebits, so exec grants them) and a
	// clean environment, but for an LD_PRELOAD such as a user may set: sharecd itself runs in
	// secure-execution mode, and nft gets sharecd's fixed environment instead (TestNftCommand).
	asUser := func(b string) []string {
		return []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
			"env", "-i", "PATH=/usr/bin:/bin", "HOME=" + home, "XDG_RUNTIME_DIR=" + home,
			"LD_PRELOAD=" + filepath.Join(dir, "no-such-lib.so"),
			b, "--share", "--dhcp-mode", "proxy", "--source", med, "--iface", "s0"}
	}
	share := func(logName string) *exec.Cmd {
		t.Helper()
		srv := l.start(l.server, logName, asUser(pkgBin)...)
		logPath := filepath.Join(l.dir, logName)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := waitFor(ctx, logPath, "msg=sharing"); err != nil {
			t.Fatalf("%v\n%s", err, tail(logPath, 20))
		}
		return srv
	}
	fetch := func(logName string) {
		t.Helper()
		got := filepath.Join(l.dir, "got-vmlinuz")
		os.Remove(got)
		out, err := l.run(cl, "timeout", "10", "tftp", "10.77.8.2", "-m", "binary", "-c", "get", "live/vmlinuz", got)
		if b, _ := os.ReadFile(got); err != nil || string(b) != "k" {
			t.Errorf("tftp through the firewall a user's share opened: %v %s (got %q)\n%s", err, out, b, tail(filepath.Join(l.dir, logName), 20))
		}
		out, err = l.run(cl, "curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", "http://10.77.8.2/live/vmlinuz")
		if err != nil || string(out) != "200" {
			t.Errorf("HTTP through the firewall a user's share opened: %v %s", err, out)
		}
	}

	start := time.Now()
	srv := share("sharecd-user.log")
	if n := strings.Count(ruleset(), tagged); n != 3 {
		t.Errorf("%d rules tagged %s while sharing, want 3", n, tagged)
	}
	fetch("sharecd-user.log")
	if err := stop(srv, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, tail(filepath.Join(l.dir, "sharecd-user.log"), 20))
	}
	if after := ruleset(); after != before {
		t.Errorf("the ruleset after a user's share stopped differs:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// kill -9: nothing runs to take the rules back, so the next start must.
	srv = share("sharecd-killed.log")
	stop(srv, syscall.SIGKILL, 15*time.Second)
	if n := strings.Count(ruleset(), tagged); n != 3 {
		t.Errorf("%d rules tagged %s after kill -9, want the killed run's 3", n, tagged)
	}
	srv = share("sharecd-again.log")
	if n := strings.Count(ruleset(), tagged); n != 3 {
		t.Errorf("%d rules tagged %s after a start following kill -9, want 3 (the leftovers gone)", n, tagged)
	}
	fetch("sharecd-again.log")
	if err := stop(srv, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, tail(filepath.Join(l.dir, "sharecd-again.log"), 20))
	}
	if after := ruleset(); after != before {
		t.Errorf("the ruleset after the restarted share stopped differs:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// Without cap_net_admin nft answers nothing, not even a listing: the share cannot know that
	// clients would get through, and refuses, in one line after the DHCP check's log, before
	// serving.
	out, err := l.run(l.server, asUser(oldBin)...)
	var errLines []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasPrefix(line, "time=") {
			errLines = append(errLines, line)
		}
	}
	if exitCode(err) != 1 || len(errLines) != 1 || !strings.HasPrefix(errLines[0], "sharecd: ") ||
		!strings.Contains(errLines[0], "firewall may block the clients") || !strings.Contains(errLines[0], "CAP_NET_ADMIN") ||
		strings.Contains(string(out), "msg=sharing") {
		t.Errorf("a share without cap_net_admin: exit %d, want 1 and one line saying the firewall may block:\n%s", exitCode(err), out)
	}
	if after := ruleset(); after != before {
		t.Errorf("the refused share changed the ruleset:\n%s", after)
	}
	t.Logf("four shares as nobody in %v", time.Since(start).Round(time.Second))
}
