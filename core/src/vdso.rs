//! The vDSO: a small shared object mapped into every program at exec so
//! that clock_gettime, gettimeofday, time and clock_getres are answered
//! in the application's own address space, without a trap into the
//! Sentry — Linux's `arch/x86/entry/vdso`, with gVisor's division of work
//! (the Sentry keeps the parameters, the vDSO only reads them).
//!
//! # The pieces
//! - [`IMAGE`]: the vDSO itself, `vdso/vdso.so` built from `vdso/vdso.c`
//!   and `vdso/vdso.lds` by `tools/build-vdso.sh` and checked in, so that
//!   building veil needs no C compiler. It exports `__vdso_clock_gettime`,
//!   `__vdso_gettimeofday`, `__vdso_time`, `__vdso_clock_getres` and
//!   `__vdso_getcpu` (and the plain names) at version `LINUX_2.6`, with
//!   SysV and GNU hash tables and version definitions, as glibc and musl
//!   look them up.
//! - The parameter page ([`VvarPage`], `[vvar]` in /proc/self/maps),
//!   mapped read-only one page below the image, where the code finds it
//!   PC-relative. Per clock (monotonic, realtime) it holds a TSC value, the
//!   time at that value and the rate, under a sequence counter: the
//!   application computes `time = base + (tsc - base_tsc) * rate`
//!   ([`ClockParams::ns_at`]).
//! - [`Vdso`]: one per kernel, made at the first exec: the image pages and
//!   the parameter page in the memory file, shared by every address space
//!   (a private write to the image copies the page first), and the
//!   writer side of the page ([`Vdso::begin_update`]).
//! - [`Calibrator`]: the arithmetic that keeps TSC-based parameters close
//!   to a reference clock without ever jumping back: each update starts
//!   the new parameters exactly where the old ones are at that instant and
//!   picks a rate that reaches the reference by the next update (gVisor's
//!   `errorAdjust`); errors beyond [`MAX_ERROR_NS`] step the clock (only
//!   forward, for the monotonic clock).
//!
//! The embedder's [`Clock`](crate::host::Clock) owns time: it calibrates
//! the TSC against the host's clocks, answers the Sentry's own time reads
//! from the same parameters with the same arithmetic, and rewrites every
//! attached page whenever they change
//! ([`attach_vdso`](crate::host::Clock::attach_vdso)). The two paths are
//! one clock: a system call and a vDSO call made in either order never
//! see time go back. Until the clock attaches the page (or if the host's
//! clock source is not the TSC) the page says "not ready" and the vDSO
//! makes the real system call.
//!
//! # Linux behaviour followed
//! - `AT_SYSINFO_EHDR` points at the image, mapped `r-xp` as `[vdso]` with
//!   `[vvar]` (`r--p`) below it, placed top-down after the interpreter.
//!   The mapping survives fork and is replaced on exec. mprotect may make
//!   `[vdso]` writable (a write then copies the page, as Linux's COW of a
//!   special mapping) but never `[vvar]` (`EACCES`); mremap may move them
//!   but not grow them (`EFAULT`).
//! - Clocks served in user space: REALTIME, MONOTONIC, MONOTONIC_RAW,
//!   BOOTTIME, TAI and the two _COARSE clocks, each exactly as veil's
//!   system call serves it. The _COARSE clocks are the fine ones rounded
//!   down to [`COARSE_NS`], the resolution clock_getres reports (Linux's
//!   tick at HZ=250). Everything else (CPU-time clocks, bad ids) is the
//!   system call, and so is getcpu: veil answers it from the thread's
//!   affinity mask, which only the Sentry knows.
//!
//! # Left out
//! `__vdso_getrandom` and `__vdso_sgx_enter_enclave`; a `PT_NOTE` with the
//! kernel version (glibc falls back to uname); time namespaces.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{fence, Ordering};

use spin::{Mutex, MutexGuard};
use veil_abi::flags::{MAP_ANONYMOUS, MAP_PRIVATE};
use veil_abi::{Errno, PAGE_SIZE};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::addr::{FileOffset, UserAddr};
use crate::mm::{MemoryManager, PageAllocator};
use crate::platform::{MemoryFile, Prot};

