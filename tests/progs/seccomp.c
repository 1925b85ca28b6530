/*
 * seccomp: strict mode, filters and every action (ERRNO, TRAP with the
 * SIGSYS siginfo and registers, KILL_PROCESS, KILL_THREAD, TRACE and
 * USER_NOTIF without a tracer or listener, LOG, ALLOW), stacked filters and
 * their precedence, inheritance over fork and execve, TSYNC with threads,
 * the no_new_privs / CAP_SYS_ADMIN rule, the programs Linux refuses,
 * SECCOMP_GET_ACTION_AVAIL, SECCOMP_GET_NOTIF_SIZES, PR_GET_SECCOMP and
 * /proc/self/status. Filters cannot be removed, so each case runs in a
 * child process. Runs as root (one case drops to uid 1000).
 */
#include "common.h"
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <ucontext.h>

#ifndef SYS_seccomp
#define SYS_seccomp 317
#endif
#ifndef PR_SET_NO_NEW_PRIVS
#define PR_SET_NO_NEW_PRIVS 38
#endif
#ifndef PR_GET_SECCOMP
#define PR_GET_SECCOMP 21
#define PR_SET_SECCOMP 22
#endif

/* <linux/filter.h> and <linux/seccomp.h>, which musl's headers lack. */
struct k_sock_filter {
	uint16_t code;
	uint8_t jt, jf;
	uint32_t k;
};
struct k_sock_fprog {
	unsigned short len;
	struct k_sock_filter *filter;
};
struct k_seccomp_data {
	int nr;
	uint32_t arch;
	uint64_t instruction_pointer;
	uint64_t args[6];
};
#define STMT(c, v) ((struct k_sock_filter){ (uint16_t)(c), 0, 0, (v) })
#define JUMP(c, v, t, f) ((struct k_sock_filter){ (uint16_t)(c), (t), (f), (v) })
#define LD_W_ABS 0x20
#define LD_IMM 0x00
#define LD_MEM 0x60
#define LDX_MEM 0x61
#define ST_ 0x02
#define TXA 0x87
#define ALU_MUL_K 0x24
#define ALU_DIV_K 0x34
#define JEQ_K 0x15
#define JA 0x05
#define RET_K 0x06
#define RET_A 0x16

#define S_MODE_STRICT 0
#define S_MODE_FILTER 1
#define S_GET_ACTION_AVAIL 2
#define S_GET_NOTIF_SIZES 3
#define F_TSYNC 1u
#define F_LOG 2u
#define F_SPEC_ALLOW 4u
#define F_NEW_LISTENER 8u
#define F_TSYNC_ESRCH 16u
#define R_KILL_PROCESS 0x80000000u
#define R_KILL_THREAD 0x00000000u
#define R_TRAP 0x00030000u
#define R_ERRNO 0x00050000u
#define R_USER_NOTIF 0x7fc00000u
#define R_TRACE 0x7ff00000u
#define R_LOG 0x7ffc0000u
#define R_ALLOW 0x7fff0000u
#define ARCH_X86_64 0xc000003eu

static long sc(unsigned op, unsigned flags, void *args)
{
	return syscall(SYS_seccomp, op, flags, args);
}

static long load(unsigned flags, struct k_sock_filter *f, unsigned short n)
{
	struct k_sock_fprog p = { n, f };
	return sc(S_MODE_FILTER, flags, &p);
}

/* A filter answering `ret` for syscall `nr` (other architectures killed). */
static long filter_on(unsigned flags, int nr, uint32_t ret)
{
	struct k_sock_filter f[] = {
		STMT(LD_W_ABS, offsetof(struct k_seccomp_data, arch)),
		JUMP(JEQ_K, ARCH_X86_64, 1, 0),
		STMT(RET_K, R_KILL_PROCESS),
		STMT(LD_W_ABS, offsetof(struct k_seccomp_data, nr)),
		JUMP(JEQ_K, (uint32_t)nr, 0, 1),
		STMT(RET_K, ret),
		STMT(RET_K, R_ALLOW),
	};
	return load(flags, f, sizeof f / sizeof f[0]);
}

