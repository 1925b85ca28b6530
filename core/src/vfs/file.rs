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
//!
//! A description that holds file locks (flock, OFD locks, a lease), or
//! that counts as an open of a regular file for leases, remembers the
//! sandbox's [`LockTable`] and its inode; dropping the description (its
//! last close) releases them.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU32, Ordering};

use spin::Mutex;
use veil_abi::flags::{O_ACCMODE, O_CLOEXEC, O_PATH, O_RDONLY, O_RDWR, O_WRONLY};

use super::lock::{next_owner_id, InodeKey, LockTable, OpenCount};
use super::{FileOps, Location};

/// What a description registered with the lock table.
struct LockLink {
    table: Arc<LockTable>,
    key: InodeKey,
    /// Its count as an open of a regular file, for leases (dropped with
    /// the description).
    #[allow(dead_code)]
    count: Option<OpenCount>,
}

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
    /// Identity as a lock owner (flock, OFD locks, leases).
    id: u64,
    locks: spin::Once<LockLink>,
    /// Reports the last close to inotify.
    pub(crate) inotify: super::inotify::CloseHook,
    /// Who gets its signal-driven I/O signals (F_SETOWN, F_SETSIG).
    pub fown: Mutex<super::fasync::Fown>,
    /// Its O_ASYNC watcher, while O_ASYNC is set ([`super::fasync`]).
    pub(crate) fasync: super::fasync::AsyncSlot,
}

impl OpenFile {
    /// A new description.
    pub fn new(ops: Arc<dyn FileOps>, location: Option<Location>, flags: u32) -> Arc<OpenFile> {
        Arc::new(OpenFile {
            ops,
            location,
            flags: AtomicU32::new(flags & !O_CLOEXEC),
            offset: Mutex::new(0),
            id: next_owner_id(),
            locks: spin::Once::new(),
            inotify: Default::default(),
            fown: Mutex::new(Default::default()),
            fasync: Mutex::new(None),
        })
    }

    /// This description's identity as a lock owner.
    pub fn lock_id(&self) -> u64 {
        self.id
    }

    /// The inode this description locks, registering it with `table` (its
    /// locks are released when the description goes).
    pub fn lock_key(&self, table: &Arc<LockTable>) -> InodeKey {
        self.locks
            .call_once(|| LockLink {
                table: table.clone(),
                key: InodeKey::of(self),
                count: None,
            })
            .key
    }

    /// Makes `count` (this new description's open of a regular file, as
    /// leases see it) last until the description goes.
    pub fn count_open(&self, count: OpenCount) {
        let (table, key) = (count.table().clone(), count.key());
        let mut slot = Some(count);
        self.locks.call_once(|| LockLink {
            table,
            key,
            count: slot.take(),
        });
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
        super::inotify::closed(self);
        self.ops.release();
        if let Some(l) = self.locks.get() {
            l.table.release_description(l.key, self.id);
        }
    }
}
