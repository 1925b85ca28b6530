/*
 * File locks: flock(2), fcntl record locks (POSIX and OFD) and leases.
 *
 * Cross-process checks fork a child that reports through its exit status
 * or a pipe; waits are ordered with pipes, never with sleeps, except
 * where a wait must be interrupted (a periodic timer signal does that).
 */
#include "common.h"
#include <signal.h>
#include <sys/file.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#ifndef F_OFD_GETLK
#define F_OFD_GETLK 36
#define F_OFD_SETLK 37
#define F_OFD_SETLKW 38
#endif
#ifndef F_SETLEASE
#define F_SETLEASE 1024
#define F_GETLEASE 1025
#endif
#ifndef LOCK_MAND
#define LOCK_MAND 32
#endif

static pid_t parent;

static int lk(int fd, int cmd, short type, short whence, long start, long len)
{
	struct flock fl;
	memset(&fl, 0, sizeof fl);
	fl.l_type = type;
	fl.l_whence = whence;
	fl.l_start = start;
	fl.l_len = len;
	return fcntl(fd, cmd, &fl);
}

static const char *tname(short t)
{
	switch (t) {
	case F_RDLCK: return "F_RDLCK";
	case F_WRLCK: return "F_WRLCK";
	case F_UNLCK: return "F_UNLCK";
	default: return "?";
	}
}

/* F_GETLK (or F_OFD_GETLK) for a write lock on [start, start+len). */
static void getlk(const char *label, int fd, int cmd, short type, long start, long len)
{
	struct flock fl;
	memset(&fl, 0, sizeof fl);
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = start;
	fl.l_len = len;
	if (fcntl(fd, cmd, &fl) != 0) {
		printf("%s: -1 %s\n", label, errname(errno));
		return;
	}
	if (fl.l_type == F_UNLCK) {
		printf("%s: F_UNLCK\n", label);
		return;
	}
	const char *who = fl.l_pid == parent ? "parent"
		: fl.l_pid == -1 ? "-1"
		: fl.l_pid == getpid() ? "self" : "other";
	printf("%s: %s whence=%d start=%ld len=%ld pid=%s\n", label, tname(fl.l_type),
	       fl.l_whence, (long)fl.l_start, (long)fl.l_len, who);
}

