package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sharecd/sharecd/netboot/bootmenu"
	"github.com/sharecd/sharecd/netboot/netlab"
)

// BenchmarkBoot times diskless QEMU clients from power-on to the kernel's first line and to the
// live system's login prompt, served once by sharecd and once by the stack an admin would set up
// instead: dnsmasq as proxy-DHCP and TFTP server with sharecd's own boot tree (--boot-tree, so the
// menus are the same), and nfs-ganesha exporting the same medium directory. Both share a LAN with
// a plain DHCP router, one run after the other, in the same namespace lab. It also reads
// sharecd's peak RSS and CPU time at the end of each of its runs.
//
// bench/boot.sh runs it (one pass: -benchtime 1x). SHARECD_BOOT_FIRMWARE (bios,uefi) and
// SHARECD_BOOT_CLIENTS (1,4) choose the matrix, SHARECD_BOOT_STACKS (sharecd,stock; also
// sharecd-tftp: sharecd --tftp-only; local: no server, each client boots the medium's default
// entry from a disk of its own, the floor no server can go below) what serves; SHARECD_BOOT_CPU caps each client at that
// part of one CPU (capCPU); SHARECD_BOOT_JSON names a JSON copy of the table; SHARECD_BOOT_PCAP
// names a capture of the server's side of sharecd runs (how bench/testdata/room-trace.txt was made).
func BenchmarkBoot(b *testing.B) {
	need(b)
	if slices.Contains(envList("SHARECD_BOOT_STACKS", "sharecd,stock"), "stock") {
		for _, tool := range []string{"ganesha.nfsd", "rpcbind"} {
			if _, err := exec.LookPath(tool); err != nil {
				// Not netlab.Skipf: CI runs no benchmarks and does not install the stock
				// stack, which is only the comparison; SHARECD_BOOT_STACKS=sharecd leaves it out.
				b.Skipf("the boot benchmark's stock stack needs %s (apt-get install nfs-ganesha-vfs rpcbind)", tool)
			}
		}
	}
	iso, bin := liveISO(b), sharecd(b)
	medium := filepath.Join(b.TempDir(), "medium")
	if out, err := netlab.CombinedOutput(exec.Command("xorriso", "-osirrox", "on", "-indev", iso, "-extract", "/", medium)); err != nil {
		b.Fatalf("extracting %s: %v\n%s", iso, err, out)
	}
	var rows []bootRow
	for _, fw := range envList("SHARECD_BOOT_FIRMWARE", "bios,uefi") {
		if fw == "uefi" && !uefiOK() {
			b.Logf("no OVMF: UEFI runs left out")
			continue
		}
		for _, n := range envList("SHARECD_BOOT_CLIENTS", "1,4") {
			clients, err := strconv.Atoi(n)
			if err != nil || clients < 1 || clients > 8 {
				b.Fatalf("SHARECD_BOOT_CLIENTS: %q is not a count from 1 to 8", n)
			}
			row := bootRow{Firmware: fw, Clients: clients}
			for _, stack := range envList("SHARECD_BOOT_STACKS", "sharecd,stock") {
				b.Run(fmt.Sprintf("%s-%d-%s", fw, clients, stack), func(b *testing.B) {
					r := bootRun(b, stack, fw, clients, iso, medium, bin)
					b.ReportMetric(r.Kernel, "s-to-kernel")
					b.ReportMetric(r.Login, "s-to-login")
					b.ReportMetric(r.Boot, "s-to-login-less-probe-read")
					switch stack {
					case "sharecd":
						row.Sharecd = r
					case "stock":
						row.Stock = r
					case "local":
						row.Local = &r
					}
				})
			}
			rows = append(rows, row)
		}
	}
	printBootTable(b, rows)
}

// bootResult is one run: seconds from power-on until the slowest client got there.
type bootResult struct {
	Kernel float64 `json:"kernel_s"`
	Login  float64 `json:"login_s"`
	// Boot is Login less the time the lab's probe spent reading root images back for their
	// checksums (e2e/lab-probe.sh): test equipment, not boot, and only a client with an NFS
	// mount does it, so this is what compares with a local disk like for like.
	Boot float64 `json:"login_without_probe_read_s"`
	// Footprint of the serving process (sharecd only): peak RSS and CPU time over the run.
	PeakRSSMB float64 `json:"peak_rss_mb,omitempty"`
	CPUSecs   float64 `json:"cpu_s,omitempty"`
}

