//! A fake platform for tests: a memory file in memory, address spaces that
//! record what core mapped, and contexts that run a *scripted* program
//! instead of machine code. Also a fake clock, a deterministic random
//! source, a blocker that never sleeps, a logger that keeps its lines, a
//! tiny in-memory filesystem, and [`TestBed`], which builds a [`Kernel`]
//! and [`Task`]s with no host at all.
//!
//! The scripted [`FakeContext`] behaves like a CPU in one important way:
//! its loads, stores and instruction fetches go through the fake address
//! space, so an access to a page core has not mapped (or mapped with too
//! little protection) comes back as [`Trap::PageFault`], exactly as on a
//! real platform, and the bytes it sees are the memory-file pages core
//! mapped. Tests can thus check that the platform's view and core's page
//! table agree.
//!
//! Enabled with `cfg(test)` or the `fake` feature (for other crates'
//! tests). Not a model of anything beyond what core's tests need: the
//! filesystem has no permissions of its own, no rename, no hard links.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec;
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use spin::Mutex;
use veil_abi::{Errno, Timespec, PAGE_SIZE};

use crate::addr::{FileOffset, UserAddr};
use crate::host::{Blocker, Clock, Identity, Logger, Nanos, Random, WakeReason};
use crate::kernel::{Kernel, KernelOptions, KernelParts};
use crate::mm::MemoryManager;
use crate::platform::{
    Access, AddressSpace, Context, CpuState, Interrupter, MemoryFile, Platform, PlatformError,
    Prot, Trap,
};
use crate::task::{Credentials, Pending, Task, ThreadGroup};
use crate::vfs::{
    Dentry, DirEntry, FdTable, FileOps, FileType, FsContext, Inode, InodeAttr, InodeRef,
    MountNamespace, Owner,
};

// -------------------------------------------------------------------------
// Memory file

/// A sparse memory file: pages exist only once written.
#[derive(Default)]
pub struct FakeMemoryFile {
    inner: Mutex<MfInner>,
}

#[derive(Default)]
struct MfInner {
    size: u64,
    pages: BTreeMap<u64, Box<[u8]>>,
    grows: u64,
    decommits: u64,
}

impl FakeMemoryFile {
    /// An empty file.
    pub fn new() -> FakeMemoryFile {
        FakeMemoryFile::default()
    }

    /// How many times the file grew.
    pub fn grow_calls(&self) -> u64 {
        self.inner.lock().grows
    }

    /// How many decommit calls were made.
    pub fn decommit_calls(&self) -> u64 {
        self.inner.lock().decommits
    }

    fn check(size: u64, off: u64, len: u64) -> Result<(), Errno> {
        match off.checked_add(len) {
            Some(e) if e <= size => Ok(()),
            _ => Err(Errno::EFAULT),
        }
    }

    /// Applies `f(page, offset in page, range in data)` for each page.
    fn pieces(off: u64, len: usize, mut f: impl FnMut(u64, usize, core::ops::Range<usize>)) {
        let mut pos = 0usize;
        while pos < len {
            let at = off + pos as u64;
            let in_page = (at % PAGE_SIZE) as usize;
            let n = (PAGE_SIZE as usize - in_page).min(len - pos);
            f(at / PAGE_SIZE, in_page, pos..pos + n);
            pos += n;
        }
    }
}

impl MemoryFile for FakeMemoryFile {
    fn size(&self) -> u64 {
        self.inner.lock().size
    }

    fn grow(&self, size: u64) -> Result<(), PlatformError> {
        let mut g = self.inner.lock();
        if size > g.size {
            g.size = size;
            g.grows += 1;
        }
        Ok(())
    }

    fn read(&self, off: FileOffset, buf: &mut [u8]) -> Result<(), Errno> {
        let g = self.inner.lock();
        Self::check(g.size, off.0, buf.len() as u64)?;
        Self::pieces(off.0, buf.len(), |page, at, r| match g.pages.get(&page) {
            Some(p) => buf[r.clone()].copy_from_slice(&p[at..at + r.len()]),
            None => buf[r].fill(0),
        });
        Ok(())
    }

    fn write(&self, off: FileOffset, data: &[u8]) -> Result<(), Errno> {
        let mut g = self.inner.lock();
        Self::check(g.size, off.0, data.len() as u64)?;
        Self::pieces(off.0, data.len(), |page, at, r| {
            let p = g
                .pages
                .entry(page)
                .or_insert_with(|| vec![0u8; PAGE_SIZE as usize].into_boxed_slice());
            p[at..at + r.len()].copy_from_slice(&data[r]);
        });
        Ok(())
    }

    fn zero(&self, off: FileOffset, len: u64) -> Result<(), Errno> {
        let mut g = self.inner.lock();
        Self::check(g.size, off.0, len)?;
        let len = usize::try_from(len).map_err(|_| Errno::EFAULT)?;
        Self::pieces(off.0, len, |page, at, r| {
            if let Some(p) = g.pages.get_mut(&page) {
                p[at..at + r.len()].fill(0);
            }
        });
        Ok(())
    }

    fn decommit(&self, off: FileOffset, len: u64) -> Result<(), Errno> {
        let mut g = self.inner.lock();
        Self::check(g.size, off.0, len)?;
        g.decommits += 1;
        let (lo, hi) = (off.0 / PAGE_SIZE, (off.0 + len).div_ceil(PAGE_SIZE));
        let keys: Vec<u64> = g.pages.range(lo..hi).map(|(&k, _)| k).collect();
        for k in keys {
            g.pages.remove(&k);
        }
        Ok(())
    }

    fn resident(&self) -> Option<u64> {
        Some(self.inner.lock().pages.len() as u64 * PAGE_SIZE)
    }
}

// -------------------------------------------------------------------------
// Address space

