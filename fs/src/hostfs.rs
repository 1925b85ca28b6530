//! hostfs: a host directory served read-only to the sandbox (the lower
//! layer of `veil do`, normally the host's `/`).
//!
//! # Confinement
//! hostfs never reaches a host file outside its root, whatever the names:
//! - it never follows a host symlink. Symlinks are reported as symlinks
//!   (`readlink`) and core's path walk resolves them inside the sandbox;
//! - every path handed to the host is relative to the root directory fd
//!   and opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//!   RESOLVE_NO_MAGICLINKS)`, so neither `..`, a symlink nor a magic link
//!   in the host tree can lead out, even if the host tree changes under
//!   us; single names are looked up with `fstatat(dirfd, name,
//!   AT_SYMLINK_NOFOLLOW)` / `readlinkat(dirfd, name)` on such a directory
//!   fd;
//! - names containing `/` or NUL, `.` and `..` are rejected;
//! - host device nodes, FIFOs and sockets are never opened (`EPERM`,
//!   `ENXIO` for sockets): the sandbox's `/dev` is devfs;
//! - host pseudo-filesystems met below the root (`proc`, `sysfs`, cgroup,
//!   debugfs, ...) are shown as empty directories, and their files
//!   bind-mounted onto a file of the tree as empty files, so the host's
//!   `/proc` or `/sys` (and the Sentry's own `/proc/self`) never leak even
//!   where nothing is mounted over them; one is never served as the root
//!   either;
//! - other real filesystems mounted below the root on the host are served
//!   (the host chose that tree);
//! - everything is read-only: every change answers `EROFS`. So a
//!   `MAP_SHARED` mapping of a hostfs file is read-only too (open for
//!   writing is `EROFS`, hence `PROT_WRITE` on a shared mapping `EACCES`);
//!   its pages are copies read on fault, and nothing is ever written back
//!   to the host (msync has nothing to do).
//!
//! # File descriptors
//! hostfs keeps no host fd per inode: a file is opened (by its path from
//! the root fd) when the sandbox opens it, and closed when the open file
//! is dropped. Directory fds used for lookups live in a small LRU cache
//! (64 `O_PATH` fds), so a lookup costs one `fstatat`.
//!
//! # Caching policy
//! The `lstat` result taken at lookup is kept in the inode and served by
//! `attr()` for [`DEFAULT_REVALIDATE`] (1 s) after it was taken; after that
//! the next `attr()` stats again. Opening a file refreshes the cache from
//! `fstat` of the opened fd. Symlink targets follow the same rule. A file
//! that disappeared from the host keeps its last attributes (its open
//! fails with `ENOENT`); a name whose type changed on the host keeps its
//! old type until it is looked up again. Directory listings are read from
//! the host when a listing starts (offset 0) and served from that snapshot
//! while it continues. The host tree is expected to change rarely while a
//! sandbox runs; this keeps the hot path (program startup stats hundreds
//! of files) at one host call per new name.

use std::collections::HashMap;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use veil_abi::{Errno, Statfs, Timespec};
use veil_core::task::Task;
use veil_core::vfs::{
    Dentry, DirEntry, FileOps, FileType, Inode, InodeAttr, InodeRef, Owner, SetAttr,
};

use crate::overlay::LowerNode;
use crate::sys::{self, errno_of};
use crate::util::{alloc_dev, check_name, refuse_dir_changes, wants_write, Lock};

/// How long attributes from the host are trusted before `attr()` stats
/// again.
pub const DEFAULT_REVALIDATE: Duration = Duration::from_secs(1);

const DIR_FD_CACHE: usize = 64;

