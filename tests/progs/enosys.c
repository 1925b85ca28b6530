/*
 * Unimplemented system calls: numbers Linux itself does not have answer
 * ENOSYS, and the program goes on. The harness also runs this program with
 * `veil do --strace` and looks for the calls by name in the trace.
 */
#include "common.h"

int main(int argc, char **argv)
{
	setup(argc, argv, "enosys");
	T("syscall(500)", SC(500L, 1L, 2L, 3L, 4L, 5L, 6L));
	T("syscall(1000)", SC(1000L));
	T("syscall(100000)", SC(100000L));
	T("syscall(-1)", SC(-1L));
	check("getpid() still works", SC(SYS_getpid) > 0);
	T("getppid() after ENOSYS", SC(SYS_getppid) >= 0 ? 0 : -1);
	T("write(1, ...)", SC(SYS_write, 1L, "still running\n", 14L));
	printf("done\n");
	return 0;
}
