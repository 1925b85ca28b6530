/*
 * Signal delivery: SA_SIGINFO handlers and what they see (si_code,
 * si_pid, the ucontext and its FP state), masks inside handlers,
 * SA_NODEFER, SA_RESETHAND, blocking then unblocking, sigsuspend,
 * sigpending, queued real-time signals with values and their order,
 * sigtimedwait, a SIGSEGV handler recovering with siglongjmp, sigaltstack
 * (also for a stack overflow), SA_RESTART against EINTR on a blocking
 * call, kill's error cases, job control (stop, continue, kill) seen
 * through wait and SIGCHLD.
 *
 * Handlers only record; main prints. Values that differ between runs
 * (pids, addresses) are printed as comparisons.
 */
#include "common.h"
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>

#define BIT(sig) (1ULL << ((sig) - 1))

static volatile sig_atomic_t hits;
static volatile int last_sig, last_code, last_pid, last_value;
static volatile int depth, max_depth;
static sigset_t mask_in_handler;
static volatile unsigned long saved_rip_ok, fp_magic_ok, fp_mxcsr_in, mxcsr_in_handler;
static volatile unsigned long uc_mask_word;

static void install(int sig, void (*fn)(int, siginfo_t *, void *), int flags, const sigset_t *mask)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = fn;
	sa.sa_flags = SA_SIGINFO | flags;
	if (mask)
		sa.sa_mask = *mask;
	else
		sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) != 0)
		printf("sigaction(%d) failed: %s\n", sig, errname(errno));
}

static void reset(int sig)
{
	signal(sig, SIG_DFL);
}

static unsigned get_mxcsr(void)
{
	unsigned m;
	__asm__ volatile("stmxcsr %0" : "=m"(m));
	return m;
}

static void set_mxcsr(unsigned m)
{
	__asm__ volatile("ldmxcsr %0" : : "m"(m));
}

static void record(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	hits++;
	last_sig = sig;
	last_code = si->si_code;
	last_pid = si->si_pid;
	last_value = si->si_value.sival_int;
	sigprocmask(SIG_BLOCK, NULL, &mask_in_handler);
}

/* ---------------------------------------------------------------------- */

static void test_siginfo(void)
{
	printf("-- siginfo\n");
	install(SIGUSR1, record, 0, NULL);
	hits = 0;
	T("kill(getpid(), SIGUSR1)", kill(getpid(), SIGUSR1));
	printf("hits=%d sig=%d si_code=%d (SI_USER=%d) si_pid==getpid: %s\n", (int)hits, last_sig, last_code,
	       SI_USER, last_pid == getpid() ? "yes" : "no");
	hits = 0;
	T("raise(SIGUSR1)", raise(SIGUSR1));
	printf("hits=%d si_code=%d (SI_TKILL=%d)\n", (int)hits, last_code, SI_TKILL);
	hits = 0;
	T("tgkill(pid, tid, SIGUSR1)", SC(SYS_tgkill, (long)getpid(), SC(SYS_gettid), (long)SIGUSR1));
	printf("hits=%d si_code=%d\n", (int)hits, last_code);
	reset(SIGUSR1);
}

static void test_masks(void)
{
	printf("-- masks in handlers\n");
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR2);
	sigaddset(&m, SIGTERM);
	install(SIGUSR1, record, 0, &m);
	raise(SIGUSR1);
	printf("in handler: USR1=%d USR2=%d TERM=%d INT=%d\n", sigismember(&mask_in_handler, SIGUSR1),
	       sigismember(&mask_in_handler, SIGUSR2), sigismember(&mask_in_handler, SIGTERM),
	       sigismember(&mask_in_handler, SIGINT));
	sigset_t now;
	sigprocmask(SIG_BLOCK, NULL, &now);
	printf("after: USR1=%d USR2=%d\n", sigismember(&now, SIGUSR1), sigismember(&now, SIGUSR2));
	install(SIGUSR1, record, SA_NODEFER, NULL);
	raise(SIGUSR1);
	printf("SA_NODEFER in handler: USR1=%d\n", sigismember(&mask_in_handler, SIGUSR1));
	reset(SIGUSR1);
}

