//! Tasks: threads and the thread groups (processes) they belong to.
//!
//! A [`Task`] is one application thread as core sees it: its registers, its
//! address space ([`MemoryManager`]), fd table, filesystem context,
//! credentials and signal mask. Tasks in one thread group share a
//! [`ThreadGroup`] (pid, parent, rlimits, signal handlers, exit status).
//! Each task is driven by one host thread through [`Kernel::run`].

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;
use veil_abi::{Errno, KernelSigaction, Rlimit};

use crate::host::Blocker;
use crate::kernel::Kernel;
use crate::mm::MemoryManager;
use crate::platform::CpuState;
use crate::vfs::{FdTable, FsContext, Location};

/// A process or thread id inside the sandbox's pid namespace.
pub type Pid = i32;

/// User and group ids of a task.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// Real uid.
    pub uid: u32,
    /// Effective uid.
    pub euid: u32,
    /// Saved uid.
    pub suid: u32,
    /// Filesystem uid.
    pub fsuid: u32,
    /// Real gid.
    pub gid: u32,
    /// Effective gid.
    pub egid: u32,
    /// Saved gid.
    pub sgid: u32,
    /// Filesystem gid.
    pub fsgid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Capabilities: the effective, permitted, inheritable and bounding
    /// sets (bit `CAP_*`); see [`crate::syscalls::creds`] for how the id
    /// calls change them.
    pub caps: Capabilities,
    /// PR_SET_NO_NEW_PRIVS: execve never grants privileges (set-user-ID
    /// and set-group-ID bits are ignored). Kept with the credentials so
    /// that it is inherited by fork and clone and kept by execve, as
    /// Linux's per-task flag is; it can never be cleared.
    pub no_new_privs: bool,
}

/// A task's capability sets and securebits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// What the task may do now.
    pub effective: u64,
    /// What it may make effective.
    pub permitted: u64,
    /// What survives execve (with file capabilities, which veil lacks).
    pub inheritable: u64,
    /// The bounding set.
    pub bounding: u64,
    /// PR_SET_KEEPCAPS: permitted survives dropping every root id.
    pub keep_caps: bool,
}

impl Capabilities {
    /// Every capability Linux knows (0 ..= CAP_LAST_CAP).
    pub const ALL: u64 = (1u64 << (veil_abi::flags::CAP_LAST_CAP + 1)) - 1;

    /// The sets of a process started by `uid`: all for root, none
    /// otherwise (the bounding set is full either way).
    pub fn for_uid(uid: u32) -> Capabilities {
        let all = if uid == 0 { Self::ALL } else { 0 };
        Capabilities {
            effective: all,
            permitted: all,
            inheritable: 0,
            bounding: Self::ALL,
            keep_caps: false,
        }
    }

    /// True if capability `cap` is effective.
    pub fn has(&self, cap: u32) -> bool {
        cap < 64 && self.effective & (1u64 << cap) != 0
    }
}

impl Credentials {
    /// All ids set to `uid` / `gid`.
    pub fn new(uid: u32, gid: u32, groups: Vec<u32>) -> Credentials {
        Credentials {
            uid,
            euid: uid,
            suid: uid,
            fsuid: uid,
            gid,
            egid: gid,
            sgid: gid,
            fsgid: gid,
            groups,
            caps: Capabilities::for_uid(uid),
            no_new_privs: false,
        }
    }

    /// True if capability `cap` is effective.
    pub fn capable(&self, cap: u32) -> bool {
        self.caps.has(cap)
    }

    /// True if `gid` is the fs gid or a supplementary group.
    pub fn in_group(&self, gid: u32) -> bool {
        self.fsgid == gid || self.groups.contains(&gid)
    }
}

/// How a thread group ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// exit / exit_group with this code (low 8 bits matter).
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
}

impl ExitStatus {
    /// The status a shell reports: the code, or 128 + the signal.
    pub fn shell_code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c & 0xff,
            ExitStatus::Signaled(s) => 128 + s,
        }
    }
}

/// A vfork parent waiting for its child: the parent's blocker and the flag
/// it watches.
pub type VforkWaiter = (Arc<dyn Blocker>, Arc<core::sync::atomic::AtomicBool>);

