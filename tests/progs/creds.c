/*
 * Credentials: setuid, setgid, setreuid, setregid, setresuid, setresgid,
 * setfsuid, setfsgid, setgroups, capget, capset, PR_SET_KEEPCAPS and
 * PR_CAPBSET_READ, for root and for an ordinary user.
 *
 * Each scenario runs in a forked child (credentials cannot be regained),
 * which prints its lines and exits; the parent waits for it. Raw
 * capability masks are never printed (a container's root may lack some):
 * only whether a capability is in a set, or whether a set is empty.
 */
#include "common.h"
#include <grp.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define K_CAP_V1 0x19980330
#define K_CAP_V3 0x20080522
#define K_CAP_SETGID 6
#define K_CAP_SETUID 7
#define K_CAP_DAC_OVERRIDE 1
#define K_CAP_KILL 5

struct k_cap_header {
	uint32_t version;
	int pid;
};
struct k_cap_data {
	uint32_t effective, permitted, inheritable;
};

struct caps {
	uint64_t eff, perm, inh;
};

static struct caps get_caps(void)
{
	struct k_cap_header h = { K_CAP_V3, 0 };
	struct k_cap_data d[2];
	memset(d, 0, sizeof d);
	struct caps c = { 0, 0, 0 };
	if (SC(SYS_capget, &h, d) != 0) {
		printf("capget failed: %s\n", errname(errno));
		return c;
	}
	c.eff = d[0].effective | (uint64_t)d[1].effective << 32;
	c.perm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	c.inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	return c;
}

static int set_caps(struct caps c)
{
	struct k_cap_header h = { K_CAP_V3, 0 };
	struct k_cap_data d[2];
	d[0].effective = (uint32_t)c.eff;
	d[1].effective = (uint32_t)(c.eff >> 32);
	d[0].permitted = (uint32_t)c.perm;
	d[1].permitted = (uint32_t)(c.perm >> 32);
	d[0].inheritable = (uint32_t)c.inh;
	d[1].inheritable = (uint32_t)(c.inh >> 32);
	return (int)SC(SYS_capset, &h, d);
}

static void show_caps(const char *when)
{
	struct caps c = get_caps();
	printf("  caps %s: eff=%s perm=%s setuid_eff=%s dac_eff=%s\n", when, c.eff ? "some" : "none",
	       c.perm ? "some" : "none", c.eff & (1ULL << K_CAP_SETUID) ? "yes" : "no",
	       c.eff & (1ULL << K_CAP_DAC_OVERRIDE) ? "yes" : "no");
}

static void show_ids(const char *when)
{
	uid_t r, e, s;
	gid_t gr, ge, gs;
	SC(SYS_getresuid, &r, &e, &s);
	SC(SYS_getresgid, &gr, &ge, &gs);
	long fsu = SC(SYS_setfsuid, -1L);
	long fsg = SC(SYS_setfsgid, -1L);
	printf("  ids %s: uid=%u/%u/%u fsuid=%ld gid=%u/%u/%u fsgid=%ld\n", when, r, e, s, fsu, gr, ge, gs, fsg);
}

/* Runs fn in a child and waits for it. */
static void in_child(const char *name, void (*fn)(void))
{
	printf("[%s]\n", name);
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) {
		fn();
		fflush(stdout);
		_exit(0);
	}
	int st = 0;
	waitpid(p, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		printf("  child ended badly: %#x\n", st);
}

static void root_setuid(void)
{
	show_ids("before");
	T("setuid(-1)", SC(SYS_setuid, -1L));
	T("setgid(-1)", SC(SYS_setgid, -1L));
	T("setgid(1000)", SC(SYS_setgid, 1000L));
	T("setuid(1000)", SC(SYS_setuid, 1000L));
	show_ids("after");
	show_caps("after");
	T("setuid(0)", SC(SYS_setuid, 0L));
	T("setuid(1000)", SC(SYS_setuid, 1000L));
	T("setgid(1000)", SC(SYS_setgid, 1000L));
	T("setgid(0)", SC(SYS_setgid, 0L));
	gid_t g[1] = { 5 };
	T("setgroups(1, [5])", SC(SYS_setgroups, 1L, g));
}

