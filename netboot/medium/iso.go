package medium

// A read-only ISO 9660 (ECMA-119) reader with the Rock Ridge (RRIP, over
// SUSP / IEEE P1281-P1282) and Joliet extensions. It indexes the directory
// tree into memory once; file contents stay on the image and are read with
// ReadAt.
//
// Every number read from the image is distrusted: directory sizes, depth,
// continuation chains, name and link lengths and the number of entries are
// capped, directory loops are refused and nothing is read past the end of
// the image, so a damaged or hostile image costs at most a bounded amount of
// memory and time (see FuzzOpenISO).

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

const (
	sectorSize     = 2048            // ECMA-119 logical sector; records never cross one
	systemAreaSize = 16 * sectorSize // volume descriptors start at sector 16

	// Limits against damaged images. Real media stay far below them: a
	// Debian DVD has a few thousand directories, a few hundred KiB each at
	// most, and 8 levels of nesting are typical.
	maxVolumeDescriptors = 64
	maxDirSize           = 64 << 20
	maxDepth             = 512
	// maxEntries counts every record but "." and "..", multi-extent parts
	// too. TeX Live's DVD, among the fullest, has about 200,000 files; a
	// million entries cost at most ~250 MiB of nodes.
	maxEntries = 1 << 20
	// maxMetaBytes caps the directories and continuation areas read in all,
	// as does the image size. On a real image they are disjoint regions of
	// it, so their sum fits in it; a hostile one can point many directory
	// records at overlapping extents of up to maxDirSize each, or every
	// record's CE at the same looping area, and cost far more reading and
	// allocation than its size (TestHostileISO has both).
	maxMetaBytes = 256 << 20
	maxExtents   = 4096 // per file: 16 TiB of 4 GiB extents
	maxCEHops    = 16   // continuation areas per record; xorriso uses one
	maxNameLen   = 1024 // NAME_MAX is 255
	maxLinkLen   = 4096 // PATH_MAX
)

// Directory record file flags (ECMA-119 9.1.6).
const (
	flagDir         = 0x02
	flagAssociated  = 0x04
	flagMultiExtent = 0x80
)

// POSIX file types as Rock Ridge PX records them (st_mode).
const (
	sIFMT   = 0o170000
	sIFSOCK = 0o140000
	sIFLNK  = 0o120000
	sIFREG  = 0o100000
	sIFBLK  = 0o060000
	sIFDIR  = 0o040000
	sIFCHR  = 0o020000
	sIFIFO  = 0o010000
)

// corruptError is a structure in the image that cannot be right. It matches
// ErrNotISO: the user is told the image is damaged, not that a file is gone.
type corruptError struct {
	off int64
	msg string
}

func (e *corruptError) Error() string {
	return fmt.Sprintf("damaged ISO 9660 image: %s (at byte %d)", e.msg, e.off)
}
func (e *corruptError) Unwrap() error { return ErrNotISO }

func corrupt(off int64, format string, args ...any) error {
	return &corruptError{off: off, msg: fmt.Sprintf(format, args...)}
}

// naming is which of the directory trees on the image we read, and so how
// names are spelled.
type naming int

const (
	namePlain  naming = iota // ECMA-119 names, shown lowercased like Linux's map=normal
	nameJoliet               // UCS-2 names from the Joliet supplementary descriptor
	nameRR                   // Rock Ridge NM names on the primary tree
)

// volumeDescriptor is what we need of a primary or supplementary descriptor.
type volumeDescriptor struct {
	off       int64
	blockSize int64
	label     string
	root      []byte // the 34-byte root directory record
}

