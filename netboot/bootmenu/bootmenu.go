// Package bootmenu reads the boot menus of a live medium, rewrites them so
// that a network client boots the same live system with its root on our NFS
// export, and renders the menus the network boot loaders read.
//
// Everything here is a pure function of its inputs (an fs.FS of the medium and
// values): no sockets, no global state. Parsers for each boot-loader syntax
// (syslinux/isolinux now, GRUB later) produce the same Menu model, so the
// rewrite and the renderers do not care where a menu came from.
package bootmenu

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// Family is the live-system family of a medium: it decides which kernel
// arguments put the root file system on NFS.
type Family string

const (
	// FamilyUnknown is a medium we cannot (yet) rewrite for a network boot.
	FamilyUnknown Family = ""
	// FamilyLiveBoot is Debian's live-boot (Debian live, Kali, Clonezilla, grml).
	FamilyLiveBoot Family = "live-boot"
	// FamilyCasper is Ubuntu's casper (Ubuntu and flavours, Mint, Pop!_OS...).
	FamilyCasper Family = "casper"
	// FamilyDracut is dracut's dmsquash-live (Fedora and its spins, openSUSE
	// and others built with dracut): root=live:... rd.live.image.
	FamilyDracut Family = "dracut"
	// FamilyArchiso is Arch's mkinitcpio-archiso (Arch, EndeavourOS,
	// SystemRescue, ...): archisobasedir=.
	FamilyArchiso Family = "archiso"
	// FamilyMiso is Manjaro's fork of archiso: misobasedir=.
	FamilyMiso Family = "miso"
)

// Families returns the families RewriteForNetwork can rewrite, for messages. A function, not a
// variable, so that no caller can change the list for every other one; each call gets its own.
func Families() []Family {
	return []Family{FamilyLiveBoot, FamilyCasper, FamilyDracut, FamilyArchiso, FamilyMiso}
}

// Kind says what an entry boots.
type Kind string

const (
	// KindLinux loads a Linux kernel (or anything that uses the Linux boot
	// protocol, such as memtest86+) with optional initrds and a command line.
	KindLinux Kind = "linux"
	// KindCOM32 runs a syslinux COM32 module (hdt.c32, chain.c32, ...).
	// Kernel holds the module's file name; Append its arguments.
	KindCOM32 Kind = "com32"
	// KindLocal boots from the local disk ("localboot"); LocalBoot holds the type.
	KindLocal Kind = "localboot"
	// KindOther is anything else syslinux can boot (boot sectors, floppy
	// images, PXE NBPs, "config" switches). Parsed so callers can see them,
	// never kept by RewriteForNetwork: they need files or devices a network client lacks.
	KindOther Kind = "other"
)

// Entry is one bootable item of a menu.
type Entry struct {
	// Label is the entry's identifier ("default" and the boot prompt use it).
	Label string
	// Title is the text the menu shows. It keeps syslinux's '^' hotkey
	// marker; use PlainTitle for other loaders. Empty means "show Label".
	Title string
	Kind  Kind
	// Kernel is the file to load, as a clean path from the medium's root
	// without a leading slash ("live/vmlinuz"). For KindCOM32 after
	// RewriteForNetwork it is the bare module name, served by us, not the medium.
	Kernel string
	// Initrds are the initial ramdisks, medium-absolute like Kernel, in load order.
	Initrds []string
	// Append is the kernel command line without any initrd= argument (those
	// are lifted into Initrds so every loader can be given them its own way).
	Append string
	// IPAppend is syslinux's IPAPPEND/SYSAPPEND bit mask (2 = BOOTIF=).
	IPAppend int
	// LocalBoot is the LOCALBOOT type as written ("0", "0x80", "-1").
	LocalBoot string
	// Help is the entry's "text help" block, lines joined by "\n".
	Help string
	// Hidden entries boot by label or as the default but are not listed.
	Hidden bool
	// Default is true for the one entry named by Menu.Default.
	Default bool
}

