//! Pipes against a model of Linux's page buffers, through pipe2 / read /
//! write / close / ioctl(FIONREAD) on non-blocking ends (a blocking end on
//! the fake platform would only be interrupted): reads take what is there
//! (EAGAIN when empty with a writer, 0 at EOF); a write merges its last
//! `len % 4096` bytes into the newest buffer if they fit in its page,
//! then fills new one-page buffers while fewer than 16 are held (a partly
//! read buffer still counts), so writes of up to PIPE_BUF bytes go in
//! whole or not at all and larger ones partly; a full pipe is EAGAIN, a
//! pipe without readers is EPIPE and raises SIGPIPE, and zero-length
//! reads and writes return 0 at once.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use proptest::prelude::*;
use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::Errno;

use crate::fuzz_harness::{get, sys, Bed, SCRATCH};
use crate::signal::bit;
use crate::task::Task;
use crate::UserAddr;

const CAP: usize = crate::vfs::pipe::PIPE_DEFAULT_SIZE;
const PIPE_BUF: usize = crate::vfs::pipe::PIPE_BUF;
const PAGE: usize = crate::vfs::pipe::PAGE;
/// Where data to write is built, and where reads land (each 20 pages).
const WBUF: u64 = 0x60_0000;
const RBUF: u64 = 0x80_0000;

#[derive(Clone, Debug)]
enum Op {
    /// Write this many bytes (of a running counter pattern).
    Write(usize),
    Read(usize),
    CloseRead,
    CloseWrite,
    /// Duplicate an end (so that closing one copy keeps it open).
    DupRead,
    DupWrite,
    Fionread,
}

fn len() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => 0usize..64,
        2 => (PIPE_BUF - 2)..(PIPE_BUF + 3),
        2 => 0usize..(3 * PIPE_BUF),
        1 => (CAP - 8)..(CAP + 8),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => len().prop_map(Op::Write),
        6 => len().prop_map(Op::Read),
        1 => Just(Op::CloseRead),
        1 => Just(Op::CloseWrite),
        1 => Just(Op::DupRead),
        1 => Just(Op::DupWrite),
        2 => Just(Op::Fionread),
    ]
}

/// The model: the buffers in the pipe (bytes held, and where they end in
/// their page) and how many fds each end has. `broken` gives the pipe a
/// seventeenth buffer.
struct Model {
    bufs: VecDeque<(VecDeque<u8>, usize)>,
    readers: u32,
    writers: u32,
    broken: bool,
}

impl Model {
    fn held(&self) -> usize {
        self.bufs.iter().map(|b| b.0.len()).sum()
    }

