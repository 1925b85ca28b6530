//! Process management state that lives beside the task model: CPU-time
//! accounting, scheduling parameters, the child-subreaper flag, the
//! parent-death signal, the "has exec'd" flag setpgid checks, the
//! process's timers ([`crate::timer`]) and the queue a pidfd sleeps on.
//!
//! # CPU time
//!
//! Core cannot read the CPU time of the application itself: the
//! application runs in a stub process (ptrace, systrap) or a guest (kvm).
//! veil counts instead, per thread:
//! - **user time**: the wall-clock time the thread spent inside
//!   [`Context::switch`](crate::platform::Context::switch), i.e. running
//!   application code (it never blocks there: every blocking call traps
//!   into the Sentry). Time the host spends running other work while the
//!   application is runnable counts too.
//! - **system time**: the CPU time of the thread's Sentry host thread
//!   ([`Clock::thread_cpu`](crate::host::Clock::thread_cpu)) since it first
//!   ran the task, sampled when the thread itself asks, every 10 ms of
//!   switches, and when it exits.
//!
//! A running thread's user time is read live (from when it entered the
//! application), so another thread or a timer sees it advance.
//! CLOCK_THREAD_CPUTIME_ID and CLOCK_PROCESS_CPUTIME_ID, getrusage, times
//! and the CPU-time timers (ITIMER_VIRTUAL counts user time, ITIMER_PROF
//! and the CPU-clock POSIX timers user + system time) all use these
//! numbers. A thread's times are added to its process's when it exits, and
//! a process's (with its own reaped children's) to its parent's children
//! totals when the parent reaps it with wait, as Linux does; a child reaped
//! automatically (SIGCHLD ignored) is not counted.
//!
//! `ru_maxrss` is the largest resident size seen: sampled from the memory
//! manager when times are sampled, at getrusage and at exit, so a short
//! peak between samples can be missed.
//!
//! # Scheduling
//!
//! veil has no scheduler of its own: the host schedules the Sentry's
//! threads. The nice value, policy, real-time priority and CPU affinity
//! are kept per thread with Linux's permission rules so that programs see
//! what they set; they do not change how the host runs the thread.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

use spin::Mutex;
use veil_abi::flags::*;
use veil_abi::{Errno, Siginfo, Timespec, PAGE_SIZE};

use crate::kernel::Kernel;
use crate::task::{Pid, Task, ThreadGroup};
use crate::vfs::waitq::WaitQueue;

/// Nanoseconds in a timespec (negative parts count as zero).
pub fn ts_ns(ts: &Timespec) -> u64 {
    (ts.tv_sec.max(0) as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec.clamp(0, 999_999_999) as u64)
}

/// A timespec from a program as nanoseconds (`EINVAL` unless Linux's
/// `timespec64_valid`: no negative seconds, nanoseconds below 10^9).
pub fn valid_ns(ts: &Timespec) -> Result<u64, veil_abi::Errno> {
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(veil_abi::Errno::EINVAL);
    }
    Ok(ts_ns(ts))
}

/// A timespec of `ns` nanoseconds.
pub fn ns_ts(ns: u64) -> Timespec {
    Timespec {
        tv_sec: (ns / 1_000_000_000) as i64,
        tv_nsec: (ns % 1_000_000_000) as i64,
    }
}

/// The sandbox's monotonic time in nanoseconds.
pub fn mono_ns(kernel: &Kernel) -> u64 {
    ts_ns(&kernel.clock.monotonic())
}

/// How often (at most) a thread samples its Sentry CPU time and its
/// process's resident size while it runs.
const SAMPLE_NS: u64 = 10_000_000;

/// CPU times, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Times {
    /// User time.
    pub utime: u64,
    /// System time.
    pub stime: u64,
}

impl Times {
    fn add(&mut self, o: Times) {
        self.utime = self.utime.saturating_add(o.utime);
        self.stime = self.stime.saturating_add(o.stime);
    }

    /// User plus system time.
    pub fn total(&self) -> u64 {
        self.utime.saturating_add(self.stime)
    }
}

/// Resource usage of reaped children (RUSAGE_CHILDREN, `tms_cutime`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChildUsage {
    /// Their CPU times (with their own reaped children's).
    pub times: Times,
    /// The largest `ru_maxrss` among them, in KiB.
    pub maxrss_kb: u64,
}

