/*
 * ioctl: TCGETS and TIOCGWINSZ on files that are not terminals (ENOTTY),
 * and on standard input, which the harness makes either /dev/null or a
 * pseudo-terminal (then the calls succeed and the window size is the one
 * the harness set).
 */
#include "common.h"
#include <sys/ioctl.h>

/* The kernel's struct termios (not glibc's, which is larger). */
struct k_termios {
	uint32_t c_iflag, c_oflag, c_cflag, c_lflag;
	uint8_t c_line;
	uint8_t c_cc[19];
};

static void try_fd(const char *name, int fd)
{
	struct k_termios t;
	struct winsize ws;
	char label[128];
	memset(&t, 0, sizeof t);
	memset(&ws, 0, sizeof ws);
	snprintf(label, sizeof label, "ioctl(%s, TCGETS)", name);
	long r = T(label, SC(SYS_ioctl, (long)fd, (long)TCGETS, &t));
	if (r == 0)
		printf("  iflag=%#x oflag=%#x cflag=%#x lflag=%#x line=%u cc[VINTR]=%u cc[VEOF]=%u\n", t.c_iflag, t.c_oflag,
		       t.c_cflag, t.c_lflag, t.c_line, t.c_cc[0], t.c_cc[4]);
	snprintf(label, sizeof label, "ioctl(%s, TIOCGWINSZ)", name);
	r = T(label, SC(SYS_ioctl, (long)fd, (long)TIOCGWINSZ, &ws));
	if (r == 0)
		printf("  rows=%u cols=%u\n", ws.ws_row, ws.ws_col);
	if (r == 0) {
		snprintf(label, sizeof label, "ioctl(%s, TCGETS, BADPTR)", name);
		T(label, SC(SYS_ioctl, (long)fd, (long)TCGETS, BADPTR));
		snprintf(label, sizeof label, "ioctl(%s, TIOCGWINSZ, BADPTR)", name);
		T(label, SC(SYS_ioctl, (long)fd, (long)TIOCGWINSZ, BADPTR));
	}
}

int main(int argc, char **argv)
{
	setup(argc, argv, "ioctl");
	make_file("f", "data", 0644);
	int fd = (int)SC(SYS_open, "f", O_RDWR);
	try_fd("regular file", fd);
	T("ioctl(regular file, TCGETS, BADPTR)", SC(SYS_ioctl, (long)fd, (long)TCGETS, BADPTR));
	SC(SYS_close, fd);
	fd = (int)SC(SYS_open, ".", O_RDONLY | O_DIRECTORY);
	try_fd("directory", fd);
	SC(SYS_close, fd);
	fd = (int)SC(SYS_open, "/dev/null", O_RDWR);
	try_fd("/dev/null", fd);
	SC(SYS_close, fd);
	fd = (int)SC(SYS_open, "/dev/zero", O_RDONLY);
	try_fd("/dev/zero", fd);
	SC(SYS_close, fd);
	try_fd("stdin", 0);
	try_fd("stdout", 1);
	T("ioctl(-1, TCGETS)", SC(SYS_ioctl, -1L, (long)TCGETS, NULL));
	T("ioctl(9999, TIOCGWINSZ)", SC(SYS_ioctl, 9999L, (long)TIOCGWINSZ, NULL));
	printf("done\n");
	return 0;
}
