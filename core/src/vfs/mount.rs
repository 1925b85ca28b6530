//! Mounts and mount namespaces, as Linux's fs/namespace.c models them.
//!
//! A [`Mount`] shows a filesystem (its [`Super`], Linux's superblock) from
//! a root dentry (the filesystem's root, or any dentry of it for a bind
//! mount) at a place in the tree: its mountpoint, a (parent mount, dentry)
//! pair. A mount belongs to one [`MountNamespace`]; mount crossing during
//! a path walk asks the mount being walked for a child mounted on the
//! dentry reached, so a namespace copy (unshare(CLONE_NEWNS)) is a
//! separate tree of new mounts over the same filesystems. Mounts stacked
//! on one place cover each other; the walk ends on the top one.
//!
//! Every namespace has, as Linux has, a hidden `rootfs` mount at its top:
//! the sandbox's root is mounted on it, so that pivot_root finds the
//! root's mountpoint it needs. The sandbox's root mount is *locked*
//! (Linux's `MNT_LOCKED`, as a container's mounts are): it cannot be
//! unmounted or moved (`EINVAL`) until pivot_root hands the lock to the
//! new root.
//!
//! Per-mount flags (read-only, nosuid, nodev, noexec, atime policy,
//! nosymfollow) and per-superblock flags (read-only, sync, dirsync,
//! lazytime) are kept as Linux keeps them: a change through a read-only
//! mount, or to a read-only superblock, answers `EROFS` (checked by the
//! VFS before calling the filesystem). nosuid, nodev and noexec are
//! recorded, shown and reported by statfs; [`Mount::check_exec`] and
//! [`Mount::devices_allowed`] are what exec, mmap and open ask (not yet
//! asked: exec, mmap and device opens do not check them).
//!
//! Propagation follows Documentation/filesystems/sharedsubtree.rst. Each
//! mount has a [`Propagation`]: the peer group it belongs to when shared,
//! the group it is a slave of, and whether it is unbindable. Peers and
//! slaves are found by walking every namespace of the family (the first
//! namespace and its copies share a `Shared` that lists them) for those
//! ids, which is Linux's peer-group graph without the lists: a mount on a
//! shared mount gets a group and is copied onto every peer and, as a
//! slave copy, onto every slave, recursively (`Graph::propagation`, the
//! walk of Linux's propagate_mnt); an unmount takes the mount each
//! receiver has at the same place, unless that replica still has mounts
//! of its own, and is `EBUSY` while a replica is in use
//! (propagate_umount, propagate_mount_busy). MS_SLAVE makes a mount the
//! slave of its former peers; the last member leaving a group hands the
//! group's slaves to its own master. Bind mounts of a shared mount and
//! namespace copies (unshare(CLONE_NEWNS)) keep the group, so they are
//! peers of the original. Tree changes of a family are serialized by one
//! lock, as Linux's namespace_sem. Left out: the mount-count limit, and
//! moving a replica that covers an existing mount back down when it is
//! unmounted (Linux's "topper" handling); such a replica stays.
//!
//! A detached tree (fsmount, open_tree(OPEN_TREE_CLONE)) lives in an
//! anonymous namespace of the family whose root is the tree's top, so
//! walks inside it cross its mounts as usual; propagation skips it (as
//! Linux does) until move_mount attaches it, and its last descriptor's
//! close dissolves it without propagation (dissolve_on_fput). Every
//! mount also has a 64-bit [`Mount::unique_id`] for statmount/listmount.
//!
//! A filesystem mount(2) makes by type name comes from the
//! [`FilesystemTypes`] the embedder installs (core has no filesystem of
//! its own); the runtime's own mounts take a root dentry directly.

use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use spin::{Mutex, RwLock};
use veil_abi::mount as abi;
use veil_abi::Errno;

use super::{Dentry, DirEntry, FsContext, Inode, InodeAttr, InodeRef, Location};
use crate::task::Task;

/// Per-mount flags (Linux's internal `MNT_*` values).
pub mod mnt {
    /// setuid and setgid bits are ignored.
    pub const NOSUID: u32 = 0x01;
    /// Device nodes do not open.
    pub const NODEV: u32 = 0x02;
    /// Programs do not execute.
    pub const NOEXEC: u32 = 0x04;
    /// Access times are not updated.
    pub const NOATIME: u32 = 0x08;
    /// Directory access times are not updated.
    pub const NODIRATIME: u32 = 0x10;
    /// Access times are updated relative to mtime/ctime.
    pub const RELATIME: u32 = 0x20;
    /// Read-only.
    pub const READONLY: u32 = 0x40;
    /// Symlinks are not followed.
    pub const NOSYMFOLLOW: u32 = 0x80;
    /// The atime policy bits.
    pub const ATIME_MASK: u32 = NOATIME | NODIRATIME | RELATIME;
    /// What a user may set (everything above).
    pub const USER_SETTABLE: u32 = 0xff;
}

/// One `key[=value]` item of mount(2)'s option string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountOption {
    /// The key (before `=`).
    pub key: Vec<u8>,
    /// The value (after the first `=`), if there was one.
    pub value: Option<Vec<u8>>,
}

/// A mounted filesystem instance, as far as mounting needs it: its root,
/// the options /proc/mounts shows, and remount.
pub trait Filesystem: Send + Sync {
    /// The root inode.
    fn root(&self) -> InodeRef;
    /// The filesystem's own options as /proc/mounts shows them after the
    /// generic ones, each preceded by a comma (`",size=1024k,mode=755"`).
    fn show_options(&self) -> String {
        String::new()
    }
    /// MS_REMOUNT with the filesystem's own options `opts` (generic ones
    /// like `ro` already taken out): applies them all, or changes nothing
    /// and answers `EINVAL`.
    fn reconfigure(&self, opts: &[MountOption]) -> Result<(), Errno> {
        if opts.is_empty() {
            Ok(())
        } else {
            Err(Errno::EINVAL)
        }
    }
    /// For downcasting.
    fn as_any(&self) -> &dyn Any;
}

/// The filesystem types mount(2) can make, installed by the embedder with
/// [`MountNamespace::install_filesystems`].
pub trait FilesystemTypes: Send + Sync {
    /// An instance of type `name` mounted from `source` with options
    /// `opts` (the generic ones taken out), for the task `cx`: a new one,
    /// or the shared one of a single-instance type (sysfs). `ENODEV` for a
    /// type it does not know, `EINVAL` for a bad option.
    fn make(
        &self,
        cx: &Task,
        name: &[u8],
        source: &[u8],
        opts: &[MountOption],
    ) -> Result<Arc<dyn Filesystem>, Errno>;
    /// Every type as (name, needs no block device), for /proc/filesystems.
    fn list(&self) -> Vec<(String, bool)>;
}

/// Splits mount(2)'s option string at commas into [`MountOption`]s
/// (empty items are skipped, as Linux's generic parser skips them).
pub fn parse_options(data: &[u8]) -> Vec<MountOption> {
    data.split(|&c| c == b',')
        .filter(|item| !item.is_empty())
        .map(|item| match item.iter().position(|&c| c == b'=') {
            Some(i) => MountOption {
                key: item[..i].to_vec(),
                value: Some(item[i + 1..].to_vec()),
            },
            None => MountOption {
                key: item.to_vec(),
                value: None,
            },
        })
        .collect()
}

