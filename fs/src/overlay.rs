//! overlay: a writable tmpfs upper layer over a read-only lower layer.
//!
//! This is what `veil do` mounts as `/`: the host's root (hostfs) below, an
//! in-memory tmpfs above, so that every write stays in memory and never
//! reaches the host.
//!
//! - Lookups merge the layers: an upper entry wins; a whiteout hides a
//!   lower entry; an upper directory that is not opaque merges with the
//!   lower directory of the same name. A directory created where a lower
//!   entry was removed is opaque (its lower namesake is not merged).
//! - readdir lists upper entries first, then lower entries that are
//!   neither in the upper directory nor whited out. Cookies below 2^62 are
//!   upper cookies; lower cookies have bit 62 set.
//! - Copy-up: a lower regular file is copied (data and attributes) into the
//!   upper layer when opened for writing or with `O_TRUNC`, truncated, or
//!   has its attributes changed; a lower directory when something is
//!   created, removed or renamed in it (and its ancestors with it); a
//!   symlink or special file when its attributes change or it is renamed.
//! - unlink / rmdir of a lower entry leave a whiteout. Whiteouts and
//!   opaque marks are overlay metadata kept in memory (keyed by the upper
//!   directory), never files, and never on the host.
//! - O_TMPFILE files live in the upper layer (their directory copied up).
//! - mmap: a file with an upper part opens as the upper tmpfs file, so a
//!   `MAP_SHARED` mapping maps its pages (coherent with read / write and
//!   every other mapping); opening for writing copies up first. A file
//!   still only in the lower layer opens read-only as the lower file, and
//!   its mappings are copies: as Linux overlayfs documents, such a
//!   read-only mapping does not see changes made after another
//!   description copies the file up and writes it.
//! - The upper layer's file pages come from the kernel's memory file: the
//!   first lookup or open by a task binds the upper tmpfs to its kernel.
//! - Renaming a directory that has a lower part answers `EXDEV`, as Linux
//!   overlayfs does without `redirect_dir`; `mv` then copies.
//! - All objects report the overlay's own `st_dev`; inode numbers are those
//!   of the layer the object came from (xino-style: the lower root's
//!   filesystem keeps its numbers, other lower filesystems and the upper
//!   layer get distinct high bits), and stay the same across copy-up.
//!
//! The lower layer is any [`LowerNode`]: an inode that answers lookups,
//! opens and readlink without a task, since copy-up happens in calls
//! (`set_attr`, `unlink`) that have none. [`HostInode`](crate::hostfs::HostInode)
//! and [`TmpInode`] implement it.
//!
//! Concurrency: all changes hold one overlay-wide lock; lookups and reads
//! do not, so a lookup racing a rename in another thread may briefly see
//! either side of it.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, MutexGuard, Weak};

use veil_abi::flags::{O_ACCMODE, O_RDONLY, O_TRUNC, RENAME_EXCHANGE, RENAME_NOREPLACE};
use veil_abi::{Errno, Statfs};
use veil_core::task::Task;
use veil_core::vfs::{
    Dentry, DirEntry, FileOps, FileType, Inode, InodeAttr, InodeRef, Owner, SetAttr,
};

use crate::tmpfs::{TmpFs, TmpInode};
use crate::util::{alloc_dev, check_name, check_new_name, wants_write, Lock};

/// `OVERLAYFS_SUPER_MAGIC` for statfs.
pub const OVERLAYFS_MAGIC: i64 = 0x794c_7630;

/// Bit 62 marks a lower-layer readdir cookie.
const LOWER_COOKIE: u64 = 1 << 62;
/// Inode-number bits below the layer index (xino).
const XINO_SHIFT: u32 = 48;
const XINO_MASK: u64 = (1 << XINO_SHIFT) - 1;
/// Layer index of the upper layer.
const UPPER_INDEX: u64 = 1;

/// A read-only layer usable below an overlay: lookups, opens and readlink
/// that need no task.
pub trait LowerNode: Inode {
    /// Finds `name` in this directory.
    fn lower_lookup(&self, name: &[u8]) -> Result<Arc<dyn LowerNode>, Errno>;
    /// Opens this regular file for reading.
    fn lower_open(&self) -> Result<Arc<dyn FileOps>, Errno>;
    /// The target of this symlink.
    fn lower_readlink(&self) -> Result<Vec<u8>, Errno>;
    /// As a plain inode.
    fn into_inode(self: Arc<Self>) -> InodeRef;
}

impl LowerNode for TmpInode {
    fn lower_lookup(&self, name: &[u8]) -> Result<Arc<dyn LowerNode>, Errno> {
        Ok(self.get(name)?)
    }

    fn lower_open(&self) -> Result<Arc<dyn FileOps>, Errno> {
        self.me()?.open_file(O_RDONLY)
    }

    fn lower_readlink(&self) -> Result<Vec<u8>, Errno> {
        self.target()
    }

    fn into_inode(self: Arc<Self>) -> InodeRef {
        self
    }
}

/// Overlay metadata about one upper inode.
#[derive(Default)]
struct UpperMeta {
    /// The (mapped) inode number of the lower object it was copied from.
    origin: Option<u64>,
    /// For directories: lower namesakes are not merged.
    opaque: bool,
    /// For directories: lower names hidden.
    whiteouts: BTreeSet<Vec<u8>>,
}

struct Shared {
    dev: u64,
    upper_fs: TmpFs,
    /// The lower layer's root (for statfs).
    lower_root: Arc<dyn LowerNode>,
    /// Serialises every change to the overlay.
    ns: Lock<()>,
    /// Bumped whenever `ns` is taken for a change: cached directory link
    /// counts older than it are recomputed.
    gen: std::sync::atomic::AtomicU64,
    /// Keyed by upper inode number.
    meta: Lock<HashMap<u64, UpperMeta>>,
    /// Lower `st_dev` -> layer index (xino).
    lower_devs: Lock<HashMap<u64, u64>>,
}

