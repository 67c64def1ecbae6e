package netboot

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"

	"github.com/insomniacslk/dhcp/iana"

	"github.com/sharecd/sharecd/assets"
	"github.com/sharecd/sharecd/netboot/bootmenu"
	"github.com/sharecd/sharecd/netboot/dhcp"
	"github.com/sharecd/sharecd/netboot/kernelarch"
	"github.com/sharecd/sharecd/netboot/medium"
	"github.com/sharecd/sharecd/netboot/seats"
	"github.com/sharecd/sharecd/netboot/tftp"
)

// Plan is what a share serves, built once from the media and the settled network before any
// socket is opened, and never changed after: the share, --detect and --boot-tree read the same
// plan, so they cannot disagree on a menu, a loader or a Secure Boot verdict. When the media of
// a running share change, a new plan is built and replaces the old one whole (step4_media.go).
type Plan struct {
	Network
	// Media are the shared media in menu order; clients that choose nothing boot the first.
	Media []*Served
	// Leaving are media taken out of a running share that clients still use: served as before,
	// listed in no menu.
	Leaving []*Served

	Tree  fs.FS    // the TFTP root: generated menus over the loaders over the media
	Files []string // every file of Tree a client may boot with: loaders, menus, kernels, initrds
	// Warnings are the media's menu entries left out because a file they load is missing.
	Warnings []string
	// HTTP: GRUB and iPXE fetch kernels and initrds by URL, or a family's initrd its root
	// image (dracut), so the share also serves Tree over HTTP.
	HTTP bool
	// BootFile is the loader offered to a client (see bootFileFor).
	BootFile func(dhcp.Client) (string, bool)
	// Seats are the machines the seats file names; their menus are in Tree (seatMenus).
	Seats *seats.Seats

	kernels, initrds map[string]bool // which fetch is which boot stage, by path in Tree
	placed           []placement     // where each medium is, for the next plan of a running share
	seatFiles        map[string]bool // the seats' menus, by path in Tree
}

// placement is where a medium is served. It is decided when the medium joins the share and kept
// as long as the share serves it, so that its files, its NFS export and so its file handles
// never move under a client running from it while other media come and go.
type placement struct {
	src    *source
	prefix string // its directory in the tree; "" = the tree's root (a share's first lone medium)
	// menuDir is where its own menus are served when a top menu has taken the root's: only for
	// a medium at the root among others. "" = at prefix.
	menuDir string
	leaving bool // taken out, still used by clients: served, in no menu
}

// firstPlacements places the media of a share as it starts: a lone medium at the root, several
// each under a directory of its own.
func firstPlacements(srcs []*source) []placement {
	out := make([]placement, len(srcs))
	for i, prefix := range mediumPrefixes(srcs, nil) {
		out[i] = placement{src: srcs[i], prefix: prefix}
	}
	return out
}

// Served is one medium of a plan.
type Served struct {
	Medium *medium.Medium
	Family bootmenu.Family
	Title  string // how the top-level menu lists it
	// Prefix is the directory of Tree its files are under; "" when it is the only medium, so a
	// one-medium share serves exactly the paths the medium has.
	Prefix string
	Export string         // its NFS export
	Menu   *bootmenu.Menu // the BIOS menu, rewritten for the network
	// UEFIMenu is the menu UEFI clients get: the medium's GRUB menu, else Menu's source,
	// rewritten as the chain the DHCP mode offers UEFI clients can fetch it.
	UEFIMenu *bootmenu.Menu
	// SecureBoot says whether clients with Secure Boot on can boot UEFIMenu's default kernel.
	SecureBoot SecureBoot
	// Arch is the machine of UEFIMenu's default kernel, which decides the clients it is offered
	// to (runsOn): arm64 media to ARM64 UEFI clients only, every other medium to x86 clients
	// only. Unknown (ArchErr says why) is offered to x86 clients, as before kernels were read.
	Arch    kernelarch.Arch
	ArchErr error

	src *source
}

