package bootmenu

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
)

// NetRoot is where a network client finds the medium: our NFS export of the
// medium's root, and the HTTP server that serves the same tree to initrds
// that fetch their image by URL (dracut's livenet).
type NetRoot struct {
	Server   netip.Addr // IPv4: pxelinux and klibc's nfsmount are IPv4-only
	Export   string     // absolute, e.g. "/" or "/sharecd"
	HTTPPort int        // 0 = 80
	// BootOverHTTP: the menu's HTTPHost is this server, so that GRUB fetches kernels and
	// initrds over HTTP, not TFTP.
	BootOverHTTP bool
	// Prefix is the directory, relative to the TFTP and HTTP roots, under which the medium's
	// files are served ("ubuntu": casper/vmlinuz is fetched as ubuntu/casper/vmlinuz), so that
	// one share can serve several media that have the same file names. "" serves the medium at
	// the roots, as a share of one medium does. It must pass CheckPrefix.
	//
	// Only the files the client fetches from the TFTP/HTTP server get it: kernels, initrds,
	// help screens, dracut's root=live: URL. The NFS root is Export alone (a share of several
	// media exports each one on its own, "/sharecd/ubuntu"), and the syslinux modules
	// (menu.c32, hdt.c32, ...) are not the medium's: sharecd serves one set of them at the
	// TFTP root for every medium, where pxelinux looks for them (its working directory, which
	// the top menu's CONFIG leaves at the root).
	Prefix string
}

func (r NetRoot) nfs() string { return r.Server.String() + ":" + path.Clean(r.Export) }

func (r NetRoot) url(file string) string {
	return "http://" + r.host() + "/" + served(r.Prefix, strings.TrimPrefix(path.Clean("/"+file), "/"))
}

// ErrBadPrefix: a NetRoot.Prefix or TopItem.Prefix that cannot be written into a menu.
var ErrBadPrefix = errors.New("bad path prefix")

// maxPrefix bounds a prefix so that the paths it starts stay far below pxelinux's file name
// limit (FILENAME_MAX, 256 bytes with its NUL) and GRUB's and iPXE's line lengths.
const maxPrefix = 64

// CheckPrefix says whether prefix can be a NetRoot.Prefix: "" (none), or a clean relative
// directory ("ubuntu", "media/fedora-43") of ASCII letters, digits, '.', '_', '-' and '/'
// separators, at most 64 bytes. The character set is what every loader reads as a plain word:
// a space ends a pxelinux or iPXE file name, a quote or ';' is syntax to GRUB, '$' expands in
// GRUB and iPXE, ',' separates pxelinux initrds, '#' starts comments. Absolute prefixes and ".."
// are refused because the prefix must name a directory under the server's root, never above it.
func CheckPrefix(prefix string) error {
	bad := func(why string) error { return fmt.Errorf("path prefix %q %s: %w", prefix, why, ErrBadPrefix) }
	switch {
	case prefix == "":
		return nil
	case len(prefix) > maxPrefix:
		return bad(fmt.Sprintf("is longer than %d bytes", maxPrefix))
	case strings.HasPrefix(prefix, "/"):
		return bad("is absolute; it must be relative to the server's root")
	case strings.Contains(prefix, ".."):
		return bad(`contains ".."`)
	}
	for i := 0; i < len(prefix); i++ {
		c := prefix[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._-/", c) >= 0) {
			return bad(fmt.Sprintf("contains %q; only letters, digits, '.', '_', '-' and '/' are safe in every loader's menu", c))
		}
	}
	if path.Clean(prefix) != prefix || prefix == "." {
		return bad(`is not a clean directory name (no "./", "//" or trailing '/')`)
	}
	return nil
}

// served is where the client fetches a medium's file under prefix. file is medium-relative
// (clean, no leading '/') or a name the renderers would not write as a file at all (see
// writtenName), which stays as it is.
func served(prefix, file string) string {
	if prefix == "" {
		return file // byte for byte what a share of one medium has always written
	}
	w := writtenName(file)
	if w == "" {
		return file
	}
	// cleanPath keeps the file under the prefix: "../x" names /x of the medium, as on the medium.
	return prefix + "/" + cleanPath(w)
}

