package changes

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sharecd/sharecd/netboot/bootmenu"
)

// LayerPrefix begins the layer's file name, which Snapshot completes with the image's checksum
// (zz-sharecd-changes-0123456789ab.squashfs). The name sorts after every root image a medium
// ships (byte order, as the initramfs's busybox sort and sh globs in the C locale order names),
// because both live-boot and casper put the image that sorts last on top; Place checks that it
// does. The checksum is in the name because NFS file handles are made from paths: a client
// still running from a share's layer gets a stale handle from a restarted share whose snapshot
// differs, instead of another image's bytes under the name it had open.
const LayerPrefix = "zz-sharecd-changes-"

// lowestLayer is the first name Snapshot can give a layer, for Place's check of the order.
const lowestLayer = LayerPrefix + "000000000000.squashfs"

// Placement is where a family's initramfs picks the changes layer up on one medium.
type Placement struct {
	// Dir is the directory of the medium whose images the initramfs stacks: the layer goes in it.
	Dir string
	// Module, when the medium lists its layers in a live-boot module file, is that file's path;
	// Layer serves it replaced by the medium's list with the layer's name last (the top).
	Module  string
	modules []string
}

// Layer is the path of the layer named name in the medium's namespace, and the module file's
// new text (nil without one).
func (p Placement) Layer(name string) (image string, moduleText []byte) {
	if p.Module != "" {
		moduleText = []byte(strings.Join(append(slices.Clone(p.modules), name), "\n") + "\n")
	}
	return path.Join(p.Dir, name), moduleText
}

// Place says where fsys's family stacks one more root layer, or why it cannot. Only the default
// media paths are known: live-boot's live/ and casper's casper/ (a menu's live-media-path= or
// live-boot's module= moving them elsewhere is not followed).
//
//   - live-boot (9990-overlay.sh) mounts the images a module file lists, in its order, else every
//     *.squashfs, *.ext*, *.xfs, *.jffs2 and *.dir of live/, sorted; each one mounted goes in
//     front of the lower layers, so the last is the top.
//   - casper without layers globs *.ext2, then *.squashfs, then *.dir in casper/, each mounted in
//     front of the ones before. With layers (layerfs-path=, or LAYERFS_PATH in the initrd's
//     conf/conf.d, as Ubuntu 24.04 has it) it mounts only the dotted chain LAYERFS_PATH names,
//     which a file added beside it cannot join without changing the initrd or the kernel line.
//   - dracut's dmsquash-live and archiso mount exactly one root image (LiveOS/squashfs.img,
//     airootfs.sfs) with a fresh overlay over it: no second read-only layer is looked for.
func Place(fsys fs.FS, fam bootmenu.Family) (Placement, error) {
	switch fam {
	case bootmenu.FamilyLiveBoot:
		return placeLiveBoot(fsys)
	case bootmenu.FamilyCasper:
		return placeCasper(fsys)
	}
	return Placement{}, fmt.Errorf("a %s medium cannot stack the session's changes: its initramfs mounts one root image and looks for no other layer", fam)
}

func placeLiveBoot(fsys fs.FS) (Placement, error) {
	const dir = "live"
	p := Placement{Dir: dir}
	for _, m := range []string{"filesystem.filesystem.module", "filesystem.module"} {
		b, err := fs.ReadFile(fsys, path.Join(dir, m))
		if err != nil {
			continue
		}
		p.Module, p.modules = path.Join(dir, m), strings.Fields(string(b))
		return p, nil
	}
	var images []string
	for _, ext := range []string{"squashfs", "ext2", "ext3", "ext4", "xfs", "jffs2", "dir"} {
		m, _ := fs.Glob(fsys, path.Join(dir, "*."+ext))
		images = append(images, m...)
	}
	if len(images) == 0 {
		return Placement{}, fmt.Errorf("no root image in live/ of this live-boot medium to stack the changes on")
	}
	return p, lastAfter(images, path.Join(dir, lowestLayer))
}

func placeCasper(fsys fs.FS) (Placement, error) {
	const dir = "casper"
	squash, _ := fs.Glob(fsys, path.Join(dir, "*.squashfs"))
	dirs, _ := fs.Glob(fsys, path.Join(dir, "*.dir"))
	if len(squash) == 0 {
		return Placement{}, fmt.Errorf("no casper/*.squashfs on this casper medium to stack the changes on")
	}
	for _, s := range squash {
		// minimal.standard.squashfs beside minimal.squashfs: a layered medium.
		base := strings.TrimSuffix(path.Base(s), ".squashfs")
		if i := strings.LastIndexByte(base, '.'); i > 0 && slices.Contains(squash, path.Join(dir, base[:i]+".squashfs")) {
			return Placement{}, fmt.Errorf("this casper medium stacks layers (%s over %s.squashfs): casper then mounts only the chain its LAYERFS_PATH names, so it cannot take the session's changes", path.Base(s), base[:i])
		}
	}
	if len(dirs) > 0 {
		return Placement{}, fmt.Errorf("casper would put %s over the changes: they cannot be stacked on top", dirs[0])
	}
	return Placement{Dir: dir}, lastAfter(squash, path.Join(dir, lowestLayer))
}

