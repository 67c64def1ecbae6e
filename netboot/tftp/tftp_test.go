package tftp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sharecd/sharecd/netboot/netlab"
)

// pattern is deterministic content whose every block differs, so a shifted or repeated block
// shows up as a mismatch.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/512)
	}
	return b
}

type lab struct {
	port   string
	dir    string // the "medium"
	secret string // a file outside the medium
	log    netlab.SyncBuffer
	mu     sync.Mutex
	done   []Transfer
}

func startServer(t *testing.T, allow func(netip.Addr) bool) *lab {
	t.Helper()
	return startServerWith(t, allow, 0)
}

func startServerWith(t *testing.T, allow func(netip.Addr) bool, window uint) *lab {
	t.Helper()
	top := t.TempDir()
	l := &lab{dir: filepath.Join(top, "medium"), secret: filepath.Join(top, "secret.txt")}
	must(t, os.MkdirAll(filepath.Join(l.dir, "live"), 0o755))
	must(t, os.WriteFile(filepath.Join(l.dir, "live", "vmlinuz"), pattern(3<<20+123), 0o644))
	must(t, os.WriteFile(filepath.Join(l.dir, "pxelinux.0"), []byte("medium's own loader"), 0o644))
	must(t, os.WriteFile(l.secret, []byte("not on the medium"), 0o644))
	must(t, os.Symlink("../secret.txt", filepath.Join(l.dir, "escape")))
	must(t, os.Symlink("live/vmlinuz", filepath.Join(l.dir, "inside")))
	root, err := os.OpenRoot(l.dir)
	must(t, err)
	t.Cleanup(func() { root.Close() })

	tree := Overlay{
		Files{"pxelinux.cfg/default": []byte("default live\n")},
		Files{"pxelinux.0": []byte("our loader")},
		root.FS(),
	}
	logger := slog.New(slog.NewTextHandler(&l.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := &Server{FS: tree, Allow: allow, Window: window, Log: logger, OnDone: func(tr Transfer) {
		l.mu.Lock()
		l.done = append(l.done, tr)
		l.mu.Unlock()
	}}
	_, l.port, _ = net.SplitHostPort(serve(t, srv).String())
	return l
}

// serve runs srv on a loopback port until the test ends, and then requires a clean stop.
func serve(t *testing.T, srv *Server) net.Addr {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx, conn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return conn.LocalAddr()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func need(t *testing.T, tools ...string) {
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			netlab.Skipf(t, "%s not installed (apt-get install tftp-hpa atftp curl)", tool)
		}
	}
}

// client runs one real TFTP client program and returns what it fetched.
type client struct {
	name string
	get  func(ctx context.Context, port, file, out string) *exec.Cmd
}

var clients = []client{
	{"tftp-hpa", func(ctx context.Context, port, file, out string) *exec.Cmd {
		return exec.CommandContext(ctx, "tftp", "127.0.0.1", port, "-m", "binary", "-c", "get", file, out)
	}},
	{"atftp-512", func(ctx context.Context, port, file, out string) *exec.Cmd {
		return exec.CommandContext(ctx, "atftp", "--option", "tsize 0", "-g", "-r", file, "-l", out, "127.0.0.1", port)
	}},
	{"atftp-1468", func(ctx context.Context, port, file, out string) *exec.Cmd {
		return exec.CommandContext(ctx, "atftp", "--option", "blksize 1468", "--option", "tsize 0", "-g", "-r", file, "-l", out, "127.0.0.1", port)
	}},
	{"curl-1432", func(ctx context.Context, port, file, out string) *exec.Cmd {
		return exec.CommandContext(ctx, "curl", "-sS", "--tftp-blksize", "1432", "-o", out, fmt.Sprintf("tftp://127.0.0.1:%s/%s", port, file))
	}},
}

func fetch(t *testing.T, c client, port, file string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := filepath.Join(t.TempDir(), "out")
	cmd := c.get(ctx, port, file, out)
	msg, err := cmd.CombinedOutput()
	if err == nil && bytes.Contains(bytes.ToLower(msg), []byte("error")) {
		// tftp-hpa exits 0 after an ERROR packet and says so on stderr.
		err = fmt.Errorf("%s", msg)
	}
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, msg)
	}
	return os.ReadFile(out)
}

