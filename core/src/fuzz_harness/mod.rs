//! Fuzz harnesses: veil-core driven by arbitrary bytes, with no host.
//!
//! Each `run_*` function takes the raw input of one fuzz target and runs
//! it against core on the fake platform. The targets in `fuzz/` call them,
//! and so does a test in the normal test run that replays every corpus
//! entry, so the corpus is checked without cargo-fuzz. A harness panics
//! only when core broke one of the properties it checks (or panicked on
//! its own): everything an input can do must end in a result or an errno.
//!
//! - [`run_syscalls`]: programs of several tasks (system calls with
//!   chosen or raw numbers and arguments, memory loads, stores and
//!   instruction fetches, signals from the host, time passing), forks and
//!   threads run by an inline spawner (a child runs to its end inside the
//!   parent's fork), all on an in-memory filesystem.
//! - [`run_elf`]: the ELF loader (static, `PT_INTERP`, `#!`) on arbitrary
//!   files.
//! - [`run_walk`]: path walk over an arbitrary tree of directories, files
//!   and symlinks, with arbitrary paths, `*at` starting points and
//!   `RESOLVE_*` flags.
//! - [`run_abi`]: ABI structures decoded from arbitrary bytes, both with
//!   zerocopy and by the system calls (and the strace decoder) that read
//!   them from user memory.
//!
//! Enabled with `cfg(test)` or the `fuzz` feature.

pub mod abi;
pub mod elf;
pub mod memfs;
pub mod pty;
pub mod syscalls;
pub mod walk;

#[cfg(test)]
mod replay;

pub use abi::run_abi;
pub use elf::run_elf;
pub use pty::run_pty;
pub use syscalls::run_syscalls;
pub use walk::run_walk;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use spin::Mutex;
use veil_abi::{Errno, PAGE_SIZE};

use crate::fake::{FakeBlocker, FakeClock, FakeLogger, FakePlatform, Step};
use crate::host::{Blocker, Spawner, WakeReason};
use crate::kernel::{Kernel, KernelOptions};
use crate::platform::{AddressSpace, Context, MemoryFile, Platform, PlatformError, Prot};
use crate::task::{Credentials, Task};
use crate::vfs::{Dentry, MountNamespace};
use crate::UserAddr;

use memfs::MemNode;

/// Where [`Bed::task`] maps scratch memory for arguments (read-write).
pub const SCRATCH: u64 = 0x20_0000;
/// Size of the scratch area.
pub const SCRATCH_LEN: u64 = 16 * PAGE_SIZE;
/// Where [`Bed::task`] maps a stack (read-write); `rsp` starts at its top.
pub const STACK: u64 = 0x40_0000;
/// Size of the stack area.
pub const STACK_LEN: u64 = 16 * PAGE_SIZE;

/// The fake platform, with scripts queued for the contexts that core
/// makes itself (a forked child's).
pub struct ScriptedPlatform {
    /// The fake platform underneath.
    pub fake: Arc<FakePlatform>,
    scripts: Mutex<VecDeque<Vec<Step>>>,
}

impl ScriptedPlatform {
    /// Queues the script the next context core asks for runs.
    pub fn queue(&self, steps: Vec<Step>) {
        self.scripts.lock().push_back(steps);
    }
}

impl Platform for ScriptedPlatform {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn new_address_space(&self) -> Result<Arc<dyn AddressSpace>, PlatformError> {
        self.fake.new_address_space()
    }
    fn new_context(&self) -> Result<Box<dyn Context>, PlatformError> {
        let steps = self.scripts.lock().pop_front().unwrap_or_default();
        Ok(Box::new(self.fake.context(steps)))
    }
    fn memory_file(&self) -> Arc<dyn MemoryFile> {
        self.fake.memory_file()
    }
    fn max_user_address(&self) -> u64 {
        self.fake.max_user_address()
    }
}

/// How many times in a row a task may sleep with nothing to wake it
/// before the watchdog steps in (see [`WatchdogBlocker`]).
pub const IDLE_LIMIT: u32 = 256;

/// How many timed sleeps in a row (each moving the fake clock to its
/// deadline) before the watchdog steps in.
pub const NAP_LIMIT: u32 = 4096;

