package netboot

import (
	"fmt"
	"io/fs"
	"path"
	"slices"

	"github.com/sharecd/sharecd/assets"
	"github.com/sharecd/sharecd/netboot/bootmenu"
	"github.com/sharecd/sharecd/netboot/dhcp"
	"github.com/sharecd/sharecd/netboot/medium"
	"github.com/sharecd/sharecd/netboot/tftp"
)

// Plan is what a share serves, built once from the medium and the settled network before any
// socket is opened, and never changed after: the share, --detect and --boot-tree read the same
// plan, so they cannot disagree on a menu, a loader or a Secure Boot verdict.
type Plan struct {
	Network
	Medium *medium.Medium
	Family bootmenu.Family
	Menu   *bootmenu.Menu // the BIOS menu, rewritten for the network
	// UEFIMenu is the menu UEFI clients get: the medium's GRUB menu, else Menu's source,
	// rewritten as the chain the DHCP mode offers UEFI clients can fetch it.
	UEFIMenu *bootmenu.Menu

	Tree  fs.FS    // the TFTP root: generated menus over the loaders over the medium
	Files []string // every file of Tree a client may boot with: loaders, menus, kernels, initrds
	// Warnings are the medium's menu entries left out because a file they load is missing.
	Warnings []string
	// HTTP: GRUB and iPXE fetch kernels and initrds by URL, or the family's initrd its root
	// image (dracut), so the share also serves Tree over HTTP.
	HTTP bool
	// BootFile is the loader offered to a client (see bootFileFor).
	BootFile func(dhcp.Client) (string, bool)
	// SecureBoot says whether clients with Secure Boot on can boot UEFIMenu's default kernel.
	SecureBoot SecureBoot

	kernels, initrds map[string]bool // of Menu and UEFIMenu: which fetch is which boot stage
}

// plan rewrites the medium's menus for clients of network n and stacks the TFTP tree.
func (s *Share) plan(src *source, n Network) (*Plan, error) {
	timeout := s.MenuTimeout
	if timeout <= 0 {
		timeout = 10
	}
	overHTTP := !s.TFTPBoot
	root := bootmenu.NetRoot{Server: n.Iface.Addr.Addr(), Export: Export, BootOverHTTP: overHTTP}
	netMenu, err := bootmenu.RewriteForNetwork(src.menu, src.fam, root, timeout)
	if err != nil {
		return nil, fmt.Errorf("rewriting %s for a network boot: %w", src.menuPath, err)
	}
	uefiMenu, uefiWarnings, err := uefiMenu(src, root, timeout)
	if err != nil {
		return nil, err
	}
	grubMenu := uefiMenu
	if signedChain(n.DHCP) && uefiMenu.HTTPHost != "" {
		// Debian's signed GRUB has no HTTP: the same menu with kernels on TFTP.
		m := *uefiMenu
		m.HTTPHost = ""
		grubMenu = &m
	}
	// pxelinux always reads its kernels over TFTP; the iPXE scripts over HTTP where there is HTTP.
	generated := tftp.Files{
		"pxelinux.cfg/default": bootmenu.RenderPxelinux(netMenu),
		BIOSScript:             bootmenu.RenderIPXE(netMenu),
		UEFIMenuFile:           bootmenu.RenderGrub(grubMenu),
		UEFIScript:             bootmenu.RenderIPXE(uefiMenu),
		UEFIIPXE:               assets.UEFIIPXE(),
	}
	if generated[UEFILoader], err = assets.UEFIx64(root.Server); err != nil {
		return nil, err
	}
	for _, name := range []string{"shimx64.efi", "grubx64.efi", "mmx64.efi"} {
		b, err := fs.ReadFile(assets.SecureBoot(), name)
		if err != nil {
			return nil, err
		}
		generated[path.Join(path.Dir(SignedLoader), name)] = b
	}
	warnings := slices.Clone(src.warnings)
	for _, w := range uefiWarnings {
		if !slices.Contains(warnings, w) {
			warnings = append(warnings, w)
		}
	}
	loaderNames := append([]string{BIOSLoader}, bootmenu.Modules(netMenu)...)
	files := append([]string{}, loaderNames...)
	for name := range generated {
		files = append(files, name)
	}
	kernels, initrds := bootFiles(netMenu, uefiMenu)
	for _, set := range []map[string]bool{kernels, initrds} {
		for name := range set {
			files = append(files, name)
		}
	}
	slices.Sort(files)
	return &Plan{
		Network: n, Medium: src.med, Family: src.fam, Menu: netMenu, UEFIMenu: uefiMenu, Warnings: warnings,
		Tree:       tftp.Overlay{generated, tftp.Only(assets.BIOS(), loaderNames...), src.med.FS},
		Files:      slices.Compact(files),
		HTTP:       overHTTP || src.fam == bootmenu.FamilyDracut,
		BootFile:   bootFileFor(n.DHCP, overHTTP && !s.NoIPXEScript),
		SecureBoot: checkSecureBoot(src.med.FS, uefiMenu),
		kernels:    kernels,
		initrds:    initrds,
	}, nil
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
		return nil, nil, fmt.Errorf("rewriting %s for UEFI clients: %w", src.menuPath, err)
	}
	return m, nil, nil
}

func bootFiles(menus ...*bootmenu.Menu) (kernels, initrds map[string]bool) {
	kernels, initrds = map[string]bool{}, map[string]bool{}
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
	return kernels, initrds
}
