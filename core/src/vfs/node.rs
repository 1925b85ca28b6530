//! The filesystem contract: what a filesystem (tmpfs, overlay, hostfs,
//! procfs, devfs — all in veil-fs) implements so that core's VFS can walk
//! and open it.
//!
//! An [`Inode`] is a file-system object. Directory operations take a single
//! path component (never `/`, `.` or `..`: core's path walk handles those,
//! and mount crossing). Permission checks on mode bits are done by core
//! from [`InodeAttr`] before calling in; a filesystem only enforces what it
//! alone knows (a read-only layer answers `EROFS`, a full tmpfs `ENOSPC`).
//!
//! Opening an inode gives a [`FileOps`]: the object behind an open file
//! description. Core owns the description itself (offset, status flags,
//! the path it was opened by).

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;

use veil_abi::{Errno, Timespec};

use crate::task::Task;

/// A shared inode.
pub type InodeRef = Arc<dyn Inode>;

/// The type of an inode, from `S_IFMT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileType {
    /// Regular file.
    Regular,
    /// Directory.
    Directory,
    /// Symbolic link.
    Symlink,
    /// Character device.
    CharDevice,
    /// Block device.
    BlockDevice,
    /// FIFO.
    Fifo,
    /// Unix socket.
    Socket,
}

impl FileType {
    /// From the `S_IFMT` bits of a mode.
    pub fn from_mode(mode: u32) -> Option<FileType> {
        use veil_abi::flags::*;
        Some(match mode & S_IFMT {
            S_IFREG => FileType::Regular,
            S_IFDIR => FileType::Directory,
            S_IFLNK => FileType::Symlink,
            S_IFCHR => FileType::CharDevice,
            S_IFBLK => FileType::BlockDevice,
            S_IFIFO => FileType::Fifo,
            S_IFSOCK => FileType::Socket,
            _ => return None,
        })
    }
    /// The `S_IFMT` bits.
    pub fn mode_bits(self) -> u32 {
        use veil_abi::flags::*;
        match self {
            FileType::Regular => S_IFREG,
            FileType::Directory => S_IFDIR,
            FileType::Symlink => S_IFLNK,
            FileType::CharDevice => S_IFCHR,
            FileType::BlockDevice => S_IFBLK,
            FileType::Fifo => S_IFIFO,
            FileType::Socket => S_IFSOCK,
        }
    }
    /// `d_type` for getdents64.
    pub fn dirent_type(self) -> u8 {
        use veil_abi::flags::*;
        match self {
            FileType::Regular => DT_REG,
            FileType::Directory => DT_DIR,
            FileType::Symlink => DT_LNK,
            FileType::CharDevice => DT_CHR,
            FileType::BlockDevice => DT_BLK,
            FileType::Fifo => DT_FIFO,
            FileType::Socket => DT_SOCK,
        }
    }
}

/// What stat reports about an inode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InodeAttr {
    /// Device number of the filesystem (`st_dev`).
    pub dev: u64,
    /// Inode number, stable for the inode's life.
    pub ino: u64,
    /// Type and permission bits (`st_mode`).
    pub mode: u32,
    /// Hard links.
    pub nlink: u64,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Device number for device inodes.
    pub rdev: u64,
    /// Size in bytes.
    pub size: u64,
    /// Preferred I/O size.
    pub blksize: u32,
    /// 512-byte blocks allocated.
    pub blocks: u64,
    /// Last access.
    pub atime: Timespec,
    /// Last modification.
    pub mtime: Timespec,
    /// Last status change.
    pub ctime: Timespec,
    /// Creation time, where the filesystem records one (statx STATX_BTIME).
    pub btime: Option<Timespec>,
}

impl InodeAttr {
    /// The file type from `mode`.
    pub fn file_type(&self) -> Option<FileType> {
        FileType::from_mode(self.mode)
    }
}

/// A change to inode attributes (chmod, chown, truncate, utimensat). Each
/// `None` leaves that attribute alone. Core has checked permissions.
#[derive(Clone, Copy, Debug, Default)]
pub struct SetAttr {
    /// New permission bits (the low 12 bits of a mode).
    pub mode: Option<u32>,
    /// New owner.
    pub uid: Option<u32>,
    /// New group.
    pub gid: Option<u32>,
    /// New size.
    pub size: Option<u64>,
    /// New access time.
    pub atime: Option<Timespec>,
    /// New modification time.
    pub mtime: Option<Timespec>,
    /// Status-change time to record (core sets it to now on any change).
    pub ctime: Option<Timespec>,
}

