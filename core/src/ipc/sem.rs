//! System V semaphores: semget, semop / semtimedop, semctl (Linux's
//! `ipc/sem.c`).
//!
//! A set's operations run atomically under the namespace's semaphore
//! lock: applied in order, rolled back if one would block or overflow
//! (`ERANGE` past `SEMVMX`, or an undo value out of range). A caller that
//! would block (without `IPC_NOWAIT`: `EAGAIN`) records which semaphore
//! it waits on and how (for GETNCNT / GETZCNT: the operation it blocks
//! on, as Linux counts) with its blocker, then sleeps; a change that makes
//! that semaphore positive (or zero, for a wait-for-zero) wakes it to try
//! again, so a decrement wakes nobody; a signal ends the sleep with `EINTR` (semop
//! is never restarted, whatever `SA_RESTART` says), the semtimedop
//! deadline with `EAGAIN`, IPC_RMID with `EIDRM`.
//!
//! `SEM_UNDO` adjustments live in the set, keyed by the undo list's
//! number; a process holds its undo list (`ThreadGroup::sysvsem`), shared
//! with its threads and with children cloned with `CLONE_SYSVSEM`, and
//! when its last holder exits the adjustments are applied (clamped to
//! `0..=SEMVMX`) and waiters woken. SETVAL and SETALL clear the
//! adjustments of the values they set, as Linux does.
//!
//! Left out: waiters are not served in Linux's queue order (each retries
//! when woken); a thread cloned without `CLONE_SYSVSEM` shares its
//! process's undo list.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;
use veil_abi::ipc::*;
use veil_abi::{Errno, Timespec};
use zerocopy::IntoBytes;

use super::{now_secs, IpcNamespace, IpcObject, Lookup, Perm};
use crate::host::{Blocker, WakeReason};
use crate::task::Task;
use crate::{SysResult, UserAddr};

/// One semaphore.
#[derive(Clone, Copy, Default)]
struct Sem {
    val: i32,
    pid: i32,
}

/// A task sleeping in semop: the semaphore it blocks on, whether it
/// waits for zero (else for an increase), and how to wake it.
struct Waiter {
    tag: u64,
    num: u16,
    zero: bool,
    blocker: Arc<dyn Blocker>,
}

/// One semaphore set (Linux's `sem_array`).
pub(crate) struct SemArray {
    pub perm: Perm,
    sems: Vec<Sem>,
    otime: i64,
    ctime: i64,
    /// SEM_UNDO adjustments, by undo list number.
    undos: BTreeMap<u64, Vec<i32>>,
    waiters: Vec<Waiter>,
    /// Tells this set from a later one with the same id.
    serial: u64,
}

impl IpcObject for SemArray {
    fn perm(&self) -> &Perm {
        &self.perm
    }
}

impl SemArray {
    fn stat(&self) -> Semid64Ds {
        Semid64Ds {
            sem_perm: self.perm.to_abi(),
            sem_otime: self.otime,
            sem_ctime: self.ctime,
            sem_nsems: self.sems.len() as u64,
            ..Semid64Ds::default()
        }
    }

    fn count(&self, num: u16, zero: bool) -> u64 {
        self.waiters
            .iter()
            .filter(|w| w.num == num && w.zero == zero)
            .count() as u64
    }

    /// Linux's `perform_atomic_semop_slow`: `Ok(None)` done, `Ok(Some(op))`
    /// would block on `op`, `Err` for `ERANGE` / `EAGAIN`.
    fn perform(
        &mut self,
        sops: &[Sembuf],
        undo: Option<u64>,
        pid: i32,
    ) -> Result<Option<Sembuf>, Errno> {
        let mut adj = undo.and_then(|u| self.undos.remove(&u).map(|v| (u, v)));
        let mut done = 0;
        let mut outcome = Ok(None);
        for op in sops {
            let n = op.sem_num as usize;
            let cur = self.sems[n].val;
            let delta = op.sem_op as i32;
            if delta == 0 && cur != 0 || cur + delta < 0 {
                outcome = if op.sem_flg & IPC_NOWAIT as i16 != 0 {
                    Err(Errno::EAGAIN)
                } else {
                    Ok(Some(*op))
                };
                break;
            }
            if cur + delta > SEMVMX {
                outcome = Err(Errno::ERANGE);
                break;
            }
            if op.sem_flg & SEM_UNDO != 0 {
                if let Some((_, a)) = adj.as_mut() {
                    let u = a[n] - delta;
                    if !(-SEMAEM - 1..=SEMAEM).contains(&u) {
                        outcome = Err(Errno::ERANGE);
                        break;
                    }
                    a[n] = u;
                }
            }
            self.sems[n].val = cur + delta;
            done += 1;
        }
        if !matches!(outcome, Ok(None)) {
            for op in sops[..done].iter().rev() {
                let n = op.sem_num as usize;
                self.sems[n].val -= op.sem_op as i32;
                if op.sem_flg & SEM_UNDO != 0 {
                    if let Some((_, a)) = adj.as_mut() {
                        a[n] += op.sem_op as i32;
                    }
                }
            }
        } else {
            for op in sops {
                self.sems[op.sem_num as usize].pid = pid;
            }
        }
        if let Some((u, a)) = adj {
            self.undos.insert(u, a);
        }
        outcome
    }

