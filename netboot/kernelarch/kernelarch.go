// Package kernelarch reads which machine a Linux kernel image runs on from its first bytes, so
// that a share offers each medium only to clients that can run its kernel.
//
// The forms read are the ones live media ship: the x86 boot protocol's header (bzImage, whose
// EFI stub also makes it a PE file), the arm64 Image header (an EFI-stub Image is also a PE file;
// Debian 12's arm64 vmlinuz is such an Image, uncompressed), a gzip-compressed arm64 Image (which
// GRUB and U-Boot unpack), and EFI zboot images, whose PE header names the machine of the
// compressed kernel inside.
package kernelarch

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// Arch is a kernel's machine, named as Debian names the architecture.
type Arch string

const (
	Unknown Arch = ""      // not read
	AMD64   Arch = "amd64" // x86-64
	I386    Arch = "i386"  // 32-bit x86
	ARM64   Arch = "arm64" // AArch64
)

// ErrNotKernel: the file has none of the headers this package reads.
var ErrNotKernel = errors.New("not a Linux kernel image of a known architecture")

// headLen is how much of a file Read looks at: every header it reads lies in the first KiB, and
// the PE header's offset (e_lfanew) is small in every kernel.
const headLen = 4096

// PE machine types (PE/COFF specification, "Machine Types").
const (
	peAMD64 = 0x8664
	peI386  = 0x14c
	peARM64 = 0xaa64
)

// Read reads the architecture of the kernel image r.
func Read(r io.ReaderAt) (Arch, error) {
	head := make([]byte, headLen)
	n, err := r.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return Unknown, fmt.Errorf("reading the kernel's header: %w", err)
	}
	return fromHead(head[:n])
}

// Of reads the architecture of the kernel at name in fsys.
func Of(fsys fs.FS, name string) (Arch, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return Unknown, err
	}
	defer f.Close()
	if ra, ok := f.(io.ReaderAt); ok {
		return Read(ra)
	}
	head, err := io.ReadAll(io.LimitReader(f, headLen))
	if err != nil {
		return Unknown, fmt.Errorf("reading the kernel's header: %w", err)
	}
	return fromHead(head)
}

func fromHead(b []byte) (Arch, error) {
	// gzip: an arm64 Image as Debian packaged it before EFI stubs; only its header is unpacked.
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return Unknown, fmt.Errorf("gzip-compressed kernel: %w", err)
		}
		inner := make([]byte, 64)
		if _, err := io.ReadFull(zr, inner); err != nil {
			return Unknown, fmt.Errorf("gzip-compressed kernel: %w", err)
		}
		if a := imageArch(inner); a != Unknown {
			return a, nil
		}
		return Unknown, fmt.Errorf("gzip-compressed file: %w", ErrNotKernel)
	}
	if a := imageArch(b); a != Unknown {
		return a, nil
	}
	// x86 boot protocol: "HdrS" at 0x202; xloadflags bit 0 (protocol 2.12+) is a 64-bit entry.
	if len(b) >= 0x238 && string(b[0x202:0x206]) == "HdrS" {
		if binary.LittleEndian.Uint16(b[0x206:]) >= 0x20c && b[0x236]&1 != 0 {
			return AMD64, nil
		}
		if a := peArch(b); a != Unknown {
			return a, nil // an older header: the EFI stub's PE machine still says
		}
		return I386, nil
	}
	// EFI zboot ("zimg" at 4) and any other EFI-stub kernel: the PE header's machine.
	if a := peArch(b); a != Unknown {
		return a, nil
	}
	return Unknown, ErrNotKernel
}

// imageArch reads the arm64 Image header: the magic "ARM\x64" at offset 56.
func imageArch(b []byte) Arch {
	if len(b) >= 60 && string(b[56:60]) == "ARM\x64" {
		return ARM64
	}
	return Unknown
}

func peArch(b []byte) Arch {
	if len(b) < 0x40 || string(b[:2]) != "MZ" {
		return Unknown
	}
	pe := binary.LittleEndian.Uint32(b[0x3c:])
	if uint64(pe)+6 > uint64(len(b)) || string(b[pe:pe+4]) != "PE\x00\x00" {
		return Unknown
	}
	switch binary.LittleEndian.Uint16(b[pe+4:]) {
	case peAMD64:
		return AMD64
	case peI386:
		return I386
	case peARM64:
		return ARM64
	}
	return Unknown
}
