/*
 * Mounting: mount(2) (tmpfs with options, proc, sysfs, bind mounts of
 * directories and files, recursive binds, remounts, per-mount flags,
 * propagation changes, MS_MOVE), umount2 (busy, lazy, expiring, errors),
 * chroot, pivot_root (both forms, and the pivot_root(".", ".") idiom),
 * unshare(CLONE_NEWNS), and EPERM for a caller without capabilities.
 *
 * Natively this runs as root on the host: everything happens in the
 * program's own mount namespace, made private first, so the host never
 * sees a mount. Mounts are made in the scratch directory. What differs
 * between hosts (mount ids, device numbers, options a host kernel adds
 * such as inode64) is never printed: only the options the program set.
 */
#include "common.h"
#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/wait.h>

#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif
#ifndef MNT_EXPIRE
#define MNT_EXPIRE 4
#endif
#ifndef UMOUNT_NOFOLLOW
#define UMOUNT_NOFOLLOW 8
#endif
#define K_TMPFS_MAGIC 0x01021994
#define K_SYSFS_MAGIC 0x62656572
#define K_PROC_MAGIC 0x9fa0

static char line[4096];

/* Splits s at spaces into at most max fields; returns how many. */
static int split(char *s, char **f, int max)
{
	int n = 0;
	char *save = NULL;
	for (char *t = strtok_r(s, " \n", &save); t && n < max; t = strtok_r(NULL, " \n", &save))
		f[n++] = t;
	return n;
}

/* Prints the options of a comma list that are in keep (prefix match). */
static void print_opts(const char *label, const char *opts, const char *const *keep)
{
	char buf[1024];
	snprintf(buf, sizeof buf, "%s", opts);
	printf(" %s=", label);
	int first = 1;
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		for (int i = 0; keep[i]; i++) {
			size_t n = strlen(keep[i]);
			if (strncmp(t, keep[i], n) == 0 && (t[n] == 0 || keep[i][n - 1] == '=')) {
				printf("%s%s", first ? "" : ",", t);
				first = 0;
				break;
			}
		}
	}
}

static const char *const mnt_keep[] = { "rw", "ro", "nosuid", "nodev", "noexec", "noatime",
					"nodiratime", "relatime", "nosymfollow", NULL };
static const char *const sb_keep[] = { "rw", "ro", "sync", "dirsync", "mand", "lazytime",
				       "size=", "nr_inodes=", "mode=", "uid=", "gid=", NULL };

/* The mountinfo line of the mount at $S/rel, reduced to what is stable. */
static void mountinfo(const char *rel)
{
	char want[PATH_MAX + 64];
	snprintf(want, sizeof want, "%s/%s", scratch, rel);
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f) {
		printf("mountinfo(%s): cannot open: %s\n", rel, errname(errno));
		return;
	}
	int found = 0;
	char last[4096] = "";
	while (fgets(line, sizeof line, f)) {
		char copy[4096];
		snprintf(copy, sizeof copy, "%s", line);
		char *fl[32];
		int n = split(copy, fl, 32);
		if (n >= 10 && strcmp(fl[4], want) == 0) {
			found++;
			snprintf(last, sizeof last, "%s", line);
		}
	}
	fclose(f);
	if (!found) {
		printf("mountinfo(%s): none\n", rel);
		return;
	}
	/* The top one (last listed) is what the path shows. */
	char *fl[32];
	int n = split(last, fl, 32);
	int dash = 6;
	while (dash < n && strcmp(fl[dash], "-") != 0)
		dash++;
	int shared = 0, master = 0, unbindable = 0;
	for (int i = 6; i < dash; i++) {
		shared |= strncmp(fl[i], "shared:", 7) == 0;
		master |= strncmp(fl[i], "master:", 7) == 0;
		unbindable |= strcmp(fl[i], "unbindable") == 0;
	}
	printf("mountinfo(%s): count=%d root=%s", rel, found, fl[3]);
	print_opts("opts", fl[5], mnt_keep);
	printf(" shared=%s master=%s unbindable=%s", shared ? "yes" : "no", master ? "yes" : "no",
	       unbindable ? "yes" : "no");
	if (dash + 3 < n) {
		printf(" type=%s source=%s", fl[dash + 1], fl[dash + 2]);
		print_opts("super", fl[dash + 3], sb_keep);
	}
	printf("\n");
}

/* For mounts of the host's filesystem: the count, the flags, and whether
 * the mount's root ends in suffix. */
