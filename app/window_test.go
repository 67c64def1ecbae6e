package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/sharecd/sharecd/netboot"
	"github.com/sharecd/sharecd/netboot/seats"
)

// fakeEngine is the Engine the window tests drive: canned answers, and a Share that blocks until
// its context ends (or fails at once with shareErr) and hands its event callback to the test.
type fakeEngine struct {
	medium    MediumInfo // the running live medium's (Detect(""))
	mediumErr error
	files     map[string]MediumInfo // other media by path: an ISO file the user adds
	fileErrs  map[string]error
	ifaces    []IfaceInfo
	check     CheckResult
	checkErr  error
	shareErr  error
	// notServing: the share never gets to serving (a blocker such as the firewall holds it).
	notServing bool
	// checkHold, when set, keeps every check listening until it is closed, as the real
	// check listens for 4.5 s; checks counts the checks started.
	checkHold  chan struct{}
	checks     int
	firstCheck context.Context

	mu      sync.Mutex
	onEvent func(netboot.Event)
	serving func()   // the last share's serving callback
	shared  []string // "source source… iface" of each Share call
	stopped chan struct{}
	woken   []string // "iface mac mac…" of each Wake call
	wakeErr error
	// The running share's media: SetSources calls ("source source…"), what they answer, and
	// the share's media callback.
	sharing bool
	changes []string
	setErr  error
	onMedia func(netboot.MediaEvent)
	// requests are the shares started, whole (full mode, internet)
	requests []ShareRequest
	// changesErr is what SessionChanges answers
	changesErr error
	seats      []seats.Seat // the seats file's machines to boot
}

func (f *fakeEngine) Detect(source string) (MediumInfo, error) {
	if source == "" {
		return f.medium, f.mediumErr
	}
	if err := f.fileErrs[source]; err != nil {
		return MediumInfo{}, err
	}
	if m, ok := f.files[source]; ok {
		return m, nil
	}
	return MediumInfo{}, fmt.Errorf("%s does not exist", source)
}
func (f *fakeEngine) Interfaces() ([]IfaceInfo, error) {
	return append([]IfaceInfo(nil), f.ifaces...), nil
}
func (f *fakeEngine) CheckDHCP(ctx context.Context, _ string) (CheckResult, error) {
	f.mu.Lock()
	f.checks++
	if f.firstCheck == nil {
		f.firstCheck = ctx
	}
	hold := f.checkHold
	f.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return CheckResult{}, ctx.Err()
		}
	}
	return f.check, f.checkErr
}
func (f *fakeEngine) Share(ctx context.Context, req ShareRequest) error {
	f.mu.Lock()
	f.shared = append(f.shared, strings.Join(append(slices.Clone(req.Sources), req.Iface), " "))
	f.requests = append(f.requests, req)
	serving := req.Serving
	f.onEvent, f.serving, f.onMedia, f.sharing = req.OnEvent, req.Serving, req.OnMedia, true
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.sharing = false
		f.mu.Unlock()
	}()
	if f.shareErr != nil {
		return f.shareErr
	}
	if !f.notServing {
		serving()
	}
	<-ctx.Done()
	f.mu.Lock()
	f.sharing = false
	f.mu.Unlock()
	if f.stopped != nil {
		close(f.stopped)
	}
	return nil
}

func (f *fakeEngine) SessionChanges() error { return f.changesErr }
func (f *fakeEngine) Seats() []seats.Seat   { return f.seats }

func (f *fakeEngine) SetSources(sources []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.sharing {
		return netboot.ErrNotSharing
	}
	f.changes = append(f.changes, strings.Join(sources, " "))
	return f.setErr
}

func (f *fakeEngine) Wake(iface string, macs []net.HardwareAddr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := iface
	for _, m := range macs {
		w += " " + m.String()
	}
	f.woken = append(f.woken, w)
	return f.wakeErr
}

func (f *fakeEngine) wakes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.woken...)
}

func (f *fakeEngine) send(e netboot.Event) {
	f.mu.Lock()
	on := f.onEvent
	f.mu.Unlock()
	on(e)
}

var (
	debianLive = MediumInfo{Source: "/run/live/medium", Name: "Debian live 12 amd64", Family: "live-boot", Kind: "dir"}
	eth0       = IfaceInfo{Name: "eth0", Addr: netip.MustParsePrefix("192.168.1.5/24"), Up: true, Link: true, Default: true}
	wlan0      = IfaceInfo{Name: "wlan0", Addr: netip.MustParsePrefix("10.0.0.7/24"), Up: true, Link: true}
	eth1Down   = IfaceInfo{Name: "eth1", Up: false, Problem: "interface eth1 is down (bring it up with: ip link set eth1 up)"}
	clean      = CheckResult{Checked: true, Summary: "Your router 192.168.1.1 hands out addresses; no other network-boot server answered.", Mode: "proxy-DHCP next to your router"}
)

// harness runs the window on the test goroutine: every fyne.Do of the UI is queued and run by
// settle, so the widgets are read without races.
type harness struct {
	t     *testing.T
	u     *UI
	eng   *fakeEngine
	queue chan func()
}

func newHarness(t *testing.T, eng *fakeEngine, opts Options) *harness {
	t.Helper()
	return newHarnessApp(t, test.NewTempApp(t), eng, opts)
}

func newHarnessApp(t *testing.T, a fyne.App, eng *fakeEngine, opts Options) *harness {
	t.Helper()
	h := &harness{t: t, eng: eng, queue: make(chan func(), 1000)}
	h.u = New(a, eng, opts)
	h.u.do = func(f func()) { h.queue <- f }
	h.u.Window().Resize(fyne.NewSize(720, 520))
	h.u.Window().Show()
	h.u.Start()
	return h
}

// settle runs queued UI work until cond holds (or fails the test after 5 s).
func (h *harness) settle(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.After(5 * time.Second)
	for !cond() {
		select {
		case f := <-h.queue:
			f()
		case <-deadline:
			h.t.Fatalf("timed out waiting for: %s", what)
		}
	}
	// run whatever else is already queued
	for {
		select {
		case f := <-h.queue:
			f()
		default:
			return
		}
	}
}

func (h *harness) idle() {
	h.t.Helper()
	h.settle("medium, interfaces and check", func() bool {
		return h.mediaDetected() && h.u.ifaces != nil &&
			(h.u.check != nil || h.u.checkErr != nil || h.u.find(h.u.iface) == nil)
	})
}

// mediaDetected tells whether every medium listed has been looked at.
func (h *harness) mediaDetected() bool {
	return (len(h.u.media) > 0 || h.u.noLive) && !slices.ContainsFunc(h.u.media, func(m *mediumRow) bool { return m.pending })
}

// mediaShown is the medium card's rows: each one's name and detail.
func (h *harness) mediaShown() []string {
	var out []string
	for _, o := range h.u.mediaBox.Objects {
		for _, m := range h.u.media {
			if m.row == o {
				out = append(out, m.name.Text+" | "+m.detail.Text)
			}
		}
	}
	return out
}

// snapshot saves the window as a PNG under $SHARECD_ARTIFACTS/app, for people to look at.
func (h *harness) snapshot(name string) {
	dir := os.Getenv("SHARECD_ARTIFACTS")
	if dir == "" {
		return
	}
	dir = filepath.Join(dir, "app")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		h.t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, name+".png"))
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, h.u.Window().Canvas().Capture()); err != nil {
		h.t.Fatal(err)
	}
}

// topDialog returns the texts of the dialog shown over the window, "" if none.
func (h *harness) topDialog() string {
	top := h.u.Window().Canvas().Overlays().Top()
	if top == nil {
		return ""
	}
	var texts []string
	var walk func(o fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		switch w := o.(type) {
		case *widget.Label:
			texts = append(texts, w.Text)
		case *widget.Button:
			texts = append(texts, "["+w.Text+"]")
		case *fyne.Container:
			for _, c := range w.Objects {
				walk(c)
			}
		case fyne.Widget:
			for _, c := range test.WidgetRenderer(w).Objects() {
				walk(c)
			}
		}
	}
	walk(top)
	return strings.Join(texts, " | ")
}

