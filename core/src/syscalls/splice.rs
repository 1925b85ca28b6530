//! splice, tee, vmsplice and sync_file_range, as Linux's `fs/splice.c`
//! and `fs/sync.c`; sendfile's transfers into a pipe come through here
//! too ([`sendfile_into`]).
//!
//! splice moves bytes between a pipe and a file, or between two pipes:
//! - Checks, in Linux's order: a zero length is 0 before anything else;
//!   unknown flags `EINVAL`; closed or O_PATH descriptors `EBADF`; an
//!   offset for a pipe `ESPIPE`; unreadable offsets `EFAULT`; an input
//!   not open for reading or an output not open for writing `EBADF`; two
//!   ends of one pipe `EINVAL`; an offset for a file that has none, an
//!   `O_APPEND` output, a negative offset or a length past the largest
//!   offset `EINVAL`; neither end a pipe `EINVAL`; a file that cannot
//!   splice (a directory, an eventfd and other anonymous files) `EINVAL`.
//! - pipe → file waits for data (end of pipe with no writer is 0), then
//!   writes up to `len` bytes of what the pipe holds; bytes the file did
//!   not take stay in the pipe. file → pipe waits for room (no reader:
//!   `EPIPE` and SIGPIPE), then reads at most the room left. pipe → pipe
//!   waits for both and moves what fits. An explicit offset is read from
//!   and written back to user memory, and the description's offset stays;
//!   otherwise the description's offset moves.
//! - The waits are the pipe's (interruptible: `ERESTARTSYS`); they end
//!   with `EAGAIN` under `SPLICE_F_NONBLOCK` or an `O_NONBLOCK` pipe end
//!   (for pipe → pipe, either end's). `SPLICE_F_MOVE`, `SPLICE_F_MORE`
//!   and `SPLICE_F_GIFT` are accepted and change nothing (pages are
//!   copied, never moved).
//!
//! tee copies what one pipe holds into another without consuming it
//! (returns 0 for an empty pipe with no writer). vmsplice copies user
//! memory into the pipe a write-only descriptor names, or the pipe's
//! data out to user memory for a read-only one; only `SPLICE_F_NONBLOCK`
//! makes it not wait (the pipe's `O_NONBLOCK` does not, as in Linux).
//!
//! A pipe's room is counted in free buffers, as Linux's: a transfer into
//! a pipe takes at most a page per free buffer, in buffers writes do not
//! merge into; pipe → pipe moves whole buffers (splitting the last one)
//! and tee copies them, both with the two pipes locked.
//!
//! sync_file_range checks its flags and range (`EINVAL`) and the file's
//! type (`ESPIPE` for pipes, sockets, devices other than block devices);
//! with `SYNC_FILE_RANGE_WRITE` it flushes the file as fsync does.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, Iovec};
use zerocopy::IntoBytes;

use super::file_io::{
    copy_in_partial, copy_out_partial, file_type, io_file, raise_sigpipe, wait_while_blocked, CHUNK,
};
use super::{arg, Handler};
use crate::host::WakeReason;
use crate::task::Task;
use crate::vfs::inotify;
use crate::vfs::pipe::{Pipe, PipeEnd};
use crate::vfs::waitq::WaitQueue;
use crate::vfs::{FileType, OpenFile};
use crate::{SysResult, UserAddr};

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        SPLICE => sys_splice,
        TEE => sys_tee,
        VMSPLICE => sys_vmsplice,
        SYNC_FILE_RANGE => sys_sync_file_range,
        _ => return None,
    })
}

/// The pipe behind a description (a pipe end or a FIFO), as Linux's
/// `get_pipe_info`.
pub(crate) fn pipe_of(f: &OpenFile) -> Option<Arc<Pipe>> {
    f.ops
        .as_any()
        .downcast_ref::<PipeEnd>()
        .map(|e| e.pipe().clone())
}

