// roomclient is one simulated client of bench/room.sh: it replays the network boot in a trace
// (bench/testdata/room-trace.txt, made by bench/roomtrace) against a server, with the client's
// own pauses between requests as recorded, and prints how long it took as one JSON line.
//
//	roomclient -trace FILE -server IP -iface DEV [-stack sharecd|stock] [-start UNIXNANO] [-gaps 1]
//	roomclient -trace FILE -floor [-rate 1e9] [-clients N]   (what no server can beat, see floor)
//
// The stock stack has no HTTP and boots pxelinux: there the trace's first TFTP file stands for
// pxelinux and the files it fetches (-loaders), and its HTTP files are fetched over TFTP, as
// pxelinux fetches a kernel and initrd.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/pin/tftp/v3"

	"github.com/sharecd/sharecd/bench/room"
)

type config struct {
	trace, server, iface, stack, loaders string
	opsFile                              string
	start                                int64
	clients                              int
	gaps, rate                           float64
	floor                                bool
}

// result is what one client prints.
type result struct {
	Stack    string  `json:"stack"`
	Iface    string  `json:"iface"`
	Total    float64 `json:"total_s"`  // from the start until its last answer
	Kernel   float64 `json:"kernel_s"` // until it had its kernel and initrd
	Bytes    int64   `json:"bytes"`
	Ops      int     `json:"ops"`
	Errors   int     `json:"errors"`
	Error    string  `json:"first_error,omitempty"`
	BootFile string  `json:"boot_file,omitempty"` // what the 4011 ACK named
}

func main() {
	var c config
	flag.StringVar(&c.trace, "trace", "bench/testdata/room-trace.txt", "the trace to replay")
	flag.StringVar(&c.server, "server", "", "the server's address")
	flag.StringVar(&c.iface, "iface", "", "the client's interface (DHCP goes out on it)")
	flag.StringVar(&c.stack, "stack", "sharecd", "sharecd, or stock (pxelinux over TFTP, no HTTP)")
	flag.StringVar(&c.loaders, "loaders", "pxelinux.0,ldlinux.c32,pxelinux.cfg/default,menu.c32,libutil.c32,libcom32.c32",
		"stock: what pxelinux fetches before the kernel, in order")
	flag.Int64Var(&c.start, "start", 0, "start at this time (Unix nanoseconds), so that a room starts at once")
	flag.Float64Var(&c.gaps, "gaps", 1, "scale the client's recorded pauses by this")
	flag.StringVar(&c.opsFile, "ops", "", "write each op's replayed call and done times here (the trace's format)")
	flag.BoolVar(&c.floor, "floor", false, "print the client's floor and bytes, replay nothing")
	flag.Float64Var(&c.rate, "rate", 1e9, "-floor: the link's rate in bit/s")
	flag.IntVar(&c.clients, "clients", 1, "-floor: how many clients start together")
	flag.Parse()
	if err := run(c); err != nil {
		slog.Error("roomclient", "err", err)
		os.Exit(1)
	}
}

