//! Futex wait queues against FIFO queues, through the futex syscall.
//!
//! One task makes the calls; the waiters are stand-ins queued on the
//! kernel's futex table with the keys the syscall computes (a test thread
//! cannot sleep on the fake platform), each with its own blocker, so the
//! model can tell exactly which ones a call woke. The model follows
//! Linux's `kernel/futex`: waiters queue in arrival order; FUTEX_WAKE wakes
//! the first `n` whose bitset meets the wake's (a count of 0 or below
//! still wakes one: the loop increments before it compares);
//! REQUEUE / CMP_REQUEUE wake `n` and move up to `n2` of the rest to the
//! second word's queue, after its own (negative counts are EINVAL;
//! requeueing onto the same word leaves the order alone); WAKE_OP applies
//! its operation (12-bit arguments, sign-extended; a shift past 31 is
//! masked) and wakes on the second word if the comparison of the old value
//! holds; FUTEX_WAIT answers EAGAIN for a changed word and, interrupted (ERESTARTSYS),
//! leaves the queues as they were. One case uses either private or
//! shared futexes throughout (a word used both ways is a question of keys,
//! not of queues).

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use proptest::prelude::*;
use veil_abi::sysno::FUTEX;
use veil_abi::Errno;

use crate::fake::FakeBlocker;
use crate::futex::{FutexKey, WaitHandle};
use crate::fuzz_harness::{sys, Bed, SCRATCH};
use crate::task::Task;
use crate::UserAddr;

const WORDS: u64 = SCRATCH + 0x800;
const NWORDS: usize = 3;
const PRIVATE: u32 = 128;

#[derive(Clone, Debug)]
enum Op {
    /// A stand-in waiter on word `w` with this bitset.
    Wait(usize, bool, u32),
    /// FUTEX_WAIT by the task itself, expecting `val`.
    WaitSelf(usize, bool, u32),
    Wake(usize, bool, u32),
    WakeBitset(usize, bool, u32, u32),
    Requeue(usize, usize, bool, u32, u32, Option<u32>),
    WakeArith(usize, usize, bool, u32, u32, u32),
    /// A waiter gives up (timeout or signal).
    Leave(usize),
    Set(usize, u32),
}

fn count() -> impl Strategy<Value = u32> {
    prop_oneof![6 => 0u32..4, 1 => Just(u32::MAX), 1 => Just(i32::MAX as u32), 1 => Just(0x8000_0000u32)]
}

fn bits() -> impl Strategy<Value = u32> {
    prop_oneof![3 => Just(u32::MAX), 2 => 1u32..8, 1 => Just(0u32)]
}

fn wake_op_code() -> impl Strategy<Value = u32> {
    (
        0u32..6,
        any::<bool>(),
        0u32..7,
        prop_oneof![0u32..4, 4090u32..4096, 30u32..34],
        prop_oneof![0u32..3, 4094u32..4096],
    )
        .prop_map(|(op, shift, cmp, oparg, cmparg)| {
            ((op & 7) << 28) | (u32::from(shift) << 31) | (cmp << 24) | (oparg << 12) | cmparg
        })
}

fn op() -> impl Strategy<Value = Op> {
    let w = 0..NWORDS;
    let private = Just(true);
    prop_oneof![
        6 => (w.clone(), private, prop_oneof![3 => Just(u32::MAX), 1 => 1u32..8]).prop_map(|(w, p, b)| Op::Wait(w, p, b)),
        1 => (w.clone(), private, 0u32..3).prop_map(|(w, p, v)| Op::WaitSelf(w, p, v)),
        3 => (w.clone(), private, count()).prop_map(|(w, p, n)| Op::Wake(w, p, n)),
        2 => (w.clone(), private, count(), bits()).prop_map(|(w, p, n, b)| Op::WakeBitset(w, p, n, b)),
        3 => (w.clone(), w.clone(), private, count(), count(), prop_oneof![Just(None), (0u32..3).prop_map(Some)])
            .prop_map(|(a, b, p, n, n2, c)| Op::Requeue(a, b, p, n, n2, c)),
        2 => (w.clone(), w.clone(), private, count(), count(), wake_op_code())
            .prop_map(|(a, b, p, n, n2, c)| Op::WakeArith(a, b, p, n, n2, c)),
        2 => (0usize..16).prop_map(Op::Leave),
        2 => (w, 0u32..3).prop_map(|(w, v)| Op::Set(w, v)),
    ]
}

/// The model's queues: (word, private) -> waiter ids in order.
struct Model {
    queues: BTreeMap<(usize, bool), Vec<(usize, u32)>>,
    words: [u32; NWORDS],
    broken: bool,
}

