#!/bin/sh
# The stock NFS server the benchmarks compare sharecd with: nfs-ganesha (VFS FSAL) exporting DIR
# read-only as NFSv3 at /sharecd on ADDR, with an rpcbind of its own. Run it inside a network
# namespace (ip netns exec NS bench/ganesha.sh ADDR DIR); it serves until it gets TERM or INT.
# bench/nfs.sh and the boot benchmark (e2e/bootbench_test.go) both start it this way.
set -eu
[ $# = 2 ] || { echo "usage: ganesha.sh ADDR DIR" >&2; exit 2; }
addr=$1 dir=$2
# ganesha registers with rpcbind over /run/rpcbind.sock, one file for every namespace: a /run of
# this mount namespace's own (ip netns exec made one) keeps both off the host's.
mount -t tmpfs tmpfs /run
mkdir -p /run/ganesha
cat > /run/ganesha/ganesha.conf <<CONF
NFS_CORE_PARAM { Protocols = 3; Mount_Path_Pseudo = true; Bind_addr = $addr; }
NFSV4 { Graceless = true; }
LOG { Default_Log_Level = WARN; }
EXPORT {
  Export_Id = 1; Path = "$dir"; Pseudo = /sharecd; Access_Type = RO; Squash = No_Root_Squash;
  SecType = sys; Protocols = 3; Transports = TCP, UDP; FSAL { Name = VFS; }
}
CONF
rpcbind -f -w & rp=$!
ganesha.nfsd -F -L /dev/stderr -f /run/ganesha/ganesha.conf -p /run/ganesha.pid & gp=$!
trap 'kill $gp $rp; wait; exit 0' TERM INT
# If ganesha ends on its own (a bad config), rpcbind goes with it.
st=0; wait $gp || st=$?
kill $rp; wait
exit $st
