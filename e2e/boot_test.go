// Package e2e boots real QEMU PXE clients from sharecd inside a lab of network namespaces, with a
// Debian live ISO built by live-build. Each boot takes minutes under TCG, so the boots run in
// parallel and there are few of them.
package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// sharecd builds the command once for every test of the run.
func sharecd(t *testing.T) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sharecd-bin")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "sharecd")
		out, err := exec.Command("go", "build", "-o", binary, "../cmd/sharecd").CombinedOutput()
		if err != nil {
			buildErr = &buildError{err, string(out)}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + ": " + e.out }

// liveISO returns the cached test ISO, building it with live-build when missing (~10 minutes).
func liveISO(t *testing.T) string {
	t.Helper()
	if iso := os.Getenv("SHARECD_TEST_ISO"); iso != "" {
		return iso
	}
	if _, err := exec.LookPath("lb"); err != nil {
		t.Skip("end-to-end boot needs live-build to make its ISO (bash .ci/run installs it)")
	}
	out, err := exec.Command("./build-live-iso.sh").CombinedOutput()
	if err != nil {
		t.Fatalf("building the live ISO: %v\n%s", err, out)
	}
	fields := strings.Fields(string(out))
	return fields[len(fields)-1]
}

func TestBIOSClientBootsLiveSystem(t *testing.T) {
	need(t)
	iso := liveISO(t)
	bin := sharecd(t)
	// Parallel with the UEFI boot (uefi_test.go) once the ISO and the binary exist: top-level
	// tests that are not parallel would make it wait for these boots to end.
	t.Parallel()

	cases := []struct {
		name   string
		subnet string
		// serve returns the command line run in the server namespace.
		serve func(dir string) []string
		// restart stops and restarts sharecd while the client runs from its NFS root: NFS file
		// handles must stay valid across restarts so the client carries on.
		restart bool
		// full runs sharecd as the LAN's only DHCP server (--dhcp-mode full): no router.
		full bool
	}{
		{"iso-file", "10.77.1", func(string) []string {
			return []string{bin, "--share", "--source", iso, "--iface", "s0", "--menu-timeout", "2", "--debug"}
		}, true, false},
		// The medium as a live system has it: a directory tree. This kernel has no iso9660
		// driver to loop-mount the ISO, so xorriso copies the tree out with its Rock Ridge
		// names, modes and links. This lab has no router: sharecd is the whole DHCP service,
		// for the PXE ROM, the initramfs and the booted system alike.
		{"directory", "10.77.2", func(dir string) []string {
			return []string{"sh", "-c", `xorriso -osirrox on -indev "$2" -extract / "$1" >/dev/null 2>&1 && exec "$3" --share --source "$1" --iface s0 --menu-timeout 2 --dhcp-mode full --lease-file "$1.leases" --debug`,
				"sh", filepath.Join(dir, "medium"), iso, bin}
		}, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t, tc.subnet)
			if !tc.full {
				l.startRouter()
			}
			srv := l.start(l.server, "sharecd.log", tc.serve(l.dir)...)
			serverLog := filepath.Join(l.dir, "sharecd.log")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := waitFor(ctx, serverLog, "msg=sharing"); err != nil {
				t.Fatalf("sharecd did not start: %v\n%s", err, tail(serverLog, 30))
			}
			serial := l.startClient("bios", "52:54:00:5c:d0:01")

			ctx, cancel = context.WithTimeout(context.Background(), 15*time.Minute)
			defer cancel()
			firstLog := serverLog
			if tc.restart {
				if err := waitFor(ctx, serverLog, "client running"); err != nil {
					t.Fatalf("client never read its root: %v\n%s\n%s", err, tail(serial, 30), tail(serverLog, 30))
				}
				time.Sleep(5 * time.Second) // let the client get well into reading the squashfs
				if err := stop(srv, syscall.SIGTERM, 15*time.Second); err != nil {
					t.Fatalf("sharecd on SIGTERM: %v\n%s", err, tail(serverLog, 20))
				}
				srv = l.start(l.server, "sharecd-restarted.log", tc.serve(l.dir)...)
				serverLog = filepath.Join(l.dir, "sharecd-restarted.log")
			}
			if err := waitFor(ctx, serial, "login:"); err != nil {
				t.Fatalf("client did not reach login: %v\n--- serial (artefacts in %s) ---\n%s\n--- sharecd ---\n%s",
					err, l.dir, tail(serial, 40), tail(serverLog, 40))
			}
			logText, _ := os.ReadFile(firstLog)
			for _, stage := range []string{"client offered", "client loader", "client kernel", "client initrd", `"client root mounted"`} {
				if !strings.Contains(string(logText), strings.Trim(stage, `"`)) {
					t.Errorf("server log lacks the %q stage", stage)
				}
			}
			if restarted, _ := os.ReadFile(serverLog); tc.restart && !strings.Contains(string(restarted), "client running") {
				t.Errorf("the client did not read from the restarted sharecd:\n%s", tail(serverLog, 20))
			}
			if err := stop(srv, syscall.SIGTERM, 15*time.Second); err != nil {
				t.Errorf("sharecd on SIGTERM: %v\n%s", err, tail(serverLog, 20))
			}
		})
	}
}
