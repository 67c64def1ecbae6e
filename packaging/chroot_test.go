package packaging

// The .deb on a clean system: a minimal Debian 12 made with debootstrap, where apt must find every
// dependency on the mirror, the postinst must set the capabilities, and both binaries must start.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sharecd/sharecd/netboot/netlab"
)

// chrootRecipe describes the cached base system; its hash is the cache's stamp, so changing it
// (or how cachedChroot builds) must change this text and rebuilds the tarball.
const chrootRecipe = "debootstrap --variant=minbase bookworm; then without sources.list, bootstrap.log, apt lists or cached .debs"

// TestDebInstallsInChroot installs the package with apt into a clean bookworm (minbase) chroot.
// The first run bootstraps the base system from this machine's mirror and caches it as a tarball
// under $SHARECD_CACHE (default /var/cache/sharecd-e2e); the .debs apt fetched are kept there
// too, so a rerun downloads only the package lists.
func TestDebInstallsInChroot(t *testing.T) {
	requireTools(t, "debootstrap tar gzip coreutils", "debootstrap", "tar", "gzip", "chroot")
	requireRoot(t, "debootstrap and chroot")
	mirror := bookwormMirror("/etc/apt")
	if mirror == "" {
		netlab.Skipf(t, "no bookworm mirror in /etc/apt/sources.list*: the chroot has nowhere to install from")
	}
	deb := buildDeb(t)
	cache := os.Getenv("SHARECD_CACHE")
	if cache == "" {
		cache = "/var/cache/sharecd-e2e"
	}
	start := time.Now()
	tarball := cachedChroot(t, cache, mirror)
	t.Logf("base system: %s (%s)", tarball, time.Since(start).Round(time.Second))

	root := newChroot(t, tarball)
	// This run's apt sources, from this machine's: the cached tarball keeps no mirror name.
	write(t, filepath.Join(root, "etc/apt/sources.list"), "deb "+mirror+" bookworm main\n")
	copyFile(t, "/etc/resolv.conf", filepath.Join(root, "etc/resolv.conf"))
	write(t, filepath.Join(root, "usr/sbin/policy-rc.d"), "#!/bin/sh\nexit 101\n") // start no daemons
	os.Chmod(filepath.Join(root, "usr/sbin/policy-rc.d"), 0o755)
	debs := filepath.Join(cache, "chroot-debs")
	copyDebs(t, debs, filepath.Join(root, "var/cache/apt/archives"))
	copyFile(t, deb, filepath.Join(root, "tmp", filepath.Base(deb)))

	// Check-Valid-Until/Check-Date off as on this machine: a snapshot mirror's Release is "expired".
	apt := []string{"apt-get", "-q", "-o", "Acquire::Check-Valid-Until=false", "-o", "Acquire::Check-Date=false"}
	start = time.Now()
	inChroot(t, root, append(apt, "update")...)
	out, errOut := inChrootStderr(t, root, append(apt, "install", "-y", "--no-install-recommends", "/tmp/"+filepath.Base(deb))...)
	t.Logf("apt-get install with dependencies: %s", time.Since(start).Round(time.Second))
	copyDebs(t, filepath.Join(root, "var/cache/apt/archives"), debs)
	if strings.Contains(errOut, "could not give") { // the postinst's own warning
		t.Errorf("the postinst could not set the capabilities:\n%s\n%s", out, errOut)
	}
	if st := inChroot(t, root, "dpkg-query", "-W", "-f", "${Status}", "sharecd"); st != "install ok installed" {
		t.Errorf("dpkg-query: sharecd is %q", st)
	}

	// Plain sharecd hands a window to the installed /usr/lib/sharecd/sharecd-gui, which (as
	// nobody, with no display) answers for itself; sharecd alone would say it is not installed.
	cmd := exec.Command("chroot", "--userspec=65534:65534", root, "/usr/bin/sharecd", "--tray")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/tmp"}
	if out, err := cmd.CombinedOutput(); !strings.Contains(string(out), "no display to open the window or the tray on") {
		t.Errorf("sharecd --tray without a display: %v %q", err, out)
	}
	for _, bin := range []string{"/usr/bin/sharecd", "/usr/lib/sharecd/sharecd-gui"} {
		// Both start: sharecd-gui links fyne's X and GL libraries, which the Depends must bring.
		if v := inChroot(t, root, bin, "--version"); v != "sharecd 0.1.0~test" {
			t.Errorf("%s --version: %q\nldd:\n%s", bin, v, inChroot(t, root, "ldd", bin))
		}
		// What the postinst sets, read with the chroot's own getcap (libcap2-bin, a dependency).
		if c := inChroot(t, root, "getcap", bin); !strings.Contains(c, "cap_net_bind_service,cap_net_admin,cap_net_raw=ep") {
			t.Errorf("getcap %s: %q, want cap_net_bind_service,cap_net_admin,cap_net_raw=ep", bin, c)
		} else {
			t.Logf("getcap: %s", c)
		}
	}
}

