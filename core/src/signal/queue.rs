//! A set of pending signals: Linux's `struct sigpending`.
//!
//! Standard signals (1..=31) coalesce: while one is pending, another of
//! the same number is dropped (`legacy_queue`). Real-time signals
//! (32..=64) queue one entry per send, each with its own siginfo, in
//! arrival order. A signal may be pending without an entry (its siginfo
//! was lost because the queue was full, as Linux's "silent loss of
//! information"); it is then dequeued with a zeroed `SI_USER` siginfo.
//!
//! Dequeueing follows Linux's `next_signal`: the synchronous signals
//! (SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGSYS) first, then the
//! lowest-numbered pending signal.

use alloc::vec::Vec;

use veil_abi::flags::*;
use veil_abi::Siginfo;

use super::{bit, SYNCHRONOUS_MASK};

/// Pending signals and the siginfo queued with them.
#[derive(Clone, Debug, Default)]
pub struct SigQueue {
    bits: u64,
    queued: Vec<Siginfo>,
}

impl SigQueue {
    /// The set of pending signals.
    pub fn pending(&self) -> u64 {
        self.bits
    }

    /// How many siginfo entries are queued (what counts against
    /// RLIMIT_SIGPENDING).
    pub fn queued(&self) -> usize {
        self.queued.len()
    }

    /// True if `sig` is a standard signal that is already pending: a new
    /// one is dropped (Linux's `legacy_queue`).
    pub fn coalesces(&self, sig: i32) -> bool {
        sig < SIGRTMIN && self.bits & bit(sig) != 0
    }

    /// Marks `info.signo` pending, queueing `info` with it if `keep_info`
    /// (otherwise the siginfo is lost, as when the queue is full).
    pub fn push(&mut self, info: Siginfo, keep_info: bool) {
        let sig = info.signo;
        if !(1..=NSIG).contains(&sig) || self.coalesces(sig) {
            return;
        }
        if keep_info {
            self.queued.push(info);
        }
        self.bits |= bit(sig);
    }

    /// The signal [`take_next`](Self::take_next) would take with `blocked`.
    pub fn next(&self, blocked: u64) -> Option<i32> {
        let mut x = self.bits & !blocked;
        if x == 0 {
            return None;
        }
        if x & SYNCHRONOUS_MASK != 0 {
            x &= SYNCHRONOUS_MASK;
        }
        Some(x.trailing_zeros() as i32 + 1)
    }

    /// Removes and returns the next deliverable signal's siginfo.
    pub fn take_next(&mut self, blocked: u64) -> Option<Siginfo> {
        let sig = self.next(blocked)?;
        self.take(sig)
    }

    /// Removes one instance of `sig` (the oldest queued entry), keeping it
    /// pending if more entries of it remain. `None` if it is not pending.
    pub fn take(&mut self, sig: i32) -> Option<Siginfo> {
        if !(1..=NSIG).contains(&sig) || self.bits & bit(sig) == 0 {
            return None;
        }
        let mut found = None;
        let mut more = false;
        if let Some(pos) = self.queued.iter().position(|i| i.signo == sig) {
            found = Some(self.queued.remove(pos));
            more = self.queued[pos..].iter().any(|i| i.signo == sig);
        }
        if !more {
            self.bits &= !bit(sig);
        }
        Some(found.unwrap_or_else(|| lost_info(sig)))
    }

    /// Forgets every pending signal in `set` (Linux's
    /// `flush_sigqueue_mask`).
    pub fn discard(&mut self, set: u64) {
        if self.bits & set == 0 {
            return;
        }
        self.bits &= !set;
        self.queued.retain(|i| set & bit(i.signo) == 0);
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.bits = 0;
        self.queued.clear();
    }
}

/// The siginfo of a signal whose queued entry was lost: `SI_USER` from
/// nobody, as Linux's `collect_signal` fills it.
pub fn lost_info(sig: i32) -> Siginfo {
    Siginfo {
        signo: sig,
        code: SI_USER,
        ..Siginfo::default()
    }
}
