/*
 * execve and privileges: set-user-ID and set-group-ID programs, the
 * mount flags that limit them (nosuid, noexec, nodev) and
 * PR_SET_NO_NEW_PRIVS.
 *
 * The program copies itself into tmpfs mounts made with each flag (in a
 * private mount namespace, so that the native run leaves the host alone),
 * makes the copies set-ID for uid/gid 1000, and runs them as uid 2000 and
 * as root; each copy prints the ids it got and AT_SECURE. Needs root.
 */
#include "common.h"
#include <sched.h>
#include <sys/auxv.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#ifndef PR_SET_NO_NEW_PRIVS
#define PR_SET_NO_NEW_PRIVS 38
#define PR_GET_NO_NEW_PRIVS 39
#endif

static int show_ids(void)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;
	getresuid(&r, &e, &s);
	getresgid(&rg, &eg, &sg);
	printf("  uid %d/%d/%d gid %d/%d/%d secure=%lu nnp=%ld\n", (int)r, (int)e, (int)s,
	       (int)rg, (int)eg, (int)sg, getauxval(AT_SECURE),
	       (long)prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	return 0;
}

static void copy_self(const char *to)
{
	int in = open("/proc/self/exe", O_RDONLY);
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (in < 0 || out < 0) {
		printf("copy to %s: %s\n", to, strerror(errno));
		exit(1);
	}
	char b[65536];
	long n;
	while ((n = read(in, b, sizeof b)) > 0)
		if (write(out, b, n) != n)
			exit(1);
	close(in);
	close(out);
}

/* Runs `path child` in a child that first becomes uid/gid `as` (-1: stays
 * root) and sets no_new_privs if asked. */
static void run(const char *what, const char *path, int as, int nnp)
{
	printf("%s:\n", what);
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		if (as >= 0 && (setresgid(as, as, as) != 0 || setresuid(as, as, as) != 0)) {
			printf("  setresuid: %s\n", strerror(errno));
			_exit(1);
		}
		if (nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
			printf("  PR_SET_NO_NEW_PRIVS: %s\n", strerror(errno));
			_exit(1);
		}
		char *argv[] = {(char *)path, "child", NULL};
		execv(path, argv);
		printf("  execv: %s\n", strerror(errno));
		_exit(0);
	}
	int st;
	waitpid(c, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		printf("  child status %#x\n", st);
}

static void mount_tmpfs(const char *dir, unsigned long flags)
{
	mkdir(dir, 0755);
	if (mount("none", dir, "tmpfs", flags, "mode=755") != 0) {
		printf("mount %s: %s\n", dir, strerror(errno));
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "child") == 0)
		return show_ids();
	setvbuf(stdout, NULL, _IONBF, 0);
	if (geteuid() != 0) {
		printf("needs root\n");
		return 1;
	}
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		printf("private namespace: %s\n", strerror(errno));
		return 1;
	}
	printf("nnp at start: %d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	printf("PR_SET_NO_NEW_PRIVS(2): %s\n",
	       prctl(PR_SET_NO_NEW_PRIVS, 2, 0, 0, 0) == 0 ? "ok" : strerror(errno));
	printf("PR_GET_NO_NEW_PRIVS(1): %s\n",
	       prctl(PR_GET_NO_NEW_PRIVS, 1, 0, 0, 0) >= 0 ? "ok" : strerror(errno));

	mount_tmpfs("plain", 0);
	mount_tmpfs("nosuid", MS_NOSUID);
	mount_tmpfs("noexec", MS_NOEXEC);
	const char *dirs[] = {"plain", "nosuid", "noexec"};
	for (int i = 0; i < 3; i++) {
		char p[64];
		snprintf(p, sizeof p, "%s/prog", dirs[i]);
		copy_self(p);
		if (chown(p, 1000, 1000) != 0 || chmod(p, 06755) != 0)
			printf("chown/chmod %s: %s\n", p, strerror(errno));
	}
	copy_self("plain/gidonly");
	/* Set-group-ID without group execute: not a set-ID program. */
	if (chown("plain/gidonly", 1000, 1000) != 0 || chmod("plain/gidonly", 02705) != 0)
		printf("chown/chmod gidonly: %s\n", strerror(errno));
	copy_self("plain/plainprog");

	run("uid 2000 runs a set-ID program", "plain/prog", 2000, 0);
	run("uid 2000 runs it from a nosuid mount", "nosuid/prog", 2000, 0);
	run("uid 2000 with no_new_privs", "plain/prog", 2000, 1);
	run("uid 2000 runs set-group-ID without g+x", "plain/gidonly", 2000, 0);
	run("uid 2000 runs an ordinary program", "plain/plainprog", 2000, 0);
	run("root runs a set-ID program", "plain/prog", -1, 0);
	run("root runs a program on a noexec mount", "noexec/prog", -1, 0);

	/* nodev: /dev bound twice, once remounted nodev; /dev/null opens
	 * through the first, not through the second. (veil refuses mknod of
	 * devices, so the nodes come from /dev.) */
	mkdir("devplain", 0755);
	mkdir("devnodev", 0755);
	if (mount("/dev", "devplain", NULL, MS_BIND, NULL) != 0 ||
	    mount("/dev", "devnodev", NULL, MS_BIND, NULL) != 0 ||
	    mount(NULL, "devnodev", NULL, MS_REMOUNT | MS_BIND | MS_NODEV, NULL) != 0)
		printf("bind /dev: %s\n", strerror(errno));
	const char *nodes[] = {"devplain/null", "devnodev/null"};
	for (int i = 0; i < 2; i++) {
		int fd = open(nodes[i], O_RDWR);
		printf("open %s: %s\n", nodes[i], fd >= 0 ? "ok" : strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	return 0;
}
