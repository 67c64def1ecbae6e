// Package netboot is the engine of sharecd: it finds the medium, builds the network boot menus
// and serves them with proxy-DHCP, TFTP and NFS under one context. The GUI and the headless
// --share flag both drive the same Share type; nothing here knows about fyne.
package netboot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/iana"
	"golang.org/x/sync/errgroup"

	"github.com/sharecd/sharecd/assets"
	"github.com/sharecd/sharecd/netboot/bootmenu"
	"github.com/sharecd/sharecd/netboot/dhcp"
	"github.com/sharecd/sharecd/netboot/httpd"
	"github.com/sharecd/sharecd/netboot/medium"
	"github.com/sharecd/sharecd/netboot/netcheck"
	"github.com/sharecd/sharecd/netboot/nfs"
	"github.com/sharecd/sharecd/netboot/tftp"
)

// Export is the NFS path clients mount the medium's root from (nfsroot=IP:/sharecd).
const Export = "/sharecd"

// BIOSLoader is the boot file BIOS clients are offered. pxelinux.0, not lpxelinux.0: over TFTP
// it reached the kernel in 20 to 24 s in the lab, lpxelinux.0 over HTTP in 36 s.
const BIOSLoader = "pxelinux.0"

// BIOSScript is what BIOS clients whose ROM is iPXE are offered instead, where kernels go over
// HTTP: the same menu as an iPXE script, so that iPXE fetches the kernel and initrd over HTTP
// itself, with no loader in between and no TFTP round trip per block.
const BIOSScript = "boot.ipxe"

// Ports are the well-known ports of a share; tests on loopback move them.
type Ports struct{ DHCP, PXE, TFTP, NFS, Portmap, HTTP int }

// DefaultPorts are the ports PXE ROMs and klibc's nfsmount insist on, and HTTP's: the menus
// name no port in the URLs they give dracut's livenet.
var DefaultPorts = Ports{DHCP: 67, PXE: 4011, TFTP: 69, NFS: 2049, Portmap: 111, HTTP: 80}

// Share serves one live medium to the LAN behind one interface. Zero fields mean "default".
type Share struct {
	Source      string         // directory, ISO file or block device; "" = the running live medium
	Iface       string         // "" = the only usable interface
	MenuTimeout int            // seconds before the default entry boots; 0 = 10
	Allow       []netip.Prefix // clients served besides the interface's own subnet
	Log         *slog.Logger
	OnEvent     func(Event) // each client's progress; nil = log only

	// DHCPMode is how the share takes part in DHCP ("" = DHCPAuto); see Decide.
	DHCPMode DHCPMode
	// NoFirewallChanges leaves the host firewall alone and only logs what would block clients.
	NoFirewallChanges bool
	// TFTPBoot sends kernels and initrds over TFTP instead of HTTP (port 80 is then not needed,
	// except by dracut media, whose initrd fetches its image by URL).
	TFTPBoot bool
	// NoIPXEScript leaves iPXE out: iPXE ROMs get pxelinux.0 like every other BIOS ROM, not
	// BIOSScript, and UEFI clients GRUB, not UEFIIPXE.
	NoIPXEScript bool
	// TFTPWindow is how many TFTP blocks go out ahead of the client's ACKs; 0 and 1 are
	// lock-step, the default. Sending ahead is up to 2x faster on a clean LAN, but pin/tftp's
	// sender cannot recover from a lost packet: it waits for the ACK of each block of its window
	// in turn, ignores the client's later ACKs, and fails the transfer after its retries. A busy
	// switch loses packets exactly when a room boots at once (e2e TestTFTPOnALossyLAN). GRUB 2.06
	// crawls when sent ahead of (an 8 MB kernel in 114 s instead of 7 s).
	TFTPWindow uint
	// FullAddr is the address full mode gives an interface without IPv4; zero = DefaultFullAddr.
	FullAddr netip.Prefix
	// LeaseFile keeps full mode's leases; "" = $STATE_DIRECTORY or /var/lib/sharecd.
	LeaseFile string
	// CheckWait is how long the LAN check listens (0 = CheckWait); WatchEvery how often full
	// mode looks for a new DHCP server (0 = 30 s).
	CheckWait, WatchEvery time.Duration
}

