//! Contexts: one application thread, run in a stub thread of its own.
//!
//! The first [`Context::switch`] into an address space clones a thread
//! for this context into the stub (see [`SpaceInner::new_thread`]); that
//! thread traps once in the stub code, and from then on the thread is
//! always either running application code or waiting in the stub's
//! signal handler, its registers in the signal frame on its slot's
//! alternate stack. A switch is then:
//!
//! 1. write core's registers into that frame's `sigcontext` (sanitised
//!    only as far as `rt_sigreturn` requires), the FP state into its XSAVE
//!    area if core changed it, an empty signal mask, and the wanted
//!    `fs_base`/`gs_base` into the slot;
//! 2. bump `S_SENTRY_STATE` (waking the handler if it sleeps);
//! 3. wait for `S_STUB_STATE` to change (see [`crate::handoff`]): the
//!    handler, entered for the next SIGSYS / fault / signal, has put the
//!    new frame's address in the slot;
//! 4. validate the frame's pointers (they must lie in this slot's
//!    alternate stack; a frame elsewhere means the application tampered
//!    with its own stub, which is then killed: `PlatformError::Lost`) and
//!    decode the trap from `siginfo` and `sigcontext`:
//!    - SIGSYS from the seccomp filter (`si_code` SYS_SECCOMP, x86-64):
//!      [`Trap::Syscall`]. The kernel has already rolled `rax` back to
//!      the number and left `rip` after the `syscall`; the host never ran
//!      the call. A 32-bit call (`int 0x80`, or any call from 32-bit
//!      code) is reported as Linux without IA32 emulation would:
//!      `Exception { SIGSEGV, SI_KERNEL }` with `rip` back at the
//!      instruction. A call of the host's vsyscall page is
//!      `Exception { SIGSYS, 1, addr }` with `rip`/`rsp` already returned
//!      to the caller and `rax` the call's number, as on ptrace;
//!    - SIGSEGV `SEGV_MAPERR`/`SEGV_ACCERR`: [`Trap::PageFault`], with the
//!      access kind taken from the hardware page-fault error code the
//!      kernel puts in `sigcontext.err` (write bit, instruction-fetch
//!      bit): exact, unlike ptrace's inference;
//!    - any other kernel-raised SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP:
//!      [`Trap::Exception`] with its `si_code` and `si_addr`;
//!    - anything else (the [`Interrupter`]'s SIGURG, a signal sent from
//!      the host): [`Trap::Interrupted`]; it never reaches the
//!      application.
//!
//! Contexts are not bound to host threads: any thread may switch a
//! context (one at a time, which `&mut self` ensures), and any number of
//! contexts may run in one address space at once, each on its own stub
//! thread. Switching into another address space (execve) moves the FP
//! state along and lets the old stub thread exit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use veil_abi::PtRegs;
use veil_core::platform::{
    Access, AddressSpace, Context, CpuState, Interrupter, PlatformError, Trap,
};

use crate::filter::AUDIT_ARCH_X86_64;
use crate::fpu::{self, FP_XSTATE_MAGIC2};
use crate::handoff::{self, Tuning};
use crate::layout::*;
use crate::space::{Registry, SpaceInner};
use crate::stub_code::stub_code;
use crate::sys;
use veil_host::x86::{
    is_fault, is_page_fault, user_base, user_selector, INT80_TRAP, USER_CS, USER_DS,
};

/// The signal an [`Interrupter`] sends to the stub thread.
const INTERRUPT_SIGNAL: i32 = libc::SIGURG;
/// How long a switch waits for the stub after an interrupt before it
/// declares the stub broken and kills it.
const INTERRUPT_GRACE: Duration = Duration::from_secs(2);
/// Sleeps are cut into slices this long to notice a dead stub.
const SLEEP_SLICE: Duration = Duration::from_millis(250);

const SYS_SECCOMP: i32 = 1;
const PF_WRITE: u64 = 1 << 1;
const PF_INSTR: u64 = 1 << 4;
const X86_TRAP_PF: u64 = 14;
const VSYSCALL: u64 = 0xffff_ffff_ff60_0000;
const UC_FP_XSTATE: u64 = 1;
const UC_SIGCONTEXT_SS: u64 = 2;

// FP state waiting to be loaded at the next switch.
use veil_host::fpu::Pending as FpPending;

