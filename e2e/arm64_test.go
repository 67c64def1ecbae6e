package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sharecd/sharecd/netboot/netlab"
)

// Debian's qemu-efi-aarch64: AAVMF, EDK2 for QEMU's arm64 virt machine, code read-only and the
// vars a copy of the client's own. It PXE-boots with the same PxeBcDxe as OVMF, as arch 11.
const (
	aavmfCode = "/usr/share/AAVMF/AAVMF_CODE.fd"
	aavmfVars = "/usr/share/AAVMF/AAVMF_VARS.fd"
)

// arm64Medium returns the ARM64 lab's medium, which build-arm64-medium.sh makes from Debian's
// arm64 kernel package (cached; a 60 MB download when it is not).
func arm64Medium(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("SHARECD_TEST_ARM64"); dir != "" {
		return dir
	}
	out, err := exec.Command("./build-arm64-medium.sh").CombinedOutput()
	if err != nil {
		t.Fatalf("building the arm64 medium: %v\n%s", err, out)
	}
	return builtPath(t, out)
}

// An ARM64 UEFI machine (QEMU's virt machine under TCG, AAVMF's own PXE) boots from a share of
// the x86 lab ISO and an arm64 medium: it is offered the ARM64 GRUB, whose top menu lists the
// arm64 medium and not the x86 one, and the arm64 kernel that menu boots starts. No arm64 root
// filesystem exists here, so the proof ends at the kernel's banner, not at a login prompt.
func TestArm64ClientBootsKernel(t *testing.T) {
	need(t, "qemu-system-aarch64", "dpkg-deb", "cpio")
	for _, f := range []string{aavmfCode, aavmfVars} {
		if _, err := os.Stat(f); err != nil {
			netlab.Skipf(t, "the ARM64 client needs %s (apt-get install qemu-efi-aarch64; bash .ci/run installs it)", f)
		}
	}
	iso, arm, bin := liveISO(t), arm64Medium(t), sharecd(t)

	// The titles the top menus give the two media, as --detect names them.
	out, err := exec.Command(bin, "--detect", "--json", "--source", iso, "--source", arm).Output()
	if err != nil {
		t.Fatalf("sharecd --detect: %v", err)
	}
	var ds []struct{ Title, Arch, Prefix, Export string }
	if err := json.Unmarshal(out, &ds); err != nil || len(ds) != 2 {
		t.Fatalf("--detect --json: %v: %s", err, out)
	}
	if ds[0].Arch != "amd64" || ds[1].Arch != "arm64" {
		t.Fatalf("--detect says the media are %q and %q, want amd64 and arm64", ds[0].Arch, ds[1].Arch)
	}
	x86Title, armTitle := ds[0].Title, ds[1].Title

	l := newLab(t, "10.77.11")
	l.startRouter()
	l.start(l.server, "sharecd.log", bin, "--share", "--source", iso, "--source", arm, "--iface", "s0",
		"--menu-timeout", "2", "--debug")
	serverLog := filepath.Join(l.dir, "sharecd.log")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := waitFor(ctx, serverLog, "msg=sharing"); err != nil {
		t.Fatalf("sharecd did not start: %v\n%s", err, tail(serverLog, 30))
	}

	const mac = "52:54:00:5c:d0:11"
	serial := filepath.Join(l.dir, "arm64-serial.log")
	vars := filepath.Join(l.dir, "arm64-AAVMF_VARS.fd")
	b, err := os.ReadFile(aavmfVars)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vars, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// cortex-a57, not max: TCG emulates max's pointer authentication at a cost on every call.
	l.start(l.sw, "arm64-qemu.log", "qemu-system-aarch64", "-machine", "virt,accel=tcg", "-cpu", "cortex-a57",
		"-m", "1024", "-smp", "1", "-display", "none", "-monitor", "none", "-serial", "file:"+serial,
		"-drive", "if=pflash,format=raw,readonly=on,file="+aavmfCode, "-drive", "if=pflash,format=raw,file="+vars,
		"-no-reboot", "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
		"-device", "virtio-net-pci,romfile=,netdev=n0,mac="+mac)

	// The arm64 kernel's first lines: setup_arch's "Booting Linux on physical CPU" (arm and
	// arm64 only), then the banner, whose version names the arm64 flavour; Debian's banner names
	// its compiler "gcc-12", not the target triple. Its command line is the arm64 medium's menu entry.
	if err := waitFor(ctx, serial, "Kernel command line:"); err != nil {
		t.Fatalf("the arm64 kernel did not start: %v\nserial:\n%s\nsharecd:\n%s", err, tail(serial, 30), tail(serverLog, 30))
	}
	console, _ := os.ReadFile(serial)
	for _, re := range []string{`EFI stub: Booting Linux Kernel`, `\] Booting Linux on physical CPU `, `\] Linux version \S+-arm64 `,
		`Kernel command line: .*/` + regexp.QuoteMeta(ds[1].Prefix) + `/live/vmlinuz-\S+-arm64 .*nfsroot=10\.77\.11\.2:` +
			regexp.QuoteMeta(ds[1].Export) + ` `} {
		if !regexp.MustCompile(re).Match(console) {
			t.Errorf("the serial console lacks %q:\n%s", re, tail(serial, 40))
		}
	}
	// GRUB's top menu on the serial console: the arm64 medium, never the x86 one.
	if !strings.Contains(string(console), armTitle) || strings.Contains(string(console), x86Title) {
		t.Errorf("the ARM64 GRUB's menu should list %q and not %q:\n%s", armTitle, x86Title, tail(serial, 60))
	}
	slog, _ := os.ReadFile(serverLog)
	chain := false
	for _, line := range strings.Split(string(slog), "\n") {
		if strings.Contains(line, `msg="client boot chain"`) && logField(line, "mac") == mac {
			chain = strings.Contains(line, "UEFI ARM64")
		}
		if logField(line, "file") == "grub/grub.cfg" {
			t.Errorf("the x86 GRUB's menu was read in a lab with no x86 client: %s", line)
		}
	}
	if !chain {
		t.Errorf("no ARM64 boot chain logged for %s:\n%s", mac, tail(serverLog, 40))
	}
	for _, want := range []struct{ msg, part string }{
		{"client offered", "grubaa64.efi"},
		{"client loader", "grubaa64.efi"},
		{"client menu", "grub-arm64/grub.cfg"},
		{"client kernel", "live/vmlinuz-"},
	} {
		if !clientLogged(string(slog), mac, want.msg, want.part) {
			t.Errorf("sharecd did not log %q with %q for %s:\n%s", want.msg, want.part, mac, tail(serverLog, 40))
		}
	}
}
