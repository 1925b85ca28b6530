//! Time: the host's wall clock, a monotonic clock that starts at zero when
//! the sandbox's clock is made, and per-thread CPU time — read from the
//! TSC with parameters that track the host's clocks, the same parameters
//! the sandbox's vDSO reads.
//!
//! # The timekeeper
//! One per process (every sandbox in it shares it): when the host's clock
//! source is the TSC (`/sys/devices/system/clocksource/clocksource0/
//! current_clocksource`), a thread (`veil-clock`) samples the host's
//! CLOCK_MONOTONIC and CLOCK_REALTIME against the TSC — after 1 ms, 10 ms
//! and 100 ms, then every second — and turns the samples into
//! [`ClockParams`] with [`Calibrator`]: continuous at every update, never
//! back for the monotonic clock, within well under a microsecond of the
//! host's clocks. Reads ([`HostClock::realtime`],
//! [`HostClock::monotonic_ns`], and so every blocker deadline and timer)
//! compute `ns_at(tsc)` under a sequence counter; before the first
//! parameters, or on a host whose clock source is not the TSC, they read
//! the host's clocks directly.
//!
//! Every vDSO parameter page attached ([`Clock::attach_vdso`]) is
//! rewritten inside the same update: all counters turn odd, the TSC
//! instant of the switch is read, the new parameters (continuous at that
//! instant) are written everywhere, the counters turn even. A read on
//! either side — the Sentry's or the application's — either finished
//! before the instant with the old line or starts after it with the new
//! one, so the Sentry's clocks and the vDSO's are one clock and never go
//! back across each other. The first parameters start at a host reading
//! taken inside that window, so the switch from direct host reads to the
//! TSC does not go back either.

use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, OnceLock, Weak};
use std::time::Duration;

use veil_abi::Timespec;
use veil_core::host::{Clock, Nanos};
use veil_core::vdso::{Calibrator, ClockParams, Sample, TimeParams, Vdso};

/// Reads a host clock.
fn host_now(id: libc::clockid_t) -> Timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; the clock ids used here exist on
    // every Linux we run on, and clock_gettime cannot fail otherwise.
    unsafe { libc::clock_gettime(id, &mut ts) };
    Timespec {
        tv_sec: ts.tv_sec,
        tv_nsec: ts.tv_nsec,
    }
}

fn to_nanos(ts: Timespec) -> u64 {
    (ts.tv_sec.max(0) as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec.max(0) as u64)
}

fn from_nanos(ns: u64) -> Timespec {
    Timespec {
        tv_sec: (ns / 1_000_000_000) as i64,
        tv_nsec: (ns % 1_000_000_000) as i64,
    }
}

/// The TSC, read after every earlier instruction completed and before any
/// later one starts (as the vDSO reads it).
fn tsc() -> u64 {
    use std::arch::x86_64::{_mm_lfence, _rdtsc};
    // SAFETY: lfence and rdtsc only order execution and read the time
    // stamp counter (never disabled for the Sentry: nothing here sets
    // PR_SET_TSC); SSE2 is part of x86-64.
    unsafe {
        _mm_lfence();
        let t = _rdtsc();
        _mm_lfence();
        t
    }
}

/// Which of the two calibrated clocks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Which {
    Monotonic,
    Realtime,
}

impl Which {
    fn host_id(self) -> libc::clockid_t {
        match self {
            Which::Monotonic => libc::CLOCK_MONOTONIC,
            Which::Realtime => libc::CLOCK_REALTIME,
        }
    }
}

/// The best of a few readings of host clock `id` between two TSC reads.
fn sample(id: libc::clockid_t) -> Sample {
    let mut best: Option<(u64, Sample)> = None;
    for _ in 0..5 {
        let a = tsc();
        let ns = to_nanos(host_now(id));
        let b = tsc();
        let width = b.saturating_sub(a);
        if best.is_none_or(|(w, _)| width < w) {
            best = Some((
                width,
                Sample {
                    cycles: a + width / 2,
                    ns,
                },
            ));
        }
    }
    best.map(|(_, s)| s).unwrap_or(Sample { cycles: 0, ns: 0 })
}

/// True if the host keeps time with the TSC: only then is the TSC known
/// to be stable and synchronised across CPUs.
fn tsc_is_clocksource() -> bool {
    std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
        .map(|s| s.trim() == "tsc")
        .unwrap_or(false)
}

