//! Advisory file locks: flock(2), fcntl(2) record locks (POSIX and open
//! file description locks) and leases, as Linux's `fs/locks.c`.
//!
//! Locks hang off the inode, named by its `(st_dev, st_ino)` ([`InodeKey`]),
//! so every open of a file, by any path or process, sees the same locks;
//! a filesystem's inode numbers are stable for the inode's life (the
//! overlay keeps them across copy-up), and a locked inode cannot go away
//! because its open descriptions keep it alive.
//!
//! - **flock** locks belong to the open file description: `dup` and fork
//!   share them, and they go when the last descriptor of the description
//!   closes. A conversion (shared ↔ exclusive) first drops the old lock,
//!   as Linux does, so a `LOCK_NB` conversion that fails leaves none.
//! - **POSIX record locks** (`F_SETLK`, `F_SETLKW`) belong to the fd table
//!   (Linux's `files_struct`): threads share them, a forked child does not
//!   inherit them, and closing *any* descriptor of the file in that table
//!   drops all of the table's locks on it. Ranges of one owner are kept
//!   sorted and merged (adjacent or overlapping ranges of the same type
//!   coalesce; a different type splits what it overlaps). `F_SETLKW`
//!   detects deadlocks between POSIX owners (`EDEADLK`) the way Linux
//!   does, by following "owner waits for a lock held by owner" up to ten
//!   steps.
//! - **OFD locks** (`F_OFD_*`) are record locks owned by the open file
//!   description: they conflict with POSIX locks of any process (even the
//!   same one), go with the description's last close, and are never
//!   considered for deadlock detection. `F_GETLK` reports their `l_pid`
//!   as -1.
//! - **Leases** (`F_SETLEASE`): acquired and reported as
//!   `generic_setlease` does (see [`LockTable::set_lease`]), and broken
//!   by conflicting opens (see [`LockTable::break_lease`]): the holder gets
//!   SIGIO and the opener waits, up to `lease-break-time`.
//!
//! Conflicts: two locks of different owners conflict when their ranges
//! overlap and either is a write lock. A blocked `F_SETLKW` or `flock`
//! sleeps on the inode's wait queue, woken by every release; a signal
//! ends the wait with `ERESTARTSYS`.
//!
//! Left out: mandatory locking (gone from Linux too), lock stealing on
//! fcntl/close races, `/proc/locks`, F_SETSIG for lease breaks (always
//! SIGIO, to the process that took the lease), breaking leases on
//! truncate(2).

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;
use veil_abi::Errno;

use super::waitq::WaitQueue;
use super::OpenFile;
use crate::host::WakeReason;
use crate::task::Task;

/// Linux's `OFFSET_MAX`: the last byte a lock can cover.
pub const OFFSET_MAX: u64 = i64::MAX as u64;
/// Linux's `MAX_DEADLK_ITERATIONS`.
const MAX_DEADLK_ITERATIONS: u32 = 10;

/// The identity of an inode for locking: `(st_dev, st_ino)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct InodeKey {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

impl InodeKey {
    /// The inode behind `file`: its location's inode, else what the file
    /// reports of itself (pipes), else the open object itself.
    pub fn of(file: &OpenFile) -> InodeKey {
        let attr = match &file.location {
            Some(loc) => loc.inode().attr().ok(),
            None => file.ops.stat(),
        };
        match attr {
            Some(a) => InodeKey {
                dev: a.dev,
                ino: a.ino,
            },
            None => InodeKey {
                dev: u64::MAX,
                ino: Arc::as_ptr(&file.ops) as *const () as usize as u64,
            },
        }
    }
}

/// A fresh id for an open file description or an fd table (lock owners).
pub fn next_owner_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Shared (read) or exclusive (write).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockKind {
    /// `F_RDLCK`, `LOCK_SH`.
    Read,
    /// `F_WRLCK`, `LOCK_EX`.
    Write,
}

/// Who holds a record lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Owner {
    /// A POSIX lock: the fd table's id.
    Posix(u64),
    /// An OFD lock: the open file description's id.
    Ofd(u64),
}

/// A lock that stands in the way, as F_GETLK reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// Its type.
    pub kind: LockKind,
    /// First byte.
    pub start: u64,
    /// Last byte (inclusive; [`OFFSET_MAX`] for "to the end").
    pub end: u64,
    /// `l_pid`: the locking process, -1 for an OFD lock.
    pub pid: i32,
}

#[derive(Clone, Copy, Debug)]
struct Range {
    start: u64,
    end: u64,
    kind: LockKind,
    pid: i32,
}

/// The record locks of one owner on one inode: sorted, disjoint.
struct Held {
    owner: Owner,
    ranges: Vec<Range>,
}

