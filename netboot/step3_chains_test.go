package netboot

import (
	"bytes"
	"io/fs"
	"log/slog"
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
	"github.com/sharecd/sharecd/netboot/kernelarch"
)

// Option 93 dispatch, through the proxy's pure Reply, for every architecture the issue names and
// some it does not: 0 → iPXE for UNDI, its script once it runs, or pxelinux without iPXE (and
// with DHCP off); 7 and 9 → iPXE, or GRUB without it; 11 → the ARM64 GRUB
// where an arm64 medium is shared; 6, 10 and unknown values → no answer; and no answer for a
// client that no shared medium's kernel runs on.
func TestBootFileByArch(t *testing.T) {
	x86, arm, both := []kernelarch.Arch{kernelarch.AMD64}, []kernelarch.Arch{kernelarch.ARM64},
		[]kernelarch.Arch{kernelarch.ARM64, kernelarch.Unknown}
	tests := []struct {
		mode   DHCPMode
		arch   iana.Arch
		ipxe   bool              // the ROM says it is iPXE (user class)
		script bool              // the share offers iPXE (not --no-ipxe-script, not --tftp-only)
		media  []kernelarch.Arch // the shared media's machines; nil = one x86-64 medium
		want   string            // "" = ignored
	}{
		// iPXE gets its firmware's script where the share offers iPXE, and UEFI firmware iPXE
		// itself in proxy mode (then asks again as iPXE: no loop).
		{mode: DHCPProxy, arch: iana.INTEL_X86PC, ipxe: true, script: true, want: BIOSScript},
		{mode: DHCPFull, arch: iana.INTEL_X86PC, ipxe: true, script: true, want: BIOSScript},
		{mode: DHCPProxy, arch: iana.INTEL_X86PC, ipxe: true, want: BIOSLoader},
		// A BIOS ROM that is not iPXE gets iPXE where we answer DHCP; the iPXE it then runs
		// says so and gets the script: never iPXE again.
		{mode: DHCPProxy, arch: iana.INTEL_X86PC, script: true, want: BIOSIPXE},
		{mode: DHCPFull, arch: iana.INTEL_X86PC, script: true, want: BIOSIPXE},
		{mode: DHCPOff, arch: iana.INTEL_X86PC, script: true, want: BIOSLoader},
		{mode: DHCPOff, arch: iana.INTEL_X86PC, ipxe: true, script: true, want: BIOSScript},
		{mode: DHCPProxy, arch: iana.INTEL_X86PC, script: true, media: both, want: BIOSIPXE},
		{mode: DHCPProxy, arch: iana.INTEL_X86PC, script: true, media: arm, want: ""},
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
		// ARM64 UEFI gets the ARM64 GRUB in every mode, and only where an arm64 medium is shared.
		{mode: DHCPProxy, arch: iana.EFI_ARM64, media: arm, want: Arm64Loader},
		{mode: DHCPProxy, arch: iana.EFI_ARM64, script: true, media: arm, want: Arm64Loader},
		{mode: DHCPProxy, arch: iana.EFI_ARM64, ipxe: true, script: true, media: both, want: Arm64Loader},
		{mode: DHCPFull, arch: iana.EFI_ARM64, media: both, want: Arm64Loader},
		{mode: DHCPOff, arch: iana.EFI_ARM64, media: arm, want: Arm64Loader},
		{mode: DHCPProxy, arch: iana.EFI_ARM64, media: x86, want: ""},
		{mode: DHCPProxy, arch: iana.EFI_ARM64, media: []kernelarch.Arch{kernelarch.Unknown, kernelarch.I386}, want: ""},
		// x86 clients see no arm64 medium: with only those, they are not answered.
		{mode: DHCPProxy, arch: iana.INTEL_X86PC, media: arm, want: ""},
		{mode: DHCPProxy, arch: iana.EFI_X86_64, script: true, media: arm, want: ""},
		{mode: DHCPFull, arch: iana.EFI_BC, media: arm, want: ""},
		// An unreadable kernel is served to x86 clients, as before architectures were read.
		{mode: DHCPProxy, arch: iana.EFI_X86_64, media: both, want: UEFILoader},
		{mode: DHCPProxy, arch: iana.INTEL_X86PC, media: both, want: BIOSLoader},
		{mode: DHCPProxy, arch: iana.EFI_IA32, media: both, want: ""},
	}
	for _, tc := range tests {
		media := tc.media
		if media == nil {
			media = x86
		}
		var logged bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logged, nil))
		p := &dhcp.Proxy{ServerIP: net.IPv4(10, 77, 5, 2), BootFile: bootFileFor(tc.mode, tc.script, media, log)}
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
				t.Errorf("arch %d (iPXE %v, script %v, media %v) on port %d: boot file %q (err %v), want %q",
					uint16(tc.arch), tc.ipxe, tc.script, media, port, got, err, tc.want)
			}
		}
		// A client that a shared medium would run on, were there one, is named once for the
		// two packets (67 and 4011): one line, not one a retry.
		_, known := clientMachine(tc.arch)
		wantLines := 0
		if tc.want == "" && known {
			wantLines = 1
		}
		if n := strings.Count(logged.String(), "no shared medium has a kernel for them"); n != wantLines {
			t.Errorf("arch %d, media %v: %d log lines about it, want %d:\n%s", uint16(tc.arch), media, n, wantLines, logged.String())
		}
	}
	for _, f := range []string{BIOSLoader, BIOSIPXE, BIOSScript, UEFIIPXE, UEFIScript, UEFILoader, SignedLoader, Arm64Loader} {
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
		arch   kernelarch.Arch
		works  bool
		signer string
		note   string
	}{
		{"Debian-signed", read(assets.SecureBoot(), "grubx64.efi"), kernelarch.AMD64, true, "Debian Secure Boot CA", "signed by Debian"},
		{"other signer", read(assets.SecureBoot(), "shimx64.efi"), kernelarch.AMD64, false, "Microsoft Corporation UEFI CA 2011", "does not trust"},
		{"unsigned", unsigned, kernelarch.AMD64, false, "", "not signed"},
		{"not a kernel", []byte("hello"), kernelarch.Unknown, false, "", "could not read"},
		{"missing", nil, kernelarch.Unknown, false, "", "could not read"},
		// Signed by Debian, but there is no signed ARM64 chain to boot it with.
		{"arm64, Debian-signed", read(assets.SecureBoot(), "grubx64.efi"), kernelarch.ARM64, false, "Debian Secure Boot CA", "ARM64 GRUB is unsigned"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			if tc.kernel != nil {
				fsys["live/vmlinuz"] = &fstest.MapFile{Data: tc.kernel}
			}
			m := &bootmenu.Menu{Default: "a", Entries: []bootmenu.Entry{{Label: "a", Kind: bootmenu.KindLinux, Kernel: "live/vmlinuz"}}}
			sb := checkSecureBoot(fsys, m, tc.arch)
			if sb.Works != tc.works || sb.Signer != tc.signer || !strings.Contains(sb.Note, tc.note) {
				t.Errorf("got %+v, want works=%v signer=%q note ~ %q", sb, tc.works, tc.signer, tc.note)
			}
		})
	}
}