/* Runs f in a child; returns its exit status (or 100 + signal). */
static int in_child(int (*f)(void *), void *arg)
{
	fflush(stdout);
	pid_t c = fork();
	if (c == 0)
		_exit(f(arg));
	int st;
	waitpid(c, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

static int child_getlk(void *arg)
{
	int fd = open("data", O_RDWR);
	const long *r = arg;
	char label[64];
	snprintf(label, sizeof label, "child F_GETLK [%ld,+%ld)", r[0], r[1]);
	getlk(label, fd, F_GETLK, F_WRLCK, r[0], r[1]);
	fflush(stdout);
	return 0;
}

static void child_sees(long start, long len)
{
	long r[2] = {start, len};
	in_child(child_getlk, r);
}

static int child_setlk(void *arg)
{
	int fd = open("data", O_RDWR);
	short type = *(short *)arg;
	if (lk(fd, F_SETLK, type, SEEK_SET, 0, 0) == 0)
		return 0;
	return errno == EAGAIN ? 1 : 2;
}

static void argument_errors(int fd)
{
	int ro = open("data", O_RDONLY);
	int wo = open("data", O_WRONLY);
	int path = open("data", O_PATH);
	struct flock fl;
	printf("-- argument errors\n");
	T("whence 7", lk(fd, F_SETLK, F_WRLCK, 7, 0, 1));
	T("type 9", lk(fd, F_SETLK, 9, SEEK_SET, 0, 1));
	T("type 9 bad whence", lk(fd, F_SETLK, 9, 7, 0, 1));
	T("start -1", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, -1, 1));
	T("len -6 from 5", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 5, -6));
	T("len -5 from 5", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 5, -5));
	T("start max len 2", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0x7fffffffffffffffL, 2));
	T("start max len 1", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0x7fffffffffffffffL, 1));
	T("SEEK_END start max", lk(fd, F_SETLK, F_WRLCK, SEEK_END, 0x7fffffffffffffffL, 0));
	T("unlock all", lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0));
	T("read lock on O_WRONLY", lk(wo, F_SETLK, F_RDLCK, SEEK_SET, 0, 1));
	T("write lock on O_RDONLY", lk(ro, F_SETLK, F_WRLCK, SEEK_SET, 0, 1));
	T("unlock on O_RDONLY", lk(ro, F_SETLK, F_UNLCK, SEEK_SET, 0, 1));
	T("bad whence on O_RDONLY", lk(ro, F_SETLK, F_WRLCK, 7, 0, 1));
	T("O_PATH", lk(path, F_SETLK, F_RDLCK, SEEK_SET, 0, 1));
	T("O_PATH F_GETLK", lk(path, F_GETLK, F_RDLCK, SEEK_SET, 0, 1));
	T("bad fd", lk(BADFD, F_SETLK, F_RDLCK, SEEK_SET, 0, 1));
	T("F_GETLK F_UNLCK", lk(fd, F_GETLK, F_UNLCK, SEEK_SET, 0, 1));
	T("F_SETLK EFAULT", fcntl(fd, F_SETLK, BADPTR));
	T("F_GETLK EFAULT", fcntl(fd, F_GETLK, BADPTR));
	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_pid = 5;
	T("OFD l_pid 5", fcntl(fd, F_OFD_SETLK, &fl));
	T("OFD l_pid 5 on O_RDONLY", fcntl(ro, F_OFD_SETLK, &fl));
	T("OFD_GETLK l_pid 5", fcntl(fd, F_OFD_GETLK, &fl));
	fl.l_pid = 0;
	fl.l_type = F_UNLCK;
	T("OFD_GETLK F_UNLCK", fcntl(fd, F_OFD_GETLK, &fl));
	printf("OFD_GETLK F_UNLCK l_type = %s\n", tname(fl.l_type));
	T("flock bad op", flock(fd, 0));
	T("flock SH|EX", flock(fd, LOCK_SH | LOCK_EX));
	T("flock bad op bad fd", flock(BADFD, 99));
	T("flock bad fd", flock(BADFD, LOCK_SH));
	T("flock LOCK_MAND bad fd", flock(BADFD, LOCK_MAND));
	T("flock O_PATH", flock(path, LOCK_SH));
	T("flock unknown bit", flock(fd, 64 | LOCK_SH));
	T("flock LOCK_UN unlocked", flock(fd, LOCK_UN | LOCK_NB));
	T("flock O_WRONLY shared", flock(wo, LOCK_SH | LOCK_NB));
	T("flock O_WRONLY unlock", flock(wo, LOCK_UN));
	close(ro);
	close(wo);
	close(path);
}

static void ranges(int fd)
{
	printf("-- ranges\n");
	T("read [0,100)", lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 0, 100));
	T("write [40,60)", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 40, 20));
	child_sees(0, 0);
	child_sees(45, 1);
	child_sees(60, 1000);
	T("unlock [30,50)", lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 30, 20));
	child_sees(0, 0);
	child_sees(30, 20);
	child_sees(50, 1000);
	T("read [50,60) (downgrade)", lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 50, 10));
	T("read [30,50) (fill the gap)", lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 30, 20));
	child_sees(0, 0);
	T("SEEK_CUR", lseek(fd, 200, SEEK_SET));
	T("write from cur-10, len -5", lk(fd, F_SETLK, F_WRLCK, SEEK_CUR, -10, -5));
	child_sees(150, 100);
	T("write from end, to EOF", lk(fd, F_SETLK, F_WRLCK, SEEK_END, 1000, 0));
	child_sees(300, 10000);
	T("own lock F_GETLK", lk(fd, F_GETLK, F_WRLCK, SEEK_SET, 0, 0));
	getlk("own F_GETLK", fd, F_GETLK, F_WRLCK, 0, 0);
	short w = F_WRLCK, r = F_RDLCK;
	printf("child write lock: %d\n", in_child(child_setlk, &w));
	printf("child read lock: %d\n", in_child(child_setlk, &r));
	T("unlock all", lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0));
	printf("child write lock after unlock: %d\n", in_child(child_setlk, &w));
}

static void close_releases(int fd)
{
	printf("-- closing any descriptor releases POSIX locks\n");
	T("write [0,10)", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 10));
	int other = open("data", O_RDONLY);
	int dup_ = dup(fd);
	T("close a dup", close(dup_));
	child_sees(0, 0);
	T("write [0,10) again", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 10));
	T("close another open of the file", close(other));
	child_sees(0, 0);
	int unrelated = open("other", O_RDWR | O_CREAT, 0600);
	T("write [0,10) once more", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 10));
	T("close an unrelated file", close(unrelated));
	child_sees(0, 0);
	T("unlock", lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0));
}

