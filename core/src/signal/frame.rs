//! x86-64 signal frames: building an `rt_sigframe` on the application's
//! stack (Linux's `x64_setup_rt_frame` and `get_sigframe`) and taking one
//! apart again in `rt_sigreturn` (`restore_sigcontext`,
//! `fpu__restore_sig`).
//!
//! The stack at handler entry, from high to low addresses:
//!
//! ```text
//!   interrupted rsp
//!   128-byte red zone (skipped), or the top of the alternate stack
//!   FP state: the XSAVE image from `Context::fp_state`, 64-byte aligned,
//!             its software-reserved bytes (`struct _fpx_sw_bytes`, at
//!             offset 464) filled in and FP_XSTATE_MAGIC2 after it
//!   struct rt_sigframe { pretcode, ucontext, siginfo }
//!   rsp of the handler, with (rsp + 8) % 16 == 0
//! ```
//!
//! Only the bytes Linux writes are written: `uc_stack`'s padding,
//! `sigcontext.reserved1` and, without `SA_SIGINFO`, the siginfo keep
//! whatever the stack held.
//!
//! `rt_sigreturn` trusts nothing in the frame: the code and stack
//! selectors are always the user ones, only the flags Linux lets a frame
//! change (`FIX_EFLAGS`) are taken, the mask never blocks SIGKILL or
//! SIGSTOP, and an FP image is checked as XRSTOR would check it (alignment,
//! MXCSR reserved bits, header) before the platform sanitises it again. A
//! frame that cannot be read or fails these checks raises SIGSEGV, as on
//! Linux.

use alloc::vec;
use alloc::vec::Vec;

use veil_abi::flags::*;
use veil_abi::{Errno, KernelSigaction, RtSigframe, SigaltStack, Siginfo, Ucontext};
use zerocopy::IntoBytes;

use super::{AltStack, FpRestore};
use crate::platform::Context;
use crate::task::Task;
use crate::UserAddr;

/// Bytes of the red zone below rsp that a frame must not touch.
pub const RED_ZONE: u64 = 128;
/// `sizeof(struct rt_sigframe)`.
pub const FRAME_SIZE: u64 = core::mem::size_of::<RtSigframe>() as u64;
/// Offset of `uc` in the frame.
pub const UC_OFFSET: u64 = 8;
/// Offset of `info` in the frame.
pub const INFO_OFFSET: u64 = 312;
/// Size of the legacy FXSAVE area.
pub const FX_SIZE: usize = 512;
/// Size of the legacy area plus the XSAVE header.
pub const XSAVE_MIN: usize = 576;
/// Offset of `struct _fpx_sw_bytes` in the FXSAVE area.
pub const SW_BYTES: usize = 464;
const OFF_MXCSR: usize = 24;
const OFF_MXCSR_MASK: usize = 28;
const OFF_XSTATE_BV: usize = 512;
/// x87 | SSE.
const FEATURES_FPSSE: u64 = 3;
const MXCSR_MASK_DEFAULT: u32 = 0xffbf;
/// Largest FP image a frame is trusted to describe (sigreturn with no
/// delivery before it).
const MAX_XSTATE: usize = 64 << 10;

/// The flags a frame may change (Linux's `FIX_EFLAGS`): AC, OF, DF, TF,
/// SF, ZF, AF, PF, CF, RF.
pub const FIX_EFLAGS: u64 =
    0x4_0000 | 0x800 | 0x400 | 0x100 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1 | 0x1_0000;
const EFLAGS_TF: u64 = 0x100;
const EFLAGS_DF: u64 = 0x400;
const EFLAGS_RF: u64 = 0x1_0000;

fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(off..off + 4) {
        w.copy_from_slice(s);
    }
    u32::from_le_bytes(w)
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(s) = b.get(off..off + 8) {
        w.copy_from_slice(s);
    }
    u64::from_le_bytes(w)
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    if let Some(s) = b.get_mut(off..off + 4) {
        s.copy_from_slice(&v.to_le_bytes());
    }
}

fn put_u64(b: &mut [u8], off: usize, v: u64) {
    if let Some(s) = b.get_mut(off..off + 8) {
        s.copy_from_slice(&v.to_le_bytes());
    }
}

