//! The `veil do` command line: errors, `--strace`, `--cwd`, `--env`,
//! standard input, and the guarantee that writes never reach the host.

use std::path::Path;

use veil_tests::{
    assert_same_as_native, platforms, prog, require_file, require_static_busybox, run_native,
    run_veil, run_veil_raw, Libc, Opts, Output, Scratch, Stdin,
};

/// Panics unless `out` failed and said so in exactly one line on stderr.
fn assert_one_line_error(out: &Output, mention: &str) {
    assert!(!out.timed_out, "timed out\n{}", out.describe());
    assert_ne!(out.status, 0, "expected a failure\n{}", out.describe());
    let err = out.err();
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line on stderr\n{}",
        out.describe()
    );
    assert!(
        lines[0].contains(mention),
        "expected the error to mention {mention:?}\n{}",
        out.describe()
    );
}

#[test]
fn missing_program_is_one_line_and_non_zero() {
    for p in platforms() {
        let out = run_veil(&p, &[], &["/nonexistent/program"], &Opts::default());
        assert_one_line_error(&out, "/nonexistent/program");
        let out = run_veil(&p, &[], &["no-such-program-on-path"], &Opts::default());
        assert_one_line_error(&out, "no-such-program-on-path");
    }
}

#[test]
fn bad_flags_are_one_line_and_non_zero() {
    require_static_busybox();
    let cases: &[&[&str]] = &[
        &["do", "--no-such-flag", "--", "/bin/busybox", "true"],
        &[
            "do",
            "--platform=no-such-platform",
            "--",
            "/bin/busybox",
            "true",
        ],
        &[
            "do",
            "--env",
            "NO_EQUALS_SIGN",
            "--",
            "/bin/busybox",
            "true",
        ],
        &["do"],
        &["do", "--"],
        &["no-such-subcommand"],
    ];
    for args in cases {
        let out = run_veil_raw(args, &Opts::default());
        assert!(!out.timed_out, "timed out\n{}", out.describe());
        assert_ne!(out.status, 0, "expected a failure\n{}", out.describe());
        let lines = out.err().lines().filter(|l| !l.trim().is_empty()).count();
        assert_eq!(lines, 1, "expected one line on stderr\n{}", out.describe());
        assert!(
            out.stdout.is_empty(),
            "expected no stdout\n{}",
            out.describe()
        );
    }
}

#[test]
fn unimplemented_syscall_is_enosys_and_strace_names_calls() {
    let bin = prog("enosys", Libc::Musl);
    let bin = bin.to_str().unwrap();
    let native = run_native(&[bin], &Opts::default());
    for p in platforms() {
        let out = run_veil(&p, &["--strace"], &[bin], &Opts::default());
        assert!(!out.timed_out, "timed out\n{}", out.describe());
        // The trace goes to stderr; stdout and status are the program's.
        assert_eq!(
            out.out(),
            native.out(),
            "stdout differs on {p}\n{}",
            out.describe()
        );
        assert_eq!(
            out.status,
            native.status,
            "status differs on {p}\n{}",
            out.describe()
        );
        let err = out.err();
        for want in ["ENOSYS", "getpid", "write"] {
            assert!(
                err.contains(want),
                "--strace output lacks {want:?} on {p}\n{}",
                out.describe()
            );
        }
    }
}

#[test]
fn strace_decodes_path_arguments() {
    require_static_busybox();
    require_file("/etc/hostname", "the host has no /etc/hostname");
    for p in platforms() {
        let argv = ["/bin/busybox", "cat", "/etc/hostname"];
        let out = run_veil(&p, &["--strace"], &argv, &Opts::default());
        let native = run_native(&argv, &Opts::default());
        assert_eq!(
            out.out(),
            native.out(),
            "stdout differs on {p}\n{}",
            out.describe()
        );
        assert!(
            out.err().contains("/etc/hostname"),
            "--strace does not show the path argument on {p}\n{}",
            out.describe()
        );
    }
}