func TestRealClientsFetchTheTree(t *testing.T) {
	need(t, "tftp", "atftp", "curl")
	l := startServer(t, nil)
	want := pattern(3<<20 + 123)
	cases := []struct {
		file string
		want []byte
	}{
		{"live/vmlinuz", want},
		{"/live/vmlinuz", want}, // GRUB asks with absolute paths
		{"inside", want},        // a symlink that stays on the medium
		{"pxelinux.cfg/default", []byte("default live\n")},
		{"pxelinux.0", []byte("our loader")}, // the upper layer wins over the medium's copy
	}
	for _, c := range clients {
		for _, tc := range cases {
			t.Run(c.name+"/"+tc.file, func(t *testing.T) {
				got, err := fetch(t, c, l.port, tc.file)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, tc.want) {
					t.Fatalf("got %d bytes, want %d (content differs)", len(got), len(tc.want))
				}
			})
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.done) == 0 || l.done[0].Err != nil || l.done[0].Client != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("transfer reports: %+v", l.done)
	}
}

// TestWindowSizeWithARealClient: atftp asks for RFC 7440's windowsize and gets the smaller of
// it and the server's maximum, and every byte in order; with a maximum of 1 it is kept
// lock-step. (Neither tftp-hpa's client nor curl can ask for a window.) Loss is in e2e's
// TestTFTPOnALossyLAN.
func TestWindowSizeWithARealClient(t *testing.T) {
	need(t, "atftp")
	want := pattern(3<<20 + 123)
	for _, tc := range []struct {
		server uint // Server.Window
		ask    string
		blk    string
		want   string // the window the transfer had, as logged
	}{
		{0, "4", "512", "4"}, // OVMF's window; 0 is DefaultWindow
		{0, "16", "1468", "16"},
		{0, "64", "1468", "16"},
		{8, "16", "1468", "8"},
		{1, "16", "1468", "1"},
	} {
		t.Run(fmt.Sprintf("server %d, asked %s, blksize %s", tc.server, tc.ask, tc.blk), func(t *testing.T) {
			l := startServerWith(t, nil, tc.server)
			c := client{"atftp", func(ctx context.Context, port, file, out string) *exec.Cmd {
				return exec.CommandContext(ctx, "atftp", "--option", "windowsize "+tc.ask, "--option", "blksize "+tc.blk,
					"-g", "-r", file, "-l", out, "127.0.0.1", port)
			}}
			got, err := fetch(t, c, l.port, "live/vmlinuz")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, want %d (content differs)", len(got), len(want))
			}
			// The server logs once the final ACK is in, which may be after atftp has exited.
			line := firstLine(&l.log, "tftp: transfer stats")
			for end := time.Now().Add(5 * time.Second); line == "" && time.Now().Before(end); {
				time.Sleep(20 * time.Millisecond)
				line = firstLine(&l.log, "tftp: transfer stats")
			}
			if !strings.Contains(line, " window="+tc.want+" ") {
				t.Errorf("want window=%s in the log: %s", tc.want, line)
			}
		})
	}
}

// firstLine returns the first line of the server's log that holds msg.
func firstLine(b *netlab.SyncBuffer, msg string) string {
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, msg) {
			return l
		}
	}
	return ""
}

func TestNothingOutsideTheTree(t *testing.T) {
	need(t, "tftp", "atftp")
	l := startServer(t, nil)
	secret, _ := os.ReadFile(l.secret)
	for _, name := range []string{
		"escape", "../secret.txt", "../../secret.txt", `..\secret.txt`, "live/../../secret.txt",
		"/etc/passwd", "../../../../../../etc/passwd", "%2e%2e/secret.txt", "live", "missing",
		l.secret, strings.Repeat("../", 150) + "etc/passwd",
	} {
		for _, c := range clients[:2] {
			t.Run(c.name+"/"+name[:min(len(name), 40)], func(t *testing.T) {
				got, err := fetch(t, c, l.port, name)
				if err == nil {
					t.Fatalf("served %q: %q", name, got)
				}
				if bytes.Contains(got, secret) {
					t.Fatal("secret leaked")
				}
			})
		}
	}
}

func TestWritesAndStrangersRefused(t *testing.T) {
	need(t, "tftp")
	l := startServer(t, func(a netip.Addr) bool { return !a.IsLoopback() })
	if got, err := fetch(t, clients[0], l.port, "live/vmlinuz"); err == nil {
		t.Fatalf("a client outside Allow got %d bytes", len(got))
	}

	l = startServer(t, nil)
	src := filepath.Join(t.TempDir(), "upload")
	must(t, os.WriteFile(src, []byte("x"), 0o644))
	out, _ := exec.Command("tftp", "127.0.0.1", l.port, "-m", "binary", "-c", "put", src, "live/upload").CombinedOutput()
	if !bytes.Contains(bytes.ToLower(out), []byte("error")) {
		t.Errorf("put was not refused: %s", out)
	}
	if _, err := os.Stat(filepath.Join(l.dir, "live", "upload")); err == nil {
		t.Error("a file was written to the medium")
	}
}

func TestCleanPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"pxelinux.0", "pxelinux.0"},
		{"/live/vmlinuz", "live/vmlinuz"},
		{`\boot\x86\initrd`, "boot/x86/initrd"},
		{"./a//b/", "a/b"},
		{"..", ""},
		{"a/../b", ""},
		{"", ""},
		{"/", ""},
		{"a\x00b", ""},
	} {
		got, err := CleanPath(tc.in)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("CleanPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"pxelinux.0", "/live/vmlinuz", `..\..\x`, "a/../../b", "%2e%2e/x", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		p, err := CleanPath(name)
		if err != nil {
			return
		}
		if !fs.ValidPath(p) || p == "." || strings.HasPrefix(p, "/") {
			t.Fatalf("CleanPath(%q) = %q, not a path inside the tree", name, p)
		}
		for _, part := range strings.Split(p, "/") {
			if part == ".." {
				t.Fatalf("CleanPath(%q) = %q climbs out", name, p)
			}
		}
	})
}

// brokenFS is a medium whose one file cannot be read past an offset, like a scratched disc.
type brokenFS struct {
	fstest.MapFS
	name string
	from int64
}

func (b brokenFS) Open(name string) (fs.File, error) {
	f, err := b.MapFS.Open(name)
	if err != nil || name != b.name {
		return f, err
	}
	return &brokenFile{File: f, rs: f.(io.ReadSeeker), from: b.from}, nil
}

type brokenFile struct {
	fs.File
	rs   io.ReadSeeker
	from int64
	pos  int64
}

func (f *brokenFile) Read(p []byte) (int, error) {
	if f.pos >= f.from {
		return 0, errors.New("read error: input/output error")
	}
	p = p[:min(int64(len(p)), f.from-f.pos)]
	n, err := f.rs.Read(p)
	f.pos += int64(n)
	return n, err
}

func (f *brokenFile) Seek(off int64, whence int) (int64, error) {
	n, err := f.rs.Seek(off, whence)
	f.pos = n
	return n, err
}

// A read error on the medium ends that transfer with a TFTP error the client sees, and the
// server goes on serving everything else.
func TestReadErrorIsATFTPError(t *testing.T) {
	need(t, "tftp", "atftp")
	good := pattern(200_000)
	tree := brokenFS{MapFS: fstest.MapFS{"live/initrd.img": {Data: pattern(1 << 20)}, "live/vmlinuz": {Data: good}},
		name: "live/initrd.img", from: 300_000}
	var mu sync.Mutex
	var done []Transfer
	srv := &Server{FS: tree, OnDone: func(tr Transfer) { mu.Lock(); done = append(done, tr); mu.Unlock() }}
	_, port, _ := net.SplitHostPort(serve(t, srv).String())
	for _, c := range clients[:2] {
		if got, err := fetch(t, c, port, "live/initrd.img"); err == nil {
			t.Errorf("%s: a file that cannot be read was served whole (%d bytes)", c.name, len(got))
		}
		if got, err := fetch(t, c, port, "live/vmlinuz"); err != nil || !bytes.Equal(got, good) {
			t.Errorf("%s: after the read error, another file: %v", c.name, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	failed := 0
	for _, tr := range done {
		if tr.File == "live/initrd.img" && tr.Err != nil && tr.Bytes <= 300_000 {
			failed++
		}
	}
	if failed != 2 {
		t.Errorf("%d failed transfers recorded with their error, want 2: %+v", failed, done)
	}
}

// A client that asks for a file and then falls silent is resent its first block twice at
// once, then after pauses longer than a client's own timeout (resendPause). Stopping the
// server must not sit those pauses out: Shutdown waits for every transfer.
func TestStopDuringAResendPause(t *testing.T) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	must(t, err)
	logged := make(messages, 16)
	srv := &Server{FS: fstest.MapFS{"live/vmlinuz": {Data: pattern(1 << 20)}}, Log: slog.New(logged)}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx, conn) }()

	client, err := net.ListenPacket("udp4", "127.0.0.1:0")
	must(t, err)
	defer client.Close()
	rrq := append([]byte{0, 1}, "live/vmlinuz\x00octet\x00"...)
	_, err = client.WriteTo(rrq, conn.LocalAddr())
	must(t, err)
	// Block 1 comes three times, 1 s apart (the timeout), and is never ACKed.
	buf := make([]byte, 600)
	for i := range 3 {
		must(t, client.SetReadDeadline(time.Now().Add(5*time.Second)))
		n, _, err := client.ReadFrom(buf)
		if err != nil || n < 4 || buf[1] != 3 || buf[3] != 1 {
			t.Fatalf("send %d of block 1: %d bytes %x, %v", i+1, n, buf[:min(n, 4)], err)
		}
	}
	// After its 1 s timeout the server starts its first pause, 6 s, with four more resends and
	// pauses to come (about 30 s). Stopped, it may still resend at its 1 s timeout, but not pause.
	logged.wait(t, "pausing before the next resend", 5*time.Second)
	stopped := time.Now()
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
		t.Logf("stopped %v after cancel", time.Since(stopped).Round(100*time.Millisecond))
	case <-time.After(15 * time.Second):
		t.Fatal("Serve still waits for the silent client's transfer 15 s after being stopped")
	}
}