static void mountinfo_brief(const char *rel, const char *suffix)
{
	char want[PATH_MAX + 64];
	snprintf(want, sizeof want, "%s/%s", scratch, rel);
	FILE *f = fopen("/proc/self/mountinfo", "r");
	int found = 0, suffix_ok = 0;
	char opts[1024] = "";
	while (f && fgets(line, sizeof line, f)) {
		char *fl[32];
		if (split(line, fl, 32) >= 10 && strcmp(fl[4], want) == 0) {
			found++;
			size_t n = strlen(fl[3]), m = strlen(suffix);
			suffix_ok = n >= m && strcmp(fl[3] + n - m, suffix) == 0;
			snprintf(opts, sizeof opts, "%s", fl[5]);
		}
	}
	if (f)
		fclose(f);
	printf("mountinfo(%s): count=%d root_ends_with_%s=%s", rel, found, suffix,
	       suffix_ok ? "yes" : "no");
	print_opts("opts", opts, mnt_keep);
	printf("\n");
}

/* The /proc/self/mounts line of the mount at path (as the process sees it). */
static void mounts_line(const char *label, const char *path)
{
	FILE *f = fopen("/proc/self/mounts", "r");
	if (!f) {
		printf("mounts(%s): cannot open: %s\n", label, errname(errno));
		return;
	}
	char last[4096] = "";
	while (fgets(line, sizeof line, f)) {
		char copy[4096];
		snprintf(copy, sizeof copy, "%s", line);
		char *fl[8];
		if (split(copy, fl, 8) >= 4 && strcmp(fl[1], path) == 0)
			snprintf(last, sizeof last, "%s", line);
	}
	fclose(f);
	char *fl[8];
	if (split(last, fl, 8) < 6) {
		printf("mounts(%s): none\n", label);
		return;
	}
	static const char *const keep[] = { "rw", "ro", "sync", "dirsync", "mand", "lazytime",
					    "nosuid", "nodev", "noexec", "noatime", "relatime",
					    "size=", "nr_inodes=", "mode=", NULL };
	printf("mounts(%s): source=%s type=%s", label, fl[0], fl[2]);
	print_opts("opts", fl[3], keep);
	printf(" tail=%s %s\n", fl[4], fl[5]);
}

static void mounts_rel(const char *rel)
{
	char mp[PATH_MAX + 8];
	snprintf(mp, sizeof mp, "%s/%s", scratch, rel);
	mounts_line(rel, mp);
}

static void sfs(const char *path)
{
	struct statfs s;
	if (SC(SYS_statfs, path, &s) != 0) {
		printf("statfs(%s) = -1 %s\n", path, errname(errno));
		return;
	}
	const char *type = s.f_type == K_TMPFS_MAGIC  ? "tmpfs"
			   : s.f_type == K_SYSFS_MAGIC ? "sysfs"
			   : s.f_type == K_PROC_MAGIC  ? "proc"
						       : "other";
	printf("statfs(%s): type=%s bsize=%ld blocks=%lu bfree=%lu files=%lu ffree=%lu namelen=%ld flags=0x%lx\n",
	       path, type, (long)s.f_bsize, (unsigned long)s.f_blocks, (unsigned long)s.f_bfree,
	       (unsigned long)s.f_files, (unsigned long)s.f_ffree, (long)s.f_namelen,
	       (unsigned long)s.f_flags);
}

static void show_file(const char *path)
{
	char buf[256];
	int fd = (int)SC(SYS_open, path, O_RDONLY);
	if (fd < 0) {
		printf("read(%s) = -1 %s\n", path, errname(errno));
		return;
	}
	long n = SC(SYS_read, fd, buf, sizeof buf - 1);
	SC(SYS_close, fd);
	if (n < 0) {
		printf("read(%s) = -1 %s\n", path, errname(errno));
		return;
	}
	buf[n] = 0;
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = 0;
	printf("read(%s) = \"%s\"\n", path, buf);
}

static void exists(const char *path)
{
	struct stat st;
	long r = SC(SYS_newfstatat, AT_FDCWD, path, &st, 0);
	if (r == 0)
		printf("stat(%s) = 0 %s\n", path, ftype(st.st_mode));
	else
		printf("stat(%s) = -1 %s\n", path, errname(errno));
}

static void list_dir(const char *path)
{
	DIR *d = opendir(path);
	if (!d) {
		printf("ls(%s) = -1 %s\n", path, errname(errno));
		return;
	}
	char names[64][256];
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 64) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			snprintf(names[n++], 256, "%s", e->d_name);
	}
	closedir(d);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (strcmp(names[j], names[i]) < 0) {
				char t[256];
				memcpy(t, names[i], 256);
				memcpy(names[i], names[j], 256);
				memcpy(names[j], t, 256);
			}
	printf("ls(%s) =", path);
	for (int i = 0; i < n; i++)
		printf(" %s", names[i]);
	printf("\n");
}

