package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// dhcpConn is the client's DHCP socket: port 68 on its own interface, as a PXE ROM's. Every
// simulated client has a namespace of its own, so each can have port 68.
type dhcpConn struct {
	conn   *net.UDPConn
	mac    net.HardwareAddr
	server net.IP
}

func newDHCP(iface string, mac net.HardwareAddr, server net.IP) (*dhcpConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
			if serr == nil {
				serr = syscall.BindToDevice(int(fd), iface)
			}
		})
		return errors.Join(err, serr)
	}}
	pc, err := lc.ListenPacket(nil, "udp4", ":68")
	if err != nil {
		return nil, fmt.Errorf("DHCP socket: %w", err)
	}
	return &dhcpConn{conn: pc.(*net.UDPConn), mac: mac, server: server}, nil
}

// message is what the lab's BIOS client (SeaBIOS with QEMU's iPXE ROM) sends: a PXE client of
// architecture 0 whose user class says iPXE, so that sharecd hands it the same boot.ipxe.
// pxe = false is the Linux initramfs asking for an address, which no proxy answers.
func (d *dhcpConn) message(typ dhcpv4.MessageType, pxe bool) (*dhcpv4.DHCPv4, error) {
	mods := []dhcpv4.Modifier{dhcpv4.WithMessageType(typ), dhcpv4.WithHwAddr(d.mac), dhcpv4.WithBroadcast(true)}
	if pxe {
		guid := append([]byte{0}, bytes.Repeat(d.mac[2:], 4)[:16]...)
		mods = append(mods,
			dhcpv4.WithGeneric(dhcpv4.OptionClassIdentifier, []byte("PXEClient:Arch:00000:UNDI:002001")),
			dhcpv4.WithGeneric(dhcpv4.OptionClientSystemArchitectureType, []byte{0, 0}),
			dhcpv4.WithGeneric(dhcpv4.OptionClientNetworkInterfaceIdentifier, []byte{1, 2, 1}),
			dhcpv4.WithGeneric(dhcpv4.OptionClientMachineIdentifier, guid),
			dhcpv4.WithGeneric(dhcpv4.OptionUserClassInformation, []byte("iPXE")),
			dhcpv4.WithRequestedOptions(dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter, dhcpv4.OptionVendorSpecificInformation,
				dhcpv4.OptionClassIdentifier, dhcpv4.OptionTFTPServerName, dhcpv4.OptionBootfileName))
	}
	return dhcpv4.New(mods...)
}

// exchange sends m to port and, if wait, waits for the server's answer to it (not the router's:
// there is none in the room), sending again after 1, 2 and 4 s as ROMs do.
func (d *dhcpConn) exchange(m *dhcpv4.DHCPv4, to net.IP, port int, wait bool) (*dhcpv4.DHCPv4, error) {
	dst := &net.UDPAddr{IP: to, Port: port}
	buf := make([]byte, 1500)
	for _, timeout := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		if _, err := d.conn.WriteToUDP(m.ToBytes(), dst); err != nil {
			return nil, fmt.Errorf("sending DHCP %s to %v: %w", m.MessageType(), dst, err)
		}
		if !wait {
			return nil, nil
		}
		end := time.Now().Add(timeout)
		for {
			d.conn.SetReadDeadline(end)
			n, from, err := d.conn.ReadFromUDP(buf)
			if err != nil {
				break // timed out: send again
			}
			r, err := dhcpv4.FromBytes(buf[:n])
			if err != nil || r.TransactionID != m.TransactionID || !from.IP.Equal(d.server) {
				continue
			}
			return r, nil
		}
	}
	return nil, fmt.Errorf("no answer to DHCP %s on port %d", m.MessageType(), port)
}

// pxe is the ROM's part: DISCOVER on 67, the proxy's OFFER, then the boot-server REQUEST on
// 4011 that OVMF and Intel's ROMs send (the lab's iPXE ROM boots straight from the offer, but a
// room has both kinds), and its ACK. Returns the boot file the ACK names.
func (d *dhcpConn) pxe(local net.IP) (string, error) {
	disc, err := d.message(dhcpv4.MessageTypeDiscover, true)
	if err != nil {
		return "", err
	}
	offer, err := d.exchange(disc, net.IPv4bcast, 67, true)
	if err != nil {
		return "", err
	}
	req, err := d.message(dhcpv4.MessageTypeRequest, true)
	if err != nil {
		return "", err
	}
	req.ClientIPAddr = local
	req.Flags = 0
	// The boot item the ROM picked (PXE spec 2.1 §2.2.5, option 43 sub-option 71): the first
	// of the offer's menu (dnsmasq's pxe-service), or 0 when the offer has none (sharecd's).
	item := []byte{0, 0}
	if m := pxeSub(offer.Options.Get(dhcpv4.OptionVendorSpecificInformation), 9); len(m) >= 2 {
		item = m[:2]
	}
	req.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, []byte{71, 4, item[0], item[1], 0, 0, 255}))
	ack, err := d.exchange(req, d.server, 4011, true)
	if err != nil {
		return "", err
	}
	return ack.BootFileName, nil
}

// send is a DHCP packet no proxy answers (the ROM accepting the router's offer, the initramfs'
// own DHCP): sent, not waited for.
func (d *dhcpConn) send(typ dhcpv4.MessageType, port int, pxe bool) error {
	m, err := d.message(typ, pxe)
	if err != nil {
		return err
	}
	_, err = d.exchange(m, net.IPv4bcast, port, false)
	return err
}

// pxeSub finds a sub-option of PXE's option 43.
func pxeSub(opt43 []byte, code byte) []byte {
	for len(opt43) >= 2 && opt43[0] != 255 {
		n := int(opt43[1])
		if len(opt43) < 2+n {
			return nil
		}
		if opt43[0] == code {
			return opt43[2 : 2+n]
		}
		opt43 = opt43[2+n:]
	}
	return nil
}