static void nested(int sig, siginfo_t *si, void *ctx)
{
	(void)si;
	(void)ctx;
	depth++;
	if (depth > max_depth)
		max_depth = depth;
	if (hits++ == 0)
		raise(sig);
	depth--;
}

static void test_nodefer_resethand(void)
{
	printf("-- SA_NODEFER, SA_RESETHAND\n");
	hits = 0;
	max_depth = 0;
	install(SIGUSR2, nested, 0, NULL);
	raise(SIGUSR2);
	printf("without SA_NODEFER: hits=%d max_depth=%d\n", (int)hits, max_depth);
	hits = 0;
	max_depth = 0;
	install(SIGUSR2, nested, SA_NODEFER, NULL);
	raise(SIGUSR2);
	printf("with SA_NODEFER: hits=%d max_depth=%d\n", (int)hits, max_depth);
	hits = 0;
	install(SIGUSR2, record, SA_RESETHAND, NULL);
	raise(SIGUSR2);
	struct sigaction old;
	sigaction(SIGUSR2, NULL, &old);
	printf("SA_RESETHAND: hits=%d now SIG_DFL: %s\n", (int)hits, old.sa_handler == SIG_DFL ? "yes" : "no");
}

static void test_block_unblock(void)
{
	printf("-- blocking, sigpending, unblocking\n");
	install(SIGUSR1, record, 0, NULL);
	sigset_t m, pend;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	sigprocmask(SIG_BLOCK, &m, NULL);
	hits = 0;
	kill(getpid(), SIGUSR1);
	kill(getpid(), SIGUSR1);
	printf("blocked: hits=%d\n", (int)hits);
	sigpending(&pend);
	printf("sigpending: USR1=%d USR2=%d\n", sigismember(&pend, SIGUSR1), sigismember(&pend, SIGUSR2));
	sigprocmask(SIG_UNBLOCK, &m, NULL);
	printf("unblocked: hits=%d (standard signals coalesce)\n", (int)hits);
	sigpending(&pend);
	printf("sigpending: USR1=%d\n", sigismember(&pend, SIGUSR1));

	/* raise + sigsuspend. */
	sigprocmask(SIG_BLOCK, &m, NULL);
	hits = 0;
	raise(SIGUSR1);
	sigset_t empty;
	sigemptyset(&empty);
	errno = 0;
	long r = sigsuspend(&empty);
	printf("sigsuspend = %ld %s hits=%d\n", r, errname(errno), (int)hits);
	sigset_t now;
	sigprocmask(SIG_BLOCK, NULL, &now);
	printf("mask after sigsuspend: USR1=%d\n", sigismember(&now, SIGUSR1));
	sigprocmask(SIG_UNBLOCK, &m, NULL);
	reset(SIGUSR1);
}

static int order[16];
static volatile int norder;

static void rt_record(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	if (norder < 16)
		order[norder++] = sig * 100 + (si->si_code == SI_QUEUE ? si->si_value.sival_int : 0);
}