/// Probe files that must never appear on the host. They are removed before
/// the test (stale ones from an earlier run) and again when it ends, so
/// that a failing sandbox leaves no litter on the host.
struct Probes(&'static [&'static str]);

impl Probes {
    fn new(paths: &'static [&'static str]) -> Probes {
        let p = Probes(paths);
        p.remove();
        p
    }
    fn remove(&self) {
        for p in self.0 {
            match std::fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => panic!("cannot remove stale {p}: {e}"),
            }
        }
    }
    fn assert_absent(&self) {
        for p in self.0 {
            assert!(
                !Path::new(p).exists(),
                "{p} exists on the host: a write in the sandbox reached it"
            );
        }
    }
}

impl Drop for Probes {
    fn drop(&mut self) {
        for p in self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[test]
fn writes_never_reach_the_host() {
    // dash runs cat as a child process.
    require_file("/bin/sh", "the host has no /bin/sh");
    let probes = Probes::new(&["/etc/veil-probe", "/tmp/veil-probe"]);
    let script =
        "echo x > /etc/veil-probe; echo y > /tmp/veil-probe; cat /etc/veil-probe /tmp/veil-probe";
    for p in platforms() {
        let out = run_veil(&p, &[], &["/bin/sh", "-c", script], &Opts::default());
        probes.assert_absent();
        assert_eq!(out.out(), "x\ny\n", "on {p}\n{}", out.describe());
        assert_eq!(out.status, 0, "on {p}\n{}", out.describe());
    }
}

#[test]
fn writes_never_reach_the_host_without_fork() {
    // The same with busybox ash builtins only: no child processes.
    require_static_busybox();
    let probes = Probes::new(&["/etc/veil-probe-ash", "/tmp/veil-probe-ash"]);
    let script = "echo x > /etc/veil-probe-ash; echo y > /tmp/veil-probe-ash; \
                  read a < /etc/veil-probe-ash; read b < /tmp/veil-probe-ash; echo \"$a$b\"";
    for p in platforms() {
        let out = run_veil(
            &p,
            &[],
            &["/bin/busybox", "sh", "-c", script],
            &Opts::default(),
        );
        probes.assert_absent();
        assert_eq!(out.out(), "xy\n", "on {p}\n{}", out.describe());
        assert_eq!(out.status, 0, "on {p}\n{}", out.describe());
    }
}

#[test]
fn host_files_changed_in_the_sandbox_stay_unchanged() {
    // Appending to, truncating and removing host files (copy-up and
    // whiteouts in the overlay); the host keeps its files. The files are
    // the test's own, in a scratch directory, never the system's.
    require_static_busybox();
    let scratch = Scratch::new("host-files");
    let dir = scratch.path();
    std::fs::write(dir.join("a"), "line one\n").unwrap();
    std::fs::write(dir.join("b"), "keep me\n").unwrap();
    std::fs::write(dir.join("c"), "remove me\n").unwrap();
    let script = "echo appended >> a; : > b; rm c; \
                  while read -r l; do echo \"a: $l\"; done < a; \
                  while read -r l; do echo \"b: $l\"; done < b; \
                  if [ -e c ]; then echo c still there; else echo c gone; fi";
    let opts = Opts {
        cwd: dir.to_path_buf(),
        ..Opts::default()
    };
    for p in platforms() {
        let out = run_veil(&p, &[], &["/bin/busybox", "sh", "-c", script], &opts);
        assert_eq!(
            scratch.entries(),
            ["a", "b", "c"],
            "files changed on the host"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("a")).unwrap(),
            "line one\n"
        );
        assert_eq!(std::fs::read_to_string(dir.join("b")).unwrap(), "keep me\n");
        assert_eq!(
            std::fs::read_to_string(dir.join("c")).unwrap(),
            "remove me\n"
        );
        assert_eq!(
            out.out(),
            "a: line one\na: appended\nc gone\n",
            "on {p}\n{}",
            out.describe()
        );
        assert_eq!(out.status, 0, "on {p}\n{}", out.describe());
    }
}

#[test]
fn cwd_flag_sets_the_working_directory() {
    require_static_busybox();
    for p in platforms() {
        let out = run_veil(
            &p,
            &["--cwd", "/usr/share"],
            &["/bin/busybox", "pwd"],
            &Opts::default(),
        );
        assert_eq!(out.out(), "/usr/share\n", "on {p}\n{}", out.describe());
        assert_eq!(out.status, 0, "on {p}\n{}", out.describe());
    }
}

#[test]
fn root_flag_serves_a_host_directory_as_root() {
    // A small tree without /dev, /proc or /sys (made in the overlay, not
    // on the host), named through a symlink (resolved once by the host).
    // The program is searched in PATH inside the new root, --cwd too.
    require_static_busybox();
    let scratch = Scratch::new("root-flag");
    let root = scratch.path().join("tree");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("d")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    std::fs::write(root.join("f"), "inside\n").unwrap();
    let link = scratch.path().join("link");
    std::os::unix::fs::symlink(&root, &link).unwrap();
    for p in platforms() {
        let out = run_veil(
            &p,
            &["--root", link.to_str().unwrap(), "--cwd", "/d"],
            &["busybox", "sh", "-c", "pwd; cat ../f; ls /; ls /proc/1/"],
            &Opts::default(),
        );
        let text = out.out();
        assert!(
            text.starts_with("/d\ninside\nbin\nd\ndev\nf\nproc\nsys\n") && text.contains("cmdline"),
            "on {p}\n{}",
            out.describe()
        );
        assert_eq!(out.status, 0, "on {p}\n{}", out.describe());
        // Without --cwd: the new root's /.
        let out = run_veil(
            &p,
            &["--root", root.to_str().unwrap()],
            &["/bin/busybox", "pwd"],
            &Opts::default(),
        );
        assert_eq!(out.out(), "/\n", "on {p}\n{}", out.describe());
    }
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["bin", "d", "f"],
        "the sandbox changed the host tree"
    );
}

