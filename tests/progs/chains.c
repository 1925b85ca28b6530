/*
 * Process chains: fork + exec + wait three deep (each level execs this
 * program again and reports its child's status), and vfork + exec.
 */
#include "common.h"
#include <signal.h>
#include <sys/wait.h>

static char self[4096];

static int level(int depth) {
    if (depth == 0)
        return 7;
    pid_t c = fork();
    if (c == 0) {
        char d[16];
        snprintf(d, sizeof d, "%d", depth - 1);
        char *argv[] = {self, "chain", d, NULL};
        execv(self, argv);
        _exit(99);
    }
    int st;
    if (waitpid(c, &st, 0) != c || !WIFEXITED(st))
        return 98;
    printf("depth %d: child exited %d\n", depth, WEXITSTATUS(st));
    fflush(stdout);
    return WEXITSTATUS(st) + 1;
}

int main(int argc, char **argv) {
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 2;
    self[n] = 0;
    if (argc >= 3 && strcmp(argv[1], "chain") == 0)
        return level(atoi(argv[2]));
    if (argc >= 2 && strcmp(argv[1], "vforked") == 0) {
        printf("vfork child ran the new image\n");
        return 5;
    }

    /* Three levels of fork + exec + wait. */
    fflush(stdout);
    printf("chain: %d\n", level(3));
    fflush(stdout);

    /* vfork + exec: the parent resumes after the exec, its memory intact. */
    volatile int marker = 1;
    pid_t v = vfork();
    if (v == 0) {
        char *args[] = {self, "vforked", NULL};
        execv(self, args);
        _exit(97);
    }
    int st;
    waitpid(v, &st, 0);
    printf("vfork: marker=%d exited=%d status=%d\n", marker, WIFEXITED(st), WEXITSTATUS(st));
    fflush(stdout);

    return 0;
}