/// A lease: held by an open file description.
#[derive(Clone, Copy, Debug)]
struct Lease {
    desc: u64,
    kind: LockKind,
    /// The process told of a break (the one that took the lease).
    pid: i32,
    /// A break under way (Linux's `FL_DOWNGRADE_PENDING` /
    /// `FL_UNLOCK_PENDING`), due at `deadline` (monotonic nanoseconds).
    pending: Pending,
    deadline: u64,
}

/// What a lease is being broken to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    None,
    Downgrade,
    Unlock,
}

#[derive(Default)]
struct InodeLocks {
    /// Record locks, owner by owner in the order they first locked (so
    /// F_GETLK finds the same conflicting lock first as Linux).
    posix: Vec<Held>,
    /// flock locks: (description id, kind), in the order taken.
    flocks: Vec<(u64, LockKind)>,
    leases: Vec<Lease>,
    queue: Arc<WaitQueue>,
}

impl InodeLocks {
    fn is_empty(&self) -> bool {
        self.posix.is_empty() && self.flocks.is_empty() && self.leases.is_empty()
    }

    /// The first record lock of another owner that conflicts with `want`
    /// (`None` = an F_UNLCK test, which only write locks conflict with).
    fn conflict(
        &self,
        owner: Owner,
        start: u64,
        end: u64,
        want: Option<LockKind>,
    ) -> Option<(Owner, Range)> {
        for h in self.posix.iter().filter(|h| h.owner != owner) {
            for r in &h.ranges {
                if r.start <= end
                    && start <= r.end
                    && (r.kind == LockKind::Write || want == Some(LockKind::Write))
                {
                    return Some((h.owner, *r));
                }
            }
        }
        None
    }
}

/// A POSIX owner sleeping in F_SETLKW, for deadlock detection.
struct Waiter {
    id: u64,
    owner: u64,
    key: InodeKey,
    start: u64,
    end: u64,
    kind: LockKind,
}

#[derive(Default)]
struct Inner {
    inodes: BTreeMap<InodeKey, InodeLocks>,
    waiters: Vec<Waiter>,
    /// Inodes on which each POSIX owner holds locks (the close path asks
    /// this before it looks up the closed file's inode).
    posix_inodes: BTreeMap<u64, u32>,
    /// Open descriptions of regular files: (read-only opens, opens for
    /// writing), Linux's `i_readcount` and `i_writecount`.
    opens: BTreeMap<InodeKey, (u64, u64)>,
}

impl Inner {
    fn entry(&mut self, key: InodeKey) -> &mut InodeLocks {
        self.inodes.entry(key).or_default()
    }

    /// Drops the entry for `key` if nothing is held there any more.
    fn tidy(&mut self, key: InodeKey) {
        if self.inodes.get(&key).is_some_and(|e| e.is_empty()) {
            self.inodes.remove(&key);
        }
    }

    fn posix_owner_count(&mut self, owner: Owner, delta: i32) {
        let Owner::Posix(id) = owner else {
            return;
        };
        let n = self.posix_inodes.entry(id).or_insert(0);
        *n = n.saturating_add_signed(delta);
        if *n == 0 {
            self.posix_inodes.remove(&id);
        }
    }

    /// Applies `[start, end]` := `kind` (`None` unlocks) to `owner`'s
    /// locks on `key`. Returns true if anything changed.
    fn apply(
        &mut self,
        key: InodeKey,
        owner: Owner,
        pid: i32,
        start: u64,
        end: u64,
        kind: Option<LockKind>,
    ) -> bool {
        let e = self.entry(key);
        let pos = e.posix.iter().position(|h| h.owner == owner);
        let Some(pos) = pos.or_else(|| {
            kind.map(|_| {
                e.posix.push(Held {
                    owner,
                    ranges: Vec::new(),
                });
                e.posix.len() - 1
            })
        }) else {
            self.tidy(key);
            return false;
        };
        let was_empty = e.posix[pos].ranges.is_empty();
        let old = core::mem::take(&mut e.posix[pos].ranges);
        let mut out: Vec<Range> = Vec::with_capacity(old.len() + 2);
        let mut changed = false;
        for r in old {
            if r.end < start || r.start > end {
                out.push(r);
                continue;
            }
            changed = true;
            if r.start < start {
                out.push(Range {
                    end: start - 1,
                    ..r
                });
            }
            if r.end > end {
                out.push(Range {
                    start: end + 1,
                    ..r
                });
            }
        }
        if let Some(kind) = kind {
            out.push(Range {
                start,
                end,
                kind,
                pid,
            });
            changed = true;
        }
        out.sort_by_key(|r| r.start);
        let mut merged: Vec<Range> = Vec::with_capacity(out.len());
        for r in out {
            match merged.last_mut() {
                Some(p) if p.kind == r.kind && p.end != OFFSET_MAX && p.end + 1 == r.start => {
                    p.end = r.end;
                    p.pid = r.pid;
                }
                _ => merged.push(r),
            }
        }
        let now_empty = merged.is_empty();
        if now_empty {
            e.posix.remove(pos);
        } else {
            e.posix[pos].ranges = merged;
        }
        match (was_empty, now_empty) {
            (true, false) => self.posix_owner_count(owner, 1),
            (false, true) => self.posix_owner_count(owner, -1),
            _ => {}
        }
        self.tidy(key);
        changed
    }

