//! Processes, threads and signals with real programs (issue 3's
//! acceptance): a busybox shell script and a python3 script exercising
//! pipelines, jobs, traps, threads, subprocesses and signals, compared
//! with the native run on every platform; and two resource bounds on the
//! Sentry itself, measured from the host while the sandbox runs:
//! copy-on-write fork of a 1 GiB process, and 10,000 forks without leaks.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use veil_tests::{
    assert_same_as_native, helper, platforms, require_file, require_static_busybox, tests_dir,
    veil_bin, Libc, Opts, Platform, Scratch,
};

fn same(argv: &[&str]) {
    let scratch = Scratch::new("proc");
    let opts = Opts {
        cwd: scratch.path().to_path_buf(),
        ..Opts::default()
    };
    assert_same_as_native(argv, &opts);
}

fn script(name: &str) -> String {
    tests_dir()
        .join("scripts")
        .join(name)
        .to_str()
        .expect("utf-8 path")
        .to_string()
}

/// Pipelines, subshells, command substitution, background jobs with wait,
/// a trapped signal sent to the shell itself, here-documents, xargs,
/// `find | sort | uniq -c | wc -l`, exit statuses and killed children
/// reported as 128+N.
#[test]
fn busybox_sh_processes() {
    require_static_busybox();
    let s = script("shell_processes.sh");
    same(&["/bin/busybox", "sh", &s]);
}

/// threading with Lock, Condition and Event across 8 threads,
/// subprocess.run with pipes and with a timeout, os.fork + os.waitpid,
/// signal.alarm with a handler, signal.pthread_kill, and a
/// ThreadPoolExecutor.
#[test]
fn python3_processes() {
    require_static_busybox();
    require_file("/usr/bin/python3", "apt-get install python3");
    let s = script("python_processes.py");
    same(&["/usr/bin/python3", &s]);
}

// ---------------------------------------------------------------------------
// Resource bounds measured from the host

/// What the host sees of a running `veil` process: its memory file's
/// allocated bytes, open fds, threads, and descendant processes (stubs).
#[derive(Debug, Clone, Copy)]
struct Usage {
    memfile: u64,
    fds: usize,
    threads: usize,
    descendants: usize,
}

fn usage(pid: u32) -> Usage {
    let fd_dir = format!("/proc/{pid}/fd");
    let mut memfile = 0;
    let mut fds = 0;
    for e in std::fs::read_dir(&fd_dir).expect("read the veil process's fds") {
        let e = e.expect("fd entry");
        fds += 1;
        let target = std::fs::read_link(e.path()).unwrap_or_default();
        if target.to_string_lossy().starts_with("/memfd:veil-memory") {
            use std::os::unix::fs::MetadataExt;
            let m = std::fs::metadata(e.path()).expect("stat the memory file");
            memfile += m.blocks() * 512;
        }
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("Threads: line");
    Usage {
        memfile,
        fds,
        threads,
        descendants: descendants(pid),
    }
}

/// [`usage`] once it stops changing: the last child's host thread and
/// stub may still be on their way out when the helper says "ready".
fn settled_usage(pid: u32) -> Usage {
    let mut last = usage(pid);
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let now = usage(pid);
        if (now.fds, now.threads, now.descendants) == (last.fds, last.threads, last.descendants) {
            return now;
        }
        last = now;
    }
    last
}

