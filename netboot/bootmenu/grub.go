package bootmenu

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"strconv"
	"strings"
	"time"
)

// GRUB platforms, the value of $grub_platform a menu is read for. A medium's
// grub.cfg often has entries for one platform only (Ubuntu: "UEFI Firmware
// Settings" on efi, memtest86+ on pc).
const (
	GrubEFI = "efi"
	GrubPC  = "pc"
)

// grubConfigs are where live media keep their GRUB menu: Debian live and
// Ubuntu boot/grub/, Fedora boot/grub2/ (its EFI/BOOT/grub.cfg only searches
// for the medium and hands over with configfile, which we follow too).
var grubConfigs = [...]string{
	"boot/grub/grub.cfg",
	"boot/grub2/grub.cfg",
	"EFI/BOOT/grub.cfg",
	"EFI/boot/grub.cfg",
	"grub/grub.cfg",
}

// maxGrubWord bounds one expanded word: "set a=$a$a" repeated doubles a
// variable each time, and a hostile menu could make it any size.
const maxGrubWord = 64 << 10

// maxGrubExpand bounds all the words of one parse together: each word is
// bounded, but a line of many "$big" words, or a loop of sourced files, would
// still make the parser copy without end.
const maxGrubExpand = 8 << 20

// FindGrub locates the medium's GRUB menu and parses it for platform (GrubEFI
// or GrubPC). The first candidate that yields at least one entry wins;
// ErrNoMenu if none does.
func FindGrub(fsys fs.FS, platform string) (*Menu, string, error) {
	return firstMenu(fsys, grubConfigs[:], func(name string) (*Menu, error) { return ParseGrub(fsys, name, platform) })
}

// ParseGrub reads the GRUB configuration name in fsys, following source and
// configfile, into the Menu model. It runs the script the way GRUB would on
// platform (GrubEFI or GrubPC), as far as a menu needs:
//
//   - menuentry and submenu (flattened into Entries in menu order; a
//     submenu's own commands run in their own variable scope, as in GRUB);
//   - linux/linuxefi/linux16 and initrd/initrdefi/initrd16; exit (boot the
//     next device: KindLocal), reboot and halt (as reboot.c32/poweroff.c32),
//     chainloader and fwsetup (KindOther);
//   - set, plain "name=value", unset; $name and ${name} in words and double
//     quotes; $grub_platform, $grub_cpu and $menuentry_id_option are preset,
//     $iso_path (set by GRUB's loopback.cfg convention) is empty;
//   - if/elif/else/fi with true, false and test/[ ] comparisons (=, ==, !=,
//     -z, -n, -f/-e/-d against fsys, joined by -a/-o, negated by !). A
//     condition it cannot decide (a search, a keystatus) takes both branches;
//   - function bodies and for/while loops are skipped; other commands
//     (insmod, loadfont, search, terminal_*, ...) do not change the menu.
//
// File names lose any "(device)" prefix ("($root)/boot/x86_64/loader/linux"
// is the medium's boot/x86_64/loader/linux): everything is on the medium.
// The default comes from $default (a number counting top-level items, a
// title, an --id, or a "submenu>entry" path; unset is entry 0), the timeout
// from $timeout in seconds (-1: wait; 0: boot at once, kept as one tenth).
// Missing sourced files are skipped, as GRUB does; limits give ErrLimit.
func ParseGrub(fsys fs.FS, name, platform string) (*Menu, error) {
	p := &grubParser{menuFiles: menuFiles{fsys: fsys}, platform: platform, budget: maxGrubExpand}
	p.reset()
	file := cleanPath(name)
	for {
		err := p.runFile(file, scope{exec: true})
		var re *grubRestart
		if errors.As(err, &re) {
			// The new menu's context keeps the exported variables, which
			// are root and prefix unless the menu exports more.
			root, prefix := p.vars["root"], p.vars["prefix"]
			p.reset()
			p.vars["root"], p.vars["prefix"] = root, prefix
			file = re.file
			continue
		}
		if err != nil {
			return nil, err
		}
		return p.finish(), nil
	}
}