// nfsRoot is the tree the medium's NFS export serves: the medium, or the medium with the
// session's changes as one more layer (step4_changes.go), which stays with the medium (its
// source) through every plan of a running share.
func (m *Served) nfsRoot() fs.FS {
	if m.src != nil && m.src.root != nil {
		return m.src.root
	}
	return m.Medium.FS
}

// First is the medium clients boot when they choose nothing.
func (p *Plan) First() *Served { return p.Media[0] }

// firstFor is the medium a client of architecture a (option 93) boots when it chooses nothing:
// the first that runs on its machine. A client no medium runs on is never answered (bootFileFor);
// for one that is, First stands in.
func (p *Plan) firstFor(a iana.Arch) *Served {
	if machine, ok := clientMachine(a); ok {
		for _, sv := range p.Media {
			if runsOn(machine, sv.Arch) {
				return sv
			}
		}
	}
	return p.First()
}

// plan rewrites the media's menus for clients of network n and stacks the TFTP tree. One
// medium is served as it is; several each under a directory of their own, with top-level
// menus listing them.
func (s *Share) plan(srcs []*source, n Network) (*Plan, error) {
	return s.planOf(firstPlacements(srcs), n)
}

// planOf builds the plan of media placed as placed says. Top menus list the media that are not
// leaving, unless that is one medium at the root, whose own menus are then the first ones.
func (s *Share) planOf(placed []placement, n Network) (*Plan, error) {
	timeout := s.MenuTimeout
	if timeout <= 0 {
		timeout = 10
	}
	overHTTP := !s.TFTPBoot
	p := &Plan{Network: n, kernels: map[string]bool{}, initrds: map[string]bool{}, seatFiles: map[string]bool{},
		Seats: s.Seats, placed: placed}
	generated := tftp.Files{UEFIIPXE: assets.UEFIIPXE(), BIOSIPXE: assets.BIOSIPXE()}
	var err error
	if generated[UEFILoader], err = assets.UEFIx64(n.Iface.Addr.Addr()); err != nil {
		return nil, err
	}
	for _, name := range []string{"shimx64.efi", "grubx64.efi", "mmx64.efi"} {
		b, err := fs.ReadFile(assets.SecureBoot(), name)
		if err != nil {
			return nil, err
		}
		generated[path.Join(path.Dir(SignedLoader), name)] = b
	}
	layers := []fs.FS{generated, nil} // the loaders' layer is known once every menu is
	modules := []string{BIOSLoader}
	var top, armTop []bootmenu.TopItem // the x86 clients' top menus and the ARM64 GRUB's
	var machines []kernelarch.Arch
	anyArm := false
	for _, pl := range placed {
		src := pl.src
		sv := &Served{Medium: src.med, Family: src.fam, Title: mediumTitle(src), Prefix: pl.prefix,
			Export: path.Join(Export, pl.prefix), src: src}
		menuDir := cmp.Or(pl.menuDir, sv.Prefix)
		root := bootmenu.NetRoot{Server: n.Iface.Addr.Addr(), Export: sv.Export, BootOverHTTP: overHTTP, Prefix: sv.Prefix}
		if sv.Menu, err = bootmenu.RewriteForNetwork(src.menu, src.fam, root, timeout); err != nil {
			return nil, fmt.Errorf("rewriting %s of %s for a network boot: %w", src.menuPath, src.med.Source, err)
		}
		uefi, uefiWarnings, err := uefiMenu(src, root, timeout)
		if err != nil {
			return nil, err
		}
		sv.UEFIMenu = uefi
		tree := src.med.FS
		if sv.Prefix != "" {
			tree = tftp.Under(sv.Prefix, src.med.FS)
		}
		layers = append(layers, tree)
		sv.Arch, sv.ArchErr = mediumArch(tree, uefi)
		sv.SecureBoot = checkSecureBoot(tree, uefi, sv.Arch)
		machines = append(machines, sv.Arch)
		arm := runsOn(kernelarch.ARM64, sv.Arch)
		anyArm = anyArm || arm
		if arm {
			// Only the ARM64 GRUB boots it: no pxelinux or iPXE menu, and its GRUB menu under
			// the ARM64 GRUB's own directory. That GRUB has HTTP in every DHCP mode.
			generated[path.Join(Arm64MenuDir, menuDir, "grub.cfg")] = bootmenu.RenderGrub(uefi)
		} else {
			// pxelinux always reads its kernels over TFTP; the iPXE scripts over HTTP where there
			// is HTTP. pxelinux and GRUB name a root medium's files from the tree's root wherever
			// its menu is, and iPXE is only offered where its menus name them by http:// URL, so
			// a root medium's menus work from its menuDir as well.
			generated[bootmenu.PxelinuxMenuPath(menuDir)] = bootmenu.RenderPxelinux(sv.Menu)
			generated[bootmenu.IPXEScriptPath(menuDir, BIOSScript)] = bootmenu.RenderIPXE(sv.Menu)
			generated[bootmenu.IPXEScriptPath(menuDir, UEFIScript)] = bootmenu.RenderIPXE(uefi)
			generated[bootmenu.GrubMenuPath(menuDir)] = bootmenu.RenderGrub(grubMenuFor(n.DHCP, uefi))
			modules = append(modules, bootmenu.Modules(sv.Menu)...)
		}
		for _, w := range append(slices.Clone(src.warnings), uefiWarnings...) {
			if !slices.Contains(p.Warnings, w) {
				p.Warnings = append(p.Warnings, w)
			}
		}
		addBootFiles(p.kernels, p.initrds, sv.Menu, uefi)
		p.HTTP = p.HTTP || overHTTP || src.fam == bootmenu.FamilyDracut
		if pl.leaving {
			p.Leaving = append(p.Leaving, sv)
			continue
		}
		p.Media = append(p.Media, sv)
		machines = append(machines, sv.Arch)
		item := bootmenu.TopItem{Label: menuDir, Title: sv.Title, Prefix: menuDir}
		if arm {
			armTop = append(armTop, item)
		} else {
			top = append(top, item)
		}
	}
	if len(p.Media) == 0 {
		return nil, errors.New("no medium to share")
	}
	// Several media (or one no longer at the root): each machine's loaders get a top menu of the
	// media that run on it. The top items' configfile paths are relative to the loader's own
	// prefix, so the ARM64 GRUB's items open grub-arm64/PREFIX/grub.cfg.
	needTop := len(p.Media) > 1 || p.First().Prefix != ""
	if needTop && len(top) > 0 {
		generated["pxelinux.cfg/default"] = bootmenu.RenderTopPxelinux(top, timeout)
		generated[BIOSScript] = bootmenu.RenderTopIPXE(top, timeout, BIOSScript)
		generated[UEFIScript] = bootmenu.RenderTopIPXE(top, timeout, UEFIScript)
		generated[UEFIMenuFile] = bootmenu.RenderTopGrub(top, timeout)
	}
	if needTop && len(armTop) > 0 {
		generated[Arm64MenuFile] = bootmenu.RenderTopGrub(armTop, timeout)
	}
	if anyArm {
		if generated[Arm64Loader], err = assets.UEFIArm64(n.Iface.Addr.Addr()); err != nil {
			return nil, err
		}
	}
	p.BootFile = bootFileFor(n.DHCP, overHTTP && !s.NoIPXEScript, machines, s.logger())
	warnings, err := seatMenus(p, generated)
	if err != nil {
		return nil, err
	}
	p.Warnings = append(p.Warnings, warnings...)
	slices.Sort(modules)
	modules = slices.Compact(modules)
	layers[1] = tftp.Only(assets.BIOS(), modules...)
	p.Tree = tftp.Overlay(layers)

	files := slices.Clone(modules)
	for name := range generated {
		files = append(files, name)
	}
	for _, set := range []map[string]bool{p.kernels, p.initrds} {
		for name := range set {
			files = append(files, name)
		}
	}
	slices.Sort(files)
	p.Files = slices.Compact(files)
	return p, nil
}

