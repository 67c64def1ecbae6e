//go:build !linux

package tftp

import "net"

// batchState is empty where datagrams are sent one by one.
type batchState struct{}

// sendBatch sends bufs one datagram a call: only Linux has sendmmsg(2) and
// UDP segmentation offload.
func (c *connConnection) sendBatch(bufs [][]byte, addr *net.UDPAddr) error {
	for _, p := range bufs {
		if err := c.sendTo(p, addr); err != nil {
			return err
		}
	}
	return nil
}
