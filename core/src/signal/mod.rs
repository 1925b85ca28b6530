//! Signals: generation, queueing, delivery and return, as Linux does them
//! on x86-64.
//!
//! # What is modelled
//!
//! - **State.** Each thread group ([`ThreadGroup::signals`], a
//!   [`GroupSignals`]) holds, under one lock, the group-wide (shared)
//!   pending queue, the job-control state, and a registry of its threads
//!   ([`ThreadHandle`]): each thread's private pending queue, its blocked
//!   mask as others must see it, the ids a sender's permission is checked
//!   against, and the handles that wake it (its [`Blocker`] and its
//!   context's [`Interrupter`]). What only the thread itself touches
//!   (alternate stack, the mask saved by sigsuspend, the restart block,
//!   the FP state to load after rt_sigreturn) is in [`Task::signals`], a
//!   [`TaskSignals`]. The dispositions are `ThreadGroup::sigactions`.
//! - **Generation** ([`send`]) follows `prepare_signal`,
//!   `__send_signal_locked` and `complete_signal`: a dying group drops
//!   everything; a stop signal discards pending SIGCONT and SIGCONT
//!   discards pending stop signals and resumes a stopped group at once
//!   (even if SIGCONT is blocked or ignored); an ignored, unblocked signal
//!   is dropped at once; standard signals coalesce and real-time signals
//!   queue with their siginfo ([`queue::SigQueue`]) up to
//!   RLIMIT_SIGPENDING (past it, rt_sigqueueinfo / tkill of a real-time
//!   signal fail with EAGAIN and kill's siginfo is lost); then one thread
//!   that does not block the signal is woken: its blocker is interrupted
//!   (a blocking call returns one of the `ERESTART*` errnos) and its
//!   context is interrupted (the platform leaves the application).
//! - **Delivery** ([`before_switch`], called by `Kernel::run` before every
//!   switch into the application) follows `get_signal` and
//!   `handle_signal`: thread-private signals first, synchronous ones
//!   (SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGSYS) first, then by
//!   number; default actions terminate, "dump core" (reported as killed by
//!   the signal, no core file is written), stop the group, or are ignored;
//!   a handler gets an `rt_sigframe` ([`frame`]) and runs with `sa_mask`
//!   and (without SA_NODEFER) the signal itself blocked; SA_RESETHAND
//!   resets the disposition; SS_AUTODISARM disarms the alternate stack.
//!   Several deliverable signals stack several frames, as Linux does.
//! - **Syscall restart.** A call interrupted by a signal returns
//!   ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND or ERESTART_RESTARTBLOCK;
//!   at delivery the call becomes EINTR or is restarted (rip rewound over
//!   `syscall`, rax = the call number) per SA_RESTART, exactly as Linux's
//!   `handle_signal` / `arch_do_signal_or_restart`. With no handler run it
//!   is always restarted, ERESTART_RESTARTBLOCK through `restart_syscall`
//!   and the task's [`RestartBlock`]. These errnos never reach the
//!   application.
//! - **Faults** ([`page_fault`], [`exception`]) are forced as Linux's
//!   `force_sig_fault`: a handler runs if installed; blocked or ignored,
//!   the disposition becomes SIG_DFL and the signal unblocked, so the
//!   default action kills (even init).
//! - **Job control**: a default-action stop signal stops the group
//!   (SIGTSTP, SIGTTIN, SIGTTOU are discarded in an orphaned process
//!   group); the parent is told with SIGCHLD (CLD_STOPPED, unless
//!   SA_NOCLDSTOP) and `wait4(WUNTRACED)`; SIGCONT resumes it, with
//!   SIGCHLD (CLD_CONTINUED) and `wait4(WCONTINUED)` reports
//!   ([`take_wait_report`]). SIGKILL ends a stopped group.
//! - **Exit**: the parent gets the child's exit signal (SIGCHLD with
//!   CLD_EXITED / CLD_KILLED, si_pid, si_uid, si_status) unless it ignores
//!   SIGCHLD; with SIGCHLD set to SIG_IGN or SA_NOCLDWAIT the child is
//!   reaped at once ([`autoreap`], [`notify_parent_exit`]).
//! - **init**: the sandbox's pid 1 gets no signal whose disposition is
//!   SIG_DFL from inside the sandbox (Linux's SIGNAL_UNKILLABLE), SIGKILL
//!   and SIGSTOP included; the runtime (an ancestor namespace) can still
//!   SIGKILL / SIGSTOP it with [`kill_from_host`].
//!
//! # What is left out
//!
//! - RLIMIT_SIGPENDING is counted per thread group, not per user.
//! - Blocking a signal does not hand pending group-wide signals over to
//!   another thread (Linux's `retarget_shared_pending`); with one thread
//!   per group this is invisible.
//! - The fault details in `sigcontext` (trapno, err, cr2) are set for page
//!   faults and approximated for other exceptions.
//! - Stale wake-ups: interrupting a task that was not blocked leaves the
//!   interruption pending in its blocker; delivery drains it. A blocking
//!   call that still sees one restarts transparently.
//! - No core files, no ptrace stops. (PR_SET_PDEATHSIG is
//!   [`crate::process`]'s; timer signals' overruns are filled in at
//!   dequeue by [`crate::timer::dequeued`].)

pub mod frame;
pub mod queue;
#[cfg(test)]
mod tests;

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use spin::{Mutex, MutexGuard};
use veil_abi::flags::*;
use veil_abi::{Errno, KernelSigaction, SigaltStack, Siginfo};

use crate::host::{Blocker, WakeReason};
use crate::kernel::Kernel;
use crate::platform::{Access, Context, Interrupter};
use crate::task::{Credentials, ExitStatus, Pid, Task, ThreadGroup};

pub use queue::SigQueue;

