//! Address spaces: one stub process each, whose mappings of the memory
//! file are made by injected `mmap` / `munmap` / `mprotect` calls.
//!
//! # Threads
//!
//! Only the stub's tracer, the host thread that called
//! `new_address_space`, can inject calls. [`AddressSpace::map`],
//! `unmap` and `protect` called on that thread take effect before they
//! return (one injected call each). Called on any other thread they are
//! queued, in order, and applied by the tracer before it next runs the
//! application (at the start of `Context::switch`); if the application
//! is running at that moment, the stub is also signalled, so the running
//! switch returns `Trap::Interrupted` and the next one applies the queue.
//! Since the application only observes its mappings while it runs, that
//! is equivalent to applying them at once as long as the application is
//! not running at the time, which holds while each process has one
//! thread served by its tracer (issue 2): the queue is a safety net, not
//! a mechanism for concurrent use. Multi-threaded processes (issue 3) will give each
//! (address space, host thread) pair its own stub thread, traced by that
//! host thread, so that every thread can inject directly.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use veil_core::platform::{AddressSpace, PlatformError, Prot};
use veil_core::{FileOffset, UserAddr};

use crate::stub::{Stub, PAGE};
use crate::{lost, sys};

/// The live address spaces of one platform, keyed by the address of the
/// `PtraceAddressSpace` inside its `Arc`, so that a context can find its
/// own type behind the `Arc<dyn AddressSpace>` core passes to `switch`.
/// An entry exists exactly while that object is alive (removed in its
/// `Drop`), so no other live object can have the same address.
#[derive(Default)]
pub(crate) struct Registry {
    spaces: Mutex<HashMap<usize, Weak<SpaceInner>>>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<usize, Weak<SpaceInner>>> {
        self.spaces.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The ptrace address space behind `space`, if it is one of ours.
    pub fn lookup(&self, space: &Arc<dyn AddressSpace>) -> Option<Arc<SpaceInner>> {
        let key = Arc::as_ptr(space) as *const () as usize;
        self.lock().get(&key).and_then(Weak::upgrade)
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }
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

/// Page-aligned, disjoint, coalesced ranges `[start, end)`.
#[derive(Default, Debug)]
pub(crate) struct RangeSet {
    r: BTreeMap<u64, u64>,
}

impl RangeSet {
    /// Adds `[s, e)`.
    pub fn insert(&mut self, mut s: u64, mut e: u64) {
        if s >= e {
            return;
        }
        // Absorb every range that overlaps or touches [s, e).
        let touching: Vec<(u64, u64)> = self
            .r
            .range(..=e)
            .rev()
            .take_while(|&(_, &re)| re >= s)
            .map(|(&rs, &re)| (rs, re))
            .collect();
        for (rs, re) in touching {
            self.r.remove(&rs);
            s = s.min(rs);
            e = e.max(re);
        }
        self.r.insert(s, e);
    }

    /// Removes `[s, e)`.
    pub fn remove(&mut self, s: u64, e: u64) {
        if s >= e {
            return;
        }
        let hit: Vec<(u64, u64)> = self
            .r
            .range(..e)
            .rev()
            .take_while(|&(_, &re)| re > s)
            .map(|(&rs, &re)| (rs, re))
            .collect();
        for (rs, re) in hit {
            self.r.remove(&rs);
            if rs < s {
                self.r.insert(rs, s);
            }
            if re > e {
                self.r.insert(e, re);
            }
        }
    }

    /// The parts of `[s, e)` that are in the set, in order.
    pub fn within(&self, s: u64, e: u64) -> Vec<(u64, u64)> {
        let mut v: Vec<(u64, u64)> = self
            .r
            .range(..e)
            .rev()
            .take_while(|&(_, &re)| re > s)
            .map(|(&rs, &re)| (rs.max(s), re.min(e)))
            .collect();
        v.reverse();
        v
    }
}

struct SpaceState {
    /// Operations from non-tracer threads, oldest first.
    pending: Vec<Op>,
    /// What is mapped in the stub (so `protect` can skip holes, which
    /// would stop `mprotect` half-way).
    mapped: RangeSet,
}

/// The shared part of a [`PtraceAddressSpace`]: the stub and its
/// mappings. Contexts reach it through the [`Registry`].
pub(crate) struct SpaceInner {
    pub stub: Stub,
    /// One past the highest application address.
    max: u64,
    /// The memory file's descriptor (same number in the stub).
    memfd: i32,
    state: Mutex<SpaceState>,
}

impl SpaceInner {
    pub fn new(stub: Stub, max: u64, memfd: i32) -> SpaceInner {
        SpaceInner {
            stub,
            max,
            memfd,
            state: Mutex::new(SpaceState {
                pending: Vec::new(),
                mapped: RangeSet::default(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SpaceState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
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

    fn submit(&self, op: Op) -> Result<(), PlatformError> {
        let mut st = self.lock();
        if sys::gettid() != self.stub.tracer {
            st.pending.push(op);
            drop(st);
            // If the application is running, stop it so the tracer applies
            // the change now rather than at its next trap. (Otherwise the
            // signal ends the next switch early, which is harmless.)
            let _ = sys::pidfd_send_signal(&self.stub.pidfd, libc::SIGURG);
            return Ok(());
        }
        self.drain(&mut st)?;
        self.apply(&mut st, op)
    }

    /// Applies queued operations. Must run on the tracer thread.
    pub fn apply_pending(&self) -> Result<(), PlatformError> {
        let mut st = self.lock();
        self.drain(&mut st)
    }

    fn drain(&self, st: &mut SpaceState) -> Result<(), PlatformError> {
        if st.pending.is_empty() {
            return Ok(());
        }
        let ops = std::mem::take(&mut st.pending);
        for op in ops {
            self.apply(st, op)?;
        }
        Ok(())
    }

    fn apply(&self, st: &mut SpaceState, op: Op) -> Result<(), PlatformError> {
        match op {
            Op::Map {
                addr,
                len,
                off,
                prot,
            } => {
                let r = self.stub.inject(
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
                    Err(e) => Err(lost(e)),
                }
            }
            Op::Unmap { addr, len } => {
                let r = self
                    .stub
                    .inject(libc::SYS_munmap, &[addr, len])
                    .map_err(lost)?;
                if r != 0 {
                    return Err(PlatformError::NoMemory);
                }
                st.mapped.remove(addr, addr + len);
                Ok(())
            }
            Op::Protect { addr, len, prot } => {
                for (s, e) in st.mapped.within(addr, addr + len) {
                    let r = self
                        .stub
                        .inject(libc::SYS_mprotect, &[s, e - s, prot.bits() as u64])
                        .map_err(lost)?;
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

/// An application address space on the ptrace platform: one stub process
/// holding the application's mappings of the memory file.
///
/// Made by [`PtracePlatform::new_address_space`](crate::PtracePlatform),
/// on the host thread that will run the application in it. Dropping the
/// last reference kills and reaps the stub.
pub struct PtraceAddressSpace {
    inner: Arc<SpaceInner>,
    registry: Arc<Registry>,
}

impl PtraceAddressSpace {
    /// Wraps `inner` and registers it so contexts can find it.
    pub(crate) fn register(inner: SpaceInner, registry: Arc<Registry>) -> Arc<PtraceAddressSpace> {
        let inner = Arc::new(inner);
        let weak = Arc::downgrade(&inner);
        let space = Arc::new(PtraceAddressSpace { inner, registry });
        let key = Arc::as_ptr(&space) as usize;
        space.registry.lock().insert(key, weak);
        space
    }

    /// The stub process's pid (for diagnostics and tests).
    pub fn stub_pid(&self) -> i32 {
        self.inner.stub.pid
    }

    /// The host thread that traces the stub.
    pub fn tracer_tid(&self) -> i32 {
        self.inner.stub.tracer
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

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &RangeSet) -> Vec<(u64, u64)> {
        s.r.iter().map(|(&a, &b)| (a, b)).collect()
    }

    #[test]
    fn rangeset_insert_coalesces() {
        let mut s = RangeSet::default();
        s.insert(10, 20);
        s.insert(30, 40);
        assert_eq!(v(&s), [(10, 20), (30, 40)]);
        s.insert(20, 30);
        assert_eq!(v(&s), [(10, 40)]);
        s.insert(5, 12);
        s.insert(38, 50);
        assert_eq!(v(&s), [(5, 50)]);
        s.insert(60, 70);
        s.insert(0, 100);
        assert_eq!(v(&s), [(0, 100)]);
        s.insert(7, 7);
        assert_eq!(v(&s), [(0, 100)]);
    }

    #[test]
    fn rangeset_remove_splits() {
        let mut s = RangeSet::default();
        s.insert(0, 100);
        s.remove(10, 20);
        assert_eq!(v(&s), [(0, 10), (20, 100)]);
        s.remove(5, 25);
        assert_eq!(v(&s), [(0, 5), (25, 100)]);
        s.remove(90, 200);
        assert_eq!(v(&s), [(0, 5), (25, 90)]);
        s.remove(0, 1000);
        assert!(v(&s).is_empty());
    }

    #[test]
    fn rangeset_within_clips() {
        let mut s = RangeSet::default();
        s.insert(0, 10);
        s.insert(20, 30);
        s.insert(40, 50);
        assert_eq!(s.within(5, 45), [(5, 10), (20, 30), (40, 45)]);
        assert_eq!(s.within(10, 20), []);
        assert_eq!(s.within(0, 100), [(0, 10), (20, 30), (40, 50)]);
    }
}
