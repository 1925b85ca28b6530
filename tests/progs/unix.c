/*
 * Unix-domain sockets. socket(2) and socketpair(2) arguments and flags;
 * the answers of every socket call on bad and non-socket fds; stream,
 * datagram and seqpacket socketpairs (boundaries, MSG_PEEK, MSG_TRUNC,
 * MSG_DONTWAIT, shutdown, end of file, EPIPE with and without SIGPIPE,
 * ECONNRESET, ECONNREFUSED); bind / listen / connect / accept4 on
 * filesystem paths (the socket inode, EADDRINUSE, hard links and
 * symlinks to it, a removed path) and abstract names (autobind); datagram
 * addressing (sendto / recvfrom, default peers, EPERM); SCM_RIGHTS (with
 * MSG_CMSG_CLOEXEC, MSG_CTRUNC, peeking) and SCM_CREDENTIALS (SO_PASSCRED,
 * a forked sender's pid); socket options; poll and epoll readiness;
 * blocking sends, receives, accepts and connects woken by another
 * process, timeouts (SO_RCVTIMEO) and signals; sendmmsg / recvmmsg;
 * MSG_WAITALL; fstat and /proc/self/fd of a socket.
 */
#include "common.h"
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#ifndef SCM_CREDENTIALS
#define SCM_CREDENTIALS 2
#endif
#ifndef SO_PASSCRED
#define SO_PASSCRED 16
#endif
#ifndef SO_PEERCRED
#define SO_PEERCRED 17
#endif
#ifndef SO_DOMAIN
#define SO_DOMAIN 39
#endif
#ifndef SO_PROTOCOL
#define SO_PROTOCOL 38
#endif
#ifndef SIOCOUTQ
#define SIOCOUTQ 0x5411
#endif

struct k_ucred {
	int32_t pid;
	uint32_t uid;
	uint32_t gid;
};

static int sigpipes, alarms;
static void on_pipe(int s)
{
	(void)s;
	sigpipes++;
}
static void on_alarm(int s)
{
	(void)s;
	alarms++;
}

static void sigpipe_check(const char *what)
{
	printf("%s: sigpipe=%d\n", what, sigpipes);
	sigpipes = 0;
}

static const char *evname(unsigned ev)
{
	static char buf[128];
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{ POLLIN, "IN" },   { POLLPRI, "PRI" }, { POLLOUT, "OUT" },
		{ POLLERR, "ERR" }, { POLLHUP, "HUP" }, { POLLRDHUP, "RDHUP" },
	};
	buf[0] = 0;
	for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (ev & names[i].bit) {
			if (buf[0])
				strcat(buf, "|");
			strcat(buf, names[i].name);
		}
	}
	if (!buf[0])
		strcpy(buf, "0");
	return buf;
}

static void show_poll(const char *label, int fd)
{
	struct pollfd p = { fd, POLLIN | POLLOUT | POLLRDHUP | POLLPRI, 0 };
	long n = poll(&p, 1, 0);
	printf("%s: poll = %ld %s\n", label, n, evname((unsigned short)p.revents));
}

static int sopt_int(int fd, int name)
{
	int v = -12345;
	socklen_t l = sizeof v;
	if (getsockopt(fd, SOL_SOCKET, name, &v, &l) != 0)
		return -errno * 1000;
	return v;
}

/* A filesystem address in the scratch directory. */
static socklen_t path_addr(struct sockaddr_un *a, const char *path)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	strcpy(a->sun_path, path);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
}

/* An abstract address, unique to this process (natively, tests share the
 * host's abstract namespace). */
static socklen_t abs_addr(struct sockaddr_un *a, const char *tag)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	int n = snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "veil-unix-test-%d-%s",
			 (int)getpid(), tag);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static void show_name(const char *label, int fd, int peer)
{
	struct sockaddr_un a;
	memset(&a, 0x55, sizeof a);
	socklen_t l = sizeof a;
	int r = peer ? getpeername(fd, (struct sockaddr *)&a, &l)
		     : getsockname(fd, (struct sockaddr *)&a, &l);
	if (r != 0) {
		printf("%s = -1 %s\n", label, errname(errno));
		return;
	}
	if (l <= offsetof(struct sockaddr_un, sun_path))
		printf("%s = len %d family %d (unnamed)\n", label, (int)l, a.sun_family);
	else if (a.sun_path[0])
		printf("%s = len %d path %s\n", label, (int)l, spath(a.sun_path));
	else
		printf("%s = len %d abstract\n", label, (int)l);
}

/* ------------------------------------------------------------------ */

