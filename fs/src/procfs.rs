//! procfs: the sandbox's `/proc`, generated from core's model.
//!
//! What a program sees depends on who asks: inode methods receive the
//! calling task, and the dynamic directories (`/proc` itself, `/proc/<pid>`
//! and below) are not cacheable, so every walk asks again. A
//! `/proc/<pid>` directory captures the process's state when it is looked
//! up: for the caller, its own task (thread group, address space, fd
//! table, fs context, credentials); for another process, what that
//! process's leader last published (`ThreadGroup::view`: weak references
//! to the same objects, and its credentials). Its files are generated when
//! opened (a snapshot read with offsets, as Linux's seq files).
//!
//! Served:
//! - `/proc/self` (-> `<pid>`), `/proc/thread-self` (-> `<pid>/task/<tid>`),
//!   `/proc/mounts` (-> `self/mounts`);
//! - `/proc/<pid>/` for every process of the sandbox (listed in `/proc`
//!   after the named entries, in pid order) and `/proc/<tid>/` for every
//!   thread: `exe`, `cwd`, `root` (magic links), `fd/` (magic links to
//!   each open file), `fdinfo/`, `task/<tid>/`, `maps`, `status`, `stat`,
//!   `statm`, `cmdline`, `environ`, `comm` (writable), `mounts`,
//!   `mountinfo` (the process's mount namespace, seen from its root: mounts
//!   it cannot reach are left out, as Linux does), `limits`, `cgroup`,
//!   `oom_score_adj`, `smaps` and `smaps_rollup` (resident sizes from the
//!   page table; dirtiness and sharing are not tracked per page, see
//!   [`smaps_text`]), `io` (read / write calls and bytes, counted by core),
//!   `auxv` (the vector of the last exec), `loginuid` (unset, as without
//!   an audit login), `ns/` (links named `kind:[N]` leading to an nsfs
//!   inode numbered N: the mount namespace's own number, and Linux's
//!   initial numbers for the kinds veil does not separate), and what
//!   tools read besides: `personality`, `wchan` (`0`: no kernel symbols),
//!   `stack` (`EACCES`: no kernel stack is shown), `sessionid`,
//!   `oom_score` (Linux's badness from the resident size), `oom_adj`,
//!   `timerslack_ns`, `coredump_filter`, `cpuset`, `schedstat`,
//!   `mountstats`, `uid_map` / `gid_map` / `setgroups` (the initial user
//!   namespace) and `attr/` (no LSM: `EINVAL`). A zombie (exited, not yet reaped) has state `Z`, no
//!   memory (empty `cmdline`, `maps`; zero sizes) and no fs context; once
//!   reaped, its pid is `ENOENT` and lookups in a directory still open are
//!   `ESRCH`, as in Linux;
//! - `cpuinfo` (the host's, read once, cut to the sandbox's CPU count),
//!   `meminfo` and `vmstat` (the memory file's resident size is what is
//!   used, as sysinfo counts it; no page cache or swap), `stat`, `uptime`,
//!   `loadavg`, `version`, `filesystems` (the types mount(2) can make, then
//!   those the sandbox mounted), `swaps`, `partitions`, `diskstats` (no
//!   swap, no block devices), `devices`, `cgroups`;
//! - `sys/kernel/{hostname,domainname,ostype,osrelease,version,pid_max,
//!   threads-max,ngroups_max,cap_last_cap,random/{boot_id,uuid,
//!   entropy_avail,poolsize},shmmax,shmall,shmmni,msgmax,msgmnb,msgmni,
//!   sem}`, `sys/vm/{overcommit_memory,max_map_count,swappiness}`,
//!   `sys/fs/{file-max,file-nr,nr_open,pipe-max-size,inotify/*,mqueue/*}`,
//!   `sys/net/core/somaxconn`;
//! - `sysvipc/{shm,sem,msg}`: the System V IPC objects of the caller's IPC
//!   namespace, in Linux's format (what `ipcs` reads).
//!
//! Mount options (each mount of proc is its own instance, as in Linux
//! 5.8+): `hidepid=` decides per caller what it sees of other processes
//! (Linux's `has_pid_permissions`: `gid=` members and those who may
//! ptrace the process are exempt from 1 and 2; 4 shows only the
//! ptraceable), `subset=pid` leaves only the pids, `self` and
//! `thread-self`. A `/proc/<pid>` is checked when looked up (a caller
//! that may not see it gets `ENOENT`; one that may not look in gets a
//! directory whose lookups and opening are `EPERM`) and `/proc` is listed
//! for whoever opened it ([`Inode::open_dir`]). Linux answers `EPERM`
//! rather than `ENOENT` under `hidepid=4` for a `/proc/<pid>` its dcache
//! still holds from another caller's lookup; veil has no such cache and
//! always answers as a fresh lookup. Files that show another process's
//! memory or open objects (`environ`, `auxv`, `maps`, `smaps*`, `exe`,
//! `cwd`, `root`, `fd/*`, `fdinfo/*`, `ns/*`) need ptrace access
//! (`EACCES`), `personality` and `io` check it when read.
//!
//! Left out: dumpability (a process that changed its ids stays
//! traceable and owns its `/proc/<pid>`); `.` and `..` are listed under
//! `subset=pid` (Linux lists neither); another process's state letter is `R` unless it is stopped
//! (`T`) or a zombie (`Z`) — whether it sleeps is not tracked; a thread
//! other than the leader of another process shows the leader's resources.
//! Never shown: host pids, host mounts, Sentry addresses.

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock, Weak};

use veil_abi::flags::{
    O_ACCMODE, O_CLOEXEC, O_RDONLY, O_RDWR, O_WRONLY, SIG_DFL, SIG_IGN, S_IFCHR, S_IFDIR, S_IFLNK,
    S_IFREG,
};
use veil_abi::{Errno, Statfs, Timespec};
use veil_core::host::Clock;
use veil_core::ipc;
use veil_core::kernel::Kernel;
use veil_core::mm::MemoryManager;
use veil_core::syscalls::admin;
use veil_core::syscalls::mqueue::queue::MqSysctl;
use veil_core::task::{Credentials, Pid, Task, ThreadGroup};
use veil_core::vfs::mount::{Filesystem, MountOption};
use veil_core::vfs::nsfs::{Namespace, NsFile, NsKind};
use veil_core::vfs::{
    Dentry, DirEntry, FdTable, FileOps, FileType, FsContext, Inode, InodeAttr, InodeRef, Location,
};
use veil_core::UserAddr;

use crate::hostfd::HostFdFile;
use crate::util::alloc_dev;

/// `PROC_SUPER_MAGIC` for statfs.
pub const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// Inode numbers of per-process nodes: bit 62, the pid, then a sub-code.
const PID_INO: u64 = 1 << 62;

struct Shared {
    dev: u64,
    /// Mount time: every node's timestamps.
    time: Timespec,
    /// The host's /proc/cpuinfo, read at construction.
    cpuinfo: Vec<u8>,
    boot_id: OnceLock<String>,
    /// The kernel whose processes `/proc` lists (given at construction,
    /// or learnt from the first task that looks something up).
    kernel: OnceLock<Weak<Kernel>>,
    /// This instance's mount options (each mount of proc is its own
    /// instance, as in Linux 5.8+; a bind mount shares them).
    opts: spin::Mutex<ProcOptions>,
}

/// `hidepid=`: how much of other processes' `/proc/<pid>` a caller may
/// see (Linux's `enum proc_hidepid`, with its numbers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum HidePid {
    /// `0` / `off`: everything, to everyone.
    #[default]
    Off = 0,
    /// `1` / `noaccess`: the directories are listed, but only their
    /// owners (and members of `gid=`, and ptracers) may look inside.
    NoAccess = 1,
    /// `2` / `invisible`: as `noaccess`, and the directories of others
    /// are not there at all (`ENOENT`, not listed).
    Invisible = 2,
    /// `4` / `ptraceable`: only the processes the caller may ptrace are
    /// there (`gid=` exempts no one).
    NotPtraceable = 4,
}

impl HidePid {
    /// The value of `hidepid=`: a number (C notation) or a name.
    pub fn parse(v: &[u8], number: Option<u32>) -> Option<HidePid> {
        Some(match (number, v) {
            (Some(0), _) | (None, b"off") => HidePid::Off,
            (Some(1), _) | (None, b"noaccess") => HidePid::NoAccess,
            (Some(2), _) | (None, b"invisible") => HidePid::Invisible,
            (Some(4), _) | (None, b"ptraceable") => HidePid::NotPtraceable,
            _ => return None,
        })
    }

    /// The name /proc/mounts shows.
    pub fn name(self) -> &'static str {
        match self {
            HidePid::Off => "off",
            HidePid::NoAccess => "noaccess",
            HidePid::Invisible => "invisible",
            HidePid::NotPtraceable => "ptraceable",
        }
    }
}

/// The mount options of a procfs instance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcOptions {
    /// `hidepid=`.
    pub hidepid: HidePid,
    /// `gid=`: the group whose members `hidepid=1` / `2` do not restrict
    /// (0 by default, as Linux's).
    pub gid: u32,
    /// `subset=pid`: only the process directories (and `self`,
    /// `thread-self`) are there.
    pub subset_pid: bool,
}

impl ProcOptions {
    /// The options as /proc/mounts shows them after the generic ones, in
    /// Linux's order (`,gid=5,hidepid=invisible,subset=pid`); the
    /// defaults are not shown.
    pub fn show(&self) -> String {
        let mut s = String::new();
        if self.gid != 0 {
            let _ = write!(s, ",gid={}", self.gid);
        }
        if self.hidepid != HidePid::Off {
            let _ = write!(s, ",hidepid={}", self.hidepid.name());
        }
        if self.subset_pid {
            s.push_str(",subset=pid");
        }
        s
    }
}

/// How far a caller may see into a `/proc/<pid>` directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PidAccess {
    /// Listed, and may be looked in.
    Full,
    /// Listed and stat-able, but looking in is `EPERM` (`hidepid=1`).
    Denied,
    /// Not there (`ENOENT`, not listed).
    Hidden,
}

impl Shared {
    fn options(&self) -> ProcOptions {
        *self.opts.lock()
    }

    /// Linux's `has_pid_permissions` and what `proc_pid_lookup`,
    /// `proc_pid_permission` and `pid_getattr` make of it: how the task
    /// `viewer` (credentials `creds`) may see process `s`.
    fn pid_access(&self, creds: &Credentials, viewer: &Arc<ThreadGroup>, s: &Snap) -> PidAccess {
        let o = self.options();
        let traceable = || may_ptrace(creds, viewer, s);
        match o.hidepid {
            HidePid::Off => PidAccess::Full,
            HidePid::NotPtraceable if traceable() => PidAccess::Full,
            HidePid::NotPtraceable => PidAccess::Hidden,
            _ if creds.in_group(o.gid) || traceable() => PidAccess::Full,
            HidePid::Invisible => PidAccess::Hidden,
            _ => PidAccess::Denied,
        }
    }
}

/// Linux's `ptrace_may_access` with PTRACE_MODE_FSCREDS (what procfs
/// asks): the same process; or the caller's fs uid and gid are each of
/// the target's real, effective and saved ones, or it has CAP_SYS_PTRACE;
/// and then (the capability LSM) the target's permitted capabilities are
/// within the caller's effective ones, or it has CAP_SYS_PTRACE; and a
/// target that is not dumpable (PR_SET_DUMPABLE, a credential change)
/// only to CAP_SYS_PTRACE. veil has no Yama.
fn may_ptrace(creds: &Credentials, viewer: &Arc<ThreadGroup>, s: &Snap) -> bool {
    if Arc::ptr_eq(viewer, &s.tg) {
        return true;
    }
    let privileged = creds.capable(veil_abi::flags::CAP_SYS_PTRACE);
    let t = &s.creds;
    let (u, g) = (creds.fsuid, creds.fsgid);
    let same_ids = [t.uid, t.euid, t.suid] == [u; 3] && [t.gid, t.egid, t.sgid] == [g; 3];
    if !same_ids && !privileged {
        return false;
    }
    if !s.tg.pm.dumpable.user() && !s.zombie() && !privileged {
        return false;
    }
    t.caps.permitted & !creds.caps.effective == 0 || privileged
}

/// A procfs instance.
pub struct ProcFs {
    root: Arc<ProcInode>,
}

impl ProcFs {
    /// A procfs whose `cpuinfo` is the host's (read now, once).
    pub fn new(clock: Arc<dyn Clock>) -> ProcFs {
        let cpuinfo = std::fs::read("/proc/cpuinfo").unwrap_or_default();
        ProcFs::with_cpuinfo(clock, cpuinfo)
    }

    /// A procfs with the given `cpuinfo` text (one block per CPU, blank
    /// lines between; empty to generate one).
    pub fn with_cpuinfo(clock: Arc<dyn Clock>, cpuinfo: Vec<u8>) -> ProcFs {
        let shared = Arc::new(Shared {
            dev: alloc_dev(),
            time: clock.realtime(),
            cpuinfo,
            boot_id: OnceLock::new(),
            kernel: OnceLock::new(),
            opts: spin::Mutex::new(ProcOptions::default()),
        });
        ProcFs {
            root: Arc::new(ProcInode {
                fs: shared,
                ino: 1,
                node: Node::Dir(DirKind::Root),
                gate: Gate::Open,
            }),
        }
    }

    /// A procfs listing the processes of `kernel` (its `cpuinfo` the
    /// host's, read now, once).
    pub fn for_kernel(kernel: &Arc<Kernel>) -> ProcFs {
        ProcFs::new(kernel.clock.clone()).listing(kernel)
    }

    /// This procfs, listing the processes of `kernel` in `/proc` (unless
    /// it already knows its kernel).
    pub fn listing(self, kernel: &Arc<Kernel>) -> ProcFs {
        let _ = self.root.fs.kernel.set(Arc::downgrade(kernel));
        self
    }

    /// The root inode.
    pub fn root(&self) -> InodeRef {
        self.root.clone()
    }

    /// The root as a VFS root dentry, to mount at `/proc`.
    pub fn root_dentry(&self) -> Arc<Dentry> {
        Dentry::new_root(self.root.clone())
    }

    /// The instance's mount options.
    pub fn options(&self) -> ProcOptions {
        self.root.fs.options()
    }

    /// Sets the instance's mount options (mount, remount).
    pub fn set_options(&self, opts: ProcOptions) {
        *self.root.fs.opts.lock() = opts;
    }
}

/// A procfs as mount(2) and the runtime mount it: its options show in
/// /proc/mounts, and a remount changes those it names.
impl Filesystem for ProcFs {
    fn root(&self) -> InodeRef {
        self.root.clone()
    }

    fn show_options(&self) -> String {
        self.options().show()
    }

