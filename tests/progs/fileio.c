/*
 * File I/O: open, openat, read, write, pread64, pwrite64, readv, writev,
 * lseek, close, close_range, dup, dup2, dup3, fcntl.
 */
#include "common.h"
#include <sys/uio.h>

static void show_buf(const char *label, const char *buf, long n)
{
	printf("%s: \"", label);
	for (long i = 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];
		long run = 0;
		while (i + run < n && buf[i + run] == 0)
			run++;
		if (run > 4) {
			printf("\\x00*%ld", run);
			i += run - 1;
			continue;
		}
		if (c >= 32 && c < 127 && c != '"' && c != '\\')
			putchar(c);
		else
			printf("\\x%02x", c);
	}
	printf("\"\n");
}

static void test_open(void)
{
	T("open(/nonexistent/x)", SC(SYS_open, "/nonexistent/x", O_RDONLY));
	T("open(BADPTR)", SC(SYS_open, BADPTR, O_RDONLY));
	T("open(NULL)", SC(SYS_open, NULL, O_RDONLY));
	T("open(\"\")", SC(SYS_open, "", O_RDONLY));
	T("open(f, O_CREAT|O_RDWR)", SC(SYS_open, "f", O_CREAT | O_RDWR, 0644));
	T("close(3)", SC(SYS_close, 3));
	T("open(f, O_CREAT|O_EXCL)", SC(SYS_open, "f", O_CREAT | O_EXCL | O_RDWR, 0644));
	T("open(f, O_RDONLY)", SC(SYS_open, "f", O_RDONLY));
	T("close(3)", SC(SYS_close, 3));
	T("mkdir(d)", SC(SYS_mkdir, "d", 0755));
	T("open(d, O_WRONLY)", SC(SYS_open, "d", O_WRONLY));
	T("open(d, O_RDWR)", SC(SYS_open, "d", O_RDWR));
	T("open(d, O_RDONLY|O_CREAT)", SC(SYS_open, "d", O_RDONLY | O_CREAT, 0644));
	T("open(d, O_RDONLY)", SC(SYS_open, "d", O_RDONLY));
	T("close(3)", SC(SYS_close, 3));
	T("open(d/, O_RDONLY|O_DIRECTORY)", SC(SYS_open, "d/", O_RDONLY | O_DIRECTORY));
	T("close(3)", SC(SYS_close, 3));
	T("open(f/x)", SC(SYS_open, "f/x", O_RDONLY));
	T("open(f/)", SC(SYS_open, "f/", O_RDONLY));
	T("open(f, O_DIRECTORY)", SC(SYS_open, "f", O_RDONLY | O_DIRECTORY));
	T("open(nx/y, O_CREAT)", SC(SYS_open, "nx/y", O_CREAT | O_WRONLY, 0644));
	T("open(name of 256 bytes)", SC(SYS_open, long_name(256), O_RDONLY));
	T("open(name of 256 bytes, O_CREAT)", SC(SYS_open, long_name(256), O_CREAT | O_WRONLY, 0644));
	T("open(name of 255 bytes)", SC(SYS_open, long_name(255), O_RDONLY));
	T("open(path over PATH_MAX)", SC(SYS_open, long_path(), O_RDONLY));
	T("open(., O_RDONLY)", SC(SYS_open, ".", O_RDONLY));
	T("close(3)", SC(SYS_close, 3));

	/* openat */
	T("openat(-1, f)", SC(SYS_openat, BADFD, "f", O_RDONLY));
	T("openat(9999, f)", SC(SYS_openat, BIGFD, "f", O_RDONLY));
	int ffd = (int)T("openat(AT_FDCWD, f)", SC(SYS_openat, AT_FDCWD, "f", O_RDONLY));
	T("openat(regular-file fd, x)", SC(SYS_openat, ffd, "x", O_RDONLY));
	int dfd = (int)T("openat(AT_FDCWD, d, O_DIRECTORY)", SC(SYS_openat, AT_FDCWD, "d", O_RDONLY | O_DIRECTORY));
	T("openat(dfd, g, O_CREAT|O_WRONLY)", SC(SYS_openat, dfd, "g", O_CREAT | O_WRONLY, 0600));
	T("close(5)", SC(SYS_close, 5));
	T("openat(dfd, g)", SC(SYS_openat, dfd, "g", O_RDONLY));
	T("close(5)", SC(SYS_close, 5));
	T("openat(dfd, ../f)", SC(SYS_openat, dfd, "../f", O_RDONLY));
	T("close(5)", SC(SYS_close, 5));
	char abs[PATH_MAX + 8];
	snprintf(abs, sizeof abs, "%s/f", scratch);
	T("openat(-1, $S/f) (absolute path ignores dirfd)", SC(SYS_openat, BADFD, abs, O_RDONLY));
	T("close(5)", SC(SYS_close, 5));
	T("openat(dfd, BADPTR)", SC(SYS_openat, dfd, BADPTR, O_RDONLY));
	T("close(ffd)", SC(SYS_close, ffd));
	T("close(dfd)", SC(SYS_close, dfd));

	/* O_TRUNC */
	make_file("t", "0123456789", 0644);
	int tfd = (int)T("open(t, O_RDWR|O_TRUNC)", SC(SYS_open, "t", O_RDWR | O_TRUNC));
	T("lseek(t, 0, SEEK_END) after O_TRUNC", SC(SYS_lseek, tfd, 0, SEEK_END));
	T("close(t)", SC(SYS_close, tfd));
}

