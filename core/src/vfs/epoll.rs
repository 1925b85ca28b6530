//! epoll instances, as Linux's `fs/eventpoll.c`.
//!
//! An [`Epoll`] is the object behind an epoll file descriptor: an
//! *interest list* of watched files keyed, as in Linux, by (open file
//! description, fd number), and a *ready list* of entries that may be
//! ready. Each entry puts a [`Watcher`] on its file's wait queue once, when
//! it is added; every change on that file then appends the entry to the
//! ready list and wakes the epoll's own queue. `epoll_wait` therefore
//! sleeps on one queue (the epoll's), and a collection only looks at the
//! entries something happened to:
//!
//! - **level-triggered** entries found ready are reported and go back to
//!   the tail of the ready list (so they are reported again while ready,
//!   round-robin with the others); entries found not ready leave it;
//! - **edge-triggered** (`EPOLLET`) entries leave the ready list once
//!   reported and come back only with the next change on their file;
//! - **one-shot** (`EPOLLONESHOT`) entries are disarmed once reported
//!   (their event mask keeps only the private bits, as Linux's) until
//!   `EPOLL_CTL_MOD` re-arms them;
//! - `EPOLLERR` and `EPOLLHUP` are always in an entry's mask;
//! - `EPOLLEXCLUSIVE` is accepted with Linux's checks and wakes every
//!   waiter (waking one is only an optimisation);
//! - an epoll file is itself pollable (readable while one of its entries
//!   is ready) and has a wait queue, so epoll instances nest; adding an
//!   epoll to itself is `EINVAL`, a cycle or a chain deeper than Linux's
//!   `EP_MAX_NESTS` (4) is `ELOOP`.
//!
//! Files without a wait queue (host descriptors such as the sandbox's
//! stdin) cannot tell the epoll when they change: their entries stay on
//! the ready list for good and are re-polled at every collection, and a
//! wait that includes one — directly or through a nested epoll — sleeps
//! in short naps (an edge-triggered entry of such a file reports when its
//! readiness gains a bit).
//!
//! An entry refers to its description weakly: once the last descriptor of
//! the description is closed the entry is dead — never reported, and
//! dropped at the next collection or `epoll_ctl` — as Linux removes it
//! from every interest list at the last close.
//!
//! Left out: `max_user_watches` (`ENOSPC`), the wake-up path limits of
//! `reverse_path_check`, `EPOLLWAKEUP` (accepted, no effect), busy
//! polling.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;

use spin::Mutex;
use veil_abi::flags::*;
use veil_abi::Errno;

use super::node::{FileOps, PollMask};
use super::waitq::{WaitQueue, Watcher};
use super::OpenFile;

/// Bits of an entry's mask that are flags, never reported.
pub const EP_PRIVATE_BITS: u32 = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE;
/// The bits an `EPOLLEXCLUSIVE` entry may ask for.
pub const EPOLLEXCLUSIVE_OK_BITS: u32 =
    EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;
/// How deep epoll instances may nest (Linux's `EP_MAX_NESTS`).
pub const EP_MAX_NESTS: usize = 4;

/// Serialises the loop checks of `EPOLL_CTL_ADD` of one epoll into
/// another (Linux's `epnested_mutex`).
static NESTED: Mutex<()> = Mutex::new(());

/// An entry's key: the description's address and the fd number.
type Key = (usize, i32);

/// One entry of the interest list.
struct Entry {
    /// What sits on the file's wait queue; dropping it ends the watch.
    watcher: Arc<Item>,
    /// The description (weak: closing it ends the entry).
    file: Weak<OpenFile>,
    /// The object polled.
    ops: Arc<dyn FileOps>,
    /// The requested events, with EPOLLERR | EPOLLHUP and the flags.
    events: u32,
    /// The user's data.
    data: u64,
    /// On the ready list.
    queued: bool,
    /// The file has a wait queue (else it is polled every time).
    has_queue: bool,
    /// The file is an epoll instance.
    is_epoll: bool,
    /// Readiness last reported (edge-triggered entries of files without
    /// a wait queue report only what is new).
    last: u32,
}

