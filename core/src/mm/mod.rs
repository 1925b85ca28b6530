//! Memory management: VMAs, the page table that maps application pages to
//! memory-file pages, page faults, and copy-in / copy-out.
//!
//! # What it models
//! A [`MemoryManager`] is one address space as Linux's `mm_struct` is: a
//! set of VMAs (see [`vma`]) and, for each application page that has been
//! touched, the memory-file page that holds it (the page table). All
//! application memory lives in the memory file; core reads and writes it
//! there ([`MemoryManager::copy_in`], [`MemoryManager::copy_out`]), and the
//! platform's [`AddressSpace`] is a cache that shows the same memory-file
//! pages to the application. Whatever the platform maps is always the page
//! the page table names; core tracks which pages it has mapped (and with
//! which protection) so that munmap / mprotect only call into the platform
//! when they have to.
//!
//! # Linux behaviour followed
//! - mmap: anonymous and file-backed, private and shared; `MAP_FIXED`,
//!   `MAP_FIXED_NOREPLACE` (`EEXIST`), hints, top-down placement below
//!   `mmap_base`, `MAP_32BIT`, `MAP_GROWSDOWN` (the VMA grows on faults
//!   below it, up to the stack limit, keeping Linux's 256-page guard gap),
//!   `MAP_POPULATE` / `MAP_LOCKED` (pages allocated and mapped at once),
//!   `MAP_NORESERVE` / `MAP_STACK` (accepted). Errnos as Linux's `do_mmap`.
//! - munmap, mprotect (`ENOMEM` on holes, `EACCES` beyond `VM_MAY*`),
//!   mremap (shrink, grow in place, move with `MREMAP_MAYMOVE` /
//!   `MREMAP_FIXED` / `MREMAP_DONTUNMAP` — a move re-points the page table,
//!   it copies no data), brk (Linux's `sys_brk`, including its one-page gap
//!   before the next mapping), madvise (`MADV_DONTNEED` drops private pages
//!   so anonymous memory reads as zero and private file memory re-reads the
//!   file; `EINVAL` for unknown advice; `ENOMEM` for holes).
//! - Page faults: a fault inside a VMA whose protection allows the access
//!   allocates (zero-filled) or reads (file) the page and maps it, together
//!   with up to [`FAULT_AROUND`] neighbouring pages of the same VMA in an
//!   aligned window, as few contiguous runs as possible (the run is
//!   allocated contiguously in the memory file), since each platform map is
//!   expensive; pages of the window the platform already shows as they
//!   should be are not mapped again (a copy-on-write break maps only its
//!   own page). No VMA: `EFAULT` (SEGV_MAPERR); protection: `EACCES`
//!   (SEGV_ACCERR); a file page wholly past end of file: `EIO` (SIGBUS).
//!   Bytes past EOF in the last file page read as zero.
//! - Copy-on-write: pages have reference counts (see [`PageAllocator`]).
//!   [`MemoryManager::fork`] shares private pages between parent and child,
//!   maps them read-only, and the first write from either side copies.
//! - Shared file mappings: a file whose data lives in the memory file
//!   (memfds, tmpfs files: [`crate::vfs::node::MemoryPages`], kept in a
//!   [`crate::vfs::pagestore::PageStore`]) is mapped by its own pages, so
//!   `read`, `write` and every shared mapping in every address space see
//!   the same bytes. A fault asks the file for the pages of its
//!   fault-around window in one call (holes are allocated in runs, so
//!   they can be mapped with one platform call). The address space adds
//!   itself to the file's [`MappingSet`] when it first maps a page of it;
//!   when pages leave the file (truncation, `MADV_REMOVE`, hole punching)
//!   the file calls [`MappingSpace::invalidate`] and the entries go
//!   (private copies too, on truncation, as Linux's `even_cows`), so an
//!   access past the end of the file raises SIGBUS and a file grown again
//!   shows its new pages everywhere. Fork copies no entries of such a
//!   mapping: the child faults the file's pages in. `msync` has nothing to
//!   write back; `mincore` reports the file's pages as resident whether
//!   this address space touched them or not.
//! - Private mappings of memory-backed files map the file's own pages
//!   too, read-only whatever the VMA's protection (entries marked `file`
//!   and copy-on-write), as Linux maps the page-cache page: a page not
//!   yet written shows the file's later changes (`write`, shared
//!   mappings). The first write copies it into a page of this address
//!   space alone, which no longer follows the file. Truncation takes
//!   both kinds of entry away (SIGBUS past the end, as Linux's
//!   `even_cows`), hole punching only the file's pages (the copies stay),
//!   `MADV_DONTNEED` both (the file's content shows again). Fork copies
//!   the entries as they are (the child joins the file's
//!   [`MappingSet`]); MAP_POPULATE, mlock and `MADV_POPULATE_WRITE` on a
//!   private writable mapping copy every page as a write would.
//!
//! # Locking
//! The state sits behind one `spin::RwLock`. A memory-backed file's lock
//! is taken inside it (faults), never around it: files invalidate
//! mappings with their own lock dropped. Copies take the read lock
//! when every page they touch is present; anything that allocates or
//! changes the layout takes the write lock. File reads for file-backed
//! faults happen with no lock held (a generation counter detects a layout
//! change in between, and the fill is retried), so a slow file never
//! stalls other threads, and a file implementation can never deadlock on
//! the address space.
//!
//! # Left out (later issues)
//! - Anonymous shared memory is modelled as pages that
//!   [`MemoryManager::fork`] shares without copy-on-write (populated at
//!   fork so both sides see the same ones), not as a shmem file: mremap
//!   cannot grow it for both sides.
//! - Files whose data is not in the memory file (hostfs, which is
//!   read-only, and host files given as standard fds) have no page cache
//!   here: a mapping's page is a copy of the file made at its first
//!   touch. A private mapping of one behaves as Linux's, except that it
//!   does not see changes made to the file afterwards (by the host). A
//!   shared mapping of one may not write: `ENODEV` for `PROT_WRITE` at
//!   mmap, `EACCES` at mprotect, since its writes could never reach the
//!   file (gVisor maps the host fd itself; veil's platforms map only the
//!   memory file). A read-only one is a copy like a private one.
//! - No memory accounting against RLIMIT_AS / RLIMIT_MEMLOCK, no
//!   `vm.max_map_count`, no huge pages, no mlock semantics beyond
//!   populating.

pub mod pagealloc;
pub mod vma;

#[cfg(test)]
mod tests;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use spin::{RwLock, RwLockWriteGuard};
use veil_abi::flags::*;
use veil_abi::{Errno, PAGE_SIZE};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::addr::{FileOffset, UserAddr};
use crate::platform::{Access, AddressSpace, MemoryFile, Prot};
use crate::vfs::node::MemoryPages;
use crate::vfs::pagestore::{MappingSet, MappingSpace};
use crate::vfs::FileOps;

pub use pagealloc::{AllocStats, PageAllocator};
use vma::{Backing, Vma, VmaSet};

/// Linux's default `vm.mmap_min_addr`: nothing may be mapped below it.
pub const MMAP_MIN_ADDR: u64 = 0x10000;
/// Linux's `TASK_SIZE` on x86-64 (4-level paging): the default top of the
/// user address space.
pub const TASK_SIZE: u64 = 0x7fff_ffff_f000;
/// Pages mapped around a faulting page in one platform call.
pub const FAULT_AROUND: u64 = 16;
/// Pages populated at most per round of a copy.
const COPY_POPULATE: u64 = 64;
/// Pages populated at most per round of MAP_POPULATE / mlock (bounds the
/// file-read buffer to 1 MiB).
const POPULATE_CHUNK: u64 = 256;
/// Read faults on a page that is already mapped with the VMA's full
/// protection before the access is judged a protection violation (a
/// platform that reports every access as a read, retrying a write or
/// execute that cannot succeed). Generous, because threads that fault on
/// the same page at once also look like refaults to the later ones.
const MAX_REFAULTS: u8 = 64;
/// `MADV_POPULATE_READ` / `MADV_POPULATE_WRITE` (Linux 5.14).
const MADV_POPULATE_READ: u32 = 22;
const MADV_POPULATE_WRITE: u32 = 23;
/// `MADV_COLLAPSE` (Linux 6.1).
const MADV_COLLAPSE: u32 = 25;
/// `MADV_HWPOISON` / `MADV_SOFT_OFFLINE`: need CAP_SYS_ADMIN.
const MADV_HWPOISON: u32 = 100;
const MADV_SOFT_OFFLINE: u32 = 101;

/// What backs a file mapping.
#[derive(Clone)]
pub struct MappedFile {
    /// The file read on fault.
    pub file: Arc<dyn FileOps>,
    /// Shown in /proc/self/maps.
    pub name: Vec<u8>,
    /// (dev, ino) shown in /proc/self/maps; `dev` in the userspace
    /// `makedev` encoding.
    pub dev_ino: (u64, u64),
    /// The open file allows writing. A `MAP_SHARED` mapping of a file not
    /// open for writing may never become writable (mprotect: `EACCES`).
    pub writable: bool,
}

/// Where things go in a fresh address space; set by the loader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Top-down mmap placement starts below this address.
    pub mmap_base: u64,
    /// The initial program break (start of the heap).
    pub brk_start: u64,
    /// An address inside the initial stack (`[stack]` in maps).
    pub stack_start: u64,
    /// How far a grows-down VMA may grow (RLIMIT_STACK at exec).
    pub stack_limit: u64,
}

/// One VMA as seen from outside (procfs, tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmaInfo {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Protection.
    pub prot: Prot,
    /// MAP_SHARED.
    pub shared: bool,
    /// File offset of `start` (0 for anonymous memory).
    pub offset: u64,
    /// (dev, ino) of the file, (0, 0) for anonymous memory.
    pub dev_ino: (u64, u64),
    /// The name /proc/self/maps shows (path, `[heap]`, `[stack]`, ...).
    pub name: Vec<u8>,
}

/// Sizes of an address space, in pages, for /proc/self/status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MmStats {
    /// Pages covered by VMAs (VmSize).
    pub total_pages: u64,
    /// Pages populated in the page table (VmRSS).
    pub resident_pages: u64,
    /// Pages covered by grows-down VMAs (VmStk).
    pub stack_pages: u64,
    /// Number of VMAs.
    pub vmas: u64,
}

/// A page-table entry: which memory-file page holds an application page,
/// and what the platform currently maps there.
#[derive(Clone, Copy, Debug)]
struct Pte {
    /// Byte offset of the page in the memory file.
    off: u64,
    /// Protection the platform maps the page with, `None` if not mapped.
    mapped: Option<Prot>,
    /// Read faults seen while the page was already mapped readable.
    refaults: u8,
    /// Copy-on-write: the page was shared by fork. The first write copies
    /// it if another address space still holds it (its reference count
    /// says so), or just clears this flag if not. Kept here so that the
    /// copy-out fast path never takes the allocator's lock.
    cow: bool,
    /// The page is a memory-backed file's own page shown in a private
    /// mapping (Linux's page-cache page mapped read-only): `cow` is set
    /// too, and the first write always copies, whatever the reference
    /// count says. Hole punching takes such entries away (the file's
    /// view shows again), not the copies.
    file: bool,
}