/// Scheduling parameters of one thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedAttr {
    /// The nice value, -20 ..= 19.
    pub nice: i32,
    /// `SCHED_*` policy.
    pub policy: u32,
    /// Real-time priority (1 ..= 99 for FIFO / RR, else 0).
    pub rt_priority: u32,
    /// SCHED_RESET_ON_FORK.
    pub reset_on_fork: bool,
    /// The CPU mask (bit per CPU); `None` means every CPU.
    pub affinity: Option<Vec<u8>>,
    /// A fair-class thread's own time slice (sched_setattr's
    /// `sched_runtime`), nanoseconds; 0: the default slice.
    pub slice_ns: u64,
    /// The I/O priority as ioprio_set stored it (0: never set, class
    /// NONE); see [`crate::syscalls::sched`].
    pub ioprio: u16,
    /// The execution domain and flags (`personality(2)`); see
    /// [`crate::syscalls::admin`].
    pub personality: u32,
    /// set_mempolicy's policy (`None`: the default); see
    /// [`crate::syscalls::numa`].
    pub mempolicy: Option<crate::syscalls::numa::MemPolicy>,
}

impl Default for SchedAttr {
    fn default() -> Self {
        SchedAttr {
            nice: 0,
            policy: SCHED_NORMAL,
            rt_priority: 0,
            reset_on_fork: false,
            affinity: None,
            slice_ns: 0,
            ioprio: 0,
            personality: 0,
            mempolicy: None,
        }
    }
}

impl SchedAttr {
    /// What a child (process or thread) inherits (SCHED_RESET_ON_FORK
    /// resets a real-time policy and a negative nice value).
    pub fn for_child(&self) -> SchedAttr {
        let mut a = self.clone();
        if a.reset_on_fork {
            if a.policy == SCHED_FIFO || a.policy == SCHED_RR {
                // Linux's sched_fork: a real-time task's child is
                // SCHED_NORMAL at nice 0.
                a.policy = SCHED_NORMAL;
                a.rt_priority = 0;
                a.nice = 0;
            }
            a.nice = a.nice.max(0);
            a.slice_ns = 0;
            a.reset_on_fork = false;
        }
        a
    }
}

/// Accounting and scheduling state of one thread.
#[derive(Clone, Debug, Default)]
struct ThreadState {
    /// User time before the current stay in the application.
    utime: u64,
    /// Monotonic time the thread entered the application, if it is there.
    in_user_since: Option<u64>,
    /// System time at the last sample.
    stime: u64,
    /// The Sentry thread's CPU time when it first ran this task.
    stime_base: Option<u64>,
    /// Monotonic time of the last sample.
    last_sample: u64,
    sched: SchedAttr,
}

impl ThreadState {
    fn times(&self, now: u64) -> Times {
        let live = self.in_user_since.map_or(0, |s| now.saturating_sub(s));
        Times {
            utime: self.utime.saturating_add(live),
            stime: self.stime,
        }
    }
}

/// Process-management state of a thread group (see the module docs).
#[derive(Default)]
pub struct ProcState {
    /// The process has called execve since it was forked (setpgid on it
    /// from its parent then fails with EACCES).
    pub did_exec: AtomicBool,
    /// PR_SET_CHILD_SUBREAPER: orphaned descendants are reparented here
    /// instead of to init.
    pub subreaper: AtomicBool,
    /// PR_SET_PDEATHSIG: the signal the process gets when its parent
    /// exits (0: none). Linux keeps it per thread and sends it when the
    /// parent *thread* exits; veil keeps it per process and sends it when
    /// the parent process exits.
    pub pdeathsig: AtomicI32,
    threads: Mutex<BTreeMap<Pid, ThreadState>>,
    /// Times of the process's exited threads.
    dead: Mutex<Times>,
    /// Reaped children's usage.
    pub children: Mutex<ChildUsage>,
    /// Largest resident size seen, in pages.
    maxrss_pages: AtomicU64,
    /// The process's timers.
    pub timers: crate::timer::ProcTimers,
    /// Woken when the process exits (pidfd poll).
    pub exit_queue: WaitQueue,
    /// membarrier(2) registrations of the address space (Linux's
    /// `membarrier_state` bits; see [`crate::syscalls::membarrier`]).
    pub membarrier: core::sync::atomic::AtomicU32,
    /// PR_SET_DUMPABLE (see [`crate::syscalls::creds::Dumpable`]).
    pub dumpable: crate::syscalls::creds::Dumpable,
    /// mbind's policies of address ranges (see [`crate::syscalls::numa`]).
    pub vma_policies: crate::syscalls::numa::VmaPolicies,
}

