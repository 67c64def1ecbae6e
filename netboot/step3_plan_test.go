package netboot

import (
	"bytes"
	"io/fs"
	"net/netip"
	"os"
	"strings"
	"testing"
)

// Two media in one share: each under a directory of its own, with its own menus and NFS
// export, and top-level menus for every loader that list both and boot the first by default.
// (The same medium twice: the hard case, where every path collides.)
func TestPlanSeveralMedia(t *testing.T) {
	srcs, skipped, err := openSources([]string{labMedium, labMedium})
	if err != nil || len(skipped) > 0 {
		t.Fatal(err, skipped)
	}
	defer closeSources(srcs)
	p, err := (&Share{}).plan(srcs, Network{Iface: Iface{Addr: netip.MustParsePrefix("192.0.2.7/24")}, DHCP: DHCPProxy})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Media) != 2 {
		t.Fatalf("%d media", len(p.Media))
	}
	a, b := p.Media[0], p.Media[1]
	if a.Prefix == "" || b.Prefix == "" || a.Prefix == b.Prefix || a.Export == b.Export ||
		a.Export != Export+"/"+a.Prefix || b.Export != Export+"/"+b.Prefix {
		t.Fatalf("prefixes %q %q, exports %q %q: want distinct, the exports under %s", a.Prefix, b.Prefix, a.Export, b.Export, Export)
	}
	read := func(name string) string {
		t.Helper()
		data, err := fs.ReadFile(p.Tree, name)
		if err != nil {
			t.Fatalf("the tree lacks %s: %v", name, err)
		}
		return string(data)
	}
	for _, m := range p.Media {
		// Each medium's own files and menus under its prefix, naming its own export.
		if k := read(m.Prefix + "/live/vmlinuz"); k == "" {
			t.Errorf("%s: empty kernel", m.Prefix)
		}
		menu := read(m.Prefix + "/pxelinux.cfg/default")
		for _, want := range []string{"linux " + m.Prefix + "/live/vmlinuz", "nfsroot=192.0.2.7:" + m.Export + " "} {
			if !strings.Contains(menu, want) {
				t.Errorf("%s's pxelinux menu lacks %q:\n%s", m.Prefix, want, menu)
			}
		}
		if !strings.Contains(read(m.Prefix+"/boot.ipxe"), "http://192.0.2.7/"+m.Prefix+"/live/vmlinuz") {
			t.Errorf("%s's iPXE script does not fetch its own kernel", m.Prefix)
		}
		if g := read("grub/" + m.Prefix + "/grub.cfg"); !strings.Contains(g, m.Prefix+"/live/vmlinuz") {
			t.Errorf("%s's GRUB menu does not load its own kernel:\n%s", m.Prefix, g)
		}
		if st, ok := p.stageOf(m.Prefix + "/live/vmlinuz"); !ok || st != StageKernel {
			t.Errorf("%s's kernel fetch is stage %q", m.Prefix, st)
		}
		for _, menu := range []string{m.Prefix + "/pxelinux.cfg/default", m.Prefix + "/boot.ipxe", "grub/" + m.Prefix + "/grub.cfg"} {
			if st, ok := p.stageOf(menu); !ok || st != StageMenu {
				t.Errorf("%s is stage %q, want menu", menu, st)
			}
		}
		if p.mediumOf(m.Prefix+"/live/filesystem.squashfs") != m {
			t.Errorf("%s's image is not told apart", m.Prefix)
		}
	}
	// The medium's paths are not served bare: a client sees a medium only through its prefix.
	if _, err := fs.ReadFile(p.Tree, "live/vmlinuz"); err == nil {
		t.Error("live/vmlinuz is served outside every medium's directory")
	}
	// The top menus list both media; the first is the default.
	for _, top := range []string{"pxelinux.cfg/default", BIOSScript, UEFIScript, UEFIMenuFile} {
		text := read(top)
		ia, ib := strings.Index(text, a.Prefix+"/"), strings.Index(text, b.Prefix+"/")
		if ia < 0 || ib < 0 || ia > ib {
			t.Errorf("top menu %s does not list %s then %s:\n%s", top, a.Prefix, b.Prefix, text)
		}
	}
	if ex := p.exports(); len(ex) != 2 || ex[a.Export] == nil || ex[b.Export] == nil {
		t.Errorf("exports %v", ex)
	}
	// Loaders stay at the root, once.
	if pxe := read(BIOSLoader); !bytes.HasPrefix([]byte(pxe), []byte{}) || len(pxe) == 0 {
		t.Error("no pxelinux.0 at the root")
	}
}

// A directory of ISO files shares every live ISO in it; the others are skipped, each named.
func TestOpenSourcesDirectoryOfISOs(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/notes.iso", []byte("not an ISO"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, skipped, err := openSources([]string{dir})
	if err == nil || len(skipped) != 1 || !strings.Contains(skipped[0], "notes.iso") {
		t.Errorf("a directory without a live ISO: err %v, skipped %q", err, skipped)
	}
}
