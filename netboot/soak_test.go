package netboot_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	pintftp "github.com/pin/tftp/v3"
	nfsc "github.com/willscott/go-nfs-client/nfs"
	"github.com/willscott/go-nfs-client/nfs/rpc"
	"github.com/willscott/go-nfs-client/nfs/xdr"
	"golang.org/x/sync/errgroup"

	"github.com/sharecd/sharecd/assets"
	"github.com/sharecd/sharecd/netboot/httpd"
	"github.com/sharecd/sharecd/netboot/medium"
	"github.com/sharecd/sharecd/netboot/netlab"
	"github.com/sharecd/sharecd/netboot/nfs"
	"github.com/sharecd/sharecd/netboot/tftp"
)

// TestSoak runs about a hundred PXE clients' worth of TFTP, NFS and HTTP traffic at once against
// one set of the real servers on 127.0.0.1, for SHARECD_SOAK (a Go duration, default 20s) per
// medium: the medium as a directory, then as an ISO 9660 image (xorriso), because the image
// reader is a separate read path. The clients are real protocol clients (pin/tftp, the RPC layer
// of go-nfs-client, net/http) and check every byte they get. At the end it asserts no request
// error beyond the refusals it provoked, and no leak: goroutines, file descriptors and heap come
// back to what they were after a warm-up, once with the servers still running (a per-connection
// leak hides when everything is torn down) and once after they stop.
//
// CI runs it long on its own: SHARECD_SOAK=10m go test -timeout 40m -run '^TestSoak$' ./netboot
func TestSoak(t *testing.T) {
	d := 20 * time.Second
	if s := os.Getenv("SHARECD_SOAK"); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d <= 0 {
			t.Fatalf("SHARECD_SOAK=%q: want a positive Go duration such as 20s or 10m", s)
		}
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SHARECD_SOAK_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("SHARECD_SOAK_SEED=%q: %v", s, err)
		}
	}
	t.Logf("soaking %v per medium; each client's requests follow SHARECD_SOAK_SEED=%d", d, seed)

	// go-nfs-client gives up waiting for a reply after rpc.DefaultReadTimeout (5 s) and sends the
	// call again; a reply that then arrives for the old call blocks its receiving goroutine for
	// good (an unbuffered channel nobody reads any more), and the connection with it. A READ slower
	// than 5 s on a loaded CI machine must not take that path: a lost reply shows up as a hung
	// client that the soak's watchdog reports with every goroutine's stack instead.
	defer func(d time.Duration) { rpc.DefaultReadTimeout = d }(rpc.DefaultReadTimeout)
	rpc.DefaultReadTimeout = 2 * time.Minute

	top := t.TempDir()
	dir := filepath.Join(top, "medium")
	want := writeSoakMedium(t, top, dir)

	t.Run("dir", func(t *testing.T) { soak(t, dir, want, d, seed) })
	t.Run("iso", func(t *testing.T) {
		if _, err := exec.LookPath("xorriso"); err != nil {
			netlab.Skipf(t, "xorriso not installed (apt-get install xorriso)")
		}
		iso := filepath.Join(top, "medium.iso")
		cmd := exec.Command("xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-V", "SHARECD_SOAK", "-o", iso, dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("xorriso: %v\n%s", err, out)
		}
		soak(t, iso, want, d, seed)
	})
}

// The client mix: about 100 loops at once, as many as a classroom booting together.
const (
	soakTFTPClients = 50
	soakNFSClients  = 40
	soakHTTPClients = 10

	// soakLinkRate paces the NFS and HTTP clients together to what a gigabit LAN carries.
	// Unpaced on loopback they move data as fast as two cores can copy it and starve TFTP's
	// lock-step transfers (65 MiB/s alone, under 1 MiB/s beside them, here): that measures the
	// test machine rather than the servers, whose real clients are limited by their link.
	soakLinkRate = 1e9 / 8 // bytes per second
)

// link is the shared LAN: wait returns when n more bytes fit through it.
type link struct {
	mu   sync.Mutex
	next time.Time // when the link is free again
}

func (l *link) wait(ctx context.Context, n int64) {
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	at := l.next
	l.next = l.next.Add(time.Duration(float64(n) / soakLinkRate * float64(time.Second)))
	l.mu.Unlock()
	if d := time.Until(at); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}

const (
	soakKernel = "live/vmlinuz"
	soakInitrd = "live/initrd.img"
	soakSquash = "live/filesystem.squashfs"
	soakMenu   = "pxelinux.cfg/default"
)

// soakLoaders are what pxelinux fetches from the embedded loader layer before the kernel.
var soakLoaders = []string{"pxelinux.0", "ldlinux.c32", "vesamenu.c32", "libcom32.c32", "libutil.c32"}

// soakFile is a file the clients fetch and what it must hold.
type soakFile struct {
	name string
	size int64
	seed uint64 // content is the pattern below with this seed, unless data is set
	data []byte // literal content: the embedded loaders and the generated menu
}

// fill puts the file's bytes at off into dst. The pattern file's every 8-byte big-endian word
// holds its own offset xor the file's seed, so a misplaced block says where it came from and
// which file it belongs to, and the expected bytes never have to be held in memory (which keeps
// the heap check below sensitive: a 32 MiB copy would swamp it).
func (f *soakFile) fill(dst []byte, off int64) {
	if f.data != nil {
		copy(dst, f.data[off:])
		return
	}
	for i := 0; i < len(dst); {
		o := off + int64(i)
		w := uint64(o&^7) ^ f.seed
		if o&7 == 0 && len(dst)-i >= 8 {
			binary.BigEndian.PutUint64(dst[i:], w)
			i += 8
			continue
		}
		dst[i] = byte(w >> (56 - 8*(o&7)))
		i++
	}
}