/// Interrupts one context: a flag the next switch checks, and a signal to
/// its stub thread while a switch runs.
#[derive(Default)]
struct Irq {
    pending: AtomicBool,
    running: AtomicBool,
    /// The stub and thread the context runs in.
    target: Mutex<Option<(Weak<SpaceInner>, i32)>>,
}

impl Interrupter for Irq {
    fn interrupt(&self) {
        self.pending.store(true, Ordering::SeqCst);
        if !self.running.load(Ordering::SeqCst) {
            return;
        }
        let target = self
            .target
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some((space, tid)) = target {
            // While `space` is alive its stub is not reaped, so its pid is
            // not reused; the kernel checks that `tid` belongs to it.
            if let Some(s) = space.upgrade() {
                let _ = sys::tgkill(s.pid, tid, INTERRUPT_SIGNAL);
            }
        }
    }
}

/// The validated addresses of the last signal frame, as region offsets.
#[derive(Clone, Copy, Debug)]
struct Frame {
    uctx: u64,
    siginfo: u64,
    /// The XSAVE area (0 if the frame has none).
    fp: u64,
}

/// The stub thread a context runs in.
struct Bound {
    space: Weak<SpaceInner>,
    slot: usize,
    /// The last `S_STUB_STATE` value seen.
    seen: u32,
    /// The last `S_SENTRY_STATE` value written.
    reply: u32,
    /// The frame the thread waits in.
    frame: Frame,
    /// The frame is the thread's first (stub code, FP not yet loaded).
    fresh: bool,
    /// The registers as the frame holds them (decoded at the trap): a
    /// reply writes only the ones core changed.
    last: PtRegs,
    /// What the slot's reply fields hold (`fs`, `gs`, spin, yields): a
    /// reply writes only what changed. (The application could change
    /// them behind our back; that only affects its own thread.)
    sent: [u64; 4],
}

impl Bound {
    fn slot_off(&self) -> u64 {
        SpaceInner::slot_off(self.slot)
    }
}

/// One application thread on the systrap platform.
pub struct SystrapContext {
    registry: Arc<Registry>,
    tuning: Arc<Tuning>,
    irq: Arc<Irq>,
    bound: Option<Bound>,
    fp: FpPending,
    /// The adaptive spin budget for waiting on traps, in ns.
    budget_ns: u64,
}

impl SystrapContext {
    pub(crate) fn new(registry: Arc<Registry>, tuning: Arc<Tuning>) -> SystrapContext {
        let budget_ns = tuning.max_spin_ns;
        SystrapContext {
            registry,
            tuning,
            irq: Arc::new(Irq::default()),
            bound: None,
            fp: FpPending::None,
            budget_ns,
        }
    }

    /// The tid of the stub thread this context runs in, if any (for tests
    /// and diagnostics).
    pub fn stub_tid(&self) -> Option<i32> {
        let t = self.irq.target.lock().unwrap_or_else(|p| p.into_inner());
        t.as_ref().map(|(_, tid)| *tid)
    }

    fn bound_to(&self, inner: &Arc<SpaceInner>) -> bool {
        self.bound
            .as_ref()
            .is_some_and(|b| std::ptr::eq(b.space.as_ptr(), Arc::as_ptr(inner)))
    }

    /// Reads the FP state from the frame the thread waits in.
    fn read_fp(&self) -> Option<Vec<u8>> {
        let b = self.bound.as_ref()?;
        let l = fpu::known_layout()?;
        let s = b.space.upgrade()?;
        if b.frame.fp == 0 || b.fresh {
            return None;
        }
        let mut v = vec![0u8; l.size];
        s.shm.read(b.frame.fp, &mut v);
        Some(v)
    }

    /// Lets the current stub thread go (it exits).
    fn release(&mut self) {
        let Some(b) = self.bound.take() else {
            return;
        };
        *self.irq.target.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let Some(s) = b.space.upgrade() else {
            return;
        };
        let off = b.slot_off();
        s.shm
            .word(off + S_ACTION)
            .store(ACTION_EXIT, Ordering::Relaxed);
        let state = s.shm.word(off + S_SENTRY_STATE);
        state.store(b.reply.wrapping_add(1), Ordering::SeqCst);
        sys::futex_wake(state);
        s.release_slot(b.slot);
    }

