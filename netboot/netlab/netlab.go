// Package netlab builds the labs the tests run in: network namespaces joined by veth pairs, the
// processes started inside them (dnsmasq as the LAN's other DHCP server, a private D-Bus), and a
// way to open sockets from inside one. Every packet a test sends stays in namespaces it made.
// Only tests import it.
package netlab

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Require skips the test unless it runs as root with the tools on PATH; CI is both, so there a
// missing one fails the test (Skipf).
func Require(t testing.TB, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skipf(t, "needs root for network namespaces (CI runs the tests as root)")
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			Skipf(t, "needs %s (bash .ci/run installs it)", tool)
		}
	}
}

// Skipf skips the test for a missing prerequisite (root, a tool, a library), saying what to
// install; under CI=true it fails the test instead, because CI installs every prerequisite and a
// skip there would hide a test that never ran.
func Skipf(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true, yet "+format, args...)
	}
	t.Skipf(format, args...)
}

var seq atomic.Int32

// Namespace makes a network namespace with only loopback, up, and deletes it when the test ends.
// Its name starts with prefix and is unique to this process. It is recorded in RecordDir, so
// that should this process be killed, the next run's RemoveLeftovers removes it.
func Namespace(t testing.TB, prefix string) string {
	t.Helper()
	return namespace(t, RecordDir, prefix)
}

func namespace(t testing.TB, dir, prefix string) string {
	t.Helper()
	ns := fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), seq.Add(1))
	if err := addNamespace(dir, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := delNamespace(dir, ns); err != nil {
			t.Error(err)
		}
	})
	IP(t, ns, "link", "set", "lo", "up")
	// Belt and braces: a fresh namespace has nothing but lo, so nothing can reach a real LAN.
	out, err := exec.Command("ip", "-n", ns, "-o", "link", "show").CombinedOutput()
	if err != nil || strings.Count(string(out), "\n") != 1 || !strings.Contains(string(out), ": lo:") {
		t.Fatalf("namespace %s is not loopback-only: %v\n%s", ns, err, out)
	}
	return ns
}

