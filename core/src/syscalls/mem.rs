//! Memory and program-image system calls: mmap, munmap, mprotect, mremap,
//! madvise, brk, msync, mincore, the mlock family, execve and execveat.
//!
//! The handlers decode arguments, check what belongs to the file
//! descriptor (Linux's `ksys_mmap_pgoff` and the file part of `do_mmap`:
//! `EBADF`, `EACCES` for a mapping the open mode does not allow, `ENODEV`
//! for files that cannot be mapped, `/dev/zero` as anonymous memory) and
//! leave the address-space work to [`crate::mm::MemoryManager`] and the
//! loader. Argument arrays of execve are read with Linux's limits
//! (`E2BIG` past a quarter of RLIMIT_STACK or 128 KiB per string, `EFAULT`
//! for bad pointers).
//!
//! Left out: RLIMIT_MEMLOCK (mlock always succeeds), `MAP_SYNC` and memory
//! protection keys. msync writes nothing back: shared mappings of files
//! whose data lives in the memory file (memfds, tmpfs, overlay files once
//! copied up) map the file's own pages; hostfs is read-only; a host file
//! given as a standard fd may be mapped shared only without write
//! permission (`ENODEV` for `PROT_WRITE`, see [`crate::mm`]).

use alloc::vec;
use alloc::vec::Vec;

use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, PAGE_SIZE};

use super::{arg, Handler};
use crate::addr::UserAddr;
use crate::mm::MappedFile;
use crate::platform::Prot;
use crate::task::Task;
use crate::vfs::FileType;
use crate::SysResult;

/// `PROT_SEM` (accepted and ignored).
const PROT_SEM: u32 = 0x8;
/// msync flags.
const MS_ASYNC: u32 = 1;
const MS_INVALIDATE: u32 = 2;
const MS_SYNC: u32 = 4;
/// mlockall flags.
const MCL_CURRENT: u32 = 1;
const MCL_FUTURE: u32 = 2;
const MCL_ONFAULT: u32 = 4;
/// mlock2 flag.
const MLOCK_ONFAULT: u32 = 1;
/// Every mmap flag Linux knows (for MAP_SHARED_VALIDATE).
const MAP_KNOWN: u32 = MAP_TYPE
    | MAP_FIXED
    | MAP_ANONYMOUS
    | MAP_32BIT
    | MAP_GROWSDOWN
    | MAP_DENYWRITE
    | MAP_EXECUTABLE
    | MAP_LOCKED
    | MAP_NORESERVE
    | MAP_POPULATE
    | MAP_NONBLOCK
    | MAP_STACK
    | MAP_HUGETLB
    | MAP_SYNC
    | MAP_FIXED_NOREPLACE
    | (0x3f << 26); // MAP_HUGE_SHIFT size bits
/// `/dev/zero`'s device number.
const DEV_ZERO: u64 = veil_abi::makedev(1, 5);

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        MMAP => sys_mmap,
        MUNMAP => sys_munmap,
        MPROTECT => sys_mprotect,
        MREMAP => sys_mremap,
        MADVISE => sys_madvise,
        BRK => sys_brk,
        MSYNC => sys_msync,
        MINCORE => sys_mincore,
        MLOCK => sys_mlock,
        MLOCK2 => sys_mlock2,
        MUNLOCK => sys_munlock,
        MLOCKALL => sys_mlockall,
        MUNLOCKALL => sys_munlockall,
        EXECVE => sys_execve,
        EXECVEAT => sys_execveat,
        _ => return None,
    })
}

