//! Calls on names and attributes: mkdir, mknod, unlink, rmdir, rename,
//! link, symlink, readlink, access, getcwd, chdir, fchdir, chmod, chown,
//! truncate, the utime family and umask, in all their `*at` forms.
//!
//! This module reads arguments from user memory and checks flags as
//! Linux does, in Linux's order (flag checks before the path is read);
//! the work, and the error order of the work, is in
//! [`crate::vfs::pathops`]. getcwd answers `ERANGE` when the buffer is too
//! small for the path and its NUL; a directory not under the task's root
//! shows as `(unreachable)` followed by its path.
//!
//! RENAME_WHITEOUT needs a filesystem that has whiteouts (tmpfs; the
//! overlay and others answer `EINVAL`, as Linux's overlayfs does); since
//! Linux 5.8 it needs no privilege.
//!
//! Left out: device nodes (`EPERM`),
//! fchmodat2's AT_SYMLINK_NOFOLLOW on a symlink (`EOPNOTSUPP`, as most
//! Linux filesystems).

use alloc::vec::Vec;

use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, Timespec, Timeval};

use super::file_io::io_file;
use super::{arg, Handler};
use crate::task::Task;
use crate::vfs::pathops::{self, TimeArg};
use crate::vfs::walk::{self, WalkFlags};
use crate::vfs::{FileType, Location};
use crate::{SysResult, UserAddr};

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        MKDIR => sys_mkdir,
        MKDIRAT => sys_mkdirat,
        MKNOD => sys_mknod,
        MKNODAT => sys_mknodat,
        UNLINK => sys_unlink,
        UNLINKAT => sys_unlinkat,
        RMDIR => sys_rmdir,
        RENAME => sys_rename,
        RENAMEAT => sys_renameat,
        RENAMEAT2 => sys_renameat2,
        LINK => sys_link,
        LINKAT => sys_linkat,
        SYMLINK => sys_symlink,
        SYMLINKAT => sys_symlinkat,
        READLINK => sys_readlink,
        READLINKAT => sys_readlinkat,
        ACCESS => sys_access,
        FACCESSAT => sys_faccessat,
        FACCESSAT2 => sys_faccessat2,
        GETCWD => sys_getcwd,
        CHDIR => sys_chdir,
        FCHDIR => sys_fchdir,
        CHMOD => sys_chmod,
        FCHMOD => sys_fchmod,
        FCHMODAT => sys_fchmodat,
        FCHMODAT2 => sys_fchmodat2,
        CHOWN => sys_chown,
        LCHOWN => sys_lchown,
        FCHOWN => sys_fchown,
        FCHOWNAT => sys_fchownat,
        TRUNCATE => sys_truncate,
        UTIME => sys_utime,
        UTIMES => sys_utimes,
        FUTIMESAT => sys_futimesat,
        UTIMENSAT => sys_utimensat,
        UMASK => sys_umask,
        _ => return None,
    })
}

const FOLLOW: WalkFlags = WalkFlags {
    follow: true,
    empty_ok: false,
};

fn sys_mkdir(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let path = t.read_path(a[0])?;
    pathops::mkdirat(t, AT_FDCWD, &path, arg::uint(a[1])).map(|_| 0)
}

fn sys_mkdirat(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let path = t.read_path(a[1])?;
    pathops::mkdirat(t, arg::fd(a[0]), &path, arg::uint(a[2])).map(|_| 0)
}

fn sys_mknod(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let path = t.read_path(a[0])?;
    pathops::mknodat(t, AT_FDCWD, &path, arg::uint(a[1]), a[2]).map(|_| 0)
}

fn sys_mknodat(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let path = t.read_path(a[1])?;
    pathops::mknodat(t, arg::fd(a[0]), &path, arg::uint(a[2]), a[3]).map(|_| 0)
}

fn sys_unlink(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let path = t.read_path(a[0])?;
    pathops::unlinkat(t, AT_FDCWD, &path, false).map(|_| 0)
}

fn sys_unlinkat(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let flags = arg::uint(a[2]);
    if flags & !AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    let path = t.read_path(a[1])?;
    pathops::unlinkat(t, arg::fd(a[0]), &path, flags & AT_REMOVEDIR != 0).map(|_| 0)
}

fn sys_rmdir(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let path = t.read_path(a[0])?;
    pathops::rmdir(t, AT_FDCWD, &path).map(|_| 0)
}

