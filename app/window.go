package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/sharecd/sharecd/netboot"
)

// Title is the window's and the tray's name.
const Title = "Share This CD"

// Options are the window's settings; zero values mean "default".
type Options struct {
	// Sources are the media to offer, in menu order: paths, or netboot.Running for the running
	// live medium; none = the running live medium, when this system runs from one. The user
	// can add and remove media.
	Sources []string
	Iface   string       // preselect this interface ("" = the sensible default)
	Log     *slog.Logger // nil = discard
	// Privilege is why sharing cannot open its ports ("" = it can); see MissingPrivilege.
	Privilege string
}

// UI is the "Share This CD" window and its tray icon. Every field but those under mu is touched
// only on fyne's goroutine: the engine's answers come back through u.post (fyne.Do).
type UI struct {
	app  fyne.App
	eng  Engine
	opts Options
	log  *slog.Logger
	win  fyne.Window

	// do runs a function on fyne's goroutine; tests replace it with a queue they drain.
	do  func(func())
	now func() time.Time

	media     []*mediumRow // the media to share, in menu order
	noLive    bool         // the running live medium was looked for and there is none
	ifaces    []IfaceInfo
	iface     string // the chosen interface
	userPick  bool   // the user chose it: the live refresh keeps it
	check     *CheckResult
	checkErr  error
	checkStop context.CancelFunc

	sharing   bool
	serving   bool // the engine said clients can boot (OnServing)
	shareStop context.CancelFunc
	shareGen  int // which share a late answer belongs to
	server    netip.Prefix
	clients   map[string]*client
	order     []string // client keys, first seen first
	selected  string   // the key of the client selected in the table, "" = none

	tray    *tray
	quit    chan struct{}  // closed by the first Quit
	running sync.WaitGroup // the share's goroutine: Wait lets main close every socket before exit

	// closing is set by Shutdown, from any goroutine: from then on nothing more is posted to
	// fyne's loop, which may be stopping, and fyne 2.7.1 panics on a post to a stopped loop
	// ("send on closed channel"). shareStop is set under mu too, for Shutdown to read.
	mu      sync.Mutex
	closing bool

	// widgets
	mediaNote *widget.Label   // what the list of media means, or why there is none to share
	mediaBox  *fyne.Container // one row per medium, in u.media's order
	// cards hold the media's and the network's word-wrapped texts: laid out again whenever a
	// text changes, since a wrapped label's height follows its text and a box sized for the
	// old text drew the new one over the widget below it.
	cards       *fyne.Container
	addISO      *widget.Button
	ifaceSelect *widget.Select
	ifaceDetail *widget.Label
	checkLabel  *widget.Label
	// fullCheck makes this computer the DHCP server where the check found none; internetCheck,
	// under it, shares the host's other connection with the machines.
	fullCheck *widget.Check
	// changesCheck boots the machines into this session as it is now (--with-changes): offered
	// when the running medium is shared first; changesErr is why it cannot be ticked.
	changesCheck  *widget.Check
	changesErr    error
	internetCheck *widget.Check
	internetNote  *widget.Label
	privLabel     *widget.Label
	shareButton   *widget.Button
	idleBox       *fyne.Container
	sharingTitle  *widget.Label
	sharedNames   []string // the names of the media the running share serves, for its title
	sharedSrcs    []string // the sources the running share serves, in menu order
	// sharedFull and sharedInternet: the running share hands out addresses, and lets the
	// machines out through that interface ("" = not)
	sharedFull     bool
	sharedInternet string
	mediaCard      *widget.Card
	sharingMedia   *fyne.Container   // holds mediaCard while sharing: the list then changes the share
	inUse          map[string]string // a removed medium still in use, by source: what the window says of it
	inUseLabel     *widget.Label
	sharingHelp    *widget.Label
	stopButton     *widget.Button
	wakeButton     *widget.Button // wakes the client selected in the table
	wakeAll        *widget.Button // wakes every client in the table with a MAC
	wakeLabel      *widget.Label  // what the last wake did
	table          *widget.Table
	noClients      *widget.Label
	sharingBox     *fyne.Container
}

type client struct {
	mac, ip  string
	seat     string // its name in the seats file, "" for none
	stage    netboot.Stage
	detail   string
	files    int
	lastSeen time.Time
}

// New builds the window (not shown yet) and starts looking for the medium and the interfaces.
func New(a fyne.App, eng Engine, opts Options) *UI {
	u := &UI{app: a, eng: eng, opts: opts, log: opts.Log, do: fyne.Do, now: time.Now, clients: map[string]*client{}, quit: make(chan struct{})}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	u.iface = opts.Iface
	u.userPick = opts.Iface != ""
	u.build()
	return u
}

// Window is the main window.
func (u *UI) Window() fyne.Window { return u.win }

// Start runs the first detection and then reads the interfaces again every few seconds while
// idle, so a cable plugged in shows up on its own. It is separate from New so tests can swap u.do
// first.
func (u *UI) Start() {
	sources := u.opts.Sources
	if len(sources) == 0 {
		sources = []string{netboot.Running}
	}
	for _, src := range sources {
		u.addMedium(src)
	}
	u.changesErr = u.eng.SessionChanges()
	u.refreshIfaces()
	go func() {
		for range time.Tick(3 * time.Second) {
			u.post(func() {
				if !u.sharing && !u.quitting() {
					u.refreshIfaces()
				}
			})
		}
	}()
}

// Quitting is closed once Quit has been called, from any goroutine's point of view.
func (u *UI) Quitting() <-chan struct{} { return u.quit }

func (u *UI) quitting() bool {
	select {
	case <-u.quit:
		return true
	default:
		return false
	}
}

// post runs f on fyne's loop, unless the UI is shutting down.
func (u *UI) post(f func()) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.closing {
		u.do(f)
	}
}

