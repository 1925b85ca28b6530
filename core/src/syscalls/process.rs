//! Processes: fork, vfork, clone (process form), wait4, waitid, and the
//! exit path that turns a finished thread group into a zombie.
//!
//! A forked child runs on a new host thread that the embedder's
//! [`Spawner`](crate::host::Spawner) starts. That thread creates the
//! child's platform address space and context itself (ptrace binds both to
//! the creating thread), copies the parent's memory copy-on-write with
//! [`MemoryManager::fork`], and only then lets the parent go on: the parent
//! sleeps on its blocker until the child's memory is set up, so nothing the
//! parent does after fork can leak into the child's copy.
//!
//! vfork is served as fork in which the parent waits until the child execs
//! or exits (Linux's guarantee to the parent). The child does not share the
//! parent's memory; programs that write to the parent's memory from a vfork
//! child (outside of what POSIX allows) would see a difference.
//!
//! The exit signal (SIGCHLD), auto-reaping and the stop/continue reports
//! wait4 and waitid give come from [`crate::signal`].
//!
//! Left for issue 3: threads (CLONE_THREAD / CLONE_VM without VFORK answer
//! ENOSYS), FP state inherited by the child (it starts with the initial FP
//! state).

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, Ordering};

use spin::Mutex;
use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, Rusage, Siginfo};

use super::{arg, Handler};
use crate::host::WakeReason;
use crate::kernel::Kernel;
use crate::mm::MemoryManager;
use crate::platform::CpuState;
use crate::task::{ExitStatus, Pending, Pid, Task, ThreadGroup};
use crate::vfs::FdTable;
use crate::{SysResult, UserAddr};

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        FORK => sys_fork,
        VFORK => sys_vfork,
        CLONE => sys_clone,
        WAIT4 => sys_wait4,
        WAITID => sys_waitid,
        _ => return None,
    })
}

const CLONE_VM: u64 = 0x100;
const CLONE_FS: u64 = 0x200;
const CLONE_FILES: u64 = 0x400;
const CLONE_SIGHAND: u64 = 0x800;
const CLONE_PIDFD: u64 = 0x1000;
const CLONE_PTRACE: u64 = 0x2000;
const CLONE_VFORK: u64 = 0x4000;
const CLONE_PARENT: u64 = 0x8000;
const CLONE_THREAD: u64 = 0x10000;
const CLONE_NEWNS: u64 = 0x20000;
const CLONE_SYSVSEM: u64 = 0x40000;
const CLONE_SETTLS: u64 = 0x80000;
const CLONE_PARENT_SETTID: u64 = 0x10_0000;
const CLONE_CHILD_CLEARTID: u64 = 0x20_0000;
const CLONE_DETACHED: u64 = 0x40_0000;
const CLONE_UNTRACED: u64 = 0x80_0000;
const CLONE_CHILD_SETTID: u64 = 0x100_0000;
const CLONE_IO: u64 = 0x8000_0000;
/// A copy of the UTS namespace (see `syscalls::admin`).
const CLONE_NEWUTS: u64 = 0x0400_0000;
/// A new, empty IPC namespace (see `crate::ipc`).
const CLONE_NEWIPC: u64 = 0x0800_0000;
/// Namespace flags: of these, only CLONE_NEWNS is served (a copy of the
/// mount namespace, see `syscalls::mount`).
const CLONE_NEW_MASK: u64 = 0x7e02_0080 | CLONE_NEWNS;

fn sys_fork(t: &mut Task, _a: &[u64; 6]) -> SysResult {
    do_clone(t, SIGCHLD as u64, 0, 0, 0, 0)
}

fn sys_vfork(t: &mut Task, _a: &[u64; 6]) -> SysResult {
    do_clone(t, CLONE_VM | CLONE_VFORK | SIGCHLD as u64, 0, 0, 0, 0)
}

