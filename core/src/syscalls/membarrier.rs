//! membarrier(2), as Linux's `kernel/sched/membarrier.c` answers on an
//! x86-64 host with `CONFIG_RSEQ` (QUERY reports every command, 0x3ff).
//!
//! The barrier is real: application threads run as host threads (stub
//! processes under ptrace or systrap), so every barrier command asks the
//! platform for a host barrier that reaches them
//! ([`Platform::memory_barrier`](crate::platform::Platform::memory_barrier)).
//! A platform without one makes QUERY answer 0 and every command `EINVAL`.
//!
//! Registrations are per address space as in Linux, kept with the process
//! ([`crate::process::ProcState::membarrier`], Linux's `membarrier_state`
//! bits): shared by its threads, inherited by fork, cleared by exec. The
//! private expedited commands are `EPERM` until registered (SYNC_CORE and
//! RSEQ each need their own registration); GLOBAL_EXPEDITED needs none.
//! `MEMBARRIER_CMD_FLAG_CPU` is accepted only with the RSEQ command, whose
//! cpu_id is then only checked against the CPUs (veil has no rseq areas to
//! restart, so the barrier is the same either way). A private barrier of
//! a single-threaded process has no one else to order and returns at once,
//! as Linux's does for an address space with one user.

use core::sync::atomic::Ordering;

use veil_abi::sysno::MEMBARRIER;
use veil_abi::Errno;

use super::{arg, Handler};
use crate::task::Task;
use crate::SysResult;

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        MEMBARRIER => sys_membarrier,
        _ => return None,
    })
}

/// `enum membarrier_cmd`.
pub const CMD_QUERY: i32 = 0;
/// See [`CMD_QUERY`].
pub const CMD_GLOBAL: i32 = 1 << 0;
/// See [`CMD_QUERY`].
pub const CMD_GLOBAL_EXPEDITED: i32 = 1 << 1;
/// See [`CMD_QUERY`].
pub const CMD_REGISTER_GLOBAL_EXPEDITED: i32 = 1 << 2;
/// See [`CMD_QUERY`].
pub const CMD_PRIVATE_EXPEDITED: i32 = 1 << 3;
/// See [`CMD_QUERY`].
pub const CMD_REGISTER_PRIVATE_EXPEDITED: i32 = 1 << 4;
/// See [`CMD_QUERY`].
pub const CMD_PRIVATE_EXPEDITED_SYNC_CORE: i32 = 1 << 5;
/// See [`CMD_QUERY`].
pub const CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE: i32 = 1 << 6;
/// See [`CMD_QUERY`].
pub const CMD_PRIVATE_EXPEDITED_RSEQ: i32 = 1 << 7;
/// See [`CMD_QUERY`].
pub const CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ: i32 = 1 << 8;
/// See [`CMD_QUERY`].
pub const CMD_GET_REGISTRATIONS: i32 = 1 << 9;
/// Every command (Linux's `MEMBARRIER_CMD_BITMASK` on x86-64 with rseq).
pub const CMD_BITMASK: i32 = (1 << 10) - 1;
/// `MEMBARRIER_CMD_FLAG_CPU`.
const FLAG_CPU: u32 = 1;

/// Linux's `enum membarrier_state` (per address space).
const PRIVATE_EXPEDITED_READY: u32 = 1 << 0;
const PRIVATE_EXPEDITED: u32 = 1 << 1;
const GLOBAL_EXPEDITED_READY: u32 = 1 << 2;
const GLOBAL_EXPEDITED: u32 = 1 << 3;
const SYNC_CORE_READY: u32 = 1 << 4;
const SYNC_CORE: u32 = 1 << 5;
const RSEQ_READY: u32 = 1 << 6;
const RSEQ: u32 = 1 << 7;

/// Which private expedited flavour.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavour {
    Plain,
    SyncCore,
    Rseq,
}

impl Flavour {
    fn ready(self) -> u32 {
        match self {
            Flavour::Plain => PRIVATE_EXPEDITED_READY,
            Flavour::SyncCore => SYNC_CORE_READY,
            Flavour::Rseq => RSEQ_READY,
        }
    }
    fn set(self) -> u32 {
        PRIVATE_EXPEDITED
            | match self {
                Flavour::Plain => 0,
                Flavour::SyncCore => SYNC_CORE,
                Flavour::Rseq => RSEQ,
            }
    }
}

