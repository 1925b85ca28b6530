//! Pipes: a bounded byte buffer with a read end and a write end.
//!
//! As Linux: the buffer holds 64 KiB by default; a write of at most
//! PIPE_BUF (4096) bytes is atomic (all or nothing); a read of an empty
//! pipe with no writer left is end of file; a write with no reader left is
//! EPIPE (and SIGPIPE, raised by the syscall layer). Ends answer EAGAIN
//! when they would block, and wake the pipe's [`WaitQueue`] on every
//! change, so blocking is done once, in the syscall layer.
//!
//! FIFOs (named pipes, see [`super::fifo`]) use the same buffer, opened
//! end by end: a description may read, write or both (`O_RDWR`), and the
//! pipe counts its readers and writers and how many of each have ever
//! opened it (what a FIFO open waits on). The buffer empties when the
//! last end closes, as Linux frees the pipe then.

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
    /// Opens for reading / writing ever (Linux's `r_counter`,
    /// `w_counter`).
    r_counter: u64,
    w_counter: u64,
}

/// The shared buffer of one pipe.
pub struct Pipe {
    state: Mutex<State>,
    queue: WaitQueue,
    ino: u64,
}

impl Pipe {
    fn with_ends(readers: u32, writers: u32) -> Arc<Pipe> {
        Arc::new(Pipe {
            state: Mutex::new(State {
                buf: VecDeque::new(),
                cap: PIPE_DEFAULT_SIZE,
                readers,
                writers,
                r_counter: readers as u64,
                w_counter: writers as u64,
            }),
            queue: WaitQueue::new(),
            ino: NEXT_PIPE_INO.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// A new pipe's two ends: (read, write).
    pub fn new_pair() -> (Arc<PipeEnd>, Arc<PipeEnd>) {
        let pipe = Pipe::with_ends(1, 1);
        (
            Arc::new(PipeEnd {
                pipe: pipe.clone(),
                read: true,
                write: false,
                hup_after: 0,
            }),
            Arc::new(PipeEnd {
                pipe,
                read: false,
                write: true,
                hup_after: 0,
            }),
        )
    }

    /// A pipe with no ends yet (a FIFO's, opened end by end).
    pub fn new_unopened() -> Arc<Pipe> {
        Pipe::with_ends(0, 0)
    }

    /// Opens an end that reads and / or writes, counting it.
    /// `hup_unless_new_writer`: a reader opened with no writer does not
    /// report POLLHUP until a writer has come (Linux's `f_pipe`).
    pub fn open_end(
        self: &Arc<Pipe>,
        read: bool,
        write: bool,
        hup_unless_new_writer: bool,
    ) -> Arc<PipeEnd> {
        let mut st = self.state.lock();
        if read {
            st.readers += 1;
            st.r_counter += 1;
        }
        if write {
            st.writers += 1;
            st.w_counter += 1;
        }
        let hup_after = if hup_unless_new_writer && st.writers == 0 {
            st.w_counter
        } else {
            0
        };
        drop(st);
        self.queue.notify();
        Arc::new(PipeEnd {
            pipe: self.clone(),
            read,
            write,
            hup_after,
        })
    }

    /// (readers, writers) now.
    pub fn ends(&self) -> (u32, u32) {
        let st = self.state.lock();
        (st.readers, st.writers)
    }

    /// (opens for reading, opens for writing) ever.
    pub fn counters(&self) -> (u64, u64) {
        let st = self.state.lock();
        (st.r_counter, st.w_counter)
    }

    /// The queue woken by every change, opens and closes included.
    pub fn queue(&self) -> &WaitQueue {
        &self.queue
    }

    /// The capacity in bytes (F_GETPIPE_SZ).
    pub fn capacity(&self) -> usize {
        self.state.lock().cap
    }

    /// Sets the capacity (F_SETPIPE_SZ): `EBUSY` if the data held does
    /// not fit.
    pub fn set_capacity(&self, cap: usize) -> Result<(), Errno> {
        let mut st = self.state.lock();
        if st.buf.len() > cap {
            return Err(Errno::EBUSY);
        }
        st.cap = cap;
        drop(st);
        self.queue.notify();
        Ok(())
    }
}

/// One end of a pipe: the [`FileOps`] behind a pipe fd.
pub struct PipeEnd {
    pipe: Arc<Pipe>,
    read: bool,
    write: bool,
    /// No POLLHUP while the writers ever opened are this many (a FIFO
    /// reader that opened before any writer).
    hup_after: u64,
}

impl PipeEnd {
    /// The pipe's inode number (as `pipe:[N]` in /proc/self/fd).
    pub fn ino(&self) -> u64 {
        self.pipe.ino
    }

    /// The pipe.
    pub fn pipe(&self) -> &Arc<Pipe> {
        &self.pipe
    }
}

impl FileOps for PipeEnd {
    fn read(&self, buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        if !self.read {
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
        let mut m = 0;
        if self.read {
            if !st.buf.is_empty() {
                m |= POLLIN | POLLRDNORM;
            }
            if st.writers == 0 && st.w_counter != self.hup_after {
                m |= POLLHUP;
            }
        }
        if self.write {
            if st.cap - st.buf.len() >= PIPE_BUF.min(st.cap) {
                m |= POLLOUT | POLLWRNORM;
            }
            if st.readers == 0 {
                m |= POLLERR;
            }
        }
        m
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
        }
        if self.read {
            st.readers = st.readers.saturating_sub(1);
        }
        if st.readers == 0 && st.writers == 0 {
            // The pipe is gone (a FIFO's next open starts empty).
            st.buf = VecDeque::new();
        }
        drop(st);
        self.pipe.queue.notify();
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// What splice, tee and vmsplice do to a pipe: move bytes in and out
/// without a reader's or writer's file (no `PIPE_BUF` rule: as many bytes
/// as fit). The callers wait on [`Pipe::queue`] themselves.
impl Pipe {
    /// (bytes held, room left, readers, writers).
    pub(crate) fn levels(&self) -> (usize, usize, u32, u32) {
        let st = self.state.lock();
        (
            st.buf.len(),
            st.cap.saturating_sub(st.buf.len()),
            st.readers,
            st.writers,
        )
    }

    /// Takes up to `max` bytes from the front.
    pub(crate) fn take(&self, max: usize) -> alloc::vec::Vec<u8> {
        let mut st = self.state.lock();
        let n = max.min(st.buf.len());
        let out: alloc::vec::Vec<u8> = st.buf.drain(..n).collect();
        drop(st);
        if n > 0 {
            self.queue.notify();
        }
        out
    }

    /// Copies up to `max` bytes from the front, leaving them (tee).
    pub(crate) fn peek(&self, max: usize) -> alloc::vec::Vec<u8> {
        let st = self.state.lock();
        let n = max.min(st.buf.len());
        st.buf.range(..n).copied().collect()
    }

    /// Puts back, at the front, bytes taken but not delivered.
    pub(crate) fn untake(&self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let mut st = self.state.lock();
        for &b in data.iter().rev() {
            st.buf.push_front(b);
        }
        drop(st);
        self.queue.notify();
    }

    /// Adds as much of `data` as fits: the bytes added (0 if full).
    /// `EPIPE` if no reader is left.
    pub(crate) fn put(&self, data: &[u8]) -> Result<usize, Errno> {
        let mut st = self.state.lock();
        if st.readers == 0 {
            return Err(Errno::EPIPE);
        }
        let n = data.len().min(st.cap.saturating_sub(st.buf.len()));
        st.buf.extend(&data[..n]);
        drop(st);
        if n > 0 {
            self.queue.notify();
        }
        Ok(n)
    }
}
