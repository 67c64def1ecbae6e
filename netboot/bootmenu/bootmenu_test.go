package bootmenu

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current code")

var testRoot = NetRoot{Server: netip.MustParseAddr("192.168.50.1"), Export: "/sharecd"}

// mediumWant is what one medium under testdata/media must give. The media themselves are found
// by globbing (mediaNames); TestMediaHaveExpectations fails for a medium with no entry here.
type mediumWant struct {
	config   string // "" = Find (or FindGrub) it
	fam      Family // expected DetectFamily; FamilyUnknown = not a live medium
	wantLive int    // live entries after the rewrite
}

// syslinuxWant are the media read as a BIOS client's menu (testdata/README.md).
var syslinuxWant = map[string]mediumWant{
	"debian-live-12-lab":       {fam: FamilyLiveBoot, wantLive: 2},
	"netrunner-debian-live":    {config: "isolinux/live.cfg", fam: FamilyLiveBoot, wantLive: 2},
	"ubuntu-20.04-live-server": {config: "isolinux/txt.cfg", fam: FamilyCasper, wantLive: 2},
	"linuxmint-11":             {fam: FamilyCasper, wantLive: 3},
	"debian-10-install":        {fam: FamilyUnknown},
}

// mediaNames are the media under testdata/media, sorted.
func mediaNames(t testing.TB) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("testdata", "media", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no media under testdata/media (%v)", err)
	}
	var names []string
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			names = append(names, filepath.Base(d))
		}
	}
	return names
}

// mediaConfigs are the contents of every menu file under testdata/media, for fuzz seeds.
func mediaConfigs(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	err := filepath.WalkDir(filepath.Join("testdata", "media"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".cfg" {
			return err
		}
		data, err := os.ReadFile(p)
		out = append(out, data)
		return err
	})
	if err != nil || len(out) == 0 {
		t.Fatalf("reading the media's menus: %d files, %v", len(out), err)
	}
	return out
}

func TestMediaHaveExpectations(t *testing.T) {
	on := map[string]bool{}
	for _, name := range mediaNames(t) {
		on[name] = true
		_, s := syslinuxWant[name]
		_, g := grubWant[name]
		if !s && !g {
			t.Errorf("testdata/media/%s: no entry in syslinuxWant or grubWant says what it must give", name)
		}
	}
	for _, want := range []map[string]mediumWant{syslinuxWant, grubWant} {
		for name := range want {
			if !on[name] {
				t.Errorf("expectations for %s, which is not under testdata/media", name)
			}
		}
	}
}

func parseMedium(t *testing.T, name, config string) (fs.FS, *Menu) {
	t.Helper()
	fsys := os.DirFS(filepath.Join("testdata", "media", name))
	if config == "" {
		m, found, err := Find(fsys)
		if err != nil {
			t.Fatalf("Find: %v", err)
		}
		t.Logf("found %s", found)
		return fsys, m
	}
	m, err := ParseSyslinux(fsys, config, filepath.Dir(config))
	if err != nil {
		t.Fatalf("ParseSyslinux(%s): %v", config, err)
	}
	return fsys, m
}

