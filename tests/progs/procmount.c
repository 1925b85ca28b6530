/*
 * procfs mount options, as Linux 5.8+ has them (every mount of proc its own
 * instance): hidepid= (0/off, 1/noaccess, 2/invisible, 4/ptraceable),
 * gid= (members exempt from hidepid=1 and 2), subset=pid (only the process
 * directories, self and thread-self); how mountinfo and mounts show them;
 * remount changing only what it names; bad values refused. Then
 * /proc/<pid>/personality and the other per-process files tools read.
 *
 * The other users are forked children that drop to uid 1000 ("A", which
 * waits) or run the probes as uid 1000, 2000, or 2000 with group 3000. Each
 * probe prints what one caller gets for three processes: A, the root
 * parent ("P") and itself. Everything happens inside unshare(CLONE_NEWNS)
 * with / made rprivate, on scratch directories, so the host never sees a
 * mount. Pids are never printed.
 */
#include "common.h"
#include <dirent.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/wait.h>

static pid_t parent_pid, a_pid;
static int a_release[2];

/* Reads a whole file into dst (NUL-terminated); returns its length or
 * -errno (of the open or the read). */
static long slurp(const char *path, char *dst, size_t cap)
{
	int fd = (int)SC(SYS_open, path, O_RDONLY);
	if (fd < 0)
		return -errno;
	long total = 0, n;
	while ((n = SC(SYS_read, fd, dst + total, cap - 1 - total)) > 0)
		total += n;
	int e = errno;
	SC(SYS_close, fd);
	if (n < 0)
		return -e;
	dst[total] = 0;
	return total;
}

/* "ok" or the errno name of opening path with flags. */
static const char *open_result(const char *path, int flags)
{
	int fd = (int)SC(SYS_open, path, flags);
	if (fd < 0)
		return errname(errno);
	SC(SYS_close, fd);
	return "ok";
}

/* "ok" or the errno name of reading the file at path. */
static const char *read_result(const char *path)
{
	static char buf[1 << 16];
	long n = slurp(path, buf, sizeof buf);
	return n < 0 ? errname((int)-n) : "ok";
}

/* True if the directory dir lists name. */
static int lists(const char *dir, const char *name)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct dirent *e;
	int found = 0;
	while ((e = readdir(d)))
		found |= strcmp(e->d_name, name) == 0;
	closedir(d);
	return found;
}

/* One line: what this process sees of process pid (named who) through
 * the proc mounted at mnt. */
static void probe_one(const char *mnt, const char *who, pid_t pid)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], name[16];
	snprintf(name, sizeof name, "%d", pid);
	snprintf(dir, sizeof dir, "%s/%d", mnt, pid);
	int listed = lists(mnt, name);
	printf("  %s: listed=%s", who, listed < 0 ? "ERR" : listed ? "yes" : "no");
	struct stat st;
	if (SC(SYS_stat, dir, &st) == 0)
		printf(" stat=ok(uid %u)", st.st_uid);
	else
		printf(" stat=%s", errname(errno));
	printf(" opendir=%s", open_result(dir, O_RDONLY | O_DIRECTORY));
	const char *files[] = {"status", "stat", "cmdline", "environ", "maps", "personality",
			       "io", "wchan", "oom_score", NULL};
	for (int i = 0; files[i]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		printf(" %s=%s", files[i], read_result(path));
	}
	char link[PATH_MAX];
	snprintf(path, sizeof path, "%s/exe", dir);
	printf(" exe=%s", SC(SYS_readlink, path, link, sizeof link) < 0 ? errname(errno) : "ok");
	snprintf(path, sizeof path, "%s/ns/mnt", dir);
	printf(" ns=%s", SC(SYS_readlink, path, link, sizeof link) < 0 ? errname(errno) : "ok");
	printf("\n");
}

static void probe_all(const char *mnt)
{
	probe_one(mnt, "A", a_pid);
	probe_one(mnt, "P", parent_pid);
	probe_one(mnt, "me", getpid());
	char self[64], want[64];
	char path[PATH_MAX + 8];
	snprintf(path, sizeof path, "%s/self", mnt);
	long n = SC(SYS_readlink, path, self, sizeof self - 1);
	self[n > 0 ? n : 0] = 0;
	snprintf(want, sizeof want, "%d", getpid());
	printf("  self is me: %s\n", strcmp(self, want) == 0 ? "yes" : "no");
}

