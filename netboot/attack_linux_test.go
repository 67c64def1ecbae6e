package netboot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"golang.org/x/sys/unix"

	"github.com/sharecd/sharecd/assets"
	"github.com/sharecd/sharecd/netboot/netlab"
)

// The attack lab: a LAN of network namespaces (a bridge in a switch namespace) with sharecd's
// server, one legitimate client and one attacker, which also speaks from attackHosts more
// addresses. Nothing of it touches the machine's own interfaces.
const (
	atkNet      = "10.78.5."
	atkServer   = atkNet + "2"
	atkLegit    = atkNet + "50"
	atkAttacker = atkNet + "66"
	attackHosts = 20 // extra attacker addresses, .100 up
	// attackNofile is sharecd's open-file limit in the lab: low, so that exhausting it is cheap,
	// as the issue found it.
	attackNofile = 256
)

type attackLab struct {
	t                  *testing.T
	srv, legit, atk    string // namespaces
	dir                string
	proc               *netlab.Proc
	pid                int
	vmlinuz, pxelinux0 []byte
}

// TestMain first removes what an earlier, killed run of the attack lab left: its namespaces and
// the processes in them (netlab.RemoveLeftovers).
func TestMain(m *testing.M) {
	netlab.RemoveLeftovers(os.Stderr)
	os.Exit(m.Run())
}

// TestAttackFloods is issue 27's attack battery, bounded in count and time: the real sharecd
// binary, run with an open-file limit of 256, is flooded from an attacker on its LAN (idle TCP
// connections to NFS and the portmapper from one host and from many, TFTP read requests never
// ACKed, DISCOVERs from made-up MACs). After each flood a legitimate client still fetches the
// loader over TFTP, the kernel over HTTP and over NFS, with curl and libnfs's nfs-cp, and the
// share is still running. It logs what it measured: the load held, sharecd's RSS and
// descriptors under it, and what a client over a bound sees.
func TestAttackFloods(t *testing.T) {
	if testing.Short() {
		t.Skip("attack lab: not with -short")
	}
	netlab.Require(t, "prlimit", "curl", "nfs-cp", "ss")
	a := newAttackLab(t)
	a.start()

	figures := []string{fmt.Sprintf("idle: RSS %d kB, %d descriptors", a.rss(), a.fds())}
	a.fetchAll("before any flood")

	// 1. One host opens 1,000 idle connections to NFS, then to the portmapper.
	for _, svc := range []struct {
		name string
		port int
		per  int // the server's per-client bound
	}{{"NFS", 2049, 16}, {"portmapper", 111, 8}} {
		conns := a.dialMany(svc.port, []string{atkAttacker}, 1000)
		held := a.waitEstablished(svc.port, atkAttacker, svc.per)
		closed := closedCount(conns)
		figures = append(figures, fmt.Sprintf("1,000 idle connections to %s (%d) from one host: %d held, %d closed by the server at once; RSS %d kB, %d descriptors",
			svc.name, svc.port, held, closed, a.rss(), a.fds()))
		a.fetchAll("during the flood of idle " + svc.name + " connections from one host")
		closeAll(conns)
	}

	// 2. Twenty hosts open 1,000 idle NFS connections: the total bound (73 at this file limit)
	// holds, TFTP and HTTP go on; a new NFS client is refused until connections close.
	var hosts []string
	for i := range attackHosts {
		hosts = append(hosts, atkNet+strconv.Itoa(100+i))
	}
	conns := a.dialMany(2049, hosts, 1000)
	held := a.waitEstablished(2049, "", boundsFor(attackNofile).NFS)
	closed := closedCount(conns)
	a.fetchTFTP("during the flood of idle NFS connections from 20 hosts")
	a.fetchHTTP("during the flood of idle NFS connections from 20 hosts")
	refused := a.tryNFS()
	figures = append(figures, fmt.Sprintf("1,000 idle connections to NFS from 20 hosts: %d held (the total bound), %d closed at once; RSS %d kB, %d descriptors; a new NFS client meanwhile: %s",
		held, closed, a.rss(), a.fds(), refused))
	closeAll(conns)
	a.waitEstablished(2049, "", 0)
	a.fetchAll("after the flood of idle NFS connections from 20 hosts")

	// 3. 3,000 TFTP read requests, never ACKed.
	data, errs, msg := a.tftpFlood(3000)
	figures = append(figures, fmt.Sprintf("3,000 TFTP read requests never ACKed: %d got DATA (and are held until their resends run out), %d an ERROR %q; RSS %d kB, %d descriptors",
		data, errs, msg, a.rss(), a.fds()))
	a.fetchAll("during the TFTP flood")

	// 4. 20,000 PXE DISCOVERs from made-up MACs.
	before := a.rss()
	a.discoverFlood(20000)
	lines := strings.Count(a.proc.Log(), "client offered")
	figures = append(figures, fmt.Sprintf("20,000 DISCOVERs from new MACs: RSS %d kB before, %d kB after; %d 'client offered' lines logged",
		before, a.rss(), lines))
	if !strings.Contains(a.proc.Log(), "some were not reported") {
		t.Error("the DISCOVER flood left no line saying how many new clients were not reported")
	}
	a.fetchAll("after the DISCOVER flood")

	for _, f := range figures {
		t.Log(f)
	}
	// The share stops cleanly on SIGTERM, as after any run.
	_ = a.proc.Cmd.Process.Signal(syscall.SIGTERM)
	if code := a.proc.Wait(30 * time.Second); code != 0 {
		t.Errorf("sharecd exit code %d after SIGTERM, want 0\n%s", code, tailLines(a.proc.Log(), 30))
	}
}

func newAttackLab(t *testing.T) *attackLab {
	a := &attackLab{t: t, dir: t.TempDir()}
	sw := netlab.Namespace(t, "scd-atk")
	a.srv, a.legit, a.atk = netlab.Namespace(t, "scd-atk"), netlab.Namespace(t, "scd-atk"), netlab.Namespace(t, "scd-atk")
	netlab.IP(t, sw, "link", "add", "br0", "type", "bridge")
	netlab.IP(t, sw, "link", "set", "br0", "up")
	for _, side := range []struct{ ns, dev, addr string }{
		{a.srv, "s0", atkServer}, {a.legit, "l0", atkLegit}, {a.atk, "a0", atkAttacker},
	} {
		netlab.Veth(t, sw, "p-"+side.dev, side.ns, side.dev)
		netlab.IP(t, sw, "link", "set", "p-"+side.dev, "master", "br0")
		netlab.IP(t, side.ns, "addr", "add", side.addr+"/24", "dev", side.dev)
	}
	for i := range attackHosts {
		netlab.IP(t, a.atk, "addr", "add", atkNet+strconv.Itoa(100+i)+"/24", "dev", "a0")
	}
	// A veth just set up drops what it is given until its real qdisc is in place.
	for ns, dev := range map[string]string{a.srv: "s0", a.legit: "l0", a.atk: "a0", sw: "br0"} {
		var out []byte
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			out, _ = exec.Command("ip", "-n", ns, "-o", "link", "show", "dev", dev).Output()
			if strings.Contains(string(out), "state UP") && !strings.Contains(string(out), "qdisc noop") {
				break
			}
		}
	}

	// The medium: the smallest live-boot directory, with a kernel big enough to take a while.
	med := filepath.Join(a.dir, "medium")
	a.vmlinuz = make([]byte, 2<<20+77)
	for i := range a.vmlinuz {
		a.vmlinuz[i] = byte(i*7 + i/4096)
	}
	for name, body := range map[string][]byte{
		"isolinux/isolinux.cfg":    []byte("default live\nlabel live\n kernel /live/vmlinuz\n append initrd=/live/initrd.img boot=live\n"),
		"live/vmlinuz":             a.vmlinuz,
		"live/initrd.img":          []byte("initrd"),
		"live/filesystem.squashfs": []byte("squashfs"),
	} {
		p := filepath.Join(med, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, body, 0o644))
	}
	var err error
	a.pxelinux0, err = fs.ReadFile(assets.BIOS(), "pxelinux.0")
	must(t, err)
	return a
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// start builds sharecd (or takes SHARECD_ATTACK_BIN, to run the battery against another build)
// and runs it in the server namespace with its file limit at
// attackNofile (prlimit and ip netns exec each exec the next, so the PID is sharecd's).
func (a *attackLab) start() {
	t := a.t
	bin := os.Getenv("SHARECD_ATTACK_BIN")
	if bin == "" {
		bin = filepath.Join(a.dir, "sharecd")
		goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
		if out, err := exec.Command(goTool, "build", "-o", bin, "../cmd/sharecd").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	a.proc = netlab.Start(t, exec.Command("prlimit", "--nofile="+strconv.Itoa(attackNofile)+":"+strconv.Itoa(attackNofile), "--",
		"ip", "netns", "exec", a.srv, bin, "--share", "--source", filepath.Join(a.dir, "medium"), "--iface", "s0",
		"--dhcp-mode", "proxy", "--no-firewall-changes"))
	a.pid = a.proc.Cmd.Process.Pid
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sharecd's log (end):\n%s", tailLines(a.proc.Log(), 60))
		}
	})
	for end := time.Now().Add(60 * time.Second); !strings.Contains(a.proc.Log(), "msg=sharing"); time.Sleep(100 * time.Millisecond) {
		if a.proc.Exited() || time.Now().After(end) {
			t.Fatalf("sharecd did not start sharing:\n%s", a.proc.Log())
		}
	}
	if !strings.Contains(a.proc.Log(), "open-file limit is low") {
		t.Errorf("sharecd at a file limit of %d did not lower its bounds:\n%s", attackNofile, a.proc.Log())
	}
}

