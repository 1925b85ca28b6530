/*
 * MAP_SHARED file mappings write to the file and stay coherent with
 * read / write: in a file of the scratch directory and in /dev/shm,
 * across fork, between threads, after munmap and reopen, through
 * ftruncate (SIGBUS past the end), msync and mincore, mremap, MAP_PRIVATE
 * (which never writes back), copy_file_range and MADV_REMOVE.
 */
#include "common.h"
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#ifndef SYS_copy_file_range
#define SYS_copy_file_range 326
#endif
#ifndef MADV_REMOVE
#define MADV_REMOVE 9
#endif

#define PG 4096L

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

/* Reads one byte at p; prints the byte or the signal it raised. */
static void probe(const char *label, volatile char *p)
{
	last_sig = 0;
	if (sigsetjmp(jb, 1) == 0) {
		armed = 1;
		char c = *p;
		armed = 0;
		printf("%s: byte %d\n", label, c);
	} else {
		printf("%s: %s\n", label, last_sig == SIGBUS ? "SIGBUS" : "SIGSEGV");
	}
}

/* Writes one byte at p; prints ok or the signal it raised. */
static void poke(const char *label, volatile char *p, char v)
{
	last_sig = 0;
	if (sigsetjmp(jb, 1) == 0) {
		armed = 1;
		*p = v;
		armed = 0;
		printf("%s: ok\n", label);
	} else {
		printf("%s: %s\n", label, last_sig == SIGBUS ? "SIGBUS" : "SIGSEGV");
	}
}

static void show_pread(const char *label, int fd, long off, size_t n)
{
	char buf[64] = {0};
	long r = SC(SYS_pread64, fd, buf, n, off);
	for (long i = 0; i < r; i++)
		if (buf[i] == 0)
			buf[i] = '.';
	printf("%s: pread=%ld \"%s\"\n", label, r, r > 0 ? buf : "");
}

static int count_bytes(volatile char *p, long n, char v)
{
	int c = 0;
	for (long i = 0; i < n; i++)
		c += p[i] == v;
	return c;
}

struct thr {
	int fd;
	int idx;
};

static void *thread_main(void *arg)
{
	struct thr *t = arg;
	char *m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, t->fd, 0);
	if (m == MAP_FAILED)
		return (void *)1;
	/* Each thread fills its own quarter of page 1 and counts in page 0. */
	memset(m + PG + t->idx * 1024, 'A' + t->idx, 1024);
	for (int i = 0; i < 10000; i++)
		__atomic_fetch_add((int *)m, 1, __ATOMIC_SEQ_CST);
	munmap(m, 2 * PG);
	return NULL;
}

