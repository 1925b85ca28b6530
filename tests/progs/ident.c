/*
 * Identity and limits: getpid, getppid, gettid, getuid, geteuid, getgid,
 * getegid, getgroups, prlimit64, getrlimit, setrlimit, uname, umask,
 * sysinfo, getrandom.
 *
 * The ids are printed: they are the caller's, the same natively and in veil
 * (the harness also checks them against `id`). The process ids and the
 * limits inherited from the caller are compared, not printed.
 */
#include "common.h"
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>

#ifndef GRND_NONBLOCK
#define GRND_NONBLOCK 1
#endif
#ifndef GRND_RANDOM
#define GRND_RANDOM 2
#endif
#ifndef GRND_INSECURE
#define GRND_INSECURE 4
#endif

struct k_rlimit {
	uint64_t cur, max;
};

static void test_ids(void)
{
	long pid = SC(SYS_getpid);
	long ppid = SC(SYS_getppid);
	long tid = SC(SYS_gettid);
	check("getpid() > 0", pid > 0);
	check("getppid() >= 0 and != getpid()", ppid >= 0 && ppid != pid);
	check("gettid() == getpid()", tid == pid);
	check("getpid() is stable", SC(SYS_getpid) == pid);
	T("getuid()", SC(SYS_getuid));
	T("geteuid()", SC(SYS_geteuid));
	T("getgid()", SC(SYS_getgid));
	T("getegid()", SC(SYS_getegid));

	gid_t groups[256];
	long n = T("getgroups(0, NULL)", SC(SYS_getgroups, 0L, NULL));
	long m = T("getgroups(256, buf)", SC(SYS_getgroups, 256L, groups));
	printf("  groups:");
	for (long i = 0; i < m; i++)
		printf(" %u", (unsigned)groups[i]);
	printf("\n");
	check("  counts agree", n == m);
	if (n > 1)
		T("getgroups(n - 1, buf)", SC(SYS_getgroups, n - 1, groups));
	else
		printf("getgroups(n - 1, buf): skipped, fewer than 2 groups\n");
	T("getgroups(-1, buf)", SC(SYS_getgroups, -1L, groups));
	if (n > 0)
		T("getgroups(n, BADPTR)", SC(SYS_getgroups, n, BADPTR));
	else
		printf("getgroups(n, BADPTR): skipped, no groups\n");
}

static void test_rlimits(void)
{
	struct k_rlimit a, b, c;
	static const int res[] = { RLIMIT_NOFILE, RLIMIT_STACK, RLIMIT_AS, RLIMIT_CORE, RLIMIT_DATA,
				   RLIMIT_FSIZE, RLIMIT_NPROC, RLIMIT_CPU };
	static const char *names[] = { "NOFILE", "STACK", "AS", "CORE", "DATA", "FSIZE", "NPROC", "CPU" };
	for (unsigned i = 0; i < sizeof res / sizeof res[0]; i++) {
		long r1 = SC(SYS_getrlimit, (long)res[i], &a);
		long r2 = SC(SYS_prlimit64, 0L, (long)res[i], NULL, &b);
		printf("RLIMIT_%s: getrlimit=%ld prlimit64=%ld agree=%s cur<=max=%s\n", names[i], r1, r2,
		       a.cur == b.cur && a.max == b.max ? "yes" : "no", a.cur <= a.max ? "yes" : "no");
	}

	T("getrlimit(NOFILE)", SC(SYS_getrlimit, (long)RLIMIT_NOFILE, &a));
	c.cur = 64;
	c.max = a.max;
	T("setrlimit(NOFILE, cur=64)", SC(SYS_setrlimit, (long)RLIMIT_NOFILE, &c));
	T("getrlimit(NOFILE)", SC(SYS_getrlimit, (long)RLIMIT_NOFILE, &b));
	printf("  cur=%llu max_unchanged=%s\n", (unsigned long long)b.cur, b.max == a.max ? "yes" : "no");
	T("dup2(0, 64) (at the limit)", SC(SYS_dup2, 0L, 64L));
	T("dup2(0, 63) (below the limit)", SC(SYS_dup2, 0L, 63L));
	T("fcntl(0, F_DUPFD, 64)", SC(SYS_fcntl, 0L, (long)F_DUPFD, 64L));
	SC(SYS_close, 63L);
	c.cur = 32;
	T("prlimit64(0, NOFILE, new=32, old)", SC(SYS_prlimit64, 0L, (long)RLIMIT_NOFILE, &c, &b));
	printf("  old cur=%llu\n", (unsigned long long)b.cur);
	T("prlimit64(getpid(), NOFILE, NULL, old)", SC(SYS_prlimit64, SC(SYS_getpid), (long)RLIMIT_NOFILE, NULL, &b));
	printf("  cur=%llu\n", (unsigned long long)b.cur);
	T("setrlimit(NOFILE, back to the original)", SC(SYS_setrlimit, (long)RLIMIT_NOFILE, &a));

	c.cur = 100;
	c.max = 50;
	T("setrlimit(NOFILE, cur > max)", SC(SYS_setrlimit, (long)RLIMIT_NOFILE, &c));
	T("getrlimit(resource 999)", SC(SYS_getrlimit, 999L, &a));
	T("prlimit64(0, resource 999)", SC(SYS_prlimit64, 0L, 999L, NULL, &a));
	T("getrlimit(NOFILE, BADPTR)", SC(SYS_getrlimit, (long)RLIMIT_NOFILE, BADPTR));
	T("setrlimit(NOFILE, BADPTR)", SC(SYS_setrlimit, (long)RLIMIT_NOFILE, BADPTR));
	T("prlimit64(0, NOFILE, BADPTR, NULL)", SC(SYS_prlimit64, 0L, (long)RLIMIT_NOFILE, BADPTR, NULL));
	T("prlimit64(0, NOFILE, NULL, BADPTR)", SC(SYS_prlimit64, 0L, (long)RLIMIT_NOFILE, NULL, BADPTR));
	T("prlimit64(0x3fffffff (no such pid), NOFILE)", SC(SYS_prlimit64, 0x3fffffffL, (long)RLIMIT_NOFILE, NULL, &a));
	T("prlimit64(0, NOFILE, NULL, NULL)", SC(SYS_prlimit64, 0L, (long)RLIMIT_NOFILE, NULL, NULL));

	/* RLIMIT_CORE can be lowered to 0 by anyone. */
	T("getrlimit(CORE)", SC(SYS_getrlimit, (long)RLIMIT_CORE, &a));
	c.cur = 0;
	c.max = a.max;
	T("setrlimit(CORE, cur=0)", SC(SYS_setrlimit, (long)RLIMIT_CORE, &c));
	SC(SYS_getrlimit, (long)RLIMIT_CORE, &b);
	printf("  cur=%llu\n", (unsigned long long)b.cur);
}

