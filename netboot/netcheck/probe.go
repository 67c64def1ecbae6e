package netcheck

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// probeMACPrefix starts every MAC the probe sends from: locally administered (bit 1 of the first
// byte), unicast, and "sc" for sharecd. sharecd's own full DHCP server ignores DISCOVERs from it,
// so that watching the LAN while serving costs no lease.
const probeMACPrefix = "\x02sc"

// IsProbeMAC reports whether mac is one the probe sends from.
func IsProbeMAC(mac net.HardwareAddr) bool {
	return len(mac) == 6 && string(mac[:3]) == probeMACPrefix
}

// probeMAC is the MAC the probe sends from on ifc: always the same one for an interface, so that
// a router sees one client however often the LAN is watched. A fresh MAC each time would make it
// set an address aside for every probe and, on a small pool, run out (seen in the lab: dnsmasq
// went silent after a few minutes of probes every 2 s).
func probeMAC(ifc *net.Interface) net.HardwareAddr {
	sum := sha256.Sum256(append([]byte(ifc.Name+"\x00"), ifc.HardwareAddr...))
	mac := make(net.HardwareAddr, 6)
	copy(mac, probeMACPrefix)
	copy(mac[3:], sum[:3])
	return mac
}

// Probe sends DISCOVERs on one interface and collects every answer. Zero fields mean "default".
type Probe struct {
	Iface string
	// Wait is how long answers are collected; 0 = 4.5 s: dnsmasq pings an address for up to 3 s
	// before it offers it, and many routers run dnsmasq. The DISCOVERs are sent at the start
	// and again after 1.5 s (or half of Wait), in case the first ones were lost.
	Wait time.Duration
	// Ignore drops answers from these MACs (this host's own servers when watching while serving).
	Ignore []net.HardwareAddr
	// OnPacket, if set, sees every DHCP reply to the probe before classification (the capture
	// the tests' -update flag writes to testdata).
	OnPacket func(probe string, pkt []byte, src netip.Addr, mac net.HardwareAddr)
}

// Run probes and returns the responders, one per server (IP and MAC), in order of arrival.
// It needs CAP_NET_RAW; it works whether or not the interface has an address, and whatever
// holds ports 67 and 68 on this host.
func (p *Probe) Run(ctx context.Context) ([]Responder, error) {
	wait := p.Wait
	if wait <= 0 {
		wait = 4500 * time.Millisecond
	}
	ifc, err := net.InterfaceByName(p.Iface)
	if err != nil {
		return nil, fmt.Errorf("probing %s for DHCP servers: %w", p.Iface, err)
	}
	conn, err := openRaw(ifc)
	if err != nil {
		return nil, fmt.Errorf("probing %s for DHCP servers: %w", p.Iface, err)
	}
	defer conn.Close()

	mac := probeMAC(ifc)
	discovers, err := probeDiscovers(mac)
	if err != nil {
		return nil, err
	}
	send := func() error {
		for _, d := range discovers {
			if err := conn.sendBroadcast(udpFrame(d.msg.ToBytes())); err != nil {
				return fmt.Errorf("sending a DISCOVER on %s: %w", p.Iface, err)
			}
		}
		return nil
	}
	if err := send(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	resend := time.Now().Add(min(1500*time.Millisecond, wait/2))
	var out []Responder
	buf := make([]byte, 65536)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if !resend.IsZero() && time.Now().After(resend) {
			resend = time.Time{}
			if err := send(); err != nil {
				return nil, err
			}
		}
		n, from, err := conn.recv(buf, 100*time.Millisecond)
		if err != nil {
			return nil, fmt.Errorf("reading DHCP answers on %s: %w", p.Iface, err)
		}
		if n == 0 || ignored(from, p.Ignore) {
			continue
		}
		src, payload, ok := dhcpReply(buf[:n])
		if !ok || len(payload) < 240 {
			continue
		}
		which := ""
		xid := dhcpv4.TransactionID(payload[4:8])
		for _, d := range discovers {
			if d.msg.TransactionID == xid && bytesEqual(payload[28:34], mac) {
				which = d.name
			}
		}
		if which == "" {
			continue // another client's answer
		}
		if p.OnPacket != nil {
			p.OnPacket(which, append([]byte(nil), payload...), src, from)
		}
		r, err := Classify(payload, src, from)
		if err != nil {
			continue
		}
		r.Answered = []string{which}
		out = add(out, r)
	}
	return out, nil
}

