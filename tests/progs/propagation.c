/*
 * Mount propagation and namespaces: shared peers see each other's mounts
 * and unmounts, a slave receives from its master but does not send back,
 * private and unbindable mounts, the shared:/master: fields of mountinfo,
 * namespace copies that stay peers of shared originals (unshare -m),
 * setns(2) with /proc/<pid>/ns files and pidfds (and its errors), and
 * inotify's IN_UNMOUNT when a watched filesystem goes.
 *
 * Natively this runs as root: everything happens in the program's own
 * mount namespace, made private first, on a tmpfs in the scratch
 * directory, so the host never sees a mount. Group ids and mount ids
 * differ between kernels, so only their relations are printed.
 */
#include "common.h"
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_setns
#define SYS_setns 308
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef MS_SHARED
#define MS_SHARED (1 << 20)
#endif
#ifndef MS_SLAVE
#define MS_SLAVE (1 << 19)
#endif
#ifndef MS_PRIVATE
#define MS_PRIVATE (1 << 18)
#endif
#ifndef MS_UNBINDABLE
#define MS_UNBINDABLE (1 << 17)
#endif

static char line[4096];

/* The propagation of the top mount at $S/rel, from mountinfo. */
struct prop {
	int found;
	int shared;
	int master;
	int unbindable;
};

static struct prop prop_of(const char *rel)
{
	struct prop p = { 0, 0, 0, 0 };
	char want[PATH_MAX + 64];
	snprintf(want, sizeof want, "%s/%s", scratch, rel);
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return p;
	while (fgets(line, sizeof line, f)) {
		char *fl[40];
		int n = 0;
		char *save = NULL;
		for (char *t = strtok_r(line, " \n", &save); t && n < 40;
		     t = strtok_r(NULL, " \n", &save))
			fl[n++] = t;
		if (n < 10 || strcmp(fl[4], want) != 0)
			continue;
		p.found++;
		p.shared = p.master = p.unbindable = 0;
		for (int i = 6; i < n && strcmp(fl[i], "-") != 0; i++) {
			if (strncmp(fl[i], "shared:", 7) == 0)
				p.shared = atoi(fl[i] + 7);
			else if (strncmp(fl[i], "master:", 7) == 0)
				p.master = atoi(fl[i] + 7);
			else if (strcmp(fl[i], "unbindable") == 0)
				p.unbindable = 1;
		}
	}
	fclose(f);
	return p;
}

static void show_prop(const char *rel)
{
	struct prop p = prop_of(rel);
	if (!p.found) {
		printf("prop(%s): not mounted\n", rel);
		return;
	}
	printf("prop(%s): mounts=%d shared=%s master=%s unbindable=%s\n", rel, p.found,
	       p.shared ? "yes" : "no", p.master ? "yes" : "no", p.unbindable ? "yes" : "no");
}

/* How a's and b's groups relate. */
static void relation(const char *a, const char *b)
{
	struct prop pa = prop_of(a), pb = prop_of(b);
	printf("%s~%s: peers=%s %s_master_is_%s=%s\n", a, b,
	       pa.shared && pa.shared == pb.shared ? "yes" : "no", b, a,
	       pa.shared && pb.master == pa.shared ? "yes" : "no");
}

static void exists(const char *path)
{
	struct stat st;
	long r = SC(SYS_newfstatat, AT_FDCWD, path, &st, 0);
	if (r == 0)
		printf("stat(%s) = 0 %s\n", spath(path), ftype(st.st_mode));
	else
		printf("stat(%s) = -1 %s\n", spath(path), errname(errno));
}

static void mkd(const char *path)
{
	if (SC(SYS_mkdir, path, 0755) != 0 && errno != EEXIST) {
		printf("setup: mkdir(%s): %s\n", path, errname(errno));
		exit(3);
	}
}

static long tmpfs(const char *at)
{
	char label[PATH_MAX + 32];
	snprintf(label, sizeof label, "mount(tmpfs %s)", at);
	return T(label, SC(SYS_mount, "none", at, "tmpfs", 0, NULL));
}