impl Pte {
    fn new(off: u64) -> Pte {
        Pte {
            off,
            mapped: None,
            refaults: 0,
            cow: false,
            file: false,
        }
    }

    /// An entry for a memory-backed file's own page in a private mapping.
    fn file_page(off: u64) -> Pte {
        Pte {
            cow: true,
            file: true,
            ..Pte::new(off)
        }
    }
}

struct MmState {
    vmas: VmaSet,
    /// Application page number -> entry.
    pt: BTreeMap<u64, Pte>,
    layout: Layout,
    /// The current program break.
    brk: u64,
    /// Bumped by every change to VMAs or page-table removals, so that a
    /// fill done without the lock can tell whether its plan still holds.
    gen: u64,
}

/// An application's address space as core models it.
pub struct MemoryManager {
    space: Arc<dyn AddressSpace>,
    mf: Arc<dyn MemoryFile>,
    pages: Arc<PageAllocator>,
    max_addr: u64,
    state: Arc<RwLock<MmState>>,
    /// What memory-backed files this address space maps know it by.
    mapper: Arc<dyn MappingSpace>,
}

/// The part of a [`MemoryManager`] that files whose pages it maps reach
/// it through ([`MappingSet`]): to drop page-table entries of pages that
/// left the file.
struct Mapper {
    /// Weak, so that the memory manager's drop still knows whether anyone
    /// else holds the platform address space.
    space: alloc::sync::Weak<dyn AddressSpace>,
    pages: Arc<PageAllocator>,
    state: alloc::sync::Weak<RwLock<MmState>>,
}

impl MappingSpace for Mapper {
    fn invalidate(&self, set: &MappingSet, first: u64, end: u64, private_too: bool) {
        let (Some(state), Some(space)) = (self.state.upgrade(), self.space.upgrade()) else {
            return;
        };
        let mut st = state.write();
        // In-flight fills (file reads done without the lock) start over.
        st.gen += 1;
        // (start, end, only the file's own pages)
        let mut ranges: Vec<(u64, u64, bool)> = Vec::new();
        for v in st.vmas.iter() {
            let Backing::File { file, off } = &v.backing else {
                continue;
            };
            let Some(mp) = file.file.memory_pages() else {
                continue;
            };
            if !core::ptr::eq(mp.mappings(), set) {
                continue;
            }
            let vfirst = off / PAGE_SIZE;
            let vend = vfirst + v.len() / PAGE_SIZE;
            let (lo, hi) = (first.max(vfirst), end.min(vend));
            if lo < hi {
                ranges.push((
                    v.start + (lo - vfirst) * PAGE_SIZE,
                    v.start + (hi - vfirst) * PAGE_SIZE,
                    !v.shared && !private_too,
                ));
            }
        }
        for (a, b, file_only) in ranges {
            if file_only {
                drop_file_pages(&*space, &self.pages, &mut st, a, b);
            } else {
                drop_pages(&*space, &self.pages, &mut st, a, b);
            }
        }
    }
}

/// How a populate request wants the pages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    /// A page fault of this kind.
    Fault(Access),
    /// A copy by the kernel: `write`, and `force` (ignore protection, as
    /// `FOLL_FORCE`: the loader writing read-only segments).
    Copy { write: bool, force: bool },
}

enum Fill<'a> {
    Done(RwLockWriteGuard<'a, MmState>),
    Retry,
}

fn page_of(addr: u64) -> u64 {
    addr / PAGE_SIZE
}

fn page_down(addr: u64) -> u64 {
    addr & !(PAGE_SIZE - 1)
}

fn page_up(v: u64) -> Option<u64> {
    crate::addr::page_round_up(v)
}

impl MemoryManager {
    /// An empty address space over `space`, with the user address space
    /// ending at Linux's `TASK_SIZE`.
    pub fn new(
        space: Arc<dyn AddressSpace>,
        mf: Arc<dyn MemoryFile>,
        pages: Arc<PageAllocator>,
    ) -> MemoryManager {
        Self::with_max_address(space, mf, pages, TASK_SIZE)
    }

    /// An empty address space whose user part ends at `max_addr` (the
    /// platform's `max_user_address`, rounded down to a page).
    pub fn with_max_address(
        space: Arc<dyn AddressSpace>,
        mf: Arc<dyn MemoryFile>,
        pages: Arc<PageAllocator>,
        max_addr: u64,
    ) -> MemoryManager {
        let max_addr = page_down(max_addr);
        let mmap_base = max_addr.saturating_sub(256 << 20) & !(PAGE_SIZE - 1);
        Self::with_state(
            space,
            mf,
            pages,
            max_addr,
            MmState {
                vmas: VmaSet::default(),
                pt: BTreeMap::new(),
                layout: Layout {
                    mmap_base,
                    brk_start: 0,
                    stack_start: 0,
                    stack_limit: 8 << 20,
                },
                brk: 0,
                gen: 0,
            },
        )
    }

    fn with_state(
        space: Arc<dyn AddressSpace>,
        mf: Arc<dyn MemoryFile>,
        pages: Arc<PageAllocator>,
        max_addr: u64,
        st: MmState,
    ) -> MemoryManager {
        let state = Arc::new(RwLock::new(st));
        let mapper: Arc<dyn MappingSpace> = Arc::new(Mapper {
            space: Arc::downgrade(&space),
            pages: pages.clone(),
            state: Arc::downgrade(&state),
        });
        MemoryManager {
            space,
            mf,
            pages,
            max_addr,
            state,
            mapper,
        }
    }