#[test]
fn bad_root_is_one_line_and_125() {
    require_static_busybox();
    let scratch = Scratch::new("bad-root");
    let file = scratch.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let missing = scratch.path().join("missing");
    for dir in [missing.to_str().unwrap(), file.to_str().unwrap(), "/proc"] {
        let out = run_veil_raw(
            &["do", "--root", dir, "/bin/busybox", "true"],
            &Opts::default(),
        );
        assert_one_line_error(&out, dir);
        assert_eq!(out.status, 125, "{}", out.describe());
    }
}

#[test]
fn default_working_directory_is_the_callers() {
    require_static_busybox();
    let opts = Opts {
        cwd: "/usr/lib".into(),
        ..Opts::default()
    };
    assert_same_as_native(&["/bin/busybox", "pwd"], &opts);
}

#[test]
fn env_flag_sets_variables() {
    require_static_busybox();
    for p in platforms() {
        let out = run_veil(
            &p,
            &["--env", "VEIL_TEST_A=one", "--env=VEIL_TEST_B=two words"],
            &[
                "/bin/busybox",
                "sh",
                "-c",
                "echo \"$VEIL_TEST_A/$VEIL_TEST_B\"",
            ],
            &Opts::default(),
        );
        assert_eq!(out.out(), "one/two words\n", "on {p}\n{}", out.describe());
        assert_eq!(out.status, 0, "on {p}\n{}", out.describe());
    }
}

#[test]
fn stdin_is_passed_through() {
    require_static_busybox();
    let data: Vec<u8> = (0..20000).map(|i| b"abcdefghij\n"[i % 11]).collect();
    let opts = Opts {
        stdin: Stdin::Bytes(data),
        ..Opts::default()
    };
    assert_same_as_native(&["/bin/busybox", "sha256sum"], &opts);
    assert_same_as_native(&["/bin/busybox", "wc", "-c"], &opts);
}

