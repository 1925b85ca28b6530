//! Host timers for a sandbox: one thread sleeping until the earliest
//! deadline of a queue.
//!
//! [`HostTimers`] implements [`TimerService`]: `arm` puts a callback in a
//! queue ordered by deadline (sandbox monotonic nanoseconds on a
//! [`HostClock`]) and wakes the timer thread if the new deadline is the
//! earliest; the thread sleeps on a condition variable until the first
//! deadline (or, with nothing queued, until something is armed), takes
//! every due callback off the queue and runs them with the lock released,
//! so a callback may arm and cancel timers. No busy waiting: an idle
//! sandbox's timer thread sleeps without a timeout, and the thread is
//! only started by the first `arm`. It ends when the `HostTimers` is
//! dropped.

use std::collections::{BTreeMap, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use veil_core::host::{Nanos, TimerCallback, TimerId, TimerService};

use crate::HostClock;

#[derive(Default)]
struct State {
    /// (deadline, id) -> callback.
    queue: BTreeMap<(Nanos, TimerId), TimerCallback>,
    /// id -> deadline, for cancel.
    index: HashMap<TimerId, Nanos>,
    next_id: TimerId,
    /// The timer thread is running.
    started: bool,
    /// The service was dropped: the thread ends.
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    cond: Condvar,
    clock: HostClock,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The [`TimerService`] of one sandbox (see the module docs).
pub struct HostTimers {
    shared: Arc<Shared>,
}

impl HostTimers {
    /// A service whose deadlines are read on `clock` (copies of a
    /// `HostClock` share its epoch).
    pub fn new(clock: impl AsRef<HostClock>) -> HostTimers {
        HostTimers {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                cond: Condvar::new(),
                clock: *clock.as_ref(),
            }),
        }
    }

    /// Timers armed and not yet fired or cancelled.
    pub fn pending(&self) -> usize {
        self.shared.lock().queue.len()
    }

    fn start(&self) -> bool {
        let shared = self.shared.clone();
        std::thread::Builder::new()
            .name("veil-timers".into())
            .stack_size(256 << 10)
            .spawn(move || run(shared))
            .is_ok()
    }
}

impl std::fmt::Debug for HostTimers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostTimers")
            .field("pending", &self.pending())
            .finish()
    }
}

impl Drop for HostTimers {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.cond.notify_all();
    }
}

impl TimerService for HostTimers {
    fn arm(&self, deadline: Nanos, f: TimerCallback) -> TimerId {
        let mut g = self.shared.lock();
        let id = g.next_id;
        g.next_id += 1;
        let earliest = g.queue.keys().next().is_none_or(|&(d, _)| deadline < d);
        g.queue.insert((deadline, id), f);
        g.index.insert(id, deadline);
        let start = !g.started;
        g.started = true;
        drop(g);
        if start && !self.start() {
            // No thread now: try again at the next arm.
            self.shared.lock().started = false;
        }
        if earliest {
            self.shared.cond.notify_all();
        }
        id
    }

    fn cancel(&self, id: TimerId) {
        let mut g = self.shared.lock();
        if let Some(d) = g.index.remove(&id) {
            g.queue.remove(&(d, id));
        }
    }
}