// Plan is what a share will serve, worked out before any socket is opened.
type Plan struct {
	Iface   Iface
	AddAddr bool // full mode: Serve gives Iface its Addr and takes it away again
	DHCP    DHCPMode
	Report  *netcheck.Report // the LAN check Decide ran, if any

	Medium *medium.Medium
	Family bootmenu.Family
	Menu   *bootmenu.Menu // rewritten for the network
	// UEFIMenu is the menu UEFI clients get: the medium's GRUB menu, else Menu's source, rewritten.
	UEFIMenu *bootmenu.Menu

	Tree  fs.FS    // the TFTP root: generated menus over the loaders over the medium
	Files []string // every file of Tree a client may boot with: loaders, menus, kernels, initrds
	// Warnings are the medium's menu entries left out because a file they load is missing.
	Warnings []string
	// HTTP: GRUB fetches kernels and initrds by URL, or the family's initrd its root image
	// (dracut), so Serve also serves Tree over HTTP.
	HTTP bool
	// SecureBoot says whether clients with Secure Boot on can boot the medium's kernel.
	SecureBoot SecureBoot

	kernels, initrds map[string]bool // of Menu and UEFIMenu: which fetch is which boot stage

	// menus is Tree's generated layer; Serve renders its UEFIMenuFile for the chain it offers.
	menus tftp.Files
}

// signedChain says whether UEFI clients get Debian's signed shim and GRUB in a DHCP mode: where
// our answer names the TFTP server (see bootFileFor).
func signedChain(mode DHCPMode) bool { return mode == DHCPFull || mode == DHCPOff }

// Prepare checks the interface and the medium and builds the network menus. The caller closes
// the plan's medium.
func (s *Share) Prepare() (*Plan, error) {
	src, _, err := openSource(s.Source)
	if err != nil {
		return nil, err
	}
	p, err := s.prepare(src)
	if err != nil {
		src.med.Close()
		return nil, err
	}
	if s.Log != nil {
		for _, w := range p.Warnings {
			s.Log.Warn(w)
		}
	}
	return p, nil
}

// openSource opens the named medium, or the running live medium when name is empty, and finds
// its boot menu. The caller closes src.med.
func openSource(name string) (*source, *medium.Running, error) {
	var running *medium.Running
	if name == "" {
		r, err := medium.DetectRunning("/")
		if err != nil {
			return nil, nil, err
		}
		running, name = &r, r.Path
	}
	med, err := medium.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%s does not exist", name)
	}
	if err != nil {
		return nil, nil, err
	}
	src, err := inspect(med)
	if err != nil {
		med.Close()
		return nil, nil, err
	}
	return src, running, nil
}

// prepare checks the medium before the interface: a wrong --source is the likelier mistake, and
// the menus need the interface's address only for the rewrite.
func (s *Share) prepare(src *source) (*Plan, error) {
	ifc, addAddr, err := s.lookupIface()
	if err != nil {
		return nil, err
	}
	p, err := src.plan(ifc.Addr.Addr(), s.MenuTimeout, !s.TFTPBoot)
	if err != nil {
		return nil, err
	}
	p.Iface, p.AddAddr = ifc, addAddr
	return p, nil
}

// source is an opened medium with its boot menu: all that is known before the network is.
type source struct {
	med      *medium.Medium
	menu     *bootmenu.Menu // as the medium has it, less the entries whose files it lacks
	menuPath string
	fam      bootmenu.Family
	warnings []string // entries left out of menu, one line each
}

func inspect(med *medium.Medium) (*source, error) {
	menu, menuPath, err := bootmenu.Find(med.FS)
	if err != nil {
		return nil, fmt.Errorf("%s is not a bootable live medium: %w", med.Source, err)
	}
	menu, warnings := bootmenu.WithoutMissing(menu, med.FS)
	fam := bootmenu.DetectFamily(med.FS, menu)
	if fam == bootmenu.FamilyUnknown {
		return nil, fmt.Errorf("%s: %w (known: %s)", med.Source, bootmenu.ErrUnsupportedFamily, familyList())
	}
	return &source{med: med, menu: menu, menuPath: menuPath, fam: fam, warnings: warnings}, nil
}

