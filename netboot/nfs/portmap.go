package nfs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/sharecd/sharecd/netboot/connlimit"
)

// Portmapper answers PMAP v2 (RFC 1833 §3, program 100000) on TCP and UDP.
//
// klibc's nfsmount, which live-boot and casper use, has no option for the
// MOUNT port: it always asks the portmapper on port 111 (TCP, then UDP), and
// without an answer the mount never succeeds. It only needs GETPORT; NULL and
// DUMP are there for rpcinfo and the like. SET/UNSET (registration) are not
// offered: nothing else may register with us.
//
// Zero fields mean the default.
type Portmapper struct {
	// NFSPort is where NFS v3 (TCP) is served. Zero means 2049.
	NFSPort int
	// MountPort is where MOUNT v3 is served. Zero means NFSPort: go-nfs
	// serves both on one listener.
	MountPort int
	// Allow says whether a client may ask. Nil allows everyone.
	Allow func(netip.Addr) bool
	// MaxConns bounds the TCP connections open at once. Zero means DefaultPmapMaxConns.
	MaxConns int
	// MaxConnsPerClient bounds one client address's TCP connections. Zero means
	// DefaultPmapMaxConnsPerClient.
	MaxConnsPerClient int
	// Log gets refusals and errors. Nil discards.
	Log *slog.Logger
}

const (
	pmapVersion = 2
	pmapPort    = 111

	pmapNull    = 0
	pmapGetport = 3
	pmapDump    = 4

	// maxPmapRecord: PMAP calls are a header and four words; a credential
	// can add 400 bytes. Anything much bigger is not a portmapper call.
	maxPmapRecord = 4096
	// pmapIdle closes TCP connections nobody uses any more.
	pmapIdle = 2 * time.Minute
)

// Portmapper connection bounds. A client asks one GETPORT or two and closes (klibc's nfsmount:
// one connection per mount), so connections are few and short; an idle one is closed after
// pmapIdle anyway.
const (
	// DefaultPmapMaxConns: a room of clients mounting at the same moment.
	DefaultPmapMaxConns = 64
	// DefaultPmapMaxConnsPerClient: a client mounting asks over one or two connections at a
	// time (mount.nfs asks for NFS and MOUNT); 8 leaves room for retries and rpcinfo.
	DefaultPmapMaxConnsPerClient = 8
)

type mapping struct{ prog, vers, prot, port uint32 }

func (p *Portmapper) ports() (nfsPort, mountPort uint32) {
	nfsPort = 2049
	if p.NFSPort != 0 {
		nfsPort = uint32(p.NFSPort)
	}
	mountPort = nfsPort
	if p.MountPort != 0 {
		mountPort = uint32(p.MountPort)
	}
	return nfsPort, mountPort
}

// mappings is what DUMP lists and GETPORT searches: only what is served. MOUNT is
// served on TCP only (go-nfs's one listener), so it is not listed for UDP: a client that asks
// for MOUNT over UDP gets "not registered" and asks for TCP next (mount.nfs probes UDP, then
// TCP; klibc's nfsmount asks for TCP), where listing UDP would send it to a port that never
// answers, to wait out its timeouts.
func (p *Portmapper) mappings() []mapping {
	nfsPort, mountPort := p.ports()
	return []mapping{
		{progPortmap, pmapVersion, ipprotoTCP, pmapPort},
		{progPortmap, pmapVersion, ipprotoUDP, pmapPort},
		{progNFS, 3, ipprotoTCP, nfsPort},
		{progMount, 3, ipprotoTCP, mountPort},
	}
}

