package main

import (
	"context"
	"log/slog"
	"os"
)

// sourceSetter is what SIGHUP drives: netboot.Live.
type sourceSetter interface {
	SetSources(sources []string) error
}

// rereadOnSignal gives the share its sources again at each signal on sig (SIGHUP) until ctx
// ends: a directory of ISO files is listed again, so ISOs copied into it are added and deleted
// ones removed. The engine logs one line per medium added or removed; a failure leaves the
// share as it was and says why.
func rereadOnSignal(ctx context.Context, sig <-chan os.Signal, live sourceSetter, sources []string, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
		}
		log.Info("SIGHUP: reading the sources again", "sources", sources)
		if err := live.SetSources(sources); err != nil {
			log.Error("the media were not changed", "err", err)
		}
	}
}
