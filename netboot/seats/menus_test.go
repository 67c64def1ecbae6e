package seats

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/sharecd/sharecd/netboot/bootmenu"
)

// labMedium is the engine's test medium: Debian live-boot, an isolinux menu whose default is
// live-amd64 and whose entries already name a host (hostname=sharecd-client).
func labMedium(t *testing.T, dir string) Medium {
	t.Helper()
	fsys := os.DirFS("../testdata/debian-live-lab")
	m, _, err := bootmenu.Find(fsys)
	if err != nil {
		t.Fatal(err)
	}
	fam := bootmenu.DetectFamily(fsys, m)
	root := bootmenu.NetRoot{Server: netip.MustParseAddr("192.0.2.7"), Export: "/sharecd", BootOverHTTP: true, Prefix: dir}
	bios, err := bootmenu.RewriteForNetwork(m, fam, root, 5)
	if err != nil {
		t.Fatal(err)
	}
	return Medium{Dir: dir, Title: "Debian " + dir, Family: fam, BIOS: bios, UEFI: bios}
}

func TestForSeat(t *testing.T) {
	one := []Medium{labMedium(t, "")}
	two := []Medium{labMedium(t, "debian-a"), labMedium(t, "debian-b")}
	cases := []struct {
		name   string
		seat   Seat
		media  []Medium
		medium int
		// in the seat's pxelinux menu, and not
		want, not []string
		err       string
	}{
		{name: "entry by label, name and args", seat: Seat{Name: "desk-01", Entry: "live-amd64-failsafe", Args: "quiet mem=2G"}, media: one,
			want: []string{"default live-amd64-failsafe\n", "hostname=desk-01 quiet mem=2G\n", "timeout 50\n"},
			not:  []string{"hostname=sharecd-client"}},
		{name: "entry by title, any case", seat: Seat{Entry: "live system (AMD64 FAIL-SAFE MODE)"}, media: one,
			want: []string{"default live-amd64-failsafe\n", "hostname=sharecd-client"}},
		{name: "no entry: the medium's default", seat: Seat{Name: "desk-02"}, media: one,
			want: []string{"default live-amd64\n", "hostname=desk-02"}},
		{name: "second medium by directory", seat: Seat{Medium: "debian-b", Args: "x=1"}, media: two, medium: 1,
			want: []string{"linux debian-b/live/vmlinuz", "x=1\n"}, not: []string{"debian-a/"}},
		{name: "second medium by title", seat: Seat{Medium: "DEBIAN  debian-b"}, media: two, medium: 1,
			want: []string{"linux debian-b/live/vmlinuz"}},
		{name: "first medium by default", seat: Seat{}, media: two, want: []string{"linux debian-a/live/vmlinuz"}},
		{name: "unknown entry", seat: Seat{Name: "desk-03", Entry: "windows"}, media: one,
			err: `seat desk-03 (52:54:00:12:34:01): no entry "windows" in the menu of Debian  (entries: "live-amd64" (Live system (amd64))`},
		{name: "unknown medium", seat: Seat{Medium: "fedora"}, media: two,
			err: `no medium "fedora" in this share (media: "Debian debian-a" (debian-a), "Debian debian-b" (debian-b))`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.seat.MAC = mac(t, "52:54:00:12:34:01")
			got, err := For(tc.seat, tc.media)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Medium != tc.medium {
				t.Errorf("medium %d, want %d", got.Medium, tc.medium)
			}
			// The menus are written by the room's renderers: pxelinux's and iPXE's agree.
			pxe, ipxe := string(bootmenu.RenderPxelinux(got.BIOS)), string(bootmenu.RenderIPXE(got.UEFI))
			for _, w := range tc.want {
				if !strings.Contains(pxe, w) {
					t.Errorf("pxelinux menu lacks %q:\n%s", w, pxe)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(pxe, n) {
					t.Errorf("pxelinux menu has %q:\n%s", n, pxe)
				}
			}
			if tc.seat.Args != "" && !strings.Contains(ipxe, tc.seat.Args) {
				t.Errorf("iPXE script lacks the args:\n%s", ipxe)
			}
			// The medium's menu is not changed under the room.
			if room := string(bootmenu.RenderPxelinux(tc.media[got.Medium].BIOS)); tc.seat.Args != "" && strings.Contains(room, tc.seat.Args) {
				t.Errorf("the room's menu got the seat's args:\n%s", room)
			}
		})
	}
}

func TestHostnameArgByFamily(t *testing.T) {
	for fam, want := range map[bootmenu.Family]string{
		bootmenu.FamilyLiveBoot: "hostname=desk-01",
		bootmenu.FamilyCasper:   "hostname=desk-01",
		bootmenu.FamilyDracut:   "systemd.hostname=desk-01",
		bootmenu.FamilyArchiso:  "systemd.hostname=desk-01",
		bootmenu.FamilyMiso:     "systemd.hostname=desk-01",
		bootmenu.FamilyUnknown:  "",
	} {
		if got := HostnameArg(fam, "desk-01"); got != want {
			t.Errorf("%q: %q, want %q", fam, got, want)
		}
	}
}

// FuzzParse: any input is a seats file or one line saying why not; a parsed file's seats are
// found by their MACs, each once, with names and args every loader can be given.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"room.json", "dup-mac.json", "bad-args.json", "syntax.json"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error of more than one line: %q", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, st := range s.All() {
			if len(st.MAC) != 6 || seen[st.MAC.String()] {
				t.Fatalf("seat %+v: bad or repeated MAC", st)
			}
			seen[st.MAC.String()] = true
			if got, ok := s.Lookup(st.MAC); !ok || got.Name != st.Name {
				t.Fatalf("Lookup(%s) = %+v, %v", st.MAC, got, ok)
			}
			if st.Name != "" && checkHostname(st.Name) != nil || checkArgs(st.Args) != nil || strings.ContainsAny(st.Args+st.Name, "\n\"$;") {
				t.Fatalf("seat %+v: name or args a loader cannot be given", st)
			}
		}
	})
}