func TestIdleReady(t *testing.T) {
	eng := &fakeEngine{medium: debianLive, ifaces: []IfaceInfo{eth1Down, wlan0, eth0}, check: clean}
	h := newHarness(t, eng, Options{})
	h.idle()
	u := h.u
	if got := h.mediaShown(); len(got) != 1 || !strings.HasPrefix(got[0], "Debian live 12 amd64 | ") ||
		!strings.Contains(got[0], "Debian-style live system") || !strings.Contains(got[0], "Secure Boot on: turn it off") {
		t.Errorf("media shown %q", got)
	}
	if u.mediaNote.Visible() || u.addISO.Disabled() || u.media[0].remove.Disabled() {
		t.Errorf("one medium: note %q shown %v; Add disabled %v, Remove disabled %v", u.mediaNote.Text, u.mediaNote.Visible(),
			u.addISO.Disabled(), u.media[0].remove.Disabled())
	}
	// the interface with the default route is preselected; every interface is listed
	if u.iface != "eth0" || !strings.HasPrefix(u.ifaceSelect.Selected, "eth0 — 192.168.1.5/24 — link up") {
		t.Errorf("preselected %q (%q), want eth0", u.iface, u.ifaceSelect.Selected)
	}
	if len(u.ifaceSelect.Options) != 3 || !strings.Contains(u.ifaceSelect.Options[2], "eth1 — no IPv4 address — down") {
		t.Errorf("options %q", u.ifaceSelect.Options)
	}
	if !strings.Contains(u.checkLabel.Text, "no other network-boot server") || !strings.Contains(u.checkLabel.Text, "Mode: proxy-DHCP") {
		t.Errorf("check says %q", u.checkLabel.Text)
	}
	if u.shareButton.Disabled() || u.shareButton.Text != "Share this CD" {
		t.Errorf("share button disabled=%v %q", u.shareButton.Disabled(), u.shareButton.Text)
	}
	// Each wrapped text has the height its lines need: a box laid out for an older, shorter
	// text drew the new one over the button below it.
	for name, l := range map[string]*widget.Label{"medium": u.media[0].detail, "check": u.checkLabel, "interface": u.ifaceDetail} {
		if l.Size().Height < l.MinSize().Height-1 {
			t.Errorf("%s text is %v high, needs %v: it overlaps what follows", name, l.Size().Height, l.MinSize().Height)
		}
	}
	h.snapshot("idle")

	// choosing a down interface says why and disables sharing
	u.ifaceSelect.SetSelected(u.ifaceSelect.Options[2])
	h.settle("eth1 chosen", func() bool { return u.iface == "eth1" })
	if !u.shareButton.Disabled() || !strings.Contains(u.ifaceDetail.Text, "Interface eth1 is down") {
		t.Errorf("eth1: disabled=%v, detail %q", u.shareButton.Disabled(), u.ifaceDetail.Text)
	}
	// the live refresh keeps the user's choice
	u.refreshIfaces()
	h.settle("refresh", func() bool { return len(h.queue) == 0 })
	if u.iface != "eth1" {
		t.Errorf("refresh changed the user's choice to %q", u.iface)
	}
}

// The interface list refreshes every few seconds; a check still listening goes on, so the LAN
// sees one probe round per interface chosen and the window gets its result. (It once restarted
// the check on every refresh: the LAN saw DISCOVERs without end and the window never a result.)
func TestCheckSurvivesRefresh(t *testing.T) {
	eng := &fakeEngine{medium: debianLive, ifaces: []IfaceInfo{eth0}, check: clean, checkHold: make(chan struct{})}
	h := newHarness(t, eng, Options{})
	u := h.u
	h.settle("check started", func() bool { eng.mu.Lock(); defer eng.mu.Unlock(); return eng.checks == 1 })
	for range 3 {
		u.setIfaces([]IfaceInfo{eth0}) // what each refresh does with the same list
	}
	if err := eng.firstCheck.Err(); err != nil {
		t.Errorf("the refresh stopped the running check: %v", err)
	}
	close(eng.checkHold)
	h.settle("check result", func() bool { return u.check != nil })
	eng.mu.Lock()
	defer eng.mu.Unlock()
	if eng.checks != 1 {
		t.Errorf("%d checks for one interface chosen, want 1", eng.checks)
	}
}

func TestNoMedium(t *testing.T) {
	eng := &fakeEngine{mediumErr: ErrNoMedium, ifaces: []IfaceInfo{eth0}, check: clean}
	h := newHarness(t, eng, Options{})
	h.idle()
	u := h.u
	if len(u.media) != 0 || !strings.Contains(u.mediaNote.Text, "did not start from a live CD") || !strings.Contains(u.mediaNote.Text, "Add an ISO file") {
		t.Errorf("media %q, note %q", h.mediaShown(), u.mediaNote.Text)
	}
	if !u.shareButton.Disabled() {
		t.Error("Share is enabled without a medium")
	}
	h.snapshot("no-medium")
	// the tray's Start asks for what is missing instead of doing nothing
	u.StartShare()
	if d := h.topDialog(); !strings.Contains(d, "Cannot share yet") || !strings.Contains(d, "did not start from a live CD") {
		t.Errorf("dialog %q", d)
	}
	if u.Sharing() || len(eng.shared) != 0 {
		t.Error("a share started without a medium")
	}
}

func TestUnsupportedFamily(t *testing.T) {
	eng := &fakeEngine{medium: MediumInfo{Source: "/tmp/fedora.iso", Name: "Fedora-WS-Live-40", Kind: "iso"}, ifaces: []IfaceInfo{eth0}, check: clean}
	h := newHarness(t, eng, Options{})
	h.idle()
	if got := h.mediaShown(); len(got) != 1 || !strings.Contains(got[0], "Not shared: This is not a live system this version can share") || !h.u.shareButton.Disabled() {
		t.Errorf("media shown %q, disabled %v", got, h.u.shareButton.Disabled())
	}
}

var (
	ubuntuISO = MediumInfo{Source: "/home/ann/ubuntu-24.04.iso", Name: "Ubuntu 24.04 LTS amd64", Family: "casper", Kind: "iso"}
	fedoraISO = MediumInfo{Source: "/home/ann/fedora.iso", Name: "Fedora-WS-Live-40", Kind: "iso"} // no family: not shareable
	archISO   = MediumInfo{Source: "/home/ann/archlinux.iso", Name: "ARCH_202405", Family: "archiso", Kind: "iso", SecureBootOK: true}
	isoFiles  = map[string]MediumInfo{ubuntuISO.Source: ubuntuISO, fedoraISO.Source: fedoraISO, archISO.Source: archISO}
)

