//! veil-platform-systrap: application code in stub processes under a
//! seccomp filter that turns every application system call into a
//! signal, handed to the Sentry through shared memory.
//!
//! # Why
//!
//! The ptrace platform pays two context switches and four ptrace calls
//! per trap: ~6 µs per getpid with tracer and stub pinned to one CPU,
//! 60–100 µs when they land on different CPUs (waking an idle vCPU costs
//! 20–25 µs on the 2-vCPU test machine; ../shared/LIMITS.md). Systrap
//! keeps the kernel out of the hand-off: the application's own thread
//! takes the trap as a signal (seccomp `RET_TRAP`, SIGSYS delivery and
//! `rt_sigreturn`: 1.4–1.7 µs measured in-process on the test machine,
//! of which ~1.0 µs is the delivery and ~0.45 µs the `rt_sigreturn`;
//! LIMITS.md has 2.3 µs), and the registers go to the Sentry through
//! memory both processes map, with a spin-then-futex wait on each side
//! (~0.1 µs when both sides spin, plus the cache lines of the signal
//! frame that cross CPUs).
//!
//! Measured with `examples/systrap_bench.rs` on the 2-vCPU test machine
//! (Linux 6.18), systrap and ptrace in the same runs:
//!
//! | | systrap | ptrace, pinned (its default) | ptrace, not pinned |
//! |---|---|---|---|
//! | getpid round trip, 2 CPUs, quiet | 2.0–3.0 µs | 5.7–6.9 µs | 60–115 µs |
//! | same, another program saturating one CPU | 3.6–4.8 µs | 4.4 µs | |
//! | getpid round trip, 1 CPU (`taskset -c 0`) | 4.0–5.9 µs | 4.4–6.8 µs | 6.8 µs |
//! | page fault + `map` + resume, quiet | 7–10 µs | 24–100 µs | |
//! | same, one CPU saturated by another program | 12–18 µs | 13–14 µs | |
//! | same, 1 CPU | 17–21 µs | 14 µs | |
//! | `map` alone (one executor command), quiet | 2.2–3.1 µs | | |
//! | new address space + first switch + drop | 0.3–0.9 ms | | |
//!
//! So on a quiet machine systrap is 2.2–3.1× faster than pinned ptrace
//! and 20–40× faster than unpinned ptrace, but not the 4× issue 5 asks
//! for: 4× would be ~1.5 µs, what the signal delivery and `rt_sigreturn`
//! alone cost on this machine, before any hand-off. The Sentry spends
//! ~0.7 µs per trap (mostly cache misses on the frame the stub's CPU just
//! wrote). Getting below the signal floor needs the signal to go: see
//! Limitations. When the host is busy, nobody spins (see `handoff.rs`)
//! and both platforms cost about two sleeping hand-offs.
//!
//! # How
//!
//! - an **address space** is a stub process ([`SystrapAddressSpace`]):
//!   forked from the Sentry, stripped to one region at the top of the
//!   address space (code, a read-only control page, per-thread slots; see
//!   `layout.rs`), under a seccomp filter that traps every system call
//!   made outside the stub's code page (`filter.rs`);
//! - the stub's first thread is an **executor** that never runs
//!   application code: it maps, unmaps and protects ranges of the memory
//!   file and clones application threads on the Sentry's request, read
//!   from the control page that the stub cannot write (`space.rs`);
//! - a **context** ([`SystrapContext`]) owns one application thread in the
//!   stub. The thread runs under a second filter that, from the stub's
//!   own instructions, allows only what the signal handler needs. Every
//!   trap (system call, fault, exception, interrupt) enters the stub's
//!   handler (hand-written machine code, `stub_code.rs`) on the thread's
//!   alternate stack; the kernel's signal frame there holds the whole
//!   register and XSAVE state, and the Sentry reads and patches it in
//!   place; the handler resumes the application with `rt_sigreturn`
//!   (`context.rs`);
//! - both sides wait for each other by spinning briefly and then
//!   sleeping on a futex in the shared page, adapted to the number of
//!   CPUs and to how long the other side usually takes (`handoff.rs`); an
//!   idle sandbox sleeps in the kernel on both sides;
//! - the **memory file** is the [`veil_host::HostMemoryFile`] memfd,
//!   mapped in full in the Sentry and, range by range, in each stub.
//!
//! # Threads
//!
//! Nothing here is bound to a host thread. Any thread may make an address
//! space, switch any context (one switch at a time per context), and
//! map, unmap or protect any address space at any time, even while its
//! application threads run; the change is in force for all of them when
//! the call returns. Each context gets its own stub thread in each
//! address space it switches into, so several contexts (the threads of
//! one application process) can run in one address space at once, up to
//! 256 per stub. Stubs are forked by one spawner thread and die with the
//! Sentry (`PR_SET_PDEATHSIG`) or when their address space is dropped
//! (killed and reaped, from any thread).
//!
//! # Security
//!
//! The application can read and write everything the stub can (they are
//! one process), including its slots and the handler's signal frames,
//! and can jump anywhere in the stub code with registers of its choosing.
//! What it cannot do:
//!
//! - make a host system call from its own code: the filter traps it;
//! - make a host system call from the stub's code, other than `futex`
//!   wait/wake, `rt_sigreturn`, `sched_yield`, `exit` (of its thread) and
//!   `arch_prctl` of its own fs/gs base: its threads' filter traps
//!   everything else, so jumping to the executor's `mmap` or `clone`
//!   instruction is just another trapped system call;
//! - change what the executor does: its commands are in the control
//!   page, mapped read-only in the stub, the executor validates every
//!   range and slot again, and the base filter pins the arguments of its
//!   calls (the memory file's descriptor, `MAP_SHARED | MAP_FIXED`, the
//!   thread `clone` flags, the eventfd);
//! - make the Sentry believe a batch of commands finished before it did,
//!   or succeeded when it did not (an `munmap` that left pages mapped
//!   that core then reuses for another process): completion and success
//!   are proven by an eventfd only the executor may write, and a failed
//!   `munmap` or `mprotect` kills the stub;
//! - leave its memory on the host: stubs never dump core
//!   (`RLIMIT_CORE` 0);
//! - hang or crash the Sentry: everything read from the shared pages is
//!   checked before use (frame pointers must lie in the thread's own
//!   alternate stack, FP images are sanitised, registers are sanitised
//!   as `rt_sigreturn` needs), a stub that breaks its own handler is
//!   killed (`PlatformError::Lost`), and every Sentry sleep is bounded
//!   and notices a dead stub.
//!
//! What it can do is hurt itself: corrupt its own threads' saved state,
//! kill its stub, or block SIGSYS with a forged `rt_sigreturn` frame,
//! which makes the next trap fatal to the stub. The stub's code and
//! shared pages lie above [`Platform::max_user_address`], so core's mm
//! never maps over them and treats them as foreign; they do show in the
//! stub's host `/proc/<pid>/maps` (not in the sandbox's `/proc`, which
//! core serves).
//!
//! # What the host must allow
//!
//! Linux ≥ 5.13 on x86-64 (`close_range`, pidfds, `SECCOMP_RET_TRAP`
//! with `si_call_addr`), unprivileged seccomp, and glibc's
//! `__rseq_offset` (glibc ≥ 2.35) if glibc registers rseq. A seccomp
//! filter the Sentry installs before making address spaces is inherited
//! by stubs; it must allow the calls the stub makes: `setsid`, `prctl`,
//! `getppid`, `prlimit64`, `rseq`, `mmap`, `mprotect`, `munmap`, `close_range`,
//! `rt_sigaction`, `rt_sigprocmask`, `sigaltstack`, `seccomp`, `write`,
//! `futex`, `clone`, `exit`, `exit_group`, `sched_yield`, `arch_prctl`,
//! `rt_sigreturn`; and in the Sentry `clone`, `pidfd_open`,
//! `pidfd_send_signal`, `tgkill`, `wait4`, `memfd_create`, `eventfd2`,
//! `poll`, `sched_getattr`/`sched_setattr` (best effort: the hand-off
//! threads' time slice), and reading `/proc/loadavg` (`pread64`). The Sentry must never `waitpid(-1, ...)` (it could reap a
//! stub).
//!
//! # Limitations
//!
//! - Every trap pays the kernel's signal delivery and `rt_sigreturn`
//!   (~1.5 µs here). gVisor removes that on x86-64 by rewriting
//!   `mov $nr, %eax; syscall` sites into jumps through a table at a low
//!   address to a trampoline that hands off without a signal. That needs
//!   core to let the platform write application code pages with
//!   copy-on-write semantics (a patched page must never be a shared
//!   page-cache page another process reads) and to keep a low address
//!   range free for the table; the platform contract offers neither yet.
//!   Returning to the application without `rt_sigreturn` (restoring the
//!   state in user space with `xrstor` and `iretq`) would save ~0.45 µs
//!   more, at the price of handling signals that arrive mid-restore.
//! - On one CPU (or a saturated host) every hand-off is a context switch
//!   (the waiter sleeps at once), and systrap costs about what ptrace
//!   does; a page fault is then slower than on ptrace, because the
//!   executor is a third thread to switch to. Fork-heavy programs pay
//!   that per fault (a python fork is ~300 of them): a stub zygote would
//!   only save the stub fork (0.4–0.7 ms idle), not this.
//! - 256 application threads per address space (the slot count).
//! - The host CPU count is read once, from the Sentry's affinity mask,
//!   when the platform is made.
//!
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod context;
mod filter;
mod fpu;
mod handoff;
mod layout;
mod space;
mod spawn;
mod stub_code;
mod sys;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use veil_core::platform::{AddressSpace, Context, MemoryFile, Platform, PlatformError};
use veil_host::HostMemoryFile;

