package packaging

// The packaged window, for real: sharing to a PXE client on a LAN of network namespaces, and
// quitting the moment it appears.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/sharecd/sharecd/netboot/dhcp"
	"github.com/sharecd/sharecd/netboot/netlab"
)

// clientMAC is the booting machine's MAC: fixed, so the screenshot reads the same every run.
const clientMAC = "52:54:00:12:34:56"

// TestScreenshotSharing presses Share in the packaged window (as nobody, with the package's file
// capabilities) on a LAN of network namespaces with an ordinary router, boots a PXE client up to
// its boot loader, and saves the window showing that client to $SHARECD_ARTIFACTS/gui-sharing.png.
// The loader must arrive intact and the window's log must show the client's offer and loader.
func TestScreenshotSharing(t *testing.T) {
	requireTools(t, "xvfb imagemagick xdotool iproute2 libcap2-bin util-linux dnsmasq-base curl",
		"Xvfb", "import", "xdotool", "ip", "setcap", "setpriv", "dnsmasq", "curl")
	requireRoot(t, "the network namespaces and setcap")
	dir := extractGUI(t)
	l := newLAN(t)
	display := startXvfb(t)

	gui := netlab.Start(t, guiCmd(dir, l.server, display, "--source", "../netboot/testdata/debian-live-lab"))
	wid := xdotool(t, display, "search", "--sync", "--onlyvisible", "--name", "^Share This CD$")
	if i := strings.IndexByte(wid, '\n'); i > 0 {
		wid = wid[:i]
	}
	// The Share button is enabled once the window knows the medium and the interfaces; the DHCP
	// check it starts on eth0 right after listing them is the first thing the router hears.
	if !until(20*time.Second, func() bool { return strings.Contains(l.dnsmasq.Log(), "DHCPDISCOVER(br0)") }) {
		t.Fatalf("the window's DHCP check never reached the router\nwindow log:\n%s\ndnsmasq:\n%s", gui.Log(), l.dnsmasq.Log())
	}
	// Press Share from the keyboard, as a person without a mouse would: Shift+Tab from nothing
	// focuses the last focusable widget, the Share button, wherever the text above put it.
	xdotool(t, display, "windowfocus", "--sync", wid)
	xdotool(t, display, "key", "--clearmodifiers", "shift+Tab", "space")
	if !until(30*time.Second, func() bool { return strings.Contains(gui.Log(), `msg=sharing `) }) {
		screenshot(t, display, "gui-sharing-failed.png", gui)
		t.Fatalf("the window did not start sharing in 30 s\nwindow log:\n%s", gui.Log())
	}

	lease, offer := pxeDHCP(t, l.client)
	ones, _ := lease.SubnetMask().Size()
	netlab.IP(t, l.client, "addr", "add", fmt.Sprintf("%s/%d", lease.YourIPAddr, ones), "dev", "eth0")
	file, server := offer.BootFileName, offer.ServerIPAddr
	got := filepath.Join(t.TempDir(), "loader")
	if out, err := exec.Command("ip", "netns", "exec", l.client, "curl", "-sS", "--max-time", "30", "-o", got,
		"tftp://"+server.String()+"/"+file).CombinedOutput(); err != nil {
		t.Fatalf("curl tftp://%s/%s: %v %s\nwindow log:\n%s", server, file, err, out, gui.Log())
	}
	// A ROM that is not iPXE gets iPXE, which fetches the kernel over HTTP (README, "How
	// clients fetch their kernel").
	if file != "undionly.kpxe" {
		t.Errorf("a BIOS client was offered %q, want undionly.kpxe", file)
	}
	want, err := os.ReadFile(filepath.Join("../assets/ipxe", filepath.Base(file)))
	if b, _ := os.ReadFile(got); err != nil || len(want) == 0 || !bytes.Equal(b, want) {
		t.Errorf("TFTP gave %d bytes of %s, not the packaged loader's %d (%v)", len(b), file, len(want), err)
	}

	// The window and its log get the same events; once the log has the loader, the window has
	// been told and draws it within a frame.
	loader := fmt.Sprintf(`msg="client loader" mac=%s ip=%s file=%s`, clientMAC, lease.YourIPAddr, file)
	if !until(10*time.Second, func() bool { return strings.Contains(gui.Log(), loader) }) {
		t.Errorf("the window's log lacks %q", loader)
	}
	if offered := `msg="client offered" mac=` + clientMAC; !strings.Contains(gui.Log(), offered) {
		t.Errorf("the window's log lacks %q", offered)
	}
	time.Sleep(time.Second) // the frame that draws it
	screenshot(t, display, "gui-sharing.png", gui)
	if strings.Contains(gui.Log(), "level=ERROR") {
		t.Errorf("the window logged errors:\n%s", gui.Log())
	}

	// SIGTERM while sharing: fyne stops its own loop on it, and the share must still stop
	// cleanly (its sockets closed, the firewall's openings taken back) before the process ends.
	gui.Cmd.Process.Signal(syscall.SIGTERM)
	if code := gui.Wait(15 * time.Second); code != 0 {
		t.Errorf("SIGTERM while sharing: exit code %d (-1: still running)", code)
	}
	if !strings.Contains(gui.Log(), `msg="stopped sharing"`) {
		t.Errorf("SIGTERM while sharing: the share did not stop before the process ended")
	}
	if t.Failed() {
		t.Logf("window log:\n%s", gui.Log())
	}
}

