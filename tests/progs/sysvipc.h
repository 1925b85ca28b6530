/*
 * Shared by the System V IPC programs (sysvshm, sysvsem, sysvmsg): the
 * kernel's structures (x86-64, the 64-bit layouts), the constants, and
 * the start every program makes: a new IPC namespace (as root), so that
 * running natively never touches the host's objects and every object the
 * program makes goes away with it.
 */
#ifndef VEIL_PROGS_SYSVIPC_H
#define VEIL_PROGS_SYSVIPC_H

#include "common.h"
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>

#ifndef CLONE_NEWIPC
#define CLONE_NEWIPC 0x08000000
#endif
#ifndef SYS_semtimedop
#define SYS_semtimedop 220
#endif

#define K_IPC_PRIVATE 0
#define K_IPC_CREAT 01000
#define K_IPC_EXCL 02000
#define K_IPC_NOWAIT 04000
#define K_IPC_RMID 0
#define K_IPC_SET 1
#define K_IPC_STAT 2
#define K_IPC_INFO 3

struct k_ipc_perm {
	int key;
	unsigned uid, gid, cuid, cgid, mode;
	unsigned short seq, pad2;
	unsigned pad3;
	unsigned long unused1, unused2;
};

struct k_shmid_ds {
	struct k_ipc_perm perm;
	unsigned long segsz;
	long atime, dtime, ctime;
	int cpid, lpid;
	unsigned long nattch, unused4, unused5;
};

struct k_shminfo {
	unsigned long shmmax, shmmin, shmmni, shmseg, shmall, unused[4];
};

struct k_shm_info {
	int used_ids;
	unsigned long shm_tot, shm_rss, shm_swp, swap_attempts, swap_successes;
};

struct k_semid_ds {
	struct k_ipc_perm perm;
	long otime;
	unsigned long unused1;
	long ctime;
	unsigned long unused2;
	unsigned long nsems, unused3, unused4;
};

struct k_sembuf {
	unsigned short num;
	short op;
	short flg;
};

struct k_seminfo {
	int semmap, semmni, semmns, semmnu, semmsl, semopm, semume, semusz, semvmx, semaem;
};

struct k_msqid_ds {
	struct k_ipc_perm perm;
	long stime, rtime, ctime;
	unsigned long cbytes, qnum, qbytes;
	int lspid, lrpid;
	unsigned long unused4, unused5;
};

struct k_msginfo {
	int msgpool, msgmap, msgmax, msgmnb, msgmni, msgssz, msgtql;
	unsigned short msgseg;
};

/* errname, with the IPC errors common.h leaves out. */
__attribute__((unused)) static const char *ipcerr(int e)
{
	return e == EIDRM ? "EIDRM" : errname(e);
}

/* A new IPC namespace, or the program stops (it must never use the host's). */
__attribute__((unused)) static void new_ipc_namespace(void)
{
	if (unshare(CLONE_NEWIPC) != 0) {
		printf("unshare(CLONE_NEWIPC) failed: %s (run as root)\n", errname(errno));
		exit(4);
	}
	printf("unshare(CLONE_NEWIPC) = 0\n");
}

/* Becomes uid/gid 65534 with no groups (in a child). */
__attribute__((unused)) static void become_nobody(void)
{
	if (SC(SYS_setgroups, 0, NULL) != 0 || SC(SYS_setresgid, 65534, 65534, 65534) != 0 ||
	    SC(SYS_setresuid, 65534, 65534, 65534) != 0) {
		printf("become_nobody: %s\n", errname(errno));
		_exit(5);
	}
}

/* Lines of a /proc/sysvipc file, the header included (-1 if unreadable). */
__attribute__((unused)) static int proc_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int n = 0, c;
	while ((c = fgetc(f)) != EOF)
		if (c == '\n')
			n++;
	fclose(f);
	return n;
}

/* Prints a /proc/sysvipc file's header line. */
__attribute__((unused)) static void proc_header(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");
	if (!f || !fgets(line, sizeof line, f)) {
		printf("%s: unreadable\n", path);
		if (f)
			fclose(f);
		return;
	}
	fclose(f);
	printf("%s header: %s", path, line);
}

/* Waits for a child and prints how it ended. */
__attribute__((unused)) static void reap(const char *what, pid_t pid)
{
	int st = 0;
	if (waitpid(pid, &st, 0) != pid)
		printf("%s: waitpid failed\n", what);
	else if (WIFEXITED(st))
		printf("%s: exit %d\n", what, WEXITSTATUS(st));
	else
		printf("%s: signal %d\n", what, WTERMSIG(st));
}

static void on_usr1(int sig)
{
	(void)sig;
}

/* SIGUSR1 runs an empty handler; with SA_RESTART if `restart`. */
__attribute__((unused)) static void catch_usr1(int restart)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigaction(SIGUSR1, &sa, NULL);
}

#endif
