//! The page allocator over the memory file.
//!
//! Models the physical-page allocator of a kernel, where the "physical
//! memory" is the one memory file that every address space maps. It hands
//! out runs of 4 KiB pages (as byte offsets into the file), keeps a
//! reference count per page, and reuses freed pages.
//!
//! - **Growth**: the file grows in large steps (2 MiB at first, then a
//!   quarter of its size, at most 64 MiB per step), never page by page:
//!   growing is a host call, and a host memory file costs nothing until
//!   its pages are touched.
//! - **Reference counts**: every allocated page starts with a count of 1.
//!   Fork (copy-on-write) and shared mappings take more references with
//!   [`PageAllocator::incref`]; [`PageAllocator::decref`] frees a page when
//!   its count reaches zero.
//! - **Free list**: freed pages are coalesced into extents (start, length)
//!   and handed out again before the file grows. Allocation takes the
//!   first extent (by address) long enough for the request among the
//!   lowest few, else carves what it can from the lowest extent, else
//!   takes fresh pages at the end; so it never grows the file while free
//!   pages exist.
//! - **Zeroing**: freed ranges are *decommitted* (the host punches a hole,
//!   giving the memory back, and the range reads as zero afterwards; if
//!   the host cannot decommit, core zeroes the range itself). So every page
//!   the allocator hands out reads as zero, whether fresh or reused, and
//!   allocation never writes to the file. Decommitting costs one host call
//!   per freed run (munmap, MADV_DONTNEED, exit), which is small next to
//!   the platform unmap that precedes it.
//!
//! Left out: a limit on total memory (the file grows until the host says
//! no, which becomes `ENOMEM`), NUMA, huge pages, and reclaim.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;
use veil_abi::{Errno, PAGE_SIZE};

use crate::addr::FileOffset;
use crate::platform::MemoryFile;

/// Smallest growth step of the memory file.
pub const MIN_GROW: u64 = 2 << 20;
/// Largest growth step of the memory file.
pub const MAX_GROW: u64 = 64 << 20;
/// How many free extents an allocation looks at for one that fits whole.
const FIT_SCAN: usize = 32;

/// Hands out page runs of the memory file, reference-counted.
pub struct PageAllocator {
    mf: Arc<dyn MemoryFile>,
    inner: Mutex<Inner>,
}

struct Inner {
    /// Pages of the file the allocator manages (the file may be larger).
    file_pages: u64,
    /// First page never handed out.
    next: u64,
    /// Free extents below `next`: start page -> page count, coalesced.
    free: BTreeMap<u64, u64>,
    /// Pages in `free`.
    free_pages: u64,
    /// Reference count per page below `next` (0 = free).
    refs: Vec<u32>,
    /// Pages with a count above zero.
    allocated: u64,
}

/// Counters about the allocator, for /proc/meminfo and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocStats {
    /// Pages with a reference count above zero.
    pub allocated: u64,
    /// Pages on the free list (reusable without growing the file).
    pub free: u64,
    /// Size of the memory file, in pages.
    pub file_pages: u64,
    /// Number of free extents.
    pub free_extents: u64,
}

impl PageAllocator {
    /// An allocator over `mf`. Pages already in the file are left alone:
    /// the allocator starts handing out pages at the current end of the
    /// file, page-aligned.
    pub fn new(mf: Arc<dyn MemoryFile>) -> PageAllocator {
        let start = mf.size().div_ceil(PAGE_SIZE);
        PageAllocator {
            mf,
            inner: Mutex::new(Inner {
                file_pages: start,
                next: start,
                free: BTreeMap::new(),
                free_pages: 0,
                refs: alloc::vec![0; start as usize],
                allocated: 0,
            }),
        }
    }

    /// The memory file pages come from.
    pub fn memory_file(&self) -> &Arc<dyn MemoryFile> {
        &self.mf
    }

