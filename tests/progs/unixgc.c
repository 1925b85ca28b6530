/*
 * Unix sockets passed in flight (SCM_RIGHTS) that only reference each
 * other are collected, as by Linux's unix_gc: a socket sent into its own
 * queue, or two sockets each in the other's queue, are freed once no
 * process has a descriptor to them (at the next close of a unix socket),
 * so their peers see end of file; thousands of such cycles leave the
 * process's descriptors as they were. A socket in flight in the queue of
 * a socket that is still open is not collected, nor what its own queue
 * holds, and comes back whole. A listener passed to its own unaccepted
 * connection is collected too. An unprivileged user with more
 * descriptions in flight than its RLIMIT_NOFILE gets ETOOMANYREFS.
 */
#include "common.h"
#include <dirent.h>
#include <stddef.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

static int send_fd(int via, int fd)
{
	char c = 'x';
	struct iovec iov = {&c, 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof u);
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1,
			   .msg_control = u.buf, .msg_controllen = sizeof u.buf};
	struct cmsghdr *c1 = CMSG_FIRSTHDR(&m);
	c1->cmsg_level = SOL_SOCKET;
	c1->cmsg_type = SCM_RIGHTS;
	c1->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c1), &fd, sizeof fd);
	return (int)SC(SYS_sendmsg, via, &m, MSG_DONTWAIT);
}

/* Receives one message: the fd it carried, or -1. */
static int recv_fd(int from)
{
	char c;
	struct iovec iov = {&c, 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1,
			   .msg_control = u.buf, .msg_controllen = sizeof u.buf};
	if (SC(SYS_recvmsg, from, &m, MSG_DONTWAIT) != 1)
		return -1;
	struct cmsghdr *c1 = CMSG_FIRSTHDR(&m);
	if (!c1 || c1->cmsg_type != SCM_RIGHTS)
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(c1), sizeof fd);
	return fd;
}

static void pair(int s[2])
{
	if (SC(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, s) != 0) {
		perror("socketpair");
		exit(2);
	}
}