// Shutdown stops the share, if one runs, and posting to fyne's loop. It is safe from any
// goroutine, for a signal handler while fyne's loop stops itself: fyne quits on SIGINT and
// SIGTERM on its own, and a UI update posted as it stops could panic. Wait then waits for the
// share's sockets to close.
func (u *UI) Shutdown() {
	u.mu.Lock()
	u.closing = true
	cancel := u.shareStop
	u.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// Wait waits for a share that is stopping to close its sockets.
func (u *UI) Wait() { u.running.Wait() }

func (u *UI) build() {
	u.win = u.app.NewWindow(Title)
	u.win.SetIcon(Icon())

	u.mediaNote = widget.NewLabel("")
	u.mediaNote.Wrapping = fyne.TextWrapWord
	u.mediaBox = container.NewVBox()
	u.addISO = widget.NewButtonWithIcon("Add ISO file…", theme.FolderOpenIcon(), u.chooseISO)

	u.ifaceSelect = widget.NewSelect(nil, func(string) {})
	u.ifaceSelect.PlaceHolder = "Looking for network interfaces…"
	u.ifaceSelect.OnChanged = u.ifaceChosen
	u.ifaceDetail = widget.NewLabel("")
	u.ifaceDetail.Wrapping = fyne.TextWrapWord

	u.checkLabel = widget.NewLabel("")
	u.checkLabel.Wrapping = fyne.TextWrapWord
	u.fullCheck = widget.NewCheck("Hand out addresses: this network has no DHCP server", func(bool) { u.render() })
	u.internetCheck = widget.NewCheck("", func(bool) { u.render() })
	u.internetNote = widget.NewLabel("")
	u.internetNote.Wrapping = fyne.TextWrapWord
	u.privLabel = widget.NewLabel(u.opts.Privilege)
	u.privLabel.Wrapping = fyne.TextWrapWord
	u.privLabel.Importance = widget.DangerImportance
	if u.opts.Privilege == "" {
		u.privLabel.Hide()
	}

	u.shareButton = widget.NewButtonWithIcon("Share this CD", theme.MediaPlayIcon(), u.StartShare)
	u.shareButton.Importance = widget.HighImportance

	big := container.NewGridWrap(fyne.NewSize(320, 64), u.shareButton)
	u.changesCheck = widget.NewCheck("Boot them into this session as it is now (its settings, programs and files)", func(bool) { u.render() })
	u.mediaCard = widget.NewCard("", "Live media to share", container.NewVBox(u.mediaNote, u.mediaBox, container.NewHBox(u.addISO), u.changesCheck))
	u.cards = container.NewVBox(
		u.mediaCard,
		widget.NewCard("", "Network", container.NewVBox(u.ifaceSelect, u.ifaceDetail, u.checkLabel,
			u.fullCheck, u.internetCheck, u.internetNote)),
	)
	// The main action, and the permission message that says why it is greyed out, are pinned to
	// the bottom, outside the scroll area: a long DHCP check result only scrolls the cards above
	// them. In one scrolled column, the check's advice and a permission message pushed "Share
	// this CD" below the fold of the window's default size.
	u.idleBox = container.NewBorder(nil,
		container.NewVBox(u.privLabel, container.NewCenter(big)),
		nil, nil,
		container.NewVScroll(u.cards),
	)

	u.sharingTitle = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	u.sharingTitle.Wrapping = fyne.TextWrapWord
	u.sharingHelp = widget.NewLabel("")
	u.sharingHelp.Wrapping = fyne.TextWrapWord
	u.stopButton = widget.NewButtonWithIcon("Stop sharing", theme.MediaStopIcon(), u.StopShare)
	u.stopButton.Importance = widget.DangerImportance
	u.noClients = widget.NewLabel("No machine has asked yet. Switch one on and choose network boot (PXE) in its boot menu.")
	u.noClients.Wrapping = fyne.TextWrapWord
	u.table = u.newTable()
	u.wakeButton = widget.NewButtonWithIcon("Wake", theme.ComputerIcon(), u.wakeSelected)
	u.wakeAll = widget.NewButton("Wake all", u.wakeEvery)
	u.wakeLabel = widget.NewLabel("")
	u.wakeLabel.Wrapping = fyne.TextWrapWord
	u.inUseLabel = widget.NewLabel("")
	u.inUseLabel.Wrapping = fyne.TextWrapWord
	u.inUseLabel.Importance = widget.WarningImportance
	u.inUseLabel.Hide()
	u.sharingMedia = container.NewVBox()
	u.sharingBox = container.NewBorder(
		container.NewVBox(u.sharingTitle, u.sharingHelp, u.sharingMedia, u.inUseLabel, u.noClients),
		container.NewVBox(u.wakeLabel, container.NewHBox(u.wakeButton, u.wakeAll, layout.NewSpacer(), u.stopButton)),
		nil, nil,
		u.table,
	)
	u.sharingBox.Hide()

	u.win.SetContent(container.NewPadded(container.NewStack(u.idleBox, u.sharingBox)))
	u.win.Resize(defaultSize)
	u.win.SetCloseIntercept(u.closeWindow)
	u.render()
}

// defaultSize is the size the window opens at.
var defaultSize = fyne.NewSize(720, 520)

// columns: their widths and the table's separators fit the 720-wide window, so no horizontal
// scroll bar half-hides "Last seen".
var columns = []struct {
	title string
	width float32
}{{"Machine (MAC)", 210}, {"Address", 105}, {"Stage", 200}, {"Last file", 75}, {"Last seen", 85}}

func (u *UI) newTable() *widget.Table {
	t := widget.NewTableWithHeaders(
		func() (int, int) { return len(u.order), len(columns) },
		func() fyne.CanvasObject {
			// A long file name (a seat's boot.ipxe-01-MAC) is cut with an ellipsis: untruncated,
			// a label draws past its cell over the next column.
			l := widget.NewLabel("")
			l.Truncation = fyne.TextTruncateEllipsis
			return l
		},
		func(id widget.TableCellID, o fyne.CanvasObject) {
			if id.Row < 0 || id.Row >= len(u.order) {
				return
			}
			o.(*widget.Label).SetText(u.cell(u.clients[u.order[id.Row]], id.Col))
		},
	)
	t.ShowHeaderColumn = false
	t.CreateHeader = func() fyne.CanvasObject {
		return widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	}
	t.UpdateHeader = func(id widget.TableCellID, o fyne.CanvasObject) {
		if id.Col >= 0 && id.Col < len(columns) {
			o.(*widget.Label).SetText(columns[id.Col].title)
		}
	}
	for i, c := range columns {
		t.SetColumnWidth(i, c.width)
	}
	// A click anywhere in a row chooses that machine for Wake.
	t.OnSelected = func(id widget.TableCellID) {
		if id.Row >= 0 && id.Row < len(u.order) {
			u.selected = u.order[id.Row]
		}
		u.renderWake()
	}
	t.OnUnselected = func(widget.TableCellID) {
		u.selected = ""
		u.renderWake()
	}
	return t
}

// stageWords is each stage in the words the client list shows.
var stageWords = map[netboot.Stage]string{
	netboot.StageOffered: "1/7 got the boot offer",
	netboot.StageLoader:  "2/7 loading the boot loader",
	netboot.StageMenu:    "3/7 showing the boot menu",
	netboot.StageKernel:  "4/7 loading the kernel",
	netboot.StageInitrd:  "5/7 loading the initrd",
	netboot.StageMounted: "6/7 mounted this CD",
	netboot.StageRunning: "7/7 running the live system",
}

func (u *UI) cell(c *client, col int) string {
	switch col {
	case 0:
		// A seat by its name, which is how the room knows it; the MAC stays, for Wake and for
		// telling two machines apart when the seats file is wrong.
		if c.seat != "" {
			return c.seat + " (" + orDash(c.mac) + ")"
		}
		return orDash(c.mac)
	case 1:
		return orDash(c.ip)
	case 2:
		if c.stage == "" {
			return "not seen yet"
		}
		if w, ok := stageWords[c.stage]; ok {
			return w
		}
		return string(c.stage)
	case 3:
		return orDash(c.detail)
	case 4:
		if c.lastSeen.IsZero() {
			return "–"
		}
		return ago(u.now().Sub(c.lastSeen))
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func ago(d time.Duration) string {
	switch {
	case d < 5*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	}
	return fmt.Sprintf("%d h ago", int(d.Hours()))
}

// --- the medium ---

// mediumRow is one medium of the list the window shares, as the command line or the user named
// it, with what Detect found and its row in the card.
type mediumRow struct {
	source  string // what Share gets: a path, or netboot.Running
	info    MediumInfo
	err     error
	pending bool // Detect has not answered yet

	name, detail *widget.Label
	remove       *widget.Button
	row          fyne.CanvasObject
}

// addMedium appends a medium to the list and describes it. The same path twice is listed once:
// a share of it twice would only show it twice in the clients' menu.
func (u *UI) addMedium(source string) {
	for _, m := range u.media {
		if m.source == source {
			return
		}
	}
	m := &mediumRow{source: source, pending: true}
	m.name = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	m.name.Wrapping = fyne.TextWrapWord
	m.detail = widget.NewLabel("")
	m.detail.Wrapping = fyne.TextWrapWord
	m.remove = widget.NewButtonWithIcon("Remove", theme.DeleteIcon(), func() { u.removeMedium(m) })
	// The button on the right, the texts taking the rest of the width: in an HBox a wrapped
	// label gets no width to wrap in.
	m.row = container.NewBorder(nil, nil, nil, container.NewVBox(m.remove), container.NewVBox(m.name, m.detail))
	u.media = append(u.media, m)
	detect := source
	if source == netboot.Running {
		detect = "" // the Engine's name for it
	}
	go func() {
		info, err := u.eng.Detect(detect)
		u.post(func() {
			m.info, m.err, m.pending = info, err, false
			if source == netboot.Running && errors.Is(err, ErrNoMedium) {
				// Not a medium that cannot be shared: there is none. The card says so when
				// the list is empty, and offers an ISO file instead.
				u.noLive = true
				u.media = slices.DeleteFunc(u.media, func(r *mediumRow) bool { return r == m })
			}
			u.render()
			u.applyMedia()
		})
	}()
	u.render()
}

// removeMedium takes a medium off the list. Removing the last one leaves nothing to share, and
// blocker says so.
func (u *UI) removeMedium(m *mediumRow) {
	if u.sharing && len(u.shareable()) == 1 && m.problem() == "" {
		dialog.ShowInformation("Cannot remove the last medium", "A share needs a live system to serve. Stop sharing instead.", u.win)
		return
	}
	u.media = slices.DeleteFunc(u.media, func(r *mediumRow) bool { return r == m })
	u.render()
	u.applyMedia()
}

// applyMedia gives a running share the list's shareable media, once none is still being looked
// at: what was added becomes bootable, what was removed leaves the clients' menus. The engine
// keeps the media still listed served as they were, so machines running from them go on.
func (u *UI) applyMedia() {
	if !u.sharing || slices.ContainsFunc(u.media, func(m *mediumRow) bool { return m.pending }) {
		return
	}
	var sources, names []string
	for _, m := range u.shareable() {
		sources = append(sources, m.source)
		names = append(names, m.info.Name)
	}
	if slices.Equal(sources, u.sharedSrcs) || len(sources) == 0 {
		return
	}
	gen := u.shareGen
	u.log.Info("changing the shared media from the window", "media", sources)
	go func() {
		err := u.eng.SetSources(sources)
		u.post(func() {
			if gen != u.shareGen || !u.sharing {
				return
			}
			if err != nil {
				u.log.Error("the media were not changed", "err", err)
				dialog.ShowInformation("The media were not changed", oneLine(err), u.win)
				return
			}
			u.sharedSrcs, u.sharedNames = sources, names
			u.render()
		})
	}()
}

// mediaEvent shows a medium removed while clients still run from it, until it is closed.
func (u *UI) mediaEvent(gen int, e netboot.MediaEvent) {
	if gen != u.shareGen || !u.sharing {
		return
	}
	switch e.Change {
	case netboot.MediumInUse:
		var ips []string
		for _, a := range e.Clients {
			ips = append(ips, a.String())
		}
		u.inUse[e.Source] = fmt.Sprintf("%s is no longer offered, but %s still run from it: it stays shared to them until they stop.",
			e.Title, andList(ips))
	case netboot.MediumRemoved:
		delete(u.inUse, e.Source)
	}
	u.render()
}

func (u *UI) chooseISO() {
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil || r == nil {
			return
		}
		path := r.URI().Path()
		r.Close()
		u.addMedium(path) // while sharing, applied once it is looked at
	}, u.win)
	d.SetFilter(storage.NewExtensionFileFilter([]string{".iso", ".ISO"}))
	d.Show()
}

// problem is why this medium cannot be shared, or "".
func (m *mediumRow) problem() string {
	switch {
	case m.pending:
		return "Looking at it…"
	case m.err != nil:
		return oneLine(m.err)
	case m.info.Family == "":
		return "This is not a live system this version can share over the network (known: Debian, Ubuntu, Fedora, Arch and Manjaro live systems)."
	}
	return ""
}

// shareable lists the media a share serves, in the list's order: those the engine can share.
func (u *UI) shareable() []*mediumRow {
	var out []*mediumRow
	for _, m := range u.media {
		if m.problem() == "" {
			out = append(out, m)
		}
	}
	return out
}

// mediumProblem is why the media cannot be shared, or "". A medium still being looked at holds
// the share back: started then, the share would leave it out.
func (u *UI) mediumProblem() string {
	for _, m := range u.media {
		if m.pending {
			return "Looking for the live medium…"
		}
	}
	switch {
	case len(u.shareable()) > 0:
		return ""
	case len(u.media) == 0 && u.noLive:
		return "This computer did not start from a live CD or USB stick. Add an ISO file of a live system to share instead."
	case len(u.media) == 0:
		return "No live medium to share. Add an ISO file of a live system."
	case len(u.media) == 1:
		return u.media[0].problem()
	}
	return "None of these media can be shared. Add an ISO file of a live system this version can share."
}

// displayName is how the window names a medium.
func (m *mediumRow) displayName() string {
	switch {
	case m.info.Name != "":
		return m.info.Name
	case m.source == netboot.Running && m.pending:
		return "Looking for the live medium…"
	case m.source == netboot.Running:
		return "The live medium this computer started from"
	}
	return filepath.Base(m.source)
}

// renderMedia shows the list of media: each with its name, family and a Remove button, the
// first one shared marked as the one booted by default.
func (u *UI) renderMedia() {
	ok := u.shareable()
	pending := slices.ContainsFunc(u.media, func(m *mediumRow) bool { return m.pending })
	switch {
	case len(u.media) == 0:
		u.mediaNote.SetText(u.mediumProblem())
	case len(ok) == 0 && !pending: // each row says why it cannot be shared
		u.mediaNote.SetText("Nothing listed can be shared. Add an ISO file of a live system this version can share.")
	case len(ok) > 1:
		u.mediaNote.SetText(fmt.Sprintf("Machines get a menu of these %d live systems; the first one is booted by default.", len(ok)))
	default:
		u.mediaNote.SetText("")
	}
	if u.mediaNote.Text == "" {
		u.mediaNote.Hide()
	} else {
		u.mediaNote.Show()
	}
	rows := make([]fyne.CanvasObject, 0, len(u.media))
	for _, m := range u.media {
		name := m.displayName()
		where := m.info.Source
		if where == "" && m.source != netboot.Running {
			where = m.source
		}
		switch p := m.problem(); {
		case m.pending && m.source == netboot.Running:
			m.detail.SetText("") // its name already says the window looks for it
		case m.pending:
			m.detail.SetText(p)
			m.detail.Importance = widget.MediumImportance
		case p != "":
			if where != "" {
				p += " (" + where + ")"
			}
			m.detail.SetText("Not shared: " + p)
			m.detail.Importance = widget.WarningImportance
		default:
			if len(ok) > 1 && m == ok[0] {
				name += " — booted by default"
			}
			m.detail.SetText(familyWords(m.info.Family) + archWords(m.info.Arch) + " — " + where + "\n" + secureBootWords(m.info.SecureBootOK))
			m.detail.Importance = widget.MediumImportance
		}
		m.name.SetText(name)
		m.detail.Refresh()
		// While sharing, a change of the list changes the share (applyMedia).
		m.remove.Enable()
		rows = append(rows, m.row)
	}
	u.mediaBox.Objects = rows
	u.mediaBox.Refresh()
	u.addISO.Enable()
}

// placeMediaCard puts the list of media on the face shown: with the idle cards, or above the
// machines while sharing, where changing it changes the share.
func (u *UI) placeMediaCard() {
	from, to := u.sharingMedia, u.cards
	if u.sharing {
		from, to = u.cards, u.sharingMedia
	}
	if slices.Contains(to.Objects, fyne.CanvasObject(u.mediaCard)) {
		return
	}
	from.Remove(u.mediaCard)
	to.Objects = append([]fyne.CanvasObject{u.mediaCard}, to.Objects...)
	to.Refresh()
}

// secureBootWords: the window shares next to a router (proxy-DHCP), where only the unsigned GRUB
// finds its menu; the signed chain needs sharecd to be the DHCP server.
func secureBootWords(signedByDebian bool) string {
	if signedByDebian {
		return "UEFI machines with Secure Boot on: turn it off first, or share on a switch of its own " +
			"with sudo sharecd --share --dhcp-mode full, where Secure Boot can stay on."
	}
	return "UEFI machines with Secure Boot on: turn it off in their firmware setup first."
}

// archWords says which machines boot a medium, after its family: arm64 media go only to ARM64
// UEFI machines, everything else only to PCs. Nothing when the kernel's machine was not read.
func archWords(arch string) string {
	var words []string
	for _, a := range strings.Split(arch, ", ") {
		switch a {
		case "amd64":
			words = append(words, "64-bit PCs")
		case "i386":
			words = append(words, "32-bit PCs")
		case "arm64":
			words = append(words, "ARM64 machines with UEFI")
		}
	}
	if len(words) == 0 {
		return ""
	}
	return ", for " + strings.Join(words, " and ")
}

func familyWords(f string) string {
	if fams := strings.Split(f, ", "); len(fams) > 1 { // a directory of ISO files of several families
		for i, f := range fams {
			fams[i] = familyWords(f)
		}
		return strings.Join(fams, "; ")
	}
	switch f {
	case "live-boot":
		return "Debian-style live system (live-boot)"
	case "casper":
		return "Ubuntu-style live system (casper)"
	case "dracut":
		return "Fedora-style live system (dracut)"
	case "archiso":
		return "Arch-style live system (archiso)"
	case "miso":
		return "Manjaro live system (miso)"
	}
	return f
}

// --- interfaces and the DHCP check ---

// RefreshInterfaces reads the interfaces again; the window calls it every few seconds while it
// is idle, so a cable plugged in shows up on its own.
func (u *UI) refreshIfaces() {
	go func() {
		list, err := u.eng.Interfaces()
		u.post(func() {
			if err != nil {
				u.ifaceDetail.SetText(oneLine(err))
				return
			}
			u.setIfaces(list)
		})
	}()
}

func (u *UI) setIfaces(list []IfaceInfo) {
	sort.SliceStable(list, func(i, j int) bool { return rank(list[i]) < rank(list[j]) })
	u.ifaces = list
	old := u.iface
	if !u.userPick || u.find(u.iface) == nil {
		u.iface = ""
		if len(list) > 0 && list[0].Problem == "" {
			u.iface = list[0].Name // the best usable one: rank sorts it first
		}
	}
	opts := make([]string, len(list))
	sel := ""
	for i, f := range list {
		opts[i] = ifaceOption(f)
		if f.Name == u.iface {
			sel = opts[i]
		}
	}
	u.ifaceSelect.OnChanged = nil
	u.ifaceSelect.SetOptions(opts)
	if sel != "" {
		u.ifaceSelect.SetSelected(sel)
	} else {
		u.ifaceSelect.ClearSelected()
	}
	u.ifaceSelect.OnChanged = u.ifaceChosen
	if len(list) == 0 {
		u.ifaceSelect.PlaceHolder = "No network interface found"
	} else {
		u.ifaceSelect.PlaceHolder = "Choose the network the other machines are on"
	}
	u.ifaceSelect.Refresh()
	// One check per interface chosen: the list refreshes every few seconds, and restarting a
	// check still listening would probe the LAN without end and never show a result.
	if u.iface != old || (u.check == nil && u.checkErr == nil && u.checkStop == nil && u.iface != "") {
		u.runCheck()
	}
	u.render()
}

// rank sorts the one the share would pick first, then usable interfaces, the one with the
// default route first among them.
func rank(f IfaceInfo) int {
	if f.Chosen {
		return -1
	}
	r := 0
	if f.Problem != "" {
		r += 2
	}
	if !f.Default {
		r++
	}
	return r
}

func ifaceOption(f IfaceInfo) string {
	addr := "no IPv4 address"
	if f.Addr.IsValid() {
		addr = f.Addr.String()
	}
	link := "link up"
	switch {
	case !f.Up:
		link = "down"
	case !f.Link:
		link = "no link"
	}
	return fmt.Sprintf("%s — %s — %s", f.Name, addr, link)
}

func (u *UI) find(name string) *IfaceInfo {
	for i := range u.ifaces {
		if u.ifaces[i].Name == name {
			return &u.ifaces[i]
		}
	}
	return nil
}

func (u *UI) ifaceChosen(opt string) {
	for _, f := range u.ifaces {
		if ifaceOption(f) == opt && f.Name != u.iface {
			u.iface = f.Name
			u.userPick = true
			u.runCheck()
		}
	}
	u.render()
}

func (u *UI) runCheck() {
	if u.checkStop != nil {
		u.checkStop()
		u.checkStop = nil
	}
	u.check, u.checkErr = nil, nil
	f := u.find(u.iface)
	if f == nil || f.Problem != "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	u.checkStop = cancel
	name := u.iface
	go func() {
		res, err := u.eng.CheckDHCP(ctx, name)
		u.post(func() {
			if name != u.iface || ctx.Err() == context.Canceled {
				return // a newer check runs
			}
			u.check, u.checkErr = &res, err
			u.render()
			// The same words as the window shows, for the log and for tests that read it.
			u.log.Info("DHCP check", "iface", name, "shown", u.checkLabel.Text)
		})
	}()
}

// --- sharing ---

// Sharing tells whether a share runs.
func (u *UI) Sharing() bool { return u.sharing }

// StartShare starts sharing the medium on the chosen interface; the Share button and the tray's
// Start item call it. When something is missing it shows the window and says what.
func (u *UI) StartShare() {
	if u.sharing {
		return
	}
	if why := u.blocker(); why != "" {
		u.ShowWindow()
		dialog.ShowInformation("Cannot share yet", why, u.win)
		return
	}
	f := u.find(u.iface)
	ctx, cancel := context.WithCancel(context.Background())
	u.sharing, u.serving, u.server = true, false, f.Addr
	u.mu.Lock()
	u.shareStop = cancel
	u.mu.Unlock()
	u.shareGen++
	gen := u.shareGen
	u.clients, u.order, u.selected = map[string]*client{}, nil, ""
	// The room's seats are listed before they boot, so Wake all switches a cold room on.
	for _, st := range u.eng.Seats() {
		key := st.MAC.String()
		u.clients[key] = &client{mac: key, seat: st.Name}
		u.order = append(u.order, key)
	}
	u.table.UnselectAll()
	u.wakeLabel.SetText("")
	var sources []string
	u.sharedNames, u.inUse = nil, map[string]string{}
	for _, m := range u.shareable() {
		sources = append(sources, m.source)
		u.sharedNames = append(u.sharedNames, m.info.Name)
	}
	u.sharedSrcs = sources
	iface := u.iface
	req := ShareRequest{Sources: sources, Iface: iface, Full: u.full(), WithChanges: u.withChanges()}
	if req.Full && u.internetCheck.Checked && !u.internetCheck.Disabled() {
		req.Internet = u.check.Uplink
	}
	u.sharedFull, u.sharedInternet = req.Full, req.Internet
	u.log.Info("sharing from the window", "media", sources, "iface", iface, "full", req.Full, "internet", req.Internet)
	u.running.Add(1)
	go func() {
		req.Serving = func() {
			u.post(func() {
				// Not after Stop: that share's "can boot" would be a lie on the idle window.
				if gen == u.shareGen && u.sharing {
					u.serving = true
					u.render()
					// The words the window now shows, for the log and for tests that read it.
					u.log.Info("clients can boot", "iface", iface, "shown", u.sharingHelp.Text)
				}
			})
		}
		req.OnEvent = func(e netboot.Event) { u.post(func() { u.event(gen, e) }) }
		req.OnMedia = func(e netboot.MediaEvent) { u.post(func() { u.mediaEvent(gen, e) }) }
		err := u.eng.Share(ctx, req)
		u.running.Done()
		u.post(func() { u.shareEnded(gen, err) })
	}()
	go u.tick(ctx)
	u.render()
}

// StopShare stops the share; every socket closes before Share returns.
func (u *UI) StopShare() {
	if !u.sharing {
		return
	}
	u.shareStop()
	u.sharing = false
	u.render()
}

func (u *UI) shareEnded(gen int, err error) {
	if gen != u.shareGen {
		return
	}
	wasSharing := u.sharing
	u.sharing = false
	if u.shareStop != nil {
		u.shareStop()
	}
	u.render()
	if err != nil && !u.quitting() {
		title := "Could not share this CD"
		if !wasSharing {
			title = "Sharing stopped"
		}
		// The dialog's words too: the log then says what the person was told.
		u.log.Error("share stopped", "err", err, "title", title, "shown", shareProblem(err))
		u.ShowWindow()
		dialog.ShowInformation(title, shareProblem(err), u.win)
	}
}

// shareProblem words why a share stopped for a desktop user: what is wrong, from the engine,
// and the one thing to do about it, in the window's words (no command-line flags).
func shareProblem(err error) string {
	msg := oneLine(err)
	var pe *netboot.PortError
	switch {
	case errors.Is(err, netboot.ErrFirewallBlocks), errors.Is(err, netboot.ErrFirewallUnknown):
		return msg + " Allow Share This CD in this computer's firewall settings (or install the sharecd package, " +
			"which lets it open its own ports while it shares), then press Share again."
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		return msg + " Install the sharecd package, which allows it to use the network-boot ports, then start it again."
	case errors.As(err, &pe) && errors.Is(err, syscall.EADDRINUSE):
		return msg + " Close that program (or the network sharing that started it), then press Share again."
	case errors.Is(err, netboot.ErrOtherPXEServer), errors.Is(err, netboot.ErrLocalConflict):
		return msg + " Switch the other one off, then press Share again."
	case errors.Is(err, netboot.ErrNoDHCPServer):
		return msg + " Connect this computer to the network with your router, then press Share again."
	}
	return msg
}

// tick refreshes "last seen" while sharing.
func (u *UI) tick(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			u.post(func() {
				if u.sharing {
					u.table.Refresh()
				}
			})
		}
	}
}

