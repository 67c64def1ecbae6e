package netboot

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	pintftp "github.com/pin/tftp/v3"

	"github.com/sharecd/sharecd/netboot/kernelarch"
	"github.com/sharecd/sharecd/netboot/netlab"
)

// arm64Medium has the first 4 KiB of Debian 12's arm64 kernel under a live-build GRUB menu.
const arm64Medium = "testdata/debian-live-arm64"

// loopShare is a share's proxy-DHCP (its port 4011 side) and TFTP server on loopback sockets,
// with the log they write.
type loopShare struct {
	pxe, tftp net.Addr
	log       netlab.SyncBuffer
}

func (l *loopShare) logged() string { return l.log.String() }

// startLoopShare plans a share of sources in proxy mode on 127.0.0.1 and serves its proxy-DHCP
// (4011) and TFTP, as step 4 would, until the test ends.
func startLoopShare(t *testing.T, sources ...string) *loopShare {
	t.Helper()
	l := &loopShare{}
	log := slog.New(slog.NewTextHandler(&l.log, nil))
	s := &Share{Log: log, MenuTimeout: 3}
	srcs, _, err := openSources(sources)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeSources(srcs) })
	p, err := s.plan(srcs, Network{Iface: Iface{Name: "lo", Addr: netip.MustParsePrefix("127.0.0.1/8")}, DHCP: DHCPProxy})
	if err != nil {
		t.Fatal(err)
	}
	tr := newTracker(func(e Event) {
		log.Info("client "+string(e.Stage), "mac", e.MAC.String(), "ip", e.IP, "file", e.Detail)
	}, func(netip.Addr) net.HardwareAddr { return nil }, log)
	allow := s.allow(p.Iface.Addr)
	lp := &livePlan{}
	lp.Store(p)
	d := s.dhcpServers(lp, allow, tr, log)
	f := s.fileServers(lp, DefaultPorts(), allow, tr, log)
	pxe, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.pxe, l.tftp = pxe.LocalAddr(), tc.LocalAddr()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); d.proxy.Serve(ctx, nil, pxe) }()
	go func() { defer wg.Done(); f.tftp.Serve(ctx, tc) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return l
}

// edk2Request is the boot-server REQUEST an EDK2 PXE client (OVMF on x86-64, AAVMF on arm64: the
// same PxeBcDxe) sends to port 4011 once the proxy offer came: options 93 and 60 name its
// architecture, 94 its UNDI 3.0, 97 its machine GUID, 55 the options it asks for. The vendor class
// and the option list are those AAVMF sent in the ARM64 lab (e2e/arm64_test.go, as the lab's
// dnsmasq logged them).
func edk2Request(t *testing.T, arch iana.Arch, mac net.HardwareAddr) []byte {
	t.Helper()
	m, err := dhcpv4.New(dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithClientIP(net.IPv4(127, 0, 0, 1)),
		dhcpv4.WithOption(dhcpv4.OptClientArch(arch)),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier(fmt.Sprintf("PXEClient:Arch:%05d:UNDI:003000", uint16(arch)))),
		dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientNetworkInterfaceIdentifier, []byte{1, 3, 0})),
		dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier,
			append([]byte{0}, bytes.Repeat([]byte{0x5c}, 16)...))),
		dhcpv4.WithOption(dhcpv4.OptMaxMessageSize(1472)),
		dhcpv4.WithOption(dhcpv4.OptParameterRequestList(edk2Asks()...)))
	if err != nil {
		t.Fatal(err)
	}
	return m.ToBytes()
}

func edk2Asks() []dhcpv4.OptionCode {
	var l []dhcpv4.OptionCode
	for _, c := range []uint8{1, 2, 3, 4, 5, 6, 12, 13, 15, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59,
		60, 66, 67, 97, 128, 129, 130, 131, 132, 133, 134, 135} {
		l = append(l, dhcpv4.GenericOptionCode(c))
	}
	return l
}

