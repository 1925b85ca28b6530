//! Escape tests: a program inside `veil do --root ROOT` tries every trick
//! we know to reach a host file outside ROOT (`..` at the root, symlinks to
//! `/`, to `../..` and to host paths, looping symlinks, `/proc/*/root`,
//! `cwd`, `exe` and `fd` magic links, directory fds passed over a unix
//! socket, chroot and pivot_root breakouts, openat2 scoping, bind mounts,
//! file handles, linkat through `/proc/self/fd`, host sockets, FIFOs and
//! device nodes) and prints what each attempt gave
//! (`tests/helpers/escape.c`). Every result is checked, and no host marker
//! may ever appear in the output. The same program also checks what the
//! sandbox reveals about the host: pids, mounts, the Sentry's mappings and
//! fds, environment, auxv, uname, with and without `--root`.
//!
//! In the sandbox, "escaping" a chroot is allowed (Linux allows it too);
//! what is checked is that the sandbox's own root is never left.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::symlink;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use veil_tests::{
    helper, platforms, require_tool, run, run_veil, veil_bin, Libc, Opts, Output, Platform,
    Scratch, ENV,
};

/// A random-enough token: a marker no honest output contains.
fn token(tag: &str) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{tag}-{}-{t:x}", std::process::id())
}

/// The host files the sandbox must never read: a secret next to the
/// rootfs directory (what `..` from the root would reach) and a marker in
/// the host's /tmp.
struct Secrets {
    secret: PathBuf,
    secret_text: String,
    marker: PathBuf,
    marker_text: String,
}

impl Secrets {
    fn new(scratch: &Scratch) -> Secrets {
        let secret = scratch.path().join("secret");
        let secret_text = token("HOSTSECRET");
        std::fs::write(&secret, format!("{secret_text}\n")).unwrap();
        let marker = PathBuf::from(format!("/tmp/{}", token("veil-escape-marker")));
        let marker_text = token("HOSTMARKER");
        std::fs::write(&marker, format!("{marker_text}\n")).unwrap();
        Secrets {
            secret,
            secret_text,
            marker,
            marker_text,
        }
    }
}

impl Drop for Secrets {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.marker);
    }
}

/// The host's `major:minor` of the disk holding `p`.
fn disk_of(p: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(p).unwrap().dev();
    let (maj, min) = (libc::major(dev), libc::minor(dev));
    format!("{maj}:{min}")
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}

/// Builds the rootfs: the escape program, decoy secrets inside, and the
/// symlinks the program follows (placed by the host, so hostfs must
/// resolve them inside the sandbox's root).
fn build_rootfs(root: &Path, s: &Secrets, scratch: &Path) {
    std::fs::create_dir_all(root.join("d/e")).unwrap();
    std::fs::copy(helper("escape", Libc::Musl), root.join("escape")).unwrap();
    std::fs::write(root.join("secret"), "INSIDE-ROOT\n").unwrap();
    std::fs::write(root.join("d/secret"), "INSIDE-D\n").unwrap();
    // A dynamic program (Debian's /bin/true) and a script whose
    // interpreters exist only on the host.
    std::fs::copy("/bin/true", root.join("dyn")).unwrap();
    std::fs::write(root.join("script"), "#!/bin/sh\necho HOSTSHELL\n").unwrap();
    std::fs::set_permissions(
        root.join("script"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let links: &[(&str, String)] = &[
        ("link_root", "/".into()),
        ("link_up", "../../../../..".into()),
        ("link_secret_abs", s.secret.display().to_string()),
        ("link_marker_abs", s.marker.display().to_string()),
        ("link_host_root", scratch.display().to_string()),
        ("link_secret_rel", "../secret".into()),
        ("d/link_up2", "../../secret".into()),
        ("d/abs", "/secret".into()),
        ("link_loop_a", "link_loop_b".into()),
        ("link_loop_b", "link_loop_a".into()),
        ("link_self", "link_self".into()),
        (
            "link_proc_root",
            format!("/proc/self/root{}", s.secret.display()),
        ),
        ("link_proc1_root", "/proc/1/root/../../secret".into()),
    ];
    for (name, target) in links {
        symlink(target, root.join(name)).unwrap();
    }
}

/// The program's `name: result` lines (each name once).
fn results(out: &Output) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for line in out.out().lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        // Multi-line dumps (maps, mountinfo, ...) are checked apart.
        m.entry(k.to_string())
            .and_modify(|e: &mut String| {
                e.push('\n');
                e.push_str(v.trim_start());
            })
            .or_insert_with(|| v.trim_start().to_string());
    }
    m
}

