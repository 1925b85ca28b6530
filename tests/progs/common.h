/*
 * Shared helpers for the conformance programs in tests/progs.
 *
 * Every program prints one line per check, in a form that is equal whether
 * it runs natively or in veil, and whether it was built against musl or
 * glibc:
 *
 *     open(/nonexistent/x) = -1 ENOENT
 *     read(f, 5) = 5
 *
 * Calls go through the raw syscall() function so that the libc's wrappers
 * (which differ between musl and glibc, e.g. stat() as newfstatat or statx)
 * do not hide what the kernel answers. Values that differ between two runs
 * (addresses, inode numbers, times, pids) are never printed; the program
 * prints a comparison instead ("same_ino=yes").
 *
 * Kernel structures and constants that musl's headers lack (musl-gcc on
 * Debian sees no <linux/...> headers) are defined here.
 */
#ifndef VEIL_PROGS_COMMON_H
#define VEIL_PROGS_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

/* Syscall numbers (x86-64) that older libc headers may lack. */
#ifndef SYS_statx
#define SYS_statx 332
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_faccessat2
#define SYS_faccessat2 439
#endif
#ifndef SYS_renameat2
#define SYS_renameat2 316
#endif
#ifndef SYS_getrandom
#define SYS_getrandom 318
#endif

#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
#ifndef AT_EACCESS
#define AT_EACCESS 0x200
#endif
#ifndef AT_SYMLINK_FOLLOW
#define AT_SYMLINK_FOLLOW 0x400
#endif
#ifndef AT_STATX_FORCE_SYNC
#define AT_STATX_FORCE_SYNC 0x2000
#endif
#ifndef AT_STATX_DONT_SYNC
#define AT_STATX_DONT_SYNC 0x4000
#endif
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE 1
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE 2
#endif
#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE 2
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC 4
#endif

#define K_STATX_TYPE 0x1u
#define K_STATX_MODE 0x2u
#define K_STATX_NLINK 0x4u
#define K_STATX_UID 0x8u
#define K_STATX_GID 0x10u
#define K_STATX_SIZE 0x200u
#define K_STATX_BASIC_STATS 0x7ffu
#define K_STATX__RESERVED 0x80000000u

/* The kernel's struct statx (include/uapi/linux/stat.h), 256 bytes. */
struct k_statx_timestamp {
	int64_t tv_sec;
	uint32_t tv_nsec;
	int32_t reserved;
};
struct k_statx {
	uint32_t stx_mask;
	uint32_t stx_blksize;
	uint64_t stx_attributes;
	uint32_t stx_nlink;
	uint32_t stx_uid;
	uint32_t stx_gid;
	uint16_t stx_mode;
	uint16_t spare0;
	uint64_t stx_ino;
	uint64_t stx_size;
	uint64_t stx_blocks;
	uint64_t stx_attributes_mask;
	struct k_statx_timestamp stx_atime, stx_btime, stx_ctime, stx_mtime;
	uint32_t stx_rdev_major;
	uint32_t stx_rdev_minor;
	uint32_t stx_dev_major;
	uint32_t stx_dev_minor;
	uint64_t spare2[14];
};

/* A pointer that is never mapped: calls given it must fail with EFAULT. */
#define BADPTR ((void *)1)
/* Descriptors that are never open. */
#define BADFD (-1)
#define BIGFD 9999

__attribute__((unused)) static const char *errname(int e)
{
	static char other[32];
	switch (e) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case EINTR: return "EINTR";
	case EIO: return "EIO";
	case ENXIO: return "ENXIO";
	case E2BIG: return "E2BIG";
	case ENOEXEC: return "ENOEXEC";
	case EBADF: return "EBADF";
	case ECHILD: return "ECHILD";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case ENOTBLK: return "ENOTBLK";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case EXDEV: return "EXDEV";
	case ENODEV: return "ENODEV";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EINVAL: return "EINVAL";
	case ENFILE: return "ENFILE";
	case EMFILE: return "EMFILE";
	case ENOTTY: return "ENOTTY";
	case ETXTBSY: return "ETXTBSY";
	case EFBIG: return "EFBIG";
	case ENOSPC: return "ENOSPC";
	case ESPIPE: return "ESPIPE";
	case EROFS: return "EROFS";
	case EMLINK: return "EMLINK";
	case EPIPE: return "EPIPE";
	case EDOM: return "EDOM";
	case ERANGE: return "ERANGE";
	case EDEADLK: return "EDEADLK";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case ENOLCK: return "ENOLCK";
	case ENOSYS: return "ENOSYS";
	case ENOTEMPTY: return "ENOTEMPTY";
	case ELOOP: return "ELOOP";
	case ENOMSG: return "ENOMSG";
	case ENODATA: return "ENODATA";
	case EOVERFLOW: return "EOVERFLOW";
	case EBADFD: return "EBADFD";
	case ENOTSOCK: return "ENOTSOCK";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EAFNOSUPPORT: return "EAFNOSUPPORT";
	case EADDRINUSE: return "EADDRINUSE";
	case ENOTCONN: return "ENOTCONN";
	case ETIMEDOUT: return "ETIMEDOUT";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ECONNRESET: return "ECONNRESET";
	case EISCONN: return "EISCONN";
	case EMSGSIZE: return "EMSGSIZE";
	case ENOBUFS: return "ENOBUFS";
	case EPROTOTYPE: return "EPROTOTYPE";
	case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
	case ESOCKTNOSUPPORT: return "ESOCKTNOSUPPORT";
	case ENOPROTOOPT: return "ENOPROTOOPT";
	case EDESTADDRREQ: return "EDESTADDRREQ";
	case ESTALE: return "ESTALE";
	case EDQUOT: return "EDQUOT";
	case ECANCELED: return "ECANCELED";
	default:
		snprintf(other, sizeof other, "E#%d", e);
		return other;
	}
}

