// Package room is the trace bench/room.sh replays: what one real network-booting client asked
// of the server, from its first DHCP packet to login:, with when it asked and when it had the
// answer. roomtrace makes it from a capture (FromPcap), roomclient replays it.
package room

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Op is one request of the client and its answer.
type Op struct {
	// Call is when the client sent the request, Done when the last packet of the answer went by,
	// in seconds since the client's first packet.
	Call, Done float64
	// Kind is dhcp, tftp, http, mount, lookup or read.
	Kind string
	// Path: dhcp: message type and port ("discover/67"); tftp and http: the file asked for;
	// mount: the export; lookup and read: the file's path from the export's root.
	Path string
	// Offset is where a read starts. Count is what a read asked for, what a tftp or http
	// transfer brought, and for dhcp 1 if the server answered, 0 if not.
	Offset, Count int64
}

// Write prints a trace, one op a line, under the comment lines of head.
func Write(w io.Writer, head []string, ops []Op) error {
	bw := bufio.NewWriter(w)
	for _, h := range head {
		fmt.Fprintf(bw, "# %s\n", h)
	}
	for _, o := range ops {
		fmt.Fprintf(bw, "%.6f %.6f %s %s %d %d\n", o.Call, o.Done, o.Kind, o.Path, o.Offset, o.Count)
	}
	return bw.Flush()
}

// Read parses what Write printed; comment lines are left out.
func Read(r io.Reader) ([]Op, error) {
	var ops []Op
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 6 {
			return nil, fmt.Errorf("trace line %d: %d fields, want 6", n, len(f))
		}
		var o Op
		var err error
		o.Kind, o.Path = f[2], f[3]
		nums := []struct {
			s   string
			dst any
		}{{f[0], &o.Call}, {f[1], &o.Done}, {f[4], &o.Offset}, {f[5], &o.Count}}
		for _, x := range nums {
			switch d := x.dst.(type) {
			case *float64:
				*d, err = strconv.ParseFloat(x.s, 64)
			case *int64:
				*d, err = strconv.ParseInt(x.s, 10, 64)
			}
			if err != nil {
				return nil, fmt.Errorf("trace line %d: %w", n, err)
			}
		}
		ops = append(ops, o)
	}
	return ops, sc.Err()
}

// After says which op each op waited for: the one whose answer came last before it was sent
// (-1: none, it waited from the start), and how long after that answer it was sent. A replay
// that sends each op that long after its own answer to that op keeps the client's think time
// (its CPU, under TCG) and its requests in flight, and lets a slower server delay the rest.
func After(ops []Op) (dep []int, gap []float64) {
	dep, gap = make([]int, len(ops)), make([]float64, len(ops))
	for i, o := range ops {
		dep[i], gap[i] = -1, o.Call
		for j, p := range ops[:i] { // sorted by Call, so only earlier ops can have answered
			if p.Done <= o.Call && (dep[i] < 0 || p.Done > ops[dep[i]].Done) {
				dep[i], gap[i] = j, o.Call-p.Done
			}
		}
	}
	return dep, gap
}
