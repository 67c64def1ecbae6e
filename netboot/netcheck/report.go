package netcheck

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what a check found on one interface and on this host: facts only. What a share
// does about them is the engine's one decision (netboot's decide).
type Report struct {
	Iface      string       `json:"iface"`
	Addr       netip.Prefix `json:"addr,omitzero"` // the interface's IPv4 address, if any
	Duration   string       `json:"duration"`
	Responders []Responder  `json:"responders"`
	Local      []PortUse    `json:"local_conflicts"`
	Ports      []SharePort  `json:"-"` // the ports checked for local holders
}

// Check probes iface for DHCP servers and lists local port conflicts. wait 0 = Probe's default.
// addr is the interface's IPv4 address (zero if it has none): a responder at that address or at
// the interface's own MAC is this host itself and is left out.
// ports are the share's own (the engine's one list), checked for local holders.
func Check(ctx context.Context, iface string, addr netip.Prefix, wait time.Duration, ports []SharePort) (Report, error) {
	start := time.Now()
	var own []net.HardwareAddr
	if ifc, err := net.InterfaceByName(iface); err == nil && len(ifc.HardwareAddr) > 0 {
		own = append(own, ifc.HardwareAddr)
	}
	rs, err := (&Probe{Iface: iface, Wait: wait, Ignore: own}).Run(ctx)
	if err != nil {
		return Report{}, err
	}
	r := Report{Iface: iface, Addr: addr, Responders: []Responder{}, Local: LocalConflicts(ports), Ports: ports}
	for _, x := range rs {
		if addr.IsValid() && x.ServerIP == addr.Addr() {
			continue
		}
		r.Responders = append(r.Responders, x)
	}
	if r.Local == nil {
		r.Local = []PortUse{}
	}
	r.Duration = time.Since(start).Round(10 * time.Millisecond).String()
	return r, nil
}

// PXEServers are the responders that would send PXE clients elsewhere.
func (r Report) PXEServers() []Responder {
	var out []Responder
	for _, x := range r.Responders {
		if x.Kind.PXE() {
			out = append(out, x)
		}
	}
	return out
}

// AddressServers are the responders that hand out addresses.
func (r Report) AddressServers() []Responder {
	var out []Responder
	for _, x := range r.Responders {
		if x.OfferedIP.IsValid() {
			out = append(out, x)
		}
	}
	return out
}

// Describe names a responder in one phrase: "proxy-DHCP server 10.0.0.5 (MAC 52:54:00:12:34:56)".
func (x Responder) Describe() string {
	what := map[Kind]string{
		KindDHCP:    "DHCP server",
		KindDHCPPXE: "DHCP server offering PXE boot",
		KindProxy:   "proxy-DHCP server",
		KindOther:   "DHCP responder",
	}[x.Kind]
	if what == "" {
		what = "DHCP responder"
	}
	s := fmt.Sprintf("%s %s (MAC %s", what, x.ServerIP, x.MACText)
	if x.Relay.IsValid() {
		s += ", via relay " + x.Relay.String()
	}
	if x.BootFile != "" {
		s += ", boot file " + x.BootFile
	}
	return s + ")"
}

// WriteText prints the report as a table for a terminal.
func (r Report) WriteText(w io.Writer) {
	addr := "no IPv4 address"
	if r.Addr.IsValid() {
		addr = r.Addr.String()
	}
	fmt.Fprintf(w, "DHCP check on %s (%s), %s\n\n", r.Iface, addr, r.Duration)
	if len(r.Responders) == 0 {
		fmt.Fprintln(w, "No DHCP server answered.")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tSERVER\tMAC\tSUBNET\tROUTER\tPXE BOOT\tANSWERED")
		for _, x := range r.Responders {
			boot := "-"
			if x.BootFile != "" || x.NextServer != "" {
				boot = strings.TrimPrefix(x.NextServer+":"+x.BootFile, ":")
			} else if strings.HasPrefix(x.Vendor, "PXEClient") {
				boot = "PXEClient (menu)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.Kind, x.ServerIP, x.MACText,
				dash(x.Subnet), dash(x.Router), boot, strings.Join(x.Answered, ","))
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	if len(r.Local) == 0 {
		var names []string
		for _, p := range r.Ports {
			names = append(names, fmt.Sprintf("%s/%d", p.Proto, p.Port))
		}
		fmt.Fprintf(w, "No other program on this host holds a port a share needs (%s).\n", strings.Join(names, ", "))
	}
	for _, u := range r.Local {
		fmt.Fprintln(w, u.String())
	}
}

func dash(v interface{ IsValid() bool }) string {
	if !v.IsValid() {
		return "-"
	}
	return fmt.Sprint(v)
}
