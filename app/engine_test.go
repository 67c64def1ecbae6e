package app

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/sharecd/sharecd/netboot/netcheck"
)

func TestCheckWords(t *testing.T) {
	router := netcheck.Responder{Kind: netcheck.KindDHCP, ServerIP: netip.MustParseAddr("192.168.1.1"),
		MACText: "52:54:00:00:00:01", OfferedIP: netip.MustParseAddr("192.168.1.77")}
	fog := netcheck.Responder{Kind: netcheck.KindProxy, ServerIP: netip.MustParseAddr("192.168.1.20"),
		MACText: "52:54:00:00:00:20", BootFile: "undionly.kpxe"}
	dnsmasq := netcheck.PortUse{SharePort: netcheck.SharePort{Proto: "udp", Port: 67, Service: "DHCP"},
		Process: "dnsmasq", PID: 812, Holder: "dnsmasq (pid 812)"}
	for _, tc := range []struct {
		name     string
		r        netcheck.Report
		conflict bool
		want     []string
	}{
		{"router only", netcheck.Report{Iface: "eth0", Responders: []netcheck.Responder{router}}, false,
			[]string{"Good: DHCP server 192.168.1.1", "no other network-boot server", "proxy-DHCP"}},
		{"another proxy", netcheck.Report{Iface: "eth0", Responders: []netcheck.Responder{router, fog}}, true,
			[]string{"Another network-boot server already answers here: proxy-DHCP server 192.168.1.20", "Switch the other one's network boot off"}},
		{"nobody", netcheck.Report{Iface: "eth1"}, true,
			[]string{"No router or DHCP server answered on eth1", "--dhcp-mode full"}},
		{"local dnsmasq", netcheck.Report{Iface: "eth0", Responders: []netcheck.Responder{router}, Local: []netcheck.PortUse{dnsmasq}}, true,
			[]string{"On this computer,", "dnsmasq", "Stop that program"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := checkWords(tc.r)
			text := res.Summary + " | " + res.Mode + " | " + res.Advice
			if !res.Checked || res.Conflict != tc.conflict {
				t.Errorf("checked %v conflict %v, want conflict %v", res.Checked, res.Conflict, tc.conflict)
			}
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("%q lacks %q", text, w)
				}
			}
		})
	}
}
