//! Mounting and the filesystem root: mount, umount2, chroot, pivot_root,
//! and unshare.
//!
//! mount(2) follows Linux's path_mount: the strings are copied first
//! (`EFAULT`; a type or source of PATH_MAX bytes or more is `EINVAL`; the
//! option string is at most a page, cut at a fault), then the target is
//! walked (`ENOENT`, `ENOTDIR`, ...), then `MS_NOUSER` is `EINVAL` and a
//! caller without CAP_SYS_ADMIN gets `EPERM`. The flags then choose, in
//! Linux's order: MS_REMOUNT|MS_BIND (per-mount flags only), MS_REMOUNT
//! (superblock flags and filesystem options, then the mount's flags),
//! MS_BIND (MS_REC for the subtree), a propagation change (exactly one of
//! MS_SHARED, MS_PRIVATE, MS_SLAVE, MS_UNBINDABLE, with MS_REC), MS_MOVE,
//! or a new mount of a filesystem type (`ENODEV` for a type the sandbox
//! does not have). Each checks what Linux checks: the target in the
//! caller's namespace, a mount root where one is needed (`EINVAL`), a
//! directory on a directory and a file on a file (`ENOTDIR`), the same
//! single-instance filesystem twice on one place (`EBUSY`). MS_MANDLOCK
//! (and `mand`) is recorded and shown and has no effect, as in Linux since
//! 5.15.
//!
//! umount2 takes MNT_FORCE, MNT_DETACH, MNT_EXPIRE and UMOUNT_NOFOLLOW
//! (others `EINVAL`); a mount that is in use (open files, working or root
//! directories, mounts on it) is `EBUSY` unless detached; a locked mount
//! (the sandbox's root) is `EINVAL`; unmounting one's own root without
//! MNT_DETACH makes it read-only instead, as Linux does. MNT_EXPIRE's mark
//! stays until the mount goes (Linux also clears it when the mount is
//! used in between).
//!
//! chroot needs CAP_SYS_CHROOT (checked after the walk and the search
//! permission, as in Linux). pivot_root makes every check Linux makes and
//! moves the root and working directory of every process that had them at
//! the old root. unshare serves CLONE_FILES, CLONE_FS, CLONE_NEWNS (a copy
//! of the caller's mount namespace, see [`crate::vfs::mount`]),
//! CLONE_NEWUTS (see [`super::admin`]), CLONE_NEWIPC (a new, empty IPC
//! namespace, see [`crate::ipc`]) and CLONE_SYSVSEM; the thread, signal-handler and memory flags succeed in a
//! single-threaded process (`EINVAL` otherwise, as Linux); other namespace
//! kinds answer `EINVAL` as a kernel built without them does (`EPERM`
//! first without CAP_SYS_ADMIN). setns joins the mount, UTS and IPC
//! namespaces of a namespace file or a pidfd (see `sys_setns`).

use alloc::sync::Arc;
use alloc::vec::Vec;

use veil_abi::flags::{AT_FDCWD, CAP_SYS_ADMIN, PATH_MAX, X_OK};
use veil_abi::mount::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, PAGE_SIZE};

use super::pidfd::PidFd;
use super::Handler;
use crate::task::Task;
use crate::vfs::mount::{
    is_subdir, mnt, parse_options, take_sb_options, Mount, MountNamespace, SB_FLAGS,
};
use crate::vfs::nsfs::{Namespace, NsFile, NsKind};
use crate::vfs::walk::{self, WalkFlags};
use crate::vfs::{FileType, FsContext, Location};
use crate::{SysResult, UserAddr};

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        MOUNT => sys_mount,
        UMOUNT2 => sys_umount2,
        CHROOT => sys_chroot,
        PIVOT_ROOT => sys_pivot_root,
        UNSHARE => sys_unshare,
        SETNS => sys_setns,
        _ => return None,
    })
}

const FOLLOW: WalkFlags = WalkFlags {
    follow: true,
    empty_ok: false,
};

/// mount(2)'s type and source strings (Linux's strndup_user): `None` for
/// NULL, `EINVAL` for PATH_MAX bytes or more.
fn mount_string(t: &Task, addr: u64) -> Result<Option<Vec<u8>>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    match t.mm.read_cstring(UserAddr(addr), PATH_MAX) {
        Ok(s) => Ok(Some(s)),
        Err(Errno::ENAMETOOLONG) => Err(Errno::EINVAL),
        Err(e) => Err(e),
    }
}

/// mount(2)'s option string (Linux's copy_mount_options): up to a page,
/// cut where memory stops being readable (`EFAULT` if none is), then at
/// the first NUL.
fn mount_data(t: &Task, addr: u64) -> Result<Option<Vec<u8>>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let mut out = Vec::new();
    let mut at = addr;
    while out.len() < PAGE_SIZE as usize {
        let to_page_end = (PAGE_SIZE - at % PAGE_SIZE) as usize;
        let n = to_page_end.min(PAGE_SIZE as usize - out.len());
        let mut chunk = alloc::vec![0u8; n];
        if t.mm.copy_in(UserAddr(at), &mut chunk).is_err() {
            break;
        }
        out.extend_from_slice(&chunk);
        match at.checked_add(n as u64) {
            Some(next) => at = next,
            None => break,
        }
    }
    if out.is_empty() {
        return Err(Errno::EFAULT);
    }
    // The kernel terminates the page: at most PAGE_SIZE - 1 bytes count.
    out.truncate(PAGE_SIZE as usize - 1);
    if let Some(i) = out.iter().position(|&c| c == 0) {
        out.truncate(i);
    }
    Ok(Some(out))
}