/// The vDSO image (`vdso/vdso.so`).
pub static IMAGE: &[u8] = include_bytes!("../../vdso/vdso.so");

/// Resolution of CLOCK_REALTIME_COARSE and CLOCK_MONOTONIC_COARSE in ns:
/// what clock_getres reports for them, and the step their values move in.
pub const COARSE_NS: u64 = 4_000_000;

/// Fraction bits of [`ClockParams::mult`] and [`ClockParams::base_frac`].
pub const FRAC_BITS: u32 = 32;

/// Clock error beyond which [`Calibrator::next`] steps instead of slewing.
pub const MAX_ERROR_NS: u64 = 10_000_000;

/// The rate may differ from the measured one by at most 1/this while an
/// error is corrected (5%).
const MAX_SLEW_DIV: u64 = 20;

/// Samples of the reference clock kept for the rate estimate.
const MAX_SAMPLES: usize = 16;

/// One clock as a line through a point: at TSC `base_cycles` the time was
/// `base_ns` and `base_frac / 2^32` ns; it advances `mult / 2^32` ns per
/// cycle. The layout is `struct clock_params` in `vdso/vdso.c`.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, IntoBytes, FromBytes, Immutable, KnownLayout,
)]
pub struct ClockParams {
    /// The TSC at the base point.
    pub base_cycles: u64,
    /// Whole nanoseconds at the base point (wrapping: the monotonic
    /// clock of a sandbox is the host's shifted back to its boot).
    pub base_ns: u64,
    /// The fraction of a nanosecond at the base point, in 2^-32 ns
    /// (below 2^32).
    pub base_frac: u64,
    /// Nanoseconds per cycle, 32.32 fixed point.
    pub mult: u64,
}

impl ClockParams {
    /// Parameters through the point (`cycles`, `fixed`), where `fixed` is
    /// a time in 2^-32 ns, with rate `mult`.
    pub fn at_fixed(cycles: u64, fixed: u128, mult: u64) -> ClockParams {
        ClockParams {
            base_cycles: cycles,
            base_ns: (fixed >> FRAC_BITS) as u64,
            base_frac: (fixed & ((1u128 << FRAC_BITS) - 1)) as u64,
            mult,
        }
    }

    /// The time in ns at TSC `cycles`: exactly what the vDSO computes
    /// (`clock_ns` in `vdso/vdso.c`). A TSC before the base point counts
    /// as the base point.
    pub fn ns_at(&self, cycles: u64) -> u64 {
        let delta = cycles.saturating_sub(self.base_cycles);
        let x = delta as u128 * self.mult as u128 + self.base_frac as u128;
        self.base_ns.wrapping_add((x >> FRAC_BITS) as u64)
    }

    /// The time at `cycles` in 2^-32 ns, without rounding (the base taken
    /// as not wrapped).
    pub fn fixed_at(&self, cycles: u64) -> u128 {
        let delta = cycles.saturating_sub(self.base_cycles);
        ((self.base_ns as u128) << FRAC_BITS)
            .saturating_add(self.base_frac as u128)
            .saturating_add(delta as u128 * self.mult as u128)
    }

    /// The same line, `ns` earlier: the clock as seen by a sandbox that
    /// started `ns` into it. `ns_at` of the result is `ns_at(c) - ns`
    /// (wrapping).
    pub fn shifted_back(&self, ns: u64) -> ClockParams {
        ClockParams {
            base_ns: self.base_ns.wrapping_sub(ns),
            ..*self
        }
    }
}

/// The parameters of both clocks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeParams {
    /// CLOCK_MONOTONIC (and MONOTONIC_RAW, BOOTTIME), sandbox-relative
    /// when written to a page.
    pub monotonic: ClockParams,
    /// CLOCK_REALTIME (and TAI).
    pub realtime: ClockParams,
}

