/*
 * MAP_PRIVATE file mappings are copy-on-write views of the file: a page
 * only read (through a PROT_READ or a PROT_WRITE mapping) shows later
 * write(2)s and shared-mapping writes to the file; once the mapping
 * writes a page it has its own copy, which no longer follows the file
 * and never reaches it. Checked for a file in /tmp and a memfd: fork
 * (the child sees the same), MADV_DONTNEED (the file shows again), hole
 * punching (copies stay, the rest reads zeros), ftruncate (SIGBUS past
 * the end, on copies too), mincore, mprotect, mremap, MAP_POPULATE; and a
 * private mapping of a read-only host file (the program itself).
 */
#include "common.h"
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 1
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 1
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 2
#endif

#define PG 4096L
#define NP 4

static sigjmp_buf jb;
static volatile int last_sig;
static volatile int armed;

static void on_fault(int sig)
{
	last_sig = sig;
	if (!armed) {
		printf("unexpected signal %d\n", sig);
		_exit(3);
	}
	armed = 0;
	siglongjmp(jb, 1);
}

/* Prints the byte at p as a character (0 as '.'), or the signal. */
static void probe(const char *label, volatile char *p)
{
	last_sig = 0;
	if (sigsetjmp(jb, 1) == 0) {
		armed = 1;
		char c = *p;
		armed = 0;
		printf("  %s: '%c'\n", label, c ? c : '.');
	} else {
		printf("  %s: %s\n", label, last_sig == SIGBUS ? "SIGBUS" : "SIGSEGV");
	}
}

/* Writes v at p; prints ok or the signal. */
static void poke(const char *label, volatile char *p, char v)
{
	last_sig = 0;
	if (sigsetjmp(jb, 1) == 0) {
		armed = 1;
		*p = v;
		armed = 0;
		printf("  %s: ok\n", label);
	} else {
		printf("  %s: %s\n", label, last_sig == SIGBUS ? "SIGBUS" : "SIGSEGV");
	}
}

static char file_byte(int fd, long off)
{
	char c = '?';
	if (SC(SYS_pread64, fd, &c, 1, off) != 1)
		return '?';
	return c ? c : '.';
}

static void put(int fd, long off, char c)
{
	if (SC(SYS_pwrite64, fd, &c, 1, off) != 1)
		printf("  pwrite at %ld failed: %s\n", off, errname(errno));
}

static void show_mincore(const char *label, void *p, long pages)
{
	unsigned char v[16];
	char s[17];
	long r = SC(SYS_mincore, p, pages * PG, v);
	for (long i = 0; i < pages; i++)
		s[i] = '0' + (v[i] & 1);
	s[pages] = 0;
	printf("  mincore(%s) = %ld %s\n", label, r, r == 0 ? s : errname(errno));
}

static char *map(int fd, int prot, int flags)
{
	char *p = mmap(NULL, NP * PG, prot, flags, fd, 0);
	if (p == MAP_FAILED) {
		printf("  mmap failed: %s\n", errname(errno));
		exit(1);
	}
	return p;
}

static void fill(int fd)
{
	static char buf[NP * PG];
	memset(buf, 'a', sizeof buf);
	if (SC(SYS_ftruncate, fd, 0) != 0 || SC(SYS_pwrite64, fd, buf, sizeof buf, 0) != sizeof buf)
		printf("  fill failed: %s\n", errname(errno));
}

