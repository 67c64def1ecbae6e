package netboot

import "github.com/sharecd/sharecd/netboot/netcheck"

// portHolder names the process bound to a local port ("dnsmasq (pid 812)"), or "".
func portHolder(proto string, port int) string { return netcheck.PortHolder(proto, port) }
