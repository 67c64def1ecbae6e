// Package dhcp answers PXE clients on the LAN next to the LAN's own DHCP server.
//
// Proxy is a proxy-DHCP server (PXE spec 2.1, §2.2.4): it never hands out addresses,
// it only tells PXE ROMs where their boot file is. The router's DHCP server keeps
// doing the addressing, so sharing a CD cannot break anybody's network.
//
// Server is the full DHCP server for a LAN that has none (netboot's full mode). Both give
// a client the same boot information from the same code:
//
//   - pxe.go and reply.go: who the client is (describe), the reply skeleton (newReply), the
//     boot file (bootFile) and the PXE options (addBootOptions), shared by both servers;
//   - proxy.go: the proxy's replies (skeleton + PXE step);
//   - server.go: the full server's replies (skeleton + lease step + the same PXE step);
//   - leases.go: the lease table, its file and the saver, kept apart from the packet handler
//     so that no probe or file write runs under the table's lock;
//   - serve.go: the socket loops; listen_linux.go opens the sockets.
package dhcp

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// Reasons why a packet got no answer. Reply wraps one of them with the details,
// so callers can count them with errors.Is and still log something readable.
var (
	// ErrNotPXE: the sender is not a PXE ROM (plain DHCP client, the initramfs's
	// "Linux ipconfig", a phone...). Those belong to the LAN's DHCP server alone.
	ErrNotPXE = errors.New("not a PXE client")
	// ErrNotOurs: a message a proxy-DHCP server must stay out of, such as the
	// client's REQUEST accepting the router's offer.
	ErrNotOurs = errors.New("not for a proxy-DHCP server")
	// ErrUnsupportedArch: option 93 names an architecture we have no loader policy for.
	ErrUnsupportedArch = errors.New("unsupported client architecture")
	// ErrNoBootFile: BootFile has nothing for this architecture.
	ErrNoBootFile = errors.New("no boot file for this architecture")
	// ErrRefused: Refuse said the client is not to be answered (a seat that is not to boot).
	ErrRefused = errors.New("refused: this machine is not to boot from this server")
	// ErrBadPacket: not a well-formed BOOTREQUEST.
	ErrBadPacket = errors.New("malformed packet")
)

// Option codes the library has no names for. Option 175 is iPXE's own
// encapsulated option block (ipxe.org/cfg); its presence alone says "iPXE".
const optionIPXEEncap dhcpv4.GenericOptionCode = 175

// PXE vendor sub-options carried in option 43 (PXE spec 2.1, table 2-1).
const (
	pxeDiscoveryControl = 6  // PXE_DISCOVERY_CONTROL
	pxeBootItem         = 71 // PXE_BOOT_ITEM: type(2) + layer(2)
	pxeEnd              = 255
)

// Discovery control bit 3: "if set, and a boot file name is present in the initial
// DHCP or ProxyDHCP offer packet, download the boot file (do not prompt/menu/discover)".
const discoveryUseOfferFile = 0x08

// Client is what a boot file is chosen by.
type Client struct {
	Arch iana.Arch // option 93 as Reply normalises it: 9 (EFI BC) arrives as 7 (x86-64 UEFI)
	IPXE bool      // the ROM is iPXE (user class "iPXE" or option 175), which runs iPXE scripts
}

// clientKind says what kind of PXE client sent a packet.
type clientKind int

const (
	notPXE clientKind = iota
	pxeROM            // a firmware PXE ROM (BIOS UNDI, EDK2 PxeBcDxe, Intel Boot Agent, iPXE as a ROM)
	ipxe              // iPXE, recognised by its user class or option 175
)

// classify decides whether a request comes from a PXE client. The reason is set
// when it does not.
func classify(req *dhcpv4.DHCPv4) (clientKind, string) {
	vc := req.ClassIdentifier()
	// The live system's initramfs (klibc ipconfig, and the kernel's own ip=dhcp)
	// DHCPs again with this vendor class. It must get its address from the
	// router, never a boot file from us: answering would send it into a boot loop
	// or, with a buggy client, make it take our yiaddr 0.
	if strings.HasPrefix(vc, "Linux ipconfig") {
		return notPXE, "initramfs DHCP (vendor class " + strconv.Quote(vc) + ")"
	}
	isIPXE := req.Options.Has(optionIPXEEncap)
	for _, uc := range req.UserClass() {
		if uc == "iPXE" {
			isIPXE = true
		}
	}
	// dnsmasq's is_pxe_client and pixiecore both match the prefix: the full
	// value is "PXEClient:Arch:xxxxx:UNDI:yyyzzz" (PXE spec 2.1, §2.2.1).
	isROM := strings.HasPrefix(vc, "PXEClient")
	switch {
	case isIPXE:
		return ipxe, ""
	case isROM:
		return pxeROM, ""
	case vc == "":
		return notPXE, "no vendor class (option 60)"
	default:
		return notPXE, "vendor class " + strconv.Quote(vc)
	}
}

// clientArch returns the client's architecture: option 93 (RFC 4578 §2.1), else
// the "Arch:xxxxx" field of a PXEClient vendor class, which carries the same
// number. A PXE 2.1 client must send option 93; the fallback only exists for old
// ROMs that put it in option 60 alone.
func clientArch(req *dhcpv4.DHCPv4) (iana.Arch, bool) {
	if archs := req.ClientArch(); len(archs) > 0 {
		// RFC 4578 allows a list; every ROM seen sends one value, the one it boots.
		return archs[0], true
	}
	fields := strings.Split(req.ClassIdentifier(), ":")
	if len(fields) >= 3 && fields[0] == "PXEClient" && fields[1] == "Arch" {
		if n, err := strconv.ParseUint(fields[2], 10, 16); err == nil {
			return iana.Arch(n), true
		}
	}
	return 0, false
}

// normalizeArch folds the architecture values real firmware uses for the same
// machine into the one BootFile sees, and says whether we know the firmware type.
//
// 7 and 9 are both x86-64 UEFI in the field: RFC 4578 swapped the names of 7
// ("EFI BC") and 9 ("EFI x86-64") against what EDK2 and most vendors send (7), and
// some firmware sends 9 (LTSP's ltsp-dnsmasq.conf matches both). iana names 7
// EFI_X86_64, so 9 becomes 7.
func normalizeArch(a iana.Arch) (arch iana.Arch, efi, known bool) {
	switch a {
	case iana.INTEL_X86PC:
		return a, false, true
	case iana.EFI_BC:
		return iana.EFI_X86_64, true, true
	case iana.EFI_IA32, iana.EFI_X86_64, iana.EFI_ARM32, iana.EFI_ARM64:
		return a, true, true
	}
	// Everything else: HTTP-boot values (15–20) come from "HTTPClient", not PXE;
	// Itanium, PC98, U-Boot, RISC-V... have no loader here. Ignore them politely.
	return a, false, false
}

// vendorSubOption returns PXE sub-option code from an option 43 value, or nil.
// Option 43 is a TLV list (PXE spec 2.1 §2.2.5); a truncated list yields nil.
func vendorSubOption(opt43 []byte, code byte) []byte {
	for len(opt43) > 0 {
		c := opt43[0]
		if c == 0 { // pad
			opt43 = opt43[1:]
			continue
		}
		if c == pxeEnd || len(opt43) < 2 {
			return nil
		}
		n := int(opt43[1])
		if len(opt43) < 2+n {
			return nil
		}
		if c == code {
			return bytes.Clone(opt43[2 : 2+n])
		}
		opt43 = opt43[2+n:]
	}
	return nil
}
