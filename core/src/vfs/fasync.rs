//! Signal-driven I/O: `O_ASYNC` (`FIOASYNC`), `F_SETOWN` / `F_SETOWN_EX`
//! and `F_SETSIG`, as Linux's `fs/fcntl.c` (`f_setown`, `kill_fasync`).
//!
//! Every description has an owner ([`Fown`]: a thread, a process or a
//! process group, and the signal to send, 0 meaning plain SIGIO). While the
//! description has `O_ASYNC` and its file has a wait queue, a
//! [`AsyncWatch`] watches that queue (see [`super::waitq`]): on every change
//! it polls the file and, when the file is readable, or has just become
//! writable or hung up, signals the owner. With `F_SETSIG` the signal is
//! that number, with a siginfo naming the reason (`POLL_IN`, `POLL_OUT`,
//! `POLL_HUP`, `POLL_ERR`), the band (the poll bits) and the fd the
//! description had when `O_ASYNC` was set; without, SIGIO with `SI_KERNEL`.
//! If the real-time signal cannot be queued, plain SIGIO goes instead.
//!
//! Linux sends from each file kind's own wake-up points (a pipe write
//! signals readers, a read signals writers); veil's single hook on the
//! wait queue may signal a reader again while data is left after a
//! partial read. Programs using SIGIO read until `EAGAIN`, so an extra
//! signal costs a wasted read, never a lost one.
//!
//! Setting an owner records the setter's real and effective uid (Linux's
//! `f_modown`); a signal then reaches a target only if that euid is root's
//! or either uid is the target's real or saved uid (`sigio_perm`), checked
//! per process of a group owner (its leader's credentials, as Linux's
//! `send_sigio_to_task`) and against the thread itself for a thread
//! owner. A description without an owner gets one when `O_ASYNC` is set
//! on a terminal (the foreground group of a slave's controlling session,
//! else the caller: Linux's `__tty_fasync`) and on `F_NOTIFY` (the
//! caller).

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use spin::Mutex;
use veil_abi::flags::{
    EPOLLMSG as POLLMSG, EPOLLRDBAND as POLLRDBAND, EPOLLWRBAND as POLLWRBAND, POLLERR, POLLHUP,
    POLLIN, POLLOUT, POLLPRI, POLLRDNORM, POLLWRNORM, SIGIO, SI_KERNEL,
};
use veil_abi::{Errno, Siginfo};

use super::file::OpenFile;
use super::waitq::Watcher;
use crate::kernel::Kernel;
use crate::signal::Dest;
use crate::task::{Pid, Task};

/// `F_OWNER_TID`.
pub const F_OWNER_TID: i32 = 0;
/// `F_OWNER_PID`.
pub const F_OWNER_PID: i32 = 1;
/// `F_OWNER_PGRP`.
pub const F_OWNER_PGRP: i32 = 2;

/// `si_code`s of SIGPOLL (`POLL_IN` ... `POLL_HUP`).
const POLL_IN: i32 = 1;
const POLL_OUT: i32 = 2;
/// `POLL_MSG`: what dnotify sends.
pub const POLL_MSG: i32 = 3;
const POLL_ERR: i32 = 4;
const POLL_HUP: i32 = 6;

/// Who gets a description's signals, and which signal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fown {
    /// `F_OWNER_TID`, `F_OWNER_PID` or `F_OWNER_PGRP`.
    pub kind: i32,
    /// The thread, process or group; 0 for nobody.
    pub id: Pid,
    /// `F_SETSIG`'s signal; 0 for plain SIGIO.
    pub signum: u32,
    /// The real uid of whoever set the owner.
    pub uid: u32,
    /// Their effective uid.
    pub euid: u32,
}

impl Fown {
    /// `F_GETOWN`'s answer: a pid, or a negated group (a thread owner
    /// reads as its id, as Linux's `f_getown` shows any pid).
    pub fn getown(&self) -> i64 {
        if self.kind == F_OWNER_PGRP {
            -(self.id as i64)
        } else {
            self.id as i64
        }
    }
}

/// True if `id` names something that can own a description as `kind`
/// (Linux's `find_vpid`: any live pid, or a process group).
fn owner_exists(kernel: &Kernel, kind: i32, id: Pid) -> bool {
    match kind {
        F_OWNER_PGRP => {
            kernel.thread_group(id).is_some()
                || kernel.processes().iter().any(|g| *g.pgid.lock() == id)
        }
        _ => kernel.thread_group(id).is_some(),
    }
}

