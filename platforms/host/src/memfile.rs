//! The memory file: one memfd holding all application memory, kept mapped
//! in full in the Sentry's own address space.
//!
//! This models the "physical memory" of the sandbox. Core allocates pages
//! of it and reads and writes application memory through
//! [`MemoryFile::read`] / [`MemoryFile::write`]; platforms make ranges of it
//! visible to the application by mapping the same file (see
//! [`HostMemoryFile::fd`]).
//!
//! # Layout
//!
//! At construction a large virtual range ([`DEFAULT_RESERVE`] or the size
//! given to [`HostMemoryFile::with_reserve`]) is reserved `PROT_NONE` with
//! `MAP_NORESERVE`; it costs no memory. [`MemoryFile::grow`] extends the
//! file with `ftruncate` and maps the new tail of the file `MAP_SHARED |
//! MAP_FIXED` over the matching part of the reservation, so the file is
//! always mapped at one fixed base and existing offsets never move: readers
//! never have to synchronise with growth beyond one atomic load of the size.
//! The reservation is marked `MADV_DONTFORK` so that forked stub processes
//! never inherit the Sentry's view of application memory.
//!
//! # Safety contract
//!
//! - `[base, base + size)` is mapped read-write for as long as the
//!   `HostMemoryFile` lives: it is only ever extended (under `grow_lock`,
//!   and `size` is published with `Release` after the mapping exists) and
//!   unmapped in `Drop`. Every access first loads `size` (`Acquire`) and
//!   checks `off + len <= size`, so every pointer formed is inside the
//!   mapped prefix.
//! - The memory is shared with other processes: the application may write
//!   the same pages from its stub at any moment. We therefore never create
//!   Rust references (`&[u8]` / `&mut [u8]`) to the mapping; all accesses
//!   are single raw copies (`ptr::copy_nonoverlapping`, `ptr::write_bytes`)
//!   whose result may be torn if the application races with them, exactly
//!   as with Linux's `copy_from_user`. Torn data is the application's
//!   problem, never the Sentry's: callers treat what they read as untrusted
//!   bytes.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use veil_abi::{Errno, PAGE_SIZE};
use veil_core::platform::{MemoryFile, PlatformError};
use veil_core::FileOffset;

use crate::last_os_error;

/// The default size of the virtual reservation, and so the largest the
/// memory file can grow: 64 GiB.
pub const DEFAULT_RESERVE: u64 = 64 << 30;

/// Zeroing ranges at least this large punches a hole for the aligned middle
/// instead of writing zeros (which would commit memory).
const ZERO_PUNCH_THRESHOLD: u64 = 1 << 20;

/// The memory file over a memfd, mapped in full in the Sentry.
///
/// `read`, `write` and `zero` are bounds-checked copies through the
/// Sentry's mapping and may run on many threads at once, concurrently with
/// `grow`.
pub struct HostMemoryFile {
    fd: OwnedFd,
    /// Address of the reservation (kept as an integer so that the type is
    /// `Send + Sync` without an unsafe impl).
    base: usize,
    /// Bytes reserved at `base`.
    reserve: u64,
    /// Bytes of the file that are mapped at `base` (and the file's size as
    /// far as users are concerned).
    size: AtomicU64,
    /// Serialises `grow`.
    grow_lock: Mutex<()>,
}

impl HostMemoryFile {
    /// A new, empty memory file that can grow to [`DEFAULT_RESERVE`] bytes.
    pub fn new() -> io::Result<HostMemoryFile> {
        HostMemoryFile::with_reserve(DEFAULT_RESERVE)
    }