/// What a process has read and written, as Linux's task I/O accounting
/// (`/proc/<pid>/io`): bytes through read- and write-like calls and the
/// number of such calls. veil has no block layer, so `read_bytes` and
/// `write_bytes` (storage traffic) are not counted.
#[derive(Default, Debug)]
pub struct IoAccount {
    /// Bytes read (`rchar`).
    pub rchar: core::sync::atomic::AtomicU64,
    /// Bytes written (`wchar`).
    pub wchar: core::sync::atomic::AtomicU64,
    /// Read calls (`syscr`).
    pub syscr: core::sync::atomic::AtomicU64,
    /// Write calls (`syscw`).
    pub syscw: core::sync::atomic::AtomicU64,
}

impl IoAccount {
    /// Counts one read-like call that transferred `n` bytes.
    pub fn read(&self, n: u64) {
        use core::sync::atomic::Ordering::Relaxed;
        self.syscr.fetch_add(1, Relaxed);
        self.rchar.fetch_add(n, Relaxed);
    }
    /// Counts one write-like call that transferred `n` bytes.
    pub fn write(&self, n: u64) {
        use core::sync::atomic::Ordering::Relaxed;
        self.syscw.fetch_add(1, Relaxed);
        self.wchar.fetch_add(n, Relaxed);
    }
}

/// State shared by the threads of one process.
pub struct ThreadGroup {
    /// The process id (the leader's tid).
    pub pid: Pid,
    /// The parent's pid.
    pub ppid: Mutex<Pid>,
    /// Resource limits, indexed by `RLIMIT_*`.
    pub rlimits: Mutex<[Rlimit; 16]>,
    /// Signal dispositions, indexed by signal number - 1.
    pub sigactions: Mutex<[KernelSigaction; 64]>,
    /// The executable (for /proc/self/exe).
    pub exe: Mutex<Option<Location>>,
    /// The command name (comm, 15 bytes at most).
    pub comm: Mutex<String>,
    /// Where argv and envp live in memory: (argv start, argv end, env start,
    /// env end), for /proc/self/cmdline and environ.
    pub args_range: Mutex<(u64, u64, u64, u64)>,
    /// The auxiliary vector the last exec built, for /proc/self/auxv.
    pub auxv: Mutex<Vec<(u64, u64)>>,
    /// I/O accounting for /proc/<pid>/io.
    pub io: IoAccount,
    /// Set once the group is exiting.
    pub exit_status: Mutex<Option<ExitStatus>>,
    /// Child processes not yet reaped by wait.
    pub children: Mutex<Vec<Arc<ThreadGroup>>>,
    /// Blockers of this group's threads sleeping in wait4/waitid (woken
    /// when a child changes state).
    pub child_waiters: Mutex<Vec<Arc<dyn Blocker>>>,
    /// Set while a vfork parent waits for this (child) process to exec or
    /// exit: the parent's blocker and the flag it watches.
    pub vfork_parent: Mutex<Option<VforkWaiter>>,
    /// True once the group's last thread has finished (a zombie until reaped).
    pub dead: core::sync::atomic::AtomicBool,
    /// Threads of the group still running (the group ends with the last).
    pub live_threads: core::sync::atomic::AtomicU32,
    /// The thread that is execve-ing while others run (0: none); the
    /// others end at their next check (see [`crate::process::de_thread`]).
    pub exec_tid: core::sync::atomic::AtomicU32,
    /// Process group id.
    pub pgid: Mutex<Pid>,
    /// Session id.
    pub sid: Mutex<Pid>,
    /// The controlling terminal (see [`crate::tty`]).
    pub ctty: Mutex<crate::tty::Ctty>,
    /// Pending group-wide signals, job control, and the registry of the
    /// group's threads (see [`crate::signal`]).
    pub signals: crate::signal::GroupSignals,
    /// Process management: CPU accounting, scheduling, timers, subreaper
    /// and parent-death signal (see [`crate::process`]).
    pub pm: crate::process::ProcState,
    /// The mount namespace the process made with unshare(CLONE_NEWNS) or
    /// inherited; `None`: the sandbox's first one (`Kernel::mounts`).
    pub mnt_ns: Mutex<Option<Arc<crate::vfs::MountNamespace>>>,
    /// The UTS namespace the process made or inherited; `None`: the
    /// sandbox's first one (see [`crate::syscalls::admin`]).
    pub uts_ns: Mutex<Option<Arc<crate::syscalls::admin::UtsNamespace>>>,
    /// The IPC namespace the process made or inherited; `None`: the
    /// sandbox's first one (see [`crate::ipc`]).
    pub ipc_ns: Mutex<Option<Arc<crate::ipc::IpcNamespace>>>,
    /// The SEM_UNDO list, shared with CLONE_SYSVSEM children (see
    /// [`crate::ipc::sem`]).
    pub sysvsem: Mutex<Option<Arc<crate::ipc::sem::UndoList>>>,
    /// What /proc shows of this process to others (see [`ProcView`]).
    pub view: Mutex<ProcView>,
    /// The seccomp state of the group's threads (see [`crate::seccomp`]).
    pub seccomp: crate::seccomp::GroupSeccomp,
}