// ask sends req to the share's port 4011 and returns its answer, or nil when none comes.
func (l *loopShare) ask(t *testing.T, req []byte) *dhcpv4.DHCPv4 {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WriteTo(req, l.pxe); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 1500)
	n, _, err := c.ReadFrom(buf)
	if err != nil {
		return nil // no answer
	}
	resp, err := dhcpv4.FromBytes(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// get fetches a file over TFTP as the client's loader would.
func (l *loopShare) get(t *testing.T, name string) []byte {
	t.Helper()
	c, err := pintftp.NewClient(l.tftp.String())
	if err != nil {
		t.Fatal(err)
	}
	wt, err := c.Receive(name, "octet")
	if err != nil {
		t.Fatalf("TFTP %s: %v", name, err)
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		t.Fatalf("TFTP %s: %v", name, err)
	}
	return b.Bytes()
}

var configfile = regexp.MustCompile(`configfile "\$\{prefix\}/([^"]+)"`)

// An ARM64 UEFI client and an x86-64 one ask a share of an x86 and an arm64 medium for their boot
// file, with the packets EDK2 sends: each gets its machine's loader, and each loader's menus, as
// served over TFTP, list only the media of its machine.
func TestEachMachineItsLoaderAndMenus(t *testing.T) {
	l := startLoopShare(t, labMedium, arm64Medium)
	armMAC := net.HardwareAddr{0x52, 0x54, 0, 0x5c, 0xd0, 0x11}

	resp := l.ask(t, edk2Request(t, iana.EFI_ARM64, armMAC))
	if resp == nil || resp.BootFileName != Arm64Loader || !resp.ServerIPAddr.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("ARM64 client answered %v, want boot file %s from 127.0.0.1\n%s", resp, Arm64Loader, l.logged())
	}
	grub := l.get(t, resp.BootFileName)
	pe := binary.LittleEndian.Uint32(grub[0x3c:])
	if m := binary.LittleEndian.Uint16(grub[pe+4:]); m != 0xaa64 || !bytes.Contains(grub, []byte("(tftp,127.0.0.1)/"+Arm64MenuDir+"\x00")) {
		t.Errorf("the ARM64 loader is PE machine %#x, or its prefix is not (tftp,127.0.0.1)/%s", m, Arm64MenuDir)
	}
	// GRUB reads $prefix/grub.cfg: the top menu of the arm64 media, each opening its own.
	top := string(l.get(t, Arm64MenuFile))
	items := configfile.FindAllStringSubmatch(top, -1)
	if len(items) != 1 || !strings.HasPrefix(items[0][1], "debian-live-arm64/") {
		t.Fatalf("%s lists %v, want the arm64 medium alone:\n%s", Arm64MenuFile, items, top)
	}
	menu := string(l.get(t, Arm64MenuDir+"/"+items[0][1]))
	// The kernel goes over HTTP ('(http,127.0.0.1)/…'), from the same tree TFTP serves.
	kernel := regexp.MustCompile(`(?m)^\s*linux\s+'?(?:\(http,127\.0\.0\.1\))?/([^'\s]+)`).FindStringSubmatch(menu)
	if kernel == nil || strings.Contains(menu, "debian-live-lab") {
		t.Fatalf("the arm64 medium's menu:\n%s", menu)
	}
	if a, err := kernelarch.Read(bytes.NewReader(l.get(t, kernel[1]))); a != kernelarch.ARM64 {
		t.Errorf("the ARM64 menu boots %s, a %q kernel (%v)", kernel[1], a, err)
	}

	x86 := l.ask(t, edk2Request(t, iana.EFI_X86_64, net.HardwareAddr{0x52, 0x54, 0, 0x5c, 0xd0, 5}))
	if x86 == nil || x86.BootFileName != UEFIIPXE {
		t.Fatalf("x86-64 client answered %v, want %s", x86, UEFIIPXE)
	}
	for _, name := range []string{UEFIMenuFile, UEFIScript, BIOSScript, "pxelinux.cfg/default"} {
		text := string(l.get(t, name))
		if !strings.Contains(text, "debian-live-lab") || strings.Contains(text, "arm64") {
			t.Errorf("the x86 clients' %s should list the lab medium and no arm64 one:\n%s", name, text)
		}
	}
	log := l.logged()
	// Each boot stage of the ARM64 client, as the log tells it.
	for _, want := range []string{`msg="client offered" mac=52:54:00:5c:d0:11 ip=127.0.0.1 file=grubaa64.efi`,
		`msg="client loader" mac=52:54:00:5c:d0:11 ip=127.0.0.1 file=grubaa64.efi`,
		`msg="client menu" mac=52:54:00:5c:d0:11 ip=127.0.0.1 file=grub-arm64/grub.cfg`,
		`msg="client menu" mac=52:54:00:5c:d0:11 ip=127.0.0.1 file=grub-arm64/debian-live-arm64/grub.cfg`,
		`msg="client kernel" mac=52:54:00:5c:d0:11 ip=127.0.0.1 file=debian-live-arm64/live/vmlinuz-6.1.0-57-arm64`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// A share whose media are all of the other machine tells a client nothing: no answer at all,
// and one log line however often it asks.
func TestNoMediumForTheClientsMachine(t *testing.T) {
	tests := []struct {
		name   string
		medium string
		arch   iana.Arch
		other  iana.Arch // a client that is answered
	}{
		{"ARM64 client, x86 medium", labMedium, iana.EFI_ARM64, iana.EFI_X86_64},
		{"x86-64 UEFI client, arm64 medium", arm64Medium, iana.EFI_X86_64, iana.EFI_ARM64},
		{"BIOS client, arm64 medium", arm64Medium, iana.INTEL_X86PC, iana.EFI_ARM64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := startLoopShare(t, tc.medium)
			mac := net.HardwareAddr{0x52, 0x54, 0, 0x5c, 0xd0, 0x12}
			for range 3 { // a PXE ROM asks again and again
				if resp := l.ask(t, edk2Request(t, tc.arch, mac)); resp != nil {
					t.Fatalf("answered with %q", resp.BootFileName)
				}
			}
			if l.ask(t, edk2Request(t, tc.other, mac)) == nil {
				t.Fatalf("the medium's own machine is not answered either:\n%s", l.logged())
			}
			if n := strings.Count(l.logged(), "no shared medium has a kernel for them"); n != 1 {
				t.Errorf("%d log lines about it, want 1:\n%s", n, l.logged())
			}
		})
	}
}

// A lone medium is served as it is, whatever its machine: an arm64 one's menu is the ARM64 GRUB's
// first menu, and it has no x86 menus at all; an x86 one has no ARM64 loader.
func TestLoneMediumTree(t *testing.T) {
	tests := []struct {
		medium      string
		arch        kernelarch.Arch
		has, hasNot []string
	}{
		{arm64Medium, kernelarch.ARM64, []string{Arm64Loader, Arm64MenuFile, "live/vmlinuz-6.1.0-57-arm64"},
			[]string{UEFIMenuFile, "pxelinux.cfg/default", BIOSScript, UEFIScript}},
		{labMedium, kernelarch.Unknown, []string{UEFIMenuFile, "pxelinux.cfg/default", BIOSScript, UEFIScript},
			[]string{Arm64Loader, Arm64MenuFile}},
	}
	for _, tc := range tests {
		t.Run(tc.medium, func(t *testing.T) {
			srcs, _, err := openSources([]string{tc.medium})
			if err != nil {
				t.Fatal(err)
			}
			defer closeSources(srcs)
			p, err := (&Share{}).plan(srcs, Network{Iface: Iface{Addr: netip.MustParsePrefix("192.0.2.7/24")}, DHCP: DHCPFull})
			if err != nil {
				t.Fatal(err)
			}
			if p.First().Arch != tc.arch || p.First().Prefix != "" {
				t.Errorf("arch %q (%v), prefix %q", p.First().Arch, p.First().ArchErr, p.First().Prefix)
			}
			for _, f := range tc.has {
				if !slices.Contains(p.Files, f) {
					t.Errorf("the tree lacks %s: %v", f, p.Files)
				}
			}
			for _, f := range tc.hasNot {
				if slices.Contains(p.Files, f) {
					t.Errorf("the tree has %s", f)
				}
			}
		})
	}
}

// --boot-tree writes the ARM64 loader and menus for an arm64 medium, and names its machine
// beside its export.
func TestBootTreeArm64(t *testing.T) {
	dir := t.TempDir()
	files, _, exports, err := WriteBootTree([]string{labMedium, arm64Medium}, dir, netip.MustParseAddr("192.0.2.7"), 5)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{Arm64Loader, Arm64MenuFile, Arm64MenuDir + "/debian-live-arm64/grub.cfg"} {
		if !slices.Contains(files, want) {
			t.Errorf("the tree lacks %s: %v", want, files)
		}
	}
	if len(exports) != 2 || !strings.Contains(exports[1], "debian-live-arm64 (arm64: offered to ARM64 UEFI clients only") ||
		!strings.Contains(exports[0], "offered to x86 clients") {
		t.Errorf("exports %q", exports)
	}
}