impl ProcState {
    /// User and system time of thread `tid` (zero if unknown).
    pub fn thread_times(&self, tid: Pid, now: u64) -> Times {
        self.threads
            .lock()
            .get(&tid)
            .map_or(Times::default(), |t| t.times(now))
    }

    /// The process's user and system time: live threads and exited ones.
    pub fn times(&self, now: u64) -> Times {
        // Lock order: threads, then dead (thread_exit moves a thread's
        // times under both, so the sum never goes back).
        let th = self.threads.lock();
        let mut sum = *self.dead.lock();
        for t in th.values() {
            sum.add(t.times(now));
        }
        sum
    }

    /// Threads of the process in the application right now.
    pub fn running_threads(&self) -> usize {
        self.threads
            .lock()
            .values()
            .filter(|t| t.in_user_since.is_some())
            .count()
    }

    /// The scheduling parameters of thread `tid`.
    pub fn sched(&self, tid: Pid) -> SchedAttr {
        self.threads
            .lock()
            .get(&tid)
            .map(|t| t.sched.clone())
            .unwrap_or_default()
    }

    /// Changes the scheduling parameters of thread `tid`.
    pub fn set_sched(&self, tid: Pid, f: impl FnOnce(&mut SchedAttr)) {
        f(&mut self.threads.lock().entry(tid).or_default().sched)
    }

    /// The largest resident size seen, in KiB.
    pub fn maxrss_kb(&self) -> u64 {
        self.maxrss_pages.load(Ordering::Relaxed) * (PAGE_SIZE / 1024)
    }

    fn note_rss(&self, pages: u64) {
        self.maxrss_pages.fetch_max(pages, Ordering::Relaxed);
    }
}

// -------------------------------------------------------------------------
// Hooks called by the run loop, fork, exec, exit and wait

/// The run loop is about to switch `task` into the application: starts
/// counting user time. Returns the monotonic time for [`user_exit`].
pub fn user_enter(task: &Task) -> u64 {
    let now = mono_ns(&task.kernel);
    let first = {
        let mut th = task.tg.pm.threads.lock();
        let e = th.entry(task.tid).or_default();
        e.in_user_since = Some(now);
        e.stime_base.is_none()
    };
    if first {
        let base = ts_ns(&task.kernel.clock.thread_cpu());
        if let Some(e) = task.tg.pm.threads.lock().get_mut(&task.tid) {
            e.stime_base = Some(base);
            e.last_sample = now;
        }
    }
    crate::timer::cpu_user_enter(&task.kernel, &task.tg);
    now
}

/// The application trapped back into the Sentry after [`user_enter`]:
/// charges the time it ran, and samples system time and the resident size
/// now and then.
pub fn user_exit(task: &Task, start: u64) {
    let now = mono_ns(&task.kernel);
    let sample = {
        let mut th = task.tg.pm.threads.lock();
        let e = th.entry(task.tid).or_default();
        e.utime = e.utime.saturating_add(now.saturating_sub(start));
        e.in_user_since = None;
        now.saturating_sub(e.last_sample) >= SAMPLE_NS
    };
    if sample {
        sample_thread(task, now);
    }
}

/// Reads `task`'s Sentry CPU time and its process's resident size (on the
/// task's own host thread).
pub fn sample_thread(task: &Task, now: u64) {
    let cpu = ts_ns(&task.kernel.clock.thread_cpu());
    if let Some(e) = task.tg.pm.threads.lock().get_mut(&task.tid) {
        let base = *e.stime_base.get_or_insert(cpu);
        e.stime = e.stime.max(cpu.saturating_sub(base));
        e.last_sample = now;
    }
    task.tg.pm.note_rss(task.mm.stats().resident_pages);
}

/// A new thread `tid` of `creator`'s process inherits its scheduling
/// parameters.
pub fn on_new_thread(creator: &Task, tid: Pid) {
    let attr = creator.tg.pm.sched(creator.tid).for_child();
    creator.tg.pm.set_sched(tid, |a| *a = attr);
}