/// The XSAVE features an image says the kernel supports: its
/// software-reserved bytes if they carry FP_XSTATE_MAGIC1, else x87|SSE
/// plus whatever its header has.
pub fn image_features(img: &[u8]) -> u64 {
    if img.len() >= XSAVE_MIN && u32_at(img, SW_BYTES) == FP_XSTATE_MAGIC1 {
        u64_at(img, SW_BYTES + 8) | FEATURES_FPSSE
    } else if img.len() >= XSAVE_MIN {
        u64_at(img, OFF_XSTATE_BV) | FEATURES_FPSSE
    } else {
        FEATURES_FPSSE
    }
}

/// Fills in an FP image's `_fpx_sw_bytes` as Linux's `save_xstate_epilog`
/// does (magic1, extended size, features, xstate size) and makes its
/// header claim x87|SSE. Images without an XSAVE header are left alone.
pub fn write_sw_bytes(img: &mut [u8], features: u64) {
    let len = img.len();
    if len < XSAVE_MIN {
        return;
    }
    let sw = &mut img[SW_BYTES..FX_SIZE];
    sw.fill(0);
    put_u32(img, SW_BYTES, FP_XSTATE_MAGIC1);
    put_u32(img, SW_BYTES + 4, (len + 4) as u32);
    put_u64(img, SW_BYTES + 8, features);
    put_u32(img, SW_BYTES + 16, len as u32);
    let bv = u64_at(img, OFF_XSTATE_BV) | FEATURES_FPSSE;
    put_u64(img, OFF_XSTATE_BV, bv);
}

/// Where a frame goes: (frame address, FP state address), or `None` if
/// it would overflow the alternate stack. Linux's `get_sigframe` for a
/// 64-bit frame with `math_size` bytes of FP state.
pub fn place(alt: &AltStack, rsp: u64, onstack: bool, math_size: u64) -> Option<(u64, u64)> {
    let nested = alt.on_stack(rsp);
    let mut sp = rsp.wrapping_sub(RED_ZONE);
    let mut entering = false;
    if onstack && alt.ss_flags(sp) == 0 {
        sp = alt.sp.wrapping_add(alt.size);
        entering = true;
    }
    let fp = sp.wrapping_sub(math_size) & !63;
    let frame = (fp.wrapping_sub(FRAME_SIZE) & !15).wrapping_sub(8);
    if (nested || entering) && !alt.contains(frame) {
        return None;
    }
    Some((frame, fp))
}

