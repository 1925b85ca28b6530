/*
 * POSIX message queues through the raw calls: mq_open names, modes and
 * attributes (defaults and limits from /proc/sys/fs/mqueue), permission
 * checks for another user, send and receive by priority, EMSGSIZE, EBADF
 * for the wrong access mode, O_NONBLOCK and mq_getsetattr, absolute
 * timeouts, blocking woken by another process, EINTR, poll and epoll
 * readiness, mq_notify (SIGEV_SIGNAL's siginfo, SIGEV_NONE, one
 * registration, none while a receiver waits, SIGEV_THREAD without a
 * netlink socket), and the mqueue filesystem (listing, the status line,
 * creating and unlinking through paths).
 *
 * Natively the program first takes a fresh IPC namespace (so the queues
 * and limits are its own) and a private mount namespace; in veil the
 * sandbox is that fresh namespace already.
 */
#include "common.h"
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <dirent.h>

struct kattr {
	long flags, maxmsg, msgsize, curmsgs, pad[4];
};

static long mq_open_(const char *name, int oflag, int mode, struct kattr *a)
{
	return SC(SYS_mq_open, name, oflag, mode, a);
}

static long snd(long q, const char *m, long len, unsigned prio)
{
	return SC(SYS_mq_timedsend, q, m, len, prio, NULL);
}

static void show_attr(const char *label, long q)
{
	struct kattr a;
	memset(&a, 0x55, sizeof a);
	if (SC(SYS_mq_getsetattr, q, NULL, &a) != 0) {
		printf("%s: getattr = -1 %s\n", label, errname(errno));
		return;
	}
	printf("%s: flags=%lx maxmsg=%ld msgsize=%ld curmsgs=%ld reserved0=%d\n", label,
	       a.flags, a.maxmsg, a.msgsize, a.curmsgs, a.pad[0] == 0 && a.pad[3] == 0);
}

static void recv_show(const char *label, long q, long len)
{
	char buf[9000];
	unsigned prio = 99;
	long r = SC(SYS_mq_timedreceive, q, buf, len, &prio, NULL);
	if (r < 0)
		printf("%s = -1 %s\n", label, errname(errno));
	else
		printf("%s = %ld \"%.*s\" prio=%u\n", label, r, (int)r, buf, prio);
}

static void cat(const char *label, const char *path)
{
	char buf[256];
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		printf("%s: open = -1 %s\n", label, errname(errno));
		return;
	}
	long n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0) {
		printf("%s: read = -1 %s\n", label, errname(errno));
		return;
	}
	buf[n] = 0;
	printf("%s: %s", label, buf);
}

/* The status line of a queue read through its descriptor, with the
 * notifying pid shown as "self", "0" or "other". */
static void status(const char *label, long q, pid_t self)
{
	char buf[256];
	long n = pread(q, buf, sizeof buf - 1, 0);
	if (n < 0) {
		printf("%s: read = -1 %s\n", label, errname(errno));
		return;
	}
	buf[n] = 0;
	unsigned long qsize = 0;
	int notify = -1, signo = -1, pid = -1;
	sscanf(buf, "QSIZE:%lu NOTIFY:%d SIGNO:%d NOTIFY_PID:%d", &qsize, &notify, &signo, &pid);
	printf("%s: len=%ld QSIZE=%lu NOTIFY=%d SIGNO=%d NOTIFY_PID=%s\n", label, n, qsize, notify,
	       signo, pid == 0 ? "0" : pid == self ? "self" : "other");
	if (pid == 0)
		printf("%s: raw=[%s]\n", label, buf);
}

