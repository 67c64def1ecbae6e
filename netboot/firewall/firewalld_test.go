package firewall

// The firewalld path against a real firewalld: in a network namespace of the test's own, on a
// private system bus (a dbus-daemon listening on a socket in a temporary directory), with its
// configuration in another. Nothing reaches the host's firewall or the host's bus.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/sharecd/sharecd/netboot/netlab"
	"github.com/sharecd/sharecd/netboot/tftp"
)

// TestMain runs this test binary as one of its helpers when asked: the share's servers inside
// the namespace, or a run that opens firewalld and is then killed. Otherwise it first removes
// what an earlier, killed run of these tests left (netlab.RemoveLeftovers).
func TestMain(m *testing.M) {
	if dir := os.Getenv("SHARECD_TEST_SERVE"); dir != "" {
		serve(dir)
		return
	}
	if spec := os.Getenv("SHARECD_TEST_OPEN"); spec != "" {
		openAndWait(spec)
		return
	}
	netlab.RemoveLeftovers(os.Stderr)
	os.Exit(m.Run())
}

// serve answers TFTP on port 69 with sharecd's own server (each transfer from a fresh port,
// as in a share) and HTTP on port 80, both from dir, until killed.
func serve(dir string) {
	udp, err := net.ListenPacket("udp4", ":69")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	tcp, err := net.Listen("tcp4", ":80")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	go http.Serve(tcp, http.FileServer(http.Dir(dir)))
	fmt.Println("serving")
	(&tftp.Server{FS: os.DirFS(dir)}).Serve(context.Background(), udp)
}

// anyNetns lets the test, outside the server's namespace, ask the firewalld inside it.
func anyNetns(uint32) bool { return true }

type openSpec struct {
	Bus, State string
	Hole       Hole
}

// openAndWait opens firewalld as a share does and waits to be killed.
func openAndWait(spec string) {
	var s openSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	op, _, err := (&Firewalld{Bus: s.Bus, State: s.State, sameNetns: anyNetns}).Open(context.Background(), s.Hole)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("opened", op.Ports)
	select {}
}

// fwdLab is a server namespace running firewalld on a private bus, with a client namespace on a
// veth pair.
type fwdLab struct {
	t              *testing.T
	server, client string
	bus            string     // the private bus's address
	conn           *dbus.Conn // the test's own connection to it
	dir            string
	etc            string // firewalld's configuration
	fwd            *netlab.Proc
}

const (
	serverIP = "10.78.1.2"
	clientIP = "10.78.1.50"
)

func requireFirewalld(t *testing.T) {
	t.Helper()
	netlab.Require(t, "dbus-daemon", "firewalld", "tftp", "curl")
}

// startFirewalld makes the namespaces, the bus and firewalld, with zoneXML as the zone "lan".
func startFirewalld(t *testing.T, zoneXML string) *fwdLab {
	t.Helper()
	l := &fwdLab{t: t, server: netlab.Namespace(t, "scd-fwd"), client: netlab.Namespace(t, "scd-fwc"), dir: t.TempDir()}
	netlab.Veth(t, l.server, "s0", l.client, "c0")
	netlab.IP(t, l.server, "addr", "add", serverIP+"/24", "dev", "s0")
	netlab.IP(t, l.client, "addr", "add", clientIP+"/24", "dev", "c0")

	// A system bus that lets anyone own and call anything: firewalld's own policy file
	// (FirewallD.conf) lives with the host's bus, not this one.
	l.bus = netlab.Bus(t, "system")
	conn, err := dbus.Connect(l.bus)
	if err != nil {
		t.Fatalf("connecting to the private bus: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	l.conn = conn

	// firewalld's own configuration directory (the package's defaults stay in /usr/lib/firewalld).
	l.etc = filepath.Join(l.dir, "etc")
	l.write(filepath.Join(l.etc, "firewalld.conf"), "DefaultZone=public\nCleanupOnExit=yes\n"+
		"CleanupModulesOnExit=no\nFirewallBackend=nftables\nIndividualCalls=no\nLogDenied=off\n")
	l.write(filepath.Join(l.etc, "zones", "lan.xml"), zoneXML)
	l.startDaemon()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("firewalld's log:\n%s", l.fwd.Log())
		}
	})
	return l
}

