//! Path walk: turning a path into a [`Location`], as Linux's namei does.
//!
//! Follows Linux: an absolute path starts at the task's root, a relative one
//! at the cwd or at a directory fd (`*at` calls); `..` never climbs above
//! the task's root (so a sandbox cannot walk out of its root) and crosses
//! back over mount points; symlinks are followed up to 40 times in one walk
//! (`ELOOP` after); every component but the last must be a searchable
//! directory (`ENOTDIR`, `EACCES`), and so must the directory the last one
//! is looked up in; a component longer than 255 bytes is `ENAMETOOLONG`, a
//! path of 4096 bytes or more too. A trailing slash makes the last
//! component a directory that is followed if it is a symlink. Magic links
//! (`/proc/self/fd/N`) jump to a location without re-walking.
//!
//! openat2's `RESOLVE_*` flags are honoured: `RESOLVE_NO_SYMLINKS` and
//! `RESOLVE_NO_MAGICLINKS` (`ELOOP`), `RESOLVE_NO_XDEV` (`EXDEV` on any mount
//! crossing), `RESOLVE_BENEATH` (`EXDEV` for absolute paths, absolute
//! symlinks, magic links, or `..` above the starting directory) and
//! `RESOLVE_IN_ROOT` (the starting directory acts as the root).
//! `RESOLVE_CACHED` is accepted and ignored: every walk here may complete.
//!
//! Left out: automounts, `LOOKUP_REVAL`, the "protected symlinks" sysctl.

use alloc::sync::Arc;
use alloc::vec::Vec;

use veil_abi::flags::{AT_FDCWD, NAME_MAX, PATH_MAX};
use veil_abi::Errno;

use super::{FileType, InodeAttr, Location};
use crate::task::Task;

/// Linux's limit on symlinks followed in one walk.
pub const MAX_SYMLINKS: u32 = 40;

/// openat2: fail with `EXDEV` on any mount crossing.
pub const RESOLVE_NO_XDEV: u64 = 0x01;
/// openat2: fail with `ELOOP` on any magic link.
pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
/// openat2: fail with `ELOOP` on any symlink.
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
/// openat2: the path must stay beneath the starting directory (`EXDEV`).
pub const RESOLVE_BENEATH: u64 = 0x08;
/// openat2: the starting directory acts as the root.
pub const RESOLVE_IN_ROOT: u64 = 0x10;
/// openat2: only succeed from the dentry cache (accepted, no effect here).
pub const RESOLVE_CACHED: u64 = 0x20;
/// Every `RESOLVE_*` flag known.
pub const RESOLVE_ALL: u64 = RESOLVE_NO_XDEV
    | RESOLVE_NO_MAGICLINKS
    | RESOLVE_NO_SYMLINKS
    | RESOLVE_BENEATH
    | RESOLVE_IN_ROOT
    | RESOLVE_CACHED;
const RESOLVE_SCOPED: u64 = RESOLVE_BENEATH | RESOLVE_IN_ROOT;

/// How to treat the last component.
#[derive(Clone, Copy, Debug, Default)]
pub struct WalkFlags {
    /// Follow a symlink in the last component.
    pub follow: bool,
    /// An empty path names the starting directory (AT_EMPTY_PATH).
    pub empty_ok: bool,
}

/// The last component of a path, as Linux classifies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Last {
    /// An ordinary name.
    Name(Vec<u8>),
    /// `.`
    Dot,
    /// `..`
    DotDot,
    /// No component at all: the path was `/` (or only slashes).
    Root,
}

/// A path resolved up to its last component.
#[derive(Clone)]
pub struct Parent {
    /// The directory the last component is in (a searchable directory,
    /// unless `last` is [`Last::Root`]).
    pub dir: Location,
    /// The last component.
    pub last: Last,
    /// The path ended in `/`.
    pub trailing: bool,
}

impl Parent {
    /// The last component's name, if it is an ordinary one.
    pub fn name(&self) -> Option<&[u8]> {
        match &self.last {
            Last::Name(n) => Some(n),
            _ => None,
        }
    }
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
    resolve_with(task, dirfd, path, flags, 0)
}

