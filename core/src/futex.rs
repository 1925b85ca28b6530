//! Futex wait queues, priority-inheritance lock state and robust-list
//! cleanup.
//!
//! A futex is named by a key: a private futex (FUTEX_PRIVATE_FLAG) by its
//! address space and address, a shared one by the memory-file offset of
//! the word, so that processes mapping the same shared memory meet on the
//! same queue. Waiters sleep on their task's [`Blocker`]; the table lock is
//! held while a waiter compares the word and enqueues itself, and while a
//! waker dequeues, so a wake between the compare and the sleep is never
//! lost (the blocker keeps a wake that comes before `block`).
//!
//! One queue per key holds every kind of waiter in arrival order, as
//! Linux's hash chain does: plain waiters (FUTEX_WAIT, WAIT_BITSET,
//! futex_waitv), PI waiters (FUTEX_LOCK_PI, LOCK_PI2, and WAIT_REQUEUE_PI
//! waiters once requeued) and requeue-PI waiters not yet requeued. The
//! first waiter of a key is Linux's `futex_top_waiter`: the PI calls check
//! it the way `attach_to_pi_state` does (a plain waiter there is EINVAL:
//! "userspace mixed PI and non-PI"), and the plain calls answer EINVAL when
//! they meet a PI waiter.
//!
//! # Priority inheritance
//!
//! veil has no real priorities (every thread is SCHED_OTHER as far as the
//! host runs it), so there is nothing to boost: what is served exactly is
//! the ownership protocol of the user word (the owner's TID in the low 30
//! bits, FUTEX_WAITERS, FUTEX_OWNER_DIED) and the hand-off. A key's
//! [`PiState`] (Linux's `futex_pi_state`) exists while PI waiters do and
//! records the owner; waiters are served first come, first served (Linux
//! orders them by priority, which is FIFO among equal priorities). Unlock
//! hands the lock to the first waiter and writes `FUTEX_WAITERS | its
//! TID`; a dying owner's locks go to their first waiters, which then write
//! `FUTEX_OWNER_DIED | FUTEX_WAITERS | TID` (Linux's `exit_pi_state_list`
//! and `fixup_pi_state_owner`). Every change of a user word is an atomic
//! compare-and-exchange ([`MemoryManager::cmpxchg_u32`]): the application
//! changes the same words with its own atomic instructions.
//!
//! # Robust lists
//!
//! [`FutexTable::exit_release`] is Linux's `futex_cleanup` for a thread that
//! exits or execs: the robust list is walked (at most
//! [`ROBUST_LIST_LIMIT`] entries, so a circular list ends; a bad pointer
//! ends the walk), each word the thread owns gets FUTEX_OWNER_DIED (the
//! TID cleared, FUTEX_WAITERS kept) and one waiter is woken; then its PI
//! locks are handed on. A thread whose cleanup ran is "dead" for
//! FUTEX_LOCK_PI: a word naming it answers ESRCH.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU8, Ordering};

use spin::Mutex;
use veil_abi::flags::{
    FUTEX_BITSET_MATCH_ANY, FUTEX_OWNER_DIED, FUTEX_TID_MASK, FUTEX_WAITERS, ROBUST_LIST_LIMIT,
};
use veil_abi::Errno;

use crate::host::Blocker;
use crate::mm::MemoryManager;
use crate::task::Pid;
use crate::UserAddr;

/// What names a futex.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FutexKey {
    /// A private futex (FUTEX_PRIVATE_FLAG): (address-space identity,
    /// address).
    Private(usize, u64),
    /// A shared-flag futex on private memory: also (address space,
    /// address), but apart from the private ones, as Linux's
    /// FUT_OFF_MMSHARED keeps them.
    Mm(usize, u64),
    /// A shared futex: the memory-file offset of the word.
    Shared(u64),
}

/// What a waiter waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// FUTEX_WAIT, FUTEX_WAIT_BITSET, futex_waitv: a wake.
    Plain,
    /// FUTEX_LOCK_PI(2), or a requeued WAIT_REQUEUE_PI: the PI lock of
    /// its key.
    Pi,
    /// FUTEX_WAIT_REQUEUE_PI before CMP_REQUEUE_PI moved it: a requeue
    /// onto (or the lock of) this key.
    RequeuePi(FutexKey),
}

const WAITING: u8 = 0;
const WOKEN: u8 = 1;
const LOCKED: u8 = 2;
const LOCKED_OWNER_DIED: u8 = 3;
const REQUEUED: u8 = 4;

/// What became of a waiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitState {
    /// Still queued.
    Waiting,
    /// A wake dequeued it (plain waiters).
    Woken,
    /// It owns the PI lock it waited for (an unlock or a requeue handed
    /// it over); dequeued.
    Locked,
    /// The lock's owner died and left it the lock: the waiter must write
    /// its TID with FUTEX_OWNER_DIED ([`FutexTable::pi_fixup`]); still
    /// queued until it does.
    LockedOwnerDied,
    /// CMP_REQUEUE_PI moved it onto the PI lock's queue: it waits on.
    Requeued,
}

fn decode(v: u8) -> WaitState {
    match v {
        WOKEN => WaitState::Woken,
        LOCKED => WaitState::Locked,
        LOCKED_OWNER_DIED => WaitState::LockedOwnerDied,
        REQUEUED => WaitState::Requeued,
        _ => WaitState::Waiting,
    }
}

/// One sleeping task.
struct Waiter {
    bitset: u32,
    blocker: Arc<dyn Blocker>,
    state: Arc<AtomicU8>,
    kind: Kind,
    tid: Pid,
}

impl Waiter {
    fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    /// Ends the wait with `state` and wakes the sleeper.
    fn finish(&self, state: u8) {
        self.state.store(state, Ordering::Release);
        self.blocker.wake();
    }

    /// A PI waiter that can still be given the lock.
    fn pi_waiting(&self) -> bool {
        self.kind == Kind::Pi && matches!(self.state(), WAITING | REQUEUED)
    }
}

/// Linux's `futex_pi_state`: who owns a PI futex that has waiters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PiState {
    /// The owner's TID; `None` once it died and the lock went to a
    /// waiter that has not written its TID yet.
    owner: Option<Pid>,
}

#[derive(Default)]
struct Inner {
    queues: BTreeMap<FutexKey, Vec<Waiter>>,
    pi: BTreeMap<FutexKey, PiState>,
    /// Threads whose futex exit cleanup ran (Linux's FUTEX_STATE_DEAD),
    /// while their TID is still known to the kernel (a zombie leader).
    dead: BTreeSet<Pid>,
    /// set_robust_list heads by TID, for get_robust_list of another
    /// thread (the thread's own copy is `Task::robust_list`).
    robust: BTreeMap<Pid, u64>,
}