static long make(const char *at, unsigned long kind, const char *name)
{
	char label[PATH_MAX + 32];
	snprintf(label, sizeof label, "make-%s(%s)", name, at);
	return T(label, SC(SYS_mount, NULL, at, NULL, kind, NULL));
}

static long bind(const char *from, const char *to)
{
	char label[2 * PATH_MAX + 32];
	snprintf(label, sizeof label, "bind(%s, %s)", from, to);
	return T(label, SC(SYS_mount, from, to, NULL, MS_BIND, NULL));
}

static long umnt(const char *at, int flags)
{
	char label[PATH_MAX + 32];
	snprintf(label, sizeof label, "umount2(%s, %d)", at, flags);
	return T(label, SC(SYS_umount2, at, flags));
}

/* Shared peers: each sees what the other mounts and unmounts. */
static void peers(void)
{
	mkd("t/a");
	mkd("t/b");
	tmpfs("t/a");
	make("t/a", MS_SHARED, "shared");
	bind("t/a", "t/b");
	show_prop("t/a");
	show_prop("t/b");
	relation("t/a", "t/b");
	mkd("t/a/x");
	mkd("t/a/y");
	mkd("t/a/z");
	tmpfs("t/a/x");
	make_file("t/a/x/f", "x", 0644);
	exists("t/b/x/f");
	show_prop("t/b/x");
	relation("t/a/x", "t/b/x");
	tmpfs("t/b/y");
	exists("t/a/y");
	show_prop("t/a/y");
	relation("t/a/y", "t/b/y");
	umnt("t/a/x", 0);
	exists("t/b/x/f");
	show_prop("t/b/x");
	umnt("t/b/y", 0);
	show_prop("t/a/y");

	/* A replica in use keeps the original mounted (EBUSY). */
	tmpfs("t/a/z");
	int fd = (int)SC(SYS_open, "t/b/z", O_RDONLY | O_DIRECTORY);
	umnt("t/a/z", 0);
	SC(SYS_close, fd);
	umnt("t/a/z", 0);
	show_prop("t/b/z");

	/* A bind of a subdirectory of a peer still receives below it. */
	mkd("t/a/sub");
	mkd("t/a/sub/in");
	mkd("t/c");
	bind("t/a/sub", "t/c");
	relation("t/a", "t/c");
	tmpfs("t/b/sub/in");
	show_prop("t/c/in");
	show_prop("t/a/sub/in");
	umnt("t/c/in", 0);
	show_prop("t/b/sub/in");

	/* A recursive bind under a shared mount propagates the whole tree. */
	mkd("t/r");
	tmpfs("t/r");
	mkd("t/r/deep");
	tmpfs("t/r/deep");
	mkd("t/a/rb");
	T("rbind(t/r, t/a/rb)", SC(SYS_mount, "t/r", "t/a/rb", NULL, MS_BIND | MS_REC, NULL));
	show_prop("t/b/rb");
	show_prop("t/b/rb/deep");
	relation("t/a/rb/deep", "t/b/rb/deep");
	T("umount2(t/b/rb, MNT_DETACH)", SC(SYS_umount2, "t/b/rb", MNT_DETACH));
	show_prop("t/a/rb");
	show_prop("t/a/rb/deep");
}

