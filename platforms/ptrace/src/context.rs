//! Contexts: one application thread run in a stub with PTRACE_SYSEMU.
//!
//! [`Context::switch`] loads the registers into the stub thread
//! (PTRACE_SETREGS), resumes it with PTRACE_SYSEMU and waits:
//!
//! - a syscall stop is [`Trap::Syscall`]; SYSEMU skips the call itself, so
//!   the host kernel never runs it. A `int 0x80` (the 32-bit ABI, which
//!   veil does not serve) is reported as Linux without IA32 emulation
//!   would: `Exception { SIGSEGV, SI_KERNEL }` at the instruction;
//! - a kernel-raised SIGSEGV with `SEGV_MAPERR` / `SEGV_ACCERR` is
//!   [`Trap::PageFault`]. ptrace does not expose the page-fault error
//!   code, so the access kind is inferred: the faulting address equal to
//!   `rip` (or, for a protection fault, the page just after an instruction
//!   that straddles into it) is `Exec`; another protection fault (the page
//!   is mapped, so a read would not have faulted) is `Write`; a fault on an
//!   unmapped page is reported as `Read`, which may in fact be a write:
//!   core maps the page and, if the access was a write to a page mapped
//!   read-only, the retry faults again as `Write`;
//! - any other kernel-raised SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP or
//!   SIGSYS is [`Trap::Exception`] with its `si_code` and `si_addr` (for
//!   SIGSYS, `si_call_addr`). The stub's seccomp filter raises SIGSYS with
//!   `si_code` 1 (SYS_SECCOMP) and `addr` the vsyscall entry when the
//!   application calls the host's vsyscall page; `rip` / `rsp` have then
//!   already returned to the caller (the kernel emulated the `ret`) and
//!   `rax` holds the call's number (96 gettimeofday, 201 time, 309
//!   getcpu; `addr` is `0xffffffffff600000`, `..600400`, `..600800`), so
//!   core may serve it and set `rax`, or deliver SIGSYS;
//! - any other signal (the [`Interrupter`]'s, a terminal's, one sent with
//!   kill(1) from the host) is [`Trap::Interrupted`]. Host signals are
//!   never delivered into the stub: it is always resumed with no signal.
//!
//! The registers core passes are sanitised only as far as the host kernel
//! requires (a null or kernel-privileged `cs`/`ss` becomes the user
//! selector, a `fs_base`/`gs_base` at or above the user address limit
//! becomes 0): application-controlled values never make `switch` fail.
//!
//! The FP state set with `set_fp_state` / `reset_fp_state` is kept in the
//! context and loaded at the next switch; an application-supplied image
//! is sanitised so the kernel accepts it (see `fpu::sanitize`), and if it
//! still refuses it the initial state is loaded instead.
//!
//! # Stub threads
//!
//! A context runs its application thread in a stub thread of its own, one
//! per address space it switches into, traced by the context's host
//! thread. The first switch into a space makes it (the executor clones
//! it, this thread attaches: see `space.rs`, and the crate docs for what
//! it costs); later switches into the same space go
//! straight to it. Several contexts, on several host threads, so run the
//! threads of one application process in one stub at once. A context
//! used with several spaces (execve makes a new one) keeps a thread in
//! each until the space is dropped (its stub dies with all its threads)
//! or the context releases it ([`PtraceContext::release`]). Dropping the
//! context on its host thread releases all of them; if that host thread
//! exits first, its thread-exit hook does. Releasing ends only that stub
//! thread (an injected `exit`); the other threads of its stub go on.
//!
//! The FP state moves with the context from one stub thread to the next
//! (read from the old one when it enters another space); registers,
//! `fs_base` and `gs_base` included, are loaded at every switch.
//!
//! Interrupts are SIGURG sent with `tgkill` to the stub thread the context
//! is (or was last) running in: never to another context's thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use veil_abi::PtRegs;
use veil_core::platform::{
    Access, AddressSpace, Context, CpuState, Interrupter, PlatformError, Trap,
};

use crate::space::{key_of, PtraceAddressSpace, Registry, SpaceInner, StubThread};
use crate::stub::PAGE;
use crate::sys::{self, Wait};
use crate::{fpu, lost};
use veil_host::x86::{
    is_fault, is_page_fault, user_base, user_selector, INT80_TRAP, SEGV_ACCERR, USER_CS, USER_DS,
};

/// The signal an [`Interrupter`] sends to the stub thread.
const INTERRUPT_SIGNAL: i32 = libc::SIGURG;

// FP state waiting to be loaded at the next switch.
use veil_host::fpu::Pending as FpPending;

