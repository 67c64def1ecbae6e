package netboot

import "testing"

func TestBoundsFor(t *testing.T) {
	tests := []struct {
		nofile uint64
		want   serverBounds
	}{
		{0, serverBounds{}},       // unknown: defaults
		{1 << 20, serverBounds{}}, // systemd's hard limit: defaults
		{4096, serverBounds{}},    // enough for the defaults and the reserve
		{1024, serverBounds{NFS: 292, Portmap: 36, HTTP: 146, TFTP: 73}},
		{256, serverBounds{NFS: 73, Portmap: 9, HTTP: 36, TFTP: 18}},
		{16, serverBounds{NFS: 1, Portmap: 1, HTTP: 1, TFTP: 1}}, // nothing left: one of each still
	}
	for _, tt := range tests {
		got := boundsFor(tt.nofile)
		if got != tt.want {
			t.Errorf("boundsFor(%d) = %+v, want %+v", tt.nofile, got, tt.want)
		}
		if got == (serverBounds{}) {
			continue
		}
		// What the bounds hold must fit the limit, with the reserve left over.
		fds := got.NFS + got.Portmap + 2*got.HTTP + 2*got.TFTP
		if tt.nofile > 64 && uint64(fds) > tt.nofile*3/4 {
			t.Errorf("boundsFor(%d) holds %d descriptors, more than three quarters of the limit", tt.nofile, fds)
		}
	}
}
