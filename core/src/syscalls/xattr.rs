//! Extended attributes: the twelve `{,l,f}{get,set,list,remove}xattr`
//! calls, as Linux's `fs/xattr.c`. Core checks what the VFS checks and
//! the filesystem ([`Inode`]'s `*_xattr` methods) stores the attributes
//! (tmpfs does, so the sandbox's writable layer does; other filesystems
//! answer as one that stores none).
//!
//! Order of checks (Linux 6.x): flags (`EINVAL`), the name (`ERANGE` if
//! empty or longer than 255 bytes), the value's size (`E2BIG` past 64 KiB),
//! then the path or fd (`EBADF` for an `O_PATH` fd), a read-only mount
//! (`EROFS`) for changes, then `xattr_permission`: `trusted.*` needs
//! CAP_SYS_ADMIN (else `EPERM` to change, `ENODATA` to read, and it is left
//! out of lists), `user.*` exists only on regular files and directories
//! (`EPERM` / `ENODATA` on others) and needs the owner (or
//! CAP_FOWNER-like root) on a sticky directory; `user.*` and unknown
//! namespaces need read or write permission on the inode (`EACCES`).
//! Changing `security.*` needs CAP_SYS_ADMIN (the commoncap hook). An
//! unknown namespace is `EOPNOTSUPP`, a bare prefix (`user.`) `EINVAL`.
//! A successful change updates the change time and raises `IN_ATTRIB`.
//!
//! Left out: POSIX ACLs (`system.posix_acl_*` are `EOPNOTSUPP` to set),
//! `security.capability`'s value format, and the immutable / append-only
//! inode flags.

use alloc::vec::Vec;

use veil_abi::flags::{AT_FDCWD, CAP_SYS_ADMIN, R_OK, S_ISVTX, W_OK, XATTR_CREATE, XATTR_REPLACE};
use veil_abi::sysno::*;
use veil_abi::Errno;

use super::{arg, Handler};
use crate::task::Task;
use crate::vfs::walk::{self, WalkFlags};
use crate::vfs::{inotify, perm, FileType, InodeAttr, Location};
use crate::{SysResult, UserAddr};

/// Linux's `XATTR_SIZE_MAX`: the largest value.
const XATTR_SIZE_MAX: usize = 65536;
/// Linux's `XATTR_LIST_MAX`: the largest name list.
const XATTR_LIST_MAX: usize = 65536;

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        GETXATTR => |t, a| get(t, Target::Path(a[0], true), a),
        LGETXATTR => |t, a| get(t, Target::Path(a[0], false), a),
        FGETXATTR => |t, a| get(t, Target::Fd(arg::fd(a[0])), a),
        LISTXATTR => |t, a| list(t, Target::Path(a[0], true), a),
        LLISTXATTR => |t, a| list(t, Target::Path(a[0], false), a),
        FLISTXATTR => |t, a| list(t, Target::Fd(arg::fd(a[0])), a),
        SETXATTR => |t, a| set(t, Target::Path(a[0], true), a),
        LSETXATTR => |t, a| set(t, Target::Path(a[0], false), a),
        FSETXATTR => |t, a| set(t, Target::Fd(arg::fd(a[0])), a),
        REMOVEXATTR => |t, a| remove(t, Target::Path(a[0], true), a[1]),
        LREMOVEXATTR => |t, a| remove(t, Target::Path(a[0], false), a[1]),
        FREMOVEXATTR => |t, a| remove(t, Target::Fd(arg::fd(a[0])), a[1]),
        _ => return None,
    })
}

/// What an xattr call names: a path (followed or not) or an fd.
#[derive(Clone, Copy)]
enum Target {
    Path(u64, bool),
    Fd(i32),
}

/// The object a call works on: `None` for an fd without a location (a
/// pipe, a socket, stdio the runtime gave), which stores no attributes.
fn resolve(t: &Task, target: Target) -> Result<Option<Location>, Errno> {
    match target {
        Target::Path(addr, follow) => {
            let path = t.read_path(addr)?;
            let loc = walk::resolve(
                t,
                AT_FDCWD,
                &path,
                WalkFlags {
                    follow,
                    empty_ok: false,
                },
            )?;
            Ok(Some(loc))
        }
        Target::Fd(fd) => {
            let file = t.fds.file(fd)?;
            if file.is_path() {
                return Err(Errno::EBADF);
            }
            Ok(file.location.clone())
        }
    }
}

/// Reads and checks an attribute name (1 to 255 bytes, else `ERANGE`).
fn name(t: &Task, addr: u64) -> Result<Vec<u8>, Errno> {
    match t.mm.read_cstring(UserAddr(addr), 256) {
        Ok(n) if n.is_empty() || n.len() > 255 => Err(Errno::ERANGE),
        Ok(n) => Ok(n),
        Err(Errno::ENAMETOOLONG) => Err(Errno::ERANGE),
        Err(e) => Err(e),
    }
}

/// The namespace of an attribute name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Namespace {
    Security,
    System,
    Trusted,
    User,
    Unknown,
}

