//! POSIX message queues: mq_open, mq_unlink, mq_timedsend,
//! mq_timedreceive, mq_notify and mq_getsetattr, as Linux's
//! `ipc/mqueue.c`. The queues themselves are in [`queue`]; the sandbox has
//! one [`MqNamespace`](queue::MqNamespace) (`Kernel::mqueue`), which the
//! `mqueue` filesystem shows too.
//!
//! As Linux:
//! - names are single path components (the C library strips the leading
//!   `/`): empty is `ENOENT`, `.`, `..` or one with a `/` `EACCES`, more
//!   than 255 bytes `ENAMETOOLONG`; descriptors are always close-on-exec;
//! - an existing queue is opened with the mode bits' permission check
//!   (`EACCES`), O_RDWR|O_WRONLY is `EINVAL`; a new one gets `mode` less
//!   the umask, and the attributes' checks of [`queue::MqNamespace::create`];
//! - send checks the priority (`EINVAL` from 32768), the descriptor
//!   (`EBADF` if it is not a queue or not open for writing), the size
//!   (`EMSGSIZE`) and reads the message (`EFAULT`) before looking at the
//!   queue; receive needs a buffer of at least `mq_msgsize` (`EMSGSIZE`).
//!   A full (empty) queue answers `EAGAIN` to an O_NONBLOCK descriptor,
//!   otherwise the caller sleeps on the queue until there is room (a
//!   message), the absolute CLOCK_REALTIME timeout passes (`ETIMEDOUT`;
//!   an invalid one is `EINVAL` first of all), or a signal comes
//!   (`ERESTARTSYS`: EINTR, or restarted under SA_RESTART);
//! - mq_notify: `SIGEV_NONE`, `SIGEV_SIGNAL` (signal 0 registers but
//!   sends nothing) and `SIGEV_THREAD`. The last one needs a netlink
//!   socket (glibc makes one and answers `ENOSYS` when it cannot); veil
//!   has no netlink, so the raw call answers as Linux does for a
//!   descriptor that is not one: `EBADF`, `ENOTSOCK` for a file,
//!   `EINVAL` for another socket. One registration per queue
//!   (`EBUSY`); the signal carries `SI_MESGQ`, the sender's pid and uid
//!   and the registered value, and goes when a message arrives in an
//!   empty queue with no receiver waiting.

pub mod queue;

use alloc::sync::Arc;
use alloc::vec;

use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, Sigevent, Timespec};

use self::queue::{Create, MqAttr, MqFile, MsgQueue, Sender, MQ_PRIO_MAX};
use super::epoll::install;
use super::{arg, Handler};
use crate::host::WakeReason;
use crate::process::{mono_ns, ts_ns, valid_ns};
use crate::task::Task;
use crate::vfs::{perm, OpenFile};
use crate::{SysResult, UserAddr};

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        MQ_OPEN => sys_mq_open,
        MQ_UNLINK => sys_mq_unlink,
        MQ_TIMEDSEND => sys_mq_timedsend,
        MQ_TIMEDRECEIVE => sys_mq_timedreceive,
        MQ_NOTIFY => sys_mq_notify,
        MQ_GETSETATTR => sys_mq_getsetattr,
        _ => return None,
    })
}

/// Linux's `NOTIFY_COOKIE_LEN`: the bytes `SIGEV_THREAD` reads from
/// `sigev_value`.
const NOTIFY_COOKIE_LEN: usize = 32;

