package httpd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sharecd/sharecd/netboot/medium"
	"github.com/sharecd/sharecd/netboot/netlab"
	"github.com/sharecd/sharecd/netboot/tftp"
)

var tree = fstest.MapFS{
	"LiveOS/squashfs.img": {Data: bytes.Repeat([]byte("0123456789"), 100_000)},
	"boot/vmlinuz":        {Data: []byte("kernel")},
	"secret/../x":         {Data: []byte("odd name")},
}

// serve starts a Server on a loopback port and returns its base URL and the events it reported.
func serve(t *testing.T, fsys fs.FS, allow func(netip.Addr) bool) (string, func() []string) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var started []string
	note := func(what string) func(netip.Addr, string) {
		return func(_ netip.Addr, f string) {
			mu.Lock()
			started = append(started, what+" "+f)
			mu.Unlock()
		}
	}
	s := &Server{FS: fsys, Allow: allow, OnStart: note("start"), OnDone: note("done")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String(), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), started...)
	}
}

// curl is the real client: dracut's livenet fetches with curl too.
func curl(t *testing.T, args ...string) (code string, body []byte) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		netlab.Skipf(t, "curl not installed (apt-get install curl)")
	}
	out := filepath.Join(t.TempDir(), "body")
	cmd := exec.Command("curl", append([]string{"-s", "-o", out, "-w", "%{http_code}"}, args...)...)
	c, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl %q: %v", args, err)
	}
	body, _ = os.ReadFile(out)
	return string(c), body
}

func TestServe(t *testing.T) {
	base, started := serve(t, tree, nil)
	img := tree["LiveOS/squashfs.img"].Data
	tests := []struct {
		name     string
		args     []string
		wantCode string
		wantBody []byte // nil: don't care
	}{
		{"whole image", []string{base + "/LiveOS/squashfs.img"}, "200", img},
		{"range", []string{"-r", "10-19", base + "/LiveOS/squashfs.img"}, "206", img[10:20]},
		{"resume from offset", []string{"-C", "999990", base + "/LiveOS/squashfs.img"}, "206", img[999990:]},
		{"double slash", []string{base + "//boot//vmlinuz"}, "200", []byte("kernel")},
		{"HEAD", []string{"-I", base + "/boot/vmlinuz"}, "200", nil},
		{"missing", []string{base + "/nope"}, "404", nil},
		{"directory", []string{base + "/LiveOS/"}, "404", nil},
		{"root", []string{base + "/"}, "404", nil},
		{"traversal", []string{"--path-as-is", base + "/boot/../../../etc/passwd"}, "404", nil},
		{"encoded traversal", []string{"--path-as-is", base + "/%2e%2e/%2e%2e/etc/passwd"}, "404", nil},
		{"dotdot in a name", []string{"--path-as-is", base + "/secret/../x"}, "404", nil},
		{"PUT", []string{"-X", "PUT", "--data", "x", base + "/boot/vmlinuz"}, "405", nil},
		{"POST", []string{"--data", "x", base + "/boot/vmlinuz"}, "405", nil},
		{"DELETE", []string{"-X", "DELETE", base + "/boot/vmlinuz"}, "405", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := curl(t, tc.args...)
			if code != tc.wantCode {
				t.Fatalf("status %s, want %s", code, tc.wantCode)
			}
			if tc.wantBody != nil && !bytes.Equal(body, tc.wantBody) {
				t.Errorf("body: %d bytes, want %d", len(body), len(tc.wantBody))
			}
		})
	}
	// One start and one end per download: not for HEAD, ranges or refusals.
	want := []string{"start LiveOS/squashfs.img", "done LiveOS/squashfs.img", "start boot/vmlinuz", "done boot/vmlinuz"}
	if got := started(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("OnStart saw %q, want %q", got, want)
	}
}

func TestRefusesClientsOutsideTheLAN(t *testing.T) {
	base, started := serve(t, tree, func(a netip.Addr) bool { return !a.IsLoopback() })
	if code, body := curl(t, base+"/boot/vmlinuz"); code != "403" || bytes.Contains(body, []byte("kernel")) {
		t.Errorf("status %s body %q, want 403 and no file", code, body)
	}
	if len(started()) != 0 {
		t.Errorf("a refused client was reported: %q", started())
	}
}

