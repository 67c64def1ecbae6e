package firewall

// How sharecd runs nft. A desktop user shares with the package's file capabilities, and nftables
// answers nothing, not even a listing, without CAP_NET_ADMIN (nfnetlink checks it for every
// message). A child does not inherit a file capability, so nft gets CAP_NET_ADMIN as an ambient
// capability, and since the child is then as powerful as sharecd, only a root-owned nft that no
// one else can replace, with an environment sharecd chose, is given it.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrNotPermitted means nft was refused: this process may not read or change the ruleset
// (it needs root or CAP_NET_ADMIN).
var ErrNotPermitted = errors.New("not permitted to read or change the firewall (needs root or CAP_NET_ADMIN)")

// systemNft is where distributions install nft: Debian, Ubuntu, Fedora, openSUSE and Arch put it
// in /usr/sbin (/sbin is the same directory on a merged /usr).
var systemNft = [...]string{"/usr/sbin/nft", "/sbin/nft"}

// nftEnv is the whole environment nft gets when it holds a capability. Ambient capabilities do
// not put it in secure-execution mode as sharecd's file capabilities put sharecd, so the dynamic
// loader would honour the user's LD_PRELOAD and LD_LIBRARY_PATH: nothing of the user's goes in.
// LC_ALL=C keeps nft's errors in the English ErrNotPermitted is read from.
var nftEnv = [...]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}

// nftExec says how to run nft in this process: which file, with which capability.
type nftExec struct {
	// paths are the only places nft is taken from when it gets a capability; nil = systemNft.
	paths []string
	// permitted is this process's permitted capability set; nil = capget(2).
	permitted func() (uint64, error)
	// stat is os.Stat in tests that fake owners.
	stat func(string) (fs.FileInfo, error)
	// euid is os.Geteuid, faked in tests.
	euid func() int
}

// Nft runs the nft command. Run as root it is nft from $PATH, as before. Run by a user with
// CAP_NET_ADMIN in sharecd's permitted set (the package's file capability), it is the system's
// nft, root-owned and writable by root alone, with that one capability and a fixed environment.
// Run by a user without it, nft is refused (ErrNotPermitted).
func Nft(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	return nftExec{}.run(ctx, stdin, args...)
}

func (n nftExec) run(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	cmd, err := n.command(ctx, args...)
	if err != nil {
		return nil, err
	}
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		// nft says strerror(EPERM), from the listing ("Operation not permitted (you must be
		// root)") as from a change ("Could not process rule: Operation not permitted").
		if strings.Contains(msg, "Operation not permitted") {
			return nil, fmt.Errorf("nft %s: %w", strings.Join(args, " "), ErrNotPermitted)
		}
		return nil, fmt.Errorf("nft %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	return out, nil
}

// command is the nft command to run: with CAP_NET_ADMIN in its ambient set when this process
// runs as a user holding it permitted, by a trusted absolute path.
func (n nftExec) command(ctx context.Context, args ...string) (*exec.Cmd, error) {
	euid := os.Geteuid
	if n.euid != nil {
		euid = n.euid
	}
	if euid() == 0 || !n.hasNetAdmin() {
		// Nothing to pass on: root's nft is whatever root's $PATH says, and a user's nft
		// without the capability can do no more than the user. A user's $PATH often lacks
		// /usr/sbin (Debian's does), and a firewall sharecd may not read is not one it may
		// ignore (ErrNotPermitted), so the system's nft is looked for too.
		path, err := exec.LookPath("nft")
		if err != nil {
			if path = n.systemNft(); path == "" {
				return nil, ErrNoNft
			}
		}
		return exec.CommandContext(ctx, path, args...), nil
	}
	path, err := n.trustedNft()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append([]string(nil), nftEnv[:]...)
	cmd.Dir = "/"
	// Go raises the capability in the child's inheritable set, then its ambient set, which exec
	// keeps for a file without capabilities (capabilities(7)); it needs the capability permitted,
	// hence hasNetAdmin.
	cmd.SysProcAttr = &syscall.SysProcAttr{AmbientCaps: []uintptr{unix.CAP_NET_ADMIN}}
	return cmd, nil
}

// hasNetAdmin tells whether CAP_NET_ADMIN is in this process's permitted set.
func (n nftExec) hasNetAdmin() bool {
	permitted := permittedCaps
	if n.permitted != nil {
		permitted = n.permitted
	}
	set, err := permitted()
	return err == nil && set&(1<<unix.CAP_NET_ADMIN) != 0
}

// permittedCaps is this thread's permitted capability set; sharecd's threads all share the one
// its file capabilities gave it at exec.
func permittedCaps() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, fmt.Errorf("capget: %w", err)
	}
	return uint64(data[1].Permitted)<<32 | uint64(data[0].Permitted), nil
}

// systemNft is the first of the system's nft paths that exists, or "".
func (n nftExec) systemNft() string {
	stat := os.Stat
	if n.stat != nil {
		stat = n.stat
	}
	for _, p := range n.candidates() {
		if fi, err := stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return ""
}

func (n nftExec) candidates() []string {
	if n.paths == nil {
		return systemNft[:]
	}
	return n.paths
}

// trustedNft is the first of the system's nft paths that is fit to get a capability, never one
// from $PATH: a user who put an nft of their own first there would get CAP_NET_ADMIN.
func (n nftExec) trustedNft() (string, error) {
	paths := n.candidates()
	stat := os.Stat
	if n.stat != nil {
		stat = n.stat
	}
	var errs []error
	for _, p := range paths {
		fi, err := stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil {
			err = rootOnly(fi)
		}
		if err == nil {
			// And so is every directory above it: a directory others may write lets them
			// replace the file.
			for d := filepath.Dir(p); err == nil; d = filepath.Dir(d) {
				var di fs.FileInfo
				if di, err = stat(d); err == nil {
					err = rootOnly(di)
				}
				if d == "/" || d == "." {
					break
				}
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		return p, nil
	}
	if len(errs) == 0 {
		return "", ErrNoNft
	}
	return "", fmt.Errorf("no nft fit to run with CAP_NET_ADMIN: %w", errors.Join(errs...))
}

// rootOnly checks that only root can change a file or directory: owned by root, not writable by
// its group or others. stat follows symbolic links (/sbin → usr/sbin), so it is the file itself
// that is checked.
func rootOnly(fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !ok:
		return errors.New("owner unknown")
	case st.Uid != 0:
		return fmt.Errorf("owned by uid %d, not root", st.Uid)
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("writable by others than root (mode %v)", fi.Mode().Perm())
	case !fi.IsDir() && !fi.Mode().IsRegular():
		return fmt.Errorf("not a regular file (%v)", fi.Mode().Type())
	}
	return nil
}
