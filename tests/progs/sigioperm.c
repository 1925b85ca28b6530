/*
 * Who may receive signal-driven I/O signals (Linux's sigio_perm): the
 * credentials of whoever set the owner (F_SETOWN, F_SETOWN_EX, or O_ASYNC
 * on a terminal, which names an owner if there is none), recorded at that
 * moment, must be root's effective uid or match the target's real or
 * saved uid. A child that changes its uids sets owners and writes, and
 * each side counts the SIGIO it received.
 */
#include "common.h"
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

#ifndef F_SETSIG
#define F_SETSIG 10
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

static volatile int sigio_count, rt_count;

static void on_sigio(int sig)
{
	(void)sig;
	sigio_count++;
}

static void on_rt(int sig)
{
	(void)sig;
	rt_count++;
}

static void ids(uid_t r, uid_t e, uid_t s)
{
	if (setresgid(1000, 1000, 1000) && errno != EPERM) {
		printf("setresgid: %s\n", errname(errno));
		_exit(3);
	}
	if (setresuid(r, e, s)) {
		printf("setresuid: %s\n", errname(errno));
		_exit(3);
	}
}

static int wait_child(pid_t p)
{
	int st;
	if (waitpid(p, &st, 0) != p)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The child sets the owner of a pipe's read end to `owner` (0: the
 * parent) with uids (r, e, s) either before (`late` 0) or after (`late`
 * 1: it set the owner as root) the change, then writes; reports how many
 * SIGIO the parent got. */
static void case_parent_owner(const char *what, uid_t r, uid_t e, uid_t s, int late)
{
	int p[2];
	pipe(p);
	sigio_count = 0;
	pid_t parent = getpid();
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		if (!late)
			ids(r, e, s);
		fcntl(p[0], F_SETOWN, parent);
		fcntl(p[0], F_SETFL, O_ASYNC | O_NONBLOCK);
		if (late)
			ids(r, e, s);
		write(p[1], "x", 1);
		_exit(0);
	}
	wait_child(c);
	printf("%s: parent got SIGIO: %s\n", what, sigio_count ? "yes" : "no");
	close(p[0]);
	close(p[1]);
}

/* The parent (root) or the child itself names the uid-1000 child as
 * owner; the child writes and reports its own SIGIO count. */
static void case_child_owner(const char *what, int child_sets)
{
	int p[2], go[2];
	pipe(p);
	pipe(go);
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		close(go[1]);
		ids(1000, 1000, 1000);
		if (child_sets) {
			fcntl(p[0], F_SETOWN, getpid());
			fcntl(p[0], F_SETFL, O_ASYNC | O_NONBLOCK);
		}
		char b;
		read(go[0], &b, 1);
		write(p[1], "x", 1);
		printf("%s: child got SIGIO: %s\n", what, sigio_count ? "yes" : "no");
		fflush(stdout);
		_exit(0);
	}
	close(go[0]);
	if (!child_sets) {
		fcntl(p[0], F_SETOWN, c);
		fcntl(p[0], F_SETFL, O_ASYNC | O_NONBLOCK);
	}
	write(go[1], "g", 1);
	wait_child(c);
	close(go[1]);
	close(p[0]);
	close(p[1]);
}

/* A process group with a root process (the parent's group leader child)
 * and a uid-1000 one, owner set by a uid-1000 process: only the latter
 * is signalled. */
static void case_group(void)
{
	int p[2], ready[2], go[2];
	pipe(p);
	pipe(ready);
	pipe(go);
	fflush(stdout);
	pid_t leader = fork();
	if (leader == 0) {
		setpgid(0, 0);
		sigio_count = 0;
		pid_t member = fork();
		if (member == 0) {
			ids(1000, 1000, 1000);
			fcntl(p[0], F_SETOWN, -getpgrp());
			fcntl(p[0], F_SETFL, O_ASYNC | O_NONBLOCK);
			write(ready[1], "r", 1);
			char b;
			read(go[0], &b, 1);
			write(p[1], "x", 1);
			printf("group: uid 1000 member got SIGIO: %s\n", sigio_count ? "yes" : "no");
			fflush(stdout);
			_exit(0);
		}
		char b;
		read(ready[0], &b, 1);
		write(go[1], "g", 1);
		wait_child(member);
		printf("group: root leader got SIGIO: %s\n", sigio_count ? "yes" : "no");
		fflush(stdout);
		_exit(0);
	}
	wait_child(leader);
	close(p[0]);
	close(p[1]);
}

