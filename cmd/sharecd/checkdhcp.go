package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/sharecd/sharecd/netboot"
)

// runCheckDHCP prints what answers DHCP on the interface and what holds the share's ports here.
// Exit 0: proxy mode is safe; 1: it is not (the report says why); 2: the check could not run.
func runCheckDHCP(iface string, asJSON bool, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := netboot.CheckDHCP(ctx, iface)
	if err != nil {
		fmt.Fprintln(stderr, "sharecd:", oneLine(err))
		return 2
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		rep.WriteText(stdout)
	}
	if !rep.ProxySafe {
		return 1
	}
	return 0
}
