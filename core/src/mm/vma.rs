//! Virtual memory areas and the ordered set that holds them.
//!
//! A `Vma` is one contiguous range of an address space with uniform
//! protection and backing, like Linux's `vm_area_struct`. `VmaSet` keeps
//! them in a `BTreeMap` keyed by start address and provides the interval
//! operations mmap, munmap, mprotect and mremap are built from: lookup,
//! split at an address, removal of a range, merging of compatible
//! neighbours, and top-down search for a free gap.
//!
//! Merging follows Linux: adjacent private anonymous VMAs with equal
//! attributes merge, and so do adjacent file VMAs of the same file at
//! contiguous offsets. Shared anonymous VMAs never merge (each is its own
//! memory object in Linux), nor do VMAs with a special name.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use veil_abi::PAGE_SIZE;

use super::MappedFile;
use crate::platform::Prot;

/// Linux's `stack_guard_gap`: 256 pages kept free below a grows-down VMA.
pub const STACK_GUARD_GAP: u64 = 256 * PAGE_SIZE;

/// What a VMA's pages come from.
#[derive(Clone)]
pub(crate) enum Backing {
    /// Zero-filled on first touch.
    Anon,
    /// Filled from `file` on first touch; `off` is the file offset of the
    /// VMA's start.
    File {
        /// The file.
        file: MappedFile,
        /// File offset of `Vma::start`.
        off: u64,
    },
    /// Fixed pages of the memory file that someone else holds (the vDSO
    /// image, its parameter page): a fault shows the page itself, not a
    /// copy; a write to a private mapping copies it first. `off` is the
    /// memory-file offset of the page at `Vma::start`.
    Pages {
        /// Memory-file offset of `Vma::start`.
        off: u64,
    },
}

/// One area of an address space.
#[derive(Clone)]
pub(crate) struct Vma {
    /// First address (page-aligned).
    pub start: u64,
    /// One past the last address (page-aligned).
    pub end: u64,
    /// Current protection.
    pub prot: Prot,
    /// What mprotect may grant (Linux's `VM_MAY*`): a shared mapping of a
    /// file not open for writing lacks `WRITE`.
    pub max_prot: Prot,
    /// MAP_SHARED (shown as `s` in /proc/self/maps).
    pub shared: bool,
    /// MAP_GROWSDOWN: grows down on faults just below it (stacks).
    pub growsdown: bool,
    /// MADV_DONTFORK: not copied into a forked child.
    pub dontfork: bool,
    /// MADV_WIPEONFORK: a forked child sees zeros.
    pub wipeonfork: bool,
    /// mlock / MAP_LOCKED (recorded only).
    pub locked: bool,
    /// A fixed name such as `[vdso]`, shown in /proc/self/maps.
    pub special: Option<&'static str>,
    /// Backing.
    pub backing: Backing,
}

impl Vma {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// True if `b` can be merged onto the end of `self`.
    pub(crate) fn can_merge(&self, b: &Vma) -> bool {
        if self.end != b.start
            || self.prot != b.prot
            || self.max_prot != b.max_prot
            || self.shared != b.shared
            || self.growsdown != b.growsdown
            || self.dontfork != b.dontfork
            || self.wipeonfork != b.wipeonfork
            || self.locked != b.locked
            || self.special.is_some()
            || b.special.is_some()
        {
            return false;
        }
        match (&self.backing, &b.backing) {
            (Backing::Anon, Backing::Anon) => !self.shared,
            (Backing::File { file: fa, off: oa }, Backing::File { file: fb, off: ob }) => {
                alloc::sync::Arc::ptr_eq(&fa.file, &fb.file)
                    && oa.checked_add(self.len()) == Some(*ob)
            }
            _ => false,
        }
    }

    /// The part of `self` from `addr` on (for splitting); `addr` must lie
    /// strictly inside.
    fn tail_from(&self, addr: u64) -> Vma {
        let mut t = self.clone();
        t.start = addr;
        if let Backing::File { off, .. } | Backing::Pages { off } = &mut t.backing {
            *off += addr - self.start;
        }
        t
    }
}

/// The VMAs of one address space, keyed by start address.
#[derive(Clone, Default)]
pub(crate) struct VmaSet {
    map: BTreeMap<u64, Vma>,
}

impl VmaSet {
    /// The VMA containing `addr`.
    pub fn find(&self, addr: u64) -> Option<&Vma> {
        let (_, v) = self.map.range(..=addr).next_back()?;
        (addr < v.end).then_some(v)
    }

    /// The VMA containing `addr`, mutably.
    pub fn find_mut(&mut self, addr: u64) -> Option<&mut Vma> {
        let (_, v) = self.map.range_mut(..=addr).next_back()?;
        (addr < v.end).then_some(v)
    }

