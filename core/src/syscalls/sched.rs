//! Scheduling and resource calls: sched_yield, sched_getaffinity,
//! sched_setaffinity, sched_getscheduler, sched_setscheduler,
//! sched_getparam, sched_setparam, sched_get_priority_max / _min,
//! sched_rr_get_interval, getpriority, setpriority, getcpu, getrusage,
//! times and prctl.
//!
//! The scheduling parameters are kept per thread with Linux's checks
//! (`kernel/sched/syscalls.c`, `kernel/sys.c`) but do not change how the
//! host runs the thread (see [`crate::process`]). getcpu answers the
//! lowest CPU of the thread's affinity mask. Times come from veil's CPU
//! accounting ([`crate::process`]); `times` returns clock ticks (100 per
//! second) since the sandbox started, not Linux's jiffies counter (which
//! starts five minutes before zero); only differences of it mean
//! anything, on both.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, Rusage, Timespec, Timeval, Tms};

use super::{arg, Handler};
use crate::kernel::Kernel;
use crate::process::{mono_ns, ns_ts, ChildUsage, SchedAttr, Times};
use crate::task::{Pid, Task, ThreadGroup};
use crate::{SysResult, UserAddr};

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        SCHED_YIELD => |_, _| Ok(0),
        SCHED_GETAFFINITY => sys_sched_getaffinity,
        SCHED_SETAFFINITY => sys_sched_setaffinity,
        SCHED_GETSCHEDULER => sys_sched_getscheduler,
        SCHED_SETSCHEDULER => sys_sched_setscheduler,
        SCHED_GETPARAM => sys_sched_getparam,
        SCHED_SETPARAM => sys_sched_setparam,
        SCHED_GET_PRIORITY_MAX => sys_sched_get_priority_max,
        SCHED_GET_PRIORITY_MIN => sys_sched_get_priority_min,
        SCHED_RR_GET_INTERVAL => sys_sched_rr_get_interval,
        GETPRIORITY => sys_getpriority,
        SETPRIORITY => sys_setpriority,
        GETCPU => sys_getcpu,
        GETRUSAGE => sys_getrusage,
        TIMES => sys_times,
        PRCTL => sys_prctl,
        _ => return None,
    })
}

// -------------------------------------------------------------------------
// Targets

/// A thread a scheduling call acts on.
struct Target {
    tg: Arc<ThreadGroup>,
    tid: Pid,
    /// Its (real, effective, saved) uids.
    ids: (u32, u32, u32),
}

/// Thread `tid` (0: the caller), or ESRCH.
fn target(t: &Task, tid: Pid) -> Result<Target, Errno> {
    if tid == 0 || tid == t.tid {
        let c = &t.creds;
        return Ok(Target {
            tg: t.tg.clone(),
            tid: t.tid,
            ids: (c.uid, c.euid, c.suid),
        });
    }
    if tid < 0 {
        return Err(Errno::ESRCH);
    }
    let tg = t.kernel.thread_group(tid).ok_or(Errno::ESRCH)?;
    let ids = {
        let g = tg.signals.lock();
        let th = g.find(tid).filter(|th| !th.exited).ok_or(Errno::ESRCH)?;
        th.ids
    };
    Ok(Target { tg, tid, ids })
}

/// Linux's `check_same_owner`: the caller's effective uid is the target's
/// real or effective uid.
fn same_owner(t: &Task, p: &Target) -> bool {
    t.creds.euid == p.ids.0 || t.creds.euid == p.ids.1
}

/// Every live thread of the sandbox with its group and uids.
fn all_threads(t: &Task) -> Vec<Target> {
    let groups: Vec<Arc<ThreadGroup>> = t
        .kernel
        .thread_groups
        .lock()
        .iter()
        .filter_map(|(pid, w)| w.upgrade().filter(|g| g.pid == *pid))
        .collect();
    let mut out = Vec::new();
    for tg in groups {
        let ths: Vec<(Pid, (u32, u32, u32))> = tg
            .signals
            .lock()
            .threads
            .iter()
            .filter(|th| !th.exited)
            .map(|th| (th.tid, th.ids))
            .collect();
        for (tid, ids) in ths {
            // The caller's own entry may lag; use its live credentials.
            let ids = if tid == t.tid {
                (t.creds.uid, t.creds.euid, t.creds.suid)
            } else {
                ids
            };
            out.push(Target {
                tg: tg.clone(),
                tid,
                ids,
            });
        }
    }
    out
}

