package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Debian's ovmf package: the 4 MB build, code read-only, each client with its own copy of the vars.
const (
	ovmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// startUEFIClient powers on a diskless UEFI PC (OVMF, Secure Boot off) that boots from the network
// with the firmware's own PXE (PxeBcDxe): a virtio NIC with no option ROM, so iPXE's EFI driver is
// not in the way, as on real PCs. TCG, because this machine's KVM cannot run firmware.
func (l *lab) startUEFIClient(name, mac string) string {
	l.t.Helper()
	vars := filepath.Join(l.dir, name+"-OVMF_VARS.fd")
	b, err := os.ReadFile(ovmfVars)
	if err != nil {
		l.t.Fatal(err)
	}
	if err := os.WriteFile(vars, b, 0o644); err != nil {
		l.t.Fatal(err)
	}
	serial := filepath.Join(l.dir, name+"-serial.log")
	l.start(l.sw, name+"-qemu.log", "qemu-system-x86_64",
		"-machine", "q35,accel=tcg", "-cpu", "max", "-m", "1024", "-smp", "1",
		"-display", "none", "-monitor", "none", "-serial", "file:"+serial,
		"-drive", "if=pflash,format=raw,readonly=on,file="+ovmfCode,
		"-drive", "if=pflash,format=raw,file="+vars,
		"-no-reboot",
		"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=n0,mac="+mac+",romfile=")
	return serial
}

// TestUEFIClientBootsLiveSystem boots the live ISO on OVMF through sharecd's proxy-DHCP: firmware
// PXE → our GRUB (grubx64.efi) → grub/grub.cfg made from the medium's GRUB menu → kernel and initrd
// over TFTP → live-boot's NFS root, until the serial console shows login:. It runs alongside the
// BIOS boots.
func TestUEFIClientBootsLiveSystem(t *testing.T) {
	need(t)
	for _, f := range []string{ovmfCode, ovmfVars} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("UEFI boot needs %s (apt-get install ovmf; bash .ci/run installs it)", f)
		}
	}
	iso := liveISO(t)
	bin := sharecd(t)
	// After the ISO is built and the binary made, which must not run twice at once.
	t.Parallel()
	l := newLab(t, "10.77.5")
	l.startRouter()
	srv := l.start(l.server, "sharecd.log", bin, "--share", "--source", iso, "--iface", "s0", "--menu-timeout", "2", "--debug")
	serverLog := filepath.Join(l.dir, "sharecd.log")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := waitFor(ctx, serverLog, "msg=sharing"); err != nil {
		t.Fatalf("sharecd did not start: %v\n%s", err, tail(serverLog, 30))
	}
	start := time.Now()
	serial := l.startUEFIClient("uefi", "52:54:00:5c:d0:05")

	ctx, cancel = context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if err := waitFor(ctx, serial, "login:"); err != nil {
		t.Fatalf("UEFI client did not reach login: %v\n--- serial (artefacts in %s) ---\n%s\n--- sharecd ---\n%s",
			err, l.dir, tail(serial, 40), tail(serverLog, 40))
	}
	t.Logf("UEFI client reached login: %v after power-on", time.Since(start).Round(time.Second))
	logText, _ := os.ReadFile(serverLog)
	for _, want := range []string{
		"client offered", "file=grubx64.efi", "client loader", "client menu", "file=grub/grub.cfg",
		"client kernel", "client initrd", "client root mounted", "UEFI x86-64: unsigned GRUB",
	} {
		if !strings.Contains(string(logText), want) {
			t.Errorf("server log lacks %q", want)
		}
	}
	if err := stop(srv, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Errorf("sharecd on SIGTERM: %v\n%s", err, tail(serverLog, 20))
	}
}
