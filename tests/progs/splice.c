/*
 * splice, tee, vmsplice and sync_file_range: argument checks in Linux's
 * order (flags, descriptors, offsets on pipes, access modes, O_APPEND,
 * bad offsets and lengths, files that cannot splice), moving data file →
 * pipe, pipe → file (with and without offsets, which move or stay), pipe
 * → pipe, tee's copy without consuming, vmsplice both ways, end of file
 * and of pipe, EAGAIN with SPLICE_F_NONBLOCK and O_NONBLOCK, EPIPE with
 * no reader, blocking splices woken by another process or interrupted by
 * a signal, the pipe's capacity as a limit, and the inotify events the
 * transfers make.
 */
#include "common.h"
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>

#ifndef SPLICE_F_MOVE
#define SPLICE_F_MOVE 1
#define SPLICE_F_NONBLOCK 2
#define SPLICE_F_MORE 4
#define SPLICE_F_GIFT 8
#endif
#ifndef SYNC_FILE_RANGE_WAIT_BEFORE
#define SYNC_FILE_RANGE_WAIT_BEFORE 1
#define SYNC_FILE_RANGE_WRITE 2
#define SYNC_FILE_RANGE_WAIT_AFTER 4
#endif

static long sp(int in, loff_t *off_in, int out, loff_t *off_out, size_t len, unsigned flags)
{
	return SC(SYS_splice, in, off_in, out, off_out, len, flags);
}

/* Reads what a pipe holds (non-destructively impossible: this drains it). */
static void show_pipe(const char *label, int rfd)
{
	char buf[256];
	int fl = (int)SC(SYS_fcntl, rfd, F_GETFL);
	SC(SYS_fcntl, rfd, F_SETFL, fl | O_NONBLOCK);
	long n = SC(SYS_read, rfd, buf, sizeof buf - 1);
	SC(SYS_fcntl, rfd, F_SETFL, fl);
	if (n < 0) {
		printf("%s: read = -1 %s\n", label, errname(errno));
		return;
	}
	buf[n] = 0;
	printf("%s: \"%s\"\n", label, buf);
}

static void show_file(const char *label, const char *path)
{
	char buf[256];
	int fd = (int)SC(SYS_open, path, O_RDONLY);
	long n = SC(SYS_read, fd, buf, sizeof buf - 1);
	SC(SYS_close, fd);
	if (n < 0)
		n = 0;
	buf[n] = 0;
	printf("%s: \"%s\"\n", label, buf);
}

static long pos(int fd)
{
	return SC(SYS_lseek, fd, 0, SEEK_CUR);
}