// TestQuitAsWindowAppears quits the packaged window the moment it is mapped, 20 times. Quitting
// within a frame of the window appearing under the pointer crashed fyne 2.7.1 in one run of ten
// (fyne-io/fyne#5981); UI.Quit now stops fyne without closing the window first. On SIGTERM fyne
// stops its loop itself; fyne 2.7.1 can then hang in Run (cmd/sharecd/gui.go exits after 5 s).
func TestQuitAsWindowAppears(t *testing.T) {
	requireTools(t, "xvfb x11-utils iproute2 libcap2-bin util-linux", "Xvfb", "xwininfo", "ip", "setcap", "setpriv")
	requireRoot(t, "the network namespace and setcap")
	dir := extractGUI(t)
	ns := netlab.Namespace(t, "scd-quit")
	display := startXvfb(t)
	for i := range 20 {
		gui := netlab.Start(t, guiCmd(dir, ns, display, "--source", "../netboot/testdata/debian-live-lab"))
		if !until(20*time.Second, func() bool { return gui.Exited() || mapped(display) }) || gui.Exited() {
			t.Fatalf("run %d: the window did not show (exited: %v)\nwindow log:\n%s", i, gui.Exited(), gui.Log())
		}
		gui.Cmd.Process.Signal(syscall.SIGTERM)
		if code := gui.Wait(15 * time.Second); code != 0 {
			t.Fatalf("run %d: quitting as the window appeared: exit code %d (-1: still running)\nwindow log:\n%s", i, code, gui.Log())
		}
	}
}

