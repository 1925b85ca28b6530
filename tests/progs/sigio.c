/*
 * Signal-driven I/O: F_SETOWN / F_GETOWN / F_SETOWN_EX / F_GETOWN_EX,
 * F_SETSIG / F_GETSIG, O_ASYNC through F_SETFL and FIOASYNC, on pipes and
 * unix sockets: SIGIO when data arrives, the F_SETSIG signal with
 * POLL_IN / POLL_OUT, the band and the fd, another process as owner, and
 * the error cases.
 */
#include "common.h"
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <poll.h>

#ifndef F_SETSIG
#define F_SETSIG 10
#define F_GETSIG 11
#endif
#ifndef F_SETOWN_EX
#define F_SETOWN_EX 15
#define F_GETOWN_EX 16
#endif
#ifndef F_OWNER_TID
#define F_OWNER_TID 0
#define F_OWNER_PID 1
#define F_OWNER_PGRP 2
#endif
struct owner_ex {
	int type;
	int pid;
};

static volatile int sigio_count, rt_count, rt_code, rt_fd;
static volatile long rt_band;

static void on_sigio(int sig)
{
	(void)sig;
	sigio_count++;
}

static void on_rt(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	rt_count++;
	rt_code = si->si_code;
	rt_fd = si->si_fd;
	rt_band = si->si_band;
}

static const char *err(long r)
{
	return r < 0 ? strerror(errno) : "ok";
}

static void errors(void)
{
	int p[2];
	pipe(p);
	printf("F_GETOWN fresh = %ld\n", (long)fcntl(p[0], F_GETOWN));
	printf("F_GETSIG fresh = %ld\n", (long)fcntl(p[0], F_GETSIG));
	struct owner_ex ex;
	printf("F_SETOWN(999999): %s\n", err(fcntl(p[0], F_SETOWN, 999999)));
	printf("F_SETOWN(INT_MIN): %s\n", err(fcntl(p[0], F_SETOWN, INT_MIN)));
	printf("F_SETSIG(65): %s\n", err(fcntl(p[0], F_SETSIG, 65)));
	printf("F_SETSIG(64): %s\n", err(fcntl(p[0], F_SETSIG, 64)));
	printf("F_GETSIG = %ld\n", (long)fcntl(p[0], F_GETSIG));
	printf("F_SETOWN(-pgrp): %s\n", err(fcntl(p[0], F_SETOWN, -getpgrp())));
	printf("F_GETOWN is -pgrp: %s\n", fcntl(p[0], F_GETOWN) == -getpgrp() ? "yes" : "no");
	fcntl(p[0], F_GETOWN_EX, &ex);
	printf("F_GETOWN_EX: type=%d pid_is_pgrp=%s\n", ex.type, ex.pid == getpgrp() ? "yes" : "no");
	printf("F_SETOWN(self): %s\n", err(fcntl(p[0], F_SETOWN, getpid())));
	fcntl(p[0], F_GETOWN_EX, &ex);
	printf("F_GETOWN_EX: type=%d pid_is_self=%s\n", ex.type, ex.pid == getpid() ? "yes" : "no");
	ex.type = 5;
	ex.pid = getpid();
	printf("F_SETOWN_EX(type 5): %s\n", err(fcntl(p[0], F_SETOWN_EX, &ex)));
	ex.type = F_OWNER_TID;
	ex.pid = 999999;
	printf("F_SETOWN_EX(tid 999999): %s\n", err(fcntl(p[0], F_SETOWN_EX, &ex)));
	ex.pid = -3;
	printf("F_SETOWN_EX(tid -3): %s\n", err(fcntl(p[0], F_SETOWN_EX, &ex)));
	ex.type = F_OWNER_TID;
	ex.pid = (int)syscall(SYS_gettid);
	printf("F_SETOWN_EX(own tid): %s\n", err(fcntl(p[0], F_SETOWN_EX, &ex)));
	printf("F_GETOWN_EX(bad pointer): %s\n", err(fcntl(p[0], F_GETOWN_EX, (void *)8)));
	close(p[0]);
	close(p[1]);
}

static void pipe_sigio(void)
{
	int p[2];
	pipe(p);
	fcntl(p[0], F_SETOWN, getpid());
	fcntl(p[0], F_SETFL, O_ASYNC | O_NONBLOCK);
	printf("F_GETFL has O_ASYNC: %s\n", fcntl(p[0], F_GETFL) & O_ASYNC ? "yes" : "no");
	sigio_count = 0;
	write(p[1], "abc", 3);
	printf("pipe: SIGIO after a write: %d\n", sigio_count);
	write(p[1], "def", 3);
	printf("pipe: SIGIO after a second write: %d\n", sigio_count);
	char b[16];
	while (read(p[0], b, sizeof b) > 0)
		;
	int before = sigio_count;
	printf("pipe: no SIGIO from draining it: %s\n", sigio_count == before ? "yes" : "no");
	/* O_ASYNC off: no more signals. */
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	sigio_count = 0;
	write(p[1], "x", 1);
	printf("pipe: SIGIO with O_ASYNC off: %d\n", sigio_count);
	read(p[0], b, sizeof b);

	/* F_SETSIG: the real-time signal with POLL_IN, the band and the fd. */
	fcntl(p[0], F_SETSIG, SIGRTMIN + 1);
	int on = 1;
	ioctl(p[0], FIOASYNC, &on);
	rt_count = 0;
	write(p[1], "y", 1);
	printf("pipe F_SETSIG: rt=%d code=%d (POLL_IN=%d) fd_ok=%s band_has_POLLIN=%s\n", rt_count,
	       rt_code, POLL_IN, rt_fd == p[0] ? "yes" : "no", rt_band & POLLIN ? "yes" : "no");
	read(p[0], b, sizeof b);

	/* The write end: POLL_OUT once a full pipe gets room. */
	fcntl(p[1], F_SETOWN, getpid());
	fcntl(p[1], F_SETSIG, SIGRTMIN + 1);
	fcntl(p[1], F_SETFL, O_ASYNC | O_NONBLOCK);
	char big[4096];
	memset(big, 'z', sizeof big);
	while (write(p[1], big, sizeof big) > 0)
		;
	rt_count = 0;
	/* Reading from the read end (still O_ASYNC itself, which may signal
	 * too): drain everything, then look for a POLL_OUT. */
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	while (read(p[0], big, sizeof big) > 0)
		;
	printf("pipe write end: rt>0=%s last code=%d (POLL_OUT=%d) fd_ok=%s band_has_POLLOUT=%s\n",
	       rt_count > 0 ? "yes" : "no", rt_code, POLL_OUT, rt_fd == p[1] ? "yes" : "no",
	       rt_band & POLLOUT ? "yes" : "no");
	close(p[0]);
	close(p[1]);
}

