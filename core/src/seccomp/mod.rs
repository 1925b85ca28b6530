//! seccomp: the system-call filters applications put on themselves, as
//! Linux's kernel/seccomp.c.
//!
//! A thread is in one of three modes: disabled, strict (only read, write,
//! exit and rt_sigreturn; anything else kills the thread with SIGKILL) or
//! filter: a stack of classic-BPF programs ([`bpf`]) that each see the
//! call's `struct seccomp_data` (number, `AUDIT_ARCH_X86_64`, instruction
//! pointer, six arguments). Every filter runs, newest first; the most
//! restrictive answer wins, by Linux's order (KILL_PROCESS, KILL_THREAD,
//! TRAP, ERRNO, USER_NOTIF, TRACE, LOG, ALLOW). Filters are immutable and
//! shared: a new one points at the stack it was put on, so fork, clone and
//! TSYNC share the stack and execve keeps it.
//!
//! [`Kernel::dispatch`](crate::kernel::Kernel::dispatch) asks
//! [`TaskSeccomp::armed`] before every call (false, with one compare of a
//! field and one of a counter, unless the thread has a mode or a TSYNC
//! came) and then [`check`], which answers whether the call runs.
//!
//! A thread's state lives in its [`Task`]; the threads of a process also
//! publish it in their [`ThreadGroup`]'s registry ([`GroupSeccomp`]), where
//! procfs reads it and where TSYNC checks the other threads and writes
//! their new state. A TSYNC bumps the group's counter; each thread adopts
//! what was written for it before its next call (as Linux's threads see
//! the new filter at their next syscall entry).
//!
//! Left out: user notification (SECCOMP_FILTER_FLAG_NEW_LISTENER answers
//! EINVAL, as a kernel that predates it; a USER_NOTIF answer without a
//! listener is ENOSYS, as Linux), tracers (no ptrace: TRACE is ENOSYS, as
//! Linux without a tracer), the audit log (LOG runs the call), the
//! per-syscall action cache and speculation controls (SPEC_ALLOW is
//! accepted and changes nothing).

pub mod bpf;

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;
use veil_abi::flags::{SIGKILL, SIGSYS};
use veil_abi::{sysno, Errno, Siginfo};

use crate::task::{ExitStatus, Pid, Task, ThreadGroup};

/// No filtering (`SECCOMP_MODE_DISABLED`).
pub const MODE_DISABLED: u8 = 0;
/// Strict mode (`SECCOMP_MODE_STRICT`).
pub const MODE_STRICT: u8 = 1;
/// Filter mode (`SECCOMP_MODE_FILTER`).
pub const MODE_FILTER: u8 = 2;

/// Filter answers (the high 16 bits; the low 16 are data).
pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_KILL_THREAD: u32 = 0;
pub const RET_TRAP: u32 = 0x0003_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;
pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;
pub const RET_TRACE: u32 = 0x7ff0_0000;
pub const RET_LOG: u32 = 0x7ffc_0000;
pub const RET_ALLOW: u32 = 0x7fff_0000;
/// The action part of an answer.
pub const RET_ACTION_FULL: u32 = 0xffff_0000;
/// The data part of an answer.
pub const RET_DATA: u32 = 0xffff;

/// `seccomp_data.arch` on x86-64.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `si_code` of a SECCOMP_RET_TRAP SIGSYS.
pub const SYS_SECCOMP: i32 = 1;
/// The largest errno an ERRNO answer returns.
const MAX_ERRNO: u32 = 4095;
/// Instructions over a thread's whole stack, each filter counting four
/// more (`MAX_INSNS_PER_PATH`); a filter past it is ENOMEM. Linux counts
/// the instructions of each program's eBPF translation
/// ([`bpf::Program::converted_len`]).
pub const MAX_INSNS_PER_PATH: usize = 32768;

/// One installed filter and the stack below it.
pub struct Filter {
    prog: bpf::Program,
    /// SECCOMP_FILTER_FLAG_LOG (kept; veil has no audit log).
    pub log: bool,
    prev: Option<Arc<Filter>>,
}

