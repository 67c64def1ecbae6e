package netboot

import (
	"io/fs"
	"net"
	"net/netip"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/sharecd/sharecd/assets"
	"github.com/sharecd/sharecd/netboot/bootmenu"
	"github.com/sharecd/sharecd/netboot/dhcp"
)

// Option 93 dispatch, through the proxy's pure Reply, for every architecture the issue names and
// some it does not: 0 → the BIOS loader; 7 and 9 → iPXE, or GRUB without it; 6, 10, 11 and
// unknown values → no answer.
func TestBootFileByArch(t *testing.T) {
	tests := []struct {
		mode   DHCPMode
		arch   iana.Arch
		ipxe   bool   // the ROM says it is iPXE (user class)
		script bool   // the share offers iPXE (not --no-ipxe-script, not --tftp-only)
		want   string // "" = ignored
	}{
		// iPXE gets its firmware's script where the share offers iPXE, and UEFI firmware iPXE
		// itself in proxy mode (then asks again as iPXE: no loop).
		{mode: DHCPProxy, arch: iana.INTEL_X86PC, ipxe: true, script: true, want: BIOSScript},
		{mode: DHCPFull, arch: iana.INTEL_X86PC, ipxe: true, script: true, want: BIOSScript},
		{mode: DHCPProxy, arch: iana.INTEL_X86PC, ipxe: true, want: BIOSLoader},
		{mode: DHCPProxy, arch: iana.INTEL_X86PC, script: true, want: BIOSLoader},
		{mode: DHCPProxy, arch: iana.EFI_X86_64, script: true, want: UEFIIPXE},
		{mode: DHCPProxy, arch: iana.EFI_BC, script: true, want: UEFIIPXE},
		{mode: DHCPProxy, arch: iana.EFI_X86_64, ipxe: true, script: true, want: UEFIScript},
		{mode: DHCPFull, arch: iana.EFI_X86_64, ipxe: true, script: true, want: UEFIScript},
		{mode: DHCPProxy, arch: iana.EFI_X86_64, ipxe: true, want: UEFILoader},
		{mode: DHCPProxy, arch: iana.INTEL_X86PC, want: BIOSLoader},
		{mode: DHCPProxy, arch: iana.EFI_IA32, want: ""},
		{mode: DHCPProxy, arch: iana.EFI_IA32, script: true, want: ""},
		{mode: DHCPProxy, arch: iana.EFI_X86_64, want: UEFILoader},
		{mode: DHCPProxy, arch: iana.EFI_BC, want: UEFILoader},
		{mode: DHCPProxy, arch: iana.EFI_ARM32, want: ""},
		{mode: DHCPProxy, arch: iana.EFI_ARM64, want: ""},
		{mode: DHCPProxy, arch: iana.Arch(16), want: ""}, // x64 UEFI HTTP boot: not a PXE client
		{mode: DHCPProxy, arch: iana.Arch(0x1234), want: ""},
		// Where our answer names the TFTP server, the signed chain finds its menu.
		{mode: DHCPFull, arch: iana.INTEL_X86PC, want: BIOSLoader},
		{mode: DHCPFull, arch: iana.EFI_X86_64, want: SignedLoader},
		{mode: DHCPFull, arch: iana.EFI_X86_64, script: true, want: SignedLoader},
		{mode: DHCPFull, arch: iana.EFI_BC, want: SignedLoader},
		{mode: DHCPFull, arch: iana.EFI_ARM64, want: ""},
		{mode: DHCPOff, arch: iana.EFI_X86_64, want: SignedLoader},
	}
	for _, tc := range tests {
		p := &dhcp.Proxy{ServerIP: net.IPv4(10, 77, 5, 2), BootFile: bootFileFor(tc.mode, tc.script)}
		for _, port := range []int{dhcp.Port67, dhcp.Port4011} {
			mt := dhcpv4.MessageTypeDiscover
			if port == dhcp.Port4011 {
				mt = dhcpv4.MessageTypeRequest
			}
			req, err := dhcpv4.New(dhcpv4.WithHwAddr(net.HardwareAddr{0x52, 0x54, 0, 0x5c, 0xd0, 5}),
				dhcpv4.WithMessageType(mt),
				dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016")),
				dhcpv4.WithOption(dhcpv4.OptClientArch(tc.arch)))
			if tc.ipxe {
				req.UpdateOption(dhcpv4.OptUserClass("iPXE"))
			}
			if err != nil {
				t.Fatal(err)
			}
			resp, err := p.Reply(req, port)
			got := ""
			if resp != nil {
				got = resp.BootFileName
			}
			if got != tc.want {
				t.Errorf("arch %d (iPXE %v, script %v) on port %d: boot file %q (err %v), want %q",
					uint16(tc.arch), tc.ipxe, tc.script, port, got, err, tc.want)
			}
		}
	}
	for _, f := range []string{BIOSLoader, BIOSScript, UEFIIPXE, UEFIScript, UEFILoader, SignedLoader} {
		if c := chainOf(f); c == f {
			t.Errorf("no chain description for %s", f)
		}
	}
}

// The verdict on Secure Boot comes from the default kernel's signature. Real signed and unsigned
// PE images stand in for kernels: Debian's network GRUB (Debian's key, like Debian's kernels),
// shim (Microsoft's, like no kernel Debian's shim accepts) and our unsigned GRUB.
func TestCheckSecureBoot(t *testing.T) {
	read := func(fsys fs.FS, name string) []byte {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	unsigned, err := assets.UEFIx64(netip.MustParseAddr("10.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		kernel []byte
		works  bool
		signer string
		note   string
	}{
		{"Debian-signed", read(assets.SecureBoot(), "grubx64.efi"), true, "Debian Secure Boot CA", "signed by Debian"},
		{"other signer", read(assets.SecureBoot(), "shimx64.efi"), false, "Microsoft Corporation UEFI CA 2011", "does not trust"},
		{"unsigned", unsigned, false, "", "not signed"},
		{"not a kernel", []byte("hello"), false, "", "could not read"},
		{"missing", nil, false, "", "could not read"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			if tc.kernel != nil {
				fsys["live/vmlinuz"] = &fstest.MapFile{Data: tc.kernel}
			}
			m := &bootmenu.Menu{Default: "a", Entries: []bootmenu.Entry{{Label: "a", Kind: bootmenu.KindLinux, Kernel: "live/vmlinuz"}}}
			sb := checkSecureBoot(fsys, m)
			if sb.Works != tc.works || sb.Signer != tc.signer || !strings.Contains(sb.Note, tc.note) {
				t.Errorf("got %+v, want works=%v signer=%q note ~ %q", sb, tc.works, tc.signer, tc.note)
			}
		})
	}
}
