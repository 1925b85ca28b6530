//! Mounts and the mount namespace.
//!
//! A [`Mount`] puts a filesystem's root dentry at a [`Location`]; later
//! mounts at the same place cover earlier ones, as in Linux. A read-only
//! mount answers `EROFS` to every change made through it (checked by the
//! VFS before calling the filesystem). Left out: bind mounts of subtrees,
//! propagation, unmount.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::RwLock;

use super::{Dentry, Location};

/// A filesystem mounted at a place in the tree.
pub struct Mount {
    /// Unique id (as in /proc/self/mountinfo).
    pub id: u32,
    /// The root of the mounted filesystem.
    pub root: Arc<Dentry>,
    /// Where it is mounted; `None` for the namespace root.
    pub mountpoint: Option<Location>,
    /// Filesystem type name (`tmpfs`, `overlay`, `proc`, ...).
    pub fs_type: String,
    /// Source shown in /proc/mounts.
    pub source: String,
    /// Mounted read-only.
    pub read_only: bool,
}

impl Mount {
    /// The location this mount covers, if it is not the namespace root.
    pub fn parent(&self) -> Option<Location> {
        self.mountpoint.clone()
    }

    /// `EROFS` if the mount is read-only.
    pub fn check_writable(&self) -> Result<(), veil_abi::Errno> {
        if self.read_only {
            Err(veil_abi::Errno::EROFS)
        } else {
            Ok(())
        }
    }
}

/// The mount tree of a sandbox.
pub struct MountNamespace {
    mounts: RwLock<Vec<Arc<Mount>>>,
    root: Arc<Mount>,
}

impl MountNamespace {
    /// A namespace whose root is `root_fs` mounted as `fs_type`.
    pub fn new(root_fs: Arc<Dentry>, fs_type: &str, source: &str) -> Arc<MountNamespace> {
        let root = Arc::new(Mount {
            id: 1,
            root: root_fs,
            mountpoint: None,
            fs_type: fs_type.into(),
            source: source.into(),
            read_only: false,
        });
        Arc::new(MountNamespace {
            mounts: RwLock::new(alloc::vec![root.clone()]),
            root,
        })
    }

    /// The root location.
    pub fn root(&self) -> Location {
        Location {
            mount: self.root.clone(),
            dentry: self.root.root.clone(),
        }
    }

    /// Mounts `fs_root` at `at`; later mounts at the same place cover
    /// earlier ones.
    pub fn mount(
        &self,
        at: &Location,
        fs_root: Arc<Dentry>,
        fs_type: &str,
        source: &str,
    ) -> Arc<Mount> {
        self.mount_with(at, fs_root, fs_type, source, false)
    }

    /// Mounts `fs_root` at `at`, read-only if `read_only`.
    pub fn mount_with(
        &self,
        at: &Location,
        fs_root: Arc<Dentry>,
        fs_type: &str,
        source: &str,
        read_only: bool,
    ) -> Arc<Mount> {
        let mut mounts = self.mounts.write();
        let id = mounts.iter().map(|m| m.id).max().unwrap_or(0) + 1;
        let m = Arc::new(Mount {
            id,
            root: fs_root,
            mountpoint: Some(at.clone()),
            fs_type: fs_type.into(),
            source: source.into(),
            read_only,
        });
        mounts.push(m.clone());
        m
    }

    /// The mount covering `at`, if any (the most recent one).
    pub fn mounted_at(&self, at: &Location) -> Option<Arc<Mount>> {
        let mounts = self.mounts.read();
        if mounts.len() == 1 {
            return None;
        }
        mounts
            .iter()
            .rev()
            .find(|m| m.mountpoint.as_ref().is_some_and(|p| p.same(at)))
            .cloned()
    }

    /// True if something is mounted on `at` (rmdir, unlink and rename
    /// answer `EBUSY` there).
    pub fn is_mountpoint(&self, at: &Location) -> bool {
        self.mounted_at(at).is_some()
    }

    /// All mounts, in mount order.
    pub fn all(&self) -> Vec<Arc<Mount>> {
        self.mounts.read().clone()
    }
}

impl Drop for MountNamespace {
    /// Breaks the dentry caches' parent/child cycles (see
    /// [`Dentry::forget_all`]) so the trees are freed with the namespace.
    fn drop(&mut self) {
        for m in self.mounts.get_mut().iter() {
            m.root.forget_all();
        }
    }
}
