package firewall

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeInfo is a file as stat describes it, with the owner the test wants.
type fakeInfo struct {
	mode fs.FileMode
	uid  uint32
	sys  bool // false: no Stat_t, as a file system that knows no owners
}

func (f fakeInfo) Name() string       { return "nft" }
func (f fakeInfo) Size() int64        { return 1 }
func (f fakeInfo) Mode() fs.FileMode  { return f.mode }
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return f.mode.IsDir() }
func (f fakeInfo) Sys() any {
	if !f.sys {
		return nil
	}
	return &syscall.Stat_t{Uid: f.uid}
}

func TestRootOnly(t *testing.T) {
	for _, tc := range []struct {
		name string
		fi   fakeInfo
		want string // "" = trusted
	}{
		{"root 0755 file", fakeInfo{0o755, 0, true}, ""},
		{"root 0755 directory", fakeInfo{fs.ModeDir | 0o755, 0, true}, ""},
		{"a user's file", fakeInfo{0o755, 1000, true}, "owned by uid 1000"},
		{"group-writable", fakeInfo{0o775, 0, true}, "writable by others"},
		{"world-writable", fakeInfo{0o757, 0, true}, "writable by others"},
		{"sticky /tmp", fakeInfo{fs.ModeDir | fs.ModeSticky | 0o777, 0, true}, "writable by others"},
		{"a device", fakeInfo{fs.ModeDevice | 0o755, 0, true}, "not a regular file"},
		{"no owner", fakeInfo{0o755, 0, false}, "owner unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := rootOnly(tc.fi)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("rootOnly = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestTrustedNft(t *testing.T) {
	file, dir := fakeInfo{0o755, 0, true}, fakeInfo{fs.ModeDir | 0o755, 0, true}
	system := map[string]fakeInfo{"/": dir, "/usr": dir, "/usr/sbin": dir, "/sbin": dir}
	with := func(extra map[string]fakeInfo) map[string]fakeInfo {
		m := map[string]fakeInfo{}
		for k, v := range system {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		files   map[string]fakeInfo
		want    string // the path chosen
		wantErr string
	}{
		{"usr sbin", with(map[string]fakeInfo{"/usr/sbin/nft": file, "/sbin/nft": file}), "/usr/sbin/nft", ""},
		{"only sbin", with(map[string]fakeInfo{"/sbin/nft": file}), "/sbin/nft", ""},
		{"a user's nft is passed over", with(map[string]fakeInfo{"/usr/sbin/nft": {0o755, 1000, true}, "/sbin/nft": file}), "/sbin/nft", ""},
		{"in a directory others write", with(map[string]fakeInfo{"/usr/sbin/nft": file, "/usr/sbin": {fs.ModeDir | 0o777, 0, true}}), "", "/usr/sbin/nft: writable by others"},
		{"group-writable only", with(map[string]fakeInfo{"/usr/sbin/nft": {0o775, 0, true}}), "", "no nft fit to run with CAP_NET_ADMIN"},
		{"none", with(nil), "", ErrNoNft.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := nftExec{stat: func(p string) (fs.FileInfo, error) {
				if fi, ok := tc.files[p]; ok {
					return fi, nil
				}
				return nil, &fs.PathError{Op: "stat", Path: p, Err: fs.ErrNotExist}
			}}
			got, err := n.trustedNft()
			if got != tc.want || tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("trustedNft = %q, %v; want %q, %q", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestTrustedNftRealFiles: an nft root owns, mode 0755, is still refused in a temporary
// directory, because every user may write /tmp.
func TestTrustedNftRealFiles(t *testing.T) {
	dir := t.TempDir()
	nft := filepath.Join(dir, "nft")
	if err := os.WriteFile(nft, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := nftExec{paths: []string{nft}}.trustedNft()
	if err == nil || !strings.Contains(err.Error(), "not root") && !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("trustedNft(%s) = %v, want it refused", nft, err)
	}
	if _, err := (nftExec{paths: []string{filepath.Join(dir, "none")}}).trustedNft(); !errors.Is(err, ErrNoNft) {
		t.Errorf("no nft at all: %v, want ErrNoNft", err)
	}
}

// TestNftCommand: CAP_NET_ADMIN is handed to nft only when this process holds it permitted and
// is not root, and then nft is the system's, never the one $PATH finds first, with sharecd's
// environment rather than the user's.
func TestNftCommand(t *testing.T) {
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "nft"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	t.Setenv("LD_PRELOAD", "/home/user/evil.so")
	trusted := func(p string) (fs.FileInfo, error) {
		if p == "/usr/sbin/nft" {
			return fakeInfo{0o755, 0, true}, nil
		}
		return fakeInfo{fs.ModeDir | 0o755, 0, true}, nil
	}
	const netAdmin = 1 << unix.CAP_NET_ADMIN
	for _, tc := range []struct {
		name      string
		euid      int
		permitted uint64
		wantPath  string
		wantCaps  []uintptr
	}{
		{"root", 0, ^uint64(0), filepath.Join(bin, "nft"), nil},
		{"user with CAP_NET_ADMIN permitted", 1000, netAdmin | 1<<unix.CAP_NET_RAW, "/usr/sbin/nft", []uintptr{unix.CAP_NET_ADMIN}},
		{"user without it", 1000, 1<<unix.CAP_NET_BIND_SERVICE | 1<<unix.CAP_NET_RAW, filepath.Join(bin, "nft"), nil},
		{"user, capget fails", 1000, 0, filepath.Join(bin, "nft"), nil},
		{"user without it, no nft in $PATH", 1000, 1 << unix.CAP_NET_RAW, "/usr/sbin/nft", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.name, "no nft in $PATH") {
				t.Setenv("PATH", t.TempDir())
			}
			n := nftExec{
				euid: func() int { return tc.euid },
				stat: trusted,
				permitted: func() (uint64, error) {
					if tc.permitted == 0 {
						return 0, errors.New("capget: no")
					}
					return tc.permitted, nil
				},
			}
			cmd, err := n.command(context.Background(), "list", "ruleset")
			if err != nil {
				t.Fatal(err)
			}
			var caps []uintptr
			if cmd.SysProcAttr != nil {
				caps = cmd.SysProcAttr.AmbientCaps
			}
			if cmd.Path != tc.wantPath || !slices.Equal(caps, tc.wantCaps) {
				t.Errorf("nft = %s with ambient caps %v; want %s with %v", cmd.Path, caps, tc.wantPath, tc.wantCaps)
			}
			if tc.wantCaps != nil && !slices.Equal(cmd.Env, nftEnv[:]) {
				t.Errorf("nft with a capability gets the environment %q, want only %q", cmd.Env, nftEnv)
			}
		})
	}
}

// TestPermittedCaps: capget(2) reads the same permitted set /proc shows.
func TestPermittedCaps(t *testing.T) {
	got, err := permittedCaps()
	if err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "CapPrm:"); ok {
			want, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil || got != want {
				t.Errorf("permittedCaps = %#x, /proc/self/status says CapPrm %s", got, strings.TrimSpace(v))
			}
			return
		}
	}
	t.Fatal("no CapPrm in /proc/self/status")
}
