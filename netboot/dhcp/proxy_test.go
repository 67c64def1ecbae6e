package dhcp

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// The lab's proxy address (testdata/lab-proxy-exchange.pcap was made with it).
var labServerIP = net.IPv4(10, 77, 0, 2).To4()

// Captured clients (see testdata/README.md).
const (
	macSeaBIOS = "52:54:00:12:34:01" // SeaBIOS + iPXE ROM on an e1000, BIOS, arch 0
	macOVMF    = "52:54:00:12:34:02" // OVMF's own PxeBcDxe on virtio-net, arch 7
	macOVMFe1k = "52:54:00:12:34:03" // OVMF with an e1000: iPXE's EFI ROM first, then PxeBcDxe
)

// testBootFile is the loader table the tests use (the real one lives in netboot).
func testBootFile(c Client) (string, bool) {
	switch c.Arch {
	case iana.INTEL_X86PC:
		return "pxelinux.0", true
	case iana.EFI_IA32:
		return "bootia32.efi", true
	case iana.EFI_X86_64:
		return "bootx64.efi", true
	case iana.EFI_ARM64:
		return "bootaa64.efi", true
	}
	return "", false
}

func testProxy() *Proxy { return &Proxy{ServerIP: labServerIP, BootFile: testBootFile} }

// clone returns a deep copy of m, changed by mods.
func clone(t testing.TB, m *dhcpv4.DHCPv4, mods ...func(*dhcpv4.DHCPv4)) *dhcpv4.DHCPv4 {
	t.Helper()
	c, err := dhcpv4.FromBytes(m.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, mod := range mods {
		mod(c)
	}
	return c
}

func withArch(a uint16) func(*dhcpv4.DHCPv4) {
	return func(m *dhcpv4.DHCPv4) { m.UpdateOption(dhcpv4.OptClientArch(iana.Arch(a))) }
}

// bootRequest turns a captured DISCOVER into the unicast boot-server REQUEST a
// ROM sends to 4011 once the router gave it addr.
func bootRequest(addr net.IP) func(*dhcpv4.DHCPv4) {
	return func(m *dhcpv4.DHCPv4) {
		m.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeRequest))
		m.ClientIPAddr = addr
		m.Flags = 0
	}
}

// plainDiscover is what a non-PXE client (a laptop's dhclient) sends.
func plainDiscover(t testing.TB, vendorClass string) *dhcpv4.DHCPv4 {
	t.Helper()
	m, err := dhcpv4.NewDiscovery(net.HardwareAddr{0x52, 0x54, 0, 0xaa, 0xbb, 0xcc})
	if err != nil {
		t.Fatal(err)
	}
	if vendorClass != "" {
		m.UpdateOption(dhcpv4.OptClassIdentifier(vendorClass))
	}
	return m
}