/// True if a successful syscall `nr` may replace what [`ProcView`] holds
/// (the address space, fd table or filesystem context, or credentials).
pub fn changes_view(nr: u64) -> bool {
    use veil_abi::sysno::*;
    matches!(
        nr,
        EXECVE
            | EXECVEAT
            | SETUID
            | SETGID
            | SETREUID
            | SETREGID
            | SETRESUID
            | SETRESGID
            | SETFSUID
            | SETFSGID
            | SETGROUPS
            | CAPSET
            | PRCTL
            | UNSHARE
            | CLOSE_RANGE
    )
}

/// A process's resources as other processes' /proc sees them: the
/// leader's address space, fd table and filesystem context (weakly, so
/// that a process's own /proc files keep nothing alive) and credentials.
/// The leader publishes them ([`Task::publish_view`]) when it is made and
/// after every call that replaces one of them.
#[derive(Clone, Default)]
pub struct ProcView {
    /// The address space.
    pub mm: alloc::sync::Weak<MemoryManager>,
    /// The fd table.
    pub fds: alloc::sync::Weak<FdTable>,
    /// Root, working directory and umask.
    pub fs: alloc::sync::Weak<Mutex<FsContext>>,
    /// Credentials (`None` until published).
    pub creds: Option<Credentials>,
}

impl ThreadGroup {
    /// A new thread group with Linux's default limits.
    pub fn new(pid: Pid, ppid: Pid) -> ThreadGroup {
        ThreadGroup {
            pid,
            ppid: Mutex::new(ppid),
            rlimits: Mutex::new(default_rlimits()),
            sigactions: Mutex::new([KernelSigaction::default(); 64]),
            exe: Mutex::new(None),
            comm: Mutex::new(String::new()),
            args_range: Mutex::new((0, 0, 0, 0)),
            auxv: Mutex::new(Vec::new()),
            io: IoAccount::default(),
            exit_status: Mutex::new(None),
            children: Mutex::new(Vec::new()),
            child_waiters: Mutex::new(Vec::new()),
            vfork_parent: Mutex::new(None),
            dead: core::sync::atomic::AtomicBool::new(false),
            live_threads: core::sync::atomic::AtomicU32::new(1),
            exec_tid: core::sync::atomic::AtomicU32::new(0),
            pgid: Mutex::new(pid),
            sid: Mutex::new(pid),
            ctty: Mutex::new(crate::tty::Ctty::default()),
            signals: crate::signal::GroupSignals::new(pid),
            pm: crate::process::ProcState::default(),
            mnt_ns: Mutex::new(None),
            uts_ns: Mutex::new(None),
            ipc_ns: Mutex::new(None),
            sysvsem: Mutex::new(None),
            view: Mutex::new(ProcView::default()),
            seccomp: Default::default(),
        }
    }

    /// The process's mount namespace.
    pub fn mount_namespace(&self, kernel: &Kernel) -> Arc<crate::vfs::MountNamespace> {
        self.mnt_ns
            .lock()
            .clone()
            .unwrap_or_else(|| kernel.mounts.clone())
    }

    /// The soft limit of `resource`.
    pub fn rlimit(&self, resource: u32) -> u64 {
        self.rlimits.lock()[resource as usize & 15].cur
    }

    /// Lets a vfork parent go on (the child exec'd or exited).
    pub fn release_vfork_parent(&self) {
        if let Some((blocker, flag)) = self.vfork_parent.lock().take() {
            flag.store(true, core::sync::atomic::Ordering::Release);
            blocker.wake();
        }
    }

    /// Wakes threads of this group waiting for a child.
    pub fn wake_child_waiters(&self) {
        for b in self.child_waiters.lock().iter() {
            b.wake();
        }
    }
}

