package netboot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/sharecd/sharecd/netboot/bootmenu"
	"github.com/sharecd/sharecd/netboot/medium"
)

// source is an opened medium with its boot menu: all that is known before the network is.
type source struct {
	name     string // what it was opened from: a --source, an ISO file of a directory, "" = running
	med      *medium.Medium
	running  *medium.Running // how the running live system uses it; nil for a --source
	menu     *bootmenu.Menu  // as the medium has it, less the entries whose files it lacks
	menuPath string
	fam      bootmenu.Family
	warnings []string // entries left out of menu, one line each
	closed   sync.Once
	// root, when not nil, is what the medium's NFS export serves instead of med.FS: the medium
	// with the session's changes as one more layer (step4_changes.go).
	root fs.FS
}

// openSource opens the named medium, or the running live medium when name is empty, and finds
// its boot menu and family. The caller closes it.
func openSource(name string) (*source, error) {
	opened := name
	var running *medium.Running
	if name == "" {
		r, err := medium.DetectRunning("/")
		if err != nil {
			return nil, err
		}
		running, name = &r, r.Path
	}
	med, err := medium.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s does not exist", name)
	}
	if err != nil {
		return nil, err
	}
	menu, menuPath, err := bootmenu.Find(med.FS)
	if err != nil {
		med.Close()
		return nil, fmt.Errorf("%s is not a bootable live medium: %w", med.Source, err)
	}
	menu, warnings := bootmenu.WithoutMissing(menu, med.FS)
	fam := bootmenu.DetectFamily(med.FS, menu)
	if fam == bootmenu.FamilyUnknown {
		med.Close()
		return nil, fmt.Errorf("%s: %w (known: %s)", med.Source, bootmenu.ErrUnsupportedFamily, familyList())
	}
	return &source{name: opened, med: med, running: running, menu: menu, menuPath: menuPath, fam: fam, warnings: warnings}, nil
}

// Close closes the medium once: a running share closes a medium it stops serving, and Run
// closes the ones it opened first whatever became of them.
func (src *source) Close() error {
	var err error
	src.closed.Do(func() { err = src.med.Close() })
	return err
}

// Running names the running live medium among several sources ("--source running").
const Running = "running"

// openSources opens every named source in order: a medium (directory, ISO file, block
// device), Running, or a directory of ISO files, whose live ISOs are opened in name order and
// whose others are skipped, each with a line in skipped saying why. No name at all is the
// running live medium. The caller closes the sources.
func openSources(names []string) (srcs []*source, skipped []string, err error) {
	return reopenSources(names, nil)
}

// reopenSources is openSources for a running share whose media change: a medium it already
// serves (in have, by the name it was opened from) is handed back as it is, not opened again,
// so that its tree, and the NFS handles made from it, stay the same. A directory of ISO files is
// listed again. On error only what it opened itself is closed.
func reopenSources(names []string, have map[string]*source) (srcs []*source, skipped []string, err error) {
	openSource := func(name string) (*source, error) {
		if src, ok := have[name]; ok {
			return src, nil
		}
		return openSource(name)
	}
	closeSources := func(srcs []*source) {
		for _, src := range srcs {
			if have[src.name] != src {
				src.Close()
			}
		}
	}
	if len(names) == 0 {
		names = []string{Running}
	}
	for _, name := range names {
		if name == Running {
			name = ""
		}
		src, err := openSource(name)
		if err != nil && name != "" {
			isos, _ := filepath.Glob(filepath.Join(name, "*.[iI][sS][oO]"))
			if fi, serr := os.Stat(name); serr == nil && fi.IsDir() && len(isos) > 0 {
				for _, iso := range isos {
					s, err := openSource(iso)
					if err != nil {
						skipped = append(skipped, fmt.Sprintf("skipping %s: %v", iso, err))
						continue
					}
					srcs = append(srcs, s)
				}
				continue
			}
		}
		if err != nil {
			closeSources(srcs)
			return nil, nil, err
		}
		srcs = append(srcs, src)
	}
	if len(srcs) == 0 {
		return nil, skipped, fmt.Errorf("no live medium among %s", strings.Join(names, ", "))
	}
	return srcs, skipped, nil
}

func closeSources(srcs []*source) {
	for _, s := range srcs {
		s.Close()
	}
}

// mediumTitle is how a top-level menu lists a medium: its label (the volume ID, or .disk/info's
// line), else its file or directory name.
func mediumTitle(src *source) string {
	if t := strings.TrimSpace(src.med.Label); t != "" {
		return t
	}
	return filepath.Base(src.med.Source)
}

// mediumPrefixes gives each medium the directory its files are served under: none for a lone
// medium (its paths as they are), else a short name from its title, made unique. Names keep to
// letters, digits and dashes, which every loader's menu syntax takes as they are. Media joining a
// running share always get a name, one that the media already served (taken) do not use: no
// other medium's directory, and for a medium served at the root, none of its top-level names.
func mediumPrefixes(srcs []*source, taken []placement) []string {
	out := make([]string, len(srcs))
	if len(srcs) < 2 && len(taken) == 0 {
		return out
	}
	used := usedNames(taken)
	for i, src := range srcs {
		out[i] = freeName(slug(src), used)
	}
	return out
}

// usedNames are the top-level names of the tree that a new medium's directory may not take.
func usedNames(taken []placement) map[string]bool {
	// The tree's own directories are not free: grub/ and grub-arm64/ hold the GRUB menus,
	// secureboot/ the signed loaders.
	used := map[string]bool{"grub": true, Arm64MenuDir: true, "secureboot": true}
	for _, pl := range taken {
		used[pl.prefix], used[pl.menuDir] = true, true
		if pl.prefix != "" {
			continue
		}
		ents, _ := fs.ReadDir(pl.src.med.FS, ".")
		for _, e := range ents {
			// Lower case too: a FAT or Joliet medium's names may be matched either way.
			used[e.Name()], used[strings.ToLower(e.Name())] = true, true
		}
	}
	return used
}

// slug is a medium's title as a directory name: lower-case letters, digits and dashes.
func slug(src *source) string {
	var b strings.Builder
	for _, r := range strings.ToLower(mediumTitle(src)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	base := strings.Trim(b.String(), "-")
	if len(base) > 24 {
		base = strings.Trim(base[:24], "-")
	}
	if base == "" {
		base = string(src.fam)
	}
	return base
}

// freeName is base, or base-2, base-3, … : the first not in used, which it is then added to.
func freeName(base string, used map[string]bool) string {
	name := base
	for n := 2; used[name]; n++ {
		name = fmt.Sprintf("%s-%d", base, n)
	}
	used[name] = true
	return name
}

func familyList() string {
	var names []string
	for _, f := range bootmenu.Families() {
		names = append(names, string(f))
	}
	return strings.Join(names, ", ")
}
