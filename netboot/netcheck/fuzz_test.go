package netcheck

import (
	"net/netip"
	"testing"
	"unicode"
)

// FuzzClassify feeds the classifier arbitrary packets, seeded with the captured offers: it must
// never panic, and what it accepts must name a server and print cleanly.
func FuzzClassify(f *testing.F) {
	for _, name := range []string{"dnsmasq-plain-plain.dhcp", "dnsmasq-boot-plain.dhcp", "dnsmasq-proxy-pxe.dhcp"} {
		f.Add(captured(f, name))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		r, err := Classify(pkt, netip.Addr{}, dnsmasqMAC)
		if err != nil {
			return
		}
		if !r.ServerIP.IsValid() || r.Kind.rank() == 0 {
			t.Fatalf("accepted with no server or kind: %+v", r)
		}
		for _, s := range []string{r.BootFile, r.NextServer, r.Vendor, r.Describe()} {
			for _, c := range s {
				if unicode.IsControl(c) {
					t.Fatalf("control character in %q", s)
				}
			}
		}
		// Also the probe's own packet parsing.
		dhcpReply(pkt)
	})
}