/// Resolves `path` relative to `dirfd` under openat2's `RESOLVE_*` flags.
/// An empty path with `empty_ok` names `dirfd` itself; `EBADF` if that fd
/// has no location (a pipe, a runtime-provided stdio file).
pub fn resolve_with(
    task: &Task,
    dirfd: i32,
    path: &[u8],
    flags: WalkFlags,
    resolve: u64,
) -> Result<Location, Errno> {
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
    let mut w = Walker::new(task, dirfd, path, resolve)?;
    let p = w.walk_from_start(path)?;
    Ok(w.finish(p, flags.follow)?.0)
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
    let mut w = Walker::new(task, dirfd, path, 0)?;
    let p = w.walk_from_start(path)?;
    match p.last {
        Last::Name(n) => Ok((p.dir, Some(n), p.trailing)),
        Last::DotDot => {
            let up = w.dotdot(p.dir)?;
            Ok((up, None, p.trailing))
        }
        Last::Dot | Last::Root => Ok((p.dir, None, p.trailing)),
    }
}

/// Resolves all but the last component of `path`, keeping the kind of the
/// last component (the `*at` calls that create or remove names need it to
/// answer as Linux does for `.`, `..` and `/`).
pub fn resolve_last(task: &Task, dirfd: i32, path: &[u8]) -> Result<Parent, Errno> {
    let mut w = Walker::new(task, dirfd, path, 0)?;
    w.walk_from_start(path)
}

/// Looks up one real component under `dir`, crossing into mounts.
pub fn step(task: &Task, dir: &Location, name: &[u8]) -> Result<Location, Errno> {
    if !is_dir(dir)? {
        return Err(Errno::ENOTDIR);
    }
    let dentry = dir.dentry.child(task, name)?;
    let loc = Location {
        mount: dir.mount.clone(),
        dentry,
    };
    Ok(cross_mounts(task, loc))
}

/// The location after every mount stacked on `loc` (in the namespace of
/// `loc`'s mount).
pub fn cross_mounts(_task: &Task, mut loc: Location) -> Location {
    while let Some(m) = loc.mount.child_at(&loc.dentry) {
        loc = Location {
            dentry: m.root.clone(),
            mount: m,
        };
    }
    loc
}

/// What following a symlink once gave.
pub(crate) enum Followed {
    /// A magic link's location.
    Jump(Location),
    /// A symlink's text, walked up to its last component.
    Path(Parent),
}

/// One path walk: the root it is confined to, its `RESOLVE_*` flags and
/// the symlink budget shared by every nested walk.
pub(crate) struct Walker<'a> {
    task: &'a Task,
    root: Location,
    start: Location,
    resolve: u64,
    budget: u32,
}

