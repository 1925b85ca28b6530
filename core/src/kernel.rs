//! The kernel: global state of one sandbox, and the loop that runs a task.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::sync::Arc;
use alloc::sync::Weak;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use spin::Mutex;
use veil_abi::{sysno, Errno};

use crate::host::{Clock, Identity, Logger, Random, Spawner, TimerService};
use crate::mm::PageAllocator;
use crate::platform::{Context, MemoryFile, Platform, Trap};
use crate::syscalls::{self, Handler};
use crate::task::{ExitStatus, Pid, Task, ThreadGroup};
use crate::vfs::MountNamespace;

/// Options chosen by the embedder.
#[derive(Clone, Debug, Default)]
pub struct KernelOptions {
    /// Print every syscall as strace does.
    pub strace: bool,
    /// Bytes of the CPU mask sched_getaffinity reports (the host kernel's
    /// `cpumask_size()`); 0 derives it from the CPU count.
    pub cpumask_bytes: u32,
}

/// One sandbox's kernel.
pub struct Kernel {
    /// The platform running application code.
    pub platform: Arc<dyn Platform>,
    /// The memory file.
    pub mf: Arc<dyn MemoryFile>,
    /// Pages of the memory file.
    pub pages: Arc<PageAllocator>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Randomness.
    pub random: Arc<dyn Random>,
    /// Diagnostics.
    pub logger: Arc<dyn Logger>,
    /// uname and sysinfo answers.
    pub identity: Identity,
    /// The mount tree.
    pub mounts: Arc<MountNamespace>,
    /// Options.
    pub options: KernelOptions,
    /// The first UTS namespace and the kernel log
    /// ([`crate::syscalls::admin`]).
    pub admin: crate::syscalls::admin::AdminState,
    /// The first IPC namespace (System V IPC, [`crate::ipc`]).
    pub ipc: Arc<crate::ipc::IpcNamespace>,
    table: Box<[Option<Handler>]>,
    /// Syscall numbers already reported as unimplemented (bitmap).
    unknown_logged: Mutex<Vec<u64>>,
    next_pid: AtomicI32,
    /// Every live thread group by pid (zombies included until reaped).
    pub thread_groups: Mutex<BTreeMap<Pid, Weak<ThreadGroup>>>,
    /// Orders every change of a parent link (Linux's `tasklist_lock`):
    /// fork linking a child, exit reparenting orphans and notifying the
    /// parent (see [`crate::process::exit_notify`]).
    pub tasklist: Mutex<()>,
    spawner: spin::Once<Arc<dyn Spawner>>,
    timers: spin::Once<Arc<dyn TimerService>>,
    /// Futex wait queues.
    pub futexes: crate::futex::FutexTable,
    /// File locks (flock, record locks, leases).
    pub locks: Arc<crate::vfs::lock::LockTable>,
    /// The pipes of open FIFOs.
    pub fifos: crate::vfs::fifo::FifoTable,
    /// inotify watches.
    pub inotify: Arc<crate::vfs::inotify::Registry>,
    /// The sandbox's pseudo-terminals (its devpts instance).
    pub ptys: Arc<crate::tty::PtyTable>,
    /// The pty behind `/dev/console`, when the runtime gave the sandbox a
    /// terminal (`veil do -t`).
    pub console: spin::Once<Arc<crate::tty::Pty>>,
    /// Sockets: the unix-socket namespace.
    pub net: crate::net::Net,
    /// POSIX message queues (the sandbox's one mqueue namespace).
    pub mqueue: crate::syscalls::mqueue::queue::MqNamespace,
    unsupported_logged: Mutex<Vec<&'static str>>,
    /// Boot time in monotonic nanoseconds.
    pub boot_ns: AtomicU64,
    /// The vDSO, made at the first exec (`None` if that failed).
    vdso: spin::Once<Option<Arc<crate::vdso::Vdso>>>,
}

/// The services a kernel is built from.
pub struct KernelParts {
    /// Platform.
    pub platform: Arc<dyn Platform>,
    /// Clock.
    pub clock: Arc<dyn Clock>,
    /// Randomness.
    pub random: Arc<dyn Random>,
    /// Logger.
    pub logger: Arc<dyn Logger>,
    /// Identity.
    pub identity: Identity,
    /// The mount tree.
    pub mounts: Arc<MountNamespace>,
    /// Options.
    pub options: KernelOptions,
}