/// Superblock flags as mount(2)'s `MS_*` bits that Linux keeps per
/// filesystem instance.
pub const SB_FLAGS: u64 =
    abi::MS_RDONLY | abi::MS_SYNCHRONOUS | abi::MS_DIRSYNC | abi::MS_LAZYTIME | abi::MS_MANDLOCK;

/// Takes the generic superblock options (`ro`, `rw`, `sync`, `async`,
/// `dirsync`, `lazytime`, `nolazytime`, `mand`, `nomand`) out of `opts`,
/// applying them to the `MS_*` superblock flags `sb`, as Linux's
/// vfs_parse_sb_flag does (anything else is the filesystem's).
pub fn take_sb_options(opts: &mut Vec<MountOption>, sb: &mut u64) {
    opts.retain(|o| {
        if o.value.is_some() {
            return true;
        }
        let (set, clear) = match o.key.as_slice() {
            b"ro" => (abi::MS_RDONLY, 0),
            b"rw" => (0, abi::MS_RDONLY),
            b"sync" => (abi::MS_SYNCHRONOUS, 0),
            b"async" => (0, abi::MS_SYNCHRONOUS),
            b"dirsync" => (abi::MS_DIRSYNC, 0),
            b"lazytime" => (abi::MS_LAZYTIME, 0),
            b"nolazytime" => (0, abi::MS_LAZYTIME),
            b"mand" => (abi::MS_MANDLOCK, 0),
            b"nomand" => (0, abi::MS_MANDLOCK),
            _ => return true,
        };
        *sb = (*sb | set) & !clear;
        false
    });
}

/// A filesystem instance as mounted: what every mount of it shares.
pub struct Super {
    fs_type: String,
    source: String,
    /// The filesystem's root dentry (a bind mount's root is below it).
    root: Arc<Dentry>,
    /// `MS_*` superblock flags ([`SB_FLAGS`]).
    flags: AtomicU64,
    fs: Option<Arc<dyn Filesystem>>,
    /// Where to report that the filesystem is gone (inotify's
    /// `IN_UNMOUNT`), once it was mounted or unmounted by a task.
    unmount_watch: spin::Once<Weak<super::inotify::Registry>>,
}

impl Super {
    fn new(
        fs_type: &str,
        source: &str,
        root: Arc<Dentry>,
        fs: Option<Arc<dyn Filesystem>>,
        flags: u64,
    ) -> Arc<Super> {
        Arc::new(Super {
            fs_type: fs_type.into(),
            source: source.into(),
            root,
            flags: AtomicU64::new(flags & SB_FLAGS),
            fs,
            unmount_watch: spin::Once::new(),
        })
    }

    /// A filesystem instance made through [`FilesystemTypes`] (fsconfig's
    /// FSCONFIG_CMD_CREATE), before any mount shows it.
    pub fn create(fs_type: &str, source: &str, fs: Arc<dyn Filesystem>, flags: u64) -> Arc<Super> {
        let root = Dentry::new_root(fs.root());
        Super::new(fs_type, source, root, Some(fs), flags)
    }

    /// The filesystem type's name.
    pub fn fs_type(&self) -> &str {
        &self.fs_type
    }

    /// The `MS_*` superblock flags.
    pub fn flags(&self) -> u64 {
        self.flags.load(Ordering::Acquire)
    }

    /// Replaces the superblock flags.
    pub fn set_flags(&self, flags: u64) {
        self.flags.store(flags & SB_FLAGS, Ordering::Release);
    }

    /// True if the filesystem instance is read-only.
    pub fn read_only(&self) -> bool {
        self.flags() & abi::MS_RDONLY != 0
    }

    /// The filesystem object, for mounts made through [`FilesystemTypes`].
    pub fn filesystem(&self) -> Option<&Arc<dyn Filesystem>> {
        self.fs.as_ref()
    }

    /// The filesystem's root dentry.
    pub fn root(&self) -> &Arc<Dentry> {
        &self.root
    }

    /// Makes the end of this filesystem instance (when no mount shows it
    /// any more) reach `watches`, which then sends `IN_UNMOUNT`.
    pub fn report_unmount_to(&self, watches: &Arc<super::inotify::Registry>) {
        self.unmount_watch.call_once(|| Arc::downgrade(watches));
    }
}

impl Drop for Super {
    /// Breaks the dentry cache's parent/child cycles (see
    /// [`Dentry::forget_all`]) once no mount shows the filesystem, after
    /// telling inotify (`IN_UNMOUNT`) if a task mounted or unmounted it.
    fn drop(&mut self) {
        // A single-instance filesystem (sysfs) outlives this mount of it.
        let last = self.fs.as_ref().is_none_or(|f| Arc::strong_count(f) == 1);
        let watches = self.unmount_watch.get().and_then(Weak::upgrade);
        if let (true, Some(watches)) = (last, watches) {
            if let Ok(attr) = self.root.inode.attr() {
                watches.unmounted(attr.dev);
            }
        }
        self.root.forget_all();
    }
}

/// Propagation state of a mount.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Propagation {
    /// Peer group id when shared (0: not shared).
    pub group: u32,
    /// Peer group this mount receives events from (0: not a slave).
    pub master: u32,
    /// Cannot be bind mounted.
    pub unbindable: bool,
}

/// A filesystem shown at a place in the tree.
pub struct Mount {
    /// Unique id (as in /proc/self/mountinfo and statx's mnt_id).
    pub id: u32,
    /// The 64-bit id never reused while the Sentry runs (statx's
    /// STATX_MNT_ID_UNIQUE, statmount, listmount), from
    /// `MNT_UNIQUE_ID_OFFSET + 1` up as in Linux.
    pub unique_id: u64,
    /// Where the id goes back when the mount is dropped.
    family: Weak<Shared>,
    /// The dentry the mount shows at its mountpoint.
    pub root: Arc<Dentry>,
    sb: Arc<Super>,
    ns: RwLock<Weak<MountNamespace>>,
    mountpoint: RwLock<Option<Location>>,
    flags: AtomicU32,
    locked: AtomicBool,
    prop: Mutex<Propagation>,
    /// Mounts attached on this one (lets the walk skip the search).
    children: AtomicU32,
    /// Marked by umount2(MNT_EXPIRE): the next such call unmounts.
    expiry: AtomicBool,
}

impl Mount {
    fn new(
        family: Option<&Arc<Shared>>,
        root: Arc<Dentry>,
        sb: Arc<Super>,
        ns: Weak<MountNamespace>,
        mountpoint: Option<Location>,
        flags: u32,
    ) -> Arc<Mount> {
        Arc::new(Mount {
            id: family.map_or(0, |f| f.mount_ids.lock().alloc()),
            unique_id: NEXT_UNIQUE_ID.fetch_add(1, Ordering::Relaxed),
            family: family.map_or_else(Weak::new, Arc::downgrade),
            root,
            sb,
            ns: RwLock::new(ns),
            mountpoint: RwLock::new(mountpoint),
            flags: AtomicU32::new(flags & mnt::USER_SETTABLE),
            locked: AtomicBool::new(false),
            prop: Mutex::new(Propagation::default()),
            children: AtomicU32::new(0),
            expiry: AtomicBool::new(false),
        })
    }

