#!/bin/sh
# procps and psmisc reading /proc: ps, free, uptime, vmstat, top, pstree,
# pgrep, pidof. Their values differ between the host and a sandbox (other
# processes, memory in use, times), so this prints shapes: headers, field
# counts, sums that must add up, and the rows of the script's own
# processes with their numbers left out.
set -u

num() { sed -E 's/[0-9]+(\.[0-9]+)?/N/g'; }

sleep 60 &
S=$!

echo "== ps -eo pid,user,stat,comm"
ps -eo pid,user,stat,comm >ps.out
echo "status $?"
head -n 1 ps.out
# Every row: a pid, a user, a state, a command (which may hold spaces).
awk 'NR > 1 && !($1 ~ /^[0-9]+$/ && $3 ~ /^[RSDTtZIXWPK][<NLslu+]*$/ && NF >= 4) { print "odd row: " $0 }' ps.out
awk -v me=$$ -v s=$S 'NR > 1 && ($1 == me || $1 == s) { print $2, $4 }' ps.out | sort
echo "== ps -o pid,ppid,user,nlwp,vsz,rss,tty,etime,args -p"
ps -o pid,ppid,user,nlwp,vsz,rss,tty,etime,args -p $S >ps1.out
echo "status $?"
head -n 1 ps1.out
awk -v me=$$ -v s=$S 'NR == 2 { print ($1 == s), ($2 == me), $3, $4, ($5 > 0), ($6 > 0), $7, $9, $10 }' ps1.out
echo "== ps aux"
ps aux >aux.out
echo "status $?"
head -n 1 aux.out
awk -v s=$S '$2 == s { print $1, NF, $11, $12 }' aux.out

echo "== free"
free >free.out
echo "status $?"
head -n 1 free.out
awk 'NR > 1 { print $1, NF }' free.out
# used = total - available (procps 4), and the total is meminfo's.
free -k | awk '$1 == "Mem:" { print "adds up:", ($2 == $3 + $7) ? "yes" : "no" }'
total=$(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo)
free -k | awk -v t="$total" '$1 == "Mem:" { print "total is MemTotal:", ($2 == t) ? "yes" : "no" }'

echo "== uptime"
uptime | sed -E 's/^ [0-9]{2}:[0-9]{2}:[0-9]{2} up .*[0-9]+ users?, +load average: [0-9]+\.[0-9]{2}, [0-9]+\.[0-9]{2}, [0-9]+\.[0-9]{2}$/shape ok/'
uptime -p | sed -E 's/^up .*/shape ok/'

echo "== vmstat"
vmstat >vm.out
echo "status $?"
head -n 2 vm.out
awk 'NR == 3 { print NF, "fields" }' vm.out
vmstat -s >vms.out
echo "status $?"
sed -E 's/^ *[0-9]+ //' vms.out | head -n 10

echo "== top"
top -bn1 >top.out
echo "status $?"
awk 'NR <= 5 { print $1 }' top.out
sed -n 7p top.out | sed -E 's/ +/ /g; s/^ //'
awk -v s=$S '$1 == s { print $2, $12 }' top.out

echo "== pstree"
pstree -p $$ >tree.out
echo "status $?"
num <tree.out | sed -E 's/^ +/ /'
pstree $$

echo "== pgrep, pidof"
pgrep -x sleep | grep -qx "$S" && echo "pgrep finds the sleep"
pgrep -u root -x sleep | grep -qx "$S" && echo "pgrep -u root finds it"
pidof sleep | tr ' ' '\n' | grep -qx "$S" && echo "pidof finds it"

kill $S
wait $S
echo "sleep killed: $?"
