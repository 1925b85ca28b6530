/*
 * Pseudo-terminals: posix_openpt / grantpt / unlockpt / ptsname, the
 * slave's node in /dev/pts, the default termios, the line discipline
 * (canonical input, echo, ERASE / WERASE / KILL / EOF, raw mode with
 * VMIN / VTIME, ISIG with and without NOFLSH), window size and SIGWINCH,
 * controlling terminals (setsid + open, TIOCSCTTY, /dev/tty, TIOCNOTTY,
 * tcsetpgrp's checks), job control (SIGTTIN, TOSTOP's SIGTTOU, EIO with
 * SIGTTIN ignored), the master's EIO after the slave closes, and the
 * hangup a session sees when the master closes.
 *
 * The parent drives the master; children set up sessions on the slave.
 * Every step is synchronised (pipes, markers the child writes to the
 * terminal), so that the output is the same natively and in veil; pty
 * numbers and pids are never printed.
 */
#include "common.h"
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>

static int to_child[2], to_parent[2];

static void put(int fd, const char *s)
{
	size_t n = strlen(s);
	if (write(fd, s, n) != (ssize_t)n) {
		printf("write failed: %s\n", errname(errno));
		exit(3);
	}
}

static void sync_send(int fd)
{
	char c = 'x';
	if (write(fd, &c, 1) != 1)
		exit(3);
}

static void sync_wait(int fd)
{
	char c;
	if (read(fd, &c, 1) != 1) {
		printf("sync lost\n");
		exit(3);
	}
}

/* Prints bytes with C escapes for control characters. */
static void show(const char *label, const char *b, long n)
{
	printf("%s \"", label);
	for (long i = 0; i < n; i++) {
		unsigned char c = (unsigned char)b[i];
		if (c == '\n')
			printf("\\n");
		else if (c == '\r')
			printf("\\r");
		else if (c == '\b')
			printf("\\b");
		else if (c < 32 || c >= 127)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
	printf("\"\n");
}

/* Reads the master until `mark` arrives (20 s at most); prints what came
 * before it. */
static void collect(int m, const char *label, const char *mark)
{
	char buf[4096];
	long len = 0;
	size_t ml = strlen(mark);
	for (;;) {
		char *p = len >= (long)ml ? memmem(buf, len, mark, ml) : NULL;
		if (p) {
			show(label, buf, p - buf);
			return;
		}
		struct pollfd pfd = { .fd = m, .events = POLLIN };
		if (poll(&pfd, 1, 20000) != 1) {
			show("TIMEOUT waiting; got", buf, len);
			return;
		}
		long r = read(m, buf + len, sizeof buf - 1 - len);
		if (r <= 0) {
			printf("master read = %ld %s\n", r, r < 0 ? errname(errno) : "");
			return;
		}
		len += r;
	}
}

static volatile sig_atomic_t got_int, got_winch, got_hup;
static void on_sig(int s)
{
	if (s == SIGINT)
		got_int++;
	if (s == SIGWINCH)
		got_winch++;
	if (s == SIGHUP)
		got_hup++;
}

static void handle(int sig)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sig;
	sigaction(sig, &sa, NULL);
}

/* Blocks `sig`, tells the parent, and waits for the signal. */
static void await_signal(int sig, volatile sig_atomic_t *flag)
{
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, sig);
	sigprocmask(SIG_BLOCK, &block, &old);
	sync_send(to_parent[1]);
	sigset_t wait = old;
	sigdelset(&wait, sig);
	while (!*flag)
		sigsuspend(&wait);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static void set_lflag(int s, tcflag_t on, tcflag_t off)
{
	struct termios t;
	tcgetattr(s, &t);
	t.c_lflag = (t.c_lflag | on) & ~off;
	tcsetattr(s, TCSANOW, &t);
}