    /// Removes every record lock of `owner` on `key`.
    fn drop_owner(&mut self, key: InodeKey, owner: Owner) -> Option<Arc<WaitQueue>> {
        let e = self.inodes.get_mut(&key)?;
        let pos = e.posix.iter().position(|h| h.owner == owner)?;
        e.posix.remove(pos);
        let q = e.queue.clone();
        self.posix_owner_count(owner, -1);
        self.tidy(key);
        Some(q)
    }

    /// Linux's `posix_locks_deadlock`: would `caller` waiting for a lock
    /// of `blocker` close a cycle of POSIX owners waiting for each other?
    fn deadlock(&self, caller: u64, mut blocker: Owner) -> bool {
        let mut i = 0;
        loop {
            let Owner::Posix(b) = blocker else {
                return false;
            };
            let Some(w) = self.waiters.iter().find(|w| w.owner == b) else {
                return false;
            };
            let Some((next, _)) = self
                .inodes
                .get(&w.key)
                .and_then(|e| e.conflict(Owner::Posix(b), w.start, w.end, Some(w.kind)))
            else {
                return false;
            };
            if i > MAX_DEADLK_ITERATIONS {
                return false;
            }
            i += 1;
            if next == Owner::Posix(caller) {
                return true;
            }
            blocker = next;
        }
    }
}

/// The locks of one sandbox.
#[derive(Default)]
pub struct LockTable {
    inner: Mutex<Inner>,
}

/// How a lock call that meets a conflict behaves.
pub enum Wait<'a> {
    /// Fail (`EAGAIN`).
    No,
    /// Sleep as this task until the conflict goes (signals interrupt).
    As(&'a Task),
}

impl LockTable {
    /// An empty table.
    pub fn new() -> Arc<LockTable> {
        Arc::new(LockTable::default())
    }

    /// Sleeps `task` on `queue` (registered by the caller while it held
    /// the table's lock, so no release in between is missed).
    fn sleep(task: &Task, queue: &WaitQueue) -> Result<(), Errno> {
        let reason = task.blocker.block(None);
        queue.unregister(&task.blocker);
        if reason == WakeReason::Interrupted {
            return Err(Errno::ERESTARTSYS);
        }
        Ok(())
    }

    // ---------------------------------------------------------------
    // record locks

    /// F_GETLK: the first lock of another owner that would conflict with
    /// `want` on `[start, end]` (`None` tests as F_UNLCK does).
    pub fn test(
        &self,
        key: InodeKey,
        owner: Owner,
        start: u64,
        end: u64,
        want: Option<LockKind>,
    ) -> Option<Conflict> {
        let inner = self.inner.lock();
        let (o, r) = inner.inodes.get(&key)?.conflict(owner, start, end, want)?;
        Some(Conflict {
            kind: r.kind,
            start: r.start,
            end: r.end,
            pid: match o {
                Owner::Posix(_) => r.pid,
                Owner::Ofd(_) => -1,
            },
        })
    }

