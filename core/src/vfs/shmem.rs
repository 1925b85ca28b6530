//! Memory-backed files: the inode behind memfd_create, as Linux's shmem.
//!
//! A [`Shmem`] keeps its data in a [`PageStore`]: pages of the memory
//! file, allocated from the kernel's allocator on first write or first
//! touch of a mapping, so holes cost nothing and read as zeros (tmpfs
//! files keep theirs the same way). A `MAP_SHARED` mapping maps those very
//! pages ([`MemoryPages`]): `read`, `write` and every shared mapping, in
//! any process, see the same bytes at once; private mappings copy on
//! first touch, as for any file. Truncation takes the pages past the new
//! end away from every mapping too (through the file's [`MappingSet`]),
//! so later accesses there raise SIGBUS as in Linux.
//!
//! The inode lives on an internal mount that no path reaches: it is
//! unlinked from birth (`st_nlink` 0) and shows in `/proc/self/fd` as
//! `/memfd:NAME (deleted)`. Opening it again through that magic link
//! gives a new description of the same file.
//!
//! Seals (`F_ADD_SEALS`, Linux's `mm/memfd.c`): `F_SEAL_SHRINK` and
//! `F_SEAL_GROW` refuse size changes (`EPERM`; a write reaching past the
//! end counts as growing), `F_SEAL_WRITE` and `F_SEAL_FUTURE_WRITE` refuse
//! writes and new writable shared mappings (`EPERM`; a read-only shared
//! mapping is allowed but may never become writable), `F_SEAL_EXEC`
//! refuses changes of the execute bits, `F_SEAL_SEAL` refuses further
//! seals. `F_SEAL_WRITE` is `EBUSY` while a shared mapping that may write
//! exists (Linux's `i_mmap_writable`: `MAP_SHARED` of a description open
//! for writing, whatever its protection), counted by the object such a
//! mapping holds ([`ShmemMapping`]).
//!
//! `MFD_HUGETLB` files behave as on a host without reserved huge pages:
//! they can be made and sized (in 2 MiB steps), `write` is `EINVAL` as on
//! hugetlbfs, and mmap is `ENOMEM`.
//!
//! `MADV_REMOVE` on a shared mapping punches a hole in the file, as
//! Linux's `shmem_fallocate(FALLOC_FL_PUNCH_HOLE)`.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;
use veil_abi::flags::*;
use veil_abi::{Errno, Timespec, PAGE_SIZE};

use super::mount::Mount;
use super::node::{FileOps, Inode, InodeAttr, MapTarget, MemoryPages, SetAttr};
use super::pagestore::{MappingSet, PageStore, MAX_FILE_SIZE};
use super::{Dentry, Location};
use crate::addr::FileOffset;
use crate::host::Clock;
use crate::mm::PageAllocator;
use crate::task::Task;

/// `st_dev` of memory-backed files (Linux's internal shm mount).
pub const SHMEM_DEV: u64 = veil_abi::makedev(0, 1);
/// The huge page size of `MFD_HUGETLB` files.
const HUGE_PAGE: u64 = 2 << 20;
/// Every seal Linux knows.
pub const F_ALL_SEALS: u32 =
    F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC;

static NEXT_INO: AtomicU64 = AtomicU64::new(1);

struct State {
    /// The data.
    store: PageStore,
    seals: u32,
    mode: u32,
    uid: u32,
    gid: u32,
    atime: Timespec,
    mtime: Timespec,
    ctime: Timespec,
    /// Live shared mappings that may write (Linux's `i_mmap_writable`).
    writable_maps: u64,
}

/// A memory-backed regular file.
pub struct Shmem {
    ino: u64,
    hugetlb: bool,
    alloc: Arc<PageAllocator>,
    clock: Arc<dyn Clock>,
    this: Weak<Shmem>,
    state: Mutex<State>,
    /// Address spaces mapping the pages (invalidated on truncation).
    maps: MappingSet,
}

/// How a new memory-backed file starts.
pub struct ShmemInit {
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Initial seals.
    pub seals: u32,
    /// An `MFD_HUGETLB` file.
    pub hugetlb: bool,
}

impl Shmem {
    /// A new, empty file whose pages come from `kernel`'s memory file.
    pub fn new(kernel: &crate::Kernel, init: ShmemInit) -> Arc<Shmem> {
        let now = kernel.clock.realtime();
        Arc::new_cyclic(|this| Shmem {
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
            hugetlb: init.hugetlb,
            alloc: kernel.pages.clone(),
            clock: kernel.clock.clone(),
            this: this.clone(),
            maps: MappingSet::new(),
            state: Mutex::new(State {
                store: PageStore::new(kernel.pages.clone(), None),
                seals: init.seals,
                mode: init.mode & 0o7777,
                uid: init.uid,
                gid: init.gid,
                atime: now,
                mtime: now,
                ctime: now,
                writable_maps: 0,
            }),
        })
    }

    /// A place for this file named `name` on the internal mount (as
    /// `/proc/self/fd` shows it).
    pub fn location(self: &Arc<Self>, name: &[u8]) -> Location {
        let mount = internal_mount();
        let dentry = Dentry::new_child(&mount.root, name, self.clone());
        Location { mount, dentry }
    }

