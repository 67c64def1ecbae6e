package app

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/systray"
	"github.com/godbus/dbus/v5"
)

//go:embed icon.png
var iconPNG []byte

// Icon is the application's icon (a PNG: tray hosts drop SVG icons silently), a fresh resource
// each call so that no caller can change another's.
func Icon() fyne.Resource { return fyne.NewStaticResource("sharecd.png", iconPNG) }

// tray is the StatusNotifierItem: Start/Stop, Show window, Quit, and a tooltip with the state.
type tray struct {
	u          *UI
	desk       desktop.App
	menu       *fyne.Menu
	startStop  *fyne.MenuItem
	setTooltip func(string)
	lastTip    string
	lastLabel  string
}

// Why there is no tray icon; EnableTray returns one of these.
var (
	// ErrNoSessionBus: no session D-Bus answers (under sudo or pkexec, or a bare X server).
	ErrNoSessionBus = errors.New("no session D-Bus")
	// ErrNoTrayHost: a session bus, but no tray host on it (plain GNOME without the AppIndicator
	// extension): fyne's systray would only log "failed to register" and nothing would show.
	ErrNoTrayHost = errors.New("no tray on this desktop (nothing owns org.kde.StatusNotifierWatcher on the session D-Bus)")
)

// watcherName is the bus name of the StatusNotifierWatcher, the tray host's side of the
// StatusNotifierItem protocol that fyne's systray registers its icon with.
const watcherName = "org.kde.StatusNotifierWatcher"

// NoBusAutolaunch keeps godbus from starting a session bus when the user has none. Asked for a
// session bus while DBUS_SESSION_BUS_ADDRESS is unset and $XDG_RUNTIME_DIR/bus is absent, godbus
// runs dbus-launch (dbus-x11, on most live systems), whose dbus-daemon outlives the window: one
// more leftover daemon each start, and a bus no tray host, portal or screensaver is on, so it
// serves nothing. fyne (theme portal, screensaver inhibit) and its systray ask at their own
// moments, so this must run before the fyne app is made: with no bus found it sets an address
// that fails at once ("disabled:", no such transport), and every caller takes its no-bus path.
func NoBusAutolaunch() {
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" && a != "autolaunch:" {
		return // the user's bus, used as it is
	}
	// Looks where a systemd user session puts the bus (and sets DBUS_SESSION_BUS_ADDRESS when
	// it is there); it never launches one.
	if conn, err := dbus.SessionBusPrivateNoAutoStartup(); err == nil {
		conn.Close()
		if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
			return
		}
	}
	os.Setenv("DBUS_SESSION_BUS_ADDRESS", noBus)
}

// noBus is a session bus address no connection can be made to; see NoBusAutolaunch.
const noBus = "disabled:"

// trayHost says why a tray icon would not show, or nil when a tray host is there to show it.
// Without a session bus fyne's systray also panics in app.Quit (fyne-io/fyne#6403).
func trayHost() error {
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		return ErrNoSessionBus
	}
	defer conn.Close()
	var owned bool
	if err := conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, watcherName).Store(&owned); err != nil {
		return fmt.Errorf("%w (asking the session D-Bus for %s: %v)", ErrNoTrayHost, watcherName, err)
	}
	if !owned {
		return ErrNoTrayHost
	}
	return nil
}

// EnableTray adds the tray icon when the app has a tray and a tray host is on the session bus;
// otherwise it returns why not (ErrNoSessionBus, ErrNoTrayHost). The window never relies on the
// tray alone: closing it while sharing hides it only when the tray is on.
func (u *UI) EnableTray() error {
	desk, ok := u.app.(desktop.App)
	if !ok {
		return errors.New("this fyne driver has no tray")
	}
	if err := trayHost(); err != nil {
		return err
	}
	u.tray = newTray(u, desk, systray.SetTooltip)
	u.render()
	return nil
}

func newTray(u *UI, desk desktop.App, setTooltip func(string)) *tray {
	t := &tray{u: u, desk: desk, setTooltip: setTooltip}
	t.startStop = fyne.NewMenuItem("Share this CD", func() { t.toggle() })
	show := fyne.NewMenuItem("Show window", u.ShowWindow)
	quit := fyne.NewMenuItem("Quit", t.quit)
	quit.IsQuit = true
	t.menu = fyne.NewMenu(Title, t.startStop, show, fyne.NewMenuItemSeparator(), quit)
	desk.SetSystemTrayIcon(Icon())
	desk.SetSystemTrayMenu(t.menu)
	return t
}

// trayQuitGrace is how long Quit from the tray menu leaves the panel's D-Bus call to be answered.
// systray hands the click to fyne first and replies afterwards, on another goroutine, while
// fyne's Quit closes the bus connection (or the process exits): quitting at once can leave the
// panel with "recipient disconnected" instead of a reply. A quarter second is far past the
// write of a reply that is already made, and too short for a person to notice.
const trayQuitGrace = 250 * time.Millisecond

func (t *tray) quit() {
	t.u.win.Hide()
	time.AfterFunc(trayQuitGrace, func() { t.u.post(t.u.Quit) })
}

func (t *tray) toggle() {
	if t.u.sharing {
		t.u.StopShare()
	} else {
		t.u.StartShare()
	}
}

// tooltip is the tray's one line about the state.
func (u *UI) tooltip() string {
	if !u.sharing {
		return Title + ": not sharing"
	}
	n := 0 // seats listed before they ask are not booting
	for _, k := range u.order {
		if u.clients[k].stage != "" {
			n++
		}
	}
	noun := "machines"
	if n == 1 {
		noun = "machine"
	}
	return fmt.Sprintf("%s: sharing on %s, %d %s booting", Title, u.iface, n, noun)
}

func (t *tray) update() {
	label := "Share this CD"
	if t.u.sharing {
		label = "Stop sharing"
	}
	if label != t.lastLabel {
		t.lastLabel = label
		t.startStop.Label = label
		t.desk.SetSystemTrayMenu(t.menu)
	}
	if tip := t.u.tooltip(); tip != t.lastTip {
		t.lastTip = tip
		t.setTooltip(tip)
	}
}
