package bootmenu

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// readBack is a rendered menu as read back from the loader's file: what a client is offered.
type readBack struct {
	title    string // "" where the loader has none (GRUB)
	timeout  time.Duration
	def      string // label of the default entry
	entries  []readEntry
	hasTitle bool
}

// readEntry is one listed entry. label is the entry's label; for iPXE, whose labels are
// positions, the label of the entry at that position in the medium's menu.
type readEntry struct {
	label, kernel string
	initrds       []string
	args          string // "" for entries without a command line (local, COM32)
	kind          Kind
}

// readPxelinux reads RenderPxelinux's output with our syslinux parser; hidden entries are not
// listed, so they are left out.
func readPxelinux(out []byte) (readBack, error) {
	m, err := ParseSyslinux(fstest.MapFS{"default": {Data: out}}, "default", "")
	if err != nil {
		return readBack{}, err
	}
	rb := readBack{title: m.Title, hasTitle: true, timeout: time.Duration(m.Timeout) * time.Second / 10, def: m.Default}
	for _, e := range m.Entries {
		if e.Hidden {
			continue
		}
		re := readEntry{label: e.Label, kind: e.Kind, initrds: e.Initrds}
		if e.Kind != KindLocal {
			re.kernel, re.args = e.Kernel, e.Append
		}
		rb.entries = append(rb.entries, re)
	}
	return rb, nil
}

// readGrub reads RenderGrub's output with our GRUB parser.
func readGrub(out []byte) (readBack, error) {
	m, err := ParseGrub(fstest.MapFS{"grub.cfg": {Data: out}}, "grub.cfg", GrubEFI)
	if err != nil {
		return readBack{}, err
	}
	rb := readBack{def: m.Default}
	if m.Timeout > 0 {
		rb.timeout = time.Duration(m.Timeout) * time.Second / 10
	}
	for _, e := range m.Entries {
		re := readEntry{label: e.Label, kind: e.Kind, initrds: e.Initrds}
		if e.Kind == KindLinux {
			re.kernel, re.args = e.Kernel, e.Append
		}
		rb.entries = append(rb.entries, re)
	}
	return rb, nil
}

var ipxeLabel = regexp.MustCompile(`^e([0-9]+)$`)

// readIPXE reads RenderIPXE's output: the menu, item and choose lines, and each label's kernel
// and initrd lines. There is no iPXE script parser in Go; this reads only what the renderer
// writes (checkIPXE checks it writes nothing else). m is the rendered menu, whose labels the
// positions e0, e1, … stand for.
func readIPXE(out []byte, m *Menu) (readBack, error) {
	var rb readBack
	lines := strings.Split(string(out), "\n")
	bodies := map[string][]string{}
	var items []string
	cur := ""
	for _, l := range lines {
		f := strings.Fields(l)
		switch {
		case len(f) == 0 || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, ":"):
			cur = l[1:]
		case cur != "":
			bodies[cur] = append(bodies[cur], l)
		case f[0] == "menu":
			rb.hasTitle = true
			rb.title, _, _ = strings.Cut(strings.TrimPrefix(l, "menu "), " || goto ")
		case f[0] == "item":
			items = append(items, f[1])
		case f[0] == "choose":
			rb.def = f[2]
			if f[3] == "--timeout" {
				ms, err := strconv.Atoi(f[4])
				if err != nil {
					return rb, fmt.Errorf("choose line %q: %v", l, err)
				}
				rb.timeout = time.Duration(ms) * time.Millisecond
			}
		}
	}
	label := func(l string) (string, error) {
		sm := ipxeLabel.FindStringSubmatch(l)
		if sm == nil {
			return "", fmt.Errorf("label %q is not e<position>", l)
		}
		i, _ := strconv.Atoi(sm[1])
		if i >= len(m.Entries) {
			return "", fmt.Errorf("label %q: the menu has %d entries", l, len(m.Entries))
		}
		return menuFor(m, loaderIPXE).labelAt(i), nil
	}
	if rb.def != "" {
		d, err := label(rb.def)
		if err != nil {
			return rb, err
		}
		rb.def = d
	}
	for _, it := range items {
		l, err := label(it)
		if err != nil {
			return rb, err
		}
		re := readEntry{label: l, kind: KindLocal}
		for _, b := range bodies[it] {
			f := strings.Fields(b)
			switch f[0] {
			case "kernel":
				re.kind, re.kernel = KindLinux, ipxeFile(f[1])
				var args []string
				for _, a := range f[2:] {
					// The renderer's own: initrd= for the EFI stub, IPAPPEND's ip= and BOOTIF=.
					if !strings.HasPrefix(a, "initrd=") && !strings.Contains(a, "${netX/") {
						args = append(args, a)
					}
				}
				re.args = strings.Join(args, " ")
			case "initrd":
				re.initrds = append(re.initrds, ipxeFile(f[1]))
			}
		}
		rb.entries = append(rb.entries, re)
	}
	return rb, nil
}

