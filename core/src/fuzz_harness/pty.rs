//! The pty line-discipline harness: arbitrary terminal settings, input
//! bytes, output writes, reads and flushes driven against one
//! [`Ldisc`](crate::tty::ldisc::Ldisc), with its output going to a bounded
//! queue as the other end's would.
//!
//! Checked beyond "no panic, no hang": a read never returns more than
//! asked, the input count never grows past what the received bytes can
//! make (PARMRK triples a byte at most), a receive
//! never takes more than it was given, and a final raw read returns no
//! more than was queued.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use arbitrary::{Arbitrary, Unstructured};
use zerocopy::FromBytes;

use crate::tty::ldisc::{master_termios, slave_termios, Ldisc, Out};

/// Room in the other end's queue.
const OUT_CAP: usize = 4096;
/// Most steps one input runs.
const MAX_STEPS: usize = 256;

/// One step.
#[derive(Arbitrary, Debug)]
enum Op {
    /// Bytes typed at the terminal (the master writes them).
    Receive(Vec<u8>),
    /// The program writes (output processing, OPOST / ONLCR ...).
    Write(Vec<u8>),
    /// A canonical-mode read of up to n bytes.
    ReadCanon(u16),
    /// A raw-mode read of up to n bytes.
    ReadRaw(u16),
    /// New settings: the flag words and control characters as given.
    SetTermios([u8; 44]),
    /// Only the local flags change (ICANON, ECHO, ISIG ...).
    SetLflag(u32),
    /// TCIFLUSH.
    FlushInput,
    /// Pending echoes are written out.
    ProcessEchoes,
    /// The other end reads what was output.
    Drain(u16),
}

/// The input: which side's defaults to start from and the steps.
#[derive(Arbitrary, Debug)]
struct Program {
    master: bool,
    ops: Vec<Op>,
}

/// Runs one input. Panics if the line discipline panicked or broke a
/// checked property.
pub fn run_pty(data: &[u8]) {
    let Ok(prog) = Program::arbitrary(&mut Unstructured::new(data)) else {
        return;
    };
    let mut l = Ldisc::new(if prog.master {
        master_termios()
    } else {
        slave_termios()
    });
    let mut out: VecDeque<u8> = VecDeque::new();
    let mut received_total = 0usize;
    for op in prog.ops.iter().take(MAX_STEPS) {
        match op {
            Op::Receive(bytes) => {
                let bytes = &bytes[..bytes.len().min(1024)];
                let r = l.receive(
                    bytes,
                    &mut Out {
                        buf: &mut out,
                        cap: OUT_CAP,
                    },
                );
                assert!(r.consumed <= bytes.len(), "receive took more than given");
                received_total += r.consumed;
            }
            Op::Write(bytes) => {
                let bytes = &bytes[..bytes.len().min(1024)];
                let n = l.write(
                    bytes,
                    &mut Out {
                        buf: &mut out,
                        cap: OUT_CAP,
                    },
                );
                assert!(n <= bytes.len(), "write took more than given");
            }
            Op::ReadCanon(n) => {
                let got = l.read_canon(*n as usize);
                assert!(got.len() <= *n as usize, "canonical read returned too much");
            }
            Op::ReadRaw(n) => {
                let got = l.read_raw(*n as usize);
                assert!(got.len() <= *n as usize, "raw read returned too much");
            }
            Op::SetTermios(raw) => {
                if let Ok((t, _)) = crate::tty::ldisc::KTermios::read_from_prefix(raw) {
                    l.set_termios(t);
                }
            }
            Op::SetLflag(f) => {
                let mut t = *l.termios();
                t.c_lflag = *f;
                l.set_termios(t);
            }
            Op::FlushInput => l.flush_input(),
            Op::ProcessEchoes => l.process_echoes(&mut Out {
                buf: &mut out,
                cap: OUT_CAP,
            }),
            Op::Drain(n) => {
                let n = (*n as usize).min(out.len());
                out.drain(..n);
            }
        }
        assert!(
            l.inq() <= l.len(),
            "more input ready than queued ({} > {})",
            l.inq(),
            l.len()
        );
        // PARMRK marks a byte with up to two more (\377 \0 c, \377 \377).
        assert!(
            l.len() <= 3 * received_total,
            "more input queued ({}) than received bytes can make ({received_total})",
            l.len()
        );
    }
    // Raw mode: what is queued can be read out.
    let mut t = *l.termios();
    t.c_lflag = 0;
    t.c_cc[veil_abi::termios::VMIN] = 1;
    l.set_termios(t);
    let left = l.len();
    let got = l.read_raw(left);
    assert!(got.len() <= left, "raw read returned more than was queued");
}
