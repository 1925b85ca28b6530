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

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use veil_abi::PtRegs;
use veil_core::platform::{
    Access, AddressSpace, Context, CpuState, Interrupter, PlatformError, Trap,
};

use crate::space::{Registry, SpaceInner};
use crate::stub::{PAGE, TASK_SIZE};
use crate::sys::{self, Wait};
use crate::{fpu, lost};

/// The signal an [`Interrupter`] sends to the stub.
const INTERRUPT_SIGNAL: i32 = libc::SIGURG;
const USER_CS: u64 = 0x33;
const USER_DS: u64 = 0x2b;
const SI_KERNEL: i32 = 0x80;
const SEGV_MAPERR: i32 = 1;
const SEGV_ACCERR: i32 = 2;

/// FP state waiting to be loaded at the next switch.
#[derive(Debug)]
enum FpPending {
    None,
    Reset,
    State(Vec<u8>),
}

/// Interrupts one context: a flag the next switch checks, and a signal to
/// the stub it is (or was last) running in.
#[derive(Default)]
struct ContextInterrupter {
    pending: AtomicBool,
    /// The pidfd of the stub the context last switched into.
    target: Mutex<Option<Arc<OwnedFd>>>,
}

impl Interrupter for ContextInterrupter {
    fn interrupt(&self) {
        self.pending.store(true, Ordering::SeqCst);
        let target = self.target.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(fd) = target.as_ref() {
            // A stub that is gone simply gets nothing (pidfds never alias).
            let _ = sys::pidfd_send_signal(fd, INTERRUPT_SIGNAL);
        }
    }
}

/// One application thread on the ptrace platform.
///
/// Bound to the host thread that traces the stubs it switches into: that
/// is the thread that made the address space, and core creates and uses a
/// context only on its task's own thread.
pub struct PtraceContext {
    registry: Arc<Registry>,
    irq: Arc<ContextInterrupter>,
    /// The address space last switched into.
    last: Option<Weak<SpaceInner>>,
    fp: FpPending,
}

impl PtraceContext {
    pub(crate) fn new(registry: Arc<Registry>) -> PtraceContext {
        PtraceContext {
            registry,
            irq: Arc::new(ContextInterrupter::default()),
            last: None,
            fp: FpPending::None,
        }
    }

    /// The space last switched into, if it is alive and ours to trace.
    fn last_space(&self) -> Option<Arc<SpaceInner>> {
        let s = self.last.as_ref()?.upgrade()?;
        (s.stub.tracer == sys::gettid() && !s.stub.is_gone()).then_some(s)
    }

    /// Switching into a different address space (first switch, execve):
    /// the FP state moves with the thread, and interrupts go to the new
    /// stub.
    fn enter(&mut self, inner: &Arc<SpaceInner>) {
        if matches!(self.fp, FpPending::None) {
            if let (Some(old), Some(l)) = (self.last_space(), fpu::known_layout()) {
                let mut buf = Vec::new();
                if fpu::read(old.stub.pid, l, &mut buf).is_ok() {
                    self.fp = FpPending::State(buf);
                }
            }
        }
        *self.irq.target.lock().unwrap_or_else(|p| p.into_inner()) = Some(inner.stub.pidfd.clone());
        self.last = Some(Arc::downgrade(inner));
    }

    fn load_fp(&mut self, pid: i32) -> Result<(), PlatformError> {
        let fp = std::mem::replace(&mut self.fp, FpPending::None);
        if matches!(fp, FpPending::None) {
            return Ok(());
        }
        let l = fpu::layout(pid).map_err(lost)?;
        if let FpPending::State(s) = fp {
            if fpu::write(pid, l, &fpu::sanitize(l, &s)).is_ok() {
                return Ok(());
            }
        }
        fpu::write(pid, l, &fpu::init_image(l)).map_err(lost)
    }