/* Drops to uid / gid (with the supplementary group extra, if not 0). */
static void become(uid_t uid, gid_t gid, gid_t extra)
{
	gid_t groups[1] = {extra};
	if (setgroups(extra ? 1 : 0, groups) || setgid(gid) || setuid(uid)) {
		printf("become(%u): %s\n", uid, errname(errno));
		exit(3);
	}
	/* Linux makes a process that changed its ids non-dumpable, which
	 * only root could then see into; veil does not track that. */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

/* Runs the probes of mnt as uid / gid (+ extra) in a child. */
static void probe_as(const char *label, const char *mnt, uid_t uid, gid_t gid, gid_t extra)
{
	printf(" as %s:\n", label);
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) {
		if (uid)
			become(uid, gid, extra);
		probe_all(mnt);
		fflush(stdout);
		_exit(0);
	}
	int status;
	waitpid(p, &status, 0);
}

/* The callers who see least go first: Linux's dcache keeps the
 * /proc/<pid> dentries a listing or lookup made, and under hidepid=4 a
 * cached one answers EPERM where a fresh lookup answers ENOENT. */
static void probe_everyone(const char *mnt)
{
	probe_as("2000", mnt, 2000, 2000, 0);
	probe_as("2000 in group 3000", mnt, 2000, 2000, 3000);
	probe_as("1000 (A's uid)", mnt, 1000, 1000, 0);
	probe_as("root", mnt, 0, 0, 0);
}

static char line[8192];

/* The filesystem options of the mount at $S/rel in mountinfo (the last
 * field) and its mounts line's options. */
static void show_opts(const char *rel)
{
	char want[PATH_MAX + 64];
	snprintf(want, sizeof want, "%s/%s", scratch, rel);
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char found[1024] = "none";
	while (f && fgets(line, sizeof line, f)) {
		char *fields[64];
		int n = 0;
		for (char *t = strtok(line, " \n"); t && n < 64; t = strtok(NULL, " \n"))
			fields[n++] = t;
		if (n >= 10 && strcmp(fields[4], want) == 0)
			snprintf(found, sizeof found, "%s %s / %s", fields[n - 3], fields[n - 1],
				 fields[5]);
	}
	if (f)
		fclose(f);
	printf("mountinfo(%s): %s\n", rel, found);
	f = fopen("/proc/self/mounts", "r");
	snprintf(found, sizeof found, "none");
	while (f && fgets(line, sizeof line, f)) {
		char dev[256], at[PATH_MAX], type[64], opts[512];
		if (sscanf(line, "%255s %4095s %63s %511s", dev, at, type, opts) == 4 &&
		    strcmp(at, want) == 0)
			snprintf(found, sizeof found, "%s %s", type, opts);
	}
	if (f)
		fclose(f);
	printf("mounts(%s): %s\n", rel, found);
}

static void mount_case(const char *opts)
{
	printf("== proc with \"%s\"\n", opts);
	if (T("mount(proc p)", SC(SYS_mount, "proc", "p", "proc", 0, opts)) < 0)
		return;
	show_opts("p");
	probe_everyone("p");
	T("umount2(p)", SC(SYS_umount2, "p", 0));
}

/* The names /proc at mnt lists that are not pids (sorted, no dots). */
static void non_pids(const char *mnt)
{
	DIR *d = opendir(mnt);
	if (!d) {
		printf("opendir(%s): %s\n", mnt, errname(errno));
		return;
	}
	char names[64][64];
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 64) {
		if ((e->d_name[0] >= '0' && e->d_name[0] <= '9') || strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(names[n++], 64, "%.63s", e->d_name);
	}
	closedir(d);
	qsort(names, n, 64, (int (*)(const void *, const void *))strcmp);
	printf("%s lists:", mnt);
	for (int i = 0; i < n; i++)
		printf(" %s", names[i]);
	printf("\n");
}

