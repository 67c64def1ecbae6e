package firewall

// firewalld's D-Bus API, the calls firewall-cmd makes: org.fedoraproject.FirewallD1 on the
// system bus, documented in firewalld.dbus(5). Calls that change the configuration are checked
// by polkit (org.fedoraproject.FirewallD1.config, auth_admin_keep): root passes, a live
// session's user may be asked for a password by the session's polkit agent.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/godbus/dbus/v5"
)

const (
	fwdName       = "org.fedoraproject.FirewallD1"
	fwdPath       = dbus.ObjectPath("/org/fedoraproject/FirewallD1")
	fwdZone       = fwdName + ".zone"
	fwdConfig     = fwdName + ".config"
	fwdConfigPath = dbus.ObjectPath("/org/fedoraproject/FirewallD1/config")
	fwdConfigZone = fwdName + ".config.zone"
)

// ErrNoFirewalld means firewalld does not run: nobody owns its name on the system bus, or
// there is no system bus.
var ErrNoFirewalld = errors.New("firewalld is not running")

// fwd is a connection to firewalld.
type fwd struct {
	conn *dbus.Conn
	obj  dbus.BusObject
}

// dial connects to the bus at addr ("" = $DBUS_SYSTEM_BUS_ADDRESS, else the system bus) and
// checks that firewalld owns its name there. The connection does not take ctx
// (dbus.WithContext would close it with ctx): a share's context ends before its ports are
// closed again.
func dial(ctx context.Context, addr string, sameNetns func(pid uint32) bool) (*fwd, error) {
	var conn *dbus.Conn
	var err error
	if addr == "" {
		conn, err = dbus.ConnectSystemBus()
	} else {
		conn, err = dbus.Connect(addr)
	}
	if err != nil {
		return nil, fmt.Errorf("%w (no system bus: %w)", ErrNoFirewalld, err)
	}
	var has bool
	if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, fwdName).Store(&has); err != nil {
		conn.Close()
		return nil, fmt.Errorf("asking the system bus for firewalld: %w", err)
	}
	if !has {
		conn.Close()
		return nil, ErrNoFirewalld
	}
	// The system bus spans network namespaces; the firewall does not. A share in a container or
	// a network namespace (the end-to-end tests) must not open the ports of the host's firewalld.
	var pid uint32
	if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.GetConnectionUnixProcessID", 0, fwdName).Store(&pid); err == nil {
		if sameNetns == nil {
			sameNetns = inOurNetns
		}
		if !sameNetns(pid) {
			conn.Close()
			return nil, fmt.Errorf("%w in this network namespace (pid %d guards another)", ErrNoFirewalld, pid)
		}
	}
	return &fwd{conn: conn, obj: conn.Object(fwdName, fwdPath)}, nil
}

// inOurNetns tells whether process pid is in this process's network namespace. It says yes when
// it cannot tell: a user may not read root's /proc/PID/ns.
func inOurNetns(pid uint32) bool {
	ours, err := os.Stat("/proc/self/ns/net")
	if err != nil {
		return true
	}
	theirs, err := os.Stat(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return true
	}
	return os.SameFile(ours, theirs)
}

func (c *fwd) close() { c.conn.Close() }

// call calls method on firewalld's main object and stores the reply in out.
func (c *fwd) call(ctx context.Context, method string, out []any, args ...any) error {
	// firewalld asks polkit with interaction allowed whatever we say; saying so too is honest.
	call := c.obj.CallWithContext(ctx, method, dbus.FlagAllowInteractiveAuthorization, args...)
	if call.Err != nil || len(out) == 0 {
		return call.Err
	}
	return call.Store(out...)
}

// fwdError is the code firewalld puts first in its errors: "ALREADY_ENABLED: '69:udp' already
// in 'public'".
func fwdError(err error) string {
	if de := asDBusError(err); de != nil && len(de.Body) > 0 {
		if msg, ok := de.Body[0].(string); ok {
			code, _, _ := strings.Cut(msg, ":")
			return code
		}
	}
	return ""
}

func unknownMethod(err error) bool {
	de := asDBusError(err)
	return de != nil && de.Name == "org.freedesktop.DBus.Error.UnknownMethod"
}

// asDBusError finds the error a D-Bus peer replied with; godbus returns it as *dbus.Error.
func asDBusError(err error) *dbus.Error {
	var p *dbus.Error
	if errors.As(err, &p) {
		return p
	}
	var v dbus.Error
	if errors.As(err, &v) {
		return &v
	}
	return nil
}

// zoneFor is the zone whose rules apply to packets arriving on iface: the interface's own, or
// the default zone when it is in none (firewalld's fallback for unbound interfaces).
func (c *fwd) zoneFor(ctx context.Context, iface string) (string, error) {
	var zone string
	if err := c.call(ctx, fwdZone+".getZoneOfInterface", []any{&zone}, iface); err != nil {
		return "", fmt.Errorf("firewalld: the zone of %s: %w", iface, err)
	}
	if zone != "" {
		return zone, nil
	}
	if err := c.call(ctx, fwdName+".getDefaultZone", []any{&zone}); err != nil {
		return "", fmt.Errorf("firewalld: the default zone: %w", err)
	}
	return zone, nil
}

