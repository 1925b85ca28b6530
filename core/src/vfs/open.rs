//! Opening a path: Linux's do_filp_open, from flag checks to the new open
//! file description.
//!
//! Follows Linux: `O_CREAT` creates a regular file with `mode & ~umask`
//! owned by the fs uid / gid (the directory's group under a set-gid
//! directory) and follows a final symlink, even a dangling one, to create
//! its target; `O_EXCL` fails with `EEXIST` on any existing name, symlinks
//! included; `O_TRUNC` empties a regular file (with write permission);
//! `O_DIRECTORY` wants a directory (`ENOTDIR`); `O_NOFOLLOW` refuses a
//! final symlink (`ELOOP`) unless with `O_PATH`, which opens the link
//! itself; `O_PATH` checks nothing but the walk and gives a description
//! usable only as a place. Directories are opened by core as
//! [`DirFile`]s and refuse write access (`EISDIR`); writes on a read-only
//! mount are `EROFS`; permission comes from the mode bits (`EACCES`).
//!
//! `O_TMPFILE` makes an unnamed file ([`super::Inode::tmpfile`]); a FIFO
//! opens as the sandbox's own pipe ([`super::fifo`]), waiting for its
//! other end as Linux does; `O_NOCTTY` reaches the file's open (a
//! terminal then does not become the controlling terminal) and is not
//! kept; `O_DIRECT`, `O_DSYNC`/`O_SYNC` and `O_ASYNC` are kept in the
//! flags and otherwise ignored.

use alloc::sync::Arc;
use core::any::Any;

use veil_abi::flags::*;
use veil_abi::Errno;

use super::dir::DirFile;
use super::lock::{InodeKey, OpenCount};
use super::perm;
use super::walk::{
    Followed, Last, Parent, Walker, RESOLVE_ALL, RESOLVE_BENEATH, RESOLVE_CACHED, RESOLVE_IN_ROOT,
};
use super::{Dentry, FileOps, FileType, InodeAttr, Location, OpenFile, Owner, SetAttr};
use crate::task::Task;

/// `__O_TMPFILE`: the bit O_TMPFILE adds to O_DIRECTORY.
const O_TMPFILE_BIT: u32 = O_TMPFILE & !O_DIRECTORY;
/// The flags that survive O_PATH.
const O_PATH_FLAGS: u32 = O_DIRECTORY | O_NOFOLLOW | O_PATH | O_CLOEXEC;

/// What to open: openat2's `struct open_how`, checked.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenHow {
    /// `O_*` flags.
    pub flags: u32,
    /// Permission bits for a created file (before the umask).
    pub mode: u32,
    /// `RESOLVE_*` flags.
    pub resolve: u64,
}

impl OpenHow {
    /// The flags and mode of open / openat / creat, checked as Linux's
    /// build_open_how and build_open_flags do for them: unknown flags are
    /// dropped, O_PATH drops every flag it does not keep (before any
    /// check), the mode is used only with O_CREAT.
    pub fn from_open(flags: u32, mode: u32) -> Result<OpenHow, Errno> {
        let mut flags = flags & O_VALID;
        if flags & O_PATH != 0 {
            flags &= O_PATH_FLAGS;
        }
        let mode = if flags & O_CREAT != 0 || flags & O_TMPFILE_BIT != 0 {
            mode & 0o7777
        } else {
            0
        };
        OpenHow {
            flags,
            mode,
            resolve: 0,
        }
        .normalize()
    }

