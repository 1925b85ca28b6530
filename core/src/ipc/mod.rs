//! System V IPC: shared memory segments ([`shm`]), semaphore sets
//! ([`sem`]) and message queues ([`msg`]), as Linux's `ipc/`.
//!
//! Every object lives in an [`IpcNamespace`]: the kernel holds the
//! sandbox's first one (`Kernel::ipc`); a process that unshared or cloned
//! with `CLONE_NEWIPC`, or joined one with setns, holds its own
//! (`ThreadGroup::ipc_ns`), and objects die with their namespace (a
//! namespace file, `/proc/<pid>/ns/ipc`, keeps it alive). Each kind has one table ([`Ids`]) under one
//! lock: ids are `seq * 32768 + index` with indexes handed out cyclically
//! (Linux 5.1+), keys are looked up in it, and `IPC_PRIVATE` always makes
//! a new object. Permissions follow Linux's `ipcperms` (owner, then
//! creator, then group bits; `CAP_IPC_OWNER` passes), and `IPC_SET` /
//! `IPC_RMID` are for the owner, the creator or `CAP_SYS_ADMIN`
//! (`EPERM`). The limits are Linux's defaults, which procfs shows
//! read-only in `/proc/sys/kernel/{shmmax,shmall,shmmni,sem,msgmax,
//! msgmnb,msgmni}`; [`proc_text`] is `/proc/sysvipc/{shm,sem,msg}`.
//!
//! Blocking (semop, msgsnd, msgrcv) sleeps on an object's
//! [`WaitQueue`](crate::vfs::waitq::WaitQueue) through the task's blocker,
//! re-checking after every change; a signal interrupts it.
//!
//! Left out: the writable sysctls (the limits are fixed), `IPC_64`
//! command bits (x86-64 Linux refuses them too), the old (non-64)
//! structure layouts, `shm_rmid_forced`, and `SHM_HUGETLB` (no huge pages
//! are reserved: `ENOMEM`).

pub mod msg;
pub mod sem;
pub mod shm;
#[cfg(test)]
mod tests;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;

use spin::Mutex;
use veil_abi::flags::CAP_SYS_ADMIN;
use veil_abi::ipc::*;
use veil_abi::Errno;

use crate::task::{Credentials, Task, ThreadGroup};
use crate::Kernel;

/// One IPC namespace: its segments, semaphore sets and message queues.
pub struct IpcNamespace {
    id: u64,
    pub(crate) shm: Mutex<Ids<shm::Segment>>,
    pub(crate) sem: Mutex<Ids<sem::SemArray>>,
    pub(crate) msg: Mutex<Ids<msg::MsgQueue>>,
}

impl IpcNamespace {
    /// A new, empty namespace.
    pub fn new() -> Arc<IpcNamespace> {
        Self::numbered(crate::vfs::mount::next_ns_id())
    }

    /// The sandbox's first namespace, numbered as Linux numbers the
    /// initial one.
    pub fn initial() -> Arc<IpcNamespace> {
        Self::numbered(4_026_531_839)
    }

    fn numbered(id: u64) -> Arc<IpcNamespace> {
        Arc::new(IpcNamespace {
            id,
            shm: Mutex::new(Ids::new(SHMMNI)),
            sem: Mutex::new(Ids::new(SEMMNI)),
            msg: Mutex::new(Ids::new(MSGMNI)),
        })
    }

    /// The namespace's number (`/proc/<pid>/ns/ipc`).
    pub fn ns_id(&self) -> u64 {
        self.id
    }
}

/// The IPC namespace of process `tg`.
pub fn ns_of(kernel: &Kernel, tg: &ThreadGroup) -> Arc<IpcNamespace> {
    tg.ipc_ns
        .lock()
        .clone()
        .unwrap_or_else(|| kernel.ipc.clone())
}

/// The caller's IPC namespace.
pub(crate) fn ns(t: &Task) -> Arc<IpcNamespace> {
    ns_of(&t.kernel, &t.tg)
}

/// unshare(CLONE_NEWIPC): the caller's process gets a new, empty
/// namespace (and, as Linux, leaves its semaphore undo list).
pub fn unshare(t: &Task) {
    sem::exit_sem(t);
    *t.tg.ipc_ns.lock() = Some(IpcNamespace::new());
}