/// Linux's wake loop: wakes matching waiters; stops once `++woken >= n`.
fn linux_wake(q: &mut Vec<(usize, u32)>, n: u32, bitset: u32, broken: bool) -> Vec<usize> {
    let n = n as i32;
    let mut out = Vec::new();
    let mut i = 0;
    while i < q.len() {
        if broken && out.len() as i32 >= n {
            break;
        }
        if q[i].1 & bitset == 0 {
            i += 1;
            continue;
        }
        out.push(q.remove(i).0);
        if out.len() as i32 >= n {
            break;
        }
    }
    out
}

fn sext12(v: u32) -> i32 {
    ((v << 20) as i32) >> 20
}

impl Model {
    fn wake(&mut self, key: (usize, bool), n: u32, bitset: u32) -> Vec<usize> {
        let q = self.queues.entry(key).or_default();
        linux_wake(q, n, bitset, self.broken)
    }

    /// Linux's `futex_atomic_op_inuser` and the comparison.
    fn wake_op_apply(&mut self, w: usize, code: u32) -> Result<bool, Errno> {
        let op = (code >> 28) & 7;
        let cmp = (code >> 24) & 15;
        let mut oparg = sext12((code >> 12) & 0xfff);
        let cmparg = sext12(code & 0xfff);
        if code & (8 << 28) != 0 {
            oparg = 1 << (oparg & 31);
        }
        let old = self.words[w];
        let oparg = oparg as u32;
        let new = match op & 7 {
            0 => oparg,
            1 => old.wrapping_add(oparg),
            2 => old | oparg,
            3 => old & !oparg,
            4 => old ^ oparg,
            _ => return Err(Errno::ENOSYS),
        };
        // The word is written before the comparison is looked at (an
        // unknown comparison is ENOSYS after the write, as in Linux).
        self.words[w] = new;
        let old = old as i32;
        let r = match cmp {
            0 => old == cmparg,
            1 => old != cmparg,
            2 => old < cmparg,
            3 => old <= cmparg,
            4 => old > cmparg,
            5 => old >= cmparg,
            _ => return Err(Errno::ENOSYS),
        };
        Ok(r)
    }
}

fn addr(w: usize) -> u64 {
    WORDS + 4 * w as u64
}

fn key(t: &Task, w: usize, private: bool) -> FutexKey {
    crate::syscalls::futex::key(t, addr(w), private).unwrap()
}

