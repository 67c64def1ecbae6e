package bootmenu

import (
	"path"
	"strconv"
	"strings"
	"time"
)

// loader is a network boot loader we render a menu for. The loaders run different things (only
// pxelinux runs COM32 modules, only GRUB on UEFI refuses a BIOS memtest), so what a menu keeps
// depends on the loader; how the kept entries are chosen, ordered and defaulted does not.
type loader int

const (
	loaderPxelinux loader = iota // pxelinux.0 on BIOS, over TFTP
	loaderIPXE                   // iPXE, BIOS or UEFI
	loaderGrubEFI                // our UEFI network GRUB
)

// shownMenu is the one decision the three renderers share: the entries a loader is given, in
// the medium's order, which of them boots by default, the title and the timeout. Renderers only
// write it down in their loader's syntax.
type shownMenu struct {
	// Title is the medium's title on one line, "" for none.
	Title string
	// Timeout is how long the menu waits before booting the default; 0 waits for a choice.
	// Whole seconds, rounded up, because GRUB counts in nothing finer and all three loaders
	// must wait the same time.
	Timeout time.Duration
	// Entries are what the loader can boot, each with its names as every loader writes them.
	// Hidden entries are kept (pxelinux boots them by label); the default is never hidden.
	Entries []shownEntry
	// Default indexes Entries; -1 when there is nothing to boot.
	Default int
}

// shownEntry is a kept entry and where it stood in the medium's menu (iPXE names entries by
// that position, so a dropped entry does not renumber the rest).
type shownEntry struct {
	Entry
	Pos int
}

// menuFor decides what loader l shows of m. The default is, in this order:
//
//  1. the menu's own default, if l keeps it, hidden or not: the medium named it;
//  2. else the first shown entry that boots a system (Linux, not a memory tester);
//  3. else the first shown entry; else the first kept one.
//
// Rule 2 is there for a network boot: the default is what an unattended client boots when the
// timeout runs out, and a room of machines booted over the network is meant to reach the live
// system, not hand itself back to the local disk ("exit"), reboot, or run memtest86+ for ever.
// The menu's default is missing when the rewrite or WithoutMissing dropped it. Hidden entries
// come last because the medium hid them for a reason (Debian hides its failsafe variants).
func menuFor(m *Menu, l loader) shownMenu {
	s := shownMenu{Default: -1}
	if m == nil {
		return s
	}
	s.Title = oneLine(m.Title)
	if m.Timeout > 0 {
		tenths := min(m.Timeout, maxTimeout)
		s.Timeout = time.Duration(min((tenths+9)/10, maxTimeout/10)) * time.Second
	}
	named, best := false, 0 // best: defaultRank of s.Default while no entry is named
	for i, e := range m.Entries {
		ne, ok := entryFor(e, l)
		if !ok {
			continue
		}
		if ne.Label == "" {
			// Every loader addresses an entry by its label (GRUB's --id, pxelinux's default).
			ne.Label = "entry" + strconv.Itoa(i)
		}
		s.Entries = append(s.Entries, shownEntry{ne, i})
		n := len(s.Entries) - 1
		switch r := defaultRank(ne); {
		case named:
		case m.Default != "" && e.Label == m.Default:
			s.Default, named = n, true
		case s.Default < 0 || r < best:
			s.Default, best = n, r
		}
	}
	for i := range s.Entries {
		s.Entries[i].Default = i == s.Default
	}
	if s.Default < 0 {
		s.Timeout = 0 // nothing to boot, nothing to count down to
	} else {
		// Listed even when the medium hid it: iPXE's choose and GRUB boot by default only an
		// entry their menu lists, and a menu whose default cannot be seen surprises the user.
		s.Entries[s.Default].Hidden = false
	}
	return s
}

// defaultRank orders the entries rules 2 and 3 of menuFor pick from.
func defaultRank(e Entry) int {
	r := 0
	if e.Hidden {
		r += 2
	}
	if e.Kind != KindLinux || isMemtest(e) {
		r++
	}
	return r
}

// entryFor is e as loader l is given it, its names as they are written (one line, a file's first
// word), or ok=false when l cannot boot it.
func entryFor(e Entry, l loader) (Entry, bool) {
	e.Label = oneLine(e.Label)
	e.Title = oneLine(e.Title)
	initrds := e.Initrds
	e.Initrds = nil // only Linux entries load any
	switch e.Kind {
	case KindLinux:
		for _, f := range initrds {
			if f = writtenName(f); f != "" {
				e.Initrds = append(e.Initrds, f)
			}
		}
		e.Kernel = writtenName(e.Kernel)
		switch {
		case e.Kernel == "":
			return e, false
		// GRUB on UEFI runs a memory tester only as an EFI program (memtest86+ ships one,
		// memtest86+x64.efi); the BIOS build would not start.
		case l == loaderGrubEFI && isMemtest(e) && !strings.EqualFold(path.Ext(e.Kernel), ".efi"):
			return e, false
		}
	case KindCOM32:
		e.Kernel = firstWord(oneLine(e.Kernel))
		module := strings.ToLower(path.Base(e.Kernel))
		switch {
		case e.Kernel == "":
			return e, false
		case l == loaderPxelinux:
		// GRUB has commands of its own for these two tools; the rest need pxelinux's COM32 API.
		case l == loaderGrubEFI && (module == "reboot.c32" || module == "poweroff.c32"):
		default:
			return e, false
		}
	case KindLocal:
		if e.LocalBoot = firstWord(oneLine(e.LocalBoot)); e.LocalBoot == "" {
			e.LocalBoot = "0"
		}
	default:
		return e, false
	}
	if a := oneLine(e.Append); a != "-" {
		e.Append = a
	} else {
		e.Append = "" // syslinux's "no arguments at all"
	}
	return e, true
}
