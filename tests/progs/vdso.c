/*
 * The vDSO: AT_SYSINFO_EHDR, the image's symbol and version tables (looked
 * up through both hash tables, as musl and glibc do), its functions called
 * directly and through libc for every clock id, agreement with the system
 * calls, monotonic time across a million calls, fork and exec, and the
 * [vdso] / [vvar] mappings.
 *
 * With "--loop N" it only makes N rounds of libc time calls (for the test
 * that counts traps under --strace).
 */
#include "common.h"
#include <elf.h>
#include <sched.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

typedef int (*cgt_fn)(clockid_t, struct timespec *);
typedef int (*gtod_fn)(struct timeval *, struct timezone *);
typedef time_t (*time_fn)(time_t *);
typedef long (*getcpu_fn)(unsigned *, unsigned *, void *);

static long long ns(const struct timespec *t)
{
	return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

/* The vDSO's dynamic tables. */
struct vdso {
	uintptr_t base; /* load bias */
	const Elf64_Sym *syms;
	const char *strs;
	const uint32_t *hash;	  /* DT_HASH */
	const uint32_t *gnu_hash; /* DT_GNU_HASH */
	const uint16_t *versym;
	const Elf64_Verdef *verdef;
	const char *soname;
};

static int parse_vdso(struct vdso *v, const Elf64_Ehdr *eh)
{
	const Elf64_Phdr *ph = (const void *)((const char *)eh + eh->e_phoff);
	const Elf64_Dyn *dyn = NULL;
	int loads = 0;
	memset(v, 0, sizeof *v);
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_type != ET_DYN)
		return -1;
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD) {
			v->base = (uintptr_t)eh + ph[i].p_offset - ph[i].p_vaddr;
			loads++;
		} else if (ph[i].p_type == PT_DYNAMIC) {
			dyn = (const void *)((const char *)eh + ph[i].p_offset);
		}
	}
	if (!loads || !dyn)
		return -1;
	uintptr_t soname = 0;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		uintptr_t p = v->base + dyn->d_un.d_ptr;
		switch (dyn->d_tag) {
		case DT_SYMTAB: v->syms = (const void *)p; break;
		case DT_STRTAB: v->strs = (const void *)p; break;
		case DT_HASH: v->hash = (const void *)p; break;
		case DT_GNU_HASH: v->gnu_hash = (const void *)p; break;
		case DT_VERSYM: v->versym = (const void *)p; break;
		case DT_VERDEF: v->verdef = (const void *)p; break;
		case DT_SONAME: soname = dyn->d_un.d_val; break;
		}
	}
	if (!v->syms || !v->strs)
		return -1;
	v->soname = v->strs + soname;
	return 0;
}

/* Does symbol i have version `ver` (musl's checkver)? */
static int has_version(const struct vdso *v, unsigned i, const char *ver)
{
	if (!v->versym || !v->verdef)
		return 0;
	unsigned want = v->versym[i] & 0x7fff;
	const Elf64_Verdef *d = v->verdef;
	for (;;) {
		if (!(d->vd_flags & VER_FLG_BASE) && (d->vd_ndx & 0x7fff) == want) {
			const Elf64_Verdaux *a = (const void *)((const char *)d + d->vd_aux);
			return strcmp(v->strs + a->vda_name, ver) == 0;
		}
		if (!d->vd_next)
			return 0;
		d = (const void *)((const char *)d + d->vd_next);
	}
}

static int sym_ok(const struct vdso *v, unsigned i, const char *name)
{
	const Elf64_Sym *s = &v->syms[i];
	return ELF64_ST_TYPE(s->st_info) == STT_FUNC && s->st_shndx != SHN_UNDEF &&
	       strcmp(v->strs + s->st_name, name) == 0 && has_version(v, i, "LINUX_2.6");
}

static uint32_t sysv_hash(const char *s)
{
	uint32_t h = 0, g;
	for (; *s; s++) {
		h = (h << 4) + (unsigned char)*s;
		g = h & 0xf0000000;
		if (g)
			h ^= g >> 24;
		h &= ~g;
	}
	return h;
}