fn sys_mmap(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (addr, len, prot, flags, fd, off) = (
        a[0],
        a[1],
        arg::uint(a[2]),
        arg::uint(a[3]),
        arg::fd(a[4]),
        a[5],
    );
    if off & (PAGE_SIZE - 1) != 0 {
        return Err(Errno::EINVAL);
    }
    let prot = Prot::from_bits_truncate(prot);
    let file = if flags & MAP_ANONYMOUS != 0 {
        None
    } else {
        let of = t.fds.file(fd)?;
        if of.is_path() {
            return Err(Errno::EBADF);
        }
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        let shared = match flags & MAP_TYPE {
            MAP_SHARED => true,
            MAP_SHARED_VALIDATE => {
                if flags & !MAP_KNOWN != 0 {
                    return Err(Errno::EOPNOTSUPP);
                }
                true
            }
            MAP_PRIVATE => false,
            _ => return Err(Errno::EINVAL),
        };
        if shared && prot.contains(Prot::WRITE) && (!of.writable() || of.flags() & O_APPEND != 0) {
            return Err(Errno::EACCES);
        }
        if !of.readable() {
            return Err(Errno::EACCES);
        }
        let attr = match &of.location {
            Some(loc) => Some(loc.inode().attr()?),
            None => of.ops.stat(),
        };
        let attr = attr.ok_or(Errno::ENODEV)?;
        match attr.file_type() {
            Some(FileType::Regular) | Some(FileType::BlockDevice) => {
                let name = match &of.location {
                    Some(loc) => loc.path_from(&t.fs.lock().root),
                    None => Vec::new(),
                };
                // The file may refuse (a sealed memfd) or hand out what
                // the mapping holds.
                let write = prot.contains(Prot::WRITE);
                let (file, writable) = match of.ops.mmap(shared, write, of.writable()) {
                    Some(r) => r?,
                    None => (of.ops.clone(), of.writable()),
                };
                Some((
                    MappedFile {
                        file,
                        name,
                        dev_ino: (attr.dev, attr.ino),
                        writable,
                    },
                    off,
                ))
            }
            // /dev/zero maps as anonymous memory.
            Some(FileType::CharDevice) if attr.rdev == DEV_ZERO => None,
            _ => return Err(Errno::ENODEV),
        }
    };
    t.mm.mmap(UserAddr(addr), len, prot, flags, file)
        .map(|a| a.0)
}

fn sys_munmap(t: &mut Task, a: &[u64; 6]) -> SysResult {
    t.mm.munmap(UserAddr(a[0]), a[1]).map(|_| 0)
}

fn sys_mprotect(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (addr, len, prot) = (UserAddr(a[0]), a[1], arg::uint(a[2]));
    if !addr.is_page_aligned() {
        return Err(Errno::EINVAL);
    }
    if len == 0 {
        return Ok(0);
    }
    let grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
    if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM | grows) != 0
        || grows == (PROT_GROWSDOWN | PROT_GROWSUP)
    {
        return Err(Errno::EINVAL);
    }
    t.mm.mprotect(addr, len, Prot::from_bits_truncate(prot & 7))
        .map(|_| 0)
}

fn sys_mremap(t: &mut Task, a: &[u64; 6]) -> SysResult {
    t.mm.mremap(UserAddr(a[0]), a[1], a[2], arg::uint(a[3]), UserAddr(a[4]))
        .map(|v| v.0)
}

fn sys_madvise(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let advice = arg::int(a[2]);
    if advice < 0 {
        return Err(Errno::EINVAL);
    }
    t.mm.madvise(UserAddr(a[0]), a[1], advice as u32).map(|_| 0)
}

fn sys_brk(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (start, cur) = t.mm.brk_range();
    let want = a[0];
    let limit = t.rlimit(RLIMIT_DATA);
    if limit != RLIM_INFINITY && want > start.0 && want - start.0 > limit {
        return Ok(cur.0);
    }
    Ok(t.mm.brk(UserAddr(want)).0)
}

fn sys_msync(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (addr, len, flags) = (UserAddr(a[0]), a[1], arg::int(a[2]) as u32);
    if flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0
        || !addr.is_page_aligned()
        || (flags & MS_ASYNC != 0 && flags & MS_SYNC != 0)
    {
        return Err(Errno::EINVAL);
    }
    t.mm.msync(addr, len, flags & MS_INVALIDATE != 0, flags == MS_ASYNC)
        .map(|_| 0)
}