static void nnp(void)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		printf("PR_SET_NO_NEW_PRIVS: %s\n", errname(errno));
		exit(1);
	}
}

static void status_lines(const char *who)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	if (!f) {
		printf("%s: /proc/self/status: %s\n", who, errname(errno));
		return;
	}
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "NoNewPrivs:", 11) || !strncmp(line, "Seccomp:", 8) ||
		    !strncmp(line, "Seccomp_filters:", 16))
			printf("%s: %s", who, line);
	fclose(f);
}

/* Runs `fn` in a child process and prints how the child ended. */
static void in_child(const char *name, void (*fn)(void))
{
	printf("-- %s\n", name);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		fn();
		fflush(stdout);
		_exit(0);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid) {
		printf("waitpid: %s\n", errname(errno));
		return;
	}
	if (WIFEXITED(st))
		printf("%s: exited %d\n", name, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		printf("%s: killed by signal %d\n", name, WTERMSIG(st));
}

/* ---- strict mode (stdio may use writev: only raw writes) ---- */

static void say(const char *s)
{
	syscall(SYS_write, 1, s, strlen(s));
}

static void strict_kill(void)
{
	long r = prctl(PR_SET_SECCOMP, 1, 0, 0, 0);
	say(r == 0 ? "PR_SET_SECCOMP strict = 0\n" : "PR_SET_SECCOMP strict failed\n");
	syscall(SYS_getpid);
	say("strict: still alive\n");
}

static void strict_exit(void)
{
	T("seccomp(STRICT, flags 1)", sc(S_MODE_STRICT, 1, NULL));
	T("seccomp(STRICT, args)", sc(S_MODE_STRICT, 0, (void *)8));
	fflush(stdout);
	long r = sc(S_MODE_STRICT, 0, NULL);
	say(r == 0 ? "seccomp(STRICT) = 0\n" : "seccomp(STRICT) failed\n");
	char c;
	/* read is allowed (EBADF from the call itself); exit too, not exit_group. */
	r = syscall(SYS_read, 99, &c, 1);
	say(r == -1 ? "strict: read ran\n" : "strict: read?\n");
	syscall(SYS_exit, 3);
}

/* ---- ERRNO, TRACE, USER_NOTIF, LOG and argument filters ---- */

