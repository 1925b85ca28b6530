/*
 * Robust and priority-inheritance pthread mutexes, as programs use them:
 * a robust mutex whose owner thread exits holding it (EOWNERDEAD, then
 * pthread_mutex_consistent, or ENOTRECOVERABLE without it), the same for a
 * process-shared robust mutex in MAP_SHARED memory whose owner process is
 * killed, robust PTHREAD_PRIO_INHERIT mutexes (both libcs lock those with
 * FUTEX_LOCK_PI), and PI mutexes under contention from 8 threads, with
 * trylock, error-checking, recursion and a condition variable.
 */
#include "common.h"
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#define THREADS 8
#define ROUNDS 3000

static const char *en(int e)
{
	if (e == EOWNERDEAD)
		return "EOWNERDEAD";
	if (e == ENOTRECOVERABLE)
		return "ENOTRECOVERABLE";
	return e ? errname(e) : "0";
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static void init_mutex(pthread_mutex_t *m, int type, int robust, int proto, int pshared)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, type);
	if (robust)
		pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (proto)
		pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT);
	if (pshared)
		pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	int e = pthread_mutex_init(m, &a);
	if (e) {
		printf("pthread_mutex_init = %s\n", en(e));
		exit(1);
	}
	pthread_mutexattr_destroy(&a);
}

/* ------------------------------------------------------------------ */
/* An owner thread that exits holding the mutex */

static pthread_mutex_t rm;
static volatile int locked;
static long hold_ms;

static void *lock_and_exit(void *arg)
{
	(void)arg;
	int e = pthread_mutex_lock(&rm);
	if (e)
		printf("owner lock = %s\n", en(e));
	__atomic_store_n(&locked, 1, __ATOMIC_RELEASE);
	/* Long enough for the main thread to be asleep in its lock. */
	nap_ms(hold_ms);
	return NULL;
}

static void owner_exits(const char *what, int proto)
{
	pthread_t th;

	printf("-- %s\n", what);
	init_mutex(&rm, PTHREAD_MUTEX_NORMAL, 1, proto, 0);

	/* The waiter sleeps while the owner dies. */
	locked = 0;
	hold_ms = 100;
	pthread_create(&th, NULL, lock_and_exit, NULL);
	while (!__atomic_load_n(&locked, __ATOMIC_ACQUIRE))
		nap_ms(1);
	printf("lock(owner alive, then exits) = %s\n", en(pthread_mutex_lock(&rm)));
	pthread_join(th, NULL);
	printf("consistent = %s\n", en(pthread_mutex_consistent(&rm)));
	printf("unlock = %s\n", en(pthread_mutex_unlock(&rm)));
	printf("lock = %s\n", en(pthread_mutex_lock(&rm)));
	printf("unlock = %s\n", en(pthread_mutex_unlock(&rm)));

	/* The owner is gone before anyone asks. */
	locked = 0;
	hold_ms = 0;
	pthread_create(&th, NULL, lock_and_exit, NULL);
	pthread_join(th, NULL);
	printf("trylock(owner gone) = %s\n", en(pthread_mutex_trylock(&rm)));
	printf("unlock without consistent = %s\n", en(pthread_mutex_unlock(&rm)));
	printf("lock(not recoverable) = %s\n", en(pthread_mutex_lock(&rm)));
	printf("trylock(not recoverable) = %s\n", en(pthread_mutex_trylock(&rm)));
	printf("destroy = %s\n", en(pthread_mutex_destroy(&rm)));
}

/* ------------------------------------------------------------------ */
/* A process-shared robust mutex whose owner process is killed */

struct shm {
	pthread_mutex_t m;
	volatile int locked;
	long counter;
};

static void owner_killed(const char *what, int proto)
{
	struct shm *s = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int st;
	pid_t pid;

	printf("-- %s\n", what);
	init_mutex(&s->m, PTHREAD_MUTEX_NORMAL, 1, proto, 1);

	/* Killed by the parent while holding it. */
	s->locked = 0;
	pid = fork();
	if (pid == 0) {
		pthread_mutex_lock(&s->m);
		s->counter = 1;
		__atomic_store_n(&s->locked, 1, __ATOMIC_RELEASE);
		for (;;)
			pause();
	}
	while (!__atomic_load_n(&s->locked, __ATOMIC_ACQUIRE))
		nap_ms(1);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	printf("child killed by signal %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	printf("lock(owner killed) = %s, counter = %ld\n", en(pthread_mutex_lock(&s->m)), s->counter);
	printf("consistent = %s\n", en(pthread_mutex_consistent(&s->m)));
	printf("unlock = %s\n", en(pthread_mutex_unlock(&s->m)));

	/* Kills itself while the parent sleeps in its lock. */
	s->locked = 0;
	pid = fork();
	if (pid == 0) {
		pthread_mutex_lock(&s->m);
		s->counter = 2;
		__atomic_store_n(&s->locked, 1, __ATOMIC_RELEASE);
		nap_ms(100);
		kill(getpid(), SIGKILL);
		_exit(1);
	}
	while (!__atomic_load_n(&s->locked, __ATOMIC_ACQUIRE))
		nap_ms(1);
	printf("lock(owner dies meanwhile) = %s, counter = %ld\n", en(pthread_mutex_lock(&s->m)),
	       s->counter);
	waitpid(pid, &st, 0);
	printf("child killed by signal %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	printf("consistent = %s\n", en(pthread_mutex_consistent(&s->m)));
	printf("unlock = %s\n", en(pthread_mutex_unlock(&s->m)));

	/* Exits normally holding it. */
	pid = fork();
	if (pid == 0) {
		pthread_mutex_lock(&s->m);
		s->counter = 3;
		_exit(0);
	}
	waitpid(pid, &st, 0);
	printf("lock(owner exited) = %s, counter = %ld\n", en(pthread_mutex_lock(&s->m)), s->counter);
	printf("consistent = %s\n", en(pthread_mutex_consistent(&s->m)));
	printf("unlock = %s\n", en(pthread_mutex_unlock(&s->m)));
	munmap(s, 4096);
}

/* ------------------------------------------------------------------ */
/* PI mutexes under contention */

static pthread_mutex_t pm;
static pthread_cond_t pc = PTHREAD_COND_INITIALIZER;
static long counter;
static int queue_len, produced, consumed;

static void *contend(void *arg)
{
	long bad = 0;
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		if (pthread_mutex_lock(&pm))
			bad++;
		counter++;
		if (pthread_mutex_unlock(&pm))
			bad++;
	}
	return (void *)bad;
}

static volatile int holding;
static void *hold(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pm);
	__atomic_store_n(&holding, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&holding, __ATOMIC_ACQUIRE) == 1)
		nap_ms(1);
	pthread_mutex_unlock(&pm);
	return NULL;
}

