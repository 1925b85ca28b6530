/*
 * veil's vDSO: clock_gettime, gettimeofday, time, clock_getres and getcpu
 * for sandboxed programs, answered without entering the Sentry where the
 * Sentry's clocks allow it.
 *
 * The Sentry maps this image (vdso.so, built by tools/build-vdso.sh) into
 * every address space it creates at exec, with one read-only parameter
 * page (the "vvar" page) just below it. The page holds, per clock, a TSC
 * value, the time at that TSC value (whole nanoseconds and a 32-bit
 * fraction) and the rate (nanoseconds per TSC cycle as a 32.32 fixed-point
 * number), under a sequence counter. The Sentry computes its own answers
 * to the clock system calls from exactly the same parameters with exactly
 * the same arithmetic (veil_core::vdso::ClockParams), so the two paths
 * give one clock.
 *
 * Everything the page does not cover falls back to the real `syscall`
 * instruction, which the platform traps into the Sentry as usual: the
 * CPU-time clocks, unknown clock ids, getcpu (veil answers it from the
 * thread's affinity mask, which only the Sentry knows), and all calls made
 * while the page is not ready (the Sentry has not calibrated the TSC, or
 * the host's clock source is not the TSC).
 *
 * The code is position independent and needs no relocations: the
 * parameter page is found PC-relative (vdso.lds places `vvar` one page
 * below the image). Return values follow the kernel's convention
 * (0 or -errno), as the C libraries expect from a vDSO.
 */
#include <stdint.h>

typedef long veil_time_t;

struct veil_timespec {
	veil_time_t tv_sec;
	long tv_nsec;
};

struct veil_timeval {
	veil_time_t tv_sec;
	long tv_usec;
};

struct veil_timezone {
	int tz_minuteswest;
	int tz_dsttime;
};

/* One clock: ns(c) = base_ns + ((c - base_cycles) * mult + base_frac) >> 32,
 * with base_ns wrapping (the monotonic clock is shifted to the sandbox's
 * boot). Mirrors veil_core::vdso::ClockParams. */
struct clock_params {
	uint64_t base_cycles;
	uint64_t base_ns;
	uint64_t base_frac;
	uint64_t mult;
};

/* The parameter page. Mirrors veil_core::vdso::VvarPage. */
struct vvar {
	/* Odd while the Sentry rewrites the page. */
	uint64_t seq;
	/* Non-zero when the clock parameters below may be used. */
	uint64_t ready;
	struct clock_params monotonic;
	struct clock_params realtime;
	/* Resolution of the _COARSE clocks, ns: their values are the fine
	 * values rounded down to a multiple of it. */
	uint64_t coarse_ns;
};

extern const volatile struct vvar vvar __attribute__((visibility("hidden")));

#define CLOCK_REALTIME 0
#define CLOCK_MONOTONIC 1
#define CLOCK_MONOTONIC_RAW 4
#define CLOCK_REALTIME_COARSE 5
#define CLOCK_MONOTONIC_COARSE 6
#define CLOCK_BOOTTIME 7
#define CLOCK_TAI 11

#define SYS_gettimeofday 96
#define SYS_time 201
#define SYS_clock_gettime 228
#define SYS_clock_getres 229
#define SYS_getcpu 309

#define NSEC_PER_SEC 1000000000ULL
/* Reads of an odd sequence before the vDSO gives up and asks the Sentry
 * (whose reader waits for the writer without burning a CPU). */
#define MAX_SPINS 4096

static inline long sys2(long nr, long a, long b)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline long sys3(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}

#define barrier() __asm__ volatile("" ::: "memory")

/* The TSC, read after the loads before it (the sequence counter and the
 * parameters) have completed, as Linux's rdtsc_ordered. The re-check of
 * the counter may still run a few cycles before the TSC is read; a read
 * that slips past the Sentry's switch instant that way errs by (cycles
 * slipped) x (change of rate), far below a nanosecond, so no fence is
 * spent on it. */
static inline uint64_t read_tsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("lfence\n\trdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return ((uint64_t)hi << 32) | lo;
}

static inline uint64_t clock_ns(const struct clock_params *p, uint64_t cycles)
{
	uint64_t delta = cycles > p->base_cycles ? cycles - p->base_cycles : 0;
	unsigned __int128 x = (unsigned __int128)delta * p->mult + p->base_frac;
	return p->base_ns + (uint64_t)(x >> 32);
}

/* Reads one clock's parameters and the TSC consistently. Returns 0, or -1
 * when the page cannot be used (not ready, or the writer takes too long). */
