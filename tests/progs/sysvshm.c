/*
 * System V shared memory: shmget (keys, IPC_CREAT / IPC_EXCL, sizes),
 * shmat (SHM_RDONLY, SHM_RND, SHM_REMAP, SHM_EXEC, fixed addresses),
 * shmdt, shmctl (IPC_STAT / IPC_SET / IPC_RMID with attachments,
 * SHM_LOCK, IPC_INFO, SHM_INFO, SHM_STAT, SHM_STAT_ANY), shm_nattch
 * through fork, exec, exit and mprotect splits, memory shared between
 * processes, /proc/self/maps and /proc/sysvipc/shm, permissions and
 * errors. Runs in its own IPC namespace.
 */
#include "sysvipc.h"
#include <setjmp.h>
#include <sys/mman.h>

#define SHM_RDONLY 010000
#define SHM_RND 020000
#define SHM_REMAP 040000
#define SHM_EXEC 0100000
#define SHM_LOCK 11
#define SHM_UNLOCK 12
#define SHM_STAT 13
#define SHM_INFO 14
#define SHM_STAT_ANY 15
#define PG 4096L

static long shmget_(int key, unsigned long size, int flg)
{
	return SC(SYS_shmget, key, size, flg);
}
static char *shmat_(int id, const void *addr, int flg)
{
	return (char *)SC(SYS_shmat, id, addr, flg);
}
static long shmdt_(const void *addr)
{
	return SC(SYS_shmdt, addr);
}
static long shmctl_(int id, int cmd, void *buf)
{
	return SC(SYS_shmctl, id, cmd, buf);
}

static struct k_shmid_ds stat_of(int id)
{
	struct k_shmid_ds ds;
	memset(&ds, 0xff, sizeof ds);
	if (shmctl_(id, K_IPC_STAT, &ds) != 0)
		printf("IPC_STAT failed: %s\n", errname(errno));
	return ds;
}

static unsigned long nattch(int id)
{
	struct k_shmid_ds ds;
	if (shmctl_(id, K_IPC_STAT, &ds) != 0)
		return 999;
	return ds.nattch;
}

/* The name and permissions /proc/self/maps shows for address p. */
static void maps_line(const char *label, const void *p)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long lo, hi;
	while (f && fgets(line, sizeof line, f)) {
		if (sscanf(line, "%lx-%lx", &lo, &hi) != 2 || (unsigned long)p < lo ||
		    (unsigned long)p >= hi)
			continue;
		char perms[8], off[32], dev[32], ino[32], name[256] = "";
		sscanf(line, "%*s %7s %31s %31s %31s %255[^\n]", perms, off, dev, ino, name);
		const char *n = name;
		while (*n == ' ')
			n++;
		printf("%s: maps %s off=%s dev=%s name=%s\n", label, perms, off, dev, n);
		fclose(f);
		return;
	}
	printf("%s: not in maps\n", label);
	if (f)
		fclose(f);
}

static sigjmp_buf jb;
static volatile int armed;
static void on_segv(int sig)
{
	(void)sig;
	if (!armed)
		_exit(9);
	armed = 0;
	siglongjmp(jb, 1);
}
static void poke(const char *label, volatile char *p)
{
	if (sigsetjmp(jb, 1) == 0) {
		armed = 1;
		*p = 'w';
		armed = 0;
		printf("%s: ok\n", label);
	} else {
		printf("%s: SIGSEGV\n", label);
	}
}