    /// F_SETLK / F_SETLKW: sets `[start, end]` to `kind` (`None` unlocks)
    /// for `owner`, recording `pid` as the holder. A conflict is `EAGAIN`,
    /// or a wait; a wait that would deadlock POSIX owners is `EDEADLK`.
    #[allow(clippy::too_many_arguments)]
    pub fn set(
        &self,
        key: InodeKey,
        owner: Owner,
        pid: i32,
        start: u64,
        end: u64,
        kind: Option<LockKind>,
        wait: Wait<'_>,
    ) -> Result<(), Errno> {
        static NEXT_WAITER: AtomicU64 = AtomicU64::new(1);
        let mut waiter: Option<u64> = None;
        let result = loop {
            let mut inner = self.inner.lock();
            if let Some(id) = waiter.take() {
                inner.waiters.retain(|w| w.id != id);
            }
            let conflict = match kind {
                None => None,
                Some(k) => inner
                    .inodes
                    .get(&key)
                    .and_then(|e| e.conflict(owner, start, end, Some(k))),
            };
            let Some((holder, _)) = conflict else {
                // (The entry may go with the last lock: take its queue first.)
                let q = inner.inodes.get(&key).map(|e| e.queue.clone());
                let changed = inner.apply(key, owner, pid, start, end, kind);
                drop(inner);
                // Waiters may now fit (an unlock, a downgrade, a split).
                if changed {
                    if let Some(q) = q {
                        q.notify();
                    }
                }
                break Ok(());
            };
            let Wait::As(task) = wait else {
                break Err(Errno::EAGAIN);
            };
            if let (Owner::Posix(me), Some(k)) = (owner, kind) {
                if inner.deadlock(me, holder) {
                    break Err(Errno::EDEADLK);
                }
                let id = NEXT_WAITER.fetch_add(1, Ordering::Relaxed);
                inner.waiters.push(Waiter {
                    id,
                    owner: me,
                    key,
                    start,
                    end,
                    kind: k,
                });
                waiter = Some(id);
            }
            let q = inner.entry(key).queue.clone();
            q.register(&task.blocker);
            drop(inner);
            if let Err(e) = Self::sleep(task, &q) {
                break Err(e);
            }
        };
        if let Some(id) = waiter {
            self.inner.lock().waiters.retain(|w| w.id != id);
        }
        result
    }

    /// True if the POSIX owner (an fd table) holds any record lock.
    pub fn has_posix(&self, owner: u64) -> bool {
        self.inner.lock().posix_inodes.contains_key(&owner)
    }

    /// A descriptor of `file` closed in fd table `owner`: drops the
    /// table's POSIX locks on the file's inode (Linux's
    /// `locks_remove_posix`).
    pub fn close_posix(&self, owner: u64, file: &OpenFile) {
        if !self.has_posix(owner) {
            return;
        }
        let key = InodeKey::of(file);
        let q = self.inner.lock().drop_owner(key, Owner::Posix(owner));
        if let Some(q) = q {
            q.notify();
        }
    }

    /// The fd table `owner` is gone: drops all its POSIX locks.
    pub fn release_posix_owner(&self, owner: u64) {
        let queues: Vec<Arc<WaitQueue>> = {
            let mut inner = self.inner.lock();
            if !inner.posix_inodes.contains_key(&owner) {
                return;
            }
            let keys: Vec<InodeKey> = inner
                .inodes
                .iter()
                .filter(|(_, e)| e.posix.iter().any(|h| h.owner == Owner::Posix(owner)))
                .map(|(k, _)| *k)
                .collect();
            keys.into_iter()
                .filter_map(|k| inner.drop_owner(k, Owner::Posix(owner)))
                .collect()
        };
        for q in queues {
            q.notify();
        }
    }

    /// The open file description `desc` (on `key`) is gone: drops its
    /// flock lock, OFD locks and lease.
    pub fn release_description(&self, key: InodeKey, desc: u64) {
        let q = {
            let mut inner = self.inner.lock();
            let _ = inner.drop_owner(key, Owner::Ofd(desc));
            let Some(e) = inner.inodes.get_mut(&key) else {
                return;
            };
            e.flocks.retain(|(d, _)| *d != desc);
            e.leases.retain(|l| l.desc != desc);
            let q = e.queue.clone();
            inner.tidy(key);
            q
        };
        q.notify();
    }

    // ---------------------------------------------------------------
    // flock

    /// flock(2) for description `desc`: `kind` to lock, `None` to unlock.
    /// A conflict is `EWOULDBLOCK` or a wait.
    pub fn flock(
        &self,
        key: InodeKey,
        desc: u64,
        kind: Option<LockKind>,
        wait: Wait<'_>,
    ) -> Result<(), Errno> {
        let mut released = None;
        let result = loop {
            let mut inner = self.inner.lock();
            let e = inner.entry(key);
            if let Some(pos) = e.flocks.iter().position(|(d, _)| *d == desc) {
                if Some(e.flocks[pos].1) == kind {
                    break Ok(());
                }
                // Linux drops the old lock before taking the new one.
                e.flocks.remove(pos);
                released = Some(e.queue.clone());
            }
            let Some(k) = kind else {
                inner.tidy(key);
                break Ok(());
            };
            let blocked = e
                .flocks
                .iter()
                .any(|&(d, h)| d != desc && (h == LockKind::Write || k == LockKind::Write));
            if !blocked {
                e.flocks.push((desc, k));
                break Ok(());
            }
            let Wait::As(task) = wait else {
                inner.tidy(key);
                break Err(Errno::EWOULDBLOCK);
            };
            let q = e.queue.clone();
            q.register(&task.blocker);
            drop(inner);
            if let Some(r) = released.take() {
                r.notify();
            }
            if let Err(err) = Self::sleep(task, &q) {
                break Err(err);
            }
        };
        if let Some(r) = released {
            r.notify();
        }
        result
    }