/// `f_type` of host filesystems shown as empty directories.
const PSEUDO_FS: &[i64] = &[
    0x9fa0,                // proc
    0x6265_6572,           // sysfs
    0x1cd1,                // devpts
    0x6462_6720,           // debugfs
    0x7472_6163,           // tracefs
    0x7363_6673,           // securityfs
    0x0027_e0eb,           // cgroup
    0x6367_7270,           // cgroup2
    0xcafe_4a11,           // bpf
    0x6265_6570,           // configfs
    0x6573_5543,           // fusectl
    0x6165_676c,           // pstore
    0xde5e_81e4u32 as i64, // efivarfs
    0x4249_4e4d,           // binfmt_misc
    0x1980_0202,           // mqueue
    0xf97c_ff8cu32 as i64, // selinuxfs
    0x4341_5d53,           // smackfs
    0x6e73_6673,           // nsfs
];

struct DirFdCache {
    entries: Vec<(Vec<u8>, Arc<OwnedFd>, u64)>,
    clock: u64,
}

/// A host directory tree, served read-only.
pub struct HostFs {
    root_fd: Arc<OwnedFd>,
    /// Host `st_dev` -> sandbox dev.
    devs: Lock<HashMap<u64, u64>>,
    dir_fds: Lock<DirFdCache>,
    revalidate: Duration,
}

impl HostFs {
    /// Serves the host directory `root` (which must be a directory).
    pub fn new(root: &Path) -> io::Result<Arc<HostFs>> {
        HostFs::with_revalidate(root, DEFAULT_REVALIDATE)
    }

    /// As [`HostFs::new`], trusting cached attributes for `revalidate`.
    pub fn with_revalidate(root: &Path, revalidate: Duration) -> io::Result<Arc<HostFs>> {
        let c = CString::new(root.as_os_str().as_bytes())
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let fd = sys::open_dir(&c)?;
        // A host pseudo-filesystem is never served, not even as the root
        // (`veil do --root /proc`).
        if PSEUDO_FS.contains(&{ sys::fstatfs(fd.as_raw_fd())?.f_type }) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "a host pseudo-filesystem (proc, sysfs, ...) is never served",
            ));
        }
        Ok(Arc::new(HostFs {
            root_fd: Arc::new(fd),
            devs: Lock::new(HashMap::new()),
            dir_fds: Lock::new(DirFdCache {
                entries: Vec::new(),
                clock: 0,
            }),
            revalidate,
        }))
    }

    /// The root directory inode.
    pub fn root(self: &Arc<Self>) -> io::Result<Arc<HostInode>> {
        let st = sys::fstat_x(self.root_fd.as_raw_fd())?;
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        Ok(HostInode::from_stat(self, Vec::new(), &st, false))
    }

    /// The root as a VFS root dentry.
    pub fn root_dentry(self: &Arc<Self>) -> io::Result<Arc<Dentry>> {
        Ok(Dentry::new_root(self.root()?))
    }

    fn map_dev(&self, host: u64) -> u64 {
        *self.devs.lock().entry(host).or_insert_with(alloc_dev)
    }

    /// An `O_PATH` fd for the directory at `path` (relative; empty for the
    /// root), from the cache or freshly opened beneath the root.
    fn dir_fd(&self, path: &[u8]) -> Result<Arc<OwnedFd>, Errno> {
        if path.is_empty() {
            return Ok(self.root_fd.clone());
        }
        {
            let mut c = self.dir_fds.lock();
            c.clock += 1;
            let now = c.clock;
            if let Some(e) = c.entries.iter_mut().find(|e| e.0 == path) {
                e.2 = now;
                return Ok(e.1.clone());
            }
        }
        let cpath = CString::new(path).map_err(|_| Errno::EINVAL)?;
        let fd = Arc::new(
            sys::openat2(
                self.root_fd.as_raw_fd(),
                &cpath,
                libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            )
            .map_err(|e| errno_of(&e))?,
        );
        let mut c = self.dir_fds.lock();
        c.clock += 1;
        let now = c.clock;
        if c.entries.len() >= DIR_FD_CACHE {
            if let Some(oldest) = c
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.2)
                .map(|(i, _)| i)
            {
                c.entries.swap_remove(oldest);
            }
        }
        c.entries.push((path.to_vec(), fd.clone(), now));
        Ok(fd)
    }

    /// Opens `path` beneath the root with `flags` (never following a
    /// symlink anywhere).
    fn open_path(&self, path: &[u8], flags: i32) -> Result<OwnedFd, Errno> {
        let p: &[u8] = if path.is_empty() { b"." } else { path };
        let cpath = CString::new(p).map_err(|_| Errno::EINVAL)?;
        sys::openat2(self.root_fd.as_raw_fd(), &cpath, flags).map_err(|e| errno_of(&e))
    }
}