static ino_t ino_of(const char *path)
{
	struct stat st;
	if (SC(SYS_newfstatat, AT_FDCWD, path, &st, 0) != 0)
		return 0;
	return st.st_ino;
}

static void mkd(const char *path)
{
	if (SC(SYS_mkdir, path, 0755) != 0 && errno != EEXIST) {
		printf("setup: mkdir(%s): %s\n", path, errname(errno));
		exit(3);
	}
}

/* Runs fn in a child process and waits for it. */
static void in_child(const char *what, void (*fn)(void))
{
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) {
		fn();
		fflush(stdout);
		_exit(0);
	}
	int st = 0;
	waitpid(p, &st, 0);
	printf("%s: exited=%d status=%d\n", what, WIFEXITED(st), WEXITSTATUS(st));
}

static void tmpfs_basics(void)
{
	mkd("m");
	T("mount(tmpfs m size=64k,nr_inodes=8,mode=0750)",
	  SC(SYS_mount, "none", "m", "tmpfs", 0, "size=64k,nr_inodes=8,mode=0750"));
	sfs("m");
	struct stat st;
	SC(SYS_newfstatat, AT_FDCWD, "m", &st, 0);
	printf("stat(m): mode=0%o nlink=%lu uid=%u gid=%u\n", st.st_mode, (unsigned long)st.st_nlink,
	       st.st_uid, st.st_gid);
	mountinfo("m");
	char mp[PATH_MAX + 8];
	snprintf(mp, sizeof mp, "%s/m", scratch);
	mounts_line("m", mp);

	make_file("m/a", "hello", 0644);
	show_file("m/a");
	/* ENOSPC: 16 pages, one used by m/a; the write is short, then fails. */
	static char big[100000];
	memset(big, 'x', sizeof big);
	int fd = (int)SC(SYS_open, "m/big", O_CREAT | O_WRONLY, 0644);
	T("write(m/big, 100000)", SC(SYS_write, fd, big, sizeof big));
	T("write(m/big, 10) again", SC(SYS_write, fd, big, 10));
	SC(SYS_close, fd);
	sfs("m");
	/* Inodes: the root, a and big use 3 of 8. */
	char name[32];
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof name, "m/c%d", i);
		fd = (int)SC(SYS_open, name, O_CREAT | O_WRONLY, 0644);
		printf("creat(%s) = %s\n", name, fd >= 0 ? "ok" : errname(errno));
		if (fd >= 0)
			SC(SYS_close, fd);
	}
	T("mkdir(m/d) full", SC(SYS_mkdir, "m/d", 0755));
	T("unlink(m/big)", SC(SYS_unlink, "m/big"));
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof name, "m/c%d", i);
		SC(SYS_unlink, name);
	}
	sfs("m");
	T("mkdir(m/sub)", SC(SYS_mkdir, "m/sub", 0755));
	T("mkdir(m/plain)", SC(SYS_mkdir, "m/plain", 0755));
}

static void bind_mounts(void)
{
	mkd("b");
	T("mount(bind m b)", SC(SYS_mount, "m", "b", NULL, MS_BIND, NULL));
	check("bind shows the same file", ino_of("b/a") == ino_of("m/a") && ino_of("m/a") != 0);
	make_file("b/from-b", "via b", 0644);
	show_file("m/from-b");
	mountinfo("b");
	/* A bind of a subdirectory shows its path as the mount's root. */
	mkd("bs");
	T("mount(bind m/sub bs)", SC(SYS_mount, "m/sub", "bs", NULL, MS_BIND, NULL));
	mountinfo("bs");

	make_file("f1", "one", 0644);
	make_file("f2", "two", 0644);
	make_file("f3", "three", 0644);
	mkd("d2");
	T("mount(bind f1 f2)", SC(SYS_mount, "f1", "f2", NULL, MS_BIND, NULL));
	show_file("f2");
	mountinfo_brief("f2", "/f1");
	T("mount(bind dir m onto file f3)", SC(SYS_mount, "m", "f3", NULL, MS_BIND, NULL));
	T("mount(bind file f1 onto dir d2)", SC(SYS_mount, "f1", "d2", NULL, MS_BIND, NULL));
	T("mount(bind missing)", SC(SYS_mount, "nonexistent", "d2", NULL, MS_BIND, NULL));
	T("mount(bind NULL source)", SC(SYS_mount, NULL, "d2", NULL, MS_BIND, NULL));
	T("mount(bind empty source)", SC(SYS_mount, "", "d2", NULL, MS_BIND, NULL));
	T("umount2(f2)", SC(SYS_umount2, "f2", 0));
	show_file("f2");

	/* Recursive and non-recursive binds of a tree with a mount inside. */
	T("mount(tmpfs m/sub)", SC(SYS_mount, "inner", "m/sub", "tmpfs", 0, "size=16k"));
	make_file("m/sub/x", "deep", 0644);
	mkd("r");
	mkd("nr");
	T("mount(bind rec m r)", SC(SYS_mount, "m", "r", NULL, MS_BIND | MS_REC, NULL));
	T("mount(bind m nr)", SC(SYS_mount, "m", "nr", NULL, MS_BIND, NULL));
	show_file("r/sub/x");
	exists("nr/sub/x");
	mountinfo("r/sub");
	mountinfo("nr/sub");
	T("umount2(r/sub)", SC(SYS_umount2, "r/sub", 0));
	T("umount2(r)", SC(SYS_umount2, "r", 0));
	T("umount2(nr)", SC(SYS_umount2, "nr", 0));
	T("umount2(bs)", SC(SYS_umount2, "bs", 0));
}