func (u *UI) event(gen int, e netboot.Event) {
	if gen != u.shareGen || !u.sharing {
		return
	}
	key := e.IP.String()
	if e.MAC != nil {
		key = e.MAC.String()
		// A client first seen by IP only (TFTP before the neighbour table knew it) is merged.
		if ipc, ok := u.clients[e.IP.String()]; ok && e.IP.IsValid() {
			delete(u.clients, e.IP.String())
			u.clients[key] = ipc
			if u.selected == e.IP.String() {
				u.selected = key
			}
			for i, k := range u.order {
				if k == e.IP.String() {
					u.order[i] = key
				}
			}
		}
	}
	c, ok := u.clients[key]
	if !ok {
		c = &client{}
		u.clients[key] = c
		u.order = append(u.order, key)
	}
	if e.MAC != nil {
		c.mac = e.MAC.String()
	}
	if e.Seat != "" {
		c.seat = e.Seat
	}
	if e.IP.IsValid() && !e.IP.IsUnspecified() {
		c.ip = e.IP.String()
	}
	c.stage, c.detail, c.lastSeen = e.Stage, e.Detail, e.Time
	if c.lastSeen.IsZero() {
		c.lastSeen = u.now()
	}
	c.files++
	u.render()
}

// blocker is why sharing cannot start now, or "".
// withChanges: the user ticked "Boot them into this session", which is offered only where the
// running medium is shared first (the layer goes on the first medium) and can be.
func (u *UI) withChanges() bool {
	m := u.shareable()
	return u.changesCheck.Checked && u.changesErr == nil && len(m) > 0 && m[0].source == netboot.Running
}

