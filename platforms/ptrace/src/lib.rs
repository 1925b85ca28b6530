//! veil-platform-ptrace: application code in stub processes traced with
//! PTRACE_SYSEMU.
//!
//! This models a CPU and MMU for veil-core with nothing but ptrace:
//!
//! - an **address space** is a stub process ([`PtraceAddressSpace`]),
//!   forked from the Sentry and stripped to one page of stub code; core's
//!   `map` / `unmap` / `protect` become `mmap(MAP_SHARED | MAP_FIXED)` of
//!   the memory file, `munmap` and `mprotect` *injected* into one of the
//!   stub's threads (one injected call each);
//! - a **context** ([`PtraceContext`]) runs an application thread in a
//!   thread of the stub: PTRACE_SETREGS, PTRACE_SYSEMU, waitpid, and the
//!   stop becomes a [`Trap`](veil_core::platform::Trap). The host kernel
//!   never executes an application system call: SYSEMU skips it;
//! - the **memory file** is the [`veil_host::HostMemoryFile`] memfd, mapped
//!   in full in the Sentry and, range by range, in each stub.
//!
//! # Threads
//!
//! ptrace binds a tracee to one host *thread*: only its tracer may resume
//! it, inject calls into it or read its registers. So every application
//! thread gets a stub thread of its own, traced by the host thread that
//! runs it, as in gVisor's ptrace platform:
//!
//! - a stub process has a *leader* (set up, then stopped for good), an
//!   *executor thread*, and one *application thread* per context that has
//!   switched into it (see `stub.rs`);
//! - one host thread per platform, the **executor** (`veil-ptrace`),
//!   forks every stub and traces its leader and executor thread. It never
//!   runs application code, so it is always free to do what needs a
//!   thread already inside the stub: clone a new stub thread, or map
//!   memory for a host thread that has none (see `executor.rs`);
//! - [`Context::switch`] on a host thread whose context has no stub thread
//!   in that address space makes one: the executor injects `clone`
//!   (CLONE_VM | FS | FILES | SIGHAND | THREAD | SYSVSEM) into the
//!   executor thread, the new thread parks in `pause` with every signal
//!   blocked, and the calling thread attaches to it (PTRACE_SEIZE with
//!   EXITKILL | TRACESYSGOOD, PTRACE_INTERRUPT), unblocks its signals and
//!   from then on is its only tracer. The seccomp filter is inherited by
//!   the clone; it allows the stub page's two `syscall` instructions;
//! - `map` / `unmap` / `protect` work from any thread, and are in force
//!   in every stub thread when they return: injected into the caller's own
//!   stub thread if it has one, queued for the next switch if no thread
//!   of the stub is running, or else run by the executor (see
//!   [`space`](PtraceAddressSpace));
//! - a stub thread ends (an injected `exit`: the others go on) when its
//!   context releases it ([`PtraceContext::release`]), when the context is
//!   dropped on its host thread, or when that host thread exits (a
//!   thread-exit hook). A whole stub ends when its address space is
//!   dropped (killed and reaped, with all its threads, from any thread),
//!   when the executor thread exits (after the last address space and the
//!   platform are gone), or when the Sentry dies. There are no zombies and
//!   no leaked stubs or stub threads.
//!
//! What core does, then: make the context for an application thread on
//! the host thread that runs it, switch it into the process's address
//! space (the stub thread appears on the first switch), and drop it on
//! that thread when the application thread exits. A new address space
//! may be made on any thread. A context may switch into several spaces
//! over its life (execve); it keeps a stub thread in each until the space
//! or the context goes. A context used on another host thread than the
//! one it first switched on gets `PlatformError::Lost` in spaces where it
//! has a stub thread already.
//!
//! Core must pass `switch` the `Arc` that `new_address_space` returned (or
//! a clone of it): the context finds its stub by that allocation's
//! address; any other `AddressSpace` gives `PlatformError::Lost`.
//!
//! Interrupts are SIGURG sent with `tgkill` to the context's own stub
//! thread; stub threads are always resumed with no signal, so they never
//! see one.
//!
//! # Costs
//!
//! Measured with `examples/ptrace_bench.rs` on the 2-vCPU test machine
//! (median; other work was running on the machine):
//!
//! | what | cost |
//! |---|---|
//! | getpid round trip, one thread (switch, trap, switch back) | 4.4 µs (as before threads) |
//! | add a thread to a space (a new context's first switch, up to its first trap) | 28 µs |
//! | release a stub thread (context dropped) | 6 µs |
//! | `map` injected into the caller's own stub thread | 6.4 µs |
//! | `map` through the executor (caller has no stub thread, another runs) | 11 µs |
//! | `map` queued (caller has no stub thread, nothing runs) | 0.05 µs, then one injection at the next switch |
//! | new address space + drop | 225 µs |
//!
//! Several host threads in one space scale as they would in separate
//! spaces (each hand-off is its own tracer/stub pair): with 2 threads on
//! 2 vCPUs, 5–9 µs per round trip per thread, depending on where the
//! scheduler puts them.
//!
//! # What the host must allow
//!
//! Linux ≥ 5.13 on x86-64 (close_range, pidfds, PTRACE_GET_RSEQ_CONFIGURATION),
//! ptrace of one's own children and their threads: PTRACE_TRACEME and
//! PTRACE_SEIZE (Yama `ptrace_scope` 0 or 1, or CAP_SYS_PTRACE with 2;
//! and the Sentry must stay dumpable, which the stubs inherit: a
//! non-dumpable stub cannot be seized without CAP_SYS_PTRACE), seccomp.
//! The Sentry must never `waitpid(-1, ...)` for any child (it could take a
//! stub's stop), nor ignore SIGCHLD (SIG_IGN or SA_NOCLDWAIT would let the
//! kernel reap stub threads behind the platform's back); a SIGCHLD
//! handler in the Sentry runs on every stub stop.
//! Stubs inherit the Sentry's own seccomp filter (if it installs one
//! before making address spaces), so that filter must allow the calls
//! made in stubs: `close_range`, `rseq`, `munmap`, `prctl`, `seccomp`,
//! `rt_sigprocmask`, `mmap`, `mprotect`, `clone` (thread flags), `pause`,
//! `exit`, besides what the Sentry itself uses here (`clone`, `ptrace`,
//! `wait4`, `pidfd_open`, `pidfd_send_signal`, `tgkill`,
//! `sched_setaffinity`, and what std's threads and channels use).
//!
//! # Address layout
//!
//! The stub page sits at the top of the 47-bit address space
//! (`0x7fff_ffff_e000`, lower if that is taken);
//! [`Platform::max_user_address`] is its address, so the application has
//! everything below. A stub's address space holds only that page, the
//! application's mappings and the host's `[vsyscall]` page.

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod context;
mod executor;
mod fpu;
mod space;
mod stub;
mod sys;

