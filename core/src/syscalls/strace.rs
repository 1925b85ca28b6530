//! `--strace`: each call printed with decoded arguments and its result, in
//! strace's style: `[pid 1] openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC) = 3`.
//!
//! Arguments are decoded from a small signature table; buffers that the
//! call fills (read, getdents) are printed after it returns. Calls missing
//! from the table print their six raw arguments in hex.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use veil_abi::flags::*;
use veil_abi::sysno::*;

use crate::task::Task;
use crate::{SysResult, UserAddr};

/// How to print one argument.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arg {
    /// Signed decimal.
    Int,
    /// Unsigned decimal.
    Uint,
    /// Hexadecimal (pointers, masks).
    Hex,
    /// An fd, or AT_FDCWD.
    Fd,
    /// A NUL-terminated string (a path).
    Str,
    /// A buffer the call reads, with its length in argument `n`.
    InBuf(u8),
    /// A buffer the call fills, printed after it returns; length is the result.
    OutBuf,
    /// open(2) flags.
    OpenFlags,
    /// An octal mode.
    Mode,
    /// PROT_* bits.
    Prot,
    /// MAP_* bits.
    MapFlags,
    /// AT_* flags.
    AtFlags,
    /// A seccomp(2) operation.
    SeccompOp,
    /// SECCOMP_FILTER_FLAG_* bits.
    SeccompFlags,
}

use Arg::*;

fn signature(nr: u64) -> Option<&'static [Arg]> {
    Some(match nr {
        READ => &[Fd, OutBuf, Uint],
        WRITE => &[Fd, InBuf(2), Uint],
        PREAD64 => &[Fd, OutBuf, Uint, Int],
        PWRITE64 => &[Fd, InBuf(2), Uint, Int],
        READV | WRITEV => &[Fd, Hex, Uint],
        OPEN => &[Str, OpenFlags, Mode],
        OPENAT => &[Fd, Str, OpenFlags, Mode],
        CREAT => &[Str, Mode],
        CLOSE => &[Fd],
        CLOSE_RANGE => &[Uint, Uint, Hex],
        STAT | LSTAT => &[Str, Hex],
        FSTAT => &[Fd, Hex],
        NEWFSTATAT => &[Fd, Str, Hex, AtFlags],
        STATX => &[Fd, Str, AtFlags, Hex, Hex],
        LSEEK => &[Fd, Int, Uint],
        GETDENTS64 => &[Fd, Hex, Uint],
        READLINK => &[Str, OutBuf, Uint],
        READLINKAT => &[Fd, Str, OutBuf, Uint],
        ACCESS => &[Str, Uint],
        FACCESSAT | FACCESSAT2 => &[Fd, Str, Uint, AtFlags],
        GETCWD => &[OutBuf, Uint],
        CHDIR => &[Str],
        FCHDIR => &[Fd],
        FCNTL => &[Fd, Uint, Hex],
        DUP => &[Fd],
        DUP2 => &[Fd, Fd],
        DUP3 => &[Fd, Fd, OpenFlags],
        IOCTL => &[Fd, Hex, Hex],
        MMAP => &[Hex, Uint, Prot, MapFlags, Fd, Hex],
        MUNMAP => &[Hex, Uint],
        MPROTECT => &[Hex, Uint, Prot],
        MREMAP => &[Hex, Uint, Uint, Hex, Hex],
        MADVISE => &[Hex, Uint, Int],
        BRK => &[Hex],
        ARCH_PRCTL => &[Hex, Hex],
        SET_TID_ADDRESS => &[Hex],
        EXIT | EXIT_GROUP => &[Int],
        EXECVE => &[Str, Hex, Hex],
        MKDIR => &[Str, Mode],
        MKDIRAT => &[Fd, Str, Mode],
        UNLINK | RMDIR => &[Str],
        UNLINKAT => &[Fd, Str, AtFlags],
        RENAME | SYMLINK | LINK => &[Str, Str],
        RENAMEAT => &[Fd, Str, Fd, Str],
        RENAMEAT2 => &[Fd, Str, Fd, Str, Hex],
        SYMLINKAT => &[Str, Fd, Str],
        LINKAT => &[Fd, Str, Fd, Str, AtFlags],
        CHMOD => &[Str, Mode],
        FCHMOD => &[Fd, Mode],
        FCHMODAT => &[Fd, Str, Mode],
        FTRUNCATE => &[Fd, Int],
        TRUNCATE => &[Str, Int],
        FSYNC | FDATASYNC => &[Fd],
        UMASK => &[Mode],
        GETRANDOM => &[Hex, Uint, Hex],
        PRLIMIT64 => &[Int, Uint, Hex, Hex],
        CLOCK_GETTIME | CLOCK_GETRES => &[Int, Hex],
        RT_SIGACTION => &[Int, Hex, Hex, Uint],
        RT_SIGPROCMASK => &[Int, Hex, Hex, Uint],
        RT_SIGPENDING | RT_SIGSUSPEND => &[Hex, Uint],
        RT_SIGTIMEDWAIT => &[Hex, Hex, Hex, Uint],
        RT_SIGQUEUEINFO => &[Int, Int, Hex],
        RT_TGSIGQUEUEINFO => &[Int, Int, Int, Hex],
        RT_SIGRETURN | PAUSE | RESTART_SYSCALL => &[],
        SIGALTSTACK => &[Hex, Hex],
        KILL | TKILL => &[Int, Int],
        TGKILL => &[Int, Int, Int],
        GETPID | GETPPID | GETTID | GETUID | GETEUID | GETGID | GETEGID => &[],
        EPOLL_CREATE => &[Int],
        EPOLL_CREATE1 => &[Hex],
        EPOLL_CTL => &[Fd, Int, Fd, Hex],
        EPOLL_WAIT => &[Fd, Hex, Int, Int],
        EPOLL_PWAIT => &[Fd, Hex, Int, Int, Hex, Uint],
        EPOLL_PWAIT2 => &[Fd, Hex, Int, Hex, Hex, Uint],
        EVENTFD => &[Uint],
        EVENTFD2 => &[Uint, Hex],
        SIGNALFD => &[Fd, Hex, Uint],
        SIGNALFD4 => &[Fd, Hex, Uint, Hex],
        SECCOMP => &[SeccompOp, SeccompFlags, Hex],
        _ => return None,
    })
}