/// Whether the tree at `src` may be copied by a bind mount or open_tree
/// (Linux's checks before copy_tree): `EINVAL` if it is unbindable or in
/// another namespace, or, for a non-recursive copy, if a locked mount
/// below it would be uncovered.
pub(crate) fn may_clone(
    ns: &Arc<MountNamespace>,
    src: &Location,
    recursive: bool,
) -> Result<(), Errno> {
    if src.mount.propagation().unbindable || !src.mount.in_namespace(ns) {
        return Err(Errno::EINVAL);
    }
    if !recursive
        && ns.children_of(&src.mount).iter().any(|c| {
            c.locked()
                && c.parent()
                    .is_some_and(|p| is_subdir(&p.dentry, &src.dentry))
        })
    {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

fn is_dir(loc: &Location) -> Result<bool, Errno> {
    Ok(loc.inode().attr()?.file_type() == Some(FileType::Directory))
}

/// The caller's mount namespace.
fn namespace(t: &Task) -> Arc<MountNamespace> {
    t.tg.mount_namespace(&t.kernel)
}

/// True if `loc` is the root of its mount (Linux's path_mounted).
fn mounted(loc: &Location) -> bool {
    Arc::ptr_eq(&loc.dentry, &loc.mount.root)
}

/// The top of the mount stack at `loc` (Linux's lock_mount).
fn top(t: &Task, loc: Location) -> Location {
    walk::cross_mounts(t, loc)
}

fn sys_mount(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let fstype = mount_string(t, a[2])?;
    let dev = mount_string(t, a[0])?;
    let data = mount_data(t, a[4])?;
    let mut flags = a[3];
    let path = t.read_path(a[1])?;
    let target = walk::resolve(t, AT_FDCWD, &path, FOLLOW)?;
    if flags & MS_MGC_MSK == MS_MGC_VAL {
        flags &= !MS_MGC_MSK;
    }
    if flags & MS_NOUSER != 0 {
        return Err(Errno::EINVAL);
    }
    if !t.creds.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let mut mnt_flags = 0;
    if flags & MS_NOATIME == 0 {
        mnt_flags |= mnt::RELATIME;
    }
    for (ms, m) in [
        (MS_NOSUID, mnt::NOSUID),
        (MS_NODEV, mnt::NODEV),
        (MS_NOEXEC, mnt::NOEXEC),
        (MS_NOATIME, mnt::NOATIME),
        (MS_NODIRATIME, mnt::NODIRATIME),
        (MS_RDONLY, mnt::READONLY),
        (MS_NOSYMFOLLOW, mnt::NOSYMFOLLOW),
    ] {
        if flags & ms != 0 {
            mnt_flags |= m;
        }
    }
    if flags & MS_STRICTATIME != 0 {
        mnt_flags &= !(mnt::RELATIME | mnt::NOATIME);
    }
    // A remount keeps the atime policy unless it names one.
    if flags & MS_REMOUNT != 0
        && flags & (MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME) == 0
    {
        mnt_flags = (mnt_flags & !mnt::ATIME_MASK) | (target.mount.flags() & mnt::ATIME_MASK);
    }
    let sb_flags = flags & SB_FLAGS;
    let data = data.unwrap_or_default();
    if flags & (MS_REMOUNT | MS_BIND) == MS_REMOUNT | MS_BIND {
        return reconfigure_mount(t, &target, mnt_flags);
    }
    if flags & MS_REMOUNT != 0 {
        return remount(t, &target, sb_flags, mnt_flags, &data);
    }
    if flags & MS_BIND != 0 {
        return bind(t, target, dev.as_deref(), flags & MS_REC != 0);
    }
    if flags & (MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE) != 0 {
        return change_type(t, &target, flags);
    }
    if flags & MS_MOVE != 0 {
        return move_mount(t, target, dev.as_deref());
    }
    new_mount(
        t,
        target,
        fstype.as_deref(),
        sb_flags,
        mnt_flags,
        dev,
        &data,
    )
}

/// MS_REMOUNT|MS_BIND: the mount's own flags, not the filesystem's.
fn reconfigure_mount(t: &Task, target: &Location, mnt_flags: u32) -> SysResult {
    if !target.mount.in_namespace(&namespace(t)) || !mounted(target) {
        return Err(Errno::EINVAL);
    }
    target.mount.set_flags(mnt_flags);
    Ok(0)
}

/// MS_REMOUNT: the filesystem's flags and options, then the mount's flags.
fn remount(t: &Task, target: &Location, sb_flags: u64, mnt_flags: u32, data: &[u8]) -> SysResult {
    if !target.mount.in_namespace(&namespace(t)) || !mounted(target) {
        return Err(Errno::EINVAL);
    }
    let sb = target.mount.sb();
    // Only these superblock flags change on remount (Linux's MS_RMT_MASK).
    let rmt = MS_RDONLY | MS_SYNCHRONOUS | MS_MANDLOCK | MS_LAZYTIME;
    let mut requested = sb_flags;
    let mut opts = parse_options(data);
    take_sb_options(&mut opts, &mut requested);
    match sb.filesystem() {
        Some(fs) => fs.reconfigure(&opts)?,
        None if opts.is_empty() => {}
        None => return Err(Errno::EINVAL),
    }
    sb.set_flags((sb.flags() & !rmt) | (requested & rmt));
    target.mount.set_flags(mnt_flags);
    Ok(0)
}

/// MS_BIND: `dev` names what to show at the target.
fn bind(t: &Task, target: Location, dev: Option<&[u8]>, recursive: bool) -> SysResult {
    let name = match dev {
        Some(d) if !d.is_empty() => d,
        _ => return Err(Errno::EINVAL),
    };
    let src = walk::resolve(t, AT_FDCWD, name, FOLLOW)?;
    let at = top(t, target);
    let ns = namespace(t);
    if !at.mount.in_namespace(&ns) {
        return Err(Errno::EINVAL);
    }
    may_clone(&ns, &src, recursive)?;
    if is_dir(&at)? != is_dir(&src)? {
        return Err(Errno::ENOTDIR);
    }
    ns.bind(&src, &at, recursive);
    Ok(0)
}

/// A propagation change: exactly one type, optionally with MS_REC.
fn change_type(t: &Task, target: &Location, flags: u64) -> SysResult {
    if !mounted(target) {
        return Err(Errno::EINVAL);
    }
    let kind = flags & !(MS_REC | MS_SILENT);
    if kind & !(MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE) != 0 || !kind.is_power_of_two() {
        return Err(Errno::EINVAL);
    }
    let ns = namespace(t);
    if !target.mount.in_namespace(&ns) {
        return Err(Errno::EINVAL);
    }
    ns.set_propagation(&target.mount, kind, flags & MS_REC != 0);
    Ok(0)
}

/// MS_MOVE: `dev` names the mount to move.
fn move_mount(t: &Task, target: Location, dev: Option<&[u8]>) -> SysResult {
    let name = match dev {
        Some(d) if !d.is_empty() => d,
        _ => return Err(Errno::EINVAL),
    };
    let old = walk::resolve(t, AT_FDCWD, name, FOLLOW)?;
    let at = top(t, target);
    let ns = namespace(t);
    if !at.mount.in_namespace(&ns) {
        return Err(Errno::EINVAL);
    }
    if old.mount.parent().is_none() || !old.mount.in_namespace(&ns) {
        return Err(Errno::EINVAL);
    }
    if old.mount.locked() || !mounted(&old) {
        return Err(Errno::EINVAL);
    }
    if is_dir(&at)? != is_dir(&old)? {
        return Err(Errno::EINVAL);
    }
    ns.move_mount(&old.mount, &at)?;
    Ok(0)
}

/// A new mount of filesystem type `fstype`.
fn new_mount(
    t: &Task,
    target: Location,
    fstype: Option<&[u8]>,
    mut sb_flags: u64,
    mnt_flags: u32,
    dev: Option<Vec<u8>>,
    data: &[u8],
) -> SysResult {
    let fstype = fstype.ok_or(Errno::EINVAL)?;
    let ns = namespace(t);
    let types = ns.filesystems().cloned().ok_or(Errno::ENODEV)?;
    let mut opts = parse_options(data);
    take_sb_options(&mut opts, &mut sb_flags);
    let source = dev.as_deref().unwrap_or(b"none");
    let fs = types.make(t, fstype, source, &opts)?;
    let at = top(t, target);
    if !at.mount.in_namespace(&ns) {
        return Err(Errno::EINVAL);
    }
    // The same single-instance filesystem twice on one place.
    let new_root = fs.root();
    let same_sb = Arc::as_ptr(&at.mount.sb().root().inode) as *const ()
        == Arc::as_ptr(&new_root) as *const ();
    if same_sb && mounted(&at) {
        return Err(Errno::EBUSY);
    }
    let root_dir = new_root.attr()?.file_type() == Some(FileType::Directory);
    if is_dir(&at)? != root_dir {
        return Err(Errno::ENOTDIR);
    }
    let name = alloc::string::String::from_utf8_lossy(fstype).into_owned();
    let source = alloc::string::String::from_utf8_lossy(source).into_owned();
    let m = ns.mount_fs(&at, fs, &name, &source, sb_flags, mnt_flags);
    m.sb().report_unmount_to(&t.kernel.inotify);
    Ok(0)
}

fn sys_umount2(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let flags = super::arg::uint(a[1]);
    if flags & !(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW) != 0 {
        return Err(Errno::EINVAL);
    }
    let path = t.read_path(a[0])?;
    let wf = WalkFlags {
        follow: flags & UMOUNT_NOFOLLOW == 0,
        empty_ok: false,
    };
    // LOOKUP_MOUNTPOINT: the top of the stack, even at `.` or `/`.
    let loc = top(t, walk::resolve(t, AT_FDCWD, &path, wf)?);
    if !t.creds.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let ns = namespace(t);
    if !mounted(&loc) || !loc.mount.in_namespace(&ns) || loc.mount.locked() {
        return Err(Errno::EINVAL);
    }
    let m = loc.mount.clone();
    drop(loc);
    let own_root = Arc::ptr_eq(&t.fs.lock().root.mount, &m);
    if flags & MNT_EXPIRE != 0 {
        if own_root || flags & (MNT_FORCE | MNT_DETACH) != 0 {
            return Err(Errno::EINVAL);
        }
        // Ours, the namespace's: nothing else may hold it.
        if m.has_children() || Arc::strong_count(&m) > 2 {
            return Err(Errno::EBUSY);
        }
        if !m.mark_expired() {
            return Err(Errno::EAGAIN);
        }
    }
    if own_root && flags & MNT_DETACH == 0 {
        // Linux's special case: "unmounting" one's root makes it read-only.
        let sb = m.sb();
        sb.set_flags(sb.flags() | MS_RDONLY);
        return Ok(0);
    }
    let gone = ns.umount(&m, flags & MNT_DETACH != 0, 1)?;
    // A filesystem whose last mount this was is gone once they are let
    // go of (or, for a detached one still in use, later): IN_UNMOUNT.
    for g in &gone {
        g.sb().report_unmount_to(&t.kernel.inotify);
    }
    drop(gone);
    Ok(0)
}

fn sys_chroot(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let path = t.read_path(a[0])?;
    let loc = walk::resolve(t, AT_FDCWD, &path, FOLLOW)?;
    let attr = loc.inode().attr()?;
    if attr.file_type() != Some(FileType::Directory) {
        return Err(Errno::ENOTDIR);
    }
    crate::vfs::perm::check(&t.creds, &attr, X_OK)?;
    if !t.creds.capable(CAP_SYS_CHROOT) {
        return Err(Errno::EPERM);
    }
    t.fs.lock().root = loc;
    Ok(0)
}

/// A directory named by a user path (LOOKUP_DIRECTORY: `ENOTDIR` for
/// anything else).
fn dir_at(t: &Task, addr: u64) -> Result<Location, Errno> {
    let path = t.read_path(addr)?;
    let loc = walk::resolve(t, AT_FDCWD, &path, FOLLOW)?;
    if !is_dir(&loc)? {
        return Err(Errno::ENOTDIR);
    }
    Ok(loc)
}

/// True if (`mnt`, `dentry`) is at or below `root` (Linux's
/// is_path_reachable).
fn reachable(mnt: &Arc<Mount>, dentry: &Arc<crate::vfs::Dentry>, root: &Location) -> bool {
    let (mut m, mut d) = (mnt.clone(), dentry.clone());
    while !Arc::ptr_eq(&m, &root.mount) {
        match m.parent() {
            Some(p) => {
                d = p.dentry;
                m = p.mount;
            }
            None => break,
        }
    }
    Arc::ptr_eq(&m, &root.mount) && is_subdir(&d, &root.dentry)
}

fn shared(m: &Arc<Mount>) -> bool {
    m.propagation().group != 0
}

fn sys_pivot_root(t: &mut Task, a: &[u64; 6]) -> SysResult {
    if !t.creds.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let new = dir_at(t, a[0])?;
    let old = top(t, dir_at(t, a[1])?);
    let root = t.fs.lock().root.clone();
    let ns = namespace(t);
    let (new_mnt, root_mnt, old_mnt) = (&new.mount, &root.mount, &old.mount);
    let ex_parent = new_mnt.parent().map(|p| p.mount);
    let root_parent = root_mnt.parent().map(|p| p.mount);
    if shared(old_mnt)
        || ex_parent.as_ref().is_some_and(shared)
        || root_parent.as_ref().is_some_and(shared)
    {
        return Err(Errno::EINVAL);
    }
    // (Linux refuses a locked new root here; the only locked mount, the
    // sandbox's root, can only be the new root when it is the root
    // already, which is EBUSY below, as on a host.)
    if !root_mnt.in_namespace(&ns) || !new_mnt.in_namespace(&ns) {
        return Err(Errno::EINVAL);
    }
    if Arc::ptr_eq(new_mnt, root_mnt) || Arc::ptr_eq(old_mnt, root_mnt) {
        return Err(Errno::EBUSY);
    }
    if !mounted(&root) || root_parent.is_none() || !mounted(&new) || ex_parent.is_none() {
        return Err(Errno::EINVAL);
    }
    if !reachable(old_mnt, &old.dentry, &new) || !reachable(new_mnt, &new.dentry, &root) {
        return Err(Errno::EINVAL);
    }
    ns.pivot(root_mnt, new_mnt, &old);
    // Every process whose root or working directory was the old root
    // moves to the new one (Linux's chroot_fs_refs).
    let moved = |fs: &mut FsContext| {
        if fs.root.same(&root) {
            fs.root = new.clone();
        }
        if fs.cwd.same(&root) {
            fs.cwd = new.clone();
        }
    };
    moved(&mut t.fs.lock());
    for tg in t.kernel.processes() {
        let fs = tg.view.lock().fs.upgrade();
        if let Some(fs) = fs {
            if !Arc::ptr_eq(&fs, &t.fs) {
                moved(&mut fs.lock());
            }
        }
    }
    Ok(0)
}

fn sys_unshare(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let mut f = a[0];
    if f & CLONE_NEWUSER != 0 {
        f |= CLONE_THREAD | CLONE_FS;
    }
    if f & CLONE_VM != 0 {
        f |= CLONE_SIGHAND;
    }
    if f & CLONE_SIGHAND != 0 {
        f |= CLONE_THREAD;
    }
    if f & CLONE_NEWNS != 0 {
        f |= CLONE_FS;
    }
    let known = CLONE_THREAD
        | CLONE_FS
        | CLONE_NEWNS
        | CLONE_SIGHAND
        | CLONE_VM
        | CLONE_FILES
        | CLONE_SYSVSEM
        | CLONE_NEWUTS
        | CLONE_NEWIPC
        | CLONE_NEWNET
        | CLONE_NEWUSER
        | CLONE_NEWPID
        | CLONE_NEWCGROUP
        | CLONE_NEWTIME;
    if f & !known != 0 {
        return Err(Errno::EINVAL);
    }
    if f & (CLONE_THREAD | CLONE_SIGHAND | CLONE_VM) != 0
        && t.tg
            .live_threads
            .load(core::sync::atomic::Ordering::Acquire)
            > 1
    {
        return Err(Errno::EINVAL);
    }
    if f & CLONE_NEWUSER != 0 {
        t.kernel
            .note_unsupported("unshare: user namespaces (EINVAL)");
        return Err(Errno::EINVAL);
    }
    let other_ns = CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWCGROUP | CLONE_NEWTIME;
    if f & (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | other_ns) != 0 {
        if !t.creds.capable(CAP_SYS_ADMIN) {
            return Err(Errno::EPERM);
        }
        if f & other_ns != 0 {
            t.kernel
                .note_unsupported("unshare: namespaces other than mount (EINVAL)");
            return Err(Errno::EINVAL);
        }
    }
    if f & CLONE_FS != 0 && Arc::strong_count(&t.fs) > 1 {
        let copy = {
            let cur = t.fs.lock();
            FsContext {
                root: cur.root.clone(),
                cwd: cur.cwd.clone(),
                umask: cur.umask,
            }
        };
        t.fs = Arc::new(spin::Mutex::new(copy));
    }
    if f & CLONE_FILES != 0 && Arc::strong_count(&t.fds) > 1 {
        t.fds = Arc::new(t.fds.fork());
    }
    if f & CLONE_NEWNS != 0 {
        let ns = namespace(t);
        let copy = ns.copy(&mut t.fs.lock());
        *t.tg.mnt_ns.lock() = Some(copy);
    }
    if f & CLONE_NEWUTS != 0 {
        super::admin::unshare_uts(t);
    }
    if f & CLONE_NEWIPC != 0 {
        crate::ipc::unshare(t);
    } else if f & CLONE_SYSVSEM != 0 {
        crate::ipc::unshare_sysvsem(t);
    }
    Ok(0)
}

/// Every namespace flag setns takes with a pidfd, in the order Linux
/// joins them (validate_nsset).
const SETNS_ORDER: [NsKind; 8] = [
    NsKind::User,
    NsKind::Mnt,
    NsKind::Uts,
    NsKind::Ipc,
    NsKind::Pid,
    NsKind::Cgroup,
    NsKind::Net,
    NsKind::Time,
];

/// setns(fd, nstype): `fd` is a namespace file (`nstype` 0 or its kind)
/// or a pidfd (`nstype` a non-empty set of CLONE_NEW* flags, joined all
/// or none). Errors as Linux: `EBADF` (also for an O_PATH descriptor),
/// `EINVAL` for another kind of file or a wrong `nstype`, `ESRCH` for a
/// pidfd whose process has exited, `EPERM` without ptrace access to it
/// or without CAP_SYS_ADMIN (and CAP_SYS_CHROOT for a mount namespace).
/// Joining a mount namespace moves the root and working directory to its
/// root; it is `EINVAL` while the fs context is shared, and, since veil
/// keeps the mount namespace per process rather than per thread, from a
/// process with other threads even with a pidfd and several flags
/// (where Linux lets the calling thread go). For the kinds veil does not
/// separate the target is always the caller's own: joining it succeeds
/// as Linux's does (`EUSERS` for a time namespace from a threaded
/// process), except the user namespace, which Linux refuses to re-enter
/// (`EINVAL`).
fn sys_setns(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let fd = super::arg::fd(a[0]);
    let nstype = u64::from(super::arg::uint(a[1]));
    let file = t.fds.file(fd)?;
    if file.is_path() {
        return Err(Errno::EBADF);
    }
    let ops = file.ops.as_any();
    let targets: Vec<Namespace> = if let Some(nsf) = ops.downcast_ref::<NsFile>() {
        let ns = nsf.namespace().clone();
        if nstype != 0 && nstype != ns.kind().clone_flag() {
            return Err(Errno::EINVAL);
        }
        alloc::vec![ns]
    } else if let Some(pidfd) = ops.downcast_ref::<PidFd>() {
        let all = SETNS_ORDER.iter().fold(0, |f, k| f | k.clone_flag());
        if nstype == 0 || nstype & !all != 0 {
            return Err(Errno::EINVAL);
        }
        let tg = pidfd.live().cloned().ok_or(Errno::ESRCH)?;
        if !super::admin::ptrace_may_access(t, &tg) {
            return Err(Errno::EPERM);
        }
        if tg.dead.load(core::sync::atomic::Ordering::Acquire) {
            return Err(Errno::ESRCH);
        }
        SETNS_ORDER
            .iter()
            .filter(|k| nstype & k.clone_flag() != 0)
            .map(|&k| Namespace::of(&t.kernel, &tg, k))
            .collect()
    } else {
        return Err(Errno::EINVAL);
    };
    for ns in &targets {
        may_join(t, ns)?;
    }
    for ns in targets {
        match ns {
            Namespace::Mount(ns) => {
                let root = ns.root();
                {
                    let mut fs = t.fs.lock();
                    fs.root = root.clone();
                    fs.cwd = root;
                }
                *t.tg.mnt_ns.lock() = Some(ns);
            }
            Namespace::Uts(ns) => *t.tg.uts_ns.lock() = Some(ns),
            Namespace::Ipc(ns) => crate::ipc::join(t, ns),
            Namespace::Single(_) => {}
        }
    }
    Ok(0)
}

/// Whether the caller may join `ns` (each kind's `install` check).
fn may_join(t: &Task, ns: &Namespace) -> Result<(), Errno> {
    let threaded =
        t.tg.live_threads
            .load(core::sync::atomic::Ordering::Acquire)
            > 1;
    match ns.kind() {
        // The caller's own, which Linux refuses to re-enter.
        NsKind::User => return Err(Errno::EINVAL),
        NsKind::Time if threaded => return Err(Errno::EUSERS),
        _ => {}
    }
    if !t.creds.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    if ns.kind() == NsKind::Mnt {
        if !t.creds.capable(CAP_SYS_CHROOT) {
            return Err(Errno::EPERM);
        }
        if threaded || Arc::strong_count(&t.fs) > 1 {
            return Err(Errno::EINVAL);
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use alloc::string::String;
    use alloc::sync::Arc;
    use alloc::vec::Vec;

    use veil_abi::flags::{AT_FDCWD, MAP_ANONYMOUS, MAP_PRIVATE};
    use veil_abi::mount::*;
    use veil_abi::sysno::*;
    use veil_abi::Errno;

    use crate::fake::{FakeDir, TestBed};
    use crate::platform::Prot;
    use crate::task::{Credentials, Task};
    use crate::vfs::mount::{Filesystem, FilesystemTypes, MountOption};
    use crate::vfs::walk::{self, WalkFlags};
    use crate::vfs::{InodeRef, Location};
    use crate::UserAddr;

    /// "fakefs": a directory holding the file `x` and the directory `sub`,
    /// taking the one flag option `big` (also at reconfiguration).
    struct Types;
    struct Fs(Arc<FakeDir>);
    impl Filesystem for Fs {
        fn root(&self) -> InodeRef {
            self.0.clone()
        }
        fn reconfigure(&self, opts: &[MountOption]) -> Result<(), Errno> {
            if opts.iter().all(|o| o.key == b"big") {
                Ok(())
            } else {
                Err(Errno::EINVAL)
            }
        }
        fn as_any(&self) -> &dyn core::any::Any {
            self
        }
    }
    impl FilesystemTypes for Types {
        fn make(
            &self,
            _cx: &Task,
            name: &[u8],
            _source: &[u8],
            opts: &[MountOption],
        ) -> Result<Arc<dyn Filesystem>, Errno> {
            if name != b"fakefs" {
                return Err(Errno::ENODEV);
            }
            if opts.iter().any(|o| o.key != b"big" || o.value.is_some()) {
                return Err(Errno::EINVAL);
            }
            let d = FakeDir::new(0o755);
            d.add_file("x", b"x", 0o644);
            d.dir("sub");
            Ok(Arc::new(Fs(d)))
        }
        fn list(&self) -> Vec<(String, bool)> {
            alloc::vec![("fakefs".into(), true)]
        }
    }

    /// A sandbox with directories `a`, `b`, `c`, `jail/in`, `new`, files
    /// `file` and `jail/marker`, and the type "fakefs".
    pub(crate) fn bed() -> TestBed {
        let tb = TestBed::new();
        for d in ["a", "b", "c", "jail/in", "new"] {
            tb.root.dir(d);
        }
        tb.add_file("jail/marker", b"m", 0o644);
        tb.add_file("file", b"f", 0o644);
        tb.kernel.mounts.install_filesystems(Arc::new(Types));
        tb
    }

    /// A task of `uid` with 16 KiB of user memory at 0x10000.
    pub(crate) fn task(tb: &TestBed, uid: u32) -> Task {
        let t = tb.task_as(Credentials::new(uid, uid, Vec::new()));
        tb.kernel.register(&t.tg);
        t.mm.mmap(
            UserAddr(0x10000),
            0x4000,
            Prot::READ | Prot::WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            None,
        )
        .expect("mmap");
        t
    }

    /// Puts the strings in user memory (NUL-terminated), each at its own
    /// 1 KiB slot; 0 for `None`.
    fn args(t: &Task, strs: &[Option<&str>]) -> Vec<u64> {
        strs.iter()
            .enumerate()
            .map(|(i, s)| match s {
                None => 0,
                Some(s) => {
                    let at = 0x10000 + i as u64 * 1024;
                    let mut b = s.as_bytes().to_vec();
                    b.push(0);
                    t.mm.copy_out(UserAddr(at), &b).expect("copy_out");
                    at
                }
            })
            .collect()
    }

    fn mount(
        t: &mut Task,
        src: Option<&str>,
        dst: &str,
        ty: Option<&str>,
        flags: u64,
    ) -> Result<u64, Errno> {
        let a = args(t, &[src, Some(dst), ty]);
        super::sys_mount(t, &[a[0], a[1], a[2], flags, 0, 0])
    }

    fn umount(t: &mut Task, path: &str, flags: u32) -> Result<u64, Errno> {
        let a = args(t, &[Some(path)]);
        super::sys_umount2(t, &[a[0], flags as u64, 0, 0, 0, 0])
    }

    fn call1(t: &mut Task, nr: u64, path: &str) -> Result<u64, Errno> {
        let a = args(t, &[Some(path)]);
        (super::handler(nr).expect("served"))(t, &[a[0], 0, 0, 0, 0, 0])
    }

    fn pivot(t: &mut Task, new: &str, old: &str) -> Result<u64, Errno> {
        let a = args(t, &[Some(new), Some(old)]);
        super::sys_pivot_root(t, &[a[0], a[1], 0, 0, 0, 0])
    }

    fn at(t: &Task, path: &str) -> Result<Location, Errno> {
        walk::resolve(
            t,
            AT_FDCWD,
            path.as_bytes(),
            WalkFlags {
                follow: true,
                empty_ok: false,
            },
        )
    }

    #[test]
    fn new_mounts_and_errors() {
        let tb = bed();
        let mut t = task(&tb, 0);
        assert_eq!(mount(&mut t, Some("none"), "/a", Some("fakefs"), 0), Ok(0));
        assert!(at(&t, "/a/x").is_ok());
        assert!(at(&t, "/a/sub").is_ok());
        // `..` from the mount's root climbs out of it.
        assert!(at(&t, "/a/../file").is_ok());
        assert_eq!(
            mount(&mut t, Some("none"), "/b", Some("ext4"), 0),
            Err(Errno::ENODEV)
        );
        assert_eq!(
            mount(&mut t, Some("none"), "/b", None, 0),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            mount(&mut t, Some("none"), "/nope", Some("fakefs"), 0),
            Err(Errno::ENOENT)
        );
        assert_eq!(
            mount(&mut t, Some("none"), "/file", Some("fakefs"), 0),
            Err(Errno::ENOTDIR)
        );
        assert_eq!(
            mount(&mut t, Some("none"), "/b", Some("fakefs"), MS_NOUSER),
            Err(Errno::EINVAL)
        );
        let a = args(&t, &[Some("none"), Some("/b"), Some("fakefs")]);
        assert_eq!(
            super::sys_mount(&mut t, &[a[0], a[1], a[2], 0, 8, 0]),
            Err(Errno::EFAULT)
        );
        assert_eq!(
            super::sys_mount(&mut t, &[a[0], 8, a[2], 0, 0, 0]),
            Err(Errno::EFAULT)
        );
        let mut user = task(&tb, 1000);
        assert_eq!(
            mount(&mut user, Some("none"), "/nope", Some("fakefs"), 0),
            Err(Errno::ENOENT)
        );
        assert_eq!(
            mount(&mut user, Some("none"), "/b", Some("fakefs"), 0),
            Err(Errno::EPERM)
        );
        assert_eq!(umount(&mut user, "/a", 0), Err(Errno::EPERM));
        // Flags are recorded, and a read-only mount refuses changes.
        assert_eq!(
            mount(
                &mut t,
                Some("none"),
                "/b",
                Some("fakefs"),
                MS_RDONLY | MS_NOEXEC
            ),
            Ok(0)
        );
        let b = at(&t, "/b").unwrap();
        assert!(b.mount.read_only());
        assert_eq!(b.mount.check_exec(), Err(Errno::EACCES));
        assert_eq!(b.mount.statfs_flags(), ST_RDONLY | ST_NOEXEC | ST_RELATIME);
        assert_eq!(mount(&mut t, None, "/b", None, MS_REMOUNT | MS_BIND), Ok(0));
        // The superblock stays read-only (MS_RDONLY made both).
        assert!(b.mount.read_only());
        assert_eq!(mount(&mut t, None, "/b", None, MS_REMOUNT), Ok(0));
        assert!(!b.mount.read_only());
    }

    #[test]
    fn umount_busy_detach_and_locked_root() {
        let tb = bed();
        let mut t = task(&tb, 0);
        mount(&mut t, Some("none"), "/a", Some("fakefs"), 0).unwrap();
        assert_eq!(umount(&mut t, "/a/sub", 0), Err(Errno::EINVAL));
        assert_eq!(umount(&mut t, "/a", 0x20), Err(Errno::EINVAL));
        // A working directory inside keeps it busy; MNT_DETACH goes anyway.
        let inside = at(&t, "/a/sub").unwrap();
        t.fs.lock().cwd = inside;
        assert_eq!(umount(&mut t, "/a", 0), Err(Errno::EBUSY));
        assert_eq!(umount(&mut t, "/a", MNT_DETACH), Ok(0));
        assert_eq!(at(&t, "/a/x").err(), Some(Errno::ENOENT));
        // The detached tree is still there for its user, with no way up.
        assert_eq!(at(&t, "x").err(), Some(Errno::ENOENT));
        assert!(at(&t, "../x").is_ok());
        assert!(at(&t, "../../x").is_ok());
        t.fs.lock().cwd = at(&t, "/").unwrap();
        assert_eq!(umount(&mut t, "/", 0), Err(Errno::EINVAL));
        assert_eq!(umount(&mut t, "/", MNT_DETACH), Err(Errno::EINVAL));
        // A mount on a mount: the parent is busy until the child goes.
        mount(&mut t, Some("none"), "/a", Some("fakefs"), 0).unwrap();
        mount(&mut t, Some("none"), "/a/sub", Some("fakefs"), 0).unwrap();
        assert_eq!(umount(&mut t, "/a", 0), Err(Errno::EBUSY));
        assert_eq!(umount(&mut t, "/a/sub", MNT_FORCE), Ok(0));
        assert_eq!(umount(&mut t, "/a", MNT_EXPIRE), Err(Errno::EAGAIN));
        assert_eq!(umount(&mut t, "/a", MNT_EXPIRE), Ok(0));
    }

    #[test]
    fn bind_and_namespace_copies() {
        let tb = bed();
        let mut t = task(&tb, 0);
        let mut other = task(&tb, 0);
        mount(&mut t, Some("none"), "/a", Some("fakefs"), 0).unwrap();
        mount(&mut t, Some("none"), "/a/sub", Some("fakefs"), 0).unwrap();
        assert_eq!(mount(&mut t, Some("/a"), "/b", None, MS_BIND), Ok(0));
        assert_eq!(
            mount(&mut t, Some("/a"), "/c", None, MS_BIND | MS_REC),
            Ok(0)
        );
        assert!(at(&t, "/c/sub/x").is_ok());
        assert_eq!(at(&t, "/b/sub/x").err(), Some(Errno::ENOENT));
        assert_eq!(
            mount(&mut t, Some("/file"), "/new", None, MS_BIND),
            Err(Errno::ENOTDIR)
        );
        assert_eq!(
            mount(&mut t, None, "/new", None, MS_BIND),
            Err(Errno::EINVAL)
        );
        // unshare: the copy sees the same mounts; later mounts stay apart.
        assert_eq!(
            super::sys_unshare(&mut t, &[CLONE_NEWNS, 0, 0, 0, 0, 0]),
            Ok(0)
        );
        assert!(at(&t, "/c/sub/x").is_ok());
        mount(&mut t, Some("none"), "/new", Some("fakefs"), 0).unwrap();
        assert!(at(&t, "/new/x").is_ok());
        assert_eq!(at(&other, "/new/x").err(), Some(Errno::ENOENT));
        mount(&mut other, Some("none"), "/jail/in", Some("fakefs"), 0).unwrap();
        assert_eq!(at(&t, "/jail/in/x").err(), Some(Errno::ENOENT));
        // A mount of the other namespace cannot be unmounted from here.
        assert_eq!(umount(&mut t, "/a", 0), Err(Errno::EBUSY));
        let mut user = task(&tb, 1000);
        assert_eq!(
            super::sys_unshare(&mut user, &[CLONE_NEWNS, 0, 0, 0, 0, 0]),
            Err(Errno::EPERM)
        );
        assert_eq!(
            super::sys_unshare(&mut t, &[CLONE_NEWNET, 0, 0, 0, 0, 0]),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            super::sys_unshare(&mut t, &[1, 0, 0, 0, 0, 0]),
            Err(Errno::EINVAL)
        );
        // Propagation: one type at a time, on a mount's root.
        assert_eq!(mount(&mut t, None, "/a", None, MS_SHARED), Ok(0));
        assert_ne!(at(&t, "/a").unwrap().mount.propagation().group, 0);
        assert_eq!(
            mount(&mut t, None, "/a", None, MS_SHARED | MS_SLAVE),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            mount(&mut t, None, "/a/x", None, MS_PRIVATE),
            Err(Errno::EINVAL)
        );
        assert_eq!(mount(&mut t, None, "/a", None, MS_UNBINDABLE), Ok(0));
        assert_eq!(
            mount(&mut t, Some("/a"), "/jail/in", None, MS_BIND),
            Err(Errno::EINVAL)
        );
    }

    fn ns_fd(t: &Task, ns: crate::vfs::nsfs::Namespace) -> u64 {
        let file = crate::vfs::OpenFile::new(
            Arc::new(crate::vfs::nsfs::NsFile::new(ns)),
            None,
            veil_abi::flags::O_RDONLY,
        );
        t.fds.insert(0, file, false, 1024).expect("fd") as u64
    }

    #[test]
    fn mounts_and_unmounts_propagate_to_peers_and_slaves() {
        let tb = bed();
        let mut t = task(&tb, 0);
        mount(&mut t, Some("none"), "/a", Some("fakefs"), 0).unwrap();
        mount(&mut t, None, "/a", None, MS_SHARED).unwrap();
        mount(&mut t, Some("/a"), "/b", None, MS_BIND).unwrap();
        mount(&mut t, Some("/a"), "/c", None, MS_BIND).unwrap();
        mount(&mut t, None, "/c", None, MS_SLAVE).unwrap();
        let (a, b, c) = (
            at(&t, "/a").unwrap().mount.propagation(),
            at(&t, "/b").unwrap().mount.propagation(),
            at(&t, "/c").unwrap().mount.propagation(),
        );
        assert_ne!(a.group, 0);
        assert_eq!(b.group, a.group);
        assert_eq!((c.group, c.master), (0, a.group));
        // A mount on a peer reaches the other peer and the slave.
        mount(&mut t, Some("none"), "/b/sub", Some("fakefs"), 0).unwrap();
        assert!(at(&t, "/a/sub/x").is_ok());
        assert!(at(&t, "/c/sub/x").is_ok());
        let (asub, csub) = (
            at(&t, "/a/sub").unwrap().mount.propagation(),
            at(&t, "/c/sub").unwrap().mount.propagation(),
        );
        assert_ne!(asub.group, 0);
        assert_eq!((csub.group, csub.master), (0, asub.group));
        // The slave sends nothing back.
        mount(&mut t, Some("none"), "/c/sub/sub", Some("fakefs"), 0).unwrap();
        assert!(at(&t, "/c/sub/sub/x").is_ok());
        assert_eq!(at(&t, "/a/sub/sub/x").err(), Some(Errno::ENOENT));
        // An unmount goes everywhere but to the replica with a mount of
        // its own.
        assert_eq!(umount(&mut t, "/a/sub", 0), Ok(0));
        assert_eq!(at(&t, "/b/sub/x").err(), Some(Errno::ENOENT));
        assert!(at(&t, "/c/sub/x").is_ok());
        // A replica in use makes the unmount EBUSY.
        mount(&mut t, Some("none"), "/a/sub", Some("fakefs"), 0).unwrap();
        let held = at(&t, "/b/sub").unwrap();
        assert_eq!(umount(&mut t, "/a/sub", 0), Err(Errno::EBUSY));
        drop(held);
        assert_eq!(umount(&mut t, "/a/sub", 0), Ok(0));
        // MS_PRIVATE on the last shared mount of the group: the slave's
        // master goes.
        mount(&mut t, None, "/b", None, MS_PRIVATE).unwrap();
        mount(&mut t, None, "/a", None, MS_PRIVATE).unwrap();
        let c = at(&t, "/c").unwrap().mount.propagation();
        assert_eq!((c.group, c.master), (0, 0));
    }

    #[test]
    fn namespace_copies_are_peers_of_shared_mounts() {
        let tb = bed();
        let mut t = task(&tb, 0);
        let mut other = task(&tb, 0);
        mount(&mut t, Some("none"), "/a", Some("fakefs"), 0).unwrap();
        mount(&mut t, None, "/a", None, MS_SHARED).unwrap();
        assert_eq!(
            super::sys_unshare(&mut t, &[CLONE_NEWNS, 0, 0, 0, 0, 0]),
            Ok(0)
        );
        mount(&mut t, Some("none"), "/a/sub", Some("fakefs"), 0).unwrap();
        assert!(at(&other, "/a/sub/x").is_ok());
        mount(&mut other, Some("none"), "/a/sub/sub", Some("fakefs"), 0).unwrap();
        assert!(at(&t, "/a/sub/sub/x").is_ok());
        assert_eq!(umount(&mut other, "/a/sub/sub", 0), Ok(0));
        assert_eq!(at(&t, "/a/sub/sub/x").err(), Some(Errno::ENOENT));
        // Made private, the copy is on its own.
        mount(&mut t, None, "/", None, MS_PRIVATE | MS_REC).unwrap();
        mount(&mut other, Some("none"), "/a/sub/sub", Some("fakefs"), 0).unwrap();
        assert_eq!(at(&t, "/a/sub/sub/x").err(), Some(Errno::ENOENT));
    }

    #[test]
    fn setns_joins_a_mount_namespace_and_answers_linux_errors() {
        use crate::vfs::nsfs::{Namespace, NsKind};
        let tb = bed();
        let mut t = task(&tb, 0);
        let mut child = task(&tb, 0);
        let home = Namespace::of(&t.kernel, &t.tg, NsKind::Mnt);
        super::sys_unshare(&mut child, &[CLONE_NEWNS, 0, 0, 0, 0, 0]).unwrap();
        mount(&mut child, Some("none"), "/new", Some("fakefs"), 0).unwrap();
        let theirs = ns_fd(&t, Namespace::of(&child.kernel, &child.tg, NsKind::Mnt));
        let mine = ns_fd(&t, home);
        let uts = ns_fd(&t, Namespace::of(&t.kernel, &t.tg, NsKind::Uts));
        let user = ns_fd(&t, Namespace::Single(NsKind::User));
        let net = ns_fd(&t, Namespace::Single(NsKind::Net));
        let setns = |t: &mut Task, fd: u64, ty: u64| super::sys_setns(t, &[fd, ty, 0, 0, 0, 0]);
        assert_eq!(setns(&mut t, 999, 0), Err(Errno::EBADF));
        assert_eq!(setns(&mut t, theirs, CLONE_NEWUTS), Err(Errno::EINVAL));
        assert_eq!(setns(&mut t, user, 0), Err(Errno::EINVAL));
        assert_eq!(setns(&mut t, net, CLONE_NEWNET), Ok(0));
        assert_eq!(setns(&mut t, uts, 0), Ok(0));
        t.fs.lock().cwd = at(&t, "/a").unwrap();
        assert_eq!(setns(&mut t, theirs, CLONE_NEWNS), Ok(0));
        assert!(at(&t, "/new/x").is_ok());
        assert!(at(&t, "x").err() == Some(Errno::ENOENT) && at(&t, "new/x").is_ok());
        assert_eq!(setns(&mut t, mine, 0), Ok(0));
        assert_eq!(at(&t, "/new/x").err(), Some(Errno::ENOENT));
        // Shared fs context: EINVAL; no CAP_SYS_ADMIN: EPERM.
        let shared_fs = t.fs.clone();
        assert_eq!(setns(&mut t, theirs, 0), Err(Errno::EINVAL));
        drop(shared_fs);
        let mut user_task = task(&tb, 1000);
        let theirs_u = ns_fd(
            &user_task,
            Namespace::of(&child.kernel, &child.tg, NsKind::Mnt),
        );
        assert_eq!(setns(&mut user_task, theirs_u, 0), Err(Errno::EPERM));
    }

    #[test]
    fn chroot_and_pivot_root() {
        let tb = bed();
        let mut t = task(&tb, 0);
        let mut user = task(&tb, 1000);
        assert_eq!(call1(&mut user, CHROOT, "/jail"), Err(Errno::EPERM));
        assert_eq!(call1(&mut user, CHROOT, "/nope"), Err(Errno::ENOENT));
        assert_eq!(call1(&mut t, CHROOT, "/file"), Err(Errno::ENOTDIR));
        let mut jailed = task(&tb, 0);
        assert_eq!(call1(&mut jailed, CHROOT, "/jail"), Ok(0));
        assert!(at(&jailed, "/marker").is_ok());
        assert!(at(&jailed, "/../../marker").is_ok());
        assert_eq!(at(&jailed, "/file").err(), Some(Errno::ENOENT));

        // pivot_root's checks, then the (".", ".") idiom.
        assert_eq!(pivot(&mut t, "/", "/"), Err(Errno::EBUSY));
        assert_eq!(pivot(&mut t, "/jail", "/jail/in"), Err(Errno::EBUSY));
        assert_eq!(pivot(&mut t, "/file", "/a"), Err(Errno::ENOTDIR));
        mount(&mut t, Some("none"), "/new", Some("fakefs"), 0).unwrap();
        assert_eq!(pivot(&mut t, "/new/sub", "/new/sub"), Err(Errno::EINVAL));
        assert_eq!(pivot(&mut t, "/new", "/a"), Err(Errno::EBUSY));
        assert_eq!(pivot(&mut user, "/new", "/new/sub"), Err(Errno::EPERM));
        t.fs.lock().cwd = at(&t, "/new").unwrap();
        assert_eq!(pivot(&mut t, ".", "."), Ok(0));
        // The old root is on top of the new one until detached.
        assert_eq!(umount(&mut t, ".", MNT_DETACH), Ok(0));
        assert!(at(&t, "/x").is_ok());
        assert!(at(&t, "/../x").is_ok());
        assert_eq!(at(&t, "/file").err(), Some(Errno::ENOENT));
        // The new root took the lock.
        assert_eq!(umount(&mut t, "/", MNT_DETACH), Err(Errno::EINVAL));
        // The kernel's namespace root is the new root now.
        let root = tb.kernel.mounts.root();
        assert!(root.same(&t.fs.lock().root));
    }
}
