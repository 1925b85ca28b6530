//! The objects behind POSIX message queues (Linux's `ipc/mqueue.c`): the
//! sandbox's [`MqNamespace`] (names, limits, per-user accounting), each
//! [`MsgQueue`] (messages by priority, attributes, owner and mode, the
//! one notification registration, a wait queue), and [`MqFile`], what a
//! descriptor of a queue holds.
//!
//! A queue is an inode ([`MsgQueue`] implements [`Inode`]): `mq_open`
//! gives descriptors on an internal mount (so `/proc/self/fd` shows
//! `/NAME`), and the `mqueue` filesystem (`veil_fs::mqueue`) shows the same
//! queues at every mount. Reading a descriptor gives Linux's
//! `QSIZE:... NOTIFY:... SIGNO:... NOTIFY_PID:...` line; poll reports
//! `POLLIN` while a message waits and `POLLOUT` while there is room.
//!
//! Nothing here sleeps: sending to a full queue or receiving from an empty
//! one answers `EAGAIN` and the syscall layer ([`super`]) waits on the
//! queue's [`WaitQueue`].
//!
//! Notification: Linux drops a registration when its owner closes any
//! descriptor of the queue; here it goes when the description it was made
//! through is released, or when the owner has exited or exec'd.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;
use veil_abi::flags::*;
use veil_abi::{Errno, Siginfo, Timespec};

use crate::task::{Pid, ThreadGroup};
use crate::vfs::mount::Mount;
use crate::vfs::node::{FileOps, Inode, InodeAttr, PollMask, SetAttr};
use crate::vfs::waitq::WaitQueue;
use crate::vfs::{Dentry, Location};

/// Linux's `MQ_PRIO_MAX`.
pub const MQ_PRIO_MAX: u32 = 32768;
/// Linux's `HARD_MSGMAX`.
pub const HARD_MSGMAX: u32 = 65536;
/// Linux's `HARD_MSGSIZEMAX`.
pub const HARD_MSGSIZEMAX: u32 = 16 * 1024 * 1024;
/// Linux's `MIN_MSGMAX` and `MIN_MSGSIZEMAX` (the sysctls' floors).
pub const MIN_MSGMAX: u32 = 1;
/// See [`MIN_MSGMAX`].
pub const MIN_MSGSIZEMAX: u32 = 128;
/// `st_dev` of the mqueue filesystem.
pub const MQUEUE_DEV: u64 = veil_abi::makedev(0, 0x13);
/// Linux's `MQUEUE_MAGIC` (statfs).
pub const MQUEUE_MAGIC: i64 = 0x1980_0202;
/// The size stat reports for a queue (Linux's `FILENT_SIZE`).
pub const FILENT_SIZE: u64 = 80;
/// Inode number of the filesystem's root.
pub const ROOT_INO: u64 = 1;

/// `sizeof(struct msg_msg)` and `sizeof(struct posix_msg_tree_node)` on
/// x86-64, which Linux charges per possible message to RLIMIT_MSGQUEUE.
const MSG_MSG_SIZE: u64 = 48;
const TREE_NODE_SIZE: u64 = 48;

/// The `fs.mqueue` sysctls of a namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MqLimits {
    /// `queues_max`: queues the namespace may hold (root exempt).
    pub queues_max: u32,
    /// `msg_max`: largest `mq_maxmsg` for the unprivileged.
    pub msg_max: u32,
    /// `msgsize_max`: largest `mq_msgsize` for the unprivileged.
    pub msgsize_max: u32,
    /// `msg_default`: `mq_maxmsg` of a queue made without attributes.
    pub msg_default: u32,
    /// `msgsize_default`: `mq_msgsize` of a queue made without attributes.
    pub msgsize_default: u32,
}

impl Default for MqLimits {
    fn default() -> Self {
        MqLimits {
            queues_max: 256,
            msg_max: 10,
            msgsize_max: 8192,
            msg_default: 10,
            msgsize_default: 8192,
        }
    }
}

/// Which `fs.mqueue` sysctl.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MqSysctl {
    /// `queues_max`.
    QueuesMax,
    /// `msg_max`.
    MsgMax,
    /// `msgsize_max`.
    MsgsizeMax,
    /// `msg_default`.
    MsgDefault,
    /// `msgsize_default`.
    MsgsizeDefault,
}