/// Counts of calls core made into an address space.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpaceCalls {
    /// `map` calls.
    pub map: u64,
    /// `unmap` calls.
    pub unmap: u64,
    /// `protect` calls.
    pub protect: u64,
}

/// An address space that records what is mapped where, page by page.
#[derive(Default)]
pub struct FakeAddressSpace {
    /// Page number -> (memory-file offset, protection).
    maps: Mutex<BTreeMap<u64, (u64, Prot)>>,
    calls: Mutex<SpaceCalls>,
}

impl FakeAddressSpace {
    /// What the platform shows at `addr`'s page: (memory-file offset of
    /// the page, protection).
    pub fn lookup(&self, addr: u64) -> Option<(FileOffset, Prot)> {
        self.maps
            .lock()
            .get(&(addr / PAGE_SIZE))
            .map(|&(o, p)| (FileOffset(o), p))
    }

    /// Every mapped page: (address, memory-file offset, protection).
    pub fn mapped(&self) -> Vec<(u64, u64, Prot)> {
        self.maps
            .lock()
            .iter()
            .map(|(&p, &(o, pr))| (p * PAGE_SIZE, o, pr))
            .collect()
    }

    /// Calls made so far.
    pub fn calls(&self) -> SpaceCalls {
        *self.calls.lock()
    }
}

impl AddressSpace for FakeAddressSpace {
    fn map(
        &self,
        addr: UserAddr,
        len: u64,
        off: FileOffset,
        prot: Prot,
    ) -> Result<(), PlatformError> {
        assert!(
            addr.is_page_aligned() && (len | off.0) & (PAGE_SIZE - 1) == 0,
            "unaligned map({addr:?}, {len:#x}, {off:?})"
        );
        self.calls.lock().map += 1;
        let mut m = self.maps.lock();
        for i in 0..len / PAGE_SIZE {
            m.insert(addr.0 / PAGE_SIZE + i, (off.0 + i * PAGE_SIZE, prot));
        }
        Ok(())
    }

    fn unmap(&self, addr: UserAddr, len: u64) -> Result<(), PlatformError> {
        self.calls.lock().unmap += 1;
        let mut m = self.maps.lock();
        let (lo, hi) = (addr.0 / PAGE_SIZE, addr.0.saturating_add(len) / PAGE_SIZE);
        let keys: Vec<u64> = m.range(lo..hi).map(|(&k, _)| k).collect();
        for k in keys {
            m.remove(&k);
        }
        Ok(())
    }

    fn protect(&self, addr: UserAddr, len: u64, prot: Prot) -> Result<(), PlatformError> {
        self.calls.lock().protect += 1;
        let mut m = self.maps.lock();
        let (lo, hi) = (addr.0 / PAGE_SIZE, addr.0.saturating_add(len) / PAGE_SIZE);
        for (_, v) in m.range_mut(lo..hi) {
            v.1 = prot;
        }
        Ok(())
    }
}

// -------------------------------------------------------------------------
// Platform and context

/// The fake platform.
pub struct FakePlatform {
    this: Weak<FakePlatform>,
    mf: Arc<FakeMemoryFile>,
    spaces: Mutex<Vec<Weak<FakeAddressSpace>>>,
    max_user: u64,
    /// Report every data access as `Access::Read`, as a platform that
    /// cannot tell writes from reads does.
    pub imprecise_access: AtomicBool,
}

impl FakePlatform {
    /// A platform whose user address space ends at Linux's TASK_SIZE.
    pub fn new() -> Arc<FakePlatform> {
        Self::with_max_address(crate::mm::TASK_SIZE)
    }

    /// A platform whose user address space ends at `max_user`.
    pub fn with_max_address(max_user: u64) -> Arc<FakePlatform> {
        Arc::new_cyclic(|this| FakePlatform {
            this: this.clone(),
            mf: Arc::new(FakeMemoryFile::new()),
            spaces: Mutex::new(Vec::new()),
            max_user,
            imprecise_access: AtomicBool::new(false),
        })
    }

    /// The concrete memory file.
    pub fn fake_memory_file(&self) -> &Arc<FakeMemoryFile> {
        &self.mf
    }

    /// The fake address space behind `space`, if this platform made it.
    pub fn fake_space(&self, space: &Arc<dyn AddressSpace>) -> Option<Arc<FakeAddressSpace>> {
        let want = Arc::as_ptr(space) as *const ();
        self.spaces
            .lock()
            .iter()
            .find(|w| w.as_ptr() as *const () == want)
            .and_then(|w| w.upgrade())
    }

    /// A scripted context running `steps`.
    pub fn context(self: &Arc<Self>, steps: Vec<Step>) -> FakeContext {
        FakeContext {
            platform: self.clone(),
            steps: steps.into(),
            log: Arc::new(Mutex::new(ScriptLog::default())),
            awaiting_result: false,
            streak: 0,
            fp: vec![0u8; 512],
            interrupted: Arc::new(FakeInterrupter::default()),
        }
    }
}

impl Platform for FakePlatform {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn new_address_space(&self) -> Result<Arc<dyn AddressSpace>, PlatformError> {
        let s = Arc::new(FakeAddressSpace::default());
        let mut spaces = self.spaces.lock();
        spaces.retain(|w| w.strong_count() > 0);
        spaces.push(Arc::downgrade(&s));
        Ok(s)
    }

    /// A context with an empty script (it exits at once); tests give
    /// scripts with [`FakePlatform::context`].
    fn new_context(&self) -> Result<Box<dyn Context>, PlatformError> {
        let me = self.this.upgrade().ok_or(PlatformError::Lost)?;
        Ok(Box::new(me.context(Vec::new())))
    }

    fn memory_file(&self) -> Arc<dyn MemoryFile> {
        self.mf.clone()
    }

    fn max_user_address(&self) -> u64 {
        self.max_user
    }