fn sys_clone(t: &mut Task, a: &[u64; 6]) -> SysResult {
    if a[0] & CLONE_PIDFD != 0 {
        return super::pidfd::clone_legacy_pidfd(t, a);
    }
    // x86-64 order: flags, stack, parent_tid, child_tid, tls.
    do_clone(t, a[0], a[1], a[2], a[3], a[4])
}

/// What the child's host thread reports back to the waiting parent.
struct Handshake {
    done: AtomicBool,
    result: Mutex<Option<Result<(), Errno>>>,
}

/// clone's work for fork, vfork, clone and clone3 (x86-64 argument order).
pub(crate) fn do_clone(
    t: &mut Task,
    flags: u64,
    stack: u64,
    ptid: u64,
    ctid: u64,
    tls: u64,
) -> SysResult {
    let exit_signal = (flags & 0xff) as i32;
    if exit_signal > NSIG {
        return Err(Errno::EINVAL);
    }
    // Flag combinations Linux rejects.
    if flags & CLONE_SIGHAND != 0 && flags & CLONE_VM == 0 {
        return Err(Errno::EINVAL);
    }
    if flags & CLONE_THREAD != 0 && flags & CLONE_SIGHAND == 0 {
        return Err(Errno::EINVAL);
    }
    if flags & CLONE_FS != 0 && flags & CLONE_NEWNS != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & CLONE_NEWIPC != 0 && flags & CLONE_SYSVSEM != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & CLONE_PIDFD != 0 && (flags & CLONE_DETACHED != 0 || flags & CLONE_THREAD != 0) {
        return Err(Errno::EINVAL);
    }
    let vfork = flags & CLONE_VFORK != 0;
    if flags & CLONE_THREAD != 0 {
        if flags & CLONE_NEW_MASK != 0 || flags & CLONE_PIDFD != 0 {
            return Err(Errno::EINVAL);
        }
        return clone_thread(t, flags, stack, ptid, ctid, tls);
    }
    if flags & CLONE_VM != 0 && !vfork {
        // A process sharing memory without being a thread: the platform
        // address space is per process here.
        t.kernel
            .note_unsupported("clone: CLONE_VM without CLONE_THREAD or CLONE_VFORK");
        return Err(Errno::ENOSYS);
    }
    // Of the namespaces, only mount and UTS namespace copies are made (by
    // root).
    let served = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
    if flags & CLONE_NEW_MASK & !served != 0
        || (flags & served != 0 && !t.creds.capable(veil_abi::flags::CAP_SYS_ADMIN))
    {
        return Err(Errno::EPERM);
    }
    // Accepted and meaningless here.
    let _ = (CLONE_PTRACE, CLONE_UNTRACED, CLONE_IO, CLONE_PARENT);
    if flags & CLONE_PIDFD != 0 {
        t.kernel
            .note_unsupported("clone: CLONE_PIDFD comes with issue 3");
        return Err(Errno::ENOSYS);
    }

    let kernel = t.kernel.clone();
    let Some(spawner) = kernel.spawner().cloned() else {
        return Err(Errno::ENOSYS);
    };

    let pid = kernel.alloc_pid();
    let parent_pid = if flags & CLONE_PARENT != 0 {
        *t.tg.ppid.lock()
    } else {
        t.pid()
    };
    let tg = Arc::new(ThreadGroup::new(pid, parent_pid));
    tg.signals.set_exit_signal(exit_signal);
    *tg.rlimits.lock() = *t.tg.rlimits.lock();
    *tg.sigactions.lock() = *t.tg.sigactions.lock();
    if flags & veil_abi::flags::CLONE_CLEAR_SIGHAND != 0 {
        // clone3: handled signals start with SIG_DFL, ignored stay ignored.
        let mut sa = tg.sigactions.lock();
        for a in sa.iter_mut().filter(|a| a.handler != SIG_IGN) {
            *a = veil_abi::KernelSigaction::default();
        }
    }
    *tg.exe.lock() = t.tg.exe.lock().clone();
    *tg.mnt_ns.lock() = t.tg.mnt_ns.lock().clone();
    *tg.uts_ns.lock() = if flags & CLONE_NEWUTS != 0 {
        Some(super::admin::uts_of(&t.kernel, &t.tg).copy())
    } else {
        t.tg.uts_ns.lock().clone()
    };
    *tg.ipc_ns.lock() = if flags & CLONE_NEWIPC != 0 {
        Some(crate::ipc::IpcNamespace::new())
    } else {
        t.tg.ipc_ns.lock().clone()
    };
    if flags & CLONE_SYSVSEM != 0 {
        *tg.sysvsem.lock() = t.tg.sysvsem.lock().clone();
    }
    *tg.comm.lock() = t.tg.comm.lock().clone();
    *tg.args_range.lock() = *t.tg.args_range.lock();
    *tg.auxv.lock() = t.tg.auxv.lock().clone();
    *tg.pgid.lock() = *t.tg.pgid.lock();
    *tg.sid.lock() = *t.tg.sid.lock();
    *tg.ctty.lock() = t.tg.ctty.lock().for_child();
    crate::process::on_fork(t, &tg);

    let (fds, fs) = fds_and_fs(t, flags);
    if flags & CLONE_NEWNS != 0 {
        // CLONE_FS was refused with it: `fs` is the child's own copy.
        let ns = t.tg.mount_namespace(&t.kernel).copy(&mut fs.lock());
        *tg.mnt_ns.lock() = Some(ns);
    }
    let cpu = child_cpu(t, flags, stack, tls)?;
    if flags & CLONE_PARENT_SETTID != 0 {
        t.mm.write_obj(UserAddr(ptid), &pid)?;
    }

    let handshake = Arc::new(Handshake {
        done: AtomicBool::new(false),
        result: Mutex::new(None),
    });
    let vfork_flag = Arc::new(AtomicBool::new(false));
    if vfork {
        *tg.vfork_parent.lock() = Some((t.blocker.clone(), vfork_flag.clone()));
    }

    // Register the child before it can run, so wait4 sees it at once.
    kernel.register(&tg);
    let parent_tg = crate::process::link_child(&kernel, t, &tg, flags & CLONE_PARENT != 0);

    let parent_mm = t.mm.clone();
    let parent_blocker = t.blocker.clone();
    let creds = t.creds.clone();
    let sigmask = t.sigmask;
    let seccomp = crate::seccomp::TaskSeccomp::inherit(t, &tg, pid);
    let mut child_signals = t.signals.fork_child();
    child_signals.fp_restore = t
        .signals
        .fork_fp
        .clone()
        .map(crate::signal::FpRestore::Image);
    let hs = handshake.clone();
    let child_kernel = kernel.clone();
    let child_tg = tg.clone();
    let child = Box::new(move || {
        let kernel = child_kernel;
        let setup =
            (|| -> Result<(Arc<MemoryManager>, Box<dyn crate::platform::Context>), Errno> {
                let space = kernel.platform.new_address_space().map_err(Errno::from)?;
                let ctx = kernel.platform.new_context().map_err(Errno::from)?;
                let mm = parent_mm.fork(space)?;
                Ok((Arc::new(mm), ctx))
            })();
        drop(parent_mm);
        let (mm, mut ctx) = match setup {
            Ok(v) => v,
            Err(e) => {
                *hs.result.lock() = Some(Err(e));
                hs.done.store(true, Ordering::Release);
                parent_blocker.wake();
                return;
            }
        };
        let blocker = kernel.new_blocker();
        let mut task = Task {
            kernel: kernel.clone(),
            tid: pid,
            tg: child_tg,
            mm,
            fds,
            fs,
            creds,
            cpu,
            sigmask,
            clear_child_tid: if flags & CLONE_CHILD_CLEARTID != 0 {
                ctid
            } else {
                0
            },
            robust_list: (0, 0),
            blocker,
            pending: Pending {
                reset_fp: child_signals.fp_restore.is_none(),
                ..Pending::default()
            },
            signals: child_signals,
            seccomp,
        };
        crate::signal::attach(&task);
        task.publish_view();
        if flags & CLONE_CHILD_SETTID != 0 {
            let _ = task.mm.write_obj(UserAddr(ctid), &pid);
        }
        *hs.result.lock() = Some(Ok(()));
        hs.done.store(true, Ordering::Release);
        parent_blocker.wake();
        drop(hs);
        kernel.run(&mut task, ctx.as_mut());
        kernel.exit_task(&mut task);
    });
    if let Err(e) = spawner.spawn(child) {
        forget_child(&kernel, &parent_tg, &tg);
        return Err(e);
    }

    // Wait until the child has its copy of memory.
    while !handshake.done.load(Ordering::Acquire) {
        let _ = t.blocker.block(None);
    }
    if let Some(Err(e)) = handshake.result.lock().take() {
        forget_child(&kernel, &parent_tg, &tg);
        return Err(match e {
            Errno::ENOMEM => Errno::ENOMEM,
            _ => Errno::EAGAIN,
        });
    }
    if vfork {
        // Linux's vfork wait is killable only; an interruption here just
        // keeps waiting.
        while !vfork_flag.load(Ordering::Acquire) {
            let _ = t.blocker.block(None);
        }
    }
    Ok(pid as u64)
}

