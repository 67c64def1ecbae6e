// Command sharecd turns a running live CD/USB, or a live ISO file, into a network-boot server so
// other machines on the LAN boot the same live system.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/sharecd/sharecd/netboot"
	"github.com/sharecd/sharecd/netboot/seats"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise the module version.
var version = ""

const usage = `Share This CD: boot other machines on this LAN from this live system.

Usage:
  sharecd [--source PATH] [--iface NAME]     open the "Share This CD" window (needs a display)
  sharecd --tray [--source PATH]             only the tray icon (Start/Stop, Show window, Quit)
  sharecd --share [--source PATH] [--iface NAME] [options]

  sharecd --detect [--source PATH] [--json]
  sharecd --check-dhcp [--iface NAME] [--json]
  sharecd --boot-tree DIR --server-ip IP [--source PATH] [--menu-timeout SECS]
  sharecd --wake MAC[,MAC...]|all --iface NAME

  --share              share the medium headless until Ctrl-C or SIGTERM
  --detect             print what would be shared: family, medium, label, boot entries
  --check-dhcp         probe the LAN for other DHCP/PXE servers and this host for busy ports, and
                       say what a share with the same options would do: exit 0 when it would
                       share, 1 when it would refuse, 3 when the check could not run
  --json               with --detect or --check-dhcp: the same as JSON, for scripts
  --dhcp-mode MODE     auto (default): proxy-DHCP next to the LAN's DHCP server, refused when
                       another PXE server or no DHCP server answers; proxy: proxy-DHCP whatever
                       the check finds; full: sharecd's own DHCP server for a network without
                       one (gives the interface 192.168.77.1/24 if it has no IPv4); off: no DHCP,
                       point your own DHCP server at this machine
  --share-internet IFACE
                       with --dhcp-mode full: let the room's clients out through this other
                       interface of the host (masqueraded, forwarding on for the two interfaces
                       only, runtime nftables rules taken back on stop); their DHCP answer names
                       this host as the router and the host's DNS servers (none when it has only
                       a local stub resolver); needs root
  --lease-file PATH    where full mode keeps its leases (default /var/lib/sharecd/leases-IFACE.json)
  --dhcp-watch DUR     how often full mode checks for another DHCP server appearing (default 30s)
  --boot-tree DIR      write the TFTP tree (loaders, network menus, kernels, initrds) into DIR
                       for your own TFTP/DHCP servers, and exit
  --server-ip IP       with --boot-tree: the address clients reach this machine's NFS export at
  --wake MACS          switch machines on with a Wake-on-LAN packet sent only on --iface, and
                       exit (0 when sent, 1 when not); MACS is MAC[,MAC...] or "all": every
                       machine full DHCP mode leased an address to on that interface (from its
                       lease file: sharecd keeps no other list of clients yet)
  --source PATH        a mounted medium directory, an ISO file, a block device such as /dev/sr0,
                       or a directory of ISO files (each live ISO in it); repeat it to share
                       several media from one menu; "running" is the live medium this system
                       booted from, the default when no --source is given
  --with-changes       boot the clients into this live session as it is now: a snapshot of what
                       the session changed (settings, printers, packages), taken at start and
                       stacked read-only over the first medium's root; secrets, host keys, IDs
                       and logs are left out; live-boot and casper media without layers; root
  --changes-from DIR   the same with this overlay upper directory (a persistence's, say)
  --iface NAME         the LAN interface to serve on (default: the only one that is up with IPv4)
  --menu-timeout SECS  seconds before clients boot the default entry (default 10)
  --allow CIDR         also serve clients from this network (repeatable)
  --seats FILE         the room's machines by MAC, each with its hostname, default menu entry,
                       extra kernel arguments, or "boot": false for no answer at all (JSON; see
                       the man page; default /etc/sharecd/seats.json, if it exists)
  --tftp-only          send kernels and initrds over TFTP too, not HTTP (when port 80 is taken;
                       clients then boot slower)
  --no-ipxe-script     leave iPXE out: BIOS clients get pxelinux.0, which fetches the kernel and
                       initrd over TFTP, not iPXE (undionly.kpxe, or an iPXE ROM's own) with a
                       script that fetches them over HTTP, and UEFI clients our GRUB, not iPXE
                       (snponly.efi)
  --tftp-window N      the largest TFTP window (RFC 7440 windowsize) a client that asks for one
                       gets (default 16; OVMF asks for 4); clients that do not ask stay lock-step;
                       1 keeps every client lock-step
  --no-firewall-changes
                       leave this host's firewall alone; only say what would block clients
                       (by default sharecd lets its clients through while it shares)
  --debug              also log why packets were ignored
  --version            print the version and exit
  --help               this help

Sharing binds the privileged ports 67, 69, 80, 111, 2049 and 4011: run it with sudo.
`