/// The parameter page as the vDSO reads it (`struct vvar` in
/// `vdso/vdso.c`). Only its first bytes are used.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, IntoBytes, FromBytes, Immutable, KnownLayout,
)]
pub struct VvarPage {
    /// Sequence counter: odd while the page is being rewritten.
    pub seq: u64,
    /// Non-zero when the clock parameters may be used.
    pub ready: u64,
    /// CLOCK_MONOTONIC.
    pub monotonic: ClockParams,
    /// CLOCK_REALTIME.
    pub realtime: ClockParams,
    /// [`COARSE_NS`].
    pub coarse_ns: u64,
}

const _: () = assert!(core::mem::size_of::<ClockParams>() == 32);
const _: () = assert!(core::mem::size_of::<VvarPage>() == 88);
const _: () = assert!(core::mem::offset_of!(VvarPage, monotonic) == 16);
const _: () = assert!(core::mem::offset_of!(VvarPage, realtime) == 48);
const _: () = assert!(core::mem::offset_of!(VvarPage, coarse_ns) == 80);

/// The vDSO of one kernel: its image and parameter page in the memory
/// file. Made on the first exec ([`crate::Kernel::vdso`]).
pub struct Vdso {
    mf: Arc<dyn MemoryFile>,
    pages: Arc<PageAllocator>,
    /// The image, `image_pages` pages.
    image: FileOffset,
    image_pages: u64,
    /// The parameter page.
    vvar: FileOffset,
    /// The writer's copy of the page's sequence counter; held while the
    /// page is rewritten.
    seq: Mutex<u64>,
}

impl core::fmt::Debug for Vdso {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Vdso")
            .field("image", &self.image)
            .field("vvar", &self.vvar)
            .finish()
    }
}

impl Vdso {
    /// Allocates the image and parameter pages from `pages` and fills
    /// them; the page starts "not ready".
    pub fn new(pages: Arc<PageAllocator>) -> Result<Vdso, Errno> {
        let mf = pages.memory_file().clone();
        let image_pages = (IMAGE.len() as u64).div_ceil(PAGE_SIZE);
        let vvar = pages.alloc(1)?;
        let image = match pages.alloc(image_pages) {
            Ok(off) => off,
            Err(e) => {
                pages.decref(vvar, 1);
                return Err(e);
            }
        };
        let v = Vdso {
            mf,
            pages,
            image,
            image_pages,
            vvar,
            seq: Mutex::new(0),
        };
        // Fresh pages read as zero; on error, drop releases them.
        v.mf.write(image, IMAGE)?;
        let page = VvarPage {
            coarse_ns: COARSE_NS,
            ..VvarPage::default()
        };
        v.mf.write(vvar, page.as_bytes())?;
        Ok(v)
    }

    /// Bytes of the image mapping (whole pages).
    pub fn image_len(&self) -> u64 {
        self.image_pages * PAGE_SIZE
    }

    /// Starts rewriting the page: its sequence counter turns odd (vDSO
    /// readers wait or make the system call) until the returned update is
    /// finished or dropped. Updates of one page are serialised.
    pub fn begin_update(&self) -> VvarUpdate<'_> {
        let mut seq = self.seq.lock();
        *seq = seq.wrapping_add(1) | 1;
        let _ = self.mf.store_u64(self.vvar, *seq);
        // The odd counter is visible before any of the new contents.
        fence(Ordering::SeqCst);
        VvarUpdate { vdso: self, seq }
    }

    /// Writes `params` (or "not ready") to the page in one update.
    pub fn publish(&self, params: Option<&TimeParams>) {
        self.begin_update().finish(params);
    }

    /// The page as it is now (for tests and diagnostics).
    pub fn page(&self) -> Result<VvarPage, Errno> {
        let mut p = VvarPage::default();
        self.mf.read(self.vvar, p.as_mut_bytes())?;
        Ok(p)
    }

    /// Maps `[vvar]` and `[vdso]` into `mm`, top-down below the mappings
    /// already there; returns the image's address (`AT_SYSINFO_EHDR`).
    pub fn map_into(&self, mm: &MemoryManager) -> Result<UserAddr, Errno> {
        let len = PAGE_SIZE + self.image_len();
        // Find a hole the way mmap would, then fill it.
        let at = mm.mmap(
            UserAddr(0),
            len,
            Prot::empty(),
            MAP_PRIVATE | MAP_ANONYMOUS,
            None,
        )?;
        mm.map_pages(at, PAGE_SIZE, self.vvar, Prot::READ, Prot::READ, "[vvar]")?;
        let text = UserAddr(at.0 + PAGE_SIZE);
        mm.map_pages(
            text,
            self.image_len(),
            self.image,
            Prot::READ | Prot::EXEC,
            Prot::all(),
            "[vdso]",
        )?;
        Ok(text)
    }
}