    // ---------------------------------------------------------------
    // leases

    /// F_GETLEASE: the lease `desc` holds on `key`, as the type it is
    /// being broken to while a break is pending (Linux's
    /// `target_leasetype`). `now` is the monotonic time (nanoseconds):
    /// breaks past their time are carried out first.
    pub fn lease(&self, key: InodeKey, desc: u64, now: u64) -> Option<LockKind> {
        let mut inner = self.inner.lock();
        let e = inner.inodes.get_mut(&key)?;
        let woke = time_out_leases(e, now);
        let l = e.leases.iter().find(|l| l.desc == desc).copied();
        let q = e.queue.clone();
        inner.tidy(key);
        drop(inner);
        if woke {
            q.notify();
        }
        let l = l?;
        match l.pending {
            Pending::Unlock => None,
            Pending::Downgrade => Some(LockKind::Read),
            Pending::None => Some(l.kind),
        }
    }

    /// Counts (`delta` 1) or uncounts (-1) an open description of the
    /// regular file `key` that reads (`r`) and / or writes (`w`).
    pub fn opened(&self, key: InodeKey, r: bool, w: bool, delta: i64) {
        let mut inner = self.inner.lock();
        let c = inner.opens.entry(key).or_insert((0, 0));
        if w {
            c.1 = c.1.saturating_add_signed(delta);
        } else if r {
            c.0 = c.0.saturating_add_signed(delta);
        }
        if *c == (0, 0) {
            inner.opens.remove(&key);
        }
    }

    /// F_SETLEASE for description `desc` of process `pid`, which reads
    /// (`self_reads`) and / or writes (`self_writes`), as Linux's
    /// `generic_setlease`: `None` removes the lease (`EAGAIN` if there is
    /// none); a read lease needs the file open for writing nowhere, a
    /// write lease needs every open of it to be this description and no
    /// other lease; a new lease is refused while another is being broken
    /// for a writer (all `EAGAIN`). Changing a lease being broken settles
    /// the break as far as it goes (a downgrade settles a downgrade). The
    /// caller checks ownership and the file type.
    #[allow(clippy::too_many_arguments)]
    pub fn set_lease(
        &self,
        key: InodeKey,
        desc: u64,
        pid: i32,
        kind: Option<LockKind>,
        self_reads: bool,
        self_writes: bool,
        now: u64,
    ) -> Result<(), Errno> {
        let mut inner = self.inner.lock();
        let (readers, writers) = inner.opens.get(&key).copied().unwrap_or((0, 0));
        let e = inner.entry(key);
        let woke = time_out_leases(e, now);
        let q = e.queue.clone();
        let result = match kind {
            None => {
                let before = e.leases.len();
                e.leases.retain(|l| l.desc != desc);
                if e.leases.len() != before {
                    Ok(true)
                } else {
                    Err(Errno::EAGAIN)
                }
            }
            Some(kind) => {
                let conflicting_open = match kind {
                    LockKind::Read => writers > 0,
                    LockKind::Write => {
                        writers != self_writes as u64
                            || readers != (!self_writes && self_reads) as u64
                    }
                };
                let mut others = e.leases.iter().filter(|l| l.desc != desc);
                let refused = match kind {
                    LockKind::Write => others.next().is_some(),
                    LockKind::Read => others.any(|l| l.pending == Pending::Unlock),
                };
                if conflicting_open || refused {
                    Err(Errno::EAGAIN)
                } else {
                    match e.leases.iter_mut().find(|l| l.desc == desc) {
                        Some(l) => {
                            l.kind = kind;
                            if kind == LockKind::Read && l.pending == Pending::Downgrade {
                                l.pending = Pending::None;
                            }
                        }
                        None => e.leases.push(Lease {
                            desc,
                            kind,
                            pid,
                            pending: Pending::None,
                            deadline: 0,
                        }),
                    }
                    Ok(true)
                }
            }
        };
        inner.tidy(key);
        drop(inner);
        if woke || result.is_ok() {
            q.notify();
        }
        result.map(|_| ())
    }

