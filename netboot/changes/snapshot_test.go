package changes

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sharecd/sharecd/netboot/netlab"
)

// entry is one file of a made-up session's upper directory, as a live session leaves them.
type entry struct {
	path     string
	kind     byte   // 'f' file, 'd' directory, 'l' symlink, 'w' whiteout, 'o' opaque directory
	mode     uint32 // permission bits, with setuid/setgid/sticky
	uid, gid int
	data     string // a file's bytes, a symlink's target
}

// session is the upper directory TestSnapshot snapshots: changed settings, odd owners and modes,
// a package file deleted (whiteout), a directory replaced whole (opaque), and what stays home.
var session = []entry{
	{"etc", 'd', 0o755, 0, 0, ""},
	{"etc/issue", 'f', 0o644, 0, 0, "Library kiosk\n"},
	{"etc/kiosk", 'd', 0o2775, 0, 7, ""},
	{"etc/kiosk/start-page", 'f', 0o640, 1, 7, "https://library.example/\n"},
	{"etc/kiosk/docs", 'l', 0o777, 1, 7, "../../usr/share/doc"},
	{"usr", 'd', 0o755, 0, 0, ""},
	{"usr/local", 'd', 0o755, 0, 0, ""},
	{"usr/local/bin", 'd', 0o755, 0, 0, ""},
	{"usr/local/bin/tool", 'f', 0o4755, 0, 0, "#!/bin/sh\n"},
	{"usr/share", 'd', 0o755, 0, 0, ""},
	{"usr/share/doc", 'd', 0o755, 0, 0, ""},
	{"usr/share/doc/bash", 'd', 0o755, 0, 0, ""},
	{"usr/share/doc/bash/copyright", 'w', 0, 0, 0, ""},
	{"usr/share/doc/dpkg", 'o', 0o750, 4321, 4321, ""},
	{"usr/share/doc/dpkg/note", 'f', 0o600, 4321, 4321, "only this\n"},
	{"tmp", 'd', 0o1777, 0, 0, ""},
	{"tmp/scratch", 'f', 0o600, 0, 0, "x"},
	{"etc/machine-id", 'f', 0o444, 0, 0, "0123456789abcdef0123456789abcdef\n"},
	{"etc/ssh", 'd', 0o755, 0, 0, ""},
	{"etc/ssh/ssh_host_ed25519_key", 'f', 0o600, 0, 0, "secret"},
	{"etc/ssh/sshd_config", 'f', 0o644, 0, 0, "PermitRootLogin no\n"},
	{"var", 'd', 0o755, 0, 0, ""},
	{"var/log", 'd', 0o755, 0, 0, ""},
	{"var/log/syslog", 'f', 0o640, 0, 4, "boot\n"},
	{"var/lib", 'd', 0o755, 0, 0, ""},
	{"var/lib/sharecd", 'd', 0o755, 0, 0, ""},
	{"var/lib/sharecd/leases-eth0.json", 'f', 0o644, 0, 0, "{}"},
	{"home", 'd', 0o755, 0, 0, ""},
	{"home/user", 'd', 0o755, 1000, 1000, ""},
	{"home/user/.cache", 'd', 0o700, 1000, 1000, ""},
	{"home/user/.cache/thumb", 'f', 0o600, 1000, 1000, "x"},
	{"home/user/.config", 'd', 0o700, 1000, 1000, ""},
	{"home/user/.config/kiosk.conf", 'f', 0o600, 1000, 1000, "fullscreen=1\n"},
}

// stayHome are the entries of session that Excluded keeps out of the snapshot.
var stayHome = []string{"tmp", "etc/machine-id", "etc/ssh/ssh_host_ed25519_key", "var/log",
	"var/lib/sharecd", "home/user/.cache"}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		netlab.Skipf(t, "a session's upper directory has whiteouts (mknod) and trusted xattrs: run as root")
	}
	for _, tool := range []string{"mksquashfs", "unsquashfs"} {
		if _, err := exec.LookPath(tool); err != nil {
			netlab.Skipf(t, "%s not installed (apt-get install squashfs-tools)", tool)
		}
	}
}

func makeSession(t *testing.T, dir string, entries []entry) {
	t.Helper()
	for _, e := range entries {
		p := filepath.Join(dir, e.path)
		var err error
		switch e.kind {
		case 'f':
			err = os.WriteFile(p, []byte(e.data), 0o600)
		case 'd', 'o':
			err = os.Mkdir(p, 0o700)
			if err == nil && e.kind == 'o' {
				err = unix.Lsetxattr(p, "trusted.overlay.opaque", []byte("y"), 0)
			}
		case 'l':
			err = os.Symlink(e.data, p)
		case 'w':
			err = unix.Mknod(p, unix.S_IFCHR, 0)
		}
		if err == nil {
			err = os.Lchown(p, e.uid, e.gid)
		}
		if err == nil && e.kind != 'l' && e.kind != 'w' {
			// After chown, which clears setuid and setgid.
			err = os.Chmod(p, fs.FileMode(e.mode&0o777)|goMode(e.mode))
		}
		if err != nil {
			t.Fatalf("making %s: %v", e.path, err)
		}
	}
}

