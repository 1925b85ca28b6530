//! Time: the host's wall clock, a monotonic clock that starts at zero when
//! the sandbox's clock is made, and per-thread CPU time.

use veil_abi::Timespec;
use veil_core::host::{Clock, Nanos};

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
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

fn from_nanos(ns: u64) -> Timespec {
    Timespec {
        tv_sec: (ns / 1_000_000_000) as i64,
        tv_nsec: (ns % 1_000_000_000) as i64,
    }
}

/// The host's clocks as the sandbox sees them.
///
/// `monotonic` counts from the moment the clock was made (host
/// CLOCK_MONOTONIC minus that epoch), so the sandbox's uptime starts at
/// zero; `realtime` is the host's CLOCK_REALTIME; `thread_cpu` is the
/// calling host thread's CLOCK_THREAD_CPUTIME_ID. Copies share the epoch.
#[derive(Clone, Copy, Debug)]
pub struct HostClock {
    /// Host CLOCK_MONOTONIC at creation, ns.
    epoch: u64,
}

impl HostClock {
    /// A clock whose monotonic time starts now.
    pub fn new() -> HostClock {
        HostClock {
            epoch: Self::host_monotonic_ns(),
        }
    }

    /// The host's own CLOCK_MONOTONIC, ns.
    pub fn host_monotonic_ns() -> u64 {
        to_nanos(host_now(libc::CLOCK_MONOTONIC))
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
        host_now(libc::CLOCK_REALTIME)
    }

    fn monotonic(&self) -> Timespec {
        from_nanos(self.monotonic_ns())
    }

    fn thread_cpu(&self) -> Timespec {
        host_now(libc::CLOCK_THREAD_CPUTIME_ID)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
