package bootmenu

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// Parser limits. A menu comes from a medium we did not make (and, through
// the fuzzer, from anywhere): bound everything a hostile or broken config
// could make us do. Real media are far below these: Debian's installer ISO,
// the largest we know, includes ~25 files and nests includes 3 deep.
const (
	maxFileSize   = 1 << 20 // one config file
	maxFiles      = 128     // files opened for one parse, repeated includes counted
	maxDepth      = 16      // include nesting
	maxLineLen    = 8192    // syslinux itself truncates long lines; we refuse them
	maxEntries    = 1024
	maxMenuDepth  = 32    // "menu begin" nesting
	maxTimeout    = 35996 // syslinux's upper bound for TIMEOUT (just under an hour)
	maxHelpLength = 16 << 10
)

// errRestart unwinds the include stack when a top-level CONFIG statement
// replaces the configuration being read.
var errRestart = errors.New("config restart")

// ParseSyslinux parses the isolinux/syslinux/pxelinux configuration name in
// fsys together with every file it includes. workdir is the directory that
// relative file names resolve against: syslinux uses the directory it found
// its configuration in (so pass path.Dir(name) for a medium); pxelinux uses
// the directory it was loaded from (pass "" for a pxelinux.cfg/default served
// next to pxelinux.0 at the TFTP root). Keywords are case-insensitive.
//
// Missing include files are skipped, as syslinux does; include loops are cut.
// Exceeding the size limits gives an error wrapping ErrLimit.
func ParseSyslinux(fsys fs.FS, name, workdir string) (*Menu, error) {
	p := &slParser{menuFiles: menuFiles{fsys: fsys}}
	p.reset(cleanPath(workdir))
	file := cleanPath(name)
	for {
		err := p.parseFile(file)
		if errors.Is(err, errRestart) {
			file = p.restartFile
			continue
		}
		if err != nil {
			return nil, err
		}
		break
	}
	return p.finish()
}

// slEntry is an entry while it is being read: it remembers which statements
// were given so that global defaults apply only where the entry is silent.
type slEntry struct {
	Entry
	appendSet   bool
	ipappendSet bool
	initrdLine  []string // from an INITRD statement; nil if none
	kernelArgs  string   // words after the file name on a KERNEL line
	menuDefault bool
	skip        bool // "menu exit"/"menu goto": navigation, not a boot
	help        []string
	helpLen     int
}

type slParser struct {
	menuFiles
	workdir     string
	restartFile string

	title      string
	timeout    int
	defaultCmd string
	helpFiles  map[int]string // key number 1..12 → path
	entries    []*slEntry
	cur        *slEntry
	inText     bool
	menuDepth  int
	globAppend string
	globAppSet bool
	globIPApp  int
	globIPSet  bool
}

// reset forgets everything read so far: CONFIG starts over with a new file.
func (p *slParser) reset(workdir string) {
	*p = slParser{menuFiles: p.menuFiles, workdir: workdir}
	p.helpFiles = map[int]string{}
}

func (p *slParser) parseFile(name string) error {
	data, err := p.open("including", name)
	if err != nil {
		return err
	}
	defer p.close()

	for n, line := range bytes.Split(data, []byte("\n")) {
		if len(line) > maxLineLen {
			return fmt.Errorf("reading %s line %d: longer than %d bytes: %w", name, n+1, maxLineLen, ErrLimit)
		}
		// A stray CR mid-line is a blank to syslinux; keeping it would let
		// the rendered menu (which cannot hold one) differ from the parsed.
		text := strings.ReplaceAll(string(bytes.TrimRight(line, "\r")), "\r", " ")
		if err := p.line(text, name); err != nil {
			return err
		}
	}
	return nil
}

