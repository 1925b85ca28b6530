//! futex(2) in full — WAIT, WAKE, REQUEUE, CMP_REQUEUE, WAKE_OP,
//! WAIT_BITSET, WAKE_BITSET, LOCK_PI, LOCK_PI2, UNLOCK_PI, TRYLOCK_PI,
//! WAIT_REQUEUE_PI, CMP_REQUEUE_PI — the futex2 calls (futex_waitv,
//! futex_wake, futex_wait, futex_requeue), set_robust_list /
//! get_robust_list, and the futex part of a thread's exit and exec
//! ([`release`]), on the queues in [`crate::futex`].
//!
//! Linux's order of checks is kept: the timeout is read and validated
//! before the command is looked at (EFAULT / EINVAL), then
//! FUTEX_CLOCK_REALTIME is refused (ENOSYS) for every command but
//! WAIT_BITSET, WAIT_REQUEUE_PI and LOCK_PI2. Timeouts: FUTEX_WAIT's is
//! relative; LOCK_PI's absolute on CLOCK_REALTIME; the others' absolute on
//! CLOCK_MONOTONIC, or CLOCK_REALTIME with the flag; futex_waitv's and
//! futex_wait's absolute on the clock named by `clockid`.
//!
//! Interrupted by a signal: FUTEX_WAIT without a timeout, futex_waitv and
//! futex_wait answer ERESTARTSYS (restarted under SA_RESTART); FUTEX_WAIT
//! with a timeout answers ERESTARTNOHAND — Linux's ERESTART_RESTARTBLOCK
//! (EINTR if a handler runs, else resumed): veil resumes it by restarting
//! the call, which for a relative FUTEX_WAIT timeout starts the timeout
//! again; LOCK_PI restarts always (ERESTARTNOINTR); WAIT_REQUEUE_PI
//! restarts if not yet requeued, and answers EAGAIN once requeued.
//!
//! A private futex's key is only range-checked, as Linux's
//! `get_futex_key` does, so FUTEX_WAKE_PRIVATE on unmapped memory answers
//! 0; a shared one must be mapped (EFAULT).
//!
//! futex2 flags: FUTEX2_SIZE_U32 is the only size (the others EINVAL, as
//! in Linux); FUTEX2_NUMA words are 8 bytes (value, node): the node must
//! be -1 (it is set to 0, veil's one node) or 0; FUTEX2_MPOL changes
//! nothing (veil has no memory policies).

use alloc::sync::Arc;
use alloc::vec::Vec;

use veil_abi::flags::*;
use veil_abi::{sysno, Errno, FutexWaitv, Timespec, PAGE_SIZE};

use super::{arg, Handler};
use crate::futex::{FutexKey, PiError, PiLock, WaitHandle, WaitState};
use crate::host::WakeReason;
use crate::mm::MemoryManager;
use crate::process::{mono_ns, valid_ns};
use crate::task::{Pid, Task};
use crate::{SysResult, UserAddr};

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        sysno::FUTEX => sys_futex,
        sysno::FUTEX_WAITV => sys_futex_waitv,
        sysno::FUTEX_WAKE => sys_futex_wake,
        sysno::FUTEX_WAIT => sys_futex_wait,
        sysno::FUTEX_REQUEUE => sys_futex_requeue,
        sysno::SET_ROBUST_LIST => sys_set_robust_list,
        sysno::GET_ROBUST_LIST => sys_get_robust_list,
        _ => return None,
    })
}

/// The futex2 flags a futex_waitv entry (or futex_wake/futex_wait) may
/// carry.
const FUTEX2_VALID_MASK: u32 = FUTEX2_SIZE_MASK | FUTEX2_NUMA | FUTEX2_MPOL | FUTEX2_PRIVATE;

/// `sizeof(struct robust_list_head)`.
const ROBUST_HEAD_LEN: u64 = 24;

