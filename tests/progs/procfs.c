/*
 * /proc of another process: a parent reads its child's /proc/<pid>
 * (stat, status, cmdline, comm, cwd, exe, fd, root), finds the child in
 * the /proc listing, sees it as a zombie after it exits (before wait), and
 * finds it gone after wait. Then /sys: the CPU list and one directory per
 * CPU, and writes refused.
 *
 * Values that differ between runs (pids, times, addresses) are never
 * printed; the program prints comparisons ("ppid_is_parent: yes").
 */
#include "common.h"
#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

static char buf[8192];

/* Reads a whole file into buf; returns its length or -errno. */
static long slurp(const char *path)
{
	int fd = (int)SC(SYS_open, path, O_RDONLY);
	if (fd < 0)
		return -errno;
	long total = 0, n;
	while ((n = SC(SYS_read, fd, buf + total, sizeof buf - 1 - total)) > 0)
		total += n;
	SC(SYS_close, fd);
	if (n < 0)
		return -errno;
	buf[total] = 0;
	return total;
}

/* The value of "Key:\t..." in buf (up to the newline), or "" (in one of
 * eight rotating buffers, so that a printf may use several). */
static const char *field(const char *key)
{
	static char outs[8][256];
	static int next;
	char *out = outs[next++ % 8];
	out[0] = 0;
	size_t k = strlen(key);
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, key, k) == 0 && l[k] == ':') {
			char *v = l + k + 1;
			while (*v == '\t' || *v == ' ')
				v++;
			size_t n = strcspn(v, "\n");
			if (n >= 256)
				n = 255;
			memcpy(out, v, n);
			out[n] = 0;
			break;
		}
	}
	return out;
}

static void show_errno(const char *what, long r)
{
	if (r < 0)
		printf("%s = -1 %s\n", what, errname((int)-r));
	else
		printf("%s = ok\n", what);
}

static int listed(pid_t pid)
{
	DIR *d = opendir("/proc");
	if (!d)
		return 0;
	char want[32];
	snprintf(want, sizeof want, "%d", pid);
	int found = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		found |= strcmp(e->d_name, want) == 0;
	closedir(d);
	return found;
}

static void child_stat(pid_t child, const char *when)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", child);
	long n = slurp(path);
	if (n < 0) {
		printf("%s: stat = -1 %s\n", when, errname((int)-n));
		return;
	}
	int pid = 0, ppid = 0, pgrp = 0;
	char comm[64] = "", state = '?';
	sscanf(buf, "%d (%63[^)]) %c %d %d", &pid, comm, &state, &ppid, &pgrp);
	int fields = 0;
	for (char *p = strrchr(buf, ')'); p && *p; p++)
		if (*p == ' ')
			fields++;
	printf("%s: stat pid_ok=%s comm=%s ppid_is_parent=%s pgrp_is_parents=%s fields=%d",
	       when, pid == child ? "yes" : "no", comm, ppid == getpid() ? "yes" : "no",
	       pgrp == getpgrp() ? "yes" : "no", fields + 1);
	if (state == 'Z')
		printf(" state=Z");
	printf("\n");
}