// grubRestart unwinds the parse when a top-level configfile replaces the menu.
type grubRestart struct{ file string }

func (r *grubRestart) Error() string { return "configfile " + r.file }

// grubItem is a top-level (or submenu) menu item, for resolving $default.
type grubItem struct {
	title, id string
	entry     *Entry // nil for a submenu
	sub       []*grubItem
}

type grubParser struct {
	menuFiles
	platform string
	depth    int
	budget   int // bytes words may still expand to (maxGrubExpand)

	vars    map[string]string
	entries []*Entry
	items   []*grubItem
}

// scope is where the commands being run land.
type scope struct {
	exec  bool         // false: only follow the structure (a branch not taken, a function body)
	entry *Entry       // inside a menuentry body
	items *[]*grubItem // the menu (top level or a submenu) new items join
}

func (p *grubParser) reset() {
	cpu := "x86_64"
	if p.platform == GrubPC {
		cpu = "i386"
	}
	p.vars = map[string]string{
		"grub_platform":       p.platform,
		"grub_cpu":            cpu,
		"menuentry_id_option": "--id",
		"root":                "",
		"prefix":              "/boot/grub",
	}
	p.entries, p.items = nil, nil
}

func (p *grubParser) runFile(name string, sc scope) error {
	data, err := p.open("sourcing", name)
	if err != nil {
		return err
	}
	defer p.close()
	if sc.items == nil {
		sc.items = &p.items
	}
	lx := &grubLexer{src: string(data), vars: p.vars, budget: &p.budget}
	_, err = p.block(lx, sc)
	return err
}

// endCmd is the command that ended a block: its first word, the words after
// it, and whether it ended with "{" ("else menuentry x {").
type endCmd struct {
	word string
	rest []grubWord
	open bool
}

// block runs commands until the end of the file or a command starting with
// one of ends ("fi", "}", ...), which it returns.
func (p *grubParser) block(lx *grubLexer, sc scope, ends ...string) (endCmd, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxMenuDepth {
		return endCmd{}, fmt.Errorf("reading %s: blocks nested deeper than %d: %w", p.current(), maxMenuDepth, ErrLimit)
	}
	for {
		lx.vars = p.vars
		words, open, eof, err := lx.command()
		if err != nil {
			return endCmd{}, err
		}
		if len(words) > 0 {
			// then/do only start the body that follows a condition.
			if w := words[0].s; !words[0].quoted && (w == "then" || w == "do") {
				words = words[1:]
			}
		}
		if len(words) > 0 && !words[0].quoted {
			for _, e := range ends {
				if words[0].s == e {
					return endCmd{word: e, rest: words[1:], open: open}, nil
				}
			}
		}
		if len(words) > 0 || open {
			if err := p.command(lx, sc, words, open); err != nil {
				return endCmd{}, err
			}
		}
		if eof {
			return endCmd{}, nil
		}
	}
}

func texts(ws []grubWord) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.s
	}
	return out
}

// command runs one command; open says it ended with "{".
func (p *grubParser) command(lx *grubLexer, sc scope, words []grubWord, open bool) error {
	if len(words) == 0 {
		// A bare "{ ... }" group: run it in place.
		_, err := p.block(lx, sc, "}")
		return err
	}
	args := texts(words)
	name := args[0]
	if words[0].quoted {
		name = "" // a quoted word is never a keyword
	}
	switch name {
	case "if":
		return p.ifBlock(lx, sc, args[1:])
	case "menuentry", "submenu":
		if !open {
			return nil // no body: a syntax error GRUB would report
		}
		return p.menuBlock(lx, sc, name == "submenu", args[1:])
	case "function":
		if open {
			_, err := p.block(lx, scope{}, "}")
			return err
		}
		return nil
	case "for", "while", "until":
		// Loops are rare in menus and never make entries in the media we
		// know: follow their structure only.
		_, err := p.block(lx, scope{}, "done")
		return err
	}
	if open {
		// Some other command before "{": keep the block's structure.
		_, err := p.block(lx, scope{exec: sc.exec, entry: sc.entry, items: sc.items}, "}")
		if err != nil || !sc.exec {
			return err
		}
	}
	if !sc.exec {
		return nil
	}
	return p.simple(sc, args, words[0].quoted)
}