// TestSeveralMedia: the running medium comes first, each ISO file added after it in turn; a
// medium the engine cannot share is listed with the reason and left out of the share; Remove
// keeps the others' order; Share gets the list in that order and the title names them; the list
// is fixed while the share runs; with none left, Share says why it cannot start.
func TestSeveralMedia(t *testing.T) {
	notes := "/home/ann/notes.iso"
	eng := &fakeEngine{medium: debianLive, files: isoFiles, ifaces: []IfaceInfo{eth0}, check: clean, stopped: make(chan struct{}),
		fileErrs: map[string]error{notes: errors.New(notes + " is not a bootable live medium: no isolinux or GRUB menu found")}}
	h := newHarness(t, eng, Options{})
	h.idle()
	u := h.u
	// What the "Add ISO file…" dialog does with each file chosen.
	for _, p := range []string{ubuntuISO.Source, fedoraISO.Source, archISO.Source, notes, ubuntuISO.Source} {
		u.addMedium(p)
	}
	h.settle("media detected", h.mediaDetected)
	got := h.mediaShown()
	want := []string{"Debian live 12 amd64 — booted by default", "Ubuntu 24.04 LTS amd64", "Fedora-WS-Live-40", "ARCH_202405", "notes.iso"}
	if len(got) != len(want) {
		t.Fatalf("media shown %q, want %d rows (the same file added twice is listed once)", got, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w+" | ") {
			t.Errorf("row %d is %q, want %q first", i, got[i], w)
		}
	}
	if !strings.Contains(got[1], "Ubuntu-style live system (casper) — /home/ann/ubuntu-24.04.iso") {
		t.Errorf("the Ubuntu row says %q", got[1])
	}
	if !strings.Contains(got[2], "Not shared: This is not a live system this version can share") ||
		!strings.Contains(got[4], "Not shared: /home/ann/notes.iso is not a bootable live medium") {
		t.Errorf("the media that cannot be shared say %q and %q", got[2], got[4])
	}
	if !strings.Contains(u.mediaNote.Text, "menu of these 3 live systems; the first one is booted by default") || !u.mediaNote.Visible() {
		t.Errorf("note %q (shown %v)", u.mediaNote.Text, u.mediaNote.Visible())
	}
	for _, m := range u.media {
		if m.detail.Size().Height < m.detail.MinSize().Height-1 {
			t.Errorf("%s: its text is %v high, needs %v", m.source, m.detail.Size().Height, m.detail.MinSize().Height)
		}
	}
	h.snapshot("several-media")

	test.Tap(u.media[1].remove) // Ubuntu
	got = h.mediaShown()
	if len(got) != 4 || !strings.HasPrefix(got[0], "Debian live 12 amd64 — booted by default") || !strings.HasPrefix(got[1], "Fedora") ||
		!strings.HasPrefix(got[2], "ARCH_202405 | ") || !strings.HasPrefix(got[3], "notes.iso") {
		t.Errorf("after removing Ubuntu: %q", got)
	}
	if u.shareButton.Disabled() {
		t.Fatal("Share disabled with two media to share")
	}

	test.Tap(u.shareButton)
	h.settle("share started", func() bool { eng.mu.Lock(); defer eng.mu.Unlock(); return eng.onEvent != nil })
	if want := netboot.Running + " " + archISO.Source + " eth0"; eng.shared[0] != want {
		t.Errorf("Share got %q, want %q: the shareable media in the list's order", eng.shared[0], want)
	}
	if want := "Sharing Debian live 12 amd64 and ARCH_202405 on eth0 (this computer: 192.168.1.5)"; u.sharingTitle.Text != want {
		t.Errorf("title %q, want %q", u.sharingTitle.Text, want)
	}
	if u.addISO.Disabled() || u.media[0].remove.Disabled() || !u.mediaCard.Visible() || !u.sharingBox.Visible() {
		t.Error("the list of media cannot be changed while sharing")
	}
	changes := func() []string { eng.mu.Lock(); defer eng.mu.Unlock(); return slices.Clone(eng.changes) }

	// Added while sharing: given to the running share once it is looked at.
	u.addMedium(ubuntuISO.Source)
	h.settle("ubuntu added to the share", func() bool { return len(changes()) == 1 })
	if want := netboot.Running + " " + archISO.Source + " " + ubuntuISO.Source; changes()[0] != want {
		t.Errorf("SetSources got %q, want %q", changes()[0], want)
	}
	h.settle("title names ubuntu", func() bool { return strings.Contains(u.sharingTitle.Text, "Ubuntu 24.04 LTS amd64") })

	// Removed while a machine runs from it: the window says so until the engine closes it.
	test.Tap(u.media[len(u.media)-1].remove) // Ubuntu, last again
	h.settle("ubuntu taken out of the share", func() bool { return len(changes()) == 2 })
	if want := netboot.Running + " " + archISO.Source; changes()[1] != want {
		t.Errorf("SetSources got %q, want %q", changes()[1], want)
	}
	eng.mu.Lock()
	onMedia := eng.onMedia
	eng.mu.Unlock()
	onMedia(netboot.MediaEvent{Change: netboot.MediumInUse, Source: ubuntuISO.Source, Title: ubuntuISO.Name,
		Clients: []netip.Addr{netip.MustParseAddr("192.168.1.20")}})
	h.settle("in-use note shown", func() bool { return u.inUseLabel.Visible() })
	if want := "Ubuntu 24.04 LTS amd64 is no longer offered, but 192.168.1.20 still run from it"; !strings.Contains(u.inUseLabel.Text, want) {
		t.Errorf("in-use note %q, want %q", u.inUseLabel.Text, want)
	}
	onMedia(netboot.MediaEvent{Change: netboot.MediumRemoved, Source: ubuntuISO.Source, Title: ubuntuISO.Name})
	h.settle("in-use note gone", func() bool { return !u.inUseLabel.Visible() })

	// The engine refusing a change says so and keeps the share as it was.
	eng.mu.Lock()
	eng.setErr = errors.New("changing the media: /home/ann/archlinux.iso does not exist")
	eng.mu.Unlock()
	test.Tap(u.media[1].remove) // Fedora: not shareable, nothing to change
	test.Tap(u.media[1].remove) // Arch
	h.settle("refusal shown", func() bool { return strings.Contains(h.topDialog(), "The media were not changed") })
	if !strings.Contains(u.sharingTitle.Text, "ARCH_202405") {
		t.Errorf("title %q after a refused change, want the media still shared", u.sharingTitle.Text)
	}
	// The last medium shared cannot be removed: stopping is what that means.
	for _, m := range slices.Clone(u.media) {
		if m.source != netboot.Running {
			test.Tap(m.remove)
		}
	}
	test.Tap(u.media[0].remove)
	if len(u.media) != 1 || !strings.Contains(h.topDialog(), "Stop sharing instead") {
		t.Errorf("removing the last medium shared: %d listed, dialog %q", len(u.media), h.topDialog())
	}
	u.StopShare()
	<-eng.stopped
	h.settle("idle", func() bool { return u.idleBox.Visible() })
	if u.addISO.Disabled() || u.media[0].remove.Disabled() {
		t.Error("Add or Remove still disabled after Stop")
	}

	for len(u.media) > 0 {
		test.Tap(u.media[0].remove)
	}
	if !u.shareButton.Disabled() || !strings.Contains(u.mediaNote.Text, "No live medium to share") {
		t.Errorf("nothing listed: Share disabled %v, note %q", u.shareButton.Disabled(), u.mediaNote.Text)
	}
	u.StartShare() // the tray's Start
	if d := h.topDialog(); !strings.Contains(d, "Cannot share yet") || !strings.Contains(d, "Add an ISO file") {
		t.Errorf("dialog %q", d)
	}
	if len(eng.shared) != 1 {
		t.Errorf("shared %q: a share started with nothing listed", eng.shared)
	}
	if err := u.eng.SetSources([]string{archISO.Source}); !errors.Is(err, netboot.ErrNotSharing) {
		t.Errorf("SetSources with no share running: %v", err)
	}
}