// ipxeFile is the file an iPXE URL names, as the other loaders name it.
func ipxeFile(u string) string {
	if rest, ok := strings.CutPrefix(u, "http://"); ok {
		_, u, _ = strings.Cut(rest, "/")
	}
	// A medium served under a prefix names its files from the server's root (RenderIPXE).
	return strings.TrimPrefix(u, "/")
}

// plainArgs are command lines every loader writes as they are; the loaders keep other text
// literal each in its own way (quoting, dropping iPXE's operators), which their own tests check.
var plainArgs = regexp.MustCompile(`^[A-Za-z0-9=._/:,+@%-]*( [A-Za-z0-9=._/:,+@%-]+)*$`)

// wantFor is what loader l should offer of m: menuFor's decision, as the loader's file reads back.
func wantFor(m *Menu, l loader) readBack {
	s := menuFor(m, l)
	rb := readBack{title: s.Title, hasTitle: true, timeout: s.Timeout}
	switch {
	case l == loaderGrubEFI:
		rb.title, rb.hasTitle = "", false // grub.cfg has no menu title
	case l == loaderIPXE && s.Default < 0:
		return readBack{} // the script only says there is nothing to boot
	case l == loaderIPXE:
		if rb.title == "" {
			rb.title = "Boot menu"
		}
		rb.title = ipxeText(rb.title)
	}
	for i, e := range s.Entries {
		if i == s.Default {
			rb.def = e.Label
		}
		if e.Hidden {
			continue
		}
		re := readEntry{label: e.Label, kind: e.Kind}
		switch e.Kind {
		case KindLinux:
			re.kernel, re.args = cleanPath(e.Kernel), e.Append
			for _, f := range e.Initrds {
				re.initrds = append(re.initrds, cleanPath(f))
			}
		case KindCOM32:
			if l == loaderPxelinux {
				re.kernel, re.args = e.Kernel, e.Append
			}
		}
		rb.entries = append(rb.entries, re)
	}
	return rb
}

// comparable drops what a loader cannot say the same way as another: a medium's argument text
// that is not plain, and commas in initrd names (pxelinux separates initrds with them). Whether
// an entry's text is plain is judged on what menuFor decided (want), entry by entry: GRUB's
// renderer drops double quotes by design (GRUB quotes the kernel's arguments itself), so its
// read-back of `a "b` looks plain although the medium's text was not.
func comparable(rb, want readBack) readBack {
	out := rb
	out.entries = nil
	for i, e := range rb.entries {
		if !plainArgs.MatchString(e.args) || i < len(want.entries) && !plainArgs.MatchString(want.entries[i].args) {
			e.args = "(not plain)"
		}
		var initrds []string
		for _, f := range e.initrds {
			if f = strings.ReplaceAll(f, ",", ""); f != "" {
				initrds = append(initrds, f)
			}
		}
		e.initrds = initrds
		out.entries = append(out.entries, e)
	}
	return out
}

var loaders = []struct {
	name   string
	loader loader
	read   func(m *Menu) (readBack, error)
}{
	{"pxelinux", loaderPxelinux, func(m *Menu) (readBack, error) { return readPxelinux(RenderPxelinux(m)) }},
	{"ipxe", loaderIPXE, func(m *Menu) (readBack, error) { return readIPXE(RenderIPXE(m), m) }},
	{"grub", loaderGrubEFI, func(m *Menu) (readBack, error) { return readGrub(RenderGrub(m)) }},
}

// errTooLong: a value at the parser's line limit grew by the renderer's indentation; not a
// disagreement.
var errTooLong = errors.New("rendered line over the parser's limit")

