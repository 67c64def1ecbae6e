package dhcp

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// Well-known ports. Port67 takes the clients' broadcast DISCOVERs; Port4011 is
// the PXE "boot server" port, where ROMs send their unicast boot-server REQUEST
// (PXE spec 2.1 §2.2.6) once they have an address from the router.
const (
	Port67   = dhcpv4.ServerPort
	Port4011 = 4011
	// clientPort is where broadcast replies go.
	clientPort = dhcpv4.ClientPort
)

// DefaultBIOSFile is what a BIOS client gets when Proxy.BootFile is nil.
const DefaultBIOSFile = "pxelinux.0"

// Proxy is a proxy-DHCP server for PXE clients. Zero fields mean the default;
// only ServerIP is required.
//
// What it sends, and why (PXE spec 2.1 §2.2; dnsmasq src/rfc2131.c; pixiecore
// dhcp.go and pxe.go; checked against QEMU's SeaBIOS+iPXE and OVMF ROMs):
//
//   - DISCOVER on 67 → OFFER, broadcast: yiaddr 0, siaddr/option 54/sname =
//     ServerIP, file = the boot file, option 60 "PXEClient", option 97 echoed
//     if sent. The router's offer gives the address; ours only the boot info.
//   - BIOS offers carry option 43 with discovery control 0x08 ("boot the file in
//     this offer, no menu, no discovery"), like pixiecore and like dnsmasq itself
//     when it has a boot file but no pxe-service menu. A ROM honouring it boots
//     without another round trip. dnsmasq's menu flow (discovery control 3 + a
//     boot-server list, no file) also works, but needs the menu round trip on
//     4011 to succeed and buys nothing with a single loader. In the lab, QEMU's
//     SeaBIOS+iPXE ROM took pxelinux.0 straight from this offer (TFTP read right
//     after the router's ACK, no 4011 exchange). ROMs that do boot-server
//     discovery anyway (Intel "UNDI, PXE-2.0 (build 071)" sends a 4011 REQUEST
//     with arch 0: pixiecore#132) are answered there with the same file.
//   - UEFI offers have no option 43 (an EDK2 PxeBcDxe offer without it is a
//     "BINL" offer, which makes the firmware ask on 4011: pixiecore's approach;
//     OVMF did exactly that in the lab, then read the file from the 4011 ACK),
//     but do carry siaddr and file, for firmware that never asks on 4011 and
//     boots straight from the offer (dnsmasq's dhcp-boot path). Both ways lead
//     to the same file.
//   - REQUEST (or INFORM) on 4011 → ACK, unicast back to the sender, for every
//     architecture, with option 43 sub-option 71 (boot item) echoed when the
//     client sent one: the PXE spec's boot-server reply, as dnsmasq sends it.
//   - Never: a REQUEST on 67 (the client accepting the router's offer), any
//     non-PXE client, the initramfs's "Linux ipconfig", address or lease options.
type Proxy struct {
	// ServerIP is this host's IPv4 address on the LAN: the TFTP server the
	// clients are sent to, and the proxy's server identifier. Required.
	ServerIP net.IP

	// BootFile names the file a client boots (a path on the TFTP server), by
	// its architecture and whether its ROM is iPXE. ok = false means "nothing
	// for this client": it is then ignored and the router's DHCP answer stands
	// alone. Nil: BIOS (arch 0) gets DefaultBIOSFile, everything else nothing.
	BootFile func(c Client) (file string, ok bool)

	// Refuse says a client is not to be answered at all, by its MAC: it then boots as if
	// there were no PXE server (its next boot device). Nil refuses no one.
	Refuse func(mac net.HardwareAddr) bool

	// Allow says whether a client's network is served: a relay's giaddr and a 4011
	// sender must pass it (checkAllowed says why). Nil allows everyone.
	Allow func(netip.Addr) bool

	// Log gets one debug line per ignored packet (with the MAC and the reason)
	// and one info line per answer. Nil discards.
	Log *slog.Logger

	// OnEvent, if set, is called after each reply is sent. It may be called from
	// two goroutines at once (ports 67 and 4011) and must not block for long.
	OnEvent func(Event)

	// dest, if set, replaces replyDest. Tests on 127.0.0.1 use it so that no
	// broadcast ever leaves through a real interface.
	dest func(req *dhcpv4.DHCPv4, port int, src net.Addr) net.Addr
}

