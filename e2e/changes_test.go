package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// issueMarker is the line the session's changed /etc/issue adds: agetty prints /etc/issue on the
// serial console just before "login:", so it shows without logging in.
const issueMarker = "Library kiosk: this session's changes, shared by sharecd"

// changesProbe runs at boot from the changes layer (its unit is enabled there, by a symlink in
// multi-user.target.wants, as systemctl enable leaves it) and prints on the console what the
// layer must have kept: owners and modes, a symlink, a file the session deleted (a whiteout), a
// directory it replaced whole (opaque), and that the medium's own enabled units are still there
// (the layer's multi-user.target.wants merges with the medium's).
const changesProbe = `#!/bin/sh
p() { echo "sharecd-changes: $*"; }
p "start-page $(stat -c %U:%G:%a /etc/kiosk/start-page)"
p "unit $(stat -c %U:%G:%a /etc/systemd/system/sharecd-changes.service)"
p "kiosk dir $(stat -c %U:%G:%a /etc/kiosk)"
p "docs link $(readlink /etc/kiosk/docs)"
if [ -e /usr/share/doc/bash/copyright ]; then p "bash copyright present"; else p "bash copyright deleted"; fi
[ -e /usr/share/doc/bash/README.gz ] && p "bash readme present"
p "dpkg doc [$(ls /usr/share/doc/dpkg | tr '\n' ' ')]"
[ -e /etc/systemd/system/multi-user.target.wants/sharecd-probe.service ] && p "lab probe still enabled"
[ -e /etc/machine-id ] && [ "$(cat /etc/machine-id)" = "` + sessionMachineID + `" ] && p "machine-id is the session's"
p done
`

// sessionMachineID is the host session's machine ID, which must not reach the clients.
const sessionMachineID = "5ec5e5510bad1dbadbadbadbadbadbad"

const changesUnit = `[Unit]
Description=sharecd e2e: what the session's changes layer kept
After=local-fs.target
Before=serial-getty@ttyS0.service getty.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/sharecd-changes
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
`

// changesSeen are the probe's lines a client booted with the changes prints.
var changesSeen = []string{
	"sharecd-changes: start-page daemon:lp:640",
	"sharecd-changes: unit daemon:lp:640",
	"sharecd-changes: kiosk dir root:lp:2775",
	"sharecd-changes: docs link ../../usr/share/doc/bash",
	"sharecd-changes: bash copyright deleted",
	"sharecd-changes: bash readme present",
	"sharecd-changes: dpkg doc [kiosk-note ]",
	"sharecd-changes: lab probe still enabled",
	"sharecd-changes: done",
	issueMarker,
}

// labSessionChanges writes into dir/changes an overlay upper directory as a live session that
// was set up as a kiosk leaves it, and returns it.
func labSessionChanges(t *testing.T, dir string) string {
	t.Helper()
	upper := filepath.Join(dir, "changes")
	type node struct {
		path     string
		kind     byte // f file, d dir, l symlink, w whiteout, o opaque dir
		mode     os.FileMode
		uid, gid int
		data     string
	}
	for _, n := range []node{
		{"etc", 'd', 0o755, 0, 0, ""},
		{"etc/issue", 'f', 0o644, 0, 0, issueMarker + "\n\n"},
		{"etc/machine-id", 'f', 0o444, 0, 0, sessionMachineID + "\n"},
		{"etc/kiosk", 'd', 0o775 | os.ModeSetgid, 0, 7, ""},
		{"etc/kiosk/start-page", 'f', 0o640, 1, 7, "https://library.example/\n"},
		{"etc/kiosk/docs", 'l', 0, 1, 7, "../../usr/share/doc/bash"},
		{"etc/systemd", 'd', 0o755, 0, 0, ""},
		{"etc/systemd/system", 'd', 0o755, 0, 0, ""},
		{"etc/systemd/system/sharecd-changes.service", 'f', 0o640, 1, 7, changesUnit},
		{"etc/systemd/system/multi-user.target.wants", 'd', 0o755, 0, 0, ""},
		{"etc/systemd/system/multi-user.target.wants/sharecd-changes.service", 'l', 0, 0, 0, "../sharecd-changes.service"},
		{"usr", 'd', 0o755, 0, 0, ""},
		{"usr/local", 'd', 0o755, 0, 0, ""},
		{"usr/local/sbin", 'd', 0o755, 0, 0, ""},
		{"usr/local/sbin/sharecd-changes", 'f', 0o755, 0, 0, changesProbe},
		{"usr/share", 'd', 0o755, 0, 0, ""},
		{"usr/share/doc", 'd', 0o755, 0, 0, ""},
		{"usr/share/doc/bash", 'd', 0o755, 0, 0, ""},
		{"usr/share/doc/bash/copyright", 'w', 0, 0, 0, ""},
		{"usr/share/doc/dpkg", 'o', 0o755, 0, 0, ""},
		{"usr/share/doc/dpkg/kiosk-note", 'f', 0o644, 0, 0, "dpkg's documentation was replaced\n"},
	} {
		p := filepath.Join(upper, n.path)
		var err error
		switch n.kind {
		case 'f':
			err = os.WriteFile(p, []byte(n.data), 0o600)
		case 'd', 'o':
			err = os.MkdirAll(p, 0o700)
			if err == nil && n.kind == 'o' {
				err = unix.Lsetxattr(p, "trusted.overlay.opaque", []byte("y"), 0)
			}
		case 'l':
			err = os.Symlink(n.data, p)
		case 'w':
			err = unix.Mknod(p, unix.S_IFCHR, 0)
		}
		if err == nil {
			err = os.Lchown(p, n.uid, n.gid)
		}
		if err == nil && n.kind != 'l' && n.kind != 'w' {
			err = os.Chmod(p, n.mode) // after chown, which clears setgid
		}
		if err != nil {
			t.Fatalf("making the session's changes: %v", err)
		}
	}
	return upper
}

// checkChangesClient: a client booted with the changes printed every line of changesSeen, and
// not the session's machine ID.
func checkChangesClient(t *testing.T, name, serial string) {
	t.Helper()
	b, _ := os.ReadFile(serial)
	for _, want := range changesSeen {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s: the serial console lacks %q (the changes layer)", name, want)
		}
	}
	if strings.Contains(string(b), "machine-id is the session's") {
		t.Errorf("%s: the session's machine ID reached the client", name)
	}
}

// checkNoChangesClient: a client of a share without changes shows none of them.
func checkNoChangesClient(t *testing.T, name, serial string) {
	t.Helper()
	b, _ := os.ReadFile(serial)
	for _, absent := range []string{issueMarker, "sharecd-changes:"} {
		if strings.Contains(string(b), absent) {
			t.Errorf("%s: a share without changes showed %q", name, absent)
		}
	}
	if !strings.Contains(string(b), "login:") {
		t.Errorf("%s: no login: on the serial console, so the absence proves nothing", name)
	}
}