/// Who is creating a node, for its owner.
#[derive(Clone, Copy, Debug, Default)]
pub struct Owner {
    /// Effective (fs) uid of the creator.
    pub uid: u32,
    /// Effective (fs) gid of the creator, or the directory's for setgid dirs.
    pub gid: u32,
}

/// One directory entry from [`Inode::readdir`].
#[derive(Clone, Debug)]
pub struct DirEntry {
    /// Inode number.
    pub ino: u64,
    /// Type.
    pub kind: FileType,
    /// Name (no `/`, no NUL).
    pub name: Vec<u8>,
    /// Cookie to pass as `offset` to continue after this entry.
    pub next: u64,
}

/// A filesystem object. Default methods answer as Linux does for an object
/// that does not support the operation.
pub trait Inode: Send + Sync + Any {
    /// Current attributes.
    fn attr(&self) -> Result<InodeAttr, Errno>;
    /// Changes attributes.
    fn set_attr(&self, _set: &SetAttr) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }

    /// Finds `name` in this directory. `ENOENT` if absent. `cx` is the
    /// task walking (procfs answers differently per task).
    fn lookup(&self, _cx: &Task, _name: &[u8]) -> Result<InodeRef, Errno> {
        Err(Errno::ENOTDIR)
    }
    /// Creates a node of `kind` (regular, FIFO, socket, device) named
    /// `name` with permission bits `mode` (umask already applied) and
    /// device number `rdev`. `EEXIST` if the name is taken.
    fn mknod(
        &self,
        _name: &[u8],
        _kind: FileType,
        _mode: u32,
        _rdev: u64,
        _owner: Owner,
    ) -> Result<InodeRef, Errno> {
        Err(Errno::ENOTDIR)
    }
    /// Creates a directory.
    fn mkdir(&self, _name: &[u8], _mode: u32, _owner: Owner) -> Result<InodeRef, Errno> {
        Err(Errno::ENOTDIR)
    }
    /// O_TMPFILE: creates an unnamed regular file (link count 0) in this
    /// directory with permission bits `mode`. `linkable`: a later
    /// [`link`](Inode::link) may give it a name (once), as Linux's
    /// `I_LINKABLE`; otherwise linking it is `ENOENT`. `EOPNOTSUPP` (the
    /// default) where the filesystem cannot.
    fn tmpfile(&self, _mode: u32, _owner: Owner, _linkable: bool) -> Result<InodeRef, Errno> {
        Err(Errno::EOPNOTSUPP)
    }
    /// Creates a symlink to `target`.
    fn symlink(&self, _name: &[u8], _target: &[u8], _owner: Owner) -> Result<InodeRef, Errno> {
        Err(Errno::ENOTDIR)
    }
    /// Adds a hard link `name` to `target`, which core has checked is on
    /// the same filesystem (same `dev`) and not a directory.
    fn link(&self, _name: &[u8], _target: &InodeRef) -> Result<(), Errno> {
        Err(Errno::ENOTDIR)
    }
    /// Removes the non-directory `name`.
    fn unlink(&self, _name: &[u8]) -> Result<(), Errno> {
        Err(Errno::ENOTDIR)
    }
    /// Removes the empty directory `name` (`ENOTEMPTY` otherwise).
    fn rmdir(&self, _name: &[u8]) -> Result<(), Errno> {
        Err(Errno::ENOTDIR)
    }
    /// Moves `old_name` in this directory to `new_name` in `new_dir`
    /// (same filesystem, checked by core), replacing a compatible target as
    /// rename(2) does. `flags` are `RENAME_*`.
    fn rename(
        &self,
        _old_name: &[u8],
        _new_dir: &InodeRef,
        _new_name: &[u8],
        _flags: u32,
    ) -> Result<(), Errno> {
        Err(Errno::ENOTDIR)
    }
    /// Lists entries starting at cookie `offset` (0 = start; `.` and `..`
    /// are added by core, not returned here). Calls `sink` for each entry
    /// until it returns `false`.
    fn readdir(&self, _offset: u64, _sink: &mut dyn FnMut(DirEntry) -> bool) -> Result<(), Errno> {
        Err(Errno::ENOTDIR)
    }

    /// Opening this directory for listing by `cx` (core opens directories
    /// itself): the inode whose `readdir` lists it for that caller (`None`,
    /// the default: this one), or the error that refuses the open, as
    /// Linux's `.permission` answers for procfs's `hidepid=`.
    fn open_dir(&self, _cx: &Task) -> Result<Option<InodeRef>, Errno> {
        Ok(None)
    }

    /// The target of a symlink, as `cx` sees it.
    fn readlink(&self, _cx: &Task) -> Result<Vec<u8>, Errno> {
        Err(Errno::EINVAL)
    }
    /// For "magic" links (`/proc/self/exe`, `/proc/self/fd/N`): where the
    /// link leads, as a location in the VFS, resolved without re-walking the
    /// text. `None` for ordinary symlinks.
    fn magic_link(&self, _cx: &Task) -> Option<Result<crate::vfs::Location, Errno>> {
        None
    }

    /// Opens the inode (not called for directories: core opens those
    /// itself and lists them with `readdir`). `flags` are the open flags.
    fn open(&self, _cx: &Task, _flags: u32) -> Result<Arc<dyn FileOps>, Errno> {
        Err(Errno::ENXIO)
    }

    /// Filesystem statistics for statfs.
    fn statfs(&self) -> Result<veil_abi::Statfs, Errno> {
        Ok(veil_abi::Statfs {
            f_type: 0x0102_1994, // TMPFS_MAGIC
            f_bsize: 4096,
            f_namelen: 255,
            f_frsize: 4096,
            ..Default::default()
        })
    }

    /// The extended attribute `name` (with its namespace prefix: core has
    /// checked the name and the caller's permission). `ENODATA` if absent;
    /// the defaults answer as a filesystem that stores none.
    fn get_xattr(&self, _name: &[u8]) -> Result<Vec<u8>, Errno> {
        Err(Errno::ENODATA)
    }
    /// Sets the extended attribute `name` to `value`; `flags` are
    /// `XATTR_CREATE` (`EEXIST` if present) and `XATTR_REPLACE`
    /// (`ENODATA` if absent). `EOPNOTSUPP` for a namespace the filesystem
    /// does not store. Updates the change time.
    fn set_xattr(&self, _name: &[u8], _value: &[u8], _flags: u32) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }
    /// Removes the extended attribute `name` (`ENODATA` if absent).
    fn remove_xattr(&self, _name: &[u8]) -> Result<(), Errno> {
        Err(Errno::ENODATA)
    }
    /// The names of all extended attributes (core hides the ones the
    /// caller may not see).
    fn list_xattr(&self) -> Result<Vec<Vec<u8>>, Errno> {
        Ok(Vec::new())
    }

    /// True if core may cache this directory's lookups in its dentries
    /// (false for procfs, whose answers depend on the task and change).
    fn cacheable(&self) -> bool {
        true
    }

    /// For downcasting (a filesystem recognising its own inodes).
    fn as_any(&self) -> &dyn Any;
}