fn rename_common(t: &Task, odfd: i32, op: u64, ndfd: i32, np: u64, flags: u32) -> SysResult {
    if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) != 0
        || (flags & (RENAME_NOREPLACE | RENAME_WHITEOUT) != 0 && flags & RENAME_EXCHANGE != 0)
    {
        return Err(Errno::EINVAL);
    }
    let old = t.read_path(op)?;
    let new = t.read_path(np)?;
    pathops::renameat2(t, odfd, &old, ndfd, &new, flags).map(|_| 0)
}

fn sys_rename(t: &mut Task, a: &[u64; 6]) -> SysResult {
    rename_common(t, AT_FDCWD, a[0], AT_FDCWD, a[1], 0)
}

fn sys_renameat(t: &mut Task, a: &[u64; 6]) -> SysResult {
    rename_common(t, arg::fd(a[0]), a[1], arg::fd(a[2]), a[3], 0)
}

fn sys_renameat2(t: &mut Task, a: &[u64; 6]) -> SysResult {
    rename_common(t, arg::fd(a[0]), a[1], arg::fd(a[2]), a[3], arg::uint(a[4]))
}

fn link_common(t: &Task, odfd: i32, op: u64, ndfd: i32, np: u64, flags: u32) -> SysResult {
    if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let old = t.read_path(op)?;
    let new = t.read_path(np)?;
    pathops::linkat(t, odfd, &old, ndfd, &new, flags).map(|_| 0)
}

fn sys_link(t: &mut Task, a: &[u64; 6]) -> SysResult {
    link_common(t, AT_FDCWD, a[0], AT_FDCWD, a[1], 0)
}

fn sys_linkat(t: &mut Task, a: &[u64; 6]) -> SysResult {
    link_common(t, arg::fd(a[0]), a[1], arg::fd(a[2]), a[3], arg::uint(a[4]))
}

fn sys_symlink(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let target = t.read_path(a[0])?;
    let path = t.read_path(a[1])?;
    pathops::symlinkat(t, &target, AT_FDCWD, &path).map(|_| 0)
}

fn sys_symlinkat(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let target = t.read_path(a[0])?;
    let path = t.read_path(a[2])?;
    pathops::symlinkat(t, &target, arg::fd(a[1]), &path).map(|_| 0)
}

fn readlink_common(t: &Task, dirfd: i32, path_ptr: u64, buf: u64, size: u64) -> SysResult {
    let size = size as i32;
    if size <= 0 {
        return Err(Errno::EINVAL);
    }
    let path = t.read_path(path_ptr)?;
    let text = pathops::readlinkat(t, dirfd, &path)?;
    let n = text.len().min(size as usize);
    t.mm.copy_out(UserAddr(buf), &text[..n])?;
    Ok(n as u64)
}

fn sys_readlink(t: &mut Task, a: &[u64; 6]) -> SysResult {
    readlink_common(t, AT_FDCWD, a[0], a[1], a[2])
}

fn sys_readlinkat(t: &mut Task, a: &[u64; 6]) -> SysResult {
    readlink_common(t, arg::fd(a[0]), a[1], a[2], a[3])
}

fn access_common(t: &Task, dirfd: i32, path_ptr: u64, mode: u32, flags: u32) -> SysResult {
    if mode & !(R_OK | W_OK | X_OK) != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let path = t.read_path(path_ptr)?;
    pathops::faccessat(t, dirfd, &path, mode, flags).map(|_| 0)
}

fn sys_access(t: &mut Task, a: &[u64; 6]) -> SysResult {
    access_common(t, AT_FDCWD, a[0], arg::uint(a[1]), 0)
}

fn sys_faccessat(t: &mut Task, a: &[u64; 6]) -> SysResult {
    access_common(t, arg::fd(a[0]), a[1], arg::uint(a[2]), 0)
}

fn sys_faccessat2(t: &mut Task, a: &[u64; 6]) -> SysResult {
    access_common(t, arg::fd(a[0]), a[1], arg::uint(a[2]), arg::uint(a[3]))
}

/// The text getcwd reports for the task's cwd.
pub fn cwd_path(t: &Task) -> Vec<u8> {
    let (root, cwd) = {
        let fs = t.fs.lock();
        (fs.root.clone(), fs.cwd.clone())
    };
    let path = cwd.path_from(&root);
    if under(&cwd, &root) {
        path
    } else {
        let mut out = b"(unreachable)".to_vec();
        out.extend_from_slice(&path);
        out
    }
}

/// True if `loc` is `root` or below it.
fn under(loc: &Location, root: &Location) -> bool {
    let mut cur = loc.clone();
    loop {
        if cur.same(root) {
            return true;
        }
        if alloc::sync::Arc::ptr_eq(&cur.dentry, &cur.mount.root) {
            match cur.mount.parent() {
                Some(p) => {
                    cur = p;
                    continue;
                }
                None => return false,
            }
        }
        match cur.dentry.parent() {
            Some(p) => cur.dentry = p,
            None => return false,
        }
    }
}

