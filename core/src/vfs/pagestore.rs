//! File data in memory-file pages: what memfds (`vfs::shmem`) and tmpfs
//! regular files keep their bytes in, as Linux's shmem keeps them in its
//! page cache.
//!
//! A [`PageStore`] is the data of one file: its size and, for each page
//! index that holds data, one page of the kernel's memory file (from its
//! [`PageAllocator`]; the store holds one reference). Holes cost nothing
//! and read as zeros. `read` and `write` copy through the memory file;
//! a `MAP_SHARED` mapping maps the very same pages
//! ([`crate::vfs::node::MemoryPages`]), so `read`, `write` and every
//! shared mapping in every process see the same bytes at once. The store
//! is plain data: its owner keeps it under its own lock.
//!
//! A [`MappingSet`] sits next to the store, outside that lock: the
//! address spaces that have mapped the file's pages. When pages leave the
//! file (truncation, hole punching) the owner first takes them out of the
//! store, then drops its lock and calls [`MappingSet::invalidate`], which
//! makes each address space drop its page-table entries for them, so that
//! later accesses past the end of the file raise SIGBUS as in Linux, and
//! a file that grows again shows new pages to everyone. (Page faults take
//! the address-space lock first and the store's lock inside it, so the
//! invalidation must never run under the store's lock.)
//!
//! Size limits: an optional [`PageBudget`] is charged one unit per page
//! the store holds (tmpfs `size=`: `ENOSPC` past it).

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use spin::Mutex;
use veil_abi::{Errno, PAGE_SIZE};

use crate::addr::FileOffset;
use crate::mm::PageAllocator;

/// Linux's `MAX_LFS_FILESIZE`.
pub const MAX_FILE_SIZE: u64 = i64::MAX as u64;

/// What the pages of a store are charged to (a tmpfs instance's limit).
pub trait PageBudget: Send + Sync {
    /// Takes `n` pages from the budget: `ENOSPC` (taking nothing) if
    /// fewer are left.
    fn reserve(&self, n: u64) -> Result<(), Errno>;
    /// Gives `n` pages back.
    fn release(&self, n: u64);
}

/// The data of one memory-backed file (see the module doc).
pub struct PageStore {
    mem: Arc<PageAllocator>,
    budget: Option<Arc<dyn PageBudget>>,
    size: u64,
    /// Page index -> memory-file page (one reference held here).
    pages: BTreeMap<u64, FileOffset>,
}

impl PageStore {
    /// An empty file whose pages come from `mem`, charged to `budget`.
    pub fn new(mem: Arc<PageAllocator>, budget: Option<Arc<dyn PageBudget>>) -> PageStore {
        PageStore {
            mem,
            budget,
            size: 0,
            pages: BTreeMap::new(),
        }
    }

    /// The allocator the pages come from.
    pub fn memory(&self) -> &Arc<PageAllocator> {
        &self.mem
    }

    /// Moves an empty store (no pages held) to another allocator; `false`
    /// (and nothing changes) if it holds pages.
    pub fn rebind(&mut self, mem: &Arc<PageAllocator>) -> bool {
        if !self.pages.is_empty() {
            return false;
        }
        self.mem = mem.clone();
        true
    }

    /// The size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Pages held (for `st_blocks`).
    pub fn page_count(&self) -> u64 {
        self.pages.len() as u64
    }