fn push_str(out: &mut String, bytes: &[u8], truncated: bool) {
    out.push('"');
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
    if truncated {
        out.push_str("...");
    }
}

/// Bytes of a buffer shown, as strace's default `-s 32`.
const SHOW: usize = 32;

fn push_buf(out: &mut String, task: &Task, addr: u64, len: u64) {
    let n = (len as usize).min(SHOW);
    let mut buf = alloc::vec![0u8; n];
    match task.mm.copy_in(UserAddr(addr), &mut buf) {
        Ok(()) => push_str(out, &buf, len as usize > SHOW),
        Err(_) => {
            let _ = write!(out, "{addr:#x}");
        }
    }
}

fn push_flags(out: &mut String, v: u64, names: &[(u64, &str)], zero: &str) {
    let mut rest = v;
    let mut first = true;
    for &(bit, name) in names {
        if bit != 0 && rest & bit == bit {
            if !first {
                out.push('|');
            }
            out.push_str(name);
            rest &= !bit;
            first = false;
        }
    }
    if rest != 0 || first {
        if !first {
            out.push('|');
        }
        if rest == 0 {
            out.push_str(zero);
        } else {
            let _ = write!(out, "{rest:#x}");
        }
    }
}

fn push_open_flags(out: &mut String, v: u64) {
    let acc = match v as u32 & O_ACCMODE {
        O_RDONLY => "O_RDONLY",
        O_WRONLY => "O_WRONLY",
        O_RDWR => "O_RDWR",
        _ => "O_ACCMODE",
    };
    out.push_str(acc);
    let rest = v & !(O_ACCMODE as u64);
    if rest != 0 {
        out.push('|');
        push_flags(
            out,
            rest,
            &[
                (O_CREAT as u64, "O_CREAT"),
                (O_EXCL as u64, "O_EXCL"),
                (O_NOCTTY as u64, "O_NOCTTY"),
                (O_TRUNC as u64, "O_TRUNC"),
                (O_APPEND as u64, "O_APPEND"),
                (O_NONBLOCK as u64, "O_NONBLOCK"),
                (O_DIRECTORY as u64, "O_DIRECTORY"),
                (O_NOFOLLOW as u64, "O_NOFOLLOW"),
                (O_CLOEXEC as u64, "O_CLOEXEC"),
                (O_PATH as u64, "O_PATH"),
                (O_LARGEFILE as u64, "O_LARGEFILE"),
                (O_NOATIME as u64, "O_NOATIME"),
                (O_DIRECT as u64, "O_DIRECT"),
            ],
            "0",
        );
    }
}

