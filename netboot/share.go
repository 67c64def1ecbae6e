// Package netboot is the engine of sharecd: it finds the medium, builds the network boot menus
// and serves them with proxy-DHCP, TFTP and NFS under one context. The GUI and the headless
// --share flag both drive the same Share type; nothing here knows about fyne.
//
// One share's path is one file a step, in the order the folder lists them:
//
//	share.go           Share (the settings) and Run, the path in a few lines
//	step1_source.go    open the medium and find its boot menu and family
//	step2_network.go   choose the interface, check the LAN, settle the DHCP mode
//	step3_plan.go      build the plan once: the network menus, the TFTP tree, the boot stages
//	step3_chains.go    which loader each client is offered, and what Secure Boot allows
//	step4_changes.go   the live session's changes as one more root layer of the first medium
//	step4_serve.go     open every socket, then start every server
//	step4_dhcp.go      the DHCP side: proxy, or full server plus the watch for a rival
//	step4_files.go     TFTP, HTTP, NFS and the portmapper, and which fetch is which stage
//	step4_host.go      what a share changes on the host: the firewall, full mode's address
//	step4_media.go     media added and removed while serving: a new plan swapped in whole
//	step5_events.go    each client's progress, once per stage
//
// describe.go reads the same plan for --detect and --boot-tree; iface.go and
// limits*.go are the interface lookup and the file-limit bounds the steps use.
package netboot

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/sharecd/sharecd/netboot/netcheck"
	"github.com/sharecd/sharecd/netboot/seats"
)

// Export is the NFS path clients mount the medium's root from (nfsroot=IP:/sharecd).
const Export = "/sharecd"

// Ports are the well-known ports of a share; tests on loopback move them.
type Ports struct{ DHCP, PXE, TFTP, NFS, Portmap, HTTP int }

// uses is the one list of the ports a share binds: what the LAN check looks for local holders
// of, and what the firewall opens. HTTP is in it unless no client fetches over HTTP (http
// false: --tftp-only on a medium whose initrd fetches nothing by URL).
func (p Ports) uses(http bool) []netcheck.SharePort {
	l := []netcheck.SharePort{
		{Proto: "udp", Port: p.DHCP, Service: "DHCP"},
		{Proto: "udp", Port: p.TFTP, Service: "TFTP"},
		{Proto: "udp", Port: p.Portmap, Service: "portmapper"},
		{Proto: "udp", Port: p.PXE, Service: "PXE boot server"},
		{Proto: "tcp", Port: p.Portmap, Service: "portmapper"},
		{Proto: "tcp", Port: p.NFS, Service: "NFS"},
	}
	if http {
		l = append(l, netcheck.SharePort{Proto: "tcp", Port: p.HTTP, Service: "HTTP"})
	}
	return l
}

// DefaultPorts are the ports PXE ROMs and klibc's nfsmount insist on, and HTTP's: the menus
// name no port in the URLs they give dracut's livenet.
func DefaultPorts() Ports {
	return Ports{DHCP: 67, PXE: 4011, TFTP: 69, NFS: 2049, Portmap: 111, HTTP: 80}
}