// line handles one configuration line. file is the file it came from.
func (p *slParser) line(raw, file string) error {
	if p.inText {
		if strings.EqualFold(trimSpace(raw), "endtext") {
			p.inText = false
			return nil
		}
		if e := p.cur; e != nil && e.helpLen < maxHelpLength {
			l := strings.TrimRight(raw, spaces)
			e.help = append(e.help, l)
			e.helpLen += len(l) + 1
		}
		return nil
	}
	s := trimSpace(raw)
	if s == "" || s[0] == '#' {
		return nil
	}
	kw, rest := cutWord(s)
	kw = strings.ToLower(kw)
	e := p.cur
	switch kw {
	case "menu":
		return p.menuLine(rest, file)
	case "include":
		return p.include(rest, file)
	case "label":
		if len(p.entries) >= maxEntries {
			return fmt.Errorf("reading %s: more than %d entries: %w", file, maxEntries, ErrLimit)
		}
		p.cur = &slEntry{Entry: Entry{Label: rest}}
		p.entries = append(p.entries, p.cur)
	case "kernel", "linux", "boot", "bss", "pxe", "fdimage", "comboot", "com32":
		if e != nil {
			p.setKernel(e, kw, rest)
		}
	case "config":
		if e != nil {
			// A label that switches to another configuration: it only makes
			// sense with the medium's own loader and files.
			e.Kind, e.Kernel = KindOther, p.resolve(firstWord(rest))
			return nil
		}
		return p.restart(rest)
	case "localboot":
		if e != nil {
			e.Kind, e.Kernel, e.LocalBoot = KindLocal, "", firstWord(rest)
			if e.LocalBoot == "" {
				e.LocalBoot = "0"
			}
		}
	case "initrd":
		if e != nil {
			e.initrdLine = splitInitrds(rest)
		}
	case "append":
		if e != nil {
			e.Append, e.appendSet = rest, true
		} else {
			p.globAppend, p.globAppSet = rest, true
		}
	case "ipappend", "sysappend":
		v, err := strconv.ParseUint(firstWord(rest), 0, 16)
		if err != nil {
			return nil // syslinux ignores what it cannot read; so do we
		}
		if e != nil {
			e.IPAppend, e.ipappendSet = int(v), true
		} else {
			p.globIPApp, p.globIPSet = int(v), true
		}
	case "text":
		if strings.EqualFold(firstWord(rest), "help") {
			p.inText = true
			if e != nil {
				e.help, e.helpLen = nil, 0
			}
		}
	case "default":
		if p.menuDepth == 0 {
			p.defaultCmd = rest
		}
	case "timeout":
		if v, err := strconv.Atoi(firstWord(rest)); err == nil && p.menuDepth == 0 && v >= 0 {
			p.timeout = min(v, maxTimeout)
		}
	default:
		// F1..F12 help screens (F0 is syslinux's spelling of F10).
		if len(kw) >= 2 && kw[0] == 'f' {
			if n, err := strconv.Atoi(kw[1:]); err == nil && n >= 0 && n <= 12 && p.menuDepth == 0 {
				if n == 0 {
					n = 10
				}
				if f := firstWord(rest); f != "" {
					p.helpFiles[n] = p.resolve(f)
				}
			}
		}
		// Everything else (ui, prompt, say, display, serial, font, path,
		// ontimeout, ...) changes how the medium's own loader looks or
		// behaves, not what an entry boots: the renderer sets its own.
	}
	return nil
}

func (p *slParser) menuLine(rest, file string) error {
	sub, arg := cutWord(rest)
	e := p.cur
	switch strings.ToLower(sub) {
	case "label":
		if e != nil {
			e.Title = arg
		}
	case "title":
		if p.menuDepth == 0 {
			p.title = arg
		}
	case "default":
		if e != nil && p.menuDepth == 0 {
			e.menuDefault = true
		}
	case "hide":
		if e != nil {
			e.Hidden = true
		}
	case "exit", "goto", "quit":
		if e != nil {
			e.skip = true
		}
	case "include":
		return p.include(arg, file)
	case "begin":
		// Submenus are flattened; a submenu ends the label before it.
		if p.menuDepth >= maxMenuDepth {
			return fmt.Errorf("reading %s: menus nested deeper than %d: %w", file, maxMenuDepth, ErrLimit)
		}
		p.menuDepth++
		p.cur = nil
	case "end":
		if p.menuDepth > 0 {
			p.menuDepth--
		}
		p.cur = nil
	}
	return nil
}

