//! Process file descriptors and clone3: pidfd_open, pidfd_send_signal,
//! clone3, and CLONE_PIDFD for clone and clone3.
//!
//! A pidfd ([`PidFd`]) refers to a process (or, with PIDFD_THREAD, a
//! thread). poll reports it readable once the process has exited
//! (POLLIN | POLLRDNORM, with POLLHUP once it is reaped); read and write
//! answer EINVAL. pidfd_send_signal signals the process as kill does
//! (the same permission check; a siginfo may claim a kernel origin only
//! for the caller itself), or its thread, or its process group with the
//! PIDFD_SIGNAL_* flags.
//!
//! clone3 reads `struct clone_args` with Linux's size rules (at least
//! version 0's 64 bytes, at most a page, bytes past the 88 this kernel
//! knows must be zero: E2BIG) and checks (`clone3_args_valid`), then does
//! what clone does ([`super::process::do_clone`]). CLONE_INTO_CGROUP is
//! accepted with a valid descriptor and ignored (there are no cgroups);
//! set_tid needs privileges veil does not grant (EPERM).

use alloc::sync::{Arc, Weak};
use core::any::Any;
use core::sync::atomic::Ordering;

use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{CloneArgs, Errno, Siginfo};
use zerocopy::{FromBytes, IntoBytes};

use super::{arg, Handler};
use crate::kernel::Kernel;
use crate::signal::{self, Dest};
use crate::task::{Pid, Task, ThreadGroup};
use crate::vfs::node::{FileOps, InodeAttr, PollMask};
use crate::vfs::waitq::WaitQueue;
use crate::vfs::OpenFile;
use crate::{SysResult, UserAddr};

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        PIDFD_OPEN => sys_pidfd_open,
        PIDFD_SEND_SIGNAL => sys_pidfd_send_signal,
        PIDFD_GETFD => sys_pidfd_getfd,
        CLONE3 => sys_clone3,
        _ => return None,
    })
}

/// pidfd_open's PIDFD_THREAD (O_EXCL).
const PIDFD_THREAD: u32 = O_EXCL;
/// pidfd_send_signal's scopes.
const PIDFD_SIGNAL_THREAD: u32 = 1;
const PIDFD_SIGNAL_THREAD_GROUP: u32 = 2;
const PIDFD_SIGNAL_PROCESS_GROUP: u32 = 4;
/// clone's flags below the high word, and the exit-signal byte.
const CLONE_LEGACY_FLAGS: u64 = 0xffff_ffff;
const CSIGNAL: u64 = 0xff;
const CLONE_NEWTIME: u64 = 0x80;
const CLONE_SIGHAND: u64 = 0x800;
const CLONE_PARENT: u64 = 0x8000;
const CLONE_THREAD: u64 = 0x10000;
const CLONE_DETACHED: u64 = 0x40_0000;
const CLONE_PARENT_SETTID: u64 = 0x10_0000;

/// The object behind a pidfd.
pub struct PidFd {
    kernel: Weak<Kernel>,
    /// The process (absent if it was already reaped when the pidfd was
    /// made).
    tg: Option<Arc<ThreadGroup>>,
    /// Its pid.
    pub pid: Pid,
    /// The thread, for a PIDFD_THREAD pidfd (else the leader's tid).
    pub tid: Pid,
    /// Made with PIDFD_THREAD.
    pub thread: bool,
}

impl PidFd {
    /// A pidfd for process `tg` (thread `tid`).
    pub fn new(
        kernel: &Arc<Kernel>,
        tg: Option<Arc<ThreadGroup>>,
        pid: Pid,
        tid: Pid,
        thread: bool,
    ) -> PidFd {
        PidFd {
            kernel: Arc::downgrade(kernel),
            tg,
            pid,
            tid,
            thread,
        }
    }

