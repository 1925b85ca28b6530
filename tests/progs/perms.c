/*
 * Permissions: umask, access, faccessat, faccessat2, chmod, fchmod,
 * fchmodat.
 *
 * The harness starts every program with umask 022. Results that depend on
 * who runs the program (root passes most access checks) are the same
 * natively and in veil, since both run as the same user.
 */
#include "common.h"

static void show_mode(const char *path)
{
	struct stat st;
	if (SC(SYS_lstat, path, &st) != 0) {
		printf("  %s: lstat = -1 %s\n", path, errname(errno));
		return;
	}
	printf("  %s: type=%s mode=%04o\n", path, ftype(st.st_mode), (unsigned)(st.st_mode & 07777));
}

static void test_umask(void)
{
	printf("umask(077) = %04lo (inherited)\n", SC(SYS_umask, 077));
	printf("umask(022) = %04lo\n", SC(SYS_umask, 022));
	printf("umask(0177777) = %04lo\n", SC(SYS_umask, 0177777));
	printf("umask(022) = %04lo (only 0777 kept)\n", SC(SYS_umask, 022));
	make_file("u1", "", 0777);
	show_mode("u1");
	SC(SYS_umask, 0);
	make_file("u2", "", 0777);
	show_mode("u2");
	SC(SYS_umask, 027);
	make_file("u3", "", 0666);
	show_mode("u3");
	T("mkdir(ud, 0777) under umask 027", SC(SYS_mkdir, "ud", 0777));
	show_mode("ud");
	T("symlink(u1, ul)", SC(SYS_symlink, "u1", "ul"));
	show_mode("ul");
	SC(SYS_umask, 022);
}

static void test_chmod(void)
{
	make_file("f", "data", 0644);
	T("mkdir(d, 0755)", SC(SYS_mkdir, "d", 0755));
	make_file("d/g", "data", 0644);
	T("symlink(f, l)", SC(SYS_symlink, "f", "l"));

	T("chmod(f, 0600)", SC(SYS_chmod, "f", 0600));
	show_mode("f");
	T("chmod(f, 0)", SC(SYS_chmod, "f", 0));
	show_mode("f");
	T("chmod(f, 0177777) (type bits ignored)", SC(SYS_chmod, "f", 0177777));
	show_mode("f");
	T("chmod(f, 04755)", SC(SYS_chmod, "f", 04755));
	show_mode("f");
	T("chmod(l, 0640) (follows the link)", SC(SYS_chmod, "l", 0640));
	show_mode("f");
	show_mode("l");
	T("chmod(d, 01777)", SC(SYS_chmod, "d", 01777));
	show_mode("d");
	T("chmod(d, 0755)", SC(SYS_chmod, "d", 0755));
	T("chmod(nx, 0644)", SC(SYS_chmod, "nx", 0644));
	T("chmod(f/x, 0644)", SC(SYS_chmod, "f/x", 0644));
	T("chmod(\"\", 0644)", SC(SYS_chmod, "", 0644));
	T("chmod(BADPTR, 0644)", SC(SYS_chmod, BADPTR, 0644));
	T("chmod(name of 256 bytes, 0644)", SC(SYS_chmod, long_name(256), 0644));
	T("chmod(path over PATH_MAX, 0644)", SC(SYS_chmod, long_path(), 0644));

	int fd = (int)T("open(f, O_RDONLY)", SC(SYS_open, "f", O_RDONLY));
	T("fchmod(f, 0604) (read-only fd is enough)", SC(SYS_fchmod, fd, 0604));
	show_mode("f");
	T("fchmod(-1, 0644)", SC(SYS_fchmod, BADFD, 0644));
	T("fchmod(9999, 0644)", SC(SYS_fchmod, BIGFD, 0644));
	int dfd = (int)T("open(d, O_DIRECTORY)", SC(SYS_open, "d", O_RDONLY | O_DIRECTORY));
	T("fchmod(dfd, 0711)", SC(SYS_fchmod, dfd, 0711));
	show_mode("d");
	T("fchmodat(AT_FDCWD, f, 0644)", SC(SYS_fchmodat, AT_FDCWD, "f", 0644));
	show_mode("f");
	T("fchmodat(dfd, g, 0400)", SC(SYS_fchmodat, dfd, "g", 0400));
	show_mode("d/g");
	T("fchmodat(AT_FDCWD, l, 0444) (follows)", SC(SYS_fchmodat, AT_FDCWD, "l", 0444));
	show_mode("f");
	T("fchmodat(-1, g, 0644)", SC(SYS_fchmodat, BADFD, "g", 0644));
	T("fchmodat(9999, g, 0644)", SC(SYS_fchmodat, BIGFD, "g", 0644));
	T("fchmodat(regular-file fd, x, 0644)", SC(SYS_fchmodat, fd, "x", 0644));
	T("fchmodat(dfd, nx, 0644)", SC(SYS_fchmodat, dfd, "nx", 0644));
	T("fchmodat(dfd, BADPTR, 0644)", SC(SYS_fchmodat, dfd, BADPTR, 0644));
	T("close(f)", SC(SYS_close, fd));
	T("close(d)", SC(SYS_close, dfd));
	SC(SYS_chmod, "d", 0755);
	SC(SYS_chmod, "f", 0644);
}

