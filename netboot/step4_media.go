package netboot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sharecd/sharecd/netboot/nfs"
)

// Media added and removed while a share serves.
//
// A plan is never changed: a change of media builds a new plan from the media as placed
// (step3_plan.go), and the servers, which read the plan through livePlan, get it whole at once.
// A medium keeps its place (its directory in the tree, its export, so its NFS handles) for as
// long as it is served. A medium taken out leaves the menus at once; while clients still use it
// (they fetched its kernel, mounted or read its export within MediaIdle) it stays served to
// them, and it is closed once none has for MediaIdle, or when the share stops.

// Live changes the media of a running share: give Share.Live one, and call SetSources while
// Run serves. Copies of a Share share its Live.
type Live struct {
	mu sync.Mutex
	r  *running
}

// ErrNotSharing: SetSources was called while no share ran.
var ErrNotSharing = errors.New("not sharing")

// SetSources makes sources (Share.Sources' words; a directory of ISO files is listed again) the
// media of the running share, in menu order. Media still in the list keep being served as they
// are; an error (a source that does not open, no live medium left) changes nothing.
func (l *Live) SetSources(sources []string) error {
	if l == nil {
		return ErrNotSharing
	}
	l.mu.Lock()
	r := l.r
	l.mu.Unlock()
	if r == nil {
		return ErrNotSharing
	}
	return r.setSources(sources)
}

func (l *Live) attach(r *running) {
	if l != nil {
		l.mu.Lock()
		l.r = r
		l.mu.Unlock()
	}
}

// MediumChange is what happened to a medium of a running share.
type MediumChange string

const (
	MediumAdded   MediumChange = "added"   // it is served and listed in the menus
	MediumRemoved MediumChange = "removed" // it is served no more, and closed
	// MediumInUse: it left the menus but clients still use it (MediaEvent.Clients), so it is
	// served to them until they stop.
	MediumInUse MediumChange = "still in use"
)

// MediaEvent tells of a change of the media of a running share.
type MediaEvent struct {
	Time    time.Time
	Change  MediumChange
	Source  string // the medium's file, directory or device
	Title   string // how the menus list(ed) it
	Export  string
	Clients []netip.Addr // MediumInUse: the clients using it
}

// livePlan is the plan the servers serve now; its Open is the current tree's.
type livePlan struct{ atomic.Pointer[Plan] }

func (l *livePlan) Open(name string) (fs.File, error) { return l.Load().Tree.Open(name) }

// running is a share while it serves: what a change of media needs.
type running struct {
	s    *Share
	log  *slog.Logger
	plan *livePlan
	nfs  *nfs.Server
	tr   *tracker
	idle time.Duration

	mu      sync.Mutex // one change at a time
	stopped bool       // the share is stopping: no medium may be opened any more
}

func (s *Share) mediaIdle() time.Duration {
	if s.MediaIdle > 0 {
		return s.MediaIdle
	}
	return nfs.DefaultIdleTimeout
}

func (r *running) setSources(names []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return ErrNotSharing
	}
	old := r.plan.Load()
	have := map[string]*source{}
	for _, pl := range old.placed {
		have[pl.src.name] = pl.src
	}
	srcs, skipped, err := reopenSources(names, have)
	if err != nil {
		return fmt.Errorf("changing the media: %w", err)
	}
	for _, line := range skipped {
		r.log.Warn(line)
	}
	// A medium served already and named twice is one medium, in one place: listed once.
	var once []*source
	for _, src := range srcs {
		if !slices.Contains(once, src) {
			once = append(once, src)
		}
	}
	return r.apply(placeAgain(old.placed, once))
}

// placeAgain places srcs, the new media in menu order, beside the media old placed: one served
// already keeps its place; a new one gets a directory no medium served uses; one left out is
// leaving. A medium at the root keeps its files there; its own menus move to a directory of
// their own while others are listed beside it, for the top menus to open.
func placeAgain(old []placement, srcs []*source) []placement {
	var out []placement
	var fresh []*source
	for _, src := range srcs {
		i := slices.IndexFunc(old, func(pl placement) bool { return pl.src == src })
		if i < 0 {
			fresh = append(fresh, src)
			continue
		}
		pl := old[i]
		pl.leaving = false
		out = append(out, pl)
	}
	for _, pl := range old {
		if !slices.ContainsFunc(srcs, func(src *source) bool { return src == pl.src }) {
			pl.leaving = true
			out = append(out, pl)
		}
	}
	prefixes := mediumPrefixes(fresh, out)
	for i, src := range fresh {
		out = append(out, placement{src: src, prefix: prefixes[i]})
	}
	// Back to menu order, the leaving last.
	slices.SortStableFunc(out, func(a, b placement) int {
		ia := slices.Index(srcs, a.src)
		ib := slices.Index(srcs, b.src)
		if ia < 0 {
			ia = len(srcs)
		}
		if ib < 0 {
			ib = len(srcs)
		}
		return ia - ib
	})
	listed := 0
	for _, pl := range out {
		if !pl.leaving {
			listed++
		}
	}
	for i, pl := range out {
		switch {
		case pl.prefix != "":
		case listed == 1 && !pl.leaving:
			out[i].menuDir = "" // alone again: its menus are the first ones, at the root
		case pl.menuDir == "":
			out[i].menuDir = freeName(slug(pl.src), usedNames(out))
		}
	}
	return out
}

