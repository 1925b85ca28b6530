/*
 * Futexes, raw: the PI calls (LOCK_PI, LOCK_PI2, TRYLOCK_PI, UNLOCK_PI,
 * WAIT_REQUEUE_PI, CMP_REQUEUE_PI) with the user-word protocol and their
 * errors, plain requeue, futex_waitv and the futex2 calls (futex_wake,
 * futex_wait, futex_requeue), set/get_robust_list, and the robust-list
 * walk at thread exit, exit_group and exec.
 *
 * Words are printed relative to the threads involved ("me", "other"), so
 * the output does not depend on thread ids. A thread is known to sleep in
 * the kernel when a probe says so: CMP_REQUEUE of a word onto itself
 * counts its plain waiters; FUTEX_WAKE answers EINVAL once a PI or
 * requeue-PI waiter is queued.
 */
#include "common.h"
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#define F_WAIT 0
#define F_WAKE 1
#define F_REQUEUE 3
#define F_CMP_REQUEUE 4
#define F_LOCK_PI 6
#define F_UNLOCK_PI 7
#define F_TRYLOCK_PI 8
#define F_WAIT_BITSET 9
#define F_WAIT_REQUEUE_PI 11
#define F_CMP_REQUEUE_PI 12
#define F_LOCK_PI2 13
#define F_PRIVATE 128
#define F_CLOCK_RT 256
#define WAITERS 0x80000000u
#define OWNER_DIED 0x40000000u
#define TIDMASK 0x3fffffffu
#define NOBODY 0x3ffffff0u /* above any pid_max: no such thread */

#define F2_U8 0x00
#define F2_U32 0x02
#define F2_U64 0x03
#define F2_NUMA 0x04
#define F2_PRIVATE 128

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#define SYS_futex_wake2 454
#define SYS_futex_wait2 455
#define SYS_futex_requeue2 456

struct waitv {
	uint64_t val;
	uint64_t uaddr;
	uint32_t flags;
	uint32_t reserved;
};

struct rlist {
	struct rlist *next;
};
struct rhead {
	struct rlist list;
	long futex_offset;
	struct rlist *pending;
};
/* A robust entry: the link, then the futex word 8 bytes on. */
struct rentry {
	struct rlist link;
	uint32_t word;
	uint32_t pad;
};
#define ROFF ((long)offsetof(struct rentry, word))

static long fx(volatile uint32_t *uaddr, int op, uint32_t val, const void *ts,
	       volatile uint32_t *uaddr2, uint32_t val3)
{
	return SC(SYS_futex, uaddr, op, val, ts, uaddr2, val3);
}

static pid_t tid(void)
{
	return (pid_t)SC(SYS_gettid);
}

static void nap(void)
{
	struct timespec ts = { 0, 1000000 };
	nanosleep(&ts, NULL);
}

/* Gives up (the run fails) rather than hang when a probe never succeeds. */
static void stuck(const char *what)
{
	printf("stuck waiting for %s\n", what);
	fflush(stdout);
	_exit(9);
}

/* Plain waiters queued on w (CMP_REQUEUE onto itself counts them). */
static long plain_waiters(volatile uint32_t *w, int priv)
{
	return fx(w, F_CMP_REQUEUE | priv, 0, (void *)(long)INT_MAX, w, *w);
}

static void await_plain(volatile uint32_t *w, int priv, long n)
{
	for (int i = 0; i < 20000; i++) {
		if (plain_waiters(w, priv) == n)
			return;
		nap();
	}
	stuck("plain waiters");
}

/* True once a PI or requeue-PI waiter is queued on w. */
static int pi_queued(volatile uint32_t *w, int priv)
{
	return fx(w, F_WAKE | priv, 1, NULL, NULL, 0) == -1 && errno == EINVAL;
}

static void await_pi(volatile uint32_t *w, int priv)
{
	for (int i = 0; i < 20000; i++) {
		if (pi_queued(w, priv))
			return;
		nap();
	}
	stuck("a PI waiter");
}

static void await_flag(volatile int *f)
{
	for (int i = 0; i < 20000; i++) {
		if (__atomic_load_n(f, __ATOMIC_ACQUIRE))
			return;
		nap();
	}
	stuck("a flag");
}

static void set_flag(volatile int *f, int v)
{
	__atomic_store_n(f, v, __ATOMIC_RELEASE);
}

/* A word described relative to me and other. */
static const char *sym(uint32_t v, pid_t me, pid_t other)
{
	static char buf[4][64];
	static int n;
	char *b = buf[n++ % 4];
	uint32_t t = v & TIDMASK;
	const char *who = t == 0 ? "0" : t == (uint32_t)me ? "me" : t == (uint32_t)other ? "other" : t == NOBODY ? "nobody" : "?";
	snprintf(b, 64, "%s%s%s", who, v & WAITERS ? "|WAITERS" : "", v & OWNER_DIED ? "|OWNER_DIED" : "");
	return b;
}

static struct timespec now(clockid_t c, long add_ms)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	ts.tv_nsec += (add_ms % 1000) * 1000000;
	ts.tv_sec += add_ms / 1000 + ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	return ts;
}

static volatile int handled;
static void on_usr1(int s)
{
	(void)s;
	handled++;
}

/* ------------------------------------------------------------------ */
/* PI, one thread */

