//! Descriptors: open, openat, openat2, creat, close, close_range, dup,
//! dup2, dup3 and fcntl.
//!
//! Follows Linux: open and openat drop unknown flags, openat2 rejects
//! them (and stray mode bits, unknown RESOLVE_* flags, a `struct
//! open_how` smaller than its first version: `EINVAL`; larger than a page
//! or with non-zero bytes past what is known: `E2BIG`); a new descriptor
//! is the lowest free number below RLIMIT_NOFILE (`EMFILE`). dup2 to the
//! same fd returns it, dup3 to the same fd is `EINVAL`; fcntl on an O_PATH
//! descriptor allows only F_DUPFD*, F_GETFD, F_SETFD and F_GETFL
//! (`EBADF`). Record locks (F_GETLK, F_SETLK, F_SETLKW and the OFD forms)
//! and leases are [`crate::vfs::lock`]'s, with Linux's argument checks in
//! its order (`fcntl_setlk` / `fcntl_getlk`: whence, overflow and type
//! `EINVAL` / `EOVERFLOW`, then the access mode `EBADF`, then an OFD
//! lock's `l_pid` `EINVAL`). Seals are the memfd's
//! ([`crate::vfs::shmem`]). F_GETPIPE_SZ / F_SETPIPE_SZ size pipes and
//! FIFOs.

use alloc::sync::Arc;

use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, Flock, PAGE_SIZE};

use super::{arg, Handler};
use crate::task::Task;
use crate::vfs::lock::{LockKind, Owner, Wait, OFFSET_MAX};
use crate::vfs::open::{open_at, OpenHow};
use crate::vfs::{FdTable, FileType, OpenFile};
use crate::{SysResult, UserAddr};

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        OPEN => sys_open,
        OPENAT => sys_openat,
        OPENAT2 => sys_openat2,
        CREAT => sys_creat,
        CLOSE => sys_close,
        CLOSE_RANGE => sys_close_range,
        DUP => sys_dup,
        DUP2 => sys_dup2,
        DUP3 => sys_dup3,
        FCNTL => sys_fcntl,
        _ => return None,
    })
}

/// The soft RLIMIT_NOFILE.
fn nofile(t: &Task) -> u64 {
    t.rlimit(RLIMIT_NOFILE)
}

/// Installs `file` at the lowest free descriptor.
pub(crate) fn install(t: &Task, file: Arc<OpenFile>, cloexec: bool) -> SysResult {
    t.fds
        .insert(0, file, cloexec, nofile(t))
        .map(|fd| fd as u64)
}

fn open_common(t: &Task, dirfd: i32, path_ptr: u64, how: &OpenHow) -> SysResult {
    let path = t.read_path(path_ptr)?;
    let file = open_at(t, dirfd, &path, how)?;
    install(t, file, how.flags & O_CLOEXEC != 0)
}

fn sys_open(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let how = OpenHow::from_open(arg::uint(a[1]), arg::uint(a[2]))?;
    open_common(t, AT_FDCWD, a[0], &how)
}

fn sys_openat(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let how = OpenHow::from_open(arg::uint(a[2]), arg::uint(a[3]))?;
    open_common(t, arg::fd(a[0]), a[1], &how)
}

fn sys_creat(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let how = OpenHow::from_open(O_CREAT | O_WRONLY | O_TRUNC, arg::uint(a[1]))?;
    open_common(t, AT_FDCWD, a[0], &how)
}

/// Size of openat2's `struct open_how` as first published.
const OPEN_HOW_SIZE_VER0: u64 = 24;

fn sys_openat2(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (dirfd, path_ptr, how_ptr, size) = (arg::fd(a[0]), a[1], a[2], a[3]);
    if size < OPEN_HOW_SIZE_VER0 {
        return Err(Errno::EINVAL);
    }
    if size > PAGE_SIZE {
        return Err(Errno::E2BIG);
    }
    let raw: [u64; 3] = t.mm.read_obj(UserAddr(how_ptr))?;
    if size > OPEN_HOW_SIZE_VER0 {
        // copy_struct_from_user: bytes past what we know must be zero.
        let mut rest = alloc::vec![0u8; (size - OPEN_HOW_SIZE_VER0) as usize];
        let at = how_ptr
            .checked_add(OPEN_HOW_SIZE_VER0)
            .ok_or(Errno::EFAULT)?;
        t.mm.copy_in(UserAddr(at), &mut rest)?;
        if rest.iter().any(|&b| b != 0) {
            return Err(Errno::E2BIG);
        }
    }
    let how = OpenHow::from_openat2(raw[0], raw[1], raw[2])?;
    open_common(t, dirfd, path_ptr, &how)
}

