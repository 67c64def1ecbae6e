package kernelarch

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

func TestRead(t *testing.T) {
	notKernel, err := os.ReadFile(filepath.Join("..", "testdata", "debian-live-lab", "isolinux", "live.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	arm64 := sample(t, "debian-12-arm64-vmlinuz.head")
	tests := []struct {
		name    string
		head    []byte
		want    Arch
		wantErr error
	}{
		{"Debian 12 amd64 bzImage", sample(t, "debian-12-amd64-vmlinuz.head"), AMD64, nil},
		{"Arch Linux x86_64 bzImage", sample(t, "archlinux-x86_64-vmlinuz-linux.head"), AMD64, nil},
		{"Debian 12 arm64 Image", arm64, ARM64, nil},
		{"gzip-compressed arm64 Image", sample(t, "debian-12-arm64-Image.gz.head"), ARM64, nil},
		// Without the Image magic only the PE header is left to say it: a zboot image's case.
		{"arm64 PE header alone", withoutImageMagic(arm64), ARM64, nil},
		{"a menu file", notKernel, Unknown, ErrNotKernel},
		{"cut before the arm64 magic", arm64[:50], Unknown, ErrNotKernel},
		{"empty", nil, Unknown, ErrNotKernel},
		{"gzip of something else", gzipOf(t, notKernel), Unknown, ErrNotKernel},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Read(bytes.NewReader(tc.head))
			if got != tc.want || !errors.Is(err, tc.wantErr) {
				t.Errorf("Read = %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
			fsys := fstest.MapFS{"boot/vmlinuz": {Data: tc.head}}
			if got, _ := Of(fsys, "boot/vmlinuz"); got != tc.want {
				t.Errorf("Of = %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := Of(fstest.MapFS{}, "boot/vmlinuz"); err == nil {
		t.Error("Of of a missing file: no error")
	}
}

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func withoutImageMagic(b []byte) []byte {
	b = bytes.Clone(b)
	copy(b[56:60], "zimg")
	return b
}

func gzipOf(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