static int child_forked_locks(void *arg)
{
	int fd = *(int *)arg;
	/* The parent's lock is not the child's: it conflicts. */
	getlk("child F_GETLK on inherited fd", fd, F_GETLK, F_WRLCK, 0, 0);
	printf("child F_SETLK on inherited fd = %s\n",
	       lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1) == 0 ? "0" : errname(errno));
	/* The OFD lock is the description's, which the child shares. */
	printf("child F_OFD_SETLK [100,+1) on inherited fd = %s\n",
	       lk(fd, F_OFD_SETLK, F_WRLCK, SEEK_SET, 100, 1) == 0 ? "0" : errname(errno));
	/* The flock lock too. */
	printf("child flock on inherited fd = %s\n",
	       flock(fd, LOCK_EX | LOCK_NB) == 0 ? "0" : errname(errno));
	int own = open("data", O_RDWR);
	printf("child flock on its own open = %s\n",
	       flock(own, LOCK_EX | LOCK_NB) == 0 ? "0" : errname(errno));
	/* Closing the child's descriptor releases nothing of the parent's. */
	close(fd);
	close(own);
	fflush(stdout);
	return 0;
}

static void fork_semantics(int fd)
{
	printf("-- fork\n");
	T("POSIX write [0,10)", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 10));
	T("OFD write [100,101)", lk(fd, F_OFD_SETLK, F_WRLCK, SEEK_SET, 100, 1));
	T("flock LOCK_EX", flock(fd, LOCK_EX));
	in_child(child_forked_locks, &fd);
	child_sees(0, 0);
	child_sees(50, 100);
	T("unlock", lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0));
	T("OFD unlock", lk(fd, F_OFD_SETLK, F_UNLCK, SEEK_SET, 0, 0));
	T("flock LOCK_UN", flock(fd, LOCK_UN));
}

static void ofd_locks(int fd)
{
	printf("-- OFD locks\n");
	int second = open("data", O_RDWR);
	T("OFD write [0,10) on fd", lk(fd, F_OFD_SETLK, F_WRLCK, SEEK_SET, 0, 10));
	T("OFD write [5,6) on a second open", lk(second, F_OFD_SETLK, F_WRLCK, SEEK_SET, 5, 1));
	getlk("OFD_GETLK from the second open", second, F_OFD_GETLK, F_RDLCK, 0, 0);
	getlk("OFD_GETLK from fd itself", fd, F_OFD_GETLK, F_WRLCK, 0, 0);
	getlk("POSIX F_GETLK in the same process", second, F_GETLK, F_RDLCK, 0, 0);
	T("POSIX write [0,1) in the same process", lk(second, F_SETLK, F_WRLCK, SEEK_SET, 0, 1));
	T("POSIX write [20,30)", lk(second, F_SETLK, F_WRLCK, SEEK_SET, 20, 10));
	T("OFD read [25,26) on fd", lk(fd, F_OFD_SETLK, F_RDLCK, SEEK_SET, 25, 1));
	getlk("OFD_GETLK sees the POSIX lock", fd, F_OFD_GETLK, F_WRLCK, 20, 100);
	T("close the second open (drops POSIX locks)", close(second));
	int dup_ = dup(fd);
	T("close a dup of fd (OFD locks stay)", close(dup_));
	child_sees(0, 0);
	int third = open("data", O_RDWR);
	T("close fd (last reference)", close(fd));
	child_sees(0, 0);
	T("OFD write [0,10) now", lk(third, F_OFD_SETLK, F_WRLCK, SEEK_SET, 0, 10));
	T("close", close(third));
}

static int child_flock_wait(void *arg)
{
	int *p = arg;
	int fd = open("data", O_RDWR);
	printf("child flock NB = %s\n", flock(fd, LOCK_EX | LOCK_NB) == 0 ? "0" : errname(errno));
	fflush(stdout);
	char c = 'w';
	write(p[1], &c, 1);
	int r = flock(fd, LOCK_EX);
	printf("child flock (waited) = %d\n", r);
	fflush(stdout);
	return 0;
}

