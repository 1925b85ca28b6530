//! Thin safe wrappers over the host system calls veil-fs makes (hostfs and
//! hostfd). Every `unsafe` block of the crate outside tests lives here.
//!
//! Paths passed to these functions are always relative to a directory fd;
//! the resolution rules (no symlinks, stay beneath the root) are chosen by
//! the callers in `hostfs`.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use veil_abi::Errno;

/// The errno of a host call as a sandbox [`Errno`] (`EIO` if unknown).
pub(crate) fn errno_of(e: &io::Error) -> Errno {
    e.raw_os_error()
        .and_then(Errno::from_raw)
        .unwrap_or(Errno::EIO)
}

fn last_err() -> io::Error {
    io::Error::last_os_error()
}

fn cvt(r: libc::c_long) -> io::Result<libc::c_long> {
    if r < 0 {
        Err(last_err())
    } else {
        Ok(r)
    }
}

/// How hostfs resolves every path it hands to the host: never above the
/// directory fd, never through a symlink (ordinary or magic).
pub(crate) const RESOLVE_SAFE: u64 =
    libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;

/// `struct open_how` (libc's is non-exhaustive).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// openat2(2) with `RESOLVE_SAFE`, retried on EAGAIN/EINTR.
pub(crate) fn openat2(dirfd: RawFd, path: &CStr, flags: i32) -> io::Result<OwnedFd> {
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_SAFE,
    };
    loop {
        // SAFETY: `path` is a valid NUL-terminated string and `how` a valid
        // `open_how` of the size passed; both outlive the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd,
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        match cvt(r) {
            // SAFETY: the kernel returned a new descriptor that we now own.
            Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EINTR)) => {
                continue
            }
            Err(e) => return Err(e),
        }
    }
}

/// open(2) of an absolute host path (only used to open a hostfs root).
pub(crate) fn open_dir(path: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: `path` is a valid NUL-terminated string.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(last_err());
    }
    // SAFETY: a new descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// fcntl(F_DUPFD_CLOEXEC): a new fd (>= 3) for the same open file.
pub(crate) fn dup_cloexec(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on any integer is harmless (EBADF if it is
    // not open).
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(last_err());
    }
    // SAFETY: a new descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// A host stat with the birth time, which `struct stat` cannot carry.
pub(crate) struct HostStat {
    /// The classic fields.
    pub st: libc::stat,
    /// Birth time (seconds, nanoseconds) where the host filesystem has one.
    pub btime: Option<(i64, u32)>,
}

impl std::ops::Deref for HostStat {
    type Target = libc::stat;
    fn deref(&self) -> &libc::stat {
        &self.st
    }
}

/// statx(dirfd, name, flags) folded into a [`HostStat`].
fn statx_at(dirfd: RawFd, name: &CStr, flags: i32) -> io::Result<HostStat> {
    // SAFETY: zeroed `statx` is a valid value of this plain C struct.
    let mut sx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `name` is NUL-terminated, `sx` is a valid out pointer.
    let r = unsafe {
        libc::statx(
            dirfd,
            name.as_ptr(),
            flags,
            libc::STATX_BASIC_STATS | libc::STATX_BTIME,
            &mut sx,
        )
    };
    if r < 0 {
        return Err(last_err());
    }
    // SAFETY: zeroed `stat` is a valid value of this plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    st.st_dev = libc::makedev(sx.stx_dev_major, sx.stx_dev_minor);
    st.st_ino = sx.stx_ino;
    st.st_nlink = sx.stx_nlink as u64;
    st.st_mode = sx.stx_mode as u32;
    st.st_uid = sx.stx_uid;
    st.st_gid = sx.stx_gid;
    st.st_rdev = libc::makedev(sx.stx_rdev_major, sx.stx_rdev_minor);
    st.st_size = sx.stx_size as i64;
    st.st_blksize = sx.stx_blksize as i64;
    st.st_blocks = sx.stx_blocks as i64;
    st.st_atime = sx.stx_atime.tv_sec;
    st.st_atime_nsec = sx.stx_atime.tv_nsec as i64;
    st.st_mtime = sx.stx_mtime.tv_sec;
    st.st_mtime_nsec = sx.stx_mtime.tv_nsec as i64;
    st.st_ctime = sx.stx_ctime.tv_sec;
    st.st_ctime_nsec = sx.stx_ctime.tv_nsec as i64;
    let btime = (sx.stx_mask & libc::STATX_BTIME != 0)
        .then_some((sx.stx_btime.tv_sec, sx.stx_btime.tv_nsec));
    Ok(HostStat { st, btime })
}

/// fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW) with the birth time: `name`
/// is a single component.
pub(crate) fn lstat_at(dirfd: RawFd, name: &CStr) -> io::Result<HostStat> {
    statx_at(dirfd, name, libc::AT_SYMLINK_NOFOLLOW)
}

/// fstat(2) with the birth time.
pub(crate) fn fstat_x(fd: RawFd) -> io::Result<HostStat> {
    statx_at(fd, c"", libc::AT_EMPTY_PATH)
}

/// fstat(2).
pub(crate) fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    // SAFETY: zeroed `stat` is a valid value of this plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out pointer.
    let r = unsafe { libc::fstat(fd, &mut st) };
    if r < 0 {
        return Err(last_err());
    }
    Ok(st)
}

