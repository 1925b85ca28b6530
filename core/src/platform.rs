//! The contract between core and the things that run application code.
//!
//! A [`Platform`] makes address spaces and contexts. An [`AddressSpace`] is
//! the application's view of memory: core tells it which ranges of the
//! [`MemoryFile`] appear at which virtual addresses, with which protection.
//! A [`Context`] runs one application thread until it traps, and hands the
//! trap back as a [`Trap`]. This mirrors gVisor's platform contract and
//! Asterinas' `UserMode::execute`: small on purpose, so that ptrace,
//! systrap and KVM differ only behind it.
//!
//! Core never reads application memory through the platform: the memory
//! file is the one source of truth, and [`AddressSpace::map`] is only a
//! cache that core may fill lazily (on a fault) or eagerly.

use alloc::boxed::Box;
use alloc::sync::Arc;

use veil_abi::{Errno, PtRegs};

use crate::addr::{FileOffset, UserAddr};

bitflags::bitflags! {
    /// Page protection, as in `PROT_*`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct Prot: u32 {
        /// Readable.
        const READ = 1;
        /// Writable.
        const WRITE = 2;
        /// Executable.
        const EXEC = 4;
    }
}

/// The kind of memory access that faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A load.
    Read,
    /// A store.
    Write,
    /// An instruction fetch.
    Exec,
}

/// Why [`Context::switch`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trap {
    /// The application executed `syscall`. The registers hold the call:
    /// `orig_rax` (and `rax`) the number, `rdi, rsi, rdx, r10, r8, r9` the
    /// arguments, `rip` already past the instruction.
    Syscall,
    /// A page fault at `addr`. Core resolves it (maps the page) or turns it
    /// into SIGSEGV / SIGBUS.
    PageFault {
        /// The faulting address.
        addr: u64,
        /// What the access was, as far as the platform can tell.
        access: Access,
    },
    /// Any other synchronous exception (SIGILL, SIGFPE, SIGTRAP, SIGBUS, a
    /// general-protection SIGSEGV), already as the signal Linux would raise.
    Exception {
        /// The signal number.
        signo: i32,
        /// `si_code`.
        code: i32,
        /// `si_addr`.
        addr: u64,
    },
    /// The switch was cut short by [`Interrupter::interrupt`] or by a host
    /// signal; core checks for pending work and switches again.
    Interrupted,
}

/// An error from the platform itself (not from the application).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformError {
    /// The stub or guest died or could not be controlled.
    Lost,
    /// A host resource ran out.
    NoMemory,
}

impl From<PlatformError> for Errno {
    fn from(e: PlatformError) -> Errno {
        match e {
            PlatformError::Lost => Errno::EFAULT,
            PlatformError::NoMemory => Errno::ENOMEM,
        }
    }
}

/// The one file that holds all application memory.
///
/// Offsets are page-aligned where the text says so. Core allocates pages
/// of it (see `mm::PageAllocator`) and reads and writes application memory
/// through [`read`](MemoryFile::read) / [`write`](MemoryFile::write); a
/// host implementation keeps the whole file mapped, so both are a
/// bounds-checked memcpy.
pub trait MemoryFile: Send + Sync {
    /// Current size in bytes.
    fn size(&self) -> u64;
    /// Grows the file to at least `size` bytes (new bytes read as zero).
    fn grow(&self, size: u64) -> Result<(), PlatformError>;
    /// Copies `buf.len()` bytes at `off` into `buf`. Out of range: `EFAULT`.
    fn read(&self, off: FileOffset, buf: &mut [u8]) -> Result<(), Errno>;
    /// Copies `data` to `off`. Out of range: `EFAULT`.
    fn write(&self, off: FileOffset, data: &[u8]) -> Result<(), Errno>;
    /// Fills `[off, off+len)` with zeros.
    fn zero(&self, off: FileOffset, len: u64) -> Result<(), Errno>;
    /// Gives the backing of the page-aligned range back to the host; it
    /// reads as zero afterwards.
    fn decommit(&self, off: FileOffset, len: u64) -> Result<(), Errno>;
    /// Bytes of the file that currently hold host memory, if known.
    fn resident(&self) -> Option<u64> {
        None
    }
    /// Stores `v` at the 8-byte aligned `off` as one indivisible store
    /// with release ordering: for words the application reads as a unit
    /// while core writes them (the vDSO parameter page's sequence
    /// counter). The default, a plain `write`, suits a file no running
    /// application reads (the fake). Misaligned or out of range: `EFAULT`.
    fn store_u64(&self, off: FileOffset, v: u64) -> Result<(), Errno> {
        if !off.0.is_multiple_of(8) {
            return Err(Errno::EFAULT);
        }
        self.write(off, &v.to_le_bytes())
    }
    /// Compares the 4-byte aligned `u32` at `off` with `old` and, if
    /// equal, replaces it with `new`, as one atomic step against the
    /// application's own atomic operations on the word (futexes:
    /// Linux's `futex_atomic_cmpxchg_inatomic`). Returns the value found.
    /// The default (read, compare, write) suits a file no running
    /// application writes (the fake). Misaligned or out of range: `EFAULT`.
    fn compare_exchange_u32(&self, off: FileOffset, old: u32, new: u32) -> Result<u32, Errno> {
        if !off.0.is_multiple_of(4) {
            return Err(Errno::EFAULT);
        }
        let mut cur = [0u8; 4];
        self.read(off, &mut cur)?;
        let cur = u32::from_le_bytes(cur);
        if cur == old {
            self.write(off, &new.to_le_bytes())?;
        }
        Ok(cur)
    }
}

