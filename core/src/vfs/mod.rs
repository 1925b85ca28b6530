//! The virtual filesystem: mounts, dentries, open file descriptions and fd
//! tables, and the path walk that ties them together.
//!
//! A [`Location`] is a (mount, dentry) pair: a place in the mount tree.
//! Dentries keep their parent, so `..` and getcwd need no re-walk; a
//! dentry caches the children it has looked up. Filesystems plug in through
//! [`node::Inode`] and [`node::FileOps`].

pub mod dir;
pub mod epoll;
pub mod eventfd;
pub mod fasync;
pub mod fd;
pub mod fifo;
pub mod file;
pub mod inotify;
pub mod lock;
pub mod mount;
pub mod node;
pub mod nsfs;
pub mod open;
pub mod pagestore;
pub mod pathops;
pub mod perm;
pub mod pipe;
pub mod shmem;
pub mod signalfd;
pub mod waitq;
pub mod walk;

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;

pub use fd::{FdEntry, FdTable};
pub use file::OpenFile;
pub use mount::{Mount, MountNamespace};
pub use node::{DirEntry, FileOps, FileType, Inode, InodeAttr, InodeRef, Owner, SetAttr};

/// A name in a directory, bound to an inode.
pub struct Dentry {
    /// The inode.
    pub inode: InodeRef,
    /// The name in its parent and the parent itself; `None` for a
    /// filesystem root. Changes on rename.
    link: Mutex<Option<(Vec<u8>, Arc<Dentry>)>>,
    /// Children looked up so far.
    children: Mutex<BTreeMap<Vec<u8>, Arc<Dentry>>>,
}

impl Dentry {
    /// A root dentry for `inode`.
    pub fn new_root(inode: InodeRef) -> Arc<Dentry> {
        Arc::new(Dentry {
            inode,
            link: Mutex::new(None),
            children: Mutex::new(BTreeMap::new()),
        })
    }

    /// A dentry for `inode` named `name` in `parent` (not cached).
    pub fn new_child(parent: &Arc<Dentry>, name: &[u8], inode: InodeRef) -> Arc<Dentry> {
        Arc::new(Dentry {
            inode,
            link: Mutex::new(Some((name.to_vec(), parent.clone()))),
            children: Mutex::new(BTreeMap::new()),
        })
    }

    /// The parent dentry, `None` at a filesystem root.
    pub fn parent(&self) -> Option<Arc<Dentry>> {
        self.link.lock().as_ref().map(|(_, p)| p.clone())
    }

    /// The name in the parent (empty at a root).
    pub fn name(&self) -> Vec<u8> {
        self.link
            .lock()
            .as_ref()
            .map(|(n, _)| n.clone())
            .unwrap_or_default()
    }

    /// Looks up `name` (a single component, not `.` or `..`), through the
    /// cache.
    pub fn child(
        self: &Arc<Dentry>,
        cx: &crate::task::Task,
        name: &[u8],
    ) -> Result<Arc<Dentry>, veil_abi::Errno> {
        let cache = self.inode.cacheable();
        if cache {
            if let Some(d) = self.children.lock().get(name) {
                return Ok(d.clone());
            }
        }
        let inode = self.inode.lookup(cx, name)?;
        let d = Dentry::new_child(self, name, inode);
        if cache {
            self.children.lock().insert(name.to_vec(), d.clone());
        }
        Ok(d)
    }

    /// Drops `name` from the child cache (after unlink, rmdir, rename).
    pub fn forget(&self, name: &[u8]) {
        self.children.lock().remove(name);
    }

    /// Moves this dentry under `parent` as `name` (after rename).
    pub fn relink(&self, name: &[u8], parent: &Arc<Dentry>) {
        *self.link.lock() = Some((name.to_vec(), parent.clone()));
    }

    /// Caches `child` as `name`.
    pub fn remember(&self, name: &[u8], child: Arc<Dentry>) {
        self.children.lock().insert(name.to_vec(), child);
    }

    /// Empties the child cache of this dentry and of every cached dentry
    /// below it. A child holds its parent, so the cache makes reference
    /// cycles: without this, a dropped mount namespace would keep its
    /// whole looked-up tree (dentries and inodes) alive.
    pub fn forget_all(&self) {
        let mut stack: Vec<Arc<Dentry>> = core::mem::take(&mut *self.children.lock())
            .into_values()
            .collect();
        while let Some(d) = stack.pop() {
            stack.extend(core::mem::take(&mut *d.children.lock()).into_values());
        }
    }
}

/// A place in the mount tree.
#[derive(Clone)]
pub struct Location {
    /// The mount.
    pub mount: Arc<Mount>,
    /// The dentry within the mount's filesystem.
    pub dentry: Arc<Dentry>,
}

impl Location {
    /// The inode.
    pub fn inode(&self) -> &InodeRef {
        &self.dentry.inode
    }

    /// True if both name the same place.
    pub fn same(&self, other: &Location) -> bool {
        Arc::ptr_eq(&self.mount, &other.mount) && Arc::ptr_eq(&self.dentry, &other.dentry)
    }

    /// The absolute path of this location as seen from `root`, as getcwd
    /// and /proc/self/fd show it. A location not under `root` is shown
    /// from the mount-tree root.
    pub fn path_from(&self, root: &Location) -> Vec<u8> {
        let mut parts: Vec<Vec<u8>> = Vec::new();
        let mut cur = self.clone();
        loop {
            if cur.same(root) {
                break;
            }
            if Arc::ptr_eq(&cur.dentry, &cur.mount.root) {
                match cur.mount.parent() {
                    Some(up) => {
                        cur = up;
                        continue;
                    }
                    None => break,
                }
            }
            match cur.dentry.parent() {
                Some(p) => {
                    parts.push(cur.dentry.name());
                    cur.dentry = p;
                }
                None => break,
            }
        }
        mount::join_path(&parts)
    }
}

/// Per-task filesystem context (shared by CLONE_FS): root, cwd, umask.
pub struct FsContext {
    /// Root directory (chroot).
    pub root: Location,
    /// Current directory.
    pub cwd: Location,
    /// File-creation mask.
    pub umask: u32,
}
