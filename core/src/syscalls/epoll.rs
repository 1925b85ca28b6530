//! epoll_create, epoll_create1, epoll_ctl, epoll_wait, epoll_pwait and
//! epoll_pwait2 over [`Epoll`].
//!
//! Argument checks follow Linux's `fs/eventpoll.c` in its order:
//! epoll_ctl reads the event (`EFAULT`) unless the operation is
//! `EPOLL_CTL_DEL`, then `EBADF` for either fd, `EPERM` for a file that
//! cannot be polled (regular files, directories, O_PATH descriptors),
//! `EINVAL` for an fd that is not an epoll, adding an epoll to itself, an
//! unknown operation or a misused `EPOLLEXCLUSIVE`; `EEXIST` / `ENOENT`
//! from the interest list; `ELOOP` for nesting cycles and chains too deep.
//! epoll_wait checks `maxevents` (`EINVAL`), that the buffer lies in user
//! space (`EFAULT`), then the fd.
//!
//! A wait sleeps on the epoll's own wait queue, which every watched file
//! wakes through its watcher; when a watched file has no queue (a host
//! descriptor) the wait naps instead (1 ms growing to 20 ms) and re-polls.
//! A signal ends the wait with EINTR when a handler runs, and restarts it
//! otherwise (`ERESTARTNOHAND`). epoll_pwait / epoll_pwait2 install their
//! signal mask for the wait; when the wait is interrupted the old mask is
//! restored only after the handler ran, as Linux's
//! `restore_saved_sigmask_unless`.
//!
//! Left out: a restarted wait starts its timeout again.

use alloc::sync::Arc;
use alloc::vec::Vec;

use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{EpollEvent, Errno, Timespec};

use super::{arg, Handler};
use crate::host::WakeReason;
use crate::process::{mono_ns, valid_ns};
use crate::task::Task;
use crate::vfs::epoll::{CtlOp, Epoll, Event};
use crate::vfs::{FileType, OpenFile};
use crate::{SysResult, UserAddr};

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        EPOLL_CREATE => sys_epoll_create,
        EPOLL_CREATE1 => sys_epoll_create1,
        EPOLL_CTL => sys_epoll_ctl,
        EPOLL_WAIT => sys_epoll_wait,
        EPOLL_PWAIT => sys_epoll_pwait,
        EPOLL_PWAIT2 => sys_epoll_pwait2,
        _ => return None,
    })
}

/// Bytes of one `struct epoll_event`.
const EVENT_SIZE: u64 = 12;
/// Linux's `EP_MAX_EVENTS`: INT_MAX / sizeof(struct epoll_event).
const EP_MAX_EVENTS: i32 = i32::MAX / EVENT_SIZE as i32;
/// The first nap when a watched file has no wait queue, and the longest.
const NAP_FIRST: u64 = 1_000_000;
const NAP_MAX: u64 = 20_000_000;

/// Installs `file` as a new fd (close-on-exec if `cloexec`).
pub(crate) fn install(t: &Task, file: Arc<OpenFile>, cloexec: bool) -> SysResult {
    let limit = t.rlimit(RLIMIT_NOFILE);
    t.fds.insert(0, file, cloexec, limit).map(|fd| fd as u64)
}

fn create(t: &Task, cloexec: bool) -> SysResult {
    let file = OpenFile::new(Epoll::new(), None, O_RDWR);
    install(t, file, cloexec)
}

fn sys_epoll_create(t: &mut Task, a: &[u64; 6]) -> SysResult {
    if arg::int(a[0]) <= 0 {
        return Err(Errno::EINVAL);
    }
    create(t, false)
}

fn sys_epoll_create1(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let flags = arg::uint(a[0]);
    if flags & !EPOLL_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    create(t, flags & EPOLL_CLOEXEC != 0)
}

/// True if `file` supports poll (Linux's `file_can_poll`): what the file
/// says ([`FileOps::has_poll`](crate::vfs::FileOps::has_poll)), else
/// everything with a wait queue, and anything but regular files,
/// directories and O_PATH descriptors (which have no `poll` in Linux).
pub fn can_poll(file: &OpenFile) -> bool {
    if file.is_path() {
        return false;
    }
    if let Some(p) = file.ops.has_poll() {
        return p;
    }
    if file.ops.wait_queue().is_some() {
        return true;
    }
    if file.ops.as_any().is::<crate::vfs::dir::DirFile>() {
        return false;
    }
    let kind = match &file.location {
        Some(l) => l.inode().attr().ok().and_then(|a| a.file_type()),
        None => file.ops.stat().and_then(|a| a.file_type()),
    };
    !matches!(kind, Some(FileType::Regular | FileType::Directory))
}

fn sys_epoll_ctl(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (epfd, op, fd, ev_addr) = (arg::fd(a[0]), arg::int(a[1]), arg::fd(a[2]), a[3]);
    let ev = if op as u32 != EPOLL_CTL_DEL {
        let e: EpollEvent = t.mm.read_obj(UserAddr(ev_addr))?;
        Some((e.events, u64::from_le_bytes(e.data)))
    } else {
        None
    };
    let epf = t.fds.file(epfd)?;
    let tf = t.fds.file(fd)?;
    if !can_poll(&tf) {
        return Err(Errno::EPERM);
    }
    if Arc::ptr_eq(&epf, &tf) {
        return Err(Errno::EINVAL);
    }
    let ep = Epoll::of(&epf).ok_or(Errno::EINVAL)?;
    let (events, data) = ev.unwrap_or((0, 0));
    let op = match op as u32 {
        EPOLL_CTL_ADD => CtlOp::Add(events, data),
        EPOLL_CTL_MOD => CtlOp::Mod(events, data),
        EPOLL_CTL_DEL => CtlOp::Del,
        _ => return Err(Errno::EINVAL),
    };
    ep.ctl(fd, &tf, op)?;
    Ok(0)
}

