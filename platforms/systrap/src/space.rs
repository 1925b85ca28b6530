//! Address spaces: one stub process each, whose mappings of the memory
//! file are made by the stub's *executor* thread on the Sentry's request.
//!
//! # The executor protocol
//!
//! The Sentry writes a batch of up to `MAX_CMDS` commands into the
//! control page (read-only in the stub), bumps `C_CMD_SEQ` and wakes the
//! executor if it sleeps. The executor runs the batch, stores the raw
//! results in the result page, sets `X_DONE_SEQ` and writes 1 to an
//! eventfd. The Sentry spins on `X_DONE_SEQ` (a hint the application
//! could forge, since it can write that page) and then *takes the
//! eventfd*, which only the executor can write (application threads may
//! not call `write` even from the stub's own instructions): a batch is
//! never considered done, and its command slots never reused, before the
//! executor has really finished it. The value written says whether every
//! command succeeded (1) or one failed (2); the per-command results in the
//! result page are only hints. Without that, an application could claim
//! an `munmap` finished (or succeeded) while its pages were still mapped,
//! and see them reused for another process. A failed `munmap` or
//! `mprotect` (the host ran out of mappings) kills the stub.
//!
//! `map`, `unmap` and `protect` are synchronous and may be called from
//! any thread, at any time, even while application threads run: the
//! executor is a separate thread that needs nobody to trap first, and the
//! host kernel makes an `munmap` or `mprotect` take effect for every
//! thread of the stub before it returns. Batches from different threads
//! are serialised by a mutex. (There is no thread binding at all on this
//! platform, unlike ptrace.)
//!
//! # Slots
//!
//! Each context that switches into the space gets its own application
//! thread, cloned by the executor into a free slot (up to `NSLOTS`). A
//! slot is reusable once the kernel has cleared its state word
//! (`CLONE_CHILD_CLEARTID`), i.e. once its previous thread is gone.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use veil_core::platform::{AddressSpace, PlatformError, Prot};
use veil_core::{FileOffset, UserAddr};
use veil_host::RangeSet;

use crate::filter::{self, FilterParams};
use crate::handoff::{self, Tuning};
use crate::layout::*;
use crate::spawn::{self, KernelSigaction, Plan};
use crate::stub_code::stub_code;
use crate::sys;

/// The Sentry's read-write mapping of a stub's memfd (the region from
/// `CTL_OFF` on). The stub writes it concurrently, so it is only ever
/// accessed through atomics and raw volatile copies, never through Rust
/// references to plain data, and everything read from it is untrusted.
pub(crate) struct Shm {
    base: usize,
}

impl Shm {
    fn map(fd: &OwnedFd) -> io::Result<Shm> {
        // SAFETY: a fresh shared mapping of our own memfd at a
        // kernel-chosen address.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                SHARED_LEN as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: our own mapping; later stubs need not inherit it.
        unsafe { libc::madvise(p, SHARED_LEN as usize, libc::MADV_DONTFORK) };
        Ok(Shm { base: p as usize })
    }

    /// The Sentry address of region offset `off`, for `len` bytes.
    #[inline]
    fn at(&self, off: u64, len: u64) -> usize {
        assert!(
            off >= CTL_OFF && off.checked_add(len).is_some_and(|e| e <= REGION_LEN),
            "shm access out of range"
        );
        self.base + (off - CTL_OFF) as usize
    }

    /// The shared `u32` at region offset `off` (4-aligned).
    pub fn word(&self, off: u64) -> &AtomicU32 {
        debug_assert_eq!(off % 4, 0);
        let p = self.at(off, 4) as *mut u32;
        // SAFETY: `p` is aligned and inside our mapping, which lives as
        // long as `self`; concurrent access from the stub is through
        // atomic instructions on its side too (or is the application's
        // own race, which only affects what we read).
        unsafe { AtomicU32::from_ptr(p) }
    }

    /// Reads the `u64` at region offset `off`.
    pub fn read_u64(&self, off: u64) -> u64 {
        let p = self.at(off, 8) as *const u64;
        // SAFETY: inside our mapping (checked); a raw read of plain bits.
        unsafe { p.read_unaligned() }
    }

