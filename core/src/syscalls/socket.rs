//! The socket calls: socket, socketpair, bind, connect, listen, accept,
//! accept4, getsockname, getpeername, sendto, recvfrom, sendmsg, recvmsg,
//! sendmmsg, recvmmsg, shutdown, setsockopt and getsockopt.
//!
//! These read their arguments, find the [`Socket`] behind the fd and
//! call it; what the socket answers `EAGAIN` to, they wait for on its
//! wait queue (unless the fd is O_NONBLOCK or the call has
//! MSG_DONTWAIT), bounded by SO_RCVTIMEO / SO_SNDTIMEO (then `EAGAIN` on
//! expiry, `EINTR` on a signal; `ERESTARTSYS` without a timeout). They
//! also own what crosses the user boundary: addresses (Linux's
//! move_addr_to_kernel / move_addr_to_user), iovecs, and control
//! messages: SCM_RIGHTS descriptions are installed as new fds on receipt
//! (close-on-exec with MSG_CMSG_CLOEXEC; what does not fit in the control
//! buffer is closed and MSG_CTRUNC set), SCM_CREDENTIALS are checked on
//! send as Linux's scm_check_creds and reported with the sandbox's pid
//! and ids. A stream send that finds the peer gone raises SIGPIPE unless
//! MSG_NOSIGNAL.
//!
//! Errors come in Linux's order per call: `EBADF` for a closed fd,
//! `ENOTSOCK` for a file that is not a socket, `EFAULT` for unreadable
//! arguments, `EINVAL` for lengths out of range. Families other than
//! `AF_UNIX` answer `EAFNOSUPPORT`.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use veil_abi::flags::{CAP_SETGID, CAP_SETUID, O_NONBLOCK, O_RDWR, RLIMIT_NOFILE};
use veil_abi::socket::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, Iovec, Timespec};
use zerocopy::IntoBytes;

use super::file_io::{copy_in_partial, copy_out_partial, import_iovec};
use super::{arg, Handler};
use crate::host::WakeReason;
use crate::net::unix::{read_sockaddr, ucred_from, write_sockaddr, UnixSocket};
use crate::net::{RecvMsg, SendMsg, Socket, SocketFile};
use crate::process::{mono_ns, valid_ns};
use crate::task::Task;
use crate::vfs::OpenFile;
use crate::{SysResult, UserAddr};

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        SOCKET => sys_socket,
        SOCKETPAIR => sys_socketpair,
        BIND => sys_bind,
        CONNECT => sys_connect,
        LISTEN => sys_listen,
        ACCEPT => |t, a| do_accept(t, a, 0),
        ACCEPT4 => |t, a| do_accept(t, a, arg::int(a[3])),
        GETSOCKNAME => |t, a| do_getname(t, a, false),
        GETPEERNAME => |t, a| do_getname(t, a, true),
        SENDTO => sys_sendto,
        RECVFROM => sys_recvfrom,
        SENDMSG => sys_sendmsg,
        RECVMSG => sys_recvmsg,
        SENDMMSG => sys_sendmmsg,
        RECVMMSG => sys_recvmmsg,
        SHUTDOWN => sys_shutdown,
        SETSOCKOPT => sys_setsockopt,
        GETSOCKOPT => sys_getsockopt,
        _ => return None,
    })
}

/// CAP_SYS_ADMIN: may send any pid in SCM_CREDENTIALS.
const CAP_SYS_ADMIN: u32 = 21;
/// net.core.optmem_max: the largest control buffer sendmsg takes.
const OPTMEM_MAX: u64 = 131_072;
/// Bytes of a stream send copied in at a time.
const CHUNK: usize = 64 * 1024;

/// The open file and socket at `fd`: `EBADF`, `ENOTSOCK`.
fn sock_fd(t: &Task, fd: i32) -> Result<(Arc<OpenFile>, Arc<dyn Socket>), Errno> {
    let f = t.fds.file(fd)?;
    if f.is_path() {
        return Err(Errno::EBADF);
    }
    let s = SocketFile::of(&f)?;
    Ok((f, s))
}

/// The caller as a message sender: pid and real ids.
fn sender(t: &Task) -> Ucred {
    Ucred {
        pid: t.pid(),
        uid: t.creds.uid,
        gid: t.creds.gid,
    }
}

