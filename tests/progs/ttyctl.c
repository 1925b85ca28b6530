/*
 * Terminal control beyond the line discipline: the old struct termio
 * calls (TCGETA, TCSETA, TCSETAW, TCSETAF), locked termios
 * (TIOCGLCKTRMIOS / TIOCSLCKTRMIOS), console redirection (TIOCCONS),
 * hangups (TIOCVHANGUP on either end, vhangup(2)), TIOCSTI's permission
 * checks, and the serial-line calls a pty does not answer (ENOTTY).
 *
 * Every terminal is a pty the program opens itself; the console
 * redirection is undone by hanging its slave up before the program ends
 * (natively it would redirect the host's console for that moment; a lock
 * file keeps two native runs from racing for the one redirect). Privilege
 * checks run in a child that has set its uids to 1000.
 */
#include "common.h"
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>

#define X_TCGETA 0x5405
#define X_TCSETA 0x5406
#define X_TCSETAW 0x5407
#define X_TCSETAF 0x5408
#define X_TIOCCONS 0x541D
#define X_TIOCVHANGUP 0x5437
#define X_TIOCGLCKTRMIOS 0x5456
#define X_TIOCSLCKTRMIOS 0x5457
#define X_TIOCMGET 0x5415
#define X_TIOCMSET 0x5418
#define X_TIOCGSERIAL 0x541E
#define X_TIOCSERGETLSR 0x5459
#define X_TIOCMIWAIT 0x545C
#define X_TIOCGICOUNT 0x545D
#define X_TIOCGRS485 0x542E
#define X_TCGETX 0x5432

/* struct termio (asm-generic/termios.h). */
struct termio_old {
	unsigned short c_iflag, c_oflag, c_cflag, c_lflag;
	unsigned char c_line;
	unsigned char c_cc[8];
};

/* The kernel's struct termios (36 bytes; libc's may be larger). */
struct ktermios {
	unsigned int c_iflag, c_oflag, c_cflag, c_lflag;
	unsigned char c_line;
	unsigned char c_cc[19];
};

static volatile int hups, conts;

static void on_sig(int sig)
{
	if (sig == SIGHUP)
		hups++;
	else if (sig == SIGCONT)
		conts++;
}

/* A new unlocked pty: the master, and the slave opened O_NOCTTY. */
static int open_pair(int *slave, int flags)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) || unlockpt(m)) {
		printf("posix_openpt failed: %s\n", errname(errno));
		exit(3);
	}
	*slave = open(ptsname(m), flags | O_NOCTTY);
	if (*slave < 0) {
		printf("open slave failed: %s\n", errname(errno));
		exit(3);
	}
	return m;
}

static void as_user(void)
{
	if (setgid(1000) || setuid(1000)) {
		printf("setuid failed: %s\n", errname(errno));
		_exit(3);
	}
}

