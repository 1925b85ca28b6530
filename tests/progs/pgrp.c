/*
 * Process groups and sessions: getpgrp, getpgid, getsid, setpgid (its
 * rules for children, exec'd children and sessions), setsid, a
 * process-group kill; and what happens to orphans: PR_SET_CHILD_SUBREAPER
 * adopts them, PR_SET_PDEATHSIG signals them when their parent exits.
 *
 * The program may be pid 1 (under veil), a session leader or not: it only
 * changes groups and sessions in its children, and prints comparisons,
 * never ids.
 */
#include "common.h"
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

static void describe_status(const char *what, int st)
{
	if (WIFEXITED(st))
		printf("%s: exited %d\n", what, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		printf("%s: killed by signal %d\n", what, WTERMSIG(st));
	else
		printf("%s: status %#x\n", what, st);
}

static void reap(pid_t p, const char *what)
{
	int st = 0;
	if (waitpid(p, &st, 0) != p)
		printf("%s: waitpid failed: %s\n", what, errname(errno));
	else
		describe_status(what, st);
}

/* A child that waits until the pipe closes, then exits 0. */
static pid_t sleeper(int *wfd)
{
	int p[2];
	if (pipe(p) != 0)
		exit(3);
	pid_t c = fork();
	if (c == 0) {
		close(p[1]);
		char b;
		while (read(p[0], &b, 1) > 0)
			;
		_exit(0);
	}
	close(p[0]);
	*wfd = p[1];
	return c;
}

static void test_ids(void)
{
	printf("-- ids\n");
	pid_t me = getpid();
	check("getpgrp() == getpgid(0)", SC(SYS_getpgrp) == SC(SYS_getpgid, 0L));
	check("getpgid(getpid()) == getpgid(0)", SC(SYS_getpgid, (long)me) == SC(SYS_getpgid, 0L));
	check("getsid(getpid()) == getsid(0)", SC(SYS_getsid, (long)me) == SC(SYS_getsid, 0L));
	T("getpgid(no such pid)", SC(SYS_getpgid, 0x3fffffffL));
	T("getsid(no such pid)", SC(SYS_getsid, 0x3fffffffL));
	T("getpgid(-1)", SC(SYS_getpgid, -1L));
	T("setpgid(0, -1)", SC(SYS_setpgid, 0L, -1L));
	T("setpgid(no such pid, 0)", SC(SYS_setpgid, 0x3fffffffL, 0L));
}

static void child_setsid(void)
{
	pid_t me = getpid();
	pid_t ppg = (pid_t)SC(SYS_getpgrp);
	check("child starts in the parent's group", ppg != me);
	long s = T("setsid() >= 0", SC(SYS_setsid) >= 0);
	(void)s;
	check("  the session id is the pid", SC(SYS_getsid, 0L) == me);
	check("  the group id is the pid", SC(SYS_getpgrp) == me);
	T("setsid() again", SC(SYS_setsid));
	T("setpgid(0, 0) (a session leader)", SC(SYS_setpgid, 0L, 0L));
	T("setpgid(0, parent's group) (another session)", SC(SYS_setpgid, 0L, (long)ppg));
	/* A child of the leader joins nothing outside the session either. */
	pid_t g = fork();
	if (g == 0) {
		T("  grandchild: setpgid(0, 0)", SC(SYS_setpgid, 0L, 0L));
		check("  grandchild: its own group now", SC(SYS_getpgrp) == getpid());
		T("  grandchild: setpgid(0, leader's group)", SC(SYS_setpgid, 0L, (long)me));
		T("  grandchild: setsid() (its pid names no group now)", SC(SYS_setsid) >= 0);
		fflush(stdout);
		_exit(0);
	}
	reap(g, "  grandchild");
	fflush(stdout);
}

static void test_setsid(void)
{
	printf("-- setsid in a child\n");
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		child_setsid();
		_exit(0);
	}
	reap(c, "child");
}

static void test_setpgid(void)
{
	printf("-- setpgid on children\n");
	int w;
	pid_t c = sleeper(&w);
	long mine = SC(SYS_getpgrp);
	T("setpgid(child, 0)", SC(SYS_setpgid, (long)c, 0L));
	check("  child leads its own group", SC(SYS_getpgid, (long)c) == c);
	check("  getsid(child) is ours", SC(SYS_getsid, (long)c) == SC(SYS_getsid, 0L));
	T("setpgid(child, our group)", SC(SYS_setpgid, (long)c, mine));
	check("  child back in our group", SC(SYS_getpgid, (long)c) == mine);
	T("setpgid(child, child)", SC(SYS_setpgid, (long)c, (long)c));
	T("setpgid(child, no such group)", SC(SYS_setpgid, (long)c, 0x3fffffffL));
	T("setpgid(child, -5)", SC(SYS_setpgid, (long)c, -5L));
	close(w);
	reap(c, "child");

	/* A child that exec'd: EACCES. The close-on-exec pipe tells when. */
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0)
		exit(3);
	int q[2];
	if (pipe(q) != 0)
		exit(3);
	pid_t e = fork();
	if (e == 0) {
		close(p[0]);
		close(q[1]);
		dup2(q[0], 0);
		char *argv[] = { "cat", NULL };
		execv("/bin/cat", argv);
		_exit(127);
	}
	close(p[1]);
	close(q[0]);
	char b;
	while (read(p[0], &b, 1) > 0)
		;
	close(p[0]);
	T("setpgid(exec'd child, 0)", SC(SYS_setpgid, (long)e, 0L));
	close(q[1]);
	reap(e, "exec'd child");

	/* Not our child: a grandchild. `up` carries its pid to us, `down`
	 * tells the middle child we are done. */
	int up[2], down[2];
	if (pipe(up) != 0 || pipe(down) != 0)
		exit(3);
	int w2;
	pid_t mid = fork();
	if (mid == 0) {
		pid_t gc = sleeper(&w2);
		if (write(up[1], &gc, sizeof gc) != sizeof gc)
			_exit(4);
		char x;
		if (read(down[0], &x, 1) < 0)
			_exit(5);
		close(w2);
		waitpid(gc, NULL, 0);
		_exit(0);
	}
	pid_t gc = 0;
	if (read(up[0], &gc, sizeof gc) != sizeof gc)
		exit(3);
	T("setpgid(grandchild, 0)", SC(SYS_setpgid, (long)gc, 0L));
	check("getpgid(grandchild) works", SC(SYS_getpgid, (long)gc) == mine);
	if (write(down[1], "x", 1) != 1)
		exit(3);
	reap(mid, "middle child");
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
}