// plan rewrites the menus for clients served from server and stacks the TFTP tree.
// With overHTTP, GRUB's menu fetches kernels and initrds over HTTP.
func (src *source) plan(server netip.Addr, timeout int, overHTTP bool) (*Plan, error) {
	if timeout <= 0 {
		timeout = 10
	}
	root := bootmenu.NetRoot{Server: server, Export: Export, BootOverHTTP: overHTTP}
	netMenu, err := bootmenu.RewriteForNetwork(src.menu, src.fam, root, timeout)
	if err != nil {
		return nil, fmt.Errorf("rewriting %s for a network boot: %w", src.menuPath, err)
	}
	// pxelinux always reads its kernels over TFTP; the iPXE script over HTTP where there is HTTP.
	generated := tftp.Files{"pxelinux.cfg/default": bootmenu.RenderPxelinux(netMenu), BIOSScript: bootmenu.RenderIPXE(netMenu)}
	uefiMenu, uefiWarnings, err := src.uefi(root, timeout, generated)
	if err != nil {
		return nil, err
	}
	warnings := slices.Clone(src.warnings)
	for _, w := range uefiWarnings {
		if !slices.Contains(warnings, w) {
			warnings = append(warnings, w)
		}
	}
	loaderNames := append([]string{BIOSLoader}, bootmenu.Modules(netMenu)...)
	files := append([]string{}, loaderNames...)
	for name := range generated {
		files = append(files, name)
	}
	kernels, initrds := bootFiles(netMenu, uefiMenu)
	for _, set := range []map[string]bool{kernels, initrds} {
		for name := range set {
			files = append(files, name)
		}
	}
	slices.Sort(files)
	return &Plan{
		Medium: src.med, Family: src.fam, Menu: netMenu, UEFIMenu: uefiMenu, Warnings: warnings,
		Tree:       tftp.Overlay{generated, tftp.Only(assets.BIOS(), loaderNames...), src.med.FS},
		Files:      slices.Compact(files),
		HTTP:       overHTTP || src.fam == bootmenu.FamilyDracut,
		SecureBoot: checkSecureBoot(src.med.FS, uefiMenu),
		kernels:    kernels,
		initrds:    initrds,
		menus:      generated,
	}, nil
}

func familyList() string {
	var names []string
	for _, f := range bootmenu.Families() {
		names = append(names, string(f))
	}
	return strings.Join(names, ", ")
}

// Run prepares the share, serves until ctx ends, and closes everything it opened.
func (s *Share) Run(ctx context.Context) error {
	p, err := s.Prepare()
	if err != nil {
		return err
	}
	defer p.Medium.Close()
	if err := s.Decide(ctx, p); err != nil {
		return err
	}
	return s.Serve(ctx, p, DefaultPorts)
}

