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
//!   (handing the CPU straight to the other side) before sleeping.
//! - **More spinners than CPUs**: a Sentry thread spins only while fewer
//!   than `ncpu - 1` others do (a global count), so that spinning never
//!   takes the last CPU from the side it waits for; it yields instead.
//!   The same count, at reply time, turns the stub's spin off.
//! - **More runnable tasks than CPUs** (other sandboxes, other programs
//!   on the host): spinning then only steals time from the side being
//!   waited for. Measured with another program saturating one of the two
//!   CPUs: 6.5 µs per getpid spinning, 4.3 µs sleeping. So the host's
//!   current runnable count (the 4th field of `/proc/loadavg`, read at
//!   most every 2 ms, ~0.7 µs a read) gates all spinning: above the CPU
//!   count, waiters yield twice and then sleep.
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
    static BASE: OnceLock<Instant> = OnceLock::new();
    static FILE: OnceLock<Option<File>> = OnceLock::new();
    let now = BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64 + 1;
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

/// Yields a waiter makes on a one-CPU host before sleeping.
pub(crate) const ONE_CPU_YIELDS: u32 = 4;
/// Yields a waiter makes on a contended host before sleeping.
const CONTENDED_YIELDS: u32 = 2;

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

    /// More tasks want to run than there are CPUs: nobody should spin.
    pub fn contended(&self) -> bool {
        self.ncpu > 1 && runnable() > self.ncpu
    }

    /// How the stub's handler should wait for the reply being sent now:
    /// `(pause iterations, yields)`. No spinning when spinning Sentry
    /// threads already occupy the other CPUs or the host is contended.
    pub fn stub_wait_now(&self) -> (u32, u32) {
        if self.contended() {
            (0, CONTENDED_YIELDS)
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
/// `pause` when that leaves a CPU for the other side, otherwise yields a
/// few times. Returns whether `done()` became true.
pub(crate) fn spin_until(t: &Tuning, budget_ns: u64, mut done: impl FnMut() -> bool) -> bool {
    if done() {
        return true;
    }
    let busy = SPINNERS.fetch_add(1, Ordering::Relaxed);
    let _g = Spinning;
    if t.ncpu <= 1 || busy + 1 >= t.ncpu || budget_ns == 0 || t.contended() {
        let n = if t.ncpu <= 1 {
            ONE_CPU_YIELDS
        } else if budget_ns == 0 {
            0
        } else {
            CONTENDED_YIELDS
        };
        for _ in 0..n {
            sys::yield_now();
            if done() {
                return true;
            }
        }
        return false;
    }
    let start = Instant::now();
    let mut last_yield = 0;
    loop {
        for _ in 0..32 {
            if done() {
                return true;
            }
            std::hint::spin_loop();
        }
        let now = start.elapsed().as_nanos() as u64;
        if now >= budget_ns {
            return false;
        }
        // Let a thread woken onto this CPU (the executor, a stub thread)
        // run rather than wait for our spin to end.
        if now - last_yield >= YIELD_EVERY_NS {
            sys::yield_now();
            last_yield = now;
        }
    }
}
