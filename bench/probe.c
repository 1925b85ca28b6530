/* Micro-benchmark probe: runs one operation N times and prints the
 * median-of-5 nanoseconds per operation, so that the same binary can be
 * run natively and under veil and the two compared.
 *
 * usage: probe OP ITERATIONS
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static const char *file_path = "/tmp/veil-bench-file";
static const char *shared_path = "/tmp/veil-bench-shared";
static const char *private_path = "/tmp/veil-bench-private";
static int shared_fd = -1;
static int pfd_a[2], pfd_b[2];
static pid_t echo_pid;

static void setup(const char *op) {
    if (!strcmp(op, "read4k") || !strcmp(op, "open_close") || !strcmp(op, "stat")) {
        int fd = open(file_path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
        char buf[4096];
        memset(buf, 'x', sizeof buf);
        if (fd < 0 || write(fd, buf, sizeof buf) != sizeof buf) {
            perror("setup");
            exit(2);
        }
        close(fd);
    }
    if (!strcmp(op, "mmap_shared_1m")) {
        shared_fd = open(shared_path, O_CREAT | O_TRUNC | O_RDWR, 0644);
        if (shared_fd < 0 || ftruncate(shared_fd, 1 << 20) != 0) {
            perror("setup");
            exit(2);
        }
        unlink(shared_path);
    }
    if (!strncmp(op, "mmap_private_", 13)) {
        /* A 1 MiB file with data in every page. */
        static char buf[1 << 20];
        memset(buf, 'p', sizeof buf);
        shared_fd = open(private_path, O_CREAT | O_TRUNC | O_RDWR, 0644);
        if (shared_fd < 0 || write(shared_fd, buf, sizeof buf) != sizeof buf) {
            perror("setup");
            exit(2);
        }
        unlink(private_path);
    }
    if (!strcmp(op, "pipe")) {
        if (pipe(pfd_a) || pipe(pfd_b)) {
            perror("pipe");
            exit(2);
        }
        echo_pid = fork();
        if (echo_pid == 0) {
            char c;
            close(pfd_a[1]);
            close(pfd_b[0]);
            while (read(pfd_a[0], &c, 1) == 1)
                if (write(pfd_b[1], &c, 1) != 1)
                    _exit(1);
            _exit(0);
        }
        close(pfd_a[0]);
        close(pfd_b[1]);
    }
}

static void one(const char *op, const char *exe) {
    if (!strcmp(op, "getpid")) {
        syscall(SYS_getpid);
    } else if (!strcmp(op, "clock_gettime")) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
    } else if (!strcmp(op, "pipe")) {
        char c = 'x';
        if (write(pfd_a[1], &c, 1) != 1 || read(pfd_b[0], &c, 1) != 1)
            exit(3);
    } else if (!strcmp(op, "open_close")) {
        close(open(file_path, O_RDONLY));
    } else if (!strcmp(op, "read4k")) {
        static int fd = -1;
        static char buf[4096];
        if (fd < 0)
            fd = open(file_path, O_RDONLY);
        if (pread(fd, buf, sizeof buf, 0) != sizeof buf)
            exit(3);
    } else if (!strcmp(op, "stat")) {
        struct stat st;
        stat(file_path, &st);
    } else if (!strcmp(op, "fork_exit_wait")) {
        pid_t p = fork();
        if (p == 0)
            _exit(0);
        waitpid(p, NULL, 0);
    } else if (!strcmp(op, "fork_exec_wait")) {
        pid_t p = fork();
        if (p == 0) {
            execl(exe, exe, "noop", "1", (char *)NULL);
            _exit(127);
        }
        waitpid(p, NULL, 0);
    } else if (!strcmp(op, "mmap_touch_1m")) {
        size_t len = 1 << 20;
        char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        for (size_t i = 0; i < len; i += 4096)
            m[i] = 1;
        munmap(m, len);
    } else if (!strcmp(op, "mmap_shared_1m")) {
        size_t len = 1 << 20;
        char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, shared_fd, 0);
        if (m == MAP_FAILED)
            exit(3);
        for (size_t i = 0; i < len; i += 4096)
            m[i]++;
        munmap(m, len);
    } else if (!strcmp(op, "mmap_private_read_1m") || !strcmp(op, "mmap_private_write_1m")) {
        size_t len = 1 << 20;
        int w = !strcmp(op, "mmap_private_write_1m");
        volatile char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, shared_fd, 0);
        if (m == MAP_FAILED)
            exit(3);
        for (size_t i = 0; i < len; i += 4096) {
            if (w)
                m[i]++;
            else if (m[i] != 'p')
                exit(4);
        }
        munmap((void *)m, len);
    } else if (!strcmp(op, "noop")) {
    } else {
        fprintf(stderr, "probe: unknown op %s\n", op);
        exit(2);
    }
}

static int cmp(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: probe OP ITERATIONS\n");
        return 2;
    }
    const char *op = argv[1];
    long n = atol(argv[2]);
    if (!strcmp(op, "noop"))
        return 0;
    setup(op);
    long long rounds[5];
    for (int r = 0; r < 5; r++) {
        long long t0 = now_ns();
        for (long i = 0; i < n; i++)
            one(op, argv[0]);
        rounds[r] = (now_ns() - t0) / n;
    }
    qsort(rounds, 5, sizeof rounds[0], cmp);
    printf("%lld\n", rounds[2]);
    if (echo_pid > 0) {
        close(pfd_a[1]);
        waitpid(echo_pid, NULL, 0);
    }
    return 0;
}
