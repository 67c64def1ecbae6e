// Package netcheck finds out what else answers DHCP on a LAN before sharecd answers a single
// packet: it probes an interface with a plain and a PXE-looking DISCOVER from a raw socket,
// classifies every responder, and lists the local programs already holding the ports a share
// needs. Classification is a pure function over the received packet, tested on offers captured
// from dnsmasq in each of its roles (testdata/README.md).
package netcheck

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Kind is what a DHCP responder is, as far as a PXE share is concerned.
type Kind string

// The kinds, from harmless to blocking (netboot-facts §2).
const (
	// KindDHCP hands out addresses and nothing for PXE: a home router. Proxy mode is made for it.
	KindDHCP Kind = "dhcp"
	// KindDHCPPXE hands out addresses and already sends boot information (a boot file, a TFTP
	// server, or option 60 "PXEClient"): PXE clients would boot from it, not from us.
	KindDHCPPXE Kind = "dhcp+pxe"
	// KindProxy is a competing proxy-DHCP server (WDS, FOG, iVentoy, dnsmasq's proxy mode): no
	// address (yiaddr 0), option 60 "PXEClient". Two proxies race for every client.
	KindProxy Kind = "proxy-dhcp"
	// KindOther answered an OFFER with no address and no PXE marker: broken, or something we
	// don't know. It is reported, and counts as "a DHCP server is here" for full mode.
	KindOther Kind = "other"
)

// rank orders kinds by how much they get in the way of a PXE share.
func (k Kind) rank() int {
	switch k {
	case KindDHCP:
		return 1
	case KindOther:
		return 2
	case KindDHCPPXE:
		return 3
	case KindProxy:
		return 4
	}
	return 0
}

// PXE reports whether clients booting from the network would be sent somewhere by this kind.
func (k Kind) PXE() bool { return k == KindDHCPPXE || k == KindProxy }

// Responder is one DHCP server that answered the probe.
type Responder struct {
	Kind       Kind             `json:"kind"`
	ServerIP   netip.Addr       `json:"server_ip"`           // option 54, else the packet's source
	MAC        net.HardwareAddr `json:"-"`                   // the frame's source: the server, or its relay
	MACText    string           `json:"mac"`                 // MAC as text, for JSON
	Relay      netip.Addr       `json:"relay,omitzero"`      // giaddr or a source other than the server id
	OfferedIP  netip.Addr       `json:"offered_ip,omitzero"` // yiaddr
	Subnet     netip.Prefix     `json:"subnet,omitzero"`     // yiaddr with option 1
	Router     netip.Addr       `json:"router,omitzero"`     // first address of option 3
	NextServer string           `json:"next_server,omitempty"`
	BootFile   string           `json:"boot_file,omitempty"`
	Vendor     string           `json:"vendor_class,omitempty"` // option 60 of the reply
	// Answered says which DISCOVERs it answered: "plain", "pxe" or both.
	Answered []string `json:"answered"`
}

// ErrNotOffer says a packet is not an answer to a DISCOVER.
var ErrNotOffer = errors.New("not a DHCP offer")

// Classify turns one reply to a DISCOVER into a Responder. src is the packet's IPv4 source and
// mac the Ethernet source of its frame. It is pure; a packet that is no OFFER gets ErrNotOffer.
//
// The rules (netboot-facts §2; PXE spec 2.1 §2.2.4; dnsmasq rfc2131.c):
//   - yiaddr 0 and option 60 "PXEClient…": a proxy-DHCP offer.
//   - an address plus PXE information — option 60 "PXEClient", option 66/67, a `file`, or option
//     43 (PXE vendor options) — is a DHCP server already doing PXE. siaddr alone does not count:
//     many routers (dnsmasq among them) put their own address there in every offer.
//   - an address and nothing else: a plain DHCP server.
func Classify(pkt []byte, src netip.Addr, mac net.HardwareAddr) (Responder, error) {
	m, err := dhcpv4.FromBytes(pkt)
	if err != nil {
		return Responder{}, fmt.Errorf("%w: %w", ErrNotOffer, err)
	}
	if m.OpCode != dhcpv4.OpcodeBootReply {
		return Responder{}, fmt.Errorf("%w: opcode %v", ErrNotOffer, m.OpCode)
	}
	if mt := m.MessageType(); mt != dhcpv4.MessageTypeOffer {
		return Responder{}, fmt.Errorf("%w: message type %v", ErrNotOffer, mt)
	}
	r := Responder{MAC: bytes.Clone(mac), MACText: mac.String()}
	r.ServerIP = addr4(m.ServerIdentifier())
	if !r.ServerIP.IsValid() {
		r.ServerIP = src
	}
	if !r.ServerIP.IsValid() {
		return Responder{}, fmt.Errorf("%w: no server identifier and no source address", ErrNotOffer)
	}
	if gi := addr4(m.GatewayIPAddr); gi.IsValid() {
		r.Relay = gi
	} else if src.IsValid() && src != r.ServerIP {
		r.Relay = src
	}
	r.OfferedIP = addr4(m.YourIPAddr)
	if r.OfferedIP.IsValid() {
		if mask := m.SubnetMask(); mask != nil {
			if ones, bits := mask.Size(); bits == 32 {
				r.Subnet = netip.PrefixFrom(r.OfferedIP, ones).Masked()
			}
		}
	}
	if rs := m.Router(); len(rs) > 0 {
		r.Router = addr4(rs[0])
	}
	r.Vendor = printable(m.ClassIdentifier())
	r.BootFile = printable(m.BootFileNameOption())
	if r.BootFile == "" {
		r.BootFile = printable(m.BootFileName)
	}
	r.NextServer = printable(m.TFTPServerName())
	if r.NextServer == "" {
		if si := addr4(m.ServerIPAddr); si.IsValid() && r.BootFile != "" {
			r.NextServer = si.String()
		}
	}
	pxeClass := strings.HasPrefix(r.Vendor, "PXEClient")
	pxeInfo := pxeClass || r.BootFile != "" || m.Options.Has(dhcpv4.OptionTFTPServerName) ||
		m.Options.Has(dhcpv4.OptionVendorSpecificInformation)
	switch {
	case !r.OfferedIP.IsValid() && pxeClass:
		r.Kind = KindProxy
	case !r.OfferedIP.IsValid():
		r.Kind = KindOther
	case pxeInfo:
		r.Kind = KindDHCPPXE
	default:
		r.Kind = KindDHCP
	}
	return r, nil
}

// merge folds b (the same server answering another DISCOVER) into a: the worse kind wins, and
// the fields a lacks are taken from b.
func merge(a, b Responder) Responder {
	if b.Kind.rank() > a.Kind.rank() {
		a.Kind = b.Kind
	}
	fill := func(dst *string, src string) {
		if *dst == "" {
			*dst = src
		}
	}
	fill(&a.BootFile, b.BootFile)
	fill(&a.NextServer, b.NextServer)
	fill(&a.Vendor, b.Vendor)
	if !a.OfferedIP.IsValid() {
		a.OfferedIP, a.Subnet = b.OfferedIP, b.Subnet
	}
	if !a.Router.IsValid() {
		a.Router = b.Router
	}
	for _, x := range b.Answered {
		if !contains(a.Answered, x) {
			a.Answered = append(a.Answered, x)
		}
	}
	return a
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func addr4(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip.To4())
	if !ok || a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}

// printable keeps a string field fit for a terminal: NULs end it, other control bytes go.
func printable(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' {
			return -1
		}
		return r
	}, s)
}
