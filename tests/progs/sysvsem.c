/*
 * System V semaphores: semget (keys, sizes), semop / semtimedop (atomic
 * multi-operation sets, IPC_NOWAIT, blocking woken by another process,
 * wait-for-zero, timeouts, signals: EINTR even with SA_RESTART, IPC_RMID:
 * EIDRM), SEM_UNDO (applied at exit, shared by threads, cleared by
 * SETVAL), semctl (GETVAL, SETVAL, GETALL, SETALL, GETPID, GETNCNT,
 * GETZCNT, IPC_STAT, IPC_SET, IPC_RMID, IPC_INFO, SEM_INFO, SEM_STAT),
 * ERANGE at SEMVMX, permissions and errors. Runs in its own IPC
 * namespace.
 */
#include "sysvipc.h"
#include <pthread.h>
#include <time.h>

#define GETPID 11
#define GETVAL 12
#define GETALL 13
#define GETNCNT 14
#define GETZCNT 15
#define SETVAL 16
#define SETALL 17
#define SEM_STAT 18
#define SEM_INFO 19
#define SEM_STAT_ANY 20
#define SEM_UNDO 0x1000

static long semget_(int key, int n, int flg)
{
	return SC(SYS_semget, key, n, flg);
}
static long semctl_(int id, int num, int cmd, unsigned long arg)
{
	return SC(SYS_semctl, id, num, cmd, arg);
}
static long op1(int id, int num, int op, int flg)
{
	struct k_sembuf s = {(unsigned short)num, (short)op, (short)flg};
	return SC(SYS_semop, id, &s, 1);
}
static long val(int id, int num)
{
	return semctl_(id, num, GETVAL, 0);
}

/* Waits (up to 5 s) until `cmd` (GETNCNT / GETZCNT) of semaphore num is n. */
static int wait_count(int id, int num, int cmd, long n)
{
	for (int i = 0; i < 5000; i++) {
		if (semctl_(id, num, cmd, 0) == n)
			return 1;
		usleep(1000);
	}
	return 0;
}

