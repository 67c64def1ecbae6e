package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sharecd/sharecd/netboot/netlab"
)

// TestSIGHUPRescansISODirectory runs the real `sharecd --share --source DIR` in a namespace of
// its own (a veth to another, DHCP off: nothing is answered outside the namespace), copies an ISO
// into DIR and deletes another, and sends SIGHUP: the log has one line for the medium added and
// one for the medium removed, and SIGTERM still ends the share cleanly.
func TestSIGHUPRescansISODirectory(t *testing.T) {
	netlab.Require(t, "xorriso")
	lab, err := filepath.Abs("../../netboot/testdata/debian-live-lab")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "isos")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	iso := func(name, label string) string {
		out := filepath.Join(dir, name)
		if msg, err := exec.Command("xorriso", "-as", "mkisofs", "-R", "-J", "-V", label, "-o", out, lab).CombinedOutput(); err != nil {
			t.Fatalf("xorriso: %v\n%s", err, msg)
		}
		return out
	}
	iso("a.iso", "LIVE_A")
	isoB := iso("b.iso", "LIVE_B")

	bin := filepath.Join(tmp, "sharecd")
	if out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ns, peer := netlab.Namespace(t, "scd-hup"), netlab.Namespace(t, "scd-hup")
	netlab.Veth(t, ns, "d0", peer, "p0")
	netlab.IP(t, ns, "addr", "add", "10.96.7.2/24", "dev", "d0")
	proc := netlab.Start(t, exec.Command("ip", "netns", "exec", ns, bin, "--share", "--source", dir, "--iface", "d0",
		"--dhcp-mode", "off", "--no-firewall-changes"))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sharecd's log:\n%s", proc.Log())
		}
	})
	waitFor := func(what, text string) {
		t.Helper()
		for end := time.Now().Add(60 * time.Second); !strings.Contains(proc.Log(), text); time.Sleep(100 * time.Millisecond) {
			if proc.Exited() || time.Now().After(end) {
				t.Fatalf("%s: no %q in the log", what, text)
			}
		}
	}
	waitFor("start", "msg=sharing")

	iso("c.iso", "LIVE_C")
	if err := os.Remove(isoB); err != nil {
		t.Fatal(err)
	}
	if err := proc.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("SIGHUP", `msg="medium added" medium=`+filepath.Join(dir, "c.iso"))
	waitFor("SIGHUP", `msg="medium removed" medium=`+isoB)
	for _, line := range strings.Split(proc.Log(), "\n") {
		if strings.Contains(line, `msg="SIGHUP`) || strings.Contains(line, `msg="medium `) {
			t.Log(line)
		}
	}
	if n := strings.Count(proc.Log(), `msg="medium `); n != 2 {
		t.Errorf("%d lines about media after one ISO added and one deleted, want 2", n)
	}
	if err := proc.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := proc.Wait(30 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}