static void remounts(void)
{
	T("remount(b bind,ro)", SC(SYS_mount, NULL, "b", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));
	T("open(b/new, O_CREAT)", SC(SYS_open, "b/new", O_CREAT | O_WRONLY, 0644));
	T("open(b/a, O_WRONLY)", SC(SYS_open, "b/a", O_WRONLY));
	T("mkdir(b/dd)", SC(SYS_mkdir, "b/dd", 0755));
	int fd = (int)SC(SYS_open, "m/new", O_CREAT | O_WRONLY, 0644);
	printf("open(m/new, O_CREAT) = %s\n", fd >= 0 ? "ok" : errname(errno));
	if (fd >= 0)
		SC(SYS_close, fd);
	sfs("b");
	mountinfo("b");
	mountinfo("m");

	/* The whole filesystem read-only: every mount of it refuses. */
	T("remount(m ro)", SC(SYS_mount, NULL, "m", NULL, MS_REMOUNT | MS_RDONLY, NULL));
	T("open(m/new2, O_CREAT)", SC(SYS_open, "m/new2", O_CREAT | O_WRONLY, 0644));
	T("unlink(m/new)", SC(SYS_unlink, "m/new"));
	mountinfo("m");
	char mp[PATH_MAX + 8];
	snprintf(mp, sizeof mp, "%s/m", scratch);
	mounts_line("m", mp);
	T("remount(m rw)", SC(SYS_mount, NULL, "m", NULL, MS_REMOUNT, NULL));
	T("unlink(m/new)", SC(SYS_unlink, "m/new"));
	T("unlink(b/a) (bind still ro)", SC(SYS_unlink, "b/a"));
	T("remount(b bind rw)", SC(SYS_mount, NULL, "b", NULL, MS_REMOUNT | MS_BIND, NULL));
	mountinfo("b");

	/* Remount with tmpfs options. */
	T("remount(m size=128k)", SC(SYS_mount, NULL, "m", NULL, MS_REMOUNT, "size=128k"));
	sfs("m");
	T("remount(m size=4k) too small", SC(SYS_mount, NULL, "m", NULL, MS_REMOUNT, "size=4k"));
	T("remount(m bogus)", SC(SYS_mount, NULL, "m", NULL, MS_REMOUNT, "bogus=1"));
	T("remount(m/plain) not a mount", SC(SYS_mount, NULL, "m/plain", NULL, MS_REMOUNT, NULL));
	T("remount(m/plain bind) not a mount",
	  SC(SYS_mount, NULL, "m/plain", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));
	mountinfo("m");
}

