package netboot

import (
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/sharecd/sharecd/netboot/bootmenu"
	"github.com/sharecd/sharecd/netboot/kernelarch"
	"github.com/sharecd/sharecd/netboot/medium"
)

// Description is what a share would serve, for `sharecd --detect` and the GUI.
type Description struct {
	Source  string          `json:"source"`
	Kind    medium.Kind     `json:"kind"`
	Label   string          `json:"label,omitempty"`
	Family  bootmenu.Family `json:"family"`
	Menu    string          `json:"menu"` // the boot menu file found on the medium
	Running *medium.Running `json:"running,omitempty"`
	Entries []EntryInfo     `json:"entries"`
	Timeout int             `json:"timeout_tenths,omitempty"` // the medium's own menu timeout
	// Arch is the machine of the medium's default kernel; ArchNote says which clients that
	// makes it offered to (Served.Arch).
	Arch     kernelarch.Arch `json:"arch"`
	ArchNote string          `json:"arch_note"`
	// SecureBoot: can clients with Secure Boot on boot the kernel UEFI clients get by default?
	SecureBoot SecureBoot `json:"secure_boot"`
	Warnings   []string   `json:"warnings,omitempty"`
	// Where a share serves it: the top-level menu's title, its directory in the boot tree ("" when
	// it is the only medium) and its NFS export.
	Title  string `json:"title"`
	Prefix string `json:"prefix,omitempty"`
	Export string `json:"export"`
}

// EntryInfo is one boot entry as the medium has it.
type EntryInfo struct {
	Label   string   `json:"label"`
	Title   string   `json:"title"`
	Kind    string   `json:"kind"`
	Kernel  string   `json:"kernel,omitempty"`
	Initrds []string `json:"initrds,omitempty"`
	Append  string   `json:"append,omitempty"`
	Default bool     `json:"default,omitempty"`
}

// Describe opens the sources as a share would (none = the running live medium) and reports
// each medium's family and menu, and the Secure Boot verdict of the plan a share of them would
// serve. Skipped names the ISO files of a directory that are not live media.
func Describe(sources ...string) (_ []*Description, skipped []string, _ error) {
	srcs, skipped, err := openSources(sources)
	if err != nil {
		return nil, nil, err
	}
	defer closeSources(srcs)
	// The verdict is read from the plan itself, so that --detect and the share name the same
	// kernel; where the share will be reached (here a documentation address, RFC 5737) does not
	// change which kernel that is.
	p, err := (&Share{}).plan(srcs, Network{Iface: Iface{Addr: netip.MustParsePrefix("192.0.2.1/32")}, DHCP: DHCPProxy})
	if err != nil {
		return nil, nil, err
	}
	var out []*Description
	for i, src := range srcs {
		med, sv := src.med, p.Media[i]
		d := &Description{Source: med.Source, Kind: med.Kind, Label: med.Label, Family: src.fam,
			Menu: src.menuPath, Running: src.running, Timeout: src.menu.Timeout,
			SecureBoot: sv.SecureBoot, Warnings: src.warnings, Title: sv.Title, Prefix: sv.Prefix, Export: sv.Export,
			Arch: sv.Arch, ArchNote: sv.archNote()}
		def := src.menu.DefaultEntry()
		for _, e := range src.menu.Entries {
			d.Entries = append(d.Entries, EntryInfo{Label: e.Label, Title: e.PlainTitle(), Kind: string(e.Kind),
				Kernel: e.Kernel, Initrds: e.Initrds, Append: e.Append, Default: def != nil && def.Label == e.Label})
		}
		out = append(out, d)
	}
	return out, skipped, nil
}

// WriteBootTree writes every file a client boots with (loaders, generated menus, kernels and
// initrds) into dir, for admins who serve them with their own TFTP and DHCP servers: the plan of
// a share of the sources from server with DHCP off and everything over TFTP. Warnings name the
// menu entries left out because a file they load is missing, and the ISO files skipped.
func WriteBootTree(sources []string, dir string, server netip.Addr, timeout int) (files, warnings []string, exports []string, _ error) {
	srcs, skipped, err := openSources(sources)
	if err != nil {
		return nil, nil, nil, err
	}
	defer closeSources(srcs)
	s := &Share{MenuTimeout: timeout, TFTPBoot: true}
	p, err := s.plan(srcs, Network{Iface: Iface{Addr: netip.PrefixFrom(server, 32)}, DHCP: DHCPOff})
	if err != nil {
		return nil, nil, nil, err
	}
	for _, name := range p.Files {
		if err := copyOut(p.Tree, name, filepath.Join(dir, filepath.FromSlash(name))); err != nil {
			return nil, nil, nil, err
		}
	}
	for _, m := range p.Media {
		exports = append(exports, m.Export+" ← "+m.Medium.Source+" ("+m.archNote()+")")
	}
	return p.Files, append(skipped, p.Warnings...), exports, nil
}

// archNote says, for people, which machine a medium's kernel is for and so which clients it is
// offered to (runsOn).
func (sv *Served) archNote() string {
	switch sv.Arch {
	case kernelarch.ARM64:
		return "arm64: offered to ARM64 UEFI clients only, with " + Arm64Loader
	case kernelarch.Unknown:
		return "kernel architecture not read (" + oneLine(sv.ArchErr) + "): offered to x86 clients, as an x86-64 medium"
	}
	return string(sv.Arch) + ": offered to x86 clients (BIOS and x86-64 UEFI)"
}

func oneLine(err error) string {
	if err == nil {
		return "no reason given"
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

func copyOut(fsys fs.FS, name, dst string) error {
	in, err := fsys.Open(name)
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(dst), err)
	}
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("creating %s: %w", dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	return out.Close()
}
