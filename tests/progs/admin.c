/*
 * System administration calls: sethostname / setdomainname in a UTS
 * namespace of the program's own (unshare(CLONE_NEWUTS), so the host's
 * name never changes), personality (query, PER_LINUX32's uname, and
 * ADDR_NO_RANDOMIZE: two executions get the same /proc/self/maps),
 * syslog's argument checks, adjtimex / clock_adjtime queries,
 * clock_settime / settimeofday, reboot, swapon / swapoff, acct and
 * quotactl: first the checks root meets before anything would change,
 * then everything again in a child without capabilities (EPERM where
 * Linux asks for one). Nothing here changes the host: every call that
 * could is made where it must fail.
 */
#include "common.h"
#include <sched.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>

#define K_CAP_V3 0x20080522
#define K_CLONE_NEWUTS 0x04000000
#define K_ADDR_NO_RANDOMIZE 0x0040000
#define K_PER_LINUX32 0x0008
#define QCMD(c, t) (((c) << 8) | (t))
#define K_Q_SYNC 0x800001
#define K_Q_GETQUOTA 0x800007

struct k_cap_header {
	uint32_t version;
	int pid;
};
struct k_cap_data {
	uint32_t effective, permitted, inheritable;
};

/* struct __kernel_timex, 208 bytes. */
struct k_timex {
	uint32_t modes;
	int32_t pad0;
	int64_t offset, freq, maxerror, esterror;
	int32_t status, pad1;
	int64_t constant, precision, tolerance;
	int64_t tv_sec, tv_usec;
	int64_t tick, ppsfreq, jitter;
	int32_t shift, pad2;
	int64_t stabil, jitcnt, calcnt, errcnt, stbcnt;
	int32_t tai;
	int32_t pad[11];
};

static void drop_caps(void)
{
	struct k_cap_header h = { K_CAP_V3, 0 };
	struct k_cap_data d[2];
	memset(d, 0, sizeof d);
	if (SC(SYS_capset, &h, d) != 0) {
		printf("capset: %s\n", errname(errno));
		exit(3);
	}
	/* Make sure: calls below must fail for want of a capability. */
	if (SC(SYS_capget, &h, d) != 0 || d[0].effective || d[1].effective) {
		printf("capabilities still effective\n");
		exit(3);
	}
}

static void show_uname(const char *when)
{
	struct utsname u;
	if (uname(&u) != 0) {
		printf("uname: %s\n", errname(errno));
		return;
	}
	printf("uname %s: nodename=%s domainname=%s machine=%s\n", when, u.nodename, u.domainname,
	       u.machine);
}

static void show_file(const char *path)
{
	char buf[128] = { 0 };
	int fd = (int)SC(SYS_open, path, O_RDONLY);
	if (fd < 0) {
		printf("%s: %s\n", path, errname(errno));
		return;
	}
	long n = SC(SYS_read, fd, buf, sizeof buf - 1);
	SC(SYS_close, fd);
	printf("%s: %s", path, n > 0 ? buf : "(empty)\n");
}

static void write_file(const char *path, const char *text)
{
	int fd = (int)SC(SYS_open, path, O_WRONLY);
	if (fd < 0) {
		printf("open(%s, O_WRONLY) = -1 %s\n", path, errname(errno));
		return;
	}
	T("write", SC(SYS_write, fd, text, strlen(text)));
	SC(SYS_close, fd);
}

/* In a UTS namespace of its own: the names change there only. */
static void uts_child(void)
{
	T("unshare(CLONE_NEWUTS)", SC(SYS_unshare, K_CLONE_NEWUTS));
	T("sethostname(veil-test)", SC(SYS_sethostname, "veil-test", 9));
	T("setdomainname(example.org)", SC(SYS_setdomainname, "example.org", 11));
	show_uname("after set");
	show_file("/proc/sys/kernel/hostname");
	show_file("/proc/sys/kernel/domainname");
	T("sethostname(len 65)", SC(SYS_sethostname, "x", 65));
	T("sethostname(len -1)", SC(SYS_sethostname, "x", -1));
	T("sethostname(BADPTR)", SC(SYS_sethostname, BADPTR, 4));
	T("sethostname(64 bytes)", SC(SYS_sethostname, long_name(64), 64));
	struct utsname u;
	uname(&u);
	printf("nodename length: %zu\n", strlen(u.nodename));
	T("sethostname(len 0)", SC(SYS_sethostname, "", 0));
	show_file("/proc/sys/kernel/hostname");
	write_file("/proc/sys/kernel/hostname", "from-proc\nignored");
	write_file("/proc/sys/kernel/domainname", "dom");
	show_uname("after /proc writes");
	/* A grandchild inherits the namespace; its changes are seen here. */
	pid_t p = fork();
	if (p == 0) {
		SC(SYS_sethostname, "grandchild", 10);
		_exit(0);
	}
	waitpid(p, NULL, 0);
	show_uname("after grandchild");
	drop_caps();
	T("sethostname without CAP_SYS_ADMIN", SC(SYS_sethostname, "x", 1));
	T("setdomainname without CAP_SYS_ADMIN", SC(SYS_setdomainname, "x", 65));
	int fd = (int)SC(SYS_open, "/proc/sys/kernel/hostname", O_WRONLY);
	check("hostname still writable by uid 0 file permission", fd >= 0);
}

