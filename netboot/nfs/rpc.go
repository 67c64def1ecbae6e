package nfs

import "errors"

// ONC RPC v2 (RFC 5531) numbers we need.
const (
	rpcVersion = 2

	msgCall  = 0
	msgReply = 1

	replyAccepted = 0
	replyDenied   = 1

	// accept_stat. go-nfs numbers these one too low from PROC_UNAVAIL on
	// (it sends PROC_UNAVAIL as 2, which is PROG_MISMATCH on the wire).
	acceptSuccess      = 0
	acceptProgUnavail  = 1
	acceptProgMismatch = 2
	acceptProcUnavail  = 3
	acceptGarbageArgs  = 4
	acceptSystemErr    = 5

	// reject_stat
	rejectRPCMismatch = 0
	rejectAuthError   = 1

	authBadCred = 1 // auth_stat AUTH_BADCRED

	maxAuthBody = 400 // RFC 5531: opaque body<400>

	progPortmap = 100000
	progNFS     = 100003
	progMount   = 100005

	ipprotoTCP = 6
	ipprotoUDP = 17
)

// errNotCall: the message is not an RPC call we could answer (too short to
// hold an xid, or a reply). The caller drops it.
var errNotCall = errors.New("not an RPC call")

// rpcCall is the parsed header of an RPC call message; args is the rest.
type rpcCall struct {
	xid, rpcvers, prog, vers, proc uint32
	args                           []byte
}

// callStatus says how far parseCall got.
type callStatus int

const (
	callOK      callStatus = iota
	callBadVers            // rpcvers != 2: answer RPC_MISMATCH
	callBadAuth            // credential or verifier malformed: answer AUTH_BADCRED
)

// parseCall parses an RPC call header. It returns errNotCall when there is no
// xid to answer or the message is not a CALL.
func parseCall(msg []byte) (rpcCall, callStatus, error) {
	r := xdrReader{b: msg}
	var c rpcCall
	c.xid = r.u32()
	mtype := r.u32()
	if r.bad || mtype != msgCall {
		return c, 0, errNotCall
	}
	c.rpcvers = r.u32()
	if r.bad {
		return c, 0, errNotCall
	}
	if c.rpcvers != rpcVersion {
		return c, callBadVers, nil
	}
	c.prog, c.vers, c.proc = r.u32(), r.u32(), r.u32()
	r.u32() // cred flavor
	r.opaque(maxAuthBody)
	r.u32() // verf flavor
	r.opaque(maxAuthBody)
	if r.bad {
		return c, callBadAuth, nil
	}
	c.args = r.b
	return c, callOK, nil
}

// acceptedReply builds a MSG_ACCEPTED reply with an AUTH_NONE verifier.
func acceptedReply(xid, stat uint32, body ...uint32) []byte {
	w := xdrWriter{b: make([]byte, 0, 24+4*len(body))}
	w.u32(xid)
	w.u32(msgReply)
	w.u32(replyAccepted)
	w.u32(0) // verf flavor AUTH_NONE
	w.u32(0) // verf length
	w.u32(stat)
	for _, v := range body {
		w.u32(v)
	}
	return w.b
}

// deniedReply builds a MSG_DENIED reply.
func deniedReply(xid, stat uint32, body ...uint32) []byte {
	w := xdrWriter{}
	w.u32(xid)
	w.u32(msgReply)
	w.u32(replyDenied)
	w.u32(stat)
	for _, v := range body {
		w.u32(v)
	}
	return w.b
}

// headerReply answers what parseCall already found wrong, or nil.
func headerReply(c rpcCall, st callStatus) []byte {
	switch st {
	case callBadVers:
		return deniedReply(c.xid, rejectRPCMismatch, rpcVersion, rpcVersion)
	case callBadAuth:
		return deniedReply(c.xid, rejectAuthError, authBadCred)
	}
	return nil
}
