//! Model-based property tests: each suite drives veil-core with random
//! operation sequences (proptest) and compares every answer, and the state
//! after every step, with a small reference model written from Linux's
//! documented behaviour.
//!
//! - [`fd`]: the fd table through dup / dup2 / dup3 / fcntl / close /
//!   close_range / pipe2 / open and execve's close-on-exec.
//! - [`mm`]: mmap / munmap / mprotect / mremap / brk and memory contents
//!   against an interval model of VMAs (with their splits and merges).
//! - [`pipe`]: pipe buffers (atomic writes up to PIPE_BUF, partial writes,
//!   EOF, EPIPE and SIGPIPE, FIONREAD) against a byte queue.
//! - [`vfs`]: create / link / unlink / rename / mkdir / rmdir / symlink /
//!   open / read / write / truncate through the syscall layer against a
//!   tree model with symlink resolution.
//! - [`futex`]: wait queues (wake / requeue / wake_op / bitsets) against
//!   FIFO queues, through the futex syscall.
//! - [`signal`]: masks, pending sets and dequeue order (sigprocmask,
//!   kill, tkill, sigqueue, sigpending, sigtimedwait) against a model of
//!   Linux's per-thread and per-process pending queues.
//!
//! Every suite also runs itself against a deliberately broken copy of its
//! model and checks that the property fails ([`must_fail`]): a suite that
//! cannot tell a wrong model from the right one checks nothing.
//!
//! Case counts are kept so the whole run takes about a minute in release
//! mode on two cores; `PROPTEST_CASES` raises them for a longer soak.

/// `prop_assert_eq!` for answers: compares and says which step.
macro_rules! step_eq {
    ($step:expr, $op:expr, $core:expr, $model:expr) => {
        proptest::prop_assert_eq!(
            $core,
            $model,
            "step {} ({:?}): core (left) and model (right) disagree",
            $step,
            $op
        )
    };
}

mod fd;
mod futex;
mod mm;
mod pipe;
mod signal;
mod vfs;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestError, TestRunner};

/// The config of a suite: `cases` unless `PROPTEST_CASES` says otherwise,
/// no regression files (core is no_std; a failure prints its minimal
/// case, which goes into the suite as a fixed test).
pub(crate) fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Runs `test` over `strategy` and panics unless some case fails: used to
/// show that a suite catches a broken model.
pub(crate) fn must_fail<S: Strategy>(
    what: &str,
    strategy: S,
    cases: u32,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: core::fmt::Debug,
{
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 64,
        ..Config::default()
    });
    match runner.run(&strategy, test) {
        Err(TestError::Fail(..)) => {}
        other => panic!("{what}: the broken model was not caught: {other:?}"),
    }
}