    /// Every fake context runs on the test's own threads: a fence is the
    /// barrier.
    fn have_memory_barrier(&self) -> bool {
        true
    }

    fn memory_barrier(&self) -> bool {
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        true
    }
}

/// One step of a scripted program.
pub enum Step {
    /// Execute `syscall` with this number and arguments; the result (rax)
    /// is appended to [`ScriptLog::results`].
    Syscall(u64, [u64; 6]),
    /// Load `len` bytes at the address; the bytes are appended to
    /// [`ScriptLog::reads`].
    Read(u64, usize),
    /// Store the bytes at the address.
    Write(u64, Vec<u8>),
    /// Fetch an instruction at the address.
    Exec(u64),
    /// Look at (or change) the registers, then go on.
    Check(Box<dyn FnMut(&mut CpuState) + Send>),
}

/// What a scripted program observed.
#[derive(Clone, Debug, Default)]
pub struct ScriptLog {
    /// Syscall results (rax), in order.
    pub results: Vec<u64>,
    /// Bytes read by `Step::Read`, in order.
    pub reads: Vec<Vec<u8>>,
    /// Page faults reported, in order.
    pub faults: Vec<(u64, Access)>,
}

/// How many faults in a row one step may take before the fake CPU gives
/// up with SIGSEGV (core failed to make progress).
const MAX_STREAK: u32 = 128;

#[derive(Default)]
struct FakeInterrupter {
    flag: AtomicBool,
}

impl Interrupter for FakeInterrupter {
    fn interrupt(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }
}

/// A context that runs a list of [`Step`]s. When the steps run out it
/// calls `exit_group(0)`.
pub struct FakeContext {
    platform: Arc<FakePlatform>,
    steps: VecDeque<Step>,
    log: Arc<Mutex<ScriptLog>>,
    awaiting_result: bool,
    streak: u32,
    fp: Vec<u8>,
    interrupted: Arc<FakeInterrupter>,
}

impl FakeContext {
    /// What the program observed so far (shared; read it after `run`).
    pub fn log(&self) -> Arc<Mutex<ScriptLog>> {
        self.log.clone()
    }

    /// Checks that `len` bytes at `addr` are mapped with `need`; returns
    /// the first failing address.
    fn probe(space: &FakeAddressSpace, addr: u64, len: u64, need: Access) -> Result<(), u64> {
        let mut at = addr;
        let end = addr.saturating_add(len.max(1));
        while at < end {
            let ok = match space.lookup(at) {
                Some((_, p)) => match need {
                    Access::Read => !p.is_empty(),
                    Access::Write => p.contains(Prot::WRITE),
                    Access::Exec => p.contains(Prot::EXEC),
                },
                None => false,
            };
            if !ok {
                return Err(at);
            }
            at = (at / PAGE_SIZE + 1) * PAGE_SIZE;
        }
        Ok(())
    }

    fn fault(&mut self, addr: u64, access: Access) -> Trap {
        self.streak += 1;
        if self.streak > MAX_STREAK {
            self.streak = 0;
            self.steps.pop_front();
            return Trap::Exception {
                signo: veil_abi::flags::SIGSEGV,
                code: 0,
                addr,
            };
        }
        let reported =
            if self.platform.imprecise_access.load(Ordering::Relaxed) && access == Access::Write {
                Access::Read
            } else {
                access
            };
        self.log.lock().faults.push((addr, reported));
        Trap::PageFault {
            addr,
            access: reported,
        }
    }
}

impl Context for FakeContext {
    fn switch(
        &mut self,
        space: &Arc<dyn AddressSpace>,
        cpu: &mut CpuState,
    ) -> Result<Trap, PlatformError> {
        if self.awaiting_result {
            self.awaiting_result = false;
            self.log.lock().results.push(cpu.regs.rax);
        }
        if self.interrupted.flag.swap(false, Ordering::SeqCst) {
            return Ok(Trap::Interrupted);
        }
        let fs = self.platform.fake_space(space).ok_or(PlatformError::Lost)?;
        let mf = self.platform.mf.clone();
        loop {
            let Some(step) = self.steps.front_mut() else {
                let r = &mut cpu.regs;
                r.orig_rax = veil_abi::sysno::EXIT_GROUP;
                r.rax = r.orig_rax;
                r.rdi = 0;
                return Ok(Trap::Syscall);
            };
            match step {
                Step::Syscall(nr, a) => {
                    let r = &mut cpu.regs;
                    r.orig_rax = *nr;
                    r.rax = *nr;
                    r.rdi = a[0];
                    r.rsi = a[1];
                    r.rdx = a[2];
                    r.r10 = a[3];
                    r.r8 = a[4];
                    r.r9 = a[5];
                    r.rip = r.rip.wrapping_add(2);
                    self.steps.pop_front();
                    self.streak = 0;
                    self.awaiting_result = true;
                    return Ok(Trap::Syscall);
                }
                Step::Read(addr, len) => {
                    let (addr, len) = (*addr, *len);
                    if let Err(at) = Self::probe(&fs, addr, len as u64, Access::Read) {
                        return Ok(self.fault(at, Access::Read));
                    }
                    let mut out = vec![0u8; len];
                    let mut pos = 0usize;
                    while pos < len {
                        let at = addr + pos as u64;
                        let n = ((PAGE_SIZE - at % PAGE_SIZE) as usize).min(len - pos);
                        let (off, _) = fs.lookup(at).ok_or(PlatformError::Lost)?;
                        mf.read(off.add(at % PAGE_SIZE), &mut out[pos..pos + n])
                            .map_err(|_| PlatformError::Lost)?;
                        pos += n;
                    }
                    self.log.lock().reads.push(out);
                }
                Step::Write(addr, data) => {
                    let addr = *addr;
                    let data = core::mem::take(data);
                    if let Err(at) = Self::probe(&fs, addr, data.len() as u64, Access::Write) {
                        if let Some(Step::Write(_, d)) = self.steps.front_mut() {
                            *d = data;
                        }
                        return Ok(self.fault(at, Access::Write));
                    }
                    let mut pos = 0usize;
                    while pos < data.len() {
                        let at = addr + pos as u64;
                        let n = ((PAGE_SIZE - at % PAGE_SIZE) as usize).min(data.len() - pos);
                        let (off, _) = fs.lookup(at).ok_or(PlatformError::Lost)?;
                        mf.write(off.add(at % PAGE_SIZE), &data[pos..pos + n])
                            .map_err(|_| PlatformError::Lost)?;
                        pos += n;
                    }
                }
                Step::Exec(addr) => {
                    let addr = *addr;
                    if let Err(at) = Self::probe(&fs, addr, 1, Access::Exec) {
                        return Ok(self.fault(at, Access::Exec));
                    }
                    cpu.regs.rip = addr;
                }
                Step::Check(f) => f(cpu),
            }
            self.steps.pop_front();
            self.streak = 0;
        }
    }

