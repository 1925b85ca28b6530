//! tmpfs: an in-memory filesystem.
//!
//! Regular files keep their data in pages of the kernel's memory file (a
//! core [`PageStore`], as memfds do), so sparse files (`truncate -s 1G`)
//! cost nothing until written and holes read as zeros, and a `MAP_SHARED`
//! mapping maps the file's own pages ([`MemoryPages`]): `read`, `write`,
//! truncation and every shared mapping in every process see the same
//! bytes. Pages are charged to the instance's size limit (`ENOSPC` past
//! it), whether a write or a fault on a shared mapping (SIGBUS then)
//! allocates them.
//!
//! An instance takes its pages from the allocator it is bound to
//! ([`TmpFs::bind_memory`]); an unbound instance binds itself to the
//! kernel of the first task that looks a name up in it or opens one of its
//! files, and the sandbox's overlay binds its upper layer the same way.
//! Until then (and in unit tests with no kernel) files take pages from a
//! private memory file no address space maps: they read and write the
//! same, and their mappings are copies. A file still empty moves to the
//! bound allocator when it first needs a page. Directories map names to inodes in a `BTreeMap` and give every
//! entry a cookie, increasing in insertion order, that stays valid while
//! the entry exists, so readdir resumes correctly across concurrent
//! changes. O_TMPFILE files are regular files in no directory (link count
//! 0) that one `link` may name. Symlinks, FIFOs, sockets and device nodes
//! are plain nodes (core opens FIFOs as its own pipes);
//! device nodes open through the [`DeviceOpen`] hook given at construction
//! (devfs gives one), and `ENXIO` without one.
//!
//! Locking: every namespace change (create, link, unlink, rmdir, rename)
//! holds the filesystem-wide `ns` lock, so changes that touch two or three
//! directories lock them in any order without deadlock; lookups and readdir
//! take only the one directory's lock. File data sits under its own
//! reader-writer lock; metadata under a leaf lock taken last.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use veil_abi::flags::{
    O_ACCMODE, O_RDONLY, O_TRUNC, RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT, XATTR_CREATE,
    XATTR_REPLACE,
};
use veil_abi::{Errno, Statfs, Timespec, PAGE_SIZE};
use veil_core::addr::FileOffset;
use veil_core::host::Clock;
use veil_core::mm::PageAllocator;
use veil_core::platform::{MemoryFile, PlatformError};
use veil_core::task::Task;
use veil_core::vfs::node::MemoryPages;
use veil_core::vfs::pagestore::{MappingSet, PageBudget, PageStore};
use veil_core::vfs::{
    Dentry, DirEntry, FileOps, FileType, Inode, InodeAttr, InodeRef, Owner, SetAttr,
};

use crate::util::{alloc_dev, check_name, check_new_name, Lock, RwLk};

/// `TMPFS_MAGIC` for statfs.
pub const TMPFS_MAGIC: i64 = 0x0102_1994;

const PAGE: u64 = 4096;
/// tmpfs reports directory sizes as 20 bytes per entry (`BOGO_DIRENT_SIZE`).
const BOGO_DIRENT_SIZE: u64 = 20;

/// How device nodes open: a filesystem that holds device nodes (devfs, and
/// the sandbox root's upper layer) maps a device number to the object
/// behind the open file.
pub trait DeviceOpen: Send + Sync {
    /// Opens the device `kind` (`CharDevice` or `BlockDevice`) numbered
    /// `rdev` with open `flags`. `ENXIO` for a device that does not exist.
    fn open_device(
        &self,
        cx: &Task,
        kind: FileType,
        rdev: u64,
        flags: u32,
    ) -> Result<Arc<dyn FileOps>, Errno>;
}

/// Construction options for a [`TmpFs`].
#[derive(Clone)]
pub struct TmpFsOptions {
    /// Most bytes of file data the instance holds (`ENOSPC` past it);
    /// `None` for no limit.
    pub capacity: Option<u64>,
    /// Permission bits of the root directory.
    pub root_mode: u32,
    /// Owner of the root directory.
    pub root_owner: Owner,
    /// How device nodes open.
    pub devices: Option<Arc<dyn DeviceOpen>>,
    /// `f_type` reported by statfs.
    pub magic: i64,
}

impl Default for TmpFsOptions {
    fn default() -> TmpFsOptions {
        TmpFsOptions {
            capacity: None,
            root_mode: 0o1777,
            root_owner: Owner::default(),
            devices: None,
            magic: TMPFS_MAGIC,
        }
    }
}

pub(crate) struct Shared {
    dev: u64,
    next_ino: AtomicU64,
    clock: Arc<dyn Clock>,
    /// Serialises namespace changes (see the module doc).
    ns: Lock<()>,
    /// Most pages of file data (`u64::MAX`: no limit); changes on remount.
    capacity_pages: AtomicU64,
    used_pages: AtomicU64,
    inodes: AtomicU64,
    /// Most inodes (`u64::MAX`: no limit); changes on remount.
    max_inodes: AtomicU64,
    devices: Option<Arc<dyn DeviceOpen>>,
    magic: i64,
    /// Where file pages come from (see the module doc).
    memory: OnceLock<Arc<PageAllocator>>,
}

impl PageBudget for Shared {
    fn reserve(&self, n: u64) -> Result<(), Errno> {
        self.reserve_pages(n)
    }

    fn release(&self, n: u64) {
        self.release_pages(n)
    }
}

impl Shared {
    /// The allocator new pages come from: the bound one, else the
    /// private fallback.
    fn memory(&self) -> Arc<PageAllocator> {
        match self.memory.get() {
            Some(m) => m.clone(),
            None => private_memory(),
        }
    }

    /// Binds an unbound instance to `cx`'s kernel.
    fn bind(&self, cx: &Task) {
        if self.memory.get().is_none() {
            let _ = self.memory.set(cx.kernel.pages.clone());
        }
    }

    /// Moves an empty store to the bound allocator, if it is elsewhere.
    fn rebind(&self, store: &mut PageStore) {
        if let Some(m) = self.memory.get() {
            if store.page_count() == 0 && !Arc::ptr_eq(store.memory(), m) {
                store.rebind(m);
            }
        }
    }

    fn now(&self) -> Timespec {
        self.clock.realtime()
    }

    fn reserve_pages(&self, n: u64) -> Result<(), Errno> {
        if n == 0 {
            return Ok(());
        }
        match self.capacity_pages.load(Ordering::Relaxed) {
            u64::MAX => {
                self.used_pages.fetch_add(n, Ordering::Relaxed);
                Ok(())
            }
            cap => self
                .used_pages
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                    u.checked_add(n).filter(|&t| t <= cap)
                })
                .map(|_| ())
                .map_err(|_| Errno::ENOSPC),
        }
    }

    fn release_pages(&self, n: u64) {
        self.used_pages.fetch_sub(n, Ordering::Relaxed);
    }
}

/// The allocator of unbound instances: over a private memory file that
/// no address space maps.
fn private_memory() -> Arc<PageAllocator> {
    static MEM: OnceLock<Arc<PageAllocator>> = OnceLock::new();
    MEM.get_or_init(|| Arc::new(PageAllocator::new(Arc::new(HeapMemory::default()))))
        .clone()
}

/// A memory file in the heap, page by page (pages exist once written).
#[derive(Default)]
struct HeapMemory {
    inner: Lock<HeapInner>,
}

#[derive(Default)]
struct HeapInner {
    size: u64,
    pages: BTreeMap<u64, Box<[u8]>>,
}

impl HeapMemory {
    /// Calls `f(page, range in page, range in the buffer)` for each page
    /// of `[off, off+len)`, after checking it lies in the file.
    fn each(
        size: u64,
        off: u64,
        len: usize,
        mut f: impl FnMut(u64, std::ops::Range<usize>, std::ops::Range<usize>),
    ) -> Result<(), Errno> {
        if off.checked_add(len as u64).is_none_or(|e| e > size) {
            return Err(Errno::EFAULT);
        }
        let mut pos = 0usize;
        while pos < len {
            let at = off + pos as u64;
            let in_page = (at % PAGE) as usize;
            let n = (PAGE as usize - in_page).min(len - pos);
            f(at / PAGE, in_page..in_page + n, pos..pos + n);
            pos += n;
        }
        Ok(())
    }
}