/// The key for the 4-byte word at `addr` in `mm`, as Linux's
/// `get_futex_key`: EINVAL if misaligned, EFAULT past the user address
/// space. A private futex is keyed by (address space, address) without
/// touching the word; a shared one must be mapped (EFAULT) and is keyed
/// by its memory-file offset in a MAP_SHARED mapping (the page is
/// populated if it was never touched), else by (address space, address)
/// apart from the private keys (Linux's FUT_OFF_MMSHARED).
pub(crate) fn key_in(mm: &Arc<MemoryManager>, addr: u64, private: bool) -> Result<FutexKey, Errno> {
    if !addr.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    if addr.checked_add(4).is_none_or(|end| end > mm.max_address()) {
        return Err(Errno::EFAULT);
    }
    let id = Arc::as_ptr(mm) as *const u8 as usize;
    if private {
        return Ok(FutexKey::Private(id, addr));
    }
    let _: u32 = mm.read_obj(UserAddr(addr))?;
    if let Some(off) = mm.shared_offset(UserAddr(addr)) {
        return Ok(FutexKey::Shared(off.0));
    }
    if mm.in_shared_mapping(UserAddr(addr)) {
        let page = addr & !(PAGE_SIZE - 1);
        if mm.populate(UserAddr(page), PAGE_SIZE).is_ok() {
            if let Some(off) = mm.shared_offset(UserAddr(addr)) {
                return Ok(FutexKey::Shared(off.0));
            }
        }
    }
    Ok(FutexKey::Mm(id, addr))
}

/// [`key_in`] for the caller's address space.
pub(crate) fn key(t: &Task, addr: u64, private: bool) -> Result<FutexKey, Errno> {
    key_in(&t.mm, addr, private)
}

/// The key for a futex2 word with flags `flags2` (already validated): a
/// FUTEX2_NUMA word is 8 bytes, 8-aligned, its second half the NUMA node
/// (-1 becomes 0; anything but 0 is EINVAL, veil having one node).
fn key2(t: &Task, addr: u64, flags2: u32) -> Result<FutexKey, Errno> {
    let private = flags2 & FUTEX2_PRIVATE != 0;
    if flags2 & FUTEX2_NUMA != 0 {
        if !addr.is_multiple_of(8) {
            return Err(Errno::EINVAL);
        }
        if addr
            .checked_add(8)
            .is_none_or(|end| end > t.mm.max_address())
        {
            return Err(Errno::EFAULT);
        }
        let naddr = UserAddr(addr + 4);
        let node: u32 = t.mm.read_obj(naddr)?;
        if node == u32::MAX {
            t.mm.write_obj(naddr, &0u32)?;
        } else if node != 0 {
            return Err(Errno::EINVAL);
        }
    }
    key(t, addr, private)
}

/// Checks futex2 flags: only known bits, size u32.
fn check_flags2(flags2: u32) -> Result<(), Errno> {
    if flags2 & !FUTEX2_VALID_MASK != 0 || flags2 & FUTEX2_SIZE_MASK != FUTEX2_SIZE_U32 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Reads one `struct futex_waitv` and checks its flags and value.
fn read_waitv(t: &Task, at: u64) -> Result<FutexWaitv, Errno> {
    let w: FutexWaitv = t.mm.read_obj(UserAddr(at))?;
    if w.reserved != 0 {
        return Err(Errno::EINVAL);
    }
    check_flags2(w.flags)?;
    if w.val >> 32 != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(w)
}

/// The timespec at `addr` in nanoseconds (EFAULT, EINVAL).
fn read_timeout(t: &Task, addr: u64) -> Result<u64, Errno> {
    let ts: Timespec = t.mm.read_obj(UserAddr(addr))?;
    valid_ns(&ts)
}

/// The monotonic deadline for the absolute time `ns` on CLOCK_REALTIME
/// (`realtime`) or CLOCK_MONOTONIC.
fn abs_deadline(t: &Task, ns: u64, realtime: bool) -> u64 {
    let mono = mono_ns(&t.kernel);
    if !realtime {
        return ns;
    }
    let real = valid_ns(&t.kernel.clock.realtime()).unwrap_or(0);
    mono.saturating_add(ns.saturating_sub(real))
}

/// futex_waitv's and futex_wait's timeout: absolute on `clockid`, which
/// must be CLOCK_REALTIME or CLOCK_MONOTONIC.
fn futex2_deadline(t: &Task, addr: u64, clockid: i32) -> Result<Option<u64>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let realtime = match clockid {
        c if c == CLOCK_REALTIME as i32 => true,
        c if c == CLOCK_MONOTONIC as i32 => false,
        _ => return Err(Errno::EINVAL),
    };
    let ns = read_timeout(t, addr)?;
    Ok(Some(abs_deadline(t, ns, realtime)))
}