// Read requests that are never ACKed hold their transfers; over a bound the next request is
// answered with an ERROR at once, and clients within the bounds are still served.
func TestTransferBounds(t *testing.T) {
	addr := serve(t, &Server{FS: fstest.MapFS{"pxelinux.0": {Data: pattern(100_000)}}, MaxTransfers: 3, MaxTransfersPerClient: 2})
	rrq := append([]byte{0, 1}, "pxelinux.0\x00octet\x00"...)
	// ask sends a read request from src and returns the opcode of the answer: 3 DATA, 5 ERROR.
	ask := func(src string) (opcode byte, msg string) {
		c, err := net.ListenPacket("udp4", src+":0")
		must(t, err)
		t.Cleanup(func() { c.Close() })
		_, err = c.WriteTo(rrq, addr)
		must(t, err)
		buf := make([]byte, 600)
		must(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
		n, _, err := c.ReadFrom(buf)
		if err != nil || n < 4 {
			t.Fatalf("read request from %s: no answer: %v", src, err)
		}
		return buf[1], string(bytes.TrimRight(buf[4:n], "\x00"))
	}
	steps := []struct {
		src  string
		want byte
	}{
		{"127.0.0.1", 3},
		{"127.0.0.1", 3},
		{"127.0.0.1", 5}, // over the client's bound
		{"127.0.0.2", 3},
		{"127.0.0.3", 5}, // over the total
	}
	for i, st := range steps {
		op, msg := ask(st.src)
		if op != st.want {
			t.Errorf("request %d from %s: opcode %d (%q), want %d", i, st.src, op, msg, st.want)
		}
		if op == 5 && msg != ErrBusy.Error() {
			t.Errorf("request %d from %s: error %q, want %q", i, st.src, msg, ErrBusy)
		}
	}
}

// messages is a slog.Handler that passes on the message of every record, at every level, so a
// test can wait for the server to say it reached a state. A full channel drops the message.
type messages chan string

func (m messages) Enabled(context.Context, slog.Level) bool { return true }
func (m messages) WithAttrs([]slog.Attr) slog.Handler       { return m }
func (m messages) WithGroup(string) slog.Handler            { return m }
func (m messages) Handle(_ context.Context, r slog.Record) error {
	select {
	case m <- r.Message:
	default:
	}
	return nil
}

// wait fails the test unless a message containing want comes within d.
func (m messages) wait(t *testing.T, want string, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case msg := <-m:
			if strings.Contains(msg, want) {
				return
			}
		case <-timeout:
			t.Fatalf("no log message containing %q within %v", want, d)
		}
	}
}

func TestUnder(t *testing.T) {
	inner := Files{"casper/vmlinuz": []byte("k"), "a": []byte("a")}
	u := Under("ubuntu", inner)
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"ubuntu/casper/vmlinuz", true},
		{"ubuntu/a", true},
		{"casper/vmlinuz", false}, // not below the prefix
		{"ubuntu", false},         // the prefix itself
		{"ubuntux/a", false},      // a sibling sharing the prefix's first letters
		{"ubuntu/../a", false},    // not a valid path
		{"debian/casper/vmlinuz", false},
	} {
		_, err := u.Open(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("Open(%q): %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