// alive fails the test if sharecd has exited: no flood may end the share.
func (a *attackLab) alive(when string) {
	a.t.Helper()
	if a.proc.Exited() {
		a.t.Fatalf("sharecd exited %s (code %d):\n%s", when, a.proc.Cmd.ProcessState.ExitCode(), tailLines(a.proc.Log(), 40))
	}
}

func (a *attackLab) rss() int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.pid))
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return n
		}
	}
	return -1
}

func (a *attackLab) fds() int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", a.pid))
	return len(ents)
}

// inLegit runs a client command in the legitimate client's namespace, for at most 60 s.
func (a *attackLab) inLegit(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", a.legit}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd.CombinedOutput()
}

func (a *attackLab) fetch(when, what string, want []byte, args ...string) {
	a.t.Helper()
	out := filepath.Join(a.dir, "got")
	os.Remove(out)
	msg, err := a.inLegit(append(args, out)...)
	got, _ := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, want) {
		a.t.Errorf("%s: the legitimate client's %s: %v, %d of %d bytes\n%s", when, what, err, len(got), len(want), msg)
	}
	a.alive(when)
}

func (a *attackLab) fetchTFTP(when string) {
	a.fetch(when, "TFTP pxelinux.0", a.pxelinux0, "curl", "-sS", "--max-time", "40", "tftp://"+atkServer+"/pxelinux.0", "-o")
}

func (a *attackLab) fetchHTTP(when string) {
	a.fetch(when, "HTTP live/vmlinuz", a.vmlinuz, "curl", "-sS", "--max-time", "40", "http://"+atkServer+"/live/vmlinuz", "-o")
}

func (a *attackLab) fetchAll(when string) {
	a.t.Helper()
	a.fetchTFTP(when)
	a.fetchHTTP(when)
	a.fetch(when, "NFS live/vmlinuz", a.vmlinuz, "nfs-cp", "nfs://"+atkServer+"/sharecd/live/vmlinuz")
}

// tryNFS is what a new NFS client sees: "ok", or its error.
func (a *attackLab) tryNFS() string {
	out, err := a.inLegit("nfs-cp", "nfs://"+atkServer+"/sharecd/live/vmlinuz", filepath.Join(a.dir, "try"))
	if err == nil {
		return "served"
	}
	return strings.Join(strings.Fields(string(out)), " ")
}

// inAtk runs fn on a thread in the attacker's namespace: the sockets it makes stay there.
func (a *attackLab) inAtk(fn func() error) {
	a.t.Helper()
	if err := netlab.In(a.atk, fn); err != nil {
		a.t.Fatal(err)
	}
}