    /// The first VMA starting above `addr`.
    pub fn next_above(&self, addr: u64) -> Option<&Vma> {
        self.map
            .range(addr.saturating_add(1)..)
            .next()
            .map(|(_, v)| v)
    }

    /// The last VMA starting below `addr`.
    pub fn prev_below(&self, addr: u64) -> Option<&Vma> {
        self.map.range(..addr).next_back().map(|(_, v)| v)
    }

    /// True if any VMA intersects `[start, end)`.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        if start >= end {
            return false;
        }
        if self.find(start).is_some() {
            return true;
        }
        self.map.range(start..end).next().is_some()
    }

    /// True if `[start, end)` is covered by VMAs with no hole.
    pub fn covers(&self, start: u64, end: u64) -> bool {
        let mut at = start;
        while at < end {
            match self.find(at) {
                Some(v) => at = v.end,
                None => return false,
            }
        }
        true
    }

    /// Iterates VMAs intersecting `[start, end)`, in order.
    pub fn intersecting(&self, start: u64, end: u64) -> impl Iterator<Item = &Vma> {
        let first = self.find(start).map(|v| v.start).unwrap_or(start);
        self.map.range(first..end).map(|(_, v)| v)
    }

    /// Iterates all VMAs in order.
    pub fn iter(&self) -> impl Iterator<Item = &Vma> {
        self.map.values()
    }

    /// Iterates all VMAs in order, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Vma> {
        self.map.values_mut()
    }

    /// Number of VMAs.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Splits the VMA containing `addr` so that a VMA starts at `addr`.
    pub fn split(&mut self, addr: u64) {
        let Some((&s, v)) = self.map.range_mut(..addr).next_back() else {
            return;
        };
        if addr >= v.end {
            return;
        }
        let tail = v.tail_from(addr);
        v.end = addr;
        let _ = s;
        self.map.insert(addr, tail);
    }

    /// Removes `[start, end)` from the set (splitting VMAs at the edges)
    /// and returns the removed pieces in order.
    pub fn remove_range(&mut self, start: u64, end: u64) -> Vec<Vma> {
        if start >= end {
            return Vec::new();
        }
        self.split(start);
        self.split(end);
        let keys: Vec<u64> = self.map.range(start..end).map(|(&k, _)| k).collect();
        keys.into_iter()
            .filter_map(|k| self.map.remove(&k))
            .collect()
    }

    /// Inserts `v`, which must not overlap any VMA, and merges it with
    /// compatible neighbours.
    pub fn insert(&mut self, v: Vma) {
        let (s, e) = (v.start, v.end);
        self.map.insert(s, v);
        self.merge_around(s, e);
    }

    /// Re-inserts a VMA whose start changed (stack growth).
    pub fn rekey(&mut self, old_start: u64, new_start: u64) {
        if let Some(mut v) = self.map.remove(&old_start) {
            v.start = new_start;
            self.map.insert(new_start, v);
        }
    }

    /// Merges compatible neighbours among the VMAs touching `[start, end]`
    /// (including the one ending at `start` and the one starting at `end`).
    pub fn merge_around(&mut self, start: u64, end: u64) {
        let from = self
            .map
            .range(..start)
            .next_back()
            .map(|(&k, _)| k)
            .unwrap_or(start);
        let keys: Vec<u64> = self.map.range(from..=end).map(|(&k, _)| k).collect();
        let mut cur: Option<u64> = None;
        for k in keys {
            if let Some(c) = cur {
                let mergeable = match (self.map.get(&c), self.map.get(&k)) {
                    (Some(a), Some(b)) => a.can_merge(b),
                    _ => false,
                };
                if mergeable {
                    if let Some(b) = self.map.remove(&k) {
                        if let Some(a) = self.map.get_mut(&c) {
                            a.end = b.end;
                        }
                    }
                    continue;
                }
            }
            cur = Some(k);
        }
    }

    /// The highest address `a` with `[a, a+len)` free, `lo <= a` and
    /// `a + len <= hi`. Keeps [`STACK_GUARD_GAP`] below grows-down VMAs.
    pub fn find_gap_topdown(&self, len: u64, lo: u64, hi: u64) -> Option<u64> {
        if len == 0 || hi < lo || hi - lo < len {
            return None;
        }
        let mut top = hi;
        for v in self.map.range(..hi).rev().map(|(_, v)| v) {
            if v.end <= top && top - v.end >= len && top - len >= lo {
                return Some(top - len);
            }
            let vstart = if v.growsdown {
                v.start.saturating_sub(STACK_GUARD_GAP)
            } else {
                v.start
            };
            top = top.min(vstart);
            if top < lo || top - lo < len {
                return None;
            }
        }
        (top >= lo && top - lo >= len).then(|| top - len)
    }
}
