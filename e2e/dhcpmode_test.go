package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sharecd/sharecd/netboot/netlab"
)

// linkMAC returns an interface's MAC inside a namespace.
func (l *lab) linkMAC(ns, dev string) string {
	l.t.Helper()
	out, err := exec.Command("ip", "-n", ns, "-br", "link", "show", dev).Output()
	if err != nil {
		l.t.Fatal(err)
	}
	f := strings.Fields(string(out))
	if len(f) < 3 {
		l.t.Fatalf("ip link show %s: %q", dev, out)
	}
	return f[2]
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestCheckAndAutoMode: next to a plain router --check-dhcp says a share would serve in proxy
// mode (exit 0); once a dnsmasq proxy-DHCP joins the LAN it says a share would refuse (exit 1), and --share in auto mode refuses
// with one line naming the proxy's IP and MAC, while --dhcp-mode proxy shares anyway.
func TestCheckAndAutoMode(t *testing.T) {
	need(t)
	bin := sharecd(t)
	l := newLab(t, "10.77.6")
	l.startRouter()
	other := l.clientNS("10.77.6.50/24")
	otherMAC := l.linkMAC(other, "c0")
	dir := tinyMedium(t)

	out, err := l.run(l.server, bin, "--check-dhcp", "--iface", "s0")
	if exitCode(err) != 0 || !strings.Contains(string(out), "10.77.6.1") || !strings.Contains(string(out), "OK:") {
		t.Fatalf("--check-dhcp next to the router: exit %d\n%s", exitCode(err), out)
	}

	l.start(other, "proxy-dnsmasq.log", "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
		"--interface=c0", "--bind-interfaces", "--user=root", "--log-dhcp",
		"--dhcp-range=10.77.6.50,proxy", "--pxe-service=x86PC,Other boot server,pxelinux")
	l.waitListening(other, "udp", 67)

	out, err = netlab.Output(exec.Command("ip", "netns", "exec", l.server, bin, "--check-dhcp", "--iface", "s0", "--json"))
	var rep struct {
		Share struct {
			Mode    string `json:"mode"`
			Refusal string `json:"refusal"`
		} `json:"share"`
		Responders []struct {
			Kind     string `json:"kind"`
			ServerIP string `json:"server_ip"`
			MAC      string `json:"mac"`
		} `json:"responders"`
	}
	if jerr := json.Unmarshal(out, &rep); jerr != nil || exitCode(err) != 1 || rep.Share.Mode != "" || !strings.Contains(rep.Share.Refusal, "10.77.6.50") {
		t.Fatalf("--check-dhcp --json next to a proxy: exit %d, %v\n%s", exitCode(err), jerr, out)
	}
	kinds := map[string]string{}
	for _, r := range rep.Responders {
		kinds[r.ServerIP+" "+r.MAC] = r.Kind
	}
	if kinds["10.77.6.50 "+otherMAC] != "proxy-dhcp" || kinds["10.77.6.1 "+l.linkMAC(l.router, "r0")] != "dhcp" {
		t.Errorf("responders %v: want the router as dhcp and 10.77.6.50/%s as proxy-dhcp", kinds, otherMAC)
	}

	out, err = l.run(l.server, bin, "--share", "--source", dir, "--iface", "s0")
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	msg := lines[len(lines)-1] // the refusal is the last line (and should be the only one)
	if err == nil || !strings.HasPrefix(msg, "sharecd: ") || !strings.Contains(msg, "10.77.6.50") ||
		!strings.Contains(msg, otherMAC) || !strings.Contains(msg, "--dhcp-mode proxy") {
		t.Errorf("auto mode next to a proxy: want one refusing line naming 10.77.6.50, %s and --dhcp-mode proxy; got %v:\n%s", otherMAC, err, msg)
	}

	srv := l.start(l.server, "sharecd-proxy.log", bin, "--share", "--source", dir, "--iface", "s0", "--dhcp-mode", "proxy")
	logf := filepath.Join(l.dir, "sharecd-proxy.log")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := waitFor(ctx, logf, "msg=sharing"); err != nil {
		t.Fatalf("--dhcp-mode proxy did not share: %v\n%s", err, tail(logf, 20))
	}
	if b, _ := os.ReadFile(logf); !strings.Contains(string(b), "another PXE server") {
		t.Errorf("--dhcp-mode proxy did not warn about the other PXE server:\n%s", b)
	}
	stop(srv, syscall.SIGTERM, 10*time.Second)
}

// TestFullMode: on a LAN with no DHCP server, auto mode refuses and explains full mode; full mode
// gives the address-less interface 192.168.77.1/24, hands a real DHCP client (busybox udhcpc)
// an address, keeps the lease in its file, and removes the interface address on stop. Next to a
// DHCP server full mode refuses.
func TestFullMode(t *testing.T) {
	need(t)
	if _, err := exec.LookPath("busybox"); err != nil {
		netlab.Skipf(t, "needs busybox for udhcpc (bash .ci/run installs it)")
	}
	bin := sharecd(t)
	l := newLab(t, "10.77.7")
	cl := l.clientNS("10.77.7.50/24")
	l.ipn(cl, "addr", "flush", "dev", "c0")
	l.ipn(l.server, "addr", "flush", "dev", "s0")
	dir := tinyMedium(t)
	leases := filepath.Join(l.dir, "leases.json")

	out, err := l.run(l.server, bin, "--share", "--source", dir, "--iface", "s0")
	if err == nil || !strings.Contains(string(out), "--dhcp-mode full") {
		t.Errorf("auto mode on an empty LAN: want a refusal explaining --dhcp-mode full, got %v:\n%s", err, out)
	}

	srv := l.start(l.server, "sharecd-full.log", bin, "--share", "--source", dir, "--iface", "s0",
		"--dhcp-mode", "full", "--lease-file", leases, "--dhcp-watch", "2s", "--debug")
	logf := filepath.Join(l.dir, "sharecd-full.log")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := waitFor(ctx, logf, "msg=sharing"); err != nil {
		t.Fatalf("full mode did not start: %v\n%s", err, tail(logf, 20))
	}
	if a, _ := exec.Command("ip", "-n", l.server, "-br", "addr", "show", "s0").Output(); !strings.Contains(string(a), "192.168.77.1/24") {
		t.Errorf("s0 was not given 192.168.77.1/24: %s", a)
	}
	out, err = l.run(cl, "busybox", "udhcpc", "-f", "-q", "-n", "-i", "c0", "-t", "5", "-T", "2", "-s", "/bin/true")
	if err != nil || !strings.Contains(string(out), "lease of 192.168.77.") {
		t.Fatalf("udhcpc got no lease: %v\n%s\n--- sharecd ---\n%s", err, out, tail(logf, 20))
	}
	if b, _ := os.ReadFile(leases); !strings.Contains(string(b), l.linkMAC(cl, "c0")) {
		t.Errorf("lease file lacks the client:\n%s", b)
	}
	// A router is plugged into the classroom switch: full mode must stop handing out addresses.
	router := l.startRouter()
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := waitFor(ctx, logf, "another DHCP server appeared"); err != nil {
		t.Errorf("full mode kept offering next to a new DHCP server: %v\n%s", err, tail(logf, 20))
	}
	// While it answers, full mode stays paused: the watch's next probes, which find the router
	// again, must not resume it.
	const probed = "msg=\"DHCP watch\" answering=1"
	b, _ := os.ReadFile(logf)
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := waitForCount(ctx, logf, probed, bytes.Count(b, []byte(probed))+2); err != nil {
		t.Errorf("the watch did not probe again: %v\n%s", err, tail(logf, 20))
	}
	if b, _ := os.ReadFile(logf); strings.Contains(string(b), "other DHCP server is gone") {
		t.Errorf("full mode resumed while the router still answered:\n%s", tail(logf, 20))
	}
	// Unplugged again: full mode hands out addresses again. A fresh router is started below.
	stop(router, syscall.SIGTERM, 5*time.Second)
	ctx, cancel = context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	if err := waitFor(ctx, logf, "other DHCP server is gone"); err != nil {
		t.Errorf("full mode did not resume once the router was gone: %v\n%s", err, tail(logf, 20))
	}
	if err := stop(srv, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Errorf("sharecd on SIGTERM: %v\n%s", err, tail(logf, 20))
	}
	if a, _ := exec.Command("ip", "-n", l.server, "-br", "addr", "show", "s0").Output(); strings.Contains(string(a), "192.168.77.1") {
		t.Errorf("192.168.77.1 left on s0 after stop: %s", a)
	}

	l.ipn(l.server, "addr", "add", "10.77.7.2/24", "dev", "s0")
	l.startRouter()
	out, err = l.run(l.server, bin, "--share", "--source", dir, "--iface", "s0", "--dhcp-mode", "full", "--lease-file", leases)
	if err == nil || !strings.Contains(string(out), "10.77.7.1") || !strings.Contains(string(out), "already") {
		t.Errorf("full mode next to a DHCP server: want a refusal naming 10.77.7.1, got %v:\n%s", err, out)
	}
}