static void subset(void)
{
	printf("== subset=pid\n");
	T("mount(proc p subset=pid)", SC(SYS_mount, "proc", "p", "proc", 0, "subset=pid"));
	show_opts("p");
	non_pids("p");
	const char *names[] = {"self", "thread-self", "meminfo", "sys", "mounts", "cpuinfo",
			       "stat", "nosuch", NULL};
	for (int i = 0; names[i]; i++) {
		char path[64];
		struct stat st;
		snprintf(path, sizeof path, "p/%s", names[i]);
		printf("lstat(%s) = %s\n", path, SC(SYS_lstat, path, &st) ? errname(errno) : "ok");
	}
	char path[64];
	snprintf(path, sizeof path, "p/%d", a_pid);
	printf("A listed: %s\n", lists("p", path + 2) == 1 ? "yes" : "no");
	printf("p/self/status: %s\n", read_result("p/self/status"));
	T("umount2(p)", SC(SYS_umount2, "p", 0));
}

static void remounts(void)
{
	printf("== remount\n");
	T("mount(proc p hidepid=2)", SC(SYS_mount, "proc", "p", "proc", 0, "hidepid=2"));
	show_opts("p");
	const char *steps[] = {"hidepid=0", "gid=5", "subset=pid", "hidepid=ptraceable",
			       "hidepid=noaccess,gid=0", "subset= (empty)", NULL};
	for (int i = 0; steps[i]; i++) {
		char label[128];
		snprintf(label, sizeof label, "remount(p %s)", steps[i]);
		char data[64];
		snprintf(data, sizeof data, "%.*s", (int)strcspn(steps[i], " "), steps[i]);
		T(label, SC(SYS_mount, NULL, "p", NULL, MS_REMOUNT, data));
		show_opts("p");
	}
	T("remount(p no data)", SC(SYS_mount, NULL, "p", NULL, MS_REMOUNT, NULL));
	show_opts("p");
	const char *bad[] = {"hidepid=3", "hidepid=x", "hidepid=", "subset=sys", "bogus",
			     "gid=x", "hidepid=2,bogus", NULL};
	for (int i = 0; bad[i]; i++) {
		char label[128];
		snprintf(label, sizeof label, "remount(p %s)", bad[i]);
		T(label, SC(SYS_mount, NULL, "p", NULL, MS_REMOUNT, bad[i]));
	}
	show_opts("p");
	/* hidepid=2 now hides A from uid 2000 here. */
	T("remount(p hidepid=invisible)", SC(SYS_mount, NULL, "p", NULL, MS_REMOUNT, "hidepid=invisible"));
	probe_as("2000", "p", 2000, 2000, 0);

	/* Two instances at once have their own options; a bind mount shares
	 * its instance's. */
	mkdir("q", 0755);
	mkdir("b", 0755);
	T("mount(proc q)", SC(SYS_mount, "proc", "q", "proc", 0, NULL));
	T("mount(bind p b)", SC(SYS_mount, "p", "b", NULL, MS_BIND, NULL));
	show_opts("q");
	show_opts("b");
	probe_as("2000 (q)", "q", 2000, 2000, 0);
	probe_as("2000 (b)", "b", 2000, 2000, 0);
	T("remount(p hidepid=off)", SC(SYS_mount, NULL, "p", NULL, MS_REMOUNT, "hidepid=off"));
	show_opts("b");
	T("umount2(b)", SC(SYS_umount2, "b", 0));
	T("umount2(q)", SC(SYS_umount2, "q", 0));
	T("umount2(p)", SC(SYS_umount2, "p", 0));

	const char *bad_new[] = {"hidepid=5", "hidepid=-1", "hidepid", "gid", "subset",
				 "subset=pid,nosuch=1", NULL};
	for (int i = 0; bad_new[i]; i++) {
		char label[128];
		snprintf(label, sizeof label, "mount(proc p %s)", bad_new[i]);
		T(label, SC(SYS_mount, "proc", "p", "proc", 0, bad_new[i]));
	}
}

