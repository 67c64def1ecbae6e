//go:build !gui

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
		err := syscall.Exec(p, append([]string{p}, os.Args[1:]...), os.Environ())
		fmt.Fprintf(stderr, "sharecd: starting the window (%s): %v\n", p, err)
		return 1
	}
	fmt.Fprintln(stderr, "sharecd: the window is not installed (no sharecd-gui beside sharecd or in /usr/lib/sharecd): build it beside sharecd with `go build -tags gui -o sharecd-gui ./cmd/sharecd`, or share headless with --share")
	return 2
}
