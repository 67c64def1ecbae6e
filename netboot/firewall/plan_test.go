package firewall

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var shareHole = Hole{Iface: "s0", UDP: []int{67, 69, 111, 4011}, TCP: []int{111, 2049, 80}}

func ports(t *testing.T, ss ...string) []Port {
	t.Helper()
	var out []Port
	for _, s := range ss {
		var p Port
		if err := p.UnmarshalText([]byte(s)); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func ranges(t *testing.T, pairs ...string) []portRange {
	t.Helper()
	var out []portRange
	for i := 0; i < len(pairs); i += 2 {
		r, ok := parseRange(pairs[i], pairs[i+1])
		if !ok {
			t.Fatalf("parseRange(%q)", pairs[i])
		}
		out = append(out, r)
	}
	return out
}

func TestHolePorts(t *testing.T) {
	h := Hole{UDP: []int{67, 69, 67, 0}, TCP: []int{111, 2049, 111}}
	if got, want := h.Ports(), ports(t, "67/udp", "69/udp", "111/tcp", "2049/tcp"); !slices.Equal(got, want) {
		t.Errorf("Ports() = %v, want %v", got, want)
	}
}

func TestPortText(t *testing.T) {
	for _, bad := range []string{"69", "69/sctp", "0/udp", "70000/tcp", "x/udp", ""} {
		var p Port
		if err := p.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) = %v, want an error", bad, p)
		}
	}
	if _, ok := parseRange("1025-x", "tcp"); ok {
		t.Error(`parseRange("1025-x") accepted`)
	}
}

// TestMissing diffs the share's ports against zones as firewalld reports them: each port a zone
// lets in, by a port, a range or a service, is left alone.
func TestMissing(t *testing.T) {
	for _, c := range []struct {
		name string
		zone zoneInfo
		want []string
	}{
		// Debian's and openSUSE's public zone: services ssh (22/tcp) and dhcpv6-client (546/udp).
		{"public", zoneInfo{Target: "default", Allow: ranges(t, "22", "tcp", "546", "udp")},
			[]string{"67/udp", "69/udp", "111/udp", "4011/udp", "111/tcp", "2049/tcp", "80/tcp"}},
		// Fedora Workstation's zone (FedoraWorkstation.xml): ports 1025-65535 tcp and udp, and
		// the services dhcpv6-client, ssh, samba-client (137/udp, 138/udp).
		{"FedoraWorkstation", zoneInfo{Target: "default", Allow: ranges(t,
			"1025-65535", "udp", "1025-65535", "tcp", "546", "udp", "22", "tcp", "137", "udp", "138", "udp")},
			[]string{"67/udp", "69/udp", "111/udp", "111/tcp", "80/tcp"}},
		// An administrator who shares NFS already: services nfs (2049/tcp), rpc-bind (111 both),
		// tftp (69/udp).
		{"nfs server", zoneInfo{Target: "%%REJECT%%", Allow: ranges(t, "2049", "tcp", "111", "tcp", "111", "udp", "69", "udp")},
			[]string{"67/udp", "4011/udp", "80/tcp"}},
		// A range of another protocol does not count.
		{"udp range only", zoneInfo{Target: "DROP", Allow: ranges(t, "1-65535", "udp")},
			[]string{"111/tcp", "2049/tcp", "80/tcp"}},
		{"trusted", zoneInfo{Target: "ACCEPT"}, nil},
		// firewalld before 0.9 does not say the target: the ports decide.
		{"old firewalld", zoneInfo{Allow: ranges(t, "1-1024", "udp", "1-65535", "tcp")}, []string{"4011/udp"}},
	} {
		got := missing(shareHole, c.zone)
		var want []Port
		if c.want != nil {
			want = ports(t, c.want...)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: missing = %v, want %v", c.name, got, want)
		}
	}
}

func TestCommand(t *testing.T) {
	o := Opening{Zone: "FedoraWorkstation", Target: "default", Ports: ports(t, "67/udp", "69/udp", "111/udp", "111/tcp")}
	want := "firewall-cmd --zone=FedoraWorkstation --add-port=67/udp --add-port=69/udp --add-port=111/udp --add-port=111/tcp"
	if got := o.Command(); got != want {
		t.Errorf("Command() = %q, want %q", got, want)
	}
	if got, want := o.Where(), "firewalld zone FedoraWorkstation (target default)"; got != want {
		t.Errorf("Where() = %q, want %q", got, want)
	}
}

// TestState writes the record a run keeps, reads it back, and checks that an empty record
// leaves no file behind and that a missing file reads as nothing.
func TestState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "firewall-s0.json")
	if got, err := readState(path); err != nil || got != nil {
		t.Fatalf("missing file: %v, %v", got, err)
	}
	open := []opened{{"public", Port{69, "udp"}}, {"public", Port{2049, "tcp"}}}
	if err := writeState(path, open); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if want := `{"firewalld":[{"zone":"public","port":"69/udp"},{"zone":"public","port":"2049/tcp"}]}` + "\n"; string(b) != want {
		t.Errorf("file:\n%s\nwant:\n%s", b, want)
	}
	got, err := readState(path)
	if err != nil || !slices.Equal(got, open) {
		t.Errorf("read back %v, %v; want %v", got, err, open)
	}
	if err := writeState(path, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("an empty record left the file: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 0 {
		t.Errorf("left in the state directory: %v", entries)
	}
	if err := writeState("", open); err != nil {
		t.Errorf("no path: %v", err)
	}

	os.WriteFile(path, []byte(`{"firewalld":[{"zone":"public","port":"69"}]}`), 0o644)
	if _, err := readState(path); err == nil {
		t.Error("a bad port in the record was read without an error")
	}
	var s state
	if err := json.Unmarshal([]byte(`{}`), &s); err != nil || s.Firewalld != nil {
		t.Errorf("empty object: %v %v", s, err)
	}
}
