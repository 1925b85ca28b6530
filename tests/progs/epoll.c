/*
 * epoll: creation flags, epoll_ctl's error cases (EBADF, EPERM for a
 * regular file, EINVAL, EEXIST, ENOENT, EFAULT, EPOLLEXCLUSIVE misuse,
 * ELOOP), level-triggered, edge-triggered and one-shot reporting on pipes
 * and an eventfd, EPOLLHUP / EPOLLERR of pipe ends, interest ending with
 * the last close of a description (and not with the close of one of its
 * fds), nested epoll (and poll on an epoll fd), epoll_wait's argument
 * checks and timeouts, a wait woken by another process, and
 * epoll_pwait / epoll_pwait2 with a signal mask interrupted by a signal.
 */
#include "common.h"
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>

#ifndef EPOLLEXCLUSIVE
#define EPOLLEXCLUSIVE (1u << 28)
#endif
#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif

static const char *evname(unsigned ev)
{
	static char buf[128];
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{ EPOLLIN, "IN" },       { EPOLLPRI, "PRI" },       { EPOLLOUT, "OUT" },
		{ EPOLLERR, "ERR" },     { EPOLLHUP, "HUP" },       { EPOLLRDNORM, "RDNORM" },
		{ EPOLLWRNORM, "WRNORM" }, { EPOLLRDHUP, "RDHUP" },
	};
	buf[0] = 0;
	for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (ev & names[i].bit) {
			if (buf[0])
				strcat(buf, "|");
			strcat(buf, names[i].name);
			ev &= ~names[i].bit;
		}
	}
	if (ev) {
		char more[32];
		snprintf(more, sizeof more, "%s%#x", buf[0] ? "|" : "", ev);
		strcat(buf, more);
	}
	if (!buf[0])
		strcpy(buf, "0");
	return buf;
}

static long ctl(int ep, int op, int fd, unsigned events, unsigned long data)
{
	struct epoll_event e;
	memset(&e, 0, sizeof e);
	e.events = events;
	e.data.u64 = data;
	return SC(SYS_epoll_ctl, ep, op, fd, &e);
}

/* epoll_wait with a timeout in ms; prints the events. */
static void show_wait(const char *label, int ep, int max, int timeout)
{
	struct epoll_event ev[16];
	long n = SC(SYS_epoll_wait, ep, ev, max, timeout);
	if (n < 0) {
		printf("%s = -1 %s\n", label, errname(errno));
		return;
	}
	printf("%s = %ld", label, n);
	for (long i = 0; i < n; i++)
		printf(" [%s data=%llu]", evname(ev[i].events), (unsigned long long)ev[i].data.u64);
	printf("\n");
}

static void make_pipe(int p[2])
{
	if (pipe(p) != 0) {
		printf("pipe failed\n");
		exit(3);
	}
}

static void test_create(void)
{
	printf("-- create\n");
	T("epoll_create(0)", SC(SYS_epoll_create, 0));
	T("epoll_create(-1)", SC(SYS_epoll_create, -1));
	T("epoll_create1(1)", SC(SYS_epoll_create1, 1));
	int a = (int)SC(SYS_epoll_create, 1);
	int b = (int)SC(SYS_epoll_create1, EPOLL_CLOEXEC);
	check("epoll_create(1) ok", a >= 0);
	check("epoll_create1(EPOLL_CLOEXEC) ok", b >= 0);
	T("fcntl(a, F_GETFD)", fcntl(a, F_GETFD));
	T("fcntl(b, F_GETFD)", fcntl(b, F_GETFD));
	T("fcntl(b, F_GETFL) & O_ACCMODE", fcntl(b, F_GETFL) & O_ACCMODE);
	char c;
	T("read(epoll)", SC(SYS_read, b, &c, 1));
	T("write(epoll)", SC(SYS_write, b, "x", 1));
	close(a);
	close(b);
}