impl Entry {
    fn alive(&self) -> bool {
        self.file.strong_count() > 0
    }

    /// What the entry would report now (0: nothing).
    fn revents(&self) -> u32 {
        let m = self.ops.poll() & self.events & !EP_PRIVATE_BITS;
        if !self.has_queue && self.events & EPOLLET != 0 {
            m & !self.last
        } else {
            m
        }
    }

    fn unwatch(&self) {
        if let Some(q) = self.ops.wait_queue() {
            let w: Weak<dyn Watcher> = Arc::downgrade(&self.watcher) as Weak<dyn Watcher>;
            q.unwatch(&w);
        }
    }
}

#[derive(Default)]
struct State {
    items: BTreeMap<Key, Entry>,
    ready: VecDeque<Key>,
    /// Entries that are epoll instances.
    nested: usize,
}

impl State {
    /// Adds `e` as `key`, returning what was there.
    fn put(&mut self, key: Key, e: Entry) -> Option<Entry> {
        self.nested += usize::from(e.is_epoll);
        let old = self.items.insert(key, e);
        if let Some(o) = &old {
            self.nested -= usize::from(o.is_epoll);
        }
        old
    }

    /// Removes the entry `key`.
    fn take(&mut self, key: &Key) -> Option<Entry> {
        let old = self.items.remove(key);
        if let Some(o) = &old {
            self.nested -= usize::from(o.is_epoll);
        }
        old
    }

    /// Puts on the ready list the nested epoll instances that watch files
    /// without a wait queue: nothing would wake us for them.
    fn requeue_polled(&mut self) {
        if self.nested == 0 {
            return;
        }
        for (k, e) in self.items.iter_mut() {
            if e.is_epoll && !e.queued && e.alive() && e.events & !EP_PRIVATE_BITS != 0 {
                let polls = e
                    .ops
                    .as_any()
                    .downcast_ref::<Epoll>()
                    .is_some_and(|inner| Epoll::polls(&inner.state.lock()));
                if polls {
                    e.queued = true;
                    self.ready.push_back(*k);
                }
            }
        }
    }
}

/// The watcher an entry puts on its file's queue.
struct Item {
    key: Key,
    ep: Weak<Epoll>,
}

impl Watcher for Item {
    fn changed(&self) {
        if let Some(ep) = self.ep.upgrade() {
            ep.mark_ready(self.key);
        }
    }
}

/// What `epoll_ctl` asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtlOp {
    /// EPOLL_CTL_ADD with (events, data).
    Add(u32, u64),
    /// EPOLL_CTL_MOD with (events, data).
    Mod(u32, u64),
    /// EPOLL_CTL_DEL.
    Del,
}

/// One event collected by [`Epoll::collect`]: (events, data).
pub type Event = (u32, u64);

/// An epoll instance: the [`FileOps`] behind an epoll fd.
pub struct Epoll {
    me: Weak<Epoll>,
    state: Mutex<State>,
    queue: WaitQueue,
    /// Instances that added this one (with their entry's key), for the
    /// nesting-depth check; stale ones are skipped and pruned.
    parents: Mutex<Vec<(Weak<Epoll>, Key)>>,
}

impl Epoll {
    /// A new, empty instance.
    pub fn new() -> Arc<Epoll> {
        Arc::new_cyclic(|me| Epoll {
            me: me.clone(),
            state: Mutex::new(State::default()),
            queue: WaitQueue::new(),
            parents: Mutex::new(Vec::new()),
        })
    }

    /// The instance behind `file`, if it is an epoll file.
    pub fn of(file: &OpenFile) -> Option<&Epoll> {
        file.ops.as_any().downcast_ref::<Epoll>()
    }

    /// The queue woken on every change of a watched file (what
    /// `epoll_wait` sleeps on).
    pub fn queue(&self) -> &WaitQueue {
        &self.queue
    }