static void test_read_write(void)
{
	char buf[256];
	int fd = (int)T("open(rw, O_CREAT|O_RDWR)", SC(SYS_open, "rw", O_CREAT | O_RDWR, 0644));
	T("write(rw, \"hello world\\n\")", SC(SYS_write, fd, "hello world\n", 12));
	T("lseek(rw, 0, SEEK_CUR)", SC(SYS_lseek, fd, 0, SEEK_CUR));
	T("lseek(rw, 0, SEEK_SET)", SC(SYS_lseek, fd, 0, SEEK_SET));
	long n = T("read(rw, 5)", SC(SYS_read, fd, buf, 5));
	show_buf("  data", buf, n);
	n = T("read(rw, 100)", SC(SYS_read, fd, buf, 100));
	show_buf("  data", buf, n);
	T("read(rw) at EOF", SC(SYS_read, fd, buf, 100));
	T("read(rw, 0 bytes)", SC(SYS_read, fd, buf, 0));
	T("lseek(rw, 0, SEEK_SET)", SC(SYS_lseek, fd, 0, SEEK_SET));
	T("read(rw, BADPTR, 10)", SC(SYS_read, fd, BADPTR, 10));
	T("read(rw, BADPTR, 0)", SC(SYS_read, fd, BADPTR, 0));
	T("lseek(rw, 0, SEEK_CUR) after EFAULT", SC(SYS_lseek, fd, 0, SEEK_CUR));
	T("write(rw, BADPTR, 10)", SC(SYS_write, fd, BADPTR, 10));
	T("write(rw, 0 bytes)", SC(SYS_write, fd, buf, 0));
	T("lseek(rw, 0, SEEK_END)", SC(SYS_lseek, fd, 0, SEEK_END));
	T("read(-1)", SC(SYS_read, BADFD, buf, 10));
	T("read(9999)", SC(SYS_read, BIGFD, buf, 10));
	T("write(-1)", SC(SYS_write, BADFD, "x", 1));
	T("write(9999)", SC(SYS_write, BIGFD, "x", 1));

	int ro = (int)T("open(rw, O_RDONLY)", SC(SYS_open, "rw", O_RDONLY));
	T("write(O_RDONLY fd)", SC(SYS_write, ro, "x", 1));
	T("close(ro)", SC(SYS_close, ro));
	int wo = (int)T("open(rw, O_WRONLY)", SC(SYS_open, "rw", O_WRONLY));
	T("read(O_WRONLY fd)", SC(SYS_read, wo, buf, 1));
	T("close(wo)", SC(SYS_close, wo));
	int dfd = (int)T("open(d, O_RDONLY)", SC(SYS_open, "d", O_RDONLY));
	T("read(dir fd)", SC(SYS_read, dfd, buf, 10));
	T("write(dir fd)", SC(SYS_write, dfd, "x", 1));

	/* pread64 / pwrite64 */
	T("pwrite64(rw, \"XY\", 6)", SC(SYS_pwrite64, fd, "XY", 2, 6));
	T("lseek(rw, 0, SEEK_CUR) unchanged", SC(SYS_lseek, fd, 0, SEEK_CUR));
	n = T("pread64(rw, 5, 6)", SC(SYS_pread64, fd, buf, 5, 6));
	show_buf("  data", buf, n);
	T("pread64(rw, 5, 12) at EOF", SC(SYS_pread64, fd, buf, 5, 12));
	T("pread64(rw, 5, 1000) past EOF", SC(SYS_pread64, fd, buf, 5, 1000));
	T("pread64(rw, offset -1)", SC(SYS_pread64, fd, buf, 5, -1L));
	T("pwrite64(rw, offset -1)", SC(SYS_pwrite64, fd, "x", 1, -1L));
	T("pread64(rw, BADPTR)", SC(SYS_pread64, fd, BADPTR, 5, 0));
	T("pwrite64(rw, BADPTR)", SC(SYS_pwrite64, fd, BADPTR, 5, 0));
	T("pread64(-1)", SC(SYS_pread64, BADFD, buf, 5, 0));
	T("pwrite64(9999)", SC(SYS_pwrite64, BIGFD, "x", 1, 0));
	T("pread64(dir fd)", SC(SYS_pread64, dfd, buf, 5, 0));
	T("close(dfd)", SC(SYS_close, dfd));
	T("pwrite64(rw, \"END\", 100) makes a hole", SC(SYS_pwrite64, fd, "END", 3, 100));
	T("lseek(rw, 0, SEEK_END)", SC(SYS_lseek, fd, 0, SEEK_END));
	n = T("pread64(rw, 200, 0)", SC(SYS_pread64, fd, buf, 200, 0));
	show_buf("  data", buf, n);

	/* O_APPEND: writes go to the end, even pwrite64 (a Linux quirk). */
	int fa = (int)T("open(ap, O_CREAT|O_WRONLY|O_APPEND)", SC(SYS_open, "ap", O_CREAT | O_WRONLY | O_APPEND, 0644));
	T("write(ap, abc)", SC(SYS_write, fa, "abc", 3));
	T("lseek(ap, 0, SEEK_SET)", SC(SYS_lseek, fa, 0, SEEK_SET));
	T("write(ap, def)", SC(SYS_write, fa, "def", 3));
	T("lseek(ap, 0, SEEK_CUR)", SC(SYS_lseek, fa, 0, SEEK_CUR));
	T("pwrite64(ap, Z, 0)", SC(SYS_pwrite64, fa, "Z", 1, 0));
	T("close(ap)", SC(SYS_close, fa));
	int fr = (int)T("open(ap, O_RDONLY)", SC(SYS_open, "ap", O_RDONLY));
	n = T("read(ap, 100)", SC(SYS_read, fr, buf, 100));
	show_buf("  data", buf, n);
	T("close(ap)", SC(SYS_close, fr));

	/* readv / writev */
	struct iovec wv[3] = {
		{ (void *)"one ", 4 }, { (void *)"two ", 4 }, { (void *)"three\n", 6 },
	};
	int fv = (int)T("open(v, O_CREAT|O_RDWR)", SC(SYS_open, "v", O_CREAT | O_RDWR, 0644));
	T("writev(v, 3 iovecs)", SC(SYS_writev, fv, wv, 3));
	T("lseek(v, 0, SEEK_SET)", SC(SYS_lseek, fv, 0, SEEK_SET));
	char a[3], b[4], c[20];
	struct iovec rv[3] = { { a, sizeof a }, { b, sizeof b }, { c, sizeof c } };
	T("readv(v, 3+4+20)", SC(SYS_readv, fv, rv, 3));
	show_buf("  iov0", a, 3);
	show_buf("  iov1", b, 4);
	show_buf("  iov2", c, 7);
	T("readv(v) at EOF", SC(SYS_readv, fv, rv, 3));
	T("readv(v, iovcnt 0)", SC(SYS_readv, fv, rv, 0));
	T("readv(v, iovcnt -1)", SC(SYS_readv, fv, rv, -1L));
	T("readv(v, iovcnt 1025)", SC(SYS_readv, fv, rv, 1025));
	T("writev(v, iovcnt 1025)", SC(SYS_writev, fv, wv, 1025));
	T("readv(v, iov BADPTR)", SC(SYS_readv, fv, BADPTR, 1));
	T("writev(v, iov BADPTR)", SC(SYS_writev, fv, BADPTR, 1));
	struct iovec bad[2] = { { BADPTR, 5 }, { b, 4 } };
	T("lseek(v, 0, SEEK_SET)", SC(SYS_lseek, fv, 0, SEEK_SET));
	T("readv(v, iov_base BADPTR)", SC(SYS_readv, fv, bad, 1));
	T("writev(v, iov_base BADPTR)", SC(SYS_writev, fv, bad, 1));
	struct iovec neg[2] = { { a, (size_t)-1 }, { b, 4 } };
	T("writev(v, negative iov_len)", SC(SYS_writev, fv, neg, 2));
	T("readv(v, negative iov_len)", SC(SYS_readv, fv, neg, 2));
	T("readv(-1)", SC(SYS_readv, BADFD, rv, 1));
	T("writev(9999)", SC(SYS_writev, BIGFD, wv, 1));
	T("close(v)", SC(SYS_close, fv));

	/* lseek */
	T("lseek(rw, -1, SEEK_SET)", SC(SYS_lseek, fd, -1L, SEEK_SET));
	T("lseek(rw, 0, 99)", SC(SYS_lseek, fd, 0, 99));
	T("lseek(rw, 1000, SEEK_SET) past EOF", SC(SYS_lseek, fd, 1000, SEEK_SET));
	T("lseek(rw, -5, SEEK_END)", SC(SYS_lseek, fd, -5L, SEEK_END));
	T("lseek(rw, 2, SEEK_CUR)", SC(SYS_lseek, fd, 2, SEEK_CUR));
	T("lseek(rw, -1000, SEEK_CUR)", SC(SYS_lseek, fd, -1000L, SEEK_CUR));
	T("lseek(-1)", SC(SYS_lseek, BADFD, 0, SEEK_SET));
	T("lseek(9999)", SC(SYS_lseek, BIGFD, 0, SEEK_SET));
	T("close(rw)", SC(SYS_close, fd));
}

