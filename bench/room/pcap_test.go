package room

import (
	"bytes"
	"net/netip"
	"os"
	"reflect"
	"testing"
)

// TestFromPcap reads the start of the real capture the committed trace came from.
func TestFromPcap(t *testing.T) {
	f, err := os.Open("testdata/boot-start.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ops, st, err := FromPcap(f, netip.MustParseAddr("10.78.0.2"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Gaps != 0 {
		t.Errorf("%d TCP streams with gaps, want none", st.Gaps)
	}
	find := func(kind, path string) *Op {
		for i := range ops {
			if ops[i].Kind == kind && ops[i].Path == path {
				return &ops[i]
			}
		}
		t.Fatalf("no %s %s in %d ops", kind, path, len(ops))
		return nil
	}
	// The proxy answered the ROM's first DISCOVER; nobody on the server's side the REQUEST
	// that accepted the router's offer.
	if o := ops[0]; o.Kind != "dhcp" || o.Path != "discover/67" || o.Count != 1 || o.Call != 0 {
		t.Errorf("first op %+v, want the answered DISCOVER at 0", o)
	}
	if o := find("dhcp", "request/67"); o.Count != 0 {
		t.Errorf("REQUEST to the router answered by the server: %+v", o)
	}
	if o := find("tftp", "boot.ipxe"); o.Count != 768 {
		t.Errorf("boot.ipxe: %d bytes, want 768", o.Count)
	}
	find("mount", "/sharecd")
	find("lookup", "live")
	find("readdir", "live")
	// The squashfs's handle came from READDIRPLUS, not a LOOKUP.
	var reads []Op
	for _, o := range ops {
		if o.Kind == "read" {
			reads = append(reads, o)
		}
	}
	if len(reads) != 6 || reads[2].Path != "live/filesystem.squashfs" || reads[2].Offset != 0 || reads[2].Count != 16384 {
		t.Errorf("reads: %+v", reads)
	}
	for i := 1; i < len(ops); i++ {
		if ops[i].Call < ops[i-1].Call || ops[i].Done < ops[i].Call {
			t.Errorf("op %d out of order: %+v after %+v", i, ops[i], ops[i-1])
		}
	}

	// What Write prints, Read reads back (to the microsecond).
	var buf bytes.Buffer
	if err := Write(&buf, []string{"test"}, ops); err != nil {
		t.Fatal(err)
	}
	back, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	Write(&again, []string{"test"}, back)
	buf.Reset()
	Write(&buf, []string{"test"}, ops)
	if !reflect.DeepEqual(buf.Bytes(), again.Bytes()) {
		t.Error("Write∘Read is not the identity")
	}
}

func TestAfter(t *testing.T) {
	ops := []Op{
		{Call: 0, Done: 1},
		{Call: 1.5, Done: 2},  // after op 0, 0.5 s later
		{Call: 1.6, Done: 3},  // after op 0 too: sent while op 1 was in flight
		{Call: 3.25, Done: 4}, // after op 2, whose answer came last
	}
	dep, gap := After(ops)
	if want := []int{-1, 0, 0, 2}; !reflect.DeepEqual(dep, want) {
		t.Errorf("dep %v, want %v", dep, want)
	}
	if want := []float64{0, 0.5, 0.6, 0.25}; !reflect.DeepEqual(roundAll(gap), want) {
		t.Errorf("gap %v, want %v", gap, want)
	}
}

func roundAll(f []float64) []float64 {
	r := make([]float64, len(f))
	for i, v := range f {
		r[i] = float64(int(v*1000+0.5)) / 1000
	}
	return r
}
