//! seccomp(2) and prctl's PR_SET_SECCOMP / PR_GET_SECCOMP, as Linux's
//! `do_seccomp`: argument checks, copying and checking the program, then
//! [`crate::seccomp`] installs it.
//!
//! Errors follow Linux's order: unknown flags (and NEW_LISTENER, which
//! veil does not serve: user notification is left out) EINVAL, the
//! `sock_fprog` EFAULT, a length of 0 or past 4096 EINVAL, neither
//! no_new_privs nor CAP_SYS_ADMIN EACCES, the instructions EFAULT, a
//! program Linux refuses EINVAL.

use alloc::vec;
use alloc::vec::Vec;

use veil_abi::flags::CAP_SYS_ADMIN;
use veil_abi::{sysno, Errno};

use super::{arg, Handler};
use crate::seccomp::bpf::{Insn, Program, MAXINSNS};
use crate::seccomp::{
    add_filter, set_strict, Added, RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS, RET_KILL_THREAD,
    RET_LOG, RET_TRACE, RET_TRAP, RET_USER_NOTIF,
};
use crate::task::Task;
use crate::{SysResult, UserAddr};

/// seccomp(2) operations.
pub const SET_MODE_STRICT: u32 = 0;
pub const SET_MODE_FILTER: u32 = 1;
pub const GET_ACTION_AVAIL: u32 = 2;
pub const GET_NOTIF_SIZES: u32 = 3;

/// SECCOMP_SET_MODE_FILTER flags.
pub const FLAG_TSYNC: u32 = 1;
pub const FLAG_LOG: u32 = 2;
pub const FLAG_SPEC_ALLOW: u32 = 4;
pub const FLAG_NEW_LISTENER: u32 = 8;
pub const FLAG_TSYNC_ESRCH: u32 = 16;
pub const FLAG_WAIT_KILLABLE_RECV: u32 = 32;
/// The flags veil serves.
const FLAGS_SERVED: u32 = FLAG_TSYNC | FLAG_LOG | FLAG_SPEC_ALLOW | FLAG_TSYNC_ESRCH;

/// prctl options.
pub const PR_GET_SECCOMP: u32 = 21;
pub const PR_SET_SECCOMP: u32 = 22;

/// The calls served here.
pub fn handler(nr: u64) -> Option<Handler> {
    match nr {
        sysno::SECCOMP => Some(sys_seccomp),
        _ => None,
    }
}

fn sys_seccomp(t: &mut Task, a: &[u64; 6]) -> SysResult {
    do_seccomp(t, arg::uint(a[0]), arg::uint(a[1]), a[2])
}

/// PR_GET_SECCOMP and PR_SET_SECCOMP (`None` for other options).
pub fn prctl(t: &mut Task, option: u32, a: &[u64; 6]) -> Option<SysResult> {
    match option {
        PR_GET_SECCOMP => Some(Ok(u64::from(t.seccomp.mode()))),
        PR_SET_SECCOMP => Some(match a[1] {
            // Strict mode through prctl ignores the third argument.
            1 => do_seccomp(t, SET_MODE_STRICT, 0, 0),
            2 => do_seccomp(t, SET_MODE_FILTER, 0, a[2]),
            _ => Err(Errno::EINVAL),
        }),
        _ => None,
    }
}

fn do_seccomp(t: &mut Task, op: u32, flags: u32, uargs: u64) -> SysResult {
    match op {
        SET_MODE_STRICT => {
            if flags != 0 || uargs != 0 {
                return Err(Errno::EINVAL);
            }
            set_strict(t)?;
            Ok(0)
        }
        SET_MODE_FILTER => set_mode_filter(t, flags, uargs),
        GET_ACTION_AVAIL => {
            if flags != 0 {
                return Err(Errno::EINVAL);
            }
            let action: u32 = t.mm.read_obj(UserAddr(uargs))?;
            match action {
                RET_KILL_PROCESS | RET_KILL_THREAD | RET_TRAP | RET_ERRNO | RET_USER_NOTIF
                | RET_TRACE | RET_LOG | RET_ALLOW => Ok(0),
                _ => Err(Errno::EOPNOTSUPP),
            }
        }
        GET_NOTIF_SIZES => {
            if flags != 0 {
                return Err(Errno::EINVAL);
            }
            // struct seccomp_notif, seccomp_notif_resp, seccomp_data.
            let sizes: [u16; 3] = [80, 24, 64];
            t.mm.write_obj(UserAddr(uargs), &sizes)?;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

fn set_mode_filter(t: &mut Task, flags: u32, uargs: u64) -> SysResult {
    if flags & (FLAG_NEW_LISTENER | FLAG_WAIT_KILLABLE_RECV) != 0 {
        t.kernel
            .note_unsupported("seccomp user notification (SECCOMP_FILTER_FLAG_NEW_LISTENER)");
    }
    if flags & !FLAGS_SERVED != 0 {
        return Err(Errno::EINVAL);
    }
    let prog = read_program(t, uargs)?;
    let added = add_filter(t, prog, flags & FLAG_LOG != 0, flags & FLAG_TSYNC != 0)?;
    match added {
        Added::Done => Ok(0),
        Added::Diverged(_) if flags & FLAG_TSYNC_ESRCH != 0 => Err(Errno::ESRCH),
        Added::Diverged(tid) => Ok(tid as u64),
    }
}

/// Copies in and checks the `struct sock_fprog` at `uargs`.
fn read_program(t: &Task, uargs: u64) -> Result<Program, Errno> {
    // struct sock_fprog { unsigned short len; struct sock_filter *filter; }
    let mut fprog = [0u8; 16];
    t.mm.copy_in(UserAddr(uargs), &mut fprog)?;
    let len = usize::from(u16::from_le_bytes([fprog[0], fprog[1]]));
    let mut ptr = [0u8; 8];
    ptr.copy_from_slice(&fprog[8..]);
    let ptr = u64::from_le_bytes(ptr);
    if len == 0 || len > MAXINSNS {
        return Err(Errno::EINVAL);
    }
    if !t.creds.no_new_privs && !t.creds.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EACCES);
    }
    if ptr == 0 {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![0u8; len * 8];
    t.mm.copy_in(UserAddr(ptr), &mut raw)?;
    let insns: Vec<Insn> = raw
        .chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            Insn::from_bytes(b)
        })
        .collect();
    Program::new(insns)
}
