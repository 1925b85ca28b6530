/*
 * Linux's new mount API: fsopen / fsconfig / fsmount (a filesystem
 * context's states and errors, the detached mount it makes), fspick
 * (reconfiguring a mounted filesystem), move_mount (attaching a detached
 * mount, moving an attached one, with propagation), open_tree (plain and
 * OPEN_TREE_CLONE copies), mount_setattr, statmount / listmount with the
 * 64-bit mount ids statx reports, and pidfd_getfd.
 *
 * Natively this runs as root: everything happens in the program's own
 * mount namespace, made private first, on a tmpfs in the scratch
 * directory. Mount ids differ between kernels: only relations are shown.
 */
#include "common.h"
#include <sched.h>
#include <signal.h>
#include <sys/statfs.h>
#include <sys/inotify.h>
#include <sys/wait.h>

#define SYS_open_tree_ 428
#define SYS_move_mount_ 429
#define SYS_fsopen_ 430
#define SYS_fsconfig_ 431
#define SYS_fsmount_ 432
#define SYS_fspick_ 433
#define SYS_pidfd_open_ 434
#define SYS_pidfd_getfd_ 438
#define SYS_mount_setattr_ 442
#define SYS_statmount_ 457
#define SYS_listmount_ 458

#define FSOPEN_CLOEXEC 1
#define FSPICK_CLOEXEC 1
#define FSPICK_EMPTY_PATH 8
#define FSMOUNT_CLOEXEC 1
#define FSCONFIG_SET_FLAG 0
#define FSCONFIG_SET_STRING 1
#define FSCONFIG_SET_BINARY 2
#define FSCONFIG_SET_PATH 3
#define FSCONFIG_SET_PATH_EMPTY 4
#define FSCONFIG_SET_FD 5
#define FSCONFIG_CMD_CREATE 6
#define FSCONFIG_CMD_RECONFIGURE 7
#define FSCONFIG_CMD_CREATE_EXCL 8
#define MOVE_MOUNT_F_SYMLINKS 1
#define MOVE_MOUNT_F_EMPTY_PATH 4
#define MOVE_MOUNT_T_EMPTY_PATH 0x40
#define OPEN_TREE_CLONE 1
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#define AT_RECURSIVE_ 0x8000
#define MOUNT_ATTR_RDONLY 0x1
#define MOUNT_ATTR_NOSUID 0x2
#define MOUNT_ATTR_NODEV 0x4
#define MOUNT_ATTR_NOEXEC 0x8
#define MOUNT_ATTR__ATIME 0x70
#define MOUNT_ATTR_NOATIME 0x10
#define MOUNT_ATTR_STRICTATIME 0x20
#define MOUNT_ATTR_NODIRATIME 0x80
#define MOUNT_ATTR_IDMAP 0x100000
#define MOUNT_ATTR_NOSYMFOLLOW 0x200000
#ifndef ST_RDONLY
#define ST_RDONLY 1
#endif
#ifndef MS_BIND
#define MS_BIND 4096
#endif
#ifndef MS_REC
#define MS_REC 16384
#endif
#ifndef MNT_DETACH
#define MNT_DETACH 2
#endif
#ifndef MS_SHARED
#define MS_SHARED (1 << 20)
#endif
#ifndef MS_PRIVATE
#define MS_PRIVATE (1 << 18)
#endif
#ifndef MS_SLAVE
#define MS_SLAVE (1 << 19)
#endif
#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x1000
#endif
#define STATX_MNT_ID_UNIQUE 0x4000
#define STATMOUNT_SB_BASIC 0x1
#define STATMOUNT_MNT_BASIC 0x2
#define STATMOUNT_PROPAGATE_FROM 0x4
#define STATMOUNT_MNT_ROOT 0x8
#define STATMOUNT_MNT_POINT 0x10
#define STATMOUNT_FS_TYPE 0x20
#define STATMOUNT_MNT_NS_ID 0x40
#define LSMT_ROOT 0xffffffffffffffffULL
#define LISTMOUNT_REVERSE 1

struct mount_attr_ {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};

struct mnt_id_req_ {
	uint32_t size, spare;
	uint64_t mnt_id, param, mnt_ns_id;
};

struct statmount_ {
	uint32_t size, mnt_opts;
	uint64_t mask;
	uint32_t sb_dev_major, sb_dev_minor;
	uint64_t sb_magic;
	uint32_t sb_flags, fs_type;
	uint64_t mnt_id, mnt_parent_id;
	uint32_t mnt_id_old, mnt_parent_id_old;
	uint64_t mnt_attr, mnt_propagation, mnt_peer_group, mnt_master, propagate_from;
	uint32_t mnt_root, mnt_point;
	uint64_t mnt_ns_id;
	uint64_t spare2[49];
	char str[];
};

struct statx_ {
	uint32_t mask, blksize;
	uint64_t attributes;
	uint32_t nlink, uid, gid;
	uint16_t mode, pad;
	uint64_t ino, size, blocks, attributes_mask;
	uint64_t times[8];
	uint32_t rdev_major, rdev_minor, dev_major, dev_minor;
	uint64_t mnt_id;
	uint64_t rest[13];
};

static char line[4096];

static void mkd(const char *path)
{
	if (SC(SYS_mkdir, path, 0755) != 0 && errno != EEXIST) {
		printf("setup: mkdir(%s): %s\n", path, errname(errno));
		exit(3);
	}
}