// openISO indexes the ISO 9660 file system on r, which is size bytes long,
// and returns it with its volume label.
func openISO(r io.ReaderAt, size int64) (*isoFS, string, error) {
	pvd, joliet, err := readVolumeDescriptors(r, size)
	if err != nil {
		return nil, "", err
	}
	b := &builder{r: r, size: size, bs: pvd.blockSize, seen: make(map[int64]bool), meta: min(size, maxMetaBytes)}
	rootRec, err := parseRecord(pvd.root, pvd.off+156)
	if err != nil {
		return nil, "", err
	}

	// Rock Ridge announces itself in the "." record of the root directory:
	// SUSP's SP entry (with the bytes to skip in every later system use
	// area) and an ER entry naming RRIP. Some old mastering tools wrote RR
	// entries without ER, so a PX or NM there counts too.
	dot, err := b.firstRecord(rootRec)
	if err != nil {
		return nil, "", err
	}
	var rootSU suspInfo
	if err := b.parseSUSP(dot.sua, &rootSU); err != nil {
		return nil, "", err
	}
	label := pvd.label
	switch {
	case rootSU.sp && (rootSU.rrip || rootSU.px || rootSU.nm != nil):
		b.naming = nameRR
		b.skip = rootSU.skip
	case joliet != nil:
		b.naming = nameJoliet
		if rootRec, err = parseRecord(joliet.root, joliet.off+156); err != nil {
			return nil, "", err
		}
		if dot, err = b.firstRecord(rootRec); err != nil {
			return nil, "", err
		}
		rootSU = suspInfo{}
		if label == "" {
			label = joliet.label
		}
	}
	if rootRec.flags&flagDir == 0 {
		return nil, "", corrupt(pvd.off+156, "root is not a directory")
	}

	start, length := b.extent(rootRec)
	root := &node{name: ".", mode: fs.ModeDir | 0o555, size: length, mtime: dot.recorded, ino: uint64(start), nlink: 2}
	if b.naming == nameRR {
		rootSU.apply(root)
	}
	if err := b.readDir(root, start, length, 0); err != nil {
		return nil, "", err
	}
	return &isoFS{r: r, root: root, foldCase: b.naming == namePlain}, label, nil
}

// readVolumeDescriptors finds the primary descriptor and, if there is one, a
// Joliet supplementary descriptor.
func readVolumeDescriptors(r io.ReaderAt, size int64) (pvd, joliet *volumeDescriptor, err error) {
	buf := make([]byte, sectorSize)
	for i := range maxVolumeDescriptors {
		off := int64(systemAreaSize + i*sectorSize)
		if off+sectorSize > size {
			break
		}
		if err := readMeta(r, buf, off, "volume descriptor"); err != nil {
			return nil, nil, err
		}
		if string(buf[1:6]) != "CD001" {
			break
		}
		typ := buf[0]
		if typ == 255 { // set terminator
			break
		}
		if typ != 1 && typ != 2 {
			continue // boot record (El Torito), partition descriptors
		}
		vd := &volumeDescriptor{
			off:       off,
			blockSize: int64(binary.LittleEndian.Uint16(buf[128:])),
			root:      bytes.Clone(buf[156:190]),
		}
		switch vd.blockSize {
		case 512, 1024, 2048:
		default:
			return nil, nil, corrupt(off+128, "logical block size %d", vd.blockSize)
		}
		switch {
		case typ == 1 && pvd == nil:
			vd.label = trimLabel(string(buf[40:72]))
			pvd = vd
		case typ == 2 && joliet == nil && isJolietEscape(buf[88:120]):
			vd.label = trimLabel(decodeUCS2(buf[40:72]))
			joliet = vd
		}
	}
	if pvd == nil {
		return nil, nil, ErrNotISO
	}
	if joliet != nil && joliet.blockSize != pvd.blockSize {
		joliet = nil
	}
	return pvd, joliet, nil
}

// isJolietEscape reports whether the escape sequences field names UCS-2
// level 1, 2 or 3 ("%/@", "%/C", "%/E"), which is how Joliet is marked.
func isJolietEscape(esc []byte) bool {
	return esc[0] == '%' && esc[1] == '/' && (esc[2] == '@' || esc[2] == 'C' || esc[2] == 'E')
}

func trimLabel(s string) string {
	return strings.TrimRight(s, " \x00")
}

// record is a parsed directory record (ECMA-119 9.1).
type record struct {
	pos      int64 // where the record is in the image
	lba      int64
	size     int64
	xar      int64 // extended attribute record length, in blocks, before the data
	flags    byte
	recorded time.Time
	ident    []byte
	sua      []byte // system use area
}