/// A forked process `child` (whose first thread is `child.pid`) inherits
/// the forking thread's scheduling parameters.
pub fn on_fork(parent: &Task, child: &ThreadGroup) {
    let attr = parent.tg.pm.sched(parent.tid).for_child();
    child.pm.set_sched(child.pid, |a| *a = attr);
    // The copied address space keeps its flags (Linux's dup_mm).
    let pm = &parent.tg.pm;
    child
        .pm
        .membarrier
        .store(pm.membarrier.load(Ordering::Acquire), Ordering::Release);
    child.pm.dumpable.set(pm.dumpable.get());
    child.pm.vma_policies.copy_from(&pm.vma_policies);
}

/// execve succeeded in `task`: the process has exec'd, its POSIX timers
/// are deleted, capabilities are recomputed (see
/// [`crate::syscalls::creds`]) and PR_SET_KEEPCAPS is cleared.
pub fn on_exec(task: &mut Task) {
    task.tg.pm.did_exec.store(true, Ordering::Relaxed);
    task.tg.pm.note_rss(task.mm.stats().resident_pages);
    crate::timer::delete_posix_timers(&task.tg);
    crate::syscalls::creds::caps_on_exec(&mut task.creds);
    // A new address space: no membarrier registrations.
    task.tg.pm.membarrier.store(0, Ordering::Release);
    task.tg.pm.vma_policies.clear();
}

/// `task`'s thread is ending: its times join its process's exited times.
pub fn thread_exit(task: &Task) {
    let now = mono_ns(&task.kernel);
    sample_thread(task, now);
    let mut th = task.tg.pm.threads.lock();
    if let Some(st) = th.remove(&task.tid) {
        task.tg.pm.dead.lock().add(st.times(now));
    }
}

/// The whole of `tg` has exited: its timers stop and pidfds see it.
pub fn group_exited(kernel: &Kernel, tg: &ThreadGroup) {
    crate::timer::stop_all(kernel, tg);
    tg.pm.exit_queue.notify();
}

/// `parent` reaped `child` with wait: the child's times (and its reaped
/// children's) join the parent's children totals.
pub fn on_reap(kernel: &Kernel, parent: &ThreadGroup, child: &ThreadGroup) {
    let usage = child_total(kernel, child);
    let mut c = parent.pm.children.lock();
    c.times.add(usage.times);
    c.maxrss_kb = c.maxrss_kb.max(usage.maxrss_kb);
}

/// What a reaped `child` adds to its parent's children totals, and what
/// wait4's rusage reports for it.
pub fn child_total(kernel: &Kernel, child: &ThreadGroup) -> ChildUsage {
    let now = mono_ns(kernel);
    let mut times = child.pm.times(now);
    let theirs = *child.pm.children.lock();
    times.add(theirs.times);
    ChildUsage {
        times,
        maxrss_kb: child.pm.maxrss_kb().max(theirs.maxrss_kb),
    }
}

/// The process that adopts `tg`'s children when it exits: the nearest
/// living ancestor that is a child subreaper, else init (pid 1), else
/// nobody (init itself is exiting). Called under `Kernel::tasklist`, so
/// an ancestor that is exiting either has not reparented its own children
/// yet (and will take these along) or is skipped.
pub fn find_reaper(kernel: &Kernel, tg: &Arc<ThreadGroup>) -> Option<Arc<ThreadGroup>> {
    let mut ppid = *tg.ppid.lock();
    // A chain longer than the process count would be a cycle.
    let count = kernel.thread_groups.lock().len();
    for _ in 0..count {
        if ppid <= 1 {
            break;
        }
        let Some(anc) = kernel.thread_group(ppid) else {
            break;
        };
        if anc.pm.subreaper.load(Ordering::Relaxed)
            && anc.exit_status.lock().is_none()
            && !Arc::ptr_eq(&anc, tg)
        {
            return Some(anc);
        }
        ppid = *anc.ppid.lock();
    }
    kernel.thread_group(1).filter(|i| !Arc::ptr_eq(i, tg))
}

// -------------------------------------------------------------------------
// Parent links
//
// A process's parent link is its `ppid` and its place in the parent's
// `children`. Both change only under `Kernel::tasklist` (Linux's
// tasklist_lock): fork links a child ([`link_child`]); exit reparents the
// orphans and tells the parent ([`exit_notify`]). So an exiting process and
// an exiting child, or an orphan moving to a subreaper that is exiting
// too, never see each other half way: a child's exit is reported to the
// parent that holds it in `children`, and getppid() only ever answers the
// old parent or the reaper. getppid itself reads `ppid` without the lock.