// The media given on the command line (`sharecd --source A --source running`) are listed in
// their order; "running" on a computer that did not start from a live medium is left out.
func TestSourcesFromCommandLine(t *testing.T) {
	eng := &fakeEngine{medium: debianLive, files: isoFiles, ifaces: []IfaceInfo{eth0}, check: clean}
	h := newHarness(t, eng, Options{Sources: []string{archISO.Source, netboot.Running, fedoraISO.Source}})
	h.idle()
	got := h.mediaShown()
	if len(got) != 3 || !strings.HasPrefix(got[0], "ARCH_202405 — booted by default") || !strings.HasPrefix(got[1], "Debian live 12 amd64 | ") ||
		!strings.Contains(got[2], "Not shared") {
		t.Errorf("media shown %q", got)
	}
	test.Tap(h.u.shareButton)
	h.settle("share started", func() bool { eng.mu.Lock(); defer eng.mu.Unlock(); return len(eng.shared) == 1 })
	if want := archISO.Source + " " + netboot.Running + " eth0"; eng.shared[0] != want {
		t.Errorf("Share got %q, want %q", eng.shared[0], want)
	}

	eng = &fakeEngine{mediumErr: ErrNoMedium, files: isoFiles, ifaces: []IfaceInfo{eth0}, check: clean}
	h = newHarness(t, eng, Options{Sources: []string{netboot.Running, ubuntuISO.Source}})
	h.idle()
	if got := h.mediaShown(); len(got) != 1 || !strings.HasPrefix(got[0], "Ubuntu 24.04 LTS amd64 | ") || h.u.shareButton.Disabled() {
		t.Errorf("no running live medium: media shown %q, Share disabled %v", got, h.u.shareButton.Disabled())
	}
}

func TestDHCPConflict(t *testing.T) {
	eng := &fakeEngine{medium: debianLive, ifaces: []IfaceInfo{eth0}, check: CheckResult{
		Checked:  true,
		Summary:  "Your router 192.168.1.1 hands out addresses, and 192.168.1.20 also offers network boot.",
		Mode:     "proxy-DHCP next to your router",
		Conflict: true,
		Advice:   "Machines may boot from 192.168.1.20 instead. Switch its network boot off, or connect the machines to a separate switch.",
	}}
	h := newHarness(t, eng, Options{})
	h.idle()
	u := h.u
	if !strings.Contains(u.checkLabel.Text, "192.168.1.20 also offers network boot") || !strings.Contains(u.checkLabel.Text, "Switch its network boot off") {
		t.Errorf("check says %q", u.checkLabel.Text)
	}
	if u.checkLabel.Importance != widget.WarningImportance {
		t.Error("a conflict is not shown as a warning")
	}
	h.snapshot("dhcp-conflict")
}

func TestCheckNotAvailable(t *testing.T) {
	eng := &fakeEngine{medium: debianLive, ifaces: []IfaceInfo{eth0}, checkErr: errors.New("no permission to open a raw socket")}
	h := newHarness(t, eng, Options{})
	h.idle()
	if !strings.Contains(h.u.checkLabel.Text, "could not be checked") || h.u.shareButton.Disabled() {
		t.Errorf("check says %q, disabled %v", h.u.checkLabel.Text, h.u.shareButton.Disabled())
	}
}

func TestSharingWithClients(t *testing.T) {
	eng := &fakeEngine{medium: debianLive, ifaces: []IfaceInfo{eth0, wlan0}, check: clean, stopped: make(chan struct{})}
	h := newHarness(t, eng, Options{})
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	h.u.now = func() time.Time { return now }
	h.idle()
	u := h.u
	tray := &fakeTray{}
	u.tray = newTray(u, tray, tray.tooltip)

	test.Tap(u.shareButton)
	h.settle("share started", func() bool { eng.mu.Lock(); defer eng.mu.Unlock(); return eng.onEvent != nil })
	if !u.Sharing() || !u.sharingBox.Visible() || u.idleBox.Visible() {
		t.Fatal("not showing the sharing face")
	}
	if eng.shared[0] != netboot.Running+" eth0" {
		t.Errorf("shared %q", eng.shared)
	}
	if !strings.Contains(u.sharingTitle.Text, "Sharing Debian live 12 amd64 on eth0 (this computer: 192.168.1.5)") {
		t.Errorf("title %q", u.sharingTitle.Text)
	}
	if !u.noClients.Visible() || tray.tip != "Share This CD: sharing on eth0, 0 machines booting" || tray.menu.Items[0].Label != "Stop sharing" {
		t.Errorf("before clients: hint visible %v, tooltip %q, tray item %q", u.noClients.Visible(), tray.tip, tray.menu.Items[0].Label)
	}

	mac1, _ := net.ParseMAC("52:54:00:12:34:56")
	mac2, _ := net.ParseMAC("52:54:00:ab:cd:ef")
	ip1, ip2 := netip.MustParseAddr("192.168.1.50"), netip.MustParseAddr("192.168.1.51")
	ev := func(mac net.HardwareAddr, ip netip.Addr, st netboot.Stage, detail string, at time.Duration) {
		eng.send(netboot.Event{Time: now.Add(at), MAC: mac, IP: ip, Stage: st, Detail: detail})
	}
	ev(mac1, netip.Addr{}, netboot.StageOffered, "pxelinux.0", -90*time.Second)
	ev(mac1, ip1, netboot.StageLoader, "pxelinux.0", -80*time.Second)
	ev(nil, ip2, netboot.StageLoader, "pxelinux.0", -70*time.Second) // MAC not known yet
	ev(mac2, ip2, netboot.StageKernel, "live/vmlinuz", -60*time.Second)
	ev(mac1, ip1, netboot.StageMounted, "/sharecd", -2*time.Second)
	h.settle("clients", func() bool { return len(u.order) == 2 })

	want := [][]string{
		{"52:54:00:12:34:56", "192.168.1.50", "6/7 mounted this CD", "/sharecd", "just now"},
		{"52:54:00:ab:cd:ef", "192.168.1.51", "4/7 loading the kernel", "live/vmlinuz", "1 min ago"},
	}
	for r, row := range want {
		for c, cell := range row {
			if got := u.cell(u.clients[u.order[r]], c); got != cell {
				t.Errorf("row %d col %d = %q, want %q", r, c, got, cell)
			}
		}
	}
	if u.noClients.Visible() || tray.tip != "Share This CD: sharing on eth0, 2 machines booting" {
		t.Errorf("hint visible %v, tooltip %q", u.noClients.Visible(), tray.tip)
	}
	h.snapshot("sharing-clients")

	// Stop from the tray: the share's context ends and the idle face is back
	tray.menu.Items[0].Action()
	select {
	case <-eng.stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Share's context did not end")
	}
	h.settle("idle again", func() bool { return u.idleBox.Visible() })
	if u.Sharing() || tray.tip != "Share This CD: not sharing" || tray.menu.Items[0].Label != "Share this CD" {
		t.Errorf("after stop: sharing %v, tooltip %q, item %q", u.Sharing(), tray.tip, tray.menu.Items[0].Label)
	}
	if d := h.topDialog(); d != "" {
		t.Errorf("a stop the user asked for showed a dialog: %q", d)
	}
}

