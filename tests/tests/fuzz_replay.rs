//! The syscall fuzzer's corpus (fuzz/corpus/syscalls), replayed with real
//! system calls through the real `veil` binary on every platform: each
//! entry is flattened by the harness's own decoder and run by
//! tests/helpers/fuzzexec.c inside one sandbox per platform. Whatever an
//! entry does to its own process is fine; the Sentry must not panic,
//! must not hang (every entry's processes are killed after a short time
//! and must die), and the sandbox must finish with every entry replayed.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use std::path::Path;
use veil_core::fuzz_harness::syscalls::flatten;

use veil_tests::{helper, platforms, tests_dir, veil_bin, Libc, Platform};

/// Every corpus entry that decodes, flattened and length-prefixed.
fn corpus_input() -> (Vec<u8>, usize) {
    let dir = tests_dir().join("../fuzz/corpus/syscalls");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .collect();
    paths.sort();
    let mut input = Vec::new();
    let mut n = 0;
    for p in &paths {
        let data = std::fs::read(p).expect("read a corpus entry");
        if let Some(flat) = flatten(&data) {
            input.extend_from_slice(&(flat.len() as u32).to_le_bytes());
            input.extend_from_slice(&flat);
            n += 1;
        }
    }
    assert!(n > 100, "only {n} of {} corpus entries decode", paths.len());
    (input, n)
}

/// Replays `input` (`n` entries) in one sandbox on `p`; the failures.
fn replay_on(p: &Platform, veil: &Path, exec: &Path, input: Vec<u8>, n: usize) -> Vec<String> {
    let limit = Duration::from_secs(600);
    let mut failures = Vec::new();
    let start = Instant::now();
    let mut child = Command::new(veil)
        .arg("do")
        .args(p.flags())
        .arg(exec)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start veil");
    let mut stdin = child.stdin.take().expect("stdin");
    let feed = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let stderr = child.stderr.take().expect("stderr");
    let errs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s);
        s
    });
    // Progress lines, read on a thread so that a hang is noticed.
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut last = String::from("(nothing)");
    let mut done = false;
    let mut hung = false;
    loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => {
                done |= line.starts_with(&format!("done {n} entries"));
                last = line;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                hung = true;
                break;
            }
        }
        if start.elapsed() > limit {
            hung = true;
            break;
        }
    }
    if hung {
        let _ = child.kill();
    }
    let status = child.wait().expect("wait for veil");
    let _ = feed.join();
    let stderr = errs.join().unwrap_or_default();
    eprintln!(
        "{p}: {:.1} s, last progress {last:?}, status {status}",
        start.elapsed().as_secs_f64()
    );
    if hung {
        failures.push(format!("{p}: veil stopped making progress after {last:?}"));
    } else if !done || !status.success() {
        failures.push(format!(
            "{p}: the replay ended after {last:?} with {status}; stderr:\n{stderr}"
        ));
    }
    if stderr.contains("panicked") {
        failures.push(format!(
            "{p}: the Sentry panicked (after {last:?}):\n{stderr}"
        ));
    }
    failures
}

/// Every named platform at once (the default platform is one of them, so
/// it is not run a second time).
#[test]
fn syscall_corpus_through_the_real_binary() {
    let (input, n) = corpus_input();
    let exec = helper("fuzzexec", Libc::Musl);
    let veil = veil_bin();
    let mut list: Vec<Platform> = platforms().into_iter().filter(|p| p.0.is_some()).collect();
    if list.is_empty() {
        list.push(Platform(None));
    }
    let runs: Vec<_> = list
        .into_iter()
        .map(|p| {
            let (exec, input) = (exec.clone(), input.clone());
            std::thread::spawn(move || replay_on(&p, veil, &exec, input, n))
        })
        .collect();
    let failures: Vec<String> = runs
        .into_iter()
        .flat_map(|r| r.join().expect("replay thread"))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
