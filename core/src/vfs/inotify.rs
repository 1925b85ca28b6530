//! inotify: watches on inodes and the event queues of inotify instances,
//! as Linux's `fs/notify/inotify` with the fsnotify hooks of the VFS.
//!
//! A watch (Linux's mark) belongs to one instance and names an inode by
//! its `(st_dev, st_ino)` ([`InodeKey`]), so it sees what is done to the
//! inode through any path, mount or process of the sandbox (the overlay
//! keeps inode numbers across copy-up). The sandbox's watches live in one
//! [`Registry`] (on the kernel); the VFS calls its hooks where Linux calls
//! fsnotify, and each hook returns at once while no watch exists.
//!
//! Events follow Linux 6.x:
//! - File events (`IN_OPEN`, `IN_ACCESS`, `IN_MODIFY`, `IN_ATTRIB`,
//!   `IN_CLOSE_*`) go to the parent directory's watches with the name,
//!   then to the inode's own watches without it (`fsnotify_parent`). A
//!   directory's events carry `IN_ISDIR`, except `IN_DELETE_SELF` and
//!   `IN_MOVE_SELF`, from which inotify strips it.
//! - Reads and writes that move no byte make no event; `getdents` always
//!   makes `IN_ACCESS`; `IN_OPEN` of an `O_TRUNC` open comes before the
//!   truncation's `IN_MODIFY`; `O_PATH` opens make none. Attribute changes
//!   map as `fsnotify_change` does: owner, group or mode → `IN_ATTRIB`,
//!   size → `IN_MODIFY`, both times → `IN_ATTRIB`, only the access time →
//!   `IN_ACCESS`, only the modification time → `IN_MODIFY`.
//! - unlink: `IN_ATTRIB` on the inode (its link count changed), then, if
//!   that was its last name and nothing holds the name any more,
//!   `IN_DELETE_SELF` and `IN_IGNORED` (the watch dies), then `IN_DELETE`
//!   in the directory. If an open file (or a working directory) still
//!   holds the name, `IN_DELETE_SELF` waits for the last close, as Linux's
//!   waits for the last `dput` (a working directory let go is noticed at
//!   the next close, read of an inotify descriptor or watch change, since
//!   nothing calls in when a task's cwd moves or the task ends). rmdir is
//!   the same without `IN_ATTRIB`.
//! - rename: `IN_MOVED_FROM` and `IN_MOVED_TO` with one cookie, then
//!   `IN_ATTRIB` on a replaced target, `IN_MOVE_SELF` on the moved inode,
//!   then the replaced target's death; `RENAME_EXCHANGE` is two moves.
//! - link: `IN_ATTRIB` on the inode, `IN_CREATE` in the directory.
//! - An event equal to the last one queued (watch, mask, name) is dropped
//!   (`inotify_merge`; `IN_IGNORED` never merges). A queue holding
//!   [`MAX_QUEUED_EVENTS`] events takes one `IN_Q_OVERFLOW` (wd -1) and
//!   drops the rest until read.
//! - A read returns whole events, each a 16-byte header and the name
//!   NUL-padded to a multiple of 16 bytes (`len`); a buffer too small for
//!   the first is `EINVAL`. Events are removed as they are read, so a
//!   read whose copy-out faults loses them, as on Linux.
//! - Watch descriptors are allocated cyclically from 1 (not reused until
//!   the numbers wrap), as `idr_alloc_cyclic`; `INOTIFY_IOC_SETNEXTWD`
//!   moves the cursor.
//!
//! Limits: [`MAX_USER_INSTANCES`] instances (`EMFILE`) and
//! [`MAX_USER_WATCHES`] watches (`ENOSPC`) per user, counted per sandbox.
//!
//! dnotify (`fcntl(F_NOTIFY)`, [`dnotify`]) keeps its marks in the same
//! tables: a mark on a directory for one description and fd table, whose
//! events (`DN_*` mapped to the inotify bits Linux maps them to) signal the
//! description's owner ([`super::fasync`], `POLL_MSG` with the fd) instead
//! of queueing; without `DN_MULTISHOT` the mark goes after its first
//! signal. Linux drops a process's marks when it closes the fd; here they
//! go when the description is closed everywhere or F_NOTIFY(0) removes
//! them.
//!
//! - When a filesystem's last mount goes (an unmount, one propagated from
//!   a peer, or the last file of a lazily detached mount closed), each
//!   watch on one of its inodes gets `IN_UNMOUNT` then `IN_IGNORED`
//!   ([`Registry::unmounted`], called when the mount layer drops the
//!   filesystem's [`super::mount::Super`]).
//!
//! Left out: events for files opened by execve or through
//! /proc/<pid>/fd of another kind of file, `readv` of an inotify
//! descriptor segment by segment (it reads into one buffer), lseek on one
//! (`ESPIPE`; Linux's `noop_llseek` answers 0), and the `inotify` lines
//! of /proc/<pid>/fdinfo.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use spin::{Mutex, MutexGuard};
use veil_abi::flags::*;
use veil_abi::{Errno, InotifyEvent};
use zerocopy::IntoBytes;

use super::dir::DirFile;
use super::lock::InodeKey;
use super::node::{FileOps, FileType, InodeAttr, PollMask, SetAttr};
use super::waitq::WaitQueue;
use super::{Dentry, Location, OpenFile};
use crate::task::Task;

/// `/proc/sys/fs/inotify/max_queued_events`.
pub const MAX_QUEUED_EVENTS: usize = 16384;
/// `/proc/sys/fs/inotify/max_user_instances`.
pub const MAX_USER_INSTANCES: u32 = 128;
/// `/proc/sys/fs/inotify/max_user_watches` (Linux sizes it from memory,
/// between 8192 and 1048576).
pub const MAX_USER_WATCHES: u32 = 131072;

/// Every bit inotify_add_watch accepts (`ALL_INOTIFY_BITS`).
pub const VALID_WATCH_BITS: u32 = IN_ALL_EVENTS
    | IN_UNMOUNT
    | IN_Q_OVERFLOW
    | IN_IGNORED
    | IN_ONLYDIR
    | IN_DONT_FOLLOW
    | IN_EXCL_UNLINK
    | IN_MASK_ADD
    | IN_MASK_CREATE
    | IN_ISDIR
    | IN_ONESHOT;

/// The size of `struct inotify_event`.
const HEADER: usize = core::mem::size_of::<InotifyEvent>();

/// One queued event.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Event {
    wd: i32,
    mask: u32,
    cookie: u32,
    name: Vec<u8>,
}

impl Event {
    /// The `len` field: the name, a NUL, padding to 16 bytes.
    fn name_len(&self) -> usize {
        if self.name.is_empty() {
            0
        } else {
            (self.name.len() + 1).next_multiple_of(HEADER)
        }
    }