/* Prints a digest of this process's mappings (for the layout checks). */
static unsigned long maps_digest(void)
{
	char buf[65536];
	size_t len = 0;
	int fd = (int)SC(SYS_open, "/proc/self/maps", O_RDONLY);
	long n;
	while (fd >= 0 && (n = SC(SYS_read, fd, buf + len, sizeof buf - len)) > 0)
		len += (size_t)n;
	unsigned long h = 5381;
	for (size_t i = 0; i < len; i++)
		h = h * 33 + (unsigned char)buf[i];
	return h;
}

/* Runs this program again with "maps" and returns the digest it prints. */
static unsigned long exec_digest(void)
{
	int p[2];
	if (pipe(p) != 0)
		return 0;
	pid_t c = fork();
	if (c == 0) {
		dup2(p[1], 1);
		char *argv[] = { "admin", "maps", NULL };
		execv("/proc/self/exe", argv);
		_exit(9);
	}
	close(p[1]);
	unsigned long d = 0;
	char buf[64] = { 0 };
	if (read(p[0], buf, sizeof buf - 1) > 0)
		d = strtoul(buf, NULL, 16);
	close(p[0]);
	waitpid(c, NULL, 0);
	return d;
}

static void personality_checks(void)
{
	T("personality(query)", SC(SYS_personality, 0xffffffffUL));
	T("personality(PER_LINUX32)", SC(SYS_personality, K_PER_LINUX32));
	show_uname("as PER_LINUX32");
	T("personality(0xfffffff0)", SC(SYS_personality, 0xfffffff0UL));
	T("personality(query)", SC(SYS_personality, 0xffffffffUL));
	T("personality(0)", SC(SYS_personality, 0));
	unsigned long a = exec_digest(), b = exec_digest();
	check("randomized layouts differ", a && b && a != b);
	T("personality(ADDR_NO_RANDOMIZE)", SC(SYS_personality, K_ADDR_NO_RANDOMIZE));
	a = exec_digest();
	b = exec_digest();
	check("ADDR_NO_RANDOMIZE layouts equal", a && a == b);
	pid_t c = fork();
	if (c == 0) {
		printf("child persona: %#lx\n", (long)SC(SYS_personality, 0xffffffffUL));
		_exit(0);
	}
	waitpid(c, NULL, 0);
	T("personality(0)", SC(SYS_personality, 0));
}

static void syslog_checks(void)
{
	char buf[64];
	check("syslog(SIZE_BUFFER) > 0", SC(SYS_syslog, 10, 0, 0) > 0);
	T("syslog(OPEN)", SC(SYS_syslog, 1, 0, 0));
	T("syslog(CLOSE)", SC(SYS_syslog, 0, 0, 0));
	T("syslog(READ_ALL, NULL, 10)", SC(SYS_syslog, 3, NULL, 10));
	T("syslog(READ_ALL, buf, -1)", SC(SYS_syslog, 3, buf, -1));
	T("syslog(READ_ALL, buf, 0)", SC(SYS_syslog, 3, buf, 0));
	T("syslog(READ, NULL, 1)", SC(SYS_syslog, 2, NULL, 1));
	T("syslog(READ, buf, 0)", SC(SYS_syslog, 2, buf, 0));
	T("syslog(CONSOLE_LEVEL, 0)", SC(SYS_syslog, 8, NULL, 0));
	T("syslog(CONSOLE_LEVEL, 9)", SC(SYS_syslog, 8, NULL, 9));
	T("syslog(99)", SC(SYS_syslog, 99, NULL, 0));
}