/// All futex queues of a kernel.
#[derive(Default)]
pub struct FutexTable {
    inner: Mutex<Inner>,
}

/// A waiter's handle: tells what became of it, and removes it if it gives
/// up.
pub struct WaitHandle {
    key: FutexKey,
    state: Arc<AtomicU8>,
}

impl WaitHandle {
    /// True once a waker dequeued this waiter or handed it a lock.
    pub fn woken(&self) -> bool {
        matches!(
            self.state(),
            WaitState::Woken | WaitState::Locked | WaitState::LockedOwnerDied
        )
    }

    /// What became of the waiter.
    pub fn state(&self) -> WaitState {
        decode(self.state.load(Ordering::Acquire))
    }
}

/// How a FUTEX_LOCK_PI attempt went.
pub enum PiLock {
    /// The caller owns the lock (the word now holds its TID).
    Acquired,
    /// The lock is owned: the caller waits on this handle.
    Queued(WaitHandle),
}

/// Why a PI operation stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum PiError {
    /// The application changed the word meanwhile: read it and try again
    /// (Linux's internal -EAGAIN).
    Retry,
    /// The call's answer.
    Errno(Errno),
}

impl From<Errno> for PiError {
    fn from(e: Errno) -> PiError {
        PiError::Errno(e)
    }
}

/// What `lock_pi_atomic` achieved.
enum Atomic {
    Acquired,
    Attached,
}

fn read_word(mm: &MemoryManager, addr: u64) -> Result<u32, Errno> {
    mm.read_obj::<u32>(UserAddr(addr))
}

/// Replaces `old` with `new` at `addr`; `Retry` if the word was not `old`.
fn update_word(mm: &MemoryManager, addr: u64, old: u32, new: u32) -> Result<(), PiError> {
    let cur = mm.cmpxchg_u32(UserAddr(addr), old, new)?;
    if cur != old {
        return Err(PiError::Retry);
    }
    Ok(())
}

/// How many times the robust-list cleanup retries one word that the
/// application keeps changing before it gives up on it (Linux retries
/// without bound; a Sentry thread holding the table lock must not).
const DEATH_RETRIES: u32 = 1000;

impl Inner {
    fn top(&self, key: FutexKey) -> Option<&Waiter> {
        self.queues.get(&key).and_then(|q| q.first())
    }

    /// Drops a key's PI state once no PI waiter is left, and its queue
    /// once empty.
    fn prune(&mut self, key: FutexKey) {
        let pi_left = self
            .queues
            .get(&key)
            .is_some_and(|q| q.iter().any(|w| w.kind == Kind::Pi));
        if !pi_left {
            self.pi.remove(&key);
        }
        if self.queues.get(&key).is_some_and(|q| q.is_empty()) {
            self.queues.remove(&key);
        }
    }

    /// Linux's `futex_wake` loop: wakes up to `n` plain waiters whose
    /// bitset meets `bitset`; EINVAL (after the wakes so far) at a PI
    /// waiter.
    fn wake(&mut self, key: FutexKey, n: u32, bitset: u32) -> Result<u32, Errno> {
        let Some(list) = self.queues.get_mut(&key) else {
            return Ok(0);
        };
        let mut woken = 0;
        let mut i = 0;
        let mut res = Ok(());
        while i < list.len() && woken < n {
            if list[i].kind != Kind::Plain {
                res = Err(Errno::EINVAL);
                break;
            }
            if list[i].bitset & bitset != 0 {
                list.remove(i).finish(WOKEN);
                woken += 1;
            } else {
                i += 1;
            }
        }
        if list.is_empty() {
            self.queues.remove(&key);
        }
        res.map(|_| woken)
    }

    /// Removes the waiter whose state is `state` (looking under `hint`
    /// first: a requeue may have moved it). Returns whether it was queued.
    fn remove(&mut self, hint: FutexKey, state: &Arc<AtomicU8>) -> bool {
        let find = |q: &Vec<Waiter>| q.iter().position(|w| Arc::ptr_eq(&w.state, state));
        let found = match self.queues.get(&hint).and_then(find) {
            Some(pos) => Some((hint, pos)),
            None => self
                .queues
                .iter()
                .find_map(|(k, q)| find(q).map(|pos| (*k, pos))),
        };
        let Some((key, pos)) = found else {
            return false;
        };
        if let Some(q) = self.queues.get_mut(&key) {
            q.remove(pos);
        }
        self.prune(key);
        true
    }

    /// Linux's `attach_to_pi_state`: the key has waiters; their PI state
    /// must agree with the word `uval`.
    fn attach_to_pi_state(&self, key: FutexKey, uval: u32) -> Result<(), Errno> {
        if self.top(key).is_none_or(|w| w.kind != Kind::Pi) {
            // A plain or not-yet-requeued waiter: PI and non-PI mixed.
            return Err(Errno::EINVAL);
        }
        let Some(pi) = self.pi.get(&key) else {
            return Err(Errno::EINVAL);
        };
        let pid = uval & FUTEX_TID_MASK;
        let ok = match (uval & FUTEX_OWNER_DIED != 0, pi.owner) {
            // The owner died and its lock is on its way to a waiter.
            (true, None) => pid == 0,
            (true, Some(o)) => pid == 0 || pid == o as u32,
            (false, None) => false,
            (false, Some(o)) => pid == o as u32,
        };
        if ok {
            Ok(())
        } else {
            Err(Errno::EINVAL)
        }
    }

    /// Linux's `futex_lock_pi_atomic` for `tid` (the caller, or the top
    /// waiter of a CMP_REQUEUE_PI): takes the word if it is free, else
    /// sets FUTEX_WAITERS and attaches to the owner's PI state.
    fn lock_pi_atomic(
        &mut self,
        mm: &MemoryManager,
        addr: u64,
        key: FutexKey,
        tid: Pid,
        set_waiters: bool,
        alive: &dyn Fn(Pid) -> bool,
    ) -> Result<Atomic, PiError> {
        let uval = read_word(mm, addr)?;
        if uval & FUTEX_TID_MASK == tid as u32 & FUTEX_TID_MASK {
            return Err(Errno::EDEADLK.into());
        }
        if self.top(key).is_some() {
            self.attach_to_pi_state(key, uval)?;
            return Ok(Atomic::Attached);
        }
        if uval & FUTEX_TID_MASK == 0 {
            // Free (a stale FUTEX_WAITERS or FUTEX_OWNER_DIED brought the
            // caller here): take it, keeping OWNER_DIED.
            let mut newval = (uval & FUTEX_OWNER_DIED) | tid as u32;
            if set_waiters {
                newval |= FUTEX_WAITERS;
            }
            update_word(mm, addr, uval, newval)?;
            if set_waiters {
                self.pi.insert(key, PiState { owner: Some(tid) });
            }
            return Ok(Atomic::Acquired);
        }
        // The first waiter: FUTEX_WAITERS forces the owner's unlock into
        // the kernel, then the owner is looked up.
        let newval = uval | FUTEX_WAITERS;
        update_word(mm, addr, uval, newval)?;
        let owner = (uval & FUTEX_TID_MASK) as Pid;
        if self.dead.contains(&owner) || !alive(owner) {
            // Linux's handle_exit_race: a changed word means the owner's
            // exit cleanup got there; otherwise nobody owns it any more.
            return Err(if read_word(mm, addr)? != newval {
                PiError::Retry
            } else {
                Errno::ESRCH.into()
            });
        }
        self.pi.insert(key, PiState { owner: Some(owner) });
        Ok(Atomic::Attached)
    }

