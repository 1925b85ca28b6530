//! Process identity, limits, time, randomness, uname and the other small
//! calls a program makes while starting.

use veil_abi::sysno::*;

use super::Handler;
use crate::task::{ExitStatus, Task};
use crate::SysResult;

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        GETPID => sys_getpid,
        GETTID => sys_gettid,
        EXIT => sys_exit,
        EXIT_GROUP => sys_exit_group,
        _ => return None,
    })
}

fn sys_getpid(t: &mut Task, _a: &[u64; 6]) -> SysResult {
    Ok(t.pid() as u64)
}

fn sys_gettid(t: &mut Task, _a: &[u64; 6]) -> SysResult {
    Ok(t.tid as u64)
}

fn sys_exit(t: &mut Task, a: &[u64; 6]) -> SysResult {
    // Single-threaded until issue 3: the thread's exit ends the group.
    t.exit_group(ExitStatus::Exited(a[0] as i32 & 0xff));
    Ok(0)
}

fn sys_exit_group(t: &mut Task, a: &[u64; 6]) -> SysResult {
    t.exit_group(ExitStatus::Exited(a[0] as i32 & 0xff));
    Ok(0)
}
