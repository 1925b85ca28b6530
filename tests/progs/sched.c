/*
 * Scheduling and resources: getpriority / setpriority, the sched_*
 * policy and parameter calls, sched_setaffinity with getcpu, getrusage
 * and times (CPU time after a busy loop, a reaped child's usage,
 * ru_maxrss), pidfd_open / pidfd_send_signal / poll on a pidfd, and
 * clone3 (plain, with CLONE_PIDFD, and its argument checks) and clone
 * with CLONE_PIDFD.
 *
 * Values that depend on the machine (CPU numbers, times) are printed as
 * comparisons with generous margins. Real-time policies are only probed
 * with invalid arguments: a container may refuse them even to root.
 */
#include "common.h"
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <time.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#define K_CLONE_PIDFD 0x1000
#define K_CLONE_PARENT_SETTID 0x100000
#define K_SCHED_BATCH 3
#define K_SCHED_IDLE 5
#define K_SCHED_RESET_ON_FORK 0x40000000

struct k_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
		cgroup;
};

static void describe_status(const char *what, int st)
{
	if (WIFEXITED(st))
		printf("%s: exited %d\n", what, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		printf("%s: killed by signal %d\n", what, WTERMSIG(st));
	else
		printf("%s: status %#x\n", what, st);
}

static void reap(pid_t p, const char *what)
{
	int st = 0;
	if (waitpid(p, &st, 0) != p)
		printf("%s: waitpid failed: %s\n", what, errname(errno));
	else
		describe_status(what, st);
}

static long long now_ns(clockid_t c)
{
	struct timespec t;
	clock_gettime(c, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static volatile unsigned long sink;

/* Burns `ms` of this process's CPU time (at most 10 s of wall time). */
static void burn(long ms)
{
	long long start = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	long long end = now_ns(CLOCK_MONOTONIC) + 10000000000LL;
	while (now_ns(CLOCK_PROCESS_CPUTIME_ID) - start < ms * 1000000LL && now_ns(CLOCK_MONOTONIC) < end)
		for (int i = 0; i < 100000; i++)
			sink += (unsigned long)i;
}

static long long ru_ms(const struct rusage *r)
{
	return ((long long)r->ru_utime.tv_sec + r->ru_stime.tv_sec) * 1000 +
	       (r->ru_utime.tv_usec + r->ru_stime.tv_usec) / 1000;
}

static void nice_child(void)
{
	T("setpriority(PROCESS, 0, 10)", SC(SYS_setpriority, (long)PRIO_PROCESS, 0L, 10L));
	T("getpriority(PROCESS, 0) (raw: 20 - nice)", SC(SYS_getpriority, (long)PRIO_PROCESS, 0L));
	T("getpriority(PROCESS, getpid())", SC(SYS_getpriority, (long)PRIO_PROCESS, (long)getpid()));
	T("setpriority(PROCESS, 0, 100) (clamped to 19)", SC(SYS_setpriority, (long)PRIO_PROCESS, 0L, 100L));
	T("getpriority(PROCESS, 0)", SC(SYS_getpriority, (long)PRIO_PROCESS, 0L));
	T("setpriority(PROCESS, 0, 12)", SC(SYS_setpriority, (long)PRIO_PROCESS, 0L, 12L));
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		T("  forked child: getpriority(PROCESS, 0)", SC(SYS_getpriority, (long)PRIO_PROCESS, 0L));
		fflush(stdout);
		_exit(0);
	}
	reap(c, "  forked child");
	T("setpgid(0, 0)", SC(SYS_setpgid, 0L, 0L));
	T("getpriority(PGRP, 0)", SC(SYS_getpriority, (long)PRIO_PGRP, 0L));
	T("setpriority(PGRP, 0, 15)", SC(SYS_setpriority, (long)PRIO_PGRP, 0L, 15L));
	T("getpriority(PROCESS, 0)", SC(SYS_getpriority, (long)PRIO_PROCESS, 0L));
	T("getpriority(3, 0)", SC(SYS_getpriority, 3L, 0L));
	T("getpriority(PROCESS, no such pid)", SC(SYS_getpriority, (long)PRIO_PROCESS, 0x3fffffffL));
	T("setpriority(PGRP, no such group, 0)", SC(SYS_setpriority, (long)PRIO_PGRP, 0x3fffffffL, 0L));
	T("setpriority(-1, 0, 0)", SC(SYS_setpriority, -1L, 0L, 0L));
	T("setpriority(PROCESS, 0, 5) (lower nice)", SC(SYS_setpriority, (long)PRIO_PROCESS, 0L, 5L));
	T("setuid(1000)", geteuid() == 0 ? SC(SYS_setuid, 1000L) : 0);
	T("setpriority(PROCESS, 0, 19)", SC(SYS_setpriority, (long)PRIO_PROCESS, 0L, 19L));
	T("setpriority(PROCESS, 0, 10) (lower nice, unprivileged)", SC(SYS_setpriority, (long)PRIO_PROCESS, 0L, 10L));
	T("getpriority(PROCESS, 0)", SC(SYS_getpriority, (long)PRIO_PROCESS, 0L));
}

static void test_nice(void)
{
	printf("-- getpriority / setpriority (in a child)\n");
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		nice_child();
		fflush(stdout);
		_exit(0);
	}
	reap(c, "child");
}

static struct sched_param *prio(int p)
{
	static struct sched_param sp;
	memset(&sp, 0, sizeof sp);
	sp.sched_priority = p;
	return &sp;
}

static void policy_child(void)
{
	struct sched_param sp = { 0 };
	T("sched_getscheduler(0)", SC(SYS_sched_getscheduler, 0L));
	T("sched_getparam(0)", SC(SYS_sched_getparam, 0L, &sp));
	printf("  priority: %d\n", sp.sched_priority);
	T("sched_setscheduler(0, BATCH, 0)", SC(SYS_sched_setscheduler, 0L, (long)K_SCHED_BATCH, &sp));
	T("sched_getscheduler(getpid())", SC(SYS_sched_getscheduler, (long)getpid()));
	T("sched_setparam(0, 0)", SC(SYS_sched_setparam, 0L, &sp));
	sp.sched_priority = 5;
	T("sched_setparam(0, 5) (not real-time)", SC(SYS_sched_setparam, 0L, &sp));
	T("sched_setscheduler(0, FIFO, 100)", SC(SYS_sched_setscheduler, 0L, (long)SCHED_FIFO, prio(100)));
	T("sched_setscheduler(0, FIFO, 0)", SC(SYS_sched_setscheduler, 0L, (long)SCHED_FIFO, prio(0)));
	T("sched_setscheduler(0, OTHER, 1)", SC(SYS_sched_setscheduler, 0L, (long)SCHED_OTHER, prio(1)));
	sp.sched_priority = 0;
	T("sched_setscheduler(0, 4, 0)", SC(SYS_sched_setscheduler, 0L, 4L, &sp));
	T("sched_setscheduler(0, -1, 0)", SC(SYS_sched_setscheduler, 0L, -1L, &sp));
	T("sched_setscheduler(0, DEADLINE, 0)", SC(SYS_sched_setscheduler, 0L, 6L, &sp));
	T("sched_setscheduler(0, OTHER, NULL)", SC(SYS_sched_setscheduler, 0L, (long)SCHED_OTHER, NULL));
	T("sched_setscheduler(0, OTHER, BADPTR)", SC(SYS_sched_setscheduler, 0L, (long)SCHED_OTHER, BADPTR));
	T("sched_setscheduler(-1, OTHER, 0)", SC(SYS_sched_setscheduler, -1L, (long)SCHED_OTHER, &sp));
	T("sched_setscheduler(no such pid, OTHER, 0)", SC(SYS_sched_setscheduler, 0x3fffffffL, (long)SCHED_OTHER, &sp));
	T("sched_getscheduler(-1)", SC(SYS_sched_getscheduler, -1L));
	T("sched_getscheduler(no such pid)", SC(SYS_sched_getscheduler, 0x3fffffffL));
	T("sched_getparam(0, NULL)", SC(SYS_sched_getparam, 0L, NULL));
	T("sched_getparam(0, BADPTR)", SC(SYS_sched_getparam, 0L, BADPTR));
	T("sched_setscheduler(0, IDLE|RESET_ON_FORK, 0)",
	  SC(SYS_sched_setscheduler, 0L, (long)(K_SCHED_IDLE | K_SCHED_RESET_ON_FORK), &sp));
	T("sched_getscheduler(0)", SC(SYS_sched_getscheduler, 0L));
	T("sched_setscheduler(0, OTHER, 0)", SC(SYS_sched_setscheduler, 0L, (long)SCHED_OTHER, &sp));
	T("sched_getscheduler(0)", SC(SYS_sched_getscheduler, 0L));
	T("sched_setscheduler(0, IDLE, 0)", SC(SYS_sched_setscheduler, 0L, (long)K_SCHED_IDLE, &sp));
	if (geteuid() == 0)
		T("setuid(1000)", SC(SYS_setuid, 1000L));
	T("sched_setscheduler(0, OTHER, 0) (leaving IDLE, unprivileged)",
	  SC(SYS_sched_setscheduler, 0L, (long)SCHED_OTHER, &sp));
	T("sched_setscheduler(0, BATCH, 0)", SC(SYS_sched_setscheduler, 0L, (long)K_SCHED_BATCH, &sp));
	T("sched_setscheduler(0, RR, 1) (unprivileged)", SC(SYS_sched_setscheduler, 0L, (long)SCHED_RR, prio(1)));
	T("sched_setscheduler(1, BATCH, 0) (another user's)", SC(SYS_sched_setscheduler, 1L, (long)K_SCHED_BATCH, &sp));
}

static void test_policies(void)
{
	printf("-- scheduling policies\n");
	static const int pol[] = { SCHED_OTHER, SCHED_FIFO, SCHED_RR, K_SCHED_BATCH, K_SCHED_IDLE, 6, 4, -1 };
	for (unsigned i = 0; i < sizeof pol / sizeof pol[0]; i++) {
		long mx = SC(SYS_sched_get_priority_max, (long)pol[i]);
		int e1 = errno;
		long mn = SC(SYS_sched_get_priority_min, (long)pol[i]);
		int e2 = errno;
		printf("policy %d: max=%ld%s min=%ld%s\n", pol[i], mx, mx < 0 ? errname(e1) : "", mn,
		       mn < 0 ? errname(e2) : "");
	}
	T("sched_yield", SC(SYS_sched_yield));
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		policy_child();
		fflush(stdout);
		_exit(0);
	}
	reap(c, "child");
}