struct Cached {
    attr: InodeAttr,
    at: Instant,
    target: Option<(Vec<u8>, Instant)>,
}

struct Entry {
    ino: u64,
    kind: FileType,
    name: Vec<u8>,
}

/// A file, directory or symlink of a [`HostFs`].
pub struct HostInode {
    fs: Arc<HostFs>,
    /// Path from the root, components joined by `/`; empty for the root.
    path: Vec<u8>,
    kind: FileType,
    host_dev: u64,
    /// A host pseudo-filesystem's root or file mounted here, shown empty.
    hidden: bool,
    cache: Lock<Cached>,
    listing: Lock<Option<Arc<Vec<Entry>>>>,
}

fn ts(sec: i64, nsec: i64) -> Timespec {
    Timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    }
}

impl HostInode {
    fn from_stat(
        fs: &Arc<HostFs>,
        path: Vec<u8>,
        st: &sys::HostStat,
        hidden: bool,
    ) -> Arc<HostInode> {
        let mut attr = fs_attr(fs, st);
        if hidden {
            (attr.size, attr.blocks) = (0, 0);
        }
        Arc::new(HostInode {
            fs: fs.clone(),
            path,
            kind: attr.file_type().unwrap_or(FileType::Regular),
            host_dev: st.st_dev,
            hidden,
            cache: Lock::new(Cached {
                attr,
                at: Instant::now(),
                target: None,
            }),
            listing: Lock::new(None),
        })
    }

    /// The path of this inode relative to the hostfs root.
    pub fn rel_path(&self) -> &[u8] {
        &self.path
    }

    /// The parent path and the last name (`None` for the root).
    fn split(&self) -> Option<(&[u8], &[u8])> {
        if self.path.is_empty() {
            return None;
        }
        Some(match self.path.iter().rposition(|&c| c == b'/') {
            Some(i) => (&self.path[..i], &self.path[i + 1..]),
            None => (&b""[..], &self.path[..]),
        })
    }

    fn stat_now(&self) -> Result<sys::HostStat, Errno> {
        match self.split() {
            None => sys::fstat_x(self.fs.root_fd.as_raw_fd()).map_err(|e| errno_of(&e)),
            Some((parent, name)) => {
                let dfd = self.fs.dir_fd(parent)?;
                let cname = CString::new(name).map_err(|_| Errno::EINVAL)?;
                sys::lstat_at(dfd.as_raw_fd(), &cname).map_err(|e| errno_of(&e))
            }
        }
    }

    fn update_from(&self, st: &sys::HostStat) {
        let mut new = fs_attr(&self.fs, st);
        if self.hidden {
            (new.size, new.blocks) = (0, 0);
        }
        let mut c = self.cache.lock();
        if new.file_type() == c.attr.file_type() {
            let ino = c.attr.ino;
            let dev = c.attr.dev;
            c.attr = InodeAttr { ino, dev, ..new };
        }
        c.at = Instant::now();
    }