static void test_realtime(void)
{
	printf("-- real-time signals: values and order\n");
	install(40, rt_record, 0, NULL);
	install(41, rt_record, 0, NULL);
	install(SIGUSR1, rt_record, 0, NULL);
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, 40);
	sigaddset(&m, 41);
	sigaddset(&m, SIGUSR1);
	sigprocmask(SIG_BLOCK, &m, NULL);
	union sigval v;
	v.sival_int = 1;
	T("sigqueue(41, 1)", sigqueue(getpid(), 41, v));
	v.sival_int = 2;
	T("sigqueue(40, 2)", sigqueue(getpid(), 40, v));
	v.sival_int = 3;
	T("sigqueue(41, 3)", sigqueue(getpid(), 41, v));
	kill(getpid(), SIGUSR1);
	kill(getpid(), SIGUSR1);
	norder = 0;
	sigprocmask(SIG_UNBLOCK, &m, NULL);
	printf("delivered:");
	for (int i = 0; i < norder; i++)
		printf(" %d", order[i]);
	printf("\n");

	/* sigtimedwait / sigwaitinfo take them without a handler. */
	sigprocmask(SIG_BLOCK, &m, NULL);
	v.sival_int = 77;
	sigqueue(getpid(), 41, v);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	int s = sigwaitinfo(&m, &si);
	printf("sigwaitinfo = %d si_code=%d (SI_QUEUE=%d) value=%d pid_ok=%s\n", s, si.si_code, SI_QUEUE,
	       si.si_value.sival_int, si.si_pid == getpid() ? "yes" : "no");
	struct timespec zero = { 0, 0 };
	T("sigtimedwait(zero timeout, nothing pending)", sigtimedwait(&m, NULL, &zero));
	struct timespec bad = { 0, 1000000000L };
	T("sigtimedwait(tv_nsec=1e9)", sigtimedwait(&m, NULL, &bad));
	struct timespec shortwait = { 0, 20000000L };
	T("sigtimedwait(20ms)", sigtimedwait(&m, NULL, &shortwait));
	sigprocmask(SIG_UNBLOCK, &m, NULL);
	reset(40);
	reset(41);
	reset(SIGUSR1);

	/* Forging si_code for another process is refused. */
	siginfo_t forged;
	memset(&forged, 0, sizeof forged);
	forged.si_code = SI_USER;
	T("rt_sigqueueinfo(getppid(), SIGUSR1, SI_USER)", SC(SYS_rt_sigqueueinfo, (long)getppid(), (long)SIGUSR1, &forged));
	T("rt_sigqueueinfo(getpid(), SIGUSR1, BADPTR)", SC(SYS_rt_sigqueueinfo, (long)getpid(), (long)SIGUSR1, BADPTR));
	T("rt_sigqueueinfo(getpid(), 99, ...)", SC(SYS_rt_sigqueueinfo, (long)getpid(), 99L, &forged));
}

/* ---------------------------------------------------------------------- */

static sigjmp_buf jb;
static char *page;

static void segv(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	last_sig = sig;
	last_code = si->si_code;
	last_value = (int)((char *)si->si_addr - page);
	siglongjmp(jb, 1);
}

static void test_segv(void)
{
	printf("-- SIGSEGV handler with siglongjmp\n");
	page = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(page + 2 * 4096, 4096);
	mprotect(page + 4096, 4096, PROT_READ);
	install(SIGSEGV, segv, 0, NULL);
	static const struct { const char *what; long off; int write; } cases[] = {
		{ "write to a read-only page", 4096 + 0x10, 1 },
		{ "read of an unmapped page", 2 * 4096 + 0x28, 0 },
		{ "write to an unmapped page", 2 * 4096 + 0x30, 1 },
	};
	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		last_sig = 0;
		if (sigsetjmp(jb, 1) == 0) {
			volatile char *p = page + cases[i].off;
			if (cases[i].write)
				*p = 1;
			else
				(void)*p;
			printf("%s: no fault\n", cases[i].what);
		} else {
			printf("%s: sig=%d si_code=%s si_addr=page+%#x\n", cases[i].what, last_sig,
			       last_code == SEGV_MAPERR ? "SEGV_MAPERR" : last_code == SEGV_ACCERR ? "SEGV_ACCERR" : "?",
			       last_value);
		}
	}
	sigset_t now;
	sigprocmask(SIG_BLOCK, NULL, &now);
	printf("SIGSEGV blocked after siglongjmp: %d\n", sigismember(&now, SIGSEGV));
	reset(SIGSEGV);
	munmap(page, 2 * 4096);
}

static void *volatile fault_at, *volatile fault_addr;

static void trap(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	last_sig = sig;
	last_code = si->si_code;
	fault_addr = si->si_addr;
	if (sig != SIGTRAP)
		siglongjmp(jb, 1);
	hits++;
}