func parseRecord(b []byte, pos int64) (record, error) {
	if len(b) < 34 || int(b[0]) > len(b) || b[0] < 34 {
		return record{}, corrupt(pos, "directory record too short")
	}
	b = b[:b[0]]
	identLen := int(b[32])
	if 33+identLen > len(b) {
		return record{}, corrupt(pos, "directory record name overruns the record")
	}
	suStart := 33 + identLen
	if identLen%2 == 0 {
		suStart++ // padding byte after an even-length identifier
	}
	suStart = min(suStart, len(b))
	return record{
		pos:      pos,
		lba:      int64(binary.LittleEndian.Uint32(b[2:])),
		size:     int64(binary.LittleEndian.Uint32(b[10:])),
		xar:      int64(b[1]),
		flags:    b[25],
		recorded: shortTime(b[18:25]),
		ident:    b[33 : 33+identLen],
		sua:      b[suStart:],
	}, nil
}

// readMeta reads all of p (a volume descriptor, directory or continuation
// area) from off. Its callers have checked that p lies inside the image, so a
// short read means the image is shorter than its size said (a file truncated
// while open, a device that ends early): damage like any other, so it matches
// ErrNotISO. Any other error (EIO from a scratched disc) is passed on as it
// is: the image may be fine.
func readMeta(r io.ReaderAt, p []byte, off int64, what string) error {
	if len(p) == 0 {
		// bytes.Reader reports EOF for an empty read at the end, which an
		// empty directory recorded there is (found by FuzzOpenISO).
		return nil
	}
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil // io.ReaderAt may say EOF along with a full read at the end
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return corrupt(off, "%s ends after %d of its %d bytes: the image is shorter than its size says (truncated?)", what, n, len(p))
	}
	return fmt.Errorf("reading %s at byte %d: %w", what, off, err)
}

// builder indexes one directory tree.
type builder struct {
	r       io.ReaderAt
	size    int64
	bs      int64
	naming  naming
	skip    int            // SUSP LEN_SKP: bytes to skip at the start of each system use area
	seen    map[int64]bool // directory extents already indexed: a loop is damage
	entries int
	meta    int64 // bytes of directories and continuation areas still allowed
}

// extent returns where the data described by rec lies in the image.
func (b *builder) extent(rec record) (start, length int64) {
	return (rec.lba + rec.xar) * b.bs, rec.size
}

// firstRecord reads the "." record at the start of the directory rec.
func (b *builder) firstRecord(rec record) (record, error) {
	start, _ := b.extent(rec)
	buf := make([]byte, 255)
	if start < 0 || start+34 > b.size {
		return record{}, corrupt(rec.pos, "directory at byte %d lies outside the image", start)
	}
	buf = buf[:min(255, b.size-start)]
	if err := readMeta(b.r, buf, start, "directory"); err != nil {
		return record{}, err
	}
	return parseRecord(buf, start)
}