static void run(const char *label, const char *path)
{
	printf("-- %s\n", label);
	int fd = (int)SC(SYS_open, path, O_CREAT | O_TRUNC | O_RDWR, 0600);
	if (fd < 0) {
		printf("open: -1 %s\n", errname(errno));
		return;
	}
	T("ftruncate(3 pages)", SC(SYS_ftruncate, fd, 3 * PG));
	char *m = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	TOK("mmap shared", m == MAP_FAILED ? -1 : 0);
	if (m == MAP_FAILED)
		return;

	/* The mapping and read / write are one. */
	memcpy(m, "abc", 3);
	show_pread("write via map", fd, 0, 3);
	SC(SYS_pwrite64, fd, "xyz", 3, PG);
	printf("pwrite seen in map: %.3s\n", m + PG);
	struct stat st;
	fstat(fd, &st);
	printf("size=%ld\n", (long)st.st_size);

	/* Across fork: the child writes through the inherited mapping and
	 * through one of its own; both show in the parent. Then both count
	 * in the same word. */
	*(int *)(m + 2 * PG) = 0;
	pid_t pid = fork();
	if (pid == 0) {
		memcpy(m + 2 * PG + 16, "child", 5);
		char *m2 = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 2 * PG);
		if (m2 == MAP_FAILED)
			_exit(1);
		memcpy(m2 + 32, "child2", 6);
		for (int i = 0; i < 20000; i++)
			__atomic_fetch_add((int *)(m + 2 * PG), 1, __ATOMIC_SEQ_CST);
		_exit(m[0] == 'a' && memcmp(m + PG, "xyz", 3) == 0 ? 0 : 1);
	}
	for (int i = 0; i < 20000; i++)
		__atomic_fetch_add((int *)(m + 2 * PG), 1, __ATOMIC_SEQ_CST);
	int status = 0;
	waitpid(pid, &status, 0);
	printf("child saw parent's bytes: %s\n",
	       WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "yes" : "no");
	printf("parent sees: %.5s %.6s\n", m + 2 * PG + 16, m + 2 * PG + 32);
	show_pread("file after fork", fd, 2 * PG + 16, 22);
	printf("shared counter: %d\n", *(int *)(m + 2 * PG));

	/* The parent writes, a new child reads through what it inherited. */
	memcpy(m + 100, "later", 5);
	pid = fork();
	if (pid == 0)
		_exit(memcmp(m + 100, "later", 5) == 0 ? 0 : 1);
	waitpid(pid, &status, 0);
	printf("child sees later write: %s\n",
	       WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "yes" : "no");

	/* Threads, each with its own mapping of the file. */
	*(int *)m = 0;
	pthread_t th[4];
	struct thr ta[4];
	for (int i = 0; i < 4; i++) {
		ta[i].fd = fd;
		ta[i].idx = i;
		pthread_create(&th[i], NULL, thread_main, &ta[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	printf("threads: counter=%d A=%d B=%d C=%d D=%d\n", *(int *)m,
	       count_bytes(m + PG, PG, 'A'), count_bytes(m + PG, PG, 'B'),
	       count_bytes(m + PG, PG, 'C'), count_bytes(m + PG, PG, 'D'));
	show_pread("file after threads", fd, PG + 1020, 8);

	/* mincore: pages of the file are resident, untouched ones too;
	 * a hole past the old end is not. */
	unsigned char vec[4] = {9, 9, 9, 9};
	T("ftruncate(4 pages)", SC(SYS_ftruncate, fd, 4 * PG));
	char *m4 = mmap(NULL, 4 * PG, PROT_READ, MAP_SHARED, fd, 0);
	T("mincore", SC(SYS_mincore, m4, 4 * PG, vec));
	printf("mincore: %d %d %d %d\n", vec[0], vec[1], vec[2], vec[3]);
	munmap(m4, 4 * PG);

	/* msync: flags and ranges as Linux checks them. */
	T("msync(MS_SYNC)", msync(m, 3 * PG, MS_SYNC));
	T("msync(MS_ASYNC)", msync(m, PG, MS_ASYNC));
	T("msync(MS_INVALIDATE)", msync(m, PG, MS_INVALIDATE));
	T("msync(len 0)", msync(m, 0, MS_SYNC));
	T("msync(ASYNC|SYNC)", msync(m, PG, MS_ASYNC | MS_SYNC));
	T("msync(bad flag)", msync(m, PG, 8));
	T("msync(unaligned)", msync(m + 1, PG, MS_SYNC));
	char *hole = mmap(NULL, 3 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(hole + PG, PG);
	T("msync(hole)", msync(hole, 3 * PG, MS_SYNC));
	T("msync(hole, MS_ASYNC)", msync(hole, 3 * PG, MS_ASYNC));
	munmap(hole, 3 * PG);
	T("msync(unmapped)", msync(hole, PG, MS_SYNC));
	if (mlock(m, PG) == 0) {
		T("msync(locked, MS_INVALIDATE)", msync(m, PG, MS_INVALIDATE));
		T("msync(locked, MS_SYNC)", msync(m, PG, MS_SYNC));
		munlock(m, PG);
	} else {
		printf("mlock: -1 %s\n", errname(errno));
	}

	/* Truncation: the tail of the last page reads zeros, pages past the
	 * end raise SIGBUS; growing again shows zeros and is writable. */
	memset(m + PG, 'q', PG);
	T("ftruncate(1 page + 100)", SC(SYS_ftruncate, fd, PG + 100));
	probe("inside", m + PG + 50);
	probe("past end, same page", m + PG + 200);
	probe("next page", m + 2 * PG);
	poke("write next page", m + 2 * PG, 'z');
	T("ftruncate(3 pages) again", SC(SYS_ftruncate, fd, 3 * PG));
	probe("regrown page", m + 2 * PG);
	poke("write regrown page", m + 2 * PG + 5, 'w');
	show_pread("regrown in file", fd, 2 * PG, 8);
	T("fallocate(4 pages)", SC(SYS_fallocate, fd, 0, 0, 4 * PG));

	/* munmap, close, reopen: the data is in the file. */
	memcpy(m + 200, "persist", 7);
	T("munmap", munmap(m, 3 * PG));
	SC(SYS_close, fd);
	fd = (int)SC(SYS_open, path, O_RDWR);
	show_pread("after reopen", fd, 200, 7);
	fstat(fd, &st);
	printf("size after reopen=%ld\n", (long)st.st_size);

	/* mremap: a shared mapping grows (moving) and keeps showing the file. */
	char *res = mmap(NULL, 2 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	m = mmap(res, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
	char *block = res + PG; /* keeps the mapping from growing in place */
	char *g = mremap(m, PG, 3 * PG, MREMAP_MAYMOVE);
	TOK("mremap grow", g == MAP_FAILED ? -1 : 0);
	printf("moved: %s\n", g != m ? "yes" : "no");
	printf("grown sees: %.7s\n", g + 200);
	memcpy(g + 2 * PG + 40, "remapped", 8);
	show_pread("written after mremap", fd, 2 * PG + 40, 8);
	g = mremap(g, 3 * PG, PG, 0);
	TOK("mremap shrink", g == MAP_FAILED ? -1 : 0);
	munmap(block, PG);

	/* copy_file_range reads what the mapping wrote. */
	memcpy(g + 300, "copied", 6);
	char copy[80];
	snprintf(copy, sizeof copy, "%s.copy", path);
	int out = (int)SC(SYS_open, copy, O_CREAT | O_TRUNC | O_RDWR, 0600);
	long ioff = 300, ooff = 0;
	T("copy_file_range", SC(SYS_copy_file_range, fd, &ioff, out, &ooff, 6, 0));
	show_pread("copy", out, 0, 6);
	SC(SYS_close, out);
	SC(SYS_unlink, copy);
	munmap(g, PG);

	/* MAP_PRIVATE never writes back. */
	char *p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	memcpy(p + 200, "PRIVATE", 7);
	show_pread("after private write", fd, 200, 7);
	printf("private sees: %.7s\n", p + 200);
	munmap(p, PG);

	/* A read-only description: no writable shared mapping. */
	int ro = (int)SC(SYS_open, path, O_RDONLY);
	char *r = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
	T("mmap(rdonly fd, PROT_WRITE, shared)", r == MAP_FAILED ? -1 : 0);
	r = mmap(NULL, PG, PROT_READ, MAP_SHARED, ro, 0);
	TOK("mmap(rdonly fd, PROT_READ, shared)", r == MAP_FAILED ? -1 : 0);
	printf("read-only map sees: %.7s\n", r + 200);
	T("mprotect(PROT_WRITE)", mprotect(r, PG, PROT_READ | PROT_WRITE));
	munmap(r, PG);
	r = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0);
	TOK("mmap(rdonly fd, PROT_WRITE, private)", r == MAP_FAILED ? -1 : 0);
	munmap(r, PG);
	SC(SYS_close, ro);
	SC(SYS_close, fd);
}

/* MADV_REMOVE punches a hole through every mapping (tmpfs). */
static void madv_remove(const char *path)
{
	printf("-- madvise remove\n");
	int fd = (int)SC(SYS_open, path, O_CREAT | O_TRUNC | O_RDWR, 0600);
	SC(SYS_ftruncate, fd, 2 * PG);
	char *a = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *b = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	memset(a, 'x', 2 * PG);
	T("madvise(MADV_REMOVE)", madvise(a + PG, PG, MADV_REMOVE));
	printf("other mapping: %c %d\n", b[10], b[PG + 10]);
	show_pread("file", fd, PG - 2, 4);
	char *ro = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0);
	T("madvise(MADV_REMOVE, private)", madvise(ro, PG, MADV_REMOVE));
	munmap(ro, PG);
	munmap(a, 2 * PG);
	munmap(b, 2 * PG);
	SC(SYS_close, fd);
}

int main(int argc, char **argv)
{
	setup(argc, argv, "mapshared");
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_fault;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);

	run("scratch", "f");
	SC(SYS_unlink, "f");
	char shm[64];
	snprintf(shm, sizeof shm, "/dev/shm/veil-mapshared-%d", (int)getpid());
	run("dev/shm", shm);
	madv_remove(shm);
	SC(SYS_unlink, shm);
	return 0;
}