    /// Reads at `off`: 0 at or past the end, holes as zeros.
    pub fn read(&self, buf: &mut [u8], off: u64) -> Result<usize, Errno> {
        if off >= self.size {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(self.size - off) as usize;
        let mf = self.mem.memory_file();
        let mut done = 0usize;
        while done < n {
            let pos = off + done as u64;
            let in_page = pos % PAGE_SIZE;
            let chunk = ((PAGE_SIZE - in_page) as usize).min(n - done);
            let dst = &mut buf[done..done + chunk];
            match self.pages.get(&(pos / PAGE_SIZE)) {
                Some(p) => mf.read(p.add(in_page), dst)?,
                None => dst.fill(0),
            }
            done += chunk;
        }
        Ok(n)
    }

    /// Writes `data` at `off`, growing the file. Short when the budget or
    /// memory runs out part way (that error if nothing fit); `EFBIG` past
    /// the largest file.
    pub fn write(&mut self, data: &[u8], off: u64) -> Result<usize, Errno> {
        if data.is_empty() {
            return Ok(0);
        }
        let end = off
            .checked_add(data.len() as u64)
            .filter(|&e| e <= MAX_FILE_SIZE)
            .ok_or(Errno::EFBIG)?;
        let (lo, hi) = (off / PAGE_SIZE, end.div_ceil(PAGE_SIZE));
        // How far the pages reach: all of it, or up to the first page
        // that could not be had.
        let reach = match self.ensure(lo, hi) {
            Ok(()) => end,
            Err((at, e)) => {
                let r = at * PAGE_SIZE;
                if r <= off {
                    return Err(e);
                }
                r
            }
        };
        let n = (reach - off) as usize;
        let mf = self.mem.memory_file();
        let mut done = 0usize;
        while done < n {
            let pos = off + done as u64;
            let in_page = pos % PAGE_SIZE;
            let chunk = ((PAGE_SIZE - in_page) as usize).min(n - done);
            let p = self
                .pages
                .get(&(pos / PAGE_SIZE))
                .copied()
                .ok_or(Errno::EIO)?;
            if let Err(e) = mf.write(p.add(in_page), &data[done..done + chunk]) {
                if done == 0 {
                    return Err(e);
                }
                break;
            }
            done += chunk;
        }
        self.size = self.size.max(off + done as u64);
        Ok(done)
    }

    /// Sets the size. Shrinking frees the pages wholly past the new end
    /// and zeroes the tail of the last page; returns the first page index
    /// past the new end when it shrank, so the owner can invalidate
    /// mappings from there on (after dropping its lock). `EFBIG` past the
    /// largest file.
    pub fn set_size(&mut self, size: u64) -> Result<Option<u64>, Errno> {
        if size > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        let old = self.size;
        self.size = size;
        if size >= old {
            return Ok(None);
        }
        let keep = size.div_ceil(PAGE_SIZE);
        let gone = self.pages.split_off(&keep);
        self.free(gone.into_values().collect());
        if !size.is_multiple_of(PAGE_SIZE) {
            if let Some(p) = self.pages.get(&(size / PAGE_SIZE)) {
                let tail = size % PAGE_SIZE;
                self.mem.memory_file().zero(p.add(tail), PAGE_SIZE - tail)?;
            }
        }
        (keep < old.div_ceil(PAGE_SIZE))
            .then_some(keep)
            .map(Ok)
            .transpose()
    }

    /// Punches a hole in `[off, off+len)` (clipped to the file): the
    /// bytes read as zero afterwards, whole pages are freed. The size is
    /// kept. Returns the whole-page range freed, for invalidation.
    pub fn punch_hole(&mut self, off: u64, len: u64) -> Result<Option<(u64, u64)>, Errno> {
        let end = off.saturating_add(len).min(self.size);
        if off >= end {
            return Ok(None);
        }
        let (first, last) = (off.div_ceil(PAGE_SIZE), end / PAGE_SIZE);
        let mf = self.mem.memory_file();
        // Partial pages at the edges: zero the bytes.
        let zero = |from: u64, to: u64| -> Result<(), Errno> {
            if from < to {
                if let Some(p) = self.pages.get(&(from / PAGE_SIZE)) {
                    mf.zero(p.add(from % PAGE_SIZE), to - from)?;
                }
            }
            Ok(())
        };
        if first > last {
            // Inside one page.
            return zero(off, end).map(|_| None);
        }
        zero(off, first * PAGE_SIZE)?;
        zero(last * PAGE_SIZE, end)?;
        if first == last {
            return Ok(None);
        }
        let keys: Vec<u64> = self.pages.range(first..last).map(|(&k, _)| k).collect();
        let gone: Vec<FileOffset> = keys.iter().filter_map(|k| self.pages.remove(k)).collect();
        self.free(gone);
        Ok(Some((first, last)))
    }

    /// Allocates the missing pages of `[first, first+n)` so that the next
    /// `n` pages from `first` are present (fallocate): `ENOSPC` / `ENOMEM`
    /// if they cannot all be had, and then the pages this call added are
    /// freed again (Linux's shmem_fallocate undoes a failed range). The
    /// size is not changed.
    pub fn allocate(&mut self, first: u64, n: u64) -> Result<(), Errno> {
        let hi = first.checked_add(n).ok_or(Errno::EFBIG)?;
        let had: alloc::collections::BTreeSet<u64> =
            self.pages.range(first..hi).map(|(&k, _)| k).collect();
        self.ensure(first, hi).map_err(|(at, e)| {
            let added: Vec<u64> = self
                .pages
                .range(first..at)
                .map(|(&k, _)| k)
                .filter(|k| !had.contains(k))
                .collect();
            let gone: Vec<FileOffset> = added.iter().filter_map(|k| self.pages.remove(k)).collect();
            self.free(gone);
            e
        })
    }

    /// [`allocate`](Self::allocate) for the pages holding bytes
    /// `[off, off+len)`.
    pub fn allocate_bytes(&mut self, off: u64, len: u64) -> Result<(), Errno> {
        let first = off / PAGE_SIZE;
        let end = off
            .checked_add(len)
            .ok_or(Errno::EFBIG)?
            .div_ceil(PAGE_SIZE);
        self.allocate(first, end - first)
    }

    /// [`get_pages`](Self::get_pages) when it needs to allocate nothing
    /// (every page of the range below the end of the file is present):
    /// appends the pages, with references, and returns `true`; else
    /// appends nothing and returns `false`.
    pub fn get_present(&self, first: u64, n: u64, out: &mut Vec<FileOffset>) -> bool {
        let hi = first.saturating_add(n).min(self.size.div_ceil(PAGE_SIZE));
        if first >= hi {
            return true;
        }
        if self.pages.range(first..hi).count() as u64 != hi - first {
            return false;
        }
        let start = out.len();
        out.extend(self.pages.range(first..hi).map(|(_, &p)| p));
        self.mem.incref_pages(&out[start..]);
        true
    }

    /// Appends to `out` the pages `first, first+1, ...` (at most `n`),
    /// allocating holes (zero-filled), with one reference taken on each
    /// for the caller. Stops at the end of the file, and early if memory
    /// or the budget runs out (that error if not even `first` could be
    /// had).
    pub fn get_pages(
        &mut self,
        first: u64,
        n: u64,
        out: &mut Vec<FileOffset>,
    ) -> Result<(), Errno> {
        let eof = self.size.div_ceil(PAGE_SIZE);
        let mut hi = first.saturating_add(n).min(eof);
        if first >= hi {
            return Ok(());
        }
        if let Err((at, e)) = self.ensure(first, hi) {
            if at == first {
                return Err(e);
            }
            hi = at;
        }
        let start = out.len();
        out.extend(self.pages.range(first..hi).map(|(_, &p)| p));
        self.mem.incref_pages(&out[start..]);
        Ok(())
    }

    /// mincore: `out[i]` is 1 if page `first + i` holds data (and lies
    /// below the end of the file), else 0.
    pub fn resident(&self, first: u64, out: &mut [u8]) {
        let eof = self.size.div_ceil(PAGE_SIZE);
        out.fill(0);
        let hi = first.saturating_add(out.len() as u64).min(eof);
        if first >= hi {
            return;
        }
        for (&k, _) in self.pages.range(first..hi) {
            out[(k - first) as usize] = 1;
        }
    }

    /// Makes pages `[lo, hi)` present, in as few contiguous runs of the
    /// memory file as the allocator gives. On failure, the index of the
    /// first page that is still missing and why.
    fn ensure(&mut self, lo: u64, hi: u64) -> Result<(), (u64, Errno)> {
        let mut at = lo;
        while at < hi {
            if self.pages.contains_key(&at) {
                at += 1;
                continue;
            }
            let run_end = self
                .pages
                .range(at..hi)
                .next()
                .map(|(&k, _)| k)
                .unwrap_or(hi);
            let mut want = run_end - at;
            if let Some(b) = &self.budget {
                if b.reserve(want).is_err() {
                    // Near the limit: one page at a time.
                    b.reserve(1).map_err(|e| (at, e))?;
                    want = 1;
                }
            }
            let (off, got) = match self.mem.alloc_upto(want) {
                Ok(x) => x,
                Err(e) => {
                    if let Some(b) = &self.budget {
                        b.release(want);
                    }
                    return Err((at, e));
                }
            };
            if got < want {
                if let Some(b) = &self.budget {
                    b.release(want - got);
                }
            }
            for i in 0..got {
                self.pages.insert(at + i, off.add(i * PAGE_SIZE));
            }
            at += got;
        }
        Ok(())
    }

    /// Drops the store's reference on `pages` and gives them back to the
    /// budget.
    fn free(&self, mut pages: Vec<FileOffset>) {
        if pages.is_empty() {
            return;
        }
        if let Some(b) = &self.budget {
            b.release(pages.len() as u64);
        }
        self.mem.decref_pages(&mut pages);
    }
}

impl Drop for PageStore {
    fn drop(&mut self) {
        let pages: Vec<FileOffset> = core::mem::take(&mut self.pages).into_values().collect();
        self.free(pages);
    }
}

/// An address space that maps pages of memory-backed files (core's
/// memory manager).
pub trait MappingSpace: Send + Sync {
    /// Drops every mapping of pages `[first, end)` of the file whose
    /// mappings are `set` (the platform stops showing them; the next
    /// access faults and finds the file as it is now): in shared
    /// mappings, and with `private_too` also the private copies in
    /// private mappings (truncation does that, Linux's `even_cows`; hole
    /// punching does not).
    fn invalidate(&self, set: &MappingSet, first: u64, end: u64, private_too: bool);
}

/// The address spaces that may map a file's pages (Linux's
/// `address_space.i_mmap`, at address-space rather than VMA grain): an
/// address space adds itself when it first maps a page of the file, and
/// stays until it is dropped.
#[derive(Default)]
pub struct MappingSet {
    spaces: Mutex<Vec<Weak<dyn MappingSpace>>>,
    /// Bumped by every add, so that an invalidation learns of spaces that
    /// joined while it ran (a fork copying entries of the file).
    added: core::sync::atomic::AtomicU64,
}

impl MappingSet {
    /// An empty set.
    pub fn new() -> MappingSet {
        MappingSet::default()
    }