static void names(void)
{
	char longn[300];
	memset(longn, 'n', sizeof longn);
	longn[256] = 0;
	T("mq_open(a/b)", mq_open_("a/b", O_RDWR | O_CREAT, 0600, NULL));
	T("mq_open(.)", mq_open_(".", O_RDWR | O_CREAT, 0600, NULL));
	T("mq_open(..)", mq_open_("..", O_RDWR | O_CREAT, 0600, NULL));
	T("mq_open(empty)", mq_open_("", O_RDWR | O_CREAT, 0600, NULL));
	T("mq_open(256 bytes)", mq_open_(longn, O_RDWR | O_CREAT, 0600, NULL));
	longn[255] = 0;
	long q = mq_open_(longn, O_RDWR | O_CREAT, 0600, NULL);
	check("mq_open(255 bytes) works", q >= 0);
	close(q);
	T("mq_unlink(255 bytes)", SC(SYS_mq_unlink, longn));
	T("mq_open(missing)", mq_open_("missing", O_RDWR, 0, NULL));
	T("mq_open(bad name ptr)", mq_open_(BADPTR, O_RDWR | O_CREAT, 0600, NULL));
	T("mq_open(bad attr ptr)", mq_open_("x", O_RDWR | O_CREAT, 0600, BADPTR));
	T("mq_unlink(missing)", SC(SYS_mq_unlink, "missing"));
	T("mq_unlink(a/b)", SC(SYS_mq_unlink, "a/b"));
	T("mq_unlink(empty)", SC(SYS_mq_unlink, ""));
}

static void attrs(void)
{
	struct kattr a = {0};
	a.maxmsg = 0;
	a.msgsize = 16;
	T("mq_open(maxmsg 0)", mq_open_("bad", O_RDWR | O_CREAT, 0600, &a));
	a.maxmsg = 4;
	a.msgsize = -1;
	T("mq_open(msgsize -1)", mq_open_("bad", O_RDWR | O_CREAT, 0600, &a));
	a.maxmsg = 65537;
	a.msgsize = 1;
	T("mq_open(maxmsg 65537)", mq_open_("bad", O_RDWR | O_CREAT, 0600, &a));
	a.maxmsg = 2;
	a.msgsize = 16 * 1024 * 1024 + 1;
	T("mq_open(msgsize 16M+1)", mq_open_("bad", O_RDWR | O_CREAT, 0600, &a));
	/* Attributes of an existing queue are ignored. */
	long d = mq_open_("defaults", O_RDWR | O_CREAT, 0640, NULL);
	show_attr("defaults", d);
	a.maxmsg = 3;
	a.msgsize = 5;
	long d2 = mq_open_("defaults", O_RDWR | O_CREAT, 0600, &a);
	show_attr("defaults reopened with attr", d2);
	T("mq_open(defaults, O_CREAT|O_EXCL)", mq_open_("defaults", O_RDWR | O_CREAT | O_EXCL, 0600, NULL));
	T("mq_open(defaults, O_RDWR|O_WRONLY)", mq_open_("defaults", O_RDWR | O_WRONLY, 0, NULL));
	struct stat st;
	fstat(d, &st);
	printf("fstat: %s mode=%o size=%ld nlink=%lu uid=%u\n", ftype(st.st_mode), st.st_mode & 07777,
	       (long)st.st_size, (unsigned long)st.st_nlink, st.st_uid);
	printf("cloexec=%d fl=%o\n", (int)SC(SYS_fcntl, d, F_GETFD), (int)SC(SYS_fcntl, d, F_GETFL));
	char path[64], link[64] = {0};
	snprintf(path, sizeof path, "/proc/self/fd/%ld", d);
	T("readlink(fd)", readlink(path, link, sizeof link - 1));
	printf("link=%s\n", link);
	T("write(q)", write(d, "x", 1));
	mode_t old = umask(022);
	long m = mq_open_("modes", O_RDWR | O_CREAT, 07777, NULL);
	umask(old);
	fstat(m, &st);
	printf("mode with umask 022: %o\n", st.st_mode & 07777);
	close(m);
	close(d);
	close(d2);
	/* Created with neither read nor write access. */
	long n = mq_open_("noaccess", O_CREAT | 3, 0600, NULL);
	check("mq_open(new, mode 3) works", n >= 0);
	T("send on mode 3", snd(n, "x", 1, 0));
	close(n);
}