/// Readiness bits for poll (`POLLIN`, `POLLOUT`, ...).
pub type PollMask = u32;

/// The object behind an open file description.
///
/// I/O is positional: core keeps the offset and passes it in for seekable
/// files; stream files ignore it.
pub trait FileOps: Send + Sync {
    /// Reads into `buf` at `offset`. 0 means end of file.
    fn read(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno>;
    /// Writes `buf` at `offset` (core passes the end of file for
    /// O_APPEND). Returns the bytes written.
    fn write(&self, buf: &[u8], offset: u64) -> Result<usize, Errno>;
    /// True if the offset matters (regular files, block devices): lseek,
    /// pread and pwrite work. False for pipes, ttys and sockets (`ESPIPE`).
    fn seekable(&self) -> bool {
        true
    }
    /// Size for SEEK_END, if the file has one.
    fn size(&self) -> Result<u64, Errno> {
        Ok(0)
    }
    /// Sets the size (ftruncate).
    fn truncate(&self, _size: u64) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }
    /// Flushes to stable storage.
    fn sync(&self) -> Result<(), Errno> {
        Ok(())
    }
    /// A device or file-specific ioctl. `arg` is the raw argument; an ioctl
    /// that reads or writes memory does it through `task`.
    fn ioctl(&self, _task: &mut Task, _cmd: u32, _arg: u64) -> Result<u64, Errno> {
        Err(Errno::ENOTTY)
    }
    /// True if this is a terminal (isatty, TCGETS).
    fn is_tty(&self) -> bool {
        false
    }
    /// Current readiness.
    fn poll(&self) -> PollMask {
        veil_abi::flags::POLLIN | veil_abi::flags::POLLOUT
    }
    /// Whether the file has a poll operation in Linux's sense: epoll
    /// refuses a file without one (`EPERM`), while poll and select report
    /// it always ready. `None` (the default) lets core decide: a file with
    /// a wait queue has one; regular files and directories do not; other
    /// files do (`/dev/null`, say, answers `Some(false)`).
    fn has_poll(&self) -> Option<bool> {
        None
    }
    /// What fstat reports for a description opened without a path (the
    /// host-fd files the runtime installs as stdin / stdout / stderr, and
    /// later pipes and sockets): glibc fstats stdout to choose its
    /// buffering. `None` (the default) makes core report an anonymous
    /// inode (mode 0600, no type). Files opened by path are stat'ed
    /// through their inode, not this.
    fn stat(&self) -> Option<InodeAttr> {
        None
    }
    /// The queue woken when this file's readiness changes. A file that can
    /// make a reader or writer wait (pipes, sockets, ttys) returns one and
    /// answers `EAGAIN` from `read` / `write` when the call would block;
    /// core then sleeps on the queue unless the description is O_NONBLOCK.
    /// The file must `notify` it after every change of what `poll`
    /// answers, outside its own locks: epoll instances watch it (see
    /// [`crate::vfs::waitq`]). A file without one is re-polled by napping.
    fn wait_queue(&self) -> Option<&crate::vfs::waitq::WaitQueue> {
        None
    }
    /// Called when the last descriptor referring to it closes.
    fn release(&self) {}
    /// The pages of a file whose data lives in the memory file (memfds,
    /// tmpfs files): a `MAP_SHARED` mapping maps those pages themselves,
    /// so that every mapping, `read` and `write` see the same bytes.
    /// `None` (the default): mappings copy the file's data in.
    fn memory_pages(&self) -> Option<&dyn MemoryPages> {
        None
    }
    /// mmap of this file: `shared` for MAP_SHARED, `write` if PROT_WRITE is
    /// asked, `may_write` if the description allows writing. May refuse
    /// the mapping (a write-sealed memfd: `EPERM`); else gives the object
    /// the mapping holds and reads, and whether a shared mapping may ever
    /// be writable. `None` (the default): this file, as the open mode
    /// allows.
    fn mmap(
        &self,
        _shared: bool,
        _write: bool,
        _may_write: bool,
    ) -> Option<Result<MapTarget, Errno>> {
        None
    }
    /// For downcasting.
    fn as_any(&self) -> &dyn Any;
}

