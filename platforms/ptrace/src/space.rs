//! Address spaces: one stub process each, whose mappings of the memory
//! file are made by injected `mmap` / `munmap` / `mprotect` calls, and
//! whose threads run the application's threads.
//!
//! # Stub threads
//!
//! Every context that switches into an address space gets its own thread
//! in the stub ([`StubThread`]), traced by the context's host thread:
//! made on its first switch ([`SpaceInner::new_thread`]: the executor
//! clones it, the host thread attaches to it), ended when the context
//! releases it or is dropped, or when the host thread exits (see
//! `context.rs`). The space keeps the list of its stub threads, so that
//! dropping it can reap them all; each host thread keeps (thread-locally)
//! the list of the stub threads it traces, so that `map` can find the
//! caller's own.
//!
//! # Mapping from any thread
//!
//! All threads of a stub share its memory map, so a change injected into
//! any one of them is in force for all of them, running or not, when the
//! call returns (the host kernel shoots down their TLB entries).
//! [`AddressSpace::map`], `unmap` and `protect` therefore take the
//! cheapest path that keeps that guarantee:
//!
//! 1. the calling host thread traces a stub thread in this space (it is
//!    stopped, since its host thread is here and not in `switch`): the
//!    call is injected into it, one injected call each;
//! 2. otherwise, if no stub thread of the space is running application
//!    code, the change is queued, and the next `switch` into the space (on
//!    any thread) applies the queue, through its own stub thread, before
//!    the application runs: the application cannot tell the difference,
//!    and making a process (fork, execve: many maps before the first
//!    switch, from a thread that has no stub thread yet) costs no
//!    hand-off;
//! 3. otherwise (some application thread may be running, and the caller
//!    has no stub thread to inject into), the executor host thread applies
//!    the queue through the stub's executor thread, and the call returns
//!    once it has.
//!
//! Whether anything runs is a counter that `switch` raises before it
//! checks for queued changes and lowers after the application stops;
//! a queuing caller raises the "queued" flag before it reads the counter
//! (both sequentially consistent), so either the switch sees the queue or
//! the caller sees the switch, and then takes path 3.
//!
//! Changes are applied in the order they were made, under the space's
//! lock, whichever thread applies them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use veil_core::platform::{AddressSpace, PlatformError, Prot};
use veil_core::{FileOffset, UserAddr};
use veil_host::RangeSet;

use crate::executor::Executor;
use crate::stub::{Stub, Tracee, PAGE};
use crate::sys;

/// The live address spaces of one platform, keyed by the address of the
/// `PtraceAddressSpace` inside its `Arc`, so that a context can find its
/// own type behind the `Arc<dyn AddressSpace>` core passes to `switch`.
/// An entry exists exactly while that object is alive (removed in its
/// `Drop`), so no other live object can have the same address.
#[derive(Default)]
pub(crate) struct Registry {
    spaces: Mutex<HashMap<usize, Weak<PtraceAddressSpace>>>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<usize, Weak<PtraceAddressSpace>>> {
        self.spaces.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The ptrace address space behind `space`, if it is one of ours.
    pub fn lookup(&self, space: &Arc<dyn AddressSpace>) -> Option<Arc<PtraceAddressSpace>> {
        self.lock().get(&key_of(space)).and_then(Weak::upgrade)
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }
}

/// The registry key of `space`: the address of the object in the `Arc`.
pub(crate) fn key_of(space: &Arc<dyn AddressSpace>) -> usize {
    Arc::as_ptr(space) as *const () as usize
}

/// One application thread's thread in a stub, traced by the host thread
/// of the context it belongs to.
pub(crate) struct StubThread {
    /// The traced thread.
    pub t: Tracee,
    /// The space it is in. Weak: a context must not keep a dropped
    /// address space's stub alive.
    pub space: Weak<SpaceInner>,
    /// Ended (or being ended) by its tracer.
    released: AtomicBool,
}

impl StubThread {
    /// Whether it is a thread of `inner`.
    pub fn in_space(&self, inner: &Arc<SpaceInner>) -> bool {
        // The Weak keeps the allocation, so the address cannot be reused.
        std::ptr::eq(self.space.as_ptr(), Arc::as_ptr(inner))
    }

    /// Whether the calling thread can use it: it is the tracer, and the
    /// thread has neither been released nor been found dead.
    pub fn usable(&self) -> bool {
        self.t.tracer == sys::gettid()
            && !self.released.load(Ordering::Acquire)
            && !self.t.is_gone()
    }

