//! The identity of the host process that the sandbox inherits: its user
//! and group ids, supplementary groups, and the access modes of the
//! descriptors it passes in (stdio).

/// The host process's real user id.
pub fn getuid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// The host process's real group id.
pub fn getgid() -> u32 {
    // SAFETY: getgid has no preconditions and cannot fail.
    unsafe { libc::getgid() }
}

/// The host process's supplementary groups (empty if they cannot be read).
pub fn getgroups() -> Vec<u32> {
    loop {
        // SAFETY: a zero-length query only returns the count.
        let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
        if n <= 0 {
            return Vec::new();
        }
        let mut v = vec![0 as libc::gid_t; n as usize];
        // SAFETY: `v` has room for `n` gids.
        let got = unsafe { libc::getgroups(n, v.as_mut_ptr()) };
        if got >= 0 {
            v.truncate(got as usize);
            return v;
        }
        // EINVAL: the list grew between the calls; ask again.
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL) {
            return Vec::new();
        }
    }
}

/// The access mode (`O_RDONLY`, `O_WRONLY` or `O_RDWR`, Linux values) of
/// host descriptor `fd`, or `None` if it is not open.
pub fn fd_access_mode(fd: i32) -> Option<u32> {
    // SAFETY: F_GETFL on any integer is harmless (EBADF if not open).
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    (fl >= 0).then_some((fl & libc::O_ACCMODE) as u32)
}

/// The size in bytes of the host kernel's CPU mask as sched_getaffinity
/// reports it (`cpumask_size()`), so the sandbox answers the same.
pub fn cpumask_bytes() -> u32 {
    let mut buf = [0u8; 1024];
    // SAFETY: the buffer is writable for its whole length, which is passed.
    let n = unsafe { libc::syscall(libc::SYS_sched_getaffinity, 0, buf.len(), buf.as_mut_ptr()) };
    if n > 0 {
        n as u32
    } else {
        0
    }
}

/// The host process's nice value (0 if it cannot be read), which the
/// sandbox's first process starts with, as a container's init inherits
/// its runtime's.
pub fn nice() -> i32 {
    // SAFETY: getpriority has no memory arguments; errno is cleared first
    // because -1 is also a valid answer.
    unsafe {
        *libc::__errno_location() = 0;
        let n = libc::getpriority(libc::PRIO_PROCESS, 0);
        if n == -1 && *libc::__errno_location() != 0 {
            return 0;
        }
        n.clamp(-20, 19)
    }
}

/// The host process's file-creation mask.
pub fn umask() -> u32 {
    // SAFETY: umask cannot fail; the old mask is restored at once.
    let old = unsafe { libc::umask(0o022) };
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    old as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_matches_the_process() {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let field: i32 = after.split(' ').nth(16).unwrap().parse().unwrap();
        assert_eq!(nice(), field);
    }

    #[test]
    fn ids_match_the_process() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let field = |name: &str| -> Vec<u32> {
            let line = status.lines().find(|l| l.starts_with(name)).unwrap();
            line[name.len()..]
                .split_whitespace()
                .map(|v| v.parse().unwrap())
                .collect()
        };
        assert_eq!(getuid(), field("Uid:")[0]);
        assert_eq!(getgid(), field("Gid:")[0]);
        let mut want = field("Groups:");
        let mut got = getgroups();
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want);
    }

    #[test]
    fn access_modes() {
        let mut fds = [0; 2];
        // SAFETY: `fds` is a valid out-array of two ints.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        assert_eq!(fd_access_mode(fds[0]), Some(libc::O_RDONLY as u32));
        assert_eq!(fd_access_mode(fds[1]), Some(libc::O_WRONLY as u32));
        // SAFETY: closing our own pipe.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
        assert_eq!(fd_access_mode(fds[0]), None);
        assert_eq!(fd_access_mode(-1), None);
    }
}
