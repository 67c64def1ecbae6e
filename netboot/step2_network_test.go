package netboot

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sharecd/sharecd/netboot/netcheck"
)

// responder classifies a DHCP answer captured from dnsmasq (netcheck's testdata).
func responder(t *testing.T, file string) netcheck.Responder {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("netcheck", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	mac, _ := net.ParseMAC("52:54:00:98:00:01")
	r, err := netcheck.Classify(b, netip.MustParseAddr("10.98.0.1"), mac)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// decide is the one DHCP verdict: the share acts on it, --check-dhcp prints it and the window
// shows it. Each mode against the LANs the check meets.
func TestDecide(t *testing.T) {
	plain := responder(t, "dnsmasq-plain-plain.dhcp")
	proxy := responder(t, "dnsmasq-proxy-pxe.dhcp")
	dnsmasq := netcheck.PortUse{SharePort: netcheck.SharePort{Proto: "udp", Port: 67, Service: "DHCP"}, Holder: "dnsmasq (pid 7)"}
	router := []netcheck.Responder{plain}
	tests := []struct {
		name     string
		mode     DHCPMode
		lan      []netcheck.Responder
		local    []netcheck.PortUse
		want     DHCPMode
		err      error
		contains string // in the refusal, or in a warning when the share goes ahead
	}{
		{"auto next to a router", DHCPAuto, router, nil, DHCPProxy, nil, ""},
		{"auto next to another PXE server", DHCPAuto, []netcheck.Responder{plain, proxy}, nil, "", ErrOtherPXEServer, "10.98.0.1 (MAC 52:54:00:98:00:01"},
		{"auto on an empty LAN", DHCPAuto, nil, nil, "", ErrNoDHCPServer, "eth0"},
		{"auto with a local dnsmasq", DHCPAuto, router, []netcheck.PortUse{dnsmasq}, "", ErrLocalConflict, "dnsmasq (pid 7)"},
		{"proxy whatever it finds", DHCPProxy, []netcheck.Responder{plain, proxy}, []netcheck.PortUse{dnsmasq}, DHCPProxy, nil, "clients may boot from either"},
		{"proxy on an empty LAN", DHCPProxy, nil, nil, DHCPProxy, nil, "no DHCP server answered"},
		{"full on an empty LAN", DHCPFull, nil, nil, DHCPFull, nil, ""},
		{"full next to a router", DHCPFull, router, nil, "", ErrDHCPServerPresent, "10.98.0.1"},
		{"off", DHCPOff, router, nil, DHCPOff, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := decide(tc.mode, netcheck.Report{Iface: "eth0", Responders: tc.lan}, tc.local)
			if v.Mode != tc.want || !errors.Is(v.Err, tc.err) || (tc.err == nil) != (v.Err == nil) {
				t.Fatalf("got mode %q, err %v; want %q, %v", v.Mode, v.Err, tc.want, tc.err)
			}
			said := v.Refusal + strings.Join(v.Warnings, "\n")
			if !strings.Contains(said, tc.contains) {
				t.Errorf("said %q, want %q in it", said, tc.contains)
			}
			if v.Err != nil && v.Refusal != v.Err.Error() {
				t.Errorf("refusal %q is not the error %q", v.Refusal, v.Err)
			}
		})
	}
}

// One list of ports: the firewall opens exactly the ports the check looks for holders of, with
// HTTP in both or in neither. (--check-dhcp once advised opening 111 and 2049 while the share
// opened 80 as well, and --tftp-only was refused for a busy port 80 it did not need.)
func TestOnePortList(t *testing.T) {
	for _, http := range []bool{true, false} {
		checked := map[string]bool{}
		for _, p := range DefaultPorts().uses(http) {
			checked[fmt.Sprintf("%s/%d", p.Proto, p.Port)] = true
		}
		opened := map[string]bool{}
		h := hole("eth0", DefaultPorts(), http)
		for _, p := range h.UDP {
			opened[fmt.Sprintf("udp/%d", p)] = true
		}
		for _, p := range h.TCP {
			opened[fmt.Sprintf("tcp/%d", p)] = true
		}
		if !maps.Equal(checked, opened) {
			t.Errorf("http %v: checked %v, opened %v", http, checked, opened)
		}
		if checked["tcp/80"] != http {
			t.Errorf("http %v: port 80 in the list: %v", http, checked["tcp/80"])
		}
	}
}

// The firewall's rules and firewalld's ports come in the order admins read them (and the e2e
// firewall tests quote): UDP 67, 69, 111, 4011; TCP 111, 2049, 80.
func TestHoleOrder(t *testing.T) {
	h := hole("s0", DefaultPorts(), true)
	if fmt.Sprint(h.UDP) != "[67 69 111 4011]" || fmt.Sprint(h.TCP) != "[111 2049 80]" {
		t.Errorf("hole UDP %v TCP %v", h.UDP, h.TCP)
	}
}

// choose is the one choice of interface, for a share with none named and for the window's
// preselection alike.
func TestChooseIface(t *testing.T) {
	eth0 := Iface{Name: "eth0", Index: 2, Addr: netip.MustParsePrefix("192.168.1.5/24")}
	wlan0 := Iface{Name: "wlan0", Index: 3, Addr: netip.MustParsePrefix("10.0.0.7/24")}
	routes := func(idx ...int) func() map[int]bool {
		return func() map[int]bool {
			m := map[int]bool{}
			for _, i := range idx {
				m[i] = true
			}
			return m
		}
	}
	for _, tc := range []struct {
		name  string
		found []Iface
		def   func() map[int]bool
		want  string
		err   error
	}{
		{"none", nil, routes(), "", ErrNoIface},
		{"the only one", []Iface{wlan0}, routes(), "wlan0", nil},
		{"the default route's", []Iface{eth0, wlan0}, routes(2), "eth0", nil},
		{"no default route among them", []Iface{eth0, wlan0}, routes(9), "", ErrChooseIface},
		{"two default routes", []Iface{eth0, wlan0}, routes(2, 3), "", ErrChooseIface},
	} {
		got, err := choose(tc.found, tc.def)
		if got.Name != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("%s: got %q, %v; want %q, %v", tc.name, got.Name, err, tc.want, tc.err)
		}
	}
}