static void as_other_user(void)
{
	if (SC(SYS_setgid, 65534) != 0 || SC(SYS_setuid, 65534) != 0) {
		printf("setuid failed\n");
		_exit(1);
	}
	struct kattr a = {0};
	a.maxmsg = 11;
	a.msgsize = 16;
	T("user: maxmsg 11 > msg_max", mq_open_("u1", O_RDWR | O_CREAT, 0600, &a));
	a.maxmsg = 10;
	a.msgsize = 8193;
	T("user: msgsize 8193 > msgsize_max", mq_open_("u1", O_RDWR | O_CREAT, 0600, &a));
	a.msgsize = 8192;
	long q = mq_open_("u1", O_RDWR | O_CREAT, 0600, &a);
	check("user: maxmsg 10 msgsize 8192 works", q >= 0);
	T("user: open root's 0640 queue O_RDONLY", mq_open_("defaults", O_RDONLY, 0, NULL));
	T("user: open root's 0640 queue O_WRONLY", mq_open_("defaults", O_WRONLY, 0, NULL));
	T("user: unlink root's queue", SC(SYS_mq_unlink, "defaults"));
	T("user: unlink own queue", SC(SYS_mq_unlink, "u1"));
	close(q);
}

static void send_receive(void)
{
	struct kattr a = {0};
	a.maxmsg = 4;
	a.msgsize = 16;
	long q = mq_open_("sr", O_RDWR | O_CREAT, 0600, &a);
	T("send low p1", snd(q, "low", 3, 1));
	T("send high p5", snd(q, "high", 4, 5));
	T("send mid p3", snd(q, "mid", 3, 3));
	T("send high2 p5", snd(q, "high2", 5, 5));
	show_attr("full", q);
	status("full", q, getpid());
	recv_show("recv", q, 16);
	recv_show("recv", q, 16);
	recv_show("recv", q, 100);
	recv_show("recv", q, 16);
	T("send empty message", snd(q, "", 0, 0));
	recv_show("recv empty message", q, 16);
	T("send 17 bytes", snd(q, "0123456789abcdefg", 17, 0));
	T("send prio 32768", snd(q, "x", 1, 32768));
	T("send prio 32767", snd(q, "x", 1, 32767));
	recv_show("recv into 15 bytes", q, 15);
	recv_show("recv prio 32767", q, 16);
	T("send bad buffer", snd(q, BADPTR, 4, 0));
	show_attr("after bad send", q);
	T("send fd 9999", snd(9999, "x", 1, 0));
	int p[2];
	pipe(p);
	T("send to a pipe", snd(p[1], "x", 1, 0));
	T("receive from a pipe", SC(SYS_mq_timedreceive, p[0], (char[16]){0}, 16, NULL, NULL));
	T("getsetattr on a pipe", SC(SYS_mq_getsetattr, p[0], NULL, &a));
	close(p[0]);
	close(p[1]);
	long ro = mq_open_("sr", O_RDONLY, 0, NULL);
	long wo = mq_open_("sr", O_WRONLY, 0, NULL);
	T("send on O_RDONLY", snd(ro, "x", 1, 0));
	T("receive on O_WRONLY", SC(SYS_mq_timedreceive, wo, (char[16]){0}, 16, NULL, NULL));
	T("send on O_WRONLY", snd(wo, "wo", 2, 0));
	recv_show("receive on O_RDONLY", ro, 16);
	snd(q, "p", 1, 7);
	char buf[16];
	T("receive with a bad priority pointer", SC(SYS_mq_timedreceive, q, buf, 16, BADPTR, NULL));
	show_attr("message lost", q);
	close(ro);
	close(wo);

	/* O_NONBLOCK and mq_getsetattr. */
	struct kattr set = {0};
	set.flags = O_NONBLOCK;
	T("setattr O_NONBLOCK", SC(SYS_mq_getsetattr, q, &set, NULL));
	show_attr("nonblocking", q);
	printf("fl=%o\n", (int)SC(SYS_fcntl, q, F_GETFL) & O_NONBLOCK);
	T("receive empty nonblocking", SC(SYS_mq_timedreceive, q, buf, 16, NULL, NULL));
	for (int i = 0; i < 4; i++)
		snd(q, "f", 1, 0);
	T("send full nonblocking", snd(q, "f", 1, 0));
	set.flags = O_NONBLOCK | O_RDWR;
	T("setattr other flags", SC(SYS_mq_getsetattr, q, &set, NULL));
	set.flags = 0;
	struct kattr old;
	T("setattr 0", SC(SYS_mq_getsetattr, q, &set, &old));
	printf("old flags=%lx curmsgs=%ld\n", old.flags, old.curmsgs);
	T("getsetattr bad out ptr", SC(SYS_mq_getsetattr, q, NULL, BADPTR));
	T("getsetattr bad in ptr", SC(SYS_mq_getsetattr, q, BADPTR, NULL));

	/* Timeouts (absolute, CLOCK_REALTIME). */
	struct timespec ts = {0, 1000000000};
	T("send full, bad timeout", SC(SYS_mq_timedsend, q, "x", 1, 0, &ts));
	T("bad timeout, bad fd", SC(SYS_mq_timedsend, 9999, "x", 1, 0, &ts));
	ts.tv_sec = -1;
	ts.tv_nsec = 0;
	T("negative timeout", SC(SYS_mq_timedsend, q, "x", 1, 0, &ts));
	ts.tv_sec = 0;
	T("send full, past timeout", SC(SYS_mq_timedsend, q, "x", 1, 0, &ts));
	T("send full, bad timeout ptr", SC(SYS_mq_timedsend, q, "x", 1, 0, BADPTR));
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 50000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	T("send full, 50ms timeout", SC(SYS_mq_timedsend, q, "x", 1, 0, &ts));
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	check("waited until the timeout", now.tv_sec > ts.tv_sec ||
					      (now.tv_sec == ts.tv_sec && now.tv_nsec >= ts.tv_nsec));
	for (int i = 0; i < 4; i++)
		SC(SYS_mq_timedreceive, q, buf, 16, NULL, NULL);
	ts.tv_sec = 0;
	T("receive empty, past timeout", SC(SYS_mq_timedreceive, q, buf, 16, NULL, &ts));
	/* A message there: the timeout is not looked at. */
	snd(q, "t", 1, 0);
	T("receive, past timeout, message there", SC(SYS_mq_timedreceive, q, buf, 16, NULL, &ts));
	close(q);
}