pub use context::SystrapContext;
pub use space::{SpaceOp, SystrapAddressSpace};

use handoff::Tuning;
use space::{Registry, SpaceInner};

/// Tuning for the systrap platform.
#[derive(Clone, Copy, Debug)]
pub struct SystrapOptions {
    /// The longest the Sentry spins waiting for a trap before it sleeps
    /// (the budget adapts below this). Default 50 µs: about what a
    /// sleeping futex hand-off across CPUs costs on the test machine.
    /// Zero: always sleep.
    pub max_spin: Duration,
    /// How long the stub's handler spins waiting for the Sentry's reply
    /// before it sleeps. Default 20 µs. Zero: always sleep.
    pub stub_spin: Duration,
    /// The number of CPUs to plan for (`None`: the Sentry's affinity
    /// mask). With one CPU nobody spins; waiters yield, then sleep.
    pub cpus: Option<usize>,
}

impl Default for SystrapOptions {
    fn default() -> Self {
        SystrapOptions {
            max_spin: Duration::from_micros(50),
            stub_spin: Duration::from_micros(20),
            cpus: None,
        }
    }
}

/// The systrap platform. See the crate docs for the design and the
/// measured costs.
pub struct SystrapPlatform {
    mf: Arc<HostMemoryFile>,
    region: u64,
    registry: Arc<Registry>,
    tuning: Arc<Tuning>,
    opts: SystrapOptions,
}