/// Every line named `name`.
fn lines<'a>(out: &'a str, name: &str) -> Vec<&'a str> {
    let prefix = format!("{name}: ");
    out.lines()
        .filter_map(|l| {
            l.strip_prefix(&prefix)
                .or_else(|| (l == format!("{name}:")).then_some(""))
        })
        .collect()
}

/// What each trick must give inside `--root`. `read X` is the first line
/// of the file reached: the decoys inside the root say where a walk
/// really went; `root` / `d` are the sandbox's `/` and `/d`.
const EXPECTED: &[(&str, &[&str])] = &[
    // `..` at the root stays there.
    ("dotdot_cwd", &["/"]),
    ("dotdot_secret", &["read INSIDE-ROOT"]),
    ("dotdot_dir", &["root"]),
    ("abs_dotdot", &["root"]),
    ("abs_dotdot_secret", &["read INSIDE-ROOT"]),
    ("abs_dotdot_d", &["d"]),
    // Host paths mean nothing inside.
    ("host_secret_path", &["ENOENT"]),
    ("host_marker_path", &["ENOENT"]),
    ("host_root_path", &["ENOENT"]),
    ("host_passwd", &["ENOENT"]),
    ("host_hostname", &["ENOENT"]),
    // Host symlinks in the rootfs resolve inside the sandbox.
    ("link_root", &["root"]),
    ("link_root_secret", &["read INSIDE-ROOT"]),
    ("link_up", &["root"]),
    ("link_up_secret", &["read INSIDE-ROOT"]),
    ("link_secret_abs", &["ENOENT"]),
    ("link_marker_abs", &["ENOENT"]),
    ("link_host_root", &["ENOENT"]),
    ("link_secret_rel", &["read INSIDE-ROOT"]),
    ("link_d_up2", &["read INSIDE-ROOT"]),
    ("link_d_abs", &["read INSIDE-ROOT"]),
    ("link_loop", &["ELOOP"]),
    ("link_self", &["ELOOP"]),
    ("link_loop_dir", &["ELOOP"]),
    ("link_proc_root", &["ENOENT"]),
    ("link_proc1_root", &["read INSIDE-ROOT"]),
    ("link_nofollow", &["root"]),
    ("link_onofollow", &["ELOOP"]),
    ("link_opath", &["symlink"]),
    // Symlinks made in the sandbox.
    ("mk_symlink_up", &["ok"]),
    ("mk_up_secret", &["read INSIDE-ROOT"]),
    ("mk_symlink_host", &["ok"]),
    ("mk_host", &["ENOENT"]),
    ("mk_chain45", &["ELOOP"]),
    ("mk_chain5", &["ENOENT"]),
    // Magic links.
    ("proc_self_root", &["root"]),
    ("proc_self_root_up", &["read INSIDE-ROOT"]),
    ("proc_self_root_host", &["root"]),
    ("proc_self_root_hostpath", &["ENOENT"]),
    ("proc_1_root", &["root"]),
    ("proc_1_root_up", &["read INSIDE-ROOT"]),
    ("proc_1_root_hostpath", &["ENOENT"]),
    ("proc_self_root_link", &["/"]),
    ("proc_1_root_link", &["/"]),
    ("proc_self_cwd", &["d"]),
    ("proc_self_cwd_up", &["read INSIDE-ROOT"]),
    ("proc_self_cwd_link", &["/d"]),
    ("proc_self_exe_link", &["/escape"]),
    ("proc_self_exe_same", &["yes"]),
    ("proc_self_exe_up", &["ENOTDIR"]),
    ("proc_fd_dir_link", &["/d"]),
    ("proc_fd_dir", &["d"]),
    ("proc_fd_dir_up", &["read INSIDE-ROOT"]),
    ("proc_fd_dir_secret", &["read INSIDE-D"]),
    ("openat_dirfd_up", &["read INSIDE-ROOT"]),
    ("proc_1_fd_dir_up", &["root"]),
    ("proc_fd_opath_symlink", &["ELOOP"]),
    ("proc_fd_opath_symlink_link", &["/link_secret_abs"]),
    ("proc_self_fd0", &["read "]),
    ("proc_thread_self_root", &["read INSIDE-ROOT"]),
    ("dev_fd_root", &["read INSIDE-ROOT"]),
    // Directory fds passed to a process jailed in /jail: they climb to
    // the sandbox's root (as Linux lets them), never above it.
    ("passfd_got", &["yes"]),
    ("passfd_root_up", &["read INSIDE-ROOT"]),
    ("passfd_de_up", &["read INSIDE-ROOT"]),
    ("passfd_de_up_dir", &["root"]),
    ("passfd_de_hostpath", &["ENOENT"]),
    ("passfd_de_up_hostpath", &["ENOENT"]),
    ("passfd_fchdir_up", &["read INSIDE-ROOT"]),
    ("passfd_fchdir_dir", &["root"]),
    // getcwd outside the process's root: unreachable (musl: ENOENT).
    ("passfd_fchdir_cwd", &["ENOENT"]),
    // chroot breakouts reach the sandbox's root, no further.
    ("chroot_sub", &["ok"]),
    ("chroot_dot", &["ok"]),
    ("chroot_dotdot_secret", &["read INSIDE-ROOT"]),
    ("chroot_dotdot_root", &["root"]),
    ("chroot_dotdot_host", &["ENOENT"]),
    ("chroot_dotdot_up_host", &["ENOENT"]),
    ("chroot_dotdot_cwd", &["/"]),
    ("chroot_fchdir", &["ok"]),
    ("chroot_fchdir_dot", &["ok"]),
    ("chroot_fchdir_secret", &["read INSIDE-ROOT"]),
    ("chroot_fchdir_root", &["root"]),
    ("chroot_fchdir_host", &["ENOENT"]),
    ("chroot_fchdir_up_secret", &["read INSIDE-ROOT"]),
    ("chroot_proc1_root", &["read INSIDE-ROOT"]),
    ("chroot_proc1_root_up", &["read INSIDE-ROOT"]),
    ("chroot_proc1_root_host", &["ENOENT"]),
    ("chroot_proc1_root_link", &["/"]),
    // pivot_root into /d, old root detached: /d is all there is.
    ("pivot_bind", &["ok"]),
    ("pivot_root", &["ok"]),
    ("pivot_umount", &["ok"]),
    ("pivot_dotdot", &["d"]),
    ("pivot_secret", &["read INSIDE-D"]),
    ("pivot_host", &["ENOENT"]),
    // Interpreters are found in the sandbox (which has none), never on
    // the host.
    ("exec_dyn", &["ENOENT"]),
    ("exec_script", &["ENOENT"]),
    // openat2 scoping.
    ("oa2_beneath_up", &["EXDEV"]),
    ("oa2_beneath_abs", &["EXDEV"]),
    ("oa2_beneath_abslink", &["EXDEV"]),
    ("oa2_beneath_uplink", &["EXDEV"]),
    ("oa2_beneath_ok", &["read INSIDE-D"]),
    ("oa2_inroot_up", &["read INSIDE-D"]),
    ("oa2_inroot_abs", &["read INSIDE-D"]),
    ("oa2_inroot_abslink", &["read INSIDE-D"]),
    ("oa2_inroot_uplink", &["read INSIDE-D"]),
    ("oa2_inroot_host", &["ENOENT"]),
    ("oa2_inroot_magic", &["EXDEV"]),
    ("oa2_beneath_magic", &["EXDEV"]),
    ("oa2_nomagic", &["ELOOP"]),
    ("oa2_nosymlinks", &["ELOOP"]),
    ("oa2_plain_up", &["read INSIDE-ROOT"]),
    // Mounts inside the sandbox are of the sandbox's tree.
    ("bind_root", &["ok"]),
    ("bind_root_secret", &["read INSIDE-ROOT"]),
    ("bind_root_up", &["read INSIDE-ROOT"]),
    ("bind_root_host", &["ENOENT"]),
    ("bind_up", &["ok"]),
    ("bind_up_secret", &["read INSIDE-ROOT"]),
    ("mount_proc", &["ok"]),
    ("mount_proc_root", &["read INSIDE-ROOT"]),
    ("mount_ext4", &["ENODEV", "ENOENT", "ENOTBLK", "EPERM"]),
    ("mount_host_dir", &["ENOENT"]),
    // A block device with the host disk's numbers is never the host disk.
    ("mknod_disk", &["EPERM", "ok"]),
    (
        "mknod_disk_open",
        &["ENOENT", "ENXIO", "EPERM", "EACCES", "ENODEV"],
    ),
    // Host special files: the FIFO opens as the sandbox's own pipe (the
    // host writer's bytes never arrive); the socket has no listener here.
    ("host_fifo", &["read ", "EAGAIN"]),
    ("host_socket", &["ECONNREFUSED"]),
    // File handles are not served.
    ("name_to_handle_at", &["ENOSYS", "EPERM", "EOPNOTSUPP"]),
    ("open_by_handle_at", &["ENOSYS", "EPERM", "EOPNOTSUPP"]),
    // The new mount API serves the sandbox's tree only: detached copies
    // of the root stop at the root.
    ("fsopen", &["ENODEV"]),
    ("open_tree", &["ok"]),
    ("open_tree_up", &["read INSIDE-ROOT"]),
    ("open_tree_rec", &["ok"]),
    ("open_tree_rec_up", &["read INSIDE-ROOT"]),
    ("open_tree_proc1", &["ok"]),
    ("open_tree_proc1_up", &["read INSIDE-ROOT"]),
    ("fsmount", &["ok"]),
    ("fsmount_up", &["ENOENT"]),
    ("move_mount", &["ok"]),
    ("move_mount_up", &["read INSIDE-ROOT"]),
    // linkat through /proc/self/fd and writes stay in the overlay.
    ("linkat_procfd", &["ok"]),
    ("linkat_procfd_read", &["read INSIDE-ROOT"]),
    ("linkat_emptypath", &["ok", "ENOENT"]),
    ("linkat_tmpfile", &["ok"]),
    ("linkat_tmpfile_read", &["read TMPFILE"]),
    ("write_new_file", &["ok"]),
    ("append_inside", &["ok"]),
    ("rename_root_file", &["ok"]),
];

