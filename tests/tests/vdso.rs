//! The vDSO answers the time calls without a trap: tests/progs/vdso.c in
//! its `--loop` mode makes 100000 rounds of clock_gettime(MONOTONIC),
//! clock_gettime(REALTIME), gettimeofday and time through libc under
//! `veil do --strace`, and the trace shows (almost) none of them. A few
//! may trap if the program starts before the Sentry has calibrated the
//! TSC (the vDSO then makes the system call); the bound is far below one
//! per round.

use veil_tests::{platforms, prog, run_veil, Libc, Opts};

const ROUNDS: &str = "100000";
/// Time calls allowed to trap, out of 4 x ROUNDS.
const MAX_TRAPS: usize = 100;

#[test]
fn time_calls_do_not_trap() {
    for libc in Libc::ALL {
        let bin = prog("vdso", libc);
        let bin = bin.to_str().expect("utf-8 path");
        for p in platforms() {
            let out = run_veil(
                &p,
                &["--strace"],
                &[bin, "--loop", ROUNDS],
                &Opts::default(),
            );
            let what = format!("{libc:?} on {p}\n{}", out.describe());
            assert!(!out.timed_out && out.status == 0, "{what}");
            assert_eq!(
                out.out(),
                format!("loop: {ROUNDS} rounds, monotonic: yes\n"),
                "{what}"
            );
            let err = out.err();
            // The trace is on: the exit is in it.
            assert!(
                err.lines().any(|l| l.contains("] exit_group(0)")),
                "no trace?\n{what}"
            );
            let traps = err
                .lines()
                .filter(|l| {
                    l.contains("] clock_gettime(")
                        || l.contains("] gettimeofday(")
                        || l.contains("] time(")
                })
                .count();
            assert!(
                traps <= MAX_TRAPS,
                "{traps} time calls trapped ({libc:?} on {p})"
            );
        }
    }
}
