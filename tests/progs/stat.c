/*
 * stat, lstat, fstat, newfstatat, statx.
 *
 * Prints only what is equal natively and in veil: type, permission bits,
 * size, link count, ownership compared with our own ids, device numbers of
 * character devices. Inode numbers, devices and times are compared between
 * calls, never printed.
 */
#include "common.h"
#include <sys/sysmacros.h>

static uid_t uid;
static gid_t gid;
/* Directory link counts are printed for the directories we made, not for
 * host directories (whose count depends on what else is mounted). */
static int host_path;

static void show_stat(const char *label, long r, const struct stat *st)
{
	if (r == -1) {
		printf("%s = -1 %s\n", label, errname(errno));
		return;
	}
	printf("%s = %ld: type=%s mode=%04o", label, r, ftype(st->st_mode),
	       (unsigned)(st->st_mode & 07777));
	if (S_ISREG(st->st_mode) || S_ISLNK(st->st_mode))
		printf(" size=%lld", (long long)st->st_size);
	if (!S_ISDIR(st->st_mode) || !host_path)
		printf(" nlink=%lu", (unsigned long)st->st_nlink);
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		printf(" rdev=%u:%u", major(st->st_rdev), minor(st->st_rdev));
	printf(" own=%s blksize_ok=%s\n",
	       st->st_uid == uid && st->st_gid == gid ? "self" : "other",
	       st->st_blksize > 0 ? "yes" : "no");
}

/* Prints the fields that were asked for (want) and that Linux fills. */
static void show_statx(const char *label, long r, const struct k_statx *sx, unsigned want)
{
	if (r == -1) {
		printf("%s = -1 %s\n", label, errname(errno));
		return;
	}
	printf("%s = %ld: mask_has_wanted=%s type=%s mode=%04o", label, r,
	       (sx->stx_mask & want) == want ? "yes" : "no",
	       ftype(sx->stx_mode), (unsigned)(sx->stx_mode & 07777));
	want |= K_STATX_TYPE | K_STATX_MODE;
	if ((want & K_STATX_SIZE) && (S_ISREG(sx->stx_mode) || S_ISLNK(sx->stx_mode)))
		printf(" size=%llu", (unsigned long long)sx->stx_size);
	if (want & K_STATX_NLINK)
		printf(" nlink=%u", sx->stx_nlink);
	if (S_ISCHR(sx->stx_mode))
		printf(" rdev=%u:%u", sx->stx_rdev_major, sx->stx_rdev_minor);
	if (want & K_STATX_UID)
		printf(" own=%s", sx->stx_uid == uid && sx->stx_gid == gid ? "self" : "other");
	printf("\n");
}

#define ST(label, call) do { long r_ = (long)(call); show_stat((label), r_, &st); } while (0)
#define STX(label, call) do { long r_ = (long)(call); show_statx((label), r_, &sx, K_STATX_BASIC_STATS); } while (0)