static void test_access(void)
{
	make_file("r", "", 0644);
	make_file("x", "", 0755);
	make_file("none", "", 0);
	T("symlink(r, lr)", SC(SYS_symlink, "r", "lr"));
	T("symlink(nowhere, dangling)", SC(SYS_symlink, "nowhere", "dangling"));

	T("access(r, F_OK)", SC(SYS_access, "r", F_OK));
	T("access(r, R_OK)", SC(SYS_access, "r", R_OK));
	T("access(r, R_OK|W_OK)", SC(SYS_access, "r", R_OK | W_OK));
	T("access(r, X_OK)", SC(SYS_access, "r", X_OK));
	T("access(x, X_OK)", SC(SYS_access, "x", X_OK));
	T("access(x, R_OK|W_OK|X_OK)", SC(SYS_access, "x", R_OK | W_OK | X_OK));
	T("access(none, F_OK)", SC(SYS_access, "none", F_OK));
	T("access(none, X_OK)", SC(SYS_access, "none", X_OK));
	T("access(d, X_OK) (directory)", SC(SYS_access, "d", X_OK));
	T("access(d, W_OK)", SC(SYS_access, "d", W_OK));
	T("access(lr, R_OK) (follows)", SC(SYS_access, "lr", R_OK));
	T("access(dangling, F_OK)", SC(SYS_access, "dangling", F_OK));
	T("access(nx, F_OK)", SC(SYS_access, "nx", F_OK));
	T("access(r/x, F_OK)", SC(SYS_access, "r/x", F_OK));
	T("access(\"\", F_OK)", SC(SYS_access, "", F_OK));
	T("access(r, 8)", SC(SYS_access, "r", 8));
	T("access(r, 0x10)", SC(SYS_access, "r", 0x10));
	T("access(BADPTR, F_OK)", SC(SYS_access, BADPTR, F_OK));
	T("access(name of 256 bytes, F_OK)", SC(SYS_access, long_name(256), F_OK));
	T("access(/, R_OK|X_OK)", SC(SYS_access, "/", R_OK | X_OK));
	T("access(/dev/null, R_OK|W_OK)", SC(SYS_access, "/dev/null", R_OK | W_OK));
	T("access(/bin/sh, X_OK)", SC(SYS_access, "/bin/sh", X_OK));

	int dfd = (int)T("open(., O_DIRECTORY)", SC(SYS_open, ".", O_RDONLY | O_DIRECTORY));
	int fd = (int)T("open(r)", SC(SYS_open, "r", O_RDONLY));
	T("faccessat(AT_FDCWD, r, R_OK)", SC(SYS_faccessat, AT_FDCWD, "r", R_OK));
	T("faccessat(dfd, x, X_OK)", SC(SYS_faccessat, dfd, "x", X_OK));
	T("faccessat(dfd, r, X_OK)", SC(SYS_faccessat, dfd, "r", X_OK));
	T("faccessat(-1, r, R_OK)", SC(SYS_faccessat, BADFD, "r", R_OK));
	T("faccessat(9999, r, R_OK)", SC(SYS_faccessat, BIGFD, "r", R_OK));
	T("faccessat(regular-file fd, x, R_OK)", SC(SYS_faccessat, fd, "x", R_OK));
	T("faccessat(dfd, r, 8)", SC(SYS_faccessat, dfd, "r", 8));
	T("faccessat(dfd, BADPTR, R_OK)", SC(SYS_faccessat, dfd, BADPTR, R_OK));

	T("faccessat2(AT_FDCWD, r, R_OK, 0)", SC(SYS_faccessat2, AT_FDCWD, "r", R_OK, 0));
	T("faccessat2(AT_FDCWD, r, R_OK, AT_EACCESS)", SC(SYS_faccessat2, AT_FDCWD, "r", R_OK, AT_EACCESS));
	T("faccessat2(AT_FDCWD, r, X_OK, AT_EACCESS)", SC(SYS_faccessat2, AT_FDCWD, "r", X_OK, AT_EACCESS));
	T("faccessat2(AT_FDCWD, dangling, F_OK, 0)", SC(SYS_faccessat2, AT_FDCWD, "dangling", F_OK, 0));
	T("faccessat2(AT_FDCWD, dangling, F_OK, AT_SYMLINK_NOFOLLOW)",
	  SC(SYS_faccessat2, AT_FDCWD, "dangling", F_OK, AT_SYMLINK_NOFOLLOW));
	T("faccessat2(fd, \"\", R_OK, AT_EMPTY_PATH)", SC(SYS_faccessat2, fd, "", R_OK, AT_EMPTY_PATH));
	T("faccessat2(fd, \"\", X_OK, AT_EMPTY_PATH)", SC(SYS_faccessat2, fd, "", X_OK, AT_EMPTY_PATH));
	T("faccessat2(fd, \"\", R_OK, 0)", SC(SYS_faccessat2, fd, "", R_OK, 0));
	T("faccessat2(dfd, r, R_OK, 0x1)", SC(SYS_faccessat2, dfd, "r", R_OK, 0x1));
	T("faccessat2(dfd, r, 8, 0)", SC(SYS_faccessat2, dfd, "r", 8, 0));
	T("faccessat2(-1, r, R_OK, 0)", SC(SYS_faccessat2, BADFD, "r", R_OK, 0));
	T("faccessat2(dfd, BADPTR, R_OK, 0)", SC(SYS_faccessat2, dfd, BADPTR, R_OK, 0));
	T("close(r)", SC(SYS_close, fd));
	T("close(.)", SC(SYS_close, dfd));
}

int main(int argc, char **argv)
{
	setup(argc, argv, "perms");
	test_umask();
	test_chmod();
	test_access();
	printf("done\n");
	return 0;
}