static void splice_checks(void)
{
	int p[2], q[2];
	pipe(p);
	pipe(q);
	make_file("src", "0123456789abcdef", 0644);
	make_file("dst", "", 0644);
	int src = (int)SC(SYS_open, "src", O_RDONLY);
	int dst = (int)SC(SYS_open, "dst", O_RDWR);
	int app = (int)SC(SYS_open, "dst", O_WRONLY | O_APPEND);
	int opath = (int)SC(SYS_open, "src", O_PATH);
	int dir = (int)SC(SYS_open, ".", O_RDONLY | O_DIRECTORY);
	int efd = (int)SC(SYS_eventfd2, 0, 0);
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	loff_t off = 0;

	T("splice(len 0, bad fds)", sp(BADFD, NULL, BADFD, NULL, 0, 0));
	T("splice(flags 0x10, bad fds)", sp(BADFD, NULL, BADFD, NULL, 1, 0x10));
	T("splice(bad in)", sp(BADFD, NULL, p[1], NULL, 1, 0));
	T("splice(bad out)", sp(src, NULL, BIGFD, NULL, 1, 0));
	T("splice(O_PATH in)", sp(opath, NULL, p[1], NULL, 1, 0));
	T("splice(file, file)", sp(src, NULL, dst, NULL, 1, 0));
	T("splice(file, file, offsets)", sp(src, &off, dst, &off, 1, 0));
	T("splice(pipe, off_in, file)", sp(p[0], &off, dst, NULL, 1, 0));
	T("splice(file, pipe, off_out)", sp(src, NULL, p[1], &off, 1, 0));
	T("splice(pipe, pipe, off_in)", sp(p[0], &off, q[1], NULL, 1, 0));
	T("splice(file, off_in BADPTR, pipe)", sp(src, BADPTR, p[1], NULL, 1, 0));
	T("splice(pipe, file, off_out BADPTR)", sp(p[0], NULL, dst, BADPTR, 1, 0));
	T("splice(pipe write end as input)", sp(p[1], NULL, dst, NULL, 1, 0));
	T("splice(file, pipe read end as output)", sp(src, NULL, p[0], NULL, 1, 0));
	T("splice(pipe, read-only file)", sp(p[0], NULL, src, NULL, 1, 0));
	T("splice(pipe, O_APPEND file)", sp(p[0], NULL, app, NULL, 1, 0));
	T("splice(pipe, same pipe)", sp(p[0], NULL, p[1], NULL, 1, 0));
	off = -1;
	T("splice(file, off_in -1, pipe)", sp(src, &off, p[1], NULL, 1, 0));
	T("splice(pipe, file, off_out -1)", sp(p[0], NULL, dst, &off, 1, 0));
	off = 0;
	T("splice(file, pipe, len SIZE_MAX)", sp(src, &off, p[1], NULL, (size_t)-1, 0));
	T("splice(directory, pipe)", sp(dir, NULL, p[1], NULL, 1, SPLICE_F_NONBLOCK));
	T("splice(pipe, eventfd)", sp(p[0], NULL, efd, NULL, 1, SPLICE_F_NONBLOCK));
	T("splice(socket, off_in, pipe)", sp(sv[0], &off, p[1], NULL, 1, 0));
	T("splice(pipe, socket, off_out)", sp(p[0], NULL, sv[0], &off, 1, 0));
	T("splice(empty pipe, file, NONBLOCK)", sp(p[0], NULL, dst, NULL, 1, SPLICE_F_NONBLOCK));
	T("splice(empty pipe, pipe, NONBLOCK)", sp(p[0], NULL, q[1], NULL, 1, SPLICE_F_NONBLOCK));

	/* file -> pipe at the file position, which moves. */
	T("lseek(src, 2)", SC(SYS_lseek, src, 2, SEEK_SET));
	T("splice(src, pipe, 5)", sp(src, NULL, p[1], NULL, 5, SPLICE_F_MOVE | SPLICE_F_MORE));
	T("src position", pos(src));
	/* file -> pipe at an explicit offset: the position stays. */
	off = 10;
	T("splice(src, &off=10, pipe, 100)", sp(src, &off, p[1], NULL, 100, 0));
	printf("off = %lld\n", (long long)off);
	T("src position", pos(src));
	off = 16;
	T("splice(src at EOF, pipe)", sp(src, &off, p[1], NULL, 10, 0));
	int n = 0;
	SC(SYS_ioctl, p[0], FIONREAD, &n);
	printf("pipe holds %d\n", n);

	/* pipe -> file, at the position, then at an offset. */
	T("splice(pipe, dst, 3)", sp(p[0], NULL, dst, NULL, 3, 0));
	T("dst position", pos(dst));
	off = 10;
	T("splice(pipe, dst, &off=10, 100)", sp(p[0], NULL, dst, &off, 100, 0));
	printf("off = %lld\n", (long long)off);
	T("dst position", pos(dst));
	show_file("dst", "dst");
	struct stat st;
	fstat(dst, &st);
	printf("dst size %lld\n", (long long)st.st_size);

	/* pipe -> pipe moves what is there, up to len. */
	SC(SYS_write, p[1], "hello world", 11);
	T("splice(pipe, pipe, 5)", sp(p[0], NULL, q[1], NULL, 5, 0));
	T("splice(pipe, pipe, 100)", sp(p[0], NULL, q[1], NULL, 100, 0));
	show_pipe("q", q[0]);
	SC(SYS_fcntl, q[1], F_SETFL, O_NONBLOCK);
	T("splice(empty pipe, O_NONBLOCK pipe)", sp(p[0], NULL, q[1], NULL, 1, 0));
	SC(SYS_fcntl, q[1], F_SETFL, 0);
	SC(SYS_fcntl, p[0], F_SETFL, O_NONBLOCK);
	T("splice(empty O_NONBLOCK pipe, file)", sp(p[0], NULL, dst, NULL, 1, 0));
	SC(SYS_fcntl, p[0], F_SETFL, 0);

	/* End of pipe: no writer left. */
	SC(SYS_close, p[1]);
	T("splice(writerless pipe, file)", sp(p[0], NULL, dst, NULL, 10, 0));
	T("splice(writerless pipe, pipe)", sp(p[0], NULL, q[1], NULL, 10, 0));
	SC(SYS_close, p[0]);

	/* No reader: EPIPE (SIGPIPE ignored). */
	signal(SIGPIPE, SIG_IGN);
	SC(SYS_close, q[0]);
	off = 0;
	T("splice(file, readerless pipe)", sp(src, &off, q[1], NULL, 4, 0));
	pipe(p);
	SC(SYS_write, p[1], "x", 1);
	T("splice(pipe, readerless pipe)", sp(p[0], NULL, q[1], NULL, 1, 0));
	T("tee(pipe, readerless pipe)", SC(SYS_tee, p[0], q[1], 1, 0));
	signal(SIGPIPE, SIG_DFL);
	SC(SYS_close, q[1]);
	SC(SYS_close, p[0]);
	SC(SYS_close, p[1]);

	/* eventfd into a pipe: EINVAL, even with room. */
	pipe(p);
	T("splice(eventfd, pipe)", sp(efd, NULL, p[1], NULL, 8, 0));

	/* The pipe's capacity bounds a splice from a file. */
	char big[100000];
	memset(big, 'z', sizeof big);
	int bf = (int)SC(SYS_open, "big", O_CREAT | O_RDWR, 0644);
	SC(SYS_write, bf, big, sizeof big);
	off = 0;
	T("splice(100000-byte file, empty pipe, 1<<40)", sp(bf, &off, p[1], NULL, 1UL << 40, 0));
	printf("off = %lld\n", (long long)off);
	T("splice(file, full pipe, NONBLOCK)", sp(bf, &off, p[1], NULL, 10, SPLICE_F_NONBLOCK));
	T("vmsplice(full pipe, NONBLOCK)", SC(SYS_vmsplice, p[1], (struct iovec[]){ { big, 10 } }, 1, SPLICE_F_NONBLOCK));
	SC(SYS_close, p[0]);
	SC(SYS_close, p[1]);
	SC(SYS_close, bf);
	SC(SYS_unlink, "big");

	SC(SYS_close, src);
	SC(SYS_close, dst);
	SC(SYS_close, app);
	SC(SYS_close, opath);
	SC(SYS_close, dir);
	SC(SYS_close, efd);
	SC(SYS_close, sv[0]);
	SC(SYS_close, sv[1]);
}

