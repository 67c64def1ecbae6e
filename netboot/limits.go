package netboot

import (
	"github.com/sharecd/sharecd/netboot/httpd"
	"github.com/sharecd/sharecd/netboot/nfs"
	"github.com/sharecd/sharecd/netboot/tftp"
)

// serverBounds are the total bounds handed to the servers; a zero field leaves a server's own
// default.
type serverBounds struct {
	NFS, Portmap, HTTP, TFTP int
}

// fdsAtDefaults is how many descriptors the servers hold at their default bounds: one per NFS
// or portmapper connection, two per HTTP connection or TFTP transfer (the socket and the file).
const fdsAtDefaults = nfs.DefaultMaxConns + nfs.DefaultPmapMaxConns + 2*httpd.DefaultMaxConns + 2*tftp.DefaultMaxTransfers

// boundsFor fits the servers' total bounds into a file limit of nofile descriptors. The
// defaults need about 1,350; a host whose limit is lower (a hard limit of 1024 is common) would
// run out of descriptors before any bound was reached, and then every server's accept fails at
// once, for every client. Below that, each server gets the share of the limit its defaults
// have, after a quarter of it (at least 32) is kept for the listeners, the medium's files, NFS's
// few pipes and the rest. nofile 0 means unknown: the defaults stand.
func boundsFor(nofile uint64) serverBounds {
	reserve := max(nofile/4, 32)
	if nofile == 0 || nofile >= fdsAtDefaults+reserve {
		return serverBounds{}
	}
	budget := 0
	if nofile > reserve {
		budget = int(nofile - reserve)
	}
	// An HTTP connection costs two descriptors and its default bound is half its
	// descriptors, so every bound scales the same way: default × budget / fdsAtDefaults.
	scale := func(def int) int { return max(1, def*budget/fdsAtDefaults) }
	return serverBounds{
		NFS:     scale(nfs.DefaultMaxConns),
		Portmap: scale(nfs.DefaultPmapMaxConns),
		HTTP:    scale(httpd.DefaultMaxConns),
		TFTP:    scale(tftp.DefaultMaxTransfers),
	}
}