/* The mountinfo line of the top mount at $S/rel: options and fs part. */
static void show_mount(const char *rel)
{
	char want[PATH_MAX + 64];
	snprintf(want, sizeof want, "%s/%s", scratch, rel);
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char found[512] = "";
	int n_found = 0;
	while (f && fgets(line, sizeof line, f)) {
		char *fl[40];
		int n = 0;
		char *save = NULL;
		for (char *t = strtok_r(line, " \n", &save); t && n < 40;
		     t = strtok_r(NULL, " \n", &save))
			fl[n++] = t;
		if (n < 10 || strcmp(fl[4], want) != 0)
			continue;
		n_found++;
		found[0] = 0;
		int i = 5;
		strcat(found, fl[i++]);
		for (; i < n && strcmp(fl[i], "-") != 0; i++) {
			if (strncmp(fl[i], "shared:", 7) == 0)
				strcat(found, " shared");
			else if (strncmp(fl[i], "master:", 7) == 0)
				strcat(found, " master");
			else {
				strcat(found, " ");
				strcat(found, fl[i]);
			}
		}
		/* type and superblock read-only flag */
		if (i + 3 < n) {
			strcat(found, " - ");
			strcat(found, fl[i + 1]);
			strcat(found, " ");
			strncat(found, fl[i + 3], 2);
		}
	}
	if (f)
		fclose(f);
	if (!n_found)
		printf("mountinfo(%s): not mounted\n", rel);
	else
		printf("mountinfo(%s): n=%d %s\n", rel, n_found, found);
}

