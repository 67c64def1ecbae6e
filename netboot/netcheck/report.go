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

// Report is what a check found on one interface and on this host.
type Report struct {
	Iface      string       `json:"iface"`
	Addr       netip.Prefix `json:"addr,omitzero"` // the interface's IPv4 address, if any
	Duration   string       `json:"duration"`
	Responders []Responder  `json:"responders"`
	Local      []PortUse    `json:"local_conflicts"`
	ProxySafe  bool         `json:"proxy_safe"`
	Verdict    string       `json:"verdict"`
}

// Check probes iface for DHCP servers and lists local port conflicts. wait 0 = Probe's default.
// addr is the interface's IPv4 address (zero if it has none): a responder at that address or at
// the interface's own MAC is this host itself and is left out.
func Check(ctx context.Context, iface string, addr netip.Prefix, wait time.Duration) (Report, error) {
	start := time.Now()
	var own []net.HardwareAddr
	if ifc, err := net.InterfaceByName(iface); err == nil && len(ifc.HardwareAddr) > 0 {
		own = append(own, ifc.HardwareAddr)
	}
	rs, err := (&Probe{Iface: iface, Wait: wait, Ignore: own}).Run(ctx)
	if err != nil {
		return Report{}, err
	}
	r := Report{Iface: iface, Addr: addr, Responders: []Responder{}, Local: LocalConflicts()}
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
	r.ProxySafe, r.Verdict = verdict(r)
	return r, nil
}

// verdict says whether proxy mode is safe, and why in one sentence. Proxy mode needs a DHCP
// server handing out addresses (a proxy gives none), no other PXE server (clients would pick
// either), and the share's ports free on this host.
func verdict(r Report) (bool, string) {
	if len(r.Local) > 0 {
		return false, r.Local[0].String() + "; stop it first"
	}
	if pxe := r.PXEServers(); len(pxe) > 0 {
		return false, fmt.Sprintf("another PXE server answers on %s: %s; clients would boot from either",
			r.Iface, pxe[0].Describe())
	}
	if len(r.AddressServers()) == 0 {
		return false, fmt.Sprintf("no DHCP server answered on %s within %s: PXE clients would get no address "+
			"(--dhcp-mode full runs sharecd's own DHCP server on this interface)", r.Iface, r.Duration)
	}
	return true, fmt.Sprintf("proxy mode is safe: %s hands out addresses and no other PXE server answered",
		r.AddressServers()[0].Describe())
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
		fmt.Fprintln(w, "No other program on this host holds ports 67, 69, 80, 111, 2049 or 4011.")
	}
	for _, u := range r.Local {
		fmt.Fprintln(w, u.String())
	}
	fmt.Fprintln(w)
	if r.ProxySafe {
		fmt.Fprintln(w, "OK:", r.Verdict)
	} else {
		fmt.Fprintln(w, "NOT SAFE:", r.Verdict)
	}
}

func dash(v interface{ IsValid() bool }) string {
	if !v.IsValid() {
		return "-"
	}
	return fmt.Sprint(v)
}
