//! A small but complete in-memory filesystem for the fuzz harnesses, the
//! VFS model tests and the file system call tests: directories with link counts, regular files, hard
//! links, symlinks, rename with `RENAME_EXCHANGE`, FIFO and socket nodes
//! (which cannot be opened here). Bounded, so that no input can make it
//! allocate without limit: a file holds at most [`MAX_FILE`] bytes
//! (`EFBIG` past it) and the filesystem at most [`MAX_NODES`] nodes
//! (`ENOSPC`).
//!
//! Unlike [`crate::fake`]'s filesystem it keeps Linux's link counts and
//! lets names move, which is what path operations need to be checked.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;
use veil_abi::flags::*;
use veil_abi::{Errno, Timespec};

use crate::task::Task;
use crate::vfs::{DirEntry, FileOps, FileType, Inode, InodeAttr, InodeRef, Owner, SetAttr};

/// The largest file, in bytes.
pub const MAX_FILE: usize = 1 << 20;
/// The most nodes one filesystem holds.
pub const MAX_NODES: u64 = 4096;
/// The device number a filesystem made by [`MemNode::new_root`] reports.
pub const MEMFS_DEV: u64 = veil_abi::makedev(0, 77);

/// The filesystem: its device number and a counter of inode numbers
/// shared by its nodes.
struct Fs {
    dev: u64,
    next_ino: AtomicU64,
    nodes: AtomicU64,
}

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    atime: Timespec,
    mtime: Timespec,
    ctime: Timespec,
}

/// One node of the filesystem.
pub struct MemNode {
    me: Weak<MemNode>,
    fs: Arc<Fs>,
    ino: u64,
    kind: FileType,
    meta: Mutex<Meta>,
    data: Mutex<Vec<u8>>,
    children: Mutex<BTreeMap<Vec<u8>, Arc<MemNode>>>,
}

impl Drop for MemNode {
    fn drop(&mut self) {
        self.fs.nodes.fetch_sub(1, Ordering::Relaxed);
    }
}

impl MemNode {
    /// A new filesystem's root directory, on device [`MEMFS_DEV`].
    pub fn new_root() -> Arc<MemNode> {
        Self::new_root_on(MEMFS_DEV)
    }

    /// A new filesystem's root directory, on device `dev` (two mounted
    /// filesystems tell their files apart by it).
    pub fn new_root_on(dev: u64) -> Arc<MemNode> {
        let fs = Arc::new(Fs {
            dev,
            next_ino: AtomicU64::new(2),
            nodes: AtomicU64::new(0),
        });
        Self::make(&fs, FileType::Directory, 0o755, Owner::default())
            .expect("an empty filesystem has room")
    }

    fn make(fs: &Arc<Fs>, kind: FileType, perm: u32, owner: Owner) -> Result<Arc<MemNode>, Errno> {
        if fs.nodes.fetch_add(1, Ordering::Relaxed) >= MAX_NODES {
            fs.nodes.fetch_sub(1, Ordering::Relaxed);
            return Err(Errno::ENOSPC);
        }
        Ok(Arc::new_cyclic(|me| MemNode {
            me: me.clone(),
            fs: fs.clone(),
            ino: fs.next_ino.fetch_add(1, Ordering::Relaxed),
            kind,
            meta: Mutex::new(Meta {
                mode: kind.mode_bits() | (perm & 0o7777),
                uid: owner.uid,
                gid: owner.gid,
                nlink: if kind == FileType::Directory { 2 } else { 1 },
                atime: Timespec::default(),
                mtime: Timespec::default(),
                ctime: Timespec::default(),
            }),
            data: Mutex::new(Vec::new()),
            children: Mutex::new(BTreeMap::new()),
        }))
    }

    fn downcast(i: &InodeRef) -> Result<Arc<MemNode>, Errno> {
        let any: Arc<dyn Any + Send + Sync> = i.clone();
        any.downcast::<MemNode>().map_err(|_| Errno::EXDEV)
    }

    fn is_dir(&self) -> bool {
        self.kind == FileType::Directory
    }

    /// The node's type.
    pub fn kind(&self) -> FileType {
        self.kind
    }

    /// A regular file's contents, a symlink's target.
    pub fn data(&self) -> Vec<u8> {
        self.data.lock().clone()
    }

    /// The names in a directory.
    pub fn names(&self) -> Vec<Vec<u8>> {
        self.children.lock().keys().cloned().collect()
    }

    /// The child `name` of a directory.
    pub fn child(&self, name: &[u8]) -> Option<Arc<MemNode>> {
        self.children.lock().get(name).cloned()
    }

    /// The link count.
    pub fn nlink(&self) -> u64 {
        self.meta.lock().nlink
    }