/// getname and lookup_one_len's checks on a queue name.
fn queue_name(t: &Task, addr: u64) -> Result<alloc::vec::Vec<u8>, Errno> {
    let name = t.mm.read_cstring(UserAddr(addr), PATH_MAX)?;
    if name.is_empty() {
        return Err(Errno::ENOENT);
    }
    if name == b"." || name == b".." || name.contains(&b'/') {
        return Err(Errno::EACCES);
    }
    if name.len() > 255 {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(name)
}

/// The attributes of the queues' root directory (mode 1777, root's).
fn root_attr() -> crate::vfs::InodeAttr {
    crate::vfs::InodeAttr {
        mode: S_IFDIR | 0o1777,
        ..Default::default()
    }
}

fn sys_mq_open(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let oflag = arg::uint(a[1]);
    let attr = if a[3] != 0 {
        let w: [i64; 8] = t.mm.read_obj(UserAddr(a[3]))?;
        Some(MqAttr::from_words(&w))
    } else {
        None
    };
    let name = queue_name(t, a[0])?;
    let ns = &t.kernel.mqueue;
    let now = t.kernel.clock.realtime();
    let q = match ns.lookup(&name) {
        Some(q) => {
            if oflag & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL {
                return Err(Errno::EEXIST);
            }
            let want = match oflag & O_ACCMODE {
                O_RDONLY => R_OK,
                O_WRONLY => W_OK,
                O_RDWR => R_OK | W_OK,
                _ => return Err(Errno::EINVAL),
            };
            perm::check(&t.creds, &crate::vfs::Inode::attr(&*q)?, want)?;
            q
        }
        None => {
            if oflag & O_CREAT == 0 {
                return Err(Errno::ENOENT);
            }
            perm::may_create(&t.creds, &root_attr())?;
            let umask = t.fs.lock().umask;
            ns.create(
                &name,
                Create {
                    uid: t.creds.uid,
                    owner: (t.creds.fsuid, t.creds.fsgid),
                    privileged: t.creds.capable(CAP_SYS_RESOURCE),
                    mode: arg::uint(a[2]) & 0o7777 & !umask,
                    attr: attr.map(|at| (at.maxmsg, at.msgsize)),
                    rlimit: t.rlimit(RLIMIT_MSGQUEUE),
                    now,
                },
            )?
        }
    };
    let flags = oflag & !(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC);
    let file = OpenFile::new(q.open_file(), Some(q.location(&name)), flags);
    install(t, file, true)
}

fn sys_mq_unlink(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let name = queue_name(t, a[0])?;
    let ns = &t.kernel.mqueue;
    let q = ns.lookup(&name).ok_or(Errno::ENOENT)?;
    perm::may_delete(&t.creds, &root_attr(), &crate::vfs::Inode::attr(&*q)?)?;
    ns.unlink(&name, t.kernel.clock.realtime())?;
    Ok(0)
}

/// The queue behind descriptor `fd` (`EBADF` if it is not one).
fn queue_file(t: &Task, fd: i32) -> Result<(Arc<OpenFile>, Arc<MsgQueue>, u64), Errno> {
    let f = t.fds.file(fd)?;
    let (q, id) = {
        let mf = f
            .ops
            .as_any()
            .downcast_ref::<MqFile>()
            .ok_or(Errno::EBADF)?;
        (mf.queue.clone(), mf.id)
    };
    Ok((f, q, id))
}

/// Reads an absolute CLOCK_REALTIME timeout (`EFAULT`, `EINVAL`) and
/// turns it into a monotonic deadline.
fn deadline(t: &Task, addr: u64) -> Result<Option<u64>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let ts: Timespec = t.mm.read_obj(UserAddr(addr))?;
    let abs = valid_ns(&ts)?;
    let now_rt = ts_ns(&t.kernel.clock.realtime());
    let now = mono_ns(&t.kernel);
    Ok(Some(now.saturating_add(abs.saturating_sub(now_rt))))
}

/// Runs `op` until it stops answering `EAGAIN`, sleeping on the queue in
/// between (Linux's `wq_sleep`), unless the description is O_NONBLOCK.
/// `ready` is the poll bit that means "try again".
fn wait_on<R>(
    t: &Task,
    file: &OpenFile,
    q: &MsgQueue,
    ready: u32,
    deadline: Option<u64>,
    mut op: impl FnMut() -> Result<R, Errno>,
) -> Result<R, Errno> {
    loop {
        match op() {
            Err(Errno::EAGAIN) if file.flags() & O_NONBLOCK == 0 => {}
            r => return r,
        }
        if deadline.is_some_and(|d| mono_ns(&t.kernel) >= d) {
            return Err(Errno::ETIMEDOUT);
        }
        let receiver = ready & POLLIN != 0;
        if receiver {
            q.receiver_waits(true);
        }
        let wq = q.wait_queue();
        wq.register(&t.blocker);
        let reason = if file.ops.poll() & ready != 0 {
            WakeReason::Woken
        } else {
            t.blocker.block(deadline)
        };
        wq.unregister(&t.blocker);
        if receiver {
            q.receiver_waits(false);
        }
        match reason {
            WakeReason::Interrupted => return Err(Errno::ERESTARTSYS),
            WakeReason::TimedOut => {
                return match op() {
                    Err(Errno::EAGAIN) => Err(Errno::ETIMEDOUT),
                    r => r,
                }
            }
            WakeReason::Woken => {}
        }
    }
}

