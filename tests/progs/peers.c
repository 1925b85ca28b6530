/*
 * Calls about other processes and scheduling attributes: ioprio_get /
 * ioprio_set (defaults, classes and levels, inheritance, process groups),
 * sched_setattr / sched_getattr (sizes, flags, nice, slices, real-time
 * policies), kcmp (every comparison type, ordering, EPOLL_TFD) and
 * process_vm_readv / process_vm_writev (whole and partial transfers,
 * argument checks), with EPERM for a caller of another uid. Real-time
 * policies are only tried in children that exit at once.
 */
#include "common.h"
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define BE(l) ((2 << 13) | (l))
#define WHO_PROCESS 1
#define WHO_PGRP 2

struct k_sched_attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
	uint32_t util_min, util_max;
};

struct k_kcmp_epoll_slot {
	uint32_t efd, tfd;
	uint64_t toff;
};

static void wait_child(const char *what, pid_t p)
{
	int st;
	waitpid(p, &st, 0);
	printf("%s: exited=%d status=%d\n", what, WIFEXITED(st), WEXITSTATUS(st));
}

static void ioprio_checks(void)
{
	T("ioprio_get(self)", SC(SYS_ioprio_get, WHO_PROCESS, 0));
	T("ioprio_set(BE 7)", SC(SYS_ioprio_set, WHO_PROCESS, 0, BE(7)));
	T("ioprio_get(self)", SC(SYS_ioprio_get, WHO_PROCESS, 0));
	T("ioprio_get(getpid())", SC(SYS_ioprio_get, WHO_PROCESS, getpid()));
	T("ioprio_set(BE with hint)", SC(SYS_ioprio_set, WHO_PROCESS, 0, BE((1 << 3) | 2)));
	T("ioprio_get(self)", SC(SYS_ioprio_get, WHO_PROCESS, 0));
	T("ioprio_set(bit 16 | BE)", SC(SYS_ioprio_set, WHO_PROCESS, 0, 0x10000 | BE(0)));
	T("ioprio_get(self)", SC(SYS_ioprio_get, WHO_PROCESS, 0));
	T("ioprio_set(IDLE 7)", SC(SYS_ioprio_set, WHO_PROCESS, 0, (3 << 13) | 7));
	T("ioprio_get(self)", SC(SYS_ioprio_get, WHO_PROCESS, 0));
	T("ioprio_set(class 4)", SC(SYS_ioprio_set, WHO_PROCESS, 0, 4 << 13));
	T("ioprio_set(class 7)", SC(SYS_ioprio_set, WHO_PROCESS, 0, 7 << 13));
	T("ioprio_set(NONE level 1)", SC(SYS_ioprio_set, WHO_PROCESS, 0, 1));
	T("ioprio_set(which 4)", SC(SYS_ioprio_set, 4, 0, BE(0)));
	T("ioprio_get(which 0)", SC(SYS_ioprio_get, 0, 0));
	T("ioprio_get(no such pid)", SC(SYS_ioprio_get, WHO_PROCESS, 999999));
	T("ioprio_set(no such pid)", SC(SYS_ioprio_set, WHO_PROCESS, 999999, BE(0)));
	T("ioprio_set(BE 5)", SC(SYS_ioprio_set, WHO_PROCESS, 0, BE(5)));
	pid_t p = fork();
	if (p == 0) {
		T("child: ioprio_get(self)", SC(SYS_ioprio_get, WHO_PROCESS, 0));
		/* A process group of its own: the best effective priority. */
		setpgid(0, 0);
		T("child: ioprio_get(pgrp)", SC(SYS_ioprio_get, WHO_PGRP, 0));
		T("child: ioprio_set(NONE)", SC(SYS_ioprio_set, WHO_PROCESS, 0, 0));
		T("child: ioprio_get(self)", SC(SYS_ioprio_get, WHO_PROCESS, 0));
		T("child: ioprio_get(pgrp) from nice 0", SC(SYS_ioprio_get, WHO_PGRP, 0));
		SC(SYS_setpriority, 0, 0, 12);
		T("child: ioprio_get(pgrp) from nice 12", SC(SYS_ioprio_get, WHO_PGRP, 0));
		T("child: ioprio_set(pgrp, BE 3)", SC(SYS_ioprio_set, WHO_PGRP, 0, BE(3)));
		T("child: ioprio_get(pgrp)", SC(SYS_ioprio_get, WHO_PGRP, getpid()));
		T("child: ioprio_set(RT 0) as root", SC(SYS_ioprio_set, WHO_PROCESS, 0, 1 << 13));
		T("child: setuid(1000)", SC(SYS_setuid, 1000));
		T("child: ioprio_set(parent)", SC(SYS_ioprio_set, WHO_PROCESS, getppid(), BE(1)));
		T("child: ioprio_set(RT 0) as user", SC(SYS_ioprio_set, WHO_PROCESS, 0, 1 << 13));
		T("child: ioprio_set(IDLE) as user", SC(SYS_ioprio_set, WHO_PROCESS, 0, 3 << 13));
		_exit(0);
	}
	wait_child("ioprio child", p);
	SC(SYS_ioprio_set, WHO_PROCESS, 0, 0);
}

