/*
 * System V message queues: msgget, msgsnd / msgrcv (types 0, > 0, < 0,
 * MSG_EXCEPT, MSG_NOERROR and E2BIG, MSG_COPY, IPC_NOWAIT: EAGAIN and
 * ENOMSG), the msg_qbytes limit (a sender blocks until a receiver makes
 * room), blocking receivers woken by a sender, by IPC_RMID (EIDRM) and by
 * signals (EINTR even with SA_RESTART), msgctl (IPC_STAT, IPC_SET,
 * IPC_RMID, IPC_INFO, MSG_INFO, MSG_STAT), permissions and errors. Runs
 * in its own IPC namespace.
 */
#include "sysvipc.h"

#define MSG_STAT 11
#define MSG_INFO 12
#define MSG_STAT_ANY 13
#define MSG_NOERROR 010000
#define MSG_EXCEPT 020000
#define MSG_COPY 040000

struct kmsg {
	long mtype;
	char mtext[9000];
};

static long snd(int id, long type, const char *text, int flg)
{
	static struct kmsg m;
	m.mtype = type;
	size_t n = strlen(text);
	memcpy(m.mtext, text, n);
	return SC(SYS_msgsnd, id, &m, n, flg);
}

/* msgrcv into a buffer of `size`; prints the result and the message. */
static void rcv(const char *label, int id, size_t size, long type, int flg)
{
	static struct kmsg m;
	memset(&m, 0, sizeof m);
	long r = SC(SYS_msgrcv, id, &m, size, type, flg);
	if (r < 0)
		printf("%s = -1 %s\n", label, ipcerr(errno));
	else
		printf("%s = %ld: type %ld \"%.*s\"\n", label, r, m.mtype, (int)r, m.mtext);
}

static struct k_msqid_ds stat_of(int id)
{
	struct k_msqid_ds ds;
	memset(&ds, 0, sizeof ds);
	if (SC(SYS_msgctl, id, K_IPC_STAT, &ds) != 0)
		printf("IPC_STAT: %s\n", ipcerr(errno));
	return ds;
}

static void show(const char *label, int id)
{
	struct k_msqid_ds ds = stat_of(id);
	printf("%s: qnum=%lu cbytes=%lu qbytes=%lu\n", label, ds.qnum, ds.cbytes, ds.qbytes);
}

/* Waits (up to 5 s) until the queue holds n messages. */
static int wait_qnum(int id, unsigned long n)
{
	for (int i = 0; i < 5000; i++) {
		if (stat_of(id).qnum == n)
			return 1;
		usleep(1000);
	}
	return 0;
}