    /// The pages of `file` if this address space may map them: a
    /// memory-backed file whose pages come from its own allocator.
    fn own_pages<'f>(&self, file: &'f dyn FileOps) -> Option<&'f dyn MemoryPages> {
        file.memory_pages()
            .filter(|mp| Arc::ptr_eq(&mp.memory(), &self.pages))
    }

    /// A new, empty address space for `kernel` (execve, the first
    /// program): a fresh platform address space over the kernel's memory
    /// file and page allocator.
    pub fn for_kernel(kernel: &crate::Kernel) -> Result<MemoryManager, Errno> {
        let space = kernel.platform.new_address_space()?;
        Ok(Self::with_max_address(
            space,
            kernel.mf.clone(),
            kernel.pages.clone(),
            kernel.platform.max_user_address(),
        ))
    }

    /// The platform address space.
    pub fn space(&self) -> &Arc<dyn AddressSpace> {
        &self.space
    }

    /// One past the highest user address.
    pub fn max_address(&self) -> u64 {
        self.max_addr
    }

    /// The layout (mmap base, brk start, stack).
    pub fn layout(&self) -> Layout {
        self.state.read().layout
    }

    /// Sets the layout; the program break moves to `brk_start`.
    pub fn set_layout(&self, layout: Layout) {
        let mut st = self.state.write();
        st.layout = layout;
        st.brk = layout.brk_start;
    }

    /// (start of the heap, current break).
    pub fn brk_range(&self) -> (UserAddr, UserAddr) {
        let st = self.state.read();
        (UserAddr(st.layout.brk_start), UserAddr(st.brk))
    }

    // ---------------------------------------------------------------
    // copy-in / copy-out

    /// Copies `buf.len()` bytes from application memory at `addr`.
    /// `EFAULT` if any byte is unmapped or in a `PROT_NONE` VMA, or lies
    /// in a file page past end of file.
    pub fn copy_in(&self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno> {
        let mf = &self.mf;
        self.walk(
            addr,
            buf.len(),
            Want::Copy {
                write: false,
                force: false,
            },
            |src, pos, n| {
                let dst = &mut buf[pos..pos + n];
                match src {
                    Some(off) => mf.read(off, dst),
                    None => {
                        dst.fill(0);
                        Ok(())
                    }
                }
            },
        )
    }

    /// Copies `data` to application memory at `addr`. `EFAULT` if any
    /// byte is unmapped or not writable.
    pub fn copy_out(&self, addr: UserAddr, data: &[u8]) -> Result<(), Errno> {
        self.write_with(addr, data, false)
    }

    /// Fills `len` bytes at `addr` with zeros (as `clear_user`).
    pub fn zero_out(&self, addr: UserAddr, len: u64) -> Result<(), Errno> {
        self.zero_with(addr, len, false)
    }

    /// Like [`copy_out`](Self::copy_out) but ignores protection (Linux's
    /// `FOLL_FORCE`): the loader writing into read-only segments. Still
    /// `EFAULT` outside VMAs.
    pub fn write_force(&self, addr: UserAddr, data: &[u8]) -> Result<(), Errno> {
        self.write_with(addr, data, true)
    }

    /// Like [`zero_out`](Self::zero_out) but ignores protection.
    pub fn zero_force(&self, addr: UserAddr, len: u64) -> Result<(), Errno> {
        self.zero_with(addr, len, true)
    }

    fn write_with(&self, addr: UserAddr, data: &[u8], force: bool) -> Result<(), Errno> {
        let mf = &self.mf;
        self.walk(
            addr,
            data.len(),
            Want::Copy { write: true, force },
            |dst, pos, n| mf.write(dst.ok_or(Errno::EFAULT)?, &data[pos..pos + n]),
        )
    }

    fn zero_with(&self, addr: UserAddr, len: u64, force: bool) -> Result<(), Errno> {
        let len = usize::try_from(len).map_err(|_| Errno::EFAULT)?;
        let mf = &self.mf;
        self.walk(
            addr,
            len,
            Want::Copy { write: true, force },
            |dst, _pos, n| mf.zero(dst.ok_or(Errno::EFAULT)?, n as u64),
        )
    }

    /// Reads a `T` at `addr`.
    pub fn read_obj<T: FromBytes + IntoBytes>(&self, addr: UserAddr) -> Result<T, Errno> {
        let mut v = T::new_zeroed();
        self.copy_in(addr, v.as_mut_bytes())?;
        Ok(v)
    }

    /// Writes `v` at `addr`.
    pub fn write_obj<T: IntoBytes + Immutable>(&self, addr: UserAddr, v: &T) -> Result<(), Errno> {
        self.copy_out(addr, v.as_bytes())
    }

    /// Atomically replaces the 4-byte aligned word at `addr` with `new` if
    /// it holds `old` (futexes); returns the value found. The page is
    /// made writable as a write would make it (copy-on-write broken);
    /// `EFAULT` if it cannot be written, `EINVAL` if misaligned.
    pub fn cmpxchg_u32(&self, addr: UserAddr, old: u32, new: u32) -> Result<u32, Errno> {
        if !addr.0.is_multiple_of(4) {
            return Err(Errno::EINVAL);
        }
        let mf = &self.mf;
        let mut found = 0;
        self.walk(
            addr,
            4,
            Want::Copy {
                write: true,
                force: false,
            },
            |dst, _pos, _n| {
                found = mf.compare_exchange_u32(dst.ok_or(Errno::EFAULT)?, old, new)?;
                Ok(())
            },
        )?;
        Ok(found)
    }

    /// Reads a NUL-terminated string whose NUL lies within the first `max`
    /// bytes (so at most `max - 1` bytes of text, as Linux's `getname`
    /// with `PATH_MAX`); returns the text without the NUL.
    /// `ENAMETOOLONG` if there is no NUL within `max` bytes, `EFAULT` if
    /// the string runs into unmapped memory first.
    pub fn read_cstring(&self, addr: UserAddr, max: usize) -> Result<Vec<u8>, Errno> {
        let mut out: Vec<u8> = Vec::new();
        let mut at = addr.0;
        let mut chunk = [0u8; 256];
        while out.len() < max {
            let to_page_end = (PAGE_SIZE - at % PAGE_SIZE) as usize;
            let n = to_page_end.min(chunk.len()).min(max - out.len());
            self.copy_in(UserAddr(at), &mut chunk[..n])?;
            if let Some(i) = chunk[..n].iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..i]);
                return Ok(out);
            }
            out.extend_from_slice(&chunk[..n]);
            at = at.checked_add(n as u64).ok_or(Errno::EFAULT)?;
        }
        Err(Errno::ENAMETOOLONG)
    }

    /// Walks `[addr, addr+len)` page by page, calling `f(where, pos, n)`
    /// for each piece: `where` is the memory-file offset of the bytes, or
    /// `None` for an anonymous page never touched (reads as zero; only
    /// for reads). Pages are populated as a fault would populate them.
    fn walk(
        &self,
        addr: UserAddr,
        len: usize,
        want: Want,
        mut f: impl FnMut(Option<FileOffset>, usize, usize) -> Result<(), Errno>,
    ) -> Result<(), Errno> {
        if len == 0 {
            return Ok(());
        }
        let end = addr.0.checked_add(len as u64).ok_or(Errno::EFAULT)?;
        if end > self.max_addr {
            return Err(Errno::EFAULT);
        }
        let Want::Copy { write, force } = want else {
            return Err(Errno::EFAULT);
        };
        let mut pos = 0usize;
        while pos < len {
            {
                let st = self.state.read();
                let mut vma: Option<&Vma> = None;
                while pos < len {
                    let at = addr.0 + pos as u64;
                    let v = match vma {
                        Some(v) if at < v.end => v,
                        _ => match st.vmas.find(at) {
                            Some(v) => {
                                vma = Some(v);
                                v
                            }
                            None => break,
                        },
                    };
                    if !copy_allowed(v.prot, write, force) {
                        return Err(Errno::EFAULT);
                    }
                    let n = ((PAGE_SIZE - at % PAGE_SIZE) as usize).min(len - pos);
                    match st.pt.get(&page_of(at)) {
                        Some(pte) if !write || !self.needs_unshare(v, pte) => {
                            f(Some(FileOffset(pte.off + at % PAGE_SIZE)), pos, n)?;
                        }
                        None if !write && matches!(v.backing, Backing::Anon) => {
                            f(None, pos, n)?;
                        }
                        _ => break,
                    }
                    pos += n;
                }
            }
            if pos >= len {
                break;
            }
            // Slow path: populate (or grow the stack), then go on.
            let at = addr.0 + pos as u64;
            // File pages: populate the fault-around window too (fewer file
            // reads); anonymous pages: only what the copy touches (a later
            // fault maps its window anyway).
            let file_backed = self
                .state
                .read()
                .vmas
                .find(at)
                .is_some_and(|v| matches!(v.backing, Backing::File { .. }));
            let last = page_of(end - 1) + 1;
            let (lo, hi) = if file_backed {
                let lo = page_of(at) & !(FAULT_AROUND - 1);
                (lo, last.max(lo + FAULT_AROUND))
            } else {
                (page_of(at), last)
            };
            let hi = hi.min(page_of(at) + COPY_POPULATE);
            let (mut st, _) = self.prepare(at, lo, hi, want)?;
            if write {
                let shared = st.vmas.find(at).map(|v| v.shared).unwrap_or(true);
                self.unshare(&mut st, page_of(at), shared)?;
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------
    // populating pages

    /// True if writing through `pte` in `v` must first go through
    /// [`unshare`](Self::unshare) (a private page marked copy-on-write).
    fn needs_unshare(&self, v: &Vma, pte: &Pte) -> bool {
        !v.shared && pte.cow
    }

    /// Finds the VMA for `addr` (growing a stack down to it if that is
    /// how Linux would find one), checks `want` against its protection,
    /// and makes sure the pages `[lo, hi)` (clipped to the VMA; `addr`'s
    /// page always included) are present. Returns with the write lock
    /// held and the VMA's start.
    fn prepare(
        &self,
        addr: u64,
        lo: u64,
        hi: u64,
        want: Want,
    ) -> Result<(RwLockWriteGuard<'_, MmState>, u64), Errno> {
        let page = page_of(addr);
        loop {
            let mut st = self.state.write();
            let v = match st.vmas.find(addr) {
                Some(v) => v,
                None => {
                    grow_stack(&mut st, addr, self.max_addr);
                    st.vmas.find(addr).ok_or(Errno::EFAULT)?
                }
            };
            match want {
                Want::Fault(access) => {
                    if !fault_allowed(v.prot, access) {
                        return Err(Errno::EACCES);
                    }
                }
                Want::Copy { write, force } => {
                    if !copy_allowed(v.prot, write, force) {
                        return Err(Errno::EFAULT);
                    }
                }
            }
            let vstart = v.start;
            let lo = lo.max(page_of(v.start)).min(page);
            let hi = hi.min(page_of(v.end)).max(page + 1);
            let filled = self.fill(st, vstart, lo, hi).map_err(|e| match (e, want) {
                (Errno::EIO, Want::Copy { .. }) => Errno::EFAULT,
                _ => e,
            });
            match filled? {
                Fill::Retry => continue,
                Fill::Done(st) => {
                    if !st.pt.contains_key(&page) {
                        // A file page wholly past end of file.
                        return Err(match want {
                            Want::Fault(_) => Errno::EIO,
                            Want::Copy { .. } => Errno::EFAULT,
                        });
                    }
                    return Ok((st, vstart));
                }
            }
        }
    }

    /// Populates the missing pages of `[lo, hi)` in the VMA at `vstart`.
    /// Anonymous pages are allocated under the lock; file pages are read
    /// with the lock dropped (`Retry` if the layout changed meanwhile).
    fn fill<'a>(
        &'a self,
        mut st: RwLockWriteGuard<'a, MmState>,
        vstart: u64,
        lo: u64,
        hi: u64,
    ) -> Result<Fill<'a>, Errno> {
        let runs = missing_runs(&st.pt, lo, hi);
        if runs.is_empty() {
            return Ok(Fill::Done(st));
        }
        let Some(v) = st.vmas.find(vstart) else {
            return Ok(Fill::Retry);
        };
        let (file, foff) = match &v.backing {
            Backing::Anon => {
                for (p, q) in runs {
                    let mut cur = p;
                    while cur < q {
                        let (off, n) = self.pages.alloc_upto(q - cur)?;
                        for i in 0..n {
                            st.pt.insert(cur + i, Pte::new(off.0 + i * PAGE_SIZE));
                        }
                        cur += n;
                    }
                }
                return Ok(Fill::Done(st));
            }
            Backing::Pages { off } => {
                // The VMA's own pages: share them (the holder keeps them
                // alive; each page-table entry holds one more reference).
                let (base, vstart, cow) = (*off, v.start, !v.shared);
                for (p, q) in runs {
                    for page in p..q {
                        let poff = FileOffset(base + (page * PAGE_SIZE - vstart));
                        self.pages.incref(poff, 1)?;
                        let mut pte = Pte::new(poff.0);
                        pte.cow = cow;
                        st.pt.insert(page, pte);
                    }
                }
                return Ok(Fill::Done(st));
            }
            Backing::File { file, off } if self.own_pages(&*file.file).is_some() => {
                // A memory-backed file (memfd, tmpfs): map the file's own
                // pages, one more reference each; none past its end. A
                // private mapping shows them read-only until it writes
                // (Linux maps the page-cache page and copies on write), so
                // it sees the file's changes on the pages it has not
                // written. Holes are allocated, as shmem's fault does.
                let (f, base, vstart, private) = (file.file.clone(), *off, v.start, !v.shared);
                let Some(mp) = self.own_pages(&*f) else {
                    return Ok(Fill::Done(st));
                };
                mp.mappings().add(&self.mapper);
                let mut got: Vec<FileOffset> = Vec::new();
                for (p, q) in runs {
                    let first = (base + (p * PAGE_SIZE - vstart)) / PAGE_SIZE;
                    got.clear();
                    // Out of memory or past a size limit: SIGBUS, as
                    // shmem's fault says VM_FAULT_SIGBUS.
                    mp.get_pages(first, q - p, &mut got)
                        .map_err(|_| Errno::EIO)?;
                    for (i, poff) in got.iter().enumerate() {
                        let pte = if private {
                            Pte::file_page(poff.0)
                        } else {
                            Pte::new(poff.0)
                        };
                        st.pt.insert(p + i as u64, pte);
                    }
                    if (got.len() as u64) < q - p {
                        break;
                    }
                }
                return Ok(Fill::Done(st));
            }
            Backing::File { file, off } => (file.file.clone(), *off + (lo * PAGE_SIZE - v.start)),
        };
        // File-backed: read the span covering the missing pages with no
        // lock held.
        let span_lo = runs[0].0;
        let span_hi = runs[runs.len() - 1].1;
        let gen = st.gen;
        drop(st);
        let file_at = foff + (span_lo - lo) * PAGE_SIZE;
        let data = read_file(&*file, file_at, ((span_hi - span_lo) * PAGE_SIZE) as usize)?;
        let valid_hi = span_lo + (data.len() as u64).div_ceil(PAGE_SIZE);
        let mut new: Vec<(u64, u64)> = Vec::new();
        let mut result = Ok(());
        'runs: for (p, q) in runs {
            let q = q.min(valid_hi);
            let mut cur = p;
            while cur < q {
                let (off, n) = match self.pages.alloc_upto(q - cur) {
                    Ok(x) => x,
                    Err(e) => {
                        result = Err(e);
                        break 'runs;
                    }
                };
                for i in 0..n {
                    let page = cur + i;
                    let from = ((page - span_lo) * PAGE_SIZE) as usize;
                    let to = (from + PAGE_SIZE as usize).min(data.len());
                    let poff = off.0 + i * PAGE_SIZE;
                    new.push((page, poff));
                    if let Err(e) = self.mf.write(FileOffset(poff), &data[from..to]) {
                        result = Err(e);
                        break 'runs;
                    }
                }
                cur += n;
            }
        }
        if let Err(e) = result {
            let mut offs: Vec<FileOffset> = new.iter().map(|&(_, o)| FileOffset(o)).collect();
            self.pages.decref_pages(&mut offs);
            return Err(e);
        }
        let mut st = self.state.write();
        if st.gen != gen {
            drop(st);
            let mut offs: Vec<FileOffset> = new.iter().map(|&(_, o)| FileOffset(o)).collect();
            self.pages.decref_pages(&mut offs);
            return Ok(Fill::Retry);
        }
        let mut dup: Vec<FileOffset> = Vec::new();
        for (page, off) in new {
            match st.pt.entry(page) {
                alloc::collections::btree_map::Entry::Occupied(_) => dup.push(FileOffset(off)),
                alloc::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(Pte::new(off));
                }
            }
        }
        if !dup.is_empty() {
            self.pages.decref_pages(&mut dup);
        }
        Ok(Fill::Done(st))
    }

    /// Gives `page` its own copy if it is a private page shared with
    /// another address space (copy-on-write), and makes the platform show
    /// the new page.
    fn unshare(&self, st: &mut MmState, page: u64, shared_vma: bool) -> Result<(), Errno> {
        let Some(&pte) = st.pt.get(&page) else {
            return Ok(());
        };
        if shared_vma || !pte.cow {
            return Ok(());
        }
        if !pte.file && !self.pages.is_shared(FileOffset(pte.off)) {
            // The other holders are gone: the page is ours alone.
            if let Some(e) = st.pt.get_mut(&page) {
                e.cow = false;
            }
            return Ok(());
        }
        let new = self.pages.alloc(1)?;
        let mut buf = vec![0u8; PAGE_SIZE as usize];
        let copied = self
            .mf
            .read(FileOffset(pte.off), &mut buf)
            .and_then(|_| self.mf.write(new, &buf));
        if let Err(e) = copied {
            self.pages.decref(new, 1);
            return Err(e);
        }
        let mut entry = Pte::new(new.0);
        if pte.mapped.is_some() {
            // The platform still shows the old page: show the copy.
            let prot = st
                .vmas
                .find(page * PAGE_SIZE)
                .map(|v| v.prot)
                .unwrap_or(Prot::empty());
            match self
                .space
                .map(UserAddr(page * PAGE_SIZE), PAGE_SIZE, new, prot)
            {
                Ok(()) => entry.mapped = Some(prot),
                Err(_) => {
                    let _ = self.space.unmap(UserAddr(page * PAGE_SIZE), PAGE_SIZE);
                }
            }
        }
        st.pt.insert(page, entry);
        self.pages.decref(FileOffset(pte.off), 1);
        Ok(())
    }

    /// The protection the platform may give `pte` in `v`: the VMA's,
    /// without write while the page is shared copy-on-write.
    fn effective_prot(&self, v: &Vma, pte: &Pte) -> Prot {
        if v.prot.contains(Prot::WRITE) && self.needs_unshare(v, pte) {
            v.prot - Prot::WRITE
        } else {
            v.prot
        }
    }

    /// Maps the present pages of `[lo, hi)` (all in the VMA at `vstart`)
    /// into the platform, in as few runs as the memory-file layout allows.
    /// Pages the platform already shows as they should be are left alone,
    /// except `force` (the faulting page: the platform asked for it).
    fn map_present(
        &self,
        st: &mut MmState,
        vstart: u64,
        lo: u64,
        hi: u64,
        force: Option<u64>,
    ) -> Result<(), Errno> {
        let Some(v) = st.vmas.find(vstart) else {
            return Ok(());
        };
        // (first page, memory-file offset, pages, prot)
        let mut runs: Vec<(u64, u64, u64, Prot)> = Vec::new();
        for (&p, pte) in st.pt.range(lo..hi) {
            let prot = self.effective_prot(v, pte);
            if pte.mapped == Some(prot) && force != Some(p) {
                // Already shown (a copy-on-write break next door).
                continue;
            }
            match runs.last_mut() {
                Some((s, off, n, pr))
                    if *s + *n == p && *off + *n * PAGE_SIZE == pte.off && *pr == prot =>
                {
                    *n += 1
                }
                _ => runs.push((p, pte.off, 1, prot)),
            }
        }
        for (s, off, n, prot) in runs {
            self.space
                .map(
                    UserAddr(s * PAGE_SIZE),
                    n * PAGE_SIZE,
                    FileOffset(off),
                    prot,
                )
                .map_err(Errno::from)?;
            for (_, pte) in st.pt.range_mut(s..s + n) {
                pte.mapped = Some(prot);
            }
        }
        Ok(())
    }

    /// Resolves a page fault; `Err` means the application gets SIGSEGV
    /// (`EFAULT`: no mapping, SEGV_MAPERR; `EACCES`: protection,
    /// SEGV_ACCERR) or SIGBUS (`EIO`: beyond the end of a mapped file).
    ///
    /// A platform that cannot tell a write from a read reports `Read`: the
    /// page is then mapped with the VMA's full protection, a copy-on-write
    /// page is copied when a "read" fault hits it while it is already
    /// mapped read-only, and repeated read faults on a page already mapped
    /// with the VMA's full protection end in `EACCES`.
    pub fn handle_fault(&self, addr: UserAddr, access: Access) -> Result<(), Errno> {
        if addr.0 >= self.max_addr {
            return Err(Errno::EFAULT);
        }
        let page = page_of(addr.0);
        let wlo = page & !(FAULT_AROUND - 1);
        let whi = wlo + FAULT_AROUND;
        let (mut st, vstart) = self.prepare(addr.0, wlo, whi, Want::Fault(access))?;
        let Some(v) = st.vmas.find(vstart) else {
            return Err(Errno::EFAULT);
        };
        let (vprot, vshared, vlo, vhi) = (v.prot, v.shared, page_of(v.start), page_of(v.end));
        let Some(pte) = st.pt.get(&page).copied() else {
            return Err(Errno::EFAULT);
        };
        let mut write = access == Access::Write;
        if access == Access::Read {
            if let Some(mp) = pte.mapped {
                // Already mapped readable, yet it faulted: it was not a
                // plain read.
                if vprot.contains(Prot::WRITE) && !mp.contains(Prot::WRITE) {
                    write = true;
                } else if mp == vprot {
                    let n = pte.refaults.saturating_add(1);
                    if let Some(e) = st.pt.get_mut(&page) {
                        e.refaults = n;
                    }
                    if n >= MAX_REFAULTS {
                        if let Some(e) = st.pt.get_mut(&page) {
                            e.refaults = 0;
                        }
                        return Err(Errno::EACCES);
                    }
                }
            }
        }
        if write {
            self.unshare(&mut st, page, vshared)?;
        }
        // A copy made of a mapped page is mapped already (by `unshare`).
        let remapped = st
            .pt
            .get(&page)
            .is_some_and(|e| e.off != pte.off && e.mapped.is_some());
        let force = (!remapped).then_some(page);
        self.map_present(&mut st, vstart, wlo.max(vlo), whi.min(vhi), force)
    }

    // ---------------------------------------------------------------
    // mmap and friends

    /// mmap(2). `file` is `None` for anonymous mappings, else the file and
    /// the (page-aligned) file offset. The caller has looked up the fd and
    /// checked its access mode (`EBADF`, `EACCES`, `ENODEV`).
    pub fn mmap(
        &self,
        addr: UserAddr,
        len: u64,
        prot: Prot,
        flags: u32,
        file: Option<(MappedFile, u64)>,
    ) -> Result<UserAddr, Errno> {
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::ENOMEM)?;
        if let Some((_, off)) = &file {
            if off & (PAGE_SIZE - 1) != 0 {
                return Err(Errno::EINVAL);
            }
            if off.checked_add(len).is_none() {
                return Err(Errno::EOVERFLOW);
            }
        }
        let shared = match flags & MAP_TYPE {
            MAP_SHARED => true,
            MAP_PRIVATE => false,
            MAP_SHARED_VALIDATE if file.is_some() => true,
            _ => return Err(Errno::EINVAL),
        };
        let growsdown = flags & MAP_GROWSDOWN != 0;
        if shared && growsdown && file.is_none() {
            return Err(Errno::EINVAL);
        }
        if flags & MAP_HUGETLB != 0 {
            // No huge pages are reserved (Linux's default).
            return Err(Errno::ENOMEM);
        }
        // A shared mapping of a file whose data is not in the memory file
        // (a host file given as a standard fd) can only be a copy: it may
        // never write, since its writes could never reach the file.
        let foreign = matches!(&file, Some((f, _)) if self.own_pages(&*f.file).is_none());
        if shared && foreign && prot.contains(Prot::WRITE) {
            return Err(Errno::ENODEV);
        }
        let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
        if len > self.max_addr {
            return Err(Errno::ENOMEM);
        }
        let mut st = self.state.write();
        let start = if fixed {
            if !addr.is_page_aligned() {
                return Err(Errno::EINVAL);
            }
            if addr.0 > self.max_addr - len {
                return Err(Errno::ENOMEM);
            }
            if addr.0 < MMAP_MIN_ADDR {
                return Err(Errno::EPERM);
            }
            if flags & MAP_FIXED_NOREPLACE != 0 && st.vmas.overlaps(addr.0, addr.0 + len) {
                return Err(Errno::EEXIST);
            }
            addr.0
        } else {
            self.place(&st, addr.0, len, flags & MAP_32BIT != 0)
                .ok_or(Errno::ENOMEM)?
        };
        let end = start + len;
        if fixed {
            self.unmap_locked(&mut st, start, end);
        }
        let (backing, max_prot) = match file {
            None => (Backing::Anon, Prot::all()),
            Some((f, off)) => {
                let max = if shared && (!f.writable || foreign) {
                    Prot::READ | Prot::EXEC
                } else {
                    Prot::all()
                };
                (Backing::File { file: f, off }, max)
            }
        };
        st.vmas.insert(Vma {
            start,
            end,
            prot,
            max_prot,
            shared,
            growsdown,
            dontfork: false,
            wipeonfork: false,
            locked: flags & MAP_LOCKED != 0,
            special: None,
            backing,
        });
        st.gen += 1;
        drop(st);
        let populate = flags & (MAP_POPULATE | MAP_LOCKED) != 0 && flags & MAP_NONBLOCK == 0;
        if populate && !prot.is_empty() {
            // Like Linux's mm_populate: errors here do not fail the mmap.
            let _ = self.populate_range(start, end, true, true);
        }
        Ok(UserAddr(start))
    }

    /// Where a non-fixed mapping of `len` bytes goes: the hint if that
    /// range is free, else the highest free gap below `mmap_base`, else
    /// anywhere (top-down).
    fn place(&self, st: &MmState, hint: u64, len: u64, low32: bool) -> Option<u64> {
        if low32 {
            // x86-64 MAP_32BIT: the first 2 GiB, above 1 GiB as Linux does.
            return st.vmas.find_gap_topdown(len, 0x4000_0000, 0x8000_0000);
        }
        if hint != 0 {
            let h = page_up(hint.max(MMAP_MIN_ADDR))?;
            if h.checked_add(len).is_some_and(|e| e <= self.max_addr)
                && !st.vmas.overlaps(h, h + len)
            {
                return Some(h);
            }
        }
        let base = st.layout.mmap_base.min(self.max_addr);
        st.vmas
            .find_gap_topdown(len, MMAP_MIN_ADDR, base)
            .or_else(|| st.vmas.find_gap_topdown(len, MMAP_MIN_ADDR, self.max_addr))
    }

    /// Allocates (and maps into the platform) every page of
    /// `[start, end)`, VMA by VMA, as MAP_POPULATE and mlock do. With
    /// `write`, pages of private writable VMAs are populated as a write
    /// would (copy-on-write broken: Linux's `populate_vma_page_range`
    /// asks for `FOLL_WRITE` there), so such a mapping of a file no
    /// longer follows the file.
    fn populate_range(&self, start: u64, end: u64, map: bool, write: bool) -> Result<(), Errno> {
        let mut at = start;
        while at < end {
            let hi = page_of(end).min(page_of(at) + POPULATE_CHUNK);
            let (mut st, vstart) = self.prepare(
                at,
                page_of(at),
                hi,
                Want::Copy {
                    write: false,
                    force: true,
                },
            )?;
            let (vend, private_writable) = st
                .vmas
                .find(vstart)
                .map(|v| (v.end, !v.shared && v.prot.contains(Prot::WRITE)))
                .unwrap_or((end, false));
            let stop = (hi * PAGE_SIZE).min(vend);
            if write && private_writable {
                let cow: Vec<u64> = st
                    .pt
                    .range(page_of(at)..page_of(stop))
                    .filter(|(_, p)| p.cow)
                    .map(|(&k, _)| k)
                    .collect();
                for p in cow {
                    self.unshare(&mut st, p, false)?;
                }
            }
            if map {
                self.map_present(&mut st, vstart, page_of(at), page_of(stop), None)?;
            }
            at = stop;
        }
        Ok(())
    }

    /// Allocates every page of `[addr, addr+len)`; `ENOMEM` for holes.
    /// (mlock, MADV_WILLNEED, MADV_POPULATE_*.)
    pub fn populate(&self, addr: UserAddr, len: u64) -> Result<(), Errno> {
        let (start, end) = self.page_range(addr, len)?;
        if !self.state.read().vmas.covers(start, end) {
            return Err(Errno::ENOMEM);
        }
        self.populate_range(start, end, false, false)
    }

    /// Checks that `[addr, addr+len)` (page-aligned start, length rounded
    /// up) is entirely mapped: `EINVAL` for an unaligned start, `ENOMEM`
    /// for holes or overflow. (msync, mlock, mincore.)
    pub fn check_mapped(&self, addr: UserAddr, len: u64) -> Result<(), Errno> {
        let (start, end) = self.page_range(addr, len)?;
        if self.state.read().vmas.covers(start, end) {
            Ok(())
        } else {
            Err(Errno::ENOMEM)
        }
    }

    fn page_range(&self, addr: UserAddr, len: u64) -> Result<(u64, u64), Errno> {
        if !addr.is_page_aligned() {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::ENOMEM)?;
        let end = addr.0.checked_add(len).ok_or(Errno::ENOMEM)?;
        Ok((addr.0, end))
    }

    /// mincore(2) for `out.len()` pages from `addr`: each byte is set to
    /// 1 if the page is populated, else 0. `EINVAL` unaligned, `ENOMEM`
    /// for holes or a range past the user address space.
    pub fn mincore(&self, addr: UserAddr, out: &mut [u8]) -> Result<(), Errno> {
        if !addr.is_page_aligned() {
            return Err(Errno::EINVAL);
        }
        let len = (out.len() as u64)
            .checked_mul(PAGE_SIZE)
            .ok_or(Errno::ENOMEM)?;
        let end = addr.0.checked_add(len).ok_or(Errno::ENOMEM)?;
        if end > self.max_addr {
            return Err(Errno::ENOMEM);
        }
        let st = self.state.read();
        if !st.vmas.covers(addr.0, end) {
            return Err(Errno::ENOMEM);
        }
        let (lo, hi) = (page_of(addr.0), page_of(end));
        out.fill(0);
        for (&p, _) in st.pt.range(lo..hi) {
            out[(p - lo) as usize] = 1;
        }
        // A memory-backed file's pages are resident whether or not this
        // address space touched them (Linux reports the page cache).
        let mut file_res: Vec<u8> = Vec::new();
        for v in st.vmas.intersecting(addr.0, end) {
            let Backing::File { file, off } = &v.backing else {
                continue;
            };
            let Some(mp) = self.own_pages(&*file.file) else {
                continue;
            };
            let (s, e) = (v.start.max(addr.0), v.end.min(end));
            file_res.clear();
            file_res.resize(((e - s) / PAGE_SIZE) as usize, 0);
            mp.resident((off + (s - v.start)) / PAGE_SIZE, &mut file_res);
            let base = (page_of(s) - lo) as usize;
            for (i, &r) in file_res.iter().enumerate() {
                out[base + i] |= r;
            }
        }
        Ok(())
    }

    /// msync(2)'s walk over `[addr, addr+len)` (the caller checked the
    /// flags and the alignment), as Linux's: `ENOMEM` if part of the range
    /// is unmapped (at once for a plain `MS_ASYNC`, else after the mapped
    /// parts), `EBUSY` for `MS_INVALIDATE` over locked memory. Shared
    /// mappings of memory-backed files need no writing back: their pages
    /// are the file's.
    pub fn msync(
        &self,
        addr: UserAddr,
        len: u64,
        invalidate: bool,
        async_only: bool,
    ) -> Result<(), Errno> {
        let len = page_up(len).ok_or(Errno::ENOMEM)?;
        let end = addr.0.checked_add(len).ok_or(Errno::ENOMEM)?;
        if end == addr.0 {
            return Ok(());
        }
        let st = self.state.read();
        let mut start = addr.0;
        let mut unmapped = false;
        loop {
            let v = st
                .vmas
                .find(start)
                .or_else(|| st.vmas.next_above(start))
                .ok_or(Errno::ENOMEM)?;
            if start < v.start {
                if async_only {
                    return Err(Errno::ENOMEM);
                }
                start = v.start;
                if start >= end {
                    return Err(Errno::ENOMEM);
                }
                unmapped = true;
            }
            if invalidate && v.locked {
                return Err(Errno::EBUSY);
            }
            start = v.end;
            if start >= end {
                break;
            }
        }
        if unmapped {
            Err(Errno::ENOMEM)
        } else {
            Ok(())
        }
    }

    /// Removes `[start, end)` (page-aligned): VMAs, page-table entries,
    /// platform mappings; frees pages no one else holds.
    fn unmap_locked(&self, st: &mut MmState, start: u64, end: u64) {
        let removed = st.vmas.remove_range(start, end);
        if removed.is_empty() {
            return;
        }
        st.gen += 1;
        self.drop_pages(st, start, end);
    }

    /// Drops the page-table entries of `[start, end)` (see [`drop_pages`]).
    fn drop_pages(&self, st: &mut MmState, start: u64, end: u64) {
        drop_pages(&*self.space, &self.pages, st, start, end);
    }

    /// munmap(2).
    pub fn munmap(&self, addr: UserAddr, len: u64) -> Result<(), Errno> {
        if !addr.is_page_aligned() || addr.0 > self.max_addr || len > self.max_addr - addr.0 {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::EINVAL)?;
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        let mut st = self.state.write();
        self.unmap_locked(&mut st, addr.0, addr.0 + len);
        Ok(())
    }

    /// mprotect(2). `prot` holds only `PROT_READ|WRITE|EXEC` (the caller
    /// rejects other bits). `ENOMEM` if the range has holes (nothing is
    /// changed then), `EACCES` beyond what the mapping allows.
    pub fn mprotect(&self, addr: UserAddr, len: u64, prot: Prot) -> Result<(), Errno> {
        if !addr.is_page_aligned() {
            return Err(Errno::EINVAL);
        }
        if len == 0 {
            return Ok(());
        }
        let len = page_up(len).ok_or(Errno::ENOMEM)?;
        let (start, end) = (addr.0, addr.0.checked_add(len).ok_or(Errno::ENOMEM)?);
        let mut st = self.state.write();
        if !st.vmas.covers(start, end) {
            return Err(Errno::ENOMEM);
        }
        if st
            .vmas
            .intersecting(start, end)
            .any(|v| !v.max_prot.contains(prot))
        {
            return Err(Errno::EACCES);
        }
        st.vmas.split(start);
        st.vmas.split(end);
        for v in st.vmas.iter_mut() {
            if v.start >= start && v.end <= end {
                v.prot = prot;
            }
        }
        st.vmas.merge_around(start, end);
        st.gen += 1;
        self.reprotect(&mut st, start, end);
        Ok(())
    }

    /// Brings the platform's protections of the mapped pages in
    /// `[start, end)` in line with the VMAs (copy-on-write pages stay
    /// read-only). Calls the platform only if a page there is mapped.
    fn reprotect(&self, st: &mut MmState, start: u64, end: u64) {
        let (lo, hi) = (page_of(start), page_of(end));
        // (first page, pages, prot) runs of mapped pages.
        let mut runs: Vec<(u64, u64, Prot)> = Vec::new();
        {
            let MmState { vmas, pt, .. } = &mut *st;
            let mut vma: Option<&Vma> = None;
            for (&p, pte) in pt.range_mut(lo..hi) {
                if pte.mapped.is_none() {
                    continue;
                }
                let at = p * PAGE_SIZE;
                let v = match vma {
                    Some(v) if at >= v.start && at < v.end => v,
                    _ => match vmas.find(at) {
                        Some(v) => {
                            vma = Some(v);
                            v
                        }
                        None => continue,
                    },
                };
                let prot = self.effective_prot(v, pte);
                pte.mapped = Some(prot);
                pte.refaults = 0;
                match runs.last_mut() {
                    Some((s, n, pr)) if *s + *n == p && *pr == prot => *n += 1,
                    _ => runs.push((p, 1, prot)),
                }
            }
        }
        if runs.is_empty() {
            return;
        }
        // One call for the common case of a uniform protection.
        let first = runs[0].0;
        let (ls, ln, _) = runs[runs.len() - 1];
        if runs.iter().all(|r| r.2 == runs[0].2) {
            let _ = self.space.protect(
                UserAddr(first * PAGE_SIZE),
                (ls + ln - first) * PAGE_SIZE,
                runs[0].2,
            );
            return;
        }
        for (s, n, prot) in runs {
            let _ = self
                .space
                .protect(UserAddr(s * PAGE_SIZE), n * PAGE_SIZE, prot);
        }
    }

    /// mremap(2).
    pub fn mremap(
        &self,
        old: UserAddr,
        old_len: u64,
        new_len: u64,
        flags: u32,
        new: UserAddr,
    ) -> Result<UserAddr, Errno> {
        if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 {
            return Err(Errno::EINVAL);
        }
        if flags & MREMAP_FIXED != 0 && flags & MREMAP_MAYMOVE == 0 {
            return Err(Errno::EINVAL);
        }
        if flags & MREMAP_DONTUNMAP != 0 && (flags & MREMAP_MAYMOVE == 0 || old_len != new_len) {
            return Err(Errno::EINVAL);
        }
        if !old.is_page_aligned() {
            return Err(Errno::EINVAL);
        }
        let old_len = page_up(old_len).ok_or(Errno::EINVAL)?;
        let new_len = page_up(new_len).ok_or(Errno::EINVAL)?;
        if new_len == 0 {
            return Err(Errno::EINVAL);
        }
        if old_len == 0 {
            // Duplicating a shared mapping is not modelled.
            return Err(Errno::EINVAL);
        }
        let old = old.0;
        // The old range must lie in the user address space (Linux: the
        // shrink's munmap says EINVAL; a grow would say EFAULT first).
        if !matches!(old.checked_add(old_len), Some(e) if e <= self.max_addr) {
            return Err(if new_len < old_len {
                Errno::EINVAL
            } else {
                Errno::EFAULT
            });
        }
        let mut st = self.state.write();
        if flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 {
            let fixed = flags & MREMAP_FIXED != 0;
            let mut new_addr = new.0;
            if fixed {
                if !new.is_page_aligned() {
                    return Err(Errno::EINVAL);
                }
                if new_len > self.max_addr || new_addr > self.max_addr - new_len {
                    return Err(Errno::EINVAL);
                }
                if old.saturating_add(old_len) > new_addr && new_addr.saturating_add(new_len) > old
                {
                    return Err(Errno::EINVAL);
                }
                if new_addr < MMAP_MIN_ADDR {
                    return Err(Errno::EPERM);
                }
            }
            let v = resize_check(&st, old, old_len.min(new_len), new_len)?;
            if fixed {
                self.unmap_locked(&mut st, new_addr, new_addr + new_len);
            }
            let mut old_len = old_len;
            if old_len > new_len {
                self.unmap_locked(&mut st, old + new_len, old + old_len);
                old_len = new_len;
            }
            if !fixed {
                new_addr = self
                    .place(&st, new_addr, new_len, false)
                    .ok_or(Errno::ENOMEM)?;
            }
            let dontunmap = flags & MREMAP_DONTUNMAP != 0;
            self.move_vma(&mut st, &v, old, old_len, new_addr, new_len, dontunmap);
            return Ok(UserAddr(new_addr));
        }
        if old_len >= new_len {
            if old_len > new_len {
                self.unmap_locked(&mut st, old + new_len, old + old_len);
            }
            return Ok(UserAddr(old));
        }
        let v = resize_check(&st, old, old_len, new_len)?;
        // Grow in place if the area ends the VMA and the space after is free.
        if old + old_len == v.end {
            let new_end = old.checked_add(new_len).ok_or(Errno::ENOMEM)?;
            if new_end <= self.max_addr && !st.vmas.overlaps(v.end, new_end) {
                if let Some(vm) = st.vmas.find_mut(old) {
                    vm.end = new_end;
                }
                st.vmas.merge_around(v.start, new_end);
                st.gen += 1;
                return Ok(UserAddr(old));
            }
        }
        if flags & MREMAP_MAYMOVE == 0 {
            return Err(Errno::ENOMEM);
        }
        let new_addr = self.place(&st, 0, new_len, false).ok_or(Errno::ENOMEM)?;
        self.move_vma(&mut st, &v, old, old_len, new_addr, new_len, false);
        Ok(UserAddr(new_addr))
    }

    /// Moves `[old, old+old_len)` (inside `v`) to a new VMA at `new_addr`
    /// of `new_len` bytes, carrying the page-table entries along (no data
    /// is copied). The source is unmapped unless `keep_old`, in which case
    /// it stays as an empty VMA (MREMAP_DONTUNMAP).
    #[allow(clippy::too_many_arguments)]
    fn move_vma(
        &self,
        st: &mut MmState,
        v: &Vma,
        old: u64,
        old_len: u64,
        new_addr: u64,
        new_len: u64,
        keep_old: bool,
    ) {
        let mut nv = v.clone();
        nv.start = new_addr;
        nv.end = new_addr + new_len;
        if let Backing::File { off, .. } | Backing::Pages { off } = &mut nv.backing {
            *off += old - v.start;
        }
        // Take the entries out of the old range.
        let (lo, hi) = (page_of(old), page_of(old + old_len));
        let keys: Vec<u64> = st.pt.range(lo..hi).map(|(&k, _)| k).collect();
        let mut moved: Vec<(u64, Pte)> = Vec::with_capacity(keys.len());
        let mut any_mapped = false;
        for k in keys {
            if let Some(pte) = st.pt.remove(&k) {
                any_mapped |= pte.mapped.is_some();
                moved.push((k - lo, pte));
            }
        }
        if any_mapped {
            let _ = self.space.unmap(UserAddr(old), old_len);
        }
        if !keep_old {
            st.vmas.remove_range(old, old + old_len);
        }
        let nlo = page_of(new_addr);
        for (i, mut pte) in moved {
            pte.mapped = None;
            pte.refaults = 0;
            st.pt.insert(nlo + i, pte);
        }
        st.vmas.insert(nv);
        st.gen += 1;
    }

    /// brk(2): returns the new (or unchanged) break. Moving below the
    /// heap's start, into another mapping (keeping one free page, as
    /// Linux), or past the user address space leaves the break unchanged.
    /// RLIMIT_DATA is the caller's to check.
    pub fn brk(&self, addr: UserAddr) -> UserAddr {
        let mut st = self.state.write();
        let cur = st.brk;
        let start = st.layout.brk_start;
        if addr.0 < start || start == 0 {
            return UserAddr(cur);
        }
        let (Some(new_end), Some(old_end)) = (page_up(addr.0), page_up(cur)) else {
            return UserAddr(cur);
        };
        if new_end > self.max_addr {
            return UserAddr(cur);
        }
        if new_end == old_end {
            st.brk = addr.0;
            return UserAddr(addr.0);
        }
        if addr.0 <= cur {
            self.unmap_locked(&mut st, new_end, old_end);
            st.brk = addr.0;
            return UserAddr(addr.0);
        }
        // The next mapping must leave a page (and a stack's guard gap).
        let probe_end = new_end.saturating_add(PAGE_SIZE);
        if st.vmas.overlaps(old_end, probe_end) {
            return UserAddr(cur);
        }
        if let Some(n) = st.vmas.next_above(old_end) {
            if n.growsdown && probe_end > n.start.saturating_sub(vma::STACK_GUARD_GAP) {
                return UserAddr(cur);
            }
        }
        st.vmas.insert(Vma {
            start: old_end,
            end: new_end,
            prot: Prot::READ | Prot::WRITE,
            max_prot: Prot::all(),
            shared: false,
            growsdown: false,
            dontfork: false,
            wipeonfork: false,
            locked: false,
            special: None,
            backing: Backing::Anon,
        });
        st.gen += 1;
        st.brk = addr.0;
        UserAddr(addr.0)
    }

    /// madvise(2).
    pub fn madvise(&self, addr: UserAddr, len: u64, advice: u32) -> Result<(), Errno> {
        let known = matches!(
            advice,
            MADV_NORMAL
                | MADV_RANDOM
                | MADV_SEQUENTIAL
                | MADV_WILLNEED
                | MADV_DONTNEED
                | MADV_FREE
                | MADV_REMOVE
                | MADV_DONTFORK
                | MADV_DOFORK
                | MADV_MERGEABLE
                | MADV_UNMERGEABLE
                | MADV_HUGEPAGE
                | MADV_NOHUGEPAGE
                | MADV_DONTDUMP
                | MADV_DODUMP
                | MADV_WIPEONFORK
                | MADV_KEEPONFORK
                | MADV_COLD
                | MADV_PAGEOUT
                | MADV_POPULATE_READ
                | MADV_POPULATE_WRITE
                | MADV_COLLAPSE
                | MADV_HWPOISON
                | MADV_SOFT_OFFLINE
        );
        if !known {
            return Err(Errno::EINVAL);
        }
        if !addr.is_page_aligned() {
            return Err(Errno::EINVAL);
        }
        let plen = page_up(len).ok_or(Errno::EINVAL)?;
        if len != 0 && plen == 0 {
            return Err(Errno::EINVAL);
        }
        let end = addr.0.checked_add(plen).ok_or(Errno::EINVAL)?;
        if end == addr.0 {
            return Ok(());
        }
        if matches!(advice, MADV_HWPOISON | MADV_SOFT_OFFLINE) {
            return Err(Errno::EPERM);
        }
        let start = addr.0;
        if matches!(
            advice,
            MADV_WILLNEED | MADV_POPULATE_READ | MADV_POPULATE_WRITE
        ) {
            let covered = self.state.read().vmas.covers(start, end);
            let r = self.populate_range_lenient(start, end, advice == MADV_POPULATE_WRITE);
            if advice != MADV_WILLNEED {
                r?;
            }
            return if covered { Ok(()) } else { Err(Errno::ENOMEM) };
        }
        if advice == MADV_REMOVE {
            return self.madvise_remove(start, end);
        }
        let mut st = self.state.write();
        let covered = st.vmas.covers(start, end);
        let pieces: Vec<(u64, u64, bool, bool)> = st
            .vmas
            .intersecting(start, end)
            .map(|v| {
                (
                    v.start.max(start),
                    v.end.min(end),
                    v.shared,
                    matches!(v.backing, Backing::Anon),
                )
            })
            .collect();
        match advice {
            MADV_DONTNEED | MADV_FREE => {
                for &(_, _, shared, anon) in &pieces {
                    if advice == MADV_FREE && (shared || !anon) {
                        return Err(Errno::EINVAL);
                    }
                }
                for (s, e, shared, _) in pieces {
                    // Shared memory keeps its contents (it lives in the
                    // shared object, not in this address space).
                    if !shared {
                        self.drop_pages(&mut st, s, e);
                    }
                }
            }
            MADV_DONTFORK | MADV_DOFORK | MADV_WIPEONFORK | MADV_KEEPONFORK => {
                if advice == MADV_WIPEONFORK && pieces.iter().any(|p| p.2 || !p.3) {
                    return Err(Errno::EINVAL);
                }
                st.vmas.split(start);
                st.vmas.split(end);
                for v in st.vmas.iter_mut() {
                    if v.start >= start && v.end <= end {
                        match advice {
                            MADV_DONTFORK => v.dontfork = true,
                            MADV_DOFORK => v.dontfork = false,
                            MADV_WIPEONFORK => v.wipeonfork = true,
                            _ => v.wipeonfork = false,
                        }
                    }
                }
                st.vmas.merge_around(start, end);
                st.gen += 1;
            }
            _ => {}
        }
        if covered {
            Ok(())
        } else {
            Err(Errno::ENOMEM)
        }
    }

    /// MADV_REMOVE over `[start, end)`, VMA by VMA as Linux's
    /// `madvise_remove`: `EINVAL` for locked or anonymous private memory,
    /// `EACCES` unless the mapping is shared and may write; a
    /// memory-backed file gets a hole punched (every mapping of it sees
    /// zeros), shared anonymous memory drops this address space's pages,
    /// other files answer `EOPNOTSUPP`. `ENOMEM` at the end for holes.
    fn madvise_remove(&self, start: u64, end: u64) -> Result<(), Errno> {
        enum Step {
            Drop(u64, u64),
            Punch(Arc<dyn FileOps>, u64, u64),
        }
        let (steps, covered) = {
            let st = self.state.read();
            let mut steps = Vec::new();
            for v in st.vmas.intersecting(start, end) {
                let (s, e) = (v.start.max(start), v.end.min(end));
                if v.locked {
                    return Err(Errno::EINVAL);
                }
                match &v.backing {
                    Backing::Anon if !v.shared => return Err(Errno::EINVAL),
                    Backing::Pages { .. } => return Err(Errno::EINVAL),
                    _ if !v.shared || !v.max_prot.contains(Prot::WRITE) => {
                        return Err(Errno::EACCES)
                    }
                    Backing::Anon => steps.push(Step::Drop(s, e)),
                    Backing::File { file, off } => {
                        if self.own_pages(&*file.file).is_none() {
                            return Err(Errno::EOPNOTSUPP);
                        }
                        steps.push(Step::Punch(file.file.clone(), off + (s - v.start), e - s));
                    }
                }
            }
            (steps, st.vmas.covers(start, end))
        };
        for step in steps {
            match step {
                Step::Drop(s, e) => {
                    let mut st = self.state.write();
                    self.drop_pages(&mut st, s, e);
                }
                // With no lock held: the file invalidates every mapping,
                // this one included.
                Step::Punch(f, off, len) => {
                    if let Some(mp) = f.memory_pages() {
                        mp.remove(off, len)?;
                    }
                }
            }
        }
        if covered {
            Ok(())
        } else {
            Err(Errno::ENOMEM)
        }
    }

    /// Populates the mapped parts of `[start, end)`, skipping holes.
    fn populate_range_lenient(&self, start: u64, end: u64, write: bool) -> Result<(), Errno> {
        let pieces: Vec<(u64, u64)> = self
            .state
            .read()
            .vmas
            .intersecting(start, end)
            .filter(|v| !v.prot.is_empty())
            .map(|v| (v.start.max(start), v.end.min(end)))
            .collect();
        for (s, e) in pieces {
            self.populate_range(s, e, false, write)?;
        }
        Ok(())
    }

    /// Marks `[addr, addr+len)` locked (mlock) and populates it; `ENOMEM`
    /// for holes.
    pub fn mlock(&self, addr: UserAddr, len: u64, lock: bool) -> Result<(), Errno> {
        let start = page_down(addr.0);
        let len = len.checked_add(addr.0 - start).ok_or(Errno::ENOMEM)?;
        let (start, end) = self.page_range(UserAddr(start), len)?;
        {
            let mut st = self.state.write();
            if !st.vmas.covers(start, end) {
                return Err(Errno::ENOMEM);
            }
            st.vmas.split(start);
            st.vmas.split(end);
            for v in st.vmas.iter_mut() {
                if v.start >= start && v.end <= end {
                    v.locked = lock;
                }
            }
            st.vmas.merge_around(start, end);
            st.gen += 1;
        }
        if lock {
            let _ = self.populate_range_lenient(start, end, true);
        }
        Ok(())
    }

    /// Adds a VMA with a fixed name (e.g. `[vdso]`) at `addr`, replacing
    /// what was there. Pages are filled by the caller (`write_force`).
    pub fn map_special(
        &self,
        addr: UserAddr,
        len: u64,
        prot: Prot,
        name: &'static str,
    ) -> Result<(), Errno> {
        if !addr.is_page_aligned() || len == 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::ENOMEM)?;
        let end = addr.0.checked_add(len).ok_or(Errno::ENOMEM)?;
        if end > self.max_addr {
            return Err(Errno::ENOMEM);
        }
        let mut st = self.state.write();
        self.unmap_locked(&mut st, addr.0, end);
        st.vmas.insert(Vma {
            start: addr.0,
            end,
            prot,
            max_prot: prot,
            shared: false,
            growsdown: false,
            dontfork: false,
            wipeonfork: false,
            locked: false,
            special: Some(name),
            backing: Backing::Anon,
        });
        st.gen += 1;
        Ok(())
    }

    /// Maps `len` bytes of the memory file from `off` at `addr` (both
    /// page-aligned), replacing what was there, as a special mapping named
    /// `name` (`[vdso]`, `[vvar]`): Linux's `_install_special_mapping`.
    /// The pages are shown as they are, not copied; whoever calls this
    /// holds them for as long as any address space may map them. The
    /// mapping is private: a write (after an mprotect within `max_prot`,
    /// or a forced one) gives this address space its own copy. Faults
    /// after `MADV_DONTNEED` show the original pages again; mremap may
    /// move or shrink the mapping but not grow it (`EFAULT`).
    pub fn map_pages(
        &self,
        addr: UserAddr,
        len: u64,
        off: FileOffset,
        prot: Prot,
        max_prot: Prot,
        name: &'static str,
    ) -> Result<(), Errno> {
        if !addr.is_page_aligned() || !off.0.is_multiple_of(PAGE_SIZE) || len == 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::ENOMEM)?;
        let end = addr.0.checked_add(len).ok_or(Errno::ENOMEM)?;
        if addr.0 < MMAP_MIN_ADDR || end > self.max_addr || !max_prot.contains(prot) {
            return Err(Errno::EINVAL);
        }
        let mut st = self.state.write();
        self.unmap_locked(&mut st, addr.0, end);
        st.vmas.insert(Vma {
            start: addr.0,
            end,
            prot,
            max_prot,
            shared: false,
            growsdown: false,
            dontfork: false,
            wipeonfork: false,
            locked: false,
            special: Some(name),
            backing: Backing::Pages { off: off.0 },
        });
        st.gen += 1;
        Ok(())
    }

    // ---------------------------------------------------------------
    // fork

    /// A copy of this address space for a forked child, over the child's
    /// platform address space `space`. Private pages are shared
    /// copy-on-write (and this address space's writable mappings of them
    /// become read-only in the platform); shared anonymous VMAs are fully
    /// populated first and their pages shared outright; shared mappings
    /// of memory-backed files copy no entries at all (the child faults
    /// the file's pages in, as Linux's `dup_mmap` leaves them to fault),
    /// while private ones copy theirs (the file's own pages included) and
    /// the child joins the file's [`MappingSet`] first;
    /// `MADV_DONTFORK` VMAs are left out and `MADV_WIPEONFORK` ones start
    /// empty.
    pub fn fork(&self, space: Arc<dyn AddressSpace>) -> Result<MemoryManager, Errno> {
        // Shared memory that no file holds: populate so both sides hold
        // the same pages (anonymous shared memory).
        let shared: Vec<(u64, u64)> = {
            let st = self.state.read();
            st.vmas
                .iter()
                .filter(|v| v.shared && !v.dontfork && matches!(v.backing, Backing::Anon))
                .map(|v| (v.start, v.end))
                .collect()
        };
        for (s, e) in shared {
            self.populate_range(s, e, false, false)?;
        }
        let mut st = self.state.write();
        let child_mm = MemoryManager::with_state(
            space,
            self.mf.clone(),
            self.pages.clone(),
            self.max_addr,
            MmState {
                vmas: VmaSet::default(),
                pt: BTreeMap::new(),
                layout: st.layout,
                brk: st.brk,
                gen: 0,
            },
        );
        // Nobody else can reach the child yet, except files it joins
        // below, whose invalidations wait for this lock.
        let mut child = child_mm.state.write();
        let mut protect: Vec<(u64, u64, Prot)> = Vec::new();
        let MmState { vmas, pt, .. } = &mut *st;
        for v in vmas.iter() {
            if v.dontfork {
                continue;
            }
            child.vmas.insert(v.clone());
            if v.wipeonfork {
                continue;
            }
            if let Backing::File { file, .. } = &v.backing {
                if let Some(mp) = self.own_pages(&*file.file) {
                    if v.shared {
                        continue;
                    }
                    // Private entries of a memory-backed file (its own
                    // pages, or copies) are the file's to take back on
                    // truncation: the child joins its mappings before it
                    // holds any. A truncation running now invalidates the
                    // child after this lock drops (see
                    // `MappingSet::invalidate`).
                    if pt.range(page_of(v.start)..page_of(v.end)).next().is_some() {
                        mp.mappings().add(&child_mm.mapper);
                    }
                }
            }
            let (lo, hi) = (page_of(v.start), page_of(v.end));
            let mut any_mapped = false;
            for (&p, pte) in pt.range_mut(lo..hi) {
                // Counts cannot fail for pages we hold.
                let _ = self.pages.incref(FileOffset(pte.off), 1);
                let mut c = Pte::new(pte.off);
                if !v.shared {
                    pte.cow = true;
                    c.cow = true;
                    c.file = pte.file;
                }
                child.pt.insert(p, c);
                any_mapped |= pte.mapped.is_some();
            }
            if !v.shared && v.prot.contains(Prot::WRITE) && any_mapped {
                protect.push((v.start, v.end, v.prot - Prot::WRITE));
            }
        }
        for &(s, e, prot) in &protect {
            for (_, pte) in st.pt.range_mut(page_of(s)..page_of(e)) {
                if pte.mapped.is_some() {
                    pte.mapped = Some(prot);
                }
            }
            let _ = self.space.protect(UserAddr(s), e - s, prot);
        }
        st.gen += 1;
        drop(child);
        drop(st);
        Ok(child_mm)
    }

    // ---------------------------------------------------------------
    // introspection

    /// The VMAs, in address order.
    pub fn vmas(&self) -> Vec<VmaInfo> {
        let st = self.state.read();
        st.vmas.iter().map(|v| vma_info(&st, v)).collect()
    }

    /// Sizes for /proc/self/status.
    pub fn stats(&self) -> MmStats {
        let st = self.state.read();
        let mut s = MmStats {
            resident_pages: st.pt.len() as u64,
            vmas: st.vmas.len() as u64,
            ..MmStats::default()
        };
        for v in st.vmas.iter() {
            s.total_pages += v.len() / PAGE_SIZE;
            if v.growsdown {
                s.stack_pages += v.len() / PAGE_SIZE;
            }
        }
        s
    }

    /// Pages populated in `[start, end)` (smaps' `Rss`).
    pub fn resident_in(&self, start: u64, end: u64) -> u64 {
        if end <= start {
            return 0;
        }
        let st = self.state.read();
        st.pt
            .range(page_of(start)..page_of(end.saturating_add(PAGE_SIZE - 1)))
            .count() as u64
    }

    /// The memory-file offset holding the page at `addr`, if populated
    /// (tests, futexes keyed by memory-file offset).
    /// The memory-file offset backing `addr` if it lies in a MAP_SHARED
    /// mapping (and is populated); `None` for private memory. Futexes use
    /// it: a word in shared memory is named by its page, one in private
    /// memory by its address space and address, whatever the flags say.
    pub fn shared_offset(&self, addr: UserAddr) -> Option<FileOffset> {
        let st = self.state.read();
        if !st.vmas.find(addr.0).is_some_and(|v| v.shared) {
            return None;
        }
        st.pt
            .get(&page_of(addr.0))
            .map(|p| FileOffset(p.off + addr.0 % PAGE_SIZE))
    }

    /// True if `addr` lies in a MAP_SHARED mapping (futex keys: an
    /// untouched page there is populated to learn its offset).
    pub fn in_shared_mapping(&self, addr: UserAddr) -> bool {
        self.state
            .read()
            .vmas
            .find(addr.0)
            .is_some_and(|v| v.shared)
    }

    /// The memory-file offset backing `addr`, if the page is populated.
    pub fn translate(&self, addr: UserAddr) -> Option<FileOffset> {
        let st = self.state.read();
        st.pt
            .get(&page_of(addr.0))
            .map(|p| FileOffset(p.off + addr.0 % PAGE_SIZE))
    }

    /// The text of /proc/self/maps, in Linux's format:
    /// `start-end perms offset major:minor inode`, padded to column 73
    /// before the name, or with one trailing space when there is none.
    pub fn maps_text(&self) -> String {
        let st = self.state.read();
        let mut out = String::new();
        for v in st.vmas.iter() {
            let info = vma_info(&st, v);
            let (dev, ino) = info.dev_ino;
            let (major, minor) = split_dev(dev);
            let mut line = format!(
                "{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {} ",
                info.start,
                info.end,
                if info.prot.contains(Prot::READ) {
                    'r'
                } else {
                    '-'
                },
                if info.prot.contains(Prot::WRITE) {
                    'w'
                } else {
                    '-'
                },
                if info.prot.contains(Prot::EXEC) {
                    'x'
                } else {
                    '-'
                },
                if info.shared { 's' } else { 'p' },
                info.offset,
                major,
                minor,
                ino
            );
            if !info.name.is_empty() {
                while line.len() < 72 {
                    line.push(' ');
                }
                line.push(' ');
                line.push_str(&String::from_utf8_lossy(&info.name));
            }
            line.push('\n');
            out.push_str(&line);
        }
        out
    }
}