/// Interrupts one context: a flag the next switch checks, and a signal to
/// the stub thread it is (or was last) running in.
#[derive(Default)]
struct ContextInterrupter {
    pending: AtomicBool,
    /// The space and tid of the stub thread the context last entered.
    target: Mutex<Option<(Weak<SpaceInner>, i32)>>,
}

impl ContextInterrupter {
    fn set_target(&self, target: Option<(Weak<SpaceInner>, i32)>) {
        *self.target.lock().unwrap_or_else(|p| p.into_inner()) = target;
    }
}

impl Interrupter for ContextInterrupter {
    fn interrupt(&self) {
        self.pending.store(true, Ordering::SeqCst);
        let target = self
            .target
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some((space, tid)) = target else {
            return;
        };
        // While we hold the space, its stub's leader is not reaped (only
        // the space's drop does that), so the pid is still the stub's and
        // tgkill reaches our thread, another thread of the same stub that
        // took a released thread's tid (a harmless early return), or
        // nothing.
        if let Some(inner) = space.upgrade() {
            if !inner.stub.is_dead() {
                let _ = sys::tgkill(inner.stub.pid, tid, INTERRUPT_SIGNAL);
            }
        }
    }
}

/// The space and stub thread of the last switch.
struct Current {
    /// The address space object: `switch` goes straight to `thread` when
    /// it is passed this same object again. The Weak keeps the
    /// allocation, so its address cannot be another object's.
    space: Weak<PtraceAddressSpace>,
    thread: Arc<StubThread>,
}

/// One application thread on the ptrace platform.
///
/// Bound to the host thread that first switches it: that thread traces
/// its stub threads (one per address space; see the module docs), so core
/// creates and uses a context only on its task's own thread, and drops it
/// there when the thread exits (which ends its stub threads).
pub struct PtraceContext {
    registry: Arc<Registry>,
    irq: Arc<ContextInterrupter>,
    cur: Option<Current>,
    /// This context's stub threads, at most one per address space.
    threads: Vec<Arc<StubThread>>,
    fp: FpPending,
}

impl PtraceContext {
    pub(crate) fn new(registry: Arc<Registry>) -> PtraceContext {
        PtraceContext {
            registry,
            irq: Arc::new(ContextInterrupter::default()),
            cur: None,
            threads: Vec::new(),
            fp: FpPending::None,
        }
    }

