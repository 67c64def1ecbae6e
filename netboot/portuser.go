package netboot

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// portHolder names the process bound to a local port ("dnsmasq (pid 812)"), or "" when it cannot
// be found (another network namespace, or no permission to read /proc/PID/fd). A user told
// "port 67 is in use by dnsmasq" knows what to switch off; "address already in use" says nothing.
func portHolder(proto string, port int) string {
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
	if len(inodes) == 0 {
		return ""
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
			return fmt.Sprintf("%s (pid %s)", strings.TrimSpace(string(comm)), filepath.Base(p))
		}
	}
	return ""
}