static void personality_file(void)
{
	printf("== personality\n");
	static char buf[4096];
	struct stat st;
	T("stat(/proc/self/personality)", SC(SYS_stat, "/proc/self/personality", &st));
	printf("mode %o\n", st.st_mode & 07777);
	long n = slurp("/proc/self/personality", buf, sizeof buf);
	printf("personality: %s", n < 0 ? errname((int)-n) : buf);
	int old = personality(0xffffffff);
	personality(ADDR_NO_RANDOMIZE | READ_IMPLIES_EXEC);
	n = slurp("/proc/self/personality", buf, sizeof buf);
	printf("after personality(ADDR_NO_RANDOMIZE|READ_IMPLIES_EXEC): %s",
	       n < 0 ? errname((int)-n) : buf);
	/* A child reads it too (inherited), and its parent's. */
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) {
		char path[64];
		n = slurp("/proc/self/personality", buf, sizeof buf);
		printf("child's own: %s", n < 0 ? errname((int)-n) : buf);
		snprintf(path, sizeof path, "/proc/%d/personality", parent_pid);
		n = slurp(path, buf, sizeof buf);
		printf("child reads parent's: %s", n < 0 ? errname((int)-n) : buf);
		fflush(stdout);
		_exit(0);
	}
	waitpid(p, NULL, 0);
	personality(old);
	n = slurp("/proc/self/personality", buf, sizeof buf);
	printf("restored: %s", n < 0 ? errname((int)-n) : buf);
}

/* Other per-process files real tools read: present, with Linux's modes and
 * shapes (values that differ between runs are not printed). */
static void other_files(void)
{
	printf("== per-process files\n");
	const char *names[] = {"wchan", "stack", "sessionid", "oom_score", "oom_adj",
			       "oom_score_adj", "timerslack_ns", "coredump_filter", "cpuset",
			       "schedstat", "uid_map", "gid_map", "setgroups", "mountstats",
			       "attr/current", "attr/prev", "attr/exec", "loginuid", NULL};
	static char buf[1 << 16];
	for (int i = 0; names[i]; i++) {
		char path[128];
		struct stat st;
		snprintf(path, sizeof path, "/proc/self/%s", names[i]);
		if (SC(SYS_stat, path, &st)) {
			printf("%s: stat %s\n", names[i], errname(errno));
			continue;
		}
		printf("%s: mode %o", names[i], st.st_mode & 07777);
		if (strcmp(names[i], "stack") == 0) {
			/* Only the host's root reads a kernel stack: a child
			 * that is not root gets EACCES (after open). */
			printf("\n");
			continue;
		}
		long n = slurp(path, buf, sizeof buf);
		if (n < 0) {
			printf(" read %s\n", errname((int)-n));
			continue;
		}
		if (strcmp(names[i], "schedstat") == 0) {
			unsigned long long a, b, c;
			printf(" fields %d\n", sscanf(buf, "%llu %llu %llu", &a, &b, &c));
		} else if (strcmp(names[i], "oom_score") == 0) {
			long v = strtol(buf, NULL, 10);
			printf(" in [0, 2000]: %s\n", v >= 0 && v <= 2000 ? "yes" : "no");
		} else if (strcmp(names[i], "mountstats") == 0) {
			printf(" first: %.*s\n", (int)strcspn(buf, "\n"),
			       strstr(buf, "mounted on / ") ? "has /" : buf);
		} else {
			printf(" = \"");
			for (long j = 0; j < n; j++)
				printf(buf[j] == '\n' ? "\\n" : buf[j] == '\t' ? "\\t" : "%c", buf[j]);
			printf("\"\n");
		}
	}
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) {
		become(2000, 2000, 0);
		printf("as 2000: stack %s\n", read_result("/proc/self/stack"));
		printf("as 2000: attr/current write %s\n", ({
			       int fd = (int)SC(SYS_open, "/proc/self/attr/current", O_WRONLY);
			       const char *r = fd < 0 ? errname(errno)
				       : SC(SYS_write, fd, "x", 1) < 0 ? errname(errno) : "ok";
			       if (fd >= 0)
				       SC(SYS_close, fd);
			       r;
		       }));
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/timerslack_ns", parent_pid);
		printf("as 2000: parent's timerslack_ns %s\n", read_result(path));
		fflush(stdout);
		_exit(0);
	}
	waitpid(p, NULL, 0);
}