    /// Allocates exactly `n` contiguous zeroed pages with reference count
    /// 1; returns the offset of the first. `ENOMEM` if the file cannot
    /// grow; `EINVAL` for `n == 0`.
    pub fn alloc(&self, n: u64) -> Result<FileOffset, Errno> {
        if n == 0 {
            return Err(Errno::EINVAL);
        }
        let mut g = self.inner.lock();
        // A free extent that fits whole, among the lowest ones.
        let fit = g
            .free
            .iter()
            .take(FIT_SCAN)
            .find(|(_, &len)| len >= n)
            .map(|(&s, _)| s);
        let start = match fit {
            Some(s) => {
                g.take_free(s, n);
                s
            }
            None => self.bump(&mut g, n)?,
        };
        g.set_allocated(start, n);
        Ok(FileOffset(start * PAGE_SIZE))
    }

    /// Allocates between 1 and `max` contiguous zeroed pages (as many as
    /// come cheaply in one run), with reference count 1. Returns the
    /// offset of the first page and the count. Prefers whole runs, then a
    /// part of a free extent, then fresh pages.
    pub fn alloc_upto(&self, max: u64) -> Result<(FileOffset, u64), Errno> {
        if max == 0 {
            return Err(Errno::EINVAL);
        }
        let mut g = self.inner.lock();
        let fit = g
            .free
            .iter()
            .take(FIT_SCAN)
            .find(|(_, &len)| len >= max)
            .map(|(&s, _)| (s, max));
        let pick = fit.or_else(|| g.free.iter().next().map(|(&s, &len)| (s, len.min(max))));
        let (start, n) = match pick {
            Some((s, n)) => {
                g.take_free(s, n);
                (s, n)
            }
            None => (self.bump(&mut g, max)?, max),
        };
        g.set_allocated(start, n);
        Ok((FileOffset(start * PAGE_SIZE), n))
    }

    /// Takes one more reference on each of the `n` pages at `off`.
    /// Pages that are not allocated are left alone (`EINVAL`).
    pub fn incref(&self, off: FileOffset, n: u64) -> Result<(), Errno> {
        let mut g = self.inner.lock();
        let first = off.0 / PAGE_SIZE;
        let end = first.checked_add(n).ok_or(Errno::EINVAL)?;
        if off.0 & (PAGE_SIZE - 1) != 0 || end > g.next {
            return Err(Errno::EINVAL);
        }
        if (first..end).any(|p| g.refs[p as usize] == 0) {
            return Err(Errno::EINVAL);
        }
        for p in first..end {
            let r = &mut g.refs[p as usize];
            *r = r.saturating_add(1);
        }
        Ok(())
    }

    /// Takes one more reference on each page of `offs` (pages that are
    /// not allocated are skipped), under one lock.
    pub fn incref_pages(&self, offs: &[FileOffset]) {
        if offs.is_empty() {
            return;
        }
        let mut g = self.inner.lock();
        for off in offs {
            let p = (off.0 / PAGE_SIZE) as usize;
            if off.0 & (PAGE_SIZE - 1) == 0 && (p as u64) < g.next && g.refs[p] > 0 {
                g.refs[p] = g.refs[p].saturating_add(1);
            }
        }
    }

    /// Drops one reference on each of the `n` pages at `off`; pages whose
    /// count reaches zero are decommitted and go back on the free list.
    /// Pages not allocated are skipped.
    pub fn decref(&self, off: FileOffset, n: u64) {
        if off.0 & (PAGE_SIZE - 1) != 0 {
            return;
        }
        let first = off.0 / PAGE_SIZE;
        let mut freed: Vec<(u64, u64)> = Vec::new();
        {
            let mut g = self.inner.lock();
            let end = first.saturating_add(n).min(g.next);
            let mut p = first;
            while p < end {
                let r = &mut g.refs[p as usize];
                if *r > 0 {
                    *r -= 1;
                    if *r == 0 {
                        g.allocated -= 1;
                        match freed.last_mut() {
                            Some((s, l)) if *s + *l == p => *l += 1,
                            _ => freed.push((p, 1)),
                        }
                    }
                }
                p += 1;
            }
        }
        // Decommit outside the lock (a host call), then publish as free.
        self.release(&freed);
    }

