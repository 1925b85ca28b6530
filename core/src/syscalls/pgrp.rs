//! Process groups and sessions: setpgid, getpgid, getpgrp, setsid,
//! getsid, with Linux's rules (`kernel/sys.c`):
//! - setpgid may move the caller or one of its children (ESRCH for any
//!   other process; EACCES for a child that has exec'd; EPERM for a child
//!   in another session) into a process group of the caller's session
//!   (EPERM otherwise), or make it the leader of a new group; a session
//!   leader cannot move (EPERM); a negative pgid is EINVAL;
//! - setsid makes the caller the leader of a new session and process
//!   group, unless a process group with its pid already exists (EPERM:
//!   it is a group leader, or was);
//! - getpgid / getsid of pid 0 are the caller's; of a process that does
//!   not exist, ESRCH.
//!
//! A session leader is a process whose session id is its pid (veil keeps
//! no separate flag: pids are not reused). setsid drops the caller's
//! controlling terminal ([`crate::tty`]).

use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use veil_abi::sysno::*;
use veil_abi::Errno;

use super::{arg, Handler};
use crate::task::{Pid, Task, ThreadGroup};
use crate::SysResult;

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        SETPGID => sys_setpgid,
        GETPGID => sys_getpgid,
        GETPGRP => |t, _| Ok(*t.tg.pgid.lock() as u64),
        SETSID => sys_setsid,
        GETSID => sys_getsid,
        _ => return None,
    })
}

/// The process `pid` (0: the caller's), or ESRCH.
fn process(t: &Task, pid: Pid) -> Result<Arc<ThreadGroup>, Errno> {
    if pid == 0 {
        return Ok(t.tg.clone());
    }
    t.kernel
        .thread_group(pid)
        .filter(|g| g.pid == pid)
        .ok_or(Errno::ESRCH)
}

fn sys_setpgid(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let mut pid = arg::int(a[0]);
    let mut pgid = arg::int(a[1]);
    if pid == 0 {
        pid = t.pid();
    }
    if pgid == 0 {
        pgid = pid;
    }
    if pgid < 0 {
        return Err(Errno::EINVAL);
    }
    let p = t.kernel.thread_group(pid).ok_or(Errno::ESRCH)?;
    if p.pid != pid {
        // A thread id that is not its group's leader.
        return Err(Errno::EINVAL);
    }
    let my_sid = *t.tg.sid.lock();
    if *p.ppid.lock() == t.pid() && !Arc::ptr_eq(&p, &t.tg) {
        if *p.sid.lock() != my_sid {
            return Err(Errno::EPERM);
        }
        if p.pm.did_exec.load(Ordering::Relaxed) {
            return Err(Errno::EACCES);
        }
    } else if !Arc::ptr_eq(&p, &t.tg) {
        return Err(Errno::ESRCH);
    }
    if *p.sid.lock() == p.pid {
        return Err(Errno::EPERM);
    }
    if pgid != pid {
        let exists = t
            .kernel
            .processes()
            .iter()
            .any(|g| *g.pgid.lock() == pgid && *g.sid.lock() == my_sid);
        if !exists {
            return Err(Errno::EPERM);
        }
    }
    *p.pgid.lock() = pgid;
    Ok(0)
}

fn sys_getpgid(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let p = process(t, arg::int(a[0]))?;
    let pgid = *p.pgid.lock();
    Ok(pgid as u64)
}

fn sys_getsid(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let p = process(t, arg::int(a[0]))?;
    let sid = *p.sid.lock();
    Ok(sid as u64)
}

fn sys_setsid(t: &mut Task, _a: &[u64; 6]) -> SysResult {
    let pid = t.pid();
    if t.kernel.processes().iter().any(|g| *g.pgid.lock() == pid) {
        return Err(Errno::EPERM);
    }
    *t.tg.sid.lock() = pid;
    *t.tg.pgid.lock() = pid;
    t.tg.ctty.lock().clear();
    Ok(pid as u64)
}
