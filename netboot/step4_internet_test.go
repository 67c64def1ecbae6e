package netboot

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/sharecd/sharecd/netboot/netlab"
)

func TestNameservers(t *testing.T) {
	conf := "# generated\nnameserver 127.0.0.53\nnameserver 192.168.1.1\nnameserver fe80::1\nnameserver 169.254.0.1\noptions edns0\nnameserver 9.9.9.9 # quad9\nsearch lan\n"
	if got := fmt.Sprint(nameservers([]byte(conf))); got != "[192.168.1.1 9.9.9.9]" {
		t.Errorf("nameservers = %s", got)
	}
}

// TestRoomDNS: systemd-resolved's stub in /etc/resolv.conf is passed over for its upstream
// servers; with only a stub the room gets none.
func TestRoomDNS(t *testing.T) {
	dir := t.TempDir()
	stub, up := filepath.Join(dir, "etc"), filepath.Join(dir, "run")
	os.WriteFile(stub, []byte("nameserver 127.0.0.53\n"), 0o644)
	os.WriteFile(up, []byte("nameserver 10.0.0.1\n"), 0o644)
	log := slog.New(slog.DiscardHandler)
	if got := fmt.Sprint(roomDNS(log, stub, up)); got != "[10.0.0.1]" {
		t.Errorf("roomDNS = %s", got)
	}
	if got := roomDNS(log, stub, filepath.Join(dir, "missing")); got != nil {
		t.Errorf("roomDNS with only a stub = %v", got)
	}
}

func TestShareInternetRefusals(t *testing.T) {
	if err := (&Share{ShareInternet: "lo", DHCPMode: DHCPProxy}).checkShareInternet(); !errors.Is(err, ErrShareInternetNeedsFull) {
		t.Errorf("proxy mode: %v", err)
	}
	if err := (&Share{ShareInternet: "lo"}).checkShareInternet(); !errors.Is(err, ErrShareInternetNeedsFull) {
		t.Errorf("auto mode: %v", err)
	}
	if err := (&Share{ShareInternet: "eth0", Iface: "eth0", DHCPMode: DHCPFull}).checkShareInternet(); err == nil {
		t.Error("out through the room's own interface was allowed")
	}
	if err := (&Share{ShareInternet: "nosuch0", DHCPMode: DHCPFull}).checkShareInternet(); err == nil {
		t.Error("an interface that does not exist was allowed")
	}
	if err := (&Share{ShareInternet: "lo", DHCPMode: DHCPFull}).checkShareInternet(); err != nil {
		t.Errorf("full mode: %v", err)
	}
}

// TestUplink: the interface the window offers for sharing the internet is the one the default
// route leaves by, never the room's own; with the default route on the room's, there is none.
func TestUplink(t *testing.T) {
	netlab.Require(t, "ip")
	ns, other := netlab.Namespace(t, "scd-uplink"), netlab.Namespace(t, "scd-uplink-peer")
	netlab.Veth(t, ns, "room0", other, "p-room0")
	netlab.Veth(t, ns, "wan0", other, "p-wan0")
	netlab.IP(t, ns, "addr", "add", "192.168.77.1/24", "dev", "room0")
	netlab.IP(t, ns, "addr", "add", "10.9.0.2/24", "dev", "wan0")
	uplink := func(room string) (out string, err error) {
		if e := netlab.In(ns, func() error { out, err = Uplink(room); return nil }); e != nil {
			t.Fatal(e)
		}
		return out, err
	}
	if _, err := uplink("room0"); !errors.Is(err, ErrNoUplink) {
		t.Errorf("no default route: err %v", err)
	}
	netlab.IP(t, ns, "route", "add", "default", "via", "10.9.0.1", "dev", "wan0")
	if out, err := uplink("room0"); out != "wan0" || err != nil {
		t.Errorf("Uplink(room0) = %q, %v; want wan0", out, err)
	}
	if _, err := uplink("wan0"); !errors.Is(err, ErrNoUplink) {
		t.Errorf("the room's own default route offered: err %v", err)
	}
}