// TestSeatsByName: a machine of the seats file is listed by its seat name with its MAC beside
// it, from its first event on, and stays the one row; other machines by their MAC alone.
func TestSeatsByName(t *testing.T) {
	// A room on its own switch: sharecd hands out the addresses and shares wlan0's internet.
	room := CheckResult{Checked: true, Conflict: true, NoDHCPServer: true, Uplink: "wlan0",
		Summary: "No router or DHCP server answered on eth0: the machines would get no address."}
	eng := &fakeEngine{medium: debianLive, ifaces: []IfaceInfo{eth0, wlan0}, check: room}
	h := newHarness(t, eng, Options{})
	h.idle()
	u := h.u
	test.Tap(u.fullCheck)
	test.Tap(u.internetCheck)
	test.Tap(u.shareButton)
	h.settle("share started", func() bool { eng.mu.Lock(); defer eng.mu.Unlock(); return eng.onEvent != nil })

	seat, _ := net.ParseMAC("52:54:00:12:34:01")
	other, _ := net.ParseMAC("52:54:00:12:34:02")
	ip := netip.MustParseAddr("192.168.1.50")
	eng.send(netboot.Event{MAC: seat, Stage: netboot.StageOffered, Detail: "boot.ipxe", Seat: "desk-01"})
	eng.send(netboot.Event{MAC: other, Stage: netboot.StageOffered, Detail: "boot.ipxe"})
	eng.send(netboot.Event{MAC: seat, IP: ip, Stage: netboot.StageMenu, Detail: "boot.ipxe-01-52-54-00-12-34-01", Seat: "desk-01"})
	// Two more seats further on: the README's picture of a room (packaging/screenshots/room.png).
	for i, st := range []netboot.Stage{netboot.StageRunning, netboot.StageKernel} {
		mac := net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, byte(3 + i)}
		name := fmt.Sprintf("desk-%02d", 3+i)
		eng.send(netboot.Event{MAC: mac, IP: netip.AddrFrom4([4]byte{192, 168, 1, byte(51 + i)}), Stage: st, Detail: "live/filesystem.squashfs", Seat: name})
	}
	h.settle("clients", func() bool { return len(u.order) == 4 && u.clients[u.order[0]].stage == netboot.StageMenu })
	for r, want := range []string{"desk-01 (52:54:00:12:34:01)", "52:54:00:12:34:02", "desk-03 (52:54:00:12:34:03)", "desk-04 (52:54:00:12:34:04)"} {
		if got := u.cell(u.clients[u.order[r]], 0); got != want {
			t.Errorf("row %d = %q, want %q", r, got, want)
		}
	}
	u.Window().Resize(fyne.NewSize(720, 640)) // tall enough for the four machines
	h.snapshot("sharing-seats")
}

// TestWake: Wake wakes the machine selected in the client list, Wake all every machine with a
// MAC, both through the engine on the shared interface; a machine known only by its address
// cannot be woken, and a failure says what to do.
func TestWake(t *testing.T) {
	eng := &fakeEngine{medium: debianLive, ifaces: []IfaceInfo{eth0, wlan0}, check: clean}
	h := newHarness(t, eng, Options{})
	h.idle()
	u := h.u
	test.Tap(u.shareButton)
	h.settle("share started", func() bool { eng.mu.Lock(); defer eng.mu.Unlock(); return eng.onEvent != nil })
	if !u.wakeButton.Disabled() || !u.wakeAll.Disabled() {
		t.Error("Wake or Wake all enabled with no client")
	}

	mac1, _ := net.ParseMAC("52:54:00:12:34:56")
	mac2, _ := net.ParseMAC("52:54:00:ab:cd:ef")
	eng.send(netboot.Event{MAC: mac1, IP: netip.MustParseAddr("192.168.1.50"), Stage: netboot.StageRunning})
	eng.send(netboot.Event{IP: netip.MustParseAddr("192.168.1.52"), Stage: netboot.StageLoader}) // no MAC yet
	eng.send(netboot.Event{MAC: mac2, IP: netip.MustParseAddr("192.168.1.51"), Stage: netboot.StageKernel})
	h.settle("clients", func() bool { return len(u.order) == 3 })
	if !u.wakeButton.Disabled() || u.wakeAll.Disabled() {
		t.Errorf("nothing selected: Wake disabled %v (want true), Wake all disabled %v (want false)", u.wakeButton.Disabled(), u.wakeAll.Disabled())
	}

	u.table.Select(widget.TableCellID{Row: 1, Col: 2}) // the client without a MAC
	if !u.wakeButton.Disabled() {
		t.Error("Wake enabled for a client without a MAC")
	}
	u.table.Select(widget.TableCellID{Row: 2, Col: 0})
	if u.wakeButton.Disabled() {
		t.Fatal("Wake disabled with a client selected")
	}
	test.Tap(u.wakeButton)
	h.settle("woken", func() bool { return strings.HasPrefix(u.wakeLabel.Text, "Sent") })
	if got := eng.wakes(); len(got) != 1 || got[0] != "eth0 52:54:00:ab:cd:ef" {
		t.Errorf("Wake woke %q, want the selected machine on eth0", got)
	}
	if want := "Sent a wake-up packet to 1 machine (52:54:00:ab:cd:ef) on eth0."; !strings.HasPrefix(u.wakeLabel.Text, want) {
		t.Errorf("label %q, want it to start %q", u.wakeLabel.Text, want)
	}

	test.Tap(u.wakeAll)
	h.settle("all woken", func() bool { return len(eng.wakes()) == 2 && strings.Contains(u.wakeLabel.Text, "2 machines") })
	if got := eng.wakes()[1]; got != "eth0 52:54:00:12:34:56 52:54:00:ab:cd:ef" {
		t.Errorf("Wake all woke %q, want both machines with a MAC on eth0", got)
	}
	if l := u.wakeLabel; l.Size().Height < l.MinSize().Height-1 {
		t.Errorf("the wake text is %v high, needs %v: it overlaps the buttons", l.Size().Height, l.MinSize().Height)
	}
	h.snapshot("sharing-woken")

	eng.mu.Lock()
	eng.wakeErr = fmt.Errorf("waking on eth0: %w: %w", netboot.ErrWakePermission, syscall.EPERM)
	eng.mu.Unlock()
	test.Tap(u.wakeButton)
	h.settle("wake failed", func() bool { return h.topDialog() != "" })
	if d := h.topDialog(); !strings.Contains(d, "Could not wake the machines") || !strings.Contains(d, "Install the sharecd package") {
		t.Errorf("dialog %q: want the failure and what to do", d)
	}
	if u.wakeLabel.Text != "" {
		t.Errorf("label %q after a failure", u.wakeLabel.Text)
	}
}

func TestShareError(t *testing.T) {
	eng := &fakeEngine{medium: debianLive, ifaces: []IfaceInfo{eth0}, check: clean,
		shareErr: &netboot.PortError{Proto: "udp", Port: 67, Service: "DHCP", Holder: "dnsmasq (pid 812)", Err: syscall.EADDRINUSE}}
	h := newHarness(t, eng, Options{})
	h.idle()
	test.Tap(h.u.shareButton)
	h.settle("share failed", func() bool { return !h.u.Sharing() })
	d := h.topDialog()
	if !strings.Contains(d, "Sharing stopped") && !strings.Contains(d, "Could not share this CD") {
		t.Errorf("no error dialog: %q", d)
	}
	if !strings.Contains(d, "DHCP port udp/67 is already in use by dnsmasq (pid 812). Close that program") {
		t.Errorf("dialog does not say it in plain words: %q", d)
	}
	if !h.u.idleBox.Visible() || h.u.shareButton.Disabled() {
		t.Error("not back to a usable idle window")
	}
	h.snapshot("error")
}

// A share the host's firewall holds never says clients can boot, and the error names the fix in
// the window's words, with no command-line flag in it.
func TestFirewallBlocker(t *testing.T) {
	eng := &fakeEngine{medium: debianLive, ifaces: []IfaceInfo{eth0}, check: clean, notServing: true,
		stopped: make(chan struct{})}
	h := newHarness(t, eng, Options{})
	h.idle()
	test.Tap(h.u.shareButton)
	h.settle("share started", func() bool { eng.mu.Lock(); defer eng.mu.Unlock(); return len(eng.shared) == 1 })
	if strings.Contains(h.u.sharingHelp.Text, "can now boot") {
		t.Errorf("says clients can boot before the engine serves: %q", h.u.sharingHelp.Text)
	}
	h.u.shareEnded(h.u.shareGen, fmt.Errorf("%w: inet filter input (policy drop) (nft: Operation not permitted)", netboot.ErrFirewallBlocks))
	d := h.topDialog()
	if !strings.Contains(d, "firewall blocks") || !strings.Contains(d, "firewall settings") || strings.Contains(d, "--") {
		t.Errorf("dialog %q: want the blocker and the window's fix, no flags", d)
	}
	h.snapshot("blocked")
	if h.u.Sharing() {
		t.Error("still shows sharing")
	}
}