/// What a mapping of a file holds and reads, and whether a shared mapping
/// may ever be writable (see [`FileOps::mmap`]).
pub type MapTarget = (Arc<dyn FileOps>, bool);

/// The memory-file pages that hold a file's data (see
/// [`FileOps::memory_pages`] and [`crate::vfs::pagestore`]).
///
/// The contract with the memory manager: every page handed out comes
/// from [`memory`](MemoryPages::memory) (a memory manager maps them only
/// if that is its own allocator, and copies the data otherwise), with one
/// reference for the caller; the caller adds itself to
/// [`mappings`](MemoryPages::mappings) before it maps them; and whenever
/// pages leave the file (truncation, hole punching) the file invalidates
/// them there, outside its own locks, so that no address space keeps
/// showing a page the file no longer holds.
pub trait MemoryPages: Send + Sync {
    /// The allocator (and memory file) the pages come from.
    fn memory(&self) -> Arc<crate::mm::PageAllocator>;
    /// Appends to `out` the memory-file pages holding pages `first,
    /// first+1, ...` of the file (at most `n`), allocating holes
    /// (zero-filled), with one reference taken on each for the caller.
    /// Stops at the end of the file (so possibly none) or when memory
    /// runs out; `Err` only if not even `first` could be had.
    fn get_pages(
        &self,
        first: u64,
        n: u64,
        out: &mut Vec<crate::addr::FileOffset>,
    ) -> Result<(), Errno>;
    /// mincore: `out[i]` is 1 if page `first + i` of the file holds data.
    fn resident(&self, first: u64, out: &mut [u8]);
    /// The address spaces that may map the file's pages.
    fn mappings(&self) -> &crate::vfs::pagestore::MappingSet;
    /// Punches a hole of `len` bytes at `off` (`MADV_REMOVE`): the range
    /// reads as zeros afterwards, in every mapping too. Called with no
    /// address-space lock held.
    fn remove(&self, _off: u64, _len: u64) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }
    /// Gives the file pages for every byte of `[off, off+len)` that has
    /// none (fallocate), without changing its size: `ENOSPC` when the
    /// filesystem's limit is reached (what was allocated stays, as
    /// Linux's tmpfs keeps it).
    fn allocate(&self, _off: u64, _len: u64) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }
}