static void show_attr(const char *label, pid_t pid, unsigned size)
{
	union {
		struct k_sched_attr a;
		unsigned char bytes[4200];
	} u;
	struct k_sched_attr a;
	memset(&u, 0xee, sizeof u);
	long r = SC(SYS_sched_getattr, pid, &u, size, 0);
	if (r != 0) {
		printf("%s = -1 %s\n", label, errname(errno));
		return;
	}
	a = u.a;
	int tail_zero = 1;
	for (unsigned i = sizeof a; i < size; i++)
		tail_zero &= u.bytes[i] == 0;
	if (size > sizeof a)
		printf("%s: tail zeroed=%s untouched after=%s\n", label, tail_zero ? "yes" : "no",
		       u.bytes[size] == 0xee ? "yes" : "no");
	printf("%s: size=%u policy=%u flags=%#llx nice=%d prio=%u runtime_set=%s\n", label, a.size,
	       a.policy, (unsigned long long)a.flags, a.nice, a.priority,
	       a.runtime ? "yes" : "no");
}

static long setattr(pid_t pid, uint32_t size, uint32_t policy, uint64_t flags, int nice,
		    uint32_t prio, uint64_t runtime)
{
	struct k_sched_attr a;
	memset(&a, 0, sizeof a);
	a.size = size;
	a.policy = policy;
	a.flags = flags;
	a.nice = nice;
	a.priority = prio;
	a.runtime = runtime;
	return SC(SYS_sched_setattr, pid, &a, 0);
}