/// The bit of `sig` (1..=64) in a signal set.
pub const fn bit(sig: i32) -> u64 {
    1u64 << ((sig as u32).wrapping_sub(1) & 63)
}

/// Signals raised by the faulting instruction: dequeued first.
pub const SYNCHRONOUS_MASK: u64 =
    bit(SIGSEGV) | bit(SIGBUS) | bit(SIGILL) | bit(SIGTRAP) | bit(SIGFPE) | bit(SIGSYS);
/// SIGKILL and SIGSTOP: never blocked, caught or ignored.
pub const UNBLOCKABLE: u64 = bit(SIGKILL) | bit(SIGSTOP);
/// Signals whose default action stops the group.
pub const STOP_MASK: u64 = bit(SIGSTOP) | bit(SIGTSTP) | bit(SIGTTIN) | bit(SIGTTOU);
/// Signals whose default action is to do nothing.
pub const DEFAULT_IGNORE_MASK: u64 = bit(SIGCONT) | bit(SIGCHLD) | bit(SIGWINCH) | bit(SIGURG);
/// Signals whose default action dumps core.
pub const COREDUMP_MASK: u64 = bit(SIGQUIT)
    | bit(SIGILL)
    | bit(SIGTRAP)
    | bit(SIGABRT)
    | bit(SIGBUS)
    | bit(SIGFPE)
    | bit(SIGSEGV)
    | bit(SIGXCPU)
    | bit(SIGXFSZ)
    | bit(SIGSYS);

/// True for a signal number 1..=64.
pub fn valid(sig: i32) -> bool {
    (1..=NSIG).contains(&sig)
}

/// What SIG_DFL does with a signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    /// The group exits, killed by the signal.
    Terminate,
    /// As `Terminate` (Linux would also dump core; veil does not).
    Core,
    /// The group stops.
    Stop,
    /// The group continues (done when SIGCONT is sent).
    Continue,
    /// Nothing.
    Ignore,
}

/// The default action of `sig` (a valid signal).
pub fn default_action(sig: i32) -> DefaultAction {
    let b = bit(sig);
    if sig == SIGCONT {
        DefaultAction::Continue
    } else if b & DEFAULT_IGNORE_MASK != 0 {
        DefaultAction::Ignore
    } else if b & STOP_MASK != 0 {
        DefaultAction::Stop
    } else if b & COREDUMP_MASK != 0 {
        DefaultAction::Core
    } else {
        DefaultAction::Terminate
    }
}

/// The signal's name as strace prints it (`SIGUSR1`, `SIGRT_2`).
pub fn name(sig: i32) -> String {
    const NAMES: [&str; 31] = [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    match sig {
        1..=31 => String::from(NAMES[(sig - 1) as usize]),
        SIGRTMIN..=NSIG => format!("SIGRT_{}", sig - SIGRTMIN),
        _ => format!("{sig}"),
    }
}

/// True if a signal with disposition `handler` would be dropped when sent
/// (Linux's `sig_task_ignored`); `unkillable` is init's protection, which
/// `force` (a signal from outside the sandbox) lifts for SIGKILL/SIGSTOP.
pub fn ignored_by(handler: u64, sig: i32, unkillable: bool, force: bool) -> bool {
    if unkillable && handler == SIG_DFL && !(force && UNBLOCKABLE & bit(sig) != 0) {
        return true;
    }
    handler == SIG_IGN || (handler == SIG_DFL && DEFAULT_IGNORE_MASK & bit(sig) != 0)
}

// -------------------------------------------------------------------------
// Per-thread state

/// A thread's alternate signal stack (sigaltstack).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AltStack {
    /// Lowest address.
    pub sp: u64,
    /// Size in bytes (0: none).
    pub size: u64,
    /// The flags as set (`SS_AUTODISARM`, `SS_ONSTACK`, `SS_DISABLE`).
    pub flags: i32,
}

impl AltStack {
    /// True if `sp` lies on the stack (Linux's `__on_sig_stack`).
    pub fn contains(&self, sp: u64) -> bool {
        sp > self.sp && sp - self.sp <= self.size
    }

    /// True if `sp` counts as on the stack (never with SS_AUTODISARM).
    pub fn on_stack(&self, sp: u64) -> bool {
        self.flags & SS_AUTODISARM == 0 && self.contains(sp)
    }

    /// `SS_DISABLE` without a stack, `SS_ONSTACK` while on it, else 0
    /// (Linux's `sas_ss_flags`).
    pub fn ss_flags(&self, sp: u64) -> i32 {
        if self.size == 0 {
            SS_DISABLE
        } else if self.on_stack(sp) {
            SS_ONSTACK
        } else {
            0
        }
    }

    /// No alternate stack (Linux's `sas_ss_reset`).
    pub fn reset(&mut self) {
        *self = AltStack {
            sp: 0,
            size: 0,
            flags: SS_DISABLE,
        };
    }
}

/// The trap details a frame's `sigcontext` reports (Linux keeps them per
/// thread and reports the last fault's in every frame).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultRegs {
    /// The x86 exception vector (14 for a page fault).
    pub trapno: u64,
    /// The exception's error code.
    pub err: u64,
    /// The faulting address of the last page fault.
    pub cr2: u64,
}

/// How `restart_syscall` resumes an interrupted call (Linux's
/// `restart_block`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartBlock {
    /// nanosleep / relative clock_nanosleep: sleep until the monotonic
    /// `deadline_ns`, reporting the time left to `rem` if interrupted
    /// again.
    Sleep {
        /// Monotonic deadline.
        deadline_ns: u64,
        /// User address of the remaining-time timespec (0: none).
        rem: u64,
    },
}

/// FP state for the run loop to load before the next switch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FpRestore {
    /// The initial state.
    Reset,
    /// This XSAVE image.
    Image(Vec<u8>),
}

