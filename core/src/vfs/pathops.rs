//! Operations on names and attributes: mkdir, mknod, symlink, link,
//! unlink, rmdir, rename, readlink, access, chmod, chown, truncate and
//! utimes, as the VFS half of the system calls (which only read their
//! arguments from user memory and call in here).
//!
//! Each follows the order in which Linux reports errors, because programs
//! and conformance tests look at which error comes first: e.g. creating a
//! name that exists is `EEXIST` even on a read-only mount; a trailing
//! slash on a name to create that is not a directory is `ENOENT`; `.`,
//! `..` and `/` as the last component get Linux's answers (`EEXIST`,
//! `EISDIR`, `EINVAL`, `ENOTEMPTY`, `EBUSY`); writes through a read-only
//! mount are `EROFS`; removal checks the sticky bit (`EPERM`); mount
//! points cannot be removed or renamed (`EBUSY`); rename and link refuse
//! to cross mounts (`EXDEV`) and rename refuses to move a directory into
//! itself (`EINVAL`). After a change, the dentry cache is updated (the
//! removed name forgotten, a renamed dentry relinked under its new name)
//! so later walks and getcwd see the new tree.
//!
//! Each change is reported to inotify ([`super::inotify`]) where Linux
//! calls fsnotify.
//!
//! Left out: whiteouts (RENAME_WHITEOUT is `EINVAL`), device nodes
//! (`EPERM`), leases and delegations.

use alloc::sync::Arc;
use alloc::vec::Vec;

use veil_abi::flags::*;
use veil_abi::{Errno, Timespec};

use super::open::{created, new_owner};
use super::walk::{self, Last, WalkFlags};
use super::{inotify, perm};
use super::{Dentry, FileType, InodeAttr, Location, SetAttr};
use crate::task::{Credentials, Task};

/// The checks shared by every call that creates a name: the last
/// component must be an ordinary name that does not exist (`EEXIST`), a
/// trailing slash only names a directory to create (`ENOENT`), the mount
/// must be writable (`EROFS`). Returns the directory, its attributes and
/// the name. Write permission on the directory is the caller's to check
/// (link checks `EXDEV` first).
fn create_prelude(
    task: &Task,
    dirfd: i32,
    path: &[u8],
    want_dir: bool,
) -> Result<(Location, InodeAttr, Vec<u8>), Errno> {
    let p = walk::resolve_last(task, dirfd, path)?;
    let name = match p.last {
        Last::Name(n) => n,
        _ => return Err(Errno::EEXIST),
    };
    match p.dir.dentry.child(task, &name) {
        Ok(_) => return Err(Errno::EEXIST),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(e),
    }
    if p.trailing && !want_dir {
        return Err(Errno::ENOENT);
    }
    p.dir.mount.check_writable()?;
    let dir_attr = p.dir.inode().attr()?;
    Ok((p.dir, dir_attr, name))
}

fn umask(task: &Task) -> u32 {
    task.fs.lock().umask
}

/// mkdirat(2): `mode & 01777 & ~umask`, set-gid inherited from the parent.
pub fn mkdirat(task: &Task, dirfd: i32, path: &[u8], mode: u32) -> Result<(), Errno> {
    let (dir, dir_attr, name) = create_prelude(task, dirfd, path, true)?;
    perm::may_create(&task.creds, &dir_attr)?;
    let mut mode = mode & 0o1777 & !umask(task);
    if dir_attr.mode & S_ISGID != 0 {
        mode |= S_ISGID;
    }
    let inode = dir.inode().mkdir(&name, mode, new_owner(task, &dir_attr))?;
    inotify::created(task, &created(&dir, &name, inode));
    Ok(())
}

