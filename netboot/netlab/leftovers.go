package netlab

// A network namespace does not die with the process that made it: a test binary killed mid-run
// (SIGKILL, a -timeout panic, a closed terminal) leaves its namespaces, and whatever still runs
// inside them, behind. So every namespace a test makes is recorded first, with the process that
// makes it, and the next run removes the namespaces whose maker is gone, as sharecd itself
// removes a crashed run's firewall rules at its next start. Only recorded namespaces are ever
// touched: namespaces of a run that is still going (its maker is alive), of other tools or of an
// older build of these tests (no record) are left alone.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RecordDir holds one file per namespace a test made, named after it, that says which process
// made it. /run is a tmpfs: a reboot, which removes every namespace, empties it too.
const RecordDir = "/run/sharecd-test"

// AddNamespace makes network namespace ns (`ip netns add`) after recording it in RecordDir, so
// that a later run removes it should this process die before DelNamespace.
func AddNamespace(ns string) error { return addNamespace(RecordDir, ns) }

// DelNamespace deletes namespace ns and its record.
func DelNamespace(ns string) error { return delNamespace(RecordDir, ns) }

// RemoveLeftovers removes what earlier runs of the tests left behind: every namespace recorded
// in RecordDir whose maker has died, after killing the processes still inside it. Call it from
// TestMain before m.Run; without root it does nothing (there is nothing it could remove). What
// it removed is written to w.
func RemoveLeftovers(w io.Writer) {
	if os.Geteuid() != 0 {
		return
	}
	if err := removeLeftovers(RecordDir, w); err != nil {
		fmt.Fprintf(w, "netlab: removing an earlier run's namespaces: %v\n", err)
	}
}

func addNamespace(dir, ns string) error {
	if strings.ContainsAny(ns, "/\x00") || ns == "" || ns[0] == '.' {
		return fmt.Errorf("namespace name %q: not a plain file name", ns)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("recording namespace %s: %w", ns, err)
	}
	me, err := processStart(os.Getpid())
	if err != nil {
		return fmt.Errorf("recording namespace %s: %w", ns, err)
	}
	// Recorded before it exists: a death between the two leaves a record of a namespace that is
	// not there, which the next run just drops, never a namespace without a record.
	rec := fmt.Sprintf("%d %d\n", os.Getpid(), me)
	if err := os.WriteFile(filepath.Join(dir, ns), []byte(rec), 0o644); err != nil {
		return fmt.Errorf("recording namespace %s: %w", ns, err)
	}
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		os.Remove(filepath.Join(dir, ns))
		return fmt.Errorf("ip netns add %s: %w: %s", ns, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func delNamespace(dir, ns string) error {
	if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %w: %s", ns, err, strings.TrimSpace(string(out)))
	}
	os.Remove(filepath.Join(dir, ns))
	return nil
}

// removeLeftovers removes the namespaces recorded in dir whose maker is gone; see
// RemoveLeftovers.
func removeLeftovers(dir string, w io.Writer) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		ns := e.Name()
		rec := filepath.Join(dir, ns)
		b, err := os.ReadFile(rec)
		if err != nil {
			continue // removed meanwhile by its maker or by another package's run
		}
		var pid int
		var start uint64
		if _, err := fmt.Sscanf(string(b), "%d %d", &pid, &start); err != nil {
			errs = append(errs, fmt.Errorf("record %s: %w", rec, err))
			continue
		}
		if alive(pid, start) {
			continue // a run still going: its own cleanup removes it
		}
		if _, err := os.Stat(filepath.Join("/run/netns", ns)); err == nil {
			killed, err := killInside(ns)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("ip netns del %s: %w: %s", ns, err, strings.TrimSpace(string(out))))
				continue
			}
			fmt.Fprintf(w, "netlab: removed namespace %s left by test process %d (killed %d processes in it)\n", ns, pid, killed)
		}
		os.Remove(rec)
	}
	return errors.Join(errs...)
}

// killInside kills, by PID, every process in namespace ns and waits until none is left. A
// recorded namespace only ever held what the tests started in it.
func killInside(ns string) (int, error) {
	killed := 0
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		pids, err := nsPIDs(ns)
		if err != nil {
			return killed, err
		}
		if len(pids) == 0 {
			return killed, nil
		}
		if time.Now().After(end) {
			return killed, fmt.Errorf("processes %v in namespace %s outlived SIGKILL for 10 s", pids, ns)
		}
		for _, pid := range pids {
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				killed++
			}
		}
	}
}

// nsPIDs lists the processes in namespace ns (`ip netns pids`), zombies left out: they are
// dead, and only their parent can make them go.
func nsPIDs(ns string) ([]int, error) {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return nil, fmt.Errorf("ip netns pids %s: %w", ns, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("ip netns pids %s: %q is no PID", ns, f)
		}
		if state, _, err := procStat(pid); err == nil && state != "Z" && state != "X" {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// alive tells whether process pid is running and is the one that started at start (a PID can
// be used again by a new process once its first owner is gone).
func alive(pid int, start uint64) bool {
	state, s, err := procStat(pid)
	return err == nil && s == start && state != "Z" && state != "X"
}

// processStart is when process pid started, in clock ticks since boot (proc(5) stat, field 22).
func processStart(pid int) (uint64, error) {
	_, start, err := procStat(pid)
	return start, err
}

// procStat reads a process's state and start time from /proc/PID/stat. The command name, field
// 2, is in parentheses and may hold spaces and parentheses itself, so fields are counted from
// the last ')'.
func procStat(pid int) (state string, start uint64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, err
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return "", 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3, the state
	if len(f) < 20 {
		return "", 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("/proc/%d/stat: start time %q: %w", pid, f[19], err)
	}
	return f[0], start, nil
}