/* Global files tools read: present and shaped as Linux's. */
static void global_files(void)
{
	printf("== global files\n");
	static char buf[1 << 16];
	const char *keys[] = {"nr_free_pages", "nr_anon_pages", "pgpgin", "pswpout", "pgfault", NULL};
	long n = slurp("/proc/vmstat", buf, sizeof buf);
	printf("vmstat: %s\n", n < 0 ? errname((int)-n) : "ok");
	for (int i = 0; n > 0 && keys[i]; i++) {
		char *at = strstr(buf, keys[i]);
		printf("  %s: %s\n", keys[i], at && at[strlen(keys[i])] == ' ' ? "yes" : "no");
	}
	n = slurp("/proc/swaps", buf, sizeof buf);
	printf("swaps header: %s\n",
	       n > 0 && strncmp(buf, "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n", 40) == 0
		       ? "yes" : "no");
	n = slurp("/proc/partitions", buf, sizeof buf);
	printf("partitions header: %s\n",
	       n > 0 && strncmp(buf, "major minor  #blocks  name\n\n", 28) == 0 ? "yes" : "no");
	printf("diskstats: %s\n", read_result("/proc/diskstats"));
	n = slurp("/proc/devices", buf, sizeof buf);
	printf("devices: chr=%s pts=%s blk=%s\n", strstr(buf, "Character devices:\n") ? "yes" : "no",
	       strstr(buf, "\n136 pts\n") ? "yes" : "no",
	       strstr(buf, "\nBlock devices:\n") ? "yes" : "no");
	n = slurp("/proc/cgroups", buf, sizeof buf);
	printf("cgroups header: %s\n",
	       n > 0 && strncmp(buf, "#subsys_name\thierarchy\tnum_cgroups\tenabled\n", 43) == 0
		       ? "yes" : "no");
	const char *sys[] = {"kernel/random/entropy_avail", "kernel/random/poolsize", "kernel/shmmax",
			     "kernel/shmall", "kernel/shmmni", "kernel/msgmax", "kernel/msgmnb",
			     "kernel/msgmni", "kernel/sem", "vm/swappiness",
			     "fs/inotify/max_user_instances", "fs/inotify/max_queued_events", NULL};
	for (int i = 0; sys[i]; i++) {
		char path[128];
		snprintf(path, sizeof path, "/proc/sys/%s", sys[i]);
		n = slurp(path, buf, sizeof buf);
		if (n < 0) {
			printf("%s: %s\n", sys[i], errname((int)-n));
			continue;
		}
		buf[strcspn(buf, "\n")] = 0;
		for (char *c = buf; *c; c++)
			if (*c == '\t')
				*c = ' ';
		printf("%s = %s\n", sys[i], buf);
	}
	const char *present[] = {"kernel/threads-max", "fs/inotify/max_user_watches", "fs/file-nr",
				 NULL};
	for (int i = 0; present[i]; i++) {
		char path[128];
		unsigned long long a = 0, b = 0, c = 0;
		snprintf(path, sizeof path, "/proc/sys/%s", present[i]);
		n = slurp(path, buf, sizeof buf);
		int k = n > 0 ? sscanf(buf, "%llu %llu %llu", &a, &b, &c) : 0;
		printf("%s: numbers %d, first > 0: %s\n", present[i], k, a > 0 ? "yes" : "no");
	}
}

int main(int argc, char **argv)
{
	setup(argc, argv, "procmount");
	parent_pid = getpid();
	/* Our own namespace, private, so that nothing reaches the host. */
	T("unshare(CLONE_NEWNS)", SC(SYS_unshare, CLONE_NEWNS));
	T("make-rprivate(/)", SC(SYS_mount, NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
	/* The probers (uid 2000) must reach the scratch directory. */
	SC(SYS_chmod, ".", 0755);
	mkdir("p", 0755);

	if (pipe(a_release))
		return 3;
	int ready[2];
	if (pipe(ready))
		return 3;
	fflush(stdout);
	a_pid = fork();
	if (a_pid == 0) {
		become(1000, 1000, 0);
		close(a_release[1]);
		char c;
		SC(SYS_write, ready[1], "r", 1);
		SC(SYS_read, a_release[0], &c, 1);
		_exit(0);
	}
	close(a_release[0]);
	char c;
	SC(SYS_read, ready[0], &c, 1);

	const char *cases[] = {"", "hidepid=1", "hidepid=noaccess", "hidepid=2",
			       "hidepid=invisible", "hidepid=4", "hidepid=ptraceable",
			       "hidepid=2,gid=3000", "hidepid=1,gid=3000", "hidepid=off", NULL};
	for (int i = 0; cases[i]; i++)
		mount_case(cases[i]);
	subset();
	remounts();
	personality_file();
	other_files();
	global_files();

	close(a_release[1]);
	waitpid(a_pid, NULL, 0);
	return 0;
}
