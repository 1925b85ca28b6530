//! Helpers for veil's integration tests: find (and build) the `veil`
//! binary, compile the C programs in `tests/progs`, run a command natively
//! and under `veil do` with a timeout, and compare the two runs.
//!
//! Every comparison runs the same command twice, once on the host and once
//! in the sandbox, with the same minimal environment, umask 022, no file
//! descriptors beyond 0-2, and (for the C programs) a fresh scratch
//! directory under /tmp. Standard output and the exit status must be equal;
//! on a mismatch the failure message shows a diff and both standard errors.
//!
//! Knobs (environment variables):
//! - `VEIL_BIN`: use this `veil` binary instead of building one;
//! - `VEIL_TEST_PLATFORMS`: platforms to test besides the default, comma or
//!   space separated (default `ptrace`); each one runs as
//!   `veil do --platform=NAME`, and the default platform always runs too;
//! - `VEIL_TEST_TIMEOUT`: seconds allowed for one run (default 60); once two
//!   runs of a test process have hung, its later runs get at most 10 s.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The environment every program runs with, natively and in veil.
pub const ENV: &[(&str, &str)] = &[
    (
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ),
    ("LC_ALL", "C"),
];

/// The directory holding this crate (`tests/`).
pub fn tests_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Panics with an install hint unless `path` exists. Tests never skip
/// silently: a missing tool is a failure.
pub fn require_file(path: &str, hint: &str) {
    if !Path::new(path).exists() {
        panic!("required file {path} is missing: {hint} (see .ci/run)");
    }
}

/// Panics with an install hint unless `tool` is found on PATH.
pub fn require_tool(tool: &str, hint: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(tool);
        if p.is_file() {
            return p;
        }
    }
    panic!("required tool `{tool}` is not on PATH: {hint} (see .ci/run)");
}

/// Checks that /bin/busybox exists and is Debian's static build.
pub fn require_static_busybox() {
    require_file("/bin/busybox", "apt-get install busybox-static");
    let elf = std::fs::read("/bin/busybox").expect("read /bin/busybox");
    if has_interp(&elf) {
        panic!("/bin/busybox is dynamically linked: apt-get install busybox-static (see .ci/run)");
    }
}

/// Whether an ELF64 image has a PT_INTERP program header.
fn has_interp(elf: &[u8]) -> bool {
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap()) as usize;
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" {
        return false;
    }
    let (phoff, phentsize, phnum) = (u64_at(32), u16_at(54), u16_at(56));
    (0..phnum).any(|i| {
        let o = phoff + i * phentsize;
        o + 4 <= elf.len() && u32_at(o) == 3
    })
}

// ---------------------------------------------------------------------------
// The veil binary

/// The `veil` binary under test.
///
/// `VEIL_BIN` names one explicitly. Otherwise the binary is built once per
/// test process with `cargo build -p veil` in the profile this test was
/// built in (so `cargo test --release` tests a release veil), which costs
/// nothing when it is up to date and never tests a stale binary.
pub fn veil_bin() -> &'static Path {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BIN.get_or_init(find_or_build_veil) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

fn find_or_build_veil() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("VEIL_BIN") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("VEIL_BIN={} does not exist", p.display()))
        };
    }
    // This test runs as <target>/<profile>/deps/<name>-<hash>.
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("unexpected test binary location {}", exe.display()))?;
    let target_dir = profile_dir.parent().unwrap_or(profile_dir);
    let profile = profile_dir
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or("debug");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "veil", "--bin", "veil"])
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(tests_dir());
    match profile {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run cargo to build veil: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`cargo build -p veil` failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let bin = profile_dir.join("veil");
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("cargo built veil but {} is missing", bin.display()))
    }
}

/// A way to run veil: the default platform, or `--platform=NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform(pub Option<String>);

impl Platform {
    /// The flags that select this platform.
    pub fn flags(&self) -> Vec<String> {
        match &self.0 {
            None => Vec::new(),
            Some(p) => vec![format!("--platform={p}")],
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("default platform"),
            Some(p) => write!(f, "--platform={p}"),
        }
    }
}