    fn reconfigure(&self, opts: &[MountOption]) -> Result<(), Errno> {
        let mut o = self.options();
        crate::fstypes::apply_proc_options(&mut o, opts)?;
        self.set_options(o);
        Ok(())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A fresh procfs root inode, for the runtime to mount at `/proc` (type
/// `proc`): `mount(&at, Dentry::new_root(root), "proc", "proc")`. Reads
/// the host's `/proc/cpuinfo` once, now.
pub fn new_root(clock: Arc<dyn Clock>) -> InodeRef {
    ProcFs::new(clock).root()
}

/// As [`new_root`], listing the processes of `kernel` in `/proc` from the
/// start (a root made by [`new_root`] learns its kernel at the first
/// lookup).
pub fn new_root_for(kernel: &Arc<Kernel>) -> InodeRef {
    ProcFs::for_kernel(kernel).root()
}

/// First readdir cookie of the pid entries of `/proc` (after the named
/// ones; a pid's cookie is this plus the pid, so listings resume in pid
/// order).
const PID_COOKIE: u64 = 1 << 32;

/// The state of a process as seen through `/proc/<pid>`.
struct Snap {
    kernel: Arc<Kernel>,
    tid: Pid,
    tg: Arc<ThreadGroup>,
    // Weak, so that a /proc file held open by the process itself (in its
    // fd table or as its cwd) does not keep the process alive in a cycle.
    mm: Weak<MemoryManager>,
    fds: Weak<FdTable>,
    fs: Weak<spin::Mutex<FsContext>>,
    creds: Credentials,
    sigmask: u64,
}

impl Snap {
    fn of(cx: &Task) -> Arc<Snap> {
        Arc::new(Snap {
            kernel: cx.kernel.clone(),
            tid: cx.tid,
            tg: cx.tg.clone(),
            mm: Arc::downgrade(&cx.mm),
            fds: Arc::downgrade(&cx.fds),
            fs: Arc::downgrade(&cx.fs),
            creds: cx.creds.clone(),
            sigmask: cx.sigmask,
        })
    }

    /// Process `tg` as another process sees it, from its thread `tid`:
    /// what its leader last published ([`ThreadGroup::view`]).
    fn of_group(kernel: &Arc<Kernel>, tg: Arc<ThreadGroup>, tid: Pid) -> Arc<Snap> {
        let v = tg.view.lock().clone();
        let sigmask = tg.signals.lock().find(tid).map_or(0, |h| h.mask);
        Arc::new(Snap {
            kernel: kernel.clone(),
            tid,
            tg,
            mm: v.mm,
            fds: v.fds,
            fs: v.fs,
            creds: v.creds.unwrap_or_default(),
            sigmask,
        })
    }

    /// The process or thread `id` as `cx` sees it, if it exists: the
    /// caller itself from its own state, others from their published
    /// view. Zombies exist until reaped.
    fn find(cx: &Task, id: Pid) -> Option<Arc<Snap>> {
        if id == cx.pid() || id == cx.tid {
            return Some(Snap::of(cx));
        }
        let tg = cx.kernel.thread_group(id)?;
        if tg.pid != id {
            // A thread of another process (or of this one).
            let live = tg.signals.lock().find(id).is_some_and(|h| !h.exited);
            if !live {
                return None;
            }
            if Arc::ptr_eq(&tg, &cx.tg) {
                return Some(Snap::of(cx).thread(id));
            }
        }
        Some(Snap::of_group(&cx.kernel, tg, id))
    }

    fn pid(&self) -> Pid {
        self.tg.pid
    }

    /// True once the process has been reaped (its pid is free): looking
    /// in its directory is `ESRCH`, as in Linux.
    fn gone(&self) -> bool {
        !self
            .kernel
            .thread_group(self.pid())
            .is_some_and(|tg| Arc::ptr_eq(&tg, &self.tg))
    }

    /// True once the process has ended and is waiting to be reaped.
    fn zombie(&self) -> bool {
        self.tg.dead.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The state letter and word of /proc/<pid>/stat and status.
    fn state(&self) -> (char, &'static str) {
        if self.zombie() {
            ('Z', "zombie")
        } else if self.tg.signals.lock().job.stopped {
            ('T', "stopped")
        } else {
            ('R', "running")
        }
    }

    /// The address space: `None` for a zombie (it has none left), `ESRCH`
    /// once the process is gone.
    fn mm_opt(&self) -> Result<Option<Arc<MemoryManager>>, Errno> {
        if self.zombie() {
            return Ok(None);
        }
        self.mm().map(Some)
    }

    /// The live threads of the process, in creation order.
    fn live_tids(&self) -> Vec<Pid> {
        let g = self.tg.signals.lock();
        let mut tids: Vec<Pid> = g
            .threads
            .iter()
            .filter(|h| !h.exited || h.tid == self.tid)
            .map(|h| h.tid)
            .collect();
        if !tids.contains(&self.tid) {
            tids.push(self.tid);
        }
        tids
    }

    /// The same process seen from its thread `tid` (its own signal mask).
    fn thread(self: &Arc<Snap>, tid: Pid) -> Arc<Snap> {
        if tid == self.tid {
            return self.clone();
        }
        let mask = self.tg.signals.lock().find(tid).map_or(0, |h| h.mask);
        Arc::new(Snap {
            kernel: self.kernel.clone(),
            tid,
            tg: self.tg.clone(),
            mm: self.mm.clone(),
            fds: self.fds.clone(),
            fs: self.fs.clone(),
            creds: self.creds.clone(),
            sigmask: mask,
        })
    }

    fn ino(&self, sub: u64) -> u64 {
        // A thread's own task/<tid> directory is numbered by its tid (tids
        // and pids share one number space).
        let id = if sub == SUB_TASK_DIR {
            self.tid
        } else {
            self.pid()
        };
        PID_INO | ((id as u32 as u64) << 24) | (sub & 0xff_ffff)
    }

    /// The address space (`ESRCH` once the process is gone).
    fn mm(&self) -> Result<Arc<MemoryManager>, Errno> {
        self.mm.upgrade().ok_or(Errno::ESRCH)
    }

    /// The fd table (`ESRCH` once the process is gone).
    fn fds(&self) -> Result<Arc<FdTable>, Errno> {
        self.fds.upgrade().ok_or(Errno::ESRCH)
    }

    /// The fs context (`ESRCH` once the process is gone).
    fn fs(&self) -> Result<Arc<spin::Mutex<FsContext>>, Errno> {
        self.fs.upgrade().ok_or(Errno::ESRCH)
    }

    fn root(&self) -> Result<Location, Errno> {
        Ok(self.fs()?.lock().root.clone())
    }
}

#[derive(Clone)]
enum DirKind {
    Root,
    Sys,
    SysKernel,
    SysKernelRandom,
    SysVm,
    SysFs,
    SysFsInotify,
    SysFsMqueue,
    SysNet,
    SysNetCore,
    Sysvipc,
    Pid(Arc<Snap>),
    Attr(Arc<Snap>),
    Ns(Arc<Snap>),
    Task(Arc<Snap>),
    Fd(Arc<Snap>),
    FdInfo(Arc<Snap>),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Global {
    Cpuinfo,
    Meminfo,
    Stat,
    Uptime,
    Loadavg,
    Version,
    Filesystems,
    Hostname,
    Domainname,
    Ostype,
    Osrelease,
    KVersion,
    PidMax,
    NgroupsMax,
    CapLastCap,
    BootId,
    Uuid,
    Overcommit,
    MaxMapCount,
    FileMax,
    NrOpen,
    PipeMaxSize,
    Somaxconn,
    Vmstat,
    Diskstats,
    Partitions,
    Swaps,
    Devices,
    Cgroups,
    EntropyAvail,
    Poolsize,
    ThreadsMax,
    Shmmax,
    Shmall,
    Shmmni,
    Msgmax,
    Msgmnb,
    Msgmni,
    Sem,
    SysvipcShm,
    SysvipcSem,
    SysvipcMsg,
    Swappiness,
    FileNr,
    InotifyMaxUserWatches,
    InotifyMaxUserInstances,
    InotifyMaxQueuedEvents,
    /// `sys/fs/mqueue/*`: the sandbox's message-queue limits.
    Mqueue(MqSysctl),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum PidFile {
    Maps,
    Status,
    Stat,
    Statm,
    Cmdline,
    Environ,
    Comm,
    Mounts,
    Mountinfo,
    Limits,
    Cgroup,
    OomScoreAdj,
    Smaps,
    SmapsRollup,
    Io,
    Loginuid,
    Auxv,
    Personality,
    Wchan,
    Stack,
    Sessionid,
    OomScore,
    OomAdj,
    TimerslackNs,
    CoredumpFilter,
    Cpuset,
    Schedstat,
    UidMap,
    GidMap,
    Setgroups,
    Mountstats,
    /// A file of `attr/` (its index in [`ATTR_ENTRIES`]).
    Attr(u8),
}

/// The namespaces `/proc/<pid>/ns/` shows, in Linux's order, with the
/// sub-code of their link.
const NS_KINDS: &[(&str, u64)] = &[
    ("cgroup", 40),
    ("ipc", 41),
    ("mnt", 42),
    ("net", 43),
    ("pid", 44),
    ("pid_for_children", 45),
    ("time", 46),
    ("time_for_children", 47),
    ("user", 48),
    ("uts", 49),
];

/// The process's namespace of `kind` (a `/proc/<pid>/ns/` name): its own
/// mount and UTS namespaces, and the one of each kind veil does not
/// separate (see `veil_core::vfs::nsfs`).
fn namespace(s: &Snap, kind: &str) -> Namespace {
    let kind = NsKind::from_name(kind).unwrap_or(NsKind::Uts);
    Namespace::of(&s.kernel, &s.tg, kind)
}

fn ns_number(s: &Snap, kind: &str) -> u64 {
    namespace(s, kind).id()
}

/// The nsfs device number (anonymous, as Linux's `0:4`).
const NSFS_DEV: u64 = 4;

#[derive(Clone)]
enum LinkKind {
    SelfLink,
    ThreadSelf,
    Fixed(&'static [u8]),
    Exe(Arc<Snap>),
    Cwd(Arc<Snap>),
    Root(Arc<Snap>),
    Fd(Arc<Snap>, i32),
    Ns(Arc<Snap>, &'static str),
}

#[derive(Clone)]
enum Node {
    Dir(DirKind),
    Global(Global),
    Pid(Arc<Snap>, PidFile),
    FdInfo(Arc<Snap>, i32),
    Link(LinkKind),
}

/// A procfs inode.
pub struct ProcInode {
    fs: Arc<Shared>,
    ino: u64,
    node: Node,
    gate: Gate,
}

/// What a node lets its caller do beyond what its kind says.
#[derive(Clone)]
enum Gate {
    Open,
    /// A `/proc/<pid>` the caller may not look in (`hidepid=1`): lookups,
    /// listing and opening are `EPERM`.
    Denied,
    /// `/proc` as listed for the process `Snap` (who opened it): the pids
    /// `hidepid=` lets it see.
    ListingFor(Arc<Snap>),
}

const ROOT_ENTRIES: &[(&str, u64)] = &[
    ("cgroups", 13),
    ("cpuinfo", 2),
    ("devices", 14),
    ("diskstats", 15),
    ("filesystems", 3),
    ("loadavg", 4),
    ("meminfo", 5),
    ("mounts", 6),
    ("partitions", 16),
    ("self", 7),
    ("stat", 8),
    ("swaps", 17),
    ("sys", 9),
    ("sysvipc", 19),
    ("thread-self", 10),
    ("uptime", 11),
    ("version", 12),
    ("vmstat", 18),
];

const SYS_ENTRIES: &[(&str, u64)] = &[("fs", 20), ("kernel", 21), ("net", 23), ("vm", 22)];
const SYS_NET_ENTRIES: &[(&str, u64)] = &[("core", 70)];
const SYSVIPC_ENTRIES: &[(&str, u64)] = &[("msg", 98), ("sem", 99), ("shm", 100)];
const SYS_NET_CORE_ENTRIES: &[(&str, u64)] = &[("somaxconn", 80)];
const SYS_KERNEL_ENTRIES: &[(&str, u64)] = &[
    ("cap_last_cap", 30),
    ("domainname", 31),
    ("hostname", 32),
    ("msgmax", 90),
    ("msgmnb", 91),
    ("msgmni", 92),
    ("ngroups_max", 33),
    ("osrelease", 34),
    ("ostype", 35),
    ("pid_max", 36),
    ("random", 37),
    ("sem", 93),
    ("shmall", 94),
    ("shmmax", 95),
    ("shmmni", 96),
    ("threads-max", 97),
    ("version", 38),
];
const SYS_RANDOM_ENTRIES: &[(&str, u64)] = &[
    ("boot_id", 40),
    ("entropy_avail", 42),
    ("poolsize", 43),
    ("uuid", 41),
];
const SYS_VM_ENTRIES: &[(&str, u64)] = &[
    ("max_map_count", 50),
    ("overcommit_memory", 51),
    ("swappiness", 52),
];
const SYS_FS_ENTRIES: &[(&str, u64)] = &[
    ("file-max", 60),
    ("file-nr", 63),
    ("inotify", 64),
    ("mqueue", 110),
    ("nr_open", 61),
    ("pipe-max-size", 62),
];
const SYS_FS_MQUEUE_ENTRIES: &[(&str, u64)] = &[
    ("msg_default", 111),
    ("msg_max", 112),
    ("msgsize_default", 113),
    ("msgsize_max", 114),
    ("queues_max", 115),
];
const SYS_FS_INOTIFY_ENTRIES: &[(&str, u64)] = &[
    ("max_queued_events", 65),
    ("max_user_instances", 66),
    ("max_user_watches", 67),
];

const PID_ENTRIES: &[(&str, u64)] = &[
    ("attr", 26),
    ("auxv", 20),
    ("cgroup", 1),
    ("cmdline", 2),
    ("comm", 3),
    ("coredump_filter", 27),
    ("cpuset", 28),
    ("cwd", 4),
    ("environ", 5),
    ("exe", 6),
    ("fd", 7),
    ("fdinfo", 8),
    ("gid_map", 29),
    ("io", 21),
    ("limits", 9),
    ("loginuid", 22),
    ("maps", 10),
    ("mountinfo", 11),
    ("mounts", 12),
    ("mountstats", 30),
    ("ns", 23),
    ("oom_adj", 31),
    ("oom_score", 32),
    ("oom_score_adj", 13),
    ("personality", 33),
    ("root", 14),
    ("schedstat", 34),
    ("sessionid", 35),
    ("setgroups", 36),
    ("smaps", 24),
    ("smaps_rollup", 25),
    ("stack", 37),
    ("stat", 15),
    ("statm", 16),
    ("status", 17),
    ("task", 18),
    ("timerslack_ns", 38),
    ("uid_map", 39),
    ("wchan", 50),
];
/// The files of `/proc/<pid>/attr/` (the LSM attributes; veil has no LSM,
/// so they read `EINVAL`), with their sub-codes.
const ATTR_ENTRIES: &[(&str, u64)] = &[
    ("current", 51),
    ("exec", 52),
    ("fscreate", 53),
    ("keycreate", 54),
    ("prev", 55),
    ("sockcreate", 56),
];
/// Sub-codes of `fd/N` and `fdinfo/N` entries (plus the fd).
const SUB_FD: u64 = 1 << 20;
const SUB_FDINFO: u64 = 2 << 20;
/// Sub-code of `task/<tid>`.
const SUB_TASK_DIR: u64 = 19;

/// Parses a pid or fd as Linux does: decimal digits, no sign, no leading
/// zero.
fn parse_num(name: &[u8]) -> Option<i32> {
    if name.is_empty() || name.len() > 10 || (name[0] == b'0' && name.len() > 1) {
        return None;
    }
    if !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(name).ok()?.parse().ok()
}

impl ProcInode {
    fn make(&self, ino: u64, node: Node) -> Arc<ProcInode> {
        Arc::new(ProcInode {
            fs: self.fs.clone(),
            ino,
            node,
            gate: Gate::Open,
        })
    }

    fn static_entries(&self) -> &'static [(&'static str, u64)] {
        match &self.node {
            Node::Dir(DirKind::Root) => ROOT_ENTRIES,
            Node::Dir(DirKind::Sys) => SYS_ENTRIES,
            Node::Dir(DirKind::SysKernel) => SYS_KERNEL_ENTRIES,
            Node::Dir(DirKind::SysKernelRandom) => SYS_RANDOM_ENTRIES,
            Node::Dir(DirKind::SysVm) => SYS_VM_ENTRIES,
            Node::Dir(DirKind::SysFs) => SYS_FS_ENTRIES,
            Node::Dir(DirKind::SysFsInotify) => SYS_FS_INOTIFY_ENTRIES,
            Node::Dir(DirKind::SysFsMqueue) => SYS_FS_MQUEUE_ENTRIES,
            Node::Dir(DirKind::SysNet) => SYS_NET_ENTRIES,
            Node::Dir(DirKind::SysNetCore) => SYS_NET_CORE_ENTRIES,
            Node::Dir(DirKind::Sysvipc) => SYSVIPC_ENTRIES,
            Node::Dir(DirKind::Pid(_)) => PID_ENTRIES,
            Node::Dir(DirKind::Ns(_)) => NS_KINDS,
            Node::Dir(DirKind::Attr(_)) => ATTR_ENTRIES,
            _ => &[],
        }
    }

    /// The node for a static entry of this directory.
    fn static_node(&self, name: &str, code: u64) -> Option<(u64, Node)> {
        let g = |g| Some((code, Node::Global(g)));
        match &self.node {
            Node::Dir(DirKind::Root) => match name {
                "cgroups" => g(Global::Cgroups),
                "cpuinfo" => g(Global::Cpuinfo),
                "devices" => g(Global::Devices),
                "diskstats" => g(Global::Diskstats),
                "filesystems" => g(Global::Filesystems),
                "loadavg" => g(Global::Loadavg),
                "meminfo" => g(Global::Meminfo),
                "mounts" => Some((code, Node::Link(LinkKind::Fixed(b"self/mounts")))),
                "partitions" => g(Global::Partitions),
                "self" => Some((code, Node::Link(LinkKind::SelfLink))),
                "stat" => g(Global::Stat),
                "swaps" => g(Global::Swaps),
                "sys" => Some((code, Node::Dir(DirKind::Sys))),
                "sysvipc" => Some((code, Node::Dir(DirKind::Sysvipc))),
                "thread-self" => Some((code, Node::Link(LinkKind::ThreadSelf))),
                "uptime" => g(Global::Uptime),
                "version" => g(Global::Version),
                "vmstat" => g(Global::Vmstat),
                _ => None,
            },
            Node::Dir(DirKind::Sys) => match name {
                "fs" => Some((code, Node::Dir(DirKind::SysFs))),
                "kernel" => Some((code, Node::Dir(DirKind::SysKernel))),
                "net" => Some((code, Node::Dir(DirKind::SysNet))),
                "vm" => Some((code, Node::Dir(DirKind::SysVm))),
                _ => None,
            },
            Node::Dir(DirKind::SysKernel) => match name {
                "cap_last_cap" => g(Global::CapLastCap),
                "domainname" => g(Global::Domainname),
                "hostname" => g(Global::Hostname),
                "msgmax" => g(Global::Msgmax),
                "msgmnb" => g(Global::Msgmnb),
                "msgmni" => g(Global::Msgmni),
                "ngroups_max" => g(Global::NgroupsMax),
                "osrelease" => g(Global::Osrelease),
                "ostype" => g(Global::Ostype),
                "pid_max" => g(Global::PidMax),
                "random" => Some((code, Node::Dir(DirKind::SysKernelRandom))),
                "sem" => g(Global::Sem),
                "shmall" => g(Global::Shmall),
                "shmmax" => g(Global::Shmmax),
                "shmmni" => g(Global::Shmmni),
                "threads-max" => g(Global::ThreadsMax),
                "version" => g(Global::KVersion),
                _ => None,
            },
            Node::Dir(DirKind::SysKernelRandom) => match name {
                "boot_id" => g(Global::BootId),
                "entropy_avail" => g(Global::EntropyAvail),
                "poolsize" => g(Global::Poolsize),
                "uuid" => g(Global::Uuid),
                _ => None,
            },
            Node::Dir(DirKind::SysVm) => match name {
                "max_map_count" => g(Global::MaxMapCount),
                "overcommit_memory" => g(Global::Overcommit),
                "swappiness" => g(Global::Swappiness),
                _ => None,
            },
            Node::Dir(DirKind::SysFs) => match name {
                "file-max" => g(Global::FileMax),
                "file-nr" => g(Global::FileNr),
                "inotify" => Some((code, Node::Dir(DirKind::SysFsInotify))),
                "mqueue" => Some((code, Node::Dir(DirKind::SysFsMqueue))),
                "nr_open" => g(Global::NrOpen),
                "pipe-max-size" => g(Global::PipeMaxSize),
                _ => None,
            },
            Node::Dir(DirKind::SysFsMqueue) => MqSysctl::ALL
                .iter()
                .find(|(n, _)| *n == name)
                .and_then(|(_, m)| g(Global::Mqueue(*m))),
            Node::Dir(DirKind::SysFsInotify) => match name {
                "max_queued_events" => g(Global::InotifyMaxQueuedEvents),
                "max_user_instances" => g(Global::InotifyMaxUserInstances),
                "max_user_watches" => g(Global::InotifyMaxUserWatches),
                _ => None,
            },
            Node::Dir(DirKind::SysNet) => match name {
                "core" => Some((code, Node::Dir(DirKind::SysNetCore))),
                _ => None,
            },
            Node::Dir(DirKind::SysNetCore) => match name {
                "somaxconn" => g(Global::Somaxconn),
                _ => None,
            },
            Node::Dir(DirKind::Sysvipc) => match name {
                "msg" => g(Global::SysvipcMsg),
                "sem" => g(Global::SysvipcSem),
                "shm" => g(Global::SysvipcShm),
                _ => None,
            },
            Node::Dir(DirKind::Ns(s)) => {
                let kind = NS_KINDS.iter().find(|(n, _)| *n == name)?.0;
                Some((s.ino(code), Node::Link(LinkKind::Ns(s.clone(), kind))))
            }
            Node::Dir(DirKind::Attr(s)) => {
                let i = ATTR_ENTRIES.iter().position(|(n, _)| *n == name)?;
                Some((s.ino(code), Node::Pid(s.clone(), PidFile::Attr(i as u8))))
            }
            Node::Dir(DirKind::Pid(s)) => {
                let ino = s.ino(code);
                let s = s.clone();
                let p = |f| Some((ino, Node::Pid(s.clone(), f)));
                match name {
                    "attr" => Some((ino, Node::Dir(DirKind::Attr(s.clone())))),
                    "auxv" => p(PidFile::Auxv),
                    "cgroup" => p(PidFile::Cgroup),
                    "cmdline" => p(PidFile::Cmdline),
                    "comm" => p(PidFile::Comm),
                    "coredump_filter" => p(PidFile::CoredumpFilter),
                    "cpuset" => p(PidFile::Cpuset),
                    "cwd" => Some((ino, Node::Link(LinkKind::Cwd(s.clone())))),
                    "environ" => p(PidFile::Environ),
                    "exe" => Some((ino, Node::Link(LinkKind::Exe(s.clone())))),
                    "fd" => Some((ino, Node::Dir(DirKind::Fd(s.clone())))),
                    "fdinfo" => Some((ino, Node::Dir(DirKind::FdInfo(s.clone())))),
                    "gid_map" => p(PidFile::GidMap),
                    "io" => p(PidFile::Io),
                    "limits" => p(PidFile::Limits),
                    "loginuid" => p(PidFile::Loginuid),
                    "maps" => p(PidFile::Maps),
                    "mountinfo" => p(PidFile::Mountinfo),
                    "mounts" => p(PidFile::Mounts),
                    "mountstats" => p(PidFile::Mountstats),
                    "ns" => Some((ino, Node::Dir(DirKind::Ns(s.clone())))),
                    "oom_adj" => p(PidFile::OomAdj),
                    "oom_score" => p(PidFile::OomScore),
                    "oom_score_adj" => p(PidFile::OomScoreAdj),
                    "personality" => p(PidFile::Personality),
                    "root" => Some((ino, Node::Link(LinkKind::Root(s.clone())))),
                    "schedstat" => p(PidFile::Schedstat),
                    "sessionid" => p(PidFile::Sessionid),
                    "setgroups" => p(PidFile::Setgroups),
                    "smaps" => p(PidFile::Smaps),
                    "smaps_rollup" => p(PidFile::SmapsRollup),
                    "stack" => p(PidFile::Stack),
                    "stat" => p(PidFile::Stat),
                    "statm" => p(PidFile::Statm),
                    "status" => p(PidFile::Status),
                    "task" => Some((ino, Node::Dir(DirKind::Task(s.clone())))),
                    "timerslack_ns" => p(PidFile::TimerslackNs),
                    "uid_map" => p(PidFile::UidMap),
                    "wchan" => p(PidFile::Wchan),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// All entries of this directory as (name, ino, kind).
    fn entries(&self) -> Vec<(Vec<u8>, u64, FileType, u64)> {
        let mut out = Vec::new();
        match &self.node {
            Node::Dir(DirKind::Fd(s)) | Node::Dir(DirKind::FdInfo(s)) => {
                let info = matches!(self.node, Node::Dir(DirKind::FdInfo(_)));
                let list = s.fds().map(|f| f.list()).unwrap_or_default();
                for (fd, _) in list {
                    let (sub, kind) = if info {
                        (SUB_FDINFO, FileType::Regular)
                    } else {
                        (SUB_FD, FileType::Symlink)
                    };
                    out.push((
                        fd.to_string().into_bytes(),
                        s.ino(sub | fd as u64),
                        kind,
                        fd as u64 + 1,
                    ));
                }
            }
            Node::Dir(DirKind::Task(s)) => {
                for (i, tid) in s.live_tids().into_iter().enumerate() {
                    out.push((
                        tid.to_string().into_bytes(),
                        s.thread(tid).ino(SUB_TASK_DIR),
                        FileType::Directory,
                        i as u64 + 1,
                    ));
                }
            }
            _ => {
                let root = matches!(self.node, Node::Dir(DirKind::Root));
                // subset=pid: only self and thread-self besides the pids.
                let subset = root && self.fs.options().subset_pid;
                for (i, (name, code)) in self.static_entries().iter().enumerate() {
                    if subset && !matches!(*name, "self" | "thread-self") {
                        continue;
                    }
                    if let Some((ino, node)) = self.static_node(name, *code) {
                        out.push((name.as_bytes().to_vec(), ino, node.kind(), i as u64 + 1));
                    }
                }
                if root {
                    // Every process (zombies too), not threads; with
                    // hidepid=, those the lister may see.
                    let kernel = self.fs.kernel.get().and_then(|k| k.upgrade());
                    let groups: Vec<(Pid, Arc<ThreadGroup>)> = kernel
                        .as_ref()
                        .map(|k| {
                            k.thread_groups
                                .lock()
                                .iter()
                                .filter_map(|(id, w)| w.upgrade().map(|tg| (*id, tg)))
                                .filter(|(id, tg)| tg.pid == *id)
                                .collect()
                        })
                        .unwrap_or_default();
                    for (pid, tg) in groups {
                        if let (Gate::ListingFor(viewer), Some(k)) = (&self.gate, &kernel) {
                            let s = Snap::of_group(k, tg, pid);
                            if self.fs.pid_access(&viewer.creds, &viewer.tg, &s)
                                == PidAccess::Hidden
                            {
                                continue;
                            }
                        }
                        out.push((
                            pid.to_string().into_bytes(),
                            PID_INO | ((pid as u32 as u64) << 24),
                            FileType::Directory,
                            PID_COOKIE + pid as u64,
                        ));
                    }
                }
            }
        }
        out
    }

    fn text(&self, cx: &Task) -> Result<Vec<u8>, Errno> {
        match &self.node {
            Node::Global(g) => Ok(global_text(&self.fs, *g, cx)),
            Node::Pid(s, f) => pid_text(s, *f, cx),
            Node::FdInfo(s, fd) => fdinfo_text(s, *fd),
            _ => Err(Errno::EINVAL),
        }
    }

    /// The error reading this file gives `cx` (its open succeeds), as
    /// Linux's checks at read time answer.
    fn read_error(&self, cx: &Task) -> Option<Errno> {
        let Node::Pid(s, f) = &self.node else {
            return None;
        };
        match f {
            // lock_trace: PTRACE_MODE_ATTACH.
            PidFile::Personality if !may_ptrace(&cx.creds, &cx.tg, s) => Some(Errno::EPERM),
            PidFile::Io if !may_ptrace(&cx.creds, &cx.tg, s) => Some(Errno::EACCES),
            // Only root of the host's initial user namespace may read a
            // kernel stack; the sandbox's root is not.
            PidFile::Stack => Some(Errno::EACCES),
            // Another thread's slack needs CAP_SYS_NICE.
            PidFile::TimerslackNs
                if s.tid != cx.tid && !cx.creds.capable(veil_abi::flags::CAP_SYS_NICE) =>
            {
                Some(Errno::EPERM)
            }
            // No LSM: every attribute is EINVAL.
            PidFile::Attr(_) => Some(Errno::EINVAL),
            _ => None,
        }
    }

    /// Linux's proc_fd_access_allowed and mm_access for the files and
    /// links that show another process's memory or open objects:
    /// `EACCES` unless the caller may ptrace it.
    fn check_ptrace(&self, cx: &Task) -> Result<(), Errno> {
        let guarded = match &self.node {
            Node::Pid(_, f) => matches!(
                f,
                PidFile::Environ
                    | PidFile::Auxv
                    | PidFile::Maps
                    | PidFile::Smaps
                    | PidFile::SmapsRollup
            ),
            Node::FdInfo(..) => true,
            Node::Link(
                LinkKind::Exe(_)
                | LinkKind::Cwd(_)
                | LinkKind::Root(_)
                | LinkKind::Fd(..)
                | LinkKind::Ns(..),
            ) => true,
            _ => false,
        };
        match self.snap() {
            Some(s) if guarded && !may_ptrace(&cx.creds, &cx.tg, s) => Err(Errno::EACCES),
            _ => Ok(()),
        }
    }

    fn mode(&self) -> u32 {
        match &self.node {
            Node::Dir(DirKind::Fd(_)) | Node::Dir(DirKind::FdInfo(_)) => S_IFDIR | 0o500,
            Node::Dir(DirKind::Ns(_)) => S_IFDIR | 0o511,
            Node::Dir(_) => S_IFDIR | 0o555,
            Node::Link(LinkKind::Fd(s, fd)) => {
                let perm = match s
                    .fds()
                    .and_then(|t| t.file(*fd))
                    .map(|f| f.flags() & O_ACCMODE)
                {
                    Ok(O_RDONLY) => 0o500,
                    Ok(O_WRONLY) => 0o300,
                    _ => 0o700,
                };
                S_IFLNK | perm
            }
            Node::Link(_) => S_IFLNK | 0o777,
            Node::Global(g) => {
                S_IFREG
                    | match g {
                        Global::Hostname
                        | Global::Domainname
                        | Global::PidMax
                        | Global::Overcommit
                        | Global::MaxMapCount
                        | Global::FileMax
                        | Global::NrOpen
                        | Global::PipeMaxSize
                        | Global::Somaxconn
                        | Global::ThreadsMax
                        | Global::Shmmax
                        | Global::Shmall
                        | Global::Shmmni
                        | Global::Msgmax
                        | Global::Msgmnb
                        | Global::Msgmni
                        | Global::Sem
                        | Global::Swappiness
                        | Global::InotifyMaxUserWatches
                        | Global::InotifyMaxUserInstances
                        | Global::InotifyMaxQueuedEvents
                        | Global::Mqueue(_) => 0o644,
                        _ => 0o444,
                    }
            }
            Node::Pid(_, f) => {
                S_IFREG
                    | match f {
                        PidFile::Environ
                        | PidFile::Io
                        | PidFile::Auxv
                        | PidFile::Personality
                        | PidFile::Stack
                        | PidFile::Mountstats => 0o400,
                        PidFile::Comm
                        | PidFile::OomScoreAdj
                        | PidFile::OomAdj
                        | PidFile::Loginuid
                        | PidFile::CoredumpFilter
                        | PidFile::UidMap
                        | PidFile::GidMap
                        | PidFile::Setgroups => 0o644,
                        PidFile::TimerslackNs => 0o666,
                        // attr/prev is read-only; the others take writes.
                        PidFile::Attr(4) => 0o444,
                        PidFile::Attr(_) => 0o666,
                        _ => 0o444,
                    }
            }
            Node::FdInfo(..) => S_IFREG | 0o444,
        }
    }

    fn snap(&self) -> Option<&Arc<Snap>> {
        match &self.node {
            Node::Dir(
                DirKind::Pid(s)
                | DirKind::Task(s)
                | DirKind::Fd(s)
                | DirKind::FdInfo(s)
                | DirKind::Ns(s)
                | DirKind::Attr(s),
            ) => Some(s),
            Node::Pid(s, _) | Node::FdInfo(s, _) => Some(s),
            Node::Link(
                LinkKind::Exe(s)
                | LinkKind::Cwd(s)
                | LinkKind::Root(s)
                | LinkKind::Fd(s, _)
                | LinkKind::Ns(s, _),
            ) => Some(s),
            _ => None,
        }
    }

    fn target(&self, cx: &Task) -> Result<Location, Errno> {
        match &self.node {
            Node::Link(LinkKind::Exe(s)) => s.tg.exe.lock().clone().ok_or(Errno::ENOENT),
            Node::Link(LinkKind::Cwd(s)) => Ok(s.fs()?.lock().cwd.clone()),
            Node::Link(LinkKind::Root(s)) => s.root(),
            Node::Link(LinkKind::Ns(s, kind)) => {
                let root = cx.fs.lock().root.clone();
                Ok(Location {
                    mount: root.mount,
                    dentry: Dentry::new_root(Arc::new(NsInode {
                        ns: namespace(s, kind),
                    })),
                })
            }
            Node::Link(LinkKind::Fd(s, fd)) => {
                let file = s.fds()?.file(*fd).map_err(|_| Errno::ENOENT)?;
                if let Some(l) = &file.location {
                    return Ok(l.clone());
                }
                // No path: a detached place whose open gives the same
                // object back (host fds only).
                let root = cx.fs.lock().root.clone();
                let anon = Arc::new(AnonInode {
                    ops: file.ops.clone(),
                    ino: self.ino,
                    dev: self.fs.dev,
                });
                Ok(Location {
                    mount: root.mount,
                    dentry: Dentry::new_root(anon),
                })
            }
            _ => Err(Errno::EINVAL),
        }
    }
}

impl Node {
    fn kind(&self) -> FileType {
        match self {
            Node::Dir(_) => FileType::Directory,
            Node::Link(_) => FileType::Symlink,
            _ => FileType::Regular,
        }
    }
}

impl Inode for ProcInode {
    fn attr(&self) -> Result<InodeAttr, Errno> {
        // Linux's task_dump_owner: the process's effective ids, except
        // that every entry but the 0555 directories of a process that is
        // not dumpable (or has no address space left) is root's.
        let (uid, gid) = match self.snap() {
            Some(s)
                if self.mode() != S_IFDIR | 0o555 && (s.zombie() || !s.tg.pm.dumpable.user()) =>
            {
                (0, 0)
            }
            Some(s) => (s.creds.euid, s.creds.egid),
            None => (0, 0),
        };
        Ok(InodeAttr {
            dev: self.fs.dev,
            ino: self.ino,
            mode: self.mode(),
            nlink: if self.node.kind() == FileType::Directory {
                2
            } else {
                1
            },
            uid,
            gid,
            rdev: 0,
            size: 0,
            blksize: 1024,
            blocks: 0,
            atime: self.fs.time,
            mtime: self.fs.time,
            ctime: self.fs.time,
            btime: None,
        })
    }

    fn lookup(&self, cx: &Task, name: &[u8]) -> Result<InodeRef, Errno> {
        let Node::Dir(dir) = &self.node else {
            return Err(Errno::ENOTDIR);
        };
        self.fs.kernel.get_or_init(|| Arc::downgrade(&cx.kernel));
        if let DirKind::Pid(s) | DirKind::Task(s) = dir {
            if s.gone() {
                return Err(Errno::ESRCH);
            }
        }
        if let Gate::Denied = self.gate {
            return Err(Errno::EPERM);
        }
        match dir {
            DirKind::Root => {
                if let Some(id) = parse_num(name) {
                    let s = Snap::find(cx, id).ok_or(Errno::ENOENT)?;
                    let gate = match self.fs.pid_access(&cx.creds, &cx.tg, &s) {
                        PidAccess::Full => Gate::Open,
                        PidAccess::Denied => Gate::Denied,
                        PidAccess::Hidden => return Err(Errno::ENOENT),
                    };
                    let ino = if id == s.pid() {
                        s.ino(0)
                    } else {
                        s.ino(SUB_TASK_DIR)
                    };
                    return Ok(Arc::new(ProcInode {
                        fs: self.fs.clone(),
                        ino,
                        node: Node::Dir(DirKind::Pid(s)),
                        gate,
                    }));
                }
                if self.fs.options().subset_pid && !matches!(name, b"self" | b"thread-self") {
                    return Err(Errno::ENOENT);
                }
            }
            DirKind::Task(s) => {
                return match parse_num(name) {
                    Some(tid) if s.live_tids().contains(&tid) => {
                        let t = s.thread(tid);
                        Ok(self.make(t.ino(SUB_TASK_DIR), Node::Dir(DirKind::Pid(t))))
                    }
                    _ => Err(Errno::ENOENT),
                };
            }
            DirKind::Fd(s) | DirKind::FdInfo(s) => {
                let fd = parse_num(name).ok_or(Errno::ENOENT)?;
                s.fds()?.get(fd).map_err(|_| Errno::ENOENT)?;
                return Ok(match dir {
                    DirKind::Fd(_) => self.make(
                        s.ino(SUB_FD | fd as u64),
                        Node::Link(LinkKind::Fd(s.clone(), fd)),
                    ),
                    _ => self.make(s.ino(SUB_FDINFO | fd as u64), Node::FdInfo(s.clone(), fd)),
                });
            }
            _ => {}
        }
        let name = std::str::from_utf8(name).map_err(|_| Errno::ENOENT)?;
        let code = self
            .static_entries()
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| *c)
            .ok_or(Errno::ENOENT)?;
        let (ino, node) = self.static_node(name, code).ok_or(Errno::ENOENT)?;
        Ok(self.make(ino, node))
    }

    fn open_dir(&self, cx: &Task) -> Result<Option<InodeRef>, Errno> {
        match (&self.gate, &self.node) {
            (Gate::Denied, _) => Err(Errno::EPERM),
            // /proc lists the pids hidepid= lets the opener see.
            (_, Node::Dir(DirKind::Root)) if self.fs.options().hidepid != HidePid::Off => {
                Ok(Some(Arc::new(ProcInode {
                    fs: self.fs.clone(),
                    ino: self.ino,
                    node: self.node.clone(),
                    gate: Gate::ListingFor(Snap::of(cx)),
                })))
            }
            _ => Ok(None),
        }
    }

    fn readdir(&self, offset: u64, sink: &mut dyn FnMut(DirEntry) -> bool) -> Result<(), Errno> {
        if !matches!(self.node, Node::Dir(_)) {
            return Err(Errno::ENOTDIR);
        }
        if let Gate::Denied = self.gate {
            return Err(Errno::EPERM);
        }
        for (name, ino, kind, next) in self.entries() {
            if next <= offset {
                continue;
            }
            if !sink(DirEntry {
                ino,
                kind,
                name,
                next,
            }) {
                break;
            }
        }
        Ok(())
    }

    fn readlink(&self, cx: &Task) -> Result<Vec<u8>, Errno> {
        self.check_ptrace(cx)?;
        match &self.node {
            Node::Link(LinkKind::SelfLink) => Ok(cx.pid().to_string().into_bytes()),
            Node::Link(LinkKind::ThreadSelf) => {
                Ok(format!("{}/task/{}", cx.pid(), cx.tid).into_bytes())
            }
            Node::Link(LinkKind::Fixed(t)) => Ok(t.to_vec()),
            Node::Link(LinkKind::Ns(s, kind)) => {
                let kind = kind.trim_end_matches("_for_children");
                Ok(format!("{kind}:[{}]", ns_number(s, kind)).into_bytes())
            }
            Node::Link(LinkKind::Fd(s, fd)) => {
                let file = s.fds()?.file(*fd).map_err(|_| Errno::ENOENT)?;
                match &file.location {
                    Some(l) => {
                        let root = cx.fs.lock().root.clone();
                        Ok(l.path_from(&root))
                    }
                    None => Ok(describe(&*file.ops, self.ino)),
                }
            }
            Node::Link(_) => {
                let loc = self.target(cx)?;
                let root = cx.fs.lock().root.clone();
                Ok(loc.path_from(&root))
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn magic_link(&self, cx: &Task) -> Option<Result<Location, Errno>> {
        match &self.node {
            Node::Link(
                LinkKind::Exe(_)
                | LinkKind::Cwd(_)
                | LinkKind::Root(_)
                | LinkKind::Fd(..)
                | LinkKind::Ns(..),
            ) => Some(self.check_ptrace(cx).and_then(|()| self.target(cx))),
            _ => None,
        }
    }

    fn open(&self, cx: &Task, flags: u32) -> Result<Arc<dyn FileOps>, Errno> {
        match &self.node {
            Node::Dir(_) => return Err(Errno::EISDIR),
            Node::Link(_) => return Err(Errno::ELOOP),
            _ => {}
        }
        self.check_ptrace(cx)?;
        let writing = matches!(flags & O_ACCMODE, O_WRONLY | O_RDWR);
        let writable = match &self.node {
            Node::Pid(s, PidFile::Comm) => Some(Writer::Comm(s.tg.clone())),
            Node::Pid(
                _,
                PidFile::OomScoreAdj
                | PidFile::OomAdj
                | PidFile::CoredumpFilter
                | PidFile::TimerslackNs,
            ) => Some(Writer::Ignore),
            // Only the process itself may set its attributes (EACCES);
            // without an LSM every value is EINVAL.
            Node::Pid(s, PidFile::Attr(_)) if !Arc::ptr_eq(&s.tg, &cx.tg) => {
                Some(Writer::Fail(Errno::EACCES))
            }
            Node::Pid(_, PidFile::Attr(_)) => Some(Writer::Fail(Errno::EINVAL)),
            // The maps of the initial user namespace are set once, before
            // veil starts.
            Node::Pid(_, PidFile::UidMap | PidFile::GidMap | PidFile::Setgroups) => {
                Some(Writer::Fail(Errno::EPERM))
            }
            Node::Pid(_, PidFile::Loginuid) => Some(Writer::Denied),
            Node::Global(Global::Mqueue(m)) => Some(Writer::Mqueue(cx.kernel.clone(), *m)),
            Node::Global(g @ (Global::Hostname | Global::Domainname)) => Some(Writer::Uts(
                veil_core::syscalls::admin::uts_of(&cx.kernel, &cx.tg),
                matches!(g, Global::Hostname),
            )),
            _ => None,
        };
        if writing && writable.is_none() {
            return Err(Errno::EACCES);
        }
        let error = self.read_error(cx);
        let data = if flags & O_ACCMODE == O_WRONLY || error.is_some() {
            Vec::new()
        } else {
            self.text(cx)?
        };
        Ok(Arc::new(ProcFile {
            data,
            error,
            writer: writable,
        }))
    }

    fn statfs(&self) -> Result<Statfs, Errno> {
        Ok(Statfs {
            f_type: PROC_SUPER_MAGIC,
            f_bsize: 4096,
            f_namelen: 255,
            f_frsize: 4096,
            f_fsid: [self.fs.dev as i32, (self.fs.dev >> 32) as i32],
            ..Default::default()
        })
    }

    fn cacheable(&self) -> bool {
        matches!(
            self.node,
            Node::Dir(
                DirKind::Sys
                    | DirKind::SysKernel
                    | DirKind::SysKernelRandom
                    | DirKind::SysVm
                    | DirKind::SysFs
                    | DirKind::SysFsInotify
                    | DirKind::SysFsMqueue
                    | DirKind::SysNet
                    | DirKind::SysNetCore
                    | DirKind::Sysvipc
            )
        )
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// What `/proc/<pid>/fd/N` shows for a file opened without a path.
fn describe(ops: &dyn FileOps, ino: u64) -> Vec<u8> {
    if let Some(h) = ops.as_any().downcast_ref::<HostFdFile>() {
        return h.describe();
    }
    if ops.is_tty() {
        return b"/dev/tty".to_vec();
    }
    let kind = match ops.stat().and_then(|a| a.file_type()) {
        Some(FileType::Fifo) => "pipe",
        Some(FileType::Socket) => "socket",
        _ => "anon_inode",
    };
    let n = ops.stat().map(|a| a.ino).unwrap_or(ino);
    format!("{kind}:[{n}]").into_bytes()
}

/// The place `/proc/<pid>/fd/N` leads to for a file without a path: opening
/// it gives the same open object back (host fds only; anything else is
/// `ENXIO`, as reopening a socket is on Linux).
struct AnonInode {
    ops: Arc<dyn FileOps>,
    ino: u64,
    dev: u64,
}

impl Inode for AnonInode {
    fn attr(&self) -> Result<InodeAttr, Errno> {
        if let Some(mut a) = self.ops.stat() {
            a.dev = self.dev;
            a.ino = self.ino;
            return Ok(a);
        }
        Ok(InodeAttr {
            dev: self.dev,
            ino: self.ino,
            mode: if self.ops.seekable() {
                S_IFREG
            } else {
                S_IFCHR
            } | 0o600,
            nlink: 1,
            blksize: 4096,
            ..Default::default()
        })
    }

    fn open(&self, _cx: &Task, _flags: u32) -> Result<Arc<dyn FileOps>, Errno> {
        if self.ops.as_any().downcast_ref::<HostFdFile>().is_some() {
            Ok(self.ops.clone())
        } else {
            Err(Errno::ENXIO)
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// What a `/proc/<pid>/ns/*` link leads to: the namespace itself, an
/// nsfs inode numbered as the link says. Opening it gives core's
/// `NsFile`, which setns joins.
struct NsInode {
    ns: Namespace,
}

impl Inode for NsInode {
    fn attr(&self) -> Result<InodeAttr, Errno> {
        Ok(InodeAttr {
            dev: NSFS_DEV,
            ino: self.ns.id(),
            mode: S_IFREG | 0o444,
            nlink: 1,
            blksize: 4096,
            ..Default::default()
        })
    }

    fn open(&self, _cx: &Task, flags: u32) -> Result<Arc<dyn FileOps>, Errno> {
        // Linux refuses writers of a namespace file outright.
        if flags & O_ACCMODE != O_RDONLY {
            return Err(Errno::EPERM);
        }
        Ok(Arc::new(NsFile::new(self.ns.clone())))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

enum Writer {
    Comm(Arc<ThreadGroup>),
    Ignore,
    /// Opens for writing, but every write is `EPERM` (loginuid: changing
    /// it needs CAP_AUDIT_CONTROL, which the sandbox never grants).
    Denied,
    /// sys/kernel/hostname (`true`) or domainname of this UTS namespace.
    Uts(Arc<veil_core::syscalls::admin::UtsNamespace>, bool),
    /// Opens for writing; every write fails with this error.
    Fail(Errno),
    /// A `sys/fs/mqueue` limit (an integer in its range, else `EINVAL`).
    Mqueue(Arc<Kernel>, MqSysctl),
}

/// An open procfs file: the text generated at open.
struct ProcFile {
    data: Vec<u8>,
    /// What every read answers instead (checks Linux makes at read time).
    error: Option<Errno>,
    writer: Option<Writer>,
}

impl FileOps for ProcFile {
    fn read(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        if let Some(e) = self.error {
            return Err(e);
        }
        Ok(crate::util::read_snapshot(&self.data, buf, offset))
    }

    fn write(&self, buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        match &self.writer {
            Some(Writer::Comm(tg)) => {
                let end = buf
                    .iter()
                    .position(|&c| c == b'\n' || c == 0)
                    .unwrap_or(buf.len());
                let name = &buf[..end.min(15)];
                *tg.comm.lock() = String::from_utf8_lossy(name).into_owned();
                Ok(buf.len())
            }
            Some(Writer::Ignore) => Ok(buf.len()),
            Some(Writer::Denied) => Err(Errno::EPERM),
            Some(Writer::Fail(e)) => Err(*e),
            Some(Writer::Uts(ns, host)) => {
                // proc_dostring: the text up to a newline or NUL.
                let end = buf
                    .iter()
                    .position(|&c| c == b'\n' || c == 0)
                    .unwrap_or(buf.len());
                ns.set(*host, &buf[..end]);
                Ok(buf.len())
            }
            Some(Writer::Mqueue(k, m)) => {
                let text = std::str::from_utf8(buf).map_err(|_| Errno::EINVAL)?;
                let v: i64 = text.trim().parse().map_err(|_| Errno::EINVAL)?;
                k.mqueue.set_limit(*m, v)?;
                Ok(buf.len())
            }
            None => Err(Errno::EINVAL),
        }
    }

    fn size(&self) -> Result<u64, Errno> {
        Ok(self.data.len() as u64)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

// ---------------------------------------------------------------------
// Generated text.

fn ns_of(t: Timespec) -> u64 {
    (t.tv_sec.max(0) as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec.max(0) as u64)
}

/// Nanoseconds since the sandbox booted.
fn uptime_ns(k: &Kernel) -> u64 {
    let now = ns_of(k.clock.monotonic());
    now.saturating_sub(k.boot_ns.load(std::sync::atomic::Ordering::Relaxed))
}

/// USER_HZ ticks.
fn ticks(ns: u64) -> u64 {
    ns / 10_000_000
}

fn cpus(k: &Kernel) -> u32 {
    k.identity.cpus.max(1)
}

/// `/proc/sysvipc/*`: the objects of the caller's IPC namespace.
fn sysvipc(cx: &Task, which: ipc::ProcFile) -> Vec<u8> {
    ipc::proc_text(&ipc::ns_of(&cx.kernel, &cx.tg), which).into_bytes()
}

fn global_text(fs: &Shared, g: Global, cx: &Task) -> Vec<u8> {
    let k = &cx.kernel;
    let id = &k.identity;
    let line = |s: &str| format!("{s}\n").into_bytes();
    match g {
        Global::Cpuinfo => cpuinfo(&fs.cpuinfo, cpus(k)),
        Global::Meminfo => meminfo(&MemView::of(k)),
        Global::Vmstat => vmstat(&MemView::of(k)),
        // No block devices and no swap.
        Global::Diskstats => Vec::new(),
        Global::Partitions => b"major minor  #blocks  name\n\n".to_vec(),
        Global::Swaps => b"Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n".to_vec(),
        // The majors of what devfs and devpts serve.
        Global::Devices => b"Character devices:\n  1 mem\n  5 /dev/tty\n  5 /dev/console\n  5 /dev/ptmx\n136 pts\n\nBlock devices:\n".to_vec(),
        // The controllers of the sandbox's cgroup2 (hierarchy 0: v2).
        Global::Cgroups => {
            let mut s = String::from("#subsys_name\thierarchy\tnum_cgroups\tenabled\n");
            for c in crate::sysfs::CGROUP_CONTROLLERS {
                let _ = writeln!(s, "{c}\t0\t1\t1");
            }
            s.into_bytes()
        }
        Global::EntropyAvail | Global::Poolsize => line("256"),
        Global::ThreadsMax => line(&threads_max(k).to_string()),
        // SysV IPC limits: Linux's defaults.
        Global::Shmmax | Global::Shmall => line("18446744073692774399"),
        Global::Shmmni => line("4096"),
        Global::Msgmax => line("8192"),
        Global::Msgmnb => line("16384"),
        Global::Msgmni => line("32000"),
        Global::Sem => line("32000\t1024000000\t500\t32000"),
        Global::SysvipcShm => sysvipc(cx, ipc::ProcFile::Shm),
        Global::SysvipcSem => sysvipc(cx, ipc::ProcFile::Sem),
        Global::SysvipcMsg => sysvipc(cx, ipc::ProcFile::Msg),
        Global::Swappiness => line("60"),
        Global::FileNr => line(&format!("{}\t0\t{FILE_MAX}", open_files(k))),
        Global::InotifyMaxUserWatches => line(&MAX_USER_WATCHES.to_string()),
        Global::InotifyMaxUserInstances => line(&MAX_USER_INSTANCES.to_string()),
        Global::InotifyMaxQueuedEvents => line(&MAX_QUEUED_EVENTS.to_string()),
        Global::Mqueue(m) => {
            let l = k.mqueue.limits();
            line(
                &match m {
                    MqSysctl::QueuesMax => l.queues_max,
                    MqSysctl::MsgMax => l.msg_max,
                    MqSysctl::MsgsizeMax => l.msgsize_max,
                    MqSysctl::MsgDefault => l.msg_default,
                    MqSysctl::MsgsizeDefault => l.msgsize_default,
                }
                .to_string(),
            )
        }
        Global::Stat => {
            let up = uptime_ns(k);
            let n = cpus(k) as u64;
            let user = ticks(up) / 10;
            let idle = ticks(up).saturating_mul(n).saturating_sub(user);
            let mut s = format!("cpu  {user} 0 0 {idle} 0 0 0 0 0 0\n");
            for i in 0..n {
                let _ = writeln!(s, "cpu{i} {} 0 0 {} 0 0 0 0 0 0", user / n, idle / n);
            }
            let boot = ns_of(k.clock.realtime()).saturating_sub(up) / 1_000_000_000;
            let _ = write!(
                s,
                "intr 0\nctxt 0\nbtime {boot}\nprocesses {}\nprocs_running 1\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n",
                cx.pid()
            );
            s.into_bytes()
        }
        Global::Uptime => {
            let up = uptime_ns(k);
            let idle = up.saturating_mul(cpus(k) as u64);
            format!(
                "{}.{:02} {}.{:02}\n",
                up / 1_000_000_000,
                (up / 10_000_000) % 100,
                idle / 1_000_000_000,
                (idle / 10_000_000) % 100
            )
            .into_bytes()
        }
        Global::Loadavg => format!("0.00 0.00 0.00 1/1 {}\n", cx.pid()).into_bytes(),
        Global::Version => format!(
            "Linux version {} (veil@veil) (veil) {}\n",
            id.release, id.version
        )
        .into_bytes(),
        Global::Filesystems => filesystems_text(cx),
        Global::Hostname => line(&admin::name_text(&admin::uts_of(k, &cx.tg).hostname())),
        Global::Domainname => line(&admin::name_text(&admin::uts_of(k, &cx.tg).domainname())),
        Global::Ostype => line("Linux"),
        Global::Osrelease => line(&id.release),
        Global::KVersion => line(&id.version),
        Global::PidMax => line(&pid_max(k).to_string()),
        Global::NgroupsMax => line("65536"),
        Global::CapLastCap => line("40"),
        Global::BootId => line(fs.boot_id.get_or_init(|| uuid(k))),
        Global::Uuid => line(&uuid(k)),
        Global::Overcommit => line("0"),
        Global::MaxMapCount => line("65530"),
        Global::FileMax => line(&FILE_MAX.to_string()),
        Global::NrOpen => line("1048576"),
        Global::PipeMaxSize => line("1048576"),
        Global::Somaxconn => line(&veil_abi::socket::SOMAXCONN.to_string()),
    }
}

/// /proc/filesystems: the types mount(2) can make in the caller's
/// namespace, and those the sandbox mounted itself.
fn filesystems_text(cx: &Task) -> Vec<u8> {
    let ns = cx.tg.mount_namespace(&cx.kernel);
    let mut list: Vec<(String, bool)> = ns.filesystems().map(|t| t.list()).unwrap_or_default();
    for m in ns.all() {
        if m.fs_type() != "rootfs" && !list.iter().any(|(n, _)| n == m.fs_type()) {
            list.push((m.fs_type().to_string(), true));
        }
    }
    let mut out = String::new();
    for (name, nodev) in list {
        let _ = writeln!(out, "{}\t{name}", if nodev { "nodev" } else { "" });
    }
    out.into_bytes()
}

/// A random (version 4) UUID.
fn uuid(k: &Kernel) -> String {
    let mut b = [0u8; 16];
    k.random.fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        h[0..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..16].concat()
    )
}

/// The host's cpuinfo cut to `n` processors, or a generated one.
fn cpuinfo(host: &[u8], n: u32) -> Vec<u8> {
    let text = String::from_utf8_lossy(host);
    let blocks: Vec<&str> = text
        .split("\n\n")
        .filter(|b| b.trim_start().starts_with("processor"))
        .collect();
    let mut out = String::new();
    if blocks.is_empty() {
        for i in 0..n {
            let _ = write!(
                out,
                "processor\t: {i}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 0\n\
                 model name\t: veil virtual CPU\ncpu MHz\t\t: 2000.000\ncache size\t: 4096 KB\n\
                 physical id\t: 0\nsiblings\t: {n}\ncore id\t\t: {i}\ncpu cores\t: {n}\n\
                 flags\t\t: fpu tsc cx8 cmov mmx fxsr sse sse2 ht syscall nx lm sse3 ssse3 sse4_1 sse4_2 popcnt\n\
                 bogomips\t: 4000.00\naddress sizes\t: 46 bits physical, 48 bits virtual\n\n"
            );
        }
        return out.into_bytes();
    }
    for b in blocks.iter().take(n as usize) {
        out.push_str(b.trim_matches('\n'));
        out.push_str("\n\n");
    }
    out.into_bytes()
}

/// `/proc/sys/fs/file-max` (Linux's since 5.0: no limit).
const FILE_MAX: u64 = 9_223_372_036_854_775_807;

use veil_core::vfs::inotify::{MAX_QUEUED_EVENTS, MAX_USER_INSTANCES, MAX_USER_WATCHES};

/// `kernel.threads-max` as Linux sizes it: as many threads as an eighth
/// of memory holds 16 KiB kernel stacks.
fn threads_max(k: &Kernel) -> u64 {
    (k.identity.total_memory / 4096 / 32).clamp(20, 0x3fff_ffff)
}

/// `kernel.pid_max` as a freshly booted Linux sets it (ps sizes its PID
/// column from it): 32768, or 1024 per CPU on machines with more than 32.
fn pid_max(k: &Kernel) -> u32 {
    (1024 * cpus(k)).clamp(32_768, 4_194_304)
}

/// Open file descriptors of every process (file-nr's first number).
fn open_files(k: &Kernel) -> usize {
    let groups: Vec<Arc<ThreadGroup>> = k
        .thread_groups
        .lock()
        .values()
        .filter_map(|w| w.upgrade())
        .collect();
    groups
        .iter()
        .filter_map(|tg| tg.view.lock().fds.upgrade())
        .map(|f| f.list().len())
        .sum()
}

/// The sandbox's memory as meminfo and vmstat show it, in KiB: what the
/// memory file holds is in use (anonymous, as sysinfo's `freeram` also
/// counts it), the rest is free. There is no page cache, swap or slab.
struct MemView {
    total: u64,
    used: u64,
}

impl MemView {
    fn of(k: &Kernel) -> MemView {
        let total = k.identity.total_memory;
        let used = k.mf.resident().unwrap_or(0).min(total);
        MemView {
            total: total / 1024,
            used: used / 1024,
        }
    }

    fn free(&self) -> u64 {
        self.total - self.used
    }
}

fn meminfo(m: &MemView) -> Vec<u8> {
    let (kb, used, free) = (m.total, m.used, m.free());
    let rows: &[(&str, u64)] = &[
        ("MemTotal", kb),
        ("MemFree", free),
        ("MemAvailable", free),
        ("Buffers", 0),
        ("Cached", 0),
        ("SwapCached", 0),
        ("Active", used),
        ("Inactive", 0),
        ("Active(anon)", used),
        ("Inactive(anon)", 0),
        ("Active(file)", 0),
        ("Inactive(file)", 0),
        ("Unevictable", 0),
        ("Mlocked", 0),
        ("SwapTotal", 0),
        ("SwapFree", 0),
        ("Dirty", 0),
        ("Writeback", 0),
        ("AnonPages", used),
        ("Mapped", 0),
        ("Shmem", 0),
        ("KReclaimable", 0),
        ("Slab", 0),
        ("SReclaimable", 0),
        ("SUnreclaim", 0),
        ("KernelStack", 0),
        ("PageTables", 0),
        ("NFS_Unstable", 0),
        ("Bounce", 0),
        ("WritebackTmp", 0),
        ("CommitLimit", kb / 2),
        ("Committed_AS", used),
        ("VmallocTotal", 34_359_738_367),
        ("VmallocUsed", 0),
        ("VmallocChunk", 0),
        ("Percpu", 0),
        ("AnonHugePages", 0),
        ("ShmemHugePages", 0),
        ("ShmemPmdMapped", 0),
        ("FileHugePages", 0),
        ("FilePmdMapped", 0),
    ];
    let mut s = String::new();
    for (name, v) in rows {
        let _ = writeln!(s, "{:<16}{:>8} kB", format!("{name}:"), v);
    }
    s.push_str("HugePages_Total:       0\nHugePages_Free:        0\nHugePages_Rsvd:        0\nHugePages_Surp:        0\n");
    s.push_str("Hugepagesize:       2048 kB\nHugetlb:               0 kB\n");
    s.into_bytes()
}

/// /proc/vmstat: the same memory as meminfo, in pages; event counters
/// veil does not keep are 0.
fn vmstat(m: &MemView) -> Vec<u8> {
    let (free, used) = (m.free() / 4, m.used / 4);
    let rows: &[(&str, u64)] = &[
        ("nr_free_pages", free),
        ("nr_zone_inactive_anon", 0),
        ("nr_zone_active_anon", used),
        ("nr_zone_inactive_file", 0),
        ("nr_zone_active_file", 0),
        ("nr_zone_unevictable", 0),
        ("nr_zone_write_pending", 0),
        ("nr_mlock", 0),
        ("nr_bounce", 0),
        ("nr_free_cma", 0),
        ("nr_inactive_anon", 0),
        ("nr_active_anon", used),
        ("nr_inactive_file", 0),
        ("nr_active_file", 0),
        ("nr_unevictable", 0),
        ("nr_slab_reclaimable", 0),
        ("nr_slab_unreclaimable", 0),
        ("nr_isolated_anon", 0),
        ("nr_isolated_file", 0),
        ("nr_anon_pages", used),
        ("nr_mapped", 0),
        ("nr_file_pages", 0),
        ("nr_dirty", 0),
        ("nr_writeback", 0),
        ("nr_writeback_temp", 0),
        ("nr_shmem", 0),
        ("nr_anon_transparent_hugepages", 0),
        ("nr_kernel_stack", 0),
        ("nr_page_table_pages", 0),
        ("nr_swapcached", 0),
        // Linux's vm.dirty_ratio (20) and dirty_background_ratio (10).
        ("nr_dirty_threshold", free / 5),
        ("nr_dirty_background_threshold", free / 10),
        ("pgpgin", 0),
        ("pgpgout", 0),
        ("pswpin", 0),
        ("pswpout", 0),
        ("pgalloc_normal", 0),
        ("pgfree", 0),
        ("pgactivate", 0),
        ("pgdeactivate", 0),
        ("pgfault", 0),
        ("pgmajfault", 0),
        ("oom_kill", 0),
    ];
    let mut s = String::new();
    for (name, v) in rows {
        let _ = writeln!(s, "{name} {v}");
    }
    s.into_bytes()
}

/// Reads `[start, end)` of a process's memory (at most 1 MiB); what cannot
/// be read is left out.
fn read_range(mm: &MemoryManager, start: u64, end: u64) -> Vec<u8> {
    if end <= start {
        return Vec::new();
    }
    let len = (end - start).min(1 << 20) as usize;
    let mut buf = vec![0u8; len];
    if mm.copy_in(UserAddr(start), &mut buf).is_ok() {
        return buf;
    }
    // Page by page, stopping at the first hole.
    let mut out = Vec::new();
    let mut addr = start;
    while (addr - start) < len as u64 {
        let page_end = (addr | 4095).saturating_add(1);
        let n = (page_end.min(start + len as u64) - addr) as usize;
        let mut chunk = vec![0u8; n];
        if mm.copy_in(UserAddr(addr), &mut chunk).is_err() {
            break;
        }
        out.extend_from_slice(&chunk);
        addr += n as u64;
    }
    out
}

fn sig_masks(tg: &ThreadGroup) -> (u64, u64) {
    let acts = tg.sigactions.lock();
    let (mut ign, mut cgt) = (0u64, 0u64);
    for (i, a) in acts.iter().enumerate() {
        match a.handler {
            SIG_DFL => {}
            SIG_IGN => ign |= 1 << i,
            _ => cgt |= 1 << i,
        }
    }
    (ign, cgt)
}

fn cpu_mask(n: u32) -> String {
    let n = n.clamp(1, 64);
    let mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
    format!("{mask:x}")
}

fn pid_text(s: &Snap, f: PidFile, cx: &Task) -> Result<Vec<u8>, Errno> {
    let pid = s.pid();
    let comm = s.tg.comm.lock().clone();
    let ppid = *s.tg.ppid.lock();
    let pgid = *s.tg.pgid.lock();
    let sid = *s.tg.sid.lock();
    // A zombie has no memory left: its memory files are empty.
    let mm = s.mm_opt()?;
    Ok(match f {
        PidFile::Maps => mm.map(|m| m.maps_text().into_bytes()).unwrap_or_default(),
        PidFile::Cmdline => {
            let (a0, a1, _, _) = *s.tg.args_range.lock();
            mm.map(|m| read_range(&m, a0, a1)).unwrap_or_default()
        }
        PidFile::Environ => {
            let (_, _, e0, e1) = *s.tg.args_range.lock();
            mm.map(|m| read_range(&m, e0, e1)).unwrap_or_default()
        }
        PidFile::Comm => format!("{comm}\n").into_bytes(),
        PidFile::Cgroup => b"0::/\n".to_vec(),
        PidFile::OomScoreAdj => b"0\n".to_vec(),
        PidFile::Status => status_text(s, mm.as_deref(), &comm, ppid, pgid, sid)?,
        PidFile::Stat => {
            let (vsize, rss) = mm
                .as_ref()
                .map(|m| {
                    let st = m.stats();
                    (st.total_pages * 4096, st.resident_pages)
                })
                .unwrap_or((0, 0));
            let (ign, cgt) = sig_masks(&s.tg);
            // Addresses and the exit code only for those who may ptrace it.
            let permitted = may_ptrace(&cx.creds, &cx.tg, s);
            let (a0, a1, e0, e1) = if mm.is_some() && permitted {
                *s.tg.args_range.lock()
            } else {
                (0, 0, 0, 0)
            };
            let now = veil_core::process::mono_ns(&s.kernel);
            let times = s.tg.pm.times(now);
            let children = s.tg.pm.children.lock().times;
            let nice = s.tg.pm.sched(s.tid).nice;
            let (state, _) = s.state();
            let threads = threads(s);
            let exit_code = match *s.tg.exit_status.lock() {
                _ if !permitted => 0,
                Some(veil_core::task::ExitStatus::Exited(c)) if s.zombie() => (c & 0xff) << 8,
                Some(veil_core::task::ExitStatus::Signaled(sig)) if s.zombie() => sig & 0x7f,
                _ => 0,
            };
            let (tty_nr, tpgid) = controlling_tty(&s.tg);
            format!(
                "{pid} ({comm}) {state} {ppid} {pgid} {sid} {tty_nr} {tpgid} 4194304 0 0 0 0 {} {} {} {} {} {nice} {threads} 0 0 {vsize} {rss} 18446744073709551615 1 1 0 0 0 0 {} {ign} {cgt} 0 0 0 17 0 0 0 0 0 0 0 0 0 {a0} {a1} {e0} {e1} {exit_code}\n",
                ticks(times.utime),
                ticks(times.stime),
                ticks(children.utime),
                ticks(children.stime),
                20 + nice,
                s.sigmask,
            )
            .into_bytes()
        }
        PidFile::Statm => match mm {
            Some(m) => {
                let st = m.stats();
                format!(
                    "{} {} 0 0 0 {} 0\n",
                    st.total_pages,
                    st.resident_pages,
                    st.total_pages.saturating_sub(st.stack_pages)
                )
                .into_bytes()
            }
            None => b"0 0 0 0 0 0 0\n".to_vec(),
        },
        PidFile::Mounts => mounts_text(s, MountTable::Mounts)?,
        PidFile::Mountinfo => mounts_text(s, MountTable::Mountinfo)?,
        PidFile::Mountstats => mounts_text(s, MountTable::Mountstats)?,
        PidFile::Limits => limits_text(&s.tg),
        PidFile::Smaps => mm.map(|m| smaps_text(&m, false)).unwrap_or_default(),
        PidFile::SmapsRollup => mm.map(|m| smaps_text(&m, true)).unwrap_or_default(),
        PidFile::Io => {
            use std::sync::atomic::Ordering::Relaxed;
            let io = &s.tg.io;
            format!(
                "rchar: {}\nwchar: {}\nsyscr: {}\nsyscw: {}\nread_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n",
                io.rchar.load(Relaxed),
                io.wchar.load(Relaxed),
                io.syscr.load(Relaxed),
                io.syscw.load(Relaxed)
            )
            .into_bytes()
        }
        // No audit login session: Linux's "unset" value.
        PidFile::Loginuid | PidFile::Sessionid => b"4294967295".to_vec(),
        PidFile::Personality => format!("{:08x}\n", s.tg.pm.sched(s.tid).personality).into_bytes(),
        // No kernel symbols to name where a task sleeps: Linux's answer
        // for a running task (or one the caller may not trace).
        PidFile::Wchan => b"0".to_vec(),
        PidFile::Stack | PidFile::Attr(_) => Vec::new(),
        PidFile::OomScore => {
            // Linux's oom_badness (resident pages and page tables, with
            // oom_score_adj 0) scaled into [0, 2000] as proc_oom_score.
            let total = (s.kernel.identity.total_memory / 4096).max(1) as i64;
            let badness = mm
                .as_ref()
                .map(|m| {
                    let st = m.stats();
                    (st.resident_pages + st.vmas.div_ceil(64)) as i64
                })
                .unwrap_or(0);
            format!("{}\n", (1000 + badness * 1000 / total) * 2 / 3).into_bytes()
        }
        // oom_adj follows oom_score_adj (always 0 here).
        PidFile::OomAdj => b"0\n".to_vec(),
        PidFile::TimerslackNs => b"50000\n".to_vec(),
        // Linux's default filter: anonymous private and shared memory,
        // ELF headers, private huge pages.
        PidFile::CoredumpFilter => b"00000033\n".to_vec(),
        PidFile::Cpuset => b"/\n".to_vec(),
        PidFile::Schedstat => {
            // Time on a CPU, time waiting for one (not measured), and
            // the number of slices (counted as 4 ms each).
            let now = veil_core::process::mono_ns(&s.kernel);
            let t = s.tg.pm.times(now);
            let run = t.utime + t.stime;
            format!("{run} 0 {}\n", run / 4_000_000 + 1).into_bytes()
        }
        // The initial user namespace: every id maps to itself.
        PidFile::UidMap | PidFile::GidMap => {
            format!("{:>10} {:>10} {:>10}\n", 0, 0, u32::MAX).into_bytes()
        }
        PidFile::Setgroups => b"allow\n".to_vec(),
        PidFile::Auxv => {
            let mut out = Vec::new();
            if mm.is_some() {
                for (k, v) in s.tg.auxv.lock().iter() {
                    out.extend_from_slice(&k.to_ne_bytes());
                    out.extend_from_slice(&v.to_ne_bytes());
                }
            }
            out
        }
    })
}

/// Threads of the process still running (at least 1, as Linux counts a
/// zombie leader).
fn threads(s: &Snap) -> u32 {
    s.tg.live_threads
        .load(std::sync::atomic::Ordering::Acquire)
        .max(1)
}

/// A CPU list as sysfs and /proc show them: `0`, `0-3`.
pub(crate) fn cpu_list(n: u32) -> String {
    match n {
        0 | 1 => "0".to_string(),
        n => format!("0-{}", n - 1),
    }
}

/// The controlling terminal as `stat` shows it: its device number (the
/// kernel's 32-bit encoding, 0 without one) and its foreground process
/// group (-1 without a terminal, 0 without a foreground group).
fn controlling_tty(tg: &veil_core::task::ThreadGroup) -> (u32, i32) {
    let Some(pty) = tg.ctty.lock().tty().cloned() else {
        return (0, -1);
    };
    let rdev = veil_core::tty::slave_rdev(pty.index);
    let major = (((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff)) as u32;
    let minor = ((rdev & 0xff) | ((rdev >> 12) & !0xff)) as u32;
    let nr = (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12);
    (nr, pty.session().1.unwrap_or(0))
}

fn status_text(
    s: &Snap,
    mm: Option<&MemoryManager>,
    comm: &str,
    ppid: Pid,
    pgid: Pid,
    sid: Pid,
) -> Result<Vec<u8>, Errno> {
    let c = &s.creds;
    let kb = |pages: u64| pages * 4;
    let (ign, cgt) = sig_masks(&s.tg);
    let zombie = s.zombie();
    // A zombie has no fs context or fd table left: no Umask line, FDSize 0.
    let umask = if zombie {
        None
    } else {
        Some(s.fs()?.lock().umask)
    };
    let fd_size = if zombie {
        0
    } else {
        s.fds()?
            .list()
            .last()
            .map(|(fd, _)| *fd as u64 + 1)
            .unwrap_or(0)
            .max(64)
            .next_power_of_two()
    };
    let groups: Vec<String> = c.groups.iter().map(|g| g.to_string()).collect();
    let n = cpus(&s.kernel);
    let sigpending = s.tg.rlimit(veil_abi::flags::RLIMIT_SIGPENDING);
    let (state, word) = s.state();
    let mut o = format!("Name:\t{comm}\n");
    if let Some(umask) = umask {
        let _ = writeln!(o, "Umask:\t{umask:04o}");
    }
    let _ = write!(
        o,
        "State:\t{state} ({word})\nTgid:\t{pid}\nNgid:\t0\nPid:\t{tid}\nPPid:\t{ppid}\nTracerPid:\t0\n\
         Uid:\t{}\t{}\t{}\t{}\nGid:\t{}\t{}\t{}\t{}\nFDSize:\t{fd_size}\nGroups:\t{}\n\
         NStgid:\t{pid}\nNSpid:\t{tid}\nNSpgid:\t{pgid}\nNSsid:\t{sid}\n",
        c.uid,
        c.euid,
        c.suid,
        c.fsuid,
        c.gid,
        c.egid,
        c.sgid,
        c.fsgid,
        groups.join(" "),
        pid = s.pid(),
        tid = s.tid,
    );
    if let Some(mm) = mm {
        let st = mm.stats();
        let _ = write!(
            o,
            "VmPeak:\t{:>8} kB\nVmSize:\t{:>8} kB\nVmLck:\t{:>8} kB\nVmPin:\t{:>8} kB\nVmHWM:\t{:>8} kB\nVmRSS:\t{:>8} kB\n\
             RssAnon:\t{:>8} kB\nRssFile:\t{:>8} kB\nRssShmem:\t{:>8} kB\nVmData:\t{:>8} kB\nVmStk:\t{:>8} kB\n\
             VmExe:\t{:>8} kB\nVmLib:\t{:>8} kB\nVmPTE:\t{:>8} kB\nVmSwap:\t{:>8} kB\nHugetlbPages:\t{:>8} kB\n",
            kb(st.total_pages),
            kb(st.total_pages),
            0,
            0,
            kb(st.resident_pages),
            kb(st.resident_pages),
            kb(st.resident_pages),
            0,
            0,
            kb(st.total_pages.saturating_sub(st.stack_pages)),
            kb(st.stack_pages),
            0,
            0,
            kb(st.vmas.div_ceil(64).max(1)),
            0,
            0,
        );
    }
    let caps = &c.caps;
    let (seccomp, filters) = s.tg.seccomp.status(s.tid);
    let _ = write!(
        o,
        "CoreDumping:\t0\nTHP_enabled:\t1\nThreads:\t{}\nSigQ:\t0/{sigpending}\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n\
         SigBlk:\t{:016x}\nSigIgn:\t{ign:016x}\nSigCgt:\t{cgt:016x}\n\
         CapInh:\t{:016x}\nCapPrm:\t{:016x}\nCapEff:\t{:016x}\nCapBnd:\t{:016x}\nCapAmb:\t0000000000000000\n\
         NoNewPrivs:\t{}\nSeccomp:\t{seccomp}\nSeccomp_filters:\t{filters}\nSpeculation_Store_Bypass:\tthread vulnerable\n\
         SpeculationIndirectBranch:\tconditional enabled\nCpus_allowed:\t{}\nCpus_allowed_list:\t{}\n\
         Mems_allowed:\t00000000,00000001\nMems_allowed_list:\t0\nvoluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n",
        threads(s),
        s.sigmask,
        caps.inheritable,
        caps.permitted,
        caps.effective,
        caps.bounding,
        c.no_new_privs as u8,
        cpu_mask(n),
        cpu_list(n),
    );
    Ok(o.into_bytes())
}

/// `/proc/<pid>/smaps` (each VMA's maps line and its sizes) or, with
/// `rollup`, `smaps_rollup` (the sums under one `[rollup]` line), in
/// Linux's layout. veil does not track dirtiness or sharing per page: a
/// writable mapping's resident pages count as dirty, others as clean, and
/// every page as the process's own share (Pss = Rss).
fn smaps_text(mm: &MemoryManager, rollup: bool) -> Vec<u8> {
    // Sizes veil has nothing to count for (no KSM, huge pages or swap).
    const UNTRACKED: [&str; 9] = [
        "KSM",
        "LazyFree",
        "AnonHugePages",
        "ShmemPmdMapped",
        "FilePmdMapped",
        "Shared_Hugetlb",
        "Private_Hugetlb",
        "Swap",
        "SwapPss",
    ];
    let vmas = mm.vmas();
    let maps = mm.maps_text();
    let field = |out: &mut String, name: &str, kb: u64| {
        let _ = writeln!(out, "{:<16}{kb:>8} kB", format!("{name}:"));
    };
    #[derive(Default)]
    struct Sum {
        rss: u64,
        anon: u64,
        file: u64,
        shmem: u64,
        shared_clean: u64,
        shared_dirty: u64,
        private_clean: u64,
        private_dirty: u64,
        locked: u64,
    }
    let mut total = Sum::default();
    let mut out = String::new();
    for (v, line) in vmas.iter().zip(maps.lines()) {
        let rss = mm.resident_in(v.start, v.end) * 4;
        let writable = v.prot.contains(veil_core::platform::Prot::WRITE);
        let anon = v.dev_ino == (0, 0) && !v.shared;
        let mut one = Sum {
            rss,
            ..Sum::default()
        };
        match (v.shared, writable) {
            (true, true) => one.shared_dirty = rss,
            (true, false) => one.shared_clean = rss,
            (false, true) => one.private_dirty = rss,
            (false, false) => one.private_clean = rss,
        }
        if anon {
            one.anon = rss;
        } else if v.shared {
            one.shmem = rss;
        } else {
            one.file = rss;
        }
        total.rss += one.rss;
        total.anon += one.anon;
        total.file += one.file;
        total.shmem += one.shmem;
        total.shared_clean += one.shared_clean;
        total.shared_dirty += one.shared_dirty;
        total.private_clean += one.private_clean;
        total.private_dirty += one.private_dirty;
        total.locked += one.locked;
        if rollup {
            continue;
        }
        let _ = writeln!(out, "{line}");
        field(&mut out, "Size", (v.end - v.start) / 1024);
        field(&mut out, "KernelPageSize", 4);
        field(&mut out, "MMUPageSize", 4);
        field(&mut out, "Rss", rss);
        field(&mut out, "Pss", rss);
        field(&mut out, "Pss_Dirty", one.shared_dirty + one.private_dirty);
        field(&mut out, "Shared_Clean", one.shared_clean);
        field(&mut out, "Shared_Dirty", one.shared_dirty);
        field(&mut out, "Private_Clean", one.private_clean);
        field(&mut out, "Private_Dirty", one.private_dirty);
        field(&mut out, "Referenced", rss);
        field(&mut out, "Anonymous", one.anon);
        for name in UNTRACKED {
            field(&mut out, name, 0);
        }
        field(&mut out, "Locked", one.locked);
        let _ = writeln!(out, "THPeligible:    0");
        out.push_str("VmFlags: ");
        let p = v.prot;
        for (on, flag) in [
            (p.contains(veil_core::platform::Prot::READ), "rd"),
            (writable, "wr"),
            (p.contains(veil_core::platform::Prot::EXEC), "ex"),
            (v.shared, "sh"),
            (true, "mr"),
            (true, "mw"),
            (true, "me"),
            (v.shared, "ms"),
            (v.name == b"[stack]", "gd"),
            (!v.shared && writable, "ac"),
        ] {
            if on {
                out.push_str(flag);
                out.push(' ');
            }
        }
        out.push('\n');
    }
    if rollup {
        let start = vmas.first().map_or(0, |v| v.start);
        let end = vmas.last().map_or(0, |v| v.end);
        // Padded to column 73 as maps lines with a name are.
        let mut line = format!("{start:08x}-{end:08x} ---p 00000000 00:00 0");
        while line.len() < 72 {
            line.push(' ');
        }
        let _ = writeln!(out, "{line} [rollup]");
        field(&mut out, "Rss", total.rss);
        field(&mut out, "Pss", total.rss);
        field(
            &mut out,
            "Pss_Dirty",
            total.shared_dirty + total.private_dirty,
        );
        field(&mut out, "Pss_Anon", total.anon);
        field(&mut out, "Pss_File", total.file);
        field(&mut out, "Pss_Shmem", total.shmem);
        field(&mut out, "Shared_Clean", total.shared_clean);
        field(&mut out, "Shared_Dirty", total.shared_dirty);
        field(&mut out, "Private_Clean", total.private_clean);
        field(&mut out, "Private_Dirty", total.private_dirty);
        field(&mut out, "Referenced", total.rss);
        field(&mut out, "Anonymous", total.anon);
        for name in UNTRACKED {
            field(&mut out, name, 0);
        }
        field(&mut out, "Locked", total.locked);
    }
    out.into_bytes()
}

/// Which of the three mount tables of a process.
#[derive(Clone, Copy, PartialEq, Eq)]
enum MountTable {
    Mounts,
    Mountinfo,
    Mountstats,
}

fn mounts_text(s: &Snap, table: MountTable) -> Result<Vec<u8>, Errno> {
    use veil_core::vfs::mount::{mnt, path_within};
    let root = s.root()?;
    let mut o = String::new();
    for m in s.tg.mount_namespace(&s.kernel).all() {
        // Mounts the process cannot reach from its root are left out.
        let me = Location {
            mount: m.clone(),
            dentry: m.root.clone(),
        };
        let Some(path) = path_within(&me, &root) else {
            continue;
        };
        let path = escape_mount_path(&path);
        let sb = m.sb();
        let mut sb_opts = String::new();
        for (bit, name) in [
            (veil_abi::mount::MS_SYNCHRONOUS, ",sync"),
            (veil_abi::mount::MS_DIRSYNC, ",dirsync"),
            (veil_abi::mount::MS_MANDLOCK, ",mand"),
            (veil_abi::mount::MS_LAZYTIME, ",lazytime"),
        ] {
            if sb.flags() & bit != 0 {
                sb_opts.push_str(name);
            }
        }
        let mut mnt_opts = String::new();
        for (bit, name) in [
            (mnt::NOSUID, ",nosuid"),
            (mnt::NODEV, ",nodev"),
            (mnt::NOEXEC, ",noexec"),
            (mnt::NOATIME, ",noatime"),
            (mnt::NODIRATIME, ",nodiratime"),
            (mnt::RELATIME, ",relatime"),
            (mnt::NOSYMFOLLOW, ",nosymfollow"),
        ] {
            if m.flags() & bit != 0 {
                mnt_opts.push_str(name);
            }
        }
        let fs_opts = sb
            .filesystem()
            .map(|f| f.show_options())
            .unwrap_or_default();
        let source = escape_mount_path(m.source().as_bytes());
        let fs_type = escape_mount_path(m.fs_type().as_bytes());
        if table == MountTable::Mountstats {
            let _ = writeln!(o, "device {source} mounted on {path} with fstype {fs_type}");
        } else if table == MountTable::Mountinfo {
            let dev = sb.root().inode.attr().map(|a| a.dev).unwrap_or(0);
            let (major, minor) = veil_core::mm::split_dev(dev);
            let parent = m.parent().map(|p| p.mount.id).unwrap_or(m.id);
            let mnt_rw = if m.flags() & mnt::READONLY != 0 {
                "ro"
            } else {
                "rw"
            };
            let sb_rw = if sb.read_only() { "ro" } else { "rw" };
            let prop = m.propagation();
            let mut optional = String::new();
            if prop.group != 0 {
                let _ = write!(optional, " shared:{}", prop.group);
            }
            if prop.master != 0 {
                let _ = write!(optional, " master:{}", prop.master);
            }
            if prop.unbindable {
                optional.push_str(" unbindable");
            }
            let _ = writeln!(
                o,
                "{} {parent} {major}:{minor} {} {path} {mnt_rw}{mnt_opts}{optional} - {fs_type} {source} {sb_rw}{sb_opts}{fs_opts}",
                m.id,
                escape_mount_path(&m.root_path()),
            );
        } else {
            let rw = if m.read_only() { "ro" } else { "rw" };
            let _ = writeln!(
                o,
                "{source} {path} {fs_type} {rw}{sb_opts}{mnt_opts}{fs_opts} 0 0"
            );
        }
    }
    Ok(o.into_bytes())
}

/// Escapes space, tab, newline and backslash as `\ooo`, as Linux does in
/// mount tables.
fn escape_mount_path(p: &[u8]) -> String {
    let mut s = String::new();
    for &c in p {
        if matches!(c, b' ' | b'\t' | b'\n' | b'\\') {
            let _ = write!(s, "\\{c:03o}");
        } else {
            s.push(c as char);
        }
    }
    s
}

fn limits_text(tg: &ThreadGroup) -> Vec<u8> {
    const ROWS: [(&str, &str); 16] = [
        ("Max cpu time", "seconds"),
        ("Max file size", "bytes"),
        ("Max data size", "bytes"),
        ("Max stack size", "bytes"),
        ("Max core file size", "bytes"),
        ("Max resident set", "bytes"),
        ("Max processes", "processes"),
        ("Max open files", "files"),
        ("Max locked memory", "bytes"),
        ("Max address space", "bytes"),
        ("Max file locks", "locks"),
        ("Max pending signals", "signals"),
        ("Max msgqueue size", "bytes"),
        ("Max nice priority", ""),
        ("Max realtime priority", ""),
        ("Max realtime timeout", "us"),
    ];
    let lim = *tg.rlimits.lock();
    let show = |v: u64| {
        if v == veil_abi::flags::RLIM_INFINITY {
            "unlimited".to_string()
        } else {
            v.to_string()
        }
    };
    let mut o = format!(
        "{:<26}{:<21}{:<21}{:<10}\n",
        "Limit", "Soft Limit", "Hard Limit", "Units"
    );
    for (i, (name, unit)) in ROWS.iter().enumerate() {
        let _ = writeln!(
            o,
            "{:<26}{:<21}{:<21}{:<10}",
            name,
            show(lim[i].cur),
            show(lim[i].max),
            unit
        );
    }
    o.into_bytes()
}

fn fdinfo_text(s: &Snap, fd: i32) -> Result<Vec<u8>, Errno> {
    let e = s.fds()?.get(fd).map_err(|_| Errno::ENOENT)?;
    let f = &e.file;
    let flags = f.flags() | if e.cloexec { O_CLOEXEC } else { 0 };
    let (mnt, ino) = match &f.location {
        Some(l) => (l.mount.id, l.inode().attr().map(|a| a.ino).unwrap_or(0)),
        None => (0, f.ops.stat().map(|a| a.ino).unwrap_or(0)),
    };
    Ok(format!(
        "pos:\t{}\nflags:\t0{:o}\nmnt_id:\t{mnt}\nino:\t{ino}\n",
        f.pos(),
        flags
    )
    .into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{kernel_with_root, names, read_all, task_in, TestClock};
    use crate::tmpfs::TmpFs;
    use veil_abi::flags::{MAP_ANONYMOUS, MAP_PRIVATE};
    use veil_core::platform::Prot;
    use veil_core::vfs::{OpenFile, Owner};

    struct Env {
        _tmp: TmpFs,
        proc_root: InodeRef,
        task: Task,
    }

    fn env() -> Env {
        let tmp = TmpFs::new(Arc::new(TestClock::default()));
        let root = tmp.root();
        root.mkdir(b"proc", 0o555, Owner::default()).unwrap();
        let etc = root.mkdir(b"etc", 0o755, Owner::default()).unwrap();
        etc.mknod(b"passwd", FileType::Regular, 0o644, 0, Owner::default())
            .unwrap();
        let kernel = kernel_with_root(tmp.root_dentry());
        let task = task_in(&kernel);
        let proc = ProcFs::with_cpuinfo(
            Arc::new(TestClock::default()),
            b"processor\t: 0\nmodel name\t: X\n\nprocessor\t: 1\nmodel name\t: X\n\nprocessor\t: 2\nmodel name\t: X\n\n"
                .to_vec(),
        )
        .listing(&kernel);
        let proc_dentry = proc.root_dentry();
        let at = veil_core::vfs::walk::resolve(
            &task,
            veil_abi::flags::AT_FDCWD,
            b"/proc",
            veil_core::vfs::walk::WalkFlags::default(),
        )
        .unwrap();
        kernel
            .mounts
            .mount(&at, proc_dentry.clone(), "proc", "proc");
        Env {
            _tmp: tmp,
            proc_root: proc_dentry.inode.clone(),
            task,
        }
    }

    fn text(dir: &InodeRef, t: &Task, path: &str) -> String {
        let mut node = dir.clone();
        for c in path.split('/') {
            node = node
                .lookup(t, c.as_bytes())
                .unwrap_or_else(|e| panic!("{path}: {e:?}"));
        }
        String::from_utf8(read_all(&*node.open(t, O_RDONLY).unwrap())).unwrap()
    }

    fn open_path(t: &Task, path: &[u8]) -> Arc<OpenFile> {
        let loc = veil_core::vfs::walk::resolve(
            t,
            veil_abi::flags::AT_FDCWD,
            path,
            veil_core::vfs::walk::WalkFlags {
                follow: true,
                ..Default::default()
            },
        )
        .unwrap();
        let ops = loc.inode().open(t, O_RDONLY).unwrap();
        OpenFile::new(ops, Some(loc), O_RDONLY)
    }

    #[test]
    fn self_links_and_pid_dir() {
        let e = env();
        let t = &e.task;
        let pid = t.pid().to_string();
        let me = e.proc_root.lookup(t, b"self").unwrap();
        assert_eq!(me.attr().unwrap().mode, S_IFLNK | 0o777);
        assert_eq!(me.readlink(t).unwrap(), pid.as_bytes());
        let ts = e.proc_root.lookup(t, b"thread-self").unwrap();
        assert_eq!(
            ts.readlink(t).unwrap(),
            format!("{pid}/task/{}", t.tid).as_bytes()
        );
        let mounts = e.proc_root.lookup(t, b"mounts").unwrap();
        assert_eq!(mounts.readlink(t).unwrap(), b"self/mounts");
        assert!(!e.proc_root.cacheable());
        let d = e.proc_root.lookup(t, pid.as_bytes()).unwrap();
        assert_eq!(d.attr().unwrap().mode, S_IFDIR | 0o555);
        assert!(!d.cacheable());
        assert_eq!(e.proc_root.lookup(t, b"99999").err(), Some(Errno::ENOENT));
        assert_eq!(
            e.proc_root.lookup(t, format!("0{pid}").as_bytes()).err(),
            Some(Errno::ENOENT)
        );
        assert_eq!(e.proc_root.lookup(t, b"nope").err(), Some(Errno::ENOENT));
        let listed = names(&*d);
        for want in [
            "exe",
            "cwd",
            "root",
            "fd",
            "fdinfo",
            "maps",
            "status",
            "stat",
            "statm",
            "cmdline",
            "environ",
            "comm",
            "mounts",
            "mountinfo",
            "limits",
            "task",
        ] {
            assert!(listed.iter().any(|n| n == want), "{want}");
        }
        let root_names = names(&*e.proc_root);
        for want in [
            "self",
            "thread-self",
            "cpuinfo",
            "meminfo",
            "sys",
            "mounts",
            "uptime",
        ] {
            assert!(root_names.iter().any(|n| n == want), "{want}");
        }
        // task/<tid> is the same process.
        let task_dir = d.lookup(t, b"task").unwrap();
        assert_eq!(names(&*task_dir), vec![t.tid.to_string()]);
        let td = task_dir.lookup(t, t.tid.to_string().as_bytes()).unwrap();
        assert_eq!(text(&td, t, "comm"), "test\n");
        // Inode numbers are stable between lookups.
        let a = d.lookup(t, b"status").unwrap().attr().unwrap().ino;
        let d2 = e.proc_root.lookup(t, pid.as_bytes()).unwrap();
        assert_eq!(d2.lookup(t, b"status").unwrap().attr().unwrap().ino, a);
    }

    #[test]
    fn status_stat_limits_comm() {
        let e = env();
        let t = &e.task;
        let d = e
            .proc_root
            .lookup(t, t.pid().to_string().as_bytes())
            .unwrap();
        let status = text(&d, t, "status");
        assert!(
            status.starts_with("Name:\ttest\nUmask:\t0022\nState:\tR (running)\n"),
            "{status}"
        );
        assert!(status.contains(&format!("\nPid:\t{}\n", t.tid)));
        assert!(status.contains("\nPPid:\t0\n"));
        assert!(status.contains("\nUid:\t0\t0\t0\t0\n"));
        assert!(status.contains("\nCapEff:\t000001ffffffffff\n"));
        assert!(status.contains("\nCpus_allowed_list:\t0-1\n"));
        for key in [
            "VmRSS:",
            "Threads:",
            "SigBlk:",
            "SigCgt:",
            "Seccomp:",
            "TracerPid:",
            "FDSize:",
            "Groups:",
        ] {
            assert!(status.contains(key), "{key}");
        }
        let stat = text(&d, t, "stat");
        assert!(
            stat.starts_with(&format!("{} (test) R 0 ", t.pid())),
            "{stat}"
        );
        assert_eq!(stat.split_whitespace().count(), 52);
        assert_eq!(text(&d, t, "statm").split_whitespace().count(), 7);
        let limits = text(&d, t, "limits");
        assert!(
            limits.contains(
                "Max open files            1024                 1048576              files"
            ),
            "{limits}"
        );
        assert!(limits.contains(
            "Max cpu time              unlimited            unlimited            seconds"
        ));
        // comm is writable.
        let comm = d.lookup(t, b"comm").unwrap();
        let f = comm.open(t, O_WRONLY).unwrap();
        f.write(b"renamed-process-name\n", 0).unwrap();
        assert_eq!(text(&d, t, "comm"), "renamed-process\n");
        // Others are not.
        assert_eq!(
            d.lookup(t, b"status").unwrap().open(t, O_WRONLY).err(),
            Some(Errno::EACCES)
        );
        assert_eq!(text(&d, t, "maps"), t.mm.maps_text());
        assert_eq!(text(&d, t, "cgroup"), "0::/\n");
    }

    #[test]
    fn cmdline_and_environ_from_memory() {
        let e = env();
        let t = &e.task;
        let addr =
            t.mm.mmap(
                UserAddr(0),
                4096,
                Prot::READ | Prot::WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS,
                None,
            )
            .unwrap();
        let args = b"/bin/prog\0-x\0arg\0";
        let env = b"A=1\0B=2\0";
        t.mm.copy_out(addr, args).unwrap();
        let env_at = addr.0 + 100;
        t.mm.copy_out(UserAddr(env_at), env).unwrap();
        *t.tg.args_range.lock() = (
            addr.0,
            addr.0 + args.len() as u64,
            env_at,
            env_at + env.len() as u64,
        );
        let d = e
            .proc_root
            .lookup(t, b"self")
            .and_then(|_| e.proc_root.lookup(t, t.pid().to_string().as_bytes()))
            .unwrap();
        assert_eq!(text(&d, t, "cmdline").as_bytes(), args);
        assert_eq!(text(&d, t, "environ").as_bytes(), env);
        // A range reaching into unmapped memory stops at the hole.
        *t.tg.args_range.lock() = (addr.0 + 4090, addr.0 + 8192, 0, 0);
        assert_eq!(text(&d, t, "cmdline").len(), 6);
        *t.tg.args_range.lock() = (0, 0, 0, 0);
        assert_eq!(text(&d, t, "cmdline"), "");
    }

    #[test]
    fn fd_links_exe_cwd() {
        let e = env();
        let t = &e.task;
        let file = open_path(t, b"/etc/passwd");
        let fd = t.fds.insert(3, file.clone(), true, 1024).unwrap();
        *file.offset.lock() = 7;
        let d = e
            .proc_root
            .lookup(t, t.pid().to_string().as_bytes())
            .unwrap();
        let fddir = d.lookup(t, b"fd").unwrap();
        assert_eq!(names(&*fddir), vec![fd.to_string()]);
        let link = fddir.lookup(t, fd.to_string().as_bytes()).unwrap();
        assert_eq!(link.readlink(t).unwrap(), b"/etc/passwd");
        assert_eq!(link.attr().unwrap().mode, S_IFLNK | 0o500);
        let loc = link.magic_link(t).unwrap().unwrap();
        assert!(loc.same(file.location.as_ref().unwrap()));
        assert_eq!(fddir.lookup(t, b"42").err(), Some(Errno::ENOENT));
        let info = text(&d, t, &format!("fdinfo/{fd}"));
        assert!(
            info.starts_with("pos:\t7\nflags:\t02000000\nmnt_id:\t2\nino:\t"),
            "{info}"
        );
        // exe
        let exe = d.lookup(t, b"exe").unwrap();
        assert_eq!(exe.readlink(t).err(), Some(Errno::ENOENT));
        *t.tg.exe.lock() = file.location.clone();
        assert_eq!(exe.readlink(t).unwrap(), b"/etc/passwd");
        assert!(exe
            .magic_link(t)
            .unwrap()
            .unwrap()
            .same(file.location.as_ref().unwrap()));
        assert_eq!(d.lookup(t, b"cwd").unwrap().readlink(t).unwrap(), b"/");
        assert_eq!(d.lookup(t, b"root").unwrap().readlink(t).unwrap(), b"/");
        // Through the path walk: /proc/self/fd/N and /proc/self/exe.
        let via = open_path(t, format!("/proc/self/fd/{fd}").as_bytes());
        assert!(via
            .location
            .as_ref()
            .unwrap()
            .same(file.location.as_ref().unwrap()));
        let via = open_path(t, b"/proc/self/exe");
        assert!(via
            .location
            .as_ref()
            .unwrap()
            .same(file.location.as_ref().unwrap()));
        // A host fd without a path.
        let mut fds = [0; 2];
        // SAFETY: valid array for pipe2.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        use std::os::fd::FromRawFd;
        // SAFETY: fresh fds we own.
        let (r, w) = unsafe {
            (
                std::os::fd::OwnedFd::from_raw_fd(fds[0]),
                std::os::fd::OwnedFd::from_raw_fd(fds[1]),
            )
        };
        let hw = Arc::new(HostFdFile::new(w).unwrap());
        let hfile = OpenFile::new(hw.clone(), None, O_WRONLY);
        let hfd = t.fds.insert(0, hfile, false, 1024).unwrap();
        let hl = fddir.lookup(t, hfd.to_string().as_bytes()).unwrap();
        assert!(hl.readlink(t).unwrap().starts_with(b"pipe:["));
        let anon = hl.magic_link(t).unwrap().unwrap();
        let again = anon.inode().open(t, O_WRONLY).unwrap();
        again.write(b"hi", 0).unwrap();
        let mut buf = [0u8; 2];
        assert_eq!(
            crate::sys::read(std::os::fd::AsRawFd::as_raw_fd(&r), &mut buf).unwrap(),
            2
        );
        assert_eq!(&buf, b"hi");
        assert_eq!(
            anon.inode().attr().unwrap().mode & veil_abi::flags::S_IFMT,
            veil_abi::flags::S_IFIFO
        );
    }

    #[test]
    fn dead_process() {
        let Env {
            _tmp,
            proc_root,
            task,
        } = env();
        let other = task_in(&task.kernel);
        let pid = task.pid().to_string();
        let d = proc_root.lookup(&task, pid.as_bytes()).unwrap();
        let maps = d.lookup(&other, b"maps").unwrap();
        let fdd = d.lookup(&other, b"fd").unwrap();
        drop(task);
        assert_eq!(maps.open(&other, O_RDONLY).err(), Some(Errno::ESRCH));
        assert!(names(&*fdd).is_empty());
        assert_eq!(fdd.lookup(&other, b"0").err(), Some(Errno::ESRCH));
        // Until reaped (its pid freed), the directory is there for others.
        let again = proc_root.lookup(&other, pid.as_bytes()).unwrap();
        other
            .kernel
            .thread_groups
            .lock()
            .remove(&pid.parse().unwrap());
        assert_eq!(
            proc_root.lookup(&other, pid.as_bytes()).err(),
            Some(Errno::ENOENT)
        );
        assert_eq!(again.lookup(&other, b"stat").err(), Some(Errno::ESRCH));
        assert!(!names(&*proc_root).contains(&pid));
    }

    #[test]
    fn other_processes() {
        let Env {
            _tmp,
            proc_root,
            task,
        } = env();
        let mut child = task_in(&task.kernel);
        *child.tg.ppid.lock() = task.pid();
        *child.tg.comm.lock() = "kid".into();
        child.creds = veil_core::task::Credentials::new(5, 6, vec![7]);
        child.publish_view();
        let pid = child.pid().to_string();
        // Listed after the named entries, in pid order.
        let listed = names(&*proc_root);
        let at = |p: &str| listed.iter().position(|n| n == p).unwrap();
        assert!(at("version") < at(&task.pid().to_string()));
        assert!(at(&task.pid().to_string()) < at(&pid));
        // Read by the parent: the child's own state, not the reader's.
        let d = proc_root.lookup(&task, pid.as_bytes()).unwrap();
        assert_eq!(d.attr().unwrap().uid, 5);
        let status = text(&d, &task, "status");
        assert!(
            status.starts_with("Name:\tkid\nUmask:\t0022\nState:\tR (running)\n"),
            "{status}"
        );
        assert!(status.contains(&format!("\nTgid:\t{pid}\n")), "{status}");
        assert!(
            status.contains(&format!("\nPPid:\t{}\n", task.pid())),
            "{status}"
        );
        assert!(
            status.contains("\nUid:\t5\t5\t5\t5\nGid:\t6\t6\t6\t6\n"),
            "{status}"
        );
        assert!(status.contains("\nGroups:\t7\n"), "{status}");
        assert!(status.contains("\nCapEff:\t0000000000000000\n"), "{status}");
        let stat = text(&d, &task, "stat");
        assert!(
            stat.starts_with(&format!("{pid} (kid) R {} ", task.pid())),
            "{stat}"
        );
        assert_eq!(stat.split_whitespace().count(), 52);
        assert_eq!(text(&d, &task, "comm"), "kid\n");
        assert_eq!(
            d.lookup(&task, b"cwd").unwrap().readlink(&task).unwrap(),
            b"/"
        );
        // A zombie: no memory, state Z, still listed.
        child
            .tg
            .dead
            .store(true, std::sync::atomic::Ordering::Release);
        *child.tg.exit_status.lock() = Some(veil_core::task::ExitStatus::Exited(3));
        let stat = text(&d, &task, "stat");
        assert!(stat.starts_with(&format!("{pid} (kid) Z ")), "{stat}");
        assert!(stat.ends_with(" 768\n"), "{stat}");
        let status = text(&d, &task, "status");
        assert!(status.contains("\nState:\tZ (zombie)\n"), "{status}");
        assert!(
            !status.contains("Umask") && !status.contains("VmSize"),
            "{status}"
        );
        assert_eq!(text(&d, &task, "cmdline"), "");
        assert_eq!(text(&d, &task, "statm"), "0 0 0 0 0 0 0\n");
        assert!(names(&*proc_root).contains(&pid));
    }

    #[test]
    fn global_files() {
        let e = env();
        let t = &e.task;
        let r = &e.proc_root;
        let cpu = text(r, t, "cpuinfo");
        assert_eq!(cpu.matches("processor").count(), 2, "{cpu}");
        assert!(cpu.ends_with("\n\n"));
        let mem = text(r, t, "meminfo");
        assert!(mem.starts_with("MemTotal:        4194304 kB\n"), "{mem}");
        assert!(mem.contains("\nMemAvailable:"));
        assert!(text(r, t, "stat").starts_with("cpu  "));
        let up = text(r, t, "uptime");
        assert_eq!(up.split_whitespace().count(), 2);
        assert!(text(r, t, "version").starts_with("Linux version 6.1.0 "));
        assert!(text(r, t, "filesystems").contains("\ttmpfs\n"));
        assert_eq!(text(r, t, "sys/kernel/hostname"), "veil\n");
        assert_eq!(text(r, t, "sys/kernel/domainname"), "(none)\n");
        // Writable: the caller's UTS namespace changes (uname too).
        let kdir = r.lookup(t, b"sys").unwrap().lookup(t, b"kernel").unwrap();
        for (name, value) in [
            (&b"hostname"[..], &b"box\nrest"[..]),
            (b"domainname", b"example"),
        ] {
            let f = kdir.lookup(t, name).unwrap().open(t, O_WRONLY).unwrap();
            assert_eq!(f.write(value, 0), Ok(value.len()));
        }
        assert_eq!(text(r, t, "sys/kernel/hostname"), "box\n");
        assert_eq!(text(r, t, "sys/kernel/domainname"), "example\n");
        let uts = veil_core::syscalls::admin::uts_of(&t.kernel, &t.tg);
        assert_eq!(uts.hostname(), b"box");
        assert_eq!(text(r, t, "sys/kernel/ostype"), "Linux\n");
        assert_eq!(text(r, t, "sys/kernel/osrelease"), "6.1.0\n");
        assert_eq!(text(r, t, "sys/kernel/pid_max"), "32768\n");
        assert_eq!(text(r, t, "sys/kernel/ngroups_max"), "65536\n");
        assert_eq!(text(r, t, "sys/vm/overcommit_memory"), "0\n");
        let b1 = text(r, t, "sys/kernel/random/boot_id");
        assert_eq!(b1, text(r, t, "sys/kernel/random/boot_id"));
        assert_eq!(b1.len(), 37);
        assert_ne!(
            text(r, t, "sys/kernel/random/uuid"),
            text(r, t, "sys/kernel/random/uuid")
        );
        let sys = r.lookup(t, b"sys").unwrap();
        assert!(sys.cacheable());
        assert_eq!(names(&*sys), vec!["fs", "kernel", "net", "vm"]);
        assert_eq!(text(r, t, "sys/net/core/somaxconn"), "4096\n");
        assert_eq!(text(r, t, "sys/fs/pipe-max-size"), "1048576\n");
        // mounts, through self.
        let mounts = text(r, t, &format!("{}/mounts", t.pid()));
        assert_eq!(
            mounts,
            "none / tmpfs rw,relatime 0 0\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n"
        );
        let mi = text(r, t, &format!("{}/mountinfo", t.pid()));
        let lines: Vec<&str> = mi.lines().collect();
        // The hidden rootfs (1) is not shown; / is 2 on it, /proc 3 on /.
        assert!(lines[0].starts_with("2 1 0:"), "{mi}");
        assert!(lines[1].starts_with("3 2 0:"), "{mi}");
        assert!(
            lines[1].contains(" / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw"),
            "{mi}"
        );
        assert_eq!(r.statfs().unwrap().f_type, PROC_SUPER_MAGIC);
        // Global files are read-only.
        assert_eq!(
            r.lookup(t, b"meminfo").unwrap().open(t, O_RDWR).err(),
            Some(Errno::EACCES)
        );
        // Offsets.
        let f = r.lookup(t, b"version").unwrap().open(t, O_RDONLY).unwrap();
        let mut buf = [0u8; 5];
        assert_eq!(f.read(&mut buf, 6).unwrap(), 5);
        assert_eq!(&buf, b"versi");
        assert_eq!(f.read(&mut buf, 1 << 40).unwrap(), 0);
    }

    /// What `t` sees of process `pid` through `root`: listed in a listing
    /// it opened, and the lookup's answer (and then looking inside).
    fn sees(root: &InodeRef, t: &Task, pid: Pid) -> (bool, Result<(), Errno>) {
        let name = pid.to_string();
        let lister = root.open_dir(t).unwrap().unwrap_or_else(|| root.clone());
        let listed = names(&*lister).contains(&name);
        let look = root.lookup(t, name.as_bytes()).and_then(|d| {
            d.open_dir(t)
                .and_then(|_| d.lookup(t, b"status"))
                .map(|_| ())
        });
        (listed, look)
    }

    #[test]
    fn mount_options_hide_processes() {
        let Env {
            _tmp,
            proc_root: _,
            task,
        } = env();
        let proc =
            ProcFs::with_cpuinfo(Arc::new(TestClock::default()), Vec::new()).listing(&task.kernel);
        let root = proc.root();
        let mut other = task_in(&task.kernel);
        other.creds = Credentials::new(1000, 1000, vec![]);
        other.publish_view();
        let mut peer = task_in(&task.kernel);
        peer.creds = Credentials::new(2000, 2000, vec![3000]);
        peer.publish_view();
        let (me, them) = (task.pid(), other.pid());
        let set = |hidepid, gid, subset_pid| {
            proc.set_options(ProcOptions {
                hidepid,
                gid,
                subset_pid,
            })
        };
        // Off: everyone sees everything; environ needs ptrace access.
        assert_eq!(sees(&root, &peer, them), (true, Ok(())));
        let d = root.lookup(&peer, them.to_string().as_bytes()).unwrap();
        let environ = d.lookup(&peer, b"environ").unwrap();
        assert_eq!(environ.open(&peer, O_RDONLY).err(), Some(Errno::EACCES));
        assert_eq!(
            d.lookup(&peer, b"exe").unwrap().readlink(&peer).err(),
            Some(Errno::EACCES)
        );
        // noaccess: listed, but looking inside is EPERM.
        set(HidePid::NoAccess, 0, false);
        assert_eq!(sees(&root, &peer, them), (true, Err(Errno::EPERM)));
        assert_eq!(sees(&root, &peer, peer.pid()), (true, Ok(())));
        assert_eq!(sees(&root, &task, them), (true, Ok(())), "root sees all");
        // invisible: gone.
        set(HidePid::Invisible, 0, false);
        assert_eq!(sees(&root, &peer, them), (false, Err(Errno::ENOENT)));
        assert_eq!(sees(&root, &peer, me), (false, Err(Errno::ENOENT)));
        assert_eq!(sees(&root, &task, them), (true, Ok(())));
        // gid= exempts its members (3000 is one of peer's groups).
        set(HidePid::Invisible, 3000, false);
        assert_eq!(sees(&root, &peer, them), (true, Ok(())));
        // ptraceable: gid= exempts no one; the same uid may trace.
        set(HidePid::NotPtraceable, 3000, false);
        assert_eq!(sees(&root, &peer, them), (false, Err(Errno::ENOENT)));
        let mut same = task_in(&task.kernel);
        same.creds = Credentials::new(1000, 1000, vec![]);
        assert_eq!(sees(&root, &same, them), (true, Ok(())));
        // subset=pid: only the pids, self and thread-self.
        set(HidePid::Off, 0, true);
        let listed: Vec<String> = names(&*root)
            .into_iter()
            .filter(|n| parse_num(n.as_bytes()).is_none())
            .collect();
        assert_eq!(listed, vec!["self", "thread-self"]);
        assert_eq!(root.lookup(&task, b"meminfo").err(), Some(Errno::ENOENT));
        assert_eq!(root.lookup(&task, b"sys").err(), Some(Errno::ENOENT));
        assert!(root.lookup(&task, b"self").is_ok());
        assert!(root.lookup(&task, me.to_string().as_bytes()).is_ok());
        assert_eq!(proc.show_options(), ",subset=pid");
    }

    #[test]
    fn files_tools_read() {
        let e = env();
        let t = &e.task;
        let r = &e.proc_root;
        let d = r.lookup(t, t.pid().to_string().as_bytes()).unwrap();
        assert_eq!(text(&d, t, "personality"), "00000000\n");
        t.tg.pm.set_sched(t.tid, |s| s.personality = 0x0040000);
        assert_eq!(text(&d, t, "personality"), "00040000\n");
        let mode = |name: &str| d.lookup(t, name.as_bytes()).unwrap().attr().unwrap().mode & 0o7777;
        assert_eq!(mode("personality"), 0o400);
        assert_eq!(mode("timerslack_ns"), 0o666);
        assert_eq!(text(&d, t, "wchan"), "0");
        assert_eq!(text(&d, t, "sessionid"), "4294967295");
        assert_eq!(text(&d, t, "uid_map"), "         0          0 4294967295\n");
        assert_eq!(text(&d, t, "setgroups"), "allow\n");
        assert_eq!(text(&d, t, "coredump_filter"), "00000033\n");
        assert_eq!(text(&d, t, "schedstat").split_whitespace().count(), 3);
        let score: i64 = text(&d, t, "oom_score").trim().parse().unwrap();
        assert!((0..=2000).contains(&score), "{score}");
        assert_eq!(
            text(&d, t, "mountstats"),
            "device none mounted on / with fstype tmpfs\ndevice proc mounted on /proc with fstype proc\n"
        );
        // Read-time errors: a kernel stack, LSM attributes.
        let stack = d.lookup(t, b"stack").unwrap().open(t, O_RDONLY).unwrap();
        assert_eq!(stack.read(&mut [0; 8], 0), Err(Errno::EACCES));
        let attr = d.lookup(t, b"attr").unwrap();
        assert_eq!(names(&*attr).len(), 6);
        let cur = attr.lookup(t, b"current").unwrap().open(t, O_RDWR).unwrap();
        assert_eq!(cur.read(&mut [0; 8], 0), Err(Errno::EINVAL));
        assert_eq!(cur.write(b"x", 0), Err(Errno::EINVAL));
        // meminfo and vmstat tell the same memory.
        let field = |text: &str, key: &str| -> u64 {
            let l = text.lines().find(|l| l.starts_with(key)).unwrap();
            l[key.len()..]
                .trim()
                .trim_end_matches(" kB")
                .trim()
                .parse()
                .unwrap()
        };
        let mem = text(r, t, "meminfo");
        let vm = text(r, t, "vmstat");
        assert_eq!(field(&mem, "MemFree:"), field(&vm, "nr_free_pages ") * 4);
        assert_eq!(field(&mem, "AnonPages:"), field(&vm, "nr_anon_pages ") * 4);
        assert!(text(r, t, "swaps").starts_with("Filename\t"));
        assert!(text(r, t, "devices").contains("\n136 pts\n\nBlock devices:\n"));
        assert!(text(r, t, "cgroups").contains("\nmemory\t0\t1\t1\n"));
        assert_eq!(
            text(r, t, "sys/kernel/sem"),
            "32000\t1024000000\t500\t32000\n"
        );
        assert_eq!(text(r, t, "sys/kernel/threads-max"), "32768\n");
        assert_eq!(text(r, t, "sys/fs/inotify/max_user_instances"), "128\n");
        let nr = text(r, t, "sys/fs/file-nr");
        assert!(nr.ends_with(&format!("\t0\t{FILE_MAX}\n")), "{nr}");
    }
}
