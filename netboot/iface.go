package netboot

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Iface is the network interface a share serves on.
type Iface struct {
	Name  string
	Index int
	MAC   net.HardwareAddr
	Addr  netip.Prefix // the interface's first IPv4 address with its subnet
}

// Why an interface cannot be shared on; cmd and the window each word the fix for their user.
var (
	// ErrChooseIface: several interfaces could serve and none was named.
	ErrChooseIface = errors.New("several interfaces could be shared on")
	// ErrNoIface: no interface is up with an IPv4 address.
	ErrNoIface = errors.New("no interface is up with an IPv4 address")
	// ErrLoopback: the loopback interface was named.
	ErrLoopback = errors.New("is the loopback interface")
	// ErrNoIPv4: the interface has no IPv4 address.
	ErrNoIPv4 = errors.New("has no IPv4 address")
)

// LookupIface checks that the named interface exists, is up, has a link and an IPv4 address.
// An empty name picks the only interface that qualifies.
func LookupIface(name string) (Iface, error) { return lookupIface(name, true) }

// lookupIface is LookupIface; with needAddr false an interface without IPv4 qualifies too (its
// Addr is then zero), for full DHCP mode, which gives it an address.
func lookupIface(name string, needAddr bool) (Iface, error) {
	if name == "" {
		return pickIface(needAddr)
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		return Iface{}, fmt.Errorf("interface %s not found (interfaces here: %s)", name, strings.Join(ifaceNames(), ", "))
	}
	return usable(link, needAddr)
}

func usable(link netlink.Link, needAddr bool) (Iface, error) {
	a := link.Attrs()
	if a.Flags&net.FlagLoopback != 0 {
		return Iface{}, fmt.Errorf("interface %s %w", a.Name, ErrLoopback)
	}
	if a.Flags&net.FlagUp == 0 {
		return Iface{}, fmt.Errorf("interface %s is down (bring it up with: ip link set %s up)", a.Name, a.Name)
	}
	if a.RawFlags&unix.IFF_LOWER_UP == 0 {
		return Iface{}, fmt.Errorf("interface %s has no link (is the cable plugged in?)", a.Name)
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return Iface{}, fmt.Errorf("reading addresses of %s: %w", a.Name, err)
	}
	for _, ad := range addrs {
		ip, ok := netip.AddrFromSlice(ad.IP.To4())
		if !ok || ad.Mask == nil {
			continue
		}
		ones, _ := ad.Mask.Size()
		return Iface{Name: a.Name, Index: a.Index, MAC: a.HardwareAddr, Addr: netip.PrefixFrom(ip, ones)}, nil
	}
	if !needAddr {
		return Iface{Name: a.Name, Index: a.Index, MAC: a.HardwareAddr}, nil
	}
	return Iface{}, errNoIPv4(a.Name)
}

func errNoIPv4(name string) error {
	return fmt.Errorf("interface %s %w (is it connected to the LAN?)", name, ErrNoIPv4)
}

// pickIface picks the only usable interface; among several, the one the default route goes
// through, if exactly one does. Otherwise it lists them: guessing wrong would answer DHCP on
// the wrong network (iVentoy's ventoy/PXE#87).
func pickIface(needAddr bool) (Iface, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return Iface{}, fmt.Errorf("listing interfaces: %w", err)
	}
	var found []Iface
	for _, l := range links {
		if ifc, err := usable(l, needAddr); err == nil {
			found = append(found, ifc)
		}
	}
	return choose(found, defaultRouteLinks)
}

// choose is pickIface's choice among the usable interfaces found; def is asked only when there
// are several. Interfaces makes the same choice from the list it has already read.
func choose(found []Iface, def func() map[int]bool) (Iface, error) {
	switch len(found) {
	case 0:
		return Iface{}, ErrNoIface
	case 1:
		return found[0], nil
	}
	routes := def()
	var viaDefault []Iface
	for _, f := range found {
		if routes[f.Index] {
			viaDefault = append(viaDefault, f)
		}
	}
	if len(viaDefault) == 1 {
		return viaDefault[0], nil
	}
	var names []string
	for _, f := range found {
		names = append(names, fmt.Sprintf("%s (%s)", f.Name, f.Addr))
	}
	return Iface{}, fmt.Errorf("%w: %s", ErrChooseIface, strings.Join(names, ", "))
}

// defaultRouteLinks are the indexes of the links an IPv4 default route goes through.
func defaultRouteLinks() map[int]bool {
	def := map[int]bool{}
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return def
	}
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() && isZeroMask(r.Dst.Mask) {
			def[r.LinkIndex] = true
		}
	}
	return def
}

// IfaceStatus is an interface as a share sees it, for the window's interface picker.
type IfaceStatus struct {
	Name    string
	Addr    netip.Prefix // its first IPv4 address, if any
	Up      bool         // administratively up
	Link    bool         // has a carrier
	Default bool         // an IPv4 default route goes through it
	Problem string       // why a share would refuse it; "" = it can share
	Chosen  bool         // the one a share with no interface named picks
}

// Interfaces lists every interface but loopback with the share's own verdict on each, so the
// window never offers an interface the share would refuse, nor picks another than it would.
func Interfaces() ([]IfaceStatus, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	def := defaultRouteLinks()
	var out []IfaceStatus
	var found []Iface // usable for a share, as pickIface would find them
	for _, l := range links {
		a := l.Attrs()
		if a.Flags&net.FlagLoopback != 0 {
			continue
		}
		st := IfaceStatus{Name: a.Name, Up: a.Flags&net.FlagUp != 0, Link: a.RawFlags&unix.IFF_LOWER_UP != 0,
			Default: def[a.Index]}
		ifc, err := usable(l, false)
		st.Addr = ifc.Addr
		if err == nil && !ifc.Addr.IsValid() {
			err = errNoIPv4(a.Name) // what usable(l, true) says, without reading the addresses again
		}
		if err != nil {
			st.Problem = err.Error()
		} else {
			found = append(found, ifc)
		}
		out = append(out, st)
	}
	if chosen, err := choose(found, func() map[int]bool { return def }); err == nil {
		for i := range out {
			out[i].Chosen = out[i].Name == chosen.Name
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func ifaceNames() []string {
	ifs, _ := net.Interfaces()
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	sort.Strings(names)
	return names
}

// macOf looks a client's MAC up in the kernel's neighbour table: TFTP and NFS requests carry only
// the IP, and the log should name the machine by the MAC the user sees on its sticker.
func macOf(ifindex int, ip netip.Addr) net.HardwareAddr {
	neighs, err := netlink.NeighList(ifindex, netlink.FAMILY_V4)
	if err != nil {
		return nil
	}
	for _, n := range neighs {
		if a, ok := netip.AddrFromSlice(n.IP.To4()); ok && a == ip {
			return n.HardwareAddr
		}
	}
	return nil
}

func isZeroMask(m net.IPMask) bool {
	ones, _ := m.Size()
	return ones == 0
}