static void test_create(void)
{
	printf("-- socket and socketpair\n");
	T("socket(UNIX, STREAM|0x10000)", SC(SYS_socket, AF_UNIX, SOCK_STREAM | 0x10000, 0));
	T("socket(46, STREAM)", SC(SYS_socket, 46, SOCK_STREAM, 0));
	T("socket(-1, STREAM)", SC(SYS_socket, -1, SOCK_STREAM, 0));
	T("socket(UNIX, 11)", SC(SYS_socket, AF_UNIX, 11, 0));
	T("socket(UNIX, RDM)", SC(SYS_socket, AF_UNIX, SOCK_RDM, 0));
	T("socket(UNIX, STREAM, 2)", SC(SYS_socket, AF_UNIX, SOCK_STREAM, 2));
	int s = (int)SC(SYS_socket, AF_UNIX, SOCK_STREAM, 1);
	check("socket(UNIX, STREAM, 1) ok", s >= 0);
	close(s);
	s = (int)SC(SYS_socket, AF_UNIX, SOCK_RAW, 0);
	check("socket(UNIX, RAW) ok", s >= 0);
	printf("RAW SO_TYPE=%d (DGRAM=%d)\n", sopt_int(s, SO_TYPE), SOCK_DGRAM);
	close(s);

	s = (int)SC(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	check("socket nonblock cloexec ok", s >= 0);
	T("F_GETFD", fcntl(s, F_GETFD));
	T("F_GETFL", fcntl(s, F_GETFL) & (O_ACCMODE | O_NONBLOCK));
	struct stat st;
	T("fstat", fstat(s, &st));
	printf("fstat type=%s mode=%o nlink=%ld\n", ftype(st.st_mode),
	       (unsigned)(st.st_mode & 07777), (long)st.st_nlink);
	char link[64], want[64];
	snprintf(link, sizeof link, "/proc/self/fd/%d", s);
	ssize_t n = readlink(link, want, sizeof want - 1);
	want[n > 0 ? n : 0] = 0;
	char expect[64];
	snprintf(expect, sizeof expect, "socket:[%llu]", (unsigned long long)st.st_ino);
	check("readlink /proc/self/fd = socket:[ino]", strcmp(want, expect) == 0);
	T("lseek", lseek(s, 0, SEEK_SET));
	T("pread", pread(s, want, 1, 0));
	printf("SO_TYPE=%d SO_DOMAIN=%d SO_PROTOCOL=%d SO_ACCEPTCONN=%d SO_ERROR=%d\n",
	       sopt_int(s, SO_TYPE), sopt_int(s, SO_DOMAIN), sopt_int(s, SO_PROTOCOL),
	       sopt_int(s, SO_ACCEPTCONN), sopt_int(s, SO_ERROR));
	show_name("getsockname(unbound)", s, 0);
	show_name("getpeername(unconnected)", s, 1);
	show_poll("fresh stream", s);
	T("read(unconnected stream)", read(s, want, 1));
	T("write(unconnected stream)", write(s, "x", 1));
	T("shutdown(unconnected)", shutdown(s, SHUT_RDWR));
	close(s);

	int sv[2] = { -1, -1 };
	T("socketpair(UNIX, STREAM|0x10000)", SC(SYS_socketpair, AF_UNIX, SOCK_STREAM | 0x10000, 0, sv));
	T("socketpair(46)", SC(SYS_socketpair, 46, SOCK_STREAM, 0, sv));
	T("socketpair(46, BADPTR)", SC(SYS_socketpair, 46, SOCK_STREAM, 0, BADPTR));
	T("socketpair(UNIX, BADPTR)", SC(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, BADPTR));
	T("socketpair(UNIX, RDM)", SC(SYS_socketpair, AF_UNIX, SOCK_RDM, 0, sv));
	T("socketpair(UNIX, STREAM|CLOEXEC)", SC(SYS_socketpair, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	printf("F_GETFD=%d,%d\n", fcntl(sv[0], F_GETFD), fcntl(sv[1], F_GETFD));
	struct stat a, b;
	fstat(sv[0], &a);
	fstat(sv[1], &b);
	check("pair inodes differ", a.st_ino != b.st_ino);
	int d = dup(sv[0]);
	struct stat c;
	fstat(d, &c);
	check("dup shares the inode", c.st_ino == a.st_ino);
	close(d);
	close(sv[0]);
	close(sv[1]);
}

static void test_notsock(void)
{
	printf("-- calls on bad fds and non-sockets\n");
	int f = (int)SC(SYS_open, "plain", O_CREAT | O_RDWR, 0644);
	struct sockaddr_un a;
	socklen_t al = path_addr(&a, "nowhere");
	char buf[8];
	socklen_t l = sizeof a;
	int v = 1;
	struct msghdr mh;
	memset(&mh, 0, sizeof mh);
	int fds[2] = { BADFD, f };
	const char *names[2] = { "badfd", "file" };
	for (int i = 0; i < 2; i++) {
		int fd = fds[i];
		char lab[64];
#define N(x) (snprintf(lab, sizeof lab, "%s %s", x, names[i]), lab)
		T(N("bind"), SC(SYS_bind, fd, &a, al));
		T(N("connect"), SC(SYS_connect, fd, &a, al));
		T(N("listen"), SC(SYS_listen, fd, 1));
		T(N("accept"), SC(SYS_accept, fd, NULL, NULL));
		T(N("accept4"), SC(SYS_accept4, fd, NULL, NULL, 0));
		T(N("getsockname"), SC(SYS_getsockname, fd, &a, &l));
		T(N("getpeername"), SC(SYS_getpeername, fd, &a, &l));
		T(N("sendto"), SC(SYS_sendto, fd, buf, 1, 0, NULL, 0));
		T(N("recvfrom"), SC(SYS_recvfrom, fd, buf, 1, MSG_DONTWAIT, NULL, NULL));
		T(N("sendmsg"), SC(SYS_sendmsg, fd, &mh, 0));
		T(N("recvmsg"), SC(SYS_recvmsg, fd, &mh, 0));
		T(N("sendmmsg"), SC(SYS_sendmmsg, fd, NULL, 0, 0));
		T(N("recvmmsg"), SC(SYS_recvmmsg, fd, NULL, 0, 0, NULL));
		T(N("shutdown"), SC(SYS_shutdown, fd, SHUT_RD));
		T(N("setsockopt"), SC(SYS_setsockopt, fd, SOL_SOCKET, SO_REUSEADDR, &v, sizeof v));
		T(N("getsockopt"), SC(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, &v, &l));
#undef N
	}
	/* Argument order: connect reads the address before checking the file. */
	T("connect file BADPTR", SC(SYS_connect, f, BADPTR, al));
	T("bind file BADPTR", SC(SYS_bind, f, BADPTR, al));
	T("sendto file BADPTR buf", SC(SYS_sendto, f, (void *)-4096L, 1, 0, NULL, 0));
	close(f);
}

static void test_stream_pair(void)
{
	printf("-- stream socketpair\n");
	int sv[2];
	char buf[64];
	T("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	show_poll("connected, empty", sv[0]);
	show_name("getsockname(pair)", sv[0], 0);
	show_name("getpeername(pair)", sv[0], 1);
	T("write abc", write(sv[0], "abc", 3));
	T("send def", send(sv[0], "def", 3, 0));
	struct iovec iov[2] = { { (void *)"gh", 2 }, { (void *)"ij", 2 } };
	T("writev", writev(sv[0], iov, 2));
	show_poll("with data", sv[1]);
	int q = -1;
	T("FIONREAD", ioctl(sv[1], FIONREAD, &q));
	printf("FIONREAD=%d\n", q);
	T("recv PEEK 4", recv(sv[1], buf, 4, MSG_PEEK));
	printf("peeked %.4s\n", buf);
	T("read 5 (joins writes)", read(sv[1], buf, 5));
	printf("read %.5s\n", buf);
	char x[3], y[3];
	struct iovec riov[2] = { { x, 3 }, { y, 3 } };
	T("readv", readv(sv[1], riov, 2));
	printf("readv %.3s %.2s\n", x, y);
	T("recv DONTWAIT empty", recv(sv[1], buf, 4, MSG_DONTWAIT));
	T("recv 0 bytes DONTWAIT", recv(sv[1], buf, 0, MSG_DONTWAIT));
	T("recvfrom BADPTR", SC(SYS_recvfrom, sv[1], (void *)-4096L, 4, MSG_DONTWAIT, NULL, NULL));
	T("sendto with address on connected stream",
	  SC(SYS_sendto, sv[0], "x", 1, 0, &(struct sockaddr_un){ AF_UNIX, "x" }, 4));

	printf("shutdown:\n");
	T("shutdown(3)", shutdown(sv[0], 3));
	T("shutdown(-1)", shutdown(sv[0], -1));
	T("write q", write(sv[0], "q", 1));
	T("shutdown WR", shutdown(sv[0], SHUT_WR));
	show_poll("writer after SHUT_WR", sv[0]);
	show_poll("reader after peer SHUT_WR", sv[1]);
	T("read q", read(sv[1], buf, 8));
	T("read at EOF", read(sv[1], buf, 8));
	T("write after SHUT_WR", write(sv[0], "z", 1));
	sigpipe_check("write after SHUT_WR");
	T("send NOSIGNAL after SHUT_WR", send(sv[0], "z", 1, MSG_NOSIGNAL));
	sigpipe_check("send NOSIGNAL");
	T("other way still works", write(sv[1], "r", 1));
	T("read r", read(sv[0], buf, 8));
	T("shutdown RD", shutdown(sv[0], SHUT_RD));
	show_poll("after SHUT_RD too", sv[0]);
	show_poll("peer of SHUT_RDWR", sv[1]);
	T("peer write after SHUT_RD", write(sv[1], "s", 1));
	sigpipe_check("peer write");
	close(sv[0]);
	close(sv[1]);

	printf("closing with unread data:\n");
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	write(sv[0], "abc", 3);
	write(sv[1], "zz", 2);
	close(sv[1]);
	show_poll("survivor", sv[0]);
	T("read buffered", read(sv[0], buf, 8));
	T("read: reset", read(sv[0], buf, 8));
	T("read: eof", read(sv[0], buf, 8));
	T("send after peer closed", send(sv[0], "x", 1, 0));
	sigpipe_check("send after peer closed");
	close(sv[0]);

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	write(sv[0], "abc", 3);
	close(sv[1]);
	printf("SO_ERROR after reset=%s\n", errname(sopt_int(sv[0], SO_ERROR)));
	printf("SO_ERROR again=%d\n", sopt_int(sv[0], SO_ERROR));
	T("read: eof (error taken)", read(sv[0], buf, 8));
	close(sv[0]);
}

static void test_dgram_pair(void)
{
	printf("-- datagram and seqpacket socketpairs\n");
	int types[2] = { SOCK_DGRAM, SOCK_SEQPACKET };
	const char *tn[2] = { "dgram", "seqpacket" };
	for (int i = 0; i < 2; i++) {
		int sv[2];
		char buf[64];
		printf("%s:\n", tn[i]);
		T("socketpair", socketpair(AF_UNIX, types[i], 0, sv));
		T("send hello", send(sv[0], "hello", 5, 0));
		T("send empty", send(sv[0], "", 0, 0));
		T("write world!", write(sv[0], "world!", 6));
		int q = -1;
		ioctl(sv[1], FIONREAD, &q);
		printf("FIONREAD=%d\n", q);
		T("recv 3 (truncates)", recv(sv[1], buf, 3, 0));
		T("recv empty message", recv(sv[1], buf, 10, 0));
		T("recv PEEK|TRUNC 2", recv(sv[1], buf, 2, MSG_PEEK | MSG_TRUNC));
		struct msghdr mh;
		struct iovec iov = { buf, 4 };
		memset(&mh, 0, sizeof mh);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		T("recvmsg 4", recvmsg(sv[1], &mh, 0));
		printf("msg_flags TRUNC=%d data=%.4s\n", !!(mh.msg_flags & MSG_TRUNC), buf);
		T("recv DONTWAIT empty", recv(sv[1], buf, 4, MSG_DONTWAIT));
		char *big = malloc(300000);
		memset(big, 'b', 300000);
		T("send 300000 (EMSGSIZE)", send(sv[0], big, 300000, 0));
		free(big);
		char *large = calloc(1, 150000);
		T("write 150000 (one message)", write(sv[0], large, 150000));
		T("read it whole", read(sv[1], large, 150000));
		free(large);
		T("shutdown WR", shutdown(sv[0], SHUT_WR));
		T("send after SHUT_WR", send(sv[0], "x", 1, 0));
		sigpipe_check("send after SHUT_WR");
		show_poll("peer after SHUT_WR", sv[1]);
		T("peer recv DONTWAIT", recv(sv[1], buf, 4, MSG_DONTWAIT));
		T("peer send", send(sv[1], "y", 1, 0));
		T("shutdown RD", shutdown(sv[0], SHUT_RD));
		show_poll("after SHUT_RDWR", sv[0]);
		T("recv queued", recv(sv[0], buf, 4, MSG_DONTWAIT));
		T("recv DONTWAIT at shutdown", recv(sv[0], buf, 4, MSG_DONTWAIT));
		T("recv at shutdown", recv(sv[0], buf, 4, 0));
		T("peer send after SHUT_RD", send(sv[1], "y", 1, 0));
		sigpipe_check("peer send after SHUT_RD");
		close(sv[0]);
		close(sv[1]);

		socketpair(AF_UNIX, types[i], 0, sv);
		send(sv[1], "left", 4, 0);
		close(sv[1]);
		show_poll("after peer close", sv[0]);
		T("recv queued after peer close", recv(sv[0], buf, 8, MSG_DONTWAIT));
		T("recv DONTWAIT after peer close", recv(sv[0], buf, 8, MSG_DONTWAIT));
		T("write after peer close", write(sv[0], "x", 1));
		T("send after peer close", send(sv[0], "x", 1, 0));
		sigpipe_check("sends after peer close");
		close(sv[0]);
	}
	printf("unconnected:\n");
	int d = socket(AF_UNIX, SOCK_DGRAM, 0);
	int p = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	char buf[4];
	show_poll("fresh dgram", d);
	show_poll("fresh seqpacket", p);
	T("write unconnected dgram", write(d, "x", 1));
	T("recv DONTWAIT unconnected dgram", recv(d, buf, 1, MSG_DONTWAIT));
	T("write unconnected seqpacket", write(p, "x", 1));
	T("recv unconnected seqpacket", recv(p, buf, 1, MSG_DONTWAIT));
	T("listen dgram", listen(d, 1));
	T("accept dgram", accept(d, NULL, NULL));
	close(d);
	close(p);
}

/* Connects a new stream socket to `path` and has `listener` accept it. */
static void connect_accept(const char *label, int listener, const char *path)
{
	struct sockaddr_un a;
	socklen_t al = path_addr(&a, path);
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	T(label, connect(c, (struct sockaddr *)&a, al));
	int acc = accept4(listener, NULL, NULL, SOCK_NONBLOCK);
	check("  accepted", acc >= 0);
	close(acc);
	close(c);
}

static void test_paths(void)
{
	printf("-- filesystem addresses\n");
	struct sockaddr_un a, b;
	socklen_t al = path_addr(&a, "srv.sock");
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	T("listen unbound", listen(s, 5));
	T("bind len 0", SC(SYS_bind, s, &a, 0));
	T("bind len 1", SC(SYS_bind, s, &a, 1));
	T("bind len 111", SC(SYS_bind, s, &a, 111));
	T("bind len 200", SC(SYS_bind, s, &a, 200));
	T("bind len -1", SC(SYS_bind, s, &a, -1));
	T("bind BADPTR", SC(SYS_bind, s, BADPTR, al));
	struct sockaddr_un wrong = a;
	wrong.sun_family = AF_INET;
	T("bind family INET", SC(SYS_bind, s, &wrong, al));
	T("bind srv.sock", bind(s, (struct sockaddr *)&a, al));
	struct stat st;
	T("stat srv.sock", stat("srv.sock", &st));
	printf("type=%s mode=%o size=%lld\n", ftype(st.st_mode), (unsigned)(st.st_mode & 07777),
	       (long long)st.st_size);
	T("open srv.sock", SC(SYS_open, "srv.sock", O_RDWR));
	show_name("getsockname", s, 0);
	T("bind again", bind(s, (struct sockaddr *)&b, path_addr(&b, "other.sock")));
	T("access other.sock (bind made it first)", access("other.sock", F_OK));
	int s2 = socket(AF_UNIX, SOCK_STREAM, 0);
	T("bind taken name", bind(s2, (struct sockaddr *)&a, al));
	mkdir("sub", 0755);
	T("bind sub/ (a directory)", bind(s2, (struct sockaddr *)&b, path_addr(&b, "sub")));
	T("bind nodir/x", bind(s2, (struct sockaddr *)&b, path_addr(&b, "nodir/x")));
	/* sun_path need not end in NUL within the length given. */
	memset(&b, 0, sizeof b);
	b.sun_family = AF_UNIX;
	memcpy(b.sun_path, "sub/s2.sockXYZ", 14);
	T("bind without NUL", bind(s2, (struct sockaddr *)&b, offsetof(struct sockaddr_un, sun_path) + 11));
	show_name("getsockname(no NUL)", s2, 0);

	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	T("connect before listen", connect(c, (struct sockaddr *)&a, al));
	T("connect nowhere", connect(c, (struct sockaddr *)&b, path_addr(&b, "nowhere")));
	make_file("plain", "x", 0644);
	T("connect plain file", connect(c, (struct sockaddr *)&b, path_addr(&b, "plain")));
	T("connect len 2", connect(c, (struct sockaddr *)&a, 2));
	T("listen 1", listen(s, 1));
	printf("SO_ACCEPTCONN=%d\n", sopt_int(s, SO_ACCEPTCONN));
	show_poll("listening", s);
	T("read listening", read(s, &st, 1));
	T("accept4 bad flags", SC(SYS_accept4, s, NULL, NULL, 0x1));
	T("accept DONTWAIT-less on empty (nonblocking fd)",
	  (fcntl(s, F_SETFL, O_NONBLOCK), accept(s, NULL, NULL)));
	fcntl(s, F_SETFL, 0);
	int dg = socket(AF_UNIX, SOCK_DGRAM, 0);
	T("connect dgram to stream listener", connect(dg, (struct sockaddr *)&a, al));
	close(dg);
	T("connect", connect(c, (struct sockaddr *)&a, al));
	T("connect again", connect(c, (struct sockaddr *)&a, al));
	T("connect listener", connect(s, (struct sockaddr *)&a, al));
	show_poll("listener with one pending", s);
	show_poll("client", c);
	show_name("client getsockname", c, 0);
	show_name("client getpeername", c, 1);
	struct k_ucred cr;
	socklen_t crl = sizeof cr;
	T("client SO_PEERCRED", getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &crl));
	printf("peercred len=%d pid=%s uid=%s gid=%s\n", (int)crl, cr.pid == getpid() ? "self" : "other",
	       cr.uid == geteuid() ? "euid" : "other", cr.gid == getegid() ? "egid" : "other");
	T("write before accept", write(c, "early", 5));
	int c2 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int c3 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	T("second connect (backlog 1)", connect(c2, (struct sockaddr *)&a, al));
	T("third connect: backlog full", connect(c3, (struct sockaddr *)&a, al));
	struct sockaddr_un peer;
	memset(&peer, 0x55, sizeof peer);
	socklen_t pl = sizeof peer;
	int acc = (int)SC(SYS_accept4, s, &peer, &pl, SOCK_CLOEXEC | SOCK_NONBLOCK);
	check("accept4 ok", acc >= 0);
	printf("accepted peer addr len=%d family=%d\n", (int)pl, peer.sun_family);
	printf("accepted F_GETFD=%d F_GETFL nonblock=%d\n", fcntl(acc, F_GETFD),
	       !!(fcntl(acc, F_GETFL) & O_NONBLOCK));
	show_name("accepted getsockname", acc, 0);
	show_name("accepted getpeername", acc, 1);
	crl = sizeof cr;
	getsockopt(acc, SOL_SOCKET, SO_PEERCRED, &cr, &crl);
	printf("accepted peercred pid=%s uid=%s\n", cr.pid == getpid() ? "self" : "other",
	       cr.uid == geteuid() ? "euid" : "other");
	printf("accepted SO_ACCEPTCONN=%d\n", sopt_int(acc, SO_ACCEPTCONN));
	char buf[16];
	T("read early", read(acc, buf, sizeof buf));
	TOK("accept with short addrlen", (pl = 1, accept(s, (struct sockaddr *)&peer, &pl)));
	printf("short addrlen -> %d\n", (int)pl);
	int c6 = socket(AF_UNIX, SOCK_STREAM, 0);
	connect(c6, (struct sockaddr *)&a, al);
	T("accept addrlen BADPTR (connection dropped)", SC(SYS_accept, s, &peer, BADPTR));
	show_poll("client of the dropped connection", c6);
	close(c6);
	close(acc);
	close(c2);
	close(c3);

	/* Another name for the same inode reaches the socket. */
	T("link", link("srv.sock", "hard.sock"));
	T("symlink", symlink("srv.sock", "soft.sock"));
	connect_accept("connect via hard link", s, "hard.sock");
	connect_accept("connect via symlink", s, "soft.sock");
	char abspath[PATH_MAX];
	snprintf(abspath, sizeof abspath, "%.200s/srv.sock", scratch);
	connect_accept("connect absolute path", s, abspath);
	T("chmod 0 srv.sock", chmod("srv.sock", 0));
	connect_accept("connect mode 0 (root may)", s, "srv.sock");
	T("unlink srv.sock", unlink("srv.sock"));
	int c4 = socket(AF_UNIX, SOCK_STREAM, 0);
	T("connect removed path", connect(c4, (struct sockaddr *)&a, al));
	close(c4);
	connect_accept("connect via remaining hard link", s, "hard.sock");
	T("bind the removed name anew", bind(s2 = socket(AF_UNIX, SOCK_STREAM, 0), (struct sockaddr *)&a, al));
	close(s2);
	close(s);
	c4 = socket(AF_UNIX, SOCK_STREAM, 0);
	T("connect after listener closed", connect(c4, (struct sockaddr *)&b, path_addr(&b, "hard.sock")));
	T("connect stale srv.sock", connect(c4, (struct sockaddr *)&a, al));
	close(c4);
	close(c);

	printf("listener closed with pending connections:\n");
	al = path_addr(&a, "l2.sock");
	s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	bind(s, (struct sockaddr *)&a, al);
	listen(s, 0);
	c = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	T("connect seqpacket", connect(c, (struct sockaddr *)&a, al));
	int c5 = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0);
	T("connect past backlog 0", connect(c5, (struct sockaddr *)&a, al));
	T("listen again (raise backlog)", listen(s, 4));
	T("connect now", connect(c5, (struct sockaddr *)&a, al));
	close(c5);
	close(s);
	show_poll("client of closed listener", c);
	T("recv: reset", recv(c, buf, 4, 0));
	T("recv: eof", recv(c, buf, 4, 0));
	T("send: EPIPE", send(c, "x", 1, 0));
	sigpipe_check("seqpacket send");
	close(c);
}

static void test_abstract(void)
{
	printf("-- abstract addresses\n");
	struct sockaddr_un a, b;
	socklen_t al = abs_addr(&a, "one");
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	T("bind abstract", bind(s, (struct sockaddr *)&a, al));
	socklen_t l = sizeof b;
	getsockname(s, (struct sockaddr *)&b, &l);
	check("getsockname gives the name back", l == al && memcmp(&a, &b, al) == 0);
	int s2 = socket(AF_UNIX, SOCK_STREAM, 0);
	T("bind same name", bind(s2, (struct sockaddr *)&a, al));
	T("bind name + 1 byte (a different name)", bind(s2, (struct sockaddr *)&a, al + 1));
	close(s2);
	listen(s, 4);
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	T("connect shorter name", connect(c, (struct sockaddr *)&a, al - 1));
	T("connect", connect(c, (struct sockaddr *)&a, al));
	l = sizeof b;
	getpeername(c, (struct sockaddr *)&b, &l);
	check("getpeername = listener's name", l == al && memcmp(&a, &b, al) == 0);
	int acc = accept(s, NULL, NULL);
	l = sizeof b;
	getsockname(acc, (struct sockaddr *)&b, &l);
	check("accepted getsockname = listener's name", l == al && memcmp(&a, &b, al) == 0);
	close(acc);
	close(c);
	close(s);
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	T("connect after close", connect(c, (struct sockaddr *)&a, al));
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	T("rebind after close", bind(s, (struct sockaddr *)&a, al));
	close(s);

	printf("autobind:\n");
	s = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un fam = { .sun_family = AF_UNIX };
	T("bind family only", bind(s, (struct sockaddr *)&fam, sizeof(sa_family_t)));
	l = sizeof b;
	memset(&b, 0x55, sizeof b);
	getsockname(s, (struct sockaddr *)&b, &l);
	int hex = 1;
	for (int i = 1; i < 6; i++)
		hex &= !!strchr("0123456789abcdef", b.sun_path[i]);
	printf("autobound len=%d abstract=%d hex=%d\n", (int)l, b.sun_path[0] == 0, hex);
	struct sockaddr_un first = b;
	T("autobind again", bind(s, (struct sockaddr *)&fam, sizeof(sa_family_t)));
	l = sizeof b;
	getsockname(s, (struct sockaddr *)&b, &l);
	check("name kept", memcmp(&first, &b, 8) == 0);
	T("bind a name after autobind", bind(s, (struct sockaddr *)&a, al));
	int t = socket(AF_UNIX, SOCK_DGRAM, 0);
	T("sendto the autobound name", sendto(t, "auto", 4, 0, (struct sockaddr *)&first, 8));
	char buf[8];
	T("recv", recv(s, buf, 8, 0));
	close(t);
	close(s);
}

static void test_dgram_addr(void)
{
	printf("-- datagram addressing\n");
	struct sockaddr_un a, b, from;
	socklen_t al = path_addr(&a, "d1.sock"), bl = path_addr(&b, "d2.sock");
	int d1 = socket(AF_UNIX, SOCK_DGRAM, 0), d2 = socket(AF_UNIX, SOCK_DGRAM, 0);
	int u = socket(AF_UNIX, SOCK_DGRAM, 0);
	bind(d1, (struct sockaddr *)&a, al);
	bind(d2, (struct sockaddr *)&b, bl);
	char buf[32];
	T("sendto d1 from d2", sendto(d2, "from d2", 7, 0, (struct sockaddr *)&a, al));
	T("sendto d1 from unbound", sendto(u, "anon", 4, 0, (struct sockaddr *)&a, al));
	socklen_t fl = sizeof from;
	memset(&from, 0, sizeof from);
	T("recvfrom", recvfrom(d1, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl));
	printf("from len=%d path=%s\n", (int)fl, spath(from.sun_path));
	fl = sizeof from;
	T("recvfrom (unbound sender)", recvfrom(d1, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl));
	printf("from len=%d\n", (int)fl);
	T("sendto len 1", SC(SYS_sendto, u, "x", 1, 0, &a, 1));
	T("sendto len 129", SC(SYS_sendto, u, "x", 1, 0, &a, 129));
	T("sendto len 111", SC(SYS_sendto, u, "x", 1, 0, &a, 111));
	T("sendto nowhere", sendto(u, "x", 1, 0, (struct sockaddr *)&from, path_addr(&from, "nowhere")));
	T("sendto a plain file", sendto(u, "x", 1, 0, (struct sockaddr *)&from, path_addr(&from, "plain")));
	int st = socket(AF_UNIX, SOCK_STREAM, 0);
	bind(st, (struct sockaddr *)&from, path_addr(&from, "st.sock"));
	T("sendto a stream socket", sendto(u, "x", 1, 0, (struct sockaddr *)&from, path_addr(&from, "st.sock")));
	close(st);
	T("connect d2 -> d1", connect(d2, (struct sockaddr *)&a, al));
	show_name("d2 getpeername", d2, 1);
	T("send (default peer)", send(d2, "dflt", 4, 0));
	T("recv", recv(d1, buf, sizeof buf, 0));
	T("connect d1 -> d2", connect(d1, (struct sockaddr *)&b, bl));
	T("unbound sendto d1 (connected elsewhere)", sendto(u, "x", 1, 0, (struct sockaddr *)&a, al));
	T("d2 sendto d1 explicitly", sendto(d2, "expl", 4, 0, (struct sockaddr *)&a, al));
	T("recv", recv(d1, buf, sizeof buf, 0));
	T("connect AF_UNSPEC", connect(d2, (struct sockaddr *)&(struct sockaddr){ .sa_family = AF_UNSPEC }, sizeof(struct sockaddr)));
	T("send after disconnect", send(d2, "x", 1, 0));
	show_name("getpeername after disconnect", d2, 1);
	T("connect len 1", SC(SYS_connect, d2, &a, 1));

	printf("a full queue of a receiver not connected back:\n");
	int r = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un ra;
	socklen_t ral = path_addr(&ra, "r.sock");
	bind(r, (struct sockaddr *)&ra, ral);
	int w = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	connect(w, (struct sockaddr *)&ra, ral);
	int sent = 0;
	while (sent < 1000 && send(w, "m", 1, 0) == 1)
		sent++;
	printf("sent before EAGAIN: %d (%s)\n", sent, errname(errno));
	show_poll("sender to a full queue", w);
	recv(r, buf, 1, 0);
	show_poll("after one read", w);
	T("send again", send(w, "m", 1, 0));
	close(w);
	close(r);
	close(d1);
	close(d2);
	close(u);
}

/* Sends `n` descriptors with `data` over `s`. */
static long send_fds(int s, const char *data, const int *fds, int n)
{
	char ctl[CMSG_SPACE(sizeof(int) * 8)];
	memset(ctl, 0, sizeof ctl);
	struct iovec iov = { (void *)data, strlen(data) };
	struct msghdr mh;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (n > 0) {
		mh.msg_control = ctl;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	}
	return sendmsg(s, &mh, 0);
}

/* Receives into buf with a control buffer of `ctlspace` bytes; prints what
 * came and returns the first descriptor received (or -1). */
static int recv_fds(const char *label, int s, size_t ctlspace, int flags, int *all, int *count)
{
	char data[32];
	char ctl[256];
	memset(ctl, 0, sizeof ctl);
	struct iovec iov = { data, sizeof data - 1 };
	struct msghdr mh;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctlspace ? ctl : NULL;
	mh.msg_controllen = ctlspace;
	long n = recvmsg(s, &mh, flags);
	if (n < 0) {
		printf("%s = -1 %s\n", label, errname(errno));
		return -1;
	}
	data[n] = 0;
	int first = -1, nfd = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int i = 0; i < k; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
				if (first < 0)
					first = fd;
				if (all)
					all[nfd] = fd;
				nfd++;
			}
		}
	}
	printf("%s = %ld data=%s fds=%d ctrunc=%d controllen=%d\n", label, n, data, nfd,
	       !!(mh.msg_flags & MSG_CTRUNC), (int)mh.msg_controllen);
	if (count)
		*count = nfd;
	return first;
}