static void test_group_kill(void)
{
	printf("-- kill(-pgid)\n");
	int w1, w2;
	pid_t a = sleeper(&w1);
	pid_t b = sleeper(&w2);
	T("setpgid(a, a)", SC(SYS_setpgid, (long)a, (long)a));
	T("setpgid(b, a)", SC(SYS_setpgid, (long)b, (long)a));
	T("kill(-a, SIGTERM)", SC(SYS_kill, (long)-a, (long)SIGTERM));
	reap(a, "a");
	reap(b, "b");
	close(w1);
	close(w2);
	T("kill(-a, SIGTERM) (group gone)", SC(SYS_kill, (long)-a, (long)SIGTERM));
}

static void test_subreaper(void)
{
	printf("-- PR_SET_CHILD_SUBREAPER\n");
	int v = -1;
	T("PR_GET_CHILD_SUBREAPER", SC(SYS_prctl, (long)PR_GET_CHILD_SUBREAPER, &v, 0L, 0L, 0L));
	printf("  value: %s\n", v == 0 ? "0" : "non-zero");
	T("PR_SET_CHILD_SUBREAPER(1)", SC(SYS_prctl, (long)PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L));
	SC(SYS_prctl, (long)PR_GET_CHILD_SUBREAPER, &v, 0L, 0L, 0L);
	printf("  value: %d\n", v);
	T("PR_GET_CHILD_SUBREAPER(BADPTR)", SC(SYS_prctl, (long)PR_GET_CHILD_SUBREAPER, BADPTR, 0L, 0L, 0L));

	/* A middle child starts a grandchild and exits: we adopt it. */
	pid_t me = getpid();
	int ready[2];
	if (pipe(ready) != 0)
		exit(3);
	fflush(stdout);
	pid_t mid = fork();
	if (mid == 0) {
		pid_t gc = fork();
		if (gc == 0) {
			/* Wait (at most 5 s) to be orphaned; the exit status says
			 * who adopted us. */
			for (int i = 0; i < 5000 && getppid() != me; i++) {
				struct timespec d = { 0, 1000000 };
				nanosleep(&d, NULL);
			}
			_exit(getppid() == me ? 42 : 1);
		}
		_exit(0);
	}
	reap(mid, "middle child");
	int st = 0;
	pid_t got = waitpid(-1, &st, 0);
	check("the orphan became our child", got > 0);
	describe_status("orphan", st);

	/* PR_SET_PDEATHSIG: the grandchild dies with SIGTERM when its
	 * parent exits. */
	T("PR_SET_PDEATHSIG(65)", SC(SYS_prctl, (long)PR_SET_PDEATHSIG, 65L, 0L, 0L, 0L));
	v = -1;
	T("PR_GET_PDEATHSIG", SC(SYS_prctl, (long)PR_GET_PDEATHSIG, &v, 0L, 0L, 0L));
	printf("  value: %d\n", v);
	fflush(stdout);
	mid = fork();
	if (mid == 0) {
		pid_t gc = fork();
		if (gc == 0) {
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			int s = 0;
			prctl(PR_GET_PDEATHSIG, &s);
			if (write(ready[1], &s, sizeof s) != sizeof s)
				_exit(4);
			for (int i = 0; i < 10000; i++) {
				struct timespec d = { 0, 1000000 };
				nanosleep(&d, NULL);
			}
			_exit(1);
		}
		int s = 0;
		if (read(ready[0], &s, sizeof s) != sizeof s)
			_exit(5);
		_exit(s == SIGTERM ? 0 : 6);
	}
	reap(mid, "parent of the pdeathsig child");
	got = waitpid(-1, &st, 0);
	check("the orphan became our child", got > 0);
	describe_status("pdeathsig child", st);
	/* A forked child does not inherit it. */
	SC(SYS_prctl, (long)PR_SET_PDEATHSIG, (long)SIGUSR1, 0L, 0L, 0L);
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		int s = -1;
		prctl(PR_GET_PDEATHSIG, &s);
		_exit(s);
	}
	reap(c, "child's PR_GET_PDEATHSIG");
	SC(SYS_prctl, (long)PR_SET_PDEATHSIG, 0L, 0L, 0L, 0L);
	T("PR_SET_CHILD_SUBREAPER(0)", SC(SYS_prctl, (long)PR_SET_CHILD_SUBREAPER, 0L, 0L, 0L, 0L));
	close(ready[0]);
	close(ready[1]);
}

int main(int argc, char **argv)
{
	setup(argc, argv, "pgrp");
	test_ids();
	test_setsid();
	test_setpgid();
	test_group_kill();
	test_subreaper();
	printf("done\n");
	return 0;
}