fn sys_close(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let entry = t.fds.remove(arg::fd(a[0]))?;
    drop(entry);
    Ok(0)
}

fn sys_close_range(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (first, last, flags) = (arg::uint(a[0]), arg::uint(a[1]), arg::uint(a[2]));
    if flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || first > last {
        return Err(Errno::EINVAL);
    }
    if flags & CLOSE_RANGE_UNSHARE != 0 && Arc::strong_count(&t.fds) > 1 {
        t.fds = Arc::new(FdTable::fork(&t.fds));
    }
    let removed = t
        .fds
        .close_range(first, last, flags & CLOSE_RANGE_CLOEXEC != 0);
    drop(removed);
    Ok(0)
}

fn sys_dup(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let file = t.fds.file(arg::fd(a[0]))?;
    install(t, file, false)
}

fn dup_to(t: &Task, old: i32, new: i32, cloexec: bool) -> SysResult {
    if new < 0 || new as u64 >= nofile(t) {
        return Err(Errno::EBADF);
    }
    let file = t.fds.file(old)?;
    let replaced = t.fds.set(new, file, cloexec, nofile(t))?;
    drop(replaced);
    Ok(new as u64)
}

fn sys_dup2(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (old, new) = (arg::fd(a[0]), arg::fd(a[1]));
    if old == new {
        t.fds.get(old)?;
        return Ok(new as u64);
    }
    dup_to(t, old, new, false)
}

fn sys_dup3(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (old, new, flags) = (arg::fd(a[0]), arg::fd(a[1]), arg::uint(a[2]));
    if flags & !O_CLOEXEC != 0 || old == new {
        return Err(Errno::EINVAL);
    }
    dup_to(t, old, new, flags & O_CLOEXEC != 0)
}

/// The byte range `[start, end]` a `struct flock` names on `file`, as
/// Linux's `flock64_to_posix_lock`: relative to the start, the offset or
/// the end of file; a negative length reaches back before the start, a
/// zero length runs to the end of any file. `EINVAL` for a bad whence or
/// a start before byte 0, `EOVERFLOW` past `OFFSET_MAX`.
fn lock_range(file: &OpenFile, fl: &Flock) -> Result<(u64, u64), Errno> {
    let base: i64 = match fl.l_whence as u32 {
        SEEK_SET => 0,
        SEEK_CUR => file.pos() as i64,
        SEEK_END => {
            let size = match &file.location {
                Some(loc) => loc.inode().attr()?.size,
                None => file.ops.size()?,
            };
            size.min(i64::MAX as u64) as i64
        }
        _ => return Err(Errno::EINVAL),
    };
    if fl.l_start > i64::MAX - base {
        return Err(Errno::EOVERFLOW);
    }
    let mut start = base + fl.l_start;
    if start < 0 {
        return Err(Errno::EINVAL);
    }
    let end = if fl.l_len > 0 {
        if fl.l_len - 1 > i64::MAX - start {
            return Err(Errno::EOVERFLOW);
        }
        start + (fl.l_len - 1)
    } else if fl.l_len < 0 {
        if start + fl.l_len < 0 {
            return Err(Errno::EINVAL);
        }
        let end = start - 1;
        start += fl.l_len;
        end
    } else {
        i64::MAX
    };
    Ok((start as u64, end as u64))
}