static void basics(void)
{
	printf("-- get\n");
	T("semget(private, 0)", semget_(K_IPC_PRIVATE, 0, K_IPC_CREAT | 0600));
	T("semget(private, -1)", semget_(K_IPC_PRIVATE, -1, K_IPC_CREAT | 0600));
	T("semget(private, 32001)", semget_(K_IPC_PRIVATE, 32001, K_IPC_CREAT | 0600));
	T("semget(0x42, no creat)", semget_(0x42, 1, 0));
	long id = semget_(0x42, 3, K_IPC_CREAT | 0640);
	check("semget(0x42, 3) ok", id >= 0);
	T("semget(0x42, excl)", semget_(0x42, 3, K_IPC_CREAT | K_IPC_EXCL));
	T("semget(0x42, 4)", semget_(0x42, 4, 0));
	check("semget(0x42, 2) same", semget_(0x42, 2, 0) == id);
	check("semget(0x42, 0) same", semget_(0x42, 0, 0) == id);
	struct k_semid_ds ds;
	T("IPC_STAT", semctl_((int)id, 0, K_IPC_STAT, (unsigned long)&ds));
	printf("stat: key=%#x mode=%o nsems=%lu otime=%ld ctime set=%s uid=%u cuid=%u\n", ds.perm.key,
	       ds.perm.mode, ds.nsems, ds.otime, ds.ctime > 0 ? "yes" : "no", ds.perm.uid,
	       ds.perm.cuid);
	proc_header("/proc/sysvipc/sem");
	printf("/proc/sysvipc/sem lines: %d\n", proc_lines("/proc/sysvipc/sem"));

	printf("-- values\n");
	printf("GETVAL(0) = %ld\n", val((int)id, 0));
	T("SETVAL(1, 5)", semctl_((int)id, 1, SETVAL, 5));
	T("SETVAL(1, 32767)", semctl_((int)id, 1, SETVAL, 32767));
	T("SETVAL(1, 32768)", semctl_((int)id, 1, SETVAL, 32768));
	T("SETVAL(1, -1)", semctl_((int)id, 1, SETVAL, (unsigned long)-1));
	T("SETVAL(3, 1)", semctl_((int)id, 3, SETVAL, 1));
	T("SETVAL(-1, 1)", semctl_((int)id, -1, SETVAL, 1));
	T("GETVAL(3)", semctl_((int)id, 3, GETVAL, 0));
	T("semop(+1 at 32767)", op1((int)id, 1, 1, 0));
	unsigned short all[3] = {1, 2, 3}, got[3] = {0};
	T("SETALL", semctl_((int)id, 0, SETALL, (unsigned long)all));
	T("GETALL", semctl_((int)id, 0, GETALL, (unsigned long)got));
	printf("values: %u %u %u\n", got[0], got[1], got[2]);
	unsigned short bad[3] = {1, 40000, 3};
	T("SETALL(40000)", semctl_((int)id, 0, SETALL, (unsigned long)bad));
	T("SETALL(bad ptr)", semctl_((int)id, 0, SETALL, (unsigned long)BADPTR));
	T("GETALL(bad ptr)", semctl_((int)id, 0, GETALL, (unsigned long)BADPTR));
	check("GETPID is me", semctl_((int)id, 0, GETPID, 0) == getpid());
	T("GETNCNT(0)", semctl_((int)id, 0, GETNCNT, 0));
	T("GETZCNT(0)", semctl_((int)id, 0, GETZCNT, 0));

	printf("-- semop\n");
	struct k_sembuf two[2] = {{0, -1, K_IPC_NOWAIT}, {1, -5, K_IPC_NOWAIT}};
	T("semop(-1, -5) nowait", SC(SYS_semop, id, two, 2));
	T("GETALL", semctl_((int)id, 0, GETALL, (unsigned long)got));
	printf("values unchanged: %u %u %u\n", got[0], got[1], got[2]);
	two[1].op = -2;
	T("semop(-1, -2)", SC(SYS_semop, id, two, 2));
	T("GETALL", semctl_((int)id, 0, GETALL, (unsigned long)got));
	printf("values: %u %u %u\n", got[0], got[1], got[2]);
	struct k_sembuf dup[3] = {{2, -1, 0}, {2, -1, 0}, {2, 5, 0}};
	T("semop(same semaphore thrice)", SC(SYS_semop, id, dup, 3));
	printf("sem 2: %ld\n", val((int)id, 2));
	struct k_sembuf z[1] = {{0, 0, K_IPC_NOWAIT}};
	T("semop(wait for zero, is zero)", SC(SYS_semop, id, z, 1));
	T("semop(wait for zero, 6, nowait)", op1((int)id, 2, 0, K_IPC_NOWAIT));
	T("semop(nsops 0)", SC(SYS_semop, id, z, 0));
	T("semop(nsops 501)", SC(SYS_semop, id, z, 501));
	T("semop(bad ptr)", SC(SYS_semop, id, BADPTR, 1));
	T("semop(num 3)", op1((int)id, 3, 1, 0));
	T("semop(id -1)", op1(-1, 0, 1, 0));
	T("semop(no such id)", op1((int)id + 100000, 0, 1, 0));
	T("semctl(cmd 99)", semctl_((int)id, 0, 99, 0));
	T("semctl(-1, GETVAL)", semctl_(-1, 0, GETVAL, 0));
	struct timespec ts = {0, 50 * 1000 * 1000};
	struct k_sembuf dec[1] = {{0, -1, 0}};
	T("semtimedop(-1 on 0, 50ms)", SC(SYS_semtimedop, id, dec, 1, &ts));
	ts.tv_nsec = 0;
	T("semtimedop(-1 on 0, 0)", SC(SYS_semtimedop, id, dec, 1, &ts));
	ts.tv_nsec = 1000000000;
	T("semtimedop(bad timeout)", SC(SYS_semtimedop, id, dec, 1, &ts));
	T("semtimedop(timeout bad ptr)", SC(SYS_semtimedop, id, dec, 1, BADPTR));
	T("IPC_STAT", semctl_((int)id, 0, K_IPC_STAT, (unsigned long)&ds));
	printf("otime set: %s\n", ds.otime > 0 ? "yes" : "no");

	printf("-- info\n");
	struct k_seminfo si;
	long mi = semctl_(0, 0, K_IPC_INFO, (unsigned long)&si);
	printf("IPC_INFO = %ld: semmap=%d semmni=%d semmns=%d semmnu=%d semmsl=%d semopm=%d semume=%d "
	       "semusz=%d semvmx=%d semaem=%d\n",
	       mi, si.semmap, si.semmni, si.semmns, si.semmnu, si.semmsl, si.semopm, si.semume,
	       si.semusz, si.semvmx, si.semaem);
	mi = semctl_(0, 0, SEM_INFO, (unsigned long)&si);
	printf("SEM_INFO = %ld: semusz=%d semaem=%d\n", mi, si.semusz, si.semaem);
	check("SEM_STAT(max index) is the set", semctl_((int)mi, 0, SEM_STAT, (unsigned long)&ds) == id);
	check("SEM_STAT_ANY too", semctl_((int)mi, 0, SEM_STAT_ANY, (unsigned long)&ds) == id);
	T("SEM_STAT(unused)", semctl_(4000, 0, SEM_STAT, (unsigned long)&ds));
	T("IPC_STAT(bad ptr)", semctl_((int)id, 0, K_IPC_STAT, (unsigned long)BADPTR));
	T("IPC_SET(bad ptr)", semctl_((int)id, 0, K_IPC_SET, (unsigned long)BADPTR));
	T("IPC_STAT", semctl_((int)id, 0, K_IPC_STAT, (unsigned long)&ds));
	ds.perm.mode = 0604;
	T("IPC_SET(0604)", semctl_((int)id, 0, K_IPC_SET, (unsigned long)&ds));
	T("IPC_STAT", semctl_((int)id, 0, K_IPC_STAT, (unsigned long)&ds));
	printf("mode: %o\n", ds.perm.mode);
	T("IPC_RMID", semctl_((int)id, 0, K_IPC_RMID, 0));
	T("GETVAL after rmid", val((int)id, 0));
	T("semget(0x42) after rmid", semget_(0x42, 1, 0));
}

