//! veil-platform-ptrace: application code in stub processes traced with
//! PTRACE_SYSEMU.
//!
//! This models a CPU and MMU for veil-core with nothing but ptrace:
//!
//! - an **address space** is a stub process ([`PtraceAddressSpace`]),
//!   forked from the Sentry and stripped to one page of stub code; core's
//!   `map` / `unmap` / `protect` become `mmap(MAP_SHARED | MAP_FIXED)` of
//!   the memory file, `munmap` and `mprotect` *injected* into the stub
//!   (one injected call each);
//! - a **context** ([`PtraceContext`]) runs an application thread in the
//!   stub: PTRACE_SETREGS, PTRACE_SYSEMU, waitpid, and the stop becomes a
//!   [`Trap`](veil_core::platform::Trap). The host kernel never executes
//!   an application system call: SYSEMU skips it;
//! - the **memory file** is the [`veil_host::HostMemoryFile`] memfd, mapped
//!   in full in the Sentry and, range by range, in each stub.
//!
//! # Threads: the tracer rule
//!
//! ptrace binds a tracee to one host *thread*. A stub is traced by the
//! thread that called [`Platform::new_address_space`]; only that thread
//! can switch into it or inject calls into it. So:
//!
//! - call `new_address_space` on the host thread that will run the
//!   application in it, and create and use the context on that thread too;
//! - `map` / `unmap` / `protect` from that thread act at once; from any
//!   other thread they are queued and applied before the application next
//!   runs (see [`space`](PtraceAddressSpace));
//! - the stub dies when its tracer thread exits (PTRACE_O_EXITKILL and
//!   PR_SET_PDEATHSIG), when the Sentry dies, or when the address space is
//!   dropped (it is then killed and reaped, from any thread). There are no
//!   zombies and no leaked stubs.
//!
//! Core must pass `switch` the `Arc` that `new_address_space` returned (or
//! a clone of it): the context finds its stub by that allocation's
//! address; any other `AddressSpace` gives `PlatformError::Lost`.
//!
//! This is enough for issue 2, where a process has one thread. For
//! multi-threaded processes each (address space, host thread) pair will
//! get its own stub thread, cloned into the stub and traced by that host
//! thread; the registry and the per-thread tracer checks are where that
//! goes.
//!
//! # What the host must allow
//!
//! Linux ≥ 5.13 on x86-64 (close_range, pidfds, PTRACE_GET_RSEQ_CONFIGURATION),
//! ptrace of one's own children (not Yama `ptrace_scope` 3), seccomp. The
//! Sentry must never `waitpid(-1, ...)` for any child (it could take a
//! stub's stop); a SIGCHLD handler in the Sentry runs on every stub stop.
//! Stubs inherit the Sentry's own seccomp filter (if it installs one
//! before making address spaces), so that filter must allow the calls
//! injected into stubs: `close_range`, `rseq`, `munmap`, `prctl`,
//! `seccomp`, `rt_sigprocmask`, `mmap`, `mprotect`, besides what the
//! Sentry itself uses here (`clone`, `ptrace`, `wait4`, `pidfd_open`,
//! `pidfd_send_signal`, `sched_setaffinity`).
//!
//! Interrupts are SIGURG sent to the stub through a pidfd; the stub is
//! always resumed with no signal, so it never sees one.
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

use space::{Registry, SpaceInner};
use stub::Stub;

/// Tuning for the ptrace platform.
#[derive(Clone, Copy, Debug)]
pub struct PtraceOptions {
    /// Pin each stub to the CPU its tracer thread is running on (re-pinned
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
}

impl PtracePlatform {
    /// A platform with its own memory file ([`HostMemoryFile::new`], which
    /// can grow to [`veil_host::DEFAULT_RESERVE`]) and default options.
    pub fn new() -> io::Result<PtracePlatform> {
        let mf = Arc::new(HostMemoryFile::new()?);
        PtracePlatform::with_memory_file(mf, PtraceOptions::default())
    }

    /// A platform over memory file `mf`. Maps the stub page in the Sentry
    /// (once per process); no stub is made yet.
    pub fn with_memory_file(
        mf: Arc<HostMemoryFile>,
        opts: PtraceOptions,
    ) -> io::Result<PtracePlatform> {
        let page = stub::stub_page()?;
        Ok(PtracePlatform {
            mf,
            page,
            registry: Arc::default(),
            opts,
        })
    }

    /// Checks that this host lets us make and control stubs: makes one and
    /// drops it. Gives the host's error, for a clear message at startup.
    pub fn probe(&self) -> io::Result<()> {
        self.spawn().map(drop)
    }

    fn spawn(&self) -> io::Result<SpaceInner> {
        let stub = Stub::spawn(self.mf.fd(), self.page, self.opts.pin_stubs)?;
        // The fork copied the Sentry thread's FP registers: replace them.
        let l = fpu::layout(stub.pid)?;
        fpu::write(stub.pid, l, &fpu::init_image(l))?;
        Ok(SpaceInner::new(stub, self.page, self.mf.fd()))
    }

    /// [`Platform::new_address_space`] with its concrete type and the
    /// host's error. The calling thread becomes the stub's tracer.
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