/// The timer thread.
fn run(shared: Arc<Shared>) {
    let mut g = shared.lock();
    loop {
        if g.shutdown {
            return;
        }
        let now = shared.clock.monotonic_ns();
        let mut due = Vec::new();
        while let Some(e) = g.queue.first_entry() {
            if e.key().0 > now {
                break;
            }
            let ((_, id), f) = e.remove_entry();
            g.index.remove(&id);
            due.push(f);
        }
        if !due.is_empty() {
            drop(g);
            for f in due {
                // A callback that panics must not stop every other timer.
                let _ = catch_unwind(AssertUnwindSafe(f));
            }
            g = shared.lock();
            continue;
        }
        g = match g.queue.keys().next() {
            Some(&(d, _)) => {
                let wait = Duration::from_nanos(d.saturating_sub(now));
                shared
                    .cond
                    .wait_timeout(g, wait)
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            }
            None => shared.cond.wait(g).unwrap_or_else(|p| p.into_inner()),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::mpsc;
    use std::time::Instant;

    fn service() -> (HostTimers, HostClock) {
        let clock = HostClock::new();
        (HostTimers::new(clock), clock)
    }

    #[test]
    fn fires_once_not_before_the_deadline() {
        let (t, clock) = service();
        let (tx, rx) = mpsc::channel();
        let deadline = clock.monotonic_ns() + 30_000_000;
        t.arm(
            deadline,
            Box::new(move || {
                tx.send(clock.monotonic_ns()).unwrap();
            }),
        );
        let fired = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(fired >= deadline);
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
        assert_eq!(t.pending(), 0);
    }

    #[test]
    fn fire_in_deadline_order_and_past_deadlines_at_once() {
        let (t, clock) = service();
        let (tx, rx) = mpsc::channel();
        let now = clock.monotonic_ns();
        for (i, off) in [(3u64, 60_000_000u64), (1, 0), (2, 20_000_000)] {
            let tx = tx.clone();
            t.arm(now + off, Box::new(move || tx.send(i).unwrap()));
        }
        let start = Instant::now();
        let got: Vec<u64> = (0..3)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        assert_eq!(got, vec![1, 2, 3]);
        assert!(start.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn cancelled_timers_do_not_fire() {
        let (t, clock) = service();
        let hits = Arc::new(AtomicU64::new(0));
        let h = hits.clone();
        let id = t.arm(
            clock.monotonic_ns() + 20_000_000,
            Box::new(move || {
                h.fetch_add(1, Ordering::SeqCst);
            }),
        );
        assert_eq!(t.pending(), 1);
        t.cancel(id);
        t.cancel(id);
        assert_eq!(t.pending(), 0);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(hits.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn an_earlier_timer_wakes_a_sleeping_thread() {
        let (t, clock) = service();
        let (tx, rx) = mpsc::channel();
        let tx2 = tx.clone();
        t.arm(
            clock.monotonic_ns() + 60_000_000_000,
            Box::new(move || tx2.send(2).unwrap()),
        );
        std::thread::sleep(Duration::from_millis(20));
        t.arm(
            clock.monotonic_ns() + 10_000_000,
            Box::new(move || tx.send(1).unwrap()),
        );
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 1);
        assert_eq!(t.pending(), 1);
    }

    #[test]
    fn callbacks_may_arm_again() {
        let (t, clock) = service();
        let t = Arc::new(t);
        let (tx, rx) = mpsc::channel();
        fn tick(t: Arc<HostTimers>, clock: HostClock, left: u32, tx: mpsc::Sender<u32>) {
            tx.send(left).unwrap();
            if left > 0 {
                let t2 = t.clone();
                t.arm(
                    clock.monotonic_ns() + 1_000_000,
                    Box::new(move || tick(t2, clock, left - 1, tx)),
                );
            }
        }
        let t2 = t.clone();
        t.arm(
            clock.monotonic_ns(),
            Box::new(move || tick(t2, clock, 5, tx)),
        );
        let got: Vec<u32> = (0..6)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        assert_eq!(got, vec![5, 4, 3, 2, 1, 0]);
    }

    #[test]
    fn a_panicking_callback_does_not_stop_the_others() {
        let (t, clock) = service();
        let (tx, rx) = mpsc::channel();
        let now = clock.monotonic_ns();
        t.arm(now, Box::new(|| panic!("boom")));
        t.arm(now + 5_000_000, Box::new(move || tx.send(()).unwrap()));
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
    }

    #[test]
    fn idle_thread_uses_no_cpu() {
        let (t, clock) = service();
        let (tx, rx) = mpsc::channel();
        // SAFETY: pthread_self has no preconditions.
        t.arm(
            clock.monotonic_ns(),
            Box::new(move || tx.send(unsafe { libc::pthread_self() }).unwrap()),
        );
        let thread = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let mut id: libc::clockid_t = 0;
        // SAFETY: `thread` is the live timer thread (it waits for the next
        // arm); `id` is a valid out-pointer.
        assert_eq!(unsafe { libc::pthread_getcpuclockid(thread, &mut id) }, 0);
        let cpu = || {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: a valid out-pointer and clock id.
            unsafe { libc::clock_gettime(id, &mut ts) };
            ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
        };
        // The thread now waits with nothing queued: it uses no CPU.
        let before = cpu();
        std::thread::sleep(Duration::from_millis(200));
        let used = cpu() - before;
        assert!(used < 20_000_000, "{used}");
        drop(t);
    }
}