static void test_rights(void)
{
	printf("-- SCM_RIGHTS\n");
	int sv[2], p[2];
	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	pipe(p);
	T("send pipe write end", send_fds(sv[0], "pipe", &p[1], 1));
	int got = recv_fds("recvmsg", sv[1], 64, 0, NULL, NULL);
	check("received a new fd", got >= 0 && got != p[1]);
	printf("received F_GETFD=%d\n", fcntl(got, F_GETFD));
	T("write through it", write(got, "via fd", 6));
	char buf[16];
	T("read the pipe", read(p[0], buf, sizeof buf));
	struct stat s1, s2;
	fstat(got, &s1);
	fstat(p[1], &s2);
	check("same pipe", s1.st_ino == s2.st_ino);
	close(got);

	T("send with MSG_CMSG_CLOEXEC receiver", send_fds(sv[0], "cx", &p[1], 1));
	got = recv_fds("recvmsg CMSG_CLOEXEC", sv[1], 64, MSG_CMSG_CLOEXEC, NULL, NULL);
	printf("F_GETFD=%d\n", fcntl(got, F_GETFD));
	close(got);

	int three[3] = { p[0], p[1], sv[0] };
	T("send 3 fds", send_fds(sv[0], "three", three, 3));
	int all[8], cnt;
	got = recv_fds("recvmsg with room for 1", sv[1], CMSG_SPACE(sizeof(int)), 0, all, &cnt);
	for (int i = 0; i < cnt; i++)
		close(all[i]);
	T("send 3 fds", send_fds(sv[0], "three", three, 3));
	recv_fds("recvmsg with no control buffer", sv[1], 0, 0, NULL, NULL);
	T("send 3 fds", send_fds(sv[0], "three", three, 3));
	recv_fds("recvmsg with 12 bytes of control", sv[1], 12, 0, NULL, NULL);
	T("send 1 fd", send_fds(sv[0], "peek", &p[1], 1));
	got = recv_fds("recvmsg PEEK", sv[1], 64, MSG_PEEK, all, &cnt);
	close(got);
	got = recv_fds("recvmsg after peek", sv[1], 64, 0, all, &cnt);
	close(got);
	T("send 1 fd", send_fds(sv[0], "plainrecv", &p[1], 1));
	T("recv (fds dropped)", recv(sv[1], buf, sizeof buf, 0));

	int bad = 999;
	T("send bad fd", send_fds(sv[0], "bad", &bad, 1));
	int many[254];
	for (int i = 0; i < 254; i++)
		many[i] = p[0];
	{
		size_t space = CMSG_SPACE(sizeof many);
		char *ctl = calloc(1, space);
		struct iovec iov = { "x", 1 };
		struct msghdr mh = { 0 };
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl;
		mh.msg_controllen = space;
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof many);
		memcpy(CMSG_DATA(c), many, sizeof many);
		T("send 254 fds", SC(SYS_sendmsg, sv[0], &mh, 0));
		c->cmsg_len = CMSG_LEN(sizeof(int) * 253);
		T("send 253 fds", SC(SYS_sendmsg, sv[0], &mh, 0));
		got = recv_fds("recv 253 fds", sv[1], 0, 0, NULL, NULL);
		c->cmsg_len = 8;
		T("cmsg_len 8", SC(SYS_sendmsg, sv[0], &mh, 0));
		c->cmsg_len = space + 8;
		T("cmsg_len past the buffer", SC(SYS_sendmsg, sv[0], &mh, 0));
		c->cmsg_len = CMSG_LEN(sizeof(int));
		mh.msg_controllen = CMSG_SPACE(sizeof(int));
		c->cmsg_type = 99;
		T("unknown SOL_SOCKET type", SC(SYS_sendmsg, sv[0], &mh, 0));
		c->cmsg_level = 6;
		T("other level (ignored)", SC(SYS_sendmsg, sv[0], &mh, 0));
		T("recv it", recv(sv[1], buf, sizeof buf, 0));
		mh.msg_control = BADPTR;
		T("control BADPTR", SC(SYS_sendmsg, sv[0], &mh, 0));
		free(ctl);
	}

	printf("over a stream:\n");
	int st[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, st);
	write(st[0], "ab", 2);
	send_fds(st[0], "cd", &p[1], 1);
	write(st[0], "ef", 2);
	got = recv_fds("recvmsg stops after the fds", st[1], 64, 0, NULL, NULL);
	close(got);
	recv_fds("recvmsg rest", st[1], 64, 0, NULL, NULL);
	T("pass a socket", send_fds(st[0], "sock", &sv[0], 1));
	got = recv_fds("recv socket", st[1], 64, 0, NULL, NULL);
	T("send through the received socket", send(got, "thru", 4, 0));
	T("recv", recv(sv[1], buf, sizeof buf, 0));
	close(got);
	close(st[0]);
	close(st[1]);
	close(sv[0]);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
}