static void on_alarm(int sig)
{
	(void)sig;
}

static void blocking(void)
{
	struct kattr a = {0};
	a.maxmsg = 1;
	a.msgsize = 8;
	long q = mq_open_("blk", O_RDWR | O_CREAT, 0600, &a);
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		usleep(50000);
		snd(q, "wake", 4, 2);
		usleep(50000);
		char buf[8];
		SC(SYS_mq_timedreceive, q, buf, 8, NULL, NULL);
		_exit(0);
	}
	recv_show("blocking receive woken by a child", q, 8);
	T("send", snd(q, "one", 3, 0));
	T("blocking send woken by the child's receive", snd(q, "two", 3, 0));
	int st;
	waitpid(c, &st, 0);
	recv_show("recv", q, 8);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 0}, {0, 50000}};
	setitimer(ITIMER_REAL, &it, NULL);
	char buf[8];
	T("blocking receive interrupted", SC(SYS_mq_timedreceive, q, buf, 8, NULL, NULL));
	snd(q, "x", 1, 0);
	setitimer(ITIMER_REAL, &it, NULL);
	T("blocking send interrupted", snd(q, "y", 1, 0));
	close(q);
	SC(SYS_mq_unlink, "blk");
}

static const char *pollname(short ev)
{
	static char b[64];
	b[0] = 0;
	if (ev & POLLIN)
		strcat(b, "IN ");
	if (ev & POLLOUT)
		strcat(b, "OUT ");
	if (ev & POLLRDNORM)
		strcat(b, "RDNORM ");
	if (ev & POLLWRNORM)
		strcat(b, "WRNORM ");
	return b;
}