// unserved undoes served: the medium's file a path of a menu rewritten with prefix names.
// Only a path served could have written is taken apart, so that rewriting a rewritten menu
// gives every path back exactly (a medium whose own directory is called like the prefix,
// arch/ under the prefix "arch", is no exception: its path was prefixed once, and is unprefixed once).
func unserved(prefix, file string) string {
	if prefix == "" {
		return file
	}
	if rest, ok := strings.CutPrefix(file, prefix+"/"); ok && rest != "" && served(prefix, rest) == file {
		return rest
	}
	return file
}

func (r NetRoot) host() string {
	host := r.Server.String()
	if r.HTTPPort != 0 && r.HTTPPort != 80 {
		host += ":" + strconv.Itoa(r.HTTPPort)
	}
	return host
}

// netCOM32 are the COM32 modules worth keeping in a network menu: they work
// from pxelinux and need nothing from the medium. Everything else (ifcpu64,
// vesamenu/config chaining, gfxboot, ...) drives the medium's own menus.
var netCOM32 = map[string]bool{
	"hdt.c32":      true, // hardware detection tool (Debian live "Utilities")
	"chain.c32":    true, // "boot from local disk" on some media
	"reboot.c32":   true,
	"poweroff.c32": true,
}

// RewriteForNetwork returns a copy of m that boots the live system of family fam
// over the network, with its root on root, and waits timeoutSeconds before
// booting the default entry (0 or less: wait for the user).
//
// Kept entries: the family's live entries, rewritten; memory testers
// (memtest86+ loads like a kernel); "boot from local disk"; the COM32 tools
// in netCOM32. Dropped: everything else, chiefly installer entries, whose
// initrds look for a CD the client does not have, and modules that chain to
// the medium's own configs. Labels are made unique and space-free.
//
// The default stays the medium's default when that is a live entry, else it
// is the first live entry. The result is in canonical form: rewriting it again
// changes nothing, and ParseSyslinux(RenderPxelinux(result)) gives it back (but for
// Menu.Prefix, which no line of the file holds: the paths read back carry the prefix).
//
// With root.Prefix, every file the menu names on the server is served under it (see
// NetRoot.Prefix); an invalid prefix is an error that wraps ErrBadPrefix.
func RewriteForNetwork(m *Menu, fam Family, root NetRoot, timeoutSeconds int) (*Menu, error) {
	rules, ok := familyRules[fam]
	if !ok {
		return nil, fmt.Errorf("rewriting menu for %q: %w", fam, ErrUnsupportedFamily)
	}
	root.Server = root.Server.Unmap()
	if !root.Server.Is4() {
		return nil, fmt.Errorf("rewriting menu: NFS server %v is not an IPv4 address", root.Server)
	}
	if !strings.HasPrefix(root.Export, "/") || strings.ContainsAny(root.Export, " \t\r\n\",") {
		return nil, fmt.Errorf("rewriting menu: NFS export %q must be an absolute path without spaces, quotes or commas", root.Export)
	}
	if err := CheckPrefix(root.Prefix); err != nil {
		return nil, fmt.Errorf("rewriting menu: %w", err)
	}
	if m == nil {
		return nil, ErrNoLinuxEntry
	}
	// A rewritten menu's paths already carry its prefix: take it off, then put root's on, so
	// that rewriting a rewritten menu changes nothing, and a new prefix replaces the old one.
	file := func(f string) string { return served(root.Prefix, unserved(m.Prefix, f)) }
	out := &Menu{
		Title:   oneLine(m.Title),
		Timeout: min(max(timeoutSeconds, 0), maxTimeout/10) * 10,
		Prefix:  root.Prefix,
	}
	for _, h := range m.HelpFiles {
		out.HelpFiles = append(out.HelpFiles, HelpFile{Key: h.Key, Path: file(h.Path)})
	}
	if root.BootOverHTTP {
		out.HTTPHost = root.host()
	}
	used := map[string]bool{}
	defaultLabel, firstLive := "", ""
	for _, e := range m.Entries {
		ne, live, ok := rewriteEntry(e, fam, rules, root)
		if !ok {
			continue
		}
		if ne.Kind == KindLinux {
			// COM32 modules are not the medium's (rewriteEntry): served at the TFTP root.
			ne.Kernel = file(ne.Kernel)
			for i, f := range ne.Initrds {
				ne.Initrds[i] = file(f)
			}
		}
		ne.Label = uniqueLabel(ne.Label, used)
		ne.Title = oneLine(ne.Title)
		ne.Default = false
		if live {
			if firstLive == "" {
				firstLive = ne.Label
			}
			if defaultLabel == "" && (e.Default || (m.Default != "" && e.Label == m.Default)) {
				defaultLabel = ne.Label
			}
		}
		out.Entries = append(out.Entries, ne)
	}
	if firstLive == "" {
		return nil, fmt.Errorf("rewriting menu for %s: %w", fam, ErrNoLinuxEntry)
	}
	if defaultLabel == "" {
		defaultLabel = firstLive
	}
	out.Default = defaultLabel
	for i := range out.Entries {
		out.Entries[i].Default = out.Entries[i].Label == defaultLabel
	}
	return out, nil
}

