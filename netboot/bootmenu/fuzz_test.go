package bootmenu

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"testing/fstest"
	"time"
)

// FuzzParseSyslinux feeds arbitrary text as a medium's isolinux.cfg and as
// the one file it may include (which may include itself or the main file).
// The parser must never panic or hang; whatever it accepts must survive the
// rewrite's invariants: idempotence and the render/parse round trip.
func FuzzParseSyslinux(f *testing.F) {
	for _, data := range mediaConfigs(f) {
		f.Add(data, []byte("include isolinux.cfg\n"))
	}
	f.Add([]byte("include inc.cfg\nlabel a\nkernel /casper/vmlinuz\nappend initrd=/casper/initrd boot=casper\n"),
		[]byte("include inc.cfg\ninclude /isolinux/isolinux.cfg\nmenu begin\nlabel b\nlinux x\ninitrd y\nappend boot=live\nmenu end\n"))
	f.Add([]byte("config inc.cfg\n"), []byte("config isolinux.cfg\n"))
	f.Add([]byte("label x\ntext help\nendtext\nF1 a\nlocalboot -1\ncom32 hdt.c32\n"), []byte(""))

	f.Fuzz(func(t *testing.T, main, inc []byte) {
		start := time.Now()
		defer func() {
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("slow input: %v for %d+%d bytes", d, len(main), len(inc))
			}
		}()
		fsys := fstest.MapFS{
			"isolinux/isolinux.cfg":    {Data: main},
			"isolinux/inc.cfg":         {Data: inc},
			"live/filesystem.squashfs": {},
		}
		m, err := ParseSyslinux(fsys, "isolinux/isolinux.cfg", "isolinux")
		if err != nil {
			if !errors.Is(err, ErrLimit) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		// Rendering any parsed menu must be stable after one pass.
		r1 := RenderPxelinux(m)
		m2, err := ParseSyslinux(fstest.MapFS{"d": {Data: r1}}, "d", "")
		if err != nil {
			if errors.Is(err, ErrLimit) {
				return // a value at the line limit grew by its indentation
			}
			t.Fatalf("parsing rendered menu: %v\n%s", err, r1)
		}
		if r2 := RenderPxelinux(m2); !bytes.Equal(r1, r2) {
			t.Fatalf("render not stable:\n%s\n---\n%s", r1, r2)
		}
		_ = Modules(m)
		for _, fr := range []struct {
			fam  Family
			root NetRoot
		}{{DetectFamily(fsys, m), testRoot}, {FamilyCasper, testRoot}, {DetectFamily(fsys, m), prefixRoot("arch")}} {
			fam, root := fr.fam, fr.root
			rw, err := RewriteForNetwork(m, fam, root, 7)
			if err != nil {
				continue
			}
			again, err := RewriteForNetwork(rw, fam, root, 7)
			if err != nil || !reflect.DeepEqual(again, rw) {
				t.Fatalf("rewrite not idempotent (%v):\n%+v\n%+v", err, rw, again)
			}
			if root.Prefix != "" {
				// Without the prefix again: the menu rewritten with none at once.
				plain, err1 := RewriteForNetwork(m, fam, testRoot, 7)
				back, err2 := RewriteForNetwork(rw, fam, testRoot, 7)
				if err1 != nil || err2 != nil || !reflect.DeepEqual(RenderPxelinux(plain), RenderPxelinux(back)) {
					t.Fatalf("prefix not taken off (%v, %v):\n%s\n---\n%s", err1, err2, RenderPxelinux(plain), RenderPxelinux(back))
				}
			}
			if err := checkIPXE(RenderIPXE(rw)); err != nil {
				t.Fatalf("iPXE script: %v\n%s", err, RenderIPXE(rw))
			}
			out := RenderPxelinux(rw)
			back, err := ParseSyslinux(fstest.MapFS{"d": {Data: out}}, "d", "")
			if errors.Is(err, ErrLimit) {
				continue
			}
			if back != nil {
				back.Prefix = rw.Prefix // no line of the file says it
			}
			if err != nil || !reflect.DeepEqual(back, rw) {
				t.Fatalf("round trip (%v):\n%+v\n%+v\n%s", err, rw, back, out)
			}
		}
	})
}