type bootRow struct {
	Firmware string     `json:"firmware"`
	Clients  int        `json:"clients"`
	Sharecd  bootResult `json:"sharecd"`
	Stock    bootResult `json:"stock"`
	// Local is the same clients booting from a local disk, when measured (STACKS=…,local).
	Local *bootResult `json:"local,omitempty"`
}

func bootRun(b *testing.B, stack, fw string, clients int, iso, medium, bin string) bootResult {
	l := newLab(b, "10.78.0")
	for i := 2; i < clients; i++ { // newLab made tap0 and tap1
		tap := fmt.Sprintf("tap%d", i)
		l.ipn(l.sw, "tuntap", "add", tap, "mode", "tap")
		l.ipn(l.sw, "link", "set", tap, "master", "br0", "up")
	}
	l.startRouter()
	server := l.subnet + ".2"
	var srv *exec.Cmd
	switch stack {
	case "sharecd", "sharecd-tftp":
		args := []string{bin, "--share", "--source", medium, "--iface", "s0", "--menu-timeout", "2"}
		if stack == "sharecd-tftp" { // GRUB's kernels over lock-step TFTP too
			args = append(args, "--tftp-only")
		}
		srv = l.start(l.server, "sharecd.log", args...)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := waitFor(ctx, filepath.Join(l.dir, "sharecd.log"), "msg=sharing"); err != nil {
			b.Fatalf("sharecd did not start: %v\n%s", err, tail(filepath.Join(l.dir, "sharecd.log"), 20))
		}
	case "stock":
		l.startStock(b, bin, medium, server)
	case "local":
	default:
		b.Fatalf("SHARECD_BOOT_STACKS: no stack %q (sharecd, sharecd-tftp, stock, local)", stack)
	}

	if file := os.Getenv("SHARECD_BOOT_PCAP"); file != "" && srv != nil {
		// Every packet the server sends or gets, for bench/roomtrace to turn into the trace that
		// bench/room.sh replays. Ended with the lab (TERM), which makes tcpdump flush its file.
		// -Z root: tcpdump that drops to its own user loses the parent-death signal, and a
		// killed benchmark would leave it running.
		l.start(l.server, "tcpdump.log", "tcpdump", "-Z", "root", "-i", "s0", "-s", "0", "-B", "16384", "-U", "-w", file)
		time.Sleep(time.Second) // tcpdump opens its socket after it starts
	}
	share := cpuShare(b)
	b.ResetTimer()
	serials := make([]string, clients)
	for i := range clients {
		name, tap, mac := fmt.Sprintf("%s%d", fw, i), fmt.Sprintf("tap%d", i), fmt.Sprintf("52:54:00:5c:e0:%02x", i)
		var c vm
		switch {
		case stack == "local":
			c = l.startLocalClient(b, name, tap, mac, fw, iso, medium)
		case fw == "uefi":
			c = l.startUEFIClient(name, tap, mac, false, false)
		default:
			c = l.startClient(name, tap, mac)
		}
		serials[i] = c.serial
		if share > 0 { // ip netns exec execs QEMU, so this PID is QEMU's
			capCPU(b, c.qemu.Process.Pid, share)
		}
	}
	start := time.Now()
	// The probe's "mem" line comes just before it reads root images back and "done" just
	// after; the serial log has no clock, so each line's time is when it was first seen.
	type seen struct{ kernel, probeStart, probeEnd, login time.Duration }
	times := make([]seen, clients)
	deadline := start.Add(40 * time.Minute)
	for slices.ContainsFunc(times, func(t seen) bool { return t.login == 0 }) {
		if time.Now().After(deadline) {
			b.Fatalf("%s, %d %s clients: not all at login: after 40 minutes (artefacts in %s)", stack, clients, fw, l.dir)
		}
		time.Sleep(500 * time.Millisecond)
		for i, serial := range serials {
			s, _ := os.ReadFile(serial)
			t := &times[i]
			for _, m := range []struct {
				at   *time.Duration
				line string
			}{{&t.kernel, "Linux version"}, {&t.probeStart, "sharecd-probe: mem"}, {&t.probeEnd, "sharecd-probe: done"}, {&t.login, "login:"}} {
				if *m.at == 0 && bytes.Contains(s, []byte(m.line)) {
					*m.at = time.Since(start)
				}
			}
		}
	}
	b.StopTimer()
	var kernel, login, boot []time.Duration
	for _, t := range times {
		probe := time.Duration(0)
		if t.probeStart != 0 && t.probeEnd != 0 {
			probe = t.probeEnd - t.probeStart
		}
		kernel, login, boot = append(kernel, t.kernel), append(login, t.login), append(boot, t.login-probe)
	}
	r := bootResult{Kernel: slices.Max(kernel).Seconds(), Login: slices.Max(login).Seconds(), Boot: slices.Max(boot).Seconds()}
	if srv != nil {
		r.PeakRSSMB, r.CPUSecs = footprint(srv.Process.Pid)
	}
	b.Logf("%s, %d %s client(s): kernel %v, login %v, login less the probe's read %v (slowest); peak RSS %.0f MB, CPU %.1f s; artefacts in %s", stack, clients, fw,
		slices.Max(kernel).Round(time.Second), slices.Max(login).Round(time.Second), slices.Max(boot).Round(time.Second), r.PeakRSSMB, r.CPUSecs, l.dir)
	return r
}

