/*
 * memfd_create, file seals (F_ADD_SEALS / F_GET_SEALS) and shared
 * mappings of a memfd (across fork, aliasing read/write).
 */
#include "common.h"
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#ifndef SYS_memfd_create
#define SYS_memfd_create 319
#endif
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x1U
#define MFD_ALLOW_SEALING 0x2U
#define MFD_HUGETLB 0x4U
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x8U
#define MFD_EXEC 0x10U
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_GET_SEALS 1034
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#define F_SEAL_WRITE 0x0008
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

static int mfd(const char *name, unsigned flags)
{
	return (int)SC(SYS_memfd_create, name, flags);
}

static void show_link(const char *label, int fd)
{
	char p[64], buf[512];
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(p, buf, sizeof buf - 1);
	if (n < 0) {
		printf("%s: readlink -1 %s\n", label, errname(errno));
		return;
	}
	buf[n] = 0;
	printf("%s: %s\n", label, buf);
}

static void show_stat(const char *label, int fd)
{
	struct stat st;
	if (fstat(fd, &st) != 0) {
		printf("%s: fstat -1 %s\n", label, errname(errno));
		return;
	}
	printf("%s: %s mode=%o nlink=%ld size=%ld owner_is_me=%s blocks_ok=%s\n", label,
	       ftype(st.st_mode), (unsigned)(st.st_mode & 07777), (long)st.st_nlink,
	       (long)st.st_size, st.st_uid == geteuid() ? "yes" : "no",
	       st.st_blocks >= 0 ? "yes" : "no");
}

/* The name /proc/self/maps shows for the mapping at addr. */
static void show_maps_name(const char *label, void *addr)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	unsigned long want = (unsigned long)addr;
	while (f && fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char perms[8];
		int name_at = 0;
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &lo, &hi, perms, &name_at) < 3)
			continue;
		if (lo == want) {
			line[strcspn(line, "\n")] = 0;
			printf("%s: %s %s\n", label, perms, line + name_at);
			fclose(f);
			return;
		}
	}
	printf("%s: not found\n", label);
	if (f)
		fclose(f);
}

