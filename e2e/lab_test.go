package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sharecd/sharecd/netboot/netlab"
)

// TestMain first removes what an earlier, killed run of these tests left: its namespaces and
// the QEMU clients, sharecds and dnsmasqs still running in them (netlab.RemoveLeftovers). A run
// that is still going, or namespaces this build of the tests did not record, are left alone.
func TestMain(m *testing.M) {
	netlab.RemoveLeftovers(os.Stderr)
	code := m.Run()
	if binary != "" {
		os.RemoveAll(filepath.Dir(binary)) // the sharecd built for this run
	}
	os.Exit(code)
}

// lab is a LAN made of network namespaces: a switch namespace holding a bridge and the client's
// tap, a router namespace with dnsmasq as the LAN's ordinary DHCP server, and a server namespace
// where sharecd runs. Nothing in it touches the machine's own interfaces.
type lab struct {
	t       testing.TB
	id      string
	subnet  string // first three octets, e.g. "10.77.3"
	sw      string // switch namespace: bridge + tap
	router  string
	server  string
	dir     string // logs and artefacts of this lab
	procs   []*exec.Cmd
	cleanup []func()
	// fork runs each start's fork on one thread, locked to a goroutine until the lab is closed.
	// The kernel kills the lab's processes when the thread that forked them ends (Pdeathsig),
	// and a Go thread can end under a process while the test still runs (netlab.StartLocked).
	fork chan func()
}

// need skips a test without root or the lab's tools, or without the test's own extra tools;
// under CI=true, where .ci/run installed them, it fails it (netlab.Skipf).
func need(t testing.TB, extra ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		netlab.Skipf(t, "end-to-end boot needs root for network namespaces (run as root; CI does)")
	}
	for _, tool := range []string{"ip", "qemu-system-x86_64", "dnsmasq", "xorriso"} {
		if _, err := exec.LookPath(tool); err != nil {
			netlab.Skipf(t, "end-to-end boot needs %s (bash .ci/run installs it)", tool)
		}
	}
	for _, tool := range extra {
		if _, err := exec.LookPath(tool); err != nil {
			netlab.Skipf(t, "needs %s (bash .ci/run installs it)", tool)
		}
	}
}

func newLab(t testing.TB, subnet string) *lab {
	t.Helper()
	b := make([]byte, 3)
	rand.Read(b)
	id := hex.EncodeToString(b)
	l := &lab{t: t, id: id, subnet: subnet,
		sw: "scd-sw-" + id, router: "scd-rt-" + id, server: "scd-sv-" + id,
		dir: artefactDir(t), fork: make(chan func())}
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine, after the lab's processes
		for fn := range l.fork {
			fn()
		}
	}()
	t.Cleanup(l.close)
	for _, ns := range []string{l.sw, l.router, l.server} {
		l.addNS(ns)
		l.ipn(ns, "link", "set", "lo", "up")
	}
	l.ipn(l.sw, "link", "add", "br0", "type", "bridge")
	l.ipn(l.sw, "link", "set", "br0", "up")
	for _, side := range []struct{ ns, dev, addr string }{
		{l.router, "r0", subnet + ".1/24"},
		{l.server, "s0", subnet + ".2/24"},
	} {
		peer := "p-" + side.dev
		l.ipn(l.sw, "link", "add", peer, "type", "veth", "peer", "name", side.dev, "netns", side.ns)
		l.ipn(l.sw, "link", "set", peer, "master", "br0", "up")
		l.ipn(side.ns, "addr", "add", side.addr, "dev", side.dev)
		l.ipn(side.ns, "link", "set", side.dev, "up")
	}
	// A router advertisement spares each boot iPXE's ~15 s wait for IPv6 autoconfiguration.
	l.ipn(l.router, "addr", "add", "fd77:0:0:"+subnet[strings.LastIndex(subnet, ".")+1:]+"::1/64", "dev", "r0")
	for _, tap := range []string{"tap0", "tap1"} { // one per QEMU client
		l.ipn(l.sw, "tuntap", "add", tap, "mode", "tap")
		l.ipn(l.sw, "link", "set", tap, "master", "br0", "up")
	}
	l.waitUp(map[string][]string{l.sw: {"br0", "p-r0", "p-s0"}, l.router: {"r0"}, l.server: {"s0"}})
	return l
}