/// Links the new process `child` under its parent (`creator`'s process,
/// or with CLONE_PARENT `creator`'s parent as it is now) and returns that
/// parent.
pub fn link_child(
    kernel: &Kernel,
    creator: &Task,
    child: &Arc<ThreadGroup>,
    clone_parent: bool,
) -> Arc<ThreadGroup> {
    let _order = kernel.tasklist.lock();
    let parent = if clone_parent {
        kernel
            .thread_group(*creator.tg.ppid.lock())
            .unwrap_or_else(|| creator.tg.clone())
    } else {
        creator.tg.clone()
    };
    *child.ppid.lock() = parent.pid;
    parent.children.lock().push(child.clone());
    parent
}

/// The last thread of `task`'s process has gone (Linux's `exit_notify`):
/// its children go to the reaper, then the group becomes a zombie and its
/// parent is told (or reaps it at once), all in one step under
/// `Kernel::tasklist`.
pub fn exit_notify(kernel: &Kernel, task: &Task) {
    let tg = &task.tg;
    let _order = kernel.tasklist.lock();
    reparent_children(kernel, tg, task.creds.uid);
    let parent = kernel.thread_group(*tg.ppid.lock());
    // SIGCHLD ignored or SA_NOCLDWAIT: the parent never sees a zombie.
    if let Some(p) = &parent {
        crate::signal::autoreap(kernel, tg, p);
    }
    tg.dead.store(true, Ordering::Release);
    group_exited(kernel, tg);
    match parent {
        Some(parent) => crate::signal::notify_parent_exit(kernel, tg, task.creds.uid, &parent),
        None => {
            kernel.thread_groups.lock().remove(&tg.pid);
        }
    }
}

/// Moves the children of the exiting `tg` (run by user `uid`) to their
/// reaper (Linux's `forget_original_parent` and `reparent_leader`): each
/// joins the reaper's children before its `ppid` names the reaper, so a
/// child that sees the new parent can be waited for by it; each exits to
/// SIGCHLD from now on; a child that is already a zombie is reported to
/// the reaper (which may reap it at once); then the children get their
/// parent-death signal, with the new parent in place for a handler's
/// getppid(). With no reaper (init is exiting) they are dropped.
fn reparent_children(kernel: &Kernel, tg: &Arc<ThreadGroup>, uid: u32) {
    let orphans: Vec<Arc<ThreadGroup>> = core::mem::take(&mut *tg.children.lock());
    if orphans.is_empty() {
        return;
    }
    let Some(reaper) = find_reaper(kernel, tg) else {
        let mut groups = kernel.thread_groups.lock();
        for o in orphans {
            groups.remove(&o.pid);
        }
        return;
    };
    for o in &orphans {
        reaper.children.lock().push(o.clone());
        *o.ppid.lock() = reaper.pid;
        o.signals.set_exit_signal(SIGCHLD);
    }
    for o in orphans.iter().filter(|o| o.dead.load(Ordering::Acquire)) {
        crate::signal::autoreap(kernel, o, &reaper);
        let child_uid = o.signals.lock().threads.first().map_or(uid, |th| th.ids.0);
        crate::signal::notify_parent_exit(kernel, o, child_uid, &reaper);
    }
    reaper.wake_child_waiters();
    send_pdeath_signals(kernel, tg, uid, &orphans);
}

/// Sends each orphan of the exited `parent` its parent-death signal
/// (PR_SET_PDEATHSIG), as from the parent (SI_USER, its pid and uid).
/// Called once the orphans have their new parent.
pub fn send_pdeath_signals(
    kernel: &Kernel,
    parent: &ThreadGroup,
    uid: u32,
    orphans: &[Arc<ThreadGroup>],
) {
    for o in orphans {
        if o.dead.load(Ordering::Acquire) {
            continue;
        }
        let sig = o.pm.pdeathsig.load(Ordering::Relaxed);
        if !crate::signal::valid(sig) {
            continue;
        }
        let mut info = Siginfo {
            signo: sig,
            code: SI_USER,
            ..Siginfo::default()
        };
        info.fields[0] = (parent.pid as u32 as u64) | ((uid as u64) << 32);
        let _ = crate::signal::send(kernel, o, crate::signal::Dest::Group, info, false, None);
    }
}

