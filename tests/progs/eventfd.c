/*
 * eventfd and signalfd. eventfd: flags, the initial value, reads that
 * reset the counter or (EFD_SEMAPHORE) decrement it, EAGAIN, short
 * buffers, the largest value and overflow, poll readiness, fstat, and a
 * blocking read woken by another process. signalfd: argument checks,
 * reading blocked signals as signalfd_siginfo records (kill, sigqueue
 * values, queued real-time signals in order, SIGCHLD from a child's
 * exit), signals outside the mask left pending, changing the mask, poll
 * and epoll readiness, and a blocking read woken by a signal.
 */
#include "common.h"
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

#ifndef EFD_SEMAPHORE
#define EFD_SEMAPHORE 1
#endif

static long rd64(int fd, uint64_t *v)
{
	return read(fd, v, sizeof *v);
}

static long wr64(int fd, uint64_t v)
{
	return write(fd, &v, sizeof v);
}

static void show_read(const char *label, int fd)
{
	uint64_t v = 0;
	long r = rd64(fd, &v);
	if (r < 0)
		printf("%s = -1 %s\n", label, errname(errno));
	else
		printf("%s = %ld value=%llu\n", label, r, (unsigned long long)v);
}

static const char *pollname(short ev)
{
	static char buf[64];
	buf[0] = 0;
	if (ev & POLLIN)
		strcat(buf, "IN ");
	if (ev & POLLOUT)
		strcat(buf, "OUT ");
	if (ev & POLLERR)
		strcat(buf, "ERR ");
	if (ev & POLLHUP)
		strcat(buf, "HUP ");
	if (!buf[0])
		strcpy(buf, "none ");
	buf[strlen(buf) - 1] = 0;
	return buf;
}

static void show_poll(const char *label, int fd)
{
	struct pollfd p = { fd, POLLIN | POLLOUT, 0 };
	long n = poll(&p, 1, 0);
	printf("%s: poll = %ld %s\n", label, n, pollname(p.revents));
}

static void test_eventfd(void)
{
	printf("-- eventfd\n");
	T("eventfd2(0, bad flags)", SC(SYS_eventfd2, 0, 0x10));
	int e = (int)SC(SYS_eventfd2, 5, EFD_NONBLOCK | EFD_CLOEXEC);
	check("eventfd2 ok", e >= 0);
	T("F_GETFD", fcntl(e, F_GETFD));
	T("F_GETFL", fcntl(e, F_GETFL) & (O_ACCMODE | O_NONBLOCK));
	struct stat st;
	T("fstat", fstat(e, &st));
	printf("fstat mode=%o type=%s size=%lld\n", (unsigned)(st.st_mode & 07777),
	       ftype(st.st_mode), (long long)st.st_size);
	show_poll("initial 5", e);
	show_read("read", e);
	show_read("read empty", e);
	show_poll("empty", e);
	char small[4];
	T("read 4 bytes", read(e, small, 4));
	T("write 4 bytes", write(e, small, 4));
	T("write UINT64_MAX", wr64(e, UINT64_MAX));
	T("write 0", wr64(e, 0));
	show_read("read after writing 0", e);
	T("write 3", wr64(e, 3));
	T("write 4", wr64(e, 4));
	char big[16];
	memset(big, 0, sizeof big);
	T("read 16 bytes", read(e, big, 16));
	uint64_t got;
	memcpy(&got, big, 8);
	printf("value=%llu\n", (unsigned long long)got);
	T("write UINT64_MAX-1", wr64(e, UINT64_MAX - 1));
	show_poll("full", e);
	T("write 1 when full", wr64(e, 1));
	show_read("read full", e);
	T("lseek", SC(SYS_lseek, e, 0, SEEK_CUR) == 0 || errno == ESPIPE ? 0 : -1);
	close(e);

	printf("-- eventfd semaphore\n");
	int s = (int)SC(SYS_eventfd2, 2, EFD_SEMAPHORE | EFD_NONBLOCK);
	show_read("sem read", s);
	show_read("sem read", s);
	show_read("sem read empty", s);
	T("write 3", wr64(s, 3));
	show_read("sem read", s);
	show_poll("sem 2 left", s);
	close(s);

	printf("-- eventfd (old call)\n");
	int o = (int)SC(SYS_eventfd, 7);
	T("F_GETFL", fcntl(o, F_GETFL) & (O_ACCMODE | O_NONBLOCK));
	show_read("read", o);
	/* A blocking read woken by a child's write. */
	pid_t child = fork();
	if (child == 0) {
		usleep(50000);
		wr64(o, 42);
		_exit(0);
	}
	show_read("blocking read", o);
	int status;
	waitpid(child, &status, 0);
	/* A blocking write that overflows waits for a read. */
	T("write UINT64_MAX-1", wr64(o, UINT64_MAX - 1));
	child = fork();
	if (child == 0) {
		usleep(50000);
		uint64_t v;
		rd64(o, &v);
		_exit(v == UINT64_MAX - 1 ? 0 : 1);
	}
	T("blocking write", wr64(o, 9));
	waitpid(child, &status, 0);
	T("child read the full counter", WEXITSTATUS(status));
	show_read("read", o);
	close(o);
}

/* Real-time signals print as SIGRTMIN+n (musl's SIGRTMIN is not glibc's). */
static const char *signame(unsigned sig)
{
	static char buf[32];
	if ((int)sig >= SIGRTMIN)
		snprintf(buf, sizeof buf, "SIGRTMIN+%d", (int)sig - SIGRTMIN);
	else
		snprintf(buf, sizeof buf, "%u", sig);
	return buf;
}

