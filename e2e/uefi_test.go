package e2e

import (
	"os"
	"path/filepath"
)

// Debian's ovmf package: the 4 MB build, code read-only, each client with its own copy of the vars.
// The Secure Boot build needs SMM; its .ms vars have Microsoft's keys enrolled and Secure Boot on,
// as on a PC from a shop.
const (
	ovmfCode   = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVars   = "/usr/share/OVMF/OVMF_VARS_4M.fd"
	ovmfSBCode = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
	ovmfSBVars = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
)

// uefiOK reports whether OVMF is installed for the UEFI client.
func uefiOK() bool {
	for _, f := range []string{ovmfCode, ovmfVars, ovmfSBCode, ovmfSBVars} {
		if _, err := os.Stat(f); err != nil {
			return false
		}
	}
	return true
}

// ovmfArgs are the flash drives of an OVMF PC: the firmware read-only, and a copy of the vars
// template of the client's own, since the firmware writes its boot entries there.
func (l *lab) ovmfArgs(name, code, varsTemplate string) []string {
	l.t.Helper()
	vars := filepath.Join(l.dir, name+"-OVMF_VARS.fd")
	b, err := os.ReadFile(varsTemplate)
	if err != nil {
		l.t.Fatal(err)
	}
	if err := os.WriteFile(vars, b, 0o644); err != nil {
		l.t.Fatal(err)
	}
	return []string{"-drive", "if=pflash,format=raw,readonly=on,file=" + code, "-drive", "if=pflash,format=raw,file=" + vars}
}

// startUEFIClient powers on a diskless UEFI PC (OVMF) that boots from the network
// with the firmware's own PXE (PxeBcDxe): a virtio NIC with no option ROM, so iPXE's EFI driver is
// not in the way, as on real PCs. TCG, because this machine's KVM cannot run firmware.
// With secureBoot the PC has Secure Boot on, with Microsoft's keys, like most laptops. With ipxe
// its NIC is an e1000 with QEMU's iPXE EFI ROM, which boots in place of the firmware's own PXE
// (as on machines flashed with iPXE): another DHCP and TFTP client than PxeBcDxe.
func (l *lab) startUEFIClient(name, tap, mac string, secureBoot, ipxe bool) vm {
	l.t.Helper()
	code, varsTemplate, machine := ovmfCode, ovmfVars, "q35,accel=tcg"
	var extra []string
	if secureBoot {
		code, varsTemplate, machine = ovmfSBCode, ovmfSBVars, "q35,accel=tcg,smm=on"
		extra = []string{"-global", "driver=cfi.pflash01,property=secure,value=on"}
	}
	nic := "virtio-net-pci,romfile=" // no option ROM: OVMF's own PxeBcDxe
	if ipxe {
		nic = "e1000" // QEMU's default ROM for it: efi-e1000.rom (iPXE)
	}
	serial := filepath.Join(l.dir, name+"-serial.log")
	args := append(pcArgs(machine, serial), l.ovmfArgs(name, code, varsTemplate)...)
	args = append(append(args, "-no-reboot",
		"-netdev", "tap,id=n0,ifname="+tap+",script=no,downscript=no",
		"-device", nic+",netdev=n0,mac="+mac), extra...)
	qemu := l.start(l.sw, name+"-qemu.log", append([]string{"qemu-system-x86_64"}, args...)...)
	return vm{qemu, serial}
}
