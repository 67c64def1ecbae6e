package bootmenu

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// realTopItems are the real media under testdata/media that the rewrite accepts, in name order,
// each served under its name, titled as its menu is (its title, else its default entry's).
func realTopItems(t *testing.T) []TopItem {
	t.Helper()
	rws := realRewrites(t)
	var items []TopItem
	for _, name := range mediaNames(t) {
		r, ok := rws[name+"/bios"]
		if !ok {
			r, ok = rws[name+"/grub-efi"]
		}
		if !ok {
			continue
		}
		rw, err := RewriteForNetwork(r.m, r.fam, prefixRoot(name), 5)
		if err != nil {
			t.Fatal(err)
		}
		title := rw.Title
		if title == "" {
			title = rw.DefaultEntry().PlainTitle()
		}
		items = append(items, TopItem{Label: name, Title: title, Prefix: name})
	}
	if len(items) < 2 {
		t.Fatalf("%d media for a top menu", len(items))
	}
	return items
}

func TestTopMenusRealMedia(t *testing.T) {
	items := realTopItems(t)
	pxe, ipxe, grub := RenderTopPxelinux(items, 5), RenderTopIPXE(items, 5, "boot.ipxe"), RenderTopGrub(items, 5)
	checkGolden(t, "top.pxelinux.cfg", pxe)
	checkGolden(t, "top.ipxe", ipxe)
	checkGolden(t, "top.grub.cfg", grub)
	checkTop(t, items, 5*time.Second, pxe, ipxe, grub, "boot.ipxe")
	checkTop(t, items, 5*time.Second, nil, RenderTopIPXE(items, 5, "uefi.ipxe"), nil, "uefi.ipxe")
}

// checkTop reads the three top menus back (nil: not given) and checks that each lists want
// (labels and titles as topFor makes them), opens each item's menu at its contracted path, and
// boots the first after timeout.
func checkTop(t *testing.T, items []TopItem, timeout time.Duration, pxe, ipxe, grub []byte, script string) {
	t.Helper()
	want := topFor(items, int(timeout/time.Second)).Items
	if pxe != nil {
		m, err := ParseSyslinux(fstest.MapFS{"default": {Data: pxe}}, "default", "")
		if err != nil {
			t.Fatalf("parsing the top pxelinux.cfg: %v\n%s", err, pxe)
		}
		if m.Timeout != int(timeout/(time.Second/10)) {
			t.Errorf("pxelinux timeout %d tenths, want %v", m.Timeout, timeout)
		}
		if len(want) > 0 && m.Default != want[0].Label {
			t.Errorf("pxelinux default %q, want the first item %q", m.Default, want[0].Label)
		}
		if len(m.Entries) != len(want) {
			t.Fatalf("pxelinux lists %d items, want %d:\n%s", len(m.Entries), len(want), pxe)
		}
		for i, e := range m.Entries {
			// CONFIG with no directory: pxelinux's working directory stays the TFTP root.
			if e.Kind != KindOther || e.Kernel != PxelinuxMenuPath(want[i].Prefix) || e.Append != "" ||
				e.Label != want[i].Label || e.Title != want[i].Title {
				t.Errorf("pxelinux item %d: %+v, want config %s for %+v", i, e, PxelinuxMenuPath(want[i].Prefix), want[i])
			}
		}
		if !strings.Contains(string(pxe), "\nui menu.c32\n") {
			t.Errorf("the top pxelinux menu does not load menu.c32 from the TFTP root:\n%s", pxe)
		}
	}
	if ipxe != nil {
		if err := checkIPXE(ipxe); err != nil {
			t.Errorf("top iPXE script: %v\n%s", err, ipxe)
		}
		var chains []string
		for _, l := range strings.Split(string(ipxe), "\n") {
			if c, ok := strings.CutPrefix(l, "chain "); ok {
				chains = append(chains, c)
			}
		}
		var wantChains []string
		for _, it := range want {
			wantChains = append(wantChains, IPXEScriptPath(it.Prefix, script))
		}
		if !slices.Equal(chains, wantChains) {
			t.Errorf("iPXE chains to %q, want %q", chains, wantChains)
		}
		for _, c := range chains {
			if strings.HasPrefix(c, "/") || strings.Contains(c, "://") {
				t.Errorf("iPXE chains to %q, not relative to its own script", c)
			}
		}
		if len(want) > 0 {
			choose := "choose --default e0 entry || set entry e0"
			if timeout > 0 {
				choose = "choose --default e0 --timeout " + strconv.FormatInt(timeout.Milliseconds(), 10) + " entry || set entry e0"
			}
			if !strings.Contains(string(ipxe), "\n"+choose+"\n") {
				t.Errorf("iPXE does not boot the first item after %v (%q):\n%s", timeout, choose, ipxe)
			}
		}
	}
	if grub != nil {
		checkGrubScript(t, grub)
		var files []string
		for _, l := range strings.Split(string(grub), "\n") {
			if c, ok := strings.CutPrefix(l, "\tconfigfile "); ok {
				// What GRUB opens, its $prefix being (tftp,SERVER)/grub, as a TFTP path.
				c = strings.ReplaceAll(strings.Trim(c, `"`), "${prefix}", "(tftp,SERVER)/grub")
				files = append(files, strings.TrimPrefix(c, "(tftp,SERVER)/"))
			}
		}
		var wantFiles []string
		for _, it := range want {
			wantFiles = append(wantFiles, GrubMenuPath(it.Prefix))
		}
		if !slices.Equal(files, wantFiles) {
			t.Errorf("GRUB opens %q, want %q:\n%s", files, wantFiles, grub)
		}
		wait := "set timeout=-1\n"
		if timeout > 0 {
			wait = "set timeout=" + strconv.Itoa(int(timeout/time.Second)) + "\n"
		}
		if !strings.Contains(string(grub), wait) {
			t.Errorf("GRUB does not wait %v (%q):\n%s", timeout, wait, grub)
		}
		if len(want) > 0 && !strings.Contains(string(grub), "set default="+grubQuote(grubDefaultName(want[0].Label, 0))+"\n") {
			t.Errorf("GRUB's default is not the first item %q:\n%s", want[0].Label, grub)
		}
	}
}

