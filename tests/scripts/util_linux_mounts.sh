#!/bin/sh
# util-linux's mount tools on shared subtrees, in a private mount
# namespace of their own (unshare -m): mount --make-shared / --make-slave
# / --make-private / --make-unbindable, mount --bind and --rbind, findmnt's
# PROPAGATION column, unshare -m --propagation, and nsenter -m into a
# process's mount namespace. The scratch directory is shown as $S.
set -eu
S=$(pwd)
export S
exec unshare -m --propagation private sh -eu <<'INNER'
show() {
	echo "-- $1"
	findmnt -n -R -o TARGET,PROPAGATION,FSTYPE "$S/t" | sed "s#$S#\$S#"
}
mkdir t
mount -t tmpfs none t
mkdir t/a t/b t/s t/u t/u2
mount -t tmpfs none t/a
mount --make-shared t/a
mount --bind t/a t/b
mount --bind t/a t/s
mount --make-slave t/s
mkdir t/a/x t/a/y t/a/z
mount -t tmpfs none t/a/x
mount -t tmpfs none t/b/y
mount -t tmpfs none t/s/z
show "peers and a slave"
umount t/b/x
show "umount of a peer's replica"
mount --make-private t/a
show "make-private"
mount -t tmpfs none t/u
mount --make-unbindable t/u
if mount --bind t/u t/u2 2>/dev/null; then echo "bind of unbindable: ok"; else echo "bind of unbindable: refused"; fi
mount --make-rshared t/b
mkdir t/b/c
mount --rbind t/b t/b/c 2>/dev/null || true
show "rshared and rbind"
findmnt -n -o PROPAGATION "$S/t/u"

# A copy made with unchanged propagation stays a peer of shared mounts.
unshare -m --propagation unchanged sh -c 'mount -t tmpfs none t/b/z && findmnt -n -o PROPAGATION t/b/z'
show "after a copy mounted on its peer"
unshare -m --propagation slave sh -c 'mount -t tmpfs none t/b/x && findmnt -n -o TARGET t/b/x | sed "s#$S#\$S#"'
findmnt -n -o TARGET "$S/t/b/x" || echo "slave copy's mount not seen"

# nsenter into a process's own namespace.
mkfifo ready
unshare -m --propagation private sh -c 'mount -t tmpfs none t/a/x && touch t/a/x/only-there && echo go > ready && exec sleep 30' &
pid=$!
read go < ready
echo "here: $(ls t/a/x)"
echo "there: $(nsenter -t "$pid" -m ls "$S/t/a/x")"
echo "there cwd: $(nsenter -t "$pid" -m pwd)"
kill "$pid"
wait "$pid" || true
umount -l t
echo done
INNER
