package e2e

import (
	"bytes"
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

// clientNS adds a plain host to a lab's LAN, for running real TFTP and NFS clients.
func (l *lab) clientNS(addr string) string {
	l.t.Helper()
	ns := "scd-cl-" + l.id
	l.addNS(ns)
	l.ipn(ns, "link", "set", "lo", "up")
	l.ipn(l.sw, "link", "add", "p-c0", "type", "veth", "peer", "name", "c0", "netns", ns)
	l.ipn(l.sw, "link", "set", "p-c0", "master", "br0", "up")
	l.ipn(ns, "addr", "add", addr, "dev", "c0")
	l.ipn(ns, "link", "set", "c0", "up")
	return ns
}

// runIn runs a command in a namespace with stdin.
func (l *lab) runIn(ns, stdin string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	return netlab.CombinedOutput(cmd)
}

func (l *lab) run(ns string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return netlab.CombinedOutput(exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, args...)...))
}

// TestShareServesAndLeavesNothing runs the real command in a namespace LAN and fetches what a
// client fetches with real tftp and libnfs clients, then stops it and checks every socket is gone.
func TestShareServesAndLeavesNothing(t *testing.T) {
	need(t, "tftp", "nfs-cp", "ss")
	iso := liveISO(t)
	bin := sharecd(t)
	l := newLab(t, "10.77.3")
	l.startRouter() // auto DHCP mode shares only next to the LAN's own DHCP server
	cl := l.clientNS("10.77.3.50/24")

	srv := l.start(l.server, "sharecd.log", bin, "--share", "--source", iso, "--iface", "s0", "--debug")
	serverLog := filepath.Join(l.dir, "sharecd.log")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := waitFor(ctx, serverLog, "msg=sharing"); err != nil {
		t.Fatalf("%v\n%s", err, tail(serverLog, 20))
	}

	want := filepath.Join(l.dir, "want-vmlinuz")
	if out, err := netlab.CombinedOutput(exec.Command("xorriso", "-osirrox", "on", "-indev", iso, "-extract", "/live/vmlinuz", want)); err != nil {
		t.Fatalf("xorriso: %v %s", err, out)
	}
	wantBytes, _ := os.ReadFile(want)

	menu := filepath.Join(l.dir, "got-menu")
	if out, err := l.run(cl, "tftp", "10.77.3.2", "-m", "binary", "-c", "get", "pxelinux.cfg/default", menu); err != nil {
		t.Fatalf("tftp: %v %s", err, out)
	}
	m, _ := os.ReadFile(menu)
	if !bytes.Contains(m, []byte("netboot=nfs nfsroot=10.77.3.2:/sharecd")) {
		t.Errorf("menu lacks the NFS root:\n%s", m)
	}
	for _, src := range []string{"tftp", "nfs"} {
		got := filepath.Join(l.dir, "got-vmlinuz-"+src)
		var out []byte
		var err error
		if src == "tftp" {
			out, err = l.run(cl, "tftp", "10.77.3.2", "-m", "binary", "-c", "get", "live/vmlinuz", got)
		} else {
			// libnfs asks the portmapper on 111 first, as klibc's nfsmount does.
			out, err = l.run(cl, "nfs-cp", "nfs://10.77.3.2/sharecd/live/vmlinuz", got)
		}
		if err != nil {
			t.Fatalf("%s: %v %s", src, err, out)
		}
		if b, _ := os.ReadFile(got); !bytes.Equal(b, wantBytes) || len(b) == 0 {
			t.Errorf("%s: got %d bytes of live/vmlinuz, want the ISO's %d", src, len(b), len(wantBytes))
		}
	}

	if err := stop(srv, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatalf("sharecd on SIGTERM: %v\n%s", err, tail(serverLog, 20))
	}
	out, _ := l.run(l.server, "ss", "-Hlnptu")
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("sockets left open after stop:\n%s", s)
	}
}

// tinyMedium makes the smallest directory sharecd takes for a live-boot medium.
func tinyMedium(t *testing.T) string {
	dir := t.TempDir()
	files := map[string]string{
		"isolinux/isolinux.cfg":    "default live\nlabel live\n kernel /live/vmlinuz\n append initrd=/live/initrd.img boot=live\n",
		"live/vmlinuz":             "k",
		"live/initrd.img":          "i",
		"live/filesystem.squashfs": "s",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestSharePortInUse checks that a DHCP server already on the host stops sharecd with one line
// naming it, and that sharecd leaves the other ports it opened closed again.
func TestSharePortInUse(t *testing.T) {
	need(t)
	bin := sharecd(t)
	l := newLab(t, "10.77.4")
	dir := tinyMedium(t)

	// NetworkManager's shared mode and libvirt run exactly this: a dnsmasq holding port 67.
	l.start(l.server, "other-dnsmasq.log", "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
		"--user=root", "--interface=s0", "--dhcp-range=10.77.4.200,10.77.4.210,1m",
		"--dhcp-leasefile="+filepath.Join(l.dir, "other.leases"))
	l.waitListening(l.server, "udp", 67)

	out, err := l.run(l.server, bin, "--share", "--source", dir, "--iface", "s0")
	msg := strings.TrimSpace(string(out))
	if err == nil {
		t.Fatalf("sharecd started next to another DHCP server: %s", msg)
	}
	if !strings.Contains(msg, "67") || !strings.Contains(msg, "dnsmasq (pid") || strings.Count(msg, "\n") > 0 {
		t.Errorf("want one line naming port 67 and dnsmasq, got:\n%s", msg)
	}
	ss, _ := l.run(l.server, "ss", "-Hlnptu")
	if strings.Contains(string(ss), "sharecd") {
		t.Errorf("sharecd left sockets open:\n%s", ss)
	}
}

func TestCommandErrors(t *testing.T) {
	bin := sharecd(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no such ISO", []string{"--share", "--source", "/nonexistent/live.iso", "--iface", "lo"}, "/nonexistent/live.iso does not exist"},
		{"not a live medium", []string{"--share", "--source", "/usr/share/doc", "--iface", "lo"}, "not a bootable live medium"},
		{"not an ISO", []string{"--share", "--source", "/etc/passwd", "--iface", "lo"}, "not an ISO 9660 image"},
		{"loopback", []string{"--share", "--source", tinyMedium(t), "--iface", "lo"}, "loopback"},
		{"no such interface", []string{"--share", "--source", tinyMedium(t), "--iface", "nosuch0"}, "interface nosuch0 not found"},
		{"bad flag", []string{"--shar"}, "see sharecd --help"},
		{"bad allow", []string{"--share", "--allow", "x"}, "CIDR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(bin, tc.args...).CombinedOutput()
			msg := strings.TrimSpace(string(out))
			if err == nil {
				t.Fatalf("exit 0: %s", msg)
			}
			if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("want one line with %q, got:\n%s", tc.want, msg)
			}
		})
	}
	for _, arg := range []string{"--help", "--version"} {
		if out, err := exec.Command(bin, arg).CombinedOutput(); err != nil || len(out) == 0 {
			t.Errorf("%s: %v %s", arg, err, out)
		}
	}
}