    /// The seals (F_GET_SEALS).
    pub fn seals(&self) -> u32 {
        self.state.lock().seals
    }

    /// F_ADD_SEALS, after the caller checked the description is writable:
    /// `EINVAL` for unknown seals, `EPERM` once `F_SEAL_SEAL` is set,
    /// `EBUSY` for `F_SEAL_WRITE` while a shared mapping may write.
    /// `F_SEAL_EXEC` on an executable file adds the write and size seals.
    pub fn add_seals(&self, mut seals: u32) -> Result<(), Errno> {
        if seals & !F_ALL_SEALS != 0 {
            return Err(Errno::EINVAL);
        }
        let mut st = self.state.lock();
        if st.seals & F_SEAL_SEAL != 0 {
            return Err(Errno::EPERM);
        }
        if seals & F_SEAL_WRITE != 0 && st.seals & F_SEAL_WRITE == 0 && st.writable_maps > 0 {
            return Err(Errno::EBUSY);
        }
        if seals & F_SEAL_EXEC != 0 && st.mode & 0o111 != 0 {
            seals |= F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;
        }
        st.seals |= seals;
        Ok(())
    }

    fn now(&self) -> Timespec {
        self.clock.realtime()
    }

    /// Reads at `off`: 0 at or past the end, holes as zeros.
    fn read_at(&self, buf: &mut [u8], off: u64) -> Result<usize, Errno> {
        self.state.lock().store.read(buf, off)
    }

    /// Writes at `off`, as shmem's write_begin checks seals: `EPERM` for
    /// a write seal, or for growing under `F_SEAL_GROW`.
    fn write_at(&self, data: &[u8], off: u64) -> Result<usize, Errno> {
        if self.hugetlb {
            return Err(Errno::EINVAL);
        }
        if data.is_empty() {
            return Ok(0);
        }
        let mut st = self.state.lock();
        let end = off
            .checked_add(data.len() as u64)
            .filter(|&e| e <= MAX_FILE_SIZE)
            .ok_or(Errno::EFBIG)?;
        if st.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0 {
            return Err(Errno::EPERM);
        }
        if st.seals & F_SEAL_GROW != 0 && end > st.store.size() {
            return Err(Errno::EPERM);
        }
        let done = st.store.write(data, off)?;
        let now = self.now();
        st.mtime = now;
        st.ctime = now;
        Ok(done)
    }

    /// Sets the size: `EPERM` against the size seals, `EFBIG` past the
    /// largest file, `EINVAL` for a hugetlb size that is not a whole
    /// number of huge pages. Shrinking frees the pages past the end and
    /// zeroes the tail of the last one; returns the first page index the
    /// caller must invalidate in mappings (once the lock is dropped).
    fn set_size(&self, st: &mut State, size: u64) -> Result<Option<u64>, Errno> {
        if size > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        let cur = st.store.size();
        if (size < cur && st.seals & F_SEAL_SHRINK != 0)
            || (size > cur && st.seals & F_SEAL_GROW != 0)
        {
            return Err(Errno::EPERM);
        }
        if self.hugetlb && !size.is_multiple_of(HUGE_PAGE) {
            return Err(Errno::EINVAL);
        }
        st.store.set_size(size)
    }

    /// Takes pages from `first` on away from every mapping.
    fn invalidate_from(&self, first: Option<u64>) {
        self.maps.truncated(first);
    }
}

impl MemoryPages for Shmem {
    fn memory(&self) -> Arc<PageAllocator> {
        self.alloc.clone()
    }

    fn get_pages(&self, first: u64, n: u64, out: &mut Vec<FileOffset>) -> Result<(), Errno> {
        self.state.lock().store.get_pages(first, n, out)
    }

    fn resident(&self, first: u64, out: &mut [u8]) {
        self.state.lock().store.resident(first, out)
    }

    fn mappings(&self) -> &MappingSet {
        &self.maps
    }

    fn remove(&self, off: u64, len: u64) -> Result<(), Errno> {
        let gone = {
            let mut st = self.state.lock();
            if st.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0 {
                return Err(Errno::EPERM);
            }
            st.store.punch_hole(off, len)?
        };
        self.maps.punched(gone);
        Ok(())
    }

    fn allocate(&self, off: u64, len: u64) -> Result<(), Errno> {
        let mut st = self.state.lock();
        if st.seals & F_SEAL_GROW != 0 && off.saturating_add(len) > st.store.size() {
            return Err(Errno::EPERM);
        }
        st.store.allocate_bytes(off, len)
    }
}

impl Inode for Shmem {
    fn attr(&self) -> Result<InodeAttr, Errno> {
        let st = self.state.lock();
        Ok(InodeAttr {
            dev: SHMEM_DEV,
            ino: self.ino,
            mode: S_IFREG | st.mode,
            nlink: 0,
            uid: st.uid,
            gid: st.gid,
            rdev: 0,
            size: st.store.size(),
            blksize: if self.hugetlb {
                HUGE_PAGE as u32
            } else {
                PAGE_SIZE as u32
            },
            blocks: st.store.page_count() * (PAGE_SIZE / 512),
            atime: st.atime,
            mtime: st.mtime,
            ctime: st.ctime,
            btime: None,
        })
    }