static void test_dup_fcntl(void)
{
	int fd = (int)T("open(rw, O_RDWR)", SC(SYS_open, "rw", O_RDWR));
	int d1 = (int)T("dup(fd)", SC(SYS_dup, fd));
	T("lseek(fd, 3, SEEK_SET)", SC(SYS_lseek, fd, 3, SEEK_SET));
	T("lseek(dup, 0, SEEK_CUR) shares the offset", SC(SYS_lseek, d1, 0, SEEK_CUR));
	T("dup(-1)", SC(SYS_dup, BADFD));
	T("dup(9999)", SC(SYS_dup, BIGFD));
	T("dup2(fd, 20)", SC(SYS_dup2, fd, 20));
	T("dup2(fd, 20) again (replaces)", SC(SYS_dup2, fd, 20));
	T("dup2(fd, fd)", SC(SYS_dup2, fd, fd));
	T("dup2(9999, 21)", SC(SYS_dup2, BIGFD, 21));
	T("dup2(-1, -1)", SC(SYS_dup2, BADFD, BADFD));
	T("dup2(fd, -1)", SC(SYS_dup2, fd, BADFD));
	T("dup3(fd, 21, O_CLOEXEC)", SC(SYS_dup3, fd, 21, O_CLOEXEC));
	T("fcntl(21, F_GETFD)", SC(SYS_fcntl, 21, F_GETFD));
	T("fcntl(20, F_GETFD)", SC(SYS_fcntl, 20, F_GETFD));
	T("dup3(fd, fd, 0)", SC(SYS_dup3, fd, fd, 0));
	T("dup3(fd, 22, 0x1234)", SC(SYS_dup3, fd, 22, 0x1234));
	T("dup3(-1, 22, 0)", SC(SYS_dup3, BADFD, 22, 0));
	T("dup3(fd, -1, 0)", SC(SYS_dup3, fd, BADFD, 0));

	T("fcntl(fd, F_GETFD)", SC(SYS_fcntl, fd, F_GETFD));
	T("fcntl(fd, F_SETFD, FD_CLOEXEC)", SC(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC));
	T("fcntl(fd, F_GETFD)", SC(SYS_fcntl, fd, F_GETFD));
	T("fcntl(dup, F_GETFD) (per descriptor)", SC(SYS_fcntl, d1, F_GETFD));
	T("fcntl(fd, F_SETFD, 0)", SC(SYS_fcntl, fd, F_SETFD, 0));
	printf("fcntl(fd, F_GETFL) = %#lx\n", SC(SYS_fcntl, fd, F_GETFL));
	T("fcntl(fd, F_SETFL, O_NONBLOCK|O_APPEND)", SC(SYS_fcntl, fd, F_SETFL, O_NONBLOCK | O_APPEND));
	printf("fcntl(fd, F_GETFL) = %#lx\n", SC(SYS_fcntl, fd, F_GETFL));
	printf("fcntl(dup, F_GETFL) (shared description) = %#lx\n", SC(SYS_fcntl, d1, F_GETFL));
	T("fcntl(fd, F_SETFL, O_RDONLY) (access mode is kept)", SC(SYS_fcntl, fd, F_SETFL, O_RDONLY));
	printf("fcntl(fd, F_GETFL) = %#lx\n", SC(SYS_fcntl, fd, F_GETFL));
	int ro = (int)SC(SYS_open, "rw", O_RDONLY);
	printf("fcntl(O_RDONLY fd, F_GETFL) = %#lx\n", SC(SYS_fcntl, ro, F_GETFL));
	SC(SYS_close, ro);
	int wa = (int)SC(SYS_open, "rw", O_WRONLY | O_APPEND | O_CLOEXEC);
	printf("fcntl(O_WRONLY|O_APPEND|O_CLOEXEC fd, F_GETFL) = %#lx\n", SC(SYS_fcntl, wa, F_GETFL));
	T("fcntl(that fd, F_GETFD)", SC(SYS_fcntl, wa, F_GETFD));
	SC(SYS_close, wa);
	T("fcntl(fd, F_DUPFD, 10)", SC(SYS_fcntl, fd, F_DUPFD, 10));
	T("fcntl(fd, F_DUPFD, 10)", SC(SYS_fcntl, fd, F_DUPFD, 10));
	T("fcntl(fd, F_DUPFD_CLOEXEC, 10)", SC(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 10));
	T("fcntl(12, F_GETFD)", SC(SYS_fcntl, 12, F_GETFD));
	T("fcntl(fd, F_DUPFD, 0) (lowest free)", SC(SYS_fcntl, fd, F_DUPFD, 0));
	T("fcntl(fd, F_DUPFD, -1)", SC(SYS_fcntl, fd, F_DUPFD, -1L));
	T("fcntl(fd, 9999)", SC(SYS_fcntl, fd, 9999));
	T("fcntl(-1, F_GETFD)", SC(SYS_fcntl, BADFD, F_GETFD));
	T("fcntl(9999, F_GETFL)", SC(SYS_fcntl, BIGFD, F_GETFL));

	/* close and close_range */
	T("close(dup)", SC(SYS_close, d1));
	T("close(dup) again", SC(SYS_close, d1));
	T("close(-1)", SC(SYS_close, BADFD));
	T("close(9999)", SC(SYS_close, BIGFD));
	T("close_range(10, 11, 0)", SC(SYS_close_range, 10, 11, 0));
	T("fcntl(10, F_GETFD)", SC(SYS_fcntl, 10, F_GETFD));
	T("fcntl(11, F_GETFD)", SC(SYS_fcntl, 11, F_GETFD));
	T("fcntl(12, F_GETFD)", SC(SYS_fcntl, 12, F_GETFD));
	T("close_range(20, 21, CLOSE_RANGE_CLOEXEC)", SC(SYS_close_range, 20, 21, CLOSE_RANGE_CLOEXEC));
	T("fcntl(20, F_GETFD)", SC(SYS_fcntl, 20, F_GETFD));
	T("fcntl(21, F_GETFD)", SC(SYS_fcntl, 21, F_GETFD));
	T("close_range(5, 3, 0)", SC(SYS_close_range, 5, 3, 0));
	T("close_range(3, 3, 0x80)", SC(SYS_close_range, 3, 3, 0x80));
	T("close_range(12, ~0, CLOSE_RANGE_UNSHARE)", SC(SYS_close_range, 12, ~0U, CLOSE_RANGE_UNSHARE));
	T("fcntl(20, F_GETFD)", SC(SYS_fcntl, 20, F_GETFD));
	T("close_range(100, ~0, 0)", SC(SYS_close_range, 100, ~0U, 0));
	T("fcntl(fd, F_GETFD)", SC(SYS_fcntl, fd, F_GETFD));
	T("close(fd)", SC(SYS_close, fd));
	T("lowest free fd: open(rw)", SC(SYS_open, "rw", O_RDONLY));
}

