//! Thin wrappers over the host calls the systrap platform makes in the
//! Sentry: futexes on shared words, pidfds, eventfds, memfds, waitpid.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::AtomicU32;
use std::time::Duration;

fn check(r: libc::c_long) -> io::Result<libc::c_long> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// FUTEX_WAIT (shared: the word lives in memory shared with a stub) while
/// `*word == val`, for at most `timeout`. Returns early on a wake, a
/// signal, or if the word already differs; callers re-check the word.
pub(crate) fn futex_wait(word: &AtomicU32, val: u32, timeout: Option<Duration>) {
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let tsp = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a valid, aligned u32 for the duration of the
    // call; `tsp` is null or points at a live timespec. FUTEX_WAIT only
    // reads the word.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            val,
            tsp,
            0usize,
            0u32,
        )
    };
}

/// FUTEX_WAKE (shared) of one waiter on `word`.
pub(crate) fn futex_wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE only uses the address as a key.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            1,
            0usize,
            0usize,
            0u32,
        )
    };
}

/// pidfd_open(pid).
pub(crate) fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: no pointers.
    let fd = check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// pidfd_send_signal(pidfd, sig): never reaches a reused pid.
pub(crate) fn pidfd_send_signal(pidfd: &OwnedFd, sig: i32) -> io::Result<()> {
    // SAFETY: a NULL siginfo means "as kill(2)".
    check(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<u8>(),
            0,
        )
    })
    .map(drop)
}

/// tgkill(tgid, tid, sig): the kernel refuses a `tid` outside `tgid`.
pub(crate) fn tgkill(tgid: i32, tid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: no pointers.
    check(unsafe { libc::syscall(libc::SYS_tgkill, tgid, tid, sig) }).map(drop)
}

/// A non-blocking, close-on-exec eventfd.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: no pointers.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads (and so resets) a non-blocking eventfd's counter; `None` if it
/// is zero.
pub(crate) fn eventfd_take(fd: &OwnedFd) -> Option<u64> {
    let mut v = 0u64;
    // SAFETY: reads 8 bytes into `v`.
    let n = unsafe { libc::read(fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    (n == 8).then_some(v)
}

/// A close-on-exec memfd of `len` bytes named `name` (NUL-terminated).
pub(crate) fn memfd(name: &[u8], len: u64) -> io::Result<OwnedFd> {
    debug_assert_eq!(name.last(), Some(&0));
    // SAFETY: `name` is NUL-terminated.
    let fd = unsafe { libc::memfd_create(name.as_ptr().cast(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ftruncate on our own descriptor.
    if unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// What `poll` saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ready {
    /// The first descriptor is readable.
    First,
    /// The second is (and the first is not).
    Second,
    /// Neither, within the timeout.
    Timeout,
}

/// Polls two descriptors for input, for at most `timeout_ms` (-1:
/// forever). EINTR counts as a timeout.
pub(crate) fn poll2(a: &OwnedFd, b: &OwnedFd, timeout_ms: i32) -> Ready {
    let mut fds = [
        libc::pollfd {
            fd: a.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: b.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: `fds` is a valid array of two pollfds.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout_ms) };
    if n <= 0 {
        return Ready::Timeout;
    }
    if fds[0].revents != 0 {
        Ready::First
    } else if fds[1].revents != 0 {
        Ready::Second
    } else {
        Ready::Timeout
    }
}

/// Whether the process behind `pidfd` has exited (its pidfd is readable).
pub(crate) fn pidfd_exited(pidfd: &OwnedFd) -> bool {
    let mut p = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n > 0 && p.revents != 0
}

/// waitpid(pid, __WALL) until it is reaped (or is not our child).
pub(crate) fn reap(pid: i32) {
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if r == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if r == -1 || libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            return;
        }
    }
}

/// The exit code or signal of a dead, unreaped child, reaping it.
pub(crate) fn reap_status(pid: i32) -> String {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
    if r != pid {
        return "unknown".into();
    }
    if libc::WIFEXITED(status) {
        format!("exit {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("signal {}", libc::WTERMSIG(status))
    } else {
        format!("status {status:#x}")
    }
}

/// The number of CPUs this thread may run on.
pub(crate) fn cpus() -> usize {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            let n = libc::CPU_COUNT(&set);
            if n > 0 {
                return n as usize;
            }
        }
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// sched_yield().
pub(crate) fn yield_now() {
    // SAFETY: no arguments.
    unsafe { libc::sched_yield() };
}

/// The kernel's `struct sched_attr`, first version (48 bytes).
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

/// Asks the scheduler for time slices of `slice` for the calling thread
/// (and what it forks or clones from now on): `sched_setattr` with
/// `sched_runtime`, which a normal (`SCHED_OTHER`/`SCHED_BATCH`) task may
/// set unprivileged since Linux 6.12 (EEVDF's custom slices; the kernel
/// clamps it to 0.1–100 ms). The task's share of the CPU does not change;
/// a shorter slice gives it an earlier deadline, so that when it wakes on
/// a busy CPU it preempts the running task instead of waiting for that
/// task's slice (1.4 ms by default here) to end. Policy and nice value
/// are kept. Best effort: older kernels ignore or refuse it.
pub(crate) fn set_time_slice(slice: Duration) {
    let mut a = SchedAttr::default();
    let size = size_of::<SchedAttr>() as u32;
    // SAFETY: `a` is a writable sched_attr of `size` bytes.
    let r = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            0,
            &mut a as *mut SchedAttr,
            size,
            0,
        )
    };
    if r != 0 || !(a.policy == libc::SCHED_OTHER as u32 || a.policy == libc::SCHED_BATCH as u32) {
        return;
    }
    let want = slice.as_nanos() as u64;
    if a.runtime != 0 && a.runtime <= want {
        return;
    }
    a.size = size;
    a.flags = 0;
    a.runtime = want;
    a.deadline = 0;
    a.period = 0;
    // SAFETY: `a` is a valid sched_attr for the calling thread (pid 0).
    unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &a as *const SchedAttr, 0) };
}