fn namespace(name: &[u8]) -> Namespace {
    for (prefix, ns) in [
        (&b"security."[..], Namespace::Security),
        (b"system.", Namespace::System),
        (b"trusted.", Namespace::Trusted),
        (b"user.", Namespace::User),
    ] {
        if name.starts_with(prefix) {
            return ns;
        }
    }
    Namespace::Unknown
}

/// Linux's `xattr_permission` then the filesystem's name resolution:
/// may the caller read (or change) `name` on the inode with `attr`.
fn permission(t: &Task, attr: &InodeAttr, name: &[u8], write: bool) -> Result<(), Errno> {
    let denied = if write { Errno::EPERM } else { Errno::ENODATA };
    let ns = namespace(name);
    match ns {
        Namespace::Security | Namespace::System => {}
        Namespace::Trusted => {
            if !t.creds.capable(CAP_SYS_ADMIN) {
                return Err(denied);
            }
        }
        Namespace::User | Namespace::Unknown => {
            if ns == Namespace::User {
                let kind = attr.file_type();
                if kind != Some(FileType::Regular) && kind != Some(FileType::Directory) {
                    return Err(denied);
                }
                if kind == Some(FileType::Directory)
                    && attr.mode & S_ISVTX != 0
                    && write
                    && !perm::owner_or_root(&t.creds, attr)
                {
                    return Err(Errno::EPERM);
                }
            }
            perm::check(&t.creds, attr, if write { W_OK } else { R_OK })?;
        }
    }
    if write
        && ns == Namespace::Security
        && name != b"security.capability"
        && !t.creds.capable(CAP_SYS_ADMIN)
    {
        return Err(Errno::EPERM);
    }
    match ns {
        Namespace::Unknown => Err(Errno::EOPNOTSUPP),
        _ if matches!(name, b"security." | b"system." | b"trusted." | b"user.") => {
            Err(Errno::EINVAL)
        }
        _ => Ok(()),
    }
}

/// getxattr(path, name, value, size): the value's length; with `size`
/// 0 only the length.
fn get(t: &mut Task, target: Target, a: &[u64; 6]) -> SysResult {
    let name = name(t, a[1])?;
    let (value_addr, size) = (a[2], (a[3] as usize).min(XATTR_SIZE_MAX));
    let Some(loc) = resolve(t, target)? else {
        return Err(Errno::ENODATA);
    };
    let inode = loc.inode();
    permission(t, &inode.attr()?, &name, false)?;
    let value = inode.get_xattr(&name)?;
    if size == 0 {
        return Ok(value.len() as u64);
    }
    if value.len() > size {
        return Err(if size >= XATTR_SIZE_MAX {
            Errno::E2BIG
        } else {
            Errno::ERANGE
        });
    }
    t.mm.copy_out(UserAddr(value_addr), &value)?;
    Ok(value.len() as u64)
}

/// listxattr(path, list, size): the names, each NUL-terminated.
fn list(t: &mut Task, target: Target, a: &[u64; 6]) -> SysResult {
    let (list_addr, size) = (a[1], (a[2] as usize).min(XATTR_LIST_MAX));
    let Some(loc) = resolve(t, target)? else {
        return Ok(0);
    };
    let trusted = t.creds.capable(CAP_SYS_ADMIN);
    let mut out = Vec::new();
    for n in loc.inode().list_xattr()? {
        if trusted || namespace(&n) != Namespace::Trusted {
            out.extend_from_slice(&n);
            out.push(0);
        }
    }
    if size == 0 {
        return Ok(out.len() as u64);
    }
    if out.len() > size {
        return Err(if size >= XATTR_LIST_MAX {
            Errno::E2BIG
        } else {
            Errno::ERANGE
        });
    }
    t.mm.copy_out(UserAddr(list_addr), &out)?;
    Ok(out.len() as u64)
}

/// setxattr(path, name, value, size, flags).
fn set(t: &mut Task, target: Target, a: &[u64; 6]) -> SysResult {
    let (value_addr, size, flags) = (a[2], a[3] as usize, a[4]);
    if flags & !u64::from(XATTR_CREATE | XATTR_REPLACE) != 0 {
        return Err(Errno::EINVAL);
    }
    let name = name(t, a[1])?;
    if size > XATTR_SIZE_MAX {
        return Err(Errno::E2BIG);
    }
    let mut value = alloc::vec![0u8; size];
    t.mm.copy_in(UserAddr(value_addr), &mut value)?;
    let Some(loc) = resolve(t, target)? else {
        return Err(Errno::EOPNOTSUPP);
    };
    loc.mount.check_writable()?;
    let inode = loc.inode();
    permission(t, &inode.attr()?, &name, true)?;
    inode.set_xattr(&name, &value, flags as u32)?;
    inotify::xattr_changed(t, &loc);
    Ok(0)
}

/// removexattr(path, name).
fn remove(t: &mut Task, target: Target, name_addr: u64) -> SysResult {
    let name = name(t, name_addr)?;
    let Some(loc) = resolve(t, target)? else {
        return Err(Errno::ENODATA);
    };
    loc.mount.check_writable()?;
    let inode = loc.inode();
    permission(t, &inode.attr()?, &name, true)?;
    inode.remove_xattr(&name)?;
    inotify::xattr_changed(t, &loc);
    Ok(0)
}