func TestReply(t *testing.T) {
	seabios := firstDiscover(t, "seabios-ipxe-discover.pcap", macSeaBIOS)
	ovmf := firstDiscover(t, "ovmf-pxebc-discover.pcap", macOVMF)
	ipxeEFI := capturedDHCP(t, "ovmf-ipxe-discover.pcap", func(_ udpPacket, m *dhcpv4.DHCPv4) bool {
		return m.Options.Has(optionIPXEEncap)
	})[0]
	ovmfE1000 := capturedDHCP(t, "ovmf-ipxe-discover.pcap", func(_ udpPacket, m *dhcpv4.DHCPv4) bool {
		return !m.Options.Has(optionIPXEEncap)
	})[0]
	// From the lab run with the LAN's DHCP server (dnsmasq) next to us.
	lab := func(keep func(p udpPacket, m *dhcpv4.DHCPv4) bool) *dhcpv4.DHCPv4 {
		return capturedDHCP(t, "lab-proxy-exchange.pcap", keep)[0]
	}
	routerRequest := lab(func(p udpPacket, m *dhcpv4.DHCPv4) bool {
		return p.Dst.Port == Port67 && m.MessageType() == dhcpv4.MessageTypeRequest
	})
	ovmf4011 := lab(func(p udpPacket, m *dhcpv4.DHCPv4) bool {
		return p.Dst.Port == Port4011 && m.OpCode == dhcpv4.OpcodeBootRequest
	})
	httpBoot := lab(func(p udpPacket, m *dhcpv4.DHCPv4) bool {
		return strings.HasPrefix(m.ClassIdentifier(), "HTTPClient")
	})
	routerOffer := lab(func(p udpPacket, m *dhcpv4.DHCPv4) bool {
		return p.Src.IP.Equal(net.IPv4(10, 77, 0, 1)) && m.MessageType() == dhcpv4.MessageTypeOffer
	})
	clientIP := net.IPv4(10, 77, 0, 128).To4()
	pxeMenuItem := []byte{pxeDiscoveryControl, 1, 3, pxeBootItem, 4, 0x80, 0x00, 0x00, 0x00, pxeEnd}

	// scriptProxy gives BIOS iPXE ROMs an iPXE script, as netboot does.
	scriptProxy := &Proxy{ServerIP: labServerIP, BootFile: func(c Client) (string, bool) {
		if c.IPXE && c.Arch == iana.INTEL_X86PC {
			return "boot.ipxe", true
		}
		return testBootFile(c)
	}}
	tests := []struct {
		name    string
		req     *dhcpv4.DHCPv4
		port    int
		proxy   *Proxy // nil: testProxy()
		wantErr error  // nil: a reply is expected
		want    reply
	}{
		{name: "SeaBIOS iPXE DISCOVER", req: seabios, port: Port67,
			want: reply{typ: dhcpv4.MessageTypeOffer, file: "pxelinux.0", opt43: []byte{6, 1, 8, 255}, arch: 0}},
		{name: "SeaBIOS iPXE DISCOVER, iPXE gets a script", req: seabios, port: Port67, proxy: scriptProxy,
			want: reply{typ: dhcpv4.MessageTypeOffer, file: "boot.ipxe", opt43: []byte{6, 1, 8, 255}, arch: 0}},
		{name: "a BIOS ROM that is not iPXE gets the loader", port: Port67, proxy: scriptProxy,
			req: clone(t, seabios, func(m *dhcpv4.DHCPv4) {
				m.Options.Del(dhcpv4.OptionUserClassInformation)
				m.Options.Del(optionIPXEEncap)
			}),
			want: reply{typ: dhcpv4.MessageTypeOffer, file: "pxelinux.0", opt43: []byte{6, 1, 8, 255}, arch: 0}},
		{name: "OVMF PxeBcDxe DISCOVER", req: ovmf, port: Port67,
			want: reply{typ: dhcpv4.MessageTypeOffer, file: "bootx64.efi", arch: 7}},
		{name: "OVMF iPXE-EFI DISCOVER", req: ipxeEFI, port: Port67,
			want: reply{typ: dhcpv4.MessageTypeOffer, file: "bootx64.efi", arch: 7}},
		{name: "OVMF PxeBcDxe on e1000 DISCOVER", req: ovmfE1000, port: Port67,
			want: reply{typ: dhcpv4.MessageTypeOffer, file: "bootx64.efi", arch: 7}},
		{name: "OVMF boot-server REQUEST on 4011", req: ovmf4011, port: Port4011,
			want: reply{typ: dhcpv4.MessageTypeAck, file: "bootx64.efi", arch: 7, ciaddr: ovmf4011.ClientIPAddr}},
		{name: "BIOS boot-server REQUEST on 4011 (pixiecore#132: arch 0 there)", req: clone(t, seabios, bootRequest(clientIP)), port: Port4011,
			want: reply{typ: dhcpv4.MessageTypeAck, file: "pxelinux.0", arch: 0, ciaddr: clientIP}},
		{name: "boot-server REQUEST with boot item 71 echoes it",
			req: clone(t, seabios, bootRequest(clientIP), func(m *dhcpv4.DHCPv4) {
				m.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, pxeMenuItem))
			}), port: Port4011,
			want: reply{typ: dhcpv4.MessageTypeAck, file: "pxelinux.0", arch: 0, ciaddr: clientIP,
				opt43: []byte{pxeBootItem, 4, 0x80, 0, 0, 0, pxeEnd}}},
		{name: "INFORM on 4011 is a boot-server request too", req: clone(t, ovmf4011, func(m *dhcpv4.DHCPv4) {
			m.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeInform))
		}), port: Port4011, want: reply{typ: dhcpv4.MessageTypeAck, file: "bootx64.efi", arch: 7, ciaddr: ovmf4011.ClientIPAddr}},
		{name: "arch 9 is x64 UEFI", req: clone(t, ovmf, withArch(9)), port: Port67,
			want: reply{typ: dhcpv4.MessageTypeOffer, file: "bootx64.efi", arch: 7}},
		{name: "arch 6 IA32 UEFI", req: clone(t, ovmf, withArch(6)), port: Port67,
			want: reply{typ: dhcpv4.MessageTypeOffer, file: "bootia32.efi", arch: 6}},
		{name: "arch 11 ARM64 UEFI on 4011", req: clone(t, ovmf4011, withArch(11)), port: Port4011,
			want: reply{typ: dhcpv4.MessageTypeAck, file: "bootaa64.efi", arch: 11, ciaddr: ovmf4011.ClientIPAddr}},
		{name: "no option 97 sent, none echoed", req: clone(t, seabios, func(m *dhcpv4.DHCPv4) {
			m.Options.Del(dhcpv4.OptionClientMachineIdentifier)
		}), port: Port67, want: reply{typ: dhcpv4.MessageTypeOffer, file: "pxelinux.0", opt43: []byte{6, 1, 8, 255}}},
		{name: "arch only in option 60", req: clone(t, ovmf, func(m *dhcpv4.DHCPv4) {
			m.Options.Del(dhcpv4.OptionClientSystemArchitectureType)
		}), port: Port67, want: reply{typ: dhcpv4.MessageTypeOffer, file: "bootx64.efi", arch: 7}},
		{name: "iPXE without a PXEClient vendor class", req: clone(t, seabios, func(m *dhcpv4.DHCPv4) {
			m.Options.Del(dhcpv4.OptionClassIdentifier)
		}), port: Port67, want: reply{typ: dhcpv4.MessageTypeOffer, file: "pxelinux.0", opt43: []byte{6, 1, 8, 255}}},
		{name: "relayed DISCOVER keeps giaddr and option 82", req: clone(t, seabios, func(m *dhcpv4.DHCPv4) {
			m.GatewayIPAddr = net.IPv4(192, 168, 5, 1)
			m.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionRelayAgentInformation, []byte{1, 3, 'p', 'o', 'e'}))
		}), port: Port67, want: reply{typ: dhcpv4.MessageTypeOffer, file: "pxelinux.0", opt43: []byte{6, 1, 8, 255},
			giaddr: net.IPv4(192, 168, 5, 1), opt82: []byte{1, 3, 'p', 'o', 'e'}}},
		{name: "nil BootFile serves pxelinux.0 to BIOS", req: seabios, port: Port67, proxy: &Proxy{ServerIP: labServerIP},
			want: reply{typ: dhcpv4.MessageTypeOffer, file: DefaultBIOSFile, opt43: []byte{6, 1, 8, 255}}},

		// Ignored, with a reason.
		{name: "REQUEST on 67 is for the router (captured)", req: routerRequest, port: Port67, wantErr: ErrNotOurs},
		{name: "DISCOVER on 4011", req: seabios, port: Port4011, wantErr: ErrNotOurs},
		{name: "unknown port", req: seabios, port: 68, wantErr: ErrNotOurs},
		{name: "RELEASE on 67", req: clone(t, seabios, func(m *dhcpv4.DHCPv4) {
			m.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeRelease))
		}), port: Port67, wantErr: ErrNotOurs},
		{name: "OVMF HTTP boot DISCOVER (captured)", req: httpBoot, port: Port67, wantErr: ErrNotPXE},
		{name: "initramfs Linux ipconfig", req: plainDiscover(t, "Linux ipconfig"), port: Port67, wantErr: ErrNotPXE},
		{name: "Linux ipconfig even with a PXE user class", req: clone(t, plainDiscover(t, "Linux ipconfig"), func(m *dhcpv4.DHCPv4) {
			m.UpdateOption(dhcpv4.OptUserClass("iPXE"))
		}), port: Port67, wantErr: ErrNotPXE},
		{name: "plain DHCP client", req: plainDiscover(t, ""), port: Port67, wantErr: ErrNotPXE},
		{name: "other vendor class", req: plainDiscover(t, "android-dhcp-14"), port: Port67, wantErr: ErrNotPXE},
		{name: "a server's OFFER (captured)", req: routerOffer, port: Port67, wantErr: ErrBadPacket},
		{name: "arch 2 Itanium", req: clone(t, ovmf, withArch(2)), port: Port67, wantErr: ErrUnsupportedArch},
		{name: "arch 16 HTTP boot", req: clone(t, ovmf, withArch(16)), port: Port67, wantErr: ErrUnsupportedArch},
		{name: "no arch at all", req: clone(t, ovmf, func(m *dhcpv4.DHCPv4) {
			m.Options.Del(dhcpv4.OptionClientSystemArchitectureType)
			m.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient"))
		}), port: Port67, wantErr: ErrUnsupportedArch},
		{name: "arch 10 ARM32 has no loader", req: clone(t, ovmf, withArch(10)), port: Port67, wantErr: ErrNoBootFile},
		{name: "nil BootFile has nothing for UEFI", req: ovmf, port: Port67, proxy: &Proxy{ServerIP: labServerIP}, wantErr: ErrNoBootFile},
		{name: "too long a file name", req: seabios, port: Port67, wantErr: ErrNoBootFile, proxy: &Proxy{ServerIP: labServerIP,
			BootFile: func(Client) (string, bool) { return strings.Repeat("x", 128), true }}},
		{name: "nil packet", req: nil, port: Port67, wantErr: ErrBadPacket},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.proxy
			if p == nil {
				p = testProxy()
			}
			var before []byte
			if tc.req != nil {
				before = tc.req.ToBytes()
			}
			resp, err := p.Reply(tc.req, tc.port)
			if tc.req != nil && !bytes.Equal(before, tc.req.ToBytes()) {
				t.Error("Reply modified the request")
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || resp != nil {
					t.Fatalf("Reply = %v, %v; want nil, %v", resp, err, tc.wantErr)
				}
				if tc.req != nil && len(err.Error()) <= len(tc.wantErr.Error())+2 {
					t.Errorf("error %q gives no detail", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Reply: %v", err)
			}
			checkReply(t, tc.req, resp, tc.want)
		})
	}
}