fn sys_getcwd(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (buf, size) = (a[0], a[1]);
    // A removed working directory has no path (Linux: ENOENT).
    let cwd = t.fs.lock().cwd.clone();
    if cwd.inode().attr()?.nlink == 0 {
        return Err(Errno::ENOENT);
    }
    let mut path = cwd_path(t);
    path.push(0);
    if path.len() as u64 > size {
        return Err(Errno::ERANGE);
    }
    t.mm.copy_out(UserAddr(buf), &path)?;
    Ok(path.len() as u64)
}

/// Makes `loc` the cwd: a searchable directory (`ENOTDIR`, `EACCES`).
fn set_cwd(t: &Task, loc: Location) -> SysResult {
    let attr = loc.inode().attr()?;
    if attr.file_type() != Some(FileType::Directory) {
        return Err(Errno::ENOTDIR);
    }
    crate::vfs::perm::check(&t.creds, &attr, X_OK)?;
    t.fs.lock().cwd = loc;
    Ok(0)
}

fn sys_chdir(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let path = t.read_path(a[0])?;
    let loc = walk::resolve(t, AT_FDCWD, &path, FOLLOW)?;
    set_cwd(t, loc)
}

fn sys_fchdir(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let file = t.fds.file(arg::fd(a[0]))?;
    let loc = file.location.clone().ok_or(Errno::ENOTDIR)?;
    set_cwd(t, loc)
}

/// Resolves the target of a `*at` attribute call: `dirfd` itself for an
/// empty path with AT_EMPTY_PATH (`None` if it has no location).
fn at_target(t: &Task, dirfd: i32, path_ptr: u64, flags: u32) -> Result<Option<Location>, Errno> {
    let path = t.read_path(path_ptr)?;
    let empty_ok = flags & AT_EMPTY_PATH != 0;
    if path.is_empty() && empty_ok && dirfd != AT_FDCWD {
        return Ok(t.fds.file(dirfd)?.location.clone());
    }
    let wf = WalkFlags {
        follow: flags & AT_SYMLINK_NOFOLLOW == 0,
        empty_ok,
    };
    walk::resolve(t, dirfd, &path, wf).map(Some)
}

fn chmod_at(t: &Task, dirfd: i32, path_ptr: u64, mode: u32, flags: u32) -> SysResult {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let Some(loc) = at_target(t, dirfd, path_ptr, flags)? else {
        return Ok(0);
    };
    if flags & AT_SYMLINK_NOFOLLOW != 0
        && loc.inode().attr()?.file_type() == Some(FileType::Symlink)
    {
        return Err(Errno::EOPNOTSUPP);
    }
    pathops::chmod_location(t, &loc, mode).map(|_| 0)
}

fn sys_chmod(t: &mut Task, a: &[u64; 6]) -> SysResult {
    chmod_at(t, AT_FDCWD, a[0], arg::uint(a[1]), 0)
}

fn sys_fchmodat(t: &mut Task, a: &[u64; 6]) -> SysResult {
    chmod_at(t, arg::fd(a[0]), a[1], arg::uint(a[2]), 0)
}

fn sys_fchmodat2(t: &mut Task, a: &[u64; 6]) -> SysResult {
    chmod_at(t, arg::fd(a[0]), a[1], arg::uint(a[2]), arg::uint(a[3]))
}

fn sys_fchmod(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let file = io_file(t, arg::fd(a[0]))?;
    match &file.location {
        Some(loc) => pathops::chmod_location(t, loc, arg::uint(a[1])).map(|_| 0),
        None => Ok(0),
    }
}

/// A uid / gid argument: -1 leaves it alone.
fn id_arg(v: u64) -> Option<u32> {
    let v = v as u32;
    (v != u32::MAX).then_some(v)
}

fn chown_at(t: &Task, dirfd: i32, path_ptr: u64, uid: u64, gid: u64, flags: u32) -> SysResult {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let Some(loc) = at_target(t, dirfd, path_ptr, flags)? else {
        return Ok(0);
    };
    pathops::chown_location(t, &loc, id_arg(uid), id_arg(gid)).map(|_| 0)
}

fn sys_chown(t: &mut Task, a: &[u64; 6]) -> SysResult {
    chown_at(t, AT_FDCWD, a[0], a[1], a[2], 0)
}