type prefixes []netip.Prefix

func (p *prefixes) String() string { return fmt.Sprint(*p) }
func (p *prefixes) Set(s string) error {
	pr, err := netip.ParsePrefix(s)
	if err != nil {
		return fmt.Errorf("not a network in CIDR form (like 10.0.0.0/8): %q", s)
	}
	*p = append(*p, pr.Masked())
	return nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("sharecd", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	var (
		share, showVersion, debugLog bool
		detect, asJSON, checkDHCP    bool
		dhcpMode                     string
		bootTree, serverIP           string
		wake                         string
		seatsFile                    string
		s                            netboot.Share
		allow                        prefixes
	)
	fl.BoolVar(&share, "share", false, "")
	fl.Func("source", "", func(v string) error {
		if v == "" {
			return errors.New("empty path")
		}
		s.Sources = append(s.Sources, v)
		return nil
	})
	fl.StringVar(&s.Iface, "iface", "", "")
	fl.BoolVar(&s.WithChanges, "with-changes", false, "")
	fl.StringVar(&s.ChangesFrom, "changes-from", "", "")
	fl.IntVar(&s.MenuTimeout, "menu-timeout", 10, "")
	fl.Var(&allow, "allow", "")
	fl.BoolVar(&s.NoFirewallChanges, "no-firewall-changes", false, "")
	fl.UintVar(&s.TFTPWindow, "tftp-window", 0, "")
	fl.BoolVar(&s.TFTPBoot, "tftp-only", false, "")
	fl.BoolVar(&s.NoIPXEScript, "no-ipxe-script", false, "")
	fl.BoolVar(&debugLog, "debug", false, "")
	fl.BoolVar(&showVersion, "version", false, "")
	tray := fl.Bool("tray", false, "")
	fl.BoolVar(&detect, "detect", false, "")
	fl.BoolVar(&asJSON, "json", false, "")
	fl.BoolVar(&checkDHCP, "check-dhcp", false, "")
	fl.StringVar(&dhcpMode, "dhcp-mode", "auto", "")
	fl.StringVar(&s.LeaseFile, "lease-file", "", "")
	fl.StringVar(&s.ShareInternet, "share-internet", "", "")
	fl.DurationVar(&s.WatchEvery, "dhcp-watch", 30*time.Second, "")
	fl.StringVar(&bootTree, "boot-tree", "", "")
	fl.StringVar(&serverIP, "server-ip", "", "")
	fl.StringVar(&wake, "wake", "", "")
	fl.StringVar(&seatsFile, "seats", "", "")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "sharecd: %v (see sharecd --help)\n", err)
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "sharecd: unexpected argument %q (see sharecd --help)\n", fl.Arg(0))
		return 2
	}
	// One mode a run: before, the first the switch below came to won and the others were
	// silently dropped (--detect --share detected and exited).
	var modes []string
	for _, m := range []struct {
		flag string
		on   bool
	}{{"--share", share}, {"--tray", *tray}, {"--detect", detect}, {"--check-dhcp", checkDHCP}, {"--boot-tree", bootTree != ""}, {"--wake", wake != ""}} {
		if m.on {
			modes = append(modes, m.flag)
		}
	}
	if len(modes) > 1 {
		fmt.Fprintf(stderr, "sharecd: %s and %s do not go together: choose one (see sharecd --help)\n", modes[0], modes[1])
		return 2
	}
	changesFlag := "--with-changes"
	if s.ChangesFrom != "" {
		changesFlag = "--changes-from"
	}
	switch {
	case s.WithChanges && s.ChangesFrom != "":
		fmt.Fprintln(stderr, "sharecd: --with-changes and --changes-from do not go together: choose one (see sharecd --help)")
		return 2
	case (s.WithChanges || s.ChangesFrom != "") && len(modes) == 1 && modes[0] != "--share" && modes[0] != "--tray":
		// --detect and --boot-tree describe the medium alone; a snapshot is taken only to share it.
		fmt.Fprintf(stderr, "sharecd: %s goes with --share, not %s (see sharecd --help)\n", changesFlag, modes[0])
		return 2
	}
	if showVersion {
		fmt.Fprintln(stdout, "sharecd", buildVersion())
		return 0
	}
	if s.MenuTimeout < 1 {
		fmt.Fprintln(stderr, "sharecd: --menu-timeout must be at least 1 second")
		return 2
	}
	mode, err := netboot.ParseDHCPMode(dhcpMode)
	if err != nil {
		fmt.Fprintf(stderr, "sharecd: --dhcp-mode: %v\n", err)
		return 2
	}
	s.DHCPMode, s.Allow = mode, allow
	s.StateDir, s.RunDir = stateDirs(os.Getenv, os.Geteuid())
	if msg := internetNeedsRoot(s.ShareInternet, os.Geteuid()); msg != "" {
		fmt.Fprintln(stderr, "sharecd:", msg)
		return 1
	}
	switch {
	case detect:
		return runDetect(s.Sources, asJSON, stdout, stderr)
	case checkDHCP:
		return runCheckDHCP(s, asJSON, stdout, stderr)
	case bootTree != "":
		return runBootTree(s.Sources, bootTree, serverIP, s.MenuTimeout, stdout, stderr)
	case wake != "":
		if s.Seats, err = loadSeats(seatsFile); err != nil { // "all" wakes the seats too
			fmt.Fprintln(stderr, "sharecd:", err)
			return 1
		}
		return runWake(s, wake, stdout, stderr) // wake.go
	case !share && !*tray && !hasDisplay():
		fmt.Fprint(stderr, usage)
		return 2
	}

	// Read before anything is served, so that a bad file stops the start with one line.
	if s.Seats, err = loadSeats(seatsFile); err != nil {
		fmt.Fprintln(stderr, "sharecd:", err)
		return 1
	}

	level := slog.LevelInfo
	if debugLog {
		level = slog.LevelDebug
	}
	s.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if !share {
		return runGUI(ctx, s, *tray, stderr) // gui.go: the window, or only the tray with --tray
	}
	// SIGHUP reads the sources again while sharing (reread.go).
	s.Live = &netboot.Live{}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go rereadOnSignal(ctx, hup, s.Live, s.Sources, s.Log)
	if err := s.Run(ctx); err != nil {
		fmt.Fprintln(stderr, "sharecd:", withAdvice(err, s))
		return 1
	}
	return 0
}

// loadSeats reads the seats file named by --seats, else the default one if it exists.
func loadSeats(name string) (*seats.Seats, error) {
	if name == "" {
		return seats.Load(seats.DefaultFile, true)
	}
	return seats.Load(name, false)
}

// stateDirs are where a share keeps its leases and records its firewall changes: systemd's
// StateDirectory= when it runs sharecd as a service, else /var/lib/sharecd for leases, and
// /run/sharecd for the firewall record, or the user's runtime directory for a desktop user.
func stateDirs(getenv func(string) string, euid int) (state, run string) {
	if d := getenv("STATE_DIRECTORY"); d != "" {
		return d, d
	}
	run = "/run/sharecd"
	if x := getenv("XDG_RUNTIME_DIR"); x != "" && euid != 0 {
		run = filepath.Join(x, "sharecd")
	}
	return "/var/lib/sharecd", run
}

// oneLine keeps an error to the single line the user reads.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// hasDisplay tells whether a window can open: without one, plain `sharecd` prints its usage.
func hasDisplay() bool {
	return os.Getenv("DISPLAY") != "" || os.Getenv("WAYLAND_DISPLAY") != ""
}