    /// Drops one reference on each page in `offs` (any order); batches
    /// contiguous pages into runs.
    pub fn decref_pages(&self, offs: &mut [FileOffset]) {
        offs.sort_unstable();
        let mut i = 0;
        while i < offs.len() {
            let start = offs[i];
            let mut n = 1;
            while i + (n as usize) < offs.len() && offs[i + n as usize].0 == start.0 + n * PAGE_SIZE
            {
                n += 1;
            }
            self.decref(start, n);
            i += n as usize;
        }
    }

    /// The reference count of the page at `off` (0 if free or unknown).
    pub fn refcount(&self, off: FileOffset) -> u32 {
        let g = self.inner.lock();
        g.refs
            .get((off.0 / PAGE_SIZE) as usize)
            .copied()
            .unwrap_or(0)
    }

    /// True if the page at `off` has more than one reference (so a private
    /// mapping must copy it before writing).
    pub fn is_shared(&self, off: FileOffset) -> bool {
        self.refcount(off) > 1
    }

    /// Pages currently allocated (reference count above zero).
    pub fn allocated_pages(&self) -> u64 {
        self.inner.lock().allocated
    }

    /// All counters at once.
    pub fn stats(&self) -> AllocStats {
        let g = self.inner.lock();
        AllocStats {
            allocated: g.allocated,
            free: g.free_pages,
            file_pages: g.file_pages,
            free_extents: g.free.len() as u64,
        }
    }

    /// Fresh pages at the end, growing the file if needed.
    fn bump(&self, g: &mut Inner, n: u64) -> Result<u64, Errno> {
        let start = g.next;
        let end = start.checked_add(n).ok_or(Errno::ENOMEM)?;
        if end > g.file_pages {
            let cur = g.file_pages.checked_mul(PAGE_SIZE).ok_or(Errno::ENOMEM)?;
            let need = end.checked_mul(PAGE_SIZE).ok_or(Errno::ENOMEM)?;
            let step = (cur / 4).clamp(MIN_GROW, MAX_GROW);
            let target = need.max(cur.saturating_add(step));
            let target = target.div_ceil(MIN_GROW).saturating_mul(MIN_GROW);
            self.mf.grow(target).map_err(|_| Errno::ENOMEM)?;
            g.file_pages = target / PAGE_SIZE;
        }
        let len = usize::try_from(end).map_err(|_| Errno::ENOMEM)?;
        if g.refs.len() < len {
            g.refs.resize(len, 0);
        }
        g.next = end;
        Ok(start)
    }

    /// Decommits the page runs and puts them on the free list.
    fn release(&self, runs: &[(u64, u64)]) {
        if runs.is_empty() {
            return;
        }
        for &(s, n) in runs {
            let off = FileOffset(s * PAGE_SIZE);
            if self.mf.decommit(off, n * PAGE_SIZE).is_err() {
                // Keep the promise that free pages read as zero.
                let _ = self.mf.zero(off, n * PAGE_SIZE);
            }
        }
        let mut g = self.inner.lock();
        for &(s, n) in runs {
            g.insert_free(s, n);
        }
    }
}

impl Inner {
    /// Marks `[start, start+n)` allocated with one reference each.
    fn set_allocated(&mut self, start: u64, n: u64) {
        for r in &mut self.refs[start as usize..(start + n) as usize] {
            *r = 1;
        }
        self.allocated += n;
    }

    /// Removes `n` pages from the start of the free extent at `s`.
    fn take_free(&mut self, s: u64, n: u64) {
        if let Some(len) = self.free.remove(&s) {
            if len > n {
                self.free.insert(s + n, len - n);
            }
            self.free_pages -= n.min(len);
        }
    }

    /// Adds `[s, s+n)` to the free list, merging with its neighbours.
    fn insert_free(&mut self, s: u64, n: u64) {
        let mut start = s;
        let mut len = n;
        if let Some((&ps, &pl)) = self.free.range(..s).next_back() {
            if ps + pl == s {
                self.free.remove(&ps);
                start = ps;
                len += pl;
            }
        }
        if let Some(&nl) = self.free.get(&(s + n)) {
            self.free.remove(&(s + n));
            len += nl;
        }
        self.free.insert(start, len);
        self.free_pages += n;
    }
}