// FuzzServeHTTP feeds raw requests to the handler: it must never panic, and must never answer
// anything but GET/HEAD of a file in the tree with success.
func FuzzServeHTTP(f *testing.F) {
	for _, r := range []string{
		"GET /LiveOS/squashfs.img HTTP/1.1\r\nHost: x\r\nRange: bytes=5-9\r\n\r\n",
		"HEAD /boot/vmlinuz HTTP/1.0\r\n\r\n",
		"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
		"PUT /boot/vmlinuz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx",
		"GET /LiveOS/squashfs.img HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1,5-3,-2\r\n\r\n",
	} {
		f.Add([]byte(r))
	}
	s := &Server{FS: tree}
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return
		}
		req.RemoteAddr = "192.0.2.1:1234"
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code >= 200 && w.Code < 300 {
			if req.Method != http.MethodGet && req.Method != http.MethodHead {
				t.Fatalf("%s answered %d", req.Method, w.Code)
			}
			name, err := tftp.CleanPath(req.URL.Path)
			if _, found := tree[name]; err != nil || !found || strings.Contains(req.URL.Path, "..") {
				t.Fatalf("%q answered %d", req.URL.Path, w.Code)
			}
		}
	})
}

// An ISO medium's file goes out from a descriptor of the image of its own
// (sendfile); whole, in ranges, resumed and as two ranges in one response,
// the bytes must be the file's and nothing of the image around it.
func TestServeFromISO(t *testing.T) {
	if _, err := exec.LookPath("xorriso"); err != nil {
		netlab.Skipf(t, "needs xorriso to build the ISO (apt-get install xorriso)")
	}
	dir := t.TempDir()
	img := bytes.Repeat([]byte("0123456789abcdef"), 200_001)
	img = append(img, "tail"...)
	for name, data := range map[string][]byte{"LiveOS/squashfs.img": img, "boot/vmlinuz": []byte("kernel")} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	iso := filepath.Join(t.TempDir(), "medium.iso")
	if out, err := exec.Command("xorriso", "-as", "mkisofs", "-quiet", "-R", "-o", iso, dir).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	m, err := medium.Open(iso)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	f, err := m.FS.Open("LiveOS/squashfs.img")
	if err != nil {
		t.Fatal(err)
	}
	sec, err := imageSectionOf(f, int64(len(img)))
	f.Close()
	if err != nil || sec == nil {
		t.Fatalf("the ISO's file is not served from the image: %v", err)
	}
	sec.Close()

	base, _ := serve(t, m.FS, nil)
	n := len(img)
	tests := []struct {
		name     string
		args     []string
		wantCode string
		want     []byte
	}{
		{"whole image", []string{base + "/LiveOS/squashfs.img"}, "200", img},
		{"range", []string{"-r", "16-31", base + "/LiveOS/squashfs.img"}, "206", img[16:32]},
		{"last bytes", []string{"-r", "-4", base + "/LiveOS/squashfs.img"}, "206", []byte("tail")},
		{"resume", []string{"-C", fmt.Sprint(n - 100), base + "/LiveOS/squashfs.img"}, "206", img[n-100:]},
		{"small file", []string{base + "/boot/vmlinuz"}, "200", []byte("kernel")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := curl(t, tc.args...)
			if code != tc.wantCode || !bytes.Equal(body, tc.want) {
				t.Errorf("status %s and %d bytes, want %s and %d bytes", code, len(body), tc.wantCode, len(tc.want))
			}
		})
	}
	t.Run("two ranges", func(t *testing.T) {
		code, body := curl(t, "-r", "0-3,16-19", base+"/LiveOS/squashfs.img")
		if code != "206" || !bytes.Contains(body, []byte("\r\n\r\n0123\r\n")) || strings.Count(string(body), "\r\n\r\n0123\r\n") != 2 {
			t.Errorf("status %s, multipart body %q", code, body)
		}
	})
}

// One client holding its bound of idle connections is refused another, and served again once
// it lets one go.
func TestConnectionBoundPerClient(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{FS: fstest.MapFS{"live/vmlinuz": {Data: []byte("kernel")}}, MaxConnsPerClient: 2}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	get := func(c net.Conn) error {
		if _, err := io.WriteString(c, "GET /live/vmlinuz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	}
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := get(c); err != nil { // served: the connection is counted and kept alive
			t.Fatalf("GET within the bound: %v", err)
		}
		held = append(held, c)
	}
	over, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	if err := get(over); err == nil {
		t.Error("a third connection from one client was served")
	}
	held[0].Close()
	for { // the server sees the close a moment later; until then a new one is refused
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		err = get(c)
		c.Close()
		if err == nil {
			break
		}
	}
}