    /// A mount in no namespace's tree, showing `root` (Linux's
    /// kern_mount: the mount memfd and other internal files sit on). Its
    /// id is 0; nothing can be mounted on it.
    pub fn internal(root: Arc<Dentry>, fs_type: &str, source: &str) -> Arc<Mount> {
        let sb = Super::new(fs_type, source, root.clone(), None, 0);
        Mount::new(None, root, sb, Weak::new(), None, mnt::RELATIME)
    }

    /// The location this mount covers; `None` for a namespace's top mount
    /// and for a detached one.
    pub fn parent(&self) -> Option<Location> {
        self.mountpoint.read().clone()
    }

    /// The filesystem instance.
    pub fn sb(&self) -> &Arc<Super> {
        &self.sb
    }

    /// Filesystem type name (`tmpfs`, `overlay`, `proc`, ...).
    pub fn fs_type(&self) -> &str {
        &self.sb.fs_type
    }

    /// Source shown in /proc/mounts.
    pub fn source(&self) -> &str {
        &self.sb.source
    }

    /// The per-mount flags ([`mnt`]).
    pub fn flags(&self) -> u32 {
        self.flags.load(Ordering::Acquire)
    }

    /// True if changes through this mount are refused (the mount or its
    /// filesystem instance is read-only).
    pub fn read_only(&self) -> bool {
        self.flags() & mnt::READONLY != 0 || self.sb.read_only()
    }

    /// `EROFS` if the mount is read-only.
    pub fn check_writable(&self) -> Result<(), Errno> {
        if self.read_only() {
            Err(Errno::EROFS)
        } else {
            Ok(())
        }
    }

    /// `EACCES` if programs may not run from this mount (noexec).
    pub fn check_exec(&self) -> Result<(), Errno> {
        if self.flags() & mnt::NOEXEC != 0 {
            Err(Errno::EACCES)
        } else {
            Ok(())
        }
    }

    /// True if set-user-ID and set-group-ID bits count on this mount (not
    /// nosuid).
    pub fn setid_allowed(&self) -> bool {
        self.flags() & mnt::NOSUID == 0
    }

    /// True if device nodes on this mount may be opened (not nodev).
    pub fn devices_allowed(&self) -> bool {
        self.flags() & mnt::NODEV == 0
    }

    /// statfs's `f_flags` for this mount, without `ST_VALID` (Linux's
    /// calculate_f_flags).
    pub fn statfs_flags(&self) -> i64 {
        let f = self.flags();
        let sb = self.sb.flags();
        let mut out = 0;
        for (bit, st) in [
            (mnt::NOSUID, abi::ST_NOSUID),
            (mnt::NODEV, abi::ST_NODEV),
            (mnt::NOEXEC, abi::ST_NOEXEC),
            (mnt::NOATIME, abi::ST_NOATIME),
            (mnt::NODIRATIME, abi::ST_NODIRATIME),
            (mnt::RELATIME, abi::ST_RELATIME),
            (mnt::NOSYMFOLLOW, abi::ST_NOSYMFOLLOW),
        ] {
            if f & bit != 0 {
                out |= st;
            }
        }
        if self.read_only() {
            out |= abi::ST_RDONLY;
        }
        if sb & abi::MS_SYNCHRONOUS != 0 {
            out |= abi::ST_SYNCHRONOUS;
        }
        if sb & abi::MS_MANDLOCK != 0 {
            out |= abi::ST_MANDLOCK;
        }
        out
    }

    /// Replaces the user-settable flags (MS_REMOUNT).
    pub fn set_flags(&self, flags: u32) {
        self.flags
            .store(flags & mnt::USER_SETTABLE, Ordering::Release);
    }

    /// True if the mount is locked (cannot be unmounted or moved).
    pub fn locked(&self) -> bool {
        self.locked.load(Ordering::Acquire)
    }

    /// The propagation state.
    pub fn propagation(&self) -> Propagation {
        *self.prop.lock()
    }

    /// The namespace the mount is attached in (`None` once unmounted).
    pub fn namespace(&self) -> Option<Arc<MountNamespace>> {
        self.ns.read().upgrade()
    }

    /// True if this mount is attached in `ns`.
    pub fn in_namespace(&self, ns: &MountNamespace) -> bool {
        core::ptr::eq(self.ns.read().as_ptr(), ns)
    }

    /// Sets the expiry mark (umount2's MNT_EXPIRE); returns whether it
    /// was already set.
    pub fn mark_expired(&self) -> bool {
        self.expiry.swap(true, Ordering::AcqRel)
    }

    /// True if other mounts are attached on this one.
    pub fn has_children(&self) -> bool {
        self.children.load(Ordering::Acquire) != 0
    }

    /// The mount on top of `dentry` of this mount, if any (the latest).
    pub fn child_at(&self, dentry: &Arc<Dentry>) -> Option<Arc<Mount>> {
        if !self.has_children() {
            return None;
        }
        let ns = self.namespace()?;
        let mounts = ns.mounts.read();
        mounts
            .iter()
            .rev()
            .find(|m| {
                m.mountpoint.read().as_ref().is_some_and(|p| {
                    core::ptr::eq(Arc::as_ptr(&p.mount), self) && Arc::ptr_eq(&p.dentry, dentry)
                })
            })
            .cloned()
    }

    /// The path of this mount's root within its filesystem (`/` unless it
    /// is a bind mount of a subtree), as mountinfo's fourth field.
    pub fn root_path(&self) -> Vec<u8> {
        let mut parts = Vec::new();
        let mut d = self.root.clone();
        while let Some(p) = d.parent() {
            parts.push(d.name());
            d = p;
        }
        join_path(&parts)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Some(f) = self.family.upgrade() {
            f.mount_ids.lock().release(self.id);
        }
    }
}