    fn set_attr(&self, set: &SetAttr) -> Result<(), Errno> {
        let mut st = self.state.lock();
        if let Some(mode) = set.mode {
            if st.seals & F_SEAL_EXEC != 0 && (st.mode ^ mode) & 0o111 != 0 {
                return Err(Errno::EPERM);
            }
        }
        let mut cut = None;
        if let Some(size) = set.size {
            cut = self.set_size(&mut st, size)?;
        }
        if let Some(mode) = set.mode {
            st.mode = mode & 0o7777;
        }
        if let Some(uid) = set.uid {
            st.uid = uid;
        }
        if let Some(gid) = set.gid {
            st.gid = gid;
        }
        if let Some(t) = set.atime {
            st.atime = t;
        }
        if let Some(t) = set.mtime {
            st.mtime = t;
        }
        st.ctime = set.ctime.unwrap_or_else(|| self.now());
        drop(st);
        self.invalidate_from(cut);
        Ok(())
    }

    fn open(&self, _cx: &Task, _flags: u32) -> Result<Arc<dyn FileOps>, Errno> {
        let me = self.this.upgrade().ok_or(Errno::ENOENT)?;
        Ok(Arc::new(ShmemFile { inode: me }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// An open memory-backed file.
pub struct ShmemFile {
    inode: Arc<Shmem>,
}

impl ShmemFile {
    /// An open description's object for `inode`.
    pub fn new(inode: Arc<Shmem>) -> ShmemFile {
        ShmemFile { inode }
    }

    /// The file.
    pub fn shmem(&self) -> &Arc<Shmem> {
        &self.inode
    }
}

impl FileOps for ShmemFile {
    fn read(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        self.inode.read_at(buf, offset)
    }

    fn write(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        self.inode.write_at(buf, offset)
    }

    fn size(&self) -> Result<u64, Errno> {
        Ok(self.inode.state.lock().store.size())
    }

    fn truncate(&self, size: u64) -> Result<(), Errno> {
        let mut st = self.inode.state.lock();
        let cut = self.inode.set_size(&mut st, size)?;
        let now = self.inode.now();
        st.mtime = now;
        st.ctime = now;
        drop(st);
        self.inode.invalidate_from(cut);
        Ok(())
    }

    fn has_poll(&self) -> Option<bool> {
        Some(false)
    }

    fn memory_pages(&self) -> Option<&dyn MemoryPages> {
        Some(&*self.inode)
    }

    fn mmap(&self, shared: bool, write: bool, may_write: bool) -> Option<Result<MapTarget, Errno>> {
        if self.inode.hugetlb {
            // No huge pages are reserved.
            return Some(Err(Errno::ENOMEM));
        }
        if !shared {
            return None;
        }
        let mut st = self.inode.state.lock();
        let sealed = st.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0;
        if sealed && write {
            return Some(Err(Errno::EPERM));
        }
        let counted = may_write && !sealed;
        if counted {
            st.writable_maps += 1;
        }
        let m: Arc<dyn FileOps> = Arc::new(ShmemMapping {
            inode: self.inode.clone(),
            counted,
        });
        Some(Ok((m, counted)))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// What a shared mapping of a memory-backed file holds: the file, and
/// one count of "a shared mapping may write" while it lives (however the
/// mapping is later split, moved or inherited by fork).
pub struct ShmemMapping {
    inode: Arc<Shmem>,
    counted: bool,
}

impl Drop for ShmemMapping {
    fn drop(&mut self) {
        if self.counted {
            let mut st = self.inode.state.lock();
            st.writable_maps = st.writable_maps.saturating_sub(1);
        }
    }
}

impl FileOps for ShmemMapping {
    fn read(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        self.inode.read_at(buf, offset)
    }

    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EBADF)
    }

    fn size(&self) -> Result<u64, Errno> {
        Ok(self.inode.state.lock().store.size())
    }

    fn memory_pages(&self) -> Option<&dyn MemoryPages> {
        Some(&*self.inode)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The root of the internal mount: a directory nothing is looked up in.
struct ShmemRoot;

impl Inode for ShmemRoot {
    fn attr(&self) -> Result<InodeAttr, Errno> {
        Ok(InodeAttr {
            dev: SHMEM_DEV,
            ino: 0,
            mode: S_IFDIR | 0o1777,
            nlink: 2,
            blksize: PAGE_SIZE as u32,
            ..Default::default()
        })
    }

    fn lookup(&self, _cx: &Task, _name: &[u8]) -> Result<super::InodeRef, Errno> {
        Err(Errno::ENOENT)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The mount memory-backed files sit on (in no namespace's tree).
fn internal_mount() -> Arc<Mount> {
    static MOUNT: spin::Once<Arc<Mount>> = spin::Once::new();
    MOUNT
        .call_once(|| Mount::internal(Dentry::new_root(Arc::new(ShmemRoot)), "tmpfs", "shm"))
        .clone()
}
