//! Small helpers shared by the filesystems: poison-free locks, device
//! number allocation, name validation, the refusals of a directory no one
//! may change.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use veil_abi::Errno;
use veil_core::vfs::FileType;

/// A mutex whose lock never fails: a panic while holding it (which would
/// be a Sentry bug) does not poison it for everyone else.
#[derive(Default)]
pub(crate) struct Lock<T>(Mutex<T>);

impl<T> Lock<T> {
    pub(crate) fn new(v: T) -> Lock<T> {
        Lock(Mutex::new(v))
    }
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A reader-writer lock that never fails (see [`Lock`]).
#[derive(Default)]
pub(crate) struct RwLk<T>(RwLock<T>);

impl<T> RwLk<T> {
    pub(crate) fn new(v: T) -> RwLk<T> {
        RwLk(RwLock::new(v))
    }
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The next anonymous device minor (major 0, as Linux's `get_anon_bdev`).
static NEXT_ANON_MINOR: AtomicU32 = AtomicU32::new(0x20);

/// Allocates a fresh device number (major 0) for a filesystem instance, so
/// that every instance has its own `st_dev` as on Linux.
pub fn alloc_dev() -> u64 {
    let minor = NEXT_ANON_MINOR.fetch_add(1, Ordering::Relaxed);
    veil_abi::makedev(0, minor)
}

/// Checks a single path component given to a directory operation: not
/// empty, not `.` or `..`, no `/` or NUL, at most `NAME_MAX` bytes.
pub(crate) fn check_name(name: &[u8]) -> Result<(), Errno> {
    if name.is_empty() {
        return Err(Errno::ENOENT);
    }
    if name.len() > veil_abi::flags::NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if name == b"." || name == b".." || name.iter().any(|&c| c == b'/' || c == 0) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Checks a name for a node about to be created: `.` and `..` exist
/// already (`EEXIST`), otherwise as [`check_name`].
pub(crate) fn check_new_name(name: &[u8]) -> Result<(), Errno> {
    if name == b"." || name == b".." {
        return Err(Errno::EEXIST);
    }
    check_name(name)
}

/// True if the access mode or `O_TRUNC` of open `flags` asks for writing.
pub(crate) fn wants_write(flags: u32) -> bool {
    use veil_abi::flags::{O_ACCMODE, O_RDONLY, O_TRUNC};
    flags & O_ACCMODE != O_RDONLY || flags & O_TRUNC != 0
}

/// Reads from a file whose whole text was made at open (procfs, sysfs):
/// the bytes of `data` at `offset` into `buf`; 0 at or past the end.
pub(crate) fn read_snapshot(data: &[u8], buf: &mut [u8], offset: u64) -> usize {
    let Ok(off) = usize::try_from(offset) else {
        return 0;
    };
    let Some(rest) = data.get(off..) else {
        return 0;
    };
    let n = buf.len().min(rest.len());
    buf[..n].copy_from_slice(&rest[..n]);
    n
}

/// A change asked of a directory whose entries no one may change (see
/// [`refuse_dir_changes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DirChange<'a> {
    /// mknod (with its type), mkdir, symlink or link (`None`) of `name`.
    Create(&'a [u8], Option<FileType>),
    /// unlink, rmdir or rename.
    Remove,
}

impl DirChange<'_> {
    /// Linux's answer for a directory inode without the operation: no
    /// `->create` is `EACCES` (vfs_create), every other missing one
    /// `EPERM` (vfs_mknod, vfs_mkdir, vfs_unlink, ...).
    pub(crate) fn errno(self) -> Errno {
        match self {
            DirChange::Create(_, Some(FileType::Regular)) => Errno::EACCES,
            _ => Errno::EPERM,
        }
    }
}

/// The seven [`Inode`](veil_core::vfs::Inode) methods that change a
/// directory's entries (mknod, mkdir, symlink, link, unlink, rmdir,
/// rename), for an inode that allows none of them: each fails with
/// `$refuse(self, change)`, a `fn(&Self, DirChange) -> Errno`. Used inside
/// an `impl Inode` block; the names `FileType`, `InodeRef`, `Owner` and
/// `Errno` must be in scope.
macro_rules! refuse_dir_changes {
    ($refuse:expr) => {
        fn mknod(
            &self,
            name: &[u8],
            kind: FileType,
            _mode: u32,
            _rdev: u64,
            _owner: Owner,
        ) -> Result<InodeRef, Errno> {
            let change = $crate::util::DirChange::Create(name, Some(kind));
            Err($refuse(self, change))
        }
        fn mkdir(&self, name: &[u8], _mode: u32, _owner: Owner) -> Result<InodeRef, Errno> {
            let change = $crate::util::DirChange::Create(name, Some(FileType::Directory));
            Err($refuse(self, change))
        }
        fn symlink(&self, name: &[u8], _target: &[u8], _owner: Owner) -> Result<InodeRef, Errno> {
            let change = $crate::util::DirChange::Create(name, Some(FileType::Symlink));
            Err($refuse(self, change))
        }
        fn link(&self, name: &[u8], _target: &InodeRef) -> Result<(), Errno> {
            Err($refuse(self, $crate::util::DirChange::Create(name, None)))
        }
        fn unlink(&self, _name: &[u8]) -> Result<(), Errno> {
            Err($refuse(self, $crate::util::DirChange::Remove))
        }
        fn rmdir(&self, _name: &[u8]) -> Result<(), Errno> {
            Err($refuse(self, $crate::util::DirChange::Remove))
        }
        fn rename(
            &self,
            _old_name: &[u8],
            _new_dir: &InodeRef,
            _new_name: &[u8],
            _flags: u32,
        ) -> Result<(), Errno> {
            Err($refuse(self, $crate::util::DirChange::Remove))
        }
    };
}
pub(crate) use refuse_dir_changes;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(check_name(b"a"), Ok(()));
        assert_eq!(check_name(b""), Err(Errno::ENOENT));
        assert_eq!(check_name(b".."), Err(Errno::EINVAL));
        assert_eq!(check_name(b"."), Err(Errno::EINVAL));
        assert_eq!(check_name(b"a/b"), Err(Errno::EINVAL));
        assert_eq!(check_name(b"a\0b"), Err(Errno::EINVAL));
        assert_eq!(check_name(&[b'x'; 256]), Err(Errno::ENAMETOOLONG));
        assert_eq!(check_new_name(b".."), Err(Errno::EEXIST));
    }

    #[test]
    fn devs_are_unique() {
        assert_ne!(alloc_dev(), alloc_dev());
    }
}