// TestLogSaysWhatItShows: the window logs the words it shows once clients can boot, and the
// words of a refusal's dialog, for the log and for packaging's TestWindowShareThroughFirewall,
// which reads them; a serving that arrives after Stop says nothing.
func TestLogSaysWhatItShows(t *testing.T) {
	var log bytes.Buffer // written on the test goroutine only: settle runs the UI's work
	eng := &fakeEngine{medium: debianLive, ifaces: []IfaceInfo{eth0}, check: clean, notServing: true}
	h := newHarness(t, eng, Options{Log: slog.New(slog.NewTextHandler(&log, nil))})
	h.idle()
	u := h.u

	// The engine serves only after Stop: too late to say anything.
	test.Tap(u.shareButton)
	h.settle("share started", func() bool { eng.mu.Lock(); defer eng.mu.Unlock(); return len(eng.shared) == 1 })
	u.StopShare()
	eng.mu.Lock()
	late := eng.serving
	eng.mu.Unlock()
	late()
	h.settle("the late serving's work", func() bool { return len(h.queue) == 0 })
	if u.serving || strings.Contains(log.String(), "clients can boot") {
		t.Errorf("a serving after Stop was taken for the share (serving: %v):\n%s", u.serving, log.String())
	}

	eng.notServing = false
	test.Tap(u.shareButton)
	h.settle("serving", func() bool { return u.serving })
	if strings.Count(log.String(), `msg="clients can boot"`) != 1 {
		t.Errorf("want one \"clients can boot\" line, for the second share:\n%s", log.String())
	}
	if want := fmt.Sprintf("msg=\"clients can boot\" iface=eth0 shown=%q", u.sharingHelp.Text); !strings.Contains(log.String(), want) {
		t.Errorf("the log lacks %s:\n%s", want, log.String())
	}

	u.shareEnded(u.shareGen, fmt.Errorf("%w: nft -j list ruleset: not permitted", netboot.ErrFirewallUnknown))
	if d := h.topDialog(); !strings.Contains(log.String(), fmt.Sprintf("shown=%q", shareProblem(
		fmt.Errorf("%w: nft -j list ruleset: not permitted", netboot.ErrFirewallUnknown)))) || !strings.Contains(d, "firewall settings") {
		t.Errorf("the refusal's dialog %q is not in the log:\n%s", d, log.String())
	}
}

func TestNoPrivilege(t *testing.T) {
	eng := &fakeEngine{medium: debianLive, ifaces: []IfaceInfo{eth0}, check: clean}
	h := newHarness(t, eng, Options{Privilege: "This program is not allowed to open the network-boot ports."})
	h.idle()
	if !h.u.privLabel.Visible() || !h.u.shareButton.Disabled() {
		t.Error("missing privilege is not shown")
	}
}

func TestCloseWhileSharing(t *testing.T) {
	eng := &fakeEngine{medium: debianLive, ifaces: []IfaceInfo{eth0}, check: clean}
	h := newHarness(t, eng, Options{})
	h.idle()
	test.Tap(h.u.shareButton)
	h.settle("sharing", func() bool { return h.u.Sharing() })
	// without a tray, closing asks first
	h.u.closeWindow()
	if d := h.topDialog(); !strings.Contains(d, "Stop sharing?") {
		t.Errorf("closing while sharing without a tray did not ask: %q", d)
	}
	// with one, the window hides and the share goes on
	tray := &fakeTray{}
	h.u.tray = newTray(h.u, tray, tray.tooltip)
	h.u.closeWindow()
	if !h.u.Sharing() {
		t.Error("closing the window with a tray stopped the share")
	}
}

// fakeTray records what the window does to the tray.
type fakeTray struct {
	menu *fyne.Menu
	tip  string
}

func (f *fakeTray) SetSystemTrayMenu(m *fyne.Menu)  { f.menu = m }
func (f *fakeTray) SetSystemTrayIcon(fyne.Resource) {}
func (f *fakeTray) SetSystemTrayWindow(fyne.Window) {}
func (f *fakeTray) tooltip(s string)                { f.tip = s }

// quitApp records how the window quits: App.Quit, or stopping the driver alone.
type quitApp struct {
	fyne.App
	appQuit bool
	drv     *quitDriver
}

func (a *quitApp) Quit()               { a.appQuit = true }
func (a *quitApp) Driver() fyne.Driver { return a.drv }

type quitDriver struct {
	fyne.Driver
	quit bool
}

func (d *quitDriver) Quit() { d.quit = true }

// TestQuitAtOnce: whenever Quit comes, it must not close the window before fyne's loop stops.
// App.Quit does, and a cursor event polled in between then panics in fyne 2.7.1
// (fyne-io/fyne#5981; packaging/window_test.go quits the packaged window as it appears). The
// share still stops, and nothing more is posted to the loop that is stopping.
func TestQuitAtOnce(t *testing.T) {
	newQuitHarness := func() (*quitApp, *fakeEngine, *harness) {
		a := &quitApp{App: test.NewTempApp(t)}
		a.drv = &quitDriver{Driver: a.App.Driver()}
		eng := &fakeEngine{medium: debianLive, ifaces: []IfaceInfo{eth0}, check: clean, stopped: make(chan struct{})}
		return a, eng, newHarnessApp(t, a, eng, Options{})
	}

	a, _, h := newQuitHarness()
	select {
	case <-h.u.Quitting():
		t.Fatal("Quitting is closed before Quit")
	default:
	}
	h.u.Quit() // before the medium or the interfaces are even known
	select {
	case <-h.u.Quitting(): // main's watchdog for a fyne that does not return from Run
	default:
		t.Error("Quitting is not closed after Quit")
	}
	if !a.drv.quit || a.appQuit {
		t.Errorf("quitting at once: driver stopped %v, App.Quit called %v; want only the driver stopped", a.drv.quit, a.appQuit)
	}
	h.u.post(func() { t.Error("a UI update was run after Quit") })
	h.settle("nothing", func() bool { return true })

	a, eng, h := newQuitHarness()
	h.idle()
	test.Tap(h.u.shareButton)
	h.settle("sharing", func() bool { eng.mu.Lock(); defer eng.mu.Unlock(); return eng.onEvent != nil })
	h.u.Quit()
	h.u.Quit() // again: Quitting is already closed
	select {
	case <-eng.stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("quitting while sharing did not stop the share")
	}
	if !a.drv.quit || a.appQuit {
		t.Errorf("quitting while sharing: driver stopped %v, App.Quit called %v", a.drv.quit, a.appQuit)
	}
}

// TestTrayQuitAnswersFirst: Quit from the tray's menu stops fyne only after trayQuitGrace, so
// that systray's D-Bus reply to the click leaves before fyne's Quit closes the bus
// (packaging/tray_test.go clicks it over a real bus; with the reply held back 150 ms it failed).
func TestTrayQuitAnswersFirst(t *testing.T) {
	a := &quitApp{App: test.NewTempApp(t)}
	a.drv = &quitDriver{Driver: a.App.Driver()}
	eng := &fakeEngine{medium: debianLive, ifaces: []IfaceInfo{eth0}, check: clean, stopped: make(chan struct{})}
	h := newHarnessApp(t, a, eng, Options{})
	h.idle()
	tray := &fakeTray{}
	h.u.tray = newTray(h.u, tray, tray.tooltip)
	quit := tray.menu.Items[len(tray.menu.Items)-1]
	if quit.Label != "Quit" {
		t.Fatalf("last tray item %q, want Quit", quit.Label)
	}
	start := time.Now()
	quit.Action()
	h.settle("anything queued by the click", func() bool { return true })
	if a.drv.quit {
		t.Fatal("the tray's Quit stopped fyne at once, before systray could answer the click")
	}
	h.settle("the tray's Quit to stop fyne", func() bool { return a.drv.quit })
	if d := time.Since(start); d < trayQuitGrace {
		t.Errorf("fyne stopped %v after the click, want at least %v", d, trayQuitGrace)
	}
}