// grubMenuFor is the UEFI menu as the GRUB that mode offers reads it: Debian's signed GRUB has
// no HTTP, so for it the same menu names its kernels on TFTP.
func grubMenuFor(mode DHCPMode, uefi *bootmenu.Menu) *bootmenu.Menu {
	if !signedChain(mode) || uefi.HTTPHost == "" {
		return uefi
	}
	m := *uefi
	m.HTTPHost = ""
	return &m
}

// seatMenus writes each seat's menus into generated, beside the room's and named after its MAC,
// for every loader (seats.For says what they hold), and makes the room's iPXE scripts look for a
// seat's script first. A seat whose entry or medium the share lacks fails the start, naming it.
func seatMenus(p *Plan, generated tftp.Files) (warnings []string, _ error) {
	if p.Seats.Len() == 0 {
		return nil, nil
	}
	var media []seats.Medium // the media a seat's loaders can boot: the x86 ones
	for _, sv := range p.Media {
		if !runsOn(kernelarch.ARM64, sv.Arch) {
			media = append(media, seats.Medium{Dir: sv.Prefix, Title: sv.Title, Family: sv.Family, BIOS: sv.Menu, UEFI: sv.UEFIMenu})
		}
	}
	booting := 0
	for _, st := range p.Seats.All() {
		if st.NoBoot {
			continue // never answered: it fetches nothing
		}
		m, err := seats.For(st, media)
		if err != nil {
			return nil, fmt.Errorf("seats file: %w", err)
		}
		warnings = append(warnings, m.Warnings...)
		for name, menu := range map[string][]byte{
			seats.PxelinuxFile(st.MAC):         bootmenu.RenderPxelinux(m.BIOS),
			seats.IPXEFile(BIOSScript, st.MAC): bootmenu.RenderIPXE(m.BIOS),
			seats.IPXEFile(UEFIScript, st.MAC): bootmenu.RenderIPXE(m.UEFI),
			seats.GrubFile(st.MAC):             bootmenu.RenderGrub(grubMenuFor(p.DHCP, m.UEFI)),
		} {
			generated[name] = menu
			p.seatFiles[name] = true
		}
		booting++
	}
	if booting == 0 {
		return warnings, nil
	}
	// Every medium's iPXE menus fetch over HTTP from the same server, or none does.
	host := p.First().Menu.HTTPHost
	for _, script := range []string{BIOSScript, UEFIScript} {
		generated[script] = withIPXEChain(generated[script], seats.IPXEChain(script, host))
	}
	return warnings, nil
}

