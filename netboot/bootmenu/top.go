package bootmenu

import (
	"bytes"
	"fmt"
	"path"
	"strings"
	"time"
)

// A share of several media gives each loader a top menu that lists them, and each medium's own
// menu (rewritten with its NetRoot.Prefix) is served inside its prefix. The functions below
// name where; the engine serves the files there and the top menus open them from there.
//
// A prefix of "" names the paths of a share of one medium, where the medium's menu is the
// loader's first menu and there is no top menu.

// PxelinuxMenuPath is where pxelinux finds the menu of the medium served under prefix, relative
// to the TFTP root: "<prefix>/pxelinux.cfg/default".
func PxelinuxMenuPath(prefix string) string { return path.Join(prefix, "pxelinux.cfg/default") }

// IPXEScriptPath is where iPXE finds the script (boot.ipxe, uefi.ipxe) of the medium served
// under prefix, relative to the TFTP and HTTP roots: "<prefix>/<script>".
func IPXEScriptPath(prefix, script string) string { return path.Join(prefix, script) }

// GrubMenuPath is where GRUB finds the menu of the medium served under prefix, relative to the
// TFTP root: "grub/<prefix>/grub.cfg". Our network GRUBs' $prefix is (tftp,SERVER)/grub and they
// read $prefix/grub.cfg first, so the top menu is grub/grub.cfg (GrubMenuPath("")) and each
// medium's is beside it in its own directory, which the top menu opens as
// "$prefix/<prefix>/grub.cfg": no server address is written, so the menu works whichever
// address the client reached.
func GrubMenuPath(prefix string) string { return path.Join("grub", prefix, "grub.cfg") }

// TopItem is one medium of a top menu.
type TopItem struct {
	// Label identifies the item in the loader's menu (pxelinux's DEFAULT, GRUB's --id); "" uses
	// Prefix. Made space-free and unique, like a rewritten menu's labels.
	Label string
	// Title is what the menu shows, on one line; "" shows the label.
	Title string
	// Prefix is the medium's NetRoot.Prefix. An item whose prefix is "" or fails CheckPrefix is
	// left out: its menu would be the top menu itself, or a path the loader cannot be given.
	Prefix string
}

// topTitle heads every loader's top menu.
const topTitle = "Choose a live system"

// topHeader is the first comment line of every top menu.
const topHeader = "Written by sharecd: the live systems this share serves, each opening its own menu."

// topMenu is the one decision the three top-menu renderers share, as shownMenu is for a
// medium's menu: the items listed, in order, and how long to wait. The default is always the
// first item, so that a room of unattended clients boots when the timeout runs out.
type topMenu struct {
	Items   []TopItem // labels unique and space-free, titles on one line, prefixes valid
	Timeout time.Duration
}

// topFor decides what every loader's top menu shows. timeoutSeconds counts as in
// RewriteForNetwork: 0 or less waits for a choice; at most syslinux's limit.
func topFor(items []TopItem, timeoutSeconds int) topMenu {
	t := topMenu{Timeout: time.Duration(min(max(timeoutSeconds, 0), maxTimeout/10)) * time.Second}
	used := map[string]bool{}
	for _, it := range items {
		if it.Prefix == "" || CheckPrefix(it.Prefix) != nil {
			continue
		}
		label := topText(it.Label)
		if label == "" {
			label = it.Prefix
		}
		it.Label = uniqueLabel(label, used)
		if it.Title = topText(it.Title); it.Title == "" {
			it.Title = it.Label
		}
		t.Items = append(t.Items, it)
	}
	if len(t.Items) == 0 {
		t.Timeout = 0 // nothing to boot, nothing to count down to
	}
	return t
}

// topText is a label or title on one line, as a medium's are, without NUL bytes: GRUB's parser
// cannot read a grub.cfg with one, even quoted (grub-script-check 2.12 fails "out of memory"),
// and a top menu's names come from volume labels and file names, not from a boot menu GRUB read.
func topText(s string) string { return oneLine(strings.ReplaceAll(s, "\x00", "")) }

