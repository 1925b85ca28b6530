/*
 * Signal state without delivery: rt_sigaction and rt_sigprocmask round
 * trips. No signal is raised here; delivery is the next issue's.
 *
 * The kernel's struct sigaction is used directly (handler, flags,
 * restorer, 64-bit mask), since musl and glibc translate theirs
 * differently.
 */
#include "common.h"
#include <signal.h>

#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

struct k_sigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

#define BIT(sig) (1ULL << ((sig) - 1))

static void handler(int sig) { (void)sig; }
static void restorer(void) {}

static const char *disp(void *h)
{
	if (h == (void *)SIG_DFL)
		return "SIG_DFL";
	if (h == (void *)SIG_IGN)
		return "SIG_IGN";
	if (h == (void *)handler)
		return "handler";
	return "other";
}

static void show_act(const char *label, long r, const struct k_sigaction *a)
{
	if (r == -1) {
		printf("%s = -1 %s\n", label, errname(errno));
		return;
	}
	printf("%s = %ld: %s flags=%#lx restorer=%s mask=%#llx\n", label, r, disp(a->handler), a->flags,
	       a->restorer == NULL ? "NULL" : a->restorer == (void *)restorer ? "ours" : "other",
	       (unsigned long long)a->mask);
}

static void test_sigaction(void)
{
	struct k_sigaction act, old;
	memset(&old, 0x55, sizeof old);
	show_act("rt_sigaction(SIGUSR1, NULL, &old) (initial)", SC(SYS_rt_sigaction, (long)SIGUSR1, NULL, &old, 8L), &old);

	memset(&act, 0, sizeof act);
	act.handler = (void *)handler;
	act.flags = SA_RESTORER | SA_RESTART | SA_SIGINFO;
	act.restorer = (void *)restorer;
	act.mask = BIT(SIGUSR2) | BIT(SIGTERM);
	memset(&old, 0x55, sizeof old);
	show_act("rt_sigaction(SIGUSR1, handler, &old)", SC(SYS_rt_sigaction, (long)SIGUSR1, &act, &old, 8L), &old);
	memset(&old, 0x55, sizeof old);
	show_act("rt_sigaction(SIGUSR1, NULL, &old)", SC(SYS_rt_sigaction, (long)SIGUSR1, NULL, &old, 8L), &old);

	/* SIGKILL and SIGSTOP in the mask are dropped. */
	act.mask = BIT(SIGKILL) | BIT(SIGSTOP) | BIT(SIGINT);
	act.flags = SA_RESTORER | SA_NODEFER | SA_RESETHAND | SA_ONSTACK;
	SC(SYS_rt_sigaction, (long)SIGUSR2, &act, NULL, 8L);
	memset(&old, 0x55, sizeof old);
	show_act("rt_sigaction(SIGUSR2, NULL, &old) (mask had KILL|STOP|INT)", SC(SYS_rt_sigaction, (long)SIGUSR2, NULL, &old, 8L), &old);

	act.handler = (void *)SIG_IGN;
	act.flags = SA_RESTORER;
	act.mask = 0;
	SC(SYS_rt_sigaction, 36L, &act, NULL, 8L);
	memset(&old, 0x55, sizeof old);
	show_act("rt_sigaction(signal 36) after SIG_IGN", SC(SYS_rt_sigaction, 36L, NULL, &old, 8L), &old);
	memset(&old, 0x55, sizeof old);
	show_act("rt_sigaction(64, NULL, &old)", SC(SYS_rt_sigaction, 64L, NULL, &old, 8L), &old);
	act.handler = (void *)SIG_DFL;
	show_act("rt_sigaction(SIGUSR1, SIG_DFL, &old)", SC(SYS_rt_sigaction, (long)SIGUSR1, &act, &old, 8L), &old);
	memset(&old, 0x55, sizeof old);
	show_act("rt_sigaction(SIGUSR1, NULL, &old)", SC(SYS_rt_sigaction, (long)SIGUSR1, NULL, &old, 8L), &old);

	act.handler = (void *)handler;
	T("rt_sigaction(SIGKILL, handler)", SC(SYS_rt_sigaction, (long)SIGKILL, &act, NULL, 8L));
	T("rt_sigaction(SIGSTOP, SIG_IGN)", SC(SYS_rt_sigaction, (long)SIGSTOP, &act, NULL, 8L));
	memset(&old, 0x55, sizeof old);
	show_act("rt_sigaction(SIGKILL, NULL, &old)", SC(SYS_rt_sigaction, (long)SIGKILL, NULL, &old, 8L), &old);
	T("rt_sigaction(0, NULL, &old)", SC(SYS_rt_sigaction, 0L, NULL, &old, 8L));
	T("rt_sigaction(65, NULL, &old)", SC(SYS_rt_sigaction, 65L, NULL, &old, 8L));
	T("rt_sigaction(-1, NULL, &old)", SC(SYS_rt_sigaction, -1L, NULL, &old, 8L));
	T("rt_sigaction(SIGUSR1, &act, NULL, sigsetsize 4)", SC(SYS_rt_sigaction, (long)SIGUSR1, &act, NULL, 4L));
	T("rt_sigaction(SIGUSR1, &act, NULL, sigsetsize 16)", SC(SYS_rt_sigaction, (long)SIGUSR1, &act, NULL, 16L));
	T("rt_sigaction(SIGUSR1, BADPTR, NULL)", SC(SYS_rt_sigaction, (long)SIGUSR1, BADPTR, NULL, 8L));
	T("rt_sigaction(SIGUSR1, NULL, BADPTR)", SC(SYS_rt_sigaction, (long)SIGUSR1, NULL, BADPTR, 8L));
	T("rt_sigaction(SIGUSR1, NULL, NULL)", SC(SYS_rt_sigaction, (long)SIGUSR1, NULL, NULL, 8L));
}

