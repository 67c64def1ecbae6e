// Package assets embeds the boot loaders sharecd serves, taken unmodified from Debian's packages
// (see each folder's VERSION and licence files and the update script beside this file).
package assets

import (
	"embed"
	"io/fs"
)

//go:embed syslinux
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
