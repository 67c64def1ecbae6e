package packaging

// The packaged window on a computer whose firewall drops what it was not told to accept.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sharecd/sharecd/netboot/netlab"
)

// TestWindowShareThroughFirewall shares from the packaged window, as nobody with the package's
// three file capabilities, on a server whose nftables input chain drops by default, next to a
// router running dnsmasq as the LAN's DHCP server. Share pressed: a PXE client gets both offers
// (proxy-DHCP through the firewall) and fetches the kernel over TFTP and HTTP; Stop pressed: no
// rule tagged "sharecd eth0" is left. Share pressed again and the window killed with -9: its
// rules stay, and the next window's share replaces them rather than adding to them, and leaves
// nothing after Stop. A copy of the window without cap_net_admin can neither read nor open the
// firewall: pressing Share must end in the window's refusal, which names the firewall settings,
// and the window must never say that machines can boot. Screenshots:
// $SHARECD_ARTIFACTS/gui-firewall-sharing.png and gui-firewall-blocked.png.
func TestWindowShareThroughFirewall(t *testing.T) {
	requireTools(t, "xvfb imagemagick xdotool iproute2 libcap2-bin util-linux dnsmasq-base curl nftables",
		"Xvfb", "import", "xdotool", "ip", "setcap", "setpriv", "dnsmasq", "curl", "nft")
	requireRoot(t, "the network namespaces, nft and setcap")
	dir := extractGUI(t)
	// The copy a source build gets with the two capabilities the package gave before
	// cap_net_admin: it may open the ports but not touch the firewall.
	noAdmin := "usr/lib/sharecd/sharecd-gui-no-admin"
	if b, err := os.ReadFile(filepath.Join(dir, "usr/lib/sharecd/sharecd-gui")); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(filepath.Join(dir, noAdmin), b, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("setcap", "cap_net_bind_service,cap_net_raw+ep", filepath.Join(dir, noAdmin)).CombinedOutput(); err != nil {
		t.Fatalf("setcap: %v %s", err, out)
	}
	// A desktop session's runtime directory, where a share records what it opened.
	run := filepath.Join(dir, "home", "run")
	os.Mkdir(run, 0o700)
	os.Chown(run, 65534, 65534)

	l := newLAN(t)
	display := startXvfb(t)
	nft := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command("ip", append([]string{"netns", "exec", l.server, "nft"}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := netlab.CombinedOutput(cmd)
		if err != nil {
			t.Fatalf("nft %s: %v %s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	nft(`table inet filter {
	chain input { type filter hook input priority 0; policy drop; iifname "lo" accept; }
}
`, "-f", "-")
	ruleset := func() string { return nft("", "list", "ruleset") }
	before := ruleset()
	const tagged = `comment "sharecd eth0"`
	start := time.Now()

	// open starts the window binary bin and waits for its DHCP check's result, which must find
	// the router and choose proxy-DHCP: the check listens on a raw socket, under the firewall.
	open := func(bin string) (*netlab.Proc, string) {
		t.Helper()
		gui := netlab.Start(t, userCmd(dir, l.server, bin, []string{"DISPLAY=" + display, "XDG_RUNTIME_DIR=" + run},
			"--source", "../netboot/testdata/debian-live-lab"))
		wid := xdotool(t, display, "search", "--sync", "--onlyvisible", "--name", "^Share This CD$")
		if i := strings.IndexByte(wid, '\n'); i > 0 {
			wid = wid[:i]
		}
		const shown = `msg="DHCP check" iface=eth0 shown=`
		if !until(30*time.Second, func() bool { return strings.Contains(gui.Log(), shown) }) {
			screenshot(t, display, "gui-firewall-check-failed.png", gui)
			t.Fatalf("no DHCP check result in the window within 30 s\nwindow log:\n%s", gui.Log())
		}
		if i := strings.Index(gui.Log(), shown); !strings.Contains(gui.Log()[i:], "10.77.0.254") ||
			!strings.Contains(gui.Log()[i:], "proxy-DHCP") {
			t.Errorf("the check's words do not name the router 10.77.0.254 and proxy-DHCP:\n%s", gui.Log()[i:])
		}
		return gui, wid
	}
	// press presses, from the keyboard, the last focusable widget the window shows: Shift+Tab
	// from nothing, or from the button the last press hid, reaches Share in the idle window and
	// Stop in the sharing one.
	press := func(wid string) {
		t.Helper()
		xdotool(t, display, "windowfocus", "--sync", wid)
		xdotool(t, display, "key", "--clearmodifiers", "shift+Tab", "space")
	}
	// canBoot waits for the window to say that machines can boot, after the n-th share of gui.
	const canBoot = `msg="clients can boot" iface=eth0 shown=`
	serving := func(gui *netlab.Proc, n int, failShot string) {
		t.Helper()
		if !until(30*time.Second, func() bool { return strings.Count(gui.Log(), canBoot) >= n }) {
			screenshot(t, display, failShot, gui)
			t.Fatalf("the window did not say machines can boot within 30 s of Share\nwindow log:\n%s", gui.Log())
		}
		if i := strings.LastIndex(gui.Log(), canBoot); !strings.Contains(gui.Log()[i:], "can now boot") {
			t.Errorf("the window's words once serving lack \"can now boot\":\n%s", gui.Log()[i:])
		}
		if c := strings.Count(ruleset(), tagged); c != 3 {
			t.Errorf("%d rules tagged %s while sharing, want 3:\n%s", c, tagged, ruleset())
		}
	}
	stopped := func(gui *netlab.Proc, n int) {
		t.Helper()
		if !until(15*time.Second, func() bool { return strings.Count(gui.Log(), `msg="stopped sharing"`) >= n }) {
			screenshot(t, display, "gui-firewall-stop-failed.png", gui)
			t.Fatalf("Stop did not stop the share within 15 s\nwindow log:\n%s", gui.Log())
		}
		// The rules go before Share returns, but "stopped sharing" is logged just before that.
		if !until(5*time.Second, func() bool { return ruleset() == before }) {
			t.Errorf("the ruleset after Stop differs:\nbefore:\n%s\nafter:\n%s", before, ruleset())
		}
	}
	kernel, err := os.ReadFile("../netboot/testdata/debian-live-lab/live/vmlinuz")
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(gui *netlab.Proc) {
		t.Helper()
		for _, url := range []string{"tftp://10.77.0.1/live/vmlinuz", "http://10.77.0.1/live/vmlinuz"} {
			got := filepath.Join(t.TempDir(), "vmlinuz")
			out, err := netlab.CombinedOutput(exec.Command("ip", "netns", "exec", l.client,
				"curl", "-sS", "--max-time", "15", "-o", got, url))
			if b, _ := os.ReadFile(got); err != nil || !bytes.Equal(b, kernel) {
				t.Errorf("%s through the firewall the window opened: %v %s (%d bytes, want %d)\nwindow log:\n%s",
					url, err, out, len(b), len(kernel), gui.Log())
			}
		}
	}

	// The first window: Share, a client boots as far as its kernel, Stop.
	gui, wid := open("usr/lib/sharecd/sharecd-gui")
	press(wid)
	serving(gui, 1, "gui-firewall-share-failed.png")
	lease, offer := pxeDHCP(t, l.client)
	ones, _ := lease.SubnetMask().Size()
	netlab.IP(t, l.client, "addr", "add", fmt.Sprintf("%s/%d", lease.YourIPAddr, ones), "dev", "eth0")
	if offer.ServerIPAddr.String() != "10.77.0.1" {
		t.Errorf("the boot offer names server %s, want 10.77.0.1", offer.ServerIPAddr)
	}
	fetch(gui)
	time.Sleep(time.Second) // the frame that draws the client
	screenshot(t, display, "gui-firewall-sharing.png", gui)
	press(wid) // Stop
	stopped(gui, 1)

	// Share again from the same window, then kill -9: nothing runs to take the rules back.
	press(wid)
	serving(gui, 2, "gui-firewall-share-again-failed.png")
	gui.Cmd.Process.Kill() // ip netns exec, setpriv and env exec: this PID is the window
	gui.Wait(10 * time.Second)
	if c := strings.Count(ruleset(), tagged); c != 3 {
		t.Errorf("%d rules tagged %s after kill -9, want the killed window's 3", c, tagged)
	}
	if strings.Contains(gui.Log(), "level=ERROR") {
		t.Errorf("the first window logged errors:\n%s", gui.Log())
	}

	// The next window's share replaces the killed one's rules, and takes its own back on Stop.
	gui, wid = open("usr/lib/sharecd/sharecd-gui")
	press(wid)
	serving(gui, 1, "gui-firewall-restart-failed.png")
	fetch(gui)
	press(wid) // Stop
	stopped(gui, 1)
	if strings.Contains(gui.Log(), "level=ERROR") {
		t.Errorf("the window after the kill logged errors:\n%s", gui.Log())
	}
	gui.Cmd.Process.Signal(syscall.SIGTERM)
	if code := gui.Wait(15 * time.Second); code != 0 {
		t.Errorf("SIGTERM: exit code %d (-1: still running)", code)
	}

	// Without cap_net_admin: the window refuses, in its own words, and never says clients can boot.
	gui, wid = open(noAdmin)
	press(wid)
	const refused = `msg="share stopped"`
	if !until(30*time.Second, func() bool { return strings.Contains(gui.Log(), refused) }) {
		screenshot(t, display, "gui-firewall-blocked-failed.png", gui)
		t.Fatalf("the window without cap_net_admin did not refuse within 30 s of Share\nwindow log:\n%s", gui.Log())
	}
	time.Sleep(time.Second) // the frame that draws the dialog
	screenshot(t, display, "gui-firewall-blocked.png", gui)
	i := strings.Index(gui.Log(), refused)
	refusal := gui.Log()[i:]
	if j := strings.IndexByte(refusal, '\n'); j > 0 {
		refusal = refusal[:j]
	}
	if !strings.Contains(refusal, "firewall") || !strings.Contains(refusal, "firewall settings") {
		t.Errorf("the refusal does not say the firewall and where to allow the share:\n%s", refusal)
	}
	if strings.Contains(gui.Log(), canBoot) || strings.Contains(gui.Log(), "can now boot") || strings.Contains(gui.Log(), "msg=sharing ") {
		t.Errorf("the window without cap_net_admin said machines can boot, or served:\n%s", gui.Log())
	}
	if after := ruleset(); after != before {
		t.Errorf("the refused share changed the ruleset:\n%s", after)
	}
	gui.Cmd.Process.Signal(syscall.SIGTERM)
	if code := gui.Wait(15 * time.Second); code != 0 {
		t.Errorf("SIGTERM: exit code %d (-1: still running)", code)
	}
	t.Logf("three windows, four shares through a drop-policy firewall and one refusal in %v", time.Since(start).Round(time.Second))
}
