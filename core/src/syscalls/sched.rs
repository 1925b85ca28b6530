//! Scheduling and resource calls: sched_yield, sched_getaffinity,
//! sched_setaffinity, sched_getscheduler, sched_setscheduler,
//! sched_getparam, sched_setparam, sched_get_priority_max / _min,
//! sched_rr_get_interval, sched_setattr, sched_getattr, getpriority,
//! setpriority, ioprio_set, ioprio_get, getcpu, getrusage, times and
//! prctl.
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
        SCHED_SETATTR => sys_sched_setattr,
        SCHED_GETATTR => sys_sched_getattr,
        IOPRIO_SET => sys_ioprio_set,
        IOPRIO_GET => sys_ioprio_get,
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
    let mut out = Vec::new();
    for tg in t.kernel.processes() {
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
// sched_setattr and sched_getattr

/// `struct sched_attr` as this kernel knows it (SCHED_ATTR_SIZE_VER1).
const SCHED_ATTR_SIZE: usize = 56;
/// The first published size (SCHED_ATTR_SIZE_VER0, no utilization clamps).
const SCHED_ATTR_SIZE_VER0: usize = 48;
const SCHED_FLAG_RESET_ON_FORK: u64 = 0x01;
const SCHED_FLAG_KEEP_POLICY: u64 = 0x08;
const SCHED_FLAG_KEEP_PARAMS: u64 = 0x10;
const SCHED_FLAG_UTIL_CLAMP: u64 = 0x20 | 0x40;
/// Every flag Linux knows (`SCHED_FLAG_ALL`).
const SCHED_FLAG_ALL: u64 = 0x7f;
/// `SCHED_FLAG_SUGOV`: the cpufreq governor's own, refused to users.
const SCHED_FLAG_SUGOV: u64 = 0x1000_0000;

/// The fields of a `struct sched_attr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SchedAttrArg {
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
}

impl SchedAttrArg {
    fn parse(b: &[u8; SCHED_ATTR_SIZE]) -> SchedAttrArg {
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap_or_default());
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or_default());
        SchedAttrArg {
            policy: u32_at(4),
            flags: u64_at(8),
            nice: u32_at(16) as i32,
            priority: u32_at(20),
            runtime: u64_at(24),
            deadline: u64_at(32),
            period: u64_at(40),
        }
    }

    fn bytes(&self, size: u32) -> [u8; SCHED_ATTR_SIZE] {
        let mut b = [0u8; SCHED_ATTR_SIZE];
        b[0..4].copy_from_slice(&size.to_le_bytes());
        b[4..8].copy_from_slice(&self.policy.to_le_bytes());
        b[8..16].copy_from_slice(&self.flags.to_le_bytes());
        b[16..20].copy_from_slice(&self.nice.to_le_bytes());
        b[20..24].copy_from_slice(&self.priority.to_le_bytes());
        b[24..32].copy_from_slice(&self.runtime.to_le_bytes());
        b[32..40].copy_from_slice(&self.deadline.to_le_bytes());
        b[40..48].copy_from_slice(&self.period.to_le_bytes());
        // sched_util_min / max stay 0: veil has no utilization clamping
        // (a kernel without CONFIG_UCLAMP_TASK).
        b
    }
}

/// The fair class's default slice: Linux's 0.7 ms base slice scaled by
/// 1 + log2(CPUs), at most 8 CPUs counted.
fn default_slice_ns(t: &Task) -> u64 {
    let n = cpus(t).min(8) as u64;
    700_000 * (1 + (63 - n.leading_zeros() as u64))
}

/// What sched_getattr reports of a thread (Linux's `get_params`).
fn current_params(t: &Task, s: &SchedAttr) -> SchedAttrArg {
    let mut a = SchedAttrArg {
        policy: s.policy,
        flags: if s.reset_on_fork {
            SCHED_FLAG_RESET_ON_FORK
        } else {
            0
        },
        ..Default::default()
    };
    if rt_policy(s.policy) {
        a.priority = s.rt_priority;
    } else {
        a.nice = s.nice;
        a.runtime = if s.slice_ns != 0 {
            s.slice_ns
        } else {
            default_slice_ns(t)
        };
    }
    a
}