fn barrier(t: &Task) -> SysResult {
    if t.kernel.platform.memory_barrier() {
        Ok(0)
    } else {
        Err(Errno::EINVAL)
    }
}

fn private_expedited(t: &Task, f: Flavour, cpu_id: i32) -> SysResult {
    let state = t.tg.pm.membarrier.load(Ordering::Acquire);
    if state & f.ready() == 0 {
        return Err(Errno::EPERM);
    }
    if cpu_id >= 0 && cpu_id as u32 >= t.kernel.identity.cpus.max(1) {
        return Ok(0);
    }
    let alone = t.tg.live_threads.load(Ordering::Acquire) <= 1;
    if alone && f != Flavour::SyncCore {
        return Ok(0);
    }
    barrier(t)
}

fn register(t: &Task, bits_set: u32, ready: u32) -> SysResult {
    let st = &t.tg.pm.membarrier;
    if st.load(Ordering::Acquire) & ready == ready {
        return Ok(0);
    }
    st.fetch_or(bits_set, Ordering::AcqRel);
    // Linux syncs the run queues' view here; ours is read at each call.
    st.fetch_or(ready, Ordering::AcqRel);
    Ok(0)
}

fn registrations(state: u32) -> i32 {
    let pairs = [
        (
            GLOBAL_EXPEDITED | GLOBAL_EXPEDITED_READY,
            CMD_REGISTER_GLOBAL_EXPEDITED,
        ),
        (
            PRIVATE_EXPEDITED | PRIVATE_EXPEDITED_READY,
            CMD_REGISTER_PRIVATE_EXPEDITED,
        ),
        (
            SYNC_CORE | SYNC_CORE_READY,
            CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE,
        ),
        (RSEQ | RSEQ_READY, CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ),
    ];
    pairs
        .iter()
        .filter(|(bits, _)| state & bits != 0)
        .fold(0, |m, (_, cmd)| m | cmd)
}

fn sys_membarrier(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (cmd, flags) = (arg::int(a[0]), arg::uint(a[1]));
    let mut cpu_id = arg::int(a[2]);
    if cmd == CMD_PRIVATE_EXPEDITED_RSEQ {
        if flags != 0 && flags != FLAG_CPU {
            return Err(Errno::EINVAL);
        }
    } else if flags != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & FLAG_CPU == 0 {
        cpu_id = -1;
    }
    if !t.kernel.platform.have_memory_barrier() {
        return if cmd == CMD_QUERY {
            Ok(0)
        } else {
            Err(Errno::EINVAL)
        };
    }
    match cmd {
        CMD_QUERY => Ok(CMD_BITMASK as u64),
        CMD_GLOBAL | CMD_GLOBAL_EXPEDITED => barrier(t),
        CMD_REGISTER_GLOBAL_EXPEDITED => register(t, GLOBAL_EXPEDITED, GLOBAL_EXPEDITED_READY),
        CMD_PRIVATE_EXPEDITED => private_expedited(t, Flavour::Plain, cpu_id),
        CMD_PRIVATE_EXPEDITED_SYNC_CORE => private_expedited(t, Flavour::SyncCore, cpu_id),
        CMD_PRIVATE_EXPEDITED_RSEQ => private_expedited(t, Flavour::Rseq, cpu_id),
        CMD_REGISTER_PRIVATE_EXPEDITED => register(t, Flavour::Plain.set(), Flavour::Plain.ready()),
        CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE => {
            register(t, Flavour::SyncCore.set(), Flavour::SyncCore.ready())
        }
        CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ => {
            register(t, Flavour::Rseq.set(), Flavour::Rseq.ready())
        }
        CMD_GET_REGISTRATIONS => {
            Ok(registrations(t.tg.pm.membarrier.load(Ordering::Acquire)) as u64)
        }
        _ => Err(Errno::EINVAL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_as_linux_reports_them() {
        assert_eq!(registrations(0), 0);
        // SYNC_CORE's registration sets the plain "registering" bit too.
        let sync = Flavour::SyncCore.set() | Flavour::SyncCore.ready();
        assert_eq!(
            registrations(sync),
            CMD_REGISTER_PRIVATE_EXPEDITED | CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE
        );
        let all = sync
            | Flavour::Plain.set()
            | Flavour::Plain.ready()
            | Flavour::Rseq.set()
            | Flavour::Rseq.ready()
            | GLOBAL_EXPEDITED
            | GLOBAL_EXPEDITED_READY;
        assert_eq!(registrations(all), 340);
    }
}