static void test_ctl_errors(void)
{
	printf("-- ctl errors\n");
	int ep = (int)SC(SYS_epoll_create1, 0);
	int p[2];
	make_pipe(p);
	make_file("regular", "data", 0644);
	int reg = open("regular", O_RDONLY);
	int dir = open(".", O_RDONLY | O_DIRECTORY);
	T("ADD bad epfd", ctl(BADFD, EPOLL_CTL_ADD, p[0], EPOLLIN, 0));
	T("ADD bad fd", ctl(ep, EPOLL_CTL_ADD, BIGFD, EPOLLIN, 0));
	T("ADD regular file", ctl(ep, EPOLL_CTL_ADD, reg, EPOLLIN, 0));
	T("ADD directory", ctl(ep, EPOLL_CTL_ADD, dir, EPOLLIN, 0));
	T("ADD on a non-epoll fd", ctl(p[0], EPOLL_CTL_ADD, p[1], EPOLLIN, 0));
	T("ADD epoll to itself", ctl(ep, EPOLL_CTL_ADD, ep, EPOLLIN, 0));
	T("op 0", ctl(ep, 0, p[0], EPOLLIN, 0));
	T("op 4", ctl(ep, 4, p[0], EPOLLIN, 0));
	T("MOD not added", ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN, 0));
	T("DEL not added", ctl(ep, EPOLL_CTL_DEL, p[0], 0, 0));
	T("ADD bad event pointer", SC(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, p[0], BADPTR));
	T("ADD", ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 1));
	T("ADD again", ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 1));
	T("DEL with a bad event pointer", SC(SYS_epoll_ctl, ep, EPOLL_CTL_DEL, p[0], BADPTR));
	T("ADD EXCLUSIVE|PRI", ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLPRI | EPOLLEXCLUSIVE, 0));
	T("ADD EXCLUSIVE|IN", ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLEXCLUSIVE, 0));
	T("MOD EXCLUSIVE", ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLEXCLUSIVE, 0));
	T("MOD an EXCLUSIVE entry", ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN, 0));
	int ep2 = (int)SC(SYS_epoll_create1, 0);
	T("ADD epoll EXCLUSIVE", ctl(ep2, EPOLL_CTL_ADD, ep, EPOLLIN | EPOLLEXCLUSIVE, 0));
	T("ADD epoll", ctl(ep2, EPOLL_CTL_ADD, ep, EPOLLIN, 0));
	T("ADD loop", ctl(ep, EPOLL_CTL_ADD, ep2, EPOLLIN, 0));
	close(ep2);
	T("ADD after the loop closed", ctl(ep, EPOLL_CTL_ADD, p[1], EPOLLOUT, 2));
	close(ep);
	close(p[0]);
	close(p[1]);
	close(reg);
	close(dir);
}

static void test_wait_args(void)
{
	printf("-- wait arguments\n");
	int ep = (int)SC(SYS_epoll_create1, 0);
	int p[2];
	make_pipe(p);
	struct epoll_event ev[2];
	T("maxevents 0", SC(SYS_epoll_wait, ep, ev, 0, 0));
	T("maxevents -1", SC(SYS_epoll_wait, ep, ev, -1, 0));
	T("maxevents INT_MAX", SC(SYS_epoll_wait, ep, ev, INT_MAX, 0));
	T("kernel-space buffer", SC(SYS_epoll_wait, ep, (void *)-4096L, 1, 0));
	T("bad fd", SC(SYS_epoll_wait, BADFD, ev, 1, 0));
	T("not an epoll", SC(SYS_epoll_wait, p[0], ev, 1, 0));
	T("timeout 0", SC(SYS_epoll_wait, ep, ev, 2, 0));
	T("timeout 20ms", SC(SYS_epoll_wait, ep, ev, 2, 20));
	struct timespec ts = { 0, 1000000000L };
	T("pwait2 bad timespec", SC(SYS_epoll_pwait2, ep, ev, 2, &ts, NULL, 8));
	ts.tv_nsec = 20000000;
	T("pwait2 20ms", SC(SYS_epoll_pwait2, ep, ev, 2, &ts, NULL, 8));
	T("pwait2 bad timespec pointer", SC(SYS_epoll_pwait2, ep, ev, 2, BADPTR, NULL, 8));
	uint64_t set = 0;
	T("pwait sigsetsize 4", SC(SYS_epoll_pwait, ep, ev, 2, 0, &set, 4));
	T("pwait bad sigset pointer", SC(SYS_epoll_pwait, ep, ev, 2, 0, BADPTR, 8));
	/* Ready, but the buffer is not writable. */
	ctl(ep, EPOLL_CTL_ADD, p[1], EPOLLOUT, 1);
	T("unwritable buffer", SC(SYS_epoll_wait, ep, BADPTR, 1, 0));
	close(ep);
	close(p[0]);
	close(p[1]);
}

