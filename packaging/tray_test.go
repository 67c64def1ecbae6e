package packaging

// The tray, for real: the packaged sharecd-gui --tray on a private D-Bus session bus where this
// test is the StatusNotifierWatcher (what a desktop's tray host runs), read and clicked through
// com.canonical.dbusmenu the way a panel does.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"

	"github.com/sharecd/sharecd/netboot/netlab"
)

// TestTrayOverDBus starts the packaged window with --tray once per case, each time in a fresh
// loopback-only network namespace (so the window has no interface to probe for DHCP servers and
// Share must be refused: nothing leaves lo), waits for its StatusNotifierItem to register, checks
// its menu and tooltip, clicks one item and checks what it did, then clicks Quit: the process
// must exit 0.
func TestTrayOverDBus(t *testing.T) {
	requireTools(t, "xvfb dbus x11-utils iproute2 libcap2-bin util-linux",
		"Xvfb", "dbus-daemon", "xwininfo", "ip", "setcap", "setpriv")
	requireRoot(t, "the network namespace and setcap")
	dir := extractGUI(t)
	display := startXvfb(t)

	for _, c := range []struct {
		click string                         // the menu item clicked before Quit ("" = only Quit)
		then  func(t *testing.T, r *trayRun) // what that click must have done
	}{
		{"", nil},
		// Quit follows at once: UI.Quit is safe in the window's first frame (fyne-io/fyne#5981).
		{"Show window", func(t *testing.T, r *trayRun) { r.waitWindow(t, true) }},
		// With no usable interface, StartShare shows the window with a "Cannot share yet"
		// dialog instead of sharing; the tray must keep saying it does not share.
		{"Share this CD", func(t *testing.T, r *trayRun) {
			r.waitWindow(t, true)
			r.screenshot(t, "tray-share-refused.png")
			time.Sleep(time.Second) // a share that started by mistake would show by now
			if tip := r.tooltip(t); tip != "Share This CD: not sharing" {
				t.Errorf("tooltip after a refused Share: %q", tip)
			}
			if got := labels(r.menu(t)); len(got) == 0 || got[0] != "Share this CD" {
				t.Errorf("menu after a refused Share: %q", got)
			}
		}},
	} {
		name := c.click
		if name == "" {
			name = "Quit"
		}
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			r := startTray(t, dir, display)
			r.waitMenu(t, []string{"Share this CD", "Show window", "---", "Quit"})
			if tip := r.waitTooltip(t, "Share This CD: not sharing"); tip != "Share This CD: not sharing" {
				t.Errorf("tooltip %q, want %q", tip, "Share This CD: not sharing")
			}
			r.waitWindow(t, false) // --tray: no window until asked for
			if c.click != "" {
				r.click(t, c.click)
				c.then(t, r)
			}
			r.click(t, "Quit")
			if code := r.gui.Wait(15 * time.Second); code != 0 {
				t.Fatalf("after Quit: exit code %d (-1: still running)\nwindow log:\n%s", code, r.gui.Log())
			}
			// fyne's systray only logs what fails on the bus (export, RequestName, property sets).
			if log := r.gui.Log(); strings.Contains(log, "systray error") {
				t.Errorf("the tray logged errors:\n%s", log)
			}
		})
	}
}