    fn lookup_host(&self, name: &[u8]) -> Result<Arc<HostInode>, Errno> {
        if self.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        check_name(name)?;
        if self.hidden {
            return Err(Errno::ENOENT);
        }
        let dfd = self.fs.dir_fd(&self.path)?;
        let cname = CString::new(name).map_err(|_| Errno::EINVAL)?;
        let st = sys::lstat_at(dfd.as_raw_fd(), &cname).map_err(|e| errno_of(&e))?;
        if FileType::from_mode(st.st_mode).is_none() {
            return Err(Errno::ENOENT);
        }
        // A mount point (another device than its directory's): a host
        // pseudo-filesystem there, or one of its files bind-mounted onto a
        // file, is hidden. Pseudo-filesystems all have anonymous devices
        // (major 0); files of a block device (which an overlayfs host root
        // reports for its non-directories) need no second look.
        let hidden = st.st_dev != self.host_dev
            && libc::major(st.st_dev) == 0
            && is_pseudo(dfd.as_raw_fd(), &cname);
        let mut path = self.path.clone();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(name);
        Ok(HostInode::from_stat(&self.fs, path, &st, hidden))
    }

    fn open_host(&self) -> Result<Arc<dyn FileOps>, Errno> {
        if self.hidden && self.kind == FileType::Regular {
            return Ok(Arc::new(HiddenFile));
        }
        match self.kind {
            FileType::Regular => {}
            FileType::Directory => return Err(Errno::EISDIR),
            FileType::Symlink => return Err(Errno::ELOOP),
            FileType::Socket => return Err(Errno::ENXIO),
            _ => return Err(Errno::EPERM),
        }
        let fd = self.fs.open_path(
            &self.path,
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY,
        )?;
        let st = sys::fstat_x(fd.as_raw_fd()).map_err(|e| errno_of(&e))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(Errno::EPERM);
        }
        self.update_from(&st);
        Ok(Arc::new(HostFile { fd }))
    }

    fn readlink_host(&self) -> Result<Vec<u8>, Errno> {
        if self.kind != FileType::Symlink {
            return Err(Errno::EINVAL);
        }
        {
            let c = self.cache.lock();
            if let Some((t, at)) = &c.target {
                if at.elapsed() < self.fs.revalidate {
                    return Ok(t.clone());
                }
            }
        }
        let (parent, name) = self.split().ok_or(Errno::EINVAL)?;
        let dfd = self.fs.dir_fd(parent)?;
        let cname = CString::new(name).map_err(|_| Errno::EINVAL)?;
        let t = sys::readlinkat(dfd.as_raw_fd(), &cname).map_err(|e| errno_of(&e))?;
        self.cache.lock().target = Some((t.clone(), Instant::now()));
        Ok(t)
    }

    fn load_listing(&self) -> Result<Arc<Vec<Entry>>, Errno> {
        let fd = self.fs.open_path(
            &self.path,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        )?;
        let raw = sys::read_dir(&fd).map_err(|e| errno_of(&e))?;
        let mut out = Vec::with_capacity(raw.len());
        for e in raw {
            let kind = match dtype_kind(e.kind) {
                Some(k) => k,
                None => {
                    // DT_UNKNOWN: ask.
                    let Ok(cname) = CString::new(e.name.clone()) else {
                        continue;
                    };
                    match sys::lstat_at(fd.as_raw_fd(), &cname)
                        .ok()
                        .and_then(|st| FileType::from_mode(st.st_mode))
                    {
                        Some(k) => k,
                        None => continue,
                    }
                }
            };
            out.push(Entry {
                ino: e.ino,
                kind,
                name: e.name,
            });
        }
        let list = Arc::new(out);
        *self.listing.lock() = Some(list.clone());
        Ok(list)
    }

    fn not_writable(&self) -> Errno {
        if self.kind == FileType::Directory {
            Errno::EROFS
        } else {
            Errno::ENOTDIR
        }
    }
}

