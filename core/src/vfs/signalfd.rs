//! signalfd: pending signals read as records, as Linux's `fs/signalfd.c`.
//!
//! A read dequeues signals of the file's mask — the thread's own pending
//! signals first, then the process's, in the order delivery would take
//! them — and returns one 128-byte `struct signalfd_siginfo` per signal,
//! as many as fit (`EINVAL` if not even one does). With none pending the
//! read would block: it answers `EAGAIN` and the syscall layer sleeps on
//! the thread group's signalfd queue, which `signal::send` notifies for
//! every signal queued. Readiness: `POLLIN` while a signal of the mask is
//! pending. SIGKILL and SIGSTOP are never in the mask.
//!
//! The siginfo fields are converted as Linux's `signalfd_copyinfo` does,
//! by the siginfo's layout (kill, timer, real-time / queued, child, fault,
//! poll, SIGSYS).
//!
//! Left out: Linux reads the signals of whichever thread calls `read` or
//! `poll`; here a signalfd is bound to the thread (and its process) that
//! created it, so after fork a child's inherited signalfd still reads the
//! parent's signals.

use alloc::sync::Arc;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use veil_abi::flags::*;
use veil_abi::{Errno, Siginfo, SignalfdSiginfo};
use zerocopy::IntoBytes;

use super::node::{FileOps, PollMask};
use super::waitq::WaitQueue;
use crate::signal::{bit, UNBLOCKABLE};
use crate::task::{Pid, ThreadGroup};

/// Bytes of one record.
pub const SIGNALFD_SIGINFO_SIZE: usize = 128;

/// The [`FileOps`] behind a signalfd.
pub struct SignalFd {
    tg: Arc<ThreadGroup>,
    tid: Pid,
    mask: AtomicU64,
}

impl SignalFd {
    /// A signalfd reading the signals of `mask` pending for thread `tid`
    /// of `tg`.
    pub fn new(tg: Arc<ThreadGroup>, tid: Pid, mask: u64) -> SignalFd {
        SignalFd {
            tg,
            tid,
            mask: AtomicU64::new(mask & !UNBLOCKABLE),
        }
    }

    /// The signals it reads.
    pub fn mask(&self) -> u64 {
        self.mask.load(Ordering::Relaxed)
    }

    /// Replaces the mask (signalfd on an existing signalfd) and wakes its
    /// waiters, which re-check.
    pub fn set_mask(&self, mask: u64) {
        self.mask.store(mask & !UNBLOCKABLE, Ordering::Relaxed);
        self.tg.signals.signalfd_queue().notify();
    }

    /// Takes the next pending signal of the mask (as
    /// [`crate::signal::dequeue`], POSIX timer signals report their
    /// overruns).
    fn dequeue(&self) -> Option<Siginfo> {
        let blocked = !self.mask();
        let mut info = {
            let mut g = self.tg.signals.lock();
            let own = g
                .threads
                .iter_mut()
                .find(|t| t.tid == self.tid)
                .and_then(|t| t.pending.take_next(blocked));
            match own {
                Some(i) => Some(i),
                None => g.shared.take_next(blocked),
            }
        }?;
        if info.code == SI_TIMER {
            crate::timer::dequeued(&self.tg, &mut info);
        }
        Some(info)
    }
}

/// Linux's `siginfo_layout`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Layout {
    Kill,
    Timer,
    Poll,
    Fault,
    Chld,
    Rt,
    Sys,
}

fn layout(sig: i32, code: i32) -> Layout {
    if code > SI_USER && code < SI_KERNEL {
        let limit = match sig {
            SIGILL => Some((11, Layout::Fault)),
            SIGFPE => Some((15, Layout::Fault)),
            SIGSEGV => Some((10, Layout::Fault)),
            SIGBUS => Some((5, Layout::Fault)),
            SIGTRAP => Some((6, Layout::Fault)),
            SIGCHLD => Some((6, Layout::Chld)),
            SIGIO => Some((6, Layout::Poll)),
            SIGSYS => Some((2, Layout::Sys)),
            _ => None,
        };
        match limit {
            Some((n, l)) if code <= n => l,
            _ if code <= 6 => Layout::Poll,
            _ => Layout::Kill,
        }
    } else if code == SI_TIMER {
        Layout::Timer
    } else if code == SI_SIGIO {
        Layout::Poll
    } else if code < 0 {
        Layout::Rt
    } else {
        Layout::Kill
    }
}

