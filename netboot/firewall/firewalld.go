package firewall

// firewalld owns its nftables tables: rules inserted behind its back vanish at the next
// `firewall-cmd --reload`. Fedora's and openSUSE's live sessions run it. So where it runs, the
// share asks it over D-Bus, as firewall-cmd does: the ports the interface's zone lacks go into
// its runtime configuration (never the permanent one), exactly those come out again on stop,
// and a reload of firewalld, which drops every runtime change, is followed by adding them again.
//
// TFTP needs no more than port 69: each transfer's data leaves from a fresh port, which starts a
// conntrack flow of its own, and the client's ACKs are that flow's replies. firewalld accepts
// "ct state established,related" before any zone, so they pass without the tftp service's
// conntrack helper (that helper is for TFTP clients behind a firewall, and for NAT).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/godbus/dbus/v5"
)

// Firewalld opens a share's ports in firewalld's runtime configuration over D-Bus.
type Firewalld struct {
	// Bus is the D-Bus address of the system bus; "" = $DBUS_SYSTEM_BUS_ADDRESS, else the
	// system bus.
	Bus string
	// State is the file that lists the ports a run opened, so that the next start closes what a
	// killed run left open; "" keeps no record. A tmpfs (/run) suits it: a reboot closes
	// firewalld's runtime configuration too.
	State string
	Log   *slog.Logger

	// sameNetns tells whether firewalld (its pid) guards this network namespace; nil =
	// inOurNetns. Tests ask a firewalld in a namespace of their own from outside it.
	sameNetns func(pid uint32) bool
}

func (f *Firewalld) log() *slog.Logger {
	if f.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Log
}

// plan finds the zone for h.Iface and what it lacks.
func plan(ctx context.Context, c *fwd, h Hole) (Opening, error) {
	zone, err := c.zoneFor(ctx, h.Iface)
	if err != nil {
		return Opening{}, err
	}
	z, err := c.zone(ctx, zone)
	if err != nil {
		return Opening{Zone: zone}, err
	}
	return Opening{Zone: zone, Target: z.Target, Ports: missing(h, z)}, nil
}

// Check says which ports h's zone lacks, changing nothing. ErrNoFirewalld: firewalld does not
// run.
func (f *Firewalld) Check(ctx context.Context, h Hole) (Opening, error) {
	c, err := dial(ctx, f.Bus, f.sameNetns)
	if err != nil {
		return Opening{}, err
	}
	defer c.close()
	return plan(ctx, c, h)
}

// Open closes what an earlier run left open (the State file), then adds the ports h's zone
// lacks to its runtime configuration. The returned close removes exactly those; until then a
// reload or restart of firewalld is followed by adding them again. ErrNoFirewalld: firewalld
// does not run, nothing was done.
func (f *Firewalld) Open(ctx context.Context, h Hole) (Opening, func(context.Context) error, error) {
	c, err := dial(ctx, f.Bus, f.sameNetns)
	if err != nil {
		return Opening{}, nil, err
	}
	if err := f.closeLeftovers(ctx, c); err != nil {
		c.close()
		return Opening{}, nil, err
	}
	r := &run{f: f, c: c, hole: h, stop: make(chan struct{}), done: make(chan struct{})}
	// Watch before opening: a reload between the two would otherwise go unseen.
	sigs, err := r.subscribe()
	if err != nil {
		c.close()
		return Opening{}, nil, err
	}
	op, err := r.open(ctx)
	if err != nil {
		if op.Zone != "" && len(op.Ports) > 0 {
			err = fmt.Errorf("%w; open it with: %s", err, op.Command())
		}
		if rerr := r.removeAll(context.WithoutCancel(ctx)); rerr != nil {
			err = errors.Join(err, rerr)
		}
		c.close()
		return op, nil, err
	}
	go r.watch(ctx, sigs)
	return op, r.close, nil
}

// closeLeftovers removes the ports a killed run recorded. A port that is in the zone's permanent
// configuration stays: a reload since put it there, and it is the administrator's now.
func (f *Firewalld) closeLeftovers(ctx context.Context, c *fwd) error {
	left, err := readState(f.State)
	if err != nil || len(left) == 0 {
		return err
	}
	for _, o := range left {
		if c.permanent(ctx, o.Zone, o.Port) {
			continue
		}
		if err := c.removePort(ctx, o.Zone, o.Port); err != nil {
			return fmt.Errorf("closing what an earlier run left open: %w", err)
		}
	}
	f.log().Info("firewall: closed what an earlier run left open in firewalld", "ports", left)
	return writeState(f.State, nil)
}