type dbusPort struct{ Port, Proto string }

// zone reads what zone name lets in now (its runtime configuration).
func (c *fwd) zone(ctx context.Context, name string) (zoneInfo, error) {
	z := zoneInfo{Name: name}
	var ports []dbusPort
	var services []string
	// getZoneSettings2 came with firewalld 0.9; before it, getPorts and getServices say the
	// same without the target.
	var settings map[string]dbus.Variant
	err := c.call(ctx, fwdZone+".getZoneSettings2", []any{&settings}, name)
	switch {
	case err == nil:
		if v, ok := settings["target"]; ok {
			v.Store(&z.Target)
		}
		if v, ok := settings["ports"]; ok {
			if err := v.Store(&ports); err != nil {
				return z, fmt.Errorf("firewalld zone %s: reading its ports: %w", name, err)
			}
		}
		if v, ok := settings["services"]; ok {
			if err := v.Store(&services); err != nil {
				return z, fmt.Errorf("firewalld zone %s: reading its services: %w", name, err)
			}
		}
	case unknownMethod(err):
		var pairs [][]string
		if err := c.call(ctx, fwdZone+".getPorts", []any{&pairs}, name); err != nil {
			return z, fmt.Errorf("firewalld zone %s: its ports: %w", name, err)
		}
		for _, p := range pairs {
			if len(p) == 2 {
				ports = append(ports, dbusPort{p[0], p[1]})
			}
		}
		if err := c.call(ctx, fwdZone+".getServices", []any{&services}, name); err != nil {
			return z, fmt.Errorf("firewalld zone %s: its services: %w", name, err)
		}
	default:
		return z, fmt.Errorf("firewalld zone %s: %w", name, err)
	}
	for _, s := range services {
		sp, err := c.servicePorts(ctx, s)
		if err != nil {
			return z, fmt.Errorf("firewalld service %s: %w", s, err)
		}
		ports = append(ports, sp...)
	}
	for _, p := range ports {
		if r, ok := parseRange(p.Port, p.Proto); ok {
			z.Allow = append(z.Allow, r)
		}
	}
	return z, nil
}

// servicePorts are the ports a service opens ("nfs": 2049/tcp).
func (c *fwd) servicePorts(ctx context.Context, service string) ([]dbusPort, error) {
	var settings map[string]dbus.Variant
	err := c.call(ctx, fwdName+".getServiceSettings2", []any{&settings}, service)
	if unknownMethod(err) {
		// Before 0.9: (version, short, description, ports, modules, destinations, protocols,
		// source ports).
		var old struct {
			Version, Short, Description string
			Ports                       []dbusPort
			Modules                     []string
			Destinations                map[string]string
			Protocols                   []string
			SourcePorts                 []dbusPort
		}
		if err := c.call(ctx, fwdName+".getServiceSettings", []any{&old}, service); err != nil {
			return nil, err
		}
		return old.Ports, nil
	}
	if err != nil {
		return nil, err
	}
	var ports []dbusPort
	if v, ok := settings["ports"]; ok {
		if err := v.Store(&ports); err != nil {
			return nil, err
		}
	}
	return ports, nil
}

// addPort adds p to zone's runtime configuration for good (timeout 0). added is false when the
// zone had it already: then it is not ours to remove.
func (c *fwd) addPort(ctx context.Context, zone string, p Port) (added bool, err error) {
	err = c.call(ctx, fwdZone+".addPort", nil, zone, fmt.Sprint(p.Num), p.Proto, int32(0))
	if fwdError(err) == "ALREADY_ENABLED" {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("firewalld zone %s: adding %s: %w", zone, p, err)
	}
	return true, nil
}

// removePort removes p from zone's runtime configuration; a port or zone already gone (a reload
// or restart of firewalld resets the runtime configuration) is no error.
func (c *fwd) removePort(ctx context.Context, zone string, p Port) error {
	err := c.call(ctx, fwdZone+".removePort", nil, zone, fmt.Sprint(p.Num), p.Proto)
	switch fwdError(err) {
	case "NOT_ENABLED", "INVALID_ZONE":
		return nil
	}
	if err != nil {
		return fmt.Errorf("firewalld zone %s: removing %s: %w", zone, p, err)
	}
	return nil
}

// permanent tells whether zone's permanent configuration has p: then a reload put it in the
// runtime configuration, and it is the administrator's, not a leftover of ours.
func (c *fwd) permanent(ctx context.Context, zone string, p Port) bool {
	var path dbus.ObjectPath
	if err := c.conn.Object(fwdName, fwdConfigPath).CallWithContext(ctx, fwdConfig+".getZoneByName", 0, zone).Store(&path); err != nil {
		return false
	}
	var has bool
	err := c.conn.Object(fwdName, path).CallWithContext(ctx, fwdConfigZone+".queryPort", 0, fmt.Sprint(p.Num), p.Proto).Store(&has)
	return err == nil && has
}