static void describe(const char *what, int st)
{
	if (WIFEXITED(st))
		printf("%s: exited %d\n", what, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		printf("%s: killed by signal %d\n", what, WTERMSIG(st));
	else if (WIFSTOPPED(st))
		printf("%s: stopped by signal %d\n", what, WSTOPSIG(st));
}

/* A grandchild in a background process group of the child's session. */
static pid_t background(int s, int what)
{
	fflush(stdout);
	pid_t g = fork();
	if (g == 0) {
		setpgid(0, 0);
		char b[8];
		if (what == 0) { /* read: SIGTTIN stops it */
			long r = read(s, b, sizeof b);
			printf("  background read returned %ld\n", r);
		} else if (what == 1) { /* read with SIGTTIN ignored: EIO */
			signal(SIGTTIN, SIG_IGN);
			T("  background read, SIGTTIN ignored", read(s, b, sizeof b));
		} else if (what == 2) { /* write with TOSTOP: SIGTTOU stops it */
			long r = write(s, "bg\n", 3);
			printf("  background write returned %ld\n", r);
		} else if (what == 3) { /* write without TOSTOP: fine */
			T("  background write without TOSTOP", write(s, "bg", 2));
		} else if (what == 4) { /* tcsetpgrp with SIGTTOU blocked */
			sigset_t set;
			sigemptyset(&set);
			sigaddset(&set, SIGTTOU);
			sigprocmask(SIG_BLOCK, &set, NULL);
			pid_t old = tcgetpgrp(s);
			T("  background tcsetpgrp(own group), SIGTTOU blocked", tcsetpgrp(s, getpgrp()));
			check("  now in the foreground", tcgetpgrp(s) == getpgrp());
			T("  tcsetpgrp(the old group) back", tcsetpgrp(s, old));
			T("  TIOCSCTTY by a non-leader", ioctl(s, TIOCSCTTY, 0));
			T("  TIOCNOTTY by a non-leader", ioctl(s, TIOCNOTTY));
			T("  open(/dev/tty) after TIOCNOTTY", open("/dev/tty", O_RDWR));
		}
		fflush(stdout);
		_exit(0);
	}
	return g;
}

static void child(const char *name, int m)
{
	close(m);
	close(to_child[1]);
	close(to_parent[0]);
	pid_t me = getpid();
	T("child: setsid() == getpid()", setsid() == me);
	T("child: open(/dev/tty) before any", open("/dev/tty", O_RDWR));
	int s0 = open(name, O_RDWR | O_NOCTTY);
	check("child: open(slave, O_NOCTTY) ok", s0 >= 0);
	T("child: tcgetpgrp(slave) without ctty", tcgetpgrp(s0));
	T("child: TIOCSCTTY", ioctl(s0, TIOCSCTTY, 0));
	T("child: TIOCSCTTY again", ioctl(s0, TIOCSCTTY, 0));
	check("child: tcgetpgrp == me", tcgetpgrp(s0) == me);
	check("child: tcgetsid == me", tcgetsid(s0) == me);
	pid_t sid = -1;
	T("child: TIOCGSID", ioctl(s0, TIOCGSID, &sid));
	check("child: TIOCGSID == me", sid == me);
	close(s0);
	int s = open(name, O_RDWR);
	check("child: open(slave) ok", s >= 0);
	int tty = open("/dev/tty", O_RDWR);
	check("child: open(/dev/tty) ok", tty >= 0);
	struct stat a, b;
	fstat(s, &a);
	fstat(tty, &b);
	check("child: /dev/tty is 5:0", S_ISCHR(b.st_mode) && major(b.st_rdev) == 5 && minor(b.st_rdev) == 0);
	check("child: isatty(/dev/tty)", isatty(tty));
	T("child: tcsetpgrp(-1)", tcsetpgrp(s, -1));
	T("child: tcsetpgrp(no such group)", tcsetpgrp(s, 0x3fffffff));
	T("child: tcsetpgrp(parent's group, another session)", tcsetpgrp(s, getpgid(getppid())));
	fflush(stdout);

	/* Canonical input, echo and editing. */
	char buf[256];
	long r;
	for (int i = 1; i <= 3; i++) {
		sync_send(to_parent[1]);
		r = read(s, buf, sizeof buf);
		show("child: read", buf, r);
		fflush(stdout);
		char mark[8];
		snprintf(mark, sizeof mark, "<%d>\n", i);
		put(s, mark);
	}
	/* EOF: ends a line unread; alone, a read of 0. */
	sync_send(to_parent[1]);
	r = read(s, buf, sizeof buf);
	show("child: read before EOF", buf, r);
	r = read(s, buf, sizeof buf);
	printf("child: read at EOF = %ld\n", r);
	/* A short buffer takes the line in pieces. */
	r = read(s, buf, 3);
	show("child: read(3)", buf, r);
	r = read(s, buf, sizeof buf);
	show("child: rest of the line", buf, r);
	fflush(stdout);
	put(s, "<4>\n");

	/* Raw mode. */
	struct termios t, saved;
	tcgetattr(s, &saved);
	t = saved;
	t.c_lflag &= ~(ICANON | ECHO | ISIG);
	t.c_iflag &= ~ICRNL;
	t.c_cc[VMIN] = 3;
	t.c_cc[VTIME] = 0;
	tcsetattr(s, TCSANOW, &t);
	sync_send(to_parent[1]);
	r = read(s, buf, sizeof buf);
	show("child: raw read, VMIN 3", buf, r);
	t.c_cc[VMIN] = 0;
	tcsetattr(s, TCSANOW, &t);
	r = read(s, buf, sizeof buf);
	printf("child: raw read, VMIN 0 VTIME 0, nothing there = %ld\n", r);
	t.c_cc[VTIME] = 1;
	tcsetattr(s, TCSANOW, &t);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = read(s, buf, sizeof buf);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	printf("child: raw read, VMIN 0 VTIME 1 = %ld (waited about 0.1 s: %s)\n", r,
	       ms >= 50 && ms < 10000 ? "yes" : "no");
	int n = -1;
	T("child: FIONREAD", ioctl(s, FIONREAD, &n));
	printf("  n = %d\n", n);
	fflush(stdout);
	tcsetattr(s, TCSANOW, &saved);
	put(s, "<5>\n");

	/* ISIG: ^C is SIGINT for the foreground group, flushing input (no
	 * echo: what Linux echoes before a flush depends on timing). */
	handle(SIGINT);
	set_lflag(s, 0, ECHO);
	await_signal(SIGINT, &got_int);
	set_lflag(s, 0, ICANON);
	n = -1;
	ioctl(s, FIONREAD, &n);
	printf("child: SIGINT received %d, input left after the flush %d\n", (int)got_int, n);
	set_lflag(s, ICANON | NOFLSH, ECHO);
	got_int = 0;
	await_signal(SIGINT, &got_int);
	set_lflag(s, 0, ICANON);
	n = -1;
	ioctl(s, FIONREAD, &n);
	printf("child: with NOFLSH: SIGINT received %d, input kept %d\n", (int)got_int, n);
	tcflush(s, TCIFLUSH);
	ioctl(s, FIONREAD, &n);
	printf("child: after tcflush(TCIFLUSH) %d\n", n);
	fflush(stdout);
	tcsetattr(s, TCSANOW, &saved);

	/* Window size. */
	handle(SIGWINCH);
	await_signal(SIGWINCH, &got_winch);
	struct winsize ws;
	ioctl(s, TIOCGWINSZ, &ws);
	printf("child: SIGWINCH %d, size %ux%u\n", (int)got_winch, ws.ws_row, ws.ws_col);
	sync_send(to_parent[1]);
	sync_wait(to_child[0]);
	sigset_t pend;
	sigpending(&pend);
	printf("child: same size again, SIGWINCH pending: %s\n", sigismember(&pend, SIGWINCH) ? "yes" : "no");
	fflush(stdout);

	/* Job control. */
	int st;
	pid_t g = background(s, 0);
	waitpid(g, &st, WUNTRACED);
	describe("child: background reader", st);
	kill(g, SIGKILL);
	waitpid(g, &st, 0);
	g = background(s, 1);
	waitpid(g, &st, 0);
	describe("child: reader ignoring SIGTTIN", st);
	set_lflag(s, TOSTOP, 0);
	g = background(s, 2);
	waitpid(g, &st, WUNTRACED);
	describe("child: background writer with TOSTOP", st);
	kill(g, SIGKILL);
	waitpid(g, &st, 0);
	set_lflag(s, 0, TOSTOP);
	g = background(s, 3);
	waitpid(g, &st, 0);
	describe("child: background writer without TOSTOP", st);
	g = background(s, 4);
	waitpid(g, &st, 0);
	describe("child: background tcsetpgrp", st);
	check("child: foreground again", tcgetpgrp(s) == me);
	fflush(stdout);

	/* Last words, then every slave descriptor closes with the child. */
	put(s, "bye\n");
	_exit(0);
}

static void hangup_child(const char *name, int m)
{
	close(m);
	close(to_child[1]);
	close(to_parent[0]);
	setsid();
	int s = open(name, O_RDWR);
	handle(SIGHUP);
	check("session: controlling terminal", tcgetpgrp(s) == getpid());
	fflush(stdout);
	await_signal(SIGHUP, &got_hup);
	printf("session: SIGHUP on hangup %d\n", (int)got_hup);
	char b[8];
	T("session: read after hangup", read(s, b, sizeof b));
	T("session: write after hangup", write(s, "x", 1));
	T("session: tcgetpgrp after hangup", tcgetpgrp(s));
	T("session: open(/dev/tty) after hangup", open("/dev/tty", O_RDWR));
	struct stat st;
	T("session: stat(slave) after hangup", stat(name, &st));
	T("session: open(slave) after hangup", open(name, O_RDWR | O_NOCTTY));
	fflush(stdout);
	_exit(0);
}

#ifndef TIOCGPTPEER
#define TIOCGPTPEER 0x5441
#endif
#ifndef TIOCGEXCL
#define TIOCGEXCL 0x80045440
#endif

/* Reads the master once (20 s at most) and shows the bytes. */
static void read_master(int m, const char *label)
{
	char b[64];
	struct pollfd pfd = { .fd = m, .events = POLLIN };
	if (poll(&pfd, 1, 20000) != 1) {
		printf("%s: TIMEOUT\n", label);
		return;
	}
	long r = read(m, b, sizeof b);
	if (r < 0)
		printf("%s = -1 %s\n", label, errname(errno));
	else
		show(label, b, r);
}

/* The pty ioctls programs use less often, on a fresh pair. */
static void more_ioctls(void)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	unlockpt(m);
	char name[64];
	ptsname_r(m, name, sizeof name);
	int first = (int)ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	check("TIOCGPTPEER opens a descriptor", first >= 0);
	check("  a terminal", isatty(first));
	close(first);
	int s = open(name, O_RDWR | O_NOCTTY);
	int peer = (int)ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	struct stat a, b;
	fstat(s, &a);
	fstat(peer, &b);
	check("  the peer is the slave's node", a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	check("  O_CLOEXEC set", (fcntl(peer, F_GETFD) & FD_CLOEXEC) != 0);
	T("TIOCGPTPEER on the slave", ioctl(s, TIOCGPTPEER, O_RDWR));
	unsigned dev = 0;
	T("TIOCGDEV", ioctl(s, TIOCGDEV, &dev));
	check("  TIOCGDEV is the slave's number", makedev(dev >> 8, (dev & 0xff) | ((dev >> 12) & ~0xffu)) == a.st_rdev);
	T("tcdrain", tcdrain(s));
	T("tcsendbreak", tcsendbreak(s, 0));
	int ld = -1;
	T("TIOCGETD", ioctl(s, TIOCGETD, &ld));
	printf("  = %d\n", ld);
	T("TIOCSETD(N_TTY)", ioctl(s, TIOCSETD, &ld));
	int ex = -1;
	T("TIOCEXCL", ioctl(s, TIOCEXCL));
	ioctl(s, TIOCGEXCL, &ex);
	printf("  exclusive = %d\n", ex);
	int again = open(name, O_RDWR | O_NOCTTY);
	printf("  another open by %s: %s\n", geteuid() == 0 ? "root" : "a user",
	       again >= 0 ? "ok" : errname(errno));
	T("TIOCNXCL", ioctl(s, TIOCNXCL));

	/* Output flow control: TCOOFF stops the slave's output. */
	struct termios t;
	tcgetattr(s, &t);
	cfmakeraw(&t);
	tcsetattr(s, TCSANOW, &t);
	T("tcflow(TCOOFF)", tcflow(s, TCOOFF));
	int fl = fcntl(s, F_GETFL);
	fcntl(s, F_SETFL, fl | O_NONBLOCK);
	T("  write while stopped", write(s, "a", 1));
	T("tcflow(TCOON)", tcflow(s, TCOON));
	T("  write again", write(s, "b", 1));
	fcntl(s, F_SETFL, fl);
	read_master(m, "  master read");
	T("tcflow(9)", tcflow(s, 9));

	/* Packet mode: a status byte first, then data after a 0 byte. */
	int one = 1;
	T("TIOCPKT", ioctl(m, TIOCPKT, &one));
	int pk = -1;
	ioctl(m, TIOCGPKT, &pk);
	printf("  packet = %d\n", pk);
	put(s, "hi");
	read_master(m, "  master read");
	tcflush(s, TCIFLUSH);
	read_master(m, "  after the slave flushes its input");
	t.c_iflag |= IXON;
	tcsetattr(s, TCSANOW, &t);
	read_master(m, "  after IXON on");
	put(m, "\x13");
	read_master(m, "  after ^S");
	put(m, "\x11");
	read_master(m, "  after ^Q");
	T("TIOCSIG(SIGKILL)", ioctl(m, TIOCSIG, SIGKILL));
	T("TIOCSIG(SIGINT), no foreground group", ioctl(m, TIOCSIG, SIGINT));
	close(peer);
	close(s);
	close(m);
}

int main(int argc, char **argv)
{
	setup(argc, argv, "pty");

	int m = posix_openpt(O_RDWR | O_NOCTTY);
	check("posix_openpt", m >= 0);
	check("isatty(master)", isatty(m));
	int lock = -1;
	T("TIOCGPTLCK", ioctl(m, TIOCGPTLCK, &lock));
	printf("locked = %d\n", lock);
	T("grantpt", grantpt(m));
	char name[64];
	T("ptsname_r", ptsname_r(m, name, sizeof name));
	check("ptsname is /dev/pts/N", strncmp(name, "/dev/pts/", 9) == 0);
	unsigned ptn = 0;
	T("TIOCGPTN", ioctl(m, TIOCGPTN, &ptn));
	T("open(slave) while locked", open(name, O_RDWR | O_NOCTTY));
	T("unlockpt", unlockpt(m));
	T("TIOCGPTLCK", ioctl(m, TIOCGPTLCK, &lock));
	printf("locked = %d\n", lock);
	struct stat st;
	T("stat(slave)", stat(name, &st));
	check("  char device", S_ISCHR(st.st_mode));
	check("  number matches TIOCGPTN",
	      major(st.st_rdev) >= 136 && major(st.st_rdev) < 144 &&
		      (major(st.st_rdev) - 136) * 256 + minor(st.st_rdev) == ptn);
	check("  owned by me", st.st_uid == geteuid());
	check("  readable and writable by me", (st.st_mode & 0600) == 0600);
	check("  not for others", (st.st_mode & 0007) == 0);
	T("stat(/dev/pts/ptmx)", stat("/dev/pts/ptmx", &st));
	check("  /dev/pts/ptmx is 5:2", S_ISCHR(st.st_mode) && major(st.st_rdev) == 5 && minor(st.st_rdev) == 2);
	T("TIOCGPTN on a non-pty", ioctl(1, TIOCGPTN, &ptn));
	T("grantpt(not a master)", grantpt(2 > 1 ? open("/dev/null", O_RDWR) : -1));

	int s = open(name, O_RDWR | O_NOCTTY);
	check("open(slave, O_NOCTTY)", s >= 0);
	check("isatty(slave)", isatty(s));
	struct termios t;
	tcgetattr(s, &t);
	printf("slave termios: iflag=%#x oflag=%#x cflag=%#x lflag=%#x\n", (unsigned)t.c_iflag,
	       (unsigned)t.c_oflag, (unsigned)t.c_cflag, (unsigned)t.c_lflag);
	printf("  cc: intr=%d quit=%d erase=%d kill=%d eof=%d time=%d min=%d start=%d stop=%d susp=%d eol=%d "
	       "reprint=%d discard=%d werase=%d lnext=%d eol2=%d\n",
	       t.c_cc[VINTR], t.c_cc[VQUIT], t.c_cc[VERASE], t.c_cc[VKILL], t.c_cc[VEOF], t.c_cc[VTIME],
	       t.c_cc[VMIN], t.c_cc[VSTART], t.c_cc[VSTOP], t.c_cc[VSUSP], t.c_cc[VEOL], t.c_cc[VREPRINT],
	       t.c_cc[VDISCARD], t.c_cc[VWERASE], t.c_cc[VLNEXT], t.c_cc[VEOL2]);
	printf("  speed %d\n", (int)cfgetospeed(&t) == B38400);
	struct termios tm;
	tcgetattr(m, &tm);
	check("master's termios are the slave's", memcmp(&t.c_iflag, &tm.c_iflag, 4 * sizeof(tcflag_t)) == 0);
	struct winsize ws = { 0 };
	T("TIOCGWINSZ", ioctl(s, TIOCGWINSZ, &ws));
	printf("  size %ux%u\n", ws.ws_row, ws.ws_col);
	ws.ws_row = 24;
	ws.ws_col = 80;
	T("TIOCSWINSZ on the master", ioctl(m, TIOCSWINSZ, &ws));
	memset(&ws, 0, sizeof ws);
	ioctl(s, TIOCGWINSZ, &ws);
	printf("  slave sees %ux%u\n", ws.ws_row, ws.ws_col);
	T("tcgetpgrp(slave), not our terminal", tcgetpgrp(s));
	T("TIOCNOTTY, not our terminal", ioctl(s, TIOCNOTTY));
	pid_t pg = -1;
	T("TIOCGPGRP on the master, no session", ioctl(m, TIOCGPGRP, &pg));
	printf("  pgrp = %d\n", pg);
	T("TIOCGSID on the master, no session", ioctl(m, TIOCGSID, &pg));
	T("lseek(master)", lseek(m, 0, SEEK_SET));
	T("TIOCSPTLCK(BADPTR)", ioctl(m, TIOCSPTLCK, BADPTR));
	T("TCSETS(BADPTR)", ioctl(s, TCSETS, BADPTR));
	T("TCFLSH(7)", ioctl(s, TCFLSH, 7));
	T("TIOCOUTQ", ioctl(s, TIOCOUTQ, &pg));
	printf("  = %d\n", pg);
	close(s);
	fflush(stdout);

	if (pipe(to_child) || pipe(to_parent))
		return 3;
	pid_t c = fork();
	if (c == 0)
		child(name, m);
	close(to_child[0]);
	close(to_parent[1]);

	/* Canonical mode: echo and editing. */
	sync_wait(to_parent[0]);
	put(m, "abc\x7f" "d\r");
	collect(m, "echo", "<1>\r\n");
	sync_wait(to_parent[0]);
	put(m, "foo bar\x17" "baz\n");
	collect(m, "echo", "<2>\r\n");
	sync_wait(to_parent[0]);
	put(m, "x\t\x7f" "y\x15" "qux\n");
	collect(m, "echo", "<3>\r\n");
	sync_wait(to_parent[0]);
	put(m, "xy\x04");
	put(m, "\x04");
	put(m, "hello\n");
	collect(m, "echo", "<4>\r\n");

	/* Raw mode. */
	sync_wait(to_parent[0]);
	put(m, "q");
	put(m, "\r");
	put(m, "!");
	collect(m, "raw output", "<5>\r\n");

	/* ISIG. */
	sync_wait(to_parent[0]);
	put(m, "partial");
	put(m, "\x03");
	sync_wait(to_parent[0]);
	put(m, "keep");
	put(m, "\x03");

	/* Window size. */
	sync_wait(to_parent[0]);
	ws.ws_row = 30;
	ws.ws_col = 100;
	ioctl(m, TIOCSWINSZ, &ws);
	sync_wait(to_parent[0]);
	ioctl(m, TIOCSWINSZ, &ws);
	sync_send(to_child[1]);

	/* The child's last words, then EIO: every slave descriptor is closed. */
	int status;
	waitpid(c, &status, 0);
	describe("child", status);
	pg = -1;
	ioctl(m, TIOCGPGRP, &pg);
	printf("TIOCGPGRP on the master after the session ended = %d\n", pg);
	collect(m, "background output", "bye\r\n");
	struct pollfd pfd = { .fd = m, .events = POLLIN | POLLOUT };
	poll(&pfd, 1, 1000);
	printf("master poll: %s%s%s\n", pfd.revents & POLLIN ? "IN " : "", pfd.revents & POLLOUT ? "OUT " : "",
	       pfd.revents & POLLHUP ? "HUP" : "");
	char b[16];
	T("master read after the slave closed", read(m, b, sizeof b));
	T("master write after the slave closed", write(m, "z", 1));
	close(m);
	T("stat(slave) after the master closed", stat(name, &st));

	/* Hangup: the master closes under a session. */
	close(to_child[1]);
	close(to_parent[0]);
	if (pipe(to_child) || pipe(to_parent))
		return 3;
	fflush(stdout);
	m = posix_openpt(O_RDWR | O_NOCTTY);
	grantpt(m);
	unlockpt(m);
	ptsname_r(m, name, sizeof name);
	pid_t h = fork();
	if (h == 0)
		hangup_child(name, m);
	sync_wait(to_parent[0]);
	close(m);
	waitpid(h, &status, 0);
	describe("session leader", status);

	more_ioctls();
	return 0;
}