/// execve in a multi-threaded process (Linux's de_thread): every other
/// thread ends, then the exec'ing thread takes over the process id if it
/// was not the leader. Fails (and leaves the group as it was, apart from
/// threads already gone) if the group starts exiting meanwhile, or if
/// another thread is already exec'ing (that one wins; this one ends).
pub fn de_thread(task: &mut Task) -> Result<(), Errno> {
    let tg = task.tg.clone();
    if tg.live_threads.load(Ordering::Acquire) <= 1 {
        return Ok(());
    }
    if tg
        .exec_tid
        .compare_exchange(0, task.tid as u32, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return Err(Errno::EAGAIN);
    }
    crate::signal::interrupt_group(&tg, task.tid);
    // The others notice at their next check and end; their host threads
    // count down live_threads. Poll for it: exec from a threaded program
    // is rare, and a thread leaves within one check.
    while tg.live_threads.load(Ordering::Acquire) > 1 {
        if tg.exit_status.lock().is_some() {
            tg.exec_tid.store(0, Ordering::Release);
            return Err(Errno::EINTR);
        }
        let deadline = mono_ns(&task.kernel) + 200_000;
        let _ = task.blocker.block(Some(deadline));
    }
    if task.tid != tg.pid {
        take_leader_pid(task);
    }
    tg.exec_tid.store(0, Ordering::Release);
    Ok(())
}

/// True if another thread of `task`'s group is exec'ing: this one must end.
pub fn killed_by_exec(task: &Task) -> bool {
    let e = task.tg.exec_tid.load(Ordering::Acquire);
    e != 0 && e != task.tid as u32
}

/// The exec'ing thread of a group whose leader is gone becomes the leader:
/// its tid becomes the process id in every registry.
fn take_leader_pid(task: &mut Task) {
    let (old, pid) = (task.tid, task.tg.pid);
    {
        let mut th = task.tg.pm.threads.lock();
        th.remove(&pid);
        if let Some(st) = th.remove(&old) {
            th.insert(pid, st);
        }
    }
    {
        let mut g = task.tg.signals.lock();
        g.threads.retain(|h| h.tid != pid);
        if let Some(h) = g.threads.iter_mut().find(|h| h.tid == old) {
            h.tid = pid;
        }
    }
    task.kernel.thread_groups.lock().remove(&old);
    task.tid = pid;
}

#[cfg(test)]
mod tests {
    use alloc::sync::Arc;
    use alloc::vec::Vec;

    use veil_abi::flags::{SIGCHLD, SIGUSR1, SIG_IGN};

    use crate::fake::TestBed;
    use crate::task::{Credentials, ExitStatus, Task};

    /// A registered task that is a child of `parent` (as fork links it).
    fn child_of(tb: &TestBed, parent: &Task) -> Task {
        let t = tb.task_as(Credentials::new(0, 0, Vec::new()));
        tb.kernel.register(&t.tg);
        super::link_child(&tb.kernel, parent, &t.tg, false);
        t
    }

    /// init (pid 1), p (its child), mid (p's child), orphan (mid's child).
    fn family(tb: &TestBed) -> (Task, Task, Task, Task) {
        let init = tb.task();
        tb.kernel.register(&init.tg);
        assert_eq!(init.pid(), 1);
        // A SIGCHLD handler: init gets no signal left at SIG_DFL.
        init.tg.sigactions.lock()[(SIGCHLD - 1) as usize].handler = 0x1000;
        let p = child_of(tb, &init);
        let mid = child_of(tb, &p);
        let orphan = child_of(tb, &mid);
        (init, p, mid, orphan)
    }

    fn exit(tb: &TestBed, t: &mut Task) {
        t.exit_group(ExitStatus::Exited(0));
        tb.kernel.exit_task(t);
    }

    fn has_child(parent: &Task, child: &Task) -> bool {
        parent
            .tg
            .children
            .lock()
            .iter()
            .any(|c| Arc::ptr_eq(c, &child.tg))
    }

