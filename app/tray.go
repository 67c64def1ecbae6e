package app

import (
	_ "embed"
	"fmt"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/systray"
	"github.com/godbus/dbus/v5"
)

//go:embed icon.png
var iconPNG []byte

// Icon is the application's icon (a PNG: tray hosts drop SVG icons silently).
var Icon = fyne.NewStaticResource("sharecd.png", iconPNG)

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

// SessionBusAvailable tells whether a session D-Bus answers. fyne's systray panics in app.Quit
// when there is none (fyne-io/fyne#6403, e.g. under sudo or pkexec), so without one there is no
// tray at all.
func SessionBusAvailable() bool {
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// EnableTray adds the tray icon when the app has a tray and a session bus answers; it tells
// whether it did. With a bus but no tray host (plain GNOME) systray only logs, so the window
// never relies on the tray alone: closing it while sharing hides it only when the tray is on.
func (u *UI) EnableTray() bool {
	desk, ok := u.app.(desktop.App)
	if !ok || !SessionBusAvailable() {
		return false
	}
	u.tray = newTray(u, desk, systray.SetTooltip)
	u.render()
	return true
}

func newTray(u *UI, desk desktop.App, setTooltip func(string)) *tray {
	t := &tray{u: u, desk: desk, setTooltip: setTooltip}
	t.startStop = fyne.NewMenuItem("Share this CD", func() { t.toggle() })
	show := fyne.NewMenuItem("Show window", u.ShowWindow)
	quit := fyne.NewMenuItem("Quit", t.quit)
	quit.IsQuit = true
	t.menu = fyne.NewMenu(Title, t.startStop, show, fyne.NewMenuItemSeparator(), quit)
	desk.SetSystemTrayIcon(Icon)
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
	n := len(u.order)
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
