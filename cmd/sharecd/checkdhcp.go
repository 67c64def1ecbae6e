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

// runCheckDHCP prints what answers DHCP on the interface, what holds the share's ports here, and
// what a share with these settings would do: the verdict the share itself acts on.
// Exit 0: a share would go ahead; 1: it would be refused (the report says why); 3: the check
// could not run (2 is for usage errors).
func runCheckDHCP(s netboot.Share, asJSON bool, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := s.CheckLAN(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "sharecd:", withAdvice(err, s))
		return 3
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		rep.WriteText(stdout)
		if a := advice(rep.Share.Err, s); a != "" {
			fmt.Fprintln(stdout, "What to do:", a)
		}
	}
	if rep.Share.Err != nil {
		return 1
	}
	return 0
}
