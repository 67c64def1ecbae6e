package medium

import (
	"errors"
	"os"
	"path/filepath"
)

// ErrNoLiveMedium: Detect found no mounted live medium.
var ErrNoLiveMedium = errors.New("no running live medium found; pass --source")

// Detect returns where the running live system has its boot medium mounted:
// the first of the usual mount points under root ("/" when empty) that is a
// non-empty directory. Tests pass a temporary directory as root.
//
// This is the minimal version: it does not read /proc/self/mountinfo or the
// kernel command line yet.
func Detect(root string) (path string, err error) {
	if root == "" {
		root = "/"
	}
	for _, p := range []string{
		"/run/live/medium",       // Debian live-boot (bookworm and later)
		"/lib/live/mount/medium", // Debian live-boot (older)
		"/cdrom",                 // Ubuntu casper
		"/run/initramfs/live",    // Fedora/dracut dmsquash-live
		"/run/archiso/bootmnt",   // Arch Linux archiso
		"/run/miso/bootmnt",      // Manjaro miso
		"/mnt-system",            // Knoppix
	} {
		dir := filepath.Join(root, p)
		if nonEmptyDir(dir) {
			return dir, nil
		}
	}
	return "", ErrNoLiveMedium
}

// nonEmptyDir tells a mounted medium from the empty mount point it leaves
// behind when it is not mounted (e.g. /cdrom on an installed Ubuntu).
func nonEmptyDir(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	return err == nil && len(names) > 0
}
