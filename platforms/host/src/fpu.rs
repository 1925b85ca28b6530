//! The floating-point / vector state of a stub thread, in the XSAVE
//! standard format (the layout Linux uses in signal frames): the 512-byte
//! legacy FXSAVE area (whose software-reserved bytes 464..512 carry
//! `struct _fpx_sw_bytes`), the 64-byte XSAVE header, then the extended
//! components. Hosts without XSAVE use the 512-byte legacy area alone.
//!
//! These are the pure image helpers both platforms share; how a platform
//! learns the [`Layout`] (ptrace regsets, or a kernel-written signal
//! frame) and where it keeps it stay with the platform.

/// Bytes of the legacy FXSAVE area.
pub const LEGACY: usize = 512;
/// Bytes of the XSAVE header.
pub const HEADER: usize = 64;
const OFF_FCW: usize = 0;
/// Offset of MXCSR in the legacy area.
pub const OFF_MXCSR: usize = 24;
/// Offset of MXCSR_MASK in the legacy area.
pub const OFF_MXCSR_MASK: usize = 28;
/// `struct _fpx_sw_bytes` in the legacy area's software-reserved bytes.
pub const OFF_SW: usize = 464;
/// Bytes of the software-reserved area.
pub const SW_LEN: usize = 48;
/// `FP_XSTATE_MAGIC1`, the first word of the software bytes.
pub const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
/// `FP_XSTATE_MAGIC2`, right after `xstate_size` bytes in a signal frame.
pub const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;
/// Offset of XSTATE_BV (the first word of the XSAVE header).
pub const OFF_XSTATE_BV: usize = LEGACY;
/// x87 | SSE.
pub const LEGACY_FEATURES: u64 = 3;
const FCW_INIT: u16 = 0x37f;
const MXCSR_INIT: u32 = 0x1f80;
/// MXCSR_MASK to assume when the CPU reports zero.
pub const MXCSR_MASK_DEFAULT: u32 = 0xffbf;

/// What the host's FP state looks like.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The state has an XSAVE image; otherwise only the legacy 512 bytes.
    pub xsave: bool,
    /// Bytes of the state.
    pub size: usize,
    /// XSAVE features the kernel accepts.
    pub features: u64,
    /// MXCSR bits the CPU accepts.
    pub mxcsr_mask: u32,
    /// The software-reserved bytes the kernel reports (kept in the images
    /// we make, as Linux puts them in signal frames).
    pub sw: [u8; SW_LEN],
}

/// The little-endian `u32` at `off` of `b`.
pub fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

/// The little-endian `u64` at `off` of `b`.
pub fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

/// Linux's initial FP state (as after execve): FCW 0x37f, MXCSR 0x1f80,
/// every register zero, every extended component in its init state.
pub fn init_image(l: &Layout) -> Vec<u8> {
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

/// The initial state when the layout is not known yet: the legacy area
/// plus an XSAVE header.
pub fn minimal_init_image() -> Vec<u8> {
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
/// (512 bytes or fewer) keeps its x87/SSE part. The state's own
/// software-reserved bytes are kept (see [`sanitize_frame`]).
pub fn sanitize(l: &Layout, state: &[u8]) -> Vec<u8> {
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

/// [`sanitize`] for an image `rt_sigreturn` will load from a signal
/// frame: also writes the kernel's software bytes (`l.sw`) over the
/// state's.
pub fn sanitize_frame(l: &Layout, state: &[u8]) -> Vec<u8> {
    let mut b = sanitize(l, state);
    b[OFF_SW..OFF_SW + SW_LEN].copy_from_slice(&l.sw);
    b
}

/// FP state waiting to be loaded at a context's next switch.
#[derive(Debug)]
pub enum Pending {
    /// Nothing pending: the thread's live state is current.
    None,
    /// Back to Linux's initial state.
    Reset,
    /// This state (as core gave it, not yet sanitised).
    State(Vec<u8>),
}

impl Pending {
    /// The state core sees while this is pending, with layout `l` if it
    /// is known and the platform's `sanitize`; `None` when nothing is
    /// pending (the live state is what counts).
    pub fn image(
        &self,
        l: Option<&Layout>,
        sanitize: fn(&Layout, &[u8]) -> Vec<u8>,
    ) -> Option<Vec<u8>> {
        Some(match (self, l) {
            (Pending::State(s), Some(l)) => sanitize(l, s),
            (Pending::State(s), None) => s.clone(),
            (Pending::Reset, Some(l)) => init_image(l),
            (Pending::Reset, None) => minimal_init_image(),
            (Pending::None, _) => return None,
        })
    }
}

/// [`init_image`] for layout `l` if it is known, else
/// [`minimal_init_image`].
pub fn init_or_minimal(l: Option<&Layout>) -> Vec<u8> {
    match l {
        Some(l) => init_image(l),
        None => minimal_init_image(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(sw: [u8; SW_LEN]) -> Layout {
        Layout {
            xsave: true,
            size: 1024,
            features: 0x7,
            mxcsr_mask: 0xffff,
            sw,
        }
    }

    fn magic_sw() -> [u8; SW_LEN] {
        let mut sw = [0u8; SW_LEN];
        sw[..4].copy_from_slice(&FP_XSTATE_MAGIC1.to_le_bytes());
        sw
    }

    #[test]
    fn init_image_is_linux_initial_state() {
        let b = init_image(&layout([0; SW_LEN]));
        assert_eq!(b.len(), 1024);
        assert_eq!(u32_at(&b, 0) & 0xffff, 0x37f);
        assert_eq!(u32_at(&b, OFF_MXCSR), 0x1f80);
        assert_eq!(u64_at(&b, OFF_XSTATE_BV), 3);
        assert!(b[32..464].iter().all(|&x| x == 0));
        let b = init_image(&layout(magic_sw()));
        assert_eq!(u32_at(&b, OFF_SW), FP_XSTATE_MAGIC1);
    }

    #[test]
    fn sanitize_fixes_what_the_kernel_rejects() {
        for l in [layout([0; SW_LEN]), layout(magic_sw())] {
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

    #[test]
    fn sanitize_keeps_state_sw_but_frame_uses_kernel_sw() {
        let l = layout(magic_sw());
        let b = sanitize(&l, &[0xff; 5000]);
        assert_eq!(u32_at(&b, OFF_SW), 0xffff_ffff);
        let b = sanitize_frame(&l, &[0xff; 5000]);
        assert_eq!(u32_at(&b, OFF_SW), FP_XSTATE_MAGIC1, "software bytes kept");
        assert_eq!(u32_at(&b, OFF_MXCSR), 0xffff);
        assert_eq!(u64_at(&b, OFF_XSTATE_BV), 0x7);
    }

    #[test]
    fn minimal_image_is_initial() {
        let b = minimal_init_image();
        assert_eq!(b.len(), 576);
        assert_eq!(u32_at(&b, OFF_FCW) & 0xffff, 0x37f);
        assert_eq!(u32_at(&b, OFF_MXCSR), 0x1f80);
        assert_eq!(u32_at(&b, OFF_MXCSR_MASK), MXCSR_MASK_DEFAULT);
        assert_eq!(u64_at(&b, OFF_XSTATE_BV), LEGACY_FEATURES);
        assert!(b[OFF_SW..OFF_SW + SW_LEN].iter().all(|&x| x == 0));
    }
}