static void basics(void)
{
	printf("-- get\n");
	T("msgget(0x99, no creat)", SC(SYS_msgget, 0x99, 0));
	long id = SC(SYS_msgget, 0x99, K_IPC_CREAT | 0640);
	check("msgget(0x99, creat) ok", id >= 0);
	T("msgget(0x99, excl)", SC(SYS_msgget, 0x99, K_IPC_CREAT | K_IPC_EXCL));
	check("msgget(0x99) same", SC(SYS_msgget, 0x99, 0) == id);
	struct k_msqid_ds ds = stat_of((int)id);
	printf("stat: key=%#x mode=%o qnum=%lu qbytes=%lu stime=%ld rtime=%ld ctime set=%s "
	       "lspid=%d lrpid=%d\n",
	       ds.perm.key, ds.perm.mode, ds.qnum, ds.qbytes, ds.stime, ds.rtime,
	       ds.ctime > 0 ? "yes" : "no", ds.lspid, ds.lrpid);
	proc_header("/proc/sysvipc/msg");

	printf("-- send and receive\n");
	T("msgsnd(type 1)", snd((int)id, 1, "one", 0));
	T("msgsnd(type 3)", snd((int)id, 3, "three", 0));
	T("msgsnd(type 2)", snd((int)id, 2, "two", 0));
	T("msgsnd(type 1)", snd((int)id, 1, "uno", 0));
	T("msgsnd(type 5)", snd((int)id, 5, "five", 0));
	T("msgsnd(empty)", snd((int)id, 7, "", 0));
	show("queue", (int)id);
	printf("/proc/sysvipc/msg lines: %d\n", proc_lines("/proc/sysvipc/msg"));
	ds = stat_of((int)id);
	printf("lspid is me: %s stime set: %s\n", ds.lspid == getpid() ? "yes" : "no",
	       ds.stime > 0 ? "yes" : "no");
	T("msgsnd(type 0)", snd((int)id, 0, "x", 0));
	T("msgsnd(type -1)", snd((int)id, -1, "x", 0));
	static struct kmsg big;
	big.mtype = 1;
	T("msgsnd(8193 bytes)", SC(SYS_msgsnd, id, &big, 8193, 0));
	T("msgsnd(bad ptr)", SC(SYS_msgsnd, id, BADPTR, 4, 0));
	T("msgsnd(id -1)", snd(-1, 1, "x", 0));
	T("msgsnd(no such id)", snd((int)id + 100000, 1, "x", 0));

	rcv("MSG_COPY 2", (int)id, 100, 2, MSG_COPY | K_IPC_NOWAIT);
	rcv("MSG_COPY 9", (int)id, 100, 9, MSG_COPY | K_IPC_NOWAIT);
	rcv("MSG_COPY without nowait", (int)id, 100, 0, MSG_COPY);
	rcv("MSG_COPY with except", (int)id, 100, 0, MSG_COPY | MSG_EXCEPT | K_IPC_NOWAIT);
	rcv("MSG_COPY small", (int)id, 2, 1, MSG_COPY | K_IPC_NOWAIT);
	rcv("type 2", (int)id, 100, 2, 0);
	rcv("type 4 nowait", (int)id, 100, 4, K_IPC_NOWAIT);
	rcv("type -4", (int)id, 100, -4, 0);
	rcv("except 1", (int)id, 100, 1, MSG_EXCEPT);
	rcv("small buffer", (int)id, 2, 0, 0);
	rcv("small buffer, noerror", (int)id, 2, 0, MSG_NOERROR);
	rcv("any", (int)id, 100, 0, 0);
	rcv("any", (int)id, 100, 0, 0);
	rcv("empty queue nowait", (int)id, 100, 0, K_IPC_NOWAIT);
	rcv("bad ptr", (int)id, 100, 0, K_IPC_NOWAIT);
	T("msgsnd", snd((int)id, 1, "lost", 0));
	T("msgrcv(bad ptr)", SC(SYS_msgrcv, id, BADPTR, 100, 0, K_IPC_NOWAIT));
	show("after bad ptr", (int)id);
	T("msgrcv(size -1)", SC(SYS_msgrcv, id, &big, -1L, 0, K_IPC_NOWAIT));
	ds = stat_of((int)id);
	printf("lrpid is me: %s rtime set: %s\n", ds.lrpid == getpid() ? "yes" : "no",
	       ds.rtime > 0 ? "yes" : "no");

	printf("-- info\n");
	T("msgsnd", snd((int)id, 1, "abc", 0));
	struct k_msginfo mi;
	long mx = SC(SYS_msgctl, 0, K_IPC_INFO, &mi);
	printf("IPC_INFO = %ld: pool=%d map=%d max=%d mnb=%d mni=%d ssz=%d tql=%d seg=%u\n", mx,
	       mi.msgpool, mi.msgmap, mi.msgmax, mi.msgmnb, mi.msgmni, mi.msgssz, mi.msgtql, mi.msgseg);
	mx = SC(SYS_msgctl, 0, MSG_INFO, &mi);
	printf("MSG_INFO = %ld: pool=%d map=%d tql=%d\n", mx, mi.msgpool, mi.msgmap, mi.msgtql);
	check("MSG_STAT(max index) is the queue", SC(SYS_msgctl, mx, MSG_STAT, &ds) == id);
	check("MSG_STAT_ANY too", SC(SYS_msgctl, mx, MSG_STAT_ANY, &ds) == id);
	T("MSG_STAT(unused)", SC(SYS_msgctl, 4000, MSG_STAT, &ds));
	T("IPC_STAT(bad ptr)", SC(SYS_msgctl, id, K_IPC_STAT, BADPTR));
	T("IPC_SET(bad ptr)", SC(SYS_msgctl, id, K_IPC_SET, BADPTR));
	T("msgctl(cmd 99)", SC(SYS_msgctl, id, 99, &ds));
	ds = stat_of((int)id);
	ds.perm.mode = 0600;
	ds.qbytes = 12000;
	T("IPC_SET(qbytes 12000)", SC(SYS_msgctl, id, K_IPC_SET, &ds));
	show("after IPC_SET", (int)id);
	printf("mode: %o\n", stat_of((int)id).perm.mode);
	T("IPC_RMID", SC(SYS_msgctl, id, K_IPC_RMID, NULL));
	T("IPC_RMID again", SC(SYS_msgctl, id, K_IPC_RMID, NULL));
	T("msgget(0x99) after rmid", SC(SYS_msgget, 0x99, 0));
}