impl MqSysctl {
    /// Every sysctl with its file name.
    pub const ALL: [(&'static str, MqSysctl); 5] = [
        ("msg_default", MqSysctl::MsgDefault),
        ("msg_max", MqSysctl::MsgMax),
        ("msgsize_default", MqSysctl::MsgsizeDefault),
        ("msgsize_max", MqSysctl::MsgsizeMax),
        ("queues_max", MqSysctl::QueuesMax),
    ];

    fn slot(self, l: &mut MqLimits) -> &mut u32 {
        match self {
            MqSysctl::QueuesMax => &mut l.queues_max,
            MqSysctl::MsgMax => &mut l.msg_max,
            MqSysctl::MsgsizeMax => &mut l.msgsize_max,
            MqSysctl::MsgDefault => &mut l.msg_default,
            MqSysctl::MsgsizeDefault => &mut l.msgsize_default,
        }
    }

    /// The accepted range (Linux's `proc_dointvec_minmax` bounds;
    /// `queues_max` is any non-negative int).
    fn range(self) -> (u32, u32) {
        match self {
            MqSysctl::QueuesMax => (0, i32::MAX as u32),
            MqSysctl::MsgMax | MqSysctl::MsgDefault => (MIN_MSGMAX, HARD_MSGMAX),
            MqSysctl::MsgsizeMax | MqSysctl::MsgsizeDefault => (MIN_MSGSIZEMAX, HARD_MSGSIZEMAX),
        }
    }
}

/// `struct mq_attr`'s four fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MqAttr {
    /// `mq_flags` (only `O_NONBLOCK`).
    pub flags: i64,
    /// `mq_maxmsg`.
    pub maxmsg: i64,
    /// `mq_msgsize`.
    pub msgsize: i64,
    /// `mq_curmsgs`.
    pub curmsgs: i64,
}

impl MqAttr {
    /// From the 64 bytes of a user `struct mq_attr`.
    pub fn from_words(w: &[i64; 8]) -> MqAttr {
        MqAttr {
            flags: w[0],
            maxmsg: w[1],
            msgsize: w[2],
            curmsgs: w[3],
        }
    }
    /// As the 64 bytes of a user `struct mq_attr` (reserved words zero).
    pub fn to_words(self) -> [i64; 8] {
        [
            self.flags,
            self.maxmsg,
            self.msgsize,
            self.curmsgs,
            0,
            0,
            0,
            0,
        ]
    }
}

/// Per-uid bytes charged to RLIMIT_MSGQUEUE (Linux's ucounts).
#[derive(Default)]
struct Charges(Mutex<BTreeMap<u32, u64>>);

impl Charges {
    fn charge(&self, uid: u32, bytes: u64, limit: u64) -> Result<(), Errno> {
        let mut m = self.0.lock();
        let cur = m.get(&uid).copied().unwrap_or(0);
        match cur.checked_add(bytes) {
            Some(n) if n <= limit && n < i64::MAX as u64 => {
                m.insert(uid, n);
                Ok(())
            }
            _ => Err(Errno::EMFILE),
        }
    }

    fn uncharge(&self, uid: u32, bytes: u64) {
        let mut m = self.0.lock();
        if let Some(v) = m.get_mut(&uid) {
            *v = v.saturating_sub(bytes);
            if *v == 0 {
                m.remove(&uid);
            }
        }
    }
}

/// The sandbox's message-queue namespace: the queues by name, the
/// sysctls, and the per-user accounting. Linux has one per IPC namespace;
/// veil has one per sandbox.
pub struct MqNamespace {
    queues: Mutex<BTreeMap<Vec<u8>, Arc<MsgQueue>>>,
    limits: Mutex<MqLimits>,
    charges: Arc<Charges>,
    /// Root directory times (changed by every create and unlink).
    root_times: Mutex<Timespec>,
    next_ino: AtomicU64,
}

impl Default for MqNamespace {
    fn default() -> Self {
        MqNamespace::new()
    }
}