/// Waits on `ep` until events come, the deadline (monotonic ns; `None`
/// = forever) passes, or a signal arrives.
fn wait_events(
    t: &Task,
    ep: &Epoll,
    max: usize,
    deadline: Option<u64>,
) -> Result<Vec<Event>, Errno> {
    let mut nap = NAP_FIRST;
    loop {
        ep.queue().register(&t.blocker);
        let (events, polled) = ep.collect(max);
        let now = mono_ns(&t.kernel);
        let stop = !events.is_empty() || deadline.is_some_and(|d| now >= d);
        if stop {
            ep.queue().unregister(&t.blocker);
            return Ok(events);
        }
        if crate::signal::has_deliverable(t) {
            ep.queue().unregister(&t.blocker);
            return Err(Errno::ERESTARTNOHAND);
        }
        let until = if polled {
            let n = now.saturating_add(nap);
            nap = (nap * 2).min(NAP_MAX);
            Some(deadline.map_or(n, |d| d.min(n)))
        } else {
            deadline
        };
        let reason = t.blocker.block(until);
        ep.queue().unregister(&t.blocker);
        if reason == WakeReason::Interrupted {
            return Err(Errno::ERESTARTNOHAND);
        }
    }
}

/// Writes `events` to the array at `addr`: the count written, or
/// `EFAULT` if not even the first fits.
fn copy_events(t: &Task, addr: u64, events: &[Event]) -> SysResult {
    for (i, &(ev, data)) in events.iter().enumerate() {
        let e = EpollEvent {
            events: ev,
            data: data.to_le_bytes(),
        };
        if t.mm
            .write_obj(UserAddr(addr + i as u64 * EVENT_SIZE), &e)
            .is_err()
        {
            return if i > 0 {
                Ok(i as u64)
            } else {
                Err(Errno::EFAULT)
            };
        }
    }
    Ok(events.len() as u64)
}

fn do_wait(t: &Task, epfd: i32, addr: u64, maxevents: i32, deadline: Option<u64>) -> SysResult {
    if maxevents <= 0 || maxevents > EP_MAX_EVENTS {
        return Err(Errno::EINVAL);
    }
    let len = maxevents as u64 * EVENT_SIZE;
    if addr
        .checked_add(len)
        .is_none_or(|end| end > t.mm.max_address())
    {
        return Err(Errno::EFAULT);
    }
    let f = t.fds.file(epfd)?;
    let ep = Epoll::of(&f).ok_or(Errno::EINVAL)?;
    let events = wait_events(t, ep, maxevents as usize, deadline)?;
    copy_events(t, addr, &events)
}

/// The deadline `ms` milliseconds from now (negative: none).
fn ms_deadline(t: &Task, ms: i32) -> Option<u64> {
    (ms >= 0).then(|| mono_ns(&t.kernel).saturating_add(ms as u64 * 1_000_000))
}

fn sys_epoll_wait(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let deadline = ms_deadline(t, arg::int(a[3]));
    do_wait(t, arg::fd(a[0]), a[1], arg::int(a[2]), deadline)
}

/// Runs `f` with the signal mask at `mask_addr` (none if 0) installed,
/// as Linux's `set_user_sigmask` / `restore_saved_sigmask_unless`: if `f`
/// is interrupted the old mask comes back once the signal is handled.
fn with_sigmask(
    t: &mut Task,
    mask_addr: u64,
    size: u64,
    f: impl FnOnce(&mut Task) -> SysResult,
) -> SysResult {
    if mask_addr == 0 {
        return f(t);
    }
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    let mask: u64 = t.mm.read_obj(UserAddr(mask_addr))?;
    let old = t.sigmask;
    crate::signal::set_mask(t, mask);
    let r = f(t);
    if r == Err(Errno::ERESTARTNOHAND) {
        t.signals.saved_mask = Some(old);
    } else {
        crate::signal::set_mask(t, old);
    }
    r
}

fn sys_epoll_pwait(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let deadline = ms_deadline(t, arg::int(a[3]));
    let (epfd, addr, max) = (arg::fd(a[0]), a[1], arg::int(a[2]));
    with_sigmask(t, a[4], a[5], |t| do_wait(t, epfd, addr, max, deadline))
}

fn sys_epoll_pwait2(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let deadline = if a[3] == 0 {
        None
    } else {
        let ts: Timespec = t.mm.read_obj(UserAddr(a[3]))?;
        Some(mono_ns(&t.kernel).saturating_add(valid_ns(&ts)?))
    };
    let (epfd, addr, max) = (arg::fd(a[0]), a[1], arg::int(a[2]));
    with_sigmask(t, a[4], a[5], |t| do_wait(t, epfd, addr, max, deadline))
}

#[cfg(test)]
#[path = "epoll_tests.rs"]
mod tests;
