/*
 * Timers: alarm, setitimer / getitimer (REAL, VIRTUAL, PROF), POSIX timers
 * (timer_create / settime / gettime / getoverrun / delete with
 * SIGEV_SIGNAL, SIGEV_THREAD_ID, SIGEV_NONE, TIMER_ABSTIME, overruns) and
 * timerfd (blocking and non-blocking reads, poll, expiration counts,
 * TFD_TIMER_ABSTIME), with their error cases.
 *
 * Timings are never printed: only comparisons with generous margins
 * ("at least 20 ms passed", "fewer than 5 s"). Raw system calls are used
 * so that the kernel answers (a kernel timer_t is an int).
 */
#include "common.h"
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <time.h>

#ifndef SYS_timerfd_create
#define SYS_timerfd_create 283
#endif
#define K_TFD_NONBLOCK O_NONBLOCK
#define K_TFD_CLOEXEC O_CLOEXEC
#define K_TFD_TIMER_ABSTIME 1
#define K_SIGEV_THREAD_ID 4

/* The kernel's struct sigevent (64 bytes). */
struct k_sigevent {
	union sigval value;
	int signo;
	int notify;
	int tid;
	int pad[11];
};

static volatile sig_atomic_t alrm, vtalrm, prof, rt_hits;
static volatile int alrm_code, rt_code, rt_value, rt_timerid, rt_overrun;
static volatile long rt_tid;

static void on_alrm(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	alrm++;
	alrm_code = si->si_code;
}

static void on_vtalrm(int sig)
{
	(void)sig;
	vtalrm++;
}

static void on_prof(int sig)
{
	(void)sig;
	prof++;
}

static void on_rt(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	rt_hits++;
	rt_code = si->si_code;
	rt_value = si->si_value.sival_int;
	rt_timerid = si->si_timerid;
	rt_overrun = si->si_overrun;
	rt_tid = syscall(SYS_gettid);
}

static void handle(int sig, void (*fn)(int, siginfo_t *, void *))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = fn;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

static void handle_simple(int sig, void (*fn)(int))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

