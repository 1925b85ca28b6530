//! The stat family: stat, lstat, fstat, newfstatat, statx, statfs and
//! fstatfs.
//!
//! Attributes come from the inode ([`InodeAttr`]); a description opened
//! without a path (runtime stdio, later pipes and sockets) answers through
//! [`FileOps::stat`](crate::vfs::FileOps::stat), or as an anonymous inode
//! (mode 0600, no type bits) when it has nothing to say. statx fills the
//! basic statistics and the mount id and sets `stx_mask` to exactly that
//! (no birth time); it honours AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW and
//! takes AT_NO_AUTOMOUNT and the sync-type bits (both sync types at once
//! is `EINVAL`). As in Linux 6.11, a NULL path with AT_EMPTY_PATH names the
//! fd. statfs adds ST_VALID and the mount's flags (ST_RDONLY, ST_NOSUID,
//! ST_RELATIME, ...) to what the filesystem reports.

use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, Stat, Statfs, Statx, StatxTimestamp, Timespec};

use super::{arg, Handler};
use crate::task::Task;
use crate::vfs::walk::{self, WalkFlags};
use crate::vfs::{InodeAttr, OpenFile};
use crate::{SysResult, UserAddr};

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        STAT => sys_stat,
        LSTAT => sys_lstat,
        FSTAT => sys_fstat,
        NEWFSTATAT => sys_newfstatat,
        STATX => sys_statx,
        STATFS => sys_statfs,
        FSTATFS => sys_fstatfs,
        _ => return None,
    })
}

/// statfs `f_flags`: the result is valid.
const ST_VALID: i64 = 0x20;

/// The attributes fstat reports for a description.
pub fn file_attr(task: &Task, file: &alloc::sync::Arc<OpenFile>) -> Result<InodeAttr, Errno> {
    if let Some(loc) = &file.location {
        return loc.inode().attr();
    }
    if let Some(a) = file.ops.stat() {
        return Ok(a);
    }
    Ok(InodeAttr {
        dev: veil_abi::makedev(0, 14),
        ino: alloc::sync::Arc::as_ptr(file) as *const () as usize as u64,
        mode: 0o600,
        nlink: 1,
        uid: task.creds.fsuid,
        gid: task.creds.fsgid,
        blksize: 4096,
        ..Default::default()
    })
}

/// `struct stat` from attributes.
pub fn to_stat(a: &InodeAttr) -> Stat {
    Stat {
        st_dev: a.dev,
        st_ino: a.ino,
        st_nlink: a.nlink,
        st_mode: a.mode,
        st_uid: a.uid,
        st_gid: a.gid,
        pad0: 0,
        st_rdev: a.rdev,
        st_size: a.size as i64,
        st_blksize: if a.blksize == 0 {
            4096
        } else {
            a.blksize as i64
        },
        st_blocks: a.blocks as i64,
        st_atime: a.atime.tv_sec,
        st_atime_nsec: a.atime.tv_nsec,
        st_mtime: a.mtime.tv_sec,
        st_mtime_nsec: a.mtime.tv_nsec,
        st_ctime: a.ctime.tv_sec,
        st_ctime_nsec: a.ctime.tv_nsec,
        unused: [0; 3],
    }
}

fn ts(t: &Timespec) -> StatxTimestamp {
    StatxTimestamp {
        tv_sec: t.tv_sec,
        tv_nsec: t.tv_nsec as u32,
        reserved: 0,
    }
}

/// Linux's major / minor of a `dev_t` in the 64-bit encoding.
fn split_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

/// `struct statx` from attributes; `mnt_id` if known.
pub fn to_statx(a: &InodeAttr, mnt_id: Option<u32>) -> Statx {
    let (rmaj, rmin) = split_dev(a.rdev);
    let (dmaj, dmin) = split_dev(a.dev);
    let mut mask = STATX_BASIC_STATS;
    if mnt_id.is_some() {
        mask |= STATX_MNT_ID;
    }
    if a.btime.is_some() {
        mask |= STATX_BTIME;
    }
    Statx {
        stx_btime: a.btime.as_ref().map(ts).unwrap_or_default(),
        stx_mask: mask,
        stx_blksize: if a.blksize == 0 { 4096 } else { a.blksize },
        stx_nlink: a.nlink as u32,
        stx_uid: a.uid,
        stx_gid: a.gid,
        stx_mode: a.mode as u16,
        stx_ino: a.ino,
        stx_size: a.size,
        stx_blocks: a.blocks,
        stx_atime: ts(&a.atime),
        stx_ctime: ts(&a.ctime),
        stx_mtime: ts(&a.mtime),
        stx_rdev_major: rmaj,
        stx_rdev_minor: rmin,
        stx_dev_major: dmaj,
        stx_dev_minor: dmin,
        stx_mnt_id: mnt_id.unwrap_or(0) as u64,
        ..Default::default()
    }
}

/// What a `*stat*at` call names: a path, or the fd itself.
enum Target {
    Fd(alloc::sync::Arc<OpenFile>),
    Path(crate::vfs::Location),
}