impl Drop for MemoryManager {
    fn drop(&mut self) {
        let mut st = self.state.write();
        let any_mapped = st.pt.values().any(|p| p.mapped.is_some());
        // If someone else still holds the platform address space, make
        // sure it stops showing pages that are about to be reused.
        if any_mapped && Arc::strong_count(&self.space) > 1 {
            let _ = self
                .space
                .unmap(UserAddr(MMAP_MIN_ADDR), self.max_addr - MMAP_MIN_ADDR);
        }
        let mut offs: Vec<FileOffset> = st.pt.values().map(|p| FileOffset(p.off)).collect();
        st.pt.clear();
        self.pages.decref_pages(&mut offs);
    }
}

/// Drops the page-table entries of `[start, end)`: unmaps them from the
/// platform (one call, if any was mapped) and then releases the pages.
fn drop_pages(
    space: &dyn AddressSpace,
    pages: &PageAllocator,
    st: &mut MmState,
    start: u64,
    end: u64,
) {
    drop_matching(space, pages, st, start, end, |_| true);
}

/// Drops the entries of `[start, end)` that show a memory-backed file's
/// own page in a private mapping, keeping the private copies (hole
/// punching: Linux's `unmap_mapping_range` without `even_cows`).
fn drop_file_pages(
    space: &dyn AddressSpace,
    pages: &PageAllocator,
    st: &mut MmState,
    start: u64,
    end: u64,
) {
    drop_matching(space, pages, st, start, end, |p| p.file);
}