// PlainTitle is the title without syslinux's '^' hotkey markers, falling
// back to the label when the entry has no title.
func (e Entry) PlainTitle() string {
	if e.Title == "" {
		return e.Label
	}
	return strings.ReplaceAll(e.Title, "^", "")
}

// HelpFile is a help screen shown on a function key (syslinux F1..F12).
type HelpFile struct {
	Key  string // "F1" .. "F12"
	Path string // medium-absolute, like Entry.Kernel
}

// Menu is a boot menu in a loader-neutral form. Submenus are flattened into
// Entries in menu order: the live media we serve have a handful of live
// entries, and a flat list renders the same on every loader.
type Menu struct {
	Title string
	// Timeout before the default entry boots, in tenths of a second as
	// syslinux counts; 0 means wait for the user.
	Timeout int
	// Default is the label of the default entry ("" if none was named).
	Default string
	// HelpFiles are the function-key help screens, in key order.
	HelpFiles []HelpFile
	Entries   []Entry
	// HTTPHost, when set ("10.0.0.1" or "10.0.0.1:8080"), makes RenderGrub's menu fetch
	// kernels and initrds from that HTTP server instead of over TFTP, which GRUB 2.06 reads
	// one block per round trip (it crawls when sent ahead of its ACKs).
	HTTPHost string
	// Prefix is the NetRoot.Prefix RewriteForNetwork served the menu under: every file the
	// menu names on the server (Kernel, Initrds, HelpFiles) already starts with it, so a later
	// rewrite takes it off before putting its own on. "" for a medium's own menu. No loader's
	// file says it: set it on a menu read back from rendered output to rewrite that again.
	// Omitted from JSON when empty, so a parsed menu's JSON is what it always was.
	Prefix string `json:",omitempty"`
}

// DefaultEntry returns the entry named by m.Default, or nil.
func (m *Menu) DefaultEntry() *Entry {
	if m == nil || m.Default == "" {
		return nil
	}
	for i := range m.Entries {
		if m.Entries[i].Label == m.Default {
			return &m.Entries[i]
		}
	}
	return nil
}

// Sentinel errors callers can branch on with errors.Is.
var (
	// ErrNoMenu: the medium has no boot menu this package can read. It wraps
	// fs.ErrNotExist so "nothing there" checks keep working.
	ErrNoMenu = fmt.Errorf("no isolinux/syslinux or GRUB boot menu found: %w", fs.ErrNotExist)
	// ErrUnsupportedFamily: the live system's family has no NFS rewrite yet.
	ErrUnsupportedFamily = errors.New("unsupported live system family")
	// ErrNoLinuxEntry: the menu has no entry that boots the live system.
	ErrNoLinuxEntry = errors.New("no bootable live Linux entry in the menu")
	// ErrLimit: a menu exceeds the parser's size, file or nesting limits.
	ErrLimit = errors.New("boot menu exceeds parser limits")
)

// syslinuxConfigs are where ISOLINUX/SYSLINUX look for their configuration
// (syslinux doc/syslinux.txt, "CONFIGURATION FILE"), plus archiso's, whose
// syslinux.cfg may be missing from a BIOS-only remaster.
var syslinuxConfigs = [...]string{
	"boot/isolinux/isolinux.cfg",
	"isolinux/isolinux.cfg",
	"boot/syslinux/syslinux.cfg",
	"syslinux/syslinux.cfg",
	"isolinux.cfg",
	"syslinux.cfg",
	"isolinux/syslinux.cfg",
	"boot/isolinux/syslinux.cfg",
	"syslinux/archiso_sys.cfg",
	"boot/syslinux/archiso_sys.cfg",
}

