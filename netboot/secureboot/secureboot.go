// Package secureboot reads who signed a UEFI image (a Linux kernel, shim, GRUB), so sharecd can
// tell before any client boots whether Secure Boot can work with the chain it serves.
//
// Only the signer's name is read, never verified: the firmware and shim verify. A name is enough
// to predict the outcome, because Debian's shim (the chain sharecd serves) accepts a kernel only
// when a key it trusts signed it, and those keys are Debian's.
package secureboot

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// ErrUnsigned: the image has no Authenticode signature.
var ErrUnsigned = errors.New("not signed")

// DebianCA is the issuer of the keys Debian signs its kernels and GRUB with; the Debian shim
// sharecd serves has it built in.
const DebianCA = "Debian Secure Boot CA"

// Signer names who signed an image: the issuer of the signing certificate, which is what a
// shim's built-in trust is about (e.g. "Debian Secure Boot CA", "Canonical Ltd. Master
// Certificate Authority", "Fedora Secure Boot CA").
type Signer struct {
	Issuer string
}

// TrustedByDebianShim says whether Debian's shim accepts a kernel with this signer.
func (s Signer) TrustedByDebianShim() bool { return s.Issuer == DebianCA }

// maxSignatures bounds what is read from an image: real signature tables are a few KiB.
const maxSignatures = 1 << 20

// Signers returns the signer of each Authenticode signature of the PE image r of the given size.
// A Linux kernel is a PE image too (its EFI stub), so this works on vmlinuz.
func Signers(r io.ReaderAt, size int64) ([]Signer, error) {
	hdr := make([]byte, 0x40)
	if _, err := r.ReadAt(hdr, 0); err != nil {
		return nil, fmt.Errorf("reading the DOS header: %w", err)
	}
	if string(hdr[:2]) != "MZ" {
		return nil, errors.New("not a PE image (no MZ header)")
	}
	peOff := int64(binary.LittleEndian.Uint32(hdr[0x3c:]))
	pe := make([]byte, 24+2)
	if peOff <= 0 || peOff > size-int64(len(pe)) {
		return nil, errors.New("not a PE image (bad PE offset)")
	}
	if _, err := r.ReadAt(pe, peOff); err != nil {
		return nil, fmt.Errorf("reading the PE header: %w", err)
	}
	if string(pe[:4]) != "PE\x00\x00" {
		return nil, errors.New("not a PE image (no PE signature)")
	}
	// The security directory is data directory 4 of the optional header, whose layout depends
	// on PE32 (0x10b) or PE32+ (0x20b).
	var dirs int64
	switch binary.LittleEndian.Uint16(pe[24:]) {
	case 0x10b:
		dirs = 96
	case 0x20b:
		dirs = 112
	default:
		return nil, errors.New("not a PE image (unknown optional header)")
	}
	sec := make([]byte, 8)
	if _, err := r.ReadAt(sec, peOff+24+dirs+4*8); err != nil {
		return nil, fmt.Errorf("reading the security directory: %w", err)
	}
	off, n := int64(binary.LittleEndian.Uint32(sec)), int64(binary.LittleEndian.Uint32(sec[4:]))
	if n == 0 {
		return nil, ErrUnsigned
	}
	if n > maxSignatures || off <= 0 || off > size-n {
		return nil, fmt.Errorf("signature table at %d+%d lies outside the %d-byte image", off, n, size)
	}
	table := make([]byte, n)
	if _, err := r.ReadAt(table, off); err != nil {
		return nil, fmt.Errorf("reading the signatures: %w", err)
	}
	var signers []Signer
	// WIN_CERTIFICATE entries, each 8-byte aligned: length, revision, type, then the blob.
	for len(table) >= 8 {
		l := int(binary.LittleEndian.Uint32(table))
		typ := binary.LittleEndian.Uint16(table[6:])
		if l < 8 || l > len(table) {
			return nil, fmt.Errorf("signature entry of %d bytes in a %d-byte table", l, len(table))
		}
		if typ == 2 { // WIN_CERT_TYPE_PKCS_SIGNED_DATA
			s, err := pkcs7Signers(table[8:l])
			if err != nil {
				return nil, err
			}
			signers = append(signers, s...)
		}
		l = (l + 7) &^ 7
		if l >= len(table) {
			break
		}
		table = table[l:]
	}
	if len(signers) == 0 {
		return nil, ErrUnsigned
	}
	return signers, nil
}

type contentInfo struct {
	Type    asn1.ObjectIdentifier
	Content asn1.RawValue `asn1:"explicit,tag:0"`
}

type signedData struct {
	Version     int
	DigestAlgs  asn1.RawValue
	Content     asn1.RawValue
	Certs       asn1.RawValue `asn1:"optional,tag:0"`
	CRLs        asn1.RawValue `asn1:"optional,tag:1"`
	SignerInfos []signerInfo  `asn1:"set"`
}

type signerInfo struct {
	Version int
	Issuer  issuerAndSerial
	Rest    []asn1.RawValue `asn1:"optional"` // digest algorithm, attributes, signature
}

type issuerAndSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

var oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}

// pkcs7Signers reads the issuer of each SignerInfo of a PKCS #7 SignedData blob.
func pkcs7Signers(der []byte) ([]Signer, error) {
	var ci contentInfo
	if _, err := asn1.Unmarshal(der, &ci); err != nil {
		return nil, fmt.Errorf("reading the signature: %w", err)
	}
	if !ci.Type.Equal(oidSignedData) {
		return nil, fmt.Errorf("signature of type %v, not PKCS #7 signed data", ci.Type)
	}
	var sd signedData
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return nil, fmt.Errorf("reading the signed data: %w", err)
	}
	var out []Signer
	for _, si := range sd.SignerInfos {
		var rdn pkix.RDNSequence
		if _, err := asn1.Unmarshal(si.Issuer.Issuer.FullBytes, &rdn); err != nil {
			return nil, fmt.Errorf("reading the signer's issuer: %w", err)
		}
		var name pkix.Name
		name.FillFromRDNSequence(&rdn)
		issuer := name.CommonName
		if issuer == "" {
			issuer = name.String()
		}
		out = append(out, Signer{Issuer: issuer})
	}
	return out, nil
}