impl Shared {
    /// Takes the change lock; every change invalidates cached link counts.
    fn lock_ns(&self) -> NsGuard<'_> {
        let g = self.ns.lock();
        self.gen.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        g
    }

    fn map_lower(&self, dev: u64, ino: u64) -> u64 {
        let idx = {
            let mut m = self.lower_devs.lock();
            let next = m.len() as u64 + 1; // 0 is the root's, 1 the upper's
            *m.entry(dev).or_insert(if next == 1 { 0 } else { next })
        };
        if idx == 0 {
            ino
        } else {
            (idx << XINO_SHIFT) | (ino & XINO_MASK)
        }
    }

    fn map_upper(&self, ino: u64) -> u64 {
        match self.meta.lock().get(&ino).and_then(|m| m.origin) {
            Some(o) => o,
            None => (UPPER_INDEX << XINO_SHIFT) | (ino & XINO_MASK),
        }
    }

    fn is_whiteout(&self, dir_ino: u64, name: &[u8]) -> bool {
        self.meta
            .lock()
            .get(&dir_ino)
            .is_some_and(|m| m.whiteouts.contains(name))
    }

    fn is_opaque(&self, dir_ino: u64) -> bool {
        self.meta.lock().get(&dir_ino).is_some_and(|m| m.opaque)
    }

    fn add_whiteout(&self, dir_ino: u64, name: &[u8]) {
        self.meta
            .lock()
            .entry(dir_ino)
            .or_default()
            .whiteouts
            .insert(name.to_vec());
    }

    fn remove_whiteout(&self, dir_ino: u64, name: &[u8]) -> bool {
        self.meta
            .lock()
            .get_mut(&dir_ino)
            .is_some_and(|m| m.whiteouts.remove(name))
    }

    fn set_opaque(&self, dir_ino: u64) {
        self.meta.lock().entry(dir_ino).or_default().opaque = true;
    }

    fn set_origin(&self, ino: u64, origin: u64) {
        self.meta.lock().entry(ino).or_default().origin = Some(origin);
    }

    /// Forgets an upper inode that is gone (no links left).
    fn forget_if_gone(&self, inode: &TmpInode) {
        if inode.attr().map(|a| a.nlink == 0).unwrap_or(true) {
            self.meta.lock().remove(&inode.ino());
        }
    }
}

/// An overlay filesystem instance.
pub struct Overlay {
    root: Arc<OvInode>,
}

impl Overlay {
    /// An overlay of `upper` (normally empty) over `lower`. The upper root
    /// takes the lower root's mode, owner and times.
    pub fn new(upper: TmpFs, lower: Arc<dyn LowerNode>) -> Result<Overlay, Errno> {
        Overlay::with_dev(upper, lower, alloc_dev())
    }

    /// [`Overlay::new`] reporting `dev` as every object's `st_dev`. `veil
    /// do` passes the host root's device number, so that files the sandbox
    /// has not changed stat exactly as on the host.
    pub fn with_dev(upper: TmpFs, lower: Arc<dyn LowerNode>, dev: u64) -> Result<Overlay, Errno> {
        let la = lower.attr()?;
        if la.file_type() != Some(FileType::Directory) {
            return Err(Errno::ENOTDIR);
        }
        let uroot = upper.root();
        uroot.set_attr_raw(&SetAttr {
            mode: Some(la.mode & 0o7777),
            uid: Some(la.uid),
            gid: Some(la.gid),
            atime: Some(la.atime),
            mtime: Some(la.mtime),
            ctime: Some(la.ctime),
            size: None,
        })?;
        let shared = Arc::new(Shared {
            dev,
            upper_fs: upper,
            lower_root: lower.clone(),
            ns: Lock::new(()),
            gen: std::sync::atomic::AtomicU64::new(1),
            meta: Lock::new(HashMap::new()),
            lower_devs: Lock::new(HashMap::new()),
        });
        let origin = shared.map_lower(la.dev, la.ino);
        shared.set_origin(uroot.ino(), origin);
        let root = OvInode::new(&shared, FileType::Directory, None, Some(uroot), Some(lower));
        Ok(Overlay { root })
    }

    /// The root directory.
    pub fn root(&self) -> Arc<OvInode> {
        self.root.clone()
    }

    /// The root as a VFS root dentry, ready to mount.
    pub fn root_dentry(&self) -> Arc<Dentry> {
        Dentry::new_root(self.root.clone())
    }

    /// The device number every object of this overlay reports.
    pub fn dev(&self) -> u64 {
        self.root.fs.dev
    }

    /// The upper layer.
    pub fn upper(&self) -> &TmpFs {
        &self.root.fs.upper_fs
    }
}

/// An overlay inode: an upper part, a lower part, or both (a merged
/// directory).
pub struct OvInode {
    fs: Arc<Shared>,
    this: Weak<OvInode>,
    kind: FileType,
    /// The parent and name this inode was looked up by (`None` for the
    /// root). Only inodes with a lower part use it (to copy up), and those
    /// are never renamed without being copied up first.
    link: Option<(Arc<OvInode>, Vec<u8>)>,
    upper: Lock<Option<Arc<TmpInode>>>,
    /// The lower part; `None` for upper-only and opaque directories.
    lower: Option<Arc<dyn LowerNode>>,
    /// For directories: the live inodes of children, so that a name has
    /// one inode while anyone holds it (core's dentry and the overlay's
    /// own copy-up must agree on it). Entries are dropped whenever the
    /// overlay changes that name.
    children: Lock<HashMap<Vec<u8>, Weak<OvInode>>>,
    /// For merged directories: (overlay generation, link count) last
    /// computed, so that a path walk does not list the directory each time.
    nlink_cache: Lock<(u64, u64)>,
}

type NsGuard<'a> = MutexGuard<'a, ()>;

impl OvInode {
    fn new(
        fs: &Arc<Shared>,
        kind: FileType,
        link: Option<(Arc<OvInode>, Vec<u8>)>,
        upper: Option<Arc<TmpInode>>,
        lower: Option<Arc<dyn LowerNode>>,
    ) -> Arc<OvInode> {
        Arc::new_cyclic(|this| OvInode {
            fs: fs.clone(),
            this: this.clone(),
            kind,
            link,
            upper: Lock::new(upper),
            lower,
            children: Lock::new(HashMap::new()),
            nlink_cache: Lock::new((0, 0)),
        })
    }

    fn me(&self) -> Result<Arc<OvInode>, Errno> {
        self.this.upgrade().ok_or(Errno::ENOENT)
    }

    fn upper(&self) -> Option<Arc<TmpInode>> {
        self.upper.lock().clone()
    }

    /// True if this object has a lower part (it came from, or merges with,
    /// the lower layer).
    fn has_lower(&self) -> bool {
        self.lower.is_some()
    }

    fn child(
        &self,
        name: &[u8],
        kind: FileType,
        upper: Option<Arc<TmpInode>>,
        lower: Option<Arc<dyn LowerNode>>,
    ) -> Result<Arc<OvInode>, Errno> {
        let c = OvInode::new(
            &self.fs,
            kind,
            Some((self.me()?, name.to_vec())),
            upper,
            lower,
        );
        self.remember(name, &c);
        Ok(c)
    }

    fn remember(&self, name: &[u8], c: &Arc<OvInode>) {
        let mut ch = self.children.lock();
        if ch.len() >= 256 && ch.len().is_power_of_two() {
            ch.retain(|_, w| w.strong_count() > 0);
        }
        ch.insert(name.to_vec(), Arc::downgrade(c));
    }

