//! Pipes: a ring of page buffers with a read end and a write end, as
//! Linux's fs/pipe.c.
//!
//! A pipe holds up to `slots` buffers (16 by default, F_SETPIPE_SZ
//! changes it), each one page. A write first adds its last `len % 4096`
//! bytes to the newest buffer when that buffer allows merging and has
//! room, then fills fresh buffers a page at a time while a slot is free;
//! a buffer partly read keeps its slot until it is empty. So a write of
//! at most PIPE_BUF (4096) bytes goes in whole or not at all, and a pipe
//! may refuse a write with fewer than 65536 bytes held. A read takes bytes
//! buffer after buffer. In packet mode (a writer with `O_DIRECT`) each
//! write makes buffers of their own that never merge, and a read takes at
//! most one buffer, dropping what it does not copy. A read of an empty
//! pipe with no writer left is end of file; a write with no reader left
//! is EPIPE (and SIGPIPE, raised by the syscall layer). Ends answer
//! EAGAIN when they would block, and wake the pipe's [`WaitQueue`] on
//! every change, so blocking is done once, in the syscall layer
//! ([`crate::syscalls::pipe`]), which also copies straight between user
//! memory and the buffers.
//!
//! FIFOs (named pipes, see [`super::fifo`]) use the same buffer, opened
//! end by end: a description may read, write or both (`O_RDWR`), and the
//! pipe counts its readers and writers and how many of each have ever
//! opened it (what a FIFO open waits on). The buffers go when the last
//! end closes, as Linux frees the pipe then.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;
use veil_abi::flags::{POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use veil_abi::Errno;

use super::node::{FileOps, InodeAttr, PollMask};
use super::waitq::WaitQueue;

/// Bytes a write may pass atomically.
pub const PIPE_BUF: usize = 4096;
/// The size of one buffer.
pub const PAGE: usize = 4096;
/// The default number of buffers.
pub const PIPE_DEF_BUFFERS: usize = 16;
/// The default capacity.
pub const PIPE_DEFAULT_SIZE: usize = PIPE_DEF_BUFFERS * PAGE;
/// Freed pages a pipe keeps for its next buffers (at most).
const SPARE_PAGES: usize = PIPE_DEF_BUFFERS;

/// Linux's PIPE_BUF_FLAG_CAN_MERGE: a write may append to the buffer.
const CAN_MERGE: u8 = 1;
/// Linux's PIPE_BUF_FLAG_PACKET: a read takes the buffer whole.
const PACKET: u8 = 2;

static NEXT_PIPE_INO: AtomicU64 = AtomicU64::new(1);

/// One buffer: bytes `start..end` of a page.
struct Buf {
    page: Box<[u8]>,
    start: usize,
    end: usize,
    flags: u8,
}

impl Buf {
    fn len(&self) -> usize {
        self.end - self.start
    }
}

struct State {
    bufs: VecDeque<Buf>,
    /// Bytes held (the sum of the buffers' lengths).
    bytes: usize,
    /// How many buffers the pipe may hold (F_GETPIPE_SZ / 4096).
    slots: usize,
    /// Pages of emptied buffers, reused before allocating.
    spare: Vec<Box<[u8]>>,
    readers: u32,
    writers: u32,
    /// Opens for reading / writing ever (Linux's `r_counter`,
    /// `w_counter`).
    r_counter: u64,
    w_counter: u64,
}

impl State {
    fn full(&self) -> bool {
        self.bufs.len() >= self.slots
    }

    fn page(&mut self) -> Box<[u8]> {
        self.spare
            .pop()
            .unwrap_or_else(|| vec![0u8; PAGE].into_boxed_slice())
    }

    fn recycle(&mut self, page: Box<[u8]>) {
        if self.spare.len() < SPARE_PAGES.min(self.slots) {
            self.spare.push(page);
        }
    }

    /// Drops the front buffer (emptied), keeping its page.
    fn pop_front(&mut self) {
        if let Some(b) = self.bufs.pop_front() {
            self.bytes -= b.len();
            self.recycle(b.page);
        }
    }

    /// Appends a buffer holding `data` (at most a page), with `flags`.
    fn push_copy(&mut self, data: &[u8], flags: u8) {
        let mut page = self.page();
        page[..data.len()].copy_from_slice(data);
        self.bytes += data.len();
        self.bufs.push_back(Buf {
            page,
            start: 0,
            end: data.len(),
            flags,
        });
    }

    /// Linux's pipe_write without the waits: merges the last
    /// `total % PAGE` bytes into the newest buffer if `merge`, then fills
    /// new buffers while slots are free. `fill` copies the next bytes of
    /// the source into its argument and returns how many it copied (fewer
    /// on a fault). Returns the bytes written: `EAGAIN` if none fit,
    /// `EFAULT` if none could be copied.
    fn write(
        &mut self,
        total: usize,
        packet: bool,
        merge: bool,
        fill: &mut dyn FnMut(&mut [u8]) -> usize,
    ) -> Result<usize, Errno> {
        if self.readers == 0 {
            return Err(Errno::EPIPE);
        }
        let mut done = 0;
        let chars = total & (PAGE - 1);
        if merge && chars != 0 {
            if let Some(last) = self.bufs.back_mut() {
                if last.flags & CAN_MERGE != 0 && last.end + chars <= PAGE {
                    let end = last.end;
                    if fill(&mut last.page[end..end + chars]) < chars {
                        return Err(Errno::EFAULT);
                    }
                    last.end += chars;
                    self.bytes += chars;
                    done = chars;
                }
            }
        }
        let flags = if packet { PACKET } else { CAN_MERGE };
        while done < total && !self.full() {
            let mut page = self.page();
            let n = (total - done).min(PAGE);
            if fill(&mut page[..n]) < n {
                self.recycle(page);
                return if done > 0 {
                    Ok(done)
                } else {
                    Err(Errno::EFAULT)
                };
            }
            self.bufs.push_back(Buf {
                page,
                start: 0,
                end: n,
                flags,
            });
            self.bytes += n;
            done += n;
        }
        if done == 0 {
            return Err(Errno::EAGAIN);
        }
        Ok(done)
    }

    /// Linux's pipe_read without the waits: copies up to `total` bytes out
    /// through `drain` (which returns how many it took, fewer on a fault),
    /// buffer after buffer, or one packet. 0 at end of file, `EAGAIN` if
    /// empty with a writer, `EFAULT` if nothing could be copied.
    fn read(
        &mut self,
        total: usize,
        drain: &mut dyn FnMut(&[u8]) -> usize,
    ) -> Result<usize, Errno> {
        if self.bufs.is_empty() {
            return if self.writers == 0 {
                Ok(0)
            } else {
                Err(Errno::EAGAIN)
            };
        }
        let mut done = 0;
        while done < total {
            let Some(b) = self.bufs.front_mut() else {
                break;
            };
            let chars = b.len().min(total - done);
            if drain(&b.page[b.start..b.start + chars]) < chars {
                return if done > 0 {
                    Ok(done)
                } else {
                    Err(Errno::EFAULT)
                };
            }
            done += chars;
            b.start += chars;
            self.bytes -= chars;
            let packet = b.flags & PACKET != 0;
            if packet {
                self.bytes -= b.len();
                b.start = b.end;
            }
            if b.len() == 0 {
                self.pop_front();
            }
            if packet {
                break;
            }
        }
        Ok(done)
    }
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
                bufs: VecDeque::new(),
                bytes: 0,
                slots: PIPE_DEF_BUFFERS,
                spare: Vec::new(),
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
        self.state.lock().slots * PAGE
    }

    /// Sets the capacity (F_SETPIPE_SZ) to `cap` bytes, a power of two
    /// pages: `EBUSY` if fewer buffers than the pipe holds now.
    pub fn set_capacity(&self, cap: usize) -> Result<(), Errno> {
        let slots = (cap / PAGE).max(1);
        let mut st = self.state.lock();
        if st.bufs.len() > slots {
            return Err(Errno::EBUSY);
        }
        st.slots = slots;
        st.spare.truncate(slots.min(SPARE_PAGES));
        drop(st);
        self.queue.notify();
        Ok(())
    }

    /// Bytes held (FIONREAD).
    pub fn held(&self) -> usize {
        self.state.lock().bytes
    }

    /// A write of `total` bytes without waiting (see [`State::write`]):
    /// `fill` copies the source's next bytes into its argument. `packet`
    /// for a writer in packet mode; `merge` only for a write's first
    /// step, as Linux merges only before it first waits.
    pub fn write_with(
        &self,
        total: usize,
        packet: bool,
        merge: bool,
        fill: &mut dyn FnMut(&mut [u8]) -> usize,
    ) -> Result<usize, Errno> {
        if total == 0 {
            return Ok(0);
        }
        let r = self.state.lock().write(total, packet, merge, fill);
        if r.is_ok() {
            self.queue.notify();
        }
        r
    }

    /// A read of up to `total` bytes without waiting (see
    /// [`State::read`]): `drain` copies each piece out.
    pub fn read_with(
        &self,
        total: usize,
        drain: &mut dyn FnMut(&[u8]) -> usize,
    ) -> Result<usize, Errno> {
        if total == 0 {
            return Ok(0);
        }
        let r = self.state.lock().read(total, drain);
        if matches!(r, Ok(n) if n > 0) {
            self.queue.notify();
        }
        r
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

    /// Whether this end reads / writes.
    pub fn can_read(&self) -> bool {
        self.read
    }

    /// Whether this end writes.
    pub fn can_write(&self) -> bool {
        self.write
    }
}

impl FileOps for PipeEnd {
    fn read(&self, buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        if !self.read {
            return Err(Errno::EBADF);
        }
        let mut at = 0;
        self.pipe.read_with(buf.len(), &mut |piece| {
            buf[at..at + piece.len()].copy_from_slice(piece);
            at += piece.len();
            piece.len()
        })
    }

    fn write(&self, buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        if !self.write {
            return Err(Errno::EBADF);
        }
        let mut at = 0;
        self.pipe.write_with(buf.len(), false, true, &mut |dst| {
            dst.copy_from_slice(&buf[at..at + dst.len()]);
            at += dst.len();
            dst.len()
        })
    }

    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self) -> PollMask {
        let st = self.pipe.state.lock();
        let mut m = 0;
        if self.read {
            if !st.bufs.is_empty() {
                m |= POLLIN | POLLRDNORM;
            }
            if st.writers == 0 && st.w_counter != self.hup_after {
                m |= POLLHUP;
            }
        }
        if self.write {
            if !st.full() {
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
            let n = self.pipe.held() as i32;
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
            st.bufs = VecDeque::new();
            st.spare = Vec::new();
            st.bytes = 0;
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
    /// (bytes held, room left, readers, writers). The room is the free
    /// buffers' pages: what a splice into the pipe may add.
    pub(crate) fn levels(&self) -> (usize, usize, u32, u32) {
        let st = self.state.lock();
        (
            st.bytes,
            st.slots.saturating_sub(st.bufs.len()) * PAGE,
            st.readers,
            st.writers,
        )
    }

    /// Takes up to `max` bytes from the front.
    pub(crate) fn take(&self, max: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(max.min(self.held()));
        let mut st = self.state.lock();
        while out.len() < max {
            let Some(b) = st.bufs.front_mut() else {
                break;
            };
            let n = b.len().min(max - out.len());
            out.extend_from_slice(&b.page[b.start..b.start + n]);
            b.start += n;
            st.bytes -= n;
            if st.bufs.front().is_some_and(|b| b.len() == 0) {
                st.pop_front();
            }
        }
        drop(st);
        if !out.is_empty() {
            self.queue.notify();
        }
        out
    }

    /// Puts back, at the front, bytes taken but not delivered: into the
    /// room before the front buffer's bytes, else in buffers of their own
    /// (which may hold a slot more than the pipe has, as briefly as the
    /// bytes stay).
    pub(crate) fn untake(&self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let mut st = self.state.lock();
        let mut rest = data;
        while !rest.is_empty() {
            let room = st.bufs.front().map_or(0, |b| b.start);
            if room > 0 {
                let n = room.min(rest.len());
                let (head, tail) = rest.split_at(rest.len() - n);
                let b = st.bufs.front_mut().expect("front buffer");
                b.start -= n;
                let s = b.start;
                b.page[s..s + n].copy_from_slice(tail);
                st.bytes += n;
                rest = head;
                continue;
            }
            let n = rest.len().min(PAGE);
            let (head, tail) = rest.split_at(rest.len() - n);
            let mut page = st.page();
            page[PAGE - n..].copy_from_slice(tail);
            st.bufs.push_front(Buf {
                page,
                start: PAGE - n,
                end: PAGE,
                flags: 0,
            });
            st.bytes += n;
            rest = head;
        }
        drop(st);
        self.queue.notify();
    }

    /// Adds as much of `data` as free buffers take, in buffers of its own
    /// that writes do not merge into (as Linux's splice pages): the bytes
    /// added (0 if full). `EPIPE` if no reader is left.
    pub(crate) fn put(&self, data: &[u8]) -> Result<usize, Errno> {
        let mut st = self.state.lock();
        if st.readers == 0 {
            return Err(Errno::EPIPE);
        }
        let mut n = 0;
        while n < data.len() && !st.full() {
            let k = (data.len() - n).min(PAGE);
            st.push_copy(&data[n..n + k], 0);
            n += k;
        }
        drop(st);
        if n > 0 {
            self.queue.notify();
        }
        Ok(n)
    }

    /// splice from this pipe into `to` (Linux's splice_pipe_to_pipe), or
    /// tee's copy without consuming (`link_pipe`), with both pipes
    /// locked: up to `len` bytes, buffer by buffer, while this pipe has
    /// buffers and `to` free slots. A whole buffer moves with its flags; a
    /// part, or tee's copy, never merges. `EPIPE` if `to` has no reader.
    pub(crate) fn splice_into(&self, to: &Pipe, len: usize, consume: bool) -> Result<usize, Errno> {
        let (mut src, mut dst);
        if (self as *const Pipe as usize) < (to as *const Pipe as usize) {
            src = self.state.lock();
            dst = to.state.lock();
        } else {
            dst = to.state.lock();
            src = self.state.lock();
        }
        if dst.readers == 0 {
            return Err(Errno::EPIPE);
        }
        let mut done = 0;
        let mut i = 0;
        while done < len && !dst.full() {
            if consume {
                let Some(b) = src.bufs.front_mut() else {
                    break;
                };
                let n = b.len();
                if len - done >= n {
                    let b = src.bufs.pop_front().expect("front buffer");
                    src.bytes -= n;
                    dst.bytes += n;
                    dst.bufs.push_back(b);
                    done += n;
                } else {
                    let k = len - done;
                    let s = b.start;
                    let flags = b.flags & !CAN_MERGE;
                    b.start += k;
                    let mut page = dst.page();
                    let b = src.bufs.front().expect("front buffer");
                    page[..k].copy_from_slice(&b.page[s..s + k]);
                    src.bytes -= k;
                    dst.bytes += k;
                    dst.bufs.push_back(Buf {
                        page,
                        start: 0,
                        end: k,
                        flags,
                    });
                    done += k;
                }
            } else {
                let Some(b) = src.bufs.get(i) else {
                    break;
                };
                let k = b.len().min(len - done);
                let mut page = dst.page();
                page[..k].copy_from_slice(&b.page[b.start..b.start + k]);
                let flags = b.flags & !CAN_MERGE;
                dst.bytes += k;
                dst.bufs.push_back(Buf {
                    page,
                    start: 0,
                    end: k,
                    flags,
                });
                done += k;
                i += 1;
            }
        }
        drop(src);
        drop(dst);
        if done > 0 {
            self.queue.notify();
            to.queue.notify();
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(p: &Pipe, data: &[u8], packet: bool) -> Result<usize, Errno> {
        let mut at = 0;
        p.write_with(data.len(), packet, true, &mut |d| {
            d.copy_from_slice(&data[at..at + d.len()]);
            at += d.len();
            d.len()
        })
    }

    fn read(p: &Pipe, n: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        p.read_with(n, &mut |s| {
            out.extend_from_slice(s);
            s.len()
        })?;
        Ok(out)
    }

    #[test]
    fn a_partly_read_buffer_keeps_its_slot() {
        let (r, _w) = Pipe::new_pair();
        let p = r.pipe();
        for _ in 0..16 {
            assert_eq!(write(p, &[1u8; PAGE], false), Ok(PAGE));
        }
        assert_eq!(write(p, b"x", false), Err(Errno::EAGAIN));
        assert_eq!(read(p, 1).unwrap().len(), 1);
        assert_eq!(write(p, b"x", false), Err(Errno::EAGAIN));
        assert_eq!(p.held(), 65535);
        assert_eq!(read(p, PAGE).unwrap().len(), PAGE);
        assert_eq!(write(p, b"xy", false), Ok(2));
        assert_eq!(write(p, &[2u8; PAGE - 2], false), Ok(PAGE - 2));
        assert_eq!(write(p, b"z", false), Err(Errno::EAGAIN));
    }

    #[test]
    fn small_writes_merge_and_packets_do_not() {
        let (r, _w) = Pipe::new_pair();
        let p = r.pipe();
        for _ in 0..100 {
            write(p, b"abc", false).unwrap();
        }
        assert_eq!(p.state.lock().bufs.len(), 1);
        read(p, 300).unwrap();
        write(p, b"one", true).unwrap();
        write(p, b"two!", true).unwrap();
        assert_eq!(read(p, 2).unwrap(), b"on");
        assert_eq!(read(p, 100).unwrap(), b"two!");
        assert_eq!(p.held(), 0);
        // A write larger than a page: its remainder merges first.
        write(p, b"a", false).unwrap();
        assert_eq!(write(p, &[3u8; PAGE + 1], false), Ok(PAGE + 1));
        assert_eq!(p.state.lock().bufs.len(), 2);
    }

    #[test]
    fn shrinking_below_the_buffers_held_is_ebusy() {
        let (r, _w) = Pipe::new_pair();
        let p = r.pipe();
        for _ in 0..3 {
            write(p, &[0u8; 10], true).unwrap();
        }
        assert_eq!(p.set_capacity(2 * PAGE), Err(Errno::EBUSY));
        assert_eq!(p.set_capacity(4 * PAGE), Ok(()));
        assert_eq!(p.levels().1, PAGE);
    }

    #[test]
    fn splice_moves_whole_buffers_and_splits_the_last() {
        let (r1, _w1) = Pipe::new_pair();
        let (r2, _w2) = Pipe::new_pair();
        let (a, b) = (r1.pipe(), r2.pipe());
        write(a, b"hel", true).unwrap();
        write(a, b"lo", true).unwrap();
        write(a, b"world", false).unwrap();
        assert_eq!(a.state.lock().bufs.len(), 3);
        assert_eq!(a.splice_into(b, 7, false), Ok(7));
        assert_eq!(a.held(), 10);
        assert_eq!(a.splice_into(b, 7, true), Ok(7));
        // A read stops after a packet, and goes on after other buffers.
        assert_eq!(read(b, 100).unwrap(), b"hel");
        assert_eq!(read(b, 100).unwrap(), b"lo");
        assert_eq!(read(b, 100).unwrap(), b"wohel");
        assert_eq!(read(b, 100).unwrap(), b"lo");
        assert_eq!(read(b, 100).unwrap(), b"wo");
        assert_eq!(read(a, 100).unwrap(), b"rld");
        a.untake(b"xyz");
        assert_eq!(read(a, 100).unwrap(), b"xyz");
    }
}