    /// The inode number.
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// Adds a regular file `name` with `data` (for building trees).
    pub fn add_file(&self, name: &[u8], data: &[u8]) -> Result<Arc<MemNode>, Errno> {
        let n = self.add(name, FileType::Regular, 0o644, Owner::default())?;
        let n = Self::downcast(&n)?;
        *n.data.lock() = data[..data.len().min(MAX_FILE)].to_vec();
        Ok(n)
    }

    /// Adds a directory `name` (for building trees).
    pub fn add_dir(&self, name: &[u8]) -> Result<Arc<MemNode>, Errno> {
        let n = self.add(name, FileType::Directory, 0o755, Owner::default())?;
        Self::downcast(&n)
    }

    /// Adds a symlink `name` to `target` (for building trees).
    pub fn add_symlink(&self, name: &[u8], target: &[u8]) -> Result<Arc<MemNode>, Errno> {
        let n = self.symlink(name, target, Owner::default())?;
        Self::downcast(&n)
    }

    fn add(&self, name: &[u8], kind: FileType, mode: u32, owner: Owner) -> Result<InodeRef, Errno> {
        if !self.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let mut c = self.children.lock();
        if c.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let n = Self::make(&self.fs, kind, mode, owner)?;
        c.insert(name.to_vec(), n.clone());
        if kind == FileType::Directory {
            self.meta.lock().nlink += 1;
        }
        Ok(n)
    }
}