// TestTrayWithoutHost runs the packaged `sharecd --tray` on a session bus with no tray host (no
// StatusNotifierWatcher: plain GNOME). Before, it logged "systray error: failed to register" and
// ran on with nothing on screen; it must say so in one line and show the window instead, and
// still quit cleanly on SIGTERM.
func TestTrayWithoutHost(t *testing.T) {
	requireTools(t, "xvfb dbus x11-utils iproute2 libcap2-bin util-linux",
		"Xvfb", "dbus-daemon", "xwininfo", "ip", "setcap", "setpriv")
	requireRoot(t, "the network namespace and setcap")
	dir := extractGUI(t)
	display := startXvfb(t)
	addr := netlab.Bus(t, "session") // nobody owns org.kde.StatusNotifierWatcher on it
	ns := netlab.Namespace(t, "scd-notray")
	gui := netlab.Start(t, userCmd(dir, ns, "usr/bin/sharecd", // execs sharecd-gui, same PID
		[]string{"DISPLAY=" + display, "DBUS_SESSION_BUS_ADDRESS=" + addr},
		"--tray", "--source", "../netboot/testdata/debian-live-lab"))
	if !until(10*time.Second, func() bool { return gui.Exited() || mapped(display) }) || gui.Exited() {
		t.Fatalf("--tray with no tray host: no window in 10 s (exited: %v)\nwindow log:\n%s", gui.Exited(), gui.Log())
	}
	const say = "no tray on this desktop"
	if n := strings.Count(gui.Log(), say); n != 1 {
		t.Errorf("the log says %q %d times, want once:\n%s", say, n, gui.Log())
	}
	if strings.Contains(gui.Log(), "systray error") {
		t.Errorf("the tray was tried although no host can show it:\n%s", gui.Log())
	}
	gui.Cmd.Process.Signal(syscall.SIGTERM)
	if code := gui.Wait(15 * time.Second); code != 0 {
		t.Errorf("SIGTERM: exit code %d (-1: still running)\nwindow log:\n%s", code, gui.Log())
	}
}

// trayRun is one sharecd-gui --tray with its own bus and namespace.
type trayRun struct {
	conn    *dbus.Conn // the test's connection to the private bus
	item    snItem     // where the item registered
	gui     *netlab.Proc
	display string
}

// startTray starts a private bus with a watcher on it, then the packaged window with --tray as
// nobody in a fresh loopback-only namespace, and waits for its StatusNotifierItem to register.
func startTray(t *testing.T, dir, display string) *trayRun {
	t.Helper()
	addr := netlab.Bus(t, "session")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)                               // closes the connection
	stuck := time.AfterFunc(10*time.Second, cancel) // a bus that never answers Hello fails, not hangs
	conn, err := dbus.Connect(addr, dbus.WithContext(ctx))
	stuck.Stop()
	if err != nil {
		t.Fatalf("connecting to the private bus: %v", err)
	}
	items := serveWatcher(t, conn)

	ns := netlab.Namespace(t, "scd-tray")
	cmd := exec.Command("ip", "netns", "exec", ns, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		"env", "-i", "HOME="+filepath.Join(dir, "home"), "DISPLAY="+display, "DBUS_SESSION_BUS_ADDRESS="+addr,
		"PATH=/usr/bin:/bin", "GOTRACEBACK=all", filepath.Join(dir, "usr/bin/sharecd"), "--tray", // execs sharecd-gui, same PID
		"--source", "../netboot/testdata/debian-live-lab")
	cmd.Dir, _ = os.Getwd()
	gui := netlab.Start(t, cmd)
	select {
	case it := <-items:
		t.Logf("item registered: %s %s", it.bus, it.path)
		return &trayRun{conn: conn, item: it, gui: gui, display: display}
	case <-gui.Done():
		t.Fatalf("sharecd-gui --tray exited (%d) before registering its tray item:\n%s", gui.Cmd.ProcessState.ExitCode(), gui.Log())
	case <-time.After(30 * time.Second):
		t.Fatalf("no StatusNotifierItem registered in 30 s:\n%s", gui.Log())
	}
	return nil
}

// snItem is a registered StatusNotifierItem: the bus name that owns it and its object path.
type snItem struct{ bus, path string }

// watcher is a minimal org.kde.StatusNotifierWatcher: what a tray host (KDE, GNOME's
// AppIndicator extension, waybar) runs, and what fyne's systray registers its item with.
type watcher struct {
	conn  *dbus.Conn
	props *prop.Properties
	items chan snItem
}

