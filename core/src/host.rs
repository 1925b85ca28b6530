//! Services the embedder supplies: time, randomness, a way to sleep, and a
//! place for log lines. Core makes no host calls of its own; everything it
//! needs from outside comes through these traits.

use veil_abi::Timespec;

/// Nanoseconds since some epoch.
pub type Nanos = u64;

/// Time sources.
pub trait Clock: Send + Sync {
    /// Wall-clock time (CLOCK_REALTIME).
    fn realtime(&self) -> Timespec;
    /// Monotonic time since the sandbox started (CLOCK_MONOTONIC).
    fn monotonic(&self) -> Timespec;
    /// CPU time used by the calling host thread, if the host can tell.
    fn thread_cpu(&self) -> Timespec {
        self.monotonic()
    }
}

/// Randomness for getrandom, AT_RANDOM and /dev/urandom.
pub trait Random: Send + Sync {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);
}

/// Why a [`Blocker::block`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakeReason {
    /// [`Blocker::wake`] was called.
    Woken,
    /// The deadline passed.
    TimedOut,
    /// The task was interrupted (a signal is pending for it).
    Interrupted,
}

/// How one task sleeps and is woken. One blocker exists per task.
pub trait Blocker: Send + Sync {
    /// Sleeps until woken, interrupted, or `deadline` (monotonic
    /// nanoseconds) passes. A wake that came before the call is not lost.
    fn block(&self, deadline: Option<Nanos>) -> WakeReason;
    /// Ends the current or next `block` with `Woken`.
    fn wake(&self);
    /// Ends the current or next `block` with `Interrupted`.
    fn interrupt(&self);
}

/// Where core's diagnostics go (strace lines, unimplemented-syscall notes).
pub trait Logger: Send + Sync {
    /// Writes one line (without the newline).
    fn line(&self, s: &str);
}

/// Host process identity shown to the application as the sandbox's.
#[derive(Clone, Debug)]
pub struct Identity {
    /// uname nodename.
    pub hostname: alloc::string::String,
    /// uname release.
    pub release: alloc::string::String,
    /// uname version.
    pub version: alloc::string::String,
    /// Memory reported by sysinfo and /proc/meminfo, bytes.
    pub total_memory: u64,
    /// CPUs reported.
    pub cpus: u32,
}

/// Starts host threads for new tasks. Core cannot make threads itself; a
/// fork hands the embedder a closure that runs the child's task loop, and
/// the embedder runs it on a new host thread (ptrace needs the thread that
/// creates an address space to be the one that switches into it).
pub trait Spawner: Send + Sync {
    /// Runs `f` on a new host thread. `Err` if no thread could be made.
    fn spawn(&self, f: alloc::boxed::Box<dyn FnOnce() + Send>) -> Result<(), veil_abi::Errno>;
    /// A blocker for a new task.
    fn new_blocker(&self) -> alloc::sync::Arc<dyn Blocker>;
}