/// mknodat(2): regular files, FIFOs and sockets; devices are `EPERM`.
pub fn mknodat(task: &Task, dirfd: i32, path: &[u8], mode: u32, dev: u64) -> Result<(), Errno> {
    let kind = match mode & S_IFMT {
        0 | S_IFREG => FileType::Regular,
        S_IFIFO => FileType::Fifo,
        S_IFSOCK => FileType::Socket,
        S_IFCHR => FileType::CharDevice,
        S_IFBLK => FileType::BlockDevice,
        S_IFDIR => return Err(Errno::EPERM),
        _ => return Err(Errno::EINVAL),
    };
    let (dir, dir_attr, name) = create_prelude(task, dirfd, path, false)?;
    perm::may_create(&task.creds, &dir_attr)?;
    if matches!(kind, FileType::CharDevice | FileType::BlockDevice) {
        return Err(Errno::EPERM);
    }
    let bits = mode & 0o7777 & !umask(task);
    let rdev = if matches!(kind, FileType::CharDevice | FileType::BlockDevice) {
        dev
    } else {
        0
    };
    let inode = dir
        .inode()
        .mknod(&name, kind, bits, rdev, new_owner(task, &dir_attr))?;
    inotify::created(task, &created(&dir, &name, inode));
    Ok(())
}

/// symlinkat(2): an empty target is `ENOENT`.
pub fn symlinkat(task: &Task, target: &[u8], dirfd: i32, path: &[u8]) -> Result<(), Errno> {
    if target.is_empty() {
        return Err(Errno::ENOENT);
    }
    let (dir, dir_attr, name) = create_prelude(task, dirfd, path, false)?;
    perm::may_create(&task.creds, &dir_attr)?;
    let inode = dir
        .inode()
        .symlink(&name, target, new_owner(task, &dir_attr))?;
    inotify::created(task, &created(&dir, &name, inode));
    Ok(())
}

/// linkat(2). `flags` are AT_SYMLINK_FOLLOW and AT_EMPTY_PATH (checked by
/// the caller).
pub fn linkat(
    task: &Task,
    olddirfd: i32,
    oldpath: &[u8],
    newdirfd: i32,
    newpath: &[u8],
    flags: u32,
) -> Result<(), Errno> {
    let wf = WalkFlags {
        follow: flags & AT_SYMLINK_FOLLOW != 0,
        empty_ok: flags & AT_EMPTY_PATH != 0,
    };
    let old = walk::resolve(task, olddirfd, oldpath, wf)?;
    let (dir, dir_attr, name) = create_prelude(task, newdirfd, newpath, false)?;
    if !Arc::ptr_eq(&old.mount, &dir.mount) {
        return Err(Errno::EXDEV);
    }
    let attr = old.inode().attr()?;
    if !perm::may_hardlink(&task.creds, &attr) {
        return Err(Errno::EPERM);
    }
    perm::may_create(&task.creds, &dir_attr)?;
    if attr.dev != dir_attr.dev {
        return Err(Errno::EXDEV);
    }
    if attr.file_type() == Some(FileType::Directory) {
        return Err(Errno::EPERM);
    }
    dir.inode().link(&name, old.inode())?;
    inotify::linked(task, &created(&dir, &name, old.inode().clone()));
    Ok(())
}

/// unlinkat(2) with `AT_REMOVEDIR` or not.
pub fn unlinkat(task: &Task, dirfd: i32, path: &[u8], removedir: bool) -> Result<(), Errno> {
    if removedir {
        return rmdir(task, dirfd, path);
    }
    let p = walk::resolve_last(task, dirfd, path)?;
    let name = match p.last {
        Last::Name(n) => n,
        _ => return Err(Errno::EISDIR),
    };
    p.dir.mount.check_writable()?;
    let child = p.dir.dentry.child(task, &name)?;
    let attr = child.inode.attr()?;
    let is_dir = attr.file_type() == Some(FileType::Directory);
    if p.trailing {
        return Err(if is_dir {
            Errno::EISDIR
        } else {
            Errno::ENOTDIR
        });
    }
    let dir_attr = p.dir.inode().attr()?;
    perm::may_delete(&task.creds, &dir_attr, &attr)?;
    if is_dir {
        return Err(Errno::EISDIR);
    }
    if is_mountpoint(task, &p.dir, &child) {
        return Err(Errno::EBUSY);
    }
    p.dir.inode().unlink(&name)?;
    p.dir.dentry.forget(&name);
    inotify::removed(task, &p.dir, &name, &child, &attr);
    Ok(())
}