/// Linux's `__checkparam_dl` with the default period bounds (100 µs to
/// about 4 s).
fn dl_params_ok(a: &SchedAttrArg) -> bool {
    if a.deadline == 0 || a.runtime < 1 << 10 {
        return false;
    }
    if a.deadline & (1 << 63) != 0 || a.period & (1 << 63) != 0 {
        return false;
    }
    let period = if a.period == 0 { a.deadline } else { a.period };
    if period < a.deadline || a.deadline < a.runtime {
        return false;
    }
    (100_000..=4_194_304_000).contains(&period)
}

fn fair_policy(p: u32) -> bool {
    matches!(p, SCHED_NORMAL | SCHED_BATCH | SCHED_IDLE)
}

/// Reads a `struct sched_attr` as Linux's `sched_copy_attr`: `E2BIG`
/// (with this kernel's size written back) for a size out of range or
/// non-zero bytes past what it knows.
fn read_sched_attr(t: &Task, addr: u64) -> Result<SchedAttrArg, Errno> {
    let size: u32 = t.mm.read_obj(UserAddr(addr))?;
    let size = match size as usize {
        0 => SCHED_ATTR_SIZE_VER0,
        n => n,
    };
    let too_big = |t: &Task| {
        t.mm.write_obj(UserAddr(addr), &(SCHED_ATTR_SIZE as u32))?;
        Err(Errno::E2BIG)
    };
    if !(SCHED_ATTR_SIZE_VER0..=veil_abi::PAGE_SIZE as usize).contains(&size) {
        return too_big(t);
    }
    if size > SCHED_ATTR_SIZE {
        let mut rest = vec![0u8; size - SCHED_ATTR_SIZE];
        t.mm.copy_in(UserAddr(addr + SCHED_ATTR_SIZE as u64), &mut rest)?;
        if rest.iter().any(|&b| b != 0) {
            return too_big(t);
        }
    }
    let mut b = [0u8; SCHED_ATTR_SIZE];
    let n = size.min(SCHED_ATTR_SIZE);
    t.mm.copy_in(UserAddr(addr), &mut b[..n])?;
    let mut attr = SchedAttrArg::parse(&b);
    if attr.flags & SCHED_FLAG_UTIL_CLAMP != 0 && size < SCHED_ATTR_SIZE {
        return Err(Errno::EINVAL);
    }
    attr.nice = attr.nice.clamp(-20, 19);
    Ok(attr)
}

fn sys_sched_setattr(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let pid = arg::int(a[0]);
    if a[1] == 0 || pid < 0 || arg::uint(a[2]) != 0 {
        return Err(Errno::EINVAL);
    }
    let mut attr = read_sched_attr(t, a[1])?;
    if (attr.policy as i32) < 0 {
        return Err(Errno::EINVAL);
    }
    let p = target(t, pid)?;
    let cur = p.tg.pm.sched(p.tid);
    if attr.flags & SCHED_FLAG_KEEP_PARAMS != 0 {
        let now = current_params(t, &cur);
        attr.nice = now.nice;
        attr.priority = now.priority;
        attr.runtime = now.runtime;
        attr.deadline = now.deadline;
        attr.period = now.period;
    }
    set_attr(t, &p, &cur, &attr)
}