/// The signal state only its own thread touches.
#[derive(Clone, Debug, Default)]
pub struct TaskSignals {
    /// The alternate signal stack.
    pub altstack: AltStack,
    /// The mask to restore once a signal has been handled (sigsuspend).
    pub saved_mask: Option<u64>,
    /// How to resume a call that returned ERESTART_RESTARTBLOCK.
    pub restart: Option<RestartBlock>,
    /// FP state rt_sigreturn found, loaded before the next switch.
    pub fp_restore: Option<FpRestore>,
    /// The FP state at a clone / fork / vfork, read by the run loop before
    /// dispatching it, for the child to start with (as Linux copies it).
    pub fork_fp: Option<Vec<u8>>,
    /// Trap details reported in frames.
    pub fault: FaultRegs,
    /// Size of the FP image when the last frame was built (0: none yet).
    pub fp_size: usize,
    /// XSAVE features the images so far showed in use or supported.
    pub fp_features: u64,
    /// MXCSR_MASK of that image.
    pub fp_mxcsr_mask: u32,
    attached: bool,
}

impl TaskSignals {
    /// The state a forked child starts with: the alternate stack and what
    /// is known of the FP layout are inherited; nothing is pending.
    pub fn fork_child(&self) -> TaskSignals {
        TaskSignals {
            altstack: self.altstack,
            fault: self.fault,
            fp_size: self.fp_size,
            fp_features: self.fp_features,
            fp_mxcsr_mask: self.fp_mxcsr_mask,
            ..TaskSignals::default()
        }
    }

    /// The state of a new thread (CLONE_THREAD / CLONE_VM): as a forked
    /// child's, but without the alternate stack, which belongs to the
    /// creating thread's stack (Linux clears it for CLONE_VM).
    pub fn new_thread(&self) -> TaskSignals {
        let mut s = self.fork_child();
        s.altstack = AltStack::default();
        s
    }

    /// What execve changes: the alternate stack is gone.
    pub fn on_exec(&mut self) {
        self.altstack.sp = 0;
        self.altstack.size = 0;
        self.restart = None;
        self.saved_mask = None;
    }
}

// -------------------------------------------------------------------------
// Per-group state

/// One thread of a group as other threads see it.
pub struct ThreadHandle {
    /// Thread id.
    pub tid: Pid,
    /// Signals sent to this thread alone (tkill, faults).
    pub pending: SigQueue,
    /// The thread's blocked mask.
    pub mask: u64,
    /// The mask in force before rt_sigtimedwait unblocked the awaited
    /// signals (they are not ignored while it sleeps).
    pub real_blocked: u64,
    /// Ends the thread's blocking calls.
    pub blocker: Option<Arc<dyn Blocker>>,
    /// Takes the thread out of the application.
    pub interrupter: Option<Arc<dyn Interrupter>>,
    /// Real, effective and saved uid (for kill's permission check).
    pub ids: (u32, u32, u32),
    /// Set once the thread has exited.
    pub exited: bool,
}

impl ThreadHandle {
    /// A thread nobody can wake yet.
    pub fn new(tid: Pid) -> ThreadHandle {
        ThreadHandle {
            tid,
            pending: SigQueue::default(),
            mask: 0,
            real_blocked: 0,
            blocker: None,
            interrupter: None,
            ids: (0, 0, 0),
            exited: false,
        }
    }

    fn waker(&self) -> Waker {
        Waker(self.blocker.clone(), self.interrupter.clone())
    }

    fn sync_ids(&mut self, c: &Credentials) {
        self.ids = (c.uid, c.euid, c.suid);
    }
}

/// Wakes one thread: ends its blocking call and its switch.
struct Waker(Option<Arc<dyn Blocker>>, Option<Arc<dyn Interrupter>>);

impl Waker {
    fn fire(self) {
        if let Some(b) = self.0 {
            b.interrupt();
        }
        if let Some(i) = self.1 {
            i.interrupt();
        }
    }
}

/// Interrupts every thread of `tg` but `except` (blocked calls end, running
/// application code traps): used when the group exits, so that each thread
/// sees the group's exit status and ends.
pub fn interrupt_group(tg: &ThreadGroup, except: Pid) {
    let wakers: Vec<Waker> = tg
        .signals
        .lock()
        .threads
        .iter()
        .filter(|t| t.tid != except && !t.exited)
        .map(ThreadHandle::waker)
        .collect();
    for w in wakers {
        w.fire();
    }
}

/// A stop or continue a parent has not collected with wait yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobReport {
    /// Stopped by this signal.
    Stopped(i32),
    /// Continued by SIGCONT.
    Continued,
}

/// Job-control state of a group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobState {
    /// The group is stopped.
    pub stopped: bool,
    /// What wait(WUNTRACED / WCONTINUED) has to report.
    pub report: Option<JobReport>,
}

/// The signal state of a thread group, under one lock.
pub struct GroupState {
    /// Group-wide pending signals (kill).
    pub shared: SigQueue,
    /// The group's threads.
    pub threads: Vec<ThreadHandle>,
    /// Job control.
    pub job: JobState,
    /// init's protection against default-action signals from inside the
    /// sandbox (cleared by a forced fault signal, as Linux does).
    pub unkillable: bool,
    /// The signal the parent gets when the group exits (SIGCHLD, or the
    /// low byte of clone's flags; 0: none).
    pub exit_signal: i32,
}

impl GroupState {
    /// The registry entry of thread `tid`, made if missing.
    pub fn thread(&mut self, tid: Pid) -> &mut ThreadHandle {
        let pos = match self.threads.iter().position(|t| t.tid == tid) {
            Some(p) => p,
            None => {
                self.threads.push(ThreadHandle::new(tid));
                self.threads.len() - 1
            }
        };
        &mut self.threads[pos]
    }

    /// The registry entry of thread `tid`, if it exists.
    pub fn find(&self, tid: Pid) -> Option<&ThreadHandle> {
        self.threads.iter().find(|t| t.tid == tid)
    }

