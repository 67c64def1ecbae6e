package bootmenu

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

// prefixRoot is testRoot for a medium served under prefix among several: its own export too.
func prefixRoot(prefix string) NetRoot {
	return NetRoot{Server: testRoot.Server, Export: "/sharecd/" + prefix, Prefix: prefix}
}

// prefixArgs are the arguments every live entry rewritten for prefixRoot(prefix) must have.
func prefixArgs(prefix string) map[Family][]string {
	nfs := "192.168.50.1:/sharecd/" + prefix
	return map[Family][]string{
		FamilyLiveBoot: {"boot=live", "netboot=nfs", "nfsroot=" + nfs},
		FamilyCasper:   {"boot=casper", "netboot=nfs", "nfsroot=" + nfs, "ip=dhcp"},
		FamilyDracut:   {"root=live:http://192.168.50.1/" + prefix + "/LiveOS/squashfs.img", "rd.live.image", "ip=dhcp"},
		FamilyArchiso:  {"archiso_nfs_srv=" + nfs, "ip=dhcp"},
		FamilyMiso:     {"miso_nfs_srv=" + nfs, "ip=dhcp"},
	}
}

// testPrefixes: one plain, one nested, and "arch", which is also the directory Arch's medium
// keeps its kernels in (arch/boot/x86_64/vmlinuz-linux): rewriting again must not take the
// medium's own directory for the prefix.
var testPrefixes = []string{"arch", "media/live-1"}

