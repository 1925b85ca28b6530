/* escape: tries to reach host files from inside `veil do --root ROOT`, and
 * prints what each attempt gave, one `name: result` line each; the test
 * (tests/tests/escape.rs) checks every result and that no host marker ever
 * shows up. With mode `host` (plain `veil do`, the host's / as root) only
 * the information-leak checks run; with `special`, the leak checks and the
 * host device nodes and pseudo-filesystems the test mounted into the rootfs.
 *
 * usage: escape root|host|special HOST_SECRET HOST_MARKER HOST_ROOT DISK_MAJ:MIN
 *
 * The rootfs the test builds: /escape (this program), /secret ("INSIDE-ROOT"),
 * /d/secret ("INSIDE-D"), /d/e/, symlinks (see tests/tests/escape.rs), a
 * host unix socket /hostsock and a host FIFO /hostfifo. Results: `read TEXT` (the first line read),
 * `root` / `d` (a directory that is the sandbox's / or /d), `ok`, or the
 * errno's name.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *host_secret, *host_marker, *host_root, *disk;

static void say(const char *fmt, ...) {
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof buf - 1)
        n = sizeof buf - 1;
    for (int off = 0; off < n;) {
        ssize_t w = write(1, buf + off, n - off);
        if (w <= 0)
            _exit(99);
        off += w;
    }
}

static const char *ename(int e) {
    switch (e) {
#define E(x) case x: return #x;
        E(EPERM) E(ENOENT) E(ESRCH) E(EINTR) E(EIO) E(ENXIO) E(EBADF)
        E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT) E(EBUSY) E(EEXIST) E(EXDEV)
        E(ENODEV) E(ENOTDIR) E(EISDIR) E(EINVAL) E(EROFS) E(ELOOP)
        E(ENAMETOOLONG) E(ENOSYS) E(EOPNOTSUPP) E(ECONNREFUSED) E(ESTALE)
        E(ENOTCONN) E(ENOTSOCK) E(EMLINK) E(ENOTEMPTY)
#undef E
    default: {
        static char b[32];
        snprintf(b, sizeof b, "errno%d", e);
        return b;
    }
    }
}

/* The first line of what `fd` holds, made printable. */
static void show_fd(const char *label, int fd) {
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n < 0) {
        say("%s: %s\n", label, ename(errno));
        return;
    }
    buf[n] = 0;
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            buf[i] = 0;
            break;
        }
        if (buf[i] < 32 || buf[i] > 126)
            buf[i] = '.';
    }
    say("%s: read %s\n", label, buf);
}

static struct stat root_st, d_st;
static void describe_fd(const char *label, int fd);

/* What `path` (from `dirfd`) is: a file's first line, `root` / `d` for
 * those directories, another directory's (dev, ino), or an errno. */
static void probe_at(const char *label, int dirfd, const char *path, int flags) {
    int fd = openat(dirfd, path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | flags);
    if (fd < 0) {
        say("%s: %s\n", label, ename(errno));
        return;
    }
    describe_fd(label, fd);
    close(fd);
}

/* What the open `fd` is: see probe_at. */
static void describe_fd(const char *label, int fd) {
    struct stat st;
    fstat(fd, &st);
    if (S_ISDIR(st.st_mode)) {
        if (st.st_dev == root_st.st_dev && st.st_ino == root_st.st_ino)
            say("%s: root\n", label);
        else if (st.st_dev == d_st.st_dev && st.st_ino == d_st.st_ino)
            say("%s: d\n", label);
        else
            say("%s: dir %lu:%lu\n", label, (unsigned long)st.st_dev, (unsigned long)st.st_ino);
    } else if (S_ISLNK(st.st_mode)) {
        say("%s: symlink\n", label);
    } else {
        show_fd(label, fd);
    }
}

static void probe(const char *label, const char *path) { probe_at(label, AT_FDCWD, path, 0); }

static void result(const char *label, long r) {
    if (r < 0)
        say("%s: %s\n", label, ename(errno));
    else
        say("%s: ok\n", label);
}

static void link_text(const char *label, const char *path) {
    char buf[4096];
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    if (n < 0) {
        say("%s: %s\n", label, ename(errno));
        return;
    }
    buf[n] = 0;
    say("%s: %s\n", label, buf);
}

