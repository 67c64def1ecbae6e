package main

import (
	"errors"
	"syscall"

	"github.com/sharecd/sharecd/netboot"
)

// advice is the fix for an engine error in command-line words. The engine says what is wrong;
// the window words its own fixes for a desktop user (app), so flags appear only here.
func advice(err error, s netboot.Share) string {
	var pe *netboot.PortError
	switch {
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		// The whole fix at once: proxy mode would still need port 67, so suggesting it leads
		// into the next error.
		return "run it as root (sudo sharecd --share), or install the sharecd package, which lets " +
			"sharecd open its ports and probe the LAN (CAP_NET_BIND_SERVICE, CAP_NET_RAW, CAP_NET_ADMIN)"
	case errors.Is(err, netboot.ErrFirewallUnknown):
		return "install the sharecd package, which lets sharecd open its own ports in the firewall " +
			"(CAP_NET_ADMIN), or run it as root (sudo sharecd --share); if this host does not filter, " +
			"--no-firewall-changes shares anyway"
	case errors.Is(err, netboot.ErrFirewallBlocks):
		return "run it as root (sudo sharecd --share), or let its ports through yourself and share with --no-firewall-changes"
	case errors.Is(err, netboot.ErrOtherPXEServer):
		return "switch it off, or share anyway with --dhcp-mode proxy (clients may then boot from either)"
	case errors.Is(err, netboot.ErrShareInternetNeedsFull):
		return "add --dhcp-mode full on a room's own switch; next to the LAN's DHCP server the clients have its router already"
	case errors.Is(err, netboot.ErrNoDHCPServer):
		return "if this is an isolated network, --dhcp-mode full runs sharecd's own DHCP server on it"
	case errors.Is(err, netboot.ErrDHCPServerPresent):
		return "--dhcp-mode full is only for a network without one; use --dhcp-mode auto or proxy next to it"
	case errors.As(err, &pe) && pe.Port == 80 && errors.Is(err, syscall.EADDRINUSE) && !s.TFTPBoot:
		return "stop it first, or share with --tftp-only, which needs no HTTP"
	case errors.Is(err, netboot.ErrLocalConflict), errors.Is(err, syscall.EADDRINUSE):
		return "stop it first"
	case errors.Is(err, netboot.ErrChooseIface):
		return "choose one with --iface"
	case errors.Is(err, netboot.ErrNoIface):
		return "connect to the LAN, or name the interface with --iface"
	case errors.Is(err, netboot.ErrLoopback):
		return "name the LAN interface with --iface"
	case errors.Is(err, netboot.ErrNoIPv4):
		return "on a network without a DHCP server, --dhcp-mode full gives it one"
	case errors.Is(err, netboot.ErrCheckFailed):
		return "--dhcp-mode proxy shares without the check"
	}
	return ""
}

// withAdvice is the one line the user reads: what is wrong, then what to do.
func withAdvice(err error, s netboot.Share) string {
	msg := oneLine(err)
	if a := advice(err, s); a != "" {
		msg += "; " + a
	}
	return msg
}

// internetNeedsRoot refuses --share-internet to a user who is not root: the capabilities the
// package gives sharecd (cap_net_admin among them) would let any local user route a LAN out of
// this machine, which is more than opening sharecd's own ports; root asks for it knowingly.
func internetNeedsRoot(iface string, euid int) string {
	if iface == "" || euid == 0 {
		return ""
	}
	return "--share-internet routes the room out through " + iface + " and needs root: run it with sudo"
}