fn dtype_kind(t: u8) -> Option<FileType> {
    Some(match t {
        libc::DT_REG => FileType::Regular,
        libc::DT_DIR => FileType::Directory,
        libc::DT_LNK => FileType::Symlink,
        libc::DT_CHR => FileType::CharDevice,
        libc::DT_BLK => FileType::BlockDevice,
        libc::DT_FIFO => FileType::Fifo,
        libc::DT_SOCK => FileType::Socket,
        _ => return None,
    })
}

/// Whether `name` in `dirfd` is on a host pseudo-filesystem (also when it
/// cannot be told: fail closed).
fn is_pseudo(dirfd: RawFd, name: &CString) -> bool {
    let Ok(fd) = sys::openat2(dirfd, name, libc::O_PATH | libc::O_NOFOLLOW) else {
        return true;
    };
    match sys::fstatfs(fd.as_raw_fd()) {
        Ok(st) => PSEUDO_FS.contains(&{ st.f_type }),
        Err(_) => true,
    }
}

fn fs_attr(fs: &HostFs, st: &sys::HostStat) -> InodeAttr {
    InodeAttr {
        dev: fs.map_dev(st.st_dev),
        ino: st.st_ino,
        mode: st.st_mode,
        nlink: st.st_nlink,
        uid: st.st_uid,
        gid: st.st_gid,
        rdev: st.st_rdev,
        size: st.st_size.max(0) as u64,
        blksize: st.st_blksize.clamp(0, u32::MAX as i64) as u32,
        blocks: st.st_blocks.max(0) as u64,
        atime: ts(st.st_atime, st.st_atime_nsec),
        mtime: ts(st.st_mtime, st.st_mtime_nsec),
        ctime: ts(st.st_ctime, st.st_ctime_nsec),
        btime: st.btime.map(|(s, n)| ts(s, n as i64)),
    }
}

impl Inode for HostInode {
    fn attr(&self) -> Result<InodeAttr, Errno> {
        {
            let c = self.cache.lock();
            if c.at.elapsed() < self.fs.revalidate {
                return Ok(c.attr);
            }
        }
        match self.stat_now() {
            Ok(st) => self.update_from(&st),
            // Gone or unreadable on the host: keep what we knew, and do not
            // ask again for a while.
            Err(_) => self.cache.lock().at = Instant::now(),
        }
        Ok(self.cache.lock().attr)
    }

    fn set_attr(&self, _set: &SetAttr) -> Result<(), Errno> {
        Err(Errno::EROFS)
    }

    fn lookup(&self, _cx: &Task, name: &[u8]) -> Result<InodeRef, Errno> {
        Ok(self.lookup_host(name)?)
    }

    refuse_dir_changes!(|n: &HostInode, _| n.not_writable());

    fn readdir(&self, offset: u64, sink: &mut dyn FnMut(DirEntry) -> bool) -> Result<(), Errno> {
        if self.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        if self.hidden {
            return Ok(());
        }
        let cached = if offset == 0 {
            None
        } else {
            self.listing.lock().clone()
        };
        let list = match cached {
            Some(l) => l,
            None => self.load_listing()?,
        };
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        for (i, e) in list.iter().enumerate().skip(start) {
            let go = sink(DirEntry {
                ino: e.ino,
                kind: e.kind,
                name: e.name.clone(),
                next: i as u64 + 1,
            });
            if !go {
                break;
            }
        }
        Ok(())
    }

    fn readlink(&self, _cx: &Task) -> Result<Vec<u8>, Errno> {
        self.readlink_host()
    }

    fn open(&self, _cx: &Task, flags: u32) -> Result<Arc<dyn FileOps>, Errno> {
        if wants_write(flags) && self.kind != FileType::Directory {
            return Err(Errno::EROFS);
        }
        self.open_host()
    }