fn sys_lchown(t: &mut Task, a: &[u64; 6]) -> SysResult {
    chown_at(t, AT_FDCWD, a[0], a[1], a[2], AT_SYMLINK_NOFOLLOW)
}

fn sys_fchownat(t: &mut Task, a: &[u64; 6]) -> SysResult {
    chown_at(t, arg::fd(a[0]), a[1], a[2], a[3], arg::uint(a[4]))
}

fn sys_fchown(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let file = io_file(t, arg::fd(a[0]))?;
    match &file.location {
        Some(loc) => pathops::chown_location(t, loc, id_arg(a[1]), id_arg(a[2])).map(|_| 0),
        None => Ok(0),
    }
}

fn sys_truncate(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let len = a[1] as i64;
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let path = t.read_path(a[0])?;
    let loc = walk::resolve(t, AT_FDCWD, &path, FOLLOW)?;
    pathops::truncate_location(t, &loc, len as u64).map(|_| 0)
}

fn time_arg(ts: &Timespec) -> Result<TimeArg, Errno> {
    match ts.tv_nsec {
        UTIME_NOW => Ok(TimeArg::Now),
        UTIME_OMIT => Ok(TimeArg::Omit),
        0..=999_999_999 => Ok(TimeArg::Set(*ts)),
        _ => Err(Errno::EINVAL),
    }
}

/// The common end of the utime family: `times` `None` means "now".
fn utimes_common(
    t: &Task,
    dirfd: i32,
    path_ptr: u64,
    times: Option<(TimeArg, TimeArg)>,
    flags: u32,
) -> SysResult {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let (at, mt) = times.unwrap_or((TimeArg::Now, TimeArg::Now));
    let loc = if path_ptr == 0 && dirfd != AT_FDCWD {
        if flags != 0 {
            return Err(Errno::EINVAL);
        }
        match io_file(t, dirfd)?.location.clone() {
            Some(l) => l,
            None => return Ok(0),
        }
    } else {
        match at_target(t, dirfd, path_ptr, flags)? {
            Some(l) => l,
            None => return Ok(0),
        }
    };
    pathops::utimes_location(t, &loc, at, mt).map(|_| 0)
}

fn sys_utimensat(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (dirfd, path_ptr, times_ptr, flags) = (arg::fd(a[0]), a[1], a[2], arg::uint(a[3]));
    let times = if times_ptr != 0 {
        let ts: [Timespec; 2] = t.mm.read_obj(UserAddr(times_ptr))?;
        if ts[0].tv_nsec == UTIME_OMIT && ts[1].tv_nsec == UTIME_OMIT {
            return Ok(0);
        }
        Some((time_arg(&ts[0])?, time_arg(&ts[1])?))
    } else {
        None
    };
    utimes_common(t, dirfd, path_ptr, times, flags)
}

fn timeval_arg(tv: &Timeval) -> Result<TimeArg, Errno> {
    if !(0..1_000_000).contains(&tv.tv_usec) {
        return Err(Errno::EINVAL);
    }
    Ok(TimeArg::Set(Timespec {
        tv_sec: tv.tv_sec,
        tv_nsec: tv.tv_usec * 1000,
    }))
}

fn futimesat_common(t: &Task, dirfd: i32, path_ptr: u64, tv_ptr: u64) -> SysResult {
    let times = if tv_ptr != 0 {
        let tv: [Timeval; 2] = t.mm.read_obj(UserAddr(tv_ptr))?;
        Some((timeval_arg(&tv[0])?, timeval_arg(&tv[1])?))
    } else {
        None
    };
    utimes_common(t, dirfd, path_ptr, times, 0)
}

fn sys_utimes(t: &mut Task, a: &[u64; 6]) -> SysResult {
    futimesat_common(t, AT_FDCWD, a[0], a[1])
}

fn sys_futimesat(t: &mut Task, a: &[u64; 6]) -> SysResult {
    futimesat_common(t, arg::fd(a[0]), a[1], a[2])
}

fn sys_utime(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let times = if a[1] != 0 {
        // struct utimbuf { time_t actime; time_t modtime; }
        let tb: [i64; 2] = t.mm.read_obj(UserAddr(a[1]))?;
        let set = |s: i64| {
            TimeArg::Set(Timespec {
                tv_sec: s,
                tv_nsec: 0,
            })
        };
        Some((set(tb[0]), set(tb[1])))
    } else {
        None
    };
    utimes_common(t, AT_FDCWD, a[0], times, 0)
}

fn sys_umask(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let mut fs = t.fs.lock();
    let old = fs.umask;
    fs.umask = arg::uint(a[0]) & 0o777;
    Ok(old as u64)
}
