// Package assets embeds the boot loaders sharecd serves, taken unmodified from Debian's packages
// (see each folder's VERSION and licence files and the update script beside this file).
package assets

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"net/netip"
)

//go:embed syslinux grub-efi grub-efi-arm64 secureboot ipxe
var files embed.FS

// BIOS is the BIOS network loader: pxelinux.0 with the ldlinux.c32 and COM32 modules built with
// it, at the root of the returned tree, where pxelinux looks for them.
func BIOS() fs.FS {
	sub, err := fs.Sub(files, "syslinux")
	if err != nil {
		panic(err) // the folder is embedded above; this cannot fail at run time
	}
	return sub
}

// SecureBoot is the signed x86-64 UEFI chain from Debian's shim-signed and grub-efi-amd64-signed
// (see update-secureboot.sh): shimx64.efi, grubx64.efi (the network GRUB, which reads
// /grub/grub.cfg from the server its DHCP answer named) and mmx64.efi, at the root of the tree.
func SecureBoot() fs.FS {
	sub, err := fs.Sub(files, "secureboot")
	if err != nil {
		panic(err)
	}
	return sub
}

// UEFIIPXE is iPXE for x86-64 UEFI from Debian's ipxe package (snponly.efi, see update-ipxe.sh):
// it drives the NIC through the firmware's SNP, fetches kernels over HTTP far faster than GRUB,
// and boots them through their EFI stub. Unsigned: it boots only with Secure Boot off.
func UEFIIPXE() []byte {
	b, err := files.ReadFile("ipxe/snponly.efi")
	if err != nil {
		panic(err) // embedded above
	}
	return b
}

// BIOSIPXE is iPXE for BIOS PXE ROMs from Debian's ipxe package (undionly.kpxe, see
// update-ipxe.sh): loaded by a ROM that is not iPXE, it drives the NIC through the ROM's own UNDI
// driver, DHCPs again as iPXE and fetches the kernel and initrd over HTTP, where the ROM alone
// would have left pxelinux to fetch them over TFTP a block per round trip.
func BIOSIPXE() []byte {
	b, err := files.ReadFile("ipxe/undionly.kpxe")
	if err != nil {
		panic(err) // embedded above
	}
	return b
}

// placeholderServer is the server update-grub-efi.sh and update-grub-efi-arm64.sh build the
// UEFI loaders' prefixes with: the longest dotted quad, so that any real address fits in its place.
const placeholderServer = "255.255.255.255"

// UEFIx64 returns the x86-64 UEFI network loader (GRUB 2 from Debian's grub-efi-amd64-bin, built
// by update-grub-efi.sh) with its prefix set to "(tftp,server)/grub": it reads grub.cfg from
// /grub/grub.cfg on server and resolves the menu's absolute paths (/live/vmlinuz) there.
//
// The server is written into the image because GRUB 2.06 would otherwise take it from the router's
// DHCPACK, not from our proxy offer (netboot-facts §7). The image is unsigned: it boots only with
// Secure Boot off.
func UEFIx64(server netip.Addr) ([]byte, error) {
	return withServer("grub-efi/grubx64.efi", "grub", server)
}

// UEFIArm64 is UEFIx64's counterpart for ARM64 UEFI clients (GRUB 2 from Debian's
// grub-efi-arm64-bin, built by update-grub-efi-arm64.sh): its prefix is "(tftp,server)/grub-arm64",
// a menu directory of its own, so the arm64 and x86 menus never mix. Unsigned as well.
func UEFIArm64(server netip.Addr) ([]byte, error) {
	return withServer("grub-efi-arm64/grubaa64.efi", "grub-arm64", server)
}

// withServer reads the GRUB image name, built with the prefix "(tftp,255.255.255.255)/dir", and
// writes server in the placeholder's place.
func withServer(name, dir string, server netip.Addr) ([]byte, error) {
	server = server.Unmap()
	if !server.Is4() || server.IsUnspecified() {
		return nil, fmt.Errorf("UEFI loader %s: server %v is not an IPv4 address", name, server)
	}
	img, err := files.ReadFile(name)
	if err != nil {
		return nil, err
	}
	placeholder := "(tftp," + placeholderServer + ")/" + dir
	ph := []byte(placeholder + "\x00")
	at := bytes.Index(img, ph)
	if at < 0 || bytes.Index(img[at+1:], ph) >= 0 {
		return nil, fmt.Errorf("UEFI loader %s: prefix placeholder %q not found exactly once", name, placeholder)
	}
	prefix := "(tftp," + server.String() + ")/" + dir
	// The placeholder is the longest possible prefix: the rest of its room becomes NULs.
	copy(img[at:at+len(ph)], append([]byte(prefix), make([]byte, len(ph)-len(prefix))...))
	return img, nil
}