    fn statfs(&self) -> Result<Statfs, Errno> {
        let fd = self
            .fs
            .open_path(&self.path, libc::O_PATH | libc::O_NOFOLLOW)?;
        let st = sys::fstatfs(fd.as_raw_fd()).map_err(|e| errno_of(&e))?;
        Ok(Statfs {
            f_type: st.f_type as i64,
            f_bsize: st.f_bsize as i64,
            f_blocks: st.f_blocks,
            f_bfree: st.f_bfree,
            f_bavail: st.f_bavail,
            f_files: st.f_files,
            f_ffree: st.f_ffree,
            f_fsid: [0, 0],
            f_namelen: st.f_namelen as i64,
            f_frsize: st.f_frsize as i64,
            f_flags: 0x20 | libc::ST_RDONLY as i64, // ST_VALID | ST_RDONLY
            ..Default::default()
        })
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl LowerNode for HostInode {
    fn lower_lookup(&self, name: &[u8]) -> Result<Arc<dyn LowerNode>, Errno> {
        Ok(self.lookup_host(name)?)
    }

    fn lower_open(&self) -> Result<Arc<dyn FileOps>, Errno> {
        self.open_host()
    }

    fn lower_readlink(&self) -> Result<Vec<u8>, Errno> {
        self.readlink_host()
    }

    fn into_inode(self: Arc<Self>) -> InodeRef {
        self
    }
}

/// What opening a host pseudo-filesystem's file bind-mounted into the tree
/// gives: an empty file (its directories are shown empty too).
struct HiddenFile;

impl FileOps for HiddenFile {
    fn read(&self, _buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        Ok(0)
    }

    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EBADF)
    }

    fn size(&self) -> Result<u64, Errno> {
        Ok(0)
    }

    fn truncate(&self, _size: u64) -> Result<(), Errno> {
        Err(Errno::EROFS)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// An open host file (read-only).
struct HostFile {
    fd: OwnedFd,
}

impl FileOps for HostFile {
    fn read(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        sys::pread(self.fd.as_raw_fd(), buf, offset).map_err(|e| errno_of(&e))
    }

    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::EBADF)
    }

    fn size(&self) -> Result<u64, Errno> {
        let st = sys::fstat(self.fd.as_raw_fd()).map_err(|e| errno_of(&e))?;
        Ok(st.st_size.max(0) as u64)
    }