static void show_creds(const char *label, int s, int ctlspace)
{
	char data[16];
	char ctl[64];
	struct iovec iov = { data, sizeof data };
	struct msghdr mh = { 0 };
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctlspace ? ctl : NULL;
	mh.msg_controllen = ctlspace;
	long n = recvmsg(s, &mh, 0);
	if (n < 0) {
		printf("%s = -1 %s\n", label, errname(errno));
		return;
	}
	struct cmsghdr *c = ctlspace ? CMSG_FIRSTHDR(&mh) : NULL;
	if (c && c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct k_ucred))) {
		struct k_ucred u;
		memcpy(&u, CMSG_DATA(c), sizeof u);
		printf("%s = %ld creds pid=%s uid=%s gid=%s ctrunc=%d\n", label, n,
		       u.pid == getpid() ? "self" : u.pid == 0 ? "0" : "other",
		       u.uid == getuid() ? "uid" : u.uid == 65534 ? "overflow" : "other",
		       u.gid == getgid() ? "gid" : u.gid == 65534 ? "overflow" : "other",
		       !!(mh.msg_flags & MSG_CTRUNC));
	} else {
		printf("%s = %ld no creds ctrunc=%d\n", label, n, !!(mh.msg_flags & MSG_CTRUNC));
	}
}