// cachedChroot returns the base system's tarball, bootstrapping it first when the cache lacks it
// or its stamp is stale (as e2e/build-live-iso.sh caches its ISO).
func cachedChroot(t *testing.T, cache, mirror string) string {
	t.Helper()
	tarball := filepath.Join(cache, "chroot-bookworm-minbase.tar.gz")
	stamp := fmt.Sprintf("%x", sha256.Sum256([]byte(chrootRecipe)))[:16]
	if got, err := os.ReadFile(tarball + ".stamp"); err == nil && strings.TrimSpace(string(got)) == stamp {
		if fi, err := os.Stat(tarball); err == nil && fi.Size() > 0 {
			return tarball
		}
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := tempRoot(t)
	cmd := exec.Command("debootstrap", "--variant=minbase", "bookworm", dir, mirror)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("debootstrap: %v\n%s", err, tail(string(out), 40))
	}
	// The cache keeps no mirror name (sources.list, bootstrap.log) and nothing apt fetches again.
	for _, glob := range []string{"etc/apt/sources.list", "var/log/bootstrap.log", "var/lib/apt/lists/*_*", "var/cache/apt/archives/*.deb", "var/cache/apt/*.bin"} {
		m, _ := filepath.Glob(filepath.Join(dir, glob))
		for _, f := range m {
			os.Remove(f)
		}
	}
	tmp := fmt.Sprintf("%s.%d.tmp", tarball, os.Getpid()) // two runs at once each write their own
	if out, err := exec.Command("tar", "-C", dir, "-czf", tmp, ".").CombinedOutput(); err != nil {
		os.Remove(tmp)
		t.Fatalf("tar: %v %s", err, out)
	}
	if err := os.Rename(tmp, tarball); err != nil {
		t.Fatal(err)
	}
	write(t, tarball+".stamp", stamp+"\n")
	return tarball
}

// newChroot unpacks the base system into a fresh directory, removed when the test ends.
func newChroot(t *testing.T, tarball string) string {
	t.Helper()
	root := tempRoot(t)
	if out, err := exec.Command("tar", "-C", root, "-xzf", tarball).CombinedOutput(); err != nil {
		t.Fatalf("unpacking %s: %v %s", tarball, err, out)
	}
	os.Chmod(root, 0o755) // "/" as on any system, so nobody can run things in there
	return root
}