    /// Ends this context's stub thread in `space`, if it has one, without
    /// disturbing the stub's other threads; a later switch into `space`
    /// makes a new one. Does nothing on a host thread other than the one
    /// that switched this context (that thread releases it when it exits).
    /// The FP state stays with the context.
    pub fn release(&mut self, space: &Arc<dyn AddressSpace>) {
        let Some(pas) = self.registry.lookup(space) else {
            return;
        };
        let Some(i) = self.threads.iter().position(|t| t.in_space(pas.inner())) else {
            return;
        };
        let t = self.threads.swap_remove(i);
        if self
            .cur
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(&c.thread, &t))
        {
            self.leave();
        }
        t.release();
    }

    /// Ends all of this context's stub threads (as [`release`] does for
    /// one). Dropping the context does this.
    ///
    /// [`release`]: PtraceContext::release
    pub fn release_all(&mut self) {
        self.leave();
        for t in std::mem::take(&mut self.threads) {
            t.release();
        }
    }

    /// The tid of the stub thread this context last switched into (for
    /// diagnostics and tests).
    pub fn stub_tid(&self) -> Option<i32> {
        self.cur.as_ref().map(|c| c.thread.t.tid)
    }

    /// The number of stub threads this context has (one per address space
    /// it has switched into and not released, whose space is alive).
    pub fn stub_thread_count(&self) -> usize {
        self.threads
            .iter()
            .filter(|t| t.space.strong_count() > 0)
            .count()
    }

    /// The current stub thread, if this thread may use it.
    fn cur_thread(&self) -> Option<&Arc<StubThread>> {
        self.cur
            .as_ref()
            .map(|c| &c.thread)
            .filter(|t| t.usable() && t.space.strong_count() > 0)
    }

    /// Stops using the current stub thread: its FP state becomes pending
    /// for the next one, interrupts no longer go to it.
    fn leave(&mut self) {
        if matches!(self.fp, FpPending::None) {
            if let (Some(t), Some(l)) = (self.cur_thread(), fpu::known_layout()) {
                let mut buf = Vec::new();
                if fpu::read(t.t.tid, l, &mut buf).is_ok() {
                    self.fp = FpPending::State(buf);
                }
            }
        }
        self.irq.set_target(None);
        self.cur = None;
    }

    /// Switching into a space other than the last one (the first switch,
    /// execve, or another of this context's spaces): finds or makes this
    /// context's stub thread there; the FP state moves with the thread,
    /// and interrupts go to the new stub thread.
    fn enter(&mut self, space: &Arc<dyn AddressSpace>) -> Result<Arc<StubThread>, PlatformError> {
        let pas = self.registry.lookup(space).ok_or(PlatformError::Lost)?;
        let inner = pas.inner().clone();
        // Forget the threads of spaces that are gone (killed and reaped
        // with their stubs).
        self.threads.retain(|t| t.space.strong_count() > 0);
        let st = match self.threads.iter().find(|t| t.in_space(&inner)) {
            Some(t) => t.clone(),
            None => {
                let t = inner.new_thread()?;
                self.threads.push(t.clone());
                t
            }
        };
        if !st.usable() {
            // Another host thread's (a context moved across threads).
            return Err(PlatformError::Lost);
        }
        self.leave();
        self.irq
            .set_target(Some((Arc::downgrade(&inner), st.t.tid)));
        self.cur = Some(Current {
            space: Arc::downgrade(&pas),
            thread: st.clone(),
        });
        Ok(st)
    }

    fn load_fp(&mut self, tid: i32) -> Result<(), PlatformError> {
        let fp = std::mem::replace(&mut self.fp, FpPending::None);
        if matches!(fp, FpPending::None) {
            return Ok(());
        }
        let l = fpu::layout(tid).map_err(lost)?;
        if let FpPending::State(s) = fp {
            if fpu::write(tid, l, &fpu::sanitize(l, &s)).is_ok() {
                return Ok(());
            }
        }
        fpu::write(tid, l, &fpu::init_image(l)).map_err(lost)
    }

    fn signal_trap(&self, tid: i32, sig: i32, regs: &PtRegs) -> Result<Trap, PlatformError> {
        let si = sys::get_siginfo(tid).map_err(lost)?;
        let code = si.si_code;
        if !is_fault(sig, code) {
            // Sent by someone (si_code <= 0: kill, tgkill, sigqueue), or
            // an asynchronous kernel signal: drop it, report an interrupt.
            self.irq.pending.store(false, Ordering::SeqCst);
            return Ok(Trap::Interrupted);
        }
        // SAFETY: for these signals the kernel filled the fault-address
        // member of the union (si_call_addr for SIGSYS, same offset).
        let addr = unsafe { si.si_addr() } as u64;
        if is_page_fault(sig, code) {
            return Ok(Trap::PageFault {
                addr,
                access: fault_access(code, addr, regs.rip),
            });
        }
        Ok(Trap::Exception {
            signo: sig,
            code,
            addr,
        })
    }
}

impl Drop for PtraceContext {
    fn drop(&mut self) {
        self.cur = None;
        for t in std::mem::take(&mut self.threads) {
            t.release();
        }
    }
}

/// Infers the access kind of a page fault (see the module docs).
fn fault_access(code: i32, addr: u64, rip: u64) -> Access {
    let straddle = addr & (PAGE - 1) == 0 && addr > rip && addr - rip < 16;
    if addr == rip || (code == SEGV_ACCERR && straddle) {
        Access::Exec
    } else if code == SEGV_ACCERR {
        Access::Write
    } else {
        Access::Read
    }
}

/// Makes `regs` acceptable to PTRACE_SETREGS (see the module docs).
fn sanitize_regs(regs: &mut PtRegs) {
    regs.cs = user_selector(regs.cs, USER_CS);
    regs.ss = user_selector(regs.ss, USER_DS);
    for s in [&mut regs.ds, &mut regs.es, &mut regs.fs, &mut regs.gs] {
        *s = user_selector(*s, 0);
    }
    for b in [&mut regs.fs_base, &mut regs.gs_base] {
        *b = user_base(*b);
    }
}

impl std::fmt::Debug for PtraceContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PtraceContext")
            .field("stub_tid", &self.stub_tid())
            .field("threads", &self.threads)
            .field("fp", &self.fp)
            .finish()
    }
}