static void test_exceptions(void)
{
	printf("-- SIGILL, SIGFPE, SIGTRAP\n");
	install(SIGILL, trap, 0, NULL);
	install(SIGFPE, trap, 0, NULL);
	install(SIGTRAP, trap, 0, NULL);
	if (sigsetjmp(jb, 1) == 0) {
		__asm__ volatile("lea 1f(%%rip), %%rax\n\t"
				 "mov %%rax, %0\n"
				 "1:\tud2"
				 : "=m"(fault_at)
				 :
				 : "rax", "memory");
		printf("ud2: no signal\n");
	} else {
		printf("ud2: sig=%d si_code=%d (ILL_ILLOPN=%d) si_addr at the instruction: %s\n", last_sig, last_code,
		       ILL_ILLOPN, fault_addr == fault_at ? "yes" : "no");
	}
	if (sigsetjmp(jb, 1) == 0) {
		__asm__ volatile("lea 1f(%%rip), %%rax\n\t"
				 "mov %%rax, %0\n\t"
				 "xor %%ecx, %%ecx\n\t"
				 "mov $1, %%eax\n\t"
				 "cltd\n"
				 "1:\tidivl %%ecx"
				 : "=m"(fault_at)
				 :
				 : "rax", "rcx", "rdx", "memory");
		printf("idiv by zero: no signal\n");
	} else {
		printf("idiv by zero: sig=%d si_code=%d (FPE_INTDIV=%d) si_addr at the instruction: %s\n", last_sig,
		       last_code, FPE_INTDIV, fault_addr == fault_at ? "yes" : "no");
	}
	hits = 0;
	__asm__ volatile("int3" ::: "memory");
	printf("int3: sig=%d si_code=%#x hits=%d, execution goes on after it\n", last_sig, last_code, (int)hits);
	reset(SIGILL);
	reset(SIGFPE);
	reset(SIGTRAP);
}

/* ---------------------------------------------------------------------- */

static char *alt;
#define ALT_SIZE (64 * 1024)
static volatile int on_alt;

static void where(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)si;
	ucontext_t *uc = ctx;
	char here;
	on_alt = &here > alt && &here < alt + ALT_SIZE;
	uc_mask_word = (unsigned long)uc->uc_stack.ss_size;
	stack_t cur;
	sigaltstack(NULL, &cur);
	last_code = cur.ss_flags;
}

static volatile int overflow_depth, never = -1;

static int recurse(int n)
{
	volatile char buf[1024];
	buf[0] = (char)n;
	overflow_depth++;
	if (n == never)
		return 0;
	return recurse(n + 1) + buf[0];
}

static void overflow(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	char here;
	on_alt = &here > alt && &here < alt + ALT_SIZE;
	last_sig = sig;
	last_code = si->si_code;
	siglongjmp(jb, 1);
}

static void test_altstack(void)
{
	printf("-- sigaltstack\n");
	stack_t ss, old;
	memset(&old, 0x55, sizeof old);
	T("sigaltstack(NULL, &old)", sigaltstack(NULL, &old));
	printf("initial: flags=%d size=%zu\n", old.ss_flags, old.ss_size);
	alt = malloc(ALT_SIZE);
	ss.ss_sp = alt;
	ss.ss_size = 1024;
	ss.ss_flags = 0;
	T("sigaltstack(size 1024)", SC(SYS_sigaltstack, &ss, NULL));
	ss.ss_size = ALT_SIZE;
	ss.ss_flags = 7;
	T("sigaltstack(flags 7)", SC(SYS_sigaltstack, &ss, NULL));
	ss.ss_flags = 0;
	T("sigaltstack(&ss, &old)", sigaltstack(&ss, &old));
	printf("old: flags=%d\n", old.ss_flags);
	T("sigaltstack(BADPTR, NULL)", SC(SYS_sigaltstack, BADPTR, NULL));
	T("sigaltstack(NULL, BADPTR)", SC(SYS_sigaltstack, NULL, BADPTR));
	install(SIGUSR1, where, SA_ONSTACK, NULL);
	raise(SIGUSR1);
	printf("SA_ONSTACK handler on the alternate stack: %s, uc_stack.ss_size ok: %s, flags inside=%d (SS_ONSTACK=%d)\n",
	       on_alt ? "yes" : "no", uc_mask_word == ALT_SIZE ? "yes" : "no", last_code, SS_ONSTACK);
	install(SIGUSR1, where, 0, NULL);
	raise(SIGUSR1);
	printf("without SA_ONSTACK: on the alternate stack: %s\n", on_alt ? "yes" : "no");

	/* A stack overflow handled on the alternate stack. */
	install(SIGSEGV, overflow, SA_ONSTACK, NULL);
	on_alt = 0;
	if (sigsetjmp(jb, 1) == 0) {
		recurse(0);
		printf("no overflow\n");
	} else {
		printf("stack overflow: sig=%d si_code=%s, handler on the alternate stack: %s, deep: %s\n", last_sig,
		       last_code == SEGV_MAPERR ? "SEGV_MAPERR" : last_code == SEGV_ACCERR ? "SEGV_ACCERR" : "?",
		       on_alt ? "yes" : "no", overflow_depth > 1000 ? "yes" : "no");
	}
	reset(SIGSEGV);
	reset(SIGUSR1);
	ss.ss_flags = SS_DISABLE;
	T("sigaltstack(SS_DISABLE)", sigaltstack(&ss, NULL));
	sigaltstack(NULL, &old);
	printf("after disable: flags=%d size=%zu\n", old.ss_flags, old.ss_size);
}