// IP runs `ip -n ns args…` (plain `ip args…` when ns is "") and fails the test if it fails.
func IP(t testing.TB, ns string, args ...string) {
	t.Helper()
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Veth joins namespaces a and b with a veth pair, ifA in a and ifB in b, and brings both up.
func Veth(t testing.TB, a, ifA, b, ifB string) {
	t.Helper()
	IP(t, a, "link", "add", ifA, "type", "veth", "peer", "name", ifB, "netns", b)
	IP(t, a, "link", "set", ifA, "up")
	IP(t, b, "link", "set", ifB, "up")
}

// In runs fn on an OS thread moved into namespace ns; sockets fn makes stay in ns. The thread is
// moved back and unlocked afterwards rather than left to end with its goroutine: Start's
// Pdeathsig belongs to the thread that forked a process, and a test's dnsmasq was killed when the
// thread that had forked it ended after a probe (seen on a loaded machine, 3 runs in 4).
func In(ns string, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		back, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			done <- err
			return
		}
		defer back.Close()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		err = fn()
		// A thread that cannot go back stays locked and ends with this goroutine: no other
		// goroutine may land in ns.
		if unix.Setns(int(back.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

// Proc is a process a test started: its output, and its end.
type Proc struct {
	Cmd  *exec.Cmd
	log  SyncBuffer
	done chan struct{} // closed once it exited; then Cmd.ProcessState is set
}

// Start starts cmd with its output (stdout too, unless the caller took it) in the log, and stops
// it when the test ends. It dies with the test binary too, even one killed with SIGKILL
// (StartLocked).
func Start(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{Cmd: cmd, done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = &p.log
	}
	cmd.Stderr = &p.log
	if err := StartLocked(cmd, func() { close(p.done) }); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	t.Cleanup(p.Stop)
	return p
}

// StartLocked starts cmd so that the kernel kills it (SIGKILL) when the test binary dies, however
// it dies: a test's cleanup does not run after a SIGKILL or a -timeout panic. It then waits for
// cmd in the background, and calls exited, if not nil, once cmd.ProcessState is set; the caller
// must not call cmd.Wait. cmd also gets a process group of its own, so that a terminal's ^C goes
// to the test alone, whose cleanup then stops cmd.
//
// The death signal (PR_SET_PDEATHSIG) is sent when the *thread* that forked cmd ends, not the
// process (prctl(2); golang.org/issue/27505). Go's threads outlive their goroutines, except one
// that a goroutine locked and still holds when it returns: such a thread ends with it, and any
// goroutine may have run on it, and forked there, before it was locked. So cmd is forked from a
// goroutine locked to its thread until cmd has been waited for: no other goroutine can take that
// thread, so it lives exactly as long as cmd needs it. The signal is cleared when cmd changes its
// user or group, or execs a set-user-ID binary or one with file capabilities: those processes
// (the packaged window run as nobody) die with their namespace in RemoveLeftovers instead.
func StartLocked(cmd *exec.Cmd, exited func()) error {
	dieWithThread(cmd)
	cmd.SysProcAttr.Setpgid = true
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait()
		if exited != nil {
			exited()
		}
	}()
	return <-started
}

// CombinedOutput runs cmd to its end, as cmd.CombinedOutput does, so that it dies with the test
// binary (SIGKILL when the thread that forked it ends, StartLocked): the calling goroutine keeps
// its thread locked until cmd has been waited for.
func CombinedOutput(cmd *exec.Cmd) ([]byte, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dieWithThread(cmd)
	return cmd.CombinedOutput()
}

// Output is cmd.Output, dying with the test binary as CombinedOutput.
func Output(cmd *exec.Cmd) ([]byte, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dieWithThread(cmd)
	return cmd.Output()
}

// dieWithThread has the kernel send cmd SIGKILL when the thread that forks it ends.
func dieWithThread(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}

// Log is what the process has written so far.
func (p *Proc) Log() string { return p.log.String() }

// Stop ends the process unless it did: SIGTERM first, so it cleans up after itself, SIGKILL
// after 10 s. Only this process is signalled, by its PID.
func (p *Proc) Stop() {
	if p.Exited() {
		return
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.Cmd.Process.Kill()
		<-p.done
	}
}

// Done is closed once the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited tells whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits up to d for the process to exit and returns its exit code (-1: still running).
func (p *Proc) Wait(d time.Duration) int {
	select {
	case <-p.done:
		return p.Cmd.ProcessState.ExitCode()
	case <-time.After(d):
		return -1
	}
}

// Line waits up to d for a line of the process's output that starts with prefix and returns it;
// the test fails if none comes.
func (p *Proc) Line(t testing.TB, prefix string, d time.Duration) string {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end) && !p.Exited(); time.Sleep(50 * time.Millisecond) {
		sc := bufio.NewScanner(strings.NewReader(p.Log()))
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), prefix) {
				return sc.Text()
			}
		}
	}
	t.Fatalf("%s did not print %q:\n%s", p.Cmd.Args[0], prefix, p.Log())
	return ""
}

// Dnsmasq runs dnsmasq in namespace ns on iface as the LAN's other DHCP server, configured by
// args alone (no config file, no DNS), and returns once its DHCP socket is bound. Its log is the
// process's output and is shown if the test fails.
func Dnsmasq(t testing.TB, ns, iface string, args ...string) *Proc {
	t.Helper()
	base := []string{"netns", "exec", ns, "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
		"--interface=" + iface, "--bind-interfaces", "--user=root", "--log-dhcp", "--log-facility=-",
		"--dhcp-leasefile=" + filepath.Join(t.TempDir(), "leases")}
	p := Start(t, exec.Command("ip", append(base, args...)...))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dnsmasq log:\n%s", p.Log())
		}
	})
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end) && !p.Exited(); time.Sleep(50 * time.Millisecond) {
		out, _ := exec.Command("ip", "netns", "exec", ns, "ss", "-Hlnu", "sport", "= :67").Output()
		if len(bytes.TrimSpace(out)) > 0 {
			return p
		}
	}
	t.Fatalf("dnsmasq did not bind port 67 in %s:\n%s", ns, p.Log())
	return nil
}

// Bus starts a private D-Bus daemon of the given type ("system" or "session") that lets anyone
// own, send and receive anything, and returns its address. It listens on a file system socket in
// a directory every user may enter: a namespace's processes cannot see an abstract socket of
// another, and the tests run some peers as nobody.
func Bus(t testing.TB, typ string) string {
	t.Helper()
	// Not t.TempDir(): its parents are 0700.
	dir, err := os.MkdirTemp("", "sharecd-bus-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	conf := filepath.Join(dir, "bus.conf")
	err = os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>`+typ+`</type>
  <listen>unix:path=`+filepath.Join(dir, "bus")+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p := Start(t, exec.Command("dbus-daemon", "--config-file="+conf, "--nofork", "--nopidfile", "--print-address"))
	return strings.TrimSpace(p.Line(t, "unix:", 10*time.Second))
}

// SyncBuffer collects what a process or a server writes while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
