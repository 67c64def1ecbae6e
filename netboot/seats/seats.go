// Package seats reads the seats file, which names the machines of a room by their MAC address
// (a library's thin clients, a classroom), and says what each of them boots: its hostname, its
// menu's default entry, extra kernel arguments, or nothing at all. Everything per seat is
// decided here: the engine asks Lookup for a client, and Menus for the menus a seat is given;
// the loaders find those menus by the MAC in their names (File).
//
// The file is JSON, because the standard library reads it: a share must start on a live system
// with nothing installed, and a syntax error then names the line and column.
//
//	{"seats": [
//	  {"mac": "52:54:00:12:34:01", "name": "desk-01", "entry": "live", "args": "quiet"},
//	  {"mac": "52:54:00:12:34:02", "name": "desk-02", "medium": "ubuntu-24-04"},
//	  {"mac": "52:54:00:12:34:99", "boot": false}
//	]}
package seats

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
)

// DefaultFile is read when no --seats is given; a missing one means no seats.
const DefaultFile = "/etc/sharecd/seats.json"

// maxFile bounds the file read: a room is hundreds of seats, a few tens of kB.
const maxFile = 4 << 20

// Seat is one machine of the room.
type Seat struct {
	MAC net.HardwareAddr
	// Name is its hostname ("" = none): the DHCP answer's option 12 in full mode, and the
	// family's hostname argument on its kernel command line (HostnameArg).
	Name string
	// Entry is the menu entry it boots when its menu times out, by label or by title; "" = the
	// medium's default.
	Entry string
	// Medium is which medium it boots when the share has several, by its directory or its
	// title; "" = the first.
	Medium string
	// Args are added to the command line of every kernel its menus boot.
	Args string
	// NoBoot: the machine is left alone. It gets no DHCP or PXE answer at all, so it goes on to
	// its next boot device (its own disk), as if there were no share.
	NoBoot bool
}

// Label is how logs and the window name the machine: its name, else its MAC.
func (s Seat) Label() string {
	if s.Name != "" {
		return s.Name
	}
	return s.MAC.String()
}

// Seats is a parsed seats file. The zero value and nil have no seats.
type Seats struct {
	list  []Seat
	byMAC map[string]int // index of list by MAC.String()
}

// fileSeat is a seat as the file writes it.
type fileSeat struct {
	MAC    string `json:"mac"`
	Name   string `json:"name"`
	Entry  string `json:"entry"`
	Medium string `json:"medium"`
	Args   string `json:"args"`
	Boot   *bool  `json:"boot"` // absent = true
}

type file struct {
	Seats []fileSeat `json:"seats"`
}

// Load reads the seats file at path. With optional, a missing file is no seats (the default
// path, which most shares do not have); a file named on the command line must exist.
func Load(path string, optional bool) (*Seats, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) && optional {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("seats file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("seats file %s: %w", path, err)
	}
	if len(b) > maxFile {
		return nil, fmt.Errorf("seats file %s: larger than %d bytes", path, maxFile)
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("seats file %s: %w", path, err)
	}
	return s, nil
}

// Parse reads a seats file. Its error is one line naming the seat (by its place in the list,
// counted from 1) and what is wrong with it. Unknown keys are refused: a misspelt "boot" would
// otherwise boot a machine meant to be left alone.
func Parse(b []byte) (*Seats, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f file
	if err := dec.Decode(&f); err != nil {
		return nil, jsonError(b, err)
	}
	if dec.More() {
		return nil, errors.New("text after the JSON object")
	}
	s := &Seats{byMAC: map[string]int{}}
	names := map[string]int{}
	for i, fs := range f.Seats {
		st, err := fs.seat()
		if err != nil {
			return nil, fmt.Errorf("seat %d: %w", i+1, err)
		}
		key := st.MAC.String()
		if j, dup := s.byMAC[key]; dup {
			return nil, fmt.Errorf("seat %d: MAC %s is already seat %d (%s)", i+1, key, j+1, s.list[j].Label())
		}
		if st.Name != "" {
			lower := strings.ToLower(st.Name)
			if j, dup := names[lower]; dup {
				return nil, fmt.Errorf("seat %d: name %q is already seat %d's (%s)", i+1, st.Name, j+1, s.list[j].MAC)
			}
			names[lower] = i
		}
		s.byMAC[key] = i
		s.list = append(s.list, st)
	}
	return s, nil
}