/// fstatfs(2).
pub(crate) fn fstatfs(fd: RawFd) -> io::Result<libc::statfs> {
    // SAFETY: zeroed `statfs` is a valid value of this plain C struct.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out pointer.
    let r = unsafe { libc::fstatfs(fd, &mut st) };
    if r < 0 {
        return Err(last_err());
    }
    Ok(st)
}

/// readlinkat(fd, name): the whole target, however long.
pub(crate) fn readlinkat(dirfd: RawFd, name: &CStr) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: `name` is NUL-terminated; `buf` is writable for its length.
        let r = unsafe {
            libc::readlinkat(
                dirfd,
                name.as_ptr(),
                buf.as_mut_ptr() as *mut libc::c_char,
                buf.len(),
            )
        };
        if r < 0 {
            return Err(last_err());
        }
        let n = r as usize;
        if n < buf.len() {
            buf.truncate(n);
            return Ok(buf);
        }
        if buf.len() >= 1 << 16 {
            return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
        }
        let len = buf.len() * 2;
        buf.resize(len, 0);
    }
}

fn retry<F: FnMut() -> isize>(mut f: F) -> io::Result<usize> {
    loop {
        let r = f();
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = last_err();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// pread(2), retried on EINTR.
pub(crate) fn pread(fd: RawFd, buf: &mut [u8], off: u64) -> io::Result<usize> {
    let off = i64::try_from(off).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `buf` is writable for its length.
    retry(|| unsafe { libc::pread(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), off) })
}

/// read(2), retried on EINTR.
pub(crate) fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for its length.
    retry(|| unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) })
}

/// write(2), retried on EINTR.
pub(crate) fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is readable for its length.
    retry(|| unsafe { libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len()) })
}

/// lseek(2).
pub(crate) fn lseek(fd: RawFd, off: i64, whence: i32) -> io::Result<u64> {
    // SAFETY: plain syscall on an fd we hold.
    let r = unsafe { libc::lseek(fd, off, whence) };
    if r < 0 {
        return Err(last_err());
    }
    Ok(r as u64)
}

/// fsync(2).
pub(crate) fn fsync(fd: RawFd) -> io::Result<()> {
    // SAFETY: plain syscall on an fd we hold.
    let r = unsafe { libc::fsync(fd) };
    if r < 0 {
        return Err(last_err());
    }
    Ok(())
}

/// fcntl(F_GETFL).
pub(crate) fn getfl(fd: RawFd) -> io::Result<i32> {
    // SAFETY: plain syscall on an fd we hold.
    let r = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if r < 0 {
        return Err(last_err());
    }
    Ok(r)
}

/// isatty(3).
pub(crate) fn isatty(fd: RawFd) -> bool {
    // SAFETY: plain call on an fd we hold.
    unsafe { libc::isatty(fd) == 1 }
}

/// ioctl(fd, req, &mut T) for a plain C struct `T`.
pub(crate) fn ioctl_ptr<T>(fd: RawFd, req: u32, arg: &mut T) -> io::Result<i32> {
    // SAFETY: `arg` points to a valid, writable `T`, the type the request
    // reads or writes (checked by the callers).
    let r = unsafe { libc::ioctl(fd, req as libc::Ioctl, arg as *mut T as *mut libc::c_void) };
    if r < 0 {
        return Err(last_err());
    }
    Ok(r)
}

/// poll(2) of one fd with a zero timeout: the revents.
pub(crate) fn poll_now(fd: RawFd, events: i16) -> io::Result<i16> {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: `p` is one valid pollfd.
    let r = unsafe { libc::poll(&mut p, 1, 0) };
    if r < 0 {
        return Err(last_err());
    }
    Ok(p.revents)
}

/// One host directory entry.
pub(crate) struct HostDirent {
    pub ino: u64,
    pub kind: u8,
    pub name: Vec<u8>,
}

/// Reads a whole directory with getdents64 (skipping `.` and `..`).
pub(crate) fn read_dir(fd: &OwnedFd) -> io::Result<Vec<HostDirent>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // SAFETY: `buf` is writable for its length.
        let r = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                fd.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        let n = match cvt(r) {
            Ok(n) => n as usize,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(out);
        }
        let mut pos = 0usize;
        // struct linux_dirent64 { u64 d_ino; i64 d_off; u16 d_reclen;
        // u8 d_type; char d_name[]; }
        while pos + 19 <= n {
            let rec = &buf[pos..n];
            let ino = u64::from_ne_bytes(rec[0..8].try_into().unwrap_or([0; 8]));
            let reclen = u16::from_ne_bytes([rec[16], rec[17]]) as usize;
            if reclen < 19 || reclen > rec.len() {
                break;
            }
            let kind = rec[18];
            let name_bytes = &rec[19..reclen];
            let end = name_bytes
                .iter()
                .position(|&c| c == 0)
                .unwrap_or(name_bytes.len());
            let name = &name_bytes[..end];
            if name != b"." && name != b".." {
                out.push(HostDirent {
                    ino,
                    kind,
                    name: name.to_vec(),
                });
            }
            pos += reclen;
        }
    }
}