/// How many live processes descend from `pid`.
fn descendants(pid: u32) -> usize {
    let mut parent_of = Vec::new();
    for e in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces; cut at the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.first() == Some(&"Z") {
            continue;
        }
        if let Some(pp) = f.get(1).and_then(|s| s.parse::<u32>().ok()) {
            parent_of.push((p, pp));
        }
    }
    let mut set = vec![pid];
    let mut i = 0;
    while i < set.len() {
        let cur = set[i];
        set.extend(
            parent_of
                .iter()
                .filter(|(_, pp)| *pp == cur)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    set.len() - 1
}

/// A sandboxed helper the test talks to: lines from its stdout, lines to
/// its stdin.
struct Driven {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Driven {
    fn start(platform: &Platform, prog: &Path, args: &[&str]) -> Driven {
        let mut cmd = Command::new(veil_bin());
        cmd.arg("do")
            .args(platform.flags())
            .arg(prog)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("start veil");
        let out = BufReader::new(child.stdout.take().expect("stdout"));
        Driven { child, out }
    }

    fn expect_line(&mut self, want: &str, platform: &Platform) {
        let mut line = String::new();
        self.out
            .read_line(&mut line)
            .expect("read the helper's output");
        if line.trim_end() != want {
            let _ = self.child.kill();
            panic!("on {platform}: expected {want:?} from the helper, got {line:?}");
        }
    }

    fn send_line(&mut self) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin.write_all(b"\n").expect("write to the helper");
        stdin.flush().expect("flush");
    }

    fn finish(mut self, platform: &Platform) {
        drop(self.child.stdin.take());
        self.expect_line("done", platform);
        let st = self.child.wait().expect("wait for veil");
        assert!(st.success(), "on {platform}: veil exited with {st}");
    }
}

const MIB: u64 = 1 << 20;

/// A process that touched 1 GiB forks four children, each of which writes
/// one page: fork shares the pages copy-on-write, so the memory file holds
/// about 1 GiB, not 5.
#[test]
fn fork_of_a_1gib_process_copies_on_write() {
    let prog = helper("forkmem", Libc::Musl);
    for p in platforms() {
        let mut d = Driven::start(&p, &prog, &["cow"]);
        d.expect_line("ready", &p);
        let u = usage(d.child.id());
        eprintln!("{p}: 1 GiB + 4 forks: {u:?}");
        assert!(
            u.memfile >= 1024 * MIB && u.memfile < 1024 * MIB + 128 * MIB,
            "on {p}: the memory file holds {} MiB after forking a 1 GiB process four times \
             (copy-on-write would keep it near 1024 MiB)",
            u.memfile / MIB
        );
        d.finish(&p);
    }
}

/// 10,000 fork + exit + wait cycles leave the Sentry as they found it: no
/// memory-file growth beyond a little, no extra fds, threads or stub
/// processes.
#[test]
fn ten_thousand_forks_leak_nothing() {
    let prog = helper("forkmem", Libc::Musl);
    // The full count on the default platform; the others run a tenth so
    // that the suite stays within its time budget.
    for (i, p) in platforms().iter().enumerate() {
        let n = if i == 0 { 10_000 } else { 1_000 };
        let mut d = Driven::start(p, &prog, &["leak", &n.to_string()]);
        d.expect_line("ready", p);
        let before = settled_usage(d.child.id());
        d.send_line();
        d.expect_line("ready", p);
        let after = settled_usage(d.child.id());
        eprintln!("{p}: {n} forks: before {before:?}, after {after:?}");
        assert!(
            after.memfile <= before.memfile + 8 * MIB,
            "on {p}: the memory file grew from {} KiB to {} KiB over {n} forks",
            before.memfile / 1024,
            after.memfile / 1024
        );
        assert_eq!(
            after.fds, before.fds,
            "on {p}: veil's open fds changed over {n} forks"
        );
        assert_eq!(
            after.threads, before.threads,
            "on {p}: veil's threads changed over {n} forks"
        );
        assert_eq!(
            after.descendants, before.descendants,
            "on {p}: veil's descendant processes changed over {n} forks"
        );
        d.finish(p);
    }
}

/// CPU ticks (user + system, USER_HZ = 100) used so far by `pid` and every
/// live descendant (the stubs).
fn cpu_ticks_with_descendants(pid: u32) -> u64 {
    let mut pids = vec![pid];
    let mut i = 0;
    while i < pids.len() {
        let cur = pids[i];
        pids.extend(children_of(cur));
        i += 1;
    }
    pids.iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).ok())
        .filter_map(|stat| {
            let rest = stat.rsplit_once(')')?.1.to_string();
            let f: Vec<u64> = rest
                .split_whitespace()
                .skip(1)
                .map(|s| s.parse().unwrap_or(0))
                .collect();
            // After "state": ppid pgrp session tty tpgid flags minflt
            // cminflt majflt cmajflt utime stime.
            Some(f.get(10)? + f.get(11)?)
        })
        .sum()
}

fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .and_then(|s| s.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(p);
        }
    }
    out
}

/// An idle sandbox costs nothing: `veil do /bin/sleep 10` uses under 1% of
/// a core over its life (the Sentry's threads and the stubs together, read
/// from /proc just before the end). All platforms run at once.
#[test]
fn sleeping_sandbox_uses_under_one_percent_of_a_core() {
    require_static_busybox();
    let veil = veil_bin();
    let runs: Vec<_> = platforms()
        .into_iter()
        .map(|p| {
            std::thread::spawn(move || {
                let start = std::time::Instant::now();
                let mut child = Command::new(veil)
                    .arg("do")
                    .args(p.flags())
                    .args(["/bin/busybox", "sleep", "10"])
                    .stdin(Stdio::null())
                    .spawn()
                    .expect("start veil");
                std::thread::sleep(std::time::Duration::from_millis(9_500));
                let ticks = cpu_ticks_with_descendants(child.id());
                let elapsed = start.elapsed().as_secs_f64();
                let st = child.wait().expect("wait for veil");
                (p, ticks, elapsed, st)
            })
        })
        .collect();
    for r in runs {
        let (p, ticks, elapsed, st) = r.join().expect("measuring thread");
        let share = ticks as f64 / 100.0 / elapsed;
        eprintln!(
            "{p}: sleep 10 used {ticks} ticks in {elapsed:.1} s: {:.2}% of a core",
            share * 100.0
        );
        assert!(st.success(), "on {p}: veil do sleep 10 exited with {st}");
        assert!(
            share < 0.01,
            "on {p}: an idle sandbox used {:.2}% of a core ({ticks} ticks in {elapsed:.1} s)",
            share * 100.0
        );
    }
}
