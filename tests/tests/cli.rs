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
