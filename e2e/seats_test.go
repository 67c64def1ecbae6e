package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// labSeat is a machine of a lab's seats file: what the file says and what its boot must show.
type labSeat struct {
	mac, name string
	// entry is the menu entry it boots by default, and entryArg an argument only that entry's
	// command line has: proof that the timeout booted the seat's entry, not the medium's default.
	entry, entryArg string
	args            string // the seat's own kernel arguments
}

// archisoSeat: the archiso lab's BIOS client. Its family names hosts with systemd.hostname=
// (seats.HostnameArg), which its initramfs hooks leave to systemd; the login prompt shows
// whether systemd took it. The extra argument means nothing to any program: the kernel passes
// it to init as an environment variable, and prints it with the rest of its command line.
var archisoSeat = labSeat{mac: "52:54:00:5c:d0:0b", name: "desk-07", entry: "arch64speech", entryArg: "accessibility=on",
	args: "sharecd_seat_test=desk-07"}

// writeSeats writes a seats file of the given seats into dir and returns its path.
func writeSeats(t *testing.T, dir string, list ...labSeat) string {
	t.Helper()
	var items []string
	for _, s := range list {
		items = append(items, fmt.Sprintf(`{"mac": %q, "name": %q, "entry": %q, "args": %q}`, s.mac, s.name, s.entry, s.args))
	}
	p := filepath.Join(dir, "seats.json")
	if err := os.WriteFile(p, []byte("{\"seats\": [\n  "+strings.Join(items, ",\n  ")+"\n]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// macFileName is how the loaders spell a MAC in a per-machine file name: 01-52-54-00-….
func macFileName(mac string) string {
	return "01-" + strings.ReplaceAll(strings.ToLower(mac), ":", "-")
}

// checkSeat: the seat's kernel command line (the kernel prints it on the serial console) has
// its entry's argument, its own and its hostname's, and the live system greets as the seat;
// the other client, which the file does not name, has none of it.
func checkSeat(t *testing.T, seatSerial, otherSerial string, s labSeat) {
	t.Helper()
	b, _ := os.ReadFile(seatSerial)
	serial := string(b)
	cmdline := kernelCmdline(serial)
	for _, want := range []string{s.args, "systemd.hostname=" + s.name, s.entryArg} {
		if !strings.Contains(" "+cmdline+" ", " "+want+" ") {
			t.Errorf("seat %s: kernel command line lacks %q: %q", s.name, want, cmdline)
		}
	}
	if !strings.Contains(serial, s.name+" login:") {
		t.Errorf("seat %s: the login prompt does not name the seat:\n%s", s.name, tail(seatSerial, 15))
	}
	b, _ = os.ReadFile(otherSerial)
	other := kernelCmdline(string(b))
	if other == "" || strings.Contains(other, s.args) || strings.Contains(other, s.name) || strings.Contains(string(b), s.name+" login:") {
		t.Errorf("a client the seats file does not name got the seat's boot: command line %q", other)
	}
}

// kernelCmdline is the command line Linux printed at boot ("Command line: …"), "" if none.
func kernelCmdline(serial string) string {
	for _, l := range strings.Split(serial, "\n") {
		if _, c, ok := strings.Cut(l, "Command line: "); ok {
			return strings.TrimSpace(c)
		}
	}
	return ""
}

// TestSeatsInARoom runs the real command in full DHCP mode on a namespace LAN with a seats file,
// and asks as the room's machines do, with real clients: tftp-hpa for pxelinux's and GRUB's
// per-MAC menus, curl for iPXE's per-MAC script, busybox udhcpc for the DHCP answer. The seat
// gets its entry as the default, its arguments and its hostname (in its menus and in option 12);
// the room's menus keep none of it; a machine set not to boot gets no lease at all, logged once;
// a seats file naming an entry the medium lacks stops the start with one line.
func TestSeatsInARoom(t *testing.T) {
	need(t, "tftp", "curl", "busybox")
	bin := sharecd(t)
	l := newLab(t, "10.77.21")
	cl := l.clientNS("10.77.21.50/24")
	mac := l.linkMAC(cl, "c0")
	const noBoot = "02:5e:a7:00:00:99"
	dir := tinyMedium(t)
	seatsFile := filepath.Join(l.dir, "seats.json")
	if err := os.WriteFile(seatsFile, []byte(`{"seats": [
  {"mac": "`+strings.ToUpper(mac)+`", "name": "desk-01", "entry": "live", "args": "seat_arg=1 mem=2G"},
  {"mac": "`+noBoot+`", "boot": false}
]}`), 0o644); err != nil {
		t.Fatal(err)
	}

	bad := filepath.Join(l.dir, "bad-seats.json")
	os.WriteFile(bad, []byte(`{"seats": [{"mac": "`+mac+`", "entry": "windows"}]}`), 0o644)
	out, err := l.run(l.server, bin, "--share", "--source", dir, "--iface", "s0", "--dhcp-mode", "full",
		"--lease-file", filepath.Join(l.dir, "bad.leases"), "--seats", bad)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if last := lines[len(lines)-1]; exitCode(err) != 1 || !strings.HasPrefix(last, "sharecd: seats file: seat "+mac+": no entry \"windows\"") {
		t.Errorf("an unknown entry: want one line naming it and exit 1, got exit %d:\n%s", exitCode(err), out)
	}

	srv := l.start(l.server, "sharecd.log", bin, "--share", "--source", dir, "--iface", "s0", "--dhcp-mode", "full",
		"--lease-file", filepath.Join(l.dir, "leases.json"), "--seats", seatsFile, "--debug")
	logf := filepath.Join(l.dir, "sharecd.log")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := waitFor(ctx, logf, "msg=sharing"); err != nil {
		t.Fatalf("sharecd did not start: %v\n%s", err, tail(logf, 20))
	}

	get := func(name string, viaHTTP bool) string {
		t.Helper()
		got := filepath.Join(l.dir, "got-"+strings.ReplaceAll(name, "/", "_"))
		var out []byte
		var err error
		if viaHTTP {
			out, err = l.run(cl, "curl", "-sSf", "-o", got, "http://10.77.21.2/"+name)
		} else {
			out, err = l.run(cl, "tftp", "10.77.21.2", "-m", "binary", "-c", "get", name, got)
		}
		b, _ := os.ReadFile(got)
		if err != nil || len(b) == 0 {
			t.Fatalf("fetching %s: %v %s", name, err, out)
		}
		return string(b)
	}
	seatArgs := "hostname=desk-01 seat_arg=1 mem=2G"
	for _, c := range []struct {
		file string
		http bool
		dflt string
	}{
		{"pxelinux.cfg/" + macFileName(mac), false, "default live\n"},
		{"grub/grub.cfg-" + macFileName(mac), false, "set default=live\n"},
		{"boot.ipxe-" + macFileName(mac), true, "choose --default e0"},
		{"uefi.ipxe-" + macFileName(mac), true, "choose --default e0"},
	} {
		menu := get(c.file, c.http)
		if !strings.Contains(menu, seatArgs) || !strings.Contains(menu, c.dflt) {
			t.Errorf("%s lacks the seat's default (%q) or arguments (%q):\n%s", c.file, c.dflt, seatArgs, menu)
		}
	}
	for _, room := range []string{"pxelinux.cfg/default", "grub/grub.cfg"} {
		if menu := get(room, false); strings.Contains(menu, "seat_arg") || strings.Contains(menu, "desk-01") {
			t.Errorf("the room's %s has the seat's arguments:\n%s", room, menu)
		}
	}
	if script := get("boot.ipxe", true); !strings.Contains(script, "chain --autofree http://10.77.21.2/boot.ipxe-01-${netX/mac:hexhyp} || goto sharecd_room") {
		t.Errorf("the room's iPXE script does not look for the seat's first:\n%s", script)
	}
	// An iPXE machine the file does not name finds no script of its own, and goes on.
	if out, err := l.run(cl, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://10.77.21.2/boot.ipxe-01-02-00-00-00-00-01"); err != nil || string(out) != "404" {
		t.Errorf("an unnamed machine's script: HTTP %s %v, want 404", out, err)
	}

	// udhcpc runs the script with the answer's options in its environment.
	script := filepath.Join(l.dir, "udhcpc.sh")
	os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && echo \"bound ip=$ip hostname=$hostname\"\nexit 0\n"), 0o755)
	out, err = l.run(cl, "busybox", "udhcpc", "-f", "-q", "-n", "-i", "c0", "-t", "5", "-T", "2", "-s", script)
	if err != nil || !strings.Contains(string(out), "hostname=desk-01") {
		t.Errorf("the seat's lease does not name its host: %v\n%s\n--- sharecd ---\n%s", err, out, tail(logf, 20))
	}
	if b, _ := os.ReadFile(logf); !strings.Contains(string(b), "seat=desk-01") {
		t.Errorf("the log does not name the seat:\n%s", tail(logf, 20))
	}

	// The machine set not to boot: no answer, however often it asks; one line says so.
	l.ipn(cl, "link", "set", "c0", "address", noBoot)
	for range 2 {
		out, err = l.run(cl, "busybox", "udhcpc", "-f", "-q", "-n", "-i", "c0", "-t", "2", "-T", "1", "-s", script)
		if err == nil || strings.Contains(string(out), "bound") {
			t.Errorf("a machine set not to boot got a lease:\n%s", out)
		}
	}
	if b, _ := os.ReadFile(logf); strings.Count(string(b), "seat not to boot: not answered") != 1 ||
		!strings.Contains(string(b), "mac="+noBoot) {
		t.Errorf("want one line for the machine set not to boot:\n%s", tail(logf, 30))
	}
	if err := stop(srv, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Errorf("sharecd on SIGTERM: %v\n%s", err, tail(logf, 20))
	}
}
