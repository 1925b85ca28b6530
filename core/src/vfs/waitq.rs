//! Wait queues: how a task sleeps until a file changes (a pipe gets data
//! or room, a peer closes). A file that can make a caller wait returns its
//! queue from [`FileOps::wait_queue`](super::FileOps::wait_queue) and
//! answers `EAGAIN` when an operation would block; the syscall layer then
//! registers the task's blocker, re-checks readiness (so a change between
//! the check and the sleep is not lost: the blocker keeps a wake that
//! comes before it sleeps), and sleeps.
//!
//! Besides sleeping tasks, a queue has *watchers* ([`Watcher`]): objects
//! told of every change without sleeping on the queue, as Linux's
//! `poll_table` callbacks (`ep_poll_callback`). An epoll instance puts one
//! watcher on the queue of each file it watches, once, at `epoll_ctl`
//! time; a change then marks the entry ready and wakes the epoll's own
//! queue, so `epoll_wait` sleeps on one queue however many files it
//! watches. Watchers are held weakly: dropping the watcher is enough to
//! stop hearing from the queue (dead entries are pruned on the next
//! [`notify`](WaitQueue::notify) or [`watch`](WaitQueue::watch)).
//!
//! The contract for files: call [`notify`](WaitQueue::notify) after every
//! change of readiness (data, room, a peer closing, a signal queued),
//! *without holding the file's own lock*, because watchers call back into
//! `poll()`-side state of other objects and may take their locks.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use spin::Mutex;

use crate::host::Blocker;

/// Told of every change on a [`WaitQueue`] it watches.
pub trait Watcher: Send + Sync {
    /// The queue's file may have changed readiness. Called by
    /// [`WaitQueue::notify`] with none of the queue's locks held, on the
    /// thread that made the change: it must not sleep.
    fn changed(&self);
}

/// Tasks waiting for a change, and watchers told of it.
#[derive(Default)]
pub struct WaitQueue {
    waiters: Mutex<Vec<Arc<dyn Blocker>>>,
    watchers: Mutex<Vec<Weak<dyn Watcher>>>,
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

    /// Adds `w`: its [`Watcher::changed`] runs on every
    /// [`notify`](WaitQueue::notify) while it lives, until
    /// [`unwatch`](WaitQueue::unwatch)ed.
    pub fn watch(&self, w: Weak<dyn Watcher>) {
        let mut list = self.watchers.lock();
        list.retain(|x| x.strong_count() > 0);
        list.push(w);
    }

    /// Removes `w` (one registration of it).
    pub fn unwatch(&self, w: &Weak<dyn Watcher>) {
        let me = w.as_ptr() as *const ();
        let mut list = self.watchers.lock();
        if let Some(pos) = list.iter().position(|x| x.as_ptr() as *const () == me) {
            list.swap_remove(pos);
        }
    }

    /// Live watchers (for tests and diagnostics).
    pub fn watcher_count(&self) -> usize {
        self.watchers
            .lock()
            .iter()
            .filter(|x| x.strong_count() > 0)
            .count()
    }

    /// Wakes every waiter (they re-check their condition), then tells
    /// every live watcher, outside the queue's locks.
    pub fn notify(&self) {
        for b in self.waiters.lock().iter() {
            b.wake();
        }
        let live: Vec<Arc<dyn Watcher>> = {
            let mut list = self.watchers.lock();
            if list.is_empty() {
                return;
            }
            list.retain(|x| x.strong_count() > 0);
            list.iter().filter_map(Weak::upgrade).collect()
        };
        for w in live {
            w.changed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicU32, Ordering};

    #[derive(Default)]
    struct Count(AtomicU32);
    impl Watcher for Count {
        fn changed(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn watchers_hear_every_notify_until_dropped_or_unwatched() {
        let q = WaitQueue::new();
        let a = Arc::new(Count::default());
        let b = Arc::new(Count::default());
        let wa: Weak<dyn Watcher> = Arc::downgrade(&a) as Weak<dyn Watcher>;
        let wb: Weak<dyn Watcher> = Arc::downgrade(&b) as Weak<dyn Watcher>;
        q.watch(wa.clone());
        q.watch(wb);
        q.notify();
        assert_eq!(a.0.load(Ordering::SeqCst), 1);
        assert_eq!(b.0.load(Ordering::SeqCst), 1);
        q.unwatch(&wa);
        q.notify();
        assert_eq!(a.0.load(Ordering::SeqCst), 1);
        assert_eq!(b.0.load(Ordering::SeqCst), 2);
        drop(b);
        assert_eq!(q.watcher_count(), 0);
        q.notify();
        assert!(q.watchers.lock().is_empty());
    }

    /// A watcher may touch the queue it is called from (no lock is held).
    #[test]
    fn a_watcher_may_reenter_its_queue() {
        struct Again(Arc<WaitQueue>, AtomicU32);
        impl Watcher for Again {
            fn changed(&self) {
                if self.1.fetch_add(1, Ordering::SeqCst) == 0 {
                    self.0.notify();
                }
                let _ = self.0.watcher_count();
            }
        }
        let q = Arc::new(WaitQueue::new());
        let w = Arc::new(Again(q.clone(), AtomicU32::new(0)));
        q.watch(Arc::downgrade(&w) as Weak<dyn Watcher>);
        q.notify();
        assert_eq!(w.1.load(Ordering::SeqCst), 2);
    }
}
