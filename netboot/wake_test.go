package netboot

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/sharecd/sharecd/netboot/seats"
)

// TestKnownClientsAreTheSeats: "wake all" wakes the seats file's machines, but not one it says
// not to boot, even when full mode once leased it an address; with neither, it says where it
// looked.
func TestKnownClientsAreTheSeats(t *testing.T) {
	room, err := seats.Parse([]byte(`{"seats": [
		{"mac": "52:54:00:12:34:01", "name": "desk-01"},
		{"mac": "52:54:00:12:34:02", "name": "desk-02"},
		{"mac": "52:54:00:12:34:99", "boot": false}]}`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		seats *seats.Seats
		want  string
	}{
		{"no seats file, no leases", nil, ""},
		{"the seats to boot", room, "[52:54:00:12:34:01 52:54:00:12:34:02]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &Share{Seats: tc.seats, LeaseFile: filepath.Join(t.TempDir(), "leases.json")}
			macs, err := s.KnownClients("eth0")
			if tc.want == "" {
				if !errors.Is(err, ErrNoKnownClients) {
					t.Fatalf("err = %v, want ErrNoKnownClients", err)
				}
				return
			}
			if err != nil || fmt.Sprint(macs) != tc.want {
				t.Errorf("KnownClients = %v, %v; want %s", macs, err, tc.want)
			}
		})
	}
}
