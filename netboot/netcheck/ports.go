package netcheck

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// SharePort is a port a share needs on this host.
type SharePort struct {
	Proto   string // "udp" or "tcp"
	Port    int
	Service string
}

// PortUse is a local program holding one of a share's ports.
type PortUse struct {
	SharePort
	Process string `json:"process,omitempty"` // "dnsmasq"; "" when it can't be found
	PID     int    `json:"pid,omitempty"`
	// Holder is the process as a user reads it: "dnsmasq (pid 812)", or "another program".
	Holder string `json:"holder"`
}

func (u PortUse) String() string {
	return fmt.Sprintf("%s port %s/%d is already in use by %s", u.Service, u.Proto, u.Port, u.Holder)
}

// LocalConflicts lists the programs in this network namespace bound to one of ports, the ports a
// share needs (NetworkManager's "shared" dnsmasq, libvirt's dnsmasq, rpcbind, an NFS or TFTP
// server).
func LocalConflicts(ports []SharePort) []PortUse {
	var out []PortUse
	for _, sp := range ports {
		inodes := boundSockets(sp.Proto, sp.Port)
		if len(inodes) == 0 {
			continue
		}
		u := PortUse{SharePort: sp, Holder: "another program"}
		if name, pid, ok := socketOwner(inodes); ok {
			u.Process, u.PID = name, pid
			u.Holder = fmt.Sprintf("%s (pid %d)", name, pid)
		}
		out = append(out, u)
	}
	return out
}

// PortHolder names the process bound to a local port ("dnsmasq (pid 812)"), or "" when it cannot
// be found (another network namespace, or no permission to read /proc/PID/fd). A user told
// "port 67 is in use by dnsmasq" knows what to switch off; "address already in use" says nothing.
func PortHolder(proto string, port int) string {
	if name, pid, ok := socketOwner(boundSockets(proto, port)); ok {
		return fmt.Sprintf("%s (pid %d)", name, pid)
	}
	return ""
}

// boundSockets returns the inodes ("socket:[123]") of the sockets bound to port, read from this
// namespace's /proc/net tables. TCP counts listeners only.
func boundSockets(proto string, port int) map[string]bool {
	inodes := map[string]bool{}
	for _, table := range []string{proto, proto + "6"} {
		f, err := os.Open(filepath.Join("/proc/net", table))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 {
				continue
			}
			_, hexPort, ok := strings.Cut(fields[1], ":")
			if !ok {
				continue
			}
			p, err := strconv.ParseUint(hexPort, 16, 16)
			// TCP listeners only (state 0A); UDP sockets have no listening state.
			if err != nil || int(p) != port || (proto == "tcp" && fields[3] != "0A") {
				continue
			}
			inodes["socket:["+fields[9]+"]"] = true
		}
		f.Close()
	}
	return inodes
}

func socketOwner(inodes map[string]bool) (string, int, bool) {
	if len(inodes) == 0 {
		return "", 0, false
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		fds, _ := os.ReadDir(filepath.Join(p, "fd"))
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(p, "fd", fd.Name()))
			if err != nil || !inodes[link] {
				continue
			}
			comm, _ := os.ReadFile(filepath.Join(p, "comm"))
			pid, _ := strconv.Atoi(filepath.Base(p))
			return strings.TrimSpace(string(comm)), pid, true
		}
	}
	return "", 0, false
}