    /// Entries in the interest list whose description is still open.
    pub fn len(&self) -> usize {
        self.state
            .lock()
            .items
            .values()
            .filter(|e| e.alive())
            .count()
    }

    /// The address of the description watched by the `nth` live entry
    /// for fd `fd`, counted in Linux's order (by description, then fd):
    /// kcmp's KCMP_EPOLL_TFD.
    pub fn target(&self, fd: i32, nth: u64) -> Option<usize> {
        let st = self.state.lock();
        st.items
            .iter()
            .filter(|((_, f), e)| *f == fd && e.alive())
            .nth(usize::try_from(nth).ok()?)
            .map(|((addr, _), _)| *addr)
    }

    /// True if no open description is watched.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A watched file changed: its entry goes on the ready list, and
    /// waiters (and epoll instances watching this one) are woken.
    fn mark_ready(&self, key: Key) {
        {
            let mut st = self.state.lock();
            let st = &mut *st;
            if let Some(e) = st.items.get_mut(&key) {
                if !e.queued {
                    e.queued = true;
                    st.ready.push_back(key);
                }
            }
        }
        self.queue.notify();
    }

    /// `epoll_ctl` on `fd`, open as `file`. The caller has checked that
    /// `file` supports poll and is not this instance.
    pub fn ctl(&self, fd: i32, file: &Arc<OpenFile>, op: CtlOp) -> Result<(), Errno> {
        if let CtlOp::Add(ev, _) | CtlOp::Mod(ev, _) = op {
            if ev & EPOLLEXCLUSIVE != 0 {
                if matches!(op, CtlOp::Mod(..)) {
                    return Err(Errno::EINVAL);
                }
                if Epoll::of(file).is_some() || ev & !EPOLLEXCLUSIVE_OK_BITS != 0 {
                    return Err(Errno::EINVAL);
                }
            }
        }
        let key = (Arc::as_ptr(file) as *const () as usize, fd);
        match op {
            CtlOp::Add(events, data) => match Epoll::of(file) {
                Some(target) => {
                    let _nested = NESTED.lock();
                    self.check_loop(target)?;
                    self.insert(key, file, events, data)?;
                    target.live_parents();
                    target.parents.lock().push((self.me.clone(), key));
                    Ok(())
                }
                None => self.insert(key, file, events, data),
            },
            CtlOp::Mod(events, data) => self.modify(key, events, data),
            CtlOp::Del => {
                let gone = {
                    let mut st = self.state.lock();
                    st.take(&key)
                };
                match gone {
                    Some(e) if e.alive() => {
                        e.unwatch();
                        Ok(())
                    }
                    _ => Err(Errno::ENOENT),
                }
            }
        }
    }

    /// `ELOOP` if adding `target` to this instance would close a cycle or
    /// make a chain of more than [`EP_MAX_NESTS`] nested instances (as
    /// Linux's `ep_loop_check`: the depth below `target`, plus one, plus
    /// the depth above this instance).
    fn check_loop(&self, target: &Epoll) -> Result<(), Errno> {
        if core::ptr::eq(target, self) {
            return Err(Errno::EINVAL);
        }
        let mut memo = BTreeMap::new();
        let down = target.depth_below(self, 0, &mut memo);
        if down > EP_MAX_NESTS {
            return Err(Errno::ELOOP);
        }
        let mut memo = BTreeMap::new();
        if down + 1 + self.depth_above(0, &mut memo) > EP_MAX_NESTS {
            return Err(Errno::ELOOP);
        }
        Ok(())
    }

    /// The epoll instances this one watches (live entries).
    fn children(&self) -> Vec<Arc<dyn FileOps>> {
        let st = self.state.lock();
        st.items
            .values()
            .filter(|e| e.alive() && e.ops.as_any().is::<Epoll>())
            .map(|e| e.ops.clone())
            .collect()
    }