// Share serves one live medium to the LAN behind one interface. Zero fields mean "default".
// Only cmd fills it from flags and the environment; nothing in the engine reads either.
type Share struct {
	// Sources are the media to share, in menu order: directories, ISO files, block devices,
	// directories of ISO files, or Running; none = the running live medium.
	Sources     []string
	Iface       string         // "" = the only usable interface
	MenuTimeout int            // seconds before the default entry boots; 0 = 10
	Allow       []netip.Prefix // clients served besides the interface's own subnet
	Log         *slog.Logger
	OnEvent     func(Event) // each client's progress; nil = log only
	// OnServing is called once every server listens and the firewall lets clients through:
	// only then may a face say that clients can boot.
	OnServing func()
	// Live, when set, changes the media while Run serves (Live.SetSources); OnMedia is told of
	// each medium added, removed, or removed from the menus but still in use. A medium taken
	// out stays served until no client has used it for MediaIdle (0 = NFS's idle timeout, 10 min).
	Live      *Live
	OnMedia   func(MediaEvent)
	MediaIdle time.Duration

	// Seats name the room's machines by MAC (the seats file): each seat's hostname, default
	// entry and kernel arguments, or no answer at all. Nil: every client boots the same.
	Seats *seats.Seats

	// DHCPMode is how the share takes part in DHCP ("" = DHCPAuto); see decide.
	DHCPMode DHCPMode
	// NoFirewallChanges leaves the host firewall alone and only logs what would block clients.
	NoFirewallChanges bool
	// TFTPBoot sends kernels and initrds over TFTP instead of HTTP (port 80 is then not needed,
	// except by dracut media, whose initrd fetches its image by URL).
	TFTPBoot bool
	// NoIPXEScript leaves iPXE out: BIOS clients get pxelinux.0, not BIOSIPXE (plain PXE ROMs)
	// or BIOSScript (iPXE ROMs), and UEFI clients GRUB, not UEFIIPXE.
	NoIPXEScript bool
	// TFTPWindow is the largest RFC 7440 windowsize granted to a TFTP client that asks for one;
	// 0 = tftp.DefaultWindow, 1 = every client lock-step. Clients that do not ask (pxelinux,
	// GRUB, iPXE) are lock-step whatever it is, so the old send-ahead's failure is gone: pin/tftp's
	// own send-ahead (SetAnticipate) ignored the ACKs a client sent after a lost block and failed
	// the transfer (e2e TestTFTPOnALossyLAN), and GRUB 2.06, which cannot ask, crawled under it
	// (an 8 MB kernel in 114 s instead of 7 s). A negotiated window goes back to the block after
	// the client's ACK (third_party/pin-tftp).
	TFTPWindow uint
	// ShareInternet lets full mode's clients out through this other interface of the host,
	// masqueraded, and names this host their router and the host's DNS servers theirs
	// (step4_internet.go); "" = the room stays isolated. Only with DHCPFull.
	ShareInternet string
	// FullAddr is the address full mode gives an interface without IPv4; zero = DefaultFullAddr().
	FullAddr netip.Prefix
	// LeaseFile keeps full mode's leases; "" = leases-IFACE.json in StateDir.
	LeaseFile string
	// StateDir keeps what must outlive a restart (full mode's leases); "" = /var/lib/sharecd.
	StateDir string
	// RunDir records what a share changed on the host (firewalld's rules), so that the next
	// start after a kill takes it back; "" = /run/sharecd.
	RunDir string
	// ChangesFrom is an overlay upper directory (a live session's writable layer, or its
	// persistence's) that clients get over the first medium, as a snapshot taken when the share
	// starts; WithChanges finds the running live session's own. Both "" and false: the medium
	// as it is.
	ChangesFrom string
	WithChanges bool
	// CheckWait is how long the LAN check listens (0 = CheckWait); WatchEvery how often full
	// mode looks for a new DHCP server (0 = 30 s).
	CheckWait, WatchEvery time.Duration
}

// Run shares until ctx ends and closes everything it opened. Each step fails with one line
// saying what is wrong: the medium first (a wrong --source is the likelier mistake), then the
// interface and the LAN, and only then are menus built and sockets opened.
func (s *Share) Run(ctx context.Context) error {
	if err := s.checkShareInternet(); err != nil {
		return err
	}
	srcs, skipped, err := openSources(s.Sources) // step 1
	if err != nil {
		return err
	}
	defer closeSources(srcs)
	for _, line := range skipped {
		s.logger().Warn(line)
	}
	ch, err := s.findChanges(srcs) // before the LAN is checked: a medium that cannot take them is a quick no
	if err != nil {
		return err
	}
	n, err := s.network(ctx) // step 2
	if err != nil {
		return err
	}
	p, err := s.plan(srcs, n) // step 3
	if err != nil {
		return err
	}
	for _, w := range p.Warnings {
		s.logger().Warn(w)
	}
	remove, err := ch.share(ctx, p, s.runDir(), s.logger()) // step 4
	if err != nil {
		return err
	}
	defer remove()
	return s.serve(ctx, p, DefaultPorts()) // step 4, whose servers report step 5
}

func (s *Share) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}