    /// Siginfo entries queued in the whole group.
    pub fn queued(&self) -> usize {
        self.shared.queued()
            + self
                .threads
                .iter()
                .map(|t| t.pending.queued())
                .sum::<usize>()
    }

    /// Signals pending for thread `tid` (its own and the group's).
    pub fn pending_for(&self, tid: Pid) -> u64 {
        self.shared.pending() | self.find(tid).map_or(0, |t| t.pending.pending())
    }

    /// Drops `set` from every queue of the group.
    pub fn discard(&mut self, set: u64) {
        self.shared.discard(set);
        for t in &mut self.threads {
            t.pending.discard(set);
        }
    }
}

/// The signal state of a thread group (see the module docs).
pub struct GroupSignals {
    state: Mutex<GroupState>,
    /// Woken whenever a signal is queued to the group or one of its
    /// threads: the queue signalfd readers sleep on.
    signalfd: crate::vfs::waitq::WaitQueue,
}

impl GroupSignals {
    /// The state of a new group whose leader is thread `pid`; pid 1 is
    /// init and gets init's protection.
    pub fn new(pid: Pid) -> GroupSignals {
        GroupSignals {
            state: Mutex::new(GroupState {
                shared: SigQueue::default(),
                threads: alloc::vec![ThreadHandle::new(pid)],
                job: JobState::default(),
                unkillable: pid == 1,
                exit_signal: SIGCHLD,
            }),
            signalfd: crate::vfs::waitq::WaitQueue::new(),
        }
    }

    /// The queue notified whenever a signal is queued (signalfd, and the
    /// epoll instances watching a signalfd, wait on it).
    pub fn signalfd_queue(&self) -> &crate::vfs::waitq::WaitQueue {
        &self.signalfd
    }

    /// Locks the state. Lock order: a group's signal state before its
    /// `sigactions`, `exit_status` and `rlimits`; never two groups' states
    /// at once.
    pub fn lock(&self) -> MutexGuard<'_, GroupState> {
        self.state.lock()
    }

    /// Sets the signal sent to the parent at exit (clone's low byte).
    pub fn set_exit_signal(&self, sig: i32) {
        self.lock().exit_signal = sig;
    }
}

// -------------------------------------------------------------------------
// Registry upkeep

/// Publishes `task`'s blocker, ids and mask in its group's registry, so
/// that others can signal and wake it. Called when a task is made; the run
/// loop keeps the entry current.
pub fn attach(task: &Task) {
    let mut g = task.tg.signals.lock();
    let th = g.thread(task.tid);
    th.blocker = Some(task.blocker.clone());
    th.mask = task.sigmask;
    th.exited = false;
    th.sync_ids(&task.creds);
}

/// Marks `task`'s registry entry exited and drops its wake handles.
pub fn detach(task: &Task) {
    let mut g = task.tg.signals.lock();
    let th = g.thread(task.tid);
    th.blocker = None;
    th.interrupter = None;
    th.exited = true;
}

/// Sets `task`'s blocked mask (SIGKILL and SIGSTOP are never blocked).
pub fn set_mask(task: &mut Task, mask: u64) {
    let mask = mask & !UNBLOCKABLE;
    task.sigmask = mask;
    task.tg.signals.lock().thread(task.tid).mask = mask;
}

/// True if a signal is pending for `task` that its mask lets through.
pub fn has_deliverable(task: &Task) -> bool {
    task.tg.signals.lock().pending_for(task.tid) & !task.sigmask != 0
}

/// Removes and returns the next pending signal not in `blocked`:
/// thread-private ones first, then the group's.
pub fn dequeue(task: &Task, blocked: u64) -> Option<Siginfo> {
    let mut info = {
        let mut g = task.tg.signals.lock();
        match g.thread(task.tid).pending.take_next(blocked) {
            Some(i) => Some(i),
            None => g.shared.take_next(blocked),
        }
    }?;
    // A POSIX timer's signal reports its overruns (Linux's
    // posixtimer_rearm in dequeue_signal).
    if info.code == SI_TIMER {
        crate::timer::dequeued(&task.tg, &mut info);
    }
    Some(info)
}

// -------------------------------------------------------------------------
// Generation

/// Where a signal goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest {
    /// The whole group (kill): any thread that does not block it.
    Group,
    /// One thread (tkill, tgkill, faults).
    Thread(Pid),
}