    /// Bytes a read returns for it.
    fn size(&self) -> usize {
        HEADER + self.name_len()
    }

    /// Appends the event as a read returns it.
    fn encode(&self, out: &mut Vec<u8>) {
        let len = self.name_len();
        let hdr = InotifyEvent {
            wd: self.wd,
            mask: self.mask,
            cookie: self.cookie,
            len: len as u32,
        };
        out.extend_from_slice(hdr.as_bytes());
        out.extend_from_slice(&self.name);
        out.resize(out.len() + len - self.name.len(), 0);
    }

    /// `inotify_merge`: an event equal to the last one queued is dropped
    /// (the cookie is not compared; `IN_IGNORED` never merges).
    fn merges_into(&self, last: &Event) -> bool {
        last.mask & IN_IGNORED == 0
            && last.mask == self.mask
            && last.wd == self.wd
            && last.name == self.name
    }
}

/// An instance's queue and watch descriptors.
struct Queue {
    events: VecDeque<Event>,
    /// The `IN_Q_OVERFLOW` event is queued.
    overflowed: bool,
    /// Where the next watch descriptor search starts (the idr cursor).
    next_wd: u32,
    /// This instance's watches.
    wds: BTreeMap<i32, InodeKey>,
}

impl Queue {
    /// Queues `ev` as `fsnotify_add_event` does. True if the queue changed.
    fn push(&mut self, ev: Event) -> bool {
        if self.events.len() >= MAX_QUEUED_EVENTS {
            if self.overflowed {
                return false;
            }
            self.overflowed = true;
            self.events.push_back(Event {
                wd: -1,
                mask: IN_Q_OVERFLOW,
                cookie: 0,
                name: Vec::new(),
            });
            return true;
        }
        if self.events.back().is_some_and(|last| ev.merges_into(last)) {
            return false;
        }
        self.events.push_back(ev);
        true
    }

    /// Takes whole events fitting in `room` bytes. `EINVAL` if the first
    /// does not fit, `EAGAIN` if there is none.
    fn take(&mut self, room: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        while let Some(ev) = self.events.front() {
            if ev.size() > room - out.len() {
                if out.is_empty() {
                    return Err(Errno::EINVAL);
                }
                break;
            }
            ev.encode(&mut out);
            if ev.wd == -1 && ev.mask == IN_Q_OVERFLOW {
                self.overflowed = false;
            }
            self.events.pop_front();
        }
        if out.is_empty() {
            return Err(Errno::EAGAIN);
        }
        Ok(out)
    }

    /// A free watch descriptor from the cursor on, wrapping to 1, as
    /// `idr_alloc_cyclic(idr, ptr, 1, 0)`.
    fn alloc_wd(&mut self) -> Result<i32, Errno> {
        let start = if self.next_wd == 0 || self.next_wd > i32::MAX as u32 {
            1
        } else {
            self.next_wd as i32
        };
        let free_from = |from: i32, to: i32| -> Option<i32> {
            let mut want = from;
            for (&wd, _) in self.wds.range(from..=to) {
                if wd != want {
                    return Some(want);
                }
                if want == to {
                    return None;
                }
                want += 1;
            }
            Some(want)
        };
        let wd = free_from(start, i32::MAX)
            .or_else(|| {
                if start > 1 {
                    free_from(1, start - 1)
                } else {
                    None
                }
            })
            .ok_or(Errno::ENOSPC)?;
        self.next_wd = wd as u32 + 1;
        Ok(wd)
    }
}

/// An inotify instance: the object behind an inotify descriptor.
pub struct Inotify {
    this: Weak<Inotify>,
    registry: Arc<Registry>,
    id: u64,
    /// The user charged for the instance and its watches.
    uid: u32,
    queue: Mutex<Queue>,
    wait: WaitQueue,
}

impl Inotify {
    /// A new instance for `task`'s effective user; `EMFILE` past
    /// [`MAX_USER_INSTANCES`].
    pub fn new(task: &Task) -> Result<Arc<Inotify>, Errno> {
        let registry = task.kernel.inotify.clone();
        let uid = task.creds.euid;
        {
            let mut st = registry.state.lock();
            let n = st.instances.entry(uid).or_insert(0);
            if *n >= MAX_USER_INSTANCES {
                return Err(Errno::EMFILE);
            }
            *n += 1;
        }
        let id = registry.next_id.fetch_add(1, Ordering::Relaxed);
        Ok(Arc::new_cyclic(|this| Inotify {
            this: this.clone(),
            registry,
            id,
            uid,
            queue: Mutex::new(Queue {
                events: VecDeque::new(),
                overflowed: false,
                next_wd: 1,
                wds: BTreeMap::new(),
            }),
            wait: WaitQueue::new(),
        }))
    }

    /// inotify_add_watch on the inode with attributes `attr`, with `mask`
    /// (checked by the caller): the watch descriptor, new or that of
    /// this instance's watch on the inode, whose mask it replaces or (with
    /// `IN_MASK_ADD`) extends. `EEXIST` with `IN_MASK_CREATE` if there is
    /// one already; `ENOSPC` past [`MAX_USER_WATCHES`].
    pub fn add_watch(&self, attr: &InodeAttr, mask: u32) -> Result<i32, Errno> {
        let key = key_of(attr);
        let reg = &self.registry;
        let mut d = reg.begin();
        d.sweep();
        let r = d.add_watch(self, key, is_dir(attr), mask);
        d.finish();
        r
    }

    /// inotify_rm_watch: removes watch `wd` and queues `IN_IGNORED`;
    /// `EINVAL` if this instance has no such watch.
    pub fn rm_watch(&self, wd: i32) -> Result<(), Errno> {
        let mut d = self.registry.begin();
        d.sweep();
        let key = self.queue.lock().wds.get(&wd).copied();
        let r = match key {
            Some(key) => {
                d.remove_mark(key, self.id);
                Ok(())
            }
            None => Err(Errno::EINVAL),
        };
        d.finish();
        r
    }

    /// Bytes a read could return now (FIONREAD).
    pub fn pending_bytes(&self) -> usize {
        self.queue.lock().events.iter().map(Event::size).sum()
    }
}