impl Drop for Vdso {
    fn drop(&mut self) {
        self.pages.decref(self.vvar, 1);
        self.pages.decref(self.image, self.image_pages);
    }
}

/// A rewrite of a parameter page in progress ([`Vdso::begin_update`]).
pub struct VvarUpdate<'a> {
    vdso: &'a Vdso,
    seq: MutexGuard<'a, u64>,
}

impl VvarUpdate<'_> {
    /// Writes the parameters (`None`: not ready) and ends the update.
    pub fn finish(self, params: Option<&TimeParams>) {
        let page = VvarPage {
            seq: *self.seq,
            ready: params.is_some() as u64,
            monotonic: params.map(|p| p.monotonic).unwrap_or_default(),
            realtime: params.map(|p| p.realtime).unwrap_or_default(),
            coarse_ns: COARSE_NS,
        };
        // Everything after the counter; the counter itself turns even
        // when `self` drops.
        let _ = self
            .vdso
            .mf
            .write(FileOffset(self.vdso.vvar.0 + 8), &page.as_bytes()[8..]);
    }
}

impl Drop for VvarUpdate<'_> {
    fn drop(&mut self) {
        *self.seq = self.seq.wrapping_add(1);
        fence(Ordering::SeqCst);
        let _ = self.vdso.mf.store_u64(self.vdso.vvar, *self.seq);
    }
}

/// One reading of a reference clock against the TSC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The TSC at the reading.
    pub cycles: u64,
    /// The reference clock, ns.
    pub ns: u64,
}

/// Keeps one TSC-based clock ([`ClockParams`]) tracking a reference clock
/// (the host's CLOCK_MONOTONIC or CLOCK_REALTIME) from periodic samples.
#[derive(Clone, Debug)]
pub struct Calibrator {
    samples: Vec<Sample>,
    may_step_back: bool,
}

impl Calibrator {
    /// A calibrator with no samples. `may_step_back`: the clock may jump
    /// back when the reference does (realtime); otherwise it only ever
    /// moves forward and a reference far behind is caught up by slewing.
    pub fn new(may_step_back: bool) -> Calibrator {
        Calibrator {
            samples: Vec::new(),
            may_step_back,
        }
    }

    /// Adds a sample. A sample the history contradicts (the TSC did not
    /// advance, or the reference moved more than [`MAX_ERROR_NS`] away
    /// from what the measured rate predicts: the reference was set)
    /// starts a new history.
    pub fn add(&mut self, s: Sample) {
        if let Some(last) = self.samples.last().copied() {
            let contradicts = if s.cycles <= last.cycles {
                true
            } else {
                match self.rate() {
                    Some(m) => {
                        let predicted = ((last.ns as u128) << FRAC_BITS)
                            + (s.cycles - last.cycles) as u128 * m as u128;
                        let got = (s.ns as u128) << FRAC_BITS;
                        predicted.abs_diff(got) > (MAX_ERROR_NS as u128) << FRAC_BITS
                    }
                    None => s.ns < last.ns,
                }
            };
            if contradicts {
                self.samples.clear();
            }
        }
        if self.samples.len() == MAX_SAMPLES {
            self.samples.remove(0);
        }
        self.samples.push(s);
    }

    /// The newest sample.
    pub fn newest(&self) -> Option<Sample> {
        self.samples.last().copied()
    }

