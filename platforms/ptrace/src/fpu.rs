//! The floating-point / vector state of a stub thread, in the XSAVE
//! standard format (the layout Linux uses in signal frames): the 512-byte
//! legacy FXSAVE area, the 64-byte XSAVE header, then the extended
//! components. Hosts without XSAVE use the 512-byte legacy area alone.

use std::io;
use std::sync::OnceLock;

use crate::sys;

const LEGACY: usize = 512;
const HEADER: usize = 64;
const OFF_FCW: usize = 0;
const OFF_MXCSR: usize = 24;
const OFF_MXCSR_MASK: usize = 28;
/// `struct _fpx_sw_bytes` in the legacy area's software-reserved bytes.
const OFF_SW: usize = 464;
const SW_LEN: usize = 48;
const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
const OFF_XSTATE_BV: usize = LEGACY;
/// x87 | SSE.
const LEGACY_FEATURES: u64 = 3;
const FCW_INIT: u16 = 0x37f;
const MXCSR_INIT: u32 = 0x1f80;
const MXCSR_MASK_DEFAULT: u32 = 0xffbf;

/// What the host's FP state looks like through ptrace.
#[derive(Debug)]
pub(crate) struct Layout {
    /// NT_X86_XSTATE works; otherwise PTRACE_GETFPREGS (legacy only).
    pub xsave: bool,
    /// Bytes of the state.
    pub size: usize,
    /// XSAVE features the kernel accepts.
    pub features: u64,
    /// MXCSR bits the CPU accepts.
    pub mxcsr_mask: u32,
    /// The software-reserved bytes the kernel reports (kept in the
    /// images we make, as Linux puts them in signal frames).
    sw: [u8; SW_LEN],
}

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

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

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

/// Linux's initial FP state (as after execve): FCW 0x37f, MXCSR 0x1f80,
/// every register zero, every extended component in its init state.
pub(crate) fn init_image(l: &Layout) -> Vec<u8> {
    let mut b = vec![0u8; l.size];
    b[OFF_FCW..OFF_FCW + 2].copy_from_slice(&FCW_INIT.to_le_bytes());
    b[OFF_MXCSR..OFF_MXCSR + 4].copy_from_slice(&MXCSR_INIT.to_le_bytes());
    b[OFF_MXCSR_MASK..OFF_MXCSR_MASK + 4].copy_from_slice(&l.mxcsr_mask.to_le_bytes());
    b[OFF_SW..OFF_SW + SW_LEN].copy_from_slice(&l.sw);
    if l.xsave {
        b[OFF_XSTATE_BV..OFF_XSTATE_BV + 8].copy_from_slice(&LEGACY_FEATURES.to_le_bytes());
    }
    b
}

/// The initial state when no stub has probed the layout yet: legacy area
/// plus an XSAVE header.
pub(crate) fn minimal_init_image() -> Vec<u8> {
    let l = Layout {
        xsave: true,
        size: LEGACY + HEADER,
        features: LEGACY_FEATURES,
        mxcsr_mask: MXCSR_MASK_DEFAULT,
        sw: [0; SW_LEN],
    };
    init_image(&l)
}

/// Turns a state of any length and content (it may come from the
/// application, through a signal frame) into one the kernel accepts:
/// the layout's size, MXCSR within the CPU's mask, and a standard-format
/// XSAVE header naming only supported features. A state with no header
/// (512 bytes or fewer) keeps its x87/SSE part.
pub(crate) fn sanitize(l: &Layout, state: &[u8]) -> Vec<u8> {
    let mut b = init_image(l);
    let n = state.len().min(l.size);
    b[..n].copy_from_slice(&state[..n]);
    let mxcsr = u32_at(&b, OFF_MXCSR) & l.mxcsr_mask;
    b[OFF_MXCSR..OFF_MXCSR + 4].copy_from_slice(&mxcsr.to_le_bytes());
    if l.xsave {
        let bv = if state.len() < LEGACY + 8 {
            LEGACY_FEATURES
        } else {
            u64_at(&b, OFF_XSTATE_BV) & l.features
        };
        b[OFF_XSTATE_BV..OFF_XSTATE_BV + 8].copy_from_slice(&bv.to_le_bytes());
        // xcomp_bv (standard format) and the reserved header bytes.
        b[LEGACY + 8..LEGACY + HEADER].fill(0);
    }
    b
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

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            xsave: true,
            size: 1024,
            features: 0x7,
            mxcsr_mask: 0xffff,
            sw: [0; SW_LEN],
        }
    }

    #[test]
    fn init_image_is_linux_initial_state() {
        let b = init_image(&layout());
        assert_eq!(b.len(), 1024);
        assert_eq!(u32_at(&b, 0) & 0xffff, 0x37f);
        assert_eq!(u32_at(&b, OFF_MXCSR), 0x1f80);
        assert_eq!(u64_at(&b, OFF_XSTATE_BV), 3);
        assert!(b[32..464].iter().all(|&x| x == 0));
    }

    #[test]
    fn sanitize_fixes_what_the_kernel_rejects() {
        let l = layout();
        // Hostile: every byte 0xff, too long.
        let b = sanitize(&l, &[0xff; 5000]);
        assert_eq!(b.len(), 1024);
        assert_eq!(u32_at(&b, OFF_MXCSR), 0xffff);
        assert_eq!(u64_at(&b, OFF_XSTATE_BV), 0x7);
        assert!(b[520..576].iter().all(|&x| x == 0));
        // Legacy only: keeps x87/SSE, header says so.
        let mut legacy = vec![0u8; 512];
        legacy[160] = 0x42; // xmm0
        let b = sanitize(&l, &legacy);
        assert_eq!(b[160], 0x42);
        assert_eq!(u64_at(&b, OFF_XSTATE_BV), 3);
        // Short garbage.
        let b = sanitize(&l, &[1, 2, 3]);
        assert_eq!(&b[..3], &[1, 2, 3]);
        assert_eq!(b.len(), 1024);
    }
}
