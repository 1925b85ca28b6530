//! `--strace`: each call printed with decoded arguments and its result.

use alloc::format;
use alloc::string::String;

use veil_abi::sysno;

use crate::task::Task;
use crate::SysResult;

/// Formats the call's entry (name and arguments).
pub fn enter(task: &Task, nr: u64, args: &[u64; 6]) -> String {
    let name = sysno::name(nr).unwrap_or("syscall");
    let _ = task;
    format!(
        "{}({:#x}, {:#x}, {:#x}, {:#x}, {:#x}, {:#x})",
        name, args[0], args[1], args[2], args[3], args[4], args[5]
    )
}

/// Prints the full line with the result.
pub fn exit(task: &Task, _nr: u64, _args: &[u64; 6], line: String, result: &SysResult) {
    let res = match result {
        Ok(v) => format!("{}", *v as i64),
        Err(e) => format!("-1 {} ({})", e.name(), e.raw()),
    };
    task.kernel
        .logger
        .line(&format!("[pid {}] {} = {}", task.tid, line, res));
}
