package netboot

import (
	"errors"
	"fmt"
	"net"

	"github.com/sharecd/sharecd/netboot/dhcp"
	"github.com/sharecd/sharecd/netboot/wol"
)

var (
	// ErrNoKnownClients: "wake all" found no client to wake.
	ErrNoKnownClients = errors.New("no known clients to wake")
	// ErrWakePermission: this process may not send raw frames, nor bind a socket to a device.
	ErrWakePermission = wol.ErrPermission
)

// Wake sends a Wake-on-LAN magic packet to each MAC on iface, and on no other interface
// (netboot/wol). It works whether or not a share runs, and whether or not iface has an address.
func (s *Share) Wake(iface string, macs []net.HardwareAddr) error {
	if iface == "" {
		return errors.New("waking needs the interface the machines are on (a broadcast never crosses a router)")
	}
	snd := &wol.Sender{Iface: iface, Log: s.logger()}
	return snd.Wake(macs...)
}

// KnownClients are the machines "wake all" wakes on iface: the seats file's machines (but not
// one it says not to boot: it boots from its own disk, which is not what the room's "all"
// means), then every MAC full DHCP mode has leased on iface (its lease file, LeaseFile or
// StateDir/leases-IFACE.json). Proxy mode leaves no trace of its clients, so without a seats
// file after proxy shares the list is empty and ErrNoKnownClients says where it looked.
func (s *Share) KnownClients(iface string) ([]net.HardwareAddr, error) {
	if iface == "" {
		return nil, errors.New("the known clients are kept per interface: name one")
	}
	var macs []net.HardwareAddr
	seen := map[string]bool{}
	add := func(m net.HardwareAddr) {
		if !seen[m.String()] && !s.Seats.NoBoot(m) {
			seen[m.String()] = true
			macs = append(macs, m)
		}
	}
	for _, st := range s.Seats.All() {
		add(st.MAC)
	}
	path := s.leaseFile(iface)
	leased, err := dhcp.LeasedMACs(path)
	if err != nil {
		return nil, fmt.Errorf("reading the known clients: %w", err)
	}
	for _, m := range leased {
		add(m)
	}
	if len(macs) == 0 {
		return nil, fmt.Errorf("%w on %s: no seats file names a machine, and full DHCP mode has leased no address there (%s)", ErrNoKnownClients, iface, path)
	}
	return macs, nil
}

// ParseMACs parses the comma-separated MACs of `sharecd --wake` (wol.ParseMACs).
func ParseMACs(list string) ([]net.HardwareAddr, error) { return wol.ParseMACs(list) }