    /// openat2's checks of `struct open_how`: unknown flags, stray mode
    /// bits, unknown or conflicting RESOLVE_* flags are all `EINVAL`.
    pub fn from_openat2(flags: u64, mode: u64, resolve: u64) -> Result<OpenHow, Errno> {
        if flags & !(O_VALID as u64) != 0 {
            return Err(Errno::EINVAL);
        }
        let f = flags as u32;
        if mode & !0o7777 != 0 {
            return Err(Errno::EINVAL);
        }
        if mode != 0 && f & O_CREAT == 0 && f & O_TMPFILE_BIT == 0 {
            return Err(Errno::EINVAL);
        }
        if resolve & !RESOLVE_ALL != 0 {
            return Err(Errno::EINVAL);
        }
        if resolve & RESOLVE_BENEATH != 0 && resolve & RESOLVE_IN_ROOT != 0 {
            return Err(Errno::EINVAL);
        }
        if f & O_PATH != 0 && f & !O_PATH_FLAGS != 0 {
            return Err(Errno::EINVAL);
        }
        if resolve & RESOLVE_CACHED != 0 && f & (O_TRUNC | O_CREAT | O_TMPFILE_BIT) != 0 {
            return Err(Errno::EAGAIN);
        }
        OpenHow {
            flags: f,
            mode: mode as u32,
            resolve,
        }
        .normalize()
    }

    fn normalize(mut self) -> Result<OpenHow, Errno> {
        let f = &mut self.flags;
        if *f & O_TMPFILE_BIT != 0 {
            if *f & (O_TMPFILE | O_CREAT) != O_TMPFILE {
                return Err(Errno::EINVAL);
            }
            if !matches!(*f & O_ACCMODE, O_WRONLY | O_RDWR) {
                return Err(Errno::EINVAL);
            }
        } else if *f & (O_DIRECTORY | O_CREAT) == (O_DIRECTORY | O_CREAT) {
            return Err(Errno::EINVAL);
        }
        if *f & O_PATH != 0 {
            *f &= O_PATH_FLAGS;
        }
        // O_SYNC includes O_DSYNC; 64-bit opens are always large.
        if *f & (O_SYNC & !O_DSYNC) != 0 {
            *f |= O_DSYNC;
        }
        if *f & O_PATH == 0 {
            *f |= O_LARGEFILE;
        }
        Ok(self)
    }
}

/// The object behind an O_PATH description: no I/O at all.
pub struct PathFile;