static void test_level(void)
{
	printf("-- level-triggered\n");
	int ep = (int)SC(SYS_epoll_create1, 0);
	int p[2];
	make_pipe(p);
	ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 7);
	ctl(ep, EPOLL_CTL_ADD, p[1], EPOLLOUT, 8);
	show_wait("empty pipe", ep, 16, 0);
	T("write", write(p[1], "hello", 5));
	show_wait("after write", ep, 16, 0);
	show_wait("again (still ready)", ep, 16, 0);
	show_wait("maxevents 1", ep, 1, 0);
	show_wait("maxevents 1 again", ep, 1, 0);
	char buf[16];
	T("read", read(p[0], buf, sizeof buf));
	show_wait("after read", ep, 16, 0);
	T("MOD write end to IN", ctl(ep, EPOLL_CTL_MOD, p[1], EPOLLIN, 9));
	show_wait("after MOD", ep, 16, 0);
	T("MOD read end to IN|RDNORM", ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLRDNORM, 10));
	write(p[1], "x", 1);
	show_wait("RDNORM asked", ep, 16, 0);
	T("DEL write end", ctl(ep, EPOLL_CTL_DEL, p[1], 0, 0));
	show_wait("after DEL", ep, 16, 0);
	close(ep);
	close(p[0]);
	close(p[1]);
}

static void test_edge_oneshot(void)
{
	printf("-- edge-triggered and one-shot\n");
	int ep = (int)SC(SYS_epoll_create1, 0);
	int p[2], q[2];
	make_pipe(p);
	make_pipe(q);
	ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLET, 1);
	show_wait("ET empty", ep, 16, 0);
	write(p[1], "a", 1);
	show_wait("ET after write", ep, 16, 0);
	show_wait("ET again", ep, 16, 0);
	write(p[1], "b", 1);
	show_wait("ET after a second write", ep, 16, 0);
	show_wait("ET again", ep, 16, 0);
	T("MOD re-arms ET", ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLET, 2));
	show_wait("ET after MOD", ep, 16, 0);
	show_wait("ET again", ep, 16, 0);

	ctl(ep, EPOLL_CTL_ADD, q[0], EPOLLIN | EPOLLONESHOT, 3);
	write(q[1], "x", 1);
	show_wait("ONESHOT", ep, 16, 0);
	write(q[1], "y", 1);
	show_wait("ONESHOT disarmed", ep, 16, 0);
	close(q[1]);
	show_wait("ONESHOT disarmed, writer closed", ep, 16, 0);
	T("MOD re-arms ONESHOT", ctl(ep, EPOLL_CTL_MOD, q[0], EPOLLIN | EPOLLONESHOT, 4));
	show_wait("ONESHOT re-armed", ep, 16, 0);
	show_wait("ONESHOT again", ep, 16, 0);
	T("ADD ONESHOT again", ctl(ep, EPOLL_CTL_ADD, q[0], EPOLLIN, 5));

	int e = eventfd(0, EFD_NONBLOCK);
	ctl(ep, EPOLL_CTL_ADD, e, EPOLLIN | EPOLLOUT | EPOLLET, 6);
	ctl(ep, EPOLL_CTL_DEL, p[0], 0, 0);
	ctl(ep, EPOLL_CTL_DEL, q[0], 0, 0);
	show_wait("eventfd ET", ep, 16, 0);
	show_wait("eventfd ET again", ep, 16, 0);
	uint64_t one = 1;
	write(e, &one, 8);
	show_wait("eventfd ET after write", ep, 16, 0);
	close(e);
	close(ep);
	close(p[0]);
	close(p[1]);
	close(q[0]);
}

