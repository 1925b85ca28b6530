/*
 * Dumpability: PR_GET_DUMPABLE / PR_SET_DUMPABLE (0 and 1 only), the
 * reset to 0 when the effective ids change (setresuid, setfsuid,
 * setresgid) and back to 1 on an ordinary exec (0 when the real and
 * effective ids differ at exec), and what it means for /proc/<pid>: the
 * files of a process that is not dumpable are root's (the directory keeps
 * the process's owner), and another process of the same user may not
 * read them.
 */
#include "common.h"
#include <sys/prctl.h>
#include <sys/wait.h>

static void owner(const char *label, const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		printf("%s: stat = -1 %s\n", label, errname(errno));
	else
		printf("%s: uid=%u gid=%u\n", label, st.st_uid, st.st_gid);
}

static void readable(const char *label, const char *path)
{
	int fd = open(path, O_RDONLY);
	char b[16];
	if (fd < 0) {
		printf("%s: open = -1 %s\n", label, errname(errno));
		return;
	}
	long n = read(fd, b, sizeof b);
	printf("%s: read %s\n", label, n >= 0 ? "ok" : errname(errno));
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[2], "exec") == 0) {
		printf("after exec: dumpable=%d\n", prctl(PR_GET_DUMPABLE));
		return 0;
	}
	setup(argc, argv, "dumpable");
	T("PR_GET_DUMPABLE", prctl(PR_GET_DUMPABLE));
	T("PR_SET_DUMPABLE 2", prctl(PR_SET_DUMPABLE, 2));
	T("PR_SET_DUMPABLE 3", prctl(PR_SET_DUMPABLE, 3));
	T("PR_SET_DUMPABLE 0", prctl(PR_SET_DUMPABLE, 0));
	T("PR_GET_DUMPABLE", prctl(PR_GET_DUMPABLE));
	T("PR_SET_DUMPABLE 1", prctl(PR_SET_DUMPABLE, 1));
	T("setuid(0) changes nothing", SC(SYS_setuid, 0));
	T("PR_GET_DUMPABLE", prctl(PR_GET_DUMPABLE));
	T("setfsuid(5)", SC(SYS_setfsuid, 5));
	T("PR_GET_DUMPABLE after setfsuid", prctl(PR_GET_DUMPABLE));
	SC(SYS_setfsuid, 0);
	prctl(PR_SET_DUMPABLE, 1);
	T("setresgid(-1, 7, -1)", SC(SYS_setresgid, -1, 7, -1));
	T("PR_GET_DUMPABLE after setresgid", prctl(PR_GET_DUMPABLE));
	SC(SYS_setresgid, -1, 0, -1);
	prctl(PR_SET_DUMPABLE, 1);

	/* Exec with euid != uid: not dumpable; an ordinary exec: dumpable. */
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		SC(SYS_setresuid, 0, 1000, 0);
		execl("/proc/self/exe", argv[0], argc > 1 ? argv[1] : ".", "exec", (char *)NULL);
		_exit(1);
	}
	waitpid(c, NULL, 0);
	c = fork();
	if (c == 0) {
		prctl(PR_SET_DUMPABLE, 0);
		execl("/proc/self/exe", argv[0], argc > 1 ? argv[1] : ".", "exec", (char *)NULL);
		_exit(1);
	}
	waitpid(c, NULL, 0);

	/* A process of uid 1000 that drops dumpability, seen by another. */
	int go[2], done[2];
	pipe(go);
	pipe(done);
	fflush(stdout);
	pid_t target = fork();
	if (target == 0) {
		SC(SYS_setresgid, 1000, 1000, 1000);
		SC(SYS_setresuid, 1000, 1000, 1000);
		printf("target: dumpable after setresuid=%d\n", prctl(PR_GET_DUMPABLE));
		owner("target: own /proc/self", "/proc/self");
		owner("target: own /proc/self/status", "/proc/self/status");
		owner("target: own /proc/self/fd", "/proc/self/fd");
		readable("target: own environ", "/proc/self/environ");
		fflush(stdout);
		char x;
		write(go[1], "1", 1);
		read(done[0], &x, 1);
		prctl(PR_SET_DUMPABLE, 1);
		owner("target: /proc/self/status when dumpable", "/proc/self/status");
		fflush(stdout);
		write(go[1], "2", 1);
		read(done[0], &x, 1);
		_exit(0);
	}
	char x;
	read(go[0], &x, 1);
	char path[64];
	pid_t viewer = fork();
	if (viewer == 0) {
		SC(SYS_setresgid, 1000, 1000, 1000);
		SC(SYS_setresuid, 1000, 1000, 1000);
		snprintf(path, sizeof path, "/proc/%d", target);
		owner("viewer: /proc/<target>", path);
		snprintf(path, sizeof path, "/proc/%d/status", target);
		owner("viewer: /proc/<target>/status", path);
		readable("viewer: status", path);
		snprintf(path, sizeof path, "/proc/%d/environ", target);
		readable("viewer: environ (not dumpable)", path);
		fflush(stdout);
		_exit(0);
	}
	waitpid(viewer, NULL, 0);
	write(done[1], "1", 1);
	read(go[0], &x, 1);
	viewer = fork();
	if (viewer == 0) {
		SC(SYS_setresgid, 1000, 1000, 1000);
		SC(SYS_setresuid, 1000, 1000, 1000);
		snprintf(path, sizeof path, "/proc/%d/environ", target);
		readable("viewer: environ (dumpable)", path);
		fflush(stdout);
		_exit(0);
	}
	waitpid(viewer, NULL, 0);
	snprintf(path, sizeof path, "/proc/%d/environ", target);
	readable("root: environ", path);
	write(done[1], "2", 1);
	waitpid(target, NULL, 0);
	printf("done\n");
	return 0;
}