/// Drops the entries of `[start, end)` that `which` selects: unmaps them
/// from the platform (one call per run of mapped pages, a single one when
/// every entry goes) and then releases the pages.
fn drop_matching(
    space: &dyn AddressSpace,
    pages: &PageAllocator,
    st: &mut MmState,
    start: u64,
    end: u64,
    which: impl Fn(&Pte) -> bool,
) {
    let (lo, hi) = (page_of(start), page_of(end));
    let mut kept = false;
    let keys: Vec<u64> = st
        .pt
        .range(lo..hi)
        .filter(|(_, p)| {
            let w = which(p);
            kept |= !w;
            w
        })
        .map(|(&k, _)| k)
        .collect();
    if keys.is_empty() {
        return;
    }
    st.gen += 1;
    let mut offs: Vec<FileOffset> = Vec::with_capacity(keys.len());
    // Runs of mapped pages to unmap; with nothing kept, one span from the
    // first to the last (unmapping the unmapped pages between is free).
    let mut mapped: Vec<(u64, u64)> = Vec::new();
    for k in keys {
        if let Some(pte) = st.pt.remove(&k) {
            offs.push(FileOffset(pte.off));
            if pte.mapped.is_some() {
                match mapped.last_mut() {
                    Some((_, b)) if !kept || *b == k => *b = k + 1,
                    _ => mapped.push((k, k + 1)),
                }
            }
        }
    }
    for (a, b) in mapped {
        let _ = space.unmap(UserAddr(a * PAGE_SIZE), (b - a) * PAGE_SIZE);
    }
    pages.decref_pages(&mut offs);
}