impl FileOps for Inotify {
    fn read(&self, buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        if self.registry.unlinked_len.load(Ordering::Acquire) > 0 {
            let mut d = self.registry.begin();
            d.sweep();
            d.finish();
        }
        let data = self.queue.lock().take(buf.len())?;
        buf[..data.len()].copy_from_slice(&data);
        Ok(data.len())
    }

    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self) -> PollMask {
        if self.queue.lock().events.is_empty() {
            0
        } else {
            POLLIN | POLLRDNORM
        }
    }

    fn ioctl(&self, task: &mut Task, cmd: u32, arg: u64) -> Result<u64, Errno> {
        match cmd {
            FIONREAD => {
                let n = self.pending_bytes() as i32;
                task.mm.write_obj(crate::UserAddr(arg), &n)?;
                Ok(0)
            }
            INOTIFY_IOC_SETNEXTWD => {
                if arg == 0 || arg > i32::MAX as u64 {
                    return Err(Errno::EINVAL);
                }
                self.queue.lock().next_wd = arg as u32;
                Ok(0)
            }
            _ => Err(Errno::ENOTTY),
        }
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.wait)
    }

    fn release(&self) {
        let mut d = self.registry.begin();
        let keys: Vec<InodeKey> = self.queue.lock().wds.values().copied().collect();
        for key in keys {
            d.drop_mark(key, self.id);
        }
        if let Some(n) = d.st.instances.get_mut(&self.uid) {
            *n = n.saturating_sub(1);
        }
        d.finish();
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// One watch.
struct Mark {
    /// The instance (dead for a dnotify mark).
    group: Weak<Inotify>,
    /// For a dnotify mark: whom to signal.
    dnotify: Option<DnSink>,
    /// The instance's id.
    gid: u64,
    wd: i32,
    /// Event bits asked for.
    mask: u32,
    excl_unlink: bool,
    oneshot: bool,
    /// The inode is a directory (its `IN_UNMOUNT` carries `IN_ISDIR`).
    dir: bool,
}

/// Where a dnotify mark's signals go.
#[derive(Clone)]
struct DnSink {
    /// The directory's description (its owner gets the signal).
    file: Weak<OpenFile>,
    /// The fd table that asked (by address), and the fd it used.
    files: usize,
    fd: i32,
    kernel: Weak<crate::kernel::Kernel>,
    multishot: bool,
}

/// A name removed while something still held its dentry.
struct Unlinked {
    dentry: Weak<Dentry>,
    key: InodeKey,
    /// It was the inode's last name: its watches die with the dentry.
    gone: bool,
}

#[derive(Default)]
struct State {
    by_inode: BTreeMap<InodeKey, Vec<Mark>>,
    /// By the dentry's address (the weak reference keeps the address).
    unlinked: BTreeMap<usize, Unlinked>,
    /// Instances per user.
    instances: BTreeMap<u32, u32>,
    /// Watches per user.
    watches: BTreeMap<u32, u32>,
}

/// The sandbox's watches.
#[derive(Default)]
pub struct Registry {
    /// Watches in the sandbox: while 0, every hook returns at once.
    marks: AtomicUsize,
    /// The union of the event bits watches asked for (never shrinks
    /// while a watch exists): a hook for other events returns at once.
    any: AtomicU32,
    /// Entries in `State::unlinked`.
    unlinked_len: AtomicUsize,
    /// Rename cookies (`fsnotify_get_cookie`).
    cookie: AtomicU32,
    next_id: AtomicU64,
    state: Mutex<State>,
}

fn key_of(a: &InodeAttr) -> InodeKey {
    InodeKey {
        dev: a.dev,
        ino: a.ino,
    }
}

fn is_dir(a: &InodeAttr) -> bool {
    a.file_type() == Some(FileType::Directory)
}

fn dentry_addr(d: &Arc<Dentry>) -> usize {
    Arc::as_ptr(d) as usize
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Arc<Registry> {
        Arc::new(Registry::default())
    }

    /// True if no watch could want any of `mask`.
    fn idle(&self, mask: u32) -> bool {
        self.marks.load(Ordering::Acquire) == 0 || self.any.load(Ordering::Acquire) & mask == 0
    }

    /// A fresh rename cookie (never 0).
    fn next_cookie(&self) -> u32 {
        loop {
            let c = self.cookie.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
            if c != 0 {
                return c;
            }
        }
    }

    fn begin(&self) -> Delivery<'_> {
        Delivery {
            reg: self,
            st: self.state.lock(),
            woken: Vec::new(),
            signals: Vec::new(),
        }
    }

    /// An event on the object at `dentry` (`fsnotify_parent`): to its
    /// parent directory's watches with its name, then to its own.
    /// `file` marks events of open files, which `IN_EXCL_UNLINK` filters.
    fn object_event(&self, dentry: &Arc<Dentry>, mask: u32, file: bool) {
        if self.idle(mask) {
            return;
        }
        let Ok(attr) = dentry.inode.attr() else {
            return;
        };
        let parent = dentry
            .parent()
            .and_then(|p| p.inode.attr().ok())
            .map(|a| key_of(&a));
        let mask = if is_dir(&attr) { mask | IN_ISDIR } else { mask };
        let mut d = self.begin();
        let unlinked = file && d.st.unlinked.contains_key(&dentry_addr(dentry));
        if let Some(pk) = parent {
            if d.st.by_inode.contains_key(&pk) {
                d.send(pk, mask, &dentry.name(), 0, unlinked);
            }
        }
        d.send(key_of(&attr), mask, &[], 0, unlinked);
        d.finish();
    }

    /// A dentry (held `held` times by what is being released) is let go:
    /// if it was unlinked and nothing else holds it, its inode's watches
    /// see `IN_DELETE_SELF` (if that was the last name) and die; so,
    /// then, do those of removed directories it alone kept.
    fn let_go(&self, dentry: &Arc<Dentry>, held: usize) {
        if self.unlinked_len.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut d = self.begin();
        let mut cur = dentry.clone();
        // `cur` above adds one reference.
        let mut expect = held + 1;
        loop {
            let addr = dentry_addr(&cur);
            if !d.st.unlinked.contains_key(&addr) || Arc::strong_count(&cur) != expect {
                break;
            }
            if let Some(u) = d.st.unlinked.remove(&addr) {
                self.unlinked_len.fetch_sub(1, Ordering::AcqRel);
                if u.gone {
                    d.inode_gone(u.key);
                }
            }
            let Some(parent) = cur.parent() else {
                break;
            };
            cur = parent;
            // Held by the child's link and `cur`.
            expect = 2;
        }
        drop(cur);
        d.sweep();
        d.finish();
    }

    /// The filesystem of device `dev` is gone (its last mount went):
    /// every inotify watch on one of its inodes gets `IN_UNMOUNT` (with
    /// `IN_ISDIR` on a directory), whatever its mask, then `IN_IGNORED`,
    /// and dies, as Linux's `fsnotify_sb_delete` does; dnotify marks go
    /// quietly.
    pub fn unmounted(&self, dev: u64) {
        if self.marks.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut d = self.begin();
        let keys: Vec<InodeKey> =
            d.st.by_inode
                .range(InodeKey { dev, ino: 0 }..=InodeKey { dev, ino: u64::MAX })
                .map(|(k, _)| *k)
                .collect();
        for key in keys {
            let mut fired = Vec::new();
            let mut gids = Vec::new();
            for m in d.st.by_inode.get(&key).into_iter().flatten() {
                gids.push(m.gid);
                if let Some(g) = m.group.upgrade() {
                    fired.push((g, m.wd, m.dir));
                }
            }
            for (g, wd, dir) in fired {
                let mask = if dir {
                    IN_UNMOUNT | IN_ISDIR
                } else {
                    IN_UNMOUNT
                };
                let changed = g.queue.lock().push(Event {
                    wd,
                    mask,
                    cookie: 0,
                    name: Vec::new(),
                });
                if changed {
                    d.wake(g);
                }
            }
            for gid in gids {
                d.remove_mark(key, gid);
            }
        }
        d.finish();
    }
}

