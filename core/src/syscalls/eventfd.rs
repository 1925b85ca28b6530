//! eventfd, eventfd2, signalfd and signalfd4: the calls that make
//! [`EventFd`] and [`SignalFd`] descriptors. Reading, writing, polling and
//! blocking go through the ordinary file paths (`read`, `write`, poll,
//! epoll), since both are files with a wait queue that answer `EAGAIN`.
//!
//! As Linux: eventfd2 accepts `EFD_SEMAPHORE`, `EFD_NONBLOCK` and
//! `EFD_CLOEXEC` (others `EINVAL`); the initial value is an `unsigned
//! int`. signalfd4 checks the mask size (`EINVAL`), reads the mask
//! (`EFAULT`), checks its flags (`SFD_NONBLOCK`, `SFD_CLOEXEC`), then
//! either makes a new signalfd (fd -1) or changes the mask of the
//! signalfd at fd (`EBADF` if not open, `EINVAL` if not a signalfd) and
//! returns that fd. Both descriptors are opened read-write.

use alloc::sync::Arc;

use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::Errno;

use super::epoll::install;
use super::{arg, Handler};
use crate::task::Task;
use crate::vfs::eventfd::EventFd;
use crate::vfs::signalfd::SignalFd;
use crate::vfs::OpenFile;
use crate::{SysResult, UserAddr};

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        EVENTFD => |t, a| do_eventfd2(t, arg::uint(a[0]), 0),
        EVENTFD2 => |t, a| do_eventfd2(t, arg::uint(a[0]), arg::uint(a[1])),
        SIGNALFD => |t, a| do_signalfd4(t, arg::fd(a[0]), a[1], a[2], 0),
        SIGNALFD4 => |t, a| do_signalfd4(t, arg::fd(a[0]), a[1], a[2], arg::uint(a[3])),
        _ => return None,
    })
}

fn do_eventfd2(t: &mut Task, initval: u32, flags: u32) -> SysResult {
    if flags & !(EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let ops = Arc::new(EventFd::new(initval as u64, flags & EFD_SEMAPHORE != 0));
    let file = OpenFile::new(ops, None, O_RDWR | (flags & EFD_NONBLOCK));
    install(t, file, flags & EFD_CLOEXEC != 0)
}

fn do_signalfd4(t: &mut Task, fd: i32, mask_addr: u64, size: u64, flags: u32) -> SysResult {
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    let mask: u64 = t.mm.read_obj(UserAddr(mask_addr))?;
    if flags & !(SFD_NONBLOCK | SFD_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    if fd == -1 {
        let ops = Arc::new(SignalFd::new(t.tg.clone(), t.tid, mask));
        let file = OpenFile::new(ops, None, O_RDWR | (flags & SFD_NONBLOCK));
        return install(t, file, flags & SFD_CLOEXEC != 0);
    }
    let f = t.fds.file(fd)?;
    let sfd = f
        .ops
        .as_any()
        .downcast_ref::<SignalFd>()
        .ok_or(Errno::EINVAL)?;
    sfd.set_mask(mask);
    Ok(fd as u64)
}