// startLocalClient powers on a PC like the network's clients (same firmware, NIC, memory and CPU
// cap) that boots the medium's default entry with no server at all: QEMU loads the entry's kernel
// and initrd itself and the ISO is a virtio disk, where live-boot finds its squashfs. What this
// client takes is the time no server can save: firmware, kernel and systemd on the client's CPU.
func (l *lab) startLocalClient(b *testing.B, name, tap, mac, fw, iso, medium string) vm {
	m, _, err := bootmenu.Find(os.DirFS(medium))
	if err != nil {
		b.Fatalf("reading the medium's menu: %v", err)
	}
	e := m.DefaultEntry()
	if e == nil || e.Kind != bootmenu.KindLinux || len(e.Initrds) != 1 {
		b.Fatalf("the medium's default entry is not one Linux kernel with one initrd: %+v", e)
	}
	serial := filepath.Join(l.dir, name+"-serial.log")
	args := append(pcArgs("q35,accel=tcg", serial), "-no-reboot",
		"-kernel", filepath.Join(medium, e.Kernel), "-initrd", filepath.Join(medium, e.Initrds[0]),
		"-append", e.Append,
		"-drive", "file="+iso+",if=virtio,format=raw,readonly=on",
		"-netdev", "tap,id=n0,ifname="+tap+",script=no,downscript=no",
		"-device", "e1000,netdev=n0,mac="+mac)
	if fw == "uefi" {
		args = append(args, l.ovmfArgs(name, ovmfCode, ovmfVars)...)
	}
	qemu := l.start(l.sw, name+"-qemu.log", append([]string{"qemu-system-x86_64"}, args...)...)
	return vm{qemu, serial}
}

// startStock serves medium the way an admin would without sharecd: sharecd's boot tree (the same
// loaders and menus) from dnsmasq's proxy-DHCP and TFTP, the medium from nfs-ganesha (VFS) with
// its own rpcbind, exported where the menus look for it.
func (l *lab) startStock(b *testing.B, bin, medium, server string) {
	tree := filepath.Join(l.dir, "tree")
	if out, err := netlab.CombinedOutput(exec.Command(bin, "--boot-tree", tree, "--server-ip", server, "--source", medium, "--menu-timeout", "2")); err != nil {
		b.Fatalf("sharecd --boot-tree: %v\n%s", err, out)
	}
	// The same nfs-ganesha and rpcbind as bench/nfs.sh's.
	ganesha, _ := filepath.Abs("../bench/ganesha.sh")
	l.start(l.server, "ganesha.log", ganesha, server, medium)
	l.start(l.server, "dnsmasq.log", "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
		"--interface=s0", "--bind-interfaces", "--user=root", "--log-dhcp",
		"--dhcp-range="+l.subnet+".0,proxy",
		"--pxe-service=x86PC,Network boot,pxelinux",
		"--pxe-service=X86-64_EFI,Network boot,grubx64.efi",
		"--pxe-prompt=Network boot,0", // boot the one entry at once, as sharecd does
		"--enable-tftp", "--tftp-root="+tree)
	for _, port := range []string{"2049", "69"} {
		ok := false
		for range 100 {
			out, _ := exec.Command("ip", "netns", "exec", l.server, "ss", "-Hlnut", "sport = :"+port).Output()
			if ok = len(bytes.TrimSpace(out)) > 0; ok {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if !ok {
			b.Fatalf("the stock stack does not listen on port %s:\n%s\n%s", port,
				tail(filepath.Join(l.dir, "ganesha.log"), 20), tail(filepath.Join(l.dir, "dnsmasq.log"), 20))
		}
	}
}

// cpuShare is SHARECD_BOOT_CPU: the part of one CPU each client may use (0 = no limit).
func cpuShare(b *testing.B) float64 {
	v := os.Getenv("SHARECD_BOOT_CPU")
	if v == "" {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || f > 1 {
		b.Fatalf("SHARECD_BOOT_CPU: %q is not a part of one CPU (0.05 to 1)", v)
	}
	return f
}

// capCPU puts one QEMU client in a CPU cgroup of its own, limited to share of a CPU. Under TCG a
// client's own CPU sets the pace: on 2 cores, 4 uncapped clients boot ~3x slower than one whatever
// serves them. Capped, every client gets the same CPU alone or among 4 (as long as the caps add up
// to less than the machine), so what 4 at once cost more is the server and the wire.
func capCPU(b *testing.B, pid int, share float64) {
	name := fmt.Sprintf("sharecd-bench-%d", pid)
	quota := strconv.Itoa(int(share * 100000))
	// Written in this order: a v1 quota must fit the period it is set against.
	root, files := "/sys/fs/cgroup", [][2]string{{"cpu.max", quota + " 100000"}} // cgroup v2
	if _, err := os.Stat("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"); err == nil {
		root, files = "/sys/fs/cgroup/cpu", [][2]string{{"cpu.cfs_period_us", "100000"}, {"cpu.cfs_quota_us", quota}} // v1 (or hybrid)
	}
	dir := filepath.Join(root, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		b.Fatalf("SHARECD_BOOT_CPU needs a writable CPU cgroup: %v", err)
	}
	b.Cleanup(func() {
		os.WriteFile(filepath.Join(root, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0) // gone already, or moved out
		os.Remove(dir)
	})
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f[0]), []byte(f[1]), 0); err != nil {
			b.Fatalf("capping client CPU: %v", err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		b.Fatalf("capping client CPU: %v", err)
	}
}

// footprint reads a process's peak RSS (VmHWM) in MB and its CPU time (user + system) in seconds.
func footprint(pid int) (rssMB, cpu float64) {
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				rssMB = kb / 1024
			}
		}
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Fields after the command name, which is in parentheses and may hold spaces.
		f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+1:]))
		if len(f) > 12 {
			utime, _ := strconv.ParseFloat(f[11], 64)
			stime, _ := strconv.ParseFloat(f[12], 64)
			cpu = (utime + stime) / 100 // USER_HZ
		}
	}
	return rssMB, cpu
}

