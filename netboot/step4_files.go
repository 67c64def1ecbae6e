package netboot

import (
	"context"
	"io/fs"
	"log/slog"
	"net/netip"
	"path"
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

func (s *Share) fileServers(p *Plan, ports Ports, allow func(netip.Addr) bool, tr *tracker, log *slog.Logger) *fileSide {
	f := &fileSide{
		tftp: &tftp.Server{
			FS:         p.Tree,
			Allow:      allow,
			Anticipate: s.TFTPWindow,
			Log:        log.With("server", "tftp"),
			OnStart: func(t tftp.Transfer) {
				if st, ok := p.stageOf(t.File); ok {
					tr.report(nil, t.Client, st, t.File)
				}
			},
		},
		http: &httpd.Server{
			FS:    p.Tree,
			Allow: allow,
			Log:   log.With("server", "http"),
			OnStart: func(client netip.Addr, file string) {
				if st, ok := p.stageOf(file); ok {
					tr.report(nil, client, st, file)
				} else if p.mediumOf(file).Family == bootmenu.FamilyDracut {
					// dracut's initrd fetching its live image by URL: it has reached its root.
					tr.report(nil, client, StageMounted, file)
				}
			},
			OnDone: func(client netip.Addr, file string) {
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
		f.nfs.FS, f.nfs.Export = p.First().Medium.FS, p.First().Export
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
	case file == BIOSLoader, file == UEFILoader, file == UEFIIPXE, file == SignedLoader, file == Arm64Loader:
		return StageLoader, true
	case path.Base(path.Dir(file)) == "pxelinux.cfg", base == BIOSScript, base == UEFIScript,
		base == "grub.cfg" && (isGrubMenuDir(path.Dir(file)) || isGrubMenuDir(path.Dir(path.Dir(file)))):
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

// mediumOf is the medium a file of the tree belongs to: the one whose prefix it is under (the
// first for a lone medium, or for the shared loaders and menus).
func (p *Plan) mediumOf(file string) *Served {
	for _, m := range p.Media {
		if m.Prefix != "" && strings.HasPrefix(file, m.Prefix+"/") {
			return m
		}
	}
	return p.First()
}

// exports are the NFS exports of the plan's media.
func (p *Plan) exports() map[string]fs.FS {
	out := map[string]fs.FS{}
	for _, m := range p.Media {
		out[m.Export] = m.Medium.FS
	}
	return out
}