/// The record a read returns for `info` (Linux's `signalfd_copyinfo`).
pub fn to_signalfd_siginfo(info: &Siginfo) -> SignalfdSiginfo {
    let f = &info.fields;
    let lo = |v: u64| v as u32;
    let hi = |v: u64| (v >> 32) as u32;
    let mut s = SignalfdSiginfo {
        ssi_signo: info.signo as u32,
        ssi_errno: info.errno,
        ssi_code: info.code,
        ..SignalfdSiginfo::default()
    };
    match layout(info.signo, info.code) {
        Layout::Kill => {
            s.ssi_pid = lo(f[0]);
            s.ssi_uid = hi(f[0]);
        }
        Layout::Timer => {
            s.ssi_tid = lo(f[0]);
            s.ssi_overrun = hi(f[0]);
            s.ssi_ptr = f[1];
            s.ssi_int = f[1] as u32 as i32;
        }
        Layout::Poll => {
            s.ssi_band = f[0] as u32;
            s.ssi_fd = lo(f[1]) as i32;
        }
        Layout::Fault => {
            s.ssi_addr = f[0];
            if info.signo == SIGBUS && (info.code == 4 || info.code == 5) {
                s.ssi_addr_lsb = f[1] as u16;
            }
        }
        Layout::Chld => {
            s.ssi_pid = lo(f[0]);
            s.ssi_uid = hi(f[0]);
            s.ssi_status = lo(f[1]) as i32;
            s.ssi_utime = f[2];
            s.ssi_stime = f[3];
        }
        Layout::Rt => {
            s.ssi_pid = lo(f[0]);
            s.ssi_uid = hi(f[0]);
            s.ssi_ptr = f[1];
            s.ssi_int = f[1] as u32 as i32;
        }
        Layout::Sys => {
            s.ssi_call_addr = f[0];
            s.ssi_syscall = lo(f[1]) as i32;
            s.ssi_arch = hi(f[1]);
        }
    }
    s
}

impl FileOps for SignalFd {
    fn read(&self, buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        let n = buf.len() / SIGNALFD_SIGINFO_SIZE;
        if n == 0 {
            return Err(Errno::EINVAL);
        }
        let mut done = 0;
        while done < n {
            let Some(info) = self.dequeue() else {
                break;
            };
            let rec = to_signalfd_siginfo(&info);
            let at = done * SIGNALFD_SIGINFO_SIZE;
            buf[at..at + SIGNALFD_SIGINFO_SIZE].copy_from_slice(rec.as_bytes());
            done += 1;
        }
        if done == 0 {
            return Err(Errno::EAGAIN);
        }
        Ok(done * SIGNALFD_SIGINFO_SIZE)
    }

    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self) -> PollMask {
        let pending = self.tg.signals.lock().pending_for(self.tid);
        if pending & self.mask() != 0 {
            POLLIN | POLLRDNORM
        } else {
            0
        }
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(self.tg.signals.signalfd_queue())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// True if `sig` can be read through a signalfd (not SIGKILL or SIGSTOP).
pub fn readable_signal(sig: i32) -> bool {
    bit(sig) & UNBLOCKABLE == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        assert_eq!(layout(SIGUSR1, SI_USER), Layout::Kill);
        assert_eq!(layout(SIGUSR1, SI_QUEUE), Layout::Rt);
        assert_eq!(layout(SIGUSR1, SI_TKILL), Layout::Rt);
        assert_eq!(layout(SIGALRM, SI_TIMER), Layout::Timer);
        assert_eq!(layout(SIGSEGV, SEGV_MAPERR), Layout::Fault);
        assert_eq!(layout(SIGCHLD, CLD_EXITED), Layout::Chld);
        assert_eq!(layout(SIGUSR1, SI_KERNEL), Layout::Kill);
        assert_eq!(layout(SIGSYS, 1), Layout::Sys);
    }

    #[test]
    fn child_record() {
        let mut i = Siginfo {
            signo: SIGCHLD,
            code: CLD_EXITED,
            ..Siginfo::default()
        };
        i.fields[0] = 42 | (1000u64 << 32);
        i.fields[1] = 3;
        let s = to_signalfd_siginfo(&i);
        assert_eq!(
            (s.ssi_signo, s.ssi_code, s.ssi_pid, s.ssi_uid, s.ssi_status),
            (SIGCHLD as u32, CLD_EXITED, 42, 1000, 3)
        );
        assert!(readable_signal(SIGUSR1) && !readable_signal(SIGKILL));
    }
}
