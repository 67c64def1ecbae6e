package bootmenu

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
)

// RenderPxelinux writes m as a pxelinux configuration (pxelinux.cfg/default).
// File names are written as they are in m, relative to the TFTP root, which
// is where pxelinux.0 is served from and so its working directory. Always
// TFTP, whatever m.HTTPHost says: in the lab, pxelinux over TFTP reached the
// kernel in 20 to 24 s, lpxelinux.0 over HTTP in 36 s.
//
// It uses the text menu, menu.c32: it needs no background or font from the
// medium (vesamenu's splash.png may be missing or in another directory) and
// draws on a serial console too. Entries of KindOther cannot be expressed
// portably and are left out. Output is deterministic.
func RenderPxelinux(m *Menu) []byte {
	var b bytes.Buffer
	b.WriteString("# Written by sharecd: the medium's boot menu, rewritten to boot over the network.\n")
	b.WriteString("ui menu.c32\n")
	b.WriteString("prompt 0\n")
	if m == nil {
		return b.Bytes()
	}
	s := menuFor(m, loaderPxelinux)
	if s.Title != "" {
		fmt.Fprintf(&b, "menu title %s\n", s.Title)
	}
	fmt.Fprintf(&b, "timeout %d\n", s.Timeout/(time.Second/10))
	// Always name the default: pxelinux would boot a missing label as a kernel of that name.
	if s.Default >= 0 {
		fmt.Fprintf(&b, "default %s\n", s.Entries[s.Default].Label)
	}
	for _, h := range m.HelpFiles {
		if k := strings.ToUpper(oneLine(h.Key)); validFKey(k) && oneLine(h.Path) != "" {
			fmt.Fprintf(&b, "%s %s\n", k, firstWord(oneLine(h.Path)))
		}
	}
	for _, e := range s.Entries {
		fmt.Fprintf(&b, "\nlabel %s\n", e.Label)
		if e.Title != "" {
			fmt.Fprintf(&b, "\tmenu label %s\n", e.Title)
		}
		if e.Default {
			b.WriteString("\tmenu default\n")
		}
		if e.Hidden {
			b.WriteString("\tmenu hide\n")
		}
		fmt.Fprintf(&b, "\t%s\n", pxelinuxCommand(e.Entry))
		if e.Kind == KindLinux && len(e.Initrds) > 0 {
			var list []string
			for _, f := range e.Initrds {
				// pxelinux separates initrds with commas; a name cannot hold one.
				if f = strings.ReplaceAll(f, ",", ""); f != "" {
					list = append(list, f)
				}
			}
			if len(list) > 0 {
				fmt.Fprintf(&b, "\tinitrd %s\n", strings.Join(list, ","))
			}
		}
		if e.Kind != KindLocal && e.Append != "" {
			fmt.Fprintf(&b, "\tappend %s\n", e.Append)
		}
		if e.IPAppend != 0 && e.Kind != KindLocal {
			fmt.Fprintf(&b, "\tipappend %d\n", e.IPAppend)
		}
		if h := strings.Trim(e.Help, "\n"); h != "" {
			b.WriteString("\ttext help\n")
			for _, l := range strings.Split(h, "\n") {
				l = strings.TrimRight(l, spaces)
				if strings.EqualFold(trimSpace(l), "endtext") {
					continue // would end the block early
				}
				b.WriteString(l + "\n")
			}
			b.WriteString("\tendtext\n")
		}
	}
	return b.Bytes()
}

func validFKey(k string) bool {
	for i := 1; i <= 12; i++ {
		if k == fmt.Sprintf("F%d", i) {
			return true
		}
	}
	return false
}

// com32Deps are the direct library dependencies (DT_NEEDED) of the COM32
// modules a rendered menu may use, read with `readelf -d` from Debian's
// syslinux-common 6.04~git20190206. A module must come from the same
// syslinux build as pxelinux.0/ldlinux.c32, so the server ships its own.
var com32Deps = map[string][]string{
	"menu.c32":     {"libutil.c32"},
	"vesamenu.c32": {"libutil.c32", "libcom32.c32"},
	"hdt.c32":      {"libutil.c32", "libgpl.c32", "libcom32.c32", "libmenu.c32"},
	"libmenu.c32":  {"libutil.c32", "libcom32.c32"},
	"chain.c32":    {"libutil.c32", "libcom32.c32"},
	"reboot.c32":   {"libcom32.c32"},
	"poweroff.c32": {},
	"libutil.c32":  {},
	"libcom32.c32": {},
	"libgpl.c32":   {},
	"ldlinux.c32":  {},
}

// Modules lists, sorted, the syslinux modules pxelinux needs to show the
// rendered menu and run its entries: ldlinux.c32 (pxelinux's core), the
// menu and its libraries, and each COM32 entry's module with its libraries.
// libcom32.c32 is listed although menu.c32 6.04 does not link it, because
// older menu.c32 builds do and the file is small.
func Modules(m *Menu) []string {
	set := map[string]bool{}
	var add func(string)
	add = func(name string) {
		if set[name] {
			return
		}
		set[name] = true
		deps, known := com32Deps[name]
		if !known {
			// A module we have not inspected: the two libraries nearly
			// every COM32 module links.
			deps = []string{"libutil.c32", "libcom32.c32"}
		}
		for _, d := range deps {
			add(d)
		}
	}
	for _, n := range []string{"ldlinux.c32", "menu.c32", "libutil.c32", "libcom32.c32"} {
		add(n)
	}
	if m != nil {
		for _, e := range m.Entries {
			if e.Kind != KindCOM32 || e.Kernel == "" {
				continue
			}
			name := strings.ToLower(path.Base(e.Kernel))
			if path.Ext(name) == "" {
				name += ".c32"
			}
			add(name)
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// pxelinuxCommand is the line that boots e, an entry menuFor kept for pxelinux.
func pxelinuxCommand(e Entry) string {
	switch e.Kind {
	case KindLinux:
		// LINUX, not KERNEL: KERNEL guesses the type from the extension
		// and would take memtest86+.bin for a boot sector.
		return "linux " + e.Kernel
	case KindCOM32:
		return "com32 " + e.Kernel
	}
	return "localboot " + e.LocalBoot
}
