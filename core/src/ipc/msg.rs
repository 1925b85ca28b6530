//! System V message queues: msgget, msgsnd, msgrcv, msgctl (Linux's
//! `ipc/msg.c`).
//!
//! A queue holds typed messages in arrival order, bounded by
//! `msg_qbytes` (bytes, and as many messages as bytes, as Linux counts).
//! msgrcv picks by type: the first message (0), the first of a type
//! (> 0, or the first of any other type with `MSG_EXCEPT`), the first of
//! the lowest type up to |type| (< 0), or with `MSG_COPY` (which needs
//! `IPC_NOWAIT`) a copy of the message at that position, left in place.
//! A message longer than the buffer is `E2BIG` unless `MSG_NOERROR`
//! truncates it. Senders wait for room and receivers for a message on the
//! queue's wait queue (with `IPC_NOWAIT`: `EAGAIN` and `ENOMSG`); a signal
//! ends the wait with `ERESTARTNOHAND` (restarted only if no handler ran,
//! as Linux), IPC_RMID with `EIDRM`.
//!
//! Left out: Linux hands a new message straight to a waiting receiver
//! (pipelined send) and queues waiters in order; here every waiter looks
//! again when woken.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use veil_abi::flags::CAP_SYS_RESOURCE;
use veil_abi::ipc::*;
use veil_abi::Errno;

use super::{now_secs, IpcNamespace, IpcObject, Lookup, Perm};
use crate::host::WakeReason;
use crate::task::Task;
use crate::vfs::waitq::WaitQueue;
use crate::{SysResult, UserAddr};

struct Msg {
    mtype: i64,
    data: Vec<u8>,
}

/// One message queue (Linux's `msg_queue`).
pub(crate) struct MsgQueue {
    pub perm: Perm,
    msgs: VecDeque<Msg>,
    cbytes: u64,
    qbytes: u64,
    stime: i64,
    rtime: i64,
    ctime: i64,
    lspid: i32,
    lrpid: i32,
    /// Senders waiting for room.
    senders: Arc<WaitQueue>,
    /// Receivers waiting for a message.
    receivers: Arc<WaitQueue>,
}

impl IpcObject for MsgQueue {
    fn perm(&self) -> &Perm {
        &self.perm
    }
}

impl MsgQueue {
    fn stat(&self) -> Msqid64Ds {
        Msqid64Ds {
            msg_perm: self.perm.to_abi(),
            msg_stime: self.stime,
            msg_rtime: self.rtime,
            msg_ctime: self.ctime,
            msg_cbytes: self.cbytes,
            msg_qnum: self.msgs.len() as u64,
            msg_qbytes: self.qbytes,
            msg_lspid: self.lspid,
            msg_lrpid: self.lrpid,
            ..Msqid64Ds::default()
        }
    }

    /// Linux's `msg_fits_inqueue`.
    fn fits(&self, len: u64) -> bool {
        len + self.cbytes <= self.qbytes && (self.msgs.len() as u64) < self.qbytes
    }
}

/// How msgrcv picks (Linux's `convert_mode`).
#[derive(Clone, Copy)]
enum Search {
    Any,
    Equal(i64),
    NotEqual(i64),
    LessEqual(i64),
    Number(i64),
}

/// The position of the message `how` picks.
fn find(msgs: &VecDeque<Msg>, how: Search) -> Option<usize> {
    match how {
        Search::Any => (!msgs.is_empty()).then_some(0),
        Search::Equal(ty) => msgs.iter().position(|m| m.mtype == ty),
        Search::NotEqual(ty) => msgs.iter().position(|m| m.mtype != ty),
        Search::Number(n) => usize::try_from(n).ok().filter(|&n| n < msgs.len()),
        Search::LessEqual(ty) => {
            let mut best: Option<usize> = None;
            for (i, m) in msgs.iter().enumerate() {
                if m.mtype <= ty && best.is_none_or(|b| m.mtype < msgs[b].mtype) {
                    best = Some(i);
                }
            }
            best
        }
    }
}