static void polling(void)
{
	struct kattr a = {0};
	a.maxmsg = 2;
	a.msgsize = 8;
	long q = mq_open_("poll", O_RDONLY | O_CREAT, 0600, &a);
	long w = mq_open_("poll", O_WRONLY, 0, NULL);
	struct pollfd p = {(int)q, POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM, 0};
	poll(&p, 1, 0);
	printf("poll empty: %s\n", pollname(p.revents));
	snd(w, "a", 1, 0);
	poll(&p, 1, 0);
	printf("poll one: %s\n", pollname(p.revents));
	snd(w, "b", 1, 0);
	poll(&p, 1, 0);
	printf("poll full: %s\n", pollname(p.revents));
	int ep = epoll_create1(0);
	struct epoll_event ev = {EPOLLIN, {.u64 = 7}};
	T("epoll_ctl add", epoll_ctl(ep, EPOLL_CTL_ADD, (int)q, &ev));
	struct epoll_event out;
	T("epoll_wait full", epoll_wait(ep, &out, 1, 0));
	char buf[8];
	SC(SYS_mq_timedreceive, q, buf, 8, NULL, NULL);
	SC(SYS_mq_timedreceive, q, buf, 8, NULL, NULL);
	T("epoll_wait empty", epoll_wait(ep, &out, 1, 0));
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		usleep(50000);
		snd(w, "c", 1, 0);
		_exit(0);
	}
	T("epoll_wait woken by a send", epoll_wait(ep, &out, 1, 5000));
	printf("data=%llu\n", (unsigned long long)out.data.u64);
	waitpid(c, NULL, 0);
	close(ep);
	close(q);
	close(w);
}

