//! The memory manager against an interval model, through the syscalls
//! (mmap, munmap, mprotect, mremap, brk) and user-memory copies.
//!
//! The model is a sorted list of VMAs (start, end, protection, shared)
//! that splits and merges as Linux does for anonymous memory (adjacent
//! private areas with equal protection merge; shared anonymous areas are
//! each their own object and do not), plus one tag byte per page (what
//! the page's first bytes hold) that moves with mremap and is zero for
//! new memory. After every step the answer, the whole VMA list and the
//! contents of the pages the step touched must match; at the end, every
//! readable page is compared. `src/mm/tests.rs` checks core's own
//! invariants (page table vs platform, reference counts) on random
//! sequences; this suite checks the semantics against an independent
//! model.
//!
//! Where veil chose differently from Linux on purpose (documented in
//! `mm`), the model follows veil: mprotect over a hole changes nothing
//! (Linux applies it up to the hole), mremap of a zero-length area is
//! EINVAL (Linux duplicates a shared mapping).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use proptest::prelude::*;
use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, PAGE_SIZE};

use crate::fuzz_harness::{sys, Bed};
use crate::mm::{Layout, MMAP_MIN_ADDR};
use crate::platform::Prot;
use crate::task::Task;
use crate::UserAddr;

const P: u64 = PAGE_SIZE;
/// The window operations aim at, in pages from `W`.
const W: u64 = 0x1000_0000;
const WPAGES: u64 = 96;
const BRK_START: u64 = W + 40 * P;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Fixed,
    NoReplace,
    Hint,
}

#[derive(Clone, Debug)]
enum Op {
    /// page, pages, extra bytes, prot, shared, placement.
    Mmap(u64, u64, u64, u32, bool, Place),
    /// page, pages, extra bytes, misaligned address.
    Munmap(u64, u64, u64, bool),
    Mprotect(u64, u64, u32),
    /// old page, old pages, new pages, flags, target page.
    Mremap(u64, u64, u64, u32, u64),
    /// Pages from the heap start (may be negative), extra bytes.
    Brk(i64, u64),
    /// Store the tag at the page's first byte.
    Write(u64, u8),
    Read(u64),
}

fn prot() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(PROT_NONE),
        Just(PROT_READ),
        Just(PROT_READ | PROT_WRITE),
        Just(PROT_READ | PROT_EXEC),
        Just(PROT_READ | PROT_WRITE | PROT_EXEC),
        Just(PROT_WRITE),
    ]
}

fn extra() -> impl Strategy<Value = u64> {
    prop_oneof![6 => Just(0u64), 1 => 1u64..P]
}