static void test_creds(void)
{
	printf("-- SCM_CREDENTIALS\n");
	int sv[2];
	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	struct k_ucred cr;
	socklen_t l = sizeof cr;
	T("SO_PEERCRED", getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &cr, &l));
	printf("pair peercred pid=%s uid=%s gid=%s len=%d\n", cr.pid == getpid() ? "self" : "other",
	       cr.uid == geteuid() ? "euid" : "other", cr.gid == getegid() ? "egid" : "other", (int)l);
	l = 4;
	T("SO_PEERCRED len 4", getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &cr, &l));
	printf("len=%d\n", (int)l);
	send(sv[0], "before", 6, 0);
	int on = 1;
	T("SO_PASSCRED", setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on));
	printf("SO_PASSCRED=%d\n", sopt_int(sv[1], SO_PASSCRED));
	show_creds("sent before SO_PASSCRED", sv[1], 64);
	send(sv[0], "after", 5, 0);
	show_creds("sent after", sv[1], 64);
	send(sv[0], "noctl", 5, 0);
	show_creds("no control buffer", sv[1], 0);
	send(sv[0], "short", 5, 0);
	show_creds("20 bytes of control", sv[1], 20);

	struct {
		struct cmsghdr h;
		struct k_ucred u;
	} __attribute__((packed)) msg;
	char ctl[CMSG_SPACE(sizeof(struct k_ucred))];
	memset(ctl, 0, sizeof ctl);
	struct iovec iov = { "explicit", 8 };
	struct msghdr mh = { 0 };
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl;
	mh.msg_controllen = sizeof ctl;
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_CREDENTIALS;
	c->cmsg_len = CMSG_LEN(sizeof(struct k_ucred));
	struct k_ucred me = { getpid(), getuid(), getgid() };
	memcpy(CMSG_DATA(c), &me, sizeof me);
	(void)msg;
	T("sendmsg explicit creds", sendmsg(sv[0], &mh, 0));
	show_creds("explicit", sv[1], 64);
	c->cmsg_len = CMSG_LEN(sizeof(struct k_ucred)) - 1;
	T("creds cmsg_len short", sendmsg(sv[0], &mh, 0));
	c->cmsg_len = CMSG_LEN(sizeof(struct k_ucred));
	struct k_ucred inval = { getpid(), (uint32_t)-1, getgid() };
	memcpy(CMSG_DATA(c), &inval, sizeof inval);
	T("creds uid -1", sendmsg(sv[0], &mh, 0));

	pid_t child = fork();
	if (child == 0) {
		send(sv[0], "child", 5, 0);
		_exit(0);
	}
	int status;
	waitpid(child, &status, 0);
	{
		char data[16], ctlb[64];
		struct iovec riov = { data, sizeof data };
		struct msghdr rm = { 0 };
		rm.msg_iov = &riov;
		rm.msg_iovlen = 1;
		rm.msg_control = ctlb;
		rm.msg_controllen = sizeof ctlb;
		long n = recvmsg(sv[1], &rm, 0);
		struct cmsghdr *rc = CMSG_FIRSTHDR(&rm);
		struct k_ucred u = { 0 };
		if (rc)
			memcpy(&u, CMSG_DATA(rc), sizeof u);
		printf("from child = %ld pid is child's: %s\n", n, u.pid == child ? "yes" : "no");
	}
	close(sv[0]);
	close(sv[1]);

	printf("SO_PASSCRED autobinds:\n");
	int d = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un a;
	socklen_t al = path_addr(&a, "cred.sock");
	bind(d, (struct sockaddr *)&a, al);
	int u = socket(AF_UNIX, SOCK_DGRAM, 0);
	setsockopt(u, SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
	show_name("before send", u, 0);
	T("sendto", sendto(u, "x", 1, 0, (struct sockaddr *)&a, al));
	show_name("after send", u, 0);
	struct sockaddr_un from;
	socklen_t fl = sizeof from;
	char b;
	recvfrom(d, &b, 1, 0, (struct sockaddr *)&from, &fl);
	printf("receiver sees from len=%d abstract=%d\n", (int)fl, fl > 2 && from.sun_path[0] == 0);
	close(u);
	close(d);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	T("SO_PEERCRED unconnected", getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, (l = sizeof cr, &l)));
	printf("pid=%d uid=%d gid=%d\n", cr.pid, (int)cr.uid, (int)cr.gid);
	close(s);
}

