/*
 * Pipe capacity in page buffers, as Linux's fs/pipe.c: a pipe holds up
 * to F_GETPIPE_SZ / 4096 buffers of a page; a write adds its last
 * len % 4096 bytes to the newest buffer if they fit there, then takes
 * new buffers while slots are free; a partly read buffer keeps its slot.
 * PIPE_BUF writes go in whole or not at all; larger non-blocking writes
 * go in partly. Packet mode (O_DIRECT, from pipe2 or F_SETFL): every
 * write makes buffers of its own, a read takes at most one and drops the
 * rest. F_SETPIPE_SZ rounds up to a power of two pages, refuses to shrink
 * below the buffers held (EBUSY) and, unprivileged, to grow past
 * /proc/sys/fs/pipe-max-size (EPERM). FIONREAD counts the bytes held;
 * POLLOUT means a free slot. vmsplice, splice and tee make buffers that
 * writes do not merge into. A blocking write larger than the pipe
 * completes as a reader drains it.
 */
#include "common.h"
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>

#ifndef F_SETPIPE_SZ
#define F_SETPIPE_SZ 1031
#define F_GETPIPE_SZ 1032
#endif
#ifndef O_DIRECT
#define O_DIRECT 040000
#endif
#ifndef SPLICE_F_NONBLOCK
#define SPLICE_F_NONBLOCK 2
#endif

static char big[1 << 20];
static char got[1 << 20];

static void mkpipe(int p[2], int flags)
{
	if (SC(SYS_pipe2, p, flags | O_NONBLOCK) != 0) {
		perror("pipe2");
		exit(2);
	}
}

static void closep(int p[2])
{
	SC(SYS_close, p[0]);
	SC(SYS_close, p[1]);
}

static long wr(int fd, long n)
{
	return SC(SYS_write, fd, big, n);
}

static long rd(int fd, long n)
{
	return SC(SYS_read, fd, got, n);
}

static int fionread(int fd)
{
	int n = -1;
	SC(SYS_ioctl, fd, FIONREAD, &n);
	return n;
}

/* Writes n-byte pieces until EAGAIN: how many went in. */
static long fill(int fd, long n)
{
	long k = 0;
	while (wr(fd, n) == n)
		k++;
	return k;
}

static int pollout(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	SC(SYS_poll, &p, 1, 0);
	return (p.revents & POLLOUT) != 0;
}

static void slots(void)
{
	int p[2];
	mkpipe(p, 0);
	T("F_GETPIPE_SZ", SC(SYS_fcntl, p[1], F_GETPIPE_SZ));
	printf("page writes that fit = %ld\n", fill(p[1], 4096));
	T("write 1 to a full pipe", wr(p[1], 1));
	T("read 1", rd(p[0], 1));
	T("FIONREAD", fionread(p[0]));
	T("write 1 (the partly read buffer keeps its slot)", wr(p[1], 1));
	check("POLLOUT with 65535 bytes", pollout(p[1]));
	T("read the rest of the first buffer", rd(p[0], 4095));
	check("POLLOUT with a free slot", pollout(p[1]));
	T("write 1 (a new buffer)", wr(p[1], 1));
	T("write 4095 (merged into it)", wr(p[1], 4095));
	T("write 1 again", wr(p[1], 1));
	T("read everything", rd(p[0], 1 << 20));
	closep(p);

	mkpipe(p, 0);
	printf("1-byte writes that fit = %ld\n", fill(p[1], 1));
	T("FIONREAD", fionread(p[0]));
	closep(p);

	mkpipe(p, 0);
	T("write 100", wr(p[1], 100));
	printf("then page writes that fit = %ld\n", fill(p[1], 4096));
	T("write 3996 (the first page is not the newest)", wr(p[1], 3996));
	T("FIONREAD", fionread(p[0]));
	closep(p);

	mkpipe(p, 0);
	T("write 4097 to an empty pipe", wr(p[1], 4097));
	T("write 4095 (merged into the second buffer)", wr(p[1], 4095));
	T("write 4097 (its 1 byte does not merge: the page is full)", wr(p[1], 4097));
	T("write 5000", wr(p[1], 5000));
	printf("then 1000-byte writes that fit = %ld\n", fill(p[1], 1000));
	T("FIONREAD", fionread(p[0]));
	closep(p);

	mkpipe(p, 0);
	T("write 100000 to an empty pipe", wr(p[1], 100000));
	T("read 1", rd(p[0], 1));
	T("write 100000 (no free slot)", wr(p[1], 100000));
	T("read 8191", rd(p[0], 8191));
	T("write 100000 (two slots)", wr(p[1], 100000));
	T("read 10", rd(p[0], 10));
	T("write 4106 (10 bytes do not merge into a full page)", wr(p[1], 4106));
	closep(p);

	/* PIPE_BUF atomicity with a newest buffer nearly full. */
	mkpipe(p, 0);
	for (int i = 0; i < 15; i++)
		wr(p[1], 4096);
	T("write 4000 (the sixteenth buffer)", wr(p[1], 4000));
	T("write 200 (does not fit the page, no slot)", wr(p[1], 200));
	T("write 96 (fits)", wr(p[1], 96));
	T("write 4097 (not atomic, nothing fits)", wr(p[1], 4097));
	closep(p);
}