/// The named entries of the sandbox's /proc (the rest are pids).
const PROC_NAMES: &[&str] = &[
    "cgroups",
    "cpuinfo",
    "devices",
    "diskstats",
    "filesystems",
    "loadavg",
    "meminfo",
    "mounts",
    "partitions",
    "self",
    "stat",
    "swaps",
    "sys",
    "sysvipc",
    "thread-self",
    "uptime",
    "version",
    "vmstat",
];

fn host_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap()
        .trim()
        .to_string()
}

/// What the sandbox reveals about the host, for a run of the escape
/// program as `exe` with working directory `cwd`.
fn check_leaks(out: &Output, exe: &str, cwd: &str, failures: &mut Vec<String>) {
    let text = out.out();
    let r = results(out);
    let want = |failures: &mut Vec<String>, name: &str, ok: &dyn Fn(&str) -> bool, what: &str| {
        let got = r.get(name).map(String::as_str).unwrap_or("(missing)");
        if !ok(got) {
            failures.push(format!("{name}: expected {what}, got {got:?}"));
        }
    };
    if text.lines().last() != Some("done") {
        failures.push("the program did not get to its end".into());
    }
    want(failures, "getpid", &|v| v == "1", "1");
    want(failures, "getppid", &|v| v == "0", "0");
    want(
        failures,
        "kill_probe",
        &|v| v.is_empty(),
        "no pid but 1 alive",
    );
    // /proc lists the named entries and the sandbox's one process.
    let proc_list: BTreeSet<String> = lines(&text, "proc_list")
        .first()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let mut expected: BTreeSet<String> = PROC_NAMES.iter().map(|s| s.to_string()).collect();
    expected.insert("1".into());
    if proc_list != expected {
        failures.push(format!(
            "/proc lists {proc_list:?}, expected {expected:?} (no host pid such as the test's own {})",
            std::process::id()
        ));
    }
    let cmdline = lines(&text, "proc_1_cmdline");
    if cmdline.first() != Some(&exe) {
        failures.push(format!(
            "/proc/1/cmdline is {cmdline:?}, expected the sandbox's init {exe}"
        ));
    }
    // Only the sandbox's mounts, named as in the sandbox.
    let mounts: Vec<(String, String, String)> = lines(&text, "mounts")
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[0].to_string(), f[1].to_string(), f[2].to_string())
        })
        .collect();
    let want_mounts: Vec<(String, String, String)> = [
        ("overlay", "/", "overlay"),
        ("devtmpfs", "/dev", "devtmpfs"),
        ("devpts", "/dev/pts", "devpts"),
        ("proc", "/proc", "proc"),
        ("sysfs", "/sys", "sysfs"),
        ("cgroup2", "/sys/fs/cgroup", "cgroup2"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    if mounts != want_mounts {
        failures.push(format!(
            "/proc/self/mounts shows {mounts:?}, expected {want_mounts:?}"
        ));
    }
    for l in lines(&text, "mountinfo") {
        let f: Vec<&str> = l.split(' ').collect();
        // root-in-fs, mount point, "-", type, source.
        if f.len() < 10
            || f[3] != "/"
            || !want_mounts.iter().any(|m| m.1 == f[4])
            || !want_mounts.iter().any(|m| m.2 == f[f.len() - 3])
        {
            failures.push(format!(
                "/proc/self/mountinfo line {l:?} is not a sandbox mount"
            ));
        }
    }
    // No Sentry mapping: only the program, its anonymous memory, heap,
    // stack, vDSO and its data page.
    let maps = lines(&text, "maps");
    if maps.is_empty() {
        failures.push("/proc/self/maps is empty".into());
    }
    for l in maps {
        let name = l.get(73..).unwrap_or("").trim();
        if !["", exe, "[heap]", "[stack]", "[vdso]", "[vvar]"].contains(&name) {
            failures.push(format!("/proc/self/maps shows {l:?}"));
        }
    }
    // The environment is the one given, nothing of veil's: the test's
    // fixed one, what `run` passes on for a developer, and the PWD the
    // wrapper shell of the mount test sets.
    for e in lines(&text, "environ").iter().filter(|e| !e.is_empty()) {
        let key = e.split('=').next().unwrap_or("");
        let passed_on = ["RUST_BACKTRACE", "RUST_LOG", "PWD"].contains(&key);
        if !ENV.iter().any(|(k, _)| *k == key) && !passed_on {
            failures.push(format!("/proc/self/environ has {e:?}"));
        }
    }
    // Nothing shows the host tracing or filtering the program.
    let status = lines(&text, "status");
    for (field, value) in [("TracerPid", "0"), ("Seccomp", "0"), ("PPid", "0")] {
        let l = status.iter().find(|l| l.starts_with(&format!("{field}:")));
        if l.map(|l| l[field.len() + 2..].trim()) != Some(value) {
            failures.push(format!(
                "/proc/self/status {field}: {l:?}, expected {value}"
            ));
        }
    }
    // Only the program's fds: 0-2 and the one listing /proc/self/fd (then
    // closed); no other number answers.
    want(failures, "fds", &|v| v == "0 1 2 3", "0 1 2 3");
    want(failures, "open_fds_from_3", &|v| v.is_empty(), "none");
    want(failures, "fd_0", &|v| v == "/dev/null", "/dev/null");
    for fd in ["fd_1", "fd_2"] {
        want(failures, fd, &|v| v.starts_with("pipe:["), "a pipe");
    }
    want(failures, "fd_3", &|v| v == "/proc/1/fd", "/proc/1/fd");
    want(failures, "exe", &|v| v == exe, exe);
    want(failures, "auxv_execfn", &|v| v == exe, exe);
    want(failures, "cwd", &|v| v == cwd, cwd);
    want(failures, "cgroup", &|v| v == "0::/", "0::/");
    // uname: the sandbox's kernel, never the host's release.
    let release = host_release();
    want(
        failures,
        "uname",
        &|v| {
            let f: Vec<&str> = v.split('|').collect();
            f.len() == 6 && f[0] == "Linux" && f[4] == "x86_64" && !v.contains(&release)
        },
        "Linux, x86_64 and not the host's release",
    );
    for l in text.lines() {
        if l.contains(&release) {
            failures.push(format!("the host's kernel release shows in {l:?}"));
        }
    }
    want(
        failures,
        "dev_list",
        &|v| !v.contains("sda") && !v.contains("vda") && !v.contains("kmsg"),
        "no host devices",
    );
}

/// Runs the escape program in ROOT on `p`, with the host's FIFO writer
/// and socket listener in place; returns the output and whether the host
/// socket saw a connection.
fn run_in_root(p: &Platform, root: &Path, s: &Secrets) -> (Output, bool) {
    // The host writes its marker into a FIFO of the rootfs and listens on
    // a socket there: the sandbox must reach neither.
    let fifo = root.join("hostfifo");
    let _ = std::fs::remove_file(&fifo);
    mkfifo(&fifo);
    let writer = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .expect("open the host FIFO");
    std::io::Write::write_all(&mut &writer, format!("{}\n", s.marker_text).as_bytes()).unwrap();
    let sock = root.join("hostsock");
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock).expect("bind the host socket");
    listener.set_nonblocking(true).unwrap();
    let out = run_veil(
        p,
        &["--root", root.to_str().unwrap()],
        &[
            "/escape",
            "root",
            s.secret.to_str().unwrap(),
            s.marker.to_str().unwrap(),
            root.to_str().unwrap(),
            &disk_of(root),
        ],
        &Opts::default(),
    );
    let connected = listener.accept().is_ok();
    drop(writer);
    (out, connected)
}