impl<'a> Walker<'a> {
    /// A walk of `path` relative to `dirfd`. Checks the path's length and,
    /// for a relative path, that `dirfd` is a directory.
    pub(crate) fn new(
        task: &'a Task,
        dirfd: i32,
        path: &[u8],
        resolve: u64,
    ) -> Result<Walker<'a>, Errno> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        if path.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let scoped = resolve & RESOLVE_SCOPED != 0;
        let absolute = path[0] == b'/';
        let (root, start) = if scoped {
            let d = start_dir(task, dirfd)?;
            if !is_dir(&d)? {
                return Err(Errno::ENOTDIR);
            }
            if absolute && resolve & RESOLVE_BENEATH != 0 {
                return Err(Errno::EXDEV);
            }
            (d.clone(), d)
        } else {
            let root = task.fs.lock().root.clone();
            if absolute {
                (root.clone(), root)
            } else {
                // Not a directory: the first lookup answers ENOTDIR.
                (root, start_dir(task, dirfd)?)
            }
        };
        Ok(Walker {
            task,
            root,
            start,
            resolve,
            budget: MAX_SYMLINKS,
        })
    }

    /// Walks `path` (the one given to [`Walker::new`]) from its start.
    pub(crate) fn walk_from_start(&mut self, path: &[u8]) -> Result<Parent, Errno> {
        let start = if path.first() == Some(&b'/') {
            self.root.clone()
        } else {
            self.start.clone()
        };
        self.walk(start, None, path)
    }

    /// Walks every component of `path` but the last from `cur` (whose
    /// attributes are `cur_attr` if known), checking that the directory
    /// holding the last one is a searchable directory.
    fn walk(
        &mut self,
        mut cur: Location,
        mut cur_attr: Option<InodeAttr>,
        path: &[u8],
    ) -> Result<Parent, Errno> {
        let mut rest = path;
        loop {
            while let [b'/', tail @ ..] = rest {
                rest = tail;
            }
            if rest.is_empty() {
                // Only slashes (or nothing) were left: the path named `cur`.
                return Ok(Parent {
                    dir: cur,
                    last: Last::Root,
                    trailing: false,
                });
            }
            let len = rest.iter().position(|&c| c == b'/').unwrap_or(rest.len());
            let (comp, tail) = rest.split_at(len);
            rest = tail;
            if comp.len() > NAME_MAX {
                return Err(Errno::ENAMETOOLONG);
            }
            self.may_lookup(&cur, cur_attr.take())?;
            let is_last = rest.iter().all(|&c| c == b'/');
            if is_last {
                let last = match comp {
                    b"." => Last::Dot,
                    b".." => Last::DotDot,
                    name => Last::Name(name.to_vec()),
                };
                return Ok(Parent {
                    dir: cur,
                    last,
                    trailing: !rest.is_empty(),
                });
            }
            match comp {
                b"." => {}
                b".." => cur = self.dotdot(cur)?,
                name => {
                    let next = self.step(&cur, name)?;
                    let (loc, attr) = self.follow(&cur, next, None)?;
                    cur = loc;
                    cur_attr = Some(attr);
                }
            }
        }
    }

    /// Resolves the last component of `p`, following a final symlink if
    /// `follow` (always with a trailing slash). Returns the location and
    /// its attributes.
    pub(crate) fn finish(
        &mut self,
        p: Parent,
        follow: bool,
    ) -> Result<(Location, InodeAttr), Errno> {
        let (loc, attr) = match p.last {
            Last::Root | Last::Dot => {
                let a = p.dir.inode().attr()?;
                (p.dir, a)
            }
            Last::DotDot => {
                let up = self.dotdot(p.dir)?;
                let a = up.inode().attr()?;
                (up, a)
            }
            Last::Name(name) => {
                let loc = self.step(&p.dir, &name)?;
                if follow || p.trailing {
                    self.follow(&p.dir, loc, None)?
                } else {
                    let a = loc.inode().attr()?;
                    (loc, a)
                }
            }
        };
        if p.trailing && attr.file_type() != Some(FileType::Directory) {
            return Err(Errno::ENOTDIR);
        }
        Ok((loc, attr))
    }

    /// Search permission on a directory about to be looked in, as
    /// Linux's may_lookup (`ENOTDIR` if it is not a directory).
    fn may_lookup(&self, dir: &Location, attr: Option<InodeAttr>) -> Result<(), Errno> {
        let attr = match attr {
            Some(a) => a,
            None => dir.inode().attr()?,
        };
        if attr.file_type() != Some(FileType::Directory) {
            return Err(Errno::ENOTDIR);
        }
        if crate::vfs::perm::may_access(&self.task.creds, &attr, veil_abi::flags::X_OK) {
            Ok(())
        } else {
            Err(Errno::EACCES)
        }
    }

    /// Looks up `name` in the directory `dir` (already checked), crossing
    /// into mounts.
    pub(crate) fn step(&self, dir: &Location, name: &[u8]) -> Result<Location, Errno> {
        let dentry = dir.dentry.child(self.task, name)?;
        let loc = Location {
            mount: dir.mount.clone(),
            dentry,
        };
        self.enter_mounts(loc)
    }

    fn enter_mounts(&self, loc: Location) -> Result<Location, Errno> {
        let crossed = cross_mounts(self.task, loc.clone());
        if self.resolve & RESOLVE_NO_XDEV != 0 && !Arc::ptr_eq(&crossed.mount, &loc.mount) {
            return Err(Errno::EXDEV);
        }
        Ok(crossed)
    }

    /// `..` from `cur`: stays at the walk's root (`EXDEV` under
    /// RESOLVE_BENEATH), climbs out of a mount to its mountpoint; at the
    /// top of the tree it stays, on the mount stacked there (the hidden
    /// rootfs is never entered), as Linux's follow_dotdot.
    pub(crate) fn dotdot(&self, mut cur: Location) -> Result<Location, Errno> {
        loop {
            if cur.same(&self.root) {
                if self.resolve & RESOLVE_BENEATH != 0 {
                    return Err(Errno::EXDEV);
                }
                return Ok(cur);
            }
            if Arc::ptr_eq(&cur.dentry, &cur.mount.root) {
                match cur.mount.parent() {
                    Some(p) => {
                        if self.resolve & RESOLVE_NO_XDEV != 0 {
                            return Err(Errno::EXDEV);
                        }
                        cur = p;
                        continue;
                    }
                    None => return self.enter_mounts(cur),
                }
            }
            return match cur.dentry.parent() {
                Some(p) => self.enter_mounts(Location {
                    mount: cur.mount.clone(),
                    dentry: p,
                }),
                None => Ok(cur),
            };
        }
    }

    /// Follows `loc` (found in `dir`) while it is a symlink; returns the
    /// final location and its attributes.
    pub(crate) fn follow(
        &mut self,
        dir: &Location,
        mut loc: Location,
        attr: Option<InodeAttr>,
    ) -> Result<(Location, InodeAttr), Errno> {
        let mut attr = match attr {
            Some(a) => a,
            None => loc.inode().attr()?,
        };
        let mut dir = dir.clone();
        let mut must_be_dir = false;
        loop {
            if attr.file_type() != Some(FileType::Symlink) {
                if must_be_dir && attr.file_type() != Some(FileType::Directory) {
                    return Err(Errno::ENOTDIR);
                }
                return Ok((loc, attr));
            }
            match self.follow_once(&dir, &loc)? {
                Followed::Jump(to) => {
                    // A magic link lands on an object, not a name: what it
                    // names is the result, even a symlink (an O_PATH fd).
                    let a = to.inode().attr()?;
                    if must_be_dir && a.file_type() != Some(FileType::Directory) {
                        return Err(Errno::ENOTDIR);
                    }
                    return Ok((to, a));
                }
                Followed::Path(p) => {
                    must_be_dir |= p.trailing;
                    match p.last {
                        Last::Root | Last::Dot => {
                            attr = p.dir.inode().attr()?;
                            loc = p.dir.clone();
                            dir = p.dir;
                        }
                        Last::DotDot => {
                            loc = self.dotdot(p.dir)?;
                            attr = loc.inode().attr()?;
                            dir = loc.clone();
                        }
                        Last::Name(name) => {
                            loc = self.step(&p.dir, &name)?;
                            attr = loc.inode().attr()?;
                            dir = p.dir;
                        }
                    }
                }
            }
        }
    }

    /// Follows the symlink `link` (found in `dir`) once, charging the
    /// budget: a magic link gives its location, an ordinary one its text
    /// walked up to the last component.
    pub(crate) fn follow_once(
        &mut self,
        dir: &Location,
        link: &Location,
    ) -> Result<Followed, Errno> {
        if self.resolve & RESOLVE_NO_SYMLINKS != 0 {
            return Err(Errno::ELOOP);
        }
        if self.budget == 0 {
            return Err(Errno::ELOOP);
        }
        self.budget -= 1;
        if let Some(target) = link.inode().magic_link(self.task) {
            if self.resolve & RESOLVE_NO_MAGICLINKS != 0 {
                return Err(Errno::ELOOP);
            }
            let target = target?;
            if self.resolve & RESOLVE_NO_XDEV != 0 && !Arc::ptr_eq(&target.mount, &link.mount) {
                return Err(Errno::EXDEV);
            }
            if self.resolve & RESOLVE_SCOPED != 0 {
                return Err(Errno::EXDEV);
            }
            return Ok(Followed::Jump(target));
        }
        let text = link.inode().readlink(self.task)?;
        if text.is_empty() {
            return Err(Errno::ENOENT);
        }
        if text.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let base = if text[0] == b'/' {
            if self.resolve & RESOLVE_BENEATH != 0 {
                return Err(Errno::EXDEV);
            }
            if self.resolve & RESOLVE_NO_XDEV != 0 && !Arc::ptr_eq(&self.root.mount, &dir.mount) {
                return Err(Errno::EXDEV);
            }
            self.root.clone()
        } else {
            dir.clone()
        };
        Ok(Followed::Path(self.walk(base, None, &text)?))
    }
}

fn is_dir(loc: &Location) -> Result<bool, Errno> {
    Ok(loc.inode().attr()?.file_type() == Some(FileType::Directory))
}