static int wait_child(pid_t p)
{
	int st;
	if (waitpid(p, &st, 0) != p)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void termio_calls(void)
{
	printf("-- termio\n");
	int s, m = open_pair(&s, O_RDWR);
	struct ktermios k;
	struct termio_old t;
	memset(&t, 0xAA, sizeof t);
	T("TCGETA", ioctl(s, X_TCGETA, &t));
	ioctl(s, TCGETS, &k);
	check("TCGETA iflag is TCGETS's low half", t.c_iflag == (k.c_iflag & 0xffff));
	check("TCGETA lflag is TCGETS's low half", t.c_lflag == (k.c_lflag & 0xffff));
	check("TCGETA cflag is TCGETS's low half", t.c_cflag == (k.c_cflag & 0xffff));
	check("TCGETA c_cc is TCGETS's first 8", !memcmp(t.c_cc, k.c_cc, 8));
	struct termio_old tm;
	T("TCGETA on the master", ioctl(m, X_TCGETA, &tm));
	check("the master's TCGETA is the slave's", !memcmp(&tm, &t, 17));

	/* High flag bits and characters past 8 survive TCSETA. */
	k.c_cc[16] = 7; /* VEOL2 */
	k.c_cflag |= 0x80000000u; /* CRTSCTS */
	ioctl(s, TCSETS, &k);
	ioctl(s, X_TCGETA, &t);
	t.c_lflag &= ~ECHO;
	t.c_cc[VINTR] = 'x';
	T("TCSETA", ioctl(s, X_TCSETA, &t));
	ioctl(s, TCGETS, &k);
	check("TCSETA cleared ECHO", !(k.c_lflag & ECHO));
	check("TCSETA kept CRTSCTS (a high cflag bit)", (k.c_cflag & 0x80000000u) != 0);
	check("TCSETA set VINTR", k.c_cc[VINTR] == 'x');
	check("TCSETA kept VEOL2", k.c_cc[16] == 7);

	/* TCSETAF drops pending input, TCSETAW does not. */
	int n;
	write(m, "abc\n", 4);
	usleep(10000);
	T("TCSETAW", ioctl(s, X_TCSETAW, &t));
	ioctl(s, FIONREAD, &n);
	printf("queued after TCSETAW: %d\n", n);
	T("TCSETAF", ioctl(s, X_TCSETAF, &t));
	ioctl(s, FIONREAD, &n);
	printf("queued after TCSETAF: %d\n", n);
	T("TCSETA on the master", ioctl(m, X_TCSETA, &t));
	T("TCGETA(BADPTR)", ioctl(s, X_TCGETA, BADPTR));
	T("TCSETA(BADPTR)", ioctl(s, X_TCSETA, BADPTR));
	int p[2];
	pipe(p);
	T("TCGETA on a pipe", ioctl(p[0], X_TCGETA, &t));
	T("TCSETA on a pipe", ioctl(p[0], X_TCSETA, &t));
	close(p[0]);
	close(p[1]);
	close(s);
	close(m);
}

static void locked_termios(void)
{
	printf("-- locked termios\n");
	int s, m = open_pair(&s, O_RDWR);
	struct ktermios l, k;
	memset(&l, 0x55, sizeof l);
	T("TIOCGLCKTRMIOS", ioctl(s, X_TIOCGLCKTRMIOS, &l));
	static const struct ktermios zero;
	check("nothing is locked", !memcmp(&l, &zero, sizeof l));
	memset(&l, 0, sizeof l);
	l.c_lflag = ECHO;
	l.c_cc[VINTR] = 1;
	T("TIOCSLCKTRMIOS", ioctl(s, X_TIOCSLCKTRMIOS, &l));
	memset(&l, 0, sizeof l);
	T("TIOCGLCKTRMIOS on the master", ioctl(m, X_TIOCGLCKTRMIOS, &l));
	check("the master shows the lock", l.c_lflag == ECHO && l.c_cc[VINTR] == 1);
	ioctl(s, TCGETS, &k);
	k.c_lflag &= ~(ECHO | ICANON);
	k.c_cc[VINTR] = 'q';
	k.c_cc[VQUIT] = 'w';
	T("TCSETS against the lock", ioctl(s, TCSETS, &k));
	ioctl(s, TCGETS, &k);
	check("ECHO stayed on", (k.c_lflag & ECHO) != 0);
	check("ICANON went off", !(k.c_lflag & ICANON));
	check("VINTR stayed ^C", k.c_cc[VINTR] == 3);
	check("VQUIT changed", k.c_cc[VQUIT] == 'w');
	struct termio_old t;
	ioctl(s, X_TCGETA, &t);
	t.c_lflag &= ~ECHO;
	ioctl(s, X_TCSETA, &t);
	ioctl(s, TCGETS, &k);
	check("TCSETA kept the locked ECHO", (k.c_lflag & ECHO) != 0);
	T("TIOCSLCKTRMIOS(BADPTR)", ioctl(s, X_TIOCSLCKTRMIOS, BADPTR));
	T("TIOCGLCKTRMIOS(BADPTR)", ioctl(s, X_TIOCGLCKTRMIOS, BADPTR));

	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		as_user();
		T("user: TIOCGLCKTRMIOS", ioctl(s, X_TIOCGLCKTRMIOS, &l));
		memset(&l, 0, sizeof l);
		T("user: TIOCSLCKTRMIOS", ioctl(s, X_TIOCSLCKTRMIOS, &l));
		fflush(stdout);
		_exit(0);
	}
	wait_child(c);
	memset(&l, 0, sizeof l);
	T("TIOCSLCKTRMIOS(unlock)", ioctl(s, X_TIOCSLCKTRMIOS, &l));
	k.c_lflag &= ~ECHO;
	ioctl(s, TCSETS, &k);
	ioctl(s, TCGETS, &k);
	check("ECHO off once unlocked", !(k.c_lflag & ECHO));
	close(s);
	close(m);
}

