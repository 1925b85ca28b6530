//! The floating-point / vector state of a stub thread, in the XSAVE
//! standard format (the layout Linux uses in signal frames): the 512-byte
//! legacy FXSAVE area, the 64-byte XSAVE header, then the extended
//! components. Hosts without XSAVE use the 512-byte legacy area alone.
//!
//! The image helpers are shared with systrap in [`veil_host::fpu`]; what
//! is here is how ptrace learns the layout and moves the state.

use std::io;
use std::sync::OnceLock;

pub(crate) use veil_host::fpu::{init_image, init_or_minimal, sanitize, Layout};
use veil_host::fpu::{
    u32_at, u64_at, FP_XSTATE_MAGIC1, HEADER, LEGACY, LEGACY_FEATURES, MXCSR_MASK_DEFAULT,
    OFF_MXCSR_MASK, OFF_SW, SW_LEN,
};

use crate::sys;

static LAYOUT: OnceLock<Layout> = OnceLock::new();

/// The layout, probing it through stopped tracee `pid` on first use.
pub(crate) fn layout(pid: i32) -> io::Result<&'static Layout> {
    if let Some(l) = LAYOUT.get() {
        return Ok(l);
    }
    let l = probe(pid)?;
    Ok(LAYOUT.get_or_init(|| l))
}

/// The layout if some stub has probed it already.
pub(crate) fn known_layout() -> Option<&'static Layout> {
    LAYOUT.get()
}

/// What the host's FP state looks like through ptrace: `xsave` when
/// NT_X86_XSTATE works, otherwise PTRACE_GETFPREGS (legacy only).
fn probe(pid: i32) -> io::Result<Layout> {
    let mut buf = vec![0u8; 64 << 10];
    let (xsave, size) = match sys::get_regset(pid, sys::NT_X86_XSTATE, &mut buf) {
        Ok(n) if n >= LEGACY + HEADER => (true, n),
        _ => {
            get_fpregs(pid, &mut buf[..LEGACY])?;
            (false, LEGACY)
        }
    };
    let mut sw = [0u8; SW_LEN];
    sw.copy_from_slice(&buf[OFF_SW..OFF_SW + SW_LEN]);
    let features = if xsave && u32_at(&sw, 0) == FP_XSTATE_MAGIC1 {
        u64_at(&sw, 8)
    } else {
        LEGACY_FEATURES
    };
    let mask = u32_at(&buf, OFF_MXCSR_MASK);
    Ok(Layout {
        xsave,
        size,
        features,
        mxcsr_mask: if mask == 0 { MXCSR_MASK_DEFAULT } else { mask },
        sw,
    })
}

fn get_fpregs(pid: i32, buf: &mut [u8]) -> io::Result<()> {
    debug_assert_eq!(buf.len(), LEGACY);
    // SAFETY: `buf` holds the 512 bytes of user_fpregs_struct.
    unsafe { sys::ptrace(libc::PTRACE_GETFPREGS, pid, 0, buf.as_mut_ptr() as usize) }.map(drop)
}

/// Reads stopped tracee `pid`'s FP state into `out`.
pub(crate) fn read(pid: i32, l: &Layout, out: &mut Vec<u8>) -> io::Result<()> {
    out.clear();
    out.resize(l.size, 0);
    if l.xsave {
        let n = sys::get_regset(pid, sys::NT_X86_XSTATE, out)?;
        out.truncate(n);
        Ok(())
    } else {
        get_fpregs(pid, out)
    }
}

/// Sets stopped tracee `pid`'s FP state from `state` (already sanitised,
/// `l.size` bytes).
pub(crate) fn write(pid: i32, l: &Layout, state: &[u8]) -> io::Result<()> {
    debug_assert_eq!(state.len(), l.size);
    if l.xsave {
        sys::set_regset(pid, sys::NT_X86_XSTATE, state)
    } else {
        // SAFETY: `state` holds the 512 bytes of user_fpregs_struct; the
        // kernel only reads it.
        unsafe { sys::ptrace(libc::PTRACE_SETFPREGS, pid, 0, state.as_ptr() as usize) }.map(drop)
    }
}
