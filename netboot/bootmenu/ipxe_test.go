package bootmenu

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// checkIPXE checks what iPXE needs of a script whatever the menu held: the magic line, only the
// commands the renderer writes, each label once, every jump to a label that exists, and no ${…}
// expansion but the renderer's own.
func checkIPXE(script []byte) error {
	lines := strings.Split(strings.TrimSuffix(string(script), "\n"), "\n")
	if lines[0] != "#!ipxe" {
		return fmt.Errorf("first line %q, want #!ipxe", lines[0])
	}
	own := regexp.MustCompile(`\$\{(entry|netX/(ip|next-server|gateway|netmask|mac:hexhyp))\}`)
	ours := regexp.MustCompile(` \|\| (goto|set entry) e[0-9]+$`) // the renderer's own chaining
	labels, jumps := map[string]bool{}, []string{}
	for _, l := range lines[1:] {
		if strings.Contains(own.ReplaceAllString(l, ""), "${") {
			return fmt.Errorf("line %q expands something of the medium's", l)
		}
		for _, w := range strings.Fields(ours.ReplaceAllString(l, "")) {
			if w == "||" || w == "&&" || w == ";" || strings.HasPrefix(w, "#") && !strings.HasPrefix(l, "#") {
				return fmt.Errorf("line %q ends a command where the medium's text goes on", l)
			}
		}
		f := strings.Fields(l)
		switch {
		case l == "", strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, ":"):
			if labels[l[1:]] || len(f) != 1 {
				return fmt.Errorf("label line %q: repeated or not one word", l)
			}
			labels[l[1:]] = true
		case f[0] == "choose":
			jumps = append(jumps, f[2], f[len(f)-1]) // --default X … || set entry X
		case f[0] == "item":
			jumps = append(jumps, f[1])
		case f[0] == "menu":
			if i := strings.Index(l, " || goto "); i >= 0 {
				jumps = append(jumps, l[i+len(" || goto "):])
			}
		case f[0] == "goto", f[0] == "kernel", f[0] == "initrd", f[0] == "boot", f[0] == "exit", f[0] == "echo",
			f[0] == "chain": // RenderTopIPXE's
		default:
			return fmt.Errorf("line %q: not a command the renderer writes", l)
		}
	}
	for _, j := range jumps {
		if !labels[j] {
			return fmt.Errorf("jump to %q, which has no label", j)
		}
	}
	return nil
}

func TestRenderIPXE(t *testing.T) {
	linux := func(label, kernel, app string, initrds ...string) Entry {
		return Entry{Label: label, Title: "Boot " + label, Kind: KindLinux, Kernel: kernel, Append: app, Initrds: initrds}
	}
	tests := []struct {
		name string
		menu *Menu
		want []string // lines the script must hold
		not  []string // substrings it must not
	}{
		{"over HTTP, default, BOOTIF", &Menu{Title: "Live", Timeout: 50, Default: "b", HTTPHost: "10.0.0.1",
			Entries: []Entry{linux("a", "/live/vmlinuz", "boot=live"), func() Entry {
				e := linux("b", "live/vmlinuz2", "boot=live quiet", "live/initrd.img", "/live/extra.img")
				e.IPAppend = 2
				return e
			}()}},
			[]string{"menu Live || goto e1", "item e0 Boot a", "item e1 Boot b",
				"choose --default e1 --timeout 5000 entry || set entry e1",
				"kernel http://10.0.0.1/live/vmlinuz2 initrd=initrd.img initrd=extra.img boot=live quiet BOOTIF=01-${netX/mac:hexhyp}",
				"initrd http://10.0.0.1/live/initrd.img", "initrd http://10.0.0.1/live/extra.img", "boot"}, nil},
		{"over TFTP, no timeout, ipappend 1", &Menu{Entries: []Entry{func() Entry {
			e := linux("x", "casper/vmlinuz", "boot=casper")
			e.IPAppend = 1
			return e
		}()}},
			[]string{"menu Boot menu || goto e0", "choose --default e0 entry || set entry e0",
				"kernel casper/vmlinuz boot=casper ip=${netX/ip}:${netX/next-server}:${netX/gateway}:${netX/netmask}"},
			[]string{"--timeout", "http://"}},
		{"what iPXE cannot run is left out; hidden stays bootable", &Menu{Default: "gone", Entries: []Entry{
			{Label: "hdt", Kind: KindCOM32, Kernel: "hdt.c32"},
			{Label: "local", Title: "Boot from disk", Kind: KindLocal},
			func() Entry { e := linux("h", "live/vmlinuz", ""); e.Hidden = true; return e }(),
			{Label: "odd", Kind: KindOther},
		}},
			[]string{"item e1 Boot from disk", ":e1", "exit", ":e2", "kernel live/vmlinuz",
				"choose --default e1 entry || set entry e1"},
			[]string{"hdt", "e3", "item e2"}},
		{"the medium's text stays literal", &Menu{Title: "x ${evil} || reboot ; #1", Entries: []Entry{linux("a", "k", "a=${net0/ip} b && shell # c")}},
			[]string{"menu x $ {evil} reboot 1 || goto e0", "kernel k a=$ {net0/ip} b shell c"}, nil},
		{"a kernel or initrd that names the root is none", &Menu{HTTPHost: "10.0.0.1", Entries: []Entry{
			linux("dot", ". x", ""), linux("k", "/live/vmlinuz", "", "./", "live/initrd.img")}},
			[]string{"item e1 Boot k", "kernel http://10.0.0.1/live/vmlinuz initrd=initrd.img", "initrd http://10.0.0.1/live/initrd.img"},
			[]string{"Boot dot", "http://10.0.0.1/\n", "initrd http://10.0.0.1/\n"}},
		{"nothing to boot", &Menu{Entries: []Entry{{Label: "hdt", Kind: KindCOM32, Kernel: "hdt.c32"}}},
			[]string{"exit 1"}, []string{"choose"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := RenderIPXE(tc.menu)
			if err := checkIPXE(out); err != nil {
				t.Errorf("%v\n%s", err, out)
			}
			lines := map[string]bool{}
			for _, l := range strings.Split(string(out), "\n") {
				lines[l] = true
			}
			for _, w := range tc.want {
				if !lines[w] {
					t.Errorf("no line %q in\n%s", w, out)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(string(out), n) {
					t.Errorf("%q in\n%s", n, out)
				}
			}
		})
	}
}
