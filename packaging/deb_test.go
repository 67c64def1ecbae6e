// Package packaging holds the .deb's files and build script; its tests build the package, check
// its contents and metadata, screenshot the packaged binary's window under Xvfb, idle and sharing
// to a PXE client on a LAN of network namespaces (window_test.go), quit it as it appears, drive its
// tray over a private D-Bus (tray_test.go) and install it into a clean Debian chroot (chroot_test.go).
package packaging

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sharecd/sharecd/netboot/netlab"
)

var (
	debOnce sync.Once
	debPath string
	debErr  error
)

// TestMain removes what an earlier, killed run of these tests left (netlab.RemoveLeftovers)
// and, once every test is done, the .deb buildDeb built (22 MB in /tmp per run).
func TestMain(m *testing.M) {
	netlab.RemoveLeftovers(os.Stderr)
	code := m.Run()
	if debPath != "" {
		os.RemoveAll(filepath.Dir(debPath))
	}
	os.Exit(code)
}

// buildDeb runs build-deb.sh once per test binary: it builds the binary (fyne, cgo) and the .deb.
func buildDeb(t *testing.T) string {
	t.Helper()
	requireTools(t, "dpkg", "dpkg-deb")
	requireGUIBuild(t)
	debOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sharecd-deb-")
		if err != nil {
			debErr = err
			return
		}
		cmd := exec.Command("bash", "./build-deb.sh", dir)
		cmd.Env = append(os.Environ(), "VERSION=0.1.0~test")
		out, err := cmd.CombinedOutput()
		if err != nil {
			debErr = fmt.Errorf("build-deb.sh: %v\n%s", err, out)
			return
		}
		debPath = filepath.Join(dir, "sharecd_0.1.0~test_amd64.deb")
		if m, _ := filepath.Glob(filepath.Join(dir, "sharecd_*.deb")); len(m) == 1 {
			debPath = m[0]
		}
	})
	if debErr != nil {
		t.Fatal(debErr)
	}
	return debPath
}

func TestDebContents(t *testing.T) {
	deb := buildDeb(t)
	list, err := exec.Command("dpkg-deb", "-c", deb).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb -c: %v\n%s", err, list)
	}
	for _, want := range []string{
		"-rwxr-xr-x root/root", // the binary's mode, owned by root so setcap's result is trusted
		"./usr/bin/sharecd",
		"./usr/lib/sharecd/sharecd-gui",
		"./usr/share/applications/io.github.sharecd.ShareThisCD.desktop",
		"./usr/share/metainfo/io.github.sharecd.ShareThisCD.metainfo.xml",
		"./usr/share/icons/hicolor/256x256/apps/io.github.sharecd.ShareThisCD.png",
		"./usr/share/icons/hicolor/scalable/apps/io.github.sharecd.ShareThisCD.svg",
		"./usr/share/man/man1/sharecd.1.gz",
	} {
		if !strings.Contains(string(list), want) {
			t.Errorf("dpkg-deb -c lacks %q:\n%s", want, list)
		}
	}
	info, err := exec.Command("dpkg-deb", "-I", deb).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb -I: %v\n%s", err, info)
	}
	for _, want := range []string{"Package: sharecd", "Version: 0.1.0~test", "Depends: libc6, libgl1, libx11-6", "libcap2-bin", "postinst"} {
		if !strings.Contains(string(info), want) {
			t.Errorf("dpkg-deb -I lacks %q:\n%s", want, info)
		}
	}
	post, err := exec.Command("dpkg-deb", "-I", deb, "postinst").CombinedOutput()
	if err != nil || !strings.Contains(string(post), "setcap cap_net_bind_service,cap_net_raw,cap_net_admin+ep /usr/bin/sharecd") ||
		!strings.Contains(string(post), "setcap cap_net_bind_service,cap_net_raw,cap_net_admin+ep /usr/lib/sharecd/sharecd-gui") {
		t.Errorf("postinst does not set the capabilities: %v\n%s", err, post)
	}

	// The packaged binary runs and says its version.
	dir := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-x", deb, dir).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
	}
	// stdout only: with LANG=C fyne's lang package logs "Error parsing user locale C" at init.
	out, err := exec.Command(filepath.Join(dir, "usr/bin/sharecd"), "--version").Output()
	if err != nil || strings.TrimSpace(string(out)) != "sharecd 0.1.0~test" {
		t.Errorf("sharecd --version: %v %q", err, out)
	}
	// Without a display, plain `sharecd` prints its usage and fails.
	cmd := exec.Command(filepath.Join(dir, "usr/bin/sharecd"))
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Usage:") {
		t.Errorf("sharecd without a display: %v %q", err, out)
	}
}

func TestDesktopFiles(t *testing.T) {
	for _, v := range []struct {
		tool, pkg string
		args      []string
	}{
		{"desktop-file-validate", "desktop-file-utils", []string{"io.github.sharecd.ShareThisCD.desktop"}},
		{"appstreamcli", "appstream", []string{"validate", "--no-net", "io.github.sharecd.ShareThisCD.metainfo.xml"}},
	} {
		if _, err := exec.LookPath(v.tool); err != nil {
			if os.Getenv("CI") == "true" { // .ci/run installs it: missing there, the check never ran
				t.Errorf("CI=true, yet %s is missing: install %s", v.tool, v.pkg)
			} else {
				t.Logf("skipping %s: install %s", v.tool, v.pkg)
			}
			continue
		}
		out, err := exec.Command(v.tool, v.args...).CombinedOutput()
		if err != nil {
			t.Errorf("%s: %v\n%s", v.tool, err, out)
		}
	}
}

// TestScreenshotIdle runs the packaged binary's window under Xvfb as an unprivileged user with
// the package's file capabilities, in a network namespace of its own (the window's DHCP check
// must never probe a real LAN), and saves a screenshot to $SHARECD_ARTIFACTS/gui-idle.png.
func TestScreenshotIdle(t *testing.T) {
	requireTools(t, "xvfb imagemagick iproute2 libcap2-bin util-linux", "Xvfb", "import", "ip", "setcap", "setpriv")
	requireRoot(t, "the network namespace and setcap")
	dir := extractGUI(t)
	ns := netlab.Namespace(t, "sharecd-gui")
	display := startXvfb(t)

	p := netlab.Start(t, guiCmd(dir, ns, display, "--source", "../netboot/testdata/debian-live-lab"))
	if code := p.Wait(4 * time.Second); code != -1 {
		t.Fatalf("the window exited early (%d):\n%s", code, p.Log())
	}
	screenshot(t, display, "gui-idle.png", p)
}