impl Filter {
    /// This filter and every one below it, newest first.
    pub fn stack(&self) -> impl Iterator<Item = &Filter> {
        core::iter::successors(Some(self), |f| f.prev.as_deref())
    }
}

impl Drop for Filter {
    // A stack can be thousands deep: unlink it iteratively rather than by
    // recursive drops.
    fn drop(&mut self) {
        let mut next = self.prev.take();
        while let Some(f) = next {
            next = match Arc::try_unwrap(f) {
                Ok(mut f) => f.prev.take(),
                Err(_) => None,
            };
        }
    }
}

/// A thread's mode and filters.
#[derive(Clone, Default)]
pub struct State {
    /// `MODE_*`.
    pub mode: u8,
    /// The newest filter (filter mode).
    pub filter: Option<Arc<Filter>>,
    /// Filters in the stack (`Seccomp_filters:` in /proc).
    pub count: u32,
}

/// The seccomp state a [`Task`] carries.
#[derive(Clone, Default)]
pub struct TaskSeccomp {
    state: State,
    /// The group's TSYNC counter when this thread last looked.
    seen: u64,
}

impl TaskSeccomp {
    /// True if the current call must go through [`check`]: the thread has
    /// a mode, or a TSYNC may have given it one.
    #[inline]
    pub fn armed(&self, tg: &ThreadGroup) -> bool {
        self.state.mode != MODE_DISABLED || tg.seccomp.tsyncs.load(Ordering::Relaxed) != self.seen
    }

    /// The thread's mode (`MODE_*`), as PR_GET_SECCOMP answers.
    pub fn mode(&self) -> u8 {
        self.state.mode
    }

    /// The state of a thread or process `parent` makes (fork, clone):
    /// the same mode and filters, published in `tg` (the new thread's
    /// group) under `tid`.
    pub fn inherit(parent: &Task, tg: &ThreadGroup, tid: Pid) -> TaskSeccomp {
        let state = parent.seccomp.state.clone();
        if state.mode != MODE_DISABLED {
            let published = Published {
                state: state.clone(),
                nnp: false,
            };
            tg.seccomp.threads.lock().insert(tid, published);
        }
        TaskSeccomp {
            state,
            seen: tg.seccomp.tsyncs.load(Ordering::Acquire),
        }
    }
}

/// What a thread published in its group's registry.
#[derive(Clone)]
struct Published {
    state: State,
    /// TSYNC sets no_new_privs on the threads it reaches if the caller has it.
    nnp: bool,
}

/// The threads of a process as seccomp sees them (see the module docs).
#[derive(Default)]
pub struct GroupSeccomp {
    /// Bumped by every TSYNC.
    tsyncs: AtomicU64,
    /// The state of each thread whose mode is not disabled.
    threads: Mutex<BTreeMap<Pid, Published>>,
}

impl GroupSeccomp {
    /// Thread `tid`'s mode and filter count, for /proc.
    pub fn status(&self, tid: Pid) -> (u8, u32) {
        self.threads
            .lock()
            .get(&tid)
            .map_or((MODE_DISABLED, 0), |p| (p.state.mode, p.state.count))
    }
}

/// The threads of `tg` that have not exited.
fn live_threads(tg: &ThreadGroup) -> Vec<Pid> {
    tg.signals
        .lock()
        .threads
        .iter()
        .filter(|t| !t.exited)
        .map(|t| t.tid)
        .collect()
}

/// True if `anc` is `of` or below it (or there is no `anc`).
fn is_ancestor(anc: Option<&Arc<Filter>>, of: Option<&Arc<Filter>>) -> bool {
    let Some(anc) = anc else {
        return true;
    };
    of.is_some_and(|f| f.stack().any(|g| core::ptr::eq(g, &**anc)))
}

/// Takes on what a TSYNC wrote for this thread, if one came.
fn sync(task: &mut Task) {
    let n = task.tg.seccomp.tsyncs.load(Ordering::Acquire);
    if n == task.seccomp.seen {
        return;
    }
    task.seccomp.seen = n;
    let published = task.tg.seccomp.threads.lock().get(&task.tid).cloned();
    if let Some(p) = published {
        task.seccomp.state = p.state;
        if p.nnp && !task.creds.no_new_privs {
            task.creds.no_new_privs = true;
            task.publish_view();
        }
    }
}

