package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/sharecd/sharecd/netboot"
)

// runDetect prints what a share of the sources would serve: each medium in menu order. JSON is
// one object for one medium, as scripts written for one medium read it, and an array for several.
func runDetect(sources []string, asJSON bool, stdout, stderr io.Writer) int {
	ds, skipped, err := netboot.Describe(sources...)
	if err != nil {
		fmt.Fprintln(stderr, "sharecd:", oneLine(err))
		return 1
	}
	for _, line := range skipped {
		fmt.Fprintln(stderr, "sharecd:", line)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		var v any = ds
		if len(ds) == 1 {
			v = ds[0]
		}
		if err := enc.Encode(v); err != nil {
			fmt.Fprintln(stderr, "sharecd:", err)
			return 1
		}
		return 0
	}
	for i, d := range ds {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		writeDescription(stdout, d, len(ds) > 1)
	}
	return 0
}

func writeDescription(stdout io.Writer, d *netboot.Description, several bool) {
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "medium:\t%s (%s)\n", d.Source, d.Kind)
	if d.Label != "" {
		fmt.Fprintf(w, "label:\t%s\n", d.Label)
	}
	fmt.Fprintf(w, "family:\t%s\n", d.Family)
	if r := d.Running; r != nil {
		how := "running live session"
		if r.Device != "" {
			how += ", from " + r.Device
		}
		if r.ISO != "" {
			how += ", ISO file " + r.ISO
		}
		if r.ToRAM {
			how += ", copied to RAM"
		}
		fmt.Fprintf(w, "found as:\t%s\n", how)
	}
	fmt.Fprintf(w, "boot menu:\t%s\n", d.Menu)
	fmt.Fprintf(w, "arch:\t%s\n", d.ArchNote)
	if several {
		fmt.Fprintf(w, "served as:\t%q in the top menu, files under %s/, NFS export %s\n", d.Title, d.Prefix, d.Export)
	}
	fmt.Fprintf(w, "Secure Boot:\t%s\n", d.SecureBoot.Note)
	w.Flush()
	fmt.Fprintln(stdout, "entries:")
	w = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, e := range d.Entries {
		mark := " "
		if e.Default {
			mark = "*"
		}
		fmt.Fprintf(w, "  %s %s\t%s\t%s\t%s\n", mark, e.Label, e.Title, e.Kernel, strings.Join(e.Initrds, ","))
	}
	w.Flush()
	for _, warn := range d.Warnings {
		fmt.Fprintln(stdout, "warning:", warn)
	}
}

func runBootTree(sources []string, dir, serverIP string, timeout int, stdout, stderr io.Writer) int {
	ip, err := netip.ParseAddr(serverIP)
	if err != nil || !ip.Is4() {
		fmt.Fprintln(stderr, "sharecd: --boot-tree needs --server-ip with this machine's IPv4 address on the LAN")
		return 2
	}
	files, warnings, exports, err := netboot.WriteBootTree(sources, dir, ip, timeout)
	if err != nil {
		fmt.Fprintln(stderr, "sharecd:", oneLine(err))
		return 1
	}
	for _, w := range warnings {
		fmt.Fprintln(stderr, "sharecd: warning:", w)
	}
	for _, f := range files {
		fmt.Fprintln(stdout, f)
	}
	boot := "boot file " + netboot.BIOSLoader
	if slices.Contains(files, netboot.Arm64Loader) {
		boot = "boot file " + netboot.BIOSLoader + " (" + netboot.Arm64Loader + " for ARM64 UEFI clients, option 93 = 11)"
	}
	fmt.Fprintf(stderr, "wrote %d files to %s; serve it with TFTP, point DHCP at %s with %s, and export over NFS: %s\n",
		len(files), dir, ip, boot, strings.Join(exports, "; "))
	return 0
}