/// The published parameters: what every read uses.
struct Published {
    /// Odd while an update is in progress.
    seq: AtomicU64,
    /// Non-zero once calibrated.
    ready: AtomicU64,
    /// The monotonic clock's parameters, then the realtime clock's.
    words: [AtomicU64; 8],
}

/// The updater's state, under its mutex.
struct Updater {
    monotonic: Calibrator,
    realtime: Calibrator,
    /// What is published (host monotonic, not sandbox-relative).
    current: Option<TimeParams>,
    /// Attached vDSO pages and the monotonic epoch of their sandbox.
    pages: Vec<(Weak<Vdso>, u64)>,
}

struct Timekeeper {
    published: Published,
    updater: Mutex<Updater>,
}

static TIMEKEEPER: OnceLock<Timekeeper> = OnceLock::new();
static START: Once = Once::new();

/// The process's timekeeper, its thread started on first use.
fn timekeeper() -> &'static Timekeeper {
    let tk = TIMEKEEPER.get_or_init(|| Timekeeper {
        published: Published {
            seq: AtomicU64::new(0),
            ready: AtomicU64::new(0),
            words: Default::default(),
        },
        updater: Mutex::new(Updater {
            monotonic: Calibrator::new(false),
            realtime: Calibrator::new(true),
            current: None,
            pages: Vec::new(),
        }),
    });
    START.call_once(|| {
        if tsc_is_clocksource() {
            // Without the thread nothing is ever calibrated: reads use the
            // host's clocks and the vDSO makes the system calls.
            let _ = std::thread::Builder::new()
                .name("veil-clock".into())
                .stack_size(64 << 10)
                .spawn(move || tk.run());
        }
    });
    tk
}

/// Keeps a sequence counter odd for as long as it lives.
struct OddWhileAlive<'a>(&'a AtomicU64);

impl<'a> OddWhileAlive<'a> {
    fn new(seq: &'a AtomicU64) -> Self {
        seq.fetch_add(1, Ordering::SeqCst);
        OddWhileAlive(seq)
    }
}

impl Drop for OddWhileAlive<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Release);
    }
}

/// The parameters a sandbox's page gets: its monotonic clock starts at
/// `epoch`.
fn for_sandbox(p: &TimeParams, epoch: u64) -> TimeParams {
    TimeParams {
        monotonic: p.monotonic.shifted_back(epoch),
        realtime: p.realtime,
    }
}