// startDaemon starts firewalld in the server's namespace and waits until it answers.
func (l *fwdLab) startDaemon() {
	t := l.t
	t.Helper()
	// In its own mount namespace (ip netns exec makes one) firewalld gets a /run of its own: it
	// writes /run/firewalld there, and cannot see the host's system bus socket.
	l.fwd = l.start([]string{"DBUS_SYSTEM_BUS_ADDRESS=" + l.bus}, "ip", "netns", "exec", l.server,
		"sh", "-c", `mount -t tmpfs sharecd-test /run && exec firewalld --nofork --nopid --system-config "$0" --log-target console`, l.etc)
	deadline := time.Now().Add(60 * time.Second)
	for {
		var has bool
		l.conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, fwdName).Store(&has)
		if has {
			break
		}
		if time.Now().After(deadline) || l.fwd.Exited() {
			t.Fatalf("firewalld did not take its bus name:\n%s", l.fwd.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Calls wait for firewalld's main loop, which runs once it has loaded its rules.
	var zone string
	if err := l.call(fwdName+".getDefaultZone", nil).Store(&zone); err != nil {
		t.Fatalf("firewalld: %v\n%s", err, l.fwd.Log())
	}
}

// waitFor polls until cond holds or 15 s have passed; it says how long it took.
func waitFor(cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for !cond() {
		if time.Since(start) > 15*time.Second {
			return time.Since(start), false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start), true
}

func (l *fwdLab) write(path, body string) {
	l.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		l.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		l.t.Fatal(err)
	}
}

// start starts a helper process with env added to the test's environment; it ends with the test.
func (l *fwdLab) start(env []string, args ...string) *netlab.Proc {
	l.t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	return netlab.Start(l.t, cmd)
}

func (l *fwdLab) call(method string, path *dbus.ObjectPath, args ...any) *dbus.Call {
	p := fwdPath
	if path != nil {
		p = *path
	}
	return l.conn.Object(fwdName, p).Call(method, 0, args...)
}

// runtime is the zone's runtime ports and services, sorted, as firewall-cmd --list-all shows.
func (l *fwdLab) runtime(zone string) string {
	l.t.Helper()
	var settings map[string]dbus.Variant
	if err := l.call(fwdZone+".getZoneSettings2", nil, zone).Store(&settings); err != nil {
		l.t.Fatal(err)
	}
	var ports []dbusPort
	var services []string
	// firewalld leaves out what is empty.
	if v, ok := settings["ports"]; ok {
		v.Store(&ports)
	}
	if v, ok := settings["services"]; ok {
		v.Store(&services)
	}
	var s []string
	for _, p := range ports {
		s = append(s, p.Port+"/"+p.Proto)
	}
	slices.Sort(s)
	slices.Sort(services)
	return "ports: " + strings.Join(s, " ") + "; services: " + strings.Join(services, " ")
}

// fetch gets the test file over TFTP and HTTP from the client namespace: which got through.
func (l *fwdLab) fetch(want []byte, protos ...string) map[string]bool {
	got := map[string]bool{}
	for _, proto := range protos {
		dst := filepath.Join(l.dir, "got-"+proto)
		os.Remove(dst)
		var args []string
		switch proto {
		case "tftp":
			args = []string{"timeout", "5", "tftp", serverIP, "-m", "binary", "-c", "get", "big", dst}
		case "http":
			args = []string{"curl", "-sf", "--max-time", "4", "-o", dst, "http://" + serverIP + "/big"}
		}
		exec.Command("ip", append([]string{"netns", "exec", l.client}, args...)...).Run()
		b, _ := os.ReadFile(dst)
		got[proto] = bytes.Equal(b, want)
	}
	return got
}

// TestFirewalldInNamespace: the share's ports go into the zone's runtime configuration and only
// those come out again; a reload of firewalld is followed by opening them again; and a run killed
// with its ports open is cleaned up by the next start, except for what the administrator has
// since made permanent.
func TestFirewalldInNamespace(t *testing.T) {
	requireFirewalld(t)
	start := time.Now()
	// The server's zone drops what it does not allow. It has rpc-bind (111) and 2049/tcp
	// already: those are not ours to add, nor to remove.
	l := startFirewalld(t, `<?xml version="1.0" encoding="utf-8"?>
<zone target="DROP">
  <short>lan</short>
  <service name="rpc-bind"/>
  <port protocol="tcp" port="2049"/>
  <interface name="s0"/>
</zone>
`)
	t.Logf("firewalld up in %v", time.Since(start).Round(time.Millisecond))

	big := bytes.Repeat([]byte("sharecd through firewalld\n"), 40000) // ~1 MB: two thousand TFTP ACKs
	l.write(filepath.Join(l.dir, "srv", "big"), string(big))
	exe, _ := os.Executable()
	srv := l.start([]string{"SHARECD_TEST_SERVE=" + filepath.Join(l.dir, "srv")}, "ip", "netns", "exec", l.server, exe)
	srv.Line(t, "serving", 10*time.Second)

	ctx := context.Background()
	hole := Hole{Iface: "s0", UDP: []int{67, 69, 111, 4011}, TCP: []int{111, 2049, 80}}
	before := l.runtime("lan")
	if want := "ports: 2049/tcp; services: rpc-bind"; before != want {
		t.Fatalf("zone lan before: %s, want %s", before, want)
	}

	// --no-firewall-changes: what to run, in one line.
	host := &Host{Bus: l.bus, sameNetns: anyNetns, Run: func(context.Context, []byte, ...string) ([]byte, error) {
		t.Error("nft was run while firewalld runs")
		return nil, ErrNoNft
	}}
	blocks, err := host.Check(ctx, hole)
	want := []Block{{"firewalld zone lan (target DROP)", "firewall-cmd --zone=lan --add-port=67/udp --add-port=69/udp --add-port=4011/udp --add-port=80/tcp"}}
	if err != nil || !slices.Equal(blocks, want) {
		t.Errorf("Check = %v, %v; want %v", blocks, err, want)
	}
	// An interface in no zone is in the default one.
	if op, err := (&Firewalld{Bus: l.bus, sameNetns: anyNetns}).Check(ctx, Hole{Iface: "nosuch0", UDP: []int{69}}); err != nil || op.Zone != "public" {
		t.Errorf("Check for an interface in no zone: %+v, %v; want the default zone public", op, err)
	}
	// Seen from this test's own network namespace, that firewalld guards another one: a share
	// here must not open its ports, and takes the nftables path.
	if _, err := (&Firewalld{Bus: l.bus}).Check(ctx, hole); !errors.Is(err, ErrNoFirewalld) {
		t.Errorf("Check from another network namespace: %v, want ErrNoFirewalld", err)
	}
	ranNft := false
	outside := &Host{Bus: l.bus, Run: func(context.Context, []byte, ...string) ([]byte, error) {
		ranNft = true
		return []byte(`{"nftables": []}`), nil
	}}
	if blocks, err := outside.Check(ctx, hole); err != nil || blocks != nil || !ranNft {
		t.Errorf("Check from another network namespace: %v, %v, nft run: %v; want the nftables path", blocks, err, ranNft)
	}

	t0 := time.Now()
	if got := l.fetch(big, "tftp", "http"); got["tftp"] || got["http"] {
		t.Fatalf("got through before opening: %v", got)
	}
	t.Logf("before opening: tftp and http blocked (%v)", time.Since(t0).Round(time.Millisecond))

	state := filepath.Join(l.dir, "run", "firewall-s0.json")
	f := &Firewalld{Bus: l.bus, State: state, sameNetns: anyNetns}
	t0 = time.Now()
	// As in a share: its context ends before the ports are closed.
	shareCtx, endShare := context.WithCancel(ctx)
	op, closeFn, err := f.Open(shareCtx, hole)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("opened %v in %v", op.Ports, time.Since(t0).Round(time.Millisecond))
	if op.Command() != want[0].Open {
		t.Errorf("opened %q, want %q", op.Command(), want[0].Open)
	}
	if got, want := l.runtime("lan"), "ports: 2049/tcp 4011/udp 67/udp 69/udp 80/tcp; services: rpc-bind"; got != want {
		t.Errorf("zone lan while open: %s, want %s", got, want)
	}
	if rec, _ := readState(state); len(rec) != 4 {
		t.Errorf("record while open: %v", rec)
	}
	if got := l.fetch(big, "tftp", "http"); !got["tftp"] || !got["http"] {
		t.Errorf("blocked after opening: %v", got)
	}

	// A reload drops every runtime change; the run opens the ports again.
	if err := l.call(fwdName+".reload", nil).Err; err != nil {
		t.Fatal(err)
	}
	took, _ := waitFor(func() bool { return strings.Contains(l.runtime("lan"), "69/udp") })
	t.Logf("open again %v after the reload", took.Round(time.Millisecond))
	if got := l.fetch(big, "tftp"); !got["tftp"] {
		t.Errorf("blocked after firewalld reloaded: %v, zone %s", got, l.runtime("lan"))
	}

	// So does a restart of firewalld.
	l.fwd.Stop()
	l.startDaemon()
	took, _ = waitFor(func() bool { return strings.Contains(l.runtime("lan"), "69/udp") })
	t.Logf("open again %v after firewalld restarted", took.Round(time.Millisecond))
	if got := l.fetch(big, "tftp"); !got["tftp"] {
		t.Errorf("blocked after firewalld restarted: %v, zone %s", got, l.runtime("lan"))
	}
	if rec, _ := readState(state); len(rec) != 4 {
		t.Errorf("record after the restart: %v", rec)
	}

	endShare()
	if err := closeFn(ctx); err != nil {
		t.Fatal(err)
	}
	if after := l.runtime("lan"); after != before {
		t.Errorf("zone lan after close: %s, want %s", after, before)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("the record outlived close: %v", err)
	}
	if got := l.fetch(big, "tftp"); got["tftp"] {
		t.Error("tftp still gets through after close")
	}

	// kill -9 with the ports open: they stay open, the record says which.
	spec, _ := json.Marshal(openSpec{Bus: l.bus, State: state, Hole: hole})
	crash := l.start([]string{"SHARECD_TEST_OPEN=" + string(spec)}, exe)
	crash.Line(t, "opened", 30*time.Second)
	crash.Cmd.Process.Signal(syscall.SIGKILL)
	crash.Wait(10 * time.Second)
	if got, want := l.runtime("lan"), "ports: 2049/tcp 4011/udp 67/udp 69/udp 80/tcp; services: rpc-bind"; got != want {
		t.Errorf("zone lan after kill -9: %s, want %s", got, want)
	}
	// Meanwhile the administrator makes 4011/udp permanent: it is theirs from now on.
	var lan dbus.ObjectPath
	if err := l.conn.Object(fwdName, fwdConfigPath).Call(fwdConfig+".getZoneByName", 0, "lan").Store(&lan); err != nil {
		t.Fatal(err)
	}
	if err := l.call(fwdConfigZone+".addPort", &lan, "4011", "udp").Err; err != nil {
		t.Fatal(err)
	}

	// The next start, with only DHCP to open, closes the rest of what the killed run left.
	_, closeFn, err = f.Open(ctx, Hole{Iface: "s0", UDP: []int{67}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := l.runtime("lan"), "ports: 2049/tcp 4011/udp 67/udp; services: rpc-bind"; got != want {
		t.Errorf("zone lan after the next start: %s, want %s", got, want)
	}
	if err := closeFn(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := l.runtime("lan"), "ports: 2049/tcp 4011/udp; services: rpc-bind"; got != want {
		t.Errorf("zone lan at the end: %s, want %s", got, want)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("the record outlived close: %v", err)
	}
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}

// TestHostWithoutFirewalld: with no firewalld on the bus, or no bus, Host takes the nftables
// path, and a record left by a firewalld run is dropped (its runtime configuration went with
// firewalld).
func TestHostWithoutFirewalld(t *testing.T) {
	rs, err := os.ReadFile("testdata/ruleset.json")
	if err != nil {
		t.Fatal(err)
	}
	var scripts []string
	nft := func(_ context.Context, stdin []byte, args ...string) ([]byte, error) {
		if slices.Contains(args, "list") {
			return rs, nil
		}
		scripts = append(scripts, string(stdin))
		return nil, nil
	}
	buses := map[string]string{"no bus": "unix:path=" + filepath.Join(t.TempDir(), "nobus")}
	if _, err := exec.LookPath("dbus-daemon"); err == nil {
		buses["a bus without firewalld"] = netlab.Bus(t, "system")
	}
	for name, bus := range buses {
		state := filepath.Join(t.TempDir(), "firewall-eth0.json")
		writeState(state, []opened{{"public", Port{69, "udp"}}})
		h := &Host{Bus: bus, State: state, Run: nft}
		blocks, err := h.Check(context.Background(), shareHole)
		if err != nil || len(blocks) != 2 || blocks[0].Where != "inet filter input (policy drop)" ||
			!strings.Contains(blocks[0].Open, "udp dport { 67, 69, 111, 4011 }") {
			t.Errorf("%s: Check = %v, %v", name, blocks, err)
		}
		scripts = nil
		blocks, closeFn, err := h.Open(context.Background(), shareHole)
		if err != nil || len(blocks) != 2 || len(scripts) != 1 || closeFn == nil {
			t.Fatalf("%s: Open = %v, %v; nft scripts %q", name, blocks, err, scripts)
		}
		if _, err := os.Stat(state); !os.IsNotExist(err) {
			t.Errorf("%s: the firewalld record was kept: %v", name, err)
		}
	}
}