static void flags_and_types(void)
{
	mkd("n");
	T("mount(tmpfs n nosuid,nodev,noexec,noatime)",
	  SC(SYS_mount, "none", "n", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME, NULL));
	mountinfo("n");
	sfs("n");
	mkd("n2");
	T("mount(tmpfs n2 strictatime,ro,nodiratime)",
	  SC(SYS_mount, "none", "n2", "tmpfs", MS_STRICTATIME | MS_RDONLY | MS_NODIRATIME, NULL));
	mountinfo("n2");
	sfs("n2");
	T("mkdir(n2/x) on ro", SC(SYS_mkdir, "n2/x", 0755));
	T("umount2(n2)", SC(SYS_umount2, "n2", 0));
	T("mount(magic in high bits)", SC(SYS_mount, "none", "n2", "tmpfs", 0xC0ED0000UL, "ro"));
	mountinfo("n2");
	T("umount2(n2)", SC(SYS_umount2, "n2", 0));

	/* Errors of new mounts. */
	T("mount(no such type)", SC(SYS_mount, "none", "n2", "nosuchfs", 0, NULL));
	T("mount(NULL type)", SC(SYS_mount, "none", "n2", NULL, 0, NULL));
	T("mount(target missing)", SC(SYS_mount, "none", "nonexistent/x", "tmpfs", 0, NULL));
	T("mount(target under a file)", SC(SYS_mount, "none", "f1/x", "tmpfs", 0, NULL));
	T("mount(tmpfs onto a file)", SC(SYS_mount, "none", "f1", "tmpfs", 0, NULL));
	T("mount(bad size)", SC(SYS_mount, "none", "n2", "tmpfs", 0, "size=abc"));
	T("mount(bad option)", SC(SYS_mount, "none", "n2", "tmpfs", 0, "nosuchoption"));
	T("mount(MS_NOUSER)", SC(SYS_mount, "none", "n2", "tmpfs", 1UL << 31, NULL));
	T("mount(MS_MANDLOCK)", SC(SYS_mount, "none", "n2", "tmpfs", MS_MANDLOCK, NULL));
	mountinfo("n2");
	mounts_rel("n2");
	sfs("n2");
	T("umount2(n2)", SC(SYS_umount2, "n2", 0));
	T("mount(sync,dirsync,lazytime in data)",
	  SC(SYS_mount, "none", "n2", "tmpfs", 0, "sync,dirsync,lazytime,nomand"));
	mountinfo("n2");
	sfs("n2");
	T("remount(n2 async,mand)", SC(SYS_mount, NULL, "n2", NULL, MS_REMOUNT, "async,mand"));
	mountinfo("n2");
	T("umount2(n2)", SC(SYS_umount2, "n2", 0));
	T("mount(silent in data)", SC(SYS_mount, "none", "n2", "tmpfs", 0, "silent"));
	T("mount(bad target pointer)", SC(SYS_mount, "none", BADPTR, "tmpfs", 0, NULL));
	T("mount(bad type pointer)", SC(SYS_mount, "none", "n2", BADPTR, 0, NULL));
	T("mount(bad source pointer)", SC(SYS_mount, BADPTR, "n2", "tmpfs", 0, NULL));
	T("mount(bad data pointer)", SC(SYS_mount, "none", "n2", "tmpfs", 0, BADPTR));
	T("mount(type too long)", SC(SYS_mount, "none", "n2", long_name(5000), 0, NULL));

	/* proc and sysfs. */
	mkd("p");
	T("mount(proc p)", SC(SYS_mount, "proc", "p", "proc", 0, NULL));
	char self[64], want[64];
	long n = SC(SYS_readlink, "p/self", self, sizeof self - 1);
	self[n > 0 ? n : 0] = 0;
	snprintf(want, sizeof want, "%d", getpid());
	check("p/self is this process", strcmp(self, want) == 0);
	sfs("p");
	mountinfo("p");
	T("umount2(p)", SC(SYS_umount2, "p", 0));
	mkd("s");
	T("mount(sysfs s)", SC(SYS_mount, "sysfs", "s", "sysfs", 0, NULL));
	show_file("s/devices/system/cpu/online");
	check("same as /sys", ino_of("s/devices/system/cpu/online") ==
				      ino_of("/sys/devices/system/cpu/online"));
	sfs("s");
	T("umount2(s)", SC(SYS_umount2, "s", 0));
	T("mount(sysfs over /sys)", SC(SYS_mount, "sysfs", "/sys", "sysfs", 0, NULL));
}

static void propagation(void)
{
	T("make-shared(m)", SC(SYS_mount, NULL, "m", NULL, MS_SHARED, NULL));
	mountinfo("m");
	T("make-slave(m)", SC(SYS_mount, NULL, "m", NULL, MS_SLAVE, NULL));
	mountinfo("m");
	T("make-shared(m) again", SC(SYS_mount, NULL, "m", NULL, MS_SHARED, NULL));
	mkd("sh");
	T("mount(bind m sh)", SC(SYS_mount, "m", "sh", NULL, MS_BIND, NULL));
	mountinfo("sh");
	T("make-slave(sh) (has a peer)", SC(SYS_mount, NULL, "sh", NULL, MS_SLAVE, NULL));
	mountinfo("sh");
	T("umount2(sh)", SC(SYS_umount2, "sh", 0));
	T("make-unbindable(m)", SC(SYS_mount, NULL, "m", NULL, MS_UNBINDABLE, NULL));
	mountinfo("m");
	T("mount(bind unbindable m)", SC(SYS_mount, "m", "d2", NULL, MS_BIND, NULL));
	T("make-private(m)", SC(SYS_mount, NULL, "m", NULL, MS_PRIVATE, NULL));
	mountinfo("m");
	T("make-rprivate(m)", SC(SYS_mount, NULL, "m", NULL, MS_PRIVATE | MS_REC, NULL));
	T("shared|private", SC(SYS_mount, NULL, "m", NULL, MS_SHARED | MS_PRIVATE, NULL));
	T("private|nosuid", SC(SYS_mount, NULL, "m", NULL, MS_PRIVATE | MS_NOSUID, NULL));
	T("private on a plain dir", SC(SYS_mount, NULL, "m/plain", NULL, MS_PRIVATE, NULL));
}

