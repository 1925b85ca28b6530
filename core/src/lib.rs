//! veil-core: the kernel model.
//!
//! Everything an application sees of "the kernel" is modelled here, with
//! no host calls of its own: tasks ([`task`]), signals ([`signal`]),
//! memory ([`mm`]), the VFS ([`vfs`]), the ELF loader ([`loader`]) and the
//! syscall table ([`syscalls`]), with sockets in [`net`]. What core needs from outside comes through traits:
//! [`platform`] (running application code, the memory file) and [`host`]
//! (clocks, randomness, sleeping, logging). Filesystems plug in through
//! [`vfs::node`].
//!
//! Nothing an application does may panic the Sentry: errors are
//! `Result<_, Errno>` to the syscall boundary.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(any(test, feature = "fuzz"))]
extern crate std;

pub mod addr;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod futex;
#[cfg(any(test, feature = "fuzz"))]
pub mod fuzz_harness;
pub mod host;
pub mod ipc;
pub mod kernel;
pub mod loader;
pub mod mm;
pub mod net;
pub mod platform;
pub mod process;
#[cfg(test)]
mod proptests;
pub mod seccomp;
pub mod signal;
pub mod syscalls;
pub mod task;
pub mod timer;
pub mod tty;
pub mod vdso;
pub mod vfs;

pub use addr::{FileOffset, UserAddr};
pub use kernel::Kernel;
pub use task::Task;
pub use veil_abi::Errno;

/// The result of a system call handler: the value for rax, or an errno.
pub type SysResult = Result<u64, Errno>;