    /// Writes the `u64` at region offset `off`.
    pub fn write_u64(&self, off: u64, v: u64) {
        let p = self.at(off, 8) as *mut u64;
        // SAFETY: as in `read_u64`.
        unsafe { p.write_unaligned(v) }
    }

    /// Copies `buf.len()` bytes from region offset `off`.
    pub fn read(&self, off: u64, buf: &mut [u8]) {
        let p = self.at(off, buf.len() as u64) as *const u8;
        // SAFETY: inside our mapping; `buf` is Sentry-private memory.
        unsafe { std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), buf.len()) }
    }

    /// Copies `data` to region offset `off`.
    pub fn write(&self, off: u64, data: &[u8]) {
        let p = self.at(off, data.len() as u64) as *mut u8;
        // SAFETY: as in `read`, the other way.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) }
    }
}

impl Drop for Shm {
    fn drop(&mut self) {
        // SAFETY: our own mapping; no references into it outlive `self`.
        unsafe { libc::munmap(self.base as *mut libc::c_void, SHARED_LEN as usize) };
    }
}

/// The live address spaces of one platform, keyed by the address of the
/// `SystrapAddressSpace` inside its `Arc`, so that a context can find its
/// own type behind the `Arc<dyn AddressSpace>` core passes to `switch`.
/// An entry exists exactly while that object is alive.
#[derive(Default)]
pub(crate) struct Registry {
    spaces: Mutex<HashMap<usize, Weak<SpaceInner>>>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<usize, Weak<SpaceInner>>> {
        self.spaces.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The systrap address space behind `space`, if it is one of ours.
    pub fn lookup(&self, space: &Arc<dyn AddressSpace>) -> Option<Arc<SpaceInner>> {
        let key = Arc::as_ptr(space) as *const () as usize;
        self.lock().get(&key).and_then(Weak::upgrade)
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }
}

/// One executor command: `[op, a0 .. a5]`.
pub(crate) type Cmd = [u64; 7];

struct ExecState {
    /// The last batch number written.
    seq: u32,
    /// What is mapped in the stub (so `protect` can skip holes, which
    /// would stop `mprotect` half-way).
    mapped: RangeSet,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotUse {
    Free,
    Busy,
    /// Its thread was told to exit; free once the kernel cleared its word.
    Exiting,
}

/// The shared part of a [`SystrapAddressSpace`]: the stub and its
/// control memory. Contexts reach it through the [`Registry`].
pub(crate) struct SpaceInner {
    /// The stub's pid (its executor's tid).
    pub pid: i32,
    pub pidfd: OwnedFd,
    /// The executor's confirmation eventfd (read end).
    efd: OwnedFd,
    pub shm: Shm,
    /// `R`: the region's address in the stub (and `max_user_address`).
    pub region: u64,
    pub tuning: Arc<Tuning>,
    exec: Mutex<ExecState>,
    slots: Mutex<Vec<SlotUse>>,
    /// Set once the stub is known dead or has been killed.
    lost: AtomicBool,
}

/// `SA_RESTORER` (x86-64 requires it; the `libc` crate does not export it).
const SA_RESTORER: u64 = 0x0400_0000;

impl SpaceInner {
    /// Makes a stub process whose executor is ready for commands.
    pub fn spawn(memfd: RawFd, region: u64, tuning: Arc<Tuning>) -> io::Result<SpaceInner> {
        let code = stub_code();
        let ctlfd = sys::memfd(b"veil-systrap\0", SHARED_LEN)?;
        let shm = Shm::map(&ctlfd)?;
        let efd = sys::eventfd()?;
        let ctl = |off: u64| CTL_OFF + off;
        shm.word(ctl(C_EXEC_SPIN))
            .store(tuning.exec_spin_iters, Ordering::Relaxed);
        // SAFETY: getauxval has no preconditions.
        let hwcap2 = unsafe { libc::getauxval(libc::AT_HWCAP2) };
        shm.word(ctl(C_FSGSBASE))
            .store((hwcap2 & 2 != 0) as u32, Ordering::Relaxed);
        shm.word(ctl(C_MEMFD))
            .store(memfd as u32, Ordering::Relaxed);
        shm.word(ctl(C_EFD))
            .store(efd.as_raw_fd() as u32, Ordering::Relaxed);
        shm.write_u64(ctl(C_ONE), 1);
        shm.write_u64(ctl(C_TWO), 2);
        shm.write_u64(ctl(C_FULL_SET), u64::MAX);
        shm.write_u64(ctl(C_TRAP_ONLY_SET), !(1u64 << (libc::SIGTRAP - 1)));
        shm.write_u64(ctl(C_MAX_ADDR), region);
        let xsave = std::arch::is_x86_feature_detected!("xsave");
        shm.word(ctl(C_XSAVE))
            .store(xsave as u32, Ordering::Relaxed);
        let mut xinit = [0u8; 576];
        xinit[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
        shm.write(ctl(C_XINIT), &xinit);
        let params = FilterParams {
            code_start: region + CODE_OFF,
            code_end: region + CODE_OFF + CODE_LEN,
            memfd: memfd as u32,
            efd: efd.as_raw_fd() as u32,
        };
        for (prog, at, fprog) in [
            (filter::base_filter(&params), C_FBASE, C_FBASE_FPROG),
            (filter::app_filter(&params), C_FAPP, C_FAPP_FPROG),
        ] {
            assert!(prog.len() <= FILTER_MAX);
            for (i, ins) in prog.iter().enumerate() {
                let mut b = [0u8; 8];
                b[..2].copy_from_slice(&ins.code.to_le_bytes());
                b[2] = ins.jt;
                b[3] = ins.jf;
                b[4..].copy_from_slice(&ins.k.to_le_bytes());
                shm.write(ctl(at) + 8 * i as u64, &b);
            }
            shm.write_u64(ctl(fprog), prog.len() as u64);
            shm.write_u64(ctl(fprog) + 8, region + ctl(at));
        }
        let plan = Plan {
            // SAFETY: getpid has no preconditions.
            parent: unsafe { libc::getpid() },
            region,
            code: code.bytes.as_ptr() as usize,
            code_len: code.bytes.len(),
            boot: code.boot,
            ctlfd: ctlfd.as_raw_fd(),
            keep: [memfd, efd.as_raw_fd()],
            act: KernelSigaction {
                handler: region + CODE_OFF + code.handler,
                flags: (libc::SA_SIGINFO | libc::SA_ONSTACK) as u64 | SA_RESTORER,
                restorer: region + CODE_OFF + code.restorer,
                mask: u64::MAX,
            },
        };
        let pid = spawn::spawn(plan)?;
        drop(ctlfd);
        let pidfd = match sys::pidfd_open(pid) {
            Ok(fd) => fd,
            Err(e) => {
                spawn::abandon(pid);
                return Err(e);
            }
        };
        match sys::poll2(&efd, &pidfd, 10_000) {
            sys::Ready::First if sys::eventfd_take(&efd).is_some() => {}
            _ => {
                let how = spawn::abandon(pid);
                return Err(io::Error::other(format!(
                    "the systrap stub did not start ({how}); exit codes 120-125 are \
                     the setup steps in spawn.rs"
                )));
            }
        }
        Ok(SpaceInner {
            pid,
            pidfd,
            efd,
            shm,
            region,
            tuning,
            exec: Mutex::new(ExecState {
                seq: 0,
                mapped: RangeSet::default(),
            }),
            slots: Mutex::new(vec![SlotUse::Free; NSLOTS as usize]),
            lost: AtomicBool::new(false),
        })
    }

    fn exec_lock(&self) -> MutexGuard<'_, ExecState> {
        self.exec.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the stub has been found dead or killed (no system call).
    pub fn known_lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }

    /// Whether the stub is dead (or doomed): checks its pidfd.
    pub fn is_lost(&self) -> bool {
        if self.lost.load(Ordering::Acquire) {
            return true;
        }
        if sys::pidfd_exited(&self.pidfd) {
            self.lost.store(true, Ordering::Release);
            return true;
        }
        false
    }

    /// Kills the stub (it misbehaved); it is reaped when the space goes.
    pub fn kill(&self) {
        self.lost.store(true, Ordering::Release);
        let _ = sys::pidfd_send_signal(&self.pidfd, libc::SIGKILL);
    }

    /// Runs `cmds` on the executor, in batches; returns the raw results
    /// (which the application could have overwritten) and whether every
    /// command succeeded (which it cannot forge: the executor says so in
    /// its eventfd confirmation).
    fn exec(&self, st: &mut ExecState, cmds: &[Cmd]) -> Result<(Vec<i64>, bool), PlatformError> {
        if self.lost.load(Ordering::Acquire) {
            return Err(PlatformError::Lost);
        }
        let mut out = Vec::with_capacity(cmds.len());
        let mut all_ok = true;
        let seq_word = self.shm.word(CTL_OFF + C_CMD_SEQ);
        let done_word = self.shm.word(EXR_OFF + X_DONE_SEQ);
        let sleeping = self.shm.word(EXR_OFF + X_SLEEPING);
        // The executor's spin for its next batch: none on a contended
        // host (it would take a CPU from the threads it waits for).
        let exec_spin = self.shm.word(CTL_OFF + C_EXEC_SPIN);
        let want = if self.tuning.contended() {
            0
        } else {
            self.tuning.exec_spin_iters
        };
        if exec_spin.load(Ordering::Relaxed) != want {
            exec_spin.store(want, Ordering::Relaxed);
        }
        for batch in cmds.chunks(MAX_CMDS as usize) {
            for (i, c) in batch.iter().enumerate() {
                let mut b = [0u8; 56];
                for (j, v) in c.iter().enumerate() {
                    b[8 * j..8 * j + 8].copy_from_slice(&v.to_le_bytes());
                }
                self.shm.write(CTL_OFF + C_CMDS + CMD_SIZE * i as u64, &b);
            }
            self.shm
                .word(CTL_OFF + C_NCMDS)
                .store(batch.len() as u32, Ordering::Relaxed);
            st.seq = st.seq.wrapping_add(1);
            let seq = st.seq;
            seq_word.store(seq, Ordering::SeqCst);
            if sleeping.load(Ordering::SeqCst) != 0 {
                sys::futex_wake(seq_word);
            }
            // Spin on the hint, then prove it with the eventfd.
            let mut confirmed = None;
            let budget = self.tuning.max_spin_ns;
            if handoff::spin_until(&self.tuning, budget, || {
                done_word.load(Ordering::Acquire) == seq
            }) {
                handoff::spin_until(&self.tuning, budget, || {
                    confirmed = sys::eventfd_take(&self.efd);
                    confirmed.is_some()
                });
            }
            while confirmed.is_none() {
                // Wake it even if the (forgeable) flag says it is awake.
                sys::futex_wake(seq_word);
                match sys::poll2(&self.efd, &self.pidfd, 1000) {
                    sys::Ready::First => confirmed = sys::eventfd_take(&self.efd),
                    sys::Ready::Second => {
                        self.lost.store(true, Ordering::Release);
                        return Err(PlatformError::Lost);
                    }
                    sys::Ready::Timeout => {}
                }
            }
            all_ok &= confirmed == Some(1);
            for i in 0..batch.len() {
                out.push(self.shm.read_u64(EXR_OFF + X_RESULTS + 8 * i as u64) as i64);
            }
        }
        Ok((out, all_ok))
    }