    fn fp_state(&mut self, out: &mut Vec<u8>) -> Result<(), PlatformError> {
        out.clear();
        out.extend_from_slice(&self.fp);
        Ok(())
    }

    fn set_fp_state(&mut self, state: &[u8]) -> Result<(), PlatformError> {
        self.fp = state.to_vec();
        Ok(())
    }

    fn reset_fp_state(&mut self) -> Result<(), PlatformError> {
        self.fp = vec![0u8; 512];
        Ok(())
    }

    fn interrupter(&self) -> Arc<dyn Interrupter> {
        self.interrupted.clone()
    }
}

// -------------------------------------------------------------------------
// Host services

/// A clock that moves only when told to.
#[derive(Default)]
pub struct FakeClock {
    mono: AtomicU64,
}

/// The fake wall clock's value at monotonic zero (2024-01-01T00:00:00Z).
pub const FAKE_EPOCH: i64 = 1_704_067_200;

impl FakeClock {
    /// A clock at monotonic zero.
    pub fn new() -> FakeClock {
        FakeClock::default()
    }

    /// Moves time forward by `ns`.
    pub fn advance(&self, ns: Nanos) {
        self.mono.fetch_add(ns, Ordering::SeqCst);
    }

    /// Moves time to at least `ns`.
    pub fn advance_to(&self, ns: Nanos) {
        self.mono.fetch_max(ns, Ordering::SeqCst);
    }

    /// Monotonic nanoseconds.
    pub fn now(&self) -> Nanos {
        self.mono.load(Ordering::SeqCst)
    }
}

fn ts(ns: u64, base: i64) -> Timespec {
    Timespec {
        tv_sec: base + (ns / 1_000_000_000) as i64,
        tv_nsec: (ns % 1_000_000_000) as i64,
    }
}

impl Clock for FakeClock {
    fn realtime(&self) -> Timespec {
        ts(self.now(), FAKE_EPOCH)
    }
    fn monotonic(&self) -> Timespec {
        ts(self.now(), 0)
    }
}

/// Deterministic "randomness" (xorshift64*), the same for every run.
pub struct FakeRandom {
    state: Mutex<u64>,
}

impl FakeRandom {
    /// A generator seeded with `seed` (0 is replaced by a constant).
    pub fn new(seed: u64) -> FakeRandom {
        FakeRandom {
            state: Mutex::new(if seed == 0 {
                0x9e37_79b9_7f4a_7c15
            } else {
                seed
            }),
        }
    }
}

