//! How the two sides of a hand-off wait for each other.
//!
//! Measured on the 2-vCPU test machine (../shared/LIMITS.md): a
//! shared-memory ping-pong between two spinning processes costs ~0.1 µs,
//! a hand-off that sleeps on a futex 7 µs when both sides share one CPU
//! and ~50 µs across CPUs (waking an idle vCPU costs 20–25 µs here),
//! bounded spin then futex ~2.9 µs. So a waiter spins while the other
//! side is likely to answer soon, for at most about what a sleep would
//! cost, and then sleeps on the futex, so that a busy sandbox hands off
//! in well under a microsecond and an idle one uses no CPU:
//!
//! - **Sentry waiting for a trap** (the application is running): spins
//!   with `pause` for an adaptive budget: it starts at
//!   [`Tuning::max_spin_ns`] (50 µs by default), is restored to it
//!   whenever a trap arrives while spinning and halves (down to 1 µs)
//!   whenever the Sentry had to sleep, so a compute-bound thread soon
//!   stops burning a CPU beside it while a system-call-heavy one keeps
//!   the fast path. Then `FUTEX_WAIT` on the slot's `S_STUB_STATE`.
//! - **Stub waiting for a reply** (the Sentry is serving): spins
//!   [`Tuning::stub_spin_iters`] `pause`s (20 µs by default, calibrated
//!   at start), then `FUTEX_WAIT` on `S_SENTRY_STATE`.
//! - **One CPU**: spinning only delays the side being waited for, so
//!   nobody spins: the Sentry and the stub `sched_yield` a few times
//!   (handing the CPU straight to the other side) before sleeping, but
//!   only while the host is not contended (below).
//! - **More spinners than CPUs**: a Sentry thread spins only while fewer
//!   than `ncpu - 1` others do (a global count), so that spinning never
//!   takes the last CPU from the side it waits for; it sleeps instead.
//!   The same count, at reply time, turns the stub's spin off.
//! - **More runnable tasks than CPUs** (other sandboxes, other programs
//!   on the host): spinning then only steals time from the side being
//!   waited for, and `sched_yield` is far worse: on EEVDF a yielding task
//!   goes behind every other runnable task of its CPU, for a whole slice
//!   each. Measured here with four busy loops on the two CPUs, a futex
//!   ping-pong between two processes costs 33 µs a round trip when each
//!   side sleeps at once and 11.9 *ms* when each yields twice first
//!   (what the contended path used to do: python's fork then took a
//!   second). So on a contended host nobody spins or yields: waiters
//!   sleep at once, and the executor's spin for its next batch is
//!   turned off (`C_EXEC_SPIN`, rewritten at each batch). The host
//!   counts as contended when either
//!   - its current runnable count (the 4th field of `/proc/loadavg`,
//!     read at most every 2 ms, ~0.7 µs a read) exceeds the CPU count
//!     (at least 2), or
//!   - a spinner finds itself preempted: two of its progress checks (a
//!     few µs apart when it has its CPU), or the two sides of one of its
//!     `sched_yield`s, lie more than 200 µs apart (a slice of another
//!     task; interrupts, the hypervisor, or our own executor run by the
//!     yield take less). Then every waiter sleeps at once for the next
//!     10 ms, whatever the load average
//!     says (it is a global count, sampled, and misses short bursts).
//! - **Wake-up latency**: a sleeping hand-off is only as fast as the
//!   woken side gets a CPU. Every thread that hands off (Sentry threads
//!   at their first switch, the spawner thread and so every stub's
//!   executor and application threads) asks for a 100 µs time slice
//!   (`sched_setattr`'s `sched_runtime`, EEVDF custom slices, Linux ≥
//!   6.12, unprivileged). Its CPU share is unchanged, but its earlier
//!   deadline lets it preempt a CPU hog when woken, instead of waiting
//!   for the hog's slice (1.4 ms here) to end: the ping-pong above goes
//!   from 33 µs to 12 µs.
//! - **A third thread needs a CPU**: serving a page fault, the Sentry
//!   waits for the executor while the handler waits for the Sentry; with
//!   two CPUs both spinning, the executor got a CPU only when the
//!   handler's spin ran out (page fault + map + resume took 55 µs). So
//!   every spinner yields now and then (the Sentry every 2 µs, the stub
//!   code every `SPIN_YIELD_EVERY` pauses), and when the Sentry reports a
//!   page fault it zeroes the slot's `S_SPIN`, which the spinning handler
//!   re-reads and then yields at every turn (7–10 µs since).
//!
//! Each side announces that it is about to sleep in a flag word
//! (`S_SENTRY_SLEEPING`, `S_STUB_SLEEPING`, `X_SLEEPING`) and re-checks
//! the state after a full barrier; the other side wakes it only when the
//! flag is set, so the fast path makes no system call. A flag the
//! application forged can only cost an extra wake or a missed one; the
//! Sentry never relies on it alone (its sleeps have timeouts, and before
//! sleeping on the executor it always wakes it).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::sys;