/// `/a/b` from the components `[b, a]` (innermost first); `/` if none.
pub(crate) fn join_path(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts.iter().rev() {
        out.push(b'/');
        out.extend_from_slice(p);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

/// True if `d` is `ancestor` or below it (Linux's is_subdir).
pub fn is_subdir(d: &Arc<Dentry>, ancestor: &Arc<Dentry>) -> bool {
    let mut cur = d.clone();
    loop {
        if Arc::ptr_eq(&cur, ancestor) {
            return true;
        }
        match cur.parent() {
            Some(p) => cur = p,
            None => return false,
        }
    }
}

/// The path of `loc` as seen from `root`, or `None` if `loc` cannot be
/// reached from `root` (/proc/self/mounts leaves such mounts out).
pub fn path_within(loc: &Location, root: &Location) -> Option<Vec<u8>> {
    let mut parts = Vec::new();
    let mut cur = loc.clone();
    loop {
        if cur.same(root) {
            return Some(join_path(&parts));
        }
        if Arc::ptr_eq(&cur.dentry, &cur.mount.root) {
            cur = cur.mount.parent()?;
            continue;
        }
        let p = cur.dentry.parent()?;
        parts.push(cur.dentry.name());
        cur.dentry = p;
    }
}

/// Mount ids and peer-group ids, shared by a namespace and its copies,
/// the installed filesystem types, and what propagation needs to see
/// across the namespaces of one family (the first and its copies).
struct Shared {
    /// Mount ids (freed when a mount is dropped).
    mount_ids: Mutex<IdPool>,
    /// Peer group ids (freed when a group's last member leaves it).
    group_ids: Mutex<IdPool>,
    types: spin::Once<Arc<dyn FilesystemTypes>>,
    /// Every namespace of the family: peers and slaves may be in any.
    namespaces: Mutex<Vec<Weak<MountNamespace>>>,
    /// Held while a tree of the family changes (Linux's namespace_sem):
    /// a propagated mount or unmount changes several trees at once.
    tree: Mutex<()>,
}

impl Shared {
    /// A new peer group id.
    fn group(&self) -> u32 {
        self.group_ids.lock().alloc()
    }

    fn register(&self, ns: &Arc<MountNamespace>) {
        let mut all = self.namespaces.lock();
        all.retain(|w| w.strong_count() > 0);
        all.push(Arc::downgrade(ns));
    }
}

/// Numbers handed out lowest free first, from 1, as Linux's IDA gives
/// mount and peer group ids (so a new mount can take a freed id, and
/// mountinfo's order, by id, is Linux's).
#[derive(Default)]
struct IdPool {
    /// The highest number handed out so far.
    top: u32,
    /// Numbers below `top` given back.
    free: alloc::collections::BTreeSet<u32>,
}

impl IdPool {
    fn alloc(&mut self) -> u32 {
        match self.free.pop_first() {
            Some(id) => id,
            None => {
                self.top += 1;
                self.top
            }
        }
    }

    fn release(&mut self, id: u32) {
        if id != 0 && id <= self.top {
            self.free.insert(id);
        }
    }
}

/// Proof that the family's tree lock is held.
struct TreeGuard<'a>(#[allow(dead_code)] spin::MutexGuard<'a, ()>);

/// Sets `m`'s mountpoint to `at` (`m` being detached).
fn hook(m: &Arc<Mount>, at: &Location) {
    *m.mountpoint.write() = Some(at.clone());
    at.mount.children.fetch_add(1, Ordering::AcqRel);
}

/// Detaches `m` from its parent, in place.
fn unhook(m: &Mount) -> Option<Location> {
    let old = m.mountpoint.write().take();
    if let Some(p) = &old {
        p.mount.children.fetch_sub(1, Ordering::AcqRel);
    }
    old
}

/// The attached mounts of every namespace of a family, taken under the
/// tree lock: what a propagation walk looks at. A mount's peers are the
/// mounts with its group id; its slaves, those whose master is its group
/// (the peer-group graph Linux keeps in `mnt_share` / `mnt_slave_list`).
struct Graph {
    /// Keeps the namespaces (whose lists hold the mounts) alive.
    namespaces: Vec<Arc<MountNamespace>>,
    mounts: Vec<Arc<Mount>>,
}

/// What a propagated copy is made from.
#[derive(Clone, Copy)]
enum Source {
    /// The tree being attached.
    Tree,
    /// The copy made by an earlier step.
    Copy(usize),
}

/// One receiver of a propagated mount: a copy of `source` goes on `at`,
/// a peer of it or (`slave`) its slave.
struct Step {
    at: Arc<Mount>,
    source: Source,
    slave: bool,
}

impl Graph {
    fn collect(shared: &Shared) -> Graph {
        let namespaces: Vec<Arc<MountNamespace>> = shared
            .namespaces
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        let mut mounts = Vec::new();
        for ns in &namespaces {
            mounts.extend(ns.mounts.read().iter().cloned());
        }
        Graph { namespaces, mounts }
    }

    fn peers(&self, group: u32) -> impl Iterator<Item = &Arc<Mount>> + '_ {
        self.mounts
            .iter()
            .filter(move |m| group != 0 && m.propagation().group == group)
    }

    fn slaves(&self, group: u32) -> impl Iterator<Item = &Arc<Mount>> + '_ {
        self.mounts
            .iter()
            .filter(move |m| group != 0 && m.propagation().master == group)
    }

    /// The mounts that receive what is mounted on (`origin`, `dentry`), in
    /// the order copies are made (Linux's propagate_mnt): `origin`'s
    /// peers, then each slave (a slave group as a whole, its first member
    /// getting the slave copy and the others peers of it), recursively.
    /// A receiver whose root does not contain `dentry` gets nothing; its
    /// slaves then receive from the nearest master that did.
    fn propagation(&self, origin: &Arc<Mount>, dentry: &Arc<Dentry>) -> Vec<Step> {
        let mut walk = Walk {
            graph: self,
            origin,
            dentry,
            steps: Vec::new(),
            seen: Vec::new(),
        };
        let group = origin.propagation().group;
        if group != 0 {
            walk.group(group, Some(Source::Tree), Source::Tree);
        }
        walk.steps
    }

    /// The receivers alone (for an unmount).
    fn receivers(&self, origin: &Arc<Mount>, dentry: &Arc<Dentry>) -> Vec<Arc<Mount>> {
        self.propagation(origin, dentry)
            .into_iter()
            .map(|s| s.at)
            .collect()
    }

    /// Takes `m` out of its peer group (Linux's do_make_slave for a mount
    /// that leaves it): if it was the last member, the group's slaves
    /// become slaves of `m`'s master, or have none.
    fn leave_group(&self, shared: &Shared, m: &Mount) {
        let p = m.propagation();
        if p.group == 0 {
            return;
        }
        let others = self.peers(p.group).any(|o| !core::ptr::eq(o.as_ref(), m));
        if others {
            return;
        }
        shared.group_ids.lock().release(p.group);
        for s in &self.mounts {
            let mut sp = s.prop.lock();
            if sp.master == p.group {
                sp.master = p.master;
            }
        }
    }
}

/// True if `m` is in a detached tree: Linux propagates nothing into
/// those (a detached copy of a shared mount is a peer that receives once
/// it is attached).
fn in_anon(m: &Mount) -> bool {
    m.namespace().is_some_and(|n| n.anon)
}

/// A propagation walk in progress.
struct Walk<'a> {
    graph: &'a Graph,
    origin: &'a Arc<Mount>,
    dentry: &'a Arc<Dentry>,
    steps: Vec<Step>,
    /// The groups already walked.
    seen: Vec<u32>,
}

impl Walk<'_> {
    /// Visits peer group `group`: its members get copies that are peers
    /// of `peer_of` (or, if `None`, the first gets a slave of `master`
    /// and the others peers of that); then its slaves, with the group's
    /// copy as their master.
    fn group(&mut self, group: u32, mut peer_of: Option<Source>, master: Source) {
        self.seen.push(group);
        let graph = self.graph;
        for p in graph.peers(group) {
            if Arc::ptr_eq(p, self.origin) || !is_subdir(self.dentry, &p.root) || in_anon(p) {
                continue;
            }
            match peer_of {
                Some(source) => self.steps.push(Step {
                    at: p.clone(),
                    source,
                    slave: false,
                }),
                None => {
                    self.steps.push(Step {
                        at: p.clone(),
                        source: master,
                        slave: true,
                    });
                    peer_of = Some(Source::Copy(self.steps.len() - 1));
                }
            }
        }
        let master = peer_of.unwrap_or(master);
        for s in graph.slaves(group) {
            let own = s.propagation().group;
            if own != 0 {
                if !self.seen.contains(&own) {
                    self.group(own, None, master);
                }
            } else if !Arc::ptr_eq(s, self.origin) && is_subdir(self.dentry, &s.root) && !in_anon(s)
            {
                self.steps.push(Step {
                    at: s.clone(),
                    source: master,
                    slave: true,
                });
            }
        }
    }
}

