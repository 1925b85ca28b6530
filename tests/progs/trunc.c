/*
 * Sizes and syncing: truncate, ftruncate, fsync, fdatasync.
 */
#include "common.h"

static void show_contents(const char *path)
{
	char buf[256];
	struct stat st;
	if (SC(SYS_stat, path, &st) != 0) {
		printf("  %s: stat = -1 %s\n", path, errname(errno));
		return;
	}
	int fd = (int)SC(SYS_open, path, O_RDONLY);
	long n = SC(SYS_read, fd, buf, sizeof buf);
	SC(SYS_close, fd);
	printf("  %s: size=%lld read=%ld \"", path, (long long)st.st_size, n);
	for (long i = 0; i < n; i++)
		if (buf[i])
			putchar(buf[i]);
		else
			printf("\\0");
	printf("\"\n");
}

int main(int argc, char **argv)
{
	setup(argc, argv, "trunc");
	make_file("f", "0123456789abcdef", 0644);
	T("mkdir(d)", SC(SYS_mkdir, "d", 0755));
	T("symlink(f, l)", SC(SYS_symlink, "f", "l"));

	T("truncate(f, 10)", SC(SYS_truncate, "f", 10L));
	show_contents("f");
	T("truncate(f, 14) (extends with zeros)", SC(SYS_truncate, "f", 14L));
	show_contents("f");
	T("truncate(l, 4) (follows the link)", SC(SYS_truncate, "l", 4L));
	show_contents("f");
	T("truncate(f, 0)", SC(SYS_truncate, "f", 0L));
	show_contents("f");
	T("truncate(f, -1)", SC(SYS_truncate, "f", -1L));
	T("truncate(d, 0)", SC(SYS_truncate, "d", 0L));
	T("truncate(nx, 0)", SC(SYS_truncate, "nx", 0L));
	T("truncate(f/x, 0)", SC(SYS_truncate, "f/x", 0L));
	T("truncate(\"\", 0)", SC(SYS_truncate, "", 0L));
	T("truncate(BADPTR, 0)", SC(SYS_truncate, BADPTR, 0L));
	T("truncate(name of 256 bytes, 0)", SC(SYS_truncate, long_name(256), 0L));

	int fd = (int)T("open(f, O_RDWR)", SC(SYS_open, "f", O_RDWR));
	T("write(f, hello world)", SC(SYS_write, fd, "hello world", 11L));
	T("ftruncate(f, 5)", SC(SYS_ftruncate, fd, 5L));
	show_contents("f");
	T("lseek(f, 0, SEEK_CUR) (offset kept past the end)", SC(SYS_lseek, fd, 0L, SEEK_CUR));
	T("write(f, !)", SC(SYS_write, fd, "!", 1L));
	show_contents("f");
	T("ftruncate(f, 8)", SC(SYS_ftruncate, fd, 8L));
	show_contents("f");
	T("ftruncate(f, -1)", SC(SYS_ftruncate, fd, -1L));
	T("ftruncate(-1, 0)", SC(SYS_ftruncate, BADFD, 0L));
	T("ftruncate(9999, 0)", SC(SYS_ftruncate, BIGFD, 0L));
	int ro = (int)T("open(f, O_RDONLY)", SC(SYS_open, "f", O_RDONLY));
	T("ftruncate(read-only fd, 0)", SC(SYS_ftruncate, ro, 0L));
	int dfd = (int)T("open(d, O_DIRECTORY)", SC(SYS_open, "d", O_RDONLY | O_DIRECTORY));
	T("ftruncate(directory fd, 0)", SC(SYS_ftruncate, dfd, 0L));
	int ap = (int)T("open(f, O_WRONLY|O_APPEND)", SC(SYS_open, "f", O_WRONLY | O_APPEND));
	T("ftruncate(O_APPEND fd, 2)", SC(SYS_ftruncate, ap, 2L));
	show_contents("f");
	int nul = (int)T("open(/dev/null, O_WRONLY)", SC(SYS_open, "/dev/null", O_WRONLY));
	T("ftruncate(/dev/null, 0)", SC(SYS_ftruncate, nul, 0L));

	T("fsync(f)", SC(SYS_fsync, fd));
	T("fdatasync(f)", SC(SYS_fdatasync, fd));
	T("fsync(read-only fd)", SC(SYS_fsync, ro));
	T("fdatasync(read-only fd)", SC(SYS_fdatasync, ro));
	T("fsync(directory fd)", SC(SYS_fsync, dfd));
	T("fdatasync(directory fd)", SC(SYS_fdatasync, dfd));
	T("fsync(/dev/null)", SC(SYS_fsync, nul));
	T("fdatasync(/dev/null)", SC(SYS_fdatasync, nul));
	T("fsync(-1)", SC(SYS_fsync, BADFD));
	T("fsync(9999)", SC(SYS_fsync, BIGFD));
	T("fdatasync(-1)", SC(SYS_fdatasync, BADFD));
	T("fdatasync(9999)", SC(SYS_fdatasync, BIGFD));

	/* O_TRUNC on open truncates. */
	T("write(f, again)", SC(SYS_pwrite64, fd, "again", 5L, 0L));
	show_contents("f");
	int t = (int)T("open(f, O_WRONLY|O_TRUNC)", SC(SYS_open, "f", O_WRONLY | O_TRUNC));
	show_contents("f");
	T("close(t)", SC(SYS_close, t));

	T("close(f)", SC(SYS_close, fd));
	T("close(ro)", SC(SYS_close, ro));
	T("close(d)", SC(SYS_close, dfd));
	T("close(ap)", SC(SYS_close, ap));
	T("close(/dev/null)", SC(SYS_close, nul));
	printf("done\n");
	return 0;
}
