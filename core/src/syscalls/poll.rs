//! poll, ppoll, select and pselect6 over [`FileOps::poll`].
//!
//! Readiness comes from each file's `poll()`. A call that must wait sleeps
//! on the wait queues of the files it polls (pipes wake them on every
//! change); when one of the files has no queue (a host fd such as the
//! sandbox's stdin), it re-checks with a short, growing nap (1 ms up to
//! 20 ms) instead. Regular files, directories and devices are always
//! ready, as on Linux. epoll is [`super::epoll`].
//!
//! [`FileOps::poll`]: crate::vfs::FileOps::poll

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use veil_abi::flags::{
    POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLPRI, POLLRDNORM, POLLWRNORM,
};
use veil_abi::sysno::*;
use veil_abi::{Errno, Pollfd, Timespec, Timeval};

use super::{arg, Handler};
use crate::host::WakeReason;
use crate::process::{mono_ns, valid_ns};
use crate::task::Task;
use crate::vfs::OpenFile;
use crate::{SysResult, UserAddr};

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        POLL => sys_poll,
        PPOLL => sys_ppoll,
        SELECT => sys_select,
        PSELECT6 => sys_pselect6,
        _ => return None,
    })
}

/// Linux's limit on nfds for poll (RLIMIT_NOFILE is checked too).
const POLL_MAX: u64 = 1 << 20;

/// Calls `scan` until it reports something ready (a non-zero count), the
/// deadline passes (monotonic ns; `None` = forever) or a signal arrives.
/// Sleeps on the wait queues of `files`; if one of them has none (a host
/// file), re-checks with a short, growing nap instead.
fn wait_ready(
    t: &mut Task,
    deadline: Option<u64>,
    files: &[Arc<OpenFile>],
    mut scan: impl FnMut(&Task) -> Result<u64, Errno>,
) -> SysResult {
    let all_queued = files.iter().all(|f| f.ops.wait_queue().is_some());
    let mut nap = 1_000_000u64;
    loop {
        for f in files {
            if let Some(q) = f.ops.wait_queue() {
                q.register(&t.blocker);
            }
        }
        let n = scan(t);
        let now = mono_ns(&t.kernel);
        let stop = !matches!(n, Ok(0)) || deadline.is_some_and(|d| now >= d);
        let reason = if stop {
            WakeReason::Woken
        } else if crate::signal::has_deliverable(t) {
            // A signal is already pending (one the call's mask unblocked,
            // or one whose wake-up was used up): do not sleep through it.
            WakeReason::Interrupted
        } else {
            let until = match (deadline, all_queued) {
                (d, true) => d,
                (Some(d), false) => Some(d.min(now.saturating_add(nap))),
                (None, false) => Some(now.saturating_add(nap)),
            };
            nap = (nap * 2).min(20_000_000);
            t.blocker.block(until)
        };
        for f in files {
            if let Some(q) = f.ops.wait_queue() {
                q.unregister(&t.blocker);
            }
        }
        if stop {
            return n;
        }
        if reason == WakeReason::Interrupted {
            return Err(Errno::ERESTARTNOHAND);
        }
    }
}

/// The open files behind `fds` (closed ones are skipped).
fn files_of(t: &Task, fds: impl Iterator<Item = i32>) -> Vec<Arc<OpenFile>> {
    fds.filter_map(|fd| t.fds.file(fd).ok()).collect()
}

/// Readiness of `fd` for `events` (POLLNVAL for a closed fd).
fn revents(t: &Task, fd: i32, events: u32) -> u32 {
    if fd < 0 {
        return 0;
    }
    match t.fds.file(fd) {
        Ok(f) => f.ops.poll() & (events | POLLERR | POLLHUP),
        Err(_) => POLLNVAL,
    }
}

fn do_poll(t: &mut Task, fds_addr: u64, nfds: u64, deadline: Option<u64>) -> SysResult {
    if nfds > POLL_MAX || nfds > t.rlimit(veil_abi::flags::RLIMIT_NOFILE) {
        return Err(Errno::EINVAL);
    }
    let n = nfds as usize;
    let mut pfds: Vec<Pollfd> = vec![Pollfd::default(); n];
    for (i, p) in pfds.iter_mut().enumerate() {
        *p = t.mm.read_obj(UserAddr(fds_addr + (i * 8) as u64))?;
    }
    let files = files_of(t, pfds.iter().map(|p| p.fd).filter(|&fd| fd >= 0));
    let ready = wait_ready(t, deadline, &files, |t| {
        let mut count = 0;
        for p in pfds.iter_mut() {
            let ev = p.events as u16 as u32;
            let r = revents(t, p.fd, ev | POLLIN | POLLOUT) & (ev | POLLERR | POLLHUP | POLLNVAL);
            p.revents = r as i16;
            count += (r != 0) as u64;
        }
        Ok(count)
    })?;
    for (i, p) in pfds.iter().enumerate() {
        t.mm.write_obj(UserAddr(fds_addr + (i * 8) as u64 + 6), &p.revents)?;
    }
    Ok(ready)
}

fn sys_poll(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let timeout_ms = arg::int(a[2]);
    let deadline = if timeout_ms < 0 {
        None
    } else {
        Some(mono_ns(&t.kernel).saturating_add(timeout_ms as u64 * 1_000_000))
    };
    do_poll(t, a[0], a[1], deadline)
}