    /// Linux's `handle_futex_death` for the word at `uaddr`; `Err` stops
    /// the walk.
    #[allow(clippy::too_many_arguments)]
    fn handle_death(
        &mut self,
        mm: &MemoryManager,
        uaddr: u64,
        tid: Pid,
        pi: bool,
        pending: bool,
        key_of: &dyn Fn(u64) -> Result<FutexKey, Errno>,
    ) -> Result<(), ()> {
        if !uaddr.is_multiple_of(4) {
            return Err(());
        }
        for _ in 0..DEATH_RETRIES {
            let uval = read_word(mm, uaddr).map_err(|_| ())?;
            let owner = uval & FUTEX_TID_MASK;
            if pending && !pi && owner == 0 {
                // Died between releasing the word and waking (or after
                // being woken, before taking it): pass the wake on.
                if let Ok(k) = key_of(uaddr) {
                    let _ = self.wake(k, 1, FUTEX_BITSET_MATCH_ANY);
                }
                return Ok(());
            }
            if owner != tid as u32 & FUTEX_TID_MASK {
                return Ok(());
            }
            let mval = (uval & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
            match mm.cmpxchg_u32(UserAddr(uaddr), uval, mval) {
                Err(_) => return Err(()),
                Ok(cur) if cur != uval => continue,
                Ok(_) => {}
            }
            // PI waiters get the lock from the PI hand-off instead.
            if !pi && uval & FUTEX_WAITERS != 0 {
                if let Ok(k) = key_of(uaddr) {
                    let _ = self.wake(k, 1, FUTEX_BITSET_MATCH_ANY);
                }
            }
            return Ok(());
        }
        Ok(())
    }

    /// Linux's `exit_robust_list`.
    fn exit_robust_list(
        &mut self,
        mm: &MemoryManager,
        head: u64,
        tid: Pid,
        key_of: &dyn Fn(u64) -> Result<FutexKey, Errno>,
    ) {
        let fetch = |at: u64| {
            mm.read_obj::<u64>(UserAddr(at))
                .map(|v| (v & !1, v & 1 != 0))
        };
        let Ok((mut entry, mut pi)) = fetch(head) else {
            return;
        };
        let Ok(offset) = mm.read_obj::<i64>(UserAddr(head.wrapping_add(8))) else {
            return;
        };
        let Ok((pending, pending_pi)) = fetch(head.wrapping_add(16)) else {
            return;
        };
        let word = |entry: u64| entry.wrapping_add(offset as u64);
        let mut limit = ROBUST_LIST_LIMIT;
        while entry != head {
            // The next pointer is read before the word is handled.
            let next = fetch(entry);
            // The pending entry may be on the list too: handled once.
            if entry != pending
                && self
                    .handle_death(mm, word(entry), tid, pi, false, key_of)
                    .is_err()
            {
                return;
            }
            let Ok((n, npi)) = next else {
                return;
            };
            (entry, pi) = (n, npi);
            limit -= 1;
            if limit == 0 {
                break;
            }
        }
        if pending != 0 {
            let _ = self.handle_death(mm, word(pending), tid, pending_pi, true, key_of);
        }
    }

    /// Linux's `exit_pi_state_list`: the PI locks `tid` owns go to their
    /// first waiters, which learn that the owner died.
    fn release_pi(&mut self, tid: Pid) {
        let keys: Vec<FutexKey> = self
            .pi
            .iter()
            .filter(|(_, p)| p.owner == Some(tid))
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            if let Some(p) = self.pi.get_mut(&key) {
                p.owner = None;
            }
            if let Some(w) = self
                .queues
                .get(&key)
                .and_then(|q| q.iter().find(|w| w.pi_waiting()))
            {
                w.finish(LOCKED_OWNER_DIED);
            }
        }
    }
}

impl FutexTable {
    /// Runs `check` (which reads and compares the futex word) under the
    /// table lock and, if it returns `Ok`, enqueues a plain waiter.
    pub fn enqueue<E>(
        &self,
        key: FutexKey,
        bitset: u32,
        blocker: Arc<dyn Blocker>,
        check: impl FnOnce() -> Result<(), E>,
    ) -> Result<WaitHandle, E> {
        let mut g = self.inner.lock();
        check()?;
        Ok(Self::push(&mut g, key, bitset, blocker, Kind::Plain, 0))
    }

    fn push(
        g: &mut Inner,
        key: FutexKey,
        bitset: u32,
        blocker: Arc<dyn Blocker>,
        kind: Kind,
        tid: Pid,
    ) -> WaitHandle {
        let state = Arc::new(AtomicU8::new(WAITING));
        g.queues.entry(key).or_default().push(Waiter {
            bitset,
            blocker,
            state: state.clone(),
            kind,
            tid,
        });
        WaitHandle { key, state }
    }

    /// futex_waitv's setup: under the lock, compares each `(key, address,
    /// value)` in order (EFAULT for an unreadable word, EAGAIN for the
    /// first that differs) and only then queues a plain waiter for each,
    /// all on one blocker.
    pub fn enqueue_all(
        &self,
        mm: &MemoryManager,
        words: &[(FutexKey, u64, u32)],
        blocker: Arc<dyn Blocker>,
    ) -> Result<Vec<WaitHandle>, Errno> {
        let mut g = self.inner.lock();
        for &(_, addr, val) in words {
            if read_word(mm, addr)? != val {
                return Err(Errno::EAGAIN);
            }
        }
        Ok(words
            .iter()
            .map(|&(key, _, _)| {
                Self::push(
                    &mut g,
                    key,
                    FUTEX_BITSET_MATCH_ANY,
                    blocker.clone(),
                    Kind::Plain,
                    0,
                )
            })
            .collect())
    }

