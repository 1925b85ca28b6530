//! The ELF loader: static and PT_INTERP executables, `#!` scripts, and the
//! initial stack (argv, envp, auxv).
//!
//! PROVISIONAL: the contract; the implementation is being written.

use alloc::vec::Vec;

use veil_abi::Errno;

use crate::task::Task;

/// Replaces the task's image with the program at `path` (execve's work
/// after the old image is gone). Sets up a fresh address space in
/// `task.mm`, the initial stack and registers in `task.cpu`.
pub fn load(
    _task: &mut Task,
    _path: &[u8],
    _argv: Vec<Vec<u8>>,
    _envp: Vec<Vec<u8>>,
) -> Result<(), Errno> {
    Err(Errno::ENOEXEC)
}