static long long now_ns(clockid_t c)
{
	struct timespec t;
	clock_gettime(c, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static long long tv_us(const struct timeval *t)
{
	return (long long)t->tv_sec * 1000000LL + t->tv_usec;
}

static long long ts_ns(const struct timespec *t)
{
	return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

/* Sleeps 1 ms at a time until *flag reaches n or 5 s pass. */
static int wait_for(volatile sig_atomic_t *flag, int n)
{
	long long end = now_ns(CLOCK_MONOTONIC) + 5000000000LL;
	while (*flag < n && now_ns(CLOCK_MONOTONIC) < end) {
		struct timespec d = { 0, 1000000 };
		nanosleep(&d, NULL);
	}
	return *flag >= n;
}

static void test_alarm(void)
{
	printf("-- alarm\n");
	T("alarm(10)", SC(SYS_alarm, 10));
	T("alarm(5) (10 s left, rounded)", SC(SYS_alarm, 5));
	T("alarm(0) (5 s left)", SC(SYS_alarm, 0));
	T("alarm(0) (nothing armed)", SC(SYS_alarm, 0));
	handle(SIGALRM, on_alrm);
	alrm = 0;
	long long t0 = now_ns(CLOCK_MONOTONIC);
	SC(SYS_alarm, 1);
	check("SIGALRM within 5 s", wait_for(&alrm, 1));
	long long dt = now_ns(CLOCK_MONOTONIC) - t0;
	check("  not before 1 s", dt >= 1000000000LL);
	printf("  si_code=%s\n", alrm_code == SI_KERNEL ? "SI_KERNEL" : "other");
	T("alarm(0) after it fired", SC(SYS_alarm, 0));
}

static void test_itimer_real(void)
{
	printf("-- setitimer(ITIMER_REAL)\n");
	struct itimerval v, old, cur;
	memset(&v, 0, sizeof v);
	v.it_value.tv_usec = 200000;
	memset(&old, 0x55, sizeof old);
	T("setitimer(REAL, 200 ms, &old)", SC(SYS_setitimer, ITIMER_REAL, &v, &old));
	check("  old was disarmed", tv_us(&old.it_value) == 0 && tv_us(&old.it_interval) == 0);
	T("getitimer(REAL)", SC(SYS_getitimer, ITIMER_REAL, &cur));
	check("  0 < left <= 200 ms", tv_us(&cur.it_value) > 0 && tv_us(&cur.it_value) <= 200000);
	check("  interval 0", tv_us(&cur.it_interval) == 0);
	memset(&v, 0, sizeof v);
	T("setitimer(REAL, 0) (disarm)", SC(SYS_setitimer, ITIMER_REAL, &v, &old));
	check("  old had 0 < left <= 200 ms", tv_us(&old.it_value) > 0 && tv_us(&old.it_value) <= 200000);
	SC(SYS_getitimer, ITIMER_REAL, &cur);
	check("  now disarmed", tv_us(&cur.it_value) == 0);

	alrm = 0;
	v.it_value.tv_usec = 20000;
	v.it_interval.tv_usec = 20000;
	long long t0 = now_ns(CLOCK_MONOTONIC);
	T("setitimer(REAL, 20 ms every 20 ms)", SC(SYS_setitimer, ITIMER_REAL, &v, NULL));
	check("five SIGALRMs", wait_for(&alrm, 5));
	SC(SYS_getitimer, ITIMER_REAL, &cur);
	check("  still armed, interval 20 ms", tv_us(&cur.it_value) > 0 && tv_us(&cur.it_interval) == 20000);
	check("  at least 100 ms passed", now_ns(CLOCK_MONOTONIC) - t0 >= 100000000LL);
	T("setitimer(REAL, NULL) (disarms)", SC(SYS_setitimer, ITIMER_REAL, NULL, NULL));
	SC(SYS_getitimer, ITIMER_REAL, &cur);
	check("  disarmed", tv_us(&cur.it_value) == 0 && tv_us(&cur.it_interval) == 0);

	v.it_value.tv_usec = 1000000;
	T("setitimer(REAL, usec 1000000)", SC(SYS_setitimer, ITIMER_REAL, &v, NULL));
	v.it_value.tv_usec = -1;
	T("setitimer(REAL, usec -1)", SC(SYS_setitimer, ITIMER_REAL, &v, NULL));
	v.it_value.tv_usec = 0;
	v.it_value.tv_sec = -1;
	T("setitimer(REAL, sec -1)", SC(SYS_setitimer, ITIMER_REAL, &v, NULL));
	memset(&v, 0, sizeof v);
	T("setitimer(3)", SC(SYS_setitimer, 3, &v, NULL));
	T("setitimer(-1)", SC(SYS_setitimer, -1, &v, NULL));
	T("setitimer(REAL, BADPTR)", SC(SYS_setitimer, ITIMER_REAL, BADPTR, NULL));
	T("setitimer(REAL, &v, BADPTR)", SC(SYS_setitimer, ITIMER_REAL, &v, BADPTR));
	T("getitimer(3)", SC(SYS_getitimer, 3, &cur));
	T("getitimer(REAL, BADPTR)", SC(SYS_getitimer, ITIMER_REAL, BADPTR));
}

static volatile unsigned long sink;

/* Burns CPU until *flag is set or 10 s of wall time pass. */
static int spin_until(volatile sig_atomic_t *flag)
{
	long long end = now_ns(CLOCK_MONOTONIC) + 10000000000LL;
	while (!*flag) {
		for (int i = 0; i < 1000000 && !*flag; i++)
			sink += (unsigned long)i;
		if (now_ns(CLOCK_MONOTONIC) > end)
			return 0;
	}
	return 1;
}

static void test_itimer_cpu(void)
{
	printf("-- setitimer(ITIMER_VIRTUAL / ITIMER_PROF)\n");
	struct itimerval v, cur;
	handle_simple(SIGVTALRM, on_vtalrm);
	handle_simple(SIGPROF, on_prof);
	memset(&v, 0, sizeof v);
	v.it_value.tv_usec = 50000;
	T("setitimer(VIRTUAL, 50 ms)", SC(SYS_setitimer, ITIMER_VIRTUAL, &v, NULL));
	T("getitimer(VIRTUAL)", SC(SYS_getitimer, ITIMER_VIRTUAL, &cur));
	check("  armed", tv_us(&cur.it_value) > 0);
	check("SIGVTALRM while spinning", spin_until(&vtalrm));
	v.it_value.tv_usec = 30000;
	v.it_interval.tv_usec = 30000;
	T("setitimer(PROF, 30 ms every 30 ms)", SC(SYS_setitimer, ITIMER_PROF, &v, NULL));
	prof = 0;
	int ok = 1;
	for (int i = 0; i < 3 && ok; i++) {
		sig_atomic_t before = prof;
		volatile sig_atomic_t *p = &prof;
		long long end = now_ns(CLOCK_MONOTONIC) + 10000000000LL;
		while (*p == before && now_ns(CLOCK_MONOTONIC) < end)
			for (int k = 0; k < 100000; k++)
				sink += (unsigned long)k;
		ok = *p != before;
	}
	check("three SIGPROFs while spinning", ok);
	memset(&v, 0, sizeof v);
	T("setitimer(PROF, 0)", SC(SYS_setitimer, ITIMER_PROF, &v, NULL));
	SC(SYS_getitimer, ITIMER_PROF, &cur);
	check("  disarmed", tv_us(&cur.it_value) == 0);
}

static int make_timer(clockid_t c, struct k_sigevent *ev, int *id)
{
	return (int)SC(SYS_timer_create, (long)c, ev, id);
}

static int settime(int id, int flags, long long value_ns, long long interval_ns, struct itimerspec *old)
{
	struct itimerspec s;
	s.it_value.tv_sec = value_ns / 1000000000LL;
	s.it_value.tv_nsec = value_ns % 1000000000LL;
	s.it_interval.tv_sec = interval_ns / 1000000000LL;
	s.it_interval.tv_nsec = interval_ns % 1000000000LL;
	return (int)SC(SYS_timer_settime, (long)id, (long)flags, &s, old);
}

static void test_posix_signal(void)
{
	printf("-- timer_create(SIGEV_SIGNAL)\n");
	int sig = SIGRTMIN + 1;
	handle(sig, on_rt);
	struct k_sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.notify = SIGEV_SIGNAL;
	ev.signo = sig;
	ev.value.sival_int = 42;
	int id = -1;
	T("timer_create(MONOTONIC, SIGEV_SIGNAL)", make_timer(CLOCK_MONOTONIC, &ev, &id));
	check("  id >= 0", id >= 0);
	struct itimerspec cur;
	T("timer_gettime (disarmed)", SC(SYS_timer_gettime, (long)id, &cur));
	check("  all zero", ts_ns(&cur.it_value) == 0 && ts_ns(&cur.it_interval) == 0);
	rt_hits = 0;
	T("timer_settime(10 ms)", settime(id, 0, 10000000, 0, NULL));
	check("signal within 5 s", wait_for(&rt_hits, 1));
	printf("  si_code=%s si_value=%d same_timerid=%s si_overrun=%d\n", rt_code == SI_TIMER ? "SI_TIMER" : "other",
	       rt_value, rt_timerid == id ? "yes" : "no", rt_overrun);
	SC(SYS_timer_gettime, (long)id, &cur);
	check("  expired one-shot reads 0", ts_ns(&cur.it_value) == 0);

	/* Overruns: a 1 ms timer whose signal stays blocked for 50 ms. */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_BLOCK, &set, &old);
	T("timer_settime(1 ms every 1 ms)", settime(id, 0, 1000000, 1000000, NULL));
	struct timespec d = { 0, 50000000 };
	nanosleep(&d, NULL);
	siginfo_t si;
	struct timespec wait = { 5, 0 };
	int got = (int)SC(SYS_rt_sigtimedwait, &set, &si, &wait, 8L);
	check("sigtimedwait got it", got == sig);
	check("  si_overrun >= 10", si.si_overrun >= 10);
	long ov = SC(SYS_timer_getoverrun, (long)id);
	check("  timer_getoverrun == si_overrun", ov == si.si_overrun);
	SC(SYS_timer_gettime, (long)id, &cur);
	check("  armed, interval 1 ms", ts_ns(&cur.it_value) > 0 && ts_ns(&cur.it_interval) == 1000000);
	T("timer_settime(0) (disarm)", settime(id, 0, 0, 0, &cur));
	check("  old setting had interval 1 ms", ts_ns(&cur.it_interval) == 1000000);
	/* Drain what may still be queued. */
	struct timespec zero = { 0, 0 };
	while (SC(SYS_rt_sigtimedwait, &set, &si, &zero, 8L) == sig)
		;
	sigprocmask(SIG_SETMASK, &old, NULL);

	/* TIMER_ABSTIME on MONOTONIC: in the future, then in the past. */
	rt_hits = 0;
	long long t0 = now_ns(CLOCK_MONOTONIC);
	T("timer_settime(ABSTIME, now + 30 ms)", settime(id, TIMER_ABSTIME, t0 + 30000000, 0, NULL));
	check("signal within 5 s", wait_for(&rt_hits, 1));
	check("  not before 30 ms", now_ns(CLOCK_MONOTONIC) - t0 >= 30000000);
	rt_hits = 0;
	T("timer_settime(ABSTIME, 1 ns after boot)", settime(id, TIMER_ABSTIME, 1, 0, NULL));
	check("  fires at once", wait_for(&rt_hits, 1));
	T("timer_delete", SC(SYS_timer_delete, (long)id));
	T("timer_delete again", SC(SYS_timer_delete, (long)id));
	T("timer_gettime (deleted)", SC(SYS_timer_gettime, (long)id, &cur));

	/* The default sigevent: SIGALRM with the id as value. */
	handle(SIGALRM, on_alrm);
	int id2 = -1;
	T("timer_create(REALTIME, NULL)", make_timer(CLOCK_REALTIME, NULL, &id2));
	alrm = 0;
	long long r0 = now_ns(CLOCK_REALTIME);
	T("timer_settime(ABSTIME, realtime + 20 ms)", settime(id2, TIMER_ABSTIME, r0 + 20000000, 0, NULL));
	check("SIGALRM within 5 s", wait_for(&alrm, 1));
	printf("  si_code=%s\n", alrm_code == SI_TIMER ? "SI_TIMER" : "other");
	T("timer_delete", SC(SYS_timer_delete, (long)id2));
}

static volatile int thread_tid;
static volatile sig_atomic_t thread_go;

static void *waiter(void *arg)
{
	(void)arg;
	thread_tid = (int)syscall(SYS_gettid);
	thread_go = 1;
	long long end = now_ns(CLOCK_MONOTONIC) + 5000000000LL;
	while (!rt_hits && now_ns(CLOCK_MONOTONIC) < end) {
		struct timespec d = { 0, 1000000 };
		nanosleep(&d, NULL);
	}
	return NULL;
}

static void test_posix_thread_id(void)
{
	printf("-- timer_create(SIGEV_THREAD_ID)\n");
	int sig = SIGRTMIN + 2;
	handle(sig, on_rt);
	rt_hits = 0;
	pthread_t th;
	thread_go = 0;
	pthread_create(&th, NULL, waiter, NULL);
	while (!thread_go)
		sched_yield();
	/* Main blocks the signal; only the target thread may take it. */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, sig);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	struct k_sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.notify = SIGEV_SIGNAL | K_SIGEV_THREAD_ID;
	ev.signo = sig;
	ev.tid = thread_tid;
	ev.value.sival_int = 7;
	int id = -1;
	T("timer_create(SIGEV_THREAD_ID, the thread)", make_timer(CLOCK_MONOTONIC, &ev, &id));
	T("timer_settime(10 ms)", settime(id, 0, 10000000, 0, NULL));
	pthread_join(th, NULL);
	check("the thread took it", rt_hits == 1 && rt_tid == thread_tid);
	printf("  si_code=%s si_value=%d\n", rt_code == SI_TIMER ? "SI_TIMER" : "other", rt_value);
	SC(SYS_timer_delete, (long)id);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	ev.tid = 0x3fffffff;
	T("timer_create(SIGEV_THREAD_ID, no such thread)", make_timer(CLOCK_MONOTONIC, &ev, &id));
}

static void test_posix_none_and_errors(void)
{
	printf("-- timer_create(SIGEV_NONE) and errors\n");
	struct k_sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.notify = SIGEV_NONE;
	int id = -1;
	T("timer_create(BOOTTIME, SIGEV_NONE)", make_timer(CLOCK_BOOTTIME, &ev, &id));
	T("timer_settime(1 s, every 300 ms)", settime(id, 0, 1000000000, 300000000, NULL));
	struct itimerspec cur;
	SC(SYS_timer_gettime, (long)id, &cur);
	check("  0.5 s < left <= 1 s", ts_ns(&cur.it_value) > 500000000 && ts_ns(&cur.it_value) <= 1000000000);
	check("  interval 300 ms", ts_ns(&cur.it_interval) == 300000000);
	T("timer_settime(ABSTIME, 1 ns after boot, every 300 ms)", settime(id, TIMER_ABSTIME, 1, 300000000, NULL));
	SC(SYS_timer_gettime, (long)id, &cur);
	check("  expired intervals are skipped: 0 < left <= 300 ms",
	      ts_ns(&cur.it_value) > 0 && ts_ns(&cur.it_value) <= 300000000);
	T("timer_settime(1 ns once)", settime(id, 0, 1, 0, NULL));
	struct timespec d = { 0, 2000000 };
	nanosleep(&d, NULL);
	SC(SYS_timer_gettime, (long)id, &cur);
	check("  expired: reads 0", ts_ns(&cur.it_value) == 0);
	T("timer_getoverrun", SC(SYS_timer_getoverrun, (long)id));
	T("timer_gettime(id, BADPTR)", SC(SYS_timer_gettime, (long)id, BADPTR));
	T("timer_settime(id, 0, NULL)", SC(SYS_timer_settime, (long)id, 0L, NULL, NULL));
	T("timer_settime(id, 0, BADPTR)", SC(SYS_timer_settime, (long)id, 0L, BADPTR, NULL));
	struct itimerspec bad;
	memset(&bad, 0, sizeof bad);
	bad.it_value.tv_nsec = 1000000000;
	T("timer_settime(nsec 1000000000)", SC(SYS_timer_settime, (long)id, 0L, &bad, NULL));
	bad.it_value.tv_nsec = 0;
	bad.it_interval.tv_sec = -1;
	T("timer_settime(interval sec -1)", SC(SYS_timer_settime, (long)id, 0L, &bad, NULL));
	T("timer_delete", SC(SYS_timer_delete, (long)id));
	T("timer_settime(4242)", settime(4242, 0, 1000000, 0, NULL));
	T("timer_getoverrun(4242)", SC(SYS_timer_getoverrun, 4242L));
	T("timer_delete(-1)", SC(SYS_timer_delete, -1L));

	T("timer_create(clock 100)", make_timer(100, NULL, &id));
	T("timer_create(MONOTONIC_RAW)", make_timer(CLOCK_MONOTONIC_RAW, NULL, &id));
	T("timer_create(MONOTONIC_COARSE)", make_timer(CLOCK_MONOTONIC_COARSE, NULL, &id));
	T("timer_create(MONOTONIC, BADPTR)", make_timer(CLOCK_MONOTONIC, BADPTR, &id));
	T("timer_create(MONOTONIC, NULL, BADPTR)", make_timer(CLOCK_MONOTONIC, NULL, BADPTR));
	ev.notify = 7;
	T("timer_create(notify 7)", make_timer(CLOCK_MONOTONIC, &ev, &id));
	ev.notify = SIGEV_SIGNAL;
	ev.signo = 0;
	T("timer_create(signal 0)", make_timer(CLOCK_MONOTONIC, &ev, &id));
	ev.signo = 65;
	T("timer_create(signal 65)", make_timer(CLOCK_MONOTONIC, &ev, &id));
	T("timer_create(PROCESS_CPUTIME_ID, NULL)", make_timer(CLOCK_PROCESS_CPUTIME_ID, NULL, &id));
	T("timer_delete", SC(SYS_timer_delete, (long)id));
}

static int tfd_set(int fd, int flags, long long value_ns, long long interval_ns)
{
	struct itimerspec s;
	s.it_value.tv_sec = value_ns / 1000000000LL;
	s.it_value.tv_nsec = value_ns % 1000000000LL;
	s.it_interval.tv_sec = interval_ns / 1000000000LL;
	s.it_interval.tv_nsec = interval_ns % 1000000000LL;
	return (int)SC(SYS_timerfd_settime, (long)fd, (long)flags, &s, NULL);
}

static void test_timerfd(void)
{
	printf("-- timerfd\n");
	int fd = (int)SC(SYS_timerfd_create, (long)CLOCK_MONOTONIC, (long)(K_TFD_NONBLOCK | K_TFD_CLOEXEC));
	check("timerfd_create(MONOTONIC, NONBLOCK|CLOEXEC) >= 0", fd >= 0);
	check("  close-on-exec", (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
	check("  non-blocking", (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
	uint64_t n = 0;
	T("read (disarmed)", SC(SYS_read, fd, &n, 8L));
	struct pollfd p = { fd, POLLIN, 0 };
	T("poll (disarmed, 0 ms)", poll(&p, 1, 0));
	T("timerfd_settime(10 ms every 10 ms)", tfd_set(fd, 0, 10000000, 10000000));
	p.revents = 0;
	T("poll (5 s timeout)", poll(&p, 1, 5000));
	check("  POLLIN", (p.revents & POLLIN) != 0);
	struct timespec d = { 0, 50000000 };
	nanosleep(&d, NULL);
	T("read", SC(SYS_read, fd, &n, 8L));
	check("  at least 5 expirations", n >= 5);
	T("read (4 bytes)", SC(SYS_read, fd, &n, 4L));
	struct itimerspec cur;
	T("timerfd_gettime", SC(SYS_timerfd_gettime, (long)fd, &cur));
	check("  0 < left <= 10 ms, interval 10 ms",
	      ts_ns(&cur.it_value) > 0 && ts_ns(&cur.it_value) <= 10000000 && ts_ns(&cur.it_interval) == 10000000);
	T("timerfd_settime(0) (disarm)", tfd_set(fd, 0, 0, 0));
	T("read (disarmed: count reset)", SC(SYS_read, fd, &n, 8L));
	SC(SYS_timerfd_gettime, (long)fd, &cur);
	check("  gettime all zero", ts_ns(&cur.it_value) == 0 && ts_ns(&cur.it_interval) == 0);
	close(fd);

	/* Blocking read of a one-shot absolute realtime timer. */
	fd = (int)SC(SYS_timerfd_create, (long)CLOCK_REALTIME, 0L);
	long long t0 = now_ns(CLOCK_MONOTONIC);
	T("timerfd_settime(REALTIME, ABSTIME, now + 30 ms)",
	  tfd_set(fd, K_TFD_TIMER_ABSTIME, now_ns(CLOCK_REALTIME) + 30000000, 0));
	n = 0;
	T("read (blocks)", SC(SYS_read, fd, &n, 8L));
	printf("  count=%llu\n", (unsigned long long)n);
	check("  not before 30 ms", now_ns(CLOCK_MONOTONIC) - t0 >= 30000000);
	struct itimerspec old;
	struct itimerspec s;
	memset(&s, 0, sizeof s);
	s.it_value.tv_sec = 10;
	s.it_interval.tv_sec = 1;
	T("timerfd_settime(10 s every 1 s)", SC(SYS_timerfd_settime, (long)fd, 0L, &s, NULL));
	memset(&s, 0, sizeof s);
	T("timerfd_settime(0, &old)", SC(SYS_timerfd_settime, (long)fd, 0L, &s, &old));
	check("  old: 9 s < left <= 10 s, interval 1 s",
	      ts_ns(&old.it_value) > 9000000000LL && ts_ns(&old.it_value) <= 10000000000LL &&
		      ts_ns(&old.it_interval) == 1000000000LL);

	T("timerfd_settime(flags 4)", SC(SYS_timerfd_settime, (long)fd, 4L, &s, NULL));
	T("timerfd_settime(BADPTR)", SC(SYS_timerfd_settime, (long)fd, 0L, BADPTR, NULL));
	s.it_value.tv_nsec = 1000000000;
	T("timerfd_settime(nsec 1000000000)", SC(SYS_timerfd_settime, (long)fd, 0L, &s, NULL));
	s.it_value.tv_nsec = 0;
	T("timerfd_settime(BADFD)", SC(SYS_timerfd_settime, (long)BADFD, 0L, &s, NULL));
	T("timerfd_settime(stdout)", SC(SYS_timerfd_settime, 1L, 0L, &s, NULL));
	T("timerfd_gettime(stdout)", SC(SYS_timerfd_gettime, 1L, &cur));
	T("timerfd_gettime(fd, BADPTR)", SC(SYS_timerfd_gettime, (long)fd, BADPTR));
	T("write(timerfd)", SC(SYS_write, fd, &n, 8L));
	close(fd);
	T("timerfd_create(MONOTONIC, flags 1)", SC(SYS_timerfd_create, (long)CLOCK_MONOTONIC, 1L));
	T("timerfd_create(PROCESS_CPUTIME_ID)", SC(SYS_timerfd_create, (long)CLOCK_PROCESS_CPUTIME_ID, 0L));
	T("timerfd_create(clock 100)", SC(SYS_timerfd_create, 100L, 0L));
	T("timerfd_create(clock -1)", SC(SYS_timerfd_create, -1L, 0L));
}

int main(int argc, char **argv)
{
	setup(argc, argv, "timers");
	test_alarm();
	test_itimer_real();
	test_itimer_cpu();
	test_posix_signal();
	test_posix_thread_id();
	test_posix_none_and_errors();
	test_timerfd();
	printf("done\n");
	return 0;
}
