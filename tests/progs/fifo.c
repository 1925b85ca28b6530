/*
 * FIFOs (named pipes): what open waits for, O_NONBLOCK opens, the pipe
 * shared by every opener, its end when the last opener goes, pipe sizes.
 */
#include "common.h"
#include <poll.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#ifndef F_SETPIPE_SZ
#define F_SETPIPE_SZ 1031
#define F_GETPIPE_SZ 1032
#endif

static void show_poll(const char *label, int fd, short events)
{
	struct pollfd p = {fd, events, 0};
	int r = poll(&p, 1, 0);
	printf("%s: poll=%d revents=%s%s%s%s\n", label, r, p.revents & POLLIN ? "IN " : "",
	       p.revents & POLLOUT ? "OUT " : "", p.revents & POLLHUP ? "HUP " : "",
	       p.revents & POLLERR ? "ERR" : "");
}

static void nonblocking(void)
{
	printf("-- O_NONBLOCK opens\n");
	char b[16];
	T("mkfifo", mkfifo("f", 0644));
	T("O_WRONLY|O_NONBLOCK, no reader", open("f", O_WRONLY | O_NONBLOCK));
	int r = open("f", O_RDONLY | O_NONBLOCK);
	T("O_RDONLY|O_NONBLOCK", r >= 0);
	T("read, no writer yet", read(r, b, sizeof b));
	show_poll("reader before any writer", r, POLLIN);
	int w = open("f", O_WRONLY | O_NONBLOCK);
	T("O_WRONLY|O_NONBLOCK with a reader", w >= 0);
	T("read, empty", read(r, b, sizeof b));
	show_poll("reader", r, POLLIN);
	show_poll("writer", w, POLLOUT);
	T("write", write(w, "abc", 3));
	show_poll("reader with data", r, POLLIN);
	T("read", read(r, b, sizeof b));
	T("close the writer", close(w));
	show_poll("reader after the writer went", r, POLLIN);
	T("read", read(r, b, sizeof b));
	int rw = open("f", O_RDWR);
	T("O_RDWR", rw >= 0);
	show_poll("O_RDWR", rw, POLLIN | POLLOUT);
	T("write through O_RDWR", write(rw, "hi", 2));
	T("read through the reader", read(r, b, sizeof b));
	printf("  %.2s\n", b);
	T("access mode 3", open("f", 3));
	T("O_RDONLY|O_TRUNC (a writer exists)", close(open("f", O_RDONLY | O_TRUNC)));
	T("O_CREAT on the FIFO", close(open("f", O_RDONLY | O_NONBLOCK | O_CREAT, 0600)));
	T("O_CREAT|O_EXCL", open("f", O_RDONLY | O_NONBLOCK | O_CREAT | O_EXCL, 0600));
	T("lseek", lseek(r, 0, SEEK_SET));
	T("pread", pread(r, b, 1, 0));
	T("ftruncate", ftruncate(rw, 0));
	T("truncate", truncate("f", 0));
	struct stat st;
	fstat(r, &st);
	printf("fstat: %s size=%ld\n", ftype(st.st_mode), (long)st.st_size);
	T("close the reader", close(r));
	T("close O_RDWR", close(rw));
}

static void sizes(void)
{
	printf("-- pipe sizes\n");
	int rw = open("f", O_RDWR);
	T("F_GETPIPE_SZ", fcntl(rw, F_GETPIPE_SZ));
	T("F_SETPIPE_SZ 0", fcntl(rw, F_SETPIPE_SZ, 0));
	T("F_SETPIPE_SZ 5000", fcntl(rw, F_SETPIPE_SZ, 5000));
	T("F_GETPIPE_SZ", fcntl(rw, F_GETPIPE_SZ));
	char big[6000];
	memset(big, 'x', sizeof big);
	T("write 6000", write(rw, big, sizeof big));
	T("F_SETPIPE_SZ 4096 (data does not fit)", fcntl(rw, F_SETPIPE_SZ, 4096));
	T("F_SETPIPE_SZ 2^31+1", fcntl(rw, F_SETPIPE_SZ, (1u << 31) + 1));
	T("F_SETPIPE_SZ 65536", fcntl(rw, F_SETPIPE_SZ, 65536));
	int pp[2];
	pipe(pp);
	T("F_GETPIPE_SZ on a pipe", fcntl(pp[1], F_GETPIPE_SZ));
	T("F_SETPIPE_SZ on a pipe", fcntl(pp[1], F_SETPIPE_SZ, 100000));
	close(pp[0]);
	close(pp[1]);
	int reg = open("regular", O_RDWR | O_CREAT, 0600);
	T("F_GETPIPE_SZ on a regular file", fcntl(reg, F_GETPIPE_SZ));
	close(reg);
	close(rw);
}

