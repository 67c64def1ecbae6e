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
	"slices"
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
		"./usr/share/doc/sharecd/copyright",
		"./usr/share/doc/sharecd/loaders/syslinux.copyright",
		"./usr/share/doc/sharecd/loaders/grub-efi.copyright",
		"./usr/share/doc/sharecd/loaders/ipxe.copyright",
		"./usr/share/doc/sharecd/loaders/shim.copyright",
		"./usr/share/doc/sharecd/loaders/grub-signed.copyright",
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
	checkCopyright(t, dir)

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

// checkCopyright reads the package's copyright file as DEP-5 (Debian policy 12.5): a header
// naming the format, and a Files paragraph with a licence for each directory of assets/ (the boot
// loaders the binaries embed, GPL and BSD), each licence defined in a stand-alone paragraph.
func checkCopyright(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "usr/share/doc/sharecd/copyright"))
	if err != nil {
		t.Fatalf("the package's copyright file: %v", err)
	}
	paras := strings.Split(strings.TrimSpace(string(b)), "\n\n")
	if !strings.HasPrefix(paras[0], "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n") {
		t.Errorf("the copyright file does not start with the DEP-5 Format line:\n%s", paras[0])
	}
	field := func(p, name string) string {
		for _, l := range strings.Split(p, "\n") {
			if v, ok := strings.CutPrefix(l, name+":"); ok {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	files := map[string]string{} // Files pattern → licence
	defined := map[string]bool{}
	for _, p := range paras[1:] {
		switch f, l := field(p, "Files"), field(p, "License"); {
		case f != "":
			if l == "" || field(p, "Copyright") == "" {
				t.Errorf("a Files paragraph without Copyright or License:\n%s", p)
			}
			for _, pat := range strings.Fields(f) {
				files[pat] = l
			}
		case l != "":
			defined[l] = true
		}
	}
	loaders, _ := filepath.Glob("../assets/*/*.efi")
	more, _ := filepath.Glob("../assets/*/*.[0c]*")
	kpxe, _ := filepath.Glob("../assets/*/*.kpxe")
	for _, a := range slices.Concat(loaders, more, kpxe) {
		rel := strings.TrimPrefix(a, "../")
		lic, ok := files[rel]
		if !ok {
			lic, ok = files[filepath.Dir(rel)+"/*"]
		}
		if !ok {
			t.Errorf("the copyright file has no Files paragraph for %s", rel)
			continue
		}
		if lic != "sharecd" && !defined[lic] {
			t.Errorf("%s: licence %q has no paragraph of its own", rel, lic)
		}
	}
	for _, want := range []string{"GPL-2+", "GPL-3+", "BSD-2-Clause"} {
		if !defined[want] {
			t.Errorf("the copyright file does not define %s", want)
		}
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
