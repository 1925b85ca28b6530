//! Open file descriptions.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU32, Ordering};

use spin::Mutex;

use super::{FileOps, Location};

/// An open file description: what `open` creates and `dup` shares.
pub struct OpenFile {
    /// The object read and written.
    pub ops: Arc<dyn FileOps>,
    /// The path it was opened by (absent for pipes, sockets, stdio).
    pub location: Option<Location>,
    /// Access mode and status flags (`O_*`).
    flags: AtomicU32,
    /// The file offset, for seekable files.
    pub offset: Mutex<u64>,
}

impl OpenFile {
    /// A new description.
    pub fn new(ops: Arc<dyn FileOps>, location: Option<Location>, flags: u32) -> Arc<OpenFile> {
        Arc::new(OpenFile {
            ops,
            location,
            flags: AtomicU32::new(flags & !veil_abi::flags::O_CLOEXEC),
            offset: Mutex::new(0),
        })
    }

    /// Access mode and status flags.
    pub fn flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }

    /// Replaces the status flags that F_SETFL may change.
    pub fn set_status_flags(&self, new: u32) {
        let mask = veil_abi::flags::O_SETFL_MASK;
        let old = self.flags();
        self.flags
            .store((old & !mask) | (new & mask), Ordering::Relaxed);
    }

    /// True if opened for reading.
    pub fn readable(&self) -> bool {
        let f = self.flags();
        f & veil_abi::flags::O_PATH == 0
            && f & veil_abi::flags::O_ACCMODE != veil_abi::flags::O_WRONLY
    }

    /// True if opened for writing.
    pub fn writable(&self) -> bool {
        let f = self.flags();
        f & veil_abi::flags::O_PATH == 0
            && f & veil_abi::flags::O_ACCMODE != veil_abi::flags::O_RDONLY
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        self.ops.release();
    }
}
