package assets

import (
	"bytes"
	"io/fs"
	"testing"
)

func TestBIOSHasMatchingLoaderAndModules(t *testing.T) {
	for _, name := range []string{"pxelinux.0", "lpxelinux.0", "ldlinux.c32", "menu.c32", "libutil.c32", "libcom32.c32", "GPL-2", "COPYRIGHT"} {
		b, err := fs.ReadFile(BIOS(), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(b) < 1000 {
			t.Errorf("%s: only %d bytes", name, len(b))
		}
	}
	// ldlinux.c32 refuses COM32 modules of another build, so both packages must be one version.
	v, _ := fs.ReadFile(BIOS(), "VERSION")
	f := bytes.Fields(v)
	if len(f) != 4 || !bytes.Equal(f[1], f[3]) {
		t.Errorf("pxelinux and syslinux-common versions differ: %q", v)
	}
	if px, _ := fs.ReadFile(BIOS(), "pxelinux.0"); !bytes.Contains(px, []byte("PXELINUX ")) {
		t.Error("pxelinux.0 is not PXELINUX")
	}
}
