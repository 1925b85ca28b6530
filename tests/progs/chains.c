/*
 * Process chains: fork + exec + wait three deep (each level execs this
 * program again and reports its child's status), vfork + exec, and an
 * orphan reparented to the nearest subreaper (the top process sets
 * PR_SET_CHILD_SUBREAPER, so the answer is the same natively and in veil,
 * where the top is also pid 1): every getppid() the orphan makes answers
 * the old parent or the subreaper, never anything between, and its
 * parent-death signal handler already sees the subreaper.
 */
#include "common.h"
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

static char self[4096];

static volatile sig_atomic_t pdeath_ppid = -1;

static void on_pdeath(int sig) {
    (void)sig;
    pdeath_ppid = getppid();
}

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

    /* An orphan goes to the subreaper. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        return 3;
    int p[2], ready[2];
    if (pipe(p) != 0 || pipe(ready) != 0)
        return 4;
    pid_t top = getpid();
    pid_t mid = fork();
    if (mid == 0) {
        pid_t me = getpid(); /* `mid` is 0 here */
        pid_t orphan = fork();
        if (orphan == 0) {
            close(p[0]);
            close(ready[0]);
            signal(SIGUSR1, on_pdeath);
            if (prctl(PR_SET_PDEATHSIG, SIGUSR1) != 0 || getppid() != me)
                _exit(1);
            (void)!write(ready[1], "r", 1);
            /* Until the middle process is gone, and a while after: each
             * answer is the old parent or the subreaper. */
            int odd = 0, after = 0;
            for (int spins = 0; after < 1000 && spins < 5000000; spins++) {
                pid_t pp = getppid();
                if (pp != me && pp != top)
                    odd++;
                if (pp != me)
                    after++;
            }
            for (int i = 0; i < 5000 && pdeath_ppid == -1; i++)
                usleep(1000);
            char out[3] = {getppid() == top ? 'y' : 'n', odd ? 'n' : 'y',
                           pdeath_ppid == top ? 'y' : 'n'};
            (void)!write(p[1], out, 3);
            _exit(0);
        }
        close(ready[1]);
        char c;
        (void)!read(ready[0], &c, 1); /* its parent-death signal is set */
        _exit(0);
    }
    close(p[1]);
    close(ready[0]);
    close(ready[1]);
    waitpid(mid, NULL, 0);
    char got[3] = {'?', '?', '?'};
    (void)!read(p[0], got, 3);
    printf("orphan reparented to the subreaper: %c\n", got[0]);
    printf("getppid only ever the old parent or the subreaper: %c\n", got[1]);
    printf("parent-death handler sees the subreaper: %c\n", got[2]);
    /* The subreaper reaps it. */
    int reaped = 0;
    while (waitpid(-1, NULL, 0) > 0)
        reaped++;
    printf("reaped %d\n", reaped);
    return 0;
}