static void flock_semantics(void)
{
	printf("-- flock\n");
	int a = open("data", O_RDWR);
	int b = open("data", O_RDONLY);
	T("a LOCK_EX", flock(a, LOCK_EX | LOCK_NB));
	T("b LOCK_SH (another open, same process)", flock(b, LOCK_SH | LOCK_NB));
	int d = dup(a);
	T("dup of a LOCK_EX", flock(d, LOCK_EX | LOCK_NB));
	T("close a", close(a));
	T("b LOCK_SH while the dup holds it", flock(b, LOCK_SH | LOCK_NB));
	T("close the dup", close(d));
	T("b LOCK_SH", flock(b, LOCK_SH | LOCK_NB));
	a = open("data", O_RDWR);
	T("a LOCK_SH", flock(a, LOCK_SH | LOCK_NB));
	T("a upgrade while b shares", flock(a, LOCK_EX | LOCK_NB));
	T("b upgrade (a lost its lock)", flock(b, LOCK_EX | LOCK_NB));
	T("a LOCK_SH", flock(a, LOCK_SH | LOCK_NB));
	T("b downgrade", flock(b, LOCK_SH | LOCK_NB));
	T("a LOCK_SH", flock(a, LOCK_SH | LOCK_NB));
	T("record lock is independent", lk(a, F_SETLK, F_WRLCK, SEEK_SET, 0, 0));
	T("record unlock", lk(a, F_SETLK, F_UNLCK, SEEK_SET, 0, 0));
	T("b LOCK_UN", flock(b, LOCK_UN));
	T("a LOCK_EX", flock(a, LOCK_EX | LOCK_NB));
	int p[2];
	pipe(p);
	fflush(stdout);
	pid_t c = fork();
	if (c == 0)
		_exit(child_flock_wait(p));
	char ch;
	read(p[0], &ch, 1);
	long r = flock(a, LOCK_UN);
	int st;
	waitpid(c, &st, 0);
	T("a LOCK_UN (woke the child)", r);
	printf("child exit %d\n", WEXITSTATUS(st));
	close(a);
	close(b);
	close(p[0]);
	close(p[1]);
}

static int child_setlkw(void *arg)
{
	int *p = arg;
	int fd = open("data", O_RDWR);
	char c = 'w';
	write(p[1], &c, 1);
	int r = lk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 5, 1);
	printf("child F_SETLKW = %d\n", r);
	getlk("child F_GETLK after its wait", fd, F_GETLK, F_WRLCK, 0, 0);
	fflush(stdout);
	return 0;
}

static void blocking(int fd)
{
	printf("-- F_SETLKW\n");
	int p[2];
	pipe(p);
	T("write [0,10)", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 10));
	fflush(stdout);
	pid_t c = fork();
	if (c == 0)
		_exit(child_setlkw(p));
	char ch;
	read(p[0], &ch, 1);
	/* Unlocking another byte does not satisfy the child. */
	T("unlock [0,1)", lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 1));
	long r = lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 1, 9);
	int st;
	waitpid(c, &st, 0);
	T("unlock [1,10) (woke the child)", r);
	printf("child exit %d\n", WEXITSTATUS(st));
	close(p[0]);
	close(p[1]);
}

/*
 * Two processes each hold a byte and wait for the other's: the second to
 * wait gets EDEADLK (whichever that is), gives up its byte, and the first
 * then gets the lock.
 */
static int deadlock_side(int fd, int mine, int theirs, int rep, int go_in, int go_out)
{
	char c = 'r';
	lk(fd, F_SETLK, F_WRLCK, SEEK_SET, mine, 1);
	write(go_out, &c, 1);
	read(go_in, &c, 1);
	int r = lk(fd, F_SETLKW, F_WRLCK, SEEK_SET, theirs, 1);
	char out = r == 0 ? 'L' : errno == EDEADLK ? 'D' : 'E';
	if (out == 'D')
		lk(fd, F_SETLK, F_UNLCK, SEEK_SET, mine, 1);
	write(rep, &out, 1);
	return 0;
}