impl SystrapPlatform {
    /// A platform with its own memory file ([`HostMemoryFile::new`], which
    /// can grow to [`veil_host::DEFAULT_RESERVE`]) and default options.
    pub fn new() -> io::Result<SystrapPlatform> {
        let mf = Arc::new(HostMemoryFile::new()?);
        SystrapPlatform::with_memory_file(mf, SystrapOptions::default())
    }

    /// A platform over memory file `mf`. Reserves the stub region in the
    /// Sentry (once per process) and measures `pause`; no stub is made
    /// yet.
    pub fn with_memory_file(
        mf: Arc<HostMemoryFile>,
        opts: SystrapOptions,
    ) -> io::Result<SystrapPlatform> {
        // Before any stub is forked, so stubs inherit it.
        veil_host::membarrier::register_expedited();
        let region = spawn::region()?;
        let tuning = Arc::new(Tuning::new(opts.max_spin, opts.stub_spin, opts.cpus));
        Ok(SystrapPlatform {
            mf,
            region,
            registry: Arc::default(),
            tuning,
            opts,
        })
    }

    /// Checks that this host lets us make stubs: makes one and drops it.
    /// Gives the host's error, for a clear message at startup.
    pub fn probe(&self) -> io::Result<()> {
        self.new_systrap_address_space().map(drop)
    }