    /// Ends the thread (an injected `exit`, which ends this thread only)
    /// and reaps it, without disturbing the other threads of the stub.
    /// Only its tracer can; on any other thread this does nothing (the
    /// tracer's thread-exit hook ends it later). If the thread does not
    /// obey, the stub is out of control and is killed.
    pub fn release(&self) {
        if self.t.tracer != sys::gettid() || self.released.swap(true, Ordering::AcqRel) {
            return;
        }
        // A dropped space has killed and reaped all its threads.
        let Some(inner) = self.space.upgrade() else {
            return;
        };
        inner
            .threads()
            .retain(|t| !std::ptr::eq(Arc::as_ptr(t), self));
        if self.t.is_gone() {
            return;
        }
        if self.t.exit_thread().is_err() {
            inner.stub.kill();
            self.t.reap();
        }
    }
}

impl std::fmt::Debug for StubThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StubThread")
            .field("t", &self.t)
            .field("released", &self.released.load(Ordering::Relaxed))
            .finish()
    }
}

/// The stub threads the current host thread traces (weakly: their
/// contexts and spaces own them). When the host thread exits, those still
/// alive are released here: a tracer's exit would otherwise kill their
/// whole stub (PTRACE_O_EXITKILL), other threads and all.
struct Held(RefCell<Vec<Weak<StubThread>>>);

impl Drop for Held {
    fn drop(&mut self) {
        for w in std::mem::take(self.0.get_mut()) {
            if let Some(t) = w.upgrade() {
                t.release();
            }
        }
    }
}

thread_local! {
    static HELD: Held = const { Held(RefCell::new(Vec::new())) };
}

fn held_push(t: &Arc<StubThread>) {
    let _ = HELD.try_with(|h| {
        let mut v = h.0.borrow_mut();
        v.retain(|w| w.strong_count() > 0);
        v.push(Arc::downgrade(t));
    });
}

/// The calling host thread's usable stub thread in `inner`, if any.
fn held_find(inner: &Arc<SpaceInner>) -> Option<Arc<StubThread>> {
    HELD.try_with(|h| {
        h.0.borrow()
            .iter()
            .filter_map(Weak::upgrade)
            .find(|t| t.in_space(inner) && t.usable())
    })
    .ok()
    .flatten()
}

/// One change to the stub's mappings.
#[derive(Clone, Copy, Debug)]
enum Op {
    Map {
        addr: u64,
        len: u64,
        off: u64,
        prot: Prot,
    },
    Unmap {
        addr: u64,
        len: u64,
    },
    Protect {
        addr: u64,
        len: u64,
        prot: Prot,
    },
}

struct SpaceState {
    /// Changes queued while nothing ran, oldest first.
    pending: Vec<Op>,
    /// What is mapped in the stub (so `protect` can skip holes, which
    /// would stop `mprotect` half-way).
    mapped: RangeSet,
}

/// The shared part of a [`PtraceAddressSpace`]: the stub, its threads and
/// its mappings. Contexts reach it through the [`Registry`].
pub(crate) struct SpaceInner {
    pub stub: Stub,
    /// The executor host thread that traces the stub's executor thread.
    exec: Arc<Executor>,
    /// One past the highest application address.
    max: u64,
    /// The memory file's descriptor (same number in the stub).
    memfd: i32,
    state: Mutex<SpaceState>,
    /// `state.pending` is not empty (read without the lock by `switch`).
    has_pending: AtomicBool,
    /// Switches between "about to run the application" and "it stopped".
    running: AtomicUsize,
    /// Every application thread of the stub that has been attached and
    /// not released.
    threads: Mutex<Vec<Arc<StubThread>>>,
}

/// Marks a switch as running application code in a space while alive.
pub(crate) struct Running<'a>(&'a SpaceInner);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl SpaceInner {
    pub fn new(stub: Stub, max: u64, memfd: i32, exec: Arc<Executor>) -> SpaceInner {
        SpaceInner {
            stub,
            exec,
            max,
            memfd,
            state: Mutex::new(SpaceState {
                pending: Vec::new(),
                mapped: RangeSet::default(),
            }),
            has_pending: AtomicBool::new(false),
            running: AtomicUsize::new(0),
            threads: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SpaceState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn threads(&self) -> MutexGuard<'_, Vec<Arc<StubThread>>> {
        self.threads.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A host error while controlling the stub: it is out of our control.
    fn lost(&self, _: io::Error) -> PlatformError {
        self.stub.mark_dead();
        PlatformError::Lost
    }

    /// A new stub thread for the calling host thread, which becomes its
    /// tracer: the executor clones it from the stub's executor thread, we
    /// attach to it and unblock its signals. It starts with the initial FP
    /// state and no signal handler can ever run in it.
    pub fn new_thread(self: &Arc<Self>) -> Result<Arc<StubThread>, PlatformError> {
        if self.stub.is_dead() {
            return Err(PlatformError::Lost);
        }
        let me = self.clone();
        let tid = self
            .exec
            .run(move || me.stub.clone_thread())
            .ok_or(PlatformError::Lost)?
            .map_err(|e| match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::ENOMEM) => PlatformError::NoMemory,
                _ => self.lost(e),
            })?;
        // If the seize itself fails (a host that forbids it), the thread
        // stays parked in `pause` until the stub dies.
        let t =
            Tracee::attach(self.stub.pid, tid, self.stub.page, self.stub.pin).map_err(
                |e| match e.raw_os_error() {
                    Some(libc::EPERM) => PlatformError::Lost,
                    _ => self.lost(e),
                },
            )?;
        let st = Arc::new(StubThread {
            t,
            space: Arc::downgrade(self),
            released: AtomicBool::new(false),
        });
        self.threads().push(st.clone());
        held_push(&st);
        if let Err(e) = st.t.unblock_signals() {
            st.release();
            return Err(self.lost(e));
        }
        Ok(st)
    }