static void packets(void)
{
	int p[2];
	mkpipe(p, O_DIRECT);
	check("O_DIRECT in F_GETFL", (SC(SYS_fcntl, p[1], F_GETFL) & O_DIRECT) != 0);
	T("write abc", SC(SYS_write, p[1], "abc", 3));
	T("write defgh", SC(SYS_write, p[1], "defgh", 5));
	T("FIONREAD", fionread(p[0]));
	memset(got, 0, 16);
	T("read 100 (one packet)", rd(p[0], 100));
	printf("got \"%s\"\n", got);
	memset(got, 0, 16);
	T("read 2 (the rest is dropped)", rd(p[0], 2));
	printf("got \"%s\"\n", got);
	T("read again", rd(p[0], 100));
	T("write 5000", wr(p[1], 5000));
	T("read 8192", rd(p[0], 8192));
	T("read 8192", rd(p[0], 8192));
	printf("1-byte packets that fit = %ld\n", fill(p[1], 1));
	T("FIONREAD", fionread(p[0]));
	{
		struct iovec v[2] = {{got, 1}, {got + 100, 100}};
		T("readv 1+100", SC(SYS_readv, p[0], v, 2));
	}
	closep(p);

	/* Packet mode is the writer's, at each write (F_SETFL). */
	mkpipe(p, 0);
	T("write ab", SC(SYS_write, p[1], "ab", 2));
	T("F_SETFL O_DIRECT", SC(SYS_fcntl, p[1], F_SETFL, O_NONBLOCK | O_DIRECT));
	T("write cd (merges into a plain buffer)", SC(SYS_write, p[1], "cd", 2));
	T("write ef", SC(SYS_write, p[1], "ef", 2));
	T("write gh", SC(SYS_write, p[1], "gh", 2));
	T("F_SETFL back", SC(SYS_fcntl, p[1], F_SETFL, O_NONBLOCK));
	T("write ij (does not merge into a packet)", SC(SYS_write, p[1], "ij", 2));
	T("write kl", SC(SYS_write, p[1], "kl", 2));
	for (int i = 0; i < 5; i++) {
		memset(got, 0, 16);
		long n = rd(p[0], 1 + 2 * i);
		printf("read %d = %ld \"%s\"\n", 1 + 2 * i, n, n > 0 ? got : "");
	}
	closep(p);
}

static void sizes(void)
{
	int p[2];
	mkpipe(p, 0);
	T("F_SETPIPE_SZ 0", SC(SYS_fcntl, p[1], F_SETPIPE_SZ, 0));
	T("write 4096", wr(p[1], 4096));
	T("write 1", wr(p[1], 1));
	T("F_SETPIPE_SZ 5000", SC(SYS_fcntl, p[1], F_SETPIPE_SZ, 5000));
	T("F_GETPIPE_SZ", SC(SYS_fcntl, p[0], F_GETPIPE_SZ));
	T("write 1 (a new buffer)", wr(p[1], 1));
	T("write 4096", wr(p[1], 4096));
	T("F_SETPIPE_SZ 4096 with two buffers", SC(SYS_fcntl, p[1], F_SETPIPE_SZ, 4096));
	T("read 4096", rd(p[0], 4096));
	T("F_SETPIPE_SZ 4096 with one buffer", SC(SYS_fcntl, p[1], F_SETPIPE_SZ, 4096));
	T("read 1", rd(p[0], 1));
	T("F_SETPIPE_SZ 4096 when empty", SC(SYS_fcntl, p[1], F_SETPIPE_SZ, 4096));
	T("F_SETPIPE_SZ 3 pages", SC(SYS_fcntl, p[1], F_SETPIPE_SZ, 3 * 4096));
	T("F_SETPIPE_SZ 2^31+1", SC(SYS_fcntl, p[1], F_SETPIPE_SZ, (1u << 31) + 1));
	T("F_SETPIPE_SZ 1 MiB", SC(SYS_fcntl, p[1], F_SETPIPE_SZ, 1 << 20));
	printf("page writes that fit = %ld\n", fill(p[1], 4096));
	closep(p);

	/* Unprivileged: pipe-max-size bounds growing, not shrinking. */
	char max[32] = "";
	int fd = (int)SC(SYS_open, "/proc/sys/fs/pipe-max-size", O_RDONLY);
	long n = fd >= 0 ? SC(SYS_read, fd, max, sizeof max - 1) : -1;
	SC(SYS_close, fd);
	printf("pipe-max-size = %s", n > 0 ? max : "?\n");
	pid_t c = fork();
	if (c == 0) {
		if (SC(SYS_setresuid, 65534, 65534, 65534) != 0)
			_exit(3);
		mkpipe(p, 0);
		T("unprivileged F_SETPIPE_SZ 1 MiB", SC(SYS_fcntl, p[1], F_SETPIPE_SZ, 1 << 20));
		T("unprivileged F_SETPIPE_SZ 2 MiB", SC(SYS_fcntl, p[1], F_SETPIPE_SZ, 2 << 20));
		T("unprivileged F_SETPIPE_SZ 8192", SC(SYS_fcntl, p[1], F_SETPIPE_SZ, 8192));
		_exit(0);
	}
	int st;
	waitpid(c, &st, 0);
	printf("child status %d\n", WEXITSTATUS(st));
}

