//! Mounting: mount(2) and umount2(2) flags, the namespace flags of
//! clone/unshare, statfs's `f_flags`, and the capability numbers the
//! mount-related calls check (include/uapi/linux/mount.h, sched.h,
//! statfs.h, capability.h).

/// Mount read-only.
pub const MS_RDONLY: u64 = 1;
/// Ignore suid and sgid bits.
pub const MS_NOSUID: u64 = 2;
/// Disallow access to device special files.
pub const MS_NODEV: u64 = 4;
/// Disallow program execution.
pub const MS_NOEXEC: u64 = 8;
/// Writes are synced at once.
pub const MS_SYNCHRONOUS: u64 = 16;
/// Alter flags of a mounted filesystem.
pub const MS_REMOUNT: u64 = 32;
/// Allow mandatory locks.
pub const MS_MANDLOCK: u64 = 64;
/// Directory modifications are synchronous.
pub const MS_DIRSYNC: u64 = 128;
/// Do not follow symlinks.
pub const MS_NOSYMFOLLOW: u64 = 256;
/// Do not update access times.
pub const MS_NOATIME: u64 = 1024;
/// Do not update directory access times.
pub const MS_NODIRATIME: u64 = 2048;
/// Bind a directory or file elsewhere.
pub const MS_BIND: u64 = 4096;
/// Move a mount.
pub const MS_MOVE: u64 = 8192;
/// With MS_BIND or a propagation change: the whole subtree.
pub const MS_REC: u64 = 16384;
/// Suppress some kernel messages.
pub const MS_SILENT: u64 = 32768;
/// VFS does not apply the umask.
pub const MS_POSIXACL: u64 = 1 << 16;
/// Change to unbindable.
pub const MS_UNBINDABLE: u64 = 1 << 17;
/// Change to private.
pub const MS_PRIVATE: u64 = 1 << 18;
/// Change to slave.
pub const MS_SLAVE: u64 = 1 << 19;
/// Change to shared.
pub const MS_SHARED: u64 = 1 << 20;
/// Update atime relative to mtime/ctime.
pub const MS_RELATIME: u64 = 1 << 21;
/// Kernel-internal mount (refused from user space).
pub const MS_KERNMOUNT: u64 = 1 << 22;
/// Update inode I_version field.
pub const MS_I_VERSION: u64 = 1 << 23;
/// Always update atime.
pub const MS_STRICTATIME: u64 = 1 << 24;
/// Update the on-disk [acm]times lazily.
pub const MS_LAZYTIME: u64 = 1 << 25;
/// Refused by mount(2) (`EINVAL`).
pub const MS_NOUSER: u64 = 1 << 31;
/// The old magic number in the top 16 bits of the flags.
pub const MS_MGC_VAL: u64 = 0xC0ED_0000;
/// Mask of the magic number.
pub const MS_MGC_MSK: u64 = 0xffff_0000;

/// umount2: force unmounting.
pub const MNT_FORCE: u32 = 1;
/// umount2: detach now, clean up when no longer busy.
pub const MNT_DETACH: u32 = 2;
/// umount2: mark for expiry.
pub const MNT_EXPIRE: u32 = 4;
/// umount2: do not follow a final symlink.
pub const UMOUNT_NOFOLLOW: u32 = 8;

/// statfs `f_flags`: mounted read-only.
pub const ST_RDONLY: i64 = 0x0001;
/// statfs `f_flags`: setuid bits ignored.
pub const ST_NOSUID: i64 = 0x0002;
/// statfs `f_flags`: devices not opened.
pub const ST_NODEV: i64 = 0x0004;
/// statfs `f_flags`: no execution.
pub const ST_NOEXEC: i64 = 0x0008;
/// statfs `f_flags`: synchronous writes.
pub const ST_SYNCHRONOUS: i64 = 0x0010;
/// statfs `f_flags`: the result is valid.
pub const ST_VALID: i64 = 0x0020;
/// statfs `f_flags`: mandatory locks.
pub const ST_MANDLOCK: i64 = 0x0040;
/// statfs `f_flags`: no access-time updates.
pub const ST_NOATIME: i64 = 0x0400;
/// statfs `f_flags`: no directory access-time updates.
pub const ST_NODIRATIME: i64 = 0x0800;
/// statfs `f_flags`: relative access-time updates.
pub const ST_RELATIME: i64 = 0x1000;
/// statfs `f_flags`: symlinks not followed.
pub const ST_NOSYMFOLLOW: i64 = 0x2000;

/// clone / unshare: new time namespace.
pub const CLONE_NEWTIME: u64 = 0x0000_0080;
/// clone / unshare: share (unshare: unshare) the filesystem context.
pub const CLONE_FS: u64 = 0x0000_0200;
/// clone / unshare: the fd table.
pub const CLONE_FILES: u64 = 0x0000_0400;
/// clone / unshare: signal handlers.
pub const CLONE_SIGHAND: u64 = 0x0000_0800;
/// clone / unshare: the address space.
pub const CLONE_VM: u64 = 0x0000_0100;
/// clone / unshare: the thread group.
pub const CLONE_THREAD: u64 = 0x0001_0000;
/// clone / unshare: new mount namespace.
pub const CLONE_NEWNS: u64 = 0x0002_0000;
/// clone / unshare: System V semaphore undo lists.
pub const CLONE_SYSVSEM: u64 = 0x0004_0000;
/// clone / unshare: new cgroup namespace.
pub const CLONE_NEWCGROUP: u64 = 0x0200_0000;
/// clone / unshare: new UTS namespace.
pub const CLONE_NEWUTS: u64 = 0x0400_0000;
/// clone / unshare: new IPC namespace.
pub const CLONE_NEWIPC: u64 = 0x0800_0000;
/// clone / unshare: new user namespace.
pub const CLONE_NEWUSER: u64 = 0x1000_0000;
/// clone / unshare: new pid namespace.
pub const CLONE_NEWPID: u64 = 0x2000_0000;
/// clone / unshare: new network namespace.
pub const CLONE_NEWNET: u64 = 0x4000_0000;

/// chroot needs it.
pub const CAP_SYS_CHROOT: u32 = 18;

/// `SYSFS_MAGIC` for statfs.
pub const SYSFS_MAGIC: i64 = 0x6265_6572;
/// `CGROUP2_SUPER_MAGIC` for statfs.
pub const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