fn sys_mincore(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (addr, len, vec_ptr) = (UserAddr(a[0]), a[1], a[2]);
    if !addr.is_page_aligned() {
        return Err(Errno::EINVAL);
    }
    let max = t.mm.max_address();
    if addr.0 > max || len > max - addr.0 {
        return Err(Errno::ENOMEM);
    }
    let pages = len.div_ceil(PAGE_SIZE);
    if !matches!(vec_ptr.checked_add(pages), Some(e) if e <= max) {
        return Err(Errno::EFAULT);
    }
    t.mm.check_mapped(addr, len)?;
    // In chunks, so a huge range never needs a huge buffer.
    const CHUNK: u64 = 4096;
    let mut buf = vec![0u8; pages.min(CHUNK) as usize];
    let mut done = 0u64;
    while done < pages {
        let n = (pages - done).min(CHUNK) as usize;
        t.mm.mincore(UserAddr(addr.0 + done * PAGE_SIZE), &mut buf[..n])?;
        t.mm.copy_out(UserAddr(vec_ptr + done), &buf[..n])?;
        done += n as u64;
    }
    Ok(0)
}

fn sys_mlock(t: &mut Task, a: &[u64; 6]) -> SysResult {
    t.mm.mlock(UserAddr(a[0]), a[1], true).map(|_| 0)
}

fn sys_mlock2(t: &mut Task, a: &[u64; 6]) -> SysResult {
    if arg::uint(a[2]) & !MLOCK_ONFAULT != 0 {
        return Err(Errno::EINVAL);
    }
    t.mm.mlock(UserAddr(a[0]), a[1], true).map(|_| 0)
}

fn sys_munlock(t: &mut Task, a: &[u64; 6]) -> SysResult {
    t.mm.mlock(UserAddr(a[0]), a[1], false).map(|_| 0)
}

fn sys_mlockall(_t: &mut Task, a: &[u64; 6]) -> SysResult {
    let flags = arg::int(a[0]) as u32;
    if flags == 0 || flags & !(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0 || flags == MCL_ONFAULT
    {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}

fn sys_munlockall(_t: &mut Task, _a: &[u64; 6]) -> SysResult {
    Ok(0)
}

/// Reads a NULL-terminated array of string pointers (argv or envp),
/// charging each pointer (8 bytes) and string (with its NUL) to `budget`.
/// A NULL array is empty.
fn read_strings(t: &Task, ptr: u64, budget: &mut u64) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    if ptr == 0 {
        return Ok(out);
    }
    let mut at = ptr;
    loop {
        let p: u64 = t.mm.read_obj(UserAddr(at))?;
        if p == 0 {
            return Ok(out);
        }
        *budget = budget.checked_sub(8).ok_or(Errno::E2BIG)?;
        let s =
            t.mm.read_cstring(UserAddr(p), crate::loader::MAX_ARG_STRLEN)
                .map_err(|e| {
                    if e == Errno::ENAMETOOLONG {
                        Errno::E2BIG
                    } else {
                        e
                    }
                })?;
        *budget = budget.checked_sub(s.len() as u64 + 1).ok_or(Errno::E2BIG)?;
        out.push(s);
        at = at.checked_add(8).ok_or(Errno::EFAULT)?;
    }
}

/// Reads execve's path, argv and envp.
fn exec_args(t: &Task, path: u64, argv: u64, envp: u64) -> Result<ExecArgs, Errno> {
    let path = t.read_path(path)?;
    let mut budget = crate::loader::arg_limit(t.rlimit(RLIMIT_STACK));
    let argv = read_strings(t, argv, &mut budget)?;
    let envp = read_strings(t, envp, &mut budget)?;
    Ok((path, argv, envp))
}

type ExecArgs = (Vec<u8>, Vec<Vec<u8>>, Vec<Vec<u8>>);

/// execve: on success the new image starts with rax = 0 (the result this
/// handler returns, written into the new registers).
fn sys_execve(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (path, argv, envp) = exec_args(t, a[0], a[1], a[2])?;
    crate::loader::exec(t, &path, argv, envp)?;
    Ok(0)
}

fn sys_execveat(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (dirfd, flags) = (arg::fd(a[0]), arg::int(a[4]) as u32);
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0 {
        return Err(Errno::EINVAL);
    }
    // An empty path reads as such; AT_EMPTY_PATH decides in the loader.
    let path = t.read_path(a[1])?;
    let mut budget = crate::loader::arg_limit(t.rlimit(RLIMIT_STACK));
    let argv = read_strings(t, a[2], &mut budget)?;
    let envp = read_strings(t, a[3], &mut budget)?;
    crate::loader::exec_at(t, dirfd, &path, flags, argv, envp)?;
    Ok(0)
}