/// Who creates a queue and how.
pub struct Create {
    /// The creator's real uid (charged for the queue).
    pub uid: u32,
    /// The creator's fs uid and gid (the owner).
    pub owner: (u32, u32),
    /// The creator has CAP_SYS_RESOURCE.
    pub privileged: bool,
    /// Permission bits (umask applied).
    pub mode: u32,
    /// `mq_maxmsg` and `mq_msgsize`, or `None` for the defaults.
    pub attr: Option<(i64, i64)>,
    /// The creator's RLIMIT_MSGQUEUE.
    pub rlimit: u64,
    /// Now, for the times.
    pub now: Timespec,
}

impl MqNamespace {
    /// An empty namespace with Linux's default limits.
    pub fn new() -> MqNamespace {
        MqNamespace {
            queues: Mutex::new(BTreeMap::new()),
            limits: Mutex::new(MqLimits::default()),
            charges: Arc::new(Charges::default()),
            root_times: Mutex::new(Timespec::default()),
            next_ino: AtomicU64::new(ROOT_INO + 1),
        }
    }

    /// The sysctls.
    pub fn limits(&self) -> MqLimits {
        *self.limits.lock()
    }

    /// Writes sysctl `which` (the caller checked the writer may): `EINVAL`
    /// out of its range.
    pub fn set_limit(&self, which: MqSysctl, value: i64) -> Result<(), Errno> {
        let (lo, hi) = which.range();
        if value < lo as i64 || value > hi as i64 {
            return Err(Errno::EINVAL);
        }
        *which.slot(&mut self.limits.lock()) = value as u32;
        Ok(())
    }

    /// The queue named `name`, if any.
    pub fn lookup(&self, name: &[u8]) -> Option<Arc<MsgQueue>> {
        self.queues.lock().get(name).cloned()
    }

    /// The names and inode numbers of every queue, in name order.
    pub fn list(&self) -> Vec<(Vec<u8>, u64)> {
        self.queues
            .lock()
            .iter()
            .map(|(n, q)| (n.clone(), q.ino))
            .collect()
    }

    /// The root directory's modification time.
    pub fn root_time(&self) -> Timespec {
        *self.root_times.lock()
    }

    /// Makes queue `name` (Linux's `mqueue_create_attr`): `EEXIST` if the
    /// name is taken, `ENOSPC` past `queues_max` (unless CAP_SYS_RESOURCE),
    /// `EINVAL` for attributes out of range, `EOVERFLOW`, `EMFILE` past
    /// the creator's RLIMIT_MSGQUEUE.
    pub fn create(&self, name: &[u8], c: Create) -> Result<Arc<MsgQueue>, Errno> {
        if name.len() > 255 {
            return Err(Errno::ENAMETOOLONG);
        }
        let mut queues = self.queues.lock();
        if queues.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let limits = self.limits();
        let privileged = c.privileged;
        if queues.len() as u64 >= limits.queues_max as u64 && !privileged {
            return Err(Errno::ENOSPC);
        }
        let (maxmsg, msgsize) = c
            .attr
            .unwrap_or((limits.msg_default as i64, limits.msgsize_default as i64));
        if maxmsg <= 0 || msgsize <= 0 {
            return Err(Errno::EINVAL);
        }
        let (max_n, max_size) = if privileged {
            (HARD_MSGMAX, HARD_MSGSIZEMAX)
        } else {
            (limits.msg_max, limits.msgsize_max)
        };
        if maxmsg > max_n as i64 || msgsize > max_size as i64 {
            return Err(Errno::EINVAL);
        }
        let (maxmsg, msgsize) = (maxmsg as u64, msgsize as u64);
        let tree = maxmsg * MSG_MSG_SIZE + maxmsg.min(MQ_PRIO_MAX as u64) * TREE_NODE_SIZE;
        let bytes = (maxmsg * msgsize)
            .checked_add(tree)
            .ok_or(Errno::EOVERFLOW)?;
        let uid = c.uid;
        self.charges.charge(uid, bytes, c.rlimit)?;
        let q = Arc::new_cyclic(|this| MsgQueue {
            this: this.clone(),
            ino: self.next_ino.fetch_add(1, Ordering::Relaxed),
            maxmsg: maxmsg as i64,
            msgsize: msgsize as i64,
            charge: (uid, bytes),
            charges: Arc::downgrade(&self.charges),
            waitq: WaitQueue::new(),
            state: Mutex::new(QState {
                msgs: BTreeMap::new(),
                count: 0,
                qsize: 0,
                notify: None,
                receivers: 0,
                mode: c.mode & 0o7777,
                uid: c.owner.0,
                gid: c.owner.1,
                atime: c.now,
                mtime: c.now,
                ctime: c.now,
                linked: true,
            }),
        });
        queues.insert(name.to_vec(), q.clone());
        *self.root_times.lock() = c.now;
        Ok(q)
    }