static void show_mask(const char *label, long r, uint64_t m)
{
	if (r == -1)
		printf("%s = -1 %s\n", label, errname(errno));
	else
		printf("%s = %ld: mask=%#llx\n", label, r, (unsigned long long)m);
}

/* The call runs before old is read. */
#define SM(label, call) do { long r_ = (long)(call); show_mask((label), r_, old); } while (0)

static void test_sigprocmask(void)
{
	uint64_t set, old = 0x5555;
	SM("rt_sigprocmask(SIG_BLOCK, NULL, &old) (initial)", SC(SYS_rt_sigprocmask, (long)SIG_BLOCK, NULL, &old, 8L));
	set = BIT(SIGUSR1) | BIT(SIGINT);
	SM("rt_sigprocmask(SIG_BLOCK, {USR1,INT}, &old)", SC(SYS_rt_sigprocmask, (long)SIG_BLOCK, &set, &old, 8L));
	set = BIT(SIGUSR2);
	SM("rt_sigprocmask(SIG_BLOCK, {USR2}, &old)", SC(SYS_rt_sigprocmask, (long)SIG_BLOCK, &set, &old, 8L));
	set = BIT(SIGINT);
	SM("rt_sigprocmask(SIG_UNBLOCK, {INT}, &old)", SC(SYS_rt_sigprocmask, (long)SIG_UNBLOCK, &set, &old, 8L));
	set = BIT(SIGKILL) | BIT(SIGSTOP) | BIT(SIGTERM) | BIT(64);
	SM("rt_sigprocmask(SIG_SETMASK, {KILL,STOP,TERM,64}, &old)", SC(SYS_rt_sigprocmask, (long)SIG_SETMASK, &set, &old, 8L));
	SM("rt_sigprocmask(SIG_SETMASK, NULL, &old) (KILL, STOP dropped)", SC(SYS_rt_sigprocmask, (long)SIG_SETMASK, NULL, &old, 8L));
	set = BIT(SIGHUP);
	old = 0x5555;
	SM("rt_sigprocmask(99, {HUP}, &old)", SC(SYS_rt_sigprocmask, 99L, &set, &old, 8L));
	SM("rt_sigprocmask(99, NULL, &old) (how ignored without a set)", SC(SYS_rt_sigprocmask, 99L, NULL, &old, 8L));
	T("rt_sigprocmask(SIG_BLOCK, &set, NULL, sigsetsize 4)", SC(SYS_rt_sigprocmask, (long)SIG_BLOCK, &set, NULL, 4L));
	T("rt_sigprocmask(SIG_BLOCK, &set, NULL, sigsetsize 16)", SC(SYS_rt_sigprocmask, (long)SIG_BLOCK, &set, NULL, 16L));
	T("rt_sigprocmask(SIG_BLOCK, BADPTR, NULL)", SC(SYS_rt_sigprocmask, (long)SIG_BLOCK, BADPTR, NULL, 8L));
	T("rt_sigprocmask(SIG_BLOCK, NULL, BADPTR)", SC(SYS_rt_sigprocmask, (long)SIG_BLOCK, NULL, BADPTR, 8L));
	T("rt_sigprocmask(SIG_BLOCK, NULL, NULL)", SC(SYS_rt_sigprocmask, (long)SIG_BLOCK, NULL, NULL, 8L));
	set = 0;
	SM("rt_sigprocmask(SIG_SETMASK, {}, &old)", SC(SYS_rt_sigprocmask, (long)SIG_SETMASK, &set, &old, 8L));
	SM("rt_sigprocmask(SIG_BLOCK, NULL, &old)", SC(SYS_rt_sigprocmask, (long)SIG_BLOCK, NULL, &old, 8L));
}

int main(int argc, char **argv)
{
	setup(argc, argv, "sigmask");
	test_sigaction();
	test_sigprocmask();
	printf("done\n");
	return 0;
}