/// Sends `info` (whose `signo` is a valid signal) to `tg`. `force` marks a
/// signal from outside the sandbox (it may SIGKILL / SIGSTOP init);
/// `sender` is the sending thread's tid (not woken: it will see the
/// signal before it returns to the application). `EAGAIN` when a
/// real-time signal's siginfo cannot be queued (sigqueue, tkill);
/// `ESRCH` for a thread not in the group. A signal dropped on purpose
/// (ignored, coalesced, group exiting) is a success.
pub fn send(
    kernel: &Kernel,
    tg: &Arc<ThreadGroup>,
    dest: Dest,
    info: Siginfo,
    force: bool,
    sender: Option<Pid>,
) -> Result<(), Errno> {
    let sig = info.signo;
    if !valid(sig) {
        return Err(Errno::EINVAL);
    }
    let b = bit(sig);
    let mut wake: Vec<Waker> = Vec::new();
    let mut continued: Option<u32> = None;
    {
        let mut g = tg.signals.lock();
        if let Dest::Thread(tid) = dest {
            if g.find(tid).is_none() {
                return Err(Errno::ESRCH);
            }
        }
        if tg.exit_status.lock().is_some() {
            return Ok(());
        }
        if b & STOP_MASK != 0 {
            g.discard(bit(SIGCONT));
        } else if sig == SIGCONT {
            g.discard(STOP_MASK);
            if g.job.stopped {
                g.job.stopped = false;
                g.job.report = Some(JobReport::Continued);
                continued = Some(g.threads.first().map_or(0, |t| t.ids.0));
                wake.extend(g.threads.iter().map(ThreadHandle::waker));
            }
        }
        let handler = tg.sigactions.lock()[(sig - 1) as usize].handler;
        let target = match dest {
            Dest::Thread(tid) => g.find(tid),
            Dest::Group => g.threads.first(),
        };
        let blocked = target.map_or(0, |t| t.mask | t.real_blocked);
        if blocked & b != 0 || !ignored_by(handler, sig, g.unkillable, force) {
            let total = g.queued() as u64;
            let limit = tg.rlimit(RLIMIT_SIGPENDING);
            let q = match dest {
                Dest::Thread(tid) => &mut g.thread(tid).pending,
                Dest::Group => &mut g.shared,
            };
            if !q.coalesces(sig) {
                let keep = if sig == SIGKILL {
                    false
                } else if (sig < SIGRTMIN && info.code >= 0) || total < limit {
                    true
                } else if sig >= SIGRTMIN && info.code != SI_USER {
                    return Err(Errno::EAGAIN);
                } else {
                    false
                };
                q.push(info, keep);
                // complete_signal: wake a thread that wants it; a fatal
                // signal or SIGKILL wakes them all.
                let wants = |t: &ThreadHandle| !t.exited && (sig == SIGKILL || t.mask & b == 0);
                let fatal = sig == SIGKILL
                    || (handler == SIG_DFL
                        && matches!(
                            default_action(sig),
                            DefaultAction::Terminate | DefaultAction::Core
                        ));
                match dest {
                    Dest::Thread(tid) => {
                        if let Some(t) = g.find(tid).filter(|t| wants(t)) {
                            wake.push(t.waker());
                        }
                    }
                    Dest::Group => {
                        if let Some(t) = g.threads.iter().find(|t| wants(t)) {
                            if fatal {
                                wake.extend(g.threads.iter().map(ThreadHandle::waker));
                            } else {
                                wake.push(t.waker());
                            }
                        }
                    }
                }
                if let Some(me) = sender {
                    // The sender sees its own signals before returning.
                    if g.threads.len() == 1 && g.threads[0].tid == me {
                        wake.clear();
                    }
                }
            }
        }
    }
    for w in wake {
        w.fire();
    }
    // signalfd readers (and epoll instances watching them) re-check.
    tg.signals.signalfd.notify();
    if let Some(uid) = continued {
        notify_parent_cldstop(kernel, tg, CLD_CONTINUED, SIGCONT, uid);
    }
    Ok(())
}

/// The siginfo of kill / tkill from `task`: `code` (SI_USER, SI_TKILL),
/// the sender's pid and real uid.
pub fn user_info(task: &Task, sig: i32, code: i32) -> Siginfo {
    let mut i = Siginfo {
        signo: sig,
        code,
        ..Siginfo::default()
    };
    i.fields[0] = (task.pid() as u32 as u64) | ((task.creds.uid as u64) << 32);
    i
}

/// Sends `sig` to process `pid` from outside the sandbox (the runtime
/// forwarding a host signal): si_pid 0, SI_USER, and SIGKILL / SIGSTOP
/// reach even init.
pub fn kill_from_host(kernel: &Kernel, pid: Pid, sig: i32) -> Result<(), Errno> {
    if !valid(sig) {
        return Err(Errno::EINVAL);
    }
    let tg = kernel.thread_group(pid).ok_or(Errno::ESRCH)?;
    let info = Siginfo {
        signo: sig,
        code: SI_USER,
        ..Siginfo::default()
    };
    send(kernel, &tg, Dest::Group, info, true, None)
}

/// Forwards `sig`, sent to the runtime from the host, to the sandbox's
/// process `pid` (its init), as a container runtime with an init shim
/// (`docker run --init`) does: with a handler installed, or ignored, the
/// signal is delivered as [`kill_from_host`] delivers it; with SIG_DFL and
/// a default action that ends the process, the process ends, killed by
/// the signal, although it is init. (Linux itself would let a namespace's
/// init ignore such a signal from an ancestor namespace; the runtime
/// forwarding a host signal stands for the user signalling the command.)
pub fn forward_from_host(kernel: &Kernel, pid: Pid, sig: i32) -> Result<(), Errno> {
    if !valid(sig) {
        return Err(Errno::EINVAL);
    }
    let tg = kernel.thread_group(pid).ok_or(Errno::ESRCH)?;
    let handler = tg.sigactions.lock()[(sig - 1) as usize].handler;
    let fatal = matches!(
        default_action(sig),
        DefaultAction::Terminate | DefaultAction::Core
    );
    if handler == SIG_DFL && fatal && tg.signals.lock().unkillable {
        {
            let mut st = tg.exit_status.lock();
            if st.is_none() {
                *st = Some(ExitStatus::Signaled(sig));
            }
        }
        interrupt_group(&tg, 0);
        return Ok(());
    }
    kill_from_host(kernel, pid, sig)
}

/// SIGKILL to every process of the sandbox but `except` (Linux's
/// `zap_pid_ns_processes` when the namespace's init exits; `except` is
/// init).
pub fn kill_all(kernel: &Kernel, except: Pid) {
    let groups: Vec<Arc<ThreadGroup>> = kernel
        .processes()
        .into_iter()
        .filter(|g| g.pid != except)
        .collect();
    let info = Siginfo {
        signo: SIGKILL,
        code: SI_USER,
        ..Siginfo::default()
    };
    for g in groups {
        let _ = send(kernel, &g, Dest::Group, info, true, None);
    }
}

