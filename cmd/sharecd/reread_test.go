package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

type recordingSetter struct {
	mu    sync.Mutex
	calls [][]string
	err   error
	got   chan struct{}
}

func (r *recordingSetter) SetSources(sources []string) error {
	r.mu.Lock()
	r.calls = append(r.calls, slices.Clone(sources))
	r.mu.Unlock()
	r.got <- struct{}{}
	return r.err
}

// TestSIGHUPRereadsTheSources sends this process a real SIGHUP, as `kill -HUP` would, and checks
// that the share is given its sources again, and that a failure is logged and not fatal.
func TestSIGHUPRereadsTheSources(t *testing.T) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var logBuf bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logBuf.Write(p)
	}), nil))
	set := &recordingSetter{got: make(chan struct{}), err: errors.New("no live medium among /srv/isos")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rereadOnSignal(ctx, hup, set, []string{"/srv/isos", "running"}, log); close(done) }()

	for range 2 {
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		select {
		case <-set.got:
		case <-time.After(5 * time.Second):
			t.Fatal("SIGHUP did not reread the sources")
		}
	}
	cancel()
	<-done
	if want := [][]string{{"/srv/isos", "running"}, {"/srv/isos", "running"}}; !slices.EqualFunc(set.calls, want, slices.Equal) {
		t.Errorf("SetSources calls = %q, want %q", set.calls, want)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if n := strings.Count(logBuf.String(), "the media were not changed"); n != 2 {
		t.Errorf("%d lines saying the change failed, want 2:\n%s", n, logBuf.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
