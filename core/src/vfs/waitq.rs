//! Wait queues: how a task sleeps until a file changes (a pipe gets data
//! or room, a peer closes). A file that can make a caller wait returns its
//! queue from [`FileOps::wait_queue`](super::FileOps::wait_queue) and
//! answers `EAGAIN` when an operation would block; the syscall layer then
//! registers the task's blocker, re-checks readiness (so a change between
//! the check and the sleep is not lost: the blocker keeps a wake that
//! comes before it sleeps), and sleeps.

use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;

use crate::host::Blocker;

/// Tasks waiting for a change.
#[derive(Default)]
pub struct WaitQueue {
    waiters: Mutex<Vec<Arc<dyn Blocker>>>,
}

impl WaitQueue {
    /// An empty queue.
    pub fn new() -> WaitQueue {
        WaitQueue::default()
    }

    /// Adds `b`; it is woken by every [`notify`](WaitQueue::notify) until
    /// removed.
    pub fn register(&self, b: &Arc<dyn Blocker>) {
        self.waiters.lock().push(b.clone());
    }

    /// Removes `b`.
    pub fn unregister(&self, b: &Arc<dyn Blocker>) {
        let mut w = self.waiters.lock();
        if let Some(pos) = w.iter().position(|x| Arc::ptr_eq(x, b)) {
            w.swap_remove(pos);
        }
    }

    /// Wakes every waiter (they re-check their condition).
    pub fn notify(&self) {
        for b in self.waiters.lock().iter() {
            b.wake();
        }
    }
}