/// A new task's registers: the caller's, returning 0 from clone, on
/// `stack` if one is given, with `tls` as its fs base under CLONE_SETTLS
/// (`EPERM` for an address outside the user half, as Linux's
/// do_arch_prctl_64).
fn child_cpu(t: &Task, flags: u64, stack: u64, tls: u64) -> Result<CpuState, Errno> {
    let mut cpu = CpuState { regs: t.cpu.regs };
    cpu.regs.rax = 0;
    if stack != 0 {
        cpu.regs.rsp = stack;
    }
    if flags & CLONE_SETTLS != 0 {
        if tls >= 0x7fff_ffff_f000 {
            return Err(Errno::EPERM);
        }
        cpu.regs.fs_base = tls;
    }
    Ok(cpu)
}

/// clone with CLONE_THREAD: a new thread in the caller's group, sharing its
/// memory and signal handlers, on a new host thread.
fn clone_thread(t: &mut Task, flags: u64, stack: u64, ptid: u64, ctid: u64, tls: u64) -> SysResult {
    let kernel = t.kernel.clone();
    let Some(spawner) = kernel.spawner().cloned() else {
        return Err(Errno::ENOSYS);
    };
    if t.tg.exit_status.lock().is_some() {
        return Err(Errno::EAGAIN);
    }
    let cpu = child_cpu(t, flags, stack, tls)?;
    let tid = kernel.alloc_pid();
    if flags & CLONE_PARENT_SETTID != 0 {
        t.mm.write_obj(UserAddr(ptid), &tid)?;
    }
    if flags & CLONE_CHILD_SETTID != 0 {
        // The memory is shared: the child's word is the parent's.
        t.mm.write_obj(UserAddr(ctid), &tid)?;
    }
    let (fds, fs) = fds_and_fs(t, flags);
    let mut task = Task {
        kernel: kernel.clone(),
        tid,
        tg: t.tg.clone(),
        mm: t.mm.clone(),
        fds,
        fs,
        creds: t.creds.clone(),
        cpu,
        sigmask: t.sigmask,
        clear_child_tid: if flags & CLONE_CHILD_CLEARTID != 0 {
            ctid
        } else {
            0
        },
        robust_list: (0, 0),
        blocker: kernel.new_blocker(),
        pending: Pending {
            reset_fp: t.signals.fork_fp.is_none(),
            ..Pending::default()
        },
        signals: {
            let mut s = t.signals.new_thread();
            s.fp_restore = t
                .signals
                .fork_fp
                .clone()
                .map(crate::signal::FpRestore::Image);
            s
        },
        seccomp: crate::seccomp::TaskSeccomp::inherit(t, &t.tg, tid),
    };
    t.tg.live_threads.fetch_add(1, Ordering::AcqRel);
    crate::process::on_new_thread(t, tid);
    kernel
        .thread_groups
        .lock()
        .insert(tid, Arc::downgrade(&t.tg));
    crate::signal::attach(&task);
    let run_kernel = kernel.clone();
    let body = Box::new(move || {
        let kernel = run_kernel;
        match kernel.platform.new_context() {
            Ok(mut ctx) => {
                kernel.run(&mut task, ctx.as_mut());
            }
            Err(_) => {
                kernel
                    .logger
                    .line("veil: cannot make a context for a new thread");
                task.exit_group(ExitStatus::Signaled(SIGKILL));
            }
        }
        kernel.exit_task(&mut task);
    });
    if let Err(e) = spawner.spawn(body) {
        t.tg.live_threads.fetch_sub(1, Ordering::AcqRel);
        kernel.thread_groups.lock().remove(&tid);
        return Err(e);
    }
    Ok(tid as u64)
}