static void serial_calls(void)
{
	printf("-- serial lines\n");
	int s, m = open_pair(&s, O_RDWR);
	char buf[256];
	static const struct {
		const char *name;
		unsigned long cmd;
	} calls[] = {
		{"TIOCMGET", X_TIOCMGET},     {"TIOCMSET", X_TIOCMSET},
		{"TIOCGSERIAL", X_TIOCGSERIAL}, {"TIOCSERGETLSR", X_TIOCSERGETLSR},
		{"TIOCMIWAIT", X_TIOCMIWAIT}, {"TIOCGICOUNT", X_TIOCGICOUNT},
		{"TIOCGRS485", X_TIOCGRS485}, {"TCGETX", X_TCGETX},
	};
	for (unsigned i = 0; i < sizeof calls / sizeof calls[0]; i++) {
		char label[64];
		memset(buf, 0, sizeof buf);
		snprintf(label, sizeof label, "%s on the slave", calls[i].name);
		T(label, ioctl(s, calls[i].cmd, buf));
		snprintf(label, sizeof label, "%s on the master", calls[i].name);
		T(label, ioctl(m, calls[i].cmd, buf));
	}
	close(s);
	close(m);
}

static void tiocsti(void)
{
	printf("-- TIOCSTI\n");
	int s, m = open_pair(&s, O_RDWR);
	char c = 'z';
	T("TIOCSTI on the master (root)", ioctl(m, TIOCSTI, &c));
	T("TIOCSTI on the slave, not our terminal (root)", ioctl(s, TIOCSTI, &c));
	T("TIOCSTI(BADPTR)", ioctl(s, TIOCSTI, BADPTR));
	int n = 0;
	ioctl(s, FIONREAD, &n);
	printf("slave input: %d\n", n);
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) {
		as_user();
		/* EPERM, or EIO where dev.tty.legacy_tiocsti is 0. */
		long r = ioctl(s, TIOCSTI, &c);
		printf("user: TIOCSTI refused: %s\n",
		       r == -1 && (errno == EPERM || errno == EIO) ? "yes" : "no");
		fflush(stdout);
		_exit(0);
	}
	wait_child(p);
	close(s);
	close(m);
}