/// FUTEX_WAIT / WAIT_BITSET / futex_wait: sleeps while the word at `addr`
/// is `val`. `on_signal` is what an interruption answers.
fn wait(
    t: &mut Task,
    k: FutexKey,
    addr: u64,
    val: u32,
    bitset: u32,
    deadline: Option<u64>,
    on_signal: Errno,
) -> SysResult {
    let mm = t.mm.clone();
    let h = t.kernel.futexes.enqueue(k, bitset, t.blocker.clone(), || {
        let cur: u32 = mm.read_obj(UserAddr(addr))?;
        if cur != val {
            return Err(Errno::EAGAIN);
        }
        Ok(())
    })?;
    loop {
        if h.woken() {
            return Ok(0);
        }
        let err = match t.blocker.block(deadline) {
            WakeReason::Woken => continue,
            WakeReason::TimedOut => Errno::ETIMEDOUT,
            WakeReason::Interrupted => on_signal,
        };
        return if t.kernel.futexes.dequeue(&h) {
            Ok(0)
        } else {
            Err(err)
        };
    }
}

/// What an interrupted FUTEX_WAIT / WAIT_BITSET answers.
fn wait_restart(deadline: Option<u64>) -> Errno {
    if deadline.is_some() {
        Errno::ERESTARTNOHAND
    } else {
        Errno::ERESTARTSYS
    }
}

/// How many waiters a wake count lets FUTEX_WAKE and FUTEX_WAKE_OP wake:
/// Linux's loop (`if (++ret >= nr_wake) break`) wakes one even for a count
/// of 0 or below (the int is signed).
fn wake_count(val: u32) -> u32 {
    if (val as i32) <= 0 {
        1
    } else {
        val
    }
}

/// FUTEX_WAKE_OP's operation on the word at `uaddr2` (atomically, as
/// Linux's `futex_atomic_op_inuser`); returns whether the comparison with
/// the old value holds. An unknown operation is ENOSYS before the word is
/// touched, an unknown comparison ENOSYS after it was changed.
fn wake_op_apply(mm: &MemoryManager, uaddr2: u64, encoded: u32) -> Result<bool, Errno> {
    let op = (encoded >> 28) & 7;
    let shift = encoded & (8 << 28) != 0;
    let cmp = (encoded >> 24) & 15;
    // Both arguments are 12-bit signed; a shift past 31 is masked (Linux
    // warns and masks).
    let sext12 = |v: u32| (((v & 0xfff) << 20) as i32 >> 20) as u32;
    let mut oparg = sext12(encoded >> 12);
    let cmparg = sext12(encoded);
    if shift {
        oparg = 1 << (oparg & 31);
    }
    if op > 4 {
        return Err(Errno::ENOSYS);
    }
    let old = loop {
        let old: u32 = mm.read_obj(UserAddr(uaddr2))?;
        let new = match op {
            0 => oparg,
            1 => old.wrapping_add(oparg),
            2 => old | oparg,
            3 => old & !oparg,
            _ => old ^ oparg,
        };
        if mm.cmpxchg_u32(UserAddr(uaddr2), old, new)? == old {
            break old;
        }
    };
    Ok(match cmp {
        0 => old == cmparg,
        1 => old != cmparg,
        2 => (old as i32) < (cmparg as i32),
        3 => (old as i32) <= (cmparg as i32),
        4 => (old as i32) > (cmparg as i32),
        5 => (old as i32) >= (cmparg as i32),
        _ => return Err(Errno::ENOSYS),
    })
}

