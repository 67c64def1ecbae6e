//go:build !gui

package main

import (
	"slices"
	"testing"
)

// TestWindowEnv: a C or POSIX locale with an encoding gets LANGUAGE=en for sharecd-gui (fyne
// printed "Error parsing user locale C" on every start under LANG=C.UTF-8); every other
// environment passes unchanged. packaging's TestWindowQuietUnderCLocale runs the real window.
func TestWindowEnv(t *testing.T) {
	for _, c := range []struct {
		env  []string
		want bool // LANGUAGE=en added
	}{
		{[]string{"LANG=C.UTF-8"}, true},
		{[]string{"LANG=C.utf8"}, true},
		{[]string{"LANG=POSIX.UTF-8"}, true},
		{[]string{"LC_ALL=C.UTF-8", "LANG=de_DE.UTF-8"}, true},      // LC_ALL rules
		{[]string{"LC_MESSAGES=C.UTF-8", "LANG=de_DE.UTF-8"}, true}, // as gettext reads it
		{[]string{"LANG=C@euro"}, true},
		{[]string{"LANG=C"}, false},     // go-locale takes plain C as no locale: no error
		{[]string{"LANG=POSIX"}, false}, // likewise
		{[]string{"LANG=de_DE.UTF-8"}, false},
		{[]string{"LC_ALL=fr_FR.UTF-8", "LANG=C.UTF-8"}, false},
		{[]string{"LANG=C.UTF-8", "LANGUAGE=de"}, false}, // the user's own choice
		{[]string{"PATH=/bin"}, false},
		{nil, false},
	} {
		got := windowEnv(slices.Clone(c.env))
		want := c.env
		if c.want {
			want = append(slices.Clone(c.env), "LANGUAGE=en")
		}
		if !slices.Equal(got, want) {
			t.Errorf("windowEnv(%q) = %q, want %q", c.env, got, want)
		}
	}
}