/* A slave receives from its master and sends nothing back. */
static void slaves(void)
{
	mkd("t/m");
	mkd("t/s");
	tmpfs("t/m");
	make("t/m", MS_SHARED, "shared");
	bind("t/m", "t/s");
	make("t/s", MS_SLAVE, "slave");
	show_prop("t/m");
	show_prop("t/s");
	relation("t/m", "t/s");
	mkd("t/m/p");
	mkd("t/m/q");
	mkd("t/m/w");
	tmpfs("t/m/p");
	make_file("t/m/p/f", "p", 0644);
	exists("t/s/p/f");
	show_prop("t/s/p");
	relation("t/m/p", "t/s/p");
	tmpfs("t/s/q");
	show_prop("t/m/q");
	show_prop("t/s/q");
	umnt("t/m/p", 0);
	show_prop("t/s/p");
	umnt("t/s/q", 0);

	/* A replica with a mount of its own stays when the original goes. */
	tmpfs("t/m/w");
	mkd("t/s/w/in");
	tmpfs("t/s/w/in");
	show_prop("t/m/w/in");
	umnt("t/m/w", 0);
	show_prop("t/m/w");
	show_prop("t/s/w");
	show_prop("t/s/w/in");
	umnt("t/s/w/in", 0);
	umnt("t/s/w", 0);

	/* Shared and slave at once: a new group, the same master. */
	make("t/s", MS_SHARED, "shared");
	show_prop("t/s");
	relation("t/m", "t/s");
	mkd("t/s2");
	bind("t/s", "t/s2");
	relation("t/s", "t/s2");
	relation("t/m", "t/s2");
	tmpfs("t/m/p");
	show_prop("t/s2/p");
	relation("t/s/p", "t/s2/p");
	relation("t/m/p", "t/s2/p");
	tmpfs("t/s2/q");
	show_prop("t/s/q");
	show_prop("t/m/q");

	/* The master made private: its slaves lose their master. */
	make("t/m", MS_PRIVATE, "private");
	show_prop("t/m");
	show_prop("t/s");
	show_prop("t/s2");
	tmpfs("t/m/w");
	show_prop("t/s/w");
	/* A slave with no master and no peers is private. */
	mkd("t/lone");
	tmpfs("t/lone");
	make("t/lone", MS_SLAVE, "slave");
	show_prop("t/lone");
}

/* Private and unbindable mounts. */
static void private_unbindable(void)
{
	mkd("t/pr");
	mkd("t/pr2");
	tmpfs("t/pr");
	bind("t/pr", "t/pr2");
	show_prop("t/pr");
	show_prop("t/pr2");
	mkd("t/pr/k");
	tmpfs("t/pr/k");
	show_prop("t/pr2/k");
	mkd("t/u");
	mkd("t/u2");
	tmpfs("t/u");
	make("t/u", MS_UNBINDABLE, "unbindable");
	show_prop("t/u");
	bind("t/u", "t/u2");
	make("t/u", MS_SHARED, "shared");
	show_prop("t/u");
	make("t/u", MS_UNBINDABLE, "unbindable");
	make("t/u", MS_SLAVE, "slave");
	show_prop("t/u");
	/* A shared mount made unbindable leaves its group. */
	mkd("t/g1");
	mkd("t/g2");
	tmpfs("t/g1");
	make("t/g1", MS_SHARED, "shared");
	bind("t/g1", "t/g2");
	make("t/g2", MS_UNBINDABLE, "unbindable");
	show_prop("t/g1");
	show_prop("t/g2");
	mkd("t/g1/n");
	tmpfs("t/g1/n");
	show_prop("t/g2/n");
}

/* unshare(CLONE_NEWNS) copies the tree: copies of shared mounts are peers
 * of the originals until made private. */
static int up[2], down[2];
static void step_wait(int fd)
{
	char c;
	if (SC(SYS_read, fd, &c, 1) != 1)
		exit(4);
}
static void step_go(int fd)
{
	char c = 1;
	fflush(stdout);
	SC(SYS_write, fd, &c, 1);
}

static void copies(void)
{
	mkd("t/sh");
	tmpfs("t/sh");
	make("t/sh", MS_SHARED, "shared");
	mkd("t/sh/c");
	mkd("t/sh/d");
	mkd("t/sh/e");
	if (pipe(up) || pipe(down))
		exit(3);
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) {
		T("child: unshare(CLONE_NEWNS)", SC(SYS_unshare, CLONE_NEWNS));
		show_prop("t/sh");
		tmpfs("t/sh/c");
		step_go(up[1]);
		step_wait(down[0]);
		printf("child: ");
		show_prop("t/sh/d");
		T("child: make-rprivate(/)", SC(SYS_mount, NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
		step_go(up[1]);
		step_wait(down[0]);
		printf("child: ");
		show_prop("t/sh/e");
		printf("child: ");
		show_prop("t/sh/d");
		fflush(stdout);
		_exit(0);
	}
	step_wait(up[0]);
	show_prop("t/sh/c");
	tmpfs("t/sh/d");
	step_go(down[1]);
	step_wait(up[0]);
	tmpfs("t/sh/e");
	umnt("t/sh/d", 0);
	step_go(down[1]);
	int st = 0;
	waitpid(p, &st, 0);
	printf("copies child: exited=%d status=%d\n", WIFEXITED(st), WEXITSTATUS(st));
	show_prop("t/sh/c");
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
}

static int open_ns(pid_t pid, const char *kind)
{
	char path[64];
	if (pid)
		snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)pid, kind);
	else
		snprintf(path, sizeof path, "/proc/self/ns/%s", kind);
	return (int)SC(SYS_open, path, O_RDONLY | O_CLOEXEC);
}