    fn cached(&self, name: &[u8]) -> Option<Arc<OvInode>> {
        self.children.lock().get(name).and_then(Weak::upgrade)
    }

    fn forget(&self, name: &[u8]) {
        self.children.lock().remove(name);
    }

    /// The merged lookup.
    fn find(&self, name: &[u8]) -> Result<Arc<OvInode>, Errno> {
        if self.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        check_name(name)?;
        if let Some(c) = self.cached(name) {
            return Ok(c);
        }
        if let Some(u) = self.upper() {
            match u.get(name) {
                Ok(cu) => {
                    let lower = if cu.kind() == FileType::Directory && !self.fs.is_opaque(cu.ino())
                    {
                        self.lower_dir_child(name)
                    } else {
                        None
                    };
                    return self.child(name, cu.kind(), Some(cu), lower);
                }
                Err(Errno::ENOENT) => {
                    if self.fs.is_whiteout(u.ino(), name) {
                        return Err(Errno::ENOENT);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        let lower = self.lower.as_ref().ok_or(Errno::ENOENT)?;
        let cl = lower.lower_lookup(name)?;
        let kind = cl.attr()?.file_type().ok_or(Errno::EIO)?;
        self.child(name, kind, None, Some(cl))
    }

    /// The lower directory `name` in this directory's lower part, if any.
    fn lower_dir_child(&self, name: &[u8]) -> Option<Arc<dyn LowerNode>> {
        let l = self.lower.as_ref()?.lower_lookup(name).ok()?;
        match l.attr() {
            Ok(a) if a.file_type() == Some(FileType::Directory) => Some(l),
            _ => None,
        }
    }

    /// True if this directory's lower part has `name` (whiteouts aside).
    fn lower_has(&self, name: &[u8]) -> bool {
        self.lower
            .as_ref()
            .is_some_and(|l| l.lower_lookup(name).is_ok())
    }

    /// The merged lookup, `None` for a missing name.
    fn find_opt(&self, name: &[u8]) -> Result<Option<Arc<OvInode>>, Errno> {
        match self.find(name) {
            Ok(c) => Ok(Some(c)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// True if this directory shows no entries.
    fn is_empty_merged(&self) -> Result<bool, Errno> {
        let mut empty = true;
        self.readdir(0, &mut |_| {
            empty = false;
            false
        })?;
        Ok(empty)
    }

    /// Copies this object up (with its ancestors) if it has no upper part,
    /// and returns the upper part. `with_data`: copy a regular file's
    /// contents (not needed when it is about to be truncated to zero).
    fn copy_up(&self, _ns: &NsGuard<'_>, with_data: bool) -> Result<Arc<TmpInode>, Errno> {
        if let Some(u) = self.upper() {
            return Ok(u);
        }
        let (parent, name) = self.link.as_ref().ok_or(Errno::EIO)?;
        let pu = parent.copy_up(_ns, true)?;
        // Copied up already through another inode for the same name?
        if let Ok(existing) = pu.get(name) {
            *self.upper.lock() = Some(existing.clone());
            return Ok(existing);
        }
        if self.fs.is_whiteout(pu.ino(), name) {
            return Err(Errno::ENOENT);
        }
        let lower = self.lower.as_ref().ok_or(Errno::EIO)?;
        let la = lower.attr()?;
        let owner = Owner {
            uid: la.uid,
            gid: la.gid,
        };
        let perm = la.mode & 0o7777;
        let new = match self.kind {
            FileType::Directory => pu.create_dir(name, perm, owner)?,
            FileType::Symlink => pu.create_symlink(name, &lower.lower_readlink()?, owner)?,
            FileType::Regular => {
                let n = pu.create_node(name, FileType::Regular, perm, 0, owner)?;
                if with_data {
                    if let Err(e) = copy_data(&**lower, &n) {
                        let _ = pu.unlink(name);
                        return Err(e);
                    }
                }
                n
            }
            k => pu.create_node(name, k, perm, la.rdev, owner)?,
        };
        // Extended attributes come up too (those the upper layer stores).
        for n in lower.list_xattr().unwrap_or_default() {
            if let Ok(v) = lower.get_xattr(&n) {
                let _ = new.set_xattr(&n, &v, 0);
            }
        }
        new.set_attr_raw(&SetAttr {
            mode: Some(perm),
            atime: Some(la.atime),
            mtime: Some(la.mtime),
            ..Default::default()
        })?;
        self.fs
            .set_origin(new.ino(), self.fs.map_lower(la.dev, la.ino));
        *self.upper.lock() = Some(new.clone());
        Ok(new)
    }

    /// Common checks and copy-up before creating `name` here; returns the
    /// upper directory and whether a whiteout was replaced.
    fn prepare_create(
        &self,
        ns: &NsGuard<'_>,
        name: &[u8],
    ) -> Result<(Arc<TmpInode>, bool), Errno> {
        if self.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        check_new_name(name)?;
        if self.find_opt(name)?.is_some() {
            return Err(Errno::EEXIST);
        }
        let u = self.copy_up(ns, true)?;
        let had_whiteout = self.fs.is_whiteout(u.ino(), name);
        Ok((u, had_whiteout))
    }

    fn created(
        &self,
        u: &TmpInode,
        name: &[u8],
        new: Arc<TmpInode>,
        had_whiteout: bool,
    ) -> Result<InodeRef, Errno> {
        if had_whiteout {
            self.fs.remove_whiteout(u.ino(), name);
            if new.kind() == FileType::Directory {
                self.fs.set_opaque(new.ino());
            }
        }
        Ok(self.child(name, new.kind(), Some(new), None)?)
    }

    fn map_entry_ino(&self, upper_entry: bool, ino: u64, lower_dev: u64) -> u64 {
        if upper_entry {
            self.fs.map_upper(ino)
        } else {
            self.fs.map_lower(lower_dev, ino)
        }
    }
}

/// Copies the contents of `lower` into the new upper file `upper`, leaving
/// holes where the lower file reads as zeros.
fn copy_data(lower: &dyn LowerNode, upper: &TmpInode) -> Result<(), Errno> {
    let f = lower.lower_open()?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut off = 0u64;
    loop {
        let n = f.read(&mut buf, off)?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        if chunk.iter().any(|&b| b != 0) {
            upper.write_at(chunk, off)?;
        }
        off += n as u64;
    }
    upper.set_attr_raw(&SetAttr {
        size: Some(off),
        ..Default::default()
    })
}

impl Inode for OvInode {
    fn attr(&self) -> Result<InodeAttr, Errno> {
        if let Some(u) = self.upper() {
            let mut a = u.attr()?;
            a.ino = self.fs.map_upper(a.ino);
            a.dev = self.fs.dev;
            if self.kind == FileType::Directory && self.has_lower() {
                // A merged directory: count its subdirectories as a plain
                // filesystem would (overlayfs says 1, but programs compare
                // with the host's answer, and the count is cheap to get).
                let gen = self.fs.gen.load(std::sync::atomic::Ordering::Acquire);
                let cached = *self.nlink_cache.lock();
                a.nlink = if cached.0 == gen {
                    cached.1
                } else {
                    let mut subdirs = 0u64;
                    let _ = OvInode::readdir(self, 0, &mut |e| {
                        subdirs += (e.kind == FileType::Directory) as u64;
                        true
                    });
                    *self.nlink_cache.lock() = (gen, 2 + subdirs);
                    2 + subdirs
                };
                // Size and blocks of a directory are the filesystem's own
                // bookkeeping: show the host's, as for an unmerged one.
                if let Some(l) = self.lower.as_ref().and_then(|l| l.attr().ok()) {
                    a.size = l.size;
                    a.blocks = l.blocks;
                    a.blksize = l.blksize;
                }
            }
            return Ok(a);
        }
        let lower = self.lower.as_ref().ok_or(Errno::EIO)?;
        let mut a = lower.attr()?;
        a.ino = self.fs.map_lower(a.dev, a.ino);
        a.dev = self.fs.dev;
        Ok(a)
    }

    fn set_attr(&self, set: &SetAttr) -> Result<(), Errno> {
        let ns = self.fs.lock_ns();
        let u = self.copy_up(&ns, set.size != Some(0))?;
        u.set_attr(set)
    }

    fn get_xattr(&self, name: &[u8]) -> Result<Vec<u8>, Errno> {
        match self.upper() {
            Some(u) => u.get_xattr(name),
            None => self.lower.as_ref().ok_or(Errno::EIO)?.get_xattr(name),
        }
    }

    fn set_xattr(&self, name: &[u8], value: &[u8], flags: u32) -> Result<(), Errno> {
        let ns = self.fs.lock_ns();
        self.copy_up(&ns, true)?.set_xattr(name, value, flags)
    }

    fn remove_xattr(&self, name: &[u8]) -> Result<(), Errno> {
        // Nothing to copy up for an attribute that is not there.
        self.get_xattr(name)?;
        let ns = self.fs.lock_ns();
        self.copy_up(&ns, true)?.remove_xattr(name)
    }

    fn list_xattr(&self) -> Result<Vec<Vec<u8>>, Errno> {
        match self.upper() {
            Some(u) => u.list_xattr(),
            None => self.lower.as_ref().ok_or(Errno::EIO)?.list_xattr(),
        }
    }

    fn lookup(&self, cx: &Task, name: &[u8]) -> Result<InodeRef, Errno> {
        // The upper layer's file pages come from the kernel's memory.
        self.fs.upper_fs.bind_to(cx);
        Ok(self.find(name)?)
    }

    fn mknod(
        &self,
        name: &[u8],
        kind: FileType,
        mode: u32,
        rdev: u64,
        owner: Owner,
    ) -> Result<InodeRef, Errno> {
        let ns = self.fs.lock_ns();
        let (u, wh) = self.prepare_create(&ns, name)?;
        let new = u.create_node(name, kind, mode, rdev, owner)?;
        self.created(&u, name, new, wh)
    }

    fn mkdir(&self, name: &[u8], mode: u32, owner: Owner) -> Result<InodeRef, Errno> {
        let ns = self.fs.lock_ns();
        let (u, wh) = self.prepare_create(&ns, name)?;
        let new = u.create_dir(name, mode, owner)?;
        self.created(&u, name, new, wh)
    }

    /// O_TMPFILE: an unnamed file in the upper layer (the directory is
    /// copied up first, as overlayfs does).
    fn tmpfile(&self, mode: u32, owner: Owner, linkable: bool) -> Result<InodeRef, Errno> {
        if self.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        let ns = self.fs.lock_ns();
        let u = self.copy_up(&ns, true)?;
        let new = u.create_tmpfile(mode, owner, linkable)?;
        Ok(OvInode::new(
            &self.fs,
            FileType::Regular,
            None,
            Some(new),
            None,
        ))
    }

    fn symlink(&self, name: &[u8], target: &[u8], owner: Owner) -> Result<InodeRef, Errno> {
        let ns = self.fs.lock_ns();
        let (u, wh) = self.prepare_create(&ns, name)?;
        let new = u.create_symlink(name, target, owner)?;
        self.created(&u, name, new, wh)
    }

    fn link(&self, name: &[u8], target: &InodeRef) -> Result<(), Errno> {
        let t = target
            .as_any()
            .downcast_ref::<OvInode>()
            .filter(|t| Arc::ptr_eq(&t.fs, &self.fs))
            .ok_or(Errno::EXDEV)?;
        if t.kind == FileType::Directory {
            return Err(Errno::EPERM);
        }
        let ns = self.fs.lock_ns();
        let (u, wh) = self.prepare_create(&ns, name)?;
        let tu = t.copy_up(&ns, true)?;
        let tu_ref: InodeRef = tu;
        u.link(name, &tu_ref)?;
        if wh {
            self.fs.remove_whiteout(u.ino(), name);
        }
        Ok(())
    }

    fn unlink(&self, name: &[u8]) -> Result<(), Errno> {
        let ns = self.fs.lock_ns();
        let child = self.find(name)?;
        if child.kind == FileType::Directory {
            return Err(Errno::EISDIR);
        }
        let u = self.copy_up(&ns, true)?;
        self.forget(name);
        if let Ok(cu) = u.get(name) {
            u.unlink(name)?;
            self.fs.forget_if_gone(&cu);
        }
        if self.lower_has(name) {
            self.fs.add_whiteout(u.ino(), name);
        }
        Ok(())
    }

    fn rmdir(&self, name: &[u8]) -> Result<(), Errno> {
        let ns = self.fs.lock_ns();
        let child = self.find(name)?;
        if child.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        if !child.is_empty_merged()? {
            return Err(Errno::ENOTEMPTY);
        }
        let u = self.copy_up(&ns, true)?;
        self.forget(name);
        if let Ok(cu) = u.get(name) {
            u.rmdir(name)?;
            self.fs.meta.lock().remove(&cu.ino());
        }
        if self.lower_has(name) {
            self.fs.add_whiteout(u.ino(), name);
        }
        Ok(())
    }

    fn rename(
        &self,
        old_name: &[u8],
        new_dir: &InodeRef,
        new_name: &[u8],
        flags: u32,
    ) -> Result<(), Errno> {
        if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE) != 0
            || (flags & RENAME_NOREPLACE != 0 && flags & RENAME_EXCHANGE != 0)
        {
            return Err(Errno::EINVAL);
        }
        let nd = new_dir
            .as_any()
            .downcast_ref::<OvInode>()
            .filter(|n| Arc::ptr_eq(&n.fs, &self.fs))
            .ok_or(Errno::EXDEV)?;
        if nd.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        check_name(old_name)?;
        check_name(new_name)?;
        let ns = self.fs.lock_ns();
        let src = self.find(old_name)?;
        let tgt = nd.find_opt(new_name)?;
        if std::ptr::eq(self, nd) && old_name == new_name {
            return if flags & RENAME_NOREPLACE != 0 {
                Err(Errno::EEXIST)
            } else {
                Ok(())
            };
        }
        let src_dir = src.kind == FileType::Directory;
        if src_dir && src.has_lower() {
            return Err(Errno::EXDEV);
        }
        let exchange = flags & RENAME_EXCHANGE != 0;
        if exchange {
            let t = tgt.as_ref().ok_or(Errno::ENOENT)?;
            if t.kind == FileType::Directory && t.has_lower() {
                return Err(Errno::EXDEV);
            }
        }
        if let Some(t) = &tgt {
            if !exchange {
                if flags & RENAME_NOREPLACE != 0 {
                    return Err(Errno::EEXIST);
                }
                if let (Some(a), Some(b)) = (src.upper(), t.upper()) {
                    if Arc::ptr_eq(&a, &b) {
                        return Ok(());
                    }
                }
                match (src_dir, t.kind == FileType::Directory) {
                    (true, false) => return Err(Errno::ENOTDIR),
                    (false, true) => return Err(Errno::EISDIR),
                    (true, true) => {
                        if !t.is_empty_merged()? {
                            return Err(Errno::ENOTEMPTY);
                        }
                    }
                    (false, false) => {}
                }
            }
        }
        let src_up = src.copy_up(&ns, true)?;
        if exchange {
            if let Some(t) = &tgt {
                t.copy_up(&ns, true)?;
            }
        }
        let su = self.copy_up(&ns, true)?;
        let du = nd.copy_up(&ns, true)?;
        // A merged or lower-only target directory (empty in the merged
        // view) has no upper entry to replace, or one that tmpfs replaces.
        let replaced = du.get(new_name).ok();
        let du_ref: InodeRef = du.clone();
        su.rename(
            old_name,
            &du_ref,
            new_name,
            flags & (RENAME_NOREPLACE | RENAME_EXCHANGE),
        )?;
        // Committed: fix the overlay metadata and the inode caches.
        self.forget(old_name);
        nd.forget(new_name);
        nd.remember(new_name, &src);
        if exchange {
            if let Some(t) = &tgt {
                self.remember(old_name, t);
            }
        }
        self.fs.remove_whiteout(du.ino(), new_name);
        if src_dir && nd.lower_has(new_name) {
            self.fs.set_opaque(src_up.ino());
        }
        if exchange {
            if let Ok(moved) = su.get(old_name) {
                if moved.kind() == FileType::Directory && self.lower_has(old_name) {
                    self.fs.set_opaque(moved.ino());
                }
            }
        } else {
            if self.lower_has(old_name) {
                self.fs.add_whiteout(su.ino(), old_name);
            }
            if let Some(r) = replaced {
                if r.kind() == FileType::Directory {
                    self.fs.meta.lock().remove(&r.ino());
                } else {
                    self.fs.forget_if_gone(&r);
                }
            }
        }
        drop(ns);
        Ok(())
    }

    fn readdir(&self, offset: u64, sink: &mut dyn FnMut(DirEntry) -> bool) -> Result<(), Errno> {
        if self.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        let upper = self.upper();
        let mut stopped = false;
        let lower_start = if offset < LOWER_COOKIE {
            if let Some(u) = &upper {
                u.list(offset, &mut |mut e| {
                    e.ino = self.map_entry_ino(true, e.ino, 0);
                    if sink(e) {
                        true
                    } else {
                        stopped = true;
                        false
                    }
                })?;
            }
            0
        } else {
            offset - LOWER_COOKIE
        };
        if stopped {
            return Ok(());
        }
        let Some(lower) = &self.lower else {
            return Ok(());
        };
        let lower_dev = lower.attr()?.dev;
        let whiteouts: BTreeSet<Vec<u8>> = match &upper {
            Some(u) => self
                .fs
                .meta
                .lock()
                .get(&u.ino())
                .map(|m| m.whiteouts.clone())
                .unwrap_or_default(),
            None => BTreeSet::new(),
        };
        lower.readdir(lower_start, &mut |mut e| {
            if whiteouts.contains(&e.name) {
                return true;
            }
            if let Some(u) = &upper {
                if u.get(&e.name).is_ok() {
                    return true;
                }
            }
            e.ino = self.map_entry_ino(false, e.ino, lower_dev);
            e.next = LOWER_COOKIE | (e.next & (LOWER_COOKIE - 1));
            sink(e)
        })
    }

    fn readlink(&self, _cx: &Task) -> Result<Vec<u8>, Errno> {
        match self.upper() {
            Some(u) => u.target(),
            None => self.lower.as_ref().ok_or(Errno::EINVAL)?.lower_readlink(),
        }
    }

    fn open(&self, cx: &Task, flags: u32) -> Result<Arc<dyn FileOps>, Errno> {
        self.fs.upper_fs.bind_to(cx);
        match self.kind {
            FileType::Directory => Err(Errno::EISDIR),
            FileType::Symlink => Err(Errno::ELOOP),
            FileType::Regular => {
                if wants_write(flags) {
                    let truncating = flags & O_TRUNC != 0 && flags & O_ACCMODE != O_RDONLY;
                    let u = {
                        let ns = self.fs.lock_ns();
                        self.copy_up(&ns, !truncating)?
                    };
                    return u.open_file(flags);
                }
                match self.upper() {
                    Some(u) => u.open_file(flags),
                    None => self.lower.as_ref().ok_or(Errno::EIO)?.lower_open(),
                }
            }
            _ => match self.upper() {
                Some(u) => u.open(cx, flags),
                None => self.lower.as_ref().ok_or(Errno::EIO)?.open(cx, flags),
            },
        }
    }

    fn statfs(&self) -> Result<Statfs, Errno> {
        let mut st = self.fs.upper_fs.root().statfs()?;
        // Free space is the upper layer's; what the lower layer holds is
        // counted as used (overlayfs shows the upper layer alone, which
        // over an in-memory upper would say a full tree uses nothing).
        if let Ok(l) = self.fs.lower_root.statfs() {
            let used = l.f_blocks.saturating_sub(l.f_bfree);
            let bytes = used.saturating_mul(l.f_frsize.max(1) as u64);
            st.f_blocks = st
                .f_blocks
                .saturating_add(bytes.div_ceil(st.f_frsize.max(1) as u64));
            st.f_files = st
                .f_files
                .saturating_add(l.f_files.saturating_sub(l.f_ffree));
        }
        st.f_type = OVERLAYFS_MAGIC;
        st.f_fsid = [self.fs.dev as i32, (self.fs.dev >> 32) as i32];
        Ok(st)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostfs::HostFs;
    use crate::testutil::{names, read_all, sorted_names, task, TempDir, TestClock};
    use veil_abi::flags::{O_RDWR, O_WRONLY};

    const OWNER: Owner = Owner { uid: 0, gid: 0 };

    fn clock() -> Arc<TestClock> {
        Arc::new(TestClock::default())
    }

    /// lower: a ("lower-a"), dir/{x,y,sub/z}, link -> a, empty/
    fn lower() -> TmpFs {
        let fs = TmpFs::new(clock());
        let r = fs.root();
        let a = r
            .create_node(b"a", FileType::Regular, 0o644, 0, OWNER)
            .unwrap();
        a.write_at(b"lower-a", 0).unwrap();
        let d = r.create_dir(b"dir", 0o755, OWNER).unwrap();
        d.create_node(b"x", FileType::Regular, 0o644, 0, OWNER)
            .unwrap()
            .write_at(b"xx", 0)
            .unwrap();
        d.create_node(b"y", FileType::Regular, 0o600, 0, OWNER)
            .unwrap();
        d.create_dir(b"sub", 0o700, OWNER)
            .unwrap()
            .create_node(b"z", FileType::Regular, 0o644, 0, OWNER)
            .unwrap();
        r.create_symlink(b"link", b"a", OWNER).unwrap();
        r.create_dir(b"empty", 0o755, OWNER).unwrap();
        fs
    }

    fn overlay(lower: &TmpFs) -> Overlay {
        Overlay::new(TmpFs::new(clock()), lower.root()).unwrap()
    }

    fn read(node: &InodeRef) -> Vec<u8> {
        read_all(&*node.open(&task(), O_RDONLY).unwrap())
    }

    #[test]
    fn merged_lookup_and_readdir() {
        let lo = lower();
        let ov = overlay(&lo);
        let t = task();
        let r = ov.root();
        assert_eq!(sorted_names(&*r), vec!["a", "dir", "empty", "link"]);
        let a = r.lookup(&t, b"a").unwrap();
        assert_eq!(read(&a), b"lower-a");
        let aa = a.attr().unwrap();
        assert_eq!(aa.dev, ov.dev());
        assert_eq!(aa.ino, lo.root().get(b"a").unwrap().ino());
        assert_eq!(r.attr().unwrap().mode, lo.root().attr().unwrap().mode);
        let link = r.lookup(&t, b"link").unwrap();
        assert_eq!(link.readlink(&t).unwrap(), b"a");
        // A new upper file appears with the lower ones, once.
        r.mknod(b"new", FileType::Regular, 0o644, 0, OWNER).unwrap();
        assert_eq!(sorted_names(&*r), vec!["a", "dir", "empty", "link", "new"]);
        let d = r.lookup(&t, b"dir").unwrap();
        d.lookup(&t, b"x").unwrap().open(&t, O_WRONLY).unwrap();
        assert_eq!(sorted_names(&*d), vec!["sub", "x", "y"]);
        // Cookies resume across the upper/lower boundary.
        let mut all = Vec::new();
        let mut off = 0;
        loop {
            let mut got = None;
            d.readdir(off, &mut |e| {
                got = Some((e.name.clone(), e.next));
                false
            })
            .unwrap();
            match got {
                Some((n, next)) => {
                    all.push(String::from_utf8(n).unwrap());
                    off = next;
                }
                None => break,
            }
        }
        all.sort();
        assert_eq!(all, vec!["sub", "x", "y"]);
        // Every object reports the overlay's dev.
        let sub = d.lookup(&t, b"sub").unwrap();
        assert_eq!(sub.attr().unwrap().dev, ov.dev());
        assert_eq!(r.lookup(&t, b"new").unwrap().attr().unwrap().dev, ov.dev());
        assert_eq!(r.statfs().unwrap().f_type, OVERLAYFS_MAGIC);
    }

    #[test]
    fn xattrs_copy_up_and_statfs_counts_the_lower_layer() {
        let lo = lower();
        let t = task();
        let la = lo.root().get(b"a").unwrap();
        la.set_xattr(b"user.low", b"1", 0).unwrap();
        let ov = overlay(&lo);
        let r = ov.root();
        let a = r.lookup(&t, b"a").unwrap();
        // Read through to the lower layer, then copied up on change.
        assert_eq!(a.get_xattr(b"user.low").unwrap(), b"1");
        assert_eq!(a.remove_xattr(b"user.none"), Err(Errno::ENODATA));
        a.set_xattr(b"user.up", b"2", 0).unwrap();
        assert_eq!(
            a.list_xattr().unwrap(),
            vec![b"user.low".to_vec(), b"user.up".to_vec()]
        );
        a.remove_xattr(b"user.low").unwrap();
        assert_eq!(a.list_xattr().unwrap(), vec![b"user.up".to_vec()]);
        assert_eq!(la.list_xattr().unwrap(), vec![b"user.low".to_vec()]);
        assert_eq!(read(&a), b"lower-a");
        assert_eq!(a.set_xattr(b"system.x", b"", 0), Err(Errno::EOPNOTSUPP));
        // Used blocks: the lower layer's pages count too.
        let st = r.statfs().unwrap();
        let up = ov.upper().root().statfs().unwrap();
        let low = lo.root().statfs().unwrap();
        assert!(low.f_blocks > low.f_bfree);
        assert_eq!(st.f_bfree, up.f_bfree);
        assert_eq!(
            st.f_blocks - st.f_bfree,
            (up.f_blocks - up.f_bfree) + (low.f_blocks - low.f_bfree)
        );
    }

    #[test]
    fn copy_up_on_write_keeps_lower_intact() {
        let lo = lower();
        let ov = overlay(&lo);
        let t = task();
        let r = ov.root();
        let a = r.lookup(&t, b"a").unwrap();
        let ino = a.attr().unwrap().ino;
        let f = a.open(&t, O_RDWR).unwrap();
        assert_eq!(read_all(&*f), b"lower-a");
        f.write(b"UPPER", 0).unwrap();
        assert_eq!(read(&a), b"UPPER-a");
        assert_eq!(a.attr().unwrap().ino, ino);
        // Looked up afresh: upper wins, same inode number.
        let a2 = r.lookup(&t, b"a").unwrap();
        assert_eq!(read(&a2), b"UPPER-a");
        assert_eq!(a2.attr().unwrap().ino, ino);
        let lower_a: InodeRef = lo.root().get(b"a").unwrap();
        assert_eq!(read(&lower_a), b"lower-a");
        // O_TRUNC copies up without data.
        let d = r.lookup(&t, b"dir").unwrap();
        let x = d.lookup(&t, b"x").unwrap();
        let xf = x.open(&t, O_WRONLY | O_TRUNC).unwrap();
        assert_eq!(xf.size().unwrap(), 0);
        assert_eq!(
            read(&(lo.root().get(b"dir").unwrap().get(b"x").unwrap() as InodeRef)),
            b"xx"
        );
        // The parent directory was copied up with its attributes.
        let lower_dir = lo.root().get(b"dir").unwrap();
        let da = d.attr().unwrap();
        assert_eq!(da.mode, lower_dir.attr().unwrap().mode);
        assert_eq!(da.ino, lower_dir.ino());
        assert_eq!(da.nlink, lower_dir.attr().unwrap().nlink);
    }

    #[test]
    fn set_attr_copies_up() {
        let lo = lower();
        let ov = overlay(&lo);
        let t = task();
        let r = ov.root();
        let y = r.lookup(&t, b"dir").unwrap().lookup(&t, b"y").unwrap();
        y.set_attr(&SetAttr {
            mode: Some(0o640),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(y.attr().unwrap().mode, 0o100640);
        let lower_y = lo.root().get(b"dir").unwrap().get(b"y").unwrap();
        assert_eq!(lower_y.attr().unwrap().mode, 0o100600);
        let a = r.lookup(&t, b"a").unwrap();
        a.set_attr(&SetAttr {
            size: Some(3),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(read(&a), b"low");
        let link = r.lookup(&t, b"link").unwrap();
        link.set_attr(&SetAttr {
            uid: Some(7),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(link.attr().unwrap().uid, 7);
        assert_eq!(link.readlink(&t).unwrap(), b"a");
        // Directories too.
        let sub = r.lookup(&t, b"dir").unwrap().lookup(&t, b"sub").unwrap();
        sub.set_attr(&SetAttr {
            mode: Some(0o755),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(sub.attr().unwrap().mode, 0o40755);
        assert_eq!(sorted_names(&*sub), vec!["z"]);
    }

    #[test]
    fn whiteouts_and_opaque_dirs() {
        let lo = lower();
        let ov = overlay(&lo);
        let t = task();
        let r = ov.root();
        r.unlink(b"a").unwrap();
        assert_eq!(r.lookup(&t, b"a").err(), Some(Errno::ENOENT));
        assert_eq!(sorted_names(&*r), vec!["dir", "empty", "link"]);
        assert_eq!(r.unlink(b"a").err(), Some(Errno::ENOENT));
        assert!(lo.root().get(b"a").is_ok());
        // Re-create over the whiteout.
        let a = r.mknod(b"a", FileType::Regular, 0o600, 0, OWNER).unwrap();
        assert_eq!(read(&a), b"");
        assert_eq!(sorted_names(&*r), vec!["a", "dir", "empty", "link"]);
        // rmdir: non-empty, then emptied.
        assert_eq!(r.rmdir(b"dir").err(), Some(Errno::ENOTEMPTY));
        assert_eq!(r.unlink(b"dir").err(), Some(Errno::EISDIR));
        let d = r.lookup(&t, b"dir").unwrap();
        assert_eq!(d.rmdir(b"x").err(), Some(Errno::ENOTDIR));
        let sub = d.lookup(&t, b"sub").unwrap();
        sub.unlink(b"z").unwrap();
        d.rmdir(b"sub").unwrap();
        d.unlink(b"x").unwrap();
        d.unlink(b"y").unwrap();
        assert!(names(&*d).is_empty());
        r.rmdir(b"dir").unwrap();
        assert_eq!(r.lookup(&t, b"dir").err(), Some(Errno::ENOENT));
        // A new directory there is opaque: the lower contents stay hidden.
        let nd = r.mkdir(b"dir", 0o755, OWNER).unwrap();
        assert!(names(&*nd).is_empty());
        let nd2 = r.lookup(&t, b"dir").unwrap();
        assert!(names(&*nd2).is_empty());
        assert_eq!(nd2.lookup(&t, b"x").err(), Some(Errno::ENOENT));
        nd2.mknod(b"x", FileType::Regular, 0o644, 0, OWNER).unwrap();
        assert_eq!(names(&*nd2), vec!["x"]);
        // An empty lower dir can be removed directly.
        r.rmdir(b"empty").unwrap();
        assert_eq!(r.mkdir(b"dir", 0o755, OWNER).err(), Some(Errno::EEXIST));
        // The lower layer never changed.
        assert_eq!(sorted_names(&*lo.root()), vec!["a", "dir", "empty", "link"]);
        assert_eq!(
            sorted_names(&*lo.root().get(b"dir").unwrap()),
            vec!["sub", "x", "y"]
        );
    }

    #[test]
    fn rename_rules() {
        let lo = lower();
        let ov = overlay(&lo);
        let t = task();
        let r = ov.root();
        let rr: InodeRef = r.clone();
        let a_ino = r.lookup(&t, b"a").unwrap().attr().unwrap().ino;
        // A lower file: copied up, moved, old name whited out.
        r.rename(b"a", &rr, b"b", 0).unwrap();
        assert_eq!(r.lookup(&t, b"a").err(), Some(Errno::ENOENT));
        let b = r.lookup(&t, b"b").unwrap();
        assert_eq!(read(&b), b"lower-a");
        assert_eq!(b.attr().unwrap().ino, a_ino);
        assert_eq!(sorted_names(&*r), vec!["b", "dir", "empty", "link"]);
        // Into a lower directory, over a lower file.
        let d: InodeRef = r.lookup(&t, b"dir").unwrap();
        r.rename(b"b", &d, b"x", 0).unwrap();
        assert_eq!(read(&d.lookup(&t, b"x").unwrap()), b"lower-a");
        assert_eq!(sorted_names(&*d), vec!["sub", "x", "y"]);
        // Lower (and merged) directories: EXDEV.
        assert_eq!(r.rename(b"empty", &rr, b"e2", 0).err(), Some(Errno::EXDEV));
        assert_eq!(r.rename(b"dir", &rr, b"d2", 0).err(), Some(Errno::EXDEV));
        // Upper directories move; over an empty lower dir they become opaque.
        let nd = r.mkdir(b"nd", 0o755, OWNER).unwrap();
        nd.mknod(b"f", FileType::Regular, 0o644, 0, OWNER).unwrap();
        r.rename(b"nd", &rr, b"empty", 0).unwrap();
        let e = r.lookup(&t, b"empty").unwrap();
        assert_eq!(names(&*e), vec!["f"]);
        assert_eq!(r.lookup(&t, b"nd").err(), Some(Errno::ENOENT));
        // Errors.
        assert_eq!(r.rename(b"link", &rr, b"dir", 0).err(), Some(Errno::EISDIR));
        assert_eq!(
            r.rename(b"empty", &rr, b"link", 0).err(),
            Some(Errno::ENOTDIR)
        );
        assert_eq!(
            r.rename(b"link", &d, b"y", RENAME_NOREPLACE).err(),
            Some(Errno::EEXIST)
        );
        assert_eq!(r.rename(b"nope", &rr, b"x", 0).err(), Some(Errno::ENOENT));
        let m = r.mkdir(b"m", 0o755, OWNER).unwrap();
        let _ = m;
        assert_eq!(r.rename(b"m", &rr, b"dir", 0).err(), Some(Errno::ENOTEMPTY));
        r.rename(b"link", &rr, b"link", 0).unwrap();
        assert_eq!(r.lookup(&t, b"link").unwrap().readlink(&t).unwrap(), b"a");
        // Exchange of two lower files.
        let dd: InodeRef = r.lookup(&t, b"dir").unwrap();
        d.rename(b"x", &dd, b"y", RENAME_EXCHANGE).unwrap();
        assert_eq!(read(&dd.lookup(&t, b"y").unwrap()), b"lower-a");
        assert_eq!(read(&dd.lookup(&t, b"x").unwrap()), b"");
        assert_eq!(
            sorted_names(&*lo.root().get(b"dir").unwrap()),
            vec!["sub", "x", "y"]
        );
    }

    #[test]
    fn held_inodes_follow_renames_and_copy_up() {
        let lo = lower();
        let ov = overlay(&lo);
        let t = task();
        let r = ov.root();
        let rr: InodeRef = r.clone();
        // Core holds the inode of /a (its dentry), then renames a -> b.
        let held = r.lookup(&t, b"a").unwrap();
        r.rename(b"a", &rr, b"b", 0).unwrap();
        // The held inode is the moved file: writable, and writes show at b.
        held.open(&t, O_WRONLY).unwrap().write(b"HELD", 0).unwrap();
        assert_eq!(read(&r.lookup(&t, b"b").unwrap()), b"HELDr-a");
        // One inode per name while held.
        let d1 = r.lookup(&t, b"dir").unwrap();
        let d2 = r.lookup(&t, b"dir").unwrap();
        assert!(std::ptr::eq(
            d1.as_any() as *const dyn std::any::Any as *const u8,
            d2.as_any() as *const dyn std::any::Any as *const u8
        ));
        // A held inode of a removed name does not resurrect it.
        let y = d1.lookup(&t, b"y").unwrap();
        d1.unlink(b"y").unwrap();
        assert_eq!(d1.lookup(&t, b"y").err(), Some(Errno::ENOENT));
        assert_eq!(y.open(&t, O_WRONLY).err(), Some(Errno::ENOENT));
        let y2 = d1.mknod(b"y", FileType::Regular, 0o644, 0, OWNER).unwrap();
        assert_eq!(read(&y2), b"");
    }

    #[test]
    fn hard_links() {
        let lo = lower();
        let ov = overlay(&lo);
        let t = task();
        let r = ov.root();
        let a = r.lookup(&t, b"a").unwrap();
        r.link(b"a2", &a).unwrap();
        let a2 = r.lookup(&t, b"a2").unwrap();
        assert_eq!(read(&a2), b"lower-a");
        assert_eq!(a2.attr().unwrap().nlink, 2);
        assert_eq!(a2.attr().unwrap().ino, a.attr().unwrap().ino);
        a2.open(&t, O_WRONLY).unwrap().write(b"L", 0).unwrap();
        assert_eq!(read(&r.lookup(&t, b"a").unwrap()), b"Lower-a");
        let dir = r.lookup(&t, b"dir").unwrap();
        assert_eq!(r.link(b"d2", &dir).err(), Some(Errno::EPERM));
        let other = TmpFs::new(clock());
        let foreign: InodeRef = other.root();
        assert_eq!(r.link(b"z", &foreign).err(), Some(Errno::EXDEV));
    }

    #[test]
    fn writes_never_reach_the_host() {
        let host = TempDir::new("ovhost");
        std::fs::create_dir(host.0.join("etc")).unwrap();
        std::fs::write(host.0.join("etc/passwd"), b"root:x:0:0").unwrap();
        std::fs::create_dir(host.0.join("tmp")).unwrap();
        let hfs = HostFs::new(&host.0).unwrap();
        let ov = Overlay::new(TmpFs::new(clock()), hfs.root().unwrap()).unwrap();
        let t = task();
        let r = ov.root();
        let etc = r.lookup(&t, b"etc").unwrap();
        let probe = etc
            .mknod(b"veil-probe", FileType::Regular, 0o644, 0, OWNER)
            .unwrap();
        probe
            .open(&t, O_WRONLY)
            .unwrap()
            .write(b"probe", 0)
            .unwrap();
        r.lookup(&t, b"tmp")
            .unwrap()
            .mknod(b"veil-probe", FileType::Regular, 0o644, 0, OWNER)
            .unwrap();
        let pw = etc.lookup(&t, b"passwd").unwrap();
        pw.open(&t, O_RDWR).unwrap().write(b"evil", 0).unwrap();
        assert_eq!(read(&etc.lookup(&t, b"passwd").unwrap()), b"evil:x:0:0");
        etc.unlink(b"passwd").unwrap();
        r.mkdir(b"newdir", 0o755, OWNER).unwrap();
        assert_eq!(sorted_names(&*etc), vec!["veil-probe"]);
        assert!(!host.0.join("etc/veil-probe").exists());
        assert!(!host.0.join("tmp/veil-probe").exists());
        assert!(!host.0.join("newdir").exists());
        assert_eq!(
            std::fs::read(host.0.join("etc/passwd")).unwrap(),
            b"root:x:0:0"
        );
        // The host file's inode number is kept after copy-up.
        let md = std::fs::metadata(host.0.join("etc")).unwrap();
        assert_eq!(
            etc.attr().unwrap().ino,
            std::os::unix::fs::MetadataExt::ino(&md)
        );
    }
}