    #[test]
    fn a_zombie_orphan_is_reported_to_its_reaper() {
        let tb = TestBed::new();
        let (init, p, mut mid, mut orphan) = family(&tb);
        orphan.tg.signals.set_exit_signal(SIGUSR1);
        exit(&tb, &mut orphan);
        let sig = crate::signal::dequeue(&mid, 0).expect("mid told");
        assert_eq!(sig.signo, SIGUSR1);
        exit(&tb, &mut mid);
        assert_eq!(*orphan.tg.ppid.lock(), 1);
        assert!(has_child(&init, &orphan), "the zombie is init's to reap");
        // Linux's reparent_leader: the adopted zombie is reported to the
        // reaper with SIGCHLD, its exit signal from now on.
        let info = crate::signal::dequeue(&init, 0).expect("init told of the zombie");
        assert_eq!(info.signo, SIGCHLD);
        assert_eq!(info.fields[0] as u32 as i32, orphan.pid());
        assert_eq!(orphan.tg.signals.lock().exit_signal, SIGCHLD);
        assert!(has_child(&p, &mid), "mid is p's zombie");
    }

    #[test]
    fn a_reaper_ignoring_sigchld_reaps_an_adopted_zombie_at_once() {
        let tb = TestBed::new();
        let (init, _p, mut mid, mut orphan) = family(&tb);
        init.tg.sigactions.lock()[(SIGCHLD - 1) as usize].handler = SIG_IGN;
        exit(&tb, &mut orphan);
        exit(&tb, &mut mid);
        assert!(!has_child(&init, &orphan));
        assert!(tb.kernel.thread_group(orphan.pid()).is_none());
        assert!(crate::signal::dequeue(&init, 0).is_none());
    }

    /// Ends `a` and `b` (their groups) on two host threads at once, each
    /// `exit_group` first and then, past a barrier, `exit_task`.
    fn exit_together(kernel: &Arc<crate::Kernel>, mut a: Task, mut b: Task) {
        let go = Arc::new(std::sync::Barrier::new(2));
        let (k1, k2, g1) = (kernel.clone(), kernel.clone(), go.clone());
        let ta = std::thread::spawn(move || {
            a.exit_group(ExitStatus::Exited(0));
            g1.wait();
            k1.exit_task(&mut a);
        });
        let tb = std::thread::spawn(move || {
            b.exit_group(ExitStatus::Exited(0));
            go.wait();
            k2.exit_task(&mut b);
        });
        ta.join().unwrap();
        tb.join().unwrap();
    }

    /// A child exiting while its parent exits, on two host threads: the
    /// child's exit always reaches the process that ends up holding it
    /// (init), whichever goes first. (A smoke test for lock order and the
    /// outcome: the window it guards is a few instructions wide, and two
    /// threads rarely hit it here.)
    #[test]
    fn a_child_exit_racing_its_parent_exit_reaches_the_reaper() {
        for round in 0..200 {
            let tb = TestBed::new();
            let (init, _p, mid, orphan) = family(&tb);
            let orphan_tg = orphan.tg.clone();
            let orphan_pid = orphan.pid();
            exit_together(&tb.kernel, mid, orphan);
            assert_eq!(*orphan_tg.ppid.lock(), 1, "round {round}");
            assert!(
                init.tg
                    .children
                    .lock()
                    .iter()
                    .any(|c| Arc::ptr_eq(c, &orphan_tg)),
                "round {round}: init holds the zombie"
            );
            let info = crate::signal::dequeue(&init, 0);
            assert_eq!(
                info.map(|i| (i.signo, i.fields[0] as u32 as i32)),
                Some((SIGCHLD, orphan_pid)),
                "round {round}: init is told"
            );
        }
    }

    /// An orphan moving to a subreaper that exits at the same time is
    /// never left with a parent that is gone: it ends under the
    /// subreaper's reaper (init), and the pdeath signal finds the new
    /// parent in place.
    #[test]
    fn orphans_moving_to_an_exiting_subreaper_are_not_lost() {
        for round in 0..200 {
            let tb = TestBed::new();
            let (init, s, mid, orphan) = family(&tb);
            s.tg.pm
                .subreaper
                .store(true, core::sync::atomic::Ordering::Relaxed);
            orphan
                .tg
                .pm
                .pdeathsig
                .store(SIGUSR1, core::sync::atomic::Ordering::Relaxed);
            exit_together(&tb.kernel, mid, s);
            assert_eq!(*orphan.tg.ppid.lock(), 1, "round {round}");
            assert!(has_child(&init, &orphan), "round {round}");
            let info = crate::signal::dequeue(&orphan, 0).expect("pdeath signal");
            assert_eq!(info.signo, SIGUSR1);
        }
    }
}