fn push_arg(out: &mut String, task: &Task, kind: Arg, v: u64, args: &[u64; 6]) {
    match kind {
        Int => {
            let _ = write!(out, "{}", v as i64);
        }
        Uint => {
            let _ = write!(out, "{v}");
        }
        Hex | OutBuf => {
            if v == 0 {
                out.push_str("NULL");
            } else {
                let _ = write!(out, "{v:#x}");
            }
        }
        Fd => {
            let fd = v as u32 as i32;
            if fd == AT_FDCWD {
                out.push_str("AT_FDCWD");
            } else {
                let _ = write!(out, "{fd}");
            }
        }
        Str => {
            if v == 0 {
                out.push_str("NULL");
                return;
            }
            match task.mm.read_cstring(UserAddr(v), PATH_MAX) {
                Ok(s) => push_str(out, &s, false),
                Err(_) => {
                    let _ = write!(out, "{v:#x}");
                }
            }
        }
        InBuf(n) => push_buf(out, task, v, args[n as usize]),
        OpenFlags => push_open_flags(out, v),
        Mode => {
            let _ = write!(out, "{v:#o}");
        }
        Prot => push_flags(
            out,
            v,
            &[
                (PROT_READ as u64, "PROT_READ"),
                (PROT_WRITE as u64, "PROT_WRITE"),
                (PROT_EXEC as u64, "PROT_EXEC"),
            ],
            "PROT_NONE",
        ),
        MapFlags => push_flags(
            out,
            v,
            &[
                (MAP_SHARED as u64, "MAP_SHARED"),
                (MAP_PRIVATE as u64, "MAP_PRIVATE"),
                (MAP_FIXED as u64, "MAP_FIXED"),
                (MAP_ANONYMOUS as u64, "MAP_ANONYMOUS"),
                (MAP_DENYWRITE as u64, "MAP_DENYWRITE"),
                (MAP_NORESERVE as u64, "MAP_NORESERVE"),
                (MAP_STACK as u64, "MAP_STACK"),
                (MAP_POPULATE as u64, "MAP_POPULATE"),
                (MAP_GROWSDOWN as u64, "MAP_GROWSDOWN"),
                (MAP_FIXED_NOREPLACE as u64, "MAP_FIXED_NOREPLACE"),
            ],
            "0",
        ),
        AtFlags => push_flags(
            out,
            v,
            &[
                (AT_SYMLINK_NOFOLLOW as u64, "AT_SYMLINK_NOFOLLOW"),
                (AT_REMOVEDIR as u64, "AT_REMOVEDIR"),
                (AT_SYMLINK_FOLLOW as u64, "AT_SYMLINK_FOLLOW"),
                (AT_NO_AUTOMOUNT as u64, "AT_NO_AUTOMOUNT"),
                (AT_EMPTY_PATH as u64, "AT_EMPTY_PATH"),
            ],
            "0",
        ),
        SeccompOp => {
            const OPS: [&str; 4] = [
                "SECCOMP_SET_MODE_STRICT",
                "SECCOMP_SET_MODE_FILTER",
                "SECCOMP_GET_ACTION_AVAIL",
                "SECCOMP_GET_NOTIF_SIZES",
            ];
            match OPS.get(v as u32 as usize) {
                Some(name) => out.push_str(name),
                None => {
                    let _ = write!(out, "{:#x}", v as u32);
                }
            }
        }
        SeccompFlags => push_flags(
            out,
            u64::from(v as u32),
            &[
                (1, "SECCOMP_FILTER_FLAG_TSYNC"),
                (2, "SECCOMP_FILTER_FLAG_LOG"),
                (4, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"),
                (8, "SECCOMP_FILTER_FLAG_NEW_LISTENER"),
                (16, "SECCOMP_FILTER_FLAG_TSYNC_ESRCH"),
                (32, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"),
            ],
            "0",
        ),
    }
}

/// What was printed at entry, kept until the call returns.
pub struct Entry {
    text: String,
    /// Argument positions to print after the call (output buffers).
    deferred: Vec<usize>,
}

/// Formats the call's entry: its name and the arguments known before it runs.
pub fn enter(task: &Task, nr: u64, args: &[u64; 6]) -> Entry {
    let mut text = String::new();
    match veil_abi::sysno::name(nr) {
        Some(n) => text.push_str(n),
        None => {
            let _ = write!(text, "syscall_{nr}");
        }
    }
    text.push('(');
    let mut deferred = Vec::new();
    match signature(nr) {
        Some(sig) => {
            for (i, &kind) in sig.iter().enumerate() {
                if i > 0 {
                    text.push_str(", ");
                }
                if kind == OutBuf {
                    deferred.push(text.len());
                    let _ = write!(text, "\u{0}{i}");
                    continue;
                }
                push_arg(&mut text, task, kind, args[i], args);
            }
        }
        None => {
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    text.push_str(", ");
                }
                let _ = write!(text, "{a:#x}");
            }
        }
    }
    text.push(')');
    Entry { text, deferred }
}

