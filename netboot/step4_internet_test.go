package netboot

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
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
