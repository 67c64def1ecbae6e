package bootmenu

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/boot"
	"github.com/u-root/u-root/pkg/boot/syslinux"
	"github.com/u-root/u-root/pkg/curl"

	"github.com/sharecd/sharecd/netboot/netlab"
)

// checkGrubScript has GRUB's own parser read a rendered grub.cfg: grub-script-check (Debian's
// grub-common) exits non-zero on a syntax error. ParseGrub reading our output back cannot catch
// a quoting bug it shares with RenderGrub; GRUB's parser can.
func checkGrubScript(t *testing.T, cfg []byte) {
	t.Helper()
	tool, err := exec.LookPath("grub-script-check")
	if err != nil {
		netlab.Skipf(t, "needs grub-script-check (apt-get install grub-common)")
	}
	file := filepath.Join(t.TempDir(), "grub.cfg")
	if err := os.WriteFile(file, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tool, file).CombinedOutput(); err != nil {
		t.Errorf("grub-script-check rejects the rendered grub.cfg (%v): %s\n%s", err, out, cfg)
	}
}

// checkURootSyslinux has u-root's syslinux parser (pkg/boot/syslinux, which its netboot reads
// pxelinux menus with) read a rendered pxelinux.cfg, as a second reader we did not write: every
// Linux entry our menu lists is there with the same command line, and the default it boots is
// the default we chose. u-root ignores MENU HIDE, so it may list more entries than we show.
func checkURootSyslinux(t *testing.T, cfg []byte, want readBack) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "default"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	imgs, err := syslinux.ParseConfigFile(context.Background(), curl.DefaultSchemes, "default",
		&url.URL{Scheme: "file", Path: dir}, "")
	if err != nil {
		t.Fatalf("u-root cannot read the rendered pxelinux.cfg: %v\n%s", err, cfg)
	}
	// u-root names an entry by its MENU LABEL, so entries are matched by command line.
	norm := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	cmdlines := map[string]bool{}
	first := ""
	for _, img := range imgs {
		if li, ok := img.(*boot.LinuxImage); ok {
			if first == "" {
				first = norm(li.Cmdline)
			}
			cmdlines[norm(li.Cmdline)] = true
		}
	}
	for _, e := range want.entries {
		if e.kind != KindLinux || e.kernel == "" {
			continue
		}
		if !cmdlines[norm(e.args)] {
			t.Errorf("u-root does not see entry %q with the command line %q in\n%s", e.label, e.args, cfg)
		}
		if e.label == want.def && first != norm(e.args) {
			t.Errorf("u-root boots the command line %q by default, we chose %q (%q)", first, e.label, e.args)
		}
	}
}