    fn write(&mut self, data: &[u8]) -> Out {
        let n = data.len();
        let slots = if self.broken { 17 } else { CAP / PAGE };
        let mut done = 0;
        let chars = n % PAGE;
        if let Some((b, end)) = self.bufs.back_mut() {
            if chars > 0 && *end + chars <= PAGE {
                b.extend(&data[..chars]);
                *end += chars;
                done = chars;
            }
        }
        while done < n && self.bufs.len() < slots {
            let k = (n - done).min(PAGE);
            self.bufs
                .push_back((data[done..done + k].iter().copied().collect(), k));
            done += k;
        }
        if done == 0 {
            Out::Err(Errno::EAGAIN)
        } else {
            Out::N(done, Vec::new())
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Out {
    N(usize, Vec<u8>),
    Err(Errno),
    Sigpipe,
}

struct Core {
    _bed: Bed,
    t: Task,
    rfds: Vec<i32>,
    wfds: Vec<i32>,
}

impl Core {
    fn new() -> Core {
        let bed = Bed::new(false, 0);
        // Not init: init does not get SIGPIPE (a default-action signal).
        bed.kernel.alloc_pid();
        let mut t = bed.task();
        // The data areas: 20 pages each.
        let rw = crate::platform::Prot::READ | crate::platform::Prot::WRITE;
        let fl = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
        for at in [WBUF, RBUF] {
            t.mm.mmap(UserAddr(at), 20 << 12, rw, fl, None).unwrap();
        }
        sys(&mut t, PIPE2, &[SCRATCH, O_NONBLOCK as u64]).unwrap();
        let fds = get(&t, SCRATCH, 8).unwrap();
        let r = i32::from_le_bytes(fds[..4].try_into().unwrap());
        let w = i32::from_le_bytes(fds[4..].try_into().unwrap());
        Core {
            _bed: bed,
            t,
            rfds: alloc::vec![r],
            wfds: alloc::vec![w],
        }
    }
}

fn result(r: Result<u64, Errno>) -> Result<u64, Out> {
    r.map_err(Out::Err)
}

fn check(ops: Vec<Op>, broken: bool) -> Result<(), TestCaseError> {
    let mut core = Core::new();
    let mut m = Model {
        bufs: VecDeque::new(),
        readers: 1,
        writers: 1,
        broken,
    };
    let mut counter = 0u8;
    for (i, op) in ops.iter().enumerate() {
        let (got, want) = match *op {
            Op::Write(n) => {
                let data: Vec<u8> = (0..n)
                    .map(|_| {
                        counter = counter.wrapping_add(1);
                        counter
                    })
                    .collect();
                let Some(&w) = core.wfds.first() else {
                    continue;
                };
                core.t.mm.copy_out(UserAddr(WBUF), &data).unwrap();
                let got = match sys(&mut core.t, WRITE, &[w as u64, WBUF, n as u64]) {
                    Err(Errno::EPIPE) => {
                        let mut g = core.t.tg.signals.lock();
                        let raised = g.pending_for(core.t.tid) & bit(SIGPIPE) != 0;
                        g.discard(bit(SIGPIPE));
                        if raised {
                            Out::Sigpipe
                        } else {
                            Out::Err(Errno::EPIPE)
                        }
                    }
                    r => match result(r) {
                        Ok(k) => Out::N(k as usize, Vec::new()),
                        Err(e) => e,
                    },
                };
                let want = if n == 0 {
                    Out::N(0, Vec::new())
                } else if m.readers == 0 {
                    Out::Sigpipe
                } else {
                    m.write(&data)
                };
                (got, want)
            }
            Op::Read(n) => {
                let Some(&r) = core.rfds.first() else {
                    continue;
                };
                let got = match sys(&mut core.t, READ, &[r as u64, RBUF, n as u64]) {
                    Ok(k) => Out::N(k as usize, get(&core.t, RBUF, k as usize).unwrap()),
                    Err(e) => Out::Err(e),
                };
                let want = if n == 0 {
                    Out::N(0, Vec::new())
                } else if m.bufs.is_empty() {
                    if m.writers == 0 {
                        Out::N(0, Vec::new())
                    } else {
                        Out::Err(Errno::EAGAIN)
                    }
                } else {
                    let mut out = Vec::new();
                    while out.len() < n {
                        let Some((b, _)) = m.bufs.front_mut() else {
                            break;
                        };
                        let k = b.len().min(n - out.len());
                        out.extend(b.drain(..k));
                        if b.is_empty() {
                            m.bufs.pop_front();
                        }
                    }
                    Out::N(out.len(), out)
                };
                (got, want)
            }
            Op::CloseRead | Op::CloseWrite => {
                let (fds, count) = if matches!(op, Op::CloseRead) {
                    (&mut core.rfds, &mut m.readers)
                } else {
                    (&mut core.wfds, &mut m.writers)
                };
                let Some(fd) = fds.pop() else { continue };
                *count -= 1;
                let got = result(sys(&mut core.t, CLOSE, &[fd as u64]));
                (
                    match got {
                        Ok(k) => Out::N(k as usize, Vec::new()),
                        Err(e) => e,
                    },
                    Out::N(0, Vec::new()),
                )
            }
            Op::DupRead | Op::DupWrite => {
                let (fds, count) = if matches!(op, Op::DupRead) {
                    (&mut core.rfds, &mut m.readers)
                } else {
                    (&mut core.wfds, &mut m.writers)
                };
                let Some(&fd) = fds.first() else { continue };
                let nfd = sys(&mut core.t, DUP, &[fd as u64]).unwrap();
                fds.push(nfd as i32);
                *count += 1;
                continue;
            }
            Op::Fionread => {
                let Some(&r) = core.rfds.first() else {
                    continue;
                };
                sys(&mut core.t, IOCTL, &[r as u64, FIONREAD as u64, SCRATCH]).unwrap();
                let v = get(&core.t, SCRATCH, 4).unwrap();
                let n = i32::from_le_bytes(v.try_into().unwrap());
                (Out::N(n as usize, Vec::new()), Out::N(m.held(), Vec::new()))
            }
        };
        step_eq!(i, op, got, want);
    }
    Ok(())
}

proptest! {
    #![proptest_config(super::config(2000))]

    #[test]
    fn pipe_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        check(ops, false)?;
    }
}

#[test]
fn pipe_broken_model_is_caught() {
    super::must_fail("pipe", proptest::collection::vec(op(), 1..60), 300, |ops| {
        check(ops, true)
    });
}