// Serve runs every server of the plan until ctx ends. All sockets are opened before any server
// starts, so a port in use fails the whole share at once instead of half-serving.
func (s *Share) Serve(ctx context.Context, p *Plan, ports Ports) error {
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ip := p.Iface.Addr.Addr()
	allow := func(a netip.Addr) bool {
		a = a.Unmap()
		if p.Iface.Addr.Masked().Contains(a) {
			return true
		}
		for _, pr := range s.Allow {
			if pr.Contains(a) {
				return true
			}
		}
		return false
	}
	tr := newTracker(func(e Event) {
		log.Info("client "+string(e.Stage), "mac", e.MAC.String(), "ip", e.IP, "file", e.Detail)
		if s.OnEvent != nil {
			s.OnEvent(e)
		}
	}, func(a netip.Addr) net.HardwareAddr { return macOf(p.Iface.Index, a) }, log)

	removeAddr, err := addAddr(p, log)
	if err != nil {
		return err
	}
	defer removeAddr()
	var socks closers
	defer socks.closeAll()
	var c67, c4011 net.PacketConn
	if p.DHCP != DHCPOff {
		if c67, err = dhcp.Listen(p.Iface.Name, ports.DHCP); err != nil {
			return portError("udp", ports.DHCP, "proxy-DHCP", err)
		}
		socks.add(c67)
		if c4011, err = dhcp.Listen(p.Iface.Name, ports.PXE); err != nil {
			return portError("udp", ports.PXE, "PXE boot server", err)
		}
		socks.add(c4011)
	}
	ctftp, err := net.ListenPacket("udp4", net.JoinHostPort(ip.String(), strconv.Itoa(ports.TFTP)))
	if err != nil {
		return portError("udp", ports.TFTP, "TFTP", err)
	}
	socks.add(ctftp)
	lnfs, err := net.Listen("tcp4", net.JoinHostPort(ip.String(), strconv.Itoa(ports.NFS)))
	if err != nil {
		return portError("tcp", ports.NFS, "NFS", err)
	}
	socks.add(lnfs)
	lpm, err := net.Listen("tcp4", net.JoinHostPort(ip.String(), strconv.Itoa(ports.Portmap)))
	if err != nil {
		return portError("tcp", ports.Portmap, "portmapper", err)
	}
	socks.add(lpm)
	upm, err := net.ListenPacket("udp4", net.JoinHostPort(ip.String(), strconv.Itoa(ports.Portmap)))
	if err != nil {
		return portError("udp", ports.Portmap, "portmapper", err)
	}
	socks.add(upm)
	var lhttp net.Listener
	if p.HTTP {
		if lhttp, err = net.Listen("tcp4", net.JoinHostPort(ip.String(), strconv.Itoa(ports.HTTP))); err != nil {
			err = portError("tcp", ports.HTTP, "HTTP", err)
			if !s.TFTPBoot && p.Family != bootmenu.FamilyDracut {
				err = fmt.Errorf("%w (or share with --tftp-only, which needs no HTTP)", err)
			}
			return err
		}
		socks.add(lhttp)
	}

	kernels, initrds := p.kernels, p.initrds
	proxy := &dhcp.Proxy{
		ServerIP: ip.AsSlice(),
		BootFile: bootFileFor(p.DHCP, !s.TFTPBoot && !s.NoIPXEScript),
		Allow:    allow,
		Log:      log.With("server", "dhcp"),
		OnEvent: func(e dhcp.Event) {
			if e.BootFile == "" {
				return // full mode's plain lease, e.g. for the initramfs: no boot stage
			}
			ip, _ := netip.AddrFromSlice(e.IP.To4())
			if tr.report(e.MAC, ip, StageOffered, e.BootFile) && e.Kind == dhcp.EventOffer {
				logChain(log, e, p.SecureBoot)
			}
		},
	}
	window := s.setChain(p)
	tftpSrv := &tftp.Server{
		FS:         p.Tree,
		Allow:      allow,
		Anticipate: window,
		Log:        log.With("server", "tftp"),
		OnStart: func(t tftp.Transfer) {
			switch {
			case t.File == BIOSLoader, t.File == UEFILoader, t.File == UEFIIPXE, t.File == SignedLoader:
				tr.report(nil, t.Client, StageLoader, t.File)
			case path.Dir(t.File) == "pxelinux.cfg", t.File == UEFIMenuFile, t.File == BIOSScript, t.File == UEFIScript:
				tr.report(nil, t.Client, StageMenu, t.File)
			case kernels[t.File]:
				tr.report(nil, t.Client, StageKernel, t.File)
			case initrds[t.File]:
				tr.report(nil, t.Client, StageInitrd, t.File)
			}
		},
	}
	nfsSrv := &nfs.Server{
		FS:     p.Medium.FS,
		Export: Export,
		Allow:  allow,
		Log:    log.With("server", "nfs"),
		OnEvent: func(client netip.Addr, what string) {
			if file, ok := strings.CutPrefix(what, "read "); ok {
				tr.report(nil, client, StageRunning, file)
			} else {
				tr.report(nil, client, StageMounted, Export)
			}
		},
	}
	httpSrv := &httpd.Server{
		FS:    p.Tree,
		Allow: allow,
		Log:   log.With("server", "http"),
		OnStart: func(client netip.Addr, file string) {
			switch {
			case kernels[file]:
				tr.report(nil, client, StageKernel, file)
			case initrds[file]:
				tr.report(nil, client, StageInitrd, file)
			default:
				// The live image: the initrd has reached its root (it is read into RAM).
				tr.report(nil, client, StageMounted, file)
			}
		},
		OnDone: func(client netip.Addr, file string) {
			if !kernels[file] && !initrds[file] {
				tr.report(nil, client, StageRunning, file)
			}
		},
	}
	pm := &nfs.Portmapper{NFSPort: ports.NFS, MountPort: ports.NFS, Allow: allow, Log: log.With("server", "portmap")}
	if nofile := fileLimit(); nofile > 0 {
		if b := boundsFor(nofile); b != (serverBounds{}) {
			nfsSrv.MaxConns, pm.MaxConns, httpSrv.MaxConns, tftpSrv.MaxTransfers = b.NFS, b.Portmap, b.HTTP, b.TFTP
			log.Info("open-file limit is low: fewer clients at once", "limit", nofile, "nfs_conns", b.NFS,
				"portmap_conns", b.Portmap, "http_conns", b.HTTP, "tftp_transfers", b.TFTP)
		}
	}

	biosFile, _ := proxy.BootFile(dhcp.Client{Arch: iana.INTEL_X86PC})
	ipxeFile, _ := proxy.BootFile(dhcp.Client{Arch: iana.INTEL_X86PC, IPXE: true})
	uefiFile, _ := proxy.BootFile(dhcp.Client{Arch: iana.EFI_X86_64})
	log.Info("sharing", "medium", p.Medium.Source, "family", p.Family, "iface", p.Iface.Name,
		"server", ip, "boot", biosFile, "ipxe", ipxeFile, "uefi", uefiFile, "nfsroot", ip.String()+":"+Export,
		"secure_boot", p.SecureBoot.Note)
	defer s.openFirewall(ctx, p.Iface.Name, ports, p.HTTP, log)()
	g, gctx := errgroup.WithContext(ctx)
	socks = nil // each server now owns and closes its sockets
	s.startDHCP(gctx, g, p, proxy, c67, c4011, log, proxy.OnEvent)
	g.Go(func() error { return watchIface(gctx, p.Iface, log) })
	g.Go(func() error { return tftpSrv.Serve(gctx, ctftp) })
	g.Go(func() error { return nfsSrv.Serve(gctx, lnfs) })
	g.Go(func() error { return pm.Serve(gctx, lpm, upm) })
	if lhttp != nil {
		g.Go(func() error { return httpSrv.Serve(gctx, lhttp) })
	}
	err = g.Wait()
	log.Info("stopped sharing")
	return err
}