    /// Removes the name `name` (the queue lives on while open).
    pub fn unlink(&self, name: &[u8], now: Timespec) -> Result<(), Errno> {
        let q = self.queues.lock().remove(name).ok_or(Errno::ENOENT)?;
        {
            let mut st = q.state.lock();
            st.linked = false;
            st.ctime = now;
        }
        *self.root_times.lock() = now;
        Ok(())
    }
}

/// A notification registration (mq_notify).
struct Notify {
    /// `SIGEV_SIGNAL`, `SIGEV_NONE` or `SIGEV_THREAD`.
    kind: i32,
    signo: i32,
    value: u64,
    owner: Weak<ThreadGroup>,
    pid: Pid,
    /// Whether the owner had exec'd when it registered (a later exec
    /// makes the registration void, as Linux's `self_exec_id`).
    exec_seen: bool,
    /// The description it was made through ([`MqFile::id`]).
    via: u64,
}

struct QState {
    /// Messages by priority, oldest first within one.
    msgs: BTreeMap<u32, VecDeque<Vec<u8>>>,
    count: i64,
    /// Bytes of message text queued.
    qsize: u64,
    notify: Option<Notify>,
    /// Receivers sleeping for a message (a message sent to them is not
    /// "arriving in an empty queue" for notification).
    receivers: u32,
    mode: u32,
    uid: u32,
    gid: u32,
    atime: Timespec,
    mtime: Timespec,
    ctime: Timespec,
    linked: bool,
}

impl QState {
    /// The registration, unless its owner is gone or has exec'd since.
    fn live_notify(&mut self) -> Option<&Notify> {
        let alive = self.notify.as_ref().is_some_and(|n| {
            n.owner.upgrade().is_some_and(|tg| {
                !tg.dead.load(Ordering::Acquire)
                    && tg.pm.did_exec.load(Ordering::Relaxed) == n.exec_seen
            })
        });
        if !alive {
            self.notify = None;
        }
        self.notify.as_ref()
    }
}

/// What a message that arrived in an empty queue makes happen.
pub struct Notification {
    /// The process to signal and the siginfo to send (`None`: nothing to
    /// send, the registration is simply consumed).
    pub signal: Option<(Arc<ThreadGroup>, Siginfo)>,
}

/// The sender of a message, for the notification's siginfo.
pub struct Sender {
    /// Its process id.
    pub pid: Pid,
    /// Its real uid.
    pub uid: u32,
}

/// One message queue.
pub struct MsgQueue {
    this: Weak<MsgQueue>,
    ino: u64,
    maxmsg: i64,
    msgsize: i64,
    charge: (u32, u64),
    charges: Weak<Charges>,
    waitq: WaitQueue,
    state: Mutex<QState>,
}

impl Drop for MsgQueue {
    fn drop(&mut self) {
        if let Some(c) = self.charges.upgrade() {
            c.uncharge(self.charge.0, self.charge.1);
        }
    }
}

impl MsgQueue {
    /// `mq_maxmsg`, `mq_msgsize` and `mq_curmsgs` (flags 0).
    pub fn attr(&self) -> MqAttr {
        MqAttr {
            flags: 0,
            maxmsg: self.maxmsg,
            msgsize: self.msgsize,
            curmsgs: self.state.lock().count,
        }
    }

    /// The largest message.
    pub fn msgsize(&self) -> i64 {
        self.msgsize
    }

    /// The inode number.
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// The queue's wait queue.
    pub fn wait_queue(&self) -> &WaitQueue {
        &self.waitq
    }