/// F_GETLK, F_SETLK, F_SETLKW and their OFD forms.
fn record_lock(t: &Task, file: &OpenFile, cmd: u32, argv: u64) -> SysResult {
    let mut fl: Flock = t.mm.read_obj(UserAddr(argv))?;
    let ofd = matches!(cmd, F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW);
    let get = matches!(cmd, F_GETLK | F_OFD_GETLK);
    if cmd == F_GETLK && !matches!(fl.l_type, F_RDLCK | F_WRLCK) {
        return Err(Errno::EINVAL);
    }
    let (start, end) = lock_range(file, &fl)?;
    let kind = match fl.l_type {
        F_RDLCK => Some(LockKind::Read),
        F_WRLCK => Some(LockKind::Write),
        F_UNLCK => None,
        _ => return Err(Errno::EINVAL),
    };
    if !get {
        match kind {
            Some(LockKind::Read) if !file.readable() => return Err(Errno::EBADF),
            Some(LockKind::Write) if !file.writable() => return Err(Errno::EBADF),
            _ => {}
        }
    }
    if ofd && fl.l_pid != 0 {
        return Err(Errno::EINVAL);
    }
    let table = &t.kernel.locks;
    let key = file.lock_key(table);
    let owner = if ofd {
        Owner::Ofd(file.lock_id())
    } else {
        Owner::Posix(t.fds.posix_lock_owner(table))
    };
    if get {
        match table.test(key, owner, start, end, kind) {
            None => fl.l_type = F_UNLCK,
            Some(c) => {
                fl.l_type = match c.kind {
                    LockKind::Read => F_RDLCK,
                    LockKind::Write => F_WRLCK,
                };
                fl.l_whence = SEEK_SET as i16;
                fl.l_start = c.start as i64;
                fl.l_len = if c.end == OFFSET_MAX {
                    0
                } else {
                    (c.end - c.start + 1) as i64
                };
                fl.l_pid = c.pid;
            }
        }
        t.mm.write_obj(UserAddr(argv), &fl)?;
        return Ok(0);
    }
    let wait = if matches!(cmd, F_SETLKW | F_OFD_SETLKW) {
        Wait::As(t)
    } else {
        Wait::No
    };
    table
        .set(key, owner, t.pid(), start, end, kind, wait)
        .map(|_| 0)
}

/// Linux's `pipe_max_size` (`/proc/sys/fs/pipe-max-size`).
const PIPE_MAX_SIZE: u64 = 1 << 20;

/// F_GETPIPE_SZ and F_SETPIPE_SZ on a pipe or FIFO (`EBADF` for anything
/// else), as Linux's `pipe_fcntl`: the size is rounded up to a power of
/// two pages (at least one; `EINVAL` past 2 GiB), growing past
/// `pipe-max-size` needs CAP_SYS_RESOURCE (`EPERM`), and shrinking below
/// the pages the data occupies is `EBUSY`. Answers the new size.
fn pipe_size(t: &Task, file: &OpenFile, cmd: u32, argv: u64) -> SysResult {
    let end = file
        .ops
        .as_any()
        .downcast_ref::<crate::vfs::pipe::PipeEnd>()
        .ok_or(Errno::EBADF)?;
    let pipe = end.pipe();
    if cmd == F_GETPIPE_SZ {
        return Ok(pipe.capacity() as u64);
    }
    let arg = argv as u32 as u64;
    let size = if arg > 1 << 31 {
        return Err(Errno::EINVAL);
    } else if arg < PAGE_SIZE {
        PAGE_SIZE
    } else {
        arg.next_power_of_two()
    };
    if size > pipe.capacity() as u64 && size > PIPE_MAX_SIZE && !t.creds.capable(CAP_SYS_RESOURCE) {
        return Err(Errno::EPERM);
    }
    pipe.set_capacity(size as usize)?;
    Ok(size)
}

/// flock(2), as Linux's: `LOCK_MAND` requests are ignored (success),
/// an unknown operation is `EINVAL` before the descriptor is looked at,
/// and locking needs a description opened for reading or writing
/// (`EBADF` for O_PATH and mode-3 opens).
pub(crate) fn flock(t: &Task, fd: i32, op: u32) -> SysResult {
    if op & LOCK_MAND != 0 {
        return Ok(0);
    }
    let kind = match op & !LOCK_NB {
        LOCK_SH => Some(LockKind::Read),
        LOCK_EX => Some(LockKind::Write),
        LOCK_UN => None,
        _ => return Err(Errno::EINVAL),
    };
    let file = t.fds.file(fd)?;
    if file.is_path() || (kind.is_some() && !file.readable() && !file.writable()) {
        return Err(Errno::EBADF);
    }
    let table = &t.kernel.locks;
    let key = file.lock_key(table);
    let wait = if op & LOCK_NB == 0 {
        Wait::As(t)
    } else {
        Wait::No
    };
    table.flock(key, file.lock_id(), kind, wait).map(|_| 0)
}