// rewriteEntry converts one entry; ok=false drops it, live=true marks a
// live-system entry (a candidate for the default).
func rewriteEntry(e Entry, fam Family, rules netRules, root NetRoot) (ne Entry, live, ok bool) {
	ne = Entry{Label: e.Label, Title: e.Title, Kind: e.Kind, Help: e.Help, Hidden: e.Hidden}
	switch e.Kind {
	case KindLinux:
		switch {
		case isMemtest(e):
			// memtest86+ needs no root and no network; keep it as it is.
			ne.Kernel, ne.Append = e.Kernel, e.Append
			return ne, false, e.Kernel != ""
		case isLiveEntry(e, fam) && !rules.dropEntry(e.Append):
			ne.Kernel = e.Kernel
			ne.Initrds = append([]string(nil), e.Initrds...)
			ne.Append = netArgs(e.Append, rules, root)
			// BOOTIF=01-<mac>: live-boot and klibc's ipconfig use it to
			// configure the NIC the client booted from, not just the first
			// one with a link (matters on machines with several NICs).
			// Only bit 2: bit 1's static ip= would fight casper's ip=dhcp.
			ne.IPAppend = 2
			return ne, true, true
		}
		return ne, false, false
	case KindLocal:
		// The medium says 0x80 ("first hard disk", ISOLINUX numbering);
		// PXELINUX reads LOCALBOOT 0 as "return to the BIOS, which boots
		// the next device", the local disk on a machine set to try the
		// network first. Other PXELINUX values would keep the PXE stack.
		ne.LocalBoot = "0"
		return ne, false, true
	case KindCOM32:
		name := strings.ToLower(path.Base(e.Kernel))
		if !netCOM32[name] {
			return ne, false, false
		}
		// Served from the TFTP root with our pxelinux, not the medium's
		// copy: COM32 modules must match the ldlinux.c32 that runs them.
		ne.Kernel, ne.Append = name, e.Append
		return ne, false, true
	}
	return ne, false, false
}

func isMemtest(e Entry) bool {
	b := strings.ToLower(path.Base(e.Kernel))
	return len(e.Initrds) == 0 && (strings.Contains(b, "memtest") || strings.Contains(b, "mt86"))
}

// isLiveEntry: the entry boots the family's initrd. Its boot= says so, or,
// when it has none (Ubuntu ≥ 19.10 dropped boot=casper), its kernel lives in
// the family's directory. Installer entries (install/, d-i) match neither.
func isLiveEntry(e Entry, fam Family) bool {
	if len(e.Initrds) == 0 || e.Kernel == "" {
		return false
	}
	if f := familyOfArgs(e.Append); f != FamilyUnknown {
		return f == fam
	}
	if hasArg(e.Append, "boot=") {
		return false // some other initramfs (boot=foo): not ours to rewrite
	}
	return familyOfKernel(e.Kernel) == fam
}