use std::io;
use std::sync::Arc;

use veil_core::platform::{AddressSpace, Context, MemoryFile, Platform, PlatformError};
use veil_host::HostMemoryFile;

pub use context::PtraceContext;
pub use space::PtraceAddressSpace;

use executor::Executor;
use space::{Registry, SpaceInner};
use stub::Stub;

/// Tuning for the ptrace platform.
#[derive(Clone, Copy, Debug)]
pub struct PtraceOptions {
    /// Pin each stub thread to the CPU its tracer thread is running on (re-pinned
    /// when the tracer moves, checked with the vDSO's getcpu before every
    /// resume). Tracer and stub hand off by sleeping and waking; when the
    /// scheduler splits them across CPUs each hand-off wakes an idle CPU
    /// and a getpid round trip goes from ~6 µs to 60-100 µs on the 2-vCPU
    /// test machine. On by default.
    pub pin_stubs: bool,
}

impl Default for PtraceOptions {
    fn default() -> Self {
        PtraceOptions { pin_stubs: true }
    }
}

/// The ptrace platform.
pub struct PtracePlatform {
    mf: Arc<HostMemoryFile>,
    page: u64,
    registry: Arc<Registry>,
    opts: PtraceOptions,
    exec: Arc<Executor>,
}

impl PtracePlatform {
    /// A platform with its own memory file ([`HostMemoryFile::new`], which
    /// can grow to [`veil_host::DEFAULT_RESERVE`]) and default options.
    pub fn new() -> io::Result<PtracePlatform> {
        let mf = Arc::new(HostMemoryFile::new()?);
        PtracePlatform::with_memory_file(mf, PtraceOptions::default())
    }