    /// An open of the regular file `key` (for writing if `write`) meets
    /// the leases on it, as Linux's `__break_lease`: every lease that
    /// conflicts (a write lease, or any lease for a writer) is marked for
    /// a downgrade (a reader's open) or removal (a writer's), due
    /// [`LEASE_BREAK_TIME`] from now, and its holder gets SIGIO. Then an
    /// `O_NONBLOCK` open fails (`EWOULDBLOCK`); any other waits until the
    /// holders have given way, or their time is up and the kernel breaks
    /// the leases itself. A signal ends the wait (`ERESTARTSYS`).
    pub fn break_lease(
        &self,
        task: &Task,
        key: InodeKey,
        write: bool,
        nonblock: bool,
    ) -> Result<(), Errno> {
        let now = || {
            let t = task.kernel.clock.monotonic();
            (t.tv_sec.max(0) as u64)
                .saturating_mul(1_000_000_000)
                .saturating_add(t.tv_nsec.max(0) as u64)
        };
        let conflicts = |l: &Lease| write || l.kind == LockKind::Write;
        let holders: Vec<i32> = {
            let mut inner = self.inner.lock();
            let Some(e) = inner.inodes.get_mut(&key) else {
                return Ok(());
            };
            if e.leases.is_empty() {
                return Ok(());
            }
            let t = now();
            time_out_leases(e, t);
            let deadline = t.saturating_add(LEASE_BREAK_TIME);
            let mut holders = Vec::new();
            for l in e.leases.iter_mut().filter(|l| conflicts(l)) {
                if write {
                    if l.pending == Pending::Unlock {
                        continue;
                    }
                    l.pending = Pending::Unlock;
                } else {
                    if l.pending != Pending::None {
                        continue;
                    }
                    l.pending = Pending::Downgrade;
                }
                l.deadline = deadline;
                holders.push(l.pid);
            }
            let any = e.leases.iter().any(conflicts);
            inner.tidy(key);
            if !any {
                return Ok(());
            }
            holders
        };
        for pid in holders {
            send_sigio(task, pid);
        }
        if nonblock {
            return Err(Errno::EWOULDBLOCK);
        }
        loop {
            let mut inner = self.inner.lock();
            let Some(e) = inner.inodes.get_mut(&key) else {
                return Ok(());
            };
            let woke = time_out_leases(e, now());
            let due = e
                .leases
                .iter()
                .filter(|l| conflicts(l))
                .map(|l| l.deadline)
                .min();
            let q = e.queue.clone();
            inner.tidy(key);
            let Some(due) = due else {
                drop(inner);
                if woke {
                    q.notify();
                }
                return Ok(());
            };
            q.register(&task.blocker);
            drop(inner);
            if woke {
                q.notify();
            }
            let reason = task.blocker.block(Some(due));
            q.unregister(&task.blocker);
            if reason == WakeReason::Interrupted {
                return Err(Errno::ERESTARTSYS);
            }
        }
    }
}

/// One open description of a regular file counted for leases (see
/// [`LockTable::opened`]) while it lives: an open in progress, then the
/// description's ([`OpenFile::count_open`]).
pub struct OpenCount {
    table: Arc<LockTable>,
    key: InodeKey,
    r: bool,
    w: bool,
}

impl OpenCount {
    /// Counts an open of `key` that reads (`r`) and / or writes (`w`).
    pub fn new(table: &Arc<LockTable>, key: InodeKey, r: bool, w: bool) -> OpenCount {
        table.opened(key, r, w, 1);
        OpenCount {
            table: table.clone(),
            key,
            r,
            w,
        }
    }

    /// The table.
    pub fn table(&self) -> &Arc<LockTable> {
        &self.table
    }

    /// The inode.
    pub fn key(&self) -> InodeKey {
        self.key
    }
}

impl Drop for OpenCount {
    fn drop(&mut self) {
        self.table.opened(self.key, self.r, self.w, -1);
    }
}

/// Linux's default `/proc/sys/fs/lease-break-time`: 45 s.
pub const LEASE_BREAK_TIME: u64 = 45_000_000_000;

/// Carries out the breaks whose time is up (Linux's `time_out_leases`).
/// Returns whether anything changed.
fn time_out_leases(e: &mut InodeLocks, now: u64) -> bool {
    let before = e.leases.len();
    let mut changed = false;
    e.leases.retain_mut(|l| {
        if l.pending == Pending::None || now < l.deadline {
            return true;
        }
        changed = true;
        match l.pending {
            Pending::Downgrade => {
                l.kind = LockKind::Read;
                l.pending = Pending::None;
                true
            }
            _ => false,
        }
    });
    changed || e.leases.len() != before
}