static void time_checks(void)
{
	struct k_timex tx;
	memset(&tx, 0, sizeof tx);
	long r = SC(SYS_adjtimex, &tx);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	printf("adjtimex(query): ok=%s precision=%lld tolerance=%lld tick=%lld time_close=%s\n",
	       (r == 0 || r == 5) ? "yes" : "no", (long long)tx.precision,
	       (long long)tx.tolerance, (long long)tx.tick,
	       (now.tv_sec - tx.tv_sec) <= 2 && (now.tv_sec - tx.tv_sec) >= 0 ? "yes" : "no");
	memset(&tx, 0, sizeof tx);
	tx.modes = 0xa001; /* ADJ_OFFSET_SS_READ */
	r = SC(SYS_adjtimex, &tx);
	printf("adjtimex(SS_READ): ok=%s offset=%lld\n", (r == 0 || r == 5) ? "yes" : "no",
	       (long long)tx.offset);
	tx.modes = 0x8000;
	T("adjtimex(ADJ_ADJTIME alone)", SC(SYS_adjtimex, &tx));
	tx.modes = 0x4000;
	tx.tick = 1;
	T("adjtimex(ADJ_TICK 1)", SC(SYS_adjtimex, &tx));
	memset(&tx, 0, sizeof tx);
	tx.modes = 0x0100 | 0x2000; /* ADJ_SETOFFSET | ADJ_NANO */
	tx.tv_usec = 1000000000;
	T("adjtimex(ADJ_SETOFFSET bad nsec)", SC(SYS_adjtimex, &tx));
	T("adjtimex(BADPTR)", SC(SYS_adjtimex, BADPTR));
	memset(&tx, 0, sizeof tx);
	r = SC(SYS_clock_adjtime, CLOCK_REALTIME, &tx);
	printf("clock_adjtime(REALTIME): ok=%s\n", (r == 0 || r == 5) ? "yes" : "no");
	T("clock_adjtime(MONOTONIC)", SC(SYS_clock_adjtime, CLOCK_MONOTONIC, &tx));
	T("clock_adjtime(BOOTTIME)", SC(SYS_clock_adjtime, CLOCK_BOOTTIME, &tx));
	T("clock_adjtime(10)", SC(SYS_clock_adjtime, 10, &tx));
	T("clock_adjtime(99, NULL)", SC(SYS_clock_adjtime, 99, NULL));
	T("clock_adjtime(cpu clock)", SC(SYS_clock_adjtime, -2, &tx));
	struct timespec ts = { 1, 0 };
	T("clock_settime(MONOTONIC)", SC(SYS_clock_settime, CLOCK_MONOTONIC, &ts));
	T("clock_settime(TAI)", SC(SYS_clock_settime, 11, &ts));
	T("clock_settime(10)", SC(SYS_clock_settime, 10, &ts));
	T("clock_settime(REALTIME, NULL)", SC(SYS_clock_settime, CLOCK_REALTIME, NULL));
	T("clock_settime(MONOTONIC, NULL)", SC(SYS_clock_settime, CLOCK_MONOTONIC, NULL));
	ts.tv_sec = -1;
	T("clock_settime(REALTIME, -1 s)", SC(SYS_clock_settime, CLOCK_REALTIME, &ts));
	ts.tv_sec = 1;
	ts.tv_nsec = 1000000000;
	T("clock_settime(REALTIME, nsec 1e9)", SC(SYS_clock_settime, CLOCK_REALTIME, &ts));
	T("clock_settime(cpu clock)", SC(SYS_clock_settime, -2, &ts));
	long tv[2] = { 0, 1000000 };
	T("settimeofday(usec 1e6)", SC(SYS_settimeofday, tv, NULL));
	tv[1] = -1;
	T("settimeofday(usec -1)", SC(SYS_settimeofday, tv, NULL));
	T("settimeofday(BADPTR)", SC(SYS_settimeofday, BADPTR, NULL));
	T("settimeofday(NULL, NULL)", SC(SYS_settimeofday, NULL, NULL));
}