/* Closes a fresh unix socket: Linux collects at such a close. */
static void trigger(void)
{
	int t = (int)SC(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
	SC(SYS_close, t);
}

/* Whether fd sees end of file within ms milliseconds. */
static int eof_within(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (SC(SYS_poll, &p, 1, ms) != 1)
		return 0;
	char c;
	return SC(SYS_read, fd, &c, 1) == 0;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Cycles are made in batches of BATCH, their peers kept open; one close
 * of a unix socket then lets the collector free the whole batch (Linux
 * collects in a worker: the peers wait for their end of file). */
#define BATCH 200

static void self_loops(int rounds)
{
	int eofs = 0, sent = 0;
	int peer[BATCH];
	for (int i = 0; i < rounds; i += BATCH) {
		for (int j = 0; j < BATCH; j++) {
			int s[2];
			pair(s);
			/* s[1] sends s[0] into s[0]'s own queue. */
			sent += send_fd(s[1], s[0]) == 1;
			SC(SYS_close, s[0]);
			peer[j] = s[1];
		}
		trigger();
		int wait = 10000; /* (not again for each peer if one fails) */
		for (int j = 0; j < BATCH; j++) {
			int ok = eof_within(peer[j], wait);
			eofs += ok;
			wait = ok ? wait : 0;
			SC(SYS_close, peer[j]);
		}
	}
	printf("self loops: sent %d, peer saw EOF %d of %d\n", sent, eofs, rounds);
}

static void cycles(int rounds)
{
	int eofs = 0;
	int peer[BATCH][2];
	for (int i = 0; i < rounds; i += BATCH) {
		for (int j = 0; j < BATCH; j++) {
			int p[2], q[2];
			pair(p);
			pair(q);
			send_fd(q[1], p[0]); /* p[0] in q[0]'s queue */
			send_fd(p[1], q[0]); /* q[0] in p[0]'s queue */
			SC(SYS_close, p[0]);
			SC(SYS_close, q[0]);
			peer[j][0] = p[1];
			peer[j][1] = q[1];
		}
		trigger();
		int wait = 10000;
		for (int j = 0; j < BATCH; j++) {
			int ok = eof_within(peer[j][0], wait) && eof_within(peer[j][1], wait);
			eofs += ok;
			wait = ok ? wait : 0;
			SC(SYS_close, peer[j][0]);
			SC(SYS_close, peer[j][1]);
		}
	}
	printf("two-socket cycles: both peers saw EOF %d of %d\n", eofs, rounds);
}

static void reachable(void)
{
	int x[2], z[2], w[2];
	pair(x);
	pair(z);
	pair(w);
	send_fd(z[1], w[0]); /* w[0] in z[0]'s queue */
	send_fd(x[1], z[0]); /* z[0] in x[0]'s queue, x[0] open */
	SC(SYS_close, z[0]);
	SC(SYS_close, w[0]);
	trigger();
	check("a socket in an open socket's queue is kept", !eof_within(z[1], 200));
	check("and what its queue holds", !eof_within(w[1], 200));
	int back = recv_fd(x[0]);
	check("it comes back", back >= 0);
	int inner = recv_fd(back);
	check("with what it holds", inner >= 0);
	SC(SYS_close, back);
	SC(SYS_close, inner);
	check("closed: its peer sees EOF", eof_within(z[1], 10000));
	check("and the inner one's", eof_within(w[1], 10000));
	SC(SYS_close, x[0]);
	SC(SYS_close, x[1]);
	SC(SYS_close, z[1]);
	SC(SYS_close, w[1]);
}

static void listener(void)
{
	int l = (int)SC(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	memcpy(a.sun_path, "\0veil-unixgc", 12);
	socklen_t len = offsetof(struct sockaddr_un, sun_path) + 12;
	T("bind", SC(SYS_bind, l, &a, len));
	T("listen", SC(SYS_listen, l, 4));
	int c = (int)SC(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
	T("connect", SC(SYS_connect, c, &a, len));
	T("send the listener over the connection", send_fd(c, l));
	SC(SYS_close, l);
	trigger();
	/* Once collected, the name is free again and the client sees EOF
	 * (or a reset: the connection was never accepted). */
	int gone = 0;
	struct pollfd p = {.fd = c, .events = POLLIN};
	if (SC(SYS_poll, &p, 1, 10000) == 1) {
		char ch;
		long n = SC(SYS_read, c, &ch, 1);
		gone = n == 0 || (n < 0 && errno == ECONNRESET);
	}
	check("the listener was collected", gone);
	int l2 = (int)SC(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
	T("bind its name again", SC(SYS_bind, l2, &a, len));
	SC(SYS_close, l2);
	SC(SYS_close, c);
}

static void too_many(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit r = {16, 16};
		if (SC(SYS_setresgid, 65534, 65534, 65534) || SC(SYS_setresuid, 65534, 65534, 65534))
			_exit(3);
		T("setrlimit NOFILE 16", SC(SYS_setrlimit, RLIMIT_NOFILE, &r));
		int s[2];
		pair(s);
		int n = 0;
		long rc;
		while ((rc = send_fd(s[1], s[1])) == 1 && n < 100)
			n++;
		printf("sends with an fd before the limit: %d\n", n);
		check("then ETOOMANYREFS", rc == -1 && errno == ETOOMANYREFS);
		T("a send without fds", SC(SYS_write, s[1], "y", 1));
		int back = recv_fd(s[0]);
		check("one received", back >= 0);
		SC(SYS_close, back);
		T("a send with an fd again", send_fd(s[1], s[1]));
		rc = send_fd(s[1], s[1]);
		check("and again ETOOMANYREFS", rc == -1 && errno == ETOOMANYREFS);
		/* Other users' limits are their own: the socket's pair closes
		 * with all in flight, which the collector frees. */
		SC(SYS_close, s[0]);
		SC(SYS_close, s[1]);
		trigger();
		int t[2];
		pair(t);
		T("after closing them all", send_fd(t[1], t[1]));
		_exit(0);
	}
	int st;
	SC(SYS_wait4, pid, &st, 0, NULL);
	printf("child exit %d\n", WEXITSTATUS(st));
}

int main(int argc, char **argv)
{
	setup(argc, argv, "unixgc");
	int before = count_fds();
	self_loops(5000);
	cycles(2000);
	reachable();
	listener();
	too_many();
	check("descriptors as before", count_fds() == before);
	return 0;
}
