//go:build gui

// The window and tray are built only into sharecd-gui (go build -tags gui): fyne reports
// problems with the user's locale on stderr while the program starts, before main runs, so a
// binary that imports it cannot keep the promise of one clear line per error. Plain sharecd execs
// sharecd-gui when a window is asked for (gui_exec.go).

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	fyneapp "fyne.io/fyne/v2/app"

	"github.com/sharecd/sharecd/app"
	"github.com/sharecd/sharecd/netboot"
)

// appID is the reverse-DNS id of the desktop file and the AppStream metainfo (packaging/).
const appID = "io.github.sharecd.ShareThisCD"

// runGUI opens the window (or, with trayOnly, only the tray icon) and drives the same
// netboot.Share as --share, with the same flags' settings in s. It runs as the user: the
// packaged binary carries its network capabilities (packaging/postinst), so no root is needed.
func runGUI(ctx context.Context, s netboot.Share, trayOnly bool, stderr io.Writer) int {
	if os.Geteuid() == 0 {
		// As root the window would own the user's display, and fyne's tray panics without the
		// user's session bus (fyne-io/fyne#6403). tailscale's systray warns the same way.
		fmt.Fprintln(stderr, "sharecd: the window runs as your own user, not as root: run `sharecd` without sudo "+
			"(the installed package may share without root), or `sudo sharecd --share` to share without a window")
		return 2
	}
	if !hasDisplay() {
		fmt.Fprintln(stderr, "sharecd: no display to open the window or the tray on (DISPLAY and WAYLAND_DISPLAY are unset); use --share")
		return 2
	}
	app.NoBusAutolaunch() // before fyne, which asks for the session bus from its first moments
	a := fyneapp.NewWithID(appID)
	a.SetIcon(app.Icon())
	eng := &app.NetbootEngine{Settings: s}
	// Every --source, in order: the window lists them all and shares them as --share would.
	u := app.New(a, eng, app.Options{Sources: s.Sources, Iface: s.Iface, Log: s.Log, Privilege: app.MissingPrivilege()})
	u.Start()
	trayErr := u.EnableTray()
	switch {
	case trayOnly && trayErr == nil:
		s.Log.Info("running in the tray")
	case trayOnly:
		// Before, --tray on a desktop without a tray host ran on with nothing on screen.
		s.Log.Warn(fmt.Sprintf("%v: showing the window instead of a tray icon", trayErr))
		u.ShowWindow()
	default:
		u.ShowWindow()
	}
	ran := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			// Ctrl-C or SIGTERM. fyne catches these too and stops its loop itself, so posting our
			// Quit to that loop could come after it closed, which panics: stop the share from here.
			u.Shutdown()
		case <-u.Quitting(): // the window's close button or the tray's Quit
		}
		// fyne 2.7.1 can hang in Run after its loop has stopped: the loop queues the app's
		// "stopped" hook and drains its function queue without waiting for it, so when the hook
		// reaches the queue just after the drain it is never run, and Run waits for it forever
		// (internal/driver/glfw/loop.go:133-146, driver.go:166; about one quit in a few hundred
		// as the window appears, under Xvfb). Nor does it stop on a signal that came before Run
		// started listening. Everything is closed by then but the share.
		select {
		case <-ran:
		case <-time.After(5 * time.Second):
			s.Log.Warn("fyne did not return within 5 s of quitting: exiting anyway")
			waitShare(u, s.Log)
			os.Exit(0)
		}
	}()
	a.Run()
	close(ran)
	waitShare(u, s.Log)
	return 0
}

// waitShare waits up to 5 s for a share that is stopping to close its sockets.
func waitShare(u *app.UI, log *slog.Logger) {
	done := make(chan struct{})
	go func() { u.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		log.Warn("the share did not stop within 5 s")
	}
}