static void test_hangups(void)
{
	printf("-- pipe hang-ups\n");
	int ep = (int)SC(SYS_epoll_create1, 0);
	int p[2];
	make_pipe(p);
	ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLRDHUP, 1);
	ctl(ep, EPOLL_CTL_ADD, p[1], 0, 2);
	show_wait("nothing asked", ep, 16, 0);
	write(p[1], "z", 1);
	close(p[1]);
	show_wait("writer closed", ep, 16, 0);
	T("MOD read end to IN", ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN, 3));
	show_wait("data and hang-up", ep, 16, 0);
	close(p[0]);
	make_pipe(p);
	ctl(ep, EPOLL_CTL_ADD, p[1], EPOLLOUT, 4);
	close(p[0]);
	show_wait("reader closed", ep, 16, 0);
	signal(SIGPIPE, SIG_IGN);
	T("write without reader", write(p[1], "x", 1));
	close(p[1]);
	close(ep);
}

static void test_close(void)
{
	printf("-- interest and close\n");
	int ep = (int)SC(SYS_epoll_create1, 0);
	int p[2];
	make_pipe(p);
	ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 1);
	int d = dup(p[0]);
	close(p[0]);
	write(p[1], "x", 1);
	show_wait("fd closed, dup open", ep, 16, 0);
	T("DEL by the dup", ctl(ep, EPOLL_CTL_DEL, d, 0, 0));
	T("MOD by the closed fd", ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN, 0));
	close(d);
	show_wait("last close", ep, 16, 0);
	int q[2];
	make_pipe(q);
	check("fd number reused", q[0] == p[0]);
	T("ADD the reused number", ctl(ep, EPOLL_CTL_ADD, q[0], EPOLLIN, 2));
	write(q[1], "y", 1);
	show_wait("new pipe", ep, 16, 0);
	close(q[0]);
	close(q[1]);
	close(p[1]);
	close(ep);
}

static void test_nested(void)
{
	printf("-- nested\n");
	int inner = (int)SC(SYS_epoll_create1, 0);
	int outer = (int)SC(SYS_epoll_create1, 0);
	int p[2];
	make_pipe(p);
	ctl(inner, EPOLL_CTL_ADD, p[0], EPOLLIN, 1);
	T("ADD inner to outer", ctl(outer, EPOLL_CTL_ADD, inner, EPOLLIN, 2));
	show_wait("outer, nothing", outer, 16, 0);
	struct pollfd pf = { inner, POLLIN | POLLOUT, 0 };
	T("poll(inner)", poll(&pf, 1, 0));
	write(p[1], "x", 1);
	show_wait("outer after write", outer, 16, 0);
	T("poll(inner)", poll(&pf, 1, 0));
	printf("poll revents = %s\n", evname((unsigned)pf.revents));
	show_wait("inner", inner, 16, 0);
	char c;
	read(p[0], &c, 1);
	show_wait("outer after read", outer, 16, 0);
	T("ADD outer to inner (loop)", ctl(inner, EPOLL_CTL_ADD, outer, EPOLLIN, 0));
	/* An edge-triggered outer entry fires for each change of the inner. */
	T("MOD inner in outer to ET", ctl(outer, EPOLL_CTL_MOD, inner, EPOLLIN | EPOLLET, 3));
	write(p[1], "y", 1);
	show_wait("outer ET", outer, 16, 0);
	show_wait("outer ET again", outer, 16, 0);
	int chain[3];
	for (int i = 0; i < 3; i++)
		chain[i] = (int)SC(SYS_epoll_create1, 0);
	T("chain 1 in 0", ctl(chain[0], EPOLL_CTL_ADD, chain[1], EPOLLIN, 0));
	T("chain 2 in 1", ctl(chain[1], EPOLL_CTL_ADD, chain[2], EPOLLIN, 0));
	T("chain 0 in 2 (loop)", ctl(chain[2], EPOLL_CTL_ADD, chain[0], EPOLLIN, 0));
	for (int i = 0; i < 3; i++)
		close(chain[i]);
	close(inner);
	close(outer);
	close(p[0]);
	close(p[1]);
}