func (p *slParser) setKernel(e *slEntry, kw, rest string) {
	file, args := cutWord(rest)
	kernel := p.resolve(file)
	if kernel == "" {
		return // no file, or the root directory: nothing to boot
	}
	e.Kernel, e.kernelArgs, e.LocalBoot = kernel, args, ""
	switch kw {
	case "linux":
		e.Kind = KindLinux
	case "com32":
		e.Kind = KindCOM32
	case "kernel":
		// KERNEL picks the type from the extension (syslinux doc/syslinux.txt).
		switch strings.ToLower(path.Ext(file)) {
		case ".c32":
			e.Kind = KindCOM32
		case ".0", ".bin", ".bs", ".bss", ".img", ".com", ".cbt":
			e.Kind = KindOther
		default:
			e.Kind = KindLinux
		}
	default:
		e.Kind = KindOther
	}
}

// include reads another file in place. syslinux resolves its name against
// the working directory; some media write it relative to the including file
// or to the root instead, so try those too, in that order.
func (p *slParser) include(rest, from string) error {
	name := firstWord(rest)
	if name == "" {
		return nil
	}
	var cands []string
	if strings.HasPrefix(name, "/") {
		cands = []string{cleanPath(name)}
	} else {
		cands = []string{
			cleanPath(path.Join(p.workdir, name)),
			cleanPath(path.Join(path.Dir(from), name)),
			cleanPath(name),
		}
	}
	for _, c := range cands {
		if c == "" {
			continue
		}
		st, err := fs.Stat(p.fsys, c)
		if err != nil || st.IsDir() {
			continue
		}
		for _, open := range p.stack {
			if open == c {
				return nil // a loop: syslinux would spin forever, we stop here
			}
		}
		// An include ends nothing: statements after it still belong to the
		// current label, as in syslinux. Only help text cannot span files.
		p.inText = false
		err = p.parseFile(c)
		p.inText = false
		return err
	}
	return nil
}

// restart handles a top-level "CONFIG file [dir]": syslinux drops what it
// has read and starts over with file, optionally in a new working directory.
func (p *slParser) restart(rest string) error {
	file, dir := cutWord(rest)
	if file == "" {
		return nil
	}
	target := p.resolve(file)
	if st, err := fs.Stat(p.fsys, target); err != nil || st.IsDir() {
		return nil // syslinux stays with the config it has when the new one is missing
	}
	wd := path.Dir(target)
	if d := firstWord(dir); d != "" {
		wd = p.resolve(d)
	}
	if wd == "." {
		wd = ""
	}
	p.reset(wd)
	p.restartFile = target
	return errRestart
}

// resolve turns a file name from the config into a medium-absolute clean
// path without a leading slash.
func (p *slParser) resolve(name string) string {
	if strings.HasPrefix(name, "/") {
		return cleanPath(name)
	}
	return cleanPath(path.Join(p.workdir, name))
}

