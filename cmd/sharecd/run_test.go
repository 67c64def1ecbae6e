package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/sharecd/sharecd/netboot"
)

// labMedium is the engine's test medium: the real isolinux menus of the e2e lab ISO over
// stand-in kernel, initrd and squashfs (netboot/testdata/README.md).
const labMedium = "../../netboot/testdata/debian-live-lab"

// arm64Medium has a real arm64 kernel's header (netboot/testdata/README.md).
const arm64Medium = "../../netboot/testdata/debian-live-arm64"

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
	leases := filepath.Join(t.TempDir(), "leases.json")
	if err := os.WriteFile(leases, []byte(`[{"mac": "52:54:00:12:34:56", "ip": "192.168.77.100", "expiry": "2026-05-01T12:00:00Z", "bound": true}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // contained in stdout; "" wants it empty
		stderr string // the whole of stderr; "" wants it empty
		// stderrStart: stderr only starts with stderr (what follows depends on the machine)
		stderrStart bool
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
		{name: "--wake and --share", args: []string{"--share", "--wake", "52:54:00:12:34:56", "--iface", noIface}, code: 2,
			stderr: "sharecd: --share and --wake do not go together: choose one (see sharecd --help)\n"},
		{name: "--with-changes and --changes-from", args: []string{"--share", "--with-changes", "--changes-from", t.TempDir(), "--iface", noIface}, code: 2,
			stderr: "sharecd: --with-changes and --changes-from do not go together: choose one (see sharecd --help)\n"},
		{name: "--changes-from with --boot-tree", args: []string{"--boot-tree", t.TempDir(), "--server-ip", "192.0.2.1", "--changes-from", t.TempDir()}, code: 2,
			stderr: "sharecd: --changes-from goes with --share, not --boot-tree (see sharecd --help)\n"},
		// This machine is no live session: the refusal is one line, before the LAN is checked.
		{name: "--with-changes outside a live session", args: []string{"--share", "--with-changes", "--source", labMedium, "--iface", noIface}, code: 1,
			stderr: "sharecd: no live session changes to share: ", stderrStart: true},
		// Nothing below is sent: each is refused before a socket opens, or names no interface
		// this machine has.
		{name: "--wake without --iface", args: []string{"--wake", "52:54:00:12:34:56"}, code: 2,
			stderr: "sharecd: --wake needs --iface NAME, the interface the machines are on (a wake-up packet never crosses a router)\n"},
		{name: "--wake with a bad MAC", args: []string{"--wake", "52:54:00:12:34:56,52:54:00:12:34", "--iface", noIface}, code: 2,
			stderr: "sharecd: --wake: \"52:54:00:12:34\": not an Ethernet MAC address (like 52:54:00:12:34:56)\n"},
		{name: "--wake broadcast", args: []string{"--wake", "ff:ff:ff:ff:ff:ff", "--iface", noIface}, code: 2,
			stderr: "sharecd: --wake: \"ff:ff:ff:ff:ff:ff\": not an Ethernet MAC address (like 52:54:00:12:34:56)\n"},
		{name: "--wake on no interface", args: []string{"--wake", "52:54:00:12:34:56", "--iface", noIface}, code: 1,
			stderr: "sharecd: interface " + noIface + ": no such network interface\n"},
		{name: "--wake all, no lease file", args: []string{"--wake", "all", "--iface", noIface, "--lease-file", missing}, code: 1,
			stderr: "sharecd: no known clients to wake on " + noIface + ": no seats file names a machine, and full DHCP mode has leased no address there (" + missing + ")\n"},
		{name: "--wake all, on no interface", args: []string{"--wake", "all", "--iface", noIface, "--lease-file", leases}, code: 1,
			stderr: "sharecd: interface " + noIface + ": no such network interface\n"},
		{name: "--detect", args: []string{"--detect", "--source", labMedium}, stdout: "family:       live-boot\n"},
		{name: "--detect an arm64 medium", args: []string{"--detect", "--source", arm64Medium},
			stdout: "arch:         arm64: offered to ARM64 UEFI clients only, with grubaa64.efi\n"},
		{name: "--detect --json an arm64 medium", args: []string{"--detect", "--json", "--source", arm64Medium},
			stdout: "\"arch\": \"arm64\","},
		// The check could not run: 3, not 2, which is for usage errors.
		{name: "--check-dhcp on no interface", args: []string{"--check-dhcp", "--iface", noIface}, code: 3,
			stderr: "sharecd: interface " + noIface + " not found", stderrStart: true},
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
			if stderr.String() != tc.stderr && !(tc.stderrStart && strings.HasPrefix(stderr.String(), tc.stderr)) {
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

// The engine says what is wrong; cmd adds the fix in command-line words, the whole fix at once.
func TestAdvice(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		share netboot.Share
		want  string
	}{
		{"not root: the check", fmt.Errorf("%w on eth0: probing: %w", netboot.ErrCheckFailed, syscall.EPERM), netboot.Share{}, "run it as root"},
		{"not root: a port", &netboot.PortError{Proto: "udp", Port: 67, Service: "DHCP", Err: syscall.EACCES}, netboot.Share{}, "run it as root"},
		{"check failed otherwise", fmt.Errorf("%w on eth0: %w", netboot.ErrCheckFailed, errors.New("boom")), netboot.Share{}, "--dhcp-mode proxy shares without the check"},
		{"another PXE server", fmt.Errorf("%w: x", netboot.ErrOtherPXEServer), netboot.Share{}, "--dhcp-mode proxy"},
		{"no DHCP server", netboot.ErrNoDHCPServer, netboot.Share{}, "--dhcp-mode full"},
		{"share internet outside full mode", netboot.ErrShareInternetNeedsFull, netboot.Share{}, "--dhcp-mode full"},
		{"DHCP server present", netboot.ErrDHCPServerPresent, netboot.Share{}, "--dhcp-mode auto or proxy"},
		{"port 80 taken", &netboot.PortError{Proto: "tcp", Port: 80, Service: "HTTP", Holder: "nginx (pid 9)", Err: syscall.EADDRINUSE}, netboot.Share{}, "--tftp-only"},
		{"port 80 taken, --tftp-only given", &netboot.PortError{Proto: "tcp", Port: 80, Service: "HTTP", Holder: "nginx (pid 9)", Err: syscall.EADDRINUSE}, netboot.Share{TFTPBoot: true}, "stop it first"},
		{"port 69 taken", &netboot.PortError{Proto: "udp", Port: 69, Service: "TFTP", Holder: "in.tftpd (pid 3)", Err: syscall.EADDRINUSE}, netboot.Share{}, "stop it first"},
		{"local conflict", fmt.Errorf("%w: x", netboot.ErrLocalConflict), netboot.Share{}, "stop it first"},
		{"firewall unreadable", fmt.Errorf("%w: nft -j list ruleset: x", netboot.ErrFirewallUnknown), netboot.Share{}, "--no-firewall-changes"},
		{"firewall blocks", fmt.Errorf("%w: inet filter input (policy drop)", netboot.ErrFirewallBlocks), netboot.Share{}, "sudo sharecd --share"},
		{"several interfaces", fmt.Errorf("%w: eth0, wlan0", netboot.ErrChooseIface), netboot.Share{}, "--iface"},
		{"no IPv4", fmt.Errorf("interface eth0 %w", netboot.ErrNoIPv4), netboot.Share{}, "--dhcp-mode full"},
		{"unknown", errors.New("boom"), netboot.Share{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := advice(tc.err, tc.share)
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("advice(%v) = %q, want %q in it", tc.err, got, tc.want)
			}
			if tc.name == "port 80 taken, --tftp-only given" && strings.Contains(got, "--tftp-only") {
				t.Errorf("advice leads into the same error: %q", got)
			}
		})
	}
}

func TestStateDirs(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tc := range []struct {
		name       string
		env        map[string]string
		euid       int
		state, run string
	}{
		{"root", nil, 0, "/var/lib/sharecd", "/run/sharecd"},
		{"root with a runtime dir", map[string]string{"XDG_RUNTIME_DIR": "/run/user/0"}, 0, "/var/lib/sharecd", "/run/sharecd"},
		{"desktop user", map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}, 1000, "/var/lib/sharecd", "/run/user/1000/sharecd"},
		{"systemd service", map[string]string{"STATE_DIRECTORY": "/var/lib/sharecd-x", "XDG_RUNTIME_DIR": "/run/user/1000"}, 1000, "/var/lib/sharecd-x", "/var/lib/sharecd-x"},
	} {
		if st, run := stateDirs(env(tc.env), tc.euid); st != tc.state || run != tc.run {
			t.Errorf("%s: got %s, %s; want %s, %s", tc.name, st, run, tc.state, tc.run)
		}
	}
}

func TestInternetNeedsRoot(t *testing.T) {
	for _, tc := range []struct {
		iface string
		euid  int
		want  bool
	}{{"", 1000, false}, {"wlan0", 0, false}, {"wlan0", 1000, true}} {
		if got := internetNeedsRoot(tc.iface, tc.euid) != ""; got != tc.want {
			t.Errorf("internetNeedsRoot(%q, %d) refuses: %v, want %v", tc.iface, tc.euid, got, tc.want)
		}
	}
}