static void tioccons(void)
{
	printf("-- TIOCCONS\n");
	/* One native run at a time may hold the host's one redirect. */
	int lk = open("/tmp/veil-progs-tioccons.lock", O_RDWR | O_CREAT, 0600);
	if (lk < 0 || flock(lk, LOCK_EX)) {
		printf("lock failed: %s\n", errname(errno));
		exit(3);
	}
	int s1, m1 = open_pair(&s1, O_RDWR);
	int s2, m2 = open_pair(&s2, O_RDWR);
	int r2 = open(ptsname(m2), O_RDONLY | O_NOCTTY);
	T("TIOCCONS on a master", ioctl(m1, X_TIOCCONS));
	T("TIOCCONS on a read-only slave", ioctl(r2, X_TIOCCONS));
	int p[2];
	pipe(p);
	T("TIOCCONS on a pipe", ioctl(p[1], X_TIOCCONS));
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		as_user();
		T("user: TIOCCONS on a slave", ioctl(s1, X_TIOCCONS));
		T("user: TIOCCONS on a master", ioctl(m1, X_TIOCCONS));
		fflush(stdout);
		_exit(0);
	}
	wait_child(c);
	T("TIOCCONS on slave 1", ioctl(s1, X_TIOCCONS));
	T("TIOCCONS on slave 1 again", ioctl(s1, X_TIOCCONS));
	T("TIOCCONS on slave 2", ioctl(s2, X_TIOCCONS));
	T("TIOCCONS on a master, redirected", ioctl(m2, X_TIOCCONS));
	/* Hanging slave 1 up ends the redirect. */
	T("TIOCVHANGUP on slave 1", ioctl(s1, X_TIOCVHANGUP));
	T("TIOCCONS on the hung-up slave 1", ioctl(s1, X_TIOCCONS));
	T("TIOCCONS on slave 2, after the hangup", ioctl(s2, X_TIOCCONS));
	/* So does closing its master. */
	close(m2);
	int s3, m3 = open_pair(&s3, O_RDWR);
	T("TIOCCONS on slave 3, master 2 closed", ioctl(s3, X_TIOCCONS));
	T("TIOCVHANGUP on master 3", ioctl(m3, X_TIOCVHANGUP));
	T("TIOCCONS on slave 1 (3 is still redirected)", ioctl(open(ptsname(m1), O_RDWR | O_NOCTTY), X_TIOCCONS));
	close(m3);
	int s4, m4 = open_pair(&s4, O_RDWR);
	T("TIOCCONS on slave 4, master 3 closed", ioctl(s4, X_TIOCCONS));
	T("TIOCVHANGUP on slave 4", ioctl(s4, X_TIOCVHANGUP));
	close(s1);
	close(m1);
	close(s2);
	close(r2);
	close(s3);
	close(s4);
	close(m4);
	close(p[0]);
	close(p[1]);
	flock(lk, LOCK_UN);
	close(lk);
}

static void show_poll(const char *label, int fd)
{
	struct pollfd pf = {fd, POLLIN | POLLOUT | POLLPRI, 0};
	poll(&pf, 1, 0);
	printf("%s: in=%d out=%d err=%d hup=%d\n", label, !!(pf.revents & POLLIN),
	       !!(pf.revents & POLLOUT), !!(pf.revents & POLLERR), !!(pf.revents & POLLHUP));
}

/* A session on the slave, hung up by TIOCVHANGUP from the parent. */
static void hangup_session(void)
{
	printf("-- TIOCVHANGUP on a controlling terminal\n");
	int s, m = open_pair(&s, O_RDWR);
	int go[2], done[2];
	pipe(go);
	pipe(done);
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		close(go[1]);
		close(done[0]);
		setsid();
		signal(SIGHUP, on_sig);
		signal(SIGCONT, on_sig);
		T("child: TIOCSCTTY", ioctl(s, TIOCSCTTY, 0));
		int t = open("/dev/tty", O_RDWR);
		check("child: /dev/tty opens", t >= 0);
		struct termios ts;
		tcgetattr(s, &ts);
		ts.c_lflag &= ~ECHO;
		ts.c_cc[VMIN] = 5;
		tcsetattr(s, TCSANOW, &ts);
		fflush(stdout);
		write(done[1], "r", 1);
		char x;
		read(go[0], &x, 1);
		/* The parent hung the terminal up. */
		printf("child: SIGHUP %d, SIGCONT %d\n", hups, conts);
		char buf[16];
		T("child: read the hung-up slave", read(s, buf, sizeof buf));
		T("child: write the hung-up slave", write(s, "x", 1));
		T("child: read the hung-up /dev/tty", read(t, buf, sizeof buf));
		T("child: TCGETS on it", ioctl(s, TCGETS, &ts));
		pid_t pg = getpgrp();
		T("child: TIOCSPGRP on it", ioctl(s, TIOCSPGRP, &pg));
		T("child: TIOCVHANGUP on it", ioctl(s, X_TIOCVHANGUP));
		show_poll("child: poll on it", s);
		T("child: open /dev/tty", open("/dev/tty", O_RDWR));
		int s2 = open(ptsname(m), O_RDWR | O_NOCTTY);
		check("child: the slave opens again", s2 >= 0);
		tcgetattr(s2, &ts);
		check("child: ECHO is back on", (ts.c_lflag & ECHO) != 0);
		printf("child: VMIN %d\n", ts.c_cc[VMIN]);
		int n = -1;
		ioctl(s2, FIONREAD, &n);
		printf("child: queued input %d\n", n);
		T("child: TIOCGPGRP on the new open", ioctl(s2, TIOCGPGRP, &pg));
		T("child: write the new open", write(s2, "ok", 2));
		fflush(stdout);
		_exit(0);
	}
	close(go[0]);
	close(done[1]);
	char x;
	read(done[0], &x, 1);
	write(m, "ab", 2);
	usleep(20000);
	T("TIOCVHANGUP", ioctl(s, X_TIOCVHANGUP));
	fflush(stdout);
	write(go[1], "g", 1);
	printf("child exit %d\n", wait_child(c));
	char buf[16];
	usleep(20000);
	long n = read(m, buf, sizeof buf);
	printf("master read %ld \"%.*s\"\n", n, n > 0 ? (int)n : 0, buf);
	close(s);
	close(m);
}