static void deadlock(void)
{
	printf("-- deadlock detection\n");
	int rep[2], a[2], b[2];
	pipe(rep);
	pipe(a);
	pipe(b);
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		int fd = open("data", O_RDWR);
		deadlock_side(fd, 1, 0, rep[1], a[0], b[1]);
		/* Keep the lock until the parent has its answer. */
		char x;
		read(a[0], &x, 1);
		_exit(0);
	}
	int fd = open("data", O_RDWR);
	deadlock_side(fd, 0, 1, rep[1], b[0], a[1]);
	char r1, r2;
	read(rep[0], &r1, 1);
	read(rep[0], &r2, 1);
	char x = 'x';
	write(a[1], &x, 1);
	waitpid(c, NULL, 0);
	int dead = (r1 == 'D') + (r2 == 'D');
	int locked = (r1 == 'L') + (r2 == 'L');
	printf("EDEADLK answers: %d, locks granted: %d\n", dead, locked);
	/* OFD locks are never checked for deadlocks: F_OFD_SETLKW would wait. */
	close(fd);
	close(rep[0]);
	close(rep[1]);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

static volatile sig_atomic_t ticks;
static void on_tick(int s)
{
	(void)s;
	ticks++;
}

static int child_interrupted(void *arg)
{
	int restart = *(int *)arg;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_tick;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 50000}, {0, 50000}};
	setitimer(ITIMER_REAL, &it, NULL);
	int fd = open("data", O_RDWR);
	int r;
	if (restart) {
		/* Waits through the signals until the lock is free. */
		r = lk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 0, 1);
		printf("child F_SETLKW with SA_RESTART = %s\n", r == 0 ? "0" : errname(errno));
		r = flock(fd, LOCK_EX);
		printf("child flock with SA_RESTART = %s\n", r == 0 ? "0" : errname(errno));
	} else {
		r = lk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 0, 1);
		printf("child F_SETLKW interrupted = %s\n", r == 0 ? "0" : errname(errno));
		r = flock(fd, LOCK_EX);
		printf("child flock interrupted = %s\n", r == 0 ? "0" : errname(errno));
		r = lk(fd, F_OFD_SETLKW, F_WRLCK, SEEK_SET, 0, 1);
		printf("child F_OFD_SETLKW interrupted = %s\n", r == 0 ? "0" : errname(errno));
	}
	fflush(stdout);
	return 0;
}

static void interrupted(int fd)
{
	printf("-- interrupted waits\n");
	int no = 0, yes = 1;
	T("write [0,1)", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1));
	T("flock LOCK_EX", flock(fd, LOCK_EX));
	in_child(child_interrupted, &no);
	/* With SA_RESTART the child waits until the locks go. */
	fflush(stdout);
	pid_t c = fork();
	if (c == 0)
		_exit(child_interrupted(&yes));
	/* Give the child's timer a few ticks to interrupt its wait. */
	struct timespec ts = {0, 300000000};
	nanosleep(&ts, NULL);
	long r1 = lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
	long r2 = flock(fd, LOCK_UN);
	int st;
	waitpid(c, &st, 0);
	T("unlock", r1);
	T("flock LOCK_UN", r2);
	printf("child exit %d\n", WEXITSTATUS(st));
}

static void leases(void)
{
	printf("-- leases\n");
	int a = open("lease", O_RDWR | O_CREAT, 0644);
	int b = open("lease", O_RDONLY);
	T("F_GETLEASE", fcntl(a, F_GETLEASE));
	T("F_SETLEASE F_UNLCK without one", fcntl(a, F_SETLEASE, F_UNLCK));
	T("F_SETLEASE 7", fcntl(a, F_SETLEASE, 7));
	T("F_SETLEASE F_WRLCK (another reader)", fcntl(a, F_SETLEASE, F_WRLCK));
	T("F_SETLEASE F_RDLCK (open for writing)", fcntl(b, F_SETLEASE, F_RDLCK));
	close(a);
	T("F_SETLEASE F_RDLCK", fcntl(b, F_SETLEASE, F_RDLCK));
	T("F_GETLEASE", fcntl(b, F_GETLEASE));
	T("F_SETLEASE F_WRLCK (only opener)", fcntl(b, F_SETLEASE, F_WRLCK));
	T("F_GETLEASE", fcntl(b, F_GETLEASE));
	T("F_SETLEASE F_RDLCK (downgrade)", fcntl(b, F_SETLEASE, F_RDLCK));
	a = open("lease", O_RDONLY);
	T("second reader F_SETLEASE F_RDLCK", fcntl(a, F_SETLEASE, F_RDLCK));
	T("F_SETLEASE F_WRLCK (another lease)", fcntl(b, F_SETLEASE, F_WRLCK));
	T("F_SETLEASE F_UNLCK", fcntl(a, F_SETLEASE, F_UNLCK));
	T("F_GETLEASE after unlock", fcntl(a, F_GETLEASE));
	T("close the other reader", close(a));
	T("F_SETLEASE F_WRLCK", fcntl(b, F_SETLEASE, F_WRLCK));
	T("F_SETLEASE F_UNLCK", fcntl(b, F_SETLEASE, F_UNLCK));
	close(b);
	int dir = open(".", O_RDONLY);
	T("F_SETLEASE on a directory", fcntl(dir, F_SETLEASE, F_RDLCK));
	close(dir);
	int p[2];
	pipe(p);
	T("F_SETLEASE on a pipe", fcntl(p[0], F_SETLEASE, F_RDLCK));
	T("F_GETLEASE on a pipe", fcntl(p[0], F_GETLEASE));
	close(p[0]);
	close(p[1]);
}