    /// Marks the start of a switch through stub thread `via` (the caller's,
    /// stopped): applies queued changes through it, and counts the switch
    /// as running until the returned guard is dropped.
    pub fn start_running(&self, via: &Tracee) -> Result<Running<'_>, PlatformError> {
        self.running.fetch_add(1, Ordering::SeqCst);
        let guard = Running(self);
        if self.has_pending.load(Ordering::SeqCst) {
            let mut st = self.lock();
            self.drain(&mut st, via)?;
        }
        Ok(guard)
    }

    /// The application threads' tids.
    pub fn thread_tids(&self) -> Vec<i32> {
        self.threads().iter().map(|t| t.t.tid).collect()
    }

    /// Checks a range from core: page-aligned, non-empty, below the stub.
    fn check(&self, addr: UserAddr, len: u64) -> Result<Option<(u64, u64)>, PlatformError> {
        if len == 0 {
            return Ok(None);
        }
        let (a, l) = (addr.0, len);
        if a & (PAGE - 1) != 0 || l & (PAGE - 1) != 0 {
            return Err(PlatformError::NoMemory);
        }
        match a.checked_add(l) {
            Some(end) if end <= self.max => Ok(Some((a, l))),
            _ => Err(PlatformError::NoMemory),
        }
    }

    /// Applies `op` by the cheapest path (see the module docs).
    fn submit(self: &Arc<Self>, op: Op) -> Result<(), PlatformError> {
        if self.stub.is_dead() {
            return Err(PlatformError::Lost);
        }
        if let Some(t) = held_find(self) {
            let mut st = self.lock();
            let queued = self.drain(&mut st, &t.t);
            let this = self.apply(&mut st, op, &t.t);
            return queued.and(this);
        }
        {
            let mut st = self.lock();
            st.pending.push(op);
            self.has_pending.store(true, Ordering::SeqCst);
        }
        if self.running.load(Ordering::SeqCst) == 0 {
            return Ok(());
        }
        let me = self.clone();
        self.exec
            .run(move || {
                let mut st = me.lock();
                match me.stub.exec() {
                    Ok(x) => me.drain(&mut st, x),
                    Err(e) => Err(me.lost(e)),
                }
            })
            .unwrap_or(Err(PlatformError::Lost))
    }

    /// Applies the queued changes through `via`, all of them even if one
    /// fails (a later unmap must not be skipped); the first error is
    /// returned.
    ///
    /// The flag is lowered only once they are applied (under the lock, so
    /// nothing was queued meanwhile): a switch that sees it raised waits
    /// for the lock, and so for the changes, before it runs.
    fn drain(&self, st: &mut SpaceState, via: &Tracee) -> Result<(), PlatformError> {
        let mut r = Ok(());
        for op in std::mem::take(&mut st.pending) {
            let this = self.apply(st, op, via);
            if r.is_ok() {
                r = this;
            }
        }
        self.has_pending.store(false, Ordering::SeqCst);
        r
    }

    fn apply(&self, st: &mut SpaceState, op: Op, via: &Tracee) -> Result<(), PlatformError> {
        match op {
            Op::Map {
                addr,
                len,
                off,
                prot,
            } => {
                let r = via.inject(
                    libc::SYS_mmap,
                    &[
                        addr,
                        len,
                        prot.bits() as u64,
                        (libc::MAP_SHARED | libc::MAP_FIXED) as u64,
                        self.memfd as u64,
                        off,
                    ],
                );
                match r {
                    Ok(r) if r as u64 == addr => {
                        st.mapped.insert(addr, addr + len);
                        Ok(())
                    }
                    Ok(_) => {
                        // A failed MAP_FIXED may have unmapped the range.
                        st.mapped.remove(addr, addr + len);
                        Err(PlatformError::NoMemory)
                    }
                    Err(e) => Err(self.lost(e)),
                }
            }
            Op::Unmap { addr, len } => {
                let r = via
                    .inject(libc::SYS_munmap, &[addr, len])
                    .map_err(|e| self.lost(e))?;
                if r != 0 {
                    return Err(PlatformError::NoMemory);
                }
                st.mapped.remove(addr, addr + len);
                Ok(())
            }
            Op::Protect { addr, len, prot } => {
                for (s, e) in st.mapped.within(addr, addr + len) {
                    let r = via
                        .inject(libc::SYS_mprotect, &[s, e - s, prot.bits() as u64])
                        .map_err(|e| self.lost(e))?;
                    // ENOMEM: a hole we did not know about; nothing to do.
                    if r != 0 && r != -(libc::ENOMEM as i64) {
                        return Err(PlatformError::NoMemory);
                    }
                }
                Ok(())
            }
        }
    }
}