/// The mount tree of a sandbox or of a process that unshared it.
pub struct MountNamespace {
    me: Weak<MountNamespace>,
    shared: Arc<Shared>,
    /// Every attached mount, in the order they were made.
    mounts: RwLock<Vec<Arc<Mount>>>,
    rootfs: Arc<Mount>,
    /// The namespace's number, as `/proc/<pid>/ns/mnt` shows it.
    ns_id: u64,
    /// An anonymous namespace: it holds a detached tree (fsmount,
    /// open_tree(OPEN_TREE_CLONE)) whose top is `rootfs`.
    anon: bool,
}

/// Linux's `MNT_UNIQUE_ID_OFFSET`: unique mount ids are above it, so
/// they never look like the reused 32-bit ones.
pub const MNT_UNIQUE_ID_OFFSET: u64 = 1 << 31;

static NEXT_UNIQUE_ID: AtomicU64 = AtomicU64::new(MNT_UNIQUE_ID_OFFSET + 1);

/// Namespace numbers: Linux numbers its namespaces from the proc inode
/// allocator; the first mount namespace is 4026531841 there too.
static NEXT_NS_ID: core::sync::atomic::AtomicU64 =
    core::sync::atomic::AtomicU64::new(4_026_531_841);

pub(crate) fn next_ns_id() -> u64 {
    NEXT_NS_ID.fetch_add(1, Ordering::Relaxed)
}

/// The flags the runtime's own mounts get by type, as container runtimes
/// mount them.
fn conventional_flags(fs_type: &str) -> u32 {
    mnt::RELATIME
        | match fs_type {
            "proc" | "sysfs" | "cgroup2" | "mqueue" => mnt::NOSUID | mnt::NODEV | mnt::NOEXEC,
            "devpts" => mnt::NOSUID | mnt::NOEXEC,
            "devtmpfs" => mnt::NOSUID,
            _ => 0,
        }
}

impl MountNamespace {
    /// A namespace whose root is `root_fs` mounted as `fs_type` (a locked
    /// mount, on the hidden rootfs).
    pub fn new(root_fs: Arc<Dentry>, fs_type: &str, source: &str) -> Arc<MountNamespace> {
        let shared = Arc::new(Shared {
            mount_ids: Mutex::new(IdPool::default()),
            group_ids: Mutex::new(IdPool::default()),
            types: spin::Once::new(),
            namespaces: Mutex::new(Vec::new()),
            tree: Mutex::new(()),
        });
        let ns = Arc::new_cyclic(|me| {
            let top = Dentry::new_root(Arc::new(RootfsInode));
            let rootfs_sb = Super::new("rootfs", "rootfs", top.clone(), None, 0);
            let rootfs = Mount::new(
                Some(&shared),
                top,
                rootfs_sb,
                me.clone(),
                None,
                mnt::RELATIME,
            );
            rootfs.locked.store(true, Ordering::Release);
            let sb = Super::new(fs_type, source, root_fs.clone(), None, 0);
            let at = Location {
                mount: rootfs.clone(),
                dentry: rootfs.root.clone(),
            };
            let root = Mount::new(
                Some(&shared),
                root_fs,
                sb,
                me.clone(),
                Some(at),
                conventional_flags(fs_type),
            );
            root.locked.store(true, Ordering::Release);
            rootfs.children.store(1, Ordering::Release);
            MountNamespace {
                me: me.clone(),
                shared,
                mounts: RwLock::new(alloc::vec![rootfs.clone(), root]),
                rootfs,
                ns_id: next_ns_id(),
                anon: false,
            }
        });
        ns.shared.register(&ns);
        ns
    }

    /// The namespace's number (`/proc/<pid>/ns/mnt`): unique while the
    /// Sentry runs.
    pub fn ns_id(&self) -> u64 {
        self.ns_id
    }

    /// The root: the top mount on the hidden rootfs.
    pub fn root(&self) -> Location {
        let mut loc = Location {
            mount: self.rootfs.clone(),
            dentry: self.rootfs.root.clone(),
        };
        while let Some(m) = loc.mount.child_at(&loc.dentry) {
            loc = Location {
                dentry: m.root.clone(),
                mount: m,
            };
        }
        loc
    }

    /// Mounts `fs_root` at `at` with the flags its type conventionally
    /// gets (proc and sysfs nosuid,nodev,noexec; devpts nosuid,noexec;
    /// devtmpfs nosuid; relatime for all); later mounts at the same place
    /// cover earlier ones.
    pub fn mount(
        &self,
        at: &Location,
        fs_root: Arc<Dentry>,
        fs_type: &str,
        source: &str,
    ) -> Arc<Mount> {
        self.mount_with(at, fs_root, fs_type, source, false)
    }

    /// As [`MountNamespace::mount`], read-only if `read_only`.
    pub fn mount_with(
        &self,
        at: &Location,
        fs_root: Arc<Dentry>,
        fs_type: &str,
        source: &str,
        read_only: bool,
    ) -> Arc<Mount> {
        let sb = Super::new(fs_type, source, fs_root.clone(), None, 0);
        let mut flags = conventional_flags(fs_type);
        if read_only {
            flags |= mnt::READONLY;
        }
        let m = Mount::new(Some(&self.shared), fs_root, sb, Weak::new(), None, flags);
        let g = self.lock_tree();
        self.attach_tree(&g, core::slice::from_ref(&m), at, false);
        m
    }

    /// Mounts a filesystem instance at `at` (mount(2)'s new mounts):
    /// superblock flags `sb_flags` (`MS_*`), mount flags `mnt_flags`.
    pub fn mount_fs(
        &self,
        at: &Location,
        fs: Arc<dyn Filesystem>,
        fs_type: &str,
        source: &str,
        sb_flags: u64,
        mnt_flags: u32,
    ) -> Arc<Mount> {
        let root = Dentry::new_root(fs.root());
        let sb = Super::new(fs_type, source, root.clone(), Some(fs), sb_flags);
        let m = Mount::new(Some(&self.shared), root, sb, Weak::new(), None, mnt_flags);
        let g = self.lock_tree();
        self.attach_tree(&g, core::slice::from_ref(&m), at, false);
        m
    }

