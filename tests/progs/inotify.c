/*
 * inotify: inotify_init / inotify_init1 flags, inotify_add_watch argument
 * checks (masks, EBADF, a descriptor that is not an inotify instance,
 * ENOENT, ENOTDIR for IN_ONLYDIR, EACCES without read permission, EFAULT,
 * IN_MASK_CREATE's EEXIST, IN_DONT_FOLLOW), one watch descriptor per
 * inode whatever the path, IN_MASK_ADD, inotify_rm_watch and IN_IGNORED,
 * the events of every kind a directory or a file watch sees (with names,
 * IN_ISDIR, rename cookies shared by the two halves), coalescing of equal
 * consecutive events, name padding, reads with a buffer too small, FIONREAD,
 * poll / epoll readiness, IN_ONESHOT, IN_EXCL_UNLINK, IN_DELETE_SELF
 * deferred to the last close of an unlinked file, watches seeing changes
 * made by another process, a blocking read woken by another process and
 * one interrupted by a signal, and the IN_Q_OVERFLOW event at the
 * 16384-event queue limit.
 */
#include "common.h"
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <sys/wait.h>

#ifndef IN_MASK_CREATE
#define IN_MASK_CREATE 0x10000000
#endif
#ifndef IN_EXCL_UNLINK
#define IN_EXCL_UNLINK 0x04000000
#endif

static const struct {
	uint32_t bit;
	const char *name;
} bits[] = {
	{ IN_ACCESS, "ACCESS" },
	{ IN_MODIFY, "MODIFY" },
	{ IN_ATTRIB, "ATTRIB" },
	{ IN_CLOSE_WRITE, "CLOSE_WRITE" },
	{ IN_CLOSE_NOWRITE, "CLOSE_NOWRITE" },
	{ IN_OPEN, "OPEN" },
	{ IN_MOVED_FROM, "MOVED_FROM" },
	{ IN_MOVED_TO, "MOVED_TO" },
	{ IN_CREATE, "CREATE" },
	{ IN_DELETE, "DELETE" },
	{ IN_DELETE_SELF, "DELETE_SELF" },
	{ IN_MOVE_SELF, "MOVE_SELF" },
	{ IN_UNMOUNT, "UNMOUNT" },
	{ IN_Q_OVERFLOW, "Q_OVERFLOW" },
	{ IN_IGNORED, "IGNORED" },
	{ IN_ISDIR, "ISDIR" },
};

static const char *masknames(uint32_t m)
{
	static char buf[256];
	buf[0] = 0;
	for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++) {
		if (m & bits[i].bit) {
			if (buf[0])
				strcat(buf, "|");
			strcat(buf, bits[i].name);
			m &= ~bits[i].bit;
		}
	}
	if (m) {
		char extra[32];
		snprintf(extra, sizeof extra, "%s0x%x", buf[0] ? "|" : "", m);
		strcat(buf, extra);
	}
	return buf;
}

/* Rename cookies are shown by order of first appearance. */
static uint32_t cookies[256];
static int ncookies;

static int cookie_id(uint32_t c)
{
	if (!c)
		return 0;
	for (int i = 0; i < ncookies; i++)
		if (cookies[i] == c)
			return i + 1;
	if (ncookies < 256)
		cookies[ncookies++] = c;
	return ncookies;
}

/* Prints the events in buf[0..n). */
static void show_events(const char *buf, long n)
{
	long off = 0;
	while (off + (long)sizeof(struct inotify_event) <= n) {
		const struct inotify_event *e = (const void *)(buf + off);
		printf("  wd=%d %s", e->wd, masknames(e->mask));
		if (e->cookie)
			printf(" cookie=C%d", cookie_id(e->cookie));
		if (e->len) {
			/* The name is NUL-padded to the length Linux reports. */
			size_t nl = strnlen(e->name, e->len);
			int padded_ok = 1;
			for (size_t i = nl; i < e->len; i++)
				if (e->name[i])
					padded_ok = 0;
			printf(" len=%u name=%.*s%s", e->len, (int)nl, e->name,
			       padded_ok ? "" : " (bad padding)");
		}
		printf("\n");
		off += sizeof(struct inotify_event) + e->len;
	}
	if (off != n)
		printf("  (%ld stray bytes)\n", n - off);
}