static void moves(void)
{
	mkd("mv1");
	mkd("mv2");
	T("mount(tmpfs mv1)", SC(SYS_mount, "none", "mv1", "tmpfs", 0, NULL));
	make_file("mv1/t", "moved", 0644);
	T("move(mv1 -> mv2)", SC(SYS_mount, "mv1", "mv2", NULL, MS_MOVE, NULL));
	show_file("mv2/t");
	exists("mv1/t");
	mountinfo("mv1");
	mountinfo("mv2");
	mkd("mv2/in");
	T("move(mv2 -> mv2/in) into itself", SC(SYS_mount, "mv2", "mv2/in", NULL, MS_MOVE, NULL));
	T("move(not a mount)", SC(SYS_mount, "m/plain", "mv1", NULL, MS_MOVE, NULL));
	T("move(NULL source)", SC(SYS_mount, NULL, "mv1", NULL, MS_MOVE, NULL));
	T("move(dir onto file)", SC(SYS_mount, "mv2", "f1", NULL, MS_MOVE, NULL));
	T("umount2(mv2)", SC(SYS_umount2, "mv2", 0));
}

static void umounts(void)
{
	T("umount2(nonexistent)", SC(SYS_umount2, "nonexistent", 0));
	T("umount2(bad flags)", SC(SYS_umount2, "n", 0x10));
	T("umount2(m/plain) not a mount", SC(SYS_umount2, "m/plain", 0));
	T("umount2(bad pointer)", SC(SYS_umount2, BADPTR, 0));

	/* Busy: an open file, a working directory, a mount inside. */
	make_file("n/open", "still here", 0644);
	int fd = (int)SC(SYS_open, "n/open", O_RDONLY);
	T("umount2(n) with a file open", SC(SYS_umount2, "n", 0));
	T("umount2(n, MNT_DETACH)", SC(SYS_umount2, "n", MNT_DETACH));
	exists("n/open");
	char buf[32] = { 0 };
	T("read(detached file)", SC(SYS_read, fd, buf, sizeof buf - 1));
	SC(SYS_close, fd);
	T("mount(tmpfs n)", SC(SYS_mount, "none", "n", "tmpfs", 0, NULL));
	T("chdir(n)", SC(SYS_chdir, "n"));
	char here[PATH_MAX + 8];
	snprintf(here, sizeof here, "%s/n", scratch);
	T("umount2(n) from inside", SC(SYS_umount2, here, 0));
	T("chdir(scratch)", SC(SYS_chdir, scratch));
	mkd("n/in");
	T("mount(tmpfs n/in)", SC(SYS_mount, "none", "n/in", "tmpfs", 0, NULL));
	T("umount2(n) with a mount inside", SC(SYS_umount2, "n", 0));
	T("umount2(n/in, MNT_FORCE)", SC(SYS_umount2, "n/in", MNT_FORCE));
	T("umount2(n, MNT_EXPIRE)", SC(SYS_umount2, "n", MNT_EXPIRE));
	T("umount2(n, MNT_EXPIRE|MNT_DETACH)", SC(SYS_umount2, "n", MNT_EXPIRE | MNT_DETACH));
	T("umount2(n, MNT_EXPIRE) again", SC(SYS_umount2, "n", MNT_EXPIRE));
	mountinfo("n");

	/* A symlink to a mount: UMOUNT_NOFOLLOW looks at the link itself. */
	T("symlink(m, lnk)", SC(SYS_symlink, "m", "lnk"));
	T("umount2(lnk, UMOUNT_NOFOLLOW)", SC(SYS_umount2, "lnk", UMOUNT_NOFOLLOW));
	T("umount2(b)", SC(SYS_umount2, "b", 0));
	T("umount2(m/sub)", SC(SYS_umount2, "m/sub", 0));
	T("umount2(lnk)", SC(SYS_umount2, "lnk", 0));
	mountinfo("m");
	exists("m/a");
}

