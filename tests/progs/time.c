/*
 * Time: clock_gettime, clock_getres, gettimeofday, time.
 *
 * The raw system calls are used (not the vDSO), so the kernel answers; one
 * libc clock_gettime() (through the vDSO when there is one) is compared
 * with them.
 */
#include "common.h"
#include <sys/time.h>
#include <time.h>

static long long ns(const struct timespec *t)
{
	return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

static void test_clocks(void)
{
	static const clockid_t ids[] = { CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID,
					 CLOCK_THREAD_CPUTIME_ID, CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE,
					 CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME };
	static const char *names[] = { "REALTIME", "MONOTONIC", "PROCESS_CPUTIME_ID", "THREAD_CPUTIME_ID",
				       "MONOTONIC_RAW", "REALTIME_COARSE", "MONOTONIC_COARSE", "BOOTTIME" };
	for (unsigned i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		struct timespec t1, t2, res;
		long r1 = SC(SYS_clock_gettime, (long)ids[i], &t1);
		/* a little work so that CPU clocks move */
		volatile unsigned x = 0;
		for (int k = 0; k < 100000; k++)
			x += (unsigned)k;
		long r2 = SC(SYS_clock_gettime, (long)ids[i], &t2);
		long r3 = SC(SYS_clock_getres, (long)ids[i], &res);
		printf("CLOCK_%s: gettime=%ld,%ld getres=%ld nsec_in_range=%s non_decreasing=%s res_ok=%s\n",
		       names[i], r1, r2, r3,
		       t1.tv_nsec >= 0 && t1.tv_nsec < 1000000000 ? "yes" : "no",
		       ns(&t2) >= ns(&t1) ? "yes" : "no",
		       res.tv_sec == 0 && res.tv_nsec > 0 && res.tv_nsec <= 10000000 ? "yes" : "no");
	}

	struct timespec a, b, c;
	SC(SYS_clock_gettime, (long)CLOCK_MONOTONIC, &a);
	clock_gettime(CLOCK_MONOTONIC, &b);
	SC(SYS_clock_gettime, (long)CLOCK_MONOTONIC, &c);
	check("libc clock_gettime(MONOTONIC) lies between two raw calls", ns(&a) <= ns(&b) && ns(&b) <= ns(&c));
	SC(SYS_clock_gettime, (long)CLOCK_REALTIME, &a);
	check("CLOCK_REALTIME is after 2020", a.tv_sec > 1577836800);
	long long prev = 0;
	int mono = 1;
	for (int i = 0; i < 1000; i++) {
		SC(SYS_clock_gettime, (long)CLOCK_MONOTONIC, &a);
		if (ns(&a) < prev)
			mono = 0;
		prev = ns(&a);
	}
	check("1000 MONOTONIC reads never go back", mono);
	SC(SYS_clock_getres, (long)CLOCK_MONOTONIC, &a);
	printf("clock_getres(MONOTONIC) = %ld.%09ld\n", (long)a.tv_sec, a.tv_nsec);
	SC(SYS_clock_getres, (long)CLOCK_REALTIME, &a);
	printf("clock_getres(REALTIME) = %ld.%09ld\n", (long)a.tv_sec, a.tv_nsec);

	T("clock_gettime(MONOTONIC, BADPTR)", SC(SYS_clock_gettime, (long)CLOCK_MONOTONIC, BADPTR));
	T("clock_gettime(MONOTONIC, NULL)", SC(SYS_clock_gettime, (long)CLOCK_MONOTONIC, NULL));
	T("clock_gettime(clock 100)", SC(SYS_clock_gettime, 100L, &a));
	T("clock_gettime(clock -1)", SC(SYS_clock_gettime, -1L, &a));
	T("clock_getres(MONOTONIC, NULL)", SC(SYS_clock_getres, (long)CLOCK_MONOTONIC, NULL));
	T("clock_getres(MONOTONIC, BADPTR)", SC(SYS_clock_getres, (long)CLOCK_MONOTONIC, BADPTR));
	T("clock_getres(clock 100)", SC(SYS_clock_getres, 100L, &a));
}

static void test_tod(void)
{
	struct timeval tv;
	struct timespec ts;
	T("gettimeofday(&tv, NULL)", SC(SYS_gettimeofday, &tv, NULL));
	check("  tv_usec in range", tv.tv_usec >= 0 && tv.tv_usec < 1000000);
	SC(SYS_clock_gettime, (long)CLOCK_REALTIME, &ts);
	long long d = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - ((long long)tv.tv_sec * 1000000 + tv.tv_usec);
	check("  within 5 s of CLOCK_REALTIME, not after it", d >= 0 && d < 5000000);
	T("gettimeofday(NULL, NULL)", SC(SYS_gettimeofday, NULL, NULL));
	T("gettimeofday(BADPTR, NULL)", SC(SYS_gettimeofday, BADPTR, NULL));

	time_t t1 = 0;
	long r = SC(SYS_time, &t1);
	long r2 = SC(SYS_time, NULL);
	check("time(&t) returns t", r == (long)t1);
	check("time(NULL) within 5 s of it", r2 >= r && r2 - r < 5);
	SC(SYS_clock_gettime, (long)CLOCK_REALTIME, &ts);
	check("time() within 5 s of CLOCK_REALTIME", ts.tv_sec >= r2 && ts.tv_sec - r2 < 5);
	T("time(BADPTR)", SC(SYS_time, BADPTR) == -1 ? -1 : 0);
}

int main(int argc, char **argv)
{
	setup(argc, argv, "time");
	test_clocks();
	test_tod();
	printf("done\n");
	return 0;
}