    /// The region offset of slot `slot`.
    pub fn slot_off(slot: usize) -> u64 {
        SLOTS_OFF + slot as u64 * SLOT_SIZE
    }

    /// Clones a new application thread into a free slot; returns the slot
    /// and the thread's tid (as the executor reports it: untrusted, used
    /// only to aim interrupts, which the kernel confines to the stub; 0 if
    /// it makes no sense).
    /// The thread then traps once, in the stub code, before it runs
    /// anything else.
    pub fn new_thread(&self) -> Result<(usize, i32), PlatformError> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let free = slots.iter().position(|u| *u == SlotUse::Free);
            let free = free.or_else(|| {
                (0..slots.len()).find(|&i| {
                    slots[i] == SlotUse::Exiting
                        && self
                            .shm
                            .word(Self::slot_off(i) + S_STUB_STATE)
                            .load(Ordering::Acquire)
                            == 0
                })
            });
            let slot = free.ok_or(PlatformError::NoMemory)?;
            slots[slot] = SlotUse::Busy;
            slot
        };
        let s = Self::slot_off(slot);
        // A clean state page: the handler's first trap bumps 1 to 2.
        self.shm.write(s, &[0u8; 0x60]);
        self.shm.word(s + S_STUB_STATE).store(1, Ordering::SeqCst);
        let r = {
            let mut st = self.exec_lock();
            self.exec(&mut st, &[[OP_CLONE, slot as u64, 0, 0, 0, 0, 0]])
        };
        match r {
            // The clone happened (the executor's confirmation says so);
            // the tid it reports the application could have overwritten.
            // A wrong one only misdirects this thread's interrupts, which
            // the kernel keeps inside the stub; a switch that then gets no
            // answer to an interrupt kills the stub after a grace period.
            Ok((v, true)) => Ok((slot, i32::try_from(v[0]).unwrap_or(0).max(0))),
            Ok((_, false)) => {
                self.free_slot(slot);
                Err(PlatformError::NoMemory)
            }
            Err(e) => Err(e),
        }
    }

