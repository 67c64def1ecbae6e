package netboot

import (
	"bytes"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/iana"

	"github.com/sharecd/sharecd/assets"
	"github.com/sharecd/sharecd/netboot/dhcp"
)

// labMedium is the lab ISO's real isolinux menus with stand-in kernel and initrd files.
const labMedium = "testdata/debian-live-lab"

func TestDescribe(t *testing.T) {
	ds, _, err := Describe(labMedium)
	if err != nil || len(ds) != 1 {
		t.Fatal(err, ds)
	}
	d := ds[0]
	if d.Export != "/sharecd" || d.Prefix != "" {
		t.Errorf("a lone medium is served as it is: export %q, prefix %q", d.Export, d.Prefix)
	}
	if d.Family != "live-boot" || d.Kind != "dir" || d.Menu != "isolinux/isolinux.cfg" {
		t.Errorf("got %+v", d)
	}
	var defaults []string
	for _, e := range d.Entries {
		if e.Default {
			defaults = append(defaults, e.Label)
		}
	}
	if len(d.Entries) < 2 || len(defaults) != 1 || defaults[0] != "live-amd64" {
		t.Errorf("entries %+v, defaults %v", d.Entries, defaults)
	}
	if _, _, err := Describe("testdata-that-does-not-exist"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing source: %v", err)
	}
}

// --detect and the share give the same Secure Boot verdict: both read it from the plan, whatever
// the DHCP mode or the transport. Every medium under testdata.
func TestDescribeAndShareAgreeOnSecureBoot(t *testing.T) {
	media, _ := filepath.Glob("testdata/*")
	more, _ := filepath.Glob("bootmenu/testdata/media/*")
	media = append(media, more...)
	described := 0
	for _, dir := range media {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		ds, _, err := Describe(dir)
		if err != nil {
			continue // not a medium
		}
		d := ds[0]
		for _, s := range []Share{{}, {TFTPBoot: true}} {
			for _, mode := range []DHCPMode{DHCPProxy, DHCPFull} {
				src, err := openSource(dir)
				if err != nil {
					t.Fatal(err)
				}
				p, err := s.plan([]*source{src}, Network{Iface: Iface{Addr: netip.MustParsePrefix("10.0.0.1/24")}, DHCP: mode})
				src.Close()
				if err != nil {
					t.Fatal(err)
				}
				described++
				if p.First().SecureBoot != d.SecureBoot {
					t.Errorf("%s, %s: share says %+v, --detect %+v", dir, mode, p.First().SecureBoot, d.SecureBoot)
				}
			}
		}
	}
	if described < 4 {
		t.Errorf("only %d plans compared: the media under testdata were not found", described)
	}
}

func TestWriteBootTree(t *testing.T) {
	dir := t.TempDir()
	files, warnings, _, err := WriteBootTree([]string{labMedium}, dir, netip.MustParseAddr("192.0.2.7"), 5)
	if err != nil || len(warnings) != 0 {
		t.Fatal(err, warnings)
	}
	for _, want := range []string{"pxelinux.0", "ldlinux.c32", "menu.c32", "pxelinux.cfg/default", "live/vmlinuz", "live/initrd.img"} {
		if !strings.Contains(strings.Join(files, " "), want) {
			t.Errorf("boot tree lacks %s: %v", want, files)
		}
	}
	menu, _ := os.ReadFile(filepath.Join(dir, "pxelinux.cfg", "default"))
	for _, want := range []string{"boot=live netboot=nfs nfsroot=192.0.2.7:/sharecd", "timeout 50", "ipappend 2"} {
		if !bytes.Contains(menu, []byte(want)) {
			t.Errorf("menu lacks %q:\n%s", want, menu)
		}
	}
	// The loader is ours, never the medium's isolinux copy of another syslinux build.
	got, _ := os.ReadFile(filepath.Join(dir, "pxelinux.0"))
	want, _ := fs.ReadFile(assets.BIOS(), "pxelinux.0")
	if !bytes.Equal(got, want) {
		t.Error("pxelinux.0 is not the embedded loader")
	}
	got, _ = os.ReadFile(filepath.Join(dir, "ldlinux.c32"))
	want, _ = fs.ReadFile(assets.BIOS(), "ldlinux.c32")
	if !bytes.Equal(got, want) {
		t.Error("ldlinux.c32 is the medium's, not the one built with pxelinux.0")
	}
}