/// x86 page-fault access rules: any mapped page is readable (write and
/// exec imply read without protection keys); writes need `WRITE`,
/// instruction fetches `EXEC`.
fn fault_allowed(prot: Prot, access: Access) -> bool {
    match access {
        Access::Read => !prot.is_empty(),
        Access::Write => prot.contains(Prot::WRITE),
        Access::Exec => prot.contains(Prot::EXEC),
    }
}

/// What the kernel's own accesses need: reads any non-`PROT_NONE` VMA,
/// writes a writable one; `force` ignores protection.
fn copy_allowed(prot: Prot, write: bool, force: bool) -> bool {
    force
        || if write {
            prot.contains(Prot::WRITE)
        } else {
            !prot.is_empty()
        }
}

/// The runs `[p, q)` of pages in `[lo, hi)` with no page-table entry.
fn missing_runs(pt: &BTreeMap<u64, Pte>, lo: u64, hi: u64) -> Vec<(u64, u64)> {
    let mut runs = Vec::new();
    let mut at = lo;
    for (&p, _) in pt.range(lo..hi) {
        if p > at {
            runs.push((at, p));
        }
        at = p + 1;
    }
    if at < hi {
        runs.push((at, hi));
    }
    runs
}

/// Reads up to `len` bytes of `file` at `off`, stopping at end of file.
/// Any read error is `EIO` (the application sees SIGBUS or EFAULT).
fn read_file(file: &dyn FileOps, off: u64, len: usize) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; len];
    let mut got = 0usize;
    while got < len {
        let at = off.checked_add(got as u64).ok_or(Errno::EIO)?;
        match file.read(&mut buf[got..], at) {
            Ok(0) => break,
            Ok(n) => got += n.min(len - got),
            Err(Errno::EINTR) | Err(Errno::EAGAIN) => continue,
            Err(_) => return Err(Errno::EIO),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// Grows a grows-down VMA down to `addr` if `addr` lies within the stack
/// limit below it and clear of the VMA before it (by the guard gap), as
/// Linux's `expand_stack`. Returns whether it grew.
fn grow_stack(st: &mut MmState, addr: u64, max_addr: u64) -> bool {
    if addr >= max_addr {
        return false;
    }
    let page = page_down(addr);
    if page < MMAP_MIN_ADDR {
        return false;
    }
    let (vstart, vend, is_file_at) = match st.vmas.next_above(addr) {
        Some(v) if v.growsdown => (
            v.start,
            v.end,
            match &v.backing {
                Backing::File { off, .. } => Some(*off),
                Backing::Anon | Backing::Pages { .. } => None,
            },
        ),
        _ => return false,
    };
    if vend - page > st.layout.stack_limit {
        return false;
    }
    if let Some(off) = is_file_at {
        if off < vstart - page {
            return false;
        }
    }
    if let Some(prev) = st.vmas.prev_below(vstart) {
        if prev.end > page || (!prev.growsdown && page - prev.end < vma::STACK_GUARD_GAP) {
            return false;
        }
    }
    st.vmas.rekey(vstart, page);
    if let Some(v) = st.vmas.find_mut(page) {
        if let Backing::File { off, .. } = &mut v.backing {
            *off -= vstart - page;
        }
    }
    st.gen += 1;
    true
}

/// Linux's `vma_to_resize`: the VMA holding `[old, old+old_len)` for a
/// resize to `new_len`. `EFAULT` if there is none or the range leaves it.
fn resize_check(st: &MmState, old: u64, old_len: u64, new_len: u64) -> Result<Vma, Errno> {
    let v = st.vmas.find(old).ok_or(Errno::EFAULT)?;
    if old_len > v.end - old {
        return Err(Errno::EFAULT);
    }
    if new_len > old_len && matches!(v.backing, Backing::Pages { .. }) {
        // Linux's VM_DONTEXPAND on special mappings.
        return Err(Errno::EFAULT);
    }
    if new_len != old_len {
        if let Backing::File { off, .. } = &v.backing {
            let pgoff = off + (old - v.start);
            if pgoff.checked_add(new_len).is_none() {
                return Err(Errno::EINVAL);
            }
        }
    }
    Ok(v.clone())
}

/// The outside view of `v`, with the name /proc/self/maps shows.
fn vma_info(st: &MmState, v: &Vma) -> VmaInfo {
    let (offset, dev_ino, name) = match &v.backing {
        Backing::File { file, off } => (*off, file.dev_ino, file.name.clone()),
        Backing::Pages { .. } => (0, (0, 0), v.special.unwrap_or("").as_bytes().to_vec()),
        Backing::Anon => {
            let name: &[u8] = if let Some(s) = v.special {
                s.as_bytes()
            } else if st.layout.brk_start != 0 && v.start <= st.brk && v.end >= st.layout.brk_start
            {
                b"[heap]"
            } else if st.layout.stack_start != 0
                && v.start <= st.layout.stack_start
                && v.end >= st.layout.stack_start
            {
                b"[stack]"
            } else {
                b""
            };
            (0, (0, 0), name.to_vec())
        }
    };
    VmaInfo {
        start: v.start,
        end: v.end,
        prot: v.prot,
        shared: v.shared,
        offset,
        dev_ino,
        name,
    }
}

/// (major, minor) of a device number in the userspace `makedev` encoding.
pub fn split_dev(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major, minor)
}