// renderChanges shows the changes checkbox only with the running medium first; where the session
// cannot be shared its text says why, and it cannot be ticked.
func (u *UI) renderChanges() {
	m := u.shareable()
	if len(m) == 0 || m[0].source != netboot.Running || u.sharing {
		u.changesCheck.Hide()
		return
	}
	u.changesCheck.Text = "Boot them into this session as it is now (its settings, programs and files)"
	if u.changesErr != nil {
		u.changesCheck.Text += ": " + oneLine(u.changesErr)
		u.changesCheck.Checked = false // not SetChecked: its OnChanged renders again
	}
	setEnabled(u.changesCheck, u.changesErr == nil)
	u.changesCheck.Show()
	u.changesCheck.Refresh()
}

// full: the user ticked "Hand out addresses" where the check found no DHCP server.
func (u *UI) full() bool {
	return u.check != nil && u.check.NoDHCPServer && u.fullCheck.Checked
}

// renderFull offers full mode only where the check found no DHCP server (never beside one),
// and internet sharing only with it; both are fixed while a share runs.
func (u *UI) renderFull() {
	if u.check == nil || !u.check.NoDHCPServer {
		u.fullCheck.Hide()
		u.internetCheck.Hide()
		u.internetNote.Hide()
		return
	}
	u.fullCheck.Show()
	setEnabled(u.fullCheck, !u.sharing)
	if !u.fullCheck.Checked {
		u.internetCheck.Hide()
		u.internetNote.Hide()
		return
	}
	u.internetNote.SetText(u.check.UplinkProblem)
	u.internetNote.Hidden = u.check.UplinkProblem == ""
	if u.check.Uplink == "" {
		u.internetCheck.Hide()
		return
	}
	u.internetCheck.Text = "Let the machines reach the internet through " + u.check.Uplink
	u.internetCheck.Show()
	setEnabled(u.internetCheck, !u.sharing)
	u.internetCheck.Refresh()
}

