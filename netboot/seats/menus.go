package seats

import (
	"fmt"
	"net"
	"path"
	"strings"

	"github.com/sharecd/sharecd/netboot/bootmenu"
)

// HostnameArg is the kernel argument that names the running system in family fam, "" where
// none is known.
//
//   - live-boot and casper: hostname=. casper's own script reads it (scripts/casper, exported as
//     HOST, which casper-bottom/18hostname writes to the root's /etc/hostname); Debian's
//     live-config reads the same argument.
//   - dracut, archiso and miso: systemd.hostname=. Their initramfs hooks name no hostname
//     argument (mkinitcpio-archiso's archiso_pxe_common takes HOSTNAME only from ipconfig's DHCP
//     answer; dracut's only in the hostname field of ip=, which would also fix the address), and
//     the system they start is systemd, which takes systemd.hostname= over /etc/hostname.
func HostnameArg(fam bootmenu.Family, name string) string {
	if name == "" {
		return ""
	}
	switch fam {
	case bootmenu.FamilyLiveBoot, bootmenu.FamilyCasper:
		return "hostname=" + name
	case bootmenu.FamilyDracut, bootmenu.FamilyArchiso, bootmenu.FamilyMiso:
		return "systemd.hostname=" + name
	}
	return ""
}

// Medium is one shared medium as a seat may choose it.
type Medium struct {
	Dir    string // its directory on the server (Served.Prefix); "" for a share of one medium
	Title  string // how the top menu lists it
	Family bootmenu.Family
	// BIOS and UEFI are its menus, rewritten for the network (Served.Menu, Served.UEFIMenu).
	BIOS, UEFI *bootmenu.Menu
}

// Menus are what a seat boots: its medium (an index of the media given to For) and that
// medium's menus with the seat's default entry and kernel arguments.
type Menus struct {
	Medium     int
	BIOS, UEFI *bootmenu.Menu
	// Warnings say where the seat's entry is missing from one of the two menus, which then
	// keeps its own default.
	Warnings []string
}

// For is the menus seat st boots from media (in menu order, the first the default). A seat is
// given its medium's menus directly, not the top menu of a share of several: its machine is
// meant to boot that one system unattended. The error names the seat and what the share lacks.
func For(st Seat, media []Medium) (Menus, error) {
	who := "seat " + st.MAC.String()
	if st.Name != "" {
		who = fmt.Sprintf("seat %s (%s)", st.Name, st.MAC)
	}
	if len(media) == 0 {
		return Menus{}, fmt.Errorf("%s: no medium to boot", who)
	}
	i, err := pickMedium(st.Medium, media)
	if err != nil {
		return Menus{}, fmt.Errorf("%s: %w", who, err)
	}
	m := media[i]
	out := Menus{Medium: i}
	host := HostnameArg(m.Family, st.Name)
	extra := strings.TrimSpace(host + " " + st.Args)
	var found []bool
	for _, menu := range []**bootmenu.Menu{&out.BIOS, &out.UEFI} {
		src := m.BIOS
		if menu == &out.UEFI {
			src = m.UEFI
		}
		seat, ok := withSeat(src, st.Entry, host, extra)
		*menu = seat
		found = append(found, ok)
	}
	switch {
	case st.Entry == "":
	case !found[0] && !found[1]:
		return Menus{}, fmt.Errorf("%s: no entry %q in the menu of %s (entries: %s)", who, st.Entry, mediumName(m),
			strings.Join(entryNames(m.BIOS, m.UEFI), ", "))
	case !found[0]:
		out.Warnings = append(out.Warnings, fmt.Sprintf("%s: no entry %q in the BIOS menu of %s: BIOS clients boot its default", who, st.Entry, mediumName(m)))
	case !found[1]:
		out.Warnings = append(out.Warnings, fmt.Sprintf("%s: no entry %q in the UEFI menu of %s: UEFI clients boot its default", who, st.Entry, mediumName(m)))
	}
	return out, nil
}

func mediumName(m Medium) string {
	if m.Title != "" {
		return m.Title
	}
	if m.Dir != "" {
		return m.Dir
	}
	return "the medium"
}

// pickMedium finds a medium by its directory, else by its title (case and spaces aside).
func pickMedium(want string, media []Medium) (int, error) {
	if want == "" {
		return 0, nil
	}
	for i, m := range media {
		if m.Dir != "" && m.Dir == want {
			return i, nil
		}
	}
	for i, m := range media {
		if sameText(m.Title, want) {
			return i, nil
		}
	}
	var names []string
	for _, m := range media {
		names = append(names, fmt.Sprintf("%q", mediumName(m)))
		if m.Dir != "" {
			names[len(names)-1] += " (" + m.Dir + ")"
		}
	}
	return 0, fmt.Errorf("no medium %q in this share (media: %s)", want, strings.Join(names, ", "))
}

func sameText(a, b string) bool {
	return a != "" && strings.EqualFold(oneLine(strings.ReplaceAll(a, "^", "")), oneLine(strings.ReplaceAll(b, "^", "")))
}

