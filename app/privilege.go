package app

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// Capability bits (linux/capability.h).
const (
	capNetBindService = 10
	capNetRaw         = 13
)

// MissingPrivilege says, in plain words, why this process cannot open the servers' ports, or ""
// when it can: it runs as root, or its binary carries cap_net_bind_service and cap_net_raw (the
// package sets them, see packaging/postinst). cap_net_admin, which the package sets too, is not
// asked for here: without it only a firewall that filters stops a share, and the share says so
// (netboot.ErrFirewallUnknown). The window is never meant to run as root.
func MissingPrivilege() string {
	if os.Geteuid() == 0 {
		return ""
	}
	eff, ok := effectiveCaps()
	if ok && eff&(1<<capNetBindService) != 0 && eff&(1<<capNetRaw) != 0 {
		return ""
	}
	exe, err := os.Executable()
	if err != nil {
		exe = "/usr/bin/sharecd"
	}
	return missingPrivilegeText(exe)
}

// missingPrivilegeText is MissingPrivilege's message for the binary exe.
func missingPrivilegeText(exe string) string {
	return "This program is not allowed to open the network-boot ports. Install it from its package, " +
		"or give it the network permissions it needs once with:\n" +
		"sudo setcap cap_net_bind_service,cap_net_raw,cap_net_admin+ep " + exe
}

func effectiveCaps() (uint64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return n, err == nil
		}
	}
	return 0, false
}