// checkAgree renders m for each loader, reads each file back, and checks that each offers what
// menuFor decided for it, and that the three agree: the entries every loader can boot are the
// same, in the same order, with the same kernels, initrds and arguments; and the default is the
// same entry wherever each loader's default is one they can all boot. The timeout is the same.
func checkAgree(t *testing.T, m *Menu) {
	t.Helper()
	got := map[loader]readBack{}
	for _, l := range loaders {
		rb, err := l.read(m)
		if errors.Is(err, ErrLimit) {
			return
		}
		if err != nil {
			t.Fatalf("%s: reading the rendered menu back: %v", l.name, err)
		}
		want := wantFor(m, l.loader)
		rb, want = comparable(rb, want), comparable(want, want)
		if !reflect.DeepEqual(rb, want) {
			t.Errorf("%s offers\n%+v\nmenuFor decided\n%+v", l.name, rb, want)
		}
		got[l.loader] = rb
	}
	// Entries all three list, by label (menuFor keeps labels as written; a repeated label
	// is compared at its first place).
	count := map[string]int{}
	for _, rb := range got {
		seen := map[string]bool{}
		for _, e := range rb.entries {
			if !seen[e.label] {
				seen[e.label] = true
				count[e.label]++
			}
		}
	}
	common := func(rb readBack) []readEntry {
		var out []readEntry
		seen := map[string]bool{}
		for _, e := range rb.entries {
			if count[e.label] == len(loaders) && !seen[e.label] {
				seen[e.label] = true
				out = append(out, e)
			}
		}
		return out
	}
	p, i, g := got[loaderPxelinux], got[loaderIPXE], got[loaderGrubEFI]
	if a, b, c := common(p), common(i), common(g); !reflect.DeepEqual(a, b) || !reflect.DeepEqual(a, c) {
		t.Errorf("the entries all three loaders boot differ:\npxelinux %+v\nipxe     %+v\ngrub     %+v", a, b, c)
	}
	if p.timeout != i.timeout || p.timeout != g.timeout {
		t.Errorf("timeouts differ: pxelinux %v, ipxe %v, grub %v", p.timeout, i.timeout, g.timeout)
	}
	// iPXE shows no menu, so no title, when nothing in it can boot.
	if i.hasTitle && p.title != i.title && !(p.title == "" && i.title == "Boot menu") && plainArgs.MatchString(p.title) {
		t.Errorf("titles differ: pxelinux %q, ipxe %q", p.title, i.title)
	}
	if count[p.def] == len(loaders) && count[i.def] == len(loaders) && count[g.def] == len(loaders) &&
		(p.def != i.def || p.def != g.def) {
		t.Errorf("defaults differ: pxelinux %q, ipxe %q, grub %q", p.def, i.def, g.def)
	}
}

// realMenus are every menu read from testdata/media (as BIOS and UEFI clients see them), and
// each rewritten for the network where its family allows.
func realMenus(t *testing.T) map[string]*Menu {
	t.Helper()
	out := map[string]*Menu{}
	for _, name := range mediaNames(t) {
		fsys := os.DirFS(filepath.Join("testdata", "media", name))
		add := func(how string, m *Menu, err error) {
			if err != nil {
				return // which media have which menus is TestRealMedia's and TestGrubRealMedia's
			}
			out[name+"/"+how] = m
			if rw, err := RewriteForNetwork(m, DetectFamily(fsys, m), testRoot, 5); err == nil {
				out[name+"/"+how+"/rewritten"] = rw
			}
			if rw, err := RewriteForNetwork(m, DetectFamily(fsys, m), prefixRoot("arch"), 5); err == nil {
				out[name+"/"+how+"/rewritten-prefixed"] = rw
			}
		}
		if w, ok := syslinuxWant[name]; ok && w.config != "" {
			m, err := ParseSyslinux(fsys, w.config, filepath.Dir(w.config))
			add("syslinux", m, err)
		} else {
			m, _, err := Find(fsys)
			add("bios", m, err)
		}
		if w, ok := grubWant[name]; ok && w.config != "" {
			m, err := ParseGrub(fsys, w.config, GrubEFI)
			add("grub-efi", m, err)
		} else {
			m, _, err := FindGrub(fsys, GrubEFI)
			add("grub-efi", m, err)
		}
	}
	if len(out) == 0 {
		t.Fatal("no menu read from testdata/media")
	}
	return out
}

func TestRenderersAgree(t *testing.T) {
	menus := realMenus(t)
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range menus {
			if !yield(n) {
				return
			}
		}
	})
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			checkAgree(t, menus[name])
			checkGrubScript(t, RenderGrub(menus[name]))
			if rb, err := readPxelinux(RenderPxelinux(menus[name])); err == nil {
				checkURootSyslinux(t, RenderPxelinux(menus[name]), rb)
			}
		})
	}
}