/// Linux's `__sched_setscheduler` for a user's `struct sched_attr`.
fn set_attr(t: &Task, p: &Target, cur: &SchedAttr, attr: &SchedAttrArg) -> SysResult {
    let (policy, reset) = if attr.flags & SCHED_FLAG_KEEP_POLICY != 0 {
        (cur.policy, cur.reset_on_fork)
    } else {
        if !matches!(
            attr.policy,
            SCHED_NORMAL | SCHED_FIFO | SCHED_RR | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE
        ) {
            return Err(Errno::EINVAL);
        }
        (attr.policy, attr.flags & SCHED_FLAG_RESET_ON_FORK != 0)
    };
    if attr.flags & !(SCHED_FLAG_ALL | SCHED_FLAG_SUGOV) != 0 {
        return Err(Errno::EINVAL);
    }
    let prio = attr.priority;
    if prio > 99
        || (policy == SCHED_DEADLINE && !dl_params_ok(attr))
        || rt_policy(policy) != (prio != 0)
    {
        return Err(Errno::EINVAL);
    }
    if !t.creds.capable(CAP_SYS_NICE) {
        let rtprio = p.tg.rlimit(RLIMIT_RTPRIO);
        let denied = (fair_policy(policy) && attr.nice < cur.nice && !can_nice(t, p, attr.nice))
            || (rt_policy(policy)
                && ((policy != cur.policy && rtprio == 0)
                    || (prio > cur.rt_priority && prio as u64 > rtprio)))
            || policy == SCHED_DEADLINE
            || (cur.policy == SCHED_IDLE && policy != SCHED_IDLE && !can_nice(t, p, cur.nice))
            || !same_owner(t, p)
            || (cur.reset_on_fork && !reset);
        if denied {
            return Err(Errno::EPERM);
        }
    }
    if attr.flags & SCHED_FLAG_SUGOV != 0 {
        return Err(Errno::EINVAL);
    }
    if attr.flags & SCHED_FLAG_UTIL_CLAMP != 0 {
        // As a kernel without CONFIG_UCLAMP_TASK.
        return Err(Errno::EOPNOTSUPP);
    }
    if policy == SCHED_DEADLINE && cur.policy != SCHED_DEADLINE {
        // Admission control: the sandbox grants no deadline bandwidth.
        t.kernel
            .note_unsupported("sched_setattr: SCHED_DEADLINE (EBUSY)");
        return Err(Errno::EBUSY);
    }
    if attr.flags & SCHED_FLAG_KEEP_PARAMS != 0 {
        // Linux applies neither the policy nor the parameters then.
        p.tg.pm.set_sched(p.tid, |s| s.reset_on_fork = reset);
        return Ok(0);
    }
    p.tg.pm.set_sched(p.tid, |s| {
        s.policy = policy;
        s.reset_on_fork = reset;
        s.rt_priority = prio;
        if fair_policy(policy) {
            s.nice = attr.nice;
            s.slice_ns = match attr.runtime {
                0 => 0,
                r => r.clamp(100_000, 100_000_000),
            };
        }
    });
    Ok(0)
}

fn sys_sched_getattr(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let pid = arg::int(a[0]);
    let usize_ = arg::uint(a[2]) as usize;
    if a[1] == 0
        || pid < 0
        || usize_ > veil_abi::PAGE_SIZE as usize
        || usize_ < SCHED_ATTR_SIZE_VER0
        || arg::uint(a[3]) != 0
    {
        return Err(Errno::EINVAL);
    }
    let p = target(t, pid)?;
    let attr = current_params(t, &p.tg.pm.sched(p.tid));
    let n = usize_.min(SCHED_ATTR_SIZE);
    t.mm.copy_out(UserAddr(a[1]), &attr.bytes(n as u32)[..n])?;
    // A larger structure than this kernel knows gets zeros past its end
    // (copy_struct_to_user).
    if usize_ > n {
        t.mm.zero_out(UserAddr(a[1] + n as u64), (usize_ - n) as u64)?;
    }
    Ok(0)
}

// -------------------------------------------------------------------------
// I/O priorities

const IOPRIO_WHO_PROCESS: i32 = 1;
const IOPRIO_WHO_PGRP: i32 = 2;
const IOPRIO_WHO_USER: i32 = 3;
const IOPRIO_CLASS_NONE: u32 = 0;
const IOPRIO_CLASS_RT: u32 = 1;
const IOPRIO_CLASS_BE: u32 = 2;
const IOPRIO_CLASS_IDLE: u32 = 3;

