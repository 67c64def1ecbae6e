package bootmenu

import (
	"fmt"
	"io/fs"
	"slices"
)

// WithoutMissing returns m without the Linux entries whose kernel or one of whose initrds is not
// in fsys, and one line for each entry it left out. A remastered medium often keeps a menu entry
// for a file it dropped (Ubuntu's "Test memory" without boot/memtest86+x64.bin): that entry
// cannot boot, but the others can, so the share goes on without it. A default that was left out
// is cleared, so the renderers fall back as menuFor says, all three alike. m itself is not changed.
func WithoutMissing(m *Menu, fsys fs.FS) (*Menu, []string) {
	out := *m
	out.Entries = nil
	var warnings []string
	for _, e := range m.Entries {
		if missing := missingFile(e, fsys); missing != "" {
			warnings = append(warnings, fmt.Sprintf("menu entry %q left out: %s is not on the medium", e.PlainTitle(), missing))
			if e.Label == out.Default {
				out.Default = ""
			}
			continue
		}
		e.Initrds = slices.Clone(e.Initrds)
		out.Entries = append(out.Entries, e)
	}
	return &out, warnings
}

// missingFile is the first file e loads from the medium that fsys lacks, or "". Only Linux
// entries load files from the medium: COM32 modules and loaders come from sharecd itself.
func missingFile(e Entry, fsys fs.FS) string {
	if e.Kind != KindLinux {
		return ""
	}
	for _, name := range append([]string{e.Kernel}, e.Initrds...) {
		if name == "" {
			continue
		}
		if fi, err := fs.Stat(fsys, name); err != nil || fi.IsDir() {
			return name
		}
	}
	return ""
}