func setEnabled(w fyne.Disableable, on bool) {
	if on {
		w.Enable()
	} else {
		w.Disable()
	}
}

func (u *UI) blocker() string {
	if p := u.mediumProblem(); p != "" {
		return p
	}
	if u.opts.Privilege != "" {
		return u.opts.Privilege
	}
	f := u.find(u.iface)
	switch {
	case len(u.ifaces) == 0:
		return "No network interface was found. Connect this computer to the network the other machines are on."
	case f == nil:
		return "Choose the network interface the other machines are connected to."
	case f.Problem != "":
		return oneLine(errors.New(f.Problem))
	}
	return ""
}

// --- waking clients ---

// macs returns the MACs of the clients with these keys; a client known only by its address
// cannot be woken (a magic packet names the MAC).
func (u *UI) macs(keys ...string) []net.HardwareAddr {
	var out []net.HardwareAddr
	for _, k := range keys {
		if c := u.clients[k]; c != nil && c.mac != "" {
			if m, err := net.ParseMAC(c.mac); err == nil {
				out = append(out, m)
			}
		}
	}
	return out
}

func (u *UI) wakeSelected() { u.wake(u.macs(u.selected)) }
func (u *UI) wakeEvery()    { u.wake(u.macs(u.order...)) }

// wake asks the engine to wake the machines on the shared interface: the window sends nothing
// itself. Sending takes milliseconds, but a socket is not opened on fyne's goroutine.
func (u *UI) wake(macs []net.HardwareAddr) {
	if len(macs) == 0 || !u.sharing {
		return
	}
	iface := u.iface
	u.wakeLabel.SetText("Waking…")
	go func() {
		err := u.eng.Wake(iface, macs)
		u.post(func() { u.woken(iface, macs, err) })
	}()
}

