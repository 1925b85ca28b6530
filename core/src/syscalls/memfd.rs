//! memfd_create(2), and the seal commands of fcntl for its files.
//!
//! Follows Linux's `mm/memfd.c` with `vm.memfd_noexec` at its default (0):
//! unknown flags (huge-page size bits only with `MFD_HUGETLB`) and
//! `MFD_EXEC` with `MFD_NOEXEC_SEAL` are `EINVAL`; the name is read with
//! a limit of 249 bytes (`EINVAL` past it, `EFAULT` for a bad pointer)
//! before a descriptor is taken (`EMFILE`). The file is
//! [`crate::vfs::shmem::Shmem`]: mode 0777 (0666 with `MFD_NOEXEC_SEAL`)
//! whatever the umask, owned by the fs ids, opened `O_RDWR |
//! O_LARGEFILE`, with `F_SEAL_SEAL` set unless `MFD_ALLOW_SEALING` (or
//! `MFD_NOEXEC_SEAL`, which seals `F_SEAL_EXEC` instead). `MFD_HUGETLB`
//! with a huge page size x86-64 lacks is `ENODEV`.

use alloc::sync::Arc;
use alloc::vec::Vec;

use veil_abi::flags::*;
use veil_abi::sysno::MEMFD_CREATE;
use veil_abi::Errno;

use super::{arg, Handler};
use crate::task::Task;
use crate::vfs::shmem::{Shmem, ShmemFile, ShmemInit};
use crate::vfs::OpenFile;
use crate::{SysResult, UserAddr};

/// `NAME_MAX` less the `memfd:` prefix.
const MFD_NAME_MAX_LEN: usize = 255 - 6;
/// The flags memfd_create knows.
const MFD_ALL_FLAGS: u32 =
    MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC;

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        MEMFD_CREATE => sys_memfd_create,
        _ => return None,
    })
}

fn sys_memfd_create(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let flags = arg::uint(a[1]);
    let known = if flags & MFD_HUGETLB == 0 {
        MFD_ALL_FLAGS
    } else {
        MFD_ALL_FLAGS | (MFD_HUGE_MASK << MFD_HUGE_SHIFT)
    };
    if flags & !known != 0 || (flags & MFD_EXEC != 0 && flags & MFD_NOEXEC_SEAL != 0) {
        return Err(Errno::EINVAL);
    }
    let name = match t.mm.read_cstring(UserAddr(a[0]), MFD_NAME_MAX_LEN + 1) {
        Err(Errno::ENAMETOOLONG) => return Err(Errno::EINVAL),
        r => r?,
    };
    let hugetlb = flags & MFD_HUGETLB != 0;
    // Huge page sizes x86-64 has: 2 MiB and 1 GiB (0: the default).
    if hugetlb && !matches!((flags >> MFD_HUGE_SHIFT) & MFD_HUGE_MASK, 0 | 21 | 30) {
        return Err(Errno::ENODEV);
    }
    let noexec = flags & MFD_NOEXEC_SEAL != 0;
    let seals = if noexec {
        F_SEAL_EXEC
    } else if flags & MFD_ALLOW_SEALING != 0 {
        0
    } else {
        F_SEAL_SEAL
    };
    let inode = Shmem::new(
        &t.kernel,
        ShmemInit {
            mode: if noexec { 0o666 } else { 0o777 },
            uid: t.creds.fsuid,
            gid: t.creds.fsgid,
            seals,
            hugetlb,
        },
    );
    let mut shown: Vec<u8> = b"memfd:".to_vec();
    shown.extend_from_slice(&name);
    shown.extend_from_slice(b" (deleted)");
    let loc = inode.location(&shown);
    let file = OpenFile::new(
        Arc::new(ShmemFile::new(inode)),
        Some(loc),
        O_RDWR | O_LARGEFILE,
    );
    super::file::install(t, file, flags & MFD_CLOEXEC != 0)
}

/// F_ADD_SEALS and F_GET_SEALS on `file`: `EPERM` to add seals through a
/// description not open for writing (checked first, as Linux does), and
/// `EINVAL` for a file that has no seals (anything but a memfd).
pub(crate) fn seals(file: &OpenFile, cmd: u32, argv: u64) -> SysResult {
    if cmd == F_ADD_SEALS && !file.writable() {
        return Err(Errno::EPERM);
    }
    let shmem = file
        .ops
        .as_any()
        .downcast_ref::<ShmemFile>()
        .ok_or(Errno::EINVAL)?
        .shmem();
    if cmd == F_GET_SEALS {
        return Ok(shmem.seals() as u64);
    }
    shmem.add_seals(argv as u32).map(|_| 0)
}