/* How many mountinfo lines mention the scratch directory. */
static int count_mounts(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	int n = 0;
	while (f && fgets(line, sizeof line, f))
		if (strstr(line, scratch))
			n++;
	if (f)
		fclose(f);
	return n;
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

static long cfg(int fd, int cmd, const char *key, const void *val, int aux)
{
	char label[256];
	snprintf(label, sizeof label, "fsconfig(%d, %s, %s, %d)", cmd, key ? key : "NULL",
		 val ? (cmd == FSCONFIG_SET_STRING ? (const char *)val : "val") : "NULL", aux);
	return T(label, SC(SYS_fsconfig_, fd, cmd, key, val, aux));
}

/* The context's log messages (read until ENODATA). */
static void show_log(int fd)
{
	char buf[512];
	for (int i = 0; i < 4; i++) {
		long n = SC(SYS_read, fd, buf, sizeof buf - 1);
		if (n < 0) {
			printf("log: -1 %s\n", errname(errno));
			return;
		}
		buf[n] = 0;
		printf("log: %s\n", buf);
	}
}

static uint64_t uniq_id(const char *path)
{
	struct statx_ sx;
	memset(&sx, 0, sizeof sx);
	if (SC(SYS_statx, AT_FDCWD, path, 0, STATX_MNT_ID_UNIQUE, &sx) != 0)
		return 0;
	if (!(sx.mask & STATX_MNT_ID_UNIQUE))
		return 1;
	return sx.mnt_id;
}

static void fsopen_fsconfig(void)
{
	printf("-- fsopen/fsconfig\n");
	T("fsopen(tmpfs, 2)", SC(SYS_fsopen_, "tmpfs", 2));
	T("fsopen(nosuchfs)", SC(SYS_fsopen_, "nosuchfs", 0));
	T("fsconfig(bad fd)", SC(SYS_fsconfig_, 999, FSCONFIG_CMD_CREATE, 0, 0, 0));
	T("fsconfig(stdout)", SC(SYS_fsconfig_, 1, FSCONFIG_CMD_CREATE, 0, 0, 0));
	int fd = (int)SC(SYS_fsopen_, "tmpfs", FSOPEN_CLOEXEC);
	check("fsopen(tmpfs) ok", fd >= 0);
	check("fsopen fd cloexec", SC(SYS_fcntl, fd, F_GETFD) == FD_CLOEXEC);
	printf("fsopen F_GETFL = 0%lo\n", SC(SYS_fcntl, fd, F_GETFL));
	T("read(empty log)", SC(SYS_read, fd, line, sizeof line));
	T("fsconfig(cmd 99)", SC(SYS_fsconfig_, fd, 99, 0, 0, 0));
	cfg(fd, FSCONFIG_SET_FLAG, NULL, NULL, 0);
	cfg(fd, FSCONFIG_SET_FLAG, "ro", "x", 0);
	cfg(fd, FSCONFIG_SET_FLAG, "ro", NULL, 1);
	cfg(fd, FSCONFIG_SET_STRING, "size", NULL, 0);
	cfg(fd, FSCONFIG_SET_BINARY, "size", "1m", 0);
	cfg(fd, FSCONFIG_SET_PATH, "size", "/", -5);
	cfg(fd, FSCONFIG_SET_FD, "size", NULL, -1);
	cfg(fd, FSCONFIG_SET_FD, "size", NULL, 999);
	cfg(fd, FSCONFIG_CMD_CREATE, "x", NULL, 0);
	cfg(fd, FSCONFIG_SET_FLAG, "nosuchopt", NULL, 0);
	show_log(fd);
	cfg(fd, FSCONFIG_SET_STRING, "nosuchopt", "1", 0);
	cfg(fd, FSCONFIG_SET_STRING, "size", "bogus", 0);
	cfg(fd, FSCONFIG_SET_FLAG, "size", NULL, 0);
	cfg(fd, FSCONFIG_SET_BINARY, "size", "1m", 3);
	cfg(fd, FSCONFIG_SET_PATH, "size", "/", AT_FDCWD);
	cfg(fd, FSCONFIG_SET_FD, "size", NULL, 0);
	cfg(fd, FSCONFIG_SET_FLAG, "source", NULL, 0);
	cfg(fd, FSCONFIG_SET_STRING, "source", "mysrc", 0);
	cfg(fd, FSCONFIG_SET_STRING, "source", "again", 0);
	cfg(fd, FSCONFIG_SET_STRING, "size", "1m", 0);
	cfg(fd, FSCONFIG_SET_STRING, "mode", "0700", 0);
	cfg(fd, FSCONFIG_SET_FLAG, "ro", NULL, 0);
	cfg(fd, FSCONFIG_SET_FLAG, "rw", NULL, 0);
	T("fsmount(not created)", SC(SYS_fsmount_, fd, 0, 0));
	cfg(fd, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0);
	cfg(fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
	cfg(fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
	cfg(fd, FSCONFIG_SET_STRING, "size", "2m", 0);
	cfg(fd, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0);

	T("fsmount(bad flags)", SC(SYS_fsmount_, fd, 2, 0));
	T("fsmount(bad attr)", SC(SYS_fsmount_, fd, 0, 0x40000000));
	T("fsmount(atime 0x30)", SC(SYS_fsmount_, fd, 0, 0x30));
	T("fsmount(idmap)", SC(SYS_fsmount_, fd, 0, MOUNT_ATTR_IDMAP));
	T("fsmount(bad fd)", SC(SYS_fsmount_, 999, 0, 0));
	T("fsmount(stdout)", SC(SYS_fsmount_, 1, 0, 0));
	int before = count_mounts();
	int mfd = (int)SC(SYS_fsmount_, fd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NODEV);
	check("fsmount ok", mfd >= 0);
	T("fsmount(again)", SC(SYS_fsmount_, fd, 0, 0));
	check("fsmount fd cloexec", SC(SYS_fcntl, mfd, F_GETFD) == FD_CLOEXEC);
	printf("fsmount F_GETFL = 0%lo\n", SC(SYS_fcntl, mfd, F_GETFL));
	check("detached mount not in mountinfo", count_mounts() == before);
	struct stat st;
	T("fstat(mfd)", SC(SYS_fstat, mfd, &st));
	printf("mfd: %s mode=%o\n", ftype(st.st_mode), st.st_mode & 07777);
	int f = (int)SC(SYS_openat, mfd, "file", O_CREAT | O_WRONLY, 0644);
	check("create in detached mount", f >= 0);
	SC(SYS_close, f);
	T("read(mfd)", SC(SYS_read, mfd, line, 4));
	/* Linux's fdinfo of a mount fd names the mount. */
	char p[64];
	snprintf(p, sizeof p, "/proc/self/fdinfo/%d", mfd);
	FILE *fi = fopen(p, "r");
	int has_mnt = 0;
	while (fi && fgets(line, sizeof line, fi))
		if (strncmp(line, "mnt_id:", 7) == 0)
			has_mnt = 1;
	if (fi)
		fclose(fi);
	check("fdinfo has mnt_id", has_mnt);

	mkd("t/a");
	T("move_mount(no F_EMPTY_PATH)", SC(SYS_move_mount_, mfd, "", AT_FDCWD, "t/a", 0));
	T("move_mount(bad flags)", SC(SYS_move_mount_, mfd, "", AT_FDCWD, "t/a", 0x8));
	T("move_mount(attach)", SC(SYS_move_mount_, mfd, "", AT_FDCWD, "t/a", MOVE_MOUNT_F_EMPTY_PATH));
	check("attached mount in mountinfo", count_mounts() == before + 1);
	show_mount("t/a");
	exists("t/a/file");
	struct statfs sf;
	SC(SYS_statfs, "t/a", &sf);
	printf("statfs(t/a) blocks=%ld\n", (long)sf.f_blocks);
	T("move_mount(again)", SC(SYS_move_mount_, mfd, "", AT_FDCWD, "t/a", MOVE_MOUNT_F_EMPTY_PATH));
	SC(SYS_close, mfd);
	/* Closing the fd of an attached mount leaves it. */
	exists("t/a/file");

	/* The context reconfigures the superblock it made. */
	cfg(fd, FSCONFIG_SET_STRING, "size", "4m", 0);
	cfg(fd, FSCONFIG_SET_FLAG, "ro", NULL, 0);
	cfg(fd, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0);
	SC(SYS_statfs, "t/a", &sf);
	printf("statfs(t/a) blocks=%ld ro=%d\n", (long)sf.f_blocks, !!(sf.f_flags & ST_RDONLY));
	show_mount("t/a");
	T("fsmount(after reconfigure)", SC(SYS_fsmount_, fd, 0, 0));
	SC(SYS_close, fd);

	/* The last close of a detached mount unmounts it: its filesystem
	 * goes (inotify's IN_UNMOUNT). */
	{
		int c2 = (int)SC(SYS_fsopen_, "tmpfs", 0);
		SC(SYS_fsconfig_, c2, FSCONFIG_CMD_CREATE, 0, 0, 0);
		int m2 = (int)SC(SYS_fsmount_, c2, 0, 0);
		SC(SYS_close, c2);
		int in = (int)SC(SYS_inotify_init1, IN_NONBLOCK);
		char lp[64];
		snprintf(lp, sizeof lp, "/proc/self/fd/%d", m2);
		long w = SC(SYS_inotify_add_watch, in, lp, IN_ALL_EVENTS);
		check("watch on detached mount", w >= 0);
		SC(SYS_close, m2);
		char ev[512];
		long n = SC(SYS_read, in, ev, sizeof ev);
		uint32_t got = 0;
		for (long off = 0; n > 0 && off < n;) {
			struct inotify_event *e = (struct inotify_event *)(ev + off);
			got |= e->mask;
			off += sizeof *e + e->len;
		}
		printf("after close: events%s%s\n", got & IN_UNMOUNT ? " IN_UNMOUNT" : "",
		       got & IN_IGNORED ? " IN_IGNORED" : "");
		SC(SYS_close, in);
	}

	/* Other types. */
	const char *types[] = { "proc", "sysfs", "devpts", "cgroup2" };
	for (int i = 0; i < 4; i++) {
		int c = (int)SC(SYS_fsopen_, types[i], 0);
		char label[64];
		snprintf(label, sizeof label, "fsopen(%s) ok", types[i]);
		check(label, c >= 0);
		cfg(c, FSCONFIG_SET_FLAG, "nosuchopt", NULL, 0);
		cfg(c, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
		int m = (int)SC(SYS_fsmount_, c, 0, MOUNT_ATTR_RDONLY);
		check("fsmount ok", m >= 0);
		struct statfs s2;
		SC(SYS_fstatfs, m, &s2);
		printf("%s magic=%lx\n", types[i], (unsigned long)s2.f_type);
		SC(SYS_close, m);
		SC(SYS_close, c);
	}
	/* proc's options through fsconfig. */
	int c = (int)SC(SYS_fsopen_, "proc", 0);
	cfg(c, FSCONFIG_SET_STRING, "hidepid", "2", 0);
	cfg(c, FSCONFIG_SET_STRING, "hidepid", "nine", 0);
	cfg(c, FSCONFIG_SET_STRING, "subset", "pid", 0);
	cfg(c, FSCONFIG_CMD_CREATE_EXCL, NULL, NULL, 0);
	int m = (int)SC(SYS_fsmount_, c, 0, 0);
	mkd("t/p");
	T("move_mount(proc)", SC(SYS_move_mount_, m, "", AT_FDCWD, "t/p", MOVE_MOUNT_F_EMPTY_PATH));
	exists("t/p/self");
	exists("t/p/cpuinfo");
	SC(SYS_close, m);
	SC(SYS_close, c);
	T("umount2(t/p)", SC(SYS_umount2, "t/p", 0));
}

static void fspick_tests(void)
{
	printf("-- fspick\n");
	T("fspick(bad flags)", SC(SYS_fspick_, AT_FDCWD, "t/a", 0x10));
	T("fspick(not root)", SC(SYS_fspick_, AT_FDCWD, "t/a/file", 0));
	T("fspick(missing)", SC(SYS_fspick_, AT_FDCWD, "t/nope", 0));
	T("fspick(empty)", SC(SYS_fspick_, AT_FDCWD, "", 0));
	int fd = (int)SC(SYS_fspick_, AT_FDCWD, "t/a", FSPICK_CLOEXEC);
	check("fspick ok", fd >= 0);
	T("fsmount(fspick fd)", SC(SYS_fsmount_, fd, 0, 0));
	cfg(fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
	cfg(fd, FSCONFIG_SET_FLAG, "rw", NULL, 0);
	cfg(fd, FSCONFIG_SET_STRING, "size", "8m", 0);
	cfg(fd, FSCONFIG_SET_STRING, "nosuch", "8m", 0);
	cfg(fd, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0);
	struct statfs sf;
	SC(SYS_statfs, "t/a", &sf);
	printf("statfs(t/a) blocks=%ld ro=%d\n", (long)sf.f_blocks, !!(sf.f_flags & ST_RDONLY));
	show_mount("t/a");
	SC(SYS_close, fd);
	int dfd = (int)SC(SYS_open, "t/a", O_PATH);
	fd = (int)SC(SYS_fspick_, dfd, "", FSPICK_EMPTY_PATH);
	check("fspick(EMPTY_PATH) ok", fd >= 0);
	SC(SYS_close, fd);
	SC(SYS_close, dfd);
}

static void open_tree_tests(void)
{
	printf("-- open_tree\n");
	T("open_tree(bad flags)", SC(SYS_open_tree_, AT_FDCWD, "t/a", 0x2));
	T("open_tree(RECURSIVE alone)", SC(SYS_open_tree_, AT_FDCWD, "t/a", AT_RECURSIVE_));
	T("open_tree(missing)", SC(SYS_open_tree_, AT_FDCWD, "t/nope", 0));
	int fd = (int)SC(SYS_open_tree_, AT_FDCWD, "t/a", OPEN_TREE_CLOEXEC);
	check("open_tree(plain) ok", fd >= 0);
	printf("open_tree F_GETFL = 0%lo\n", SC(SYS_fcntl, fd, F_GETFL));
	check("open_tree cloexec", SC(SYS_fcntl, fd, F_GETFD) == FD_CLOEXEC);
	check("open_tree same mount", uniq_id("t/a") != 0);
	/* A plain open_tree fd is not a detached mount. */
	mkd("t/b");
	T("move_mount(plain fd, attached)", SC(SYS_move_mount_, fd, "", AT_FDCWD, "t/b", MOVE_MOUNT_F_EMPTY_PATH));
	show_mount("t/a");
	show_mount("t/b");
	/* And back. */
	T("move_mount(back)", SC(SYS_move_mount_, AT_FDCWD, "t/b", AT_FDCWD, "t/a", 0));
	T("move_mount(not a mount)", SC(SYS_move_mount_, AT_FDCWD, "t/a/file", AT_FDCWD, "t/b", 0));
	T("move_mount(into itself)", SC(SYS_move_mount_, AT_FDCWD, "t/a", AT_FDCWD, "t/a", 0));
	mkd("t/a/sub");
	T("move_mount(below itself)", SC(SYS_move_mount_, AT_FDCWD, "t/a", AT_FDCWD, "t/a/sub", 0));
	SC(SYS_close, fd);

	/* Detached copies. */
	T("mount(tmpfs t/a/sub)", SC(SYS_mount, "none", "t/a/sub", "tmpfs", 0, NULL));
	make_file("t/a/sub/marker", "m", 0644);
	int before = count_mounts();
	int flat = (int)SC(SYS_open_tree_, AT_FDCWD, "t/a", OPEN_TREE_CLONE);
	int rec = (int)SC(SYS_open_tree_, AT_FDCWD, "t/a", OPEN_TREE_CLONE | AT_RECURSIVE_);
	check("open_tree(CLONE) ok", flat >= 0);
	check("open_tree(CLONE|RECURSIVE) ok", rec >= 0);
	printf("clone F_GETFL = 0%lo\n", SC(SYS_fcntl, flat, F_GETFL));
	check("copies not in mountinfo", count_mounts() == before);
	struct stat st;
	T("flat: fstatat(sub/marker)", SC(SYS_newfstatat, flat, "sub/marker", &st, 0));
	T("rec: fstatat(sub/marker)", SC(SYS_newfstatat, rec, "sub/marker", &st, 0));
	T("flat: fstatat(file)", SC(SYS_newfstatat, flat, "file", &st, 0));
	int up = (int)SC(SYS_openat, rec, "..", O_PATH);
	struct stat a, b;
	SC(SYS_fstat, up, &a);
	SC(SYS_fstat, rec, &b);
	check("rec/.. is rec", a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	SC(SYS_close, up);
	/* Clone of a detached copy's subdirectory. */
	mkd("t/c");
	mkd("t/d");
	T("move_mount(rec -> t/c)", SC(SYS_move_mount_, rec, "", AT_FDCWD, "t/c", MOVE_MOUNT_F_EMPTY_PATH));
	exists("t/c/sub/marker");
	show_mount("t/c");
	show_mount("t/c/sub");
	check("rec copy attached", count_mounts() == before + 2);
	SC(SYS_close, rec);
	exists("t/c/sub/marker");
	/* A copy closed unattached goes away. */
	SC(SYS_close, flat);
	check("mounts after close", count_mounts() == before + 2);
	T("umount2(t/c/sub)", SC(SYS_umount2, "t/c/sub", 0));
	T("umount2(t/c)", SC(SYS_umount2, "t/c", 0));

	/* Attaching onto a shared mount propagates to its peers. */
	mkd("t/s");
	mkd("t/s2");
	T("mount(tmpfs t/s)", SC(SYS_mount, "none", "t/s", "tmpfs", 0, NULL));
	T("make-shared(t/s)", SC(SYS_mount, NULL, "t/s", NULL, MS_SHARED, NULL));
	T("bind(t/s, t/s2)", SC(SYS_mount, "t/s", "t/s2", NULL, MS_BIND, NULL));
	mkd("t/s/x");
	int cp = (int)SC(SYS_open_tree_, AT_FDCWD, "t/a/sub", OPEN_TREE_CLONE);
	T("move_mount(copy -> t/s/x)", SC(SYS_move_mount_, cp, "", AT_FDCWD, "t/s/x", MOVE_MOUNT_F_EMPTY_PATH));
	exists("t/s2/x/marker");
	show_mount("t/s/x");
	show_mount("t/s2/x");
	SC(SYS_close, cp);
	/* Moving an attached mount out of a shared parent: EINVAL. */
	T("move_mount(from shared parent)", SC(SYS_move_mount_, AT_FDCWD, "t/s/x", AT_FDCWD, "t/d", 0));
	/* Unbindable / open_tree of a path outside any mount root. */
	int sub = (int)SC(SYS_open_tree_, AT_FDCWD, "t/s/x", OPEN_TREE_CLONE);
	T("move_mount(T_EMPTY_PATH)", SC(SYS_move_mount_, AT_FDCWD, "t/d", sub, "", MOVE_MOUNT_T_EMPTY_PATH));
	T("move_mount(onto detached, file)", SC(SYS_move_mount_, AT_FDCWD, "t/a/file", sub, "marker", 0));
	SC(SYS_close, sub);
	/* A detached copy of a shared mount is its peer: it receives. */
	int peer = (int)SC(SYS_open_tree_, AT_FDCWD, "t/s", OPEN_TREE_CLONE);
	mkd("t/s/y");
	T("mount(tmpfs t/s/y)", SC(SYS_mount, "none", "t/s/y", "tmpfs", 0, NULL));
	make_file("t/s/y/ymark", "y", 0644);
	T("copy: fstatat(y/ymark)", SC(SYS_newfstatat, peer, "y/ymark", &st, 0));
	mkd("t/e");
	T("move_mount(copy -> t/e)", SC(SYS_move_mount_, peer, "", AT_FDCWD, "t/e", MOVE_MOUNT_F_EMPTY_PATH));
	SC(SYS_close, peer);
	show_mount("t/e");
	exists("t/e/y/ymark");
	mkd("t/s/z");
	T("mount(tmpfs t/s/z)", SC(SYS_mount, "none", "t/s/z", "tmpfs", 0, NULL));
	show_mount("t/e/z");
	T("umount2(t/s/z)", SC(SYS_umount2, "t/s/z", 0));
	show_mount("t/e/z");
	T("umount2(t/e)", SC(SYS_umount2, "t/e", 0));
	T("umount2(t/s/y)", SC(SYS_umount2, "t/s/y", 0));
	T("umount2(t/s/x)", SC(SYS_umount2, "t/s/x", 0));
	show_mount("t/s2/x");
	T("umount2(t/s2)", SC(SYS_umount2, "t/s2", 0));
	T("umount2(t/s)", SC(SYS_umount2, "t/s", 0));
}

static long setattr(const char *path, int flags, uint64_t set, uint64_t clr, uint64_t prop,
		    uint64_t userns, size_t size)
{
	char buf[64];
	memset(buf, 0, sizeof buf);
	struct mount_attr_ ma = { set, clr, prop, userns };
	memcpy(buf, &ma, sizeof ma);
	char label[256];
	snprintf(label, sizeof label, "mount_setattr(%s, %#x, set=%#llx, clr=%#llx, prop=%#llx, size=%zu)",
		 path, flags, (unsigned long long)set, (unsigned long long)clr,
		 (unsigned long long)prop, size);
	return T(label, SC(SYS_mount_setattr_, AT_FDCWD, path, flags, buf, size));
}

static void setattr_tests(void)
{
	printf("-- mount_setattr\n");
	setattr("t/a", 0, MOUNT_ATTR_RDONLY, 0, 0, 0, 16);
	setattr("t/a", 0, MOUNT_ATTR_RDONLY, 0, 0, 0, 8192);
	setattr("t/a", 0x1, MOUNT_ATTR_RDONLY, 0, 0, 0, 32);
	setattr("t/nope", 0, 0, 0, 0, 0, 32);
	setattr("t/nope", 0, MOUNT_ATTR_RDONLY, 0, 0, 0, 32);
	setattr("t/a", 0, 0x40000000, 0, 0, 0, 32);
	setattr("t/a", 0, MOUNT_ATTR_NOATIME, 0, 0, 0, 32);
	setattr("t/a", 0, MOUNT_ATTR_NOATIME, MOUNT_ATTR_NOATIME, 0, 0, 32);
	setattr("t/a", 0, 0x30, MOUNT_ATTR__ATIME, 0, 0, 32);
	setattr("t/a", 0, 0, 0, MS_SHARED | MS_SLAVE, 0, 32);
	setattr("t/a", 0, 0, 0, 1, 0, 32);
	setattr("t/a/file", 0, MOUNT_ATTR_RDONLY, 0, 0, 0, 32);
	setattr("t/a", 0, MOUNT_ATTR_IDMAP, 0, 0, 999, 32);
	setattr("t/a", 0, 0, MOUNT_ATTR_IDMAP, 0, 0, 32);
	setattr("t/a", 0, MOUNT_ATTR_IDMAP, 0, 0, 1ULL << 33, 32);
	setattr("t/a", 0, MOUNT_ATTR_IDMAP, 0, 0, 1, 32);
	int uns = (int)SC(SYS_open, "/proc/self/ns/user", O_RDONLY);
	setattr("t/a", 0, MOUNT_ATTR_IDMAP, 0, 0, uns, 32);
	SC(SYS_close, uns);
	/* Bytes past the known size must be zero. */
	{
		char buf[64];
		memset(buf, 0, sizeof buf);
		buf[40] = 1;
		T("mount_setattr(trailing junk)", SC(SYS_mount_setattr_, AT_FDCWD, "t/a", 0, buf, 48));
		buf[40] = 0;
		T("mount_setattr(trailing zero)", SC(SYS_mount_setattr_, AT_FDCWD, "t/a", 0, buf, 48));
		T("mount_setattr(NULL)", SC(SYS_mount_setattr_, AT_FDCWD, "t/a", 0, NULL, 32));
	}
	setattr("t/a", 0, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOSYMFOLLOW, 0, 0, 0, 32);
	show_mount("t/a");
	T("open(t/a/new, O_CREAT)", SC(SYS_open, "t/a/new", O_CREAT | O_WRONLY, 0644));
	setattr("t/a", 0, MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME | MOUNT_ATTR_RDONLY, 0, 0, 32);
	show_mount("t/a");
	setattr("t/a", 0, MOUNT_ATTR_STRICTATIME | MOUNT_ATTR_NODIRATIME, MOUNT_ATTR__ATIME, 0, 0, 32);
	show_mount("t/a");
	setattr("t/a", 0, 0, MOUNT_ATTR__ATIME | MOUNT_ATTR_NODIRATIME | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOSYMFOLLOW, 0, 0, 32);
	show_mount("t/a");
	/* Recursive, with propagation. */
	setattr("t/a", AT_RECURSIVE_, MOUNT_ATTR_NODEV, 0, MS_SHARED, 0, 32);
	show_mount("t/a");
	show_mount("t/a/sub");
	setattr("t/a", 0, 0, MOUNT_ATTR_NODEV, MS_PRIVATE, 0, 32);
	show_mount("t/a");
	show_mount("t/a/sub");
	/* On a detached copy. */
	int cp = (int)SC(SYS_open_tree_, AT_FDCWD, "t/a", OPEN_TREE_CLONE | AT_RECURSIVE_);
	char b2[32];
	memset(b2, 0, sizeof b2);
	struct mount_attr_ ma = { MOUNT_ATTR_RDONLY, 0, 0, 0 };
	memcpy(b2, &ma, sizeof ma);
	T("mount_setattr(copy, EMPTY_PATH|RECURSIVE, RDONLY)",
	  SC(SYS_mount_setattr_, cp, "", AT_EMPTY_PATH | AT_RECURSIVE_, b2, 32));
	mkd("t/d");
	T("move_mount(copy -> t/d)", SC(SYS_move_mount_, cp, "", AT_FDCWD, "t/d", MOVE_MOUNT_F_EMPTY_PATH));
	show_mount("t/d");
	show_mount("t/d/sub");
	SC(SYS_close, cp);
	T("umount2(t/d/sub)", SC(SYS_umount2, "t/d/sub", 0));
	T("umount2(t/d)", SC(SYS_umount2, "t/d", 0));
}

static int do_statmount(uint64_t id, uint64_t mask, struct statmount_ *sm, size_t size)
{
	struct mnt_id_req_ req = { 24, 0, id, mask, 0 };
	return (int)SC(SYS_statmount_, &req, sm, size, 0);
}

static void statmount_tests(void)
{
	printf("-- statmount/listmount\n");
	uint64_t t_id = uniq_id("t"), a_id = uniq_id("t/a"), sub_id = uniq_id("t/a/sub");
	check("unique ids", t_id > (1ULL << 31) && a_id > t_id && sub_id > a_id);
	struct statx_ sx;
	memset(&sx, 0, sizeof sx);
	SC(SYS_statx, AT_FDCWD, "t/a", 0, STATX_MNT_ID, &sx);
	check("statx old id small", (sx.mask & STATX_MNT_ID) && sx.mnt_id < (1ULL << 31));
	uint32_t old_a = (uint32_t)sx.mnt_id;

	static char buf[8192];
	struct statmount_ *sm = (struct statmount_ *)buf;
	uint64_t all = STATMOUNT_SB_BASIC | STATMOUNT_MNT_BASIC | STATMOUNT_PROPAGATE_FROM |
		       STATMOUNT_MNT_ROOT | STATMOUNT_MNT_POINT | STATMOUNT_FS_TYPE | STATMOUNT_MNT_NS_ID;
	memset(buf, 0, sizeof buf);
	T("statmount(t/a)", do_statmount(a_id, all, sm, sizeof buf));
	printf("mask=%#llx fs_type=%s root=%s point=%s\n", (unsigned long long)sm->mask,
	       sm->str + sm->fs_type, sm->str + sm->mnt_root, spath(sm->str + sm->mnt_point));
	check("size covers strings", sm->size > sizeof(struct statmount_) && sm->size < sizeof buf);
	check("ids agree", sm->mnt_id == a_id && sm->mnt_parent_id == t_id && sm->mnt_id_old == old_a);
	printf("attr=%#llx prop=%#llx peer=%d master=%d from=%d sb_flags=%#x magic=%#llx ns=%d\n",
	       (unsigned long long)sm->mnt_attr, (unsigned long long)sm->mnt_propagation,
	       sm->mnt_peer_group != 0, sm->mnt_master != 0, sm->propagate_from != 0, sm->sb_flags,
	       (unsigned long long)sm->sb_magic, sm->mnt_ns_id != 0);
	memset(buf, 0, sizeof buf);
	T("statmount(t/a, MNT_BASIC)", do_statmount(a_id, STATMOUNT_MNT_BASIC, sm, sizeof buf));
	printf("size=%u mask=%#llx\n", sm->size, (unsigned long long)sm->mask);
	T("statmount(strings, no room)", do_statmount(a_id, STATMOUNT_FS_TYPE, sm, sizeof(struct statmount_)));
	T("statmount(small buf)", do_statmount(a_id, STATMOUNT_MNT_BASIC, sm, 64));
	printf("small: size=%u\n", sm->size);
	T("statmount(t/a/sub)", do_statmount(sub_id, all, sm, sizeof buf));
	printf("sub: fs_type=%s point=%s parent_is_a=%d\n", sm->str + sm->fs_type,
	       spath(sm->str + sm->mnt_point), sm->mnt_parent_id == a_id);
	T("statmount(id 5)", do_statmount(5, all, sm, sizeof buf));
	T("statmount(unknown)", do_statmount((1ULL << 62), all, sm, sizeof buf));
	T("statmount(flags)", SC(SYS_statmount_, &(struct mnt_id_req_){ 24, 0, a_id, 0, 0 }, sm, sizeof buf, 1));
	T("statmount(req size 8)", SC(SYS_statmount_, &(struct mnt_id_req_){ 8, 0, a_id, 0, 0 }, sm, sizeof buf, 0));
	T("statmount(spare)", SC(SYS_statmount_, &(struct mnt_id_req_){ 24, 1, a_id, 0, 0 }, sm, sizeof buf, 0));
	T("statmount(req NULL)", SC(SYS_statmount_, NULL, sm, sizeof buf, 0));

	uint64_t ids[64];
	struct mnt_id_req_ req = { 24, 0, t_id, 0, 0 };
	long n = T("listmount(t)", SC(SYS_listmount_, &req, ids, 64, 0));
	for (long i = 0; i < n; i++) {
		memset(buf, 0, sizeof buf);
		do_statmount(ids[i], STATMOUNT_MNT_POINT | STATMOUNT_MNT_BASIC, sm, sizeof buf);
		printf("  [%ld] %s parent_is_t=%d sorted=%d\n", i, spath(sm->str + sm->mnt_point),
		       sm->mnt_parent_id == t_id, i == 0 || ids[i] > ids[i - 1]);
	}
	long r = T("listmount(t, REVERSE)", SC(SYS_listmount_, &req, ids, 64, LISTMOUNT_REVERSE));
	check("reverse sorted", r < 2 || ids[0] > ids[1]);
	req.param = a_id;
	T("listmount(t, after a)", SC(SYS_listmount_, &req, ids, 64, 0));
	req.param = 0;
	T("listmount(t, 1 slot)", SC(SYS_listmount_, &req, ids, 1, 0));
	check("first is a", ids[0] == a_id);
	T("listmount(flags)", SC(SYS_listmount_, &req, ids, 64, 2));
	req.param = 7;
	T("listmount(last 7)", SC(SYS_listmount_, &req, ids, 64, 0));
	req.param = 0;
	req.mnt_id = 1ULL << 62;
	T("listmount(unknown)", SC(SYS_listmount_, &req, ids, 64, 0));
	req.mnt_id = LSMT_ROOT;
	n = SC(SYS_listmount_, &req, ids, 64, 0);
	check("listmount(LSMT_ROOT) includes t", n > 0 && ({
		int found = 0;
		for (long i = 0; i < n; i++)
			found |= ids[i] == t_id;
		found;
	}));
	req.mnt_id = t_id;
	T("listmount(huge count)", SC(SYS_listmount_, &req, ids, 2000000, 0));
}

static void pidfd_getfd_tests(void)
{
	printf("-- pidfd_getfd\n");
	int pfd = (int)SC(SYS_pidfd_open_, getpid(), 0);
	int f = (int)SC(SYS_open, "t/a/file", O_RDONLY);
	T("pidfd_getfd(flags)", SC(SYS_pidfd_getfd_, pfd, f, 1));
	T("pidfd_getfd(bad target)", SC(SYS_pidfd_getfd_, pfd, 999, 0));
	T("pidfd_getfd(bad pidfd)", SC(SYS_pidfd_getfd_, 999, f, 0));
	T("pidfd_getfd(not a pidfd)", SC(SYS_pidfd_getfd_, f, f, 0));
	int g = (int)SC(SYS_pidfd_getfd_, pfd, f, 0);
	check("pidfd_getfd(self) ok", g >= 0);
	check("new fd cloexec", SC(SYS_fcntl, g, F_GETFD) == FD_CLOEXEC);
	SC(SYS_lseek, g, 1, SEEK_SET);
	check("shares the description", SC(SYS_lseek, f, 0, SEEK_CUR) == 1);
	SC(SYS_close, g);
	SC(SYS_close, pfd);

	/* Another process's file. */
	int pp[2];
	if (pipe(pp) != 0)
		exit(3);
	pid_t child = fork();
	if (child == 0) {
		int fd = (int)SC(SYS_open, "t/a/file", O_RDONLY);
		SC(SYS_dup2, fd, 42);
		SC(SYS_lseek, 42, 3, SEEK_SET);
		char c = 'r';
		SC(SYS_write, pp[1], &c, 1);
		pause();
		_exit(0);
	}
	char c;
	SC(SYS_read, pp[0], &c, 1);
	pfd = (int)SC(SYS_pidfd_open_, child, 0);
	g = (int)SC(SYS_pidfd_getfd_, pfd, 42, 0);
	check("pidfd_getfd(child) ok", g >= 0);
	check("child's offset", SC(SYS_lseek, g, 0, SEEK_CUR) == 3);
	T("pidfd_getfd(child, 43)", SC(SYS_pidfd_getfd_, pfd, 43, 0));
	SC(SYS_close, g);
	kill(child, SIGKILL);
	siginfo_t si;
	SC(SYS_waitid, P_PID, child, &si, WEXITED | WNOWAIT, NULL);
	T("pidfd_getfd(zombie)", SC(SYS_pidfd_getfd_, pfd, 42, 0));
	waitpid(child, NULL, 0);
	T("pidfd_getfd(reaped)", SC(SYS_pidfd_getfd_, pfd, 42, 0));
	SC(SYS_close, pfd);

	/* Without ptrace access: EPERM. */
	child = fork();
	if (child == 0) {
		int p = (int)SC(SYS_pidfd_open_, getppid(), 0);
		if (SC(SYS_setresuid, 65534, 65534, 65534) != 0)
			_exit(9);
		T("unprivileged pidfd_getfd(parent)", SC(SYS_pidfd_getfd_, p, 1, 0));
		T("unprivileged fsopen", SC(SYS_fsopen_, "tmpfs", 0));
		T("unprivileged fspick", SC(SYS_fspick_, AT_FDCWD, "t", 0));
		T("unprivileged open_tree(CLONE)", SC(SYS_open_tree_, AT_FDCWD, "t", OPEN_TREE_CLONE));
		T("unprivileged open_tree(plain) ok", SC(SYS_open_tree_, AT_FDCWD, "t", 0) >= 0 ? 0 : -1);
		T("unprivileged move_mount", SC(SYS_move_mount_, AT_FDCWD, "t/a", AT_FDCWD, "t/b", 0));
		T("unprivileged mount_setattr",
		  SC(SYS_mount_setattr_, AT_FDCWD, "t/a", 0, &(struct mount_attr_){ 1, 0, 0, 0 }, 32));
		T("unprivileged fsmount", SC(SYS_fsmount_, 0, 0, 0));
		_exit(0);
	}
	int st;
	waitpid(child, &st, 0);
	printf("child status %d\n", WEXITSTATUS(st));
}

int main(int argc, char **argv)
{
	setup(argc, argv, "mountapi");
	T("unshare(CLONE_NEWNS)", SC(SYS_unshare, CLONE_NEWNS));
	T("make-rprivate(/)", SC(SYS_mount, NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
	mkd("t");
	T("mount(tmpfs t)", SC(SYS_mount, "none", "t", "tmpfs", 0, NULL));
	fsopen_fsconfig();
	fspick_tests();
	open_tree_tests();
	setattr_tests();
	statmount_tests();
	pidfd_getfd_tests();
	T("umount2(t, MNT_DETACH)", SC(SYS_umount2, "t", MNT_DETACH));
	return 0;
}
