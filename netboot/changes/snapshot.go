package changes

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Excluded are the session's files that stay out of the snapshot, as mksquashfs wildcards
// relative to the upper directory. The snapshot is readable by anyone on the LAN (NFS has no
// authentication) and booted by every client at once, so what identifies one machine, holds a
// secret, or is only this session's scratch stays home:
//
//   - etc/machine-id, var/lib/dbus/machine-id: one ID for a room of machines breaks systemd's
//     DHCP client identifiers (derived from it) and the journal; without it each client makes
//     its own at boot, as from the bare medium.
//   - etc/ssh/ssh_host_*: the private host keys; every client would be this host to SSH.
//   - etc/NetworkManager/system-connections, var/lib/NetworkManager, var/lib/dhcp: Wi-Fi
//     passwords, the host's own leases, and NetworkManager's secret key for stable addresses.
//   - var/lib/systemd/random-seed: the same seed for every client's random pool.
//   - var/log, var/tmp, tmp, var/cache, home/*/.cache, root/.cache: logs, scratch and caches
//     (apt's downloaded packages can be hundreds of MB, already installed).
//   - var/lib/sharecd: this share's own state (full mode's leases).
var Excluded = []string{
	"etc/machine-id",
	"var/lib/dbus/machine-id",
	"etc/ssh/ssh_host_*",
	"etc/NetworkManager/system-connections",
	"var/lib/NetworkManager",
	"var/lib/dhcp",
	"var/lib/systemd/random-seed",
	"var/log",
	"var/tmp",
	"tmp",
	"var/cache",
	"home/*/.cache",
	"root/.cache",
	"var/lib/sharecd",
}

// Snapshot writes a squashfs of the overlay upper directory upper into dir, keeping owners,
// modes, symlinks, device nodes (overlay's whiteouts are character devices 0/0) and xattrs
// (trusted.overlay.opaque marks a directory that hides the lower one's entries), less Excluded,
// and returns its path: dir/LayerPrefix + the first 12 hex digits of its SHA-256 + .squashfs.
// The same changes give the same image (mksquashfs's reproducible order, a fixed creation time),
// so a restarted share serves the same name while nothing changed. The image is written under a
// temporary name and renamed, so it is whole or absent. Reading trusted.* xattrs and every file
// of the session needs root.
func Snapshot(ctx context.Context, upper, dir string) (string, error) {
	if os.Geteuid() != 0 {
		// Without root mksquashfs skips the trusted.overlay.opaque marks and the files it cannot
		// read, and clients would boot a different system than the session.
		return "", errors.New("snapshotting the session's changes needs root: only root reads every file and overlay's trusted xattrs")
	}
	mk, err := exec.LookPath("mksquashfs")
	if err != nil {
		return "", fmt.Errorf("snapshotting the session's changes needs mksquashfs (apt-get install squashfs-tools): %w", err)
	}
	if fi, err := os.Stat(upper); err != nil {
		return "", fmt.Errorf("reading the changes: %w", err)
	} else if !fi.IsDir() {
		return "", fmt.Errorf("the changes %s are not a directory", upper)
	}
	tmp := filepath.Join(dir, LayerPrefix+"new.squashfs.tmp")
	excl := filepath.Join(dir, LayerPrefix+"exclude.tmp")
	defer os.Remove(excl)
	if err := os.WriteFile(excl, []byte(strings.Join(Excluded, "\n")+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing the snapshot's exclude list: %w", err)
	}
	os.Remove(tmp) // a crash's half-written image; mksquashfs would append to it
	// gzip, mksquashfs's default, is what every live kernel's squashfs reads; -no-recovery
	// keeps mksquashfs from leaving a recovery file in the working directory.
	cmd := exec.CommandContext(ctx, mk, upper, tmp, "-noappend", "-no-progress", "-quiet",
		"-no-recovery", "-xattrs", "-mkfs-time", "0", "-wildcards", "-ef", excl)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		os.Remove(tmp)
		msg := strings.Join(strings.Fields(stderr.String()), " ")
		if ctx.Err() != nil {
			return "", fmt.Errorf("snapshotting the changes %s: %w", upper, errors.Join(ctx.Err(), err))
		}
		return "", fmt.Errorf("snapshotting the changes %s with mksquashfs: %w: %s", upper, err, msg)
	}
	if msg := stderr.String(); strings.Contains(msg, "creating empty file") || strings.Contains(msg, "Failed to") {
		// mksquashfs goes on past a file it cannot read, leaving it empty in the image.
		os.Remove(tmp)
		return "", fmt.Errorf("snapshotting the changes %s: mksquashfs could not read all of it: %s", upper, strings.Join(strings.Fields(msg), " "))
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("snapshotting the changes: %w", err)
	}
	sum, err := fileSum(tmp)
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("snapshotting the changes: %w", err)
	}
	out := filepath.Join(dir, LayerPrefix+sum[:12]+".squashfs")
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("snapshotting the changes: %w", err)
	}
	return out, nil
}

func fileSum(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Dir is where one share keeps its snapshot: under runDir, named after the interface, so
// that two shares on two interfaces keep theirs apart and a restart finds its own.
func Dir(runDir, iface string) string { return filepath.Join(runDir, "changes-"+iface) }