fn check_no_markers(out: &Output, s: &Secrets, host_paths: &[&str], failures: &mut Vec<String>) {
    let text = format!("{}{}", out.out(), out.err());
    for m in [&s.secret_text, &s.marker_text, "root:x:0:0", "HOSTSHELL"] {
        if text.contains(m) {
            failures.push(format!("host content {m:?} reached the sandbox"));
        }
    }
    // Host paths appear only where the program echoes its own arguments.
    for l in out
        .out()
        .lines()
        .filter(|l| !l.starts_with("proc_1_cmdline:"))
    {
        for h in host_paths {
            if l.contains(h) {
                failures.push(format!("the host path {h} shows in {l:?}"));
            }
        }
    }
}

#[test]
fn tricks_never_leave_the_sandbox_root() {
    let scratch = Scratch::new("escape");
    let s = Secrets::new(&scratch);
    let root = scratch.path().join("root");
    build_rootfs(&root, &s, scratch.path());
    let mut before: Vec<_> = walk(&root);
    before.sort();
    let mut all = Vec::new();
    for p in platforms() {
        let (out, connected) = run_in_root(&p, &root, &s);
        let mut failures = Vec::new();
        if out.timed_out || out.status != 0 {
            failures.push("the program did not finish cleanly".into());
        }
        if connected {
            failures.push("the sandbox connected to a host socket".into());
        }
        check_no_markers(&out, &s, &[scratch.as_str()], &mut failures);
        let r = results(&out);
        for (name, allowed) in EXPECTED {
            let got = r.get(*name).map(String::as_str).unwrap_or("(missing)");
            if !allowed.contains(&got) {
                failures.push(format!("{name}: expected one of {allowed:?}, got {got:?}"));
            }
        }
        check_leaks(&out, "/escape", "/", &mut failures);
        // The bind-mounted proc lists the sandbox's one process too.
        let listed = r.get("mount_proc_list").cloned().unwrap_or_default();
        let pids: Vec<&str> = listed
            .split_whitespace()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            .collect();
        if pids != ["1"] {
            failures.push(format!("a new proc mount lists pids {pids:?}"));
        }
        // Nothing the sandbox did reached the host rootfs.
        let mut after = walk(&root);
        after.sort();
        if after != before {
            failures.push(format!(
                "the host rootfs changed: before {before:?}, after {after:?}"
            ));
        }
        assert_eq!(
            std::fs::read_to_string(root.join("secret")).unwrap(),
            "INSIDE-ROOT\n"
        );
        if !failures.is_empty() {
            all.push(format!(
                "=== on {p}:\n  {}\n{}",
                failures.join("\n  "),
                out.describe()
            ));
        }
    }
    assert!(all.is_empty(), "{}", all.join("\n"));
}

