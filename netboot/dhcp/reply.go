package dhcp

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// The decisions Proxy and Server share, each made in one place: who the client is (describe),
// the skeleton of every answer (newReply), which file it boots (bootFile), what PXE options it
// gets (addBootOptions) and how the answer is reported (clientInfo.event). The proxy's answer is
// skeleton + PXE step; the full server's is skeleton + lease step + the same PXE step, so a
// client sees the same boot information whichever mode the share runs in.

// clientInfo is what one request says about its sender. describe computes it once per
// request; both servers, the boot-file choice and the events read it, so a client is never
// classified two ways (as when only the proxy folded arch 9 into 7).
type clientInfo struct {
	Client // Arch normalised (9 → 7) and IPXE: what BootFile is asked with

	MAC net.HardwareAddr
	// PXE: a PXE ROM or iPXE, the only clients that get boot options. notPXE says why not.
	PXE    bool
	notPXE string
	// rawArch is option 93 (or option 60's Arch field) as sent; hasArch says whether there was
	// one, knownArch whether normalizeArch knows the firmware, efi whether it is UEFI.
	rawArch            iana.Arch
	hasArch, knownArch bool
	efi                bool

	// Relay is giaddr, the relay agent the request came through; invalid when it came
	// straight from the segment. RelayInfo is the option 82 that relay added.
	Relay     netip.Addr
	RelayInfo []byte
	// GUID is option 97, bootItem sub-option 71 of option 43 (a boot-server REQUEST's choice).
	GUID     []byte
	bootItem []byte
}

// describe classifies the sender of req. It copies what it keeps, so the request may be reused.
func describe(req *dhcpv4.DHCPv4) clientInfo {
	kind, why := classify(req)
	c := clientInfo{
		Client:    Client{IPXE: kind == ipxe},
		MAC:       bytes.Clone(req.ClientHWAddr),
		PXE:       kind != notPXE,
		notPXE:    why,
		Relay:     addrOf(req.GatewayIPAddr),
		RelayInfo: bytes.Clone(req.Options.Get(dhcpv4.OptionRelayAgentInformation)),
		GUID:      bytes.Clone(req.Options.Get(dhcpv4.OptionClientMachineIdentifier)),
		bootItem:  vendorSubOption(req.Options.Get(dhcpv4.OptionVendorSpecificInformation), pxeBootItem),
	}
	c.rawArch, c.hasArch = clientArch(req)
	if c.hasArch {
		c.Arch, c.efi, c.knownArch = normalizeArch(c.rawArch)
	}
	return c
}

// bootFile chooses c's boot file with choose (Proxy.BootFile or Server.BootFile; nil: BIOS
// gets DefaultBIOSFile, nothing else). It is the only place either server picks one. The
// error says why c gets none, wrapping ErrNotPXE, ErrUnsupportedArch or ErrNoBootFile.
func bootFile(choose func(Client) (string, bool), c clientInfo) (string, error) {
	if !c.PXE {
		return "", fmt.Errorf("%w: %s", ErrNotPXE, c.notPXE)
	}
	if !c.hasArch {
		return "", fmt.Errorf("%w: no client architecture (option 93)", ErrUnsupportedArch)
	}
	if !c.knownArch {
		return "", fmt.Errorf("%w: %d (%v)", ErrUnsupportedArch, uint16(c.rawArch), c.rawArch)
	}
	// iPXE, its ROM's or the one a share handed out (undionly.kpxe, snponly.efi), may be given
	// an iPXE script rather than a loader: choose sees c.IPXE, and never hands iPXE to a client
	// that says it runs iPXE already (netboot-facts §1, boot loops).
	file, ok := DefaultBIOSFile, c.Arch == iana.INTEL_X86PC
	if choose != nil {
		file, ok = choose(c.Client)
	}
	if !ok || file == "" {
		return "", fmt.Errorf("%w: %d (%v)", ErrNoBootFile, uint16(c.rawArch), c.rawArch)
	}
	if len(file) > 127 {
		// The BOOTP file field holds 128 bytes including the terminating NUL; a truncated
		// name would make the client fetch the wrong file.
		return "", fmt.Errorf("%w: %q is longer than the 127 bytes of the BOOTP file field", ErrNoBootFile, file)
	}
	return file, nil
}

