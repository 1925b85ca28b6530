/*
 * Directories: mkdir, mkdirat, rmdir, getdents64 (listings printed sorted),
 * chdir, fchdir, getcwd.
 */
#include "common.h"
#include <dirent.h>
#include <stddef.h>

struct k_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static const char *dtype(unsigned char t)
{
	switch (t) {
	case DT_REG: return "reg";
	case DT_DIR: return "dir";
	case DT_LNK: return "lnk";
	case DT_CHR: return "chr";
	case DT_FIFO: return "fifo";
	case DT_SOCK: return "sock";
	case DT_BLK: return "blk";
	case DT_UNKNOWN: return "unknown";
	default: return "?";
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Read a whole directory with getdents64 and a buffer of bufsize bytes;
 * returns the number of entries, fills names (malloc'd "name type" strings)
 * and counts the calls that returned entries.
 */
static long list_dir(int fd, size_t bufsize, char **names, long max, int *calls, int *bad_reclen)
{
	static char buf[65536];
	long count = 0;
	*calls = 0;
	*bad_reclen = 0;
	for (;;) {
		long n = SC(SYS_getdents64, fd, buf, bufsize);
		if (n < 0) {
			printf("  getdents64 failed: %s\n", errname(errno));
			return -1;
		}
		if (n == 0)
			break;
		(*calls)++;
		for (long off = 0; off < n;) {
			struct k_dirent64 *d = (struct k_dirent64 *)(buf + off);
			if (d->d_reclen == 0 || d->d_reclen % 8 != 0 ||
			    d->d_reclen < offsetof(struct k_dirent64, d_name) + strlen(d->d_name) + 1)
				(*bad_reclen)++;
			if (d->d_reclen == 0)
				return -1;
			if (count < max) {
				size_t len = strlen(d->d_name) + 16;
				names[count] = malloc(len);
				snprintf(names[count], len, "%s %s", d->d_name, dtype(d->d_type));
			}
			count++;
			off += d->d_reclen;
		}
	}
	if (count <= max)
		qsort(names, (size_t)count, sizeof *names, cmp_str);
	return count;
}

static void free_names(char **names, long n)
{
	for (long i = 0; i < n; i++)
		free(names[i]);
}

static void show_cwd(const char *label)
{
	char buf[PATH_MAX];
	long r = SC(SYS_getcwd, buf, sizeof buf);
	if (r == -1) {
		printf("%s: getcwd = -1 %s\n", label, errname(errno));
		return;
	}
	printf("%s: getcwd = %s (length_ok=%s)\n", label, spath(buf),
	       r == (long)strlen(buf) + 1 ? "yes" : "no");
}

static void test_mkdir_rmdir(void)
{
	struct stat st;
	SC(SYS_umask, 022);
	make_file("f", "data", 0644);
	T("mkdir(d, 0777)", SC(SYS_mkdir, "d", 0777));
	SC(SYS_stat, "d", &st);
	printf("  mode=%04o\n", (unsigned)(st.st_mode & 07777));
	T("mkdir(d) again", SC(SYS_mkdir, "d", 0777));
	T("mkdir(d/)", SC(SYS_mkdir, "d/", 0777));
	T("mkdir(f)", SC(SYS_mkdir, "f", 0777));
	T("mkdir(nx/y)", SC(SYS_mkdir, "nx/y", 0777));
	T("mkdir(f/y)", SC(SYS_mkdir, "f/y", 0777));
	T("mkdir(name of 256 bytes)", SC(SYS_mkdir, long_name(256), 0777));
	T("mkdir(path over PATH_MAX)", SC(SYS_mkdir, long_path(), 0777));
	T("mkdir(BADPTR)", SC(SYS_mkdir, BADPTR, 0777));
	T("mkdir(\"\")", SC(SYS_mkdir, "", 0777));
	T("mkdir(.)", SC(SYS_mkdir, ".", 0777));
	T("mkdir(e/) (trailing slash)", SC(SYS_mkdir, "e/", 0700));
	T("mkdir(s, 07777)", SC(SYS_mkdir, "s", 07777));
	SC(SYS_stat, "s", &st);
	printf("  mode=%04o (setuid/setgid dropped, sticky kept)\n", (unsigned)(st.st_mode & 07777));

	int dfd = (int)T("open(d, O_DIRECTORY)", SC(SYS_open, "d", O_RDONLY | O_DIRECTORY));
	int ffd = (int)T("open(f)", SC(SYS_open, "f", O_RDONLY));
	T("mkdirat(dfd, sub, 0700)", SC(SYS_mkdirat, dfd, "sub", 0700));
	SC(SYS_stat, "d/sub", &st);
	printf("  d/sub: type=%s mode=%04o\n", S_ISDIR(st.st_mode) ? "dir" : "?", (unsigned)(st.st_mode & 07777));
	T("mkdirat(dfd, sub) again", SC(SYS_mkdirat, dfd, "sub", 0700));
	T("mkdirat(AT_FDCWD, d/sub2)", SC(SYS_mkdirat, AT_FDCWD, "d/sub2", 0755));
	T("mkdirat(-1, x)", SC(SYS_mkdirat, BADFD, "x", 0755));
	T("mkdirat(9999, x)", SC(SYS_mkdirat, BIGFD, "x", 0755));
	T("mkdirat(regular-file fd, x)", SC(SYS_mkdirat, ffd, "x", 0755));
	char abs[PATH_MAX + 8];
	snprintf(abs, sizeof abs, "%s/abs", scratch);
	T("mkdirat(-1, $S/abs) (absolute path ignores dirfd)", SC(SYS_mkdirat, BADFD, abs, 0755));
	T("mkdirat(dfd, BADPTR)", SC(SYS_mkdirat, dfd, BADPTR, 0755));
	T("close(f)", SC(SYS_close, ffd));

	T("symlink(d, ld)", SC(SYS_symlink, "d", "ld"));
	T("rmdir(d) (not empty)", SC(SYS_rmdir, "d"));
	T("rmdir(f)", SC(SYS_rmdir, "f"));
	T("rmdir(ld) (symlink to dir)", SC(SYS_rmdir, "ld"));
	T("rmdir(nx)", SC(SYS_rmdir, "nx"));
	T("rmdir(.)", SC(SYS_rmdir, "."));
	T("rmdir(d/.)", SC(SYS_rmdir, "d/."));
	T("rmdir(d/sub/..)", SC(SYS_rmdir, "d/sub/.."));
	T("rmdir(/)", SC(SYS_rmdir, "/"));
	T("rmdir(BADPTR)", SC(SYS_rmdir, BADPTR));
	T("rmdir(\"\")", SC(SYS_rmdir, ""));
	T("rmdir(name of 256 bytes)", SC(SYS_rmdir, long_name(256)));
	T("rmdir(f/x)", SC(SYS_rmdir, "f/x"));
	T("rmdir(d/sub)", SC(SYS_rmdir, "d/sub"));
	T("rmdir(d/sub) again", SC(SYS_rmdir, "d/sub"));
	T("rmdir(d/sub2/)", SC(SYS_rmdir, "d/sub2/"));
	T("rmdir(d)", SC(SYS_rmdir, "d"));
	T("stat(d)", SC(SYS_stat, "d", &st));
	T("mkdirat(dfd, y) in a removed directory", SC(SYS_mkdirat, dfd, "y", 0755));
	T("close(dfd)", SC(SYS_close, dfd));
	T("rmdir(e)", SC(SYS_rmdir, "e"));
	T("rmdir(s)", SC(SYS_rmdir, "s"));
	T("rmdir(abs)", SC(SYS_rmdir, "abs"));
	T("unlink(ld)", SC(SYS_unlink, "ld"));
}

static void test_getdents(void)
{
	char *names[400];
	int calls, bad;
	long n;
	char buf[256];

	T("mkdir(list)", SC(SYS_mkdir, "list", 0755));
	make_file("list/c", "", 0644);
	make_file("list/a", "", 0644);
	make_file("list/b", "", 0644);
	T("mkdir(list/z)", SC(SYS_mkdir, "list/z", 0755));
	T("symlink(a, list/y)", SC(SYS_symlink, "a", "list/y"));
	int fd = (int)T("open(list, O_DIRECTORY)", SC(SYS_open, "list", O_RDONLY | O_DIRECTORY));
	n = list_dir(fd, 4096, names, 400, &calls, &bad);
	printf("getdents64(list): %ld entries, bad_reclen=%d\n", n, bad);
	for (long i = 0; i < n; i++)
		printf("  %s\n", names[i]);
	free_names(names, n);
	T("getdents64(list) at end", SC(SYS_getdents64, fd, buf, sizeof buf));
	T("lseek(list, 0, SEEK_SET)", SC(SYS_lseek, fd, 0L, SEEK_SET));
	T("getdents64(list, 1-byte buffer)", SC(SYS_getdents64, fd, buf, 1L));
	T("getdents64(list, BADPTR)", SC(SYS_getdents64, fd, BADPTR, 4096L));
	n = list_dir(fd, 4096, names, 400, &calls, &bad);
	printf("getdents64(list) after rewind: %ld entries\n", n);
	free_names(names, n);
	T("unlink(list/c)", SC(SYS_unlink, "list/c"));
	T("lseek(list, 0, SEEK_SET)", SC(SYS_lseek, fd, 0L, SEEK_SET));
	n = list_dir(fd, 4096, names, 400, &calls, &bad);
	printf("getdents64(list) after unlink(c): %ld entries\n", n);
	for (long i = 0; i < n; i++)
		printf("  %s\n", names[i]);
	free_names(names, n);
	T("close(list)", SC(SYS_close, fd));

	int ffd = (int)T("open(list/a)", SC(SYS_open, "list/a", O_RDONLY));
	T("getdents64(regular file)", SC(SYS_getdents64, ffd, buf, sizeof buf));
	T("close(list/a)", SC(SYS_close, ffd));
	T("getdents64(-1)", SC(SYS_getdents64, BADFD, buf, sizeof buf));
	T("getdents64(9999)", SC(SYS_getdents64, BIGFD, buf, sizeof buf));

	/* A directory too big for one call. */
	T("mkdir(big)", SC(SYS_mkdir, "big", 0755));
	for (int i = 0; i < 300; i++) {
		char name[64];
		snprintf(name, sizeof name, "big/file-with-a-longish-name-%03d", i);
		make_file(name, "", 0644);
	}
	fd = (int)T("open(big, O_DIRECTORY)", SC(SYS_open, "big", O_RDONLY | O_DIRECTORY));
	n = list_dir(fd, 512, names, 400, &calls, &bad);
	int ok = n == 302;
	for (long i = 0; ok && i < 300; i++) {
		char want[64];
		snprintf(want, sizeof want, "file-with-a-longish-name-%03ld reg", i);
		ok = strcmp(names[i + 2], want) == 0;
	}
	printf("getdents64(big, 512-byte buffer): %ld entries, names_ok=%s, several_calls=%s, bad_reclen=%d\n",
	       n, ok ? "yes" : "no", calls > 10 ? "yes" : "no", bad);
	free_names(names, n);
	T("close(big)", SC(SYS_close, fd));
}

static void test_cwd(void)
{
	char buf[PATH_MAX];
	int here = (int)T("open(., O_DIRECTORY)", SC(SYS_open, ".", O_RDONLY | O_DIRECTORY));
	show_cwd("start");
	T("mkdir(c)", SC(SYS_mkdir, "c", 0755));
	T("mkdir(c/d)", SC(SYS_mkdir, "c/d", 0755));
	T("chdir(c)", SC(SYS_chdir, "c"));
	show_cwd("after chdir(c)");
	T("chdir(d)", SC(SYS_chdir, "d"));
	show_cwd("after chdir(d)");
	T("chdir(../..)", SC(SYS_chdir, "../.."));
	show_cwd("after chdir(../..)");
	T("symlink(c/d, lcd)", SC(SYS_symlink, "c/d", "lcd"));
	T("chdir(lcd) (through a symlink)", SC(SYS_chdir, "lcd"));
	show_cwd("after chdir(lcd)");
	T("chdir(/)", SC(SYS_chdir, "/"));
	show_cwd("after chdir(/)");
	T("chdir(..) at /", SC(SYS_chdir, ".."));
	show_cwd("after chdir(..) at /");
	T("fchdir(here)", SC(SYS_fchdir, here));
	show_cwd("after fchdir(here)");
	make_file("f2", "x", 0644);
	int ffd = (int)T("open(f2)", SC(SYS_open, "f2", O_RDONLY));
	T("chdir(f2)", SC(SYS_chdir, "f2"));
	T("chdir(nx)", SC(SYS_chdir, "nx"));
	T("chdir(\"\")", SC(SYS_chdir, ""));
	T("chdir(BADPTR)", SC(SYS_chdir, BADPTR));
	T("chdir(name of 256 bytes)", SC(SYS_chdir, long_name(256)));
	T("chdir(path over PATH_MAX)", SC(SYS_chdir, long_path()));
	T("fchdir(regular file)", SC(SYS_fchdir, ffd));
	T("fchdir(-1)", SC(SYS_fchdir, BADFD));
	T("fchdir(9999)", SC(SYS_fchdir, BIGFD));
	show_cwd("after failed calls");
	T("getcwd(buf, 1)", SC(SYS_getcwd, buf, 1L));
	T("getcwd(buf, 0)", SC(SYS_getcwd, buf, 0L));
	T("getcwd(BADPTR, 4096)", SC(SYS_getcwd, BADPTR, 4096L));

	/* The working directory removed under us. */
	T("mkdir(gone)", SC(SYS_mkdir, "gone", 0755));
	T("chdir(gone)", SC(SYS_chdir, "gone"));
	T("rmdir(../gone)", SC(SYS_rmdir, "../gone"));
	show_cwd("in a removed directory");
	T("open(x, O_CREAT) in a removed directory", SC(SYS_open, "x", O_CREAT | O_WRONLY, 0644));
	T("chdir(..)", SC(SYS_chdir, ".."));
	show_cwd("after chdir(..)");
	T("close(f2)", SC(SYS_close, ffd));
	T("close(here)", SC(SYS_close, here));
}

int main(int argc, char **argv)
{
	setup(argc, argv, "dirs");
	test_mkdir_rmdir();
	test_getdents();
	test_cwd();
	printf("done\n");
	return 0;
}
