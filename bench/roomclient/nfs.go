package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
)

// nfsClient is the client's NFS mount: one TCP connection, as the kernel's, and the handles of
// the paths it has looked up.
type nfsClient struct {
	rpc *rpcClient
	mu  sync.Mutex
	fhs map[string][]byte // path from the export's root ("" is the root) → handle
}

// mount does what the initramfs' nfsmount does: portmapper, MOUNT (MNT), portmapper, NFS.
func mount(server, export string) (*nfsClient, error) {
	mp, err := getport(server, 100005, 3)
	if err != nil {
		return nil, err
	}
	mc, err := dialRPC(net.JoinHostPort(server, strconv.Itoa(mp)))
	if err != nil {
		return nil, fmt.Errorf("MOUNT: %w", err)
	}
	defer mc.Close()
	x, err := mc.call(100005, 3, 1, (&xdrw{}).str(export).b)
	if err != nil {
		return nil, fmt.Errorf("MNT %s: %w", export, err)
	}
	if st := x.U32(); st != 0 {
		return nil, fmt.Errorf("MNT %s: status %d", export, st)
	}
	root := append([]byte(nil), x.Opaque()...)
	np, err := getport(server, 100003, 3)
	if err != nil {
		return nil, err
	}
	c, err := dialRPC(net.JoinHostPort(server, strconv.Itoa(np)))
	if err != nil {
		return nil, fmt.Errorf("NFS: %w", err)
	}
	return &nfsClient{rpc: c, fhs: map[string][]byte{"": root}}, nil
}

// lookup finds a path's handle, one LOOKUP for each part not known yet; ok is false if the
// path does not exist (live-boot looks for files that are not there).
func (n *nfsClient) lookup(path string) (fh []byte, ok bool, err error) {
	n.mu.Lock()
	fh, ok = n.fhs[path]
	n.mu.Unlock()
	if ok {
		return fh, true, nil
	}
	dir, name := "", path
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		dir, name = path[:i], path[i+1:]
	}
	dfh, ok, err := n.lookup(dir)
	if !ok || err != nil {
		return nil, ok, err
	}
	x, err := n.rpc.call(100003, 3, 3, (&xdrw{}).opaque(dfh).str(name).b)
	if err != nil {
		return nil, false, fmt.Errorf("LOOKUP %s: %w", path, err)
	}
	if x.U32() != 0 {
		return nil, false, nil
	}
	fh = append([]byte(nil), x.Opaque()...)
	n.mu.Lock()
	n.fhs[path] = fh
	n.mu.Unlock()
	return fh, true, nil
}

// readdir lists a directory as the kernel did (READDIRPLUS), replies not looked at.
func (n *nfsClient) readdir(path string) error {
	if path == "." {
		path = ""
	}
	fh, ok, err := n.lookup(path)
	if !ok || err != nil {
		return fmt.Errorf("READDIRPLUS %s: not found (%v)", path, err)
	}
	_, err = n.rpc.call(100003, 3, 17, (&xdrw{}).opaque(fh).u64(0).u64(0).u32(4096).u32(32768).b)
	return err
}

// read reads count bytes at off, in more READs if the server sends less than asked (ganesha's
// and sharecd's largest READ may differ); returns the bytes read.
func (n *nfsClient) read(path string, off, count int64) (int64, error) {
	fh, ok, err := n.lookup(path)
	if !ok || err != nil {
		return 0, fmt.Errorf("READ %s: not found (%v)", path, err)
	}
	var got int64
	for got < count {
		x, err := n.rpc.call(100003, 3, 6, (&xdrw{}).opaque(fh).u64(uint64(off+got)).u32(uint32(count-got)).b)
		if err != nil {
			return got, fmt.Errorf("READ %s at %d: %w", path, off+got, err)
		}
		if st := x.U32(); st != 0 {
			return got, fmt.Errorf("READ %s at %d: status %d", path, off+got, st)
		}
		if x.U32() == 1 { // post_op_attr
			x.Skip(84)
		}
		k := int64(x.U32())
		eof := x.U32() == 1
		if x.Failed() {
			return got, fmt.Errorf("READ %s at %d: short reply", path, off+got)
		}
		got += k
		if eof || k == 0 {
			break
		}
	}
	return got, nil
}