/// The registry locked, with the instances to wake when done.
struct Delivery<'a> {
    reg: &'a Registry,
    st: MutexGuard<'a, State>,
    woken: Vec<Arc<Inotify>>,
    /// dnotify signals to send once unlocked.
    signals: Vec<DnSink>,
}

impl Delivery<'_> {
    fn wake(&mut self, g: Arc<Inotify>) {
        if !self.woken.iter().any(|w| Arc::ptr_eq(w, &g)) {
            self.woken.push(g);
        }
    }

    /// Queues an event for the watches on `key` that want it.
    fn send(&mut self, key: InodeKey, mask: u32, name: &[u8], cookie: u32, unlinked: bool) {
        // inotify never reported IN_ISDIR with these.
        let mask = if mask & (IN_MOVE_SELF | IN_DELETE_SELF) != 0 {
            mask & !IN_ISDIR
        } else {
            mask
        };
        let Some(list) = self.st.by_inode.get(&key) else {
            return;
        };
        let mut fired = Vec::new();
        let mut oneshots = Vec::new();
        for m in list {
            if m.mask & mask & IN_ALL_EVENTS == 0 || (unlinked && m.excl_unlink) {
                continue;
            }
            if let Some(sink) = &m.dnotify {
                if sink.file.strong_count() == 0 {
                    // Its description is closed: the mark goes.
                    oneshots.push(m.gid);
                    continue;
                }
                self.signals.push(sink.clone());
                if !sink.multishot {
                    oneshots.push(m.gid);
                }
                continue;
            }
            let Some(g) = m.group.upgrade() else {
                continue;
            };
            fired.push((g, m.wd));
            if m.oneshot {
                oneshots.push(m.gid);
            }
        }
        for (g, wd) in fired {
            let changed = g.queue.lock().push(Event {
                wd,
                mask,
                cookie,
                name: name.to_vec(),
            });
            if changed {
                self.wake(g);
            }
        }
        for gid in oneshots {
            self.remove_mark(key, gid);
        }
    }

    /// Takes instance `gid`'s watch on `key` out of the tables.
    fn take_mark(&mut self, key: InodeKey, gid: u64) -> Option<Mark> {
        let list = self.st.by_inode.get_mut(&key)?;
        let pos = list.iter().position(|m| m.gid == gid)?;
        let m = list.swap_remove(pos);
        if list.is_empty() {
            self.st.by_inode.remove(&key);
        }
        if self.reg.marks.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.reg.any.store(0, Ordering::Release);
        }
        Some(m)
    }

    /// Removes a watch without an event (its instance is closing).
    fn drop_mark(&mut self, key: InodeKey, gid: u64) {
        if let Some(m) = self.take_mark(key, gid) {
            if let Some(g) = m.group.upgrade() {
                if let Some(n) = self.st.watches.get_mut(&g.uid) {
                    *n = n.saturating_sub(1);
                }
                g.queue.lock().wds.remove(&m.wd);
            }
        }
    }

    /// Removes a watch and queues `IN_IGNORED` for it.
    fn remove_mark(&mut self, key: InodeKey, gid: u64) {
        let Some(m) = self.take_mark(key, gid) else {
            return;
        };
        let Some(g) = m.group.upgrade() else {
            return;
        };
        if let Some(n) = self.st.watches.get_mut(&g.uid) {
            *n = n.saturating_sub(1);
        }
        let changed = {
            let mut q = g.queue.lock();
            q.wds.remove(&m.wd);
            q.push(Event {
                wd: m.wd,
                mask: IN_IGNORED,
                cookie: 0,
                name: Vec::new(),
            })
        };
        if changed {
            self.wake(g);
        }
    }

    /// The inode is gone: `IN_DELETE_SELF`, then every watch on it dies.
    fn inode_gone(&mut self, key: InodeKey) {
        self.send(key, IN_DELETE_SELF, &[], 0, false);
        let gids: Vec<u64> = match self.st.by_inode.get(&key) {
            Some(list) => list.iter().map(|m| m.gid).collect(),
            None => return,
        };
        for gid in gids {
            self.remove_mark(key, gid);
        }
    }

    /// Unlinked dentries nobody holds any more: their inodes are gone.
    fn sweep(&mut self) {
        if self.reg.unlinked_len.load(Ordering::Acquire) == 0 {
            return;
        }
        let dead: Vec<usize> = self
            .st
            .unlinked
            .iter()
            .filter(|(_, u)| u.dentry.strong_count() == 0)
            .map(|(a, _)| *a)
            .collect();
        for addr in dead {
            if let Some(u) = self.st.unlinked.remove(&addr) {
                self.reg.unlinked_len.fetch_sub(1, Ordering::AcqRel);
                if u.gone {
                    self.inode_gone(u.key);
                }
            }
        }
    }

    /// Notes that `dentry` (inode `key`) was unlinked while held.
    fn remember_unlinked(&mut self, dentry: &Arc<Dentry>, key: InodeKey, gone: bool) {
        let prev = self.st.unlinked.insert(
            dentry_addr(dentry),
            Unlinked {
                dentry: Arc::downgrade(dentry),
                key,
                gone,
            },
        );
        if prev.is_none() {
            self.reg.unlinked_len.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// A name went away (unlink, rmdir, replaced by rename): the inode
    /// dies now if that was its last name and nobody holds the dentry
    /// (`held` is the caller's own references), else later.
    fn name_gone(&mut self, dentry: &Arc<Dentry>, attr: &InodeAttr, held: usize) {
        let key = key_of(attr);
        let last = is_dir(attr) || attr.nlink <= 1;
        if Arc::strong_count(dentry) > held {
            self.remember_unlinked(dentry, key, last);
        } else if last {
            self.inode_gone(key);
        }
    }

    fn add_watch(
        &mut self,
        g: &Inotify,
        key: InodeKey,
        dir: bool,
        mask: u32,
    ) -> Result<i32, Errno> {
        let events = mask & IN_ALL_EVENTS;
        if let Some(m) = self
            .st
            .by_inode
            .get_mut(&key)
            .and_then(|l| l.iter_mut().find(|m| m.gid == g.id))
        {
            if mask & IN_MASK_CREATE != 0 {
                return Err(Errno::EEXIST);
            }
            if mask & IN_MASK_ADD == 0 {
                m.mask = 0;
                m.excl_unlink = false;
                m.oneshot = false;
            }
            m.mask |= events;
            m.excl_unlink |= mask & IN_EXCL_UNLINK != 0;
            m.oneshot |= mask & IN_ONESHOT != 0;
            self.reg.any.fetch_or(m.mask, Ordering::AcqRel);
            return Ok(m.wd);
        }
        let wd = g.queue.lock().alloc_wd()?;
        let n = self.st.watches.entry(g.uid).or_insert(0);
        if *n >= MAX_USER_WATCHES {
            return Err(Errno::ENOSPC);
        }
        *n += 1;
        g.queue.lock().wds.insert(wd, key);
        self.st.by_inode.entry(key).or_default().push(Mark {
            group: g.this.clone(),
            dnotify: None,
            gid: g.id,
            wd,
            mask: events,
            excl_unlink: mask & IN_EXCL_UNLINK != 0,
            oneshot: mask & IN_ONESHOT != 0,
            dir,
        });
        self.reg.any.fetch_or(events, Ordering::AcqRel);
        self.reg.marks.fetch_add(1, Ordering::AcqRel);
        Ok(wd)
    }

    /// Unlocks, then wakes the instances that got events and sends the
    /// dnotify signals.
    fn finish(self) {
        let woken = self.woken;
        let signals = self.signals;
        drop(self.st);
        for g in woken {
            g.wait.notify();
        }
        for s in signals {
            if let (Some(file), Some(kernel)) = (s.file.upgrade(), s.kernel.upgrade()) {
                let owner = *file.fown.lock();
                super::fasync::send(&kernel, owner, super::fasync::POLL_MSG, s.fd);
            }
        }
    }
}

/// What an open file description keeps to report its last close.
#[derive(Default)]
pub struct CloseHook(spin::Once<Arc<Registry>>);

/// `fsnotify_open`: a path was opened as `file` (not `O_PATH`);
/// `truncated` if `O_TRUNC` emptied it (its `IN_MODIFY` follows).
pub fn opened(task: &Task, file: &OpenFile, truncated: bool) {
    let reg = &task.kernel.inotify;
    file.inotify.0.call_once(|| reg.clone());
    if let Some(loc) = &file.location {
        reg.object_event(&loc.dentry, IN_OPEN, true);
        if truncated {
            reg.object_event(&loc.dentry, IN_MODIFY, true);
        }
    }
}

/// `fsnotify_close`: the last reference to `file` is going (called from
/// its drop). Then, if its name was unlinked and it held the dentry last,
/// the inode's watches see it go.
pub fn closed(file: &OpenFile) {
    let (Some(reg), Some(loc)) = (file.inotify.0.get(), &file.location) else {
        return;
    };
    let mask = if file.writable() {
        IN_CLOSE_WRITE
    } else {
        IN_CLOSE_NOWRITE
    };
    reg.object_event(&loc.dentry, mask, true);
    // The description's location, and a directory's listing state.
    let held = 1 + file.ops.as_any().is::<DirFile>() as usize;
    reg.let_go(&loc.dentry, held);
}

/// `fsnotify_access`: `n` bytes were read from `file` (nothing if 0).
pub fn accessed(task: &Task, file: &OpenFile, n: u64) {
    if let (true, Some(loc)) = (n > 0, &file.location) {
        task.kernel
            .inotify
            .object_event(&loc.dentry, IN_ACCESS, true);
    }
}

/// `fsnotify_modify`: `n` bytes were written to `file` (nothing if 0), or
/// (with `n` 1) it was truncated or allocated.
pub fn modified(task: &Task, file: &OpenFile, n: u64) {
    if let (true, Some(loc)) = (n > 0, &file.location) {
        task.kernel
            .inotify
            .object_event(&loc.dentry, IN_MODIFY, true);
    }
}

/// ftruncate emptied or extended `file` (`notify_change` with a size:
/// not an event of the open file, so `IN_EXCL_UNLINK` does not hide it).
pub fn truncated(task: &Task, file: &OpenFile) {
    if let Some(loc) = &file.location {
        task.kernel
            .inotify
            .object_event(&loc.dentry, IN_MODIFY, false);
    }
}

/// Changes the attributes of the inode at `loc`, then reports the change
/// as `fsnotify_change` does.
pub fn set_attr(task: &Task, loc: &Location, set: &SetAttr) -> Result<(), Errno> {
    loc.inode().set_attr(set)?;
    let mut mask = 0;
    if set.uid.is_some() || set.gid.is_some() || set.mode.is_some() {
        mask |= IN_ATTRIB;
    }
    if set.size.is_some() {
        mask |= IN_MODIFY;
    }
    mask |= match (set.atime.is_some(), set.mtime.is_some()) {
        (true, true) => IN_ATTRIB,
        (true, false) => IN_ACCESS,
        (false, true) => IN_MODIFY,
        (false, false) => 0,
    };
    if mask != 0 {
        task.kernel.inotify.object_event(&loc.dentry, mask, false);
    }
    Ok(())
}

/// `fsnotify_xattr`: an extended attribute of `loc` was set or removed.
pub fn xattr_changed(task: &Task, loc: &Location) {
    task.kernel
        .inotify
        .object_event(&loc.dentry, IN_ATTRIB, false);
}

/// The directory holding `loc`'s name, by key.
fn parent_key(loc: &Location) -> Option<InodeKey> {
    let p = loc.dentry.parent()?;
    p.inode.attr().ok().map(|a| key_of(&a))
}

/// `fsnotify_create` / `fsnotify_mkdir`: `loc` was just made.
pub fn created(task: &Task, loc: &Location) {
    let reg = &task.kernel.inotify;
    if reg.idle(IN_CREATE) {
        return;
    }
    let (Some(dir), Ok(attr)) = (parent_key(loc), loc.inode().attr()) else {
        return;
    };
    let mask = if is_dir(&attr) {
        IN_CREATE | IN_ISDIR
    } else {
        IN_CREATE
    };
    let mut d = reg.begin();
    d.send(dir, mask, &loc.dentry.name(), 0, false);
    d.finish();
}

/// `fsnotify_link`: `loc` is a new name of an existing inode.
pub fn linked(task: &Task, loc: &Location) {
    let reg = &task.kernel.inotify;
    if reg.idle(IN_CREATE | IN_ATTRIB) {
        return;
    }
    let (Some(dir), Ok(attr)) = (parent_key(loc), loc.inode().attr()) else {
        return;
    };
    let mut d = reg.begin();
    d.send(key_of(&attr), IN_ATTRIB, &[], 0, false);
    d.send(dir, IN_CREATE, &loc.dentry.name(), 0, false);
    d.finish();
}

/// unlink or rmdir removed `name` from `dir`; `child` is its dentry
/// (held once by the caller), `attr` the inode's attributes before.
pub fn removed(task: &Task, dir: &Location, name: &[u8], child: &Arc<Dentry>, attr: &InodeAttr) {
    let reg = &task.kernel.inotify;
    if reg.marks.load(Ordering::Acquire) == 0 {
        return;
    }
    let Ok(dattr) = dir.inode().attr() else {
        return;
    };
    let dirish = is_dir(attr);
    let mut d = reg.begin();
    if !dirish {
        d.send(key_of(attr), IN_ATTRIB, &[], 0, false);
    }
    d.name_gone(child, attr, 1);
    let mask = if dirish {
        IN_DELETE | IN_ISDIR
    } else {
        IN_DELETE
    };
    d.send(key_of(&dattr), mask, name, 0, false);
    d.finish();
}

/// One side of a rename: a directory and a name in it.
pub type RenameEnd<'a> = (&'a Location, &'a [u8]);

/// rename moved the inode with attributes `moved` from `from` to `to`.
/// `other` is the dentry that was at `to` and its attributes: with
/// `exchange` it moved to `from`; otherwise it was replaced. Each dentry
/// is held once by the caller.
pub fn renamed(
    task: &Task,
    from: RenameEnd<'_>,
    to: RenameEnd<'_>,
    moved: &InodeAttr,
    other: Option<(&Arc<Dentry>, &InodeAttr)>,
    exchange: bool,
) {
    let reg = &task.kernel.inotify;
    if reg.marks.load(Ordering::Acquire) == 0 {
        return;
    }
    let (Ok(fa), Ok(ta)) = (from.0.inode().attr(), to.0.inode().attr()) else {
        return;
    };
    let (fk, tk) = (key_of(&fa), key_of(&ta));
    let mut d = reg.begin();
    let replaced = other.filter(|_| !exchange);
    let cookie = reg.next_cookie();
    one_move(
        &mut d,
        cookie,
        moved,
        (fk, from.1),
        (tk, to.1),
        replaced.map(|r| r.1),
    );
    match other {
        Some((_, oa)) if exchange => {
            let cookie = reg.next_cookie();
            one_move(&mut d, cookie, oa, (tk, to.1), (fk, from.1), None);
        }
        Some((od, oa)) => d.name_gone(od, oa, 1),
        None => {}
    }
    d.finish();
}

/// `fsnotify_move` for one inode (attributes `a`) moved from `src` to
/// `dst`, replacing `target` if given.
fn one_move(
    d: &mut Delivery<'_>,
    cookie: u32,
    a: &InodeAttr,
    src: (InodeKey, &[u8]),
    dst: (InodeKey, &[u8]),
    target: Option<&InodeAttr>,
) {
    let isdir = |a: &InodeAttr| if is_dir(a) { IN_ISDIR } else { 0 };
    d.send(src.0, IN_MOVED_FROM | isdir(a), src.1, cookie, false);
    d.send(dst.0, IN_MOVED_TO | isdir(a), dst.1, cookie, false);
    if let Some(t) = target {
        d.send(key_of(t), IN_ATTRIB | isdir(t), &[], 0, false);
    }
    d.send(key_of(a), IN_MOVE_SELF, &[], 0, false);
}

/// The inotify events a `DN_*` mask stands for (Linux's dnotify
/// `convert_arg`).
fn dn_events(arg: u32) -> u32 {
    let mut m = 0;
    for (dn, ev) in [
        (DN_ACCESS, IN_ACCESS),
        (DN_MODIFY, IN_MODIFY),
        (DN_CREATE, IN_CREATE | IN_MOVED_TO),
        (DN_DELETE, IN_DELETE | IN_MOVED_FROM),
        (DN_RENAME, IN_MOVED_FROM | IN_MOVED_TO),
        (DN_ATTRIB, IN_ATTRIB),
    ] {
        if arg & dn != 0 {
            m |= ev;
        }
    }
    m
}

/// `fcntl(fd, F_NOTIFY, arg)` on the directory description `file`
/// (Linux's `fcntl_dirnotify`): adds `arg`'s events to the mark of this
/// description and fd table (the description's owner becomes the caller
/// if it has none), or with no event bit removes it. `ENOTDIR` for other
/// files.
pub fn dnotify(task: &Task, fd: i32, file: &Arc<OpenFile>, arg: u32) -> Result<(), Errno> {
    let loc = file.location.as_ref().ok_or(Errno::ENOTDIR)?;
    let attr = loc.inode().attr()?;
    if !is_dir(&attr) {
        return Err(Errno::ENOTDIR);
    }
    let reg = &task.kernel.inotify;
    let key = key_of(&attr);
    let files = Arc::as_ptr(&task.fds) as usize;
    let me = Arc::downgrade(file);
    let mine = |m: &Mark| {
        m.dnotify
            .as_ref()
            .is_some_and(|s| s.files == files && Weak::ptr_eq(&s.file, &me))
    };
    let mut d = reg.begin();
    let existing =
        d.st.by_inode
            .get(&key)
            .and_then(|l| l.iter().find(|m| mine(m)).map(|m| m.gid));
    if arg & !DN_MULTISHOT == 0 {
        if let Some(gid) = existing {
            d.drop_mark(key, gid);
        }
        d.finish();
        return Ok(());
    }
    let events = dn_events(arg);
    match existing.and_then(|gid| {
        d.st.by_inode
            .get_mut(&key)
            .and_then(|l| l.iter_mut().find(|m| m.gid == gid))
    }) {
        Some(m) => {
            m.mask |= events;
            if let Some(s) = &mut m.dnotify {
                s.fd = fd;
                s.multishot |= arg & DN_MULTISHOT != 0;
            }
        }
        None => {
            let gid = reg.next_id.fetch_add(1, Ordering::Relaxed);
            d.st.by_inode.entry(key).or_default().push(Mark {
                group: Weak::new(),
                dnotify: Some(DnSink {
                    file: me,
                    files,
                    fd,
                    kernel: Arc::downgrade(&task.kernel),
                    multishot: arg & DN_MULTISHOT != 0,
                }),
                gid,
                wd: 0,
                mask: events,
                excl_unlink: false,
                oneshot: false,
                dir: true,
            });
            reg.marks.fetch_add(1, Ordering::AcqRel);
        }
    }
    reg.any.fetch_or(events, Ordering::AcqRel);
    d.finish();
    super::fasync::own_if_unset(task, file, super::fasync::F_OWNER_PID, task.pid());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::node::{Inode, InodeRef};

    fn ev(wd: i32, mask: u32, name: &[u8]) -> Event {
        Event {
            wd,
            mask,
            cookie: 0,
            name: name.to_vec(),
        }
    }

    fn queue() -> Queue {
        Queue {
            events: VecDeque::new(),
            overflowed: false,
            next_wd: 1,
            wds: BTreeMap::new(),
        }
    }

    /// The (wd, mask, len, name) of each event in a read's bytes.
    fn decode(mut b: &[u8]) -> Vec<(i32, u32, u32, Vec<u8>)> {
        let mut out = Vec::new();
        while b.len() >= HEADER {
            let word = |i: usize| u32::from_ne_bytes(b[i..i + 4].try_into().unwrap());
            let len = word(12) as usize;
            let name = &b[HEADER..HEADER + len];
            let end = name.iter().position(|&c| c == 0).unwrap_or(len);
            assert!(name[end..].iter().all(|&c| c == 0), "padding is NULs");
            out.push((word(0) as i32, word(4), len as u32, name[..end].to_vec()));
            b = &b[HEADER + len..];
        }
        assert!(b.is_empty(), "whole events only");
        out
    }

    #[test]
    fn names_are_padded_to_16_bytes_with_a_nul() {
        let mut q = queue();
        for n in [&b"a"[..], b"abcdefghijklmno", b"abcdefghijklmnop"] {
            q.push(ev(1, IN_CREATE, n));
        }
        q.push(ev(1, IN_IGNORED, b""));
        let got = decode(&q.take(4096).unwrap());
        let lens: Vec<u32> = got.iter().map(|e| e.2).collect();
        assert_eq!(lens, [16, 16, 32, 0]);
        assert_eq!(got[2].3, b"abcdefghijklmnop");
    }

    #[test]
    fn equal_consecutive_events_merge_but_ignored_does_not() {
        let mut q = queue();
        assert!(q.push(ev(1, IN_MODIFY, b"f")));
        assert!(!q.push(ev(1, IN_MODIFY, b"f")));
        // A different cookie still merges (Linux compares no cookie).
        assert!(!q.push(Event {
            cookie: 9,
            ..ev(1, IN_MODIFY, b"f")
        }));
        assert!(q.push(ev(1, IN_MODIFY, b"g")));
        assert!(q.push(ev(2, IN_MODIFY, b"g")));
        assert!(q.push(ev(2, IN_IGNORED, b"")));
        assert!(q.push(ev(2, IN_IGNORED, b"")));
        assert_eq!(q.events.len(), 5);
    }

    #[test]
    fn reads_take_whole_events_or_fail() {
        let mut q = queue();
        assert_eq!(q.take(100), Err(Errno::EAGAIN));
        q.push(ev(1, IN_CREATE, b"x"));
        q.push(ev(1, IN_DELETE, b"x"));
        assert_eq!(q.take(0), Err(Errno::EINVAL));
        assert_eq!(q.take(31), Err(Errno::EINVAL));
        assert_eq!(q.events.len(), 2, "a failed read takes nothing");
        assert_eq!(q.take(63).map(|b| b.len()), Ok(32));
        assert_eq!(q.take(32).map(|b| b.len()), Ok(32));
        assert!(q.events.is_empty());
    }

    #[test]
    fn a_full_queue_takes_one_overflow_event() {
        let mut q = queue();
        for i in 0..MAX_QUEUED_EVENTS + 10 {
            let mask = if i % 2 == 0 {
                IN_OPEN
            } else {
                IN_CLOSE_NOWRITE
            };
            q.push(ev(1, mask, b""));
        }
        assert_eq!(q.events.len(), MAX_QUEUED_EVENTS + 1);
        assert_eq!(
            q.events.back().map(|e| (e.wd, e.mask)),
            Some((-1, IN_Q_OVERFLOW))
        );
        // Reading one makes no room for more while the overflow is queued
        // and the queue still holds the limit.
        q.take(HEADER).unwrap();
        assert!(!q.push(ev(1, IN_ACCESS, b"")));
        q.take(HEADER).unwrap();
        assert!(q.push(ev(1, IN_ACCESS, b"")));
        assert_eq!(q.events.back().map(|e| e.mask), Some(IN_ACCESS));
        // Reading the overflow event lets a new one queue later.
        let all = decode(&q.take(usize::MAX / 2).unwrap());
        assert_eq!(all.iter().filter(|e| e.1 == IN_Q_OVERFLOW).count(), 1);
        assert!(!q.overflowed);
    }

    #[test]
    fn watch_descriptors_are_cyclic() {
        let mut q = queue();
        let key = InodeKey { dev: 1, ino: 1 };
        for want in 1..=3 {
            let wd = q.alloc_wd().unwrap();
            assert_eq!(wd, want);
            q.wds.insert(wd, key);
        }
        q.wds.remove(&2);
        assert_eq!(q.alloc_wd(), Ok(4), "a removed wd is not reused at once");
        q.next_wd = i32::MAX as u32;
        assert_eq!(q.alloc_wd(), Ok(i32::MAX));
        q.wds.insert(i32::MAX, key);
        // Past the top: wraps to the lowest free number.
        assert_eq!(q.alloc_wd(), Ok(2));
    }

    /// A minimal inode for dentries in tests.
    struct Node {
        ino: u64,
        dir: bool,
        nlink: u64,
    }

    impl Inode for Node {
        fn attr(&self) -> Result<InodeAttr, Errno> {
            Ok(InodeAttr {
                dev: 7,
                ino: self.ino,
                mode: if self.dir {
                    S_IFDIR | 0o755
                } else {
                    S_IFREG | 0o644
                },
                nlink: self.nlink,
                ..Default::default()
            })
        }
        fn as_any(&self) -> &dyn Any {
            self
        }
    }

    fn node(ino: u64, dir: bool) -> InodeRef {
        Arc::new(Node { ino, dir, nlink: 1 })
    }

    fn instance(reg: &Arc<Registry>, id: u64) -> Arc<Inotify> {
        Arc::new_cyclic(|this| Inotify {
            this: this.clone(),
            registry: reg.clone(),
            id,
            uid: 0,
            queue: Mutex::new(queue()),
            wait: WaitQueue::new(),
        })
    }

    fn watch(g: &Arc<Inotify>, d: &Arc<Dentry>, mask: u32) -> i32 {
        g.add_watch(&d.inode.attr().unwrap(), mask).unwrap()
    }

    fn events(g: &Inotify) -> Vec<(i32, u32, u32, Vec<u8>)> {
        match g.queue.lock().take(1 << 20) {
            Ok(b) => decode(&b),
            Err(_) => Vec::new(),
        }
    }

    #[test]
    fn file_events_reach_the_parent_then_the_inode() {
        let reg = Registry::new();
        let g = instance(&reg, 1);
        let dir = Dentry::new_root(node(1, true));
        let file = Dentry::new_child(&dir, b"f", node(2, false));
        let sub = Dentry::new_child(&dir, b"s", node(3, true));
        assert_eq!(watch(&g, &dir, IN_OPEN | IN_ATTRIB), 1);
        assert_eq!(watch(&g, &file, IN_OPEN), 2);
        assert_eq!(watch(&g, &sub, IN_ATTRIB), 3);
        reg.object_event(&file, IN_OPEN, true);
        reg.object_event(&sub, IN_ATTRIB, false);
        reg.object_event(&file, IN_ACCESS, true);
        assert_eq!(
            events(&g),
            [
                (1, IN_OPEN, 16, b"f".to_vec()),
                (2, IN_OPEN, 0, Vec::new()),
                (1, IN_ATTRIB | IN_ISDIR, 16, b"s".to_vec()),
                (3, IN_ATTRIB | IN_ISDIR, 0, Vec::new()),
            ]
        );
        // The same wd for the same inode; IN_MASK_CREATE refuses it.
        assert_eq!(watch(&g, &file, IN_MODIFY | IN_MASK_ADD), 2);
        let a = file.inode.attr().unwrap();
        assert_eq!(
            g.add_watch(&a, IN_MODIFY | IN_MASK_CREATE),
            Err(Errno::EEXIST)
        );
        reg.object_event(&file, IN_OPEN, true);
        reg.object_event(&file, IN_MODIFY, true);
        assert_eq!(
            events(&g),
            [
                (1, IN_OPEN, 16, b"f".to_vec()),
                (2, IN_OPEN, 0, Vec::new()),
                (2, IN_MODIFY, 0, Vec::new()),
            ]
        );
    }

    #[test]
    fn an_unmounted_filesystem_ends_every_watch_on_it() {
        let reg = Registry::new();
        let g = instance(&reg, 1);
        let dir = Dentry::new_root(node(1, true));
        let file = Dentry::new_root(node(2, false));
        let wd_dir = watch(&g, &dir, IN_CREATE);
        let wd_file = watch(&g, &file, IN_MODIFY);
        // Another device: nothing.
        reg.unmounted(8);
        assert_eq!(events(&g), []);
        reg.unmounted(7);
        let mut got = events(&g);
        got.sort_by_key(|e| e.0);
        let mut want = alloc::vec![
            (wd_dir, IN_UNMOUNT | IN_ISDIR, 0, Vec::new()),
            (wd_dir, IN_IGNORED, 0, Vec::new()),
            (wd_file, IN_UNMOUNT, 0, Vec::new()),
            (wd_file, IN_IGNORED, 0, Vec::new()),
        ];
        want.sort_by_key(|e| e.0);
        assert_eq!(got, want);
        assert_eq!(g.rm_watch(wd_file), Err(Errno::EINVAL));
        assert_eq!(reg.marks.load(Ordering::Acquire), 0);
    }

    #[test]
    fn oneshot_watches_fire_once_then_die() {
        let reg = Registry::new();
        let g = instance(&reg, 1);
        let dir = Dentry::new_root(node(1, true));
        let wd = watch(&g, &dir, IN_OPEN | IN_ONESHOT);
        reg.object_event(&dir, IN_OPEN, true);
        reg.object_event(&dir, IN_OPEN, true);
        assert_eq!(
            events(&g),
            [
                (wd, IN_OPEN | IN_ISDIR, 0, Vec::new()),
                (wd, IN_IGNORED, 0, Vec::new())
            ]
        );
        assert_eq!(g.rm_watch(wd), Err(Errno::EINVAL));
        assert_eq!(reg.marks.load(Ordering::Acquire), 0);
    }

    #[test]
    fn an_unlinked_name_dies_with_its_last_holder() {
        let reg = Registry::new();
        let g = instance(&reg, 1);
        let dir = Dentry::new_root(node(1, true));
        let file = Dentry::new_child(&dir, b"f", node(2, false));
        let attr = file.inode.attr().unwrap();
        let wd_dir = watch(&g, &dir, IN_MODIFY | IN_EXCL_UNLINK);
        let wd = watch(&g, &file, IN_DELETE_SELF | IN_MODIFY);
        // Held by an "open file" besides the caller: the death waits.
        let open = file.clone();
        {
            let mut d = reg.begin();
            d.name_gone(&file, &attr, 1);
            d.finish();
        }
        drop(file);
        assert!(events(&g).is_empty());
        // IN_EXCL_UNLINK hides events of the unlinked child from the
        // directory, not from the file's own watch.
        reg.object_event(&open, IN_MODIFY, true);
        assert_eq!(events(&g), [(wd, IN_MODIFY, 0, Vec::new())]);
        // The last holder lets go.
        reg.let_go(&open, 1);
        assert_eq!(
            events(&g),
            [
                (wd, IN_DELETE_SELF, 0, Vec::new()),
                (wd, IN_IGNORED, 0, Vec::new())
            ]
        );
        assert_eq!(reg.unlinked_len.load(Ordering::Acquire), 0);
        assert_eq!(g.rm_watch(wd_dir), Ok(()));
    }

    #[test]
    fn a_dead_unlinked_dentry_is_swept() {
        let reg = Registry::new();
        let g = instance(&reg, 1);
        let dir = Dentry::new_root(node(1, true));
        let sub = Dentry::new_child(&dir, b"d", node(5, true));
        let attr = sub.inode.attr().unwrap();
        let wd = watch(&g, &sub, IN_ALL_EVENTS);
        let cwd = sub.clone();
        let mut d = reg.begin();
        d.name_gone(&sub, &attr, 1);
        d.finish();
        drop(sub);
        drop(cwd);
        let mut d = reg.begin();
        d.sweep();
        d.finish();
        assert_eq!(
            events(&g),
            [
                (wd, IN_DELETE_SELF, 0, Vec::new()),
                (wd, IN_IGNORED, 0, Vec::new())
            ]
        );
    }

    #[test]
    fn closing_an_instance_drops_its_watches_quietly() {
        let reg = Registry::new();
        let g = instance(&reg, 1);
        let h = instance(&reg, 2);
        let dir = Dentry::new_root(node(1, true));
        watch(&g, &dir, IN_OPEN);
        let wh = watch(&h, &dir, IN_OPEN);
        g.release();
        assert!(events(&g).is_empty());
        assert_eq!(reg.marks.load(Ordering::Acquire), 1);
        reg.object_event(&dir, IN_OPEN, true);
        assert!(events(&g).is_empty());
        assert_eq!(events(&h), [(wh, IN_OPEN | IN_ISDIR, 0, Vec::new())]);
    }
}