/* F_SETSIG's signal follows the same rule; F_SETOWN_EX records too. */
static void case_setsig(void)
{
	int p[2];
	pipe(p);
	rt_count = 0;
	pid_t parent = getpid();
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		ids(1000, 1000, 1000);
		struct owner_ex ex = {F_OWNER_PID, parent};
		fcntl(p[0], F_SETOWN_EX, &ex);
		fcntl(p[0], F_SETSIG, SIGRTMIN + 1);
		fcntl(p[0], F_SETFL, O_ASYNC | O_NONBLOCK);
		write(p[1], "x", 1);
		_exit(0);
	}
	wait_child(c);
	printf("F_SETSIG by uid 1000 to root: parent signalled: %s\n", rt_count ? "yes" : "no");
	/* Now root sets it (F_SETOWN_EX again) and the same child writes. */
	struct owner_ex ex = {F_OWNER_PID, parent};
	fcntl(p[0], F_SETOWN_EX, &ex);
	c = fork();
	if (c == 0) {
		ids(1000, 1000, 1000);
		write(p[1], "y", 1);
		_exit(0);
	}
	wait_child(c);
	printf("F_SETSIG by root: parent signalled: %s\n", rt_count ? "yes" : "no");
	close(p[0]);
	close(p[1]);
}

/* A terminal with O_ASYNC and no owner: the one who set O_ASYNC owns it,
 * with their credentials. */
static void case_tty(void)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	grantpt(m);
	unlockpt(m);
	int s = open(ptsname(m), O_RDWR | O_NOCTTY);
	printf("tty: F_GETOWN before O_ASYNC is 0: %s\n", fcntl(s, F_GETOWN) == 0 ? "yes" : "no");
	int on = 1;
	ioctl(m, FIOASYNC, &on);
	printf("tty: master FIOASYNC made us owner: %s\n",
	       fcntl(m, F_GETOWN) == getpid() ? "yes" : "no");
	fcntl(s, F_SETFL, O_ASYNC | O_NONBLOCK);
	printf("tty: slave O_ASYNC made us owner: %s\n",
	       fcntl(s, F_GETOWN) == getpid() ? "yes" : "no");
	on = 0;
	ioctl(m, FIOASYNC, &on);
	fcntl(m, F_SETOWN, 0);
	fflush(stdout);
	sigio_count = 0;
	pid_t parent = getpid();
	pid_t c = fork();
	if (c == 0) {
		ids(1000, 1000, 1000);
		on = 1;
		ioctl(m, FIOASYNC, &on);
		printf("tty: uid 1000 child owns the master: %s\n",
		       fcntl(m, F_GETOWN) == getpid() ? "yes" : "no");
		/* Hand it to the parent: recorded as uid 1000's. */
		fcntl(m, F_SETOWN, parent);
		write(s, "z", 1);
		fflush(stdout);
		_exit(0);
	}
	wait_child(c);
	printf("tty: parent got SIGIO from the master: %s\n", sigio_count ? "yes" : "no");
	close(s);
	close(m);
}

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	signal(SIGIO, on_sigio);
	signal(SIGRTMIN + 1, on_rt);
	case_parent_owner("owner set by root, then uid 1000 writes", 1000, 1000, 1000, 1);
	case_parent_owner("owner set by uid 1000", 1000, 1000, 1000, 0);
	case_parent_owner("owner set with ruid 0, euid 1000", 0, 1000, 1000, 0);
	case_parent_owner("owner set with euid 0", 1000, 0, 1000, 0);
	case_parent_owner("owner set with suid 0 only", 1000, 1000, 0, 0);
	case_child_owner("root names a uid 1000 child", 0);
	case_child_owner("a uid 1000 child names itself", 1);
	case_group();
	case_setsig();
	case_tty();
	return 0;
}
