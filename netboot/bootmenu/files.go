package bootmenu

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"slices"
)

// menuFiles is the medium as both parsers read it: a file that includes or sources another is
// entered with open and left with close, so a hostile medium can neither nest files without
// end nor open more of them than any real menu does.
type menuFiles struct {
	fsys  fs.FS
	files int      // files opened so far, repeated includes counted
	stack []string // the files being read, outermost first
}

// open reads name, the verb saying why ("including", "sourcing"), and pushes it on the stack.
// The caller closes it once its lines are read.
func (m *menuFiles) open(verb, name string) ([]byte, error) {
	if len(m.stack) >= maxDepth {
		return nil, fmt.Errorf("%s %s: nesting deeper than %d: %w", verb, name, maxDepth, ErrLimit)
	}
	m.files++
	if m.files > maxFiles {
		return nil, fmt.Errorf("reading %s: more than %d files: %w", name, maxFiles, ErrLimit)
	}
	f, err := m.fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("reading %s: larger than %d bytes: %w", name, maxFileSize, ErrLimit)
	}
	m.stack = append(m.stack, name)
	return cutAtNUL(data), nil
}

// cutAtNUL drops the rest of every line from its first NUL byte: syslinux and GRUB read each
// line into a C string, so they never see past one. Keeping it would give the renderers text
// the loaders cannot read back (grub-script-check rejects a quoted NUL).
func cutAtNUL(data []byte) []byte {
	if bytes.IndexByte(data, 0) < 0 {
		return data
	}
	out := make([]byte, 0, len(data))
	for len(data) > 0 {
		line, rest, nl := bytes.Cut(data, []byte("\n"))
		if i := bytes.IndexByte(line, 0); i >= 0 {
			line = line[:i]
		}
		out = append(out, line...)
		if nl {
			out = append(out, '\n')
		}
		data = rest
	}
	return out
}

func (m *menuFiles) close() { m.stack = m.stack[:len(m.stack)-1] }

// current is the file being read.
func (m *menuFiles) current() string { return m.stack[len(m.stack)-1] }

// firstMenu parses the candidates that exist, in order, and returns the first menu with an
// entry. Failing that, the first parse error, or ErrNoMenu when none failed.
//
// A menu with a Linux entry beats an earlier one without: Arch's syslinux.cfg only picks a menu
// by how syslinux started (whichsys.c32, then CONFIG archiso_sys.cfg or archiso_pxe.cfg), and
// the entries are in the candidate after it.
func firstMenu(fsys fs.FS, candidates []string, parse func(name string) (*Menu, error)) (*Menu, string, error) {
	var firstErr error
	var fallback *Menu
	var fallbackName string
	for _, name := range candidates {
		if st, err := fs.Stat(fsys, name); err != nil || st.IsDir() {
			continue
		}
		m, err := parse(name)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if hasLinux(m) {
			return m, name, nil
		}
		if len(m.Entries) > 0 && fallback == nil {
			fallback, fallbackName = m, name
		}
	}
	if fallback != nil {
		return fallback, fallbackName, nil
	}
	if firstErr != nil {
		return nil, "", firstErr
	}
	return nil, "", ErrNoMenu
}

func hasLinux(m *Menu) bool {
	return slices.ContainsFunc(m.Entries, func(e Entry) bool { return e.Kind == KindLinux })
}