static void hangup_master(void)
{
	printf("-- TIOCVHANGUP on a master\n");
	int s, m = open_pair(&s, O_RDWR);
	char buf[16];
	write(s, "out", 3);
	usleep(20000);
	T("TIOCVHANGUP", ioctl(m, X_TIOCVHANGUP));
	T("read the master", read(m, buf, sizeof buf));
	T("write the master", write(m, "x", 1));
	T("TCGETS on the master", ioctl(m, TCGETS, buf));
	show_poll("poll on the master", m);
	T("write the slave", write(s, "y", 1));
	struct termios ts;
	T("TCGETS on the slave", tcgetattr(s, &ts));
	close(m);
	T("read the slave, master closed", read(s, buf, sizeof buf));
	close(s);

	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		m = open_pair(&s, O_RDWR);
		as_user();
		T("user: TIOCVHANGUP on a slave", ioctl(s, X_TIOCVHANGUP));
		T("user: TIOCVHANGUP on a master", ioctl(m, X_TIOCVHANGUP));
		T("user: vhangup", syscall(SYS_vhangup));
		int p[2];
		pipe(p);
		T("user: TIOCVHANGUP on a pipe", ioctl(p[0], X_TIOCVHANGUP));
		fflush(stdout);
		_exit(0);
	}
	wait_child(c);
}

/* vhangup(2): the caller's controlling terminal. */
static void vhangup_call(void)
{
	printf("-- vhangup\n");
	int s, m = open_pair(&s, O_RDWR);
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		setsid();
		T("child: vhangup without a terminal", syscall(SYS_vhangup));
		signal(SIGHUP, on_sig);
		signal(SIGCONT, on_sig);
		T("child: TIOCSCTTY", ioctl(s, TIOCSCTTY, 0));
		T("child: vhangup", syscall(SYS_vhangup));
		printf("child: SIGHUP %d, SIGCONT %d\n", hups, conts);
		char b;
		T("child: read the slave", read(s, &b, 1));
		T("child: open /dev/tty", open("/dev/tty", O_RDWR));
		T("child: vhangup again", syscall(SYS_vhangup));
		fflush(stdout);
		_exit(0);
	}
	printf("child exit %d\n", wait_child(c));
	char b = 'q';
	T("parent: write its own slave description", write(s, &b, 1));
	close(s);
	close(m);
}

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	termio_calls();
	locked_termios();
	serial_calls();
	tiocsti();
	tioccons();
	hangup_session();
	hangup_master();
	vhangup_call();
	return 0;
}