// lastAfter checks that image sorts after every one of images.
func lastAfter(images []string, image string) error {
	sorted := append(slices.Clone(images), image)
	sort.Strings(sorted)
	if top := sorted[len(sorted)-1]; top != image {
		return fmt.Errorf("the medium's %s sorts after sharecd's layer %s…, so its initramfs would stack it over the session's changes", top, LayerPrefix)
	}
	return nil
}

// Over is fsys with files added or replaced: each name (a path in fsys) is the host file it
// maps to, served under that name. Directories listing an added name list it too. The host
// files are opened as *os.File, so the NFS server sends them with sendfile like the medium's.
func Over(fsys fs.FS, files map[string]string) fs.FS {
	return &overFS{base: fsys, files: files}
}

type overFS struct {
	base  fs.FS
	files map[string]string
}

func (o *overFS) Open(name string) (fs.File, error) {
	if host, ok := o.files[name]; ok {
		f, err := os.Open(host)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &namedFile{File: f, name: path.Base(name)}, nil
	}
	f, err := o.base.Open(name)
	if err != nil || !o.hasAdded(name) {
		return f, err
	}
	ents, err := o.ReadDir(name)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &dirFile{File: f, ents: ents}, nil
}

// hasAdded says whether dir lists an added file.
func (o *overFS) hasAdded(dir string) bool {
	for n := range o.files {
		if path.Dir(n) == dir {
			return true
		}
	}
	return false
}

// dirFile is an opened directory that lists the added files too, for callers that read a
// directory through Open rather than ReadDir.
type dirFile struct {
	fs.File
	ents []fs.DirEntry
	off  int
}

func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.ents[d.off:]
	if n <= 0 {
		d.off = len(d.ents)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	rest = rest[:min(n, len(rest))]
	d.off += len(rest)
	return rest, nil
}

func (o *overFS) Stat(name string) (fs.FileInfo, error) {
	if host, ok := o.files[name]; ok {
		return o.hostInfo(name, host, "stat")
	}
	return fs.Stat(o.base, name)
}

func (o *overFS) Lstat(name string) (fs.FileInfo, error) {
	if host, ok := o.files[name]; ok {
		return o.hostInfo(name, host, "lstat")
	}
	return fs.Lstat(o.base, name)
}

func (o *overFS) ReadLink(name string) (string, error) {
	if _, ok := o.files[name]; ok {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return fs.ReadLink(o.base, name)
}

func (o *overFS) ReadDir(name string) ([]fs.DirEntry, error) {
	ents, err := fs.ReadDir(o.base, name)
	if err != nil {
		return nil, err
	}
	added := false
	for n, host := range o.files {
		if path.Dir(n) != name {
			continue
		}
		fi, err := o.hostInfo(n, host, "readdir")
		if err != nil {
			return nil, err
		}
		ents = slices.DeleteFunc(ents, func(e fs.DirEntry) bool { return e.Name() == fi.Name() })
		ents = append(ents, fs.FileInfoToDirEntry(fi))
		added = true
	}
	if added {
		slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	}
	return ents, nil
}

// hostInfo is the host file's attributes under its name in the medium.
func (o *overFS) hostInfo(name, host, op string) (fs.FileInfo, error) {
	fi, err := os.Stat(host)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return namedInfo{FileInfo: fi, name: path.Base(name)}, nil
}

type namedInfo struct {
	fs.FileInfo
	name string
}

func (i namedInfo) Name() string       { return i.name }
func (i namedInfo) ModTime() time.Time { return i.FileInfo.ModTime() }

// namedFile is an added host file whose Stat names it as the medium does; ReadAt and the
// *os.File the NFS server's sendfile looks for come from the embedded file.
type namedFile struct {
	*os.File
	name string
}

func (f *namedFile) Stat() (fs.FileInfo, error) {
	fi, err := f.File.Stat()
	if err != nil {
		return nil, err
	}
	return namedInfo{FileInfo: fi, name: f.name}, nil
}

// Extent lets the NFS server send the layer with sendfile, as it sends a directory medium's
// files: the bytes are the host file's own.
func (f *namedFile) Extent(off, _ int64) (*os.File, int64, bool) { return f.File, off, true }
