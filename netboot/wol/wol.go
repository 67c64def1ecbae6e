// Package wol wakes machines with Wake-on-LAN magic packets, sent only on the interface chosen.
//
// How a packet is sent, and why: the NIC of a sleeping machine does not parse protocols, it
// scans every frame it receives for six 0xFF bytes followed by its own MAC sixteen times (AMD's
// "Magic Packet Technology" white paper, 1995: the pattern "can be located anywhere within the
// frame"). So the frame only has to reach the machine's switch port; EtherType and IP are for
// whatever carries it. We send it as a raw Ethernet frame (EtherType 0x0842, as ether-wake does)
// to ff:ff:ff:ff:ff:ff through an AF_PACKET socket bound to the interface's index:
//
//   - the kernel puts it on that one interface, whatever the routing table says: a UDP
//     broadcast to 255.255.255.255 follows the routes (the default route's interface) unless
//     the socket is bound to a device;
//   - it needs no IPv4 address on the interface: full DHCP mode's room on a switch of its own
//     has none until the share gives it one, and a wake is often the first thing done there.
//
// Without CAP_NET_RAW (an unpackaged build run as a user), Sender falls back to a UDP broadcast
// to port 9 ("discard", the port wakeonlan and most tools use) from a socket bound to the
// interface with SO_BINDTODEVICE, which Linux 5.7 and later allow without privilege; it also
// works without an address (the source is then 0.0.0.0). No router forwards either: the limited
// broadcast and a broadcast MAC never leave the LAN, so the machine that wakes must be on the
// clients' link, which the share's interface is.
package wol

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
)

// EtherType is the Ethernet type of the raw frame: 0x0842, registered for Wake-on-LAN and what
// ether-wake sends. NICs ignore it; capture filters and switches' counters see it.
const EtherType = 0x0842

// Port is the UDP port of the fallback broadcast: 9, "discard", so no listener answers it.
const Port = 9

// Errors callers branch on; each comes wrapped with the interface or the MAC it is about.
var (
	ErrNoIface   = errors.New("no such network interface")
	ErrIfaceDown = errors.New("is down")
	ErrNoLink    = errors.New("has no link")
	ErrNotEther  = errors.New("is not an Ethernet interface")
	ErrBadMAC    = errors.New("not an Ethernet MAC address")
	ErrBadPass   = errors.New("a SecureOn password is 4 or 6 bytes")
	// ErrPermission: neither socket could be opened; each face words the fix for its user.
	ErrPermission = errors.New("sending a wake-up packet needs CAP_NET_RAW")
)

// MagicPacket builds the payload that wakes the machine with the given MAC: 6 bytes of 0xFF, then
// the MAC 16 times (102 bytes), then the SecureOn password, if any. SecureOn is a 4- or 6-byte
// password some NICs (Intel, Broadcom, AMD PCnet) can be set to require, checked right after the
// sixteenth MAC; NICs without it ignore the extra bytes.
func MagicPacket(mac net.HardwareAddr, password []byte) ([]byte, error) {
	if len(mac) != 6 {
		return nil, fmt.Errorf("%q: %w (6 bytes, like 52:54:00:12:34:56)", mac.String(), ErrBadMAC)
	}
	if n := len(password); n != 0 && n != 4 && n != 6 {
		return nil, fmt.Errorf("%d bytes: %w", n, ErrBadPass)
	}
	b := make([]byte, 0, 6+16*6+len(password))
	b = append(b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	for range 16 {
		b = append(b, mac...)
	}
	return append(b, password...), nil
}

// ParseMACs parses a comma-separated list of MACs (52:54:00:12:34:56,52-54-00-ab-cd-ef) and
// says which one is wrong. Only 6-byte Ethernet MACs wake anything; net.ParseMAC also accepts
// 8- and 20-byte ones (EUI-64, InfiniBand), and a broadcast or multicast MAC names no machine.
func ParseMACs(list string) ([]net.HardwareAddr, error) {
	var out []net.HardwareAddr
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		mac, err := net.ParseMAC(s)
		if err != nil || len(mac) != 6 || mac[0]&1 != 0 {
			return nil, fmt.Errorf("%q: %w (like 52:54:00:12:34:56)", s, ErrBadMAC)
		}
		out = append(out, mac)
	}
	return out, nil
}

// Sender sends magic packets on one interface. Zero fields mean "default".
type Sender struct {
	// Iface is the interface to send on; it must be up with a link. Required.
	Iface string
	// Password is the SecureOn password (4 or 6 bytes); nil = none.
	Password []byte
	// Repeat is how many times each packet is sent (0 = 3): a wake is not answered, and a
	// switch port that is coming up as the machine's standby power settles can drop one frame.
	Repeat int
	// Log gets one line per MAC woken (nil = discard).
	Log *slog.Logger

	// udpOnly skips the raw frame: the tests exercise the fallback directly.
	udpOnly bool
}

// Wake sends a magic packet to each MAC on the interface. It checks every MAC and the interface
// before it sends anything, so that a typo in the third MAC does not wake the first two alone.
func (s *Sender) Wake(macs ...net.HardwareAddr) error {
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(macs) == 0 {
		return errors.New("no MAC address to wake")
	}
	pkts := make([][]byte, len(macs))
	for i, mac := range macs {
		p, err := MagicPacket(mac, s.Password)
		if err != nil {
			return err
		}
		pkts[i] = p
	}
	ifc, err := s.iface()
	if err != nil {
		return err
	}
	repeat := s.Repeat
	if repeat <= 0 {
		repeat = 3
	}
	via := "raw"
	var send func([]byte) error
	var closer func() error
	var rawErr error
	if !s.udpOnly {
		c, err := openRaw(ifc)
		if err == nil {
			send, closer = c.send, c.Close
		} else if !errors.Is(err, ErrPermission) {
			return fmt.Errorf("waking on %s: %w", ifc.Name, err)
		}
		rawErr = err
	}
	if send == nil {
		c, err := openUDP(ifc)
		if err != nil {
			if rawErr != nil {
				err = rawErr // the missing permission is what to fix
			}
			return fmt.Errorf("waking on %s: %w", ifc.Name, err)
		}
		via = "udp"
		send, closer = c.send, c.Close
	}
	defer closer()
	for i, p := range pkts {
		for range repeat {
			if err := send(p); err != nil {
				return fmt.Errorf("waking %s on %s: %w", macs[i], ifc.Name, err)
			}
		}
		log.Info("sent a wake-up packet", "mac", macs[i].String(), "iface", ifc.Name, "via", via)
	}
	return nil
}

// iface looks the interface up and says in one line why it cannot carry a wake-up packet.
func (s *Sender) iface() (*net.Interface, error) {
	if s.Iface == "" {
		return nil, errors.New("no interface given to send the wake-up packet on")
	}
	ifc, err := net.InterfaceByName(s.Iface)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", s.Iface, ErrNoIface)
	}
	switch {
	case ifc.Flags&net.FlagLoopback != 0 || len(ifc.HardwareAddr) != 6:
		return nil, fmt.Errorf("interface %s %w", ifc.Name, ErrNotEther)
	case ifc.Flags&net.FlagUp == 0:
		return nil, fmt.Errorf("interface %s %w (bring it up with: ip link set %s up)", ifc.Name, ErrIfaceDown, ifc.Name)
	case ifc.Flags&net.FlagRunning == 0:
		// A frame sent without carrier is dropped by the driver, and Wake would report success.
		return nil, fmt.Errorf("interface %s %w (is the cable plugged in?)", ifc.Name, ErrNoLink)
	}
	return ifc, nil
}