func (p *slParser) finish() (*Menu, error) {
	m := &Menu{Title: p.title, Timeout: p.timeout}
	for k := 1; k <= 12; k++ {
		if f, ok := p.helpFiles[k]; ok && f != "" {
			m.HelpFiles = append(m.HelpFiles, HelpFile{Key: "F" + strconv.Itoa(k), Path: f})
		}
	}
	menuDefault := ""
	for _, e := range p.entries {
		if e.skip || e.Kind == "" {
			continue // navigation, or a label with nothing to boot
		}
		if !e.appendSet && p.globAppSet {
			e.Append = p.globAppend
		}
		if !e.ipappendSet && p.globIPSet {
			e.IPAppend = p.globIPApp
		}
		if trimSpace(e.Append) == "-" {
			e.Append = "" // "APPEND -": no options, not even the global ones
		}
		if e.kernelArgs != "" {
			e.Append = e.kernelArgs + " " + e.Append
		}
		if e.Append = trimSpace(e.Append); e.Append == "-" {
			e.Append = ""
		}
		if e.Kind == KindLinux {
			p.liftInitrds(e)
		}
		e.Help = strings.Trim(strings.Join(e.help, "\n"), "\n")
		if e.menuDefault && menuDefault == "" {
			menuDefault = e.Label
		}
		m.Entries = append(m.Entries, e.Entry)
	}
	// MENU DEFAULT is what the menu highlights and boots on timeout; DEFAULT
	// names the same for the plain prompt, or the UI module on old media
	// ("default vesamenu.c32"), which matches no label.
	m.Default = menuDefault
	if m.Default == "" {
		want := trimSpace(p.defaultCmd)
		first := firstWord(want)
		for _, e := range m.Entries {
			if e.Label == want || e.Label == first {
				m.Default = e.Label
				break
			}
		}
	}
	for i := range m.Entries {
		m.Entries[i].Default = m.Default != "" && m.Entries[i].Label == m.Default
	}
	return m, nil
}

// liftInitrds moves initrd= arguments out of the command line. syslinux
// adds an INITRD statement's files as one more initrd= at the end of the
// command line, and the last initrd= wins, so the statement beats append.
func (p *slParser) liftInitrds(e *slEntry) {
	var kept []string
	var fromAppend []string
	for _, a := range splitArgs(e.Append) {
		if len(a) >= 7 && strings.EqualFold(a[:7], "initrd=") {
			fromAppend = splitInitrds(a[7:])
			continue
		}
		kept = append(kept, a)
	}
	e.Append = strings.Join(kept, " ")
	list := fromAppend
	if e.initrdLine != nil {
		list = e.initrdLine
	}
	e.Initrds = nil
	for _, f := range list {
		if r := p.resolve(f); r != "" {
			e.Initrds = append(e.Initrds, r)
		}
	}
}

func splitInitrds(s string) []string {
	var out []string
	for _, f := range strings.Split(firstWord(s), ",") {
		if f = trimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out
}

// cleanPath makes a medium-absolute path without a leading slash; "" for the root.
func cleanPath(p string) string {
	c := strings.TrimPrefix(path.Clean("/"+p), "/")
	return c
}

// spaces are the blanks of a config line and of a kernel command line (the
// kernel's isspace). ASCII only, so that parsing, rewriting and rendering
// agree on every byte string, valid UTF-8 or not.
const spaces = " \t\r\v\f"

func trimSpace(s string) string { return strings.Trim(s, spaces) }

// cutWord splits off the first whitespace-separated word.
func cutWord(s string) (word, rest string) {
	s = trimSpace(s)
	i := strings.IndexAny(s, spaces)
	if i < 0 {
		return s, ""
	}
	return s[:i], trimSpace(s[i+1:])
}

func firstWord(s string) string {
	w, _ := cutWord(s)
	return w
}

// writtenName is a kernel or initrd name as the renderers write it, its first word on one line,
// or "" when that cleans to the TFTP root ("." or ". x"): no file, as reading the menu back sees.
func writtenName(s string) string {
	w := firstWord(oneLine(s))
	if cleanPath(w) == "" {
		return ""
	}
	return w
}

// splitArgs splits a kernel command line into arguments. Like the kernel,
// it keeps double-quoted spaces inside one argument (foo="a b").
func splitArgs(s string) []string {
	var args []string
	start, inQuote := -1, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' {
			inQuote = !inQuote
		}
		blank := !inQuote && (c == '\n' || strings.IndexByte(spaces, c) >= 0)
		switch {
		case blank && start >= 0:
			args = append(args, s[start:i])
			start = -1
		case !blank && start < 0:
			start = i
		}
	}
	if start >= 0 {
		args = append(args, s[start:])
	}
	return args
}