// apply serves the media as placed, less the leaving ones no client uses any more, and says
// what changed.
func (r *running) apply(placed []placement) error {
	old := r.plan.Load()
	users := map[*source][]netip.Addr{}
	var keep []placement
	for _, pl := range placed {
		if pl.leaving {
			if users[pl.src] = r.users(pl, placed); len(users[pl.src]) == 0 {
				continue
			}
		}
		keep = append(keep, pl)
	}
	p, err := r.s.planOf(keep, old.Network)
	if err == nil && p.HTTP && !old.HTTP {
		err = errors.New("a medium added needs the HTTP server, which this share did not start (--tftp-only): stop and share again")
	}
	if err != nil {
		for _, pl := range keep {
			if !slices.ContainsFunc(old.placed, func(o placement) bool { return o.src == pl.src }) {
				pl.src.Close()
			}
		}
		return fmt.Errorf("changing the media: %w", err)
	}
	r.plan.Store(p)
	if err := r.nfs.SetExports(p.exports()); err != nil {
		// Not reachable: the exports are the plan's, each on its own path.
		r.log.Error("changing the NFS exports", "err", err)
	}
	served := func(p *Plan, src *source) (listed, leaving bool) {
		for _, pl := range p.placed {
			if pl.src == src {
				return !pl.leaving, pl.leaving
			}
		}
		return false, false
	}
	for _, sv := range slices.Concat(p.Media, p.Leaving) {
		src := sv.src
		wasListed, wasLeaving := served(old, src)
		switch {
		case !wasListed && !wasLeaving:
			r.tell(MediaEvent{Change: MediumAdded, Source: sv.Medium.Source, Title: sv.Title, Export: sv.Export})
		case wasListed && slices.Contains(p.Leaving, sv):
			r.tell(MediaEvent{Change: MediumInUse, Source: sv.Medium.Source, Title: sv.Title, Export: sv.Export,
				Clients: users[src]})
		}
	}
	for _, sv := range slices.Concat(old.Media, old.Leaving) {
		if listed, leaving := served(p, sv.src); !listed && !leaving {
			sv.src.Close()
			r.tell(MediaEvent{Change: MediumRemoved, Source: sv.Medium.Source, Title: sv.Title, Export: sv.Export})
		}
	}
	return nil
}

// users are the clients that used the medium placed as pl within MediaIdle: NFS calls on its
// export, and the files of it they were last seen fetching or running from.
func (r *running) users(pl placement, all []placement) []netip.Addr {
	since := time.Now().Add(-r.idle)
	export := path.Join(Export, pl.prefix)
	out := r.nfs.Users(export, since)
	out = append(out, r.tr.recent(since, func(st Stage, detail string) bool {
		switch st {
		case StageKernel, StageInitrd, StageMounted, StageRunning:
			return ownerOf(detail, all) == pl.src
		}
		return false
	})...)
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// ownerOf is the medium a client's detail (a file of the tree, an export, a file read over
// NFS) belongs to: the one whose directory or export holds it, else the medium at the root.
func ownerOf(detail string, all []placement) *source {
	var owner *source
	longest := -1
	for _, pl := range all {
		export := path.Join(Export, pl.prefix)
		in := func(dir string) bool { return detail == dir || strings.HasPrefix(detail, dir+"/") }
		switch {
		case pl.prefix == "" && longest < 0 && !strings.HasPrefix(detail, "/"):
			owner = pl.src // a lone medium's files and NFS reads carry no prefix
		case in(export) && len(export) > longest:
			owner, longest = pl.src, len(export)
		case pl.prefix != "" && in(pl.prefix) && len(pl.prefix) > longest:
			owner, longest = pl.src, len(pl.prefix)
		}
	}
	return owner
}

// tell logs a change of media and passes it to OnMedia.
func (r *running) tell(e MediaEvent) {
	e.Time = time.Now()
	switch e.Change {
	case MediumInUse:
		r.log.Warn("medium removed from the menus but still in use: served to its clients until they stop",
			"medium", e.Source, "export", e.Export, "clients", e.Clients)
	default:
		r.log.Info("medium "+string(e.Change), "medium", e.Source, "title", e.Title, "export", e.Export)
	}
	if r.s.OnMedia != nil {
		r.s.OnMedia(e)
	}
}

// retire closes leaving media once no client has used them for MediaIdle, until ctx ends.
func (r *running) retire(ctx context.Context) error {
	t := time.NewTicker(min(max(r.idle/4, 100*time.Millisecond), 30*time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		r.mu.Lock()
		if p := r.plan.Load(); len(p.Leaving) > 0 && !r.stopped {
			if err := r.apply(p.placed); err != nil {
				r.log.Error("closing a medium no client uses", "err", err)
			}
		}
		r.mu.Unlock()
	}
}

// close closes every medium the share serves, once its servers have stopped, and refuses any
// change from then on.
func (r *running) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	for _, pl := range r.plan.Load().placed {
		pl.src.Close()
	}
}
