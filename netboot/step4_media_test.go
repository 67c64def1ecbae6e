package netboot

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sharecd/sharecd/netboot/netlab"
	nfsc "github.com/willscott/go-nfs-client/nfs"
	"github.com/willscott/go-nfs-client/nfs/rpc"
	"github.com/willscott/go-nfs-client/nfs/xdr"
)

// TestMediaChangeWhileSharing runs a share of one medium on loopback (DHCP off, so nothing but
// loopback is ever answered), then adds a second medium and takes it out again while the share
// serves, with real clients: tftp-hpa for the menus and kernels, libnfs's nfs-cp for files over
// NFS, and an NFS handle taken before each change and read after it.
func TestMediaChangeWhileSharing(t *testing.T) {
	tftpBin := needPeer(t, "tftp")
	needPeer(t, "nfs-cp")
	first, err := filepath.Abs("testdata/debian-live-lab")
	if err != nil {
		t.Fatal(err)
	}
	second := secondMedium(t, first)

	var logBuf netlab.SyncBuffer
	var mu sync.Mutex
	var events []MediaEvent
	live := &Live{}
	s := &Share{
		Sources: []string{first}, Live: live, MediaIdle: time.Second, NoFirewallChanges: true,
		RunDir: t.TempDir(), StateDir: t.TempDir(), TFTPBoot: false,
		Log: slog.New(slog.NewTextHandler(&logBuf, nil)),
		OnMedia: func(e MediaEvent) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, e)
		},
	}
	takeEvents := func() []MediaEvent {
		mu.Lock()
		defer mu.Unlock()
		out := events
		events = nil
		return out
	}
	ports := startShare(t, s, first, second)

	tftpGet := func(file string) (string, error) {
		out := filepath.Join(t.TempDir(), "got")
		cmd := exec.Command(tftpBin, "-m", "binary", "127.0.0.1", fmt.Sprint(ports.TFTP), "-c", "get", file, out)
		msg, err := cmd.CombinedOutput()
		b, rerr := os.ReadFile(out)
		if err != nil || rerr != nil || len(msg) > 0 {
			// tftp-hpa exits 0 on a TFTP error and says it on stdout.
			return "", fmt.Errorf("tftp get %s: %v %v %s", file, err, rerr, msg)
		}
		return string(b), nil
	}
	nfsCp := func(export, file string) (string, error) {
		out := filepath.Join(t.TempDir(), "got")
		url := fmt.Sprintf("nfs://127.0.0.1%s/%s?nfsport=%d&mountport=%d&version=3", export, file, ports.NFS, ports.NFS)
		msg, err := exec.Command("nfs-cp", url, out).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("nfs-cp %s: %v %s", url, err, msg)
		}
		b, err := os.ReadFile(out)
		return string(b), err
	}
	want := func(what, got string, err error, wantSub string) {
		t.Helper()
		if err != nil || !strings.Contains(got, wantSub) {
			t.Errorf("%s = %q, %v; want it to hold %q", what, got, err, wantSub)
		}
	}

	// One medium: its own menu at the root, its files at their paths, exported at /sharecd.
	menu, err := tftpGet("pxelinux.cfg/default")
	want("the lone medium's menu", menu, err, "nfsroot=127.0.0.1:/sharecd ")
	got, err := tftpGet("live/vmlinuz")
	want("the lone medium's kernel over TFTP", got, err, "stand-in kernel")
	got, err = nfsCp("/sharecd", "live/vmlinuz")
	want("the lone medium's kernel over NFS", got, err, "stand-in kernel")
	nfsClient := dialNFS(t, ports.NFS)
	kernel := nfsClient.lookupPath("/sharecd", "live/vmlinuz")
	want("READ of a handle taken before any change", nfsClient.read(kernel), nil, "stand-in kernel")

	// Add the second medium.
	if err := live.SetSources([]string{first, second}); err != nil {
		t.Fatal(err)
	}
	evs := takeEvents()
	if len(evs) != 1 || evs[0].Change != MediumAdded || evs[0].Source != second {
		t.Fatalf("events of adding a medium: %+v, want one added, %s", evs, second)
	}
	export2 := evs[0].Export
	prefix2 := strings.TrimPrefix(export2, Export+"/")
	if prefix2 == export2 || slices.Contains([]string{"live", "isolinux"}, prefix2) {
		t.Fatalf("the second medium is exported at %s: not beside the first's own names", export2)
	}
	top, err := tftpGet("pxelinux.cfg/default")
	want("the top menu", top, err, "menu label Second live system")
	want("the top menu", top, err, "menu label "+filepath.Base(first))
	want("the top menu", top, err, "config "+prefix2+"/pxelinux.cfg/default")
	// The first medium's files, export and handles did not move.
	got, err = tftpGet("live/vmlinuz")
	want("the first medium's kernel after the change", got, err, "stand-in kernel")
	got, err = nfsCp("/sharecd", "live/vmlinuz")
	want("the first medium's kernel over NFS after the change", got, err, "stand-in kernel")
	want("READ of a handle taken before the change", nfsClient.read(kernel), nil, "stand-in kernel")
	// Its own menu is one the top menu opens, and names its files where they were.
	var firstMenu string
	for _, line := range strings.Split(top, "\n") {
		if dir, ok := strings.CutPrefix(strings.TrimSpace(line), "config "); ok && dir != prefix2+"/pxelinux.cfg/default" {
			firstMenu = dir
		}
	}
	m1, err := tftpGet(firstMenu)
	want("the first medium's menu, opened from the top menu", m1, err, "linux live/vmlinuz")
	want("the first medium's menu, opened from the top menu", m1, err, "nfsroot=127.0.0.1:/sharecd ")
	// The second one is bootable under its directory.
	m2, err := tftpGet(prefix2 + "/pxelinux.cfg/default")
	want("the second medium's menu", m2, err, "nfsroot=127.0.0.1:"+export2+" ")
	got, err = tftpGet(prefix2 + "/live/vmlinuz")
	want("the second medium's kernel over TFTP", got, err, "second medium's kernel")
	got, err = nfsCp(export2, "live/vmlinuz")
	want("the second medium's kernel over NFS", got, err, "second medium's kernel")

	// Take the second out while a client uses it (nfs-cp just read from it): it leaves the
	// menus at once, and stays served to that client, with a warning naming it.
	kernel2 := nfsClient.lookupPath(export2, "live/vmlinuz")
	if err := live.SetSources([]string{first}); err != nil {
		t.Fatal(err)
	}
	evs = takeEvents()
	if len(evs) != 1 || evs[0].Change != MediumInUse || !slices.Contains(evs[0].Clients, netip.MustParseAddr("127.0.0.1")) {
		t.Fatalf("events of removing a medium in use: %+v, want one %q naming 127.0.0.1", evs, MediumInUse)
	}
	if !strings.Contains(logBuf.String(), "still in use") || !strings.Contains(logBuf.String(), "clients=[127.0.0.1]") {
		t.Errorf("no warning naming the client that still uses the removed medium:\n%s", logBuf.String())
	}
	menu, err = tftpGet("pxelinux.cfg/default")
	want("the menu once the second medium is out", menu, err, "nfsroot=127.0.0.1:/sharecd ")
	if strings.Contains(menu, prefix2) {
		t.Errorf("the removed medium is still in the menu:\n%s", menu)
	}
	got, err = tftpGet(prefix2 + "/live/vmlinuz")
	want("the removed medium's kernel while in use", got, err, "second medium's kernel")
	want("READ of the removed medium's handle while in use", nfsClient.read(kernel2), nil, "second medium's kernel")
	if len(fdsUnder(t, second)) == 0 {
		t.Error("the removed medium is not open while in use: the checks of its closing below prove nothing")
	}

	// Once nobody has used it for MediaIdle, it is closed and no longer served.
	deadline := time.Now().Add(10 * time.Second)
	evs = nil
	for len(evs) == 0 || evs[0].Change != MediumRemoved {
		if time.Now().After(deadline) {
			t.Fatalf("the removed medium was not closed once idle: events %+v", evs)
		}
		time.Sleep(200 * time.Millisecond)
		evs = append(evs, takeEvents()...)
	}
	if evs[0].Source != second {
		t.Errorf("removed %s, want %s", evs[0].Source, second)
	}
	if _, err := tftpGet(prefix2 + "/live/vmlinuz"); err == nil {
		t.Error("the removed medium's kernel is still served over TFTP")
	}
	if _, err := nfsCp(export2, "live/vmlinuz"); err == nil {
		t.Error("the removed medium's export still mounts")
	}
	if open := fdsUnder(t, second); len(open) > 0 {
		t.Errorf("the removed medium is still open: %v", open)
	}
	got, err = nfsCp("/sharecd", "live/vmlinuz")
	want("the first medium's kernel over NFS at the end", got, err, "stand-in kernel")
	want("READ of the first handle at the end", nfsClient.read(kernel), nil, "stand-in kernel")

	// A change that cannot be made changes nothing.
	if err := live.SetSources([]string{filepath.Join(t.TempDir(), "missing.iso")}); err == nil {
		t.Error("SetSources of a missing file was taken")
	}
	got, err = tftpGet("live/vmlinuz")
	want("the first medium's kernel after a refused change", got, err, "stand-in kernel")
}

