//! The signal system calls: dispositions (rt_sigaction), masks
//! (rt_sigprocmask, rt_sigpending), waiting (rt_sigsuspend, pause,
//! rt_sigtimedwait), sending (kill, tkill, tgkill, rt_sigqueueinfo,
//! rt_tgsigqueueinfo), the alternate stack (sigaltstack) and the way back
//! from a handler (rt_sigreturn, restart_syscall). The semantics live in
//! [`crate::signal`]; this file reads and checks arguments the way Linux's
//! `kernel/signal.c` does, in the same order, so that the same errno wins
//! when several are possible.
//!
//! Permission to signal follows `check_kill_permission`: the same thread
//! group, or the sender's real or effective uid equal to the target's real
//! or saved uid, or an effective uid of 0 (CAP_KILL), or SIGCONT within
//! the session. Signals whose siginfo claims a kernel origin (si_code > 0)
//! skip the check, as on Linux (rt_sigqueueinfo only lets a process forge
//! those for itself).

use alloc::sync::Arc;

use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, KernelSigaction, SigaltStack, Siginfo, Timespec};
use zerocopy::IntoBytes;

use super::{arg, Handler};
use crate::host::WakeReason;
use crate::process::{mono_ns, valid_ns};
use crate::signal::{self, bit, Dest, RestartBlock, UNBLOCKABLE};
use crate::task::{Pid, Task, ThreadGroup};
use crate::{SysResult, UserAddr};

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        RT_SIGACTION => sys_rt_sigaction,
        RT_SIGPROCMASK => sys_rt_sigprocmask,
        RT_SIGPENDING => sys_rt_sigpending,
        RT_SIGSUSPEND => sys_rt_sigsuspend,
        RT_SIGTIMEDWAIT => sys_rt_sigtimedwait,
        RT_SIGQUEUEINFO => sys_rt_sigqueueinfo,
        RT_TGSIGQUEUEINFO => sys_rt_tgsigqueueinfo,
        RT_SIGRETURN => sys_rt_sigreturn,
        SIGALTSTACK => sys_sigaltstack,
        KILL => sys_kill,
        TKILL => sys_tkill,
        TGKILL => sys_tgkill,
        PAUSE => sys_pause,
        RESTART_SYSCALL => sys_restart_syscall,
        _ => return None,
    })
}

/// The signal set size the rt_sig* calls insist on.
const SIGSET_SIZE: u64 = 8;

fn sys_rt_sigaction(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let sig = arg::int(a[0]);
    if a[3] != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let new = if a[1] != 0 {
        Some(t.mm.read_obj::<KernelSigaction>(UserAddr(a[1]))?)
    } else {
        None
    };
    if !signal::valid(sig) || (new.is_some() && UNBLOCKABLE & bit(sig) != 0) {
        return Err(Errno::EINVAL);
    }
    let idx = (sig - 1) as usize;
    let mut old = t.tg.sigactions.lock()[idx];
    old.flags &= SA_UAPI_FLAGS;
    if let Some(mut act) = new {
        act.flags &= SA_UAPI_FLAGS;
        act.mask &= !UNBLOCKABLE;
        t.tg.sigactions.lock()[idx] = act;
        // POSIX: setting a pending signal to be ignored discards it.
        if signal::ignored_by(act.handler, sig, false, false) {
            t.tg.signals.lock().discard(bit(sig));
        }
    }
    if a[2] != 0 {
        t.mm.write_obj(UserAddr(a[2]), &old)?;
    }
    Ok(0)
}

fn sys_rt_sigprocmask(t: &mut Task, a: &[u64; 6]) -> SysResult {
    if a[3] != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let old = t.sigmask;
    if a[1] != 0 {
        let set = t.mm.read_obj::<u64>(UserAddr(a[1]))? & !UNBLOCKABLE;
        let mask = match arg::uint(a[0]) {
            SIG_BLOCK => old | set,
            SIG_UNBLOCK => old & !set,
            SIG_SETMASK => set,
            _ => return Err(Errno::EINVAL),
        };
        signal::set_mask(t, mask);
    }
    if a[2] != 0 {
        t.mm.write_obj(UserAddr(a[2]), &old)?;
    }
    Ok(0)
}