/// The platforms every veil test runs on: the default (no flag), then each
/// name in `VEIL_TEST_PLATFORMS` (default "ptrace systrap").
pub fn platforms() -> Vec<Platform> {
    let list = std::env::var("VEIL_TEST_PLATFORMS").unwrap_or_else(|_| "ptrace systrap".into());
    let mut out = vec![Platform(None)];
    for name in list.split([',', ' ']).filter(|s| !s.is_empty()) {
        let p = Platform(Some(name.to_string()));
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Running commands

/// What a program gets as standard input.
#[derive(Clone, Debug)]
pub enum Stdin {
    /// /dev/null.
    Null,
    /// A pipe carrying these bytes, then end of file.
    Bytes(Vec<u8>),
    /// The slave side of a fresh pseudo-terminal of this many rows and
    /// columns.
    Pty { rows: u16, cols: u16 },
}

/// How to run a command.
#[derive(Clone, Debug)]
pub struct Opts {
    /// Working directory (default: this crate's directory).
    pub cwd: PathBuf,
    /// Standard input.
    pub stdin: Stdin,
    /// How long the run may take.
    pub timeout: Duration,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            cwd: tests_dir().to_path_buf(),
            stdin: Stdin::Null,
            timeout: default_timeout(),
        }
    }
}