static void root_resuid(void)
{
	T("setresgid(10, 20, 30)", SC(SYS_setresgid, 10L, 20L, 30L));
	T("setresuid(1001, 1000, 0)", SC(SYS_setresuid, 1001L, 1000L, 0L));
	show_ids("r=1001 e=1000 s=0");
	show_caps("with euid 1000, suid 0");
	T("setresuid(-1, 0, -1)", SC(SYS_setresuid, -1L, 0L, -1L));
	show_caps("euid 0 again");
	T("setresuid(-1, 1000, -1)", SC(SYS_setresuid, -1L, 1000L, -1L));
	T("setreuid(-1, 0) (saved is 0)", SC(SYS_setreuid, -1L, 0L));
	show_ids("after setreuid(-1, 0)");
	T("setresuid(1001, 1001, 1001)", SC(SYS_setresuid, 1001L, 1001L, 1001L));
	show_caps("no root id left");
	T("setresuid(2000, -1, -1)", SC(SYS_setresuid, 2000L, -1L, -1L));
	T("setresuid(-1, -1, -1)", SC(SYS_setresuid, -1L, -1L, -1L));
	T("setresgid(30, -1, 10) (ids it has)", SC(SYS_setresgid, 30L, -1L, 10L));
	T("setresgid(99, -1, -1)", SC(SYS_setresgid, 99L, -1L, -1L));
	T("setregid(20, 30)", SC(SYS_setregid, 20L, 30L));
	T("setregid(10, -1) (the saved gid)", SC(SYS_setregid, 10L, -1L));
	show_ids("after setregid");
	T("setgid(20)", SC(SYS_setgid, 20L));
	T("setgid(77)", SC(SYS_setgid, 77L));
	show_ids("end");
}

static void root_reuid(void)
{
	T("setreuid(1000, 2000)", SC(SYS_setreuid, 1000L, 2000L));
	show_ids("after setreuid(1000, 2000)");
	T("setreuid(2000, 1000) (swap)", SC(SYS_setreuid, 2000L, 1000L));
	show_ids("after swap");
	T("setreuid(-1, 3000)", SC(SYS_setreuid, -1L, 3000L));
	T("setreuid(3000, -1)", SC(SYS_setreuid, 3000L, -1L));
	T("setreuid(-1, -1)", SC(SYS_setreuid, -1L, -1L));
	show_ids("end");
}

static void fsids(void)
{
	T("setfsuid(1234) (answers the old fsuid)", SC(SYS_setfsuid, 1234L));
	T("setfsuid(-1)", SC(SYS_setfsuid, -1L));
	show_caps("fsuid 1234");
	T("setfsuid(0)", SC(SYS_setfsuid, 0L));
	show_caps("fsuid 0");
	T("setfsgid(4321)", SC(SYS_setfsgid, 4321L));
	T("setfsgid(-1)", SC(SYS_setfsgid, -1L));
	T("setresuid(1000, 1000, 1000)", SC(SYS_setresuid, 1000L, 1000L, 1000L));
	T("setfsuid(5) (not one of its ids)", SC(SYS_setfsuid, 5L));
	T("setfsuid(-1)", SC(SYS_setfsuid, -1L));
}

static void groups(void)
{
	gid_t g[4] = { 30, 10, 20, 10 };
	T("setgroups(4, [30, 10, 20, 10])", SC(SYS_setgroups, 4L, g));
	gid_t out[8];
	long n = T("getgroups(8)", SC(SYS_getgroups, 8L, out));
	printf("  groups:");
	for (long i = 0; i < n; i++)
		printf(" %u", out[i]);
	printf("\n");
	T("getgroups(0, NULL)", SC(SYS_getgroups, 0L, NULL));
	T("getgroups(2) (too small)", SC(SYS_getgroups, 2L, out));
	T("setgroups(65537)", SC(SYS_setgroups, 65537L, g));
	T("setgroups(-1)", SC(SYS_setgroups, -1L, g));
	T("setgroups(2, BADPTR)", SC(SYS_setgroups, 2L, BADPTR));
	T("setgroups(0, NULL)", SC(SYS_setgroups, 0L, NULL));
	T("getgroups(0, NULL)", SC(SYS_getgroups, 0L, NULL));
	T("setuid(1000)", SC(SYS_setuid, 1000L));
	T("setgroups(1, [10]) (no CAP_SETGID)", SC(SYS_setgroups, 1L, g + 1));
}