static void test_affinity(void)
{
	printf("-- affinity and getcpu\n");
	unsigned char mask[128], got[128];
	memset(mask, 0, sizeof mask);
	long n = SC(SYS_sched_getaffinity, 0L, (long)sizeof mask, mask);
	check("sched_getaffinity > 0", n > 0);
	int first = -1, count = 0;
	for (long i = 0; i < n * 8; i++)
		if (mask[i / 8] & (1 << (i % 8))) {
			if (first < 0)
				first = (int)i;
			count++;
		}
	unsigned cpu = 9999, node = 9999;
	T("getcpu(&cpu, &node)", SC(SYS_getcpu, &cpu, &node, NULL));
	check("  cpu in the mask", cpu < (unsigned)n * 8 && (mask[cpu / 8] & (1 << (cpu % 8))));
	printf("  node: %u\n", node);
	T("getcpu(NULL, NULL)", SC(SYS_getcpu, NULL, NULL, NULL));
	T("getcpu(BADPTR, NULL)", SC(SYS_getcpu, BADPTR, NULL, NULL));
	T("getcpu(NULL, BADPTR)", SC(SYS_getcpu, NULL, BADPTR, NULL));

	unsigned char one[128];
	memset(one, 0, sizeof one);
	one[first / 8] = (unsigned char)(1 << (first % 8));
	T("sched_setaffinity(0, the first CPU)", SC(SYS_sched_setaffinity, 0L, (long)n, one));
	memset(got, 0, sizeof got);
	SC(SYS_sched_getaffinity, 0L, (long)sizeof got, got);
	check("  sched_getaffinity gives it back", memcmp(got, one, sizeof one) == 0);
	cpu = 9999;
	SC(SYS_getcpu, &cpu, NULL, NULL);
	check("  getcpu is that CPU", (int)cpu == first);
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		unsigned char m[128];
		memset(m, 0, sizeof m);
		SC(SYS_sched_getaffinity, 0L, (long)sizeof m, m);
		_exit(memcmp(m, one, sizeof one) == 0 ? 0 : 1);
	}
	reap(c, "child inherits the mask");
	T("sched_setaffinity(0, everything)", SC(SYS_sched_setaffinity, 0L, (long)n, mask));
	memset(got, 0, sizeof got);
	SC(SYS_sched_getaffinity, 0L, (long)sizeof got, got);
	int again = 0;
	for (long i = 0; i < n; i++)
		again += __builtin_popcount(got[i]);
	check("  all CPUs back", again == count);
	unsigned char none[128];
	memset(none, 0, sizeof none);
	T("sched_setaffinity(0, no CPU)", SC(SYS_sched_setaffinity, 0L, (long)n, none));
	none[127] = 0x80;
	T("sched_setaffinity(0, CPU 1023 only)", SC(SYS_sched_setaffinity, 0L, 128L, none));
	T("sched_setaffinity(0, BADPTR)", SC(SYS_sched_setaffinity, 0L, (long)n, BADPTR));
	T("sched_setaffinity(no such pid)", SC(SYS_sched_setaffinity, 0x3fffffffL, (long)n, mask));
}

