//! Real programs: Debian's static busybox and dynamic glibc programs
//! (coreutils, python3), each run natively and under veil on every
//! platform; standard output and exit status must be equal.
//!
//! Each test runs both sides in the same working directory (a fresh scratch
//! directory), so that output naming the directory is comparable.

use veil_tests::{
    assert_same_as_native, require_file, require_static_busybox, run_native, tests_dir, Opts,
    Scratch,
};

fn same(argv: &[&str]) {
    let scratch = Scratch::new("prog");
    let opts = Opts {
        cwd: scratch.path().to_path_buf(),
        ..Opts::default()
    };
    assert_same_as_native(argv, &opts);
}

fn busybox(args: &[&str]) {
    require_static_busybox();
    let mut argv = vec!["/bin/busybox"];
    argv.extend_from_slice(args);
    same(&argv);
}

fn glibc(argv: &[&str]) {
    require_file(argv[0], "apt-get install coreutils");
    same(argv);
}

fn python(args: &[&str]) {
    require_file("/usr/bin/python3", "apt-get install python3");
    let mut argv = vec!["/usr/bin/python3"];
    argv.extend_from_slice(args);
    same(&argv);
}

/// Runs tests/scripts/`name` with python3.
fn python_script(name: &str) {
    let path = tests_dir().join("scripts").join(name);
    python(&[path.to_str().expect("utf-8 path")]);
}

#[test]
fn busybox_echo_hello() {
    require_static_busybox();
    // The native side is what veil is compared with; make sure it is right.
    let native = run_native(&["/bin/busybox", "echo", "hello"], &Opts::default());
    assert_eq!(native.out(), "hello\n");
    busybox(&["echo", "hello"]);
}

#[test]
fn busybox_ls_la_usr() {
    busybox(&["ls", "-la", "/usr"]);
}

#[test]
fn busybox_cat_os_release() {
    busybox(&["cat", "/etc/os-release"]);
}

#[test]
fn busybox_sha256sum_busybox() {
    busybox(&["sha256sum", "/bin/busybox"]);
}

#[test]
fn busybox_wc_l_passwd() {
    busybox(&["wc", "-l", "/etc/passwd"]);
}

#[test]
fn busybox_head_passwd() {
    busybox(&["head", "-n", "3", "/etc/passwd"]);
}

#[test]
fn busybox_sort_passwd() {
    busybox(&["sort", "/etc/passwd"]);
}

#[test]
fn busybox_cat_missing_file_fails() {
    // Output and status of a failing program match too.
    busybox(&["cat", "/nonexistent/file"]);
}

#[test]
fn busybox_sh_exit_status() {
    // ash runs `exit` itself: no fork.
    busybox(&["sh", "-c", "echo before; exit 7"]);
}

#[test]
fn glibc_ls_la_usr_share() {
    glibc(&["/bin/ls", "-la", "/usr/share"]);
}

#[test]
fn glibc_stat_hostname() {
    require_file("/etc/hostname", "the host has no /etc/hostname");
    glibc(&["/usr/bin/stat", "/etc/hostname"]);
}

#[test]
fn glibc_sha256sum_busybox() {
    require_static_busybox();
    glibc(&["/usr/bin/sha256sum", "/bin/busybox"]);
}

#[test]
fn glibc_id() {
    glibc(&["/usr/bin/id"]);
}

#[test]
fn python3_json_hashlib_re_os() {
    python(&[
        "-c",
        "import json,hashlib,re,os; print(json.dumps({'a':1}), hashlib.sha256(b'x').hexdigest(), os.getcwd())",
    ]);
}

#[test]
fn python3_sum_no_site() {
    python(&["-S", "-c", "print(sum(range(10**6)))"]);
}

/// multiprocessing.Pool(4): map, imap_unordered, apply_async and starmap
/// over forked workers (pipes, POSIX semaphores in /dev/shm shared across
/// fork, a result-handler thread).
#[test]
fn python3_multiprocessing_pool() {
    python_script("python_pool.py");
}

/// Shared memory through MAP_SHARED file mappings: multiprocessing's
/// shared_memory (a /dev/shm file each process maps), ShareableList,
/// Value / Array across fork, and the mmap module writing a file of the
/// working directory from a child (flush, resize, move, MAP_PRIVATE).
#[test]
fn python3_shared_memory_and_mmap() {
    python_script("python_shared_memory.py");
}

/// asyncio: a unix-socket server and client on a path, a subprocess with
/// piped stdin and stdout, streams over socketpair() carrying more than a
/// socket buffer, concurrent sleeps; the event loop wakes through a
/// socketpair of its own.
#[test]
fn python3_asyncio_unix_sockets() {
    python_script("python_asyncio.py");
}

/// multiprocessing's socket-based parts: a duplex Pipe to a child, a
/// descriptor passed with SCM_RIGHTS, Listener / Client on a path and an
/// abstract name; socket.send_fds / recv_fds.
#[test]
fn python3_multiprocessing_unix_sockets() {
    python_script("python_unix_sockets.py");
}

/// fcntl.flock and fcntl.lockf (conflicts with a forked child, a lock it
/// waits for), a memfd shared with a child through mmap and then sealed,
/// a FIFO between two processes, an O_TMPFILE file given a name.
#[test]
fn python3_file_locks_memfd_fifo_tmpfile() {
    python_script("python_files.py");
}