/* Reads and prints every queued event of the non-blocking fd. */
static void drain(int fd, const char *what)
{
	char buf[4096] __attribute__((aligned(8)));
	printf("%s:\n", what);
	for (;;) {
		long n = read(fd, buf, sizeof buf);
		if (n < 0) {
			if (errno != EAGAIN)
				printf("  read = -1 %s\n", errname(errno));
			break;
		}
		show_events(buf, n);
	}
}

static long add(int fd, const char *path, uint32_t mask)
{
	return SC(SYS_inotify_add_watch, fd, path, mask);
}

static void argument_checks(void)
{
	T("inotify_init1(0x1)", SC(SYS_inotify_init1, 1));
	T("inotify_init1(O_RDWR)", SC(SYS_inotify_init1, O_RDWR));
	T("inotify_init1(IN_CLOEXEC|0x100)", SC(SYS_inotify_init1, IN_CLOEXEC | 0x100));
	int a = (int)SC(SYS_inotify_init);
	check("inotify_init works", a >= 0);
	T("fcntl(F_GETFL) of inotify_init", SC(SYS_fcntl, a, F_GETFL) & ~O_LARGEFILE);
	T("fcntl(F_GETFD) of inotify_init", SC(SYS_fcntl, a, F_GETFD));
	int b = (int)SC(SYS_inotify_init1, IN_NONBLOCK | IN_CLOEXEC);
	check("inotify_init1(IN_NONBLOCK|IN_CLOEXEC) works", b >= 0);
	T("fcntl(F_GETFL) with IN_NONBLOCK", SC(SYS_fcntl, b, F_GETFL) & ~O_LARGEFILE);
	T("fcntl(F_GETFD) with IN_CLOEXEC", SC(SYS_fcntl, b, F_GETFD));
	struct stat st;
	T("fstat(inotify)", fstat(b, &st));
	printf("inotify mode=0%o\n", st.st_mode & 07777);
	T("write(inotify)", SC(SYS_write, b, "x", 1));

	make_file("f", "data", 0644);
	SC(SYS_mkdir, "d", 0755);
	SC(SYS_symlink, "f", "lnk");
	int reg = (int)SC(SYS_open, "f", O_RDONLY);

	T("add_watch(mask 0)", add(b, "f", 0));
	T("add_watch(mask 0x1000)", add(b, "f", 0x1000));
	T("add_watch(mask IN_MODIFY|0x08000000)", add(b, "f", IN_MODIFY | 0x08000000));
	T("add_watch(mask 0, bad fd)", add(BADFD, "f", 0));
	T("add_watch(bad fd)", add(BADFD, "f", IN_MODIFY));
	T("add_watch(fd 9999)", add(BIGFD, "f", IN_MODIFY));
	T("add_watch(regular-file fd)", add(reg, "f", IN_MODIFY));
	T("add_watch(MASK_ADD|MASK_CREATE)", add(b, "f", IN_MODIFY | IN_MASK_ADD | IN_MASK_CREATE));
	T("add_watch(missing)", add(b, "missing", IN_MODIFY));
	T("add_watch(\"\")", add(b, "", IN_MODIFY));
	T("add_watch(BADPTR)", add(b, BADPTR, IN_MODIFY));
	T("add_watch(f/x)", add(b, "f/x", IN_MODIFY));
	T("add_watch(f, IN_ONLYDIR)", add(b, "f", IN_MODIFY | IN_ONLYDIR));
	T("add_watch(lnk, IN_ONLYDIR)", add(b, "lnk", IN_MODIFY | IN_ONLYDIR));
	T("add_watch(d, IN_ONLYDIR)", add(b, "d", IN_MODIFY | IN_ONLYDIR));
	T("add_watch(f)", add(b, "f", IN_MODIFY));
	T("add_watch(./f) (same inode)", add(b, "./f", IN_ATTRIB));
	T("add_watch(lnk) (follows to f)", add(b, "lnk", IN_ATTRIB));
	T("add_watch(lnk, IN_DONT_FOLLOW)", add(b, "lnk", IN_ATTRIB | IN_DONT_FOLLOW));
	T("add_watch(f, IN_MASK_CREATE)", add(b, "f", IN_ATTRIB | IN_MASK_CREATE));
	T("add_watch(d/.., IN_MASK_CREATE) (new)", add(b, "d/..", IN_ATTRIB | IN_MASK_CREATE));
	T("add_watch(., IN_MASK_CREATE) (exists)", add(b, ".", IN_ATTRIB | IN_MASK_CREATE));
	T("add_watch(IN_ISDIR only)", add(b, "d", IN_ISDIR));
	T("add_watch(IN_IGNORED only)", add(b, "d", IN_IGNORED));

	T("rm_watch(bad fd)", SC(SYS_inotify_rm_watch, BADFD, 1));
	T("rm_watch(regular-file fd)", SC(SYS_inotify_rm_watch, reg, 1));
	T("rm_watch(wd 99)", SC(SYS_inotify_rm_watch, b, 99));
	T("rm_watch(wd -1)", SC(SYS_inotify_rm_watch, b, -1));
	T("rm_watch(wd 1)", SC(SYS_inotify_rm_watch, b, 1));
	T("rm_watch(wd 1) again", SC(SYS_inotify_rm_watch, b, 1));
	/* Watch descriptors are not reused. */
	T("add_watch(f) after rm_watch", add(b, "f", IN_MODIFY));
	int nb = 0;
	T("ioctl(FIONREAD)", SC(SYS_ioctl, b, FIONREAD, &nb));
	printf("FIONREAD = %d\n", nb);
	T("ioctl(FIONREAD, BADPTR)", SC(SYS_ioctl, b, FIONREAD, BADPTR));
	T("ioctl(TCGETS)", SC(SYS_ioctl, b, 0x5401, &nb));
	drain(b, "IN_IGNORED from rm_watch");

	/* Another instance has its own watch descriptors. */
	T("add_watch(other instance, f)", add(a, "f", IN_MODIFY));
	T("rm_watch(other instance, wd 2)", SC(SYS_inotify_rm_watch, a, 2));
	SC(SYS_close, a);
	SC(SYS_close, b);
	SC(SYS_close, reg);
	SC(SYS_unlink, "f");
	SC(SYS_unlink, "lnk");
	SC(SYS_rmdir, "d");
}