/// Puts `task` in strict mode (`EINVAL` if it has filters).
pub fn set_strict(task: &mut Task) -> Result<(), Errno> {
    sync(task);
    match task.seccomp.state.mode {
        MODE_DISABLED => {}
        MODE_STRICT => return Ok(()),
        _ => return Err(Errno::EINVAL),
    }
    task.seccomp.state = State {
        mode: MODE_STRICT,
        filter: None,
        count: 0,
    };
    publish(task);
    Ok(())
}

/// How [`add_filter`] went.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    /// Installed (and synchronised, with TSYNC).
    Done,
    /// TSYNC found a thread whose filters are not an ancestor of the
    /// caller's (nothing was installed): its tid.
    Diverged(Pid),
}

/// Puts `prog` on top of `task`'s filters. With `tsync`, every other live
/// thread of the process gets the caller's new stack, unless one of them
/// is in strict mode or has filters the caller's do not contain.
/// `EINVAL` in strict mode, `ENOMEM` past [`MAX_INSNS_PER_PATH`].
pub fn add_filter(
    task: &mut Task,
    prog: bpf::Program,
    log: bool,
    tsync: bool,
) -> Result<Added, Errno> {
    sync(task);
    let base = task.seccomp.state.clone();
    if base.mode == MODE_STRICT {
        return Err(Errno::EINVAL);
    }
    let total = base
        .filter
        .iter()
        .flat_map(|f| f.stack())
        .fold(prog.converted_len(), |n, f| n + f.prog.converted_len() + 4);
    if total > MAX_INSNS_PER_PATH {
        return Err(Errno::ENOMEM);
    }
    let tg = task.tg.clone();
    let live = live_threads(&tg);
    let mut threads = tg.seccomp.threads.lock();
    // Forget threads that have exited.
    threads.retain(|tid, _| live.contains(tid) || *tid == task.tid);
    if tsync {
        for &tid in live.iter().filter(|&&t| t != task.tid) {
            let ok = threads.get(&tid).is_none_or(|p| match p.state.mode {
                MODE_DISABLED => true,
                MODE_FILTER => is_ancestor(p.state.filter.as_ref(), base.filter.as_ref()),
                _ => false,
            });
            if !ok {
                return Ok(Added::Diverged(tid));
            }
        }
    }
    let state = State {
        mode: MODE_FILTER,
        filter: Some(Arc::new(Filter {
            prog,
            log,
            prev: base.filter,
        })),
        count: base.count + 1,
    };
    let nnp = task.creds.no_new_privs;
    let targets: &[Pid] = if tsync { &live } else { &[] };
    for &tid in targets.iter().chain([task.tid].iter()) {
        let state = state.clone();
        threads.insert(tid, Published { state, nnp });
    }
    task.seccomp.state = state;
    if tsync {
        task.seccomp.seen = tg.seccomp.tsyncs.fetch_add(1, Ordering::AcqRel) + 1;
    }
    Ok(Added::Done)
}

/// Publishes `task`'s state in its group (after it changed, or after an
/// execve that gave the thread the process's id).
pub fn publish(task: &Task) {
    let mut threads = task.tg.seccomp.threads.lock();
    if task.seccomp.state.mode == MODE_DISABLED {
        threads.remove(&task.tid);
    } else {
        threads.insert(
            task.tid,
            Published {
                state: task.seccomp.state.clone(),
                nnp: false,
            },
        );
    }
}

/// A thread is exiting: TSYNC passes it by from now on (as Linux skips
/// PF_EXITING threads), even before pthread_join sees it gone.
pub fn thread_exit(task: &Task) {
    if task.seccomp.state.mode != MODE_DISABLED {
        task.tg.seccomp.threads.lock().remove(&task.tid);
    }
}

/// After a successful execve: the thread keeps its filters, possibly under
/// a new tid (the process's, when a non-leader exec'd).
pub fn after_exec(task: &Task) {
    if task.seccomp.state.mode != MODE_DISABLED {
        publish(task);
    }
}