// waitUp waits until each link is up with a real queue. A veth set up a moment ago drops what it
// is given until the kernel's link watch has swapped its noop qdisc for a real one, which can
// take a second or more on a busy machine: sharecd's DHCP check, sent at once, then heard no
// router (seen once in the boot benchmark).
func (l *lab) waitUp(links map[string][]string) {
	l.t.Helper()
	for ns, devs := range links {
		for _, dev := range devs {
			var out []byte
			for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
				out, _ = exec.Command("ip", "-n", ns, "-o", "link", "show", "dev", dev).Output()
				if strings.Contains(string(out), "state UP") && !strings.Contains(string(out), "qdisc noop") {
					break
				}
			}
			if !strings.Contains(string(out), "state UP") || strings.Contains(string(out), "qdisc noop") {
				l.t.Fatalf("%s in %s is not up after 10 s: %s", dev, ns, out)
			}
		}
	}
}

// addNS makes a namespace of the lab, recorded so that the next run removes it should this one be
// killed (netlab.AddNamespace), and deleted when the lab closes.
func (l *lab) addNS(ns string) {
	l.t.Helper()
	if err := netlab.AddNamespace(ns); err != nil {
		l.t.Fatal(err)
	}
	l.cleanup = append(l.cleanup, func() { netlab.DelNamespace(ns) })
}