/// True if `pid` names a thread the kernel knows (alive, or a zombie
/// leader: [`crate::futex`] tells the dead apart).
fn known(t: &Task) -> impl Fn(Pid) -> bool + '_ {
    move |p: Pid| p > 0 && t.kernel.thread_group(p).is_some()
}

/// Sleeps on a PI lock until it is handed over, the deadline passes or a
/// signal comes. `addr` is the PI word; `restart` what a signal answers
/// while the waiter is still on its first queue, `requeued` once
/// CMP_REQUEUE_PI moved it.
fn pi_wait(
    t: &mut Task,
    h: &WaitHandle,
    addr: u64,
    deadline: Option<u64>,
    restart: Errno,
    requeued: Errno,
) -> SysResult {
    let table = &t.kernel.futexes;
    loop {
        match h.state() {
            WaitState::Locked => return Ok(0),
            WaitState::LockedOwnerDied => return table.pi_fixup(&t.mm, addr, h, t.tid).map(|_| 0),
            _ => {}
        }
        let timed_out = match t.blocker.block(deadline) {
            WakeReason::Woken => continue,
            WakeReason::TimedOut => true,
            WakeReason::Interrupted => false,
        };
        return match table.cancel(h) {
            WaitState::Locked | WaitState::Woken => Ok(0),
            WaitState::LockedOwnerDied => table.pi_fixup(&t.mm, addr, h, t.tid).map(|_| 0),
            _ if timed_out => Err(Errno::ETIMEDOUT),
            WaitState::Requeued => Err(requeued),
            WaitState::Waiting => Err(restart),
        };
    }
}

/// FUTEX_LOCK_PI / LOCK_PI2 / TRYLOCK_PI.
fn lock_pi(
    t: &mut Task,
    addr: u64,
    private: bool,
    deadline: Option<u64>,
    trylock: bool,
) -> SysResult {
    let k = key(t, addr, private)?;
    let got =
        t.kernel
            .futexes
            .lock_pi(&t.mm, addr, k, t.tid, t.blocker.clone(), trylock, &known(t))?;
    match got {
        PiLock::Acquired => Ok(0),
        PiLock::Queued(h) => pi_wait(
            t,
            &h,
            addr,
            deadline,
            Errno::ERESTARTNOINTR,
            Errno::ERESTARTNOINTR,
        ),
    }
}

/// FUTEX_UNLOCK_PI: only the owner (the word's TID) may unlock (EPERM).
fn unlock_pi(t: &mut Task, addr: u64, private: bool) -> SysResult {
    loop {
        let uval: u32 = t.mm.read_obj(UserAddr(addr))?;
        if uval & FUTEX_TID_MASK != t.tid as u32 & FUTEX_TID_MASK {
            return Err(Errno::EPERM);
        }
        let k = key(t, addr, private)?;
        match t.kernel.futexes.unlock_pi(&t.mm, addr, k, t.tid, uval) {
            Ok(()) => return Ok(0),
            Err(PiError::Retry) => continue,
            Err(PiError::Errno(e)) => return Err(e),
        }
    }
}

/// FUTEX_WAIT_REQUEUE_PI: waits on the plain word at `addr` (while it is
/// `val`) to be requeued onto, and then to own, the PI futex at `addr2`.
fn wait_requeue_pi(
    t: &mut Task,
    addr: u64,
    val: u32,
    deadline: Option<u64>,
    addr2: u64,
    private: bool,
) -> SysResult {
    if addr == addr2 {
        return Err(Errno::EINVAL);
    }
    let k2 = key(t, addr2, private)?;
    let k1 = key(t, addr, private)?;
    let mm = t.mm.clone();
    let h = t
        .kernel
        .futexes
        .enqueue_requeue_pi(k1, k2, t.tid, t.blocker.clone(), || {
            let cur: u32 = mm.read_obj(UserAddr(addr))?;
            if cur != val {
                return Err(Errno::EAGAIN);
            }
            Ok(())
        })?;
    pi_wait(t, &h, addr2, deadline, Errno::ERESTARTNOINTR, Errno::EAGAIN)
}

