package netboot

import (
	"cmp"
	"context"
	"io/fs"
	"log/slog"
	"net/netip"
	"path"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/sharecd/sharecd/netboot/bootmenu"
	"github.com/sharecd/sharecd/netboot/httpd"
	"github.com/sharecd/sharecd/netboot/nfs"
	"github.com/sharecd/sharecd/netboot/tftp"
)

// fileSide is what serves the plan's files: TFTP and HTTP the boot tree, NFS and the portmapper
// the medium's root.
type fileSide struct {
	tftp *tftp.Server
	http *httpd.Server
	nfs  *nfs.Server
	pm   *nfs.Portmapper
}

// fileServers serves the plan lp holds at each moment: a change of media swaps it under them.
func (s *Share) fileServers(lp *livePlan, ports Ports, allow func(netip.Addr) bool, tr *tracker, log *slog.Logger) *fileSide {
	p := lp.Load()
	f := &fileSide{
		tftp: &tftp.Server{
			FS:     lp,
			Allow:  allow,
			Window: s.TFTPWindow,
			Log:    log.With("server", "tftp"),
			OnStart: func(t tftp.Transfer) {
				if st, ok := lp.Load().stageOf(t.File); ok {
					tr.report(nil, t.Client, st, t.File)
				}
			},
		},
		http: &httpd.Server{
			FS:    lp,
			Allow: allow,
			Log:   log.With("server", "http"),
			OnStart: func(client netip.Addr, file string) {
				p := lp.Load()
				if st, ok := p.stageOf(file); ok {
					tr.report(nil, client, st, file)
				} else if p.mediumOf(file).Family == bootmenu.FamilyDracut {
					// dracut's initrd fetching its live image by URL: it has reached its root.
					tr.report(nil, client, StageMounted, file)
				}
			},
			OnDone: func(client netip.Addr, file string) {
				p := lp.Load()
				if _, ok := p.stageOf(file); !ok && p.mediumOf(file).Family == bootmenu.FamilyDracut {
					tr.report(nil, client, StageRunning, file) // the image is in RAM: the system starts
				}
			},
		},
		nfs: &nfs.Server{
			Allow: allow,
			Log:   log.With("server", "nfs"),
			OnEvent: func(client netip.Addr, what string) {
				if file, ok := strings.CutPrefix(what, "read "); ok {
					tr.report(nil, client, StageRunning, file)
				} else if export, ok := strings.CutPrefix(what, "mount "); ok {
					tr.report(nil, client, StageMounted, export)
				} else {
					tr.report(nil, client, StageMounted, Export)
				}
			},
		},
		pm: &nfs.Portmapper{NFSPort: ports.NFS, MountPort: ports.NFS, Allow: allow, Log: log.With("server", "portmap")},
	}
	// A lone medium is the one export, exactly as before there could be several.
	if len(p.Media) == 1 {
		f.nfs.FS, f.nfs.Export = p.First().nfsRoot(), p.First().Export
	} else {
		f.nfs.Exports = p.exports()
	}
	if nofile := fileLimit(); nofile > 0 {
		if b := boundsFor(nofile); b != (serverBounds{}) {
			f.nfs.MaxConns, f.pm.MaxConns, f.http.MaxConns, f.tftp.MaxTransfers = b.NFS, b.Portmap, b.HTTP, b.TFTP
			log.Info("open-file limit is low: fewer clients at once", "limit", nofile, "nfs_conns", b.NFS,
				"portmap_conns", b.Portmap, "http_conns", b.HTTP, "tftp_transfers", b.TFTP)
		}
	}
	return f
}

func (f *fileSide) start(ctx context.Context, g *errgroup.Group, socks *sockets) {
	g.Go(func() error { return f.tftp.Serve(ctx, socks.tftp) })
	g.Go(func() error { return f.nfs.Serve(ctx, socks.nfs) })
	g.Go(func() error { return f.pm.Serve(ctx, socks.pmTCP, socks.pmUDP) })
	if socks.http != nil {
		g.Go(func() error { return f.http.Serve(ctx, socks.http) })
	}
}

// stageOf says which boot stage fetching a file of the boot tree marks, over TFTP or HTTP alike.
// Menus are the top-level ones or a medium's own, under its prefix.
func (p *Plan) stageOf(file string) (Stage, bool) {
	base := path.Base(file)
	switch {
	case file == BIOSLoader, file == BIOSIPXE, file == UEFILoader, file == UEFIIPXE, file == SignedLoader, file == Arm64Loader:
		return StageLoader, true
	case path.Base(path.Dir(file)) == "pxelinux.cfg", base == BIOSScript, base == UEFIScript,
		base == "grub.cfg" && (isGrubMenuDir(path.Dir(file)) || isGrubMenuDir(path.Dir(path.Dir(file)))):
		return StageMenu, true
	case p.seatFiles[file]:
		return StageMenu, true
	case p.kernels[file]:
		return StageKernel, true
	case p.initrds[file]:
		return StageInitrd, true
	}
	return "", false
}

// isGrubMenuDir: the x86 GRUBs' and the ARM64 GRUB's menu directories, whose grub.cfg is a top
// menu and whose PREFIX/grub.cfg a medium's.
func isGrubMenuDir(dir string) bool { return dir == path.Dir(UEFIMenuFile) || dir == Arm64MenuDir }

// mediumOf is the medium a file of the tree belongs to: the one whose prefix it is under, else
// the one at the root, else the first (for the shared loaders and menus).
func (p *Plan) mediumOf(file string) *Served {
	var root *Served
	for _, m := range slices.Concat(p.Media, p.Leaving) {
		if m.Prefix == "" {
			root = m
		} else if strings.HasPrefix(file, m.Prefix+"/") {
			return m
		}
	}
	return cmp.Or(root, p.First())
}

// exports are the NFS exports of the plan's media, the leaving ones too.
func (p *Plan) exports() map[string]fs.FS {
	out := map[string]fs.FS{}
	for _, m := range slices.Concat(p.Media, p.Leaving) {
		out[m.Export] = m.nfsRoot()
	}
	return out
}
