/*
 * renameat2(RENAME_WHITEOUT) on tmpfs (mounted in a private namespace):
 * the file moves and a whiteout (a 0:0 character device, mode 0) takes
 * its old name; the flag's rules (not with RENAME_EXCHANGE; no privilege
 * needed since Linux 5.8).
 */
#include "common.h"
#include <sched.h>
#include <sys/mount.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#ifndef RENAME_WHITEOUT
#define RENAME_WHITEOUT 4
#endif

static void rn(const char *what, const char *a, const char *b, unsigned flags)
{
	long r = SC(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, flags);
	printf("renameat2(%s) = %s\n", what, r < 0 ? errname(errno) : "0");
}

static void kind(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0) {
		printf("%s: %s\n", path, errname(errno));
		return;
	}
	printf("%s: %s mode=%o rdev=%u:%u size=%ld\n", path,
	       S_ISCHR(st.st_mode) ? "chr" : S_ISREG(st.st_mode) ? "reg" : "other",
	       st.st_mode & 07777, major(st.st_rdev), minor(st.st_rdev), (long)st.st_size);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		printf("private namespace: %s\n", errname(errno));
		return 1;
	}
	mkdir("w", 0755);
	if (mount("none", "w", "tmpfs", 0, "size=1m") != 0) {
		printf("mount: %s\n", errname(errno));
		return 1;
	}
	close(open("w/a", O_CREAT | O_WRONLY, 0644));
	int fd = open("w/a", O_WRONLY);
	write(fd, "hello", 5);
	close(fd);
	rn("a -> b, WHITEOUT", "w/a", "w/b", RENAME_WHITEOUT);
	kind("w/a");
	kind("w/b");
	printf("open whiteout: %s\n", open("w/a", O_RDONLY) < 0 ? errname(errno) : "opened");
	rn("b -> a over the whiteout, WHITEOUT", "w/b", "w/a", RENAME_WHITEOUT);
	kind("w/a");
	kind("w/b");
	close(open("w/c", O_CREAT | O_WRONLY, 0644));
	rn("a -> c, WHITEOUT|NOREPLACE (exists)", "w/a", "w/c", RENAME_WHITEOUT | 1);
	rn("a -> c, WHITEOUT|EXCHANGE", "w/a", "w/c", RENAME_WHITEOUT | 2);
	rn("missing -> d, WHITEOUT", "w/missing", "w/d", RENAME_WHITEOUT);
	mkdir("w/dir", 0755);
	rn("dir -> dir2, WHITEOUT", "w/dir", "w/dir2", RENAME_WHITEOUT);
	kind("w/dir");
	/* Without CAP_MKNOD: allowed since Linux 5.8. */
	chmod("w", 0777);
	pid_t c = fork();
	if (c == 0) {
		if (setresgid(1000, 1000, 1000) != 0 || setresuid(1000, 1000, 1000) != 0)
			_exit(1);
		close(open("w/mine", O_CREAT | O_WRONLY, 0644));
		rn("as uid 1000, WHITEOUT", "w/mine", "w/mine2", RENAME_WHITEOUT);
		_exit(0);
	}
	int st;
	waitpid(c, &st, 0);
	kind("w/mine");
	umount("w");
	return 0;
}