impl Drop for SpaceInner {
    fn drop(&mut self) {
        // Kill every thread, reap the application threads (whoever traces
        // them: any Sentry thread may), then the stub's own drop reaps the
        // executor thread and, last, the leader.
        self.stub.kill();
        for t in std::mem::take(self.threads.get_mut().unwrap_or_else(|p| p.into_inner())) {
            t.t.reap();
        }
    }
}

/// An application address space on the ptrace platform: one stub process
/// holding the application's mappings of the memory file, with one thread
/// per context that runs in it.
///
/// Made by [`PtracePlatform::new_address_space`](crate::PtracePlatform)
/// from any host thread; any number of host threads may then switch into
/// it at once, each with its own context, and map, unmap or protect it at
/// any time. Dropping the last reference kills and reaps the stub, with
/// all its threads.
pub struct PtraceAddressSpace {
    inner: Arc<SpaceInner>,
    registry: Arc<Registry>,
}

impl PtraceAddressSpace {
    /// Wraps `inner` and registers it so contexts can find it.
    pub(crate) fn register(inner: SpaceInner, registry: Arc<Registry>) -> Arc<PtraceAddressSpace> {
        let space = Arc::new(PtraceAddressSpace {
            inner: Arc::new(inner),
            registry,
        });
        let key = Arc::as_ptr(&space) as usize;
        space.registry.lock().insert(key, Arc::downgrade(&space));
        space
    }

    pub(crate) fn inner(&self) -> &Arc<SpaceInner> {
        &self.inner
    }

    /// The stub process's pid (for diagnostics and tests).
    pub fn stub_pid(&self) -> i32 {
        self.inner.stub.pid
    }

    /// The tids of the stub's application threads (one per context that
    /// has switched into this space and not released it), for diagnostics
    /// and tests. The stub also has a leader (`stub_pid`) and an executor
    /// thread.
    pub fn stub_threads(&self) -> Vec<i32> {
        self.inner.thread_tids()
    }
}

impl Drop for PtraceAddressSpace {
    fn drop(&mut self) {
        let key = self as *const PtraceAddressSpace as usize;
        self.registry.lock().remove(&key);
    }
}

impl std::fmt::Debug for PtraceAddressSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PtraceAddressSpace")
            .field("stub", &self.inner.stub)
            .field("threads", &self.inner.thread_tids())
            .finish()
    }
}

impl AddressSpace for PtraceAddressSpace {
    fn map(
        &self,
        addr: UserAddr,
        len: u64,
        off: FileOffset,
        prot: Prot,
    ) -> Result<(), PlatformError> {
        let Some((addr, len)) = self.inner.check(addr, len)? else {
            return Ok(());
        };
        if off.0 & (PAGE - 1) != 0 || off.0.checked_add(len).is_none() {
            return Err(PlatformError::NoMemory);
        }
        self.inner.submit(Op::Map {
            addr,
            len,
            off: off.0,
            prot,
        })
    }

    fn unmap(&self, addr: UserAddr, len: u64) -> Result<(), PlatformError> {
        let Some((addr, len)) = self.inner.check(addr, len)? else {
            return Ok(());
        };
        self.inner.submit(Op::Unmap { addr, len })
    }

    fn protect(&self, addr: UserAddr, len: u64, prot: Prot) -> Result<(), PlatformError> {
        let Some((addr, len)) = self.inner.check(addr, len)? else {
            return Ok(());
        };
        self.inner.submit(Op::Protect { addr, len, prot })
    }
}