static void test_options(void)
{
	printf("-- options\n");
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	int v;
	socklen_t l;
	printf("SO_SNDBUF default=%d SO_RCVBUF default=%d\n", sopt_int(s, SO_SNDBUF), sopt_int(s, SO_RCVBUF));
	v = 65536;
	T("SO_SNDBUF 65536", setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, sizeof v));
	printf("SO_SNDBUF=%d\n", sopt_int(s, SO_SNDBUF));
	v = 1;
	T("SO_SNDBUF 1", setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, sizeof v));
	printf("SO_SNDBUF=%d\n", sopt_int(s, SO_SNDBUF));
	T("SO_RCVBUF 1", setsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, sizeof v));
	printf("SO_RCVBUF=%d\n", sopt_int(s, SO_RCVBUF));
	v = 7;
	T("SO_REUSEADDR 7", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, sizeof v));
	printf("SO_REUSEADDR=%d\n", sopt_int(s, SO_REUSEADDR));
	T("SO_KEEPALIVE", setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof v));
	printf("SO_KEEPALIVE=%d SO_SNDLOWAT=%d SO_RCVLOWAT=%d\n", sopt_int(s, SO_KEEPALIVE),
	       sopt_int(s, SO_SNDLOWAT), sopt_int(s, SO_RCVLOWAT));
	T("setsockopt optlen 2", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, 2));
	T("setsockopt optlen -1", SC(SYS_setsockopt, s, SOL_SOCKET, SO_REUSEADDR, &v, -1));
	T("setsockopt BADPTR", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, BADPTR, 4));
	T("setsockopt SO_TYPE", setsockopt(s, SOL_SOCKET, SO_TYPE, &v, sizeof v));
	T("setsockopt unknown", setsockopt(s, SOL_SOCKET, 999, &v, sizeof v));
	T("setsockopt level IP", setsockopt(s, 0, 1, &v, sizeof v));
	T("getsockopt level IP", getsockopt(s, 0, 1, &v, (l = 4, &l)));
	T("getsockopt unknown", getsockopt(s, SOL_SOCKET, 999, &v, (l = 4, &l)));
	T("getsockopt len -1", getsockopt(s, SOL_SOCKET, SO_TYPE, &v, (l = (socklen_t)-1, &l)));
	T("getsockopt optlen BADPTR", SC(SYS_getsockopt, s, SOL_SOCKET, SO_TYPE, &v, BADPTR));
	T("getsockopt optval BADPTR", SC(SYS_getsockopt, s, SOL_SOCKET, SO_TYPE, BADPTR, (l = 4, &l)));
	v = 0x55555555;
	l = 2;
	T("getsockopt len 2", getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &l));
	printf("len=%d value=%#x\n", (int)l, v);
	l = 64;
	T("getsockopt len 64", getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &l));
	printf("len=%d\n", (int)l);

	struct timeval tv = { 2, 500000 };
	T("SO_RCVTIMEO 2.5s", setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
	memset(&tv, 0, sizeof tv);
	l = sizeof tv;
	getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, &l);
	printf("SO_RCVTIMEO=%ld.%06ld len=%d\n", (long)tv.tv_sec, (long)tv.tv_usec, (int)l);
	tv.tv_usec = 1000000;
	T("SO_RCVTIMEO usec 1e6", setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
	T("SO_RCVTIMEO short", setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, 8));
	l = sizeof tv;
	getsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, &l);
	printf("SO_SNDTIMEO=%ld.%06ld\n", (long)tv.tv_sec, (long)tv.tv_usec);
	struct linger lg = { 1, 5 };
	T("SO_LINGER", setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
	memset(&lg, 0, sizeof lg);
	l = sizeof lg;
	getsockopt(s, SOL_SOCKET, SO_LINGER, &lg, &l);
	printf("SO_LINGER=%d,%d len=%d\n", lg.l_onoff, lg.l_linger, (int)l);
	close(s);
}