// setChain gives UEFI clients the menu of the chain p.DHCP offers them and returns how many
// TFTP blocks to send ahead of the ACKs.
func (s *Share) setChain(p *Plan) (tftpWindow uint) {
	m := *p.UEFIMenu
	if signedChain(p.DHCP) {
		m.HTTPHost = "" // Debian's signed GRUB has no HTTP: the same menu with kernels on TFTP
	}
	p.menus[UEFIMenuFile] = bootmenu.RenderGrub(&m)
	return s.TFTPWindow
}

func bootFiles(menus ...*bootmenu.Menu) (kernels, initrds map[string]bool) {
	kernels, initrds = map[string]bool{}, map[string]bool{}
	for _, m := range menus {
		if m == nil {
			continue
		}
		for _, e := range m.Entries {
			if e.Kernel != "" {
				kernels[e.Kernel] = true
			}
			for _, i := range e.Initrds {
				initrds[i] = true
			}
		}
	}
	return kernels, initrds
}

// portError says in one line which port could not be opened and what to do about it.
func portError(proto string, port int, what string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		holder := portHolder(proto, port)
		if holder == "" {
			holder = "another program"
		}
		return fmt.Errorf("%s port %s/%d is already in use by %s; stop it first", what, proto, port, holder)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("no permission to open %s port %s/%d: run sharecd with sudo (or give it CAP_NET_BIND_SERVICE and CAP_NET_RAW)", what, proto, port)
	}
	return fmt.Errorf("opening %s port %s/%d: %w", what, proto, port, err)
}

type closers []interface{ Close() error }

func (c *closers) add(x interface{ Close() error }) { *c = append(*c, x) }
func (c closers) closeAll() {
	for _, x := range c {
		x.Close()
	}
}