fn sys_mq_timedsend(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (len, prio) = (a[2], arg::uint(a[3]));
    let deadline = deadline(t, a[4])?;
    if prio >= MQ_PRIO_MAX {
        return Err(Errno::EINVAL);
    }
    let (file, q, _) = queue_file(t, arg::fd(a[0]))?;
    if !file.writable() {
        return Err(Errno::EBADF);
    }
    if len > q.msgsize() as u64 {
        return Err(Errno::EMSGSIZE);
    }
    let mut msg = vec![0u8; len as usize];
    t.mm.copy_in(UserAddr(a[1]), &mut msg)?;
    let from = Sender {
        pid: t.pid(),
        uid: t.creds.uid,
    };
    let note = wait_on(t, &file, &q, POLLOUT, deadline, || {
        q.send(&mut msg, prio, &from, t.kernel.clock.realtime())
    })?;
    if let Some((tg, info)) = note.and_then(|n| n.signal) {
        let me = Arc::ptr_eq(&tg, &t.tg).then_some(t.tid);
        let _ = crate::signal::send(&t.kernel, &tg, crate::signal::Dest::Group, info, false, me);
    }
    Ok(0)
}

fn sys_mq_timedreceive(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (len, prio_addr) = (a[2], a[3]);
    let deadline = deadline(t, a[4])?;
    let (file, q, _) = queue_file(t, arg::fd(a[0]))?;
    if !file.readable() {
        return Err(Errno::EBADF);
    }
    if len < q.msgsize() as u64 {
        return Err(Errno::EMSGSIZE);
    }
    let (msg, prio) = wait_on(t, &file, &q, POLLIN, deadline, || {
        q.receive(t.kernel.clock.realtime())
    })?;
    if prio_addr != 0 {
        t.mm.write_obj(UserAddr(prio_addr), &prio)?;
    }
    t.mm.copy_out(UserAddr(a[1]), &msg)?;
    Ok(msg.len() as u64)
}

fn sys_mq_notify(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let sev = if a[1] != 0 {
        let sev: Sigevent = t.mm.read_obj(UserAddr(a[1]))?;
        match sev.sigev_notify {
            SIGEV_NONE => {}
            SIGEV_SIGNAL => {
                if !(0..=64).contains(&sev.sigev_signo) {
                    return Err(Errno::EINVAL);
                }
            }
            SIGEV_THREAD => {
                let mut cookie = [0u8; NOTIFY_COOKIE_LEN];
                t.mm.copy_in(UserAddr(sev.sigev_value), &mut cookie)?;
                // netlink_getsockbyfd: veil has no netlink sockets.
                let f = t.fds.file(sev.sigev_signo)?;
                return Err(
                    if f.ops
                        .as_any()
                        .downcast_ref::<crate::net::SocketFile>()
                        .is_some()
                    {
                        Errno::EINVAL
                    } else {
                        Errno::ENOTSOCK
                    },
                );
            }
            _ => return Err(Errno::EINVAL),
        }
        Some(sev)
    } else {
        None
    };
    let (_file, q, id) = queue_file(t, arg::fd(a[0]))?;
    let now = t.kernel.clock.realtime();
    match sev {
        None => {
            q.unregister(&t.tg, now);
            Ok(0)
        }
        Some(s) => {
            q.register(s.sigev_notify, s.sigev_signo, s.sigev_value, &t.tg, id, now)?;
            Ok(0)
        }
    }
}

fn sys_mq_getsetattr(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let new = if a[1] != 0 {
        let w: [i64; 8] = t.mm.read_obj(UserAddr(a[1]))?;
        Some(MqAttr::from_words(&w))
    } else {
        None
    };
    if new.is_some_and(|n| n.flags & !(O_NONBLOCK as i64) != 0) {
        return Err(Errno::EINVAL);
    }
    let (file, q, _) = queue_file(t, arg::fd(a[0]))?;
    let mut old = q.attr();
    old.flags = (file.flags() & O_NONBLOCK) as i64;
    if let Some(n) = new {
        file.toggle_status_flags(O_NONBLOCK, n.flags & O_NONBLOCK as i64 != 0);
    }
    if a[2] != 0 {
        t.mm.write_obj(UserAddr(a[2]), &old.to_words())?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests;