static void notify(void)
{
	struct kattr a = {0};
	a.maxmsg = 4;
	a.msgsize = 8;
	long q = mq_open_("nt", O_RDWR | O_CREAT, 0600, &a);
	pid_t self = getpid();
	status("fresh", q, self);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);

	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = 65;
	T("notify signal 65", SC(SYS_mq_notify, q, &sev));
	sev.sigev_notify = 7;
	T("notify kind 7", SC(SYS_mq_notify, q, &sev));
	T("notify bad pointer", SC(SYS_mq_notify, q, BADPTR));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGUSR1;
	sev.sigev_value.sival_int = 1234;
	T("notify on fd 9999", SC(SYS_mq_notify, 9999, &sev));
	T("notify SIGUSR1", SC(SYS_mq_notify, q, &sev));
	T("notify again", SC(SYS_mq_notify, q, &sev));
	status("registered", q, self);
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		T("notify from another process", SC(SYS_mq_notify, q, &sev));
		T("notify(NULL) from another process", SC(SYS_mq_notify, q, NULL));
		fflush(stdout);
		snd(q, "hi", 2, 0);
		_exit(0);
	}
	siginfo_t si;
	struct timespec wait = {5, 0};
	long sig = sigtimedwait(&set, &si, &wait);
	printf("signal=%ld code=%d value=%d from_child=%d uid=%d\n", sig, si.si_code,
	       si.si_value.sival_int, si.si_pid == c, (int)si.si_uid);
	waitpid(c, NULL, 0);
	status("after notification", q, self);
	char buf[8];
	SC(SYS_mq_timedreceive, q, buf, 8, NULL, NULL);
	snd(q, "again", 5, 0);
	struct timespec zero = {0, 0};
	T("no second signal", sigtimedwait(&set, &si, &zero));

	/* Not empty: no signal until the queue empties and refills. */
	T("notify on a non-empty queue", SC(SYS_mq_notify, q, &sev));
	snd(q, "more", 4, 0);
	T("no signal for a second message", sigtimedwait(&set, &si, &zero));
	SC(SYS_mq_timedreceive, q, buf, 8, NULL, NULL);
	SC(SYS_mq_timedreceive, q, buf, 8, NULL, NULL);
	snd(q, "fill", 4, 0);
	T("signal once refilled", sigtimedwait(&set, &si, &zero));
	SC(SYS_mq_timedreceive, q, buf, 8, NULL, NULL);

	/* Unregister. */
	T("notify SIGUSR1", SC(SYS_mq_notify, q, &sev));
	T("notify(NULL)", SC(SYS_mq_notify, q, NULL));
	T("notify(NULL) again", SC(SYS_mq_notify, q, NULL));
	status("unregistered", q, self);
	snd(q, "x", 1, 0);
	T("no signal after notify(NULL)", sigtimedwait(&set, &si, &zero));
	SC(SYS_mq_timedreceive, q, buf, 8, NULL, NULL);

	/* A waiting receiver takes the message: no notification. */
	T("notify SIGUSR1", SC(SYS_mq_notify, q, &sev));
	fflush(stdout);
	c = fork();
	if (c == 0) {
		usleep(100000);
		snd(q, "r", 1, 0);
		_exit(0);
	}
	recv_show("receiver waiting", q, 8);
	waitpid(c, NULL, 0);
	T("no signal with a receiver waiting", sigtimedwait(&set, &si, &zero));
	status("still registered", q, self);
	T("notify(NULL)", SC(SYS_mq_notify, q, NULL));

	/* Signal 0 and SIGEV_NONE register but send nothing. */
	sev.sigev_signo = 0;
	T("notify signal 0", SC(SYS_mq_notify, q, &sev));
	status("signal 0", q, self);
	snd(q, "z", 1, 0);
	status("signal 0 consumed", q, self);
	SC(SYS_mq_timedreceive, q, buf, 8, NULL, NULL);
	sev.sigev_notify = SIGEV_NONE;
	T("notify SIGEV_NONE", SC(SYS_mq_notify, q, &sev));
	status("SIGEV_NONE", q, self);
	snd(q, "z", 1, 0);
	status("SIGEV_NONE consumed", q, self);
	SC(SYS_mq_timedreceive, q, buf, 8, NULL, NULL);

	/* SIGEV_THREAD needs a netlink socket. */
	char cookie[32] = {0};
	int p[2];
	pipe(p);
	int us = socket(AF_UNIX, SOCK_DGRAM, 0);
	sev.sigev_notify = SIGEV_THREAD;
	sev.sigev_value.sival_ptr = cookie;
	sev.sigev_signo = p[0];
	T("SIGEV_THREAD with a pipe", SC(SYS_mq_notify, q, &sev));
	sev.sigev_signo = us;
	T("SIGEV_THREAD with a unix socket", SC(SYS_mq_notify, q, &sev));
	sev.sigev_signo = 9999;
	T("SIGEV_THREAD with fd 9999", SC(SYS_mq_notify, q, &sev));
	sev.sigev_value.sival_ptr = BADPTR;
	T("SIGEV_THREAD with a bad cookie", SC(SYS_mq_notify, q, &sev));
	close(p[0]);
	close(p[1]);
	close(us);

	/* Closing the descriptor drops the registration. */
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGUSR1;
	T("notify SIGUSR1", SC(SYS_mq_notify, q, &sev));
	close(q);
	q = mq_open_("nt", O_RDWR, 0, NULL);
	status("after close", q, self);
	close(q);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static void lsdir(const char *path)
{
	char names[32][256];
	int n = 0;
	DIR *d = opendir(path);
	if (!d) {
		printf("opendir(%s) = %s\n", path, errname(errno));
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) && n < 32)
		snprintf(names[n++], 256, "%s", e->d_name);
	closedir(d);
	qsort(names, n, 256, (int (*)(const void *, const void *))strcmp);
	printf("ls(%s) =", path);
	for (int i = 0; i < n; i++)
		printf(" %s", names[i]);
	printf("\n");
}