/// The fake blocker's rules (a pending wake or interrupt ends `block` at
/// once; a deadline passes at once, moving the clock), plus a watchdog for
/// what a host thread would sleep through forever: a stopped process no
/// one continues, a wait no one will end, a loop of naps towards a
/// deadline years away. After [`IDLE_LIMIT`] sleeps in a row with no
/// deadline and nothing pending (or [`NAP_LIMIT`] timed ones), it sends
/// SIGCONT to every process, and after four such rounds SIGKILL, as an operator would to a
/// stuck sandbox. Deterministic, so inputs replay the same way.
pub struct WatchdogBlocker {
    /// Pending wakes and interrupts.
    pending: FakeBlocker,
    clock: Arc<FakeClock>,
    kernel: spin::Once<Weak<Kernel>>,
    idle: AtomicU32,
    naps: AtomicU32,
    rounds: AtomicU32,
}

impl WatchdogBlocker {
    /// A blocker over `clock`, watching `kernel`'s processes.
    pub fn new(clock: Arc<FakeClock>, kernel: Option<&Arc<Kernel>>) -> WatchdogBlocker {
        let once = spin::Once::new();
        if let Some(k) = kernel {
            once.call_once(|| Arc::downgrade(k));
        }
        WatchdogBlocker {
            pending: FakeBlocker::default(),
            clock,
            kernel: once,
            idle: AtomicU32::new(0),
            naps: AtomicU32::new(0),
            rounds: AtomicU32::new(0),
        }
    }

    fn watchdog(&self) {
        let Some(kernel) = self.kernel.get().and_then(|k| k.upgrade()) else {
            return;
        };
        let round = self.rounds.fetch_add(1, Ordering::SeqCst);
        let sig = if round < 4 {
            veil_abi::flags::SIGCONT
        } else {
            veil_abi::flags::SIGKILL
        };
        let pids: Vec<crate::task::Pid> = kernel.thread_groups.lock().keys().copied().collect();
        for pid in pids {
            let _ = crate::signal::kill_from_host(&kernel, pid, sig);
        }
    }
}

impl Blocker for WatchdogBlocker {
    fn block(&self, deadline: Option<crate::host::Nanos>) -> WakeReason {
        if let Some(r) = self.pending.take_pending() {
            self.idle.store(0, Ordering::SeqCst);
            self.naps.store(0, Ordering::SeqCst);
            return r;
        }
        if let Some(d) = deadline {
            self.clock.advance_to(d);
            // A loop of short naps towards a far deadline (poll on a file
            // without a wait queue) would take forever at fake speed.
            if self.naps.fetch_add(1, Ordering::SeqCst) + 1 >= NAP_LIMIT {
                self.naps.store(0, Ordering::SeqCst);
                self.watchdog();
            }
            return WakeReason::TimedOut;
        }
        if self.idle.fetch_add(1, Ordering::SeqCst) + 1 >= IDLE_LIMIT {
            self.idle.store(0, Ordering::SeqCst);
            self.watchdog();
        }
        WakeReason::Interrupted
    }
    fn wake(&self) {
        self.pending.wake();
    }
    fn interrupt(&self) {
        self.pending.interrupt();
    }
}

/// A spawner that runs a new task's loop at once, on the calling thread:
/// a forked child runs to its end inside the parent's fork. At most
/// `budget` tasks are spawned (then `EAGAIN`), which also bounds the
/// nesting.
pub struct InlineSpawner {
    clock: Arc<FakeClock>,
    budget: AtomicU32,
    kernel: spin::Once<Weak<Kernel>>,
}

impl Spawner for InlineSpawner {
    fn spawn(&self, f: Box<dyn FnOnce() + Send>) -> Result<(), Errno> {
        let left = self.budget.load(Ordering::SeqCst);
        if left == 0 {
            return Err(Errno::EAGAIN);
        }
        self.budget.store(left - 1, Ordering::SeqCst);
        f();
        Ok(())
    }
    fn new_blocker(&self) -> Arc<dyn Blocker> {
        let b = WatchdogBlocker::new(self.clock.clone(), None);
        if let Some(k) = self.kernel.get() {
            b.kernel.call_once(|| k.clone());
        }
        Arc::new(b)
    }
}

/// A kernel on the fake platform over an in-memory filesystem
/// ([`MemNode`]), with an inline spawner.
pub struct Bed {
    /// The kernel.
    pub kernel: Arc<Kernel>,
    /// The platform.
    pub platform: Arc<ScriptedPlatform>,
    /// The root directory.
    pub root: Arc<MemNode>,
    /// The clock.
    pub clock: Arc<FakeClock>,
    /// The logger.
    pub logger: Arc<FakeLogger>,
}