/// Sentry threads spinning right now, on all platforms of the process.
static SPINNERS: AtomicUsize = AtomicUsize::new(0);

/// How often the host's runnable count is sampled.
const LOAD_EVERY: Duration = Duration::from_millis(2);
/// When it was last sampled (ns since the first sample, plus one; 0:
/// never).
static LOAD_STAMP: AtomicU64 = AtomicU64::new(0);
/// The host's runnable tasks at the last sample.
static RUNNABLE: AtomicUsize = AtomicUsize::new(0);

/// The host's runnable tasks (`/proc/loadavg`'s `running/total`),
/// sampled at most every `LOAD_EVERY` by whichever thread asks first.
fn runnable() -> usize {
    static FILE: OnceLock<Option<File>> = OnceLock::new();
    let now = now_ns();
    let last = LOAD_STAMP.load(Ordering::Relaxed);
    if last != 0 && now - last < LOAD_EVERY.as_nanos() as u64 {
        return RUNNABLE.load(Ordering::Relaxed);
    }
    if LOAD_STAMP
        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
        .is_err()
    {
        return RUNNABLE.load(Ordering::Relaxed);
    }
    let Some(f) = FILE.get_or_init(|| File::open("/proc/loadavg").ok()) else {
        return 0;
    };
    let mut buf = [0u8; 128];
    let n = f.read_at(&mut buf, 0).unwrap_or(0);
    let v = std::str::from_utf8(&buf[..n])
        .ok()
        .and_then(|s| s.split_whitespace().nth(3))
        .and_then(|f| f.split('/').next())
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    RUNNABLE.store(v, Ordering::Relaxed);
    v
}

/// A spinning Sentry thread yields the CPU this often.
const YIELD_EVERY_NS: u64 = 2_000;

/// Yields a waiter makes on a one-CPU host before sleeping (only while
/// the host is not contended).
pub(crate) const ONE_CPU_YIELDS: u32 = 4;

/// A spin iteration or a `sched_yield` that took this long means the
/// spinner lost its CPU to another task for at least a slice: the host
/// is oversubscribed. (Shorter gaps are interrupts, the hypervisor, or a
/// yield that let our own executor or stub thread run, as intended.)
const PREEMPTED_GAP_NS: u64 = 200_000;
/// For how long after such a sign every waiter sleeps at once.
const PREEMPTED_HOLD_NS: u64 = 10_000_000;
/// Until when (on [`now_ns`]'s clock) the host counts as contended
/// because a spinner was preempted (0: never).
static PREEMPTED_UNTIL: AtomicU64 = AtomicU64::new(0);

/// ns since the first call, plus one (never 0).
fn now_ns() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64 + 1
}

/// A spinner saw a gap of `gap` ns: if it was preempted, every waiter
/// stops spinning and yielding for a while.
fn note_gap(gap: u64, now: u64) -> bool {
    if gap < PREEMPTED_GAP_NS {
        return false;
    }
    PREEMPTED_UNTIL.store(now + PREEMPTED_HOLD_NS, Ordering::Relaxed);
    true
}

/// The time slice the threads that hand off ask the scheduler for (see
/// [`sys::set_time_slice`]): short, so that a waiter woken on a busy CPU
/// runs at once rather than after the running task's slice.
pub(crate) const TIME_SLICE: Duration = Duration::from_micros(100);