static void tee_checks(void)
{
	int p[2], q[2], r[2];
	pipe(p);
	pipe(q);
	pipe(r);
	int f = (int)SC(SYS_open, "src", O_RDONLY);
	T("tee(flags 0x10, len 0)", SC(SYS_tee, p[0], q[1], 0, 0x10));
	T("tee(len 0, bad fds)", SC(SYS_tee, BADFD, BADFD, 0, 0));
	T("tee(bad in)", SC(SYS_tee, BADFD, q[1], 1, 0));
	T("tee(bad out)", SC(SYS_tee, p[0], BIGFD, 1, 0));
	T("tee(same pipe)", SC(SYS_tee, p[0], p[1], 1, 0));
	T("tee(file, pipe)", SC(SYS_tee, f, q[1], 1, 0));
	T("tee(pipe, file)", SC(SYS_tee, p[0], f, 1, 0));
	T("tee(write end, pipe)", SC(SYS_tee, p[1], q[1], 1, 0));
	T("tee(empty pipe, pipe, NONBLOCK)", SC(SYS_tee, p[0], q[1], 1, SPLICE_F_NONBLOCK));
	SC(SYS_write, p[1], "abcdef", 6);
	T("tee(pipe, pipe, 4)", SC(SYS_tee, p[0], q[1], 4, 0));
	T("tee(pipe, pipe2, 100)", SC(SYS_tee, p[0], r[1], 100, 0));
	show_pipe("q", q[0]);
	show_pipe("r", r[0]);
	show_pipe("p (not consumed)", p[0]);
	SC(SYS_close, p[1]);
	T("tee(writerless empty pipe)", SC(SYS_tee, p[0], q[1], 1, 0));
	SC(SYS_close, p[0]);
	SC(SYS_close, q[0]);
	SC(SYS_close, q[1]);
	SC(SYS_close, r[0]);
	SC(SYS_close, r[1]);
	SC(SYS_close, f);
}

