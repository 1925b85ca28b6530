//! eventfd: a 64-bit counter behind a file descriptor, as Linux's
//! `fs/eventfd.c`.
//!
//! A write of an 8-byte value adds it to the counter; a read returns the
//! counter and resets it to 0, or, in semaphore mode (`EFD_SEMAPHORE`),
//! returns 1 and decrements it. Reads and writes of fewer than 8 bytes
//! are `EINVAL`, as is writing `u64::MAX`. A read of a zero counter and a
//! write that would push the counter past `u64::MAX - 1` would block:
//! they answer `EAGAIN` and the syscall layer sleeps on the file's queue
//! unless the description is non-blocking. Readiness: `POLLIN` while the
//! counter is non-zero, `POLLOUT` while a write of 1 would succeed.
//!
//! Left out: `lseek` answers `ESPIPE` (Linux's `noop_llseek` answers the
//! offset, always 0); the `eventfd-count` line of /proc/self/fdinfo;
//! in-kernel users (aio, KVM irqfd).

use core::any::Any;

use spin::Mutex;
use veil_abi::flags::{POLLERR, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use veil_abi::Errno;

use super::node::{FileOps, PollMask};
use super::waitq::WaitQueue;

/// The largest value the counter holds.
pub const EVENTFD_MAX: u64 = u64::MAX - 1;

struct State {
    count: u64,
    /// The largest value a writer is waiting to add (0: none). While a
    /// writer waits, `POLLOUT` is reported only when that value fits, so
    /// the blocked write sleeps instead of retrying at once.
    want: u64,
}

/// The [`FileOps`] behind an eventfd.
pub struct EventFd {
    state: Mutex<State>,
    semaphore: bool,
    queue: WaitQueue,
}

impl EventFd {
    /// A counter starting at `initval`; `semaphore` is `EFD_SEMAPHORE`.
    pub fn new(initval: u64, semaphore: bool) -> EventFd {
        EventFd {
            state: Mutex::new(State {
                count: initval,
                want: 0,
            }),
            semaphore,
            queue: WaitQueue::new(),
        }
    }

    /// The counter's value.
    pub fn count(&self) -> u64 {
        self.state.lock().count
    }

    /// True in semaphore mode.
    pub fn is_semaphore(&self) -> bool {
        self.semaphore
    }
}

impl FileOps for EventFd {
    fn read(&self, buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        if buf.len() < 8 {
            return Err(Errno::EINVAL);
        }
        let mut st = self.state.lock();
        if st.count == 0 {
            return Err(Errno::EAGAIN);
        }
        let v = if self.semaphore { 1 } else { st.count };
        st.count -= v;
        st.want = 0;
        drop(st);
        buf[..8].copy_from_slice(&v.to_ne_bytes());
        self.queue.notify();
        Ok(8)
    }

    fn write(&self, buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        let Some(bytes) = buf.get(..8) else {
            return Err(Errno::EINVAL);
        };
        let mut raw = [0u8; 8];
        raw.copy_from_slice(bytes);
        let v = u64::from_ne_bytes(raw);
        if v == u64::MAX {
            return Err(Errno::EINVAL);
        }
        let mut st = self.state.lock();
        if EVENTFD_MAX - st.count < v {
            st.want = st.want.max(v);
            return Err(Errno::EAGAIN);
        }
        st.count += v;
        if st.want <= v {
            st.want = 0;
        }
        drop(st);
        if v != 0 {
            self.queue.notify();
        }
        Ok(8)
    }

    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self) -> PollMask {
        let st = self.state.lock();
        let mut m = 0;
        if st.count > 0 {
            m |= POLLIN | POLLRDNORM;
        }
        if EVENTFD_MAX - st.count >= st.want.max(1) {
            m |= POLLOUT | POLLWRNORM;
        }
        if st.count == u64::MAX {
            m |= POLLERR;
        }
        m
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.queue)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rd(e: &EventFd) -> Result<u64, Errno> {
        let mut b = [0u8; 8];
        e.read(&mut b, 0)?;
        Ok(u64::from_ne_bytes(b))
    }

    fn wr(e: &EventFd, v: u64) -> Result<usize, Errno> {
        e.write(&v.to_ne_bytes(), 0)
    }

    #[test]
    fn counter_and_semaphore() {
        let e = EventFd::new(0, false);
        assert_eq!(rd(&e), Err(Errno::EAGAIN));
        assert_eq!(e.poll() & POLLIN, 0);
        assert_eq!(wr(&e, 3), Ok(8));
        assert_eq!(wr(&e, 4), Ok(8));
        assert_ne!(e.poll() & POLLIN, 0);
        assert_eq!(rd(&e), Ok(7));
        assert_eq!(rd(&e), Err(Errno::EAGAIN));

        let s = EventFd::new(2, true);
        assert_eq!(rd(&s), Ok(1));
        assert_eq!(rd(&s), Ok(1));
        assert_eq!(rd(&s), Err(Errno::EAGAIN));
    }

    #[test]
    fn sizes_and_overflow() {
        let e = EventFd::new(0, false);
        assert_eq!(e.read(&mut [0u8; 7], 0), Err(Errno::EINVAL));
        assert_eq!(e.write(&[0u8; 4], 0), Err(Errno::EINVAL));
        assert_eq!(wr(&e, u64::MAX), Err(Errno::EINVAL));
        assert_eq!(wr(&e, EVENTFD_MAX), Ok(8));
        assert_eq!(e.poll() & POLLOUT, 0);
        assert_eq!(wr(&e, 1), Err(Errno::EAGAIN));
        assert_eq!(wr(&e, 0), Ok(8));
        assert_eq!(rd(&e), Ok(EVENTFD_MAX));
        // A blocked large write keeps POLLOUT off until it fits.
        assert_eq!(wr(&e, 10), Ok(8));
        assert_eq!(wr(&e, EVENTFD_MAX - 5), Err(Errno::EAGAIN));
        assert_eq!(e.poll() & POLLOUT, 0);
        assert_eq!(rd(&e), Ok(10));
        assert_ne!(e.poll() & POLLOUT, 0);
        assert_eq!(wr(&e, EVENTFD_MAX - 5), Ok(8));
        // A 16-byte read or write uses the first 8 bytes.
        let mut b = [0u8; 16];
        assert_eq!(e.read(&mut b, 0), Ok(8));
    }
}