fn sys_rt_sigpending(t: &mut Task, a: &[u64; 6]) -> SysResult {
    if a[1] > SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let set = t.tg.signals.lock().pending_for(t.tid) & t.sigmask;
    t.mm.copy_out(UserAddr(a[0]), &set.to_le_bytes()[..a[1] as usize])?;
    Ok(0)
}

fn sys_rt_sigsuspend(t: &mut Task, a: &[u64; 6]) -> SysResult {
    if a[1] != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let mask: u64 = t.mm.read_obj(UserAddr(a[0]))?;
    let saved = t.sigmask;
    signal::set_mask(t, mask);
    t.signals.saved_mask = Some(saved);
    if !signal::has_deliverable(t) {
        let _ = t.blocker.block(None);
    }
    // Delivery saves the old mask in the handler's frame, or restores it
    // and restarts the call if no handler ran.
    Err(Errno::ERESTARTNOHAND)
}

fn sys_pause(t: &mut Task, _a: &[u64; 6]) -> SysResult {
    if !signal::has_deliverable(t) {
        let _ = t.blocker.block(None);
    }
    Err(Errno::ERESTARTNOHAND)
}

fn sys_rt_sigtimedwait(t: &mut Task, a: &[u64; 6]) -> SysResult {
    if a[3] != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let set: u64 = t.mm.read_obj(UserAddr(a[0]))?;
    let timeout = if a[2] != 0 {
        let ts: Timespec = t.mm.read_obj(UserAddr(a[2]))?;
        Some(valid_ns(&ts)?)
    } else {
        None
    };
    let blocked = !(set & !UNBLOCKABLE);
    let mut got = signal::dequeue(t, blocked);
    if got.is_none() && timeout != Some(0) {
        // Sleep with the awaited signals unblocked, so that they wake us.
        let real = t.sigmask;
        {
            let mut g = t.tg.signals.lock();
            let th = g.thread(t.tid);
            th.real_blocked = real;
            th.mask = real & blocked;
        }
        let deadline = timeout.map(|ns| mono_ns(&t.kernel).saturating_add(ns));
        let pending = t.tg.signals.lock().pending_for(t.tid) & !(real & blocked) != 0;
        let reason = if pending {
            WakeReason::Interrupted
        } else {
            t.blocker.block(deadline)
        };
        {
            let mut g = t.tg.signals.lock();
            let th = g.thread(t.tid);
            th.mask = real;
            th.real_blocked = 0;
        }
        got = signal::dequeue(t, blocked);
        if got.is_none() {
            return Err(match reason {
                WakeReason::TimedOut => Errno::EAGAIN,
                // Another signal (a handler runs: EINTR), or a stale
                // wake-up (the call restarts).
                _ => Errno::ERESTARTNOHAND,
            });
        }
    }
    let Some(info) = got else {
        return Err(Errno::EAGAIN);
    };
    if a[1] != 0 {
        t.mm.write_obj(UserAddr(a[1]), &info)?;
    }
    Ok(info.signo as u64)
}

/// Linux's `check_kill_permission` (see the module docs).
pub(crate) fn may_signal(
    t: &Task,
    target: &Arc<ThreadGroup>,
    sig: i32,
    from_user: bool,
) -> Result<(), Errno> {
    if sig != 0 && !signal::valid(sig) {
        return Err(Errno::EINVAL);
    }
    if !from_user || Arc::ptr_eq(&t.tg, target) {
        return Ok(());
    }
    let c = &t.creds;
    let (uid, _euid, suid) = target
        .signals
        .lock()
        .threads
        .first()
        .map_or((0, 0, 0), |th| th.ids);
    if c.euid == 0 || c.euid == suid || c.euid == uid || c.uid == suid || c.uid == uid {
        return Ok(());
    }
    if sig == SIGCONT && *target.sid.lock() == *t.tg.sid.lock() {
        return Ok(());
    }
    Err(Errno::EPERM)
}