static void machine_checks(void)
{
	make_file("plain", "not swap\n", 0600);
	T("reboot(bad magic)", SC(SYS_reboot, 1, 2, 0, NULL));
	T("swapon(bad flags)", SC(SYS_swapon, "plain", 0x80000));
	T("swapon(/nonexistent)", SC(SYS_swapon, "/nonexistent", 0));
	T("swapoff(/nonexistent)", SC(SYS_swapoff, "/nonexistent"));
	T("swapoff(plain)", SC(SYS_swapoff, "plain"));
	T("acct(/nonexistent/x)", SC(SYS_acct, "/nonexistent/x"));
	T("acct(/)", SC(SYS_acct, "/"));
	T("acct(/dev/null)", SC(SYS_acct, "/dev/null"));
	T("acct(BADPTR)", SC(SYS_acct, BADPTR));
	T("quotactl(Q_SYNC, NULL)", SC(SYS_quotactl, QCMD(K_Q_SYNC, 0), NULL, 0, NULL));
	T("quotactl(Q_GETQUOTA, NULL)", SC(SYS_quotactl, QCMD(K_Q_GETQUOTA, 0), NULL, 0, NULL));
	T("quotactl(type 5)", SC(SYS_quotactl, QCMD(K_Q_GETQUOTA, 5), "plain", 0, NULL));
	T("quotactl(plain)", SC(SYS_quotactl, QCMD(K_Q_GETQUOTA, 0), "plain", 0, NULL));
	T("quotactl(/nonexistent)", SC(SYS_quotactl, QCMD(K_Q_GETQUOTA, 0), "/nonexistent", 0, NULL));
}

/* Without any capability: Linux's EPERM where one is needed. */
static void uncapable_child(void)
{
	drop_caps();
	char buf[64];
	struct k_timex tx;
	memset(&tx, 0, sizeof tx);
	long r = SC(SYS_adjtimex, &tx);
	printf("adjtimex(query) without caps: ok=%s\n", (r == 0 || r == 5) ? "yes" : "no");
	tx.modes = 0x0002; /* ADJ_FREQUENCY */
	T("adjtimex(ADJ_FREQUENCY)", SC(SYS_adjtimex, &tx));
	tx.modes = 0x8001; /* ADJ_OFFSET_SINGLESHOT */
	T("adjtimex(ADJ_OFFSET_SINGLESHOT)", SC(SYS_adjtimex, &tx));
	tx.modes = 0x4000;
	tx.tick = 1;
	T("adjtimex(ADJ_TICK 1)", SC(SYS_adjtimex, &tx));
	struct timespec ts = { 1, 0 };
	T("clock_settime(REALTIME)", SC(SYS_clock_settime, CLOCK_REALTIME, &ts));
	ts.tv_nsec = -1;
	T("clock_settime(REALTIME, bad nsec)", SC(SYS_clock_settime, CLOCK_REALTIME, &ts));
	T("settimeofday(NULL, NULL)", SC(SYS_settimeofday, NULL, NULL));
	T("sethostname", SC(SYS_sethostname, "x", 1));
	T("unshare(CLONE_NEWUTS)", SC(SYS_unshare, K_CLONE_NEWUTS));
	T("syslog(CLEAR)", SC(SYS_syslog, 5, NULL, 0));
	T("syslog(CONSOLE_LEVEL 4)", SC(SYS_syslog, 8, buf, 4));
	T("syslog(99)", SC(SYS_syslog, 99, NULL, 0));
	T("reboot(bad magic)", SC(SYS_reboot, 1, 2, 0, NULL));
	T("reboot(RESTART)", SC(SYS_reboot, 0xfee1dead, 672274793, 0x01234567, NULL));
	T("swapon(bad flags)", SC(SYS_swapon, "plain", 0x80000));
	T("swapon(plain)", SC(SYS_swapon, "plain", 0));
	T("swapoff(plain)", SC(SYS_swapoff, "plain"));
	T("acct(NULL)", SC(SYS_acct, NULL));
	T("acct(plain)", SC(SYS_acct, "plain"));
	T("vhangup", SC(SYS_vhangup));
	T("ioprio_set(RT)", SC(SYS_ioprio_set, 1, 0, 1 << 13));
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "maps") == 0) {
		printf("%lx\n", maps_digest());
		return 0;
	}
	setup(argc, argv, "admin");
	pid_t p = fork();
	if (p == 0) {
		uts_child();
		_exit(0);
	}
	int st;
	waitpid(p, &st, 0);
	printf("uts child: exited=%d status=%d\n", WIFEXITED(st), WEXITSTATUS(st));
	personality_checks();
	syslog_checks();
	time_checks();
	machine_checks();
	p = fork();
	if (p == 0) {
		uncapable_child();
		_exit(0);
	}
	waitpid(p, &st, 0);
	printf("uncapable child: exited=%d status=%d\n", WIFEXITED(st), WEXITSTATUS(st));
	printf("done\n");
	return 0;
}
