/*
 * execve from a multi-threaded process: the other threads end (whatever
 * they are doing: sleeping, blocked on a pipe, waiting on a condition
 * variable, spinning), the exec'ing thread keeps the process id even when
 * it is not the main thread, and the new image runs single-threaded.
 */
#include "common.h"
#include <dirent.h>
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>

static int pipefd[2];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static volatile int spin_go = 1;
static char self_path[4096];

static void *sleeper(void *a) {
    (void)a;
    struct timespec ts = {100, 0};
    nanosleep(&ts, NULL);
    return NULL;
}

static void *reader(void *a) {
    (void)a;
    char c;
    (void)!read(pipefd[0], &c, 1);
    return NULL;
}

static void *waiter(void *a) {
    (void)a;
    pthread_mutex_lock(&mu);
    for (;;)
        pthread_cond_wait(&cv, &mu);
    return NULL;
}

static void *spinner(void *a) {
    (void)a;
    while (spin_go)
        ;
    return NULL;
}

static int count_tasks(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void exec_self(const char *mode, int pid) {
    char pidbuf[32];
    snprintf(pidbuf, sizeof pidbuf, "%d", pid);
    char *argv[] = {self_path, "child", (char *)mode, pidbuf, NULL};
    execv(self_path, argv);
    printf("execv failed: %s\n", strerror(errno));
    exit(1);
}

static void *execer(void *a) {
    exec_self("from-thread", *(int *)a);
    return NULL;
}

static void start_threads(void) {
    pthread_t t;
    if (pipe(pipefd) != 0)
        exit(2);
    pthread_create(&t, NULL, sleeper, NULL);
    pthread_create(&t, NULL, reader, NULL);
    pthread_create(&t, NULL, waiter, NULL);
    pthread_create(&t, NULL, spinner, NULL);
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "child") == 0) {
        printf("%s: pid kept=%s tasks=%d\n", argv[2],
               atoi(argv[3]) == getpid() ? "yes" : "no", count_tasks());
        printf("%s: gettid is pid=%s\n", argv[2],
               syscall(SYS_gettid) == getpid() ? "yes" : "no");
        return 0;
    }
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (n <= 0)
        return 2;
    self_path[n] = 0;
    int pid = getpid();
    fflush(stdout);

    /* The main thread execs while four others run. */
    pid_t c = fork();
    if (c == 0) {
        start_threads();
        printf("before exec: tasks=%d\n", count_tasks());
        fflush(stdout);
        exec_self("from-main", pid = getpid());
    }
    int st;
    waitpid(c, &st, 0);
    printf("main exec: exited=%d status=%d\n", WIFEXITED(st), WEXITSTATUS(st));
    fflush(stdout);

    /* A non-main thread execs: it takes over the process id. */
    c = fork();
    if (c == 0) {
        start_threads();
        static int mypid;
        mypid = getpid();
        pthread_t t;
        pthread_create(&t, NULL, execer, &mypid);
        for (;;)
            pause();
    }
    waitpid(c, &st, 0);
    printf("thread exec: exited=%d status=%d\n", WIFEXITED(st), WEXITSTATUS(st));
    fflush(stdout);

    /* A failing exec leaves every thread alone. */
    c = fork();
    if (c == 0) {
        start_threads();
        char *args[] = {"/nonexistent/prog", NULL};
        execv(args[0], args);
        printf("failed exec: %s tasks=%d\n", strerror(errno), count_tasks());
        fflush(stdout);
        _exit(0);
    }
    waitpid(c, &st, 0);
    printf("failed exec child: exited=%d status=%d\n", WIFEXITED(st), WEXITSTATUS(st));
    (void)pid;
    return 0;
}