/// Linux's `group_send_sig_info`: permission, then the signal (0 only
/// checks).
pub(crate) fn group_send(t: &Task, target: &Arc<ThreadGroup>, info: Siginfo) -> Result<(), Errno> {
    may_signal(t, target, info.signo, info.code <= 0)?;
    if info.signo == 0 {
        return Ok(());
    }
    signal::send(&t.kernel, target, Dest::Group, info, false, Some(t.tid))
}

/// Linux's `kill_proc_info`.
fn send_to_pid(t: &Task, pid: Pid, info: Siginfo) -> Result<(), Errno> {
    if pid <= 0 {
        return Err(Errno::ESRCH);
    }
    let tg = t.kernel.thread_group(pid).ok_or(Errno::ESRCH)?;
    group_send(t, &tg, info)
}

fn sys_kill(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let pid = arg::int(a[0]);
    let sig = arg::int(a[1]);
    let info = signal::user_info(t, sig, SI_USER);
    if pid > 0 {
        send_to_pid(t, pid, info)?;
        return Ok(0);
    }
    if pid == i32::MIN {
        return Err(Errno::ESRCH);
    }
    if pid != -1 {
        // A process group: ours (0) or -pid.
        let pgid = if pid == 0 { *t.tg.pgid.lock() } else { -pid };
        let mut success = false;
        let mut last = Err(Errno::ESRCH);
        for g in t
            .kernel
            .processes()
            .iter()
            .filter(|g| *g.pgid.lock() == pgid)
        {
            last = group_send(t, g, info);
            success |= last.is_ok();
        }
        return if success { Ok(0) } else { last.map(|_| 0) };
    }
    // Every process but init and the caller's own.
    let mut count = 0;
    let mut ret = Ok(());
    for g in t
        .kernel
        .processes()
        .iter()
        .filter(|g| g.pid > 1 && !Arc::ptr_eq(g, &t.tg))
    {
        count += 1;
        match group_send(t, g, info) {
            Err(Errno::EPERM) => {}
            r => ret = r,
        }
    }
    if count == 0 {
        return Err(Errno::ESRCH);
    }
    ret.map(|_| 0)
}

/// The group holding thread `tid` (the group of that pid first: threads
/// other than leaders are found in the registries).
fn find_thread(t: &Task, tid: Pid) -> Option<Arc<ThreadGroup>> {
    // A thread other than the leader is gone once it exits (Linux reaps
    // it at once); a leader stays, a zombie, until its group ends.
    let live = |g: &ThreadGroup| {
        g.signals
            .lock()
            .find(tid)
            .is_some_and(|h| !h.exited || tid == g.pid)
    };
    if let Some(g) = t.kernel.thread_group(tid) {
        if live(&g) {
            return Some(g);
        }
    }
    t.kernel.processes().into_iter().find(|g| live(g))
}

/// Linux's `do_send_specific`: thread `tid` (of group `tgid` if given).
fn send_specific(t: &Task, tgid: Option<Pid>, tid: Pid, info: Siginfo) -> SysResult {
    let tg = find_thread(t, tid).ok_or(Errno::ESRCH)?;
    if tgid.is_some_and(|g| g != tg.pid) {
        return Err(Errno::ESRCH);
    }
    may_signal(t, &tg, info.signo, info.code <= 0)?;
    if info.signo == 0 {
        return Ok(0);
    }
    match signal::send(&t.kernel, &tg, Dest::Thread(tid), info, false, Some(t.tid)) {
        Ok(()) | Err(Errno::ESRCH) => Ok(0),
        Err(e) => Err(e),
    }
}

fn sys_tkill(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let tid = arg::int(a[0]);
    let sig = arg::int(a[1]);
    if tid <= 0 {
        return Err(Errno::EINVAL);
    }
    send_specific(t, None, tid, signal::user_info(t, sig, SI_TKILL))
}