// TestRenderersAgreeOnDefaults: the cases where the three loaders used to choose differently.
func TestRenderersAgreeOnDefaults(t *testing.T) {
	live := Entry{Label: "live", Kind: KindLinux, Kernel: "live/vmlinuz", Initrds: []string{"live/initrd"}}
	safe := Entry{Label: "safe", Kind: KindLinux, Kernel: "live/vmlinuz", Initrds: []string{"live/initrd"}, Hidden: true}
	local := Entry{Label: "hd", Kind: KindLocal, LocalBoot: "0"}
	memtest := Entry{Label: "mt", Kind: KindLinux, Kernel: "live/memtest86+x64.bin"}
	hdt := Entry{Label: "hdt", Kind: KindCOM32, Kernel: "hdt.c32"}
	tests := []struct {
		name, def string
		entries   []Entry
		want      string // every loader's default
	}{
		{"the medium's", "live", []Entry{local, live}, "live"},
		// iPXE took a hidden first entry, the others the first shown.
		{"none named: not a hidden one", "", []Entry{safe, live}, "live"},
		// GRUB kept a hidden default but the others hid it; now it is listed everywhere.
		{"a hidden default is listed", "safe", []Entry{live, safe}, "safe"},
		{"none named: the system, not the disk", "", []Entry{local, live}, "live"},
		{"none named: the system, not memtest", "", []Entry{memtest, live}, "live"},
		{"a default only pxelinux runs: the others fall back alike", "hdt", []Entry{hdt, local, live}, ""},
		{"nothing but the disk", "gone", []Entry{local}, "hd"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &Menu{Default: tc.def, Timeout: 15, Entries: tc.entries}
			checkAgree(t, m)
			for _, l := range loaders {
				rb, err := l.read(m)
				if err != nil {
					t.Fatal(err)
				}
				want := tc.want
				if want == "" { // hdt: pxelinux boots it, iPXE and GRUB the live system
					want = map[loader]string{loaderPxelinux: "hdt"}[l.loader]
					if want == "" {
						want = "live"
					}
				}
				if rb.def != want {
					t.Errorf("%s default %q, want %q", l.name, rb.def, want)
				}
				if rb.timeout != 2*time.Second {
					t.Errorf("%s timeout %v, want 1.5 s rounded up to 2 s", l.name, rb.timeout)
				}
			}
		})
	}
}

// FuzzRenderersAgree: any menu either parser accepts, as read and as rewritten, renders to
// three files that read back to what menuFor decided, and agree.
func FuzzRenderersAgree(f *testing.F) {
	for _, data := range mediaConfigs(f) {
		f.Add(data)
	}
	f.Add([]byte("default gone\nlabel a\nmenu hide\nlinux live/vmlinuz\ninitrd live/initrd\nappend boot=live\nlabel b\nlocalboot 0\n"))
	f.Add([]byte("timeout 15\nlabel x\ncom32 reboot.c32\nlabel m\nkernel memtest86+.bin\nlabel l\nlinux /casper/vmlinuz\ninitrd /casper/initrd\nappend -\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{"menu.cfg": {Data: data}, "live/filesystem.squashfs": {}}
		var menus []*Menu
		if m, err := ParseSyslinux(fsys, "menu.cfg", ""); err == nil {
			menus = append(menus, m)
		}
		if m, err := ParseGrub(fsys, "menu.cfg", GrubEFI); err == nil {
			menus = append(menus, m)
		}
		for _, m := range menus {
			for _, fam := range []Family{FamilyLiveBoot, FamilyCasper} {
				if rw, err := RewriteForNetwork(m, fam, testRoot, 7); err == nil {
					menus = append(menus, rw)
				}
				if rw, err := RewriteForNetwork(m, fam, prefixRoot("arch"), 7); err == nil {
					menus = append(menus, rw)
				}
			}
		}
		for _, m := range menus {
			checkAgree(t, m)
		}
		for _, m := range menus { // last: it skips where the tool is missing
			checkGrubScript(t, RenderGrub(m))
		}
	})
}

// labelAt is the label menuFor gave the entry at position pos of the medium's menu.
func (s shownMenu) labelAt(pos int) string {
	for _, e := range s.Entries {
		if e.Pos == pos {
			return e.Label
		}
	}
	return ""
}
