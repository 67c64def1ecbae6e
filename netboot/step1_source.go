package netboot

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/sharecd/sharecd/netboot/bootmenu"
	"github.com/sharecd/sharecd/netboot/medium"
)

// source is an opened medium with its boot menu: all that is known before the network is.
type source struct {
	med      *medium.Medium
	running  *medium.Running // how the running live system uses it; nil for a --source
	menu     *bootmenu.Menu  // as the medium has it, less the entries whose files it lacks
	menuPath string
	fam      bootmenu.Family
	warnings []string // entries left out of menu, one line each
}

// openSource opens the named medium, or the running live medium when name is empty, and finds
// its boot menu and family. The caller closes it.
func openSource(name string) (*source, error) {
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
	return &source{med: med, running: running, menu: menu, menuPath: menuPath, fam: fam, warnings: warnings}, nil
}

func (src *source) Close() error { return src.med.Close() }

func familyList() string {
	var names []string
	for _, f := range bootmenu.Families() {
		names = append(names, string(f))
	}
	return strings.Join(names, ", ")
}