static void test_rusage(void)
{
	printf("-- getrusage and times\n");
	struct rusage r;
	burn(150);
	T("getrusage(SELF)", SC(SYS_getrusage, (long)RUSAGE_SELF, &r));
	check("  user + system >= 100 ms", ru_ms(&r) >= 100);
	check("  maxrss > 0", r.ru_maxrss > 0);
	long rss0 = r.ru_maxrss;
	T("getrusage(THREAD)", SC(SYS_getrusage, 1L, &r));
	check("  user + system >= 100 ms", ru_ms(&r) >= 100);
	/* Touch 64 MiB: ru_maxrss (a high-water mark, which earlier work may
	 * have raised) grows by at least 8 MiB. */
	size_t len = 64 << 20;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (size_t i = 0; i < len; i += 4096)
		p[i] = 1;
	SC(SYS_getrusage, (long)RUSAGE_SELF, &r);
	check("  maxrss grew by >= 8 MiB after touching 64 MiB", r.ru_maxrss - rss0 >= 8192);
	munmap(p, len);
	T("getrusage(2)", SC(SYS_getrusage, 2L, &r));
	T("getrusage(SELF, BADPTR)", SC(SYS_getrusage, (long)RUSAGE_SELF, BADPTR));

	struct tms t0, t1;
	long c0 = SC(SYS_times, &t0);
	check("times() > 0", c0 > 0);
	check("  tms_utime + tms_stime >= 10 ticks", t0.tms_utime + t0.tms_stime >= 10);
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		burn(150);
		_exit(3);
	}
	struct rusage cr;
	int st = 0;
	pid_t w = (pid_t)SC(SYS_wait4, (long)c, &st, 0L, &cr);
	check("wait4 reaped it", w == c);
	describe_status("child", st);
	check("  wait4's rusage: >= 100 ms", ru_ms(&cr) >= 100);
	SC(SYS_getrusage, (long)RUSAGE_CHILDREN, &r);
	check("getrusage(CHILDREN) >= 100 ms", ru_ms(&r) >= 100);
	long c1 = SC(SYS_times, &t1);
	check("times: the clock moved forward", c1 >= c0);
	check("  children's ticks >= 10", t1.tms_cutime + t1.tms_cstime >= 10);
	T("times(BADPTR)", SC(SYS_times, BADPTR));
}

