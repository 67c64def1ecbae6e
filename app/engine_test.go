package app

import (
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sharecd/sharecd/assets"
	"github.com/sharecd/sharecd/netboot"
	"github.com/sharecd/sharecd/netboot/netcheck"
)

func TestCheckWords(t *testing.T) {
	router := netcheck.Responder{Kind: netcheck.KindDHCP, ServerIP: netip.MustParseAddr("192.168.1.1"),
		MACText: "52:54:00:00:00:01", OfferedIP: netip.MustParseAddr("192.168.1.77")}
	fog := netcheck.Responder{Kind: netcheck.KindProxy, ServerIP: netip.MustParseAddr("192.168.1.20"),
		MACText: "52:54:00:00:00:20", BootFile: "undionly.kpxe"}
	dnsmasq := netcheck.PortUse{SharePort: netcheck.SharePort{Proto: "udp", Port: 67, Service: "DHCP"},
		Process: "dnsmasq", PID: 812, Holder: "dnsmasq (pid 812)"}
	refused := func(kind error, blocker string) netboot.Verdict {
		err := fmt.Errorf("%w: %s", kind, blocker)
		return netboot.Verdict{Err: err, Refusal: err.Error(), Blocker: blocker}
	}
	lan := func(iface string, v netboot.Verdict, rs ...netcheck.Responder) netboot.LANCheck {
		return netboot.LANCheck{Report: netcheck.Report{Iface: iface, Responders: rs}, Share: v}
	}
	proxy := netboot.Verdict{Mode: netboot.DHCPProxy}
	for _, tc := range []struct {
		name     string
		r        netboot.LANCheck
		conflict bool
		want     []string
	}{
		{"router only", lan("eth0", proxy, router), false,
			[]string{"Good: DHCP server 192.168.1.1", "no other network-boot server", "proxy-DHCP"}},
		{"another proxy", lan("eth0", refused(netboot.ErrOtherPXEServer, fog.Describe()), router, fog), true,
			[]string{"Another network-boot server already answers here: proxy-DHCP server 192.168.1.20", "Switch the other one's network boot off"}},
		{"nobody", lan("eth1", netboot.Verdict{Err: netboot.ErrNoDHCPServer}), true,
			[]string{"No router or DHCP server answered on eth1", "tick “Hand out addresses”"}},
		{"local dnsmasq", lan("eth0", refused(netboot.ErrLocalConflict, dnsmasq.String()), router), true,
			[]string{"On this computer,", "dnsmasq", "Stop that program"}},
		// libvirt's dnsmasq on another interface: the share goes ahead, so the window says so.
		{"local dnsmasq elsewhere", netboot.LANCheck{Report: netcheck.Report{Iface: "eth0",
			Responders: []netcheck.Responder{router}, Local: []netcheck.PortUse{dnsmasq}}, Share: proxy}, false,
			[]string{"Good: DHCP server 192.168.1.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := checkWords(tc.r)
			text := res.Summary + " | " + res.Mode + " | " + res.Advice
			if !res.Checked || res.Conflict != tc.conflict {
				t.Errorf("checked %v conflict %v, want conflict %v", res.Checked, res.Conflict, tc.conflict)
			}
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("%q lacks %q", text, w)
				}
			}
		})
	}
}

// Detect reads a medium the way `sharecd --detect` does: family, name and whether its kernel is
// one Secure Boot machines can boot through the signed chain.
func TestDetect(t *testing.T) {
	signed, err := fs.ReadFile(assets.SecureBoot(), "grubx64.efi") // a PE image Debian signed
	if err != nil {
		t.Fatal(err)
	}
	unsigned, err := assets.UEFIx64(netip.MustParseAddr("10.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	menu := "label live\n kernel /live/vmlinuz\n append initrd=/live/initrd.img boot=live components\n"
	for _, tc := range []struct {
		name   string
		files  map[string][]byte
		family string
		sbOK   bool
		err    bool
	}{
		{"Debian-signed kernel", map[string][]byte{"isolinux/isolinux.cfg": []byte(menu), "live/vmlinuz": signed,
			"live/initrd.img": nil, "live/filesystem.squashfs": nil}, "live-boot", true, false},
		{"unsigned kernel", map[string][]byte{"isolinux/isolinux.cfg": []byte(menu), "live/vmlinuz": unsigned,
			"live/initrd.img": nil, "live/filesystem.squashfs": nil}, "live-boot", false, false},
		{"unknown family", map[string][]byte{"isolinux/isolinux.cfg": []byte("label x\n kernel /k\n append initrd=/i foo=bar\n"),
			"k": nil, "i": nil}, "", false, false},
		{"no menu", map[string][]byte{"README": nil}, "", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range tc.files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			info, err := (&NetbootEngine{}).Detect(dir)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if err == nil && (info.Family != tc.family || info.SecureBootOK != tc.sbOK || info.Name == "") {
				t.Errorf("got %+v, want family %q, Secure Boot OK %v", info, tc.family, tc.sbOK)
			}
		})
	}
}

// A directory of ISO files (`sharecd --source DIR`) is one row of the window: it names every live
// ISO a share of it serves, their families, and Secure Boot only when every one passes.
func TestISODirInfo(t *testing.T) {
	ds := []*netboot.Description{
		{Source: "/srv/isos/debian.iso", Title: "Debian live 12", Family: "live-boot", SecureBoot: netboot.SecureBoot{Works: true}},
		{Source: "/srv/isos/ubuntu.iso", Title: "Ubuntu 24.04", Family: "casper", SecureBoot: netboot.SecureBoot{Works: true}},
		{Source: "/srv/isos/xubuntu.iso", Title: "Xubuntu 24.04", Family: "casper", Arch: "arm64"},
	}
	info := isoDirInfo("/srv/isos", ds)
	if info.Name != "isos (3 live ISO files: Debian live 12, Ubuntu 24.04, Xubuntu 24.04)" || info.Source != "/srv/isos" ||
		info.Family != "live-boot, casper" || info.SecureBootOK {
		t.Errorf("got %+v", info)
	}
	if got := familyWords(info.Family); got != "Debian-style live system (live-boot); Ubuntu-style live system (casper)" {
		t.Errorf("familyWords(%q) = %q", info.Family, got)
	}
	if got := archWords(info.Arch); info.Arch != ", arm64" || got != ", for ARM64 machines with UEFI" {
		t.Errorf("Arch %q, archWords %q", info.Arch, got)
	}
}

// The window's media list says which machines a medium is for, read from its kernel: the arm64
// medium with a real arm64 kernel's header, and the lab medium, whose stand-in kernel says nothing.
func TestDetectArch(t *testing.T) {
	for _, tc := range []struct{ dir, arch, words string }{
		{"../netboot/testdata/debian-live-arm64", "arm64", ", for ARM64 machines with UEFI"},
		{"../netboot/testdata/debian-live-lab", "", ""},
	} {
		info, err := (&NetbootEngine{}).Detect(tc.dir)
		if err != nil || info.Arch != tc.arch || archWords(info.Arch) != tc.words {
			t.Errorf("%s: %+v, %v; want arch %q, words %q", tc.dir, info, err, tc.arch, tc.words)
		}
	}
}