/// rmdir(2) / unlinkat(AT_REMOVEDIR).
pub fn rmdir(task: &Task, dirfd: i32, path: &[u8]) -> Result<(), Errno> {
    let p = walk::resolve_last(task, dirfd, path)?;
    let name = match p.last {
        Last::Name(n) => n,
        Last::DotDot => return Err(Errno::ENOTEMPTY),
        Last::Dot => return Err(Errno::EINVAL),
        Last::Root => return Err(Errno::EBUSY),
    };
    p.dir.mount.check_writable()?;
    let child = p.dir.dentry.child(task, &name)?;
    let attr = child.inode.attr()?;
    let dir_attr = p.dir.inode().attr()?;
    perm::may_delete(&task.creds, &dir_attr, &attr)?;
    if attr.file_type() != Some(FileType::Directory) {
        return Err(Errno::ENOTDIR);
    }
    if is_mountpoint(task, &p.dir, &child) || is_root_of_task(task, &p.dir, &child) {
        return Err(Errno::EBUSY);
    }
    p.dir.inode().rmdir(&name)?;
    p.dir.dentry.forget(&name);
    inotify::removed(task, &p.dir, &name, &child, &attr);
    Ok(())
}

fn is_mountpoint(task: &Task, dir: &Location, child: &Arc<Dentry>) -> bool {
    task.kernel.mounts.is_mountpoint(&Location {
        mount: dir.mount.clone(),
        dentry: child.clone(),
    })
}

fn is_root_of_task(task: &Task, dir: &Location, child: &Arc<Dentry>) -> bool {
    let root = task.fs.lock().root.clone();
    Arc::ptr_eq(&root.mount, &dir.mount) && Arc::ptr_eq(&root.dentry, child)
}

/// True if `anc` is `d` or one of its ancestors (within a filesystem).
fn is_ancestor(anc: &Arc<Dentry>, d: &Arc<Dentry>) -> bool {
    let mut cur = d.clone();
    loop {
        if Arc::ptr_eq(&cur, anc) {
            return true;
        }
        match cur.parent() {
            Some(p) => cur = p,
            None => return false,
        }
    }
}