int main(int argc, char **argv)
{
	struct stat st, st2;
	struct k_statx sx;

	setup(argc, argv, "stat");
	uid = (uid_t)SC(SYS_getuid);
	gid = (gid_t)SC(SYS_getgid);
	SC(SYS_umask, 0);

	char data[101];
	memset(data, 'x', 100);
	data[100] = 0;
	make_file("f", data, 0640);
	T("symlink(f, l)", SC(SYS_symlink, "f", "l"));
	T("mkdir(d, 0750)", SC(SYS_mkdir, "d", 0750));
	T("mkdir(d/e, 0700)", SC(SYS_mkdir, "d/e", 0700));
	T("symlink(loop1, loop2)", SC(SYS_symlink, "loop1", "loop2"));
	T("symlink(loop2, loop1)", SC(SYS_symlink, "loop2", "loop1"));
	T("symlink(nowhere, dangling)", SC(SYS_symlink, "nowhere", "dangling"));

	/* stat / lstat */
	ST("stat(f)", SC(SYS_stat, "f", &st));
	ST("lstat(f)", SC(SYS_lstat, "f", &st));
	ST("stat(l)", SC(SYS_stat, "l", &st));
	ST("lstat(l)", SC(SYS_lstat, "l", &st));
	ST("stat(d)", SC(SYS_stat, "d", &st));
	ST("stat(d/e)", SC(SYS_stat, "d/e", &st));
	ST("stat(d/)", SC(SYS_stat, "d/", &st));
	ST("stat(.)", SC(SYS_stat, ".", &st));
	host_path = 1;
	ST("stat(/)", SC(SYS_stat, "/", &st));
	ST("stat(/dev/null)", SC(SYS_stat, "/dev/null", &st));
	ST("stat(/dev/zero)", SC(SYS_stat, "/dev/zero", &st));
	ST("stat(/dev/urandom)", SC(SYS_stat, "/dev/urandom", &st));
	ST("stat(/etc/passwd)", SC(SYS_stat, "/etc/passwd", &st));
	host_path = 0;
	ST("lstat(dangling)", SC(SYS_lstat, "dangling", &st));
	ST("stat(dangling)", SC(SYS_stat, "dangling", &st));
	ST("lstat(loop1)", SC(SYS_lstat, "loop1", &st));
	ST("stat(loop1)", SC(SYS_stat, "loop1", &st));
	ST("stat(loop1/x)", SC(SYS_stat, "loop1/x", &st));
	ST("stat(nx)", SC(SYS_stat, "nx", &st));
	ST("stat(\"\")", SC(SYS_stat, "", &st));
	ST("stat(f/x)", SC(SYS_stat, "f/x", &st));
	ST("stat(f/)", SC(SYS_stat, "f/", &st));
	ST("lstat(l/)", SC(SYS_lstat, "l/", &st));
	ST("stat(name of 256 bytes)", SC(SYS_stat, long_name(256), &st));
	ST("stat(path over PATH_MAX)", SC(SYS_stat, long_path(), &st));
	ST("stat(BADPTR, &st)", SC(SYS_stat, BADPTR, &st));
	T("stat(f, BADPTR)", SC(SYS_stat, "f", BADPTR));
	T("lstat(f, BADPTR)", SC(SYS_lstat, "f", BADPTR));
	ST("lstat(BADPTR, &st)", SC(SYS_lstat, BADPTR, &st));

	/* fstat */
	int fd = (int)T("open(f, O_RDWR)", SC(SYS_open, "f", O_RDWR));
	ST("fstat(f)", SC(SYS_fstat, fd, &st));
	T("write(f, 50 bytes at end)", SC(SYS_pwrite64, fd, data, 50, 100L));
	ST("fstat(f) after write", SC(SYS_fstat, fd, &st));
	SC(SYS_stat, "f", &st2);
	check("fstat and stat agree on st_dev/st_ino", st.st_dev == st2.st_dev && st.st_ino == st2.st_ino);
	time_t now = (time_t)SC(SYS_time, NULL);
	check("mtime within 30 s of time()", st.st_mtime <= now + 30 && st.st_mtime >= now - 30);
	ST("fstat(-1)", SC(SYS_fstat, BADFD, &st));
	ST("fstat(9999)", SC(SYS_fstat, BIGFD, &st));
	T("fstat(f, BADPTR)", SC(SYS_fstat, fd, BADPTR));
	int dfd = (int)T("open(d, O_RDONLY)", SC(SYS_open, "d", O_RDONLY));
	ST("fstat(d)", SC(SYS_fstat, dfd, &st));
	int nfd = (int)T("open(/dev/null)", SC(SYS_open, "/dev/null", O_RDONLY));
	ST("fstat(/dev/null)", SC(SYS_fstat, nfd, &st));
	SC(SYS_close, nfd);

	/* newfstatat */
	ST("newfstatat(AT_FDCWD, f, 0)", SC(SYS_newfstatat, AT_FDCWD, "f", &st, 0));
	ST("newfstatat(AT_FDCWD, l, 0)", SC(SYS_newfstatat, AT_FDCWD, "l", &st, 0));
	ST("newfstatat(AT_FDCWD, l, AT_SYMLINK_NOFOLLOW)", SC(SYS_newfstatat, AT_FDCWD, "l", &st, AT_SYMLINK_NOFOLLOW));
	ST("newfstatat(dfd, e, 0)", SC(SYS_newfstatat, dfd, "e", &st, 0));
	ST("newfstatat(dfd, .., 0)", SC(SYS_newfstatat, dfd, "..", &st, 0));
	ST("newfstatat(fd, \"\", AT_EMPTY_PATH)", SC(SYS_newfstatat, fd, "", &st, AT_EMPTY_PATH));
	ST("newfstatat(dfd, \"\", AT_EMPTY_PATH)", SC(SYS_newfstatat, dfd, "", &st, AT_EMPTY_PATH));
	ST("newfstatat(fd, \"\", 0)", SC(SYS_newfstatat, fd, "", &st, 0));
	ST("newfstatat(AT_FDCWD, f, 0x2)", SC(SYS_newfstatat, AT_FDCWD, "f", &st, 0x2));
	ST("newfstatat(-1, f, 0)", SC(SYS_newfstatat, BADFD, "f", &st, 0));
	ST("newfstatat(9999, f, 0)", SC(SYS_newfstatat, BIGFD, "f", &st, 0));
	ST("newfstatat(fd, x, 0) (not a directory)", SC(SYS_newfstatat, fd, "x", &st, 0));
	host_path = 1;
	ST("newfstatat(-1, /etc/passwd, 0)", SC(SYS_newfstatat, BADFD, "/etc/passwd", &st, 0));
	host_path = 0;
	ST("newfstatat(AT_FDCWD, BADPTR, 0)", SC(SYS_newfstatat, AT_FDCWD, BADPTR, &st, 0));
	T("newfstatat(AT_FDCWD, f, BADPTR, 0)", SC(SYS_newfstatat, AT_FDCWD, "f", BADPTR, 0));
	ST("newfstatat(AT_FDCWD, loop1, 0)", SC(SYS_newfstatat, AT_FDCWD, "loop1", &st, 0));
	ST("newfstatat(AT_FDCWD, loop1, AT_SYMLINK_NOFOLLOW)", SC(SYS_newfstatat, AT_FDCWD, "loop1", &st, AT_SYMLINK_NOFOLLOW));

	/* statx */
	STX("statx(AT_FDCWD, f, 0, BASIC)", SC(SYS_statx, AT_FDCWD, "f", 0, K_STATX_BASIC_STATS, &sx));
	SC(SYS_stat, "f", &st2);
	check("statx and stat agree on dev/ino",
	      sx.stx_ino == st2.st_ino && makedev(sx.stx_dev_major, sx.stx_dev_minor) == st2.st_dev);
	check("statx and stat agree on mtime",
	      sx.stx_mtime.tv_sec == st2.st_mtime && sx.stx_mtime.tv_nsec == st2.st_mtim.tv_nsec);
	STX("statx(AT_FDCWD, l, 0, BASIC)", SC(SYS_statx, AT_FDCWD, "l", 0, K_STATX_BASIC_STATS, &sx));
	STX("statx(AT_FDCWD, l, AT_SYMLINK_NOFOLLOW, BASIC)", SC(SYS_statx, AT_FDCWD, "l", AT_SYMLINK_NOFOLLOW, K_STATX_BASIC_STATS, &sx));
	STX("statx(AT_FDCWD, d, 0, BASIC)", SC(SYS_statx, AT_FDCWD, "d", 0, K_STATX_BASIC_STATS, &sx));
	STX("statx(dfd, e, 0, BASIC)", SC(SYS_statx, dfd, "e", 0, K_STATX_BASIC_STATS, &sx));
	STX("statx(fd, \"\", AT_EMPTY_PATH, BASIC)", SC(SYS_statx, fd, "", AT_EMPTY_PATH, K_STATX_BASIC_STATS, &sx));
	STX("statx(AT_FDCWD, /dev/null, 0, BASIC)", SC(SYS_statx, AT_FDCWD, "/dev/null", 0, K_STATX_BASIC_STATS, &sx));
	show_statx("statx(AT_FDCWD, f, AT_STATX_DONT_SYNC, TYPE|SIZE)",
		   SC(SYS_statx, AT_FDCWD, "f", AT_STATX_DONT_SYNC, K_STATX_TYPE | K_STATX_SIZE, &sx), &sx,
		   K_STATX_TYPE | K_STATX_SIZE);
	STX("statx(AT_FDCWD, nx, 0, BASIC)", SC(SYS_statx, AT_FDCWD, "nx", 0, K_STATX_BASIC_STATS, &sx));
	STX("statx(AT_FDCWD, f/x, 0, BASIC)", SC(SYS_statx, AT_FDCWD, "f/x", 0, K_STATX_BASIC_STATS, &sx));
	STX("statx(AT_FDCWD, loop1, 0, BASIC)", SC(SYS_statx, AT_FDCWD, "loop1", 0, K_STATX_BASIC_STATS, &sx));
	STX("statx(AT_FDCWD, \"\", 0, BASIC)", SC(SYS_statx, AT_FDCWD, "", 0, K_STATX_BASIC_STATS, &sx));
	STX("statx(AT_FDCWD, f, FORCE_SYNC|DONT_SYNC, BASIC)", SC(SYS_statx, AT_FDCWD, "f", AT_STATX_FORCE_SYNC | AT_STATX_DONT_SYNC, K_STATX_BASIC_STATS, &sx));
	STX("statx(AT_FDCWD, f, 0x2, BASIC)", SC(SYS_statx, AT_FDCWD, "f", 0x2, K_STATX_BASIC_STATS, &sx));
	STX("statx(AT_FDCWD, f, 0, STATX__RESERVED)", SC(SYS_statx, AT_FDCWD, "f", 0, K_STATX__RESERVED, &sx));
	STX("statx(-1, f, 0, BASIC)", SC(SYS_statx, BADFD, "f", 0, K_STATX_BASIC_STATS, &sx));
	STX("statx(9999, \"\", AT_EMPTY_PATH, BASIC)", SC(SYS_statx, BIGFD, "", AT_EMPTY_PATH, K_STATX_BASIC_STATS, &sx));
	STX("statx(AT_FDCWD, BADPTR, 0, BASIC)", SC(SYS_statx, AT_FDCWD, BADPTR, 0, K_STATX_BASIC_STATS, &sx));
	T("statx(AT_FDCWD, f, 0, BASIC, BADPTR)", SC(SYS_statx, AT_FDCWD, "f", 0, K_STATX_BASIC_STATS, BADPTR));
	STX("statx(AT_FDCWD, name of 256 bytes, 0, BASIC)", SC(SYS_statx, AT_FDCWD, long_name(256), 0, K_STATX_BASIC_STATS, &sx));

	/* Link counts follow link() and unlink(). */
	T("link(f, f2)", SC(SYS_link, "f", "f2"));
	ST("fstat(f) after link", SC(SYS_fstat, fd, &st));
	T("unlink(f)", SC(SYS_unlink, "f"));
	ST("fstat(f) after unlink", SC(SYS_fstat, fd, &st));
	T("unlink(f2)", SC(SYS_unlink, "f2"));
	ST("fstat(f) after unlinking every name", SC(SYS_fstat, fd, &st));
	ST("stat(l) now dangling", SC(SYS_stat, "l", &st));
	T("close(f)", SC(SYS_close, fd));
	T("close(d)", SC(SYS_close, dfd));
	printf("done\n");
	return 0;
}