static void errno_filters(void)
{
	nnp();
	T("PR_GET_SECCOMP before", prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
	T("filter getppid ERRNO(EACCES)", filter_on(0, SYS_getppid, R_ERRNO | EACCES));
	T("getppid", syscall(SYS_getppid));
	T("getuid", syscall(SYS_getuid));
	T("filter getgid ERRNO(0)", filter_on(0, SYS_getgid, R_ERRNO | 0));
	T("getgid", syscall(SYS_getgid));
	T("filter geteuid ERRNO(0xffff)", filter_on(0, SYS_geteuid, R_ERRNO | 0xffff));
	long r = syscall(SYS_geteuid);
	printf("geteuid = %ld errno=%d\n", r, errno);
	T("filter getegid TRACE", filter_on(0, SYS_getegid, R_TRACE));
	T("getegid", syscall(SYS_getegid));
	T("filter getpgrp USER_NOTIF", filter_on(0, SYS_getpgrp, R_USER_NOTIF));
	T("getpgrp", syscall(SYS_getpgrp));
	T("filter getsid LOG (flag LOG)", filter_on(F_LOG, SYS_getsid, R_LOG));
	T("getsid(-1)", syscall(SYS_getsid, -1));
	/* ERRNO(EDOM) for getpgid(12345) only: arguments and scratch memory. */
	struct k_sock_filter f[] = {
		STMT(LD_W_ABS, offsetof(struct k_seccomp_data, nr)),
		JUMP(JEQ_K, SYS_getpgid, 1, 0),
		STMT(RET_K, R_ALLOW),
		STMT(LD_W_ABS, offsetof(struct k_seccomp_data, args[0])),
		STMT(ALU_MUL_K, 3),
		STMT(ST_, 4),
		STMT(LDX_MEM, 4),
		STMT(TXA, 0),
		STMT(ALU_DIV_K, 3),
		JUMP(JEQ_K, 12345, 0, 1),
		STMT(RET_K, R_ERRNO | EDOM),
		STMT(LD_IMM, R_ALLOW),
		STMT(RET_A, 0),
	};
	T("filter getpgid(12345) ERRNO(EDOM) (flag SPEC_ALLOW)",
	  load(F_SPEC_ALLOW, f, sizeof f / sizeof f[0]));
	T("getpgid(12345)", syscall(SYS_getpgid, 12345));
	TOK("getpgid(0)", syscall(SYS_getpgid, 0));
	T("PR_GET_SECCOMP after", prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
	status_lines("errno");
}

/* ---- TRAP ---- */

static volatile int trap_signo, trap_code, trap_errno, trap_syscall, trap_hits;
static volatile unsigned trap_arch;
static volatile int trap_ip_ok, trap_rax_ok;
static volatile long set_rax = -1;

static void on_sigsys(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	const char *raw = (const char *)si;
	trap_hits++;
	trap_signo = sig;
	trap_code = si->si_code;
	trap_errno = si->si_errno;
	void *call_addr;
	memcpy(&call_addr, raw + 16, sizeof call_addr);
	memcpy((void *)&trap_syscall, raw + 24, sizeof(int));
	memcpy((void *)&trap_arch, raw + 28, sizeof(unsigned));
	trap_ip_ok = (unsigned long)call_addr == (unsigned long)uc->uc_mcontext.gregs[REG_RIP] &&
		     call_addr != NULL;
	trap_rax_ok = uc->uc_mcontext.gregs[REG_RAX] == trap_syscall;
	if (set_rax != -1)
		uc->uc_mcontext.gregs[REG_RAX] = set_rax;
}

static void catch_sigsys(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSYS, &sa, NULL);
}

static void show_trap(const char *what, long r)
{
	printf("%s = %ld: hits=%d signo=%d code=%d errno=%d syscall=%d arch=%#x ip=%s "
	       "rax_is_nr=%s\n",
	       what, r, trap_hits, trap_signo, trap_code, trap_errno, trap_syscall, trap_arch,
	       trap_ip_ok ? "ok" : "bad", trap_rax_ok ? "yes" : "no");
}

static void trap(void)
{
	nnp();
	catch_sigsys();
	T("filter getppid TRAP(77)", filter_on(0, SYS_getppid, R_TRAP | 77));
	show_trap("getppid", syscall(SYS_getppid, 1, 2, 3));
	set_rax = 4242;
	show_trap("getppid, handler sets rax", syscall(SYS_getppid));
	/* Blocked SIGSYS: forced through, and the process dies of it. */
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGSYS);
	sigprocmask(SIG_BLOCK, &s, NULL);
	fflush(stdout);
	syscall(SYS_getppid);
	printf("trap: survived a blocked SIGSYS\n");
}

/* ---- kills ---- */

static void kill_process(void)
{
	nnp();
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	catch_sigsys(); /* no handler runs for a kill */
	T("filter getppid KILL_PROCESS", filter_on(0, SYS_getppid, R_KILL_PROCESS));
	fflush(stdout);
	syscall(SYS_getppid);
	printf("kill_process: still alive (hits=%d)\n", trap_hits);
}

static void kill_thread_alone(void)
{
	nnp();
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	T("filter getppid KILL_THREAD", filter_on(0, SYS_getppid, R_KILL_THREAD));
	fflush(stdout);
	syscall(SYS_getppid);
	printf("kill_thread: still alive\n");
}

static int thread_count(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	int n = -1;
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "Threads:", 8))
			n = atoi(line + 8);
	if (f)
		fclose(f);
	return n;
}

static volatile long doomed_tid;
static volatile int doomed_survived;

static void *getppid_thread(void *arg)
{
	(void)arg;
	doomed_tid = syscall(SYS_gettid);
	syscall(SYS_getppid);
	doomed_survived = 1;
	return NULL;
}