static void vmsplice_checks(void)
{
	int p[2];
	pipe(p);
	char a[] = "abc", b[] = "defgh";
	struct iovec iov[2] = { { a, 3 }, { b, 5 } };
	int f = (int)SC(SYS_open, "src", O_RDWR);
	T("vmsplice(flags 0x10)", SC(SYS_vmsplice, p[1], iov, 2, 0x10));
	T("vmsplice(bad fd)", SC(SYS_vmsplice, BADFD, iov, 2, 0));
	T("vmsplice(file)", SC(SYS_vmsplice, f, iov, 2, 0));
	T("vmsplice(iov BADPTR)", SC(SYS_vmsplice, p[1], BADPTR, 2, 0));
	T("vmsplice(1025 segments)", SC(SYS_vmsplice, p[1], iov, 1025, 0));
	T("vmsplice(0 segments)", SC(SYS_vmsplice, p[1], iov, 0, 0));
	struct iovec bad[1] = { { BADPTR, 10 } };
	T("vmsplice(unmapped buffer)", SC(SYS_vmsplice, p[1], bad, 1, 0));
	struct iovec neg[1] = { { a, (size_t)-1 } };
	T("vmsplice(negative length)", SC(SYS_vmsplice, p[1], neg, 1, 0));
	T("vmsplice(user -> pipe)", SC(SYS_vmsplice, p[1], iov, 2, SPLICE_F_GIFT));
	char out[16] = { 0 };
	struct iovec oiov[2] = { { out, 2 }, { out + 8, 4 } };
	T("vmsplice(pipe -> user)", SC(SYS_vmsplice, p[0], oiov, 2, 0));
	printf("out: %.2s %.4s\n", out, out + 8);
	T("vmsplice(pipe -> unmapped)", SC(SYS_vmsplice, p[0], bad, 1, 0));
	show_pipe("left in the pipe", p[0]);
	T("vmsplice(empty pipe -> user, NONBLOCK)", SC(SYS_vmsplice, p[0], oiov, 2, SPLICE_F_NONBLOCK));
	SC(SYS_close, p[1]);
	T("vmsplice(writerless pipe -> user)", SC(SYS_vmsplice, p[0], oiov, 2, 0));
	SC(SYS_close, p[0]);
	SC(SYS_close, f);
}

static void sfr_checks(void)
{
	int f = (int)SC(SYS_open, "src", O_RDWR);
	int d = (int)SC(SYS_open, ".", O_RDONLY | O_DIRECTORY);
	int op = (int)SC(SYS_open, "src", O_PATH);
	int p[2];
	pipe(p);
	int all = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
	T("sync_file_range(file, 0, 0, all)", SC(SYS_sync_file_range, f, 0L, 0L, all));
	T("sync_file_range(file, 4096, 100, WRITE)", SC(SYS_sync_file_range, f, 4096L, 100L, SYNC_FILE_RANGE_WRITE));
	T("sync_file_range(file, flags 8)", SC(SYS_sync_file_range, f, 0L, 0L, 8));
	T("sync_file_range(bad fd, flags 8)", SC(SYS_sync_file_range, BADFD, 0L, 0L, 8));
	T("sync_file_range(O_PATH)", SC(SYS_sync_file_range, op, 0L, 0L, 0));
	T("sync_file_range(offset -1)", SC(SYS_sync_file_range, f, -1L, 0L, 0));
	T("sync_file_range(nbytes -1)", SC(SYS_sync_file_range, f, 0L, -1L, 0));
	T("sync_file_range(end past LLONG_MAX)", SC(SYS_sync_file_range, f, 1L, 0x7fffffffffffffffL, 0));
	T("sync_file_range(end LLONG_MAX)", SC(SYS_sync_file_range, f, 0L, 0x7fffffffffffffffL, 0));
	T("sync_file_range(directory)", SC(SYS_sync_file_range, d, 0L, 0L, SYNC_FILE_RANGE_WRITE));
	T("sync_file_range(pipe)", SC(SYS_sync_file_range, p[0], 0L, 0L, 0));
	T("sync_file_range(pipe, offset -1)", SC(SYS_sync_file_range, p[0], -1L, 0L, 0));
	SC(SYS_close, f);
	SC(SYS_close, d);
	SC(SYS_close, op);
	SC(SYS_close, p[0]);
	SC(SYS_close, p[1]);
}

static void on_alarm(int sig)
{
	(void)sig;
}