// TestWindowDHCPCheck runs the packaged window (as nobody, with the package's capabilities) on a
// LAN of namespaces whose router runs dnsmasq as a plain DHCP server. The window's DHCP check must
// show its result within 10 s of its first DISCOVER reaching the router (the window logs the words
// it shows), and probe only once: the DISCOVERs from the check's MAC (02:73:63:…) in the router's
// log must all belong to one round, 15 s on. The screenshot is $SHARECD_ARTIFACTS/gui-dhcp-check.png.
func TestWindowDHCPCheck(t *testing.T) {
	requireTools(t, "xvfb imagemagick x11-utils iproute2 libcap2-bin util-linux dnsmasq-base",
		"Xvfb", "import", "xwininfo", "ip", "setcap", "setpriv", "dnsmasq")
	requireRoot(t, "the network namespaces and setcap")
	dir := extractGUI(t)
	l := newLAN(t)
	display := startXvfb(t)
	gui := netlab.Start(t, guiCmd(dir, l.server, display, "--source", "../netboot/testdata/debian-live-lab"))

	// dnsmasq --log-dhcp starts each line of a transaction with its xid in decimal.
	probe := regexp.MustCompile(`dnsmasq-dhcp\[[0-9]+\]: ([0-9]+) DHCPDISCOVER\(br0\) 02:73:63:`)
	rounds := func() map[string]bool {
		xids := map[string]bool{}
		for _, m := range probe.FindAllStringSubmatch(l.dnsmasq.Log(), -1) {
			xids[m[1]] = true
		}
		return xids
	}
	if !until(20*time.Second, func() bool { return len(rounds()) > 0 }) {
		t.Fatalf("the window's DHCP check never reached the router\nwindow log:\n%s\ndnsmasq:\n%s", gui.Log(), l.dnsmasq.Log())
	}
	first := time.Now()
	const shown = `msg="DHCP check" iface=eth0 shown=`
	if !until(10*time.Second, func() bool { return strings.Contains(gui.Log(), shown) }) {
		screenshot(t, display, "gui-dhcp-check-failed.png", gui)
		t.Fatalf("no DHCP check result in the window 10 s after its first DISCOVER\nwindow log:\n%s", gui.Log())
	}
	t.Logf("the check's result showed %.1f s after its first DISCOVER", time.Since(first).Seconds())
	if i := strings.Index(gui.Log(), shown); !strings.Contains(gui.Log()[i:], "10.77.0.254") {
		t.Errorf("the check's words do not name the router 10.77.0.254:\n%s", gui.Log()[i:])
	}
	time.Sleep(time.Second) // the frame that draws it
	screenshot(t, display, "gui-dhcp-check.png", gui)
	once := rounds()
	time.Sleep(time.Until(first.Add(15 * time.Second)))
	if again := rounds(); len(again) != len(once) {
		t.Errorf("the window probed the LAN again: %d DISCOVER transactions from the check's MAC after the result, %d 15 s on\ndnsmasq:\n%s",
			len(once), len(again), l.dnsmasq.Log())
	}
	if n := strings.Count(gui.Log(), `msg="DHCP check"`); n != 1 {
		t.Errorf("the window ran %d DHCP checks, want 1:\n%s", n, gui.Log())
	}
	gui.Cmd.Process.Signal(syscall.SIGTERM)
	if code := gui.Wait(15 * time.Second); code != 0 {
		t.Errorf("SIGTERM: exit code %d (-1: still running)", code)
	}
}

// TestWindowLeavesNoBus runs the packaged window for a user with no session bus (no
// DBUS_SESSION_BUS_ADDRESS, no /run/user/UID/bus: a bare X session, or su to another user), on a
// system with dbus-launch, then quits it. godbus used to run dbus-launch for fyne and the tray
// check, and its dbus-daemon ran on after the window: no process the window started may remain.
// The window's environment carries a mark that its children inherit, to find them by.
func TestWindowLeavesNoBus(t *testing.T) {
	requireTools(t, "xvfb x11-utils iproute2 libcap2-bin util-linux dbus-x11",
		"Xvfb", "xwininfo", "ip", "setcap", "setpriv", "dbus-launch")
	requireRoot(t, "the network namespace and setcap")
	dir := extractGUI(t)
	ns := netlab.Namespace(t, "scd-nobus")
	display := startXvfb(t)
	mark := fmt.Sprintf("SHARECD_TEST_MARK=%d-%d", os.Getpid(), time.Now().UnixNano())
	gui := runWindow(t, userCmd(dir, ns, "usr/bin/sharecd", []string{"DISPLAY=" + display, mark},
		"--source", "../netboot/testdata/debian-live-lab"), display)
	time.Sleep(500 * time.Millisecond) // a daemon that was going to exit with the window has
	if left := marked(mark); len(left) > 0 {
		for pid := range left {
			syscall.Kill(pid, syscall.SIGTERM) // ours: they carry this run's mark
		}
		t.Errorf("after the window quit, processes it started still run: %v\nwindow log:\n%s", left, gui.Log())
	}
}

