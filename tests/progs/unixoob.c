/*
 * MSG_OOB on unix stream sockets (Linux 5.15+): send(MSG_OOB) sends its
 * last byte as the out-of-band byte (a newer one makes the older plain
 * data); recv(MSG_OOB) takes it (MSG_OOB in msg_flags), EINVAL when there
 * is none or with SO_OOBINLINE; the mark splits plain reads, which skip
 * an out-of-band byte not taken (or read it inline with SO_OOBINLINE);
 * SIOCATMARK tells whether the next read is at the mark; poll reports
 * POLLPRI while a byte waits; the receiver's owner (F_SETOWN) gets
 * SIGURG. Datagram and seqpacket sockets answer EOPNOTSUPP.
 */
#include "common.h"
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#ifndef SIOCATMARK
#define SIOCATMARK 0x8905
#endif

static volatile int urgs;

static void on_urg(int sig)
{
	(void)sig;
	urgs++;
}

static void pair(int type, int s[2])
{
	if (SC(SYS_socketpair, AF_UNIX, type | SOCK_NONBLOCK, 0, s) != 0) {
		perror("socketpair");
		exit(2);
	}
}

static void snd(const char *label, int fd, const char *data, int flags)
{
	char l[128];
	snprintf(l, sizeof l, "send \"%s\"%s (%s)", data, flags & MSG_OOB ? " OOB" : "", label);
	report(l, SC(SYS_sendto, fd, data, strlen(data), flags, NULL, 0));
}

/* recvmsg with flags: prints the bytes and whether MSG_OOB came back. */
static void rcv(const char *label, int fd, int len, int flags)
{
	char buf[64] = "";
	struct iovec iov = {buf, (size_t)len};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	long n = SC(SYS_recvmsg, fd, &m, flags);
	if (n < 0) {
		printf("recv %s = -1 %s\n", label, errname(errno));
		return;
	}
	buf[n] = 0;
	printf("recv %s = %ld \"%s\"%s\n", label, n, buf, m.msg_flags & MSG_OOB ? " MSG_OOB" : "");
}

static void state(int fd)
{
	int mark = -1, inq = -1;
	SC(SYS_ioctl, fd, SIOCATMARK, &mark);
	SC(SYS_ioctl, fd, FIONREAD, &inq);
	struct pollfd p = {.fd = fd, .events = POLLIN | POLLPRI};
	SC(SYS_poll, &p, 1, 0);
	printf("  atmark=%d fionread=%d pollin=%d pollpri=%d\n", mark, inq,
	       !!(p.revents & POLLIN), !!(p.revents & POLLPRI));
}

static void basics(void)
{
	int s[2];
	pair(SOCK_STREAM, s);
	rcv("OOB on an empty socket", s[1], 10, MSG_OOB);
	state(s[1]);
	snd("its last byte is out of band", s[0], "abc", MSG_OOB);
	state(s[1]);
	rcv("OOB|PEEK", s[1], 10, MSG_OOB | MSG_PEEK);
	rcv("OOB", s[1], 10, MSG_OOB);
	state(s[1]);
	rcv("OOB again", s[1], 10, MSG_OOB);
	rcv("plain", s[1], 10, 0);
	state(s[1]);
	rcv("plain again", s[1], 10, 0);
	state(s[1]);
	SC(SYS_close, s[0]);
	SC(SYS_close, s[1]);

	/* The mark splits plain reads; a byte not taken is skipped. */
	pair(SOCK_STREAM, s);
	snd("", s[0], "ab", 0);
	snd("", s[0], "c", MSG_OOB);
	snd("", s[0], "de", 0);
	state(s[1]);
	rcv("PEEK", s[1], 10, MSG_PEEK);
	rcv("plain", s[1], 10, 0);
	state(s[1]);
	rcv("PEEK at the mark", s[1], 10, MSG_PEEK);
	rcv("plain at the mark", s[1], 10, 0);
	state(s[1]);
	rcv("OOB after it was skipped", s[1], 10, MSG_OOB);
	SC(SYS_close, s[0]);
	SC(SYS_close, s[1]);

	/* Taken out of band, its place still splits reads. */
	pair(SOCK_STREAM, s);
	snd("", s[0], "ab", 0);
	snd("", s[0], "c", MSG_OOB);
	rcv("OOB", s[1], 10, MSG_OOB);
	snd("", s[0], "de", 0);
	state(s[1]);
	rcv("plain", s[1], 10, 0);
	state(s[1]);
	rcv("plain", s[1], 10, 0);
	state(s[1]);
	SC(SYS_close, s[0]);
	SC(SYS_close, s[1]);

	/* A newer out-of-band byte makes the older one plain data. */
	pair(SOCK_STREAM, s);
	snd("", s[0], "x", MSG_OOB);
	snd("", s[0], "y", MSG_OOB);
	snd("", s[0], "z", 0);
	state(s[1]);
	rcv("OOB", s[1], 10, MSG_OOB);
	rcv("plain", s[1], 10, 0);
	rcv("plain", s[1], 10, 0);
	rcv("plain", s[1], 10, 0);
	SC(SYS_close, s[0]);
	SC(SYS_close, s[1]);

	/* A short read before the mark. */
	pair(SOCK_STREAM, s);
	snd("", s[0], "hello", MSG_OOB);
	rcv("plain 2", s[1], 2, 0);
	state(s[1]);
	rcv("plain 10", s[1], 10, 0);
	state(s[1]);
	rcv("OOB", s[1], 10, MSG_OOB);
	state(s[1]);
	SC(SYS_close, s[0]);
	rcv("plain after the writer closed", s[1], 10, 0);
	SC(SYS_close, s[1]);
}