// TestTopMenusSanitise: titles and labels from anywhere (a medium's volume name, a user) stay
// text in every loader; items that cannot be served are left out; the rest keep their order.
func TestTopMenusSanitise(t *testing.T) {
	items := []TopItem{
		{Label: "Ubuntu 24.04", Title: "Ubuntu ${x} || reboot\nmenu title pwned", Prefix: "ubuntu"},
		{Label: "", Title: "", Prefix: "media/debian-13"},
		{Label: "ubuntu-24.04", Title: "It's \"quoted\" ; # here", Prefix: "ubuntu2"},
		{Label: "root", Title: "the top menu itself", Prefix: ""},
		{Label: "up", Title: "escapes", Prefix: "../etc"},
		{Label: "abs", Title: "absolute", Prefix: "/srv"},
		{Label: "space", Title: "space", Prefix: "a b"},
		{Label: "9lives", Title: "^Hotkey\r", Prefix: "nine"},
	}
	got := topFor(items, 3).Items
	want := []TopItem{
		{Label: "Ubuntu-24.04", Title: "Ubuntu ${x} || reboot menu title pwned", Prefix: "ubuntu"},
		{Label: "media/debian-13", Title: "media/debian-13", Prefix: "media/debian-13"},
		{Label: "ubuntu-24.04", Title: `It's "quoted" ; # here`, Prefix: "ubuntu2"},
		{Label: "9lives", Title: "^Hotkey", Prefix: "nine"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("topFor:\n%q\nwant\n%q", got, want)
	}
	pxe, ipxe, grub := RenderTopPxelinux(items, 3), RenderTopIPXE(items, 3, "boot.ipxe"), RenderTopGrub(items, 3)
	checkTop(t, items, 3*time.Second, pxe, ipxe, grub, "boot.ipxe")
	for _, out := range [][]byte{pxe, ipxe, grub} {
		if strings.Contains(string(out), "pwned\n") && strings.Contains(string(out), "\nmenu title pwned") {
			t.Errorf("a title broke its line:\n%s", out)
		}
		for _, bad := range []string{"../etc", "/srv", "a b/"} {
			if strings.Contains(string(out), bad) {
				t.Errorf("an item with an unservable prefix %q is listed:\n%s", bad, out)
			}
		}
	}
	if strings.Contains(string(ipxe), "${x}") || strings.Contains(string(ipxe), "|| reboot") {
		t.Errorf("iPXE would expand or run a title:\n%s", ipxe)
	}
	if g := RenderTopGrub(items[len(items)-1:], 3); !strings.Contains(string(g), "set default=0\n") {
		t.Errorf("a first label starting with a digit must be GRUB's default by index:\n%s", g)
	}
	// Two labels that differ only by a space are made unique.
	dup := topFor([]TopItem{{Label: "a b", Prefix: "x"}, {Label: "a-b", Prefix: "y"}}, 0).Items
	if dup[0].Label == dup[1].Label {
		t.Errorf("labels not unique: %q", dup)
	}
}

func TestTopMenusEmptyAndTimeouts(t *testing.T) {
	for _, items := range [][]TopItem{nil, {{Label: "bad", Prefix: "/x"}}} {
		pxe, ipxe, grub := RenderTopPxelinux(items, 5), RenderTopIPXE(items, 5, "boot.ipxe"), RenderTopGrub(items, 5)
		checkTop(t, items, 0, pxe, ipxe, grub, "boot.ipxe")
		if !strings.Contains(string(ipxe), "exit 1\n") {
			t.Errorf("an iPXE script with nothing to boot must say so and exit:\n%s", ipxe)
		}
		if strings.Contains(string(pxe), "default") || strings.Contains(string(grub), "default") {
			t.Errorf("a default with nothing to boot:\n%s\n%s", pxe, grub)
		}
	}
	items := []TopItem{{Label: "a", Prefix: "a"}, {Label: "b", Prefix: "b"}}
	checkTop(t, items, 0, RenderTopPxelinux(items, 0), RenderTopIPXE(items, -3, "boot.ipxe"), RenderTopGrub(items, 0), "boot.ipxe")
	long := time.Duration(maxTimeout/10) * time.Second
	checkTop(t, items, long, RenderTopPxelinux(items, 1e6), RenderTopIPXE(items, 1e6, "boot.ipxe"), RenderTopGrub(items, 1e6), "boot.ipxe")
	for _, script := range []string{"", "/boot.ipxe", "../boot.ipxe", "boot ipxe", "${x}"} {
		out := RenderTopIPXE(items, 5, script)
		if err := checkIPXE(out); err != nil || strings.Contains(string(out), "\nchain ") {
			t.Errorf("script name %q: %v\n%s", script, err, out)
		}
	}
}

// TestMenuPaths: the contract between the engine, which serves each medium's menus, and the top
// menus, which open them. No prefix names where a share of one medium has its menus
// (netboot's pxelinux.cfg/default, BIOSScript, UEFIMenuFile).
func TestMenuPaths(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{PxelinuxMenuPath(""), "pxelinux.cfg/default"},
		{PxelinuxMenuPath("ubuntu"), "ubuntu/pxelinux.cfg/default"},
		{IPXEScriptPath("", "boot.ipxe"), "boot.ipxe"},
		{IPXEScriptPath("media/ubuntu", "uefi.ipxe"), "media/ubuntu/uefi.ipxe"},
		{GrubMenuPath(""), "grub/grub.cfg"},
		{GrubMenuPath("ubuntu"), "grub/ubuntu/grub.cfg"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// FuzzTopMenus: any label, title and prefix give three top menus that read back to what topFor
// decided, an iPXE script that runs nothing of the item's, and a grub.cfg GRUB parses.
func FuzzTopMenus(f *testing.F) {
	for _, it := range []TopItem{
		{"ubuntu", "Ubuntu 24.04 LTS", "ubuntu"},
		{"a b", "x\ny ${z} || w", "media/x"},
		{"", "", "../x"},
		{"1", "'\"", "a..b"},
	} {
		f.Add(it.Label, it.Title, it.Prefix)
	}
	f.Fuzz(func(t *testing.T, label, title, prefix string) {
		items := []TopItem{{label, title, prefix}, {"second", "Second", "second"}}
		pxe := RenderTopPxelinux(items, 7)
		if _, err := ParseSyslinux(fstest.MapFS{"default": {Data: pxe}}, "default", ""); errors.Is(err, ErrLimit) {
			return // a title at the parser's line limit
		}
		checkTop(t, items, 7*time.Second, pxe, RenderTopIPXE(items, 7, "boot.ipxe"), RenderTopGrub(items, 7), "boot.ipxe")
	})
}

// TestTopGoldensDescribed: testdata/README.md says where every top golden comes from.
func TestTopGoldensDescribed(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("testdata", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"top.pxelinux.cfg", "top.ipxe", "top.grub.cfg"} {
		if !strings.Contains(string(readme), f) {
			t.Errorf("testdata/README.md does not say where golden/%s comes from", f)
		}
	}
}
