package changes

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFind: the upper directory of the overlay on "/" in each session layout, and a one-line
// refusal, naming why, where there is nothing to share.
func TestFind(t *testing.T) {
	for _, tc := range []struct {
		mountinfo string
		mkdir     string // the upper directory as the session sees it; "" = none exists
		want      string // the directory Find returns, under the fake root; "" = an error
		errHas    string
	}{
		{"live-boot", "run/live/overlay/rw", "run/live/overlay/rw", ""},
		{"live-boot-persistence", "run/live/persistence/sdb2/rw", "run/live/persistence/sdb2/rw", ""},
		{"escaped", "run/my,persist dir/rw", "run/my,persist dir/rw", ""},
		{"casper", "", "", "casper hides /cow"},
		{"installed", "", "", "not a live session"},
		{"metacopy", "run/live/overlay/rw", "", "metacopy=on"},
		{"no-upper", "", "", "no writable layer"},
	} {
		t.Run(tc.mountinfo, func(t *testing.T) {
			root := t.TempDir()
			b, err := os.ReadFile(filepath.Join("testdata/mountinfo", tc.mountinfo))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(root, "proc/self"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, "proc/self/mountinfo"), b, 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.mkdir != "" {
				if err := os.MkdirAll(filepath.Join(root, tc.mkdir), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			got, err := Find(root)
			if tc.want != "" {
				if err != nil || got != filepath.Join(root, tc.want) {
					t.Fatalf("Find = %q, %v; want %q", got, err, filepath.Join(root, tc.want))
				}
				return
			}
			if err == nil || !errors.Is(err, ErrNoChanges) || !strings.Contains(err.Error(), tc.errHas) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Find = %q, %v; want one line of ErrNoChanges saying %q", got, err, tc.errHas)
			}
		})
	}
}