/// Every path under `dir` (relative), with its type and size.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let md = std::fs::symlink_metadata(e.path()).unwrap();
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            if rel == "hostfifo" || rel == "hostsock" {
                continue;
            }
            out.push(format!("{rel} {:?} {}", md.file_type(), md.len()));
            if md.is_dir() {
                stack.push(e.path());
            }
        }
    }
    out
}

/// Without `--root` (the host's `/` served): the program can read host
/// files by design, but /proc still shows nothing of the host or the
/// Sentry.
#[test]
fn default_root_reveals_no_host_pids_mounts_or_sentry() {
    let exe = helper("escape", Libc::Musl);
    let exe = exe.to_str().unwrap();
    let scratch = Scratch::new("escape-host");
    let opts = Opts {
        cwd: scratch.path().to_path_buf(),
        ..Opts::default()
    };
    let mut all = Vec::new();
    for p in platforms() {
        let out = run_veil(&p, &[], &[exe, "host", "/x", "/y", "/z", "0:0"], &opts);
        let mut failures = Vec::new();
        if out.timed_out || out.status != 0 {
            failures.push("the program did not finish cleanly".into());
        }
        check_leaks(&out, exe, scratch.as_str(), &mut failures);
        if !failures.is_empty() {
            all.push(format!(
                "=== on {p}:\n  {}\n{}",
                failures.join("\n  "),
                out.describe()
            ));
        }
    }
    assert!(all.is_empty(), "{}", all.join("\n"));
}