/// Queues a signal `task` cannot escape (Linux's
/// `force_sig_info_to_task`): if blocked or ignored it is unblocked and
/// its disposition reset to SIG_DFL (always, with `fatal`); with SIG_DFL,
/// init loses its protection.
pub fn force(task: &mut Task, info: Siginfo, fatal: bool) {
    let sig = info.signo;
    if !valid(sig) {
        return;
    }
    let blocked = task.sigmask & bit(sig) != 0;
    let dfl = {
        let mut sa = task.tg.sigactions.lock();
        let a = &mut sa[(sig - 1) as usize];
        if blocked || fatal || a.handler == SIG_IGN {
            a.handler = SIG_DFL;
        }
        a.handler == SIG_DFL
    };
    if blocked {
        let m = task.sigmask & !bit(sig);
        set_mask(task, m);
    }
    let mut g = task.tg.signals.lock();
    if dfl {
        g.unkillable = false;
    }
    g.thread(task.tid).pending.push(info, true);
}

fn force_fault(task: &mut Task, sig: i32, code: i32, addr: u64) {
    let sig = if valid(sig) { sig } else { SIGSEGV };
    let mut info = Siginfo {
        signo: sig,
        code,
        ..Siginfo::default()
    };
    info.fields[0] = addr;
    force(task, info, false);
}

/// A page fault core could not resolve (`err` from `handle_fault`):
/// SIGSEGV (SEGV_MAPERR outside any mapping, SEGV_ACCERR against its
/// protection) or SIGBUS (BUS_ADRERR past the end of a file), with
/// si_addr = `addr`.
pub fn page_fault(task: &mut Task, addr: u64, access: Access, err: Errno) {
    let (sig, code) = match err {
        Errno::EIO => (SIGBUS, BUS_ADRERR),
        Errno::EACCES => (SIGSEGV, SEGV_ACCERR),
        _ => (SIGSEGV, SEGV_MAPERR),
    };
    // The page-fault error code: user mode, write, instruction fetch,
    // and "present" for a protection fault.
    let mut ec = 4;
    match access {
        Access::Write => ec |= 2,
        Access::Exec => ec |= 0x10,
        Access::Read => {}
    }
    if code == SEGV_ACCERR || sig == SIGBUS {
        ec |= 1;
    }
    task.signals.fault = FaultRegs {
        trapno: 14,
        err: ec,
        cr2: addr,
    };
    force_fault(task, sig, code, addr);
}

/// Any other synchronous exception, as the platform reported it.
pub fn exception(task: &mut Task, signo: i32, code: i32, addr: u64) {
    let trapno = match signo {
        // #DE for integer division, #XM for SSE.
        SIGFPE if code <= 2 => 0,
        SIGFPE => 19,
        SIGILL => 6,
        // int3 (#BP), else #DB.
        SIGTRAP if code == SI_KERNEL || code == TRAP_BRKPT => 3,
        SIGTRAP => 1,
        // #GP.
        _ => 13,
    };
    task.signals.fault.trapno = trapno;
    task.signals.fault.err = 0;
    force_fault(task, signo, code, addr);
}

// -------------------------------------------------------------------------
// Delivery

/// The delivery point, run by `Kernel::run` before every switch into the
/// application: loads FP state rt_sigreturn asked for, keeps the task's
/// registry entry current, waits while the group is stopped, delivers
/// pending signals (running default actions or building handler frames)
/// and settles an interrupted system call (EINTR or restart).
///
/// Returns false if the task must not switch now: the group is exiting,
/// or it is stopped (the loop comes back here after a wake-up).
pub fn before_switch(task: &mut Task, ctx: &mut dyn Context) -> bool {
    if task.tg.exit_status.lock().is_some() {
        return false;
    }
    if let Some(fp) = task.signals.fp_restore.take() {
        let _ = match fp {
            FpRestore::Reset => ctx.reset_fp_state(),
            FpRestore::Image(img) => ctx.set_fp_state(&img),
        };
    }
    let first = !task.signals.attached;
    let quiet = {
        let mut g = task.tg.signals.lock();
        let stopped = g.job.stopped;
        let pending = g.pending_for(task.tid);
        let th = g.thread(task.tid);
        th.mask = task.sigmask;
        if th.ids != (task.creds.uid, task.creds.euid, task.creds.suid) {
            th.sync_ids(&task.creds);
        }
        if first {
            th.blocker = Some(task.blocker.clone());
            th.interrupter = Some(ctx.interrupter());
            th.exited = false;
        }
        !stopped && pending & !task.sigmask == 0
    };
    task.signals.attached = true;
    if quiet {
        finish_without_handler(task);
        return true;
    }
    deliver(task, ctx)
}