int main(int argc, char **argv)
{
	setup(argc, argv, "procfs");
	int ready[2], go[2];
	if (pipe(ready) || pipe(go))
		return 3;
	fflush(stdout);
	pid_t child = fork();
	if (child == 0) {
		prctl(PR_SET_NAME, "kid", 0, 0, 0);
		close(ready[0]);
		close(go[1]);
		char c = 1;
		SC(SYS_write, ready[1], &c, 1);
		SC(SYS_read, go[0], &c, 1);
		_exit(7);
	}
	close(ready[1]);
	close(go[0]);
	char c;
	SC(SYS_read, ready[0], &c, 1);

	char path[128], mine[PATH_MAX], theirs[PATH_MAX];
	check("child listed in /proc", listed(child));
	child_stat(child, "running");

	snprintf(path, sizeof path, "/proc/%d/status", child);
	long n = slurp(path);
	show_errno("read status", n);
	printf("Name=%s Tgid_ok=%s Pid_ok=%s PPid_ok=%s Uid=%s Gid=%s Threads=%s\n", field("Name"),
	       atoi(field("Tgid")) == child ? "yes" : "no", atoi(field("Pid")) == child ? "yes" : "no",
	       atoi(field("PPid")) == getpid() ? "yes" : "no", field("Uid"), field("Gid"),
	       field("Threads"));
	printf("has Umask=%s VmSize=%s SigBlk=%s\n", field("Umask")[0] ? "yes" : "no",
	       field("VmSize")[0] ? "yes" : "no", field("SigBlk")[0] ? "yes" : "no");

	snprintf(path, sizeof path, "/proc/%d/comm", child);
	n = slurp(path);
	show_errno("read comm", n);
	printf("comm = %s", n > 0 ? buf : "\n");

	/* After fork, the child's arguments are the parent's. */
	long own = slurp("/proc/self/cmdline");
	static char own_cmd[8192];
	memcpy(own_cmd, buf, own > 0 ? (size_t)own : 0);
	snprintf(path, sizeof path, "/proc/%d/cmdline", child);
	n = slurp(path);
	check("child cmdline is the parent's", n == own && own > 0 && memcmp(buf, own_cmd, own) == 0);

	snprintf(path, sizeof path, "/proc/%d/cwd", child);
	n = SC(SYS_readlink, path, theirs, sizeof theirs - 1);
	theirs[n > 0 ? n : 0] = 0;
	printf("cwd -> %s\n", spath(theirs));
	snprintf(path, sizeof path, "/proc/%d/root", child);
	n = SC(SYS_readlink, path, theirs, sizeof theirs - 1);
	theirs[n > 0 ? n : 0] = 0;
	printf("root -> %s\n", theirs);
	snprintf(path, sizeof path, "/proc/%d/exe", child);
	n = SC(SYS_readlink, path, theirs, sizeof theirs - 1);
	theirs[n > 0 ? n : 0] = 0;
	long m = SC(SYS_readlink, "/proc/self/exe", mine, sizeof mine - 1);
	mine[m > 0 ? m : 0] = 0;
	check("child exe is the parent's", n > 0 && strcmp(theirs, mine) == 0);

	/* The child holds 0, 1, 2 and two pipe ends. */
	snprintf(path, sizeof path, "/proc/%d/fd", child);
	DIR *d = opendir(path);
	int fds = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		fds += e->d_name[0] != '.';
	if (d)
		closedir(d);
	printf("child fds = %d\n", fds);
	snprintf(path, sizeof path, "/proc/%d/fd/%d", child, go[0]);
	n = SC(SYS_readlink, path, theirs, sizeof theirs - 1);
	theirs[n > 0 ? n : 0] = 0;
	check("child fd is a pipe", strncmp(theirs, "pipe:[", 6) == 0);
	snprintf(path, sizeof path, "/proc/%d/nonexistent", child);
	show_errno("open child/nonexistent", slurp(path));
	snprintf(path, sizeof path, "/proc/%d/task/%d/comm", child, child);
	n = slurp(path);
	printf("task/<pid>/comm = %s", n > 0 ? buf : "\n");

	/* Let it exit; before wait it is a zombie. */
	int dirfd = (int)SC(SYS_open, "/proc", O_RDONLY | O_DIRECTORY);
	snprintf(path, sizeof path, "%d", child);
	int piddir = (int)SC(SYS_openat, dirfd, path, O_RDONLY | O_DIRECTORY);
	SC(SYS_write, go[1], &c, 1);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	T("waitid(WEXITED|WNOWAIT)", SC(SYS_waitid, P_PID, child, &si, WEXITED | WNOWAIT, NULL));
	child_stat(child, "zombie");
	snprintf(path, sizeof path, "/proc/%d/status", child);
	n = slurp(path);
	printf("zombie: State=%s Name=%s has VmSize=%s\n", field("State"), field("Name"),
	       field("VmSize")[0] ? "yes" : "no");
	snprintf(path, sizeof path, "/proc/%d/cmdline", child);
	printf("zombie: cmdline length = %ld\n", slurp(path));
	check("zombie listed in /proc", listed(child));

	int st = 0;
	T("waitpid", waitpid(child, &st, 0) == child ? 0 : -1);
	printf("exit status = %d\n", WEXITSTATUS(st));
	snprintf(path, sizeof path, "/proc/%d/stat", child);
	show_errno("reaped: open stat", slurp(path));
	snprintf(path, sizeof path, "/proc/%d", child);
	struct stat sb;
	T("reaped: stat dir", SC(SYS_newfstatat, AT_FDCWD, path, &sb, 0));
	T("reaped: openat(piddir, stat)", SC(SYS_openat, piddir, "stat", O_RDONLY));
	check("reaped: not listed", !listed(child));
	SC(SYS_close, piddir);
	SC(SYS_close, dirfd);
	T("open(/proc/99999999/stat)", SC(SYS_open, "/proc/99999999/stat", O_RDONLY));

	/* /sys: the CPUs. */
	n = slurp("/sys/devices/system/cpu/online");
	show_errno("read cpu/online", n);
	printf("cpu/online = %s", n > 0 ? buf : "\n");
	int lo = 0, hi = 0;
	if (sscanf(buf, "%d-%d", &lo, &hi) < 2)
		hi = lo;
	int dirs = 1;
	for (int i = lo; i <= hi; i++) {
		snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d", i);
		dirs &= SC(SYS_newfstatat, AT_FDCWD, path, &sb, 0) == 0 && S_ISDIR(sb.st_mode);
	}
	check("a directory per online CPU", dirs);
	T("stat(cpu/online)", SC(SYS_newfstatat, AT_FDCWD, "/sys/devices/system/cpu/online", &sb, 0));
	printf("cpu/online: mode=0%o size=%ld uid=%u\n", sb.st_mode, (long)sb.st_size, sb.st_uid);
	T("open(cpu/online, O_WRONLY)", SC(SYS_open, "/sys/devices/system/cpu/online", O_WRONLY));
	T("open(cpu/new, O_CREAT)",
	  SC(SYS_open, "/sys/devices/system/cpu/new", O_CREAT | O_WRONLY, 0644));
	T("mkdir(cpu/new)", SC(SYS_mkdir, "/sys/devices/system/cpu/new", 0755));
	T("unlink(cpu/online)", SC(SYS_unlink, "/sys/devices/system/cpu/online"));
	T("open(/sys/nonexistent)", SC(SYS_open, "/sys/nonexistent", O_RDONLY));
	return 0;
}