static void blocking(void)
{
	printf("-- blocking\n");
	int id = (int)semget_(K_IPC_PRIVATE, 2, K_IPC_CREAT | 0600);
	T("SETVAL(1, 1)", semctl_(id, 1, SETVAL, 1));
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		printf("child: semop(-2) = %ld\n", op1(id, 0, -2, 0));
		printf("child: wait for zero = %ld\n", op1(id, 1, 0, 0));
		_exit(0);
	}
	check("child waits (ncnt 1)", wait_count(id, 0, GETNCNT, 1));
	T("semop(+1)", op1(id, 0, 1, 0));
	usleep(20000);
	T("GETNCNT still", semctl_(id, 0, GETNCNT, 0));
	long r = op1(id, 0, 1, 0);
	check("child waits for zero (zcnt 1)", wait_count(id, 1, GETZCNT, 1));
	T("semop(+1)", r);
	T("GETNCNT(1)", semctl_(id, 1, GETNCNT, 0));
	T("GETZCNT(0)", semctl_(id, 0, GETZCNT, 0));
	r = op1(id, 1, -1, 0);
	reap("child", pid);
	T("semop(sem 1 -1)", r);
	T("GETVAL(0)", val(id, 0));

	printf("-- signals\n");
	catch_usr1(1);
	int pfd[2];
	if (pipe(pfd) != 0)
		exit(3);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		long r = op1(id, 0, -1, 0);
		printf("child: semop after SA_RESTART handler = %s\n", r == 0 ? "0" : ipcerr(errno));
		if (write(pfd[1], "x", 1) != 1)
			_exit(3);
		struct timespec ts = {5, 0};
		struct k_sembuf dec[1] = {{0, -1, 0}};
		r = SC(SYS_semtimedop, id, dec, 1, &ts);
		printf("child: semtimedop after handler = %s\n", r == 0 ? "0" : ipcerr(errno));
		_exit(0);
	}
	check("child waits", wait_count(id, 0, GETNCNT, 1));
	kill(pid, SIGUSR1);
	char c;
	check("child interrupted", read(pfd[0], &c, 1) == 1);
	check("child waits again", wait_count(id, 0, GETNCNT, 1));
	kill(pid, SIGUSR1);
	reap("child", pid);
	close(pfd[0]);
	close(pfd[1]);
	T("GETNCNT after", semctl_(id, 0, GETNCNT, 0));

	printf("-- rmid wakes\n");
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		long r = op1(id, 0, -1, 0);
		printf("child: semop = %s\n", r == 0 ? "0" : ipcerr(errno));
		_exit(0);
	}
	check("child waits", wait_count(id, 0, GETNCNT, 1));
	r = semctl_(id, 0, K_IPC_RMID, 0);
	reap("child", pid);
	T("IPC_RMID", r);
}

