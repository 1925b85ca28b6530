//! Mounts and the mount namespace.

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
        let mut mounts = self.mounts.write();
        let id = mounts.iter().map(|m| m.id).max().unwrap_or(0) + 1;
        let m = Arc::new(Mount {
            id,
            root: fs_root,
            mountpoint: Some(at.clone()),
            fs_type: fs_type.into(),
            source: source.into(),
            read_only: false,
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

    /// All mounts, in mount order.
    pub fn all(&self) -> Vec<Arc<Mount>> {
        self.mounts.read().clone()
    }
}