static uint32_t gnu_hash(const char *s)
{
	uint32_t h = 5381;
	for (; *s; s++)
		h = h * 33 + (unsigned char)*s;
	return h;
}

/* Looks `name` up through DT_HASH's buckets and chains. */
static void *lookup_sysv(const struct vdso *v, const char *name)
{
	if (!v->hash)
		return NULL;
	uint32_t nbucket = v->hash[0];
	const uint32_t *bucket = v->hash + 2, *chain = bucket + nbucket;
	for (uint32_t i = bucket[sysv_hash(name) % nbucket]; i; i = chain[i])
		if (sym_ok(v, i, name))
			return (void *)(v->base + v->syms[i].st_value);
	return NULL;
}

/* Looks `name` up through DT_GNU_HASH's bloom filter, buckets and chains. */
static void *lookup_gnu(const struct vdso *v, const char *name)
{
	if (!v->gnu_hash)
		return NULL;
	const uint32_t *g = v->gnu_hash;
	uint32_t nbuckets = g[0], symoffset = g[1], bloom_size = g[2], shift = g[3];
	const uint64_t *bloom = (const void *)(g + 4);
	const uint32_t *buckets = (const void *)(bloom + bloom_size);
	const uint32_t *chain = buckets + nbuckets;
	uint32_t h = gnu_hash(name);
	uint64_t word = bloom[(h / 64) % bloom_size];
	uint64_t mask = (1ULL << (h % 64)) | (1ULL << ((h >> shift) % 64));
	if ((word & mask) != mask)
		return NULL;
	uint32_t i = buckets[h % nbuckets];
	if (i < symoffset)
		return NULL;
	for (;; i++) {
		uint32_t h2 = chain[i - symoffset];
		if ((h | 1) == (h2 | 1) && sym_ok(v, i, name))
			return (void *)(v->base + v->syms[i].st_value);
		if (h2 & 1)
			return NULL;
	}
}

static struct vdso V;

static void *find(const char *name)
{
	void *a = lookup_sysv(&V, name), *b = lookup_gnu(&V, name);
	printf("symbol %s: DT_HASH=%s DT_GNU_HASH=%s same=%s\n", name, a ? "found" : "missing",
	       b ? "found" : "missing", a == b ? "yes" : "no");
	return a ? a : b;
}

/* The lowest CPU this thread may run on. */
static int lowest_cpu(void)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof set, &set))
		return -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			return c;
	return -1;
}

static void test_symbols(void)
{
	const char *names[] = { "clock_gettime", "gettimeofday", "time", "clock_getres", "getcpu" };
	printf("soname: %s\n", V.soname);
	for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
		char full[64];
		snprintf(full, sizeof full, "__vdso_%s", names[i]);
		void *a = find(full), *b = find(names[i]);
		printf("  %s is an alias of %s: %s\n", names[i], full, a && a == b ? "yes" : "no");
	}
	check("a name it does not have is not found", !lookup_sysv(&V, "__vdso_nothing") && !lookup_gnu(&V, "__vdso_nothing"));
}