fn op() -> impl Strategy<Value = Op> {
    let page = 0..WPAGES;
    let pages = 0u64..20;
    let place =
        prop_oneof![4 => Just(Place::Fixed), 1 => Just(Place::NoReplace), 1 => Just(Place::Hint)];
    let mremap_flags = prop_oneof![
        3 => Just(0u32),
        3 => Just(MREMAP_MAYMOVE),
        2 => Just(MREMAP_MAYMOVE | MREMAP_FIXED),
        1 => Just(MREMAP_MAYMOVE | MREMAP_DONTUNMAP),
        1 => Just(MREMAP_FIXED),
    ];
    prop_oneof![
        5 => (page.clone(), pages.clone(), extra(), prot(), prop_oneof![4 => Just(false), 1 => Just(true)], place)
            .prop_map(|(a, n, e, p, s, pl)| Op::Mmap(a, n, e, p, s, pl)),
        3 => (page.clone(), pages.clone(), extra(), prop_oneof![9 => Just(false), 1 => Just(true)])
            .prop_map(|(a, n, e, m)| Op::Munmap(a, n, e, m)),
        4 => (page.clone(), pages.clone(), prot()).prop_map(|(a, n, p)| Op::Mprotect(a, n, p)),
        3 => (page.clone(), pages.clone(), pages, mremap_flags, page.clone())
            .prop_map(|(a, o, n, f, t)| Op::Mremap(a, o, n, f, t)),
        2 => (-4i64..40, extra()).prop_map(|(p, e)| Op::Brk(p, e)),
        4 => (page.clone(), 1u8..).prop_map(|(a, t)| Op::Write(a, t)),
        3 => page.prop_map(Op::Read),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MVma {
    start: u64,
    end: u64,
    prot: u32,
    shared: bool,
}

impl MVma {
    fn can_merge(&self, b: &MVma) -> bool {
        self.end == b.start && self.prot == b.prot && !self.shared && !b.shared
    }
}

/// The model. `broken` merges shared areas too.
struct Model {
    vmas: Vec<MVma>,
    tags: BTreeMap<u64, u8>,
    brk: u64,
    broken: bool,
}

fn page_up(x: u64) -> u64 {
    x.div_ceil(P) * P
}

impl Model {
    fn find(&self, addr: u64) -> Option<MVma> {
        self.vmas
            .iter()
            .find(|v| v.start <= addr && addr < v.end)
            .copied()
    }

    fn overlaps(&self, s: u64, e: u64) -> bool {
        self.vmas.iter().any(|v| v.start < e && s < v.end)
    }

    fn covers(&self, s: u64, e: u64) -> bool {
        let mut at = s;
        while at < e {
            match self.find(at) {
                Some(v) => at = v.end,
                None => return false,
            }
        }
        true
    }

    fn merge(&mut self) {
        self.vmas.sort_by_key(|v| v.start);
        let mut out: Vec<MVma> = Vec::new();
        for v in self.vmas.drain(..) {
            if let Some(last) = out.last_mut() {
                let broken_ok = self.broken && last.end == v.start && last.prot == v.prot;
                if last.can_merge(&v) || broken_ok {
                    last.end = v.end;
                    continue;
                }
            }
            out.push(v);
        }
        self.vmas = out;
    }

    /// Removes `[s, e)`, splitting at the edges, dropping the contents.
    fn unmap(&mut self, s: u64, e: u64) {
        if s >= e {
            return;
        }
        let mut out = Vec::new();
        for v in self.vmas.drain(..) {
            if v.end <= s || v.start >= e {
                out.push(v);
                continue;
            }
            if v.start < s {
                out.push(MVma { end: s, ..v });
            }
            if v.end > e {
                out.push(MVma { start: e, ..v });
            }
        }
        self.vmas = out;
        let keys: Vec<u64> = self.tags.range(s / P..e / P).map(|(&k, _)| k).collect();
        for k in keys {
            self.tags.remove(&k);
        }
    }

    fn map(&mut self, v: MVma) {
        self.unmap(v.start, v.end);
        self.vmas.push(v);
        self.merge();
    }

    fn protect(&mut self, s: u64, e: u64, prot: u32) {
        let mut out = Vec::new();
        for v in self.vmas.drain(..) {
            if v.end <= s || v.start >= e {
                out.push(v);
                continue;
            }
            if v.start < s {
                out.push(MVma { end: s, ..v });
            }
            out.push(MVma {
                start: v.start.max(s),
                end: v.end.min(e),
                prot,
                ..v
            });
            if v.end > e {
                out.push(MVma { start: e, ..v });
            }
        }
        self.vmas = out;
        self.merge();
    }

    /// Moves `[old, old+old_len)` (inside `v`) to `[new, new+new_len)`.
    fn move_area(&mut self, v: MVma, old: u64, old_len: u64, new: u64, new_len: u64, keep: bool) {
        let moved: Vec<(u64, u8)> = self
            .tags
            .range(old / P..(old + old_len) / P)
            .map(|(&k, &t)| (k - old / P, t))
            .collect();
        if keep {
            let keys: Vec<u64> = moved.iter().map(|(k, _)| k + old / P).collect();
            for k in keys {
                self.tags.remove(&k);
            }
        } else {
            self.unmap(old, old + old_len);
        }
        self.vmas.push(MVma {
            start: new,
            end: new + new_len,
            ..v
        });
        self.merge();
        for (k, t) in moved {
            self.tags.insert(new / P + k, t);
        }
    }
}

fn prot_of(p: u32) -> Prot {
    Prot::from_bits_truncate(p)
}

struct Core {
    _bed: Bed,
    t: Task,
}

fn vmas(t: &Task) -> Vec<MVma> {
    t.mm.vmas()
        .into_iter()
        .map(|v| MVma {
            start: v.start,
            end: v.end,
            prot: v.prot.bits(),
            shared: v.shared,
        })
        .collect()
}

fn readable(prot: u32) -> bool {
    prot != PROT_NONE
}

fn writable(prot: u32) -> bool {
    prot & PROT_WRITE != 0
}

/// Answers: a syscall result, or a read's outcome.
#[derive(Debug, PartialEq, Eq)]
enum Out {
    R(Result<u64, Errno>),
    /// Core chose an address; the model checked it was free.
    Placed(bool),
}

fn check(ops: Vec<Op>, broken: bool) -> Result<(), TestCaseError> {
    let bed = Bed::new(false, 0);
    let mut t = bed.task();
    t.mm.set_layout(Layout {
        mmap_base: W + WPAGES * P,
        brk_start: BRK_START,
        ..t.mm.layout()
    });
    sys(&mut t, BRK, &[BRK_START]).unwrap();
    let mut core = Core { _bed: bed, t };
    let mut m = Model {
        vmas: vmas(&core.t),
        tags: BTreeMap::new(),
        brk: BRK_START,
        broken,
    };
    let max = core.t.mm.max_address();
    for (i, op) in ops.iter().enumerate() {
        let t = &mut core.t;
        let out = match *op {
            Op::Mmap(pg, n, ex, prot, shared, place) => {
                let addr = W + pg * P;
                let len = n * P + ex;
                let mut flags = MAP_ANONYMOUS | if shared { MAP_SHARED } else { MAP_PRIVATE };
                flags |= match place {
                    Place::Fixed => MAP_FIXED,
                    Place::NoReplace => MAP_FIXED_NOREPLACE,
                    Place::Hint => 0,
                };
                let got = sys(
                    t,
                    MMAP,
                    &[addr, len, prot as u64, flags as u64, u64::MAX, 0],
                );
                let v = |start: u64| MVma {
                    start,
                    end: start + page_up(len),
                    prot,
                    shared,
                };
                if len == 0 {
                    step_eq!(i, op, got, Err(Errno::EINVAL));
                    continue;
                }
                match place {
                    Place::Fixed => {
                        step_eq!(i, op, got, Ok(addr));
                        m.map(v(addr));
                    }
                    Place::NoReplace => {
                        if m.overlaps(addr, addr + page_up(len)) {
                            step_eq!(i, op, got, Err(Errno::EEXIST));
                        } else {
                            step_eq!(i, op, got, Ok(addr));
                            m.map(v(addr));
                        }
                    }
                    Place::Hint => {
                        let Ok(a) = got else {
                            return Err(TestCaseError::fail(alloc::format!(
                                "step {i} ({op:?}): mmap failed: {got:?}"
                            )));
                        };
                        let free = a % P == 0
                            && a >= MMAP_MIN_ADDR
                            && a + page_up(len) <= max
                            && !m.overlaps(a, a + page_up(len));
                        step_eq!(i, op, Out::Placed(free), Out::Placed(true));
                        m.map(v(a));
                    }
                }
                continue;
            }
            Op::Munmap(pg, n, ex, misalign) => {
                let addr = W + pg * P + u64::from(misalign) * 8;
                let len = n * P + ex;
                let got = sys(t, MUNMAP, &[addr, len]);
                let want = if misalign || len == 0 {
                    Err(Errno::EINVAL)
                } else {
                    m.unmap(addr, addr + page_up(len));
                    Ok(0)
                };
                (Out::R(got), Out::R(want))
            }
            Op::Mprotect(pg, n, prot) => {
                let addr = W + pg * P;
                let len = n * P;
                let got = sys(t, MPROTECT, &[addr, len, prot as u64]);
                let want = if len == 0 {
                    Ok(0)
                } else if !m.covers(addr, addr + len) {
                    Err(Errno::ENOMEM)
                } else {
                    m.protect(addr, addr + len, prot);
                    Ok(0)
                };
                (Out::R(got), Out::R(want))
            }
            Op::Mremap(pg, on, nn, flags, to) => {
                let (old, old_len, new_len, new) = (W + pg * P, on * P, nn * P, W + to * P);
                let got = sys(t, MREMAP, &[old, old_len, new_len, flags as u64, new]);
                let want = model_mremap(&mut m, old, old_len, new_len, flags, new, &got, max);
                match want {
                    Ok(w) => (Out::R(got), Out::R(w)),
                    Err(placed) => (Out::Placed(placed), Out::Placed(true)),
                }
            }
            Op::Brk(pages, ex) => {
                let want_brk = (BRK_START as i64 + pages * P as i64) as u64 + ex;
                let got = sys(t, BRK, &[want_brk]);
                let cur = m.brk;
                let new_end = page_up(want_brk);
                let old_end = page_up(cur);
                let want = if want_brk < BRK_START || new_end > max {
                    cur
                } else if new_end == old_end {
                    want_brk
                } else if want_brk <= cur {
                    m.unmap(new_end, old_end);
                    want_brk
                } else if m.overlaps(old_end, new_end + P) {
                    cur
                } else {
                    m.map(MVma {
                        start: old_end,
                        end: new_end,
                        prot: PROT_READ | PROT_WRITE,
                        shared: false,
                    });
                    want_brk
                };
                m.brk = want;
                (Out::R(got), Out::R(Ok(want)))
            }
            Op::Write(pg, tag) => {
                let addr = W + pg * P;
                let got = t.mm.copy_out(UserAddr(addr), &[tag]).map(|_| 0);
                let want = match m.find(addr) {
                    Some(v) if writable(v.prot) => {
                        m.tags.insert(addr / P, tag);
                        Ok(0)
                    }
                    _ => Err(Errno::EFAULT),
                };
                (Out::R(got), Out::R(want))
            }
            Op::Read(pg) => {
                let addr = W + pg * P;
                let mut b = [0u8];
                let got = t.mm.copy_in(UserAddr(addr), &mut b).map(|_| b[0] as u64);
                let want = match m.find(addr) {
                    Some(v) if readable(v.prot) => {
                        Ok(m.tags.get(&(addr / P)).copied().unwrap_or(0) as u64)
                    }
                    _ => Err(Errno::EFAULT),
                };
                (Out::R(got), Out::R(want))
            }
        };
        step_eq!(i, op, out.0, out.1);
        step_eq!(i, op, vmas(&core.t), m.vmas.clone());
    }
    // Every readable page holds what the model says.
    for v in m.vmas.clone() {
        if !readable(v.prot) || v.start < W || v.end > W + 2 * WPAGES * P {
            continue;
        }
        for pg in v.start / P..v.end / P {
            let mut b = [0u8];
            core.t.mm.copy_in(UserAddr(pg * P), &mut b).unwrap();
            prop_assert_eq!(
                b[0],
                m.tags.get(&pg).copied().unwrap_or(0),
                "contents of page {:#x}",
                pg * P
            );
        }
    }
    let _ = prot_of;
    Ok(())
}

/// The model of mremap: `Ok(answer)`, or `Err(free)` when core chose the
/// address (whether what it chose was free).
#[allow(clippy::too_many_arguments)]
fn model_mremap(
    m: &mut Model,
    old: u64,
    old_len: u64,
    new_len: u64,
    flags: u32,
    new: u64,
    got: &Result<u64, Errno>,
    max: u64,
) -> Result<Result<u64, Errno>, bool> {
    let fixed = flags & MREMAP_FIXED != 0;
    let maymove = flags & MREMAP_MAYMOVE != 0;
    let dontunmap = flags & MREMAP_DONTUNMAP != 0;
    if fixed && !maymove {
        return Ok(Err(Errno::EINVAL));
    }
    if dontunmap && old_len != new_len {
        return Ok(Err(Errno::EINVAL));
    }
    if new_len == 0 || old_len == 0 {
        return Ok(Err(Errno::EINVAL));
    }
    // Core picks the address: check it was free, then follow it.
    let chosen = |m: &Model, len: u64| -> Result<u64, bool> {
        match *got {
            Ok(a) => {
                let free = a % P == 0 && a >= MMAP_MIN_ADDR && a + len <= max;
                Ok(a)
                    .and_then(|a| if free { Ok(a) } else { Err(false) })
                    .and_then(|a| {
                        if m.overlaps(a, a + len) {
                            Err(false)
                        } else {
                            Ok(a)
                        }
                    })
            }
            Err(_) => Err(false),
        }
    };
    let resize_check = |m: &Model, len: u64| -> Result<MVma, Errno> {
        let v = m.find(old).ok_or(Errno::EFAULT)?;
        if len > v.end - old {
            return Err(Errno::EFAULT);
        }
        Ok(v)
    };
    if fixed || dontunmap {
        if fixed && old + old_len > new && new + new_len > old {
            return Ok(Err(Errno::EINVAL));
        }
        let v = match resize_check(m, old_len.min(new_len)) {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        if fixed {
            m.unmap(new, new + new_len);
        }
        let mut old_len = old_len;
        if old_len > new_len {
            m.unmap(old + new_len, old + old_len);
            old_len = new_len;
        }
        let to = if fixed { new } else { chosen(m, new_len)? };
        m.move_area(v, old, old_len, to, new_len, dontunmap);
        return if fixed { Ok(Ok(to)) } else { Err(true) };
    }
    if old_len >= new_len {
        m.unmap(old + new_len, old + old_len);
        return Ok(Ok(old));
    }
    let v = match resize_check(m, old_len) {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    if old + old_len == v.end && old + new_len <= max && !m.overlaps(v.end, old + new_len) {
        // The area's VMA grows (a shared one stays one object).
        if let Some(x) = m.vmas.iter_mut().find(|x| x.start == v.start) {
            x.end = old + new_len;
        }
        m.merge();
        return Ok(Ok(old));
    }
    if !maymove {
        return Ok(Err(Errno::ENOMEM));
    }
    match chosen(m, new_len) {
        Ok(a) => {
            m.move_area(v, old, old_len, a, new_len, false);
            Err(true)
        }
        Err(free) => Err(free),
    }
}

proptest! {
    #![proptest_config(super::config(2000))]

    #[test]
    fn mm_matches_interval_model(ops in proptest::collection::vec(op(), 1..80)) {
        check(ops, false)?;
    }
}

#[test]
fn mm_broken_model_is_caught() {
    super::must_fail("mm", proptest::collection::vec(op(), 1..80), 300, |ops| {
        check(ops, true)
    });
}