static void show_cwd(const char *label)
{
	char cwd[PATH_MAX];
	if (SC(SYS_getcwd, cwd, sizeof cwd) < 0)
		printf("%s: getcwd = -1 %s\n", label, errname(errno));
	else
		printf("%s: cwd = %s\n", label, spath(cwd));
}

static void show_host(const char *label)
{
	struct utsname u;
	uname(&u);
	printf("%s: nodename = %s\n", label, u.nodename);
}

static void same_ns(const char *label, pid_t pid, const char *kind)
{
	char a[64], b[64], p[64];
	snprintf(p, sizeof p, "/proc/%d/ns/%s", (int)pid, kind);
	long n = SC(SYS_readlink, p, a, sizeof a - 1);
	a[n > 0 ? n : 0] = 0;
	snprintf(p, sizeof p, "/proc/self/ns/%s", kind);
	n = SC(SYS_readlink, p, b, sizeof b - 1);
	b[n > 0 ? n : 0] = 0;
	printf("%s: same %s ns as child = %s\n", label, kind, strcmp(a, b) == 0 ? "yes" : "no");
}

static void *idle_thread(void *arg)
{
	int fd = *(int *)arg;
	char c;
	read(fd, &c, 1);
	return NULL;
}

/* setns(2) into a child's namespaces and back. */
static void setns_child(void)
{
	char abs_marker[PATH_MAX + 64];
	snprintf(abs_marker, sizeof abs_marker, "%s/t/nsonly/marker", scratch);
	mkd("t/nsonly");
	if (pipe(up) || pipe(down))
		exit(3);
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) {
		SC(SYS_unshare, CLONE_NEWNS | CLONE_NEWUTS);
		SC(SYS_mount, "none", "t/nsonly", "tmpfs", 0, NULL);
		make_file("t/nsonly/marker", "m", 0644);
		sethostname("child-host", 10);
		step_go(up[1]);
		step_wait(down[0]);
		_exit(0);
	}
	step_wait(up[0]);
	int self_mnt = open_ns(0, "mnt");
	int self_uts = open_ns(0, "uts");
	int child_mnt = open_ns(p, "mnt");
	int child_uts = open_ns(p, "uts");
	printf("open ns files: %s\n",
	       self_mnt >= 0 && self_uts >= 0 && child_mnt >= 0 && child_uts >= 0 ? "ok" : "failed");
	char buf[8];
	T("read(mnt ns file)", SC(SYS_read, child_mnt, buf, sizeof buf));

	/* Errors first. */
	T("setns(-1, 0)", SC(SYS_setns, -1, 0));
	T("setns(9999, 0)", SC(SYS_setns, 9999, 0));
	int reg = (int)SC(SYS_open, "t/plain", O_CREAT | O_RDWR | O_CLOEXEC, 0644);
	T("setns(regular file, 0)", SC(SYS_setns, reg, 0));
	T("setns(regular file, CLONE_NEWNS)", SC(SYS_setns, reg, CLONE_NEWNS));
	SC(SYS_close, reg);
	T("setns(mnt fd, CLONE_NEWUTS)", SC(SYS_setns, child_mnt, CLONE_NEWUTS));
	T("setns(mnt fd, CLONE_NEWNS|CLONE_NEWUTS)",
	  SC(SYS_setns, child_mnt, CLONE_NEWNS | CLONE_NEWUTS));
	T("setns(uts fd, CLONE_NEWNS)", SC(SYS_setns, child_uts, CLONE_NEWNS));
	int path_fd = (int)SC(SYS_open, "/proc/self/ns/mnt", O_PATH | O_CLOEXEC);
	T("setns(O_PATH ns fd, 0)", SC(SYS_setns, path_fd, 0));
	SC(SYS_close, path_fd);
	int pidfd = (int)SC(SYS_pidfd_open, p, 0);
	T("setns(pidfd, 0)", SC(SYS_setns, pidfd, 0));
	T("setns(pidfd, 0x1)", SC(SYS_setns, pidfd, 0x1));
	T("setns(pidfd, CLONE_VM)", SC(SYS_setns, pidfd, CLONE_VM));
	T("setns(pidfd, CLONE_NEWUSER)", SC(SYS_setns, pidfd, CLONE_NEWUSER));

	/* From a process with two threads: EINVAL for a mount namespace. */
	int tp[2];
	if (pipe(tp))
		exit(3);
	pthread_t th;
	pthread_create(&th, NULL, idle_thread, &tp[0]);
	T("threaded: setns(mnt fd, CLONE_NEWNS)", SC(SYS_setns, child_mnt, CLONE_NEWNS));
	T("threaded: setns(pidfd, CLONE_NEWNS)", SC(SYS_setns, pidfd, CLONE_NEWNS));
	char c = 1;
	write(tp[1], &c, 1);
	pthread_join(th, NULL);
	close(tp[0]);
	close(tp[1]);

	/* Into the child's mount namespace: root and cwd move to its root. */
	show_cwd("before");
	T("setns(child mnt, CLONE_NEWNS)", SC(SYS_setns, child_mnt, CLONE_NEWNS));
	show_cwd("after");
	exists(abs_marker);
	same_ns("after setns(mnt)", p, "mnt");
	T("setns(self mnt, 0)", SC(SYS_setns, self_mnt, 0));
	exists(abs_marker);
	same_ns("back", p, "mnt");
	T("chdir(scratch)", SC(SYS_chdir, scratch));

	show_host("before");
	T("setns(child uts, 0)", SC(SYS_setns, child_uts, 0));
	show_host("after");
	T("setns(self uts, CLONE_NEWUTS)", SC(SYS_setns, self_uts, CLONE_NEWUTS));
	show_host("back");

	/* A pidfd: several namespaces at once. */
	T("setns(pidfd, CLONE_NEWNS|CLONE_NEWUTS)", SC(SYS_setns, pidfd, CLONE_NEWNS | CLONE_NEWUTS));
	show_cwd("pidfd");
	exists(abs_marker);
	show_host("pidfd");
	same_ns("pidfd", p, "mnt");
	same_ns("pidfd", p, "uts");
	T("setns(self mnt, CLONE_NEWNS)", SC(SYS_setns, self_mnt, CLONE_NEWNS));
	T("setns(self uts, 0)", SC(SYS_setns, self_uts, 0));
	T("chdir(scratch)", SC(SYS_chdir, scratch));
	exists(abs_marker);

	/* The kinds veil does not separate: joining one's own. */
	static const struct {
		const char *kind;
		int flag;
	} kinds[] = {
		{ "net", CLONE_NEWNET },       { "ipc", CLONE_NEWIPC },
		{ "pid", CLONE_NEWPID },       { "cgroup", CLONE_NEWCGROUP },
		{ "user", CLONE_NEWUSER },     { "time", CLONE_NEWTIME },
		{ "pid_for_children", CLONE_NEWPID },
	};
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		int fd = open_ns(0, kinds[i].kind);
		char label[96];
		snprintf(label, sizeof label, "setns(own %s, 0)", kinds[i].kind);
		T(label, SC(SYS_setns, fd, 0));
		snprintf(label, sizeof label, "setns(own %s, its type)", kinds[i].kind);
		T(label, SC(SYS_setns, fd, kinds[i].flag));
		snprintf(label, sizeof label, "setns(own %s, CLONE_NEWNS)", kinds[i].kind);
		T(label, SC(SYS_setns, fd, CLONE_NEWNS));
		SC(SYS_close, fd);
	}
	T("setns(pidfd, CLONE_NEWNET|CLONE_NEWIPC|CLONE_NEWCGROUP)",
	  SC(SYS_setns, pidfd, CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWCGROUP));

	/* Without CAP_SYS_ADMIN: EPERM. */
	fflush(stdout);
	pid_t u = fork();
	if (u == 0) {
		SC(SYS_setgid, 1000);
		SC(SYS_setuid, 1000);
		T("user: setns(child mnt, 0)", SC(SYS_setns, child_mnt, 0));
		T("user: setns(child uts, 0)", SC(SYS_setns, child_uts, 0));
		T("user: setns(pidfd, CLONE_NEWNS)", SC(SYS_setns, pidfd, CLONE_NEWNS));
		T("user: setns(bad fd, 0)", SC(SYS_setns, 9999, 0));
		fflush(stdout);
		_exit(0);
	}
	int st = 0;
	waitpid(u, &st, 0);

	/* The child gone: its pidfd answers ESRCH, its ns files still work. */
	step_go(down[1]);
	siginfo_t si;
	waitid(P_PID, p, &si, WEXITED | WNOWAIT);
	T("zombie: setns(pidfd, CLONE_NEWNS)", SC(SYS_setns, pidfd, CLONE_NEWNS));
	waitpid(p, &st, 0);
	T("reaped: setns(pidfd, CLONE_NEWUTS)", SC(SYS_setns, pidfd, CLONE_NEWUTS));
	T("reaped: setns(child mnt, CLONE_NEWNS)", SC(SYS_setns, child_mnt, CLONE_NEWNS));
	exists(abs_marker);
	T("setns(self mnt, CLONE_NEWNS)", SC(SYS_setns, self_mnt, CLONE_NEWNS));
	T("chdir(scratch)", SC(SYS_chdir, scratch));
	SC(SYS_close, pidfd);
	SC(SYS_close, self_mnt);
	SC(SYS_close, self_uts);
	SC(SYS_close, child_mnt);
	SC(SYS_close, child_uts);
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
}