// RegisterStatusNotifierItem takes a bus name or, as systray sends and KDE accepts, an object
// path on the caller's connection.
func (w *watcher) RegisterStatusNotifierItem(sender dbus.Sender, service string) *dbus.Error {
	it := snItem{bus: string(sender), path: "/StatusNotifierItem"}
	if strings.HasPrefix(service, "/") {
		it.path = service
	} else {
		it.bus = service
	}
	list := append(w.props.GetMust("org.kde.StatusNotifierWatcher", "RegisteredStatusNotifierItems").([]string), it.bus+it.path)
	w.props.SetMust("org.kde.StatusNotifierWatcher", "RegisteredStatusNotifierItems", list)
	w.conn.Emit("/StatusNotifierWatcher", "org.kde.StatusNotifierWatcher.StatusNotifierItemRegistered", it.bus+it.path)
	select {
	case w.items <- it:
	default:
	}
	return nil
}

// RegisterStatusNotifierHost: the test is the only host.
func (w *watcher) RegisterStatusNotifierHost(service string) *dbus.Error { return nil }

// serveWatcher exports the watcher on conn and takes its well-known name; registrations arrive
// on the returned channel.
func serveWatcher(t *testing.T, conn *dbus.Conn) <-chan snItem {
	t.Helper()
	const iface, path = "org.kde.StatusNotifierWatcher", "/StatusNotifierWatcher"
	w := &watcher{conn: conn, items: make(chan snItem, 4)}
	var err error
	w.props, err = prop.Export(conn, path, prop.Map{iface: {
		"RegisteredStatusNotifierItems":  {Value: []string{}, Emit: prop.EmitTrue},
		"IsStatusNotifierHostRegistered": {Value: true, Emit: prop.EmitTrue},
		"ProtocolVersion":                {Value: int32(0), Emit: prop.EmitTrue},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Export(w, path, iface); err != nil {
		t.Fatal(err)
	}
	reply, err := conn.RequestName(iface, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("owning %s on the private bus: %v (reply %v)", iface, err, reply)
	}
	return w.items
}

// call calls a method on the item's connection; 5 s bound every call, so a stuck window fails
// the test instead of hanging it.
func (r *trayRun) call(path dbus.ObjectPath, method string, args ...interface{}) *dbus.Call {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.conn.Object(r.item.bus, path).CallWithContext(ctx, method, 0, args...)
}

// prop reads a property of the StatusNotifierItem.
func (r *trayRun) prop(t *testing.T, name string) dbus.Variant {
	t.Helper()
	var v dbus.Variant
	if err := r.call(dbus.ObjectPath(r.item.path), "org.freedesktop.DBus.Properties.Get",
		"org.kde.StatusNotifierItem", name).Store(&v); err != nil {
		t.Fatalf("the item's %s property: %v", name, err)
	}
	return v
}

// menuPath is the dbusmenu object the item's Menu property names, as a panel finds it.
func (r *trayRun) menuPath(t *testing.T) dbus.ObjectPath {
	t.Helper()
	p, ok := r.prop(t, "Menu").Value().(dbus.ObjectPath)
	if !ok {
		t.Fatalf("the item's Menu is not an object path: %v", r.prop(t, "Menu"))
	}
	return p
}

// menuEntry is one item of the tray's dbusmenu; separators have label "---".
type menuEntry struct {
	id      int32
	label   string
	enabled bool
}

func labels(m []menuEntry) []string {
	var l []string
	for _, e := range m {
		l = append(l, e.label)
	}
	return l
}

// menu reads the tray's menu as a panel does: GetLayout(0, -1, []) on the dbusmenu object
// returns the whole tree.
func (r *trayRun) menu(t *testing.T) []menuEntry {
	t.Helper()
	var rev uint32
	var root []interface{} // (ia{sv}av): id, properties, children
	err := r.call(r.menuPath(t), "com.canonical.dbusmenu.GetLayout", int32(0), int32(-1), []string{}).Store(&rev, &root)
	if err != nil {
		t.Fatalf("GetLayout: %v", err)
	}
	var m []menuEntry
	children, _ := root[2].([]dbus.Variant)
	for _, c := range children {
		f, ok := c.Value().([]interface{})
		if !ok || len(f) != 3 {
			t.Fatalf("a menu item of an unexpected shape: %#v", c.Value())
		}
		props, _ := f[1].(map[string]dbus.Variant)
		e := menuEntry{id: f[0].(int32), enabled: true}
		if v, ok := props["enabled"]; ok {
			e.enabled, _ = v.Value().(bool)
		}
		if v, ok := props["type"]; ok && v.Value() == "separator" {
			e.label = "---"
		} else if v, ok := props["label"]; ok {
			e.label, _ = v.Value().(string)
		}
		m = append(m, e)
	}
	return m
}

// waitMenu waits for the menu to read want (fyne fills it in after the item registers).
func (r *trayRun) waitMenu(t *testing.T, want []string) {
	t.Helper()
	var got []menuEntry
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if got = r.menu(t); reflect.DeepEqual(labels(got), want) {
			break
		}
	}
	if !reflect.DeepEqual(labels(got), want) {
		t.Fatalf("tray menu %q, want %q", labels(got), want)
	}
	for _, e := range got {
		if !e.enabled {
			t.Errorf("menu item %q is disabled", e.label)
		}
	}
}

// tooltip reads the item's ToolTip property, (sa(iiay)ss): icon name, icons, title, text; the
// app puts its line in the title.
func (r *trayRun) tooltip(t *testing.T) string {
	t.Helper()
	tip := r.prop(t, "ToolTip").Value()
	f, ok := tip.([]interface{})
	if !ok || len(f) != 4 {
		t.Fatalf("ToolTip of an unexpected shape: %#v", tip)
	}
	s, _ := f[2].(string)
	return s
}

func (r *trayRun) waitTooltip(t *testing.T, want string) string {
	t.Helper()
	tip := ""
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && tip != want; time.Sleep(200 * time.Millisecond) {
		tip = r.tooltip(t)
	}
	return tip
}

// click sends the dbusmenu "clicked" event for the item labelled label, as a panel does when the
// user picks it.
func (r *trayRun) click(t *testing.T, label string) {
	t.Helper()
	for _, e := range r.menu(t) {
		if e.label == label {
			call := r.call(r.menuPath(t), "com.canonical.dbusmenu.Event",
				e.id, "clicked", dbus.MakeVariant(""), uint32(time.Now().Unix()))
			if call.Err != nil {
				t.Fatalf("clicking %q: %v", label, call.Err)
			}
			return
		}
	}
	t.Fatalf("no menu item %q", label)
}

// waitWindow waits until the window "Share This CD" is mapped (or, with want false, checks that
// it is not: xwininfo fails for a window never created and says IsUnMapped for a hidden one).
func (r *trayRun) waitWindow(t *testing.T, want bool) {
	t.Helper()
	viewable := func() bool {
		out, _ := exec.Command("xwininfo", "-display", r.display, "-name", "Share This CD").CombinedOutput()
		return strings.Contains(string(out), "Map State: IsViewable")
	}
	if !want {
		if viewable() {
			t.Fatal("the window shows although only the tray was asked for")
		}
		return
	}
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if viewable() {
			return
		}
	}
	t.Fatalf("the window did not show in 10 s\nwindow log:\n%s", r.gui.Log())
}

// screenshot saves the screen to $SHARECD_ARTIFACTS/name for a person to look at, when
// ImageMagick's import is there; it is evidence, not an assertion.
func (r *trayRun) screenshot(t *testing.T, name string) {
	art := os.Getenv("SHARECD_ARTIFACTS")
	if _, err := exec.LookPath("import"); err != nil || art == "" {
		return
	}
	os.MkdirAll(art, 0o755)
	time.Sleep(500 * time.Millisecond) // let the dialog draw
	png := filepath.Join(art, name)
	if out, err := exec.Command("import", "-display", r.display, "-window", "root", png).CombinedOutput(); err != nil {
		t.Logf("import: %v %s", err, out)
		return
	}
	t.Logf("screenshot: %s", png)
}