    /// Adds `space` (once), forgetting spaces that are gone.
    pub fn add(&self, space: &Arc<dyn MappingSpace>) {
        let me = Arc::as_ptr(space) as *const ();
        let mut g = self.spaces.lock();
        g.retain(|w| w.strong_count() > 0);
        if !g.iter().any(|w| w.as_ptr() as *const () == me) {
            g.push(Arc::downgrade(space));
            self.added
                .fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Address spaces in the set (live ones).
    pub fn len(&self) -> usize {
        self.spaces
            .lock()
            .iter()
            .filter(|w| w.strong_count() > 0)
            .count()
    }

    /// True if no live address space is in the set.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes every address space drop its mappings of pages `[first,
    /// end)` (see [`MappingSpace::invalidate`]). Must be called with no
    /// lock held that a page fault takes (the file's own lock included).
    ///
    /// A space that joins while this runs is invalidated too: a fork
    /// adds its child (under the parent's lock) before copying the
    /// parent's entries, so a child that joined after the list was taken
    /// may hold entries copied from a parent not yet invalidated.
    pub fn invalidate(&self, first: u64, end: u64, private_too: bool) {
        use core::sync::atomic::Ordering;
        if first >= end {
            return;
        }
        // Held, so that no new space can take a done one's address.
        let mut done: Vec<Arc<dyn MappingSpace>> = Vec::new();
        loop {
            let (live, seen): (Vec<Arc<dyn MappingSpace>>, u64) = {
                let g = self.spaces.lock();
                let live = g
                    .iter()
                    .filter(|w| {
                        let p = w.as_ptr() as *const ();
                        !done.iter().any(|d| Arc::as_ptr(d) as *const () == p)
                    })
                    .filter_map(|w| w.upgrade())
                    .collect();
                (live, self.added.load(Ordering::Relaxed))
            };
            for s in live {
                s.invalidate(self, first, end, private_too);
                done.push(s);
            }
            if self.added.load(Ordering::Relaxed) == seen {
                return;
            }
        }
    }

    /// Truncation: pages from `first` on left the file.
    pub fn truncated(&self, first: Option<u64>) {
        if let Some(first) = first {
            self.invalidate(first, u64::MAX, true);
        }
    }

    /// Hole punching: pages `[first, end)` left the file.
    pub fn punched(&self, range: Option<(u64, u64)>) {
        if let Some((a, b)) = range {
            self.invalidate(a, b, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeMemoryFile;
    use alloc::vec;
    use core::sync::atomic::{AtomicU64, Ordering};

    struct Budget {
        left: AtomicU64,
    }

    impl PageBudget for Budget {
        fn reserve(&self, n: u64) -> Result<(), Errno> {
            self.left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| l.checked_sub(n))
                .map(|_| ())
                .map_err(|_| Errno::ENOSPC)
        }
        fn release(&self, n: u64) {
            self.left.fetch_add(n, Ordering::Relaxed);
        }
    }

    fn mem() -> Arc<PageAllocator> {
        Arc::new(PageAllocator::new(Arc::new(FakeMemoryFile::new())))
    }

    #[test]
    fn read_write_holes_and_truncate() {
        let m = mem();
        let mut s = PageStore::new(m.clone(), None);
        assert_eq!(s.write(b"hello", 0).unwrap(), 5);
        assert_eq!(s.write(b"x", 3 * PAGE_SIZE + 10).unwrap(), 1);
        assert_eq!(s.size(), 3 * PAGE_SIZE + 11);
        assert_eq!(s.page_count(), 2, "the hole costs nothing");
        let mut buf = [9u8; 8];
        assert_eq!(s.read(&mut buf, PAGE_SIZE).unwrap(), 8);
        assert_eq!(buf, [0; 8]);
        assert_eq!(s.read(&mut buf, 0).unwrap(), 8);
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(s.read(&mut buf, s.size()).unwrap(), 0);
        // Shrink into the first page: the tail is zeroed, later pages go.
        assert_eq!(s.set_size(3).unwrap(), Some(1));
        assert_eq!(s.page_count(), 1);
        assert_eq!(m.allocated_pages(), 1);
        assert_eq!(s.set_size(PAGE_SIZE).unwrap(), None);
        assert_eq!(s.read(&mut buf, 0).unwrap(), 8);
        assert_eq!(&buf[..5], b"hel\0\0");
        assert_eq!(s.set_size(MAX_FILE_SIZE + 1), Err(Errno::EFBIG));
        assert_eq!(s.write(b"x", MAX_FILE_SIZE), Err(Errno::EFBIG));
        drop(s);
        assert_eq!(m.allocated_pages(), 0, "dropping the store frees its pages");
    }

    #[test]
    fn get_pages_allocates_runs_and_stops_at_eof() {
        let m = mem();
        let mut s = PageStore::new(m.clone(), None);
        s.set_size(5 * PAGE_SIZE + 1).unwrap();
        let mut out = Vec::new();
        s.get_pages(2, 100, &mut out).unwrap();
        assert_eq!(out.len(), 4, "pages 2..6, the last one partial");
        for w in out.windows(2) {
            assert_eq!(w[1].0, w[0].0 + PAGE_SIZE, "one contiguous run");
        }
        for p in &out {
            assert_eq!(m.refcount(*p), 2, "the store's and the caller's");
        }
        let mut again = Vec::new();
        assert!(s.get_present(2, 10, &mut again));
        assert_eq!(again, out);
        m.decref_pages(&mut again);
        again.clear();
        assert!(!s.get_present(0, 3, &mut again));
        assert!(again.is_empty());
        let mut res = [9u8; 8];
        s.resident(0, &mut res);
        assert_eq!(res, [0, 0, 1, 1, 1, 1, 0, 0]);
        let mut none = Vec::new();
        s.get_pages(6, 1, &mut none).unwrap();
        assert!(none.is_empty(), "past the end");
        // The store lets go on truncate; the caller's references remain.
        assert_eq!(s.set_size(0).unwrap(), Some(0));
        for p in &out {
            assert_eq!(m.refcount(*p), 1);
        }
        m.decref_pages(&mut out);
        assert_eq!(m.allocated_pages(), 0);
    }

    #[test]
    fn budget_short_writes_and_punch() {
        let m = mem();
        let b = Arc::new(Budget {
            left: AtomicU64::new(3),
        });
        let mut s = PageStore::new(m.clone(), Some(b.clone()));
        assert_eq!(s.write(&[7u8; 5 * 4096], 100).unwrap(), 3 * 4096 - 100);
        assert_eq!(s.write(b"x", 3 * PAGE_SIZE), Err(Errno::ENOSPC));
        assert_eq!(b.left.load(Ordering::Relaxed), 0);
        let mut out = Vec::new();
        s.set_size(10 * PAGE_SIZE).unwrap();
        assert_eq!(s.get_pages(3, 1, &mut out), Err(Errno::ENOSPC));
        // Punch the middle page and part of the first.
        assert_eq!(
            s.punch_hole(200, 2 * PAGE_SIZE - 200).unwrap(),
            Some((1, 2))
        );
        assert_eq!(b.left.load(Ordering::Relaxed), 1);
        let mut buf = [1u8; 4];
        s.read(&mut buf, 198).unwrap();
        assert_eq!(buf, [7, 7, 0, 0]);
        s.read(&mut buf, 2 * PAGE_SIZE).unwrap();
        assert_eq!(buf, [7; 4]);
        assert_eq!(s.punch_hole(5, 10).unwrap(), None);
        s.allocate(1, 1).unwrap();
        assert_eq!(s.allocate(4, 2), Err(Errno::ENOSPC));
        drop(s);
        assert_eq!(b.left.load(Ordering::Relaxed), 3);
        assert_eq!(m.allocated_pages(), 0);
    }

    struct Recorder(Mutex<Vec<(u64, u64)>>);

    impl MappingSpace for Recorder {
        fn invalidate(&self, _set: &MappingSet, first: u64, end: u64, _private: bool) {
            self.0.lock().push((first, end));
        }
    }

    /// A space whose invalidation makes another join the set (a fork
    /// copying entries meanwhile).
    struct Forker {
        child: Arc<dyn MappingSpace>,
        seen: Mutex<u32>,
    }

    impl MappingSpace for Forker {
        fn invalidate(&self, set: &MappingSet, _first: u64, _end: u64, _private: bool) {
            *self.seen.lock() += 1;
            set.add(&self.child);
        }
    }

    #[test]
    fn mapping_set_invalidates_spaces_that_join_meanwhile() {
        let set = MappingSet::new();
        let rc = Arc::new(Recorder(Mutex::new(Vec::new())));
        let child: Arc<dyn MappingSpace> = rc.clone();
        let fp = Arc::new(Forker {
            child,
            seen: Mutex::new(0),
        });
        let parent: Arc<dyn MappingSpace> = fp.clone();
        set.add(&parent);
        set.invalidate(2, 5, true);
        assert_eq!(*fp.seen.lock(), 1, "each space once");
        assert_eq!(*rc.0.lock(), vec![(2, 5)], "the child that joined too");
    }

    #[test]
    fn mapping_set_adds_once_and_forgets_the_dead() {
        let set = MappingSet::new();
        let ra = Arc::new(Recorder(Mutex::new(Vec::new())));
        let a: Arc<dyn MappingSpace> = ra.clone();
        let b: Arc<dyn MappingSpace> = Arc::new(Recorder(Mutex::new(Vec::new())));
        set.add(&a);
        set.add(&a);
        set.add(&b);
        assert_eq!(set.len(), 2);
        drop(b);
        assert_eq!(set.len(), 1);
        set.invalidate(3, 7, true);
        set.invalidate(7, 7, true);
        assert_eq!(*ra.0.lock(), vec![(3, 7)]);
        assert_eq!(
            set.spaces.lock().len(),
            2,
            "the dead one goes at the next add"
        );
        set.add(&a);
        assert_eq!(set.spaces.lock().len(), 1);
    }
}