/// `F_SETOWN` (`who` < 0 names a process group) and `F_SETOWN_EX`.
pub fn set_owner(task: &Task, file: &OpenFile, kind: i32, id: i64) -> Result<(), Errno> {
    if !matches!(kind, F_OWNER_TID | F_OWNER_PID | F_OWNER_PGRP) {
        return Err(Errno::EINVAL);
    }
    // A negative or unknown id names no pid (find_vpid fails).
    let id = Pid::try_from(id).map_err(|_| Errno::ESRCH)?;
    if id < 0 {
        return Err(Errno::ESRCH);
    }
    if id != 0 && !owner_exists(&task.kernel, kind, id) {
        return Err(Errno::ESRCH);
    }
    let mut o = file.fown.lock();
    o.kind = kind;
    o.id = id;
    if id != 0 {
        o.uid = task.creds.uid;
        o.euid = task.creds.euid;
    }
    Ok(())
}

/// Gives `file` the owner `kind` / `id` if it has none, recorded with the
/// caller's credentials (Linux's `__f_setown` without force).
pub fn own_if_unset(task: &Task, file: &OpenFile, kind: i32, id: Pid) {
    let mut o = file.fown.lock();
    if o.id == 0 {
        o.kind = kind;
        o.id = id;
        o.uid = task.creds.uid;
        o.euid = task.creds.euid;
    }
}

/// Linux's `sigio_perm`: may an owner set by `owner`'s setter signal a
/// task with real, effective and saved uids `ids`?
fn sigio_perm(owner: &Fown, ids: (u32, u32, u32)) -> bool {
    let (uid, _, suid) = ids;
    owner.euid == 0
        || owner.euid == suid
        || owner.euid == uid
        || owner.uid == suid
        || owner.uid == uid
}

/// The uids of the thread `dest` names in `tg` (its leader for the
/// whole group).
fn target_ids(tg: &crate::task::ThreadGroup, dest: Dest) -> Option<(u32, u32, u32)> {
    let sig = tg.signals.lock();
    match dest {
        Dest::Thread(tid) => sig.threads.iter().find(|t| t.tid == tid).map(|t| t.ids),
        _ => sig.threads.first().map(|t| t.ids),
    }
}

/// `F_SETOWN`'s argument: a pid, or a negated process group.
pub fn setown(task: &Task, file: &OpenFile, who: i32) -> Result<(), Errno> {
    if who == i32::MIN {
        return Err(Errno::EINVAL);
    }
    if who < 0 {
        set_owner(task, file, F_OWNER_PGRP, -(who as i64))
    } else {
        set_owner(task, file, F_OWNER_PID, who as i64)
    }
}

/// Watches a description's file for signal-driven I/O (see the module
/// docs).
pub struct AsyncWatch {
    kernel: Weak<Kernel>,
    file: Weak<OpenFile>,
    fd: i32,
    /// The poll bits seen at the last change (edges of POLLOUT, POLLHUP).
    last: AtomicU32,
}

impl Watcher for AsyncWatch {
    fn changed(&self) {
        let (Some(kernel), Some(file)) = (self.kernel.upgrade(), self.file.upgrade()) else {
            return;
        };
        // A hung-up terminal description is out of the async list
        // (Linux's `__tty_hangup` calls `__tty_fasync(-1, filp, 0)`).
        if crate::tty::is_hung_up_file(&*file.ops) {
            return;
        }
        let now = file.ops.poll();
        let before = self.last.swap(now, Ordering::Relaxed);
        let rose = now & !before;
        let reason = if now & POLLIN != 0 && file.readable() {
            Some(POLL_IN)
        } else if rose & POLLHUP != 0 {
            Some(POLL_HUP)
        } else if rose & POLLERR != 0 {
            Some(POLL_ERR)
        } else if rose & POLLOUT != 0 && file.writable() {
            Some(POLL_OUT)
        } else {
            None
        };
        if let Some(reason) = reason {
            let owner = *file.fown.lock();
            send(&kernel, owner, reason, self.fd);
        }
    }
}

/// The band of a SIGPOLL reason (Linux's `band_table`).
fn band(reason: i32) -> u64 {
    (match reason {
        POLL_IN | POLL_MSG => POLLIN | POLLRDNORM | POLLMSG,
        POLL_OUT => POLLOUT | POLLWRNORM | POLLWRBAND,
        POLL_ERR => POLLERR,
        POLL_HUP => POLLHUP | POLLERR,
        _ => POLLPRI | POLLRDBAND,
    }) as u64
}