/// Builds the frame for `sig` with handler `act` and switches the
/// registers to the handler. `mask` is the mask the frame saves (restored
/// by rt_sigreturn). On `Err` nothing in the task's registers changed;
/// the caller raises SIGSEGV.
pub fn setup(
    task: &mut Task,
    ctx: &mut dyn Context,
    info: &Siginfo,
    act: &KernelSigaction,
    mask: u64,
) -> Result<(), Errno> {
    // x86-64 has no vDSO trampoline for signals: no restorer, no frame.
    if act.flags & SA_RESTORER == 0 {
        return Err(Errno::EFAULT);
    }
    let mut fp = Vec::new();
    ctx.fp_state(&mut fp).map_err(|_| Errno::EFAULT)?;
    let xsave = fp.len() >= XSAVE_MIN;
    // What the images so far showed the CPU supports (an image in its
    // initial state names only x87|SSE).
    let features = task.signals.fp_features | image_features(&fp);
    if xsave {
        write_sw_bytes(&mut fp, features);
    }
    let math_size = fp.len() as u64 + if xsave { 4 } else { 0 };
    let regs = task.cpu.regs;
    let alt = task.signals.altstack;
    let (frame, fpaddr) =
        place(&alt, regs.rsp, act.flags & SA_ONSTACK != 0, math_size).ok_or(Errno::EFAULT)?;

    let mm = task.mm.clone();
    mm.copy_out(UserAddr(fpaddr), &fp)?;
    if xsave {
        mm.write_obj(
            UserAddr(fpaddr.wrapping_add(fp.len() as u64)),
            &FP_XSTATE_MAGIC2,
        )?;
    }

    let fault = task.signals.fault;
    let mut f = RtSigframe {
        pretcode: act.restorer,
        ..RtSigframe::default()
    };
    f.uc.uc_flags = UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS | if xsave { UC_FP_XSTATE } else { 0 };
    f.uc.uc_link = 0;
    f.uc.uc_stack = SigaltStack {
        sp: alt.sp,
        flags: alt.flags,
        pad: 0,
        size: alt.size,
    };
    let sc = &mut f.uc.uc_mcontext;
    sc.r8 = regs.r8;
    sc.r9 = regs.r9;
    sc.r10 = regs.r10;
    sc.r11 = regs.r11;
    sc.r12 = regs.r12;
    sc.r13 = regs.r13;
    sc.r14 = regs.r14;
    sc.r15 = regs.r15;
    sc.rdi = regs.rdi;
    sc.rsi = regs.rsi;
    sc.rbp = regs.rbp;
    sc.rbx = regs.rbx;
    sc.rdx = regs.rdx;
    sc.rax = regs.rax;
    sc.rcx = regs.rcx;
    sc.rsp = regs.rsp;
    sc.rip = regs.rip;
    sc.eflags = regs.eflags;
    sc.cs = regs.cs as u16;
    sc.gs = 0;
    sc.fs = 0;
    sc.ss = regs.ss as u16;
    sc.err = fault.err;
    sc.trapno = fault.trapno;
    sc.oldmask = mask;
    sc.cr2 = fault.cr2;
    sc.fpstate = fpaddr;
    f.uc.uc_sigmask = mask;
    f.info = *info;

    // Only what Linux writes: pretcode, uc_flags, uc_link, uc_stack's
    // sp and flags, its size, the sigcontext up to fpstate, the mask,
    // and the siginfo with SA_SIGINFO.
    let bytes = f.as_bytes();
    let uc = UC_OFFSET as usize;
    let stack = uc + core::mem::offset_of!(Ucontext, uc_stack);
    let mctx = uc + core::mem::offset_of!(Ucontext, uc_mcontext);
    let sigmask = uc + core::mem::offset_of!(Ucontext, uc_sigmask);
    let ranges = [
        (0, stack + 12),
        (
            stack + 16,
            mctx + core::mem::offset_of!(veil_abi::Sigcontext, reserved1),
        ),
        (sigmask, sigmask + 8),
    ];
    for (lo, hi) in ranges {
        mm.copy_out(UserAddr(frame.wrapping_add(lo as u64)), &bytes[lo..hi])?;
    }
    if act.flags & SA_SIGINFO != 0 {
        let lo = INFO_OFFSET as usize;
        mm.copy_out(
            UserAddr(frame.wrapping_add(INFO_OFFSET)),
            &bytes[lo..lo + 128],
        )?;
    }

    let r = &mut task.cpu.regs;
    r.rdi = info.signo as u64;
    r.rsi = frame.wrapping_add(INFO_OFFSET);
    r.rdx = frame.wrapping_add(UC_OFFSET);
    r.rax = 0;
    r.rip = act.handler;
    r.rsp = frame;
    r.cs = USER_CS;
    if r.ss != USER_DS {
        r.ss = USER_DS;
    }
    r.eflags &= !(EFLAGS_DF | EFLAGS_RF | EFLAGS_TF);
    task.signals.fp_size = fp.len();
    task.signals.fp_features = features;
    task.signals.fp_mxcsr_mask = u32_at(&fp, OFF_MXCSR_MASK);
    // The handler starts with the initial FP state (Linux's
    // fpu__clear_user_states).
    let _ = ctx.reset_fp_state();
    Ok(())
}

