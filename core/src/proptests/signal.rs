//! Signal masks, pending sets and delivery order against a model of
//! Linux's queues: a per-thread and a per-process `sigpending` (a bit set
//! plus a FIFO of siginfo entries; standard signals coalesce, real-time
//! ones queue per send until RLIMIT_SIGPENDING, then lose their info or
//! answer EAGAIN for sigqueue), dispositions (a signal ignored when sent is
//! dropped unless blocked; init drops default-action signals; setting a
//! pending signal to be ignored discards it), the stop / SIGCONT
//! discards, dequeue order (the thread's queue first, synchronous
//! signals first, then the lowest number; the oldest entry of a signal),
//! and delivery: handlers run in dequeue order, each blocking its signal
//! (unless SA_NODEFER) and its sa_mask, and rt_sigreturn restores the
//! mask each frame saved.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use proptest::prelude::*;
use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, KernelSigaction, Rlimit, Siginfo};

use crate::fuzz_harness::{get, sys, Bed, SCRATCH};
use crate::signal::{bit, SYNCHRONOUS_MASK, UNBLOCKABLE};
use crate::task::Task;
use crate::UserAddr;

/// Signals the suite uses: standard ones with different defaults, the
/// synchronous ones, stop / continue, real-time ones.
const SIGS: &[i32] = &[
    SIGHUP, SIGINT, SIGUSR1, SIGUSR2, SIGSEGV, SIGBUS, SIGCHLD, SIGCONT, SIGTSTP, SIGTTIN,
    SIGWINCH, SIGURG, 34, 35, 40, 64,
];
const QUEUE_LIMIT: u64 = 6;
const HANDLER: u64 = 0x1000;

#[derive(Clone, Copy, Debug)]
enum Disp {
    Dfl,
    Ign,
    /// A handler with this sa_mask (a set of indexes into SIGS) and
    /// SA_NODEFER or not.
    Handler(u16, bool),
}

#[derive(Clone, Debug)]
enum Op {
    Mask(u32, u16),
    Kill(usize),
    Tkill(usize),
    Queue(usize, u32),
    Pending,
    Wait(u16),
    Action(usize, Disp),
    Deliver,
    Sigreturn,
}

fn set_of(ix: u16) -> u64 {
    SIGS.iter()
        .enumerate()
        .filter(|(i, _)| ix & (1 << i) != 0)
        .fold(0, |m, (_, &s)| m | bit(s))
}

fn op() -> impl Strategy<Value = Op> {
    let sig = 0..SIGS.len();
    let disp = prop_oneof![
        Just(Disp::Dfl),
        Just(Disp::Ign),
        (any::<u16>(), any::<bool>()).prop_map(|(m, n)| Disp::Handler(m & 0x0f0f, n)),
    ];
    prop_oneof![
        3 => (0u32..4, any::<u16>()).prop_map(|(h, s)| Op::Mask(h, s)),
        4 => sig.clone().prop_map(Op::Kill),
        3 => sig.clone().prop_map(Op::Tkill),
        3 => (sig.clone(), any::<u32>()).prop_map(|(s, v)| Op::Queue(s, v)),
        2 => Just(Op::Pending),
        3 => any::<u16>().prop_map(Op::Wait),
        3 => (sig, disp).prop_map(|(s, d)| Op::Action(s, d)),
        2 => Just(Op::Deliver),
        1 => Just(Op::Sigreturn),
    ]
}

/// One `sigpending`: bits and the queued entries (signo, code, value).
#[derive(Clone, Debug, Default)]
struct Queue {
    bits: u64,
    entries: Vec<(i32, i32, u64)>,
}

impl Queue {
    fn next(&self, blocked: u64, broken: bool) -> Option<i32> {
        let mut x = self.bits & !blocked;
        if x == 0 {
            return None;
        }
        if broken {
            // The highest number first.
            return Some(64 - x.leading_zeros() as i32);
        }
        if x & SYNCHRONOUS_MASK != 0 {
            x &= SYNCHRONOUS_MASK;
        }
        Some(x.trailing_zeros() as i32 + 1)
    }

    /// Linux's `collect_signal`.
    fn take(&mut self, sig: i32) -> (i32, i32, u64) {
        let pos = self.entries.iter().position(|e| e.0 == sig);
        let more = pos.is_some_and(|p| self.entries[p + 1..].iter().any(|e| e.0 == sig));
        if !more {
            self.bits &= !bit(sig);
        }
        match pos {
            Some(p) => self.entries.remove(p),
            None => (sig, SI_USER, 0),
        }
    }