/// SIGIO to the process holding a lease that is being broken (as
/// `kill_fasync` sends it with no F_SETSIG: `si_code` SI_KERNEL).
fn send_sigio(task: &Task, pid: i32) {
    let Some(tg) = task.kernel.thread_group(pid) else {
        return;
    };
    let info = veil_abi::Siginfo {
        signo: veil_abi::flags::SIGIO,
        code: veil_abi::flags::SI_KERNEL,
        ..Default::default()
    };
    let _ = crate::signal::send(
        &task.kernel,
        &tg,
        crate::signal::Dest::Group,
        info,
        false,
        None,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: InodeKey = InodeKey { dev: 1, ino: 2 };
    const A: Owner = Owner::Posix(1);
    const B: Owner = Owner::Posix(2);
    use LockKind::{Read, Write};

    fn set(t: &LockTable, o: Owner, s: u64, e: u64, k: Option<LockKind>) -> Result<(), Errno> {
        t.set(K, o, 7, s, e, k, Wait::No)
    }

    fn ranges(t: &LockTable, o: Owner) -> Vec<(u64, u64, LockKind)> {
        let inner = t.inner.lock();
        inner
            .inodes
            .get(&K)
            .and_then(|e| e.posix.iter().find(|h| h.owner == o))
            .map(|h| h.ranges.iter().map(|r| (r.start, r.end, r.kind)).collect())
            .unwrap_or_default()
    }

    #[test]
    fn ranges_split_and_merge() {
        let t = LockTable::default();
        set(&t, A, 0, 99, Some(Read)).unwrap();
        // A write in the middle splits the read lock in three.
        set(&t, A, 40, 59, Some(Write)).unwrap();
        assert_eq!(
            ranges(&t, A),
            [(0, 39, Read), (40, 59, Write), (60, 99, Read)]
        );
        // Unlocking across a boundary trims both sides.
        set(&t, A, 30, 49, None).unwrap();
        assert_eq!(
            ranges(&t, A),
            [(0, 29, Read), (50, 59, Write), (60, 99, Read)]
        );
        // Adjacent locks of one type coalesce.
        set(&t, A, 50, 59, Some(Read)).unwrap();
        assert_eq!(ranges(&t, A), [(0, 29, Read), (50, 99, Read)]);
        set(&t, A, 30, 49, Some(Read)).unwrap();
        assert_eq!(ranges(&t, A), [(0, 99, Read)]);
        // To end of file.
        set(&t, A, 100, OFFSET_MAX, Some(Read)).unwrap();
        assert_eq!(ranges(&t, A), [(0, OFFSET_MAX, Read)]);
        set(&t, A, 0, OFFSET_MAX, None).unwrap();
        assert!(ranges(&t, A).is_empty());
        assert!(
            t.inner.lock().inodes.is_empty(),
            "empty entries are dropped"
        );
        assert!(!t.has_posix(1));
    }

    #[test]
    fn conflicts_between_owners() {
        let t = LockTable::default();
        set(&t, A, 10, 19, Some(Read)).unwrap();
        set(&t, B, 15, 30, Some(Read)).unwrap();
        assert_eq!(set(&t, B, 0, 10, Some(Write)), Err(Errno::EAGAIN));
        assert_eq!(set(&t, B, 0, 9, Some(Write)), Ok(()));
        let c = t.test(K, B, 0, OFFSET_MAX, Some(Write)).unwrap();
        assert_eq!((c.kind, c.start, c.end, c.pid), (Read, 10, 19, 7));
        // An F_UNLCK test only sees write locks.
        assert_eq!(t.test(K, A, 0, OFFSET_MAX, None).map(|c| c.start), Some(0));
        assert_eq!(t.test(K, A, 15, 30, None), None);
        // OFD locks conflict with the POSIX locks of every process and
        // report pid -1.
        assert_eq!(
            t.set(K, Owner::Ofd(1), 7, 10, 10, Some(Write), Wait::No),
            Err(Errno::EAGAIN)
        );
        t.set(K, Owner::Ofd(1), 7, 40, 40, Some(Write), Wait::No)
            .unwrap();
        assert_eq!(t.test(K, A, 40, 40, Some(Read)).map(|c| c.pid), Some(-1));
    }

    #[test]
    fn closing_drops_only_that_inode() {
        let t = LockTable::default();
        let other = InodeKey { dev: 1, ino: 3 };
        set(&t, A, 0, 0, Some(Write)).unwrap();
        t.set(other, A, 7, 0, 0, Some(Write), Wait::No).unwrap();
        assert_eq!(t.inner.lock().posix_inodes.get(&1), Some(&2));
        t.inner.lock().drop_owner(K, A);
        assert!(ranges(&t, A).is_empty());
        assert!(t.has_posix(1));
        t.release_posix_owner(1);
        assert!(!t.has_posix(1));
        assert!(t.inner.lock().inodes.is_empty());
    }

    #[test]
    fn flock_conversion_drops_the_old_lock_first() {
        let t = LockTable::default();
        t.flock(K, 1, Some(Read), Wait::No).unwrap();
        t.flock(K, 2, Some(Read), Wait::No).unwrap();
        // 1 cannot upgrade while 2 shares, and loses its shared lock.
        assert_eq!(
            t.flock(K, 1, Some(Write), Wait::No),
            Err(Errno::EWOULDBLOCK)
        );
        t.release_description(K, 2);
        t.flock(K, 1, Some(Write), Wait::No).unwrap();
        assert_eq!(t.flock(K, 3, Some(Read), Wait::No), Err(Errno::EWOULDBLOCK));
        // Record locks are independent of flock locks.
        set(&t, A, 0, OFFSET_MAX, Some(Write)).unwrap();
        t.flock(K, 1, None, Wait::No).unwrap();
        t.flock(K, 3, Some(Write), Wait::No).unwrap();
    }

    #[test]
    fn deadlock_follows_waiting_owners() {
        let t = LockTable::default();
        set(&t, A, 0, 0, Some(Write)).unwrap();
        set(&t, B, 1, 1, Some(Write)).unwrap();
        // B waits for A's byte 0 (recorded as a sleeping F_SETLKW would).
        t.inner.lock().waiters.push(Waiter {
            id: 1,
            owner: 2,
            key: K,
            start: 0,
            end: 0,
            kind: Write,
        });
        let inner = t.inner.lock();
        assert!(inner.deadlock(1, B), "A waiting for B closes the cycle");
        assert!(!inner.deadlock(3, B), "a third owner makes no cycle");
        assert!(!inner.deadlock(1, Owner::Ofd(9)));
    }

    #[test]
    fn leases() {
        let t = LockTable::default();
        assert_eq!(
            t.set_lease(K, 1, 7, None, true, false, 0),
            Err(Errno::EAGAIN)
        );
        // A read lease needs no writer anywhere.
        t.opened(K, true, false, 1);
        t.opened(K, true, true, 1);
        assert_eq!(
            t.set_lease(K, 1, 7, Some(Read), true, false, 0),
            Err(Errno::EAGAIN)
        );
        t.opened(K, true, true, -1);
        t.opened(K, true, false, 1);
        t.set_lease(K, 1, 7, Some(Read), true, false, 0).unwrap();
        t.set_lease(K, 2, 7, Some(Read), true, false, 0).unwrap();
        // No write lease while another description holds one, or opens it.
        assert_eq!(
            t.set_lease(K, 1, 7, Some(Write), true, false, 0),
            Err(Errno::EAGAIN)
        );
        t.set_lease(K, 2, 7, None, true, false, 0).unwrap();
        assert_eq!(
            t.set_lease(K, 1, 7, Some(Write), true, false, 0),
            Err(Errno::EAGAIN)
        );
        t.opened(K, true, false, -1);
        t.set_lease(K, 1, 7, Some(Write), true, false, 0).unwrap();
        assert_eq!(t.lease(K, 1, 0), Some(Write));
        t.release_description(K, 1);
        assert_eq!(t.lease(K, 1, 0), None);
        t.opened(K, true, false, -1);
        assert!(t.inner.lock().opens.is_empty());
    }

    #[test]
    fn lease_breaks_time_out() {
        let mut e = InodeLocks::default();
        let lease = |desc, kind, pending, deadline| Lease {
            desc,
            kind,
            pid: 1,
            pending,
            deadline,
        };
        e.leases.push(lease(1, Write, Pending::Downgrade, 100));
        e.leases.push(lease(2, Read, Pending::Unlock, 200));
        e.leases.push(lease(3, Read, Pending::None, 0));
        assert!(!time_out_leases(&mut e, 99));
        assert!(time_out_leases(&mut e, 100));
        assert_eq!(e.leases[0].kind, Read);
        assert_eq!(e.leases[0].pending, Pending::None);
        assert_eq!(e.leases.len(), 3);
        assert!(time_out_leases(&mut e, 500));
        let left: Vec<u64> = e.leases.iter().map(|l| l.desc).collect();
        assert_eq!(left, [1, 3]);
        // F_GETLEASE reports what a pending break leads to.
        let t = LockTable::default();
        t.opened(K, true, false, 1);
        t.set_lease(K, 1, 7, Some(Write), true, false, 0).unwrap();
        t.inner.lock().inodes.get_mut(&K).unwrap().leases[0].pending = Pending::Downgrade;
        t.inner.lock().inodes.get_mut(&K).unwrap().leases[0].deadline = 1000;
        assert_eq!(t.lease(K, 1, 10), Some(Read));
        // A downgrade by the holder settles it.
        t.set_lease(K, 1, 7, Some(Read), true, false, 10).unwrap();
        assert_eq!(t.lease(K, 1, 2000), Some(Read));
    }
}
