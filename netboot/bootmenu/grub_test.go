package bootmenu

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

// grubWant are the media read as our UEFI GRUB would (testdata/README.md).
var grubWant = map[string]mediumWant{
	"debian-live-12-lab":    {fam: FamilyLiveBoot, wantLive: 2},
	"debian-live-13-gnome":  {fam: FamilyLiveBoot, wantLive: 3},
	"ubuntu-25.10-desktop":  {fam: FamilyCasper, wantLive: 2},
	"fedora-43-workstation": {fam: FamilyDracut, wantLive: 2},
	"archlinux-2026.03.01":  {config: "boot/grub/loopback.cfg", fam: FamilyArchiso, wantLive: 2},
}

func TestGrubRealMedia(t *testing.T) {
	for _, name := range mediaNames(t) {
		tc, ok := grubWant[name]
		if !ok {
			continue // no GRUB menu: TestRealMedia
		}
		t.Run(name, func(t *testing.T) {
			fsys := os.DirFS(filepath.Join("testdata", "media", name))
			m, found, err := FindGrub(fsys, GrubEFI)
			if tc.config != "" {
				m, err = ParseGrub(fsys, tc.config, GrubEFI)
				found = tc.config
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("found %s", found)
			js, _ := json.MarshalIndent(m, "", "  ")
			checkGolden(t, name+".grub-efi.parsed.json", append(js, '\n'))
			if fam := DetectFamily(fsys, m); fam != tc.fam {
				t.Fatalf("DetectFamily = %q, want %q", fam, tc.fam)
			}
			if tc.fam == FamilyUnknown {
				return
			}
			rw, err := RewriteForNetwork(m, tc.fam, testRoot, 5)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, name+".grub.cfg", RenderGrub(rw))
			checkRewritten(t, rw, tc.fam)
			checkGrubRendered(t, rw, tc.fam)
			if n := countLive(rw); n != tc.wantLive {
				t.Errorf("live entries = %d, want %d", n, tc.wantLive)
			}
		})
	}
}

// checkGrubRendered: the rendered grub.cfg reads back to a menu that rewrites
// and renders to the same bytes (GRUB has no place for help texts, BOOTIF or
// COM32 tools, so the menu itself cannot round-trip), and its default and
// timeout are the menu's.
func checkGrubRendered(t *testing.T, rw *Menu, fam Family) {
	t.Helper()
	out := RenderGrub(rw)
	back, err := ParseGrub(fstest.MapFS{"grub/grub.cfg": {Data: out}}, "grub/grub.cfg", GrubEFI)
	if err != nil {
		t.Fatalf("parsing the rendered grub.cfg: %v\n%s", err, out)
	}
	if back.Default != rw.Default || back.Timeout != rw.Timeout {
		t.Errorf("default/timeout %q/%d read back as %q/%d", rw.Default, rw.Timeout, back.Default, back.Timeout)
	}
	again, err := RewriteForNetwork(back, fam, testRoot, rw.Timeout/10)
	if err != nil {
		t.Fatalf("rewriting the parsed grub.cfg: %v", err)
	}
	if out2 := RenderGrub(again); !bytes.Equal(out, out2) {
		t.Errorf("grub.cfg is not a fixed point of parse+rewrite+render:\n%s\n---\n%s", out, out2)
	}
	for _, e := range rw.Entries {
		if e.Kind == KindLinux && e.IPAppend == 2 && !bytes.Contains(out, []byte("\tlinux /"+e.Kernel+" ")) {
			t.Errorf("kernel %s not written as an absolute TFTP path:\n%s", e.Kernel, out)
		}
	}
}

// Media with only GRUB (Ubuntu since 20.10) get their BIOS menu from GRUB, read for a PC.
func TestFindFallsBackToGrub(t *testing.T) {
	fsys := os.DirFS(filepath.Join("testdata", "media", "ubuntu-25.10-desktop"))
	m, found, err := Find(fsys)
	if err != nil || found != "boot/grub/grub.cfg" {
		t.Fatalf("Find = %q, %v", found, err)
	}
	var titles []string
	for _, e := range m.Entries {
		titles = append(titles, e.Title)
	}
	// On a PC: memtest86+ instead of the UEFI-only entries.
	if want := []string{"Try or Install Ubuntu", "Ubuntu (safe graphics)", "Test memory"}; !reflect.DeepEqual(titles, want) {
		t.Errorf("titles %q, want %q", titles, want)
	}
	rw, err := RewriteForNetwork(m, DetectFamily(fsys, m), testRoot, 5)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "ubuntu-25.10-desktop.pxelinux.cfg", RenderPxelinux(rw))
	checkRewritten(t, rw, FamilyCasper)
	// memtest86+x64.bin is no UEFI program: the UEFI menu leaves it out.
	if out := RenderGrub(rw); bytes.Contains(out, []byte("memtest")) {
		t.Errorf("RenderGrub kept a BIOS memtest:\n%s", out)
	}
}

