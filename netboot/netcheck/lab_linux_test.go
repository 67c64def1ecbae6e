package netcheck

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"
)

var update = flag.Bool("update", false, "rewrite testdata/*.dhcp from dnsmasq's answers in the namespace lab")

// lab is two network namespaces joined by a veth pair: "srv" (d0, 10.98.0.1/24) where dnsmasq
// plays the other server, and "probe" (p0, no address) where the probe runs. Every DHCP packet
// of the test stays on that pair, never on the host's interfaces.
type lab struct {
	t          *testing.T
	srv, probe string
	srvMAC     string
}

func newLab(t *testing.T) *lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (CI runs this as root)")
	}
	for _, tool := range []string{"ip", "dnsmasq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (bash .ci/run installs it)", tool)
		}
	}
	id := fmt.Sprintf("%d-%s", os.Getpid(), rand.Text()[:6])
	l := &lab{t: t, srv: "scd-nc-srv-" + id, probe: "scd-nc-prb-" + id}
	for _, ns := range []string{l.srv, l.probe} {
		l.ip("netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		l.ip("-n", ns, "link", "set", "lo", "up")
	}
	l.ip("-n", l.srv, "link", "add", "d0", "type", "veth", "peer", "name", "p0", "netns", l.probe)
	l.ip("-n", l.srv, "link", "set", "d0", "address", "52:54:00:98:00:01")
	l.srvMAC = "52:54:00:98:00:01"
	l.ip("-n", l.srv, "addr", "add", "10.98.0.1/24", "dev", "d0")
	l.ip("-n", l.srv, "link", "set", "d0", "up")
	l.ip("-n", l.probe, "link", "set", "p0", "up")
	return l
}

func (l *lab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// dnsmasq starts dnsmasq in the server namespace with the role's arguments and stops it (by its
// PID) when the test ends.
func (l *lab) dnsmasq(args ...string) {
	l.t.Helper()
	dir := l.t.TempDir()
	base := []string{"netns", "exec", l.srv, "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
		"--interface=d0", "--bind-interfaces", "--user=root", "--log-dhcp",
		"--dhcp-leasefile=" + filepath.Join(dir, "leases"), "--pid-file=" + filepath.Join(dir, "pid")}
	cmd := exec.Command("ip", append(base, args...)...)
	logf, _ := os.Create(filepath.Join(dir, "dnsmasq.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if l.t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "dnsmasq.log"))
			l.t.Logf("dnsmasq log:\n%s", b)
		}
	})
	// dnsmasq is ready once its DHCP socket is bound.
	for i := 0; i < 50; i++ {
		out, _ := exec.Command("ip", "netns", "exec", l.srv, "ss", "-Hlnu", "sport", "= :67").Output()
		if len(strings.TrimSpace(string(out))) > 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	l.t.Fatal("dnsmasq did not bind port 67")
}

// in runs fn on an OS thread moved into namespace ns; the thread dies with the goroutine.
func in(t *testing.T, ns string, fn func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			done <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		fn()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// roles are dnsmasq in the three configurations netboot-facts §2 tells apart.
var roles = []struct {
	name string
	args []string
	want Kind
}{
	{"plain", []string{"--dhcp-range=10.98.0.100,10.98.0.150,255.255.255.0,2m", "--dhcp-option=option:router,10.98.0.1"}, KindDHCP},
	{"boot", []string{"--dhcp-range=10.98.0.100,10.98.0.150,255.255.255.0,2m", "--dhcp-option=option:router,10.98.0.1",
		"--dhcp-boot=pxelinux.0,,10.98.0.1"}, KindDHCPPXE},
	{"proxy", []string{"--dhcp-range=10.98.0.1,proxy", "--pxe-service=x86PC,Network boot,pxelinux",
		"--pxe-service=x86-64_EFI,Network boot,bootx64"}, KindProxy},
}

func TestProbeDnsmasq(t *testing.T) {
	for _, role := range roles {
		t.Run(role.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t)
			l.dnsmasq(role.args...)
			var rs []Responder
			var err error
			start := time.Now()
			in(t, l.probe, func() {
				p := &Probe{Iface: "p0", OnPacket: func(probe string, pkt []byte, src netip.Addr, mac net.HardwareAddr) {
					if *update {
						os.WriteFile(filepath.Join("testdata", "dnsmasq-"+role.name+"-"+probe+".dhcp"), pkt, 0o644)
					}
				}}
				rs, err = p.Run(context.Background())
			})
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 9*time.Second {
				t.Errorf("probe took %v, want about 4.5 s", d)
			}
			if len(rs) != 1 {
				t.Fatalf("got %d responders, want 1: %+v", len(rs), rs)
			}
			r := rs[0]
			if r.Kind != role.want || r.ServerIP != netip.MustParseAddr("10.98.0.1") || r.MACText != l.srvMAC {
				t.Errorf("responder %+v: want %s at 10.98.0.1 / %s", r, role.want, l.srvMAC)
			}
			if role.want != KindProxy && (r.Subnet != netip.MustParsePrefix("10.98.0.0/24") || r.Router != netip.MustParseAddr("10.98.0.1")) {
				t.Errorf("subnet %v router %v: want 10.98.0.0/24 and 10.98.0.1", r.Subnet, r.Router)
			}
		})
	}
}

