package assets

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io/fs"
	"net/netip"
	"path"
	"strings"
	"testing"
)

func TestBIOSHasMatchingLoaderAndModules(t *testing.T) {
	for _, name := range []string{"pxelinux.0", "lpxelinux.0", "ldlinux.c32", "menu.c32", "libutil.c32", "libcom32.c32", "GPL-2", "COPYRIGHT"} {
		b, err := fs.ReadFile(BIOS(), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(b) < 1000 {
			t.Errorf("%s: only %d bytes", name, len(b))
		}
	}
	// ldlinux.c32 refuses COM32 modules of another build, so both packages must be one version.
	v, _ := fs.ReadFile(BIOS(), "VERSION")
	f := bytes.Fields(v)
	if len(f) != 4 || !bytes.Equal(f[1], f[3]) {
		t.Errorf("pxelinux and syslinux-common versions differ: %q", v)
	}
	if px, _ := fs.ReadFile(BIOS(), "pxelinux.0"); !bytes.Contains(px, []byte("PXELINUX ")) {
		t.Error("pxelinux.0 is not PXELINUX")
	}
}

// Both GRUBs get the server written into their prefix in place, each in its own menu directory,
// and each is built for the machine its clients are (the PE header's machine field).
func TestUEFILoaderPrefixPatched(t *testing.T) {
	tests := []struct {
		name    string
		load    func(netip.Addr) ([]byte, error)
		file    string
		dir     string
		machine uint16 // IMAGE_FILE_MACHINE_AMD64, _ARM64
	}{
		{"x86-64", UEFIx64, "grub-efi/grubx64.efi", "grub", 0x8664},
		{"arm64", UEFIArm64, "grub-efi-arm64/grubaa64.efi", "grub-arm64", 0xaa64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img, err := tc.load(netip.MustParseAddr("10.77.5.2"))
			if err != nil {
				t.Fatal(err)
			}
			orig, _ := files.ReadFile(tc.file)
			if len(img) != len(orig) || !bytes.HasPrefix(img, []byte("MZ")) || len(img) < 0x100 {
				t.Fatalf("image is %d bytes (want %d) or not a PE file", len(img), len(orig))
			}
			pe := binary.LittleEndian.Uint32(img[0x3c:])
			if m := binary.LittleEndian.Uint16(img[pe+4:]); m != tc.machine {
				t.Errorf("PE machine %#x, want %#x", m, tc.machine)
			}
			want := []byte("(tftp,10.77.5.2)/" + tc.dir + "\x00\x00\x00\x00\x00\x00\x00")
			if !bytes.Contains(img, want) || bytes.Contains(img, []byte(placeholderServer)) {
				t.Error("prefix not replaced in place")
			}
			if again, _ := tc.load(netip.MustParseAddr("192.168.1.1")); !bytes.Contains(again, []byte("(tftp,192.168.1.1)/"+tc.dir+"\x00")) {
				t.Error("the embedded image was modified by the first call")
			}
			for _, bad := range []netip.Addr{{}, netip.MustParseAddr("fe80::1"), netip.IPv4Unspecified()} {
				if _, err := tc.load(bad); err == nil {
					t.Errorf("%v: no error", bad)
				}
			}
			for _, name := range []string{"GPL-3", "COPYRIGHT", "VERSION"} {
				if _, err := files.ReadFile(path.Join(path.Dir(tc.file), name)); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// The signed chain must be byte for byte what Debian shipped: one changed byte voids a signature.
func TestSecureBootChainIsDebians(t *testing.T) {
	v, err := fs.ReadFile(SecureBoot(), "VERSION")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(v), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || !strings.HasSuffix(f[1], ".efi") {
			continue
		}
		b, err := fs.ReadFile(SecureBoot(), f[1])
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != f[0] {
			t.Errorf("%s differs from the copy update-secureboot.sh took", f[1])
		}
		// A PE image with an Authenticode signature: the security directory (data directory 4)
		// of the optional header is not empty.
		if len(b) < 0x200 || string(b[:2]) != "MZ" {
			t.Fatalf("%s is no PE image", f[1])
		}
		pe := int(binary.LittleEndian.Uint32(b[0x3c:]))
		secDir := pe + 24 + 112 + 4*8 // PE32+ optional header: data directories start at 112
		if size := binary.LittleEndian.Uint32(b[secDir+4:]); size == 0 {
			t.Errorf("%s carries no signature", f[1])
		}
	}
}

// The UEFI iPXE must be an x86-64 EFI application (what OVMF's PXE starts) and iPXE, with its
// licence beside it.
func TestUEFIIPXEIsAnEFIApplication(t *testing.T) {
	img := UEFIIPXE()
	if len(img) < 0x100 || !bytes.HasPrefix(img, []byte("MZ")) {
		t.Fatalf("snponly.efi: %d bytes, not a PE file", len(img))
	}
	pe := int(binary.LittleEndian.Uint32(img[0x3c:]))
	if pe+0x5e > len(img) || !bytes.Equal(img[pe:pe+4], []byte("PE\x00\x00")) {
		t.Fatal("snponly.efi: no PE header")
	}
	// COFF header: machine at +4; the optional header's subsystem at +24+68.
	if m := binary.LittleEndian.Uint16(img[pe+4:]); m != 0x8664 {
		t.Errorf("machine %#x, want x86-64 (0x8664)", m)
	}
	if sub := binary.LittleEndian.Uint16(img[pe+24+68:]); sub != 10 {
		t.Errorf("subsystem %d, want 10 (EFI application)", sub)
	}
	if !bytes.Contains(img, []byte("iPXE")) {
		t.Error("snponly.efi does not say iPXE")
	}
	for _, name := range []string{"ipxe/GPL-2", "ipxe/COPYRIGHT", "ipxe/VERSION"} {
		if _, err := files.ReadFile(name); err != nil {
			t.Error(err)
		}
	}
}

// The BIOS iPXE must be a PXE network boot program a BIOS ROM runs: it is loaded at 0:7C00 and
// starts with a far jump into that segment (iPXE's .kpxe prefix), looks for the ROM's PXE stack,
// and fits the few hundred KiB of base memory a ROM loads it into.
func TestBIOSIPXEIsAPXELoader(t *testing.T) {
	img := BIOSIPXE()
	if len(img) < 1024 || len(img) > 256<<10 {
		t.Fatalf("undionly.kpxe: %d bytes, want between 1 KiB and 256 KiB", len(img))
	}
	if img[0] != 0xea || binary.LittleEndian.Uint16(img[3:]) != 0x07c0 {
		t.Errorf("undionly.kpxe starts with % x, want a far jump into segment 07c0", img[:5])
	}
	for _, want := range []string{"PXENV+", "!PXE", "UNDI"} {
		if !bytes.Contains(img, []byte(want)) {
			t.Errorf("undionly.kpxe lacks %q: not iPXE's UNDI loader", want)
		}
	}
	// Both iPXE images come from one package version, which VERSION names.
	if v, err := files.ReadFile("ipxe/VERSION"); err != nil || !bytes.HasPrefix(v, []byte("ipxe ")) {
		t.Errorf("ipxe/VERSION: %q, %v", v, err)
	}
}