impl Random for FakeRandom {
    fn fill(&self, buf: &mut [u8]) {
        let mut s = self.state.lock();
        for chunk in buf.chunks_mut(8) {
            *s ^= *s >> 12;
            *s ^= *s << 25;
            *s ^= *s >> 27;
            let v = s.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// A blocker that never sleeps: a pending wake or interrupt ends `block`
/// at once; with nothing pending, a deadline "passes" (the clock, if
/// given, jumps to it) and otherwise the block is interrupted, so a test
/// can never hang.
#[derive(Default)]
pub struct FakeBlocker {
    woken: AtomicBool,
    interrupted: AtomicBool,
    clock: Option<Arc<FakeClock>>,
}

impl FakeBlocker {
    /// A blocker that advances `clock` to deadlines.
    pub fn with_clock(clock: Arc<FakeClock>) -> FakeBlocker {
        FakeBlocker {
            clock: Some(clock),
            ..FakeBlocker::default()
        }
    }

    /// Takes a pending interrupt (first) or wake, what ends a `block` at
    /// once.
    pub fn take_pending(&self) -> Option<WakeReason> {
        if self.interrupted.swap(false, Ordering::SeqCst) {
            return Some(WakeReason::Interrupted);
        }
        if self.woken.swap(false, Ordering::SeqCst) {
            return Some(WakeReason::Woken);
        }
        None
    }
}

impl Blocker for FakeBlocker {
    fn block(&self, deadline: Option<Nanos>) -> WakeReason {
        if let Some(r) = self.take_pending() {
            return r;
        }
        match deadline {
            Some(d) => {
                if let Some(c) = &self.clock {
                    c.advance_to(d);
                }
                WakeReason::TimedOut
            }
            None => WakeReason::Interrupted,
        }
    }
    fn wake(&self) {
        self.woken.store(true, Ordering::SeqCst);
    }
    fn interrupt(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
    }
}

/// A kernel on `platform` over the mount tree `mounts`, with `clock`,
/// `logger`, the fake random source (seed 1) and a test machine's
/// identity (`veil`, 6.1.0, 1 GiB, 2 CPUs): what the test beds run on.
pub fn new_kernel(
    platform: Arc<dyn Platform>,
    mounts: Arc<MountNamespace>,
    clock: Arc<FakeClock>,
    logger: Arc<FakeLogger>,
    options: KernelOptions,
) -> Arc<Kernel> {
    Kernel::new(KernelParts {
        platform,
        clock,
        random: Arc::new(FakeRandom::new(1)),
        logger,
        identity: Identity {
            hostname: "veil".into(),
            release: "6.1.0".into(),
            version: "#1 SMP veil".into(),
            total_memory: 1 << 30,
            cpus: 2,
        },
        mounts,
        options,
    })
}

/// A new task of `kernel` (its own thread group, not registered) running
/// as `creds` and sleeping on `blocker`, with an empty address space, no
/// fds, root and cwd at the mount root, umask 022, no signal state
/// attached: what the test beds build theirs on.
pub fn new_task(kernel: &Arc<Kernel>, creds: Credentials, blocker: Arc<dyn Blocker>) -> Task {
    let mm = MemoryManager::for_kernel(kernel).expect("fake address space");
    let pid = kernel.alloc_pid();
    let root = kernel.mounts.root();
    Task {
        kernel: kernel.clone(),
        tid: pid,
        tg: Arc::new(ThreadGroup::new(pid, 0)),
        mm: Arc::new(mm),
        fds: Arc::new(FdTable::new()),
        fs: Arc::new(Mutex::new(FsContext {
            root: root.clone(),
            cwd: root,
            umask: 0o022,
        })),
        creds,
        cpu: CpuState::default(),
        sigmask: 0,
        clear_child_tid: 0,
        robust_list: (0, 0),
        blocker,
        pending: Pending::default(),
        signals: Default::default(),
        seccomp: Default::default(),
    }
}

/// Timers driven by the fake clock: nothing fires until a test moves time
/// with [`run_until`](FakeTimers::run_until) or
/// [`advance`](FakeTimers::advance), which fire the due callbacks one at a
/// time in deadline order (ties in arming order), setting the clock to
/// each deadline first, so a callback sees the time it was due at and may
/// arm again (a deadline already past fires at the next call).
pub struct FakeTimers {
    clock: Arc<FakeClock>,
    state: Mutex<FakeTimerState>,
}

#[derive(Default)]
struct FakeTimerState {
    queue: BTreeMap<(Nanos, crate::host::TimerId), crate::host::TimerCallback>,
    next_id: crate::host::TimerId,
    fired: u64,
}

impl FakeTimers {
    /// Timers on `clock`.
    pub fn new(clock: Arc<FakeClock>) -> FakeTimers {
        FakeTimers {
            clock,
            state: Mutex::new(FakeTimerState::default()),
        }
    }

    /// Fires, in order, every timer due at or before `t` (including ones
    /// armed by the callbacks), then sets the clock to `t` (if later).
    /// Returns how many fired.
    pub fn run_until(&self, t: Nanos) -> u64 {
        let mut n = 0;
        loop {
            let next = {
                let mut g = self.state.lock();
                match g.queue.first_entry() {
                    Some(e) if e.key().0 <= t => {
                        let ((d, _), f) = e.remove_entry();
                        g.fired += 1;
                        Some((d, f))
                    }
                    _ => None,
                }
            };
            let Some((d, f)) = next else {
                break;
            };
            self.clock.advance_to(d);
            f();
            n += 1;
        }
        self.clock.advance_to(t);
        n
    }

    /// Moves the clock forward by `ns`, firing what comes due.
    pub fn advance(&self, ns: Nanos) -> u64 {
        self.run_until(self.clock.now().saturating_add(ns))
    }

    /// Fires what is due now.
    pub fn run_due(&self) -> u64 {
        self.run_until(self.clock.now())
    }

    /// Timers armed and not yet fired or cancelled.
    pub fn pending(&self) -> usize {
        self.state.lock().queue.len()
    }

    /// The earliest armed deadline.
    pub fn next_deadline(&self) -> Option<Nanos> {
        self.state.lock().queue.keys().next().map(|k| k.0)
    }

    /// Callbacks run so far.
    pub fn fired(&self) -> u64 {
        self.state.lock().fired
    }
}

impl crate::host::TimerService for FakeTimers {
    fn arm(&self, deadline: Nanos, f: crate::host::TimerCallback) -> crate::host::TimerId {
        let mut g = self.state.lock();
        let id = g.next_id;
        g.next_id += 1;
        g.queue.insert((deadline, id), f);
        id
    }

    fn cancel(&self, id: crate::host::TimerId) {
        self.state.lock().queue.retain(|k, _| k.1 != id);
    }
}

/// A logger that keeps its lines.
#[derive(Default)]
pub struct FakeLogger {
    lines: Mutex<Vec<String>>,
}

impl FakeLogger {
    /// The lines logged so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().clone()
    }
}

impl Logger for FakeLogger {
    fn line(&self, s: &str) {
        self.lines.lock().push(s.into());
    }
}

// -------------------------------------------------------------------------
// A tiny in-memory filesystem

static NEXT_INO: AtomicU64 = AtomicU64::new(2);
/// The device number the fake filesystem reports.
pub const FAKE_DEV: u64 = veil_abi::makedev(0, 42);

fn next_ino() -> u64 {
    NEXT_INO.fetch_add(1, Ordering::Relaxed)
}

fn attr_of(ino: u64, mode: u32, nlink: u64, size: u64) -> InodeAttr {
    InodeAttr {
        dev: FAKE_DEV,
        ino,
        mode,
        nlink,
        blksize: 4096,
        size,
        blocks: size.div_ceil(512),
        ..InodeAttr::default()
    }
}

/// A directory.
pub struct FakeDir {
    ino: u64,
    mode: u32,
    children: Mutex<BTreeMap<Vec<u8>, InodeRef>>,
    /// The children that are directories, typed (for building trees).
    subdirs: Mutex<BTreeMap<Vec<u8>, Arc<FakeDir>>>,
}

impl FakeDir {
    /// An empty directory with permission bits `perm`.
    pub fn new(perm: u32) -> Arc<FakeDir> {
        Arc::new(FakeDir {
            ino: next_ino(),
            mode: veil_abi::flags::S_IFDIR | (perm & 0o7777),
            children: Mutex::new(BTreeMap::new()),
            subdirs: Mutex::new(BTreeMap::new()),
        })
    }

    /// Adds `node` as `name`, replacing what was there.
    pub fn put(&self, name: &[u8], node: InodeRef) {
        self.subdirs.lock().remove(name);
        self.children.lock().insert(name.to_vec(), node);
    }

    /// Adds the directory `d` as `name`.
    pub fn put_dir(&self, name: &[u8], d: Arc<FakeDir>) {
        self.children.lock().insert(name.to_vec(), d.clone());
        self.subdirs.lock().insert(name.to_vec(), d);
    }

    /// The directory at `path` below this one (made if missing).
    pub fn dir(self: &Arc<Self>, path: &str) -> Arc<FakeDir> {
        let mut cur = self.clone();
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            let existing = cur.subdirs.lock().get(comp.as_bytes()).cloned();
            let next = match existing {
                Some(d) => d,
                None => {
                    let d = FakeDir::new(0o755);
                    cur.put_dir(comp.as_bytes(), d.clone());
                    d
                }
            };
            cur = next;
        }
        cur
    }

    /// Adds a regular file at `path` (directories made as needed).
    pub fn add_file(self: &Arc<Self>, path: &str, data: &[u8], perm: u32) -> Arc<FakeFile> {
        let (dir, name) = split_path(path);
        let f = FakeFile::new(data, perm);
        self.dir(dir).put(name.as_bytes(), f.clone());
        f
    }

    /// Adds a symlink at `path` pointing to `target`.
    pub fn add_symlink(self: &Arc<Self>, path: &str, target: &str) {
        let (dir, name) = split_path(path);
        self.dir(dir).put(
            name.as_bytes(),
            Arc::new(FakeSymlink {
                ino: next_ino(),
                target: target.as_bytes().to_vec(),
            }),
        );
    }
}

fn split_path(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}

impl Inode for FakeDir {
    fn attr(&self) -> Result<InodeAttr, Errno> {
        Ok(attr_of(self.ino, self.mode, 2, 4096))
    }
    fn lookup(&self, _cx: &Task, name: &[u8]) -> Result<InodeRef, Errno> {
        self.children.lock().get(name).cloned().ok_or(Errno::ENOENT)
    }
    fn mknod(
        &self,
        name: &[u8],
        kind: FileType,
        mode: u32,
        _rdev: u64,
        _owner: Owner,
    ) -> Result<InodeRef, Errno> {
        if kind != FileType::Regular {
            return Err(Errno::EPERM);
        }
        let mut c = self.children.lock();
        if c.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let f: InodeRef = FakeFile::new(&[], mode);
        c.insert(name.to_vec(), f.clone());
        Ok(f)
    }
    fn mkdir(&self, name: &[u8], mode: u32, _owner: Owner) -> Result<InodeRef, Errno> {
        let mut c = self.children.lock();
        if c.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let d = FakeDir::new(mode);
        c.insert(name.to_vec(), d.clone());
        self.subdirs.lock().insert(name.to_vec(), d.clone());
        Ok(d)
    }
    fn unlink(&self, name: &[u8]) -> Result<(), Errno> {
        self.subdirs.lock().remove(name);
        self.children
            .lock()
            .remove(name)
            .map(|_| ())
            .ok_or(Errno::ENOENT)
    }
    fn readdir(&self, offset: u64, sink: &mut dyn FnMut(DirEntry) -> bool) -> Result<(), Errno> {
        let c = self.children.lock();
        for (i, (name, node)) in c.iter().enumerate().skip(offset as usize) {
            let a = node.attr()?;
            let e = DirEntry {
                ino: a.ino,
                kind: a.file_type().unwrap_or(FileType::Regular),
                name: name.clone(),
                next: i as u64 + 1,
            };
            if !sink(e) {
                break;
            }
        }
        Ok(())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A regular file held in memory.
pub struct FakeFile {
    ino: u64,
    mode: Mutex<u32>,
    body: Arc<FileBody>,
}

/// The contents of a [`FakeFile`], shared with its open files.
#[derive(Default)]
struct FileBody {
    data: Mutex<Vec<u8>>,
    reads: AtomicU64,
}

impl FakeFile {
    /// A file with `data` and permission bits `perm`.
    pub fn new(data: &[u8], perm: u32) -> Arc<FakeFile> {
        Arc::new(FakeFile {
            ino: next_ino(),
            mode: Mutex::new(veil_abi::flags::S_IFREG | (perm & 0o7777)),
            body: Arc::new(FileBody {
                data: Mutex::new(data.to_vec()),
                reads: AtomicU64::new(0),
            }),
        })
    }

    /// Replaces the contents.
    pub fn set_data(&self, data: &[u8]) {
        *self.body.data.lock() = data.to_vec();
    }

    /// How many `read` calls were made through open files.
    pub fn read_calls(&self) -> u64 {
        self.body.reads.load(Ordering::Relaxed)
    }

    /// An open file over this file's contents.
    pub fn ops(&self) -> Arc<dyn FileOps> {
        Arc::new(FakeFileOps {
            body: self.body.clone(),
        })
    }
}

impl Inode for FakeFile {
    fn attr(&self) -> Result<InodeAttr, Errno> {
        Ok(attr_of(
            self.ino,
            *self.mode.lock(),
            1,
            self.body.data.lock().len() as u64,
        ))
    }
    fn set_attr(&self, set: &crate::vfs::SetAttr) -> Result<(), Errno> {
        if let Some(m) = set.mode {
            let mut mode = self.mode.lock();
            *mode = (*mode & veil_abi::flags::S_IFMT) | (m & 0o7777);
        }
        if let Some(s) = set.size {
            let s = usize::try_from(s).map_err(|_| Errno::EFBIG)?;
            self.body.data.lock().resize(s, 0);
        }
        Ok(())
    }
    fn open(&self, _cx: &Task, _flags: u32) -> Result<Arc<dyn FileOps>, Errno> {
        Ok(self.ops())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// An open [`FakeFile`].
struct FakeFileOps {
    body: Arc<FileBody>,
}

impl FileOps for FakeFileOps {
    fn read(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        self.body.reads.fetch_add(1, Ordering::Relaxed);
        let d = self.body.data.lock();
        let Ok(off) = usize::try_from(offset) else {
            return Ok(0);
        };
        if off >= d.len() {
            return Ok(0);
        }
        let n = buf.len().min(d.len() - off);
        buf[..n].copy_from_slice(&d[off..off + n]);
        Ok(n)
    }
    fn write(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        let mut d = self.body.data.lock();
        let off = usize::try_from(offset).map_err(|_| Errno::EFBIG)?;
        let end = off.checked_add(buf.len()).ok_or(Errno::EFBIG)?;
        if d.len() < end {
            d.resize(end, 0);
        }
        d[off..end].copy_from_slice(buf);
        Ok(buf.len())
    }
    fn size(&self) -> Result<u64, Errno> {
        Ok(self.body.data.lock().len() as u64)
    }
    fn truncate(&self, size: u64) -> Result<(), Errno> {
        let size = usize::try_from(size).map_err(|_| Errno::EFBIG)?;
        self.body.data.lock().resize(size, 0);
        Ok(())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A symbolic link.
pub struct FakeSymlink {
    ino: u64,
    target: Vec<u8>,
}

impl Inode for FakeSymlink {
    fn attr(&self) -> Result<InodeAttr, Errno> {
        Ok(attr_of(
            self.ino,
            veil_abi::flags::S_IFLNK | 0o777,
            1,
            self.target.len() as u64,
        ))
    }
    fn readlink(&self, _cx: &Task) -> Result<Vec<u8>, Errno> {
        Ok(self.target.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

// -------------------------------------------------------------------------
// Test bed

/// A kernel on the fake platform with an in-memory root filesystem, and a
/// way to make tasks and run scripts.
pub struct TestBed {
    /// The kernel.
    pub kernel: Arc<Kernel>,
    /// The platform.
    pub platform: Arc<FakePlatform>,
    /// The root directory.
    pub root: Arc<FakeDir>,
    /// The clock.
    pub clock: Arc<FakeClock>,
    /// The logger.
    pub logger: Arc<FakeLogger>,
    /// The timers (on `clock`; the kernel's [`TimerService`](crate::host::TimerService)).
    pub timers: Arc<FakeTimers>,
}

impl Default for TestBed {
    fn default() -> Self {
        Self::new()
    }
}

impl TestBed {
    /// A test bed with a TASK_SIZE address space.
    pub fn new() -> TestBed {
        Self::with_platform(FakePlatform::new())
    }

    /// A test bed over `platform`.
    pub fn with_platform(platform: Arc<FakePlatform>) -> TestBed {
        let root = FakeDir::new(0o755);
        let mounts = MountNamespace::new(Dentry::new_root(root.clone()), "fakefs", "none");
        let clock = Arc::new(FakeClock::new());
        let logger = Arc::new(FakeLogger::default());
        let kernel = new_kernel(
            platform.clone(),
            mounts,
            clock.clone(),
            logger.clone(),
            KernelOptions::default(),
        );
        let timers = Arc::new(FakeTimers::new(clock.clone()));
        kernel.set_timers(timers.clone());
        TestBed {
            kernel,
            platform,
            root,
            clock,
            logger,
            timers,
        }
    }

    /// A new task (its own thread group) with an empty address space, no
    /// fds, root and cwd at `/`, running as root.
    pub fn task(&self) -> Task {
        self.task_as(Credentials::new(0, 0, Vec::new()))
    }

    /// Like [`task`](Self::task) with the given credentials.
    pub fn task_as(&self, creds: Credentials) -> Task {
        let blocker = Arc::new(FakeBlocker::with_clock(self.clock.clone()));
        let t = new_task(&self.kernel, creds, blocker);
        crate::signal::attach(&t);
        t
    }

    /// Adds a regular file to the root filesystem.
    pub fn add_file(&self, path: &str, data: &[u8], perm: u32) -> Arc<FakeFile> {
        self.root.add_file(path, data, perm)
    }

    /// The fake address space of `task`.
    pub fn space(&self, task: &Task) -> Arc<FakeAddressSpace> {
        self.platform
            .fake_space(task.mm.space())
            .expect("a fake address space")
    }

    /// Runs `steps` as `task`'s program until it exits; returns the exit
    /// status and what the program observed.
    pub fn run(&self, task: &mut Task, steps: Vec<Step>) -> (crate::task::ExitStatus, ScriptLog) {
        let mut ctx = self.platform.context(steps);
        let log = ctx.log();
        let st = self.kernel.run(task, &mut ctx);
        let out = log.lock().clone();
        (st, out)
    }
}

// -------------------------------------------------------------------------
// ELF images for loader tests

/// One PT_LOAD segment of an [`ElfBuilder`] image.
#[derive(Clone, Debug)]
pub struct ElfSegment {
    /// Virtual address (before any load bias).
    pub vaddr: u64,
    /// File contents (`p_filesz` is its length).
    pub data: Vec<u8>,
    /// `p_memsz` (at least `data.len()` unless a test wants otherwise).
    pub memsz: u64,
    /// `PF_*` flags.
    pub flags: u32,
}

/// Builds small x86-64 ELF images: an ELF header, program headers, an
/// optional PT_INTERP, PT_LOAD segments at file offsets congruent to their
/// addresses, and optionally a first read-only PT_LOAD that maps the
/// headers (so AT_PHDR points into memory, as in real binaries).
#[derive(Clone, Debug)]
pub struct ElfBuilder {
    /// `ET_EXEC` or `ET_DYN`.
    pub e_type: u16,
    /// `e_entry`.
    pub entry: u64,
    /// The segments.
    pub segments: Vec<ElfSegment>,
    /// PT_INTERP path (without the NUL, which is added).
    pub interp: Option<Vec<u8>>,
    /// Map the headers read-only at this address with a first PT_LOAD.
    pub headers_at: Option<u64>,
    /// Add PT_GNU_STACK with these flags.
    pub gnu_stack: Option<u32>,
}

impl ElfBuilder {
    /// An image of type `e_type` entering at `entry`, with no segments.
    pub fn new(e_type: u16, entry: u64) -> ElfBuilder {
        ElfBuilder {
            e_type,
            entry,
            segments: Vec::new(),
            interp: None,
            headers_at: None,
            gnu_stack: Some(veil_abi::elf::PF_R | veil_abi::elf::PF_W),
        }
    }

    /// Adds a segment.
    pub fn segment(mut self, vaddr: u64, data: &[u8], memsz: u64, flags: u32) -> ElfBuilder {
        self.segments.push(ElfSegment {
            vaddr,
            data: data.to_vec(),
            memsz,
            flags,
        });
        self
    }

    /// Sets PT_INTERP.
    pub fn interp(mut self, path: &str) -> ElfBuilder {
        self.interp = Some(path.as_bytes().to_vec());
        self
    }

    /// Maps the headers at `vaddr`.
    pub fn headers_at(mut self, vaddr: u64) -> ElfBuilder {
        self.headers_at = Some(vaddr);
        self
    }

    /// The program headers and file layout, without writing.
    pub fn phdrs(&self) -> Vec<veil_abi::Elf64Phdr> {
        self.layout().0
    }

    fn layout(&self) -> (Vec<veil_abi::Elf64Phdr>, Vec<(u64, Vec<u8>)>) {
        use veil_abi::elf::*;
        use veil_abi::Elf64Phdr;
        let nph = self.segments.len()
            + usize::from(self.interp.is_some())
            + usize::from(self.headers_at.is_some())
            + usize::from(self.gnu_stack.is_some());
        let hdr_end = 64 + 56 * nph as u64;
        let mut chunks: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut ph = Vec::new();
        let mut off = hdr_end;
        if let Some(i) = &self.interp {
            let mut s = i.clone();
            s.push(0);
            ph.push(Elf64Phdr {
                p_type: PT_INTERP,
                p_flags: PF_R,
                p_offset: off,
                p_filesz: s.len() as u64,
                p_memsz: s.len() as u64,
                p_align: 1,
                ..Elf64Phdr::default()
            });
            off += s.len() as u64;
            chunks.push((hdr_end, s));
        }
        if let Some(v) = self.headers_at {
            ph.push(Elf64Phdr {
                p_type: PT_LOAD,
                p_flags: PF_R,
                p_offset: 0,
                p_vaddr: v,
                p_paddr: v,
                p_filesz: off,
                p_memsz: off,
                p_align: PAGE_SIZE,
            });
        }
        for s in &self.segments {
            // Next offset congruent with vaddr modulo the page size.
            let want = s.vaddr % PAGE_SIZE;
            let mut o = (off / PAGE_SIZE + 1) * PAGE_SIZE + want;
            if o < off {
                o += PAGE_SIZE;
            }
            ph.push(Elf64Phdr {
                p_type: PT_LOAD,
                p_flags: s.flags,
                p_offset: o,
                p_vaddr: s.vaddr,
                p_paddr: s.vaddr,
                p_filesz: s.data.len() as u64,
                p_memsz: s.memsz,
                p_align: PAGE_SIZE,
            });
            chunks.push((o, s.data.clone()));
            off = o + s.data.len() as u64;
        }
        if let Some(f) = self.gnu_stack {
            ph.push(Elf64Phdr {
                p_type: PT_GNU_STACK,
                p_flags: f,
                p_align: 16,
                ..Elf64Phdr::default()
            });
        }
        (ph, chunks)
    }

    /// The image with these program headers (which a test may have
    /// changed).
    pub fn build_with(&self, phdrs: &[veil_abi::Elf64Phdr]) -> Vec<u8> {
        use veil_abi::elf::*;
        use zerocopy::IntoBytes;
        let (_, chunks) = self.layout();
        let mut ident = [0u8; 16];
        ident[..4].copy_from_slice(&MAGIC);
        ident[4] = CLASS64;
        ident[5] = DATA2LSB;
        ident[6] = 1;
        let eh = veil_abi::Elf64Ehdr {
            e_ident: ident,
            e_type: self.e_type,
            e_machine: EM_X86_64,
            e_version: 1,
            e_entry: self.entry,
            e_phoff: 64,
            e_shoff: 0,
            e_flags: 0,
            e_ehsize: 64,
            e_phentsize: 56,
            e_phnum: phdrs.len() as u16,
            e_shentsize: 64,
            e_shnum: 0,
            e_shstrndx: 0,
        };
        let mut out = Vec::new();
        out.extend_from_slice(eh.as_bytes());
        for p in phdrs {
            out.extend_from_slice(p.as_bytes());
        }
        for (o, d) in chunks {
            let o = o as usize;
            if out.len() < o + d.len() {
                out.resize(o + d.len(), 0);
            }
            out[o..o + d.len()].copy_from_slice(&d);
        }
        out
    }

    /// The image.
    pub fn build(&self) -> Vec<u8> {
        self.build_with(&self.phdrs())
    }
}