// newReply is the skeleton of every answer either server sends to req: message type mt,
// xid, flags, htype, chaddr and giaddr copied (RFC 2131 table 3), ciaddr and yiaddr zero
// (the caller fills in what its message needs), siaddr and option 54 = server.
//
// siaddr is set for every client, not only PXE ones: both servers are the next server for
// whatever they answer, and the kernel's own ip=dhcp takes its NFS root server from siaddr.
// Option 82 is echoed as RFC 3046 §2.2 asks of a server (the relay uses it to deliver the
// answer and strips it); option 97 only when the client sent one, because some Intel ROMs
// reject offers carrying an option 97 they did not send (pixiecore#21).
func newReply(req *dhcpv4.DHCPv4, c clientInfo, server net.IP, mt dhcpv4.MessageType) *dhcpv4.DHCPv4 {
	resp := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootReply,
		HWType:        req.HWType,
		ClientHWAddr:  bytes.Clone(req.ClientHWAddr),
		TransactionID: req.TransactionID,
		Flags:         req.Flags,
		ClientIPAddr:  net.IPv4zero,
		YourIPAddr:    net.IPv4zero,
		ServerIPAddr:  server,
		GatewayIPAddr: ipv4OrZero(req.GatewayIPAddr),
		Options:       make(dhcpv4.Options),
	}
	resp.UpdateOption(dhcpv4.OptMessageType(mt))
	resp.UpdateOption(dhcpv4.OptServerIdentifier(server))
	if len(c.RelayInfo) > 0 {
		resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionRelayAgentInformation, bytes.Clone(c.RelayInfo)))
	}
	if len(c.GUID) > 0 {
		resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, bytes.Clone(c.GUID)))
	}
	return resp
}

// addBootOptions is the PXE step, the same in both modes: file and sname, siaddr = server
// (the TFTP server), option 60 "PXEClient" and option 43 where the client needs it.
// bootServer says resp answers a boot-server REQUEST on port 4011.
//
//   - Option 60 "PXEClient" marks the offer as carrying PXE boot information (PXE spec 2.1
//     §2.2.1); a ROM treats a yiaddr-0 offer with it as a proxy offer, one with an address
//     as a combined DHCP+PXE offer (EDK2's "DHCP BINL" or "DHCP PXE10" offer types).
//   - Option 43 with discovery control 0x08 ("boot the file in this offer, no menu, no
//     discovery") for BIOS ROMs, as pixiecore does and dnsmasq when it has a boot file but
//     no pxe-service menu: a ROM honouring it boots without another round trip.
//   - None for UEFI: EDK2 PxeBcDxe then asks on 4011 (the BINL exchange), which both modes
//     answer with the same file; firmware that never asks boots the offer's file.
//   - On 4011, sub-option 71 (boot item) echoed when the client sent one: the PXE spec's
//     boot-server reply, as dnsmasq sends it; ROMs that did a menu discovery match on it.
func addBootOptions(resp *dhcpv4.DHCPv4, c clientInfo, server net.IP, file string, bootServer bool) {
	resp.BootFileName = file
	resp.ServerHostName = server.String()
	resp.ServerIPAddr = server
	resp.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient"))
	switch {
	case bootServer && len(c.bootItem) == 4:
		v := append([]byte{pxeBootItem, 4}, c.bootItem...)
		resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, append(v, pxeEnd)))
	case !bootServer && !c.efi:
		resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation,
			[]byte{pxeDiscoveryControl, 1, discoveryUseOfferFile, pxeEnd}))
	}
}

// event reports resp, sent to c, at now. ip is the client's address as far as the sender
// knows it (nil or 0.0.0.0: none).
func (c clientInfo) event(resp *dhcpv4.DHCPv4, ip net.IP, now time.Time) Event {
	ev := Event{Time: now, Kind: EventOffer, MAC: bytes.Clone(c.MAC), Arch: c.Arch, BootFile: resp.BootFileName}
	if resp.MessageType() == dhcpv4.MessageTypeAck {
		ev.Kind = EventAck
	}
	if v4 := ip.To4(); v4 != nil && !v4.IsUnspecified() {
		ev.IP = v4
	}
	return ev
}

func ipv4OrZero(ip net.IP) net.IP {
	if v4 := ip.To4(); v4 != nil {
		return v4
	}
	return net.IPv4zero
}

func addrOf(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip.To4())
	if !ok || a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}