/* ---------------------------------------------------------------------- */

static void fpcheck(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)si;
	ucontext_t *uc = ctx;
	mxcsr_in_handler = get_mxcsr();
	saved_rip_ok = uc->uc_mcontext.gregs[REG_RAX] == 0;
	uint32_t *fx = (uint32_t *)uc->uc_mcontext.fpregs;
	fp_mxcsr_in = fx ? fx[6] : 0;
	fp_magic_ok = fx && (!(uc->uc_flags & 1) || (fx[116] == 0x46505853U && fx[117] > 512));
	uc_mask_word = sigismember(&uc->uc_sigmask, SIGUSR2);
	/* Clobber the FP state the interrupted code holds. */
	__asm__ volatile("pcmpeqd %%xmm7, %%xmm7" ::: "xmm7");
	set_mxcsr(0x1f80 | 0x8000);
}

static void test_fpstate(void)
{
	printf("-- FP state across a handler\n");
	install(SIGUSR1, fpcheck, 0, NULL);
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR2);
	sigprocmask(SIG_BLOCK, &m, NULL);
	unsigned mx = 0x1f80 | 0x6000; /* round toward zero */
	set_mxcsr(mx);
	unsigned long in = 0x0123456789abcdefUL, out = 0;
	long ret, pid = getpid();
	__asm__ volatile("movq %3, %%xmm7\n\t"
			 "syscall\n\t"
			 "movq %%xmm7, %1"
			 : "=a"(ret), "=r"(out)
			 : "0"((long)SYS_kill), "r"(in), "D"(pid), "S"((long)SIGUSR1)
			 : "rcx", "r11", "memory", "xmm7");
	unsigned after = get_mxcsr();
	set_mxcsr(0x1f80);
	printf("kill = %ld\n", ret);
	printf("handler started with the initial MXCSR: %s\n", mxcsr_in_handler == 0x1f80 ? "yes" : "no");
	printf("frame's FP state holds the interrupted MXCSR: %s\n", fp_mxcsr_in == mx ? "yes" : "no");
	printf("frame's saved rax is the call's result: %s\n", saved_rip_ok ? "yes" : "no");
	printf("FP_XSTATE_MAGIC1 and extended size present: %s\n", fp_magic_ok ? "yes" : "no");
	printf("uc_sigmask holds the blocked USR2: %lu\n", uc_mask_word);
	printf("xmm7 restored: %s, MXCSR restored: %s\n", out == in ? "yes" : "no", after == mx ? "yes" : "no");
	sigprocmask(SIG_UNBLOCK, &m, NULL);
	reset(SIGUSR1);
}

/* ---------------------------------------------------------------------- */

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* A child that signals its parent after `delay` ms, then exits. */
static pid_t signaller(long delay, int sig)
{
	pid_t c = fork();
	if (c == 0) {
		sleep_ms(delay);
		kill(getppid(), sig);
		sleep_ms(delay);
		_exit(0);
	}
	return c;
}