impl Kernel {
    /// Builds a kernel.
    pub fn new(parts: KernelParts) -> Arc<Kernel> {
        let mf = parts.platform.memory_file();
        let pages = Arc::new(PageAllocator::new(mf.clone()));
        Arc::new(Kernel {
            platform: parts.platform,
            mf,
            pages,
            clock: parts.clock,
            random: parts.random,
            logger: parts.logger,
            admin: crate::syscalls::admin::AdminState::new(&parts.identity),
            identity: parts.identity,
            ipc: crate::ipc::IpcNamespace::initial(),
            mounts: parts.mounts,
            options: parts.options,
            table: syscalls::build_table(),
            unknown_logged: Mutex::new(alloc::vec![0; sysno::COUNT.div_ceil(64) + 1]),
            next_pid: AtomicI32::new(1),
            thread_groups: Mutex::new(BTreeMap::new()),
            tasklist: Mutex::new(()),
            spawner: spin::Once::new(),
            timers: spin::Once::new(),
            futexes: crate::futex::FutexTable::default(),
            locks: crate::vfs::lock::LockTable::new(),
            fifos: crate::vfs::fifo::FifoTable::default(),
            inotify: crate::vfs::inotify::Registry::new(),
            ptys: crate::tty::PtyTable::new(),
            console: spin::Once::new(),
            net: crate::net::Net::default(),
            mqueue: Default::default(),
            unsupported_logged: Mutex::new(Vec::new()),
            boot_ns: AtomicU64::new(0),
            vdso: spin::Once::new(),
        })
    }

    /// A fresh pid.
    pub fn alloc_pid(&self) -> Pid {
        self.next_pid.fetch_add(1, Ordering::Relaxed)
    }

    /// Sets how new tasks get host threads (once; later calls are ignored).
    pub fn set_spawner(&self, s: Arc<dyn Spawner>) {
        self.spawner.call_once(|| s);
    }

    /// The spawner, if the embedder gave one (without it fork is ENOSYS).
    pub fn spawner(&self) -> Option<&Arc<dyn Spawner>> {
        self.spawner.get()
    }

    /// Sets the host timers (once; later calls are ignored). Without them,
    /// timers can be set and read but never expire.
    pub fn set_timers(&self, t: Arc<dyn TimerService>) {
        self.timers.call_once(|| t);
    }

    /// The host timers, if the embedder gave them.
    pub fn timers(&self) -> Option<&Arc<dyn TimerService>> {
        self.timers.get()
    }

    /// The vDSO every exec maps, made on first use and handed to the clock
    /// to keep current. `None` if its pages could not be allocated
    /// (programs then run without one, making the system calls).
    pub fn vdso(&self) -> Option<&Arc<crate::vdso::Vdso>> {
        self.vdso
            .call_once(|| {
                let v = Arc::new(crate::vdso::Vdso::new(self.pages.clone()).ok()?);
                self.clock.attach_vdso(&v);
                Some(v)
            })
            .as_ref()
    }

    /// A blocker for a new task, from the spawner.
    ///
    /// Only called on paths that already checked a spawner exists.
    pub fn new_blocker(&self) -> Arc<dyn crate::host::Blocker> {
        match self.spawner.get() {
            Some(s) => s.new_blocker(),
            None => Arc::new(NoBlocker),
        }
    }

    /// Logs, once per message, that a program asked for something veil
    /// does not do yet.
    pub fn note_unsupported(&self, msg: &'static str) {
        let mut seen = self.unsupported_logged.lock();
        if seen.iter().any(|m| core::ptr::eq(*m, msg)) {
            return;
        }
        seen.push(msg);
        drop(seen);
        self.logger.line(&format!("veil: unsupported: {msg}"));
    }

    /// Records a new thread group so it can be found by pid.
    pub fn register(&self, tg: &Arc<ThreadGroup>) {
        self.thread_groups.lock().insert(tg.pid, Arc::downgrade(tg));
    }

    /// The thread group `pid`, if it exists.
    pub fn thread_group(&self, pid: Pid) -> Option<Arc<ThreadGroup>> {
        self.thread_groups
            .lock()
            .get(&pid)
            .and_then(|w| w.upgrade())
    }

    /// Every live process (each once, by its leader's pid).
    pub fn processes(&self) -> Vec<Arc<ThreadGroup>> {
        self.thread_groups
            .lock()
            .iter()
            .filter_map(|(pid, w)| w.upgrade().filter(|g| g.pid == *pid))
            .collect()
    }

    /// The handler for `nr`, if served.
    pub fn handler(&self, nr: u64) -> Option<Handler> {
        self.table.get(nr as usize).copied().flatten()
    }