/// renameat2(2). `flags` are RENAME_NOREPLACE / RENAME_EXCHANGE, checked
/// by the caller.
pub fn renameat2(
    task: &Task,
    olddirfd: i32,
    oldpath: &[u8],
    newdirfd: i32,
    newpath: &[u8],
    flags: u32,
) -> Result<(), Errno> {
    let exchange = flags & RENAME_EXCHANGE != 0;
    let op = walk::resolve_last(task, olddirfd, oldpath)?;
    let np = walk::resolve_last(task, newdirfd, newpath)?;
    if !Arc::ptr_eq(&op.dir.mount, &np.dir.mount) {
        return Err(Errno::EXDEV);
    }
    let Last::Name(oname) = &op.last else {
        return Err(Errno::EBUSY);
    };
    let Last::Name(nname) = &np.last else {
        return Err(if flags & RENAME_NOREPLACE != 0 {
            Errno::EEXIST
        } else {
            Errno::EBUSY
        });
    };
    op.dir.mount.check_writable()?;
    let old = op.dir.dentry.child(task, oname)?;
    let new = match np.dir.dentry.child(task, nname) {
        Ok(d) => Some(d),
        Err(Errno::ENOENT) => None,
        Err(e) => return Err(e),
    };
    if flags & RENAME_NOREPLACE != 0 && new.is_some() {
        return Err(Errno::EEXIST);
    }
    let oattr = old.inode.attr()?;
    let nattr = match &new {
        Some(n) => Some(n.inode.attr()?),
        None => None,
    };
    let old_dir = oattr.file_type() == Some(FileType::Directory);
    let new_dir = nattr.is_some_and(|a| a.file_type() == Some(FileType::Directory));
    if exchange {
        if new.is_none() {
            return Err(Errno::ENOENT);
        }
        if !new_dir && np.trailing {
            return Err(Errno::ENOTDIR);
        }
    }
    if !old_dir && (op.trailing || (!exchange && np.trailing)) {
        return Err(Errno::ENOTDIR);
    }
    // A directory cannot move into itself, nor replace an ancestor of its
    // source.
    if is_ancestor(&old, &np.dir.dentry) {
        return Err(Errno::EINVAL);
    }
    if let Some(n) = &new {
        if is_ancestor(n, &op.dir.dentry) {
            return Err(if exchange {
                Errno::EINVAL
            } else {
                Errno::ENOTEMPTY
            });
        }
    }
    // Two names of one inode: nothing to do.
    if let Some(na) = &nattr {
        if na.dev == oattr.dev && na.ino == oattr.ino {
            return Ok(());
        }
    }
    let odattr = op.dir.inode().attr()?;
    let ndattr = np.dir.inode().attr()?;
    perm::may_delete(&task.creds, &odattr, &oattr)?;
    match &nattr {
        None => perm::may_create(&task.creds, &ndattr)?,
        Some(na) => {
            perm::may_delete(&task.creds, &ndattr, na)?;
            if !exchange {
                if old_dir && !new_dir {
                    return Err(Errno::ENOTDIR);
                }
                if !old_dir && new_dir {
                    return Err(Errno::EISDIR);
                }
            }
        }
    }
    if !Arc::ptr_eq(&op.dir.dentry, &np.dir.dentry) {
        // Moving a directory rewrites its `..`.
        if old_dir {
            perm::check(&task.creds, &oattr, W_OK)?;
        }
        if let (true, Some(na)) = (exchange && new_dir, &nattr) {
            perm::check(&task.creds, na, W_OK)?;
        }
    }
    if is_mountpoint(task, &op.dir, &old)
        || new
            .as_ref()
            .is_some_and(|n| is_mountpoint(task, &np.dir, n))
    {
        return Err(Errno::EBUSY);
    }
    op.dir.inode().rename(oname, np.dir.inode(), nname, flags)?;
    if flags & RENAME_WHITEOUT != 0 {
        // The whiteout (a 0:0 character device) takes the old name. Linux
        // makes it within the rename; here it follows at once, and a
        // failure leaves the file moved without it.
        let _ = op
            .dir
            .inode()
            .mknod(oname, FileType::CharDevice, 0, 0, new_owner(task, &odattr));
    }
    // Keep the dentry cache in step with the tree.
    op.dir.dentry.forget(oname);
    np.dir.dentry.forget(nname);
    old.relink(nname, &np.dir.dentry);
    if np.dir.inode().cacheable() {
        np.dir.dentry.remember(nname, old.clone());
    }
    if exchange {
        if let Some(n) = new.clone() {
            n.relink(oname, &op.dir.dentry);
            if op.dir.inode().cacheable() {
                op.dir.dentry.remember(oname, n);
            }
        }
    }
    let other = new.as_ref().zip(nattr.as_ref());
    inotify::renamed(
        task,
        (&op.dir, oname),
        (&np.dir, nname),
        &oattr,
        other,
        exchange,
    );
    Ok(())
}

/// readlinkat(2): the target text. An empty path names `dirfd` itself
/// (`ENOENT` if that is not a symlink); any other non-symlink is `EINVAL`.
pub fn readlinkat(task: &Task, dirfd: i32, path: &[u8]) -> Result<Vec<u8>, Errno> {
    let loc = walk::resolve(
        task,
        dirfd,
        path,
        WalkFlags {
            follow: false,
            empty_ok: true,
        },
    )?;
    let attr = loc.inode().attr()?;
    if attr.file_type() != Some(FileType::Symlink) {
        return Err(if path.is_empty() {
            Errno::ENOENT
        } else {
            Errno::EINVAL
        });
    }
    loc.inode().readlink(task)
}

