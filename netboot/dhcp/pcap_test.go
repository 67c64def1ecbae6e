package dhcp

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// udpPacket is one UDP datagram read from a capture.
type udpPacket struct {
	Src, Dst *net.UDPAddr
	Payload  []byte
}

// readPcap reads the IPv4/UDP datagrams of a classic libpcap file with Ethernet
// framing (what `tcpdump -w` writes). It is just enough for testdata/*.pcap.
func readPcap(path string) ([]udpPacket, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 24 {
		return nil, fmt.Errorf("%s: too short for a pcap header", path)
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4, 0xa1b23c4d: // µs or ns timestamps
		bo = binary.LittleEndian
	default:
		switch binary.BigEndian.Uint32(b) {
		case 0xa1b2c3d4, 0xa1b23c4d:
			bo = binary.BigEndian
		default:
			return nil, fmt.Errorf("%s: not a classic pcap file", path)
		}
	}
	if lt := bo.Uint32(b[20:]); lt != 1 {
		return nil, fmt.Errorf("%s: link type %d, want 1 (Ethernet)", path, lt)
	}
	var out []udpPacket
	for off := 24; off+16 <= len(b); {
		incl := int(bo.Uint32(b[off+8:]))
		off += 16
		if off+incl > len(b) {
			return nil, fmt.Errorf("%s: truncated record", path)
		}
		frame := b[off : off+incl]
		off += incl
		if len(frame) < 14+20 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 {
			continue
		}
		ip := frame[14:]
		ihl := int(ip[0]&0x0f) * 4
		if ip[9] != 17 || len(ip) < ihl+8 {
			continue
		}
		totLen := int(binary.BigEndian.Uint16(ip[2:]))
		if totLen > len(ip) {
			return nil, fmt.Errorf("%s: IP packet cut by the capture's snaplen", path)
		}
		udp := ip[ihl:totLen]
		out = append(out, udpPacket{
			Src:     &net.UDPAddr{IP: net.IP(ip[12:16]).To4(), Port: int(binary.BigEndian.Uint16(udp[0:]))},
			Dst:     &net.UDPAddr{IP: net.IP(ip[16:20]).To4(), Port: int(binary.BigEndian.Uint16(udp[2:]))},
			Payload: append([]byte(nil), udp[8:]...),
		})
	}
	return out, nil
}

// capturedDHCP returns the DHCP messages of a testdata capture that match keep.
func capturedDHCP(t testing.TB, name string, keep func(p udpPacket, m *dhcpv4.DHCPv4) bool) []*dhcpv4.DHCPv4 {
	t.Helper()
	pkts, err := readPcap(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []*dhcpv4.DHCPv4
	for _, p := range pkts {
		if !isDHCPPort(p.Src.Port) && !isDHCPPort(p.Dst.Port) {
			continue // the lab capture also holds the clients' TFTP reads
		}
		m, err := dhcpv4.FromBytes(p.Payload)
		if err != nil {
			t.Fatalf("%s: packet %v→%v does not parse: %v", name, p.Src, p.Dst, err)
		}
		if keep == nil || keep(p, m) {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no matching packet", name)
	}
	return out
}

// firstDiscover returns the first DISCOVER from mac in a capture.
func firstDiscover(t testing.TB, name, mac string) *dhcpv4.DHCPv4 {
	t.Helper()
	return capturedDHCP(t, name, func(p udpPacket, m *dhcpv4.DHCPv4) bool {
		return m.MessageType() == dhcpv4.MessageTypeDiscover && m.ClientHWAddr.String() == mac
	})[0]
}

func isDHCPPort(port int) bool { return port == Port67 || port == clientPort || port == Port4011 }
