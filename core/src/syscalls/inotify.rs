//! inotify_init, inotify_init1, inotify_add_watch and inotify_rm_watch:
//! the calls that make [`Inotify`] instances and their watches. Reading,
//! polling, FIONREAD and blocking go through the ordinary file paths.
//!
//! As Linux: inotify_init1 accepts `IN_NONBLOCK` and `IN_CLOEXEC` (others
//! `EINVAL`) and opens the instance read-only. inotify_add_watch checks,
//! in Linux's order, the mask (no bit outside `ALL_INOTIFY_BITS` and at
//! least one inside, `EINVAL`), the descriptor (`EBADF`), `IN_MASK_ADD`
//! with `IN_MASK_CREATE` (`EINVAL`), that the descriptor is an inotify
//! instance (`EINVAL`), then walks the path (following a final symlink
//! unless `IN_DONT_FOLLOW`; `ENOTDIR` for a non-directory with
//! `IN_ONLYDIR`) and wants read permission on what it names (`EACCES`).
//! inotify_rm_watch wants an instance (`EBADF`, `EINVAL`) and one of its
//! watch descriptors (`EINVAL`).

use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::Errno;

use super::epoll::install;
use super::{arg, Handler};
use crate::task::Task;
use crate::vfs::inotify::{Inotify, VALID_WATCH_BITS};
use crate::vfs::walk::{self, WalkFlags};
use crate::vfs::{perm, FileType, OpenFile};
use crate::SysResult;

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        INOTIFY_INIT => |t, _| init1(t, 0),
        INOTIFY_INIT1 => |t, a| init1(t, arg::uint(a[0])),
        INOTIFY_ADD_WATCH => |t, a| add_watch(t, arg::fd(a[0]), a[1], arg::uint(a[2])),
        INOTIFY_RM_WATCH => |t, a| rm_watch(t, arg::fd(a[0]), arg::int(a[1])),
        _ => return None,
    })
}

fn init1(t: &mut Task, flags: u32) -> SysResult {
    if flags & !(IN_NONBLOCK | IN_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let ops = Inotify::new(t)?;
    let file = OpenFile::new(ops, None, O_RDONLY | (flags & IN_NONBLOCK));
    install(t, file, flags & IN_CLOEXEC != 0)
}

fn add_watch(t: &mut Task, fd: i32, path_addr: u64, mask: u32) -> SysResult {
    if mask & !VALID_WATCH_BITS != 0 || mask == 0 {
        return Err(Errno::EINVAL);
    }
    let file = t.fds.file(fd)?;
    if file.is_path() {
        return Err(Errno::EBADF);
    }
    if mask & IN_MASK_ADD != 0 && mask & IN_MASK_CREATE != 0 {
        return Err(Errno::EINVAL);
    }
    let Some(ino) = file.ops.as_any().downcast_ref::<Inotify>() else {
        return Err(Errno::EINVAL);
    };
    let path = t.read_path(path_addr)?;
    let loc = walk::resolve(
        t,
        AT_FDCWD,
        &path,
        WalkFlags {
            follow: mask & IN_DONT_FOLLOW == 0,
            empty_ok: false,
        },
    )?;
    let attr = loc.inode().attr()?;
    if mask & IN_ONLYDIR != 0 && attr.file_type() != Some(FileType::Directory) {
        return Err(Errno::ENOTDIR);
    }
    perm::check(&t.creds, &attr, R_OK)?;
    ino.add_watch(&attr, mask).map(|wd| wd as u64)
}

fn rm_watch(t: &mut Task, fd: i32, wd: i32) -> SysResult {
    let file = t.fds.file(fd)?;
    if file.is_path() {
        return Err(Errno::EBADF);
    }
    let Some(ino) = file.ops.as_any().downcast_ref::<Inotify>() else {
        return Err(Errno::EINVAL);
    };
    ino.rm_watch(wd).map(|_| 0)
}