static void test_uname(void)
{
	struct utsname u;
	memset(&u, 0, sizeof u);
	T("uname(&u)", SC(SYS_uname, &u));
	printf("  sysname=%s machine=%s\n", u.sysname, u.machine);
	check("  release non-empty", u.release[0] != 0);
	check("  version non-empty", u.version[0] != 0);
	check("  nodename non-empty", u.nodename[0] != 0);
	check("  fields NUL-terminated", memchr(u.release, 0, sizeof u.release) && memchr(u.nodename, 0, sizeof u.nodename));
	T("uname(BADPTR)", SC(SYS_uname, BADPTR));
	T("uname(NULL)", SC(SYS_uname, NULL));
}

static void test_umask(void)
{
	printf("umask(0) = %04lo\n", SC(SYS_umask, 0L));
	printf("umask(0777) = %04lo\n", SC(SYS_umask, 0777L));
	printf("umask(022) = %04lo\n", SC(SYS_umask, 022L));
}

static void test_sysinfo(void)
{
	struct sysinfo si;
	memset(&si, 0, sizeof si);
	T("sysinfo(&si)", SC(SYS_sysinfo, &si));
	check("  uptime > 0", si.uptime > 0);
	check("  totalram > 0", si.totalram > 0);
	check("  freeram <= totalram", si.freeram <= si.totalram);
	check("  mem_unit >= 1", si.mem_unit >= 1);
	check("  procs >= 1", si.procs >= 1);
	check("  freeswap <= totalswap", si.freeswap <= si.totalswap);
	T("sysinfo(BADPTR)", SC(SYS_sysinfo, BADPTR));
}

static void test_getrandom(void)
{
	unsigned char a[64], b[64], big[1024];
	memset(a, 0, sizeof a);
	memset(b, 0, sizeof b);
	T("getrandom(64, 0)", SC(SYS_getrandom, a, 64L, 0L));
	T("getrandom(64, GRND_NONBLOCK)", SC(SYS_getrandom, b, 64L, (long)GRND_NONBLOCK));
	check("  two draws differ", memcmp(a, b, sizeof a) != 0);
	T("getrandom(16, GRND_RANDOM)", SC(SYS_getrandom, a, 16L, (long)GRND_RANDOM));
	T("getrandom(16, GRND_RANDOM|GRND_NONBLOCK)", SC(SYS_getrandom, a, 16L, (long)(GRND_RANDOM | GRND_NONBLOCK)));
	T("getrandom(1024, 0)", SC(SYS_getrandom, big, 1024L, 0L));
	int zeros = 0;
	for (int i = 0; i < 1024; i++)
		zeros += big[i] == 0;
	check("  not all zero", zeros < 64);
	T("getrandom(0, 0)", SC(SYS_getrandom, a, 0L, 0L));
	T("getrandom(16, 0x100)", SC(SYS_getrandom, a, 16L, 0x100L));
	T("getrandom(16, GRND_INSECURE|GRND_RANDOM)", SC(SYS_getrandom, a, 16L, (long)(GRND_INSECURE | GRND_RANDOM)));
	T("getrandom(BADPTR, 16, 0)", SC(SYS_getrandom, BADPTR, 16L, 0L));
}

int main(int argc, char **argv)
{
	setup(argc, argv, "ident");
	test_ids();
	test_rlimits();
	test_uname();
	test_umask();
	test_sysinfo();
	test_getrandom();
	printf("done\n");
	return 0;
}