static const char *mask_names(uint32_t m, char *out, size_t n)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
		{ IN_ACCESS, "ACCESS" },   { IN_MODIFY, "MODIFY" },   { IN_ATTRIB, "ATTRIB" },
		{ IN_CLOSE_WRITE, "CLOSE_WRITE" }, { IN_CLOSE_NOWRITE, "CLOSE_NOWRITE" },
		{ IN_OPEN, "OPEN" },       { IN_MOVED_FROM, "MOVED_FROM" },
		{ IN_MOVED_TO, "MOVED_TO" }, { IN_CREATE, "CREATE" }, { IN_DELETE, "DELETE" },
		{ IN_DELETE_SELF, "DELETE_SELF" }, { IN_MOVE_SELF, "MOVE_SELF" },
		{ IN_UNMOUNT, "UNMOUNT" }, { IN_Q_OVERFLOW, "Q_OVERFLOW" },
		{ IN_IGNORED, "IGNORED" }, { IN_ISDIR, "ISDIR" },
	};
	out[0] = 0;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (m & names[i].bit) {
			strncat(out, out[0] ? "|" : "", n - strlen(out) - 1);
			strncat(out, names[i].name, n - strlen(out) - 1);
		}
	return out;
}

/* Prints the queued events of inotify fd `in`, for watches wds[0..n)
 * named by labels, each watch's events in order. */