// add merges r into the list: one entry per server IP and MAC.
func add(rs []Responder, r Responder) []Responder {
	for i, x := range rs {
		if x.ServerIP == r.ServerIP && x.MACText == r.MACText {
			rs[i] = merge(x, r)
			return rs
		}
	}
	return append(rs, r)
}

type discover struct {
	name string
	msg  *dhcpv4.DHCPv4
}

// probeDiscovers builds the two DISCOVERs: a plain one, as any OS sends, and one looking like a
// BIOS PXE ROM (options 60, 93, 94, 97), which PXE servers and proxies answer. Both ask for a
// broadcast answer: the probe's MAC is not the interface's, so a unicast answer to it would not
// reach us. Each has its own xid, which tells which one a reply answers.
func probeDiscovers(mac net.HardwareAddr) ([]discover, error) {
	plain, err := dhcpv4.NewDiscovery(mac, dhcpv4.WithBroadcast(true),
		dhcpv4.WithRequestedOptions(dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter, dhcpv4.OptionDomainNameServer))
	if err != nil {
		return nil, fmt.Errorf("building a DISCOVER: %w", err)
	}
	guid := make([]byte, 17) // type 0 + a random UUID
	rand.Read(guid[1:])
	pxe, err := dhcpv4.NewDiscovery(mac, dhcpv4.WithBroadcast(true),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)),
		dhcpv4.WithGeneric(dhcpv4.OptionClientNetworkInterfaceIdentifier, []byte{1, 2, 1}),
		dhcpv4.WithGeneric(dhcpv4.OptionClientMachineIdentifier, guid),
		dhcpv4.WithRequestedOptions(dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter,
			dhcpv4.OptionVendorSpecificInformation, dhcpv4.OptionClassIdentifier,
			dhcpv4.OptionTFTPServerName, dhcpv4.OptionBootfileName))
	if err != nil {
		return nil, fmt.Errorf("building a PXE DISCOVER: %w", err)
	}
	return []discover{{"plain", plain}, {"pxe", pxe}}, nil
}

func ignored(mac net.HardwareAddr, list []net.HardwareAddr) bool {
	for _, m := range list {
		if bytesEqual(m, mac) {
			return true
		}
	}
	return false
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// udpFrame wraps a DHCP message from 0.0.0.0:68 to 255.255.255.255:67 in IPv4 and UDP headers.
func udpFrame(payload []byte) []byte {
	b := make([]byte, 28+len(payload))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	b[8] = 64 // TTL
	b[9] = 17 // UDP
	copy(b[16:20], net.IPv4bcast.To4())
	binary.BigEndian.PutUint16(b[10:], ipChecksum(b[:20]))
	binary.BigEndian.PutUint16(b[20:], 68)
	binary.BigEndian.PutUint16(b[22:], 67)
	binary.BigEndian.PutUint16(b[24:], uint16(8+len(payload)))
	// UDP checksum 0: "no checksum" is valid for IPv4 (RFC 768) and every server accepts it.
	copy(b[28:], payload)
	return b
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// dhcpReply picks the DHCP payload out of an IPv4 packet for UDP port 68.
func dhcpReply(ip []byte) (src netip.Addr, payload []byte, ok bool) {
	if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != 17 {
		return src, nil, false
	}
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ihl < 20 || total > len(ip) || total < ihl+8 {
		return src, nil, false
	}
	if binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
		return src, nil, false // a fragment: no DHCP offer needs one
	}
	udp := ip[ihl:total]
	if binary.BigEndian.Uint16(udp[2:]) != 68 {
		return src, nil, false
	}
	ulen := int(binary.BigEndian.Uint16(udp[4:]))
	if ulen < 8 || ulen > len(udp) {
		return src, nil, false
	}
	src, _ = netip.AddrFromSlice(ip[12:16])
	return src, udp[8:ulen], true
}