fn deliver(task: &mut Task, ctx: &mut dyn Context) -> bool {
    let mut handled = false;
    let mut dequeued = false;
    let mut drained = false;
    loop {
        if task.tg.exit_status.lock().is_some() {
            return false;
        }
        {
            let g = task.tg.signals.lock();
            if g.job.stopped && g.pending_for(task.tid) & bit(SIGKILL) == 0 {
                drop(g);
                let _ = task.blocker.block(None);
                return false;
            }
        }
        let Some(info) = dequeue(task, task.sigmask) else {
            if dequeued && !drained {
                // The wake-ups sent for what was just dequeued are stale:
                // drop them, then look again (a signal sent meanwhile is
                // delivered now, or its wake-up came after the drain).
                drain(&*task.blocker);
                drained = true;
                continue;
            }
            break;
        };
        dequeued = true;
        let sig = info.signo;
        let idx = (sig - 1) as usize;
        let act = {
            let mut sa = task.tg.sigactions.lock();
            let act = sa[idx];
            if act.handler > SIG_IGN && act.flags & SA_RESETHAND != 0 {
                sa[idx].handler = SIG_DFL;
            }
            act
        };
        match act.handler {
            SIG_IGN => continue,
            SIG_DFL => {
                let unkillable = task.tg.signals.lock().unkillable;
                match default_action(sig) {
                    DefaultAction::Ignore | DefaultAction::Continue => continue,
                    _ if unkillable && UNBLOCKABLE & bit(sig) == 0 => continue,
                    DefaultAction::Stop => {
                        if sig != SIGSTOP && pgrp_orphaned(task) {
                            continue;
                        }
                        group_stop(task, sig);
                        continue;
                    }
                    DefaultAction::Terminate | DefaultAction::Core => {
                        log_signal(task, &info);
                        if task.kernel.options.strace {
                            task.kernel.logger.line(&format!(
                                "[pid {}] +++ killed by {} +++",
                                task.tid,
                                name(sig)
                            ));
                        }
                        task.exit_group(ExitStatus::Signaled(sig));
                        wake_others(task);
                        return false;
                    }
                }
            }
            _ => {
                log_signal(task, &info);
                syscall_restart(task, Some(&act));
                let saved = task.signals.saved_mask.take();
                let save = saved.unwrap_or(task.sigmask);
                match frame::setup(task, ctx, &info, &act, save) {
                    Ok(()) => {
                        handled = true;
                        let mut m = task.sigmask | act.mask;
                        if act.flags & SA_NODEFER == 0 {
                            m |= bit(sig);
                        }
                        set_mask(task, m);
                        if task.signals.altstack.flags & SS_AUTODISARM != 0 {
                            task.signals.altstack.reset();
                        }
                    }
                    Err(_) => {
                        task.signals.saved_mask = saved;
                        let info = Siginfo {
                            signo: SIGSEGV,
                            code: SI_KERNEL,
                            ..Siginfo::default()
                        };
                        force(task, info, sig == SIGSEGV);
                    }
                }
            }
        }
    }
    if !handled {
        finish_without_handler(task);
    }
    true
}

/// Ends pending wake-ups of `b` (a few at most).
fn drain(b: &dyn Blocker) {
    for _ in 0..4 {
        if b.block(Some(0)) == WakeReason::TimedOut {
            break;
        }
    }
}

/// No handler runs: an interrupted call restarts and sigsuspend's mask
/// comes back.
fn finish_without_handler(task: &mut Task) {
    syscall_restart(task, None);
    if let Some(m) = task.signals.saved_mask.take() {
        set_mask(task, m);
    }
}

/// Settles a system call that returned one of the `ERESTART*` errnos:
/// with a handler `act`, EINTR or (SA_RESTART / ERESTARTNOINTR) a
/// restart; without one, always a restart (`restart_syscall` for
/// ERESTART_RESTARTBLOCK).
pub fn syscall_restart(task: &mut Task, act: Option<&KernelSigaction>) {
    let r = &mut task.cpu.regs;
    if r.orig_rax == u64::MAX {
        return;
    }
    let err = (r.rax as i64).wrapping_neg();
    let code = |e: Errno| e as i64;
    let eintr = (-(Errno::EINTR as i64)) as u64;
    let restart_same = err == code(Errno::ERESTARTNOINTR)
        || err == code(Errno::ERESTARTSYS)
        || err == code(Errno::ERESTARTNOHAND);
    let restart_block = err == code(Errno::ERESTART_RESTARTBLOCK);
    if !restart_same && !restart_block {
        return;
    }
    match act {
        Some(a) => {
            if restart_block
                || err == code(Errno::ERESTARTNOHAND)
                || (err == code(Errno::ERESTARTSYS) && a.flags & SA_RESTART == 0)
            {
                r.rax = eintr;
            } else {
                r.rax = r.orig_rax;
                r.rip = r.rip.wrapping_sub(2);
            }
        }
        None => {
            r.rax = if restart_block {
                veil_abi::sysno::RESTART_SYSCALL
            } else {
                r.orig_rax
            };
            r.rip = r.rip.wrapping_sub(2);
        }
    }
    r.orig_rax = u64::MAX;
}

fn log_signal(task: &Task, info: &Siginfo) {
    if !task.kernel.options.strace {
        return;
    }
    let n = name(info.signo);
    let detail = if SYNCHRONOUS_MASK & bit(info.signo) != 0 && info.code > 0 {
        format!("si_code={}, si_addr={:#x}", info.code, info.fields[0])
    } else {
        format!(
            "si_code={}, si_pid={}, si_uid={}",
            info.code,
            info.fields[0] as u32 as i32,
            (info.fields[0] >> 32) as u32
        )
    };
    task.kernel.logger.line(&format!(
        "[pid {}] --- {n} {{si_signo={n}, {detail}}} ---",
        task.tid
    ));
}

/// Interrupts the group's other threads (they must notice an exit or a
/// stop).
fn wake_others(task: &Task) {
    let wake: Vec<Waker> = task
        .tg
        .signals
        .lock()
        .threads
        .iter()
        .filter(|t| t.tid != task.tid)
        .map(ThreadHandle::waker)
        .collect();
    for w in wake {
        w.fire();
    }
}

// -------------------------------------------------------------------------
// Job control and the parent

/// Stops the group for `sig` and tells the parent.
fn group_stop(task: &mut Task, sig: i32) {
    {
        let mut g = task.tg.signals.lock();
        g.job.stopped = true;
        g.job.report = Some(JobReport::Stopped(sig));
    }
    wake_others(task);
    notify_parent_cldstop(&task.kernel, &task.tg, CLD_STOPPED, sig, task.creds.uid);
}

/// True if `task`'s process group is orphaned: no member has a parent in
/// another process group of the same session (Linux's
/// `is_current_pgrp_orphaned`).
fn pgrp_orphaned(task: &Task) -> bool {
    let pgid = *task.tg.pgid.lock();
    pgrp_is_orphaned(&task.kernel, pgid)
}

