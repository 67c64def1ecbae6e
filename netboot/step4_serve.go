package netboot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"github.com/insomniacslk/dhcp/iana"
	"golang.org/x/sync/errgroup"

	"github.com/sharecd/sharecd/netboot/dhcp"
	"github.com/sharecd/sharecd/netboot/kernelarch"
	"github.com/sharecd/sharecd/netboot/netcheck"
)

// sockets are every socket a share serves on, all opened before any server starts, so a port in
// use fails the whole share at once instead of half-serving.
type sockets struct {
	dhcp, pxe net.PacketConn // nil when DHCP is off
	tftp      net.PacketConn
	nfs       net.Listener
	pmTCP     net.Listener
	pmUDP     net.PacketConn
	http      net.Listener // nil when the plan needs no HTTP
	all       []interface{ Close() error }
}

func (s *sockets) closeAll() {
	for _, c := range s.all {
		c.Close()
	}
}

func openSockets(p *Plan, ports Ports) (_ *sockets, err error) {
	s := &sockets{}
	defer func() {
		if err != nil {
			s.closeAll()
		}
	}()
	ip := p.Iface.Addr.Addr()
	udp := func(port int, what string, listen func() (net.PacketConn, error)) (net.PacketConn, error) {
		c, err := listen()
		if err != nil {
			return nil, portError("udp", port, what, err)
		}
		s.all = append(s.all, c)
		return c, nil
	}
	tcp := func(port int, what string) (net.Listener, error) {
		l, err := net.Listen("tcp4", net.JoinHostPort(ip.String(), strconv.Itoa(port)))
		if err != nil {
			return nil, portError("tcp", port, what, err)
		}
		s.all = append(s.all, l)
		return l, nil
	}
	onIP := func(port int) func() (net.PacketConn, error) {
		return func() (net.PacketConn, error) {
			return net.ListenPacket("udp4", net.JoinHostPort(ip.String(), strconv.Itoa(port)))
		}
	}
	onIface := func(port int) func() (net.PacketConn, error) {
		return func() (net.PacketConn, error) { return dhcp.Listen(p.Iface.Name, port) }
	}
	if p.DHCP != DHCPOff {
		if s.dhcp, err = udp(ports.DHCP, "DHCP", onIface(ports.DHCP)); err != nil {
			return nil, err
		}
		if s.pxe, err = udp(ports.PXE, "PXE boot server", onIface(ports.PXE)); err != nil {
			return nil, err
		}
	}
	if s.tftp, err = udp(ports.TFTP, "TFTP", onIP(ports.TFTP)); err != nil {
		return nil, err
	}
	if s.nfs, err = tcp(ports.NFS, "NFS"); err != nil {
		return nil, err
	}
	if s.pmTCP, err = tcp(ports.Portmap, "portmapper"); err != nil {
		return nil, err
	}
	if s.pmUDP, err = udp(ports.Portmap, "portmapper", onIP(ports.Portmap)); err != nil {
		return nil, err
	}
	if p.HTTP {
		if s.http, err = tcp(ports.HTTP, "HTTP"); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// serve runs every server of the plan until ctx ends.
func (s *Share) serve(ctx context.Context, p *Plan, ports Ports) error {
	log := s.logger()
	tr := newTracker(func(e Event) {
		args := []any{"mac", e.MAC.String(), "ip", e.IP, "file", e.Detail}
		if e.Seat = p.Seats.Hostname(e.MAC); e.Seat != "" {
			args = append([]any{"seat", e.Seat}, args...)
		}
		log.Info("client "+string(e.Stage), args...)
		if s.OnEvent != nil {
			s.OnEvent(e)
		}
	}, func(a netip.Addr) net.HardwareAddr { return macOf(p.Iface.Index, a) }, log)

	removeAddr, err := addAddr(p.Network, log)
	if err != nil {
		return err
	}
	defer removeAddr()
	closeFirewall, err := s.openFirewall(ctx, p.Iface.Name, ports, p.HTTP, log)
	if err != nil {
		return err
	}
	defer closeFirewall()
	closeInternet, err := s.openInternet(ctx, p, log)
	if err != nil {
		return err
	}
	defer closeInternet()
	socks, err := openSockets(p, ports)
	if err != nil {
		return err
	}
	allow := s.allow(p.Iface.Addr)
	lp := &livePlan{}
	lp.Store(p)
	files := s.fileServers(lp, ports, allow, tr, log)
	dhcpSrv := s.dhcpServers(lp, allow, tr, log)
	r := &running{s: s, log: log, plan: lp, nfs: files.nfs, tr: tr, idle: s.mediaIdle()}

	bios, _ := p.BootFile(dhcp.Client{Arch: iana.INTEL_X86PC})
	ipxe, _ := p.BootFile(dhcp.Client{Arch: iana.INTEL_X86PC, IPXE: true})
	uefi, _ := p.BootFile(dhcp.Client{Arch: iana.EFI_X86_64})
	ip := p.Iface.Addr.Addr()
	for _, m := range p.Media {
		// Each medium with the loaders of the clients it is offered to.
		loaders := []any{"boot", bios, "ipxe", ipxe, "uefi", uefi}
		if runsOn(kernelarch.ARM64, m.Arch) {
			loaders = []any{"uefi_arm64", Arm64Loader}
		}
		args := append([]any{"medium", m.Medium.Source, "family", m.Family, "arch", m.archNote(), "iface", p.Iface.Name,
			"server", ip}, loaders...)
		log.Info("sharing", append(args, "nfsroot", ip.String()+":"+m.Export, "secure_boot", m.SecureBoot.Note)...)
	}

	g, gctx := errgroup.WithContext(ctx)
	// From here each server owns and closes its sockets.
	dhcpSrv.start(gctx, g, socks.dhcp, socks.pxe)
	files.start(gctx, g, socks)
	g.Go(func() error { return watchIface(gctx, p.Iface, log) })
	g.Go(func() error { return r.retire(gctx) })
	s.Live.attach(r)
	defer s.Live.attach(nil)
	if s.OnServing != nil {
		s.OnServing()
	}
	err = g.Wait()
	r.close() // the media added while serving too
	log.Info("stopped sharing")
	return err
}

// allow says which clients a share serves: its interface's subnet and the --allow networks.
func (s *Share) allow(subnet netip.Prefix) func(netip.Addr) bool {
	subnet = subnet.Masked()
	return func(a netip.Addr) bool {
		a = a.Unmap()
		if subnet.Contains(a) {
			return true
		}
		for _, pr := range s.Allow {
			if pr.Contains(a) {
				return true
			}
		}
		return false
	}
}

// PortError is a port a share could not open: who holds it, or why not. It unwraps to the
// system's error (syscall.EADDRINUSE, EACCES), so that cmd and the window each word the fix for
// their own user.
type PortError struct {
	Proto   string // "udp" or "tcp"
	Port    int
	Service string // "TFTP"
	Holder  string // the process holding it, when in use: "dnsmasq (pid 812)"
	Err     error
}

func (e *PortError) Error() string {
	switch {
	case errors.Is(e.Err, syscall.EADDRINUSE):
		return fmt.Sprintf("%s port %s/%d is already in use by %s", e.Service, e.Proto, e.Port, e.Holder)
	case errors.Is(e.Err, syscall.EACCES), errors.Is(e.Err, syscall.EPERM):
		return fmt.Sprintf("no permission to open %s port %s/%d", e.Service, e.Proto, e.Port)
	}
	return fmt.Sprintf("opening %s port %s/%d: %v", e.Service, e.Proto, e.Port, e.Err)
}

func (e *PortError) Unwrap() error { return e.Err }

func portError(proto string, port int, what string, err error) error {
	pe := &PortError{Proto: proto, Port: port, Service: what, Err: err}
	if errors.Is(err, syscall.EADDRINUSE) {
		if pe.Holder = netcheck.PortHolder(proto, port); pe.Holder == "" {
			pe.Holder = "another program"
		}
	}
	return pe
}
