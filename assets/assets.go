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

//go:embed syslinux grub-efi secureboot ipxe
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

// uefiPlaceholder is the prefix update-grub-efi.sh builds the UEFI loader with: the longest
// dotted quad, so that any real address fits in its place.
const uefiPlaceholder = "(tftp,255.255.255.255)/grub"

// UEFIx64 returns the x86-64 UEFI network loader (GRUB 2 from Debian's grub-efi-amd64-bin, built
// by update-grub-efi.sh) with its prefix set to "(tftp,server)/grub": it reads grub.cfg from
// /grub/grub.cfg on server and resolves the menu's absolute paths (/live/vmlinuz) there.
//
// The server is written into the image because GRUB 2.06 would otherwise take it from the router's
// DHCPACK, not from our proxy offer (netboot-facts §7). The image is unsigned: it boots only with
// Secure Boot off.
func UEFIx64(server netip.Addr) ([]byte, error) {
	server = server.Unmap()
	if !server.Is4() || server.IsUnspecified() {
		return nil, fmt.Errorf("UEFI loader: server %v is not an IPv4 address", server)
	}
	img, err := files.ReadFile("grub-efi/grubx64.efi")
	if err != nil {
		return nil, err
	}
	ph := []byte(uefiPlaceholder + "\x00")
	at := bytes.Index(img, ph)
	if at < 0 || bytes.Index(img[at+1:], ph) >= 0 {
		return nil, fmt.Errorf("UEFI loader: prefix placeholder %q not found exactly once", uefiPlaceholder)
	}
	prefix := "(tftp," + server.String() + ")/grub"
	// The placeholder is the longest possible prefix: the rest of its room becomes NULs.
	copy(img[at:at+len(ph)], append([]byte(prefix), make([]byte, len(ph)-len(prefix))...))
	return img, nil
}