    fn discard(&mut self, set: u64) {
        self.bits &= !set;
        self.entries.retain(|e| set & bit(e.0) == 0);
    }
}

struct Model {
    mask: u64,
    thread: Queue,
    shared: Queue,
    disp: BTreeMap<i32, Disp>,
    init: bool,
    /// Masks saved by the frames of handlers not yet returned from.
    frames: Vec<u64>,
    broken: bool,
}

impl Model {
    fn disp(&self, sig: i32) -> Disp {
        self.disp.get(&sig).copied().unwrap_or(Disp::Dfl)
    }

    fn ignored(&self, sig: i32) -> bool {
        match self.disp(sig) {
            Disp::Ign => true,
            Disp::Dfl => self.init || [SIGCHLD, SIGCONT, SIGWINCH, SIGURG].contains(&sig),
            Disp::Handler(..) => false,
        }
    }

    fn queued(&self) -> u64 {
        (self.thread.entries.len() + self.shared.entries.len()) as u64
    }

    /// `__send_signal`: Ok(()) or EAGAIN.
    fn send(&mut self, sig: i32, code: i32, value: u64, to_thread: bool) -> Result<(), Errno> {
        let b = bit(sig);
        if b & (bit(SIGSTOP) | bit(SIGTSTP) | bit(SIGTTIN) | bit(SIGTTOU)) != 0 {
            self.thread.discard(bit(SIGCONT));
            self.shared.discard(bit(SIGCONT));
        } else if sig == SIGCONT {
            let stop = bit(SIGSTOP) | bit(SIGTSTP) | bit(SIGTTIN) | bit(SIGTTOU);
            self.thread.discard(stop);
            self.shared.discard(stop);
        }
        if self.mask & b == 0 && self.ignored(sig) {
            return Ok(());
        }
        let total = self.queued();
        let q = if to_thread {
            &mut self.thread
        } else {
            &mut self.shared
        };
        if sig < SIGRTMIN && q.bits & b != 0 {
            return Ok(());
        }
        let keep = if (sig < SIGRTMIN && code >= 0) || total < QUEUE_LIMIT {
            true
        } else if sig >= SIGRTMIN && code != SI_USER {
            return Err(Errno::EAGAIN);
        } else {
            false
        };
        if keep {
            q.entries.push((sig, code, value));
        }
        q.bits |= b;
        Ok(())
    }

    fn dequeue(&mut self, blocked: u64) -> Option<(i32, i32, u64)> {
        if let Some(s) = self.thread.next(blocked, self.broken) {
            return Some(self.thread.take(s));
        }
        let s = self.shared.next(blocked, self.broken)?;
        Some(self.shared.take(s))
    }

    /// What `before_switch` delivers, or None if some deliverable signal
    /// would take a default action that is not ignoring it (stop, kill).
    fn deliver(&mut self) -> Option<Vec<i32>> {
        // Check first, on a copy.
        let mut probe = Model {
            mask: self.mask,
            thread: self.thread.clone(),
            shared: self.shared.clone(),
            disp: self.disp.clone(),
            init: self.init,
            frames: Vec::new(),
            broken: self.broken,
        };
        let mut out = Vec::new();
        while let Some((sig, _, _)) = probe.dequeue(probe.mask) {
            match probe.disp(sig) {
                Disp::Ign => {}
                Disp::Dfl => {
                    if !probe.ignored(sig) {
                        return None;
                    }
                }
                Disp::Handler(m, nodefer) => {
                    out.push(sig);
                    probe.frames.push(probe.mask);
                    probe.mask |= set_of(m) & !UNBLOCKABLE;
                    if !nodefer {
                        probe.mask |= bit(sig);
                    }
                }
            }
            if probe.frames.len() > 24 {
                return None;
            }
        }
        self.mask = probe.mask;
        self.thread = probe.thread;
        self.shared = probe.shared;
        self.frames.extend(probe.frames);
        Some(out)
    }
}