// TestBootTreeLeavesOutMissingFiles: Ubuntu's menu on a medium without its memory tester. The
// tree is written without that entry, with one warning naming it, and every menu still boots the
// live entries (--boot-tree exited 1 and wrote nothing before).
func TestBootTreeLeavesOutMissingFiles(t *testing.T) {
	med := t.TempDir()
	cfg, err := os.ReadFile("bootmenu/testdata/media/ubuntu-25.10-desktop/boot/grub/grub.cfg")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"boot/grub/grub.cfg": cfg, "casper/vmlinuz": []byte("kernel"), "casper/initrd": []byte("initrd"),
		"casper/minimal.squashfs": nil, ".disk/casper-uuid-generic": []byte("x\n"),
	} {
		os.MkdirAll(filepath.Join(med, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(med, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	files, warnings, _, err := WriteBootTree([]string{med}, dir, netip.MustParseAddr("192.0.2.7"), 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "Test memory") || !strings.Contains(warnings[0], "boot/memtest86+x64.bin") {
		t.Errorf("warnings %q, want one naming the memory test and its file", warnings)
	}
	if slices.Contains(files, "boot/memtest86+x64.bin") || !slices.Contains(files, "casper/vmlinuz") {
		t.Errorf("files %v", files)
	}
	for _, menu := range []string{"pxelinux.cfg/default", "boot.ipxe", "grub/grub.cfg", "uefi.ipxe"} {
		b, err := os.ReadFile(filepath.Join(dir, menu))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("memtest")) || !bytes.Contains(b, []byte("boot=casper netboot=nfs nfsroot=192.0.2.7:/sharecd")) {
			t.Errorf("%s:\n%s", menu, b)
		}
	}
}

func TestTrackerReportsEachStageOnce(t *testing.T) {
	var got []string
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	ip := netip.MustParseAddr("10.0.0.50")
	tr := newTracker(func(e Event) { got = append(got, e.MAC.String()+" "+string(e.Stage)+" "+e.Detail) }, nil, nil)
	tr.report(mac, netip.Addr{}, StageOffered, "pxelinux.0")
	tr.report(mac, netip.Addr{}, StageOffered, "pxelinux.0") // DHCP retry
	tr.report(mac, ip, StageOffered, "pxelinux.0")           // 4011 ACK, now with the IP
	tr.report(nil, ip, StageLoader, "pxelinux.0")            // TFTP knows only the IP
	tr.report(nil, ip, StageKernel, "live/vmlinuz")
	tr.report(nil, ip, StageKernel, "live/vmlinuz") // OVMF's size probe, then the download
	tr.report(nil, ip, StageInitrd, "live/initrd.img")
	tr.report(nil, ip, StageMounted, "/sharecd")
	tr.report(nil, ip, StageRunning, "live/filesystem.dir/etc/fstab")
	tr.report(nil, ip, StageRunning, "live/filesystem.dir/usr/lib/systemd/systemd") // running already
	tr.report(mac, netip.Addr{}, StageOffered, "pxelinux.0")                        // it reboots
	tr.report(nil, ip, StageRunning, "live/filesystem.squashfs")
	want := []string{
		"52:54:00:12:34:56 offered pxelinux.0",
		"52:54:00:12:34:56 loader pxelinux.0",
		"52:54:00:12:34:56 kernel live/vmlinuz",
		"52:54:00:12:34:56 initrd live/initrd.img",
		"52:54:00:12:34:56 root mounted /sharecd",
		"52:54:00:12:34:56 running live/filesystem.dir/etc/fstab",
		"52:54:00:12:34:56 offered pxelinux.0",
		"52:54:00:12:34:56 running live/filesystem.squashfs",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestPortErrorNamesTheHolder(t *testing.T) {
	held, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	port := held.LocalAddr().(*net.UDPAddr).Port
	_, err = net.ListenPacket("udp4", held.LocalAddr().String())
	if err == nil {
		t.Fatal("second bind succeeded")
	}
	msg := portError("udp", port, "TFTP", err).Error()
	self := filepath.Base(os.Args[0])
	if len(self) > 15 { // comm is cut to 15 bytes
		self = self[:15]
	}
	if !strings.Contains(msg, "TFTP port udp/") || !strings.Contains(msg, self+" (pid ") {
		t.Errorf("message %q does not name the port and %s", msg, self)
	}
}

// GRUB fetches kernels over HTTP unless told otherwise, except Debian's signed GRUB, which has
// no HTTP and so gets its menu with kernels on TFTP. pxelinux stays on TFTP; iPXE's script
// fetches over HTTP, or relative to its own TFTP URL with --tftp-only. The plan is built once for
// its DHCP mode; each case reads what that plan serves.
func TestBootPaths(t *testing.T) {
	const ipxeHTTP, ipxeTFTP = "kernel http://192.0.2.7/live/vmlinuz ", "kernel live/vmlinuz "
	tests := []struct {
		name       string
		share      Share
		mode       DHCPMode
		grubKernel string // grub.cfg's linux line
		ipxeKernel string // boot.ipxe's and uefi.ipxe's kernel line, up to its arguments
		uefiFile   string // what an x86-64 UEFI client is offered
		biosFile   string // what a BIOS client whose ROM is not iPXE is offered
	}{
		{"proxy", Share{}, DHCPProxy, "linux '(http,192.0.2.7)/live/vmlinuz'", ipxeHTTP, UEFIIPXE, BIOSIPXE},
		{"full: signed chain", Share{}, DHCPFull, "linux /live/vmlinuz", ipxeHTTP, SignedLoader, BIOSIPXE},
		{"off: signed chain", Share{}, DHCPOff, "linux /live/vmlinuz", ipxeHTTP, SignedLoader, BIOSLoader},
		{"--tftp-only", Share{TFTPBoot: true}, DHCPProxy, "linux /live/vmlinuz", ipxeTFTP, UEFILoader, BIOSLoader},
		{"--no-ipxe-script", Share{NoIPXEScript: true}, DHCPProxy, "linux '(http,192.0.2.7)/live/vmlinuz'", ipxeHTTP, UEFILoader, BIOSLoader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, err := openSource(labMedium)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			n := Network{Iface: Iface{Addr: netip.MustParsePrefix("192.0.2.7/24")}, DHCP: tc.mode}
			p, err := tc.share.plan([]*source{src}, n)
			if err != nil {
				t.Fatal(err)
			}
			if img, err := fs.ReadFile(p.Tree, UEFIIPXE); err != nil || !bytes.HasPrefix(img, []byte("MZ")) {
				t.Errorf("%s is not served (%v)", UEFIIPXE, err)
			}
			if img, err := fs.ReadFile(p.Tree, BIOSIPXE); err != nil || !bytes.Equal(img, assets.BIOSIPXE()) {
				t.Errorf("%s is not served as embedded (%v)", BIOSIPXE, err)
			}
			if p.HTTP == tc.share.TFTPBoot {
				t.Errorf("HTTP served: %v", p.HTTP)
			}
			if f, _ := p.BootFile(dhcp.Client{Arch: iana.EFI_X86_64}); f != tc.uefiFile {
				t.Errorf("UEFI client offered %q, want %q", f, tc.uefiFile)
			}
			if f, _ := p.BootFile(dhcp.Client{Arch: iana.INTEL_X86PC}); f != tc.biosFile {
				t.Errorf("BIOS client without iPXE offered %q, want %q", f, tc.biosFile)
			}
			for file, line := range map[string]string{"pxelinux.cfg/default": "\tlinux live/vmlinuz",
				UEFIMenuFile: "\t" + tc.grubKernel, BIOSScript: "\n" + tc.ipxeKernel, UEFIScript: "\n" + tc.ipxeKernel} {
				menu, err := fs.ReadFile(p.Tree, file)
				if err != nil || !bytes.Contains(menu, []byte(line)) {
					t.Errorf("%s lacks %q (%v):\n%s", file, line, err, menu)
				}
			}
		})
	}
}

// Which boot stage a fetch marks is one decision for TFTP and HTTP alike: iPXE fetching its
// script over HTTP reads its menu; it has not mounted a root (the log once said it had).
func TestStageOf(t *testing.T) {
	src, err := openSource(labMedium)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	p, err := (&Share{}).plan([]*source{src}, Network{Iface: Iface{Addr: netip.MustParsePrefix("192.0.2.7/24")}, DHCP: DHCPProxy})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file  string
		stage Stage
		ok    bool
	}{
		{BIOSLoader, StageLoader, true},
		{BIOSIPXE, StageLoader, true},
		{SignedLoader, StageLoader, true},
		{BIOSScript, StageMenu, true},
		{UEFIScript, StageMenu, true},
		{UEFIMenuFile, StageMenu, true},
		{"pxelinux.cfg/default", StageMenu, true},
		{"live/vmlinuz", StageKernel, true},
		{"live/initrd.img", StageInitrd, true},
		{"live/filesystem.squashfs", "", false},
		{"ldlinux.c32", "", false},
	}
	for _, tc := range tests {
		if st, ok := p.stageOf(tc.file); st != tc.stage || ok != tc.ok {
			t.Errorf("stageOf(%s) = %q, %v; want %q, %v", tc.file, st, ok, tc.stage, tc.ok)
		}
	}
}

// A flood of DISCOVERs from made-up MACs: the tracker keeps at most maxTracked clients, reports
// newClientBurst of them at once and then one per newClientEvery, and says how many it left out.
func TestTrackerBoundsAFlood(t *testing.T) {
	var logs bytes.Buffer
	emitted := 0
	tr := newTracker(func(Event) { emitted++ }, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	clock := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	tr.now = func() time.Time { return clock }
	mac := func(i int) net.HardwareAddr {
		return net.HardwareAddr{0x02, 0, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
	}

	const flood = 100_000
	for i := range flood {
		tr.report(mac(i), netip.Addr{}, StageOffered, "pxelinux.0")
	}
	if n := tr.last.len(); n != maxTracked {
		t.Errorf("%d clients tracked after %d, want the bound %d", n, flood, maxTracked)
	}
	if emitted != newClientBurst {
		t.Errorf("%d new clients reported at once, want %d", emitted, newClientBurst)
	}
	// The most recent clients are remembered: a retry of theirs is not news.
	if tr.report(mac(flood-1), netip.Addr{}, StageOffered, "pxelinux.0") {
		t.Error("a retry of a remembered client was reported again")
	}
	// A client that goes on to its next stage is reported, rate or not: it is known.
	if !tr.report(mac(flood-1), netip.Addr{}, StageLoader, "pxelinux.0") {
		t.Error("the next stage of a known client was not reported")
	}
	clock = clock.Add(10 * newClientEvery)
	emitted = 0
	for i := range 1000 {
		tr.report(mac(flood+i), netip.Addr{}, StageOffered, "pxelinux.0")
	}
	if emitted != 10 {
		t.Errorf("%d new clients reported after 10 intervals, want 10", emitted)
	}
	want := fmt.Sprintf("not_reported=%d", flood-newClientBurst)
	if !strings.Contains(logs.String(), want) {
		t.Errorf("log does not say how many were left out (%s):\n%.500s", want, logs.String())
	}
}
