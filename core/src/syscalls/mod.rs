//! The syscall table: one entry per x86-64 syscall number, either a
//! handler or `None`, which answers `ENOSYS` on purpose (and is logged once
//! by name). The handlers live in one module per family; each module's
//! `handler` function names what it serves, and [`build_table`] merges them
//! into the array the dispatcher indexes.
//!
//! The table is also the compatibility document: [`support`] is what the
//! README's syscall table is generated from.

pub mod admin;
pub mod creds;
pub mod epoll;
pub mod eventfd;
pub mod file;
pub mod file_io;
pub mod fs_path;
pub mod fs_stat;
pub mod futex;
pub mod inotify;
pub mod mem;
pub mod membarrier;
pub mod memfd;
pub mod misc;
pub mod mount;
pub mod mount_api;
pub mod mqueue;
pub mod numa;
pub mod pgrp;
pub mod pidfd;
pub mod pipe;
#[cfg(test)]
mod pm_tests;
pub mod poll;
pub mod process;
pub mod sched;
pub mod seccomp;
pub mod signal;
pub mod socket;
pub mod splice;
pub mod strace;
pub mod sysv;
pub mod timers;
pub mod xattr;

use alloc::boxed::Box;
use alloc::vec;

use veil_abi::sysno;

use crate::task::Task;
use crate::SysResult;

/// A syscall handler: the task and the six raw arguments.
pub type Handler = fn(&mut Task, &[u64; 6]) -> SysResult;

/// The handler for `nr`, from whichever family serves it.
pub fn lookup(nr: u64) -> Option<Handler> {
    file::handler(nr)
        .or_else(|| file_io::handler(nr))
        .or_else(|| fs_path::handler(nr))
        .or_else(|| fs_stat::handler(nr))
        .or_else(|| mem::handler(nr))
        .or_else(|| memfd::handler(nr))
        .or_else(|| misc::handler(nr))
        .or_else(|| process::handler(nr))
        .or_else(|| signal::handler(nr))
        .or_else(|| futex::handler(nr))
        .or_else(|| xattr::handler(nr))
        .or_else(|| poll::handler(nr))
        .or_else(|| pipe::handler(nr))
        .or_else(|| creds::handler(nr))
        .or_else(|| pgrp::handler(nr))
        .or_else(|| pidfd::handler(nr))
        .or_else(|| sched::handler(nr))
        .or_else(|| timers::handler(nr))
        .or_else(|| epoll::handler(nr))
        .or_else(|| eventfd::handler(nr))
        .or_else(|| inotify::handler(nr))
        .or_else(|| splice::handler(nr))
        .or_else(|| socket::handler(nr))
        .or_else(|| mount::handler(nr))
        .or_else(|| mount_api::handler(nr))
        .or_else(|| admin::handler(nr))
        .or_else(|| seccomp::handler(nr))
        .or_else(|| sysv::handler(nr))
        .or_else(|| mqueue::handler(nr))
        .or_else(|| membarrier::handler(nr))
        .or_else(|| numa::handler(nr))
}

/// The dispatch array, indexed by syscall number.
pub fn build_table() -> Box<[Option<Handler>]> {
    let mut t = vec![None; sysno::COUNT];
    for (nr, slot) in t.iter_mut().enumerate() {
        *slot = lookup(nr as u64);
    }
    t.into_boxed_slice()
}

/// True if syscall `nr` is served (not a deliberate ENOSYS).
pub fn support(nr: u64) -> bool {
    lookup(nr).is_some()
}

/// Argument helpers shared by the families.
pub(crate) mod arg {
    /// An fd argument (the low 32 bits, signed, as Linux reads `int`).
    pub fn fd(v: u64) -> i32 {
        v as u32 as i32
    }
    /// An `int` argument.
    pub fn int(v: u64) -> i32 {
        v as u32 as i32
    }
    /// An `unsigned int` / flags argument.
    pub fn uint(v: u64) -> u32 {
        v as u32
    }
}