    /// [`Platform::new_address_space`] with its concrete type and the
    /// host's error.
    pub fn new_systrap_address_space(&self) -> io::Result<Arc<SystrapAddressSpace>> {
        let inner = SpaceInner::spawn(self.mf.fd(), self.region, self.tuning.clone())?;
        Ok(SystrapAddressSpace::register(inner, self.registry.clone()))
    }

    /// [`Platform::new_context`] with its concrete type.
    pub fn new_systrap_context(&self) -> SystrapContext {
        SystrapContext::new(self.registry.clone(), self.tuning.clone())
    }

    /// Where the stub region starts, in every stub (and
    /// [`Platform::max_user_address`]).
    pub fn stub_address(&self) -> u64 {
        self.region
    }

    /// The addresses (in every stub) of the `syscall` instructions of the
    /// stub code, for tests that jump into them.
    pub fn stub_syscall_sites(&self) -> Vec<u64> {
        let code = stub_code::stub_code();
        code.syscall_sites()
            .iter()
            .map(|o| self.region + layout::CODE_OFF + o)
            .collect()
    }

    /// The address (in every stub) of the stub's `rt_sigreturn` sequence.
    pub fn stub_sigreturn_address(&self) -> u64 {
        self.region + layout::CODE_OFF + stub_code::stub_code().restorer
    }

    /// The memory file.
    pub fn host_memory_file(&self) -> &Arc<HostMemoryFile> {
        &self.mf
    }

    /// How many address spaces (stub processes) are alive.
    pub fn live_address_spaces(&self) -> usize {
        self.registry.len()
    }

    /// The options the platform was made with.
    pub fn options(&self) -> SystrapOptions {
        self.opts
    }
}

impl std::fmt::Debug for SystrapPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystrapPlatform")
            .field("region", &format_args!("{:#x}", self.region))
            .field("tuning", &self.tuning)
            .finish()
    }
}

impl Platform for SystrapPlatform {
    fn name(&self) -> &'static str {
        "systrap"
    }

    fn new_address_space(&self) -> Result<Arc<dyn AddressSpace>, PlatformError> {
        match self.new_systrap_address_space() {
            Ok(s) => Ok(s),
            Err(e) => Err(platform_error(&e)),
        }
    }

    fn new_context(&self) -> Result<Box<dyn Context>, PlatformError> {
        Ok(Box::new(self.new_systrap_context()))
    }

    fn memory_file(&self) -> Arc<dyn MemoryFile> {
        self.mf.clone()
    }

    fn max_user_address(&self) -> u64 {
        self.region
    }

    fn have_memory_barrier(&self) -> bool {
        veil_host::membarrier::have_global()
    }

    fn memory_barrier(&self) -> bool {
        veil_host::membarrier::global()
    }
}

fn platform_error(e: &io::Error) -> PlatformError {
    match e.raw_os_error() {
        Some(libc::ENOMEM) | Some(libc::EAGAIN) => PlatformError::NoMemory,
        _ => PlatformError::Lost,
    }
}