// withSeat is m with the entry named want as its default (by label, else by title) and extra on
// every Linux entry's command line but a memory tester's, where the medium's own argument of
// host's key goes: a medium may name its host itself (the lab's live-boot menu does), and which
// of two a family takes is its own business. ok false: no entry is named want, and
// the copy keeps m's default. The loaders' one menu selection (bootmenu's renderers) then writes
// it as it writes every menu, so a seat's menu cannot differ from the room's otherwise.
func withSeat(m *bootmenu.Menu, want, host, extra string) (_ *bootmenu.Menu, ok bool) {
	if m == nil {
		return nil, false
	}
	c := *m
	c.Entries = append([]bootmenu.Entry(nil), m.Entries...)
	def := -1
	for i, e := range c.Entries {
		if want != "" && def < 0 && e.Label == want {
			def = i
		}
	}
	for i, e := range c.Entries {
		if want != "" && def < 0 && sameText(e.PlainTitle(), want) {
			def = i
		}
	}
	for i := range c.Entries {
		e := &c.Entries[i]
		if extra != "" && e.Kind == bootmenu.KindLinux && !isMemtest(*e) {
			e.Append = strings.TrimSpace(withoutArg(e.Append, host) + " " + extra)
		}
		if def >= 0 {
			e.Default = i == def
		}
	}
	if def >= 0 {
		c.Default = c.Entries[def].Label
		c.Entries[def].Hidden = false
	}
	return &c, def >= 0
}

// withoutArg is cmdline without the arguments of arg's key ("hostname=" of "hostname=desk-01").
func withoutArg(cmdline, arg string) string {
	key, _, ok := strings.Cut(arg, "=")
	if !ok {
		return cmdline
	}
	var keep []string
	for _, a := range strings.Fields(cmdline) {
		if !strings.HasPrefix(a, key+"=") {
			keep = append(keep, a)
		}
	}
	return strings.Join(keep, " ")
}

// isMemtest: a memory tester takes no Linux arguments (memtest86+ reads its own).
func isMemtest(e bootmenu.Entry) bool {
	return strings.Contains(strings.ToLower(path.Base(e.Kernel)), "memtest")
}

func entryNames(menus ...*bootmenu.Menu) []string {
	var names []string
	seen := map[string]bool{}
	for _, m := range menus {
		if m == nil {
			continue
		}
		for _, e := range m.Entries {
			n := fmt.Sprintf("%q", e.Label)
			if t := e.PlainTitle(); t != e.Label {
				n += " (" + oneLine(t) + ")"
			}
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	return names
}

// The menus of a seat are files named after its MAC, where each loader looks before its
// room-wide menu:
//
//   - pxelinux asks for pxelinux.cfg/01-<mac> (ARP type 1, lower-case hex, hyphens) before
//     pxelinux.cfg/default;
//   - GRUB 2.06 with a (tftp,…) prefix asks for $prefix/grub.cfg-01-<mac>, the same spelling,
//     before $prefix/grub.cfg (normal/main.c calls net.c's grub_net_search_config_file; both
//     of the GRUBs we serve have it, and feature_net_search_cfg is not off);
//   - iPXE has no such search: the room's script chains IPXEFile's name with the MAC iPXE
//     fills in (IPXEChain), and goes on to the room's menu when there is no such file.
//
// macName is that spelling: "01-52-54-00-12-34-56".
func macName(mac net.HardwareAddr) string {
	return "01-" + strings.ReplaceAll(strings.ToLower(mac.String()), ":", "-")
}

// PxelinuxFile is where pxelinux finds mac's menu, relative to the TFTP root.
func PxelinuxFile(mac net.HardwareAddr) string { return "pxelinux.cfg/" + macName(mac) }

// GrubFile is where GRUB finds mac's menu: beside the room's grub/grub.cfg.
func GrubFile(mac net.HardwareAddr) string { return "grub/grub.cfg-" + macName(mac) }

// IPXEFile is where iPXE finds mac's script, beside the room's script (boot.ipxe, uefi.ipxe):
// "boot.ipxe-01-52-54-00-12-34-56".
func IPXEFile(script string, mac net.HardwareAddr) string { return script + "-" + macName(mac) }

// IPXEChain is the lines the room's iPXE script starts with when the share has seats: it
// chains the script named after the MAC of the NIC iPXE booted from (${netX/mac:hexhyp}), from
// host over HTTP, or, host "", relative to the room's own script. A seat's script boots, or
// exits back to the firmware as its local-boot entry means; any other client has none, and the
// failed fetch (a 404 or TFTP's file not found, within a round trip) goes on to the room's menu.
func IPXEChain(script, host string) string {
	url := script + "-01-${netX/mac:hexhyp}"
	if host != "" {
		url = "http://" + host + "/" + url
	}
	return "# A machine of the seats file boots its own script, named after its MAC.\n" +
		"chain --autofree " + url + " || goto sharecd_room\nexit\n:sharecd_room\n"
}
