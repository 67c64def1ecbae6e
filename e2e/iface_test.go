package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sharecd/sharecd/netboot/netlab"
)

// TestShareSurvivesInterfaceFlaps pulls the server's cable and takes its address away while
// sharing: each is reported, and when it is back clients are served again without a restart.
func TestShareSurvivesInterfaceFlaps(t *testing.T) {
	need(t)
	if _, err := exec.LookPath("tftp"); err != nil {
		netlab.Skipf(t, "needs tftp (bash .ci/run installs it)")
	}
	bin := sharecd(t)
	l := newLab(t, "10.77.7")
	l.startRouter()
	cl := l.clientNS("10.77.7.50/24")
	srv := l.start(l.server, "sharecd.log", bin, "--share", "--source", tinyMedium(t), "--iface", "s0", "--debug")
	logPath := filepath.Join(l.dir, "sharecd.log")
	wait := func(needle string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := waitFor(ctx, logPath, needle); err != nil {
			t.Fatalf("%v\n%s", err, tail(logPath, 20))
		}
	}
	// A client retries, as PXE ROMs do: a veth just set up again takes a moment to pass packets
	// (its carrier settles), so the fetch is tried a few times before it counts as failed.
	fetch := func(when string) {
		t.Helper()
		var out []byte
		var err error
		for range 5 {
			if out, err = l.run(cl, "tftp", "10.77.7.2", "-m", "binary", "-c", "get", "live/vmlinuz", "/dev/null"); err == nil && len(out) == 0 {
				return
			}
		}
		t.Errorf("tftp %s, 5 tries: %v %s", when, err, out)
	}
	wait("msg=sharing")
	fetch("before")

	l.ipn(l.server, "link", "set", "s0", "down")
	wait("interface lost its link")
	l.ipn(l.server, "link", "set", "s0", "up")
	wait("interface has its link again")
	fetch("after the link came back")

	l.ipn(l.server, "addr", "del", "10.77.7.2/24", "dev", "s0")
	wait("interface lost its address")
	l.ipn(l.server, "addr", "add", "10.77.7.2/24", "dev", "s0")
	wait("interface has its address again")
	fetch("after the address came back")

	if err := stop(srv, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatal(err)
	}
}
