module github.com/sharecd/sharecd

go 1.26.8

require (
	github.com/go-git/go-billy/v5 v5.9.2
	github.com/insomniacslk/dhcp v0.0.0-20260901064844-234b97448fae
	github.com/pin/tftp/v3 v3.2.0
	github.com/vishvananda/netlink v1.3.1
	github.com/willscott/go-nfs v0.0.4
	golang.org/x/sync v0.24.0
	golang.org/x/sys v0.46.0
)

require (
	github.com/josharian/native v1.1.0 // indirect
	github.com/pierrec/lz4/v4 v4.1.26 // indirect
	github.com/rasky/go-xdr v0.0.0-20170124162913-1a41d1a06c93 // indirect
	github.com/u-root/uio v0.0.0-20230220225925-ffce2a382923 // indirect
	github.com/vishvananda/netns v0.0.5 // indirect
	github.com/willscott/go-nfs-client v0.0.0-20240104095149-b44639837b00 // indirect
	golang.org/x/net v0.56.0 // indirect
)
