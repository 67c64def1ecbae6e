package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"text/tabwriter"

	"github.com/sharecd/sharecd/netboot"
)

func runDetect(source string, asJSON bool, stdout, stderr io.Writer) int {
	d, err := netboot.Describe(source)
	if err != nil {
		fmt.Fprintln(stderr, "sharecd:", oneLine(err))
		return 1
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(d); err != nil {
			fmt.Fprintln(stderr, "sharecd:", err)
			return 1
		}
		return 0
	}
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
	return 0
}

func runBootTree(source, dir, serverIP string, timeout int, stdout, stderr io.Writer) int {
	ip, err := netip.ParseAddr(serverIP)
	if err != nil || !ip.Is4() {
		fmt.Fprintln(stderr, "sharecd: --boot-tree needs --server-ip with this machine's IPv4 address on the LAN")
		return 2
	}
	files, warnings, err := netboot.WriteBootTree(source, dir, ip, timeout)
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
	fmt.Fprintf(stderr, "wrote %d files to %s; serve it with TFTP, point DHCP at %s with boot file %s, and export the medium over NFS as %s\n",
		len(files), dir, ip, netboot.BIOSLoader, netboot.Export)
	return 0
}