    /// Adds `msg` at `prio` (the caller checked its size), taking it:
    /// `EAGAIN` when full (`msg` is left alone). A message arriving in an empty queue with no receiver waiting
    /// consumes the registration; the caller sends the signal.
    pub fn send(
        &self,
        msg: &mut Vec<u8>,
        prio: u32,
        from: &Sender,
        now: Timespec,
    ) -> Result<Option<Notification>, Errno> {
        let note = {
            let mut st = self.state.lock();
            if st.count >= self.maxmsg {
                return Err(Errno::EAGAIN);
            }
            let msg = core::mem::take(msg);
            st.qsize += msg.len() as u64;
            st.msgs.entry(prio).or_default().push_back(msg);
            st.count += 1;
            st.atime = now;
            st.mtime = now;
            st.ctime = now;
            if st.count == 1 && st.receivers == 0 {
                st.live_notify();
                st.notify.take().map(|n| Notification {
                    signal: (n.kind == SIGEV_SIGNAL && n.signo != 0)
                        .then(|| n.owner.upgrade())
                        .flatten()
                        .map(|tg| {
                            let mut info = Siginfo {
                                signo: n.signo,
                                code: SI_MESGQ,
                                ..Default::default()
                            };
                            info.fields[0] = from.pid as u32 as u64 | ((from.uid as u64) << 32);
                            info.fields[1] = n.value;
                            (tg, info)
                        }),
                })
            } else {
                None
            }
        };
        self.waitq.notify();
        Ok(note)
    }

    /// Takes the oldest message of the highest priority: `EAGAIN` when
    /// empty.
    pub fn receive(&self, now: Timespec) -> Result<(Vec<u8>, u32), Errno> {
        let got = {
            let mut st = self.state.lock();
            let Some(mut e) = st.msgs.last_entry() else {
                return Err(Errno::EAGAIN);
            };
            let prio = *e.key();
            let msg = e.get_mut().pop_front().unwrap_or_default();
            if e.get().is_empty() {
                e.remove();
            }
            st.count -= 1;
            st.qsize -= msg.len() as u64;
            st.atime = now;
            st.mtime = now;
            st.ctime = now;
            (msg, prio)
        };
        self.waitq.notify();
        Ok(got)
    }

    /// Counts a receiver going to sleep (`true`) or waking (`false`).
    pub fn receiver_waits(&self, on: bool) {
        let mut st = self.state.lock();
        if on {
            st.receivers += 1;
        } else {
            st.receivers = st.receivers.saturating_sub(1);
        }
    }

    /// mq_notify with a registration: `EBUSY` if one is live.
    pub fn register(
        &self,
        kind: i32,
        signo: i32,
        value: u64,
        owner: &Arc<ThreadGroup>,
        via: u64,
        now: Timespec,
    ) -> Result<(), Errno> {
        let mut st = self.state.lock();
        if st.live_notify().is_some() {
            return Err(Errno::EBUSY);
        }
        st.notify = Some(Notify {
            kind,
            signo,
            value,
            owner: Arc::downgrade(owner),
            pid: owner.pid,
            exec_seen: owner.pm.did_exec.load(Ordering::Relaxed),
            via,
        });
        st.atime = now;
        st.ctime = now;
        Ok(())
    }

    /// mq_notify(NULL): removes the registration if `owner` made it.
    pub fn unregister(&self, owner: &Arc<ThreadGroup>, now: Timespec) {
        let mut st = self.state.lock();
        let mine = st
            .live_notify()
            .is_some_and(|n| n.owner.as_ptr() == Arc::as_ptr(owner));
        if mine {
            st.notify = None;
            st.atime = now;
            st.ctime = now;
        }
    }

    /// The line a read shows, with the owner's pid as `pid_of` maps it.
    pub fn status_line(&self) -> Vec<u8> {
        let mut st = self.state.lock();
        let qsize = st.qsize;
        let (kind, signo, pid) = match st.live_notify() {
            Some(n) => (
                n.kind,
                if n.kind == SIGEV_SIGNAL { n.signo } else { 0 },
                n.pid,
            ),
            None => (0, 0, 0),
        };
        format!("QSIZE:{qsize:<10} NOTIFY:{kind:<5} SIGNO:{signo:<5} NOTIFY_PID:{pid:<6}\n")
            .into_bytes()
    }

