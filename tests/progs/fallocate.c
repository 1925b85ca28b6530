/*
 * fallocate on tmpfs (a 1 MiB mount made in a private namespace, so the
 * native run sees Linux's tmpfs, not the host disk) and on a memfd:
 * allocation with and without FALLOC_FL_KEEP_SIZE (st_size, st_blocks),
 * hole punching (zeros, freed blocks), ENOSPC at the mount's limit, the
 * modes tmpfs refuses, and the generic errors.
 */
#include "common.h"
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>

#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif
#define FALLOC_FL_COLLAPSE_RANGE 0x08
#define FALLOC_FL_ZERO_RANGE 0x10
#define FALLOC_FL_INSERT_RANGE 0x20
#define FALLOC_FL_UNSHARE_RANGE 0x40

static void fa(const char *what, int fd, int mode, long off, long len)
{
	long r = SC(SYS_fallocate, fd, mode, off, len);
	printf("fallocate(%s) = %s\n", what, r < 0 ? errname(errno) : "0");
}

static void show(const char *what, int fd)
{
	struct stat st;
	fstat(fd, &st);
	printf("%s: size=%ld blocks=%ld\n", what, (long)st.st_size, (long)st.st_blocks);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		printf("private namespace: %s\n", errname(errno));
		return 1;
	}
	mkdir("t", 0755);
	if (mount("none", "t", "tmpfs", 0, "size=1m") != 0) {
		printf("mount: %s\n", errname(errno));
		return 1;
	}
	int fd = open("t/f", O_RDWR | O_CREAT, 0644);
	show("fresh", fd);
	fa("0, 0, 10000", fd, 0, 0, 10000);
	show("after", fd);
	fa("KEEP_SIZE, 65536, 8192", fd, FALLOC_FL_KEEP_SIZE, 65536, 8192);
	show("after", fd);
	/* Allocated space reads as zeros. */
	char buf[16];
	memset(buf, 7, sizeof buf);
	long got = pread(fd, buf, 16, 5000);
	printf("pread in it = %ld, zero=%s\n", got, buf[0] == 0 && buf[15] == 0 ? "yes" : "no");
	/* Punch a hole in written data. */
	char data[12288];
	memset(data, 'a', sizeof data);
	pwrite(fd, data, sizeof data, 0);
	show("written 12288", fd);
	fa("PUNCH_HOLE alone", fd, FALLOC_FL_PUNCH_HOLE, 0, 4096);
	fa("PUNCH_HOLE|KEEP_SIZE, 100, 8192", fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100,
	   8192);
	show("punched", fd);
	pread(fd, data, sizeof data, 0);
	int zeros = 0, as = 0;
	for (int i = 0; i < 12288; i++)
		zeros += data[i] == 0, as += data[i] == 'a';
	printf("after the punch: %d zeros, %d a\n", zeros, as);
	/* Modes tmpfs does not have. */
	fa("ZERO_RANGE", fd, FALLOC_FL_ZERO_RANGE, 0, 4096);
	fa("COLLAPSE_RANGE", fd, FALLOC_FL_COLLAPSE_RANGE, 0, 4096);
	fa("INSERT_RANGE", fd, FALLOC_FL_INSERT_RANGE, 0, 4096);
	fa("UNSHARE_RANGE", fd, FALLOC_FL_UNSHARE_RANGE, 0, 4096);
	/* Generic errors. */
	fa("PUNCH|ZERO", fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0,
	   4096);
	fa("COLLAPSE|KEEP_SIZE", fd, FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_KEEP_SIZE, 0, 4096);
	fa("mode 0x100", fd, 0x100, 0, 4096);
	fa("len 0", fd, 0, 0, 0);
	fa("off -1", fd, 0, -1, 10);
	fa("off+len overflow", fd, 0, 0x7fffffffffffffffL, 10);
	fa("bad fd", 999, 0, 0, 10);
	int ro = open("t/f", O_RDONLY);
	fa("read-only fd", ro, 0, 0, 10);
	close(ro);
	int p[2];
	pipe(p);
	fa("pipe", p[1], 0, 0, 10);
	close(p[0]);
	close(p[1]);
	/* The mount's limit: 1 MiB. */
	int g = open("t/g", O_RDWR | O_CREAT, 0644);
	fa("2 MiB on a 1 MiB tmpfs", g, 0, 0, 2 << 20);
	show("g", g);
	close(g);
	unlink("t/g");
	fa("512 KiB", fd, FALLOC_FL_KEEP_SIZE, 0, 512 << 10);
	show("f", fd);
	close(fd);

	/* A memfd with F_SEAL_GROW. */
	int m = (int)SC(SYS_memfd_create, "fa", 2 /* MFD_ALLOW_SEALING */);
	fa("memfd 8192", m, 0, 0, 8192);
	show("memfd", m);
	fcntl(m, 1033 /* F_ADD_SEALS */, 0x0004 /* F_SEAL_GROW */);
	fa("memfd grow after F_SEAL_GROW", m, 0, 0, 16384);
	fa("memfd inside after F_SEAL_GROW", m, 0, 0, 4096);
	fa("memfd punch", m, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096);
	show("memfd", m);
	close(m);
	umount("t");
	return 0;
}
