package netlab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// childEnv makes the test binary, run again by TestKilledRunLeavesNothing, the test run that is
// killed: its value is the record directory.
const childEnv = "SHARECD_NETLAB_KILLED_RUN"

// TestKilledRunLeavesNothing kills a test binary with SIGKILL while it has a namespace and two
// processes in it: the one it started itself must die with it (Pdeathsig), and the namespace
// and the process that escaped it (a shell's background job, whose parent had already gone) are
// removed by the next run's cleanup. Namespaces of a live run and unrecorded ones stay. It uses
// a record directory of its own, so no other run's namespaces are looked at.
func TestKilledRunLeavesNothing(t *testing.T) {
	if dir := os.Getenv(childEnv); dir != "" {
		killedRun(t, dir)
		return
	}
	Require(t, "sleep", "sh")
	dir := t.TempDir()
	live := namespace(t, dir, "scd-nltest-live") // made by this process, which is alive
	unrecorded := fmt.Sprintf("scd-nltest-norec-%d", os.Getpid())
	IP(t, "", "netns", "add", unrecorded)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", unrecorded).Run() })

	child := exec.Command(os.Args[0], "-test.run=^TestKilledRunLeavesNothing$", "-test.count=1")
	child.Env = append(os.Environ(), childEnv+"="+dir)
	p := Start(t, child)
	f := strings.Fields(p.Line(t, "ready ", 30*time.Second))
	if len(f) != 4 {
		t.Fatalf("child said %q", f)
	}
	ns := f[1]
	sleeper, _ := strconv.Atoi(f[2])
	escaped, _ := strconv.Atoi(f[3])
	t.Cleanup(func() { // should the test fail half-way
		exec.Command("ip", "netns", "del", ns).Run()
	})

	p.Cmd.Process.Kill()
	<-p.Done()

	if !waitDead(sleeper, 5*time.Second) {
		t.Errorf("sleep %d, started with Start, outlived the killed test binary", sleeper)
	}
	if !running(escaped) {
		t.Fatalf("the escaped sleep %d is gone before the cleanup: the test proves nothing", escaped)
	}
	if _, err := os.Stat(filepath.Join("/run/netns", ns)); err != nil {
		t.Fatalf("the killed run's namespace %s is gone before the cleanup: %v", ns, err)
	}

	var log bytes.Buffer
	if err := removeLeftovers(dir, &log); err != nil {
		t.Fatalf("removeLeftovers: %v\n%s", err, log.String())
	}
	t.Logf("removeLeftovers said: %s", log.String())
	if !waitDead(escaped, 5*time.Second) {
		t.Errorf("the escaped sleep %d still runs in %s after the cleanup", escaped, ns)
	}
	if _, err := os.Stat(filepath.Join("/run/netns", ns)); err == nil {
		t.Errorf("namespace %s is still there after the cleanup", ns)
	}
	if _, err := os.Stat(filepath.Join(dir, ns)); err == nil {
		t.Errorf("the record of %s is still there after the cleanup", ns)
	}
	for _, keep := range []string{live, unrecorded} {
		if _, err := os.Stat(filepath.Join("/run/netns", keep)); err != nil {
			t.Errorf("the cleanup removed %s, whose maker is alive or unknown: %v", keep, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, live)); err != nil {
		t.Errorf("the cleanup removed the record of the live run's %s: %v", live, err)
	}
}

// killedRun is the test run that TestKilledRunLeavesNothing kills: a namespace, a sleep it
// started in it, and one that escaped, then it waits to be killed.
func killedRun(t *testing.T, dir string) {
	ns := namespace(t, dir, "scd-nltest-killed")
	sleeper := Start(t, exec.Command("ip", "netns", "exec", ns, "sleep", "600"))
	out, err := Output(exec.Command("ip", "netns", "exec", ns, "sh", "-c", "sleep 601 >/dev/null 2>&1 & echo $!"))
	if err != nil {
		t.Fatalf("starting the escaped sleep: %v", err)
	}
	fmt.Printf("ready %s %d %s\n", ns, sleeper.Cmd.Process.Pid, bytes.TrimSpace(out))
	time.Sleep(10 * time.Minute)
}

// waitDead waits up to d for process pid to be gone (or a zombie: dead, waiting for its parent).
func waitDead(pid int, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if !running(pid) {
			return true
		}
	}
	return !running(pid)
}

func running(pid int) bool {
	state, _, err := procStat(pid)
	return err == nil && state != "Z" && state != "X"
}

func TestProcStat(t *testing.T) {
	state, start, err := procStat(os.Getpid())
	if err != nil || start == 0 || state == "" {
		t.Fatalf("procStat(self) = %q, %d, %v", state, start, err)
	}
	if !alive(os.Getpid(), start) {
		t.Error("alive(self) is false")
	}
	if alive(os.Getpid(), start+1) {
		t.Error("alive(self, another start time) is true: a reused PID would count as its first owner")
	}
}

func TestAddNamespaceRefusesPaths(t *testing.T) {
	for _, ns := range []string{"", "../etc", "a/b", ".hidden"} {
		if err := addNamespace(t.TempDir(), ns); err == nil {
			t.Errorf("addNamespace(%q) took it", ns)
		}
	}
}

// recorder is a testing.TB that notes whether Skipf skipped or failed.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestSkipf: a missing prerequisite skips, except under CI=true, where everything was installed
// and a skip would hide a test that never ran.
func TestSkipf(t *testing.T) {
	for _, tc := range []struct {
		ci              string
		skipped, failed bool
	}{
		{ci: "", skipped: true},
		{ci: "false", skipped: true},
		{ci: "true", failed: true},
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			r := &recorder{TB: t}
			done := make(chan struct{})
			go func() { defer close(done); Skipf(r, "needs %s", "xyz") }()
			<-done
			if (r.skipped != "") != tc.skipped || (r.failed != "") != tc.failed {
				t.Errorf("skipped %q, failed %q; want skipped %v, failed %v", r.skipped, r.failed, tc.skipped, tc.failed)
			}
			if msg := r.skipped + r.failed; !strings.Contains(msg, "needs xyz") {
				t.Errorf("message %q does not say what is missing", msg)
			}
		})
	}
}