/// The new task's fd table and filesystem context: the caller's own with
/// CLONE_FILES / CLONE_FS, copies otherwise.
fn fds_and_fs(t: &Task, flags: u64) -> (Arc<FdTable>, Arc<Mutex<crate::vfs::FsContext>>) {
    let fds = if flags & CLONE_FILES != 0 {
        t.fds.clone()
    } else {
        Arc::new(t.fds.fork())
    };
    let fs = if flags & CLONE_FS != 0 {
        t.fs.clone()
    } else {
        let cur = t.fs.lock();
        Arc::new(Mutex::new(crate::vfs::FsContext {
            root: cur.root.clone(),
            cwd: cur.cwd.clone(),
            umask: cur.umask,
        }))
    };
    (fds, fs)
}

fn forget_child(kernel: &Kernel, parent: &Arc<ThreadGroup>, child: &Arc<ThreadGroup>) {
    parent.children.lock().retain(|c| !Arc::ptr_eq(c, child));
    kernel.thread_groups.lock().remove(&child.pid);
}

/// Which children a wait call selects.
#[derive(Clone, Copy)]
enum Select {
    Any,
    Pid(Pid),
    Pgid(Pid),
}

impl Select {
    fn matches(self, c: &ThreadGroup) -> bool {
        match self {
            Select::Any => true,
            Select::Pid(p) => c.pid == p,
            Select::Pgid(g) => *c.pgid.lock() == g,
        }
    }
}

