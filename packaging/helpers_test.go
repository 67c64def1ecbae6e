package packaging

// Helpers the tests that run the packaged window share: tools, the extracted package, a network
// namespace with only loopback, an Xvfb display and the processes' logs.

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// requireTools skips the test when a tool is missing; pkgs names the Debian packages that bring
// them (.ci/run installs them).
func requireTools(t *testing.T, pkgs string, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is missing: install %s (as .ci/run does)", tool, pkgs)
		}
	}
}

// requireRoot skips the test unless it runs as root (network namespaces, setcap, chroot).
func requireRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root for %s", why)
	}
}

// extractGUI unpacks the .deb into a directory every user may read and gives sharecd-gui the
// capabilities the postinst gives it, so the window runs as the installed package would. It
// returns the directory; its home/ is nobody's.
func extractGUI(t *testing.T) string {
	t.Helper()
	deb := buildDeb(t)
	// Not t.TempDir(): its parents are 0700, and the window runs as nobody.
	dir, err := os.MkdirTemp("", "sharecd-gui-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	if out, err := exec.Command("dpkg-deb", "-x", deb, dir).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
	}
	bin := filepath.Join(dir, "usr/lib/sharecd/sharecd-gui") // what `sharecd` execs for the window
	if out, err := exec.Command("setcap", "cap_net_bind_service,cap_net_raw+ep", bin).CombinedOutput(); err != nil {
		t.Skipf("setcap on %s: %v %s (no xattrs on this file system?)", dir, err, out)
	}
	// Plain `sharecd` execs sharecd-gui from beside itself, else from /usr/lib/sharecd
	// (cmd/sharecd/gui_exec.go): a hard link (same inode, same capabilities) lets the extracted
	// usr/bin/sharecd find the packaged window without touching this machine's /usr. The chroot
	// test checks the installed path.
	if err := os.Link(bin, filepath.Join(dir, "usr/bin/sharecd-gui")); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	os.Mkdir(home, 0o755)
	os.Chown(home, 65534, 65534)
	return dir
}

var netnsSeq atomic.Int32

// newNetns makes a network namespace with only loopback, up, and deletes it when the test ends.
// Every window runs in one: its DHCP check must never probe a real LAN, and with no interface
// but lo it has nothing to probe.
func newNetns(t *testing.T, prefix string) string {
	t.Helper()
	ns := fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), netnsSeq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v %s", ns, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v %s", ns, err, out)
		}
	})
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up in %s: %v %s", ns, err, out)
	}
	// Belt and braces: nothing but lo may exist in there.
	out, err := exec.Command("ip", "-n", ns, "-o", "link", "show").CombinedOutput()
	if err != nil || strings.Count(string(out), "\n") != 1 || !strings.Contains(string(out), ": lo:") {
		t.Fatalf("namespace %s is not loopback-only: %v\n%s", ns, err, out)
	}
	return ns
}

// startXvfb starts Xvfb on a display it picks itself (-displayfd: no clash with other tests or
// desktops) and returns the display's name. -nolisten tcp leaves the abstract socket, which is
// per network namespace, and the file system socket /tmp/.X11-unix/X<n>, which clients in any
// namespace reach.
func startXvfb(t *testing.T) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	x := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", "800x600x24", "-nolisten", "tcp")
	x.ExtraFiles = []*os.File{w} // fd 3
	p := startProc(t, x)
	w.Close()
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		got <- strings.TrimSpace(line)
	}()
	select {
	case n := <-got:
		if n == "" {
			t.Fatalf("Xvfb named no display:\n%s", p.log.String())
		}
		return ":" + n
	case <-time.After(20 * time.Second):
		t.Fatalf("Xvfb did not start in 20 s:\n%s", p.log.String())
	}
	return ""
}

// proc is a process this test started, its output, and its end.
type proc struct {
	cmd  *exec.Cmd
	log  syncBuffer
	done chan struct{} // closed once it exited; then cmd.ProcessState is set
}

// startProc starts cmd with its output in p.log and stops it when the test ends.
func startProc(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = &p.log
	}
	cmd.Stderr = &p.log
	// If the test binary dies (a -timeout panic skips cleanups), Xvfb and dbus-daemon die with
	// it. (The window loses this on its way to nobody and its file capabilities; newNetns's
	// namespace leaves it nothing to reach anyway.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", cmd.Path, err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(p.stop)
	return p
}

// stop ends the process unless it did: SIGTERM first, so Xvfb removes its lock and socket and
// the window quits cleanly, SIGKILL after 5 s. Only this process is signalled, by its PID.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// wait waits up to d for the process to exit and returns its exit code (-1: still running).
func (p *proc) wait(d time.Duration) int {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		return -1
	}
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