// RenderTopPxelinux writes the top menu pxelinux reads as pxelinux.cfg/default: each item loads
// its medium's menu with CONFIG PxelinuxMenuPath(prefix). CONFIG is given no second argument,
// on purpose: syslinux's "CONFIG file [dir]" changes the working directory to dir only when one
// is given (ldlinux's execute.c: "If we got anything on the command line, do a chdir"), and the
// working directory must stay the TFTP root, where the modules (menu.c32, its libraries, hdt.c32)
// are served once for every medium and where the medium's menu, rewritten with its prefix,
// names its kernels from ("ubuntu/casper/vmlinuz").
func RenderTopPxelinux(items []TopItem, timeoutSeconds int) []byte {
	t := topFor(items, timeoutSeconds)
	var b bytes.Buffer
	b.WriteString("# " + topHeader + "\n")
	b.WriteString("ui menu.c32\nprompt 0\n")
	fmt.Fprintf(&b, "menu title %s\n", topTitle)
	fmt.Fprintf(&b, "timeout %d\n", t.Timeout/(time.Second/10))
	if len(t.Items) > 0 {
		fmt.Fprintf(&b, "default %s\n", t.Items[0].Label)
	}
	for i, it := range t.Items {
		fmt.Fprintf(&b, "\nlabel %s\n\tmenu label %s\n", it.Label, it.Title)
		if i == 0 {
			b.WriteString("\tmenu default\n")
		}
		fmt.Fprintf(&b, "\tconfig %s\n", PxelinuxMenuPath(it.Prefix))
	}
	return b.Bytes()
}

// RenderTopIPXE writes the top iPXE script; script is the name of the medium's script each item
// chains to, IPXEScriptPath(prefix, script) (boot.ipxe for BIOS, uefi.ipxe for UEFI clients).
// The path is relative, which iPXE resolves against this script's own URL, so the same script
// works fetched over TFTP or HTTP. The chained script runs inside this one; when it exits (its
// "boot from local disk" entry), this one exits too, back to the firmware as that entry means,
// instead of running on into the next item. A script name that is not a plain relative path
// (CheckPrefix's rules) gives a script that says so and exits.
func RenderTopIPXE(items []TopItem, timeoutSeconds int, script string) []byte {
	t := topFor(items, timeoutSeconds)
	var b bytes.Buffer
	b.WriteString("#!ipxe\n# " + topHeader + "\n")
	if script == "" || CheckPrefix(script) != nil {
		b.WriteString("echo sharecd: no iPXE script name to chain to.\nexit 1\n")
		return b.Bytes()
	}
	if len(t.Items) == 0 {
		b.WriteString("echo This share serves no live system iPXE can boot.\nexit 1\n")
		return b.Bytes()
	}
	// Labels by position, as RenderIPXE's: an item's label may hold what iPXE reads otherwise.
	label := func(i int) string { return fmt.Sprintf("e%d", i) }
	def := label(0)
	fmt.Fprintf(&b, "menu %s || goto %s\n", topTitle, def)
	for i, it := range t.Items {
		fmt.Fprintf(&b, "item %s %s\n", label(i), ipxeText(strings.ReplaceAll(it.Title, "^", "")))
	}
	timeout := ""
	if t.Timeout > 0 {
		timeout = fmt.Sprintf(" --timeout %d", t.Timeout.Milliseconds())
	}
	fmt.Fprintf(&b, "choose --default %s%s entry || set entry %s\ngoto ${entry}\n", def, timeout, def)
	for i, it := range t.Items {
		fmt.Fprintf(&b, "\n:%s\nchain %s\nexit\n", label(i), IPXEScriptPath(it.Prefix, script))
	}
	return b.Bytes()
}

// RenderTopGrub writes the top grub.cfg (GrubMenuPath("")): each item is a menuentry that reads
// its medium's menu with configfile "$prefix/<prefix>/grub.cfg", GrubMenuPath(prefix) as GRUB
// names it. $prefix and $root are exported by GRUB's kernel (kern/main.c), so the entry sees
// them; $root stays the TFTP server, from which the medium's menu, rewritten with its prefix,
// names its kernels ("/ubuntu/casper/vmlinuz").
func RenderTopGrub(items []TopItem, timeoutSeconds int) []byte {
	t := topFor(items, timeoutSeconds)
	var b strings.Builder
	b.WriteString("# " + topHeader + "\n")
	wait := -1 // GRUB's "wait for a choice"; 0 would boot at once
	if t.Timeout > 0 {
		wait = int(t.Timeout / time.Second)
	}
	fmt.Fprintf(&b, "set timeout=%d\n", wait)
	if len(t.Items) > 0 {
		fmt.Fprintf(&b, "set default=%s\n", grubQuote(grubDefaultName(t.Items[0].Label, 0)))
	}
	for _, it := range t.Items {
		title := strings.ReplaceAll(it.Title, "^", "")
		if title == "" {
			title = it.Label
		}
		fmt.Fprintf(&b, "\nmenuentry %s --id %s {\n", grubQuote(title), grubQuote(it.Label))
		// Double quotes: GRUB expands $prefix in them; the prefix itself is plain (CheckPrefix).
		fmt.Fprintf(&b, "\tconfigfile \"${prefix}/%s/grub.cfg\"\n}\n", it.Prefix)
	}
	return []byte(b.String())
}
