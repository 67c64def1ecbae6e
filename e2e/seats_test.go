package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
func macFileName(mac string) string { return "01-" + strings.ReplaceAll(strings.ToLower(mac), ":", "-") }

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