// -------------------------------------------------------------------------
// Affinity

/// CPUs the sandbox shows.
fn cpus(t: &Task) -> usize {
    t.kernel.identity.cpus.max(1) as usize
}

/// The host kernel's `cpumask_size()`.
fn cpumask_size(t: &Task) -> usize {
    match t.kernel.options.cpumask_bytes as usize {
        0 => cpus(t).div_ceil(64) * 8,
        n => n,
    }
}

/// A thread's mask, `size` bytes: its affinity, or every CPU.
fn mask_of(t: &Task, attr: &SchedAttr, size: usize) -> Vec<u8> {
    let mut mask = vec![0u8; size];
    for c in 0..cpus(t).min(size * 8) {
        let on = attr
            .affinity
            .as_ref()
            .is_none_or(|m| m.get(c / 8).is_some_and(|b| b & (1 << (c % 8)) != 0));
        if on {
            mask[c / 8] |= 1 << (c % 8);
        }
    }
    mask
}

fn sys_sched_getaffinity(t: &mut Task, a: &[u64; 6]) -> SysResult {
    // `unsigned int len`; Linux's `len * BITS_PER_BYTE` is unsigned int
    // arithmetic too (it wraps; a usize product overflowed here).
    let len32 = arg::uint(a[1]);
    let len = len32 as usize;
    // Linux wants room for nr_cpu_ids bits, in whole longs, and copies
    // out min(len, cpumask_size()).
    if (len32.wrapping_mul(8) as usize) < cpus(t) || !len.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    let p = target(t, arg::int(a[0]))?;
    let ret = len.min(cpumask_size(t));
    let mask = mask_of(t, &p.tg.pm.sched(p.tid), ret);
    t.mm.copy_out(UserAddr(a[2]), &mask)?;
    Ok(ret as u64)
}

fn sys_sched_setaffinity(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let len = arg::uint(a[1]) as usize;
    let size = cpumask_size(t);
    let mut mask = vec![0u8; size];
    if len >= size {
        t.mm.copy_in(UserAddr(a[2]), &mut mask)?;
    } else {
        t.mm.copy_in(UserAddr(a[2]), &mut mask[..len])?;
    }
    let p = target(t, arg::int(a[0]))?;
    if !same_owner(t, &p) && !t.creds.capable(CAP_SYS_NICE) {
        return Err(Errno::EPERM);
    }
    let n = cpus(t);
    for (i, b) in mask.iter_mut().enumerate() {
        for bit in 0..8 {
            if i * 8 + bit >= n {
                *b &= !(1 << bit);
            }
        }
    }
    if mask.iter().all(|&b| b == 0) {
        return Err(Errno::EINVAL);
    }
    p.tg.pm.set_sched(p.tid, |s| s.affinity = Some(mask));
    Ok(0)
}

fn sys_getcpu(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let attr = t.tg.pm.sched(t.tid);
    let mask = mask_of(t, &attr, cpumask_size(t));
    let cpu = (0..mask.len() * 8)
        .find(|c| mask[c / 8] & (1 << (c % 8)) != 0)
        .unwrap_or(0) as u32;
    let mut fault = false;
    if a[0] != 0 {
        fault |= t.mm.write_obj(UserAddr(a[0]), &cpu).is_err();
    }
    if a[1] != 0 {
        fault |= t.mm.write_obj(UserAddr(a[1]), &0u32).is_err();
    }
    if fault {
        return Err(Errno::EFAULT);
    }
    Ok(0)
}

// -------------------------------------------------------------------------
// Policies and priorities

fn rt_policy(p: u32) -> bool {
    p == SCHED_FIFO || p == SCHED_RR
}