static void pi_alone(void)
{
	static uint32_t w, buf[4];
	pid_t me = tid();
	struct timespec bad = { 0, 1000000000 };

	printf("-- pi alone\n");
	T("lock_pi(free)", fx(&w, F_LOCK_PI, 0, NULL, NULL, 0));
	printf("word = %s\n", sym(w, me, 0));
	T("lock_pi(mine)", fx(&w, F_LOCK_PI, 0, NULL, NULL, 0));
	T("trylock_pi(mine)", fx(&w, F_TRYLOCK_PI, 0, NULL, NULL, 0));
	T("lock_pi2(mine)", fx(&w, F_LOCK_PI2, 0, NULL, NULL, 0));
	T("unlock_pi", fx(&w, F_UNLOCK_PI, 0, NULL, NULL, 0));
	printf("word = %s\n", sym(w, me, 0));
	T("unlock_pi(free)", fx(&w, F_UNLOCK_PI, 0, NULL, NULL, 0));
	T("trylock_pi(free, private)", fx(&w, F_TRYLOCK_PI | F_PRIVATE, 0, NULL, NULL, 0));
	printf("word = %s\n", sym(w, me, 0));
	T("unlock_pi(private)", fx(&w, F_UNLOCK_PI | F_PRIVATE, 0, NULL, NULL, 0));

	w = OWNER_DIED;
	T("lock_pi(owner died, tid 0)", fx(&w, F_LOCK_PI, 0, NULL, NULL, 0));
	printf("word = %s\n", sym(w, me, 0));
	T("unlock_pi", fx(&w, F_UNLOCK_PI, 0, NULL, NULL, 0));
	printf("word = %s\n", sym(w, me, 0));
	w = WAITERS;
	T("lock_pi(stale waiters bit)", fx(&w, F_LOCK_PI, 0, NULL, NULL, 0));
	printf("word = %s\n", sym(w, me, 0));
	w = me | WAITERS;
	T("unlock_pi(waiters bit, none queued)", fx(&w, F_UNLOCK_PI, 0, NULL, NULL, 0));
	printf("word = %s\n", sym(w, me, 0));

	w = NOBODY;
	T("lock_pi(owner gone)", fx(&w, F_LOCK_PI, 0, NULL, NULL, 0));
	printf("word = %s\n", sym(w, me, 0));
	T("trylock_pi(owner gone)", fx(&w, F_TRYLOCK_PI, 0, NULL, NULL, 0));
	T("lock_pi2(owner gone, private)", fx(&w, F_LOCK_PI2 | F_PRIVATE, 0, NULL, NULL, 0));
	T("unlock_pi(not mine)", fx(&w, F_UNLOCK_PI, 0, NULL, NULL, 0));
	w = 0;

	T("lock_pi(unaligned)", fx((uint32_t *)((char *)buf + 1), F_LOCK_PI, 0, NULL, NULL, 0));
	T("trylock_pi(unaligned)", fx((uint32_t *)((char *)buf + 2), F_TRYLOCK_PI, 0, NULL, NULL, 0));
	T("unlock_pi(unaligned, not mine)", fx((uint32_t *)((char *)buf + 1), F_UNLOCK_PI, 0, NULL, NULL, 0));
	T("lock_pi(NULL)", fx(NULL, F_LOCK_PI, 0, NULL, NULL, 0));
	T("unlock_pi(NULL)", fx(NULL, F_UNLOCK_PI, 0, NULL, NULL, 0));
	T("trylock_pi(bad)", fx(BADPTR, F_TRYLOCK_PI | F_PRIVATE, 0, NULL, NULL, 0));
	uint32_t *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	T("lock_pi(read-only)", fx(ro, F_LOCK_PI, 0, NULL, NULL, 0));
	T("lock_pi(read-only, private)", fx(ro, F_LOCK_PI | F_PRIVATE, 0, NULL, NULL, 0));
	T("unlock_pi(read-only)", fx(ro, F_UNLOCK_PI, 0, NULL, NULL, 0));
	munmap(ro, 4096);

	T("lock_pi|CLOCK_REALTIME", fx(&w, F_LOCK_PI | F_CLOCK_RT, 0, NULL, NULL, 0));
	T("trylock_pi|CLOCK_REALTIME", fx(&w, F_TRYLOCK_PI | F_CLOCK_RT, 0, NULL, NULL, 0));
	T("unlock_pi|CLOCK_REALTIME", fx(&w, F_UNLOCK_PI | F_CLOCK_RT, 0, NULL, NULL, 0));
	T("wait|CLOCK_REALTIME", fx(&w, F_WAIT | F_CLOCK_RT, 1, NULL, NULL, 0));
	T("lock_pi2|CLOCK_REALTIME", fx(&w, F_LOCK_PI2 | F_CLOCK_RT, 0, NULL, NULL, 0));
	T("unlock_pi", fx(&w, F_UNLOCK_PI, 0, NULL, NULL, 0));
	T("lock_pi(bad timeout ptr)", fx(&w, F_LOCK_PI, 0, BADPTR, NULL, 0));
	T("lock_pi(bad timeout)", fx(&w, F_LOCK_PI, 0, &bad, NULL, 0));
	T("lock_pi|CLOCK_REALTIME(bad timeout)", fx(&w, F_LOCK_PI | F_CLOCK_RT, 0, &bad, NULL, 0));
	printf("word = %s\n", sym(w, me, 0));
	T("trylock_pi(timeout arg ignored)", fx(&w, F_TRYLOCK_PI, 0, BADPTR, NULL, 0));
	T("unlock_pi(timeout arg ignored)", fx(&w, F_UNLOCK_PI, 0, BADPTR, NULL, 0));
	T("futex(bad command)", fx(&w, 14, 0, NULL, NULL, 0));
}

/* ------------------------------------------------------------------ */
/* PI with a holder thread */

static uint32_t pw;             /* the PI word */
static volatile int held, release_it, holder_tid;
static long holder_unlock;
static pid_t main_tid;

/* Holds pw until release_it, then waits for the main thread to queue on
 * it and unlocks (a hand-off). With release_it == 2 it first interrupts
 * the main thread's wait with a signal. */
static void *holder(void *arg)
{
	(void)arg;
	set_flag(&holder_tid, tid());
	fx(&pw, F_LOCK_PI, 0, NULL, NULL, 0);
	set_flag(&held, 1);
	await_flag(&release_it);
	await_pi(&pw, 0);
	if (release_it == 2) {
		int before = handled;
		SC(SYS_tgkill, getpid(), main_tid, SIGUSR1);
		while (handled == before)
			nap();
		await_pi(&pw, 0);
	}
	holder_unlock = fx(&pw, F_UNLOCK_PI, 0, NULL, NULL, 0);
	return NULL;
}

static pthread_t start_holder(int how)
{
	pthread_t th;
	held = 0;
	release_it = 0;
	pthread_create(&th, NULL, holder, NULL);
	await_flag(&held);
	(void)how;
	return th;
}