// TestWindowQuietUnderCLocale starts the packaged window under the C locales live systems and
// containers set. Under LANG=C.UTF-8 fyne printed "Fyne error: Error parsing user locale C" on
// every start; no start may print a fyne error.
func TestWindowQuietUnderCLocale(t *testing.T) {
	requireTools(t, "xvfb x11-utils iproute2 libcap2-bin util-linux", "Xvfb", "xwininfo", "ip", "setcap", "setpriv")
	requireRoot(t, "the network namespace and setcap")
	dir := extractGUI(t)
	ns := netlab.Namespace(t, "scd-locale")
	display := startXvfb(t)
	for _, env := range []string{"LANG=C.UTF-8", "LC_ALL=C.UTF-8", "LANG=C", "LANG=POSIX"} {
		t.Run(env, func(t *testing.T) {
			gui := runWindow(t, userCmd(dir, ns, "usr/bin/sharecd", []string{"DISPLAY=" + display, env},
				"--source", "../netboot/testdata/debian-live-lab"), display)
			if strings.Contains(gui.Log(), "Fyne error") {
				t.Errorf("%s: the window printed fyne errors:\n%s", env, gui.Log())
			}
		})
	}
}

// runWindow starts cmd, waits for the window to show, sends SIGTERM and waits for exit 0.
func runWindow(t *testing.T, cmd *exec.Cmd, display string) *netlab.Proc {
	t.Helper()
	gui := netlab.Start(t, cmd)
	if !until(20*time.Second, func() bool { return gui.Exited() || mapped(display) }) || gui.Exited() {
		t.Fatalf("the window did not show (exited: %v)\nwindow log:\n%s", gui.Exited(), gui.Log())
	}
	gui.Cmd.Process.Signal(syscall.SIGTERM)
	if code := gui.Wait(15 * time.Second); code != 0 {
		t.Fatalf("SIGTERM: exit code %d (-1: still running)\nwindow log:\n%s", code, gui.Log())
	}
	return gui
}

// marked lists the processes whose environment holds mark, by PID, with their command names.
func marked(mark string) map[int]string {
	found := map[int]string{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		env, err := os.ReadFile(filepath.Join(d, "environ"))
		if err != nil || !bytes.Contains(append(append([]byte{0}, env...), 0), []byte("\x00"+mark+"\x00")) {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join(d, "comm"))
		var pid int
		fmt.Sscan(filepath.Base(d), &pid)
		found[pid] = strings.TrimSpace(string(comm))
	}
	return found
}

// lan is a LAN of network namespaces joined by a bridge in the router's: the router runs dnsmasq
// as the LAN's plain DHCP server (addresses, no network boot), the window runs in the server
// (eth0, 10.77.0.1/24), and the client is the machine that boots (eth0, no address until the
// router gives it one). No packet leaves them.
type lan struct {
	router, server, client string
	dnsmasq                *netlab.Proc
}

func newLAN(t *testing.T) *lan {
	t.Helper()
	l := &lan{router: netlab.Namespace(t, "scd-rt"), server: netlab.Namespace(t, "scd-sv"), client: netlab.Namespace(t, "scd-cl")}
	netlab.IP(t, l.router, "link", "add", "br0", "type", "bridge")
	netlab.IP(t, l.router, "addr", "add", "10.77.0.254/24", "dev", "br0")
	netlab.IP(t, l.router, "link", "set", "br0", "up")
	for _, side := range []struct{ ns, port string }{{l.server, "p-sv"}, {l.client, "p-cl"}} {
		netlab.IP(t, l.router, "link", "add", side.port, "type", "veth", "peer", "name", "eth0", "netns", side.ns)
		netlab.IP(t, l.router, "link", "set", side.port, "master", "br0", "up")
	}
	netlab.IP(t, l.client, "link", "set", "eth0", "address", clientMAC)
	netlab.IP(t, l.server, "addr", "add", "10.77.0.1/24", "dev", "eth0")
	for _, ns := range []string{l.server, l.client} {
		netlab.IP(t, ns, "link", "set", "eth0", "up")
	}
	l.dnsmasq = netlab.Dnsmasq(t, l.router, "br0",
		"--dhcp-range=10.77.0.100,10.77.0.150,255.255.255.0,10m", "--dhcp-option=option:router,10.77.0.254")
	return l
}

