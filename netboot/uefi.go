package netboot

import (
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/insomniacslk/dhcp/iana"

	"github.com/sharecd/sharecd/assets"
	"github.com/sharecd/sharecd/netboot/bootmenu"
	"github.com/sharecd/sharecd/netboot/dhcp"
	"github.com/sharecd/sharecd/netboot/tftp"
)

// UEFILoader is the boot file x86-64 UEFI clients are offered: GRUB 2 built from Debian's
// grub-efi-amd64-bin with its prefix pointing at this server (assets.UEFIx64).
const UEFILoader = "grubx64.efi"

// UEFIMenuFile is where that GRUB reads its menu: $prefix/grub.cfg, prefix (tftp,SERVER)/grub.
const UEFIMenuFile = "grub/grub.cfg"

// secureBootNote is said once per UEFI client: why a machine with Secure Boot on stops at the loader.
const secureBootNote = "Secure Boot must be off on this client: the signed GRUBs that could be served " +
	"(Debian 12's grubnetx64.efi, the medium's own) take their TFTP server from the router, not from a " +
	"proxy-DHCP, so in proxy mode only this unsigned GRUB finds its menu"

// bootFileFor picks the loader by the client's architecture (option 93, as the proxy normalises it:
// 9, "EFI BC", arrives as 7, x86-64 UEFI).
func bootFileFor(arch iana.Arch) (string, bool) {
	switch arch {
	case iana.INTEL_X86PC:
		return BIOSLoader, true
	case iana.EFI_X86_64, iana.EFI_BC:
		return UEFILoader, true
	}
	// IA32 (6) and ARM64 (11) UEFI have no loader here yet: no answer, so their firmware goes on
	// to its next boot option instead of failing on a file it cannot run.
	return "", false
}

// chainOf says which boot chain a boot file starts, for the log.
func chainOf(file string) string {
	switch file {
	case BIOSLoader:
		return "BIOS: pxelinux.0 → pxelinux.cfg/default → kernel, initrd → NFS root"
	case UEFILoader:
		return "UEFI x86-64: unsigned GRUB grubx64.efi → " + UEFIMenuFile + " → kernel, initrd → NFS root"
	}
	return file
}

// uefi builds what UEFI clients boot: the medium's GRUB menu as GRUB shows it on UEFI, rewritten
// for the NFS root like the BIOS menu, and our GRUB image. A medium without a GRUB menu, or whose
// GRUB menu has no live entry we can rewrite, gives its BIOS menu to UEFI clients as well.
func (src *source) uefi(server netip.Addr, timeout int, into tftp.Files) (*bootmenu.Menu, error) {
	root := bootmenu.NetRoot{Server: server, Export: Export}
	var netMenu *bootmenu.Menu
	if g, _, err := bootmenu.FindGrub(src.med.FS, bootmenu.GrubEFI); err == nil {
		netMenu, _ = bootmenu.RewriteForNetwork(g, src.fam, root, timeout)
	}
	if netMenu == nil {
		var err error
		if netMenu, err = bootmenu.RewriteForNetwork(src.menu, src.fam, root, timeout); err != nil {
			return nil, fmt.Errorf("rewriting %s for UEFI clients: %w", src.menuPath, err)
		}
	}
	img, err := assets.UEFIx64(server)
	if err != nil {
		return nil, err
	}
	into[UEFILoader] = img
	into[UEFIMenuFile] = bootmenu.RenderGrub(netMenu)
	return netMenu, nil
}

// logChain says which boot chain a client was offered, and for UEFI that Secure Boot must be off.
func logChain(log *slog.Logger, e dhcp.Event) {
	args := []any{"mac", e.MAC.String(), "arch", e.Arch.String(), "chain", chainOf(e.BootFile)}
	if e.BootFile == UEFILoader {
		args = append(args, "secure_boot", secureBootNote)
	}
	log.Info("client boot chain", args...)
}