impl Timekeeper {
    fn lock(&self) -> MutexGuard<'_, Updater> {
        // The state is consistent between statements: a panic elsewhere
        // cannot leave it half-updated in a way that matters.
        self.updater.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Nanoseconds on host clock `which`, as calibrated.
    fn now(&self, which: Which) -> u64 {
        let p = &self.published;
        let mut spins = 0u32;
        loop {
            let s = p.seq.load(Ordering::Acquire);
            if s & 1 == 0 {
                let v = if p.ready.load(Ordering::Relaxed) != 0 {
                    let at = match which {
                        Which::Monotonic => 0,
                        Which::Realtime => 4,
                    };
                    let w = |i: usize| p.words[at + i].load(Ordering::Relaxed);
                    let params = ClockParams {
                        base_cycles: w(0),
                        base_ns: w(1),
                        base_frac: w(2),
                        mult: w(3),
                    };
                    params.ns_at(tsc())
                } else {
                    to_nanos(host_now(which.host_id()))
                };
                fence(Ordering::Acquire);
                if p.seq.load(Ordering::Relaxed) == s {
                    return v;
                }
            }
            // An update is in progress (a few microseconds, unless its
            // thread was preempted): spin briefly, then let it run.
            spins += 1;
            if spins < 128 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// The timekeeper thread: updates after 1 ms, 10 ms and 100 ms (a
    /// usable rate quickly, refined on longer baselines), then every
    /// second.
    fn run(&self) {
        let mut waits = [1u64, 10, 100].into_iter();
        loop {
            let wait_ms = waits.next().unwrap_or(1000);
            self.update(wait_ms * 1_000_000);
            std::thread::sleep(Duration::from_millis(wait_ms));
        }
    }

    /// Takes new samples and publishes the parameters that follow from
    /// them, to the readers here and to every attached page at once.
    /// `interval_ns`: time until the next update.
    fn update(&self, interval_ns: u64) {
        let mut up = self.lock();
        let sm = sample(libc::CLOCK_MONOTONIC);
        let sr = sample(libc::CLOCK_REALTIME);
        up.monotonic.add(sm);
        up.realtime.add(sr);
        up.pages.retain(|(w, _)| w.strong_count() > 0);
        let pages: Vec<(Arc<Vdso>, u64)> = up
            .pages
            .iter()
            .filter_map(|(w, e)| Some((w.upgrade()?, *e)))
            .collect();

        // Everybody's counter odd, then the instant of the switch. The
        // guard turns ours even again however this ends.
        let p = &self.published;
        let _odd = OddWhileAlive::new(&p.seq);
        let writes: Vec<_> = pages.iter().map(|(v, e)| (v.begin_update(), *e)).collect();
        fence(Ordering::SeqCst);
        let first = up.current.is_none();
        let (ref_mono, ref_real) = if first {
            (
                to_nanos(host_now(libc::CLOCK_MONOTONIC)),
                to_nanos(host_now(libc::CLOCK_REALTIME)),
            )
        } else {
            (0, 0)
        };
        let now = tsc();
        let next = match up.current {
            None => up
                .monotonic
                .next(None, now, ref_mono, interval_ns)
                .zip(up.realtime.next(None, now, ref_real, interval_ns))
                .map(|(monotonic, realtime)| TimeParams {
                    monotonic,
                    realtime,
                }),
            Some(cur) => Some(TimeParams {
                monotonic: up
                    .monotonic
                    .next(Some(&cur.monotonic), now, 0, interval_ns)
                    .unwrap_or(cur.monotonic),
                realtime: up
                    .realtime
                    .next(Some(&cur.realtime), now, 0, interval_ns)
                    .unwrap_or(cur.realtime),
            }),
        };
        if let Some(t) = next {
            for (i, c) in [t.monotonic, t.realtime].iter().enumerate() {
                let words = [c.base_cycles, c.base_ns, c.base_frac, c.mult];
                for (j, w) in words.iter().enumerate() {
                    p.words[4 * i + j].store(*w, Ordering::Relaxed);
                }
            }
            p.ready.store(1, Ordering::Relaxed);
            up.current = Some(t);
        }
        for (w, epoch) in writes {
            w.finish(up.current.map(|t| for_sandbox(&t, epoch)).as_ref());
        }
    }

    /// Starts keeping `vdso`'s page current for a sandbox whose monotonic
    /// clock starts at `epoch`.
    fn attach(&self, vdso: &Arc<Vdso>, epoch: u64) {
        let mut up = self.lock();
        up.pages.push((Arc::downgrade(vdso), epoch));
        // The parameters do not change here: the page only learns them.
        vdso.publish(up.current.map(|t| for_sandbox(&t, epoch)).as_ref());
    }
}

/// The host's clocks as the sandbox sees them.
///
/// `monotonic` counts from the moment the clock was made (the host's
/// CLOCK_MONOTONIC minus that epoch), so the sandbox's uptime starts at
/// zero; `realtime` is the host's CLOCK_REALTIME; both are read through
/// the calibrated TSC (see the module doc). `thread_cpu` is the calling
/// host thread's CLOCK_THREAD_CPUTIME_ID. Copies share the epoch.
#[derive(Clone, Copy, Debug)]
pub struct HostClock {
    /// The calibrated host CLOCK_MONOTONIC at creation, ns.
    epoch: u64,
}

impl HostClock {
    /// A clock whose monotonic time starts now.
    pub fn new() -> HostClock {
        HostClock {
            epoch: Self::host_monotonic_ns(),
        }
    }

    /// The host's CLOCK_MONOTONIC as calibrated, ns.
    pub fn host_monotonic_ns() -> u64 {
        timekeeper().now(Which::Monotonic)
    }

    /// Sandbox monotonic time in ns: the unit of [`veil_core::host::Blocker`]
    /// deadlines.
    pub fn monotonic_ns(&self) -> Nanos {
        Self::host_monotonic_ns().saturating_sub(self.epoch)
    }
}

impl AsRef<HostClock> for HostClock {
    fn as_ref(&self) -> &HostClock {
        self
    }
}

impl Default for HostClock {
    fn default() -> Self {
        HostClock::new()
    }
}

impl Clock for HostClock {
    fn realtime(&self) -> Timespec {
        from_nanos(timekeeper().now(Which::Realtime))
    }

    fn monotonic(&self) -> Timespec {
        from_nanos(self.monotonic_ns())
    }

    fn thread_cpu(&self) -> Timespec {
        host_now(libc::CLOCK_THREAD_CPUTIME_ID)
    }

    fn attach_vdso(&self, vdso: &Arc<Vdso>) {
        timekeeper().attach(vdso, self.epoch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Instant, SystemTime, UNIX_EPOCH};
    use veil_core::mm::PageAllocator;

    /// Waits (up to 2 s) for the first calibration, if this host has one.
    fn calibrated() -> bool {
        if !tsc_is_clocksource() {
            return false;
        }
        let start = Instant::now();
        while timekeeper().published.ready.load(Ordering::Acquire) == 0 {
            assert!(start.elapsed() < Duration::from_secs(2), "never calibrated");
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    #[test]
    fn monotonic_starts_near_zero_and_advances() {
        let c = HostClock::new();
        let a = c.monotonic_ns();
        assert!(a < 1_000_000_000, "{a}");
        std::thread::sleep(Duration::from_millis(20));
        let b = c.monotonic();
        assert!(to_nanos(b) >= a + 20_000_000);
        assert!(b.tv_nsec >= 0 && b.tv_nsec < 1_000_000_000);
        // Copies share the epoch.
        let d = c;
        assert!(d.monotonic_ns() >= to_nanos(b));
    }

    #[test]
    fn realtime_matches_system_time() {
        let c = HostClock::new();
        let ours = c.realtime().tv_sec;
        let std = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!((ours - std).abs() <= 1);
    }

    #[test]
    fn calibrated_clocks_track_the_host_and_never_go_back() {
        let _ = HostClock::new();
        if !calibrated() {
            return;
        }
        // Across the early updates (1, 10, 100 ms) and a later one, the
        // calibrated clocks stay within 50 us of the host's and never go
        // back.
        let tk = timekeeper();
        let end = Instant::now() + Duration::from_millis(1300);
        let (mut last_m, mut last_r) = (0u64, 0u64);
        let mut worst = 0u64;
        while Instant::now() < end {
            let host_before = to_nanos(host_now(libc::CLOCK_MONOTONIC));
            let m = tk.now(Which::Monotonic);
            let host_after = to_nanos(host_now(libc::CLOCK_MONOTONIC));
            assert!(m >= last_m, "monotonic went back: {last_m} -> {m}");
            last_m = m;
            let off = if m < host_before {
                host_before - m
            } else {
                m.saturating_sub(host_after)
            };
            worst = worst.max(off);
            let r = tk.now(Which::Realtime);
            assert!(r >= last_r, "realtime went back: {last_r} -> {r}");
            last_r = r;
        }
        assert!(worst < 50_000, "calibrated clock {worst} ns off the host's");
    }

    #[test]
    fn attached_pages_follow_the_clock() {
        let c = HostClock::new();
        let mf = Arc::new(crate::HostMemoryFile::new().unwrap());
        let pages = Arc::new(PageAllocator::new(mf));
        let v = Arc::new(Vdso::new(pages).unwrap());
        c.attach_vdso(&v);
        if !calibrated() {
            assert_eq!(v.page().unwrap().ready, 0);
            return;
        }
        // The page's parameters give what the Sentry reads (sandbox
        // monotonic time from the same TSC), and they are kept current.
        let (p, before, mine, after) = loop {
            let p = v.page().unwrap();
            let before = c.monotonic_ns();
            let mine = p.monotonic.ns_at(tsc());
            let after = c.monotonic_ns();
            if p.seq.is_multiple_of(2) && v.page().unwrap().seq == p.seq {
                break (p, before, mine, after);
            }
        };
        let seq = p.seq;
        assert_eq!(p.ready, 1);
        assert!(before <= mine && mine <= after, "{before} {mine} {after}");
        let real = p.realtime.ns_at(tsc());
        assert!(real.abs_diff(to_nanos(c.realtime())) < 1_000_000);
        let start = Instant::now();
        while v.page().unwrap().seq == seq {
            assert!(
                start.elapsed() < Duration::from_secs(3),
                "page never updated"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // A dropped vDSO is forgotten at the next update.
        let w = Arc::downgrade(&v);
        drop(v);
        assert!(w.upgrade().is_none());
    }

    #[test]
    fn thread_cpu_counts_work() {
        let c = HostClock::new();
        let a = to_nanos(c.thread_cpu());
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let b = to_nanos(c.thread_cpu());
        assert!(b > a);
        // A sleep is not CPU time.
        std::thread::sleep(Duration::from_millis(30));
        let d = to_nanos(c.thread_cpu());
        assert!(d - b < 20_000_000, "{}", d - b);
    }
}
