//! Futex wait queues.
//!
//! A futex is named by a key: a private futex (FUTEX_PRIVATE_FLAG) by its
//! address space and address, a shared one by the memory-file offset of
//! the word, so that processes mapping the same shared memory meet on the
//! same queue. Waiters sleep on their task's [`Blocker`]; the table lock is
//! held while a waiter compares the word and enqueues itself, and while a
//! waker dequeues, so a wake between the compare and the sleep is never
//! lost (the blocker keeps a wake that comes before `block`).
//!
//! Left for issue 3: priority-inheritance futexes, robust-list walking at
//! thread exit, futex_waitv.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use spin::Mutex;

use crate::host::Blocker;

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

/// One sleeping task.
struct Waiter {
    bitset: u32,
    blocker: Arc<dyn Blocker>,
    woken: Arc<AtomicBool>,
}

/// All futex queues of a kernel.
#[derive(Default)]
pub struct FutexTable {
    queues: Mutex<BTreeMap<FutexKey, Vec<Waiter>>>,
}

/// A waiter's handle: tells whether it was woken, and removes it if not.
pub struct WaitHandle {
    key: FutexKey,
    woken: Arc<AtomicBool>,
}

impl WaitHandle {
    /// True once a waker dequeued this waiter.
    pub fn woken(&self) -> bool {
        self.woken.load(Ordering::Acquire)
    }
}

impl FutexTable {
    /// Runs `check` (which reads and compares the futex word) under the
    /// table lock and, if it returns `Ok`, enqueues a waiter.
    pub fn enqueue<E>(
        &self,
        key: FutexKey,
        bitset: u32,
        blocker: Arc<dyn Blocker>,
        check: impl FnOnce() -> Result<(), E>,
    ) -> Result<WaitHandle, E> {
        let mut q = self.queues.lock();
        check()?;
        let woken = Arc::new(AtomicBool::new(false));
        q.entry(key).or_default().push(Waiter {
            bitset,
            blocker,
            woken: woken.clone(),
        });
        Ok(WaitHandle { key, woken })
    }

    /// Removes a waiter that stopped waiting (timeout, signal). Returns
    /// true if it had been woken meanwhile.
    pub fn dequeue(&self, h: &WaitHandle) -> bool {
        let mut q = self.queues.lock();
        if h.woken() {
            return true;
        }
        // The waiter may have been requeued to another key: search all.
        let mut empty = None;
        for (k, list) in q.iter_mut() {
            if let Some(pos) = list.iter().position(|w| Arc::ptr_eq(&w.woken, &h.woken)) {
                list.remove(pos);
                if list.is_empty() {
                    empty = Some(*k);
                }
                break;
            }
        }
        if let Some(k) = empty {
            q.remove(&k);
        }
        let _ = h.key;
        false
    }

    /// Wakes up to `n` waiters on `key` whose bitset meets `bitset`.
    pub fn wake(&self, key: FutexKey, n: u32, bitset: u32) -> u32 {
        let mut q = self.queues.lock();
        Self::wake_locked(&mut q, key, n, bitset)
    }

    fn wake_locked(
        q: &mut BTreeMap<FutexKey, Vec<Waiter>>,
        key: FutexKey,
        n: u32,
        bitset: u32,
    ) -> u32 {
        let Some(list) = q.get_mut(&key) else {
            return 0;
        };
        let mut woken = 0;
        let mut i = 0;
        while i < list.len() && woken < n {
            if list[i].bitset & bitset != 0 {
                let w = list.remove(i);
                w.woken.store(true, Ordering::Release);
                w.blocker.wake();
                woken += 1;
            } else {
                i += 1;
            }
        }
        if list.is_empty() {
            q.remove(&key);
        }
        woken
    }

    /// Wakes up to `n_wake` waiters on `from` and moves up to `n_requeue`
    /// of the rest to `to`, after `check` (CMP_REQUEUE's compare) passes
    /// under the lock. Returns woken + requeued.
    pub fn requeue<E>(
        &self,
        from: FutexKey,
        to: FutexKey,
        n_wake: u32,
        n_requeue: u32,
        check: impl FnOnce() -> Result<(), E>,
    ) -> Result<u32, E> {
        let mut q = self.queues.lock();
        check()?;
        let woken = Self::wake_locked(&mut q, from, n_wake, u32::MAX);
        let mut moved = Vec::new();
        let mut count = 0;
        if let Some(list) = q.get_mut(&from) {
            let n = (n_requeue as usize).min(list.len());
            count = n as u32;
            // Onto the same queue, the waiters keep their places (Linux
            // leaves them in the hash chain).
            if from != to {
                moved.extend(list.drain(..n));
            }
            if list.is_empty() {
                q.remove(&from);
            }
        }
        if !moved.is_empty() {
            q.entry(to).or_default().extend(moved);
        }
        Ok(woken + count)
    }

    /// Runs `op` (WAKE_OP's read-modify-write) under the lock, then wakes
    /// `n1` on `k1` and, if `op` says so, `n2` on `k2`.
    pub fn wake_op<E>(
        &self,
        k1: FutexKey,
        k2: FutexKey,
        n1: u32,
        n2: u32,
        op: impl FnOnce() -> Result<bool, E>,
    ) -> Result<u32, E> {
        let mut q = self.queues.lock();
        let cond = op()?;
        let mut n = Self::wake_locked(&mut q, k1, n1, u32::MAX);
        if cond {
            n += Self::wake_locked(&mut q, k2, n2, u32::MAX);
        }
        Ok(n)
    }

    /// Number of waiters queued (for tests and leak checks).
    pub fn waiters(&self) -> usize {
        self.queues.lock().values().map(|v| v.len()).sum()
    }
}