func (u *UI) woken(iface string, macs []net.HardwareAddr, err error) {
	names := make([]string, len(macs))
	for i, m := range macs {
		names[i] = m.String()
	}
	if err != nil {
		u.log.Warn("wake failed", "iface", iface, "macs", names, "err", err)
		u.wakeLabel.SetText("")
		u.ShowWindow()
		dialog.ShowInformation("Could not wake the machines", wakeProblem(err), u.win)
		return
	}
	u.log.Info("woke from the window", "iface", iface, "macs", names)
	what := "1 machine (" + names[0] + ")"
	if len(macs) > 1 {
		what = fmt.Sprintf("%d machines", len(macs))
	}
	// A wake is never answered: say what was sent and what makes it work, not that it worked.
	u.wakeLabel.SetText("Sent a wake-up packet to " + what + " on " + iface +
		". Machines with Wake-on-LAN enabled in their firmware switch on within a few seconds.")
	// Laid out again: the wrapped text's second line was drawn under the Wake buttons.
	u.sharingBox.Refresh()
}

// wakeProblem words why a wake failed for a desktop user, with the one thing to do about it.
func wakeProblem(err error) string {
	msg := oneLine(err)
	if errors.Is(err, netboot.ErrWakePermission) {
		return msg + " Install the sharecd package, which allows it to send on the network, then start it again."
	}
	return msg
}