static void print_ssi(const char *label, const struct signalfd_siginfo *si)
{
	printf("%s: signo=%s code=%d pid_is_me=%s int=%d status=%d\n", label,
	       signame(si->ssi_signo), si->ssi_code,
	       si->ssi_pid == (uint32_t)getpid() ? "yes" : "no", si->ssi_int, si->ssi_status);
}

static void show_sread(const char *label, int fd)
{
	struct signalfd_siginfo si[4];
	long r = read(fd, si, sizeof si);
	if (r < 0) {
		printf("%s = -1 %s\n", label, errname(errno));
		return;
	}
	printf("%s = %ld\n", label, r);
	for (long i = 0; i < r / (long)sizeof si[0]; i++)
		print_ssi("  record", &si[i]);
}

static volatile sig_atomic_t handled;
static void on_sig(int sig)
{
	(void)sig;
	handled++;
}

static void test_signalfd(void)
{
	printf("-- signalfd\n");
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigaddset(&mask, SIGRTMIN);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	T("signalfd4 size 4", SC(SYS_signalfd4, -1, &mask, 4, 0));
	T("signalfd4 bad mask pointer", SC(SYS_signalfd4, -1, BADPTR, 8, 0));
	T("signalfd4 bad flags", SC(SYS_signalfd4, -1, &mask, 8, 1));
	T("signalfd4 on a bad fd", SC(SYS_signalfd4, BIGFD, &mask, 8, 0));
	int p[2];
	if (pipe(p) != 0)
		exit(3);
	T("signalfd4 on a pipe", SC(SYS_signalfd4, p[0], &mask, 8, 0));
	int fd = (int)SC(SYS_signalfd4, -1, &mask, 8, SFD_NONBLOCK | SFD_CLOEXEC);
	check("signalfd4 ok", fd >= 0);
	T("F_GETFD", fcntl(fd, F_GETFD));
	T("F_GETFL", fcntl(fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK));
	show_sread("read, nothing pending", fd);
	show_poll("nothing pending", fd);
	char small[64];
	T("read 64 bytes", read(fd, small, sizeof small));
	T("write", write(fd, small, 8));

	kill(getpid(), SIGUSR2);
	kill(getpid(), SIGUSR1);
	show_poll("two pending", fd);
	show_sread("read", fd);
	show_sread("read again", fd);

	union sigval v;
	v.sival_int = 1234;
	sigqueue(getpid(), SIGRTMIN, v);
	v.sival_int = 5678;
	sigqueue(getpid(), SIGRTMIN, v);
	struct signalfd_siginfo one;
	T("read one record", read(fd, &one, sizeof one));
	print_ssi("  first", &one);
	T("read one record", read(fd, &one, sizeof one));
	print_ssi("  second", &one);

	/* SIGCHLD from a child's exit. */
	pid_t child = fork();
	if (child == 0)
		_exit(3);
	int status;
	waitpid(child, &status, 0);
	struct signalfd_siginfo si;
	T("read SIGCHLD", read(fd, &si, sizeof si));
	printf("  signo=%u code=%d pid_is_child=%s status=%d\n", si.ssi_signo, si.ssi_code,
	       si.ssi_pid == (uint32_t)child ? "yes" : "no", si.ssi_status);

	/* Outside the mask: left pending, then delivered. */
	sigset_t only1;
	sigemptyset(&only1);
	sigaddset(&only1, SIGUSR1);
	T("change the mask", SC(SYS_signalfd4, fd, &only1, 8, 0) == fd);
	kill(getpid(), SIGUSR2);
	show_sread("read SIGUSR2 (not in mask)", fd);
	sigset_t pend;
	sigpending(&pend);
	check("SIGUSR2 pending", sigismember(&pend, SIGUSR2));
	signal(SIGUSR2, on_sig);
	sigset_t u2;
	sigemptyset(&u2);
	sigaddset(&u2, SIGUSR2);
	sigprocmask(SIG_UNBLOCK, &u2, NULL);
	T("handled", handled);
	sigprocmask(SIG_BLOCK, &u2, NULL);

	/* epoll readiness, and the old call. */
	int ep = epoll_create1(0);
	struct epoll_event ev = { EPOLLIN, { .u64 = 9 } };
	T("epoll ADD signalfd", epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
	struct epoll_event out[2];
	T("epoll_wait, nothing", epoll_wait(ep, out, 2, 0));
	kill(getpid(), SIGUSR1);
	T("epoll_wait, SIGUSR1", epoll_wait(ep, out, 2, 0));
	printf("  events=%#x data=%llu\n", out[0].events, (unsigned long long)out[0].data.u64);
	int old = (int)SC(SYS_signalfd, -1, &only1, 8);
	T("old signalfd F_GETFL", fcntl(old, F_GETFL) & (O_ACCMODE | O_NONBLOCK));
	show_sread("read through the old call's fd", old);
	T("epoll_wait after the read", epoll_wait(ep, out, 2, 0));

	/* A blocking read woken by a signal from a child. */
	pid_t parent = getpid();
	child = fork();
	if (child == 0) {
		usleep(50000);
		kill(parent, SIGUSR1);
		_exit(0);
	}
	show_sread("blocking read", old);
	waitpid(child, &status, 0);
	/* The SIGCHLD of that child is not in this mask; drop it. */
	sigset_t c;
	sigemptyset(&c);
	sigaddset(&c, SIGCHLD);
	int cfd = signalfd(-1, &c, SFD_NONBLOCK);
	show_sread("SIGCHLD", cfd);
	close(cfd);
	close(ep);
	close(old);
	close(fd);
	close(p[0]);
	close(p[1]);
	sigprocmask(SIG_UNBLOCK, &mask, NULL);
}

int main(int argc, char **argv)
{
	setup(argc, argv, "eventfd");
	test_eventfd();
	test_signalfd();
	printf("done\n");
	return 0;
}
