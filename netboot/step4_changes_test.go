package netboot

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sharecd/sharecd/netboot/changes"
	"github.com/sharecd/sharecd/netboot/netlab"
)

// TestChangesLayerInExport: through the share's own steps (findChanges, plan, snapshot, the
// file servers), libnfs sees live/zz-sharecd-changes.squashfs in the medium's export only when
// the share has changes, reads back exactly the snapshot, and the medium's own files are
// untouched; stopping removes the snapshot, and a crash's leftover is cleared at the next start.
func TestChangesLayerInExport(t *testing.T) {
	if os.Geteuid() != 0 {
		netlab.Skipf(t, "snapshotting a session's changes needs root")
	}
	for _, tool := range []string{"mksquashfs", "nfs-cp", "nfs-ls"} {
		if _, err := exec.LookPath(tool); err != nil {
			netlab.Skipf(t, "%s not installed (apt-get install squashfs-tools libnfs-utils)", tool)
		}
	}
	upper := t.TempDir()
	if err := os.MkdirAll(filepath.Join(upper, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(upper, "etc/issue"), []byte("Library kiosk\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runDir := t.TempDir()
	medBefore, _ := os.ReadDir(filepath.Join(labMedium, "live"))

	for _, tc := range []struct {
		name string
		s    Share
	}{
		{"without changes", Share{}},
		{"with changes", Share{ChangesFrom: upper}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srcs, _, err := openSources([]string{labMedium})
			if err != nil {
				t.Fatal(err)
			}
			defer closeSources(srcs)
			ch, err := tc.s.findChanges(srcs)
			if err != nil {
				t.Fatal(err)
			}
			n := Network{Iface: Iface{Name: "lan0", Addr: netip.MustParsePrefix("127.0.0.1/8")}, DHCP: DHCPProxy}
			p, err := tc.s.plan(srcs, n)
			if err != nil {
				t.Fatal(err)
			}
			snapDir := changes.Dir(runDir, "lan0")
			// A crash's leftover from an earlier run is cleared first, with changes or without.
			os.MkdirAll(snapDir, 0o755)
			os.WriteFile(filepath.Join(snapDir, "stale.squashfs.tmp"), []byte("x"), 0o644)
			remove, err := ch.share(context.Background(), p, runDir, tc.s.logger())
			if err != nil {
				t.Fatal(err)
			}
			if left, _ := filepath.Glob(filepath.Join(snapDir, "stale*")); len(left) > 0 {
				t.Errorf("a crash's leftover is still there: %v", left)
			}
			defer func() {
				remove()
				if _, err := os.Stat(snapDir); !os.IsNotExist(err) {
					t.Errorf("the snapshot outlived the share: %v", err)
				}
			}()
			lp := &livePlan{}
			lp.Store(p)
			f := tc.s.fileServers(lp, DefaultPorts(), func(netip.Addr) bool { return true }, newTracker(func(Event) {}, nil, tc.s.logger()), tc.s.logger())
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- f.nfs.Serve(ctx, l) }()
			defer func() { cancel(); <-done }()
			port := l.Addr().(*net.TCPAddr).Port
			q := fmt.Sprintf("?nfsport=%d&mountport=%d", port, port)
			base := "nfs://127.0.0.1" + p.First().Export

			ls, err := nfsTool("nfs-ls", base+"/live"+q)
			if err != nil {
				t.Fatalf("nfs-ls: %v\n%s", err, ls)
			}
			if !bytes.Contains(ls, []byte("filesystem.squashfs")) {
				t.Errorf("the medium's root image is not listed:\n%s", ls)
			}
			if ch == nil {
				if bytes.Contains(ls, []byte(changes.LayerPrefix)) {
					t.Errorf("the layer is in the export of a share without changes:\n%s", ls)
				}
				return
			}
			imgs, _ := filepath.Glob(filepath.Join(snapDir, changes.LayerPrefix+"*.squashfs"))
			if len(imgs) != 1 {
				t.Fatalf("snapshots in %s: %v, want one", snapDir, imgs)
			}
			name := filepath.Base(imgs[0])
			out := filepath.Join(t.TempDir(), "layer")
			cp, err := nfsTool("nfs-cp", base+"/live/"+name+q, out)
			if err != nil || !bytes.Contains(ls, []byte(name)) {
				t.Fatalf("the layer is not in the export: %v\n%s\n%s", err, ls, cp)
			}
			got, _ := os.ReadFile(out)
			want, _ := os.ReadFile(imgs[0])
			if len(want) == 0 || !bytes.Equal(got, want) {
				t.Errorf("nfs-cp read %d bytes of the layer, the snapshot has %d", len(got), len(want))
			}
			if b, err := exec.Command("unsquashfs", "-cat", out, "etc/issue").Output(); err != nil || string(b) != "Library kiosk\n" {
				t.Errorf("the layer's etc/issue: %q, %v", b, err)
			}
		})
	}
	medAfter, _ := os.ReadDir(filepath.Join(labMedium, "live"))
	if len(medAfter) != len(medBefore) {
		t.Errorf("the medium changed: %v, was %v", medAfter, medBefore)
	}
}

func nfsTool(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return b, err
}

// TestChangesRefused: a family that cannot stack the changes, or both flags at once, is refused
// in one line before anything is served.
func TestChangesRefused(t *testing.T) {
	srcs, _, err := openSources([]string{labMedium})
	if err != nil {
		t.Fatal(err)
	}
	defer closeSources(srcs)
	for _, tc := range []struct {
		name   string
		s      Share
		errHas string
	}{
		{"both", Share{ChangesFrom: t.TempDir(), WithChanges: true}, "do not go together"},
		{"not a directory", Share{ChangesFrom: filepath.Join(t.TempDir(), "nope")}, "not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.s.findChanges(srcs)
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("findChanges = %v, want %q", err, tc.errHas)
			}
		})
	}
}