/// Signals `owner` for `reason` on `fd` (Linux's `send_sigio`).
pub fn send(kernel: &Kernel, owner: Fown, reason: i32, fd: i32) {
    if owner.id == 0 {
        return;
    }
    let targets: Vec<(Arc<crate::task::ThreadGroup>, Dest)> = match owner.kind {
        F_OWNER_PGRP => kernel
            .processes()
            .into_iter()
            .filter(|g| *g.pgid.lock() == owner.id)
            .map(|g| (g, Dest::Group))
            .collect(),
        F_OWNER_TID => kernel
            .thread_group(owner.id)
            .map(|g| (g, Dest::Thread(owner.id)))
            .into_iter()
            .collect(),
        _ => kernel
            .thread_group(owner.id)
            .filter(|g| g.pid == owner.id)
            .map(|g| (g, Dest::Group))
            .into_iter()
            .collect(),
    };
    for (tg, dest) in targets {
        if !target_ids(&tg, dest).is_some_and(|ids| sigio_perm(&owner, ids)) {
            continue;
        }
        if owner.signum != 0 {
            let mut info = Siginfo {
                signo: owner.signum as i32,
                code: reason,
                ..Default::default()
            };
            info.fields[0] = band(reason);
            info.fields[1] = fd as u32 as u64;
            if crate::signal::send(kernel, &tg, dest, info, false, None).is_ok() {
                continue;
            }
        }
        let info = Siginfo {
            signo: SIGIO,
            code: SI_KERNEL,
            ..Default::default()
        };
        let _ = crate::signal::send(kernel, &tg, dest, info, false, None);
    }
}

/// Starts or stops watching `file` (at `fd`) after its `O_ASYNC` flag
/// changed (F_SETFL, FIOASYNC); Linux's `fasync` file operation.
pub fn update(task: &Task, file: &Arc<OpenFile>, fd: i32) {
    let on = file.flags() & veil_abi::flags::O_ASYNC != 0;
    let mut slot = file.fasync.lock();
    match (on, slot.is_some()) {
        (true, false) => {
            if file.ops.is_tty() {
                let (kind, id) = crate::tty::fasync_owner(task, &*file.ops);
                own_if_unset(task, file, kind, id);
            }
            let Some(queue) = file.ops.wait_queue() else {
                return;
            };
            let w = Arc::new(AsyncWatch {
                kernel: Arc::downgrade(&task.kernel),
                file: Arc::downgrade(file),
                fd,
                last: AtomicU32::new(file.ops.poll()),
            });
            let weak: Weak<dyn Watcher> = Arc::downgrade(&w) as Weak<dyn Watcher>;
            queue.watch(weak);
            *slot = Some(w);
        }
        (false, true) => {
            if let (Some(w), Some(queue)) = (slot.take(), file.ops.wait_queue()) {
                let weak: Weak<dyn Watcher> = Arc::downgrade(&w) as Weak<dyn Watcher>;
                queue.unwatch(&weak);
            }
        }
        _ => {}
    }
}

/// A description's watcher slot ([`OpenFile`]'s `fasync`).
pub type AsyncSlot = Mutex<Option<Arc<AsyncWatch>>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn set_by(uid: u32, euid: u32) -> Fown {
        Fown {
            kind: F_OWNER_PID,
            id: 1,
            signum: 0,
            uid,
            euid,
        }
    }

    #[test]
    fn sigio_perm_matches_the_setters_uids_against_real_and_saved() {
        // Root's euid reaches anyone.
        assert!(sigio_perm(&set_by(1000, 0), (5, 5, 5)));
        // Either uid of the setter against the target's real or saved.
        assert!(sigio_perm(&set_by(1000, 1000), (1000, 0, 0)));
        assert!(sigio_perm(&set_by(1000, 1000), (0, 0, 1000)));
        assert!(sigio_perm(&set_by(0, 1000), (0, 0, 0)));
        assert!(sigio_perm(&set_by(7, 1000), (1000, 1000, 1000)));
        // The target's effective uid does not count.
        assert!(!sigio_perm(&set_by(1000, 1000), (0, 1000, 0)));
        assert!(!sigio_perm(&set_by(1000, 1000), (0, 0, 0)));
    }
}
