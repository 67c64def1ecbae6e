package netlab

import (
	"io"

	"github.com/willscott/go-nfs-client/nfs/rpc"
	"github.com/willscott/go-nfs-client/nfs/xdr"
)

// NFS and MOUNT calls through go-nfs-client's RPC layer (record marking, xids, AUTH_UNIX,
// XDR), but not its Mount/Target API: DialMount and NewTarget always ask the portmapper on port
// 111 (rpc.DialPortmapper has no port), and every Target starts a cache-cleaning goroutine that
// never ends (nfs.(*Target).cleanupCache), a leak of the test's own on every mount. These are the
// structs its Target sends.

// MntArgs is MOUNT's MNT.
type MntArgs struct {
	rpc.Header
	Dirpath string
}

// DiropArgs is LOOKUP's and REMOVE's: a directory handle and a name.
type DiropArgs struct {
	rpc.Header
	Dir  []byte
	Name string
}

// ReadArgs is READ's.
type ReadArgs struct {
	rpc.Header
	FH     []byte
	Offset uint64
	Count  uint32
}

// WriteArgs is WRITE's.
type WriteArgs struct {
	rpc.Header
	FH     []byte
	Offset uint64
	Count  uint32
	Stable uint32
	Data   []byte
}

// CreateArgs is CREATE's, UNCHECKED, with no attribute set.
type CreateArgs struct {
	rpc.Header
	Dir  []byte
	Name string
	How  uint32 // UNCHECKED
	// sattr3: six "set it" discriminants, all FALSE
	SetMode, SetUID, SetGID, SetSize, SetAtime, SetMtime uint32
}

// NFSCall makes one call and returns its nfsstat3 (or mountstat3) and the rest of the reply.
func NFSCall(c *rpc.Client, args any) (uint32, io.ReadSeeker, error) {
	res, err := c.Call(args)
	if err != nil {
		return 0, nil, err
	}
	st, err := xdr.ReadUint32(res)
	return st, res, err
}