/// Gives the calling Sentry thread the hand-off time slice, once.
pub(crate) fn short_slice_for_this_thread() {
    thread_local! {
        static DONE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    DONE.with(|d| {
        if !d.replace(true) {
            sys::set_time_slice(TIME_SLICE);
        }
    });
}

/// The hand-off parameters of one platform.
#[derive(Debug)]
pub(crate) struct Tuning {
    /// CPUs the Sentry may run on.
    pub ncpu: usize,
    /// Upper bound of a Sentry spin, in ns (0: never spin).
    pub max_spin_ns: u64,
    /// Lower bound of the adaptive budget, in ns.
    pub min_spin_ns: u64,
    /// `pause` iterations the stub's handler spins for a reply.
    pub stub_spin_iters: u32,
    /// `sched_yield`s the stub's handler makes before sleeping.
    pub stub_yields: u32,
    /// `pause` iterations the executor spins for more work.
    pub exec_spin_iters: u32,
}

impl Tuning {
    /// Tuning for this host: `max_spin` for the Sentry, `stub_spin` for
    /// the stub's handler, `cpus` (or the affinity mask's count).
    pub fn new(max_spin: Duration, stub_spin: Duration, cpus: Option<usize>) -> Tuning {
        let ncpu = cpus.unwrap_or_else(sys::cpus).max(1);
        let pause = pause_ns();
        let iters =
            |d: Duration| ((d.as_nanos() as f64 / pause) as u64).min(u32::MAX as u64) as u32;
        let one = ncpu == 1;
        Tuning {
            ncpu,
            max_spin_ns: if one { 0 } else { max_spin.as_nanos() as u64 },
            min_spin_ns: (max_spin.as_nanos() as u64).min(1000),
            stub_spin_iters: if one { 0 } else { iters(stub_spin) },
            stub_yields: if one { ONE_CPU_YIELDS } else { 0 },
            // Page faults come in bursts: keep the executor awake briefly.
            exec_spin_iters: if one { 0 } else { iters(stub_spin / 2) },
        }
    }

    /// More tasks want to run than there are CPUs, or a spinner was
    /// preempted lately: nobody should spin or yield.
    pub fn contended(&self) -> bool {
        let now = now_ns();
        now < PREEMPTED_UNTIL.load(Ordering::Relaxed) || runnable() > self.ncpu.max(2)
    }

    /// How the stub's handler should wait for the reply being sent now:
    /// `(pause iterations, yields)`. No spinning when spinning Sentry
    /// threads already occupy the other CPUs; neither spinning nor
    /// yielding when the host is contended.
    pub fn stub_wait_now(&self) -> (u32, u32) {
        if self.contended() {
            (0, 0)
        } else if SPINNERS.load(Ordering::Relaxed) + 1 >= self.ncpu {
            (0, self.stub_yields)
        } else {
            (self.stub_spin_iters, self.stub_yields)
        }
    }
}

/// The cost of one `pause`, measured (it ranges from ~10 to ~140 cycles
/// across x86 generations).
fn pause_ns() -> f64 {
    let n = 20_000;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::spin_loop();
    }
    (t.elapsed().as_nanos() as f64 / n as f64).max(1.0)
}

struct Spinning;

impl Drop for Spinning {
    fn drop(&mut self) {
        SPINNERS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Waits up to `budget_ns` for `done()` without sleeping: spins with
/// `pause` when that leaves a CPU for the other side, yields a few times
/// on one CPU, and gives up at once when the host is contended or the
/// spinner finds itself preempted. Returns whether `done()` became true.
pub(crate) fn spin_until(t: &Tuning, budget_ns: u64, mut done: impl FnMut() -> bool) -> bool {
    if done() {
        return true;
    }
    if budget_ns == 0 {
        return false;
    }
    let busy = SPINNERS.fetch_add(1, Ordering::Relaxed);
    let _g = Spinning;
    if t.ncpu <= 1 {
        // Yielding hands the CPU straight to the other side, unless
        // other programs wait for it too: then a yield puts us behind
        // them for a whole slice, and sleeping is better.
        if t.contended() {
            return false;
        }
        for _ in 0..ONE_CPU_YIELDS {
            let t0 = now_ns();
            sys::yield_now();
            let t1 = now_ns();
            if done() {
                return true;
            }
            if note_gap(t1 - t0, t1) {
                return false;
            }
        }
        return false;
    }
    if busy + 1 >= t.ncpu || t.contended() {
        return false;
    }
    let start = now_ns();
    let mut last = start;
    let mut last_yield = start;
    loop {
        for _ in 0..32 {
            if done() {
                return true;
            }
            std::hint::spin_loop();
        }
        let now = now_ns();
        // A long gap between two checks: we were preempted, so the
        // other side may well be waiting for a CPU too. Sleep.
        if note_gap(now - last, now) || now - start >= budget_ns {
            return false;
        }
        last = now;
        // Let a thread woken onto this CPU (the executor, a stub thread)
        // run rather than wait for our spin to end.
        if now - last_yield >= YIELD_EVERY_NS {
            sys::yield_now();
            last = now_ns();
            last_yield = last;
            if note_gap(last - now, last) {
                return done();
            }
        }
    }
}