    fn lock_tree(&self) -> TreeGuard<'_> {
        TreeGuard(self.shared.tree.lock())
    }

    /// Attaches the detached tree `tree` (its top first, the others hooked
    /// below it, parents before children) on `at`, in this namespace, and
    /// propagates a copy of it to every mount that receives from `at`'s
    /// mount (Linux's attach_recursive_mnt): under a shared mount the
    /// tree's mounts are shared too (new groups for those in none), and
    /// the copies are their peers, or slaves where the receiver is a slave.
    /// A copy goes beneath whatever the receiver already has mounted
    /// there. With `moving` (MS_MOVE) the mounts are already listed here.
    fn attach_tree(&self, _g: &TreeGuard, tree: &[Arc<Mount>], at: &Location, moving: bool) {
        let steps = if at.mount.propagation().group != 0 {
            for m in tree {
                let mut p = m.prop.lock();
                if p.group == 0 {
                    p.group = self.shared.group();
                }
            }
            Graph::collect(&self.shared).propagation(&at.mount, &at.dentry)
        } else {
            Vec::new()
        };
        hook(&tree[0], at);
        self.adopt(tree, moving);
        let mut copies: Vec<Vec<Arc<Mount>>> = Vec::with_capacity(steps.len());
        for step in &steps {
            let source: &[Arc<Mount>] = match step.source {
                Source::Tree => tree,
                Source::Copy(i) => &copies[i],
            };
            let shared = step.slave && step.at.propagation().group != 0;
            let copy = self.copy_tree(source, step.slave, shared);
            if let Some(ns) = step.at.namespace() {
                let covering = step.at.child_at(&at.dentry);
                hook(
                    &copy[0],
                    &Location {
                        mount: step.at.clone(),
                        dentry: at.dentry.clone(),
                    },
                );
                if let Some(q) = covering {
                    unhook(&q);
                    hook(
                        &q,
                        &Location {
                            mount: copy[0].clone(),
                            dentry: copy[0].root.clone(),
                        },
                    );
                }
                ns.adopt(&copy, false);
            }
            copies.push(copy);
        }
    }

    /// Makes the mounts of `tree` this namespace's (and lists them, unless
    /// `listed`).
    fn adopt(&self, tree: &[Arc<Mount>], listed: bool) {
        let mut mounts = self.mounts.write();
        for m in tree {
            *m.ns.write() = self.me.clone();
            if !listed {
                mounts.push(m.clone());
            }
        }
    }

    /// A detached copy of the tree `src` (top first, parents before
    /// children) as propagation makes it (Linux's copy_tree with
    /// CL_MAKE_SHARED, or CL_SLAVE): each copy a peer of its original, or
    /// with `slave` a slave of the original's group, in a new group of its
    /// own if `shared`.
    fn copy_tree(&self, src: &[Arc<Mount>], slave: bool, shared: bool) -> Vec<Arc<Mount>> {
        let mut out: Vec<Arc<Mount>> = Vec::with_capacity(src.len());
        for (i, old) in src.iter().enumerate() {
            let new = self.clone_mount(old, old.root.clone(), false);
            let p = old.propagation();
            *new.prop.lock() = if slave {
                Propagation {
                    group: if shared { self.shared.group() } else { 0 },
                    master: p.group,
                    unbindable: false,
                }
            } else {
                Propagation {
                    unbindable: false,
                    ..p
                }
            };
            if i > 0 {
                if let Some(mp) = old.parent() {
                    if let Some(j) = src.iter().position(|o| Arc::ptr_eq(o, &mp.mount)) {
                        hook(
                            &new,
                            &Location {
                                mount: out[j].clone(),
                                dentry: mp.dentry,
                            },
                        );
                    }
                }
            }
            out.push(new);
        }
        out
    }

    /// The mounts attached directly on `m`.
    pub fn children_of(&self, m: &Arc<Mount>) -> Vec<Arc<Mount>> {
        self.mounts
            .read()
            .iter()
            .filter(|c| {
                c.mountpoint
                    .read()
                    .as_ref()
                    .is_some_and(|p| Arc::ptr_eq(&p.mount, m))
            })
            .cloned()
            .collect()
    }

    /// The mount covering `at`, if any (the most recent one).
    pub fn mounted_at(&self, at: &Location) -> Option<Arc<Mount>> {
        at.mount.child_at(&at.dentry)
    }

    /// True if something is mounted on `at` (rmdir, unlink and rename
    /// answer `EBUSY` there).
    pub fn is_mountpoint(&self, at: &Location) -> bool {
        self.mounted_at(at).is_some()
    }

    /// All mounts, in mount order (the hidden rootfs first).
    pub fn all(&self) -> Vec<Arc<Mount>> {
        self.mounts.read().clone()
    }

    /// Installs the filesystem types mount(2) makes (once; later calls
    /// are ignored). Namespace copies share them.
    pub fn install_filesystems(&self, types: Arc<dyn FilesystemTypes>) {
        self.shared.types.call_once(|| types);
    }

    /// The installed filesystem types.
    pub fn filesystems(&self) -> Option<&Arc<dyn FilesystemTypes>> {
        self.shared.types.get()
    }

    /// The mounts of the subtree rooted at `top` (itself first, parents
    /// before children).
    fn subtree(mounts: &[Arc<Mount>], top: &Arc<Mount>) -> Vec<Arc<Mount>> {
        let mut out = alloc::vec![top.clone()];
        let mut i = 0;
        while i < out.len() {
            let parent = out[i].clone();
            for m in mounts {
                let child = m
                    .mountpoint
                    .read()
                    .as_ref()
                    .is_some_and(|p| Arc::ptr_eq(&p.mount, &parent));
                if child && !out.iter().any(|o| Arc::ptr_eq(o, m)) {
                    out.push(m.clone());
                }
            }
            i += 1;
        }
        out
    }

    /// A copy of `old` showing `root` (Linux's clone_mnt): same flags and
    /// filesystem; a peer of a shared `old` and a slave of its master.
    fn clone_mount(&self, old: &Mount, root: Arc<Dentry>, keep_lock: bool) -> Arc<Mount> {
        let m = Mount::new(
            Some(&self.shared),
            root,
            old.sb.clone(),
            Weak::new(),
            None,
            old.flags(),
        );
        *m.prop.lock() = old.propagation();
        if keep_lock {
            m.locked.store(old.locked(), Ordering::Release);
        }
        m
    }

    /// Bind mount: a copy of `src` (and, with `recursive`, of every mount
    /// below it that is not unbindable) attached on `at`, with
    /// propagation. The caller has checked that both are in this
    /// namespace and that `src`'s mount is bindable.
    pub fn bind(&self, src: &Location, at: &Location, recursive: bool) -> Arc<Mount> {
        let g = self.lock_tree();
        let tree = self.copy_for_bind(src, recursive);
        self.attach_tree(&g, &tree, at, false);
        tree[0].clone()
    }

    /// The detached copy a bind mount attaches (Linux's __do_loopback):
    /// top first, parents before children.
    fn copy_for_bind(&self, src: &Location, recursive: bool) -> Vec<Arc<Mount>> {
        let top = self.clone_mount(&src.mount, src.dentry.clone(), false);
        let mut made: Vec<(Arc<Mount>, Arc<Mount>)> = alloc::vec![(src.mount.clone(), top.clone())];
        if recursive {
            let tree = Self::subtree(&self.mounts.read(), &src.mount);
            for old in tree.iter().skip(1) {
                let Some(mp) = old.parent() else { continue };
                let Some(parent) = made
                    .iter()
                    .find(|(o, _)| Arc::ptr_eq(o, &mp.mount))
                    .map(|(_, n)| n.clone())
                else {
                    continue;
                };
                // Below the bound dentry only; unbindable subtrees are
                // left out (their children then find no parent here).
                if Arc::ptr_eq(&mp.mount, &src.mount) && !is_subdir(&mp.dentry, &src.dentry) {
                    continue;
                }
                if old.propagation().unbindable {
                    continue;
                }
                let new = self.clone_mount(old, old.root.clone(), true);
                hook(
                    &new,
                    &Location {
                        mount: parent,
                        dentry: mp.dentry.clone(),
                    },
                );
                made.push((old.clone(), new));
            }
        }
        made.into_iter().map(|(_, n)| n).collect()
    }

    /// True for an anonymous namespace (one holding a detached tree).
    pub fn is_anon(&self) -> bool {
        self.anon
    }

    /// The top of the detached tree an anonymous namespace holds (`None`
    /// once it was attached or dissolved).
    pub fn detached_top(&self) -> Option<Arc<Mount>> {
        if !self.anon {
            return None;
        }
        self.mounts
            .read()
            .first()
            .filter(|m| Arc::ptr_eq(m, &self.rootfs))
            .cloned()
    }

    /// An anonymous namespace of this family holding `tree` (top first).
    fn new_anon(&self, _g: &TreeGuard, tree: Vec<Arc<Mount>>) -> Arc<MountNamespace> {
        let ns = Arc::new_cyclic(|me: &Weak<MountNamespace>| {
            for m in &tree {
                *m.ns.write() = me.clone();
            }
            MountNamespace {
                me: me.clone(),
                shared: self.shared.clone(),
                rootfs: tree[0].clone(),
                mounts: RwLock::new(tree),
                ns_id: next_ns_id(),
                anon: true,
            }
        });
        self.shared.register(&ns);
        ns
    }

    /// fsmount(2): a detached mount of `sb` with the per-mount flags
    /// `mnt_flags`, alone in a new anonymous namespace.
    pub fn mount_detached(&self, sb: &Arc<Super>, mnt_flags: u32) -> Arc<MountNamespace> {
        let m = Mount::new(
            Some(&self.shared),
            sb.root.clone(),
            sb.clone(),
            Weak::new(),
            None,
            mnt_flags,
        );
        let g = self.lock_tree();
        self.new_anon(&g, alloc::vec![m])
    }

    /// open_tree(OPEN_TREE_CLONE): a detached copy of `src` (with
    /// `recursive`, of the mounts below it too) in a new anonymous
    /// namespace, as a bind mount would attach it (peers of shared
    /// originals, not locked). The caller has checked that `src` is in
    /// this namespace and bindable.
    pub fn clone_detached(&self, src: &Location, recursive: bool) -> Arc<MountNamespace> {
        let g = self.lock_tree();
        let tree = self.copy_for_bind(src, recursive);
        self.new_anon(&g, tree)
    }

    /// move_mount(2) of the detached tree `anon` holds onto `at` in this
    /// namespace, with propagation as for a new mount there (the tree
    /// leaves `anon` first, so that nothing propagates back into it).
    /// `EINVAL` if it was attached already or, onto a shared mount, holds
    /// an unbindable mount.
    pub fn attach_detached(&self, anon: &MountNamespace, at: &Location) -> Result<(), Errno> {
        let g = self.lock_tree();
        let tree = core::mem::take(&mut *anon.mounts.write());
        let bad = tree.is_empty()
            || (at.mount.propagation().group != 0
                && tree.iter().any(|t| t.propagation().unbindable));
        if bad {
            *anon.mounts.write() = tree;
            return Err(Errno::EINVAL);
        }
        self.attach_tree(&g, &tree, at, false);
        Ok(())
    }

    /// The last close of a detached tree's descriptor (Linux's
    /// dissolve_on_fput): the mounts of this anonymous namespace go, as a
    /// lazy unmount without propagation. Nothing happens once the tree
    /// was attached.
    pub fn dissolve(&self) {
        if !self.anon {
            return;
        }
        let _g = self.lock_tree();
        let tree = core::mem::take(&mut *self.mounts.write());
        if tree.is_empty() {
            return;
        }
        let graph = Graph::collect(&self.shared);
        for d in &tree {
            graph.leave_group(&self.shared, d);
            *d.prop.lock() = Propagation::default();
        }
        for d in &tree {
            unhook(d);
            *d.ns.write() = Weak::new();
        }
    }

    /// mount_setattr(2)'s flag change: clears `clr` and sets `set` among
    /// the per-mount flags of `m` (with `recursive`, of every mount below
    /// it too).
    pub fn set_attr(&self, m: &Arc<Mount>, set: u32, clr: u32, recursive: bool) {
        let _g = self.lock_tree();
        let targets = if recursive {
            Self::subtree(&self.mounts.read(), m)
        } else {
            alloc::vec![m.clone()]
        };
        for t in targets {
            t.set_flags((t.flags() & !clr) | set);
        }
    }

    /// The mount of this namespace with unique id `id`.
    pub fn find_unique(&self, id: u64) -> Option<Arc<Mount>> {
        self.mounts
            .read()
            .iter()
            .find(|m| m.unique_id == id)
            .cloned()
    }

    /// The (not anonymous) namespace of this family numbered `ns_id`.
    pub fn family_namespace(&self, ns_id: u64) -> Option<Arc<MountNamespace>> {
        self.shared
            .namespaces
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .find(|n| n.ns_id == ns_id && !n.anon)
    }

    /// Unmounts `m` and every mount below it, and what propagation made
    /// of them (Linux's umount_tree with propagate_umount): for each
    /// mount taken, children first, the mount that each receiver of its
    /// parent has at the same place goes too, unless it has mounts of its
    /// own that stay. Without `detach`, `EBUSY` if anything but this call
    /// and the namespace refers to `m` (open files, working or root
    /// directories, mounts on it) or to one of the replicas that would
    /// go; `m_refs` is how many references the caller itself holds.
    /// Returns the mounts taken out, which the caller lets go of.
    pub fn umount(
        &self,
        m: &Arc<Mount>,
        detach: bool,
        m_refs: usize,
    ) -> Result<Vec<Arc<Mount>>, Errno> {
        let _g = self.lock_tree();
        if !m.in_namespace(self) || m.locked() {
            return Err(Errno::EINVAL);
        }
        if !detach && (m.has_children() || Arc::strong_count(m) > m_refs + 1) {
            return Err(Errno::EBUSY);
        }
        let graph = Graph::collect(&self.shared);
        let mp = m.parent();
        if let (false, Some(mp)) = (detach, &mp) {
            for r in graph.receivers(&mp.mount, &mp.dentry) {
                let Some(c) = r.child_at(&mp.dentry) else {
                    continue;
                };
                // Held by its namespace, the graph and `c`.
                if !c.has_children() && Arc::strong_count(&c) > 3 {
                    return Err(Errno::EBUSY);
                }
            }
        }
        let mut doomed = Self::subtree(&self.mounts.read(), m);
        let original = doomed.clone();
        let is_doomed =
            |doomed: &[Arc<Mount>], x: &Arc<Mount>| doomed.iter().any(|d| Arc::ptr_eq(d, x));
        for x in original.iter().rev() {
            let Some(xp) = x.parent() else { continue };
            for r in graph.receivers(&xp.mount, &xp.dentry) {
                let Some(c) = r.child_at(&xp.dentry) else {
                    continue;
                };
                if c.locked() || is_doomed(&doomed, &c) {
                    continue;
                }
                let keeps_children = graph.mounts.iter().any(|k| {
                    k.parent().is_some_and(|p| Arc::ptr_eq(&p.mount, &c)) && !is_doomed(&doomed, k)
                });
                if !keeps_children {
                    doomed.push(c);
                }
            }
        }
        for d in &doomed {
            graph.leave_group(&self.shared, d);
            *d.prop.lock() = Propagation::default();
        }
        for d in &doomed {
            unhook(d);
            *d.ns.write() = Weak::new();
        }
        for ns in &graph.namespaces {
            ns.mounts.write().retain(|x| !is_doomed(&doomed, x));
        }
        Ok(doomed)
    }

    /// MS_MOVE: moves `m` (with the mounts below it) onto `at`, with
    /// propagation as for a new mount there. The caller has checked the
    /// namespace, the lock, that `m` is attached and that the kinds of
    /// both ends match.
    pub fn move_mount(&self, m: &Arc<Mount>, at: &Location) -> Result<(), Errno> {
        let g = self.lock_tree();
        let parent_shared = m.parent().is_some_and(|p| p.mount.propagation().group != 0);
        if parent_shared {
            return Err(Errno::EINVAL);
        }
        let tree = Self::subtree(&self.mounts.read(), m);
        if at.mount.propagation().group != 0 && tree.iter().any(|t| t.propagation().unbindable) {
            return Err(Errno::EINVAL);
        }
        // Not into itself.
        let mut p = Some(at.mount.clone());
        while let Some(cur) = p {
            if Arc::ptr_eq(&cur, m) {
                return Err(Errno::ELOOP);
            }
            p = cur.parent().map(|l| l.mount);
        }
        unhook(m);
        self.attach_tree(&g, &tree, at, true);
        Ok(())
    }

    /// pivot_root's move, once the caller has checked everything: the
    /// root mount `root_mnt` goes onto `put_old`, `new_mnt` onto the
    /// place `root_mnt` covered, and the lock goes with the root.
    pub fn pivot(&self, root_mnt: &Arc<Mount>, new_mnt: &Arc<Mount>, put_old: &Location) {
        let _g = self.lock_tree();
        unhook(new_mnt);
        let root_mp = unhook(root_mnt);
        if root_mnt.locked() {
            new_mnt.locked.store(true, Ordering::Release);
            root_mnt.locked.store(false, Ordering::Release);
        }
        hook(root_mnt, put_old);
        if let Some(mp) = root_mp {
            hook(new_mnt, &mp);
        }
    }

    /// Changes the propagation of `m` (and, with `recursive`, of every
    /// mount below it) to `kind`: one of `MS_SHARED`, `MS_PRIVATE`,
    /// `MS_SLAVE`, `MS_UNBINDABLE` (Linux's change_mnt_propagation). A
    /// mount that leaves a group with peers left (in any namespace of the
    /// family) becomes, with MS_SLAVE, their slave; one that was the
    /// last of its group hands the group's slaves to its own master.
    pub fn set_propagation(&self, m: &Arc<Mount>, kind: u64, recursive: bool) {
        let _g = self.lock_tree();
        let graph = Graph::collect(&self.shared);
        let targets = if recursive {
            Self::subtree(&self.mounts.read(), m)
        } else {
            alloc::vec![m.clone()]
        };
        for t in &targets {
            let cur = t.propagation();
            if kind == abi::MS_SHARED {
                let group = if cur.group != 0 {
                    cur.group
                } else {
                    self.shared.group()
                };
                *t.prop.lock() = Propagation {
                    group,
                    master: cur.master,
                    unbindable: false,
                };
                continue;
            }
            let has_peers = cur.group != 0 && graph.peers(cur.group).any(|o| !Arc::ptr_eq(o, t));
            let master = if has_peers { cur.group } else { cur.master };
            graph.leave_group(&self.shared, t);
            *t.prop.lock() = match kind {
                abi::MS_SLAVE => Propagation {
                    group: 0,
                    master,
                    unbindable: cur.unbindable,
                },
                abi::MS_UNBINDABLE => Propagation {
                    group: 0,
                    master: 0,
                    unbindable: true,
                },
                _ => Propagation::default(),
            };
        }
    }

    /// A copy of this namespace for unshare(CLONE_NEWNS) (Linux's
    /// copy_mnt_ns): new mounts over the same filesystems, keeping flags,
    /// locks and propagation (so the copy of a shared mount is a peer of
    /// it, and of a slave a slave of the same master); `fs`'s root and
    /// working directory move to the copies of their mounts.
    pub fn copy(&self, fs: &mut FsContext) -> Arc<MountNamespace> {
        let _g = self.lock_tree();
        let old = self.mounts.read().clone();
        let shared = self.shared.clone();
        let new_ns = Arc::new_cyclic(|me: &Weak<MountNamespace>| {
            let pairs: Vec<(Arc<Mount>, Arc<Mount>)> = old
                .iter()
                .map(|o| {
                    let n = Mount::new(
                        Some(&shared),
                        o.root.clone(),
                        o.sb.clone(),
                        me.clone(),
                        None,
                        o.flags(),
                    );
                    n.locked.store(o.locked(), Ordering::Release);
                    *n.prop.lock() = o.propagation();
                    (o.clone(), n)
                })
                .collect();
            for (o, n) in &pairs {
                if let Some(mp) = o.parent() {
                    if let Some((_, np)) = pairs.iter().find(|(x, _)| Arc::ptr_eq(x, &mp.mount)) {
                        hook(
                            n,
                            &Location {
                                mount: np.clone(),
                                dentry: mp.dentry,
                            },
                        );
                    }
                }
            }
            let rootfs = pairs
                .iter()
                .find(|(o, _)| Arc::ptr_eq(o, &self.rootfs))
                .map(|(_, n)| n.clone())
                .unwrap_or_else(|| pairs[0].1.clone());
            let map = |loc: &mut Location| {
                if let Some((_, n)) = pairs.iter().find(|(o, _)| Arc::ptr_eq(o, &loc.mount)) {
                    loc.mount = n.clone();
                }
            };
            map(&mut fs.root);
            map(&mut fs.cwd);
            MountNamespace {
                me: me.clone(),
                shared,
                mounts: RwLock::new(pairs.into_iter().map(|(_, n)| n).collect()),
                rootfs,
                ns_id: next_ns_id(),
                anon: false,
            }
        });
        self.shared.register(&new_ns);
        new_ns
    }
}

/// The hidden rootfs at the top of a namespace: an empty directory.
struct RootfsInode;

impl Inode for RootfsInode {
    fn attr(&self) -> Result<InodeAttr, Errno> {
        Ok(InodeAttr {
            dev: veil_abi::makedev(0, 1),
            ino: 1,
            mode: veil_abi::flags::S_IFDIR | 0o755,
            nlink: 2,
            blksize: 4096,
            ..Default::default()
        })
    }

    fn lookup(&self, _cx: &Task, _name: &[u8]) -> Result<InodeRef, Errno> {
        Err(Errno::ENOENT)
    }

    fn readdir(&self, _offset: u64, _sink: &mut dyn FnMut(DirEntry) -> bool) -> Result<(), Errno> {
        Ok(())
    }

    fn mknod(
        &self,
        _name: &[u8],
        _kind: super::FileType,
        _mode: u32,
        _rdev: u64,
        _owner: super::Owner,
    ) -> Result<InodeRef, Errno> {
        Err(Errno::EROFS)
    }

    fn mkdir(&self, _name: &[u8], _mode: u32, _owner: super::Owner) -> Result<InodeRef, Errno> {
        Err(Errno::EROFS)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