/// True if process group `pgid` is orphaned (Linux's
/// `will_become_orphaned_pgrp(pgrp, NULL)`).
pub fn pgrp_is_orphaned(kernel: &Kernel, pgid: Pid) -> bool {
    for p in kernel.processes() {
        if *p.pgid.lock() != pgid || p.dead.load(Ordering::Acquire) {
            continue;
        }
        let ppid = *p.ppid.lock();
        let Some(parent) = kernel.thread_group(ppid) else {
            continue;
        };
        let sid = *p.sid.lock();
        if *parent.pgid.lock() != pgid && *parent.sid.lock() == sid {
            return false;
        }
    }
    true
}

fn chld_info(sig: i32, code: i32, pid: Pid, uid: u32, status: i32) -> Siginfo {
    let mut i = Siginfo {
        signo: sig,
        code,
        ..Siginfo::default()
    };
    i.fields[0] = (pid as u32 as u64) | ((uid as u64) << 32);
    i.fields[1] = status as u32 as u64;
    i
}

/// Tells `tg`'s parent that it stopped or continued: SIGCHLD unless the
/// parent ignores it or set SA_NOCLDSTOP, and a wake-up for its waits.
fn notify_parent_cldstop(kernel: &Kernel, tg: &ThreadGroup, why: i32, status: i32, uid: u32) {
    let ppid = *tg.ppid.lock();
    let Some(parent) = kernel.thread_group(ppid) else {
        return;
    };
    let act = parent.sigactions.lock()[(SIGCHLD - 1) as usize];
    if act.handler != SIG_IGN && act.flags & SA_NOCLDSTOP == 0 {
        let info = chld_info(SIGCHLD, why, tg.pid, uid, status);
        let _ = send(kernel, &parent, Dest::Group, info, false, None);
    }
    parent.wake_child_waiters();
}

/// Decides, as `tg` exits, whether its parent reaps it at once (the
/// parent's SIGCHLD is SIG_IGN or has SA_NOCLDWAIT, and the exit signal
/// is SIGCHLD); if so, removes it from the parent's children and the
/// kernel's table. Called before the group is marked dead.
pub fn autoreap(kernel: &Kernel, tg: &Arc<ThreadGroup>, parent: &ThreadGroup) -> bool {
    if tg.signals.lock().exit_signal != SIGCHLD {
        return false;
    }
    let act = parent.sigactions.lock()[(SIGCHLD - 1) as usize];
    if act.handler != SIG_IGN && act.flags & SA_NOCLDWAIT == 0 {
        return false;
    }
    parent.children.lock().retain(|c| !Arc::ptr_eq(c, tg));
    kernel.thread_groups.lock().remove(&tg.pid);
    true
}

/// Tells `parent` that group `tg` (last run by user `uid`) exited (Linux's
/// `do_notify_parent`): its exit signal with CLD_EXITED or CLD_KILLED
/// (not sent if that is SIGCHLD and the parent ignores it), and a wake-up
/// for the parent's waits.
pub fn notify_parent_exit(kernel: &Kernel, tg: &ThreadGroup, uid: u32, parent: &Arc<ThreadGroup>) {
    let sig = tg.signals.lock().exit_signal;
    let st = tg.exit_status.lock().unwrap_or(ExitStatus::Exited(0));
    let (code, status) = match st {
        ExitStatus::Exited(c) => (CLD_EXITED, c & 0xff),
        ExitStatus::Signaled(s) => (CLD_KILLED, s),
    };
    let ignored =
        sig == SIGCHLD && parent.sigactions.lock()[(SIGCHLD - 1) as usize].handler == SIG_IGN;
    if valid(sig) && !ignored {
        let info = chld_info(sig, code, tg.pid, uid, status);
        let _ = send(kernel, parent, Dest::Group, info, false, None);
    }
    parent.wake_child_waiters();
}

/// A stop or continue of `child` for wait: with `stopped`
/// (WUNTRACED) a stop, with `continued` (WCONTINUED) a continue; taken
/// unless `keep` (WNOWAIT).
pub fn take_wait_report(
    child: &ThreadGroup,
    stopped: bool,
    continued: bool,
    keep: bool,
) -> Option<JobReport> {
    let mut g = child.signals.lock();
    let r = g.job.report?;
    let wanted = match r {
        JobReport::Stopped(_) => stopped && g.job.stopped,
        JobReport::Continued => continued,
    };
    if !wanted {
        return None;
    }
    if !keep {
        g.job.report = None;
    }
    Some(r)
}

// -------------------------------------------------------------------------
// sigaltstack

/// The alternate stack as sigaltstack reports it.
pub fn altstack_report(task: &Task) -> SigaltStack {
    let a = task.signals.altstack;
    SigaltStack {
        sp: a.sp,
        flags: a.ss_flags(task.cpu.regs.rsp) | (a.flags & SS_AUTODISARM),
        pad: 0,
        size: a.size,
    }
}

/// Sets the alternate stack (Linux's `do_sigaltstack`): EPERM while on
/// it, EINVAL for bad flags, ENOMEM below MINSIGSTKSZ.
pub fn do_sigaltstack(task: &mut Task, new: Option<SigaltStack>) -> Result<(), Errno> {
    let Some(ss) = new else {
        return Ok(());
    };
    let cur = task.signals.altstack;
    if cur.on_stack(task.cpu.regs.rsp) {
        return Err(Errno::EPERM);
    }
    let mode = ss.flags & !SS_AUTODISARM;
    if mode != SS_DISABLE && mode != SS_ONSTACK && mode != 0 {
        return Err(Errno::EINVAL);
    }
    if cur.sp == ss.sp && cur.size == ss.size && cur.flags == ss.flags {
        return Ok(());
    }
    let (sp, size) = if mode == SS_DISABLE {
        (0, 0)
    } else {
        if ss.size < MINSIGSTKSZ {
            return Err(Errno::ENOMEM);
        }
        (ss.sp, ss.size)
    };
    task.signals.altstack = AltStack {
        sp,
        size,
        flags: ss.flags,
    };
    Ok(())
}
