/*
 * /proc/self files beyond the basics: io (counters that move with reads
 * and writes), smaps and smaps_rollup (one block per maps line, sizes that
 * add up), auxv (the vector the program started with), ns/ (namespace
 * links whose number is the inode their target stats as, shared with a
 * child, new after unshare(CLONE_NEWNS)), loginuid, and a few /proc/sys
 * tunables.
 *
 * Values that differ between runs or machines are never printed; the
 * program prints comparisons.
 */
#include "common.h"
#include <sched.h>
#include <sys/auxv.h>
#include <sys/wait.h>

static char big[1 << 18];
static char maps[1 << 16];

/* Reads a whole file into dst (NUL-terminated); returns its length or
 * -errno. */
static long slurp_into(const char *path, char *dst, size_t cap)
{
	int fd = (int)SC(SYS_open, path, O_RDONLY);
	if (fd < 0)
		return -errno;
	long total = 0, n;
	while ((n = SC(SYS_read, fd, dst + total, cap - 1 - total)) > 0)
		total += n;
	SC(SYS_close, fd);
	if (n < 0)
		return -errno;
	dst[total] = 0;
	return total;
}

/* The number after "key:" in text, or -1. */
static long long num_field(const char *text, const char *key)
{
	size_t k = strlen(key);
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, key, k) == 0 && l[k] == ':')
			return strtoll(l + k + 1, NULL, 10);
	}
	return -1;
}

static int count_lines(const char *text)
{
	int n = 0;
	for (; *text; text++)
		n += *text == '\n';
	return n;
}

static void io_counters(void)
{
	char text[512];
	if (slurp_into("/proc/self/io", text, sizeof text) < 0) {
		printf("io: %s\n", strerror(errno));
		return;
	}
	const char *keys[] = {"rchar", "wchar", "syscr", "syscw", "read_bytes",
			      "write_bytes", "cancelled_write_bytes"};
	for (unsigned i = 0; i < sizeof keys / sizeof *keys; i++)
		printf("io %s present: %s\n", keys[i], num_field(text, keys[i]) >= 0 ? "yes" : "no");
	long long r0 = num_field(text, "rchar"), w0 = num_field(text, "wchar");
	long long sr0 = num_field(text, "syscr"), sw0 = num_field(text, "syscw");
	/* 3 writes of 1000 bytes and 2 reads of 1000 bytes through a pipe. */
	int p[2];
	if (pipe(p) < 0)
		return;
	char chunk[1000];
	memset(chunk, 'x', sizeof chunk);
	for (int i = 0; i < 3; i++)
		SC(SYS_write, p[1], chunk, sizeof chunk);
	for (int i = 0; i < 2; i++)
		SC(SYS_read, p[0], chunk, sizeof chunk);
	close(p[0]);
	close(p[1]);
	slurp_into("/proc/self/io", text, sizeof text);
	long long r1 = num_field(text, "rchar"), w1 = num_field(text, "wchar");
	long long sr1 = num_field(text, "syscr"), sw1 = num_field(text, "syscw");
	/* Reading /proc/self/io itself counts too (its text and the final
	 * zero-length read): at least what we did, and not wildly more. */
	printf("io wchar grew by >= 3000: %s\n", w1 - w0 >= 3000 ? "yes" : "no");
	printf("io rchar grew by >= 2000: %s\n", r1 - r0 >= 2000 ? "yes" : "no");
	printf("io syscw grew by >= 3: %s\n", sw1 - sw0 >= 3 ? "yes" : "no");
	printf("io syscr grew by >= 2: %s\n", sr1 - sr0 >= 2 ? "yes" : "no");
	struct stat st;
	if (stat("/proc/self/io", &st) == 0)
		printf("io mode %o\n", st.st_mode & 0777);
}

