//go:build !linux

package nfs

import (
	"os"
	"syscall"
)

// Elsewhere than Linux READ data goes with sendfile alone (see splice_linux.go).
type pipePool struct{}

// maxPipes: no pipes here, and no pool.
const maxPipes = 0

func newPipePool() *pipePool { return &pipePool{} }

func (*pipePool) close() {}

func (*pipePool) send(dst syscall.RawConn, src *os.File, off int64, n int) error {
	return sendFile(dst, src, off, n)
}

// holdReplies: the send buffer is left to the system here.
func holdReplies(syscall.RawConn) {}