impl Context for PtraceContext {
    fn switch(
        &mut self,
        space: &Arc<dyn AddressSpace>,
        cpu: &mut CpuState,
    ) -> Result<Trap, PlatformError> {
        let st = match &self.cur {
            Some(c) if c.space.as_ptr() as *const () as usize == key_of(space) => c.thread.clone(),
            _ => self.enter(space)?,
        };
        if !st.usable() {
            return Err(PlatformError::Lost);
        }
        let inner = st.space.upgrade().ok_or(PlatformError::Lost)?;
        if inner.stub.is_dead() {
            return Err(PlatformError::Lost);
        }
        let tid = st.t.tid;
        let _running = inner.start_running(&st.t)?;
        if self.irq.pending.swap(false, Ordering::SeqCst) {
            return Ok(Trap::Interrupted);
        }
        self.load_fp(tid)?;
        let mut regs = cpu.regs;
        sanitize_regs(&mut regs);
        // Resuming is never "inside a system call": without this, a
        // signal stop on the way back to the application would let the
        // host's restart logic rewind rip when rax holds -ERESTART*.
        regs.orig_rax = u64::MAX;
        sys::set_regs(tid, &regs).map_err(lost)?;
        st.t.follow_tracer();
        loop {
            sys::resume(sys::PTRACE_SYSEMU, tid).map_err(lost)?;
            match st.t.wait().map_err(lost)? {
                Wait::Gone => {
                    // Only SIGKILL ends a stub thread we did not end
                    // ourselves, and it ends the whole stub.
                    inner.stub.mark_dead();
                    return Err(PlatformError::Lost);
                }
                Wait::Stopped { sig, .. } if sig == libc::SIGTRAP | 0x80 => {
                    sys::get_regs(tid, &mut cpu.regs).map_err(lost)?;
                    let r = &mut cpu.regs;
                    if r.rcx != r.rip {
                        // Not `syscall` (which sets rcx = rip): int 0x80.
                        r.rip = r.rip.wrapping_sub(2);
                        return Ok(INT80_TRAP);
                    }
                    r.rax = r.orig_rax;
                    return Ok(Trap::Syscall);
                }
                // Interrupt and group stops (PTRACE_EVENT_STOP, e.g. a
                // SIGSTOP from outside): go on as if nothing happened.
                Wait::Stopped { event, .. } if event != 0 => {}
                Wait::Stopped { sig, .. } => {
                    sys::get_regs(tid, &mut cpu.regs).map_err(lost)?;
                    return self.signal_trap(tid, sig, &cpu.regs);
                }
            }
        }
    }

    fn fp_state(&mut self, out: &mut Vec<u8>) -> Result<(), PlatformError> {
        let l = fpu::known_layout();
        if let Some(img) = self.fp.image(l, fpu::sanitize) {
            *out = img;
            return Ok(());
        }
        match (self.cur_thread(), l) {
            (Some(t), Some(l)) => fpu::read(t.t.tid, l, out).map_err(lost)?,
            (_, l) => *out = fpu::init_or_minimal(l),
        }
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
    // The stub's limit: the shared sanitising must agree with it.
    use crate::stub::TASK_SIZE;
    use veil_host::x86::SEGV_MAPERR;

    #[test]
    fn access_inference() {
        let rip = 0x40_1000 - 3;
        assert_eq!(fault_access(SEGV_MAPERR, 0x5000, rip), Access::Read);
        assert_eq!(fault_access(SEGV_ACCERR, 0x5000, rip), Access::Write);
        assert_eq!(fault_access(SEGV_MAPERR, rip, rip), Access::Exec);
        assert_eq!(fault_access(SEGV_ACCERR, rip, rip), Access::Exec);
        // An instruction straddling into a mapped, non-executable page.
        assert_eq!(fault_access(SEGV_ACCERR, 0x40_1000, rip), Access::Exec);
        // ... or into an unmapped one: reported as a read.
        assert_eq!(fault_access(SEGV_MAPERR, 0x40_1000, rip), Access::Read);
    }

    #[test]
    fn sanitize_keeps_good_and_fixes_bad() {
        let mut r = PtRegs {
            cs: 0x33,
            ss: 0x2b,
            fs_base: 0x1000,
            ..Default::default()
        };
        let good = r;
        sanitize_regs(&mut r);
        assert_eq!(r, good);
        let mut r = PtRegs {
            cs: 0x10,
            ss: 0,
            ds: 0x18,
            fs_base: u64::MAX,
            gs_base: TASK_SIZE,
            ..Default::default()
        };
        sanitize_regs(&mut r);
        assert_eq!(
            (r.cs, r.ss, r.ds, r.fs_base, r.gs_base),
            (0x33, 0x2b, 0, 0, 0)
        );
        // A 32-bit code selector set by the application stays.
        let mut r = PtRegs {
            cs: 0x23,
            ss: 0x2b,
            ..Default::default()
        };
        sanitize_regs(&mut r);
        assert_eq!(r.cs, 0x23);
    }
}