/// Prints the whole line once the call has returned.
pub fn exit(task: &Task, _nr: u64, args: &[u64; 6], entry: Entry, result: &SysResult) {
    let mut text = entry.text;
    // Replace deferred placeholders (from the last one back, so the
    // recorded positions stay valid).
    for &pos in entry.deferred.iter().rev() {
        let idx = (text.as_bytes()[pos + 1] - b'0') as usize;
        let mut shown = String::new();
        match result {
            Ok(n) => push_buf(&mut shown, task, args[idx], *n),
            Err(_) => {
                let _ = write!(shown, "{:#x}", args[idx]);
            }
        }
        text.replace_range(pos..pos + 2, &shown);
    }
    let res = match result {
        Ok(v) => format!("{}", *v as i64),
        Err(e) => format!("-1 {} ({})", e.name(), describe(*e)),
    };
    task.kernel
        .logger
        .line(&format!("[pid {}] {} = {}", task.tid, text, res));
}

/// A short description of common errnos, as strace prints them.
fn describe(e: veil_abi::Errno) -> &'static str {
    use veil_abi::Errno::*;
    match e {
        EPERM => "Operation not permitted",
        ENOENT => "No such file or directory",
        EBADF => "Bad file descriptor",
        EACCES => "Permission denied",
        EFAULT => "Bad address",
        EEXIST => "File exists",
        ENOTDIR => "Not a directory",
        EISDIR => "Is a directory",
        EINVAL => "Invalid argument",
        ENOTTY => "Inappropriate ioctl for device",
        ENOSYS => "Function not implemented",
        ENOMEM => "Cannot allocate memory",
        EAGAIN => "Resource temporarily unavailable",
        ERANGE => "Numerical result out of range",
        ELOOP => "Too many levels of symbolic links",
        ENAMETOOLONG => "File name too long",
        EROFS => "Read-only file system",
        _ => e.name(),
    }
}
