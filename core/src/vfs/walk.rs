//! Path walk: turning a path into a [`Location`], as Linux's namei does.
//!
//! Follows Linux: an absolute path starts at the task's root, a relative one
//! at the cwd or at a directory fd (`*at` calls); `..` never climbs above
//! the task's root (so a sandbox cannot walk out of its root) and crosses
//! back over mount points; symlinks are followed up to 40 times in one walk
//! (`ELOOP` after); every component but the last must be a directory
//! (`ENOTDIR`); a component longer than 255 bytes is `ENAMETOOLONG`.
//! Magic links (`/proc/self/fd/N`) jump to a location without re-walking.

use alloc::vec::Vec;

use veil_abi::flags::{AT_FDCWD, NAME_MAX, PATH_MAX};
use veil_abi::Errno;

use super::{FileType, Location};
use crate::task::Task;

/// Linux's limit on symlinks followed in one walk.
pub const MAX_SYMLINKS: u32 = 40;

/// How to treat the last component.
#[derive(Clone, Copy, Debug, Default)]
pub struct WalkFlags {
    /// Follow a symlink in the last component.
    pub follow: bool,
    /// An empty path names the starting directory (AT_EMPTY_PATH).
    pub empty_ok: bool,
}

/// The directory a walk relative to `dirfd` starts in.
pub fn start_dir(task: &Task, dirfd: i32) -> Result<Location, Errno> {
    if dirfd == AT_FDCWD {
        return Ok(task.fs.lock().cwd.clone());
    }
    let file = task.fds.file(dirfd)?;
    file.location.clone().ok_or(Errno::ENOTDIR)
}

/// Resolves `path` relative to `dirfd`.
pub fn resolve(task: &Task, dirfd: i32, path: &[u8], flags: WalkFlags) -> Result<Location, Errno> {
    if path.is_empty() {
        if !flags.empty_ok {
            return Err(Errno::ENOENT);
        }
        if dirfd == AT_FDCWD {
            return Ok(task.fs.lock().cwd.clone());
        }
        let file = task.fds.file(dirfd)?;
        return file.location.clone().ok_or(Errno::EBADF);
    }
    let (parent, last, trailing) = resolve_parent(task, dirfd, path)?;
    let Some(last) = last else {
        return Ok(parent);
    };
    let mut budget = MAX_SYMLINKS;
    let loc = step(task, &parent, &last)?;
    let loc = if flags.follow || trailing {
        follow_links(task, loc, &mut budget, trailing)?
    } else {
        loc
    };
    if trailing && !is_dir(&loc)? {
        return Err(Errno::ENOTDIR);
    }
    Ok(loc)
}

/// Resolves all but the last component of `path`. Returns the parent
/// directory, the last component (`None` when the path ends in `.`, `..`
/// or is `/`, in which case the location is the directory itself), and
/// whether the path had a trailing slash.
pub fn resolve_parent(
    task: &Task,
    dirfd: i32,
    path: &[u8],
) -> Result<(Location, Option<Vec<u8>>, bool), Errno> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    if path.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    let root = task.fs.lock().root.clone();
    let start = if path[0] == b'/' {
        root.clone()
    } else {
        let d = start_dir(task, dirfd)?;
        if !is_dir(&d)? {
            return Err(Errno::ENOTDIR);
        }
        d
    };
    let mut budget = MAX_SYMLINKS;
    walk_components(task, &root, start, path, &mut budget)
}

fn walk_components(
    task: &Task,
    root: &Location,
    start: Location,
    path: &[u8],
    budget: &mut u32,
) -> Result<(Location, Option<Vec<u8>>, bool), Errno> {
    let trailing = path.len() > 1 && path.ends_with(b"/");
    let comps: Vec<&[u8]> = path
        .split(|&c| c == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    let mut cur = start;
    if comps.is_empty() {
        return Ok((cur, None, false));
    }
    let (last, inner) = comps.split_last().expect("non-empty");
    for comp in inner {
        if comp.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        cur = match *comp {
            b"." => cur,
            b".." => dotdot(task, root, cur),
            name => {
                check_search(task, &cur)?;
                let next = step(task, &cur, name)?;
                let next = follow_links(task, next, budget, true)?;
                if !is_dir(&next)? {
                    return Err(Errno::ENOTDIR);
                }
                next
            }
        };
    }
    if last.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    match *last {
        b"." => Ok((cur, None, trailing)),
        b".." => Ok((dotdot(task, root, cur), None, trailing)),
        name => {
            check_search(task, &cur)?;
            Ok((cur, Some(name.to_vec()), trailing))
        }
    }
}

/// Looks up one real component under `dir`, crossing into mounts.
pub fn step(task: &Task, dir: &Location, name: &[u8]) -> Result<Location, Errno> {
    if !is_dir(dir)? {
        return Err(Errno::ENOTDIR);
    }
    let dentry = dir.dentry.child(task, name)?;
    let mut loc = Location {
        mount: dir.mount.clone(),
        dentry,
    };
    while let Some(m) = task.kernel.mounts.mounted_at(&loc) {
        loc = Location {
            dentry: m.root.clone(),
            mount: m,
        };
    }
    Ok(loc)
}

fn dotdot(task: &Task, root: &Location, cur: Location) -> Location {
    let mut cur = cur;
    loop {
        if cur.same(root) {
            return cur;
        }
        if alloc::sync::Arc::ptr_eq(&cur.dentry, &cur.mount.root) {
            match cur.mount.parent() {
                Some(p) => {
                    cur = p;
                    continue;
                }
                None => return cur,
            }
        }
        let _ = task;
        return match cur.dentry.parent() {
            Some(p) => Location {
                mount: cur.mount.clone(),
                dentry: p,
            },
            None => cur,
        };
    }
}

/// Follows `loc` while it is a symlink.
fn follow_links(
    task: &Task,
    mut loc: Location,
    budget: &mut u32,
    _dir_wanted: bool,
) -> Result<Location, Errno> {
    loop {
        let attr = loc.inode().attr()?;
        if attr.file_type() != Some(FileType::Symlink) {
            return Ok(loc);
        }
        if *budget == 0 {
            return Err(Errno::ELOOP);
        }
        *budget -= 1;
        if let Some(target) = loc.inode().magic_link(task) {
            loc = target?;
            continue;
        }
        let target = loc.inode().readlink(task)?;
        if target.is_empty() {
            return Err(Errno::ENOENT);
        }
        let root = task.fs.lock().root.clone();
        let base = if target[0] == b'/' {
            root.clone()
        } else {
            Location {
                mount: loc.mount.clone(),
                dentry: loc.dentry.parent().unwrap_or_else(|| loc.dentry.clone()),
            }
        };
        // A symlink at a mount's root has no parent within the mount.
        let base = if target[0] != b'/' && alloc::sync::Arc::ptr_eq(&loc.dentry, &loc.mount.root) {
            dotdot(task, &root, loc.clone())
        } else {
            base
        };
        let (parent, last, _trailing) = walk_components(task, &root, base, &target, budget)?;
        loc = match last {
            None => parent,
            Some(name) => step(task, &parent, &name)?,
        };
    }
}

fn is_dir(loc: &Location) -> Result<bool, Errno> {
    Ok(loc.inode().attr()?.file_type() == Some(FileType::Directory))
}

/// Search (execute) permission on a directory being walked through.
fn check_search(task: &Task, dir: &Location) -> Result<(), Errno> {
    let attr = dir.inode().attr()?;
    if crate::vfs::perm::may_access(&task.creds, &attr, veil_abi::flags::X_OK) {
        Ok(())
    } else {
        Err(Errno::EACCES)
    }
}