// realRewrites are the real media's menus, as BIOS (syslinux, or GRUB read for a PC) and UEFI
// (GRUB) clients get them, with their family; media the rewrite refuses are left out.
func realRewrites(t *testing.T) map[string]struct {
	m   *Menu
	fam Family
} {
	t.Helper()
	out := map[string]struct {
		m   *Menu
		fam Family
	}{}
	for _, name := range mediaNames(t) {
		fsys := os.DirFS(filepath.Join("testdata", "media", name))
		if w, ok := syslinuxWant[name]; ok && w.fam != FamilyUnknown {
			var m *Menu
			var err error
			if w.config != "" {
				m, err = ParseSyslinux(fsys, w.config, filepath.Dir(w.config))
			} else {
				m, _, err = Find(fsys)
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out[name+"/bios"] = struct {
				m   *Menu
				fam Family
			}{m, w.fam}
		}
		if w, ok := grubWant[name]; ok && w.fam != FamilyUnknown {
			var m *Menu
			var err error
			if w.config != "" {
				m, err = ParseGrub(fsys, w.config, GrubEFI)
			} else {
				m, _, err = FindGrub(fsys, GrubEFI)
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out[name+"/grub-efi"] = struct {
				m   *Menu
				fam Family
			}{m, w.fam}
		}
	}
	return out
}

// serverPaths are the paths a rendered menu names on the TFTP/HTTP server, with the scheme and
// host taken off, and the modules it names (served by sharecd for every medium, not the
// medium's). kind is "pxelinux", "ipxe" or "grub".
func serverPaths(kind string, out []byte) (paths, modules []string) {
	file := func(f string) {
		f = strings.Trim(f, "'")
		if rest, ok := strings.CutPrefix(f, "(http,"); ok {
			_, f, _ = strings.Cut(rest, ")")
		}
		if rest, ok := strings.CutPrefix(f, "http://"); ok {
			_, f, _ = strings.Cut(rest, "/")
		}
		paths = append(paths, strings.TrimPrefix(f, "/"))
	}
	args := func(ws []string) {
		for _, a := range ws {
			if _, u, ok := strings.Cut(strings.Trim(a, "'"), "http://"); ok {
				file("http://" + u)
			}
		}
	}
	for _, l := range strings.Split(string(out), "\n") {
		w := strings.Fields(l)
		if len(w) < 2 {
			continue
		}
		switch {
		case kind == "pxelinux" && (w[0] == "linux" || w[0] == "kernel"):
			file(w[1])
		case kind == "pxelinux" && w[0] == "initrd":
			for _, f := range strings.Split(w[1], ",") {
				file(f)
			}
		case kind == "pxelinux" && validFKey(w[0]):
			file(w[1])
		case kind == "pxelinux" && (w[0] == "com32" || w[0] == "ui"):
			modules = append(modules, w[1])
		case kind == "pxelinux" && w[0] == "append":
			args(w[1:])
		case kind == "ipxe" && w[0] == "kernel":
			file(w[1])
			args(w[2:])
		case kind == "ipxe" && w[0] == "initrd":
			file(w[1])
		case kind == "grub" && w[0] == "linux":
			file(w[1])
			args(w[2:])
		case kind == "grub" && w[0] == "initrd":
			for _, f := range w[1:] {
				file(f)
			}
		}
	}
	return paths, modules
}

// TestRealMediaPrefix: rewritten with a prefix, every file each real medium's menus name on the
// server, in every loader's file and over TFTP and HTTP alike, starts with the prefix; the
// modules do not; the NFS root is the medium's own export; and the rewrite is idempotent.
func TestRealMediaPrefix(t *testing.T) {
	for name, r := range realRewrites(t) {
		for _, prefix := range testPrefixes {
			t.Run(name+"/"+prefix, func(t *testing.T) {
				root := prefixRoot(prefix)
				rw, err := RewriteForNetwork(r.m, r.fam, root, 5)
				if err != nil {
					t.Fatal(err)
				}
				if rw.Prefix != prefix {
					t.Errorf("Menu.Prefix = %q, want %q", rw.Prefix, prefix)
				}
				checkRewrittenFor(t, rw, r.fam, root, prefixArgs(prefix))
				overHTTP := *rw
				overHTTP.HTTPHost = testRoot.Server.String()
				n := 0
				for _, out := range []struct {
					kind string
					data []byte
				}{
					{"pxelinux", RenderPxelinux(rw)},
					{"ipxe", RenderIPXE(rw)},
					{"ipxe", RenderIPXE(&overHTTP)},
					{"grub", RenderGrub(rw)},
					{"grub", RenderGrub(&overHTTP)},
				} {
					paths, modules := serverPaths(out.kind, out.data)
					for _, p := range paths {
						if !strings.HasPrefix(p, prefix+"/") {
							t.Errorf("%s names %q on the server, outside the prefix %s/:\n%s", out.kind, p, prefix, out.data)
						}
					}
					for _, p := range modules {
						if strings.Contains(p, "/") {
							t.Errorf("%s names the module %q, which is served at the TFTP root", out.kind, p)
						}
					}
					n += len(paths)
				}
				if n == 0 {
					t.Fatal("no server path found in the rendered menus: the test checks nothing")
				}
				for _, mod := range Modules(rw) {
					if strings.Contains(mod, "/") {
						t.Errorf("Modules lists %q; modules are served at the TFTP root", mod)
					}
				}
				// iPXE's script is served inside the prefix: relative names would get it twice.
				for _, l := range strings.Split(string(RenderIPXE(rw)), "\n") {
					if w := strings.Fields(l); len(w) > 1 && (w[0] == "kernel" || w[0] == "initrd") && !strings.HasPrefix(w[1], "/"+prefix+"/") {
						t.Errorf("iPXE line %q does not name its file from the server's root", l)
					}
				}
				// GRUB's menu, read back, says its files with the prefix; told so, it rewrites
				// and renders to the same bytes.
				out := RenderGrub(rw)
				back, err := ParseGrub(fstest.MapFS{"grub.cfg": {Data: out}}, "grub.cfg", GrubEFI)
				if err != nil {
					t.Fatal(err)
				}
				back.Prefix = prefix
				again, err := RewriteForNetwork(back, r.fam, root, 5)
				if err != nil {
					t.Fatal(err)
				}
				if out2 := RenderGrub(again); !bytes.Equal(out, out2) {
					t.Errorf("grub.cfg is not a fixed point of parse+rewrite+render:\n%s\n---\n%s", out, out2)
				}
				checkGrubScript(t, out)
			})
		}
	}
}

// TestPrefixNoneIsToday: Prefix "" is a share of one medium as it always was. A menu rewritten
// with a prefix and then with none renders to the golden files byte for byte, and one rewritten
// with a prefix and then another is the menu rewritten with the other at once.
func TestPrefixNoneIsToday(t *testing.T) {
	for name, r := range realRewrites(t) {
		t.Run(name, func(t *testing.T) {
			plain, err := RewriteForNetwork(r.m, r.fam, testRoot, 5)
			if err != nil {
				t.Fatal(err)
			}
			viaPrefix, err := RewriteForNetwork(r.m, r.fam, prefixRoot("arch"), 5)
			if err != nil {
				t.Fatal(err)
			}
			back, err := RewriteForNetwork(viaPrefix, r.fam, testRoot, 5)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, plain) {
				t.Errorf("prefix taken off again:\n%+v\nwant\n%+v", back, plain)
			}
			other, err := RewriteForNetwork(viaPrefix, r.fam, prefixRoot("media/live-1"), 5)
			if err != nil {
				t.Fatal(err)
			}
			direct, _ := RewriteForNetwork(r.m, r.fam, prefixRoot("media/live-1"), 5)
			if !reflect.DeepEqual(other, direct) {
				t.Errorf("prefix replaced:\n%+v\nwant\n%+v", other, direct)
			}
			medium, how, _ := strings.Cut(name, "/")
			overHTTP := *back
			overHTTP.HTTPHost = testRoot.Server.String()
			goldens := map[string][]byte{medium + ".grub.cfg": RenderGrub(back)}
			if how == "bios" {
				goldens = map[string][]byte{medium + ".pxelinux.cfg": RenderPxelinux(back), medium + ".ipxe": RenderIPXE(&overHTTP)}
			}
			for file, got := range goldens {
				want, err := os.ReadFile(filepath.Join("testdata", "golden", file))
				if errors.Is(err, os.ErrNotExist) {
					continue // not every BIOS menu has an iPXE golden
				}
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s: a menu served under a prefix and back differs from the golden file:\n%s", file, got)
				}
			}
		})
	}
}