func goMode(m uint32) fs.FileMode {
	var out fs.FileMode
	if m&0o4000 != 0 {
		out |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		out |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		out |= fs.ModeSticky
	}
	return out
}

// TestSnapshot: the squashfs of a session's upper directory, unpacked again, has every kept
// entry with its owner, mode, symlink target, whiteout device and opaque mark exactly, and none
// of what stays home; a failed run leaves no image behind.
func TestSnapshot(t *testing.T) {
	needRoot(t)
	upper := t.TempDir()
	makeSession(t, upper, session)
	dir := t.TempDir()
	out, err := Snapshot(context.Background(), upper, dir)
	if err != nil {
		t.Fatal(err)
	}
	// The same changes, the same image and name: a restarted share serves what it served.
	again, err := Snapshot(context.Background(), upper, t.TempDir())
	if err != nil || filepath.Base(again) != filepath.Base(out) || !strings.HasPrefix(filepath.Base(out), LayerPrefix) {
		t.Errorf("snapshots of the same changes are named %s and %s (%v)", out, again, err)
	}
	back := filepath.Join(t.TempDir(), "back")
	if b, err := exec.Command("unsquashfs", "-no-progress", "-d", back, out).CombinedOutput(); err != nil {
		t.Fatalf("unsquashfs: %v\n%s", err, b)
	}
	lln, err := exec.Command("unsquashfs", "-lln", out).CombinedOutput()
	if err != nil {
		t.Fatalf("unsquashfs -lln: %v\n%s", err, lln)
	}
	for _, e := range session {
		t.Run(e.path, func(t *testing.T) {
			excluded := false
			for _, h := range stayHome {
				excluded = excluded || e.path == h || strings.HasPrefix(e.path, h+"/")
			}
			p := filepath.Join(back, e.path)
			var st unix.Stat_t
			err := unix.Lstat(p, &st)
			if excluded {
				if err == nil || strings.Contains(string(lln), "squashfs-root/"+e.path+"\n") {
					t.Errorf("%s went to the clients", e.path)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s is not in the snapshot: %v\n%s", e.path, err, lln)
			}
			if int(st.Uid) != e.uid || int(st.Gid) != e.gid {
				t.Errorf("owner %d:%d, want %d:%d", st.Uid, st.Gid, e.uid, e.gid)
			}
			want := map[byte]uint32{'f': unix.S_IFREG, 'd': unix.S_IFDIR, 'o': unix.S_IFDIR, 'l': unix.S_IFLNK, 'w': unix.S_IFCHR}[e.kind]
			if st.Mode&unix.S_IFMT != want {
				t.Errorf("type %o, want %o", st.Mode&unix.S_IFMT, want)
			}
			switch e.kind {
			case 'f', 'd', 'o':
				if st.Mode&0o7777 != e.mode {
					t.Errorf("mode %o, want %o", st.Mode&0o7777, e.mode)
				}
			case 'l':
				if got, _ := os.Readlink(p); got != e.data {
					t.Errorf("link to %q, want %q", got, e.data)
				}
			case 'w':
				if st.Rdev != 0 {
					t.Errorf("whiteout device %d:%d, want 0:0", unix.Major(st.Rdev), unix.Minor(st.Rdev))
				}
			}
			if e.kind == 'f' {
				if b, _ := os.ReadFile(p); string(b) != e.data {
					t.Errorf("content %q, want %q", b, e.data)
				}
			}
			buf := make([]byte, 16)
			n, err := unix.Lgetxattr(p, "trusted.overlay.opaque", buf)
			switch {
			case e.kind == 'o' && (err != nil || string(buf[:n]) != "y"):
				t.Errorf("opaque mark lost: %q, %v", buf[:max(n, 0)], err)
			case e.kind != 'o' && e.kind != 'l' && !errors.Is(err, unix.ENODATA):
				t.Errorf("opaque mark where there was none: %q, %v", buf[:max(n, 0)], err)
			}
		})
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("the image is not readable by the NFS server: %v %v", fi, err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 1 {
		t.Errorf("left beside the image: %v", left)
	}

	// Another change, another name.
	if err := os.WriteFile(filepath.Join(upper, "etc/issue"), []byte("Library kiosk, closed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if other, err := Snapshot(context.Background(), upper, t.TempDir()); err != nil || filepath.Base(other) == filepath.Base(out) {
		t.Errorf("a changed session's snapshot is named %s, as before (%v)", other, err)
	}

	// A directory that is not there: an error, and no image.
	bad := t.TempDir()
	if _, err := Snapshot(context.Background(), filepath.Join(upper, "nope"), bad); err == nil {
		t.Error("snapshot of a missing directory succeeded")
	}
	if left, _ := os.ReadDir(bad); len(left) > 0 {
		t.Errorf("a failed snapshot left %v", left)
	}
}