static void sched_attr_checks(void)
{
	show_attr("getattr(self, 56)", 0, 56);
	show_attr("getattr(self, 48)", 0, 48);
	show_attr("getattr(self, 128)", 0, 128);
	show_attr("getattr(self, 47)", 0, 47);
	show_attr("getattr(self, 4097)", 0, 4097);
	show_attr("getattr(no such pid)", 999999, 56);
	show_attr("getattr(pid -1)", -1, 56);
	T("getattr(flags 1)", SC(SYS_sched_getattr, 0, &(struct k_sched_attr){ 0 }, 56, 1));
	T("getattr(NULL)", SC(SYS_sched_getattr, 0, NULL, 56, 0));
	T("getattr(BADPTR)", SC(SYS_sched_getattr, 0, BADPTR, 56, 0));
	pid_t p = fork();
	if (p == 0) {
		T("setattr(nice 3)", setattr(0, 56, 0, 0, 3, 0, 0));
		T("getpriority", SC(SYS_getpriority, 0, 0));
		show_attr("after nice 3", 0, 56);
		T("setattr(size 0: first version)", setattr(0, 0, 0, 0, 4, 0, 0));
		T("setattr(size 40)", setattr(0, 40, 0, 0, 4, 0, 0));
		struct k_sched_attr big[2];
		memset(big, 0, sizeof big);
		big[0].size = 72;
		big[0].nice = 4;
		((char *)big)[64] = 1;
		T("setattr(size 72, tail set)", SC(SYS_sched_setattr, 0, big, 0));
		printf("size written back: %u\n", big[0].size);
		big[0].size = 72;
		((char *)big)[64] = 0;
		T("setattr(size 72, tail zero)", SC(SYS_sched_setattr, 0, big, 0));
		big[0].size = 8192;
		T("setattr(size 8192)", SC(SYS_sched_setattr, 0, big, 0));
		printf("size written back: %u\n", big[0].size);
		T("setattr(syscall flags 1)", SC(SYS_sched_setattr, 0, big, 1));
		T("setattr(NULL)", SC(SYS_sched_setattr, 0, NULL, 0));
		T("setattr(BADPTR)", SC(SYS_sched_setattr, 0, BADPTR, 0));
		T("setattr(policy 9)", setattr(0, 56, 9, 0, 0, 0, 0));
		T("setattr(policy -1)", setattr(0, 56, (uint32_t)-1, 0, 0, 0, 0));
		T("setattr(flag 0x100)", setattr(0, 56, 0, 0x100, 0, 0, 0));
		T("setattr(util clamp, size 48)", setattr(0, 48, 0, 0x20, 0, 0, 0));
		T("setattr(NORMAL prio 5)", setattr(0, 56, 0, 0, 0, 5, 0));
		T("setattr(FIFO prio 0)", setattr(0, 56, 1, 0, 0, 0, 0));
		T("setattr(FIFO prio 100)", setattr(0, 56, 1, 0, 0, 100, 0));
		T("setattr(DEADLINE bad)", setattr(0, 56, 6, 0, 0, 0, 1000000));
		T("setattr(slice 5 ms)", setattr(0, 56, 0, 0, 4, 0, 5000000));
		struct k_sched_attr a;
		memset(&a, 0, sizeof a);
		SC(SYS_sched_getattr, 0, &a, sizeof a, 0);
		printf("slice: %llu\n", (unsigned long long)a.runtime);
		T("setattr(slice 1 ns)", setattr(0, 56, 0, 0, 4, 0, 1));
		SC(SYS_sched_getattr, 0, &a, sizeof a, 0);
		printf("slice clamped: %llu\n", (unsigned long long)a.runtime);
		T("setattr(KEEP_PARAMS, BATCH)", setattr(0, 56, 3, 0x10, 19, 0, 0));
		show_attr("after BATCH", 0, 56);
		T("setattr(KEEP_POLICY, nice 2)", setattr(0, 56, 1, 0x08, 2, 0, 0));
		show_attr("after KEEP_POLICY", 0, 56);
		T("setattr(RR 7, reset on fork)", setattr(0, 56, 2, 1, 0, 7, 0));
		show_attr("after RR", 0, 56);
		T("sched_getscheduler", SC(SYS_sched_getscheduler, 0));
		pid_t g = fork();
		if (g == 0) {
			show_attr("grandchild", 0, 56);
			_exit(0);
		}
		waitpid(g, NULL, 0);
		T("setattr(back to NORMAL)", setattr(0, 56, 0, 1, 0, 0, 0));
		T("setuid(1000)", SC(SYS_setuid, 1000));
		T("user: setattr(nice 1)", setattr(0, 56, 0, 1, 1, 0, 0));
		T("user: setattr(drop reset on fork)", setattr(0, 56, 0, 0, 1, 0, 0));
		T("user: setattr(FIFO 1)", setattr(0, 56, 1, 1, 0, 1, 0));
		T("user: setattr(parent)", setattr(getppid(), 56, 0, 0, 0, 0, 0));
		T("user: setattr(nice 10)", setattr(0, 56, 0, 1, 10, 0, 0));
		show_attr("user: after", 0, 56);
		_exit(0);
	}
	wait_child("sched_attr child", p);
}