    fn free_slot(&self, slot: usize) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots[slot] = SlotUse::Free;
    }

    /// Marks `slot` as being given up: its thread has been told to exit.
    pub fn release_slot(&self, slot: usize) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots[slot] = SlotUse::Exiting;
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
            Some(end) if end <= self.region => Ok(Some((a, l))),
            _ => Err(PlatformError::NoMemory),
        }
    }
}

impl Drop for SpaceInner {
    fn drop(&mut self) {
        let _ = sys::pidfd_send_signal(&self.pidfd, libc::SIGKILL);
        sys::reap(self.pid);
    }
}

/// An application address space on the systrap platform: one stub
/// process holding the application's mappings of the memory file.
///
/// Any thread may use it (map, unmap, protect, switch into it), at any
/// time. Dropping the last reference kills and reaps the stub.
pub struct SystrapAddressSpace {
    inner: Arc<SpaceInner>,
    registry: Arc<Registry>,
}

impl SystrapAddressSpace {
    /// Wraps `inner` and registers it so contexts can find it.
    pub(crate) fn register(inner: SpaceInner, registry: Arc<Registry>) -> Arc<SystrapAddressSpace> {
        let inner = Arc::new(inner);
        let weak = Arc::downgrade(&inner);
        let space = Arc::new(SystrapAddressSpace { inner, registry });
        let key = Arc::as_ptr(&space) as usize;
        space.registry.lock().insert(key, weak);
        space
    }

    /// The stub process's pid (for diagnostics and tests).
    pub fn stub_pid(&self) -> i32 {
        self.inner.pid
    }

    /// Runs several operations in one executor batch (one hand-off for
    /// all of them). Same semantics as calling them in order.
    pub fn apply(&self, ops: &[SpaceOp]) -> Result<(), PlatformError> {
        let mut cmds = Vec::with_capacity(ops.len());
        let mut st = self.inner.exec_lock();
        // Pre-checks, then the commands, then the bookkeeping.
        for op in ops {
            match *op {
                SpaceOp::Map {
                    addr,
                    len,
                    off,
                    prot,
                } => {
                    let Some((a, l)) = self.inner.check(addr, len)? else {
                        continue;
                    };
                    if off.0 & (PAGE - 1) != 0 || off.0.checked_add(l).is_none() {
                        return Err(PlatformError::NoMemory);
                    }
                    cmds.push([OP_MAP, a, l, prot.bits() as u64, 0, 0, off.0]);
                }
                SpaceOp::Unmap { addr, len } => {
                    let Some((a, l)) = self.inner.check(addr, len)? else {
                        continue;
                    };
                    cmds.push([OP_UNMAP, a, l, 0, 0, 0, 0]);
                }
                SpaceOp::Protect { addr, len, prot } => {
                    let Some((a, l)) = self.inner.check(addr, len)? else {
                        continue;
                    };
                    // Earlier maps/unmaps of this batch count: apply the
                    // batch so far first if it touches this range.
                    if !cmds.is_empty() {
                        let done = std::mem::take(&mut cmds);
                        self.run(&mut st, &done)?;
                    }
                    for (s, e) in st.mapped.within(a, a + l) {
                        cmds.push([OP_PROTECT, s, e - s, prot.bits() as u64, 0, 0, 0]);
                    }
                    let done = std::mem::take(&mut cmds);
                    self.run(&mut st, &done)?;
                }
            }
        }
        self.run(&mut st, &cmds)
    }