impl MemoryFile for HeapMemory {
    fn size(&self) -> u64 {
        self.inner.lock().size
    }

    fn grow(&self, size: u64) -> Result<(), PlatformError> {
        let mut g = self.inner.lock();
        g.size = g.size.max(size);
        Ok(())
    }

    fn read(&self, off: FileOffset, buf: &mut [u8]) -> Result<(), Errno> {
        let g = self.inner.lock();
        Self::each(g.size, off.0, buf.len(), |p, r, b| match g.pages.get(&p) {
            Some(page) => buf[b].copy_from_slice(&page[r]),
            None => buf[b].fill(0),
        })
    }

    fn write(&self, off: FileOffset, data: &[u8]) -> Result<(), Errno> {
        let mut g = self.inner.lock();
        let size = g.size;
        Self::each(size, off.0, data.len(), |p, r, b| {
            let page = g
                .pages
                .entry(p)
                .or_insert_with(|| vec![0u8; PAGE as usize].into_boxed_slice());
            page[r].copy_from_slice(&data[b]);
        })
    }

    fn zero(&self, off: FileOffset, len: u64) -> Result<(), Errno> {
        let len = usize::try_from(len).map_err(|_| Errno::EFAULT)?;
        let mut g = self.inner.lock();
        let size = g.size;
        Self::each(size, off.0, len, |p, r, _| {
            if let Some(page) = g.pages.get_mut(&p) {
                page[r].fill(0);
            }
        })
    }

    fn decommit(&self, off: FileOffset, len: u64) -> Result<(), Errno> {
        let mut g = self.inner.lock();
        let (lo, hi) = (off.0 / PAGE, (off.0 + len).div_ceil(PAGE));
        let gone: Vec<u64> = g.pages.range(lo..hi).map(|(&k, _)| k).collect();
        for k in gone {
            g.pages.remove(&k);
        }
        Ok(())
    }
}

/// A tmpfs instance.
pub struct TmpFs {
    shared: Arc<Shared>,
    root: Arc<TmpInode>,
}

impl TmpFs {
    /// A new, empty tmpfs (root mode 1777, owned by root, no size limit).
    pub fn new(clock: Arc<dyn Clock>) -> TmpFs {
        TmpFs::with_options(clock, TmpFsOptions::default())
    }

    /// A new, empty tmpfs with `opts`.
    pub fn with_options(clock: Arc<dyn Clock>, opts: TmpFsOptions) -> TmpFs {
        let shared = Arc::new(Shared {
            dev: alloc_dev(),
            next_ino: AtomicU64::new(2),
            clock,
            ns: Lock::new(()),
            capacity_pages: AtomicU64::new(opts.capacity.map_or(u64::MAX, |c| c.div_ceil(PAGE))),
            used_pages: AtomicU64::new(0),
            max_inodes: AtomicU64::new(u64::MAX),
            inodes: AtomicU64::new(0),
            devices: opts.devices,
            magic: opts.magic,
            memory: OnceLock::new(),
        });
        let root = TmpInode::new_with_ino(
            &shared,
            1,
            FileType::Directory,
            opts.root_mode,
            0,
            opts.root_owner,
            Body::Dir(Lock::new(DirData::new())),
        );
        TmpFs { shared, root }
    }

    /// The root directory.
    pub fn root(&self) -> Arc<TmpInode> {
        self.root.clone()
    }

    /// The root directory as a VFS root dentry, ready to mount.
    pub fn root_dentry(&self) -> Arc<Dentry> {
        Dentry::new_root(self.root.clone())
    }

    /// Takes file pages from `pages` (the kernel's allocator) from now
    /// on; an instance already bound stays as it is.
    pub fn bind_memory(&self, pages: &Arc<PageAllocator>) {
        let _ = self.shared.memory.set(pages.clone());
    }

    /// Binds an unbound instance to the kernel `cx` runs in.
    pub(crate) fn bind_to(&self, cx: &Task) {
        self.shared.bind(cx);
    }

    /// The device number (`st_dev`) of this instance.
    pub fn dev(&self) -> u64 {
        self.shared.dev
    }

    /// The limits: most pages of file data and most inodes (`None`: no
    /// limit).
    pub fn limits(&self) -> (Option<u64>, Option<u64>) {
        let f = |v: u64| (v != u64::MAX).then_some(v);
        (
            f(self.shared.capacity_pages.load(Ordering::Relaxed)),
            f(self.shared.max_inodes.load(Ordering::Relaxed)),
        )
    }