// reply is what TestReply expects of an answer.
type reply struct {
	typ    dhcpv4.MessageType
	file   string
	arch   iana.Arch
	opt43  []byte // nil: no option 43
	ciaddr net.IP
	giaddr net.IP
	opt82  []byte
}

// checkReply checks resp against want and against what every proxy reply must do.
func checkReply(t *testing.T, req, resp *dhcpv4.DHCPv4, want reply) {
	t.Helper()
	if got := resp.MessageType(); got != want.typ {
		t.Errorf("message type %v, want %v", got, want.typ)
	}
	if resp.OpCode != dhcpv4.OpcodeBootReply {
		t.Errorf("opcode %v", resp.OpCode)
	}
	if resp.TransactionID != req.TransactionID || !bytes.Equal(resp.ClientHWAddr, req.ClientHWAddr) || resp.HWType != req.HWType {
		t.Errorf("xid/chaddr/htype not copied: %v %v %v", resp.TransactionID, resp.ClientHWAddr, resp.HWType)
	}
	if !resp.YourIPAddr.Equal(net.IPv4zero) {
		t.Errorf("yiaddr %v, a proxy never assigns addresses", resp.YourIPAddr)
	}
	if !resp.ServerIPAddr.Equal(labServerIP) || resp.ServerHostName != labServerIP.String() ||
		!resp.ServerIdentifier().Equal(labServerIP) {
		t.Errorf("siaddr %v, sname %q, option 54 %v; want %v", resp.ServerIPAddr, resp.ServerHostName, resp.ServerIdentifier(), labServerIP)
	}
	if resp.BootFileName != want.file {
		t.Errorf("file %q, want %q", resp.BootFileName, want.file)
	}
	if resp.ClassIdentifier() != "PXEClient" {
		t.Errorf("option 60 %q, want PXEClient", resp.ClassIdentifier())
	}
	guid := req.Options.Get(dhcpv4.OptionClientMachineIdentifier)
	if got := resp.Options.Get(dhcpv4.OptionClientMachineIdentifier); !bytes.Equal(got, guid) {
		t.Errorf("option 97 %x, want the client's %x", got, guid)
	}
	if got := resp.Options.Get(dhcpv4.OptionVendorSpecificInformation); !bytes.Equal(got, want.opt43) {
		t.Errorf("option 43 %v, want %v", got, want.opt43)
	}
	if got := resp.Options.Get(dhcpv4.OptionRelayAgentInformation); !bytes.Equal(got, want.opt82) {
		t.Errorf("option 82 %v, want %v", got, want.opt82)
	}
	wantGI := want.giaddr
	if wantGI == nil {
		wantGI = net.IPv4zero
	}
	if !resp.GatewayIPAddr.Equal(wantGI) {
		t.Errorf("giaddr %v, want %v", resp.GatewayIPAddr, wantGI)
	}
	for _, code := range []dhcpv4.OptionCode{dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter, dhcpv4.OptionDomainNameServer,
		dhcpv4.OptionIPAddressLeaseTime, dhcpv4.OptionRenewTimeValue, dhcpv4.OptionRebindingTimeValue,
		dhcpv4.OptionRootPath, dhcpv4.OptionClientSystemArchitectureType} {
		if resp.Options.Has(code) {
			t.Errorf("reply carries %v: a proxy must not configure the client", code)
		}
	}
	switch want.typ {
	case dhcpv4.MessageTypeOffer:
		if !resp.IsBroadcast() {
			t.Error("OFFER without the broadcast flag")
		}
		if !resp.ClientIPAddr.Equal(net.IPv4zero) {
			t.Errorf("OFFER ciaddr %v", resp.ClientIPAddr)
		}
	case dhcpv4.MessageTypeAck:
		if resp.Flags != req.Flags {
			t.Errorf("ACK flags %#x, want the request's %#x", resp.Flags, req.Flags)
		}
		if !resp.ClientIPAddr.Equal(want.ciaddr) {
			t.Errorf("ACK ciaddr %v, want %v", resp.ClientIPAddr, want.ciaddr)
		}
	}
	// What Serve reports for it.
	if ev := describe(req).event(resp, nil, time.Time{}); ev.Arch != want.arch || ev.BootFile != want.file {
		t.Errorf("event arch %v file %q, want %v %q", ev.Arch, ev.BootFile, want.arch, want.file)
	}
	// It must survive the wire.
	if _, err := dhcpv4.FromBytes(resp.ToBytes()); err != nil {
		t.Errorf("reply does not re-parse: %v", err)
	}
}