    /// A new, empty memory file that can grow to `reserve` bytes (rounded
    /// up to a page). Only virtual address space is reserved.
    pub fn with_reserve(reserve: u64) -> io::Result<HostMemoryFile> {
        let reserve = reserve
            .checked_add(PAGE_SIZE - 1)
            .map(|r| r & !(PAGE_SIZE - 1))
            .filter(|&r| r > 0 && r <= isize::MAX as u64)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
        let fd = memfd()?;
        // SAFETY: a fresh anonymous PROT_NONE mapping at a kernel-chosen
        // address; it overlaps nothing we own.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                reserve as usize,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(last_os_error());
        }
        let mf = HostMemoryFile {
            fd,
            base: base as usize,
            reserve,
            size: AtomicU64::new(0),
            grow_lock: Mutex::new(()),
        };
        mf.dontfork(0, reserve)?;
        Ok(mf)
    }

    /// The memfd. Platforms map ranges of it into application address
    /// spaces. It is close-on-exec; the `HostMemoryFile` owns it.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The bytes of virtual address space reserved, and so the largest
    /// size the file can grow to.
    pub fn reserve(&self) -> u64 {
        self.reserve
    }

    /// Where offset 0 of the file is mapped in the Sentry. Offsets below
    /// [`MemoryFile::size`] are mapped read-write; a platform that needs a
    /// host virtual address for the file (KVM memory slots) uses this. The
    /// memory is shared with the application: see the module's safety
    /// contract before dereferencing it.
    pub fn as_ptr(&self) -> *mut u8 {
        self.base as *mut u8
    }

    /// Marks `[off, off+len)` of the reservation `MADV_DONTFORK`.
    fn dontfork(&self, off: u64, len: u64) -> io::Result<()> {
        // SAFETY: the range lies inside our own reservation; madvise only
        // changes how fork treats it.
        let r = unsafe {
            libc::madvise(
                (self.base + off as usize) as *mut libc::c_void,
                len as usize,
                libc::MADV_DONTFORK,
            )
        };
        if r != 0 {
            return Err(last_os_error());
        }
        Ok(())
    }

    /// Checks `[off, off+len)` against the mapped size and returns the
    /// Sentry address of `off`.
    #[inline]
    fn range(&self, off: FileOffset, len: u64) -> Result<usize, Errno> {
        let size = self.size.load(Ordering::Acquire);
        match off.0.checked_add(len) {
            Some(end) if end <= size => Ok(self.base + off.0 as usize),
            _ => Err(Errno::EFAULT),
        }
    }

    /// Punches a hole in the page-aligned `[off, off+len)`: the host frees
    /// the backing and the range reads as zero in every mapping.
    fn punch(&self, off: u64, len: u64) -> io::Result<()> {
        // SAFETY: fallocate on our own fd; no memory is touched by us.
        let r = unsafe {
            libc::fallocate(
                self.fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                off as libc::off_t,
                len as libc::off_t,
            )
        };
        if r != 0 {
            return Err(last_os_error());
        }
        Ok(())
    }

    /// Writes zeros to `[addr, addr+len)` of the Sentry's mapping.
    fn fill_zero(addr: usize, len: u64) {
        // SAFETY: callers pass a range validated by `range`, which lies in
        // the mapped prefix (module contract); raw write, no references.
        unsafe { ptr::write_bytes(addr as *mut u8, 0, len as usize) };
    }
}

impl Drop for HostMemoryFile {
    fn drop(&mut self) {
        // SAFETY: the reservation is ours; no references into it exist
        // (module contract), and `&mut self` means no copy is in flight.
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.reserve as usize) };
    }
}

impl std::fmt::Debug for HostMemoryFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostMemoryFile")
            .field("fd", &self.fd())
            .field("size", &self.size())
            .field("reserve", &self.reserve)
            .finish()
    }
}