static int sync_pipe[2];

/* In a child about to block: tells the parent, and dies rather than hang. */
static void ready(void)
{
	alarm(10);
	if (write(sync_pipe[1], "r", 1) != 1)
		_exit(3);
}

/* In the parent: waits for ready(), then lets the child reach its call. */
static void await_ready(void)
{
	char c;
	if (read(sync_pipe[0], &c, 1) != 1)
		exit(3);
	usleep(50000);
}

static void blocking(void)
{
	if (pipe(sync_pipe) != 0)
		exit(3);
	printf("-- full queue\n");
	int id = (int)SC(SYS_msgget, K_IPC_PRIVATE, K_IPC_CREAT | 0600);
	struct k_msqid_ds ds = stat_of(id);
	ds.qbytes = 10;
	T("IPC_SET(qbytes 10)", SC(SYS_msgctl, id, K_IPC_SET, &ds));
	T("msgsnd(6)", snd(id, 1, "123456", 0));
	T("msgsnd(5) nowait", snd(id, 1, "12345", K_IPC_NOWAIT));
	T("msgsnd(4)", snd(id, 1, "1234", 0));
	T("msgsnd(0) nowait", snd(id, 1, "", K_IPC_NOWAIT));
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		long r = snd(id, 2, "waited", 0);
		printf("child: msgsnd = %ld\n", r);
		_exit(0);
	}
	usleep(50000);
	show("while the sender waits", id);
	static struct kmsg m;
	long r = SC(SYS_msgrcv, id, &m, 100, 0, 0);
	int in = wait_qnum(id, 3);
	reap("sender", pid);
	printf("receive = %ld: \"%.*s\"\n", r, (int)r, m.mtext);
	check("sender got in", in);
	show("after", id);
	rcv("receive", id, 100, 0, 0);
	rcv("receive", id, 100, 0, 0);

	printf("-- waiting receivers\n");
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		rcv("child: type 3", id, 100, 3, 0);
		_exit(0);
	}
	usleep(50000);
	long r1 = snd(id, 1, "a", 0);
	r = snd(id, 3, "b", 0);
	reap("receiver", pid);
	T("msgsnd(type 1)", r1);
	T("msgsnd(type 3)", r);
	show("left", id);

	printf("-- signals\n");
	catch_usr1(1);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		ready();
		rcv("child: msgrcv after SA_RESTART handler", id, 100, 9, 0);
		_exit(0);
	}
	await_ready();
	kill(pid, SIGUSR1);
	reap("receiver", pid);

	printf("-- rmid wakes\n");
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		ready();
		rcv("child: msgrcv", id, 100, 9, 0);
		_exit(0);
	}
	await_ready();
	r = SC(SYS_msgctl, id, K_IPC_RMID, NULL);
	reap("receiver", pid);
	T("IPC_RMID", r);
}

