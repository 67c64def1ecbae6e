package firewall

// The pure part of the firewalld path: which ports a zone lacks, the firewall-cmd line that
// opens them, and the record of what a run opened.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Port is one port and protocol as firewalld writes them: "69/udp".
type Port struct {
	Num   int
	Proto string // "tcp" or "udp"
}

func (p Port) String() string { return strconv.Itoa(p.Num) + "/" + p.Proto }

// MarshalText writes p as firewalld does, for the state file.
func (p Port) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads "69/udp".
func (p *Port) UnmarshalText(b []byte) error {
	num, proto, ok := strings.Cut(string(b), "/")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || n < 1 || n > 65535 || (proto != "tcp" && proto != "udp") {
		return fmt.Errorf("not a port/protocol: %q", b)
	}
	*p = Port{n, proto}
	return nil
}

// Ports lists what h's clients reach, UDP first, each once.
func (h Hole) Ports() []Port {
	var out []Port
	for _, pp := range []struct {
		proto string
		nums  []int
	}{{"udp", h.UDP}, {"tcp", h.TCP}} {
		for _, n := range pp.nums {
			if p := (Port{n, pp.proto}); n > 0 && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// portRange is a zone's or a service's port entry: firewalld allows "2049" and "1025-65535".
type portRange struct {
	lo, hi int
	proto  string
}

func parseRange(port, proto string) (portRange, bool) {
	lo, hi, isRange := strings.Cut(port, "-")
	a, err := strconv.Atoi(lo)
	if err != nil {
		return portRange{}, false
	}
	b := a
	if isRange {
		if b, err = strconv.Atoi(hi); err != nil {
			return portRange{}, false
		}
	}
	return portRange{a, b, proto}, true
}

func (r portRange) has(p Port) bool { return r.proto == p.Proto && r.lo <= p.Num && p.Num <= r.hi }

// zoneInfo is what a zone already lets in, from its runtime configuration.
type zoneInfo struct {
	Name   string
	Target string      // "default", "ACCEPT", "DROP", "%%REJECT%%"; "" when firewalld is too old to say
	Allow  []portRange // the zone's own ports and those of its services
}

// missing lists the ports of h that zone z does not let in yet. Fedora Workstation's zone allows
// 1025-65535, so there only the ports below 1025 are missing; a zone whose target is ACCEPT
// ("trusted") lets everything in.
func missing(h Hole, z zoneInfo) []Port {
	if z.Target == "ACCEPT" {
		return nil
	}
	var out []Port
	for _, p := range h.Ports() {
		if !slices.ContainsFunc(z.Allow, func(r portRange) bool { return r.has(p) }) {
			out = append(out, p)
		}
	}
	return out
}

// Opening is what a zone lacks for a share, or what a run opened in it.
type Opening struct {
	Zone   string
	Target string
	Ports  []Port
}

// Command is the firewall-cmd line that opens o for this boot only: without --permanent,
// firewall-cmd changes only the runtime configuration, as this package does.
func (o Opening) Command() string {
	var b strings.Builder
	b.WriteString("firewall-cmd --zone=" + o.Zone)
	for _, p := range o.Ports {
		b.WriteString(" --add-port=" + p.String())
	}
	return b.String()
}

// Where names the zone for a log line.
func (o Opening) Where() string {
	if o.Target == "" {
		return "firewalld zone " + o.Zone
	}
	return fmt.Sprintf("firewalld zone %s (target %s)", o.Zone, o.Target)
}

// opened is one port a run added to a zone: exactly what it must remove again.
type opened struct {
	Zone string `json:"zone"`
	Port Port   `json:"port"`
}

func (o opened) String() string { return o.Zone + ":" + o.Port.String() }

// state is the file a run keeps while ports are open, so the next start can close what a
// killed run left open. firewalld's runtime configuration lasts until firewalld restarts or
// reloads, the file only until the next start.
type state struct {
	Firewalld []opened `json:"firewalld"`
}

// readJSON reads the record at path into v; a missing file (or no path) is no record. The
// firewalld record and the internet sharing record are both kept this way.
func readJSON(path string, v any) (bool, error) {
	if path == "" {
		return false, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	return true, nil
}

// writeJSON writes v to path by renaming a new file into place; nil removes the file.
func writeJSON(path string, v any) error {
	if path == "" {
		return nil
	}
	if v == nil {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing %s: %w", path, err)
		}
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func readState(path string) ([]opened, error) {
	var s state
	_, err := readJSON(path, &s)
	return s.Firewalld, err
}

// writeState records what is open now; nothing open removes the file. A new file is renamed
// into place, so a crash leaves the old record or the new one, never half of one.
func writeState(path string, open []opened) error {
	if len(open) == 0 {
		return writeJSON(path, nil)
	}
	return writeJSON(path, state{open})
}
