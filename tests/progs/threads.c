/*
 * Threads: pthread_create / join, mutex and condition-variable contention
 * across 16 threads, thread ids, TLS, a thread calling exit() for the whole
 * process group (in a forked child), and CLONE_CHILD_CLEARTID wakeups
 * (pthread_join relies on them), and a process-group kill reaching a
 * many-threaded process once.
 */
#include "common.h"
#include <pthread.h>
#include <sys/wait.h>

#define THREADS 16
#define ROUNDS 2000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long counter;
static int turn;
static __thread int tls_value;

static void *contend(void *arg) {
    long id = (long)arg;
    tls_value = (int)id;
    for (int i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
    }
    return (void *)(long)(tls_value == (int)id);
}

/* Threads take turns in id order, handing over through a condvar. */
static void *relay(void *arg) {
    long id = (long)arg;
    pthread_mutex_lock(&lock);
    while (turn != id)
        pthread_cond_wait(&cond, &lock);
    turn++;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void *tid_of(void *arg) {
    (void)arg;
    return (void *)(long)syscall(SYS_gettid);
}

static int park_fd[2];

static void *park(void *arg) {
    (void)arg;
    char c;
    while (read(park_fd[0], &c, 1) < 0 && errno == EINTR) {
    }
    return NULL;
}

/* In a new process group: kill(0) and kill(-pgid) with a blocked real-time
 * signal queue it once per process, however many threads it has. */
static void group_kill_counts(void) {
    fflush(stdout);
    pid_t p = fork();
    if (p == 0) {
        setpgid(0, 0);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGRTMIN);
        sigaddset(&set, SIGRTMIN + 1);
        sigprocmask(SIG_BLOCK, &set, NULL);
        if (pipe(park_fd) != 0)
            _exit(2);
        pthread_t x[4];
        for (int i = 0; i < 4; i++)
            pthread_create(&x[i], NULL, park, NULL);
        kill(0, SIGRTMIN);
        kill(-getpgrp(), SIGRTMIN + 1);
        struct timespec zero = {0, 0};
        int n0 = 0, n1 = 0, sig;
        while ((sig = sigtimedwait(&set, NULL, &zero)) > 0)
            *(sig == SIGRTMIN ? &n0 : &n1) += 1;
        printf("group kill of a 5-thread process queues: kill(0) %d, kill(-pgid) %d\n", n0, n1);
        close(park_fd[1]);
        for (int i = 0; i < 4; i++)
            pthread_join(x[i], NULL);
        fflush(stdout);
        _exit(0);
    }
    int st = 0;
    waitpid(p, &st, 0);
    printf("group kill child: exited=%d status=%d\n", WIFEXITED(st), WEXITSTATUS(st));
}

static void *exit_all(void *arg) {
    (void)arg;
    exit(7);
}

int main(void) {
    pthread_t t[THREADS];
    long ok = 0;
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, contend, (void *)i);
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        ok += (long)r;
    }
    printf("mutex counter = %ld (want %d)\n", counter, THREADS * ROUNDS);
    printf("tls kept per thread: %ld/%d\n", ok, THREADS);

    for (long i = THREADS - 1; i >= 0; i--)
        pthread_create(&t[i], NULL, relay, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    printf("condvar relay reached %d\n", turn);

    void *tid;
    pthread_create(&t[0], NULL, tid_of, NULL);
    pthread_join(t[0], &tid);
    printf("thread tid differs from pid: %s\n", (long)tid != getpid() ? "yes" : "no");
    printf("getpid == gettid in main: %s\n", getpid() == syscall(SYS_gettid) ? "yes" : "no");
    /* A joined thread is gone: signalling it is ESRCH (poll briefly: the
     * kernel may release the tid just after the join returns). */
    long r = 0;
    for (int i = 0; i < 1000; i++) {
        r = syscall(SYS_tgkill, getpid(), (long)tid, 0);
        if (r != 0)
            break;
        usleep(1000);
    }
    printf("tgkill(joined thread, 0): %s\n", r == 0 ? "0" : errno == ESRCH ? "ESRCH" : "other");
    printf("tgkill(self, 0): %ld\n", (long)syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), 0));

    fflush(stdout);
    pid_t p = fork();
    if (p == 0) {
        pthread_t x;
        pthread_create(&x, NULL, exit_all, NULL);
        pthread_join(x, NULL);
        _exit(1);
    }
    int st = 0;
    waitpid(p, &st, 0);
    printf("exit() from a thread ends the process: exited=%d status=%d\n", WIFEXITED(st), WEXITSTATUS(st));

    for (int round = 0; round < 50; round++) {
        pthread_create(&t[0], NULL, tid_of, NULL);
        pthread_join(t[0], NULL);
    }
    printf("50 create/join cycles: done\n");
    group_kill_counts();
    return 0;
}