// netRules say how one family's initrd is told to find its root on the
// network instead of on the medium.
type netRules struct {
	// drop are argument prefixes (lower case; a trailing '=' takes any value,
	// none means the bare word) that point the initrd at the local medium,
	// which a network client does not have: left in, the initrd would search
	// local disks and give up instead of using the network. The family's own
	// network arguments are dropped too, to be put back in canonical form, so
	// that rewriting a rewritten menu changes nothing.
	drop []string
	// at: the added arguments go where the first argument with one of these
	// prefixes was (else first), never at the end: systemd starts its serial
	// getty on the last console=, so a trailing console=ttyS0 must stay last,
	// and arguments after "--"/"---" belong to the installed system.
	at []string
	// add are the arguments that put the root on the network; kept are the
	// medium's arguments that survived drop.
	add func(root NetRoot, kept []string) []string
	// skip are arguments whose entries are not worth a network boot.
	skip []string
}

// toMedium are arguments of every family that point at a local medium.
//
// Deliberately kept everywhere: live-media-path= (a path inside the export,
// still right), toram/copytoram (copies the image into RAM over the network,
// then runs without the server: the medium's author offered that trade-off,
// RAM for independence, and it still works), persistence options, preseeds
// (file=/cdrom/... is the NFS mount under casper), console= and locales.
var toMedium = []string{
	"findiso=", "fromiso=", "iso-scan/filename=", "live-media=", "cdrom-detect/try-usb=",
	"img_dev=", "img_loop=", "ip=frommedia",
}

var familyRules = map[Family]netRules{
	FamilyLiveBoot: {
		drop: []string{"boot=", "netboot=", "nfsroot="},
		at:   []string{"boot="},
		add: func(r NetRoot, _ []string) []string {
			return []string{"boot=live", "netboot=nfs", "nfsroot=" + r.nfs()}
		},
	},
	// casper configures the network only when ip= is given (scripts/casper:
	// do_netsetup); any ip= from the medium is replaced, a static one would be
	// wrong on the client's LAN.
	FamilyCasper: {
		drop: []string{"boot=", "netboot=", "nfsroot=", "ip="},
		at:   []string{"boot="},
		add: func(r NetRoot, _ []string) []string {
			return []string{"boot=casper", "netboot=nfs", "nfsroot=" + r.nfs(), "ip=dhcp"}
		},
	},
	// dracut's livenet fetches root=live:<URL> into RAM and hands the copy to
	// dmsquash-live. HTTP, not NFS: livenet and curl are in every live initrd
	// built for network boots, dracut's nfs module only where nfs-utils was
	// installed. The media check tests a disc the client does not have.
	FamilyDracut: {
		drop: []string{"root=", "rd.live.image", "liveimg", "ip=", "rd.live.check", "check",
			"inst.stage2=", "rd.live.ram", "rd.live.ram="},
		at: []string{"root="},
		add: func(r NetRoot, kept []string) []string {
			dir, img := "LiveOS", "squashfs.img"
			for _, a := range kept {
				k, v, _ := strings.Cut(a, "=")
				switch strings.ToLower(k) {
				case "rd.live.dir", "live_dir":
					dir = strings.Trim(v, "/")
				case "rd.live.squashimg":
					img = v
				}
			}
			return []string{"root=live:" + r.url(dir+"/"+img), "rd.live.image", "ip=dhcp"}
		},
		skip: []string{"rd.live.check"},
	},
	// archiso and miso (mkinitcpio hooks archiso_pxe_nfs, miso_pxe_nfs) mount
	// the export with klibc's nfsmount, after ipconfig ran on the interface
	// that BOOTIF= names.
	//
	// archiso_pxe_nfs turns copytoram on unless the command line says
	// copytoram=n: the whole airootfs.sfs (~1 GB on Arch's ISO) is then copied
	// into a tmpfs of the client's RAM, and archiso_pxe_common takes the
	// network down. A room of diskless clients is what a share is for, so the
	// root stays on the NFS export; an entry that names copytoram itself keeps
	// its choice (Arch's "copy to RAM" entries).
	FamilyArchiso: {
		drop: []string{"archisolabel=", "archisodevice=", "archisosearchuuid=", "archisosearchfilename=",
			"archiso_nfs_srv=", "archiso_http_srv=", "archiso_nbd_srv=", "ip="},
		at: []string{"archisolabel=", "archisodevice=", "archisosearchuuid=", "archisosearchfilename=",
			"img_dev=", "archiso_nfs_srv=", "archiso_http_srv=", "archiso_nbd_srv="},
		add: func(r NetRoot, kept []string) []string {
			args := []string{"archiso_nfs_srv=" + r.nfs(), "ip=dhcp"}
			if !slices.ContainsFunc(kept, func(a string) bool { return strings.HasPrefix(strings.ToLower(a), "copytoram=") }) {
				args = append(args, "copytoram=n")
			}
			return args
		},
	},
	FamilyMiso: {
		drop: []string{"misolabel=", "misodevice=", "miso_nfs_srv=", "miso_http_srv=", "miso_nbd_srv=", "ip="},
		at:   []string{"misolabel=", "misodevice=", "img_dev=", "miso_nfs_srv=", "miso_http_srv=", "miso_nbd_srv="},
		add: func(r NetRoot, _ []string) []string {
			return []string{"miso_nfs_srv=" + r.nfs(), "ip=dhcp"}
		},
	},
}