static void inline_mode(void)
{
	int s[2], one = 1;
	pair(SOCK_STREAM, s);
	T("SO_OOBINLINE", SC(SYS_setsockopt, s[1], SOL_SOCKET, SO_OOBINLINE, &one, sizeof one));
	snd("", s[0], "ab", 0);
	snd("", s[0], "c", MSG_OOB);
	snd("", s[0], "de", 0);
	state(s[1]);
	rcv("OOB inline", s[1], 10, MSG_OOB);
	rcv("plain", s[1], 10, 0);
	state(s[1]);
	rcv("PEEK", s[1], 10, MSG_PEEK);
	rcv("plain", s[1], 10, 0);
	state(s[1]);
	SC(SYS_close, s[0]);
	SC(SYS_close, s[1]);
}

static void others(void)
{
	int s[2];
	pair(SOCK_STREAM, s);
	snd("empty", s[0], "", MSG_OOB);
	SC(SYS_shutdown, s[1], SHUT_RD);
	snd("peer shut for reading", s[0], "q", MSG_OOB | MSG_NOSIGNAL);
	SC(SYS_close, s[0]);
	SC(SYS_close, s[1]);
	int types[2] = {SOCK_DGRAM, SOCK_SEQPACKET};
	for (int i = 0; i < 2; i++) {
		pair(types[i], s);
		snd(i ? "seqpacket" : "dgram", s[0], "q", MSG_OOB);
		SC(SYS_sendto, s[0], "w", 1, 0, NULL, 0);
		rcv(i ? "OOB seqpacket" : "OOB dgram", s[1], 10, MSG_OOB);
		int mark = -1;
		T("SIOCATMARK", SC(SYS_ioctl, s[1], SIOCATMARK, &mark));
		SC(SYS_close, s[0]);
		SC(SYS_close, s[1]);
	}
}

static void sigurg(void)
{
	struct sigaction sa = {.sa_handler = on_urg};
	sigaction(SIGURG, &sa, NULL);
	int s[2];
	pair(SOCK_STREAM, s);
	snd("no owner", s[0], "a", MSG_OOB);
	printf("SIGURGs: %d\n", urgs);
	T("F_SETOWN", SC(SYS_fcntl, s[1], F_SETOWN, getpid()));
	snd("owner set", s[0], "b", MSG_OOB);
	snd("plain", s[0], "c", 0);
	printf("SIGURGs: %d\n", urgs);
	T("F_SETOWN on the sender", SC(SYS_fcntl, s[0], F_SETOWN, getpid()));
	snd("back", s[1], "d", MSG_OOB);
	printf("SIGURGs: %d\n", urgs);
	SC(SYS_close, s[0]);
	SC(SYS_close, s[1]);
}

int main(int argc, char **argv)
{
	setup(argc, argv, "unixoob");
	basics();
	inline_mode();
	others();
	sigurg();
	return 0;
}