static void basics(void)
{
	printf("-- get\n");
	T("shmget(private, 0)", shmget_(K_IPC_PRIVATE, 0, K_IPC_CREAT | 0600));
	T("shmget(private, huge)", shmget_(K_IPC_PRIVATE, -1UL, K_IPC_CREAT | 0600));
	T("shmget(0x1234, no creat)", shmget_(0x1234, PG, 0));
	long id = shmget_(0x1234, 10000, K_IPC_CREAT | 0640);
	check("shmget(0x1234, creat) ok", id >= 0);
	T("shmget(0x1234, excl)", shmget_(0x1234, 10000, K_IPC_CREAT | K_IPC_EXCL | 0640));
	T("shmget(0x1234, bigger)", shmget_(0x1234, 20000, 0));
	check("shmget(0x1234, smaller) same id", shmget_(0x1234, 100, 0) == id);
	check("shmget(0x1234, 0) same id", shmget_(0x1234, 0, 0) == id);
	check("shmget(0x1234, creat again) same id", shmget_(0x1234, 10, K_IPC_CREAT) == id);
	long p1 = shmget_(K_IPC_PRIVATE, PG, K_IPC_CREAT | 0600);
	long p2 = shmget_(K_IPC_PRIVATE, PG, K_IPC_CREAT | 0600);
	check("private keys make new segments", p1 >= 0 && p2 >= 0 && p1 != p2 && p1 != id);

	struct k_shmid_ds ds = stat_of((int)id);
	printf("stat: key=%#x segsz=%lu mode=%o nattch=%lu uid=%u cuid=%u gid=%u\n",
	       ds.perm.key, ds.segsz, ds.perm.mode, ds.nattch, ds.perm.uid, ds.perm.cuid, ds.perm.gid);
	printf("stat: cpid is me=%s lpid=%d atime=%ld dtime=%ld ctime set=%s\n",
	       ds.cpid == getpid() ? "yes" : "no", ds.lpid, ds.atime, ds.dtime,
	       ds.ctime > 0 ? "yes" : "no");
	proc_header("/proc/sysvipc/shm");
	printf("/proc/sysvipc/shm lines: %d\n", proc_lines("/proc/sysvipc/shm"));

	printf("-- info\n");
	struct k_shminfo info;
	long maxidx = shmctl_(0, K_IPC_INFO, &info);
	printf("IPC_INFO = %ld: shmmax=%lu shmmin=%lu shmmni=%lu shmseg=%lu shmall=%lu\n", maxidx,
	       info.shmmax, info.shmmin, info.shmmni, info.shmseg, info.shmall);
	struct k_shm_info si;
	long maxidx2 = shmctl_(0, SHM_INFO, &si);
	printf("SHM_INFO = %ld: used_ids=%d shm_tot=%lu swp=%lu\n", maxidx2, si.used_ids, si.shm_tot,
	       si.shm_swp);
	struct k_shmid_ds st;
	long sid = shmctl_((int)maxidx, SHM_STAT, &st);
	check("SHM_STAT(max index) gives an id", sid >= 0 && sid == p2);
	check("SHM_STAT_ANY(max index) same", shmctl_((int)maxidx, SHM_STAT_ANY, &st) == sid);
	T("SHM_STAT(unused index)", shmctl_(4000, SHM_STAT, &st));
	T("IPC_STAT(bad ptr)", shmctl_((int)id, K_IPC_STAT, BADPTR));
	T("IPC_SET(bad ptr)", shmctl_((int)id, K_IPC_SET, BADPTR));
	T("IPC_INFO(bad ptr)", shmctl_(0, K_IPC_INFO, BADPTR));
	T("IPC_STAT(-1)", shmctl_(-1, K_IPC_STAT, &st));
	T("IPC_STAT(no such id)", shmctl_((int)id + 100000, K_IPC_STAT, &st));
	T("shmctl(cmd 99)", shmctl_((int)id, 99, &st));
	T("shmctl(cmd -1)", shmctl_((int)id, -1, &st));
	T("IPC_RMID(p1)", shmctl_((int)p1, K_IPC_RMID, NULL));
	T("IPC_RMID(p2)", shmctl_((int)p2, K_IPC_RMID, NULL));
	T("IPC_RMID(p2) again", shmctl_((int)p2, K_IPC_RMID, NULL));

	printf("-- set, lock\n");
	struct k_shmid_ds set = stat_of((int)id);
	set.perm.mode = 0604 | 0100000;
	T("IPC_SET(mode 0604)", shmctl_((int)id, K_IPC_SET, &set));
	printf("mode after IPC_SET: %o\n", stat_of((int)id).perm.mode);
	set.perm.uid = -1;
	T("IPC_SET(uid -1)", shmctl_((int)id, K_IPC_SET, &set));
	T("SHM_LOCK", shmctl_((int)id, SHM_LOCK, NULL));
	printf("mode locked: %o\n", stat_of((int)id).perm.mode);
	T("SHM_UNLOCK", shmctl_((int)id, SHM_UNLOCK, NULL));
	printf("mode unlocked: %o\n", stat_of((int)id).perm.mode);
	T("IPC_RMID(0x1234)", shmctl_((int)id, K_IPC_RMID, NULL));
	T("shmget(0x1234) after rmid", shmget_(0x1234, PG, 0));
}