    /// The rate (ns per cycle, 32.32) between the oldest and the newest
    /// sample, once there are two that say something.
    pub fn rate(&self) -> Option<u64> {
        let (a, b) = (self.samples.first()?, self.samples.last()?);
        let dc = b.cycles.checked_sub(a.cycles).filter(|&d| d > 0)?;
        let dn = b.ns.checked_sub(a.ns).filter(|&d| d > 0)?;
        let m = ((dn as u128) << FRAC_BITS) / dc as u128;
        u64::try_from(m).ok().filter(|&m| m > 0)
    }

    /// The parameters to use from TSC `now` on, given the current ones
    /// (`None` before the first), `ref_now` (the reference clock read
    /// just before `now`, for the first parameters) and the time until
    /// the next update. `None`: nothing to go on yet (fewer than two
    /// samples), keep what there is.
    ///
    /// Later parameters start exactly at the current ones' value at `now`
    /// (no jump) with a rate that meets the reference by the next update;
    /// an error over [`MAX_ERROR_NS`] is a step (forward only unless
    /// `may_step_back`; a reference far behind a forward-only clock is
    /// approached at the slowest allowed rate).
    pub fn next(
        &self,
        cur: Option<&ClockParams>,
        now: u64,
        ref_now: u64,
        interval_ns: u64,
    ) -> Option<ClockParams> {
        let Some(cur) = cur else {
            let m = self.rate()?;
            return Some(ClockParams::at_fixed(
                now,
                (ref_now as u128) << FRAC_BITS,
                m,
            ));
        };
        let s = self.newest()?;
        let m = self.rate().unwrap_or(cur.mult).max(1);
        let cur_fixed = cur.fixed_at(now);
        // Where the reference is at `now`, by the newest sample and rate.
        let sample_fixed = (s.ns as u128) << FRAC_BITS;
        let target = if now >= s.cycles {
            sample_fixed.saturating_add((now - s.cycles) as u128 * m as u128)
        } else {
            sample_fixed.saturating_sub((s.cycles - now) as u128 * m as u128)
        };
        let max_err = (MAX_ERROR_NS as u128) << FRAC_BITS;
        let slew = (m / MAX_SLEW_DIV) as u128;
        let mult = if target > cur_fixed {
            let err = target - cur_fixed;
            if err > max_err {
                return Some(ClockParams::at_fixed(now, target, m));
            }
            let per = interval_cycles(interval_ns, m);
            m as u128 + (err / per).min(slew)
        } else {
            let err = cur_fixed - target;
            if err > max_err && self.may_step_back {
                return Some(ClockParams::at_fixed(now, target, m));
            }
            let per = interval_cycles(interval_ns, m);
            m as u128 - (err / per).min(slew)
        };
        Some(ClockParams::at_fixed(
            now,
            cur_fixed,
            u64::try_from(mult).unwrap_or(u64::MAX),
        ))
    }
}