impl MemoryFile for HostMemoryFile {
    fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    fn grow(&self, size: u64) -> Result<(), PlatformError> {
        let _guard = self.grow_lock.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.size.load(Ordering::Relaxed);
        if size <= old {
            return Ok(());
        }
        let new = size
            .checked_add(PAGE_SIZE - 1)
            .map(|s| s & !(PAGE_SIZE - 1))
            .filter(|&s| s <= self.reserve)
            .ok_or(PlatformError::NoMemory)?;
        // SAFETY: ftruncate on our own fd.
        if unsafe { libc::ftruncate(self.fd(), new as libc::off_t) } != 0 {
            return Err(PlatformError::NoMemory);
        }
        // SAFETY: `[base+old, base+new)` lies inside our reservation and is
        // still PROT_NONE (only `grow` maps there, under `grow_lock`, and
        // only beyond `size`), so MAP_FIXED replaces nothing anyone uses.
        let p = unsafe {
            libc::mmap(
                (self.base + old as usize) as *mut libc::c_void,
                (new - old) as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_FIXED,
                self.fd(),
                old as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(PlatformError::NoMemory);
        }
        // MAP_FIXED made a new VMA without the reservation's DONTFORK.
        self.dontfork(old, new - old)
            .map_err(|_| PlatformError::NoMemory)?;
        self.size.store(new, Ordering::Release);
        Ok(())
    }

    fn read(&self, off: FileOffset, buf: &mut [u8]) -> Result<(), Errno> {
        let src = self.range(off, buf.len() as u64)?;
        // SAFETY: `src..src+len` is in the mapped prefix (checked by
        // `range`); `buf` is Sentry-private memory that cannot overlap the
        // shared mapping we never hand out references to.
        unsafe { ptr::copy_nonoverlapping(src as *const u8, buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    fn write(&self, off: FileOffset, data: &[u8]) -> Result<(), Errno> {
        let dst = self.range(off, data.len() as u64)?;
        // SAFETY: as in `read`, with the roles swapped.
        unsafe { ptr::copy_nonoverlapping(data.as_ptr(), dst as *mut u8, data.len()) };
        Ok(())
    }

    fn store_u64(&self, off: FileOffset, v: u64) -> Result<(), Errno> {
        if !off.0.is_multiple_of(8) {
            return Err(Errno::EFAULT);
        }
        let dst = self.range(off, 8)?;
        // SAFETY: `dst..dst+8` is in the mapped prefix (checked by `range`)
        // and 8-byte aligned (the base is page-aligned, `off` checked
        // above). The word is only ever accessed as a whole: core stores
        // it here and the application reads it with aligned 8-byte loads,
        // so the atomic view of it never races a smaller access the
        // Sentry makes.
        let word = unsafe { AtomicU64::from_ptr(dst as *mut u64) };
        word.store(v, Ordering::Release);
        Ok(())
    }

    fn compare_exchange_u32(&self, off: FileOffset, old: u32, new: u32) -> Result<u32, Errno> {
        if !off.0.is_multiple_of(4) {
            return Err(Errno::EFAULT);
        }
        let dst = self.range(off, 4)?;
        // SAFETY: `dst..dst+4` is in the mapped prefix (checked by `range`)
        // and 4-byte aligned (page-aligned base, `off` checked above). The
        // application operates on futex words with aligned atomic
        // instructions, which this lock cmpxchg is atomic against; a
        // plain racing store can only make the comparison fail, as on
        // Linux.
        let word = unsafe { AtomicU32::from_ptr(dst as *mut u32) };
        let (Ok(found) | Err(found)) =
            word.compare_exchange(old, new, Ordering::SeqCst, Ordering::SeqCst);
        Ok(found)
    }

    fn zero(&self, off: FileOffset, len: u64) -> Result<(), Errno> {
        let addr = self.range(off, len)?;
        if len >= ZERO_PUNCH_THRESHOLD {
            // Punch the page-aligned middle; write zeros at the edges.
            let start = (off.0 + PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
            let end = (off.0 + len) & !(PAGE_SIZE - 1);
            if start < end && self.punch(start, end - start).is_ok() {
                Self::fill_zero(addr, start - off.0);
                Self::fill_zero(self.base + end as usize, off.0 + len - end);
                return Ok(());
            }
        }
        Self::fill_zero(addr, len);
        Ok(())
    }

    fn decommit(&self, off: FileOffset, len: u64) -> Result<(), Errno> {
        if off.0 & (PAGE_SIZE - 1) != 0 || len & (PAGE_SIZE - 1) != 0 {
            return Err(Errno::EINVAL);
        }
        let addr = self.range(off, len)?;
        if len == 0 {
            return Ok(());
        }
        if self.punch(off.0, len).is_err() {
            // The host cannot punch holes here; keep the contract (the
            // range reads as zero) at the cost of keeping the memory.
            Self::fill_zero(addr, len);
        }
        Ok(())
    }

    fn resident(&self) -> Option<u64> {
        // SAFETY: `st` is a valid out-pointer for fstat on our own fd.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::fstat(self.fd(), &mut st) } != 0 {
            return None;
        }
        Some(st.st_blocks as u64 * 512)
    }
}

/// Creates the memfd: close-on-exec, and executable where the host makes
/// that a choice (`vm.memfd_noexec`), since application code runs from it.
fn memfd() -> io::Result<OwnedFd> {
    const NAME: &[u8] = b"veil-memory\0";
    let mut flags = libc::MFD_CLOEXEC | libc::MFD_EXEC;
    loop {
        // SAFETY: NAME is NUL-terminated; memfd_create returns a new fd or -1.
        let fd = unsafe { libc::memfd_create(NAME.as_ptr().cast(), flags) };
        if fd >= 0 {
            // SAFETY: `fd` is a fresh descriptor that nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let err = last_os_error();
        // Kernels before 6.3 reject MFD_EXEC; hosts with
        // vm.memfd_noexec=2 refuse it. Without it the memfd is executable
        // on the former and fails loudly later on the latter.
        if flags & libc::MFD_EXEC != 0
            && matches!(err.raw_os_error(), Some(libc::EINVAL) | Some(libc::EACCES))
        {
            flags &= !libc::MFD_EXEC;
            continue;
        }
        return Err(err);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn mf() -> HostMemoryFile {
        HostMemoryFile::with_reserve(1 << 30).unwrap()
    }

    #[test]
    fn starts_empty_and_out_of_range_is_efault() {
        let mf = mf();
        assert_eq!(mf.size(), 0);
        let mut b = [0u8; 1];
        assert_eq!(mf.read(FileOffset(0), &mut b), Err(Errno::EFAULT));
        assert_eq!(mf.write(FileOffset(0), &b), Err(Errno::EFAULT));
        // Empty accesses at the end are fine.
        assert_eq!(mf.read(FileOffset(0), &mut []), Ok(()));
    }

    #[test]
    fn grow_read_write_zero() {
        let mf = mf();
        mf.grow(100).unwrap();
        assert_eq!(mf.size(), PAGE_SIZE);
        let mut b = [1u8; 16];
        mf.read(FileOffset(0), &mut b).unwrap();
        assert_eq!(b, [0; 16]);
        mf.write(FileOffset(4090), b"abcdef").unwrap();
        let mut b = [0u8; 6];
        mf.read(FileOffset(4090), &mut b).unwrap();
        assert_eq!(&b, b"abcdef");
        // Straddles the end.
        assert_eq!(mf.write(FileOffset(4091), b"abcdef"), Err(Errno::EFAULT));
        // Overflowing offsets.
        assert_eq!(mf.read(FileOffset(u64::MAX), &mut b), Err(Errno::EFAULT));
        mf.zero(FileOffset(4091), 2).unwrap();
        mf.read(FileOffset(4090), &mut b).unwrap();
        assert_eq!(&b, b"a\0\0def");
        // Growing keeps contents; shrinking is a no-op.
        mf.grow(3 * PAGE_SIZE).unwrap();
        mf.grow(PAGE_SIZE).unwrap();
        assert_eq!(mf.size(), 3 * PAGE_SIZE);
        mf.read(FileOffset(4090), &mut b).unwrap();
        assert_eq!(&b, b"a\0\0def");
    }

    #[test]
    fn grow_beyond_reserve_fails() {
        let mf = HostMemoryFile::with_reserve(8 * PAGE_SIZE).unwrap();
        assert_eq!(mf.grow(9 * PAGE_SIZE), Err(PlatformError::NoMemory));
        assert_eq!(mf.grow(u64::MAX), Err(PlatformError::NoMemory));
        mf.grow(8 * PAGE_SIZE).unwrap();
    }

    #[test]
    fn the_fd_sees_the_same_bytes() {
        let mf = mf();
        mf.grow(PAGE_SIZE).unwrap();
        mf.write(FileOffset(10), b"hello").unwrap();
        let mut b = [0u8; 5];
        // SAFETY: pread into a local buffer.
        let n = unsafe { libc::pread(mf.fd(), b.as_mut_ptr().cast(), 5, 10) };
        assert_eq!(n, 5);
        assert_eq!(&b, b"hello");
    }

    #[test]
    fn decommit_frees_and_zeroes() {
        let mf = mf();
        let len = 64 * PAGE_SIZE;
        mf.grow(len).unwrap();
        let page = vec![7u8; PAGE_SIZE as usize];
        for i in 0..64 {
            mf.write(FileOffset(i * PAGE_SIZE), &page).unwrap();
        }
        let before = mf.resident().unwrap();
        assert!(before >= len, "resident {before}");
        assert_eq!(mf.decommit(FileOffset(1), PAGE_SIZE), Err(Errno::EINVAL));
        assert_eq!(
            mf.decommit(FileOffset(0), len + PAGE_SIZE),
            Err(Errno::EFAULT)
        );
        mf.decommit(FileOffset(0), len).unwrap();
        assert!(mf.resident().unwrap() < before);
        let mut b = vec![1u8; PAGE_SIZE as usize];
        mf.read(FileOffset(5 * PAGE_SIZE), &mut b).unwrap();
        assert!(b.iter().all(|&x| x == 0));
        assert_eq!(mf.size(), len);
    }

    #[test]
    fn big_zero_punches() {
        let mf = mf();
        let len = 4 << 20;
        mf.grow(len).unwrap();
        let chunk = vec![9u8; 1 << 20];
        for i in 0..4 {
            mf.write(FileOffset(i << 20), &chunk).unwrap();
        }
        mf.zero(FileOffset(100), len - 200).unwrap();
        let mut b = vec![0u8; len as usize];
        mf.read(FileOffset(0), &mut b).unwrap();
        assert!(b[..100].iter().all(|&x| x == 9));
        assert!(b[100..(len - 100) as usize].iter().all(|&x| x == 0));
        assert!(b[(len - 100) as usize..].iter().all(|&x| x == 9));
    }

    #[test]
    fn concurrent_readers_while_growing() {
        let mf = Arc::new(mf());
        mf.grow(PAGE_SIZE).unwrap();
        mf.write(FileOffset(0), b"x").unwrap();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let mf = mf.clone();
                std::thread::spawn(move || {
                    for _ in 0..2000 {
                        let size = mf.size();
                        let mut b = [0u8; 8];
                        // Anything below the size we saw must be readable.
                        mf.read(FileOffset(size - 8), &mut b).unwrap();
                        let mut c = [0u8; 1];
                        mf.read(FileOffset(0), &mut c).unwrap();
                        assert_eq!(&c, b"x");
                    }
                })
            })
            .collect();
        for i in 2..200 {
            mf.grow(i * PAGE_SIZE).unwrap();
        }
        for r in readers {
            r.join().unwrap();
        }
    }

    #[test]
    fn mapping_is_not_inherited_by_fork() {
        let mf = mf();
        mf.grow(PAGE_SIZE).unwrap();
        let base = mf.as_ptr() as usize;
        // SAFETY: the child only makes raw async-signal-safe calls
        // (msync, _exit).
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: msync only inspects the mapping; it fails with ENOMEM
            // if the range is unmapped, as it must be in the child.
            unsafe {
                let r = libc::msync(
                    base as *mut libc::c_void,
                    PAGE_SIZE as usize,
                    libc::MS_ASYNC,
                );
                libc::_exit(if r == -1 { 0 } else { 1 });
            }
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    }
}
