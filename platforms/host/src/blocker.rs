//! How a task's host thread sleeps: a flag pair under a mutex with a
//! condition variable.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use veil_core::host::{Blocker, Nanos, WakeReason};

use crate::HostClock;

#[derive(Default)]
struct Flags {
    woken: bool,
    interrupted: bool,
}

/// A [`Blocker`] for one task, parking its host thread on a condition
/// variable.
///
/// - A [`wake`](Blocker::wake) or [`interrupt`](Blocker::interrupt) that
///   comes while nobody blocks is remembered and ends the next `block` at
///   once (one pending wake and one pending interrupt at most; repeats
///   coalesce).
/// - When both are pending, `block` reports `Woken` first and keeps the
///   interrupt pending for the next call: a wake consumed by a task is never
///   lost (a futex waker counted it), and the interrupt is still seen, at
///   worst as one extra `Interrupted` return, which callers handle as a
///   spurious wake-up.
/// - Deadlines are sandbox monotonic nanoseconds as the [`HostClock`] given
///   at construction reports them; a deadline already past returns
///   `TimedOut` at once unless something is pending.
pub struct ThreadBlocker {
    clock: HostClock,
    flags: Mutex<Flags>,
    cond: Condvar,
}

impl ThreadBlocker {
    /// A blocker whose deadlines are read on `clock` (a `HostClock`, a
    /// reference to one or an `Arc` of one: copies share the epoch).
    pub fn new(clock: impl AsRef<HostClock>) -> ThreadBlocker {
        ThreadBlocker {
            clock: *clock.as_ref(),
            flags: Mutex::new(Flags::default()),
            cond: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Flags> {
        // The flags are always consistent: a panic elsewhere with the lock
        // held cannot leave them half-updated.
        self.flags.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for ThreadBlocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.lock();
        f.debug_struct("ThreadBlocker")
            .field("woken", &g.woken)
            .field("interrupted", &g.interrupted)
            .finish()
    }
}

impl Blocker for ThreadBlocker {
    fn block(&self, deadline: Option<Nanos>) -> WakeReason {
        let mut g = self.lock();
        loop {
            if g.woken {
                g.woken = false;
                return WakeReason::Woken;
            }
            if g.interrupted {
                g.interrupted = false;
                return WakeReason::Interrupted;
            }
            match deadline {
                None => g = self.cond.wait(g).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let now = self.clock.monotonic_ns();
                    if now >= d {
                        return WakeReason::TimedOut;
                    }
                    let wait = Duration::from_nanos(d - now);
                    g = self
                        .cond
                        .wait_timeout(g, wait)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
    }

    fn wake(&self) {
        self.lock().woken = true;
        self.cond.notify_all();
    }

    fn interrupt(&self) {
        self.lock().interrupted = true;
        self.cond.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    fn blocker() -> Arc<ThreadBlocker> {
        Arc::new(ThreadBlocker::new(HostClock::new()))
    }

    #[test]
    fn shares_the_clock_it_is_given() {
        let clock = Arc::new(HostClock::new());
        std::thread::sleep(Duration::from_millis(20));
        let b = ThreadBlocker::new(clock.clone());
        let _ = ThreadBlocker::new(*clock);
        // Deadlines are on the given clock's epoch, not a new one.
        assert!(b.clock.monotonic_ns() >= 20_000_000);
        assert_eq!(b.block(Some(clock.monotonic_ns())), WakeReason::TimedOut);
    }

    #[test]
    fn wake_before_block_is_not_lost() {
        let b = blocker();
        b.wake();
        b.wake();
        assert_eq!(b.block(None), WakeReason::Woken);
        // Repeated wakes coalesced: the next block times out.
        let now = b.clock.monotonic_ns();
        assert_eq!(b.block(Some(now + 1_000_000)), WakeReason::TimedOut);
    }

    #[test]
    fn interrupt_before_block() {
        let b = blocker();
        b.interrupt();
        assert_eq!(b.block(None), WakeReason::Interrupted);
    }

    #[test]
    fn woken_first_then_interrupt_stays_pending() {
        let b = blocker();
        b.interrupt();
        b.wake();
        assert_eq!(b.block(None), WakeReason::Woken);
        assert_eq!(b.block(None), WakeReason::Interrupted);
        assert_eq!(b.block(Some(0)), WakeReason::TimedOut);
    }

    #[test]
    fn deadline_in_the_past_and_future() {
        let b = blocker();
        assert_eq!(b.block(Some(0)), WakeReason::TimedOut);
        let t = Instant::now();
        let d = b.clock.monotonic_ns() + 30_000_000;
        assert_eq!(b.block(Some(d)), WakeReason::TimedOut);
        assert!(t.elapsed() >= Duration::from_millis(30));
        assert!(b.clock.monotonic_ns() >= d);
    }

    #[test]
    fn wake_and_interrupt_from_another_thread() {
        let b = blocker();
        for (reason, f) in [
            (WakeReason::Woken, ThreadBlocker::wake as fn(&ThreadBlocker)),
            (
                WakeReason::Interrupted,
                ThreadBlocker::interrupt as fn(&ThreadBlocker),
            ),
        ] {
            let b2 = b.clone();
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                f(&b2);
            });
            let far = b.clock.monotonic_ns() + 10_000_000_000;
            assert_eq!(b.block(Some(far)), reason);
            t.join().unwrap();
        }
    }

    #[test]
    fn many_wakes_race_with_blocks() {
        // Every wake is matched by a block that returns Woken, or coalesces
        // with one still pending: the blocker never sleeps past a wake.
        let b = blocker();
        let b2 = b.clone();
        let t = std::thread::spawn(move || {
            for _ in 0..10_000 {
                b2.wake();
            }
        });
        t.join().unwrap();
        let far = b.clock.monotonic_ns() + 5_000_000_000;
        assert_eq!(b.block(Some(far)), WakeReason::Woken);
        let b3 = b.clone();
        let t = std::thread::spawn(move || {
            for _ in 0..1000 {
                let far = b3.clock.monotonic_ns() + 5_000_000_000;
                assert_eq!(b3.block(Some(far)), WakeReason::Woken);
            }
        });
        // Ping-pong: wake until the blocker thread has consumed 1000 wakes.
        while !t.is_finished() {
            b.wake();
            std::thread::yield_now();
        }
        t.join().unwrap();
    }
}