/* Locks pw (blocking) and unlocks it again. */
static long locker_lock, locker_unlock;
static uint32_t locker_word;
static void *locker(void *arg)
{
	(void)arg;
	locker_lock = fx(&pw, F_LOCK_PI, 0, NULL, NULL, 0);
	locker_word = pw;
	locker_unlock = fx(&pw, F_UNLOCK_PI, 0, NULL, NULL, 0);
	return NULL;
}

/* A plain waiter on pw2 while pw2 holds `plain_val`. */
static uint32_t pw2, plain_val;
static long plain_ret;
static void *plain_waiter(void *arg)
{
	(void)arg;
	plain_ret = fx(&pw2, F_WAIT, plain_val, NULL, NULL, 0);
	return NULL;
}

static void pi_contended(void)
{
	pid_t me = tid();
	struct timespec ts;
	pthread_t th, th2;

	printf("-- pi contended\n");
	main_tid = me;
	pw = 0;
	th = start_holder(0);
	pid_t other = holder_tid;
	printf("word = %s\n", sym(pw, me, other));
	T("trylock_pi(held)", fx(&pw, F_TRYLOCK_PI, 0, NULL, NULL, 0));
	printf("word = %s\n", sym(pw, me, other));
	T("unlock_pi(held by other)", fx(&pw, F_UNLOCK_PI, 0, NULL, NULL, 0));
	ts = now(CLOCK_REALTIME, 0);
	T("lock_pi(realtime deadline passed)", fx(&pw, F_LOCK_PI, 0, &ts, NULL, 0));
	ts = now(CLOCK_MONOTONIC, 0);
	T("lock_pi2(monotonic deadline passed)", fx(&pw, F_LOCK_PI2, 0, &ts, NULL, 0));
	ts = now(CLOCK_REALTIME, -1000);
	T("lock_pi2|CLOCK_REALTIME(deadline passed)", fx(&pw, F_LOCK_PI2 | F_CLOCK_RT, 0, &ts, NULL, 0));
	ts = now(CLOCK_REALTIME, 40);
	T("lock_pi(40 ms)", fx(&pw, F_LOCK_PI, 0, &ts, NULL, 0));
	ts = now(CLOCK_MONOTONIC, 40);
	T("lock_pi2(40 ms)", fx(&pw, F_LOCK_PI2, 0, &ts, NULL, 0));
	printf("word = %s\n", sym(pw, me, other));

	/* Hand-off: the holder unlocks once this thread sleeps in LOCK_PI. */
	set_flag(&release_it, 1);
	T("lock_pi(handed over)", fx(&pw, F_LOCK_PI, 0, NULL, NULL, 0));
	pthread_join(th, NULL);
	printf("holder unlock_pi = %ld\n", holder_unlock);
	printf("word = %s\n", sym(pw, me, other));
	T("unlock_pi", fx(&pw, F_UNLOCK_PI, 0, NULL, NULL, 0));
	printf("word = %s\n", sym(pw, me, other));

	/* A signal while in LOCK_PI: the call restarts, never EINTR. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	handled = 0;
	th = start_holder(0);
	other = holder_tid;
	set_flag(&release_it, 2);
	T("lock_pi(interrupted by a handler)", fx(&pw, F_LOCK_PI, 0, NULL, NULL, 0));
	pthread_join(th, NULL);
	printf("handler ran = %d, holder unlock_pi = %ld, word = %s\n", handled, holder_unlock,
	       sym(pw, me, other));
	T("unlock_pi", fx(&pw, F_UNLOCK_PI, 0, NULL, NULL, 0));

	/* The word disagrees with the queued waiter's PI state. */
	th = start_holder(0);
	other = holder_tid;
	pthread_create(&th2, NULL, locker, NULL);
	await_pi(&pw, 0);
	T("wake(PI waiter queued)", fx(&pw, F_WAKE, 1, NULL, NULL, 0));
	T("cmp_requeue(from a PI futex)", fx(&pw, F_CMP_REQUEUE, 1, (void *)1L, &pw2, pw));
	uint32_t keep = pw;
	pw = (uint32_t)me | WAITERS;
	T("unlock_pi(word says me, owner is other)", fx(&pw, F_UNLOCK_PI, 0, NULL, NULL, 0));
	pw = NOBODY | WAITERS;
	T("lock_pi(word names a third owner)", fx(&pw, F_LOCK_PI, 0, NULL, NULL, 0));
	pw = 0;
	T("lock_pi(word 0, owner is other)", fx(&pw, F_LOCK_PI, 0, NULL, NULL, 0));
	T("trylock_pi(word 0, owner is other)", fx(&pw, F_TRYLOCK_PI, 0, NULL, NULL, 0));
	pw = keep;
	printf("word = %s\n", sym(pw, me, other));
	set_flag(&release_it, 1);
	pthread_join(th, NULL);
	pthread_join(th2, NULL);
	printf("holder unlock_pi = %ld, locker lock_pi = %ld, unlock_pi = %ld, locker saw %s\n",
	       holder_unlock, locker_lock, locker_unlock, sym(locker_word & ~TIDMASK, me, other));
	printf("word = %s\n", sym(pw, me, other));

	/* A plain waiter where a PI lock is asked for. */
	pw2 = plain_val = (uint32_t)me;
	pthread_create(&th, NULL, plain_waiter, NULL);
	await_plain(&pw2, 0, 1);
	T("lock_pi(plain waiter queued, word mine)", fx(&pw2, F_LOCK_PI, 0, NULL, NULL, 0));
	T("unlock_pi(plain waiter queued)", fx(&pw2, F_UNLOCK_PI, 0, NULL, NULL, 0));
	pw2 = 0;
	T("lock_pi(plain waiter queued, word 0)", fx(&pw2, F_LOCK_PI, 0, NULL, NULL, 0));
	T("trylock_pi(plain waiter queued)", fx(&pw2, F_TRYLOCK_PI, 0, NULL, NULL, 0));
	T("lock_pi(private: another futex)", fx(&pw2, F_LOCK_PI | F_PRIVATE, 0, NULL, NULL, 0));
	printf("word = %s\n", sym(pw2, me, other));
	T("unlock_pi(private)", fx(&pw2, F_UNLOCK_PI | F_PRIVATE, 0, NULL, NULL, 0));
	T("wake(plain waiter)", fx(&pw2, F_WAKE, 1, NULL, NULL, 0));
	pthread_join(th, NULL);
	printf("plain waiter = %ld\n", plain_ret);
}