func (rules netRules) dropEntry(cmdline string) bool {
	for _, a := range splitArgs(cmdline) {
		if argMatches(strings.ToLower(a), rules.skip) {
			return true
		}
	}
	return false
}

// netArgs rewrites a live entry's command line by the family's rules.
func netArgs(cmdline string, rules netRules, root NetRoot) string {
	var kept []string
	at := -1
	for _, a := range splitArgs(cmdline) {
		la := strings.ToLower(a)
		if at < 0 && argMatches(la, rules.at) {
			at = len(kept)
		}
		if argMatches(la, toMedium) || argMatches(la, rules.drop) {
			continue
		}
		kept = append(kept, a)
	}
	if at < 0 {
		at = 0
	}
	add := rules.add(root, kept)
	out := make([]string, 0, len(kept)+len(add))
	out = append(out, kept[:at]...)
	out = append(out, add...)
	out = append(out, kept[at:]...)
	return strings.Join(out, " ")
}

// argMatches: la (lower case) is one of the words, or has one of the
// "key=" prefixes.
func argMatches(la string, prefixes []string) bool {
	for _, p := range prefixes {
		if la == p || (strings.HasSuffix(p, "=") && strings.HasPrefix(la, p)) {
			return true
		}
	}
	return false
}

func hasArg(cmdline, prefix string) bool {
	for _, a := range splitArgs(cmdline) {
		if strings.HasPrefix(strings.ToLower(a), prefix) {
			return true
		}
	}
	return false
}

// uniqueLabel makes a label usable on a DEFAULT line (no spaces: syslinux
// takes the rest as kernel arguments) and unique in the menu.
func uniqueLabel(l string, used map[string]bool) string {
	l = strings.Join(strings.FieldsFunc(l, func(r rune) bool { return strings.ContainsRune(spaces+"\n", r) }), "-")
	if l == "" {
		l = "entry"
	}
	base := l
	for n := 2; used[l]; n++ {
		l = base + "-" + strconv.Itoa(n)
	}
	used[l] = true
	return l
}

// oneLine keeps a value on its line in a config file. Byte-wise, so any
// string, valid UTF-8 or not, renders and parses back unchanged.
func oneLine(s string) string {
	return trimSpace(strings.NewReplacer("\n", " ", "\r", " ").Replace(s))
}