static void test_epoll(void)
{
	printf("-- epoll\n");
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	int ep = epoll_create1(0);
	struct epoll_event e = { EPOLLIN | EPOLLOUT | EPOLLRDHUP, { .u64 = 7 } };
	T("epoll_ctl ADD socket", epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &e));
	struct epoll_event out[4];
	int n = epoll_wait(ep, out, 4, 0);
	printf("idle: n=%d ev=%s\n", n, n > 0 ? evname(out[0].events) : "-");
	e.events = EPOLLIN | EPOLLRDHUP;
	epoll_ctl(ep, EPOLL_CTL_MOD, sv[1], &e);
	n = epoll_wait(ep, out, 4, 0);
	printf("no data: n=%d\n", n);
	pid_t child = fork();
	if (child == 0) {
		usleep(20000);
		write(sv[0], "wake", 4);
		_exit(0);
	}
	n = epoll_wait(ep, out, 4, 5000);
	printf("woken by writer: n=%d ev=%s\n", n, n > 0 ? evname(out[0].events) : "-");
	waitpid(child, NULL, 0);
	char buf[8];
	read(sv[1], buf, sizeof buf);
	shutdown(sv[0], SHUT_WR);
	n = epoll_wait(ep, out, 4, 1000);
	printf("peer SHUT_WR: n=%d ev=%s\n", n, n > 0 ? evname(out[0].events) : "-");
	close(sv[0]);
	n = epoll_wait(ep, out, 4, 1000);
	printf("peer closed: n=%d ev=%s\n", n, n > 0 ? evname(out[0].events) : "-");
	close(sv[1]);
	close(ep);

	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a;
	socklen_t al = path_addr(&a, "ep.sock");
	bind(s, (struct sockaddr *)&a, al);
	listen(s, 4);
	ep = epoll_create1(0);
	e.events = EPOLLIN;
	epoll_ctl(ep, EPOLL_CTL_ADD, s, &e);
	child = fork();
	if (child == 0) {
		usleep(20000);
		int c = socket(AF_UNIX, SOCK_STREAM, 0);
		_exit(connect(c, (struct sockaddr *)&a, al) == 0 ? 0 : 1);
	}
	n = epoll_wait(ep, out, 4, 5000);
	printf("listener woken by connect: n=%d ev=%s\n", n, n > 0 ? evname(out[0].events) : "-");
	int status;
	waitpid(child, &status, 0);
	printf("child connect status=%d\n", WEXITSTATUS(status));
	close(ep);
	close(s);
}