static void smaps(void)
{
	/* Touch the buffers first so that reading does not change the
	 * address space between the two reads. */
	memset(big, 1, sizeof big);
	memset(maps, 1, sizeof maps);
	long m = slurp_into("/proc/self/maps", maps, sizeof maps);
	long s = slurp_into("/proc/self/smaps", big, sizeof big);
	if (m < 0 || s < 0) {
		printf("smaps: %s\n", strerror(errno));
		return;
	}
	int vmas = count_lines(maps);
	/* Every maps line starts a block in smaps, in the same order. */
	int blocks = 0, same_order = 1, with_all = 1;
	long long rss_sum = 0;
	const char *ml = maps;
	for (const char *l = big; *l; l = strchr(l, '\n') + 1) {
		const char *nl = strchr(l, '\n');
		if (!nl)
			break;
		const char *colon = memchr(l, ':', nl - l);
		const char *dash = memchr(l, '-', nl - l);
		int header = dash && (!colon || dash < colon) && l[0] != ' ' &&
			     strncmp(l, "VmFlags", 7) != 0 && strncmp(l, "THPeligible", 11) != 0 &&
			     ((l[0] >= '0' && l[0] <= '9') || (l[0] >= 'a' && l[0] <= 'f'));
		if (header) {
			blocks++;
			const char *mnl = strchr(ml, '\n');
			if (!mnl || (size_t)(mnl - ml) != (size_t)(nl - l) || memcmp(ml, l, nl - l) != 0)
				same_order = 0;
			else
				ml = mnl + 1;
			/* The block must have Size, Rss, Pss and VmFlags. */
			const char *next = nl + 1;
			const char *end = strstr(next, "VmFlags:");
			if (!end || num_field(next, "Size") < 0 || num_field(next, "Rss") < 0 ||
			    num_field(next, "Pss") < 0)
				with_all = 0;
			long long rss = num_field(next, "Rss");
			if (rss > 0)
				rss_sum += rss;
		}
	}
	printf("smaps blocks == maps lines: %s\n", blocks == vmas && blocks > 0 ? "yes" : "no");
	printf("smaps headers are the maps lines: %s\n", same_order ? "yes" : "no");
	printf("smaps blocks have Size/Rss/Pss/VmFlags: %s\n", with_all ? "yes" : "no");
	printf("smaps Rss covers the 256 KiB buffer: %s\n", rss_sum >= 256 ? "yes" : "no");
	/* The field layout: "Rss:" then the value right-aligned, " kB". */
	const char *rss = strstr(big, "\nRss:");
	printf("smaps Rss line layout: %s\n",
	       rss && strncmp(rss + 1 + 16 + 8, " kB", 3) == 0 ? "yes" : "no");

	char roll[4096];
	if (slurp_into("/proc/self/smaps_rollup", roll, sizeof roll) < 0) {
		printf("smaps_rollup: %s\n", strerror(errno));
		return;
	}
	printf("rollup first line ends [rollup]: %s\n",
	       strstr(roll, "[rollup]\n") && strstr(roll, "[rollup]\n") < strchr(roll, '\n') + 1
		       ? "yes" : "no");
	const char *keys[] = {"Rss", "Pss", "Pss_Anon", "Pss_File", "Shared_Clean", "Private_Dirty",
			      "Anonymous", "Swap", "Locked"};
	for (unsigned i = 0; i < sizeof keys / sizeof *keys; i++)
		printf("rollup %s present: %s\n", keys[i], num_field(roll, keys[i]) >= 0 ? "yes" : "no");
	long long total = num_field(roll, "Rss");
	printf("rollup Rss >= 256 kB: %s\n", total >= 256 ? "yes" : "no");
	long long anon = num_field(roll, "Pss_Anon"), file = num_field(roll, "Pss_File");
	long long shmem = num_field(roll, "Pss_Shmem");
	printf("rollup Pss parts <= Pss: %s\n",
	       anon + file + shmem <= num_field(roll, "Pss") ? "yes" : "no");
}

static void auxv(void)
{
	unsigned long words[512];
	long n = slurp_into("/proc/self/auxv", (char *)words, sizeof words);
	if (n < 0) {
		printf("auxv: %s\n", strerror((int)-n));
		return;
	}
	printf("auxv size multiple of 16: %s\n", n % 16 == 0 ? "yes" : "no");
	int found_null = 0, pagesz = 0, entry = 0, phdr = 0, random_ok = 0;
	for (long i = 0; i + 1 < n / 8; i += 2) {
		unsigned long k = words[i], v = words[i + 1];
		if (k == AT_NULL) {
			found_null = (i + 2) * 8 == n;
			break;
		}
		if (k == AT_PAGESZ)
			pagesz = v == getauxval(AT_PAGESZ);
		if (k == AT_ENTRY)
			entry = v == getauxval(AT_ENTRY);
		if (k == AT_PHDR)
			phdr = v == getauxval(AT_PHDR);
		if (k == AT_RANDOM)
			random_ok = v == getauxval(AT_RANDOM);
	}
	printf("auxv ends with AT_NULL: %s\n", found_null ? "yes" : "no");
	printf("auxv AT_PAGESZ/ENTRY/PHDR/RANDOM match getauxval: %s %s %s %s\n",
	       pagesz ? "yes" : "no", entry ? "yes" : "no", phdr ? "yes" : "no",
	       random_ok ? "yes" : "no");
	/* A forked child has the same vector. */
	pid_t c = fork();
	if (c == 0) {
		unsigned long w2[512];
		long n2 = slurp_into("/proc/self/auxv", (char *)w2, sizeof w2);
		_exit(n2 == n && memcmp(w2, words, n) == 0 ? 0 : 1);
	}
	int st;
	waitpid(c, &st, 0);
	printf("auxv same in a fork child: %s\n", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "yes" : "no");
}