static void kcmp_checks(void)
{
	int pp[2];
	if (pipe(pp))
		exit(3);
	int fd = pp[0];
	int dupfd = (int)SC(SYS_dup, fd);
	int other = pp[1];
	int ep = (int)SC(SYS_epoll_create1, 0);
	struct epoll_event ev = { EPOLLIN, { 0 } };
	T("epoll_ctl(ADD, fd)", SC(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, fd, &ev));
	T("epoll_ctl(ADD, dup)", SC(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, dupfd, &ev));
	int go[2], done[2];
	if (pipe(go) || pipe(done))
		exit(3);
	pid_t me = getpid();
	pid_t c = fork();
	if (c == 0) {
		char b;
		close(go[1]);
		read(go[0], &b, 1);
		_exit(0);
	}
	T("kcmp(self, self, FILE, fd, dup)", SC(SYS_kcmp, me, me, 0, fd, dupfd));
	long a = SC(SYS_kcmp, me, me, 0, fd, other);
	long b = SC(SYS_kcmp, me, me, 0, other, fd);
	printf("kcmp FILE other: nonzero=%s consistent=%s\n", a ? "yes" : "no",
	       a + b == 3 ? "yes" : "no");
	T("kcmp(self, child, FILE, fd, fd)", SC(SYS_kcmp, me, c, 0, fd, fd));
	T("kcmp(FILE, bad fd)", SC(SYS_kcmp, me, me, 0, fd, 999));
	const char *names[] = { "FILE", "VM", "FILES", "FS", "SIGHAND", "IO", "SYSVSEM" };
	for (int ty = 1; ty <= 6; ty++) {
		char label[64];
		snprintf(label, sizeof label, "kcmp(self, self, %s)", names[ty]);
		T(label, SC(SYS_kcmp, me, me, ty, 0, 0));
	}
	for (int ty = 1; ty <= 4; ty++) {
		long x = SC(SYS_kcmp, me, c, ty, 0, 0);
		long y = SC(SYS_kcmp, c, me, ty, 0, 0);
		printf("kcmp(self, child, %s): differ=%s consistent=%s\n", names[ty],
		       x ? "yes" : "no", x + y == 3 ? "yes" : "no");
	}
	T("kcmp(self, child, SYSVSEM)", SC(SYS_kcmp, me, c, 6, 0, 0));
	struct k_kcmp_epoll_slot slot = { (uint32_t)ep, (uint32_t)fd, 0 };
	T("kcmp(EPOLL_TFD)", SC(SYS_kcmp, me, me, 7, fd, &slot));
	long e = SC(SYS_kcmp, me, me, 7, other, &slot);
	printf("kcmp(EPOLL_TFD, other file): differ=%s\n", e == 1 || e == 2 ? "yes" : "no");
	T("kcmp(EPOLL_TFD, child's view)", SC(SYS_kcmp, c, me, 7, fd, &slot));
	slot.toff = 1;
	T("kcmp(EPOLL_TFD, toff 1)", SC(SYS_kcmp, me, me, 7, fd, &slot));
	slot.tfd = (uint32_t)dupfd;
	slot.toff = 0;
	T("kcmp(EPOLL_TFD, dup's entry)", SC(SYS_kcmp, me, me, 7, fd, &slot));
	slot.tfd = (uint32_t)fd;
	slot.toff = 0;
	slot.tfd = (uint32_t)other;
	T("kcmp(EPOLL_TFD, not watched)", SC(SYS_kcmp, me, me, 7, fd, &slot));
	slot.efd = (uint32_t)fd;
	T("kcmp(EPOLL_TFD, not epoll)", SC(SYS_kcmp, me, me, 7, fd, &slot));
	slot.efd = 999;
	T("kcmp(EPOLL_TFD, bad epoll fd)", SC(SYS_kcmp, me, me, 7, fd, &slot));
	T("kcmp(EPOLL_TFD, BADPTR)", SC(SYS_kcmp, me, me, 7, fd, BADPTR));
	T("kcmp(type 8)", SC(SYS_kcmp, me, me, 8, 0, 0));
	T("kcmp(no such pid)", SC(SYS_kcmp, me, 999999, 1, 0, 0));
	T("kcmp(pid 0)", SC(SYS_kcmp, 0, me, 1, 0, 0));
	pid_t u = fork();
	if (u == 0) {
		SC(SYS_setuid, 1000);
		T("user: kcmp(self, root parent)", SC(SYS_kcmp, getpid(), me, 1, 0, 0));
		T("user: kcmp(self, self)", SC(SYS_kcmp, getpid(), getpid(), 1, 0, 0));
		_exit(0);
	}
	wait_child("kcmp user child", u);
	close(go[1]);
	wait_child("kcmp child", c);
	close(done[0]);
	close(done[1]);
	close(go[0]);
	SC(SYS_close, ep);
	SC(SYS_close, other);
	SC(SYS_close, dupfd);
	SC(SYS_close, fd);
}

