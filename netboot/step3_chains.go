package netboot

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"sync"

	"github.com/insomniacslk/dhcp/iana"

	"github.com/sharecd/sharecd/netboot/bootmenu"
	"github.com/sharecd/sharecd/netboot/dhcp"
	"github.com/sharecd/sharecd/netboot/kernelarch"
	"github.com/sharecd/sharecd/netboot/secureboot"
)

// BIOSLoader is the boot file BIOS clients are offered without iPXE (Share.NoIPXEScript,
// Share.TFTPBoot, and DHCP off, where the admin's server names one file for every BIOS client):
// pxelinux.0, which reads its menu, kernel and initrd over TFTP. Not lpxelinux.0: over TFTP it
// reached the kernel in 20 to 24 s in the lab, lpxelinux.0 over HTTP in 36 s.
const BIOSLoader = "pxelinux.0"

// BIOSIPXE is what BIOS clients whose ROM is not iPXE (Intel, Realtek and Broadcom PXE ROMs: no
// user class "iPXE", no option 175) are offered where kernels go over HTTP: Debian's iPXE for
// UNDI (assets.BIOSIPXE), which drives the NIC through the ROM's own driver, asks for a boot file
// again as iPXE and is given BIOSScript. So nothing bigger than a loader goes over TFTP.
const BIOSIPXE = "undionly.kpxe"

// BIOSScript is what BIOS clients running iPXE (their ROM's, or BIOSIPXE) are offered where
// kernels go over HTTP: the same menu as an iPXE script, so that iPXE fetches the kernel and
// initrd over HTTP itself, with no loader in between and no TFTP round trip per block.
const BIOSScript = "boot.ipxe"

// UEFIIPXE is the boot file x86-64 UEFI clients are offered in proxy mode: iPXE (assets.UEFIIPXE),
// which asks for a boot file again as iPXE and is given UEFIScript. GRUB's TCP, not the server,
// set the pace of a UEFI client's kernel over HTTP; iPXE's is the BIOS clients' fast path.
// Unsigned: behind a proxy-DHCP no signed loader finds its menu (see secureBootProxyNote).
const UEFIIPXE = "snponly.efi"

// UEFIScript is what UEFI clients running iPXE are given, as BIOSScript is for BIOS ones: the
// UEFI menu (Served.UEFIMenu) as an iPXE script.
const UEFIScript = "uefi.ipxe"

// UEFILoader is what UEFI clients get in proxy mode without iPXE (Share.NoIPXEScript, or
// Share.TFTPBoot): GRUB 2 built from Debian's grub-efi-amd64-bin with its prefix pointing at this
// server (assets.UEFIx64). Unsigned, for the same reason.
const UEFILoader = "grubx64.efi"

// SignedLoader is the boot file x86-64 UEFI clients are offered where the DHCP answer that names
// it also names this server as the TFTP server (full mode; off mode, pointed at us): Debian's
// Microsoft-signed shim, which loads Debian's signed network GRUB from beside it
// (secureboot/grubx64.efi), which reads UEFIMenuFile from the server of that DHCP answer.
const SignedLoader = "secureboot/shimx64.efi"

// UEFIMenuFile is where both GRUBs read their menu: $prefix/grub.cfg, prefix (tftp,SERVER)/grub.
const UEFIMenuFile = "grub/grub.cfg"

// Arm64Loader is what ARM64 UEFI clients (option 93 = 11) are offered in every DHCP mode: GRUB 2
// built from Debian's grub-efi-arm64-bin with this server in its prefix (assets.UEFIArm64).
// Unsigned, as there is no signed ARM64 chain here: Secure Boot must be off.
const Arm64Loader = "grubaa64.efi"

// Arm64MenuDir is the ARM64 GRUB's menu directory ($prefix is (tftp,SERVER)/grub-arm64): its
// grub.cfg lists only arm64 media, and the x86 GRUBs' grub/ lists none, so the menus never mix.
const Arm64MenuDir = "grub-arm64"

// Arm64MenuFile is the ARM64 GRUB's first menu.
const Arm64MenuFile = Arm64MenuDir + "/grub.cfg"

// clientMachine is the machine of a client by its option 93 (normalised: 9 arrives as 7), and
// whether sharecd has a loader for it at all. IA32 UEFI (6) and ARM32 (10) have none.
func clientMachine(a iana.Arch) (kernelarch.Arch, bool) {
	switch a {
	case iana.INTEL_X86PC, iana.EFI_X86_64, iana.EFI_BC:
		return kernelarch.AMD64, true
	case iana.EFI_ARM64:
		return kernelarch.ARM64, true
	}
	return kernelarch.Unknown, false
}

// runsOn says whether a client of machine client can boot a medium whose kernel is of machine k.
// x86 clients keep what they had before architectures were read: every medium not known to be
// arm64, 32-bit x86 and unreadable kernels included.
func runsOn(client, k kernelarch.Arch) bool {
	if client == kernelarch.ARM64 {
		return k == kernelarch.ARM64
	}
	return k != kernelarch.ARM64
}