    /// Starts running in `inner`: a thread of our own there, the FP state
    /// carried over from the previous space.
    fn enter(&mut self, inner: &Arc<SpaceInner>) -> Result<(), PlatformError> {
        if matches!(self.fp, FpPending::None) {
            if let Some(st) = self.read_fp() {
                self.fp = FpPending::State(st);
            }
        }
        self.release();
        let (slot, tid) = inner.new_thread()?;
        let mut b = Bound {
            space: Arc::downgrade(inner),
            slot,
            seen: 1,
            reply: 0,
            frame: Frame {
                uctx: 0,
                siginfo: 0,
                fp: 0,
            },
            fresh: true,
            last: PtRegs::default(),
            sent: [u64::MAX; 4],
        };
        // Its first trap, in the stub code.
        let r = self
            .wait_trap(inner, &mut b)
            .and_then(|()| frame(inner, &b));
        let r = r.and_then(|f| {
            // It must be the thread's own `int3`, after the application
            // filter was installed (see stub_code.rs).
            let rip = inner.shm.read_u64(f.uctx + UC_MCONTEXT + 128);
            let want = inner.region + CODE_OFF + stub_code().first_trap;
            let mut signo = [0u8; 4];
            inner.shm.read(f.siginfo, &mut signo);
            if rip == want && i32::from_le_bytes(signo) == libc::SIGTRAP {
                Ok(f)
            } else {
                inner.kill();
                Err(PlatformError::Lost)
            }
        });
        match r {
            Ok(f) => b.frame = f,
            Err(e) => {
                self.bound = Some(b);
                self.release();
                return Err(e);
            }
        }
        *self.irq.target.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Arc::downgrade(inner), tid));
        self.bound = Some(b);
        Ok(())
    }

    /// Waits for the stub thread's next trap (see [`crate::handoff`]).
    fn wait_trap(&mut self, inner: &SpaceInner, b: &mut Bound) -> Result<(), PlatformError> {
        let off = b.slot_off();
        let word = inner.shm.word(off + S_STUB_STATE);
        let old = b.seen;
        let changed = || word.load(Ordering::Acquire) != old;
        if !handoff::spin_until(&self.tuning, self.budget_ns, changed) {
            self.budget_ns = (self.budget_ns / 2).max(self.tuning.min_spin_ns);
            let sleeping = inner.shm.word(off + S_SENTRY_SLEEPING);
            let mut irq_since: Option<Instant> = None;
            loop {
                sleeping.store(1, Ordering::SeqCst);
                if word.load(Ordering::SeqCst) != old {
                    sleeping.store(0, Ordering::Relaxed);
                    break;
                }
                sys::futex_wait(word, old, Some(SLEEP_SLICE));
                sleeping.store(0, Ordering::Relaxed);
                if word.load(Ordering::Acquire) != old {
                    break;
                }
                if inner.is_lost() {
                    return Err(PlatformError::Lost);
                }
                if self.irq.pending.load(Ordering::SeqCst) {
                    let t = *irq_since.get_or_insert_with(Instant::now);
                    if t.elapsed() > INTERRUPT_GRACE {
                        // The handler does not answer: the application
                        // broke its own stub. Never hang the Sentry.
                        inner.kill();
                        return Err(PlatformError::Lost);
                    }
                }
            }
        } else {
            self.budget_ns = self.tuning.max_spin_ns;
        }
        let v = word.load(Ordering::Acquire);
        if v == 0 {
            // The kernel cleared the word: the thread is gone.
            return Err(PlatformError::Lost);
        }
        b.seen = v;
        Ok(())
    }

    fn run(&mut self, inner: &Arc<SpaceInner>, cpu: &mut CpuState) -> Result<Trap, PlatformError> {
        let mut b = self.bound.take().ok_or(PlatformError::Lost)?;
        let r = self.run_bound(inner, &mut b, cpu);
        self.bound = Some(b);
        r
    }

    fn run_bound(
        &mut self,
        inner: &Arc<SpaceInner>,
        b: &mut Bound,
        cpu: &mut CpuState,
    ) -> Result<Trap, PlatformError> {
        let shm = &inner.shm;
        let f = b.frame;
        if b.fresh {
            write_regs(inner, &f, &cpu.regs);
        } else {
            write_changed_regs(inner, &f, &b.last, &cpu.regs);
        }
        if b.fresh || !matches!(self.fp, FpPending::None) {
            let fp = std::mem::replace(&mut self.fp, FpPending::None);
            if let (Some(l), true) = (fpu::known_layout(), f.fp != 0) {
                let img = match fp {
                    FpPending::State(s) => fpu::sanitize(l, &s),
                    FpPending::Reset | FpPending::None => fpu::init_image(l),
                };
                shm.write(f.fp, &img);
                if l.xsave {
                    shm.write(f.fp + l.size as u64, &FP_XSTATE_MAGIC2.to_le_bytes());
                }
            }
            b.fresh = false;
        }
        let off = b.slot_off();
        let (spin, yields) = self.tuning.stub_wait_now();
        let want = [
            user_base(cpu.regs.fs_base),
            user_base(cpu.regs.gs_base),
            spin as u64,
            yields as u64,
        ];
        if want != b.sent {
            shm.write_u64(off + S_NEW_FS, want[0]);
            shm.write_u64(off + S_NEW_GS, want[1]);
            shm.word(off + S_SPIN)
                .store(want[2] as u32, Ordering::Relaxed);
            shm.word(off + S_YIELDS)
                .store(want[3] as u32, Ordering::Relaxed);
            shm.word(off + S_ACTION)
                .store(ACTION_RESUME, Ordering::Relaxed);
            b.sent = want;
        }
        b.reply = b.reply.wrapping_add(1);
        let reply = shm.word(off + S_SENTRY_STATE);
        reply.store(b.reply, Ordering::SeqCst);
        if shm.word(off + S_STUB_SLEEPING).load(Ordering::SeqCst) != 0 {
            sys::futex_wake(reply);
        }
        self.wait_trap(inner, b)?;
        match frame(inner, b) {
            Ok(f) => b.frame = f,
            Err(e) => {
                inner.kill();
                return Err(e);
            }
        }
        let trap = decode(inner, b, cpu);
        b.last = cpu.regs;
        if matches!(trap, Trap::PageFault { .. }) {
            // Core will most likely have the executor map a page now: the
            // handler, spinning for our reply, should give up its CPU.
            shm.word(off + S_SPIN).store(0, Ordering::Relaxed);
            b.sent[2] = 0;
        }
        if trap == Trap::Interrupted {
            self.irq.pending.store(false, Ordering::SeqCst);
        }
        Ok(trap)
    }
}

