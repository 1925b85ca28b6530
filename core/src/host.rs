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
    /// Keeps the parameter page of `vdso` current from now on, so that the
    /// vDSO computes exactly the realtime and monotonic times this clock
    /// reports (see [`crate::vdso`]); the clock holds it weakly. The
    /// default leaves the page "not ready": the vDSO then makes the system
    /// calls.
    fn attach_vdso(&self, vdso: &alloc::sync::Arc<crate::vdso::Vdso>) {
        let _ = vdso;
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

/// Identifies a timer armed with [`TimerService::arm`].
pub type TimerId = u64;

/// What a timer runs when it expires.
pub type TimerCallback = alloc::boxed::Box<dyn FnOnce() + Send>;

/// One-shot timers on the sandbox's monotonic clock. Core cannot make
/// threads or sleep by itself, so the embedder runs its timers: alarm,
/// setitimer, POSIX timers and timerfds all arm one of these and do their
/// work (queue a signal, wake a wait queue, arm again) in the callback.
///
/// The contract:
/// - `arm(deadline, f)` calls `f` once, on a thread of the service, as
///   soon as the monotonic clock (the unit of [`Blocker`] deadlines)
///   reaches `deadline`; a deadline already past fires as soon as it can.
/// - Callbacks run one at a time and never while the service holds a lock
///   that `arm` or `cancel` take: a callback may arm and cancel timers.
///   They must not block (core's only take short spin locks).
/// - `cancel(id)` forgets a timer that has not fired. A callback already
///   taken off the queue may still run once; core tells such stale calls
///   apart itself (every arm carries a generation number).
/// - Nothing may run while no timer is due: an idle sandbox with no
///   timers armed costs no CPU.
pub trait TimerService: Send + Sync {
    /// Runs `f` once at monotonic `deadline` (nanoseconds).
    fn arm(&self, deadline: Nanos, f: TimerCallback) -> TimerId;
    /// Forgets timer `id` if it has not fired yet.
    fn cancel(&self, id: TimerId);
}
