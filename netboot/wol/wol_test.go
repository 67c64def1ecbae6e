package wol

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"testing"
)

func mustMAC(t *testing.T, s string) net.HardwareAddr {
	t.Helper()
	m, err := net.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMagicPacket checks the bytes against packets written out by hand from the white paper's
// layout (sync stream, MAC ×16, SecureOn password), not against the function's own loop.
func TestMagicPacket(t *testing.T) {
	const mac = "525400123456"
	sixteen := strings.Repeat(mac, 16)
	for _, tc := range []struct {
		name     string
		mac      string
		password []byte
		want     string // hex; "" = an error
		err      error
	}{
		{name: "plain", mac: "52:54:00:12:34:56", want: "ffffffffffff" + sixteen},
		{name: "dashes", mac: "52-54-00-12-34-56", want: "ffffffffffff" + sixteen},
		{name: "4-byte SecureOn", mac: "52:54:00:12:34:56", password: []byte{192, 168, 1, 2}, want: "ffffffffffff" + sixteen + "c0a80102"},
		{name: "6-byte SecureOn", mac: "52:54:00:12:34:56", password: []byte{1, 2, 3, 4, 5, 6}, want: "ffffffffffff" + sixteen + "010203040506"},
		{name: "5-byte SecureOn", mac: "52:54:00:12:34:56", password: []byte{1, 2, 3, 4, 5}, err: ErrBadPass},
		{name: "EUI-64", mac: "52:54:00:ff:fe:12:34:56", err: ErrBadMAC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MagicPacket(mustMAC(t, tc.mac), tc.password)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, _ := hex.DecodeString(tc.want)
			if !bytes.Equal(got, want) {
				t.Errorf("got  %x\nwant %x", got, want)
			}
			if n := 102 + len(tc.password); len(got) != n {
				t.Errorf("%d bytes, want %d", len(got), n)
			}
		})
	}
	if _, err := MagicPacket(nil, nil); !errors.Is(err, ErrBadMAC) {
		t.Errorf("nil MAC: %v", err)
	}
}

func TestParseMACs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // nil = an error naming bad
		bad  string
	}{
		{in: "52:54:00:12:34:56", want: []string{"52:54:00:12:34:56"}},
		{in: "52:54:00:12:34:56,52-54-00-AB-CD-EF", want: []string{"52:54:00:12:34:56", "52:54:00:ab:cd:ef"}},
		{in: "52:54:00:12:34:56, 5254.00ab.cdef", want: []string{"52:54:00:12:34:56", "52:54:00:ab:cd:ef"}},
		{in: "52:54:00:12:34", bad: `"52:54:00:12:34"`},
		{in: "52:54:00:12:34:56,", bad: `""`},
		{in: "ff:ff:ff:ff:ff:ff", bad: `"ff:ff:ff:ff:ff:ff"`}, // broadcast names no machine
		{in: "01:00:5e:00:00:01", bad: `"01:00:5e:00:00:01"`}, // multicast neither
		{in: "52:54:00:ff:fe:12:34:56", bad: `"52:54:00:ff:fe:12:34:56"`},
		{in: "all", bad: `"all"`},
	} {
		got, err := ParseMACs(tc.in)
		if tc.want == nil {
			if !errors.Is(err, ErrBadMAC) || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("ParseMACs(%q) = %v, %v; want ErrBadMAC naming %s", tc.in, got, err, tc.bad)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseMACs(%q): %v", tc.in, err)
			continue
		}
		var s []string
		for _, m := range got {
			s = append(s, m.String())
		}
		if strings.Join(s, " ") != strings.Join(tc.want, " ") {
			t.Errorf("ParseMACs(%q) = %q, want %q", tc.in, s, tc.want)
		}
	}
}

// TestWakeRefusesBeforeSending: the checks that need no socket, each one line.
func TestWakeRefusesBeforeSending(t *testing.T) {
	good := mustMAC(t, "52:54:00:12:34:56")
	for _, tc := range []struct {
		name string
		s    Sender
		macs []net.HardwareAddr
		want error
		text string
	}{
		{"no such interface", Sender{Iface: "sharecd-test-no-such-iface"}, []net.HardwareAddr{good}, ErrNoIface, "interface sharecd-test-no-such-iface: no such network interface"},
		{"loopback", Sender{Iface: "lo"}, []net.HardwareAddr{good}, ErrNotEther, "interface lo is not an Ethernet interface"},
		{"bad MAC, checked before the interface", Sender{Iface: "sharecd-test-no-such-iface"}, []net.HardwareAddr{good, {1, 2, 3}}, ErrBadMAC, "not an Ethernet MAC"},
		{"bad password", Sender{Iface: "lo", Password: []byte{1}}, []net.HardwareAddr{good}, ErrBadPass, "4 or 6 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := (&Sender{Iface: tc.s.Iface, Password: tc.s.Password}).Wake(tc.macs...)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Wake: %v, want %v saying %q on one line", err, tc.want, tc.text)
			}
		})
	}
	if err := (&Sender{Iface: "lo"}).Wake(); err == nil {
		t.Error("Wake with no MAC succeeded")
	}
}