// simple runs a command that has no block.
func (p *grubParser) simple(sc scope, args []string, quoted bool) error {
	name := args[0]
	if len(args) == 1 {
		// name=value, often with the value quoted: default="1".
		if k, v, ok := strings.Cut(name, "="); ok && validVarName(k) {
			p.vars[k] = v
			return nil
		}
	}
	if quoted {
		return nil
	}
	e := sc.entry
	switch name {
	case "set":
		if len(args) >= 2 {
			if k, v, ok := strings.Cut(args[1], "="); ok && validVarName(k) {
				p.vars[k] = v
			}
		}
	case "unset":
		for _, k := range args[1:] {
			delete(p.vars, k)
		}
	case "source", ".":
		if len(args) >= 2 {
			return p.include(grubPath(args[1]), sc)
		}
	case "configfile":
		if len(args) < 2 {
			return nil
		}
		target := grubPath(args[1])
		if e != nil {
			// An entry that switches to another menu: only for the medium's own GRUB.
			setKind(e, KindOther, target)
			return nil
		}
		if st, err := fs.Stat(p.fsys, target); err != nil || st.IsDir() {
			return nil // GRUB reports the error and stays with this menu
		}
		for _, f := range p.stack {
			if f == target {
				return nil // a loop: GRUB would recurse until it runs out of memory
			}
		}
		if len(p.stack) == 1 && len(*sc.items) == 0 && sc.items == &p.items {
			// Only a file that has no menu of its own hands over (Fedora's
			// EFI/BOOT/grub.cfg); elsewhere the new menu is a layer the user
			// escapes from, which we read as more entries.
			return &grubRestart{file: target}
		}
		return p.include(target, scope{exec: true, items: sc.items})
	case "linux", "linuxefi", "linux16", "linux32", "linuxx64":
		if e != nil && len(args) >= 2 {
			if k := grubPath(args[1]); k != "" {
				e.Kind, e.Kernel, e.LocalBoot = KindLinux, k, ""
				e.Append = grubCmdline(args[2:])
			}
		}
	case "initrd", "initrdefi", "initrd16", "initrd32":
		if e != nil {
			e.Initrds = nil
			for _, a := range args[1:] {
				if strings.HasPrefix(a, "--") {
					continue // --newc:name, a loader option
				}
				if f := grubPath(a); f != "" {
					e.Initrds = append(e.Initrds, f)
				}
			}
		}
	case "exit":
		if e != nil && e.Kind == "" {
			e.Kind, e.LocalBoot = KindLocal, "0"
		}
	case "reboot":
		if e != nil && e.Kind == "" {
			e.Kind, e.Kernel = KindCOM32, "reboot.c32"
		}
	case "halt":
		if e != nil && e.Kind == "" {
			e.Kind, e.Kernel = KindCOM32, "poweroff.c32"
		}
	case "chainloader", "fwsetup", "multiboot", "multiboot2", "efi", "loopback":
		if e != nil && e.Kind == "" {
			file := ""
			if len(args) >= 2 {
				file = grubPath(args[len(args)-1])
			}
			setKind(e, KindOther, file)
		}
	}
	return nil
}

func setKind(e *Entry, k Kind, file string) {
	if e.Kind == "" || e.Kind == KindLocal || e.Kind == KindCOM32 {
		e.Kind, e.Kernel, e.LocalBoot = k, file, ""
	}
}