/// The `wait` status word Linux reports.
fn wait_status(st: ExitStatus) -> i32 {
    match st {
        ExitStatus::Exited(code) => (code & 0xff) << 8,
        ExitStatus::Signaled(sig) => sig & 0x7f,
    }
}

/// What a wait call found for a child.
#[derive(Clone, Copy)]
enum WaitEvent {
    /// The child is dead.
    Exited(ExitStatus),
    /// The child stopped with this signal (WUNTRACED).
    Stopped(i32),
    /// The child was continued (WCONTINUED).
    Continued,
}

/// Waits for a child selected by `sel` to exit (if `exited`), stop
/// (WUNTRACED in `options`) or continue (WCONTINUED). `reap` consumes
/// the event (a dead child is removed); without it (WNOWAIT) it stays.
/// `None` with WNOHANG when nothing is ready.
fn wait_child(
    t: &mut Task,
    sel: Select,
    options: u32,
    exited: bool,
    reap: bool,
) -> Result<Option<(Arc<ThreadGroup>, WaitEvent)>, Errno> {
    let me = t.blocker.clone();
    let mut interrupted = false;
    loop {
        if let Some(found) = scan_children(t, sel, options, exited, reap)? {
            return Ok(Some(found));
        }
        if options & WNOHANG != 0 {
            return Ok(None);
        }
        // As Linux's do_wait: a signal ends the wait only once a rescan
        // found nothing.
        if interrupted {
            return Err(Errno::ERESTARTSYS);
        }
        t.tg.child_waiters.lock().push(me.clone());
        // A child may have changed state between the scan and registering.
        let ready = scan_children(t, sel, options, exited, false)?.is_some();
        let reason = if ready {
            WakeReason::Woken
        } else {
            me.block(None)
        };
        t.tg.child_waiters.lock().retain(|b| !Arc::ptr_eq(b, &me));
        interrupted = reason == WakeReason::Interrupted;
    }
}