    /// The blockers of the waiters that a change of the semaphores
    /// `changed` (all of them for `None`) may let through.
    fn woken(&self, changed: Option<&[u16]>) -> Vec<Arc<dyn Blocker>> {
        self.waiters
            .iter()
            .filter(|w| changed.is_none_or(|c| c.contains(&w.num)))
            .filter(|w| (self.sems[w.num as usize].val == 0) == w.zero)
            .map(|w| w.blocker.clone())
            .collect()
    }

    /// Clears every undo list's adjustment of semaphore `num` (all of
    /// them for `None`).
    fn clear_undos(&mut self, num: Option<usize>) {
        for a in self.undos.values_mut() {
            match num {
                Some(n) => a[n] = 0,
                None => a.iter_mut().for_each(|v| *v = 0),
            }
        }
    }
}

/// A process's SEM_UNDO list: the sets it has adjustments in.
pub struct UndoList {
    id: u64,
    sets: Mutex<Vec<(Weak<IpcNamespace>, i32)>>,
}

static NEXT_UNDO: AtomicU64 = AtomicU64::new(1);
static NEXT_WAITER: AtomicU64 = AtomicU64::new(1);
static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);

fn wake(blockers: Vec<Arc<dyn Blocker>>) {
    for b in blockers {
        b.wake();
    }
}

/// The caller's undo list, made on first use.
fn undo_list(t: &Task) -> Arc<UndoList> {
    t.tg.sysvsem
        .lock()
        .get_or_insert_with(|| {
            Arc::new(UndoList {
                id: NEXT_UNDO.fetch_add(1, Ordering::Relaxed),
                sets: Mutex::new(Vec::new()),
            })
        })
        .clone()
}

/// The process leaves its undo list; the last holder applies it.
pub(crate) fn exit_sem(t: &Task) {
    let Some(list) = t.tg.sysvsem.lock().take() else {
        return;
    };
    let Some(list) = Arc::into_inner(list) else {
        return;
    };
    for (ns, id) in list.sets.into_inner() {
        let Some(ns) = ns.upgrade() else {
            continue;
        };
        let woken = {
            let mut tab = ns.sem.lock();
            let Ok(arr) = tab.get_mut(id) else {
                continue;
            };
            let Some(adj) = arr.undos.remove(&list.id) else {
                continue;
            };
            let mut changed = Vec::new();
            for (n, (s, a)) in arr.sems.iter_mut().zip(adj).enumerate() {
                if a != 0 {
                    s.val = (s.val + a).clamp(0, SEMVMX);
                    s.pid = t.pid();
                    changed.push(n as u16);
                }
            }
            arr.woken(Some(&changed))
        };
        wake(woken);
    }
}

/// semget(2).
pub fn semget(t: &Task, key: i32, nsems: i32, flags: u32) -> Result<i32, Errno> {
    if nsems < 0 || nsems as u32 > SEMMSL {
        return Err(Errno::EINVAL);
    }
    let ns = super::ns(t);
    let mut tab = ns.sem.lock();
    let more = |a: &SemArray| {
        if nsems as usize > a.sems.len() {
            Err(Errno::EINVAL)
        } else {
            Ok(())
        }
    };
    if let Lookup::Found(id) = tab.lookup(&t.creds, key, flags, more)? {
        return Ok(id as i32);
    }
    if nsems == 0 {
        return Err(Errno::EINVAL);
    }
    let used: u64 = tab.entries.values().map(|a| a.sems.len() as u64).sum();
    if used + nsems as u64 > SEMMNS as u64 {
        return Err(Errno::ENOSPC);
    }
    let (idx, id) = tab.alloc()?;
    tab.entries.insert(
        idx,
        SemArray {
            perm: Perm::new(&t.creds, key, id, flags),
            sems: vec![Sem::default(); nsems as usize],
            otime: 0,
            ctime: now_secs(&t.kernel),
            undos: BTreeMap::new(),
            waiters: Vec::new(),
            serial: NEXT_SERIAL.fetch_add(1, Ordering::Relaxed),
        },
    );
    Ok(id)
}