/// The per-run timeout: `VEIL_TEST_TIMEOUT` seconds, default 60.
pub fn default_timeout() -> Duration {
    let secs = std::env::var("VEIL_TEST_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

/// The outcome of one run.
#[derive(Clone, Debug)]
pub struct Output {
    /// The command line, for messages.
    pub what: String,
    /// Exit status; 128+N when killed by signal N (as a shell reports it).
    pub status: i32,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
    /// The run was killed for taking longer than its timeout.
    pub timed_out: bool,
}

impl Output {
    /// Standard output as text.
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    /// Standard error as text.
    pub fn err(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    /// A readable account of the run.
    pub fn describe(&self) -> String {
        let mut s = format!("$ {}\n", self.what);
        if self.timed_out {
            s.push_str("TIMED OUT (killed)\n");
        }
        let _ = writeln!(s, "exit status: {}", self.status);
        let _ = writeln!(s, "--- stdout:\n{}", tail(&self.out(), 60));
        let _ = writeln!(s, "--- stderr:\n{}", tail(&self.err(), 60));
        s
    }
}

/// The last `n` lines of `s`.
fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    if lines.len() <= n {
        return s.to_string();
    }
    format!(
        "[... {} lines cut ...]\n{}",
        lines.len() - n,
        lines[lines.len() - n..].join("\n")
    )
}

fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+%@".contains(&b))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A pseudo-terminal pair; the master is kept open for the run.
struct Pty {
    _master: OwnedFd,
    slave: OwnedFd,
}

fn open_pty(rows: u16, cols: u16) -> Pty {
    // SAFETY: plain libc calls on descriptors we own; every result is
    // checked, and the buffers outlive the calls.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(m >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
        let master = OwnedFd::from_raw_fd(m);
        assert_eq!(libc::grantpt(m), 0, "grantpt");
        assert_eq!(libc::unlockpt(m), 0, "unlockpt");
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(
            libc::ptsname_r(m, name.as_mut_ptr(), name.len()),
            0,
            "ptsname_r"
        );
        let s = libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        assert!(
            s >= 0,
            "open pty slave: {}",
            std::io::Error::last_os_error()
        );
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        assert_eq!(libc::ioctl(m, libc::TIOCSWINSZ, &ws), 0, "TIOCSWINSZ");
        Pty {
            _master: master,
            slave: OwnedFd::from_raw_fd(s),
        }
    }
}

/// How many runs in this process were killed at their timeout.
static HUNG_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Runs `argv` with the fixed environment, umask 022, only descriptors
/// 0-2, in its own process group, killing the group at the timeout.
pub fn run(argv: &[String], opts: &Opts) -> Output {
    let what = format!("(cd {} && {})", opts.cwd.display(), shell_words(argv));
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(&opts.cwd)
        .env_clear()
        .envs(ENV.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // Let a developer see veil's own diagnostics.
    for k in ["RUST_BACKTRACE", "RUST_LOG"] {
        if let Some(v) = std::env::var_os(k) {
            cmd.env(k, v);
        }
    }
    // SAFETY: between fork and exec the closure calls only umask and
    // close_range, which are async-signal-safe system calls. Descriptors
    // from 3 up are marked close-on-exec rather than closed so that
    // std's own exec-error pipe keeps working.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o022);
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                4u32, /* CLOEXEC */
            );
            Ok(())
        });
    }
    let mut pty = None;
    let mut input = None;
    match &opts.stdin {
        Stdin::Null => {
            cmd.stdin(Stdio::null());
        }
        Stdin::Bytes(b) => {
            cmd.stdin(Stdio::piped());
            input = Some(b.clone());
        }
        Stdin::Pty { rows, cols } => {
            let p = open_pty(*rows, *cols);
            cmd.stdin(Stdio::from(p.slave.try_clone().expect("dup pty")));
            pty = Some(p);
        }
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Output {
                what,
                status: 127,
                stdout: Vec::new(),
                stderr: format!("cannot start {}: {e}", argv[0]).into_bytes(),
                timed_out: false,
            }
        }
    };
    let pid = child.id() as libc::pid_t;
    if let (Some(mut stdin), Some(bytes)) = (child.stdin.take(), input) {
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        });
    }
    let (tx, rx) = mpsc::channel();
    for (idx, mut r) in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ]
    .into_iter()
    .enumerate()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            let _ = tx.send((idx, buf));
        });
    }
    drop(tx);
    // After two runs of this test process have hung, later runs get a
    // short leash, so that a sandbox that hangs every time fails the suite
    // in minutes rather than in (runs x timeout).
    let timeout = if HUNG_RUNS.load(Ordering::Relaxed) >= 2 {
        opts.timeout.min(Duration::from_secs(10))
    } else {
        opts.timeout
    };
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                HUNG_RUNS.fetch_add(1, Ordering::Relaxed);
                // SAFETY: signals our own child's process group.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
                break child.wait().expect("wait");
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("wait for {what}: {e}"),
        }
    };
    // Anything the run left behind in its group (stub processes) goes too,
    // so that nothing keeps the output pipes open.
    // SAFETY: as above; ESRCH when the group is empty is fine.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    drop(pty);
    let mut outs = [Vec::new(), Vec::new()];
    let grace = Instant::now() + Duration::from_secs(5);
    for _ in 0..2 {
        let left = grace.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((idx, buf)) => outs[idx] = buf,
            Err(_) => break,
        }
    }
    let [stdout, stderr] = outs;
    let code = match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        _ => -1,
    };
    Output {
        what,
        status: code,
        stdout,
        stderr,
        timed_out,
    }
}

/// Runs `argv` natively.
pub fn run_native(argv: &[&str], opts: &Opts) -> Output {
    run(
        &argv.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        opts,
    )
}

/// Runs `veil do [platform flags] [flags] -- argv`.
pub fn run_veil(platform: &Platform, flags: &[&str], argv: &[&str], opts: &Opts) -> Output {
    let mut full = vec![veil_bin().display().to_string(), "do".to_string()];
    full.extend(platform.flags());
    full.extend(flags.iter().map(|s| s.to_string()));
    // The environment is also given explicitly, in case the sandbox does
    // not inherit veil's own.
    for (k, v) in ENV {
        full.push(format!("--env={k}={v}"));
    }
    full.push("--".into());
    full.extend(argv.iter().map(|s| s.to_string()));
    run(&full, opts)
}

/// Runs `veil ARGS...` exactly as given (for command-line tests).
pub fn run_veil_raw(args: &[&str], opts: &Opts) -> Output {
    let mut full = vec![veil_bin().display().to_string()];
    full.extend(args.iter().map(|s| s.to_string()));
    run(&full, opts)
}

