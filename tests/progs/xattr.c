/*
 * Extended attributes: setxattr, getxattr, listxattr, removexattr and their
 * l- and f- forms: create / replace flags, sizes (ERANGE, E2BIG), the user.
 * namespace only on regular files and directories, trusted. for root only,
 * unknown namespaces, O_PATH descriptors, bad pointers, and what a user
 * who is not root may do (in a child that drops to uid 1000).
 *
 * Lists are printed sorted: filesystems keep attributes in different
 * orders.
 */
#include "common.h"

#include <sys/wait.h>
#include <time.h>

#ifndef O_PATH
#define O_PATH 010000000
#endif
#define XATTR_CREATE 1
#define XATTR_REPLACE 2

/* Print the attribute names of path (sorted), or the error. */
static void show_list(const char *label, long nr, long target)
{
	char buf[1024];
	long n = SC(nr, target, buf, sizeof buf);
	if (n < 0) {
		printf("%s = -1 %s\n", label, errname(errno));
		return;
	}
	const char *names[64];
	int k = 0;
	for (long i = 0; i < n && k < 64; i += (long)strlen(buf + i) + 1)
		names[k++] = buf + i;
	for (int i = 0; i < k; i++)
		for (int j = i + 1; j < k; j++)
			if (strcmp(names[j], names[i]) < 0) {
				const char *t = names[i];
				names[i] = names[j];
				names[j] = t;
			}
	printf("%s = %ld:", label, n);
	for (int i = 0; i < k; i++)
		printf(" %s", names[i]);
	printf("\n");
}

/* Print the value of name on path, or the error. */
static void show_value(const char *path, const char *name)
{
	char buf[256];
	long n = SC(SYS_getxattr, path, name, buf, sizeof buf - 1);
	if (n < 0) {
		printf("  getxattr(%s, %s) = -1 %s\n", path, name, errname(errno));
		return;
	}
	buf[n] = 0;
	printf("  getxattr(%s, %s) = %ld \"%s\"\n", path, name, n, buf);
}

static void as_user(void)
{
	T("setresuid(1000, 1000, 1000)", SC(SYS_setresuid, 1000L, 1000L, 1000L));
	T("getxattr(f, trusted.t) (not root)", SC(SYS_getxattr, "f", "trusted.t", NULL, 0L));
	T("setxattr(f, trusted.t) (not root)", SC(SYS_setxattr, "f", "trusted.t", "x", 1L, 0L));
	T("removexattr(f, trusted.t) (not root)", SC(SYS_removexattr, "f", "trusted.t"));
	show_list("listxattr(f) (trusted. hidden)", SYS_listxattr, (long)"f");
	T("getxattr(f, user.a) (world-readable)", SC(SYS_getxattr, "f", "user.a", NULL, 0L));
	T("setxattr(f, user.a) (not the owner, no write permission)",
	  SC(SYS_setxattr, "f", "user.a", "x", 1L, 0L));
	T("removexattr(f, user.a) (no write permission)", SC(SYS_removexattr, "f", "user.a"));
	T("getxattr(private, user.a) (no read permission)",
	  SC(SYS_getxattr, "private", "user.a", NULL, 0L));
	T("setxattr(mine, user.m) (write permission)", SC(SYS_setxattr, "mine", "user.m", "v", 1L, 0L));
	T("getxattr(mine, user.m)", SC(SYS_getxattr, "mine", "user.m", NULL, 0L));
	T("setxattr(sticky, user.s) (sticky dir of root)",
	  SC(SYS_setxattr, "sticky", "user.s", "v", 1L, 0L));
	T("setxattr(f, security.s) (not root)", SC(SYS_setxattr, "f", "security.s", "v", 1L, 0L));
	exit(0);
}