/// FUTEX_REQUEUE / CMP_REQUEUE / futex_requeue.
#[allow(clippy::too_many_arguments)]
fn requeue(
    t: &mut Task,
    addr1: u64,
    k1: Result<FutexKey, Errno>,
    k2: Result<FutexKey, Errno>,
    n_wake: i32,
    n_requeue: i32,
    cmpval: Option<u32>,
) -> SysResult {
    if n_wake < 0 || n_requeue < 0 {
        return Err(Errno::EINVAL);
    }
    let (k1, k2) = (k1?, k2?);
    let mm = t.mm.clone();
    let n = t
        .kernel
        .futexes
        .requeue(k1, k2, n_wake as u32, n_requeue as u32, || {
            if let Some(v) = cmpval {
                let cur: u32 = mm.read_obj(UserAddr(addr1))?;
                if cur != v {
                    return Err(Errno::EAGAIN);
                }
            }
            Ok(())
        })?;
    Ok(n as u64)
}

fn sys_futex(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (uaddr, op, val, utime, uaddr2, val3) = (
        a[0],
        arg::uint(a[1]),
        arg::uint(a[2]),
        a[3],
        a[4],
        arg::uint(a[5]),
    );
    let private = op & FUTEX_PRIVATE_FLAG != 0;
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    // The timeout is read before anything else is looked at.
    let mut deadline = None;
    if utime != 0
        && matches!(
            cmd,
            FUTEX_WAIT | FUTEX_LOCK_PI | FUTEX_LOCK_PI2 | FUTEX_WAIT_BITSET | FUTEX_WAIT_REQUEUE_PI
        )
    {
        let ns = read_timeout(t, utime)?;
        deadline = Some(match cmd {
            FUTEX_WAIT => mono_ns(&t.kernel).saturating_add(ns),
            FUTEX_LOCK_PI => abs_deadline(t, ns, true),
            _ => abs_deadline(t, ns, realtime),
        });
    }
    if realtime
        && !matches!(
            cmd,
            FUTEX_WAIT_BITSET | FUTEX_WAIT_REQUEUE_PI | FUTEX_LOCK_PI2
        )
    {
        return Err(Errno::ENOSYS);
    }
    // val2 (a count) travels in the timeout argument.
    let val2 = utime as u32;
    match cmd {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let bitset = op_bitset(cmd == FUTEX_WAIT, val3)?;
            let k = key(t, uaddr, private)?;
            wait(t, k, uaddr, val, bitset, deadline, wait_restart(deadline))
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bitset = op_bitset(cmd == FUTEX_WAKE, val3)?;
            let k = key(t, uaddr, private)?;
            Ok(t.kernel.futexes.try_wake(k, wake_count(val), bitset)? as u64)
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            let (n_wake, n_requeue) = (val as i32, val2 as i32);
            if n_wake < 0 || n_requeue < 0 {
                return Err(Errno::EINVAL);
            }
            let k1 = key(t, uaddr, private);
            let k2 = k1.and_then(|_| key(t, uaddr2, private));
            let cmp = (cmd == FUTEX_CMP_REQUEUE).then_some(val3);
            requeue(t, uaddr, k1, k2, n_wake, n_requeue, cmp)
        }
        FUTEX_WAKE_OP => {
            let k1 = key(t, uaddr, private)?;
            let k2 = key(t, uaddr2, private)?;
            let mm = t.mm.clone();
            let n = t
                .kernel
                .futexes
                .wake_op(k1, k2, wake_count(val), wake_count(val2), || {
                    wake_op_apply(&mm, uaddr2, val3)
                })?;
            Ok(n as u64)
        }
        FUTEX_LOCK_PI | FUTEX_LOCK_PI2 => lock_pi(t, uaddr, private, deadline, false),
        FUTEX_TRYLOCK_PI => lock_pi(t, uaddr, private, None, true),
        FUTEX_UNLOCK_PI => unlock_pi(t, uaddr, private),
        FUTEX_WAIT_REQUEUE_PI => wait_requeue_pi(t, uaddr, val, deadline, uaddr2, private),
        FUTEX_CMP_REQUEUE_PI => {
            let (n_wake, n_requeue) = (val as i32, val2 as i32);
            if n_wake < 0 || n_requeue < 0 || uaddr == uaddr2 || n_wake != 1 {
                return Err(Errno::EINVAL);
            }
            let k1 = key(t, uaddr, private)?;
            let k2 = key(t, uaddr2, private)?;
            if k1 == k2 {
                return Err(Errno::EINVAL);
            }
            let n = t.kernel.futexes.requeue_pi(
                &t.mm,
                uaddr,
                k1,
                uaddr2,
                k2,
                n_requeue as u32,
                val3,
                &known(t),
            )?;
            Ok(n as u64)
        }
        _ => Err(Errno::ENOSYS),
    }
}