static void shared_pipe(void)
{
	printf("-- one pipe for every opener\n");
	char b[16];
	int a = open("f", O_RDWR);
	T("write", write(a, "zz", 2));
	T("close the only opener", close(a));
	a = open("f", O_RDWR | O_NONBLOCK);
	T("read after reopening (data went with the pipe)", read(a, b, sizeof b));
	T("write", write(a, "kept", 4));
	int r = open("f", O_RDONLY | O_NONBLOCK);
	T("close the writer while a reader stays", close(a));
	T("read", read(r, b, sizeof b));
	printf("  %.4s\n", b);
	T("link", link("f", "g"));
	int w = open("g", O_WRONLY | O_NONBLOCK);
	T("open the link for writing", w >= 0);
	T("write", write(w, "linked", 6));
	T("read through the first name", read(r, b, sizeof b));
	printf("  %.6s\n", b);
	T("close the reader", close(r));
	signal(SIGPIPE, SIG_IGN);
	T("write with no reader", write(w, "x", 1));
	show_poll("writer without readers", w, POLLOUT);
	close(w);
	unlink("g");
}

static void blocking(void)
{
	printf("-- blocking opens\n");
	char b[16];
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		int w = open("f", O_WRONLY);
		write(w, "child", 5);
		_exit(0);
	}
	int r = open("f", O_RDONLY);
	T("O_RDONLY (waits for the child's writer)", r >= 0);
	int n = read(r, b, sizeof b);
	printf("read %d: %.*s\n", n, n > 0 ? n : 0, b);
	waitpid(c, NULL, 0);
	T("read after the writer exited", read(r, b, sizeof b));
	close(r);

	fflush(stdout);
	c = fork();
	if (c == 0) {
		int rr = open("f", O_RDONLY);
		int m = read(rr, b, sizeof b);
		printf("child read %d: %.*s\n", m, m > 0 ? m : 0, b);
		fflush(stdout);
		_exit(0);
	}
	int w = open("f", O_WRONLY);
	long n2 = write(w, "parent", 6);
	close(w);
	waitpid(c, NULL, 0);
	T("O_WRONLY (waited for the child's reader)", w >= 0);
	T("write", n2);
}

static volatile sig_atomic_t ticks;
static void on_tick(int s)
{
	(void)s;
	ticks++;
}

static int interrupted_open(int restart)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_tick;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 50000}, {0, 50000}};
	setitimer(ITIMER_REAL, &it, NULL);
	int r = open("f", O_RDONLY);
	printf("child O_RDONLY%s = %s\n", restart ? " with SA_RESTART" : "",
	       r >= 0 ? "fd" : errname(errno));
	if (!restart) {
		/* The reader that never finished opening is gone again. */
		int w = open("f", O_WRONLY | O_NONBLOCK);
		printf("child O_WRONLY|O_NONBLOCK after that = %s\n", w >= 0 ? "fd" : errname(errno));
	}
	fflush(stdout);
	return 0;
}

static void interrupted(void)
{
	printf("-- interrupted opens\n");
	fflush(stdout);
	pid_t c = fork();
	if (c == 0)
		_exit(interrupted_open(0));
	waitpid(c, NULL, 0);
	fflush(stdout);
	c = fork();
	if (c == 0)
		_exit(interrupted_open(1));
	struct timespec ts = {0, 300000000};
	nanosleep(&ts, NULL);
	int w = open("f", O_WRONLY);
	waitpid(c, NULL, 0);
	T("O_WRONLY met the restarted reader", w >= 0);
	close(w);
}

int main(int argc, char **argv)
{
	setup(argc, argv, "fifo");
	nonblocking();
	sizes();
	shared_pipe();
	blocking();
	interrupted();
	T("mknod S_IFIFO", mknod("p2", S_IFIFO | 0600, 0));
	struct stat st;
	stat("p2", &st);
	printf("p2: %s\n", ftype(st.st_mode));
	return 0;
}