// ---------------------------------------------------------------------------
// Comparing runs

/// Compares a native run with a sandboxed one: standard output and exit
/// status must be equal, and neither may have timed out. The error is a
/// report with a diff of the outputs and both standard errors.
pub fn compare(native: &Output, veil: &Output) -> Result<(), String> {
    if native.timed_out {
        return Err(format!(
            "the native run timed out, the test itself is broken\n{}",
            native.describe()
        ));
    }
    let same_out = native.stdout == veil.stdout;
    let same_status = native.status == veil.status;
    if same_out && same_status && !veil.timed_out {
        return Ok(());
    }
    let mut s = String::new();
    if veil.timed_out {
        let _ = writeln!(s, "veil TIMED OUT");
    }
    if !same_status {
        let _ = writeln!(
            s,
            "exit status differs: native {} vs veil {}",
            native.status, veil.status
        );
    }
    if !same_out {
        let _ = writeln!(
            s,
            "stdout differs (- native, + veil):\n{}",
            diff(&native.out(), &veil.out())
        );
    }
    let _ = writeln!(s, "native: $ {}", native.what);
    let _ = writeln!(s, "veil:   $ {}", veil.what);
    let _ = writeln!(s, "--- veil stderr:\n{}", tail(&veil.err(), 60));
    if !native.stderr.is_empty() {
        let _ = writeln!(s, "--- native stderr:\n{}", tail(&native.err(), 20));
    }
    Err(s)
}