// dialMany opens n TCP connections to port, spread over the source addresses, and keeps them.
func (a *attackLab) dialMany(port int, from []string, n int) []net.Conn {
	t := a.t
	var conns []net.Conn
	t.Cleanup(func() { closeAll(conns) })
	a.inAtk(func() error {
		for i := range n {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from[i%len(from)])}, Timeout: 10 * time.Second}
			c, err := d.Dial("tcp4", net.JoinHostPort(atkServer, strconv.Itoa(port)))
			if err != nil {
				return fmt.Errorf("connection %d to %d: %w", i, port, err)
			}
			conns = append(conns, c)
		}
		return nil
	})
	return conns
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// closedCount is how many of conns the server closed (EOF or reset within a second); the rest it
// holds. A measurement: the bounds are asserted on the server's side (waitEstablished).
func closedCount(conns []net.Conn) int {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		closed int
	)
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			_, err := c.Read(make([]byte, 1))
			if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
				mu.Lock()
				closed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return closed
}

// waitEstablished waits until the server holds at most max established connections on port
// (from peer, or from anyone when peer is ""), and returns how many it holds. The server closes
// the connections over its bounds as it accepts them; the test fails if it still holds more
// than max after 30 s.
func (a *attackLab) waitEstablished(port int, peer string, max int) int {
	a.t.Helper()
	filter := "sport = :" + strconv.Itoa(port)
	if peer != "" {
		filter = "( " + filter + " and dst " + peer + " )"
	}
	var n int
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, err := exec.Command("ip", "netns", "exec", a.srv, "ss", "-Htn", "state", "established", filter).Output()
		if err != nil {
			a.t.Fatalf("ss: %v", err)
		}
		n = strings.Count(string(out), "\n")
		if n <= max {
			return n
		}
		if time.Now().After(end) {
			a.t.Fatalf("sharecd holds %d connections on port %d from %q, over its bound of %d", n, port, peer, max)
		}
	}
}

// tftpFlood sends n read requests for pxelinux.0 from the attacker, each from a port of its
// own, and ACKs nothing. It returns how many got DATA, how many an ERROR, and an ERROR's text.
func (a *attackLab) tftpFlood(n int) (data, errs int, msg string) {
	const sockets = 100 // each sends n/sockets requests; pin/tftp tells transfers apart by port too
	a.inAtk(func() error {
		var conns []net.PacketConn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		dst := &net.UDPAddr{IP: net.ParseIP(atkServer), Port: 69}
		rrq := append([]byte{0, 1}, "pxelinux.0\x00octet\x00"...)
		for range sockets {
			c, err := net.ListenPacket("udp4", atkAttacker+":0")
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		for i := range n {
			if _, err := conns[i%sockets].WriteTo(rrq, dst); err != nil {
				return err
			}
		}
		// Count the first answers: the DATA of a held transfer comes again at its resends,
		// each ERROR once. Two seconds cover the first send of every answer.
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				seen := map[string]bool{}
				buf := make([]byte, 600)
				_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
				for {
					k, from, err := c.ReadFrom(buf)
					if err != nil {
						return
					}
					mu.Lock()
					switch {
					case k >= 4 && buf[1] == 3 && !seen[from.String()]:
						seen[from.String()] = true
						data++
					case k >= 4 && buf[1] == 5:
						errs++
						msg = string(bytes.TrimRight(buf[4:k], "\x00"))
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return nil
	})
	return data, errs, msg
}

// discoverFlood broadcasts n PXE DISCOVERs from made-up MACs on the attacker's interface.
func (a *attackLab) discoverFlood(n int) {
	a.inAtk(func() error {
		lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = errors.Join(unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1),
					unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, "a0"))
			})
			return errors.Join(err, serr)
		}}
		c, err := lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:0")
		if err != nil {
			return err
		}
		defer c.Close()
		dst := &net.UDPAddr{IP: net.IPv4bcast, Port: 67}
		rnd := rand.New(rand.NewPCG(27, 27))
		for range n {
			mac := net.HardwareAddr{0x02, byte(rnd.Uint32()), byte(rnd.Uint32()), byte(rnd.Uint32()), byte(rnd.Uint32()), byte(rnd.Uint32())}
			d, err := dhcpv4.NewDiscovery(mac,
				dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
				dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)))
			if err != nil {
				return err
			}
			if _, err := c.WriteTo(d.ToBytes(), dst); err != nil && !errors.Is(err, syscall.ENOBUFS) {
				return err
			}
		}
		return nil
	})
	// Let the server work through what its socket took in.
	time.Sleep(2 * time.Second)
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
