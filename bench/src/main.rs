//! `veil-bench`: runs each micro-benchmark natively and under `veil do` on
//! every platform in one run, and prints the times and the sandbox/native
//! ratio as a Markdown table.
//!
//! The operations live in `bench/probe.c` (compiled here with
//! `musl-gcc -static -O2`, falling back to `gcc -O2`): each prints the
//! median of five rounds, in ns per operation. Whole-program figures
//! (`veil do /bin/true` start to exit with the peak RSS of the veil process,
//! `python3 -c pass`) are medians of several runs.
//!
//! usage: cargo run --release -p veil-bench [-- PLATFORM...]
//! (default platforms: every one `veil do --platform=P /bin/true` accepts
//! among ptrace, systrap, kvm).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// (operation, iterations natively, iterations in the sandbox).
const OPS: &[(&str, &str, u64, u64)] = &[
    ("getpid", "getpid round trip", 200_000, 20_000),
    ("clock_gettime", "clock_gettime(MONOTONIC)", 200_000, 20_000),
    (
        "pipe",
        "1-byte pipe write+read between two processes",
        20_000,
        2_000,
    ),
    ("open_close", "open + close", 50_000, 5_000),
    ("read4k", "4 KiB pread of a cached file", 100_000, 10_000),
    ("stat", "stat", 100_000, 10_000),
    ("fork_exit_wait", "fork + exit + wait", 500, 50),
    (
        "fork_exec_wait",
        "fork + execve + wait (static binary)",
        300,
        30,
    ),
    ("mmap_touch_1m", "mmap + touch + munmap 1 MiB", 2_000, 100),
    (
        "mmap_shared_1m",
        "MAP_SHARED of a /tmp file + touch + munmap 1 MiB",
        2_000,
        100,
    ),
    (
        "mmap_private_read_1m",
        "MAP_PRIVATE of a /tmp file + read each page + munmap 1 MiB",
        2_000,
        100,
    ),
    (
        "mmap_private_write_1m",
        "MAP_PRIVATE of a /tmp file + write each page + munmap 1 MiB",
        2_000,
        100,
    ),
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn veil_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("VEIL_BIN") {
        return PathBuf::from(p);
    }
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-q", "-p", "veil"])
        .current_dir(workspace())
        .status();
    if !status.map(|s| s.success()).unwrap_or(false) {
        die("cannot build veil (cargo build --release -p veil)");
    }
    workspace().join("target/release/veil")
}

fn die(msg: &str) -> ! {
    eprintln!("veil-bench: {msg}");
    std::process::exit(1);
}

fn build_probe() -> PathBuf {
    let out_dir = workspace().join("target/bench");
    std::fs::create_dir_all(&out_dir)
        .unwrap_or_else(|e| die(&format!("{}: {e}", out_dir.display())));
    let out = out_dir.join("probe");
    let src = workspace().join("bench/probe.c");
    for (cc, args) in [("musl-gcc", &["-static", "-O2"][..]), ("gcc", &["-O2"][..])] {
        let ok = Command::new(cc)
            .args(args)
            .arg("-o")
            .arg(&out)
            .arg(&src)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            return out;
        }
    }
    die("cannot compile bench/probe.c (install musl-tools or gcc)");
}

/// How to run a command: natively or in veil on a platform.
#[derive(Clone)]
enum Runner {
    Native,
    Veil(PathBuf, String),
}

impl Runner {
    fn command(&self, argv: &[&str]) -> Command {
        match self {
            Runner::Native => {
                let mut c = Command::new(argv[0]);
                c.args(&argv[1..]);
                c
            }
            Runner::Veil(bin, platform) => {
                let mut c = Command::new(bin);
                c.arg("do").arg(format!("--platform={platform}")).arg("--");
                c.args(argv);
                c
            }
        }
    }

    fn name(&self) -> String {
        match self {
            Runner::Native => "native".into(),
            Runner::Veil(_, p) => p.clone(),
        }
    }
}