static void creation(void)
{
	printf("-- memfd_create\n");
	char name[300];
	memset(name, 'n', sizeof name);
	name[249] = 0;
	int fd = mfd(name, 0);
	TOK("249-byte name", fd);
	close(fd);
	name[249] = 'n';
	name[250] = 0;
	T("250-byte name", mfd(name, 0));
	T("bad name pointer", mfd(BADPTR, 0));
	T("unknown flag 0x40", mfd("x", 0x40));
	T("unknown flag with a bad name", mfd(BADPTR, 0x100));
	T("MFD_EXEC|MFD_NOEXEC_SEAL", mfd("x", MFD_EXEC | MFD_NOEXEC_SEAL));
	T("huge size bits without MFD_HUGETLB", mfd("x", (21u << 26) | MFD_ALLOW_SEALING));
	fd = mfd("huge", MFD_HUGETLB);
	TOK("MFD_HUGETLB", fd);
	show_link("hugetlb link", fd);
	close(fd);
	T("MFD_HUGETLB with a 4-byte page size", mfd("x", (2u << 26) | MFD_HUGETLB));
	fd = mfd("", 0);
	show_link("empty name", fd);
	close(fd);
	fd = mfd("a/b c", 0);
	show_link("name with a slash", fd);
	close(fd);

	fd = mfd("plain", 0);
	show_stat("plain", fd);
	show_link("plain", fd);
	T("F_GETFL", fcntl(fd, F_GETFL));
	T("F_GETFD", fcntl(fd, F_GETFD));
	T("F_GET_SEALS", fcntl(fd, F_GET_SEALS));
	T("F_ADD_SEALS without MFD_ALLOW_SEALING", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
	T("fchdir", fchdir(fd));
	T("openat relative to it", openat(fd, "x", O_RDONLY));
	char p[64];
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	T("linkat AT_EMPTY_PATH", linkat(fd, "", AT_FDCWD, "named", AT_EMPTY_PATH));
	T("linkat through /proc", linkat(AT_FDCWD, p, AT_FDCWD, "named", AT_SYMLINK_FOLLOW));
	T("fchmod 0600", fchmod(fd, 0600));
	show_stat("after fchmod", fd);
	close(fd);
	fd = mfd("cloexec", MFD_CLOEXEC);
	T("MFD_CLOEXEC F_GETFD", fcntl(fd, F_GETFD));
	close(fd);
	fd = mfd("noexec", MFD_NOEXEC_SEAL);
	show_stat("MFD_NOEXEC_SEAL", fd);
	T("F_GET_SEALS", fcntl(fd, F_GET_SEALS));
	T("fchmod 0777", fchmod(fd, 0777));
	T("fchmod 0644", fchmod(fd, 0644));
	close(fd);
	fd = mfd("exec", MFD_EXEC | MFD_ALLOW_SEALING);
	T("F_GET_SEALS", fcntl(fd, F_GET_SEALS));
	T("F_ADD_SEALS F_SEAL_EXEC", fcntl(fd, F_ADD_SEALS, F_SEAL_EXEC));
	T("F_GET_SEALS (exec seal adds the write seals)", fcntl(fd, F_GET_SEALS));
	T("fchmod 0666", fchmod(fd, 0666));
	T("fchmod 0775", fchmod(fd, 0775));
	T("write", write(fd, "x", 1));
	close(fd);
}

static void io(void)
{
	printf("-- read, write, truncate, reopen\n");
	int fd = mfd("io", 0);
	char buf[64];
	T("write", write(fd, "hello, world", 12));
	T("lseek SEEK_END", lseek(fd, 0, SEEK_END));
	T("pread", pread(fd, buf, sizeof buf, 7));
	printf("  %.5s\n", buf);
	T("pwrite far away", pwrite(fd, "!", 1, 10000));
	show_stat("sparse", fd);
	T("pread in the hole", pread(fd, buf, 4, 5000));
	printf("  zeros=%s\n", buf[0] == 0 && buf[3] == 0 ? "yes" : "no");
	T("ftruncate 5", ftruncate(fd, 5));
	T("pread past the end", pread(fd, buf, 4, 5));
	T("ftruncate 100", ftruncate(fd, 100));
	T("pread the grown tail", pread(fd, buf, 4, 5));
	printf("  zeros=%s\n", buf[0] == 0 && buf[3] == 0 ? "yes" : "no");
	char p[64];
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	int again = open(p, O_RDWR);
	T("reopen through /proc", again >= 0);
	T("write through the reopen", pwrite(again, "HELLO", 5, 0));
	T("pread through the first", pread(fd, buf, 5, 0));
	printf("  %.5s\n", buf);
	T("reopen's offset is its own", lseek(again, 0, SEEK_CUR));
	int trunc = open(p, O_WRONLY | O_TRUNC);
	T("reopen O_TRUNC", trunc >= 0);
	show_stat("after O_TRUNC", fd);
	close(trunc);
	close(again);
	close(fd);
}

static void sealing(void)
{
	printf("-- seals\n");
	int fd = mfd("seal", MFD_ALLOW_SEALING);
	T("F_GET_SEALS", fcntl(fd, F_GET_SEALS));
	T("F_ADD_SEALS unknown", fcntl(fd, F_ADD_SEALS, 0x40));
	T("write", write(fd, "0123456789", 10));
	char *rw = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	T("F_SEAL_WRITE with a writable shared map", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
	munmap(rw, 4096);
	char *ro = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	T("F_SEAL_WRITE with a read-only shared map of an O_RDWR fd",
	  fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
	munmap(ro, 4096);
	char *priv = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	T("F_SEAL_WRITE with a private map", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
	T("F_GET_SEALS", fcntl(fd, F_GET_SEALS));
	priv[0] = 'P';
	printf("private copy still writable: %c\n", priv[0]);
	munmap(priv, 4096);
	T("write", write(fd, "x", 1));
	T("write 0 bytes", write(fd, "x", 0));
	T("pwrite", pwrite(fd, "x", 1, 100));
	void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	T("mmap shared rw", m == MAP_FAILED ? -1 : 0);
	m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	T("mmap shared ro", m == MAP_FAILED ? -1 : 0);
	T("mprotect it writable", mprotect(m, 4096, PROT_READ | PROT_WRITE));
	munmap(m, 4096);
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	T("mmap private rw", m == MAP_FAILED ? -1 : 0);
	munmap(m, 4096);
	T("ftruncate 0 (no size seal)", ftruncate(fd, 0));
	T("ftruncate 100", ftruncate(fd, 100));
	T("F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_SEAL",
	  fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
	T("ftruncate 0", ftruncate(fd, 0));
	T("ftruncate 1000", ftruncate(fd, 1000));
	T("ftruncate 100 (same size)", ftruncate(fd, 100));
	T("F_ADD_SEALS 0 after F_SEAL_SEAL", fcntl(fd, F_ADD_SEALS, 0));
	T("F_ADD_SEALS unknown after F_SEAL_SEAL", fcntl(fd, F_ADD_SEALS, 0x40));
	char p[64];
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	int ro_fd = open(p, O_RDONLY);
	T("F_GET_SEALS through a read-only reopen", fcntl(ro_fd, F_GET_SEALS));
	close(ro_fd);
	close(fd);

	fd = mfd("grow", MFD_ALLOW_SEALING);
	T("write", write(fd, "abcdefgh", 8));
	T("F_SEAL_GROW", fcntl(fd, F_ADD_SEALS, F_SEAL_GROW));
	T("pwrite inside", pwrite(fd, "01", 2, 6));
	T("pwrite across the end", pwrite(fd, "0123", 4, 6));
	T("pwrite at the end", pwrite(fd, "x", 1, 8));
	T("ftruncate larger", ftruncate(fd, 4096));
	T("ftruncate smaller", ftruncate(fd, 4));
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	ro_fd = open(p, O_RDONLY);
	T("F_ADD_SEALS through a read-only reopen", fcntl(ro_fd, F_ADD_SEALS, F_SEAL_SHRINK));
	close(ro_fd);
	close(fd);

	fd = mfd("future", MFD_ALLOW_SEALING);
	T("ftruncate", ftruncate(fd, 4096));
	char *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	T("F_SEAL_FUTURE_WRITE with a writable map", fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE));
	w[0] = 'A';
	char c = 0;
	T("write", write(fd, "x", 1));
	T("pread what the old map wrote", pread(fd, &c, 1, 0));
	printf("  %c\n", c);
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	T("new mmap shared rw", m == MAP_FAILED ? -1 : 0);
	T("F_SEAL_WRITE while the old map lives", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
	munmap(w, 4096);
	T("F_SEAL_WRITE after munmap", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
	close(fd);

	int reg = open("regular", O_RDWR | O_CREAT, 0600);
	T("F_GET_SEALS on a regular file", fcntl(reg, F_GET_SEALS));
	T("F_ADD_SEALS on a regular file", fcntl(reg, F_ADD_SEALS, F_SEAL_SEAL));
	close(reg);
	reg = open("regular", O_RDONLY);
	T("F_ADD_SEALS on a read-only regular file", fcntl(reg, F_ADD_SEALS, F_SEAL_SEAL));
	close(reg);
	int pp[2];
	pipe(pp);
	T("F_GET_SEALS on a pipe", fcntl(pp[0], F_GET_SEALS));
	close(pp[0]);
	close(pp[1]);
}

static void mappings(void)
{
	printf("-- shared mappings\n");
	int fd = mfd("shared", 0);
	T("ftruncate 8192", ftruncate(fd, 8192));
	char *a = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *b = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	show_maps_name("maps", a);
	strcpy(a + 4096, "through a");
	printf("b sees: %s\n", b + 4096);
	char buf[32] = {0};
	T("pread sees the map's bytes", pread(fd, buf, 9, 4096));
	printf("  %s\n", buf);
	T("pwrite", pwrite(fd, "WRITTEN", 7, 100));
	printf("a sees: %.7s\n", a + 100);
	char *priv = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	printf("private sees: %.7s\n", priv + 100);
	priv[100] = 'p';
	printf("a after a private write: %.7s\n", a + 100);
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		strcpy(a, "from the child");
		char *late = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		strcpy(late + 200, "child's new map");
		_exit(0);
	}
	int st;
	waitpid(c, &st, 0);
	printf("parent's map after the child wrote: %s\n", a);
	printf("and the child's new map: %s\n", b + 200);
	T("pread", pread(fd, buf, 14, 0));
	printf("  %.14s\n", buf);

	/* Past the end of the file: SIGBUS. */
	fflush(stdout);
	c = fork();
	if (c == 0) {
		T("ftruncate 100", ftruncate(fd, 100));
		fflush(stdout);
		char *m = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
		printf("last page of the file: %d\n", m[4095]);
		fflush(stdout);
		printf("past the end: %d\n", m[4096]);
		_exit(0);
	}
	waitpid(c, &st, 0);
	printf("child: %s %d\n", WIFSIGNALED(st) ? "signal" : "exit",
	       WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	close(fd);
}

int main(int argc, char **argv)
{
	setup(argc, argv, "memfd");
	creation();
	io();
	sealing();
	mappings();
	return 0;
}