    fn run(&self, st: &mut ExecState, cmds: &[Cmd]) -> Result<(), PlatformError> {
        if cmds.is_empty() {
            return Ok(());
        }
        let (res, all_ok) = self.inner.exec(st, cmds)?;
        if !all_ok && cmds.iter().any(|c| c[0] != OP_MAP) {
            // An unmap or protect failed (the host ran out of mappings):
            // the stub may still reach pages core is about to reuse.
            // Never let it run again.
            self.inner.kill();
            return Err(PlatformError::Lost);
        }
        // What may be mapped: a map counts even if it failed (a failed
        // MAP_FIXED may or may not have replaced the range, and a result
        // the application overwrote must not make us skip a range in a
        // later `protect`); an mprotect over a real hole then fails and
        // kills the stub, which is safe.
        for c in cmds {
            let (a, l) = (c[1], c[2]);
            match c[0] {
                OP_MAP => st.mapped.insert(a, a + l),
                OP_UNMAP => st.mapped.remove(a, a + l),
                _ => {}
            }
        }
        // Which map failed, only the (forgeable) results say; a wrong
        // answer only misleads the application about its own memory.
        if all_ok || cmds.iter().zip(&res).all(|(c, &r)| r as u64 == c[1]) {
            Ok(())
        } else {
            Err(PlatformError::NoMemory)
        }
    }
}

/// One operation for [`SystrapAddressSpace::apply`].
#[derive(Clone, Copy, Debug)]
pub enum SpaceOp {
    /// As [`AddressSpace::map`].
    Map {
        /// Where.
        addr: UserAddr,
        /// Bytes.
        len: u64,
        /// Memory-file offset.
        off: FileOffset,
        /// Protection.
        prot: Prot,
    },
    /// As [`AddressSpace::unmap`].
    Unmap {
        /// Where.
        addr: UserAddr,
        /// Bytes.
        len: u64,
    },
    /// As [`AddressSpace::protect`].
    Protect {
        /// Where.
        addr: UserAddr,
        /// Bytes.
        len: u64,
        /// Protection.
        prot: Prot,
    },
}

impl Drop for SystrapAddressSpace {
    fn drop(&mut self) {
        let key = self as *const SystrapAddressSpace as usize;
        self.registry.lock().remove(&key);
    }
}

impl std::fmt::Debug for SystrapAddressSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystrapAddressSpace")
            .field("stub_pid", &self.inner.pid)
            .field("lost", &self.inner.lost.load(Ordering::Relaxed))
            .finish()
    }
}

impl AddressSpace for SystrapAddressSpace {
    fn map(
        &self,
        addr: UserAddr,
        len: u64,
        off: FileOffset,
        prot: Prot,
    ) -> Result<(), PlatformError> {
        self.apply(&[SpaceOp::Map {
            addr,
            len,
            off,
            prot,
        }])
    }

    fn unmap(&self, addr: UserAddr, len: u64) -> Result<(), PlatformError> {
        self.apply(&[SpaceOp::Unmap { addr, len }])
    }

    fn protect(&self, addr: UserAddr, len: u64, prot: Prot) -> Result<(), PlatformError> {
        self.apply(&[SpaceOp::Protect { addr, len, prot }])
    }
}