/* chroot: "/" and ".." stay inside; /proc mounted inside shows only it. */
static void chroot_child(void)
{
	T("chroot(f1) not a dir", SC(SYS_chroot, "f1"));
	T("chroot(missing)", SC(SYS_chroot, "nonexistent"));
	T("chroot(bad pointer)", SC(SYS_chroot, BADPTR));
	T("chroot(jail)", SC(SYS_chroot, "jail"));
	T("chdir(/)", SC(SYS_chdir, "/"));
	exists("/marker");
	exists("/../../marker");
	check("/.. is /", ino_of("/..") == ino_of("/"));
	char cwd[PATH_MAX];
	T("getcwd", SC(SYS_getcwd, cwd, sizeof cwd) > 0 ? 0 : -1);
	printf("cwd = %s\n", cwd);
	T("mount(proc /proc)", SC(SYS_mount, "proc", "/proc", "proc", 0, NULL));
	char root[PATH_MAX];
	long n = SC(SYS_readlink, "/proc/self/root", root, sizeof root - 1);
	root[n > 0 ? n : 0] = 0;
	printf("/proc/self/root -> %s\n", root);
	mounts_line("jail /proc", "/proc");
	FILE *f = fopen("/proc/self/mounts", "r");
	int lines = 0;
	while (f && fgets(line, sizeof line, f))
		lines++;
	if (f)
		fclose(f);
	printf("mounts lines in the jail = %d\n", lines);
	T("umount2(/proc)", SC(SYS_umount2, "/proc", 0));
}