// readDir indexes the directory whose records are at [start, start+length)
// into dir, then its subdirectories.
func (b *builder) readDir(dir *node, start, length int64, depth int) error {
	if depth > maxDepth {
		return corrupt(start, "directories nested more than %d deep", maxDepth)
	}
	if b.seen[start] {
		return corrupt(start, "directory loop")
	}
	b.seen[start] = true
	if length > maxDirSize {
		return corrupt(start, "directory of %d bytes is over the limit of %d", length, maxDirSize)
	}
	if start < 0 || length < 0 || start+length > b.size {
		return corrupt(start, "directory of %d bytes does not fit the image", length)
	}
	if err := b.spend(start, length); err != nil {
		return err
	}
	buf := make([]byte, length)
	if err := readMeta(b.r, buf, start, "directory"); err != nil {
		return err
	}

	type subdir struct {
		n             *node
		start, length int64
	}
	var subdirs []subdir
	var multi *node       // a file whose next record continues it (multi-extent)
	var multiIdent []byte // ... under this ISO identifier
	for pos := int64(0); pos < length; {
		recLen := int64(buf[pos])
		if recLen == 0 {
			// The rest of this sector is padding: records never cross
			// a sector boundary (ECMA-119 6.8.1.1).
			pos = ((start+pos)/sectorSize+1)*sectorSize - start
			continue
		}
		if pos+recLen > length {
			return corrupt(start+pos, "directory record overruns its directory")
		}
		rec, err := parseRecord(buf[pos:pos+recLen], start+pos)
		if err != nil {
			return err
		}
		pos += recLen
		if len(rec.ident) == 1 && rec.ident[0] <= 1 {
			continue // "." and ".."
		}
		if b.entries++; b.entries > maxEntries {
			return corrupt(rec.pos, "more than %d directory entries", maxEntries)
		}
		if multi != nil && bytes.Equal(rec.ident, multiIdent) {
			if rec.flags&flagDir != 0 {
				// A directory cannot hold a file's bytes; taking its
				// extent as file data would serve directory records
				// as the end of, say, a squashfs.
				return corrupt(rec.pos, "multi-extent file %q continued by a directory", rec.ident)
			}
			// A file over 4 GiB is recorded as several records with
			// the same name, all but the last flagged multi-extent
			// (ECMA-119 6.5.1). xorriso writes the extents back to back,
			// but nothing requires it, so keep each one.
			if err := b.addExtent(multi, rec); err != nil {
				return err
			}
			if rec.flags&flagMultiExtent == 0 {
				multi = nil
			}
			continue
		}
		multi = nil

		n, sub, err := b.newNode(rec)
		if err != nil {
			return err
		}
		if n == nil {
			continue
		}
		dir.children = append(dir.children, n)
		switch {
		case n.mode.IsDir():
			subdirs = append(subdirs, subdir{n, sub.start, sub.length})
		case n.mode.IsRegular() && rec.flags&flagMultiExtent != 0:
			multi, multiIdent = n, rec.ident
		}
	}

	// Sorted for binary search in lookup and for ReadDir. A damaged image
	// (or plain names that differ only in case) can repeat a name: keep the
	// first, as Linux shows only one.
	slices.SortStableFunc(dir.children, func(a, b *node) int { return strings.Compare(a.name, b.name) })
	dir.children = slices.CompactFunc(dir.children, func(a, b *node) bool { return a.name == b.name })
	dir.children = slices.Clip(dir.children)

	for _, s := range subdirs {
		if err := b.readDir(s.n, s.start, s.length, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// addExtent appends the data of rec to the multi-extent file n.
func (b *builder) addExtent(n *node, rec record) error {
	if len(n.data) >= maxExtents {
		return corrupt(rec.pos, "file in more than %d extents", maxExtents)
	}
	start, length := b.extent(rec)
	if err := b.checkExtent(rec, start, length); err != nil {
		return err
	}
	n.size += length
	if last := &n.data[len(n.data)-1]; last.off+last.len == start {
		last.len += length // contiguous: one extent, one ReadAt
		return nil
	}
	n.data = append(n.data, extent{off: start, len: length})
	return nil
}

// checkExtent refuses file data beyond the end of the image. Such an image
// is truncated (an interrupted download, a short dd): better to say so now
// than to fail a client halfway through its boot.
func (b *builder) checkExtent(rec record, start, length int64) error {
	if length > 0 && (start < 0 || start+length > b.size) {
		return corrupt(rec.pos, "%q needs bytes up to %d but the image ends at %d (truncated?)",
			rec.ident, start+length, b.size)
	}
	return nil
}

type dirExtent struct{ start, length int64 }

// newNode makes the node for a directory record, or nil for a record that is
// not shown (associated files, Rock Ridge relocation artefacts, bad names).
// For a directory it also returns where its records are.
func (b *builder) newNode(rec record) (*node, dirExtent, error) {
	if rec.flags&flagAssociated != 0 {
		return nil, dirExtent{}, nil // Apple resource forks and the like; Linux hides them too
	}
	n := &node{mtime: rec.recorded, ino: uint64(rec.pos), nlink: 1}
	// childLink -1 here, not only in parseSUSP: a record with no system
	// use area never reaches parseSUSP, and a zero would read as "CL to
	// block 0" and make the file a directory at the start of the image
	// (found by TestHostileISO; xorriso gives every record an area).
	su := suspInfo{childLink: -1}
	switch b.naming {
	case namePlain:
		n.name = plainName(rec.ident)
	case nameJoliet:
		n.name = stripVersion(decodeUCS2(rec.ident))
	case nameRR:
		if len(rec.sua) > b.skip {
			if err := b.parseSUSP(rec.sua[b.skip:], &su); err != nil {
				return nil, dirExtent{}, err
			}
		}
		if su.relocated {
			// RE: the real entry of this relocated directory is the CL
			// record at its original place (RRIP 4.1.5.2).
			return nil, dirExtent{}, nil
		}
		if su.nm != nil {
			n.name = string(su.nm)
		} else {
			n.name = plainName(rec.ident)
		}
	}
	if !utf8.ValidString(n.name) {
		// Old Rock Ridge media carry Latin-1 names; fs.FS paths must be
		// UTF-8, so such a file would be unreachable otherwise.
		n.name = latin1(n.name)
	}
	if !validName(n.name) {
		return nil, dirExtent{}, nil
	}
	if bytes.IndexByte(su.link, 0) >= 0 {
		// No POSIX path holds a NUL: an NFS client would be handed a
		// target its kernel cannot store. Left out like a bad name.
		return nil, dirExtent{}, nil
	}

	start, length := b.extent(rec)
	isDir := rec.flags&flagDir != 0
	if su.childLink >= 0 && b.naming == nameRR && !isDir {
		// CL: a directory moved elsewhere to keep the ECMA-119 tree 8
		// levels deep; it belongs here. Its size is in its own "." record.
		dot, err := b.firstRecord(record{pos: rec.pos, lba: su.childLink})
		if err != nil {
			return nil, dirExtent{}, err
		}
		isDir = true
		start, length = b.extent(dot)
	}

	var typ fs.FileMode
	switch {
	case isDir:
		typ = fs.ModeDir
	case su.px:
		typ = posixType(su.mode)
	case su.link != nil:
		typ = fs.ModeSymlink
	}
	switch {
	case su.px:
		n.mode = typ | posixPerm(su.mode)
	case isDir:
		n.mode = typ | 0o555
	default:
		n.mode = typ | 0o444
	}
	su.apply(n)

	switch typ {
	case fs.ModeDir:
		n.ino = uint64(start) // the same for the entry and the directory's own "."
		n.size = length
		return n, dirExtent{start, length}, nil
	case fs.ModeSymlink:
		n.target = string(su.link)
		n.size = int64(len(n.target))
	case 0: // regular file
		if err := b.checkExtent(rec, start, length); err != nil {
			return nil, dirExtent{}, err
		}
		n.size = length
		n.data = []extent{{off: start, len: length}}
	}
	return n, dirExtent{}, nil
}

func posixType(mode uint32) fs.FileMode {
	switch mode & sIFMT {
	case sIFDIR:
		// PX says directory but the record does not: we cannot list
		// it, so show an empty file rather than a broken directory.
		return 0
	case sIFLNK:
		return fs.ModeSymlink
	case sIFIFO:
		return fs.ModeNamedPipe
	case sIFSOCK:
		return fs.ModeSocket
	case sIFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case sIFBLK:
		return fs.ModeDevice
	}
	return 0
}

func posixPerm(mode uint32) fs.FileMode {
	m := fs.FileMode(mode & 0o777)
	if mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// validName refuses names no fs.FS path can carry.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// plainName maps an ECMA-119 identifier as Linux does by default
// (map=normal): drop the ";1" version and a trailing dot ("README.;1"),
// and lowercase it. The same medium then has the same names whether it is
// served from its mounted directory or read here; lookups ignore case.
func plainName(ident []byte) string {
	return strings.ToLower(strings.TrimSuffix(stripVersion(string(ident)), "."))
}

// latin1 decodes ISO 8859-1, where every byte is the code point of the
// same value.
func latin1(s string) string {
	r := make([]rune, len(s))
	for i := range len(s) {
		r[i] = rune(s[i])
	}
	return string(r)
}

// stripVersion drops a ";N" file version suffix.
func stripVersion(s string) string {
	if i := strings.LastIndexByte(s, ';'); i >= 0 {
		return s[:i]
	}
	return s
}

// decodeUCS2 decodes Joliet's big-endian UCS-2 (UTF-16 in practice).
func decodeUCS2(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// shortTime decodes the 7-byte date of a directory record or TF entry
// (ECMA-119 9.1.5): years since 1900, month, day, hour, minute, second, and
// the offset from GMT in 15-minute steps.
func shortTime(b []byte) time.Time {
	if len(b) < 7 || b[1] == 0 || b[1] > 12 || b[2] == 0 || b[2] > 31 {
		return time.Time{}
	}
	t := time.Date(1900+int(b[0]), time.Month(b[1]), int(b[2]), int(b[3]), int(b[4]), int(b[5]), 0, time.UTC)
	return t.Add(-time.Duration(int8(b[6])) * 15 * time.Minute)
}

// longTime decodes the 17-byte date of a volume descriptor or long-form TF
// entry (ECMA-119 8.4.26.1): "YYYYMMDDhhmmsscc" in digits, then the offset.
func longTime(b []byte) time.Time {
	if len(b) < 17 {
		return time.Time{}
	}
	var v [7]int
	widths := [7]int{4, 2, 2, 2, 2, 2, 2}
	p := 0
	for i, w := range widths {
		for _, c := range b[p : p+w] {
			if c < '0' || c > '9' {
				return time.Time{}
			}
			v[i] = v[i]*10 + int(c-'0')
		}
		p += w
	}
	if v[0] == 0 || v[1] == 0 || v[1] > 12 || v[2] == 0 || v[2] > 31 {
		return time.Time{}
	}
	t := time.Date(v[0], time.Month(v[1]), v[2], v[3], v[4], v[5], v[6]*10_000_000, time.UTC)
	return t.Add(-time.Duration(int8(b[16])) * 15 * time.Minute)
}

// suspInfo collects the Rock Ridge entries of one directory record.
type suspInfo struct {
	// SUSP and RRIP markers, only looked at in the root's "." record.
	sp   bool
	skip int
	rrip bool

	nm        []byte // NM: the name, nil if none
	px        bool   // PX seen
	mode      uint32
	nlink     uint32
	uid, gid  uint32
	link      []byte // SL: the symlink target, nil if none
	linkSep   bool   // SL: the next component needs a "/" before it
	mtime     time.Time
	relocated bool  // RE
	childLink int64 // CL: block of the relocated directory, or -1
}

// apply copies the attributes Rock Ridge gave to n.
func (su *suspInfo) apply(n *node) {
	if su.px {
		n.mode = n.mode.Type() | posixPerm(su.mode)
		n.nlink, n.uid, n.gid = su.nlink, su.uid, su.gid
	}
	if !su.mtime.IsZero() {
		n.mtime = su.mtime
	}
}

// spend takes n bytes of directory or continuation area read at off from
// the budget of metadata (see maxMetaBytes).
func (b *builder) spend(off, n int64) error {
	if b.meta -= n; b.meta < 0 {
		return corrupt(off, "directories and continuation areas add up to more than the image holds (or %d MiB)", maxMetaBytes>>20)
	}
	return nil
}

// parseSUSP reads the System Use Sharing Protocol entries of a system use
// area, following CE continuation areas. Its only error is an exhausted
// metadata budget; damaged entries are skipped.
func (b *builder) parseSUSP(area []byte, su *suspInfo) error {
	su.childLink = -1
	for hops := 0; ; hops++ {
		var ceOff, ceLen int64 = -1, 0
		for len(area) >= 4 {
			l := int(area[2])
			if l < 4 || l > len(area) {
				break // damaged or padding: ignore the rest
			}
			data := area[4:l]
			switch string(area[:2]) {
			case "ST": // terminator
				return nil
			case "CE":
				// A continuation area lies within one logical block;
				// Linux's rock.c refuses it otherwise, and so do we.
				if len(data) >= 24 {
					inBlock := int64(binary.LittleEndian.Uint32(data[8:]))
					ceLen = int64(binary.LittleEndian.Uint32(data[16:]))
					ceOff = -1
					if inBlock+ceLen <= b.bs {
						ceOff = int64(binary.LittleEndian.Uint32(data[0:]))*b.bs + inBlock
					}
				}
			case "SP":
				if len(data) >= 3 && data[0] == 0xBE && data[1] == 0xEF {
					su.sp, su.skip = true, int(data[2])
				}
			case "ER":
				if len(data) >= 4 && 4+int(data[0]) <= len(data) {
					switch string(data[4 : 4+int(data[0])]) {
					case "RRIP_1991A", "IEEE_P1282", "IEEE_1282":
						su.rrip = true
					}
				}
			case "NM":
				// Flags: 1 = continued in the next NM, 2 = ".", 4 = "..".
				if len(data) >= 1 && data[0]&0x06 == 0 && len(su.nm)+len(data)-1 <= maxNameLen {
					su.nm = append(su.nm, data[1:]...)
					if su.nm == nil {
						su.nm = []byte{}
					}
				}
			case "PX":
				if len(data) >= 32 {
					su.px = true
					su.mode = binary.LittleEndian.Uint32(data[0:])
					su.nlink = binary.LittleEndian.Uint32(data[8:])
					su.uid = binary.LittleEndian.Uint32(data[16:])
					su.gid = binary.LittleEndian.Uint32(data[24:])
				}
			case "SL":
				if len(data) >= 1 {
					su.addSymlink(data[1:])
				}
			case "TF":
				su.parseTF(data)
			case "RE":
				su.relocated = true
			case "CL":
				if len(data) >= 8 {
					su.childLink = int64(binary.LittleEndian.Uint32(data[0:]))
				}
			}
			area = area[l:]
		}
		if ceOff < 0 || ceLen <= 0 || ceOff+ceLen > b.size || hops >= maxCEHops {
			return nil
		}
		if err := b.spend(ceOff, ceLen); err != nil {
			return err
		}
		buf := make([]byte, ceLen)
		if err := readMeta(b.r, buf, ceOff, "continuation area"); err != nil {
			return nil // the entries we have are better than none
		}
		area = buf
	}
}

// addSymlink appends the component records of one SL entry (RRIP 4.1.3.1)
// to the target. A component flagged "continue" is joined to the next one
// without a slash, across SL entries too.
func (su *suspInfo) addSymlink(comps []byte) {
	if su.link == nil {
		su.link = []byte{}
	}
	for len(comps) >= 2 {
		flags, l := comps[0], int(comps[1])
		if 2+l > len(comps) {
			return
		}
		content := comps[2 : 2+l]
		comps = comps[2+l:]
		var part []byte
		root := false
		switch flags &^ 1 {
		case 0:
			part = content
		case 0x02:
			part = []byte(".")
		case 0x04:
			part = []byte("..")
		default: // 0x08 root, 0x10 volume root, 0x20 host name: all mean "/"
			root = true
		}
		if len(su.link)+len(part)+1 > maxLinkLen {
			return
		}
		switch {
		case root:
			su.link = append(su.link[:0], '/')
		case su.linkSep:
			su.link = append(su.link, '/')
			fallthrough
		default:
			su.link = append(su.link, part...)
		}
		su.linkSep = !root && flags&1 == 0
	}
}

// parseTF takes the modification time from a TF entry (RRIP 4.1.6): a flags
// byte, then one timestamp for each flag bit set, in bit order, each 7 bytes
// or, with bit 7, 17 bytes long.
func (su *suspInfo) parseTF(data []byte) {
	if len(data) < 1 {
		return
	}
	flags, p := data[0], data[1:]
	size := 7
	if flags&0x80 != 0 {
		size = 17
	}
	for bit := range 7 {
		if flags&(1<<bit) == 0 {
			continue
		}
		if len(p) < size {
			return
		}
		if bit == 1 { // modify
			if size == 7 {
				su.mtime = shortTime(p)
			} else {
				su.mtime = longTime(p)
			}
			return
		}
		p = p[size:]
	}
}