// jsonError says where the JSON is wrong, by line and column.
func jsonError(b []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	off := int64(-1)
	switch {
	case errors.As(err, &syn):
		off = syn.Offset - 1 // Offset counts the byte that was wrong
	case errors.As(err, &typ):
		off = typ.Offset
	}
	if off < 0 || off >= int64(len(b)) {
		return fmt.Errorf("not a seats file: %s", oneLine(err.Error()))
	}
	line := 1 + bytes.Count(b[:off], []byte("\n"))
	col := off - int64(bytes.LastIndexByte(b[:off], '\n'))
	return fmt.Errorf("line %d, column %d: %s", line, col, oneLine(err.Error()))
}

func (f fileSeat) seat() (Seat, error) {
	mac, err := parseMAC(f.MAC)
	if err != nil {
		return Seat{}, err
	}
	st := Seat{MAC: mac, Name: f.Name, Entry: strings.TrimSpace(f.Entry), Medium: strings.TrimSpace(f.Medium),
		Args: strings.Join(strings.Fields(f.Args), " "), NoBoot: f.Boot != nil && !*f.Boot}
	if st.Name != "" {
		if err := checkHostname(st.Name); err != nil {
			return Seat{}, fmt.Errorf("%s: %w", mac, err)
		}
	}
	if err := checkArgs(st.Args); err != nil {
		return Seat{}, fmt.Errorf("%s: %w", mac, err)
	}
	for what, v := range map[string]string{"entry": st.Entry, "medium": st.Medium} {
		if strings.ContainsFunc(v, isControl) || len(v) > 255 {
			return Seat{}, fmt.Errorf("%s: %s %q: control characters or longer than 255 bytes", mac, what, v)
		}
	}
	return st, nil
}

// parseMAC takes an Ethernet address as people write it: colons or hyphens, either case.
// net.ParseMAC also takes 8- and 20-byte addresses, which no PXE client on Ethernet has.
func parseMAC(s string) (net.HardwareAddr, error) {
	if s == "" {
		return nil, errors.New(`no "mac"`)
	}
	mac, err := net.ParseMAC(strings.TrimSpace(s))
	if err != nil || len(mac) != 6 {
		return nil, fmt.Errorf("bad MAC %q: want six hex bytes like 52:54:00:12:34:56", s)
	}
	return mac, nil
}

// checkHostname: one DNS label (RFC 1123): what option 12 and every family's hostname argument
// take as it is, and what a login prompt shows.
func checkHostname(n string) error {
	bad := fmt.Errorf("bad name %q: a hostname is 1 to 63 letters, digits and hyphens, not starting or ending with a hyphen", n)
	if n == "" || len(n) > 63 || n[0] == '-' || n[len(n)-1] == '-' {
		return bad
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return bad
		}
	}
	return nil
}

// checkArgs keeps the arguments to what every loader writes as it is: pxelinux's append line,
// GRUB's linux line (quotes, $ and ; are syntax), iPXE's kernel line (${ expands, # comments).
func checkArgs(a string) error {
	if len(a) > 512 {
		return errors.New("args longer than 512 bytes")
	}
	for _, c := range a {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(" ._,:=/+@%-", c)
		if !ok {
			return fmt.Errorf("args %q: %q is not allowed (letters, digits, spaces and . _ , : = / + @ %% - are)", a, c)
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Len is the number of seats.
func (s *Seats) Len() int {
	if s == nil {
		return 0
	}
	return len(s.list)
}

// All are the seats in the file's order.
func (s *Seats) All() []Seat {
	if s == nil {
		return nil
	}
	return append([]Seat(nil), s.list...)
}

// Lookup finds the seat of mac; ok false for a client the file does not name, which boots what
// every client boots.
func (s *Seats) Lookup(mac net.HardwareAddr) (Seat, bool) {
	if s == nil || len(mac) == 0 {
		return Seat{}, false
	}
	i, ok := s.byMAC[mac.String()]
	if !ok {
		return Seat{}, false
	}
	return s.list[i], true
}

// NoBoot says whether mac is a seat that is not to boot.
func (s *Seats) NoBoot(mac net.HardwareAddr) bool {
	st, ok := s.Lookup(mac)
	return ok && st.NoBoot
}

// Hostname is mac's seat name, "" for none.
func (s *Seats) Hostname(mac net.HardwareAddr) string {
	st, _ := s.Lookup(mac)
	return st.Name
}