static void test_dev(void)
{
	char buf[32];
	memset(buf, 'x', sizeof buf);
	int n = (int)T("open(/dev/null, O_RDWR)", SC(SYS_open, "/dev/null", O_RDWR));
	T("read(/dev/null)", SC(SYS_read, n, buf, sizeof buf));
	T("write(/dev/null, 5)", SC(SYS_write, n, "hello", 5));
	T("close(/dev/null)", SC(SYS_close, n));
	int z = (int)T("open(/dev/zero, O_RDONLY)", SC(SYS_open, "/dev/zero", O_RDONLY));
	long got = T("read(/dev/zero, 32)", SC(SYS_read, z, buf, sizeof buf));
	int zeros = 0;
	for (long i = 0; i < got; i++)
		zeros += buf[i] == 0;
	printf("  zero bytes: %d\n", zeros);
	T("close(/dev/zero)", SC(SYS_close, z));
	int u = (int)T("open(/dev/urandom, O_RDONLY)", SC(SYS_open, "/dev/urandom", O_RDONLY));
	T("read(/dev/urandom, 32)", SC(SYS_read, u, buf, sizeof buf));
	T("close(/dev/urandom)", SC(SYS_close, u));
	int r = (int)T("open(/dev/random, O_RDONLY)", SC(SYS_open, "/dev/random", O_RDONLY));
	T("read(/dev/random, 16)", SC(SYS_read, r, buf, 16));
	T("close(/dev/random)", SC(SYS_close, r));
}

int main(int argc, char **argv)
{
	setup(argc, argv, "fileio");
	test_open();
	test_read_write();
	test_dup_fcntl();
	test_dev();
	printf("done\n");
	return 0;
}