/// ns per operation reported by the probe, or `None` if it failed.
fn probe(r: &Runner, probe: &Path, op: &str, iters: u64) -> Option<f64> {
    let p = probe.to_string_lossy();
    let n = iters.to_string();
    let out = r
        .command(&[&p, op, &n])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// Runs a command `runs` times; the median wall time in ms and the largest
/// peak RSS (KiB) of the process itself.
fn whole(r: &Runner, argv: &[&str], runs: usize) -> Option<(f64, i64)> {
    let mut times = Vec::new();
    let mut peak = 0;
    for _ in 0..runs {
        let t0 = Instant::now();
        let child = r
            .command(argv)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let (ok, rss) = wait_rusage(child.id() as i32);
        if !ok {
            return None;
        }
        times.push(t0.elapsed().as_secs_f64() * 1e3);
        peak = peak.max(rss);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Some((times[times.len() / 2], peak))
}

/// Waits for `pid`; (exited with 0, ru_maxrss in KiB).
fn wait_rusage(pid: i32) -> (bool, i64) {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `status` and `ru` are valid out pointers; `pid` is our child.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    (
        r == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        ru.ru_maxrss,
    )
}

fn fmt_ns(v: Option<f64>) -> String {
    match v {
        Some(ns) if ns >= 1e6 => format!("{:.2} ms", ns / 1e6),
        Some(ns) if ns >= 1e3 => format!("{:.2} µs", ns / 1e3),
        Some(ns) => format!("{ns:.0} ns"),
        None => "failed".into(),
    }
}

fn ratio(v: Option<f64>, base: Option<f64>) -> String {
    match (v, base) {
        (Some(v), Some(b)) if b > 0.0 => format!("{:.1}×", v / b),
        _ => "–".into(),
    }
}

fn main() {
    let veil = veil_bin();
    let probe_bin = build_probe();
    let wanted: Vec<String> = std::env::args().skip(1).collect();
    let candidates: Vec<String> = if wanted.is_empty() {
        ["ptrace", "systrap", "kvm"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        wanted.clone()
    };
    let mut runners = vec![Runner::Native];
    for p in candidates {
        let r = Runner::Veil(veil.clone(), p.clone());
        let ok = r
            .command(&["/bin/true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            runners.push(r);
        } else if !wanted.is_empty() {
            die(&format!("platform {p} does not run /bin/true"));
        } else {
            eprintln!("veil-bench: skipping platform {p} (veil do --platform={p} /bin/true fails)");
        }
    }

    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    println!(
        "Machine: {} CPUs, {cpu}; kernel {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    );
    println!();
    let mut header = String::from("| operation |");
    let mut rule = String::from("|---|");
    for r in &runners {
        header += &format!(" {} |", r.name());
        rule += "---:|";
        if !matches!(r, Runner::Native) {
            header += &format!(" {}/native |", r.name());
            rule += "---:|";
        }
    }
    println!("{header}\n{rule}");
    for &(op, label, n_native, n_sandbox) in OPS {
        let base = probe(&Runner::Native, &probe_bin, op, n_native);
        let mut row = format!("| {label} | {} |", fmt_ns(base));
        for r in &runners[1..] {
            let v = probe(r, &probe_bin, op, n_sandbox);
            row += &format!(" {} | {} |", fmt_ns(v), ratio(v, base));
        }
        println!("{row}");
    }
    let wholes: [(&str, &[&str], usize); 2] = [
        ("`/bin/true` start to exit", &["/bin/true"], 11),
        ("`python3 -c pass`", &["/usr/bin/python3", "-c", "pass"], 5),
    ];
    for (label, argv, runs) in wholes {
        let base = whole(&Runner::Native, argv, runs);
        let mut row = format!("| {label} | {} |", fmt_ms(base));
        for r in &runners[1..] {
            let v = whole(r, argv, runs);
            row += &format!(
                " {} | {} |",
                fmt_ms(v),
                ratio(v.map(|x| x.0), base.map(|x| x.0))
            );
        }
        println!("{row}");
    }
    println!();
    println!("Times are medians; whole-program rows show the wall time and the peak RSS of the process started (veil itself in the sandbox columns).");
}

fn fmt_ms(v: Option<(f64, i64)>) -> String {
    match v {
        Some((ms, kib)) => format!("{ms:.1} ms, {:.1} MiB", kib as f64 / 1024.0),
        None => "failed".into(),
    }
}