static void drain(const char *when, int in, const int *wds, const char *const *labels, int n)
{
	char buf[4096] __attribute__((aligned(8)));
	char seq[8][256];
	for (int i = 0; i < n; i++)
		seq[i][0] = 0;
	int other = 0;
	for (;;) {
		long r = SC(SYS_read, in, buf, sizeof buf);
		if (r <= 0)
			break;
		for (long off = 0; off < r;) {
			struct inotify_event *e = (struct inotify_event *)(buf + off);
			char names[128];
			mask_names(e->mask, names, sizeof names);
			int k = -1;
			for (int i = 0; i < n; i++)
				if (wds[i] == e->wd)
					k = i;
			if (k < 0)
				other++;
			else {
				strncat(seq[k], " ", sizeof seq[k] - strlen(seq[k]) - 1);
				strncat(seq[k], names, sizeof seq[k] - strlen(seq[k]) - 1);
			}
			off += sizeof *e + e->len;
		}
	}
	printf("%s:", when);
	for (int i = 0; i < n; i++)
		printf(" [%s:%s]", labels[i], seq[i][0] ? seq[i] : " none");
	if (other)
		printf(" other=%d", other);
	printf("\n");
}

/* IN_UNMOUNT, then IN_IGNORED, when a watched filesystem goes. */
static void unmount_events(void)
{
	int in = (int)SC(SYS_inotify_init1, IN_NONBLOCK | IN_CLOEXEC);
	mkd("t/w");
	tmpfs("t/w");
	mkd("t/w/d");
	make_file("t/w/f", "f", 0644);
	int wds[3];
	wds[0] = (int)SC(SYS_inotify_add_watch, in, "t/w", IN_CREATE);
	wds[1] = (int)SC(SYS_inotify_add_watch, in, "t/w/d", IN_ALL_EVENTS);
	wds[2] = (int)SC(SYS_inotify_add_watch, in, "t/w/f", IN_MODIFY);
	static const char *const labels[] = { "root", "dir", "file" };
	printf("watches: %s\n", wds[0] > 0 && wds[1] > 0 && wds[2] > 0 ? "ok" : "failed");
	umnt("t/w", 0);
	drain("umount(t/w)", in, wds, labels, 3);
	T("inotify_rm_watch(file) after", SC(SYS_inotify_rm_watch, in, wds[2]));

	/* The filesystem still mounted elsewhere: nothing until its last
	 * mount goes. */
	mkd("t/w1");
	mkd("t/w2");
	tmpfs("t/w1");
	make_file("t/w1/f", "f", 0644);
	bind("t/w1", "t/w2");
	wds[0] = (int)SC(SYS_inotify_add_watch, in, "t/w1/f", IN_MODIFY);
	umnt("t/w1", 0);
	drain("umount(t/w1)", in, wds, labels + 2, 1);
	umnt("t/w2", 0);
	drain("umount(t/w2)", in, wds, labels + 2, 1);

	/* A lazy unmount with a file open: when the file is closed. */
	tmpfs("t/w1");
	make_file("t/w1/f", "f", 0644);
	wds[0] = (int)SC(SYS_inotify_add_watch, in, "t/w1/f", IN_MODIFY);
	int fd = (int)SC(SYS_open, "t/w1/f", O_RDONLY | O_CLOEXEC);
	T("umount2(t/w1, MNT_DETACH)", SC(SYS_umount2, "t/w1", MNT_DETACH));
	drain("detached, file open", in, wds, labels + 2, 1);
	SC(SYS_close, fd);
	drain("file closed", in, wds, labels + 2, 1);

	/* Replicas removed by propagation count as that filesystem's mounts. */
	mkd("t/wp");
	mkd("t/wq");
	tmpfs("t/wp");
	make("t/wp", MS_SHARED, "shared");
	bind("t/wp", "t/wq");
	mkd("t/wp/in");
	tmpfs("t/wp/in");
	make_file("t/wq/in/f", "f", 0644);
	wds[0] = (int)SC(SYS_inotify_add_watch, in, "t/wp/in/f", IN_MODIFY);
	umnt("t/wq/in", 0);
	drain("umount(t/wq/in)", in, wds, labels + 2, 1);
	SC(SYS_close, in);
}

int main(int argc, char **argv)
{
	setup(argc, argv, "propagation");
	/* Our own namespace, private, so that nothing reaches the host. */
	T("unshare(CLONE_NEWNS)", SC(SYS_unshare, CLONE_NEWNS));
	T("make-rprivate(/)", SC(SYS_mount, NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
	mkd("t");
	tmpfs("t");
	peers();
	slaves();
	private_unbindable();
	copies();
	setns_child();
	unmount_events();
	T("umount2(t, MNT_DETACH)", SC(SYS_umount2, "t", MNT_DETACH));
	return 0;
}