static void socket_sigio(void)
{
	int s[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, s);
	fcntl(s[0], F_SETOWN, getpid());
	fcntl(s[0], F_SETFL, O_ASYNC | O_NONBLOCK);
	sigio_count = 0;
	write(s[1], "hello", 5);
	printf("socket: SIGIO after the peer writes: %s\n", sigio_count > 0 ? "yes" : "no");
	close(s[0]);
	close(s[1]);
}

static void other_process(void)
{
	int p[2], ready[2];
	pipe(p);
	pipe(ready);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGIO);
	sigprocmask(SIG_BLOCK, &set, NULL);
	pid_t c = fork();
	if (c == 0) {
		write(ready[1], "r", 1);
		struct timespec ts = {5, 0};
		siginfo_t si;
		int sig = sigtimedwait(&set, &si, &ts);
		_exit(sig == SIGIO && si.si_code == SI_KERNEL ? 0 : 1);
	}
	char b;
	read(ready[0], &b, 1);
	fcntl(p[0], F_SETOWN, c);
	fcntl(p[0], F_SETFL, O_ASYNC);
	write(p[1], "q", 1);
	int st;
	waitpid(c, &st, 0);
	printf("child owner got SIGIO (SI_KERNEL): %s\n",
	       WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "yes" : "no");
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	close(p[0]);
	close(p[1]);
}

#ifndef F_NOTIFY
#define F_NOTIFY 1026
#define DN_ACCESS 0x1
#define DN_MODIFY 0x2
#define DN_CREATE 0x4
#define DN_DELETE 0x8
#define DN_RENAME 0x10
#define DN_ATTRIB 0x20
#define DN_MULTISHOT 0x80000000
#endif

/* dnotify: F_NOTIFY on a directory signals its owner. */
static void dnotify(void)
{
	mkdir("dn", 0755);
	int d = open("dn", O_RDONLY | O_DIRECTORY);
	int f = open("dn_file", O_RDWR | O_CREAT, 0644);
	printf("F_NOTIFY on a file: %s\n", err(fcntl(f, F_NOTIFY, DN_CREATE)));
	printf("F_NOTIFY(0) with no mark: %s\n", err(fcntl(d, F_NOTIFY, 0)));
	fcntl(d, F_SETSIG, SIGRTMIN + 1);
	rt_count = 0;
	printf("F_NOTIFY(CREATE|MULTISHOT): %s\n",
	       err(fcntl(d, F_NOTIFY, DN_CREATE | DN_MULTISHOT)));
	printf("owner became the caller: %s\n", fcntl(d, F_GETOWN) == getpid() ? "yes" : "no");
	close(open("dn/a", O_CREAT | O_WRONLY, 0644));
	printf("create: rt=%d code=%d (POLL_MSG=%d) fd_ok=%s band_has_POLLIN=%s\n", rt_count,
	       rt_code, POLL_MSG, rt_fd == d ? "yes" : "no", rt_band & POLLIN ? "yes" : "no");
	close(open("dn/b", O_CREAT | O_WRONLY, 0644));
	printf("second create (multishot): rt=%d\n", rt_count);
	int w = open("dn/a", O_WRONLY);
	write(w, "x", 1);
	close(w);
	printf("a write (not asked for): rt=%d\n", rt_count);
	/* Without DN_MULTISHOT: one signal, then the mark is gone. */
	fcntl(d, F_NOTIFY, 0);
	rt_count = 0;
	fcntl(d, F_NOTIFY, DN_DELETE | DN_MODIFY);
	unlink("dn/b");
	printf("one-shot delete: rt=%d\n", rt_count);
	unlink("dn/a");
	printf("after the one shot: rt=%d\n", rt_count);
	/* Plain SIGIO without F_SETSIG. */
	fcntl(d, F_SETSIG, 0);
	sigio_count = 0;
	fcntl(d, F_NOTIFY, DN_ATTRIB | DN_RENAME | DN_MULTISHOT);
	close(open("dn/c", O_CREAT | O_WRONLY, 0644));
	printf("create, not asked for: SIGIO=%d\n", sigio_count);
	chmod("dn/c", 0600);
	printf("chmod of a child: SIGIO=%d\n", sigio_count);
	rename("dn/c", "dn/d");
	printf("rename in it: SIGIO>0=%s\n", sigio_count > 1 ? "yes" : "no");
	close(d);
	close(f);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGIO, on_sigio);
	struct sigaction sa = {0};
	sa.sa_sigaction = on_rt;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGRTMIN + 1, &sa, NULL);
	errors();
	pipe_sigio();
	socket_sigio();
	other_process();
	dnotify();
	return 0;
}