// TestShutdownFromSignal: on SIGTERM fyne stops its own loop, so the signal's goroutine stops
// the share with Shutdown, off fyne's loop, and no UI update is posted after it.
func TestShutdownFromSignal(t *testing.T) {
	eng := &fakeEngine{medium: debianLive, ifaces: []IfaceInfo{eth0}, check: clean, stopped: make(chan struct{})}
	h := newHarness(t, eng, Options{})
	h.idle()
	test.Tap(h.u.shareButton)
	h.settle("sharing", func() bool { eng.mu.Lock(); defer eng.mu.Unlock(); return eng.onEvent != nil })

	shut := make(chan struct{})
	go func() { h.u.Shutdown(); close(shut) }()
	<-shut
	for len(h.queue) > 0 { // posted before Shutdown: the loop may still run these
		<-h.queue
	}
	done := make(chan struct{})
	go func() { h.u.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not stop the share")
	}
	select {
	case <-eng.stopped:
	default:
		t.Error("Wait returned but the engine's Share had not")
	}
	// The share's end would be posted just after Wait returns: it must not be.
	select {
	case <-h.queue:
		t.Error("a UI update was posted after Shutdown")
	case <-time.After(200 * time.Millisecond):
	}
}

// TestShareButtonFitsTheWindow: at the window's default size, with everything the idle window can
// say shown at once (a DHCP check that found another boot server, its advice, and a missing
// permission), "Share this CD" is still on screen, not below the fold behind a scroll bar.
func TestShareButtonFitsTheWindow(t *testing.T) {
	long := strings.Repeat("The network was checked for other DHCP and network-boot servers, and this is what it found. ", 4)
	for _, tc := range []struct {
		name      string
		check     CheckResult
		privilege string
		sources   []string
	}{
		{name: "clean check", check: clean},
		{name: "several media", check: clean, sources: []string{netboot.Running, ubuntuISO.Source, fedoraISO.Source, archISO.Source}},
		{name: "conflict and no permission", check: CheckResult{
			Checked:  true,
			Summary:  long + "Your router 192.168.1.1 hands out addresses, and 192.168.1.20 also offers network boot.",
			Mode:     "proxy-DHCP next to your router",
			Conflict: true,
			Advice:   "Machines may boot from 192.168.1.20 instead. Switch its network boot off, or connect the machines to a separate switch. " + long,
		}, privilege: missingPrivilegeText("/usr/bin/sharecd")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eng := &fakeEngine{medium: debianLive, files: isoFiles, ifaces: []IfaceInfo{eth0}, check: tc.check}
			// The real theme's text and padding, not the test theme's smaller ones: what fits
			// under the test theme can still be below the fold on a desktop.
			a := test.NewTempApp(t)
			a.Settings().SetTheme(theme.DefaultTheme())
			h := newHarnessApp(t, a, eng, Options{Privilege: tc.privilege, Sources: tc.sources})
			h.idle()
			u := h.u
			// The size it opens at. Wrapped labels need their width before they know their
			// height, so a real window lays out again as it draws: a few passes do that here.
			for range 3 {
				u.Window().Resize(defaultSize.AddWidthHeight(0, 1))
				u.Window().Resize(defaultSize)
			}
			canvas := u.Window().Canvas().Size()
			pos := fyne.CurrentApp().Driver().AbsolutePositionForObject(u.shareButton)
			size := u.shareButton.Size()
			if !u.shareButton.Visible() || size.Height == 0 {
				t.Fatalf("Share button visible %v, size %v", u.shareButton.Visible(), size)
			}
			if pos.Y < 0 || pos.Y+size.Height > canvas.Height || pos.X < 0 || pos.X+size.Width > canvas.Width {
				t.Errorf("Share button at %v, size %v, outside the %v window", pos, size, canvas)
			}
			if tc.privilege != "" && !u.privLabel.Visible() {
				t.Error("the permission message is hidden")
			}
			// The permission message, which says why the button is greyed out, is whole and
			// above the button, not drawn over it.
			if u.privLabel.Visible() {
				pp := fyne.CurrentApp().Driver().AbsolutePositionForObject(u.privLabel)
				ps := u.privLabel.Size()
				if ps.Height < u.privLabel.MinSize().Height-1 || pp.Y+ps.Height > pos.Y || pp.Y < 0 {
					t.Errorf("permission message at %v, size %v (needs %v), button at %v", pp, ps, u.privLabel.MinSize(), pos)
				}
			}
			h.snapshot("fits-" + strings.ReplaceAll(tc.name, " ", "-"))
		})
	}
}

// A share that may not even read the firewall (a binary without cap_net_admin) gets the same fix
// in the window's words as one the firewall blocks.
func TestShareProblemFirewall(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("%w: inet filter input (policy drop) (nft: Operation not permitted)", netboot.ErrFirewallBlocks),
		fmt.Errorf("%w: nft -j list ruleset: not permitted to read or change the firewall (needs root or CAP_NET_ADMIN)", netboot.ErrFirewallUnknown),
	} {
		got := shareProblem(err)
		if !strings.Contains(got, "firewall settings") || !strings.Contains(got, "install the sharecd package") || strings.Contains(got, "--") {
			t.Errorf("shareProblem(%v) = %q: want the window's fix, no flags", err, got)
		}
	}
}

// TestNoBusAutolaunch: the user's session bus address is kept; with none, the one a systemd
// user session has at /run/user/UID/bus is taken, and with none there either, an address that
// fails at once, so that fyne and its systray never run dbus-launch (whose dbus-daemon outlived
// the window). packaging's TestWindowLeavesNoBus checks that for the real window.
func TestNoBusAutolaunch(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
	NoBusAutolaunch()
	if got := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); got != "unix:path=/nonexistent/bus" {
		t.Errorf("the user's address became %q", got)
	}
	for _, unset := range []string{"", "autolaunch:"} {
		t.Setenv("DBUS_SESSION_BUS_ADDRESS", unset)
		want := noBus
		if _, err := os.Stat(fmt.Sprintf("/run/user/%d/bus", os.Getuid())); err == nil {
			want = fmt.Sprintf("unix:path=/run/user/%d/bus", os.Getuid())
		}
		NoBusAutolaunch()
		if got := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); got != want {
			t.Errorf("DBUS_SESSION_BUS_ADDRESS=%q: became %q, want %q", unset, got, want)
		}
		if err := trayHost(); want == noBus && !errors.Is(err, ErrNoSessionBus) {
			t.Errorf("with no session bus the tray host check says %v, want ErrNoSessionBus", err)
		}
	}
}

