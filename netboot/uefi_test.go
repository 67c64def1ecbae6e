package netboot

import (
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/sharecd/sharecd/netboot/dhcp"
)

// Option 93 dispatch, through the proxy's pure Reply, for every architecture the issue names and
// some it does not: 0 → pxelinux.0; 7 and 9 → our GRUB; 6, 10, 11 and unknown values → no answer.
func TestBootFileByArch(t *testing.T) {
	p := &dhcp.Proxy{ServerIP: net.IPv4(10, 77, 5, 2), BootFile: bootFileFor}
	tests := []struct {
		arch iana.Arch
		want string // "" = ignored
	}{
		{iana.INTEL_X86PC, BIOSLoader},
		{iana.EFI_IA32, ""},
		{iana.EFI_X86_64, UEFILoader},
		{iana.EFI_BC, UEFILoader},
		{iana.EFI_ARM32, ""},
		{iana.EFI_ARM64, ""},
		{iana.Arch(16), ""}, // x64 UEFI HTTP boot: not a PXE client
		{iana.Arch(0x1234), ""},
	}
	for _, tc := range tests {
		for _, port := range []int{dhcp.Port67, dhcp.Port4011} {
			mt := dhcpv4.MessageTypeDiscover
			if port == dhcp.Port4011 {
				mt = dhcpv4.MessageTypeRequest
			}
			req, err := dhcpv4.New(dhcpv4.WithHwAddr(net.HardwareAddr{0x52, 0x54, 0, 0x5c, 0xd0, 5}),
				dhcpv4.WithMessageType(mt),
				dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016")),
				dhcpv4.WithOption(dhcpv4.OptClientArch(tc.arch)))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := p.Reply(req, port)
			got := ""
			if resp != nil {
				got = resp.BootFileName
			}
			if got != tc.want {
				t.Errorf("arch %d on port %d: boot file %q (err %v), want %q", uint16(tc.arch), port, got, err, tc.want)
			}
		}
	}
	if c := chainOf(UEFILoader); c == UEFILoader {
		t.Error("no chain description for the UEFI loader")
	}
}