// run is one Open until its close.
type run struct {
	f     *Firewalld
	c     *fwd
	hole  Hole
	added []opened // owned by Open, then by watch, then by close
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// open adds what the zone lacks. The record is written before the calls, so a kill between them
// leaves nothing unrecorded, and rewritten after with what was really added.
func (r *run) open(ctx context.Context) (Opening, error) {
	op, err := plan(ctx, r.c, r.hole)
	if err != nil {
		return op, err
	}
	intent := slices.Clone(r.added)
	for _, p := range op.Ports {
		intent = append(intent, opened{op.Zone, p})
	}
	if err := writeState(r.f.State, intent); err != nil {
		return op, err
	}
	var done []Port
	for _, p := range op.Ports {
		added, err := r.c.addPort(ctx, op.Zone, p)
		if err != nil {
			writeState(r.f.State, r.added)
			return op, err
		}
		if added {
			r.added = append(r.added, opened{op.Zone, p})
			done = append(done, p)
		}
	}
	op.Ports = done
	if err := writeState(r.f.State, r.added); err != nil {
		return op, err
	}
	if len(done) > 0 {
		r.f.log().Info("firewall: opened in firewalld's runtime configuration", "zone", op.Zone, "ports", done, "iface", r.hole.Iface)
	}
	return op, nil
}

func (r *run) removeAll(ctx context.Context) error {
	var errs []error
	var kept []opened
	for _, o := range r.added {
		if err := r.c.removePort(ctx, o.Zone, o.Port); err != nil {
			errs = append(errs, err)
			kept = append(kept, o)
		}
	}
	if len(r.added) > len(kept) {
		r.f.log().Info("firewall: closed in firewalld's runtime configuration", "ports", r.added)
	}
	r.added = kept
	// What could not be removed stays recorded for the next start.
	errs = append(errs, writeState(r.f.State, kept))
	return errors.Join(errs...)
}

// subscribe asks the bus for firewalld's Reloaded signal and for changes of its name's owner.
func (r *run) subscribe() (chan *dbus.Signal, error) {
	sigs := make(chan *dbus.Signal, 8)
	r.c.conn.Signal(sigs)
	if err := r.c.conn.AddMatchSignal(dbus.WithMatchObjectPath(fwdPath), dbus.WithMatchInterface(fwdName),
		dbus.WithMatchMember("Reloaded")); err != nil {
		return nil, fmt.Errorf("watching firewalld: %w", err)
	}
	if err := r.c.conn.AddMatchSignal(dbus.WithMatchSender("org.freedesktop.DBus"),
		dbus.WithMatchInterface("org.freedesktop.DBus"), dbus.WithMatchMember("NameOwnerChanged"),
		dbus.WithMatchArg(0, fwdName)); err != nil {
		return nil, fmt.Errorf("watching firewalld: %w", err)
	}
	return sigs, nil
}

// watch opens the ports again after firewalld reloaded or restarted: both reset its runtime
// configuration to the permanent one, which drops what this run added. It ends with close or
// ctx.
func (r *run) watch(ctx context.Context, sigs chan *dbus.Signal) {
	defer close(r.done)
	for {
		select {
		case <-r.stop:
			return
		case <-ctx.Done():
			return
		case sig, ok := <-sigs:
			if !ok {
				return
			}
			switch {
			case sig.Name == fwdName+".Reloaded":
				r.f.log().Info("firewall: firewalld reloaded; opening again")
			case sig.Name == "org.freedesktop.DBus.NameOwnerChanged" && len(sig.Body) == 3:
				if owner, _ := sig.Body[2].(string); owner == "" {
					r.f.log().Info("firewall: firewalld stopped; its runtime configuration went with it")
					r.added = nil
					writeState(r.f.State, nil)
					continue
				}
				r.f.log().Info("firewall: firewalld restarted; opening again")
			default:
				continue
			}
			// Nothing this run added is left; what the zone has now is not ours.
			r.added = nil
			if _, err := r.open(ctx); err != nil && ctx.Err() == nil {
				r.f.log().Warn("could not open firewalld again; clients may time out", "err", err)
			}
		}
	}
}

// close ends the watch and removes what this run added.
func (r *run) close(ctx context.Context) error {
	var err error
	r.once.Do(func() {
		close(r.stop)
		<-r.done
		err = r.removeAll(ctx)
		r.c.close()
	})
	return err
}