static void blocking(void)
{
	int p[2], q[2];
	pipe(p);
	pipe(q);
	make_file("out", "", 0644);
	int out = (int)SC(SYS_open, "out", O_WRONLY);
	pid_t pid = fork();
	if (pid == 0) {
		usleep(100000);
		SC(SYS_write, p[1], "late data", 9);
		_exit(0);
	}
	T("splice(empty pipe, file) woken by a writer", sp(p[0], NULL, out, NULL, 100, 0));
	int st;
	waitpid(pid, &st, 0);
	show_file("out", "out");

	pid = fork();
	if (pid == 0) {
		usleep(100000);
		SC(SYS_write, p[1], "more", 4);
		_exit(0);
	}
	T("splice(empty pipe, pipe) woken by a writer", sp(p[0], NULL, q[1], NULL, 100, 0));
	waitpid(pid, &st, 0);
	pid = fork();
	if (pid == 0) {
		usleep(100000);
		SC(SYS_write, p[1], "teed", 4);
		_exit(0);
	}
	T("tee(empty pipe, pipe) woken by a writer", SC(SYS_tee, p[0], q[1], 100, 0));
	waitpid(pid, &st, 0);
	show_pipe("q", q[0]);
	show_pipe("p", p[0]);

	pid = fork();
	if (pid == 0) {
		usleep(100000);
		SC(SYS_write, p[1], "vm", 2);
		_exit(0);
	}
	char buf[8] = { 0 };
	T("vmsplice(empty pipe -> user) woken by a writer", SC(SYS_vmsplice, p[0], (struct iovec[]){ { buf, 8 } }, 1, 0));
	waitpid(pid, &st, 0);
	printf("buf: %s\n", buf);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, 0 }, { 0, 100000 } };
	setitimer(ITIMER_REAL, &it, NULL);
	T("splice(empty pipe, file) interrupted", sp(p[0], NULL, out, NULL, 100, 0));
	setitimer(ITIMER_REAL, &it, NULL);
	T("tee(empty pipe, pipe) interrupted", SC(SYS_tee, p[0], q[1], 100, 0));
	/* vmsplice ignores the pipe's O_NONBLOCK: it waits. */
	SC(SYS_fcntl, p[0], F_SETFL, O_NONBLOCK);
	setitimer(ITIMER_REAL, &it, NULL);
	T("vmsplice(empty O_NONBLOCK pipe -> user) interrupted", SC(SYS_vmsplice, p[0], (struct iovec[]){ { buf, 8 } }, 1, 0));
	SC(SYS_fcntl, p[0], F_SETFL, 0);

	/* A file -> full pipe splice waits for room. */
	char big[65536];
	memset(big, 'y', sizeof big);
	SC(SYS_write, q[1], big, sizeof big);
	pid = fork();
	if (pid == 0) {
		usleep(100000);
		/* A whole page: Linux counts a pipe's room in pages. */
		char sink[4096];
		SC(SYS_read, q[0], sink, sizeof sink);
		_exit(0);
	}
	int src = (int)SC(SYS_open, "src", O_RDONLY);
	T("splice(file, full pipe) woken by a reader", sp(src, NULL, q[1], NULL, 50, 0));
	waitpid(pid, &st, 0);
	/* A fresh full pipe (whole pages: the same in every model). */
	SC(SYS_close, q[0]);
	SC(SYS_close, q[1]);
	pipe(q);
	SC(SYS_write, q[1], big, sizeof big);
	SC(SYS_lseek, src, 0, SEEK_SET);
	setitimer(ITIMER_REAL, &it, NULL);
	T("splice(file, full pipe) interrupted", sp(src, NULL, q[1], NULL, 50000, 0));
	setitimer(ITIMER_REAL, &it, NULL);
	T("vmsplice(user -> full pipe) interrupted", SC(SYS_vmsplice, q[1], (struct iovec[]){ { big, 100 } }, 1, 0));
	SC(SYS_close, src);
	SC(SYS_close, out);
	SC(SYS_close, p[0]);
	SC(SYS_close, p[1]);
	SC(SYS_close, q[0]);
	SC(SYS_close, q[1]);
}