// renderWake enables Wake for a selected client with a MAC and Wake all when any has one.
func (u *UI) renderWake() {
	if len(u.macs(u.selected)) > 0 {
		u.wakeButton.Enable()
	} else {
		u.wakeButton.Disable()
	}
	if len(u.macs(u.order...)) > 0 {
		u.wakeAll.Enable()
	} else {
		u.wakeAll.Disable()
	}
}

// --- showing it all ---

// render makes every widget show the current state.
func (u *UI) render() {
	u.renderMedia()

	// interface
	if f := u.find(u.iface); f != nil {
		if f.Problem != "" {
			u.ifaceDetail.SetText(oneLine(errors.New(f.Problem)))
		} else {
			u.ifaceDetail.SetText(fmt.Sprintf("Other machines on the network of %s will be able to boot from this computer (%s).", f.Name, f.Addr.Addr()))
		}
	} else if len(u.ifaces) > 0 {
		// nothing usable preselected: say why the best one is not
		if u.ifaces[0].Problem != "" {
			u.ifaceDetail.SetText("No interface can be shared on now: " + oneLine(errors.New(u.ifaces[0].Problem)))
		} else {
			u.ifaceDetail.SetText("")
		}
	}

	// DHCP check
	switch {
	case u.find(u.iface) == nil || u.find(u.iface).Problem != "":
		u.checkLabel.SetText("")
		u.checkLabel.Importance = widget.MediumImportance
	case u.checkErr != nil:
		u.checkLabel.SetText("The network could not be checked for other DHCP servers: " + oneLine(u.checkErr))
		u.checkLabel.Importance = widget.WarningImportance
	case u.check == nil:
		u.checkLabel.SetText("Checking the network for other DHCP and network-boot servers…")
		u.checkLabel.Importance = widget.MediumImportance
	default:
		c := u.check
		text := c.Summary
		if c.Mode != "" {
			text += "\nMode: " + c.Mode + "."
		}
		switch {
		case u.full():
			// The user answered the check: no warning left to give.
			text += "\nMode: full DHCP: this computer hands out addresses to the machines itself."
			u.checkLabel.Importance = widget.MediumImportance
		case c.Conflict:
			text += "\n" + c.Advice
			u.checkLabel.Importance = widget.WarningImportance
		default:
			u.checkLabel.Importance = widget.MediumImportance
		}
		u.checkLabel.SetText(text)
	}
	u.checkLabel.Refresh()
	u.renderFull()
	u.renderChanges()

	// share button and the two faces
	if u.blocker() == "" {
		u.shareButton.Enable()
	} else {
		u.shareButton.Disable()
	}
	u.placeMediaCard()
	if u.sharing {
		u.idleBox.Hide()
		u.sharingBox.Show()
		var notes []string
		for _, m := range u.media {
			if n := u.inUse[m.source]; n != "" {
				notes = append(notes, n)
			}
		}
		for src, n := range u.inUse {
			if !slices.ContainsFunc(u.media, func(m *mediumRow) bool { return m.source == src }) {
				notes = append(notes, n)
			}
		}
		slices.Sort(notes)
		u.inUseLabel.SetText(strings.Join(notes, "\n"))
		if len(notes) > 0 {
			u.inUseLabel.Show()
		} else {
			u.inUseLabel.Hide()
		}
		addr := u.server.Addr().String()
		u.sharingTitle.SetText(fmt.Sprintf("Sharing %s on %s (this computer: %s)", andList(u.sharedNames), u.iface, addr))
		if u.serving {
			addrs := "They keep getting their own address from your router; they load everything from " + addr + "."
			if u.sharedFull {
				addrs = "This computer hands out their addresses too, as this network has no DHCP server; they load everything from " + addr + "."
				if u.sharedInternet != "" {
					addrs += " They reach the internet through this computer's " + u.sharedInternet + "."
				}
			}
			u.sharingHelp.SetText("Other machines on this network can now boot this live system: switch one on and choose network boot (PXE) in its boot menu. " + addrs)
		} else {
			// Not "can boot" before the engine says so: the LAN check, the ports and the
			// firewall may still refuse the share.
			u.sharingHelp.SetText("Starting: checking the network, opening the ports and this computer's firewall…")
		}
		if len(u.order) == 0 {
			u.noClients.Show()
		} else {
			u.noClients.Hide()
		}
		u.renderWake()
		u.table.Refresh()
		// Laid out again: the list of media and the wrapped notes above the machines change
		// height with their texts, and a stale layout drew them over the table.
		u.sharingBox.Refresh()
	} else {
		u.sharingBox.Hide()
		u.idleBox.Show()
		u.cards.Refresh()
	}
	if u.tray != nil {
		u.tray.update()
	}
}