/// TSC cycles in `interval_ns` at rate `m` (at least 1).
fn interval_cycles(interval_ns: u64, m: u64) -> u128 {
    (((interval_ns as u128) << FRAC_BITS) / m.max(1) as u128).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::TestBed;
    use crate::platform::Access;

    /// 3 GHz: 1/3 ns per cycle.
    const M3: u64 = (1u64 << 32) / 3;

    #[test]
    fn image_is_a_vdso() {
        // ELF64, little endian, ET_DYN, x86-64, linked at 0, one PT_LOAD
        // covering the file from offset 0.
        assert_eq!(&IMAGE[..4], b"\x7fELF");
        assert_eq!(IMAGE[4], 2);
        assert_eq!(u16::from_le_bytes([IMAGE[16], IMAGE[17]]), 3);
        assert_eq!(u16::from_le_bytes([IMAGE[18], IMAGE[19]]), 62);
        let phoff = u64::from_le_bytes(IMAGE[32..40].try_into().unwrap()) as usize;
        let phnum = u16::from_le_bytes([IMAGE[56], IMAGE[57]]) as usize;
        let mut loads = 0;
        let mut dynamic = false;
        for i in 0..phnum {
            let ph = &IMAGE[phoff + 56 * i..phoff + 56 * (i + 1)];
            let typ = u32::from_le_bytes(ph[0..4].try_into().unwrap());
            let off = u64::from_le_bytes(ph[8..16].try_into().unwrap());
            let vaddr = u64::from_le_bytes(ph[16..24].try_into().unwrap());
            if typ == 1 {
                loads += 1;
                assert_eq!((off, vaddr), (0, 0));
            }
            dynamic |= typ == 2;
        }
        assert_eq!(loads, 1);
        assert!(dynamic);
        let has = |s: &[u8]| IMAGE.windows(s.len()).any(|w| w == s);
        for name in [
            &b"__vdso_clock_gettime\0"[..],
            b"__vdso_gettimeofday\0",
            b"__vdso_time\0",
            b"__vdso_clock_getres\0",
            b"__vdso_getcpu\0",
            b"LINUX_2.6\0",
            b"linux-vdso.so.1\0",
        ] {
            assert!(has(name), "{:?}", core::str::from_utf8(name));
        }
    }

    #[test]
    fn params_arithmetic() {
        let p = ClockParams {
            base_cycles: 1000,
            base_ns: 5_000,
            base_frac: 1 << 31,
            mult: M3,
        };
        assert_eq!(p.ns_at(1000), 5_000);
        assert_eq!(p.ns_at(0), 5_000, "before the base: the base");
        // 3000 cycles = 999.99..ns (M3 rounds down) + 0.5 ns.
        assert_eq!(p.ns_at(4000), 6_000);
        assert_eq!(p.fixed_at(4000) >> 32, 6_000);
        // 3e9 cycles: 999_999_999.77 ns, plus the half: rounds to 1 s.
        assert_eq!(p.ns_at(1000 + 3_000_000_000), 5_000 + 1_000_000_000);
        // Shifting by an epoch is plain (wrapping) subtraction.
        let s = p.shifted_back(6_000);
        assert_eq!(s.ns_at(4000), 0);
        assert_eq!(s.ns_at(7000), p.ns_at(7000) - 6_000);
        assert_eq!(s.base_ns, 5_000u64.wrapping_sub(6_000));
        // A huge delta does not overflow.
        let far = p.ns_at(u64::MAX);
        assert!(far > 5_000);
        let r = ClockParams::at_fixed(7, (12u128 << 32) + 5, 9);
        assert_eq!(
            (r.base_cycles, r.base_ns, r.base_frac, r.mult),
            (7, 12, 5, 9)
        );
    }

    /// A reference clock running at `ppb` parts per billion off a 3 GHz
    /// TSC, sampled each second with `jitter` ns of error, tracked for a
    /// minute: the clock never goes back and ends within 100 ns.
    fn track(ppb: i64, jitter: u64) -> u64 {
        let freq = 3_000_000_000u64;
        let ref_at = |c: u64| -> u64 {
            let ns = c as u128 * 1_000_000_000 / freq as u128;
            (ns as i128 + ns as i128 * ppb as i128 / 1_000_000_000) as u64 + 1_000_000_000_000
        };
        let mut cal = Calibrator::new(false);
        let mut cur: Option<ClockParams> = None;
        let mut last_read = 0u64;
        let mut c = 1_000_000u64;
        let mut worst = 0u64;
        let mut flip = 0u64;
        for step in 0..64u64 {
            flip ^= jitter;
            cal.add(Sample {
                cycles: c,
                ns: ref_at(c) + flip,
            });
            let now = c + 100;
            if let Some(p) = cal.next(cur.as_ref(), now, ref_at(now), 1_000_000_000) {
                if let Some(old) = cur {
                    assert_eq!(p.ns_at(now), old.ns_at(now), "continuous at {step}");
                }
                cur = Some(p);
            }
            // Read the clock through the next second.
            let next = c + if step < 3 { freq / 1000 } else { freq };
            if let Some(p) = cur {
                let mut r = now;
                while r < next {
                    let v = p.ns_at(r);
                    assert!(v >= last_read, "went back at step {step}");
                    last_read = v;
                    r += freq / 7;
                }
                if step > 10 {
                    worst = worst.max(p.ns_at(next).abs_diff(ref_at(next)));
                }
            }
            c = next;
        }
        worst
    }

    #[test]
    fn tracks_the_reference_without_going_back() {
        assert!(track(0, 0) < 100, "{}", track(0, 0));
        assert!(track(50_000, 20) < 100, "{}", track(50_000, 20));
        assert!(track(-80_000, 20) < 100, "{}", track(-80_000, 20));
    }

    #[test]
    fn steps_and_slews() {
        let mut cal = Calibrator::new(true);
        cal.add(Sample { cycles: 0, ns: 0 });
        assert_eq!(cal.next(None, 10, 5, 1), None, "one sample: no rate");
        cal.add(Sample {
            cycles: 3_000,
            ns: 1_000,
        });
        let p = cal.next(None, 3_000, 1_000, 1_000_000_000).unwrap();
        assert_eq!((p.base_cycles, p.ns_at(3_000)), (3_000, 1_000));
        assert_eq!(p.mult, M3, "1000 ns over 3000 cycles");
        // The reference is set 1 s back: a realtime clock steps back.
        cal.add(Sample {
            cycles: 3_000_000_000,
            ns: 1_000,
        });
        assert_eq!(cal.newest().unwrap().ns, 1_000);
        assert_eq!(cal.rate(), None, "the history restarted");
        let q = cal.next(Some(&p), 3_000_000_000, 0, 1_000_000_000).unwrap();
        assert_eq!(q.ns_at(3_000_000_000), 1_000);
        // A monotonic clock never steps back: it slews at the slowest rate.
        let mut mono = Calibrator::new(false);
        let s = 1_000_000_000;
        mono.add(Sample { cycles: 0, ns: s });
        mono.add(Sample {
            cycles: 3_000_000,
            ns: s + 1_000_000,
        });
        let ahead = ClockParams::at_fixed(3_000_000, (3 * s as u128) << 32, M3);
        let r = mono
            .next(Some(&ahead), 3_000_000, 0, 1_000_000_000)
            .unwrap();
        assert_eq!(r.ns_at(3_000_000), 3 * s);
        assert!(r.mult < M3 && r.mult >= M3 - M3 / 20 - 1, "{}", r.mult);
        // ... but steps forward to a reference far ahead.
        let behind = ClockParams::at_fixed(3_000_000, 0, M3);
        let r = mono
            .next(Some(&behind), 3_000_000, 0, 1_000_000_000)
            .unwrap();
        assert_eq!(r.ns_at(3_000_000), s + 1_000_000);
        // A small error is slewed away over the interval.
        let late = ClockParams::at_fixed(3_000_000, ((s + 900_000) as u128) << 32, M3);
        let r = mono.next(Some(&late), 3_000_000, 0, 1_000_000_000).unwrap();
        assert_eq!(r.ns_at(3_000_000), s + 900_000, "no jump");
        assert!(r.ns_at(3_003_000_000).abs_diff(2 * s + 1_000_000) <= 2);
        // A TSC that went back restarts the history.
        mono.add(Sample {
            cycles: 5,
            ns: 2_000_000,
        });
        assert_eq!(mono.rate(), None);
    }

    #[test]
    fn page_updates_keep_the_sequence() {
        let tb = TestBed::new();
        let v = Vdso::new(tb.kernel.pages.clone()).unwrap();
        let p0 = v.page().unwrap();
        assert_eq!((p0.seq, p0.ready, p0.coarse_ns), (0, 0, COARSE_NS));
        let params = TimeParams {
            monotonic: ClockParams::at_fixed(1, 2 << 32, 3),
            realtime: ClockParams::at_fixed(4, 5 << 32, 6),
        };
        let u = v.begin_update();
        assert!(
            !v.page().unwrap().seq.is_multiple_of(2),
            "odd while writing"
        );
        u.finish(Some(&params));
        let p = v.page().unwrap();
        assert_eq!((p.seq, p.ready), (2, 1));
        assert_eq!(
            (p.monotonic, p.realtime),
            (params.monotonic, params.realtime)
        );
        // An update dropped unfinished leaves the contents.
        drop(v.begin_update());
        let q = v.page().unwrap();
        assert_eq!((q.seq, q.ready, q.realtime), (4, 1, params.realtime));
        v.publish(None);
        assert_eq!(v.page().unwrap().ready, 0);
        let before = tb.kernel.pages.allocated_pages();
        drop(v);
        assert_eq!(tb.kernel.pages.allocated_pages(), before - 2);
    }

    #[test]
    fn mapping_is_shared_read_only_and_copies_on_write() {
        let tb = TestBed::new();
        let t = tb.task();
        let v = Vdso::new(tb.kernel.pages.clone()).unwrap();
        let text = v.map_into(&t.mm).unwrap();
        let vvar = UserAddr(text.0 - PAGE_SIZE);
        let maps = t.mm.maps_text();
        assert!(
            maps.contains(" r--p 00000000 00:00 0 ") && maps.contains("[vvar]"),
            "{maps}"
        );
        assert!(
            maps.contains(" r-xp 00000000 00:00 0 ") && maps.contains("[vdso]"),
            "{maps}"
        );
        // The application sees the image and the live page.
        let mut head = [0u8; 4];
        t.mm.copy_in(text, &mut head).unwrap();
        assert_eq!(&head, b"\x7fELF");
        v.publish(Some(&TimeParams::default()));
        assert_eq!(t.mm.read_obj::<u64>(UserAddr(vvar.0 + 8)).unwrap(), 1);
        assert_eq!(
            t.mm.translate(vvar),
            Some(v.vvar),
            "the page itself, not a copy"
        );
        // Read-only: writes fault, mprotect cannot make [vvar] writable.
        assert_eq!(t.mm.copy_out(vvar, &[0]), Err(Errno::EFAULT));
        assert_eq!(t.mm.handle_fault(vvar, Access::Write), Err(Errno::EACCES));
        assert_eq!(
            t.mm.mprotect(vvar, PAGE_SIZE, Prot::READ | Prot::WRITE),
            Err(Errno::EACCES)
        );
        assert_eq!(
            t.mm.mprotect(vvar, PAGE_SIZE, Prot::READ | Prot::EXEC),
            Err(Errno::EACCES)
        );
        // A forced write (ptrace, /proc/pid/mem) copies: others keep the page.
        t.mm.write_force(vvar, &[7]).unwrap();
        assert_ne!(t.mm.translate(vvar), Some(v.vvar));
        assert_eq!(v.page().unwrap().seq, 2);
        // [vdso] may become writable; writing copies the page.
        t.mm.mprotect(text, PAGE_SIZE, Prot::all()).unwrap();
        t.mm.copy_out(text, b"X").unwrap();
        let mut img = [0u8; 1];
        tb.kernel.mf.read(v.image, &mut img).unwrap();
        assert_eq!(&img, b"\x7f", "the shared image is untouched");
        // MADV_DONTNEED brings the original back.
        t.mm.madvise(text, PAGE_SIZE, veil_abi::flags::MADV_DONTNEED)
            .unwrap();
        t.mm.copy_in(text, &mut head).unwrap();
        assert_eq!(&head, b"\x7fELF");
        // Growing is refused; moving works.
        assert_eq!(
            t.mm.mremap(text, PAGE_SIZE, 2 * PAGE_SIZE, 1, UserAddr(0)),
            Err(Errno::EFAULT)
        );
        // Forking shares; dropping every mapping keeps the vDSO's pages.
        let child =
            t.mm.fork(tb.kernel.platform.new_address_space().unwrap())
                .unwrap();
        child.copy_in(text, &mut head).unwrap();
        assert_eq!(&head, b"\x7fELF");
        assert_eq!(child.translate(text), Some(v.image));
        drop(child);
        assert_eq!(tb.kernel.pages.refcount(v.vvar), 1);
    }
}
