package dhcp

import "errors"

// Errors from Listen that callers turn into advice for the user.
var (
	// ErrPortInUse: another program on this host already serves DHCP (or PXE)
	// on the port and link asked for.
	ErrPortInUse = errors.New("port already in use")
	// ErrPermission: the process lacks the privileges for the port or the device binding.
	ErrPermission = errors.New("permission denied: needs root or CAP_NET_BIND_SERVICE")
)