/* pivot_root(new, put_old), then the old root detached. */
static void pivot_child(void)
{
	T("unshare(CLONE_NEWNS)", SC(SYS_unshare, CLONE_NEWNS));
	T("make-rprivate(/)", SC(SYS_mount, NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
	mkd("pr");
	T("mount(tmpfs pr)", SC(SYS_mount, "none", "pr", "tmpfs", 0, NULL));
	mkd("pr/old");
	make_file("pr/hello", "hi", 0644);
	T("pivot_root(pr, pr/missing)", SC(SYS_pivot_root, "pr", "pr/missing"));
	T("pivot_root(pr/hello, pr/old)", SC(SYS_pivot_root, "pr/hello", "pr/old"));
	T("pivot_root(jail, jail/inner) on the root mount", SC(SYS_pivot_root, "jail", "jail/inner"));
	T("pivot_root(pr, jail) put_old on the root mount", SC(SYS_pivot_root, "pr", "jail"));
	T("pivot_root(/, /)", SC(SYS_pivot_root, "/", "/"));
	mkd("pr/sub");
	mkd("pr/sub/o");
	T("pivot_root(pr/sub, pr/sub/o) not a mount", SC(SYS_pivot_root, "pr/sub", "pr/sub/o"));
	mkd("pr2");
	T("mount(tmpfs pr2)", SC(SYS_mount, "none", "pr2", "tmpfs", 0, NULL));
	T("pivot_root(pr, pr2) put_old outside", SC(SYS_pivot_root, "pr", "pr2"));
	T("pivot_root(bad pointer)", SC(SYS_pivot_root, BADPTR, "pr/old"));
	T("pivot_root(pr, pr/old)", SC(SYS_pivot_root, "pr", "pr/old"));
	exists("/hello");
	exists("/old/proc/self");
	char root[PATH_MAX];
	long n = SC(SYS_readlink, "/old/proc/self/root", root, sizeof root - 1);
	root[n > 0 ? n : 0] = 0;
	printf("/old/proc/self/root -> %s\n", root);
	T("chdir(/)", SC(SYS_chdir, "/"));
	T("umount2(/old, MNT_DETACH)", SC(SYS_umount2, "/old", MNT_DETACH));
	list_dir("/");
	exists("/old/proc");
	show_file("/hello");
}

/* The pivot_root(".", ".") idiom. */
static void pivot_dot_child(void)
{
	T("unshare(CLONE_NEWNS)", SC(SYS_unshare, CLONE_NEWNS));
	T("make-rprivate(/)", SC(SYS_mount, NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
	mkd("pd");
	T("mount(tmpfs pd)", SC(SYS_mount, "none", "pd", "tmpfs", 0, NULL));
	make_file("pd/inside", "yes", 0644);
	T("pivot_root(., .) on the root mount", SC(SYS_pivot_root, ".", "."));
	T("chdir(pd)", SC(SYS_chdir, "pd"));
	T("pivot_root(., .)", SC(SYS_pivot_root, ".", "."));
	T("umount2(., MNT_DETACH)", SC(SYS_umount2, ".", MNT_DETACH));
	T("chdir(/)", SC(SYS_chdir, "/"));
	list_dir("/");
	list_dir("/..");
	show_file("/inside");
	exists("/proc");
	char cwd[PATH_MAX];
	T("getcwd", SC(SYS_getcwd, cwd, sizeof cwd) > 0 ? 0 : -1);
	printf("cwd = %s\n", cwd);
}

/* A mount made after unshare(CLONE_NEWNS) is not seen by the parent. */
static int sync_pipe[2], go_pipe[2];
static void unshare_child(void)
{
	T("unshare(CLONE_NEWNS)", SC(SYS_unshare, CLONE_NEWNS));
	T("mount(tmpfs iso)", SC(SYS_mount, "none", "iso", "tmpfs", 0, NULL));
	make_file("iso/x", "only here", 0644);
	show_file("iso/x");
	mountinfo("iso");
	fflush(stdout);
	char c = 1;
	SC(SYS_write, sync_pipe[1], &c, 1);
	SC(SYS_read, go_pipe[0], &c, 1);
}

/* Without CAP_SYS_ADMIN / CAP_SYS_CHROOT: EPERM, after the path checks. */
static void user_child(void)
{
	T("setgid(1000)", SC(SYS_setgid, 1000));
	T("setuid(1000)", SC(SYS_setuid, 1000));
	T("mount(tmpfs) as user", SC(SYS_mount, "none", "d2", "tmpfs", 0, NULL));
	T("mount(missing target) as user", SC(SYS_mount, "none", "nonexistent", "tmpfs", 0, NULL));
	T("mount(bind) as user", SC(SYS_mount, "f1", "f3", NULL, MS_BIND, NULL));
	T("umount2(m) as user", SC(SYS_umount2, "m", 0));
	T("umount2(missing) as user", SC(SYS_umount2, "nonexistent", 0));
	T("chroot(jail) as user", SC(SYS_chroot, "jail"));
	T("chroot(missing) as user", SC(SYS_chroot, "nonexistent"));
	T("pivot_root as user", SC(SYS_pivot_root, "m", "m/plain"));
	T("unshare(CLONE_NEWNS) as user", SC(SYS_unshare, CLONE_NEWNS));
	T("clone(CLONE_NEWNS) as user", SC(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0));
	T("unshare(CLONE_FS|CLONE_FILES) as user", SC(SYS_unshare, CLONE_FS | CLONE_FILES));
}

int main(int argc, char **argv)
{
	setup(argc, argv, "mounts");
	/* Our own namespace, private, so that nothing reaches the host. */
	T("unshare(CLONE_NEWNS)", SC(SYS_unshare, CLONE_NEWNS));
	T("make-rprivate(/)", SC(SYS_mount, NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
	T("unshare(0)", SC(SYS_unshare, 0));
	T("unshare(bad flag)", SC(SYS_unshare, 0x1));
	T("unshare(CLONE_FS|CLONE_FILES)", SC(SYS_unshare, CLONE_FS | CLONE_FILES));

	tmpfs_basics();
	bind_mounts();
	remounts();
	flags_and_types();
	propagation();
	moves();
	umounts();

	mkd("jail");
	mkd("jail/inner");
	mkd("jail/proc");
	make_file("jail/marker", "m", 0644);
	in_child("chroot child", chroot_child);
	in_child("pivot_root child", pivot_child);
	in_child("pivot_root(., .) child", pivot_dot_child);
	/* The parent still sees its own tree. */
	exists("pr/hello");
	exists("pd/inside");

	mkd("iso");
	if (pipe(sync_pipe) || pipe(go_pipe))
		return 3;
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) {
		unshare_child();
		fflush(stdout);
		_exit(0);
	}
	char c;
	SC(SYS_read, sync_pipe[0], &c, 1);
	exists("iso/x");
	mountinfo("iso");
	SC(SYS_write, go_pipe[1], &c, 1);
	int st = 0;
	waitpid(p, &st, 0);
	printf("unshare child: exited=%d status=%d\n", WIFEXITED(st), WEXITSTATUS(st));

	/* clone(CLONE_NEWNS): the child starts in a copy of the namespace. */
	mkd("cl");
	fflush(stdout);
	long cp = SC(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
	if (cp == 0) {
		T("child: mount(tmpfs cl)", SC(SYS_mount, "none", "cl", "tmpfs", 0, NULL));
		make_file("cl/y", "y", 0644);
		exists("cl/y");
		fflush(stdout);
		_exit(0);
	}
	st = 0;
	waitpid((pid_t)cp, &st, 0);
	printf("clone(CLONE_NEWNS) child: exited=%d status=%d\n", WIFEXITED(st), WEXITSTATUS(st));
	exists("cl/y");
	T("clone(CLONE_NEWNS|CLONE_FS)", SC(SYS_clone, CLONE_NEWNS | CLONE_FS | SIGCHLD, 0, 0, 0, 0));

	in_child("user child", user_child);
	T("umount2(m)", SC(SYS_umount2, "m", 0));
	return 0;
}