fn check(init: bool, ops: Vec<Op>, broken: bool) -> Result<(), TestCaseError> {
    let bed = Bed::new(true, 0);
    if !init {
        bed.kernel.alloc_pid();
    }
    let mut t: Task = bed.task();
    prop_assert_eq!(t.tg.signals.lock().unkillable, init);
    t.tg.rlimits.lock()[RLIMIT_SIGPENDING as usize] = Rlimit {
        cur: QUEUE_LIMIT,
        max: QUEUE_LIMIT,
    };
    let mut ctx = bed.platform.fake.context(Vec::new());
    let mut m = Model {
        mask: 0,
        thread: Queue::default(),
        shared: Queue::default(),
        disp: BTreeMap::new(),
        init,
        frames: Vec::new(),
        broken,
    };
    let (pid, tid) = (t.pid() as u64, t.tid as u64);
    let set_at = SCRATCH;
    let old_at = SCRATCH + 8;
    let info_at = SCRATCH + 64;
    let act_at = SCRATCH + 256;
    let zero_ts = SCRATCH + 512;
    for (i, op) in ops.iter().enumerate() {
        match *op {
            Op::Mask(how, s) => {
                t.mm.write_obj(UserAddr(set_at), &set_of(s)).unwrap();
                let got = sys(&mut t, RT_SIGPROCMASK, &[how as u64, set_at, old_at, 8]);
                let old = t.mm.read_obj::<u64>(UserAddr(old_at)).unwrap();
                let set = set_of(s) & !UNBLOCKABLE;
                let want = match how {
                    SIG_BLOCK => Ok(m.mask | set),
                    SIG_UNBLOCK => Ok(m.mask & !set),
                    SIG_SETMASK => Ok(set),
                    _ => Err(Errno::EINVAL),
                };
                step_eq!(i, op, got.map(|_| old), want.map(|_| m.mask));
                if let Ok(n) = want {
                    m.mask = n;
                }
                step_eq!(i, op, t.sigmask, m.mask);
            }
            Op::Kill(s) => {
                let sig = SIGS[s];
                let got = sys(&mut t, KILL, &[pid, sig as u64]);
                let want = m.send(sig, SI_USER, 0, false).map(|_| 0);
                step_eq!(i, op, got, want);
            }
            Op::Tkill(s) => {
                let sig = SIGS[s];
                let got = sys(&mut t, TKILL, &[tid, sig as u64]);
                let want = m.send(sig, SI_TKILL, 0, true).map(|_| 0);
                step_eq!(i, op, got, want);
            }
            Op::Queue(s, v) => {
                let sig = SIGS[s];
                let mut info = Siginfo {
                    signo: sig,
                    code: SI_QUEUE,
                    ..Siginfo::default()
                };
                info.fields[1] = v as u64;
                t.mm.write_obj(UserAddr(info_at), &info).unwrap();
                let got = sys(&mut t, RT_SIGQUEUEINFO, &[pid, sig as u64, info_at]);
                let want = m.send(sig, SI_QUEUE, v as u64, false).map(|_| 0);
                step_eq!(i, op, got, want);
            }
            Op::Pending => {
                sys(&mut t, RT_SIGPENDING, &[set_at, 8]).unwrap();
                let got = t.mm.read_obj::<u64>(UserAddr(set_at)).unwrap();
                step_eq!(i, op, got, (m.thread.bits | m.shared.bits) & m.mask);
            }
            Op::Wait(s) => {
                let set = set_of(s);
                t.mm.write_obj(UserAddr(set_at), &set).unwrap();
                t.mm.write_obj(UserAddr(zero_ts), &[0u64; 2]).unwrap();
                let got = sys(&mut t, RT_SIGTIMEDWAIT, &[set_at, info_at, zero_ts, 8]).map(|n| {
                    let info: Siginfo = t.mm.read_obj(UserAddr(info_at)).unwrap();
                    let value = if info.code == SI_QUEUE {
                        info.fields[1] as u32 as u64
                    } else {
                        0
                    };
                    (n as i32, info.code, value)
                });
                let want = m.dequeue(!(set & !UNBLOCKABLE)).ok_or(Errno::EAGAIN);
                step_eq!(i, op, got, want);
            }
            Op::Action(s, d) => {
                let sig = SIGS[s];
                let act = match d {
                    Disp::Dfl => KernelSigaction::default(),
                    Disp::Ign => KernelSigaction {
                        handler: SIG_IGN,
                        ..KernelSigaction::default()
                    },
                    Disp::Handler(mask, nodefer) => KernelSigaction {
                        handler: HANDLER,
                        flags: SA_RESTORER | SA_SIGINFO | if nodefer { SA_NODEFER } else { 0 },
                        restorer: HANDLER + 8,
                        mask: set_of(mask),
                    },
                };
                t.mm.write_obj(UserAddr(act_at), &act).unwrap();
                let got = sys(&mut t, RT_SIGACTION, &[sig as u64, act_at, 0, 8]);
                step_eq!(i, op, got, Ok(0));
                m.disp.insert(sig, d);
                if matches!(d, Disp::Ign)
                    || (matches!(d, Disp::Dfl)
                        && [SIGCHLD, SIGCONT, SIGWINCH, SIGURG].contains(&sig))
                {
                    m.thread.discard(bit(sig));
                    m.shared.discard(bit(sig));
                }
            }
            Op::Deliver => {
                let Some(want) = m.deliver() else { continue };
                let before = bed.logger.lines().len();
                prop_assert!(crate::signal::before_switch(&mut t, &mut ctx));
                let got: Vec<i32> = bed.logger.lines()[before..]
                    .iter()
                    .filter_map(|l| {
                        let (_, rest) = l.split_once("--- ")?;
                        let name = rest.split(' ').next()?;
                        SIGS.iter()
                            .copied()
                            .find(|&s| crate::signal::name(s) == name)
                    })
                    .collect();
                step_eq!(i, op, got, want);
                step_eq!(i, op, t.sigmask, m.mask);
            }
            Op::Sigreturn => {
                let Some(saved) = m.frames.pop() else {
                    continue;
                };
                // The handler's `ret` popped the restorer's address.
                t.cpu.regs.rsp += 8;
                let got = sys(&mut t, RT_SIGRETURN, &[]);
                prop_assert!(got.is_ok(), "step {i}: rt_sigreturn: {got:?}");
                m.mask = saved & !UNBLOCKABLE;
                step_eq!(i, op, t.sigmask, m.mask);
            }
        }
        let g = t.tg.signals.lock();
        let pending = g.pending_for(t.tid);
        drop(g);
        step_eq!(i, op, pending, m.thread.bits | m.shared.bits);
    }
    let _ = get;
    Ok(())
}

