// Package e2e boots real QEMU PXE clients from sharecd inside a lab of network namespaces, with a
// Debian live ISO built by live-build. Each boot takes minutes under TCG, so the boots run in
// parallel and there are few of them.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sharecd/sharecd/netboot/netlab"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// sharecd builds the command once for every test of the run.
func sharecd(t testing.TB) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sharecd-bin")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "sharecd")
		out, err := exec.Command("go", "build", "-o", binary, "../cmd/sharecd").CombinedOutput()
		if err != nil {
			buildErr = &buildError{err, string(out)}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + ": " + e.out }

// liveISO returns the cached test ISO, building it with live-build when missing (~10 minutes).
func liveISO(t testing.TB) string {
	t.Helper()
	if iso := os.Getenv("SHARECD_TEST_ISO"); iso != "" {
		return iso
	}
	if _, err := exec.LookPath("lb"); err != nil {
		netlab.Skipf(t, "end-to-end boot needs live-build to make its ISO (bash .ci/run installs it)")
	}
	out, err := exec.Command("./build-live-iso.sh").CombinedOutput()
	if err != nil {
		t.Fatalf("building the live ISO: %v\n%s", err, out)
	}
	return builtPath(t, out)
}

// builtPath is the path a build script's last "built: PATH …" or "cached: PATH" line names.
func builtPath(t testing.TB, out []byte) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		for _, prefix := range []string{"built: ", "cached: "} {
			if rest, ok := strings.CutPrefix(lines[i], prefix); ok && rest != "" {
				return strings.Fields(rest)[0]
			}
		}
	}
	t.Fatalf("the build script named no result:\n%s", out)
	return ""
}

// dracutMedium returns the dracut-family medium build-dracut-medium.sh makes from the test ISO
// (cached; ~3 minutes when it is not).
func dracutMedium(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("SHARECD_TEST_DRACUT"); dir != "" {
		return dir
	}
	if _, err := exec.LookPath("dracut"); err != nil {
		netlab.Skipf(t, "the dracut lab needs dracut-core, dracut-live, dracut-network and nfs-common (bash .ci/run installs them)")
	}
	out, err := exec.Command("./build-dracut-medium.sh").CombinedOutput()
	if err != nil {
		t.Fatalf("building the dracut medium: %v\n%s", err, out)
	}
	return builtPath(t, out)
}

// familyMedium is a lab medium that a build script makes from the test ISO with a family's own
// initramfs code from ../shared/thirdparty (cached by the script; a minute or two when it is
// not). Labs that share one get it built once per run.
type familyMedium struct {
	env    string // names a ready medium instead
	script string
	needs  string // a file of the family's code, relative to e2e/
	family string

	once sync.Once
	path string
	err  error
}

// casperMedium is the Ubuntu-like ISO with Ubuntu's own casper (build-casper-medium.sh).
var casperMedium = &familyMedium{env: "SHARECD_TEST_CASPER", script: "./build-casper-medium.sh",
	needs: "../../shared/thirdparty/casper-1.470.2/scripts/casper", family: "casper"}

// archisoMedium is the Arch-like ISO with Arch's own mkinitcpio and archiso hooks
// (build-archiso-medium.sh).
var archisoMedium = &familyMedium{env: "SHARECD_TEST_ARCHISO", script: "./build-archiso-medium.sh",
	needs: "../../shared/thirdparty/mkinitcpio-archiso-73/hooks/archiso_pxe_nfs", family: "archiso"}

func (m *familyMedium) get(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(m.env); p != "" {
		return p
	}
	if _, err := os.Stat(m.needs); err != nil {
		netlab.Skipf(t, "the %s lab needs %s (../shared/thirdparty beside the clone)", m.family, m.needs)
	}
	m.once.Do(func() {
		out, err := exec.Command(m.script).CombinedOutput()
		if err != nil {
			m.err = fmt.Errorf("building the %s medium: %v\n%s", m.family, err, out)
			return
		}
		m.path = builtPath(t, out)
	})
	if m.err != nil {
		t.Fatal(m.err)
	}
	return m.path
}

