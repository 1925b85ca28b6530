//! pipe and pipe2, and reads and writes of pipe and FIFO descriptors
//! (called from the read / write family in [`super::file_io`]).

use veil_abi::flags::{
    O_CLOEXEC, O_DIRECT, O_NONBLOCK, O_RDONLY, O_WRONLY, POLLERR, POLLHUP, POLLIN, POLLOUT,
    RLIMIT_NOFILE,
};
use veil_abi::sysno::{PIPE, PIPE2};
use veil_abi::{Errno, Iovec};

use super::file_io::{copy_in_partial, copy_out_partial, raise_sigpipe, wait_while_blocked};
use super::{arg, Handler};
use crate::host::WakeReason;
use crate::task::Task;
use crate::vfs::pipe::{Pipe, PipeEnd};
use crate::vfs::OpenFile;
use crate::{SysResult, UserAddr};

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        PIPE => |t, a| do_pipe2(t, a[0], 0),
        PIPE2 => |t, a| do_pipe2(t, a[0], arg::uint(a[1])),
        _ => return None,
    })
}

fn do_pipe2(t: &mut Task, fds_addr: u64, flags: u32) -> SysResult {
    // O_NOTIFICATION_PIPE aside, only these are accepted.
    if flags & !(O_CLOEXEC | O_NONBLOCK | O_DIRECT) != 0 {
        return Err(Errno::EINVAL);
    }
    let (r, w) = Pipe::new_pair();
    let status = flags & (O_NONBLOCK | O_DIRECT);
    let rf = OpenFile::new(r, None, O_RDONLY | status);
    let wf = OpenFile::new(w, None, O_WRONLY | status);
    let cloexec = flags & O_CLOEXEC != 0;
    let limit = t.rlimit(RLIMIT_NOFILE);
    let rfd = t.fds.insert(0, rf, cloexec, limit)?;
    let wfd = match t.fds.insert(0, wf, cloexec, limit) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = t.fds.remove(rfd);
            return Err(e);
        }
    };
    if let Err(e) = t.mm.write_obj(UserAddr(fds_addr), &[rfd, wfd]) {
        let _ = t.fds.remove(rfd);
        let _ = t.fds.remove(wfd);
        return Err(e);
    }
    Ok(0)
}

/// A position in a list of user buffers, for copying straight between
/// them and a pipe's pages.
struct Segs<'a> {
    segs: &'a [Iovec],
    idx: usize,
    off: usize,
}

impl Segs<'_> {
    /// Copies the next bytes of the buffers into `dst`: the bytes copied
    /// (fewer if a fault stops it).
    fn copy_in(&mut self, t: &Task, dst: &mut [u8]) -> usize {
        let mut done = 0;
        while done < dst.len() && self.idx < self.segs.len() {
            let s = &self.segs[self.idx];
            let n = (s.len as usize - self.off).min(dst.len() - done);
            let c = copy_in_partial(
                t,
                s.base.wrapping_add(self.off as u64),
                &mut dst[done..done + n],
            );
            done += c;
            self.off += c;
            if c < n {
                break;
            }
            if self.off == s.len as usize {
                self.idx += 1;
                self.off = 0;
            }
        }
        done
    }

    /// Copies `src` into the next bytes of the buffers: the bytes copied.
    fn copy_out(&mut self, t: &Task, src: &[u8]) -> usize {
        let mut done = 0;
        while done < src.len() && self.idx < self.segs.len() {
            let s = &self.segs[self.idx];
            let n = (s.len as usize - self.off).min(src.len() - done);
            let c = copy_out_partial(
                t,
                s.base.wrapping_add(self.off as u64),
                &src[done..done + n],
            );
            done += c;
            self.off += c;
            if c < n {
                break;
            }
            if self.off == s.len as usize {
                self.idx += 1;
                self.off = 0;
            }
        }
        done
    }
}

/// read(2) and readv(2) on a pipe or FIFO, as Linux's pipe_read: waits
/// while the pipe is empty with a writer (unless O_NONBLOCK), then copies
/// what it holds, up to `total` bytes, straight to the buffers. `None` if
/// `file` is not a pipe.
pub(crate) fn read_pipe(
    t: &Task,
    file: &OpenFile,
    segs: &[Iovec],
    total: usize,
) -> Option<Result<usize, Errno>> {
    let end = file.ops.as_any().downcast_ref::<PipeEnd>()?;
    if !end.can_read() {
        return Some(Err(Errno::EBADF));
    }
    let pipe = end.pipe();
    Some(wait_while_blocked(t, file, POLLIN | POLLHUP, || {
        let mut cur = Segs {
            segs,
            idx: 0,
            off: 0,
        };
        pipe.read_with(total, &mut |piece| cur.copy_out(t, piece))
    }))
}

/// write(2) and writev(2) on a pipe or FIFO, as Linux's pipe_write: the
/// first step may merge into the newest buffer, then each step fills free
/// buffers and, while bytes are left, waits for a slot (unless
/// O_NONBLOCK: then what was written, or `EAGAIN`). `O_DIRECT` on the
/// description writes packets. No reader: `EPIPE` and SIGPIPE. `None` if
/// `file` is not a pipe.
pub(crate) fn write_pipe(
    t: &Task,
    file: &OpenFile,
    segs: &[Iovec],
    total: usize,
) -> Option<Result<usize, Errno>> {
    let end = file.ops.as_any().downcast_ref::<PipeEnd>()?;
    if !end.can_write() {
        return Some(Err(Errno::EBADF));
    }
    if total == 0 {
        return Some(Ok(0));
    }
    let pipe = end.pipe();
    let mut cur = Segs {
        segs,
        idx: 0,
        off: 0,
    };
    let mut done = 0;
    let mut first = true;
    loop {
        let packet = file.flags() & O_DIRECT != 0;
        let r = pipe.write_with(total - done, packet, first, &mut |dst| cur.copy_in(t, dst));
        first = false;
        match r {
            Ok(n) => {
                done += n;
                if done == total {
                    return Some(Ok(done));
                }
            }
            Err(Errno::EAGAIN) => {}
            Err(e) => {
                if e == Errno::EPIPE {
                    raise_sigpipe(t);
                }
                return Some(if done > 0 { Ok(done) } else { Err(e) });
            }
        }
        if file.flags() & O_NONBLOCK != 0 {
            return Some(if done > 0 {
                Ok(done)
            } else {
                Err(Errno::EAGAIN)
            });
        }
        let q = pipe.queue();
        q.register(&t.blocker);
        let reason = if file.ops.poll() & (POLLOUT | POLLERR) != 0 {
            WakeReason::Woken
        } else {
            t.blocker.block(None)
        };
        q.unregister(&t.blocker);
        if reason == WakeReason::Interrupted {
            return Some(if done > 0 {
                Ok(done)
            } else {
                Err(Errno::ERESTARTSYS)
            });
        }
    }
}
