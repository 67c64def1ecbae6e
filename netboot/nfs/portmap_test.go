package nfs

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"
)

func pmapCall(xid, vers, proc uint32, args ...uint32) []byte {
	w := xdrWriter{}
	for _, v := range args {
		w.u32(v)
	}
	return callMsg(xid, 2, progPortmap, vers, proc, w.b)
}

func TestPortmapReply(t *testing.T) {
	p := &Portmapper{NFSPort: 2049, MountPort: 20048}
	tests := []struct {
		name string
		call []byte
		want []byte
	}{
		{"NULL", pmapCall(1, 2, pmapNull), acceptedReply(1, acceptSuccess)},
		{"GETPORT NFS v3 tcp", pmapCall(2, 2, pmapGetport, progNFS, 3, ipprotoTCP, 0), acceptedReply(2, acceptSuccess, 2049)},
		{"GETPORT NFS v3 udp", pmapCall(3, 2, pmapGetport, progNFS, 3, ipprotoUDP, 0), acceptedReply(3, acceptSuccess, 0)},
		{"GETPORT NFS v4 tcp", pmapCall(4, 2, pmapGetport, progNFS, 4, ipprotoTCP, 0), acceptedReply(4, acceptSuccess, 0)},
		{"GETPORT MOUNT v3 tcp", pmapCall(5, 2, pmapGetport, progMount, 3, ipprotoTCP, 0), acceptedReply(5, acceptSuccess, 20048)},
		// Not served on UDP, so not registered (issue 27).
		{"GETPORT MOUNT v3 udp", pmapCall(6, 2, pmapGetport, progMount, 3, ipprotoUDP, 0), acceptedReply(6, acceptSuccess, 0)},
		{"GETPORT MOUNT v1", pmapCall(7, 2, pmapGetport, progMount, 1, ipprotoUDP, 0), acceptedReply(7, acceptSuccess, 0)},
		{"GETPORT NLM", pmapCall(8, 2, pmapGetport, 100021, 4, ipprotoTCP, 0), acceptedReply(8, acceptSuccess, 0)},
		{"GETPORT short args", pmapCall(9, 2, pmapGetport, progNFS, 3), acceptedReply(9, acceptGarbageArgs)},
		{"DUMP", pmapCall(10, 2, pmapDump), acceptedReply(10, acceptSuccess,
			1, progPortmap, 2, ipprotoTCP, 111,
			1, progPortmap, 2, ipprotoUDP, 111,
			1, progNFS, 3, ipprotoTCP, 2049,
			1, progMount, 3, ipprotoTCP, 20048,
			0)},
		{"SET", pmapCall(11, 2, 1, 100099, 1, ipprotoTCP, 999), acceptedReply(11, acceptProcUnavail)},
		{"CALLIT", pmapCall(12, 2, 5, progNFS, 3, 0, 0), acceptedReply(12, acceptProcUnavail)},
		{"rpcbind v3", pmapCall(13, 3, 3), acceptedReply(13, acceptProgMismatch, 2, 2)},
		{"rpcbind v4", pmapCall(14, 4, 3), acceptedReply(14, acceptProgMismatch, 2, 2)},
		{"not the portmapper", callMsg(15, 2, progNFS, 3, 0, nil), acceptedReply(15, acceptProgUnavail)},
		{"rpcvers 1", callMsg(16, 1, progPortmap, 2, 0, nil), deniedReply(16, rejectRPCMismatch, 2, 2)},
	}
	for _, tt := range tests {
		got, err := p.reply(tt.call)
		if err != nil || !bytes.Equal(got, tt.want) {
			t.Errorf("%s: reply %x, %v\nwant %x", tt.name, got, err, tt.want)
		}
	}
	// Defaults: NFS on 2049, MOUNT on the same port.
	got, _ := (&Portmapper{}).reply(pmapCall(1, 2, pmapGetport, progMount, 3, ipprotoTCP, 0))
	if !bytes.Equal(got, acceptedReply(1, acceptSuccess, 2049)) {
		t.Errorf("default MOUNT port: %x", got)
	}
	// Not a call: nothing to answer.
	for _, msg := range [][]byte{nil, {1, 2, 3}, acceptedReply(1, 0)} {
		if out, err := p.reply(msg); err == nil {
			t.Errorf("reply(%x) = %x, want an error", msg, out)
		}
	}
}

func TestPortmapServe(t *testing.T) {
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ul, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := netip.MustParseAddr("127.0.0.2")
	p := &Portmapper{NFSPort: 3049, Allow: func(ip netip.Addr) bool { return ip != refused }}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Serve(ctx, tl, ul) }()

	getport := pmapCall(0x77, 2, pmapGetport, progNFS, 3, ipprotoTCP, 0)
	want := acceptedReply(0x77, acceptSuccess, 3049)

	// TCP, two calls on one connection.
	c, err := net.Dial("tcp", tl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 2 {
		rec := binary.BigEndian.AppendUint32(nil, 1<<31|uint32(len(getport)))
		if _, err := c.Write(append(rec, getport...)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := readRecord(c, nil, 4096)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("TCP GETPORT: %x %v", got, err)
		}
	}

	// UDP.
	u, err := net.Dial("udp", ul.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, err := u.Write(getport); err != nil {
		t.Fatal(err)
	}
	_ = u.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	n, err := u.Read(buf)
	if err != nil || !bytes.Equal(buf[:n], want) {
		t.Fatalf("UDP GETPORT: %x %v", buf[:n], err)
	}

	// A refused client gets nothing (UDP from 127.0.0.2).
	laddr := &net.UDPAddr{IP: refused.AsSlice()}
	ru, err := net.DialUDP("udp", laddr, ul.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer ru.Close()
	_, _ = ru.Write(getport)
	_ = ru.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := ru.Read(buf); err == nil {
		t.Errorf("refused client got a reply: %x", buf[:n])
	}
	// ... and a refused TCP connection is closed.
	rt, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: refused.AsSlice()}}).Dial("tcp", tl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	_ = rt.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := rt.Read(buf); err == nil {
		t.Error("refused TCP client: connection left open")
	}

	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Serve = %v after cancel", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(buf); err == nil {
		t.Error("TCP connection left open after cancel")
	}
}