/// setns to an IPC namespace: the process leaves its undo list (as
/// Linux's `ipcns_install`) and joins `ns`.
pub fn join(t: &Task, ns: Arc<IpcNamespace>) {
    sem::exit_sem(t);
    *t.tg.ipc_ns.lock() = Some(ns);
}

/// What the last thread of an exiting process leaves: its semaphore
/// adjustments (when it is the last holder of its undo list) and its
/// segment attachments (so that a parent that waited for it sees the
/// attach count drop at once).
pub fn exit_task(t: &Task) {
    sem::exit_sem(t);
    shm::detach_all(t);
}

/// unshare(CLONE_SYSVSEM): the process leaves its undo list.
pub fn unshare_sysvsem(t: &Task) {
    sem::exit_sem(t);
}

/// The permission part of an object (Linux's `kern_ipc_perm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Perm {
    pub key: i32,
    pub id: i32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    /// Permission bits, plus `SHM_DEST` / `SHM_LOCKED` for segments.
    pub mode: u32,
}

impl Perm {
    /// A new object's: created by `c` with `flags`' low nine bits.
    pub fn new(c: &Credentials, key: i32, id: i32, flags: u32) -> Perm {
        Perm {
            key,
            id,
            uid: c.euid,
            gid: c.egid,
            cuid: c.euid,
            cgid: c.egid,
            mode: flags & 0o777,
        }
    }

    /// Linux's `ipcperms`: may `c` have the access `flag`'s bits ask
    /// (read 4, write 2, in any of the three positions)?
    pub fn allows(&self, c: &Credentials, flag: u32) -> bool {
        let requested = (flag >> 6) | (flag >> 3) | flag;
        let mut granted = self.mode;
        if c.euid == self.cuid || c.euid == self.uid {
            granted >>= 6;
        } else if c.in_group(self.cgid) || c.in_group(self.gid) {
            granted >>= 3;
        }
        requested & !granted & 0o7 == 0 || c.capable(CAP_IPC_OWNER)
    }

    /// `EACCES` unless [`allows`](Perm::allows).
    pub fn check(&self, c: &Credentials, flag: u32) -> Result<(), Errno> {
        if self.allows(c, flag) {
            Ok(())
        } else {
            Err(Errno::EACCES)
        }
    }

    /// Linux's `ipcctl_obtain_check`: IPC_SET and IPC_RMID are for the
    /// owner, the creator, or `CAP_SYS_ADMIN`.
    pub fn check_owner(&self, c: &Credentials) -> Result<(), Errno> {
        if c.euid == self.cuid || c.euid == self.uid || c.capable(CAP_SYS_ADMIN) {
            Ok(())
        } else {
            Err(Errno::EPERM)
        }
    }

    /// IPC_SET's change (`ipc_update_perm`): owner, group and the
    /// permission bits; `EINVAL` for the ids -1.
    pub fn set(&mut self, from: &Ipc64Perm) -> Result<(), Errno> {
        if from.uid == u32::MAX || from.gid == u32::MAX {
            return Err(Errno::EINVAL);
        }
        self.uid = from.uid;
        self.gid = from.gid;
        self.mode = (self.mode & !0o777) | (from.mode & 0o777);
        Ok(())
    }

    /// As `struct ipc64_perm`.
    pub fn to_abi(self) -> Ipc64Perm {
        Ipc64Perm {
            key: self.key,
            uid: self.uid,
            gid: self.gid,
            cuid: self.cuid,
            cgid: self.cgid,
            mode: self.mode,
            seq: (self.id as u32 / IPCMNI) as u16,
            ..Ipc64Perm::default()
        }
    }
}

/// What every object kind exposes to the table.
pub(crate) trait IpcObject {
    fn perm(&self) -> &Perm;
}

/// One kind's objects, by index (Linux's `ipc_ids`).
pub(crate) struct Ids<T> {
    pub entries: BTreeMap<u32, T>,
    /// Where the next cyclic index search starts.
    next: u32,
    seq: u32,
    /// The most objects there may be (`shmmni`, ...).
    mni: u32,
}

/// How a get call went: a new object is wanted, or an existing one's id.
pub(crate) enum Lookup {
    Create,
    Found(u32),
}

