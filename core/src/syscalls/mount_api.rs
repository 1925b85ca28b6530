//! Linux's file-descriptor based mount API: fsopen, fsconfig, fsmount,
//! fspick, move_mount, open_tree, mount_setattr, and the mount listing
//! calls statmount and listmount (Linux 6.8+).
//!
//! A filesystem context ([`FsContextFile`], what fsopen and fspick give)
//! follows Linux's fs_context states: parameters are taken while the
//! context is being set up (`FS_CONTEXT_CREATE_PARAMS`) or after a
//! reconfiguration (`RECONF_PARAMS`), and any later one is `EBUSY`;
//! FSCONFIG_CMD_CREATE makes the filesystem instance once (`EBUSY` after;
//! a failure leaves the context failed), fsmount mounts it once, after
//! which the context reconfigures that instance (as fspick's does).
//! Parameters go to the same place mount(2)'s option string goes: the
//! generic superblock flags (`ro`, `sync`, ...) are taken first, `source`
//! is the mount's source, and each other one is tried at once against
//! the installed [`FilesystemTypes`] (a flag as `key`, a string as
//! `key=value`), so an unknown parameter or bad value is `EINVAL` at
//! fsconfig as in Linux, with the message Linux logs readable from the
//! context fd ("e tmpfs: Unknown parameter 'x'"; a bad string value is
//! reported as "Bad value for"). None of veil's filesystems takes a
//! binary blob, a path or a file: those are `EINVAL` for every key but the
//! generic flags, as in Linux for tmpfs, proc, sysfs, devpts and cgroup2.
//! FSCONFIG_CMD_CREATE_EXCL is `EBUSY` for a single-instance filesystem
//! (sysfs, cgroup2), which would be reused.
//!
//! fsmount and open_tree(OPEN_TREE_CLONE) make a *detached* mount tree:
//! an anonymous mount namespace ([`MountNamespace::is_anon`]) that
//! mountinfo, listmount and statmount do not show, reached through the
//! O_PATH descriptor returned ([`DetachedTree`]); its last close unmounts
//! the tree lazily (Linux's dissolve_on_fput) unless move_mount attached
//! it somewhere, with propagation as a mount(2) there. move_mount also
//! moves attached mounts as MS_MOVE does. MOVE_MOUNT_BENEATH,
//! MOVE_MOUNT_SET_GROUP and mounting onto a detached tree are not served
//! (`EINVAL`).
//!
//! mount_setattr changes per-mount flags and propagation of a mount or,
//! with AT_RECURSIVE, its subtree, with Linux's checks of `struct
//! mount_attr` (size, atime enum, one propagation type). There is one
//! user namespace, so MOUNT_ATTR_IDMAP ends where Linux's does for the
//! initial one: `EPERM`.
//!
//! Every call here needs CAP_SYS_ADMIN, as mount(2) does, except a plain
//! open_tree (an O_PATH open) and statmount / listmount of mounts the
//! caller can reach from its root.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;

use spin::Mutex;
use veil_abi::flags::{AT_FDCWD, CAP_SYS_ADMIN, O_CLOEXEC, O_PATH, O_RDWR, RLIMIT_NOFILE};
use veil_abi::mount::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, PAGE_SIZE};

use super::{arg, Handler};
use crate::task::Task;
use crate::vfs::mount::{
    is_subdir, mnt, path_within, Mount, MountNamespace, MountOption, Super, MNT_UNIQUE_ID_OFFSET,
};
use crate::vfs::node::FileOps;
use crate::vfs::nsfs::{NsFile, NsKind};
use crate::vfs::open::PathFile;
use crate::vfs::walk::{self, WalkFlags};
use crate::vfs::{FileType, Location, OpenFile};
use crate::{SysResult, UserAddr};

/// The handler for `nr` if this family serves it.
pub fn handler(nr: u64) -> Option<Handler> {
    Some(match nr {
        FSOPEN => sys_fsopen,
        FSCONFIG => sys_fsconfig,
        FSMOUNT => sys_fsmount,
        FSPICK => sys_fspick,
        MOVE_MOUNT => sys_move_mount,
        OPEN_TREE => sys_open_tree,
        MOUNT_SETATTR => sys_mount_setattr,
        STATMOUNT => sys_statmount,
        LISTMOUNT => sys_listmount,
        _ => return None,
    })
}

const FSOPEN_CLOEXEC: u32 = 1;
const FSPICK_CLOEXEC: u32 = 1;
const FSPICK_SYMLINK_NOFOLLOW: u32 = 2;
const FSPICK_NO_AUTOMOUNT: u32 = 4;
const FSPICK_EMPTY_PATH: u32 = 8;
const FSMOUNT_CLOEXEC: u32 = 1;

const FSCONFIG_SET_FLAG: u32 = 0;
const FSCONFIG_SET_STRING: u32 = 1;
const FSCONFIG_SET_BINARY: u32 = 2;
const FSCONFIG_SET_PATH: u32 = 3;
const FSCONFIG_SET_PATH_EMPTY: u32 = 4;
const FSCONFIG_SET_FD: u32 = 5;
const FSCONFIG_CMD_CREATE: u32 = 6;
const FSCONFIG_CMD_RECONFIGURE: u32 = 7;
const FSCONFIG_CMD_CREATE_EXCL: u32 = 8;

const MOVE_MOUNT_F_SYMLINKS: u32 = 0x01;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x04;
const MOVE_MOUNT_T_SYMLINKS: u32 = 0x10;
const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;
const MOVE_MOUNT_SET_GROUP: u32 = 0x100;
const MOVE_MOUNT_BENEATH: u32 = 0x200;
const MOVE_MOUNT_MASK: u32 = 0x377;

const OPEN_TREE_CLONE: u32 = 1;
const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
const AT_NO_AUTOMOUNT: u32 = 0x800;
const AT_EMPTY_PATH: u32 = 0x1000;
const AT_RECURSIVE: u32 = 0x8000;

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;
const MOUNT_ATTR_ATIME: u64 = 0x70;
const MOUNT_ATTR_RELATIME: u64 = 0x0;
const MOUNT_ATTR_NOATIME: u64 = 0x10;
const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
const MOUNT_ATTR_IDMAP: u64 = 0x10_0000;
const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x20_0000;
/// The flags fsmount takes.
const FSMOUNT_VALID: u64 = MOUNT_ATTR_RDONLY
    | MOUNT_ATTR_NOSUID
    | MOUNT_ATTR_NODEV
    | MOUNT_ATTR_NOEXEC
    | MOUNT_ATTR_ATIME
    | MOUNT_ATTR_NODIRATIME
    | MOUNT_ATTR_NOSYMFOLLOW;
const SETATTR_VALID: u64 = FSMOUNT_VALID | MOUNT_ATTR_IDMAP;
/// `struct mount_attr`'s first published size.
const MOUNT_ATTR_SIZE_VER0: u64 = 32;
const PROPAGATION_FLAGS: u64 = MS_UNBINDABLE | MS_PRIVATE | MS_SLAVE | MS_SHARED;

