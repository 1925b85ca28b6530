//! timerfd: a timer read as a file.
//!
//! A read returns the number of expirations since the last read (or the
//! last timerfd_settime) as a native-endian u64 and resets it; with none,
//! it answers `EAGAIN` and the syscall layer sleeps on the file's
//! [`WaitQueue`] (unless O_NONBLOCK). poll reports POLLIN while
//! expirations are waiting.
//!
//! Expirations are counted lazily from the clock ([`Schedule::expire`]),
//! so a read or poll sees every interval that passed. The host timer is
//! armed only to wake sleepers: once for the first expiration after the
//! count was last reset, never again until a read resets it, so an
//! interval timerfd nobody reads costs nothing.

use alloc::sync::{Arc, Weak};
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;
use veil_abi::flags::{POLLIN, POLLRDNORM};
use veil_abi::Errno;

use super::{Alarm, Schedule, MIN_REARM_NS};
use crate::kernel::Kernel;
use crate::process::mono_ns;
use crate::vfs::node::{FileOps, InodeAttr, PollMask};
use crate::vfs::waitq::WaitQueue;

static NEXT_INO: AtomicU64 = AtomicU64::new(1);

struct State {
    sched: Schedule,
    ticks: u64,
    alarm: Alarm,
}

/// The object behind a timerfd.
pub struct TimerFd {
    this: Weak<TimerFd>,
    kernel: Weak<Kernel>,
    /// The clock id it was made with (CLOCK_REALTIME, MONOTONIC, ...).
    pub clockid: u32,
    st: Mutex<State>,
    queue: WaitQueue,
    ino: u64,
}

impl TimerFd {
    /// A disarmed timerfd on `clockid`.
    pub fn new(kernel: &Arc<Kernel>, clockid: u32) -> Arc<TimerFd> {
        Arc::new_cyclic(|this| TimerFd {
            this: this.clone(),
            kernel: Arc::downgrade(kernel),
            clockid,
            st: Mutex::new(State {
                sched: Schedule::default(),
                ticks: 0,
                alarm: Alarm::default(),
            }),
            queue: WaitQueue::new(),
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
        })
    }

    fn now(&self) -> u64 {
        self.kernel.upgrade().map_or(0, |k| mono_ns(&k))
    }

    /// Sets the timer (monotonic first expiration, `None` to disarm;
    /// interval); the expiration count is reset. Returns the previous
    /// (time left, interval).
    pub fn set(&self, first: Option<u64>, interval: u64) -> (u64, u64) {
        let Some(kernel) = self.kernel.upgrade() else {
            return (0, 0);
        };
        let now = mono_ns(&kernel);
        let mut st = self.st.lock();
        let n = st.sched.expire(now);
        st.ticks = st.ticks.saturating_add(n);
        let old = (st.sched.remaining(now), st.sched.interval);
        st.alarm.cancel(&kernel);
        st.sched = Schedule {
            next: first,
            interval: if first.is_some() { interval } else { 0 },
        };
        st.ticks = 0;
        self.arm_locked(&kernel, &mut st, now);
        drop(st);
        self.queue.notify();
        old
    }

    /// (time left, interval) now.
    pub fn get(&self) -> (u64, u64) {
        let now = self.now();
        let mut st = self.st.lock();
        let n = st.sched.expire(now);
        st.ticks = st.ticks.saturating_add(n);
        (st.sched.remaining(now), st.sched.interval)
    }

    /// Arms the host timer for the next expiration if nothing is waiting
    /// to be read (sleepers need a wake-up only then).
    fn arm_locked(&self, kernel: &Kernel, st: &mut State, now: u64) {
        let Some(next) = st.sched.next else {
            return;
        };
        if st.ticks > 0 {
            return;
        }
        let deadline = if st.sched.interval > 0 && st.sched.interval < MIN_REARM_NS {
            next.max(now.saturating_add(MIN_REARM_NS))
        } else {
            next
        };
        let me = self.this.clone();
        st.alarm.arm(kernel, deadline, move |gen| {
            if let Some(t) = me.upgrade() {
                t.fire(gen);
            }
        });
    }

    fn fire(&self, gen: u64) {
        let Some(kernel) = self.kernel.upgrade() else {
            return;
        };
        let now = mono_ns(&kernel);
        let mut st = self.st.lock();
        if !st.alarm.take(gen) {
            return;
        }
        let n = st.sched.expire(now);
        st.ticks = st.ticks.saturating_add(n);
        self.arm_locked(&kernel, &mut st, now);
        drop(st);
        self.queue.notify();
    }
}

impl FileOps for TimerFd {
    fn read(&self, buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        if buf.len() < 8 {
            return Err(Errno::EINVAL);
        }
        let Some(kernel) = self.kernel.upgrade() else {
            return Err(Errno::EAGAIN);
        };
        let now = mono_ns(&kernel);
        let mut st = self.st.lock();
        let n = st.sched.expire(now);
        st.ticks = st.ticks.saturating_add(n);
        if st.ticks == 0 {
            return Err(Errno::EAGAIN);
        }
        buf[..8].copy_from_slice(&st.ticks.to_ne_bytes());
        st.ticks = 0;
        self.arm_locked(&kernel, &mut st, now);
        Ok(8)
    }

    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self) -> PollMask {
        let now = self.now();
        let mut st = self.st.lock();
        let n = st.sched.expire(now);
        st.ticks = st.ticks.saturating_add(n);
        if st.ticks > 0 {
            POLLIN | POLLRDNORM
        } else {
            0
        }
    }

    fn stat(&self) -> Option<InodeAttr> {
        Some(InodeAttr {
            ino: self.ino,
            mode: 0o600,
            nlink: 1,
            blksize: 4096,
            ..Default::default()
        })
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.queue)
    }

    fn release(&self) {
        if let Some(k) = self.kernel.upgrade() {
            let mut st = self.st.lock();
            st.sched = Schedule::default();
            st.alarm.cancel(&k);
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