    fn truncate(&self, _size: u64) -> Result<(), Errno> {
        Err(Errno::EROFS)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{read_all, sorted_names, task, TempDir};
    use std::os::unix::fs::symlink;
    use veil_abi::flags::{O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY};

    fn setup() -> (TempDir, TempDir, Arc<HostInode>) {
        let root = TempDir::new("root");
        let outside = TempDir::new("outside");
        std::fs::write(outside.0.join("secret"), b"SECRET").unwrap();
        std::fs::create_dir(root.0.join("d")).unwrap();
        std::fs::write(root.0.join("d/f"), b"hello host").unwrap();
        std::fs::write(root.0.join("secret"), b"inside").unwrap();
        symlink("/etc", root.0.join("esc")).unwrap();
        symlink("../../../../..", root.0.join("up")).unwrap();
        symlink(&outside.0, root.0.join("out")).unwrap();
        let fs = HostFs::new(&root.0).unwrap();
        let r = fs.root().unwrap();
        (root, outside, r)
    }

    #[test]
    fn lookup_read_readdir() {
        let (_root, _out, r) = setup();
        let t = task();
        assert_eq!(sorted_names(&*r), vec!["d", "esc", "out", "secret", "up"]);
        let d = r.lookup(&t, b"d").unwrap();
        let da = d.attr().unwrap();
        assert_eq!(da.file_type(), Some(FileType::Directory));
        let f = d.lookup(&t, b"f").unwrap();
        let fa = f.attr().unwrap();
        assert_eq!(fa.size, 10);
        assert_eq!(fa.dev, da.dev);
        let md = std::fs::metadata(_root.0.join("d/f")).unwrap();
        assert_eq!(fa.ino, std::os::unix::fs::MetadataExt::ino(&md));
        let file = f.open(&t, O_RDONLY).unwrap();
        assert_eq!(read_all(&*file), b"hello host");
        assert_eq!(file.size().unwrap(), 10);
        assert_eq!(file.write(b"x", 0).err(), Some(Errno::EBADF));
        // readdir entries carry host inode numbers and types.
        let mut seen = Vec::new();
        d.readdir(0, &mut |e| {
            seen.push((e.name.clone(), e.kind, e.ino, e.next));
            true
        })
        .unwrap();
        assert_eq!(seen, vec![(b"f".to_vec(), FileType::Regular, fa.ino, 1)]);
        // Resuming past the end gives nothing.
        let mut more = 0;
        d.readdir(1, &mut |_| {
            more += 1;
            true
        })
        .unwrap();
        assert_eq!(more, 0);
        assert!(r.statfs().unwrap().f_flags & libc::ST_RDONLY as i64 != 0);
    }

    #[test]
    fn read_only() {
        let (_root, _out, r) = setup();
        let t = task();
        let f = r.lookup(&t, b"d").unwrap().lookup(&t, b"f").unwrap();
        assert_eq!(f.open(&t, O_WRONLY).err(), Some(Errno::EROFS));
        assert_eq!(f.open(&t, O_RDWR).err(), Some(Errno::EROFS));
        assert_eq!(f.open(&t, O_RDONLY | O_TRUNC).err(), Some(Errno::EROFS));
        assert_eq!(f.set_attr(&SetAttr::default()).err(), Some(Errno::EROFS));
        let owner = Owner::default();
        assert_eq!(r.mkdir(b"x", 0o755, owner).err(), Some(Errno::EROFS));
        assert_eq!(
            r.mknod(b"x", FileType::Regular, 0o644, 0, owner).err(),
            Some(Errno::EROFS)
        );
        assert_eq!(r.symlink(b"x", b"y", owner).err(), Some(Errno::EROFS));
        assert_eq!(r.unlink(b"secret").err(), Some(Errno::EROFS));
        assert_eq!(r.rmdir(b"d").err(), Some(Errno::EROFS));
        let rr: InodeRef = r.clone();
        assert_eq!(r.rename(b"secret", &rr, b"s2", 0).err(), Some(Errno::EROFS));
        assert_eq!(r.link(b"s3", &f).err(), Some(Errno::EROFS));
        assert!(!_root.0.join("x").exists());
    }

    #[test]
    fn symlinks_are_never_followed() {
        let (root, outside, r) = setup();
        let t = task();
        for (name, target) in [
            (&b"esc"[..], b"/etc".to_vec()),
            (b"up", b"../../../../..".to_vec()),
            (b"out", outside.0.as_os_str().as_bytes().to_vec()),
        ] {
            let l = r.lookup(&t, name).unwrap();
            assert_eq!(l.attr().unwrap().file_type(), Some(FileType::Symlink));
            assert_eq!(l.readlink(&t).unwrap(), target);
            // hostfs itself does not walk through it.
            assert_eq!(l.lookup(&t, b"passwd").err(), Some(Errno::ENOTDIR));
            assert_eq!(l.lookup(&t, b"secret").err(), Some(Errno::ENOTDIR));
            assert_eq!(l.open(&t, O_RDONLY).err(), Some(Errno::ELOOP));
            let mut n = 0;
            assert_eq!(
                l.readdir(0, &mut |_| {
                    n += 1;
                    true
                })
                .err(),
                Some(Errno::ENOTDIR)
            );
        }
        // Bad names.
        for bad in [&b".."[..], b".", b"d/f", b"../secret", b"a\0b", b""] {
            assert!(r.lookup(&t, bad).is_err(), "{bad:?}");
        }
        // The host swaps a directory for a symlink to the outside after
        // lookup: the stale inode still cannot reach outside the root.
        let d = r.lookup(&t, b"d").unwrap();
        let f = d.lookup(&t, b"f").unwrap();
        std::fs::rename(root.0.join("d"), root.0.join("d.old")).unwrap();
        std::fs::create_dir(outside.0.join("d")).unwrap();
        std::fs::write(outside.0.join("d/f"), b"SECRET").unwrap();
        symlink(outside.0.join("d"), root.0.join("d")).unwrap();
        match f.open(&t, O_RDONLY) {
            Ok(file) => assert_ne!(read_all(&*file), b"SECRET"),
            Err(e) => assert!(
                matches!(e, Errno::ELOOP | Errno::EXDEV | Errno::ENOENT),
                "{e:?}"
            ),
        }
        // A fresh hostfs sees `d` as the symlink it now is.
        let fs2 = HostFs::new(&root.0).unwrap();
        let r2 = fs2.root().unwrap();
        let d2 = r2.lookup(&t, b"d").unwrap();
        assert_eq!(d2.attr().unwrap().file_type(), Some(FileType::Symlink));
        assert_eq!(d2.lookup(&t, b"f").err(), Some(Errno::ENOTDIR));
    }

    #[test]
    fn revalidation() {
        let root = TempDir::new("reval");
        std::fs::write(root.0.join("f"), b"1").unwrap();
        let fs = HostFs::with_revalidate(&root.0, Duration::ZERO).unwrap();
        let t = task();
        let f = fs.root().unwrap().lookup(&t, b"f").unwrap();
        assert_eq!(f.attr().unwrap().size, 1);
        std::fs::write(root.0.join("f"), b"123").unwrap();
        assert_eq!(f.attr().unwrap().size, 3);
        std::fs::remove_file(root.0.join("f")).unwrap();
        // Gone: last known attributes, and open fails.
        assert_eq!(f.attr().unwrap().size, 3);
        assert_eq!(f.open(&t, O_RDONLY).err(), Some(Errno::ENOENT));
    }

    #[test]
    fn special_files_not_opened() {
        let root = TempDir::new("special");
        let c = CString::new(root.0.join("fifo").as_os_str().as_bytes()).unwrap();
        // SAFETY: valid path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let fs = HostFs::new(&root.0).unwrap();
        let t = task();
        let r = fs.root().unwrap();
        let fifo = r.lookup(&t, b"fifo").unwrap();
        assert_eq!(fifo.attr().unwrap().file_type(), Some(FileType::Fifo));
        assert_eq!(fifo.open(&t, O_RDONLY).err(), Some(Errno::EPERM));
        // Host devices: /dev/null through a hostfs of /dev.
        if let Ok(devfs) = HostFs::new(Path::new("/dev")) {
            if let Ok(null) = devfs.root().unwrap().lookup(&t, b"null") {
                assert_eq!(null.open(&t, O_RDONLY).err(), Some(Errno::EPERM));
            }
        }
    }

    #[test]
    fn host_proc_is_hidden() {
        let fs = HostFs::new(Path::new("/")).unwrap();
        let t = task();
        let r = fs.root().unwrap();
        if let Ok(p) = r.lookup(&t, b"proc") {
            assert_eq!(p.attr().unwrap().file_type(), Some(FileType::Directory));
            assert!(sorted_names(&*p).is_empty());
            assert_eq!(p.lookup(&t, b"self").err(), Some(Errno::ENOENT));
            assert_eq!(p.lookup(&t, b"1").err(), Some(Errno::ENOENT));
        }
        if let Ok(s) = r.lookup(&t, b"sys") {
            assert!(sorted_names(&*s).is_empty());
        }
        // Ordinary directories are served.
        let etc = r.lookup(&t, b"etc").unwrap();
        assert!(!sorted_names(&*etc).is_empty());
        // Nor is one served as the root.
        assert!(HostFs::new(Path::new("/proc")).is_err());
        assert!(HostFs::new(Path::new("/proc/self")).is_err());
    }
}