static void perms(void)
{
	printf("-- permissions\n");
	int id = (int)SC(SYS_msgget, 0x55, K_IPC_CREAT | 0600);
	int wo = (int)SC(SYS_msgget, 0x56, K_IPC_CREAT | 0622);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		become_nobody();
		struct k_msqid_ds ds;
		T("nobody: msgget(0x55, 0600)", SC(SYS_msgget, 0x55, 0600));
		check("nobody: msgget(0x55, 0)", SC(SYS_msgget, 0x55, 0) == id);
		T("nobody: msgsnd", snd(id, 1, "x", K_IPC_NOWAIT));
		rcv("nobody: msgrcv", id, 10, 0, K_IPC_NOWAIT);
		T("nobody: IPC_STAT", SC(SYS_msgctl, id, K_IPC_STAT, &ds));
		T("nobody: IPC_RMID", SC(SYS_msgctl, id, K_IPC_RMID, NULL));
		T("nobody: msgsnd(write-only)", snd(wo, 1, "x", K_IPC_NOWAIT));
		rcv("nobody: msgrcv(write-only)", wo, 10, 0, K_IPC_NOWAIT);
		_exit(0);
	}
	reap("nobody", pid);
	show("write-only queue", wo);
	struct k_msqid_ds ds = stat_of(wo);
	ds.qbytes = 20000;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		/* The creator, without CAP_SYS_RESOURCE, may not raise qbytes. */
		SC(SYS_msgctl, wo, K_IPC_SET, &(struct k_msqid_ds){.perm = {.uid = 65534, .gid = 65534, .mode = 0622}, .qbytes = 16384});
		become_nobody();
		T("nobody owner: IPC_SET(qbytes 20000)", SC(SYS_msgctl, wo, K_IPC_SET, &ds));
		_exit(0);
	}
	reap("owner", pid);
	T("IPC_RMID", SC(SYS_msgctl, id, K_IPC_RMID, NULL));
	T("IPC_RMID", SC(SYS_msgctl, wo, K_IPC_RMID, NULL));
}

/* A child's new namespace has its own objects; setns joins it. */
static void namespaces(void)
{
	printf("-- namespaces\n");
	int up[2], down[2];
	if (pipe(up) != 0 || pipe(down) != 0)
		exit(3);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		if (unshare(CLONE_NEWIPC) != 0 || SC(SYS_msgget, 0x31, K_IPC_CREAT | 0600) < 0)
			_exit(3);
		if (write(up[1], "x", 1) != 1 || read(down[0], &c, 1) != 1)
			_exit(3);
		_exit(0);
	}
	char c, path[64];
	check("child made its queue", read(up[0], &c, 1) == 1);
	T("msgget(0x31) here", SC(SYS_msgget, 0x31, 0));
	snprintf(path, sizeof path, "/proc/%d/ns/ipc", pid);
	int fd = (int)SC(SYS_open, path, O_RDONLY);
	T("setns(child's ipc, CLONE_NEWIPC)", SC(SYS_setns, fd, CLONE_NEWIPC));
	check("msgget(0x31) after setns", SC(SYS_msgget, 0x31, 0) >= 0);
	T("setns(child's ipc, CLONE_NEWUTS)", SC(SYS_setns, fd, 0x04000000));
	if (write(down[1], "x", 1) != 1)
		exit(3);
	reap("child", pid);
	/* The namespace (and its queue) lives on with the process that joined it. */
	check("msgget(0x31) after the child's exit", SC(SYS_msgget, 0x31, 0) >= 0);
	SC(SYS_close, fd);
}

int main(int argc, char **argv)
{
	setup(argc, argv, "sysvmsg");
	new_ipc_namespace();
	basics();
	blocking();
	perms();
	namespaces();
	printf("/proc/sysvipc/msg lines at end: %d\n", proc_lines("/proc/sysvipc/msg"));
	return 0;
}
