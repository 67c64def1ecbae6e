package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Listen opens a UDP socket on 0.0.0.0:port bound to the network device iface
// (SO_BINDTODEVICE), with SO_BROADCAST so that broadcast replies can be sent. An
// empty iface binds to no device.
//
// It deliberately sets neither SO_REUSEADDR nor SO_REUSEPORT (insomniacslk's
// server4 sets SO_REUSEPORT, so two DHCP servers on one host would both bind and
// both answer): if another DHCP server on this host (NetworkManager's "shared"
// dnsmasq, libvirt's dnsmasq, a forgotten dhcpd) holds the port on this link, the
// bind fails with an error wrapping ErrPortInUse. Sockets bound to other devices
// don't conflict (the kernel only compares sockets whose devices match or are
// unset), which is right: they serve other links.
//
// Ports below 1024 need root or CAP_NET_BIND_SERVICE (ErrPermission); on kernels
// before 5.7, SO_BINDTODEVICE also needs CAP_NET_RAW.
func Listen(iface string, port int) (net.PacketConn, error) {
	where := "UDP port " + strconv.Itoa(port)
	if iface != "" {
		where += " on " + iface
	}
	lc := net.ListenConfig{
		// Control runs after socket() and before bind(), which is when the device
		// binding must be in place for the kernel's port-conflict check to see it.
		Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				if iface != "" {
					if serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, iface); serr != nil {
						serr = fmt.Errorf("binding to device %s (SO_BINDTODEVICE): %w", iface, serr)
						return
					}
				}
				if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1); serr != nil {
					serr = fmt.Errorf("setting SO_BROADCAST: %w", serr)
				}
			})
			if err != nil {
				return err
			}
			return serr
		},
	}
	pc, err := lc.ListenPacket(context.Background(), "udp4", net.JoinHostPort("0.0.0.0", strconv.Itoa(port)))
	switch {
	case err == nil:
		return pc, nil
	case errors.Is(err, unix.EADDRINUSE):
		return nil, fmt.Errorf("listening on %s: %w: another DHCP server on this host holds it (%w)", where, ErrPortInUse, err)
	case errors.Is(err, unix.EACCES):
		return nil, fmt.Errorf("listening on %s: %w (%w)", where, ErrPermission, err)
	case errors.Is(err, unix.EPERM):
		// setsockopt(SO_BINDTODEVICE) without CAP_NET_RAW on older kernels.
		return nil, fmt.Errorf("listening on %s: %w: binding to a device needs CAP_NET_RAW on this kernel (%w)", where, ErrPermission, err)
	case errors.Is(err, unix.ENODEV):
		return nil, fmt.Errorf("listening on %s: no such network interface: %w", where, err)
	default:
		return nil, fmt.Errorf("listening on %s: %w", where, err)
	}
}