    /// Sets the limits of a new instance, in pages and inodes (`None`: no
    /// limit), as mount's `size=` / `nr_inodes=` do.
    pub fn set_limits(&self, pages: Option<u64>, inodes: Option<u64>) {
        let sh = &self.shared;
        sh.capacity_pages
            .store(pages.unwrap_or(u64::MAX), Ordering::Relaxed);
        sh.max_inodes
            .store(inodes.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Changes the limits on remount: each `Some` is a new limit (`Some(None)`
    /// lifts it), `None` leaves it. `EINVAL`, changing nothing, for a limit
    /// on an instance that had none ("cannot retroactively limit") or one
    /// below what is in use, as Linux's shmem_reconfigure.
    pub fn change_limits(
        &self,
        pages: Option<Option<u64>>,
        inodes: Option<Option<u64>>,
    ) -> Result<(), Errno> {
        let (cur_pages, cur_inodes) = self.limits();
        let (used_pages, used_inodes) = self.usage();
        let check = |new: Option<Option<u64>>, cur: Option<u64>, used: u64| match new {
            Some(Some(n)) if cur.is_none() || n < used => Err(Errno::EINVAL),
            _ => Ok(()),
        };
        check(pages, cur_pages, used_pages)?;
        check(inodes, cur_inodes, used_inodes)?;
        let sh = &self.shared;
        if let Some(p) = pages {
            sh.capacity_pages
                .store(p.unwrap_or(u64::MAX), Ordering::Relaxed);
        }
        if let Some(i) = inodes {
            sh.max_inodes
                .store(i.unwrap_or(u64::MAX), Ordering::Relaxed);
        }
        Ok(())
    }

    /// Pages of file data and inodes in use.
    pub fn usage(&self) -> (u64, u64) {
        (
            self.shared.used_pages.load(Ordering::Relaxed),
            self.shared.inodes.load(Ordering::Relaxed),
        )
    }
}

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    rdev: u64,
    atime: Timespec,
    mtime: Timespec,
    ctime: Timespec,
    /// Extended attributes (`security.*`, `trusted.*`, `user.*`).
    xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// A regular file's data.
pub(crate) struct FileData {
    fs: Arc<Shared>,
    store: RwLk<PageStore>,
    /// Address spaces mapping the pages (invalidated on truncation).
    maps: MappingSet,
}

impl FileData {
    fn new(fs: &Arc<Shared>) -> FileData {
        let budget: Arc<dyn PageBudget> = fs.clone();
        FileData {
            fs: fs.clone(),
            store: RwLk::new(PageStore::new(fs.memory(), Some(budget))),
            maps: MappingSet::new(),
        }
    }

    fn size(&self) -> u64 {
        self.store.read().size()
    }

    fn read(&self, buf: &mut [u8], off: u64) -> Result<usize, Errno> {
        self.store.read().read(buf, off)
    }

    fn write(&self, data: &[u8], off: u64) -> Result<usize, Errno> {
        let mut st = self.store.write();
        self.fs.rebind(&mut st);
        st.write(data, off)
    }

    fn truncate(&self, size: u64) -> Result<(), Errno> {
        let cut = self.store.write().set_size(size)?;
        // With the lock dropped: faults take the address space's lock
        // first and ours inside it.
        self.maps.truncated(cut);
        Ok(())
    }
}

impl MemoryPages for FileData {
    fn memory(&self) -> Arc<PageAllocator> {
        {
            let st = self.store.read();
            let bound = self.fs.memory.get();
            if st.page_count() > 0 || bound.is_none_or(|m| Arc::ptr_eq(m, st.memory())) {
                return st.memory().clone();
            }
        }
        let mut st = self.store.write();
        self.fs.rebind(&mut st);
        st.memory().clone()
    }

    fn get_pages(&self, first: u64, n: u64, out: &mut Vec<FileOffset>) -> Result<(), Errno> {
        // Fast path, under the read lock: every page is there.
        if self.store.read().get_present(first, n, out) {
            return Ok(());
        }
        let mut st = self.store.write();
        self.fs.rebind(&mut st);
        st.get_pages(first, n, out)
    }

    fn resident(&self, first: u64, out: &mut [u8]) {
        self.store.read().resident(first, out)
    }

    fn mappings(&self) -> &MappingSet {
        &self.maps
    }

    fn remove(&self, off: u64, len: u64) -> Result<(), Errno> {
        let gone = self.store.write().punch_hole(off, len)?;
        self.maps.punched(gone);
        Ok(())
    }

    fn allocate(&self, off: u64, len: u64) -> Result<(), Errno> {
        let first = off / PAGE_SIZE;
        let end = off
            .checked_add(len)
            .ok_or(Errno::EFBIG)?
            .div_ceil(PAGE_SIZE);
        self.store.write().allocate(first, end - first)
    }
}

struct DirData {
    entries: BTreeMap<Vec<u8>, (u64, Arc<TmpInode>)>,
    order: BTreeMap<u64, Vec<u8>>,
    next_cookie: u64,
    /// Removed by rmdir: nothing may be created in it any more.
    dead: bool,
}

impl DirData {
    fn new() -> DirData {
        DirData {
            entries: BTreeMap::new(),
            order: BTreeMap::new(),
            next_cookie: 1,
            dead: false,
        }
    }

    fn insert(&mut self, name: &[u8], inode: Arc<TmpInode>) {
        let c = self.next_cookie;
        self.next_cookie += 1;
        self.order.insert(c, name.to_vec());
        self.entries.insert(name.to_vec(), (c, inode));
    }

    fn remove(&mut self, name: &[u8]) -> Option<Arc<TmpInode>> {
        let (c, inode) = self.entries.remove(name)?;
        self.order.remove(&c);
        Some(inode)
    }

    fn get(&self, name: &[u8]) -> Option<Arc<TmpInode>> {
        self.entries.get(name).map(|(_, i)| i.clone())
    }
}

enum Body {
    File(FileData),
    Dir(Lock<DirData>),
    Symlink(Vec<u8>),
    Other,
}

/// A tmpfs inode.
pub struct TmpInode {
    fs: Arc<Shared>,
    this: Weak<TmpInode>,
    ino: u64,
    kind: FileType,
    /// The parent, for directories (a leaf lock: held alone).
    parent: Lock<Weak<TmpInode>>,
    meta: Lock<Meta>,
    body: Body,
    /// An O_TMPFILE file that may still be linked (Linux's `I_LINKABLE`).
    linkable: std::sync::atomic::AtomicBool,
}

impl Drop for TmpInode {
    fn drop(&mut self) {
        // A file's pages go back to the budget with its store.
        self.fs.inodes.fetch_sub(1, Ordering::Relaxed);
    }
}

impl TmpInode {
    fn new_with_ino(
        fs: &Arc<Shared>,
        ino: u64,
        kind: FileType,
        mode: u32,
        rdev: u64,
        owner: Owner,
        body: Body,
    ) -> Arc<TmpInode> {
        let now = fs.now();
        fs.inodes.fetch_add(1, Ordering::Relaxed);
        Arc::new_cyclic(|this| TmpInode {
            fs: fs.clone(),
            this: this.clone(),
            ino,
            kind,
            parent: Lock::new(Weak::new()),
            meta: Lock::new(Meta {
                mode: mode & 0o7777,
                uid: owner.uid,
                gid: owner.gid,
                nlink: if kind == FileType::Directory { 2 } else { 1 },
                rdev,
                atime: now,
                mtime: now,
                ctime: now,
                xattrs: BTreeMap::new(),
            }),
            body,
            linkable: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn new_node(
        &self,
        kind: FileType,
        mode: u32,
        rdev: u64,
        owner: Owner,
        body: Body,
    ) -> Arc<TmpInode> {
        let ino = self.fs.next_ino.fetch_add(1, Ordering::Relaxed);
        TmpInode::new_with_ino(&self.fs, ino, kind, mode, rdev, owner, body)
    }

    /// Inode number.
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// File type.
    pub fn kind(&self) -> FileType {
        self.kind
    }

    /// True if `other` belongs to the same tmpfs instance.
    pub(crate) fn same_fs(&self, other: &TmpInode) -> bool {
        Arc::ptr_eq(&self.fs, &other.fs)
    }

    fn dir(&self) -> Result<&Lock<DirData>, Errno> {
        match &self.body {
            Body::Dir(d) => Ok(d),
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn touch_dir(&self, nlink_delta: i64) {
        let now = self.fs.now();
        let mut m = self.meta.lock();
        m.mtime = now;
        m.ctime = now;
        m.nlink = m.nlink.saturating_add_signed(nlink_delta);
    }

    fn touch_ctime(&self, nlink_delta: i64) {
        let now = self.fs.now();
        let mut m = self.meta.lock();
        m.ctime = now;
        m.nlink = m.nlink.saturating_add_signed(nlink_delta);
    }

    /// Looks up `name` as a tmpfs inode.
    pub(crate) fn get(&self, name: &[u8]) -> Result<Arc<TmpInode>, Errno> {
        check_name(name)?;
        self.dir()?.lock().get(name).ok_or(Errno::ENOENT)
    }

    /// Inserts a new node under `name` (holding the ns lock).
    fn add(&self, name: &[u8], node: Arc<TmpInode>) -> Result<Arc<TmpInode>, Errno> {
        check_new_name(name)?;
        let _ns = self.fs.ns.lock();
        let mut d = self.dir()?.lock();
        if d.dead {
            return Err(Errno::ENOENT);
        }
        if d.entries.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        // The new node is counted already: past the limit, no room.
        if self.fs.inodes.load(Ordering::Relaxed) > self.fs.max_inodes.load(Ordering::Relaxed) {
            return Err(Errno::ENOSPC);
        }
        let is_dir = node.kind == FileType::Directory;
        if node.kind == FileType::Directory {
            *node.parent.lock() = self.this.clone();
        }
        d.insert(name, node.clone());
        drop(d);
        self.touch_dir(if is_dir { 1 } else { 0 });
        Ok(node)
    }

    /// A strong reference to this inode (always available while a method
    /// runs on it).
    pub(crate) fn me(&self) -> Result<Arc<TmpInode>, Errno> {
        self.this.upgrade().ok_or(Errno::ENOENT)
    }

    /// Creates a regular file (or other non-directory node) named `name`.
    pub(crate) fn create_node(
        &self,
        name: &[u8],
        kind: FileType,
        mode: u32,
        rdev: u64,
        owner: Owner,
    ) -> Result<Arc<TmpInode>, Errno> {
        let body = match kind {
            FileType::Regular => Body::File(FileData::new(&self.fs)),
            FileType::Directory | FileType::Symlink => return Err(Errno::EINVAL),
            _ => Body::Other,
        };
        let rdev = match kind {
            FileType::CharDevice | FileType::BlockDevice => rdev,
            _ => 0,
        };
        self.dir()?;
        let node = self.new_node(kind, mode, rdev, owner, body);
        self.add(name, node)
    }

    /// Creates an O_TMPFILE file: a regular file in no directory.
    pub(crate) fn create_tmpfile(
        &self,
        mode: u32,
        owner: Owner,
        linkable: bool,
    ) -> Result<Arc<TmpInode>, Errno> {
        self.dir()?;
        let node = self.new_node(
            FileType::Regular,
            mode,
            0,
            owner,
            Body::File(FileData::new(&self.fs)),
        );
        node.meta.lock().nlink = 0;
        node.linkable.store(linkable, Ordering::Relaxed);
        Ok(node)
    }

    /// Creates a directory named `name`.
    pub(crate) fn create_dir(
        &self,
        name: &[u8],
        mode: u32,
        owner: Owner,
    ) -> Result<Arc<TmpInode>, Errno> {
        self.dir()?;
        let node = self.new_node(
            FileType::Directory,
            mode,
            0,
            owner,
            Body::Dir(Lock::new(DirData::new())),
        );
        self.add(name, node)
    }

    /// Creates a symlink named `name`.
    pub(crate) fn create_symlink(
        &self,
        name: &[u8],
        target: &[u8],
        owner: Owner,
    ) -> Result<Arc<TmpInode>, Errno> {
        self.dir()?;
        if target.is_empty() {
            return Err(Errno::ENOENT);
        }
        if target.len() >= veil_abi::flags::PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let node = self.new_node(
            FileType::Symlink,
            0o777,
            0,
            owner,
            Body::Symlink(target.to_vec()),
        );
        self.add(name, node)
    }

    /// Writes `data` at `off` of a regular file.
    pub(crate) fn write_at(&self, data: &[u8], off: u64) -> Result<usize, Errno> {
        let Body::File(p) = &self.body else {
            return Err(Errno::EINVAL);
        };
        let n = p.write(data, off)?;
        if n > 0 {
            let now = self.fs.now();
            let mut m = self.meta.lock();
            m.mtime = now;
            m.ctime = now;
        }
        Ok(n)
    }

    /// Reads at `off` of a regular file.
    pub(crate) fn read_at(&self, buf: &mut [u8], off: u64) -> Result<usize, Errno> {
        match &self.body {
            Body::File(p) => p.read(buf, off),
            Body::Dir(_) => Err(Errno::EISDIR),
            _ => Err(Errno::EINVAL),
        }
    }

    fn truncate_data(&self, size: u64) -> Result<(), Errno> {
        match &self.body {
            Body::File(p) => p.truncate(size),
            Body::Dir(_) => Err(Errno::EISDIR),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Sets attributes exactly as given, including ctime (copy-up).
    pub(crate) fn set_attr_raw(&self, set: &SetAttr) -> Result<(), Errno> {
        if let Some(size) = set.size {
            self.truncate_data(size)?;
        }
        let mut m = self.meta.lock();
        if let Some(mode) = set.mode {
            m.mode = mode & 0o7777;
        }
        if let Some(uid) = set.uid {
            m.uid = uid;
        }
        if let Some(gid) = set.gid {
            m.gid = gid;
        }
        if let Some(t) = set.atime {
            m.atime = t;
        }
        if let Some(t) = set.mtime {
            m.mtime = t;
        }
        if let Some(t) = set.ctime {
            m.ctime = t;
        }
        Ok(())
    }

    /// Opens without a task (regular files only): for overlay copy-up and
    /// for tmpfs as an overlay's lower layer.
    pub(crate) fn open_file(self: &Arc<Self>, flags: u32) -> Result<Arc<dyn FileOps>, Errno> {
        match self.kind {
            FileType::Regular => {}
            FileType::Directory => return Err(Errno::EISDIR),
            _ => return Err(Errno::ENXIO),
        }
        if flags & O_TRUNC != 0 && flags & O_ACCMODE != O_RDONLY {
            self.truncate_data(0)?;
            let now = self.fs.now();
            let mut m = self.meta.lock();
            m.mtime = now;
            m.ctime = now;
        }
        Ok(Arc::new(TmpFile {
            inode: self.clone(),
        }))
    }

    /// The symlink target.
    pub(crate) fn target(&self) -> Result<Vec<u8>, Errno> {
        match &self.body {
            Body::Symlink(t) => Ok(t.clone()),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Entries from cookie `offset` on, in batches, without holding the
    /// directory lock while `sink` runs.
    pub(crate) fn list(
        &self,
        offset: u64,
        sink: &mut dyn FnMut(DirEntry) -> bool,
    ) -> Result<(), Errno> {
        let d = self.dir()?;
        let mut next = offset;
        loop {
            let batch: Vec<DirEntry> = {
                let d = d.lock();
                d.order
                    .range(next..)
                    .take(128)
                    .filter_map(|(&c, name)| {
                        d.entries.get(name).map(|(_, i)| DirEntry {
                            ino: i.ino,
                            kind: i.kind,
                            name: name.clone(),
                            next: c + 1,
                        })
                    })
                    .collect()
            };
            let Some(last) = batch.last() else {
                return Ok(());
            };
            next = last.next;
            for e in batch {
                if !sink(e) {
                    return Ok(());
                }
            }
        }
    }

    /// True if `self` (a directory) is `other` or one of its ancestors.
    fn is_ancestor_of(&self, other: &Arc<TmpInode>) -> bool {
        let mut cur = Some(other.clone());
        let mut guard = 0u32;
        while let Some(c) = cur {
            if std::ptr::eq(&*c, self) {
                return true;
            }
            guard += 1;
            if guard > 1 << 20 {
                return false;
            }
            let next = c.parent.lock().upgrade();
            cur = next;
        }
        false
    }
}

impl TmpInode {
    fn rename_locked(
        &self,
        me: &Arc<TmpInode>,
        old_name: &[u8],
        nd: &Arc<TmpInode>,
        new_name: &[u8],
        flags: u32,
    ) -> Result<(), Errno> {
        let same_dir = Arc::ptr_eq(me, nd);
        let _ns = self.fs.ns.lock();
        let mut sd = self.dir()?.lock();
        let mut dd = if same_dir {
            None
        } else {
            Some(nd.dir()?.lock())
        };
        let src = sd.get(old_name).ok_or(Errno::ENOENT)?;
        let tgt = match &dd {
            Some(g) => g.get(new_name),
            None => sd.get(new_name),
        };
        if dd.as_ref().is_some_and(|g| g.dead) {
            return Err(Errno::ENOENT);
        }
        let exchange = flags & RENAME_EXCHANGE != 0;
        if let Some(t) = &tgt {
            if Arc::ptr_eq(t, &src) {
                // The same inode (one entry, or two hard links): rename(2)
                // does nothing.
                return if flags & RENAME_NOREPLACE != 0 {
                    Err(Errno::EEXIST)
                } else {
                    Ok(())
                };
            }
        }
        let src_dir = src.kind == FileType::Directory;
        if exchange {
            let t = tgt.clone().ok_or(Errno::ENOENT)?;
            let tgt_dir = t.kind == FileType::Directory;
            if !same_dir
                && ((src_dir && src.is_ancestor_of(nd)) || (tgt_dir && t.is_ancestor_of(me)))
            {
                return Err(Errno::EINVAL);
            }
            sd.remove(old_name);
            match &mut dd {
                Some(g) => {
                    g.remove(new_name);
                    g.insert(new_name, src.clone());
                }
                None => {
                    sd.remove(new_name);
                    sd.insert(new_name, src.clone());
                }
            }
            sd.insert(old_name, t.clone());
            drop(sd);
            drop(dd);
            if !same_dir {
                if src_dir {
                    *src.parent.lock() = Arc::downgrade(nd);
                }
                if tgt_dir {
                    *t.parent.lock() = Arc::downgrade(me);
                }
                let delta = src_dir as i64 - tgt_dir as i64;
                self.touch_dir(-delta);
                nd.touch_dir(delta);
            } else {
                self.touch_dir(0);
            }
            src.touch_ctime(0);
            t.touch_ctime(0);
            return Ok(());
        }
        if let Some(t) = &tgt {
            if flags & RENAME_NOREPLACE != 0 {
                return Err(Errno::EEXIST);
            }
            match (src_dir, t.kind == FileType::Directory) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                (true, true) => {
                    // `t` is in `nd`; it is `self` only if `self` holds
                    // `src`, so it is not empty.
                    if Arc::ptr_eq(t, me) || !t.dir()?.lock().entries.is_empty() {
                        return Err(Errno::ENOTEMPTY);
                    }
                }
                (false, false) => {}
            }
        }
        if src_dir && !same_dir && src.is_ancestor_of(nd) {
            return Err(Errno::EINVAL);
        }
        // Commit.
        let mut dst_delta: i64 = 0;
        if let Some(t) = &tgt {
            match &mut dd {
                Some(g) => g.remove(new_name),
                None => sd.remove(new_name),
            };
            if let Body::Dir(d) = &t.body {
                d.lock().dead = true;
                t.meta.lock().nlink = 0;
                t.touch_ctime(0);
                dst_delta -= 1;
            } else {
                t.touch_ctime(-1);
            }
        }
        sd.remove(old_name);
        match &mut dd {
            Some(g) => g.insert(new_name, src.clone()),
            None => sd.insert(new_name, src.clone()),
        }
        drop(sd);
        drop(dd);
        if src_dir && !same_dir {
            *src.parent.lock() = Arc::downgrade(nd);
            self.touch_dir(-1);
            dst_delta += 1;
        } else if !same_dir {
            self.touch_dir(0);
        }
        nd.touch_dir(dst_delta);
        src.touch_ctime(0);
        Ok(())
    }
}

impl Inode for TmpInode {
    fn attr(&self) -> Result<InodeAttr, Errno> {
        let (size, blocks) = match &self.body {
            Body::File(p) => {
                let st = p.store.read();
                (st.size(), st.page_count() * (PAGE / 512))
            }
            Body::Dir(d) => ((d.lock().entries.len() as u64 + 2) * BOGO_DIRENT_SIZE, 0),
            Body::Symlink(t) => (t.len() as u64, 0),
            Body::Other => (0, 0),
        };
        let m = self.meta.lock();
        Ok(InodeAttr {
            dev: self.fs.dev,
            ino: self.ino,
            mode: self.kind.mode_bits() | m.mode,
            nlink: m.nlink,
            uid: m.uid,
            gid: m.gid,
            rdev: m.rdev,
            size,
            blksize: PAGE as u32,
            blocks,
            atime: m.atime,
            mtime: m.mtime,
            ctime: m.ctime,
            btime: None,
        })
    }

    fn set_attr(&self, set: &SetAttr) -> Result<(), Errno> {
        let mut set = *set;
        let now = self.fs.now();
        if set.size.is_some() && set.mtime.is_none() {
            set.mtime = Some(now);
        }
        if set.ctime.is_none() {
            set.ctime = Some(now);
        }
        self.set_attr_raw(&set)
    }

    fn lookup(&self, cx: &Task, name: &[u8]) -> Result<InodeRef, Errno> {
        self.fs.bind(cx);
        Ok(self.get(name)?)
    }

    fn mknod(
        &self,
        name: &[u8],
        kind: FileType,
        mode: u32,
        rdev: u64,
        owner: Owner,
    ) -> Result<InodeRef, Errno> {
        Ok(self.create_node(name, kind, mode, rdev, owner)?)
    }

    fn mkdir(&self, name: &[u8], mode: u32, owner: Owner) -> Result<InodeRef, Errno> {
        Ok(self.create_dir(name, mode, owner)?)
    }

    fn tmpfile(&self, mode: u32, owner: Owner, linkable: bool) -> Result<InodeRef, Errno> {
        Ok(self.create_tmpfile(mode, owner, linkable)?)
    }

    fn symlink(&self, name: &[u8], target: &[u8], owner: Owner) -> Result<InodeRef, Errno> {
        Ok(self.create_symlink(name, target, owner)?)
    }

    fn link(&self, name: &[u8], target: &InodeRef) -> Result<(), Errno> {
        self.dir()?;
        let t = target
            .as_any()
            .downcast_ref::<TmpInode>()
            .filter(|t| t.same_fs(self))
            .ok_or(Errno::EXDEV)?
            .me()?;
        if t.kind == FileType::Directory {
            return Err(Errno::EPERM);
        }
        check_new_name(name)?;
        let _ns = self.fs.ns.lock();
        // An unlinked file stays unnamed, unless it is an O_TMPFILE file
        // never linked yet.
        if t.meta.lock().nlink == 0 && !t.linkable.load(Ordering::Relaxed) {
            return Err(Errno::ENOENT);
        }
        let mut d = self.dir()?.lock();
        if d.dead {
            return Err(Errno::ENOENT);
        }
        if d.entries.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        d.insert(name, t.clone());
        t.linkable.store(false, Ordering::Relaxed);
        drop(d);
        t.touch_ctime(1);
        self.touch_dir(0);
        Ok(())
    }

    fn unlink(&self, name: &[u8]) -> Result<(), Errno> {
        check_name(name)?;
        let _ns = self.fs.ns.lock();
        let mut d = self.dir()?.lock();
        let child = d.get(name).ok_or(Errno::ENOENT)?;
        if child.kind == FileType::Directory {
            return Err(Errno::EISDIR);
        }
        d.remove(name);
        drop(d);
        child.touch_ctime(-1);
        self.touch_dir(0);
        Ok(())
    }

    fn rmdir(&self, name: &[u8]) -> Result<(), Errno> {
        check_name(name)?;
        let _ns = self.fs.ns.lock();
        let mut d = self.dir()?.lock();
        let child = d.get(name).ok_or(Errno::ENOENT)?;
        let cd = child.dir()?;
        {
            let mut cd = cd.lock();
            if !cd.entries.is_empty() {
                return Err(Errno::ENOTEMPTY);
            }
            cd.dead = true;
        }
        d.remove(name);
        drop(d);
        child.meta.lock().nlink = 0;
        child.touch_ctime(0);
        self.touch_dir(-1);
        Ok(())
    }

    fn rename(
        &self,
        old_name: &[u8],
        new_dir: &InodeRef,
        new_name: &[u8],
        flags: u32,
    ) -> Result<(), Errno> {
        // RENAME_WHITEOUT moves as a plain rename; core then makes the
        // whiteout at the old name (tmpfs has whiteouts, as Linux's).
        if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) != 0
            || (flags & RENAME_NOREPLACE != 0 && flags & RENAME_EXCHANGE != 0)
        {
            return Err(Errno::EINVAL);
        }
        let flags = flags & !RENAME_WHITEOUT;
        check_name(old_name)?;
        check_name(new_name)?;
        let nd = new_dir
            .as_any()
            .downcast_ref::<TmpInode>()
            .filter(|n| n.same_fs(self))
            .ok_or(Errno::EXDEV)?
            .me()?;
        let me = self.me()?;
        self.rename_locked(&me, old_name, &nd, new_name, flags)
    }

    fn readdir(&self, offset: u64, sink: &mut dyn FnMut(DirEntry) -> bool) -> Result<(), Errno> {
        self.list(offset, sink)
    }

    fn readlink(&self, _cx: &Task) -> Result<Vec<u8>, Errno> {
        self.target()
    }

    fn open(&self, cx: &Task, flags: u32) -> Result<Arc<dyn FileOps>, Errno> {
        self.fs.bind(cx);
        match self.kind {
            FileType::CharDevice | FileType::BlockDevice => {
                let rdev = self.meta.lock().rdev;
                match &self.fs.devices {
                    Some(d) => d.open_device(cx, self.kind, rdev, flags),
                    None => Err(Errno::ENXIO),
                }
            }
            FileType::Regular => self.me()?.open_file(flags),
            FileType::Directory => Err(Errno::EISDIR),
            _ => Err(Errno::ENXIO),
        }
    }

    fn get_xattr(&self, name: &[u8]) -> Result<Vec<u8>, Errno> {
        self.meta
            .lock()
            .xattrs
            .get(name)
            .cloned()
            .ok_or(Errno::ENODATA)
    }

    fn set_xattr(&self, name: &[u8], value: &[u8], flags: u32) -> Result<(), Errno> {
        // shmem's handlers: no POSIX ACLs, nothing outside these three.
        if ![&b"security."[..], b"trusted.", b"user."]
            .iter()
            .any(|p| name.starts_with(p))
        {
            return Err(Errno::EOPNOTSUPP);
        }
        let now = self.fs.now();
        let mut m = self.meta.lock();
        let exists = m.xattrs.contains_key(name);
        if exists && flags & XATTR_CREATE != 0 {
            return Err(Errno::EEXIST);
        }
        if !exists && flags & XATTR_REPLACE != 0 {
            return Err(Errno::ENODATA);
        }
        m.xattrs.insert(name.to_vec(), value.to_vec());
        m.ctime = now;
        Ok(())
    }

    fn remove_xattr(&self, name: &[u8]) -> Result<(), Errno> {
        let now = self.fs.now();
        let mut m = self.meta.lock();
        m.xattrs.remove(name).ok_or(Errno::ENODATA)?;
        m.ctime = now;
        Ok(())
    }

    fn list_xattr(&self) -> Result<Vec<Vec<u8>>, Errno> {
        Ok(self.meta.lock().xattrs.keys().cloned().collect())
    }

    fn statfs(&self) -> Result<Statfs, Errno> {
        let used = self.fs.used_pages.load(Ordering::Relaxed);
        let total = match self.fs.capacity_pages.load(Ordering::Relaxed) {
            u64::MAX => (used + (1 << 20)).max(1 << 21),
            cap => cap,
        };
        let free = total.saturating_sub(used);
        let files = self.fs.inodes.load(Ordering::Relaxed);
        let (f_files, f_ffree) = match self.fs.max_inodes.load(Ordering::Relaxed) {
            u64::MAX => (files + (1 << 20), 1 << 20),
            max => (max, max.saturating_sub(files)),
        };
        Ok(Statfs {
            f_type: self.fs.magic,
            f_bsize: PAGE as i64,
            f_blocks: total,
            f_bfree: free,
            f_bavail: free,
            f_files,
            f_ffree,
            f_fsid: [self.fs.dev as i32, (self.fs.dev >> 32) as i32],
            f_namelen: 255,
            f_frsize: PAGE as i64,
            f_flags: 0x20, // ST_VALID
            ..Default::default()
        })
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// An open tmpfs regular file.
struct TmpFile {
    inode: Arc<TmpInode>,
}

impl FileOps for TmpFile {
    fn read(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        self.inode.read_at(buf, offset)
    }

    fn write(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        self.inode.write_at(buf, offset)
    }

    fn size(&self) -> Result<u64, Errno> {
        match &self.inode.body {
            Body::File(p) => Ok(p.size()),
            _ => Ok(0),
        }
    }

    fn truncate(&self, size: u64) -> Result<(), Errno> {
        self.inode.set_attr(&SetAttr {
            size: Some(size),
            ..Default::default()
        })
    }

    fn memory_pages(&self) -> Option<&dyn MemoryPages> {
        match &self.inode.body {
            Body::File(d) => Some(d),
            _ => None,
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{task, TestClock};
    use veil_abi::flags::O_RDWR;

    fn fs() -> (TmpFs, Arc<TestClock>) {
        let clock = Arc::new(TestClock::default());
        (TmpFs::new(clock.clone()), clock)
    }

    fn names(dir: &dyn Inode) -> Vec<String> {
        let mut out = Vec::new();
        dir.readdir(0, &mut |e| {
            out.push(String::from_utf8_lossy(&e.name).into_owned());
            true
        })
        .unwrap();
        out
    }

    const OWNER: Owner = Owner {
        uid: 1000,
        gid: 100,
    };

    #[test]
    fn create_lookup_read_write() {
        let (fs, _) = fs();
        let t = task();
        let root = fs.root();
        let f = root
            .mknod(b"a", FileType::Regular, 0o644, 0, OWNER)
            .unwrap();
        let a = f.attr().unwrap();
        assert_eq!(a.mode, 0o100644);
        assert_eq!((a.uid, a.gid, a.nlink, a.size), (1000, 100, 1, 0));
        assert_eq!(a.dev, fs.dev());
        let file = f.open(&t, O_RDWR).unwrap();
        assert_eq!(file.write(b"hello", 0).unwrap(), 5);
        // Sparse write far away.
        assert_eq!(file.write(b"x", 10_000).unwrap(), 1);
        assert_eq!(file.size().unwrap(), 10_001);
        let mut buf = [7u8; 16];
        assert_eq!(file.read(&mut buf, 0).unwrap(), 16);
        assert_eq!(&buf[..5], b"hello");
        assert!(buf[5..].iter().all(|&b| b == 0));
        assert_eq!(file.read(&mut buf, 10_000).unwrap(), 1);
        assert_eq!(buf[0], b'x');
        assert_eq!(file.read(&mut buf, 20_000).unwrap(), 0);
        assert_eq!(f.attr().unwrap().blocks, 16); // two pages
        let again = root.lookup(&t, b"a").unwrap();
        assert_eq!(again.attr().unwrap().ino, a.ino);
        assert_eq!(root.lookup(&t, b"b").err(), Some(Errno::ENOENT));
        assert_eq!(root.lookup(&t, b"..").err(), Some(Errno::EINVAL));
        assert_eq!(
            root.mknod(b"a", FileType::Regular, 0o644, 0, OWNER).err(),
            Some(Errno::EEXIST)
        );
        assert_eq!(f.lookup(&t, b"x").err(), Some(Errno::ENOTDIR));
    }

    #[test]
    fn truncate_zeroes_tail() {
        let (fs, _) = fs();
        let t = task();
        let f = fs
            .root()
            .mknod(b"f", FileType::Regular, 0o600, 0, OWNER)
            .unwrap();
        let file = f.open(&t, O_RDWR).unwrap();
        file.write(&[1u8; 6000], 0).unwrap();
        file.truncate(100).unwrap();
        file.truncate(6000).unwrap();
        let mut buf = vec![9u8; 6000];
        assert_eq!(file.read(&mut buf, 0).unwrap(), 6000);
        assert!(buf[..100].iter().all(|&b| b == 1));
        assert!(buf[100..].iter().all(|&b| b == 0));
        // O_TRUNC empties on open for writing.
        let file2 = f.open(&t, O_RDWR | O_TRUNC).unwrap();
        assert_eq!(file2.size().unwrap(), 0);
        assert_eq!(
            f.set_attr(&SetAttr {
                size: Some(u64::MAX),
                ..Default::default()
            })
            .err(),
            Some(Errno::EFBIG)
        );
    }

    #[test]
    fn shared_mappings_are_the_file() {
        use veil_abi::flags::{MAP_PRIVATE, MAP_SHARED};
        use veil_core::addr::UserAddr;
        use veil_core::mm::MappedFile;
        use veil_core::platform::{Access, Prot};
        let (fs, _) = fs();
        fs.set_limits(Some(4), None);
        let t = task();
        let f = fs
            .root()
            .mknod(b"f", FileType::Regular, 0o600, 0, OWNER)
            .unwrap();
        // Opening by a task binds the instance to its kernel's memory.
        let file = f.open(&t, O_RDWR).unwrap();
        assert!(Arc::ptr_eq(
            &file.memory_pages().unwrap().memory(),
            &t.kernel.pages
        ));
        file.write(b"hello", 0).unwrap();
        file.truncate(3 * PAGE).unwrap();
        let map = |flags| {
            let mf = MappedFile {
                file: file.clone(),
                name: b"/f".to_vec(),
                dev_ino: (1, 2),
                writable: true,
            };
            let rw = Prot::READ | Prot::WRITE;
            t.mm.mmap(UserAddr(0), 4 * PAGE, rw, flags, Some((mf, 0)))
                .unwrap()
        };
        let (a, b, p) = (map(MAP_SHARED), map(MAP_SHARED), map(MAP_PRIVATE));
        let mut buf = [0u8; 5];
        t.mm.copy_in(b, &mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        // A write through one mapping is in the file and the other one.
        t.mm.copy_out(UserAddr(a.0 + PAGE), b"world").unwrap();
        let mut rb = [0u8; 5];
        file.read(&mut rb, PAGE).unwrap();
        assert_eq!(&rb, b"world");
        t.mm.copy_in(UserAddr(b.0 + PAGE), &mut buf).unwrap();
        assert_eq!(&buf, b"world");
        // And a write to the file is in both.
        file.write(b"HELLO", 0).unwrap();
        t.mm.copy_in(a, &mut buf).unwrap();
        assert_eq!(&buf, b"HELLO");
        assert_eq!(t.mm.translate(a), t.mm.translate(b), "the same page");
        // The private mapping copies and never writes back.
        t.mm.copy_out(p, b"priv!").unwrap();
        file.read(&mut rb, 0).unwrap();
        assert_eq!(&rb, b"HELLO");
        // Truncation takes the pages past the end from every mapping:
        // the page after the end faults with SIGBUS (EIO), and a file
        // grown again shows zeros everywhere.
        file.truncate(PAGE + 2).unwrap();
        assert_eq!(
            t.mm.handle_fault(UserAddr(a.0 + 2 * PAGE), Access::Read),
            Err(Errno::EIO)
        );
        assert_eq!(
            t.mm.handle_fault(UserAddr(p.0 + 2 * PAGE), Access::Read),
            Err(Errno::EIO)
        );
        t.mm.copy_in(UserAddr(b.0 + PAGE), &mut buf).unwrap();
        assert_eq!(&buf, b"wo\0\0\0", "the tail of the last page is zeroed");
        file.truncate(3 * PAGE).unwrap();
        t.mm.copy_out(UserAddr(a.0 + 2 * PAGE), b"again").unwrap();
        file.read(&mut rb, 2 * PAGE).unwrap();
        assert_eq!(&rb, b"again");
        // The size limit: a fault that needs a page past it is SIGBUS.
        file.truncate(8 * PAGE).unwrap();
        assert_eq!(fs.usage().0, 3);
        t.mm.handle_fault(UserAddr(a.0 + 3 * PAGE), Access::Write)
            .unwrap();
        assert_eq!(fs.usage().0, 4);
        let c =
            t.mm.mmap(
                UserAddr(0),
                PAGE,
                Prot::READ,
                MAP_SHARED,
                Some((
                    MappedFile {
                        file: file.clone(),
                        name: b"/f".to_vec(),
                        dev_ino: (1, 2),
                        writable: true,
                    },
                    5 * PAGE,
                )),
            )
            .unwrap();
        assert_eq!(t.mm.handle_fault(c, Access::Read), Err(Errno::EIO));
        // mincore sees the file's pages, touched here or not.
        let mut res = [9u8; 4];
        t.mm.mincore(b, &mut res).unwrap();
        assert_eq!(res, [1, 1, 1, 1]);
        file.truncate(2 * PAGE).unwrap();
        file.truncate(4 * PAGE).unwrap();
        t.mm.mincore(b, &mut res).unwrap();
        assert_eq!(res, [1, 1, 0, 0], "holes are not resident");
    }

    #[test]
    fn capacity_enospc() {
        let clock = Arc::new(TestClock::default());
        let fs = TmpFs::with_options(
            clock,
            TmpFsOptions {
                capacity: Some(8192),
                ..Default::default()
            },
        );
        let t = task();
        let f = fs
            .root()
            .mknod(b"f", FileType::Regular, 0o600, 0, OWNER)
            .unwrap();
        let file = f.open(&t, O_RDWR).unwrap();
        file.write(&[1u8; 8192], 0).unwrap();
        assert_eq!(file.write(b"x", 8192).err(), Some(Errno::ENOSPC));
        file.truncate(0).unwrap();
        file.write(b"x", 4096).unwrap();
        drop(file);
        fs.root().unlink(b"f").unwrap();
        drop(f);
        assert_eq!(fs.shared.used_pages.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn limits_short_writes_and_remount() {
        let fs = TmpFs::new(Arc::new(TestClock::default()));
        fs.set_limits(Some(3), Some(3));
        let t = task();
        let root = fs.root();
        let f = root
            .mknod(b"f", FileType::Regular, 0o600, 0, OWNER)
            .unwrap();
        // Root and "f" use two of three inodes.
        root.mkdir(b"d", 0o700, OWNER).unwrap();
        assert_eq!(
            root.mknod(b"g", FileType::Regular, 0o600, 0, OWNER).err(),
            Some(Errno::ENOSPC)
        );
        assert_eq!(root.mkdir(b"d", 0o700, OWNER).err(), Some(Errno::EEXIST));
        let st = root.statfs().unwrap();
        assert_eq!((st.f_blocks, st.f_files, st.f_ffree), (3, 3, 0));
        // A write past the limit is short; the next one fails.
        let file = f.open(&t, O_RDWR).unwrap();
        assert_eq!(file.write(&[7u8; 5 * 4096], 100).unwrap(), 3 * 4096 - 100);
        assert_eq!(file.size().unwrap(), 3 * 4096);
        assert_eq!(file.write(b"x", 3 * 4096).err(), Some(Errno::ENOSPC));
        assert_eq!(root.statfs().unwrap().f_bfree, 0);
        // Remount: not below what is in use; lifting and raising are fine.
        assert_eq!(fs.change_limits(Some(Some(2)), None), Err(Errno::EINVAL));
        assert_eq!(fs.change_limits(None, Some(Some(2))), Err(Errno::EINVAL));
        fs.change_limits(Some(Some(4)), Some(None)).unwrap();
        assert_eq!(fs.limits(), (Some(4), None));
        file.write(b"x", 3 * 4096).unwrap();
        root.mknod(b"g", FileType::Regular, 0o600, 0, OWNER)
            .unwrap();
        // No limit may be put back on afterwards.
        assert_eq!(fs.change_limits(None, Some(Some(100))), Err(Errno::EINVAL));
    }

    #[test]
    fn tmpfiles_link_once() {
        let (fs, _) = fs();
        let t = task();
        let root = fs.root();
        let f = root.tmpfile(0o600, OWNER, true).unwrap();
        assert_eq!(f.attr().unwrap().nlink, 0);
        assert_eq!(names(&*root), Vec::<String>::new());
        let file = f.open(&t, O_RDWR).unwrap();
        file.write(b"data", 0).unwrap();
        root.link(b"a", &f).unwrap();
        assert_eq!(f.attr().unwrap().nlink, 1);
        assert_eq!(names(&*root), ["a"]);
        root.unlink(b"a").unwrap();
        // Linked once, it is an ordinary unlinked file now.
        assert_eq!(root.link(b"b", &f).err(), Some(Errno::ENOENT));
        let excl = root.tmpfile(0o600, OWNER, false).unwrap();
        assert_eq!(root.link(b"c", &excl).err(), Some(Errno::ENOENT));
        // A failed link leaves it linkable.
        let g = root.tmpfile(0o600, OWNER, true).unwrap();
        root.mknod(b"taken", FileType::Regular, 0o600, 0, OWNER)
            .unwrap();
        assert_eq!(root.link(b"taken", &g).err(), Some(Errno::EEXIST));
        root.link(b"free", &g).unwrap();
        assert_eq!(f.tmpfile(0o600, OWNER, true).err(), Some(Errno::ENOTDIR));
    }

    #[test]
    fn dirs_links_and_nlink() {
        let (fs, _) = fs();
        let t = task();
        let root = fs.root();
        assert_eq!(root.attr().unwrap().nlink, 2);
        let d = root.mkdir(b"d", 0o755, OWNER).unwrap();
        assert_eq!(root.attr().unwrap().nlink, 3);
        assert_eq!(d.attr().unwrap().mode, 0o40755);
        let f = d.mknod(b"f", FileType::Regular, 0o644, 0, OWNER).unwrap();
        d.link(b"g", &f).unwrap();
        assert_eq!(f.attr().unwrap().nlink, 2);
        assert_eq!(d.link(b"g", &f).err(), Some(Errno::EEXIST));
        assert_eq!(root.link(b"dd", &d).err(), Some(Errno::EPERM));
        assert_eq!(root.rmdir(b"d").err(), Some(Errno::ENOTEMPTY));
        assert_eq!(root.unlink(b"d").err(), Some(Errno::EISDIR));
        assert_eq!(d.rmdir(b"f").err(), Some(Errno::ENOTDIR));
        d.unlink(b"f").unwrap();
        assert_eq!(f.attr().unwrap().nlink, 1);
        d.unlink(b"g").unwrap();
        assert_eq!(f.attr().unwrap().nlink, 0);
        assert_eq!(d.link(b"h", &f).err(), Some(Errno::ENOENT));
        root.rmdir(b"d").unwrap();
        assert_eq!(root.attr().unwrap().nlink, 2);
        assert_eq!(d.attr().unwrap().nlink, 0);
        // Nothing can be created in a removed directory.
        assert_eq!(
            d.mknod(b"x", FileType::Regular, 0o644, 0, OWNER).err(),
            Some(Errno::ENOENT)
        );
        let s = root.symlink(b"s", b"/etc/passwd", OWNER).unwrap();
        assert_eq!(s.readlink(&t).unwrap(), b"/etc/passwd");
        assert_eq!(s.attr().unwrap().mode, 0o120777);
        assert_eq!(s.attr().unwrap().size, 11);
        let p = root.mknod(b"p", FileType::Fifo, 0o600, 0, OWNER).unwrap();
        assert_eq!(p.attr().unwrap().mode, 0o10600);
        let c = root
            .mknod(b"c", FileType::CharDevice, 0o600, 0x103, OWNER)
            .unwrap();
        assert_eq!(c.attr().unwrap().rdev, 0x103);
        assert_eq!(c.open(&t, 0).err(), Some(Errno::ENXIO));
    }

    #[test]
    fn readdir_cookies_are_stable() {
        let (fs, _) = fs();
        let root = fs.root();
        for i in 0..300 {
            root.mknod(
                format!("f{i:03}").as_bytes(),
                FileType::Regular,
                0o644,
                0,
                OWNER,
            )
            .unwrap();
        }
        // Read 10 entries, delete some, then continue from the cookie.
        let mut first = Vec::new();
        let mut next = 0;
        root.readdir(0, &mut |e| {
            next = e.next;
            first.push(e.name);
            first.len() < 10
        })
        .unwrap();
        assert_eq!(first.len(), 10);
        root.unlink(b"f000").unwrap();
        root.unlink(b"f050").unwrap();
        let mut rest = Vec::new();
        root.readdir(next, &mut |e| {
            rest.push(e.name);
            true
        })
        .unwrap();
        assert_eq!(rest.len(), 289);
        assert_eq!(rest[0], b"f010");
        assert_eq!(names(&*root).len(), 298);
    }

    #[test]
    fn rename_semantics() {
        let (fs, _) = fs();
        let t = task();
        let root = fs.root();
        let a = root.mkdir(b"a", 0o755, OWNER).unwrap();
        let b = root.mkdir(b"b", 0o755, OWNER).unwrap();
        let f = a.mknod(b"f", FileType::Regular, 0o644, 0, OWNER).unwrap();
        let g = b.mknod(b"g", FileType::Regular, 0o644, 0, OWNER).unwrap();
        let rootref: InodeRef = root.clone();
        let aref: InodeRef = a.clone();
        let bref: InodeRef = b.clone();
        // File over file, across directories.
        a.rename(b"f", &bref, b"g", 0).unwrap();
        assert_eq!(names(&*a), Vec::<String>::new());
        assert_eq!(names(&*b), vec!["g"]);
        assert_eq!(
            b.lookup(&t, b"g").unwrap().attr().unwrap().ino,
            f.attr().unwrap().ino
        );
        assert_eq!(g.attr().unwrap().nlink, 0);
        // NOREPLACE.
        b.mknod(b"h", FileType::Regular, 0o644, 0, OWNER).unwrap();
        assert_eq!(
            b.rename(b"g", &bref, b"h", RENAME_NOREPLACE).err(),
            Some(Errno::EEXIST)
        );
        // Missing source.
        assert_eq!(b.rename(b"zz", &bref, b"h", 0).err(), Some(Errno::ENOENT));
        // Type mismatches.
        b.mkdir(b"sub", 0o755, OWNER).unwrap();
        assert_eq!(b.rename(b"g", &bref, b"sub", 0).err(), Some(Errno::EISDIR));
        assert_eq!(b.rename(b"sub", &bref, b"g", 0).err(), Some(Errno::ENOTDIR));
        // Dir over empty dir; over non-empty dir.
        root.rename(b"a", &bref, b"sub", 0).unwrap();
        assert_eq!(root.attr().unwrap().nlink, 3);
        assert_eq!(b.attr().unwrap().nlink, 3);
        a.mknod(b"x", FileType::Regular, 0o644, 0, OWNER).unwrap();
        root.mkdir(b"c", 0o755, OWNER).unwrap();
        let cdir = root.lookup(&t, b"c").unwrap();
        cdir.mknod(b"y", FileType::Regular, 0o644, 0, OWNER)
            .unwrap();
        assert_eq!(
            root.rename(b"c", &bref, b"sub", 0).err(),
            Some(Errno::ENOTEMPTY)
        );
        // A directory into its own subdirectory.
        assert_eq!(
            root.rename(b"b", &aref, b"loop", 0).err(),
            Some(Errno::EINVAL)
        );
        assert_eq!(
            root.rename(b"b", &bref, b"loop", 0).err(),
            Some(Errno::EINVAL)
        );
        // Same name: no-op.
        root.rename(b"b", &rootref, b"b", 0).unwrap();
        // Hard links to the same inode: no-op, both names remain.
        b.link(b"g2", &b.lookup(&t, b"g").unwrap()).unwrap();
        b.rename(b"g", &bref, b"g2", 0).unwrap();
        assert!(b.lookup(&t, b"g").is_ok() && b.lookup(&t, b"g2").is_ok());
        // Exchange.
        b.rename(b"h", &rootref, b"c", RENAME_EXCHANGE).unwrap();
        assert_eq!(
            root.lookup(&t, b"c").unwrap().attr().unwrap().mode & S_IFMT,
            S_IFREG
        );
        assert_eq!(
            b.lookup(&t, b"h").unwrap().attr().unwrap().mode & S_IFMT,
            S_IFDIR
        );
        assert_eq!(b.attr().unwrap().nlink, 4);
        assert_eq!(root.attr().unwrap().nlink, 3);
        assert_eq!(
            b.rename(b"h", &rootref, b"nope", RENAME_EXCHANGE).err(),
            Some(Errno::ENOENT)
        );
        // Cross-filesystem.
        let (other, _) = super::tests::fs();
        let oref: InodeRef = other.root();
        assert_eq!(b.rename(b"h", &oref, b"h", 0).err(), Some(Errno::EXDEV));
    }

    use veil_abi::flags::{S_IFDIR, S_IFMT, S_IFREG};

    #[test]
    fn timestamps_and_set_attr() {
        let (fs, clock) = fs();
        let t = task();
        let root = fs.root();
        let f = root
            .mknod(b"f", FileType::Regular, 0o644, 0, OWNER)
            .unwrap();
        let t0 = f.attr().unwrap().mtime;
        clock.advance(5);
        f.open(&t, O_RDWR).unwrap().write(b"x", 0).unwrap();
        let a = f.attr().unwrap();
        assert_eq!(a.mtime.tv_sec, t0.tv_sec + 5);
        assert_eq!(a.ctime.tv_sec, t0.tv_sec + 5);
        assert_eq!(root.attr().unwrap().mtime, t0);
        clock.advance(5);
        root.mknod(b"g", FileType::Regular, 0o644, 0, OWNER)
            .unwrap();
        assert_eq!(root.attr().unwrap().mtime.tv_sec, t0.tv_sec + 10);
        let when = Timespec {
            tv_sec: 42,
            tv_nsec: 7,
        };
        f.set_attr(&SetAttr {
            mode: Some(0o4755),
            uid: Some(5),
            gid: Some(6),
            atime: Some(when),
            mtime: Some(when),
            ..Default::default()
        })
        .unwrap();
        let a = f.attr().unwrap();
        assert_eq!((a.mode, a.uid, a.gid), (0o104755, 5, 6));
        assert_eq!((a.atime, a.mtime), (when, when));
        assert_eq!(a.ctime.tv_sec, t0.tv_sec + 10);
        assert_eq!(
            root.set_attr(&SetAttr {
                size: Some(0),
                ..Default::default()
            })
            .err(),
            Some(Errno::EISDIR)
        );
        let st = root.statfs().unwrap();
        assert_eq!(st.f_type, TMPFS_MAGIC);
    }
}