    /// Removes a waiter that stopped waiting (timeout, signal). Returns
    /// true if it had been woken meanwhile.
    pub fn dequeue(&self, h: &WaitHandle) -> bool {
        let mut g = self.inner.lock();
        if h.woken() {
            return true;
        }
        g.remove(h.key, &h.state);
        false
    }

    /// futex_waitv's end: removes every waiter not yet woken and returns
    /// the highest index that was (Linux's `futex_unqueue_multiple`).
    pub fn dequeue_all(&self, hs: &[WaitHandle]) -> Option<usize> {
        let mut g = self.inner.lock();
        let mut woken = None;
        for (i, h) in hs.iter().enumerate() {
            if h.woken() {
                woken = Some(i);
            } else {
                g.remove(h.key, &h.state);
            }
        }
        woken
    }

    /// A PI or requeue-PI waiter gives up (timeout, signal): removes it
    /// unless it already got the lock. Returns what had become of it.
    pub fn cancel(&self, h: &WaitHandle) -> WaitState {
        let mut g = self.inner.lock();
        let st = h.state();
        if matches!(st, WaitState::Waiting | WaitState::Requeued) {
            g.remove(h.key, &h.state);
        }
        st
    }

    /// Wakes up to `n` waiters on `key` whose bitset meets `bitset`
    /// (stopping quietly at a PI waiter): CLEARTID and robust-list wakes.
    pub fn wake(&self, key: FutexKey, n: u32, bitset: u32) -> u32 {
        let mut g = self.inner.lock();
        let before = g.queues.get(&key).map_or(0, |q| q.len());
        let _ = g.wake(key, n, bitset);
        let after = g.queues.get(&key).map_or(0, |q| q.len());
        (before - after) as u32
    }

    /// FUTEX_WAKE: as [`wake`](Self::wake), but EINVAL (after the wakes
    /// so far) on meeting a PI or requeue-PI waiter.
    pub fn try_wake(&self, key: FutexKey, n: u32, bitset: u32) -> Result<u32, Errno> {
        self.inner.lock().wake(key, n, bitset)
    }

    /// FUTEX_REQUEUE / CMP_REQUEUE (Linux's `futex_requeue` without PI):
    /// after `check` (the compare) passes under the lock, wakes up to
    /// `n_wake` waiters on `from` and moves up to `n_requeue` more to
    /// `to`. Returns woken + requeued; EINVAL (after what was done so far)
    /// on meeting a PI or requeue-PI waiter.
    pub fn requeue(
        &self,
        from: FutexKey,
        to: FutexKey,
        n_wake: u32,
        n_requeue: u32,
        check: impl FnOnce() -> Result<(), Errno>,
    ) -> Result<u32, Errno> {
        let mut g = self.inner.lock();
        check()?;
        let Some(list) = g.queues.get_mut(&from) else {
            return Ok(0);
        };
        let (n_wake, n_requeue) = (i64::from(n_wake), i64::from(n_requeue));
        let mut count: i64 = 0;
        let mut moved = Vec::new();
        let mut res = Ok(());
        let mut i = 0;
        while i < list.len() {
            if count - n_wake >= n_requeue {
                break;
            }
            if list[i].kind != Kind::Plain {
                res = Err(Errno::EINVAL);
                break;
            }
            count += 1;
            if count <= n_wake {
                list.remove(i).finish(WOKEN);
            } else if from == to {
                // Onto the same queue, a waiter keeps its place.
                i += 1;
            } else {
                moved.push(list.remove(i));
            }
        }
        if list.is_empty() {
            g.queues.remove(&from);
        }
        if !moved.is_empty() {
            g.queues.entry(to).or_default().extend(moved);
        }
        res.map(|_| count as u32)
    }

    /// Runs `op` (WAKE_OP's read-modify-write) under the lock, then wakes
    /// `n1` on `k1` and, if `op` says so, `n2` on `k2` (EINVAL at a PI
    /// waiter, as FUTEX_WAKE).
    pub fn wake_op(
        &self,
        k1: FutexKey,
        k2: FutexKey,
        n1: u32,
        n2: u32,
        op: impl FnOnce() -> Result<bool, Errno>,
    ) -> Result<u32, Errno> {
        let mut g = self.inner.lock();
        let cond = op()?;
        let mut n = g.wake(k1, n1, FUTEX_BITSET_MATCH_ANY)?;
        if cond {
            n += g.wake(k2, n2, FUTEX_BITSET_MATCH_ANY)?;
        }
        Ok(n)
    }

    /// FUTEX_LOCK_PI / LOCK_PI2 / TRYLOCK_PI for `tid` on the word at
    /// `addr` of `mm` (key `key`): takes the lock, or queues the caller
    /// behind its owner (TRYLOCK_PI: EAGAIN instead, the word keeping the
    /// FUTEX_WAITERS it got). `alive` says whether a TID names a thread
    /// the kernel knows.
    #[allow(clippy::too_many_arguments)]
    pub fn lock_pi(
        &self,
        mm: &MemoryManager,
        addr: u64,
        key: FutexKey,
        tid: Pid,
        blocker: Arc<dyn Blocker>,
        trylock: bool,
        alive: &dyn Fn(Pid) -> bool,
    ) -> Result<PiLock, Errno> {
        loop {
            let mut g = self.inner.lock();
            match g.lock_pi_atomic(mm, addr, key, tid, false, alive) {
                Ok(Atomic::Acquired) => return Ok(PiLock::Acquired),
                Ok(Atomic::Attached) if trylock => {
                    g.prune(key);
                    return Err(Errno::EAGAIN);
                }
                Ok(Atomic::Attached) => {
                    let h = Self::push(&mut g, key, FUTEX_BITSET_MATCH_ANY, blocker, Kind::Pi, tid);
                    return Ok(PiLock::Queued(h));
                }
                Err(PiError::Retry) => continue,
                Err(PiError::Errno(e)) => {
                    g.prune(key);
                    return Err(e);
                }
            }
        }
    }

