/* cflags: -Wl,-Ttext-segment=0x10000000 */
/*
 * Replays the syscall fuzzer's corpus with real system calls, inside veil
 * (tests/tests/fuzz_replay.rs). Standard input holds entries, each a
 * little-endian u32 length and the entry flattened by
 * veil_core::fuzz_harness::syscalls::flatten: for each top-level task a
 * TASK record, then its steps (system calls with resolved arguments,
 * loads, stores, instruction fetches, sleeps).
 *
 * This program is the sandbox's pid 1 and a supervisor: it runs each task
 * in a fresh child with the harness's scratch and stack areas mapped at
 * the harness's addresses, gives it a short time, then kills every other
 * process in the sandbox and reaps them. Whatever a script does to itself
 * (crash, block, exit) is fine; the test checks that veil survives every
 * entry and finishes. Progress ("entry N") goes to fd 1 (kept as fd 200
 * for the children, which get /dev/null as stdio).
 *
 * Linked at 0x10000000 so that 0x200000 (scratch) and 0x400000 (stack)
 * are free, as in the harness.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SCRATCH 0x200000UL
#define STACK 0x400000UL
#define AREA_LEN (16 * 4096UL)
#define REPORT_FD 200
#define MAX_FORKS 6
#define TASK_MS 100

enum { CALL = 1, STORE = 2, LOAD = 3, FETCH = 4, SLEEP = 5, TASK = 6 };

static const char *paths[] = {
    "/", "/f", "/d", "/d/g", "/l", "/loop", "/bin/prog", "/bin/script",
    "/new", "/d/new", "f", "..", "/d/../f", "/nonexistent/x", "", "/f/",
};

static volatile int *forks_left;
/* System calls made by all children (shared page). */
static volatile long *calls_made;

static long raw_syscall(long nr, long a, long b, long c, long d, long e, long f) {
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

static uint64_t get64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Runs one task's steps from p to end (a child process). */
static void run_task(const uint8_t *p, const uint8_t *end) {
    close(REPORT_FD);
    void *s = mmap((void *)SCRATCH, AREA_LEN, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    void *k = mmap((void *)STACK, AREA_LEN, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (s == MAP_FAILED || k == MAP_FAILED)
        _exit(120);
    for (unsigned i = 0; i < sizeof paths / sizeof paths[0]; i++)
        strcpy((char *)SCRATCH + 64 * i, paths[i]);
    while (p < end) {
        uint8_t kind = *p++;
        switch (kind) {
        case CALL: {
            if (end - p < 56)
                _exit(121);
            long nr = (long)get64(p), a[6];
            for (int i = 0; i < 6; i++)
                a[i] = (long)get64(p + 8 + 8 * i);
            p += 56;
            /* fork, vfork, clone, clone3: a few per entry, no bombs. */
            if (nr == 56 || nr == 57 || nr == 58 || nr == 435) {
                if (__atomic_fetch_sub(forks_left, 1, __ATOMIC_SEQ_CST) <= 0)
                    continue;
            }
            __atomic_fetch_add(calls_made, 1, __ATOMIC_SEQ_CST);
            raw_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
            break;
        }
        case STORE: {
            if (end - p < 10)
                _exit(121);
            uint64_t at = get64(p);
            uint16_t n;
            memcpy(&n, p + 8, 2);
            p += 10;
            if (end - p < n)
                _exit(121);
            volatile uint8_t *dst = (volatile uint8_t *)at;
            for (unsigned i = 0; i < n; i++)
                dst[i] = p[i];
            p += n;
            break;
        }
        case LOAD: {
            if (end - p < 9)
                _exit(121);
            volatile uint8_t *src = (volatile uint8_t *)get64(p);
            uint8_t n = p[8];
            p += 9;
            uint8_t sink = 0;
            for (unsigned i = 0; i < n; i++)
                sink ^= src[i];
            (void)sink;
            break;
        }
        case FETCH: {
            if (end - p < 8)
                _exit(121);
            void (*fn)(void) = (void (*)(void))get64(p);
            p += 8;
            fn();
            break;
        }
        case SLEEP: {
            if (end - p < 4)
                _exit(121);
            uint32_t ns;
            memcpy(&ns, p, 4);
            p += 4;
            struct timespec ts = {0, ns % 10000000};
            nanosleep(&ts, NULL);
            break;
        }
        default:
            _exit(122);
        }
    }
    _exit(0);
}

/* Kills every other process in the sandbox and reaps them all. */
static void clean_up(void) {
    kill(-1, SIGKILL);
    for (;;) {
        pid_t r = waitpid(-1, NULL, __WALL);
        if (r < 0 && errno != EINTR)
            break;
    }
}

static void run_entry(const uint8_t *p, const uint8_t *end) {
    *forks_left = MAX_FORKS;
    while (p < end) {
        if (*p != TASK)
            return;
        const uint8_t *q = ++p;
        /* The task's steps run to the next TASK record at a step boundary;
         * find it by walking the records. */
        while (q < end && *q != TASK) {
            switch (*q) {
            case CALL: q += 1 + 56; break;
            case STORE: {
                uint16_t n;
                if (end - q < 11)
                    return;
                memcpy(&n, q + 9, 2);
                q += 11 + n;
                break;
            }
            case LOAD: q += 1 + 9; break;
            case FETCH: q += 1 + 8; break;
            case SLEEP: q += 1 + 4; break;
            default: return;
            }
        }
        if (q > end)
            return;
        pid_t c = fork();
        if (c == 0)
            run_task(p, q);
        if (c > 0) {
            for (int ms = 0; ms < TASK_MS; ms++) {
                if (waitpid(c, NULL, WNOHANG | __WALL) == c)
                    break;
                struct timespec ts = {0, 1000000};
                nanosleep(&ts, NULL);
            }
        }
        clean_up();
        p = q;
    }
}

static void put_file(const char *path, const void *data, size_t len) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        (void)!write(fd, data, len);
        close(fd);
    }
}

int main(void) {
    size_t cap = 1 << 20, len = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (len == cap)
            buf = realloc(buf, cap *= 2);
        ssize_t n = read(0, buf + len, cap - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    /* The harness's starting tree, in the sandbox's (in-memory) root. */
    put_file("/f", "hello, world\n", 13);
    mkdir("/d", 0755);
    static const uint8_t zeros[100];
    put_file("/d/g", zeros, sizeof zeros);
    symlink("/f", "/l");
    symlink("/loop", "/loop");

    forks_left = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (forks_left == MAP_FAILED)
        return 1;
    calls_made = (volatile long *)(forks_left + 16);
    if (dup2(1, REPORT_FD) != REPORT_FD)
        return 1;
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    close(null);

    size_t off = 0;
    int n = 0;
    while (off + 4 <= len) {
        uint32_t elen;
        memcpy(&elen, buf + off, 4);
        off += 4;
        if (elen > len - off)
            return 2;
        dprintf(REPORT_FD, "entry %d\n", n);
        run_entry(buf + off, buf + off + elen);
        off += elen;
        n++;
    }
    dprintf(REPORT_FD, "done %d entries, %ld system calls\n", n, *calls_made);
    return 0;
}