// include runs another file in place, like GRUB's source. Missing files and
// loops are skipped.
func (p *grubParser) include(name string, sc scope) error {
	if name == "" {
		return nil
	}
	if st, err := fs.Stat(p.fsys, name); err != nil || st.IsDir() {
		return nil
	}
	for _, f := range p.stack {
		if f == name {
			return nil
		}
	}
	return p.runFile(name, sc)
}

// ifBlock runs if/elif/else/fi. cond is the condition after "if".
func (p *grubParser) ifBlock(lx *grubLexer, sc scope, cond []string) error {
	taken := false
	c := p.eval(cond)
	for {
		run := sc.exec && !taken && c != condFalse
		end, err := p.block(lx, scope{exec: run, entry: sc.entry, items: sc.items}, "elif", "else", "fi")
		if err != nil {
			return err
		}
		if c == condTrue && sc.exec {
			taken = true
		}
		switch end.word {
		case "elif":
			c = p.eval(texts(end.rest))
			continue
		case "else":
			esc := scope{exec: sc.exec && !taken, entry: sc.entry, items: sc.items}
			if len(end.rest) > 0 || end.open {
				// "else cmd" on the same line.
				if err := p.command(lx, esc, end.rest, end.open); err != nil {
					return err
				}
			}
			_, err := p.block(lx, esc, "fi")
			return err
		}
		return nil // fi, or the end of the file (GRUB would call that a syntax error)
	}
}

type condValue int

const (
	condUnknown condValue = iota
	condTrue
	condFalse
)

func boolCond(b bool) condValue {
	if b {
		return condTrue
	}
	return condFalse
}

// eval decides a condition as far as it can without running GRUB.
func (p *grubParser) eval(args []string) condValue {
	neg := false
	for len(args) > 0 && args[0] == "!" {
		neg, args = !neg, args[1:]
	}
	v := condUnknown
	switch {
	case len(args) == 0:
	case args[0] == "true":
		v = condTrue
	case args[0] == "false":
		v = condFalse
	case args[0] == "[" && len(args) >= 2 && args[len(args)-1] == "]":
		v = p.evalTest(args[1 : len(args)-1])
	case args[0] == "test":
		v = p.evalTest(args[1:])
	}
	if neg && v != condUnknown {
		v = boolCond(v == condFalse)
	}
	return v
}

// evalTest evaluates test's arguments: clauses joined by -a and -o, -a
// binding tighter, as GRUB's test does.
func (p *grubParser) evalTest(args []string) condValue {
	or := condFalse
	for _, alt := range splitOn(args, "-o") {
		and := condTrue
		for _, cl := range splitOn(alt, "-a") {
			and = andCond(and, p.clause(cl))
		}
		or = orCond(or, and)
	}
	return or
}

func splitOn(args []string, sep string) [][]string {
	var out [][]string
	start := 0
	for i, a := range args {
		if a == sep {
			out = append(out, args[start:i])
			start = i + 1
		}
	}
	return append(out, args[start:])
}

func andCond(a, b condValue) condValue {
	switch {
	case a == condFalse || b == condFalse:
		return condFalse
	case a == condTrue && b == condTrue:
		return condTrue
	}
	return condUnknown
}

func orCond(a, b condValue) condValue {
	switch {
	case a == condTrue || b == condTrue:
		return condTrue
	case a == condFalse && b == condFalse:
		return condFalse
	}
	return condUnknown
}

func (p *grubParser) clause(cl []string) condValue {
	neg := false
	for len(cl) > 0 && cl[0] == "!" {
		neg, cl = !neg, cl[1:]
	}
	v := condUnknown
	switch {
	case len(cl) == 3 && (cl[1] == "=" || cl[1] == "=="):
		v = boolCond(cl[0] == cl[2])
	case len(cl) == 3 && cl[1] == "!=":
		v = boolCond(cl[0] != cl[2])
	case len(cl) == 2 && cl[0] == "-z":
		v = boolCond(cl[1] == "")
	case len(cl) == 2 && cl[0] == "-n":
		v = boolCond(cl[1] != "")
	case len(cl) == 2 && (cl[0] == "-f" || cl[0] == "-e" || cl[0] == "-d"):
		if f := grubPath(cl[1]); f != "" {
			st, err := fs.Stat(p.fsys, f)
			v = boolCond(err == nil && (cl[0] == "-e" || st.IsDir() == (cl[0] == "-d")))
		}
	case len(cl) == 1:
		v = boolCond(cl[0] != "")
	}
	if neg && v != condUnknown {
		v = boolCond(v == condFalse)
	}
	return v
}

