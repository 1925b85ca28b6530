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
//! (`EBADF`). Record locks are not modelled: F_GETLK reports "unlocked"
//! and F_SETLK / F_SETLKW (and the OFD forms) succeed after Linux's
//! argument checks. Pipe sizes and seals answer as for a file that is
//! neither a pipe nor a memfd (`EBADF`, `EINVAL`).

use alloc::sync::Arc;

use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, PAGE_SIZE};

use super::{arg, Handler};
use crate::task::Task;
use crate::vfs::open::{open_at, OpenHow};
use crate::vfs::{FdTable, OpenFile};
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

/// Record-lock commands for open file description locks.
const F_OFD_GETLK: u32 = 36;
const F_OFD_SETLK: u32 = 37;
const F_OFD_SETLKW: u32 = 38;
const F_SETSIG: u32 = 10;
const F_GETSIG: u32 = 11;
const F_SETOWN_EX: u32 = 15;
const F_GETOWN_EX: u32 = 16;
const F_SETLEASE: u32 = 1024;
const F_GETLEASE: u32 = 1025;
const F_RDLCK: i16 = 0;
const F_WRLCK: i16 = 1;
const F_UNLCK: i16 = 2;

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
            Ok(0)
        }
        F_GETLK | F_SETLK | F_SETLKW | F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW => {
            // struct flock: l_type, l_whence (shorts), l_start, l_len, l_pid.
            let mut fl: [u8; 32] = t.mm.read_obj(UserAddr(argv))?;
            let l_type = i16::from_ne_bytes([fl[0], fl[1]]);
            let l_whence = i16::from_ne_bytes([fl[2], fl[3]]);
            let l_pid = i32::from_ne_bytes([fl[24], fl[25], fl[26], fl[27]]);
            if !matches!(l_type, F_RDLCK | F_WRLCK | F_UNLCK) || !(0..=2).contains(&l_whence) {
                return Err(Errno::EINVAL);
            }
            let ofd = matches!(cmd, F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW);
            if ofd && l_pid != 0 {
                return Err(Errno::EINVAL);
            }
            if matches!(cmd, F_GETLK | F_OFD_GETLK) {
                if l_type == F_UNLCK {
                    return Err(Errno::EINVAL);
                }
                fl[0..2].copy_from_slice(&F_UNLCK.to_ne_bytes());
                t.mm.write_obj(UserAddr(argv), &fl)?;
                return Ok(0);
            }
            if (l_type == F_RDLCK && !file.readable()) || (l_type == F_WRLCK && !file.writable()) {
                return Err(Errno::EBADF);
            }
            Ok(0)
        }
        F_GETOWN | F_GETSIG => Ok(0),
        F_SETOWN => Ok(0),
        F_SETSIG => {
            if argv > veil_abi::flags::NSIG as u64 {
                return Err(Errno::EINVAL);
            }
            Ok(0)
        }
        F_GETOWN_EX => {
            t.mm.write_obj(UserAddr(argv), &[0u32; 2])?;
            Ok(0)
        }
        F_SETOWN_EX => {
            let _: [u32; 2] = t.mm.read_obj(UserAddr(argv))?;
            Ok(0)
        }
        F_GETLEASE => Ok(F_UNLCK as u64),
        F_SETLEASE => Err(Errno::EINVAL),
        F_GETPIPE_SZ | F_SETPIPE_SZ => Err(Errno::EBADF),
        F_ADD_SEALS | F_GET_SEALS => Err(Errno::EINVAL),
        _ => Err(Errno::EINVAL),
    }
}

fn sys_fcntl(t: &mut Task, a: &[u64; 6]) -> SysResult {
    fcntl(t, arg::fd(a[0]), arg::uint(a[1]), a[2])
}
