/*
 * Exit status: the main thread leaves with the raw exit system call (not
 * exit_group) and a status of 42, after output written with write(2) only.
 * The harness compares the exit status as well as the output.
 */
#include "common.h"

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	static const char msg[] = "== exit\nleaving with status 42\n";
	SC(SYS_write, 1L, msg, (long)sizeof msg - 1);
	SC(SYS_exit, 42L);
	return 1;
}