/// F_SETLEASE and F_GETLEASE, as Linux's `generic_setlease` on tmpfs:
/// only the file's owner (or CAP_LEASE) may take one (`EACCES`), only on
/// a regular file (`EINVAL`); see
/// [`crate::vfs::lock::LockTable::set_lease`] for conflicts.
fn lease(t: &Task, file: &OpenFile, cmd: u32, argv: u64) -> SysResult {
    let table = &t.kernel.locks;
    let now = crate::process::mono_ns(&t.kernel);
    if cmd == F_GETLEASE {
        let key = file.lock_key(table);
        return Ok(match table.lease(key, file.lock_id(), now) {
            Some(LockKind::Read) => F_RDLCK,
            Some(LockKind::Write) => F_WRLCK,
            None => F_UNLCK,
        } as u64);
    }
    let kind = match argv as u32 as i32 {
        a if a == F_RDLCK as i32 => Some(LockKind::Read),
        a if a == F_WRLCK as i32 => Some(LockKind::Write),
        a if a == F_UNLCK as i32 => None,
        _ => return Err(Errno::EINVAL),
    };
    let attr = match &file.location {
        Some(loc) => loc.inode().attr()?,
        None => file.ops.stat().unwrap_or_default(),
    };
    if attr.uid != t.creds.fsuid && !t.creds.capable(CAP_LEASE) {
        return Err(Errno::EACCES);
    }
    if attr.file_type() != Some(FileType::Regular) {
        return Err(Errno::EINVAL);
    }
    let key = file.lock_key(table);
    table
        .set_lease(
            key,
            file.lock_id(),
            t.pid(),
            kind,
            file.readable(),
            file.writable(),
            now,
        )
        .map(|_| 0)
}

/// fcntl(2) on the descriptor `fd`.
pub(crate) fn fcntl(t: &mut Task, fd: i32, cmd: u32, argv: u64) -> SysResult {
    let entry = t.fds.get(fd)?;
    let file = entry.file;
    if file.is_path() && !matches!(cmd, F_DUPFD | F_DUPFD_CLOEXEC | F_GETFD | F_SETFD | F_GETFL) {
        return Err(Errno::EBADF);
    }
    match cmd {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            if argv >= nofile(t).min(i32::MAX as u64) {
                return Err(Errno::EINVAL);
            }
            t.fds
                .insert(argv as i32, file, cmd == F_DUPFD_CLOEXEC, nofile(t))
                .map(|fd| fd as u64)
        }
        F_GETFD => Ok(if entry.cloexec { FD_CLOEXEC as u64 } else { 0 }),
        F_SETFD => t
            .fds
            .set_cloexec(fd, argv as u32 & FD_CLOEXEC != 0)
            .map(|_| 0),
        F_GETFL => Ok(file.flags() as u64),
        F_SETFL => {
            file.set_status_flags(argv as u32);
            crate::vfs::fasync::update(t, &file, fd);
            Ok(0)
        }
        F_GETLK | F_SETLK | F_SETLKW | F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW => {
            record_lock(t, &file, cmd, argv)
        }
        F_GETOWN => Ok(file.fown.lock().getown() as u64),
        F_GETSIG => Ok(file.fown.lock().signum as u64),
        F_SETOWN => crate::vfs::fasync::setown(t, &file, argv as i32).map(|_| 0),
        F_SETSIG => {
            if argv > veil_abi::flags::NSIG as u64 {
                return Err(Errno::EINVAL);
            }
            file.fown.lock().signum = argv as u32;
            Ok(0)
        }
        F_GETOWN_EX => {
            let o = *file.fown.lock();
            t.mm.write_obj(UserAddr(argv), &[o.kind as u32, o.id as u32])?;
            Ok(0)
        }
        F_SETOWN_EX => {
            let [kind, id]: [u32; 2] = t.mm.read_obj(UserAddr(argv))?;
            crate::vfs::fasync::set_owner(t, &file, kind as i32, id as i32 as i64).map(|_| 0)
        }
        F_GETLEASE | F_SETLEASE => lease(t, &file, cmd, argv),
        F_NOTIFY => crate::vfs::inotify::dnotify(t, fd, &file, argv as u32).map(|_| 0),
        F_GETPIPE_SZ | F_SETPIPE_SZ => pipe_size(t, &file, cmd, argv),
        F_ADD_SEALS | F_GET_SEALS => super::memfd::seals(&file, cmd, argv),
        _ => Err(Errno::EINVAL),
    }
}

fn sys_fcntl(t: &mut Task, a: &[u64; 6]) -> SysResult {
    fcntl(t, arg::fd(a[0]), arg::uint(a[1]), a[2])
}
