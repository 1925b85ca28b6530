//! Extended attributes. No filesystem stores them yet (issue 4 adds them
//! to tmpfs and overlay), so every object answers as a Linux filesystem
//! with no attributes set: get and remove give ENODATA, list gives an
//! empty list, set gives EOPNOTSUPP. Paths, fds and names are still checked
//! first, so the errors for bad input are Linux's.

use veil_abi::flags::AT_FDCWD;
use veil_abi::sysno::*;
use veil_abi::Errno;

use super::{arg, Handler};
use crate::task::Task;
use crate::vfs::walk::{self, WalkFlags};
use crate::{SysResult, UserAddr};

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        GETXATTR => |t, a| get(t, Target::Path(a[0], true), a[1]),
        LGETXATTR => |t, a| get(t, Target::Path(a[0], false), a[1]),
        FGETXATTR => |t, a| get(t, Target::Fd(arg::fd(a[0])), a[1]),
        LISTXATTR => |t, a| list(t, Target::Path(a[0], true)),
        LLISTXATTR => |t, a| list(t, Target::Path(a[0], false)),
        FLISTXATTR => |t, a| list(t, Target::Fd(arg::fd(a[0]))),
        SETXATTR => |t, a| set(t, Target::Path(a[0], true), a[1], a[4]),
        LSETXATTR => |t, a| set(t, Target::Path(a[0], false), a[1], a[4]),
        FSETXATTR => |t, a| set(t, Target::Fd(arg::fd(a[0])), a[1], a[4]),
        REMOVEXATTR => |t, a| remove(t, Target::Path(a[0], true), a[1]),
        LREMOVEXATTR => |t, a| remove(t, Target::Path(a[0], false), a[1]),
        FREMOVEXATTR => |t, a| remove(t, Target::Fd(arg::fd(a[0])), a[1]),
        _ => return None,
    })
}

/// What an xattr call names: a path (followed or not) or an fd.
enum Target {
    Path(u64, bool),
    Fd(i32),
}

/// Checks that the target exists.
fn resolve(t: &Task, target: Target) -> Result<(), Errno> {
    match target {
        Target::Path(addr, follow) => {
            let path = t.read_path(addr)?;
            walk::resolve(
                t,
                AT_FDCWD,
                &path,
                WalkFlags {
                    follow,
                    empty_ok: false,
                },
            )?;
        }
        Target::Fd(fd) => {
            t.fds.file(fd)?;
        }
    }
    Ok(())
}

/// Reads and checks an attribute name (1 to 255 bytes, else ERANGE).
fn name(t: &Task, addr: u64) -> Result<(), Errno> {
    match t.mm.read_cstring(UserAddr(addr), 256) {
        Ok(n) if n.is_empty() || n.len() > 255 => Err(Errno::ERANGE),
        Ok(_) => Ok(()),
        Err(Errno::ENAMETOOLONG) => Err(Errno::ERANGE),
        Err(e) => Err(e),
    }
}

fn get(t: &mut Task, target: Target, name_addr: u64) -> SysResult {
    resolve(t, target)?;
    name(t, name_addr)?;
    Err(Errno::ENODATA)
}

fn list(t: &mut Task, target: Target) -> SysResult {
    resolve(t, target)?;
    Ok(0)
}

fn set(t: &mut Task, target: Target, name_addr: u64, flags: u64) -> SysResult {
    const XATTR_CREATE: u64 = 1;
    const XATTR_REPLACE: u64 = 2;
    if flags & !(XATTR_CREATE | XATTR_REPLACE) != 0 {
        return Err(Errno::EINVAL);
    }
    resolve(t, target)?;
    name(t, name_addr)?;
    if flags & XATTR_REPLACE != 0 {
        return Err(Errno::ENODATA);
    }
    Err(Errno::EOPNOTSUPP)
}

fn remove(t: &mut Task, target: Target, name_addr: u64) -> SysResult {
    resolve(t, target)?;
    name(t, name_addr)?;
    Err(Errno::ENODATA)
}