// secureBootProxyNote is said once per UEFI client in proxy mode: why a machine with Secure Boot
// on stops at the loader, and what works instead.
const secureBootProxyNote = "Secure Boot must be off on this client: behind a proxy-DHCP the signed GRUBs " +
	"(Debian 12's grubnetx64.efi, the medium's own) take their TFTP server from the router, not from " +
	"sharecd, so only unsigned loaders find their menu; with --dhcp-mode full (no other DHCP server " +
	"on the LAN) clients get the signed chain instead"

// signedChain says whether UEFI clients get Debian's signed shim and GRUB in a DHCP mode: where
// our answer names the TFTP server (see bootFileFor).
func signedChain(mode DHCPMode) bool { return mode == DHCPFull || mode == DHCPOff }

// bootFileFor picks the loader by the client's architecture (option 93, as the proxy normalises it:
// 9, "EFI BC", arrives as 7, x86-64 UEFI), by whether the client already runs iPXE, and by the
// DHCP mode. With ipxe, iPXE gets its script, BIOS ROMs iPXE where we answer DHCP, and UEFI
// firmware iPXE in proxy mode. media are the shared media's kernel machines: a client none of them
// runs on is not answered (its firmware goes on to its next boot option instead of showing an
// empty menu), and log says so once per machine, not at every DHCP retry.
//
// The loop guard is the client's own word: iPXE says it is iPXE in every DHCP request (user class
// "iPXE", option 175), Debian's undionly.kpxe included, so a client running the iPXE we handed it
// is given its script, never iPXE again. A ROM that is iPXE but hides it gets undionly.kpxe once,
// which then says so. Any iPXE that says so gets the script whatever else it was built with: the
// script needs only HTTP, which iPXE builds in by default (Debian's and QEMU's ROMs have it).
func bootFileFor(mode DHCPMode, ipxe bool, media []kernelarch.Arch, log *slog.Logger) func(dhcp.Client) (string, bool) {
	// DHCP off: the admin's server names one file for every BIOS client and would hand
	// undionly.kpxe to the iPXE it starts as well, a loop only a user-class rule there breaks.
	bios := BIOSLoader
	if ipxe && mode != DHCPOff {
		bios = BIOSIPXE
	}
	uefi := UEFILoader
	switch {
	case signedChain(mode):
		// The firmware may enforce Secure Boot, which only the signed chain passes.
		uefi = SignedLoader
	case ipxe:
		uefi = UEFIIPXE
	}
	var told sync.Map // kernelarch.Arch → already logged
	return func(c dhcp.Client) (string, bool) {
		machine, ok := clientMachine(c.Arch)
		if !ok {
			// IA32 (6) and ARM32 (10) UEFI have no loader here: no answer, so their firmware
			// goes on to its next boot option instead of failing on a file it cannot run.
			return "", false
		}
		if !slices.ContainsFunc(media, func(k kernelarch.Arch) bool { return runsOn(machine, k) }) {
			if _, done := told.LoadOrStore(machine, true); !done && log != nil {
				log.Info("not answering "+string(machine)+" clients: no shared medium has a kernel for them",
					"client_arch", uint16(c.Arch), "media", media)
			}
			return "", false
		}
		switch c.Arch {
		case iana.INTEL_X86PC:
			if c.IPXE && ipxe {
				return BIOSScript, true
			}
			return bios, true
		case iana.EFI_ARM64:
			return Arm64Loader, true
		}
		// x86-64 UEFI. iPXE running means Secure Boot does not hold this client (iPXE is unsigned).
		if c.IPXE && ipxe {
			return UEFIScript, true
		}
		return uefi, true
	}
}

// chainOf says which boot chain a boot file starts, for the log.
func chainOf(file string) string {
	switch file {
	case BIOSLoader:
		return "BIOS: pxelinux.0 → pxelinux.cfg/default → kernel, initrd over TFTP → live root"
	case BIOSIPXE:
		return "BIOS: iPXE " + BIOSIPXE + " over the ROM's UNDI → " + BIOSScript + " → kernel, initrd over HTTP → live root"
	case BIOSScript:
		return "BIOS, iPXE: " + BIOSScript + " → kernel, initrd over HTTP → live root"
	case UEFIIPXE:
		return "UEFI x86-64: unsigned iPXE " + UEFIIPXE + " → " + UEFIScript + " → kernel, initrd over HTTP → live root"
	case UEFIScript:
		return "UEFI x86-64, iPXE: " + UEFIScript + " → kernel, initrd over HTTP → live root"
	case UEFILoader:
		return "UEFI x86-64: unsigned GRUB grubx64.efi → " + UEFIMenuFile + " → kernel, initrd → live root"
	case Arm64Loader:
		return "UEFI ARM64: unsigned GRUB " + Arm64Loader + " → " + Arm64MenuFile + " (arm64 media only) → kernel, initrd → live root"
	case SignedLoader:
		return "UEFI x86-64, Secure Boot capable: Debian's signed shim " + SignedLoader +
			" → Debian's signed GRUB secureboot/grubx64.efi → " + UEFIMenuFile + " → kernel, initrd → live root"
	}
	return file
}

