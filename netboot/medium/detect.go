package medium

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// ErrNoLiveMedium: Detect found no mounted live medium.
var ErrNoLiveMedium = errors.New("no running live medium found; pass --source")

// Running describes the live medium the running system booted from.
type Running struct {
	Family string `json:"family"`           // live-boot, casper, dracut, archiso, miso, knoppix; "" if unknown
	Path   string `json:"path"`             // where the medium is mounted (under the root Detect was given)
	Device string `json:"device,omitempty"` // what is mounted there: /dev/sr0, /dev/sdb1, /dev/loop0
	ISO    string `json:"iso,omitempty"`    // the ISO file the system was booted from, if any (findiso, iso-scan)
	ToRAM  bool   `json:"toram,omitempty"`  // the system was copied into RAM at boot
}

// A family's marker on the kernel command line, and where its initramfs mounts the medium.
var families = []struct {
	name    string
	markers []string // prefixes of kernel arguments
	mounts  []string
}{
	{"live-boot", []string{"boot=live"}, []string{"/run/live/medium", "/lib/live/mount/medium"}},
	{"casper", []string{"boot=casper"}, []string{"/cdrom"}},
	{"dracut", []string{"rd.live.image", "root=live:"}, []string{"/run/initramfs/live"}},
	{"archiso", []string{"archisobasedir=", "archisolabel="}, []string{"/run/archiso/bootmnt"}},
	{"miso", []string{"misobasedir=", "misolabel="}, []string{"/run/miso/bootmnt"}},
	{"knoppix", []string{"knoppix"}, []string{"/mnt-system"}},
}

// Detect returns where the running live system has its boot medium mounted.
func Detect(root string) (string, error) {
	r, err := DetectRunning(root)
	return r.Path, err
}

// DetectRunning finds the running live medium from the kernel command line and the mount table
// under root ("/" when empty; tests pass a fake root with proc/cmdline and proc/self/mountinfo).
// The command line names the family; the mount table says which of the family's mount points
// really holds a medium. Where both are silent (an unusual remaster), a non-empty well-known
// mount point is taken.
func DetectRunning(root string) (Running, error) {
	if root == "" {
		root = "/"
	}
	cmdline, _ := os.ReadFile(filepath.Join(root, "proc/cmdline"))
	args := strings.Fields(string(cmdline))
	mounts := readMountinfo(filepath.Join(root, "proc/self/mountinfo"))

	var r Running
	for _, a := range args {
		switch {
		case a == "toram" || strings.HasPrefix(a, "toram=") || a == "copytoram" || a == "copytoram=y" || a == "rd.live.ram=1":
			r.ToRAM = true
		case strings.HasPrefix(a, "findiso="), strings.HasPrefix(a, "iso-scan/filename="),
			strings.HasPrefix(a, "fromiso="), strings.HasPrefix(a, "img_loop="), strings.HasPrefix(a, "iso_path="):
			_, r.ISO, _ = strings.Cut(a, "=")
		}
	}
	for _, f := range families {
		if !hasMarker(args, f.markers) {
			continue
		}
		r.Family = f.name
		for _, m := range f.mounts {
			dir := filepath.Join(root, m)
			if dev, mounted := mounts[m]; mounted && nonEmptyDir(dir) {
				r.Path, r.Device = dir, dev
				return r, nil
			}
		}
		for _, m := range f.mounts {
			if dir := filepath.Join(root, m); nonEmptyDir(dir) {
				r.Path = dir
				return r, nil
			}
		}
	}
	for _, f := range families {
		for _, m := range f.mounts {
			if dir := filepath.Join(root, m); nonEmptyDir(dir) {
				if r.Family == "" {
					r.Family = f.name
				}
				r.Path, r.Device = dir, mounts[m]
				return r, nil
			}
		}
	}
	if r.Family != "" && r.ToRAM {
		return r, errors.New("this " + r.Family + " session was copied into RAM and its medium is no longer mounted; insert it again or pass --source")
	}
	return r, ErrNoLiveMedium
}

func hasMarker(args, markers []string) bool {
	for _, a := range args {
		for _, m := range markers {
			if a == m || (strings.HasSuffix(m, "=") || strings.HasSuffix(m, ":")) && strings.HasPrefix(a, m) {
				return true
			}
		}
	}
	return false
}

// readMountinfo maps mount points to their sources (the tenth field of mountinfo, after " - ").
func readMountinfo(path string) map[string]string {
	out := map[string]string{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(tail) < 2 {
			continue
		}
		out[unescapeMount(fields[4])] = tail[1]
	}
	return out
}

// unescapeMount undoes the octal escapes mountinfo uses for spaces and tabs in paths.
func unescapeMount(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}

// nonEmptyDir tells a mounted medium from the empty mount point it leaves
// behind when it is not mounted (e.g. /cdrom on an installed Ubuntu).
func nonEmptyDir(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	return err == nil && len(names) > 0
}
