package netboot

import (
	"testing"
	"testing/fstest"

	"github.com/sharecd/sharecd/netboot/bootmenu"
	"github.com/sharecd/sharecd/netboot/medium"
)

// TestPlaceAgain: where media go when a running share's list changes. Media already served keep
// their directory; new ones never take one of them, nor a top-level name of the medium served at
// the root; the root medium's menus move aside while others are listed, and come back when it
// is alone again.
func TestPlaceAgain(t *testing.T) {
	src := func(label string, names ...string) *source {
		tree := fstest.MapFS{}
		for _, n := range names {
			tree[n+"/x"] = &fstest.MapFile{Data: []byte(n)}
		}
		return &source{name: label, med: &medium.Medium{FS: tree, Label: label}, fam: bootmenu.FamilyLiveBoot}
	}
	root := src("Debian live", "live", "isolinux", "ubuntu")
	ubuntu := src("Ubuntu")
	live := src("Live")
	fedora := src("Fedora")
	type want struct {
		src              *source
		prefix, menuDir  string
		leaving, anyMenu bool // anyMenu: a menuDir is set, whatever its name
	}
	for _, tc := range []struct {
		name string
		old  []placement
		srcs []*source
		want []want
	}{
		{"a second medium beside a lone one at the root",
			[]placement{{src: root}}, []*source{root, ubuntu},
			// "ubuntu" is a directory of the root medium: the new one may not hide it.
			[]want{{src: root, anyMenu: true}, {src: ubuntu, prefix: "ubuntu-2"}}},
		{"its title is one of the root medium's directories",
			[]placement{{src: root}}, []*source{root, live},
			[]want{{src: root, anyMenu: true}, {src: live, prefix: "live-2"}}},
		{"the root medium taken out: listed last, leaving, its files where they were",
			[]placement{{src: root, menuDir: "debian-live"}, {src: ubuntu, prefix: "ubuntu-2"}}, []*source{ubuntu},
			[]want{{src: ubuntu, prefix: "ubuntu-2"}, {src: root, menuDir: "debian-live", leaving: true}}},
		{"alone again: its menus back at the root",
			[]placement{{src: root, menuDir: "debian-live"}, {src: ubuntu, prefix: "ubuntu-2"}}, []*source{root},
			[]want{{src: root}, {src: ubuntu, prefix: "ubuntu-2", leaving: true}}},
		{"order changed, one added: places kept, menu order followed",
			[]placement{{src: ubuntu, prefix: "ubuntu"}, {src: live, prefix: "live"}}, []*source{fedora, live, ubuntu},
			[]want{{src: fedora, prefix: "fedora"}, {src: live, prefix: "live"}, {src: ubuntu, prefix: "ubuntu"}}},
		{"a leaving medium's directory is not given away",
			[]placement{{src: ubuntu, prefix: "ubuntu", leaving: true}, {src: live, prefix: "live"}},
			[]*source{live, src("Ubuntu")},
			[]want{{src: live, prefix: "live"}, {prefix: "ubuntu-2"}, {src: ubuntu, prefix: "ubuntu", leaving: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := placeAgain(tc.old, tc.srcs)
			if len(got) != len(tc.want) {
				t.Fatalf("%d placements, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				g := got[i]
				if (w.src != nil && g.src != w.src) || g.prefix != w.prefix || g.leaving != w.leaving ||
					(w.anyMenu && g.menuDir == "") || (!w.anyMenu && g.menuDir != w.menuDir) {
					t.Errorf("placement %d = {%s prefix %q menuDir %q leaving %v}, want {prefix %q menuDir %q (any: %v) leaving %v}",
						i, g.src.name, g.prefix, g.menuDir, g.leaving, w.prefix, w.menuDir, w.anyMenu, w.leaving)
				}
				if g.menuDir != "" && (g.menuDir == "live" || g.menuDir == "isolinux" || g.menuDir == "ubuntu") {
					t.Errorf("the root medium's menus went to %q, one of its own directories", g.menuDir)
				}
			}
		})
	}
}