const STATMOUNT_SB_BASIC: u64 = 0x1;
const STATMOUNT_MNT_BASIC: u64 = 0x2;
const STATMOUNT_PROPAGATE_FROM: u64 = 0x4;
const STATMOUNT_MNT_ROOT: u64 = 0x8;
const STATMOUNT_MNT_POINT: u64 = 0x10;
const STATMOUNT_FS_TYPE: u64 = 0x20;
const STATMOUNT_MNT_NS_ID: u64 = 0x40;
const STATMOUNT_MNT_OPTS: u64 = 0x80;
const STATMOUNT_SB_SOURCE: u64 = 0x200;
const STATMOUNT_SUPPORTED_MASK: u64 = 0x1000;
/// What statmount answers here.
const STATMOUNT_SUPPORTED: u64 = STATMOUNT_SB_BASIC
    | STATMOUNT_MNT_BASIC
    | STATMOUNT_PROPAGATE_FROM
    | STATMOUNT_MNT_ROOT
    | STATMOUNT_MNT_POINT
    | STATMOUNT_FS_TYPE
    | STATMOUNT_MNT_NS_ID
    | STATMOUNT_MNT_OPTS
    | STATMOUNT_SB_SOURCE
    | STATMOUNT_SUPPORTED_MASK;
/// The requests that produce strings.
const STATMOUNT_STRING_REQ: u64 =
    0x8 | 0x10 | 0x20 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800 | 0x2000 | 0x4000;
/// `sizeof(struct statmount)` (its fixed part).
const STATMOUNT_SIZE: usize = 512;
const MNT_ID_REQ_SIZE_VER0: u32 = 24;
const MNT_ID_REQ_SIZE_VER1: usize = 32;
const LSMT_ROOT: u64 = u64::MAX;
const LISTMOUNT_REVERSE: u32 = 1;

/// The caller's mount namespace.
fn namespace(t: &Task) -> Arc<MountNamespace> {
    t.tg.mount_namespace(&t.kernel)
}

fn capable(t: &Task) -> Result<(), Errno> {
    if t.creds.capable(CAP_SYS_ADMIN) {
        Ok(())
    } else {
        Err(Errno::EPERM)
    }
}

fn mounted(loc: &Location) -> bool {
    Arc::ptr_eq(&loc.dentry, &loc.mount.root)
}

fn is_dir(loc: &Location) -> Result<bool, Errno> {
    Ok(loc.inode().attr()?.file_type() == Some(FileType::Directory))
}

fn install(t: &Task, file: Arc<OpenFile>, cloexec: bool) -> SysResult {
    let limit = t.rlimit(RLIMIT_NOFILE);
    Ok(t.fds.insert(0, file, cloexec, limit)? as u64)
}

/// A user string of at most `max - 1` bytes (Linux's strndup_user):
/// `EINVAL` if longer.
fn user_string(t: &Task, addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
    match t.mm.read_cstring(UserAddr(addr), max) {
        Err(Errno::ENAMETOOLONG) => Err(Errno::EINVAL),
        r => r,
    }
}

/// Reads a versioned structure of `usize` bytes into `known` (Linux's
/// copy_struct_from_user): bytes past what this kernel knows must be
/// zero (`E2BIG`).
fn copy_struct(t: &Task, addr: u64, usize: usize, known: &mut [u8]) -> Result<(), Errno> {
    let n = usize.min(known.len());
    t.mm.copy_in(UserAddr(addr), &mut known[..n])?;
    if usize > known.len() {
        let mut rest = alloc::vec![0u8; usize - known.len()];
        t.mm.copy_in(UserAddr(addr + known.len() as u64), &mut rest)?;
        if rest.iter().any(|&b| b != 0) {
            return Err(Errno::E2BIG);
        }
    }
    Ok(())
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(w)
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(w)
}

// ---------------------------------------------------------------------
// Filesystem contexts.

/// Where a filesystem context is (Linux's `enum fs_context_phase`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Taking parameters for a new instance.
    CreateParams,
    /// Created, waiting for fsmount.
    AwaitingMount,
    /// Mounted (or picked): the next parameter starts a reconfiguration.
    AwaitingReconf,
    /// Taking parameters for a reconfiguration.
    ReconfParams,
    /// A create or reconfigure failed: nothing more is taken.
    Failed,
}

struct CtxState {
    phase: Phase,
    source: Option<Vec<u8>>,
    /// The filesystem's own parameters, in order.
    opts: Vec<MountOption>,
    /// `MS_*` superblock flags set, and the mask of those named.
    sb_flags: u64,
    sb_mask: u64,
    /// The instance, once created (or the one picked).
    sb: Option<Arc<Super>>,
    /// Messages for read(2), oldest first.
    log: VecDeque<String>,
}

impl CtxState {
    fn clean(&mut self) {
        self.opts.clear();
        self.sb_flags = 0;
        self.sb_mask = 0;
        self.phase = Phase::AwaitingReconf;
    }

    fn say(&mut self, msg: String) {
        // Linux keeps the last eight.
        if self.log.len() == 8 {
            self.log.pop_front();
        }
        self.log.push_back(msg);
    }
}

/// The object behind an fsopen / fspick descriptor (Linux's
/// `[fscontext]` anonymous inode): read(2) gives the log.
pub struct FsContextFile {
    fs_type: String,
    state: Mutex<CtxState>,
}

impl FsContextFile {
    fn new(fs_type: String, phase: Phase, sb: Option<Arc<Super>>) -> FsContextFile {
        FsContextFile {
            fs_type,
            state: Mutex::new(CtxState {
                phase,
                source: None,
                opts: Vec::new(),
                sb_flags: 0,
                sb_mask: 0,
                sb,
                log: VecDeque::new(),
            }),
        }
    }
}

impl FileOps for FsContextFile {
    /// One log message per read, "e "/"w "/"i " and the text with a
    /// newline; `ENODATA` when there is none, `EMSGSIZE` (the message
    /// is lost) if it does not fit.
    fn read(&self, buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        let msg = self.state.lock().log.pop_front().ok_or(Errno::ENODATA)?;
        let b = msg.as_bytes();
        if b.len() > buf.len() {
            return Err(Errno::EMSGSIZE);
        }
        buf[..b.len()].copy_from_slice(b);
        Ok(b.len())
    }

    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn seekable(&self) -> bool {
        false
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The object behind a descriptor of a detached mount tree (fsmount,
/// open_tree(OPEN_TREE_CLONE)): an O_PATH file whose last close
/// dissolves the tree if it is still detached.
pub struct DetachedTree {
    ns: Arc<MountNamespace>,
}

impl FileOps for DetachedTree {
    fn read(&self, _buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EBADF)
    }

    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EBADF)
    }

    fn seekable(&self) -> bool {
        false
    }

