// roomtrace turns a capture of one client booting from sharecd into the text trace
// bench/room.sh replays (bench/testdata/room-trace.txt).
//
//	roomtrace [-server 10.78.0.2] [-note TEXT] boot.pcap > trace.txt
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sort"
	"strings"

	"github.com/sharecd/sharecd/bench/room"
)

func main() {
	server := flag.String("server", "10.78.0.2", "the server's address in the capture")
	note := flag.String("note", "", "a line for the trace's header: where the capture came from")
	flag.Parse()
	if err := run(flag.Arg(0), *server, *note); err != nil {
		slog.Error("roomtrace", "err", err)
		os.Exit(1)
	}
}

func run(file, server, note string) error {
	addr, err := netip.ParseAddr(server)
	if err != nil {
		return fmt.Errorf("-server: %w", err)
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	ops, st, err := room.FromPcap(f, addr)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	var other []string
	for name, n := range st.NFSOther {
		other = append(other, fmt.Sprintf("%s %d", name, n))
	}
	sort.Strings(other)
	head := []string{
		"One network boot as the server saw it, from the client's first DHCP packet on: call and done",
		"are seconds since that packet (request sent, last packet of the answer), then kind, path,",
		"offset, count (see bench/room/trace.go). Made by bench/roomtrace from a tcpdump capture.",
	}
	if note != "" {
		head = append(head, note)
	}
	head = append(head, fmt.Sprintf("%d packets; NFS READ replies carried %d bytes; left out: NFS %s; TCP streams with capture gaps: %d",
		st.Packets, st.ReadData, strings.Join(other, ", "), st.Gaps))
	return room.Write(os.Stdout, head, ops)
}
