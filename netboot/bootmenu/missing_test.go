package bootmenu

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// TestWithoutMissing: real menus over a medium that lacks some of the files they name. An entry
// whose kernel or initrd is missing is left out with one line naming it; the rest stay in order.
func TestWithoutMissing(t *testing.T) {
	kernelOnly := fstest.MapFS{"casper/vmlinuz": {}, "casper/initrd": {}}
	for _, tc := range []struct {
		name, medium string
		files        fstest.MapFS
		wantTitles   []string
		wantWarn     []string // substrings, one per warning, in order
		wantDefault  string
	}{
		{
			// Ubuntu 25.10's menu on a medium without its memory tester (BIOS branch parsed).
			name: "ubuntu memtest missing", medium: "ubuntu-25.10-desktop", files: kernelOnly,
			wantTitles: []string{"Try or Install Ubuntu", "Ubuntu (safe graphics)"},
			wantWarn:   []string{`"Test memory" left out: boot/memtest86+x64.bin is not on the medium`},
		},
		{
			name: "ubuntu all present", medium: "ubuntu-25.10-desktop",
			files:      fstest.MapFS{"casper/vmlinuz": {}, "casper/initrd": {}, "boot/memtest86+x64.bin": {}},
			wantTitles: []string{"Try or Install Ubuntu", "Ubuntu (safe graphics)", "Test memory"},
		},
		{
			// The initrd missing takes every entry that loads it, the default among them.
			name: "ubuntu initrd missing", medium: "ubuntu-25.10-desktop",
			files:      fstest.MapFS{"casper/vmlinuz": {}, "boot/memtest86+x64.bin": {}},
			wantTitles: []string{"Test memory"},
			wantWarn:   []string{"casper/initrd is not on the medium", "casper/initrd is not on the medium"},
		},
		{
			// A directory where the kernel should be is no kernel.
			name: "kernel is a directory", medium: "ubuntu-25.10-desktop",
			files:      fstest.MapFS{"casper/vmlinuz/x": {}, "casper/initrd": {}, "boot/memtest86+x64.bin": {}},
			wantTitles: []string{"Test memory"},
			wantWarn:   []string{"casper/vmlinuz is not", "casper/vmlinuz is not"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _, err := Find(os.DirFS(filepath.Join("testdata", "media", tc.medium)))
			if err != nil {
				t.Fatal(err)
			}
			before := len(m.Entries)
			got, warnings := WithoutMissing(m, tc.files)
			var titles []string
			for _, e := range got.Entries {
				titles = append(titles, e.PlainTitle())
			}
			if !slices.Equal(titles, tc.wantTitles) {
				t.Errorf("entries %q, want %q", titles, tc.wantTitles)
			}
			if len(warnings) != len(tc.wantWarn) {
				t.Fatalf("warnings %q, want %d", warnings, len(tc.wantWarn))
			}
			for i, w := range tc.wantWarn {
				if !strings.Contains(warnings[i], w) {
					t.Errorf("warning %q lacks %q", warnings[i], w)
				}
			}
			if len(m.Entries) != before {
				t.Errorf("the input menu was changed")
			}
			if d := got.DefaultEntry(); got.Default != "" && d == nil {
				t.Errorf("default %q names no entry left", got.Default)
			}
		})
	}
}

// TestWithoutMissingDefault: a default left out is cleared; one still there is kept.
func TestWithoutMissingDefault(t *testing.T) {
	m := &Menu{Default: "b", Entries: []Entry{
		{Label: "a", Kind: KindLinux, Kernel: "k"},
		{Label: "b", Kind: KindLinux, Kernel: "gone", Default: true},
		{Label: "c", Kind: KindCOM32, Kernel: "hdt.c32"}, // served by sharecd, not the medium
	}}
	got, warnings := WithoutMissing(m, fstest.MapFS{"k": {}})
	if got.Default != "" || len(got.Entries) != 2 || len(warnings) != 1 {
		t.Errorf("default %q, %d entries, warnings %q", got.Default, len(got.Entries), warnings)
	}
	m.Default = "a"
	if got, _ := WithoutMissing(m, fstest.MapFS{"k": {}}); got.Default != "a" || got.DefaultEntry() == nil {
		t.Errorf("default %q, want a", got.Default)
	}
}