// menuBlock reads a menuentry or submenu and its body.
func (p *grubParser) menuBlock(lx *grubLexer, sc scope, submenu bool, args []string) error {
	title, id := "", ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			if title == "" {
				title = a
			}
			continue // later words are the entry's $1, $2...
		}
		opt, val, hasVal := strings.Cut(a, "=")
		switch opt {
		case "--class", "--users", "--hotkey", "--id", "--source":
			if !hasVal && i+1 < len(args) {
				i++
				val = args[i]
			}
			if opt == "--id" {
				id = val
			}
		}
	}
	// GRUB runs an entry's body when it is chosen, in a copy of the
	// variables; a submenu's body when it is opened. Neither leaks.
	saved := maps.Clone(p.vars)
	defer func() { p.vars = saved }()
	item := &grubItem{title: oneLine(title), id: oneLine(id)}
	if submenu {
		_, err := p.block(lx, scope{exec: sc.exec, items: &item.sub}, "}")
		if err != nil {
			return err
		}
		if sc.exec {
			*sc.items = append(*sc.items, item)
		}
		return nil
	}
	e := &Entry{Title: item.title, Label: item.id}
	if e.Label == "" {
		e.Label = item.title
	}
	_, err := p.block(lx, scope{exec: sc.exec, entry: e, items: sc.items}, "}")
	if err != nil || !sc.exec {
		return err
	}
	if len(p.entries) >= maxEntries {
		return fmt.Errorf("reading %s: more than %d entries: %w", p.current(), maxEntries, ErrLimit)
	}
	item.entry = e
	*sc.items = append(*sc.items, item)
	p.entries = append(p.entries, e)
	return nil
}

func (p *grubParser) finish() *Menu {
	m := &Menu{}
	for _, e := range p.entries {
		if e.Kind != "" {
			m.Entries = append(m.Entries, *e)
		}
	}
	if t, err := strconv.Atoi(trimSpace(p.vars["timeout"])); err == nil {
		switch {
		case t < 0:
			m.Timeout = 0
		case t == 0:
			m.Timeout = 1 // "boot at once": the shortest wait the model has
		default:
			m.Timeout = min(t, maxTimeout/10) * 10
		}
	}
	def := trimSpace(p.vars["default"])
	if def == "" {
		def = "0"
	}
	if e := resolveDefault(p.items, def); e != nil && e.Kind != "" {
		m.Default = e.Label
	}
	for i := range m.Entries {
		m.Entries[i].Default = m.Default != "" && m.Entries[i].Label == m.Default
	}
	return m
}

// resolveDefault finds the entry $default names: a number, an --id or a
// title, or such names joined by ">" into submenus (GRUB's default syntax).
func resolveDefault(items []*grubItem, def string) *Entry {
	first, rest, sub := strings.Cut(def, ">")
	var it *grubItem
	if n, err := strconv.Atoi(first); err == nil {
		if n >= 0 && n < len(items) {
			it = items[n]
		}
	} else {
		for _, c := range items {
			if c.id == first || c.title == first {
				it = c
				break
			}
		}
	}
	switch {
	case it == nil:
		return nil
	case sub:
		return resolveDefault(it.sub, rest)
	}
	return it.entry
}