/* Needs read permission on the inode: checked as an ordinary user. */
static void permission_checks(void)
{
	make_file("secret", "s", 0600);
	make_file("public", "p", 0644);
	pid_t pid = fork();
	if (pid == 0) {
		if (SC(SYS_setresgid, 1000L, 1000L, 1000L) || SC(SYS_setresuid, 1000L, 1000L, 1000L)) {
			printf("setresuid failed\n");
			_exit(1);
		}
		int fd = (int)SC(SYS_inotify_init1, 0);
		T("as uid 1000: add_watch(secret)", add(fd, "secret", IN_MODIFY));
		T("as uid 1000: add_watch(public)", add(fd, "public", IN_MODIFY));
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	SC(SYS_unlink, "secret");
	SC(SYS_unlink, "public");
}

static void directory_events(void)
{
	int fd = (int)SC(SYS_inotify_init1, IN_NONBLOCK);
	SC(SYS_mkdir, "w", 0755);
	SC(SYS_mkdir, "other", 0755);
	T("add_watch(w, IN_ALL_EVENTS)", add(fd, "w", IN_ALL_EVENTS));
	T("add_watch(other, IN_ALL_EVENTS)", add(fd, "other", IN_ALL_EVENTS));

	int f = (int)SC(SYS_open, "w/file", O_CREAT | O_WRONLY, 0644);
	SC(SYS_write, f, "hello", 5);
	SC(SYS_write, f, "hello", 5);
	SC(SYS_pwrite64, f, "x", 1, 0);
	SC(SYS_close, f);
	drain(fd, "create, write twice (merged), pwrite, close");

	char buf[16];
	f = (int)SC(SYS_open, "w/file", O_RDONLY);
	SC(SYS_read, f, buf, 3);
	SC(SYS_read, f, buf, 3);
	SC(SYS_read, f, buf, sizeof buf);
	SC(SYS_read, f, buf, sizeof buf); /* end of file: no event */
	SC(SYS_close, f);
	f = (int)SC(SYS_open, "w/file", O_RDWR);
	SC(SYS_close, f);
	f = (int)SC(SYS_open, "w/file", O_PATH);
	SC(SYS_close, f);
	drain(fd, "open, reads, EOF read, close; O_RDWR open and close; O_PATH");
	f = (int)SC(SYS_open, "w/file", O_WRONLY | O_TRUNC);
	SC(SYS_close, f);
	f = (int)SC(SYS_open, "w/file", O_WRONLY | O_CREAT | O_EXCL, 0644);
	T("open(O_CREAT|O_EXCL) of an existing file", f);
	drain(fd, "open O_TRUNC of an existing file; failed O_EXCL");
	make_file("w/file", "0123456789", 0644);
	drain(fd, "refill");

	SC(SYS_chmod, "w/file", 0600);
	SC(SYS_truncate, "w/file", 3);
	SC(SYS_chown, "w/file", -1, -1);
	SC(SYS_truncate, "w/file", 3);
	SC(SYS_chown, "w/file", 0, -1);
	SC(SYS_truncate, "w/file", 2);
	struct timespec ts[2] = { { 1, 0 }, { 2, 0 } };
	SC(SYS_utimensat, AT_FDCWD, "w/file", ts, 0);
	ts[1].tv_nsec = UTIME_OMIT;
	SC(SYS_utimensat, AT_FDCWD, "w/file", ts, 0);
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_nsec = 0;
	SC(SYS_utimensat, AT_FDCWD, "w/file", ts, 0);
	drain(fd, "chmod, truncate, chown(-1,-1), truncate, chown(0,-1), truncate, utimensat both/atime/mtime");

	SC(SYS_link, "w/file", "w/hard");
	SC(SYS_symlink, "file", "w/sym");
	SC(SYS_mkdir, "w/sub", 0755);
	SC(SYS_mknod, "w/fifo", S_IFIFO | 0644, 0);
	drain(fd, "link, symlink, mkdir, mknod");

	SC(SYS_rename, "w/hard", "w/hard2");
	SC(SYS_rename, "w/hard2", "other/moved");
	SC(SYS_rename, "w/sub", "other/sub");
	SC(SYS_rename, "other/sub", "w/sub");
	drain(fd, "renames within, across, a directory there and back");

	f = (int)SC(SYS_open, "w/sub", O_RDONLY | O_DIRECTORY);
	char dents[4096];
	SC(SYS_getdents64, f, dents, sizeof dents);
	SC(SYS_getdents64, f, dents, sizeof dents);
	SC(SYS_close, f);
	drain(fd, "open a subdirectory, getdents twice, close");

	SC(SYS_unlink, "w/sym");
	SC(SYS_unlink, "w/fifo");
	SC(SYS_rmdir, "w/sub");
	SC(SYS_unlink, "other/moved");
	drain(fd, "unlink, unlink, rmdir, unlink in other");

	/* Names padded to 16 bytes, with at least one NUL. */
	const char *names[] = { "a", "abcdefghijklmno", "abcdefghijklmnop", "abcdefghijklmnopq" };
	for (int i = 0; i < 4; i++) {
		char p[64];
		snprintf(p, sizeof p, "w/%s", names[i]);
		SC(SYS_mkdir, p, 0755);
	}
	drain(fd, "name lengths 1, 15, 16, 17");
	for (int i = 0; i < 4; i++) {
		char p[64];
		snprintf(p, sizeof p, "w/%s", names[i]);
		SC(SYS_rmdir, p);
	}
	drain(fd, "rmdir them");

	/* The watched directory itself. */
	f = (int)SC(SYS_open, "w", O_RDONLY | O_DIRECTORY);
	SC(SYS_getdents64, f, dents, sizeof dents);
	SC(SYS_close, f);
	SC(SYS_chmod, "w", 0700);
	drain(fd, "open, list, close and chmod the watched directory");

	SC(SYS_unlink, "w/file");
	SC(SYS_rename, "other", "w/other");
	drain(fd, "unlink the last file, move the other watched directory in");
	SC(SYS_rmdir, "w/other");
	SC(SYS_rmdir, "w");
	drain(fd, "rmdir both watched directories");
	int n = 0;
	SC(SYS_ioctl, fd, FIONREAD, &n);
	printf("FIONREAD after drain = %d\n", n);
	SC(SYS_close, fd);
}

static void file_watch_events(void)
{
	int fd = (int)SC(SYS_inotify_init1, IN_NONBLOCK);
	SC(SYS_mkdir, "fw", 0755);
	make_file("fw/a", "aaaa", 0644);
	make_file("fw/b", "bbbb", 0644);
	T("add_watch(fw/a, IN_ALL_EVENTS)", add(fd, "fw/a", IN_ALL_EVENTS));
	T("add_watch(fw/b, IN_ALL_EVENTS)", add(fd, "fw/b", IN_ALL_EVENTS));
	T("add_watch(fw, IN_CREATE|IN_DELETE|IN_MOVE)", add(fd, "fw", IN_CREATE | IN_DELETE | IN_MOVE));

	int f = (int)SC(SYS_open, "fw/a", O_RDWR);
	SC(SYS_write, f, "x", 1);
	SC(SYS_close, f);
	drain(fd, "open, write, close fw/a");

	SC(SYS_link, "fw/a", "fw/a2");
	SC(SYS_rename, "fw/a", "fw/a3");
	drain(fd, "link fw/a, rename it");

	/* Rename over a watched file: it loses its last link. */
	SC(SYS_rename, "fw/a3", "fw/b");
	drain(fd, "rename fw/a3 over fw/b");

	/* The last unlink of an open file: DELETE_SELF waits for the close. */
	f = (int)SC(SYS_open, "fw/a2", O_RDONLY);
	SC(SYS_unlink, "fw/b");
	drain(fd, "unlink one of two names");
	SC(SYS_unlink, "fw/a2");
	drain(fd, "unlink the last name while open");
	SC(SYS_close, f);
	drain(fd, "close it");
	SC(SYS_rmdir, "fw");
	drain(fd, "rmdir fw");
	SC(SYS_close, fd);
}

static void mask_flags(void)
{
	int fd = (int)SC(SYS_inotify_init1, IN_NONBLOCK);
	make_file("m", "m", 0644);
	T("add_watch(m, IN_OPEN)", add(fd, "m", IN_OPEN));
	T("add_watch(m, IN_CLOSE_NOWRITE) (replaces)", add(fd, "m", IN_CLOSE_NOWRITE));
	int f = (int)SC(SYS_open, "m", O_RDONLY);
	SC(SYS_close, f);
	drain(fd, "open and close after replacing the mask");
	T("add_watch(m, IN_OPEN|IN_MASK_ADD)", add(fd, "m", IN_OPEN | IN_MASK_ADD));
	f = (int)SC(SYS_open, "m", O_RDONLY);
	SC(SYS_close, f);
	drain(fd, "open and close after IN_MASK_ADD");

	T("add_watch(m, IN_OPEN|IN_ONESHOT)", add(fd, "m", IN_OPEN | IN_ONESHOT));
	f = (int)SC(SYS_open, "m", O_RDONLY);
	SC(SYS_close, f);
	f = (int)SC(SYS_open, "m", O_RDONLY);
	SC(SYS_close, f);
	drain(fd, "two opens with IN_ONESHOT");
	T("rm_watch(the oneshot wd)", SC(SYS_inotify_rm_watch, fd, 1));

	/* IN_EXCL_UNLINK: no events for an unlinked child. */
	SC(SYS_mkdir, "ex", 0755);
	make_file("ex/f", "f", 0644);
	make_file("ex/g", "g", 0644);
	T("add_watch(ex, IN_MODIFY|IN_EXCL_UNLINK)", add(fd, "ex", IN_MODIFY | IN_EXCL_UNLINK));
	int fa = (int)SC(SYS_open, "ex/f", O_WRONLY);
	int fb = (int)SC(SYS_open, "ex/g", O_WRONLY);
	SC(SYS_unlink, "ex/f");
	SC(SYS_write, fa, "x", 1);
	SC(SYS_write, fb, "x", 1);
	drain(fd, "writes to an unlinked and a linked child");
	T("add_watch(ex, IN_MODIFY) (drops IN_EXCL_UNLINK)", add(fd, "ex", IN_MODIFY));
	SC(SYS_write, fa, "x", 1);
	drain(fd, "write to the unlinked child");
	SC(SYS_close, fa);
	SC(SYS_close, fb);
	SC(SYS_unlink, "ex/g");
	SC(SYS_rmdir, "ex");
	SC(SYS_unlink, "m");
	drain(fd, "cleanup");
	SC(SYS_close, fd);
}

static void reading(void)
{
	int fd = (int)SC(SYS_inotify_init1, IN_NONBLOCK);
	SC(SYS_mkdir, "r", 0755);
	add(fd, "r", IN_CREATE | IN_DELETE);
	char buf[256] __attribute__((aligned(8)));
	T("read(empty, nonblocking)", SC(SYS_read, fd, buf, sizeof buf));
	struct pollfd p = { .fd = fd, .events = POLLIN };
	T("poll(empty)", poll(&p, 1, 0));
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 7 };
	T("epoll_ctl(ADD inotify)", epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
	T("epoll_wait(empty)", epoll_wait(ep, &ev, 1, 0));

	make_file("r/abcdefghijklmnopqrst", "", 0644);
	T("poll(one event)", poll(&p, 1, 0));
	printf("revents=0x%x\n", p.revents);
	ev.events = 0;
	T("epoll_wait(one event)", epoll_wait(ep, &ev, 1, 0));
	printf("epoll events=0x%x data=%u\n", ev.events, ev.data.u32);
	int n = 0;
	SC(SYS_ioctl, fd, FIONREAD, &n);
	printf("FIONREAD = %d\n", n);
	T("read(0 bytes)", SC(SYS_read, fd, buf, 0));
	T("read(16 bytes)", SC(SYS_read, fd, buf, 16));
	T("read(47 bytes)", SC(SYS_read, fd, buf, 47));
	T("read(BADPTR)", SC(SYS_read, fd, BADPTR, 64));
	/* The EFAULT read consumed the event, as Linux does. */
	T("read(after EFAULT)", SC(SYS_read, fd, buf, sizeof buf));

	make_file("r/x", "", 0644);
	make_file("r/y", "", 0644);
	T("read(room for one event)", SC(SYS_read, fd, buf, 40));
	show_events(buf, 32);
	T("read(the rest)", SC(SYS_read, fd, buf, sizeof buf));
	show_events(buf, 32);
	SC(SYS_unlink, "r/x");
	SC(SYS_unlink, "r/y");
	drain(fd, "rest");
	SC(SYS_close, ep);
	SC(SYS_unlink, "r/abcdefghijklmnopqrst");
	SC(SYS_rmdir, "r");
	SC(SYS_close, fd);
}

static void on_alarm(int sig)
{
	(void)sig;
}

static void blocking(void)
{
	int fd = (int)SC(SYS_inotify_init1, 0);
	SC(SYS_mkdir, "bl", 0755);
	add(fd, "bl", IN_CREATE);
	pid_t pid = fork();
	if (pid == 0) {
		usleep(100000);
		make_file("bl/from-child", "", 0644);
		_exit(0);
	}
	char buf[256] __attribute__((aligned(8)));
	long n = SC(SYS_read, fd, buf, sizeof buf);
	printf("blocking read woken by another process = %ld\n", n);
	show_events(buf, n > 0 ? n : 0);
	int st;
	waitpid(pid, &st, 0);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	alarm(1);
	T("blocking read interrupted by a signal", SC(SYS_read, fd, buf, sizeof buf));
	/* With SA_RESTART, the read restarts and sees the next event. */
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	pid = fork();
	if (pid == 0) {
		usleep(300000);
		make_file("bl/late", "", 0644);
		_exit(0);
	}
	struct itimerval it = { { 0, 0 }, { 0, 100000 } };
	setitimer(ITIMER_REAL, &it, NULL);
	n = SC(SYS_read, fd, buf, sizeof buf);
	printf("restarted read = %ld\n", n);
	show_events(buf, n > 0 ? n : 0);
	waitpid(pid, &st, 0);
	SC(SYS_unlink, "bl/from-child");
	SC(SYS_unlink, "bl/late");
	SC(SYS_rmdir, "bl");
	SC(SYS_close, fd);
}

static void overflow(void)
{
	int fd = (int)SC(SYS_inotify_init1, IN_NONBLOCK);
	make_file("ov", "", 0644);
	add(fd, "ov", IN_OPEN | IN_CLOSE);
	/* Alternating events are never merged: 2 per round. */
	for (int i = 0; i < 8200; i++) {
		int f = (int)SC(SYS_open, "ov", O_RDONLY);
		SC(SYS_close, f);
	}
	int n = 0;
	SC(SYS_ioctl, fd, FIONREAD, &n);
	printf("FIONREAD at the limit = %d (%d events of 16 bytes)\n", n, n / 16);
	static char buf[65536] __attribute__((aligned(8)));
	long total = 0, opens = 0, closes = 0, overflows = 0, other = 0;
	int last_wd = 0;
	uint32_t last_mask = 0;
	for (;;) {
		long r = SC(SYS_read, fd, buf, sizeof buf);
		if (r <= 0)
			break;
		for (long off = 0; off < r;) {
			struct inotify_event *e = (void *)(buf + off);
			total++;
			if (e->mask == IN_OPEN)
				opens++;
			else if (e->mask == IN_CLOSE_NOWRITE)
				closes++;
			else if (e->mask == IN_Q_OVERFLOW)
				overflows++;
			else
				other++;
			last_wd = e->wd;
			last_mask = e->mask;
			off += sizeof *e + e->len;
		}
	}
	printf("events=%ld opens=%ld closes=%ld overflows=%ld other=%ld last: wd=%d %s\n",
	       total, opens, closes, overflows, other, last_wd, masknames(last_mask));
	/* Room again: events queue normally. */
	int f = (int)SC(SYS_open, "ov", O_RDONLY);
	SC(SYS_close, f);
	drain(fd, "after draining an overflowed queue");
	SC(SYS_unlink, "ov");
	drain(fd, "unlink");
	SC(SYS_close, fd);
}

/* A watch sees changes made by another process through another path. */
static void other_process(void)
{
	int fd = (int)SC(SYS_inotify_init1, IN_NONBLOCK);
	SC(SYS_mkdir, "op", 0755);
	make_file("op/f", "", 0644);
	SC(SYS_link, "op/f", "op-link");
	add(fd, "op/f", IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE);
	pid_t pid = fork();
	if (pid == 0) {
		int f = (int)SC(SYS_open, "op-link", O_WRONLY | O_APPEND);
		SC(SYS_write, f, "child", 5);
		SC(SYS_close, f);
		SC(SYS_chmod, "op-link", 0640);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	drain(fd, "a child writes through another name");
	SC(SYS_unlink, "op-link");
	SC(SYS_unlink, "op/f");
	SC(SYS_rmdir, "op");
	drain(fd, "unlink both names");
	SC(SYS_close, fd);
}

/* Watches end when their inode does: when the last holder of an unlinked
 * directory (an open descriptor, a working directory) lets go. */
static void lifetimes(void)
{
	int fd = (int)SC(SYS_inotify_init1, IN_NONBLOCK);
	SC(SYS_mkdir, "lt", 0755);
	SC(SYS_mkdir, "lt/d", 0755);
	T("add_watch(lt/d)", add(fd, "lt/d", IN_ALL_EVENTS));
	int dfd = (int)SC(SYS_open, "lt/d", O_RDONLY | O_DIRECTORY);
	SC(SYS_rmdir, "lt/d");
	drain(fd, "rmdir a watched directory held open");
	SC(SYS_close, dfd);
	drain(fd, "close it");

	SC(SYS_mkdir, "lt/cw", 0755);
	T("add_watch(lt/cw, IN_DELETE_SELF)", add(fd, "lt/cw", IN_DELETE_SELF));
	pid_t pid = fork();
	if (pid == 0) {
		SC(SYS_chdir, "lt/cw");
		T("child: rmdir(../cw) (its working directory)", SC(SYS_rmdir, "../cw"));
		drain(fd, "child: after the rmdir");
		SC(SYS_chdir, scratch);
		drain(fd, "child: after leaving it");
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);

	/* RENAME_EXCHANGE: two moves, two cookies. */
	SC(SYS_mkdir, "lt/x", 0755);
	make_file("lt/x/a", "a", 0644);
	SC(SYS_mkdir, "lt/x/b", 0755);
	T("add_watch(lt/x, IN_MOVE)", add(fd, "lt/x", IN_MOVE));
	T("add_watch(lt/x/a, IN_MOVE_SELF)", add(fd, "lt/x/a", IN_MOVE_SELF));
	T("add_watch(lt/x/b, IN_MOVE_SELF|IN_ATTRIB)", add(fd, "lt/x/b", IN_MOVE_SELF | IN_ATTRIB));
	T("renameat2(a, b, RENAME_EXCHANGE)",
	  SC(SYS_renameat2, AT_FDCWD, "lt/x/a", AT_FDCWD, "lt/x/b", RENAME_EXCHANGE));
	drain(fd, "exchange a file and a directory");
	/* Replacing an empty watched directory. */
	SC(SYS_mkdir, "lt/x/c", 0755);
	T("rename(a, c) (a is the directory now)", SC(SYS_rename, "lt/x/a", "lt/x/c"));
	drain(fd, "rename a directory over an empty one");
	T("rm_watch(lt/x)", SC(SYS_inotify_rm_watch, fd, 3));
	drain(fd, "rm_watch");

	/* INOTIFY_IOC_SETNEXTWD moves the cursor. */
	T("ioctl(SETNEXTWD, 100)", SC(SYS_ioctl, fd, 0x40044900, 100L));
	T("add_watch after SETNEXTWD", add(fd, "lt", IN_CREATE));
	T("ioctl(SETNEXTWD, 0)", SC(SYS_ioctl, fd, 0x40044900, 0L));
	T("ioctl(SETNEXTWD, 1<<31)", SC(SYS_ioctl, fd, 0x40044900, 1L << 31));

	/* Two instances watch one directory; closing one leaves the other. */
	int fd2 = (int)SC(SYS_inotify_init1, IN_NONBLOCK);
	T("second instance: add_watch(lt)", add(fd2, "lt", IN_CREATE | IN_DELETE));
	SC(SYS_mkdir, "lt/n1", 0755);
	drain(fd, "first instance");
	drain(fd2, "second instance");
	SC(SYS_close, fd2);
	SC(SYS_mkdir, "lt/n2", 0755);
	drain(fd, "first instance after the second closed");

	/* Events go to the directory of the name used. */
	SC(SYS_mkdir, "lt/h1", 0755);
	SC(SYS_mkdir, "lt/h2", 0755);
	make_file("lt/h1/f", "", 0644);
	SC(SYS_link, "lt/h1/f", "lt/h2/g");
	add(fd, "lt/h1", IN_MODIFY);
	add(fd, "lt/h2", IN_MODIFY);
	int f = (int)SC(SYS_open, "lt/h2/g", O_WRONLY);
	SC(SYS_write, f, "x", 1);
	SC(SYS_close, f);
	drain(fd, "write through the second name");

	/* A symlink's own watch (IN_DONT_FOLLOW) and its target's. */
	SC(SYS_symlink, "h1/f", "lt/sl");
	T("add_watch(lt/sl, IN_ATTRIB|IN_DONT_FOLLOW)", add(fd, "lt/sl", IN_ATTRIB | IN_DONT_FOLLOW));
	T("add_watch(lt/sl, IN_ATTRIB) (the target)", add(fd, "lt/sl", IN_ATTRIB));
	SC(SYS_fchownat, AT_FDCWD, "lt/sl", 0, 0, AT_SYMLINK_NOFOLLOW);
	SC(SYS_chown, "lt/sl", 0, 0);
	drain(fd, "lchown, then chown through the link");

	SC(SYS_unlink, "lt/sl");
	SC(SYS_unlink, "lt/h1/f");
	SC(SYS_unlink, "lt/h2/g");
	SC(SYS_rmdir, "lt/h1");
	SC(SYS_rmdir, "lt/h2");
	SC(SYS_rmdir, "lt/n1");
	SC(SYS_rmdir, "lt/n2");
	SC(SYS_unlink, "lt/x/b");
	SC(SYS_rmdir, "lt/x/c");
	SC(SYS_rmdir, "lt/x");
	SC(SYS_rmdir, "lt");
	drain(fd, "cleanup");
	SC(SYS_close, fd);
}

/* A file of the host's (the program itself): a lower-layer file in veil. */
static void host_file(void)
{
	int fd = (int)SC(SYS_inotify_init1, IN_NONBLOCK);
	T("add_watch(/proc/self/exe)", add(fd, "/proc/self/exe", IN_OPEN | IN_ACCESS | IN_CLOSE | IN_ATTRIB));
	int f = (int)SC(SYS_open, "/proc/self/exe", O_RDONLY);
	char buf[4];
	SC(SYS_read, f, buf, sizeof buf);
	SC(SYS_close, f);
	drain(fd, "open, read and close the program's own file");
	SC(SYS_close, fd);
}

int main(int argc, char **argv)
{
	setup(argc, argv, "inotify");
	argument_checks();
	permission_checks();
	directory_events();
	file_watch_events();
	mask_flags();
	reading();
	blocking();
	overflow();
	other_process();
	lifetimes();
	host_file();
	return 0;
}
