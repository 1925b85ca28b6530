//! Data transfer on open files: read, write and their positional and
//! vectored forms, lseek, getdents, sendfile, copy_file_range, the sync
//! calls, ftruncate, fallocate and ioctl.
//!
//! Follows Linux's vfs_read / vfs_write: `EBADF` for an fd not open for the
//! direction (or an O_PATH fd), `EFAULT` when no byte could be moved, a
//! short count when some could; counts are clamped to MAX_RW_COUNT,
//! vectors are limited to IOV_MAX (`EINVAL`) and their lengths clamped so
//! the total stays within MAX_RW_COUNT. Data moves through a kernel buffer
//! of at most 64 KiB at a time, so a huge count never allocates more. A
//! seekable file is read until the count is met or a short read; a stream
//! (pipe, tty, socket) is read once, so a read never waits for more data
//! once it has some. `O_APPEND` writes at the end (pwrite too, as Linux
//! does). Positional calls on a stream are `ESPIPE`, negative offsets
//! `EINVAL`.
//!
//! fadvise64 and readahead check their arguments and do nothing (there is
//! no page cache to advise); flock checks its operation and succeeds, as
//! for a file nobody else locks.
//!
//! Left out: RWF_NOWAIT (`EOPNOTSUPP`), SIGPIPE / SIGXFSZ on writes (signal
//! delivery is issue 3), file locks (flock and F_GETLK answer "unlocked").

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, Iovec, PAGE_SIZE};
use zerocopy::IntoBytes;

use super::{arg, Handler};
use crate::host::WakeReason;
use crate::task::Task;
use crate::vfs::dir::{pack_dirent, pack_dirent64, DentRecord, DirFile};
use crate::vfs::inotify::{self, Inotify};
use crate::vfs::{FileType, OpenFile};
use crate::{SysResult, UserAddr};

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        READ => sys_read,
        WRITE => sys_write,
        PREAD64 => sys_pread64,
        PWRITE64 => sys_pwrite64,
        READV => sys_readv,
        WRITEV => sys_writev,
        PREADV => sys_preadv,
        PWRITEV => sys_pwritev,
        PREADV2 => sys_preadv2,
        PWRITEV2 => sys_pwritev2,
        LSEEK => sys_lseek,
        GETDENTS => sys_getdents,
        GETDENTS64 => sys_getdents64,
        SENDFILE => sys_sendfile,
        COPY_FILE_RANGE => sys_copy_file_range,
        FSYNC => sys_fsync,
        FDATASYNC => sys_fsync,
        SYNC => sys_sync,
        SYNCFS => sys_syncfs,
        FTRUNCATE => sys_ftruncate,
        FALLOCATE => sys_fallocate,
        IOCTL => sys_ioctl,
        FADVISE64 => sys_fadvise64,
        READAHEAD => sys_readahead,
        FLOCK => sys_flock,
        _ => return None,
    })
}

/// Largest kernel buffer one transfer step uses.
pub const CHUNK: usize = 64 * 1024;

/// The description at `fd` for anything but O_PATH uses (`EBADF`).
pub(crate) fn io_file(task: &Task, fd: i32) -> Result<Arc<OpenFile>, Errno> {
    let f = task.fds.file(fd)?;
    if f.is_path() {
        return Err(Errno::EBADF);
    }
    Ok(f)
}

/// Copies as much of `data` to `addr` as is mapped (whole, or page by
/// page after a fault). Returns the bytes copied.
pub(crate) fn copy_out_partial(task: &Task, addr: u64, data: &[u8]) -> usize {
    if task.mm.copy_out(UserAddr(addr), data).is_ok() {
        return data.len();
    }
    let mut done = 0;
    while done < data.len() {
        let a = addr.wrapping_add(done as u64);
        let n = ((PAGE_SIZE - a % PAGE_SIZE) as usize).min(data.len() - done);
        if task
            .mm
            .copy_out(UserAddr(a), &data[done..done + n])
            .is_err()
        {
            break;
        }
        done += n;
    }
    done
}

/// Copies as much of `buf.len()` bytes from `addr` as is mapped. Returns
/// the bytes copied.
pub(crate) fn copy_in_partial(task: &Task, addr: u64, buf: &mut [u8]) -> usize {
    if task.mm.copy_in(UserAddr(addr), buf).is_ok() {
        return buf.len();
    }
    let mut done = 0;
    while done < buf.len() {
        let a = addr.wrapping_add(done as u64);
        let n = ((PAGE_SIZE - a % PAGE_SIZE) as usize).min(buf.len() - done);
        if task
            .mm
            .copy_in(UserAddr(a), &mut buf[done..done + n])
            .is_err()
        {
            break;
        }
        done += n;
    }
    done
}

/// A position in a list of user buffers.
struct Cursor<'a> {
    segs: &'a [Iovec],
    idx: usize,
    off: u64,
}