/* Every line of a file, each as `label: LINE`. */
static void dump(const char *label, const char *path, char sep) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        say("%s: %s\n", label, ename(errno));
        return;
    }
    static char buf[1 << 16];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
        len += n;
    close(fd);
    buf[len] = 0;
    char *p = buf;
    while (p < buf + len) {
        char *e = memchr(p, sep, buf + len - p);
        if (!e)
            e = buf + len;
        *e = 0;
        for (char *c = p; *c; c++)
            if (*c < 32 || *c > 126)
                *c = '.';
        say("%s: %s\n", label, p);
        p = e + 1;
    }
}

static void list_dir(const char *label, const char *path) {
    DIR *d = opendir(path);
    if (!d) {
        say("%s: %s\n", label, ename(errno));
        return;
    }
    char line[4096] = "";
    size_t len = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        len += snprintf(line + len, sizeof line - len, " %s", e->d_name);
        if (len >= sizeof line)
            len = sizeof line - 1;
    }
    closedir(d);
    say("%s:%s\n", label, line);
}

struct open_how_ {
    uint64_t flags, mode, resolve;
};
#define RESOLVE_NO_XDEV 0x01
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#define RESOLVE_IN_ROOT 0x10

static void probe2(const char *label, int dirfd, const char *path, uint64_t resolve) {
    struct open_how_ how = {O_RDONLY | O_CLOEXEC, 0, resolve};
    int fd = syscall(437 /* openat2 */, dirfd, path, &how, sizeof how);
    if (fd < 0) {
        say("%s: %s\n", label, ename(errno));
        return;
    }
    describe_fd(label, fd);
    close(fd);
}