    /// A PI waiter that a dying owner left the lock to takes it: writes
    /// `FUTEX_OWNER_DIED | FUTEX_WAITERS | tid` to the word at `addr`
    /// (keeping nothing else; Linux's `fixup_pi_state_owner`), records
    /// itself as the owner and leaves the queue. EFAULT if the word
    /// cannot be written (the lock is the caller's all the same).
    pub fn pi_fixup(
        &self,
        mm: &MemoryManager,
        addr: u64,
        h: &WaitHandle,
        tid: Pid,
    ) -> Result<(), Errno> {
        let mut g = self.inner.lock();
        let newval = FUTEX_OWNER_DIED | FUTEX_WAITERS | tid as u32;
        let mut res = Ok(());
        loop {
            let uval = match read_word(mm, addr) {
                Ok(v) => v,
                Err(e) => {
                    res = Err(e);
                    break;
                }
            };
            match mm.cmpxchg_u32(UserAddr(addr), uval, newval) {
                Ok(cur) if cur == uval => break,
                Ok(_) => continue,
                Err(e) => {
                    res = Err(e);
                    break;
                }
            }
        }
        // The waiter is still queued where the lock lives.
        let key = g
            .queues
            .iter()
            .find(|(_, q)| q.iter().any(|w| Arc::ptr_eq(&w.state, &h.state)))
            .map(|(k, _)| *k)
            .unwrap_or(h.key);
        if let Some(p) = g.pi.get_mut(&key) {
            p.owner = Some(tid);
        }
        g.remove(key, &h.state);
        h.state.store(LOCKED, Ordering::Release);
        res
    }

    /// FUTEX_UNLOCK_PI by `tid`, which read `uval` (with its TID) from the
    /// word: hands the lock to the first waiter (the word becomes
    /// `FUTEX_WAITERS | its TID`) or, with none, clears the word. EINVAL
    /// when the waiters say someone else owns it or are not PI waiters;
    /// EAGAIN when the word changed (no waiters); `Retry` when a waiter
    /// set FUTEX_WAITERS meanwhile.
    pub fn unlock_pi(
        &self,
        mm: &MemoryManager,
        addr: u64,
        key: FutexKey,
        tid: Pid,
        uval: u32,
    ) -> Result<(), PiError> {
        let mut g = self.inner.lock();
        if let Some(top) = g.top(key) {
            if top.kind != Kind::Pi {
                return Err(Errno::EINVAL.into());
            }
            if g.pi.get(&key).is_none_or(|p| p.owner != Some(tid)) {
                return Err(Errno::EINVAL.into());
            }
            let next = g
                .queues
                .get(&key)
                .and_then(|q| q.iter().position(|w| w.pi_waiting()));
            if let Some(idx) = next {
                let new_owner = g.queues[&key][idx].tid;
                let newval = FUTEX_WAITERS | new_owner as u32;
                let cur = mm.cmpxchg_u32(UserAddr(addr), uval, newval)?;
                if cur != uval {
                    return Err(if cur & FUTEX_TID_MASK == uval {
                        PiError::Retry
                    } else {
                        Errno::EINVAL.into()
                    });
                }
                if let Some(p) = g.pi.get_mut(&key) {
                    p.owner = Some(new_owner);
                }
                if let Some(q) = g.queues.get_mut(&key) {
                    q.remove(idx).finish(LOCKED);
                }
                g.prune(key);
                return Ok(());
            }
        }
        // No waiter in the kernel: neither WAITERS nor OWNER_DIED stays.
        let cur = mm.cmpxchg_u32(UserAddr(addr), uval, 0)?;
        if cur != uval {
            return Err(Errno::EAGAIN.into());
        }
        Ok(())
    }

    /// FUTEX_WAIT_REQUEUE_PI's queueing: after `check` (the compare)
    /// passes under the lock, queues `tid` on `key` to be requeued onto
    /// the PI futex `target` (EINVAL if both are the same futex).
    pub fn enqueue_requeue_pi(
        &self,
        key: FutexKey,
        target: FutexKey,
        tid: Pid,
        blocker: Arc<dyn Blocker>,
        check: impl FnOnce() -> Result<(), Errno>,
    ) -> Result<WaitHandle, Errno> {
        let mut g = self.inner.lock();
        check()?;
        if key == target {
            return Err(Errno::EINVAL);
        }
        Ok(Self::push(
            &mut g,
            key,
            FUTEX_BITSET_MATCH_ANY,
            blocker,
            Kind::RequeuePi(target),
            tid,
        ))
    }

    /// FUTEX_CMP_REQUEUE_PI (one wake): if the word at `addr1` is
    /// `cmpval`, takes the PI futex at `addr2` for the first waiter of
    /// `key1` if it is free (waking that waiter as its owner) and moves
    /// up to `n_requeue` of the others (and the first, if it did not get
    /// the lock) onto the PI futex's queue. Returns woken + requeued.
    #[allow(clippy::too_many_arguments)]
    pub fn requeue_pi(
        &self,
        mm: &MemoryManager,
        addr1: u64,
        key1: FutexKey,
        addr2: u64,
        key2: FutexKey,
        n_requeue: u32,
        cmpval: u32,
        alive: &dyn Fn(Pid) -> bool,
    ) -> Result<u32, Errno> {
        loop {
            let mut g = self.inner.lock();
            if read_word(mm, addr1)? != cmpval {
                return Err(Errno::EAGAIN);
            }
            // Linux's futex_proxy_trylock_atomic.
            read_word(mm, addr2)?;
            let mut count: i64 = 0;
            if let Some(top) = g.top(key1) {
                if top.kind != Kind::RequeuePi(key2) {
                    return Err(Errno::EINVAL);
                }
                let top_tid = top.tid;
                match g.lock_pi_atomic(mm, addr2, key2, top_tid, n_requeue != 0, alive) {
                    Ok(Atomic::Acquired) => {
                        if let Some(q) = g.queues.get_mut(&key1) {
                            q.remove(0).finish(LOCKED);
                        }
                        count += 1;
                    }
                    Ok(Atomic::Attached) => {}
                    Err(PiError::Retry) => continue,
                    Err(PiError::Errno(e)) => {
                        g.prune(key1);
                        g.prune(key2);
                        return Err(e);
                    }
                }
            }
            let mut res = Ok(());
            loop {
                // nr_wake is 1: the one woken does not count as requeued.
                if count > i64::from(n_requeue) {
                    break;
                }
                let Some(w) = g.top(key1) else {
                    break;
                };
                if w.kind != Kind::RequeuePi(key2) {
                    res = Err(Errno::EINVAL);
                    break;
                }
                let Some(pi) = g.pi.get(&key2) else {
                    break;
                };
                if pi.owner == Some(w.tid) {
                    // This waiter already owns the PI futex.
                    res = Err(Errno::EDEADLK);
                    break;
                }
                let Some(mut w) = g.queues.get_mut(&key1).map(|q| q.remove(0)) else {
                    break;
                };
                w.kind = Kind::Pi;
                w.state.store(REQUEUED, Ordering::Release);
                g.queues.entry(key2).or_default().push(w);
                count += 1;
            }
            g.prune(key1);
            g.prune(key2);
            return res.map(|_| count as u32);
        }
    }