static void test_restart(void)
{
	printf("-- SA_RESTART against EINTR (wait4 interrupted by a signal)\n");
	for (int restart = 0; restart < 2; restart++) {
		install(SIGUSR1, record, restart ? SA_RESTART : 0, NULL);
		hits = 0;
		pid_t c = signaller(300, SIGUSR1);
		int st = 0;
		errno = 0;
		pid_t r = waitpid(c, &st, 0);
		int e = errno;
		printf("%s: waitpid = %s%s hits=%d\n", restart ? "SA_RESTART" : "no SA_RESTART",
		       r == c ? "the child" : r == -1 ? "-1 " : "?", r == -1 ? errname(e) : "", (int)hits);
		if (r == -1)
			printf("  again: %s\n", waitpid(c, &st, 0) == c ? "the child" : "?");
	}
	reset(SIGUSR1);

	/* nanosleep: EINTR with a handler (never restarted), rem set. */
	install(SIGUSR1, record, SA_RESTART, NULL);
	pid_t c = signaller(200, SIGUSR1);
	struct timespec ts = { 5, 0 }, rem = { 0, 0 };
	long r = nanosleep(&ts, &rem);
	int e = errno;
	printf("nanosleep(5s) = %ld %s, rem in (3s, 5s): %s\n", r, r ? errname(e) : "",
	       rem.tv_sec >= 3 && rem.tv_sec < 5 ? "yes" : "no");
	waitpid(c, NULL, 0);
	reset(SIGUSR1);

	/* An ignored signal does not interrupt. */
	signal(SIGUSR1, SIG_IGN);
	c = signaller(100, SIGUSR1);
	int st;
	printf("waitpid with the signal ignored = %s\n", waitpid(c, &st, 0) == c ? "the child" : "?");
	reset(SIGUSR1);
}

