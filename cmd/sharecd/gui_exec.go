//go:build !gui

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/sharecd/sharecd/netboot"
)

// guiPaths are where sharecd-gui is looked for: beside this binary (a build tree), then where the
// package installs it.
func guiPaths() []string {
	var paths []string
	if exe, err := os.Executable(); err == nil {
		paths = append(paths, filepath.Join(filepath.Dir(exe), "sharecd-gui"))
	}
	return append(paths, "/usr/lib/sharecd/sharecd-gui")
}

// runGUI hands the same command line to sharecd-gui, which is this program built with fyne.
func runGUI(_ context.Context, _ netboot.Share, _ bool, stderr io.Writer) int {
	for _, p := range guiPaths() {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		err := syscall.Exec(p, append([]string{p}, os.Args[1:]...), windowEnv(os.Environ()))
		fmt.Fprintf(stderr, "sharecd: starting the window (%s): %v\n", p, err)
		return 1
	}
	fmt.Fprintln(stderr, "sharecd: the window is not installed (no sharecd-gui beside sharecd or in /usr/lib/sharecd): build it beside sharecd with `go build -tags gui -o sharecd-gui ./cmd/sharecd`, or share headless with --share")
	return 2
}

// windowEnv is the environment sharecd-gui gets: env, plus LANGUAGE=en when the locale is C or
// POSIX with an encoding (LANG=C.UTF-8, Debian's and Docker's default, or LC_ALL=POSIX.UTF-8).
// fyne reads the locale while its packages load, before sharecd-gui's main runs, through
// jeandeaual/go-locale: that takes LC_ALL, LC_MESSAGES or LANG, treats exactly "C" and "POSIX"
// as "no locale", but cuts "C.UTF-8" to the language "C", which golang.org/x/text cannot parse,
// and fyne printed "Fyne error: Error parsing user locale C" on every start. For any value but
// plain C and POSIX go-locale prefers LANGUAGE (as gettext does), so LANGUAGE=en gives fyne
// the English that the C locale means; the C library ignores LANGUAGE in the C locale, so
// nothing else changes. A LANGUAGE the user set is kept.
func windowEnv(env []string) []string {
	get := func(name string) string {
		v := ""
		for _, kv := range env {
			if k, val, ok := strings.Cut(kv, "="); ok && k == name {
				v = val // the last one wins, as getenv's does for a duplicate
			}
		}
		return v
	}
	if get("LANGUAGE") != "" {
		return env
	}
	loc := ""
	for _, name := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if loc = get(name); loc != "" {
			break
		}
	}
	// "C.UTF-8", "POSIX.utf8", "C@euro": the part before the encoding or modifier.
	lang, _, _ := strings.Cut(loc, ".")
	lang, _, _ = strings.Cut(lang, "@")
	if loc == lang || (lang != "C" && lang != "POSIX") {
		return env // a real locale, plain C or POSIX, or none: fyne parses these
	}
	return append(env[:len(env):len(env)], "LANGUAGE=en")
}