    /// The futex part of a thread's exit (`exiting`) or exec (Linux's
    /// `futex_exit_release` / `futex_exec_release`): walks the robust list
    /// at `robust_head` (0: none) in `mm`, marking the words `tid` owns,
    /// then hands on the PI locks it owns. `key_of` names a word as a
    /// shared-flag futex; `known` says whether a TID is still known to the
    /// kernel (entries for TIDs gone are dropped from the dead set).
    pub fn exit_release(
        &self,
        mm: &MemoryManager,
        robust_head: u64,
        tid: Pid,
        exiting: bool,
        key_of: &dyn Fn(u64) -> Result<FutexKey, Errno>,
        known: &dyn Fn(Pid) -> bool,
    ) {
        let mut g = self.inner.lock();
        g.robust.remove(&tid);
        if exiting {
            g.dead.retain(|&p| known(p));
            g.dead.insert(tid);
        } else {
            // An exec: the thread lives on under this TID (which it may
            // have just taken over from the leader).
            g.dead.remove(&tid);
        }
        if robust_head != 0 {
            g.exit_robust_list(mm, robust_head, tid, key_of);
        }
        g.release_pi(tid);
    }

    /// Records `tid`'s robust-list head (set_robust_list).
    pub fn set_robust_head(&self, tid: Pid, head: u64) {
        let mut g = self.inner.lock();
        if head == 0 {
            g.robust.remove(&tid);
        } else {
            g.robust.insert(tid, head);
        }
    }

    /// `tid`'s robust-list head (0: none).
    pub fn robust_head(&self, tid: Pid) -> u64 {
        self.inner.lock().robust.get(&tid).copied().unwrap_or(0)
    }

    /// Number of waiters queued (for tests and leak checks).
    pub fn waiters(&self) -> usize {
        self.inner.lock().queues.values().map(|v| v.len()).sum()
    }

    /// Number of keys with PI state (for tests and leak checks).
    pub fn pi_states(&self) -> usize {
        self.inner.lock().pi.len()
    }
}

#[cfg(test)]
mod tests {
    //! The PI hand-off, the dying owner, CMP_REQUEUE_PI and the robust-list
    //! walk, driven through the table with stand-in waiters (a test thread
    //! cannot sleep on the fake platform).
    use super::*;
    use crate::fake::FakeBlocker;
    use crate::fuzz_harness::{Bed, SCRATCH};
    use crate::syscalls::futex::key_in;

    const W: u64 = SCRATCH + 0x100;

    fn blocker() -> Arc<dyn Blocker> {
        Arc::new(FakeBlocker::default())
    }

    fn word(mm: &MemoryManager, addr: u64) -> u32 {
        mm.read_obj(UserAddr(addr)).unwrap()
    }

    fn set(mm: &MemoryManager, addr: u64, v: u32) {
        mm.write_obj(UserAddr(addr), &v).unwrap();
    }

    fn queued(r: Result<PiLock, Errno>) -> WaitHandle {
        match r {
            Ok(PiLock::Queued(h)) => h,
            Ok(PiLock::Acquired) => panic!("expected to queue, got the lock"),
            Err(e) => panic!("expected to queue, got {e:?}"),
        }
    }

    #[test]
    fn unlock_hands_the_lock_to_waiters_in_arrival_order() {
        let bed = Bed::new(false, 0);
        let t = bed.task();
        let (mm, tab) = (&t.mm, &bed.kernel.futexes);
        let k = key_in(mm, W, true).unwrap();
        let alive = |_: Pid| true;
        set(mm, W, 0);
        assert!(matches!(
            tab.lock_pi(mm, W, k, 100, blocker(), false, &alive),
            Ok(PiLock::Acquired)
        ));
        assert_eq!(word(mm, W), 100);
        let hb = queued(tab.lock_pi(mm, W, k, 200, blocker(), false, &alive));
        assert_eq!(word(mm, W), 100 | FUTEX_WAITERS);
        let hc = queued(tab.lock_pi(mm, W, k, 300, blocker(), false, &alive));
        // A trylock by another thread attaches and fails.
        assert_eq!(
            tab.lock_pi(mm, W, k, 400, blocker(), true, &alive).err(),
            Some(Errno::EAGAIN)
        );
        // The owner itself: EDEADLK.
        assert_eq!(
            tab.lock_pi(mm, W, k, 100, blocker(), true, &alive).err(),
            Some(Errno::EDEADLK)
        );
        // Not the owner according to the PI state: EINVAL.
        assert_eq!(
            tab.unlock_pi(mm, W, k, 300, 100 | FUTEX_WAITERS),
            Err(PiError::Errno(Errno::EINVAL))
        );
        tab.unlock_pi(mm, W, k, 100, 100 | FUTEX_WAITERS).unwrap();
        assert_eq!(hb.state(), WaitState::Locked);
        assert_eq!(hc.state(), WaitState::Waiting);
        assert_eq!(word(mm, W), FUTEX_WAITERS | 200);
        tab.unlock_pi(mm, W, k, 200, FUTEX_WAITERS | 200).unwrap();
        assert_eq!(hc.state(), WaitState::Locked);
        assert_eq!(word(mm, W), FUTEX_WAITERS | 300);
        // The last one: no waiters left, the word is cleared.
        tab.unlock_pi(mm, W, k, 300, FUTEX_WAITERS | 300).unwrap();
        assert_eq!(word(mm, W), 0);
        assert_eq!((tab.waiters(), tab.pi_states()), (0, 0));
    }

    #[test]
    fn a_waiter_that_gives_up_leaves_the_waiters_bit() {
        let bed = Bed::new(false, 0);
        let t = bed.task();
        let (mm, tab) = (&t.mm, &bed.kernel.futexes);
        let k = key_in(mm, W, true).unwrap();
        set(mm, W, 100);
        let h = queued(tab.lock_pi(mm, W, k, 200, blocker(), false, &|_| true));
        assert_eq!(tab.cancel(&h), WaitState::Waiting);
        assert_eq!((tab.waiters(), tab.pi_states()), (0, 0));
        assert_eq!(word(mm, W), 100 | FUTEX_WAITERS);
        // The owner's unlock finds nobody and clears the word.
        tab.unlock_pi(mm, W, k, 100, 100 | FUTEX_WAITERS).unwrap();
        assert_eq!(word(mm, W), 0);
        // A word that changed under an unlock: EAGAIN.
        set(mm, W, 100);
        assert_eq!(
            tab.unlock_pi(mm, W, k, 100, 100 | FUTEX_OWNER_DIED),
            Err(PiError::Errno(Errno::EAGAIN))
        );
    }