static inline int read_clock(int realtime, uint64_t *ns, uint64_t *coarse)
{
	const volatile struct clock_params *src = realtime ? &vvar.realtime : &vvar.monotonic;
	struct clock_params p;
	uint64_t seq, cycles, c;
	int spins = 0;

	for (;;) {
		seq = vvar.seq;
		if (seq & 1) {
			if (++spins > MAX_SPINS)
				return -1;
			__asm__ volatile("pause");
			continue;
		}
		barrier();
		if (!vvar.ready)
			return -1;
		p.base_cycles = src->base_cycles;
		p.base_ns = src->base_ns;
		p.base_frac = src->base_frac;
		p.mult = src->mult;
		c = vvar.coarse_ns;
		cycles = read_tsc();
		barrier();
		if (vvar.seq == seq)
			break;
	}
	*ns = clock_ns(&p, cycles);
	*coarse = c;
	return 0;
}

static inline void to_timespec(uint64_t ns, struct veil_timespec *ts)
{
	ts->tv_sec = (veil_time_t)(ns / NSEC_PER_SEC);
	ts->tv_nsec = (long)(ns % NSEC_PER_SEC);
}

int __vdso_clock_gettime(int clock, struct veil_timespec *ts)
{
	uint64_t ns, coarse;
	int realtime, is_coarse = 0;

	switch (clock) {
	case CLOCK_REALTIME:
	case CLOCK_TAI:
		realtime = 1;
		break;
	case CLOCK_REALTIME_COARSE:
		realtime = 1;
		is_coarse = 1;
		break;
	case CLOCK_MONOTONIC:
	case CLOCK_MONOTONIC_RAW:
	case CLOCK_BOOTTIME:
		realtime = 0;
		break;
	case CLOCK_MONOTONIC_COARSE:
		realtime = 0;
		is_coarse = 1;
		break;
	default:
		return (int)sys2(SYS_clock_gettime, clock, (long)ts);
	}
	if (read_clock(realtime, &ns, &coarse))
		return (int)sys2(SYS_clock_gettime, clock, (long)ts);
	if (is_coarse && coarse)
		ns -= ns % coarse;
	to_timespec(ns, ts);
	return 0;
}
int clock_gettime(int, struct veil_timespec *) __attribute__((weak, alias("__vdso_clock_gettime")));

int __vdso_gettimeofday(struct veil_timeval *tv, struct veil_timezone *tz)
{
	uint64_t ns, coarse;

	if (tv) {
		if (read_clock(1, &ns, &coarse))
			return (int)sys2(SYS_gettimeofday, (long)tv, (long)tz);
		tv->tv_sec = (veil_time_t)(ns / NSEC_PER_SEC);
		tv->tv_usec = (long)(ns % NSEC_PER_SEC / 1000);
	}
	if (tz) {
		/* No time zone is ever set in veil (settimeofday is not
		 * offered): both fields are zero, as the system call says. */
		tz->tz_minuteswest = 0;
		tz->tz_dsttime = 0;
	}
	return 0;
}
int gettimeofday(struct veil_timeval *, struct veil_timezone *)
	__attribute__((weak, alias("__vdso_gettimeofday")));

veil_time_t __vdso_time(veil_time_t *t)
{
	uint64_t ns, coarse;
	veil_time_t s;

	if (read_clock(1, &ns, &coarse))
		return (veil_time_t)sys2(SYS_time, (long)t, 0);
	s = (veil_time_t)(ns / NSEC_PER_SEC);
	if (t)
		*t = s;
	return s;
}
veil_time_t time(veil_time_t *) __attribute__((weak, alias("__vdso_time")));

int __vdso_clock_getres(int clock, struct veil_timespec *res)
{
	uint64_t ns;

	switch (clock) {
	case CLOCK_REALTIME:
	case CLOCK_TAI:
	case CLOCK_MONOTONIC:
	case CLOCK_MONOTONIC_RAW:
	case CLOCK_BOOTTIME:
		ns = 1;
		break;
	case CLOCK_REALTIME_COARSE:
	case CLOCK_MONOTONIC_COARSE:
		ns = vvar.coarse_ns;
		if (ns)
			break;
		/* not published yet: ask the Sentry */
		__attribute__((fallthrough));
	default:
		return (int)sys2(SYS_clock_getres, clock, (long)res);
	}
	if (res) {
		res->tv_sec = 0;
		res->tv_nsec = (long)ns;
	}
	return 0;
}
int clock_getres(int, struct veil_timespec *) __attribute__((weak, alias("__vdso_clock_getres")));

long __vdso_getcpu(unsigned *cpu, unsigned *node, void *cache)
{
	/* The answer depends on the calling thread's affinity mask as the
	 * Sentry keeps it, so the Sentry gives it. */
	return sys3(SYS_getcpu, (long)cpu, (long)node, (long)cache);
}
long getcpu(unsigned *, unsigned *, void *) __attribute__((weak, alias("__vdso_getcpu")));