/// An application's view of memory: which memory-file ranges appear where.
pub trait AddressSpace: Send + Sync {
    /// Makes `[addr, addr+len)` show `[off, off+len)` of the memory file
    /// with protection `prot`, replacing whatever was mapped there. All
    /// three are page-aligned.
    fn map(
        &self,
        addr: UserAddr,
        len: u64,
        off: FileOffset,
        prot: Prot,
    ) -> Result<(), PlatformError>;
    /// Removes any mapping in `[addr, addr+len)`; later accesses fault.
    fn unmap(&self, addr: UserAddr, len: u64) -> Result<(), PlatformError>;
    /// Changes the protection of mapped pages in `[addr, addr+len)`. Pages
    /// not mapped stay unmapped.
    fn protect(&self, addr: UserAddr, len: u64, prot: Prot) -> Result<(), PlatformError>;
}

/// The full register state of one application thread that core keeps
/// between switches.
#[derive(Clone, Debug, Default)]
pub struct CpuState {
    /// General-purpose registers, `fs_base` / `gs_base` included.
    pub regs: PtRegs,
}

/// Wakes a [`Context`] out of [`Context::switch`] from another thread.
pub trait Interrupter: Send + Sync {
    /// Makes the current or next `switch` return [`Trap::Interrupted`] soon.
    fn interrupt(&self);
}

/// Runs one application thread.
///
/// A context may be bound to the host thread that created it (ptrace
/// requires this): core creates it on the task's own host thread and only
/// uses it there.
pub trait Context: Send {
    /// Runs the application with registers `cpu` in `space` until it
    /// traps; `cpu` then holds the registers at the trap.
    fn switch(
        &mut self,
        space: &Arc<dyn AddressSpace>,
        cpu: &mut CpuState,
    ) -> Result<Trap, PlatformError>;
    /// Reads the x87/SSE/AVX state (XSAVE layout, at least the 512-byte
    /// legacy area) of the last switch into `out`.
    fn fp_state(&mut self, out: &mut alloc::vec::Vec<u8>) -> Result<(), PlatformError>;
    /// Sets the FP state for the next switch (layout as from `fp_state`).
    fn set_fp_state(&mut self, state: &[u8]) -> Result<(), PlatformError>;
    /// Resets the FP state to Linux's initial one (as after execve).
    fn reset_fp_state(&mut self) -> Result<(), PlatformError>;
    /// A handle other threads use to interrupt this context.
    fn interrupter(&self) -> Arc<dyn Interrupter>;
}

/// A way to run application code.
pub trait Platform: Send + Sync {
    /// Short name (`ptrace`, `systrap`, `kvm`, `fake`).
    fn name(&self) -> &'static str;
    /// A new, empty address space. Called on the host thread that will
    /// switch into it.
    fn new_address_space(&self) -> Result<Arc<dyn AddressSpace>, PlatformError>;
    /// A new context for the calling host thread.
    fn new_context(&self) -> Result<Box<dyn Context>, PlatformError>;
    /// The memory file whose ranges address spaces map.
    fn memory_file(&self) -> Arc<dyn MemoryFile>;
    /// One past the highest address an application may map. Anything the
    /// platform needs in the application's address space lies above it.
    fn max_user_address(&self) -> u64 {
        0x7fff_ffff_f000
    }
    /// True if [`memory_barrier`](Platform::memory_barrier) works: without
    /// it membarrier(2) offers no command.
    fn have_memory_barrier(&self) -> bool {
        false
    }
    /// Returns once every thread running application code on this
    /// platform (and every Sentry thread) has passed a full memory
    /// barrier: what membarrier(2)'s barriers need. `false` if it could
    /// not.
    fn memory_barrier(&self) -> bool {
        false
    }
}