/* ------------------------------------------------------------------ */
/* Plain requeue */

static uint32_t qa, qb;
static long qret[3];
static void *qwaiter(void *arg)
{
	long i = (long)arg;
	qret[i] = fx(&qa, F_WAIT | F_PRIVATE, 0, NULL, NULL, 0);
	return NULL;
}

static void requeue(void)
{
	pthread_t th[3];

	printf("-- requeue\n");
	qa = qb = 0;
	for (long i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, qwaiter, (void *)i);
	await_plain(&qa, F_PRIVATE, 3);
	T("cmp_requeue(value differs)", fx(&qa, F_CMP_REQUEUE | F_PRIVATE, 1, (void *)1L, &qb, 1));
	T("cmp_requeue(nr_wake -1)", fx(&qa, F_CMP_REQUEUE | F_PRIVATE, -1, (void *)1L, &qb, 0));
	T("cmp_requeue(nr_requeue -1)", fx(&qa, F_CMP_REQUEUE | F_PRIVATE, 1, (void *)-1L, &qb, 0));
	T("requeue(nr_requeue -1)", fx(&qa, F_REQUEUE | F_PRIVATE, 1, (void *)-1L, &qb, 0));
	T("cmp_requeue(unaligned target)", fx(&qa, F_CMP_REQUEUE | F_PRIVATE, 1, (void *)1L, (uint32_t *)((char *)&qb + 1), 0));
	T("cmp_requeue(shared flag: no waiters there)", fx(&qa, F_CMP_REQUEUE, 1, (void *)1L, &qb, 0));
	T("cmp_requeue(wake 1, requeue 1)", fx(&qa, F_CMP_REQUEUE | F_PRIVATE, 1, (void *)1L, &qb, 0));
	T("waiters on a", plain_waiters(&qa, F_PRIVATE));
	T("waiters on b", plain_waiters(&qb, F_PRIVATE));
	T("requeue(wake 0, requeue all)", fx(&qa, F_REQUEUE | F_PRIVATE, 0, (void *)(long)INT_MAX, &qb, 0));
	T("waiters on b", plain_waiters(&qb, F_PRIVATE));
	T("wake(b, all)", fx(&qb, F_WAKE | F_PRIVATE, INT_MAX, NULL, NULL, 0));
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	printf("waiters returned %ld %ld %ld\n", qret[0], qret[1], qret[2]);
}

/* ------------------------------------------------------------------ */
/* Requeue-PI */

static uint32_t cv, mx, mx2;
static volatile int rq_count;
static long rq_ret[3], rq_unlock[3];

