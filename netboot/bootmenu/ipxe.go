package bootmenu

import (
	"bytes"
	"fmt"
	"path"
	"strings"
)

// RenderIPXE writes m as an iPXE script, for clients running iPXE: BIOS clients whose PXE ROM is
// iPXE (QEMU, KVM and many servers), and UEFI clients, which are given iPXE to run. iPXE fetches
// the kernel and initrds itself, over HTTP from m.HTTPHost when that is set, which takes far
// fewer round trips than pxelinux's TFTP. Without an HTTPHost the names stay relative, and iPXE
// resolves them against the script's own TFTP URL. A menu served under a prefix (Menu.Prefix) is
// the script of one medium among several, served at IPXEScriptPath(prefix, …), inside the
// prefix: there its names are written from the root ("/ubuntu/casper/vmlinuz"), which iPXE
// resolves against the script's server and scheme alike (RFC 3986; iPXE's resolve_path keeps
// an absolute path as it is), where a relative name would get the prefix a second time.
//
// The menu is iPXE's own (menu/item/choose), so it draws on a serial console as well. Entries
// iPXE cannot run (COM32 modules, KindOther) are left out; a local-boot entry exits back to the
// firmware, which goes on to its next boot device, as pxelinux's localboot does. Labels are e0,
// e1, … by position, because a medium's labels may hold characters iPXE reads otherwise.
// Output is deterministic.
func RenderIPXE(m *Menu) []byte {
	var b bytes.Buffer
	b.WriteString("#!ipxe\n# Written by sharecd: the medium's boot menu, rewritten to boot over the network.\n")
	if m == nil {
		return b.Bytes()
	}
	s := menuFor(m, loaderIPXE)
	if s.Default < 0 {
		b.WriteString("echo This medium's boot menu has no entry iPXE can boot.\nexit 1\n")
		return b.Bytes()
	}
	label := func(e shownEntry) string { return fmt.Sprintf("e%d", e.Pos) }
	def := label(s.Entries[s.Default])

	title := s.Title
	if title == "" {
		title = "Boot menu" // iPXE draws the title bar anyway; an empty one looks broken
	}
	// iPXE builds without the menu commands (MENU_CMD is a build option) boot the default entry.
	fmt.Fprintf(&b, "menu %s || goto %s\n", ipxeText(title), def)
	for _, e := range s.Entries {
		if !e.Hidden {
			// "^" marks a syslinux menu's hotkey; iPXE would show it.
			fmt.Fprintf(&b, "item %s %s\n", label(e), ipxeText(oneLine(e.PlainTitle())))
		}
	}
	// Timeout: 0 waits for a choice, as in the other loaders; iPXE counts ms.
	timeout := ""
	if s.Timeout > 0 {
		timeout = fmt.Sprintf(" --timeout %d", s.Timeout.Milliseconds())
	}
	// Escape (or a failed menu) boots the default entry rather than dropping to a dead end.
	fmt.Fprintf(&b, "choose --default %s%s entry || set entry %s\ngoto ${entry}\n", def, timeout, def)

	for _, e := range s.Entries {
		fmt.Fprintf(&b, "\n:%s\n", label(e))
		if e.Kind == KindLocal {
			b.WriteString("exit\n")
			continue
		}
		line := "kernel " + ipxeURL(m, e.Kernel)
		for _, f := range e.Initrds {
			// iPXE on UEFI starts the kernel through its EFI stub, which loads the initrds
			// the command line names from iPXE's file system, where each image is the last
			// part of its URL. A BIOS kernel ignores initrd= (pxelinux passes it too). First,
			// as pxelinux puts it: what follows a "--" in the medium's line goes to init.
			line += " initrd=" + ipxeText(path.Base(cleanPath(f)))
		}
		if e.Append != "" {
			line += " " + ipxeText(e.Append)
		}
		// pxelinux's IPAPPEND, from iPXE's settings of the interface it booted from.
		if e.IPAppend&1 != 0 {
			line += " ip=${netX/ip}:${netX/next-server}:${netX/gateway}:${netX/netmask}"
		}
		if e.IPAppend&2 != 0 {
			line += " BOOTIF=01-${netX/mac:hexhyp}"
		}
		b.WriteString(line + "\n")
		for _, f := range e.Initrds {
			fmt.Fprintf(&b, "initrd %s\n", ipxeURL(m, f))
		}
		b.WriteString("boot\n")
	}
	return b.Bytes()
}

// ipxeURL names file on m's HTTPHost, or relative to the script's own URL: to its directory for
// a medium served at the root, from the server's root for one served under a prefix.
func ipxeURL(m *Menu, file string) string {
	if host := firstWord(oneLine(m.HTTPHost)); host != "" {
		return ipxeText("http://" + host + "/" + cleanPath(file))
	}
	if m.Prefix != "" {
		return ipxeText("/" + cleanPath(file))
	}
	return ipxeText(cleanPath(file))
}

// ipxeText keeps text from a medium literal on an iPXE command line. iPXE expands ${…} anywhere
// in a line, and ends a command at a word that is ||, && or ; or starts with # (a comment), so
// those words are dropped and a leading # is taken off.
func ipxeText(s string) string {
	var out []string
	for _, w := range strings.Fields(strings.ReplaceAll(s, "${", "$ {")) {
		if w = strings.TrimLeft(w, "#"); w != "" && w != "||" && w != "&&" && w != ";" {
			out = append(out, w)
		}
	}
	return strings.Join(out, " ")
}