/// Validates the frame the handler reported for `b`'s slot.
fn frame(inner: &SpaceInner, b: &Bound) -> Result<Frame, PlatformError> {
    let shm = &inner.shm;
    let off = b.slot_off();
    let lo = inner.region + off + ALT_OFF;
    let hi = inner.region + off + SLOT_SIZE;
    let uctx = shm.read_u64(off + S_UCTX);
    let fits = |p: u64, len: u64, align: u64| {
        p >= lo && p.checked_add(len).is_some_and(|e| e <= hi) && p.is_multiple_of(align)
    };
    // `struct rt_sigframe`: the siginfo follows the ucontext.
    if !fits(uctx, UC_SIZE + SI_SIZE, 8) {
        return Err(PlatformError::Lost);
    }
    let siginfo = uctx + UC_SIZE;
    let uctx = uctx - inner.region;
    let fp_addr = shm.read_u64(uctx + UC_MCONTEXT + SC_FPSTATE);
    let mut fp = 0;
    if fp_addr != 0 {
        if !fits(fp_addr, 512, 16) {
            return Err(PlatformError::Lost);
        }
        let l = match fpu::known_layout() {
            Some(l) => l,
            None => {
                let mut legacy = [0u8; 512];
                shm.read(fp_addr - inner.region, &mut legacy);
                fpu::learn(&legacy, (hi - fp_addr) as usize).ok_or(PlatformError::Lost)?
            }
        };
        let need = l.size as u64 + if l.xsave { 4 } else { 0 };
        if !fits(fp_addr, need, if l.xsave { 64 } else { 16 }) {
            return Err(PlatformError::Lost);
        }
        fp = fp_addr - inner.region;
    }
    Ok(Frame {
        uctx,
        siginfo: siginfo - inner.region,
        fp,
    })
}

/// Byte offsets of the general registers in `struct sigcontext`.
const SC_REGS: [usize; 18] = [
    0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 128, 136,
];

fn sc_get(sc: &[u8; 256], off: usize) -> u64 {
    u64::from_le_bytes(sc[off..off + 8].try_into().expect("8 bytes"))
}

