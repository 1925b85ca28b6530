/*
 * Memory: mmap (anonymous and file-backed private), munmap, mprotect,
 * mremap (grow, shrink, move), madvise (MADV_DONTNEED reads zero), brk.
 *
 * Addresses differ between runs, so only relations between them are
 * printed. A write to a read-only page is not tried: delivering SIGSEGV is
 * the next issue's.
 */
#include "common.h"
#include <sys/mman.h>

#define PG 4096L

static char *map(long len, int prot, int flags, int fd, long off)
{
	return (char *)SC(SYS_mmap, 0L, len, (long)prot, (long)flags, (long)fd, off);
}

static int all_bytes(const char *p, long n, char c)
{
	for (long i = 0; i < n; i++)
		if (p[i] != c)
			return 0;
	return 1;
}

static void test_anon(void)
{
	char *p = map(3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TOK("mmap(3 pages, RW, PRIVATE|ANONYMOUS)", p);
	check("  page aligned", ((uintptr_t)p & (PG - 1)) == 0);
	check("  reads zero", all_bytes(p, 3 * PG, 0));
	memset(p, 'a', 3 * PG);
	check("  holds what was written", all_bytes(p, 3 * PG, 'a'));

	/* User memory is visible to the kernel: write it to a file and back. */
	int fd = (int)SC(SYS_open, "out", O_CREAT | O_RDWR | O_TRUNC, 0644);
	T("write(out, mapping, 3 pages)", SC(SYS_write, fd, p, 3 * PG));
	T("pread64(out, into mapping + 1 page, 10) from offset 0", SC(SYS_pread64, fd, p + PG, 10L, 0L));

	T("mprotect(page 2, PROT_READ)", SC(SYS_mprotect, p + PG, PG, (long)PROT_READ));
	check("  still readable", p[PG] == 'a');
	T("read(out, into the read-only page)", SC(SYS_pread64, fd, p + PG, 10L, 0L));
	T("write(out, from the read-only page)", SC(SYS_pwrite64, fd, p + PG, 10L, 0L));
	T("mprotect(page 2, PROT_NONE)", SC(SYS_mprotect, p + PG, PG, (long)PROT_NONE));
	T("write(out, from a PROT_NONE page)", SC(SYS_pwrite64, fd, p + PG, 10L, 0L));
	T("mprotect(page 2, PROT_READ|PROT_WRITE)", SC(SYS_mprotect, p + PG, PG, (long)(PROT_READ | PROT_WRITE)));
	p[PG] = 'b';
	check("  writable again", p[PG] == 'b' && p[PG + 1] == 'a');
	T("mprotect(unaligned address)", SC(SYS_mprotect, p + 1, PG, (long)PROT_READ));
	T("mprotect(bad prot 0x100)", SC(SYS_mprotect, p, PG, 0x100L));
	T("mprotect(length 0)", SC(SYS_mprotect, p, 0L, (long)PROT_READ));

	T("munmap(page 2)", SC(SYS_munmap, p + PG, PG));
	T("write(out, from the unmapped page)", SC(SYS_pwrite64, fd, p + PG, 10L, 0L));
	T("read(out, into the unmapped page)", SC(SYS_pread64, fd, p + PG, 10L, 0L));
	T("mprotect(unmapped page)", SC(SYS_mprotect, p + PG, PG, (long)PROT_READ));
	T("mprotect(range with a hole)", SC(SYS_mprotect, p, 3 * PG, (long)PROT_READ));
	check("  pages 1 and 3 kept", p[0] == 'a' && p[2 * PG] == 'a');
	T("munmap(unmapped page) again", SC(SYS_munmap, p + PG, PG));
	T("munmap(unaligned)", SC(SYS_munmap, p + 1, PG));
	T("munmap(length 0)", SC(SYS_munmap, p, 0L));
	T("munmap(all 3 pages, with a hole)", SC(SYS_munmap, p, 3 * PG));
	SC(SYS_close, fd);

	/* Argument checks. */
	TOK("mmap(length 0)", map(0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	TOK("mmap(neither SHARED nor PRIVATE)", map(PG, PROT_READ, MAP_ANONYMOUS, -1, 0));
	TOK("mmap(SHARED|PRIVATE)", map(PG, PROT_READ, MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	TOK("mmap(MAP_FIXED, unaligned address)",
	    SC(SYS_mmap, 0x10001L, PG, (long)PROT_READ, (long)(MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED), -1L, 0L));
	TOK("mmap(length -4096)", map(-PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	TOK("mmap(1 byte) (rounded up)", p = map(1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	p[PG - 1] = 1;
	T("munmap(1 byte) (rounded up)", SC(SYS_munmap, p, 1L));

	/* MAP_FIXED replaces; MAP_FIXED_NOREPLACE does not. */
	p = map(2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(p, 'c', 2 * PG);
	char *q = (char *)SC(SYS_mmap, p + PG, PG, (long)(PROT_READ | PROT_WRITE),
			     (long)(MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED), -1L, 0L);
	check("mmap(MAP_FIXED over page 2) returns that address", q == p + PG);
	check("  page 2 now reads zero, page 1 kept", q[0] == 0 && p[0] == 'c');
	TOK("mmap(MAP_FIXED_NOREPLACE over page 2)",
	    SC(SYS_mmap, p + PG, PG, (long)PROT_READ, (long)(MAP_PRIVATE | MAP_ANONYMOUS | 0x100000), -1L, 0L));
	T("munmap(2 pages)", SC(SYS_munmap, p, 2 * PG));

	/* PROT_NONE reservations can be made accessible later. */
	p = map(4 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TOK("mmap(4 pages, PROT_NONE)", p);
	T("mprotect(pages 2-3, RW)", SC(SYS_mprotect, p + PG, 2 * PG, (long)(PROT_READ | PROT_WRITE)));
	p[PG] = 'x';
	p[3 * PG - 1] = 'y';
	check("  usable", p[PG] == 'x' && p[3 * PG - 1] == 'y');
	T("munmap(4 pages)", SC(SYS_munmap, p, 4 * PG));
}

static void test_file(void)
{
	static char data[2 * PG + 100];
	for (long i = 0; i < (long)sizeof data; i++)
		data[i] = (char)('A' + i % 26);
	int fd = (int)SC(SYS_open, "file", O_CREAT | O_RDWR | O_TRUNC, 0644);
	SC(SYS_write, fd, data, (long)sizeof data);
	SC(SYS_close, fd);

	int ro = (int)T("open(file, O_RDONLY)", SC(SYS_open, "file", O_RDONLY));
	char *p = map(3 * PG, PROT_READ, MAP_PRIVATE, ro, 0);
	TOK("mmap(file, 3 pages, READ, PRIVATE)", p);
	check("  matches the file", memcmp(p, data, sizeof data) == 0);
	check("  zero past EOF within the last page", all_bytes(p + sizeof data, 3 * PG - (long)sizeof data, 0));
	T("munmap", SC(SYS_munmap, p, 3 * PG));

	p = map(PG, PROT_READ, MAP_PRIVATE, ro, PG);
	TOK("mmap(file, offset 1 page)", p);
	check("  matches the file at 4096", memcmp(p, data + PG, PG) == 0);
	T("munmap", SC(SYS_munmap, p, PG));

	p = map(2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0);
	TOK("mmap(file, READ|WRITE, PRIVATE) on a read-only fd", p);
	p[0] = '!';
	p[PG] = '?';
	check("  private copy changed", p[0] == '!' && p[1] == 'B' && p[PG] == '?');
	char buf[4];
	SC(SYS_pread64, ro, buf, 1L, 0L);
	check("  file unchanged", buf[0] == 'A');
	T("madvise(MADV_DONTNEED) on the private file mapping", SC(SYS_madvise, p, 2 * PG, (long)MADV_DONTNEED));
	check("  reads the file again", p[0] == 'A' && p[PG] == data[PG]);
	T("munmap", SC(SYS_munmap, p, 2 * PG));

	/* The file changes after a private read-only mapping sees it. */
	int rw = (int)T("open(file, O_RDWR)", SC(SYS_open, "file", O_RDWR));
	p = map(PG, PROT_READ, MAP_PRIVATE, ro, 0);
	SC(SYS_pwrite64, rw, "zz", 2L, 0L);
	check("mapping shows a later write() to the file", p[0] == 'z' && p[1] == 'z');
	SC(SYS_munmap, p, PG);

	int wo = (int)T("open(file, O_WRONLY)", SC(SYS_open, "file", O_WRONLY));
	TOK("mmap(O_WRONLY fd, PRIVATE)", map(PG, PROT_READ, MAP_PRIVATE, wo, 0));
	TOK("mmap(O_RDONLY fd, SHARED, WRITE)", map(PG, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0));
	TOK("mmap(fd -1, PRIVATE) (not anonymous)", map(PG, PROT_READ, MAP_PRIVATE, -1, 0));
	TOK("mmap(fd 9999, PRIVATE)", map(PG, PROT_READ, MAP_PRIVATE, BIGFD, 0));
	TOK("mmap(file, unaligned offset)", map(PG, PROT_READ, MAP_PRIVATE, ro, 100));
	int dfd = (int)SC(SYS_open, ".", O_RDONLY | O_DIRECTORY);
	TOK("mmap(directory fd)", map(PG, PROT_READ, MAP_PRIVATE, dfd, 0));
	SC(SYS_close, dfd);
	T("close(wo)", SC(SYS_close, wo));
	T("close(rw)", SC(SYS_close, rw));
	T("close(ro)", SC(SYS_close, ro));

	/* The mapping outlives the descriptor. */
	ro = (int)SC(SYS_open, "file", O_RDONLY);
	p = map(PG, PROT_READ, MAP_PRIVATE, ro, PG);
	SC(SYS_close, ro);
	check("mapping readable after close(fd)", p[0] == data[PG]);
	SC(SYS_munmap, p, PG);
}

static void test_mremap(void)
{
	char *p = map(PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(p, 'm', PG);
	char *q = (char *)SC(SYS_mremap, p, PG, 4 * PG, (long)MREMAP_MAYMOVE);
	TOK("mremap(1 -> 4 pages, MAYMOVE)", q);
	check("  contents kept", all_bytes(q, PG, 'm'));
	check("  new pages read zero", all_bytes(q + PG, 3 * PG, 0));
	memset(q + PG, 'n', 3 * PG);
	char *r = (char *)SC(SYS_mremap, q, 4 * PG, 2 * PG, 0L);
	check("mremap(4 -> 2 pages) stays in place", r == q);
	check("  contents kept", all_bytes(r, PG, 'm') && all_bytes(r + PG, PG, 'n'));

	/* Move to a fixed address: reserve a destination first. */
	char *dst = map(2 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *s = (char *)SC(SYS_mremap, r, 2 * PG, 2 * PG, (long)(MREMAP_MAYMOVE | MREMAP_FIXED), dst);
	check("mremap(MAYMOVE|FIXED) moves to the given address", s == dst);
	check("  contents moved", all_bytes(s, PG, 'm') && all_bytes(s + PG, PG, 'n'));
	int fd = (int)SC(SYS_open, "out2", O_CREAT | O_RDWR | O_TRUNC, 0644);
	T("write(from the old address)", SC(SYS_write, fd, r, 10L));
	SC(SYS_close, fd);

	/* Growing in place fails when the next page is taken. */
	char *a = map(2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	T("munmap(second page)", SC(SYS_munmap, a + PG, PG));
	char *b = (char *)SC(SYS_mmap, a + PG, PG, (long)PROT_READ, (long)(MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED), -1L, 0L);
	check("mmap(MAP_FIXED, the page after)", b == a + PG);
	TOK("mremap(grow without MAYMOVE, next page taken)", SC(SYS_mremap, a, PG, 2 * PG, 0L));
	TOK("mremap(unaligned old address)", SC(SYS_mremap, a + 1, PG, 2 * PG, (long)MREMAP_MAYMOVE));
	TOK("mremap(bad flags 0x80)", SC(SYS_mremap, a, PG, 2 * PG, 0x80L));
	TOK("mremap(FIXED without MAYMOVE)", SC(SYS_mremap, a, PG, PG, (long)MREMAP_FIXED, dst));
	TOK("mremap(new size 0)", SC(SYS_mremap, a, PG, 0L, (long)MREMAP_MAYMOVE));
	SC(SYS_munmap, a, 2 * PG);
	char *g = map(3 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	SC(SYS_munmap, g + PG, PG);
	TOK("mremap(unmapped old address)", SC(SYS_mremap, g + PG, PG, 2 * PG, (long)MREMAP_MAYMOVE));
	TOK("mremap(old range with a hole)", SC(SYS_mremap, g, 3 * PG, 4 * PG, (long)MREMAP_MAYMOVE));
	SC(SYS_munmap, g, 3 * PG);
	SC(SYS_munmap, s, 2 * PG);
}

static void test_madvise(void)
{
	char *p = map(4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(p, 'q', 4 * PG);
	T("madvise(pages 2-3, MADV_DONTNEED)", SC(SYS_madvise, p + PG, 2 * PG, (long)MADV_DONTNEED));
	check("  those pages read zero", all_bytes(p + PG, 2 * PG, 0));
	check("  the others are kept", all_bytes(p, PG, 'q') && all_bytes(p + 3 * PG, PG, 'q'));
	T("madvise(MADV_NORMAL)", SC(SYS_madvise, p, 4 * PG, (long)MADV_NORMAL));
	T("madvise(MADV_SEQUENTIAL)", SC(SYS_madvise, p, 4 * PG, (long)MADV_SEQUENTIAL));
	T("madvise(MADV_RANDOM)", SC(SYS_madvise, p, 4 * PG, (long)MADV_RANDOM));
	T("madvise(MADV_WILLNEED)", SC(SYS_madvise, p, 4 * PG, (long)MADV_WILLNEED));
	T("madvise(length 0)", SC(SYS_madvise, p, 0L, (long)MADV_DONTNEED));
	T("madvise(unaligned)", SC(SYS_madvise, p + 1, PG, (long)MADV_DONTNEED));
	T("madvise(advice 9999)", SC(SYS_madvise, p, PG, 9999L));
	T("munmap(last page)", SC(SYS_munmap, p + 3 * PG, PG));
	T("madvise(unmapped, MADV_DONTNEED)", SC(SYS_madvise, p + 3 * PG, PG, (long)MADV_DONTNEED));
	T("madvise(range with a hole, MADV_NORMAL)", SC(SYS_madvise, p, 4 * PG, (long)MADV_NORMAL));
	SC(SYS_munmap, p, 3 * PG);
}

static void test_brk(void)
{
	/* No printing between the calls: stdio may itself move the break. */
	long b0 = SC(SYS_brk, 0L);
	long b1 = SC(SYS_brk, b0 + 2 * PG);
	char *heap = (char *)b0;
	memset(heap, 'h', 2 * PG);
	int kept = all_bytes(heap, 2 * PG, 'h');
	long b2 = SC(SYS_brk, b0 + PG);
	long b3 = SC(SYS_brk, 1L);
	long b4 = SC(SYS_brk, b0 + 2 * PG);
	int zero_again = all_bytes(heap + PG, PG, 0) && all_bytes(heap, PG, 'h');
	long b5 = SC(SYS_brk, b0);
	long b6 = SC(SYS_brk, b0 - (1L << 40));
	check("brk(0) > 0", b0 > 0);
	check("brk(+2 pages) grows", b1 == b0 + 2 * PG);
	check("  new memory usable", kept);
	check("brk(+1 page) shrinks", b2 == b0 + PG);
	check("brk(1) fails and returns the current break", b3 == b0 + PG);
	check("brk(+2 pages) again", b4 == b0 + 2 * PG);
	check("  the page given back reads zero, the other is kept", zero_again);
	check("brk(start) restores", b5 == b0);
	check("brk(far below) returns the current break", b6 == b0);
}

int main(int argc, char **argv)
{
	setup(argc, argv, "mm");
	test_anon();
	test_file();
	test_mremap();
	test_madvise();
	test_brk();
	printf("done\n");
	return 0;
}