static int undo_id;
static void *undo_thread(void *arg)
{
	(void)arg;
	printf("thread: semop(+3, undo) = %ld\n", op1(undo_id, 0, 3, SEM_UNDO));
	return NULL;
}

static void undo(void)
{
	printf("-- undo\n");
	int id = (int)semget_(K_IPC_PRIVATE, 2, K_IPC_CREAT | 0600);
	undo_id = id;
	T("SETVAL(0, 10)", semctl_(id, 0, SETVAL, 10));
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		printf("child: semop(-4, undo) = %ld\n", op1(id, 0, -4, SEM_UNDO));
		printf("child: semop(sem 1 +2, undo) = %ld\n", op1(id, 1, 2, SEM_UNDO));
		printf("child: semop(sem 1 +1) = %ld\n", op1(id, 1, 1, 0));
		printf("child: values %ld %ld\n", val(id, 0), val(id, 1));
		pthread_t th;
		pthread_create(&th, NULL, undo_thread, NULL);
		pthread_join(th, NULL);
		printf("child: after thread exit %ld\n", val(id, 0));
		_exit(0);
	}
	reap("child", pid);
	printf("after child exit: %ld %ld\n", val(id, 0), val(id, 1));

	/* SETVAL clears the adjustment: nothing is undone at exit. */
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		op1(id, 0, 5, SEM_UNDO);
		semctl_(id, 0, SETVAL, 7);
		_exit(0);
	}
	reap("child", pid);
	printf("after SETVAL child: %ld\n", val(id, 0));

	/* The adjustment is clamped at zero when applied. */
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		op1(id, 0, 5, SEM_UNDO);
		op1(id, 0, -10, 0);
		_exit(0);
	}
	reap("child", pid);
	printf("after clamp child: %ld\n", val(id, 0));

	/* The undo range is SEMAEM. */
	T("SETVAL(1, 32767)", semctl_(id, 1, SETVAL, 32767));
	T("semop(-32767, undo)", op1(id, 1, -32767, SEM_UNDO));
	T("semop(+32767)", op1(id, 1, 32767, 0));
	T("semop(-32767, undo) again", op1(id, 1, -32767, SEM_UNDO));
	T("semop(-1, undo)", op1(id, 1, -1, SEM_UNDO));
	T("IPC_RMID", semctl_(id, 0, K_IPC_RMID, 0));
}

static void perms(void)
{
	printf("-- permissions\n");
	int id = (int)semget_(0x77, 1, K_IPC_CREAT | 0600);
	int ro = (int)semget_(0x78, 1, K_IPC_CREAT | 0644);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		become_nobody();
		struct k_semid_ds ds;
		T("nobody: semget(0x77, 0)", semget_(0x77, 0, 0) == id);
		T("nobody: semget(0x77, 0600)", semget_(0x77, 0, 0600));
		T("nobody: GETVAL", val(id, 0));
		T("nobody: SETVAL", semctl_(id, 0, SETVAL, 1));
		T("nobody: semop", op1(id, 0, 1, K_IPC_NOWAIT));
		T("nobody: IPC_STAT", semctl_(id, 0, K_IPC_STAT, (unsigned long)&ds));
		T("nobody: IPC_RMID", semctl_(id, 0, K_IPC_RMID, 0));
		T("nobody: read-only GETVAL", val(ro, 0));
		T("nobody: read-only wait for zero", op1(ro, 0, 0, K_IPC_NOWAIT));
		T("nobody: read-only semop(+1)", op1(ro, 0, 1, K_IPC_NOWAIT));
		_exit(0);
	}
	reap("nobody", pid);
	T("IPC_RMID", semctl_(id, 0, K_IPC_RMID, 0));
	T("IPC_RMID", semctl_(ro, 0, K_IPC_RMID, 0));
}

int main(int argc, char **argv)
{
	setup(argc, argv, "sysvsem");
	new_ipc_namespace();
	basics();
	blocking();
	undo();
	perms();
	printf("/proc/sysvipc/sem lines at end: %d\n", proc_lines("/proc/sysvipc/sem"));
	return 0;
}