fn sc_set(sc: &mut [u8; 256], off: usize, v: u64) {
    sc[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// The `sigcontext` order: r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx,
/// rsp, rip, eflags.
fn reg_refs(r: &mut PtRegs) -> [&mut u64; 18] {
    [
        &mut r.r8,
        &mut r.r9,
        &mut r.r10,
        &mut r.r11,
        &mut r.r12,
        &mut r.r13,
        &mut r.r14,
        &mut r.r15,
        &mut r.rdi,
        &mut r.rsi,
        &mut r.rbp,
        &mut r.rbx,
        &mut r.rdx,
        &mut r.rax,
        &mut r.rcx,
        &mut r.rsp,
        &mut r.rip,
        &mut r.eflags,
    ]
}

/// Writes core's registers into the frame (the fields `rt_sigreturn`
/// restores), with our validated FP pointer and an empty signal mask.
fn write_regs(inner: &SpaceInner, f: &Frame, regs: &PtRegs) {
    let mut r = *regs;
    let mut sc = [0u8; 256];
    for (off, v) in SC_REGS.iter().zip(reg_refs(&mut r)) {
        sc_set(&mut sc, *off, *v);
    }
    let cs = user_selector(regs.cs, USER_CS) as u16;
    let ss = user_selector(regs.ss, USER_DS) as u16;
    sc[SC_CS as usize..SC_CS as usize + 2].copy_from_slice(&cs.to_le_bytes());
    sc[SC_SS as usize..SC_SS as usize + 2].copy_from_slice(&ss.to_le_bytes());
    let fp = if f.fp != 0 { inner.region + f.fp } else { 0 };
    sc_set(&mut sc, SC_FPSTATE as usize, fp);
    let shm = &inner.shm;
    shm.write(f.uctx + UC_MCONTEXT, &sc);
    let xsave = fpu::known_layout().is_some_and(|l| l.xsave) && f.fp != 0;
    let flags = UC_SIGCONTEXT_SS | if xsave { UC_FP_XSTATE } else { 0 };
    shm.write_u64(f.uctx + UC_FLAGS, flags);
    shm.write_u64(f.uctx + UC_SIGMASK, 0);
}

/// Writes into the frame only the registers that differ from what it
/// holds (`last`); after a system call that is usually `rax` alone.
fn write_changed_regs(inner: &SpaceInner, f: &Frame, last: &PtRegs, regs: &PtRegs) {
    let (mut old, mut new) = (*last, *regs);
    let shm = &inner.shm;
    let sc = f.uctx + UC_MCONTEXT;
    for ((off, o), n) in SC_REGS
        .iter()
        .zip(reg_refs(&mut old))
        .zip(reg_refs(&mut new))
    {
        if *o != *n {
            shm.write_u64(sc + *off as u64, *n);
        }
    }
    if regs.cs != last.cs || regs.ss != last.ss {
        let cs = user_selector(regs.cs, USER_CS) as u16;
        let ss = user_selector(regs.ss, USER_DS) as u16;
        shm.write(sc + SC_CS, &cs.to_le_bytes());
        shm.write(sc + SC_SS, &ss.to_le_bytes());
    }
}

/// Reads the trap from the frame into `cpu` and classifies it.
fn decode(inner: &SpaceInner, b: &Bound, cpu: &mut CpuState) -> Trap {
    let shm = &inner.shm;
    let f = b.frame;
    let mut sc = [0u8; 256];
    shm.read(f.uctx + UC_MCONTEXT, &mut sc);
    let r = &mut cpu.regs;
    for (off, v) in SC_REGS.iter().zip(reg_refs(r)) {
        *v = sc_get(&sc, *off);
    }
    r.cs = u16::from_le_bytes([sc[SC_CS as usize], sc[SC_CS as usize + 1]]) as u64;
    r.ss = u16::from_le_bytes([sc[SC_SS as usize], sc[SC_SS as usize + 1]]) as u64;
    r.orig_rax = u64::MAX;
    let off = b.slot_off();
    r.fs_base = shm.read_u64(off + S_FS);
    r.gs_base = shm.read_u64(off + S_GS);
    let err = sc_get(&sc, SC_ERR as usize);
    let trapno = sc_get(&sc, SC_TRAPNO as usize);

    let mut si = [0u8; 32];
    shm.read(f.siginfo, &mut si);
    let i32_at = |o: usize| i32::from_le_bytes(si[o..o + 4].try_into().expect("4 bytes"));
    let signo = i32_at(0);
    let code = i32_at(8);
    let addr = u64::from_le_bytes(si[16..24].try_into().expect("8 bytes"));
    let arch = i32_at(28) as u32;

    if !is_fault(signo, code) {
        return Trap::Interrupted;
    }
    match signo {
        libc::SIGSYS if code == SYS_SECCOMP => {
            if arch != AUDIT_ARCH_X86_64 {
                // int 0x80 / 32-bit code: rip back at the 2-byte instruction.
                r.rip = r.rip.wrapping_sub(2);
                INT80_TRAP
            } else if addr & !0xfff == VSYSCALL {
                Trap::Exception {
                    signo: libc::SIGSYS,
                    code,
                    addr,
                }
            } else {
                r.orig_rax = r.rax;
                Trap::Syscall
            }
        }
        libc::SIGSEGV if is_page_fault(signo, code) => {
            let access = if trapno != X86_TRAP_PF {
                // Not a #PF (cannot happen for these codes): best guess.
                Access::Read
            } else if err & PF_INSTR != 0 {
                Access::Exec
            } else if err & PF_WRITE != 0 {
                Access::Write
            } else {
                Access::Read
            };
            Trap::PageFault { addr, access }
        }
        _ => Trap::Exception { signo, code, addr },
    }
}

impl std::fmt::Debug for SystrapContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystrapContext")
            .field("fp", &self.fp)
            .field("slot", &self.bound.as_ref().map(|b| b.slot))
            .field("budget_ns", &self.budget_ns)
            .finish()
    }
}