impl FileOps for PathFile {
    fn read(&self, _buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EBADF)
    }
    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EBADF)
    }
    fn seekable(&self) -> bool {
        false
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The owner of a node created in the directory `dir_attr`: the fs ids,
/// or the directory's group under a set-gid directory.
pub fn new_owner(task: &Task, dir_attr: &InodeAttr) -> Owner {
    let gid = if dir_attr.mode & S_ISGID != 0 {
        dir_attr.gid
    } else {
        task.creds.fsgid
    };
    Owner {
        uid: task.creds.fsuid,
        gid,
    }
}

/// Caches the freshly created `inode` as `name` in `dir` and returns its
/// location.
pub fn created(dir: &Location, name: &[u8], inode: super::InodeRef) -> Location {
    let d = Dentry::new_child(&dir.dentry, name, inode);
    if dir.inode().cacheable() {
        dir.dentry.remember(name, d.clone());
    }
    Location {
        mount: dir.mount.clone(),
        dentry: d,
    }
}

/// Opens `path` relative to `dirfd`. `how` comes from [`OpenHow`].
pub fn open_at(
    task: &Task,
    dirfd: i32,
    path: &[u8],
    how: &OpenHow,
) -> Result<Arc<OpenFile>, Errno> {
    let flags = how.flags;
    if flags & O_TMPFILE_BIT != 0 {
        return open_tmpfile(task, dirfd, path, how);
    }
    let mut w = Walker::new(task, dirfd, path, how.resolve)?;
    let p = w.walk_from_start(path)?;
    let (loc, attr, made) = if flags & O_CREAT != 0 {
        open_create(task, &mut w, p, how)?
    } else {
        let follow = flags & O_NOFOLLOW == 0;
        let (loc, attr) = w.finish(p, follow)?;
        (loc, attr, false)
    };
    open_location(task, loc, &attr, flags, made)
}

/// O_TMPFILE, as Linux's `do_tmpfile` / `vfs_tmpfile`: the path must be
/// a directory (`ENOTDIR`; a final symlink is followed unless
/// O_NOFOLLOW) on a writable mount (`EROFS`) that the caller may write
/// and search (`EACCES`), on a filesystem that can make unnamed files
/// (`EOPNOTSUPP`). The file gets `mode & ~umask`, the caller's fs ids
/// (the directory's group under a set-gid directory) and link count 0;
/// without O_EXCL, linkat may give it a name. /proc/self/fd shows it as
/// `DIR/#INO (deleted)`.
fn open_tmpfile(
    task: &Task,
    dirfd: i32,
    path: &[u8],
    how: &OpenHow,
) -> Result<Arc<OpenFile>, Errno> {
    let flags = how.flags;
    let mut w = Walker::new(task, dirfd, path, how.resolve)?;
    let p = w.walk_from_start(path)?;
    let (dir, dir_attr) = w.finish(p, flags & O_NOFOLLOW == 0)?;
    if dir_attr.file_type() != Some(FileType::Directory) {
        return Err(Errno::ENOTDIR);
    }
    dir.mount.check_writable()?;
    perm::check(&task.creds, &dir_attr, W_OK | X_OK)?;
    let mode = how.mode & !task.fs.lock().umask & 0o7777;
    let owner = new_owner(task, &dir_attr);
    let inode = dir.inode().tmpfile(mode, owner, flags & O_EXCL == 0)?;
    let attr = inode.attr()?;
    let name = alloc::format!("#{} (deleted)", attr.ino);
    let loc = Location {
        mount: dir.mount.clone(),
        dentry: Dentry::new_child(&dir.dentry, name.as_bytes(), inode),
    };
    let stored = flags & !(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC);
    let ops = loc.inode().open(task, stored)?;
    let file = OpenFile::new(ops, Some(loc), stored);
    let key = InodeKey {
        dev: attr.dev,
        ino: attr.ino,
    };
    let acc = flags & O_ACCMODE;
    file.count_open(OpenCount::new(&task.kernel.locks, key, acc == O_RDWR, true));
    Ok(file)
}

/// The O_CREAT part of open: find or create the last component,
/// following symlinks (to create a dangling link's target).
fn open_create(
    task: &Task,
    w: &mut Walker<'_>,
    mut p: Parent,
    how: &OpenHow,
) -> Result<(Location, InodeAttr, bool), Errno> {
    let flags = how.flags;
    let follow = flags & (O_NOFOLLOW | O_EXCL) == 0;
    loop {
        let name = match &p.last {
            Last::Name(n) if !p.trailing => n.clone(),
            _ => return Err(Errno::EISDIR),
        };
        match w.step(&p.dir, &name) {
            Ok(loc) => {
                if flags & O_EXCL != 0 {
                    return Err(Errno::EEXIST);
                }
                let attr = loc.inode().attr()?;
                if attr.file_type() == Some(FileType::Symlink) && follow {
                    match w.follow_once(&p.dir, &loc)? {
                        Followed::Jump(to) => {
                            let a = to.inode().attr()?;
                            return Ok((to, a, false));
                        }
                        Followed::Path(next) => {
                            p = next;
                            continue;
                        }
                    }
                }
                return Ok((loc, attr, false));
            }
            Err(Errno::ENOENT) => {
                let dir_attr = p.dir.inode().attr()?;
                p.dir.mount.check_writable()?;
                perm::may_create(&task.creds, &dir_attr)?;
                let mode = how.mode & !task.fs.lock().umask & 0o7777;
                let owner = new_owner(task, &dir_attr);
                match p
                    .dir
                    .inode()
                    .mknod(&name, FileType::Regular, mode, 0, owner)
                {
                    Ok(inode) => {
                        let attr = inode.attr()?;
                        let loc = created(&p.dir, &name, inode);
                        super::inotify::created(task, &loc);
                        return Ok((loc, attr, true));
                    }
                    // Someone else created it first: open theirs.
                    Err(Errno::EEXIST) if flags & O_EXCL == 0 => {
                        p.dir.dentry.forget(&name);
                        let loc = w.step(&p.dir, &name)?;
                        let attr = loc.inode().attr()?;
                        return Ok((loc, attr, false));
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Opens the object at `loc` (attributes `attr`) with `flags`, as Linux's
/// do_open and may_open: type and permission checks, O_TRUNC, then the
/// filesystem's open (or a [`DirFile`] for a directory). `created` skips
/// the permission check for a file O_CREAT just made.
pub fn open_location(
    task: &Task,
    loc: Location,
    attr: &InodeAttr,
    flags: u32,
    created: bool,
) -> Result<Arc<OpenFile>, Errno> {
    let kind = attr.file_type();
    let is_dir = kind == Some(FileType::Directory);
    if flags & O_CREAT != 0 && is_dir {
        return Err(Errno::EISDIR);
    }
    if flags & O_DIRECTORY != 0 && !is_dir {
        return Err(Errno::ENOTDIR);
    }
    if flags & O_PATH != 0 {
        return Ok(OpenFile::new(Arc::new(PathFile), Some(loc), flags));
    }
    let acc = flags & O_ACCMODE;
    let mut want = 0;
    if matches!(acc, O_RDONLY | O_RDWR | O_ACCMODE) {
        want |= R_OK;
    }
    if matches!(acc, O_WRONLY | O_RDWR | O_ACCMODE) || flags & O_TRUNC != 0 {
        want |= W_OK;
    }
    let mut truncate = flags & O_TRUNC != 0 && !created;
    match kind {
        Some(FileType::Symlink) => return Err(Errno::ELOOP),
        Some(FileType::Directory) if want & W_OK != 0 => return Err(Errno::EISDIR),
        Some(FileType::Regular) | Some(FileType::Directory) => {}
        _ => truncate = false,
    }
    if !created {
        if want & W_OK != 0 && matches!(kind, Some(FileType::Regular) | Some(FileType::Directory)) {
            loc.mount.check_writable()?;
        }
        perm::check(&task.creds, attr, want)?;
        if flags & O_NOATIME != 0 && !perm::owner_or_root(&task.creds, attr) {
            return Err(Errno::EPERM);
        }
    }
    // Linux's may_open_dev: device nodes on a nodev mount do not open.
    if matches!(kind, Some(FileType::CharDevice | FileType::BlockDevice))
        && !loc.mount.devices_allowed()
    {
        return Err(Errno::EACCES);
    }
    // Leases look at who has a regular file open; an open that conflicts
    // with one waits for it to be broken (before O_TRUNC acts).
    let count = if kind == Some(FileType::Regular) {
        let key = InodeKey {
            dev: attr.dev,
            ino: attr.ino,
        };
        let table = &task.kernel.locks;
        let count = OpenCount::new(
            table,
            key,
            matches!(acc, O_RDONLY | O_RDWR),
            matches!(acc, O_WRONLY | O_RDWR),
        );
        table.break_lease(task, key, acc != O_RDONLY, flags & O_NONBLOCK != 0)?;
        Some(count)
    } else {
        None
    };
    if truncate {
        let now = task.kernel.clock.realtime();
        loc.inode().set_attr(&SetAttr {
            size: Some(0),
            mtime: Some(now),
            ctime: Some(now),
            ..Default::default()
        })?;
    }
    let stored = flags & !(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC);
    let ops: Arc<dyn FileOps> = if is_dir {
        DirFile::listed_by(loc.clone(), loc.inode().open_dir(task)?)
    } else if kind == Some(FileType::Fifo) {
        // Whatever filesystem holds it, a FIFO is the sandbox's own pipe.
        let key = InodeKey {
            dev: attr.dev,
            ino: attr.ino,
        };
        task.kernel.fifos.open(task, key, stored)?
    } else {
        // The file's open sees O_NOCTTY (a terminal's controlling-tty
        // rule); the description does not keep it.
        loc.inode().open(task, stored | (flags & O_NOCTTY))?
    };
    let file = OpenFile::new(ops, Some(loc), stored);
    super::inotify::opened(task, &file, truncate);
    if let Some(count) = count {
        file.count_open(count);
    }
    Ok(file)
}