static void drain_events(int fd, const char *label)
{
	char buf[1024] __attribute__((aligned(8)));
	printf("%s:", label);
	long n;
	while ((n = read(fd, buf, sizeof buf)) > 0) {
		for (long off = 0; off < n;) {
			struct inotify_event *e = (void *)(buf + off);
			printf(" %s%s", e->mask & IN_ACCESS ? "ACCESS" : e->mask & IN_MODIFY ? "MODIFY" : "OTHER",
			       e->len ? "(dir)" : "");
			off += sizeof *e + e->len;
		}
	}
	printf("\n");
}

/* Transfers make IN_ACCESS on the source and IN_MODIFY on the target. */
static void events(void)
{
	int in = (int)SC(SYS_inotify_init1, IN_NONBLOCK);
	make_file("ev", "eventdata", 0644);
	SC(SYS_inotify_add_watch, in, "ev", IN_ACCESS | IN_MODIFY);
	int f = (int)SC(SYS_open, "ev", O_RDWR);
	int p[2];
	pipe(p);
	loff_t off = 0;
	T("splice(ev, pipe)", sp(f, &off, p[1], NULL, 4, 0));
	drain_events(in, "file -> pipe");
	T("splice(pipe, ev)", sp(p[0], NULL, f, NULL, 4, 0));
	drain_events(in, "pipe -> file");
	make_file("other", "otherdata", 0644);
	int o = (int)SC(SYS_open, "other", O_RDWR);
	off = 0;
	T("sendfile(other, ev)", SC(SYS_sendfile, o, f, &off, 3));
	drain_events(in, "sendfile from ev");
	off = 0;
	T("sendfile(ev, other)", SC(SYS_sendfile, f, o, &off, 3));
	drain_events(in, "sendfile to ev");
	loff_t o1 = 0, o2 = 0;
	T("copy_file_range(ev, other)", SC(SYS_copy_file_range, f, &o1, o, &o2, 3, 0));
	drain_events(in, "copy_file_range from ev");
	SC(SYS_close, o);
	SC(SYS_close, f);
	SC(SYS_close, p[0]);
	SC(SYS_close, p[1]);
	SC(SYS_close, in);
	SC(SYS_unlink, "ev");
	SC(SYS_unlink, "other");
}

/* sendfile into a pipe: a full pipe makes it wait (or EAGAIN). */
static void sendfile_pipe(void)
{
	int p[2];
	pipe(p);
	int f = (int)SC(SYS_open, "src", O_RDONLY);
	char big[65536];
	memset(big, 'w', sizeof big);
	int q[2];
	pipe(q);
	int efd = (int)SC(SYS_eventfd2, 0, 0);
	int rw = (int)SC(SYS_open, "dst", O_RDWR);
	SC(SYS_write, q[1], "abc", 3);
	T("sendfile(file, pipe) (a pipe cannot be the source)", SC(SYS_sendfile, rw, q[0], NULL, 3));
	T("sendfile(pipe, pipe)", SC(SYS_sendfile, p[1], q[0], NULL, 3));
	T("sendfile(pipe, eventfd)", SC(SYS_sendfile, p[1], efd, NULL, 3));
	T("sendfile(eventfd, file)", SC(SYS_sendfile, efd, f, NULL, 3));
	T("sendfile(pipe, file)", SC(SYS_sendfile, p[1], f, NULL, 3));
	show_pipe("p", p[0]);
	SC(SYS_close, q[0]);
	SC(SYS_close, q[1]);
	SC(SYS_close, efd);
	SC(SYS_close, rw);
	SC(SYS_write, p[1], big, sizeof big);
	loff_t off = 0;
	SC(SYS_fcntl, p[1], F_SETFL, O_NONBLOCK);
	T("sendfile(full O_NONBLOCK pipe)", SC(SYS_sendfile, p[1], f, &off, 16));
	SC(SYS_fcntl, p[1], F_SETFL, 0);
	pid_t pid = fork();
	if (pid == 0) {
		usleep(100000);
		SC(SYS_read, p[0], big, 4096);
		_exit(0);
	}
	T("sendfile(full pipe) woken by a reader", SC(SYS_sendfile, p[1], f, &off, 16));
	printf("off = %lld\n", (long long)off);
	int st;
	waitpid(pid, &st, 0);
	SC(SYS_close, f);
	SC(SYS_close, p[0]);
	SC(SYS_close, p[1]);
}

int main(int argc, char **argv)
{
	setup(argc, argv, "splice");
	splice_checks();
	tee_checks();
	vmsplice_checks();
	sfr_checks();
	blocking();
	events();
	sendfile_pipe();
	return 0;
}