static void check_file(const char *what, int fd)
{
	printf("%s:\n", what);
	fill(fd);
	volatile char *ro = map(fd, PROT_READ, MAP_PRIVATE);
	volatile char *rw = map(fd, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	volatile char *sh = map(fd, PROT_READ | PROT_WRITE, MAP_SHARED);

	/* Pages read first, then changed through the file. */
	probe("ro[0]", ro);
	probe("rw[0]", rw);
	put(fd, 0, 'b');
	probe("ro[0] after pwrite", ro);
	probe("rw[0] after pwrite", rw);
	sh[PG] = 'c';
	probe("ro[1] after shared write", ro + PG);
	probe("rw[1] after shared write", rw + PG);
	/* Untouched pages show the file as it is now. */
	put(fd, 2 * PG, 'd');
	probe("rw[2] never touched", rw + 2 * PG);

	/* The first write copies: the file does not change, and the page
	 * no longer follows it. */
	poke("rw[0] = W", rw, 'W');
	printf("  file[0] = '%c'\n", file_byte(fd, 0));
	put(fd, 0, 'e');
	sh[1] = 'f';
	probe("rw[0] after pwrite", rw);
	probe("rw[1 byte] after shared write", rw + 1);
	probe("ro[0] after pwrite", ro);
	show_mincore("rw", (void *)rw, NP);

	/* mprotect to writable and back keeps the view. */
	SC(SYS_mprotect, ro, NP * PG, PROT_READ | PROT_WRITE);
	put(fd, 3 * PG, 'g');
	probe("ro[3] after mprotect", ro + 3 * PG);
	poke("ro[3] = R", ro + 3 * PG, 'R');
	put(fd, 3 * PG, 'h');
	probe("ro[3] after its write", ro + 3 * PG);
	SC(SYS_mprotect, ro, NP * PG, PROT_READ);

	/* fork: the child sees the same, and its writes are its own. */
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		printf(" child:\n");
		probe("rw[0]", rw);
		probe("rw[2]", rw + 2 * PG);
		put(fd, 2 * PG, 'i');
		probe("rw[2] after pwrite", rw + 2 * PG);
		poke("rw[2] = C", rw + 2 * PG, 'C');
		put(fd, 2 * PG, 'j');
		probe("rw[2] after its write", rw + 2 * PG);
		fflush(stdout);
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	printf(" parent again:\n");
	probe("rw[2]", rw + 2 * PG);
	probe("rw[0]", rw);

	/* MADV_DONTNEED drops the copies: the file shows again. */
	printf("  madvise(DONTNEED) = %ld\n", SC(SYS_madvise, rw, NP * PG, MADV_DONTNEED));
	probe("rw[0]", rw);
	probe("rw[3]", rw + 3 * PG);
	show_mincore("rw after DONTNEED", (void *)rw, NP);

	/* mremap moves the view along. */
	void *moved = mremap((void *)ro, NP * PG, NP * PG, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)rw);
	if (moved == MAP_FAILED) {
		printf("  mremap failed: %s\n", errname(errno));
		exit(1);
	}
	printf("  mremap onto rw: %s\n", moved == (void *)rw ? "ok" : "elsewhere");
	ro = moved;
	rw = map(fd, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	put(fd, 0, 'k');
	probe("moved ro[0]", ro);

	/* Hole punching: the copies stay, the rest reads zeros. */
	probe("rw[1]", rw + PG);
	poke("rw[2] = P", rw + 2 * PG, 'P');
	long r = SC(SYS_fallocate, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, PG, 2 * PG);
	printf("  punch pages 1-2 = %ld\n", r);
	probe("rw[1] punched", rw + PG);
	probe("rw[2] copy punched", rw + 2 * PG);
	probe("ro[1] punched", ro + PG);

	/* Truncation: SIGBUS past the end, copies included (Linux unmaps
	 * private copies on truncation too); below it all stays. */
	poke("rw[0] = Z", rw, 'Z');
	probe("rw[3] before truncate", rw + 3 * PG);
	printf("  ftruncate(1.5 pages) = %ld\n", SC(SYS_ftruncate, fd, PG + PG / 2));
	probe("rw[0] copy below the end", rw);
	probe("ro[0] below the end", ro);
	probe("rw[1] past the end in the last page", rw + PG + PG / 2 + 1);
	probe("rw[2] copy past the end", rw + 2 * PG);
	probe("rw[3] past the end", rw + 3 * PG);
	probe("ro[3] past the end", ro + 3 * PG);
	poke("rw[3] = X", rw + 3 * PG, 'X');
	/* Past the end, what mincore says depends on the filesystem (ext4's
	 * large folios may keep pages there); below it, all is resident. */
	show_mincore("rw below the end after truncate", (void *)rw, 2);
	printf("  ftruncate(4 pages) = %ld\n", SC(SYS_ftruncate, fd, NP * PG));
	probe("rw[2] grown again", rw + 2 * PG);
	probe("rw[0] copy", rw);

	/* MAP_POPULATE of a private writable mapping copies at once (Linux
	 * populates it as a write); a read-only one follows the file. */
	fill(fd);
	volatile char *pw = map(fd, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_POPULATE);
	volatile char *pr = map(fd, PROT_READ, MAP_PRIVATE | MAP_POPULATE);
	put(fd, PG, 'm');
	probe("populated rw[1]", pw + PG);
	probe("populated ro[1]", pr + PG);

	munmap((void *)pw, NP * PG);
	munmap((void *)pr, NP * PG);
	munmap((void *)ro, NP * PG);
	munmap((void *)rw, NP * PG);
	munmap((void *)sh, NP * PG);
}

/* A host file (the program itself, read-only): a private copy the
 * program may write, which never reaches the file. */
static void host_file(void)
{
	printf("host file:\n");
	int fd = open("/proc/self/exe", O_RDONLY);
	if (fd < 0) {
		printf("  open failed: %s\n", errname(errno));
		return;
	}
	volatile char *ro = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0);
	volatile char *rw = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	printf("  magic: %s %s\n", memcmp((void *)ro, "\177ELF", 4) ? "no" : "yes",
	       memcmp((void *)rw, "\177ELF", 4) ? "no" : "yes");
	rw[1] = 'X';
	printf("  after write: rw[1]='%c' ro[1]='%c' file[1]='%c'\n", rw[1], ro[1], file_byte(fd, 1));
	void *s = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	printf("  shared writable of a read-only fd: %s\n",
	       s == MAP_FAILED ? errname(errno) : "mapped");
	munmap((void *)ro, PG);
	munmap((void *)rw, PG);
	close(fd);
}

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_fault;
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);

	char path[] = "/tmp/veil-mapprivate-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0) {
		printf("mkstemp failed: %s\n", errname(errno));
		return 1;
	}
	unlink(path);
	check_file("tmp file", fd);
	close(fd);

	int mfd = (int)SC(SYS_memfd_create, "mapprivate", MFD_CLOEXEC);
	if (mfd < 0) {
		printf("memfd_create failed: %s\n", errname(errno));
		return 1;
	}
	check_file("memfd", mfd);
	close(mfd);

	host_file();
	return 0;
}