func printBootTable(b *testing.B, rows []bootRow) {
	local := slices.ContainsFunc(rows, func(r bootRow) bool { return r.Local != nil })
	var t strings.Builder
	t.WriteString("| firmware | clients | →kernel sharecd | stock | ratio | →login sharecd | stock | ratio | sharecd peak RSS | CPU |")
	if local {
		// The floor: what a client takes with no server at all, as a part of the stock stack's time.
		t.WriteString(" →kernel local disk | →login local disk | ÷stock login |")
		// Target of the client's own path: sharecd against the local disk, both without
		// the probe's read of the root image (only a network client has one to read).
		t.WriteString(" →login less probe read: sharecd | local disk | ratio |")
	}
	t.WriteString("\n|---|---|---|---|---|---|---|---|---|---|")
	if local {
		t.WriteString("---|---|---|---|---|---|")
	}
	t.WriteString("\n")
	for _, r := range rows {
		fmt.Fprintf(&t, "| %s | %d | %.0f s | %.0f s | %.2f | %.0f s | %.0f s | %.2f | %.0f MB | %.1f s |",
			r.Firmware, r.Clients, r.Sharecd.Kernel, r.Stock.Kernel, ratio(r.Sharecd.Kernel, r.Stock.Kernel),
			r.Sharecd.Login, r.Stock.Login, ratio(r.Sharecd.Login, r.Stock.Login), r.Sharecd.PeakRSSMB, r.Sharecd.CPUSecs)
		if local {
			var l bootResult
			if r.Local != nil {
				l = *r.Local
			}
			fmt.Fprintf(&t, " %.0f s | %.0f s | %.2f |", l.Kernel, l.Login, ratio(l.Login, r.Stock.Login))
			fmt.Fprintf(&t, " %.0f s | %.0f s | %.2f |", r.Sharecd.Boot, l.Boot, ratio(r.Sharecd.Boot, l.Boot))
		}
		t.WriteString("\n")
	}
	fmt.Print("\n" + t.String())
	if file := os.Getenv("SHARECD_BOOT_JSON"); file != "" {
		js, _ := json.MarshalIndent(rows, "", "  ")
		if err := os.WriteFile(file, js, 0o644); err != nil {
			b.Error(err)
		}
	}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func envList(name, def string) []string {
	v := os.Getenv(name)
	if v == "" {
		v = def
	}
	return strings.Split(v, ",")
}
