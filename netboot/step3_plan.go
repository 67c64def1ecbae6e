package netboot

import (
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
	"github.com/sharecd/sharecd/netboot/tftp"
)

// Plan is what a share serves, built once from the media and the settled network before any
// socket is opened, and never changed after: the share, --detect and --boot-tree read the same
// plan, so they cannot disagree on a menu, a loader or a Secure Boot verdict.
type Plan struct {
	Network
	// Media are the shared media in menu order; clients that choose nothing boot the first.
	Media []*Served

	Tree  fs.FS    // the TFTP root: generated menus over the loaders over the media
	Files []string // every file of Tree a client may boot with: loaders, menus, kernels, initrds
	// Warnings are the media's menu entries left out because a file they load is missing.
	Warnings []string
	// HTTP: GRUB and iPXE fetch kernels and initrds by URL, or a family's initrd its root
	// image (dracut), so the share also serves Tree over HTTP.
	HTTP bool
	// BootFile is the loader offered to a client (see bootFileFor).
	BootFile func(dhcp.Client) (string, bool)

	kernels, initrds map[string]bool // which fetch is which boot stage, by path in Tree
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
	timeout := s.MenuTimeout
	if timeout <= 0 {
		timeout = 10
	}
	overHTTP := !s.TFTPBoot
	p := &Plan{Network: n, kernels: map[string]bool{}, initrds: map[string]bool{}}
	generated := tftp.Files{UEFIIPXE: assets.UEFIIPXE()}
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
	prefixes := mediumPrefixes(srcs)
	layers := []fs.FS{generated, nil} // the loaders' layer is known once every menu is
	modules := []string{BIOSLoader}
	var top, armTop []bootmenu.TopItem // the x86 clients' top menus and the ARM64 GRUB's
	var machines []kernelarch.Arch
	for i, src := range srcs {
		sv := &Served{Medium: src.med, Family: src.fam, Title: mediumTitle(src), Prefix: prefixes[i],
			Export: path.Join(Export, prefixes[i])}
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
		item := bootmenu.TopItem{Label: sv.Prefix, Title: sv.Title, Prefix: sv.Prefix}
		if runsOn(kernelarch.ARM64, sv.Arch) {
			// Only the ARM64 GRUB boots it: no pxelinux or iPXE menu, and its GRUB menu under
			// the ARM64 GRUB's own directory. That GRUB has HTTP in every DHCP mode.
			generated[path.Join(Arm64MenuDir, sv.Prefix, "grub.cfg")] = bootmenu.RenderGrub(uefi)
			armTop = append(armTop, item)
		} else {
			grubMenu := uefi
			if signedChain(n.DHCP) && uefi.HTTPHost != "" {
				// Debian's signed GRUB has no HTTP: the same menu with kernels on TFTP.
				m := *uefi
				m.HTTPHost = ""
				grubMenu = &m
			}
			// pxelinux always reads its kernels over TFTP; the iPXE scripts over HTTP where there is HTTP.
			generated[path.Join(sv.Prefix, "pxelinux.cfg/default")] = bootmenu.RenderPxelinux(sv.Menu)
			generated[path.Join(sv.Prefix, BIOSScript)] = bootmenu.RenderIPXE(sv.Menu)
			generated[path.Join(sv.Prefix, UEFIScript)] = bootmenu.RenderIPXE(uefi)
			generated[bootmenu.GrubMenuPath(sv.Prefix)] = bootmenu.RenderGrub(grubMenu)
			modules = append(modules, bootmenu.Modules(sv.Menu)...)
			top = append(top, item)
		}
		for _, w := range append(slices.Clone(src.warnings), uefiWarnings...) {
			if !slices.Contains(p.Warnings, w) {
				p.Warnings = append(p.Warnings, w)
			}
		}
		addBootFiles(p.kernels, p.initrds, sv.Menu, uefi)
		p.HTTP = p.HTTP || overHTTP || src.fam == bootmenu.FamilyDracut
		p.Media = append(p.Media, sv)
	}
	// Several media: each machine's loaders get a top menu of the media that run on it. The top
	// items' configfile paths are relative to the loader's own prefix, so the ARM64 GRUB's
	// items open grub-arm64/PREFIX/grub.cfg.
	if len(srcs) > 1 && len(top) > 0 {
		generated["pxelinux.cfg/default"] = bootmenu.RenderTopPxelinux(top, timeout)
		generated[BIOSScript] = bootmenu.RenderTopIPXE(top, timeout, BIOSScript)
		generated[UEFIScript] = bootmenu.RenderTopIPXE(top, timeout, UEFIScript)
		generated[UEFIMenuFile] = bootmenu.RenderTopGrub(top, timeout)
	}
	if len(srcs) > 1 && len(armTop) > 0 {
		generated[Arm64MenuFile] = bootmenu.RenderTopGrub(armTop, timeout)
	}
	if len(armTop) > 0 {
		if generated[Arm64Loader], err = assets.UEFIArm64(n.Iface.Addr.Addr()); err != nil {
			return nil, err
		}
	}
	p.BootFile = bootFileFor(n.DHCP, overHTTP && !s.NoIPXEScript, machines, s.logger())
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
