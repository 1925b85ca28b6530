//! veil-abi: the Linux x86-64 system call ABI as data.
//!
//! Syscall numbers and names ([`sysno`]), errno values ([`Errno`]), flag
//! constants ([`flags`]) and every structure that crosses the user/kernel
//! boundary ([`types`]), as plain `#[repr(C)]` types that derive `zerocopy`
//! traits so they can be copied to and from application memory without
//! unsafe code. Sizes and the offsets that matter are asserted at compile
//! time against the values Linux uses. There is no logic here.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[allow(missing_docs)]
pub mod errno;
#[allow(missing_docs)]
pub mod flags;
#[allow(missing_docs)]
pub mod ipc;
pub mod mount;
#[allow(missing_docs)]
pub mod socket;
#[allow(missing_docs)]
pub mod sysno;
#[allow(missing_docs)]
pub mod termios;
// Fields carry their C names; the C headers document them.
#[allow(missing_docs)]
pub mod types;

pub use errno::Errno;
pub use types::*;

/// A page on x86-64.
pub const PAGE_SIZE: u64 = 4096;

/// Linux's `MKDEV` for the 32-bit dev_t encoding used in `st_dev`/`st_rdev`.
pub const fn makedev(major: u32, minor: u32) -> u64 {
    ((major as u64 & 0xfffff000) << 32)
        | ((major as u64 & 0xfff) << 8)
        | ((minor as u64 & 0xffffff00) << 12)
        | (minor as u64 & 0xff)
}
