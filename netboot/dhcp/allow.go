package dhcp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// ErrNotAllowed: the answer would go to an address outside the networks the share serves
// (the interface's subnet and --allow), the rule TFTP, HTTP and NFS already keep.
var ErrNotAllowed = errors.New("client outside the allowed networks")

// checkAllowed says whether req, which came from src on port, may be answered. Nil allow
// allows everyone.
//
//   - A relayed packet (giaddr set) is answered at giaddr: a relay in another network would
//     bring clients there that TFTP and NFS then refuse, and anyone on the LAN could make us
//     send offers to any address by writing it into giaddr.
//   - On 4011 the answer goes back to the sender, which already has its address.
//   - A broadcast DISCOVER without giaddr comes from this segment: the client has no address
//     yet, and the interface's subnet is where it will get one.
func checkAllowed(allow func(netip.Addr) bool, req *dhcpv4.DHCPv4, port int, src net.Addr) error {
	if allow == nil {
		return nil
	}
	if gi := addrOf(req.GatewayIPAddr); gi.IsValid() && !allow(gi) {
		return fmt.Errorf("%w: relay (giaddr) %v", ErrNotAllowed, gi)
	}
	if port == Port4011 {
		if a := srcAddr(src); !a.IsValid() || !allow(a) {
			return fmt.Errorf("%w: sender %v", ErrNotAllowed, src)
		}
	}
	return nil
}

func srcAddr(a net.Addr) netip.Addr {
	if ua, ok := a.(*net.UDPAddr); ok {
		ip, _ := netip.AddrFromSlice(ua.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
