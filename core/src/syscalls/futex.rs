//! futex(2): WAIT, WAKE, REQUEUE, CMP_REQUEUE, WAKE_OP, WAIT_BITSET,
//! WAKE_BITSET, private and shared, on the queues in [`crate::futex`].
//! PI operations answer ENOSYS until issue 3.

use alloc::sync::Arc;

use veil_abi::flags::{CLOCK_MONOTONIC, CLOCK_REALTIME};
use veil_abi::sysno::FUTEX;
use veil_abi::{Errno, Timespec};

use super::{arg, Handler};
use crate::futex::FutexKey;
use crate::host::WakeReason;
use crate::task::Task;
use crate::{SysResult, UserAddr};

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        FUTEX => sys_futex,
        _ => return None,
    })
}

const FUTEX_WAIT: u32 = 0;
const FUTEX_WAKE: u32 = 1;
const FUTEX_REQUEUE: u32 = 3;
const FUTEX_CMP_REQUEUE: u32 = 4;
const FUTEX_WAKE_OP: u32 = 5;
const FUTEX_LOCK_PI: u32 = 6;
const FUTEX_UNLOCK_PI: u32 = 7;
const FUTEX_TRYLOCK_PI: u32 = 8;
const FUTEX_WAIT_BITSET: u32 = 9;
const FUTEX_WAKE_BITSET: u32 = 10;
const FUTEX_WAIT_REQUEUE_PI: u32 = 11;
const FUTEX_CMP_REQUEUE_PI: u32 = 12;
const FUTEX_LOCK_PI2: u32 = 13;
const FUTEX_PRIVATE_FLAG: u32 = 128;
const FUTEX_CLOCK_REALTIME: u32 = 256;
const FUTEX_BITSET_MATCH_ANY: u32 = u32::MAX;

/// The key for the word at `addr` (which must be 4-byte aligned).
pub(crate) fn key(t: &Task, addr: u64, private: bool) -> Result<FutexKey, Errno> {
    if !addr.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    // Touch the word: EFAULT if unmapped, and populated for translation.
    let _: u32 = t.mm.read_obj(UserAddr(addr))?;
    // As Linux's get_futex_key: a shared-flag futex in private memory is
    // keyed by (address space, address), apart from private-flag ones.
    let mm = Arc::as_ptr(&t.mm) as *const u8 as usize;
    if private {
        return Ok(FutexKey::Private(mm, addr));
    }
    Ok(match t.mm.shared_offset(UserAddr(addr)) {
        Some(off) => FutexKey::Shared(off.0),
        None => FutexKey::Mm(mm, addr),
    })
}

fn ts_ns(ts: &Timespec) -> Result<u64, Errno> {
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    Ok((ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64))
}

/// The monotonic deadline for a wait, from the timeout argument.
fn deadline(t: &Task, timeout: u64, absolute: bool, realtime: bool) -> Result<Option<u64>, Errno> {
    if timeout == 0 {
        return Ok(None);
    }
    let ts: Timespec = t.mm.read_obj(UserAddr(timeout))?;
    let d = ts_ns(&ts)?;
    let mono = ts_ns(&t.kernel.clock.monotonic())?;
    if !absolute {
        return Ok(Some(mono.saturating_add(d)));
    }
    let clock_now = if realtime {
        ts_ns(&t.kernel.clock.realtime())?
    } else {
        mono
    };
    Ok(Some(mono.saturating_add(d.saturating_sub(clock_now))))
}

fn wait(
    t: &mut Task,
    addr: u64,
    val: u32,
    bitset: u32,
    private: bool,
    deadline: Option<u64>,
) -> SysResult {
    if bitset == 0 {
        return Err(Errno::EINVAL);
    }
    let k = key(t, addr, private)?;
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
        match t.blocker.block(deadline) {
            WakeReason::Woken => continue,
            WakeReason::TimedOut => {
                return if t.kernel.futexes.dequeue(&h) {
                    Ok(0)
                } else {
                    Err(Errno::ETIMEDOUT)
                };
            }
            WakeReason::Interrupted => {
                return if t.kernel.futexes.dequeue(&h) {
                    Ok(0)
                } else {
                    Err(Errno::EINTR)
                };
            }
        }
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

/// FUTEX_WAKE_OP's operation on the word at `uaddr2`; returns whether the
/// comparison with the old value holds.
fn wake_op_apply(t: &Task, uaddr2: u64, encoded: u32) -> Result<bool, Errno> {
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
    if !uaddr2.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    let old: u32 = t.mm.read_obj(UserAddr(uaddr2))?;
    let new = match op {
        0 => oparg,
        1 => old.wrapping_add(oparg),
        2 => old | oparg,
        3 => old & !oparg,
        4 => old ^ oparg,
        _ => return Err(Errno::ENOSYS),
    };
    t.mm.write_obj(UserAddr(uaddr2), &new)?;
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

fn sys_futex(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (uaddr, op, val, timeout, uaddr2, val3) = (
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
    if realtime
        && !matches!(
            cmd,
            FUTEX_WAIT | FUTEX_WAIT_BITSET | FUTEX_WAIT_REQUEUE_PI | FUTEX_LOCK_PI2
        )
    {
        return Err(Errno::ENOSYS);
    }
    let _ = (CLOCK_MONOTONIC, CLOCK_REALTIME);
    match cmd {
        FUTEX_WAIT => {
            let d = deadline(t, timeout, false, false)?;
            wait(t, uaddr, val, FUTEX_BITSET_MATCH_ANY, private, d)
        }
        FUTEX_WAIT_BITSET => {
            let d = deadline(t, timeout, true, realtime)?;
            wait(t, uaddr, val, val3, private, d)
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bitset = if cmd == FUTEX_WAKE {
                FUTEX_BITSET_MATCH_ANY
            } else {
                val3
            };
            if bitset == 0 {
                return Err(Errno::EINVAL);
            }
            let k = key(t, uaddr, private)?;
            Ok(t.kernel.futexes.wake(k, wake_count(val), bitset) as u64)
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            // val2 (the requeue count) travels in the timeout argument.
            let n_requeue = timeout as u32;
            if (val as i32) < 0 || (n_requeue as i32) < 0 {
                return Err(Errno::EINVAL);
            }
            let k1 = key(t, uaddr, private)?;
            let k2 = key(t, uaddr2, private)?;
            let mm = t.mm.clone();
            let n = t.kernel.futexes.requeue(k1, k2, val, n_requeue, || {
                if cmd == FUTEX_CMP_REQUEUE {
                    let cur: u32 = mm.read_obj(UserAddr(uaddr))?;
                    if cur != val3 {
                        return Err(Errno::EAGAIN);
                    }
                }
                Ok(())
            })?;
            Ok(n as u64)
        }
        FUTEX_WAKE_OP => {
            let n2 = timeout as u32;
            let k1 = key(t, uaddr, private)?;
            let k2 = key(t, uaddr2, private)?;
            let n = t
                .kernel
                .futexes
                .wake_op(k1, k2, wake_count(val), wake_count(n2), || {
                    wake_op_apply(t, uaddr2, val3)
                })?;
            Ok(n as u64)
        }
        FUTEX_LOCK_PI
        | FUTEX_UNLOCK_PI
        | FUTEX_TRYLOCK_PI
        | FUTEX_WAIT_REQUEUE_PI
        | FUTEX_CMP_REQUEUE_PI
        | FUTEX_LOCK_PI2 => {
            t.kernel
                .note_unsupported("futex: priority-inheritance operations come with issue 3");
            Err(Errno::ENOSYS)
        }
        _ => Err(Errno::ENOSYS),
    }
}
