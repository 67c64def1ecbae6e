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
	"os"
	"time"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"

	"github.com/sharecd/sharecd/app"
	"github.com/sharecd/sharecd/netboot"
)

// appID is the reverse-DNS id of the desktop file and the AppStream metainfo (packaging/).
const appID = "io.github.sharecd.ShareThisCD"

// runGUI opens the window (or, with trayOnly, only the tray icon) and drives the same
// netboot.Share as --share, with the same flags' settings in s. It runs as the user: the
// packaged binary carries the two network capabilities (packaging/postinst), so no root is needed.
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
	a := fyneapp.NewWithID(appID)
	a.SetIcon(app.Icon)
	eng := &app.NetbootEngine{Settings: s}
	source, iface := s.Source, s.Iface
	u := app.New(a, eng, app.Options{Source: source, Iface: iface, Log: s.Log, Privilege: app.MissingPrivilege()})
	u.Start()
	hasTray := u.EnableTray()
	switch {
	case trayOnly && hasTray:
		s.Log.Info("running in the tray")
	case trayOnly:
		s.Log.Warn("no session D-Bus for a tray icon: showing the window instead")
		u.ShowWindow()
	default:
		u.ShowWindow()
	}
	go func() {
		<-ctx.Done() // Ctrl-C or SIGTERM: stop the share and quit like the Quit item
		fyne.Do(u.Quit)
	}()
	a.Run()
	done := make(chan struct{})
	go func() { u.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.Log.Warn("the share did not stop within 5 s")
	}
	return 0
}
