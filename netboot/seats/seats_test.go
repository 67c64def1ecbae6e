package seats

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	cases := []struct {
		file string
		want []Seat // when the file is good
		err  string // a part of the one-line error, when it is not
	}{
		{file: "room.json", want: []Seat{
			{MAC: mac(t, "52:54:00:12:34:01"), Name: "desk-01", Entry: "live", Args: "quiet splash"},
			{MAC: mac(t, "52:54:00:12:34:02"), Name: "desk-02", Entry: "Debian Live (failsafe)", Medium: "debian"},
			{MAC: mac(t, "52:54:00:ab:cd:ef"), Name: "catalogue"},
			{MAC: mac(t, "52:54:00:12:34:99"), NoBoot: true},
		}},
		{file: "empty.json", want: nil},
		{file: "bad-mac.json", err: `seat 2: bad MAC "52:54:00:12:34"`},
		{file: "long-mac.json", err: "seat 1: bad MAC"},
		{file: "no-mac.json", err: `seat 1: no "mac"`},
		{file: "dup-mac.json", err: "seat 3: MAC 52:54:00:12:34:01 is already seat 1 (desk-01)"},
		{file: "dup-name.json", err: `seat 2: name "DESK-01" is already seat 1's`},
		{file: "bad-name.json", err: `seat 1: 52:54:00:12:34:01: bad name "desk 01"`},
		{file: "bad-args.json", err: `';' is not allowed`},
		{file: "unknown-key.json", err: `unknown field "boots"`},
		{file: "syntax.json", err: "line 3, column 3"},
		{file: "bool-type.json", err: "line 1, column"},
		{file: "missing.json", err: "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			s, err := Load(path, false)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one with %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error is more than one line: %q", err)
				}
				if tc.file != "missing.json" && !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not name the file", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := s.All()
			if len(got) != len(tc.want) {
				t.Fatalf("%d seats, want %d: %+v", len(got), len(tc.want), got)
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				if g.MAC.String() != w.MAC.String() || g.Name != w.Name || g.Entry != w.Entry || g.Medium != w.Medium ||
					g.Args != w.Args || g.NoBoot != w.NoBoot {
					t.Errorf("seat %d is %+v, want %+v", i+1, g, w)
				}
			}
		})
	}
}

func TestLoadDefaultFileMayBeMissing(t *testing.T) {
	s, err := Load(filepath.Join(t.TempDir(), "seats.json"), true)
	if err != nil || s.Len() != 0 {
		t.Fatalf("missing optional file: %v, %d seats", err, s.Len())
	}
	// A file that is there is read even when optional, and a bad one still fails the start.
	bad := filepath.Join(t.TempDir(), "seats.json")
	if err := os.WriteFile(bad, []byte(`{"seats": [{"mac": "nope"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad, true); err == nil {
		t.Fatal("a bad default file was taken")
	}
}

func TestLookup(t *testing.T) {
	s, err := Load("testdata/room.json", false)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		mac    string
		seat   bool
		name   string
		noBoot bool
	}{
		{"52:54:00:12:34:01", true, "desk-01", false},
		{"52:54:00:AB:CD:EF", true, "catalogue", false}, // the file wrote it upper case
		{"52:54:00:12:34:99", true, "", true},
		{"52:54:00:12:34:55", false, "", false},
	}
	for _, tc := range cases {
		st, ok := s.Lookup(mac(t, tc.mac))
		if ok != tc.seat || st.Name != tc.name || s.NoBoot(mac(t, tc.mac)) != tc.noBoot || s.Hostname(mac(t, tc.mac)) != tc.name {
			t.Errorf("%s: seat %v %+v, want seat %v name %q no-boot %v", tc.mac, ok, st, tc.seat, tc.name, tc.noBoot)
		}
	}
	var none *Seats
	if _, ok := none.Lookup(mac(t, "52:54:00:12:34:01")); ok || none.NoBoot(mac(t, "52:54:00:12:34:01")) {
		t.Error("no seats file found a seat")
	}
}

func TestFileNames(t *testing.T) {
	m := mac(t, "52:54:00:AB:cd:0F")
	for got, want := range map[string]string{
		PxelinuxFile(m):            "pxelinux.cfg/01-52-54-00-ab-cd-0f",
		GrubFile(m):                "grub/grub.cfg-01-52-54-00-ab-cd-0f",
		IPXEFile("boot.ipxe", m):   "boot.ipxe-01-52-54-00-ab-cd-0f",
		IPXEFile("uefi.ipxe", m):   "uefi.ipxe-01-52-54-00-ab-cd-0f",
		Seat{MAC: m}.Label():       "52:54:00:ab:cd:0f",
		Seat{Name: "x"}.Label():    "x",
		HostnameArg("casper", "x"): "hostname=x",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	// What iPXE fills in for ${netX/mac:hexhyp} is the name IPXEFile gives.
	chain := IPXEChain("boot.ipxe", "192.0.2.7")
	if !strings.Contains(chain, "chain --autofree http://192.0.2.7/boot.ipxe-01-${netX/mac:hexhyp} || goto sharecd_room") {
		t.Errorf("chain lines:\n%s", chain)
	}
}

func mac(t *testing.T, s string) net.HardwareAddr {
	t.Helper()
	m, err := net.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