fn sys_sched_get_priority_max(_t: &mut Task, a: &[u64; 6]) -> SysResult {
    match arg::int(a[0]) as u32 {
        SCHED_FIFO | SCHED_RR => Ok(99),
        SCHED_NORMAL | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

fn sys_sched_get_priority_min(_t: &mut Task, a: &[u64; 6]) -> SysResult {
    match arg::int(a[0]) as u32 {
        SCHED_FIFO | SCHED_RR => Ok(1),
        SCHED_NORMAL | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

fn sys_sched_getscheduler(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let pid = arg::int(a[0]);
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    let p = target(t, pid)?;
    let s = p.tg.pm.sched(p.tid);
    let flag = if s.reset_on_fork {
        SCHED_RESET_ON_FORK
    } else {
        0
    };
    Ok((s.policy | flag) as u64)
}

fn sys_sched_getparam(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let pid = arg::int(a[0]);
    if a[1] == 0 || pid < 0 {
        return Err(Errno::EINVAL);
    }
    let p = target(t, pid)?;
    let prio = p.tg.pm.sched(p.tid).rt_priority as i32;
    t.mm.write_obj(UserAddr(a[1]), &prio)?;
    Ok(0)
}

/// Linux's `__sched_setscheduler` for a `struct sched_param`: `policy`
/// `None` keeps the current one (sched_setparam).
fn set_scheduler(t: &Task, pid: i32, policy: Option<u32>, param: u64) -> SysResult {
    if param == 0 || pid < 0 {
        return Err(Errno::EINVAL);
    }
    let prio: i32 = t.mm.read_obj(UserAddr(param))?;
    let p = target(t, pid)?;
    let cur = p.tg.pm.sched(p.tid);
    let (policy, reset) = match policy {
        Some(pol) => (pol & !SCHED_RESET_ON_FORK, pol & SCHED_RESET_ON_FORK != 0),
        None => (cur.policy, cur.reset_on_fork),
    };
    if !matches!(
        policy,
        SCHED_NORMAL | SCHED_FIFO | SCHED_RR | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE
    ) {
        return Err(Errno::EINVAL);
    }
    if !(0..=99).contains(&prio) || rt_policy(policy) != (prio != 0) || policy == SCHED_DEADLINE {
        return Err(Errno::EINVAL);
    }
    let prio = prio as u32;
    if !t.creds.capable(CAP_SYS_NICE) {
        let rtprio = p.tg.rlimit(RLIMIT_RTPRIO);
        if rt_policy(policy) {
            if policy != cur.policy && rtprio == 0 {
                return Err(Errno::EPERM);
            }
            if prio > cur.rt_priority && prio as u64 > rtprio {
                return Err(Errno::EPERM);
            }
        }
        if cur.policy == SCHED_IDLE && policy != SCHED_IDLE && !can_nice(t, &p, cur.nice) {
            return Err(Errno::EPERM);
        }
        if !same_owner(t, &p) {
            return Err(Errno::EPERM);
        }
        if cur.reset_on_fork && !reset {
            return Err(Errno::EPERM);
        }
    }
    p.tg.pm.set_sched(p.tid, |s| {
        s.policy = policy;
        s.rt_priority = prio;
        s.reset_on_fork = reset;
    });
    Ok(0)
}

fn sys_sched_setscheduler(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let policy = arg::int(a[1]);
    if policy < 0 {
        return Err(Errno::EINVAL);
    }
    set_scheduler(t, arg::int(a[0]), Some(policy as u32), a[2])
}

fn sys_sched_setparam(t: &mut Task, a: &[u64; 6]) -> SysResult {
    set_scheduler(t, arg::int(a[0]), None, a[1])
}

fn sys_sched_rr_get_interval(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let pid = arg::int(a[0]);
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    let p = target(t, pid)?;
    // SCHED_RR's time slice is 100 ms; FIFO has none; the fair classes
    // report their slice (veil: the default 3 ms... Linux answers a value
    // that depends on the load, 0 when idle).
    let ns = match p.tg.pm.sched(p.tid).policy {
        SCHED_RR => 100_000_000,
        _ => 0,
    };
    t.mm.write_obj(UserAddr(a[1]), &ns_ts(ns))?;
    Ok(0)
}

/// Linux's `can_nice`: RLIMIT_NICE allows `nice`, or CAP_SYS_NICE.
fn can_nice(t: &Task, p: &Target, nice: i32) -> bool {
    (20 - nice) as u64 <= p.tg.rlimit(RLIMIT_NICE) || t.creds.capable(CAP_SYS_NICE)
}

/// The threads getpriority / setpriority act on (ESRCH for none).
fn prio_targets(t: &Task, which: u32, who: i32) -> Result<Vec<Target>, Errno> {
    match which {
        PRIO_PROCESS => Ok(vec![target(t, who)?]),
        PRIO_PGRP => {
            let pgid = if who == 0 { *t.tg.pgid.lock() } else { who };
            let v: Vec<Target> = all_threads(t)
                .into_iter()
                .filter(|p| *p.tg.pgid.lock() == pgid)
                .collect();
            Ok(v)
        }
        _ => {
            let uid = if who == 0 { t.creds.uid } else { who as u32 };
            Ok(all_threads(t)
                .into_iter()
                .filter(|p| p.ids.0 == uid)
                .collect())
        }
    }
}

fn sys_getpriority(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let which = arg::int(a[0]);
    if !(0..=2).contains(&which) {
        return Err(Errno::EINVAL);
    }
    let who = arg::int(a[1]);
    let best = prio_targets(t, which as u32, who)?
        .iter()
        .map(|p| 20 - p.tg.pm.sched(p.tid).nice)
        .max()
        .ok_or(Errno::ESRCH)?;
    Ok(best as u64)
}

fn sys_setpriority(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let which = arg::int(a[0]);
    if !(0..=2).contains(&which) {
        return Err(Errno::EINVAL);
    }
    let who = arg::int(a[1]);
    let nice = arg::int(a[2]).clamp(-20, 19);
    let mut result = Err(Errno::ESRCH);
    for p in prio_targets(t, which as u32, who)? {
        if !same_owner(t, &p) && !t.creds.capable(CAP_SYS_NICE) {
            result = Err(Errno::EPERM);
            continue;
        }
        if nice < p.tg.pm.sched(p.tid).nice && !can_nice(t, &p, nice) {
            result = Err(Errno::EACCES);
            continue;
        }
        if result == Err(Errno::ESRCH) {
            result = Ok(0);
        }
        p.tg.pm.set_sched(p.tid, |s| s.nice = nice);
    }
    result
}

// -------------------------------------------------------------------------
// getrusage and times

fn timeval(ns: u64) -> Timeval {
    Timeval {
        tv_sec: (ns / 1_000_000_000) as i64,
        tv_usec: ((ns % 1_000_000_000) / 1000) as i64,
    }
}

/// A `struct rusage` with these times and maxrss.
fn rusage(times: Times, maxrss_kb: u64) -> Rusage {
    let mut r = Rusage {
        utime: timeval(times.utime),
        stime: timeval(times.stime),
        ..Rusage::default()
    };
    r.rest[0] = maxrss_kb as i64;
    r
}

/// What wait4 reports for a reaped (or stopped) child.
pub fn child_rusage(kernel: &Kernel, child: &ThreadGroup) -> Rusage {
    let u: ChildUsage = crate::process::child_total(kernel, child);
    rusage(u.times, u.maxrss_kb)
}

fn sys_getrusage(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let who = arg::int(a[0]);
    let now = mono_ns(&t.kernel);
    crate::process::sample_thread(t, now);
    let r = match who {
        RUSAGE_SELF => rusage(t.tg.pm.times(now), t.tg.pm.maxrss_kb()),
        RUSAGE_CHILDREN => {
            let c = *t.tg.pm.children.lock();
            rusage(c.times, c.maxrss_kb)
        }
        RUSAGE_THREAD => rusage(t.tg.pm.thread_times(t.tid, now), t.tg.pm.maxrss_kb()),
        _ => return Err(Errno::EINVAL),
    };
    t.mm.write_obj(UserAddr(a[1]), &r)?;
    Ok(0)
}

/// Nanoseconds as clock ticks (USER_HZ = 100).
fn ticks(ns: u64) -> i64 {
    (ns / 10_000_000) as i64
}

fn sys_times(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let now = mono_ns(&t.kernel);
    if a[0] != 0 {
        crate::process::sample_thread(t, now);
        let me = t.tg.pm.times(now);
        let c = t.tg.pm.children.lock().times;
        let tms = Tms {
            utime: ticks(me.utime),
            stime: ticks(me.stime),
            cutime: ticks(c.utime),
            cstime: ticks(c.stime),
        };
        t.mm.write_obj(UserAddr(a[0]), &tms)?;
    }
    Ok(ticks(now) as u64)
}

// -------------------------------------------------------------------------
// prctl

fn sys_prctl(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let option = arg::int(a[0]) as u32;
    if let Some(r) = super::creds::prctl_caps(t, option, a[1]) {
        return r;
    }
    if let Some(r) = super::seccomp::prctl(t, option, a) {
        return r;
    }
    match option {
        PR_SET_NAME => {
            let mut buf = [0u8; 16];
            // The name is at most 16 bytes with its NUL; read what is there.
            let name = t.mm.read_cstring(UserAddr(a[1]), 15).or_else(|e| {
                if e == Errno::ENAMETOOLONG {
                    t.mm.copy_in(UserAddr(a[1]), &mut buf[..15])?;
                    Ok(buf[..15].to_vec())
                } else {
                    Err(e)
                }
            })?;
            *t.tg.comm.lock() = alloc::string::String::from_utf8_lossy(&name).into_owned();
            Ok(0)
        }
        PR_GET_NAME => {
            let mut buf = [0u8; 16];
            let comm = t.tg.comm.lock().clone();
            let n = comm.len().min(15);
            buf[..n].copy_from_slice(&comm.as_bytes()[..n]);
            t.mm.copy_out(UserAddr(a[1]), &buf)?;
            Ok(0)
        }
        PR_SET_PDEATHSIG => {
            if a[1] > NSIG as u64 {
                return Err(Errno::EINVAL);
            }
            t.tg.pm.pdeathsig.store(a[1] as i32, Ordering::Relaxed);
            Ok(0)
        }
        PR_GET_PDEATHSIG => {
            let sig = t.tg.pm.pdeathsig.load(Ordering::Relaxed);
            t.mm.write_obj(UserAddr(a[1]), &sig)?;
            Ok(0)
        }
        PR_SET_CHILD_SUBREAPER => {
            t.tg.pm.subreaper.store(a[1] != 0, Ordering::Relaxed);
            Ok(0)
        }
        PR_GET_CHILD_SUBREAPER => {
            let on = t.tg.pm.subreaper.load(Ordering::Relaxed) as i32;
            t.mm.write_obj(UserAddr(a[1]), &on)?;
            Ok(0)
        }
        PR_GET_DUMPABLE => Ok(1),
        PR_SET_DUMPABLE => {
            if a[1] > 1 {
                return Err(Errno::EINVAL);
            }
            Ok(0)
        }
        PR_SET_NO_NEW_PRIVS => {
            if a[1] != 1 || a[2] != 0 || a[3] != 0 || a[4] != 0 {
                return Err(Errno::EINVAL);
            }
            t.creds.no_new_privs = true;
            Ok(0)
        }
        PR_GET_NO_NEW_PRIVS => {
            if a[1] != 0 || a[2] != 0 || a[3] != 0 || a[4] != 0 {
                return Err(Errno::EINVAL);
            }
            Ok(t.creds.no_new_privs as u64)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// A timespec of CPU time, for the clocks in [`super::misc`].
pub(crate) fn cpu_clock(t: &Task, clock: i32) -> Result<Timespec, Errno> {
    // (~pid << 3) | perthread << 2 | which; which 3 is invalid.
    let now = mono_ns(&t.kernel);
    crate::process::sample_thread(t, now);
    let (pid, perthread, which) = if clock >= 0 {
        (0, clock as u32 == CLOCK_THREAD_CPUTIME_ID, 2)
    } else {
        (!clock >> 3, clock & 4 != 0, clock & 3)
    };
    if which == 3 {
        return Err(Errno::EINVAL);
    }
    let times = if perthread {
        let tid = if pid == 0 { t.tid } else { pid };
        let tg = if tid == t.tid {
            t.tg.clone()
        } else {
            let tg = t.kernel.thread_group(tid).ok_or(Errno::EINVAL)?;
            if tg.signals.lock().find(tid).is_none_or(|th| th.exited) {
                return Err(Errno::EINVAL);
            }
            tg
        };
        tg.pm.thread_times(tid, now)
    } else {
        let tg = if pid == 0 || pid == t.pid() {
            t.tg.clone()
        } else {
            t.kernel
                .thread_group(pid)
                .filter(|g| g.pid == pid)
                .ok_or(Errno::EINVAL)?
        };
        tg.pm.times(now)
    };
    let ns = if which == 1 {
        times.utime
    } else {
        times.total()
    };
    Ok(ns_ts(ns))
}