/// IOPRIO_PRIO_VALUE(class, level).
pub(crate) fn ioprio_value(class: u32, level: u32) -> u16 {
    ((class << 13) | level) as u16
}

/// Linux's `ioprio_check_cap`: the class and level make sense and an
/// RT class is asked for with CAP_SYS_ADMIN or CAP_SYS_NICE.
fn ioprio_check(t: &Task, v: i32) -> Result<(), Errno> {
    let class = (v as u32 >> 13) & 7;
    let level = v as u32 & 7;
    match class {
        IOPRIO_CLASS_RT | IOPRIO_CLASS_BE => {
            if class == IOPRIO_CLASS_RT
                && !t.creds.capable(CAP_SYS_ADMIN)
                && !t.creds.capable(CAP_SYS_NICE)
            {
                return Err(Errno::EPERM);
            }
            Ok(())
        }
        IOPRIO_CLASS_IDLE => Ok(()),
        IOPRIO_CLASS_NONE if level == 0 => Ok(()),
        _ => Err(Errno::EINVAL),
    }
}

/// The priority a thread's I/O gets (Linux's `__get_task_ioprio`): what
/// was set, or for class NONE one derived from the CPU policy and nice.
fn effective_ioprio(s: &SchedAttr) -> u16 {
    if (s.ioprio >> 13) as u32 != IOPRIO_CLASS_NONE {
        return s.ioprio;
    }
    let class = if s.policy == SCHED_IDLE {
        IOPRIO_CLASS_IDLE
    } else if rt_policy(s.policy) || s.policy == SCHED_DEADLINE {
        IOPRIO_CLASS_RT
    } else {
        IOPRIO_CLASS_BE
    };
    ioprio_value(class, ((s.nice + 20) / 5) as u32)
}

/// The threads ioprio_set / ioprio_get act on: a thread, a process
/// group's threads, or a user's.
fn ioprio_targets(t: &Task, which: i32, who: i32) -> Result<Vec<Target>, Errno> {
    match which {
        IOPRIO_WHO_PROCESS => Ok(target(t, who).map(|p| vec![p]).unwrap_or_default()),
        IOPRIO_WHO_PGRP => prio_targets(t, PRIO_PGRP, who),
        IOPRIO_WHO_USER => prio_targets(t, PRIO_USER, who),
        _ => Err(Errno::EINVAL),
    }
}

fn sys_ioprio_set(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (which, who, v) = (arg::int(a[0]), arg::int(a[1]), arg::int(a[2]));
    ioprio_check(t, v)?;
    let mut result = Err(Errno::ESRCH);
    for p in ioprio_targets(t, which, who)? {
        // Linux's set_task_ioprio: the target's real uid is the caller's
        // real or effective uid, or CAP_SYS_NICE.
        if p.ids.0 != t.creds.euid && p.ids.0 != t.creds.uid && !t.creds.capable(CAP_SYS_NICE) {
            return Err(Errno::EPERM);
        }
        p.tg.pm.set_sched(p.tid, |s| s.ioprio = v as u16);
        result = Ok(0);
    }
    result
}

fn sys_ioprio_get(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (which, who) = (arg::int(a[0]), arg::int(a[1]));
    let targets = ioprio_targets(t, which, who)?;
    if which == IOPRIO_WHO_PROCESS {
        // The value as set (class NONE if never), not the effective one.
        let p = targets.first().ok_or(Errno::ESRCH)?;
        return Ok(p.tg.pm.sched(p.tid).ioprio as u64);
    }
    targets
        .iter()
        .map(|p| effective_ioprio(&p.tg.pm.sched(p.tid)))
        .min()
        .map(|v| v as u64)
        .ok_or(Errno::ESRCH)
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
        PR_GET_DUMPABLE => Ok(t.tg.pm.dumpable.get() as u64),
        PR_SET_DUMPABLE => {
            if a[1] > 1 {
                return Err(Errno::EINVAL);
            }
            t.tg.pm.dumpable.set(a[1] as u8);
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