static void capabilities(void)
{
	struct k_cap_header h = { 0, 0 };
	T("capget(version 0, NULL)", SC(SYS_capget, &h, NULL));
	printf("  version written back: %#x\n", h.version);
	struct k_cap_data d[2];
	h.version = 0;
	T("capget(version 0, &data)", SC(SYS_capget, &h, d));
	h.version = K_CAP_V3;
	T("capget(v3, NULL)", SC(SYS_capget, &h, NULL));
	h.pid = -1;
	T("capget(pid -1)", SC(SYS_capget, &h, d));
	h.pid = 0x3fffffff;
	T("capget(no such pid)", SC(SYS_capget, &h, d));
	h.pid = (int)getpid();
	T("capget(own pid)", SC(SYS_capget, &h, d));
	T("capget(BADPTR, &data)", SC(SYS_capget, BADPTR, d));
	h.pid = 0;
	T("capget(&h, BADPTR)", SC(SYS_capget, &h, BADPTR));
	h.version = K_CAP_V1;
	memset(d, 0, sizeof d);
	T("capget(v1)", SC(SYS_capget, &h, d));
	check("  v1 fills one word only", d[1].effective == 0 && d[1].permitted == 0);
	h.version = K_CAP_V3;
	h.pid = (int)getppid();
	T("capset(parent's pid)", SC(SYS_capset, &h, d));

	struct caps c = get_caps();
	T("PR_CAPBSET_READ(CAP_KILL)", SC(SYS_prctl, (long)PR_CAPBSET_READ, (long)K_CAP_KILL, 0L, 0L, 0L));
	T("PR_CAPBSET_READ(63)", SC(SYS_prctl, (long)PR_CAPBSET_READ, 63L, 0L, 0L, 0L));
	struct caps drop = c;
	drop.eff &= ~(1ULL << K_CAP_SETUID);
	T("capset(effective without CAP_SETUID)", set_caps(drop));
	show_caps("after");
	T("setuid(1000) (root ids, no CAP_SETUID)", SC(SYS_setuid, 1000L));
	T("capset(effective back)", set_caps(c));
	drop = c;
	drop.perm &= ~(1ULL << K_CAP_SETUID);
	drop.eff &= ~(1ULL << K_CAP_SETUID);
	T("capset(permitted without CAP_SETUID)", set_caps(drop));
	T("capset(permitted back)", set_caps(c));
	drop.eff = drop.perm | (1ULL << K_CAP_SETUID);
	T("capset(effective beyond permitted)", set_caps(drop));
	drop = c;
	drop.perm = drop.eff = 1ULL << K_CAP_KILL;
	drop.inh = 1ULL << K_CAP_SETGID;
	T("capset(keep only CAP_KILL, inheritable CAP_SETGID)", set_caps(drop));
	struct caps now = get_caps();
	check("  effective is CAP_KILL", now.eff == 1ULL << K_CAP_KILL);
	check("  inheritable is CAP_SETGID", now.inh == 1ULL << K_CAP_SETGID);
	drop.inh = 1ULL << K_CAP_SETUID;
	T("capset(new inheritable, no CAP_SETPCAP)", set_caps(drop));
	T("setgroups(0, NULL) (no CAP_SETGID)", SC(SYS_setgroups, 0L, NULL));
	T("setgid(0) (the real gid)", SC(SYS_setgid, 0L));
}

static void keepcaps(void)
{
	T("PR_GET_KEEPCAPS", SC(SYS_prctl, (long)PR_GET_KEEPCAPS, 0L, 0L, 0L, 0L));
	T("PR_SET_KEEPCAPS(2)", SC(SYS_prctl, (long)PR_SET_KEEPCAPS, 2L, 0L, 0L, 0L));
	T("PR_SET_KEEPCAPS(1)", SC(SYS_prctl, (long)PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L));
	T("PR_GET_KEEPCAPS", SC(SYS_prctl, (long)PR_GET_KEEPCAPS, 0L, 0L, 0L, 0L));
	T("setresuid(1000, 1000, 1000)", SC(SYS_setresuid, 1000L, 1000L, 1000L));
	show_caps("kept");
	struct caps c = get_caps();
	c.eff = c.perm & (1ULL << K_CAP_SETUID);
	T("capset(raise CAP_SETUID)", set_caps(c));
	T("setuid(0) (with CAP_SETUID)", SC(SYS_setuid, 0L));
	show_ids("end");
}

static void user(void)
{
	T("setuid(1000)", SC(SYS_setuid, 1000L));
	show_caps("as 1000");
	struct caps c = get_caps();
	c.perm = c.eff = 1ULL << K_CAP_KILL;
	T("capset(raise CAP_KILL)", set_caps(c));
	T("setuid(0)", SC(SYS_setuid, 0L));
	T("setreuid(0, -1)", SC(SYS_setreuid, 0L, -1L));
	T("setresuid(-1, -1, 0)", SC(SYS_setresuid, -1L, -1L, 0L));
	T("setuid(1000)", SC(SYS_setuid, 1000L));
	T("setfsuid(0) (answers 1000, unchanged)", SC(SYS_setfsuid, 0L));
	T("setfsuid(-1)", SC(SYS_setfsuid, -1L));
}

int main(int argc, char **argv)
{
	setup(argc, argv, "creds");
	int root = geteuid() == 0;
	printf("running as root: %s\n", root ? "yes" : "no");
	show_caps("at start");
	if (root) {
		in_child("root setuid", root_setuid);
		in_child("root setresuid", root_resuid);
		in_child("root setreuid", root_reuid);
		in_child("fs ids", fsids);
		in_child("groups", groups);
		in_child("capabilities", capabilities);
		in_child("keepcaps", keepcaps);
	}
	in_child("unprivileged", user);
	printf("done\n");
	return 0;
}
