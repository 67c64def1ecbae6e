package dhcp

import (
	"net"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// FuzzReply feeds arbitrary bytes through the parser and Reply on both ports:
// anything on the LAN can send us anything, and nothing may panic.
func FuzzReply(f *testing.F) {
	for _, name := range []string{"seabios-ipxe-discover.pcap", "ovmf-pxebc-discover.pcap",
		"ovmf-ipxe-discover.pcap", "lab-proxy-exchange.pcap"} {
		pkts, err := readPcap("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range pkts {
			f.Add(p.Payload)
		}
	}
	f.Add([]byte{})
	f.Add(make([]byte, 240))
	p := &Proxy{ServerIP: net.IPv4(10, 77, 0, 2), BootFile: testBootFile}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		for _, port := range []int{Port67, Port4011} {
			resp, err := p.Reply(req, port)
			if (resp == nil) == (err == nil) {
				t.Fatalf("Reply = %v, %v: want exactly one of them", resp, err)
			}
			if resp != nil {
				if !resp.YourIPAddr.Equal(net.IPv4zero) {
					t.Fatalf("yiaddr %v", resp.YourIPAddr)
				}
				if _, err := dhcpv4.FromBytes(resp.ToBytes()); err != nil {
					t.Fatalf("reply does not re-parse: %v", err)
				}
			}
		}
		// The whole receive path, as Serve runs it, without sockets.
		_ = describe(req).event(req, proxyClientIP(req, Port4011, &net.UDPAddr{}), time.Time{})
	})
}