// Find locates the medium's BIOS boot menu: its isolinux/syslinux
// configuration, parsed with its includes, or else its GRUB menu read for a
// PC (FindGrub with GrubPC). It returns the menu and the path of the file it
// started from. The first candidate that yields at least one entry wins.
// ErrNoMenu if none.
func Find(fsys fs.FS) (*Menu, string, error) {
	m, name, err := firstMenu(fsys, syslinuxConfigs[:], func(name string) (*Menu, error) {
		return ParseSyslinux(fsys, name, path.Dir(name))
	})
	if err == nil && hasLinux(m) {
		return m, name, nil
	}
	// GRUB-only media (Ubuntu since 20.10 boots BIOS with GRUB too): the
	// BIOS menu is their GRUB menu as GRUB shows it on a PC.
	g, gname, grubErr := FindGrub(fsys, GrubPC)
	if grubErr == nil && (err != nil || hasLinux(g)) {
		return g, gname, nil
	}
	if err == nil {
		return m, name, nil // a syslinux menu without Linux: the rewrite says so
	}
	if errors.Is(err, ErrNoMenu) {
		err = grubErr // no syslinux menu at all: what GRUB's said is the news
	}
	if errors.Is(err, ErrNoMenu) {
		return nil, "", ErrNoMenu
	}
	return nil, "", fmt.Errorf("%w (%w)", ErrNoMenu, err)
}

// DetectFamily names the live family of the medium. The menu's kernel
// arguments decide first (the default entry, then any entry), because they
// say what the initrd will do; files on the medium decide when the arguments
// are silent (Ubuntu ≥ 19.10 dropped boot=casper from its menus). Either
// argument may be nil.
func DetectFamily(fsys fs.FS, m *Menu) Family {
	if m != nil {
		if e := m.DefaultEntry(); e != nil {
			if f := familyOfArgs(e.Append); f != FamilyUnknown {
				return f
			}
		}
		for _, e := range m.Entries {
			if f := familyOfArgs(e.Append); f != FamilyUnknown {
				return f
			}
		}
	}
	if fsys == nil {
		return FamilyUnknown
	}
	// casper checks the export for casper/*.squashfs and .disk/casper-uuid*;
	// look for the same so we agree with the initrd.
	if matches, _ := fs.Glob(fsys, "casper/*.squashfs"); len(matches) > 0 {
		return FamilyCasper
	}
	if matches, _ := fs.Glob(fsys, ".disk/casper-uuid*"); len(matches) > 0 {
		return FamilyCasper
	}
	if _, err := fs.Stat(fsys, "live/filesystem.squashfs"); err == nil {
		return FamilyLiveBoot
	}
	if _, err := fs.Stat(fsys, "LiveOS/squashfs.img"); err == nil {
		return FamilyDracut
	}
	if matches, _ := fs.Glob(fsys, "*/x86_64/airootfs.sfs"); len(matches) > 0 {
		return FamilyArchiso
	}
	if m != nil {
		// No marker files (a test fixture or a stripped tree): fall back to
		// where the kernels live.
		for _, e := range m.Entries {
			if f := familyOfKernel(e.Kernel); f != FamilyUnknown && e.Kind == KindLinux {
				return f
			}
		}
	}
	return FamilyUnknown
}

// familyOfArgs reads the family from the arguments only its initrd reads.
func familyOfArgs(cmdline string) Family {
	for _, a := range splitArgs(cmdline) {
		la := strings.ToLower(a)
		switch {
		case la == "boot=live":
			return FamilyLiveBoot
		case la == "boot=casper":
			return FamilyCasper
		case la == "rd.live.image", la == "liveimg", strings.HasPrefix(la, "root=live:"):
			return FamilyDracut
		case strings.HasPrefix(la, "archisobasedir="), strings.HasPrefix(la, "archisolabel="):
			return FamilyArchiso
		case strings.HasPrefix(la, "misobasedir="), strings.HasPrefix(la, "misolabel="):
			return FamilyMiso
		}
	}
	return FamilyUnknown
}

// familyOfKernel reads the family from the kernel's directory: live-build
// puts kernels in live/, casper in casper/.
func familyOfKernel(kernel string) Family {
	dir, _, _ := strings.Cut(kernel, "/")
	switch strings.ToLower(dir) {
	case "live":
		return FamilyLiveBoot
	case "casper":
		return FamilyCasper
	}
	return FamilyUnknown
}
