package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// TestThroughFirewalld runs the real command where firewalld guards the server, as on Fedora's
// and openSUSE's live sessions: firewalld in the server's namespace on a private system bus, the
// server's interface in a zone that drops. With --no-firewall-changes clients cannot fetch and
// the log names the firewall-cmd line; by default sharecd opens exactly the missing ports in the
// runtime configuration and closes them on stop; after a kill -9 the next start closes what the
// killed run left open.
func TestThroughFirewalld(t *testing.T) {
	need(t, "firewalld", "dbus-daemon", "tftp", "nfs-cp", "nft")
	bin := sharecd(t)
	l := newLab(t, "10.77.8")
	l.startRouter()
	cl := l.clientNS("10.77.8.50/24")
	med := tinyMedium(t)
	conn := l.startFirewalld(`<?xml version="1.0" encoding="utf-8"?>
<zone target="DROP">
  <short>lan</short>
  <service name="ssh"/>
  <interface name="s0"/>
</zone>
`)
	// What sharecd keeps of its firewalld changes, for the start after a kill.
	stateDir := t.TempDir()
	t.Setenv("STATE_DIRECTORY", stateDir)
	stateFile := filepath.Join(stateDir, "firewall-s0.json")

	runtime := func() string {
		var settings map[string]dbus.Variant
		err := conn.Object("org.fedoraproject.FirewallD1", "/org/fedoraproject/FirewallD1").
			Call("org.fedoraproject.FirewallD1.zone.getZoneSettings2", 0, "lan").Store(&settings)
		if err != nil {
			t.Fatal(err)
		}
		var ports []struct{ Port, Proto string }
		if v, ok := settings["ports"]; ok { // firewalld leaves out what is empty
			v.Store(&ports)
		}
		var s []string
		for _, p := range ports {
			s = append(s, p.Port+"/"+p.Proto)
		}
		slices.Sort(s)
		return strings.Join(s, " ")
	}
	before := runtime()
	const opened = "111/tcp 111/udp 2049/tcp 4011/udp 67/udp 69/udp 80/tcp"

	share := func(logName, ready string, extra ...string) (*exec.Cmd, string) {
		args := append([]string{bin, "--share", "--source", med, "--iface", "s0", "--debug"}, extra...)
		srv := l.start(l.server, logName, args...)
		logPath := filepath.Join(l.dir, logName)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := waitFor(ctx, logPath, ready); err != nil {
			t.Fatalf("%v\n%s", err, tail(logPath, 20))
		}
		return srv, logPath
	}
	fetch := func() error {
		out, err := l.run(cl, "sh", "-c", "timeout 8 tftp 10.77.8.2 -m binary -c get live/vmlinuz /dev/null 2>&1; r=$?; exit $r")
		if err == nil && strings.Contains(strings.ToLower(string(out)), "timed out") {
			return exec.ErrNotFound
		}
		return err
	}
	noNftRules := func() {
		if out, _ := l.run(l.server, "nft", "list", "ruleset"); strings.Contains(string(out), `comment "sharecd`) {
			t.Errorf("sharecd wrote nft rules into firewalld's tables:\n%s", out)
		}
	}

	srv, logPath := share("sharecd-hands-off.log", "msg=sharing", "--no-firewall-changes")
	if err := fetch(); err == nil {
		t.Error("a client got through firewalld that sharecd was told to leave alone")
	}
	want := "firewall-cmd --zone=lan --add-port=67/udp --add-port=69/udp --add-port=111/udp --add-port=4011/udp --add-port=111/tcp --add-port=2049/tcp --add-port=80/tcp"
	if msg := tail(logPath, 50); !strings.Contains(msg, "firewall will block clients") || !strings.Contains(msg, want) {
		t.Errorf("the log does not say %q:\n%s", want, msg)
	}
	if err := stop(srv, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	if now := runtime(); now != before {
		t.Errorf("--no-firewall-changes changed zone lan: %q, was %q", now, before)
	}

	srv, logPath = share("sharecd.log", "opened in firewalld's runtime configuration")
	if now := runtime(); now != opened {
		t.Errorf("zone lan while sharing: %q, want %q", now, opened)
	}
	if err := fetch(); err != nil {
		t.Errorf("tftp through firewalld: %v\n%s", err, tail(logPath, 20))
	}
	if out, err := l.run(cl, "nfs-cp", "nfs://10.77.8.2/sharecd/live/vmlinuz", filepath.Join(l.dir, "vmlinuz")); err != nil {
		t.Errorf("nfs-cp through firewalld: %v %s", err, out)
	}
	noNftRules()
	if err := stop(srv, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	if after := runtime(); after != before {
		t.Errorf("zone lan after stop: %q, want %q", after, before)
	}
	if _, err := os.Stat(stateFile); !os.IsNotExist(err) {
		t.Errorf("the record outlived the stop: %v", err)
	}

	// kill -9: the ports stay open until the next start.
	srv, _ = share("sharecd-killed.log", "opened in firewalld's runtime configuration")
	stop(srv, syscall.SIGKILL, 15*time.Second)
	if now := runtime(); now != opened {
		t.Errorf("zone lan after kill -9: %q, want %q", now, opened)
	}
	if _, err := os.Stat(stateFile); err != nil {
		t.Errorf("no record after kill -9: %v", err)
	}
	srv, logPath = share("sharecd-after-kill.log", "opened in firewalld's runtime configuration")
	if msg := tail(logPath, 50); !strings.Contains(msg, "closed what an earlier run left open") {
		t.Errorf("the next start did not close the leftovers:\n%s", msg)
	}
	if err := fetch(); err != nil {
		t.Errorf("tftp after the restart: %v", err)
	}
	if err := stop(srv, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	if after := runtime(); after != before {
		t.Errorf("zone lan at the end: %q, want %q", after, before)
	}
}

// startFirewalld runs firewalld in the server's namespace on a private system bus, with zoneXML
// as its zone "lan", and points this test's children (sharecd) at that bus. Neither can reach the
// host's bus: firewalld's /run is a tmpfs of its own mount namespace.
func (l *lab) startFirewalld(zoneXML string) *dbus.Conn {
	t := l.t
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "bus")
	write := func(path, body string) {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "bus.conf"), `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=`+sock+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`)
	l.start(l.server, "dbus-daemon.log", "dbus-daemon", "--config-file="+filepath.Join(dir, "bus.conf"), "--nofork", "--nopidfile")
	addr := "unix:path=" + sock
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", addr)
	var conn *dbus.Conn
	var err error
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		if conn, err = dbus.Connect(addr); err == nil {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the private bus: %v\n%s", err, tail(filepath.Join(l.dir, "dbus-daemon.log"), 20))
		}
	}
	t.Cleanup(func() { conn.Close() })

	etc := filepath.Join(dir, "etc")
	write(filepath.Join(etc, "firewalld.conf"), "DefaultZone=public\nCleanupOnExit=yes\n"+
		"CleanupModulesOnExit=no\nFirewallBackend=nftables\nIndividualCalls=no\nLogDenied=off\n")
	write(filepath.Join(etc, "zones", "lan.xml"), zoneXML)
	l.start(l.server, "firewalld.log", "sh", "-c",
		`mount -t tmpfs sharecd-test /run && exec firewalld --nofork --nopid --system-config "$0" --log-target console`, etc)
	for start := time.Now(); ; time.Sleep(200 * time.Millisecond) {
		var has bool
		conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "org.fedoraproject.FirewallD1").Store(&has)
		if has {
			break
		}
		if time.Since(start) > 60*time.Second {
			t.Fatalf("firewalld did not start:\n%s", tail(filepath.Join(l.dir, "firewalld.log"), 20))
		}
	}
	// Calls wait for firewalld's main loop, which runs once its rules are in.
	var zone string
	if err := conn.Object("org.fedoraproject.FirewallD1", "/org/fedoraproject/FirewallD1").
		Call("org.fedoraproject.FirewallD1.zone.getZoneOfInterface", 0, "s0").Store(&zone); err != nil || zone != "lan" {
		t.Fatalf("firewalld: s0 in zone %q, %v\n%s", zone, err, tail(filepath.Join(l.dir, "firewalld.log"), 20))
	}
	return conn
}