/* Print "label = value" or "label = -1 ENAME" and hand the result back. */
__attribute__((unused)) static long report(const char *label, long r)
{
	int e = errno;
	if (r == -1)
		printf("%s = -1 %s\n", label, errname(e));
	else
		printf("%s = %ld\n", label, r);
	errno = e;
	return r;
}

/* Like report, for results whose value differs between runs (addresses). */
__attribute__((unused)) static long report_ok(const char *label, long r)
{
	int e = errno;
	if (r == -1)
		printf("%s = -1 %s\n", label, errname(e));
	else
		printf("%s = ok\n", label);
	errno = e;
	return r;
}

/* The argument list is evaluated before report() reads errno. */
#define T(label, expr) report((label), (long)(expr))
#define TOK(label, expr) report_ok((label), (long)(expr))
#define SC(...) syscall(__VA_ARGS__)

__attribute__((unused)) static void check(const char *what, int ok)
{
	printf("%s: %s\n", what, ok ? "yes" : "no");
}

/* The scratch directory (absolute, as getcwd saw it after chdir). */
static char scratch[PATH_MAX];

/*
 * Enter the scratch directory named by argv[1] (or stay in the current
 * directory), make stdout line-buffered so that a crash leaves the lines
 * printed so far, and announce the program.
 */
__attribute__((unused)) static void setup(int argc, char **argv, const char *name)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && chdir(argv[1]) != 0) {
		fprintf(stderr, "%s: cannot enter scratch dir %s: %s\n", name,
			argv[1], strerror(errno));
		exit(2);
	}
	if (!getcwd(scratch, sizeof scratch)) {
		fprintf(stderr, "%s: getcwd: %s\n", name, strerror(errno));
		exit(2);
	}
	printf("== %s\n", name);
}

/* Print a path with the scratch directory shown as $S. */
__attribute__((unused)) static const char *spath(const char *p)
{
	static char out[PATH_MAX + 8];
	size_t n = strlen(scratch);
	if (strncmp(p, scratch, n) == 0 && (p[n] == '/' || p[n] == 0))
		snprintf(out, sizeof out, "$S%s", p + n);
	else
		snprintf(out, sizeof out, "%s", p);
	return out;
}

/* A path component of n bytes ('a' repeated); n < 8192. */
__attribute__((unused)) static const char *long_name(size_t n)
{
	static char buf[8192];
	memset(buf, 'a', n);
	buf[n] = 0;
	return buf;
}

/* A path longer than PATH_MAX made of short components. */
__attribute__((unused)) static const char *long_path(void)
{
	static char buf[PATH_MAX + 64];
	size_t i;
	for (i = 0; i + 2 < sizeof buf - 1; i += 2) {
		buf[i] = 'a';
		buf[i + 1] = '/';
	}
	buf[i] = 'a';
	buf[i + 1] = 0;
	return buf;
}

__attribute__((unused)) static const char *ftype(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "reg";
	case S_IFDIR: return "dir";
	case S_IFLNK: return "lnk";
	case S_IFCHR: return "chr";
	case S_IFBLK: return "blk";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "sock";
	default: return "?";
	}
}

/* Write a whole buffer to a new file (mode before umask); exits on failure. */
__attribute__((unused)) static void make_file(const char *path, const char *data, mode_t mode)
{
	int fd = (int)SC(SYS_open, path, O_CREAT | O_TRUNC | O_WRONLY, mode);
	size_t n = strlen(data);
	if (fd < 0 || SC(SYS_write, fd, data, n) != (long)n) {
		printf("setup: make_file(%s) failed: %s\n", path, errname(errno));
		exit(3);
	}
	SC(SYS_close, fd);
}

#endif