// reply answers one PMAP call message (without record marking). An error
// means there is nothing to answer (not a call, no xid).
func (p *Portmapper) reply(call []byte) ([]byte, error) {
	c, st, err := parseCall(call)
	if err != nil {
		return nil, err
	}
	if st != callOK {
		return headerReply(c, st), nil
	}
	if c.prog != progPortmap {
		return acceptedReply(c.xid, acceptProgUnavail), nil
	}
	if c.vers != pmapVersion {
		// rpcbind v3/v4 clients retry with v2 on this answer.
		return acceptedReply(c.xid, acceptProgMismatch, pmapVersion, pmapVersion), nil
	}
	switch c.proc {
	case pmapNull:
		return acceptedReply(c.xid, acceptSuccess), nil
	case pmapGetport:
		r := xdrReader{b: c.args}
		prog, vers, prot := r.u32(), r.u32(), r.u32()
		r.u32() // port: ignored
		if r.bad {
			return acceptedReply(c.xid, acceptGarbageArgs), nil
		}
		port := uint32(0) // "not registered"
		for _, m := range p.mappings() {
			if m.prog == prog && m.vers == vers && m.prot == prot {
				port = m.port
				break
			}
		}
		return acceptedReply(c.xid, acceptSuccess, port), nil
	case pmapDump:
		var body []uint32
		for _, m := range p.mappings() {
			if m.port != 0 {
				body = append(body, 1, m.prog, m.vers, m.prot, m.port)
			}
		}
		body = append(body, 0)
		return acceptedReply(c.xid, acceptSuccess, body...), nil
	default:
		return acceptedReply(c.xid, acceptProcUnavail), nil
	}
}

func (p *Portmapper) allowed(ip netip.Addr) bool { return p.Allow == nil || p.Allow(ip) }

func (p *Portmapper) logger() *slog.Logger {
	if p.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Log
}

// Serve answers on tcp and udp (either may be nil) until ctx is done, then
// closes both and every connection and returns nil.
func (p *Portmapper) Serve(ctx context.Context, tcp net.Listener, udp net.PacketConn) error {
	if tcp == nil && udp == nil {
		return errors.New("serving portmapper: no socket")
	}
	log := p.logger()
	if tcp != nil {
		tcp = &connlimit.Listener{
			Listener:  tcp,
			Name:      "portmapper",
			Max:       orDefault(p.MaxConns, DefaultPmapMaxConns),
			PerClient: orDefault(p.MaxConnsPerClient, DefaultPmapMaxConnsPerClient),
			Log:       log,
		}
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		errc  = make(chan error, 2)
		done  bool
	)
	if tcp != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				// Accept waits out descriptor exhaustion and the like (connlimit), so an
				// error here is the listener's close.
				c, err := tcp.Accept()
				if err != nil {
					errc <- fmt.Errorf("accepting portmapper connection: %w", err)
					return
				}
				peer := peerAddr(c.RemoteAddr())
				if !p.allowed(peer) {
					log.Debug("refused portmapper connection: client not allowed", "client", peer)
					_ = c.Close()
					continue
				}
				mu.Lock()
				if done {
					mu.Unlock()
					_ = c.Close()
					continue
				}
				conns[c] = struct{}{}
				mu.Unlock()
				wg.Add(1)
				go func() {
					defer wg.Done()
					p.serveConn(c, peer, log)
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
				}()
			}
		}()
	}
	if udp != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 9000)
			for {
				n, addr, err := udp.ReadFrom(buf)
				if err != nil {
					errc <- fmt.Errorf("reading portmapper datagram: %w", err)
					return
				}
				peer := peerAddr(addr)
				if !p.allowed(peer) {
					log.Debug("ignored portmapper call: client not allowed", "client", peer)
					continue
				}
				out, err := p.reply(buf[:n])
				if err != nil {
					log.Debug("ignored portmapper datagram", "client", peer, "err", err)
					continue
				}
				if _, err := udp.WriteTo(out, addr); err != nil {
					log.Debug("portmapper reply failed", "client", peer, "err", err)
				}
			}
		}()
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	if tcp != nil {
		_ = tcp.Close()
	}
	if udp != nil {
		_ = udp.Close()
	}
	mu.Lock()
	done = true
	for c := range conns {
		_ = c.Close()
	}
	mu.Unlock()
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("serving portmapper: %w", err)
}

func (p *Portmapper) serveConn(c net.Conn, peer netip.Addr, log *slog.Logger) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		_ = c.SetReadDeadline(time.Now().Add(pmapIdle))
		rec, err := readRecord(br, nil, maxPmapRecord)
		if err != nil {
			return
		}
		out, err := p.reply(rec)
		if err != nil {
			log.Debug("ignored portmapper message", "client", peer, "err", err)
			continue
		}
		msg := make([]byte, 4, 4+len(out))
		msg[0], msg[1], msg[2], msg[3] = 0x80|byte(len(out)>>24), byte(len(out)>>16), byte(len(out)>>8), byte(len(out))
		if _, err := c.Write(append(msg, out...)); err != nil {
			return
		}
	}
}
