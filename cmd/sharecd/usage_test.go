package main

import (
	"bytes"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestUsageMatchesFlagsAndManPage: the flags --help lists are the flags the command defines, and
// the man page's OPTIONS section describes each of them, no more and no fewer. The man page had
// fallen five flags behind (--boot-tree, --server-ip, --no-firewall-changes, --lease-file,
// --dhcp-watch).
func TestUsageMatchesFlagsAndManPage(t *testing.T) {
	flagName := regexp.MustCompile(`(?m)^ *(--[a-z][a-z-]*)`)
	var inUsage []string // the option list: lines that start with a flag
	_, list, _ := strings.Cut(usage, "\n\n  --")
	for _, m := range flagName.FindAllStringSubmatch("  --"+list, -1) {
		inUsage = append(inUsage, m[1])
	}
	for _, m := range regexp.MustCompile(`(?m)^  sharecd (--[a-z-]+)`).FindAllStringSubmatch(usage, -1) {
		inUsage = append(inUsage, m[1]) // --tray is only in the synopsis
	}
	slices.Sort(inUsage)
	inUsage = slices.Compact(inUsage)

	// What run defines: fl.BoolVar(&x, "name", …), fl.Bool("name", …), fl.Var(&x, "name", …).
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	defined := []string{"--help"} // the flag package's own
	for _, m := range regexp.MustCompile(`\bfl\.[A-Za-z]+\((?:&[^,]+, )?"([a-z-]+)"`).FindAllSubmatch(src, -1) {
		defined = append(defined, "--"+string(m[1]))
	}
	slices.Sort(defined)
	if !slices.Equal(inUsage, defined) {
		t.Errorf("--help lists %q,\nthe command defines %q", inUsage, defined)
	}

	man, err := os.ReadFile("../../packaging/sharecd.1")
	if err != nil {
		t.Fatal(err)
	}
	_, opts, _ := bytes.Cut(man, []byte("\n.SH OPTIONS\n"))
	opts, _, _ = bytes.Cut(opts, []byte("\n.SH "))
	var inMan []string // each option's tag: the line after .TP, as in ".BI \-\-source " PATH""
	for _, m := range regexp.MustCompile(`(?m)^\.TP\n\.BI? \\-\\-([a-z\\-]+)`).FindAllSubmatch(opts, -1) {
		inMan = append(inMan, "--"+strings.ReplaceAll(string(m[1]), `\-`, "-"))
	}
	slices.Sort(inMan)
	if !slices.Equal(inMan, inUsage) {
		t.Errorf("the man page's OPTIONS describe %q,\n--help lists %q", inMan, inUsage)
	}
}