/// semop(2) and semtimedop(2): `timeout` is the user's timespec pointer
/// (0: none).
pub fn semtimedop(t: &Task, id: i32, sops_addr: u64, nsops: u32, timeout: u64) -> SysResult {
    let timeout = if timeout != 0 {
        Some(t.mm.read_obj::<Timespec>(UserAddr(timeout))?)
    } else {
        None
    };
    if nsops < 1 || id < 0 {
        return Err(Errno::EINVAL);
    }
    if nsops > SEMOPM {
        return Err(Errno::E2BIG);
    }
    let mut sops = vec![Sembuf::default(); nsops as usize];
    t.mm.copy_in(UserAddr(sops_addr), sops.as_mut_bytes())?;
    let deadline = match timeout {
        Some(ts) => {
            let ns = crate::process::valid_ns(&ts)?;
            Some(crate::process::mono_ns(&t.kernel).saturating_add(ns))
        }
        None => None,
    };
    let max = sops.iter().map(|s| s.sem_num).max().unwrap_or(0) as usize;
    let alter = sops.iter().any(|s| s.sem_op != 0);
    let wants_undo = sops.iter().any(|s| s.sem_flg & SEM_UNDO != 0);
    let ns = super::ns(t);
    let undo = wants_undo.then(|| undo_list(t));
    let tag = NEXT_WAITER.fetch_add(1, Ordering::Relaxed);
    let mut mine: Option<u64> = None;
    loop {
        let mut tab = ns.sem.lock();
        let arr = match tab.get_mut(id) {
            Ok(a) if mine.is_none_or(|s| s == a.serial) => a,
            _ if mine.is_some() => return Err(Errno::EIDRM),
            _ => return Err(Errno::EINVAL),
        };
        let r = (|| {
            if max >= arr.sems.len() {
                return Err(Errno::EFBIG);
            }
            arr.perm
                .check(&t.creds, if alter { 0o222 } else { 0o444 })?;
            if let Some(list) = &undo {
                if !arr.undos.contains_key(&list.id) {
                    arr.undos.insert(list.id, vec![0; arr.sems.len()]);
                    list.sets.lock().push((Arc::downgrade(&ns), id));
                }
            }
            arr.perform(&sops, undo.as_ref().map(|l| l.id), t.pid())
        })();
        arr.waiters.retain(|w| w.tag != tag);
        match r {
            Ok(None) => {
                arr.otime = now_secs(&t.kernel);
                let woken = if alter && !arr.waiters.is_empty() {
                    let changed: Vec<u16> = sops
                        .iter()
                        .filter(|o| o.sem_op != 0)
                        .map(|o| o.sem_num)
                        .collect();
                    arr.woken(Some(&changed))
                } else {
                    Vec::new()
                };
                drop(tab);
                wake(woken);
                return Ok(0);
            }
            Err(e) => return Err(e),
            Ok(Some(op)) => {
                // Registered under the lock: a change after it wakes us.
                arr.waiters.push(Waiter {
                    tag,
                    num: op.sem_num,
                    zero: op.sem_op == 0,
                    blocker: t.blocker.clone(),
                });
                mine = Some(arr.serial);
                drop(tab);
                let why = t.blocker.block(deadline);
                let err = match why {
                    WakeReason::Woken => continue,
                    WakeReason::Interrupted => Errno::EINTR,
                    WakeReason::TimedOut => Errno::EAGAIN,
                };
                if let Ok(a) = ns.sem.lock().get_mut(id) {
                    a.waiters.retain(|w| w.tag != tag);
                }
                return Err(err);
            }
        }
    }
}

/// The `semun` argument as a pointer.
fn ptr(arg: u64) -> UserAddr {
    UserAddr(arg)
}