static void attach(char **argv)
{
	printf("-- attach\n");
	int id = (int)shmget_(0x5678, 3 * PG, K_IPC_CREAT | 0600);
	check("shmget ok", id >= 0);
	T("shmat(-1)", (long)shmat_(-1, NULL, 0));
	T("shmat(no such id)", (long)shmat_(id + 100000, NULL, 0));
	T("shmat(remap, no address)", (long)shmat_(id, NULL, SHM_REMAP));
	char *a = shmat_(id, NULL, 0);
	check("shmat ok", a != (char *)-1);
	printf("nattch: %lu\n", nattch(id));
	struct k_shmid_ds ds = stat_of(id);
	printf("after shmat: lpid is me=%s atime set=%s\n", ds.lpid == getpid() ? "yes" : "no",
	       ds.atime > 0 ? "yes" : "no");
	maps_line("attached", a);
	check("zero filled", a[0] == 0 && a[3 * PG - 1] == 0);
	strcpy(a, "parent");

	char *b = shmat_(id, NULL, SHM_RDONLY);
	check("second attach ok", b != (char *)-1 && b != a);
	printf("nattch: %lu\n", nattch(id));
	printf("read through second: %s\n", b);
	maps_line("read-only", b);
	poke("write read-only", b + 10);
	T("mprotect(read-only, RW)", mprotect(b, PG, PROT_READ | PROT_WRITE));
	T("shmdt(b)", shmdt_(b));
	printf("nattch: %lu\n", nattch(id));

	printf("-- fork\n");
	pid_t pid = fork();
	if (pid == 0) {
		printf("child: nattch=%lu read=%s\n", nattch(id), a);
		strcpy(a + 100, "child was here");
		char *c = shmat_(id, NULL, 0);
		printf("child: second attach nattch=%lu same data=%s\n", nattch(id),
		       strcmp(c + 100, "child was here") == 0 ? "yes" : "no");
		_exit(0);
	}
	reap("child", pid);
	printf("parent reads: %s\n", a + 100);
	ds = stat_of(id);
	printf("after child exit: nattch=%lu lpid is child=%s dtime set=%s\n", ds.nattch,
	       ds.lpid == pid ? "yes" : "no", ds.dtime > 0 ? "yes" : "no");

	printf("-- exec\n");
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		char idstr[32];
		snprintf(idstr, sizeof idstr, "%d", id);
		execl("/proc/self/exe", argv[0], scratch, "nattch", idstr, (char *)NULL);
		_exit(7);
	}
	reap("exec child", pid);

	printf("-- split\n");
	T("mprotect(middle page)", mprotect(a + PG, PG, PROT_READ));
	printf("nattch after split: %lu\n", nattch(id));
	maps_line("middle page", a + PG);
	T("shmdt(a + 1)", shmdt_(a + 1));
	T("shmdt(a + PG)", shmdt_(a + PG));
	T("shmdt(a)", shmdt_(a));
	printf("nattch after shmdt: %lu\n", nattch(id));
	T("shmdt(a) again", shmdt_(a));
	T("shmdt(heap)", shmdt_(malloc(10)));

	printf("-- addresses\n");
	char *p = shmat_(id, NULL, 0);
	T("shmdt(p)", shmdt_(p));
	check("shmat(p + 5, SHM_RND) == p", shmat_(id, p + 5, SHM_RND) == p);
	T("shmat(p + 5) unaligned", (long)shmat_(id, p + 5, 0));
	T("shmat(p) over an attachment", (long)shmat_(id, p, 0));
	check("shmat(p, SHM_REMAP) == p", shmat_(id, p, SHM_REMAP) == p);
	printf("nattch: %lu\n", nattch(id));
	T("shmdt(p)", shmdt_(p));
	char *m = mmap(NULL, 4 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	T("shmat(over an mmap)", (long)shmat_(id, m + PG, 0));
	check("shmat(over an mmap, SHM_REMAP)", shmat_(id, m + PG, SHM_REMAP) == m + PG);
	printf("remapped data: %s\n", m + PG);
	maps_line("remapped", m + PG);
	T("shmdt(m + PG)", shmdt_(m + PG));
	char *x = shmat_(id, NULL, SHM_EXEC | SHM_RDONLY);
	maps_line("exec", x);
	T("shmdt(x)", shmdt_(x));
	printf("nattch: %lu\n", nattch(id));

	printf("-- rmid while attached\n");
	a = shmat_(id, NULL, 0);
	char *a2 = shmat_(id, NULL, 0);
	T("IPC_RMID", shmctl_(id, K_IPC_RMID, NULL));
	ds = stat_of(id);
	printf("after rmid: key=%#x mode=%o nattch=%lu\n", ds.perm.key, ds.perm.mode, ds.nattch);
	T("shmget(0x5678) after rmid", shmget_(0x5678, PG, 0));
	printf("still readable: %s\n", a);
	char *a3 = shmat_(id, NULL, 0);
	check("shmat of a removed segment by id", a3 != (char *)-1);
	printf("nattch: %lu\n", nattch(id));
	maps_line("removed", a3);
	printf("/proc/sysvipc/shm lines: %d\n", proc_lines("/proc/sysvipc/shm"));
	shmdt_(a3);
	shmdt_(a2);
	printf("nattch: %lu\n", nattch(id));
	T("shmdt(last)", shmdt_(a));
	T("IPC_STAT after last detach", shmctl_(id, K_IPC_STAT, &ds));
	printf("/proc/sysvipc/shm lines: %d\n", proc_lines("/proc/sysvipc/shm"));
}