/// Host device nodes in the rootfs are never opened, and host
/// pseudo-filesystems mounted into it (the host's /proc and /sys, and one
/// /proc file bind-mounted onto a file) show nothing. Needs root for
/// mknod and mount (the mounts are made in a private mount namespace,
/// gone with it).
#[test]
fn host_devices_and_pseudo_filesystems_in_the_root_show_nothing() {
    // SAFETY: a plain getter.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test needs root for mknod and mount (see .ci/run)"
    );
    let unshare = require_tool("unshare", "apt-get install util-linux");
    let scratch = Scratch::new("escape-special");
    let s = Secrets::new(&scratch);
    let root = scratch.path().join("root");
    std::fs::create_dir_all(root.join("hostproc")).unwrap();
    std::fs::create_dir_all(root.join("hostsys")).unwrap();
    std::fs::write(root.join("version_bind"), "").unwrap();
    std::fs::copy(helper("escape", Libc::Musl), root.join("escape")).unwrap();
    let node = |name: &str, mode: u32, dev: libc::dev_t| {
        let c = std::ffi::CString::new(root.join(name).as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        let r = unsafe { libc::mknod(c.as_ptr(), mode, dev) };
        assert_eq!(r, 0, "mknod {name}: {}", std::io::Error::last_os_error());
    };
    node("hostnull", libc::S_IFCHR | 0o666, libc::makedev(1, 3));
    {
        use std::os::unix::fs::MetadataExt;
        node(
            "hostdisk",
            libc::S_IFBLK | 0o600,
            std::fs::metadata(&root).unwrap().dev(),
        );
    }
    let host_version = std::fs::read_to_string("/proc/version").unwrap();
    let r = root.to_str().unwrap();
    let mut all = Vec::new();
    for p in platforms() {
        let script = "mount --bind /proc/version \"$1/version_bind\" && \
                      mount --bind /proc \"$1/hostproc\" && \
                      mount --bind /sys \"$1/hostsys\" && shift && exec \"$@\"";
        let mut argv: Vec<String> = [
            unshare.to_str().unwrap(),
            "--mount",
            "--propagation",
            "private",
            "/bin/sh",
            "-c",
            script,
            "sh",
            r,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        argv.push(veil_bin().display().to_string());
        argv.push("do".into());
        argv.extend(p.flags());
        argv.extend(ENV.iter().map(|(k, v)| format!("--env={k}={v}")));
        argv.extend(["--root".to_string(), r.to_string(), "--".to_string()]);
        for a in [
            "/escape",
            "special",
            s.secret.to_str().unwrap(),
            s.marker.to_str().unwrap(),
            r,
            "0:0",
        ] {
            argv.push(a.to_string());
        }
        let out = run(&argv, &Opts::default());
        let mut failures = Vec::new();
        if out.timed_out || out.status != 0 {
            failures.push("the program did not finish cleanly".into());
        }
        check_no_markers(&out, &s, &[scratch.as_str()], &mut failures);
        if out.out().contains(host_version.trim()) {
            failures.push("the host's /proc/version reached the sandbox".into());
        }
        let res = results(&out);
        for (name, allowed) in [
            ("host_null", &["EPERM"][..]),
            ("host_disk", &["EPERM"]),
            ("host_proc_file", &["read "]),
            ("host_proc_list", &[""]),
            ("host_proc_self", &["ENOENT"]),
            ("host_proc_version", &["ENOENT"]),
            ("host_sys_list", &[""]),
            ("host_sys_file", &["ENOENT"]),
            ("host_proc_file_stat", &["ok"]),
            ("host_proc_file_size", &["0"]),
        ] {
            let got = res.get(name).map(String::as_str).unwrap_or("(missing)");
            if !allowed.contains(&got) {
                failures.push(format!("{name}: expected one of {allowed:?}, got {got:?}"));
            }
        }
        check_leaks(&out, "/escape", "/", &mut failures);
        if !failures.is_empty() {
            all.push(format!(
                "=== on {p}:\n  {}\n{}",
                failures.join("\n  "),
                out.describe()
            ));
        }
    }
    assert!(all.is_empty(), "{}", all.join("\n"));
}
