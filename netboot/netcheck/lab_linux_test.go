package netcheck

import (
	"context"
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/sharecd/sharecd/netboot/netlab"
)

var update = flag.Bool("update", false, "rewrite testdata/*.dhcp from dnsmasq's answers in the namespace lab")

// TestMain first removes what an earlier, killed run of these tests left: its namespaces and the
// processes in them (netlab.RemoveLeftovers).
func TestMain(m *testing.M) {
	netlab.RemoveLeftovers(os.Stderr)
	os.Exit(m.Run())
}

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
	netlab.Require(t, "dnsmasq", "ss")
	l := &lab{t: t, srv: netlab.Namespace(t, "scd-nc-srv"), probe: netlab.Namespace(t, "scd-nc-prb"), srvMAC: "52:54:00:98:00:01"}
	netlab.IP(t, l.srv, "link", "add", "d0", "address", l.srvMAC, "type", "veth", "peer", "name", "p0", "netns", l.probe)
	netlab.IP(t, l.srv, "addr", "add", "10.98.0.1/24", "dev", "d0")
	netlab.IP(t, l.srv, "link", "set", "d0", "up")
	netlab.IP(t, l.probe, "link", "set", "p0", "up")
	return l
}

// dnsmasq starts dnsmasq in the server namespace with the role's arguments; it stops when the
// test ends.
func (l *lab) dnsmasq(args ...string) { netlab.Dnsmasq(l.t, l.srv, "d0", args...) }

// in runs fn in namespace ns.
func in(t *testing.T, ns string, fn func()) {
	t.Helper()
	if err := netlab.In(ns, func() error { fn(); return nil }); err != nil {
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

// TestProbeNothing: an empty LAN gives no responder.
func TestProbeNothing(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	var rep Report
	var err error
	in(t, l.probe, func() { rep, err = Check(context.Background(), "p0", netip.Prefix{}, time.Second, nil) })
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Responders) != 0 {
		t.Errorf("empty LAN: %+v", rep)
	}
}

// TestARPInUse: the server's address is taken, a free one is not, and the excepted MAC may hold it.
func TestARPInUse(t *testing.T) {
	l := newLab(t)
	netlab.IP(t, l.probe, "addr", "add", "10.98.0.2/24", "dev", "p0")
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