static void kill_thread_of_many(void)
{
	nnp();
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	T("filter getppid KILL_THREAD", filter_on(0, SYS_getppid, R_KILL_THREAD));
	pthread_t th;
	pthread_create(&th, NULL, getppid_thread, NULL);
	/*
	 * Not pthread_join: musl's waits for the thread's own exit code to
	 * mark it exited, which a killed thread never runs. Wait until the
	 * process has one thread again instead, 10 s at most.
	 */
	int gone = 0;
	for (int i = 0; i < 10000 && !gone; i++) {
		if (doomed_tid && thread_count() == 1)
			gone = 1;
		else
			usleep(1000);
	}
	printf("kill_thread: thread gone=%s survived=%s\n", gone ? "yes" : "no",
	       doomed_survived ? "yes" : "no");
	status_lines("kill_thread");
}

static void kill_process_from_thread(void)
{
	nnp();
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	T("filter getppid KILL_PROCESS", filter_on(0, SYS_getppid, R_KILL_PROCESS));
	fflush(stdout);
	pthread_t th;
	pthread_create(&th, NULL, getppid_thread, NULL);
	pthread_join(th, NULL);
	printf("kill_process: main still alive\n");
}

/* ---- stacking ---- */

static void stacking(void)
{
	nnp();
	catch_sigsys();
	T("filter 1 getppid ERRNO(EPERM)", filter_on(0, SYS_getppid, R_ERRNO | EPERM));
	T("filter 2 getppid TRACE", filter_on(0, SYS_getppid, R_TRACE));
	T("filter 3 getppid LOG", filter_on(0, SYS_getppid, R_LOG));
	T("filter 4 all ALLOW", filter_on(0, -1, R_ALLOW));
	T("getppid (ERRNO beats TRACE, LOG, ALLOW)", syscall(SYS_getppid));
	T("filter 5 getppid ERRNO(ENOENT)", filter_on(0, SYS_getppid, R_ERRNO | ENOENT));
	T("getppid (the newest of two ERRNO)", syscall(SYS_getppid));
	T("filter 6 getppid TRAP(5)", filter_on(0, SYS_getppid, R_TRAP | 5));
	show_trap("getppid (TRAP beats ERRNO)", syscall(SYS_getppid));
	status_lines("stacking");
}

/* ---- inheritance ---- */