/// Whether a file other than a pipe has splice_read / splice_write:
/// regular files, devices and sockets do; directories and anonymous
/// files (eventfd, epoll, inotify, ...) do not.
fn can_splice(f: &OpenFile) -> bool {
    matches!(
        file_type(f),
        Some(FileType::Regular | FileType::CharDevice | FileType::BlockDevice | FileType::Socket)
    )
}

/// Linux's rw_verify_area: the length must fit in `ssize_t`, the offset
/// be non-negative and the end not pass the largest offset.
fn verify(pos: i64, len: u64) -> Result<(), Errno> {
    if (len as i64) < 0 || pos < 0 || pos.wrapping_add(len as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Sleeps on `q` until `ready()` holds (checked after registering, so no
/// change is lost). `ERESTARTSYS` if a signal ends the sleep.
fn sleep_until(task: &Task, q: &WaitQueue, ready: impl Fn() -> bool) -> Result<(), Errno> {
    q.register(&task.blocker);
    let reason = if ready() {
        WakeReason::Woken
    } else {
        task.blocker.block(None)
    };
    q.unregister(&task.blocker);
    if reason == WakeReason::Interrupted {
        return Err(Errno::ERESTARTSYS);
    }
    Ok(())
}

/// Waits until `p` holds data or has no writer (`ipipe_prep`).
fn wait_for_data(task: &Task, p: &Pipe, nonblock: bool) -> Result<(), Errno> {
    loop {
        let (held, _, _, writers) = p.levels();
        if held > 0 || writers == 0 {
            return Ok(());
        }
        if nonblock {
            return Err(Errno::EAGAIN);
        }
        sleep_until(task, p.queue(), || {
            let (held, _, _, writers) = p.levels();
            held > 0 || writers == 0
        })?;
    }
}

/// Waits until `p` has room (`wait_for_space`, `opipe_prep`): `EPIPE`
/// and SIGPIPE if no reader is left. Returns the room.
fn wait_for_room(task: &Task, p: &Pipe, nonblock: bool) -> Result<usize, Errno> {
    loop {
        let (_, room, readers, _) = p.levels();
        if readers == 0 {
            raise_sigpipe(task);
            return Err(Errno::EPIPE);
        }
        if room > 0 {
            return Ok(room);
        }
        if nonblock {
            return Err(Errno::EAGAIN);
        }
        sleep_until(task, p.queue(), || {
            let (_, room, readers, _) = p.levels();
            room > 0 || readers == 0
        })?;
    }
}

/// Writes all of `data` to `out` at `pos` (ignored by streams), waiting
/// on a stream as a write would. Returns the bytes written; an error only
/// if none were.
fn write_out(task: &Task, out: &OpenFile, data: &[u8], pos: u64) -> Result<usize, Errno> {
    let seekable = out.ops.seekable();
    let mut done = 0;
    while done < data.len() {
        let r = if seekable {
            out.ops.write(&data[done..], pos.wrapping_add(done as u64))
        } else {
            wait_while_blocked(task, out, POLLOUT | POLLERR, || {
                out.ops.write(&data[done..], 0)
            })
        };
        match r {
            Ok(0) => break,
            Ok(n) => done += n.min(data.len() - done),
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// pipe → file (`iter_file_splice_write`): waits for data, then writes
/// up to `len` bytes of it to `out` at `pos`. What the file does not
/// take stays in the pipe.
fn pipe_to_file(
    task: &Task,
    p: &Pipe,
    out: &OpenFile,
    pos: u64,
    len: usize,
    nonblock: bool,
) -> Result<usize, Errno> {
    let mut done = 0usize;
    while done < len {
        if done == 0 {
            wait_for_data(task, p, nonblock)?;
        }
        let data = p.take((len - done).min(CHUNK));
        if data.is_empty() {
            break;
        }
        let r = write_out(task, out, &data, pos.wrapping_add(done as u64));
        let n = *r.as_ref().unwrap_or(&0);
        p.untake(&data[n..]);
        match r {
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
            Ok(_) => done += n,
        }
        if n < data.len() {
            break;
        }
    }
    Ok(done)
}

/// Reads up to `want` bytes from `input` at `pos`: a seekable file until
/// `want` or its end, a stream once (waiting for data unless `nonblock`).
fn read_in(
    task: &Task,
    input: &OpenFile,
    pos: u64,
    buf: &mut [u8],
    nonblock: bool,
) -> Result<usize, Errno> {
    if !input.ops.seekable() {
        if nonblock {
            return input.ops.read(buf, 0);
        }
        return wait_while_blocked(task, input, POLLIN | POLLHUP | POLLERR, || {
            input.ops.read(buf, 0)
        });
    }
    let mut done = 0;
    while done < buf.len() {
        match input
            .ops
            .read(&mut buf[done..], pos.wrapping_add(done as u64))
        {
            Ok(0) => break,
            Ok(n) => done += n.min(buf.len() - done),
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// file → pipe (`splice_file_to_pipe`): waits for room in the pipe, then
/// reads at most that much of `input` at `pos` into it. Returns the
/// bytes moved (the file's offset advances by as many).
pub(crate) fn file_to_pipe(
    task: &Task,
    input: &OpenFile,
    pos: u64,
    p: &Pipe,
    len: usize,
    nonblock: bool,
) -> Result<usize, Errno> {
    let room = wait_for_room(task, p, nonblock)?;
    if len == 0 {
        return Ok(0);
    }
    if !can_splice(input) {
        return Err(Errno::EINVAL);
    }
    let want = len.min(room).min(MAX_RW_COUNT).min(CHUNK);
    let mut buf = vec![0u8; want];
    let n = read_in(task, input, pos, &mut buf, nonblock)?;
    match p.put(&buf[..n]) {
        Ok(k) => Ok(k),
        Err(e) => {
            raise_sigpipe(task);
            Err(e)
        }
    }
}

/// pipe → pipe (`splice_pipe_to_pipe`), or tee's copy (`link_pipe`) when
/// `consume` is false.
fn pipe_to_pipe(
    task: &Task,
    from: &Pipe,
    to: &Pipe,
    len: usize,
    nonblock: bool,
    consume: bool,
) -> Result<usize, Errno> {
    loop {
        wait_for_data(task, from, nonblock)?;
        let (_, full_room, _, _) = to.levels();
        if full_room == 0 {
            wait_for_room(task, to, nonblock)?;
        }
        let (held, _, _, writers) = from.levels();
        let (_, room, readers, _) = to.levels();
        if readers == 0 {
            raise_sigpipe(task);
            return Err(Errno::EPIPE);
        }
        if held == 0 && (writers == 0 || !consume) {
            return Ok(0);
        }
        if held == 0 || room == 0 {
            // Raced with another reader or writer: wait again.
            continue;
        }
        match from.splice_into(to, len, consume) {
            // Raced with another reader or writer: wait again.
            Ok(0) => continue,
            Ok(n) => return Ok(n),
            Err(e) => {
                raise_sigpipe(task);
                return Err(e);
            }
        }
    }
}

/// Reads an `loff_t` offset argument.
fn read_off(task: &Task, addr: u64) -> Result<Option<i64>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    task.mm.read_obj::<i64>(UserAddr(addr)).map(Some)
}

fn sys_splice(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (fd_in, off_in, fd_out, off_out, len, flags) = (
        arg::fd(a[0]),
        a[1],
        arg::fd(a[2]),
        a[3],
        a[4],
        arg::uint(a[5]),
    );
    if len == 0 {
        return Ok(0);
    }
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    let input = io_file(t, fd_in)?;
    let output = io_file(t, fd_out)?;
    let (ipipe, opipe) = (pipe_of(&input), pipe_of(&output));
    if (ipipe.is_some() && off_in != 0) || (opipe.is_some() && off_out != 0) {
        return Err(Errno::ESPIPE);
    }
    let oout = read_off(t, off_out)?;
    let oin = read_off(t, off_in)?;
    if !input.readable() || !output.writable() {
        return Err(Errno::EBADF);
    }
    let nonblock = flags & SPLICE_F_NONBLOCK != 0;
    let n = match (ipipe, opipe) {
        (Some(ip), Some(op)) => {
            if Arc::ptr_eq(&ip, &op) {
                return Err(Errno::EINVAL);
            }
            let nb = nonblock || (input.flags() | output.flags()) & O_NONBLOCK != 0;
            let len = len.min(usize::MAX as u64) as usize;
            pipe_to_pipe(t, &ip, &op, len, nb, true)?
        }
        (Some(ip), None) => {
            if oout.is_some() && !output.ops.seekable() {
                return Err(Errno::EINVAL);
            }
            let pos = oout.unwrap_or(output.pos() as i64);
            if output.flags() & O_APPEND != 0 {
                return Err(Errno::EINVAL);
            }
            verify(pos, len)?;
            if !can_splice(&output) {
                return Err(Errno::EINVAL);
            }
            let nb = nonblock || input.flags() & O_NONBLOCK != 0;
            let n = pipe_to_file(t, &ip, &output, pos as u64, len as usize, nb)?;
            if oout.is_none() && output.ops.seekable() {
                output.set_pos(pos as u64 + n as u64);
            }
            n
        }
        (None, Some(op)) => {
            if oin.is_some() && !input.ops.seekable() {
                return Err(Errno::EINVAL);
            }
            let pos = oin.unwrap_or(input.pos() as i64);
            verify(pos, len)?;
            let nb = nonblock || output.flags() & O_NONBLOCK != 0;
            let n = file_to_pipe(t, &input, pos as u64, &op, len as usize, nb)?;
            if oin.is_none() && input.ops.seekable() {
                input.set_pos(pos as u64 + n as u64);
            }
            n
        }
        (None, None) => return Err(Errno::EINVAL),
    };
    inotify::modified(t, &output, n as u64);
    inotify::accessed(t, &input, n as u64);
    if let Some(p) = oout {
        t.mm.write_obj(UserAddr(off_out), &(p + n as i64))?;
    }
    if let Some(p) = oin {
        t.mm.write_obj(UserAddr(off_in), &(p + n as i64))?;
    }
    Ok(n as u64)
}

/// sendfile's transfer when the output is a pipe: Linux sends it through
/// `splice_file_to_pipe`, waiting for room unless the pipe end is
/// O_NONBLOCK. `None` if `output` is not a pipe.
pub(crate) fn sendfile_into(
    task: &Task,
    input: &OpenFile,
    pos: u64,
    output: &OpenFile,
    count: usize,
) -> Option<Result<usize, Errno>> {
    let p = pipe_of(output)?;
    let nonblock = output.flags() & O_NONBLOCK != 0;
    Some(file_to_pipe(task, input, pos, &p, count, nonblock))
}

/// True if sendfile can move data from `input` to the non-pipe `output`:
/// it splices, so a pipe cannot be its source, nor a file without
/// splice_read / splice_write (an anonymous file, a directory) either end.
pub(crate) fn sendfile_ends_ok(input: &OpenFile, output: &OpenFile) -> bool {
    pipe_of(input).is_none() && can_splice(input) && can_splice(output)
}

fn sys_tee(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (fd_in, fd_out, len, flags) = (arg::fd(a[0]), arg::fd(a[1]), a[2], arg::uint(a[3]));
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    if len == 0 {
        return Ok(0);
    }
    let input = io_file(t, fd_in)?;
    let output = io_file(t, fd_out)?;
    if !input.readable() || !output.writable() {
        return Err(Errno::EBADF);
    }
    let (Some(ip), Some(op)) = (pipe_of(&input), pipe_of(&output)) else {
        return Err(Errno::EINVAL);
    };
    if Arc::ptr_eq(&ip, &op) {
        return Err(Errno::EINVAL);
    }
    let nb = flags & SPLICE_F_NONBLOCK != 0 || (input.flags() | output.flags()) & O_NONBLOCK != 0;
    let len = len.min(usize::MAX as u64) as usize;
    let n = pipe_to_pipe(t, &ip, &op, len, nb, false)?;
    inotify::accessed(t, &input, n as u64);
    inotify::modified(t, &output, n as u64);
    Ok(n as u64)
}

/// Reads vmsplice's iovec array as Linux's import_iovec: at most IOV_MAX
/// entries (`EINVAL`), no negative length (`EINVAL`), every buffer below
/// the top of user memory (`EFAULT`), lengths clamped so the total stays
/// within MAX_RW_COUNT.
fn import_iovec(task: &Task, addr: u64, cnt: u64) -> Result<(Vec<Iovec>, usize), Errno> {
    if cnt > IOV_MAX as u64 {
        return Err(Errno::EINVAL);
    }
    let mut v = vec![Iovec::default(); cnt as usize];
    if cnt > 0 {
        task.mm.copy_in(UserAddr(addr), v.as_mut_bytes())?;
    }
    if v.iter().any(|s| (s.len as i64) < 0) {
        return Err(Errno::EINVAL);
    }
    let top = task.mm.max_address();
    let mut total = 0usize;
    for s in v.iter_mut() {
        match s.base.checked_add(s.len) {
            Some(end) if end <= top => {}
            _ => return Err(Errno::EFAULT),
        }
        let room = (MAX_RW_COUNT - total) as u64;
        s.len = s.len.min(room);
        total += s.len as usize;
    }
    Ok((v, total))
}

fn sys_vmsplice(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (fd, iov_addr, cnt, flags) = (arg::fd(a[0]), a[1], a[2], arg::uint(a[3]));
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    let file = io_file(t, fd)?;
    let to_pipe = if file.writable() {
        true
    } else if file.readable() {
        false
    } else {
        return Err(Errno::EBADF);
    };
    let (segs, total) = import_iovec(t, iov_addr, cnt)?;
    if total == 0 {
        return Ok(0);
    }
    let p = pipe_of(&file).ok_or(Errno::EBADF)?;
    let nonblock = flags & SPLICE_F_NONBLOCK != 0;
    let n = if to_pipe {
        let room = wait_for_room(t, &p, nonblock)?;
        let want = total.min(room).min(CHUNK);
        let mut buf = vec![0u8; want];
        let mut got = 0;
        for s in &segs {
            if got == want {
                break;
            }
            let n = (s.len as usize).min(want - got);
            let c = copy_in_partial(t, s.base, &mut buf[got..got + n]);
            got += c;
            if c < n {
                break;
            }
        }
        if got == 0 {
            return Err(Errno::EFAULT);
        }
        match p.put(&buf[..got]) {
            Ok(n) => n,
            Err(e) => {
                raise_sigpipe(t);
                return Err(e);
            }
        }
    } else {
        wait_for_data(t, &p, nonblock)?;
        let data = p.take(total.min(CHUNK));
        let mut put = 0;
        for s in &segs {
            if put == data.len() {
                break;
            }
            let n = (s.len as usize).min(data.len() - put);
            let c = copy_out_partial(t, s.base, &data[put..put + n]);
            put += c;
            if c < n {
                break;
            }
        }
        p.untake(&data[put..]);
        if put == 0 && !data.is_empty() {
            return Err(Errno::EFAULT);
        }
        put
    };
    if to_pipe {
        inotify::modified(t, &file, n as u64);
    } else {
        inotify::accessed(t, &file, n as u64);
    }
    Ok(n as u64)
}

fn sys_sync_file_range(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (fd, offset, nbytes, flags) = (arg::fd(a[0]), a[1] as i64, a[2] as i64, arg::uint(a[3]));
    let file = io_file(t, fd)?;
    let valid = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
    if flags & !valid != 0 {
        return Err(Errno::EINVAL);
    }
    let end = offset.wrapping_add(nbytes);
    if offset < 0 || end < 0 || end < offset {
        return Err(Errno::EINVAL);
    }
    match file_type(&file) {
        Some(
            FileType::Regular | FileType::BlockDevice | FileType::Directory | FileType::Symlink,
        ) => {}
        _ => return Err(Errno::ESPIPE),
    }
    if flags & SYNC_FILE_RANGE_WRITE != 0 {
        file.ops.sync()?;
    }
    Ok(0)
}