    fn signal_trap(&self, pid: i32, sig: i32, regs: &PtRegs) -> Result<Trap, PlatformError> {
        let si = sys::get_siginfo(pid).map_err(lost)?;
        let code = si.si_code;
        let synchronous = code > 0
            && matches!(
                sig,
                libc::SIGSEGV
                    | libc::SIGBUS
                    | libc::SIGILL
                    | libc::SIGFPE
                    | libc::SIGTRAP
                    | libc::SIGSYS
            );
        if !synchronous {
            // Sent by someone (si_code <= 0: kill, tgkill, sigqueue), or
            // an asynchronous kernel signal: drop it, report an interrupt.
            self.irq.pending.store(false, Ordering::SeqCst);
            return Ok(Trap::Interrupted);
        }
        // SAFETY: for these signals the kernel filled the fault-address
        // member of the union (si_call_addr for SIGSYS, same offset).
        let addr = unsafe { si.si_addr() } as u64;
        if sig == libc::SIGSEGV && (code == SEGV_MAPERR || code == SEGV_ACCERR) {
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
    let bad_selector = |v: u64| v > 0xffff || (v != 0 && v & 3 != 3);
    if regs.cs == 0 || bad_selector(regs.cs) {
        regs.cs = USER_CS;
    }
    if regs.ss == 0 || bad_selector(regs.ss) {
        regs.ss = USER_DS;
    }
    for s in [&mut regs.ds, &mut regs.es, &mut regs.fs, &mut regs.gs] {
        if bad_selector(*s) {
            *s = 0;
        }
    }
    for b in [&mut regs.fs_base, &mut regs.gs_base] {
        if *b >= TASK_SIZE {
            *b = 0;
        }
    }
}

impl std::fmt::Debug for PtraceContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PtraceContext")
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
        let inner = self.registry.lookup(space).ok_or(PlatformError::Lost)?;
        let stub = &inner.stub;
        let pid = stub.pid;
        if stub.tracer != sys::gettid() || stub.is_gone() {
            return Err(PlatformError::Lost);
        }
        let same = self
            .last
            .as_ref()
            .is_some_and(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(&inner)));
        if !same {
            self.enter(&inner);
        }
        inner.apply_pending()?;
        if self.irq.pending.swap(false, Ordering::SeqCst) {
            return Ok(Trap::Interrupted);
        }
        self.load_fp(pid)?;
        let mut regs = cpu.regs;
        sanitize_regs(&mut regs);
        // Resuming is never "inside a system call": without this, a
        // signal stop on the way back to the application would let the
        // host's restart logic rewind rip when rax holds -ERESTART*.
        regs.orig_rax = u64::MAX;
        sys::set_regs(pid, &regs).map_err(lost)?;
        stub.follow_tracer();
        loop {
            sys::resume(sys::PTRACE_SYSEMU, pid).map_err(lost)?;
            match stub.wait().map_err(lost)? {
                Wait::Gone => return Err(PlatformError::Lost),
                Wait::Stopped { sig, .. } if sig == libc::SIGTRAP | 0x80 => {
                    sys::get_regs(pid, &mut cpu.regs).map_err(lost)?;
                    let r = &mut cpu.regs;
                    if r.rcx != r.rip {
                        // Not `syscall` (which sets rcx = rip): int 0x80.
                        r.rip = r.rip.wrapping_sub(2);
                        return Ok(Trap::Exception {
                            signo: libc::SIGSEGV,
                            code: SI_KERNEL,
                            addr: 0,
                        });
                    }
                    r.rax = r.orig_rax;
                    return Ok(Trap::Syscall);
                }
                // No PTRACE_EVENT_* is enabled; ignore any such stop.
                Wait::Stopped { event, .. } if event != 0 => {}
                Wait::Stopped { sig, .. } => {
                    sys::get_regs(pid, &mut cpu.regs).map_err(lost)?;
                    return self.signal_trap(pid, sig, &cpu.regs);
                }
            }
        }
    }

    fn fp_state(&mut self, out: &mut Vec<u8>) -> Result<(), PlatformError> {
        let l = fpu::known_layout();
        match (&self.fp, l) {
            (FpPending::State(s), Some(l)) => *out = fpu::sanitize(l, s),
            (FpPending::State(s), None) => *out = s.clone(),
            (FpPending::Reset, Some(l)) => *out = fpu::init_image(l),
            (FpPending::Reset, None) => *out = fpu::minimal_init_image(),
            (FpPending::None, _) => match (self.last_space(), l) {
                (Some(s), Some(l)) => fpu::read(s.stub.pid, l, out).map_err(lost)?,
                (_, Some(l)) => *out = fpu::init_image(l),
                (_, None) => *out = fpu::minimal_init_image(),
            },
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