/// Installs `sock` as a new fd; `flags` are SOCK_NONBLOCK / SOCK_CLOEXEC.
fn install(t: &Task, sock: Arc<dyn Socket>, flags: i32) -> Result<i32, Errno> {
    let status = if flags & SOCK_NONBLOCK != 0 {
        O_NONBLOCK
    } else {
        0
    };
    let unix = sock.clone();
    let file = OpenFile::new(
        Arc::new(SocketFile {
            sock,
            owner: sender(t),
        }),
        None,
        O_RDWR | status,
    );
    if let Some(u) = unix.as_any().downcast_ref::<UnixSocket>() {
        u.set_file(&file);
    }
    t.fds
        .insert(0, file, flags & SOCK_CLOEXEC != 0, t.rlimit(RLIMIT_NOFILE))
}

/// When a wait bounded by `timeout` (ns; `None` = forever) ends.
fn deadline(t: &Task, timeout: Option<u64>) -> Option<u64> {
    timeout.map(|d| mono_ns(&t.kernel).saturating_add(d))
}

/// Runs `op` until it stops answering `EAGAIN`, sleeping on the socket's
/// queue in between, unless `nonblock`. The task is on the queue before
/// each attempt, so a change during the attempt wakes the sleep after it.
fn wait_sock<T>(
    t: &Task,
    sock: &dyn Socket,
    nonblock: bool,
    deadline: Option<u64>,
    mut op: impl FnMut() -> Result<T, Errno>,
) -> Result<T, Errno> {
    if nonblock {
        return op();
    }
    let q = sock.wait_queue();
    loop {
        q.register(&t.blocker);
        let r = op();
        if !matches!(r, Err(Errno::EAGAIN)) {
            q.unregister(&t.blocker);
            return r;
        }
        let reason = t.blocker.block(deadline);
        q.unregister(&t.blocker);
        match reason {
            WakeReason::Woken => {}
            WakeReason::TimedOut => return Err(Errno::EAGAIN),
            WakeReason::Interrupted => {
                return Err(if deadline.is_some() {
                    Errno::EINTR
                } else {
                    Errno::ERESTARTSYS
                })
            }
        }
    }
}

