/*
 * Per-task state: arch_prctl (ARCH_GET_FS / ARCH_SET_FS / ARCH_GET_GS),
 * set_tid_address, set_robust_list, sched_getaffinity.
 */
#include "common.h"
#include <sched.h>

#define ARCH_SET_GS 0x1001
#define ARCH_SET_FS 0x1002
#define ARCH_GET_FS 0x1003
#define ARCH_GET_GS 0x1004

static int tid_word;

struct k_robust_list_head {
	void *next;
	long futex_offset;
	void *list_op_pending;
};

static void test_arch_prctl(void)
{
	unsigned long fs = 0, gs = 1, self = 0;
	T("arch_prctl(ARCH_GET_FS, &fs)", SC(SYS_arch_prctl, (long)ARCH_GET_FS, &fs));
	__asm__ volatile("mov %%fs:0, %0" : "=r"(self));
	check("  fs != 0", fs != 0);
	check("  fs base == %fs:0 (the TLS self pointer)", fs == self);
	T("arch_prctl(ARCH_SET_FS, fs) (same value)", SC(SYS_arch_prctl, (long)ARCH_SET_FS, fs));
	unsigned long fs2 = 0;
	SC(SYS_arch_prctl, (long)ARCH_GET_FS, &fs2);
	check("  ARCH_GET_FS gives it back", fs2 == fs);
	T("arch_prctl(ARCH_GET_GS, &gs)", SC(SYS_arch_prctl, (long)ARCH_GET_GS, &gs));
	printf("  gs=%#lx\n", gs);
	T("arch_prctl(ARCH_GET_FS, BADPTR)", SC(SYS_arch_prctl, (long)ARCH_GET_FS, BADPTR));
	T("arch_prctl(ARCH_GET_GS, BADPTR)", SC(SYS_arch_prctl, (long)ARCH_GET_GS, BADPTR));
	T("arch_prctl(ARCH_SET_FS, non-canonical)", SC(SYS_arch_prctl, (long)ARCH_SET_FS, 0x8000000000000000UL));
	T("arch_prctl(0x9999, &fs)", SC(SYS_arch_prctl, 0x9999L, &fs));
	/* TLS still works after all that. */
	errno = 0;
	check("errno (in TLS) still usable", errno == 0);
}

static void test_tid(void)
{
	long tid = SC(SYS_set_tid_address, &tid_word);
	check("set_tid_address(&word) returns gettid()", tid == SC(SYS_gettid));
	check("set_tid_address(NULL) returns gettid()", SC(SYS_set_tid_address, NULL) == tid);
	check("set_tid_address(BADPTR) returns gettid()", SC(SYS_set_tid_address, BADPTR) == tid);
	SC(SYS_set_tid_address, &tid_word);

	static struct k_robust_list_head head;
	head.next = &head;
	head.futex_offset = 0;
	head.list_op_pending = NULL;
	T("set_robust_list(&head, sizeof head)", SC(SYS_set_robust_list, &head, (long)sizeof head));
	T("set_robust_list(&head, 0)", SC(SYS_set_robust_list, &head, 0L));
	T("set_robust_list(&head, 100)", SC(SYS_set_robust_list, &head, 100L));
}

/*
 * The raw call returns the size of the kernel's cpumask (nr_cpu_ids bits
 * rounded up to longs), which depends on the host: veil answers with the
 * host's size.
 */
static void test_affinity(void)
{
	unsigned char mask[128];
	memset(mask, 0, sizeof mask);
	long n = T("sched_getaffinity(0, 128, mask)", SC(SYS_sched_getaffinity, 0L, 128L, mask));
	int cpus = 0;
	for (long i = 0; i < (n > 0 ? n : 0); i++)
		cpus += __builtin_popcount(mask[i]);
	printf("  cpus in mask: %d\n", cpus);
	check("  bytes past the returned size untouched", n <= 0 || n >= 128 || mask[n] == 0);
	unsigned char mask2[128];
	memset(mask2, 0, sizeof mask2);
	long m = SC(SYS_sched_getaffinity, SC(SYS_getpid), 128L, mask2);
	check("sched_getaffinity(getpid()) is the same", m == n && memcmp(mask, mask2, sizeof mask) == 0);
	T("sched_getaffinity(0, 4, mask) (not a multiple of 8)", SC(SYS_sched_getaffinity, 0L, 4L, mask));
	T("sched_getaffinity(0, 0, mask)", SC(SYS_sched_getaffinity, 0L, 0L, mask));
	T("sched_getaffinity(0, 128, BADPTR)", SC(SYS_sched_getaffinity, 0L, 128L, BADPTR));
	T("sched_getaffinity(0x3fffffff (no such pid), 128, mask)", SC(SYS_sched_getaffinity, 0x3fffffffL, 128L, mask));
	T("sched_getaffinity(-1, 128, mask)", SC(SYS_sched_getaffinity, -1L, 128L, mask));
}

int main(int argc, char **argv)
{
	setup(argc, argv, "task");
	test_arch_prctl();
	test_tid();
	test_affinity();
	printf("done\n");
	return 0;
}