// pxeDHCP does what a BIOS PXE ROM does first, from namespace ns: a DHCPDISCOVER as PXEClient
// from port 68 of eth0, with no address yet, waiting for both answers of a LAN with a
// proxy-DHCP server (the router's offer of an address; sharecd's offer of the boot file, with
// none), then a REQUEST for the router's address. It returns the router's ACK and sharecd's offer.
func pxeDHCP(t *testing.T, ns string) (lease, offer *dhcpv4.DHCPv4) {
	t.Helper()
	var conn net.PacketConn
	if err := netlab.In(ns, func() (err error) { conn, err = dhcp.Listen("eth0", 68); return err }); err != nil {
		t.Fatalf("the client's DHCP socket: %v", err)
	}
	defer conn.Close()
	mac, _ := net.ParseMAC(clientMAC)
	pxe := []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)),
		dhcpv4.WithGeneric(dhcpv4.OptionClientNetworkInterfaceIdentifier, []byte{1, 2, 1}), // UNDI 2.1
		// Without an address the client hears only broadcasts, as a ROM.
		dhcpv4.WithBroadcast(true),
	}
	disc, err := dhcpv4.NewDiscovery(mac, pxe...)
	if err != nil {
		t.Fatal(err)
	}
	var addr *dhcpv4.DHCPv4
	for try := 0; try < 3 && (addr == nil || offer == nil); try++ { // a ROM retries too
		broadcast(t, conn, disc)
		exchange(conn, disc.TransactionID, 3*time.Second, func(m *dhcpv4.DHCPv4) bool {
			switch {
			case m.MessageType() != dhcpv4.MessageTypeOffer:
			case m.YourIPAddr.IsUnspecified():
				offer = m
			default:
				addr = m
			}
			return addr != nil && offer != nil
		})
	}
	if addr == nil || offer == nil {
		t.Fatalf("PXE DISCOVER from %s: the router's offer: %v, sharecd's offer: %v", ns, addr != nil, offer != nil)
	}
	req, err := dhcpv4.NewRequestFromOffer(addr, pxe...)
	if err != nil {
		t.Fatal(err)
	}
	broadcast(t, conn, req)
	exchange(conn, req.TransactionID, 5*time.Second, func(m *dhcpv4.DHCPv4) bool {
		if m.MessageType() == dhcpv4.MessageTypeAck && m.ServerIdentifier().Equal(addr.ServerIdentifier()) {
			lease = m
		}
		return lease != nil
	})
	if lease == nil {
		t.Fatalf("no ACK from the router for %s", addr.YourIPAddr)
	}
	return lease, offer
}

func broadcast(t *testing.T, conn net.PacketConn, m *dhcpv4.DHCPv4) {
	t.Helper()
	if _, err := conn.WriteTo(m.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: 67}); err != nil {
		t.Fatalf("sending the DHCP %s: %v", m.MessageType(), err)
	}
}

// exchange reads the replies to transaction xid for up to d, until done has what it wants.
func exchange(conn net.PacketConn, xid dhcpv4.TransactionID, d time.Duration, done func(*dhcpv4.DHCPv4) bool) {
	conn.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 1500)
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			return // the deadline
		}
		m, err := dhcpv4.FromBytes(buf[:n])
		if err != nil || m.OpCode != dhcpv4.OpcodeBootReply || m.TransactionID != xid {
			continue
		}
		if done(m) {
			return
		}
	}
}

// xdotool runs xdotool on display and returns its output; 20 s bound it (search --sync waits).
func xdotool(t *testing.T, display string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "xdotool", args...)
	cmd.Env = append(os.Environ(), "DISPLAY="+display)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xdotool %s: %v %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// until polls cond every 50 ms for up to d and tells whether it came true.
func until(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); ; time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}