    #[test]
    fn an_unknown_or_dead_owner_is_esrch() {
        let bed = Bed::new(false, 0);
        let t = bed.task();
        let (mm, tab) = (&t.mm, &bed.kernel.futexes);
        let k = key_in(mm, W, true).unwrap();
        set(mm, W, 4242);
        let r = tab.lock_pi(mm, W, k, 200, blocker(), false, &|p| p != 4242);
        assert_eq!(r.err(), Some(Errno::ESRCH));
        assert_eq!(word(mm, W), 4242 | FUTEX_WAITERS);
        // Known to the kernel, but its futex cleanup ran (a zombie).
        let key_of = |a: u64| key_in(mm, a, false);
        tab.exit_release(mm, 0, 4242, true, &key_of, &|_| true);
        let r = tab.lock_pi(mm, W, k, 200, blocker(), false, &|_| true);
        assert_eq!(r.err(), Some(Errno::ESRCH));
        // An exec under the same TID makes it a live owner again.
        tab.exit_release(mm, 0, 4242, false, &key_of, &|_| true);
        let h = queued(tab.lock_pi(mm, W, k, 200, blocker(), false, &|_| true));
        assert_eq!(tab.cancel(&h), WaitState::Waiting);
        assert_eq!(tab.pi_states(), 0);
    }

    #[test]
    fn a_dying_owner_leaves_the_lock_to_its_first_waiter_with_owner_died() {
        let bed = Bed::new(false, 0);
        let t = bed.task();
        let (mm, tab) = (&t.mm, &bed.kernel.futexes);
        let k = key_in(mm, W, true).unwrap();
        set(mm, W, 100);
        let hb = queued(tab.lock_pi(mm, W, k, 200, blocker(), false, &|_| true));
        let hc = queued(tab.lock_pi(mm, W, k, 300, blocker(), false, &|_| true));
        let key_of = |a: u64| key_in(mm, a, false);
        tab.exit_release(mm, 0, 100, true, &key_of, &|_| true);
        assert_eq!(hb.state(), WaitState::LockedOwnerDied);
        assert_eq!(hc.state(), WaitState::Waiting);
        // Until the new owner writes its TID, the word still names the
        // dead one; a newcomer sees the PI state without an owner.
        assert_eq!(
            tab.lock_pi(mm, W, k, 400, blocker(), false, &|_| true)
                .err(),
            Some(Errno::EINVAL)
        );
        tab.pi_fixup(mm, W, &hb, 200).unwrap();
        assert_eq!(hb.state(), WaitState::Locked);
        assert_eq!(word(mm, W), FUTEX_OWNER_DIED | FUTEX_WAITERS | 200);
        // The next unlock passes it on and drops OWNER_DIED.
        let uval = word(mm, W);
        tab.unlock_pi(mm, W, k, 200, uval).unwrap();
        assert_eq!(hc.state(), WaitState::Locked);
        assert_eq!(word(mm, W), FUTEX_WAITERS | 300);
    }

    #[test]
    fn plain_and_pi_waiters_do_not_mix() {
        let bed = Bed::new(false, 0);
        let t = bed.task();
        let (mm, tab) = (&t.mm, &bed.kernel.futexes);
        let k = key_in(mm, W, true).unwrap();
        set(mm, W, 100);
        let plain = tab
            .enqueue(k, FUTEX_BITSET_MATCH_ANY, blocker(), || Ok::<(), Errno>(()))
            .unwrap();
        assert_eq!(
            tab.lock_pi(mm, W, k, 200, blocker(), false, &|_| true)
                .err(),
            Some(Errno::EINVAL)
        );
        assert_eq!(
            tab.unlock_pi(mm, W, k, 100, 100),
            Err(PiError::Errno(Errno::EINVAL))
        );
        assert!(!tab.dequeue(&plain));
        // A PI waiter first, then a plain one behind it: FUTEX_WAKE stops
        // at the PI waiter with EINVAL.
        let pi = queued(tab.lock_pi(mm, W, k, 200, blocker(), false, &|_| true));
        let plain = tab
            .enqueue(k, FUTEX_BITSET_MATCH_ANY, blocker(), || Ok::<(), Errno>(()))
            .unwrap();
        assert_eq!(
            tab.try_wake(k, 1, FUTEX_BITSET_MATCH_ANY),
            Err(Errno::EINVAL)
        );
        assert_eq!(tab.requeue(k, k, 1, 1, || Ok(())), Err(Errno::EINVAL));
        assert!(!plain.woken());
        assert!(!tab.dequeue(&plain));
        assert_eq!(tab.cancel(&pi), WaitState::Waiting);
        assert_eq!((tab.waiters(), tab.pi_states()), (0, 0));
    }

    #[test]
    fn cmp_requeue_pi_locks_for_the_first_and_requeues_the_rest() {
        let bed = Bed::new(false, 0);
        let t = bed.task();
        let (mm, tab) = (&t.mm, &bed.kernel.futexes);
        let (cv, m) = (W, W + 8);
        let k1 = key_in(mm, cv, true).unwrap();
        let k2 = key_in(mm, m, true).unwrap();
        set(mm, cv, 7);
        set(mm, m, 0);
        let hs: Vec<WaitHandle> = [10, 20, 30]
            .iter()
            .map(|&tid| {
                tab.enqueue_requeue_pi(k1, k2, tid, blocker(), || Ok(()))
                    .unwrap()
            })
            .collect();
        let alive = |_: Pid| true;
        assert_eq!(
            tab.requeue_pi(mm, cv, k1, m, k2, 5, 8, &alive),
            Err(Errno::EAGAIN)
        );
        // A plain FUTEX_WAKE on the wait futex refuses requeue-PI waiters.
        assert_eq!(
            tab.try_wake(k1, 1, FUTEX_BITSET_MATCH_ANY),
            Err(Errno::EINVAL)
        );
        assert_eq!(tab.requeue_pi(mm, cv, k1, m, k2, 1, 7, &alive), Ok(2));
        assert_eq!(hs[0].state(), WaitState::Locked);
        assert_eq!(hs[1].state(), WaitState::Requeued);
        assert_eq!(hs[2].state(), WaitState::Waiting);
        assert_eq!(word(mm, m), 10 | FUTEX_WAITERS);
        assert_eq!(tab.requeue_pi(mm, cv, k1, m, k2, 1, 7, &alive), Ok(1));
        assert_eq!(hs[2].state(), WaitState::Requeued);
        tab.unlock_pi(mm, m, k2, 10, 10 | FUTEX_WAITERS).unwrap();
        assert_eq!(hs[1].state(), WaitState::Locked);
        tab.unlock_pi(mm, m, k2, 20, 20 | FUTEX_WAITERS).unwrap();
        assert_eq!(hs[2].state(), WaitState::Locked);
        tab.unlock_pi(mm, m, k2, 30, 30 | FUTEX_WAITERS).unwrap();
        assert_eq!(word(mm, m), 0);
        assert_eq!((tab.waiters(), tab.pi_states()), (0, 0));
    }