// tempRoot makes a directory for a root file system under /var/tmp (a disk, where xattrs and so
// file capabilities work) and removes it when the test ends, after unmounting anything left
// mounted below it (debootstrap mounts /proc and /sys inside while it runs): RemoveAll would
// otherwise descend into them.
func tempRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/tmp", "sharecd-chroot-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // MkdirTemp's 0700 would become the chroot's "/"
	t.Cleanup(func() {
		if left := unmountUnder(dir); len(left) > 0 {
			t.Errorf("still mounted, %s left in place: %q", dir, left)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

// unmountUnder unmounts every mount below dir, deepest first, and returns those that stay.
func unmountUnder(dir string) []string {
	mounts := func() []string {
		f, err := os.Open("/proc/self/mountinfo")
		if err != nil {
			return nil
		}
		defer f.Close()
		var m []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if fields := strings.Fields(sc.Text()); len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
				m = append(m, fields[4])
			}
		}
		sort.Sort(sort.Reverse(sort.StringSlice(m)))
		return m
	}
	for _, m := range mounts() {
		exec.Command("umount", m).Run()
	}
	return mounts()
}

// inChroot runs a command in the chroot with a plain environment and returns its stdout, trimmed;
// it fails the test with the command's output when it fails.
func inChroot(t *testing.T, root string, args ...string) string {
	t.Helper()
	out, _ := inChrootStderr(t, root, args...)
	return out
}

// inChrootStderr is inChroot that also returns stderr, kept apart: fyne's locale complaints there
// must not spoil --version, and the postinst warns there.
func inChrootStderr(t *testing.T, root string, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command("chroot", append([]string{root}, args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C", "HOME=/root"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("in the chroot, %s: %v\n%s\n%s", strings.Join(args, " "), err, tail(string(out), 30), tail(stderr.String(), 30))
	}
	return strings.TrimSpace(string(out)), stderr.String()
}

// bookwormMirror returns the first URI the apt sources under etc give for the suite bookworm:
// deb822 .sources files first, then one-line sources.list and .list files (what
// e2e/build-live-iso.sh reads too). "" when there is none.
func bookwormMirror(etc string) string {
	deb822, _ := filepath.Glob(filepath.Join(etc, "sources.list.d/*.sources"))
	for _, f := range deb822 {
		b, _ := os.ReadFile(f)
		for _, stanza := range strings.Split(string(b), "\n\n") {
			fields := map[string][]string{}
			for _, line := range strings.Split(stanza, "\n") {
				if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, " ") {
					fields[strings.ToLower(k)] = strings.Fields(v)
				}
			}
			if has(fields["types"], "deb") && has(fields["suites"], "bookworm") && len(fields["uris"]) > 0 &&
				!has(fields["enabled"], "no") {
				return fields["uris"][0]
			}
		}
	}
	oneLine, _ := filepath.Glob(filepath.Join(etc, "sources.list.d/*.list"))
	for _, f := range append([]string{filepath.Join(etc, "sources.list")}, oneLine...) {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(b), "\n") {
			w := strings.Fields(line)
			if len(w) > 1 && w[0] == "deb" && strings.HasPrefix(w[1], "[") { // deb [opt=a opt=b] URI suite …
				i := 1
				for i < len(w)-1 && !strings.HasSuffix(w[i], "]") {
					i++
				}
				w = append([]string{"deb"}, w[i+1:]...)
			}
			if len(w) > 2 && w[0] == "deb" && w[2] == "bookworm" {
				return w[1]
			}
		}
	}
	return ""
}

func has(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestBookwormMirror: the chroot's mirror is found in either apt format, options and all.
func TestBookwormMirror(t *testing.T) {
	for _, c := range []struct {
		name, file, text, want string
	}{
		{"deb822", "sources.list.d/debian.sources",
			"Types: deb\n# a comment: with a colon\nURIs: http://deb.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n" +
				"Types: deb\nURIs: http://deb.example/debian-security\nSuites: bookworm-security\n", "http://deb.example/debian"},
		{"deb822 security only", "sources.list.d/debian.sources",
			"Types: deb\nURIs: http://deb.example/debian-security\nSuites: bookworm-security\n", ""},
		{"deb822 source packages only", "sources.list.d/debian.sources",
			"Types: deb-src\nURIs: http://deb.example/debian\nSuites: bookworm\n", ""},
		{"deb822 disabled", "sources.list.d/debian.sources",
			"Enabled: no\nTypes: deb\nURIs: http://deb.example/debian\nSuites: bookworm\n", ""},
		{"one line", "sources.list",
			"deb-src http://deb.example/src bookworm main\ndeb http://deb.example/debian bookworm main\n", "http://deb.example/debian"},
		{"one line with options", "sources.list.d/x.list",
			"deb [arch=amd64 signed-by=/k.gpg] http://deb.example/debian bookworm main\n", "http://deb.example/debian"},
		{"other suite", "sources.list", "deb http://deb.example/debian trixie main\n", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			etc := t.TempDir()
			write(t, filepath.Join(etc, c.file), c.text)
			if got := bookwormMirror(etc); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

// copyDebs gives to the .debs of from that it lacks (the apt cache kept between runs): hard links
// when both are on one file system, copies otherwise. apt checks each against its index's hash.
func copyDebs(t *testing.T, from, to string) {
	t.Helper()
	os.MkdirAll(to, 0o755)
	m, _ := filepath.Glob(filepath.Join(from, "*.deb"))
	for _, f := range m {
		dst := filepath.Join(to, filepath.Base(f))
		if _, err := os.Stat(dst); err == nil {
			continue
		}
		if os.Link(f, dst) != nil {
			copyFile(t, f, dst)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	write(t, to, string(b))
}

func write(t *testing.T, path, text string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	os.Remove(path) // resolv.conf may be a dangling symlink in the chroot
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tail keeps the last n lines of a long log.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