func validVarName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// grubPath turns a GRUB file name into a medium path: the "(device)" part
// goes (everything is on the medium), the rest is absolute.
func grubPath(f string) string {
	if strings.HasPrefix(f, "(") {
		if i := strings.IndexByte(f, ')'); i >= 0 {
			f = f[i+1:]
		} else {
			return ""
		}
	}
	return cleanPath(f)
}

// grubCmdline joins linux's arguments into a kernel command line as GRUB
// does (grub-core/lib/cmdline.c): an argument with a space is quoted. It
// quotes the value only (a="b c"), which the kernel reads the same way, and
// drops quotes inside such an argument, which GRUB would backslash-escape
// and the kernel would not understand.
func grubCmdline(args []string) string {
	var out []string
	for _, a := range args {
		if a == "" {
			continue
		}
		if strings.ContainsAny(a, spaces+"\n") {
			a = strings.ReplaceAll(a, `"`, "")
			if k, v, ok := strings.Cut(a, "="); ok {
				a = k + `="` + v + `"`
			} else {
				a = `"` + a + `"`
			}
		}
		out = append(out, a)
	}
	return oneLine(strings.Join(out, " "))
}

// grubWord is one word of a command after quote removal and expansion.
type grubWord struct {
	s      string
	quoted bool // some of it was quoted: never a keyword or a brace
}

// grubLexer splits GRUB script into commands (grub-core/script/yylex.l):
// words separated by blanks, commands by newlines and ';', '#' comments,
// '...' literal, "..." with $variables and \ escapes, \ escapes outside
// quotes, and "{" / "}" words that open and close blocks.
type grubLexer struct {
	src    string
	pos    int
	vars   map[string]string
	back   []grubWord // a "}" read at the end of a command, returned next
	budget *int       // shared by every file of the parse
}

// command returns the next command's words. open is true when the command
// ended with "{". eof is true when the source is used up.
func (l *grubLexer) command() (words []grubWord, open, eof bool, err error) {
	if len(l.back) > 0 {
		w := l.back[0]
		l.back = l.back[1:]
		return []grubWord{w}, false, false, nil
	}
	for {
		l.skipBlanks()
		if l.pos >= len(l.src) {
			return words, false, true, nil
		}
		c := l.src[l.pos]
		switch {
		case c == '\n' || c == ';':
			l.pos++
			if len(words) > 0 {
				return words, false, false, nil
			}
			continue
		case c == '#':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
			continue
		}
		ws, err := l.word()
		if err != nil {
			return nil, false, false, err
		}
		words = append(words, ws[:len(ws)-1]...)
		w := ws[len(ws)-1]
		if !w.quoted && w.s == "{" {
			return words, true, false, nil
		}
		if !w.quoted && w.s == "}" && len(words) > 0 {
			l.back = append(l.back, w)
			return words, false, false, nil
		}
		words = append(words, w)
		if !w.quoted && w.s == "}" {
			return words, false, false, nil
		}
	}
}

func (l *grubLexer) skipBlanks() {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		if c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' {
			l.pos++
			continue
		}
		if c == '\\' && l.pos+1 < len(l.src) && l.src[l.pos+1] == '\n' {
			l.pos += 2 // line continuation
			continue
		}
		return
	}
}