func TestCheckPrefix(t *testing.T) {
	for _, p := range []string{"", "ubuntu", "media/fedora-43", "Arch_Linux.2026-03", "a/b/c"} {
		if err := CheckPrefix(p); err != nil {
			t.Errorf("CheckPrefix(%q) = %v, want nil", p, err)
		}
		if _, err := RewriteForNetwork(&Menu{Entries: []Entry{{Label: "l", Kind: KindLinux, Kernel: "live/vmlinuz",
			Initrds: []string{"live/initrd.img"}, Append: "boot=live"}}}, FamilyLiveBoot, prefixRoot(p), 0); err != nil {
			t.Errorf("RewriteForNetwork with prefix %q: %v", p, err)
		}
	}
	for _, p := range []string{
		"/ubuntu", "/", "..", "../x", "a/../b", "a..b", "ubuntu/", "a//b", "./a", ".", "a/.",
		"a b", "a\tb", "a\nb", `a"b`, "a'b", "a;b", "a$b", "a{b}", "a,b", "a#b", "a|b", "a&b", "a\\b",
		"a(b)", "a%b", "ü", strings.Repeat("x", maxPrefix+1),
	} {
		err := CheckPrefix(p)
		if !errors.Is(err, ErrBadPrefix) {
			t.Errorf("CheckPrefix(%q) = %v, want ErrBadPrefix", p, err)
			continue
		}
		if !strings.Contains(err.Error(), "path prefix") {
			t.Errorf("CheckPrefix(%q): message %q does not say what is wrong", p, err)
		}
		root := testRoot
		root.Prefix = p
		if _, err := RewriteForNetwork(&Menu{}, FamilyLiveBoot, root, 0); !errors.Is(err, ErrBadPrefix) {
			t.Errorf("RewriteForNetwork with prefix %q: err = %v, want ErrBadPrefix", p, err)
		}
	}
}

// TestPrefixPaths: every path the rewrite serves, however the medium wrote it, lands inside the
// prefix, and an entry's name that is no file stays none.
func TestPrefixPaths(t *testing.T) {
	m := &Menu{
		HelpFiles: []HelpFile{{Key: "F1", Path: "isolinux/help.txt"}},
		Entries: []Entry{
			{Label: "live", Kind: KindLinux, Kernel: "/live/vmlinuz", Initrds: []string{"../live/initrd.img", "live/extra.img"}, Append: "boot=live"},
			{Label: "mt", Kind: KindLinux, Kernel: "live/memtest86+x64.bin"},
			{Label: "hdt", Kind: KindCOM32, Kernel: "isolinux/hdt.c32"},
			{Label: "hd", Kind: KindLocal, LocalBoot: "0x80"},
		},
	}
	rw, err := RewriteForNetwork(m, FamilyLiveBoot, prefixRoot("p"), 0)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{rw.HelpFiles[0].Path, rw.Entries[0].Kernel, rw.Entries[0].Initrds[0], rw.Entries[0].Initrds[1],
		rw.Entries[1].Kernel, rw.Entries[2].Kernel, rw.Entries[3].Kernel}
	want := []string{"p/isolinux/help.txt", "p/live/vmlinuz", "p/live/initrd.img", "p/live/extra.img",
		"p/live/memtest86+x64.bin", "hdt.c32", ""}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("served paths %q, want %q", got, want)
	}
	if m.Entries[0].Kernel != "/live/vmlinuz" || m.HelpFiles[0].Path != "isolinux/help.txt" {
		t.Error("the rewrite changed its input")
	}
	for _, f := range []string{"", ".", "/", ". x", "p/.. x"} {
		if s := served("p", f); s != f {
			t.Errorf("served(%q) = %q: a name that is no file must stay none", f, s)
		}
		if u := unserved("p", served("p", f)); served("p", u) != served("p", f) {
			t.Errorf("unserved does not undo served for %q", f)
		}
	}
}