impl Inode for MemNode {
    fn attr(&self) -> Result<InodeAttr, Errno> {
        let m = self.meta.lock();
        let size = if self.is_dir() {
            4096
        } else {
            self.data.lock().len() as u64
        };
        Ok(InodeAttr {
            dev: self.fs.dev,
            ino: self.ino,
            mode: m.mode,
            nlink: m.nlink,
            uid: m.uid,
            gid: m.gid,
            rdev: 0,
            size,
            blksize: 4096,
            blocks: size.div_ceil(512),
            atime: m.atime,
            mtime: m.mtime,
            ctime: m.ctime,
            btime: None,
        })
    }
    fn set_attr(&self, s: &SetAttr) -> Result<(), Errno> {
        if let Some(x) = s.size {
            if self.is_dir() {
                return Err(Errno::EISDIR);
            }
            let x = usize::try_from(x)
                .ok()
                .filter(|&x| x <= MAX_FILE)
                .ok_or(Errno::EFBIG)?;
            self.data.lock().resize(x, 0);
        }
        let mut m = self.meta.lock();
        if let Some(x) = s.mode {
            m.mode = (m.mode & S_IFMT) | (x & 0o7777);
        }
        if let Some(x) = s.uid {
            m.uid = x;
        }
        if let Some(x) = s.gid {
            m.gid = x;
        }
        if let Some(x) = s.atime {
            m.atime = x;
        }
        if let Some(x) = s.mtime {
            m.mtime = x;
        }
        if let Some(x) = s.ctime {
            m.ctime = x;
        }
        Ok(())
    }
    fn lookup(&self, _cx: &Task, name: &[u8]) -> Result<InodeRef, Errno> {
        if !self.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        self.children
            .lock()
            .get(name)
            .map(|n| n.clone() as InodeRef)
            .ok_or(Errno::ENOENT)
    }
    fn mknod(
        &self,
        name: &[u8],
        kind: FileType,
        mode: u32,
        _rdev: u64,
        owner: Owner,
    ) -> Result<InodeRef, Errno> {
        match kind {
            FileType::Regular | FileType::Fifo | FileType::Socket => {
                self.add(name, kind, mode, owner)
            }
            _ => Err(Errno::EPERM),
        }
    }
    fn mkdir(&self, name: &[u8], mode: u32, owner: Owner) -> Result<InodeRef, Errno> {
        self.add(name, FileType::Directory, mode, owner)
    }
    fn symlink(&self, name: &[u8], target: &[u8], owner: Owner) -> Result<InodeRef, Errno> {
        let n = self.add(name, FileType::Symlink, 0o777, owner)?;
        Self::downcast(&n)?.data.lock().extend_from_slice(target);
        Ok(n)
    }
    fn link(&self, name: &[u8], target: &InodeRef) -> Result<(), Errno> {
        let t = Self::downcast(target)?;
        if t.is_dir() {
            return Err(Errno::EPERM);
        }
        if !self.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let mut c = self.children.lock();
        if c.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        t.meta.lock().nlink += 1;
        c.insert(name.to_vec(), t);
        Ok(())
    }
    fn unlink(&self, name: &[u8]) -> Result<(), Errno> {
        if !self.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let mut c = self.children.lock();
        let n = c.get(name).ok_or(Errno::ENOENT)?;
        if n.is_dir() {
            return Err(Errno::EISDIR);
        }
        let mut m = n.meta.lock();
        m.nlink = m.nlink.saturating_sub(1);
        drop(m);
        c.remove(name);
        Ok(())
    }
    fn rmdir(&self, name: &[u8]) -> Result<(), Errno> {
        if !self.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let mut c = self.children.lock();
        let n = c.get(name).ok_or(Errno::ENOENT)?;
        if !n.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if !n.children.lock().is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        n.meta.lock().nlink = 0;
        c.remove(name);
        drop(c);
        let mut m = self.meta.lock();
        m.nlink = m.nlink.saturating_sub(1);
        Ok(())
    }
    fn rename(
        &self,
        old_name: &[u8],
        new_dir: &InodeRef,
        new_name: &[u8],
        flags: u32,
    ) -> Result<(), Errno> {
        let nd = Self::downcast(new_dir)?;
        if !self.is_dir() || !nd.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let me = self.me.upgrade().ok_or(Errno::ENOENT)?;
        let same = Arc::ptr_eq(&nd, &me);
        let node = self.child(old_name).ok_or(Errno::ENOENT)?;
        let target = nd.child(new_name);
        if flags & RENAME_EXCHANGE != 0 {
            let target = target.ok_or(Errno::ENOENT)?;
            if same && old_name == new_name {
                return Ok(());
            }
            self.children
                .lock()
                .insert(old_name.to_vec(), target.clone());
            nd.children.lock().insert(new_name.to_vec(), node.clone());
            if !same && node.is_dir() != target.is_dir() {
                // The directory among the two changes parents.
                let (from, to) = if node.is_dir() {
                    (&me, &nd)
                } else {
                    (&nd, &me)
                };
                from.meta.lock().nlink -= 1;
                to.meta.lock().nlink += 1;
            }
            return Ok(());
        }
        if flags & RENAME_NOREPLACE != 0 && target.is_some() {
            return Err(Errno::EEXIST);
        }
        if let Some(t) = &target {
            if Arc::ptr_eq(t, &node) {
                return Ok(());
            }
            if t.is_dir() != node.is_dir() {
                return Err(if t.is_dir() {
                    Errno::EISDIR
                } else {
                    Errno::ENOTDIR
                });
            }
            if t.is_dir() && !t.children.lock().is_empty() {
                return Err(Errno::ENOTEMPTY);
            }
        }
        self.children.lock().remove(old_name);
        if let Some(t) = nd.children.lock().insert(new_name.to_vec(), node.clone()) {
            let mut m = t.meta.lock();
            if t.is_dir() {
                m.nlink = 0;
                drop(m);
                nd.meta.lock().nlink -= 1;
            } else {
                m.nlink = m.nlink.saturating_sub(1);
            }
        }
        if node.is_dir() && !same {
            me.meta.lock().nlink -= 1;
            nd.meta.lock().nlink += 1;
        }
        Ok(())
    }
    fn readdir(&self, offset: u64, sink: &mut dyn FnMut(DirEntry) -> bool) -> Result<(), Errno> {
        if !self.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let c = self.children.lock().clone();
        for (i, (name, n)) in c.iter().enumerate().skip(offset as usize) {
            let e = DirEntry {
                ino: n.ino,
                kind: n.kind,
                name: name.clone(),
                next: i as u64 + 1,
            };
            if !sink(e) {
                break;
            }
        }
        Ok(())
    }
    fn readlink(&self, _cx: &Task) -> Result<Vec<u8>, Errno> {
        if self.kind != FileType::Symlink {
            return Err(Errno::EINVAL);
        }
        Ok(self.data.lock().clone())
    }
    fn open(&self, _cx: &Task, _flags: u32) -> Result<Arc<dyn FileOps>, Errno> {
        let node = self.me.upgrade().ok_or(Errno::ENOENT)?;
        match self.kind {
            FileType::Regular => Ok(Arc::new(MemOps { node })),
            _ => Err(Errno::ENXIO),
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// An open regular file.
struct MemOps {
    node: Arc<MemNode>,
}

impl FileOps for MemOps {
    fn read(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        let d = self.node.data.lock();
        let Some(off) = usize::try_from(offset).ok().filter(|&o| o < d.len()) else {
            return Ok(0);
        };
        let n = buf.len().min(d.len() - off);
        buf[..n].copy_from_slice(&d[off..off + n]);
        Ok(n)
    }
    fn write(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut d = self.node.data.lock();
        let off = usize::try_from(offset)
            .ok()
            .filter(|&o| o < MAX_FILE)
            .ok_or(Errno::EFBIG)?;
        let n = buf.len().min(MAX_FILE - off);
        let end = off + n;
        if d.len() < end {
            d.resize(end, 0);
        }
        d[off..end].copy_from_slice(&buf[..n]);
        Ok(n)
    }
    fn size(&self) -> Result<u64, Errno> {
        Ok(self.node.data.lock().len() as u64)
    }
    fn truncate(&self, size: u64) -> Result<(), Errno> {
        let size = usize::try_from(size)
            .ok()
            .filter(|&s| s <= MAX_FILE)
            .ok_or(Errno::EFBIG)?;
        self.node.data.lock().resize(size, 0);
        Ok(())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