/// A line diff of `a` and `b` with two lines of context around each change
/// (`-` lines only in `a`, `+` lines only in `b`).
pub fn diff(a: &str, b: &str) -> String {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    // Trim the common head and tail, then LCS the middle (bounded).
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail_len = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let am = &a[head..a.len() - tail_len];
    let bm = &b[head..b.len() - tail_len];
    let mut ops: Vec<(char, &str)> = Vec::new();
    ops.extend(a[..head].iter().map(|l| (' ', *l)));
    if am.len() * bm.len() <= 4_000_000 {
        let (n, m) = (am.len(), bm.len());
        let mut lcs = vec![0u32; (n + 1) * (m + 1)];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i * (m + 1) + j] = if am[i] == bm[j] {
                    lcs[(i + 1) * (m + 1) + j + 1] + 1
                } else {
                    lcs[(i + 1) * (m + 1) + j].max(lcs[i * (m + 1) + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && am[i] == bm[j] {
                ops.push((' ', am[i]));
                i += 1;
                j += 1;
            } else if i < n && (j == m || lcs[(i + 1) * (m + 1) + j] >= lcs[i * (m + 1) + j + 1]) {
                ops.push(('-', am[i]));
                i += 1;
            } else {
                ops.push(('+', bm[j]));
                j += 1;
            }
        }
    } else {
        ops.extend(am.iter().map(|l| ('-', *l)));
        ops.extend(bm.iter().map(|l| ('+', *l)));
    }
    ops.extend(a[a.len() - tail_len..].iter().map(|l| (' ', *l)));

    let changed: Vec<bool> = ops.iter().map(|(c, _)| *c != ' ').collect();
    if !changed.contains(&true) {
        return "  (the lines are equal: the difference is in line endings or a final newline)\n"
            .into();
    }
    let near = |k: usize| {
        let lo = k.saturating_sub(2);
        let hi = (k + 3).min(ops.len());
        changed[lo..hi].iter().any(|&c| c)
    };
    let mut out = String::new();
    let mut skipped = false;
    let mut shown = 0;
    for (k, (c, l)) in ops.iter().enumerate() {
        if near(k) {
            if skipped {
                out.push_str("  ...\n");
                skipped = false;
            }
            if shown >= 300 {
                out.push_str("  [diff cut at 300 lines]\n");
                break;
            }
            let _ = writeln!(out, "{c} {l}");
            shown += 1;
        } else {
            skipped = true;
        }
    }
    if skipped {
        out.push_str("  ...\n");
    }
    out
}

/// Runs `argv` natively and under veil on every platform (see
/// [`platforms`]), all in `opts`, and panics with every mismatch.
pub fn assert_same_as_native(argv: &[&str], opts: &Opts) {
    let native = run_native(argv, opts);
    let mut failures = Vec::new();
    for p in platforms() {
        let v = run_veil(&p, &[], argv, opts);
        if let Err(e) = compare(&native, &v) {
            failures.push(format!("=== {} on {p}\n{e}", argv.join(" ")));
        }
    }
    if !failures.is_empty() {
        panic!("{}", failures.join("\n"));
    }
}

/// Runs `argv` natively and under veil on every platform, each run in a
/// fresh scratch directory of its own (so that what one run writes cannot
/// meet the next), and panics with every mismatch, and if a sandboxed
/// run's writes reached the host's scratch directory.
pub fn assert_same_in_scratch(argv: &[&str], tag: &str) {
    let in_scratch = |side: &str, f: &dyn Fn(&Opts) -> Output| {
        let scratch = Scratch::new(&format!("{tag}-{side}"));
        let opts = Opts {
            cwd: scratch.path().to_path_buf(),
            ..Opts::default()
        };
        (f(&opts), scratch.entries())
    };
    let (native, _) = in_scratch("native", &|o| run_native(argv, o));
    let mut failures = Vec::new();
    for p in platforms() {
        let (v, left) = in_scratch("veil", &|o| run_veil(&p, &[], argv, o));
        if let Err(e) = compare(&native, &v) {
            failures.push(format!("=== {} on {p}\n{e}", argv.join(" ")));
        }
        if !left.is_empty() {
            failures.push(format!(
                "=== {} on {p}: writes reached the host's scratch directory: {left:?}",
                argv.join(" ")
            ));
        }
    }
    if !failures.is_empty() {
        panic!("{}", failures.join("\n"));
    }
}

// ---------------------------------------------------------------------------
// Scratch directories

/// A fresh, empty directory under /tmp, removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    /// Makes a new scratch directory whose name contains `tag`.
    pub fn new(tag: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = PathBuf::from(format!("/tmp/veil-test-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        Scratch(p)
    }
    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
    /// Its path as a string.
    pub fn as_str(&self) -> &str {
        self.0.to_str().expect("utf-8 scratch path")
    }
    /// The names in it (sorted).
    pub fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Programs may leave directories without write permission.
        let _ = Command::new("chmod")
            .args(["-R", "u+rwx"])
            .arg(&self.0)
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------
// The C programs

/// Which C library a test program is built against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Libc {
    /// `musl-gcc -static -O1`.
    Musl,
    /// `gcc -O1`, dynamically linked against glibc.
    Glibc,
}

impl Libc {
    /// Both, in test order.
    pub const ALL: [Libc; 2] = [Libc::Musl, Libc::Glibc];

    fn name(self) -> &'static str {
        match self {
            Libc::Musl => "musl",
            Libc::Glibc => "glibc",
        }
    }
}

/// The programs in tests/progs: the stem of every `.c` file, sorted.
pub fn prog_names() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(tests_dir().join("progs"))
        .expect("read tests/progs")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".c").map(str::to_string)
        })
        .collect();
    v.sort();
    v
}

type Built = HashMap<(String, Libc), Result<PathBuf, String>>;