func checkGolden(t *testing.T, file string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", file)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden (run go test -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test -update and review the diff)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestRealMedia(t *testing.T) {
	for _, name := range mediaNames(t) {
		tc, ok := syslinuxWant[name]
		if !ok {
			continue // a GRUB-only medium: TestGrubRealMedia
		}
		t.Run(name, func(t *testing.T) {
			fsys, m := parseMedium(t, name, tc.config)
			js, err := json.MarshalIndent(m, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, name+".parsed.json", append(js, '\n'))

			fam := DetectFamily(fsys, m)
			if fam != tc.fam {
				t.Fatalf("DetectFamily = %q, want %q", fam, tc.fam)
			}
			rw, err := RewriteForNetwork(m, fam, testRoot, 5)
			if tc.fam == FamilyUnknown {
				if !errors.Is(err, ErrUnsupportedFamily) {
					t.Fatalf("RewriteForNetwork on a non-live medium: err = %v, want ErrUnsupportedFamily", err)
				}
				if _, err := RewriteForNetwork(m, FamilyLiveBoot, testRoot, 5); !errors.Is(err, ErrNoLinuxEntry) {
					t.Fatalf("RewriteForNetwork(live-boot) on an installer: err = %v, want ErrNoLinuxEntry", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("RewriteForNetwork: %v", err)
			}
			out := RenderPxelinux(rw)
			checkGolden(t, name+".pxelinux.cfg", out)
			overHTTP := *rw
			overHTTP.HTTPHost = testRoot.Server.String()
			script := RenderIPXE(&overHTTP)
			checkGolden(t, name+".ipxe", script)
			if err := checkIPXE(script); err != nil {
				t.Errorf("iPXE script: %v", err)
			}
			checkRewritten(t, rw, fam)
			if n := countLive(rw); n != tc.wantLive {
				t.Errorf("live entries = %d, want %d", n, tc.wantLive)
			}
		})
	}
}

func countLive(m *Menu) int {
	n := 0
	for _, e := range m.Entries {
		if e.Kind == KindLinux && e.IPAppend == 2 {
			n++
		}
	}
	return n
}

// checkRewritten checks the invariants every rewritten menu must keep:
// idempotence, the render/parse round trip, one default, the NFS arguments.
// rootArgs are the arguments every live entry rewritten for testRoot must have.
var rootArgs = map[Family][]string{
	FamilyLiveBoot: {"boot=live", "netboot=nfs", "nfsroot=192.168.50.1:/sharecd"},
	FamilyCasper:   {"boot=casper", "netboot=nfs", "nfsroot=192.168.50.1:/sharecd", "ip=dhcp"},
	FamilyDracut:   {"root=live:http://192.168.50.1/LiveOS/squashfs.img", "rd.live.image", "ip=dhcp"},
	FamilyArchiso:  {"archiso_nfs_srv=192.168.50.1:/sharecd", "ip=dhcp"},
	FamilyMiso:     {"miso_nfs_srv=192.168.50.1:/sharecd", "ip=dhcp"},
}

func checkRewritten(t *testing.T, rw *Menu, fam Family) {
	t.Helper()
	checkRewrittenFor(t, rw, fam, testRoot, rootArgs)
}

// checkRewrittenFor is checkRewritten for a menu rewritten for root, whose live entries must have
// the arguments in want.
func checkRewrittenFor(t *testing.T, rw *Menu, fam Family, root NetRoot, want map[Family][]string) {
	t.Helper()
	again, err := RewriteForNetwork(rw, fam, root, rw.Timeout/10)
	if err != nil {
		t.Fatalf("rewriting the rewritten menu: %v", err)
	}
	if !reflect.DeepEqual(again, rw) {
		t.Errorf("rewrite is not idempotent:\nonce:  %+v\ntwice: %+v", rw, again)
	}
	out := RenderPxelinux(rw)
	back, err := ParseSyslinux(fstest.MapFS{"pxelinux.cfg/default": {Data: out}}, "pxelinux.cfg/default", "")
	if err != nil {
		t.Fatalf("parsing the rendered menu: %v", err)
	}
	back.Prefix = rw.Prefix // no line of the file says it (Menu.Prefix)
	if !reflect.DeepEqual(back, rw) {
		t.Errorf("Parse(Render(m)) != m:\nm:    %+v\nback: %+v\nrendered:\n%s", rw, back, out)
	}
	defaults := 0
	for _, e := range rw.Entries {
		if e.Default {
			defaults++
			if e.Label != rw.Default {
				t.Errorf("entry %q is Default but Menu.Default = %q", e.Label, rw.Default)
			}
		}
		if e.Kind == KindLinux && e.IPAppend == 2 {
			args := splitArgs(e.Append)
			for _, want := range want[fam] {
				if !slicesContains(args, want) {
					t.Errorf("entry %q lacks %s: %s", e.Label, want, e.Append)
				}
			}
			if strings.HasPrefix(e.Kernel, "/") {
				t.Errorf("entry %q kernel %q is not TFTP-relative", e.Label, e.Kernel)
			}
		}
	}
	if defaults != 1 {
		t.Errorf("%d default entries, want 1", defaults)
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestDebianLiveLab(t *testing.T) {
	// The lab ISO spelled out: what the golden file shows, asserted.
	_, m := parseMedium(t, "debian-live-12-lab", "")
	// The BEL is live-build's (and debian-installer's): the menu beeps when
	// it appears, so a blind user knows the machine is waiting. Kept.
	if m.Title != "Boot menu\a" || m.Timeout != 0 || m.Default != "live-amd64" {
		t.Errorf("menu = %q timeout %d default %q", m.Title, m.Timeout, m.Default)
	}
	var labels []string
	for _, e := range m.Entries {
		labels = append(labels, e.Label)
	}
	// "mainmenu" is the submenu's "Back.." (menu exit): navigation, dropped.
	if want := []string{"live-amd64", "live-amd64-failsafe", "hdt"}; !reflect.DeepEqual(labels, want) {
		t.Fatalf("labels = %q, want %q", labels, want)
	}
	e := m.Entries[0]
	if e.Kernel != "live/vmlinuz" || !reflect.DeepEqual(e.Initrds, []string{"live/initrd.img"}) || e.Title != "^Live system (amd64)" {
		t.Errorf("entry 0 = %+v", e)
	}
	if hdt := m.Entries[2]; hdt.Kind != KindCOM32 || hdt.Kernel != "isolinux/hdt.c32" {
		t.Errorf("hdt = %+v", hdt)
	}
	rw, err := RewriteForNetwork(m, FamilyLiveBoot, testRoot, 5)
	if err != nil {
		t.Fatal(err)
	}
	want := "boot=live netboot=nfs nfsroot=192.168.50.1:/sharecd components hostname=sharecd-client console=tty0 console=ttyS0,115200"
	if got := rw.Entries[0].Append; got != want {
		t.Errorf("append = %q\nwant     %q", got, want)
	}
	if rw.Timeout != 50 || rw.Default != "live-amd64" {
		t.Errorf("timeout %d default %q", rw.Timeout, rw.Default)
	}
	if got, want := Modules(rw), []string{"hdt.c32", "ldlinux.c32", "libcom32.c32", "libgpl.c32", "libmenu.c32", "libutil.c32", "menu.c32"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Modules = %q, want %q", got, want)
	}
}

func TestNetArgs(t *testing.T) {
	root := NetRoot{Server: netip.MustParseAddr("10.0.0.1"), Export: "/x", HTTPPort: 8080}
	const nfs = "nfsroot=10.0.0.1:/x"
	tests := []struct {
		name, in string
		fam      Family
		want     string
	}{
		{"live keeps console last", "boot=live components quiet console=ttyS0", FamilyLiveBoot,
			"boot=live netboot=nfs " + nfs + " components quiet console=ttyS0"},
		{"live drops findiso", "boot=live components quiet splash findiso=${iso_path}", FamilyLiveBoot,
			"boot=live netboot=nfs " + nfs + " components quiet splash"},
		{"live without boot= gets it first", "quiet splash", FamilyLiveBoot,
			"boot=live netboot=nfs " + nfs + " quiet splash"},
		{"live keeps toram and live-media-path", "boot=live toram live-media-path=/live live-media=/dev/sr0", FamilyLiveBoot,
			"boot=live netboot=nfs " + nfs + " toram live-media-path=/live"},
		{"live keeps a user ip=", "boot=live ip=eth0:dhcp", FamilyLiveBoot,
			"boot=live netboot=nfs " + nfs + " ip=eth0:dhcp"},
		{"live drops ip=frommedia", "ip=frommedia boot=live", FamilyLiveBoot,
			"boot=live netboot=nfs " + nfs},
		{"live replaces an old nfsroot", "boot=live netboot=nfs nfsroot=1.2.3.4:/old quiet", FamilyLiveBoot,
			"boot=live netboot=nfs " + nfs + " quiet"},
		{"casper 20.04 lacks boot=", "quiet nomodeset ---", FamilyCasper,
			"boot=casper netboot=nfs " + nfs + " ip=dhcp quiet nomodeset ---"},
		{"casper mint", "noprompt cdrom-detect/try-usb=true file=/cdrom/preseed/mint.seed boot=casper quiet splash --", FamilyCasper,
			"noprompt file=/cdrom/preseed/mint.seed boot=casper netboot=nfs " + nfs + " ip=dhcp quiet splash --"},
		{"casper iso-scan and static ip", "boot=casper ip=10.1.1.1::10.1.1.254:255.255.255.0 iso-scan/filename=/x.iso quiet", FamilyCasper,
			"boot=casper netboot=nfs " + nfs + " ip=dhcp quiet"},
		{"quoted argument stays one", `boot=live foo="a b" console=ttyS0`, FamilyLiveBoot,
			`boot=live netboot=nfs ` + nfs + ` foo="a b" console=ttyS0`},
		{"duplicate boot= collapses", "boot=live quiet boot=live", FamilyLiveBoot,
			"boot=live netboot=nfs " + nfs + " quiet"},
		{"fedora 43", "quiet rhgb  root=live:CDLABEL=Fedora-WS-Live-43 rd.live.image", FamilyDracut,
			"quiet rhgb root=live:http://10.0.0.1:8080/LiveOS/squashfs.img rd.live.image ip=dhcp"},
		{"dracut own image dir and name", "root=live:LABEL=X rd.live.dir=/Live rd.live.squashimg=root.img rd.live.ram=1 console=ttyS0", FamilyDracut,
			"root=live:http://10.0.0.1:8080/Live/root.img rd.live.image ip=dhcp rd.live.dir=/Live rd.live.squashimg=root.img console=ttyS0"},
		{"dracut legacy liveimg and static ip", "liveimg root=CDLABEL=F ip=10.0.0.9::10.0.0.1:255.0.0.0::eth0:none", FamilyDracut,
			"root=live:http://10.0.0.1:8080/LiveOS/squashfs.img rd.live.image ip=dhcp"},
		{"dracut iso-scan loop", "iso-scan/filename=/f.iso root=live:CDLABEL=F rd.live.image quiet", FamilyDracut,
			"root=live:http://10.0.0.1:8080/LiveOS/squashfs.img rd.live.image ip=dhcp quiet"},
		{"archiso loopback", `archisobasedir=arch img_dev=UUID=${archiso_img_dev_uuid} img_loop="${iso_path}" accessibility=on`, FamilyArchiso,
			"archisobasedir=arch archiso_nfs_srv=10.0.0.1:/x ip=dhcp copytoram=n accessibility=on"},
		{"archiso syslinux", "archisobasedir=arch archisosearchuuid=2026-03-01-10-00-00-00 cow_spacesize=1G", FamilyArchiso,
			"archisobasedir=arch archiso_nfs_srv=10.0.0.1:/x ip=dhcp copytoram=n cow_spacesize=1G"},
		// The medium's own choice stands: Arch's "copy to RAM" entries.
		{"archiso copy to RAM", "archisobasedir=arch archisolabel=ARCH_202603 copytoram=y", FamilyArchiso,
			"archisobasedir=arch archiso_nfs_srv=10.0.0.1:/x ip=dhcp copytoram=y"},
		{"archiso own pxe entry", "archisobasedir=arch ip=:::::eth0:dhcp archiso_http_srv=http://${pxeserver}/ copytoram=n", FamilyArchiso,
			"archisobasedir=arch archiso_nfs_srv=10.0.0.1:/x ip=dhcp copytoram=n"},
		{"miso", "misobasedir=manjaro misolabel=MANJARO_2600 quiet systemd.show_status=1 driver=free", FamilyMiso,
			"misobasedir=manjaro miso_nfs_srv=10.0.0.1:/x ip=dhcp quiet systemd.show_status=1 driver=free"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := netArgs(tc.in, familyRules[tc.fam], root)
			if got != tc.want {
				t.Errorf("netArgs(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
			if again := netArgs(got, familyRules[tc.fam], root); again != got {
				t.Errorf("not idempotent: %q → %q", got, again)
			}
		})
	}
}

func TestParseSyslinux(t *testing.T) {
	fsys := fstest.MapFS{
		"boot/isolinux/isolinux.cfg": {Data: []byte(strings.Join([]string{
			"# comment",
			"PATH /boot/isolinux",
			"UI vesamenu.c32",
			"MENU TITLE  Test  medium ",
			"TIMEOUT 300",
			"DEFAULT second",
			"APPEND global=1",
			"F1 f1.txt",
			"f0 /help/f10.txt",
			"INCLUDE common.cfg",
			"Menu Include sub/extra.cfg",
			"include missing.cfg",
			"include loop.cfg",
			"LABEL first",
			"  MENU LABEL ^First",
			"  KERNEL ../../kernels/vmlinuz quiet",
			"  APPEND initrd=a.img,/b.img boot=live",
			"  IPAPPEND 1",
			"  TEXT HELP",
			"    Boots the first thing.  ",
			"",
			"    Really.",
			"  ENDTEXT",
			"LABEL second",
			"  LINUX vmlinuz2",
			"  INITRD one.img,two.img",
			"  APPEND initrd=ignored.img x=1",
			"LABEL third",
			"  KERNEL memtest86+.bin",
			"LABEL fourth",
			"  KERNEL /live/vmlinuz",
			"  APPEND -",
			"LABEL hidden",
			"  MENU HIDE",
			"  KERNEL vmlinuz",
			"LABEL local",
			"  LOCALBOOT",
			"LABEL sub",
			"  CONFIG other.cfg",
			"LABEL empty",
			"  MENU LABEL nothing to boot",
		}, "\n"))},
		"boot/isolinux/common.cfg":    {Data: []byte("label common\n\tcom32 chain.c32\n\tappend hd0 0\n")},
		"boot/isolinux/sub/extra.cfg": {Data: []byte("label extra\n  kernel extra.c32\n")},
		"boot/isolinux/loop.cfg":      {Data: []byte("include loop.cfg\ninclude /boot/isolinux/loop2.cfg\n")},
		"boot/isolinux/loop2.cfg":     {Data: []byte("include loop.cfg\nlabel inloop\n kernel loopk\n")},
	}
	m, name, err := Find(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if name != "boot/isolinux/isolinux.cfg" {
		t.Errorf("Find path = %q", name)
	}
	want := &Menu{
		Title:   "Test  medium",
		Timeout: 300,
		Default: "second",
		HelpFiles: []HelpFile{
			{Key: "F1", Path: "boot/isolinux/f1.txt"},
			{Key: "F10", Path: "help/f10.txt"},
		},
		Entries: []Entry{
			{Label: "common", Kind: KindCOM32, Kernel: "boot/isolinux/chain.c32", Append: "hd0 0"},
			{Label: "extra", Kind: KindCOM32, Kernel: "boot/isolinux/extra.c32", Append: "global=1"},
			{Label: "inloop", Kind: KindLinux, Kernel: "boot/isolinux/loopk", Append: "global=1"},
			{Label: "first", Title: "^First", Kind: KindLinux, Kernel: "kernels/vmlinuz",
				Initrds: []string{"boot/isolinux/a.img", "b.img"}, Append: "quiet boot=live", IPAppend: 1,
				Help: "    Boots the first thing.\n\n    Really."},
			{Label: "second", Kind: KindLinux, Kernel: "boot/isolinux/vmlinuz2",
				Initrds: []string{"boot/isolinux/one.img", "boot/isolinux/two.img"}, Append: "x=1", Default: true},
			{Label: "third", Kind: KindOther, Kernel: "boot/isolinux/memtest86+.bin", Append: "global=1"},
			{Label: "fourth", Kind: KindLinux, Kernel: "live/vmlinuz"},
			{Label: "hidden", Kind: KindLinux, Kernel: "boot/isolinux/vmlinuz", Append: "global=1", Hidden: true},
			{Label: "local", Kind: KindLocal, LocalBoot: "0", Append: "global=1"},
			{Label: "sub", Kind: KindOther, Kernel: "boot/isolinux/other.cfg", Append: "global=1"},
		},
	}
	if !reflect.DeepEqual(m, want) {
		got, _ := json.MarshalIndent(m, "", " ")
		exp, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("parsed:\n%s\nwant:\n%s", got, exp)
	}
}

func TestParseConfigRestart(t *testing.T) {
	// syslinux.cfg on many USB sticks only says "config /isolinux/isolinux.cfg".
	fsys := fstest.MapFS{
		"syslinux/syslinux.cfg":   {Data: []byte("timeout 7\nconfig /isolinux/isolinux.cfg\nlabel after\n kernel y\n")},
		"isolinux/isolinux.cfg":   {Data: []byte("include menu.cfg\n")},
		"isolinux/menu.cfg":       {Data: []byte("label live\n kernel vmlinuz\n append boot=live initrd=initrd.img\n")},
		"isolinux/other/ping.cfg": {Data: []byte("config /isolinux/other/pong.cfg\n")},
		"isolinux/other/pong.cfg": {Data: []byte("config /isolinux/other/ping.cfg\n")},
	}
	m, err := ParseSyslinux(fsys, "syslinux/syslinux.cfg", "syslinux")
	if err != nil {
		t.Fatal(err)
	}
	if m.Timeout != 0 || len(m.Entries) != 1 || m.Entries[0].Kernel != "isolinux/vmlinuz" || m.Entries[0].Initrds[0] != "isolinux/initrd.img" {
		t.Errorf("entries = %+v", m.Entries)
	}
	// Two configs that switch to each other forever end at the file limit.
	if _, err := ParseSyslinux(fsys, "isolinux/other/ping.cfg", "isolinux/other"); !errors.Is(err, ErrLimit) {
		t.Errorf("config ping-pong: err = %v, want ErrLimit", err)
	}
}

func TestParseLimits(t *testing.T) {
	deep := fstest.MapFS{}
	for i := range 40 {
		deep[nameN(i)] = &fstest.MapFile{Data: []byte("include " + nameN(i+1) + "\n")}
	}
	tests := []struct {
		name string
		fsys fstest.MapFS
	}{
		{"long line", fstest.MapFS{"a.cfg": {Data: bytes.Repeat([]byte("x"), maxLineLen+1)}}},
		{"big file", fstest.MapFS{"a.cfg": {Data: bytes.Repeat([]byte("#\n"), maxFileSize)}}},
		{"deep includes", deep},
		{"many entries", fstest.MapFS{"a.cfg": {Data: bytes.Repeat([]byte("label x\nlinux y\n"), maxEntries+1)}}},
		{"fan-out includes", fstest.MapFS{
			"a.cfg": {Data: bytes.Repeat([]byte("include b.cfg\n"), 20)},
			"b.cfg": {Data: bytes.Repeat([]byte("include c.cfg\n"), 20)},
			"c.cfg": {Data: []byte("label x\nlinux y\n")},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := "a.cfg"
			if tc.name == "deep includes" {
				name = nameN(0)
			}
			if _, err := ParseSyslinux(tc.fsys, name, ""); !errors.Is(err, ErrLimit) {
				t.Errorf("err = %v, want ErrLimit", err)
			}
		})
	}
}

func nameN(i int) string { return "d" + strings.Repeat("x", i) + ".cfg" }

// TestFindPrefersLinuxEntries: a candidate menu without a Linux entry does not win over a later
// one with some. Arch's syslinux.cfg (every archiso medium) only chooses a menu with
// whichsys.c32; its entries are in archiso_sys.cfg. --share refused every Arch ISO before.
func TestFindPrefersLinuxEntries(t *testing.T) {
	selectCfg := "DEFAULT select\n\nLABEL select\nCOM32 whichsys.c32\nAPPEND -pxe- pxe -sys- sys -iso- sys\n\n" +
		"LABEL pxe\nCONFIG archiso_pxe.cfg\n\nLABEL sys\nCONFIG archiso_sys.cfg\n"
	sysCfg := "DEFAULT arch64\nLABEL arch64\nLINUX /arch/boot/x86_64/vmlinuz-linux\n" +
		"INITRD /arch/boot/x86_64/initramfs-linux.img\nAPPEND archisobasedir=arch archisolabel=ARCH_202603\n"
	for _, tc := range []struct {
		name     string
		fsys     fstest.MapFS
		wantFile string
		wantKind Kind // of the first entry
	}{
		{"archiso", fstest.MapFS{"syslinux/syslinux.cfg": {Data: []byte(selectCfg)},
			"syslinux/archiso_sys.cfg": {Data: []byte(sysCfg)}}, "syslinux/archiso_sys.cfg", KindLinux},
		{"GRUB after a syslinux menu of utilities", fstest.MapFS{
			"isolinux/isolinux.cfg": {Data: []byte("label hdt\ncom32 hdt.c32\n")},
			"boot/grub/grub.cfg":    {Data: []byte("menuentry live {\nlinux /casper/vmlinuz\n}\n")}}, "boot/grub/grub.cfg", KindLinux},
		// With no Linux entry anywhere, the first menu found stands, and the rewrite says why.
		{"no Linux entry anywhere", fstest.MapFS{"syslinux/syslinux.cfg": {Data: []byte(selectCfg)}},
			"syslinux/syslinux.cfg", KindCOM32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, name, err := Find(tc.fsys)
			if err != nil || name != tc.wantFile || m.Entries[0].Kind != tc.wantKind {
				t.Fatalf("Find = %q, %v; want %s", name, err, tc.wantFile)
			}
		})
	}
}

func TestFindNoMenu(t *testing.T) {
	_, _, err := Find(fstest.MapFS{"boot/grub/grub.cfg": {Data: []byte("menuentry x {}")}})
	if !errors.Is(err, ErrNoMenu) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want ErrNoMenu wrapping fs.ErrNotExist", err)
	}
	// A config with no entries is skipped for the next candidate.
	m, name, err := Find(fstest.MapFS{
		"isolinux/isolinux.cfg": {Data: []byte("default vesamenu.c32\n")},
		"syslinux/syslinux.cfg": {Data: []byte("label a\nlinux k\n")},
	})
	if err != nil || name != "syslinux/syslinux.cfg" || len(m.Entries) != 1 {
		t.Errorf("Find = %v, %q, %v", m, name, err)
	}
}

func TestDetectFamily(t *testing.T) {
	live := &Menu{Entries: []Entry{{Label: "a", Kind: KindLinux, Kernel: "live/vmlinuz", Append: "boot=live"}}}
	casperArgs := &Menu{Default: "b", Entries: []Entry{
		{Label: "a", Kind: KindLinux, Kernel: "live/vmlinuz", Append: "boot=live"},
		{Label: "b", Kind: KindLinux, Kernel: "casper/vmlinuz", Append: "boot=casper", Default: true},
	}}
	bare := &Menu{Entries: []Entry{{Label: "a", Kind: KindLinux, Kernel: "casper/vmlinuz", Append: "quiet"}}}
	tests := []struct {
		name string
		fsys fs.FS
		m    *Menu
		want Family
	}{
		{"boot=live", nil, live, FamilyLiveBoot},
		{"default entry decides", nil, casperArgs, FamilyCasper},
		{"casper squashfs", fstest.MapFS{"casper/minimal.squashfs": {}}, bare, FamilyCasper},
		{"casper uuid", fstest.MapFS{".disk/casper-uuid-generic": {}}, nil, FamilyCasper},
		{"live squashfs", fstest.MapFS{"live/filesystem.squashfs": {}}, nil, FamilyLiveBoot},
		{"kernel directory", fstest.MapFS{}, bare, FamilyCasper},
		{"dracut squashfs", fstest.MapFS{"LiveOS/squashfs.img": {}}, nil, FamilyDracut},
		{"archiso airootfs", fstest.MapFS{"arch/x86_64/airootfs.sfs": {}}, nil, FamilyArchiso},
		{"dracut args", nil, &Menu{Entries: []Entry{{Kernel: "images/pxeboot/vmlinuz", Append: "quiet root=live:CDLABEL=F rd.live.image"}}}, FamilyDracut},
		{"miso args", nil, &Menu{Entries: []Entry{{Kernel: "boot/vmlinuz-x86_64", Append: "misobasedir=manjaro"}}}, FamilyMiso},
		{"nothing", fstest.MapFS{"boot/README": {}}, nil, FamilyUnknown},
		{"nil nil", nil, nil, FamilyUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := DetectFamily(tc.fsys, tc.m); got != tc.want {
				t.Errorf("DetectFamily = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRewriteErrors(t *testing.T) {
	m := &Menu{Entries: []Entry{{Label: "a", Kind: KindLinux, Kernel: "live/vmlinuz", Initrds: []string{"live/initrd"}, Append: "boot=live"}}}
	tests := []struct {
		name string
		m    *Menu
		fam  Family
		root NetRoot
		want error
	}{
		{"unknown family", m, FamilyUnknown, testRoot, ErrUnsupportedFamily},
		{"knoppix not yet", m, "knoppix", testRoot, ErrUnsupportedFamily},
		{"nil menu", nil, FamilyLiveBoot, testRoot, ErrNoLinuxEntry},
		{"wrong family", m, FamilyCasper, testRoot, ErrNoLinuxEntry},
		{"no initrd", &Menu{Entries: []Entry{{Label: "a", Kind: KindLinux, Kernel: "live/vmlinuz", Append: "boot=live"}}}, FamilyLiveBoot, testRoot, ErrNoLinuxEntry},
		{"IPv6 server", m, FamilyLiveBoot, NetRoot{Server: netip.MustParseAddr("fe80::1"), Export: "/"}, nil},
		{"zero server", m, FamilyLiveBoot, NetRoot{Export: "/"}, nil},
		{"relative export", m, FamilyLiveBoot, NetRoot{Server: testRoot.Server, Export: "x"}, nil},
		{"export with space", m, FamilyLiveBoot, NetRoot{Server: testRoot.Server, Export: "/a b"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := RewriteForNetwork(tc.m, tc.fam, tc.root, 5)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRewriteDefaultAndLabels(t *testing.T) {
	m := &Menu{
		Default: "install",
		Entries: []Entry{
			{Label: "install", Kind: KindLinux, Kernel: "install.amd/vmlinuz", Initrds: []string{"install.amd/initrd.gz"}, Append: "vga=788 --- quiet", Default: true},
			{Label: "my live", Title: "Live\nsystem", Kind: KindLinux, Kernel: "live/vmlinuz", Initrds: []string{"live/initrd.img"}, Append: "boot=live"},
			{Label: "my-live", Kind: KindLinux, Kernel: "live/vmlinuz", Initrds: []string{"live/initrd.img"}, Append: "boot=live toram"},
			{Label: "memtest", Kind: KindLinux, Kernel: "live/memtest86+x64.bin"},
			{Label: "ifcpu", Kind: KindCOM32, Kernel: "isolinux/ifcpu64.c32", Append: "live -- live686"},
			{Label: "reboot", Kind: KindCOM32, Kernel: "isolinux/REBOOT.C32"},
			{Label: "hd", Kind: KindLocal, LocalBoot: "0x80"},
			{Label: "floppy", Kind: KindOther, Kernel: "isolinux/fd.img"},
		},
	}
	rw, err := RewriteForNetwork(m, FamilyLiveBoot, testRoot, 100000)
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, e := range rw.Entries {
		labels = append(labels, e.Label)
	}
	if want := []string{"my-live", "my-live-2", "memtest", "reboot", "hd"}; !reflect.DeepEqual(labels, want) {
		t.Errorf("labels = %q, want %q", labels, want)
	}
	// The medium's default was the installer, which is gone: first live entry.
	if rw.Default != "my-live" || rw.Entries[0].Title != "Live system" {
		t.Errorf("default %q, title %q", rw.Default, rw.Entries[0].Title)
	}
	if rw.Timeout != maxTimeout/10*10 {
		t.Errorf("timeout %d, want clamped %d", rw.Timeout, maxTimeout)
	}
	if e := rw.Entries[3]; e.Kernel != "reboot.c32" {
		t.Errorf("reboot kernel %q, want the bare module name", e.Kernel)
	}
	if e := rw.Entries[4]; e.LocalBoot != "0" {
		t.Errorf("localboot %q, want 0 (PXELINUX: back to the BIOS)", e.LocalBoot)
	}
	if e := rw.Entries[2]; e.IPAppend != 0 || e.Append != "" {
		t.Errorf("memtest changed: %+v", e)
	}
	checkRewritten(t, rw, FamilyLiveBoot)
	if got, want := Modules(rw), []string{"ldlinux.c32", "libcom32.c32", "libutil.c32", "menu.c32", "reboot.c32"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Modules = %q, want %q", got, want)
	}
}

func TestModules(t *testing.T) {
	base := []string{"ldlinux.c32", "libcom32.c32", "libutil.c32", "menu.c32"}
	if got := Modules(nil); !reflect.DeepEqual(got, base) {
		t.Errorf("Modules(nil) = %q", got)
	}
	m := &Menu{Entries: []Entry{
		{Kind: KindCOM32, Kernel: "chain.c32"},
		{Kind: KindCOM32, Kernel: "isolinux/whatever"},
		{Kind: KindLinux, Kernel: "x.c32"},
	}}
	want := []string{"chain.c32", "ldlinux.c32", "libcom32.c32", "libutil.c32", "menu.c32", "whatever.c32"}
	if got := Modules(m); !reflect.DeepEqual(got, want) {
		t.Errorf("Modules = %q, want %q", got, want)
	}
}

func TestRenderSanitises(t *testing.T) {
	// A hand-built menu (not from the parser) must not break the config.
	m := &Menu{
		Title:     "two\nlines",
		Default:   "a",
		HelpFiles: []HelpFile{{Key: "F13", Path: "x"}, {Key: "f2", Path: "help two.txt"}},
		Entries: []Entry{
			{Label: "a", Kind: KindLinux, Kernel: "k", Initrds: []string{"i,j", ""}, Append: "x\nlabel evil", Help: "one\nendtext\nlabel evil"},
			{Label: "o", Kind: KindOther, Kernel: "fd.img"},
			{Label: "dot", Kind: KindLinux, Kernel: ". x"}, // names the TFTP root: no kernel
		},
	}
	out := string(RenderPxelinux(m))
	back, err := ParseSyslinux(fstest.MapFS{"d": {Data: []byte(out)}}, "d", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Entries) != 1 || back.Entries[0].Label != "a" || back.Title != "two lines" {
		t.Errorf("rendered:\n%s\nparsed back: %+v", out, back)
	}
	if !reflect.DeepEqual(back.HelpFiles, []HelpFile{{Key: "F2", Path: "help"}}) {
		t.Errorf("help files %+v", back.HelpFiles)
	}
	if e := back.Entries[0]; !reflect.DeepEqual(e.Initrds, []string{"ij"}) || e.Help != "one\nlabel evil" {
		t.Errorf("entry %+v", e)
	}
	if strings.Contains(out, "label dot") {
		t.Errorf("an entry whose kernel is the TFTP root was rendered:\n%s", out)
	}
	if !strings.HasPrefix(out, "# Written by sharecd") || !strings.Contains(out, "\nui menu.c32\n") {
		t.Errorf("header:\n%s", out)
	}
	if !bytes.Equal(RenderPxelinux(m), []byte(out)) {
		t.Error("render is not deterministic")
	}
}

// With BootOverHTTP GRUB's menu names kernels and initrds by URL on the share's HTTP server;
// pxelinux's stays on TFTP whatever the menu says.
func TestRenderBootOverHTTP(t *testing.T) {
	_, m := parseMedium(t, "debian-live-12-lab", "")
	tests := []struct {
		name   string
		root   NetRoot
		render func(*Menu) []byte
		want   []string
		absent []string
	}{
		{"pxelinux", NetRoot{Server: testRoot.Server, Export: "/sharecd", BootOverHTTP: true}, RenderPxelinux,
			[]string{"\tlinux live/vmlinuz\n", "\tinitrd live/initrd.img\n", "\tcom32 hdt.c32\n"}, []string{"http"}},
		// Quoted for the parentheses and comma; GRUB's lexer takes the quotes off.
		{"grub over HTTP", NetRoot{Server: testRoot.Server, Export: "/sharecd", BootOverHTTP: true}, RenderGrub,
			[]string{"\tlinux '(http,192.168.50.1)/live/vmlinuz' boot=live", "\tinitrd '(http,192.168.50.1)/live/initrd.img'\n"},
			[]string{"linux /live/"}},
		{"grub over HTTP, other port", NetRoot{Server: testRoot.Server, Export: "/sharecd", BootOverHTTP: true, HTTPPort: 8080}, RenderGrub,
			[]string{"\tlinux '(http,192.168.50.1:8080)/live/vmlinuz' boot=live"}, nil},
		{"grub over TFTP", NetRoot{Server: testRoot.Server, Export: "/sharecd"}, RenderGrub,
			[]string{"\tlinux /live/vmlinuz boot=live", "\tinitrd /live/initrd.img\n"}, []string{"http"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rw, err := RewriteForNetwork(m, FamilyLiveBoot, tc.root, 5)
			if err != nil {
				t.Fatal(err)
			}
			out := string(tc.render(rw))
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("lacks %q:\n%s", w, out)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(out, a) {
					t.Errorf("has %q:\n%s", a, out)
				}
			}
		})
	}
}

// pxelinux boots a default label that names no entry as a kernel of that name, and fails: the
// default is always an entry the file has.
func TestRenderPxelinuxDefault(t *testing.T) {
	live := Entry{Label: "live", Kind: KindLinux, Kernel: "live/vmlinuz"}
	hidden := Entry{Label: "safe", Kind: KindLinux, Kernel: "live/vmlinuz", Hidden: true}
	floppy := Entry{Label: "fd", Kind: KindOther, Kernel: "fd.img"}
	root := Entry{Label: "dot", Kind: KindLinux, Kernel: ". x"}
	tests := []struct {
		name, def string
		entries   []Entry
		want      string // the default line, "" for none
	}{
		{"the medium's default", "live", []Entry{hidden, live}, "default live"},
		{"a hidden default stays", "safe", []Entry{live, hidden}, "default safe"},
		{"left out: first shown", "fd", []Entry{floppy, hidden, live}, "default live"},
		{"a kernel that is the root: first shown", "dot", []Entry{root, live}, "default live"},
		{"none given: first shown", "", []Entry{hidden, live}, "default live"},
		{"nothing to boot", "fd", []Entry{floppy}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := string(RenderPxelinux(&Menu{Default: tc.def, Entries: tc.entries}))
			var got, marked []string
			label := ""
			for _, l := range strings.Split(out, "\n") {
				switch {
				case strings.HasPrefix(l, "default "):
					got = append(got, l)
				case strings.HasPrefix(l, "label "):
					label = strings.TrimPrefix(l, "label ")
				case l == "\tmenu default":
					marked = append(marked, label)
				}
			}
			if tc.want == "" {
				if len(got)+len(marked) != 0 {
					t.Errorf("default %q, marked %q in\n%s", got, marked, out)
				}
				return
			}
			if len(got) != 1 || got[0] != tc.want || len(marked) != 1 || "default "+marked[0] != tc.want {
				t.Errorf("default %q, marked %q; want %q in\n%s", got, marked, tc.want, out)
			}
		})
	}
}