/// A register value [`check`] returned, as a handler's result (for
/// `--strace`).
pub fn as_result(rax: u64) -> crate::SysResult {
    let v = rax as i64;
    match (-4095..0).contains(&v).then(|| Errno::from_raw(-v as i32)) {
        Some(Some(e)) => Err(e),
        _ => Ok(rax),
    }
}

/// The action part of an answer as Linux orders them (signed: KILL_PROCESS
/// is the lowest, ALLOW the highest).
fn action_rank(ret: u32) -> i32 {
    (ret & RET_ACTION_FULL) as i32
}

/// `struct seccomp_data` as 16 native-endian words.
pub fn seccomp_data(nr: u64, ip: u64, args: &[u64; 6]) -> [u32; 16] {
    let mut d = [0u32; 16];
    d[0] = nr as u32;
    d[1] = AUDIT_ARCH_X86_64;
    d[2] = ip as u32;
    d[3] = (ip >> 32) as u32;
    for (i, a) in args.iter().enumerate() {
        d[4 + 2 * i] = *a as u32;
        d[5 + 2 * i] = (*a >> 32) as u32;
    }
    d
}

/// What `filter` (and the stack below it) answers for `data`.
pub fn evaluate(filter: &Filter, data: &[u32; 16]) -> u32 {
    filter.stack().fold(RET_ALLOW, |best, f| {
        let r = f.prog.run(data);
        if action_rank(r) < action_rank(best) {
            r
        } else {
            best
        }
    })
}

/// The SIGSYS a TRAP or a kill sends (Linux's `force_sig_seccomp`).
fn sigsys(nr: u64, ip: u64, data: u32) -> Siginfo {
    let mut info = Siginfo {
        signo: SIGSYS,
        errno: data as i32,
        code: SYS_SECCOMP,
        ..Siginfo::default()
    };
    info.fields[0] = ip;
    info.fields[1] = u64::from(nr as u32) | (u64::from(AUDIT_ARCH_X86_64) << 32);
    info
}

/// The seccomp check of the call in `task`'s registers (number `nr`,
/// arguments `args`): `None` if it runs, else the value rax gets instead
/// (an errno, or the call number for a TRAP or a kill, which roll the
/// registers back as Linux's `syscall_rollback`). Kills and traps queue
/// their signal or end the thread.
pub fn check(task: &mut Task, nr: u64, args: &[u64; 6]) -> Option<u64> {
    sync(task);
    let rollback = task.cpu.regs.orig_rax;
    match task.seccomp.state.mode {
        MODE_STRICT => {
            if matches!(
                u64::from(nr as u32),
                sysno::READ | sysno::WRITE | sysno::EXIT | sysno::RT_SIGRETURN
            ) {
                return None;
            }
            task.exit_thread(ExitStatus::Signaled(SIGKILL));
            Some(rollback)
        }
        MODE_FILTER => {
            let ip = task.cpu.regs.rip;
            let ret = match &task.seccomp.state.filter {
                Some(f) => evaluate(f, &seccomp_data(nr, ip, args)),
                None => RET_ALLOW,
            };
            let data = ret & RET_DATA;
            match ret & RET_ACTION_FULL {
                RET_ALLOW | RET_LOG => None,
                RET_ERRNO => Some((-i64::from(data.min(MAX_ERRNO))) as u64),
                // No tracer, no listener: ENOSYS, as Linux.
                RET_TRACE | RET_USER_NOTIF => Some((-(Errno::ENOSYS as i64)) as u64),
                RET_TRAP => {
                    crate::signal::force(task, sigsys(nr, ip, data), false);
                    Some(rollback)
                }
                action => {
                    // KILL_THREAD, KILL_PROCESS and unknown actions. The
                    // process dies of SIGSYS (a core-dumping signal, which
                    // no handler catches) unless this is KILL_THREAD with
                    // other threads left, which ends this thread alone.
                    let others = task.tg.live_threads.load(Ordering::Acquire) > 1;
                    if action == RET_KILL_THREAD && others {
                        task.exit_thread(ExitStatus::Signaled(SIGSYS));
                    } else {
                        crate::signal::force(task, sigsys(nr, ip, data), true);
                    }
                    Some(rollback)
                }
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
