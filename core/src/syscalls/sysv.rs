//! The System V IPC calls: shmget, shmat, shmdt, shmctl, semget, semop,
//! semtimedop, semctl, msgget, msgsnd, msgrcv, msgctl. They decode their
//! arguments as Linux's `ipc/syscall.c` entry points do (`int` ids, keys,
//! flags and commands; `size_t` sizes) and leave the work to
//! [`crate::ipc`].

use veil_abi::sysno::*;

use super::{arg, Handler};
use crate::ipc::{msg, sem, shm};
use crate::task::Task;
use crate::SysResult;

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        SHMGET => sys_shmget,
        SHMAT => sys_shmat,
        SHMDT => sys_shmdt,
        SHMCTL => sys_shmctl,
        SEMGET => sys_semget,
        SEMOP => sys_semop,
        SEMTIMEDOP => sys_semtimedop,
        SEMCTL => sys_semctl,
        MSGGET => sys_msgget,
        MSGSND => sys_msgsnd,
        MSGRCV => sys_msgrcv,
        MSGCTL => sys_msgctl,
        _ => return None,
    })
}

fn sys_shmget(t: &mut Task, a: &[u64; 6]) -> SysResult {
    shm::shmget(t, arg::int(a[0]), a[1], arg::uint(a[2])).map(|id| id as u64)
}

fn sys_shmat(t: &mut Task, a: &[u64; 6]) -> SysResult {
    shm::shmat(t, arg::int(a[0]), a[1], arg::uint(a[2]))
}

fn sys_shmdt(t: &mut Task, a: &[u64; 6]) -> SysResult {
    shm::shmdt(t, a[0]).map(|_| 0)
}

fn sys_shmctl(t: &mut Task, a: &[u64; 6]) -> SysResult {
    shm::shmctl(t, arg::int(a[0]), arg::int(a[1]), a[2])
}

fn sys_semget(t: &mut Task, a: &[u64; 6]) -> SysResult {
    sem::semget(t, arg::int(a[0]), arg::int(a[1]), arg::uint(a[2])).map(|id| id as u64)
}

fn sys_semop(t: &mut Task, a: &[u64; 6]) -> SysResult {
    sem::semtimedop(t, arg::int(a[0]), a[1], arg::uint(a[2]), 0)
}

fn sys_semtimedop(t: &mut Task, a: &[u64; 6]) -> SysResult {
    sem::semtimedop(t, arg::int(a[0]), a[1], arg::uint(a[2]), a[3])
}

fn sys_semctl(t: &mut Task, a: &[u64; 6]) -> SysResult {
    sem::semctl(t, arg::int(a[0]), arg::int(a[1]), arg::int(a[2]), a[3])
}

fn sys_msgget(t: &mut Task, a: &[u64; 6]) -> SysResult {
    msg::msgget(t, arg::int(a[0]), arg::uint(a[1])).map(|id| id as u64)
}

fn sys_msgsnd(t: &mut Task, a: &[u64; 6]) -> SysResult {
    msg::msgsnd(t, arg::int(a[0]), a[1], a[2], arg::uint(a[3]))
}

fn sys_msgrcv(t: &mut Task, a: &[u64; 6]) -> SysResult {
    msg::msgrcv(t, arg::int(a[0]), a[1], a[2], a[3] as i64, arg::uint(a[4]))
}

fn sys_msgctl(t: &mut Task, a: &[u64; 6]) -> SysResult {
    msg::msgctl(t, arg::int(a[0]), arg::int(a[1]), a[2])
}
