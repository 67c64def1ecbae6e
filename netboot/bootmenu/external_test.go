package bootmenu

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

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
