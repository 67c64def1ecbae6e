// Package changes shares what a live session changed: it finds the session's writable overlay
// layer, snapshots it into a squashfs, and adds that file to a medium's namespace where the
// family's initramfs stacks it over the medium's own root image. The medium is never written.
package changes

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrNoChanges says the running system keeps no changes sharecd can find: it is not a live
// session, or its root is not an overlay with a writable layer.
var ErrNoChanges = errors.New("no live session changes to share")

// Find returns the upper directory of the overlay mounted on root's "/" (root is "/" but for
// tests, which pass a tree with proc/self/mountinfo): where live-boot (/run/live/overlay/rw,
// or the rw directory of a mounted persistence partition or file) and casper (/cow/upper) keep
// everything the session wrote.
func Find(root string) (string, error) {
	mi := filepath.Join(root, "proc/self/mountinfo")
	f, err := os.Open(mi)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", mi, err)
	}
	defer f.Close()
	var upper, opts string
	found := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20) // overlay lines list every lower layer
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(tail) < 3 || unescape(fields[4]) != "/" {
			continue
		}
		// The last mount on "/" is the one in use: an initramfs may leave one under it.
		found, upper, opts = tail[0] == "overlay", "", tail[2]
		if found {
			upper = superOption(opts, "upperdir")
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("reading %s: %w", mi, err)
	}
	switch {
	case !found:
		return "", fmt.Errorf("%w: / is not an overlay, so this is not a live session (give --changes-from DIR for an overlay upper directory)", ErrNoChanges)
	case upper == "":
		return "", fmt.Errorf("%w: the overlay on / has no writable layer", ErrNoChanges)
	case superOption(opts, "metacopy") == "on":
		// A metacopy upper file holds only attributes; its data stays in the host's lower layer,
		// which a snapshot of the upper directory alone would lose.
		return "", fmt.Errorf("%w: the overlay on / uses metacopy=on, whose upper files have no data of their own", ErrNoChanges)
	}
	dir := filepath.Join(root, upper)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		// casper mounts its writable layer on /cow inside the initramfs, which is gone from
		// the session's view once the system runs; a casper-rw persistence can be mounted again.
		return "", fmt.Errorf("%w: the overlay's writable layer %s is not reachable from here (casper hides /cow; mount its casper-rw persistence and give --changes-from MOUNT/upper)", ErrNoChanges, upper)
	}
	return dir, nil
}

// superOption is one option of mountinfo's super options. The kernel writes overlay's paths
// with seq_show_option, which escapes commas, "=", whitespace and backslashes as octal (\054),
// so splitting on commas is safe before unescaping.
func superOption(opts, key string) string {
	for _, p := range strings.Split(opts, ",") {
		if v, ok := strings.CutPrefix(p, key+"="); ok {
			return unescape(v)
		}
	}
	return ""
}

// unescape undoes mountinfo's octal escapes (\040 for a space, \134 for a backslash, …).
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