    /// How many levels of epoll instances nest below this one; more than
    /// [`EP_MAX_NESTS`] if `into` is among them (a cycle).
    fn depth_below(&self, into: &Epoll, depth: usize, memo: &mut BTreeMap<usize, usize>) -> usize {
        let id = self as *const Epoll as usize;
        if let Some(&d) = memo.get(&id) {
            return d;
        }
        let mut r = 0;
        for c in self.children() {
            let Some(inner) = c.as_any().downcast_ref::<Epoll>() else {
                continue;
            };
            if core::ptr::eq(inner, into) || depth > EP_MAX_NESTS {
                r = EP_MAX_NESTS + 1;
            } else {
                r = r.max(inner.depth_below(into, depth + 1, memo) + 1);
            }
            if r > EP_MAX_NESTS {
                break;
            }
        }
        memo.insert(id, r);
        r
    }

    /// The instances that watch this one now; drops the records of those
    /// that no longer do.
    fn live_parents(&self) -> Vec<Arc<Epoll>> {
        let recorded: Vec<(Weak<Epoll>, Key)> = self.parents.lock().clone();
        let mut live = Vec::new();
        let mut keep = Vec::new();
        for (w, key) in recorded {
            let Some(parent) = w.upgrade() else {
                continue;
            };
            let watches = parent.state.lock().items.get(&key).is_some_and(|e| {
                e.alive()
                    && e.ops
                        .as_any()
                        .downcast_ref::<Epoll>()
                        .is_some_and(|x| core::ptr::eq(x, self))
            });
            if watches {
                keep.push((w, key));
                if !live.iter().any(|p| Arc::ptr_eq(p, &parent)) {
                    live.push(parent);
                }
            }
        }
        *self.parents.lock() = keep;
        live
    }

    /// How many levels of epoll instances watch this one.
    fn depth_above(&self, depth: usize, memo: &mut BTreeMap<usize, usize>) -> usize {
        let id = self as *const Epoll as usize;
        if let Some(&d) = memo.get(&id) {
            return d;
        }
        if depth > EP_MAX_NESTS {
            return depth;
        }
        let mut r = 0;
        for parent in self.live_parents() {
            r = r.max(parent.depth_above(depth + 1, memo) + 1);
        }
        memo.insert(id, r);
        r
    }

    fn insert(&self, key: Key, file: &Arc<OpenFile>, events: u32, data: u64) -> Result<(), Errno> {
        let ops = file.ops.clone();
        let has_queue = ops.wait_queue().is_some();
        let ops_is_epoll = ops.as_any().is::<Epoll>();
        let (ready, stale) = {
            let mut st = self.state.lock();
            if let Some(e) = st.items.get(&key) {
                if e.alive() {
                    return Err(Errno::EEXIST);
                }
            }
            let watcher = Arc::new(Item {
                key,
                ep: self.me.clone(),
            });
            if let Some(q) = ops.wait_queue() {
                q.watch(Arc::downgrade(&watcher) as Weak<dyn Watcher>);
            }
            let mut e = Entry {
                watcher,
                file: Arc::downgrade(file),
                ops,
                events: events | EPOLLERR | EPOLLHUP,
                data,
                queued: false,
                has_queue,
                is_epoll: ops_is_epoll,
                last: 0,
            };
            let ready = !has_queue || e.revents() != 0;
            if ready {
                e.queued = true;
                st.ready.push_back(key);
            }
            let old = st.put(key, e);
            (ready, old)
        };
        if let Some(old) = &stale {
            old.unwatch();
        }
        drop(stale);
        if ready {
            self.queue.notify();
        }
        Ok(())
    }