fn target(t: &Task, dirfd: i32, path_ptr: u64, flags: u32) -> Result<Target, Errno> {
    let empty_ok = flags & AT_EMPTY_PATH != 0;
    let path = if path_ptr == 0 && empty_ok {
        alloc::vec::Vec::new()
    } else {
        t.read_path(path_ptr)?
    };
    if path.is_empty() && empty_ok && dirfd != AT_FDCWD {
        return Ok(Target::Fd(t.fds.file(dirfd)?));
    }
    let wf = WalkFlags {
        follow: flags & AT_SYMLINK_NOFOLLOW == 0,
        empty_ok,
    };
    Ok(Target::Path(walk::resolve(t, dirfd, &path, wf)?))
}

fn stat_at(t: &Task, dirfd: i32, path_ptr: u64, buf: u64, flags: u32) -> SysResult {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT) != 0 {
        return Err(Errno::EINVAL);
    }
    let attr = match target(t, dirfd, path_ptr, flags)? {
        Target::Fd(f) => file_attr(t, &f)?,
        Target::Path(loc) => loc.inode().attr()?,
    };
    t.mm.write_obj(UserAddr(buf), &to_stat(&attr))?;
    Ok(0)
}

fn sys_stat(t: &mut Task, a: &[u64; 6]) -> SysResult {
    stat_at(t, AT_FDCWD, a[0], a[1], 0)
}

fn sys_lstat(t: &mut Task, a: &[u64; 6]) -> SysResult {
    stat_at(t, AT_FDCWD, a[0], a[1], AT_SYMLINK_NOFOLLOW)
}

fn sys_newfstatat(t: &mut Task, a: &[u64; 6]) -> SysResult {
    stat_at(t, arg::fd(a[0]), a[1], a[2], arg::uint(a[3]))
}

fn sys_fstat(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let file = t.fds.file(arg::fd(a[0]))?;
    let attr = file_attr(t, &file)?;
    t.mm.write_obj(UserAddr(a[1]), &to_stat(&attr))?;
    Ok(0)
}

fn sys_statx(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (dirfd, path_ptr, flags, mask, buf) =
        (arg::fd(a[0]), a[1], arg::uint(a[2]), arg::uint(a[3]), a[4]);
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE) != 0
        || flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE
        || mask & STATX__RESERVED != 0
    {
        return Err(Errno::EINVAL);
    }
    let (attr, mnt) = match target(t, dirfd, path_ptr, flags)? {
        Target::Fd(f) => {
            let a = file_attr(t, &f)?;
            (a, f.location.as_ref().map(|l| l.mount.clone()))
        }
        Target::Path(loc) => (loc.inode().attr()?, Some(loc.mount)),
    };
    let mut sx = to_statx(&attr, mnt.as_ref().map(|m| m.id));
    // STATX_MNT_ID_UNIQUE asks for the 64-bit id instead.
    if let (Some(m), true) = (&mnt, mask & STATX_MNT_ID_UNIQUE != 0) {
        sx.stx_mask = (sx.stx_mask & !STATX_MNT_ID) | STATX_MNT_ID_UNIQUE;
        sx.stx_mnt_id = m.unique_id;
    }
    t.mm.write_obj(UserAddr(buf), &sx)?;
    Ok(0)
}

fn statfs_of(loc: &crate::vfs::Location) -> Result<Statfs, Errno> {
    let mut s = loc.inode().statfs()?;
    s.f_flags |= ST_VALID;
    s.f_flags |= loc.mount.statfs_flags();
    Ok(s)
}

fn sys_statfs(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let path = t.read_path(a[0])?;
    let loc = walk::resolve(
        t,
        AT_FDCWD,
        &path,
        WalkFlags {
            follow: true,
            empty_ok: false,
        },
    )?;
    t.mm.write_obj(UserAddr(a[1]), &statfs_of(&loc)?)?;
    Ok(0)
}

fn sys_fstatfs(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let file = t.fds.file(arg::fd(a[0]))?;
    let s = match &file.location {
        Some(loc) => statfs_of(loc)?,
        None => Statfs {
            f_bsize: 4096,
            f_frsize: 4096,
            f_namelen: 255,
            f_flags: ST_VALID,
            ..Default::default()
        },
    };
    t.mm.write_obj(UserAddr(a[1]), &s)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_split() {
        assert_eq!(split_dev(veil_abi::makedev(8, 1)), (8, 1));
        assert_eq!(split_dev(veil_abi::makedev(259, 70000)), (259, 70000));
    }

    #[test]
    fn statx_mask() {
        let a = InodeAttr {
            mode: 0o100644,
            size: 5,
            ..Default::default()
        };
        let s = to_statx(&a, Some(3));
        assert_eq!(s.stx_mask, STATX_BASIC_STATS | STATX_MNT_ID);
        assert_eq!(s.stx_mnt_id, 3);
        assert_eq!(s.stx_mode, 0o100644);
        assert_eq!(to_statx(&a, None).stx_mask, STATX_BASIC_STATS);
        assert_eq!(to_stat(&a).st_blksize, 4096);
    }
}
