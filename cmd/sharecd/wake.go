package main

import (
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/sharecd/sharecd/netboot"
)

// runWake sends a Wake-on-LAN magic packet to each MAC in list ("all": every client full DHCP
// mode has leased an address on the interface) on s.Iface only. --iface is required, not
// guessed as --share guesses it: a magic packet is a broadcast, and the one interface it goes
// out of must be the one the user means. Exit 0: sent; 1: not sent; 2: a usage error.
func runWake(s netboot.Share, list string, stdout, stderr io.Writer) int {
	if s.Iface == "" {
		fmt.Fprintln(stderr, "sharecd: --wake needs --iface NAME, the interface the machines are on (a wake-up packet never crosses a router)")
		return 2
	}
	var macs []net.HardwareAddr
	var err error
	if list == "all" {
		macs, err = s.KnownClients(s.Iface)
		if err != nil {
			fmt.Fprintln(stderr, "sharecd:", oneLine(err))
			return 1
		}
	} else if macs, err = netboot.ParseMACs(list); err != nil {
		fmt.Fprintf(stderr, "sharecd: --wake: %v\n", err)
		return 2
	}
	if err := s.Wake(s.Iface, macs); err != nil {
		msg := oneLine(err)
		if errors.Is(err, netboot.ErrWakePermission) {
			msg += "; run it as root (sudo sharecd --wake …), or install the sharecd package, which gives sharecd CAP_NET_RAW"
		}
		fmt.Fprintln(stderr, "sharecd:", msg)
		return 1
	}
	for _, m := range macs {
		fmt.Fprintf(stdout, "sent a wake-up packet to %s on %s\n", m, s.Iface)
	}
	return 0
}