static void test_pidfd(void)
{
	printf("-- pidfd\n");
	int p[2];
	if (pipe(p) != 0)
		exit(3);
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		close(p[1]);
		char b;
		while (read(p[0], &b, 1) > 0)
			;
		_exit(0);
	}
	close(p[0]);
	int fd = (int)SC(SYS_pidfd_open, (long)c, 0L);
	check("pidfd_open(child) >= 0", fd >= 0);
	check("  close-on-exec", (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
	struct pollfd pf = { fd, POLLIN, 0 };
	T("poll(pidfd, 0 ms) (running)", poll(&pf, 1, 0));
	char buf[8];
	T("read(pidfd)", SC(SYS_read, fd, buf, 8L));
	T("pidfd_send_signal(fd, 0)", SC(SYS_pidfd_send_signal, (long)fd, 0L, NULL, 0L));
	T("pidfd_send_signal(fd, SIGTERM, NULL, 8) (bad flags)", SC(SYS_pidfd_send_signal, (long)fd, (long)SIGTERM, NULL, 8L));
	T("pidfd_send_signal(pipe, SIGTERM)", SC(SYS_pidfd_send_signal, (long)p[1], (long)SIGTERM, NULL, 0L));
	T("pidfd_send_signal(BADFD, SIGTERM)", SC(SYS_pidfd_send_signal, (long)BADFD, (long)SIGTERM, NULL, 0L));
	T("pidfd_send_signal(fd, 65)", SC(SYS_pidfd_send_signal, (long)fd, 65L, NULL, 0L));
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = SIGTERM;
	si.si_code = SI_USER;
	T("pidfd_send_signal(fd, SIGTERM, forged SI_USER)", SC(SYS_pidfd_send_signal, (long)fd, (long)SIGTERM, &si, 0L));
	si.si_code = SI_QUEUE;
	T("pidfd_send_signal(fd, SIGUSR1, info for SIGTERM)", SC(SYS_pidfd_send_signal, (long)fd, (long)SIGUSR1, &si, 0L));
	T("pidfd_send_signal(fd, SIGTERM, SI_QUEUE)", SC(SYS_pidfd_send_signal, (long)fd, (long)SIGTERM, &si, 0L));
	pf.revents = 0;
	T("poll(pidfd, 5 s)", poll(&pf, 1, 5000));
	printf("  revents: %s\n", pf.revents == POLLIN ? "POLLIN" : "other");
	T("pidfd_send_signal(fd, SIGTERM) (a zombie)", SC(SYS_pidfd_send_signal, (long)fd, (long)SIGTERM, NULL, 0L));
	reap(c, "child");
	pf.revents = 0;
	T("poll(pidfd) (reaped)", poll(&pf, 1, 0));
	printf("  revents: %s\n", pf.revents == (POLLIN | POLLHUP) ? "POLLIN|POLLHUP" : "other");
	T("pidfd_send_signal(fd, SIGTERM) (reaped)", SC(SYS_pidfd_send_signal, (long)fd, (long)SIGTERM, NULL, 0L));
	close(fd);
	close(p[1]);
	T("pidfd_open(child, 0) (reaped)", SC(SYS_pidfd_open, (long)c, 0L));
	T("pidfd_open(0, 0)", SC(SYS_pidfd_open, 0L, 0L));
	T("pidfd_open(-1, 0)", SC(SYS_pidfd_open, -1L, 0L));
	T("pidfd_open(self, 1)", SC(SYS_pidfd_open, (long)getpid(), 1L));
	fd = (int)SC(SYS_pidfd_open, (long)getpid(), (long)O_NONBLOCK);
	check("pidfd_open(self, PIDFD_NONBLOCK) >= 0", fd >= 0);
	check("  non-blocking", (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
	T("pidfd_send_signal(self, 0)", SC(SYS_pidfd_send_signal, (long)fd, 0L, NULL, 0L));
	close(fd);
}

static void test_clone3(void)
{
	printf("-- clone3 and CLONE_PIDFD\n");
	struct k_clone_args a;
	memset(&a, 0, sizeof a);
	a.exit_signal = SIGCHLD;
	fflush(stdout);
	long c = SC(SYS_clone3, &a, 64L);
	if (c == 0)
		_exit(7);
	check("clone3(size 64) > 0", c > 0);
	reap((pid_t)c, "clone3 child");

	int pidfd = -1;
	memset(&a, 0, sizeof a);
	a.flags = K_CLONE_PIDFD;
	a.pidfd = (uint64_t)(uintptr_t)&pidfd;
	a.exit_signal = SIGCHLD;
	c = SC(SYS_clone3, &a, (long)sizeof a);
	if (c == 0)
		_exit(5);
	check("clone3(CLONE_PIDFD) > 0", c > 0);
	check("  pidfd >= 0", pidfd >= 0);
	struct pollfd pf = { pidfd, POLLIN, 0 };
	T("  poll(pidfd, 5 s)", poll(&pf, 1, 5000));
	reap((pid_t)c, "clone3 child");
	close(pidfd);

	pidfd = -1;
	c = SC(SYS_clone, (long)(K_CLONE_PIDFD | SIGCHLD), 0L, &pidfd, 0L, 0L);
	if (c == 0)
		_exit(6);
	check("clone(CLONE_PIDFD) > 0", c > 0);
	check("  pidfd >= 0", pidfd >= 0);
	reap((pid_t)c, "clone child");
	close(pidfd);
	T("clone(CLONE_PIDFD|CLONE_PARENT_SETTID)",
	  SC(SYS_clone, (long)(K_CLONE_PIDFD | K_CLONE_PARENT_SETTID | SIGCHLD), 0L, &pidfd, 0L, 0L));

	memset(&a, 0, sizeof a);
	a.exit_signal = SIGCHLD;
	T("clone3(size 63)", SC(SYS_clone3, &a, 63L));
	T("clone3(size 4097)", SC(SYS_clone3, &a, 4097L));
	T("clone3(BADPTR)", SC(SYS_clone3, BADPTR, 64L));
	char big[128];
	memset(big, 0, sizeof big);
	memcpy(big, &a, sizeof a);
	big[100] = 1;
	T("clone3(size 128, byte 100 set)", SC(SYS_clone3, big, 128L));
	a.exit_signal = 65;
	T("clone3(exit_signal 65)", SC(SYS_clone3, &a, 64L));
	a.exit_signal = SIGCHLD;
	a.flags = SIGCHLD;
	T("clone3(flags with a signal)", SC(SYS_clone3, &a, 64L));
	a.flags = 1ULL << 40;
	T("clone3(unknown flag)", SC(SYS_clone3, &a, 64L));
	a.flags = 0;
	a.stack_size = 4096;
	T("clone3(stack_size, no stack)", SC(SYS_clone3, &a, 64L));
	a.stack_size = 0;
	a.stack = 4096;
	T("clone3(stack, no size)", SC(SYS_clone3, &a, 64L));
	a.stack = 0;
	a.flags = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM;
	T("clone3(CLONE_THREAD with exit_signal)", SC(SYS_clone3, &a, 64L));
	a.flags = CLONE_SIGHAND;
	a.exit_signal = 0;
	T("clone3(CLONE_SIGHAND without CLONE_VM)", SC(SYS_clone3, &a, 64L));
}

int main(int argc, char **argv)
{
	setup(argc, argv, "sched");
	struct rusage r;
	T("getrusage(CHILDREN) (none reaped yet)", SC(SYS_getrusage, (long)RUSAGE_CHILDREN, &r));
	check("  zero", ru_ms(&r) == 0 && r.ru_maxrss == 0);
	test_nice();
	test_policies();
	test_affinity();
	test_rusage();
	test_pidfd();
	test_clone3();
	printf("done\n");
	return 0;
}