/// One pass over the children for [`wait_child`] (ECHILD if none match).
fn scan_children(
    t: &Task,
    sel: Select,
    options: u32,
    exited: bool,
    reap: bool,
) -> Result<Option<(Arc<ThreadGroup>, WaitEvent)>, Errno> {
    let mut children = t.tg.children.lock();
    if !children.iter().any(|c| sel.matches(c)) {
        return Err(Errno::ECHILD);
    }
    for pos in 0..children.len() {
        let c = &children[pos];
        if !sel.matches(c) {
            continue;
        }
        if c.dead.load(Ordering::Acquire) {
            if !exited {
                continue;
            }
            let st = c.exit_status.lock().unwrap_or(ExitStatus::Exited(0));
            let c = if reap {
                children.remove(pos)
            } else {
                c.clone()
            };
            drop(children);
            if reap {
                t.kernel.thread_groups.lock().remove(&c.pid);
                crate::process::on_reap(&t.kernel, &t.tg, &c);
            }
            return Ok(Some((c, WaitEvent::Exited(st))));
        }
        let report = crate::signal::take_wait_report(
            c,
            options & WUNTRACED != 0,
            options & WCONTINUED != 0,
            !reap,
        );
        if let Some(r) = report {
            let ev = match r {
                crate::signal::JobReport::Stopped(s) => WaitEvent::Stopped(s),
                crate::signal::JobReport::Continued => WaitEvent::Continued,
            };
            return Ok(Some((c.clone(), ev)));
        }
    }
    Ok(None)
}

fn sys_wait4(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let pid = arg::int(a[0]);
    let options = arg::uint(a[2]);
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | WALL | WCLONE | 0x2000_0000) != 0 {
        return Err(Errno::EINVAL);
    }
    let sel = match pid {
        -1 => Select::Any,
        0 => Select::Pgid(*t.tg.pgid.lock()),
        p if p < -1 => Select::Pgid(p.checked_neg().ok_or(Errno::ESRCH)?),
        p => Select::Pid(p),
    };
    let Some((child, ev)) = wait_child(t, sel, options, true, true)? else {
        return Ok(0);
    };
    let status = match ev {
        WaitEvent::Exited(st) => wait_status(st),
        WaitEvent::Stopped(sig) => ((sig & 0xff) << 8) | 0x7f,
        WaitEvent::Continued => 0xffff,
    };
    if a[1] != 0 {
        t.mm.write_obj(UserAddr(a[1]), &status)?;
    }
    if a[3] != 0 {
        let ru = super::sched::child_rusage(&t.kernel, &child);
        t.mm.write_obj(UserAddr(a[3]), &ru)?;
    }
    Ok(child.pid as u64)
}