/// Applies a temporary signal mask for ppoll / pselect6 (restored after).
fn with_mask(t: &mut Task, mask_addr: u64, f: impl FnOnce(&mut Task) -> SysResult) -> SysResult {
    if mask_addr == 0 {
        return f(t);
    }
    let mask: u64 = t.mm.read_obj(UserAddr(mask_addr))?;
    let old = t.sigmask;
    // Through set_mask, so that senders see the mask and wake us for a
    // signal it unblocks.
    crate::signal::set_mask(t, mask);
    let r = f(t);
    if matches!(r, Err(Errno::ERESTARTNOHAND) | Err(Errno::EINTR)) {
        // As Linux's restore_saved_sigmask_unless(-EINTR): the signal is
        // delivered under the call's mask, the old one comes back after
        // the handler (or at once if none runs), as for sigsuspend.
        t.signals.saved_mask = Some(old);
    } else {
        crate::signal::set_mask(t, old);
    }
    r
}

fn sys_ppoll(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let deadline = if a[2] == 0 {
        None
    } else {
        let ts: Timespec = t.mm.read_obj(UserAddr(a[2]))?;
        Some(mono_ns(&t.kernel).saturating_add(valid_ns(&ts)?))
    };
    if a[3] != 0 && a[4] != 8 {
        return Err(Errno::EINVAL);
    }
    with_mask(t, a[3], |t| do_poll(t, a[0], a[1], deadline))
}

/// The three fd sets of select, as bitmaps of `nfds` bits.
fn do_select(t: &mut Task, nfds: i32, sets: [u64; 3], deadline: Option<u64>) -> SysResult {
    if nfds < 0 {
        return Err(Errno::EINVAL);
    }
    let nfds = (nfds as u64).min(t.rlimit(veil_abi::flags::RLIMIT_NOFILE)) as usize;
    let bytes = nfds.div_ceil(64) * 8;
    let mut inp: [Vec<u8>; 3] = [vec![0; bytes], vec![0; bytes], vec![0; bytes]];
    for (i, &addr) in sets.iter().enumerate() {
        if addr != 0 {
            t.mm.copy_in(UserAddr(addr), &mut inp[i])?;
        }
    }
    // Every fd named must be open.
    for fd in 0..nfds {
        let named = inp.iter().any(|s| s[fd / 8] & (1 << (fd % 8)) != 0);
        if named && t.fds.file(fd as i32).is_err() {
            return Err(Errno::EBADF);
        }
    }
    let mut out: [Vec<u8>; 3] = [vec![0; bytes], vec![0; bytes], vec![0; bytes]];
    let want = [
        POLLIN | POLLRDNORM | POLLHUP | POLLERR,
        POLLOUT | POLLWRNORM | POLLERR,
        POLLPRI,
    ];
    let files = files_of(
        t,
        (0..nfds)
            .filter(|fd| inp.iter().any(|s| s[fd / 8] & (1 << (fd % 8)) != 0))
            .map(|fd| fd as i32),
    );
    let n = wait_ready(t, deadline, &files, |t| {
        let mut count = 0;
        for o in out.iter_mut() {
            o.fill(0);
        }
        for fd in 0..nfds {
            let (byte, bit) = (fd / 8, 1u8 << (fd % 8));
            if !inp.iter().any(|s| s[byte] & bit != 0) {
                continue;
            }
            let r = revents(t, fd as i32, POLLIN | POLLOUT | POLLPRI);
            for k in 0..3 {
                if inp[k][byte] & bit != 0 && r & want[k] != 0 {
                    out[k][byte] |= bit;
                    count += 1;
                }
            }
        }
        Ok(count)
    })?;
    for (i, &addr) in sets.iter().enumerate() {
        if addr != 0 {
            t.mm.copy_out(UserAddr(addr), &out[i])?;
        }
    }
    Ok(n)
}

fn sys_select(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let start = mono_ns(&t.kernel);
    let deadline = if a[4] == 0 {
        None
    } else {
        let tv: Timeval = t.mm.read_obj(UserAddr(a[4]))?;
        if tv.tv_sec < 0 || !(0..1_000_000).contains(&tv.tv_usec) {
            return Err(Errno::EINVAL);
        }
        Some(
            start.saturating_add(
                (tv.tv_sec as u64)
                    .saturating_mul(1_000_000_000)
                    .saturating_add(tv.tv_usec as u64 * 1000),
            ),
        )
    };
    let r = do_select(t, arg::int(a[0]), [a[1], a[2], a[3]], deadline);
    // Linux writes back the time left.
    if a[4] != 0 {
        if let Some(d) = deadline {
            let left = d.saturating_sub(mono_ns(&t.kernel));
            let tv = Timeval {
                tv_sec: (left / 1_000_000_000) as i64,
                tv_usec: ((left % 1_000_000_000) / 1000) as i64,
            };
            let _ = t.mm.write_obj(UserAddr(a[4]), &tv);
        }
    }
    r
}

fn sys_pselect6(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let deadline = if a[4] == 0 {
        None
    } else {
        let ts: Timespec = t.mm.read_obj(UserAddr(a[4]))?;
        Some(mono_ns(&t.kernel).saturating_add(valid_ns(&ts)?))
    };
    // The sixth argument points at { const sigset_t *ss; size_t ss_len; }.
    let mask_addr = if a[5] != 0 {
        let pair: [u64; 2] = t.mm.read_obj(UserAddr(a[5]))?;
        if pair[0] != 0 && pair[1] != 8 {
            return Err(Errno::EINVAL);
        }
        pair[0]
    } else {
        0
    };
    with_mask(t, mask_addr, |t| {
        do_select(t, arg::int(a[0]), [a[1], a[2], a[3]], deadline)
    })
}