impl Bed {
    /// A new bed; `strace` turns on the syscall decoder; `spawns` is the
    /// spawner's budget (0: fork answers EAGAIN).
    pub fn new(strace: bool, spawns: u32) -> Bed {
        let fake = FakePlatform::new();
        let platform = Arc::new(ScriptedPlatform {
            fake,
            scripts: Mutex::new(VecDeque::new()),
        });
        let root = MemNode::new_root();
        let mounts = MountNamespace::new(Dentry::new_root(root.clone()), "memfs", "none");
        let clock = Arc::new(FakeClock::new());
        let logger = Arc::new(FakeLogger::default());
        let options = KernelOptions {
            strace,
            ..KernelOptions::default()
        };
        let kernel = crate::fake::new_kernel(
            platform.clone(),
            mounts,
            clock.clone(),
            logger.clone(),
            options,
        );
        let spawner = InlineSpawner {
            clock: clock.clone(),
            budget: AtomicU32::new(spawns),
            kernel: spin::Once::new(),
        };
        spawner.kernel.call_once(|| Arc::downgrade(&kernel));
        kernel.set_spawner(Arc::new(spawner));
        Bed {
            kernel,
            platform,
            root,
            clock,
            logger,
        }
    }

    /// A new task (its own thread group, registered with the kernel)
    /// running as `creds`, with the scratch area and a stack mapped, no
    /// fds, root and cwd at `/`.
    pub fn task_as(&self, creds: Credentials) -> Task {
        let blocker = WatchdogBlocker::new(self.clock.clone(), Some(&self.kernel));
        let mut t = crate::fake::new_task(&self.kernel, creds, Arc::new(blocker));
        self.kernel.register(&t.tg);
        crate::signal::attach(&t);
        let rw = Prot::READ | Prot::WRITE;
        let flags = veil_abi::flags::MAP_PRIVATE
            | veil_abi::flags::MAP_ANONYMOUS
            | veil_abi::flags::MAP_FIXED;
        for (at, len) in [(SCRATCH, SCRATCH_LEN), (STACK, STACK_LEN)] {
            t.mm.mmap(UserAddr(at), len, rw, flags, None)
                .expect("scratch mapping");
        }
        t.cpu.regs.rsp = STACK + STACK_LEN - 64;
        t
    }

    /// Drops the bed and checks that nothing outlived it: the kernel, the
    /// filesystem and every memory-file page must be freed once the
    /// tasks are gone (a reference cycle or a lost reference keeps them).
    pub fn finish(self) {
        let pages = self.kernel.pages.clone();
        let root = Arc::downgrade(&self.root);
        let kernel = Arc::downgrade(&self.kernel);
        drop(self);
        assert!(
            kernel.upgrade().is_none(),
            "the kernel outlived its tasks (a reference cycle)"
        );
        assert!(
            root.upgrade().is_none(),
            "the filesystem outlived the kernel (a reference cycle)"
        );
        assert_eq!(
            pages.allocated_pages(),
            0,
            "memory-file pages left after every task ended"
        );
    }

    /// [`task_as`](Self::task_as) for root.
    pub fn task(&self) -> Task {
        self.task_as(Credentials::new(0, 0, Vec::new()))
    }
}

/// Calls syscall `nr` for `t` the way [`Kernel::dispatch`] does, without
/// the run loop (no signal delivery, no restart): the handler's result.
pub fn sys(t: &mut Task, nr: u64, a: &[u64]) -> Result<u64, Errno> {
    let mut args = [0u64; 6];
    let n = a.len().min(6);
    args[..n].copy_from_slice(&a[..n]);
    match t.kernel.handler(nr) {
        Some(h) => h(t, &args),
        None => Err(Errno::ENOSYS),
    }
}

/// Writes `s` and a NUL at `addr` in `t`'s memory; returns `addr`.
pub fn put_cstr(t: &Task, addr: u64, s: &[u8]) -> u64 {
    let mut v = Vec::with_capacity(s.len() + 1);
    v.extend_from_slice(s);
    v.push(0);
    t.mm.copy_out(UserAddr(addr), &v).expect("scratch write");
    addr
}

/// Reads `len` bytes at `addr` of `t`'s memory.
pub fn get(t: &Task, addr: u64, len: usize) -> Result<Vec<u8>, Errno> {
    let mut v = alloc::vec![0u8; len];
    t.mm.copy_in(UserAddr(addr), &mut v).map(|_| v)
}