func parseGrubString(t *testing.T, files map[string]string) *Menu {
	t.Helper()
	fsys := fstest.MapFS{}
	for n, d := range files {
		fsys[n] = &fstest.MapFile{Data: []byte(d)}
	}
	m, err := ParseGrub(fsys, "grub.cfg", GrubEFI)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func titles(m *Menu) string {
	var out []string
	for _, e := range m.Entries {
		out = append(out, e.Title)
	}
	return strings.Join(out, ",")
}

func TestGrubDefaultAndTimeout(t *testing.T) {
	menu := `
menuentry a { linux /a; }
submenu s --id sub {
	menuentry b --id bee { linux /b; }
	menuentry c { linux /c; }
}
menuentry 'd e' { linux /d; }
`
	tests := []struct {
		set         string
		wantDefault string
		wantTimeout int
	}{
		{"", "a", 0},
		{"set default=2\nset timeout=0", "d e", 1},
		{"set default='d e'\nset timeout=-1", "d e", 0},
		{"set default=sub>1\nset timeout=3", "c", 30},
		{"default=1>bee\ntimeout=99999", "bee", maxTimeout / 10 * 10},
		{"set default=1", "", 0}, // a submenu: nothing to boot by default
		{"set default=7", "", 0},
	}
	for _, tc := range tests {
		m := parseGrubString(t, map[string]string{"grub.cfg": tc.set + "\n" + menu})
		if m.Default != tc.wantDefault || m.Timeout != tc.wantTimeout {
			t.Errorf("%q: default %q timeout %d, want %q %d", tc.set, m.Default, m.Timeout, tc.wantDefault, tc.wantTimeout)
		}
		if titles(m) != "a,b,c,d e" {
			t.Errorf("entries %q", titles(m))
		}
	}
}

func TestGrubScript(t *testing.T) {
	m := parseGrubString(t, map[string]string{
		"grub.cfg": `# comment
set k=/live/vmlinuz
args="boot=live  quiet"
if [ "$grub_platform" = "efi" -a x$grub_cpu == xx86_64 ]; then menuentry efi { linux $k $args; initrd /live/initrd; }
elif true; then
	menuentry not-taken { linux /x; }
else
	menuentry not-taken-either { linux /x; }
fi
if ! [ -f /missing ] ; then
	menuentry "file test" { linux ${k} "a=b c" 'it''s' \$x; initrd (cd0)/i1 ($root)/i2; }
fi
if search --file /x; then menuentry undecided-then { linux /x; }; else menuentry undecided-else { linux /x; }; fi
function f {
	menuentry in-function { linux /x; }
}
for i in 1 2; do menuentry in-loop { linux /x; }; done
source /inc.cfg
source /missing.cfg
source /grub.cfg
configfile /other.cfg
menuentry scoped { set k=/y; linux $k; }
menuentry after { linux $k; }
menuentry empty { echo nothing; }
menuentry fw { fwsetup; }
menuentry next { exit 1; }
menuentry off { echo bye; halt; }
`,
		"inc.cfg":   "menuentry inc { linux $k; }\n",
		"other.cfg": "menuentry other { linux /o; }\n",
	})
	want := "efi,file test,undecided-then,undecided-else,inc,other,scoped,after,fw,next,off"
	if got := titles(m); got != want {
		t.Fatalf("titles %q, want %q", got, want)
	}
	e := m.Entries[0]
	if e.Kernel != "live/vmlinuz" || e.Append != "boot=live quiet" || !reflect.DeepEqual(e.Initrds, []string{"live/initrd"}) || e.Kind != KindLinux {
		t.Errorf("efi entry %+v", e)
	}
	if e := m.Entries[1]; e.Append != `a="b c" its $x` || !reflect.DeepEqual(e.Initrds, []string{"i1", "i2"}) {
		t.Errorf("file test entry %+v", e)
	}
	if m.Entries[6].Kernel != "y" || m.Entries[7].Kernel != "live/vmlinuz" {
		t.Errorf("entry variables leaked: %+v", m.Entries[6:8])
	}
	if k := []Kind{m.Entries[8].Kind, m.Entries[9].Kind, m.Entries[10].Kind}; !reflect.DeepEqual(k, []Kind{KindOther, KindLocal, KindCOM32}) {
		t.Errorf("kinds %v", k)
	}
}

func TestGrubConfigfileHandsOver(t *testing.T) {
	// Fedora's EFI/BOOT/grub.cfg: search, set prefix, configfile the real menu.
	m := parseGrubString(t, map[string]string{
		"grub.cfg":             "search --file --set=root /x\nset prefix=($root)/boot/grub2\nconfigfile ($root)/boot/grub2/grub.cfg\n",
		"boot/grub2/grub.cfg":  "set default=1\nmenuentry a { linux /a; }\nmenuentry b { linux $prefix/b; }\nconfigfile /boot/grub2/loop.cfg\n",
		"boot/grub2/loop.cfg":  "configfile /boot/grub2/loop2.cfg\n",
		"boot/grub2/loop2.cfg": "configfile /boot/grub2/loop.cfg\n",
	})
	if titles(m) != "a,b" || m.Default != "b" || m.Entries[1].Kernel != "boot/grub2/b" {
		t.Errorf("menu %+v", m)
	}
	// Two files that hand over to each other forever end at the file limit.
	_, err := ParseGrub(fstest.MapFS{
		"grub.cfg": {Data: []byte("configfile /b.cfg\n")},
		"b.cfg":    {Data: []byte("configfile /grub.cfg\n")},
	}, "grub.cfg", GrubEFI)
	if !errors.Is(err, ErrLimit) {
		t.Errorf("configfile ping-pong: err = %v, want ErrLimit", err)
	}
}

func TestGrubLimits(t *testing.T) {
	tests := map[string]fstest.MapFS{
		"doubling variable": {"grub.cfg": {Data: []byte("a=x\n" + strings.Repeat("a=$a$a\n", 40))}},
		"deep blocks":       {"grub.cfg": {Data: []byte(strings.Repeat("if true; then\n", maxMenuDepth+2))}},
		"many entries":      {"grub.cfg": {Data: bytes.Repeat([]byte("menuentry x { linux /y; }\n"), maxEntries+1)}},
		"fan-out sources": {
			"grub.cfg": {Data: bytes.Repeat([]byte("source /b.cfg\n"), 20)},
			"b.cfg":    {Data: bytes.Repeat([]byte("source /c.cfg\n"), 20)},
			"c.cfg":    {Data: []byte("menuentry x { linux /y; }\n")},
		},
	}
	for name, fsys := range tests {
		if _, err := ParseGrub(fsys, "grub.cfg", GrubEFI); !errors.Is(err, ErrLimit) {
			t.Errorf("%s: err = %v, want ErrLimit", name, err)
		}
	}
}

func TestRenderGrubQuotes(t *testing.T) {
	m := &Menu{
		Timeout: 15,
		Default: "it's",
		Entries: []Entry{
			{Label: "it's", Title: "It's ^live\n$HOME {x}", Kind: KindLinux, Kernel: "live/vm linuz", Initrds: []string{"a,b", "live/i"},
				Append: `boot=live a="b c" ;reboot $x 'q' # if`},
			{Label: "hidden", Hidden: true, Kind: KindLinux, Kernel: "k"},
			{Label: "hd", Kind: KindLocal, LocalBoot: "0"},
			{Label: "hdt", Kind: KindCOM32, Kernel: "hdt.c32"},
			{Label: "rb", Kind: KindCOM32, Kernel: "reboot.c32"},
			{Label: "mt", Kind: KindLinux, Kernel: "live/memtest86+x64.efi"},
		},
	}
	out := RenderGrub(m)
	back, err := ParseGrub(fstest.MapFS{"g": {Data: out}}, "g", GrubEFI)
	if err != nil {
		t.Fatal(err)
	}
	if got := titles(back); got != "It's live $HOME {x},hd,rb,mt" {
		t.Errorf("titles %q\n%s", got, out)
	}
	e := back.Entries[0]
	if e.Label != "it's" || e.Kernel != "live/vm" || e.Append != `boot=live a="b c" ;reboot $x 'q' # if` ||
		!reflect.DeepEqual(e.Initrds, []string{"a,b", "live/i"}) || back.Default != "it's" || back.Timeout != 20 {
		t.Errorf("read back %+v default %q timeout %d\n%s", e, back.Default, back.Timeout, out)
	}
	if !bytes.Equal(RenderGrub(back), RenderGrub(m)) {
		t.Errorf("not stable:\n%s\n---\n%s", out, RenderGrub(back))
	}
}

// FuzzParseGrub feeds arbitrary text as a medium's grub.cfg and one file it
// may source. The parser must not panic or hang, and what it reads must keep
// the rewrite's invariants: idempotence, and grub.cfg a fixed point of
// parse+rewrite+render.
func FuzzParseGrub(f *testing.F) {
	for _, data := range mediaConfigs(f) {
		f.Add(data, []byte("source /boot/grub/grub.cfg\n"))
	}
	f.Add([]byte("source /boot/grub/inc.cfg\nif [ $x = y ]; then menuentry a { linux /live/k boot=live; initrd /live/i; }; fi"),
		[]byte("set default=0>1\nsubmenu s { menuentry b { linux /casper/k; initrd /casper/i; } }"))
	f.Add([]byte("configfile /boot/grub/inc.cfg\n"), []byte("configfile /boot/grub/grub.cfg\n"))

	f.Fuzz(func(t *testing.T, main, inc []byte) {
		fsys := fstest.MapFS{
			"boot/grub/grub.cfg":       {Data: main},
			"boot/grub/inc.cfg":        {Data: inc},
			"live/filesystem.squashfs": {},
		}
		m, err := ParseGrub(fsys, "boot/grub/grub.cfg", GrubEFI)
		if err != nil {
			if !errors.Is(err, ErrLimit) && !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		r1 := RenderGrub(m)
		m2, err := ParseGrub(fstest.MapFS{"g": {Data: r1}}, "g", GrubEFI)
		if err != nil {
			if errors.Is(err, ErrLimit) {
				return
			}
			t.Fatalf("parsing rendered grub.cfg: %v\n%s", err, r1)
		}
		if r2 := RenderGrub(m2); !bytes.Equal(r1, r2) {
			t.Fatalf("render not stable:\n%s\n---\n%s", r1, r2)
		}
		for _, fam := range []Family{FamilyLiveBoot, FamilyCasper} {
			rw, err := RewriteForNetwork(m, fam, testRoot, 7)
			if err != nil {
				continue
			}
			again, err := RewriteForNetwork(rw, fam, testRoot, 7)
			if err != nil || !reflect.DeepEqual(again, rw) {
				t.Fatalf("rewrite not idempotent (%v):\n%+v\n%+v", err, rw, again)
			}
			out := RenderGrub(rw)
			back, err := ParseGrub(fstest.MapFS{"g": {Data: out}}, "g", GrubEFI)
			if errors.Is(err, ErrLimit) {
				continue
			}
			if err != nil {
				t.Fatalf("parsing rendered grub.cfg: %v\n%s", err, out)
			}
			if rw2, err := RewriteForNetwork(back, fam, testRoot, 7); err == nil {
				if out2 := RenderGrub(rw2); !bytes.Equal(out, out2) {
					t.Fatalf("grub.cfg not a fixed point:\n%s\n---\n%s", out, out2)
				}
			}
		}
	})
}

// GRUB reads a $default that starts with a digit as an index and ">" as a
// step into a submenu, so an entry whose id looks like either must be named
// by its index for the default to survive the round trip.
func TestRenderGrubDefaultName(t *testing.T) {
	for _, tc := range []struct {
		def, want string
	}{
		{"b", "set default=b\n"},
		{"1", "set default=2\n"},
		{"0x0", "set default=3\n"},
		{"x>y", "set default=4\n"},
	} {
		m := &Menu{Default: tc.def}
		for _, l := range []string{"a", "b", "1", "0x0", "x>y"} {
			m.Entries = append(m.Entries, Entry{Label: l, Kind: KindLinux, Kernel: "live/vmlinuz", Default: l == tc.def})
		}
		out := RenderGrub(m)
		if !bytes.Contains(out, []byte(tc.want)) {
			t.Errorf("default %q: want %q in\n%s", tc.def, tc.want, out)
		}
		back, err := ParseGrub(fstest.MapFS{"g": {Data: out}}, "g", GrubEFI)
		if err != nil || back.Default != tc.def {
			t.Errorf("default %q read back as %q (%v)\n%s", tc.def, back.Default, err, out)
		}
	}
}