static void pvm_checks(void)
{
	long page = sysconf(_SC_PAGESIZE);
	char *area = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *mine = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int ready[2], go[2];
	if (area == MAP_FAILED || mine == MAP_FAILED || pipe(ready) || pipe(go))
		exit(3);
	pid_t c = fork();
	if (c == 0) {
		strcpy(area, "child's bytes");
		memset(area + page, 'x', page);
		munmap(area + 2 * page, page);
		write(ready[1], "r", 1);
		char b;
		read(go[0], &b, 1);
		printf("child sees: %.13s\n", area);
		_exit(0);
	}
	char b;
	read(ready[0], &b, 1);
	struct iovec local = { mine, 13 }, remote = { area, 13 };
	T("process_vm_readv", SC(SYS_process_vm_readv, c, &local, 1, &remote, 1, 0));
	printf("read: %.13s\n", mine);
	memcpy(mine, "PARENT", 6);
	local.iov_len = 6;
	T("process_vm_writev", SC(SYS_process_vm_writev, c, &local, 1, &remote, 1, 0));
	/* Scatter: two local pieces from one remote range. */
	struct iovec two[2] = { { mine + 100, 3 }, { mine + 200, 4 } };
	T("process_vm_readv(2 local)", SC(SYS_process_vm_readv, c, two, 2, &remote, 1, 0));
	printf("pieces: %.3s %.4s\n", mine + 100, mine + 200);
	/* Runs into the unmapped third page: a partial transfer. */
	local.iov_base = mine;
	local.iov_len = 3 * page;
	remote.iov_base = area;
	remote.iov_len = 3 * page;
	long n = SC(SYS_process_vm_readv, c, &local, 1, &remote, 1, 0);
	printf("partial read: pages=%ld\n", n / page);
	remote.iov_base = area + 2 * page;
	remote.iov_len = 16;
	T("process_vm_readv(unmapped)", SC(SYS_process_vm_readv, c, &local, 1, &remote, 1, 0));
	/* A local fault part-way: what fits before it. */
	local.iov_base = mine + 4 * page - 100;
	local.iov_len = 200;
	remote.iov_base = area + page;
	remote.iov_len = 200;
	munmap(mine + 3 * page, page);
	local.iov_base = mine + 3 * page - 100;
	T("process_vm_readv(local runs out)", SC(SYS_process_vm_readv, c, &local, 1, &remote, 1, 0));
	local.iov_base = mine;
	local.iov_len = 8;
	remote.iov_base = area;
	remote.iov_len = 8;
	T("process_vm_readv(flags 1)", SC(SYS_process_vm_readv, c, &local, 1, &remote, 1, 1));
	T("process_vm_readv(no such pid)", SC(SYS_process_vm_readv, 999999, &local, 1, &remote, 1, 0));
	T("process_vm_readv(liovcnt 1025)", SC(SYS_process_vm_readv, c, &local, 1025, &remote, 1, 0));
	T("process_vm_readv(riovcnt 1025)", SC(SYS_process_vm_readv, c, &local, 1, &remote, 1025, 0));
	T("process_vm_readv(local BADPTR)", SC(SYS_process_vm_readv, c, BADPTR, 1, &remote, 1, 0));
	T("process_vm_readv(remote BADPTR)", SC(SYS_process_vm_readv, c, &local, 1, BADPTR, 1, 0));
	local.iov_len = 0;
	T("process_vm_readv(empty, no such pid)",
	  SC(SYS_process_vm_readv, 999999, &local, 1, &remote, 1, 0));
	local.iov_len = 8;
	remote.iov_len = 0;
	T("process_vm_readv(empty remote, no such pid)",
	  SC(SYS_process_vm_readv, 999999, &local, 1, &remote, 1, 0));
	remote.iov_len = 8;
	local.iov_len = (size_t)-1;
	T("process_vm_readv(negative length)", SC(SYS_process_vm_readv, c, &local, 1, &remote, 1, 0));
	local.iov_len = 8;
	T("process_vm_readv(self)", SC(SYS_process_vm_readv, getpid(), &local, 1, &local, 1, 0));
	pid_t me = getpid();
	pid_t u = fork();
	if (u == 0) {
		SC(SYS_setuid, 1000);
		T("user: process_vm_readv(root)", SC(SYS_process_vm_readv, me, &local, 1, &remote, 1, 0));
		_exit(0);
	}
	wait_child("pvm user child", u);
	write(go[1], "g", 1);
	wait_child("pvm child", c);
}

int main(int argc, char **argv)
{
	setup(argc, argv, "peers");
	ioprio_checks();
	sched_attr_checks();
	kcmp_checks();
	pvm_checks();
	printf("done\n");
	return 0;
}