// Event reports one answer sent to a client.
type Event struct {
	Time     time.Time
	Kind     string // "offer" (port 67) or "ack" (port 4011)
	MAC      net.HardwareAddr
	IP       net.IP // the client's address if known (ACK: ciaddr or source address); else nil
	Arch     iana.Arch
	BootFile string
}

// Event kinds.
const (
	EventOffer = "offer"
	EventAck   = "ack"
)

// Reply computes the answer to req, received on port (Port67 or Port4011). It is
// pure: no sockets, no clock, no state. A nil reply comes with an error saying why
// the packet is ignored (wrapping ErrNotPXE, ErrNotOurs, ErrUnsupportedArch,
// ErrNoBootFile or ErrBadPacket).
func (p *Proxy) Reply(req *dhcpv4.DHCPv4, port int) (*dhcpv4.DHCPv4, error) {
	resp, _, err := p.answer(req, port)
	return resp, err
}

// answer is Reply, also returning the client as describe saw it (for the event).
func (p *Proxy) answer(req *dhcpv4.DHCPv4, port int) (*dhcpv4.DHCPv4, clientInfo, error) {
	if req == nil {
		return nil, clientInfo{}, fmt.Errorf("%w: no packet", ErrBadPacket)
	}
	server := p.ServerIP.To4()
	if server == nil || server.IsUnspecified() {
		return nil, clientInfo{}, fmt.Errorf("proxy has no IPv4 ServerIP (%v)", p.ServerIP)
	}
	if req.OpCode != dhcpv4.OpcodeBootRequest {
		return nil, clientInfo{}, fmt.Errorf("%w: opcode %v, want BootRequest", ErrBadPacket, req.OpCode)
	}
	mt := req.MessageType()
	switch {
	case port == Port67 && mt == dhcpv4.MessageTypeDiscover:
	case port == Port4011 && (mt == dhcpv4.MessageTypeRequest || mt == dhcpv4.MessageTypeInform):
		// dnsmasq also takes INFORM as a boot-server request (rfc2131.c), and
		// some ROMs send it once they have an address.
	case port == Port67 && mt == dhcpv4.MessageTypeRequest:
		// The client is taking an address from the LAN's DHCP server (proxy
		// offers have yiaddr 0, so they can't be selected). Not ours; PXE ROMs
		// do their boot-server exchange with us on 4011 instead.
		return nil, clientInfo{}, fmt.Errorf("%w: %v on port %d is for the LAN's DHCP server (server id %v)",
			ErrNotOurs, mt, port, req.ServerIdentifier())
	case port == Port67 || port == Port4011:
		return nil, clientInfo{}, fmt.Errorf("%w: %v on port %d", ErrNotOurs, mt, port)
	default:
		return nil, clientInfo{}, fmt.Errorf("%w: port %d is neither %d nor %d", ErrNotOurs, port, Port67, Port4011)
	}

	c := describe(req)
	if p.Refuse != nil && p.Refuse(req.ClientHWAddr) {
		return nil, c, ErrRefused
	}
	file, err := bootFile(p.BootFile, c)
	if err != nil {
		return nil, c, err
	}
	if port == Port67 {
		resp := newReply(req, c, server, dhcpv4.MessageTypeOffer)
		// The client has no address yet: it can only hear a broadcast, so ask for one
		// whatever it said (iPXE sends flags 0). dnsmasq does the same. yiaddr stays 0:
		// addresses are the router's job.
		resp.SetBroadcast()
		addBootOptions(resp, c, server, file, false)
		return resp, c, nil
	}
	// Port 4011: the boot-server ACK. The client has its address from the router and
	// talks to us unicast, so keep its ciaddr and flags.
	resp := newReply(req, c, server, dhcpv4.MessageTypeAck)
	resp.ClientIPAddr = ipv4OrZero(req.ClientIPAddr)
	addBootOptions(resp, c, server, file, true)
	return resp, c, nil
}
