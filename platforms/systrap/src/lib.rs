//! veil-platform-systrap: application code in stub processes under a
//! seccomp filter that turns every application system call into a
//! signal, handed to the Sentry through shared memory.
//!
//! # Why
//!
//! The ptrace platform pays two context switches and four ptrace calls
//! per trap: ~6 µs per getpid with tracer and stub pinned to one CPU,
//! 50–100 µs when they land on different CPUs (waking an idle vCPU costs
//! 20–25 µs on the 2-vCPU test machine; ../shared/LIMITS.md). Systrap
//! keeps the kernel out of the hand-off: the application's own thread
//! takes the trap as a signal (seccomp `RET_TRAP` + SIGSYS delivery and
//! `rt_sigreturn`: ~2.3 µs measured in-process), and the registers go to
//! the Sentry through memory both processes map, with a spin-then-futex
//! wait on each side (~0.1 µs when both sides spin). See
//! [`SystrapPlatform`]'s docs for the figures measured by
//! `examples/systrap_bench.rs`.
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
//! - make the Sentry believe a batch of commands finished before it did:
//!   completion is proven by an eventfd only the executor may write;
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
//! `getppid`, `rseq`, `mmap`, `mprotect`, `munmap`, `close_range`,
//! `rt_sigaction`, `rt_sigprocmask`, `sigaltstack`, `seccomp`, `write`,
//! `futex`, `clone`, `exit`, `exit_group`, `sched_yield`, `arch_prctl`,
//! `rt_sigreturn`; and in the Sentry `clone`, `pidfd_open`,
//! `pidfd_send_signal`, `tgkill`, `wait4`, `memfd_create`, `eventfd2`,
//! `poll`. The Sentry must never `waitpid(-1, ...)` (it could reap a
//! stub).
//!
//! # Limitations
//!
//! - Every trap pays the kernel's signal delivery and `rt_sigreturn`
//!   (~2.3 µs here). gVisor removes that on x86-64 by rewriting
//!   `mov $nr, %eax; syscall` sites into jumps to a trampoline; doing so
//!   needs core to write application code pages with copy-on-write
//!   semantics and to reserve a low address range, which the platform
//!   contract does not offer yet.
//! - 256 application threads per address space.

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

/// The systrap platform.
///
/// Measured with `cargo run --release -p veil-platform-systrap --example
/// systrap_bench` on the 2-vCPU test machine (Linux 6.18), in one run:
/// the getpid round trip (switch → `Trap::Syscall` → switch) is about
/// 2.4 µs on systrap against about 6 µs on ptrace with pinned stubs
/// (2.5×; ~25× against unpinned ptrace); see the crate's README section
/// in the report for the exact figures of the latest run.
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
            .into_iter()
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
}

fn platform_error(e: &io::Error) -> PlatformError {
    match e.raw_os_error() {
        Some(libc::ENOMEM) | Some(libc::EAGAIN) => PlatformError::NoMemory,
        _ => PlatformError::Lost,
    }
}
