package netcheck

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// ARPInUse asks the LAN whether anyone holds ip, the way RFC 5227 §2.1.1 probes an address before
// using it: ARP requests with sender IP 0.0.0.0, so no one's ARP cache learns anything. It
// returns the MAC of a machine that answers (or probes for the same address) other than except
// (the client the address is meant for, which may still hold it from an earlier lease), or nil
// when no one answered within wait (0 = 500 ms). RFC 5227 waits longer; a PXE ROM retries its
// DISCOVER after ~4 s, so the probe must stay well inside that.
func ARPInUse(iface string, ip netip.Addr, except net.HardwareAddr, wait time.Duration) (net.HardwareAddr, error) {
	if wait <= 0 {
		wait = 500 * time.Millisecond
	}
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	if len(ifc.HardwareAddr) != 6 {
		return nil, fmt.Errorf("ARP probe on %s: not an Ethernet interface", iface)
	}
	c, err := openRawProto(ifc, unix.ETH_P_ARP)
	if err != nil {
		return nil, fmt.Errorf("ARP probe on %s: %w", iface, err)
	}
	defer c.Close()
	target := ip.As4()
	req := make([]byte, 28)
	binary.BigEndian.PutUint16(req[0:], 1)      // Ethernet
	binary.BigEndian.PutUint16(req[2:], 0x0800) // IPv4
	req[4], req[5] = 6, 4
	binary.BigEndian.PutUint16(req[6:], 1) // request
	copy(req[8:14], ifc.HardwareAddr)
	// sender IP 0.0.0.0 (req[14:18]), target MAC 0 (req[18:24])
	copy(req[24:28], target[:])

	deadline := time.Now().Add(wait)
	nextSend := time.Now()
	buf := make([]byte, 1500)
	for sent := 0; time.Now().Before(deadline); {
		if sent < 2 && !time.Now().Before(nextSend) {
			if err := c.sendBroadcast(req); err != nil {
				return nil, fmt.Errorf("ARP probe on %s: %w", iface, err)
			}
			sent++
			nextSend = time.Now().Add(wait / 3)
		}
		n, from, err := c.recv(buf, 50*time.Millisecond)
		if err != nil {
			return nil, fmt.Errorf("ARP probe on %s: %w", iface, err)
		}
		if n < 28 || binary.BigEndian.Uint16(buf[2:]) != 0x0800 {
			continue
		}
		sha := net.HardwareAddr(buf[8:14])
		spa, tpa := buf[14:18], buf[24:28]
		op := binary.BigEndian.Uint16(buf[6:])
		// A reply from the holder, or another prober's request for the same address.
		claims := string(spa) == string(target[:]) ||
			(op == 1 && string(tpa) == string(target[:]) && string(spa) == "\x00\x00\x00\x00" && string(sha) != string(ifc.HardwareAddr))
		if !claims || string(sha) == string(except) || string(from) == string(except) {
			continue
		}
		return append(net.HardwareAddr(nil), sha...), nil
	}
	return nil, nil
}