// TestFullModeAndInternet: where the check found no DHCP server the window offers to hand out
// addresses, and only then to share this computer's internet; the share started carries both.
// Beside a DHCP server neither is offered.
func TestFullModeAndInternet(t *testing.T) {
	none := CheckResult{Checked: true, Conflict: true, NoDHCPServer: true, Uplink: "wlan0",
		Summary: "No router or DHCP server answered on eth0: the machines would get no address."}
	cases := []struct {
		name                string
		check               CheckResult
		tickFull, tickNet   bool
		offerFull, offerNet bool
		note                string
		wantFull            bool
		wantInternet        string
	}{
		{name: "beside a router", check: clean},
		{name: "no DHCP server, left as it is", check: none, offerFull: true},
		{name: "hand out addresses", check: none, tickFull: true, offerFull: true, offerNet: true, wantFull: true},
		{name: "and the internet", check: none, tickFull: true, tickNet: true, offerFull: true, offerNet: true,
			wantFull: true, wantInternet: "wlan0"},
		{name: "internet needs root", check: func() CheckResult {
			c := none
			c.Uplink, c.UplinkProblem = "", "Sharing wlan0's internet connection needs sharecd run as root (sudo sharecd)."
			return c
		}(), tickFull: true, offerFull: true, note: "needs sharecd run as root", wantFull: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eng := &fakeEngine{medium: debianLive, ifaces: []IfaceInfo{eth0}, check: tc.check}
			h := newHarness(t, eng, Options{})
			h.idle()
			u := h.u
			if u.fullCheck.Visible() != tc.offerFull {
				t.Fatalf("hand out addresses offered: %v", u.fullCheck.Visible())
			}
			if tc.tickFull {
				test.Tap(u.fullCheck)
			}
			if u.internetCheck.Visible() != tc.offerNet {
				t.Fatalf("internet offered: %v", u.internetCheck.Visible())
			}
			if tc.offerNet && !strings.Contains(u.internetCheck.Text, "through wlan0") {
				t.Errorf("internet check says %q", u.internetCheck.Text)
			}
			if tc.note != "" && (!u.internetNote.Visible() || !strings.Contains(u.internetNote.Text, tc.note)) {
				t.Errorf("note: visible %v, %q", u.internetNote.Visible(), u.internetNote.Text)
			}
			if tc.tickNet {
				test.Tap(u.internetCheck)
				h.snapshot("room-idle") // README's room on its own switch, before Share
			}
			test.Tap(u.shareButton)
			h.settle("share started", func() bool { eng.mu.Lock(); defer eng.mu.Unlock(); return len(eng.requests) == 1 })
			eng.mu.Lock()
			req := eng.requests[0]
			eng.mu.Unlock()
			if req.Full != tc.wantFull || req.Internet != tc.wantInternet {
				t.Errorf("share asked for full %v internet %q, want %v %q", req.Full, req.Internet, tc.wantFull, tc.wantInternet)
			}
			if tc.offerFull && !u.fullCheck.Disabled() {
				t.Error("full mode can be changed while sharing")
			}
			h.settle("serving", func() bool { return u.serving })
			if got := strings.Contains(u.sharingHelp.Text, "from your router"); got == tc.wantFull {
				t.Errorf("sharing help says %q", u.sharingHelp.Text)
			}
			if got := strings.Contains(u.sharingHelp.Text, "internet through this computer's wlan0"); got != (tc.wantInternet != "") {
				t.Errorf("sharing help says %q", u.sharingHelp.Text)
			}
			u.StopShare()
		})
	}
}

// The media list says which machines each medium boots, as its kernel says.
func TestMediaListShowsArch(t *testing.T) {
	for _, tc := range []struct{ arch, want, not string }{
		{"arm64", "Debian-style live system (live-boot), for ARM64 machines with UEFI — ", "PCs"},
		{"amd64", "Debian-style live system (live-boot), for 64-bit PCs — ", "ARM64"},
		{"", "Debian-style live system (live-boot) — ", ", for"},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			m := debianLive
			m.Arch = tc.arch
			h := newHarness(t, &fakeEngine{medium: m, ifaces: []IfaceInfo{eth0}, check: clean}, Options{})
			h.idle()
			if got := h.mediaShown(); len(got) != 1 || !strings.Contains(got[0], tc.want) || strings.Contains(got[0], tc.not) {
				t.Errorf("media shown %q, want %q and no %q", got, tc.want, tc.not)
			}
		})
	}
}

// TestSessionChanges: with the running medium shared first, the window offers to boot the
// machines into this session as it is (--with-changes), says why where it cannot, and never
// offers it for an ISO file, which has no session.
func TestSessionChanges(t *testing.T) {
	iso := "/srv/iso/debian-live.iso"
	cases := []struct {
		name    string
		sources []string
		err     error
		offered bool
		tick    bool
		want    bool
	}{
		{name: "running medium, left as it is", offered: true},
		{name: "running medium, ticked", offered: true, tick: true, want: true},
		{name: "not root", err: errors.New("booting the machines into this session needs sharecd run as root (sudo sharecd)"), offered: true, tick: true},
		{name: "an ISO file", sources: []string{iso}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eng := &fakeEngine{medium: debianLive, files: map[string]MediumInfo{iso: {Source: iso, Name: "Debian live", Family: "live-boot", Kind: "iso"}},
				ifaces: []IfaceInfo{eth0}, check: clean, changesErr: tc.err}
			h := newHarness(t, eng, Options{Sources: tc.sources})
			h.idle()
			u := h.u
			if u.changesCheck.Visible() != tc.offered {
				t.Fatalf("offered: %v", u.changesCheck.Visible())
			}
			if tc.err != nil && (!u.changesCheck.Disabled() || !strings.Contains(u.changesCheck.Text, "needs sharecd run as root")) {
				t.Errorf("cannot be shared, yet: disabled %v, %q", u.changesCheck.Disabled(), u.changesCheck.Text)
			}
			if tc.tick {
				test.Tap(u.changesCheck)
			}
			test.Tap(u.shareButton)
			h.settle("share started", func() bool { eng.mu.Lock(); defer eng.mu.Unlock(); return len(eng.requests) == 1 })
			eng.mu.Lock()
			got := eng.requests[0].WithChanges
			eng.mu.Unlock()
			if got != tc.want {
				t.Errorf("share asked for changes %v, want %v", got, tc.want)
			}
			u.StopShare()
		})
	}
}

// TestSeatsListedBeforeTheyBoot: the seats file's machines are in the list from the start of a
// share, not yet seen, so Wake all wakes a cold room; they count as booting once they ask.
func TestSeatsListedBeforeTheyBoot(t *testing.T) {
	desk1, _ := net.ParseMAC("52:54:00:12:34:01")
	desk2, _ := net.ParseMAC("52:54:00:12:34:02")
	eng := &fakeEngine{medium: debianLive, ifaces: []IfaceInfo{eth0}, check: clean,
		seats: []seats.Seat{{MAC: desk1, Name: "desk-01"}, {MAC: desk2, Name: "desk-02"}}}
	h := newHarness(t, eng, Options{})
	h.idle()
	u := h.u
	tray := &fakeTray{}
	u.tray = newTray(u, tray, tray.tooltip)
	test.Tap(u.shareButton)
	h.settle("share started", func() bool { eng.mu.Lock(); defer eng.mu.Unlock(); return eng.onEvent != nil })
	if len(u.order) != 2 || u.cell(u.clients[u.order[0]], 0) != "desk-01 (52:54:00:12:34:01)" ||
		u.cell(u.clients[u.order[0]], 2) != "not seen yet" || u.cell(u.clients[u.order[0]], 4) != "–" {
		t.Fatalf("seats not listed before they boot: %d rows", len(u.order))
	}
	if u.noClients.Visible() || u.wakeAll.Disabled() {
		t.Errorf("with seats listed: hint visible %v, Wake all disabled %v", u.noClients.Visible(), u.wakeAll.Disabled())
	}
	if u.tooltip() != "Share This CD: sharing on eth0, 0 machines booting" {
		t.Errorf("tooltip %q", u.tooltip())
	}
	test.Tap(u.wakeAll)
	h.settle("woken", func() bool { eng.mu.Lock(); defer eng.mu.Unlock(); return len(eng.woken) > 0 })
	eng.mu.Lock()
	woken := fmt.Sprint(eng.woken)
	eng.mu.Unlock()
	if !strings.Contains(woken, "52:54:00:12:34:01") || !strings.Contains(woken, "52:54:00:12:34:02") {
		t.Errorf("Wake all woke %s", woken)
	}
	eng.send(netboot.Event{MAC: desk2, Stage: netboot.StageOffered, Seat: "desk-02"})
	h.settle("desk-02 asks", func() bool { return u.clients[desk2.String()].stage != "" })
	if len(u.order) != 2 || u.tooltip() != "Share This CD: sharing on eth0, 1 machine booting" {
		t.Errorf("after desk-02 asked: %d rows, tooltip %q", len(u.order), u.tooltip())
	}
}