/// What rt_sigreturn found in the frame at `rsp - 8`: everything is
/// applied to the task (registers, mask, alternate stack, FP state to load
/// at the next switch). `Err` for a frame that cannot be read or is
/// invalid; the caller raises SIGSEGV.
pub fn restore(task: &mut Task) -> Result<(), Errno> {
    let frame = task.cpu.regs.rsp.wrapping_sub(8);
    let uc: Ucontext = task
        .mm
        .read_obj(UserAddr(frame.checked_add(UC_OFFSET).ok_or(Errno::EFAULT)?))?;
    super::set_mask(task, uc.uc_sigmask);
    let sc = uc.uc_mcontext;
    let r = &mut task.cpu.regs;
    r.r8 = sc.r8;
    r.r9 = sc.r9;
    r.r10 = sc.r10;
    r.r11 = sc.r11;
    r.r12 = sc.r12;
    r.r13 = sc.r13;
    r.r14 = sc.r14;
    r.r15 = sc.r15;
    r.rdi = sc.rdi;
    r.rsi = sc.rsi;
    r.rbp = sc.rbp;
    r.rbx = sc.rbx;
    r.rdx = sc.rdx;
    r.rax = sc.rax;
    r.rcx = sc.rcx;
    r.rsp = sc.rsp;
    r.rip = sc.rip;
    // Never anything but the 64-bit user selectors.
    r.cs = USER_CS;
    r.ss = USER_DS;
    r.eflags = (r.eflags & !FIX_EFLAGS) | (sc.eflags & FIX_EFLAGS);
    // Not inside a system call any more: no restart processing.
    r.orig_rax = u64::MAX;
    task.signals.restart = None;
    // The alternate stack, as sigaltstack would set it (errors ignored).
    let _ = super::do_sigaltstack(task, Some(uc.uc_stack));
    task.signals.fp_restore = Some(read_fp(task, sc.fpstate)?);
    Ok(())
}

/// Reads and checks the FP state a frame points to (Linux's
/// `__fpu_restore_sig` with `check_xstate_in_sigframe`).
fn read_fp(task: &Task, addr: u64) -> Result<FpRestore, Errno> {
    if addr == 0 {
        return Ok(FpRestore::Reset);
    }
    let mut legacy = [0u8; FX_SIZE];
    task.mm.copy_in(UserAddr(addr), &mut legacy)?;
    let live = task.signals.fp_size;
    let magic1 = u32_at(&legacy, SW_BYTES) == FP_XSTATE_MAGIC1;
    let extended = u32_at(&legacy, SW_BYTES + 4) as usize;
    let user_features = u64_at(&legacy, SW_BYTES + 8);
    let xstate_size = u32_at(&legacy, SW_BYTES + 16) as usize;
    // The size of the state this task has; unknown (no frame built yet)
    // means what the frame says, within reason.
    let size = if live > 0 {
        live
    } else if magic1 && (XSAVE_MIN..=MAX_XSTATE).contains(&xstate_size) {
        xstate_size
    } else {
        XSAVE_MIN
    };
    let mut fx_only =
        !(magic1 && xstate_size >= XSAVE_MIN && xstate_size <= size && xstate_size <= extended);
    if !fx_only {
        let at = addr.checked_add(xstate_size as u64).ok_or(Errno::EFAULT)?;
        let magic2: u32 = task.mm.read_obj(UserAddr(at))?;
        fx_only = magic2 != FP_XSTATE_MAGIC2;
    }
    let mut img = vec![0u8; size.max(FX_SIZE)];
    if fx_only {
        // FXRSTOR wants 16-byte alignment.
        if !addr.is_multiple_of(16) {
            return Err(Errno::EFAULT);
        }
        img[..FX_SIZE].copy_from_slice(&legacy);
        if img.len() >= XSAVE_MIN {
            put_u64(&mut img, OFF_XSTATE_BV, FEATURES_FPSSE);
        }
    } else {
        // XRSTOR wants 64-byte alignment and a standard-format header.
        if !addr.is_multiple_of(64) {
            return Err(Errno::EFAULT);
        }
        task.mm.copy_in(UserAddr(addr), &mut img[..xstate_size])?;
        let header = &img[FX_SIZE..XSAVE_MIN];
        if header[8..].iter().any(|&b| b != 0) {
            return Err(Errno::EFAULT);
        }
        // Components the frame did not ask for start in their init state;
        // ones the CPU lacks are dropped by the platform's sanitising.
        let bv = u64_at(&img, OFF_XSTATE_BV);
        put_u64(
            &mut img,
            OFF_XSTATE_BV,
            bv & (user_features | FEATURES_FPSSE),
        );
    }
    let mut mask = task.signals.fp_mxcsr_mask;
    if mask == 0 {
        mask = MXCSR_MASK_DEFAULT;
    }
    if u32_at(&img, OFF_MXCSR) & !mask != 0 {
        return Err(Errno::EFAULT);
    }
    Ok(FpRestore::Image(img))
}
