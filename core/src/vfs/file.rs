//! Open file descriptions: what `open` creates, `dup` and `fork` share.
//!
//! As in Linux, a description holds the object opened ([`FileOps`]), the
//! path it was opened by, the status flags (`F_GETFL` / `F_SETFL`) and the
//! file offset. The access mode follows Linux's encoding: `O_RDONLY`
//! reads, `O_WRONLY` writes, `O_RDWR` both, and the odd mode 3 neither
//! (Linux's ioctl-only opens); an `O_PATH` description does neither.
//!
//! The offset is not held across I/O: read and write take it, transfer,
//! and store the new value, so concurrent users of one description may
//! interleave (Linux serialises them with `f_pos_lock`); a file whose read
//! looks at its own offset (procfs `fdinfo`) cannot deadlock.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU32, Ordering};

use spin::Mutex;
use veil_abi::flags::{O_ACCMODE, O_CLOEXEC, O_PATH, O_RDONLY, O_RDWR, O_WRONLY};

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
            flags: AtomicU32::new(flags & !O_CLOEXEC),
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
        let _ = self
            .flags
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some((old & !mask) | (new & mask))
            });
    }

    /// Sets or clears status flags in `bits` (FIONBIO, FIOASYNC).
    pub fn toggle_status_flags(&self, bits: u32, on: bool) {
        if on {
            self.flags.fetch_or(bits, Ordering::Relaxed);
        } else {
            self.flags.fetch_and(!bits, Ordering::Relaxed);
        }
    }

    /// True if opened with `O_PATH` (usable only as a place: fstat, `*at`,
    /// fchdir, dup, close).
    pub fn is_path(&self) -> bool {
        self.flags() & O_PATH != 0
    }

    /// True if opened for reading.
    pub fn readable(&self) -> bool {
        let f = self.flags();
        f & O_PATH == 0 && matches!(f & O_ACCMODE, O_RDONLY | O_RDWR)
    }

    /// True if opened for writing.
    pub fn writable(&self) -> bool {
        let f = self.flags();
        f & O_PATH == 0 && matches!(f & O_ACCMODE, O_WRONLY | O_RDWR)
    }

    /// The current offset.
    pub fn pos(&self) -> u64 {
        *self.offset.lock()
    }

    /// Sets the offset.
    pub fn set_pos(&self, pos: u64) {
        *self.offset.lock() = pos;
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        self.ops.release();
    }
}