static void test_blocking(void)
{
	printf("-- blocking\n");
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	/* A writer of 1 MiB blocks until the reader drains it. */
	size_t total = 1 << 20;
	pid_t child = fork();
	if (child == 0) {
		close(sv[0]);
		char *buf = malloc(total);
		for (size_t i = 0; i < total; i++)
			buf[i] = (char)(i * 7 + (i >> 12));
		ssize_t n = write(sv[1], buf, total);
		_exit(n == (ssize_t)total ? 0 : 1);
	}
	close(sv[1]);
	usleep(20000);
	unsigned long sum = 0;
	size_t got = 0;
	char buf[8192];
	ssize_t n;
	while ((n = read(sv[0], buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			sum = sum * 31 + (unsigned char)buf[i];
		got += (size_t)n;
	}
	int status;
	waitpid(child, &status, 0);
	unsigned long want = 0;
	for (size_t i = 0; i < total; i++)
		want = want * 31 + (unsigned char)(char)(i * 7 + (i >> 12));
	printf("1 MiB through a stream: got=%zu same=%s writer status=%d\n", got,
	       sum == want ? "yes" : "no", WEXITSTATUS(status));
	close(sv[0]);

	/* Non-blocking writes fill the buffer, then EAGAIN. */
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
	size_t filled = 0;
	while ((n = write(sv[0], buf, sizeof buf)) > 0)
		filled += (size_t)n;
	printf("nonblocking fill: %s, more than 64 KiB: %s\n", errname(errno),
	       filled > 65536 ? "yes" : "no");
	show_poll("full writer", sv[0]);
	int outq = 0;
	T("SIOCOUTQ", ioctl(sv[0], SIOCOUTQ, &outq));
	check("SIOCOUTQ > 0", outq > 0);
	size_t drained = 0;
	while ((n = read(sv[1], buf, sizeof buf)) > 0)
		drained += (size_t)n;
	check("drained all", drained == filled);
	show_poll("drained writer", sv[0]);
	close(sv[0]);
	close(sv[1]);

	/* MSG_WAITALL collects several writes. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	child = fork();
	if (child == 0) {
		for (int i = 0; i < 3; i++) {
			usleep(10000);
			write(sv[1], "abcd", 4);
		}
		_exit(0);
	}
	T("recv WAITALL 12", recv(sv[0], buf, 12, MSG_WAITALL));
	waitpid(child, NULL, 0);
	write(sv[1], "xy", 2);
	shutdown(sv[1], SHUT_WR);
	T("recv WAITALL at EOF", recv(sv[0], buf, 12, MSG_WAITALL));
	close(sv[0]);
	close(sv[1]);

	/* A blocking accept woken by a connect; a blocking connect woken by
	 * an accept. */
	struct sockaddr_un a;
	socklen_t al = path_addr(&a, "blk.sock");
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	bind(s, (struct sockaddr *)&a, al);
	listen(s, 0);
	child = fork();
	if (child == 0) {
		usleep(20000);
		int c = socket(AF_UNIX, SOCK_STREAM, 0);
		connect(c, (struct sockaddr *)&a, al);
		write(c, "hi", 2);
		int c2 = socket(AF_UNIX, SOCK_STREAM, 0);
		connect(c2, (struct sockaddr *)&a, al);
		/* The backlog is full now: this connect waits for an accept. */
		int c3 = socket(AF_UNIX, SOCK_STREAM, 0);
		int r = connect(c3, (struct sockaddr *)&a, al);
		_exit(r == 0 ? 0 : 1);
	}
	int acc = accept(s, NULL, NULL);
	check("accept woken", acc >= 0);
	T("read", read(acc, buf, sizeof buf));
	usleep(50000);
	int acc2 = accept(s, NULL, NULL);
	int acc3 = accept(s, NULL, NULL);
	waitpid(child, &status, 0);
	printf("blocked connect completed: %s (accepts %s)\n", WEXITSTATUS(status) == 0 ? "yes" : "no",
	       acc2 >= 0 && acc3 >= 0 ? "ok" : "failed");
	close(acc);
	close(acc2);
	close(acc3);
	close(s);

	/* Timeouts and signals. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	struct timeval tv = { 0, 50000 };
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	T("recv with SO_RCVTIMEO", recv(sv[0], buf, 4, 0));
	T("read with SO_RCVTIMEO", read(sv[0], buf, 4));
	tv.tv_usec = 0;
	tv.tv_sec = 0;
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, 0 }, { 0, 30000 } };
	setitimer(ITIMER_REAL, &it, NULL);
	T("recv interrupted (no SA_RESTART)", recv(sv[0], buf, 4, 0));
	printf("alarms=%d\n", alarms);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	child = fork();
	if (child == 0) {
		usleep(100000);
		write(sv[1], "late", 4);
		_exit(0);
	}
	setitimer(ITIMER_REAL, &it, NULL);
	T("recv restarted (SA_RESTART)", recv(sv[0], buf, 4, 0));
	printf("alarms=%d\n", alarms);
	waitpid(child, NULL, 0);
	tv.tv_sec = 5;
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setitimer(ITIMER_REAL, &it, NULL);
	T("recv with timeout interrupted (SA_RESTART)", recv(sv[0], buf, 4, 0));
	printf("alarms=%d\n", alarms);
	signal(SIGALRM, SIG_DFL);
	close(sv[0]);
	close(sv[1]);
}

static void test_mmsg(void)
{
	printf("-- sendmmsg and recvmmsg\n");
	int sv[2];
	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	struct mmsghdr mm[4];
	struct iovec iov[4];
	char bufs[4][16];
	const char *words[3] = { "one", "three", "fifteen" };
	memset(mm, 0, sizeof mm);
	for (int i = 0; i < 3; i++) {
		iov[i].iov_base = (void *)words[i];
		iov[i].iov_len = strlen(words[i]);
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	T("sendmmsg 3", sendmmsg(sv[0], mm, 3, 0));
	printf("msg_len=%u,%u,%u\n", mm[0].msg_len, mm[1].msg_len, mm[2].msg_len);
	T("sendmmsg 0", sendmmsg(sv[0], mm, 0, 0));
	T("sendmmsg BADPTR", SC(SYS_sendmmsg, sv[0], BADPTR, 1, 0));
	memset(mm, 0, sizeof mm);
	for (int i = 0; i < 4; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = 4;
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	T("recvmmsg 4 WAITFORONE", recvmmsg(sv[1], mm, 4, MSG_WAITFORONE, NULL));
	printf("msg_len=%u,%u,%u trunc=%d,%d,%d\n", mm[0].msg_len, mm[1].msg_len, mm[2].msg_len,
	       !!(mm[0].msg_hdr.msg_flags & MSG_TRUNC), !!(mm[1].msg_hdr.msg_flags & MSG_TRUNC),
	       !!(mm[2].msg_hdr.msg_flags & MSG_TRUNC));
	T("recvmmsg DONTWAIT empty", recvmmsg(sv[1], mm, 4, MSG_DONTWAIT, NULL));
	struct timespec bad = { 0, 2000000000L };
	T("recvmmsg bad timeout", recvmmsg(sv[1], mm, 4, 0, &bad));
	close(sv[0]);
	close(sv[1]);
}

static void test_msghdr_errors(void)
{
	printf("-- msghdr checks\n");
	int sv[2];
	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	char buf[8];
	struct iovec iov = { buf, sizeof buf };
	struct msghdr mh = { 0 };
	T("sendmsg BADPTR", SC(SYS_sendmsg, sv[0], BADPTR, 0));
	T("recvmsg BADPTR", SC(SYS_recvmsg, sv[1], BADPTR, MSG_DONTWAIT));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1025;
	T("sendmsg iovlen 1025", sendmsg(sv[0], &mh, 0));
	T("recvmsg iovlen 1025", recvmsg(sv[1], &mh, MSG_DONTWAIT));
	mh.msg_iovlen = 1;
	mh.msg_iov = BADPTR;
	T("sendmsg iov BADPTR", sendmsg(sv[0], &mh, 0));
	mh.msg_iov = &iov;
	iov.iov_base = BADPTR;
	T("sendmsg data BADPTR", sendmsg(sv[0], &mh, 0));
	iov.iov_base = buf;
	struct sockaddr_un name;
	mh.msg_name = &name;
	mh.msg_namelen = (socklen_t)-1;
	T("recvmsg namelen -1", recvmsg(sv[1], &mh, MSG_DONTWAIT));
	T("sendmsg namelen -1", sendmsg(sv[0], &mh, 0));
	mh.msg_name = NULL;
	mh.msg_namelen = 0;
	T("send empty iov", (mh.msg_iovlen = 0, sendmsg(sv[0], &mh, 0)));
	mh.msg_iovlen = 1;
	mh.msg_name = &name;
	mh.msg_namelen = sizeof name;
	T("recvmsg with name", recvmsg(sv[1], &mh, 0));
	printf("namelen=%d flags=%#x\n", (int)mh.msg_namelen, mh.msg_flags);
	send(sv[0], "x", 1, 0);
	mh.msg_control = buf;
	mh.msg_controllen = sizeof buf;
	T("recvmsg CMSG_CLOEXEC flag echoed", recvmsg(sv[1], &mh, MSG_CMSG_CLOEXEC));
	printf("flags has CMSG_CLOEXEC=%d controllen=%d\n", !!(mh.msg_flags & MSG_CMSG_CLOEXEC),
	       (int)mh.msg_controllen);
	struct sockaddr_un a;
	T("getsockname addrlen BADPTR", SC(SYS_getsockname, sv[0], &a, BADPTR));
	socklen_t l = (socklen_t)-1;
	T("getsockname addrlen -1", getsockname(sv[0], (struct sockaddr *)&a, &l));
	l = sizeof a;
	T("getsockname addr BADPTR", SC(SYS_getsockname, sv[0], BADPTR, &l));
	l = 0;
	T("getsockname len 0", getsockname(sv[0], (struct sockaddr *)&a, &l));
	printf("len=%d\n", (int)l);
	close(sv[0]);
	close(sv[1]);
}

int main(int argc, char **argv)
{
	setup(argc, argv, "unix");
	signal(SIGPIPE, on_pipe);
	test_create();
	test_notsock();
	test_stream_pair();
	test_dgram_pair();
	test_paths();
	test_abstract();
	test_dgram_addr();
	test_rights();
	test_creds();
	test_options();
	test_epoll();
	test_blocking();
	test_mmsg();
	test_msghdr_errors();
	return 0;
}