// withIPXEChain puts lines right after an iPXE script's first line, "#!ipxe", which must stay
// first.
func withIPXEChain(script []byte, lines string) []byte {
	first, rest, _ := bytes.Cut(script, []byte("\n"))
	out := append(append(slices.Clone(first), '\n'), lines...)
	return append(out, rest...)
}

// uefiMenu is the one place that says which menu UEFI clients boot: the medium's GRUB menu as
// GRUB shows it on UEFI, rewritten for the NFS root like the BIOS menu. A medium without a GRUB
// menu, or whose GRUB menu has no live entry we can rewrite, gives its BIOS menu to UEFI clients
// as well. Entries whose files the medium lacks are left out, each named in warnings.
func uefiMenu(src *source, root bootmenu.NetRoot, timeout int) (_ *bootmenu.Menu, warnings []string, _ error) {
	if g, _, err := bootmenu.FindGrub(src.med.FS, bootmenu.GrubEFI); err == nil {
		g, warnings = bootmenu.WithoutMissing(g, src.med.FS)
		if m, err := bootmenu.RewriteForNetwork(g, src.fam, root, timeout); err == nil {
			return m, warnings, nil
		}
	}
	m, err := bootmenu.RewriteForNetwork(src.menu, src.fam, root, timeout)
	if err != nil {
		return nil, nil, fmt.Errorf("rewriting %s of %s for UEFI clients: %w", src.menuPath, src.med.Source, err)
	}
	return m, nil, nil
}

func addBootFiles(kernels, initrds map[string]bool, menus ...*bootmenu.Menu) {
	for _, m := range menus {
		for _, e := range m.Entries {
			if e.Kernel != "" {
				kernels[e.Kernel] = true
			}
			for _, i := range e.Initrds {
				initrds[i] = true
			}
		}
	}
}