// TestReplyMatchesLab replays the lab run (testdata/lab-proxy-exchange.pcap):
// every reply our proxy sent there, which SeaBIOS+iPXE and OVMF then followed
// to a TFTP read of the right file, must come out of Reply byte for byte. If
// the replies change on purpose, re-run the lab (testdata/README.md) and see
// that the ROMs still follow them before replacing the capture.
func TestReplyMatchesLab(t *testing.T) {
	pkts, err := readPcap("testdata/lab-proxy-exchange.pcap")
	if err != nil {
		t.Fatal(err)
	}
	p := testProxy()
	checked := 0
	for i, out := range pkts {
		if !out.Src.IP.Equal(labServerIP) || !isDHCPPort(out.Src.Port) {
			continue
		}
		sent, err := dhcpv4.FromBytes(out.Payload)
		if err != nil {
			t.Fatal(err)
		}
		// The request it answered: the latest one before it, to that port, same xid.
		var req *dhcpv4.DHCPv4
		for j := i - 1; j >= 0 && req == nil; j-- {
			in := pkts[j]
			if in.Dst.Port != out.Src.Port {
				continue
			}
			if m, err := dhcpv4.FromBytes(in.Payload); err == nil && m.TransactionID == sent.TransactionID &&
				m.OpCode == dhcpv4.OpcodeBootRequest {
				req = m
			}
		}
		if req == nil {
			t.Fatalf("packet %d: no request for reply xid %v", i, sent.TransactionID)
		}
		resp, err := p.Reply(req, out.Src.Port)
		if err != nil {
			t.Fatalf("packet %d: Reply: %v", i, err)
		}
		if !bytes.Equal(resp.ToBytes(), out.Payload) {
			t.Errorf("packet %d: reply differs from the one the ROM accepted in the lab:\ngot  %v\nwant %v", i, resp.Summary(), sent.Summary())
		}
		checked++
	}
	if checked < 3 { // BIOS offer (twice), UEFI offer, UEFI 4011 ACK
		t.Errorf("only %d replies checked", checked)
	}
}