/// msgget(2).
pub fn msgget(t: &Task, key: i32, flags: u32) -> Result<i32, Errno> {
    let ns = super::ns(t);
    let mut tab = ns.msg.lock();
    if let Lookup::Found(id) = tab.lookup(&t.creds, key, flags, |_| Ok(()))? {
        return Ok(id as i32);
    }
    let (idx, id) = tab.alloc()?;
    tab.entries.insert(
        idx,
        MsgQueue {
            perm: Perm::new(&t.creds, key, id, flags),
            msgs: VecDeque::new(),
            cbytes: 0,
            qbytes: MSGMNB as u64,
            stime: 0,
            rtime: 0,
            ctime: now_secs(&t.kernel),
            lspid: 0,
            lrpid: 0,
            senders: Arc::new(WaitQueue::new()),
            receivers: Arc::new(WaitQueue::new()),
        },
    );
    Ok(id)
}

/// msgsnd(2).
pub fn msgsnd(t: &Task, id: i32, msgp: u64, size: u64, flags: u32) -> SysResult {
    let mtype: i64 = t.mm.read_obj(UserAddr(msgp))?;
    if size > MSGMAX as u64 || (size as i64) < 0 || id < 0 {
        return Err(Errno::EINVAL);
    }
    if mtype < 1 {
        return Err(Errno::EINVAL);
    }
    let mut data = vec![0u8; size as usize];
    t.mm.copy_in(UserAddr(msgp + 8), &mut data)?;
    let ns = super::ns(t);
    let mut mine: Option<Arc<WaitQueue>> = None;
    let mut msg = Some(Msg { mtype, data });
    loop {
        let mut tab = ns.msg.lock();
        let q = match tab.get_mut(id) {
            Ok(q) if mine.as_ref().is_none_or(|m| Arc::ptr_eq(m, &q.senders)) => q,
            _ if mine.is_some() => return Err(Errno::EIDRM),
            _ => return Err(Errno::EINVAL),
        };
        q.perm.check(&t.creds, 0o222)?;
        if q.fits(size) {
            if let Some(m) = msg.take() {
                q.msgs.push_back(m);
            }
            q.cbytes += size;
            q.lspid = t.pid();
            q.stime = now_secs(&t.kernel);
            let wq = q.receivers.clone();
            drop(tab);
            wq.notify();
            return Ok(0);
        }
        if flags & IPC_NOWAIT != 0 {
            return Err(Errno::EAGAIN);
        }
        let wq = q.senders.clone();
        wq.register(&t.blocker);
        mine = Some(wq.clone());
        drop(tab);
        let why = t.blocker.block(None);
        wq.unregister(&t.blocker);
        if why == WakeReason::Interrupted {
            return Err(Errno::ERESTARTNOHAND);
        }
    }
}