static void filesystem(void)
{
	SC(SYS_mkdir, "mq", 0755);
	T("mount(mqueue, opt)", mount("none", "mq", "mqueue", 0, "size=1"));
	T("mount(mqueue)", mount("none", "mq", "mqueue", 0, NULL));
	struct stat st;
	stat("mq", &st);
	printf("stat(mq): %s mode=%o uid=%u nlink=%lu\n", ftype(st.st_mode), st.st_mode & 07777,
	       st.st_uid, (unsigned long)st.st_nlink);
	struct statfs sf;
	statfs("mq", &sf);
	printf("statfs(mq): type=%lx namelen=%ld\n", (unsigned long)sf.f_type, (long)sf.f_namelen);
	lsdir("mq");
	long q = mq_open_("sr", O_RDWR, 0, NULL);
	snd(q, "abc", 3, 1);
	snd(q, "de", 2, 1);
	cat("cat(mq/sr)", "mq/sr");
	stat("mq/sr", &st);
	printf("stat(mq/sr): %s mode=%o size=%ld\n", ftype(st.st_mode), st.st_mode & 07777,
	       (long)st.st_size);
	int f = open("mq/sr", O_RDWR);
	check("open(mq/sr) works", f >= 0);
	recv_show("receive through the path's descriptor", f, 16);
	close(f);
	close(q);
	mode_t old = umask(0);
	f = open("mq/made", O_CREAT | O_RDWR, 0604);
	umask(old);
	check("open(mq/made, O_CREAT) works", f >= 0);
	show_attr("made by open", f);
	T("send on it", snd(f, "via", 3, 0));
	stat("mq/made", &st);
	printf("stat(mq/made): mode=%o\n", st.st_mode & 07777);
	long m = mq_open_("made", O_RDWR, 0, NULL);
	recv_show("mq_open(made) then receive", m, 8192);
	close(m);
	close(f);
	T("mkdir(mq/d)", SC(SYS_mkdir, "mq/d", 0755));
	T("mknod(mq/fifo)", SC(SYS_mknodat, AT_FDCWD, "mq/fifo", S_IFIFO | 0600, 0));
	T("symlink(mq/l)", SC(SYS_symlink, "x", "mq/l"));
	T("rename(mq/made, mq/other)", SC(SYS_rename, "mq/made", "mq/other"));
	T("unlink(mq/made)", SC(SYS_unlink, "mq/made"));
	T("mq_open(made)", mq_open_("made", O_RDWR, 0, NULL));
	T("mq_unlink(defaults)", SC(SYS_mq_unlink, "defaults"));
	T("mq_unlink(modes)", SC(SYS_mq_unlink, "modes"));
	lsdir("mq");
	T("umount(mq)", umount("mq"));
}

static void sysctl_write(const char *name, const char *v)
{
	char path[128], label[128];
	snprintf(path, sizeof path, "/proc/sys/fs/mqueue/%s", name);
	snprintf(label, sizeof label, "write %s %.*s", name, (int)strcspn(v, "\n"), v);
	int fd = open(path, O_WRONLY);
	T(label, write(fd, v, strlen(v)));
	close(fd);
}

int main(int argc, char **argv)
{
	setup(argc, argv, "mqueue");
	/* Natively: a fresh IPC namespace and private mounts (veil's sandbox
	 * has its own namespace; the result is not printed). */
	if (unshare(CLONE_NEWIPC) != 0 && errno != EINVAL) {
		printf("unshare(CLONE_NEWIPC): %s\n", errname(errno));
	}
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		printf("setup: private mounts: %s\n", errname(errno));
		return 3;
	}
	cat("msg_default", "/proc/sys/fs/mqueue/msg_default");
	cat("msg_max", "/proc/sys/fs/mqueue/msg_max");
	cat("msgsize_default", "/proc/sys/fs/mqueue/msgsize_default");
	cat("msgsize_max", "/proc/sys/fs/mqueue/msgsize_max");
	cat("queues_max", "/proc/sys/fs/mqueue/queues_max");
	names();
	attrs();
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		as_other_user();
		fflush(stdout);
		_exit(0);
	}
	waitpid(c, NULL, 0);
	send_receive();
	blocking();
	polling();
	notify();
	filesystem();

	/* The limits are writable; the new defaults apply to new queues. */
	sysctl_write("msg_default", "0");
	sysctl_write("msg_default", "65537");
	sysctl_write("msg_default", "x");
	sysctl_write("msgsize_max", "127");
	sysctl_write("msg_default", "3\n");
	cat("msg_default", "/proc/sys/fs/mqueue/msg_default");
	long q = mq_open_("small", O_RDWR | O_CREAT, 0600, NULL);
	show_attr("with msg_default 3", q);
	close(q);
	SC(SYS_mq_unlink, "small");
	printf("done\n");
	return 0;
}