/* The vDSO's own functions, called directly. */
static void test_direct(void)
{
	cgt_fn cgt = (cgt_fn)lookup_sysv(&V, "__vdso_clock_gettime");
	gtod_fn gtod = (gtod_fn)lookup_sysv(&V, "__vdso_gettimeofday");
	time_fn tm = (time_fn)lookup_sysv(&V, "__vdso_time");
	cgt_fn getres = (cgt_fn)lookup_sysv(&V, "__vdso_clock_getres");
	getcpu_fn gcpu = (getcpu_fn)lookup_sysv(&V, "__vdso_getcpu");
	if (!cgt || !gtod || !tm || !getres || !gcpu) {
		printf("direct: symbols missing\n");
		return;
	}
	static const clockid_t fine[] = { CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_BOOTTIME,
					  CLOCK_TAI, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE };
	for (unsigned i = 0; i < sizeof fine / sizeof fine[0]; i++) {
		struct timespec a, b, c;
		SC(SYS_clock_gettime, (long)fine[i], &a);
		int r = cgt(fine[i], &b);
		SC(SYS_clock_gettime, (long)fine[i], &c);
		printf("__vdso_clock_gettime(%d) = %d, between two system calls: %s\n", (int)fine[i], r,
		       ns(&a) <= ns(&b) && ns(&b) <= ns(&c) ? "yes" : "no");
	}
	struct timespec t;
	printf("__vdso_clock_gettime(clock 100) = %s\n", cgt(100, &t) == -EINVAL ? "-EINVAL" : "other");
	printf("__vdso_clock_gettime(clock -1) = %s\n", cgt(-1, &t) == -EINVAL ? "-EINVAL" : "other");
	printf("__vdso_clock_gettime(PROCESS_CPUTIME_ID) = %d\n", cgt(CLOCK_PROCESS_CPUTIME_ID, &t));

	struct timeval tv1, tv2, tv3;
	struct timezone tz1 = { 77, 77 }, tz2 = { 88, 88 };
	SC(SYS_gettimeofday, &tv1, &tz1);
	int r = gtod(&tv2, &tz2);
	SC(SYS_gettimeofday, &tv3, NULL);
	long long u1 = tv1.tv_sec * 1000000LL + tv1.tv_usec, u2 = tv2.tv_sec * 1000000LL + tv2.tv_usec,
		  u3 = tv3.tv_sec * 1000000LL + tv3.tv_usec;
	printf("__vdso_gettimeofday = %d, between two system calls: %s, usec in range: %s\n", r,
	       u1 <= u2 && u2 <= u3 ? "yes" : "no", tv2.tv_usec >= 0 && tv2.tv_usec < 1000000 ? "yes" : "no");
	check("  time zone same as the system call's",
	      tz1.tz_minuteswest == tz2.tz_minuteswest && tz1.tz_dsttime == tz2.tz_dsttime);
	printf("__vdso_gettimeofday(NULL, NULL) = %d\n", gtod(NULL, NULL));

	time_t s1 = (time_t)SC(SYS_time, NULL), s2 = 0, s3;
	time_t got = tm(&s2);
	s3 = (time_t)SC(SYS_time, NULL);
	check("__vdso_time between two system calls, stored too", s1 <= got && got <= s3 && s2 == got);

	for (int c = -1; c < 16; c++) {
		struct timespec r1 = { -1, -1 }, r2 = { -2, -2 };
		long a = SC(SYS_clock_getres, (long)c, &r1);
		int ea = a ? errno : 0;
		int b = getres(c, &r2);
		int same = (a ? -ea : 0) == b && (a || (r1.tv_sec == r2.tv_sec && r1.tv_nsec == r2.tv_nsec));
		if (c == CLOCK_REALTIME_ALARM || c == CLOCK_BOOTTIME_ALARM)
			printf("clock_getres(%d): vDSO same as the system call: %s\n", c, same ? "yes" : "no");
		else
			printf("clock_getres(%d) = %s, vDSO same as the system call: %s\n", c, a ? errname(ea) : "0",
			       same ? "yes" : "no");
	}
	printf("__vdso_clock_getres(MONOTONIC, NULL) = %d\n", getres(CLOCK_MONOTONIC, NULL));

	int lo = lowest_cpu();
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(lo, &one);
	if (lo < 0 || sched_setaffinity(0, sizeof one, &one)) {
		printf("cannot pin to one CPU\n");
		return;
	}
	unsigned cpu = 999, node = 999;
	long g = gcpu(&cpu, &node, NULL);
	printf("__vdso_getcpu = %ld, the CPU pinned to: %s, node 0: %s\n", g, (int)cpu == lo ? "yes" : "no",
	       node == 0 ? "yes" : "no");
	printf("__vdso_getcpu(NULL, NULL) = %ld\n", gcpu(NULL, NULL, NULL));
}

/* Every clock id through libc (the vDSO where there is one) against the
 * system call. Alarm clocks answer EINVAL natively on a host without an
 * RTC (and veil always serves them): only agreement is printed for them. */