    /// A place for a descriptor of this queue named `name` (what
    /// `/proc/self/fd` shows: `/NAME`).
    pub fn location(self: &Arc<Self>, name: &[u8]) -> Location {
        let mount = internal_mount();
        let dentry = Dentry::new_child(&mount.root, name, self.clone());
        Location { mount, dentry }
    }

    /// A new description's object.
    pub fn open_file(self: &Arc<Self>) -> Arc<MqFile> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Arc::new(MqFile {
            queue: self.clone(),
            id: NEXT.fetch_add(1, Ordering::Relaxed),
        })
    }
}

impl Inode for MsgQueue {
    fn attr(&self) -> Result<InodeAttr, Errno> {
        let st = self.state.lock();
        Ok(InodeAttr {
            dev: MQUEUE_DEV,
            ino: self.ino,
            mode: S_IFREG | st.mode,
            nlink: st.linked as u64,
            uid: st.uid,
            gid: st.gid,
            rdev: 0,
            size: FILENT_SIZE,
            blksize: 4096,
            blocks: 0,
            atime: st.atime,
            mtime: st.mtime,
            ctime: st.ctime,
            btime: None,
        })
    }

    fn set_attr(&self, set: &SetAttr) -> Result<(), Errno> {
        let mut st = self.state.lock();
        if let Some(m) = set.mode {
            st.mode = m & 0o7777;
        }
        if let Some(u) = set.uid {
            st.uid = u;
        }
        if let Some(g) = set.gid {
            st.gid = g;
        }
        if let Some(t) = set.atime {
            st.atime = t;
        }
        if let Some(t) = set.mtime {
            st.mtime = t;
        }
        if let Some(t) = set.ctime {
            st.ctime = t;
        }
        Ok(())
    }

    fn open(&self, _cx: &crate::task::Task, _flags: u32) -> Result<Arc<dyn FileOps>, Errno> {
        let me = self.this.upgrade().ok_or(Errno::ENOENT)?;
        Ok(me.open_file())
    }

    fn statfs(&self) -> Result<veil_abi::Statfs, Errno> {
        Ok(statfs())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// What statfs reports for the mqueue filesystem.
pub fn statfs() -> veil_abi::Statfs {
    veil_abi::Statfs {
        f_type: MQUEUE_MAGIC,
        f_bsize: 4096,
        f_namelen: 255,
        f_frsize: 4096,
        ..Default::default()
    }
}

/// An open description of a queue.
pub struct MqFile {
    /// The queue.
    pub queue: Arc<MsgQueue>,
    /// This description's identity (for its notification registration).
    pub id: u64,
}

impl FileOps for MqFile {
    fn read(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        let line = self.queue.status_line();
        let off = (offset as usize).min(line.len());
        let n = buf.len().min(line.len() - off);
        buf[..n].copy_from_slice(&line[off..off + n]);
        Ok(n)
    }

    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn size(&self) -> Result<u64, Errno> {
        Ok(FILENT_SIZE)
    }

    fn poll(&self) -> PollMask {
        let st = self.queue.state.lock();
        let mut m = 0;
        if st.count > 0 {
            m |= POLLIN | POLLRDNORM;
        }
        if st.count < self.queue.maxmsg {
            m |= POLLOUT | POLLWRNORM;
        }
        m
    }

    fn has_poll(&self) -> Option<bool> {
        Some(true)
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.queue.waitq)
    }

    fn release(&self) {
        let mut st = self.queue.state.lock();
        if st.notify.as_ref().is_some_and(|n| n.via == self.id) {
            st.notify = None;
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The root of the internal mount `mq_open` descriptors live on (no path
/// reaches it).
struct MqRoot;

impl Inode for MqRoot {
    fn attr(&self) -> Result<InodeAttr, Errno> {
        Ok(InodeAttr {
            dev: MQUEUE_DEV,
            ino: ROOT_INO,
            mode: S_IFDIR | 0o1777,
            nlink: 2,
            ..Default::default()
        })
    }
    fn statfs(&self) -> Result<veil_abi::Statfs, Errno> {
        Ok(statfs())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn internal_mount() -> Arc<Mount> {
    static MOUNT: spin::Once<Arc<Mount>> = spin::Once::new();
    MOUNT
        .call_once(|| Mount::internal(Dentry::new_root(Arc::new(MqRoot)), "mqueue", "mqueue"))
        .clone()
}