int main(int argc, char **argv)
{
	char buf[64];
	setup(argc, argv, "xattr");
	make_file("f", "data", 0644);
	T("mkdir(d)", SC(SYS_mkdir, "d", 0755));
	T("symlink(f, l)", SC(SYS_symlink, "f", "l"));

	printf("-- set, get, replace\n");
	show_list("listxattr(f) (none yet)", SYS_listxattr, (long)"f");
	T("getxattr(f, user.a) (absent)", SC(SYS_getxattr, "f", "user.a", buf, sizeof buf));
	T("setxattr(f, user.a, hello)", SC(SYS_setxattr, "f", "user.a", "hello", 5L, 0L));
	show_value("f", "user.a");
	T("getxattr(f, user.a, size 0) (the length)", SC(SYS_getxattr, "f", "user.a", NULL, 0L));
	T("getxattr(f, user.a, size 3)", SC(SYS_getxattr, "f", "user.a", buf, 3L));
	T("getxattr(f, user.a, BADPTR)", SC(SYS_getxattr, "f", "user.a", BADPTR, 16L));
	T("setxattr(f, user.a, XATTR_CREATE) (exists)",
	  SC(SYS_setxattr, "f", "user.a", "x", 1L, (long)XATTR_CREATE));
	T("setxattr(f, user.b, XATTR_REPLACE) (absent)",
	  SC(SYS_setxattr, "f", "user.b", "x", 1L, (long)XATTR_REPLACE));
	T("setxattr(f, user.a, XATTR_REPLACE)",
	  SC(SYS_setxattr, "f", "user.a", "world!", 6L, (long)XATTR_REPLACE));
	show_value("f", "user.a");
	T("setxattr(f, user.empty, \"\", 0)", SC(SYS_setxattr, "f", "user.empty", NULL, 0L, 0L));
	show_value("f", "user.empty");
	T("setxattr(f, trusted.t, 42)", SC(SYS_setxattr, "f", "trusted.t", "42", 2L, 0L));
	show_value("f", "trusted.t");
	T("setxattr(f, user.b, flags 4)", SC(SYS_setxattr, "f", "user.b", "x", 1L, 4L));
	show_list("listxattr(f)", SYS_listxattr, (long)"f");
	T("listxattr(f, size 0) (the length)", SC(SYS_listxattr, "f", NULL, 0L));
	T("listxattr(f, size 5)", SC(SYS_listxattr, "f", buf, 5L));
	T("listxattr(f, BADPTR)", SC(SYS_listxattr, "f", BADPTR, 64L));

	printf("-- names and sizes\n");
	T("setxattr(f, \"\")", SC(SYS_setxattr, "f", "", "x", 1L, 0L));
	T("setxattr(f, 256-byte name)", SC(SYS_setxattr, "f", long_name(256), "x", 1L, 0L));
	T("getxattr(f, 256-byte name)", SC(SYS_getxattr, "f", long_name(256), buf, 64L));
	T("setxattr(f, BADPTR name)", SC(SYS_setxattr, "f", BADPTR, "x", 1L, 0L));
	T("setxattr(f, user.v, BADPTR value)", SC(SYS_setxattr, "f", "user.v", BADPTR, 4L, 0L));
	T("setxattr(f, user.v, 65537 bytes)", SC(SYS_setxattr, "f", "user.v", buf, 65537L, 0L));
	T("setxattr(f, foo.bar) (unknown namespace)", SC(SYS_setxattr, "f", "foo.bar", "x", 1L, 0L));
	T("getxattr(f, foo.bar) (unknown namespace)", SC(SYS_getxattr, "f", "foo.bar", buf, 64L));
	T("removexattr(f, foo.bar)", SC(SYS_removexattr, "f", "foo.bar"));
	T("setxattr(f, user.) (bare prefix)", SC(SYS_setxattr, "f", "user.", "x", 1L, 0L));
	T("getxattr(f, user.) (bare prefix)", SC(SYS_getxattr, "f", "user.", buf, 64L));

	printf("-- objects\n");
	T("setxattr(d, user.dir, 1)", SC(SYS_setxattr, "d", "user.dir", "1", 1L, 0L));
	show_value("d", "user.dir");
	T("lsetxattr(l, user.x) (symlink)", SC(SYS_lsetxattr, "l", "user.x", "1", 1L, 0L));
	T("lgetxattr(l, user.a) (symlink)", SC(SYS_lgetxattr, "l", "user.a", buf, 64L));
	T("getxattr(l, user.a) (follows)", SC(SYS_getxattr, "l", "user.a", buf, 64L));
	T("lsetxattr(l, trusted.l)", SC(SYS_lsetxattr, "l", "trusted.l", "1", 1L, 0L));
	T("lgetxattr(l, trusted.l)", SC(SYS_lgetxattr, "l", "trusted.l", buf, 64L));
	show_list("llistxattr(l)", SYS_llistxattr, (long)"l");
	T("lremovexattr(l, trusted.l)", SC(SYS_lremovexattr, "l", "trusted.l"));
	T("getxattr(nx, user.a)", SC(SYS_getxattr, "nx", "user.a", buf, 64L));
	T("setxattr(nx, user.a)", SC(SYS_setxattr, "nx", "user.a", "1", 1L, 0L));
	T("listxattr(nx)", SC(SYS_listxattr, "nx", buf, 64L));
	T("removexattr(nx, user.a)", SC(SYS_removexattr, "nx", "user.a"));
	T("getxattr(BADPTR, user.a)", SC(SYS_getxattr, BADPTR, "user.a", buf, 64L));
	T("mknod(fifo)", SC(SYS_mknod, "fifo", S_IFIFO | 0644, 0L));
	T("setxattr(fifo, user.x)", SC(SYS_setxattr, "fifo", "user.x", "1", 1L, 0L));
	T("getxattr(fifo, user.x)", SC(SYS_getxattr, "fifo", "user.x", buf, 64L));

	printf("-- descriptors\n");
	int fd = (int)T("open(f, O_RDONLY)", SC(SYS_open, "f", O_RDONLY));
	T("fsetxattr(f, user.fd, v) (read-only fd)", SC(SYS_fsetxattr, fd, "user.fd", "v", 1L, 0L));
	T("fgetxattr(f, user.fd)", SC(SYS_fgetxattr, fd, "user.fd", buf, 64L));
	show_list("flistxattr(f)", SYS_flistxattr, fd);
	T("fremovexattr(f, user.fd)", SC(SYS_fremovexattr, fd, "user.fd"));
	T("fremovexattr(f, user.fd) again", SC(SYS_fremovexattr, fd, "user.fd"));
	SC(SYS_close, fd);
	fd = (int)T("open(f, O_PATH)", SC(SYS_open, "f", O_PATH));
	T("fgetxattr(O_PATH fd)", SC(SYS_fgetxattr, fd, "user.a", buf, 64L));
	T("fsetxattr(O_PATH fd)", SC(SYS_fsetxattr, fd, "user.a", "1", 1L, 0L));
	T("flistxattr(O_PATH fd)", SC(SYS_flistxattr, fd, buf, 64L));
	SC(SYS_close, fd);
	T("fgetxattr(-1)", SC(SYS_fgetxattr, BADFD, "user.a", buf, 64L));
	T("fsetxattr(9999)", SC(SYS_fsetxattr, BIGFD, "user.a", "1", 1L, 0L));

	printf("-- remove\n");
	T("removexattr(f, user.empty)", SC(SYS_removexattr, "f", "user.empty"));
	T("removexattr(f, user.empty) again", SC(SYS_removexattr, "f", "user.empty"));
	show_list("listxattr(f)", SYS_listxattr, (long)"f");

	printf("-- change time\n");
	struct stat a, b;
	SC(SYS_stat, "f", &a);
	struct timespec ts = {0, 20 * 1000 * 1000};
	nanosleep(&ts, NULL);
	SC(SYS_setxattr, "f", "user.c", "1", 1L, 0L);
	SC(SYS_stat, "f", &b);
	check("setxattr changed ctime",
	      b.st_ctim.tv_sec != a.st_ctim.tv_sec || b.st_ctim.tv_nsec != a.st_ctim.tv_nsec);
	check("setxattr kept mtime",
	      b.st_mtim.tv_sec == a.st_mtim.tv_sec && b.st_mtim.tv_nsec == a.st_mtim.tv_nsec);

	printf("-- as uid 1000\n");
	make_file("private", "p", 0600);
	SC(SYS_setxattr, "private", "user.a", "1", 1L, 0L);
	make_file("mine", "m", 0666);
	T("chmod(mine, 0666)", SC(SYS_chmod, "mine", 0666));
	T("mkdir(sticky, 01777)", SC(SYS_mkdir, "sticky", 01777));
	T("chmod(sticky, 01777)", SC(SYS_chmod, "sticky", 01777));
	T("chmod(., 0755)", SC(SYS_chmod, ".", 0755));
	fflush(stdout);
	pid_t p = fork();
	if (p == 0)
		as_user();
	int st;
	waitpid(p, &st, 0);
	printf("child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return 0;
}