/// faccessat2(2): `mode` a mask of R_OK / W_OK / X_OK (checked by the
/// caller); the real ids are used unless AT_EACCESS.
pub fn faccessat(task: &Task, dirfd: i32, path: &[u8], mode: u32, flags: u32) -> Result<(), Errno> {
    let loc = walk::resolve(
        task,
        dirfd,
        path,
        WalkFlags {
            follow: flags & AT_SYMLINK_NOFOLLOW == 0,
            empty_ok: flags & AT_EMPTY_PATH != 0,
        },
    )?;
    if mode == F_OK {
        return Ok(());
    }
    let attr = loc.inode().attr()?;
    let creds = if flags & AT_EACCESS != 0 {
        task.creds.clone()
    } else {
        Credentials {
            fsuid: task.creds.uid,
            fsgid: task.creds.gid,
            ..task.creds.clone()
        }
    };
    perm::check(&creds, &attr, mode)?;
    if mode & W_OK != 0
        && matches!(
            attr.file_type(),
            Some(FileType::Regular) | Some(FileType::Directory) | Some(FileType::Symlink)
        )
    {
        loc.mount.check_writable()?;
    }
    Ok(())
}

/// chmod on a resolved location: `EROFS`, then owner or root (`EPERM`).
pub fn chmod_location(task: &Task, loc: &Location, mode: u32) -> Result<(), Errno> {
    loc.mount.check_writable()?;
    let attr = loc.inode().attr()?;
    if !perm::owner_or_root(&task.creds, &attr) {
        return Err(Errno::EPERM);
    }
    let now = task.kernel.clock.realtime();
    inotify::set_attr(
        task,
        loc,
        &SetAttr {
            mode: Some(perm::chmod_bits(&task.creds, &attr, mode)),
            ctime: Some(now),
            ..Default::default()
        },
    )
}

/// chown on a resolved location; `None` leaves an id alone.
pub fn chown_location(
    task: &Task,
    loc: &Location,
    uid: Option<u32>,
    gid: Option<u32>,
) -> Result<(), Errno> {
    loc.mount.check_writable()?;
    let attr = loc.inode().attr()?;
    perm::may_chown(&task.creds, &attr, uid, gid)?;
    let changes = uid.is_some_and(|u| u != attr.uid) || gid.is_some_and(|g| g != attr.gid);
    let now = task.kernel.clock.realtime();
    inotify::set_attr(
        task,
        loc,
        &SetAttr {
            uid,
            gid,
            mode: if changes || task.creds.fsuid != 0 {
                perm::chown_clears(&attr)
            } else {
                None
            },
            ctime: Some(now),
            ..Default::default()
        },
    )
}

/// truncate(2) on a resolved location (`length` already checked).
pub fn truncate_location(task: &Task, loc: &Location, length: u64) -> Result<(), Errno> {
    let attr = loc.inode().attr()?;
    match attr.file_type() {
        Some(FileType::Directory) => return Err(Errno::EISDIR),
        Some(FileType::Regular) => {}
        _ => return Err(Errno::EINVAL),
    }
    loc.mount.check_writable()?;
    perm::check(&task.creds, &attr, W_OK)?;
    let now = task.kernel.clock.realtime();
    inotify::set_attr(
        task,
        loc,
        &SetAttr {
            size: Some(length),
            mtime: Some(now),
            ctime: Some(now),
            ..Default::default()
        },
    )
}

/// One of the two times utimensat sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeArg {
    /// UTIME_NOW.
    Now,
    /// UTIME_OMIT.
    Omit,
    /// An explicit time.
    Set(Timespec),
}

/// utimensat on a resolved location: explicit times need ownership
/// (`EPERM`), "now" needs ownership or write permission (`EACCES`).
pub fn utimes_location(
    task: &Task,
    loc: &Location,
    atime: TimeArg,
    mtime: TimeArg,
) -> Result<(), Errno> {
    loc.mount.check_writable()?;
    let attr = loc.inode().attr()?;
    let explicit = matches!(atime, TimeArg::Set(_)) || matches!(mtime, TimeArg::Set(_));
    if !perm::owner_or_root(&task.creds, &attr) {
        if explicit {
            return Err(Errno::EPERM);
        }
        perm::check(&task.creds, &attr, W_OK)?;
    }
    let now = task.kernel.clock.realtime();
    let pick = |t: TimeArg| match t {
        TimeArg::Now => Some(now),
        TimeArg::Omit => None,
        TimeArg::Set(ts) => Some(ts),
    };
    inotify::set_attr(
        task,
        loc,
        &SetAttr {
            atime: pick(atime),
            mtime: pick(mtime),
            ctime: Some(now),
            ..Default::default()
        },
    )
}
