package nfs

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// emfileListener fails its first n Accepts as accept4 does when the process has no descriptor
// left, then accepts.
type emfileListener struct {
	net.Listener
	mu sync.Mutex
	n  int
}

func (l *emfileListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.n > 0 {
		l.n--
		l.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

// refusedByServer reports whether the server closed c without an answer. The deadline only
// ends the wait when the server kept the connection, which the caller counts as kept.
func refusedByServer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// The regression of issue 27: accept4 failing with EMFILE ended the share.
func TestNFSSurvivesAcceptErrors(t *testing.T) {
	_, fsys := medium(t, 100)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- (&Server{FS: fsys}).Serve(ctx, &emfileListener{Listener: inner, n: 5}) }()
	c := dial(t, inner.Addr().(*net.TCPAddr).Port)
	if st, _ := c.mount(DefaultExport); st != 0 {
		t.Errorf("MNT after 5 EMFILE accepts = %d, want MNT3_OK", st)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Serve = %v, want nil after cancel", err)
	}
}

func TestNFSConnectionBounds(t *testing.T) {
	s, _ := newServer(t, 100)
	s.MaxConnsPerClient = 2
	port := serve(t, s)
	a, b := dial(t, port), dial(t, port)
	for _, c := range []*rpcClient{a, b} {
		if st, _ := c.mount(DefaultExport); st != 0 {
			t.Fatalf("MNT within the bound = %d", st)
		}
	}
	over := dial(t, port)
	if !refusedByServer(over.c) {
		t.Fatal("a third connection from one client was not closed")
	}
	// The clients within the bound go on; one that closes makes room.
	if st, _ := a.mount(DefaultExport); st != 0 {
		t.Errorf("MNT on a kept connection after the refusal = %d", st)
	}
	b.c.Close()
	for { // the server sees b's close a moment later; until then a new one is refused
		c := dial(t, port)
		c.xid++
		c.send(callMsg(c.xid, 2, progMount, 3, mountExport, nil))
		if _, err := c.recv(); err == nil {
			break
		}
		c.c.Close()
	}
}

func TestNFSIdleTimeout(t *testing.T) {
	s, _ := newServer(t, 100)
	s.IdleTimeout = 100 * time.Millisecond
	c := dial(t, serve(t, s))
	if st, _ := c.mount(DefaultExport); st != 0 {
		t.Fatalf("MNT = %d", st)
	}
	// Silent now: the server drops it (the read waits 10 s for a close that takes 100 ms).
	if !refusedByServer(c.c) {
		t.Error("an idle connection was not closed")
	}
}

func TestPortmapSurvivesAcceptErrorsAndBounds(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Portmapper{MaxConnsPerClient: 1}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Serve(ctx, &emfileListener{Listener: inner, n: 5}, nil) }()
	getport := pmapCall(0x77, 2, pmapGetport, progNFS, 3, ipprotoTCP, 0)
	ask := func(c net.Conn) error {
		rec := binary.BigEndian.AppendUint32(nil, 1<<31|uint32(len(getport)))
		if _, err := c.Write(append(rec, getport...)); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := readRecord(c, nil, 4096)
		if err == nil && !bytes.Equal(got, acceptedReply(0x77, acceptSuccess, 2049)) {
			err = errors.New("wrong answer")
		}
		return err
	}
	c, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := ask(c); err != nil {
		t.Fatalf("GETPORT after 5 EMFILE accepts: %v", err)
	}
	over, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	if !refusedByServer(over) {
		t.Error("a second connection from one client was not closed")
	}
	if err := ask(c); err != nil {
		t.Errorf("GETPORT on the kept connection after a refusal: %v", err)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Serve = %v, want nil after cancel", err)
	}
}