func run(c config) error {
	f, err := os.Open(c.trace)
	if err != nil {
		return err
	}
	ops, err := room.Read(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", c.trace, err)
	}
	if c.floor {
		return json.NewEncoder(os.Stdout).Encode(floor(ops, c.gaps, c.rate, c.clients))
	}
	r, err := replay(c, ops)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// floor is what no server can beat for n clients of this trace starting together on a link of
// rate bit/s. Three bounds, the largest of which is the limit:
//   - link_s: all the clients' bytes through the link (what the issue calls the physical limit);
//   - client_s: one client alone, its pauses along its chain of requests and its own bytes at
//     the full rate (with the pauses recorded, this is the client's CPU time under TCG);
//   - room_s: no client asks for a byte before its pauses allow (issue time with instant
//     answers), so from any such moment t on, every byte the n clients ask for from t on must
//     still cross the link: t + n × those bytes / rate, at its largest t.
func floor(ops []room.Op, gaps, rate float64, n int) map[string]float64 {
	dep, gap := room.After(ops)
	issue, full := make([]float64, len(ops)), make([]float64, len(ops))
	bytes := make([]float64, len(ops))
	var total, think, client float64
	for i, o := range ops {
		var t0, f0 float64
		if dep[i] >= 0 {
			t0, f0 = issue[dep[i]], full[dep[i]]
		}
		if o.Kind == "tftp" || o.Kind == "http" || o.Kind == "read" {
			bytes[i] = float64(o.Count)
		}
		total += bytes[i]
		issue[i] = t0 + gap[i]*gaps
		full[i] = f0 + gap[i]*gaps + bytes[i]*8/rate
		think, client = max(think, issue[i]), max(client, full[i])
	}
	var roomS float64
	for k := range ops {
		var later float64
		for i := range ops {
			if issue[i] >= issue[k] {
				later += bytes[i]
			}
		}
		roomS = max(roomS, issue[k]+float64(n)*later*8/rate)
	}
	link := float64(n) * total * 8 / rate
	return map[string]float64{"bytes": total, "ops": float64(len(ops)), "think_s": think, "client_s": client,
		"link_s": link, "room_s": roomS, "limit_s": max(link, client, roomS)}
}

// client is one replay's state.
type client struct {
	c       config
	local   net.IP
	dhcp    *dhcpConn
	pxeDone bool // the ROM's DHCP is over: later DHCP is the initramfs'
	loaded  bool // stock: the loaders are fetched
	nfs     *nfsClient
	mounted chan struct{}

	mu  sync.Mutex
	res result
}

func replay(c config, ops []room.Op) (result, error) {
	ifc, err := net.InterfaceByName(c.iface)
	if err != nil {
		return result{}, err
	}
	addrs, err := ifc.Addrs()
	if err != nil || len(addrs) == 0 {
		return result{}, fmt.Errorf("%s has no address: %v", c.iface, err)
	}
	cl := &client{c: c, local: addrs[0].(*net.IPNet).IP.To4(), mounted: make(chan struct{}),
		res: result{Stack: c.stack, Iface: c.iface, Ops: len(ops)}}
	cl.dhcp, err = newDHCP(c.iface, ifc.HardwareAddr, net.ParseIP(c.server))
	if err != nil {
		return result{}, err
	}
	defer cl.dhcp.conn.Close()
	// The ROM's DHCP is what comes before its first file.
	firstFile := len(ops)
	for i, o := range ops {
		if o.Kind == "tftp" || o.Kind == "http" {
			firstFile = i
			break
		}
	}
	// Times count from the room's start, even for a client whose process started late.
	start := time.Now()
	if c.start > 0 {
		start = time.Unix(0, c.start)
		time.Sleep(time.Until(start))
	}
	dep, gap := room.After(ops)
	done := make([]chan struct{}, len(ops))
	for i := range done {
		done[i] = make(chan struct{})
	}
	var wg sync.WaitGroup
	var last time.Time
	replayed := make([]room.Op, len(ops))
	for i, o := range ops {
		wg.Go(func() {
			defer close(done[i])
			if dep[i] >= 0 {
				<-done[dep[i]]
			}
			time.Sleep(time.Duration(gap[i] * c.gaps * float64(time.Second)))
			call := time.Since(start).Seconds()
			n, err := cl.do(o, i < firstFile)
			replayed[i] = o
			replayed[i].Call, replayed[i].Done = call, time.Since(start).Seconds()
			cl.mu.Lock()
			defer cl.mu.Unlock()
			cl.res.Bytes += n
			if err != nil {
				cl.res.Errors++
				if cl.res.Error == "" {
					cl.res.Error = err.Error()
				}
			}
			now := time.Now()
			if now.After(last) {
				last = now
			}
			if o.Kind == "http" || (o.Kind == "tftp" && cl.res.Kernel == 0) {
				cl.res.Kernel = max(cl.res.Kernel, now.Sub(start).Seconds())
			}
		})
	}
	wg.Wait()
	if cl.nfs != nil {
		cl.nfs.rpc.Close()
	}
	cl.res.Total = last.Sub(start).Seconds()
	if c.opsFile != "" {
		f, err := os.Create(c.opsFile)
		if err != nil {
			return cl.res, err
		}
		defer f.Close()
		head := []string{fmt.Sprintf("replayed by roomclient -stack %s -gaps %g", c.stack, c.gaps)}
		if err := room.Write(f, head, replayed); err != nil {
			return cl.res, fmt.Errorf("writing %s: %w", c.opsFile, err)
		}
	}
	return cl.res, nil
}

// do replays one op; returns the bytes it brought.
func (cl *client) do(o room.Op, rom bool) (int64, error) {
	switch o.Kind {
	case "dhcp":
		typ, port := dhcpType(o.Path)
		if !rom {
			return 0, cl.dhcp.send(typ, port, false)
		}
		if typ == dhcpv4.MessageTypeDiscover && o.Count == 1 {
			m, err := cl.dhcp.message(typ, true)
			if err != nil {
				return 0, err
			}
			_, err = cl.dhcp.exchange(m, net.IPv4bcast, port, true)
			return 0, err
		}
		if err := cl.dhcp.send(typ, port, true); err != nil {
			return 0, err
		}
		if typ == dhcpv4.MessageTypeRequest && !cl.pxeDone {
			// The ROM has its address from the router: now the boot server on 4011.
			cl.pxeDone = true
			file, err := cl.dhcp.pxe(cl.local)
			cl.mu.Lock()
			cl.res.BootFile = file
			cl.mu.Unlock()
			return 0, err
		}
		return 0, nil
	case "tftp":
		if cl.c.stack == "stock" && !cl.loaded {
			cl.loaded = true
			var total int64
			for i, f := range strings.Split(cl.c.loaders, ",") {
				// The ROM asks for pxelinux.0 as iPXE does (blksize 1432); pxelinux for the rest.
				n, err := cl.tftp(f, map[bool]int{true: 1432, false: 1408}[i == 0])
				total += n
				if err != nil {
					return total, err
				}
			}
			return total, nil
		}
		if cl.c.stack == "stock" {
			return cl.tftp(o.Path, 1408)
		}
		return cl.tftp(o.Path, 1432)
	case "http":
		if cl.c.stack == "stock" {
			return cl.tftp(o.Path, 1408)
		}
		return cl.http(o.Path)
	case "mount":
		var err error
		cl.nfs, err = mount(cl.c.server, o.Path)
		close(cl.mounted)
		return 0, err
	}
	<-cl.mounted
	if cl.nfs == nil {
		return 0, fmt.Errorf("%s %s: not mounted", o.Kind, o.Path)
	}
	switch o.Kind {
	case "lookup":
		_, _, err := cl.nfs.lookup(o.Path)
		return 0, err
	case "readdir":
		return 0, cl.nfs.readdir(o.Path)
	case "read":
		return cl.nfs.read(o.Path, o.Offset, o.Count)
	}
	return 0, fmt.Errorf("unknown op %q", o.Kind)
}

func (cl *client) tftp(file string, blksize int) (int64, error) {
	t, err := tftp.NewClient(net.JoinHostPort(cl.c.server, "69"))
	if err != nil {
		return 0, err
	}
	t.SetBlockSize(blksize)
	t.RequestTSize(true)
	t.SetTimeout(time.Second)
	t.SetRetries(10)
	wt, err := t.Receive(file, "octet")
	if err != nil {
		return 0, fmt.Errorf("TFTP %s: %w", file, err)
	}
	n, err := wt.WriteTo(io.Discard)
	if err != nil {
		return n, fmt.Errorf("TFTP %s: %w", file, err)
	}
	return n, nil
}

func (cl *client) http(file string) (int64, error) {
	resp, err := http.Get("http://" + net.JoinHostPort(cl.c.server, "80") + "/" + file)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("HTTP %s: %s", file, resp.Status)
	}
	return n, err
}

// dhcpType reads an op's "discover/67".
func dhcpType(p string) (dhcpv4.MessageType, int) {
	typ, port, _ := strings.Cut(p, "/")
	t := map[string]dhcpv4.MessageType{"discover": dhcpv4.MessageTypeDiscover, "request": dhcpv4.MessageTypeRequest,
		"inform": dhcpv4.MessageTypeInform, "release": dhcpv4.MessageTypeRelease}[typ]
	if t == 0 {
		t = dhcpv4.MessageTypeDiscover
	}
	if port == "4011" {
		return t, 4011
	}
	return t, 67
}
