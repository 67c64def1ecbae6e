package netboot

import (
	"bytes"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/sharecd/sharecd/netboot/seats"
)

// TestPlanSeats: each seat's menus are in the tree under the names its loaders ask for, with its
// medium, default entry and arguments, and count as the menu stage; the room's menus keep none
// of it, and the room's iPXE scripts look for a seat's first. A seat naming an entry or medium
// the share lacks fails the plan, naming the seat.
func TestPlanSeats(t *testing.T) {
	srcs, _, err := openSources([]string{labMedium, labMedium})
	if err != nil {
		t.Fatal(err)
	}
	defer closeSources(srcs)
	network := Network{Iface: Iface{Addr: netip.MustParsePrefix("192.0.2.7/24")}, DHCP: DHCPFull}
	second := "" // the second medium's directory, for the seats file
	if p, err := (&Share{}).plan(srcs, network); err != nil {
		t.Fatal(err)
	} else {
		second = p.Media[1].Prefix
	}
	all, err := seats.Parse([]byte(`{"seats": [
		{"mac": "52:54:00:12:34:01", "name": "desk-01", "entry": "live-amd64-failsafe", "args": "seat_arg=1"},
		{"mac": "52:54:00:12:34:02", "medium": "` + second + `"},
		{"mac": "52:54:00:12:34:99", "boot": false}]}`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := (&Share{Seats: all}).plan(srcs, network)
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		t.Helper()
		b, err := fs.ReadFile(p.Tree, name)
		if err != nil {
			t.Fatalf("the tree lacks %s: %v", name, err)
		}
		if st, ok := p.stageOf(name); !ok || st != StageMenu {
			t.Errorf("fetching %s is stage %q, want the menu", name, st)
		}
		if !bytes.Contains([]byte(strings.Join(p.Files, "\n")+"\n"), []byte(name+"\n")) {
			t.Errorf("%s is not among the plan's files", name)
		}
		return string(b)
	}
	first, other := p.Media[0].Prefix, p.Media[1].Prefix
	desk := "01-52-54-00-12-34-01"
	for _, c := range []struct{ file, want string }{
		{"pxelinux.cfg/" + desk, "default live-amd64-failsafe\n"},
		{"pxelinux.cfg/" + desk, "linux " + first + "/live/vmlinuz"},
		{"grub/grub.cfg-" + desk, "hostname=desk-01 seat_arg=1"},
		{"boot.ipxe-" + desk, "hostname=desk-01 seat_arg=1"},
		{"uefi.ipxe-" + desk, "hostname=desk-01 seat_arg=1"},
		{"pxelinux.cfg/01-52-54-00-12-34-02", "linux " + other + "/live/vmlinuz"},
		{"boot.ipxe", "chain --autofree http://192.0.2.7/boot.ipxe-01-${netX/mac:hexhyp} || goto sharecd_room\n"},
		{"uefi.ipxe", "chain --autofree http://192.0.2.7/uefi.ipxe-01-${netX/mac:hexhyp} || goto sharecd_room\n"},
	} {
		if got := read(c.file); !strings.Contains(got, c.want) {
			t.Errorf("%s lacks %q:\n%s", c.file, c.want, got)
		}
	}
	if !strings.HasPrefix(read("boot.ipxe"), "#!ipxe\n") {
		t.Error("the room's iPXE script no longer starts with #!ipxe")
	}
	// Signed GRUB in full mode has no HTTP: the seat's GRUB menu names kernels on TFTP too.
	if g := read("grub/grub.cfg-" + desk); strings.Contains(g, "(http,") {
		t.Errorf("the seat's GRUB menu fetches over HTTP, which the signed GRUB lacks:\n%s", g)
	}
	for _, room := range []string{"pxelinux.cfg/default", "grub/grub.cfg", first + "/pxelinux.cfg/default", first + "/boot.ipxe"} {
		if strings.Contains(read(room), "seat_arg") {
			t.Errorf("the room's %s has a seat's arguments", room)
		}
	}
	if _, err := fs.Stat(p.Tree, "pxelinux.cfg/01-52-54-00-12-34-99"); err == nil {
		t.Error("a seat not to boot has a menu")
	}

	for _, bad := range []struct{ file, err string }{
		{`{"seats": [{"mac": "52:54:00:12:34:01", "name": "desk-01", "entry": "windows"}]}`, `seats file: seat desk-01 (52:54:00:12:34:01): no entry "windows"`},
		{`{"seats": [{"mac": "52:54:00:12:34:01", "medium": "fedora"}]}`, `seats file: seat 52:54:00:12:34:01: no medium "fedora"`},
	} {
		s, err := seats.Parse([]byte(bad.file))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (&Share{Seats: s}).plan(srcs, network); err == nil || !strings.Contains(err.Error(), bad.err) {
			t.Errorf("plan: %v, want an error with %q", err, bad.err)
		}
	}
}

// TestNoBootRefuserLogsOnce: a seat not to boot is refused at every ask and named in the log
// once; other machines, seats or not, are not refused.
func TestNoBootRefuserLogsOnce(t *testing.T) {
	all, err := seats.Parse([]byte(`{"seats": [{"mac": "52:54:00:12:34:99", "name": "staff", "boot": false},
		{"mac": "52:54:00:12:34:01", "name": "desk-01"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	refuse := noBootRefuser(all, slog.New(slog.NewTextHandler(&buf, nil)))
	staff, _ := net.ParseMAC("52:54:00:12:34:99")
	for _, m := range []string{"52:54:00:12:34:01", "52:54:00:12:34:55"} {
		mac, _ := net.ParseMAC(m)
		if refuse(mac) {
			t.Errorf("%s refused", m)
		}
	}
	for range 3 {
		if !refuse(staff) {
			t.Fatal("the seat not to boot was answered")
		}
	}
	if n := strings.Count(buf.String(), "seat not to boot"); n != 1 || !strings.Contains(buf.String(), "seat=staff") {
		t.Errorf("%d log lines, want one naming the seat:\n%s", n, buf.String())
	}
	if noBootRefuser(nil, nil) != nil {
		t.Error("no seats file: want no refuser at all")
	}
}