static volatile sig_atomic_t sigio;
static void on_sigio(int s)
{
	(void)s;
	sigio++;
}

/* A child opens "lease" with flags; exit 0 if it could, else errno. */
static int child_open(int flags)
{
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		int fd = open("lease", flags);
		_exit(fd >= 0 ? 0 : errno);
	}
	int st;
	while (waitpid(c, &st, 0) < 0 && errno == EINTR)
		;
	return WEXITSTATUS(st);
}

static const char *opened(int r)
{
	return r == 0 ? "opened" : errname(r);
}

static void lease_breaks(void)
{
	printf("-- lease breaks\n");
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigio;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGIO, &sa, NULL);
	int fd = open("lease", O_RDONLY);
	T("F_SETLEASE F_WRLCK", fcntl(fd, F_SETLEASE, F_WRLCK));
	printf("child O_RDONLY|O_NONBLOCK: %s\n", opened(child_open(O_RDONLY | O_NONBLOCK)));
	printf("holder got SIGIO: %s\n", sigio ? "yes" : "no");
	T("F_GETLEASE (being downgraded)", fcntl(fd, F_GETLEASE));
	T("F_SETLEASE F_RDLCK (downgrade)", fcntl(fd, F_SETLEASE, F_RDLCK));
	T("F_GETLEASE", fcntl(fd, F_GETLEASE));
	sigio = 0;
	printf("child O_RDONLY: %s\n", opened(child_open(O_RDONLY)));
	printf("holder got SIGIO: %s\n", sigio ? "yes" : "no");
	printf("child O_WRONLY|O_NONBLOCK: %s\n", opened(child_open(O_WRONLY | O_NONBLOCK)));
	printf("holder got SIGIO: %s\n", sigio ? "yes" : "no");
	T("F_GETLEASE (being removed)", fcntl(fd, F_GETLEASE));
	T("another reader's F_SETLEASE while it is", fcntl(open("lease", O_RDONLY), F_SETLEASE, F_RDLCK));
	T("F_SETLEASE F_UNLCK", fcntl(fd, F_SETLEASE, F_UNLCK));
	T("F_SETLEASE F_RDLCK", fcntl(fd, F_SETLEASE, F_RDLCK));
	/* A blocking writer waits until the holder gives the lease up. */
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGIO);
	sigprocmask(SIG_BLOCK, &block, &old);
	sigio = 0;
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		int w = open("lease", O_WRONLY);
		_exit(w >= 0 ? 0 : errno);
	}
	while (!sigio)
		sigsuspend(&old);
	sigprocmask(SIG_SETMASK, &old, NULL);
	long r = fcntl(fd, F_SETLEASE, F_UNLCK);
	int st;
	waitpid(c, &st, 0);
	T("holder's F_SETLEASE F_UNLCK after SIGIO", r);
	printf("child O_WRONLY (waited): %s\n", opened(WEXITSTATUS(st)));
	close(fd);
	signal(SIGIO, SIG_DFL);
}

int main(int argc, char **argv)
{
	setup(argc, argv, "locks");
	parent = getpid();
	make_file("data", "0123456789", 0644);
	int fd = open("data", O_RDWR);
	argument_errors(fd);
	ranges(fd);
	close_releases(fd);
	fork_semantics(fd);
	ofd_locks(fd);
	fd = open("data", O_RDWR);
	flock_semantics();
	blocking(fd);
	deadlock();
	interrupted(fd);
	leases();
	lease_breaks();
	return 0;
}