    fn release(&self) {
        self.ns.dissolve();
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn detached_fd(t: &Task, ns: Arc<MountNamespace>, cloexec: bool) -> SysResult {
    let top = ns.detached_top().ok_or(Errno::EINVAL)?;
    let loc = Location {
        dentry: top.root.clone(),
        mount: top,
    };
    let file = OpenFile::new(Arc::new(DetachedTree { ns }), Some(loc), O_PATH);
    install(t, file, cloexec)
}

fn sys_fsopen(t: &mut Task, a: &[u64; 6]) -> SysResult {
    capable(t)?;
    let flags = arg::uint(a[1]);
    if flags & !FSOPEN_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    let name = user_string(t, a[0], PAGE_SIZE as usize)?;
    let types = namespace(t).filesystems().cloned().ok_or(Errno::ENODEV)?;
    let name = String::from_utf8(name).map_err(|_| Errno::ENODEV)?;
    if !types.list().iter().any(|(n, _)| *n == name) {
        return Err(Errno::ENODEV);
    }
    let ctx = FsContextFile::new(name, Phase::CreateParams, None);
    let file = OpenFile::new(Arc::new(ctx), None, O_RDWR);
    install(t, file, flags & FSOPEN_CLOEXEC != 0)
}

/// A parameter's value as fsconfig passes it.
enum Value {
    Flag,
    Str(Vec<u8>),
    /// A blob, a path or a file: nothing here takes one.
    Other,
}

/// The generic superblock flags (Linux's vfs_parse_sb_flag): `(set,
/// clear)` for `key`.
fn sb_flag(key: &[u8]) -> Option<(u64, u64)> {
    Some(match key {
        b"dirsync" => (MS_DIRSYNC, 0),
        b"lazytime" => (MS_LAZYTIME, 0),
        b"mand" => (MS_MANDLOCK, 0),
        b"ro" => (MS_RDONLY, 0),
        b"sync" => (MS_SYNCHRONOUS, 0),
        b"async" => (0, MS_SYNCHRONOUS),
        b"nolazytime" => (0, MS_LAZYTIME),
        b"nomand" => (0, MS_MANDLOCK),
        b"rw" => (0, MS_RDONLY),
        _ => return None,
    })
}

fn sys_fsconfig(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (fd, cmd, key, value, aux) = (arg::fd(a[0]), arg::uint(a[1]), a[2], a[3], arg::int(a[4]));
    let bad = match cmd {
        FSCONFIG_SET_FLAG => key == 0 || value != 0 || aux != 0,
        FSCONFIG_SET_STRING => key == 0 || value == 0 || aux != 0,
        FSCONFIG_SET_BINARY => key == 0 || value == 0 || aux <= 0 || aux > 1024 * 1024,
        FSCONFIG_SET_PATH | FSCONFIG_SET_PATH_EMPTY => {
            key == 0 || value == 0 || (aux != AT_FDCWD && aux < 0)
        }
        FSCONFIG_SET_FD => key == 0 || value != 0 || aux < 0,
        FSCONFIG_CMD_CREATE | FSCONFIG_CMD_RECONFIGURE | FSCONFIG_CMD_CREATE_EXCL => {
            key != 0 || value != 0 || aux != 0
        }
        _ => return Err(Errno::EOPNOTSUPP),
    };
    if bad {
        return Err(Errno::EINVAL);
    }
    let file = t.fds.file(fd)?;
    let Some(ctx) = file.ops.as_any().downcast_ref::<FsContextFile>() else {
        return Err(Errno::EINVAL);
    };
    let key = if key != 0 {
        Some(user_string(t, key, 256)?)
    } else {
        None
    };
    let val = match cmd {
        FSCONFIG_SET_FLAG => Value::Flag,
        FSCONFIG_SET_STRING => Value::Str(user_string(t, value, 256)?),
        FSCONFIG_SET_BINARY => {
            let mut blob = alloc::vec![0u8; aux as usize];
            t.mm.copy_in(UserAddr(value), &mut blob)?;
            Value::Other
        }
        FSCONFIG_SET_PATH | FSCONFIG_SET_PATH_EMPTY => {
            let p = t.read_path(value)?;
            if p.is_empty() && cmd == FSCONFIG_SET_PATH {
                return Err(Errno::ENOENT);
            }
            Value::Other
        }
        FSCONFIG_SET_FD => {
            t.fds.file(aux)?;
            Value::Other
        }
        _ => Value::Flag,
    };
    let mut st = ctx.state.lock();
    if st.phase == Phase::AwaitingReconf {
        st.phase = Phase::ReconfParams;
    }
    match cmd {
        FSCONFIG_CMD_CREATE | FSCONFIG_CMD_CREATE_EXCL => {
            create(t, ctx, &mut st, cmd == FSCONFIG_CMD_CREATE_EXCL)
        }
        FSCONFIG_CMD_RECONFIGURE => reconfigure(t, &mut st),
        _ => {
            if !matches!(st.phase, Phase::CreateParams | Phase::ReconfParams) {
                return Err(Errno::EBUSY);
            }
            parse_param(t, ctx, &mut st, key.unwrap_or_default(), val)
        }
    }
}

/// One parameter (Linux's vfs_parse_fs_param).
fn parse_param(
    t: &Task,
    ctx: &FsContextFile,
    st: &mut CtxState,
    key: Vec<u8>,
    val: Value,
) -> SysResult {
    if let Some((set, clear)) = sb_flag(&key) {
        st.sb_flags = (st.sb_flags | set) & !clear;
        st.sb_mask |= set | clear;
        return Ok(0);
    }
    let name = String::from_utf8_lossy(&key).into_owned();
    if key == b"source" {
        let Value::Str(s) = val else {
            st.say(format!("e {}: Non-string source\n", ctx.fs_type));
            return Err(Errno::EINVAL);
        };
        if st.source.is_some() {
            st.say(format!("e {}: Multiple sources\n", ctx.fs_type));
            return Err(Errno::EINVAL);
        }
        st.source = Some(s);
        return Ok(0);
    }
    let opt = match val {
        Value::Flag => MountOption { key, value: None },
        Value::Str(s) => MountOption {
            key,
            value: Some(s),
        },
        Value::Other => {
            st.say(format!("e {}: Unknown parameter '{name}'\n", ctx.fs_type));
            return Err(Errno::EINVAL);
        }
    };
    // Tried alone, as Linux parses each parameter when it comes.
    let types = namespace(t).filesystems().cloned().ok_or(Errno::ENODEV)?;
    let source = st.source.clone().unwrap_or_else(|| b"none".to_vec());
    let string = opt.value.is_some();
    if let Err(e) = types.make(
        t,
        ctx.fs_type.as_bytes(),
        &source,
        core::slice::from_ref(&opt),
    ) {
        let what = if string {
            format!("Bad value for '{name}'")
        } else {
            format!("Unknown parameter '{name}'")
        };
        st.say(format!("e {}: {what}\n", ctx.fs_type));
        return Err(e);
    }
    st.opts.push(opt);
    Ok(0)
}

/// FSCONFIG_CMD_CREATE(_EXCL): the instance (Linux's vfs_cmd_create).
fn create(t: &Task, ctx: &FsContextFile, st: &mut CtxState, exclusive: bool) -> SysResult {
    if st.phase != Phase::CreateParams {
        return Err(Errno::EBUSY);
    }
    capable(t)?;
    let types = namespace(t).filesystems().cloned().ok_or(Errno::ENODEV)?;
    let source = st.source.clone().unwrap_or_else(|| b"none".to_vec());
    let fs = match types.make(t, ctx.fs_type.as_bytes(), &source, &st.opts) {
        Ok(fs) => fs,
        Err(e) => {
            st.phase = Phase::Failed;
            return Err(e);
        }
    };
    // A single-instance filesystem is held by the types too.
    if exclusive && Arc::strong_count(&fs) > 1 {
        st.phase = Phase::Failed;
        st.say(format!(
            "e {}: reusing existing filesystem not allowed\n",
            ctx.fs_type
        ));
        return Err(Errno::EBUSY);
    }
    let source = String::from_utf8_lossy(&source).into_owned();
    st.sb = Some(Super::create(&ctx.fs_type, &source, fs, st.sb_flags));
    st.phase = Phase::AwaitingMount;
    Ok(0)
}

/// FSCONFIG_CMD_RECONFIGURE (Linux's vfs_cmd_reconfigure): the
/// filesystem's parameters, then the superblock flags named.
fn reconfigure(t: &Task, st: &mut CtxState) -> SysResult {
    if st.phase != Phase::ReconfParams {
        return Err(Errno::EBUSY);
    }
    let Some(sb) = st.sb.clone() else {
        return Err(Errno::EBUSY);
    };
    if capable(t).is_err() {
        st.phase = Phase::Failed;
        return Err(Errno::EPERM);
    }
    let r = match sb.filesystem() {
        Some(fs) => fs.reconfigure(&st.opts),
        None if st.opts.is_empty() => Ok(()),
        None => Err(Errno::EINVAL),
    };
    if let Err(e) = r {
        st.phase = Phase::Failed;
        return Err(e);
    }
    let mask = st.sb_mask & crate::vfs::mount::SB_FLAGS;
    sb.set_flags((sb.flags() & !mask) | (st.sb_flags & mask));
    st.clean();
    Ok(0)
}

fn sys_fsmount(t: &mut Task, a: &[u64; 6]) -> SysResult {
    capable(t)?;
    let (fd, flags, attr) = (arg::fd(a[0]), arg::uint(a[1]), a[2] as u32 as u64);
    if flags & !FSMOUNT_CLOEXEC != 0 || attr & !FSMOUNT_VALID != 0 {
        return Err(Errno::EINVAL);
    }
    let mut mnt_flags = attr_to_mnt(attr);
    match attr & MOUNT_ATTR_ATIME {
        MOUNT_ATTR_STRICTATIME => {}
        MOUNT_ATTR_NOATIME => mnt_flags |= mnt::NOATIME,
        MOUNT_ATTR_RELATIME => mnt_flags |= mnt::RELATIME,
        _ => return Err(Errno::EINVAL),
    }
    let file = t.fds.file(fd)?;
    let Some(ctx) = file.ops.as_any().downcast_ref::<FsContextFile>() else {
        return Err(Errno::EINVAL);
    };
    let mut st = ctx.state.lock();
    let sb = st.sb.clone().ok_or(Errno::EINVAL)?;
    if st.phase != Phase::AwaitingMount {
        return Err(Errno::EBUSY);
    }
    let ns = namespace(t).mount_detached(&sb, mnt_flags);
    sb.report_unmount_to(&t.kernel.inotify);
    st.clean();
    drop(st);
    detached_fd(t, ns, flags & FSMOUNT_CLOEXEC != 0)
}

/// The `MOUNT_ATTR_*` bits that are per-mount flags one to one (not the
/// atime enum).
const ATTR_FLAGS: [(u64, u32); 6] = [
    (MOUNT_ATTR_RDONLY, mnt::READONLY),
    (MOUNT_ATTR_NOSUID, mnt::NOSUID),
    (MOUNT_ATTR_NODEV, mnt::NODEV),
    (MOUNT_ATTR_NOEXEC, mnt::NOEXEC),
    (MOUNT_ATTR_NODIRATIME, mnt::NODIRATIME),
    (MOUNT_ATTR_NOSYMFOLLOW, mnt::NOSYMFOLLOW),
];

/// The per-mount flags of `MOUNT_ATTR_*` bits (not the atime enum).
fn attr_to_mnt(attr: u64) -> u32 {
    ATTR_FLAGS
        .iter()
        .filter(|(a, _)| attr & a != 0)
        .fold(0, |f, (_, m)| f | m)
}

/// `MOUNT_ATTR_*` of a mount (Linux's mnt_to_attr_flags).
fn mnt_to_attr(flags: u32) -> u64 {
    let mut a = ATTR_FLAGS
        .iter()
        .filter(|(_, m)| flags & m != 0)
        .fold(0, |a, (at, _)| a | at);
    if flags & mnt::NOATIME != 0 {
        a |= MOUNT_ATTR_NOATIME;
    } else if flags & mnt::RELATIME == 0 {
        a |= MOUNT_ATTR_STRICTATIME;
    }
    a
}

fn sys_fspick(t: &mut Task, a: &[u64; 6]) -> SysResult {
    capable(t)?;
    let flags = arg::uint(a[2]);
    let known = FSPICK_CLOEXEC | FSPICK_SYMLINK_NOFOLLOW | FSPICK_NO_AUTOMOUNT | FSPICK_EMPTY_PATH;
    if flags & !known != 0 {
        return Err(Errno::EINVAL);
    }
    let path = t.read_path(a[1])?;
    let wf = WalkFlags {
        follow: flags & FSPICK_SYMLINK_NOFOLLOW == 0,
        empty_ok: flags & FSPICK_EMPTY_PATH != 0,
    };
    let loc = walk::resolve(t, arg::fd(a[0]), &path, wf)?;
    if !mounted(&loc) {
        return Err(Errno::EINVAL);
    }
    let sb = loc.mount.sb().clone();
    let ctx = FsContextFile::new(sb.fs_type().into(), Phase::AwaitingReconf, Some(sb));
    let file = OpenFile::new(Arc::new(ctx), None, O_RDWR);
    install(t, file, flags & FSPICK_CLOEXEC != 0)
}

/// A path argument with AT_EMPTY_PATH-like `empty_ok`.
fn resolve(t: &Task, dfd: u64, path: u64, follow: bool, empty_ok: bool) -> Result<Location, Errno> {
    let p = t.read_path(path)?;
    walk::resolve(t, arg::fd(dfd), &p, WalkFlags { follow, empty_ok })
}

fn sys_move_mount(t: &mut Task, a: &[u64; 6]) -> SysResult {
    capable(t)?;
    let flags = arg::uint(a[4]);
    if flags & !MOVE_MOUNT_MASK != 0
        || flags & (MOVE_MOUNT_BENEATH | MOVE_MOUNT_SET_GROUP)
            == MOVE_MOUNT_BENEATH | MOVE_MOUNT_SET_GROUP
    {
        return Err(Errno::EINVAL);
    }
    let from = resolve(
        t,
        a[0],
        a[1],
        flags & MOVE_MOUNT_F_SYMLINKS != 0,
        flags & MOVE_MOUNT_F_EMPTY_PATH != 0,
    )?;
    let to = resolve(
        t,
        a[2],
        a[3],
        flags & MOVE_MOUNT_T_SYMLINKS != 0,
        flags & MOVE_MOUNT_T_EMPTY_PATH != 0,
    )?;
    if flags & (MOVE_MOUNT_BENEATH | MOVE_MOUNT_SET_GROUP) != 0 {
        t.kernel
            .note_unsupported("move_mount: MOVE_MOUNT_BENEATH / SET_GROUP (EINVAL)");
        return Err(Errno::EINVAL);
    }
    let at = walk::cross_mounts(t, to);
    let ns = namespace(t);
    if !at.mount.in_namespace(&ns) {
        return Err(Errno::EINVAL);
    }
    let old = from.mount.clone();
    let attached = old.parent().is_some();
    let home = old.namespace().ok_or(Errno::EINVAL)?;
    let movable = if attached {
        Arc::ptr_eq(&home, &ns)
    } else {
        home.detached_top()
            .is_some_and(|top| Arc::ptr_eq(&top, &old))
    };
    if !movable || old.locked() || !mounted(&from) {
        return Err(Errno::EINVAL);
    }
    if is_dir(&at)? != is_dir(&from)? {
        return Err(Errno::EINVAL);
    }
    if attached {
        ns.move_mount(&old, &at)
    } else {
        ns.attach_detached(&home, &at)
    }?;
    Ok(0)
}

fn sys_open_tree(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let flags = arg::uint(a[2]);
    let known = AT_EMPTY_PATH
        | AT_NO_AUTOMOUNT
        | AT_RECURSIVE
        | AT_SYMLINK_NOFOLLOW
        | OPEN_TREE_CLONE
        | O_CLOEXEC;
    if flags & !known != 0 || flags & (AT_RECURSIVE | OPEN_TREE_CLONE) == AT_RECURSIVE {
        return Err(Errno::EINVAL);
    }
    let detached = flags & OPEN_TREE_CLONE != 0;
    if detached {
        capable(t)?;
    }
    let loc = resolve(
        t,
        a[0],
        a[1],
        flags & AT_SYMLINK_NOFOLLOW == 0,
        flags & AT_EMPTY_PATH != 0,
    )?;
    let cloexec = flags & O_CLOEXEC != 0;
    if !detached {
        let file = OpenFile::new(Arc::new(PathFile), Some(loc), O_PATH);
        return install(t, file, cloexec);
    }
    let recursive = flags & AT_RECURSIVE != 0;
    let ns = namespace(t);
    super::mount::may_clone(&ns, &loc, recursive)?;
    let tree = ns.clone_detached(&loc, recursive);
    detached_fd(t, tree, cloexec)
}

fn sys_mount_setattr(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (dfd, path, flags, uattr, usize) = (a[0], a[1], arg::uint(a[2]), a[3], a[4]);
    if flags & !(AT_EMPTY_PATH | AT_RECURSIVE | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT) != 0 {
        return Err(Errno::EINVAL);
    }
    if usize > PAGE_SIZE {
        return Err(Errno::E2BIG);
    }
    if usize < MOUNT_ATTR_SIZE_VER0 {
        return Err(Errno::EINVAL);
    }
    capable(t)?;
    let mut raw = [0u8; 32];
    copy_struct(t, uattr, usize as usize, &mut raw)?;
    let (set, clr, prop, userns) = (
        u64_at(&raw, 0),
        u64_at(&raw, 8),
        u64_at(&raw, 16),
        u64_at(&raw, 24),
    );
    if set == 0 && clr == 0 && prop == 0 {
        return Ok(0);
    }
    // Linux's build_mount_kattr.
    if prop & !PROPAGATION_FLAGS != 0 || (prop & PROPAGATION_FLAGS).count_ones() > 1 {
        return Err(Errno::EINVAL);
    }
    if (set | clr) & !SETATTR_VALID != 0 {
        return Err(Errno::EINVAL);
    }
    let mut kset = attr_to_mnt(set);
    let mut kclr = attr_to_mnt(clr);
    if clr & MOUNT_ATTR_ATIME != 0 {
        if clr & MOUNT_ATTR_ATIME != MOUNT_ATTR_ATIME {
            return Err(Errno::EINVAL);
        }
        kclr |= mnt::RELATIME | mnt::NOATIME;
        match set & MOUNT_ATTR_ATIME {
            MOUNT_ATTR_RELATIME => kset |= mnt::RELATIME,
            MOUNT_ATTR_NOATIME => kset |= mnt::NOATIME,
            MOUNT_ATTR_STRICTATIME => {}
            _ => return Err(Errno::EINVAL),
        }
    } else if set & MOUNT_ATTR_ATIME != 0 {
        return Err(Errno::EINVAL);
    }
    if (set | clr) & MOUNT_ATTR_IDMAP != 0 {
        if clr & MOUNT_ATTR_IDMAP != 0 || userns > i32::MAX as u64 {
            return Err(Errno::EINVAL);
        }
        let f = t.fds.file(userns as i32)?;
        let Some(nsf) = f.ops.as_any().downcast_ref::<NsFile>() else {
            return Err(Errno::EINVAL);
        };
        if nsf.namespace().kind() != NsKind::User {
            return Err(Errno::EINVAL);
        }
        // The only user namespace is the initial one, which cannot
        // idmap a mount.
        return Err(Errno::EPERM);
    }
    let loc = resolve(
        t,
        dfd,
        path,
        flags & AT_SYMLINK_NOFOLLOW == 0,
        flags & AT_EMPTY_PATH != 0,
    )?;
    if !mounted(&loc) {
        return Err(Errno::EINVAL);
    }
    let m = loc.mount.clone();
    let home = m.namespace().ok_or(Errno::EINVAL)?;
    let ok = if m.parent().is_some() {
        Arc::ptr_eq(&home, &namespace(t))
    } else {
        home.is_anon()
    };
    if !ok {
        return Err(Errno::EINVAL);
    }
    let recursive = flags & AT_RECURSIVE != 0;
    home.set_attr(&m, kset, kclr, recursive);
    if prop != 0 {
        home.set_propagation(&m, prop, recursive);
    }
    Ok(0)
}

// ---------------------------------------------------------------------
// statmount and listmount.

/// `struct mnt_id_req` (Linux's copy_mnt_id_req): (mnt_id, param,
/// mnt_ns_id).
fn mnt_id_req(t: &Task, addr: u64) -> Result<(u64, u64, u64), Errno> {
    let size: u32 = t.mm.read_obj(UserAddr(addr))?;
    if size as u64 > PAGE_SIZE {
        return Err(Errno::E2BIG);
    }
    if size < MNT_ID_REQ_SIZE_VER0 {
        return Err(Errno::EINVAL);
    }
    let mut raw = [0u8; MNT_ID_REQ_SIZE_VER1];
    copy_struct(t, addr, size as usize, &mut raw)?;
    let (spare, id, param, ns_id) = (
        u32_at(&raw, 4),
        u64_at(&raw, 8),
        u64_at(&raw, 16),
        u64_at(&raw, 24),
    );
    if spare != 0 || id <= MNT_UNIQUE_ID_OFFSET {
        return Err(Errno::EINVAL);
    }
    Ok((id, param, ns_id))
}

/// The namespace a request names (0: the caller's) and the root its
/// mounts are seen from.
fn requested_ns(t: &Task, ns_id: u64) -> Result<(Arc<MountNamespace>, Location), Errno> {
    let own = namespace(t);
    if ns_id == 0 || ns_id == own.ns_id() {
        let root = t.fs.lock().root.clone();
        return Ok((own, root));
    }
    let ns = own.family_namespace(ns_id).ok_or(Errno::ENOENT)?;
    if !t.creds.capable(CAP_SYS_ADMIN) {
        return Err(Errno::ENOENT);
    }
    let root = ns.root();
    Ok((ns, root))
}

/// True if `m`'s root can be reached from `root` (Linux's
/// is_path_reachable).
fn reachable(m: &Arc<Mount>, dentry: &Arc<crate::vfs::Dentry>, root: &Location) -> bool {
    let (mut m, mut d) = (m.clone(), dentry.clone());
    while !Arc::ptr_eq(&m, &root.mount) {
        match m.parent() {
            Some(p) => {
                d = p.dentry;
                m = p.mount;
            }
            None => return false,
        }
    }
    is_subdir(&d, &root.dentry)
}

/// What statmount builds: the fixed part and the strings after it.
struct Stat {
    fixed: [u8; STATMOUNT_SIZE],
    strings: Vec<u8>,
    mask: u64,
}

impl Stat {
    fn put32(&mut self, off: usize, v: u32) {
        self.fixed[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn put64(&mut self, off: usize, v: u64) {
        self.fixed[off..off + 8].copy_from_slice(&v.to_le_bytes());
    }
    /// A string at field `off` (an offset into the strings, which begin
    /// with an empty one); nothing if `s` is empty.
    fn string(&mut self, flag: u64, off: usize, s: &[u8]) {
        if s.is_empty() {
            return;
        }
        if self.strings.is_empty() {
            self.strings.push(0);
        }
        let start = self.strings.len() as u32;
        self.strings.extend_from_slice(s);
        self.strings.push(0);
        self.put32(off, start);
        self.mask |= flag;
    }
}

fn sys_statmount(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (req, buf, bufsize, flags) = (a[0], a[1], a[2] as usize, arg::uint(a[3]));
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let (id, want, ns_id) = mnt_id_req(t, req)?;
    let (ns, root) = requested_ns(t, ns_id)?;
    if want & STATMOUNT_STRING_REQ != 0 && bufsize == STATMOUNT_SIZE {
        return Err(Errno::EOVERFLOW);
    }
    let m = ns.find_unique(id).ok_or(Errno::ENOENT)?;
    if !reachable(&m, &m.root, &root) && !t.creds.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let mut s = Stat {
        fixed: [0; STATMOUNT_SIZE],
        strings: Vec::new(),
        mask: 0,
    };
    let sb = m.sb();
    if want & STATMOUNT_SB_BASIC != 0 {
        let attr = sb.root().inode.attr()?;
        let (major, minor) = crate::mm::split_dev(attr.dev);
        s.put32(16, major as u32);
        s.put32(20, minor as u32);
        let magic = sb.root().inode.statfs().map(|f| f.f_type).unwrap_or(0);
        s.put64(24, magic as u64);
        let sbf = sb.flags() & (MS_RDONLY | MS_SYNCHRONOUS | MS_DIRSYNC | MS_LAZYTIME);
        s.put32(32, sbf as u32);
        s.mask |= STATMOUNT_SB_BASIC;
    }
    let prop = m.propagation();
    if want & STATMOUNT_MNT_BASIC != 0 {
        let parent = m.parent().map(|p| p.mount).unwrap_or_else(|| m.clone());
        s.put64(40, m.unique_id);
        s.put64(48, parent.unique_id);
        s.put32(56, m.id);
        s.put32(60, parent.id);
        s.put64(64, mnt_to_attr(m.flags()));
        let mut p = 0;
        if prop.group != 0 {
            p |= MS_SHARED;
        }
        if prop.master != 0 {
            p |= MS_SLAVE;
        }
        if prop.unbindable {
            p |= MS_UNBINDABLE;
        }
        if p == 0 {
            p = MS_PRIVATE;
        }
        s.put64(72, p);
        s.put64(80, prop.group as u64);
        s.put64(88, prop.master as u64);
        s.mask |= STATMOUNT_MNT_BASIC;
    }
    if want & STATMOUNT_PROPAGATE_FROM != 0 {
        s.put64(96, prop.master as u64);
        s.mask |= STATMOUNT_PROPAGATE_FROM;
    }
    if want & STATMOUNT_FS_TYPE != 0 {
        s.string(STATMOUNT_FS_TYPE, 36, m.fs_type().as_bytes());
    }
    if want & STATMOUNT_MNT_ROOT != 0 {
        s.string(STATMOUNT_MNT_ROOT, 104, &m.root_path());
    }
    if want & STATMOUNT_MNT_POINT != 0 {
        let me = Location {
            mount: m.clone(),
            dentry: m.root.clone(),
        };
        let point = path_within(&me, &root).unwrap_or_default();
        s.string(STATMOUNT_MNT_POINT, 108, &point);
    }
    if want & STATMOUNT_MNT_OPTS != 0 {
        let opts = sb
            .filesystem()
            .map(|f| f.show_options())
            .unwrap_or_default();
        let opts = opts.strip_prefix(',').unwrap_or(&opts);
        s.string(STATMOUNT_MNT_OPTS, 4, opts.as_bytes());
    }
    if want & STATMOUNT_SB_SOURCE != 0 {
        s.string(STATMOUNT_SB_SOURCE, 124, m.source().as_bytes());
    }
    if want & STATMOUNT_MNT_NS_ID != 0 {
        s.put64(112, ns.ns_id());
        s.mask |= STATMOUNT_MNT_NS_ID;
    }
    if want & STATMOUNT_SUPPORTED_MASK != 0 {
        s.put64(144, STATMOUNT_SUPPORTED);
        s.mask |= STATMOUNT_SUPPORTED_MASK;
    }
    if !s.strings.is_empty() && STATMOUNT_SIZE + s.strings.len() >= bufsize {
        return Err(Errno::EOVERFLOW);
    }
    let copysize = bufsize.min(STATMOUNT_SIZE);
    let mask = s.mask;
    s.put64(8, mask);
    let total = (copysize + s.strings.len()) as u32;
    s.put32(0, total);
    if !s.strings.is_empty() {
        t.mm.copy_out(UserAddr(buf + STATMOUNT_SIZE as u64), &s.strings)?;
    }
    t.mm.copy_out(UserAddr(buf), &s.fixed[..copysize])?;
    Ok(0)
}

fn sys_listmount(t: &mut Task, a: &[u64; 6]) -> SysResult {
    let (req, ids, n, flags) = (a[0], a[1], a[2], arg::uint(a[3]));
    if flags & !LISTMOUNT_REVERSE != 0 {
        return Err(Errno::EINVAL);
    }
    if n > 1_000_000 {
        return Err(Errno::EOVERFLOW);
    }
    if ids.checked_add(n * 8).is_none() {
        return Err(Errno::EFAULT);
    }
    let (parent_id, last, ns_id) = mnt_id_req(t, req)?;
    if last != 0 && last <= MNT_UNIQUE_ID_OFFSET {
        return Err(Errno::EINVAL);
    }
    let (ns, root) = requested_ns(t, ns_id)?;
    let orig = if parent_id == LSMT_ROOT {
        root.clone()
    } else {
        let m = ns.find_unique(parent_id).ok_or(Errno::ENOENT)?;
        Location {
            dentry: m.root.clone(),
            mount: m,
        }
    };
    if !reachable(&orig.mount, &orig.dentry, &root) && !t.creds.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let mut all = ns.all();
    all.sort_by_key(|m| m.unique_id);
    let reverse = flags & LISTMOUNT_REVERSE != 0;
    if reverse {
        all.reverse();
    }
    let mut out: Vec<u64> = Vec::new();
    for m in &all {
        if out.len() as u64 >= n {
            break;
        }
        if last != 0 && (reverse && m.unique_id >= last || !reverse && m.unique_id <= last) {
            continue;
        }
        if m.unique_id == parent_id || !reachable(m, &m.root, &orig) {
            continue;
        }
        out.push(m.unique_id);
    }
    let bytes: Vec<u8> = out.iter().flat_map(|v| v.to_le_bytes()).collect();
    t.mm.copy_out(UserAddr(ids), &bytes)?;
    Ok(out.len() as u64)
}

#[cfg(test)]
mod tests {
    use alloc::sync::Arc;
    use alloc::vec::Vec;

    use veil_abi::flags::AT_FDCWD;
    use veil_abi::Errno;

    use super::*;
    use crate::syscalls::mount::tests::{bed, task};
    use crate::task::Task;

    /// Puts `s` (NUL-terminated) in user memory at slot `i`.
    fn s(t: &Task, i: u64, s: &str) -> u64 {
        let at = 0x10000 + i * 512;
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        t.mm.copy_out(UserAddr(at), &b).expect("copy_out");
        at
    }

    fn call(t: &mut Task, nr: u64, a: [u64; 5]) -> SysResult {
        (handler(nr).expect("served"))(t, &[a[0], a[1], a[2], a[3], a[4], 0])
    }

    fn at(t: &Task, path: &str) -> Result<Location, Errno> {
        walk::resolve(
            t,
            AT_FDCWD,
            path.as_bytes(),
            WalkFlags {
                follow: true,
                empty_ok: false,
            },
        )
    }

    fn fsopen(t: &mut Task) -> u64 {
        let name = s(t, 0, "fakefs");
        call(t, FSOPEN, [name, 0, 0, 0, 0]).expect("fsopen")
    }

    fn cfg(t: &mut Task, fd: u64, cmd: u32, key: Option<&str>, val: Option<&str>) -> SysResult {
        let k = key.map_or(0, |k| s(t, 1, k));
        let v = val.map_or(0, |v| s(t, 2, v));
        call(t, FSCONFIG, [fd, cmd as u64, k, v, 0])
    }

    fn move_detached(t: &mut Task, fd: u64, to: &str) -> SysResult {
        let (e, p) = (s(t, 3, ""), s(t, 4, to));
        call(
            t,
            MOVE_MOUNT,
            [fd, e, AT_FDCWD as u64, p, MOVE_MOUNT_F_EMPTY_PATH as u64],
        )
    }

    #[test]
    fn context_states_and_attach() {
        let tb = bed();
        let mut t = task(&tb, 0);
        let fd = fsopen(&mut t);
        let bogus = s(&t, 0, "ext4");
        assert_eq!(
            call(&mut t, FSOPEN, [bogus, 0, 0, 0, 0]),
            Err(Errno::ENODEV)
        );
        assert_eq!(
            cfg(&mut t, fd, FSCONFIG_SET_FLAG, Some("nope"), None),
            Err(Errno::EINVAL)
        );
        let mut buf = [0u8; 64];
        let f = t.fds.file(fd as i32).unwrap();
        let n = f.ops.read(&mut buf, 0).unwrap();
        assert_eq!(&buf[..n], b"e fakefs: Unknown parameter 'nope'\n");
        assert_eq!(f.ops.read(&mut buf, 0), Err(Errno::ENODATA));
        assert_eq!(cfg(&mut t, fd, FSCONFIG_SET_FLAG, Some("big"), None), Ok(0));
        assert_eq!(cfg(&mut t, fd, FSCONFIG_SET_FLAG, Some("ro"), None), Ok(0));
        assert_eq!(call(&mut t, FSMOUNT, [fd, 0, 0, 0, 0]), Err(Errno::EINVAL));
        assert_eq!(
            cfg(&mut t, fd, FSCONFIG_CMD_RECONFIGURE, None, None),
            Err(Errno::EBUSY)
        );
        assert_eq!(cfg(&mut t, fd, FSCONFIG_CMD_CREATE, None, None), Ok(0));
        assert_eq!(
            cfg(&mut t, fd, FSCONFIG_CMD_CREATE, None, None),
            Err(Errno::EBUSY)
        );
        assert_eq!(
            cfg(&mut t, fd, FSCONFIG_SET_FLAG, Some("big"), None),
            Err(Errno::EBUSY)
        );
        let before = t.tg.mount_namespace(&t.kernel).all().len();
        let m = call(&mut t, FSMOUNT, [fd, 0, MOUNT_ATTR_NOEXEC, 0, 0]).expect("fsmount");
        assert_eq!(call(&mut t, FSMOUNT, [fd, 0, 0, 0, 0]), Err(Errno::EBUSY));
        // Detached: not in the namespace.
        assert_eq!(t.tg.mount_namespace(&t.kernel).all().len(), before);
        assert_eq!(move_detached(&mut t, m, "/a"), Ok(0));
        let a = at(&t, "/a/x").unwrap();
        assert!(a.mount.read_only());
        assert_eq!(a.mount.check_exec(), Err(Errno::EACCES));
        assert_eq!(t.tg.mount_namespace(&t.kernel).all().len(), before + 1);
        // Closing the fd of an attached mount leaves it; the context now
        // reconfigures the instance.
        t.fds.remove(m as i32).unwrap();
        assert!(at(&t, "/a/x").is_ok());
        assert_eq!(cfg(&mut t, fd, FSCONFIG_SET_FLAG, Some("rw"), None), Ok(0));
        assert_eq!(cfg(&mut t, fd, FSCONFIG_CMD_RECONFIGURE, None, None), Ok(0));
        assert!(!at(&t, "/a/x").unwrap().mount.sb().read_only());
        // Unprivileged: EPERM first.
        let mut user = task(&tb, 1000);
        let name = s(&user, 0, "fakefs");
        assert_eq!(
            call(&mut user, FSOPEN, [name, 0, 0, 0, 0]),
            Err(Errno::EPERM)
        );
    }

    #[test]
    fn detached_copies_dissolve_at_last_close() {
        let tb = bed();
        let mut t = task(&tb, 0);
        let fd = fsopen(&mut t);
        cfg(&mut t, fd, FSCONFIG_CMD_CREATE, None, None).unwrap();
        let m = call(&mut t, FSMOUNT, [fd, 0, 0, 0, 0]).unwrap();
        move_detached(&mut t, m, "/a").unwrap();
        let fd2 = fsopen(&mut t);
        cfg(&mut t, fd2, FSCONFIG_CMD_CREATE, None, None).unwrap();
        let m2 = call(&mut t, FSMOUNT, [fd2, 0, 0, 0, 0]).unwrap();
        move_detached(&mut t, m2, "/a/sub").unwrap();
        let p = s(&t, 5, "/a");
        let flags = (OPEN_TREE_CLONE | AT_RECURSIVE) as u64;
        let tree = call(&mut t, OPEN_TREE, [AT_FDCWD as u64, p, flags, 0, 0]).unwrap();
        let f = t.fds.file(tree as i32).unwrap();
        let loc = f.location.clone().unwrap();
        let anon = loc.mount.namespace().unwrap();
        assert!(anon.is_anon());
        assert_eq!(anon.all().len(), 2);
        // The copy has the submount, and `..` stays at its top.
        let sub = walk::resolve(
            &t,
            tree as i32,
            b"sub/x",
            WalkFlags {
                follow: true,
                empty_ok: false,
            },
        )
        .unwrap();
        assert!(!Arc::ptr_eq(&sub.mount, &loc.mount));
        drop((f, sub));
        t.fds.remove(tree as i32).unwrap();
        assert_eq!(anon.all().len(), 0);
        assert!(loc.mount.namespace().is_none());
        // AT_RECURSIVE needs OPEN_TREE_CLONE; unknown flags are EINVAL.
        assert_eq!(
            call(
                &mut t,
                OPEN_TREE,
                [AT_FDCWD as u64, p, AT_RECURSIVE as u64, 0, 0]
            ),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            call(&mut t, OPEN_TREE, [AT_FDCWD as u64, p, 2, 0, 0]),
            Err(Errno::EINVAL)
        );
        // Moving an attached mount below itself: ELOOP.
        let (a, sub) = (s(&t, 5, "/a"), s(&t, 6, "/a/sub"));
        assert_eq!(
            call(
                &mut t,
                MOVE_MOUNT,
                [AT_FDCWD as u64, a, AT_FDCWD as u64, sub, 0]
            ),
            Err(Errno::ELOOP)
        );
        let b = s(&t, 6, "/b");
        assert_eq!(
            call(
                &mut t,
                MOVE_MOUNT,
                [AT_FDCWD as u64, a, AT_FDCWD as u64, b, 0]
            ),
            Ok(0)
        );
        assert!(at(&t, "/b/sub/x").is_ok());
    }

    fn setattr(t: &mut Task, path: &str, flags: u32, attr: [u64; 4], size: u64) -> SysResult {
        let p = s(t, 5, path);
        let buf = 0x10000 + 6 * 512;
        let bytes: Vec<u8> = attr.iter().flat_map(|v| v.to_le_bytes()).collect();
        t.mm.copy_out(UserAddr(buf), &bytes).unwrap();
        call(
            t,
            MOUNT_SETATTR,
            [AT_FDCWD as u64, p, flags as u64, buf, size],
        )
    }

    #[test]
    fn mount_setattr_checks_and_changes() {
        let tb = bed();
        let mut t = task(&tb, 0);
        let fd = fsopen(&mut t);
        cfg(&mut t, fd, FSCONFIG_CMD_CREATE, None, None).unwrap();
        let m = call(&mut t, FSMOUNT, [fd, 0, 0, 0, 0]).unwrap();
        move_detached(&mut t, m, "/a").unwrap();
        let rdonly = [MOUNT_ATTR_RDONLY, 0, 0, 0];
        assert_eq!(setattr(&mut t, "/a", 0, rdonly, 16), Err(Errno::EINVAL));
        assert_eq!(setattr(&mut t, "/a", 0, rdonly, 8192), Err(Errno::E2BIG));
        assert_eq!(setattr(&mut t, "/nope", 0, [0; 4], 32), Ok(0));
        assert_eq!(
            setattr(&mut t, "/a", 0, [MOUNT_ATTR_NOATIME, 0, 0, 0], 32),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            setattr(&mut t, "/a", 0, [0, 0, MS_SHARED | MS_SLAVE, 0], 32),
            Err(Errno::EINVAL)
        );
        assert_eq!(setattr(&mut t, "/a/sub", 0, rdonly, 32), Err(Errno::EINVAL));
        assert_eq!(
            setattr(&mut t, "/a", 0, [MOUNT_ATTR_IDMAP, 0, 0, 999], 32),
            Err(Errno::EBADF)
        );
        assert_eq!(setattr(&mut t, "/a", 0, rdonly, 32), Ok(0));
        let a = at(&t, "/a").unwrap();
        assert!(a.mount.read_only());
        let noatime = [
            MOUNT_ATTR_NOATIME,
            MOUNT_ATTR_ATIME | MOUNT_ATTR_RDONLY,
            0,
            0,
        ];
        assert_eq!(setattr(&mut t, "/a", 0, noatime, 32), Ok(0));
        assert_eq!(a.mount.flags(), mnt::NOATIME);
        assert_eq!(setattr(&mut t, "/a", 0, [0, 0, MS_SHARED, 0], 32), Ok(0));
        assert_ne!(a.mount.propagation().group, 0);
        let mut user = task(&tb, 1000);
        assert_eq!(setattr(&mut user, "/a", 0, rdonly, 32), Err(Errno::EPERM));
    }

    #[test]
    fn statmount_and_listmount_use_unique_ids() {
        let tb = bed();
        let mut t = task(&tb, 0);
        for d in ["/a", "/b"] {
            let fd = fsopen(&mut t);
            cfg(&mut t, fd, FSCONFIG_CMD_CREATE, None, None).unwrap();
            let m = call(&mut t, FSMOUNT, [fd, 0, 0, 0, 0]).unwrap();
            move_detached(&mut t, m, d).unwrap();
        }
        let (a, b, root) = (
            at(&t, "/a").unwrap().mount,
            at(&t, "/b").unwrap().mount,
            at(&t, "/").unwrap().mount,
        );
        assert!(a.unique_id > MNT_UNIQUE_ID_OFFSET && b.unique_id > a.unique_id);
        let req = 0x10000 + 7 * 512;
        let put_req = |t: &Task, id: u64, param: u64| {
            let mut r = Vec::new();
            r.extend_from_slice(&24u32.to_le_bytes());
            r.extend_from_slice(&0u32.to_le_bytes());
            r.extend_from_slice(&id.to_le_bytes());
            r.extend_from_slice(&param.to_le_bytes());
            t.mm.copy_out(UserAddr(req), &r).unwrap();
        };
        let out = 0x11000;
        put_req(&t, LSMT_ROOT, 0);
        assert_eq!(call(&mut t, LISTMOUNT, [req, out, 16, 0, 0]), Ok(3));
        let mut ids = [0u8; 24];
        t.mm.copy_in(UserAddr(out), &mut ids).unwrap();
        let got: Vec<u64> = ids.chunks(8).map(|c| u64_at(c, 0)).collect();
        assert_eq!(got, [root.unique_id, a.unique_id, b.unique_id]);
        put_req(&t, root.unique_id, a.unique_id);
        assert_eq!(call(&mut t, LISTMOUNT, [req, out, 16, 0, 0]), Ok(1));
        put_req(&t, 5, 0);
        assert_eq!(
            call(&mut t, LISTMOUNT, [req, out, 16, 0, 0]),
            Err(Errno::EINVAL)
        );
        put_req(&t, b.unique_id + 1000, 0);
        assert_eq!(
            call(&mut t, LISTMOUNT, [req, out, 16, 0, 0]),
            Err(Errno::ENOENT)
        );
        put_req(&t, a.unique_id, STATMOUNT_MNT_BASIC | STATMOUNT_FS_TYPE);
        let buf = 0x12000;
        assert_eq!(
            call(&mut t, STATMOUNT, [req, buf, 512, 0, 0]),
            Err(Errno::EOVERFLOW)
        );
        assert_eq!(call(&mut t, STATMOUNT, [req, buf, 1024, 0, 0]), Ok(0));
        let mut sm = [0u8; 530];
        t.mm.copy_in(UserAddr(buf), &mut sm).unwrap();
        assert_eq!(u64_at(&sm, 8), STATMOUNT_MNT_BASIC | STATMOUNT_FS_TYPE);
        assert_eq!(u64_at(&sm, 40), a.unique_id);
        assert_eq!(u64_at(&sm, 48), root.unique_id);
        assert_eq!(u64_at(&sm, 72), MS_PRIVATE);
        let off = 512 + u32_at(&sm, 36) as usize;
        assert_eq!(&sm[off..off + 7], b"fakefs\0");
        assert_eq!(u32_at(&sm, 0) as usize, 512 + 8);
    }
}