/// Linux's default resource limits for a process started from a shell.
pub fn default_rlimits() -> [Rlimit; 16] {
    use veil_abi::flags::*;
    let inf = Rlimit {
        cur: RLIM_INFINITY,
        max: RLIM_INFINITY,
    };
    let mut r = [inf; 16];
    r[RLIMIT_STACK as usize] = Rlimit {
        cur: 8 << 20,
        max: RLIM_INFINITY,
    };
    r[RLIMIT_CORE as usize] = Rlimit {
        cur: 0,
        max: RLIM_INFINITY,
    };
    r[RLIMIT_NOFILE as usize] = Rlimit {
        cur: 1024,
        max: 1 << 20,
    };
    r[RLIMIT_NPROC as usize] = Rlimit {
        cur: 63_000,
        max: 63_000,
    };
    r[RLIMIT_MEMLOCK as usize] = Rlimit {
        cur: 8 << 20,
        max: 8 << 20,
    };
    r[RLIMIT_SIGPENDING as usize] = Rlimit {
        cur: 63_000,
        max: 63_000,
    };
    r[RLIMIT_MSGQUEUE as usize] = Rlimit {
        cur: 819_200,
        max: 819_200,
    };
    r[RLIMIT_NICE as usize] = Rlimit { cur: 0, max: 0 };
    r[RLIMIT_RTPRIO as usize] = Rlimit { cur: 0, max: 0 };
    r
}

/// Work the run loop must do for a task after a handler returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pending {
    /// The FP state must be reset (after execve).
    pub reset_fp: bool,
    /// The task has exited; the loop ends.
    pub exited: bool,
    /// Do not write the handler's result into rax (execve, rt_sigreturn).
    pub keep_rax: bool,
    /// This thread alone exited (exit(2) in a multi-threaded group).
    pub thread_status: Option<ExitStatus>,
}

/// One application thread.
pub struct Task {
    /// The kernel.
    pub kernel: Arc<Kernel>,
    /// Thread id.
    pub tid: Pid,
    /// The process.
    pub tg: Arc<ThreadGroup>,
    /// The address space.
    pub mm: Arc<MemoryManager>,
    /// The fd table.
    pub fds: Arc<FdTable>,
    /// Root, cwd, umask.
    pub fs: Arc<Mutex<FsContext>>,
    /// Ids.
    pub creds: Credentials,
    /// Registers at the last trap; written back on the next switch.
    pub cpu: CpuState,
    /// Blocked signals. Change it with [`crate::signal::set_mask`], which
    /// also tells senders.
    pub sigmask: u64,
    /// set_tid_address.
    pub clear_child_tid: u64,
    /// set_robust_list (head, len).
    pub robust_list: (u64, u64),
    /// How this task sleeps.
    pub blocker: Arc<dyn Blocker>,
    /// What the run loop must do after the current syscall.
    pub pending: Pending,
    /// This thread's own signal state (alternate stack, restart block...).
    pub signals: crate::signal::TaskSignals,
    /// seccomp mode and filters (see [`crate::seccomp`]).
    pub seccomp: crate::seccomp::TaskSeccomp,
}

impl Task {
    /// The soft limit of `resource` for this task's process.
    pub fn rlimit(&self, resource: u32) -> u64 {
        self.tg.rlimit(resource)
    }

    /// The process id.
    pub fn pid(&self) -> Pid {
        self.tg.pid
    }

    /// Ends the whole thread group with `status`.
    pub fn exit_group(&mut self, status: ExitStatus) {
        {
            let mut st = self.tg.exit_status.lock();
            if st.is_none() {
                *st = Some(status);
            }
        }
        self.pending.exited = true;
        // Every other thread sees the status at its next check and ends.
        crate::signal::interrupt_group(&self.tg, self.tid);
    }

    /// Ends this thread only (exit(2)); the group ends with its last
    /// thread, with this status.
    pub fn exit_thread(&mut self, status: ExitStatus) {
        if self
            .tg
            .live_threads
            .load(core::sync::atomic::Ordering::Acquire)
            <= 1
        {
            self.exit_group(status);
        } else {
            self.pending.exited = true;
            self.pending.thread_status = Some(status);
        }
    }

    /// Publishes this task's address space, fd table, filesystem context
    /// and credentials as its process's [`ProcView`], if it is the
    /// process's leader (whose resources /proc shows).
    pub fn publish_view(&self) {
        if self.tid != self.tg.pid {
            return;
        }
        *self.tg.view.lock() = ProcView {
            mm: Arc::downgrade(&self.mm),
            fds: Arc::downgrade(&self.fds),
            fs: Arc::downgrade(&self.fs),
            creds: Some(self.creds.clone()),
        };
    }

    /// Reads a NUL-terminated path from user memory (`ENAMETOOLONG` past
    /// PATH_MAX, `EFAULT` on a bad pointer).
    pub fn read_path(&self, addr: u64) -> Result<Vec<u8>, Errno> {
        self.mm
            .read_cstring(crate::UserAddr(addr), veil_abi::flags::PATH_MAX)
    }
}
