/*
 * Driven by tests/tests/processes.rs, which samples the Sentry's memory
 * file, fds, threads and stub processes between the steps.
 *
 *   forkmem cow   touch 1 GiB, fork 4 children that each write one page
 *                 and wait; print "ready", hold until stdin closes.
 *   forkmem leak  fork + exit + wait 200 times, print "ready", wait for a
 *                 line on stdin, fork + exit + wait N (argv[2]) times,
 *                 print "ready", hold until stdin closes.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char *s) {
    (void)!write(1, s, strlen(s));
}

static void hold(void) {
    char buf[64];
    while (read(0, buf, sizeof buf) > 0)
        ;
}

static void wait_line(void) {
    char c;
    while (read(0, &c, 1) == 1 && c != '\n')
        ;
}

static int forks(int n) {
    for (int i = 0; i < n; i++) {
        pid_t c = fork();
        if (c < 0) {
            perror("fork");
            return 1;
        }
        if (c == 0)
            _exit(i & 0x7f);
        int st;
        if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != (i & 0x7f)) {
            fprintf(stderr, "bad wait at %d\n", i);
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "cow") == 0) {
        size_t len = 1UL << 30;
        char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            perror("mmap");
            return 1;
        }
        for (size_t off = 0; off < len; off += 4096)
            m[off] = 1;
        int p[2];
        if (pipe(p) != 0)
            return 1;
        pid_t kids[4];
        for (int i = 0; i < 4; i++) {
            kids[i] = fork();
            if (kids[i] == 0) {
                m[(size_t)i * 4096 * 1000] = 2;
                /* The child sees the parent's contents. */
                long sum = 0;
                for (size_t off = 0; off < len; off += 1 << 20)
                    sum += m[off];
                (void)!write(p[1], sum == 1024 + (i == 0) ? "y" : "n", 1);
                pause();
                _exit(0);
            }
        }
        int ok = 1;
        for (int i = 0; i < 4; i++) {
            char c;
            if (read(p[0], &c, 1) != 1 || c != 'y')
                ok = 0;
        }
        say(ok ? "ready\n" : "children saw wrong memory\n");
        hold();
        for (int i = 0; i < 4; i++) {
            kill(kids[i], SIGKILL);
            waitpid(kids[i], NULL, 0);
        }
        /* The parent's pages were never written by the children. */
        for (size_t off = 0; off < len; off += 4096)
            if (m[off] != 1) {
                say("parent memory changed\n");
                return 1;
            }
        say("done\n");
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "leak") == 0) {
        if (forks(200))
            return 1;
        say("ready\n");
        wait_line();
        if (forks(atoi(argv[2])))
            return 1;
        say("ready\n");
        hold();
        say("done\n");
        return 0;
    }
    fprintf(stderr, "usage: forkmem cow | leak N\n");
    return 2;
}