// word reads one word starting at a non-blank, non-separator byte. An
// unquoted variable whose value has blanks splits into several words, as in
// GRUB (Fedora's "linux ... ${basicgfx}" relies on it), so it returns at least one.
func (l *grubLexer) word() ([]grubWord, error) {
	var b strings.Builder
	var done []grubWord
	w := grubWord{}
	if c := l.src[l.pos]; c == '{' || c == '}' {
		// A brace at the start of a word is a word of its own.
		l.pos++
		return []grubWord{{s: string(c)}}, nil
	}
	total := 0
	grow := func(s string) error {
		if total += len(s); total > maxGrubWord {
			return fmt.Errorf("a word longer than %d bytes: %w", maxGrubWord, ErrLimit)
		}
		if *l.budget -= len(s); *l.budget < 0 {
			return fmt.Errorf("words longer than %d bytes in all: %w", maxGrubExpand, ErrLimit)
		}
		b.WriteString(s)
		return nil
	}
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' || c == '\n' || c == ';':
			w.s = b.String()
			return append(done, w), nil
		case c == '\'':
			w.quoted = true
			end := strings.IndexByte(l.src[l.pos+1:], '\'')
			if end < 0 {
				end = len(l.src) - l.pos - 1
			}
			if err := grow(l.src[l.pos+1 : l.pos+1+end]); err != nil {
				return nil, err
			}
			l.pos = min(l.pos+1+end+1, len(l.src))
		case c == '"':
			w.quoted = true
			l.pos++
			for l.pos < len(l.src) && l.src[l.pos] != '"' {
				d := l.src[l.pos]
				switch {
				case d == '\\' && l.pos+1 < len(l.src) && strings.IndexByte("\\\"$\n", l.src[l.pos+1]) >= 0:
					if l.src[l.pos+1] != '\n' {
						if err := grow(l.src[l.pos+1 : l.pos+2]); err != nil {
							return nil, err
						}
					}
					l.pos += 2
				case d == '$':
					if err := grow(l.variable()); err != nil {
						return nil, err
					}
				default:
					if err := grow(l.src[l.pos : l.pos+1]); err != nil {
						return nil, err
					}
					l.pos++
				}
			}
			l.pos = min(l.pos+1, len(l.src))
		case c == '\\':
			if l.pos+1 < len(l.src) {
				if l.src[l.pos+1] != '\n' {
					w.quoted = true
					if err := grow(l.src[l.pos+1 : l.pos+2]); err != nil {
						return nil, err
					}
				}
				l.pos += 2
			} else {
				l.pos++
			}
		case c == '$':
			fields := strings.FieldsFunc(l.variable(), func(r rune) bool { return r < 0x80 && strings.ContainsRune(spaces+"\n", r) })
			for i, f := range fields {
				if i > 0 {
					// A blank in the value ends the word so far.
					if b.Len() > 0 || w.quoted {
						w.s = b.String()
						done = append(done, w)
					}
					b.Reset()
					w = grubWord{}
				}
				if err := grow(f); err != nil {
					return nil, err
				}
			}
		default:
			if err := grow(l.src[l.pos : l.pos+1]); err != nil {
				return nil, err
			}
			l.pos++
		}
	}
	w.s = b.String()
	return append(done, w), nil
}

// variable reads $name, ${name}, $1, $? or $# at l.pos and returns its value.
func (l *grubLexer) variable() string {
	l.pos++ // '$'
	if l.pos >= len(l.src) {
		return "$"
	}
	if l.src[l.pos] == '{' {
		end := strings.IndexByte(l.src[l.pos:], '}')
		if end < 0 {
			l.pos = len(l.src)
			return ""
		}
		name := l.src[l.pos+1 : l.pos+end]
		l.pos += end + 1
		return l.vars[name]
	}
	start := l.pos
	if c := l.src[l.pos]; c == '?' || c == '#' || c == '@' || c == '*' {
		l.pos++
		return ""
	}
	for l.pos < len(l.src) && validVarName(l.src[l.pos:l.pos+1]) {
		l.pos++
	}
	if l.pos == start {
		return "$"
	}
	return l.vars[l.src[start:l.pos]]
}

// grubFile names a kernel or initrd for GRUB: on the device GRUB was loaded from (TFTP), or on
// host's HTTP server.
func grubFile(host, file string) string {
	if host = firstWord(oneLine(host)); host != "" {
		return "(http," + strings.ReplaceAll(host, ")", "") + ")/" + cleanPath(file)
	}
	return "/" + cleanPath(file)
}