// startShare runs s on loopback with DHCP off until the test ends, and checks then that it
// stopped cleanly and left nothing open under dirs.
func startShare(t *testing.T, s *Share, dirs ...string) Ports {
	t.Helper()
	srcs, _, err := openSources(s.Sources)
	if err != nil {
		t.Fatal(err)
	}
	lo := Iface{Name: "lo", Index: 1, Addr: netip.MustParsePrefix("127.0.0.1/8")}
	p, err := s.plan(srcs, Network{Iface: lo, DHCP: DHCPOff})
	if err != nil {
		t.Fatal(err)
	}
	ports := Ports{TFTP: freePort(t, "udp"), NFS: freePort(t, "tcp"), Portmap: freePort(t, "tcp"), HTTP: freePort(t, "tcp")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	serving := make(chan struct{})
	s.OnServing = func() { close(serving) }
	go func() { done <- s.serve(ctx, p, ports) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		closeSources(srcs)
		if open := fdsUnder(t, dirs...); len(open) > 0 {
			t.Errorf("still open after the share stopped: %v", open)
		}
	})
	select {
	case <-serving:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the share did not start serving in 30 s")
	}
	return ports
}

// TestRescanDirectoryOfISOs shares a directory of ISO files, as `sharecd --share --source DIR`
// does, and gives the share the same sources again after an ISO is copied in and another is
// deleted, as SIGHUP does: one is added, the other removed (no client used it) and closed.
func TestRescanDirectoryOfISOs(t *testing.T) {
	xorriso := needPeer(t, "xorriso")
	lab, err := filepath.Abs("testdata/debian-live-lab")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	iso := func(name, label string) string {
		out := filepath.Join(dir, name)
		cmd := exec.Command(xorriso, "-as", "mkisofs", "-R", "-J", "-V", label, "-o", out, lab)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("xorriso: %v\n%s", err, msg)
		}
		return out
	}
	isoA, isoB := iso("a.iso", "LIVE_A"), iso("b.iso", "LIVE_B")
	var mu sync.Mutex
	var events []string
	live := &Live{}
	s := &Share{Sources: []string{dir}, Live: live, NoFirewallChanges: true, RunDir: t.TempDir(), StateDir: t.TempDir(),
		OnMedia: func(e MediaEvent) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, string(e.Change)+" "+filepath.Base(e.Source))
		}}
	ports := startShare(t, s, dir)
	top := func() string {
		out := filepath.Join(t.TempDir(), "top")
		cmd := exec.Command(needPeer(t, "tftp"), "-m", "binary", "127.0.0.1", fmt.Sprint(ports.TFTP), "-c", "get", "pxelinux.cfg/default", out)
		if msg, err := cmd.CombinedOutput(); err != nil || len(msg) > 0 {
			t.Fatalf("tftp get pxelinux.cfg/default: %v %s", err, msg)
		}
		b, _ := os.ReadFile(out)
		return string(b)
	}
	if m := top(); !strings.Contains(m, "LIVE_A") || !strings.Contains(m, "LIVE_B") {
		t.Fatalf("the top menu before the rescan lacks LIVE_A or LIVE_B:\n%s", m)
	}
	iso("c.iso", "LIVE_C")
	if err := os.Remove(isoB); err != nil {
		t.Fatal(err)
	}
	if err := live.SetSources(s.Sources); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := slices.Clone(events)
	mu.Unlock()
	slices.Sort(got)
	if want := []string{"added c.iso", "removed b.iso"}; !slices.Equal(got, want) {
		t.Errorf("media events of the rescan = %q, want %q", got, want)
	}
	m := top()
	if !strings.Contains(m, "LIVE_A") || !strings.Contains(m, "LIVE_C") || strings.Contains(m, "LIVE_B") {
		t.Errorf("the top menu after the rescan is not LIVE_A and LIVE_C:\n%s", m)
	}
	if open := fdsUnder(t, isoB); len(open) > 0 {
		t.Errorf("the deleted ISO is still open: %v", open)
	}
	if len(fdsUnder(t, isoA)) == 0 {
		t.Error("the ISO kept is not open: the check of the deleted one proves nothing")
	}
}

