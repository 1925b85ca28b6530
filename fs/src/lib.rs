//! veil-fs: filesystems plugged into veil-core's VFS.

pub mod hostfs;
pub mod overlay;
mod sys;
pub mod tmpfs;
pub mod util;

#[cfg(test)]
pub(crate) mod testutil;