    /// A platform over memory file `mf`. Maps the stub page in the Sentry
    /// (once per process) and starts the executor thread; no stub is made
    /// yet.
    pub fn with_memory_file(
        mf: Arc<HostMemoryFile>,
        opts: PtraceOptions,
    ) -> io::Result<PtracePlatform> {
        // Before any stub is forked, so stubs inherit it.
        veil_host::membarrier::register_expedited();
        let page = stub::stub_page()?;
        Ok(PtracePlatform {
            mf,
            page,
            registry: Arc::default(),
            opts,
            exec: Arc::new(Executor::start()?),
        })
    }

    /// Checks that this host lets us make and control stubs: makes one and
    /// drops it. Gives the host's error, for a clear message at startup.
    pub fn probe(&self) -> io::Result<()> {
        self.spawn().map(drop)
    }

    /// Makes a stub, on the executor thread (which becomes the tracer of
    /// its leader and executor thread).
    fn spawn(&self) -> io::Result<SpaceInner> {
        let (fd, page, pin) = (self.mf.fd(), self.page, self.opts.pin_stubs);
        let stub = self
            .exec
            .run(move || Stub::spawn(fd, page, pin))
            .unwrap_or_else(|| Err(io::Error::from_raw_os_error(libc::EAGAIN)))?;
        Ok(SpaceInner::new(stub, self.page, fd, self.exec.clone()))
    }

    /// [`Platform::new_address_space`] with its concrete type and the
    /// host's error. Any host thread may call it.
    pub fn new_ptrace_address_space(&self) -> io::Result<Arc<PtraceAddressSpace>> {
        let inner = self.spawn()?;
        Ok(PtraceAddressSpace::register(inner, self.registry.clone()))
    }

    /// [`Platform::new_context`] with its concrete type.
    pub fn new_ptrace_context(&self) -> PtraceContext {
        PtraceContext::new(self.registry.clone())
    }

    /// Where the stub page is, in the Sentry and in every stub.
    pub fn stub_address(&self) -> u64 {
        self.page
    }

    /// The memory file.
    pub fn host_memory_file(&self) -> &Arc<HostMemoryFile> {
        &self.mf
    }

    /// How many address spaces (stub processes) are alive.
    pub fn live_address_spaces(&self) -> usize {
        self.registry.len()
    }

    /// The executor thread's tid (see the crate docs).
    pub fn executor_tid(&self) -> i32 {
        self.exec.tid()
    }
}

impl std::fmt::Debug for PtracePlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PtracePlatform")
            .field("stub_page", &format_args!("{:#x}", self.page))
            .field("opts", &self.opts)
            .finish()
    }
}

impl Platform for PtracePlatform {
    fn name(&self) -> &'static str {
        "ptrace"
    }

    fn new_address_space(&self) -> Result<Arc<dyn AddressSpace>, PlatformError> {
        match self.new_ptrace_address_space() {
            Ok(s) => Ok(s),
            Err(e) => Err(platform_error(&e)),
        }
    }

    fn new_context(&self) -> Result<Box<dyn Context>, PlatformError> {
        Ok(Box::new(self.new_ptrace_context()))
    }

    fn memory_file(&self) -> Arc<dyn MemoryFile> {
        self.mf.clone()
    }

    fn max_user_address(&self) -> u64 {
        self.page
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

/// A host error while controlling a stub: the stub is lost.
pub(crate) fn lost(_: io::Error) -> PlatformError {
    PlatformError::Lost
}