static void perms(void)
{
	printf("-- permissions\n");
	int id = (int)shmget_(0x9abc, PG, K_IPC_CREAT | 0600);
	int ro = (int)shmget_(0x9abd, PG, K_IPC_CREAT | 0604);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		become_nobody();
		struct k_shmid_ds ds;
		check("nobody: shmget(0x9abc, 0) finds it", shmget_(0x9abc, PG, 0) == id);
		T("nobody: shmget(0x9abc, 0400)", shmget_(0x9abc, PG, 0400));
		check("nobody: shmget(0x9abd, 0004) finds it", shmget_(0x9abd, PG, 0004) == ro);
		T("nobody: shmat", (long)shmat_(id, NULL, 0));
		T("nobody: IPC_STAT", shmctl_(id, K_IPC_STAT, &ds));
		check("nobody: SHM_STAT_ANY works", shmctl_(id % 32768, SHM_STAT_ANY, &ds) == id);
		T("nobody: SHM_STAT", shmctl_(id % 32768, SHM_STAT, &ds));
		check("nobody: SHM_STAT of 0604", shmctl_(ro % 32768, SHM_STAT, &ds) == ro);
		T("nobody: IPC_RMID", shmctl_(id, K_IPC_RMID, NULL));
		T("nobody: IPC_SET", shmctl_(ro, K_IPC_SET, &ds));
		T("nobody: SHM_LOCK", shmctl_(id, SHM_LOCK, NULL));
		T("nobody: shmat(0604, rw)", (long)shmat_(ro, NULL, 0));
		char *r = shmat_(ro, NULL, SHM_RDONLY);
		check("nobody: shmat(0604, rdonly)", r != (char *)-1);
		_exit(0);
	}
	reap("nobody", pid);
	T("IPC_RMID", shmctl_(id, K_IPC_RMID, NULL));
	T("IPC_RMID", shmctl_(ro, K_IPC_RMID, NULL));
}

int main(int argc, char **argv)
{
	if (argc > 3 && strcmp(argv[2], "nattch") == 0) {
		/* The image an attached process exec'd: its attachment went. */
		setvbuf(stdout, NULL, _IOLBF, 0);
		printf("after exec: nattch=%lu\n", nattch(atoi(argv[3])));
		return 0;
	}
	setup(argc, argv, "sysvshm");
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_segv;
	sigaction(SIGSEGV, &sa, NULL);
	new_ipc_namespace();
	basics();
	attach(argv);
	perms();
	printf("/proc/sysvipc/shm lines at end: %d\n", proc_lines("/proc/sysvipc/shm"));
	return 0;
}