/// Compiles every program in tests/progs both ways, once per test process
/// (in parallel), into target/tmp/veil-progs.
fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        require_tool("musl-gcc", "apt-get install musl-tools");
        require_tool("gcc", "apt-get install gcc");
        let out_dir = build_dir();
        std::fs::create_dir_all(&out_dir).expect("create the program build directory");
        let jobs: Vec<(String, Libc)> = prog_names()
            .into_iter()
            .flat_map(|p| Libc::ALL.map(|l| (p.clone(), l)))
            .collect();
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 4);
        let chunks: Vec<Vec<(String, Libc)>> = (0..threads)
            .map(|t| jobs.iter().skip(t).step_by(threads).cloned().collect())
            .collect();
        std::thread::scope(|s| {
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|chunk| {
                    let out_dir = &out_dir;
                    s.spawn(move || {
                        chunk
                            .into_iter()
                            .map(|(p, l)| {
                                let r = compile(&p, l, out_dir);
                                ((p, l), r)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("compile thread"))
                .collect()
        })
    })
}

fn build_dir() -> PathBuf {
    // <target>/<profile>/deps/<test> -> <target>/tmp/veil-progs
    let exe = std::env::current_exe().expect("current_exe");
    let in_deps = exe.parent().and_then(|d| d.file_name()) == Some("deps".as_ref());
    match exe.ancestors().nth(3) {
        Some(target) if in_deps => target.join("tmp").join("veil-progs"),
        _ => std::env::temp_dir().join(format!("veil-progs-{}", std::process::id())),
    }
}

fn compile(prog: &str, libc: Libc, out_dir: &Path) -> Result<PathBuf, String> {
    compile_from("progs", prog, libc, out_dir)
}

/// Compiles tests/`dir`/`prog`.c against `libc` into `out_dir`.
fn compile_from(dir: &str, prog: &str, libc: Libc, out_dir: &Path) -> Result<PathBuf, String> {
    let src = tests_dir().join(dir).join(format!("{prog}.c"));
    let out = out_dir.join(format!("{prog}-{}", libc.name()));
    let tmp = out_dir.join(format!(".{prog}-{}.{}", libc.name(), std::process::id()));
    let mut cmd = match libc {
        Libc::Musl => {
            let mut c = Command::new("musl-gcc");
            c.arg("-static");
            c
        }
        Libc::Glibc => Command::new("gcc"),
    };
    // A first line `/* cflags: ... */` adds flags (e.g. a link address).
    let text = std::fs::read_to_string(&src).map_err(|e| format!("{}: {e}", src.display()))?;
    let extra: Vec<&str> = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("/* cflags:"))
        .and_then(|l| l.strip_suffix("*/"))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    cmd.args(["-O1", "-g", "-Wall", "-Wextra", "-D_GNU_SOURCE"])
        .args(&extra)
        .arg("-o")
        .arg(&tmp)
        .arg(&src)
        .arg(format!("-I{}", tests_dir().join("progs").display()));
    let o = cmd
        .output()
        .map_err(|e| format!("cannot run the {} compiler: {e}", libc.name()))?;
    if !o.status.success() {
        return Err(format!(
            "compiling {} for {} failed:\n{}",
            src.display(),
            libc.name(),
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    std::fs::rename(&tmp, &out).map_err(|e| format!("rename {}: {e}", tmp.display()))?;
    Ok(out)
}

/// A helper program from tests/helpers (C programs a test drives itself,
/// not compared with a native run), built against `libc` on first use.
/// Panics with the compiler's message when it does not build.
pub fn helper(prog: &str, libc: Libc) -> PathBuf {
    static BUILT: OnceLock<std::sync::Mutex<HashMap<(String, Libc), PathBuf>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .expect("helper cache");
    if let Some(p) = built.get(&(prog.to_string(), libc)) {
        return p.clone();
    }
    require_tool("musl-gcc", "apt-get install musl-tools");
    require_tool("gcc", "apt-get install gcc");
    let out_dir = build_dir().join("helpers");
    std::fs::create_dir_all(&out_dir).expect("create the helper build directory");
    let path = compile_from("helpers", prog, libc, &out_dir).unwrap_or_else(|e| panic!("{e}"));
    built.insert((prog.to_string(), libc), path.clone());
    path
}

/// The binary of `prog` built against `libc`; panics with the compiler's
/// message when it did not build.
pub fn prog(prog: &str, libc: Libc) -> PathBuf {
    match built().get(&(prog.to_string(), libc)) {
        Some(Ok(p)) => p.clone(),
        Some(Err(e)) => panic!("{e}"),
        None => panic!("no program tests/progs/{prog}.c"),
    }
}

/// Runs one C program natively and under veil on every platform, each run
/// in a fresh scratch directory (passed as argv[1] and used as the working
/// directory), with `stdin`. Compares output and status, and checks that
/// nothing the sandboxed program wrote reached the host's scratch
/// directory. Panics with every failure.
pub fn check_prog(name: &str, libc: Libc, stdin: Stdin) {
    let bin = prog(name, libc);
    let bin = bin.to_str().expect("utf-8 path");
    let run_in = |tag: &str, f: &dyn Fn(&Opts, &str) -> Output| {
        let scratch = Scratch::new(&format!("{name}-{}-{tag}", libc.name()));
        let opts = Opts {
            cwd: scratch.path().to_path_buf(),
            stdin: stdin.clone(),
            ..Opts::default()
        };
        let out = f(&opts, scratch.as_str());
        (out, scratch.entries())
    };
    let (native, _) = run_in("native", &|o, s| run_native(&[bin, s], o));
    let mut failures = Vec::new();
    if !native.stderr.is_empty() {
        failures.push(format!(
            "the native run wrote to stderr (the program is broken):\n{}",
            native.describe()
        ));
    }
    for p in platforms() {
        let (v, left) = run_in("veil", &|o, s| run_veil(&p, &[], &[bin, s], o));
        if let Err(e) = compare(&native, &v) {
            failures.push(format!("=== {name} ({}) on {p}\n{e}", libc.name()));
        }
        if !left.is_empty() {
            failures.push(format!(
                "=== {name} ({}) on {p}: writes reached the host's scratch directory: {left:?}",
                libc.name()
            ));
        }
    }
    if !failures.is_empty() {
        panic!("{}", failures.join("\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_marks_changed_lines_with_context() {
        let a = "1\n2\n3\n4\n5\n6\n7\n8\n";
        let b = "1\n2\n3\n4\nfive\n6\n7\n8\nnine\n";
        assert_eq!(
            diff(a, b),
            "  ...\n  3\n  4\n- 5\n+ five\n  6\n  7\n  8\n+ nine\n"
        );
        assert!(diff("x\n", "x").contains("line endings"));
    }

    #[test]
    fn compare_reports_status_and_output() {
        let out = |status, text: &str| Output {
            what: "prog".into(),
            status,
            stdout: text.as_bytes().to_vec(),
            stderr: Vec::new(),
            timed_out: false,
        };
        assert!(compare(&out(0, "a\n"), &out(0, "a\n")).is_ok());
        let e = compare(&out(0, "a\n"), &out(1, "b\n")).unwrap_err();
        assert!(e.contains("native 0 vs veil 1"), "{e}");
        assert!(e.contains("- a\n+ b"), "{e}");
    }

    #[test]
    fn platforms_always_include_the_default() {
        let p = platforms();
        assert_eq!(p[0], Platform(None));
        assert!(p[0].flags().is_empty());
        assert_eq!(
            Platform(Some("ptrace".into())).flags(),
            ["--platform=ptrace"]
        );
    }

    #[test]
    fn run_reports_exit_status_and_signals() {
        let sh = |script: &str| {
            run(
                &["/bin/sh".to_string(), "-c".to_string(), script.to_string()],
                &Opts::default(),
            )
        };
        let o = sh("echo out; echo err >&2; exit 3");
        assert_eq!(
            (o.status, o.out(), o.err()),
            (3, "out\n".into(), "err\n".into())
        );
        assert_eq!(sh("kill -9 $$").status, 128 + 9);
        assert_eq!(sh("umask").out(), "0022\n");
        let o = run(
            &[
                "/bin/sh".to_string(),
                "-c".to_string(),
                "sleep 5".to_string(),
            ],
            &Opts {
                timeout: Duration::from_millis(200),
                ..Opts::default()
            },
        );
        assert!(o.timed_out);
    }

    #[test]
    fn static_busybox_has_no_interpreter() {
        if let Ok(elf) = std::fs::read("/bin/sh") {
            assert!(has_interp(&elf), "/bin/sh is dynamic on Debian");
        }
        assert!(!has_interp(b"not an elf file at all, just some bytes...."));
    }
}