/* WAIT_REQUEUE_PI on cv for mx; on success counts and unlocks. */
static void *rq_waiter(void *arg)
{
	long i = (long)arg;
	rq_ret[i] = fx(&cv, F_WAIT_REQUEUE_PI | F_PRIVATE, 0, NULL, &mx, 0);
	if (rq_ret[i] == 0) {
		uint32_t me = (uint32_t)tid();
		if ((mx & TIDMASK) != me)
			rq_ret[i] = 99;
		__atomic_add_fetch(&rq_count, 1, __ATOMIC_SEQ_CST);
		if (!__atomic_compare_exchange_n(&mx, &me, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			rq_unlock[i] = fx(&mx, F_UNLOCK_PI | F_PRIVATE, 0, NULL, NULL, 0);
	} else {
		rq_ret[i] = -errno;
	}
	return NULL;
}

static void requeue_pi(void)
{
	pid_t me = tid();
	pthread_t th[3];
	struct timespec ts;

	printf("-- requeue pi\n");
	cv = mx = mx2 = 0;
	T("cmp_requeue_pi(nr_wake 2)", fx(&cv, F_CMP_REQUEUE_PI, 2, (void *)0L, &mx, 0));
	T("cmp_requeue_pi(nr_wake 0)", fx(&cv, F_CMP_REQUEUE_PI, 0, (void *)0L, &mx, 0));
	T("cmp_requeue_pi(same futex)", fx(&cv, F_CMP_REQUEUE_PI, 1, (void *)0L, &cv, 0));
	T("cmp_requeue_pi(nr_requeue -1)", fx(&cv, F_CMP_REQUEUE_PI, 1, (void *)-1L, &mx, 0));
	T("cmp_requeue_pi(value differs)", fx(&cv, F_CMP_REQUEUE_PI, 1, (void *)0L, &mx, 5));
	T("cmp_requeue_pi(no waiters)", fx(&cv, F_CMP_REQUEUE_PI, 1, (void *)0L, &mx, 0));
	T("cmp_requeue_pi(unaligned pi futex)", fx(&cv, F_CMP_REQUEUE_PI, 1, (void *)0L, (uint32_t *)((char *)&mx + 1), 0));
	T("wait_requeue_pi(value differs)", fx(&cv, F_WAIT_REQUEUE_PI, 1, NULL, &mx, 0));
	T("wait_requeue_pi(same futex)", fx(&cv, F_WAIT_REQUEUE_PI, 0, NULL, &cv, 0));
	T("wait_requeue_pi(pi futex NULL)", fx(&cv, F_WAIT_REQUEUE_PI, 0, NULL, NULL, 0));
	T("wait_requeue_pi(unaligned pi futex)", fx(&cv, F_WAIT_REQUEUE_PI, 0, NULL, (uint32_t *)((char *)&mx + 2), 0));
	ts = now(CLOCK_MONOTONIC, 0);
	T("wait_requeue_pi(monotonic deadline passed)", fx(&cv, F_WAIT_REQUEUE_PI, 0, &ts, &mx, 0));
	ts = now(CLOCK_REALTIME, 20);
	T("wait_requeue_pi|CLOCK_REALTIME(20 ms)", fx(&cv, F_WAIT_REQUEUE_PI | F_CLOCK_RT, 0, &ts, &mx, 0));

	/* Three waiters, the PI futex free: the first gets it, the others are
	 * requeued onto it and handed it in turn. */
	rq_count = 0;
	for (long i = 0; i < 3; i++) {
		rq_ret[i] = rq_unlock[i] = -100;
		pthread_create(&th[i], NULL, rq_waiter, (void *)i);
	}
	long total = 0;
	for (int i = 0; i < 20000 && total < 3; i++) {
		long n = fx(&cv, F_CMP_REQUEUE_PI | F_PRIVATE, 1, (void *)(long)INT_MAX, &mx, 0);
		if (n > 0)
			total += n;
		else
			nap();
	}
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	printf("requeued or woken = %ld, owned it = %d, returns %ld %ld %ld\n", total, rq_count,
	       rq_ret[0], rq_ret[1], rq_ret[2]);
	printf("word = %s\n", sym(mx, me, 0));

	/* The PI futex owned by this thread: the waiter is requeued and gets
	 * it at the unlock. */
	rq_count = 0;
	rq_ret[0] = rq_unlock[0] = -100;
	T("lock_pi(mx)", fx(&mx, F_LOCK_PI | F_PRIVATE, 0, NULL, NULL, 0));
	pthread_create(&th[0], NULL, rq_waiter, (void *)0L);
	await_pi(&cv, F_PRIVATE);
	T("cmp_requeue_pi(to another pi futex)", fx(&cv, F_CMP_REQUEUE_PI | F_PRIVATE, 1, (void *)0L, &mx2, 0));
	T("cmp_requeue(requeue-pi waiter)", fx(&cv, F_CMP_REQUEUE | F_PRIVATE, 1, (void *)1L, &mx2, 0));
	T("lock_pi(the wait futex)", fx(&cv, F_LOCK_PI | F_PRIVATE, 0, NULL, NULL, 0));
	T("cmp_requeue_pi(requeue 0: still moves the one)", fx(&cv, F_CMP_REQUEUE_PI | F_PRIVATE, 1, (void *)0L, &mx, 0));
	printf("word = %s\n", sym(mx, me, 0));
	T("unlock_pi(mx)", fx(&mx, F_UNLOCK_PI | F_PRIVATE, 0, NULL, NULL, 0));
	pthread_join(th[0], NULL);
	printf("waiter = %ld, owned it = %d, its unlock = %ld, word = %s\n", rq_ret[0], rq_count,
	       rq_unlock[0], sym(mx, me, 0));

	/* A signal before the requeue restarts the wait; after it, EAGAIN. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	handled = 0;
	rq_count = 0;
	rq_ret[0] = rq_unlock[0] = -100;
	pthread_create(&th[0], NULL, rq_waiter, (void *)0L);
	await_pi(&cv, F_PRIVATE);
	pthread_kill(th[0], SIGUSR1);
	while (!handled)
		nap();
	await_pi(&cv, F_PRIVATE);
	T("cmp_requeue_pi(after a restart)", fx(&cv, F_CMP_REQUEUE_PI | F_PRIVATE, 1, (void *)0L, &mx, 0));
	pthread_join(th[0], NULL);
	printf("waiter = %ld, owned it = %d, word = %s\n", rq_ret[0], rq_count, sym(mx, me, 0));

	handled = 0;
	rq_ret[0] = -100;
	T("lock_pi(mx)", fx(&mx, F_LOCK_PI | F_PRIVATE, 0, NULL, NULL, 0));
	pthread_create(&th[0], NULL, rq_waiter, (void *)0L);
	await_pi(&cv, F_PRIVATE);
	T("cmp_requeue_pi(onto my lock)", fx(&cv, F_CMP_REQUEUE_PI | F_PRIVATE, 1, (void *)0L, &mx, 0));
	pthread_kill(th[0], SIGUSR1);
	pthread_join(th[0], NULL);
	printf("waiter = %s, handler ran = %d\n", rq_ret[0] == -EAGAIN ? "EAGAIN" : "?", handled);
	printf("word = %s\n", sym(mx, me, 0));
	T("unlock_pi(mx)", fx(&mx, F_UNLOCK_PI | F_PRIVATE, 0, NULL, NULL, 0));
	printf("word = %s\n", sym(mx, me, 0));
}

/* ------------------------------------------------------------------ */
/* futex_waitv and the futex2 calls */

static uint32_t vw[130] __attribute__((aligned(8)));
static struct waitv vv[130];
static long vret;
static int verr;
static void *vwaiter(void *arg)
{
	int n = (int)(long)arg;
	vret = SC(SYS_futex_waitv, vv, n, 0, NULL, 0);
	verr = errno;
	return NULL;
}

static void setv(int i, volatile void *addr, uint64_t val, uint32_t flags)
{
	vv[i].uaddr = (uintptr_t)addr;
	vv[i].val = val;
	vv[i].flags = flags;
	vv[i].reserved = 0;
}

static long waitv(int n, const struct timespec *ts, int clk)
{
	return SC(SYS_futex_waitv, vv, n, 0, ts, clk);
}

static void futex2(void)
{
	struct timespec past = now(CLOCK_MONOTONIC, -1), rpast = now(CLOCK_REALTIME, -1);
	struct timespec bad = { 0, -1 };
	pthread_t th;

	printf("-- futex_waitv\n");
	memset(vw, 0, sizeof vw);
	for (int i = 0; i < 130; i++)
		setv(i, &vw[i], 0, F2_U32 | F2_PRIVATE);
	T("waitv(128, deadline passed)", waitv(128, &past, CLOCK_MONOTONIC));
	T("waitv(129)", waitv(129, &past, CLOCK_MONOTONIC));
	T("waitv(0)", waitv(0, &past, CLOCK_MONOTONIC));
	T("waitv(NULL)", SC(SYS_futex_waitv, NULL, 1, 0, &past, CLOCK_MONOTONIC));
	T("waitv(flags 1)", SC(SYS_futex_waitv, vv, 1, 1, &past, CLOCK_MONOTONIC));
	T("waitv(bad array)", SC(SYS_futex_waitv, BADPTR, 1, 0, &past, CLOCK_MONOTONIC));
	T("waitv(realtime deadline passed)", waitv(2, &rpast, CLOCK_REALTIME));
	T("waitv(CLOCK_BOOTTIME)", waitv(2, &past, CLOCK_BOOTTIME));
	T("waitv(bad timeout ptr)", waitv(2, BADPTR, CLOCK_MONOTONIC));
	T("waitv(bad timeout)", waitv(2, &bad, CLOCK_MONOTONIC));
	struct timespec soon = now(CLOCK_MONOTONIC, 30);
	T("waitv(30 ms)", waitv(3, &soon, CLOCK_MONOTONIC));
	vv[1].val = 5;
	T("waitv(second value differs)", waitv(3, &past, CLOCK_MONOTONIC));
	vv[1].val = 0;
	vv[2].reserved = 1;
	T("waitv(reserved set)", waitv(3, &past, CLOCK_MONOTONIC));
	vv[2].reserved = 0;
	vv[2].flags = F2_U8;
	T("waitv(size u8)", waitv(3, &past, CLOCK_MONOTONIC));
	vv[2].flags = F2_U64;
	T("waitv(size u64)", waitv(3, &past, CLOCK_MONOTONIC));
	vv[2].flags = F2_U32 | 0x10;
	T("waitv(unknown flag)", waitv(3, &past, CLOCK_MONOTONIC));
	vv[2].flags = F2_U32;
	vv[2].val = 1ull << 32;
	T("waitv(value past 32 bits)", waitv(3, &past, CLOCK_MONOTONIC));
	vv[2].val = 0;
	vv[2].uaddr = (uintptr_t)vw + 2;
	T("waitv(unaligned word)", waitv(3, &past, CLOCK_MONOTONIC));
	vv[2].uaddr = 0;
	T("waitv(NULL word)", waitv(3, &past, CLOCK_MONOTONIC));
	vv[2].flags = F2_U32 | F2_PRIVATE;
	T("waitv(NULL private word)", waitv(3, &past, CLOCK_MONOTONIC));
	vv[2].uaddr = (uintptr_t)&vw[2];
	/* NUMA: (value, node) pairs, 8-aligned; node -1 becomes 0. */
	vw[10] = 0;
	vw[11] = 0xffffffff;
	setv(0, &vw[10], 0, F2_U32 | F2_NUMA | F2_PRIVATE);
	T("waitv(numa, node -1)", waitv(1, &past, CLOCK_MONOTONIC));
	printf("node word = %u\n", vw[11]);
	vw[11] = 1;
	T("waitv(numa, node 1)", waitv(1, &past, CLOCK_MONOTONIC));
	setv(0, &vw[11], 0, F2_U32 | F2_NUMA);
	T("waitv(numa, 4-aligned)", waitv(1, &past, CLOCK_MONOTONIC));
	setv(0, &vw[0], 0, F2_U32 | F2_PRIVATE);

	/* Woken by index. */
	setv(0, &vw[0], 0, F2_U32 | F2_PRIVATE);
	setv(1, &vw[1], 0, F2_U32);
	setv(2, &vw[2], 0, F2_U32 | F2_PRIVATE);
	pthread_create(&th, NULL, vwaiter, (void *)3L);
	await_plain(&vw[2], F_PRIVATE, 1);
	T("wake(index 2)", fx(&vw[2], F_WAKE | F_PRIVATE, 1, NULL, NULL, 0));
	pthread_join(th, NULL);
	printf("waitv = %ld\n", vret);
	pthread_create(&th, NULL, vwaiter, (void *)3L);
	await_plain(&vw[1], 0, 1);
	T("wake(index 1, private: another futex)", fx(&vw[1], F_WAKE | F_PRIVATE, 1, NULL, NULL, 0));
	T("wake(index 1)", fx(&vw[1], F_WAKE, 1, NULL, NULL, 0));
	pthread_join(th, NULL);
	printf("waitv = %ld\n", vret);
	/* Two entries on one word: a wake of both answers the higher index. */
	setv(1, &vw[0], 0, F2_U32 | F2_PRIVATE);
	pthread_create(&th, NULL, vwaiter, (void *)3L);
	await_plain(&vw[0], F_PRIVATE, 2);
	T("wake(word of 0 and 1, both)", fx(&vw[0], F_WAKE | F_PRIVATE, 2, NULL, NULL, 0));
	pthread_join(th, NULL);
	printf("waitv = %ld\n", vret);

	printf("-- futex2\n");
	T("futex_wake(none)", SC(SYS_futex_wake2, &vw[0], 0xffffffffUL, 1, F2_U32 | F2_PRIVATE));
	T("futex_wake(nr 0)", SC(SYS_futex_wake2, &vw[0], 0xffffffffUL, 0, F2_U32 | F2_PRIVATE));
	T("futex_wake(mask 0)", SC(SYS_futex_wake2, &vw[0], 0UL, 1, F2_U32 | F2_PRIVATE));
	T("futex_wake(mask past 32 bits)", SC(SYS_futex_wake2, &vw[0], 1UL << 32, 1, F2_U32 | F2_PRIVATE));
	T("futex_wake(size u8)", SC(SYS_futex_wake2, &vw[0], 0xffffffffUL, 1, F2_U8));
	T("futex_wake(unknown flag)", SC(SYS_futex_wake2, &vw[0], 0xffffffffUL, 1, F2_U32 | 0x40));
	T("futex_wake(unaligned)", SC(SYS_futex_wake2, (char *)&vw[0] + 1, 0xffffffffUL, 1, F2_U32));
	T("futex_wait(value differs)", SC(SYS_futex_wait2, &vw[0], 1UL, 0xffffffffUL, F2_U32 | F2_PRIVATE, NULL, 0));
	T("futex_wait(deadline passed)", SC(SYS_futex_wait2, &vw[0], 0UL, 0xffffffffUL, F2_U32 | F2_PRIVATE, &past, CLOCK_MONOTONIC));
	T("futex_wait(realtime deadline passed)", SC(SYS_futex_wait2, &vw[0], 0UL, 0xffffffffUL, F2_U32, &rpast, CLOCK_REALTIME));
	T("futex_wait(value past 32 bits)", SC(SYS_futex_wait2, &vw[0], 1UL << 32, 0xffffffffUL, F2_U32, NULL, 0));
	T("futex_wait(CLOCK_BOOTTIME)", SC(SYS_futex_wait2, &vw[0], 0UL, 0xffffffffUL, F2_U32, &past, CLOCK_BOOTTIME));
	T("futex_wait(mask 0)", SC(SYS_futex_wait2, &vw[0], 0UL, 0UL, F2_U32, &past, CLOCK_MONOTONIC));
	T("futex_wait(size u64)", SC(SYS_futex_wait2, &vw[0], 0UL, 0xffffffffUL, F2_U64, &past, CLOCK_MONOTONIC));
	struct waitv rq[2];
	memset(rq, 0, sizeof rq);
	rq[0].uaddr = (uintptr_t)&vw[0];
	rq[0].flags = F2_U32 | F2_PRIVATE;
	rq[1].uaddr = (uintptr_t)&vw[1];
	rq[1].flags = F2_U32 | F2_PRIVATE;
	T("futex_requeue(NULL)", SC(SYS_futex_requeue2, NULL, 0, 1, 1));
	T("futex_requeue(flags 1)", SC(SYS_futex_requeue2, rq, 1, 1, 1));
	T("futex_requeue(nr_wake -1)", SC(SYS_futex_requeue2, rq, 0, -1, 1));
	rq[0].val = 3;
	T("futex_requeue(value differs)", SC(SYS_futex_requeue2, rq, 0, 1, 1));
	rq[0].val = 0;
	setv(0, &vw[0], 0, F2_U32 | F2_PRIVATE);
	pthread_create(&th, NULL, vwaiter, (void *)1L);
	await_plain(&vw[0], F_PRIVATE, 1);
	T("futex_requeue(wake 0, requeue 1)", SC(SYS_futex_requeue2, rq, 0, 0, 1));
	T("futex_wake(requeued)", SC(SYS_futex_wake2, &vw[1], 0xffffffffUL, 1, F2_U32 | F2_PRIVATE));
	pthread_join(th, NULL);
	printf("waitv = %ld\n", vret);
}

/* ------------------------------------------------------------------ */
/* FUTEX_WAIT interrupted by a handler */

static uint32_t iw;
static long iret;
static int ierr;
static long itimeout_ms;
static void *iwaiter(void *arg)
{
	(void)arg;
	struct timespec ts = { itimeout_ms / 1000, (itimeout_ms % 1000) * 1000000 };
	iret = fx(&iw, F_WAIT | F_PRIVATE, 0, itimeout_ms ? &ts : NULL, NULL, 0);
	ierr = errno;
	return NULL;
}

static void interrupted_wait(const char *what, int flags, long timeout_ms)
{
	struct sigaction sa;
	pthread_t th;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sa.sa_flags = flags;
	sigaction(SIGUSR1, &sa, NULL);
	handled = 0;
	iw = 0;
	itimeout_ms = timeout_ms;
	pthread_create(&th, NULL, iwaiter, NULL);
	await_plain(&iw, F_PRIVATE, 1);
	pthread_kill(th, SIGUSR1);
	while (!handled)
		nap();
	if (flags & SA_RESTART && !timeout_ms) {
		/* Restarted: it sleeps again until woken. */
		await_plain(&iw, F_PRIVATE, 1);
		fx(&iw, F_WAKE | F_PRIVATE, 1, NULL, NULL, 0);
	}
	pthread_join(th, NULL);
	printf("%s = %ld %s\n", what, iret, iret ? errname(ierr) : "");
}

static void wait_restart(void)
{
	printf("-- interrupted waits\n");
	interrupted_wait("wait(handler with SA_RESTART)", SA_RESTART, 0);
	interrupted_wait("wait(handler without SA_RESTART)", 0, 0);
	interrupted_wait("wait(timeout, handler with SA_RESTART)", SA_RESTART, 20000);
	interrupted_wait("wait(timeout, handler without SA_RESTART)", 0, 20000);
}

/* ------------------------------------------------------------------ */
/* Robust lists */

static struct rhead rh;
static struct rentry re[8];
static volatile int robust_go;
static volatile int robust_tid;

static void robust_set(struct rhead *h, struct rlist *first, struct rlist *pending)
{
	h->list.next = first;
	h->futex_offset = ROFF;
	h->pending = pending;
	SC(SYS_set_robust_list, h, sizeof *h);
}

#define PI_LINK(e) ((struct rlist *)((uintptr_t)&(e)->link | 1))

/* head -> e0 (mine|WAITERS) -> e1 (mine) -> e2 (someone else's) -> e3 (PI,
 * mine|WAITERS) -> head, pending e4 (mine); then the thread exits while
 * the main thread waits on e0. */
static void *robust_thread(void *arg)
{
	uint32_t me = (uint32_t)tid();
	(void)arg;
	re[0].word = me | WAITERS;
	re[1].word = me;
	re[2].word = 5;
	re[3].word = me | WAITERS;
	re[4].word = me;
	re[0].link.next = &re[1].link;
	re[1].link.next = &re[2].link;
	re[2].link.next = PI_LINK(&re[3]);
	re[3].link.next = &rh.list;
	robust_set(&rh, &re[0].link, &re[4].link);
	set_flag(&robust_tid, (int)me);
	await_plain(&re[0].word, 0, 1);
	return NULL;
}

/* A circular list (e0 -> e1 -> e0) and a pending entry. */
static void *robust_cycle(void *arg)
{
	uint32_t me = (uint32_t)tid();
	(void)arg;
	re[0].word = me;
	re[1].word = me | WAITERS;
	re[2].word = me;
	re[0].link.next = &re[1].link;
	re[1].link.next = &re[0].link;
	robust_set(&rh, &re[0].link, &re[2].link);
	return NULL;
}

/* A list that runs into an unmapped address: the walk stops there (the
 * pending entry is not reached). */
static void *robust_bad(void *arg)
{
	uint32_t me = (uint32_t)tid();
	(void)arg;
	re[0].word = me;
	re[1].word = me;
	re[0].link.next = (struct rlist *)0x10;
	robust_set(&rh, &re[0].link, &re[1].link);
	return NULL;
}

/* A pending entry already released (word 0) while the main thread waits
 * on it: only the wake is passed on. */
static void *robust_pending(void *arg)
{
	(void)arg;
	re[0].word = 0;
	robust_set(&rh, &rh.list, &re[0].link);
	await_plain(&re[0].word, 0, 1);
	return NULL;
}

static void robust(void)
{
	pthread_t th;
	struct rhead *h = NULL, *mine;
	size_t len = 0;

	printf("-- robust lists\n");
	T("get_robust_list(self)", SC(SYS_get_robust_list, 0, &h, &len));
	printf("len = %zu\n", len);
	mine = h;
	T("set_robust_list(len 23)", SC(SYS_set_robust_list, &rh, 23));
	T("set_robust_list(len 25)", SC(SYS_set_robust_list, &rh, 25));
	T("set_robust_list(&rh)", SC(SYS_set_robust_list, &rh, 24));
	T("get_robust_list(self tid)", SC(SYS_get_robust_list, tid(), &h, &len));
	check("head is &rh", h == &rh);
	T("set_robust_list(bad pointer)", SC(SYS_set_robust_list, BADPTR, 24));
	T("get_robust_list(0)", SC(SYS_get_robust_list, 0, &h, &len));
	check("head is the bad pointer", h == BADPTR);
	SC(SYS_set_robust_list, mine, 24);
	T("get_robust_list(no such thread)", SC(SYS_get_robust_list, (int)NOBODY, &h, &len));
	T("get_robust_list(-1)", SC(SYS_get_robust_list, -1, &h, &len));
	T("get_robust_list(bad head ptr)", SC(SYS_get_robust_list, 0, BADPTR, &len));
	T("get_robust_list(bad len ptr)", SC(SYS_get_robust_list, 0, &h, BADPTR));

	/* Another thread's list; then its death. */
	robust_tid = 0;
	pthread_create(&th, NULL, robust_thread, NULL);
	await_flag(&robust_tid);
	T("get_robust_list(other thread)", SC(SYS_get_robust_list, robust_tid, &h, &len));
	check("its head is &rh", h == &rh);
	uint32_t val = re[0].word;
	T("wait(e0, until its owner dies)", fx(&re[0].word, F_WAIT, val, NULL, NULL, 0));
	pthread_join(th, NULL);
	for (int i = 0; i < 5; i++)
		printf("e%d = %s\n", i, sym(re[i].word, 0, 0));
	T("get_robust_list(dead thread)", SC(SYS_get_robust_list, robust_tid, &h, &len));

	pthread_create(&th, NULL, robust_cycle, NULL);
	pthread_join(th, NULL);
	printf("cycle: e0 = %s, e1 = %s, pending = %s\n", sym(re[0].word, 0, 0), sym(re[1].word, 0, 0),
	       sym(re[2].word, 0, 0));

	pthread_create(&th, NULL, robust_bad, NULL);
	pthread_join(th, NULL);
	printf("bad pointer: e0 = %s, pending %s\n", sym(re[0].word, 0, 0),
	       re[1].word & OWNER_DIED ? "marked" : "untouched");

	re[0].word = 0;
	pthread_create(&th, NULL, robust_pending, NULL);
	T("wait(pending word 0)", fx(&re[0].word, F_WAIT, 0, NULL, NULL, 0));
	pthread_join(th, NULL);
	printf("pending word = %s\n", sym(re[0].word, 0, 0));
}

/* The robust list of a process that exits with other threads running, and
 * of one that execs, in shared memory the parent reads. */
struct shared {
	struct rhead head;
	struct rentry e[2];
	volatile int ready;
};

static struct shared *sh;

static void *exit_group_thread(void *arg)
{
	(void)arg;
	sh->e[0].word = (uint32_t)tid();
	sh->e[0].link.next = &sh->head.list;
	robust_set(&sh->head, &sh->e[0].link, NULL);
	set_flag(&sh->ready, 1);
	for (;;)
		pause();
	return NULL;
}

static void robust_processes(char **argv)
{
	int st;
	pid_t pid;

	printf("-- robust lists of processes\n");
	sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	memset(sh, 0, sizeof *sh);
	pid = fork();
	if (pid == 0) {
		pthread_t th;
		pthread_create(&th, NULL, exit_group_thread, NULL);
		await_flag(&sh->ready);
		_exit(3);
	}
	waitpid(pid, &st, 0);
	printf("exit_group: status %d, word = %s\n", WEXITSTATUS(st), sym(sh->e[0].word, 0, 0));

	memset(sh, 0, sizeof *sh);
	pid = fork();
	if (pid == 0) {
		sh->e[0].word = (uint32_t)tid() | WAITERS;
		sh->e[0].link.next = &sh->head.list;
		robust_set(&sh->head, &sh->e[0].link, NULL);
		/* Once the parent sleeps on the word, exec. */
		await_plain(&sh->e[0].word, 0, 1);
		char *args[] = { argv[0], "exec-exit", NULL };
		execv("/proc/self/exe", args);
		_exit(126);
	}
	while (!(sh->e[0].word & WAITERS))
		nap();
	T("wait(until the owner execs)", fx(&sh->e[0].word, F_WAIT, sh->e[0].word, NULL, NULL, 0));
	waitpid(pid, &st, 0);
	printf("exec: status %d, word = %s\n", WEXITSTATUS(st), sym(sh->e[0].word, 0, 0));
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "exec-exit") == 0)
		return 4;
	setup(argc, argv, "futex");
	pi_alone();
	pi_contended();
	requeue();
	requeue_pi();
	futex2();
	wait_restart();
	robust();
	robust_processes(argv);
	return 0;
}