// secondMedium is a copy of the lab medium with its own label and kernel.
func secondMedium(t *testing.T, from string) string {
	dir := filepath.Join(t.TempDir(), "second")
	if err := os.CopyFS(dir, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		".disk/info":   "Second live system\n",
		"live/vmlinuz": "the second medium's kernel\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// needPeer finds a client program the test drives; missing, it skips, and fails under CI=true.
func needPeer(t *testing.T, name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (CI=true): install it (see .ci/run)", name)
		}
		t.Skipf("%s is not installed (tftp-hpa, libnfs-utils)", name)
	}
	return p
}

func freePort(t *testing.T, proto string) int {
	if proto == "udp" {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// fdsUnder lists this process's descriptors open on files under the directories.
func fdsUnder(t *testing.T, dirs ...string) []string {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue
		}
		target = strings.TrimSuffix(target, " (deleted)") // a file removed while open
		for _, d := range dirs {
			if target == d || strings.HasPrefix(target, d+"/") {
				out = append(out, target)
			}
		}
	}
	return out
}

// nfsTestClient is one NFS client connection that keeps its handles across changes of media,
// as a running client's kernel does.
type nfsTestClient struct {
	t    *testing.T
	port int
	nc   *rpc.Client
}

func dialNFS(t *testing.T, port int) *nfsTestClient {
	nc, err := rpc.DialTCP("tcp", fmt.Sprintf("127.0.0.1:%d", port), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &nfsTestClient{t: t, port: port, nc: nc}
}

func (c *nfsTestClient) hdr(prog, vers, proc uint32) rpc.Header {
	return rpc.Header{Rpcvers: 2, Prog: prog, Vers: vers, Proc: proc, Cred: rpc.AuthNull, Verf: rpc.AuthNull}
}

// lookupPath mounts export and looks file up, one name at a time, on the one connection.
func (c *nfsTestClient) lookupPath(export, file string) []byte {
	c.t.Helper()
	st, res, err := netlab.NFSCall(c.nc, &netlab.MntArgs{Header: c.hdr(nfsc.MountProg, nfsc.MountVers, nfsc.MountProc3MNT), Dirpath: export})
	if err != nil || st != 0 {
		c.t.Fatalf("MNT %s: status %d, %v", export, st, err)
	}
	fh, err := xdr.ReadOpaque(res)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, name := range strings.Split(file, "/") {
		st, res, err := netlab.NFSCall(c.nc, &netlab.DiropArgs{Header: c.hdr(nfsc.Nfs3Prog, nfsc.Nfs3Vers, nfsc.NFSProc3Lookup), Dir: fh, Name: name})
		if err != nil || st != 0 {
			c.t.Fatalf("LOOKUP %s in %s: status %d, %v", name, export, st, err)
		}
		if fh, err = xdr.ReadOpaque(res); err != nil {
			c.t.Fatal(err)
		}
	}
	return fh
}

// read READs the start of a small file through its handle; "" and an error line when it fails.
func (c *nfsTestClient) read(fh []byte) string {
	st, res, err := netlab.NFSCall(c.nc, &netlab.ReadArgs{Header: c.hdr(nfsc.Nfs3Prog, nfsc.Nfs3Vers, nfsc.NFSProc3Read), FH: fh, Offset: 0, Count: 4096})
	if err != nil || st != 0 {
		return fmt.Sprintf("READ failed: status %d, %v", st, err)
	}
	var rr struct {
		Attr       nfsc.PostOpAttr
		Count, EOF uint32
		Len        uint32
	}
	if err := xdr.Read(res, &rr); err != nil {
		return fmt.Sprintf("READ reply: %v", err)
	}
	b, _ := io.ReadAll(io.LimitReader(res, int64(rr.Len)))
	return string(b)
}