/// semctl(2).
pub fn semctl(t: &Task, id: i32, num: i32, cmd: i32, arg: u64) -> SysResult {
    if id < 0 {
        return Err(Errno::EINVAL);
    }
    let ns = super::ns(t);
    match cmd {
        IPC_INFO | SEM_INFO => {
            let (max, ids, used) = {
                let tab = ns.sem.lock();
                let used: u64 = tab.entries.values().map(|a| a.sems.len() as u64).sum();
                (tab.max_idx(), tab.entries.len(), used)
            };
            let mut info = Seminfo {
                semmni: SEMMNI as i32,
                semmns: SEMMNS as i32,
                semmsl: SEMMSL as i32,
                semopm: SEMOPM as i32,
                semvmx: SEMVMX,
                semmnu: SEMMNU as i32,
                semmap: SEMMAP as i32,
                semume: SEMUME as i32,
                semusz: SEMUSZ as i32,
                semaem: SEMAEM,
            };
            if cmd == SEM_INFO {
                info.semusz = ids as i32;
                info.semaem = used as i32;
            }
            t.mm.write_obj(ptr(arg), &info)?;
            Ok(max)
        }
        IPC_STAT | SEM_STAT | SEM_STAT_ANY => {
            let (ds, ret) = {
                let tab = ns.sem.lock();
                let arr = if cmd == IPC_STAT {
                    tab.get(id)?
                } else {
                    tab.at_index(id)?
                };
                if cmd != SEM_STAT_ANY {
                    arr.perm.check(&t.creds, 0o444)?;
                }
                let ret = if cmd == IPC_STAT { 0 } else { arr.perm.id };
                (arr.stat(), ret)
            };
            t.mm.write_obj(ptr(arg), &ds)?;
            Ok(ret as u64)
        }
        GETALL => {
            let vals: Vec<u16> = {
                let tab = ns.sem.lock();
                let arr = tab.get(id)?;
                arr.perm.check(&t.creds, 0o444)?;
                arr.sems.iter().map(|s| s.val as u16).collect()
            };
            t.mm.copy_out(ptr(arg), vals.as_bytes())?;
            Ok(0)
        }
        SETALL => {
            let (n, q) = {
                let tab = ns.sem.lock();
                let arr = tab.get(id)?;
                arr.perm.check(&t.creds, 0o222)?;
                (arr.sems.len(), arr.serial)
            };
            let mut vals = vec![0u16; n];
            t.mm.copy_in(ptr(arg), vals.as_mut_bytes())?;
            if vals.iter().any(|&v| v as i32 > SEMVMX) {
                return Err(Errno::ERANGE);
            }
            let woken = {
                let mut tab = ns.sem.lock();
                let arr = match tab.get_mut(id) {
                    Ok(a) if a.serial == q => a,
                    _ => return Err(Errno::EIDRM),
                };
                for (s, v) in arr.sems.iter_mut().zip(vals) {
                    s.val = v as i32;
                    s.pid = t.pid();
                }
                arr.clear_undos(None);
                arr.ctime = now_secs(&t.kernel);
                arr.woken(None)
            };
            wake(woken);
            Ok(0)
        }
        GETVAL | GETPID | GETNCNT | GETZCNT => {
            let tab = ns.sem.lock();
            let arr = tab.get(id)?;
            arr.perm.check(&t.creds, 0o444)?;
            let n = usize::try_from(num)
                .ok()
                .filter(|&n| n < arr.sems.len())
                .ok_or(Errno::EINVAL)?;
            Ok(match cmd {
                GETVAL => arr.sems[n].val as u64,
                GETPID => arr.sems[n].pid as u64,
                GETNCNT => arr.count(n as u16, false),
                _ => arr.count(n as u16, true),
            })
        }
        SETVAL => {
            let val = arg as u32 as i32;
            if !(0..=SEMVMX).contains(&val) {
                return Err(Errno::ERANGE);
            }
            let woken = {
                let mut tab = ns.sem.lock();
                let arr = tab.get_mut(id)?;
                let n = usize::try_from(num)
                    .ok()
                    .filter(|&n| n < arr.sems.len())
                    .ok_or(Errno::EINVAL)?;
                arr.perm.check(&t.creds, 0o222)?;
                arr.clear_undos(Some(n));
                arr.sems[n] = Sem { val, pid: t.pid() };
                arr.ctime = now_secs(&t.kernel);
                arr.woken(Some(&[n as u16]))
            };
            wake(woken);
            Ok(0)
        }
        IPC_SET => {
            let ds: Semid64Ds = t.mm.read_obj(ptr(arg))?;
            let mut tab = ns.sem.lock();
            let arr = tab.get_mut(id)?;
            arr.perm.check_owner(&t.creds)?;
            arr.perm.set(&ds.sem_perm)?;
            arr.ctime = now_secs(&t.kernel);
            Ok(0)
        }
        IPC_RMID => {
            let gone = {
                let mut tab = ns.sem.lock();
                tab.get(id)?.perm.check_owner(&t.creds)?;
                tab.remove(id)
            };
            if let Some(arr) = gone {
                wake(arr.waiters.into_iter().map(|w| w.blocker).collect());
            }
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// `/proc/sysvipc/sem`.
pub(crate) fn proc_text(ns: &IpcNamespace) -> String {
    let mut s = String::from(
        "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n",
    );
    for a in ns.sem.lock().entries.values() {
        let p = &a.perm;
        s.push_str(&format!(
            "{:10} {:10}  {:4o} {:10} {:5} {:5} {:5} {:5} {:10} {:10}\n",
            p.key,
            p.id,
            p.mode,
            a.sems.len(),
            p.uid,
            p.gid,
            p.cuid,
            p.cgid,
            a.otime,
            a.ctime
        ));
    }
    s
}