static volatile sig_atomic_t got_usr1;
static void on_usr1(int sig)
{
	(void)sig;
	got_usr1++;
}

static void *late_writer(void *arg)
{
	uint64_t one = 1;
	usleep(50000);
	write(*(int *)arg, &one, 8);
	return NULL;
}

static void test_blocking(void)
{
	printf("-- blocking waits\n");
	int ep = (int)SC(SYS_epoll_create1, 0);
	int p[2];
	make_pipe(p);
	ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 1);
	pid_t child = fork();
	if (child == 0) {
		usleep(50000);
		write(p[1], "w", 1);
		_exit(0);
	}
	show_wait("woken by a child's write", ep, 16, -1);
	int st;
	waitpid(child, &st, 0);
	char c;
	read(p[0], &c, 1);

	/* Woken by another thread of the process. */
	int e = eventfd(0, 0);
	ctl(ep, EPOLL_CTL_ADD, e, EPOLLIN | EPOLLET, 2);
	pthread_t th;
	pthread_create(&th, NULL, late_writer, &e);
	show_wait("woken by a thread's eventfd write", ep, 16, -1);
	pthread_join(th, NULL);
	ctl(ep, EPOLL_CTL_DEL, e, 0, 0);
	close(e);

	/* epoll_pwait: SIGUSR1 is blocked but the wait's mask lets it in. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sigset_t block, empty, now;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigemptyset(&empty);
	sigprocmask(SIG_BLOCK, &block, NULL);
	pid_t parent = getpid();
	child = fork();
	if (child == 0) {
		usleep(50000);
		kill(parent, SIGUSR1);
		_exit(0);
	}
	struct epoll_event ev[4];
	T("epoll_pwait interrupted", SC(SYS_epoll_pwait, ep, ev, 4, -1, &empty, 8));
	T("handler ran", got_usr1);
	sigprocmask(SIG_BLOCK, NULL, &now);
	check("SIGUSR1 blocked again", sigismember(&now, SIGUSR1));
	waitpid(child, &st, 0);

	/* Pending before the call: epoll_pwait2 returns at once. */
	kill(getpid(), SIGUSR1);
	T("handler ran (blocked)", got_usr1);
	T("epoll_pwait2 with a pending signal", SC(SYS_epoll_pwait2, ep, ev, 4, NULL, &empty, 8));
	T("handler ran", got_usr1);
	/* Events win over nothing: a ready fd with the mask. */
	write(p[1], "r", 1);
	T("epoll_pwait with an event", SC(SYS_epoll_pwait, ep, ev, 4, -1, &empty, 8));
	sigprocmask(SIG_BLOCK, NULL, &now);
	check("SIGUSR1 still blocked", sigismember(&now, SIGUSR1));
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	close(ep);
	close(p[0]);
	close(p[1]);
}

int main(int argc, char **argv)
{
	setup(argc, argv, "epoll");
	test_create();
	test_ctl_errors();
	test_wait_args();
	test_level();
	test_edge_oneshot();
	test_hangups();
	test_close();
	test_nested();
	test_blocking();
	printf("done\n");
	return 0;
}