// ShowWindow shows the window and brings it to the front.
func (u *UI) ShowWindow() {
	u.win.Show()
	u.win.RequestFocus()
}

// closeWindow: closing the window while sharing keeps the share running in the tray when there is
// one; otherwise it asks before stopping. When idle it quits (in --tray mode it just hides).
func (u *UI) closeWindow() {
	switch {
	case u.tray != nil:
		u.win.Hide()
	case u.sharing:
		dialog.ShowConfirm("Stop sharing?", "Closing the window stops sharing this CD. Machines still booting from it will fail.", func(ok bool) {
			if ok {
				u.Quit()
			}
		}, u.win)
	default:
		u.Quit()
	}
}

// Quit stops the share and quits. It is safe at any moment, even in the window's first frame: it
// stops fyne's loop through the driver and leaves the windows for glfw.Terminate to destroy.
// App.Quit closes every window first, and a cursor event the loop still polls before it stops
// then reaches a closed window's nil view and panics (fyne 2.7.1, fyne-io/fyne#5981; about one
// quit in ten within a frame of the window appearing under the pointer, under Xvfb).
func (u *UI) Quit() {
	if !u.quitting() {
		close(u.quit)
	}
	if u.sharing {
		u.StopShare()
	}
	u.Shutdown()
	u.app.Driver().Quit()
}

// andList joins names the way a sentence lists them: "A", "A and B", "A, B and C".
func andList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

func oneLine(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if s != "" {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}