fn input() -> impl Strategy<Value = (bool, Vec<Op>)> {
    (
        prop_oneof![9 => Just(false), 1 => Just(true)],
        proptest::collection::vec(op(), 1..60),
    )
}

proptest! {
    #![proptest_config(super::config(3000))]

    #[test]
    fn signals_match_model((init, ops) in input()) {
        check(init, ops, false)?;
    }
}

#[test]
fn signals_broken_model_is_caught() {
    super::must_fail("signals", input(), 400, |(init, ops)| {
        check(init, ops, true)
    });
}

/// Found by the abi fuzzer: ppoll / pselect6 set their signal mask behind
/// the registry's back and slept through a pending signal that mask
/// unblocks; Linux returns at once (ERESTARTNOHAND, EINTR to a handler)
/// and delivers the signal under the call's mask, restoring the old mask
/// afterwards.
#[test]
fn ppoll_mask_unblocking_a_pending_signal_interrupts() {
    let bed = Bed::new(false, 0);
    bed.kernel.alloc_pid();
    let mut t = bed.task();
    let set = SCRATCH;
    t.mm.write_obj(UserAddr(set), &bit(SIGUSR1)).unwrap();
    sys(&mut t, RT_SIGPROCMASK, &[SIG_BLOCK as u64, set, 0, 8]).unwrap();
    let pid = t.pid() as u64;
    sys(&mut t, KILL, &[pid, SIGUSR1 as u64]).unwrap();
    sys(&mut t, PIPE2, &[SCRATCH + 64, 0]).unwrap();
    let rfd: i32 = t.mm.read_obj(UserAddr(SCRATCH + 64)).unwrap();
    let pfd = SCRATCH + 128;
    let pollfd = (rfd as u32 as u64) | ((POLLIN as u64) << 32);
    t.mm.write_obj(UserAddr(pfd), &pollfd).unwrap();
    let ts = SCRATCH + 256;
    t.mm.write_obj(UserAddr(ts), &[1u64, 0]).unwrap();
    let empty = SCRATCH + 512;
    t.mm.write_obj(UserAddr(empty), &0u64).unwrap();
    let r = sys(&mut t, PPOLL, &[pfd, 1, ts, empty, 8]);
    assert_eq!(r, Err(Errno::ERESTARTNOHAND));
    assert_eq!(
        t.sigmask, 0,
        "the signal is delivered under the call's mask"
    );
    assert_eq!(t.signals.saved_mask, Some(bit(SIGUSR1)));
}