    fn note_unknown(&self, nr: u64) {
        let mut bits = self.unknown_logged.lock();
        let (w, b) = ((nr / 64) as usize, nr % 64);
        if w >= bits.len() || bits[w] & (1 << b) != 0 {
            return;
        }
        bits[w] |= 1 << b;
        drop(bits);
        let name = sysno::name(nr).unwrap_or("?");
        self.logger.line(&format!(
            "veil: unimplemented syscall {name} ({nr}): ENOSYS"
        ));
    }

    /// Serves one syscall for `task` whose registers hold the call.
    pub fn dispatch(&self, task: &mut Task) {
        let regs = &task.cpu.regs;
        let nr = regs.orig_rax;
        let args = [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9];
        let strace = self.options.strace;
        let entry = if strace {
            Some(crate::syscalls::strace::enter(task, nr, &args))
        } else {
            None
        };
        // seccomp: one compare unless the thread has filters or a mode.
        if task.seccomp.armed(&task.tg) {
            if let Some(rax) = crate::seccomp::check(task, nr, &args) {
                if let Some(line) = entry {
                    let shown = crate::seccomp::as_result(rax);
                    crate::syscalls::strace::exit(task, nr, &args, line, &shown);
                }
                task.cpu.regs.rax = rax;
                return;
            }
        }
        let result = match self.handler(nr) {
            Some(h) => h(task, &args),
            None => {
                self.note_unknown(nr);
                Err(Errno::ENOSYS)
            }
        };
        if (nr == sysno::EXECVE || nr == sysno::EXECVEAT) && result.is_ok() {
            task.tg.release_vfork_parent();
            crate::seccomp::after_exec(task);
        }
        if result.is_ok() && crate::task::changes_view(nr) {
            task.publish_view();
        }
        if let Some(line) = entry {
            crate::syscalls::strace::exit(task, nr, &args, line, &result);
        }
        if task.pending.keep_rax {
            task.pending.keep_rax = false;
            return;
        }
        task.cpu.regs.rax = match result {
            Ok(v) => v,
            Err(e) => (-(e as i64)) as u64,
        };
    }

    /// Runs `task` on `ctx` until its thread group exits; returns how.
    pub fn run(&self, task: &mut Task, ctx: &mut dyn Context) -> ExitStatus {
        loop {
            if task.pending.reset_fp {
                task.pending.reset_fp = false;
                let _ = ctx.reset_fp_state();
            }
            // Another thread is exec'ing: this one ends (its group lives on).
            if crate::process::killed_by_exec(task) {
                task.pending.exited = true;
                return ExitStatus::Signaled(veil_abi::flags::SIGKILL);
            }
            // Signals are delivered here, before every switch.
            let go = crate::signal::before_switch(task, ctx);
            if let Some(st) = *task.tg.exit_status.lock() {
                return st;
            }
            if let Some(st) = task.pending.thread_status {
                return st;
            }
            if !go {
                continue;
            }
            let space = task.mm.space().clone();
            // CPU accounting: the time inside switch is user time.
            let entered = crate::process::user_enter(task);
            let switched = ctx.switch(&space, &mut task.cpu);
            crate::process::user_exit(task, entered);
            let trap = match switched {
                Ok(t) => t,
                Err(_) => {
                    self.logger.line("veil: platform lost the application");
                    task.exit_group(ExitStatus::Signaled(veil_abi::flags::SIGKILL));
                    continue;
                }
            };
            match trap {
                Trap::Syscall => {
                    // A new task starts with its creator's FP state.
                    if matches!(
                        task.cpu.regs.orig_rax,
                        sysno::CLONE | sysno::CLONE3 | sysno::FORK | sysno::VFORK
                    ) {
                        let mut img = Vec::new();
                        task.signals.fork_fp = ctx.fp_state(&mut img).ok().map(|_| img);
                    }
                    self.dispatch(task);
                    task.signals.fork_fp = None;
                }
                Trap::PageFault { addr, access } => {
                    if let Err(e) = task.mm.handle_fault(crate::UserAddr(addr), access) {
                        crate::signal::page_fault(task, addr, access, e);
                    }
                }
                Trap::Exception { signo, code, addr } => {
                    crate::signal::exception(task, signo, code, addr)
                }
                Trap::Interrupted => {}
            }
        }
    }
}

/// A blocker that never sleeps, for kernels without a spawner.
struct NoBlocker;

impl crate::host::Blocker for NoBlocker {
    fn block(&self, _deadline: Option<crate::host::Nanos>) -> crate::host::WakeReason {
        crate::host::WakeReason::Interrupted
    }
    fn wake(&self) {}
    fn interrupt(&self) {}
}