    #[test]
    fn waitv_reports_the_highest_index_woken() {
        let bed = Bed::new(false, 0);
        let t = bed.task();
        let (mm, tab) = (&t.mm, &bed.kernel.futexes);
        let words: Vec<(FutexKey, u64, u32)> = (0..3)
            .map(|i| {
                let a = W + 4 * i;
                set(mm, a, 0);
                (key_in(mm, a, true).unwrap(), a, 0)
            })
            .collect();
        set(mm, W + 4, 1);
        assert_eq!(
            tab.enqueue_all(mm, &words, blocker()).err(),
            Some(Errno::EAGAIN)
        );
        assert_eq!(tab.waiters(), 0);
        set(mm, W + 4, 0);
        let hs = tab.enqueue_all(mm, &words, blocker()).unwrap();
        assert_eq!(tab.wake(words[0].0, 1, FUTEX_BITSET_MATCH_ANY), 1);
        assert_eq!(tab.wake(words[2].0, 1, FUTEX_BITSET_MATCH_ANY), 1);
        assert_eq!(tab.dequeue_all(&hs), Some(2));
        assert_eq!(tab.waiters(), 0);
    }

    /// Lays out robust entries at `base`: entry i at base + 16 i, its
    /// word 8 bytes on; `next[i]` is where entry i points.
    fn entries(mm: &MemoryManager, base: u64, next: &[u64], words: &[u32]) {
        for (i, (&n, &w)) in next.iter().zip(words).enumerate() {
            let e = base + 16 * i as u64;
            mm.write_obj(UserAddr(e), &n).unwrap();
            set(mm, e + 8, w);
        }
    }

    fn head(mm: &MemoryManager, at: u64, first: u64, pending: u64) {
        mm.write_obj(UserAddr(at), &first).unwrap();
        mm.write_obj(UserAddr(at + 8), &8i64).unwrap();
        mm.write_obj(UserAddr(at + 16), &pending).unwrap();
    }

    #[test]
    fn robust_walk_marks_owned_words_and_wakes_one_shared_waiter() {
        let bed = Bed::new(false, 0);
        let t = bed.task();
        let (mm, tab) = (&t.mm, &bed.kernel.futexes);
        let (h, e) = (SCRATCH + 0x1000, SCRATCH + 0x1100);
        let me = 77u32;
        // e0 (mine|WAITERS) -> e1 (other's) -> e2 PI (mine|WAITERS) -> head;
        // pending e3 (mine).
        entries(
            mm,
            e,
            &[e + 16, (e + 32) | 1, h, 0],
            &[me | FUTEX_WAITERS, 5, me | FUTEX_WAITERS, me],
        );
        head(mm, h, e, e + 48);
        let key_of = |a: u64| key_in(mm, a, false);
        let shared = tab
            .enqueue(
                key_of(e + 8).unwrap(),
                FUTEX_BITSET_MATCH_ANY,
                blocker(),
                || Ok::<(), Errno>(()),
            )
            .unwrap();
        let private = tab
            .enqueue(
                key_in(mm, e + 8, true).unwrap(),
                FUTEX_BITSET_MATCH_ANY,
                blocker(),
                || Ok::<(), Errno>(()),
            )
            .unwrap();
        let pi_waiter = tab
            .enqueue(
                key_of(e + 40).unwrap(),
                FUTEX_BITSET_MATCH_ANY,
                blocker(),
                || Ok::<(), Errno>(()),
            )
            .unwrap();
        tab.exit_release(mm, h, me as Pid, true, &key_of, &|_| true);
        assert_eq!(word(mm, e + 8), FUTEX_WAITERS | FUTEX_OWNER_DIED);
        assert_eq!(word(mm, e + 24), 5);
        assert_eq!(word(mm, e + 40), FUTEX_WAITERS | FUTEX_OWNER_DIED);
        assert_eq!(word(mm, e + 56), FUTEX_OWNER_DIED);
        assert!(shared.woken(), "the shared-flag waiter is woken");
        assert!(!private.woken(), "a private waiter is another futex");
        assert!(!pi_waiter.woken(), "PI words are not woken by the walk");
        assert_eq!(tab.robust_head(me as Pid), 0);
    }

    #[test]
    fn robust_walk_stops_at_the_limit_and_at_bad_pointers() {
        let bed = Bed::new(false, 0);
        let t = bed.task();
        let (mm, tab) = (&t.mm, &bed.kernel.futexes);
        let me = 77u32;
        let key_of = |a: u64| key_in(mm, a, false);
        // A chain longer than the limit, in memory of its own.
        let n = ROBUST_LIST_LIMIT as u64 + 100;
        let base = 0x100_0000u64;
        let len = (16 * n + 4096) & !4095;
        mm.mmap(
            UserAddr(base),
            len,
            crate::platform::Prot::READ | crate::platform::Prot::WRITE,
            veil_abi::flags::MAP_PRIVATE
                | veil_abi::flags::MAP_ANONYMOUS
                | veil_abi::flags::MAP_FIXED,
            None,
        )
        .unwrap();
        let h = SCRATCH + 0x1000;
        let next: Vec<u64> = (0..n).map(|i| base + 16 * (i + 1)).collect();
        entries(mm, base, &next, &alloc::vec![me; n as usize]);
        // The last entry points back to the first: a cycle that never
        // returns to the head.
        mm.write_obj(UserAddr(base + 16 * (n - 1)), &base).unwrap();
        head(mm, h, base, 0);
        tab.exit_release(mm, h, me as Pid, true, &key_of, &|_| true);
        let marked = (0..n)
            .filter(|i| word(mm, base + 16 * i + 8) == FUTEX_OWNER_DIED)
            .count();
        assert_eq!(marked, ROBUST_LIST_LIMIT as usize);

        // e0 -> an unmapped address: e0 is marked, the walk stops there and
        // the pending entry is never reached.
        let e = SCRATCH + 0x1100;
        entries(mm, e, &[0x10, 0], &[me, me]);
        head(mm, h, e, e + 16);
        tab.exit_release(mm, h, me as Pid, true, &key_of, &|_| true);
        assert_eq!(word(mm, e + 8), FUTEX_OWNER_DIED);
        assert_eq!(word(mm, e + 24), me);
        // A head that cannot be read: nothing happens.
        tab.exit_release(mm, 0x10, me as Pid, true, &key_of, &|_| true);
    }
}
