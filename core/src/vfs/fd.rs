//! File descriptor tables, as Linux's `files_struct`: a slot per number
//! holding an open file description and the close-on-exec flag. New
//! descriptors take the lowest free number (at or above a minimum, below
//! RLIMIT_NOFILE). Entries removed are handed back to the caller so that
//! the descriptions are dropped (and released) outside the table's lock.
//!
//! A table is also the owner of POSIX record locks (as `files_struct` is
//! in Linux): once it has taken one, closing any descriptor in it drops
//! the table's locks on that file, and dropping the table drops them all.

use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;
use veil_abi::Errno;

use super::lock::{next_owner_id, LockTable};
use super::OpenFile;

/// One slot of an fd table.
#[derive(Clone)]
pub struct FdEntry {
    /// The open file description.
    pub file: Arc<OpenFile>,
    /// FD_CLOEXEC.
    pub cloexec: bool,
}

/// A table of file descriptors, shared by threads created with CLONE_FILES.
pub struct FdTable {
    slots: Mutex<Vec<Option<FdEntry>>>,
    /// Identity as the owner of POSIX record locks.
    id: u64,
    /// The lock table, once this table has taken a POSIX lock.
    locks: spin::Once<Arc<LockTable>>,
}

impl Default for FdTable {
    fn default() -> FdTable {
        FdTable {
            slots: Mutex::new(Vec::new()),
            id: next_owner_id(),
            locks: spin::Once::new(),
        }
    }
}

impl Drop for FdTable {
    fn drop(&mut self) {
        if let Some(t) = self.locks.get() {
            t.release_posix_owner(self.id);
        }
    }
}

impl FdTable {
    /// An empty table.
    pub fn new() -> FdTable {
        FdTable::default()
    }

    /// A copy for fork (same descriptions, separate table; POSIX locks
    /// are not inherited).
    pub fn fork(&self) -> FdTable {
        FdTable {
            slots: Mutex::new(self.slots.lock().clone()),
            id: next_owner_id(),
            locks: spin::Once::new(),
        }
    }

    /// This table's identity as a POSIX lock owner, noting that it takes
    /// locks in `table` (so that closes release them).
    pub fn posix_lock_owner(&self, table: &Arc<LockTable>) -> u64 {
        self.locks.call_once(|| table.clone());
        self.id
    }

    /// Closing `entries` drops this table's POSIX locks on their files.
    fn closed<'a>(&self, entries: impl IntoIterator<Item = &'a FdEntry>) {
        if let Some(t) = self.locks.get() {
            for e in entries {
                t.close_posix(self.id, &e.file);
            }
        }
    }

    /// The entry at `fd`, or `EBADF`.
    pub fn get(&self, fd: i32) -> Result<FdEntry, Errno> {
        if fd < 0 {
            return Err(Errno::EBADF);
        }
        self.slots
            .lock()
            .get(fd as usize)
            .and_then(|s| s.clone())
            .ok_or(Errno::EBADF)
    }

    /// The description at `fd`, or `EBADF`.
    pub fn file(&self, fd: i32) -> Result<Arc<OpenFile>, Errno> {
        self.get(fd).map(|e| e.file)
    }

    /// Installs `file` at the lowest free number `>= min` below `limit`
    /// (RLIMIT_NOFILE). `EMFILE` if none.
    pub fn insert(
        &self,
        min: i32,
        file: Arc<OpenFile>,
        cloexec: bool,
        limit: u64,
    ) -> Result<i32, Errno> {
        if min < 0 {
            return Err(Errno::EINVAL);
        }
        let mut slots = self.slots.lock();
        let min = min as usize;
        let limit = limit.min(i32::MAX as u64) as usize;
        let mut fd = min;
        while fd < slots.len() && slots[fd].is_some() {
            fd += 1;
        }
        if fd >= limit {
            return Err(Errno::EMFILE);
        }
        if fd >= slots.len() {
            slots.resize(fd + 1, None);
        }
        slots[fd] = Some(FdEntry { file, cloexec });
        Ok(fd as i32)
    }

    /// Installs `file` at exactly `fd`, returning what was there (dup2).
    pub fn set(
        &self,
        fd: i32,
        file: Arc<OpenFile>,
        cloexec: bool,
        limit: u64,
    ) -> Result<Option<FdEntry>, Errno> {
        if fd < 0 || fd as u64 >= limit {
            return Err(Errno::EBADF);
        }
        let mut slots = self.slots.lock();
        let fd = fd as usize;
        if fd >= slots.len() {
            slots.resize(fd + 1, None);
        }
        let old = slots[fd].replace(FdEntry { file, cloexec });
        drop(slots);
        self.closed(old.iter());
        Ok(old)
    }

    /// Removes `fd`, returning its entry.
    pub fn remove(&self, fd: i32) -> Result<FdEntry, Errno> {
        if fd < 0 {
            return Err(Errno::EBADF);
        }
        let mut slots = self.slots.lock();
        let e = slots
            .get_mut(fd as usize)
            .and_then(|s| s.take())
            .ok_or(Errno::EBADF)?;
        drop(slots);
        self.closed([&e]);
        Ok(e)
    }

    /// Sets FD_CLOEXEC on `fd`.
    pub fn set_cloexec(&self, fd: i32, on: bool) -> Result<(), Errno> {
        if fd < 0 {
            return Err(Errno::EBADF);
        }
        let mut slots = self.slots.lock();
        match slots.get_mut(fd as usize).and_then(|s| s.as_mut()) {
            Some(e) => {
                e.cloexec = on;
                Ok(())
            }
            None => Err(Errno::EBADF),
        }
    }

    /// Removes every fd in `[first, last]`, or marks them close-on-exec.
    /// Returns the removed entries so the caller drops them outside the lock.
    pub fn close_range(&self, first: u32, last: u32, cloexec_only: bool) -> Vec<FdEntry> {
        let mut slots = self.slots.lock();
        let mut out = Vec::new();
        let end = (last as usize).saturating_add(1).min(slots.len());
        for slot in slots.iter_mut().take(end).skip(first as usize) {
            if cloexec_only {
                if let Some(e) = slot.as_mut() {
                    e.cloexec = true;
                }
            } else if let Some(e) = slot.take() {
                out.push(e);
            }
        }
        drop(slots);
        self.closed(out.iter());
        out
    }

    /// Removes every close-on-exec fd (at execve).
    pub fn close_on_exec(&self) -> Vec<FdEntry> {
        let mut slots = self.slots.lock();
        let mut out = Vec::new();
        for slot in slots.iter_mut() {
            if slot.as_ref().is_some_and(|e| e.cloexec) {
                out.extend(slot.take());
            }
        }
        drop(slots);
        self.closed(out.iter());
        out
    }

    /// The open fd numbers with their entries, in order.
    pub fn list(&self) -> Vec<(i32, FdEntry)> {
        self.slots
            .lock()
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.clone().map(|e| (i as i32, e)))
            .collect()
    }
}
