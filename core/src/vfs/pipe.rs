//! Pipes: a bounded byte buffer with a read end and a write end.
//!
//! As Linux: the buffer holds 64 KiB by default; a write of at most
//! PIPE_BUF (4096) bytes is atomic (all or nothing); a read of an empty
//! pipe with no writer left is end of file; a write with no reader left is
//! EPIPE (and SIGPIPE, raised by the syscall layer). Ends answer EAGAIN
//! when they would block, and wake the pipe's [`WaitQueue`] on every
//! change, so blocking is done once, in the syscall layer.
//!
//! FIFOs (named pipes) and F_SETPIPE_SZ come later (issue 3).

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;
use veil_abi::flags::{POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use veil_abi::Errno;

use super::node::{FileOps, InodeAttr, PollMask};
use super::waitq::WaitQueue;

/// Bytes a write may pass atomically.
pub const PIPE_BUF: usize = 4096;
/// The default capacity.
pub const PIPE_DEFAULT_SIZE: usize = 64 * 1024;

static NEXT_PIPE_INO: AtomicU64 = AtomicU64::new(1);

struct State {
    buf: VecDeque<u8>,
    cap: usize,
    readers: u32,
    writers: u32,
}

/// The shared buffer of one pipe.
pub struct Pipe {
    state: Mutex<State>,
    queue: WaitQueue,
    ino: u64,
}

impl Pipe {
    /// A new pipe's two ends: (read, write).
    pub fn new_pair() -> (Arc<PipeEnd>, Arc<PipeEnd>) {
        let pipe = Arc::new(Pipe {
            state: Mutex::new(State {
                buf: VecDeque::new(),
                cap: PIPE_DEFAULT_SIZE,
                readers: 1,
                writers: 1,
            }),
            queue: WaitQueue::new(),
            ino: NEXT_PIPE_INO.fetch_add(1, Ordering::Relaxed),
        });
        (
            Arc::new(PipeEnd {
                pipe: pipe.clone(),
                write: false,
            }),
            Arc::new(PipeEnd { pipe, write: true }),
        )
    }
}

/// One end of a pipe: the [`FileOps`] behind a pipe fd.
pub struct PipeEnd {
    pipe: Arc<Pipe>,
    write: bool,
}

impl PipeEnd {
    /// The pipe's inode number (as `pipe:[N]` in /proc/self/fd).
    pub fn ino(&self) -> u64 {
        self.pipe.ino
    }
}

impl FileOps for PipeEnd {
    fn read(&self, buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        if self.write {
            return Err(Errno::EBADF);
        }
        let mut st = self.pipe.state.lock();
        if st.buf.is_empty() {
            return if st.writers == 0 {
                Ok(0)
            } else {
                Err(Errno::EAGAIN)
            };
        }
        let n = buf.len().min(st.buf.len());
        let (a, b) = st.buf.as_slices();
        let from_a = n.min(a.len());
        buf[..from_a].copy_from_slice(&a[..from_a]);
        buf[from_a..n].copy_from_slice(&b[..n - from_a]);
        st.buf.drain(..n);
        drop(st);
        self.pipe.queue.notify();
        Ok(n)
    }

    fn write(&self, buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        if !self.write {
            return Err(Errno::EBADF);
        }
        let mut st = self.pipe.state.lock();
        if st.readers == 0 {
            return Err(Errno::EPIPE);
        }
        let room = st.cap - st.buf.len();
        // Up to PIPE_BUF bytes go in whole or not at all.
        if room == 0 || (buf.len() <= PIPE_BUF && room < buf.len()) {
            return Err(Errno::EAGAIN);
        }
        let n = buf.len().min(room);
        st.buf.extend(&buf[..n]);
        drop(st);
        self.pipe.queue.notify();
        Ok(n)
    }

    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self) -> PollMask {
        let st = self.pipe.state.lock();
        if self.write {
            let mut m = 0;
            if st.cap - st.buf.len() >= PIPE_BUF.min(st.cap) {
                m |= POLLOUT | POLLWRNORM;
            }
            if st.readers == 0 {
                m |= POLLERR;
            }
            m
        } else {
            let mut m = 0;
            if !st.buf.is_empty() {
                m |= POLLIN | POLLRDNORM;
            }
            if st.writers == 0 {
                m |= POLLHUP;
            }
            m
        }
    }

    fn stat(&self) -> Option<InodeAttr> {
        Some(InodeAttr {
            dev: veil_abi::makedev(0, 13),
            ino: self.pipe.ino,
            mode: veil_abi::flags::S_IFIFO | 0o600,
            nlink: 1,
            blksize: 4096,
            ..Default::default()
        })
    }

    fn ioctl(&self, task: &mut crate::task::Task, cmd: u32, arg: u64) -> Result<u64, Errno> {
        if cmd == veil_abi::flags::FIONREAD {
            let n = self.pipe.state.lock().buf.len() as i32;
            task.mm.write_obj(crate::UserAddr(arg), &n)?;
            return Ok(0);
        }
        Err(Errno::ENOTTY)
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.pipe.queue)
    }

    fn release(&self) {
        let mut st = self.pipe.state.lock();
        if self.write {
            st.writers = st.writers.saturating_sub(1);
        } else {
            st.readers = st.readers.saturating_sub(1);
        }
        drop(st);
        self.pipe.queue.notify();
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