static void test_libc_clocks(void)
{
	clockid_t cpu_clock;
	for (int c = -1; c < 17; c++) {
		struct timespec a, b;
		errno = 0;
		int r1 = clock_gettime(c, &a);
		int e1 = r1 ? errno : 0;
		long r2 = SC(SYS_clock_gettime, (long)c, &b);
		int e2 = r2 ? errno : 0;
		int alarm = c == CLOCK_REALTIME_ALARM || c == CLOCK_BOOTTIME_ALARM;
		if (alarm)
			printf("clock_gettime(%d): same as the system call: %s\n", c,
			       r1 == r2 && e1 == e2 ? "yes" : "no");
		else
			printf("clock_gettime(%d) = %s, same as the system call: %s\n", c, r1 ? errname(e1) : "0",
			       r1 == r2 && e1 == e2 ? "yes" : "no");
	}
	if (clock_getcpuclockid(0, &cpu_clock) == 0) {
		struct timespec a;
		printf("clock_gettime(process CPU clock id) = %d\n", clock_gettime(cpu_clock, &a));
	}
	static const clockid_t fine[] = { CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_BOOTTIME,
					  CLOCK_TAI, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE };
	for (unsigned i = 0; i < sizeof fine / sizeof fine[0]; i++) {
		struct timespec a, b, c;
		SC(SYS_clock_gettime, (long)fine[i], &a);
		clock_gettime(fine[i], &b);
		SC(SYS_clock_gettime, (long)fine[i], &c);
		printf("clock_gettime(%d) between two system calls: %s, nsec in range: %s\n", (int)fine[i],
		       ns(&a) <= ns(&b) && ns(&b) <= ns(&c) ? "yes" : "no",
		       b.tv_nsec >= 0 && b.tv_nsec < 1000000000 ? "yes" : "no");
	}
}

static void test_monotonic(void)
{
	struct timespec t, s;
	long long prev = 0, prev_boot = 0;
	int ok = 1, boot_ok = 1, mixed_ok = 1;
	for (int i = 0; i < 1000000; i++) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (ns(&t) < prev)
			ok = 0;
		prev = ns(&t);
		if (i % 1000 == 0) {
			/* The system call and the vDSO are one clock. */
			SC(SYS_clock_gettime, (long)CLOCK_MONOTONIC, &s);
			if (ns(&s) < prev)
				mixed_ok = 0;
			prev = ns(&s);
			clock_gettime(CLOCK_BOOTTIME, &s);
			if (ns(&s) < prev_boot)
				boot_ok = 0;
			prev_boot = ns(&s);
		}
	}
	check("a million MONOTONIC reads never go back", ok);
	check("  nor do system calls between them", mixed_ok);
	check("  nor BOOTTIME", boot_ok);
}

static void test_realtime(void)
{
	struct timespec ts;
	struct timeval tv;
	clock_gettime(CLOCK_REALTIME, &ts);
	time_t t = time(NULL);
	gettimeofday(&tv, NULL);
	check("time() within a second of CLOCK_REALTIME", t - ts.tv_sec >= 0 && t - ts.tv_sec <= 1);
	check("gettimeofday within a second of CLOCK_REALTIME", tv.tv_sec - ts.tv_sec >= 0 && tv.tv_sec - ts.tv_sec <= 1);
	check("CLOCK_REALTIME is after 2020", ts.tv_sec > 1577836800);

	struct timespec res, f1, c, f2;
	static const clockid_t coarse[] = { CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE };
	static const clockid_t fine[] = { CLOCK_REALTIME, CLOCK_MONOTONIC };
	for (int i = 0; i < 2; i++) {
		clock_getres(coarse[i], &res);
		printf("clock_getres(%d) = %ld.%09ld\n", (int)coarse[i], (long)res.tv_sec, res.tv_nsec);
		clock_gettime(fine[i], &f1);
		clock_gettime(coarse[i], &c);
		clock_gettime(fine[i], &f2);
		check("  the coarse clock is never ahead of the fine one, nor far behind",
		      ns(&c) <= ns(&f2) && ns(&f1) - ns(&c) < 100000000);
	}
	clock_getres(CLOCK_MONOTONIC, &res);
	printf("clock_getres(MONOTONIC) = %ld.%09ld\n", (long)res.tv_sec, res.tv_nsec);
}