static void inherit(void)
{
	nnp();
	T("filter getppid ERRNO(EACCES)", filter_on(0, SYS_getppid, R_ERRNO | EACCES));
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		T("forked child: getppid", syscall(SYS_getppid));
		T("forked child: PR_GET_SECCOMP", prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
		status_lines("forked child");
		fflush(stdout);
		execl("/proc/self/exe", "seccomp", "--exec-child", (char *)NULL);
		printf("execl: %s\n", errname(errno));
		_exit(1);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	printf("exec'd child: status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static int exec_child(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	T("exec'd child: getppid", syscall(SYS_getppid));
	T("exec'd child: PR_GET_SECCOMP", prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
	status_lines("exec'd child");
	return 7;
}

/* ---- privileges ---- */

static void privileges(void)
{
	struct k_sock_filter allow[] = { STMT(RET_K, R_ALLOW) };
	struct k_sock_fprog p = { 1, allow };
	T("root without no_new_privs: filter", load(0, allow, 1));
	T("setuid(1000)", setuid(1000));
	T("uid 1000 without no_new_privs: filter", load(0, allow, 1));
	T("uid 1000 without no_new_privs: PR_SET_SECCOMP filter",
	  prctl(PR_SET_SECCOMP, 2, &p, 0, 0));
	T("uid 1000 without no_new_privs: empty filter", load(0, allow, 0));
	nnp();
	T("uid 1000 with no_new_privs: PR_SET_SECCOMP filter", prctl(PR_SET_SECCOMP, 2, &p, 0, 0));
	T("PR_GET_SECCOMP", prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
	T("PR_SET_SECCOMP strict once filtering", prctl(PR_SET_SECCOMP, 1, 0, 0, 0));
	T("PR_SET_SECCOMP mode 3", prctl(PR_SET_SECCOMP, 3, 0, 0, 0));
	status_lines("privileges");
}

/* ---- programs Linux refuses ---- */

static void bad_programs(void)
{
	nnp();
	struct k_sock_filter ret = STMT(RET_K, R_ALLOW);
	static struct k_sock_filter big[4097];
	for (int i = 0; i < 4097; i++)
		big[i] = ret;
	struct k_sock_filter opcode[] = { STMT(0xffff, 0), ret };
	struct k_sock_filter byte_load[] = { STMT(0x30 /* LD|B|ABS */, 0), ret };
	struct k_sock_filter jump_out[] = { JUMP(JEQ_K, 0, 1, 0), ret };
	struct k_sock_filter ja_out[] = { STMT(JA, 1), ret };
	struct k_sock_filter no_ret[] = { ret, STMT(LD_IMM, 1) };
	struct k_sock_filter far_load[] = { STMT(LD_W_ABS, 64), ret };
	struct k_sock_filter odd_load[] = { STMT(LD_W_ABS, 2), ret };
	struct k_sock_filter mem_unset[] = { STMT(LD_MEM, 3), ret };
	struct k_sock_filter mem_far[] = { STMT(ST_, 16), ret };
	struct k_sock_filter div0[] = { STMT(ALU_DIV_K, 0), ret };
	struct k_sock_filter ret_x[] = { STMT(0x0e /* RET|X */, 0) };
	T("empty", load(0, big, 0));
	T("4097 instructions", load(0, big, 4097));
	T("bad opcode", load(0, opcode, 2));
	T("byte load", load(0, byte_load, 2));
	T("jump out of range", load(0, jump_out, 2));
	T("ja out of range", load(0, ja_out, 2));
	T("no RET last", load(0, no_ret, 2));
	T("load at 64", load(0, far_load, 2));
	T("unaligned load", load(0, odd_load, 2));
	T("scratch read before write", load(0, mem_unset, 2));
	T("scratch cell 16", load(0, mem_far, 2));
	T("division by 0", load(0, div0, 2));
	T("RET X", load(0, ret_x, 1));
	struct k_sock_fprog p = { 1, NULL };
	T("NULL instructions", sc(S_MODE_FILTER, 0, &p));
	p.filter = BADPTR;
	T("bad instructions pointer", sc(S_MODE_FILTER, 0, &p));
	T("bad sock_fprog pointer", sc(S_MODE_FILTER, 0, BADPTR));
	T("NULL sock_fprog", sc(S_MODE_FILTER, 0, NULL));
	T("unknown flag", load(1u << 10, &ret, 1));
	T("TSYNC|NEW_LISTENER", load(F_TSYNC | F_NEW_LISTENER, &ret, 1));
	T("unknown op", sc(99, 0, NULL));
	T("PR_GET_SECCOMP (nothing installed)", prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
	/*
	 * (Not tested: ENOMEM past MAX_INSNS_PER_PATH; natively, memory limits
	 * of the machine's cgroup can refuse filters well before it.)
	 */
	T("4096 instructions", load(0, big, 4096));
	status_lines("bad_programs");
}

/* ---- queries ---- */

static void queries(void)
{
	static const struct {
		uint32_t action;
		const char *name;
	} actions[] = {
		{ R_KILL_PROCESS, "KILL_PROCESS" }, { R_KILL_THREAD, "KILL_THREAD" },
		{ R_TRAP, "TRAP" },		    { R_ERRNO, "ERRNO" },
		{ R_USER_NOTIF, "USER_NOTIF" },	    { R_TRACE, "TRACE" },
		{ R_LOG, "LOG" },		    { R_ALLOW, "ALLOW" },
		{ 0x00010000u, "0x00010000" },	    { R_ALLOW | 1, "ALLOW|1" },
	};
	for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
		char what[64];
		uint32_t a = actions[i].action;
		snprintf(what, sizeof what, "GET_ACTION_AVAIL %s", actions[i].name);
		T(what, sc(S_GET_ACTION_AVAIL, 0, &a));
	}
	uint32_t a = R_ALLOW;
	T("GET_ACTION_AVAIL flags 1", sc(S_GET_ACTION_AVAIL, 1, &a));
	T("GET_ACTION_AVAIL NULL", sc(S_GET_ACTION_AVAIL, 0, NULL));
	uint16_t sizes[3] = { 0, 0, 0 };
	T("GET_NOTIF_SIZES", sc(S_GET_NOTIF_SIZES, 0, sizes));
	printf("sizes: notif=%u resp=%u data=%u\n", sizes[0], sizes[1], sizes[2]);
	T("GET_NOTIF_SIZES flags 1", sc(S_GET_NOTIF_SIZES, 1, sizes));
	T("GET_NOTIF_SIZES bad pointer", sc(S_GET_NOTIF_SIZES, 0, BADPTR));
}

/* ---- TSYNC ---- */

static int go[2], ready[2];
static long results[3];
static volatile long own_tid;

static void *waiter(void *arg)
{
	long i = (long)arg;
	char c;
	if (read(go[0], &c, 1) != 1)
		return NULL;
	results[i] = syscall(SYS_getppid) == -1 ? errno : 0;
	return NULL;
}

static void *own_filter(void *arg)
{
	(void)arg;
	own_tid = syscall(SYS_gettid);
	results[2] = filter_on(0, SYS_getpgrp, R_ERRNO | ENOENT);
	char c = 1;
	if (write(ready[1], &c, 1) != 1)
		return NULL;
	if (read(go[0], &c, 1) != 1)
		return NULL;
	return NULL;
}

static void tsync(void)
{
	nnp();
	if (pipe(go) || pipe(ready))
		exit(1);
	pthread_t a, b, c;
	pthread_create(&a, NULL, waiter, (void *)0);
	pthread_create(&b, NULL, waiter, (void *)1);
	T("TSYNC filter getppid ERRNO(EACCES)", filter_on(F_TSYNC, SYS_getppid, R_ERRNO | EACCES));
	if (write(go[1], "ab", 2) != 2)
		exit(1);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	printf("thread 1 getppid: %s\n", errname((int)results[0]));
	printf("thread 2 getppid: %s\n", errname((int)results[1]));
	/* A thread with a filter of its own: TSYNC names it. */
	pthread_create(&c, NULL, own_filter, NULL);
	char ch;
	if (read(ready[0], &ch, 1) != 1)
		exit(1);
	printf("thread's own filter = %ld\n", results[2]);
	long r = filter_on(F_TSYNC, SYS_getsid, R_ERRNO | EPERM);
	check("TSYNC with a diverged thread returns its tid", r == own_tid);
	T("TSYNC|TSYNC_ESRCH with a diverged thread",
	  filter_on(F_TSYNC | F_TSYNC_ESRCH, SYS_getsid, R_ERRNO | EPERM));
	TOK("getsid (nothing installed)", syscall(SYS_getsid, 0));
	TOK("getpgrp in main (not synchronised)", syscall(SYS_getpgrp));
	if (write(go[1], "c", 1) != 1)
		exit(1);
	pthread_join(c, NULL);
	/* The thread is gone: TSYNC works again. */
	T("TSYNC after the thread exited", filter_on(F_TSYNC, SYS_getsid, R_ERRNO | EPERM));
	T("getsid", syscall(SYS_getsid, 0));
	status_lines("tsync");
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--exec-child") == 0)
		return exec_child();
	setup(argc, argv, "seccomp");
	T("PR_GET_SECCOMP", prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
	status_lines("main");
	in_child("strict_kill", strict_kill);
	in_child("strict_exit", strict_exit);
	in_child("errno_filters", errno_filters);
	in_child("trap", trap);
	in_child("kill_process", kill_process);
	in_child("kill_thread_alone", kill_thread_alone);
	in_child("kill_thread_of_many", kill_thread_of_many);
	in_child("kill_process_from_thread", kill_process_from_thread);
	in_child("stacking", stacking);
	in_child("inherit", inherit);
	in_child("privileges", privileges);
	in_child("bad_programs", bad_programs);
	in_child("queries", queries);
	in_child("tsync", tsync);
	return 0;
}