static void splices(void)
{
	int p[2], q[2];
	/* vmsplice makes buffers that writes do not merge into. */
	mkpipe(p, 0);
	struct iovec v = {big, 1};
	long k = 0;
	while (SC(SYS_vmsplice, p[1], &v, 1, SPLICE_F_NONBLOCK) == 1)
		k++;
	printf("1-byte vmsplices that fit = %ld\n", k);
	T("write 1", wr(p[1], 1));
	T("read 1", rd(p[0], 1));
	T("write 1", wr(p[1], 1));
	T("write 1", wr(p[1], 1));
	closep(p);

	/* tee copies buffers (without merging), splice moves them. */
	mkpipe(p, 0);
	mkpipe(q, 0);
	wr(p[1], 10);
	wr(p[1], 4096);
	T("tee 100", SC(SYS_tee, p[0], q[1], 100, SPLICE_F_NONBLOCK));
	T("write 1 to the tee's output", wr(q[1], 1));
	printf("then page writes that fit = %ld\n", fill(q[1], 4096));
	T("read 5 from the input", rd(p[0], 5));
	closep(q);
	mkpipe(q, 0);
	T("splice 7 (splits a buffer)", SC(SYS_splice, p[0], NULL, q[1], NULL, 7, SPLICE_F_NONBLOCK));
	T("write 1 (no merge into a split part)", wr(q[1], 1));
	T("splice 4096 (moves the rest and most of the next)",
	  SC(SYS_splice, p[0], NULL, q[1], NULL, 4096, SPLICE_F_NONBLOCK));
	T("FIONREAD in", fionread(p[0]));
	T("FIONREAD out", fionread(q[0]));
	closep(p);
	closep(q);

	/* splice from a file into a pipe: buffers of their own. */
	int fd = (int)SC(SYS_open, "f", O_RDWR | O_CREAT | O_TRUNC, 0600);
	SC(SYS_write, fd, big, 100);
	mkpipe(p, 0);
	k = 0;
	loff_t off = 0;
	while (SC(SYS_splice, fd, &off, p[1], NULL, 1, SPLICE_F_NONBLOCK) == 1)
		k++;
	printf("1-byte file splices that fit = %ld\n", k);
	T("write 1", wr(p[1], 1));
	closep(p);
	SC(SYS_close, fd);
	SC(SYS_unlink, "f");
}

/* A blocking write of more than the pipe holds completes as a child
 * reads it, in order. */
static void blocking(void)
{
	int p[2];
	if (SC(SYS_pipe2, p, 0) != 0)
		exit(2);
	for (int i = 0; i < (int)sizeof big; i++)
		big[i] = (char)(i * 7 + i / 4096);
	pid_t c = fork();
	if (c == 0) {
		SC(SYS_close, p[1]);
		long total = 0, n;
		int ok = 1;
		while ((n = SC(SYS_read, p[0], got, 3000)) > 0) {
			for (long i = 0; i < n; i++)
				ok &= got[i] == big[total + i];
			total += n;
		}
		printf("child read %ld bytes, in order: %s\n", total, ok ? "yes" : "no");
		_exit(0);
	}
	SC(SYS_close, p[0]);
	T("blocking write 1 MiB", SC(SYS_write, p[1], big, sizeof big));
	SC(SYS_close, p[1]);
	int st;
	waitpid(c, &st, 0);
	/* Packets through a blocking pipe keep their boundaries. */
	if (SC(SYS_pipe2, p, O_DIRECT) != 0)
		exit(2);
	c = fork();
	if (c == 0) {
		SC(SYS_close, p[1]);
		long n, count = 0, sum = 0;
		while ((n = SC(SYS_read, p[0], got, 65536)) > 0) {
			count++;
			sum += n;
		}
		printf("child read %ld packets, %ld bytes\n", count, sum);
		_exit(0);
	}
	SC(SYS_close, p[0]);
	for (int i = 1; i <= 100; i++)
		SC(SYS_write, p[1], big, i * 10);
	SC(SYS_close, p[1]);
	waitpid(c, &st, 0);
}

int main(int argc, char **argv)
{
	setup(argc, argv, "pipebufs");
	slots();
	packets();
	sizes();
	splices();
	blocking();
	return 0;
}