impl<'a> Cursor<'a> {
    fn new(segs: &'a [Iovec]) -> Cursor<'a> {
        Cursor {
            segs,
            idx: 0,
            off: 0,
        }
    }

    /// The next piece of at most `max` bytes: (address, length).
    fn next_piece(&mut self, max: usize) -> Option<(u64, usize)> {
        while self.idx < self.segs.len() && self.off >= self.segs[self.idx].len {
            self.idx += 1;
            self.off = 0;
        }
        let seg = self.segs.get(self.idx)?;
        let n = ((seg.len - self.off) as usize).min(max);
        Some((seg.base.wrapping_add(self.off), n))
    }

    fn advance(&mut self, n: usize) {
        self.off += n as u64;
    }

    /// Scatters `data` to the buffers; returns the bytes copied and
    /// whether a fault stopped it.
    fn copy_out(&mut self, task: &Task, data: &[u8]) -> (usize, bool) {
        let mut done = 0;
        while done < data.len() {
            let Some((addr, n)) = self.next_piece(data.len() - done) else {
                break;
            };
            let c = copy_out_partial(task, addr, &data[done..done + n]);
            self.advance(c);
            done += c;
            if c < n {
                return (done, true);
            }
        }
        (done, false)
    }

    /// Gathers up to `buf.len()` bytes from the buffers; returns the bytes
    /// copied and whether a fault stopped it.
    fn copy_in(&mut self, task: &Task, buf: &mut [u8]) -> (usize, bool) {
        let mut done = 0;
        while done < buf.len() {
            let Some((addr, n)) = self.next_piece(buf.len() - done) else {
                break;
            };
            let c = copy_in_partial(task, addr, &mut buf[done..done + n]);
            self.advance(c);
            done += c;
            if c < n {
                return (done, true);
            }
        }
        (done, false)
    }
}

/// Reads up to `total` bytes at `pos` into the buffers.
fn read_segs(
    task: &Task,
    file: &OpenFile,
    segs: &[Iovec],
    total: usize,
    pos: u64,
) -> Result<usize, Errno> {
    if total == 0 {
        if file.ops.as_any().is::<DirFile>() {
            return Err(Errno::EISDIR);
        }
        // An inotify read checks the size of the first event (EINVAL).
        if file.ops.as_any().is::<Inotify>() {
            return file.ops.read(&mut [], pos);
        }
        return Ok(0);
    }
    let mut cur = Cursor::new(segs);
    pump(file, pos, total, |chunk, _| {
        let (c, fault) = cur.copy_out(task, chunk);
        (c, fault.then_some(Errno::EFAULT))
    })
}

/// Reads `input` at `pos` (ignored by a stream) in chunks, up to `total`
/// bytes, handing each chunk and the bytes taken so far to `sink`, which
/// returns how much of the chunk it took and the error that stopped it,
/// if any. Stops at end of input, after a short read, after one read
/// from a stream, or when the sink takes less than the chunk. Returns the
/// bytes taken; an error (the read's or the sink's) only if none were.
fn pump(
    input: &OpenFile,
    pos: u64,
    total: usize,
    mut sink: impl FnMut(&[u8], usize) -> (usize, Option<Errno>),
) -> Result<usize, Errno> {
    let seekable = input.ops.seekable();
    let mut buf = vec![0u8; total.min(CHUNK)];
    let mut done = 0usize;
    while done < total {
        let want = (total - done).min(buf.len());
        let n = match input
            .ops
            .read(&mut buf[..want], pos.wrapping_add(done as u64))
        {
            Ok(n) => n.min(want),
            Err(e) => return if done > 0 { Ok(done) } else { Err(e) },
        };
        if n == 0 {
            break;
        }
        let (took, err) = sink(&buf[..n], done);
        done += took;
        if let Some(e) = err {
            return if done > 0 { Ok(done) } else { Err(e) };
        }
        if took < n || n < want || !seekable {
            break;
        }
    }
    Ok(done)
}

/// Writes up to `total` bytes from the buffers at `pos`.
fn write_segs(
    task: &Task,
    file: &OpenFile,
    segs: &[Iovec],
    total: usize,
    pos: u64,
) -> Result<usize, Errno> {
    if total == 0 {
        return Ok(0);
    }
    let mut buf = vec![0u8; total.min(CHUNK)];
    let mut cur = Cursor::new(segs);
    let mut done = 0usize;
    loop {
        let want = (total - done).min(buf.len());
        let (c, fault) = cur.copy_in(task, &mut buf[..want]);
        if c == 0 {
            return if done > 0 {
                Ok(done)
            } else {
                Err(Errno::EFAULT)
            };
        }
        let n = match file.ops.write(&buf[..c], pos.wrapping_add(done as u64)) {
            Ok(n) => n.min(c),
            Err(e) => return if done > 0 { Ok(done) } else { Err(e) },
        };
        done += n;
        if fault || n < c || done >= total {
            break;
        }
    }
    Ok(done)
}

/// Linux's rw_verify_area for a seekable file: `pos + count` must not
/// pass the largest offset.
fn verify_area(pos: u64, count: usize) -> Result<(), Errno> {
    if (pos as i64) < 0 || (pos as i64).checked_add(count as i64).is_none() {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Where a transfer happens.
#[derive(Clone, Copy)]
enum At {
    /// At the description's offset, which moves.
    Current,
    /// At this offset (pread, pwrite); the description's offset stays.
    Offset(u64),
}

fn do_read(task: &Task, file: &OpenFile, segs: &[Iovec], total: usize, at: At) -> SysResult {
    if !file.readable() {
        return Err(Errno::EBADF);
    }
    let seekable = file.ops.seekable();
    let n = match at {
        At::Offset(p) => {
            verify_area(p, total)?;
            read_segs(task, file, segs, total, p)?
        }
        At::Current if seekable => {
            let p = file.pos();
            verify_area(p, total)?;
            let n = read_segs(task, file, segs, total, p)?;
            file.set_pos(p + n as u64);
            n
        }
        // A terminal reads with job control and VMIN / VTIME waits.
        At::Current => match crate::tty::read(task, file, total.min(CHUNK)) {
            Some(data) => {
                let data = data?;
                let (c, fault) = Cursor::new(segs).copy_out(task, &data);
                if fault && c == 0 {
                    return Err(Errno::EFAULT);
                }
                c
            }
            // A socket reads as recvmsg without flags.
            None => match super::socket::read_socket(task, file, segs, total) {
                Some(r) => r?,
                None => match super::pipe::read_pipe(task, file, segs, total) {
                    Some(r) => r?,
                    None => wait_while_blocked(task, file, POLLIN | POLLHUP | POLLERR, || {
                        read_segs(task, file, segs, total, 0)
                    })?,
                },
            },
        },
    };
    inotify::accessed(task, file, n as u64);
    task.tg.io.read(n as u64);
    Ok(n as u64)
}

/// Runs `op` on a stream file until it stops answering EAGAIN, sleeping on
/// the file's wait queue in between, unless the description is O_NONBLOCK
/// or the file cannot make a caller wait. `ready` is the poll mask that
/// means "try again".
pub(crate) fn wait_while_blocked(
    task: &Task,
    file: &OpenFile,
    ready: u32,
    mut op: impl FnMut() -> Result<usize, Errno>,
) -> Result<usize, Errno> {
    loop {
        match op() {
            Err(Errno::EAGAIN) if file.flags() & O_NONBLOCK == 0 => {}
            r => return r,
        }
        let Some(q) = file.ops.wait_queue() else {
            return Err(Errno::EAGAIN);
        };
        q.register(&task.blocker);
        // A change between the attempt and registering must not be lost.
        let reason = if file.ops.poll() & ready != 0 {
            WakeReason::Woken
        } else {
            task.blocker.block(None)
        };
        q.unregister(&task.blocker);
        if reason == WakeReason::Interrupted {
            return Err(Errno::ERESTARTSYS);
        }
    }
}

/// A write to a pipe or socket with no reader raises SIGPIPE in the
/// writing thread (the write itself answers EPIPE).
pub(crate) fn raise_sigpipe(task: &Task) {
    let info = veil_abi::Siginfo {
        signo: SIGPIPE,
        code: SI_USER,
        fields: [
            task.pid() as u32 as u64 | ((task.creds.uid as u64) << 32),
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        ],
        ..Default::default()
    };
    let _ = crate::signal::send(
        &task.kernel,
        &task.tg,
        crate::signal::Dest::Thread(task.tid),
        info,
        false,
        Some(task.tid),
    );
}

/// The buffers left after the first `n` bytes of `segs`.
fn skip_segs(segs: &[Iovec], mut n: usize) -> Vec<Iovec> {
    let mut out = Vec::new();
    for s in segs {
        let len = s.len as usize;
        if n >= len {
            n -= len;
            continue;
        }
        out.push(Iovec {
            base: s.base + n as u64,
            len: (len - n) as u64,
        });
        n = 0;
    }
    out
}

/// A blocking write to a stream: Linux returns only when everything is
/// written (or on error / signal after a partial write).
fn write_stream(
    task: &Task,
    file: &OpenFile,
    segs: &[Iovec],
    total: usize,
) -> Result<usize, Errno> {
    let mut done = 0usize;
    while done < total {
        let rest = skip_segs(segs, done);
        let r = wait_while_blocked(task, file, POLLOUT | POLLERR, || {
            write_segs(task, file, &rest, total - done, 0)
        });
        match r {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) => {
                if e == Errno::EPIPE {
                    raise_sigpipe(task);
                }
                if done > 0 {
                    break;
                }
                return Err(e);
            }
        }
        if file.flags() & O_NONBLOCK != 0 {
            break;
        }
    }
    Ok(done)
}

fn do_write(task: &Task, file: &OpenFile, segs: &[Iovec], total: usize, at: At) -> SysResult {
    do_write_flags(task, file, segs, total, at, false)
}

fn do_write_flags(
    task: &Task,
    file: &OpenFile,
    segs: &[Iovec],
    total: usize,
    at: At,
    append: bool,
) -> SysResult {
    if !file.writable() {
        return Err(Errno::EBADF);
    }
    let seekable = file.ops.seekable();
    let append = seekable && (append || file.flags() & O_APPEND != 0);
    let n = match at {
        _ if append => {
            let p = file.ops.size()?;
            verify_area(p, total)?;
            let n = write_segs(task, file, segs, total, p)?;
            if matches!(at, At::Current) {
                file.set_pos(p + n as u64);
            }
            n
        }
        At::Offset(p) => {
            verify_area(p, total)?;
            write_segs(task, file, segs, total, p)?
        }
        At::Current if seekable => {
            let p = file.pos();
            verify_area(p, total)?;
            let n = write_segs(task, file, segs, total, p)?;
            file.set_pos(p + n as u64);
            n
        }
        At::Current => {
            crate::tty::write_check(task, file)?;
            // A socket writes as sendmsg without flags.
            match super::socket::write_socket(task, file, segs, total) {
                Some(r) => r?,
                None => match super::pipe::write_pipe(task, file, segs, total) {
                    Some(r) => r?,
                    None => write_stream(task, file, segs, total)?,
                },
            }
        }
    };
    inotify::modified(task, file, n as u64);
    task.tg.io.write(n as u64);
    Ok(n as u64)
}

/// Checks a single user buffer as Linux's access_ok: the range must lie
/// below the top of user memory (`EFAULT`).
fn access_ok(task: &Task, addr: u64, len: usize) -> Result<(), Errno> {
    match addr.checked_add(len as u64) {
        Some(end) if end <= task.mm.max_address() => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

fn one_seg(task: &Task, addr: u64, count: u64) -> Result<([Iovec; 1], usize), Errno> {
    access_ok(task, addr, count.min(usize::MAX as u64) as usize)?;
    let count = (count.min(MAX_RW_COUNT as u64)) as usize;
    Ok((
        [Iovec {
            base: addr,
            len: count as u64,
        }],
        count,
    ))
}

fn sys_read(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let file = io_file(t, arg::fd(a[0]))?;
    if !file.readable() {
        return Err(Errno::EBADF);
    }
    let (segs, total) = one_seg(t, a[1], a[2])?;
    do_read(t, &file, &segs, total, At::Current)
}

fn sys_write(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let file = io_file(t, arg::fd(a[0]))?;
    if !file.writable() {
        return Err(Errno::EBADF);
    }
    let (segs, total) = one_seg(t, a[1], a[2])?;
    do_write(t, &file, &segs, total, At::Current)
}

/// The description at `fd` for a positional transfer at `pos`.
fn positional(t: &Task, fd: i32, pos: u64) -> Result<Arc<OpenFile>, Errno> {
    if (pos as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    let file = io_file(t, fd)?;
    if !file.ops.seekable() {
        return Err(Errno::ESPIPE);
    }
    Ok(file)
}

fn sys_pread64(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let file = positional(t, arg::fd(a[0]), a[3])?;
    if !file.readable() {
        return Err(Errno::EBADF);
    }
    let (segs, total) = one_seg(t, a[1], a[2])?;
    do_read(t, &file, &segs, total, At::Offset(a[3]))
}

fn sys_pwrite64(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let file = positional(t, arg::fd(a[0]), a[3])?;
    if !file.writable() {
        return Err(Errno::EBADF);
    }
    let (segs, total) = one_seg(t, a[1], a[2])?;
    do_write(t, &file, &segs, total, At::Offset(a[3]))
}

/// Reads an iovec array: at most IOV_MAX entries (`EINVAL`), no negative
/// length (`EINVAL`), lengths clamped so the total stays within
/// MAX_RW_COUNT. Returns the vector and its total.
pub(crate) fn import_iovec(task: &Task, addr: u64, cnt: u64) -> Result<(Vec<Iovec>, usize), Errno> {
    if cnt > IOV_MAX as u64 {
        return Err(Errno::EINVAL);
    }
    if cnt == 0 {
        return Ok((Vec::new(), 0));
    }
    let mut v = vec![Iovec::default(); cnt as usize];
    task.mm.copy_in(UserAddr(addr), v.as_mut_bytes())?;
    let mut total = 0usize;
    for iov in v.iter_mut() {
        if (iov.len as i64) < 0 {
            return Err(Errno::EINVAL);
        }
        let room = (MAX_RW_COUNT - total) as u64;
        if iov.len > room {
            iov.len = room;
        }
        total += iov.len as usize;
    }
    Ok((v, total))
}

fn sys_readv(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let file = io_file(t, arg::fd(a[0]))?;
    let (segs, total) = import_iovec(t, a[1], a[2])?;
    do_read(t, &file, &segs, total, At::Current)
}

fn sys_writev(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let file = io_file(t, arg::fd(a[0]))?;
    let (segs, total) = import_iovec(t, a[1], a[2])?;
    do_write(t, &file, &segs, total, At::Current)
}

fn sys_preadv(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let file = positional(t, arg::fd(a[0]), a[3])?;
    let (segs, total) = import_iovec(t, a[1], a[2])?;
    do_read(t, &file, &segs, total, At::Offset(a[3]))
}

fn sys_pwritev(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let file = positional(t, arg::fd(a[0]), a[3])?;
    let (segs, total) = import_iovec(t, a[1], a[2])?;
    do_write(t, &file, &segs, total, At::Offset(a[3]))
}

/// RWF_HIPRI, RWF_DSYNC, RWF_SYNC: accepted, no effect here.
const RWF_HINTS: u32 = 0x1 | 0x2 | 0x4;
/// RWF_NOWAIT.
const RWF_NOWAIT: u32 = 0x8;
/// RWF_APPEND.
const RWF_APPEND: u32 = 0x10;

fn rwf_check(flags: u32, write: bool) -> Result<bool, Errno> {
    let known = RWF_HINTS | RWF_NOWAIT | RWF_APPEND;
    if flags & !known != 0 || flags & RWF_NOWAIT != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    Ok(write && flags & RWF_APPEND != 0)
}

fn sys_preadv2(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let flags = arg::uint(a[5]);
    let pos = a[3] as i64;
    let file = if pos == -1 {
        io_file(t, arg::fd(a[0]))?
    } else {
        positional(t, arg::fd(a[0]), a[3])?
    };
    let (segs, total) = import_iovec(t, a[1], a[2])?;
    rwf_check(flags, false)?;
    let at = if pos == -1 {
        At::Current
    } else {
        At::Offset(a[3])
    };
    do_read(t, &file, &segs, total, at)
}

fn sys_pwritev2(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let flags = arg::uint(a[5]);
    let pos = a[3] as i64;
    let file = if pos == -1 {
        io_file(t, arg::fd(a[0]))?
    } else {
        positional(t, arg::fd(a[0]), a[3])?
    };
    let (segs, total) = import_iovec(t, a[1], a[2])?;
    let append = rwf_check(flags, true)?;
    let at = if pos == -1 {
        At::Current
    } else {
        At::Offset(a[3])
    };
    do_write_flags(t, &file, &segs, total, at, append)
}

/// lseek on a description: SEEK_SET / CUR / END and the simple SEEK_DATA
/// (data everywhere before the end) / SEEK_HOLE (one hole at the end).
pub(crate) fn lseek(file: &OpenFile, off: i64, whence: u32) -> Result<u64, Errno> {
    if !file.ops.seekable() {
        return Err(Errno::ESPIPE);
    }
    let new = match whence {
        SEEK_SET => off,
        SEEK_CUR => (file.pos() as i64).checked_add(off).ok_or(Errno::EINVAL)?,
        SEEK_END => (file.ops.size()? as i64)
            .checked_add(off)
            .ok_or(Errno::EINVAL)?,
        SEEK_DATA => {
            let size = file.ops.size()?;
            if off < 0 || off as u64 >= size {
                return Err(Errno::ENXIO);
            }
            off
        }
        SEEK_HOLE => {
            let size = file.ops.size()?;
            if off < 0 || off as u64 >= size {
                return Err(Errno::ENXIO);
            }
            size as i64
        }
        _ => return Err(Errno::EINVAL),
    };
    if new < 0 {
        return Err(Errno::EINVAL);
    }
    file.set_pos(new as u64);
    Ok(new as u64)
}

fn sys_lseek(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let file = io_file(t, arg::fd(a[0]))?;
    lseek(&file, a[1] as i64, arg::uint(a[2]))
}

/// Lists the directory open as `file` into a buffer of at most `count`
/// bytes with `pack`, from the description's offset, which moves past
/// what was returned. `EINVAL` if not even the first entry fits.
pub(crate) fn getdents_into(
    file: &OpenFile,
    count: usize,
    pack: fn(&mut Vec<u8>, usize, &DentRecord<'_>) -> bool,
) -> Result<Vec<u8>, Errno> {
    let dir = file
        .ops
        .as_any()
        .downcast_ref::<DirFile>()
        .ok_or(Errno::ENOTDIR)?;
    let cap = count.min(CHUNK);
    let mut out = Vec::new();
    let start = file.pos();
    let mut next = start;
    let mut full = false;
    let res = dir.list(start, &mut |rec| {
        if pack(&mut out, cap, &rec) {
            next = rec.next;
            true
        } else {
            full = true;
            false
        }
    });
    if out.is_empty() {
        res?;
        if full {
            return Err(Errno::EINVAL);
        }
    }
    file.set_pos(next);
    Ok(out)
}

fn getdents_common(
    t: &Task,
    a: &[u64; 6],
    pack: fn(&mut Vec<u8>, usize, &DentRecord<'_>) -> bool,
) -> SysResult {
    let file = io_file(t, arg::fd(a[0]))?;
    let count = arg::uint(a[2]) as usize;
    if !file.ops.as_any().is::<DirFile>() {
        return Err(Errno::ENOTDIR);
    }
    let start = file.pos();
    let out = getdents_into(&file, count, pack);
    inotify::accessed(t, &file, 1);
    let out = out?;
    if let Err(e) = t.mm.copy_out(UserAddr(a[1]), &out) {
        file.set_pos(start);
        return Err(e);
    }
    Ok(out.len() as u64)
}

fn sys_getdents64(t: &mut Task, a: &[u64; 6]) -> SysResult {
    getdents_common(t, a, pack_dirent64)
}

fn sys_getdents(t: &mut Task, a: &[u64; 6]) -> SysResult {
    getdents_common(t, a, pack_dirent)
}

/// Copies up to `count` bytes from `input` at `rpos` to `output` at
/// `wpos` (both ignored for streams) in chunks; stops at end of input,
/// a short write, or after one chunk from a stream. Returns the bytes
/// written (reads beyond them are given back by the caller's offsets).
fn splice_copy(
    input: &OpenFile,
    rpos: u64,
    output: &OpenFile,
    wpos: u64,
    count: usize,
) -> Result<usize, Errno> {
    if count == 0 {
        return Ok(0);
    }
    pump(input, rpos, count, |chunk, done| {
        let n = chunk.len();
        let mut written = 0;
        while written < n {
            match output.ops.write(
                &chunk[written..],
                wpos.wrapping_add((done + written) as u64),
            ) {
                Ok(0) => break,
                Ok(w) => written += w.min(n - written),
                Err(e) => return (written, Some(e)),
            }
        }
        (written, None)
    })
}

fn sys_sendfile(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (out_fd, in_fd, off_ptr, count) = (arg::fd(a[0]), arg::fd(a[1]), a[2], a[3]);
    let explicit = if off_ptr != 0 {
        Some(t.mm.read_obj::<i64>(UserAddr(off_ptr))?)
    } else {
        None
    };
    let input = io_file(t, in_fd)?;
    if !input.readable() {
        return Err(Errno::EBADF);
    }
    let in_seek = input.ops.seekable();
    let rpos = match explicit {
        Some(p) => {
            if !in_seek {
                return Err(Errno::ESPIPE);
            }
            if p < 0 {
                return Err(Errno::EINVAL);
            }
            p as u64
        }
        None if in_seek => input.pos(),
        None => 0,
    };
    let count = (count.min(MAX_RW_COUNT as u64)) as usize;
    if in_seek {
        verify_area(rpos, count)?;
    }
    let output = io_file(t, out_fd)?;
    if !output.writable() {
        return Err(Errno::EBADF);
    }
    if output.flags() & O_APPEND != 0 {
        return Err(Errno::EINVAL);
    }
    let out_seek = output.ops.seekable();
    let wpos = if out_seek { output.pos() } else { 0 };
    let n = match super::splice::sendfile_into(t, &input, rpos, &output, count) {
        Some(r) => r?,
        None if !super::splice::sendfile_ends_ok(&input, &output) => return Err(Errno::EINVAL),
        None => splice_copy(&input, rpos, &output, wpos, count)?,
    };
    inotify::accessed(t, &input, n as u64);
    inotify::modified(t, &output, n as u64);
    if out_seek {
        output.set_pos(wpos + n as u64);
    }
    match explicit {
        Some(_) => {
            t.mm.write_obj(UserAddr(off_ptr), &((rpos + n as u64) as i64))?
        }
        None if in_seek => input.set_pos(rpos + n as u64),
        None => {}
    }
    Ok(n as u64)
}

/// The type of the object behind a description.
pub(crate) fn file_type(file: &OpenFile) -> Option<FileType> {
    match &file.location {
        Some(l) => l.inode().attr().ok().and_then(|a| a.file_type()),
        None => file.ops.stat().and_then(|a| a.file_type()),
    }
}

fn sys_copy_file_range(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (fd_in, off_in, fd_out, off_out, len, flags) = (
        arg::fd(a[0]),
        a[1],
        arg::fd(a[2]),
        a[3],
        a[4],
        arg::uint(a[5]),
    );
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let input = io_file(t, fd_in)?;
    let output = io_file(t, fd_out)?;
    let read_off = |ptr: u64, f: &OpenFile| -> Result<Option<u64>, Errno> {
        if ptr == 0 {
            return Ok(None);
        }
        let v = t.mm.read_obj::<i64>(UserAddr(ptr))?;
        if !f.ops.seekable() {
            return Err(Errno::ESPIPE);
        }
        if v < 0 {
            return Err(Errno::EINVAL);
        }
        Ok(Some(v as u64))
    };
    let ein = read_off(off_in, &input)?;
    let eout = read_off(off_out, &output)?;
    for f in [&input, &output] {
        match file_type(f) {
            Some(FileType::Regular) => {}
            Some(FileType::Directory) => return Err(Errno::EISDIR),
            _ => return Err(Errno::EINVAL),
        }
    }
    if !input.readable() || !output.writable() || output.flags() & O_APPEND != 0 {
        return Err(Errno::EBADF);
    }
    let rpos = ein.unwrap_or_else(|| input.pos());
    let wpos = eout.unwrap_or_else(|| output.pos());
    let len = (len.min(MAX_RW_COUNT as u64)) as usize;
    verify_area(rpos, len)?;
    verify_area(wpos, len)?;
    let same = match (&input.location, &output.location) {
        (Some(x), Some(y)) => {
            let (ax, ay) = (x.inode().attr()?, y.inode().attr()?);
            ax.dev == ay.dev && ax.ino == ay.ino
        }
        _ => Arc::ptr_eq(&input, &output),
    };
    if same && rpos < wpos + len as u64 && wpos < rpos + len as u64 {
        return Err(Errno::EINVAL);
    }
    let n = splice_copy(&input, rpos, &output, wpos, len)?;
    inotify::accessed(t, &input, n as u64);
    inotify::modified(t, &output, n as u64);
    let end_in = rpos + n as u64;
    let end_out = wpos + n as u64;
    match ein {
        Some(_) => t.mm.write_obj(UserAddr(off_in), &(end_in as i64))?,
        None => input.set_pos(end_in),
    }
    match eout {
        Some(_) => t.mm.write_obj(UserAddr(off_out), &(end_out as i64))?,
        None => output.set_pos(end_out),
    }
    Ok(n as u64)
}

fn sys_fsync(t: &mut Task, a: &[u64; 6]) -> SysResult {
    io_file(t, arg::fd(a[0]))?.ops.sync()?;
    Ok(0)
}

fn sys_sync(_t: &mut Task, _a: &[u64; 6]) -> SysResult {
    Ok(0)
}

fn sys_syncfs(t: &mut Task, a: &[u64; 6]) -> SysResult {
    io_file(t, arg::fd(a[0]))?;
    Ok(0)
}

fn sys_ftruncate(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let len = a[1] as i64;
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let file = io_file(t, arg::fd(a[0]))?;
    if file_type(&file) != Some(FileType::Regular) || !file.writable() {
        return Err(Errno::EINVAL);
    }
    file.ops.truncate(len as u64)?;
    inotify::truncated(t, &file);
    Ok(0)
}

/// fallocate modes.
const FALLOC_FL_KEEP_SIZE: u32 = 0x01;
const FALLOC_FL_PUNCH_HOLE: u32 = 0x02;
const FALLOC_FL_COLLAPSE_RANGE: u32 = 0x08;
const FALLOC_FL_ZERO_RANGE: u32 = 0x10;
const FALLOC_FL_INSERT_RANGE: u32 = 0x20;
const FALLOC_FL_UNSHARE_RANGE: u32 = 0x40;
const FALLOC_FL_WRITE_ZEROES: u32 = 0x80;
/// The operations (one at most per call; Linux's `FALLOC_FL_MODE_MASK`).
const FALLOC_FL_MODE_MASK: u32 = FALLOC_FL_PUNCH_HOLE
    | FALLOC_FL_COLLAPSE_RANGE
    | FALLOC_FL_ZERO_RANGE
    | FALLOC_FL_INSERT_RANGE
    | FALLOC_FL_UNSHARE_RANGE
    | FALLOC_FL_WRITE_ZEROES;

fn sys_fallocate(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (fd, mode, off, len) = (arg::fd(a[0]), arg::uint(a[1]), a[2] as i64, a[3] as i64);
    let file = io_file(t, fd)?;
    // Linux's vfs_fallocate checks, in its order.
    if off < 0 || len <= 0 {
        return Err(Errno::EINVAL);
    }
    // One operation at most, each with the KEEP_SIZE rule it has (Linux
    // 6.15's form: a combination of operations is EOPNOTSUPP).
    if mode & !(FALLOC_FL_MODE_MASK | FALLOC_FL_KEEP_SIZE) != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let keep = mode & FALLOC_FL_KEEP_SIZE != 0;
    match mode & FALLOC_FL_MODE_MASK {
        0 | FALLOC_FL_UNSHARE_RANGE | FALLOC_FL_ZERO_RANGE => {}
        FALLOC_FL_PUNCH_HOLE if keep => {}
        FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE | FALLOC_FL_WRITE_ZEROES if !keep => {}
        _ => return Err(Errno::EOPNOTSUPP),
    }
    let punch = mode & FALLOC_FL_PUNCH_HOLE != 0;
    if !file.writable() {
        return Err(Errno::EBADF);
    }
    match file_type(&file) {
        Some(FileType::Regular) => {}
        Some(FileType::Fifo) => return Err(Errno::ESPIPE),
        Some(FileType::Directory) => return Err(Errno::EISDIR),
        _ => return Err(Errno::ENODEV),
    }
    let end = off.checked_add(len).ok_or(Errno::EFBIG)? as u64;
    let (off, len) = (off as u64, len as u64);
    // What the filesystem does (tmpfs and memfds: their pages; Linux's
    // shmem_fallocate knows only KEEP_SIZE and PUNCH_HOLE).
    let Some(pages) = file.ops.memory_pages() else {
        // Others: a size change only, when one is asked.
        if mode & !FALLOC_FL_KEEP_SIZE != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        if mode & FALLOC_FL_KEEP_SIZE == 0 && end > file.ops.size()? {
            file.ops.truncate(end)?;
        }
        inotify::modified(t, &file, 1);
        return Ok(0);
    };
    if mode & !(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE) != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    if punch {
        pages.remove(off, len)?;
    } else {
        pages.allocate(off, len)?;
        if mode & FALLOC_FL_KEEP_SIZE == 0 && end > file.ops.size()? {
            file.ops.truncate(end)?;
        }
    }
    inotify::modified(t, &file, 1);
    Ok(0)
}

/// FIOQSIZE: the size of a file, directory or symlink as a `loff_t`.
const FIOQSIZE: u32 = 0x5460;

fn sys_ioctl(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (fd, cmd, argp) = (arg::fd(a[0]), arg::uint(a[1]), a[2]);
    let file = io_file(t, fd)?;
    match cmd {
        FIOCLEX => t.fds.set_cloexec(fd, true).map(|_| 0),
        FIONCLEX => t.fds.set_cloexec(fd, false).map(|_| 0),
        FIONBIO => {
            let on = t.mm.read_obj::<i32>(UserAddr(argp))? != 0;
            file.toggle_status_flags(O_NONBLOCK, on);
            Ok(0)
        }
        FIOASYNC => {
            let on = t.mm.read_obj::<i32>(UserAddr(argp))? != 0;
            file.toggle_status_flags(O_ASYNC, on);
            crate::vfs::fasync::update(t, &file, fd);
            Ok(0)
        }
        // Terminal calls that need the description itself.
        TIOCSCTTY | veil_abi::termios::TIOCGPTPEER | veil_abi::termios::TIOCCONS
            if crate::tty::is_pty_file(&*file.ops) =>
        {
            crate::tty::file_ioctl(t, &file, cmd, argp).unwrap_or(Err(Errno::ENOTTY))
        }
        FIOQSIZE | FIONREAD if file.location.is_some() => {
            let attr = match &file.location {
                Some(l) => l.inode().attr()?,
                None => return Err(Errno::ENOTTY),
            };
            match (cmd, attr.file_type()) {
                (FIOQSIZE, Some(FileType::Regular | FileType::Directory | FileType::Symlink)) => {
                    t.mm.write_obj(UserAddr(argp), &(attr.size as i64))?;
                    Ok(0)
                }
                (FIONREAD, Some(FileType::Regular)) => {
                    let left = attr.size.wrapping_sub(file.pos()) as i32;
                    t.mm.write_obj(UserAddr(argp), &left)?;
                    Ok(0)
                }
                (FIOQSIZE, _) => Err(Errno::ENOTTY),
                _ => file.ops.ioctl(t, cmd, argp),
            }
        }
        _ => file.ops.ioctl(t, cmd, argp),
    }
}

fn sys_fadvise64(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (fd, len, advice) = (arg::fd(a[0]), a[2] as i64, arg::uint(a[3]));
    let file = io_file(t, fd)?;
    if !file.ops.seekable() || file_type(&file) == Some(FileType::Fifo) {
        return Err(Errno::ESPIPE);
    }
    // POSIX_FADV_NORMAL .. POSIX_FADV_NOREUSE.
    if advice > 5 || len < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}

fn sys_readahead(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let file = io_file(t, arg::fd(a[0]))?;
    if !file.readable() {
        return Err(Errno::EBADF);
    }
    if file_type(&file) != Some(FileType::Regular) {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}

fn sys_flock(t: &mut Task, a: &[u64; 6]) -> SysResult {
    super::file::flock(t, arg::fd(a[0]), arg::uint(a[1]))
}
