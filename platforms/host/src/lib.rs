//! veil-host: host-side services shared by the platforms.
//!
//! Everything here is a Linux implementation of a trait that `veil-core`
//! defines and cannot implement itself (core makes no host calls):
//!
//! - [`HostMemoryFile`]: the memory file that holds all application memory,
//!   a memfd that the Sentry keeps mapped in full
//!   ([`veil_core::platform::MemoryFile`]);
//! - [`HostClock`]: CLOCK_REALTIME, a monotonic clock that starts at zero
//!   when the clock is made, and per-thread CPU time
//!   ([`veil_core::host::Clock`]);
//! - [`HostRandom`]: getrandom(2) ([`veil_core::host::Random`]);
//! - [`ThreadBlocker`]: how a task's host thread sleeps, with wakes that are
//!   never lost, interruption and monotonic deadlines
//!   ([`veil_core::host::Blocker`]);
//! - [`StderrLogger`]: one write(2) per line to the host's stderr
//!   ([`veil_core::host::Logger`]);
//! - [`HostTimers`]: one thread per sandbox that sleeps until the earliest
//!   armed deadline and runs the timer callbacks
//!   ([`veil_core::host::TimerService`]);
//! - [`getuid`], [`getgid`], [`getgroups`], [`fd_access_mode`]: the host
//!   identity and descriptors a sandbox starts from;
//! - [`membarrier`]: the host barrier behind membarrier(2)
//!   ([`veil_core::platform::Platform::memory_barrier`]);
//! - [`fpu`]: the XSAVE-format FP state images both platforms build;
//! - [`RangeSet`]: disjoint, coalesced address ranges (what a stub maps);
//! - [`x86`]: the x86-64 selector, base and signal conventions both
//!   platforms apply when they load registers and decode traps.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod blocker;
mod clock;
#[cfg(feature = "test-support")]
#[doc(hidden)]
pub mod conformance;
pub mod fpu;
mod ident;
mod logger;
pub mod membarrier;
mod memfile;
mod random;
mod rangeset;
#[cfg(feature = "test-support")]
#[doc(hidden)]
pub mod testing;
mod timers;
pub mod x86;

pub use blocker::ThreadBlocker;
pub use clock::HostClock;
pub use ident::{cpumask_bytes, fd_access_mode, getgid, getgroups, getuid, nice, umask};
pub use logger::StderrLogger;
pub use memfile::{HostMemoryFile, DEFAULT_RESERVE};
pub use random::HostRandom;
pub use rangeset::RangeSet;
pub use timers::HostTimers;

/// The last OS error as an `std::io::Error`.
pub(crate) fn last_os_error() -> std::io::Error {
    std::io::Error::last_os_error()
}
