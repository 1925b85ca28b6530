//! Thin wrappers over the host calls the ptrace platform makes: ptrace
//! requests, waitpid, pidfds. Every wrapper maps failure to an
//! `io::Error` carrying the host errno.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use veil_abi::PtRegs;

// Requests and options the `libc` crate does not export on every target.
pub(crate) const PTRACE_SYSEMU: libc::c_uint = 31;
pub(crate) const PTRACE_GETREGSET: libc::c_uint = 0x4204;
pub(crate) const PTRACE_SETREGSET: libc::c_uint = 0x4205;
pub(crate) const PTRACE_GET_RSEQ_CONFIGURATION: libc::c_uint = 0x420f;
pub(crate) const NT_X86_XSTATE: usize = 0x202;
pub(crate) const PTRACE_SEIZE: libc::c_uint = 0x4206;
pub(crate) const PTRACE_INTERRUPT: libc::c_uint = 0x4207;
/// The event of a PTRACE_INTERRUPT (or, for a seized tracee, group) stop.
pub(crate) const PTRACE_EVENT_STOP: i32 = 128;

/// `struct ptrace_rseq_configuration`.
#[repr(C)]
#[derive(Default, Debug)]
pub(crate) struct RseqConfiguration {
    pub rseq_abi_pointer: u64,
    pub rseq_abi_size: u32,
    pub signature: u32,
    pub flags: u32,
    pub pad: u32,
}

// PtRegs is `struct user_regs_struct`, field for field.
const _: () = assert!(size_of::<PtRegs>() == size_of::<libc::user_regs_struct>());

fn check(r: libc::c_long) -> io::Result<libc::c_long> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// `ptrace(req, pid, addr, data)`.
///
/// # Safety
/// `addr` and `data` must be what `req` expects: for requests that read or
/// write through them, valid pointers to buffers of the right size.
pub(crate) unsafe fn ptrace(
    req: libc::c_uint,
    pid: i32,
    addr: usize,
    data: usize,
) -> io::Result<libc::c_long> {
    // SAFETY: the caller vouches for `addr` and `data`.
    check(unsafe {
        libc::ptrace(
            req,
            pid,
            addr as *mut libc::c_void,
            data as *mut libc::c_void,
        )
    })
}

/// Resumes a stopped tracee with `req` (PTRACE_CONT, PTRACE_SYSEMU),
/// delivering no signal.
pub(crate) fn resume(req: libc::c_uint, pid: i32) -> io::Result<()> {
    debug_assert!(req == libc::PTRACE_CONT || req == PTRACE_SYSEMU);
    // SAFETY: resume requests take no pointers; data 0 = no signal.
    unsafe { ptrace(req, pid, 0, 0) }.map(drop)
}

/// PTRACE_GETREGS into `regs`.
pub(crate) fn get_regs(pid: i32, regs: &mut PtRegs) -> io::Result<()> {
    // SAFETY: PtRegs has the layout of user_regs_struct (asserted above).
    unsafe { ptrace(libc::PTRACE_GETREGS, pid, 0, regs as *mut PtRegs as usize) }.map(drop)
}

/// PTRACE_SETREGS from `regs`.
pub(crate) fn set_regs(pid: i32, regs: &PtRegs) -> io::Result<()> {
    // SAFETY: as in `get_regs`; the kernel only reads.
    unsafe { ptrace(libc::PTRACE_SETREGS, pid, 0, regs as *const PtRegs as usize) }.map(drop)
}

/// PTRACE_GETSIGINFO.
pub(crate) fn get_siginfo(pid: i32) -> io::Result<libc::siginfo_t> {
    // SAFETY: siginfo_t is plain data; all-zero is a valid value.
    let mut si: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `si` is a valid siginfo_t out-buffer.
    unsafe { ptrace(libc::PTRACE_GETSIGINFO, pid, 0, &mut si as *mut _ as usize) }?;
    Ok(si)
}

/// PTRACE_GETREGSET of note type `nt` into `buf`; returns the bytes the
/// kernel filled.
pub(crate) fn get_regset(pid: i32, nt: usize, buf: &mut [u8]) -> io::Result<usize> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `iov` describes `buf`, which the kernel fills up to its length.
    unsafe { ptrace(PTRACE_GETREGSET, pid, nt, &mut iov as *mut _ as usize) }?;
    Ok(iov.iov_len)
}

/// PTRACE_SETREGSET of note type `nt` from `buf`.
pub(crate) fn set_regset(pid: i32, nt: usize, buf: &[u8]) -> io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: buf.as_ptr() as *mut _,
        iov_len: buf.len(),
    };
    // SAFETY: `iov` describes `buf`; the kernel only reads it.
    unsafe { ptrace(PTRACE_SETREGSET, pid, nt, &mut iov as *mut _ as usize) }.map(drop)
}

/// How a waited-for child changed state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// A ptrace stop: `sig` is the stop signal (`SIGTRAP | 0x80` for a
    /// syscall stop), `event` the PTRACE_EVENT_* (0 for none).
    Stopped { sig: i32, event: i32 },
    /// Exited with a status, or was killed by a signal: it is reaped.
    Gone,
}

/// waitpid(pid, __WALL), retried on EINTR.
pub(crate) fn wait(pid: i32) -> io::Result<Wait> {
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if r == -1 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        if libc::WIFSTOPPED(status) {
            return Ok(Wait::Stopped {
                sig: libc::WSTOPSIG(status),
                event: status >> 16,
            });
        }
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            return Ok(Wait::Gone);
        }
        // WIFCONTINUED is not reported without WCONTINUED; wait again.
    }
}

/// pidfd_open(pid): a handle on the process that outlives its pid.
pub(crate) fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes no pointers.
    let fd = check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// pidfd_send_signal(pidfd, sig): signals the process the pidfd names, or
/// nothing (ESRCH) if it is gone, even if its pid was reused since.
pub(crate) fn pidfd_send_signal(pidfd: &OwnedFd, sig: i32) -> io::Result<()> {
    // SAFETY: a NULL siginfo means "as kill(2)"; no other pointers.
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

/// tgkill(tgid, tid, sig): a signal to one thread of one process.
///
/// The caller must know that `tgid` is still the process it means (for
/// a stub: its leader is not reaped yet, so the pid cannot have been
/// reused); `tid` then names a thread of that process or nothing.
pub(crate) fn tgkill(tgid: i32, tid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: tgkill takes no pointers.
    check(unsafe { libc::syscall(libc::SYS_tgkill, tgid, tid, sig) }).map(drop)
}

thread_local! {
    static TID: Cell<i32> = const { Cell::new(0) };
}

/// The calling host thread's tid (cached per thread; also works while
/// the thread's other thread-locals are being destroyed).
pub(crate) fn gettid() -> i32 {
    TID.try_with(|t| {
        if t.get() == 0 {
            // SAFETY: gettid has no preconditions.
            t.set(unsafe { libc::gettid() });
        }
        t.get()
    })
    // SAFETY: as above.
    .unwrap_or_else(|_| unsafe { libc::gettid() })
}

/// The host errno of an error, or EIO.
pub(crate) fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}
