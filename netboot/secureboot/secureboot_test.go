package secureboot

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"testing"

	"github.com/sharecd/sharecd/assets"
)

// sparse is an image of which only some byte ranges are known; the rest reads as zeros.
type sparse struct {
	size  int64
	parts map[int64][]byte
}

func (s sparse) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, io.EOF
	}
	n := len(p)
	if int64(n) > s.size-off {
		n = int(s.size - off)
	}
	clear(p[:n])
	for at, b := range s.parts {
		lo, hi := max(at, off), min(at+int64(len(b)), off+int64(n))
		if lo < hi {
			copy(p[lo-off:hi-off], b[lo-at:hi-at])
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func debianKernel(t testing.TB) sparse {
	t.Helper()
	head, err := os.ReadFile("testdata/debian-6.1.0-56-vmlinuz.head")
	if err != nil {
		t.Fatal(err)
	}
	sig, err := os.ReadFile("testdata/debian-6.1.0-56-vmlinuz.sig")
	if err != nil {
		t.Fatal(err)
	}
	const size = 8247232
	return sparse{size, map[int64][]byte{0: head, size - int64(len(sig)): sig}}
}

func asset(t *testing.T, fsys fs.FS, name string) *bytes.Reader {
	t.Helper()
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

func TestSigners(t *testing.T) {
	kernel := debianKernel(t)
	shim := asset(t, assets.SecureBoot(), "shimx64.efi")
	grub := asset(t, assets.SecureBoot(), "grubx64.efi")
	img, err := assets.UEFIx64(netip.MustParseAddr("10.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	unsigned := bytes.NewReader(img)
	tests := []struct {
		name    string
		r       io.ReaderAt
		size    int64
		want    string // the first signer's issuer
		trusted bool
		err     error // nil: no error; errAny: some error
	}{
		{"Debian 12 kernel", kernel, kernel.size, DebianCA, true, nil},
		{"Debian's network GRUB", grub, grub.Size(), DebianCA, true, nil},
		{"shim", shim, shim.Size(), "Microsoft Corporation UEFI CA 2011", false, nil},
		{"our unsigned GRUB", unsigned, unsigned.Size(), "", false, ErrUnsigned},
		{"not PE", bytes.NewReader([]byte("#!/bin/sh\necho hello, this is no kernel\n")), 40, "", false, errAny},
		{"truncated", bytes.NewReader([]byte("MZ")), 2, "", false, errAny},
		{"signature beyond the end", kernel, 4096, "", false, errAny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Signers(tc.r, tc.size)
			switch {
			case tc.err == errAny && err == nil:
				t.Fatalf("no error, signers %v", got)
			case tc.err == errAny:
				return
			case tc.err != nil && !errors.Is(err, tc.err):
				t.Fatalf("err = %v, want %v", err, tc.err)
			case tc.err == nil && err != nil:
				t.Fatal(err)
			case tc.err != nil:
				return
			}
			if got[0].Issuer != tc.want || got[0].TrustedByDebianShim() != tc.trusted {
				t.Errorf("signer %+v (trusted %v), want %q (trusted %v)", got[0], got[0].TrustedByDebianShim(), tc.want, tc.trusted)
			}
		})
	}
}

var errAny = errors.New("any error")

// FuzzSigners: any image, however broken, gives signers or an error; never a panic or a
// read outside it.
func FuzzSigners(f *testing.F) {
	kernel := debianKernel(f)
	img := make([]byte, 512+1472+64)
	copy(img, kernel.parts[0])
	copy(img[576:], kernel.parts[kernel.size-1472])
	// Point the security directory at the copied table so the seed reaches the PKCS #7 parser.
	pe := 0x40 + 24 + 112 + 32
	img[pe], img[pe+1], img[pe+2], img[pe+3] = 576&0xff, 576>>8, 0, 0
	f.Add(img)
	f.Add([]byte("MZ"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Signers(bytes.NewReader(b), int64(len(b)))
	})
}