impl<T: IpcObject> Ids<T> {
    fn new(mni: u32) -> Ids<T> {
        Ids {
            entries: BTreeMap::new(),
            next: 0,
            seq: 0,
            mni,
        }
    }

    /// A fresh (index, id), or `ENOSPC` at the limit.
    pub fn alloc(&mut self) -> Result<(u32, i32), Errno> {
        let max = self.mni.min(IPCMNI);
        if self.entries.len() as u32 >= max {
            return Err(Errno::ENOSPC);
        }
        let mut idx = self.next % max;
        while self.entries.contains_key(&idx) {
            idx = (idx + 1) % max;
        }
        if idx < self.next {
            self.seq = (self.seq + 1) % (i32::MAX as u32 / IPCMNI);
        }
        self.next = idx + 1;
        Ok((idx, (self.seq * IPCMNI + idx) as i32))
    }

    /// The object whose id is `id` (`EINVAL` if none).
    pub fn get(&self, id: i32) -> Result<&T, Errno> {
        if id < 0 {
            return Err(Errno::EINVAL);
        }
        self.entries
            .get(&(id as u32 % IPCMNI))
            .filter(|o| o.perm().id == id)
            .ok_or(Errno::EINVAL)
    }

    /// The object whose id is `id`, mutably.
    pub fn get_mut(&mut self, id: i32) -> Result<&mut T, Errno> {
        if id < 0 {
            return Err(Errno::EINVAL);
        }
        self.entries
            .get_mut(&(id as u32 % IPCMNI))
            .filter(|o| o.perm().id == id)
            .ok_or(Errno::EINVAL)
    }

    /// The object at index `idx` (the *_STAT commands).
    pub fn at_index(&self, idx: i32) -> Result<&T, Errno> {
        u32::try_from(idx)
            .ok()
            .and_then(|i| self.entries.get(&i))
            .ok_or(Errno::EINVAL)
    }

    /// Removes the object whose id is `id`.
    pub fn remove(&mut self, id: i32) -> Option<T> {
        let idx = id as u32 % IPCMNI;
        if self.entries.get(&idx)?.perm().id != id {
            return None;
        }
        self.entries.remove(&idx)
    }

    /// The highest index in use (0 if none), as the *_INFO commands
    /// answer.
    pub fn max_idx(&self) -> u64 {
        self.entries.keys().next_back().map_or(0, |&i| i as u64)
    }

    /// The get-call part common to every kind (Linux's `ipcget`):
    /// `IPC_PRIVATE` always creates; a missing key creates with
    /// `IPC_CREAT` (else `ENOENT`); a present one is `EEXIST` with
    /// `IPC_CREAT | IPC_EXCL`, then `more` checks it (sizes), then the
    /// mode bits of `flags` are checked against it (`EACCES`).
    pub fn lookup(
        &self,
        c: &Credentials,
        key: i32,
        flags: u32,
        more: impl FnOnce(&T) -> Result<(), Errno>,
    ) -> Result<Lookup, Errno> {
        if key == IPC_PRIVATE {
            return Ok(Lookup::Create);
        }
        let found = self.entries.values().find(|o| o.perm().key == key);
        let Some(o) = found else {
            return if flags & IPC_CREAT != 0 {
                Ok(Lookup::Create)
            } else {
                Err(Errno::ENOENT)
            };
        };
        if flags & (IPC_CREAT | IPC_EXCL) == IPC_CREAT | IPC_EXCL {
            return Err(Errno::EEXIST);
        }
        more(o)?;
        o.perm().check(c, flags)?;
        Ok(Lookup::Found(o.perm().id as u32))
    }
}

/// Realtime seconds (the times IPC_STAT shows).
pub(crate) fn now_secs(kernel: &Kernel) -> i64 {
    kernel.clock.realtime().tv_sec
}

/// Which `/proc/sysvipc` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcFile {
    /// `shm`.
    Shm,
    /// `sem`.
    Sem,
    /// `msg`.
    Msg,
}

/// The text of `/proc/sysvipc/{shm,sem,msg}` for namespace `ns`, in
/// Linux's format (what `ipcs` reads).
pub fn proc_text(ns: &IpcNamespace, which: ProcFile) -> String {
    match which {
        ProcFile::Shm => shm::proc_text(ns),
        ProcFile::Sem => sem::proc_text(ns),
        ProcFile::Msg => msg::proc_text(ns),
    }
}