static long trylock_ret, unlock_other_ret;
static void *try_other(void *arg)
{
	(void)arg;
	trylock_ret = pthread_mutex_trylock(&pm);
	unlock_other_ret = pthread_mutex_unlock(&pm);
	return NULL;
}

static void *consumer(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&pm);
		while (queue_len == 0 && produced < THREADS * 50)
			pthread_cond_wait(&pc, &pm);
		if (queue_len == 0) {
			pthread_mutex_unlock(&pm);
			return NULL;
		}
		queue_len--;
		consumed++;
		pthread_mutex_unlock(&pm);
	}
}

static void *producer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 50; i++) {
		pthread_mutex_lock(&pm);
		queue_len++;
		produced++;
		pthread_cond_broadcast(&pc);
		pthread_mutex_unlock(&pm);
	}
	return NULL;
}

static void pi_contention(void)
{
	pthread_t th[THREADS * 2];
	long bad = 0;

	printf("-- pi contention\n");
	init_mutex(&pm, PTHREAD_MUTEX_NORMAL, 0, 1, 0);
	counter = 0;
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, contend, NULL);
	for (int i = 0; i < THREADS; i++) {
		void *r;
		pthread_join(th[i], &r);
		bad += (long)r;
	}
	printf("counter = %ld (want %d), failed calls = %ld\n", counter, THREADS * ROUNDS, bad);

	holding = 0;
	pthread_create(&th[0], NULL, hold, NULL);
	while (!__atomic_load_n(&holding, __ATOMIC_ACQUIRE))
		nap_ms(1);
	printf("trylock(held by another) = %s\n", en(pthread_mutex_trylock(&pm)));
	__atomic_store_n(&holding, 2, __ATOMIC_RELEASE);
	pthread_join(th[0], NULL);
	printf("trylock(free) = %s\n", en(pthread_mutex_trylock(&pm)));
	printf("unlock = %s\n", en(pthread_mutex_unlock(&pm)));

	/* A condition variable over a PI mutex. */
	produced = consumed = queue_len = 0;
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, consumer, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[THREADS + i], NULL, producer, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[THREADS + i], NULL);
	pthread_mutex_lock(&pm);
	pthread_cond_broadcast(&pc);
	pthread_mutex_unlock(&pm);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	printf("produced = %d, consumed = %d\n", produced, consumed);
	pthread_mutex_destroy(&pm);

	/* Error-checking and recursive PI mutexes. */
	init_mutex(&pm, PTHREAD_MUTEX_ERRORCHECK, 0, 1, 0);
	printf("errorcheck: lock = %s\n", en(pthread_mutex_lock(&pm)));
	printf("errorcheck: lock again = %s\n", en(pthread_mutex_lock(&pm)));
	printf("errorcheck: trylock again = %s\n", en(pthread_mutex_trylock(&pm)));
	pthread_create(&th[0], NULL, try_other, NULL);
	pthread_join(th[0], NULL);
	printf("errorcheck: other thread trylock = %s, unlock = %s\n", en((int)trylock_ret),
	       en((int)unlock_other_ret));
	printf("errorcheck: unlock = %s\n", en(pthread_mutex_unlock(&pm)));
	printf("errorcheck: unlock again = %s\n", en(pthread_mutex_unlock(&pm)));
	pthread_mutex_destroy(&pm);
	init_mutex(&pm, PTHREAD_MUTEX_RECURSIVE, 0, 1, 0);
	printf("recursive: lock = %s\n", en(pthread_mutex_lock(&pm)));
	printf("recursive: lock again = %s\n", en(pthread_mutex_lock(&pm)));
	printf("recursive: trylock again = %s\n", en(pthread_mutex_trylock(&pm)));
	printf("recursive: unlock x3 = %s %s %s\n", en(pthread_mutex_unlock(&pm)),
	       en(pthread_mutex_unlock(&pm)), en(pthread_mutex_unlock(&pm)));
	pthread_create(&th[0], NULL, try_other, NULL);
	pthread_join(th[0], NULL);
	printf("recursive: other thread trylock = %s, unlock = %s\n", en((int)trylock_ret),
	       en((int)unlock_other_ret));
	pthread_mutex_destroy(&pm);
}

int main(int argc, char **argv)
{
	setup(argc, argv, "robust");
	owner_exits("robust mutex, owner thread exits", 0);
	owner_exits("robust PI mutex, owner thread exits", 1);
	owner_killed("shared robust mutex, owner process killed", 0);
	owner_killed("shared robust PI mutex, owner process killed", 1);
	pi_contention();
	return 0;
}
