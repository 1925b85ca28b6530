/*
 * membarrier: QUERY, the barriers (GLOBAL, GLOBAL_EXPEDITED, the private
 * expedited ones before and after registering), flag and cpu_id checks,
 * GET_REGISTRATIONS, registrations inherited by fork and threads and
 * cleared by exec.
 */
#include "common.h"
#include <pthread.h>
#include <sys/wait.h>

#define MB(cmd, flags, cpu) SC(SYS_membarrier, (long)(cmd), (long)(flags), (long)(cpu))

static void *thread_main(void *arg)
{
	(void)arg;
	T("thread: GET_REGISTRATIONS", MB(512, 0, 0));
	T("thread: PRIVATE_EXPEDITED", MB(8, 0, 0));
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[2], "exec") == 0) {
		setvbuf(stdout, NULL, _IOLBF, 0);
		T("after exec: GET_REGISTRATIONS", MB(512, 0, 0));
		T("after exec: PRIVATE_EXPEDITED", MB(8, 0, 0));
		return 0;
	}
	setup(argc, argv, "membarrier");
	T("QUERY", MB(0, 0, 0));
	T("QUERY with flags", MB(0, 1, 0));
	T("unknown command 3", MB(3, 0, 0));
	T("unknown command 1024", MB(1024, 0, 0));
	T("negative command", MB(-1, 0, 0));
	T("GLOBAL", MB(1, 0, 0));
	T("GLOBAL with flags", MB(1, 2, 0));
	T("GLOBAL_EXPEDITED unregistered", MB(2, 0, 0));
	T("GET_REGISTRATIONS", MB(512, 0, 0));
	T("PRIVATE_EXPEDITED unregistered", MB(8, 0, 0));
	T("SYNC_CORE unregistered", MB(32, 0, 0));
	T("RSEQ unregistered", MB(128, 0, 0));
	T("REGISTER_PRIVATE_EXPEDITED_SYNC_CORE", MB(64, 0, 0));
	T("GET_REGISTRATIONS", MB(512, 0, 0));
	T("PRIVATE_EXPEDITED after SYNC_CORE only", MB(8, 0, 0));
	T("SYNC_CORE", MB(32, 0, 0));
	T("REGISTER_PRIVATE_EXPEDITED", MB(16, 0, 0));
	T("REGISTER_PRIVATE_EXPEDITED again", MB(16, 0, 0));
	T("PRIVATE_EXPEDITED", MB(8, 0, 0));
	T("PRIVATE_EXPEDITED with FLAG_CPU", MB(8, 1, 0));
	T("REGISTER_PRIVATE_EXPEDITED_RSEQ", MB(256, 0, 0));
	T("RSEQ", MB(128, 0, 0));
	T("RSEQ FLAG_CPU cpu 0", MB(128, 1, 0));
	T("RSEQ FLAG_CPU cpu 4096", MB(128, 1, 4096));
	T("RSEQ FLAG_CPU cpu -1", MB(128, 1, -1));
	T("RSEQ flags 2", MB(128, 2, 0));
	T("REGISTER_GLOBAL_EXPEDITED", MB(4, 0, 0));
	T("GLOBAL_EXPEDITED", MB(2, 0, 0));
	T("GET_REGISTRATIONS", MB(512, 0, 0));
	pthread_t th;
	pthread_create(&th, NULL, thread_main, NULL);
	pthread_join(th, NULL);
	T("PRIVATE_EXPEDITED after a thread", MB(8, 0, 0));
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		T("child: GET_REGISTRATIONS", MB(512, 0, 0));
		T("child: PRIVATE_EXPEDITED", MB(8, 0, 0));
		fflush(stdout);
		execl("/proc/self/exe", argv[0], argc > 1 ? argv[1] : ".", "exec", (char *)NULL);
		printf("exec failed: %s\n", errname(errno));
		_exit(1);
	}
	int st = 0;
	waitpid(c, &st, 0);
	printf("child exited %d\n", WEXITSTATUS(st));
	printf("done\n");
	return 0;
}
