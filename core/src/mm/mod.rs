//! Memory management: VMAs, the page table that maps application pages to
//! memory-file pages, page faults, and copy-in / copy-out.
//!
//! PROVISIONAL: the public API below is the contract the rest of core uses;
//! the bodies are being written (see issue 2).

pub mod pagealloc;

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use veil_abi::Errno;
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::addr::UserAddr;
use crate::platform::{Access, AddressSpace, MemoryFile, Prot};
use crate::vfs::FileOps;

pub use pagealloc::PageAllocator;

/// What backs a file mapping.
#[derive(Clone)]
pub struct MappedFile {
    /// The file read on fault.
    pub file: Arc<dyn FileOps>,
    /// Shown in /proc/self/maps.
    pub name: Vec<u8>,
    /// (dev, ino) shown in /proc/self/maps.
    pub dev_ino: (u64, u64),
}

/// An application's address space as core models it.
pub struct MemoryManager {
    space: Arc<dyn AddressSpace>,
    #[allow(dead_code)]
    mf: Arc<dyn MemoryFile>,
    #[allow(dead_code)]
    pages: Arc<PageAllocator>,
}

impl MemoryManager {
    /// An empty address space over `space`.
    pub fn new(
        space: Arc<dyn AddressSpace>,
        mf: Arc<dyn MemoryFile>,
        pages: Arc<PageAllocator>,
    ) -> MemoryManager {
        MemoryManager { space, mf, pages }
    }

    /// The platform address space.
    pub fn space(&self) -> &Arc<dyn AddressSpace> {
        &self.space
    }

    /// Copies `buf.len()` bytes from application memory at `addr`.
    pub fn copy_in(&self, _addr: UserAddr, _buf: &mut [u8]) -> Result<(), Errno> {
        Err(Errno::EFAULT)
    }

    /// Copies `data` to application memory at `addr`.
    pub fn copy_out(&self, _addr: UserAddr, _data: &[u8]) -> Result<(), Errno> {
        Err(Errno::EFAULT)
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

    /// Reads a NUL-terminated string of at most `max` bytes (NUL
    /// excluded); `ENAMETOOLONG` if no NUL within `max`.
    pub fn read_cstring(&self, _addr: UserAddr, _max: usize) -> Result<Vec<u8>, Errno> {
        Err(Errno::EFAULT)
    }

    /// Resolves a page fault; `Err` means the application gets SIGSEGV
    /// (`EFAULT`: no mapping, SEGV_MAPERR; `EACCES`: protection,
    /// SEGV_ACCERR) or SIGBUS (`EIO`: beyond the end of a mapped file).
    pub fn handle_fault(&self, _addr: UserAddr, _access: Access) -> Result<(), Errno> {
        Err(Errno::EFAULT)
    }

    /// mmap(2). `file` is `None` for anonymous mappings.
    pub fn mmap(
        &self,
        _addr: UserAddr,
        _len: u64,
        _prot: Prot,
        _flags: u32,
        _file: Option<(MappedFile, u64)>,
    ) -> Result<UserAddr, Errno> {
        Err(Errno::ENOMEM)
    }

    /// munmap(2).
    pub fn munmap(&self, _addr: UserAddr, _len: u64) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }

    /// mprotect(2).
    pub fn mprotect(&self, _addr: UserAddr, _len: u64, _prot: Prot) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }

    /// mremap(2).
    pub fn mremap(
        &self,
        _old: UserAddr,
        _old_len: u64,
        _new_len: u64,
        _flags: u32,
        _new: UserAddr,
    ) -> Result<UserAddr, Errno> {
        Err(Errno::EINVAL)
    }

    /// brk(2): returns the new (or unchanged) break.
    pub fn brk(&self, _addr: UserAddr) -> UserAddr {
        UserAddr(0)
    }

    /// madvise(2).
    pub fn madvise(&self, _addr: UserAddr, _len: u64, _advice: u32) -> Result<(), Errno> {
        Ok(())
    }

    /// The text of /proc/self/maps.
    pub fn maps_text(&self) -> String {
        String::new()
    }
}
