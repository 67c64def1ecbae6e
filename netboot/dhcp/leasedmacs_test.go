package dhcp

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestLeasedMACs reads back what the server saves: every MAC once, in the file's order; a
// missing file is no clients, a broken one an error naming it.
func TestLeasedMACs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "leases-eth0.json")
	exp := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	err := leaseFile(path).save([]lease{
		{MAC: "52:54:00:12:34:56", IP: netip.MustParseAddr("192.168.77.100"), Expiry: exp, Bound: true},
		{MAC: "52:54:00:ab:cd:ef", IP: netip.MustParseAddr("192.168.77.101"), Expiry: exp, Bound: true},
		{MAC: "52:54:00:12:34:56", IP: netip.MustParseAddr("192.168.77.102"), Expiry: exp, Bound: true},
		{MAC: "00:00:00:00:00:00:00:01", IP: netip.MustParseAddr("192.168.77.103"), Expiry: exp, Bound: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	macs, err := LeasedMACs(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range macs {
		got = append(got, m.String())
	}
	if want := []string{"52:54:00:12:34:56", "52:54:00:ab:cd:ef"}; !slices.Equal(got, want) {
		t.Errorf("LeasedMACs = %q, want %q", got, want)
	}

	if macs, err := LeasedMACs(filepath.Join(dir, "none.json")); err != nil || macs != nil {
		t.Errorf("missing file: %v, %v; want no MACs, no error", macs, err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{"), 0o644)
	if _, err := LeasedMACs(bad); err == nil {
		t.Error("a broken lease file read without error")
	}
}