fn check(shared: bool, ops: Vec<Op>, broken: bool) -> Result<(), TestCaseError> {
    let ops: Vec<Op> = ops
        .into_iter()
        .map(|o| if shared { unshare(o) } else { o })
        .collect();
    let bed = Bed::new(false, 0);
    let mut t = bed.task();
    t.mm.copy_out(UserAddr(WORDS), &[0u8; 4 * NWORDS]).unwrap();
    let mut m = Model {
        queues: BTreeMap::new(),
        words: [0; NWORDS],
        broken,
    };
    // Waiter id -> (handle, (word, private)) while queued in the model.
    let mut handles: Vec<WaitHandle> = Vec::new();
    let mut woken: Vec<bool> = Vec::new();
    let table = &bed.kernel.futexes;
    for (i, op) in ops.iter().enumerate() {
        let fl = |p: bool| if p { PRIVATE } else { 0 };
        let (got, want): (Result<u64, Errno>, Result<u64, Errno>) = match *op {
            Op::Wait(w, p, bitset) => {
                let h = table
                    .enqueue(
                        key(&t, w, p),
                        bitset,
                        Arc::new(FakeBlocker::default()),
                        || Ok::<(), Errno>(()),
                    )
                    .unwrap();
                m.queues
                    .entry((w, p))
                    .or_default()
                    .push((handles.len(), bitset));
                handles.push(h);
                woken.push(false);
                continue;
            }
            Op::WaitSelf(w, p, val) => {
                let got = sys(&mut t, FUTEX, &[addr(w), fl(p) as u64, val as u64]);
                let want = if m.words[w] != val {
                    Err(Errno::EAGAIN)
                } else {
                    Err(Errno::ERESTARTSYS)
                };
                (got, want)
            }
            Op::Wake(w, p, n) => {
                let got = sys(&mut t, FUTEX, &[addr(w), (1 | fl(p)) as u64, n as u64]);
                let ids = m.wake((w, p), n, u32::MAX);
                ids.iter().for_each(|&id| woken[id] = true);
                (got, Ok(ids.len() as u64))
            }
            Op::WakeBitset(w, p, n, b) => {
                let got = sys(
                    &mut t,
                    FUTEX,
                    &[addr(w), (10 | fl(p)) as u64, n as u64, 0, 0, b as u64],
                );
                let want = if b == 0 {
                    Err(Errno::EINVAL)
                } else {
                    let ids = m.wake((w, p), n, b);
                    ids.iter().for_each(|&id| woken[id] = true);
                    Ok(ids.len() as u64)
                };
                (got, want)
            }
            Op::Requeue(a, b, p, n, n2, cmp) => {
                let cmd = if cmp.is_some() { 4 } else { 3 };
                let got = sys(
                    &mut t,
                    FUTEX,
                    &[
                        addr(a),
                        (cmd | fl(p)) as u64,
                        n as u64,
                        n2 as u64,
                        addr(b),
                        cmp.unwrap_or(0) as u64,
                    ],
                );
                let want = if (n as i32) < 0 || (n2 as i32) < 0 {
                    Err(Errno::EINVAL)
                } else if cmp.is_some_and(|v| v != m.words[a]) {
                    Err(Errno::EAGAIN)
                } else {
                    let q = m.queues.entry((a, p)).or_default();
                    // futex_requeue: wake n, then requeue up to n2.
                    let (nw, nr) = (n as i64, n2 as i64);
                    let mut count = 0i64;
                    let mut moved = Vec::new();
                    while !q.is_empty() {
                        if count - nw >= nr {
                            break;
                        }
                        count += 1;
                        let (id, bits) = q.remove(0);
                        if count <= nw {
                            woken[id] = true;
                        } else {
                            moved.push((id, bits));
                        }
                    }
                    if a == b {
                        // The same queue: requeued waiters keep their place.
                        let q = m.queues.entry((a, p)).or_default();
                        for (k, w) in moved.into_iter().enumerate() {
                            q.insert(k, w);
                        }
                    } else {
                        m.queues.entry((b, p)).or_default().extend(moved);
                    }
                    Ok(count as u64)
                };
                (got, want)
            }
            Op::WakeArith(a, b, p, n, n2, code) => {
                let got = sys(
                    &mut t,
                    FUTEX,
                    &[
                        addr(a),
                        (5 | fl(p)) as u64,
                        n as u64,
                        n2 as u64,
                        addr(b),
                        code as u64,
                    ],
                );
                let want = match m.wake_op_apply(b, code) {
                    Err(e) => Err(e),
                    Ok(cond) => {
                        let mut ids = m.wake((a, p), n, u32::MAX);
                        if cond {
                            ids.extend(m.wake((b, p), n2, u32::MAX));
                        }
                        ids.iter().for_each(|&id| woken[id] = true);
                        Ok(ids.len() as u64)
                    }
                };
                (got, want)
            }
            Op::Leave(k) => {
                if handles.is_empty() {
                    continue;
                }
                let id = k % handles.len();
                let got = table.dequeue(&handles[id]);
                for q in m.queues.values_mut() {
                    q.retain(|w| w.0 != id);
                }
                step_eq!(i, op, got, woken[id]);
                continue;
            }
            Op::Set(w, v) => {
                t.mm.write_obj(UserAddr(addr(w)), &v).unwrap();
                m.words[w] = v;
                continue;
            }
        };
        step_eq!(i, op, got, want);
        let now: Vec<bool> = handles.iter().map(|h| h.woken()).collect();
        step_eq!(i, op, &now, &woken);
        let words: Vec<u32> = (0..NWORDS)
            .map(|w| t.mm.read_obj::<u32>(UserAddr(addr(w))).unwrap())
            .collect();
        step_eq!(i, op, words, m.words.to_vec());
    }
    // Everything still queued in the model is still queued in core.
    let queued: usize = m.queues.values().map(|q| q.len()).sum();
    prop_assert_eq!(table.waiters(), queued);
    Ok(())
}

/// The same operation on a shared (not FUTEX_PRIVATE_FLAG) futex.
fn unshare(o: Op) -> Op {
    match o {
        Op::Wait(w, _, b) => Op::Wait(w, false, b),
        Op::WaitSelf(w, _, v) => Op::WaitSelf(w, false, v),
        Op::Wake(w, _, n) => Op::Wake(w, false, n),
        Op::WakeBitset(w, _, n, b) => Op::WakeBitset(w, false, n, b),
        Op::Requeue(a, b, _, n, n2, c) => Op::Requeue(a, b, false, n, n2, c),
        Op::WakeArith(a, b, _, n, n2, c) => Op::WakeArith(a, b, false, n, n2, c),
        o => o,
    }
}

fn input() -> impl Strategy<Value = (bool, Vec<Op>)> {
    (any::<bool>(), proptest::collection::vec(op(), 1..60))
}

proptest! {
    #![proptest_config(super::config(3000))]

    #[test]
    fn futex_matches_model((shared, ops) in input()) {
        check(shared, ops, false)?;
    }
}

#[test]
fn futex_broken_model_is_caught() {
    super::must_fail("futex", input(), 1000, |(shared, ops)| {
        check(shared, ops, true)
    });
}
