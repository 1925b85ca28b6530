#!/bin/sh
# util-linux's ipcmk, ipcs and ipcrm on System V IPC objects, in a new IPC
# namespace of their own (unshare --ipc; run as root), so that running
# natively never touches the host's objects. In a fresh namespace the ids
# are the same every time (the first of each kind is 0); keys (random),
# pids and times are replaced by their shape.
set -u
if [ -z "${SYSV_IPC_NS:-}" ]; then
	SYSV_IPC_NS=1 exec unshare --ipc /bin/sh "$0" "$@"
fi

norm() {
	sed -E -e 's/0x[0-9a-f]{8}/<key>/g' \
		-e 's/[A-Z][a-z]{2} [A-Z][a-z]{2} +[0-9]+ [0-9:]{8} [0-9]{4}/<date>/g' \
		-e 's/[A-Z][a-z]{2} +[0-9]+ [0-9:]{8}/<date>/g'
}

echo "== empty"
ipcs
echo "status $?"
echo "== limits"
ipcs -l
echo "== make"
M=$(ipcmk -M 8192 -p 0640 | sed -n 's/^Shared memory id: //p')
Q=$(ipcmk -Q | sed -n 's/^Message queue id: //p')
S=$(ipcmk -S 3 -p 0600 | sed -n 's/^Semaphore id: //p')
echo "made: shm $M, queue $Q, sems $S"
ipcs | norm
echo "== summary"
ipcs -u | norm
echo "== details"
ipcs -m -i "$M" | norm | sed -E 's/cpid=[0-9]+/cpid=<pid>/'
ipcs -q -i "$Q" | norm
ipcs -s -i "$S" | norm
echo "== creators, times, pids"
ipcs -c | norm
ipcs -t -m | norm
ipcs -p -q | norm
echo "== sysvipc files"
for f in shm sem msg; do
	echo "$f: $(($(wc -l </proc/sysvipc/$f) - 1)) objects"
done
echo "== remove"
ipcrm -m "$M"; echo "ipcrm -m: $?"
ipcrm -q "$Q"; echo "ipcrm -q: $?"
ipcrm -s "$S"; echo "ipcrm -s: $?"
ipcrm -m "$M" 2>&1; echo "ipcrm -m again: $?"
ipcrm -M 0x12345678 2>&1; echo "ipcrm -M unknown key: $?"
ipcmk -M 4096 >/dev/null
ipcmk -Q >/dev/null
ipcmk -S 1 >/dev/null
echo "made again:"
ipcs | norm
ipcrm -a; echo "ipcrm -a: $?"
ipcs | norm