// probeLines are the lines the lab's probe (lab-probe.sh) printed on a client's serial console.
func probeLines(serial string) []string {
	b, _ := os.ReadFile(serial)
	var lines []string
	for _, line := range strings.Split(string(b), "\n") {
		if _, rest, ok := strings.Cut(line, "sharecd-probe: "); ok {
			lines = append(lines, strings.TrimRight(rest, "\r"))
		}
	}
	return lines
}

// checkCasperClient: casper, not live-boot, mounted the medium from sharecd's NFS export on
// /cdrom; casper made its live user (uid 999, the name in its casper.conf); and each layer of
// the root read back whole over NFS has the checksum it has on the medium, so an installer
// copying it from the netbooted client would copy it right.
func checkCasperClient(t *testing.T, name, serial, server, export, sums string) {
	t.Helper()
	lines := probeLines(serial)
	if !slices.Contains(lines, "done") {
		t.Errorf("%s: the probe did not finish:\n%s", name, strings.Join(lines, "\n"))
		return
	}
	has := func(prefix string) bool {
		return slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, prefix) })
	}
	for _, want := range []string{"medium " + server + ":" + export + " on /cdrom type nfs", "user ubuntu:x:999:999:", "casper log "} {
		if !has(want) {
			t.Errorf("%s: the probe printed no %q:\n%s", name, want, strings.Join(lines, "\n"))
		}
	}
	if has("medium " + server + ":" + export + " on /run/live") {
		t.Errorf("%s: live-boot mounted the medium", name)
	}
	want, err := os.ReadFile(sums)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(want)), "\n") {
		sum, file, _ := strings.Cut(line, "  ")
		if !slices.Contains(lines, "sha256 "+sum+" "+file) {
			t.Errorf("%s: %s read over NFS does not have the medium's checksum %s:\n%s", name, file, sum, strings.Join(lines, "\n"))
		}
		n++
	}
	if n < 2 {
		t.Errorf("%s lists %d images, want casper's two layers", sums, n)
	}
}

// checkArchisoClient: archiso's own hooks mounted the medium from sharecd's export on
// /run/archiso/bootmnt, and it is still mounted once the system runs: copytoram=n kept the root
// on NFS (with copytoram=y the hook unmounts it after copying the image into RAM).
func checkArchisoClient(t *testing.T, name, serial, server string) {
	t.Helper()
	lines := probeLines(serial)
	if !slices.Contains(lines, "done") {
		t.Errorf("%s: the probe did not finish:\n%s", name, strings.Join(lines, "\n"))
		return
	}
	if !slices.Contains(lines, "medium "+server+":/sharecd on /run/archiso/bootmnt type nfs") {
		t.Errorf("%s: archiso's NFS mount is not on /run/archiso/bootmnt:\n%s", name, strings.Join(lines, "\n"))
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "mem ") {
			t.Logf("%s: %s", name, l)
		}
	}
}