/// The bitset of a wait or a wake: every bit for the plain op, `val3`
/// for the _BITSET one, which may not be empty (EINVAL).
fn op_bitset(plain: bool, val3: u32) -> Result<u32, Errno> {
    let bitset = if plain { FUTEX_BITSET_MATCH_ANY } else { val3 };
    if bitset == 0 {
        return Err(Errno::EINVAL);
    }
    Ok(bitset)
}

/// futex_waitv(waiters, nr_futexes, flags, timeout, clockid): sleeps
/// until one of up to 128 words is woken; returns its index (the highest
/// one woken).
fn sys_futex_waitv(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (waiters, nr, flags, timeout, clockid) =
        (a[0], arg::uint(a[1]), arg::uint(a[2]), a[3], arg::int(a[4]));
    if flags != 0 || nr == 0 || nr > FUTEX_WAITV_MAX || waiters == 0 {
        return Err(Errno::EINVAL);
    }
    let deadline = futex2_deadline(t, timeout, clockid)?;
    let mut entries = Vec::with_capacity(nr as usize);
    for i in 0..u64::from(nr) {
        let at = waiters
            .checked_add(i * size_of::<FutexWaitv>() as u64)
            .ok_or(Errno::EFAULT)?;
        entries.push(read_waitv(t, at)?);
    }
    let mut words = Vec::with_capacity(entries.len());
    for w in &entries {
        words.push((key2(t, w.uaddr, w.flags)?, w.uaddr, w.val as u32));
    }
    let hs = t
        .kernel
        .futexes
        .enqueue_all(&t.mm, &words, t.blocker.clone())?;
    let timed_out = loop {
        if hs.iter().any(|h| h.woken()) {
            break false;
        }
        match t.blocker.block(deadline) {
            WakeReason::Woken => continue,
            WakeReason::TimedOut => break true,
            WakeReason::Interrupted => break false,
        }
    };
    match t.kernel.futexes.dequeue_all(&hs) {
        Some(i) => Ok(i as u64),
        None if timed_out => Err(Errno::ETIMEDOUT),
        None => Err(Errno::ERESTARTSYS),
    }
}

/// futex_wake(uaddr, mask, nr, flags): FUTEX_WAKE_BITSET with futex2
/// flags; a count of 0 wakes nobody.
fn sys_futex_wake(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (uaddr, mask, nr, flags) = (a[0], a[1], arg::int(a[2]), arg::uint(a[3]));
    check_flags2(flags)?;
    if mask >> 32 != 0 || mask == 0 {
        return Err(Errno::EINVAL);
    }
    let k = key2(t, uaddr, flags)?;
    if nr == 0 {
        return Ok(0);
    }
    Ok(t.kernel
        .futexes
        .try_wake(k, wake_count(nr as u32), mask as u32)? as u64)
}