/* Lines of /proc/self/maps naming `name`; the start and permissions of the last. */
static int maps_line(const char *name, unsigned long *start, char perms[5])
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		size_t l = strlen(line), k = strlen(name);
		if (l >= k && strcmp(line + l - k, name) == 0) {
			sscanf(line, "%lx-%*x %4s", start, perms);
			n++;
		}
	}
	fclose(f);
	return n;
}

static void test_mappings(unsigned long ehdr)
{
	unsigned long vdso = 0, vvar = 0;
	char p1[5] = "", p2[5] = "";
	int n = maps_line("[vdso]", &vdso, p1);
	printf("[vdso] mappings: %d, perms %s, at AT_SYSINFO_EHDR: %s\n", n, p1, vdso == ehdr ? "yes" : "no");
	n = maps_line("[vvar]", &vvar, p2);
	printf("[vvar] mappings: %d, perms %s, below [vdso]: %s\n", n, p2, vvar && vvar < vdso ? "yes" : "no");
	if (vvar) {
		T("mprotect([vvar], RW)", mprotect((void *)vvar, 4096, PROT_READ | PROT_WRITE));
		int fds[2];
		if (pipe(fds) == 0 && write(fds[1], "x", 1) == 1) {
			T("read(pipe, [vvar])", SC(SYS_read, fds[0], (void *)vvar, 1));
			close(fds[0]);
			close(fds[1]);
		}
	}
}

/* After fork the child still has the vDSO (and it still works); after
 * exec a program gets a fresh one. */
static void test_fork_exec(cgt_fn cgt)
{
	struct timespec before, t;
	clock_gettime(CLOCK_MONOTONIC, &before);
	pid_t pid = fork();
	if (pid == 0) {
		int ok = cgt && cgt(CLOCK_MONOTONIC, &t) == 0 && ns(&t) >= ns(&before) &&
			 getauxval(AT_SYSINFO_EHDR) != 0;
		_exit(ok ? 0 : 1);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	check("a forked child calls the vDSO", WIFEXITED(st) && WEXITSTATUS(st) == 0);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		char *argv[] = { "vdso", "--after-exec", NULL };
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	check("the exec'd program exited 0", WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static int after_exec(void)
{
	unsigned long ehdr = getauxval(AT_SYSINFO_EHDR), vdso = 0;
	char perms[5] = "";
	struct timespec t;
	int n = maps_line("[vdso]", &vdso, perms);
	printf("after exec: AT_SYSINFO_EHDR set: %s, one [vdso] there: %s, clock_gettime = %d\n",
	       ehdr ? "yes" : "no", n == 1 && vdso == ehdr ? "yes" : "no", clock_gettime(CLOCK_MONOTONIC, &t));
	return 0;
}

static int loop(long n)
{
	struct timespec t;
	struct timeval tv;
	long long last = 0;
	int ok = 1;
	for (long i = 0; i < n; i++) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (ns(&t) < last)
			ok = 0;
		last = ns(&t);
		clock_gettime(CLOCK_REALTIME, &t);
		gettimeofday(&tv, NULL);
		time(NULL);
	}
	printf("loop: %ld rounds, monotonic: %s\n", n, ok ? "yes" : "no");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "--loop") == 0)
		return loop(atol(argv[2]));
	if (argc > 1 && strcmp(argv[1], "--after-exec") == 0)
		return after_exec();
	setup(argc, argv, "vdso");
	unsigned long ehdr = getauxval(AT_SYSINFO_EHDR);
	check("AT_SYSINFO_EHDR is set", ehdr != 0);
	if (!ehdr)
		return 1;
	check("the vDSO parses as an ELF shared object", parse_vdso(&V, (const void *)ehdr) == 0);
	check("  with DT_HASH, DT_GNU_HASH, DT_VERSYM and DT_VERDEF",
	      V.hash && V.gnu_hash && V.versym && V.verdef);
	test_symbols();
	test_direct();
	test_libc_clocks();
	test_monotonic();
	test_realtime();
	test_mappings(ehdr);
	test_fork_exec((cgt_fn)lookup_sysv(&V, "__vdso_clock_gettime"));
	return 0;
}