// TestClientsBootLiveSystem boots diskless QEMU PCs to the live system's login prompt. BIOS clients
// (SeaBIOS + iPXE) get the iPXE script, except in the dracut lab, which gives them pxelinux.0 as
// every BIOS ROM gets it with --no-ipxe-script. The ISO-file lab runs a BIOS and a UEFI client (OVMF's
// own PXE, Secure Boot off, given our unsigned iPXE) from one proxy-DHCP server at the same time,
// and restarts that server while both run from their NFS root; the directory lab has sharecd as
// the LAN's only DHCP server and boots a BIOS client and a UEFI client with Secure Boot on
// (Microsoft's keys) through Debian's signed chain; the dracut lab boots a BIOS client and a UEFI
// client whose NIC runs iPXE's EFI driver (given our unsigned GRUB: --no-ipxe-script) from a
// Fedora-like medium whose initrd is dracut's dmsquash-live, which fetches its image over HTTP.
func TestClientsBootLiveSystem(t *testing.T) {
	need(t)
	iso := liveISO(t)
	bin := sharecd(t)

	type client struct{ name, mac string }
	const dracut, twoMedia = "dracut", "two-media"
	casper := func(t *testing.T, args ...string) []string {
		return append([]string{bin, "--share", "--source", casperMedium.get(t), "--iface", "s0", "--menu-timeout", "2", "--debug"}, args...)
	}
	cases := []struct {
		name   string
		subnet string
		// serve returns the command line run in the server namespace.
		serve func(t *testing.T, dir string) []string
		// restart stops and restarts sharecd while the clients run from their NFS root: NFS file
		// handles must stay valid across restarts so the clients carry on.
		restart bool
		// full runs sharecd as the LAN's only DHCP server (--dhcp-mode full): no router.
		full    bool
		clients []client
		// lossy > 0 makes the switch lose one TFTP packet in lossy, as a busy switch does.
		lossy int
	}{
		{"iso-file", "10.77.1", func(*testing.T, string) []string {
			return []string{bin, "--share", "--source", iso, "--iface", "s0", "--menu-timeout", "2", "--debug"}
		}, true, false, []client{{"bios", "52:54:00:5c:d0:01"}, {"uefi", "52:54:00:5c:d0:05"}}, 0},
		// The medium as a live system has it: a directory tree. This kernel has no iso9660
		// driver to loop-mount the ISO, so xorriso copies the tree out with its Rock Ridge
		// names, modes and links. This lab has no router: sharecd is the whole DHCP service,
		// for the PXE ROM, the initramfs and the booted system alike. It also shares a live
		// session's changes (--changes-from): the clients boot the medium with them on top,
		// and the iso-file lab, the same medium without them, is the proof they came from there.
		{"directory", "10.77.2", func(t *testing.T, dir string) []string {
			return []string{"sh", "-c", `xorriso -osirrox on -indev "$2" -extract / "$1" >/dev/null 2>&1 && STATE_DIRECTORY="$1.state" exec "$3" --share --source "$1" --iface s0 --menu-timeout 2 --dhcp-mode full --lease-file "$1.leases" --changes-from "$4" --debug`,
				"sh", filepath.Join(dir, "medium"), iso, bin, labSessionChanges(t, dir)}
		}, false, true, []client{{"bios", "52:54:00:5c:d0:02"}, {"uefi-sb", "52:54:00:5c:d0:06"}}, 0},
		// pxelinux loads the kernel and initrd over TFTP here, tens of thousands of blocks: the
		// switch loses some of them, and the ROMs' loaders must get over it.
		{dracut, "10.77.3", func(t *testing.T, _ string) []string {
			return []string{bin, "--share", "--source", dracutMedium(t), "--iface", "s0", "--menu-timeout", "2", "--debug", "--no-ipxe-script"}
		}, false, false, []client{{"bios", "52:54:00:5c:d0:03"}, {"uefi-ipxe", "52:54:00:5c:d0:07"}}, 2000},
		// Ubuntu's casper in the initrd, an Ubuntu 24.04 layout with a GRUB-only menu: BIOS
		// clients get their menu from GRUB's too. The iPXE ROM boots boot.ipxe, OVMF snponly.efi.
		{"casper", "10.77.4", func(t *testing.T, _ string) []string { return casper(t) },
			false, false, []client{{"bios", "52:54:00:5c:d0:08"}, {"uefi", "52:54:00:5c:d0:09"}}, 0},
		// Two media in one share, the Debian live ISO first and the casper medium second, with
		// pxelinux.0 for BIOS ROMs and GRUB for UEFI (--no-ipxe-script): the UEFI client boots
		// the first medium's default unattended; at the BIOS client a person chooses the second
		// in the top menu (down, enter), which then boots casper's default, as ROMs other than
		// iPXE get it.
		{twoMedia, "10.77.5", func(t *testing.T, _ string) []string {
			return []string{bin, "--share", "--source", iso, "--source", casperMedium.get(t), "--iface", "s0",
				"--menu-timeout", "8", "--debug", "--no-ipxe-script"}
		}, false, false, []client{{"bios", "52:54:00:5c:d0:0a"}, {"uefi-grub", "52:54:00:5c:d0:0d"}}, 0},
		// Arch's mkinitcpio with archiso's hooks in the initrd, archiso's syslinux menus: the
		// UEFI client gets them too (systemd-boot cannot netboot). The BIOS client is a seat of
		// the seats file (archisoSeat); the UEFI client, which it does not name, boots the room's.
		{"archiso", "10.77.6", func(t *testing.T, dir string) []string {
			return []string{bin, "--share", "--source", archisoMedium.get(t), "--iface", "s0", "--menu-timeout", "2", "--debug",
				"--seats", writeSeats(t, dir, archisoSeat)}
		}, false, false, []client{{"bios", archisoSeat.mac}, {"uefi", "52:54:00:5c:d0:0c"}}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t, tc.subnet)
			if !tc.full {
				l.startRouter()
			}
			if tc.lossy > 0 {
				l.loseUDP(tc.lossy)
			}
			srv := l.start(l.server, "sharecd.log", tc.serve(t, l.dir)...)
			serverLog := filepath.Join(l.dir, "sharecd.log")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := waitFor(ctx, serverLog, "msg=sharing"); err != nil {
				t.Fatalf("sharecd did not start: %v\n%s", err, tail(serverLog, 30))
			}
			// The snapshot is in the run directory while sharing, and gone once sharecd stops.
			snapshotDir := filepath.Join(l.dir, "medium.state", "changes-s0")
			if snaps, _ := filepath.Glob(filepath.Join(snapshotDir, "zz-sharecd-changes-*.squashfs")); tc.name == "directory" && len(snaps) != 1 {
				t.Errorf("snapshots of the changes while sharing: %v, want one", snaps)
			}
			vms := map[string]vm{}
			for i, c := range tc.clients {
				tap := fmt.Sprintf("tap%d", i)
				if strings.HasPrefix(c.name, "uefi") {
					if !uefiOK() {
						netlab.Skipf(t, "UEFI clients need %s and %s (apt-get install ovmf; bash .ci/run installs it)", ovmfCode, ovmfSBCode)
					}
					vms[c.name] = l.startUEFIClient(c.name, tap, c.mac, c.name == "uefi-sb", c.name == "uefi-ipxe")
				} else {
					vms[c.name] = l.startClient(c.name, tap, c.mac)
				}
			}
			if tc.name == twoMedia {
				// The BIOS client's person: once pxelinux has the top menu and its menu.c32,
				// down and enter choose the second medium before the timeout boots the first.
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
					defer cancel()
					if err := waitFor(ctx, serverLog, `file=menu.c32`); err != nil {
						t.Errorf("the BIOS client never loaded menu.c32: %v", err)
						return
					}
					time.Sleep(2 * time.Second) // the menu is drawn after its libraries load
					if err := pressKeys(vms["bios"], "down", "ret"); err != nil {
						t.Errorf("typing on the BIOS client: %v", err)
					}
				}()
			}
			start := time.Now()

			ctx, cancel = context.WithTimeout(context.Background(), 30*time.Minute)
			defer cancel()
			firstLog := serverLog
			if tc.restart {
				if err := waitForCount(ctx, serverLog, `msg="client running"`, len(tc.clients)); err != nil {
					t.Fatalf("clients never read their root: %v\n%s", err, tail(serverLog, 30))
				}
				time.Sleep(5 * time.Second) // let the clients get well into reading the squashfs
				if err := stop(srv, syscall.SIGTERM, 15*time.Second); err != nil {
					t.Fatalf("sharecd on SIGTERM: %v\n%s", err, tail(serverLog, 20))
				}
				srv = l.start(l.server, "sharecd-restarted.log", tc.serve(t, l.dir)...)
				serverLog = filepath.Join(l.dir, "sharecd-restarted.log")
			}
			// The clients are awaited together, and each is powered off at login: so that the
			// slower one, and the other labs, get its share of the two cores.
			type atLogin struct {
				name string
				err  error
			}
			done := make(chan atLogin, len(tc.clients))
			for _, c := range tc.clients {
				go func() { done <- atLogin{c.name, waitFor(ctx, vms[c.name].serial, "login:")} }()
			}
			for range tc.clients {
				r := <-done
				if r.err != nil {
					t.Fatalf("%s client did not reach login: %v\n--- serial (artefacts in %s) ---\n%s\n--- sharecd ---\n%s",
						r.name, r.err, l.dir, tail(vms[r.name].serial, 40), tail(serverLog, 40))
				}
				t.Logf("%s client reached login: %v after power-on", r.name, time.Since(start).Round(time.Second))
				if err := stop(vms[r.name].qemu, syscall.SIGTERM, 10*time.Second); err != nil {
					t.Errorf("powering off the %s client: %v", r.name, err)
				}
			}
			logText, _ := os.ReadFile(firstLog)
			want := []string{"client offered", "client loader", "client menu", "client kernel", "client initrd", "client root mounted"}
			switch {
			case tc.name == twoMedia:
				// Each client got its medium: kernels from two directories, roots from two exports.
				exports := map[string]string{}
				for _, line := range strings.Split(string(logText), "\n") {
					if strings.Contains(line, "msg=sharing") {
						fam, exp := logField(line, "family"), logField(line, "nfsroot")
						exports[fam] = strings.TrimPrefix(exp, tc.subnet+".2:")
					}
				}
				if len(exports) != 2 || exports["casper"] == exports["live-boot"] || !strings.HasPrefix(exports["casper"], "/sharecd/") {
					t.Errorf("want two exports under /sharecd, one a medium: %v", exports)
				}
				checkCasperClient(t, "bios", vms["bios"].serial, tc.subnet+".2", exports["casper"], casperMedium.get(t)+".sha256")
				for _, c := range []struct{ mac, kernel, export string }{
					{"52:54:00:5c:d0:0a", "/casper/vmlinuz", exports["casper"]},
					{"52:54:00:5c:d0:0d", "/live/vmlinuz", exports["live-boot"]},
				} {
					if !clientLogged(string(logText), c.mac, "client kernel", c.kernel) || !clientLogged(string(logText), c.mac, "client root mounted", c.export) {
						t.Errorf("client %s did not boot its medium (kernel …%s…, root %s)", c.mac, c.kernel, c.export)
					}
				}
				want = append(want, "file=pxelinux.0", "file=grubx64.efi", "file=grub/grub.cfg", "UEFI x86-64: unsigned GRUB")
			case strings.HasPrefix(tc.name, "casper"):
				// The medium's memory test is not on it: left out, and the rest boots.
				want = append(want, "family=casper", `menu entry \"Test memory\" left out: boot/memtest86+x64.bin is not on the medium`)
				for _, c := range tc.clients {
					checkCasperClient(t, c.name, vms[c.name].serial, tc.subnet+".2", "/sharecd", casperMedium.get(t)+".sha256")
				}
				want = append(want, "file=boot.ipxe", "BIOS, iPXE: boot.ipxe")
			case tc.name == "archiso":
				want = append(want, "family=archiso", "file=boot.ipxe", "BIOS, iPXE: boot.ipxe",
					"seat="+archisoSeat.name, "file=boot.ipxe-"+macFileName(archisoSeat.mac))
				for _, c := range tc.clients {
					checkArchisoClient(t, c.name, vms[c.name].serial, tc.subnet+".2")
				}
				checkSeat(t, vms["bios"].serial, vms["uefi"].serial, archisoSeat)
			case tc.name == dracut:
				// The whole image went out over HTTP, and the family was told apart.
				want = append(want, "family=dracut", `msg="client running"`, "file=LiveOS/squashfs.img", "file=pxelinux.0")
			default:
				for _, c := range tc.clients {
					if tc.name == "directory" {
						checkChangesClient(t, c.name, vms[c.name].serial)
					} else {
						checkNoChangesClient(t, c.name, vms[c.name].serial)
					}
				}
				if tc.name == "directory" {
					want = append(want, "session changes shared as a layer over the medium", "layer=live/zz-sharecd-changes-")
				}
				// The BIOS client booted from the script alone: pxelinux.0 never went out.
				want = append(want, "file=boot.ipxe", "BIOS, iPXE: boot.ipxe")
				if strings.Contains(string(logText), "file=pxelinux.0") {
					t.Errorf("the iPXE ROM was given or fetched pxelinux.0")
				}
			}
			for _, c := range tc.clients {
				switch c.name {
				case "uefi":
					// OVMF's PXE runs our iPXE, which asks again as iPXE and boots the UEFI menu.
					want = append(want, "file=snponly.efi", "file=uefi.ipxe", "UEFI x86-64: unsigned iPXE")
				case "uefi-ipxe":
					// --no-ipxe-script: GRUB even for iPXE's EFI driver.
					want = append(want, "file=grubx64.efi", "file=grub/grub.cfg", "UEFI x86-64: unsigned GRUB")
				case "uefi-sb":
					want = append(want, "file=secureboot/shimx64.efi", "file=grub/grub.cfg", "Secure Boot capable",
						"signed by Debian: clients with Secure Boot on boot it")
					// The kernel says so itself: proof that Secure Boot was on, not merely offered.
					if serial, _ := os.ReadFile(vms[c.name].serial); !strings.Contains(string(serial), "Secure boot enabled") {
						t.Errorf("%s: the kernel did not report Secure Boot on\n%s", c.name, tail(vms[c.name].serial, 40))
					}
				}
			}
			for _, w := range want {
				if !strings.Contains(string(logText), w) {
					t.Errorf("server log lacks %q", w)
				}
			}
			if tc.lossy > 0 {
				if n := l.lost(); n == 0 {
					t.Errorf("the switch lost no TFTP packet, so the loss proved nothing")
				} else {
					t.Logf("the switch lost %d TFTP packets on the way", n)
				}
			}
			if restarted, _ := os.ReadFile(serverLog); tc.restart && !strings.Contains(string(restarted), "client running") {
				t.Errorf("no client read from the restarted sharecd:\n%s", tail(serverLog, 20))
			}
			if err := stop(srv, syscall.SIGTERM, 15*time.Second); err != nil {
				t.Errorf("sharecd on SIGTERM: %v\n%s", err, tail(serverLog, 20))
			}
			if _, err := os.Stat(snapshotDir); tc.name == "directory" && !os.IsNotExist(err) {
				t.Errorf("the snapshot outlived the share: %v", err)
			}
		})
	}
}

