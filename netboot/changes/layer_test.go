package changes

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sharecd/sharecd/netboot/bootmenu"
)

// TestPlace: where each family's initramfs stacks one more layer, and a one-line refusal where
// it stacks none or would put another image over it.
func TestPlace(t *testing.T) {
	file := &fstest.MapFile{Data: []byte("x"), Mode: 0o644}
	const layer = LayerPrefix + "0123456789ab.squashfs"
	for _, tc := range []struct {
		name   string
		fam    bootmenu.Family
		files  []string
		listed string // a module file's text, in live/filesystem.module
		// image and moduleText are what Layer(layer) gives; module the module file's path
		image, module, moduleText string
		errHas                    string
	}{
		{"debian live", bootmenu.FamilyLiveBoot, []string{"live/filesystem.squashfs", "live/vmlinuz"}, "",
			"live/" + layer, "", "", ""},
		{"live-boot module file", bootmenu.FamilyLiveBoot, []string{"live/filesystem.squashfs", "live/extra.squashfs"}, "filesystem.squashfs\nextra.squashfs\n",
			"live/" + layer, "live/filesystem.module", "filesystem.squashfs\nextra.squashfs\n" + layer + "\n", ""},
		{"live-boot image sorting last", bootmenu.FamilyLiveBoot, []string{"live/filesystem.squashfs", "live/zzz.squashfs"}, "", "", "", "", "zzz.squashfs sorts after"},
		{"live-boot without images", bootmenu.FamilyLiveBoot, []string{"live/vmlinuz"}, "", "", "", "", "no root image"},
		{"ubuntu 22.04", bootmenu.FamilyCasper, []string{"casper/filesystem.squashfs"}, "", "casper/" + layer, "", "", ""},
		{"ubuntu 24.04 layers", bootmenu.FamilyCasper, []string{"casper/minimal.squashfs", "casper/minimal.standard.squashfs"}, "", "", "", "", "stacks layers"},
		{"casper directory image", bootmenu.FamilyCasper, []string{"casper/filesystem.squashfs", "casper/extra.dir/x"}, "", "", "", "", "extra.dir over the changes"},
		{"fedora", bootmenu.FamilyDracut, []string{"LiveOS/squashfs.img"}, "", "", "", "", "dracut medium cannot stack"},
		{"arch", bootmenu.FamilyArchiso, []string{"arch/x86_64/airootfs.sfs"}, "", "", "", "", "archiso medium cannot stack"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := fstest.MapFS{}
			for _, f := range tc.files {
				m[f] = file
			}
			if tc.listed != "" {
				m["live/filesystem.module"] = &fstest.MapFile{Data: []byte(tc.listed)}
			}
			got, err := Place(m, tc.fam)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("Place = %+v, %v; want one line saying %q", got, err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			image, text := got.Layer(layer)
			if image != tc.image || got.Module != tc.module || string(text) != tc.moduleText {
				t.Fatalf("Place gives %q, module %q (%q); want %q, %q (%q)", image, got.Module, text, tc.image, tc.module, tc.moduleText)
			}
		})
	}
}

// TestOver: the added file and the replaced one are in the namespace, listed, read and stat'ed
// under their names in the medium; the rest is the medium's; the host files are *os.File
// extents for sendfile.
func TestOver(t *testing.T) {
	const Image = LayerPrefix + "0123456789ab.squashfs"
	host := t.TempDir()
	img, mod := filepath.Join(host, "layer-on-host"), filepath.Join(host, "module-on-host")
	os.WriteFile(img, []byte("squashfs bytes"), 0o644)
	os.WriteFile(mod, []byte("filesystem.squashfs\n"+Image+"\n"), 0o644)
	base := fstest.MapFS{
		"live/filesystem.squashfs": {Data: []byte("root")},
		"live/filesystem.module":   {Data: []byte("filesystem.squashfs\n")},
		"live/vmlinuz":             {Data: []byte("kernel")},
	}
	o := Over(base, map[string]string{"live/" + Image: img, "live/filesystem.module": mod})
	if err := fstest.TestFS(o, "live/"+Image, "live/filesystem.module", "live/filesystem.squashfs", "live/vmlinuz"); err != nil {
		t.Fatal(err)
	}
	ents, err := fs.ReadDir(o, "live")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{"filesystem.module", "filesystem.squashfs", "vmlinuz", Image}; !slices.Equal(names, want) {
		t.Errorf("live/ lists %q, want %q", names, want)
	}
	if b, _ := fs.ReadFile(o, "live/filesystem.module"); !strings.HasSuffix(string(b), Image+"\n") {
		t.Errorf("the module file is the medium's: %q", b)
	}
	fi, err := fs.Lstat(o, "live/"+Image)
	if err != nil || fi.Name() != Image || fi.Size() != int64(len("squashfs bytes")) {
		t.Errorf("Lstat = %v, %v", fi, err)
	}
	f, err := o.Open("live/" + Image)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ext, ok := f.(interface {
		Extent(off, n int64) (*os.File, int64, bool)
	})
	if !ok {
		t.Fatal("the added file has no extent for sendfile")
	}
	if osf, off, ok := ext.Extent(3, 4); !ok || off != 3 || osf == nil {
		t.Errorf("Extent = %v, %d, %v", osf, off, ok)
	}
	if _, err := fs.Stat(base, "live/"+Image); err == nil {
		t.Error("the medium itself got the layer")
	}
}
