package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// labMedium is the engine's test medium: the real isolinux menus of the e2e lab ISO over
// stand-in kernel, initrd and squashfs (netboot/testdata/README.md).
const labMedium = "../../netboot/testdata/debian-live-lab"

// noIface is an interface no machine has: every --share case below must be refused before
// sharing starts, and should one ever get through, it finds no interface to send on.
const noIface = "sharecd-test-no-such-iface"

// TestRun runs the command's paths that need no root and no network, in process, and checks
// the exit code and what is printed: the user reads one line on stderr for each mistake.
func TestRun(t *testing.T) {
	// Without a display, plain `sharecd` prints its usage instead of opening the window.
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	missing := filepath.Join(t.TempDir(), "no-such.iso")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // contained in stdout; "" wants it empty
		stderr string // the whole of stderr; "" wants it empty
	}{
		{name: "help", args: []string{"--help"}, stdout: "Usage:\n  sharecd [--source PATH]"},
		{name: "help, short", args: []string{"-h"}, stdout: "Sharing binds the privileged ports"},
		{name: "version", args: []string{"--version"}, stdout: "sharecd "},
		{name: "unknown flag", args: []string{"--bogus"}, code: 2,
			stderr: "sharecd: flag provided but not defined: -bogus (see sharecd --help)\n"},
		{name: "flag without its value", args: []string{"--source"}, code: 2,
			stderr: "sharecd: flag needs an argument: -source (see sharecd --help)\n"},
		{name: "stray argument", args: []string{"--detect", "extra"}, code: 2,
			stderr: "sharecd: unexpected argument \"extra\" (see sharecd --help)\n"},
		{name: "no mode and no display", args: nil, code: 2, stderr: usage},
		{name: "bad --dhcp-mode", args: []string{"--share", "--iface", noIface, "--dhcp-mode", "bogus"}, code: 2,
			stderr: "sharecd: --dhcp-mode: unknown DHCP mode \"bogus\" (auto, proxy, full or off)\n"},
		{name: "--menu-timeout 0", args: []string{"--share", "--iface", noIface, "--menu-timeout", "0"}, code: 2,
			stderr: "sharecd: --menu-timeout must be at least 1 second\n"},
		{name: "bad --allow", args: []string{"--share", "--iface", noIface, "--allow", "10.0.0.1"}, code: 2,
			stderr: "sharecd: invalid value \"10.0.0.1\" for flag -allow: not a network in CIDR form (like 10.0.0.0/8): \"10.0.0.1\" (see sharecd --help)\n"},
		{name: "--source missing", args: []string{"--detect", "--source", missing}, code: 1,
			stderr: "sharecd: " + missing + " does not exist\n"},
		{name: "--boot-tree without --server-ip", args: []string{"--boot-tree", t.TempDir(), "--source", labMedium}, code: 2,
			stderr: "sharecd: --boot-tree needs --server-ip with this machine's IPv4 address on the LAN\n"},
		{name: "--boot-tree with an IPv6 --server-ip", args: []string{"--boot-tree", t.TempDir(), "--server-ip", "fd00::1", "--source", labMedium}, code: 2,
			stderr: "sharecd: --boot-tree needs --server-ip with this machine's IPv4 address on the LAN\n"},
		{name: "--detect and --share", args: []string{"--detect", "--share", "--iface", noIface}, code: 2,
			stderr: "sharecd: --share and --detect do not go together: choose one (see sharecd --help)\n"},
		{name: "--boot-tree and --check-dhcp", args: []string{"--check-dhcp", "--boot-tree", t.TempDir()}, code: 2,
			stderr: "sharecd: --check-dhcp and --boot-tree do not go together: choose one (see sharecd --help)\n"},
		{name: "--tray and --share", args: []string{"--tray", "--share", "--iface", noIface}, code: 2,
			stderr: "sharecd: --share and --tray do not go together: choose one (see sharecd --help)\n"},
		{name: "--detect", args: []string{"--detect", "--source", labMedium}, stdout: "family:       live-boot\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Errorf("run(%q) = %d, want %d\nstderr: %s", tc.args, code, tc.code, stderr.String())
			}
			if tc.stdout == "" && stdout.Len() > 0 || !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout %q\nwant it to contain %q", stdout.String(), tc.stdout)
			}
			if stderr.String() != tc.stderr {
				t.Errorf("stderr %q\nwant %q", stderr.String(), tc.stderr)
			}
		})
	}
}

// TestRunDetectJSON: --detect --json prints what would be shared as one JSON document.
func TestRunDetectJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--detect", "--json", "--source", labMedium}, &stdout, &stderr); code != 0 || stderr.Len() > 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	var d struct {
		Source, Kind, Family, Menu string
		Entries                    []struct {
			Label, Kernel string
			Initrds       []string
			Default       bool
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &d); err != nil {
		t.Fatalf("%v:\n%s", err, stdout.String())
	}
	if d.Source != labMedium || d.Kind != "dir" || d.Family != "live-boot" || d.Menu != "isolinux/isolinux.cfg" {
		t.Errorf("source %q kind %q family %q menu %q", d.Source, d.Kind, d.Family, d.Menu)
	}
	var labels []string
	for _, e := range d.Entries {
		labels = append(labels, e.Label)
	}
	if want := []string{"live-amd64", "live-amd64-failsafe", "hdt"}; !slices.Equal(labels, want) {
		t.Errorf("entries %q, want %q", labels, want)
	}
	if len(d.Entries) > 0 {
		if e := d.Entries[0]; !e.Default || e.Kernel != "live/vmlinuz" || !slices.Equal(e.Initrds, []string{"live/initrd.img"}) {
			t.Errorf("first entry %+v: want the default, live/vmlinuz with live/initrd.img", e)
		}
	}
}

// TestRunBootTree writes the TFTP tree for the lab medium into a temp dir: every file it names
// is there, and the BIOS menu points its clients at the server address given.
func TestRunBootTree(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run([]string{"--boot-tree", dir, "--server-ip", "192.0.2.7", "--source", labMedium, "--menu-timeout", "3"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	files := strings.Fields(stdout.String())
	for _, want := range []string{"pxelinux.0", "pxelinux.cfg/default", "grub/grub.cfg", "live/vmlinuz", "live/initrd.img"} {
		if !slices.Contains(files, want) {
			t.Errorf("stdout names no %s: %q", want, files)
		}
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("named but not written: %v", err)
		}
	}
	if msg := stderr.String(); strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "wrote ") || !strings.Contains(msg, "point DHCP at 192.0.2.7") {
		t.Errorf("stderr %q: want one line saying what was written and where to point DHCP", msg)
	}
	menu, err := os.ReadFile(filepath.Join(dir, "pxelinux.cfg/default"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(menu), "192.0.2.7") {
		t.Errorf("pxelinux.cfg/default does not name the server:\n%s", menu)
	}
}