/// futex_wait(uaddr, val, mask, flags, timeout, clockid): FUTEX_WAIT_BITSET
/// with futex2 flags and a clock.
fn sys_futex_wait(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (uaddr, val, mask, flags, timeout, clockid) =
        (a[0], a[1], a[2], arg::uint(a[3]), a[4], arg::int(a[5]));
    check_flags2(flags)?;
    if val >> 32 != 0 || mask >> 32 != 0 {
        return Err(Errno::EINVAL);
    }
    let deadline = futex2_deadline(t, timeout, clockid)?;
    if mask == 0 {
        return Err(Errno::EINVAL);
    }
    let k = key2(t, uaddr, flags)?;
    wait(
        t,
        k,
        uaddr,
        val as u32,
        mask as u32,
        deadline,
        Errno::ERESTARTSYS,
    )
}

/// futex_requeue(waiters[2], flags, nr_wake, nr_requeue): FUTEX_CMP_REQUEUE
/// between two futex2 words (the first one's value is the compare).
fn sys_futex_requeue(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (waiters, flags, n_wake, n_requeue) =
        (a[0], arg::uint(a[1]), arg::int(a[2]), arg::int(a[3]));
    if flags != 0 || waiters == 0 {
        return Err(Errno::EINVAL);
    }
    let w0 = read_waitv(t, waiters)?;
    let w1 = read_waitv(t, waiters.checked_add(24).ok_or(Errno::EFAULT)?)?;
    if n_wake < 0 || n_requeue < 0 {
        return Err(Errno::EINVAL);
    }
    let k1 = key2(t, w0.uaddr, w0.flags);
    let k2 = k1.and_then(|_| key2(t, w1.uaddr, w1.flags));
    requeue(t, w0.uaddr, k1, k2, n_wake, n_requeue, Some(w0.val as u32))
}

fn sys_set_robust_list(t: &mut Task, a: &[u64; 6]) -> SysResult {
    if a[1] != ROBUST_HEAD_LEN {
        return Err(Errno::EINVAL);
    }
    t.robust_list = (a[0], a[1]);
    t.kernel.futexes.set_robust_head(t.tid, a[0]);
    Ok(0)
}

/// get_robust_list(pid, head_ptr, len_ptr): pid 0 is the caller; another
/// thread's needs ptrace read access (the same process, the same uid as
/// its real, effective and saved uids, or CAP_SYS_PTRACE).
fn sys_get_robust_list(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let pid = arg::int(a[0]);
    let head = if pid == 0 || pid == t.tid {
        t.robust_list.0
    } else {
        let Some(tg) = (pid > 0).then(|| t.kernel.thread_group(pid)).flatten() else {
            return Err(Errno::ESRCH);
        };
        if !Arc::ptr_eq(&tg, &t.tg) && !t.creds.capable(CAP_SYS_PTRACE) {
            let ids = tg
                .signals
                .lock()
                .threads
                .iter()
                .find(|h| h.tid == pid)
                .map(|h| h.ids);
            let uid = t.creds.uid;
            if ids != Some((uid, uid, uid)) {
                return Err(Errno::EPERM);
            }
        }
        t.kernel.futexes.robust_head(pid)
    };
    t.mm.write_obj(UserAddr(a[2]), &ROBUST_HEAD_LEN)?;
    t.mm.write_obj(UserAddr(a[1]), &head)?;
    Ok(0)
}

/// The futex part of the end of `task` (`exiting`) or of its exec, before
/// its address space goes: the robust list is walked and the PI locks it
/// owns handed on (see [`crate::futex::FutexTable::exit_release`]); the
/// robust list is forgotten.
pub fn release(task: &mut Task, exiting: bool) {
    let head = task.robust_list.0;
    task.robust_list = (0, 0);
    let mm = task.mm.clone();
    let key_of = |a: u64| key_in(&mm, a, false);
    let kernel = task.kernel.clone();
    let known = |p: Pid| kernel.thread_group(p).is_some();
    kernel
        .futexes
        .exit_release(&mm, head, task.tid, exiting, &key_of, &known);
}