/* The number in "kind:[N]", or 0. */
static unsigned long long ns_link(const char *path, const char *kind)
{
	char t[128];
	long n = SC(SYS_readlink, path, t, sizeof t - 1);
	if (n < 0)
		return 0;
	t[n] = 0;
	size_t k = strlen(kind);
	if (strncmp(t, kind, k) != 0 || t[k] != ':' || t[k + 1] != '[' || t[n - 1] != ']')
		return 0;
	return strtoull(t + k + 2, NULL, 10);
}

static void namespaces(void)
{
	const char *kinds[] = {"cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"};
	for (unsigned i = 0; i < sizeof kinds / sizeof *kinds; i++) {
		char path[64];
		snprintf(path, sizeof path, "/proc/self/ns/%s", kinds[i]);
		unsigned long long id = ns_link(path, kinds[i]);
		struct stat st;
		int ok = stat(path, &st) == 0 && (unsigned long long)st.st_ino == id;
		printf("ns %s: link well formed %s, stat ino matches %s\n", kinds[i],
		       id ? "yes" : "no", ok ? "yes" : "no");
	}
	printf("ns pid_for_children names pid: %s\n",
	       ns_link("/proc/self/ns/pid_for_children", "pid") ? "yes" : "no");
	struct stat st;
	printf("ns dir mode %o\n", stat("/proc/self/ns", &st) == 0 ? st.st_mode & 07777 : 0);
	printf("ns write open: %s\n",
	       SC(SYS_open, "/proc/self/ns/mnt", O_WRONLY) < 0 ? strerror(errno) : "opened");
	unsigned long long mnt = ns_link("/proc/self/ns/mnt", "mnt");
	pid_t c = fork();
	if (c == 0) {
		int same = ns_link("/proc/self/ns/mnt", "mnt") == mnt;
		if (unshare(CLONE_NEWNS) != 0)
			_exit(3);
		unsigned long long after = ns_link("/proc/self/ns/mnt", "mnt");
		_exit(same ? (after && after != mnt ? 0 : 2) : 1);
	}
	int status;
	waitpid(c, &status, 0);
	printf("ns child shares mnt, unshare gives a new one: %s\n",
	       WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "yes" : "no");
	printf("ns parent still in its own: %s\n",
	       ns_link("/proc/self/ns/mnt", "mnt") == mnt ? "yes" : "no");
}

static void misc(void)
{
	char t[64];
	long n = slurp_into("/proc/self/loginuid", t, sizeof t);
	printf("loginuid is a number: %s\n", n > 0 && t[0] >= '0' && t[0] <= '9' ? "yes" : "no");
	const char *tunables[] = {"/proc/sys/fs/pipe-max-size", "/proc/sys/net/core/somaxconn",
				  "/proc/sys/fs/nr_open", "/proc/sys/fs/file-max"};
	for (unsigned i = 0; i < sizeof tunables / sizeof *tunables; i++) {
		n = slurp_into(tunables[i], t, sizeof t);
		printf("%s is a positive number: %s\n", tunables[i],
		       n > 1 && strtoll(t, NULL, 10) > 0 && t[n - 1] == '\n' ? "yes" : "no");
	}
	/* F_SETPIPE_SZ up to pipe-max-size works for anyone. */
	n = slurp_into("/proc/sys/fs/pipe-max-size", t, sizeof t);
	long max = strtol(t, NULL, 10);
	int p[2];
	if (pipe(p) == 0) {
		long got = SC(SYS_fcntl, p[0], F_SETPIPE_SZ, max);
		printf("F_SETPIPE_SZ(pipe-max-size) = %s\n", got == max ? "max" : strerror(errno));
		close(p[0]);
		close(p[1]);
	}
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	io_counters();
	smaps();
	auxv();
	namespaces();
	misc();
	return 0;
}