// SecureBoot is what a share can promise a client with Secure Boot on.
type SecureBoot struct {
	Kernel string `json:"kernel"`           // the UEFI menu's default kernel
	Signer string `json:"signer,omitempty"` // who signed it ("" = unsigned or unreadable)
	// Works: with the signed chain (full mode), Secure Boot clients boot this kernel.
	Works bool   `json:"works_in_full_mode"`
	Note  string `json:"note"` // one line for people
}

// checkSecureBoot reads who signed the kernel UEFI clients boot by default; arch is that kernel's
// machine (mediumArch), since only x86-64 clients have a signed chain to boot it with.
func checkSecureBoot(fsys fs.FS, m *bootmenu.Menu, arch kernelarch.Arch) SecureBoot {
	kernel := defaultKernel(m)
	if kernel == "" {
		return SecureBoot{Note: "no kernel to check"}
	}
	sb := SecureBoot{Kernel: kernel}
	signers, err := kernelSigners(fsys, kernel)
	switch {
	case arch == kernelarch.ARM64:
		sb.Note = "an arm64 kernel: sharecd's ARM64 GRUB is unsigned, so Secure Boot must be off on clients"
		if err == nil {
			sb.Signer = signers[0].Issuer
		}
	case errors.Is(err, secureboot.ErrUnsigned):
		sb.Note = "the medium's kernel is not signed: Secure Boot must be off on clients"
	case err != nil:
		sb.Note = "could not read the kernel's signature (" + err.Error() + "): Secure Boot may have to be off on clients"
	default:
		sb.Signer = signers[0].Issuer
		for _, s := range signers {
			sb.Works = sb.Works || s.TrustedByDebianShim()
		}
		if sb.Works {
			sb.Note = "the medium's kernel is signed by Debian: clients with Secure Boot on boot it in full-DHCP mode " +
				"(signed shim and GRUB); in proxy mode Secure Boot must be off"
		} else {
			sb.Note = "the medium's kernel is signed by " + sb.Signer + ", which the Debian shim sharecd serves does " +
				"not trust: Secure Boot must be off on clients"
		}
	}
	return sb
}

// defaultKernel is the kernel UEFI clients of m boot when nobody chooses: its default entry's,
// else the first Linux entry's (no default: the loaders start the first entry); "" if none.
func defaultKernel(m *bootmenu.Menu) string {
	e := m.DefaultEntry()
	if e == nil || e.Kernel == "" {
		e = firstLinux(m)
	}
	if e == nil {
		return ""
	}
	return e.Kernel
}

// mediumArch is the machine of a medium: that of the kernel its UEFI menu boots by default, the
// same kernel checkSecureBoot judges. A live medium is built for one machine; its other entries
// (memtest, a failsafe mode) name no other kernel machine in practice.
func mediumArch(fsys fs.FS, m *bootmenu.Menu) (kernelarch.Arch, error) {
	kernel := defaultKernel(m)
	if kernel == "" {
		return kernelarch.Unknown, errors.New("no kernel in the menu")
	}
	a, err := kernelarch.Of(fsys, kernel)
	if err != nil {
		return kernelarch.Unknown, fmt.Errorf("reading the architecture of %s: %w", kernel, err)
	}
	return a, nil
}

func firstLinux(m *bootmenu.Menu) *bootmenu.Entry {
	for i := range m.Entries {
		if m.Entries[i].Kind == bootmenu.KindLinux {
			return &m.Entries[i]
		}
	}
	return nil
}

func kernelSigners(fsys fs.FS, name string) ([]secureboot.Signer, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	ra, ok := f.(io.ReaderAt)
	if !ok {
		return nil, errors.New("file cannot be read at an offset")
	}
	return secureboot.Signers(ra, fi.Size())
}

// logChain says which boot chain a client was offered, and for UEFI what that means for Secure Boot.
func logChain(log *slog.Logger, e dhcp.Event, sb SecureBoot) {
	args := []any{"mac", e.MAC.String(), "arch", e.Arch.String(), "chain", chainOf(e.BootFile)}
	switch e.BootFile {
	case UEFILoader, UEFIIPXE:
		args = append(args, "secure_boot", secureBootProxyNote)
	case Arm64Loader:
		args = append(args, "secure_boot", "Secure Boot must be off on this client: sharecd has no signed ARM64 loader")
	case SignedLoader:
		args = append(args, "secure_boot", sb.Note)
	}
	log.Info("client boot chain", args...)
}