func artefactDir(t testing.TB) string {
	base := os.Getenv("SHARECD_ARTIFACTS")
	if base == "" {
		base = filepath.Join(os.TempDir(), "sharecd-e2e")
	}
	dir := filepath.Join(base, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func (l *lab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func (l *lab) ipn(ns string, args ...string) {
	l.t.Helper()
	l.ip(append([]string{"-n", ns}, args...)...)
}

// start runs a command inside a namespace with its output in the lab folder; the lab ends it by
// PID on close, and the kernel kills it should the test binary die first (Pdeathsig: a killed
// `go test` left 4 QEMU clients, 2 sharecds and a dnsmasq running for minutes). `ip netns exec`
// execs the command, which keeps the death signal (prctl(2)).
func (l *lab) start(ns, logName string, args ...string) *exec.Cmd {
	l.t.Helper()
	logf, err := os.Create(filepath.Join(l.dir, logName))
	if err != nil {
		l.t.Fatal(err)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	l.fork <- func() { started <- cmd.Start() }
	if err := <-started; err != nil {
		l.t.Fatalf("starting %s: %v", args[0], err)
	}
	l.procs = append(l.procs, cmd)
	return cmd
}

// startRouter runs dnsmasq as a plain home-router DHCP server: an address pool, no PXE.
func (l *lab) startRouter() *exec.Cmd {
	defer l.waitListening(l.router, "udp", 67)
	return l.start(l.router, "router-dnsmasq.log", "dnsmasq", "--no-daemon", "--conf-file=/dev/null",
		"--port=0", "--interface=r0", "--bind-interfaces", "--user=root", "--log-dhcp",
		"--dhcp-leasefile="+filepath.Join(l.dir, "router.leases"),
		"--dhcp-range="+l.subnet+".100,"+l.subnet+".150,255.255.255.0,10m",
		"--dhcp-option=option:router,"+l.subnet+".1",
		"--enable-ra", "--dhcp-range=::,constructor:r0,ra-only")
}

// waitListening polls until something in ns is bound to proto/port: a server started in the
// background is ready only then, and a fixed sleep is either too short on a loaded machine or
// time lost on an idle one.
func (l *lab) waitListening(ns, proto string, port int) {
	l.t.Helper()
	flag := map[string]string{"udp": "-Hlnu", "tcp": "-Hlnt"}[proto]
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		out, _ := exec.Command("ip", "netns", "exec", ns, "ss", flag, fmt.Sprintf("sport = :%d", port)).Output()
		if len(bytes.TrimSpace(out)) > 0 {
			return
		}
	}
	l.t.Fatalf("nothing listens on %s/%d in %s after 20 s", proto, port, ns)
}

// vm is a QEMU client of the lab: its process, and the file its serial console writes to.
type vm struct {
	qemu   *exec.Cmd
	serial string
}

// startClient powers on a diskless BIOS PC (SeaBIOS with QEMU's iPXE ROM) that boots from the
// network. TCG, because this machine's KVM cannot run firmware.
func (l *lab) startClient(name, tap, mac string) vm {
	serial := filepath.Join(l.dir, name+"-serial.log")
	args := append(pcArgs("q35,accel=tcg", serial), "-boot", "n", "-no-reboot",
		"-netdev", "tap,id=n0,ifname="+tap+",script=no,downscript=no",
		"-device", "e1000,netdev=n0,mac="+mac)
	qemu := l.start(l.sw, name+"-qemu.log", append([]string{"qemu-system-x86_64"}, args...)...)
	return vm{qemu, serial}
}

// pcArgs is the PC every lab client is, whatever it boots from: one CPU, 1 GiB, no display, its
// serial console written to serial.
func pcArgs(machine, serial string) []string {
	return []string{"-machine", machine, "-cpu", "max", "-m", "1024", "-smp", "1",
		"-display", "none", "-monitor", "none", "-serial", "file:" + serial,
		"-qmp", "unix:" + qmpSocket(serial) + ",server=on,wait=off"}
}

// qmpSocket is where a client's QMP socket is, beside its serial log: the test types on the
// client's keyboard through it (pressKeys).
func qmpSocket(serial string) string { return strings.TrimSuffix(serial, "-serial.log") + ".qmp" }

// pressKeys types keys (QEMU qcodes: "down", "ret") on a client's keyboard, as a person at it
// would, through QMP's send-key.
func pressKeys(v vm, keys ...string) error {
	c, err := net.DialTimeout("unix", qmpSocket(v.serial), 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	dec, enc := json.NewDecoder(c), json.NewEncoder(c)
	var greeting map[string]any
	if err := dec.Decode(&greeting); err != nil {
		return fmt.Errorf("QMP greeting: %w", err)
	}
	call := func(cmd map[string]any) error {
		if err := enc.Encode(cmd); err != nil {
			return err
		}
		for { // events may come before the answer
			var r map[string]any
			if err := dec.Decode(&r); err != nil {
				return err
			}
			if e, ok := r["error"]; ok {
				return fmt.Errorf("QMP %v: %v", cmd["execute"], e)
			}
			if _, ok := r["return"]; ok {
				return nil
			}
		}
	}
	if err := call(map[string]any{"execute": "qmp_capabilities"}); err != nil {
		return err
	}
	for _, k := range keys {
		err := call(map[string]any{"execute": "send-key", "arguments": map[string]any{
			"keys": []map[string]string{{"type": "qcode", "data": k}}}})
		if err != nil {
			return err
		}
		time.Sleep(500 * time.Millisecond) // a person's pace: the menu redraws between keys
	}
	return nil
}

// waitForCount polls a log until the needle occurs n times.
func waitForCount(ctx context.Context, file, needle string, n int) error {
	for {
		b, _ := os.ReadFile(file)
		if bytes.Count(b, []byte(needle)) >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%q not seen %d times in %s: %w", needle, n, filepath.Base(file), ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}

// waitFor polls a log until it contains one of the needles, the process ends, or time runs out.
func waitFor(ctx context.Context, file string, needle string) error {
	for {
		b, _ := os.ReadFile(file)
		if bytes.Contains(b, []byte(needle)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%q not seen in %s: %w", needle, filepath.Base(file), ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}

// stop ends a process the lab started, by its PID, and waits for it.
func stop(cmd *exec.Cmd, sig syscall.Signal, grace time.Duration) error {
	if cmd.ProcessState != nil {
		return nil
	}
	// ip netns exec execs the command, so the PID is the program itself.
	cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(grace):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("did not exit within %v of %v", grace, sig)
	}
}

func (l *lab) close() {
	for i := len(l.procs) - 1; i >= 0; i-- {
		stop(l.procs[i], syscall.SIGTERM, 10*time.Second)
	}
	close(l.fork)
	for i := len(l.cleanup) - 1; i >= 0; i-- {
		l.cleanup[i]()
	}
}

// tail returns the last lines of a log, for a failure message.
func tail(file string, n int) string {
	f, err := os.Open(file)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