#[test]
fn exit_status_is_the_programs() {
    require_static_busybox();
    for (args, want) in [
        (&["true"][..], 0),
        (&["false"][..], 1),
        (&["sh", "-c", "exit 213"][..], 213),
    ] {
        let mut argv = vec!["/bin/busybox"];
        argv.extend_from_slice(args);
        for p in platforms() {
            let out = run_veil(&p, &[], &argv, &Opts::default());
            assert_eq!(out.status, want, "{argv:?} on {p}\n{}", out.describe());
        }
    }
}

// ---------------------------------------------------------------------------
// Signals sent to veil, and `veil do -t`

/// `veil do [platform] ARGS` started with piped output, in its own
/// process group.
fn spawn_veil(p: &veil_tests::Platform, args: &[&str]) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(veil_tests::veil_bin());
    cmd.arg("do").args(p.flags()).arg("--").args(args);
    cmd.env_clear()
        .envs(veil_tests::ENV.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0);
    cmd.spawn().expect("start veil")
}

/// Waits at most `limit` for `child`; kills its group if it is still
/// running. Returns the exit code (128 + N if killed by signal N) and
/// whether it ended in time.
fn wait_at_most(child: &mut std::process::Child, limit: std::time::Duration) -> (i32, bool) {
    use std::os::unix::process::ExitStatusExt;
    let end = std::time::Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            let code = st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0));
            return (code, true);
        }
        if std::time::Instant::now() >= end {
            // SAFETY: signals the group of our own child.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let st = child.wait().expect("wait");
            return (st.code().unwrap_or(-1), false);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn send(child: &std::process::Child, sig: i32) {
    // SAFETY: signals our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

/// Reads `r` until `want` has been seen (or end of file); returns what
/// was read.
fn read_until(r: &mut impl std::io::Read, want: &str) -> String {
    let mut got = Vec::new();
    let mut b = [0u8; 256];
    while !String::from_utf8_lossy(&got).contains(want) {
        match r.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&b[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn signals_sent_to_veil_reach_the_program() {
    use std::io::Read;
    use std::time::Duration;
    for p in platforms() {
        // A default action ends the program (pid 1 in the sandbox) as it
        // would end it outside; veil reports it as a shell does.
        for (sig, code) in [
            (libc::SIGTERM, 143),
            (libc::SIGINT, 130),
            (libc::SIGHUP, 129),
        ] {
            let mut c = spawn_veil(&p, &["sleep", "100"]);
            std::thread::sleep(Duration::from_millis(300));
            send(&c, sig);
            let (status, in_time) = wait_at_most(&mut c, Duration::from_secs(10));
            assert!(
                in_time,
                "signal {sig} did not end `veil do sleep 100` on {p}"
            );
            assert_eq!(status, code, "signal {sig} on {p}");
        }
        // A handler runs.
        for (name, sig) in [
            ("TERM", libc::SIGTERM),
            ("USR1", libc::SIGUSR1),
            ("QUIT", libc::SIGQUIT),
        ] {
            let script =
                format!("trap 'echo got; exit 7' {name}; echo ready; while :; do sleep 0.1; done");
            let mut c = spawn_veil(&p, &["/bin/sh", "-c", &script]);
            let mut out = c.stdout.take().unwrap();
            let seen = read_until(&mut out, "ready\n");
            assert_eq!(seen, "ready\n", "on {p}");
            send(&c, sig);
            let (status, in_time) = wait_at_most(&mut c, Duration::from_secs(10));
            let mut rest = String::new();
            let _ = out.read_to_string(&mut rest);
            assert!(
                in_time,
                "SIG{name} with a trap did not end the shell on {p}"
            );
            assert_eq!((status, rest.as_str()), (7, "got\n"), "SIG{name} on {p}");
        }
    }
}

#[test]
fn tty_flag_needs_a_terminal() {
    for p in platforms() {
        let out = run_veil(&p, &["-t"], &["/bin/true"], &Opts::default());
        assert_one_line_error(&out, "not a TTY");
        assert!(out.stdout.is_empty(), "{}", out.describe());
    }
}

/// The master of a host pty, read by a thread into a buffer that tests
/// search.
struct HostTerminal {
    master: std::os::fd::OwnedFd,
    seen: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    cursor: usize,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl HostTerminal {
    /// A new pty pair of `rows` x `cols`: (terminal, slave).
    fn open(rows: u16, cols: u16) -> (HostTerminal, std::os::fd::OwnedFd) {
        use std::os::fd::{AsRawFd, FromRawFd};
        let (mut m, mut s) = (-1, -1);
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two fds; the name pointer may be null and
        // the termios and winsize pointers are valid or null.
        let r =
            unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) };
        assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: openpty returned two new descriptors we now own.
        let (master, slave) = unsafe {
            (
                std::os::fd::OwnedFd::from_raw_fd(m),
                std::os::fd::OwnedFd::from_raw_fd(s),
            )
        };
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let fd = master.as_raw_fd();
        let (seen2, stop2) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut b = [0u8; 4096];
            while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
                let mut pfd = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                if unsafe { libc::poll(&mut pfd, 1, 100) } != 1 {
                    continue;
                }
                // SAFETY: reads into a live buffer from an fd the
                // HostTerminal keeps open until this thread stops.
                let n = unsafe { libc::read(fd, b.as_mut_ptr().cast(), b.len()) };
                if n <= 0 {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    continue;
                }
                seen2.lock().unwrap().extend_from_slice(&b[..n as usize]);
            }
        });
        (
            HostTerminal {
                master,
                seen,
                cursor: 0,
                stop,
            },
            slave,
        )
    }

    fn type_keys(&self, keys: &[u8]) {
        use std::os::fd::AsRawFd;
        // SAFETY: writes from a live slice.
        let n = unsafe { libc::write(self.master.as_raw_fd(), keys.as_ptr().cast(), keys.len()) };
        assert_eq!(n, keys.len() as isize);
    }

    /// Waits (at most `secs`) for `want` after what earlier waits
    /// consumed; true if it came.
    fn wait_for(&mut self, want: &str, secs: u64) -> bool {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            {
                let seen = self.seen.lock().unwrap();
                let text = String::from_utf8_lossy(&seen[self.cursor..]).into_owned();
                if let Some(at) = text.find(want) {
                    // Byte offsets of the lossy text match for ASCII output.
                    self.cursor += at + want.len();
                    return true;
                }
            }
            if std::time::Instant::now() >= end {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn transcript(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }

    fn resize(&self, rows: u16, cols: u16) {
        use std::os::fd::AsRawFd;
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one valid winsize.
        let r = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        assert_eq!(r, 0);
    }
}

impl Drop for HostTerminal {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        std::thread::sleep(std::time::Duration::from_millis(150));
    }
}

#[test]
fn no_console_without_a_terminal() {
    for p in platforms() {
        let out = std::process::Command::new(veil_tests::veil_bin())
            .arg("do")
            .args(p.flags())
            .args([
                "/bin/sh",
                "-c",
                "ls /dev/console; ls /dev | grep -c console",
            ])
            .env_clear()
            .envs(veil_tests::ENV.iter().copied())
            .output()
            .expect("run veil");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "0\n",
            "on {p}: /dev/console exists without -t"
        );
    }
}

#[test]
fn tty_flag_gives_an_interactive_terminal() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    use std::time::{Duration, Instant};
    require_file("/bin/stty", "apt-get install coreutils");
    for p in platforms() {
        let (mut term, slave) = HostTerminal::open(40, 120);
        let mut cmd = std::process::Command::new(veil_tests::veil_bin());
        cmd.arg("do").args(p.flags()).args(["-t", "--", "/bin/sh"]);
        cmd.env_clear()
            .envs(veil_tests::ENV.iter().copied())
            .env("PS1", "$ ")
            .env("TERM", "dumb")
            .stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave.try_clone().unwrap());
        // SAFETY: setsid and ioctl are async-signal-safe; veil leads a
        // session whose controlling terminal is the host pty, as in a
        // terminal emulator, so a resize sends it SIGWINCH.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("start veil -t");
        let fail = |term: &HostTerminal, what: &str| -> String {
            format!(
                "{what} on {p}; the terminal showed:\n{:?}",
                term.transcript()
            )
        };
        assert!(term.wait_for("$ ", 20), "{}", fail(&term, "no prompt"));
        // Typing: the sandbox's terminal echoes, the shell runs the line.
        term.type_keys(b"echo $((6*7))\r");
        assert!(
            term.wait_for("echo $((6*7))\r\n42\r\n$ ", 20),
            "{}",
            fail(&term, "no 42")
        );
        // The sandbox's terminal has the host terminal's size.
        term.type_keys(b"stty size; tty\r");
        assert!(
            term.wait_for("40 120\r\n/dev/pts/0\r\n", 20),
            "{}",
            fail(&term, "no 40 120")
        );
        // /dev/console is the same terminal (root's, 0600), as runc makes
        // it for a container with a terminal.
        term.type_keys(b"echo via-console >/dev/console; ls -l /dev/console | cut -c1-10\r");
        assert!(
            term.wait_for("via-console\r\ncrw-------\r\n", 20),
            "{}",
            fail(&term, "no /dev/console")
        );
        // Resizing the host terminal resizes it and sends SIGWINCH to the
        // foreground process group (the shell here).
        term.type_keys(b"trap 'echo winch' WINCH; echo armed; sleep 2 & wait\r");
        assert!(
            term.wait_for("armed\r\n", 20),
            "{}",
            fail(&term, "no armed")
        );
        std::thread::sleep(Duration::from_millis(300));
        term.resize(50, 132);
        assert!(term.wait_for("winch", 20), "{}", fail(&term, "no SIGWINCH"));
        term.type_keys(b"stty size\r");
        assert!(
            term.wait_for("50 132\r\n", 20),
            "{}",
            fail(&term, "no 50 132")
        );
        // ^C stops the foreground job, not the shell.
        assert!(term.wait_for("$ ", 20), "{}", fail(&term, "no prompt"));
        term.type_keys(b"sleep 100\r");
        assert!(
            term.wait_for("sleep 100\r\n", 20),
            "{}",
            fail(&term, "no echo")
        );
        // Until the shell has made sleep the foreground job, a ^C only
        // makes it prompt again: type it until the prompt comes back.
        std::thread::sleep(Duration::from_millis(300));
        let start = Instant::now();
        let mut back = false;
        while start.elapsed() < Duration::from_secs(20) && !back {
            term.type_keys(b"\x03");
            back = term.wait_for("$ ", 2);
        }
        assert!(back, "{}", fail(&term, "^C did not stop sleep 100"));
        // The shell's exit status is veil's, and the host terminal is
        // back in its own mode.
        term.type_keys(b"exit 3\r");
        let end = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st.code();
            }
            if Instant::now() >= end {
                let _ = child.kill();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status, Some(3), "{}", fail(&term, "exit status"));
        // SAFETY: termios is plain data that tcgetattr fills in.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: one valid termios.
        assert_eq!(unsafe { libc::tcgetattr(slave.as_raw_fd(), &mut t) }, 0);
        assert_ne!(t.c_lflag & libc::ICANON, 0, "raw mode left on, on {p}");
        assert_ne!(t.c_lflag & libc::ECHO, 0, "raw mode left on, on {p}");
    }
}