/* Runs `f` in a child process and waits for it. */
static void in_child(void (*f)(void)) {
    pid_t pid = fork();
    if (pid < 0) {
        say("fork: %s\n", ename(errno));
        return;
    }
    if (pid == 0) {
        f();
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
}

/* ---------------------------------------------------------------- paths */

static void paths(void) {
    chdir("/");
    for (int i = 0; i < 64; i++)
        chdir("..");
    char cwd[4096];
    say("dotdot_cwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : ename(errno));
    probe("dotdot_secret", "secret");
    probe("dotdot_dir", ".");
    probe("abs_dotdot", "/../../..");
    probe("abs_dotdot_secret", "/../../../secret");
    probe("abs_dotdot_d", "/d/../../../d");
    probe("host_secret_path", host_secret);
    probe("host_marker_path", host_marker);
    probe("host_root_path", host_root);
    probe("host_passwd", "/etc/passwd");
    probe("host_hostname", "/etc/hostname");
    /* Symlinks the test placed in the host rootfs directory. */
    probe("link_root", "/link_root");
    probe("link_root_secret", "/link_root/secret");
    probe("link_up", "/link_up");
    probe("link_up_secret", "/link_up/secret");
    probe("link_secret_abs", "/link_secret_abs");
    probe("link_marker_abs", "/link_marker_abs");
    probe("link_host_root", "/link_host_root");
    probe("link_secret_rel", "/link_secret_rel");
    probe("link_d_up2", "/d/link_up2");
    probe("link_d_abs", "/d/abs");
    probe("link_loop", "/link_loop_a");
    probe("link_self", "/link_self");
    probe("link_loop_dir", "/link_loop_a/x");
    probe("link_proc_root", "/link_proc_root");
    probe("link_proc1_root", "/link_proc1_root");
    probe("link_nofollow", "/link_root");
    probe_at("link_onofollow", AT_FDCWD, "/link_root", O_NOFOLLOW);
    probe_at("link_opath", AT_FDCWD, "/link_secret_abs", O_PATH | O_NOFOLLOW);
    /* Symlinks made inside the sandbox. */
    mkdir("/mk", 0755);
    result("mk_symlink_up", symlink("../../../../../../..", "/mk/up"));
    probe("mk_up_secret", "/mk/up/secret");
    result("mk_symlink_host", symlink(host_secret, "/mk/host"));
    probe("mk_host", "/mk/host");
    char chain[64];
    for (int i = 0; i < 45; i++) {
        char target[64];
        snprintf(chain, sizeof chain, "/mk/c%d", i);
        snprintf(target, sizeof target, "/mk/c%d", i + 1);
        symlink(target, chain);
    }
    probe("mk_chain45", "/mk/c0");
    probe("mk_chain5", "/mk/c40");
}

/* ----------------------------------------------------------- magic links */

static void magic(void) {
    probe("proc_self_root", "/proc/self/root");
    probe("proc_self_root_up", "/proc/self/root/../../../secret");
    probe("proc_self_root_host", "/proc/self/root/../../..");
    char p[4200];
    snprintf(p, sizeof p, "/proc/self/root%s", host_secret);
    probe("proc_self_root_hostpath", p);
    probe("proc_1_root", "/proc/1/root");
    probe("proc_1_root_up", "/proc/1/root/../secret");
    snprintf(p, sizeof p, "/proc/1/root/..%s", host_secret);
    probe("proc_1_root_hostpath", p);
    link_text("proc_self_root_link", "/proc/self/root");
    link_text("proc_1_root_link", "/proc/1/root");
    chdir("/d");
    probe("proc_self_cwd", "/proc/self/cwd");
    probe("proc_self_cwd_up", "/proc/self/cwd/../../../secret");
    link_text("proc_self_cwd_link", "/proc/self/cwd");
    chdir("/");
    link_text("proc_self_exe_link", "/proc/self/exe");
    {
        struct stat a, b;
        int ok = stat("/proc/self/exe", &a) == 0 && stat("/escape", &b) == 0 &&
                 a.st_ino == b.st_ino && a.st_dev == b.st_dev;
        say("proc_self_exe_same: %s\n", ok ? "yes" : "no");
    }
    probe("proc_self_exe_up", "/proc/self/exe/..");
    int dfd = open("/d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    snprintf(p, sizeof p, "/proc/self/fd/%d", dfd);
    link_text("proc_fd_dir_link", p);
    probe("proc_fd_dir", p);
    snprintf(p, sizeof p, "/proc/self/fd/%d/../../../../secret", dfd);
    probe("proc_fd_dir_up", p);
    snprintf(p, sizeof p, "/proc/self/fd/%d/secret", dfd);
    probe("proc_fd_dir_secret", p);
    probe_at("openat_dirfd_up", dfd, "../../../../secret", 0);
    snprintf(p, sizeof p, "/proc/1/fd/%d/..", dfd);
    probe("proc_1_fd_dir_up", p);
    close(dfd);
    int pfd = open("/link_secret_abs", O_PATH | O_NOFOLLOW | O_CLOEXEC);
    snprintf(p, sizeof p, "/proc/self/fd/%d", pfd);
    probe("proc_fd_opath_symlink", p);
    link_text("proc_fd_opath_symlink_link", p);
    close(pfd);
    probe("proc_self_fd0", "/proc/self/fd/0");
    probe("proc_thread_self_root", "/proc/thread-self/root/../secret");
    probe("dev_fd_root", "/dev/fd/../../../secret");
}

/* A dynamic program and a script in the rootfs: their interpreters (the
 * host has them) are looked up in the sandbox, which has none. */
static void exec_dyn(void) {
    char *a[] = {"/dyn", NULL};
    execve("/dyn", a, environ);
    say("exec_dyn: %s\n", ename(errno));
}

static void exec_script(void) {
    char *a[] = {"/script", NULL};
    execve("/script", a, environ);
    say("exec_script: %s\n", ename(errno));
}

/* ---------------------------------------------------------- fd passing */

static int sock[2];

static void send_fd(int s, int fd) {
    char c = 'x';
    struct iovec iov = {&c, 1};
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                       .msg_controllen = sizeof cbuf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    if (sendmsg(s, &m, 0) < 0)
        say("sendmsg: %s\n", ename(errno));
}

static int recv_fd(int s) {
    char c;
    struct iovec iov = {&c, 1};
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                       .msg_controllen = sizeof cbuf};
    if (recvmsg(s, &m, 0) <= 0)
        return -1;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    if (!cm || cm->cmsg_type != SCM_RIGHTS)
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    return fd;
}

/* The receiver is jailed in /jail; it gets a fd of / and of /d/e. */
static void fd_receiver(void) {
    close(sock[0]);
    if (chroot("/jail") < 0 || chdir("/") < 0)
        say("passfd_chroot: %s\n", ename(errno));
    int root = recv_fd(sock[1]);
    int de = recv_fd(sock[1]);
    say("passfd_got: %s\n", root >= 0 && de >= 0 ? "yes" : "no");
    probe_at("passfd_root_up", root, "../../../../secret", 0);
    probe_at("passfd_de_up", de, "../../../../../../secret", 0);
    probe_at("passfd_de_up_dir", de, "../../../../../..", 0);
    probe_at("passfd_de_hostpath", de, host_secret + 1, 0);
    char p[4200];
    snprintf(p, sizeof p, "../../../../../..%s", host_secret);
    probe_at("passfd_de_up_hostpath", de, p, 0);
    /* Climbing with fchdir. */
    fchdir(de);
    for (int i = 0; i < 64; i++)
        chdir("..");
    probe("passfd_fchdir_up", "secret");
    probe("passfd_fchdir_dir", ".");
    char cwd[4096];
    say("passfd_fchdir_cwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : ename(errno));
}

static void fd_passing(void) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sock) < 0) {
        say("socketpair: %s\n", ename(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        fd_receiver();
        _exit(0);
    }
    close(sock[1]);
    int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    int de = open("/d/e", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    send_fd(sock[0], root);
    send_fd(sock[0], de);
    close(root);
    close(de);
    int st;
    waitpid(pid, &st, 0);
    close(sock[0]);
}

/* ------------------------------------------------------------- chroot */

static void chroot_dotdot(void) {
    if (chroot("/jail") < 0) {
        say("chroot_jail: %s\n", ename(errno));
        return;
    }
    chdir("/");
    mkdir("sub", 0755);
    /* The classic: chroot into a subdirectory while cwd stays above it. */
    result("chroot_sub", chroot("sub"));
    for (int i = 0; i < 64; i++)
        chdir("..");
    result("chroot_dot", chroot("."));
    probe("chroot_dotdot_secret", "/secret");
    probe("chroot_dotdot_root", "/");
    probe("chroot_dotdot_host", host_secret);
    char p[4200];
    snprintf(p, sizeof p, "/../../../../..%s", host_secret);
    probe("chroot_dotdot_up_host", p);
    char cwd[4096];
    say("chroot_dotdot_cwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : ename(errno));
}

static void chroot_fchdir(void) {
    int out = open("/d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (chroot("/jail") < 0) {
        say("chroot_jail: %s\n", ename(errno));
        return;
    }
    chdir("/");
    result("chroot_fchdir", fchdir(out));
    for (int i = 0; i < 64; i++)
        chdir("..");
    result("chroot_fchdir_dot", chroot("."));
    probe("chroot_fchdir_secret", "/secret");
    probe("chroot_fchdir_root", "/");
    probe("chroot_fchdir_host", host_secret);
    probe("chroot_fchdir_up_secret", "/../../../../secret");
}

static void chroot_proc(void) {
    /* A process jailed in /jail reads another's /proc/N/root. */
    int proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (chroot("/jail") < 0) {
        say("chroot_jail: %s\n", ename(errno));
        return;
    }
    chdir("/");
    probe_at("chroot_proc1_root", proc, "1/root/secret", 0);
    probe_at("chroot_proc1_root_up", proc, "1/root/../../../secret", 0);
    char p[4200];
    snprintf(p, sizeof p, "1/root%s", host_secret);
    probe_at("chroot_proc1_root_host", proc, p, 0);
    char buf[4096];
    ssize_t n = readlinkat(proc, "1/root", buf, sizeof buf - 1);
    buf[n < 0 ? 0 : n] = 0;
    say("chroot_proc1_root_link: %s\n", n < 0 ? ename(errno) : buf);
}

static void pivot(void) {
    /* /d made a mount, pivot_root(".", ".") into it, then a lazy unmount
     * of the old root: what is left is /d, and `..` stays in it. */
    if (unshare(CLONE_NEWNS) < 0) {
        say("pivot_unshare: %s\n", ename(errno));
        return;
    }
    result("pivot_bind", mount("/d", "/d", NULL, MS_BIND, NULL));
    chdir("/d");
    result("pivot_root", syscall(SYS_pivot_root, ".", "."));
    result("pivot_umount", umount2(".", MNT_DETACH));
    for (int i = 0; i < 64; i++)
        chdir("..");
    probe("pivot_dotdot", ".");
    probe("pivot_secret", "/secret");
    probe("pivot_host", host_secret);
    list_dir("pivot_list", "/");
}

/* -------------------------------------------------------------- openat2 */

static void openat2_tricks(void) {
    int d = open("/d", O_PATH | O_DIRECTORY | O_CLOEXEC);
    int r = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    probe2("oa2_beneath_up", d, "../secret", RESOLVE_BENEATH);
    probe2("oa2_beneath_abs", d, "/secret", RESOLVE_BENEATH);
    probe2("oa2_beneath_abslink", d, "abs", RESOLVE_BENEATH);
    probe2("oa2_beneath_uplink", d, "link_up2", RESOLVE_BENEATH);
    probe2("oa2_beneath_ok", d, "secret", RESOLVE_BENEATH);
    probe2("oa2_inroot_up", d, "../../../secret", RESOLVE_IN_ROOT);
    probe2("oa2_inroot_abs", d, "/secret", RESOLVE_IN_ROOT);
    probe2("oa2_inroot_abslink", d, "abs", RESOLVE_IN_ROOT);
    probe2("oa2_inroot_uplink", d, "link_up2", RESOLVE_IN_ROOT);
    probe2("oa2_inroot_host", r, host_secret, RESOLVE_IN_ROOT);
    probe2("oa2_inroot_magic", r, "proc/self/root/secret", RESOLVE_IN_ROOT);
    probe2("oa2_beneath_magic", r, "proc/self/root/secret", RESOLVE_BENEATH);
    probe2("oa2_nomagic", AT_FDCWD, "/proc/self/root/secret", RESOLVE_NO_MAGICLINKS);
    probe2("oa2_nosymlinks", AT_FDCWD, "/link_root/secret", RESOLVE_NO_SYMLINKS);
    probe2("oa2_plain_up", r, "../../../secret", 0);
    close(d);
    close(r);
}

/* --------------------------------------------------------------- mounts */

static void mounts(void) {
    mkdir("/mnt", 0755);
    mkdir("/mnt2", 0755);
    mkdir("/mnt3", 0755);
    result("bind_root", mount("/", "/mnt", NULL, MS_BIND | MS_REC, NULL));
    probe("bind_root_secret", "/mnt/secret");
    probe("bind_root_up", "/mnt/../../../secret");
    probe("bind_root_host", "/mnt/link_secret_abs");
    result("bind_up", mount("/..", "/mnt3", NULL, MS_BIND, NULL));
    probe("bind_up_secret", "/mnt3/secret");
    result("mount_proc", mount("proc", "/mnt2", "proc", 0, NULL));
    list_dir("mount_proc_list", "/mnt2");
    probe("mount_proc_root", "/mnt2/1/root/../../secret");
    char dev[64];
    snprintf(dev, sizeof dev, "/dev/block/%s", disk);
    result("mount_ext4", mount(dev, "/mnt3", "ext4", MS_RDONLY, NULL));
    result("mount_host_dir", mount(host_root, "/mnt3", NULL, MS_BIND, NULL));
    /* A device node with the host disk's numbers, made in the sandbox. */
    unsigned maj = 0, min = 0;
    sscanf(disk, "%u:%u", &maj, &min);
    result("mknod_disk", mknod("/mk/disk", S_IFBLK | 0600, makedev(maj, min)));
    probe("mknod_disk_open", "/mk/disk");
    result("mknod_null", mknod("/mk/null", S_IFCHR | 0666, makedev(1, 3)));
    int fd = open("/mk/null", O_WRONLY | O_CLOEXEC);
    result("mknod_null_write", fd < 0 ? -1 : write(fd, "x", 1));
    if (fd >= 0)
        close(fd);
    /* Host special files in the rootfs. */
    probe("host_fifo", "/hostfifo");
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX, .sun_path = "/hostsock"};
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
        say("host_socket: %s\n", ename(errno));
    } else {
        show_fd("host_socket", s);
    }
    close(s);
}

/* ------------------------------------------------------ handles, links */

static void handles(void) {
    struct {
        unsigned int handle_bytes;
        int handle_type;
        unsigned char f_handle[128];
    } h = {128, 0, {0}};
    int mount_id = 0;
    long r = syscall(303 /* name_to_handle_at */, AT_FDCWD, "/secret", &h, &mount_id, 0);
    result("name_to_handle_at", r);
    /* The "shocker" handle: ext4's root directory, inode 2. */
    struct {
        unsigned int handle_bytes;
        int handle_type;
        unsigned char f_handle[8];
    } sh = {8, 1, {2, 0, 0, 0, 0, 0, 0, 0}};
    int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    r = syscall(304 /* open_by_handle_at */, root, &sh, O_RDONLY | O_DIRECTORY);
    result("open_by_handle_at", r);
    if (r >= 0) {
        char p[64];
        snprintf(p, sizeof p, "/proc/self/fd/%ld", r);
        list_dir("open_by_handle_at_list", p);
        close(r);
    }
    close(root);
}

static void new_mount_api(void) {
    long fd = syscall(430 /* fsopen */, "ext4", 0);
    result("fsopen", fd);
    if (fd >= 0)
        close(fd);
    fd = syscall(428 /* open_tree */, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */);
    result("open_tree", fd);
    if (fd >= 0) {
        probe_at("open_tree_up", fd, "../../../secret", 0);
        close(fd);
    }
    /* A recursive copy of the root, and of / as /proc/1/root names it:
     * `..` stops at the copy's top, which is the sandbox's root. */
    fd = syscall(428, AT_FDCWD, "/", 1 | 0x8000 /* AT_RECURSIVE */);
    result("open_tree_rec", fd);
    if (fd >= 0) {
        probe_at("open_tree_rec_up", fd, "../../../secret", 0);
        close(fd);
    }
    fd = syscall(428, AT_FDCWD, "/proc/1/root", 1);
    result("open_tree_proc1", fd);
    if (fd >= 0) {
        probe_at("open_tree_proc1_up", fd, "../secret", 0);
        close(fd);
    }
    /* A new detached tmpfs: nothing above its root. */
    fd = syscall(430 /* fsopen */, "tmpfs", 0);
    if (fd >= 0) {
        syscall(431 /* fsconfig */, fd, 6 /* FSCONFIG_CMD_CREATE */, 0, 0, 0);
        long m = syscall(432 /* fsmount */, fd, 0, 0);
        result("fsmount", m);
        if (m >= 0) {
            probe_at("fsmount_up", m, "../../secret", 0);
            /* Attached below the root, it is still inside. */
            mkdir("/nm", 0755);
            result("move_mount", syscall(429, m, "", AT_FDCWD, "/nm", 4 /* F_EMPTY_PATH */));
            probe("move_mount_up", "/nm/../secret");
            close(m);
        }
        close(fd);
    }
}

static void links(void) {
    int fd = open("/secret", O_RDONLY | O_CLOEXEC);
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    result("linkat_procfd", linkat(AT_FDCWD, p, AT_FDCWD, "/linked", AT_SYMLINK_FOLLOW));
    probe("linkat_procfd_read", "/linked");
    result("linkat_emptypath", linkat(fd, "", AT_FDCWD, "/linked2", AT_EMPTY_PATH));
    close(fd);
    fd = open("/", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        say("tmpfile: %s\n", ename(errno));
    } else {
        write(fd, "TMPFILE\n", 8);
        snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        result("linkat_tmpfile", linkat(AT_FDCWD, p, AT_FDCWD, "/linked3", AT_SYMLINK_FOLLOW));
        probe("linkat_tmpfile_read", "/linked3");
        close(fd);
    }
    /* Writes go to the overlay, never the host rootfs. */
    fd = open("/written", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    result("write_new_file", fd < 0 ? -1 : write(fd, "w\n", 2));
    if (fd >= 0)
        close(fd);
    fd = open("/secret", O_WRONLY | O_APPEND | O_CLOEXEC);
    result("append_inside", fd < 0 ? -1 : write(fd, "appended\n", 9));
    if (fd >= 0)
        close(fd);
    result("rename_root_file", rename("/d/secret", "/d/moved"));
}

/* ---------------------------------------------------------------- leaks */

static void leaks(void) {
    say("getpid: %d\n", (int)getpid());
    say("getppid: %d\n", (int)getppid());
    /* No host process answers a signal probe (the sandbox is one process
     * now, pid 1). */
    char alive[256] = "";
    size_t alen = 0;
    for (int pid = 2; pid < 32768; pid++)
        if ((kill(pid, 0) == 0 || errno != ESRCH) && alen < sizeof alive - 16)
            alen += snprintf(alive + alen, sizeof alive - alen, " %d", pid);
    say("kill_probe:%s\n", alive);
    list_dir("proc_list", "/proc");
    dump("proc_1_cmdline", "/proc/1/cmdline", 0);
    dump("proc_1_comm", "/proc/1/comm", '\n');
    dump("mountinfo", "/proc/self/mountinfo", '\n');
    dump("mounts", "/proc/self/mounts", '\n');
    dump("maps", "/proc/self/maps", '\n');
    dump("environ", "/proc/self/environ", 0);
    dump("status", "/proc/self/status", '\n');
    dump("stat", "/proc/self/stat", '\n');
    dump("cgroup", "/proc/self/cgroup", '\n');
    dump("proc_version", "/proc/version", '\n');
    dump("osrelease", "/proc/sys/kernel/osrelease", '\n');
    list_dir("dev_list", "/dev");
    /* The fds: only the program's. */
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    char line[4096] = "";
    size_t len = 0;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        len += snprintf(line + len, sizeof line - len, " %s", e->d_name);
        char p[300];
        snprintf(p, sizeof p, "/proc/self/fd/%s", e->d_name);
        char l[300];
        snprintf(l, sizeof l, "fd_%s", e->d_name);
        link_text(l, p);
    }
    if (d)
        closedir(d);
    say("fds:%s\n", line);
    /* No other descriptor answers (the Sentry's own are not the program's). */
    len = 0;
    line[0] = 0;
    for (int fd = 3; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            len += snprintf(line + len, sizeof line - len, " %d", fd);
    say("open_fds_from_3:%s\n", line);
    link_text("exe", "/proc/self/exe");
    const char *s = (const char *)getauxval(AT_EXECFN);
    say("auxv_execfn: %s\n", s ? s : "(none)");
    s = (const char *)getauxval(AT_PLATFORM);
    say("auxv_platform: %s\n", s ? s : "(none)");
    say("auxv_uid: %lu\n", getauxval(AT_UID));
    struct utsname u;
    uname(&u);
    say("uname: %s|%s|%s|%s|%s|%s\n", u.sysname, u.nodename, u.release, u.version, u.machine,
        u.domainname);
    char cwd[4096];
    say("cwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : ename(errno));
}

/* Host device nodes and host pseudo-filesystems (and one of their files)
 * mounted into the rootfs by the test (mode `special`). */
static void special(void) {
    probe("host_null", "/hostnull");
    probe("host_disk", "/hostdisk");
    probe("host_proc_file", "/version_bind");
    list_dir("host_proc_list", "/hostproc");
    probe("host_proc_self", "/hostproc/self/environ");
    probe("host_proc_version", "/hostproc/version");
    list_dir("host_sys_list", "/hostsys");
    probe("host_sys_file", "/hostsys/kernel/hostname");
    struct stat st;
    result("host_proc_file_stat", stat("/version_bind", &st));
    say("host_proc_file_size: %ld\n", (long)st.st_size);
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: escape root|host|special SECRET MARKER HOSTROOT MAJ:MIN\n");
        return 2;
    }
    host_secret = argv[2];
    host_marker = argv[3];
    host_root = argv[4];
    disk = argv[5];
    stat("/", &root_st);
    stat("/d", &d_st);
    leaks();
    if (!strcmp(argv[1], "root")) {
        paths();
        magic();
        mkdir("/jail", 0755);
        fd_passing();
        in_child(chroot_dotdot);
        in_child(chroot_fchdir);
        in_child(chroot_proc);
        in_child(pivot);
        in_child(exec_dyn);
        in_child(exec_script);
        openat2_tricks();
        mounts();
        handles();
        new_mount_api();
        links();
    } else if (!strcmp(argv[1], "special")) {
        special();
    }
    say("done\n");
    return 0;
}