// RenderGrub writes m as the grub.cfg of our UEFI network GRUB. That GRUB's
// prefix is (tftp,SERVER)/grub, so $root is the TFTP server and file names
// are written absolute, "/live/vmlinuz", from the TFTP root where the medium
// is served. Entries are addressed by --id (the entry's label), so the
// default survives entries being left out.
//
// Left out: what GRUB cannot boot on UEFI from the network (COM32 tools
// other than reboot/poweroff, KindOther, memory testers that are not .efi
// programs) and hidden entries (menuFor never hides the default). "Boot from local
// disk" becomes exit, which hands the machine back to the firmware's next
// boot option. Output is deterministic, and ParseGrub reads it back.
func RenderGrub(m *Menu) []byte {
	var b strings.Builder
	b.WriteString("# Written by sharecd: the medium's boot menu, rewritten to boot over the network.\n")
	if m == nil {
		return []byte(b.String())
	}
	s := menuFor(m, loaderGrubEFI)
	t := -1 // GRUB's "wait for a choice"; 0 would boot at once
	if s.Timeout > 0 {
		t = int(s.Timeout / time.Second)
	}
	fmt.Fprintf(&b, "set timeout=%d\n", t)
	var entries strings.Builder
	def, n := "", 0
	for i, e := range s.Entries {
		if e.Hidden {
			continue // GRUB cannot list an entry yet hide it; menuFor never hides the default
		}
		var body []string
		switch e.Kind {
		case KindLinux:
			line := "linux " + grubQuote(grubFile(m.HTTPHost, e.Kernel))
			for _, a := range splitArgs(e.Append) {
				if a = strings.ReplaceAll(a, `"`, ""); a != "" {
					line += " " + grubQuote(a)
				}
			}
			body = append(body, line)
			if len(e.Initrds) > 0 {
				var initrds []string
				for _, f := range e.Initrds {
					initrds = append(initrds, grubQuote(grubFile(m.HTTPHost, f)))
				}
				body = append(body, "initrd "+strings.Join(initrds, " "))
			}
		case KindLocal:
			body = append(body, "exit")
		case KindCOM32: // reboot or poweroff: menuFor keeps no other module for GRUB
			cmd := "reboot"
			if strings.EqualFold(path.Base(e.Kernel), "poweroff.c32") {
				cmd = "halt"
			}
			body = append(body, cmd)
		}
		title := oneLine(e.PlainTitle())
		if title == "" {
			title = e.Label
		}
		if i == s.Default {
			def = grubDefaultName(e.Label, n)
		}
		n++
		fmt.Fprintf(&entries, "\nmenuentry %s --id %s {\n", grubQuote(title), grubQuote(e.Label))
		for _, l := range body {
			entries.WriteString("\t" + l + "\n")
		}
		entries.WriteString("}\n")
	}
	// Always named, even when it is the first entry: the file then reads back with the default
	// it really has.
	if def != "" {
		fmt.Fprintf(&b, "set default=%s\n", grubQuote(def))
	}
	b.WriteString(entries.String())
	return []byte(b.String())
}

// grubDefaultName is how $default names the entry with this --id, written
// as the index-th menuentry. GRUB reads a default that starts with a number
// as an index, and ">" as a step into a submenu, so such ids are named by
// their index instead.
func grubDefaultName(id string, index int) string {
	if id == "" || id[0] >= '0' && id[0] <= '9' || strings.Contains(id, ">") {
		return strconv.Itoa(index)
	}
	return id
}

// grubQuote writes s as one GRUB word: bare when it is plain, else in single
// quotes (which GRUB takes literally); a quote inside closes them, is
// escaped with a backslash and opens them again.
func grubQuote(s string) string {
	if s == "" {
		return "''"
	}
	plain := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_./:=,+@%-", c) >= 0) {
			plain = false
			break
		}
	}
	if plain && s != "{" && s != "}" && !grubKeyword[s] {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// grubKeyword are words GRUB's parser reads as keywords at a command's start.
var grubKeyword = map[string]bool{
	"if": true, "then": true, "elif": true, "else": true, "fi": true, "for": true, "do": true,
	"done": true, "while": true, "until": true, "function": true, "menuentry": true, "submenu": true,
}
