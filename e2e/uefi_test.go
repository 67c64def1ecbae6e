package e2e

import (
	"os"
	"path/filepath"
)

// Debian's ovmf package: the 4 MB build, code read-only, each client with its own copy of the vars.
const (
	ovmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// uefiOK reports whether OVMF is installed for the UEFI client.
func uefiOK() bool {
	for _, f := range []string{ovmfCode, ovmfVars} {
		if _, err := os.Stat(f); err != nil {
			return false
		}
	}
	return true
}

// startUEFIClient powers on a diskless UEFI PC (OVMF, Secure Boot off) that boots from the network
// with the firmware's own PXE (PxeBcDxe): a virtio NIC with no option ROM, so iPXE's EFI driver is
// not in the way, as on real PCs. TCG, because this machine's KVM cannot run firmware.
func (l *lab) startUEFIClient(name, tap, mac string) string {
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
		"-netdev", "tap,id=n0,ifname="+tap+",script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=n0,mac="+mac+",romfile=")
	return serial
}
