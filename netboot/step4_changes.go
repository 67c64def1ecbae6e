package netboot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/sharecd/sharecd/netboot/changes"
)

// sessionChanges is what --changes-from or --with-changes asked for, checked against the medium
// before anything is served.
type sessionChanges struct {
	upper string            // the overlay upper directory
	place changes.Placement // where the first medium's initramfs stacks it
}

// findChanges resolves the changes to share, if any, and where the first medium (the one
// clients boot unattended) takes them; a family that cannot stack them refuses here.
func (s *Share) findChanges(srcs []*source) (*sessionChanges, error) {
	if s.ChangesFrom == "" && !s.WithChanges {
		return nil, nil
	}
	if s.ChangesFrom != "" && s.WithChanges {
		return nil, errors.New("--with-changes and --changes-from do not go together: choose one")
	}
	upper := s.ChangesFrom
	if upper == "" {
		var err error
		if upper, err = changes.Find("/"); err != nil {
			return nil, err
		}
	} else if fi, err := os.Stat(upper); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("--changes-from %s: not a directory", upper)
	}
	place, err := changes.Place(srcs[0].med.FS, srcs[0].fam)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", srcs[0].med.Source, err)
	}
	return &sessionChanges{upper: upper, place: place}, nil
}

// share makes the squashfs of the changes in RunDir/changes-IFACE and adds it to the first
// medium's NFS export as one more root layer. The medium itself is not touched; remove deletes
// the snapshot when the share stops. A crashed share's snapshot there is cleared first, also
// by a share without changes (c nil), which then does nothing else.
func (c *sessionChanges) share(ctx context.Context, p *Plan, runDir string, log *slog.Logger) (remove func(), err error) {
	dir := changes.Dir(runDir, p.Iface.Name)
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("clearing an earlier share's snapshot: %w", err)
	}
	if c == nil {
		return func() {}, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("making the snapshot's directory: %w", err)
	}
	remove = func() {
		if err := os.RemoveAll(dir); err != nil {
			log.Warn("removing the changes snapshot", "err", err)
		}
	}
	start := time.Now()
	img, err := changes.Snapshot(ctx, c.upper, dir)
	if err != nil {
		remove()
		return nil, err
	}
	layer, moduleText := c.place.Layer(filepath.Base(img))
	files := map[string]string{layer: img}
	if c.place.Module != "" {
		mod := filepath.Join(dir, path.Base(c.place.Module))
		if err := os.WriteFile(mod, moduleText, 0o644); err != nil {
			remove()
			return nil, fmt.Errorf("writing the layer list: %w", err)
		}
		files[c.place.Module] = mod
	}
	first := p.First()
	first.src.root = changes.Over(first.Medium.FS, files)
	fi, _ := os.Stat(img)
	var size int64
	if fi != nil {
		size = fi.Size()
	}
	log.Info("session changes shared as a layer over the medium", "changes", c.upper, "layer", layer,
		"export", first.Export, "bytes", size, "took", time.Since(start).Round(time.Millisecond))
	return remove, nil
}