    fn modify(&self, key: Key, events: u32, data: u64) -> Result<(), Errno> {
        let ready = {
            let mut st = self.state.lock();
            let st = &mut *st;
            let e = match st.items.get_mut(&key) {
                Some(e) if e.alive() => e,
                _ => return Err(Errno::ENOENT),
            };
            if e.events & EPOLLEXCLUSIVE != 0 {
                return Err(Errno::EINVAL);
            }
            e.events = events | EPOLLERR | EPOLLHUP;
            e.data = data;
            e.last = 0;
            let ready = !e.has_queue || e.revents() != 0;
            if ready && !e.queued {
                e.queued = true;
                st.ready.push_back(key);
            }
            ready
        };
        if ready {
            self.queue.notify();
        }
        Ok(())
    }

    /// Takes up to `max` events off the ready list (see the module docs
    /// for what each kind of entry does). Also says whether an armed
    /// entry has no wait queue, so a waiter must poll it by napping.
    pub fn collect(&self, max: usize) -> (Vec<Event>, bool) {
        let mut out = Vec::new();
        let mut polled = false;
        let mut dead: Vec<Entry> = Vec::new();
        {
            let mut st = self.state.lock();
            let st = &mut *st;
            st.requeue_polled();
            let n = st.ready.len();
            for _ in 0..n {
                if out.len() >= max {
                    break;
                }
                let Some(key) = st.ready.pop_front() else {
                    break;
                };
                let Some(e) = st.items.get_mut(&key) else {
                    continue;
                };
                if !e.alive() {
                    if let Some(e) = st.take(&key) {
                        dead.push(e);
                    }
                    continue;
                }
                e.queued = false;
                let revents = e.revents();
                let armed = e.events & !EP_PRIVATE_BITS != 0;
                if !e.has_queue {
                    if armed {
                        polled = true;
                    }
                    // Nothing will tell us it changed: keep looking.
                    e.last = e.ops.poll() & e.events;
                    e.queued = true;
                    st.ready.push_back(key);
                    if revents == 0 {
                        continue;
                    }
                    out.push((revents, e.data));
                    if e.events & EPOLLONESHOT != 0 {
                        e.events &= EP_PRIVATE_BITS;
                    }
                    continue;
                }
                if revents == 0 {
                    continue;
                }
                out.push((revents, e.data));
                if e.events & EPOLLONESHOT != 0 {
                    e.events &= EP_PRIVATE_BITS;
                } else if e.events & EPOLLET == 0 {
                    e.queued = true;
                    st.ready.push_back(key);
                }
            }
            // Drop entries of closed descriptions found on the way.
            if st.items.values().any(|e| !e.alive()) {
                let keys: Vec<Key> = st
                    .items
                    .iter()
                    .filter(|(_, e)| !e.alive())
                    .map(|(k, _)| *k)
                    .collect();
                for k in keys {
                    if let Some(e) = st.take(&k) {
                        dead.push(e);
                    }
                }
            }
            if !polled {
                polled = Self::polls(st);
            }
        }
        for e in &dead {
            e.unwatch();
        }
        drop(dead);
        (out, polled)
    }

    /// True if an armed entry of `st` (or of an epoll instance it
    /// watches) is a file without a wait queue: a waiter must re-poll.
    fn polls(st: &State) -> bool {
        st.items.values().any(|e| {
            e.alive()
                && e.events & !EP_PRIVATE_BITS != 0
                && (!e.has_queue
                    || e.ops
                        .as_any()
                        .downcast_ref::<Epoll>()
                        .is_some_and(|inner| Self::polls(&inner.state.lock())))
        })
    }

    /// True if a collection would report something now (what a poll of
    /// the epoll file itself answers).
    fn any_ready(&self) -> bool {
        let mut st = self.state.lock();
        st.requeue_polled();
        st.ready
            .iter()
            .filter_map(|k| st.items.get(k))
            .any(|e| e.alive() && e.revents() != 0)
    }
}

impl FileOps for Epoll {
    fn read(&self, _buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self) -> PollMask {
        if self.any_ready() {
            POLLIN | POLLRDNORM
        } else {
            0
        }
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.queue)
    }

    fn release(&self) {
        let entries = core::mem::take(&mut *self.state.lock());
        for e in entries.items.values() {
            e.unwatch();
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