// TestBuiltPath: the build scripts' last lines, fresh and cached, name the result.
func TestBuiltPath(t *testing.T) {
	for _, tc := range []struct{ out, want string }{
		{"lb build …\nbuilt: /var/cache/sharecd-e2e/debian-live-test.iso (253M)\n", "/var/cache/sharecd-e2e/debian-live-test.iso"},
		{"cached: /var/cache/sharecd-e2e/debian-live-test.iso\n", "/var/cache/sharecd-e2e/debian-live-test.iso"},
		{"built: /c/dracut-medium (kernel 6.1.0-28-amd64, initrd 58M)\n", "/c/dracut-medium"},
	} {
		if got := builtPath(t, []byte(tc.out)); got != tc.want {
			t.Errorf("builtPath(%q) = %q, want %q", tc.out, got, tc.want)
		}
	}
}

// logField is one key's value in a slog text line ("" when absent).
func logField(line, key string) string {
	_, rest, ok := strings.Cut(line, " "+key+"=")
	if !ok {
		return ""
	}
	if strings.HasPrefix(rest, `"`) {
		v, _, _ := strings.Cut(rest[1:], `"`)
		return v
	}
	v, _, _ := strings.Cut(rest, " ")
	return v
}

// clientLogged says whether the server logged msg for the client with this MAC and a file
// whose path contains part.
func clientLogged(log, mac, msg, part string) bool {
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `msg="`+msg+`"`) && logField(line, "mac") == mac && strings.Contains(logField(line, "file"), part) {
			return true
		}
	}
	return false
}