static void test_kill_errors(void)
{
	printf("-- kill errors\n");
	pid_t c = fork();
	if (c == 0) {
		for (;;)
			pause();
	}
	T("kill(getpid(), 0)", kill(getpid(), 0));
	T("kill(child, 0)", kill(c, 0));
	T("kill(0, 0)", kill(0, 0));
	T("kill(-1, 0)", kill(-1, 0));
	T("kill(-1, 65)", kill(-1, 65));
	T("kill(getpid(), 65)", kill(getpid(), 65));
	T("kill(getpid(), -1)", kill(getpid(), -1));
	T("kill(INT_MAX, 0)", kill(INT_MAX, 0));
	T("kill(INT_MIN, 0)", kill(INT_MIN, 0));
	T("kill(INT_MAX, 65)", kill(INT_MAX, 65));
	T("tkill(0, SIGUSR1)", SC(SYS_tkill, 0L, (long)SIGUSR1));
	T("tkill(-5, SIGUSR1)", SC(SYS_tkill, -5L, (long)SIGUSR1));
	T("tgkill(getpid(), 0, SIGUSR1)", SC(SYS_tgkill, (long)getpid(), 0L, (long)SIGUSR1));
	T("tgkill(getpid(), child, SIGUSR1)", SC(SYS_tgkill, (long)getpid(), (long)c, (long)SIGUSR1));
	T("tgkill(child, child, 0)", SC(SYS_tgkill, (long)c, (long)c, 0L));
	T("kill(child, SIGKILL)", kill(c, SIGKILL));
	int st = 0;
	T("waitpid(child)", waitpid(c, &st, 0) == c);
	printf("WIFSIGNALED=%d WTERMSIG=%d\n", WIFSIGNALED(st), WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	T("kill(reaped child, 0)", kill(c, 0));
}

/* ---------------------------------------------------------------------- */

static int chld_codes[8], chld_status[8];
static pid_t chld_pids[8], children[8];
static volatile int nchld;
static int nchildren;

static void on_chld(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	if (nchld < 8) {
		chld_codes[nchld] = si->si_code;
		chld_status[nchld] = si->si_status;
		chld_pids[nchld] = si->si_pid;
		nchld++;
	}
}

/* Waits until the SIGCHLD handler has run `n` times in all. */
static void await_chld(int n)
{
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &old);
	while (nchld < n)
		sigsuspend(&old);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static void test_job_control(void)
{
	printf("-- job control and SIGCHLD\n");
	install(SIGCHLD, on_chld, SA_RESTART, NULL);
	pid_t c = fork();
	if (c == 0) {
		for (;;)
			pause();
	}
	children[nchildren++] = c;
	int st = 0;
	T("kill(child, SIGSTOP)", kill(c, SIGSTOP));
	T("waitpid(child, WUNTRACED)", waitpid(c, &st, WUNTRACED) == c);
	printf("WIFSTOPPED=%d WSTOPSIG=%d\n", WIFSTOPPED(st), WIFSTOPPED(st) ? WSTOPSIG(st) : 0);
	await_chld(1);
	T("waitpid(child, WUNTRACED|WNOHANG) again", waitpid(c, &st, WUNTRACED | WNOHANG));
	T("kill(child, SIGCONT)", kill(c, SIGCONT));
	T("waitpid(child, WCONTINUED)", waitpid(c, &st, WCONTINUED) == c);
	printf("WIFCONTINUED=%d\n", WIFCONTINUED(st));
	await_chld(2);
	T("kill(child, SIGTERM)", kill(c, SIGTERM));
	T("waitpid(child)", waitpid(c, &st, 0) == c);
	printf("WIFSIGNALED=%d WTERMSIG=%d\n", WIFSIGNALED(st), WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	await_chld(3);

	/* An exit status and a crash. */
	c = fork();
	if (c == 0)
		_exit(7);
	children[nchildren++] = c;
	waitpid(c, &st, 0);
	printf("exit(7): WIFEXITED=%d WEXITSTATUS=%d\n", WIFEXITED(st), WEXITSTATUS(st));
	await_chld(4);
	c = fork();
	if (c == 0) {
		struct rlimit no_core = { 0, 0 };
		setrlimit(RLIMIT_CORE, &no_core);
		*(volatile int *)16 = 1;
		_exit(1);
	}
	children[nchildren++] = c;
	waitpid(c, &st, 0);
	printf("crash: WIFSIGNALED=%d WTERMSIG=%d\n", WIFSIGNALED(st), WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	await_chld(5);

	/* The first three reports are about the first child. */
	int pids_ok = nchld == 5 && nchildren == 3;
	for (int i = 0; pids_ok && i < 5; i++)
		pids_ok = chld_pids[i] == children[i < 3 ? 0 : i - 2];
	printf("SIGCHLD seen %d times, si_pid right: %s:", (int)nchld, pids_ok ? "yes" : "no");
	for (int i = 0; i < nchld; i++)
		printf(" %s/%d", chld_codes[i] == CLD_STOPPED ? "CLD_STOPPED" : chld_codes[i] == CLD_CONTINUED ? "CLD_CONTINUED"
			: chld_codes[i] == CLD_KILLED ? "CLD_KILLED" : chld_codes[i] == CLD_EXITED ? "CLD_EXITED"
			: chld_codes[i] == CLD_DUMPED ? "CLD_KILLED" : "?",
		       chld_status[i]);
	printf("\n");
	reset(SIGCHLD);

	/* SIGCHLD ignored: children are reaped by the kernel. */
	signal(SIGCHLD, SIG_IGN);
	c = fork();
	if (c == 0)
		_exit(0);
	errno = 0;
	long r = waitpid(c, &st, 0);
	printf("SIG_IGN SIGCHLD: waitpid = %ld %s\n", r, r == -1 ? errname(errno) : "");
	reset(SIGCHLD);
}

int main(int argc, char **argv)
{
	setup(argc, argv, "signals");
	test_siginfo();
	test_masks();
	test_nodefer_resethand();
	test_block_unblock();
	test_realtime();
	test_segv();
	test_exceptions();
	test_altstack();
	test_fpstate();
	test_restart();
	test_kill_errors();
	test_job_control();
	return 0;
}