fn sys_waitid(t: &mut Task, a: &[u64; 6]) -> SysResult {
    const P_ALL: u32 = 0;
    const P_PID: u32 = 1;
    const P_PGID: u32 = 2;
    let idtype = arg::uint(a[0]);
    let id = arg::int(a[1]);
    let options = arg::uint(a[3]);
    if options
        & !(WNOHANG | WUNTRACED | WEXITED | WCONTINUED | WNOWAIT | WALL | WCLONE | 0x2000_0000)
        != 0
        || options & (WEXITED | WUNTRACED | WCONTINUED) == 0
    {
        return Err(Errno::EINVAL);
    }
    let sel = match idtype {
        P_ALL => Select::Any,
        P_PID if id > 0 => Select::Pid(id),
        P_PGID if id >= 0 => Select::Pgid(if id == 0 { *t.tg.pgid.lock() } else { id }),
        _ => return Err(Errno::EINVAL),
    };
    let reap = options & WNOWAIT == 0;
    let found = wait_child(t, sel, options, options & WEXITED != 0, reap)?;
    let mut info = Siginfo::default();
    if let Some((child, ev)) = found {
        info.signo = SIGCHLD;
        let (code, status) = match ev {
            WaitEvent::Exited(ExitStatus::Exited(c)) => (CLD_EXITED, c & 0xff),
            WaitEvent::Exited(ExitStatus::Signaled(s)) => (CLD_KILLED, s),
            WaitEvent::Stopped(s) => (CLD_STOPPED, s),
            WaitEvent::Continued => (CLD_CONTINUED, SIGCONT),
        };
        info.code = code;
        // si_pid, si_uid (the child's), si_status in the union.
        let uid = child
            .signals
            .lock()
            .threads
            .first()
            .map_or(t.creds.uid, |th| th.ids.0);
        info.fields[0] = (child.pid as u32 as u64) | ((uid as u64) << 32);
        info.fields[1] = status as u32 as u64;
    }
    if a[2] != 0 {
        t.mm.write_obj(UserAddr(a[2]), &info)?;
    }
    if a[4] != 0 {
        t.mm.write_obj(UserAddr(a[4]), &Rusage::default())?;
    }
    Ok(0)
}

impl Kernel {
    /// The end of a task's host thread: the thread group becomes a zombie
    /// for its parent, its children go to init, a vfork parent is released.
    pub fn exit_task(&self, task: &mut Task) {
        let tg = task.tg.clone();
        crate::process::thread_exit(task);
        crate::seccomp::thread_exit(task);
        // Robust futexes and PI locks first, as Linux's exit_mm_release.
        super::futex::release(task, true);
        // CLONE_CHILD_CLEARTID: zero the word and wake one waiter
        // (pthread_join sleeps on it).
        if task.clear_child_tid != 0 {
            let addr = task.clear_child_tid;
            task.clear_child_tid = 0;
            // Linux wakes it as a shared-flag futex (glibc and musl wait on
            // it without FUTEX_PRIVATE_FLAG).
            if task.mm.write_obj(UserAddr(addr), &0u32).is_ok() {
                if let Ok(key) = super::futex::key(task, addr, false) {
                    self.futexes.wake(key, 1, u32::MAX);
                }
            }
        }
        let left = tg
            .live_threads
            .fetch_sub(1, Ordering::AcqRel)
            .saturating_sub(1);
        if left > 0 {
            // Not the last thread: only this one goes.
            crate::signal::detach(task);
            if task.tid != tg.pid {
                self.thread_groups.lock().remove(&task.tid);
            }
            return;
        }
        {
            let mut st = tg.exit_status.lock();
            if st.is_none() {
                *st = Some(task.pending.thread_status.unwrap_or(ExitStatus::Exited(0)));
            }
        }
        tg.release_vfork_parent();
        // SEM_UNDO adjustments and segment attachments end here.
        crate::ipc::exit_task(task);
        // Drop the address space now: the stub goes away with it.
        let _ = core::mem::replace(&mut task.fds, Arc::new(FdTable::new()));
        // A session leader gives up its controlling terminal.
        crate::tty::job::group_exit(self, &tg);
        crate::signal::detach(task);
        // Orphans to the reaper, then a zombie for the parent.
        crate::process::exit_notify(self, task);
    }
}
