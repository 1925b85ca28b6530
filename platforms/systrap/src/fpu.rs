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
//!
//! The image helpers are shared with ptrace in [`veil_host::fpu`].

use std::sync::OnceLock;

pub(crate) use veil_host::fpu::{init_image, init_or_minimal, Layout, FP_XSTATE_MAGIC2};
use veil_host::fpu::{
    u32_at, u64_at, FP_XSTATE_MAGIC1, HEADER, LEGACY, LEGACY_FEATURES, MXCSR_MASK_DEFAULT,
    OFF_MXCSR_MASK, OFF_SW, SW_LEN,
};

/// The largest XSAVE image we accept from a frame.
pub(crate) const MAX_SIZE: usize = 16 << 10;

static LAYOUT: OnceLock<Layout> = OnceLock::new();

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

/// Turns a state of any length and content (it may come from the
/// application, through a signal frame core built) into one
/// `rt_sigreturn` accepts: the layout's size, MXCSR within the CPU's
/// mask, a standard-format XSAVE header naming only supported features,
/// and the kernel's software bytes. A state with no header (512 bytes or
/// fewer) keeps its x87/SSE part.
pub(crate) fn sanitize(l: &Layout, state: &[u8]) -> Vec<u8> {
    veil_host::fpu::sanitize_frame(l, state)
}
