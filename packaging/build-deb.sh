#!/usr/bin/env bash
# Builds dist/sharecd_VERSION_ARCH.deb with nfpm: the binary (cgo: needs gcc, pkg-config,
# libgl1-mesa-dev and xorg-dev), the .desktop file, the icon, the AppStream metainfo, the man page
# and the postinst that sets the binary's capabilities.
#   packaging/build-deb.sh [OUTDIR]      (default OUTDIR: dist/)
# VERSION (default: git describe, else 0.0.0~dev) and GOARCH may be set in the environment.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=$(mkdir -p "${1:-$root/dist}" && cd "${1:-$root/dist}" && pwd)
# nfpm is pinned: newer releases pull modules the proxy here does not serve.
NFPM=github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.44.2

VERSION=${VERSION:-$(git -C "$root" describe --tags --always 2>/dev/null | sed 's/^v//' || true)}
case "$VERSION" in [0-9]*.[0-9]*) ;; *) VERSION="0.0.0~dev${VERSION:+.$VERSION}" ;; esac
ARCH=$(go env GOARCH)
BUILD=$(mktemp -d)
trap 'rm -rf "$BUILD"' EXIT
export VERSION ARCH

echo "building sharecd $VERSION for $ARCH"
# No -trimpath: it would miss the build cache of fyne's cgo packages and cost ~8 more minutes.
# Two builds of one command: sharecd without fyne (its errors stay one clean line), and
# sharecd-gui with the window and tray, which plain `sharecd` execs when a window is wanted.
(cd "$root" && go build -ldflags "-s -w -X main.version=$VERSION" -o "$BUILD/sharecd" ./cmd/sharecd)
(cd "$root" && CGO_ENABLED=1 go build -tags gui -ldflags "-s -w -X main.version=$VERSION" \
	-o "$BUILD/sharecd-gui" ./cmd/sharecd)
gzip -9n <"$here/sharecd.1" >"$BUILD/sharecd.1.gz"
cp "$here"/{nfpm.yaml,postinst,copyright,sharecd.svg,io.github.sharecd.ShareThisCD.desktop,io.github.sharecd.ShareThisCD.metainfo.xml} \
	"$root/app/icon.png" "$BUILD/"
# The loaders' own copyright files, as their Debian packages ship them (see copyright).
mkdir "$BUILD/loaders"
cp "$root/assets/syslinux/COPYRIGHT" "$BUILD/loaders/syslinux.copyright"
cp "$root/assets/grub-efi/COPYRIGHT" "$BUILD/loaders/grub-efi.copyright"
cp "$root/assets/grub-efi-arm64/COPYRIGHT" "$BUILD/loaders/grub-efi-arm64.copyright"
cp "$root/assets/ipxe/COPYRIGHT" "$BUILD/loaders/ipxe.copyright"
cp "$root/assets/secureboot/COPYRIGHT.shim" "$BUILD/loaders/shim.copyright"
cp "$root/assets/secureboot/COPYRIGHT.grub" "$BUILD/loaders/grub-signed.copyright"
(cd "$BUILD" && GOBIN="$BUILD" go install "$NFPM")
(cd "$BUILD" && ./nfpm package --config nfpm.yaml --packager deb --target "$out/")
ls "$out"/sharecd_*.deb