/// Linux's access_ok for one user buffer.
fn access_ok(t: &Task, addr: u64, len: usize) -> Result<(), Errno> {
    match addr.checked_add(len as u64) {
        Some(end) if end <= t.mm.max_address() => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

/// Copies up to `len` bytes from the buffers, starting `skip` bytes in.
/// Returns the bytes and whether a fault cut them short.
fn gather(t: &Task, segs: &[Iovec], mut skip: usize, len: usize) -> (Vec<u8>, bool) {
    let mut out = vec![0u8; len];
    let mut done = 0;
    for s in segs {
        if done == len {
            break;
        }
        let slen = s.len as usize;
        if skip >= slen {
            skip -= slen;
            continue;
        }
        let n = (slen - skip).min(len - done);
        let c = copy_in_partial(
            t,
            s.base.wrapping_add(skip as u64),
            &mut out[done..done + n],
        );
        done += c;
        skip = 0;
        if c < n {
            out.truncate(done);
            return (out, true);
        }
    }
    out.truncate(done);
    (out, false)
}

/// Copies `data` to the buffers, starting `skip` bytes in. `EFAULT` if
/// nothing could be copied.
fn scatter(t: &Task, segs: &[Iovec], mut skip: usize, data: &[u8]) -> Result<usize, Errno> {
    let mut done = 0;
    for s in segs {
        if done == data.len() {
            break;
        }
        let slen = s.len as usize;
        if skip >= slen {
            skip -= slen;
            continue;
        }
        let n = (slen - skip).min(data.len() - done);
        let c = copy_out_partial(t, s.base.wrapping_add(skip as u64), &data[done..done + n]);
        done += c;
        skip = 0;
        if c < n {
            break;
        }
    }
    if done == 0 && !data.is_empty() {
        return Err(Errno::EFAULT);
    }
    Ok(done)
}

// ---------------------------------------------------------------------------
// Creation

/// Makes a socket of (`domain`, `kind`, `protocol`), `kind` without flags.
fn make_socket(t: &Task, domain: i32, kind: i32, protocol: i32) -> Result<Arc<UnixSocket>, Errno> {
    if !(0..AF_MAX).contains(&domain) {
        return Err(Errno::EAFNOSUPPORT);
    }
    if !(0..SOCK_MAX).contains(&kind) {
        return Err(Errno::EINVAL);
    }
    if domain != AF_UNIX {
        return Err(Errno::EAFNOSUPPORT);
    }
    if protocol != 0 && protocol != AF_UNIX {
        return Err(Errno::EPROTONOSUPPORT);
    }
    let kind = match kind {
        SOCK_STREAM | SOCK_DGRAM | SOCK_SEQPACKET => kind,
        SOCK_RAW => SOCK_DGRAM,
        _ => return Err(Errno::ESOCKTNOSUPPORT),
    };
    Ok(UnixSocket::new(&t.kernel.net.unix, kind))
}

fn split_type(ty: i32) -> Result<(i32, i32), Errno> {
    let flags = ty & !SOCK_TYPE_MASK;
    if flags & !(SOCK_CLOEXEC | SOCK_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    Ok((ty & SOCK_TYPE_MASK, flags))
}

fn sys_socket(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (kind, flags) = split_type(arg::int(a[1]))?;
    let s = make_socket(t, arg::int(a[0]), kind, arg::int(a[2]))?;
    Ok(install(t, s, flags)? as u64)
}

fn sys_socketpair(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (kind, flags) = split_type(arg::int(a[1]))?;
    let usv = UserAddr(a[3]);
    let made = make_socket(t, arg::int(a[0]), kind, arg::int(a[2]));
    let s = match made {
        Ok(s) => s,
        Err(e) => {
            // Linux writes the reserved fds before making the sockets:
            // a bad pointer is EFAULT whatever the family.
            let cur: [i32; 2] = t.mm.read_obj(usv)?;
            t.mm.write_obj(usv, &cur)?;
            return Err(e);
        }
    };
    let kind = s.sock_type();
    drop(s);
    let (x, y) = UnixSocket::pair(&t.kernel.net.unix, kind, peer_creds(t));
    let fd1 = install(t, x, flags)?;
    let fd2 = match install(t, y, flags) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = t.fds.remove(fd1);
            return Err(e);
        }
    };
    if let Err(e) = t.mm.write_obj(usv, &[fd1, fd2]) {
        let _ = t.fds.remove(fd1);
        let _ = t.fds.remove(fd2);
        return Err(e);
    }
    Ok(0)
}

/// SO_PEERCRED as the caller makes it: pid and effective ids.
fn peer_creds(t: &Task) -> Ucred {
    Ucred {
        pid: t.pid(),
        uid: t.creds.euid,
        gid: t.creds.egid,
    }
}

// ---------------------------------------------------------------------------
// Addresses and connections

fn sys_bind(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (_, s) = sock_fd(t, arg::fd(a[0]))?;
    let addr = read_sockaddr(t, a[1], arg::int(a[2]))?;
    s.bind(t, &addr)?;
    Ok(0)
}

fn sys_connect(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let file = crate::syscalls::file_io::io_file(t, arg::fd(a[0]))?;
    let addr = read_sockaddr(t, a[1], arg::int(a[2]))?;
    let s = SocketFile::of(&file)?;
    let nonblock = file.flags() & O_NONBLOCK != 0;
    let dl = deadline(t, s.timeouts().1);
    wait_sock(t, &*s, nonblock, dl, || s.connect(t, &addr))?;
    Ok(0)
}

fn sys_listen(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (_, s) = sock_fd(t, arg::fd(a[0]))?;
    s.listen(t, arg::int(a[1]))?;
    Ok(0)
}

fn do_accept(t: &mut Task, a: &[u64; 6], flags: i32) -> SysResult {
    if flags & !(SOCK_CLOEXEC | SOCK_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let (file, s) = sock_fd(t, arg::fd(a[0]))?;
    let nonblock = file.flags() & O_NONBLOCK != 0;
    let dl = deadline(t, s.timeouts().0);
    let new = wait_sock(t, &*s, nonblock, dl, || s.accept())?;
    if a[1] != 0 {
        let name = new.peer_name().unwrap_or_else(|_| {
            let mut v = Vec::new();
            v.extend_from_slice(&(AF_UNIX as u16).to_ne_bytes());
            v
        });
        if let Err(e) = write_sockaddr(t, &name, a[1], a[2]) {
            new.release();
            return Err(e);
        }
    }
    Ok(install(t, new, flags)? as u64)
}

fn do_getname(t: &mut Task, a: &[u64; 6], peer: bool) -> SysResult {
    let (_, s) = sock_fd(t, arg::fd(a[0]))?;
    let name = if peer { s.peer_name()? } else { s.local_name() };
    write_sockaddr(t, &name, a[1], a[2])?;
    Ok(0)
}

fn sys_shutdown(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (_, s) = sock_fd(t, arg::fd(a[0]))?;
    s.shutdown(arg::int(a[1]))?;
    Ok(0)
}

// ---------------------------------------------------------------------------
// Options

fn sys_setsockopt(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (_, s) = sock_fd(t, arg::fd(a[0]))?;
    let optlen = arg::int(a[4]);
    if optlen < 0 {
        return Err(Errno::EINVAL);
    }
    s.setsockopt(t, arg::int(a[1]), arg::int(a[2]), a[3], optlen as usize)?;
    Ok(0)
}

fn sys_getsockopt(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (_, s) = sock_fd(t, arg::fd(a[0]))?;
    let (level, name, optval, optlenp) = (arg::int(a[1]), arg::int(a[2]), a[3], a[4]);
    if level != SOL_SOCKET {
        return Err(Errno::EOPNOTSUPP);
    }
    let len: i32 = t.mm.read_obj(UserAddr(optlenp))?;
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let v = s.getsockopt(t, level, name)?;
    let n = (len as usize).min(v.len());
    t.mm.copy_out(UserAddr(optval), &v[..n])?;
    t.mm.write_obj(UserAddr(optlenp), &(n as i32))?;
    Ok(0)
}

// ---------------------------------------------------------------------------
// Data

/// What a send carries besides its bytes.
#[derive(Default)]
struct Extras {
    to: Option<Vec<u8>>,
    rights: Vec<Arc<OpenFile>>,
    creds: Option<Ucred>,
}

/// Sends `total` bytes from `segs`: a message whole, or a stream in
/// pieces until all is sent (or, non-blocking, until it would wait).
fn do_send(
    t: &Task,
    file: &OpenFile,
    s: &Arc<dyn Socket>,
    segs: &[Iovec],
    total: usize,
    ex: Extras,
    flags: u32,
) -> Result<usize, Errno> {
    let nonblock = flags & MSG_DONTWAIT != 0 || file.flags() & O_NONBLOCK != 0;
    let dl = deadline(t, s.timeouts().1);
    let who = sender(t);
    let to = ex.to.as_deref();
    let r = if let Some(max) = s.max_message() {
        // One message: copied in whole (a byte past the limit is enough
        // for the socket to answer EMSGSIZE in its order of checks).
        let (data, fault) = gather(t, segs, 0, total.min(max.saturating_add(1)));
        if fault {
            return Err(Errno::EFAULT);
        }
        wait_sock(t, &**s, nonblock, dl, || {
            let msg = SendMsg {
                data: &data,
                to,
                rights: ex.rights.clone(),
                creds: ex.creds,
                sender: who,
            };
            s.send(Some(t), msg, flags)
        })
    } else {
        // With MSG_OOB, all but the last byte go as plain data first.
        let oob = flags & MSG_OOB != 0;
        let body = if oob { total.saturating_sub(1) } else { total };
        let plain = flags & !MSG_OOB;
        let mut done = 0usize;
        let mut rights = ex.rights;
        let mut result = Ok(0);
        'outer: while done < body {
            let (buf, fault) = gather(t, segs, done, (body - done).min(CHUNK));
            if buf.is_empty() {
                result = if done > 0 {
                    Ok(done)
                } else {
                    Err(Errno::EFAULT)
                };
                break;
            }
            let mut off = 0;
            while off < buf.len() {
                let r = wait_sock(t, &**s, nonblock, dl, || {
                    let msg = SendMsg {
                        data: &buf[off..],
                        to,
                        rights: rights.clone(),
                        creds: ex.creds,
                        sender: who,
                    };
                    s.send(Some(t), msg, plain)
                });
                match r {
                    Ok(n) => {
                        off += n;
                        rights.clear();
                    }
                    Err(e) => {
                        done += off;
                        result = if done > 0 { Ok(done) } else { Err(e) };
                        break 'outer;
                    }
                }
            }
            done += off;
            result = Ok(done);
            if fault {
                break;
            }
        }
        if oob && result == Ok(body) {
            let (buf, fault) = gather(t, segs, body, total - body);
            result = if fault {
                Err(Errno::EFAULT)
            } else {
                wait_sock(t, &**s, nonblock, dl, || {
                    let msg = SendMsg {
                        data: &buf,
                        to,
                        rights: rights.clone(),
                        creds: ex.creds,
                        sender: who,
                    };
                    s.send(Some(t), msg, flags)
                })
                .map(|n| body + n)
            };
            if body > 0 && result.is_err() {
                result = Ok(body);
            }
        }
        result
    };
    if r == Err(Errno::EPIPE) && s.sock_type() == SOCK_STREAM && flags & MSG_NOSIGNAL == 0 {
        super::file_io::raise_sigpipe(t);
    }
    r
}

/// Receives into `segs` (`total` bytes of room). Returns the call's value
/// (the bytes copied, or the message's length with MSG_TRUNC on a
/// datagram) and the message.
fn do_recv(
    t: &Task,
    file: &OpenFile,
    s: &Arc<dyn Socket>,
    segs: &[Iovec],
    total: usize,
    flags: u32,
) -> Result<(usize, RecvMsg), Errno> {
    let nonblock = flags & MSG_DONTWAIT != 0 || file.flags() & O_NONBLOCK != 0;
    let dl = deadline(t, s.timeouts().0);
    let mut m = wait_sock(t, &**s, nonblock, dl, || s.recv(total, flags, nonblock))?;
    let mut copied = scatter(t, segs, 0, &m.data)?;
    if s.max_message().is_some() {
        let ret = if flags & MSG_TRUNC != 0 {
            m.len
        } else {
            copied
        };
        return Ok((ret, m));
    }
    // MSG_WAITALL: a stream read goes on until the buffer is full, end of
    // file, an error or a signal (returning what it has).
    let waitall = flags & MSG_WAITALL != 0 && flags & (MSG_PEEK | MSG_OOB) == 0;
    while waitall && copied < total && !m.data.is_empty() && m.rights.is_empty() {
        let more = match wait_sock(t, &**s, nonblock, dl, || {
            s.recv(total - copied, flags, nonblock)
        }) {
            Ok(x) => x,
            Err(_) => break,
        };
        if more.data.is_empty() {
            break;
        }
        copied += scatter(t, segs, copied, &more.data).unwrap_or(0);
        m.rights.extend(more.rights);
    }
    m.len = copied;
    Ok((copied, m))
}

/// read(2) and readv(2) on a socket: recvmsg without flags (Linux's
/// sock_read_iter). `None` if `file` is not a socket.
pub(crate) fn read_socket(
    t: &Task,
    file: &OpenFile,
    segs: &[Iovec],
    total: usize,
) -> Option<Result<usize, Errno>> {
    plain_io(file, total, |s| {
        do_recv(t, file, s, segs, total, 0).map(|(n, _)| n)
    })
}

/// write(2) and writev(2) on a socket: sendmsg without flags (Linux's
/// sock_write_iter). `None` if `file` is not a socket.
pub(crate) fn write_socket(
    t: &Task,
    file: &OpenFile,
    segs: &[Iovec],
    total: usize,
) -> Option<Result<usize, Errno>> {
    plain_io(file, total, |s| {
        do_send(t, file, s, segs, total, Extras::default(), 0)
    })
}

/// What read_socket and write_socket share: `None` if `file` is not a
/// socket, 0 at once for an empty transfer, else `io` on the socket.
fn plain_io(
    file: &OpenFile,
    total: usize,
    io: impl FnOnce(&Arc<dyn Socket>) -> Result<usize, Errno>,
) -> Option<Result<usize, Errno>> {
    let s = SocketFile::of(file).ok()?;
    if total == 0 {
        return Some(Ok(0));
    }
    Some(io(&s))
}

fn sys_sendto(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (buf, len, flags, addr, addrlen) = (a[1], a[2], arg::uint(a[3]), a[4], arg::int(a[5]));
    let len = (len as usize).min(veil_abi::flags::MAX_RW_COUNT);
    access_ok(t, buf, len)?;
    let (file, s) = sock_fd(t, arg::fd(a[0]))?;
    let to = if addr != 0 {
        let v = read_sockaddr(t, addr, addrlen)?;
        if v.is_empty() {
            None
        } else {
            Some(v)
        }
    } else {
        None
    };
    let segs = [Iovec {
        base: buf,
        len: len as u64,
    }];
    let ex = Extras {
        to,
        ..Default::default()
    };
    Ok(do_send(t, &file, &s, &segs, len, ex, flags)? as u64)
}

fn sys_recvfrom(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (buf, len, flags, addr, addrlenp) = (a[1], a[2], arg::uint(a[3]), a[4], a[5]);
    let len = (len as usize).min(veil_abi::flags::MAX_RW_COUNT);
    access_ok(t, buf, len)?;
    let (file, s) = sock_fd(t, arg::fd(a[0]))?;
    let segs = [Iovec {
        base: buf,
        len: len as u64,
    }];
    let (n, m) = do_recv(t, &file, &s, &segs, len, flags)?;
    if addr != 0 {
        let from = m.from.unwrap_or_default();
        write_sockaddr(t, &from, addr, addrlenp)?;
    }
    Ok(n as u64)
}

/// Offsets in `struct msghdr` of the fields recvmsg writes back.
const MSG_NAMELEN_OFF: u64 = 8;
const MSG_CONTROLLEN_OFF: u64 = 40;
const MSG_FLAGS_OFF: u64 = 48;

/// The iovecs of a msghdr (`EMSGSIZE` past UIO_MAXIOV).
fn msg_iovecs(t: &Task, h: &Msghdr) -> Result<(Vec<Iovec>, usize), Errno> {
    if h.iovlen > UIO_MAXIOV as u64 {
        return Err(Errno::EMSGSIZE);
    }
    import_iovec(t, h.iov, h.iovlen)
}

/// Parses sendmsg's control messages (Linux's __scm_send).
fn parse_control(t: &Task, h: &Msghdr) -> Result<(Vec<Arc<OpenFile>>, Option<Ucred>), Errno> {
    let mut rights = Vec::new();
    let mut creds = None;
    if h.controllen == 0 {
        return Ok((rights, creds));
    }
    if h.controllen > i32::MAX as u64 || h.controllen > OPTMEM_MAX {
        return Err(Errno::ENOBUFS);
    }
    let mut ctl = vec![0u8; h.controllen as usize];
    t.mm.copy_in(UserAddr(h.control), &mut ctl)?;
    let hdr = core::mem::size_of::<Cmsghdr>();
    let mut off = 0usize;
    while off + hdr <= ctl.len() {
        let c = Cmsghdr {
            len: u64::from_ne_bytes(ctl[off..off + 8].try_into().unwrap_or_default()),
            level: i32::from_ne_bytes(ctl[off + 8..off + 12].try_into().unwrap_or_default()),
            kind: i32::from_ne_bytes(ctl[off + 12..off + 16].try_into().unwrap_or_default()),
        };
        if c.len < hdr as u64 || c.len > (ctl.len() - off) as u64 {
            return Err(Errno::EINVAL);
        }
        let data = &ctl[off + hdr..off + c.len as usize];
        if c.level == SOL_SOCKET {
            match c.kind {
                SCM_RIGHTS => {
                    let n = data.len() / 4;
                    if n > SCM_MAX_FD || rights.len() + n > SCM_MAX_FD {
                        return Err(Errno::EINVAL);
                    }
                    for i in 0..n {
                        let fd = i32::from_ne_bytes(
                            data[i * 4..i * 4 + 4].try_into().unwrap_or_default(),
                        );
                        rights.push(t.fds.file(fd)?);
                    }
                }
                SCM_CREDENTIALS => {
                    if c.len as usize != cmsg_len(core::mem::size_of::<Ucred>()) {
                        return Err(Errno::EINVAL);
                    }
                    let u = ucred_from(data).ok_or(Errno::EINVAL)?;
                    check_creds(t, &u)?;
                    creds = Some(u);
                }
                _ => return Err(Errno::EINVAL),
            }
        }
        off += cmsg_align(c.len as usize);
    }
    Ok((rights, creds))
}

/// Linux's scm_check_creds: a process may send its own pid and any of
/// its ids, or others with CAP_SYS_ADMIN / CAP_SETUID / CAP_SETGID.
fn check_creds(t: &Task, u: &Ucred) -> Result<(), Errno> {
    if u.uid == u32::MAX || u.gid == u32::MAX {
        return Err(Errno::EINVAL);
    }
    let c = &t.creds;
    let pid_ok = u.pid == t.pid() || c.capable(CAP_SYS_ADMIN);
    let uid_ok = [c.uid, c.euid, c.suid].contains(&u.uid) || c.capable(CAP_SETUID);
    let gid_ok = [c.gid, c.egid, c.sgid].contains(&u.gid) || c.capable(CAP_SETGID);
    if pid_ok && uid_ok && gid_ok {
        Ok(())
    } else {
        Err(Errno::EPERM)
    }
}

/// One sendmsg: the msghdr at `hp`. Returns the bytes sent.
fn send_one(t: &Task, file: &OpenFile, s: &Arc<dyn Socket>, hp: u64, flags: u32) -> SysResult {
    let h: Msghdr = t.mm.read_obj(UserAddr(hp))?;
    let to = if h.name != 0 && h.namelen != 0 {
        if h.namelen < 0 {
            return Err(Errno::EINVAL);
        }
        let len = (h.namelen as usize).min(SOCKADDR_STORAGE_SIZE);
        Some(read_sockaddr(t, h.name, len as i32)?)
    } else {
        None
    };
    let (segs, total) = msg_iovecs(t, &h)?;
    let (rights, creds) = parse_control(t, &h)?;
    let ex = Extras { to, rights, creds };
    Ok(do_send(t, file, s, &segs, total, ex, flags)? as u64)
}

/// Writes recvmsg's control messages (Linux's scm_recv): credentials,
/// then descriptions installed as new fds. Returns the bytes used.
fn put_control(t: &Task, h: &Msghdr, m: &mut RecvMsg, flags: u32, out_flags: &mut u32) -> usize {
    let rights = core::mem::take(&mut m.rights);
    if h.control == 0 {
        if m.creds.is_some() || !rights.is_empty() {
            *out_flags |= MSG_CTRUNC;
        }
        return 0;
    }
    let room = h.controllen as usize;
    let hdr = core::mem::size_of::<Cmsghdr>();
    let mut buf: Vec<u8> = Vec::new();
    if let Some(c) = m.creds {
        let left = room - buf.len();
        if left < hdr {
            *out_flags |= MSG_CTRUNC;
        } else {
            let mut cmlen = cmsg_len(core::mem::size_of::<Ucred>());
            if left < cmlen {
                *out_flags |= MSG_CTRUNC;
                cmlen = left;
            }
            let mut rec = Cmsghdr {
                len: cmlen as u64,
                level: SOL_SOCKET,
                kind: SCM_CREDENTIALS,
            }
            .as_bytes()
            .to_vec();
            rec.extend_from_slice(c.as_bytes());
            rec.truncate(cmlen);
            rec.resize(cmsg_space(core::mem::size_of::<Ucred>()).min(left), 0);
            buf.extend_from_slice(&rec);
        }
    }
    let mut installed: Vec<i32> = Vec::new();
    if !rights.is_empty() {
        let left = room - buf.len();
        let fdmax = if left > hdr { (left - hdr) / 4 } else { 0 };
        let cloexec = flags & MSG_CMSG_CLOEXEC != 0;
        let limit = t.rlimit(RLIMIT_NOFILE);
        for f in rights.iter().take(fdmax) {
            match t.fds.insert(0, f.clone(), cloexec, limit) {
                Ok(fd) => installed.push(fd),
                Err(_) => break,
            }
        }
        if !installed.is_empty() {
            let n = installed.len() * 4;
            let mut rec = Cmsghdr {
                len: cmsg_len(n) as u64,
                level: SOL_SOCKET,
                kind: SCM_RIGHTS,
            }
            .as_bytes()
            .to_vec();
            for fd in &installed {
                rec.extend_from_slice(&fd.to_ne_bytes());
            }
            rec.resize(cmsg_space(n).min(left), 0);
            buf.extend_from_slice(&rec);
        }
        if installed.len() < rights.len() {
            *out_flags |= MSG_CTRUNC;
        }
    }
    drop(rights);
    if !buf.is_empty() && t.mm.copy_out(UserAddr(h.control), &buf).is_err() {
        for fd in installed {
            let _ = t.fds.remove(fd);
        }
        *out_flags |= MSG_CTRUNC;
        return 0;
    }
    buf.len()
}

/// One recvmsg into the msghdr at `hp`. Returns the call's value.
fn recv_one(t: &Task, file: &OpenFile, s: &Arc<dyn Socket>, hp: u64, flags: u32) -> SysResult {
    let h: Msghdr = t.mm.read_obj(UserAddr(hp))?;
    if h.name != 0 && h.namelen < 0 {
        return Err(Errno::EINVAL);
    }
    let (segs, total) = msg_iovecs(t, &h)?;
    let (n, mut m) = do_recv(t, file, s, &segs, total, flags)?;
    let mut out_flags = flags & MSG_CMSG_CLOEXEC;
    if m.truncated {
        out_flags |= MSG_TRUNC;
    }
    if m.oob {
        out_flags |= MSG_OOB;
    }
    if h.name != 0 {
        let from = m.from.take().unwrap_or_default();
        write_sockaddr(t, &from, h.name, hp + MSG_NAMELEN_OFF)?;
    }
    let used = put_control(t, &h, &mut m, flags, &mut out_flags);
    t.mm.write_obj(UserAddr(hp + MSG_FLAGS_OFF), &out_flags)?;
    t.mm.write_obj(UserAddr(hp + MSG_CONTROLLEN_OFF), &(used as u64))?;
    Ok(n as u64)
}

fn sys_sendmsg(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (file, s) = sock_fd(t, arg::fd(a[0]))?;
    send_one(t, &file, &s, a[1], arg::uint(a[2]))
}

fn sys_recvmsg(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (file, s) = sock_fd(t, arg::fd(a[0]))?;
    recv_one(t, &file, &s, a[1], arg::uint(a[2]))
}

/// Offset of `msg_len` in `struct mmsghdr`.
const MMSG_LEN_OFF: u64 = 56;
const MMSG_SIZE: u64 = core::mem::size_of::<Mmsghdr>() as u64;

fn sys_sendmmsg(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (file, s) = sock_fd(t, arg::fd(a[0]))?;
    let (vec, vlen, flags) = (
        a[1],
        arg::uint(a[2]).min(UIO_MAXIOV as u32),
        arg::uint(a[3]),
    );
    let mut sent = 0u32;
    while sent < vlen {
        let hp = vec + sent as u64 * MMSG_SIZE;
        match send_one(t, &file, &s, hp, flags) {
            Ok(n) => {
                if let Err(e) = t.mm.write_obj(UserAddr(hp + MMSG_LEN_OFF), &(n as u32)) {
                    return if sent > 0 { Ok(sent as u64) } else { Err(e) };
                }
                sent += 1;
            }
            Err(e) => return if sent > 0 { Ok(sent as u64) } else { Err(e) },
        }
    }
    Ok(sent as u64)
}

fn sys_recvmmsg(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (vec, vlen, mut flags, tsp) = (
        a[1],
        arg::uint(a[2]).min(UIO_MAXIOV as u32),
        arg::uint(a[3]),
        a[4],
    );
    let end = if tsp != 0 {
        let ts: Timespec = t.mm.read_obj(UserAddr(tsp))?;
        Some(mono_ns(&t.kernel).saturating_add(valid_ns(&ts)?))
    } else {
        None
    };
    let (file, s) = sock_fd(t, arg::fd(a[0]))?;
    let mut got = 0u32;
    while got < vlen {
        let hp = vec + got as u64 * MMSG_SIZE;
        match recv_one(t, &file, &s, hp, flags) {
            Ok(n) => {
                if let Err(e) = t.mm.write_obj(UserAddr(hp + MMSG_LEN_OFF), &(n as u32)) {
                    if got == 0 {
                        return Err(e);
                    }
                    break;
                }
                got += 1;
            }
            Err(e) => {
                if got == 0 {
                    return Err(e);
                }
                break;
            }
        }
        if flags & MSG_WAITFORONE != 0 {
            flags |= MSG_DONTWAIT;
        }
        if end.is_some_and(|e| mono_ns(&t.kernel) >= e) {
            break;
        }
    }
    if let Some(e) = end {
        let left = e.saturating_sub(mono_ns(&t.kernel));
        let ts = Timespec {
            tv_sec: (left / 1_000_000_000) as i64,
            tv_nsec: (left % 1_000_000_000) as i64,
        };
        t.mm.write_obj(UserAddr(tsp), &ts)?;
    }
    Ok(got as u64)
}
