//! The floating-point / vector state, in the XSAVE standard format that
//! Linux puts in signal frames: the 512-byte legacy FXSAVE area (whose
//! software-reserved bytes 464..512 carry `struct _fpx_sw_bytes`), the
//! 64-byte XSAVE header, the extended components, and `FP_XSTATE_MAGIC2`
//! right after `xstate_size` bytes.
//!
//! On systrap the application's FP state lives in the signal frame on its
//! slot's alternate stack: the kernel saves it there at every trap and
//! restores it at `rt_sigreturn`. The Sentry reads it and writes it in
//! place; nothing is copied unless core asks. The layout (size, features,
//! MXCSR mask, software bytes) is taken once from the first frame the
//! kernel writes for a fresh stub thread, before any application code
//! runs in that stub.

use std::sync::OnceLock;

const LEGACY: usize = 512;
const HEADER: usize = 64;
const OFF_FCW: usize = 0;
const OFF_MXCSR: usize = 24;
const OFF_MXCSR_MASK: usize = 28;
/// `struct _fpx_sw_bytes` in the legacy area's software-reserved bytes.
pub(crate) const OFF_SW: usize = 464;
const SW_LEN: usize = 48;
pub(crate) const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
pub(crate) const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;
const OFF_XSTATE_BV: usize = LEGACY;
/// x87 | SSE.
const LEGACY_FEATURES: u64 = 3;
const FCW_INIT: u16 = 0x37f;
const MXCSR_INIT: u32 = 0x1f80;
const MXCSR_MASK_DEFAULT: u32 = 0xffbf;
/// The largest XSAVE image we accept from a frame.
pub(crate) const MAX_SIZE: usize = 16 << 10;

/// The shape of the FP state in this host's signal frames.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// The frame has an XSAVE image (with software bytes and MAGIC2);
    /// otherwise only the legacy 512 bytes.
    pub xsave: bool,
    /// Bytes of the image (`xstate_size`), MAGIC2 not included.
    pub size: usize,
    /// XSAVE features the kernel accepts in a frame.
    pub features: u64,
    /// MXCSR bits the CPU accepts.
    pub mxcsr_mask: u32,
    /// The kernel's software bytes, written back into every image we load.
    sw: [u8; SW_LEN],
}

static LAYOUT: OnceLock<Layout> = OnceLock::new();

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

/// The layout, if a frame has established it.
pub(crate) fn known_layout() -> Option<&'static Layout> {
    LAYOUT.get()
}

/// Establishes the layout from the legacy area of a kernel-written frame
/// (`legacy` is its first 512 bytes). `room` is how many bytes the frame
/// has from its FP area to the end of the stack, so that a size that
/// would not fit is refused. Returns the layout now in force.
pub(crate) fn learn(legacy: &[u8], room: usize) -> Option<&'static Layout> {
    if let Some(l) = LAYOUT.get() {
        return Some(l);
    }
    if legacy.len() < LEGACY {
        return None;
    }
    let mut sw = [0u8; SW_LEN];
    sw.copy_from_slice(&legacy[OFF_SW..OFF_SW + SW_LEN]);
    let (xsave, size, features) = if u32_at(&sw, 0) == FP_XSTATE_MAGIC1 {
        let size = u32_at(&sw, 16) as usize;
        if !(LEGACY + HEADER..=MAX_SIZE).contains(&size) || size + 4 > room {
            return None;
        }
        (true, size, u64_at(&sw, 8))
    } else {
        (false, LEGACY, LEGACY_FEATURES)
    };
    let mask = u32_at(legacy, OFF_MXCSR_MASK);
    let l = Layout {
        xsave,
        size,
        features,
        mxcsr_mask: if mask == 0 { MXCSR_MASK_DEFAULT } else { mask },
        sw,
    };
    Some(LAYOUT.get_or_init(|| l))
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

/// The initial state when no frame has shown the layout yet: the legacy
/// area plus an XSAVE header.
pub(crate) fn minimal_init_image() -> Vec<u8> {
    let mut b = vec![0u8; LEGACY + HEADER];
    b[OFF_FCW..OFF_FCW + 2].copy_from_slice(&FCW_INIT.to_le_bytes());
    b[OFF_MXCSR..OFF_MXCSR + 4].copy_from_slice(&MXCSR_INIT.to_le_bytes());
    b[OFF_MXCSR_MASK..OFF_MXCSR_MASK + 4].copy_from_slice(&MXCSR_MASK_DEFAULT.to_le_bytes());
    b[OFF_XSTATE_BV..OFF_XSTATE_BV + 8].copy_from_slice(&LEGACY_FEATURES.to_le_bytes());
    b
}

/// Turns a state of any length and content (it may come from the
/// application, through a signal frame core built) into one
/// `rt_sigreturn` accepts: the layout's size, MXCSR within the CPU's
/// mask, a standard-format XSAVE header naming only supported features,
/// and the kernel's software bytes. A state with no header (512 bytes or
/// fewer) keeps its x87/SSE part.
pub(crate) fn sanitize(l: &Layout, state: &[u8]) -> Vec<u8> {
    let mut b = init_image(l);
    let n = state.len().min(l.size);
    b[..n].copy_from_slice(&state[..n]);
    let mxcsr = u32_at(&b, OFF_MXCSR) & l.mxcsr_mask;
    b[OFF_MXCSR..OFF_MXCSR + 4].copy_from_slice(&mxcsr.to_le_bytes());
    b[OFF_SW..OFF_SW + SW_LEN].copy_from_slice(&l.sw);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        let mut sw = [0u8; SW_LEN];
        sw[..4].copy_from_slice(&FP_XSTATE_MAGIC1.to_le_bytes());
        Layout {
            xsave: true,
            size: 1024,
            features: 0x7,
            mxcsr_mask: 0xffff,
            sw,
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
        assert_eq!(u32_at(&b, OFF_SW), FP_XSTATE_MAGIC1);
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
        assert_eq!(u32_at(&b, OFF_SW), FP_XSTATE_MAGIC1, "software bytes kept");
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

    #[test]
    fn minimal_image_is_initial() {
        let b = minimal_init_image();
        assert_eq!(b.len(), 576);
        assert_eq!(u32_at(&b, OFF_MXCSR), 0x1f80);
    }
}