    /// The process while it has not been reaped.
    pub(crate) fn live(&self) -> Option<&Arc<ThreadGroup>> {
        let tg = self.tg.as_ref()?;
        let k = self.kernel.upgrade()?;
        k.thread_group(self.pid).filter(|g| Arc::ptr_eq(g, tg))?;
        Some(tg)
    }
}

impl FileOps for PidFd {
    fn read(&self, _buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self) -> PollMask {
        match self.live() {
            None => POLLIN | POLLRDNORM | POLLHUP,
            Some(tg) if tg.dead.load(Ordering::Acquire) => POLLIN | POLLRDNORM,
            Some(_) => 0,
        }
    }

    fn stat(&self) -> Option<InodeAttr> {
        Some(InodeAttr {
            ino: self.pid as u64,
            mode: 0o600,
            nlink: 1,
            blksize: 4096,
            ..Default::default()
        })
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        self.tg.as_ref().map(|tg| &tg.pm.exit_queue)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// pidfd_getfd(pidfd, targetfd, flags): a new descriptor (close-on-exec)
/// for the open file description at `targetfd` in the pidfd's process,
/// as Linux: `EINVAL` for any flag, `EBADF` for a bad pidfd or target
/// fd, `ESRCH` once the process has exited, `EPERM` without ptrace
/// access to it.
fn sys_pidfd_getfd(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (pidfd, target, flags) = (arg::fd(a[0]), arg::fd(a[1]), arg::uint(a[2]));
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let file = t.fds.file(pidfd)?;
    let Some(p) = file.ops.as_any().downcast_ref::<PidFd>() else {
        return Err(Errno::EBADF);
    };
    let tg = p.live().cloned().ok_or(Errno::ESRCH)?;
    if !super::admin::ptrace_may_access(t, &tg) {
        return Err(Errno::EPERM);
    }
    let fds = if Arc::ptr_eq(&tg, &t.tg) {
        Some(t.fds.clone())
    } else {
        tg.view.lock().fds.upgrade()
    };
    let fds = match fds {
        Some(f) if !tg.dead.load(Ordering::Acquire) => f,
        _ => return Err(Errno::ESRCH),
    };
    let got = fds.file(target)?;
    let limit = t.rlimit(RLIMIT_NOFILE);
    Ok(t.fds.insert(0, got, true, limit)? as u64)
}

/// A descriptor slot held while clone runs, replaced by the pidfd.
struct Reserved;

impl FileOps for Reserved {
    fn read(&self, _buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EBADF)
    }
    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EBADF)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn pidfd_file(pidfd: PidFd, nonblock: bool) -> Arc<OpenFile> {
    let flags = O_RDWR | if nonblock { O_NONBLOCK } else { 0 };
    OpenFile::new(Arc::new(pidfd), None, flags)
}

fn sys_pidfd_open(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let pid = arg::int(a[0]);
    let flags = arg::uint(a[1]);
    if flags & !(PIDFD_NONBLOCK | PIDFD_THREAD) != 0 || pid <= 0 {
        return Err(Errno::EINVAL);
    }
    let tg = t.kernel.thread_group(pid).ok_or(Errno::ESRCH)?;
    let thread = flags & PIDFD_THREAD != 0;
    if !thread && tg.pid != pid {
        return Err(Errno::EINVAL);
    }
    if thread
        && tg
            .signals
            .lock()
            .find(pid)
            .is_none_or(|th| th.exited && tg.pid != pid)
    {
        return Err(Errno::EINVAL);
    }
    let file = pidfd_file(
        PidFd::new(&t.kernel, Some(tg.clone()), tg.pid, pid, thread),
        flags & PIDFD_NONBLOCK != 0,
    );
    super::file::install(t, file, true)
}

fn sys_pidfd_send_signal(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let sig = arg::int(a[1]);
    let flags = arg::uint(a[3]);
    if flags & !(PIDFD_SIGNAL_THREAD | PIDFD_SIGNAL_THREAD_GROUP | PIDFD_SIGNAL_PROCESS_GROUP) != 0
        || flags.count_ones() > 1
    {
        return Err(Errno::EINVAL);
    }
    let file = t.fds.file(arg::fd(a[0]))?;
    let Some(pfd) = file.ops.as_any().downcast_ref::<PidFd>() else {
        return Err(Errno::EBADF);
    };
    let scope = match flags {
        0 if pfd.thread => PIDFD_SIGNAL_THREAD,
        0 => PIDFD_SIGNAL_THREAD_GROUP,
        f => f,
    };
    let info = if a[2] != 0 {
        let mut raw = Siginfo::default();
        t.mm.copy_in(UserAddr(a[2]), &mut raw.as_mut_bytes()[..4])?;
        let info = super::signal::read_user_info(t, a[2], raw.signo)?;
        if info.signo != sig {
            return Err(Errno::EINVAL);
        }
        let to_self = pfd.pid == t.pid() && scope != PIDFD_SIGNAL_PROCESS_GROUP;
        if !to_self && (info.code >= 0 || info.code == SI_TKILL) {
            return Err(Errno::EPERM);
        }
        info
    } else {
        let code = if scope == PIDFD_SIGNAL_THREAD {
            SI_TKILL
        } else {
            SI_USER
        };
        signal::user_info(t, sig, code)
    };
    let tg = pfd.live().cloned().ok_or(Errno::ESRCH)?;
    match scope {
        PIDFD_SIGNAL_THREAD => {
            super::signal::may_signal(t, &tg, info.signo, info.code <= 0)?;
            if info.signo != 0 {
                signal::send(
                    &t.kernel,
                    &tg,
                    Dest::Thread(pfd.tid),
                    info,
                    false,
                    Some(t.tid),
                )?;
            }
        }
        PIDFD_SIGNAL_PROCESS_GROUP => {
            let pgid = *tg.pgid.lock();
            let members: alloc::vec::Vec<Arc<ThreadGroup>> = t
                .kernel
                .processes()
                .into_iter()
                .filter(|g| *g.pgid.lock() == pgid)
                .collect();
            let mut ok = false;
            let mut last = Err(Errno::ESRCH);
            for g in &members {
                last = super::signal::group_send(t, g, info);
                ok |= last.is_ok();
            }
            if !ok {
                last?;
            }
        }
        _ => super::signal::group_send(t, &tg, info)?,
    }
    Ok(0)
}

// -------------------------------------------------------------------------
// clone3 and CLONE_PIDFD

/// clone with CLONE_PIDFD: a descriptor is reserved and its number written
/// to `pidfd_addr` before the child exists (so neither can fail after),
/// then it becomes the child's pidfd.
pub(crate) fn clone_with_pidfd(
    t: &mut Task,
    flags: u64,
    stack: u64,
    ptid: u64,
    ctid: u64,
    tls: u64,
    pidfd_addr: u64,
) -> SysResult {
    if flags & (CLONE_THREAD | CLONE_DETACHED) != 0 {
        return Err(Errno::EINVAL);
    }
    let limit = t.rlimit(RLIMIT_NOFILE);
    let fd = t.fds.insert(
        0,
        OpenFile::new(Arc::new(Reserved), None, O_RDWR),
        true,
        limit,
    )?;
    if let Err(e) = t.mm.write_obj(UserAddr(pidfd_addr), &fd) {
        let _ = t.fds.remove(fd);
        return Err(e);
    }
    let pid = match super::process::do_clone(t, flags & !CLONE_PIDFD, stack, ptid, ctid, tls) {
        Ok(p) => p as Pid,
        Err(e) => {
            let _ = t.fds.remove(fd);
            return Err(e);
        }
    };
    // The child may already be gone (reaped at once if SIGCHLD is
    // ignored): its pidfd is then readable at once.
    let tg = t.kernel.thread_group(pid).filter(|g| g.pid == pid);
    let file = pidfd_file(PidFd::new(&t.kernel, tg, pid, pid, false), false);
    let _ = t.fds.set(fd, file, true, limit);
    Ok(pid as u64)
}

/// Reads `struct clone_args` as Linux's `copy_clone_args_from_user`.
fn read_clone_args(t: &Task, addr: u64, size: u64) -> Result<CloneArgs, Errno> {
    if size > veil_abi::PAGE_SIZE {
        return Err(Errno::E2BIG);
    }
    if size < CLONE_ARGS_SIZE_VER0 {
        return Err(Errno::EINVAL);
    }
    let mut buf = alloc::vec![0u8; size as usize];
    t.mm.copy_in(UserAddr(addr), &mut buf)?;
    let known = core::mem::size_of::<CloneArgs>();
    if buf.len() > known && buf[known..].iter().any(|&b| b != 0) {
        return Err(Errno::E2BIG);
    }
    buf.resize(buf.len().max(known), 0);
    let args = CloneArgs::read_from_bytes(&buf[..known]).map_err(|_| Errno::EINVAL)?;
    if args.set_tid_size > 32 || (args.set_tid == 0) != (args.set_tid_size == 0) {
        return Err(Errno::EINVAL);
    }
    if args.exit_signal & !CSIGNAL != 0 || args.exit_signal > NSIG as u64 {
        return Err(Errno::EINVAL);
    }
    if args.flags & CLONE_INTO_CGROUP != 0
        && (args.cgroup > i32::MAX as u64 || size < CLONE_ARGS_SIZE_VER2)
    {
        return Err(Errno::EINVAL);
    }
    Ok(args)
}

fn sys_clone3(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let args = read_clone_args(t, a[0], a[1])?;
    let f = args.flags;
    // Linux's clone3_args_valid.
    if f & !(CLONE_LEGACY_FLAGS | CLONE_CLEAR_SIGHAND | CLONE_INTO_CGROUP) != 0
        || f & (CLONE_DETACHED | (CSIGNAL & !CLONE_NEWTIME)) != 0
        || f & (CLONE_SIGHAND | CLONE_CLEAR_SIGHAND) == (CLONE_SIGHAND | CLONE_CLEAR_SIGHAND)
        || (f & (CLONE_THREAD | CLONE_PARENT) != 0 && args.exit_signal != 0)
    {
        return Err(Errno::EINVAL);
    }
    let stack = if args.stack == 0 {
        if args.stack_size != 0 {
            return Err(Errno::EINVAL);
        }
        0
    } else {
        let top = args
            .stack
            .checked_add(args.stack_size)
            .ok_or(Errno::EINVAL)?;
        if args.stack_size == 0 || top > crate::mm::TASK_SIZE {
            return Err(Errno::EINVAL);
        }
        top
    };
    if args.set_tid_size > 0 {
        t.kernel
            .note_unsupported("clone3: set_tid (choosing the child's pid)");
        return Err(Errno::EPERM);
    }
    if f & CLONE_INTO_CGROUP != 0 {
        // No cgroups: the descriptor must be valid, and is then ignored.
        t.fds.file(args.cgroup as i32)?;
    }
    let flags = (f & !(CSIGNAL | CLONE_INTO_CGROUP)) | args.exit_signal;
    if f & CLONE_PIDFD != 0 {
        return clone_with_pidfd(
            t,
            flags,
            stack,
            args.parent_tid,
            args.child_tid,
            args.tls,
            args.pidfd,
        );
    }
    super::process::do_clone(t, flags, stack, args.parent_tid, args.child_tid, args.tls)
}

/// Checks the legacy clone's CLONE_PIDFD rule (the pidfd goes where the
/// parent tid would: not both) and runs it.
pub(crate) fn clone_legacy_pidfd(t: &mut Task, a: &[u64; 6]) -> SysResult {
    if a[0] & CLONE_PARENT_SETTID != 0 {
        return Err(Errno::EINVAL);
    }
    clone_with_pidfd(t, a[0], a[1], a[2], a[3], a[4], a[2])
}