// TestProbeAgainAndAgain: watching a LAN probes it every few seconds for hours. The router must
// see one client doing that, not a new client each time filling its tables (and, on routers that
// set an address aside for each offer, draining a small pool).
func TestProbeAgainAndAgain(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	l.dnsmasq("--dhcp-range=10.98.0.100,10.98.0.101,255.255.255.0,2m")
	clients := map[string]bool{}
	for i := range 3 {
		var rs []Responder
		var err error
		in(t, l.probe, func() {
			rs, err = (&Probe{Iface: "p0", OnPacket: func(_ string, pkt []byte, _ netip.Addr, _ net.HardwareAddr) {
				if m, err := dhcpv4.FromBytes(pkt); err == nil {
					clients[m.ClientHWAddr.String()] = true
				}
			}}).Run(context.Background())
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 1 {
			t.Fatalf("probe %d: %d responders, want the router", i+1, len(rs))
		}
	}
	if len(clients) != 1 {
		t.Errorf("the router answered %d different probe MACs, want 1: %v", len(clients), clients)
	}
}

// TestProbeNothing: an empty LAN gives no responder, and the check says why proxy is unsafe.
func TestProbeNothing(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	var rep Report
	var err error
	in(t, l.probe, func() { rep, err = Check(context.Background(), "p0", netip.Prefix{}, time.Second) })
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Responders) != 0 || rep.ProxySafe || !strings.Contains(rep.Verdict, "--dhcp-mode full") {
		t.Errorf("empty LAN: %+v", rep)
	}
}

// TestARPInUse: the server's address is taken, a free one is not, and the excepted MAC may hold it.
func TestARPInUse(t *testing.T) {
	l := newLab(t)
	l.ip("-n", l.probe, "addr", "add", "10.98.0.2/24", "dev", "p0")
	in(t, l.probe, func() {
		mac, err := ARPInUse("p0", netip.MustParseAddr("10.98.0.1"), nil, 0)
		if err != nil || mac.String() != l.srvMAC {
			t.Errorf("10.98.0.1: got %v, %v; want %s", mac, err, l.srvMAC)
		}
		mac, err = ARPInUse("p0", netip.MustParseAddr("10.98.0.77"), nil, 300*time.Millisecond)
		if err != nil || mac != nil {
			t.Errorf("10.98.0.77 (free): got %v, %v", mac, err)
		}
		srv, _ := net.ParseMAC(l.srvMAC)
		mac, err = ARPInUse("p0", netip.MustParseAddr("10.98.0.1"), srv, 300*time.Millisecond)
		if err != nil || mac != nil {
			t.Errorf("10.98.0.1 excepting its own MAC: got %v, %v", mac, err)
		}
	})
}