impl Drop for SystrapContext {
    fn drop(&mut self) {
        self.release();
    }
}

impl Context for SystrapContext {
    fn switch(
        &mut self,
        space: &Arc<dyn AddressSpace>,
        cpu: &mut CpuState,
    ) -> Result<Trap, PlatformError> {
        handoff::short_slice_for_this_thread();
        let inner = self.registry.lookup(space).ok_or(PlatformError::Lost)?;
        if inner.known_lost() {
            return Err(PlatformError::Lost);
        }
        if !self.bound_to(&inner) {
            self.enter(&inner)?;
        }
        self.irq.running.store(true, Ordering::SeqCst);
        if self.irq.pending.swap(false, Ordering::SeqCst) {
            self.irq.running.store(false, Ordering::SeqCst);
            return Ok(Trap::Interrupted);
        }
        let r = self.run(&inner, cpu);
        self.irq.running.store(false, Ordering::SeqCst);
        r
    }

    fn fp_state(&mut self, out: &mut Vec<u8>) -> Result<(), PlatformError> {
        let l = fpu::known_layout();
        if let Some(img) = self.fp.image(l, fpu::sanitize) {
            *out = img;
            return Ok(());
        }
        *out = match self.read_fp() {
            Some(v) => v,
            None => fpu::init_or_minimal(l),
        };
        Ok(())
    }

    fn set_fp_state(&mut self, state: &[u8]) -> Result<(), PlatformError> {
        self.fp = FpPending::State(state.to_vec());
        Ok(())
    }

    fn reset_fp_state(&mut self) -> Result<(), PlatformError> {
        self.fp = FpPending::Reset;
        Ok(())
    }

    fn interrupter(&self) -> Arc<dyn Interrupter> {
        self.irq.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_user_limit_is_the_stubs() {
        // The stub clears the address space up to its TASK_SIZE; the
        // shared `user_base` (veil_host::x86) must use the same limit.
        assert_eq!(TASK_SIZE, veil_host::x86::TASK_SIZE);
        assert_eq!(user_base(TASK_SIZE - 1), TASK_SIZE - 1);
        assert_eq!(user_base(TASK_SIZE), 0);
    }

    #[test]
    fn register_order_matches_sigcontext() {
        let mut r = PtRegs {
            r8: 1,
            rdi: 9,
            rip: 17,
            eflags: 18,
            ..Default::default()
        };
        let refs = reg_refs(&mut r);
        assert_eq!(*refs[0], 1);
        assert_eq!(*refs[8], 9);
        assert_eq!(*refs[16], 17);
        assert_eq!(*refs[17], 18);
    }
}