/// msgrcv(2).
pub fn msgrcv(t: &Task, id: i32, msgp: u64, size: u64, msgtyp: i64, flags: u32) -> SysResult {
    if id < 0 || (size as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    let how = if flags & MSG_COPY != 0 {
        if flags & MSG_EXCEPT != 0 || flags & IPC_NOWAIT == 0 {
            return Err(Errno::EINVAL);
        }
        Search::Number(msgtyp)
    } else if msgtyp == 0 {
        Search::Any
    } else if msgtyp < 0 {
        Search::LessEqual(if msgtyp == i64::MIN {
            i64::MAX
        } else {
            -msgtyp
        })
    } else if flags & MSG_EXCEPT != 0 {
        Search::NotEqual(msgtyp)
    } else {
        Search::Equal(msgtyp)
    };
    let ns = super::ns(t);
    let mut mine: Option<Arc<WaitQueue>> = None;
    let msg = loop {
        let mut tab = ns.msg.lock();
        let q = match tab.get_mut(id) {
            Ok(q) if mine.as_ref().is_none_or(|m| Arc::ptr_eq(m, &q.receivers)) => q,
            _ if mine.is_some() => return Err(Errno::EIDRM),
            _ => return Err(Errno::EINVAL),
        };
        q.perm.check(&t.creds, 0o444)?;
        if let Some(i) = find(&q.msgs, how) {
            let len = q.msgs[i].data.len() as u64;
            if size < len && flags & MSG_NOERROR == 0 {
                return Err(Errno::E2BIG);
            }
            if flags & MSG_COPY != 0 {
                if len > size.min(MSGMAX as u64) {
                    return Err(Errno::EINVAL);
                }
                let m = &q.msgs[i];
                break Msg {
                    mtype: m.mtype,
                    data: m.data.clone(),
                };
            }
            let Some(m) = q.msgs.remove(i) else {
                return Err(Errno::EINVAL);
            };
            q.cbytes -= len;
            q.rtime = now_secs(&t.kernel);
            q.lrpid = t.pid();
            let wq = q.senders.clone();
            drop(tab);
            wq.notify();
            break m;
        }
        if flags & IPC_NOWAIT != 0 {
            return Err(Errno::ENOMSG);
        }
        let wq = q.receivers.clone();
        wq.register(&t.blocker);
        mine = Some(wq.clone());
        drop(tab);
        let why = t.blocker.block(None);
        wq.unregister(&t.blocker);
        if why == WakeReason::Interrupted {
            return Err(Errno::ERESTARTNOHAND);
        }
    };
    let n = (size as usize).min(msg.data.len());
    t.mm.write_obj(UserAddr(msgp), &msg.mtype)?;
    t.mm.copy_out(UserAddr(msgp + 8), &msg.data[..n])?;
    Ok(n as u64)
}

/// msgctl(2).
pub fn msgctl(t: &Task, id: i32, cmd: i32, buf: u64) -> SysResult {
    if cmd < 0 || id < 0 {
        return Err(Errno::EINVAL);
    }
    let ns = super::ns(t);
    let out = UserAddr(buf);
    match cmd {
        IPC_INFO | MSG_INFO => {
            let (max, ids, hdrs, bytes) = {
                let tab = ns.msg.lock();
                let hdrs: usize = tab.entries.values().map(|q| q.msgs.len()).sum();
                let bytes: u64 = tab.entries.values().map(|q| q.cbytes).sum();
                (tab.max_idx(), tab.entries.len(), hdrs, bytes)
            };
            let mut info = Msginfo {
                msgmni: MSGMNI as i32,
                msgmax: MSGMAX as i32,
                msgmnb: MSGMNB as i32,
                msgssz: MSGSSZ as i32,
                msgseg: MSGSEG,
                msgmap: MSGMAP as i32,
                msgpool: MSGPOOL as i32,
                msgtql: MSGTQL as i32,
                pad: 0,
            };
            if cmd == MSG_INFO {
                info.msgpool = ids as i32;
                info.msgmap = hdrs as i32;
                info.msgtql = bytes as i32;
            }
            t.mm.write_obj(out, &info)?;
            Ok(max)
        }
        IPC_STAT | MSG_STAT | MSG_STAT_ANY => {
            let (ds, ret) = {
                let tab = ns.msg.lock();
                let q = if cmd == IPC_STAT {
                    tab.get(id)?
                } else {
                    tab.at_index(id)?
                };
                if cmd != MSG_STAT_ANY {
                    q.perm.check(&t.creds, 0o444)?;
                }
                let ret = if cmd == IPC_STAT { 0 } else { q.perm.id };
                (q.stat(), ret)
            };
            t.mm.write_obj(out, &ds)?;
            Ok(ret as u64)
        }
        IPC_SET => {
            let ds: Msqid64Ds = t.mm.read_obj(out)?;
            let wq = {
                let mut tab = ns.msg.lock();
                let q = tab.get_mut(id)?;
                q.perm.check_owner(&t.creds)?;
                if ds.msg_qbytes > MSGMNB as u64 && !t.creds.capable(CAP_SYS_RESOURCE) {
                    return Err(Errno::EPERM);
                }
                q.perm.set(&ds.msg_perm)?;
                q.qbytes = ds.msg_qbytes;
                q.ctime = now_secs(&t.kernel);
                (q.senders.clone(), q.receivers.clone())
            };
            wq.0.notify();
            wq.1.notify();
            Ok(0)
        }
        IPC_RMID => {
            let gone = {
                let mut tab = ns.msg.lock();
                tab.get(id)?.perm.check_owner(&t.creds)?;
                tab.remove(id)
            };
            if let Some(q) = gone {
                q.senders.notify();
                q.receivers.notify();
            }
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// `/proc/sysvipc/msg`.
pub(crate) fn proc_text(ns: &IpcNamespace) -> String {
    let mut s = String::from(
        "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n",
    );
    for q in ns.msg.lock().entries.values() {
        let p = &q.perm;
        s.push_str(&format!(
            "{:10} {:10}  {:4o}  {:10} {:10} {:5} {:5} {:5} {:5} {:5} {:5} {:10} {:10} {:10}\n",
            p.key,
            p.id,
            p.mode,
            q.cbytes,
            q.msgs.len(),
            q.lspid,
            q.lrpid,
            p.uid,
            p.gid,
            p.cuid,
            p.cgid,
            q.stime,
            q.rtime,
            q.ctime
        ));
    }
    s
}