fn sys_tgkill(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let tgid = arg::int(a[0]);
    let tid = arg::int(a[1]);
    let sig = arg::int(a[2]);
    if tid <= 0 || tgid <= 0 {
        return Err(Errno::EINVAL);
    }
    send_specific(t, Some(tgid), tid, signal::user_info(t, sig, SI_TKILL))
}

/// True if Linux knows how to lay out a siginfo with this code (otherwise
/// the bytes past the kernel's 48 must be zero).
fn known_layout(sig: i32, code: i32) -> bool {
    let specific = match sig {
        SIGILL => 11,
        SIGFPE => 15,
        SIGSEGV => 10,
        SIGBUS => 5,
        SIGTRAP => 6,
        SIGCHLD => 6,
        SIGIO => 6,
        SIGSYS => 1,
        _ => 0,
    };
    (code > 0 && code <= specific) || code == SI_KERNEL || (-7..=0).contains(&code) || code == -60
}

/// Reads a siginfo from the application as Linux's
/// `__copy_siginfo_from_user`: 48 bytes are taken, the rest arrives as
/// zeros; for an unknown layout the rest must be zero (E2BIG).
pub(crate) fn read_user_info(t: &Task, addr: u64, sig: i32) -> Result<Siginfo, Errno> {
    let mut info = Siginfo::default();
    t.mm.copy_in(UserAddr(addr), &mut info.as_mut_bytes()[..48])?;
    info.signo = sig;
    if !known_layout(sig, info.code) {
        let mut rest = [0u8; 80];
        t.mm.copy_in(UserAddr(addr.wrapping_add(48)), &mut rest)?;
        if rest.iter().any(|&b| b != 0) {
            return Err(Errno::E2BIG);
        }
    }
    Ok(info)
}

fn sys_rt_sigqueueinfo(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let pid = arg::int(a[0]);
    let sig = arg::int(a[1]);
    let info = read_user_info(t, a[2], sig)?;
    // Only the kernel (or a process to itself) may claim kernel codes or
    // tkill's.
    if (info.code >= 0 || info.code == SI_TKILL) && t.tid != pid {
        return Err(Errno::EPERM);
    }
    send_to_pid(t, pid, info)?;
    Ok(0)
}

fn sys_rt_tgsigqueueinfo(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let tgid = arg::int(a[0]);
    let tid = arg::int(a[1]);
    let sig = arg::int(a[2]);
    let info = read_user_info(t, a[3], sig)?;
    if tid <= 0 || tgid <= 0 {
        return Err(Errno::EINVAL);
    }
    if (info.code >= 0 || info.code == SI_TKILL) && t.tid != tid {
        return Err(Errno::EPERM);
    }
    send_specific(t, Some(tgid), tid, info)
}

fn sys_rt_sigreturn(t: &mut Task, _a: &[u64; 6]) -> SysResult {
    t.pending.keep_rax = true;
    if signal::frame::restore(t).is_err() {
        // A bad frame: SIGSEGV, as Linux's signal_fault.
        t.cpu.regs.rax = 0;
        let info = Siginfo {
            signo: SIGSEGV,
            code: SI_KERNEL,
            ..Siginfo::default()
        };
        signal::force(t, info, false);
    }
    Ok(0)
}

fn sys_sigaltstack(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let new = if a[0] != 0 {
        Some(t.mm.read_obj::<SigaltStack>(UserAddr(a[0]))?)
    } else {
        None
    };
    let old = signal::altstack_report(t);
    signal::do_sigaltstack(t, new)?;
    if a[1] != 0 {
        t.mm.write_obj(UserAddr(a[1]), &old)?;
    }
    Ok(0)
}

fn sys_restart_syscall(t: &mut Task, _a: &[u64; 6]) -> SysResult {
    match t.signals.restart.take() {
        Some(RestartBlock::Sleep { deadline_ns, rem }) => {
            super::misc::sleep_until(t, deadline_ns, rem, false)
        }
        None => Err(Errno::EINTR),
    }
}