type soakFiles map[string]*soakFile

// writeSoakMedium writes a small live medium to dir: kernel and initrd of a few MB, a 32 MiB
// "squashfs" (odd sizes, so the last block and READ end mid-word), .disk/info, and a symlink
// that points outside the medium at a secret file beside it.
func writeSoakMedium(t *testing.T, top, dir string) soakFiles {
	t.Helper()
	files := soakFiles{}
	for i, f := range []*soakFile{
		{name: soakKernel, size: 3<<20 + 4321},
		{name: soakInitrd, size: 5<<20 + 777},
		{name: soakSquash, size: 32<<20 + 1234},
	} {
		f.seed = 0x5348415245434400 + uint64(i)<<56
		files[f.name] = f
		p := filepath.Join(dir, f.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1<<20)
		for off := int64(0); off < f.size; off += int64(len(buf)) {
			b := buf[:min(int64(len(buf)), f.size-off)]
			f.fill(b, off)
			if _, err := out.Write(b); err != nil {
				t.Fatal(err)
			}
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range map[string]string{
		".disk/info":                  "sharecd soak medium\n",
		filepath.Join("..", "secret"): "not on the medium\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../secret", filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	menu := []byte("DEFAULT live\nLABEL live\n  KERNEL /live/vmlinuz\n  APPEND initrd=/live/initrd.img boot=live netboot=nfs nfsroot=127.0.0.1:/sharecd\n")
	files[soakMenu] = &soakFile{name: soakMenu, size: int64(len(menu)), data: menu}
	for _, name := range soakLoaders {
		b, err := fs.ReadFile(assets.BIOS(), name)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = &soakFile{name: name, size: int64(len(b)), data: b}
	}
	return files
}

// errStopped is what a checker returns once the soak is over, so a download in flight is
// aborted by the client (which the servers must clean up after too) rather than finished.
var errStopped = errors.New("soak over")

// checker verifies a stream of the bytes off..end of a file as they arrive.
type checker struct {
	ctx      context.Context
	f        *soakFile
	off, end int64
	buf      []byte
}

func (c *checker) Write(p []byte) (int, error) {
	if c.ctx.Err() != nil {
		return 0, errStopped
	}
	if int64(len(p)) > c.end-c.off {
		return 0, fmt.Errorf("%s: %d bytes at offset %d, past the end %d", c.f.name, len(p), c.off, c.end)
	}
	for done := 0; done < len(p); {
		n := min(len(p)-done, len(c.buf))
		got, want := p[done:done+n], c.buf[:n]
		c.f.fill(want, c.off)
		if !bytes.Equal(got, want) {
			i := firstDiff(got, want)
			return done + i, fmt.Errorf("%s: byte %d is %#02x, want %#02x", c.f.name, c.off+int64(i), got[i], want[i])
		}
		done += n
		c.off += int64(n)
	}
	return len(p), nil
}

func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return len(a)
}

// --- the run ---------------------------------------------------------------------------------

// counters are one protocol's totals. refused counts the bad requests that were refused as
// they must be; aborted counts downloads cut short by the end of the soak.
type counters struct {
	ok, bytes, refused, aborted atomic.Int64
}

type soakRun struct {
	ctx   context.Context // ends the soak; requests already in flight finish (or abort)
	files soakFiles
	seed  uint64

	tftpAddr string
	pmapAddr string
	nfsPort  int
	httpBase string
	http     *http.Client
	auth     rpc.Auth
	link     link

	tftp, nfs, httpc counters
	mounts           atomic.Int64 // successful MNTs, to match the server's "mount" events
	fullGets         atomic.Int64 // whole-file HTTP GETs, to match the server's OnDone
	fullAborted      atomic.Int64 // whole-file GETs the end of the soak cut short
	bindRetries      atomic.Int64 // go-nfs-client's own random source ports that were taken

	mu   sync.Mutex
	errs []string
	nerr int
}

// fail records an unexpected failure; the first few are reported in full.
func (r *soakRun) fail(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nerr++
	if len(r.errs) < 20 {
		r.errs = append(r.errs, fmt.Sprintf(format, args...))
	}
}

// reset zeroes the totals after the warm-up.
func (r *soakRun) reset() {
	for _, c := range []*counters{&r.tftp, &r.nfs, &r.httpc} {
		c.ok.Store(0)
		c.bytes.Store(0)
		c.refused.Store(0)
		c.aborted.Store(0)
	}
	r.mounts.Store(0)
	r.fullGets.Store(0)
	r.fullAborted.Store(0)
	r.bindRetries.Store(0)
}

func (r *soakRun) failures() (int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nerr, append([]string(nil), r.errs...)
}

// serverTally is what the servers' own callbacks saw.
type serverTally struct {
	tftpDone, tftpEarly, nfsMounts, httpDone atomic.Int64
}

func (s *serverTally) reset() {
	for _, n := range []*atomic.Int64{&s.tftpDone, &s.tftpEarly, &s.nfsMounts, &s.httpDone} {
		n.Store(0)
	}
}

func soak(t *testing.T, path string, files soakFiles, d time.Duration, seed uint64) {
	if dl, ok := t.Deadline(); ok && time.Until(dl) < d+2*time.Minute {
		t.Fatalf("SHARECD_SOAK=%v does not fit in what is left of go test's -timeout (%v): raise -timeout",
			d, time.Until(dl).Round(time.Second))
	}
	m, err := medium.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close() // after the servers have stopped (defers run last-in first-out)

	// The TFTP and HTTP tree as Share builds it: generated menu over embedded loaders over the medium.
	tree := tftp.Overlay{
		tftp.Files{soakMenu: files[soakMenu].data},
		tftp.Only(assets.BIOS(), soakLoaders...),
		m.FS,
	}

	// The first socket of the process opens the runtime's poller; do that before the baselines so
	// they hold only what stays open.
	if l, err := net.Listen("tcp4", "127.0.0.1:0"); err == nil {
		l.Close()
	}
	g0 := quiesce()
	fd0, pipes0 := countFDs(t), pipeFDs()

	var warn netlab.SyncBuffer // the servers' warnings and errors: none may appear
	log := slog.New(slog.NewTextHandler(&warn, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var tally serverTally
	ctftp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lnfs := listen(t)
	lpm := listen(t)
	upm, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lhttp := listen(t)
	nfsPort := lnfs.Addr().(*net.TCPAddr).Port

	// The default window; the simulated pxelinux clients ask for none, so lock-step. Every
	// simulated client comes from 127.0.0.1: the per-client bounds are lifted to the totals, which
	// still hold.
	tftpSrv := &tftp.Server{FS: tree, MaxTransfersPerClient: tftp.DefaultMaxTransfers, Log: log.With("server", "tftp"), OnDone: func(tr tftp.Transfer) {
		if tr.Err == nil && tr.Bytes == tr.Size {
			tally.tftpDone.Add(1)
		} else {
			tally.tftpEarly.Add(1)
		}
	}}
	nfsSrv := &nfs.Server{FS: m.FS, Export: "/sharecd", MaxConnsPerClient: nfs.DefaultMaxConns, Log: log.With("server", "nfs"), OnEvent: func(_ netip.Addr, what string) {
		if what == "mount" {
			tally.nfsMounts.Add(1)
		}
	}}
	pm := &nfs.Portmapper{NFSPort: nfsPort, MountPort: nfsPort, MaxConnsPerClient: nfs.DefaultPmapMaxConns, Log: log.With("server", "portmap")}
	httpSrv := &httpd.Server{FS: tree, MaxConnsPerClient: httpd.DefaultMaxConns, Log: log.With("server", "http"), OnDone: func(netip.Addr, string) { tally.httpDone.Add(1) }}

	serveCtx, stopServers := context.WithCancel(context.Background())
	g, gctx := errgroup.WithContext(serveCtx)
	g.Go(func() error { return tftpSrv.Serve(gctx, ctftp) })
	g.Go(func() error { return nfsSrv.Serve(gctx, lnfs) })
	g.Go(func() error { return pm.Serve(gctx, lpm, upm) })
	g.Go(func() error { return httpSrv.Serve(gctx, lhttp) })
	serving := true
	defer func() {
		if serving { // a t.Fatal on the way: still stop and join every server
			stopServers()
			_ = g.Wait()
		}
	}()

	transport := &http.Transport{MaxIdleConnsPerHost: soakHTTPClients, DisableCompression: true}
	defer transport.CloseIdleConnections()
	r := &soakRun{
		files:    files,
		seed:     seed,
		tftpAddr: ctftp.LocalAddr().String(),
		pmapAddr: lpm.Addr().String(),
		nfsPort:  nfsPort,
		httpBase: "http://" + lhttp.Addr().String(),
		http:     &http.Client{Transport: transport, Timeout: 2 * time.Minute},
		auth:     rpc.NewAuthUnix("sharecd-soak", 0, 0).Auth(),
	}

	// Warm-up: one of every kind of request, so everything the servers set up once (open-file
	// and attribute caches, pools, the medium's index pages) is in the baselines below.
	r.ctx = context.Background()
	r.tftpBoot(0, rand.New(rand.NewPCG(seed, 0)), tftpProfiles[0], true)
	r.nfsSession(0, rand.New(rand.NewPCG(seed, 1)), 16, 4, true)
	r.httpRequest(0, rand.New(rand.NewPCG(seed, 2)), 0)
	r.httpRequest(0, rand.New(rand.NewPCG(seed, 3)), 95)
	if n, errs := r.failures(); n > 0 {
		t.Fatalf("warm-up: %d errors:\n%s", n, strings.Join(errs, "\n"))
	}
	transport.CloseIdleConnections()
	g1 := quiesce()
	r.reset()
	tally.reset()
	fd1, pipes1 := countFDs(t), pipeFDs()
	h1 := heapInuse()

	// The soak.
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	r.ctx = ctx
	var wg sync.WaitGroup
	for i := range soakTFTPClients {
		wg.Go(func() { r.tftpClient(i) })
	}
	for i := range soakNFSClients {
		wg.Go(func() { r.nfsClient(i) })
	}
	for i := range soakHTTPClients {
		wg.Go(func() { r.httpClient(i) })
	}
	var peakHeap uint64
	var peakG int
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				peakHeap = max(peakHeap, ms.HeapInuse)
				peakG = max(peakG, runtime.NumGoroutine())
			}
		}
	}()
	start := time.Now()
	clientsDone := make(chan struct{})
	go func() { wg.Wait(); close(clientsDone) }()
	select {
	case <-clientsDone:
	case <-time.After(d + 3*time.Minute):
		// Every request is bounded by its client's own timeouts well below this; a client still
		// running means a server stopped answering. The stacks say where.
		t.Fatalf("clients still running %v after the soak ended; goroutines:\n%s", 3*time.Minute, goroutines())
	}
	elapsed := time.Since(start)
	<-sampled

	// With the servers still running and every client gone, the servers are back to idle: a
	// connection's or transfer's goroutine or descriptor that outlives it shows here, where
	// stopping the servers would hide it. The one goroutine of slack is the runtime's finalizer
	// goroutine, which counts while it runs a finalizer.
	transport.CloseIdleConnections()
	g2 := waitFor(func() int { return runtime.NumGoroutine() }, g1+1)
	if g2 > g1+1 {
		t.Errorf("goroutines with the servers idle: %d after the soak, %d after warm-up; goroutines:\n%s", g2, g1, goroutines())
	}
	// The NFS server keeps the pipes its READs went through, at most 8 (nfs's pipe pool), for
	// the next client: those are counted apart.
	fd2 := waitFor(func() int { return countFDs(t) - pipeFDs() }, fd1-pipes1)
	if fd2 > fd1-pipes1 {
		t.Errorf("open files other than pipes with the servers idle: %d after the soak, %d after warm-up:\n%s", fd2, fd1-pipes1, listFDs())
	}
	if p := pipeFDs() - pipes0; p > 2*8 {
		t.Errorf("%d more pipe descriptors with the servers idle than before they started, more than the NFS server's 8 pipes:\n%s", p, listFDs())
	}
	fd2 += pipeFDs()
	// HeapInuse after full collections is what is live plus the free part of spans that still
	// hold live objects. What may legitimately differ from the warm-up is small and does not
	// grow with the number of requests: that fragmentation, caches bounded by the medium (open
	// files, attributes, handles), the runtime's own structures sized by the peak goroutine
	// count. 2x the warm-up heap (~1.5 MiB) + 8 MiB covers that with room; a leak of per-request
	// state does not fit in it for long: the default 20 s soak makes ~7,000 requests (catching
	// about 1 KiB each), a 10-minute one 100,000 or more (catching under 100 bytes each).
	h2 := heapInuse()
	if limit := 2*h1 + 8<<20; h2 > limit {
		t.Errorf("heap in use after the soak %.1f MiB, after warm-up %.1f MiB: more than 2x + 8 MiB", mib(h2), mib(h1))
	}

	// Stop the servers: each Serve returns nil, and everything they started is gone.
	stopServers()
	if err := g.Wait(); err != nil {
		t.Errorf("a server failed: %v", err)
	}
	serving = false
	transport.CloseIdleConnections()
	g3 := waitFor(func() int { return runtime.NumGoroutine() }, g0+1)
	if g3 > g0+1 {
		t.Errorf("goroutines after the servers stopped: %d, before they started: %d; goroutines:\n%s", g3, g0, goroutines())
	}
	fd3 := waitFor(func() int { return countFDs(t) }, fd0)
	if fd3 > fd0 {
		t.Errorf("open files after the servers stopped: %d, before they started: %d:\n%s", fd3, fd0, listFDs())
	}

	// Totals.
	secs := elapsed.Seconds()
	for _, p := range []struct {
		name string
		c    *counters
	}{{"tftp", &r.tftp}, {"nfs", &r.nfs}, {"http", &r.httpc}} {
		t.Logf("%-4s %7d requests ok, %6d refused as they must be, %4d aborted at the end; %8.1f MiB, %6.1f MiB/s",
			p.name, p.c.ok.Load(), p.c.refused.Load(), p.c.aborted.Load(), mib(uint64(p.c.bytes.Load())), mib(uint64(p.c.bytes.Load()))/secs)
	}
	t.Logf("%v of soak; goroutines: %d before the servers, %d idle after warm-up, peak %d, %d idle after, %d after stop; "+
		"open files: %d, %d, %d, %d; heap in use: %.1f MiB after warm-up, peak %.1f MiB, %.1f MiB after",
		elapsed.Round(time.Millisecond), g0, g1, peakG, g2, g3, fd0, fd1, fd2, fd3, mib(h1), mib(peakHeap), mib(h2))
	t.Logf("servers saw: %d TFTP transfers done, %d ended early; %d NFS mounts; %d whole HTTP downloads; go-nfs-client source-port retries: %d",
		tally.tftpDone.Load(), tally.tftpEarly.Load(), tally.nfsMounts.Load(), tally.httpDone.Load(), r.bindRetries.Load())

	// The servers' progress callbacks agree with what the clients saw (they feed the GUI's stages).
	if got, want := tally.nfsMounts.Load(), r.mounts.Load(); got != want {
		t.Errorf("NFS server reported %d mounts, clients made %d", got, want)
	}
	// The HTTP server's "done" means all written to the socket, so a download the client gave
	// up at the very end may count there too.
	if got, done, cut := tally.httpDone.Load(), r.fullGets.Load(), r.fullAborted.Load(); got < done || got > done+cut {
		t.Errorf("HTTP server reported %d whole downloads, clients finished %d and cut %d short", got, done, cut)
	}
	if got, want := tally.tftpDone.Load(), r.tftp.ok.Load(); got != want {
		t.Errorf("TFTP server reported %d transfers done, clients verified %d", got, want)
	}
	if n, errs := r.failures(); n > 0 {
		t.Errorf("%d request errors; the first %d:\n%s", n, len(errs), strings.Join(errs, "\n"))
	}
	if w := warn.String(); w != "" {
		t.Errorf("the servers logged warnings or errors:\n%s", w)
	}
	// A soak in which a protocol moved nothing tested nothing of it. (Under -race on a loaded
	// machine, 400 busy goroutines can starve TFTP's lock-step transfers this far.)
	for name, c := range map[string]*counters{"tftp": &r.tftp, "nfs": &r.nfs, "http": &r.httpc} {
		if c.ok.Load() == 0 {
			t.Errorf("%s: no request succeeded in %v: were the clients starved of CPU?", name, elapsed.Round(time.Second))
		}
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// --- TFTP ------------------------------------------------------------------------------------

// tftpProfile is the options a PXE client puts in its read requests.
type tftpProfile struct {
	name    string
	blksize int // 0: no blksize option (512-byte blocks)
	tsize   bool
}

// tftpProfiles are the option sets of real PXE clients.
var tftpProfiles = []tftpProfile{
	{"ipxe", 1432, true},      // iPXE: blksize 1432 tsize 0
	{"intel-rom", 1456, true}, // Intel/PXELINUX-era ROMs
	{"ovmf", 1468, true},      // EDK2's PXE: the largest block a 1500-byte MTU carries
	{"plain", 0, false},       // no options: 512-byte blocks (old ROMs, tftp-hpa defaults)
}

// tftpBad are names that must be refused: missing, climbing out, a link leading out, a directory.
var tftpBad = []string{
	"live/missing", "../etc/passwd", "/../../etc/passwd", "live/../../secret", `..\secret`, "escape", "live",
}

func (r *soakRun) tftpClient(id int) {
	rnd := rand.New(rand.NewPCG(r.seed, uint64(1000+id)))
	for boot := 0; r.ctx.Err() == nil; boot++ {
		r.tftpBoot(id, rnd, tftpProfiles[rnd.IntN(len(tftpProfiles))], boot%4 == id%4)
	}
}

// tftpBoot fetches what pxelinux fetches on one boot, after one name that must fail if bad.
func (r *soakRun) tftpBoot(id int, rnd *rand.Rand, p tftpProfile, bad bool) {
	c, err := pintftp.NewClient(r.tftpAddr)
	if err != nil {
		r.fail("tftp client %d: %v", id, err)
		return
	}
	if err := c.SetLocalAddr("127.0.0.1"); err != nil {
		r.fail("tftp client %d: %v", id, err)
		return
	}
	if p.blksize > 0 {
		c.SetBlockSize(p.blksize)
	}
	c.RequestTSize(p.tsize)
	if bad {
		// A mistyped or hostile name first; it must get a file-not-found ERROR, not silence.
		name := tftpBad[rnd.IntN(len(tftpBad))]
		wt, err := c.Receive(name, "octet")
		switch {
		case err != nil && strings.Contains(err.Error(), "code: 1, message: file not found"):
			r.tftp.refused.Add(1)
		case err != nil:
			r.fail("tftp client %d (%s): RRQ %q: %v, want a file-not-found ERROR", id, p.name, name, err)
		default:
			n, _ := wt.WriteTo(io.Discard)
			r.fail("tftp client %d (%s): RRQ %q was served (%d bytes)", id, p.name, name, n)
		}
	}
	buf := make([]byte, 64<<10)
	seq := append(append([]string{}, soakLoaders[:2]...), soakMenu)
	seq = append(seq, soakLoaders[2:]...)
	seq = append(seq, soakKernel, soakInitrd)
	for _, name := range seq {
		if r.ctx.Err() != nil {
			return
		}
		r.tftpGet(id, c, p.name, p.tsize, r.files[name], buf)
	}
}

func (r *soakRun) tftpGet(id int, c *pintftp.Client, profile string, tsize bool, f *soakFile, buf []byte) {
	wt, err := c.Receive(f.name, "octet")
	if err != nil {
		r.fail("tftp client %d (%s): RRQ %s: %v", id, profile, f.name, err)
		return
	}
	if tsize {
		if n, ok := wt.(pintftp.IncomingTransfer).Size(); !ok || n != f.size {
			// Still take the transfer: an abandoned one would hold the client's socket.
			r.fail("tftp client %d (%s): %s: tsize %d (%v), want %d", id, profile, f.name, n, ok, f.size)
		}
	}
	ck := &checker{ctx: r.ctx, f: f, end: f.size, buf: buf}
	n, err := wt.WriteTo(ck)
	switch {
	case errors.Is(err, errStopped):
		r.tftp.aborted.Add(1)
	case err != nil:
		r.fail("tftp client %d (%s): %s after %d bytes: %v", id, profile, f.name, n, err)
	case n != f.size || ck.off != f.size:
		r.fail("tftp client %d (%s): %s: got %d bytes, want %d", id, profile, f.name, n, f.size)
	default:
		r.tftp.ok.Add(1)
		r.tftp.bytes.Add(n)
	}
}

// --- NFS -------------------------------------------------------------------------------------
//
// The calls go through go-nfs-client's RPC layer, not its Target (netlab/nfscalls.go says why).

const (
	nfs3ErrNoEnt = 2
	nfs3ErrROFS  = 30
)

func (r *soakRun) hdr(prog, vers, proc uint32) rpc.Header {
	return rpc.Header{Rpcvers: 2, Prog: prog, Vers: vers, Proc: proc, Cred: r.auth, Verf: rpc.AuthNull}
}

// dialRPC connects go-nfs-client's RPC client. It binds a random source port of its own
// choosing (49152-65535) and does not retry when that port is taken, by another socket or one
// in TIME_WAIT from an earlier session; that is the client's doing, so it is retried here.
func (r *soakRun) dialRPC(addr string) (*rpc.Client, error) {
	for try := 0; ; try++ {
		c, err := rpc.DialTCP("tcp", addr, false)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) || try == 50 {
			return nil, err
		}
		r.bindRetries.Add(1)
	}
}

func (r *soakRun) nfsClient(id int) {
	rnd := rand.New(rand.NewPCG(r.seed, uint64(2000+id)))
	for session := 0; r.ctx.Err() == nil; session++ {
		depth := 1
		if rnd.IntN(2) == 0 {
			depth = 4 // READs in flight on one connection, as the Linux client's readahead sends them
		}
		if !r.nfsSession(id, rnd, 16+rnd.IntN(112), depth, session%2 == id%2) {
			time.Sleep(100 * time.Millisecond) // a failure is already recorded; don't spin on it
		}
	}
}

// nfsSession is one client's boot: GETPORT for MOUNT and NFS, MNT on its own connection (as
// klibc's nfsmount does), LOOKUP of the squashfs, reads of it at random offsets in depth
// parallel streams, and with writes, attempts to change the medium that must fail.
func (r *soakRun) nfsSession(id int, rnd *rand.Rand, reads, depth int, writes bool) bool {
	fail := func(format string, args ...any) bool {
		r.fail("nfs client %d: "+format, append([]any{id}, args...)...)
		return false
	}
	sq := r.files[soakSquash]

	pc, err := r.dialRPC(r.pmapAddr)
	if err != nil {
		return fail("portmapper: %v", err)
	}
	pmc := &rpc.Portmapper{Client: pc}
	mport, err1 := pmc.Getport(rpc.Mapping{Prog: nfsc.MountProg, Vers: nfsc.MountVers, Prot: rpc.IPProtoTCP})
	nport, err2 := pmc.Getport(rpc.Mapping{Prog: nfsc.Nfs3Prog, Vers: nfsc.Nfs3Vers, Prot: rpc.IPProtoTCP})
	pc.Close()
	if err := errors.Join(err1, err2); err != nil || mport != r.nfsPort || nport != r.nfsPort {
		return fail("GETPORT: mount %d, nfs %d (%v), want %d", mport, nport, err, r.nfsPort)
	}
	r.nfs.ok.Add(2)

	mc, err := r.dialRPC(fmt.Sprintf("127.0.0.1:%d", mport))
	if err != nil {
		return fail("MOUNT connection: %v", err)
	}
	st, res, err := netlab.NFSCall(mc, &netlab.MntArgs{Header: r.hdr(nfsc.MountProg, nfsc.MountVers, nfsc.MountProc3MNT), Dirpath: "/sharecd"})
	var root []byte
	if err == nil && st == 0 {
		root, err = xdr.ReadOpaque(res)
	}
	mc.Close()
	if err != nil || st != 0 {
		return fail("MNT /sharecd: status %d, %v", st, err)
	}
	r.nfs.ok.Add(1)
	r.mounts.Add(1)

	nc, err := r.dialRPC(fmt.Sprintf("127.0.0.1:%d", nport))
	if err != nil {
		return fail("NFS connection: %v", err)
	}
	defer nc.Close()
	lookup := func(dir []byte, name string) (uint32, []byte, nfsc.PostOpAttr, error) {
		st, res, err := netlab.NFSCall(nc, &netlab.DiropArgs{Header: r.hdr(nfsc.Nfs3Prog, nfsc.Nfs3Vers, nfsc.NFSProc3Lookup), Dir: dir, Name: name})
		var attr nfsc.PostOpAttr
		if err != nil || st != 0 {
			return st, nil, attr, err
		}
		fh, err := xdr.ReadOpaque(res)
		if err == nil {
			err = xdr.Read(res, &attr)
		}
		return st, fh, attr, err
	}
	st, live, _, err := lookup(root, "live")
	if err != nil || st != 0 {
		return fail("LOOKUP live: status %d, %v", st, err)
	}
	st, fh, attr, err := lookup(live, "filesystem.squashfs")
	if err != nil || st != 0 || !attr.IsSet || attr.Attr.Filesize != uint64(sq.size) || attr.Attr.Type != nfsc.NF3Reg {
		return fail("LOOKUP filesystem.squashfs: status %d, attributes %+v, %v", st, attr, err)
	}
	r.nfs.ok.Add(2)
	if st, _, _, err := lookup(live, "missing"); err != nil || st != nfs3ErrNoEnt {
		return fail("LOOKUP live/missing: status %d, %v; want NFS3ERR_NOENT", st, err)
	}
	r.nfs.refused.Add(1)

	// The reads: depth streams on the one connection, each with its own buffer.
	var next atomic.Int64
	var wg sync.WaitGroup
	ok := true
	var okMu sync.Mutex
	for range depth {
		seed := rnd.Uint64()
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(seed, 0))
			buf := make([]byte, 128<<10) // the expected bytes, then a copy buffer
			for next.Add(1) <= int64(reads) && r.ctx.Err() == nil {
				if !r.nfsRead(id, nc, fh, sq, rnd, buf) {
					okMu.Lock()
					ok = false
					okMu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if !ok {
		return false
	}

	if writes && r.ctx.Err() == nil {
		// The link that leaves the medium may have a handle; reading through it must fail.
		st, efh, _, err := lookup(root, "escape")
		if err != nil {
			return fail("LOOKUP escape: %v", err)
		}
		if st == 0 {
			st, _, err = netlab.NFSCall(nc, &netlab.ReadArgs{Header: r.hdr(nfsc.Nfs3Prog, nfsc.Nfs3Vers, nfsc.NFSProc3Read), FH: efh, Offset: 0, Count: 4096})
			if err != nil || st == 0 {
				return fail("READ through the link that leaves the medium: status %d, %v", st, err)
			}
		}
		r.nfs.refused.Add(1)
		for _, w := range []struct {
			what string
			args any
		}{
			{"WRITE", &netlab.WriteArgs{Header: r.hdr(nfsc.Nfs3Prog, nfsc.Nfs3Vers, nfsc.NFSProc3Write), FH: fh, Offset: 4096, Count: 5, Stable: 2, Data: []byte("oops!")}},
			{"CREATE", &netlab.CreateArgs{Header: r.hdr(nfsc.Nfs3Prog, nfsc.Nfs3Vers, nfsc.NFSProc3Create), Dir: live, Name: "new"}},
			{"REMOVE", &netlab.DiropArgs{Header: r.hdr(nfsc.Nfs3Prog, nfsc.Nfs3Vers, nfsc.NFSProc3Remove), Dir: live, Name: "filesystem.squashfs"}},
		} {
			st, _, err := netlab.NFSCall(nc, w.args)
			if err != nil || st != nfs3ErrROFS {
				return fail("%s on the medium: status %d, %v; want NFS3ERR_ROFS", w.what, st, err)
			}
			r.nfs.refused.Add(1)
		}
	}
	return true
}

// nfsReadSizes are READ counts of real clients: klibc's and old clients' 4 KiB, 32 KiB, the
// Linux readahead's 128 KiB, and a full 1 MiB rsize.
var nfsReadSizes = []int64{4 << 10, 32 << 10, 128 << 10, 1 << 20}

func (r *soakRun) nfsRead(id int, nc *rpc.Client, fh []byte, f *soakFile, rnd *rand.Rand, buf []byte) bool {
	count := nfsReadSizes[rnd.IntN(len(nfsReadSizes))]
	var off int64
	switch k := rnd.IntN(100); {
	case k < 80: // page-aligned, as the page cache asks
		off = rnd.Int64N(f.size) &^ 4095
	case k < 90: // anywhere
		off = rnd.Int64N(f.size)
	case k < 97: // the tail, crossing EOF
		off = max(0, f.size-rnd.Int64N(count+64))
	default: // past EOF
		off = f.size + rnd.Int64N(1<<20)
	}
	want := max(0, min(count, f.size-off))
	if r.link.wait(r.ctx, want); r.ctx.Err() != nil {
		return true // the soak is over
	}
	st, res, err := netlab.NFSCall(nc, &netlab.ReadArgs{Header: r.hdr(nfsc.Nfs3Prog, nfsc.Nfs3Vers, nfsc.NFSProc3Read), FH: fh, Offset: uint64(off), Count: uint32(count)})
	if err != nil || st != 0 {
		r.fail("nfs client %d: READ %d@%d: status %d, %v", id, count, off, st, err)
		return false
	}
	// Decoded by hand past the attributes: xdr.ReadOpaque fails on an empty opaque at the very
	// end of a reply (bytes.Reader says EOF to a zero-length Read there), which is exactly what
	// a READ at EOF returns.
	var rr struct {
		Attr       nfsc.PostOpAttr
		Count, EOF uint32
		Len        uint32
	}
	err = xdr.Read(res, &rr)
	eof := off+want >= f.size
	switch {
	case err != nil:
		r.fail("nfs client %d: READ %d@%d: decoding the reply: %v", id, count, off, err)
		return false
	case int64(rr.Len) != want || rr.Count != uint32(want) || (rr.EOF == 1) != eof:
		r.fail("nfs client %d: READ %d@%d: %d bytes (count %d, eof %d), want %d bytes, eof %v", id, count, off, rr.Len, rr.Count, rr.EOF, want, eof)
		return false
	case !rr.Attr.IsSet || rr.Attr.Attr.Filesize != uint64(f.size):
		r.fail("nfs client %d: READ %d@%d: attributes %+v", id, count, off, rr.Attr)
		return false
	}
	// The data is checked as it is copied out of the reply: holding a 1 MiB copy and its
	// expected bytes for each of up to 160 streams would make the test's own heap the peak.
	ck := &checker{ctx: context.Background(), f: f, off: off, end: off + want, buf: buf[:len(buf)/2]}
	if n, err := io.CopyBuffer(ck, io.LimitReader(res, want), buf[len(buf)/2:]); err != nil || n != want {
		r.fail("nfs client %d: READ %d@%d: %d bytes checked: %v", id, count, off, n, err)
		return false
	}
	r.nfs.ok.Add(1)
	r.nfs.bytes.Add(want)
	return true
}

// --- HTTP ------------------------------------------------------------------------------------

func (r *soakRun) httpClient(id int) {
	rnd := rand.New(rand.NewPCG(r.seed, uint64(3000+id)))
	for r.ctx.Err() == nil {
		r.httpRequest(id, rnd, rnd.IntN(100))
	}
}

// httpRequest makes one request of the kind k (0..99) picks: mostly ranges of the squashfs as
// dracut's livenet and a resuming downloader ask them, some whole files, some bad requests.
func (r *soakRun) httpRequest(id int, rnd *rand.Rand, k int) {
	sq := r.files[soakSquash]
	method, path, rng := http.MethodGet, "/"+soakSquash, ""
	var f *soakFile
	var off, end int64
	wantStatus := http.StatusPartialContent
	switch {
	case k < 80:
		f, off = sq, rnd.Int64N(sq.size)
		end = min(sq.size, off+1+rnd.Int64N(4<<20))
		rng = fmt.Sprintf("bytes=%d-%d", off, end-1)
	case k < 88: // suffix range: the last n bytes
		n := 1 + rnd.Int64N(1<<20)
		f, off, end = sq, sq.size-n, sq.size
		rng = fmt.Sprintf("bytes=-%d", n)
	case k < 95: // an open-ended range from near the end
		f, off, end = sq, sq.size-1-rnd.Int64N(2<<20), sq.size
		rng = fmt.Sprintf("bytes=%d-", off)
	case k < 98: // a whole kernel or initrd, as iPXE fetches them
		f = r.files[[]string{soakKernel, soakInitrd}[rnd.IntN(2)]]
		path, end, wantStatus = "/"+f.name, f.size, http.StatusOK
	default: // bad requests
		bad := []struct{ method, path string }{
			{http.MethodGet, "/../etc/passwd"}, {http.MethodGet, "/live/../../secret"},
			{http.MethodGet, "/escape"}, {http.MethodGet, "/live/missing"}, {http.MethodPost, "/" + soakSquash},
		}[rnd.IntN(5)]
		method, path, wantStatus = bad.method, bad.path, http.StatusNotFound
		if method == http.MethodPost {
			wantStatus = http.StatusMethodNotAllowed
		}
	}
	if r.link.wait(r.ctx, end-off); r.ctx.Err() != nil {
		return
	}
	req, err := http.NewRequestWithContext(r.ctx, method, r.httpBase+path, nil)
	if err != nil {
		r.fail("http client %d: %v", id, err)
		return
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	what := fmt.Sprintf("http client %d: %s %s %s", id, method, path, rng)
	resp, err := r.http.Do(req)
	if err != nil {
		if r.ctx.Err() != nil {
			r.httpc.aborted.Add(1)
			if wantStatus == http.StatusOK {
				r.fullAborted.Add(1)
			}
		} else {
			r.fail("%s: %v", what, err)
		}
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != wantStatus {
		r.fail("%s: %s, want %d", what, resp.Status, wantStatus)
		return
	}
	if f == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		r.httpc.refused.Add(1)
		return
	}
	if wantStatus == http.StatusPartialContent {
		if cr, want := resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-%d/%d", off, end-1, f.size); cr != want {
			r.fail("%s: Content-Range %q, want %q", what, cr, want)
			return
		}
	}
	if resp.ContentLength != end-off {
		r.fail("%s: Content-Length %d, want %d", what, resp.ContentLength, end-off)
		return
	}
	ck := &checker{ctx: r.ctx, f: f, off: off, end: end, buf: make([]byte, 64<<10)}
	n, err := io.CopyBuffer(ck, resp.Body, make([]byte, 64<<10))
	switch {
	case err != nil && r.ctx.Err() != nil:
		r.httpc.aborted.Add(1)
		if wantStatus == http.StatusOK {
			r.fullAborted.Add(1)
		}
	case err != nil:
		r.fail("%s: after %d bytes: %v", what, n, err)
	case ck.off != end:
		r.fail("%s: body ended at %d, want %d", what, ck.off, end)
	default:
		r.httpc.ok.Add(1)
		r.httpc.bytes.Add(n)
		if wantStatus == http.StatusOK {
			r.fullGets.Add(1)
		}
	}
}

// --- measuring -------------------------------------------------------------------------------

// quiesce waits until the goroutine count holds still for half a second (at most 10 s) and
// returns it.
func quiesce() int {
	n := runtime.NumGoroutine()
	for deadline, still := time.Now().Add(10*time.Second), 0; still < 5 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		if m := runtime.NumGoroutine(); m == n {
			still++
		} else {
			n, still = m, 0
		}
	}
	return n
}

// waitFor polls count until it is at most want, for at most 15 s (a TFTP transfer the client
// aborted may take the server one retransmit timeout to notice), and returns the last count.
func waitFor(count func() int, want int) int {
	deadline := time.Now().Add(15 * time.Second)
	for {
		n := count()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("counting open files needs /proc: %v", err)
	}
	return len(ents)
}

// pipeFDs counts the open descriptors that are pipes.
func pipeFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	n := 0
	for _, e := range ents {
		if target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); strings.HasPrefix(target, "pipe:") {
			n++
		}
	}
	return n
}

// listFDs names what each open descriptor is, for a leak report.
func listFDs() string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var b strings.Builder
	for _, e := range ents {
		target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		fmt.Fprintf(&b, "  %s -> %s\n", e.Name(), target)
	}
	return b.String()
}

// heapInuse is the heap in use after two collections: the second empties what sync.Pools kept
// through the first (their victim caches).
func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func goroutines() string {
	var b bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
	return b.String()
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }
