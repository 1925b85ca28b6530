//! veil-fs: filesystems plugged into veil-core's VFS.
//!
//! Each filesystem implements core's [`Inode`](veil_core::vfs::Inode) /
//! [`FileOps`](veil_core::vfs::FileOps) contract:
//!
//! - [`tmpfs`]: an in-memory filesystem (sparse files, hard links,
//!   rename, stable readdir cookies, an optional size limit);
//! - [`hostfs`]: a host directory served read-only, confined beneath its
//!   root (`openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, host symlinks
//!   never followed, host pseudo-filesystems hidden, devices never opened);
//! - [`overlay`]: a writable tmpfs upper layer over a read-only lower layer
//!   (copy-up, whiteouts, opaque directories); writes never reach the host;
//! - [`devfs`]: `/dev` with null, zero, full, random, urandom, tty, ptmx,
//!   the `/proc/self/fd` symlinks, `shm` and `pts`;
//! - [`devpts`]: `/dev/pts`, the sandbox's pseudo-terminal slaves;
//! - [`procfs`]: `/proc`, generated per calling task from core's model,
//!   with a directory for every process of the sandbox;
//! - [`sysfs`]: `/sys` (CPUs, transparent huge pages) and the sandbox's
//!   cgroup2 (its limits and processes), built from its configuration;
//! - [`fstypes`]: [`Filesystems`], the types mount(2) makes inside the
//!   sandbox (tmpfs with its options, proc, sysfs, cgroup2, devpts);
//! - [`hostfd`]: [`HostFdFile`](hostfd::HostFdFile), an open file over an
//!   inherited host fd (the sandbox's stdin, stdout and stderr).
//!
//! # What the runtime calls
//!
//! ```text
//! use veil_core::vfs::{Dentry, MountNamespace};
//!
//! // `/`: the host's root, read-only, under an in-memory upper layer.
//! let root = veil_fs::sandbox_root(Path::new("/"), clock.clone(), random.clone())?;
//! let mounts = MountNamespace::new(Dentry::new_root(root), "overlay", "overlay");
//! // ... build the Kernel with `mounts`, then a task `t` ...
//! let at = |p: &[u8]| walk::resolve(&t, AT_FDCWD, p, WalkFlags { follow: true, ..Default::default() });
//! let dev = veil_fs::devfs::new_root(clock.clone(), random.clone());
//! mounts.mount(&at(b"/dev")?, Dentry::new_root(dev), "devtmpfs", "devtmpfs");
//! let proc = veil_fs::procfs::new_root_for(&kernel);
//! mounts.mount(&at(b"/proc")?, Dentry::new_root(proc), "proc", "proc");
//!
//! // mount(2)'s filesystem types; the single sysfs and cgroup2.
//! let types = Arc::new(veil_fs::Filesystems::new(&kernel, SysConfig::unlimited(cpus)));
//! mounts.install_filesystems(types.clone());
//! mounts.mount_fs(&at(b"/sys")?, types.sysfs(), "sysfs", "sysfs", 0, flags);
//! mounts.mount_fs(&at(b"/sys/fs/cgroup")?, types.cgroup(), "cgroup2", "cgroup2", MS_RDONLY, flags);
//!
//! // stdin / stdout / stderr: a dup of the caller's fd each, with the
//! // host's status flags and current offset in the description.
//! for fd in 0..3 {
//!     if let Some(host) = veil_fs::HostFdFile::from_stdio(fd) {
//!         t.fds.set(fd, host.into_open_file(), false, limit)?;
//!     }
//! }
//! ```
//!
//! (`/proc` and `/dev` must exist as directories in the root; they do on
//! any Linux host. The host's own `/proc` and `/sys` are shown empty by
//! hostfs where nothing is mounted over them.)

#![deny(missing_docs)]

pub mod devfs;
pub mod devpts;
pub mod fstypes;
pub mod hostfd;
pub mod hostfs;
pub mod mqueue;
pub mod overlay;
pub mod procfs;
mod sys;
pub mod sysfs;
pub mod tmpfs;
pub mod util;

#[cfg(test)]
pub(crate) mod testutil;

use std::io;
use std::path::Path;
use std::sync::Arc;

use veil_core::host::{Clock, Random};
use veil_core::vfs::{InodeRef, Owner};

pub use devfs::{DevFs, Devices};
pub use fstypes::Filesystems;
pub use hostfd::HostFdFile;
pub use hostfs::HostFs;
pub use overlay::{LowerNode, Overlay};
pub use procfs::ProcFs;
pub use tmpfs::{TmpFs, TmpFsOptions};
pub use util::alloc_dev;

fn io_err(e: veil_abi::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw())
}

/// Builds the root filesystem of `veil do`: an [`Overlay`] of an empty,
/// unlimited [`TmpFs`] over a read-only [`HostFs`] of `host_root`.
/// Device nodes created in the upper layer (mknod) open the sandbox's own
/// [`Devices`], never host devices. Returns the root inode, for
/// `MountNamespace::new(Dentry::new_root(root), "overlay", "overlay")`.
pub fn sandbox_root(
    host_root: &Path,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
) -> io::Result<InodeRef> {
    Ok(sandbox_overlay(host_root, clock, random, None)?.root())
}

/// As [`sandbox_root`], returning the [`Overlay`] itself, with an optional
/// limit on the bytes of file data the upper layer may hold (`ENOSPC`
/// past it).
pub fn sandbox_overlay(
    host_root: &Path,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    capacity: Option<u64>,
) -> io::Result<Overlay> {
    let host = HostFs::new(host_root)?;
    let lower = host.root()?;
    let upper = TmpFs::with_options(
        clock,
        TmpFsOptions {
            capacity,
            root_mode: 0o755,
            root_owner: Owner::default(),
            devices: Some(Devices::new(random)),
            magic: tmpfs::TMPFS_MAGIC,
        },
    );
    let host_dev = std::fs::metadata(host_root)
        .map(|m| std::os::unix::fs::MetadataExt::dev(&m))
        .unwrap_or(0);
    // The kernel's st_dev encoding of the host root's device.
    let (major, minor) = (
        ((host_dev >> 8) & 0xfff) | ((host_dev >> 32) & !0xfff),
        (host_dev & 0xff) | ((host_dev >> 12) & !0xff),
    );
    let dev = veil_abi::makedev(major as u32, minor as u32);
    Overlay::with_dev(upper, lower, dev).map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{read_all, sorted_names, task_with_root, TempDir, TestClock, TestRandom};
    use veil_abi::flags::{AT_FDCWD, O_RDONLY, O_WRONLY};
    use veil_core::vfs::walk::{resolve, WalkFlags};
    use veil_core::vfs::{Dentry, FileType};

    #[test]
    fn sandbox_assembly() {
        let host = TempDir::new("sandbox");
        std::fs::create_dir(host.0.join("proc")).unwrap();
        std::fs::create_dir(host.0.join("dev")).unwrap();
        std::fs::create_dir(host.0.join("etc")).unwrap();
        std::fs::write(host.0.join("etc/hostname"), b"host\n").unwrap();
        let clock: Arc<dyn Clock> = Arc::new(TestClock::default());
        let random: Arc<dyn Random> = Arc::new(TestRandom::default());
        let root = sandbox_root(&host.0, clock.clone(), random.clone()).unwrap();
        let t = task_with_root(Dentry::new_root(root));
        let follow = WalkFlags {
            follow: true,
            ..Default::default()
        };
        let at = |p: &[u8]| resolve(&t, AT_FDCWD, p, follow).unwrap();
        let mounts = t.kernel.mounts.clone();
        let proc = procfs::new_root(clock.clone());
        mounts.mount(&at(b"/proc"), Dentry::new_root(proc), "proc", "proc");
        let dev = devfs::new_root(clock, random);
        mounts.mount(&at(b"/dev"), Dentry::new_root(dev), "devtmpfs", "devtmpfs");
        let hn = at(b"/etc/hostname");
        assert_eq!(
            read_all(&*hn.inode().open(&t, O_RDONLY).unwrap()),
            b"host\n"
        );
        let null = at(b"/dev/null");
        assert_eq!(
            null.inode()
                .open(&t, O_WRONLY)
                .unwrap()
                .write(b"x", 0)
                .unwrap(),
            1
        );
        let me = at(b"/proc/self");
        assert_eq!(
            me.inode().attr().unwrap().file_type(),
            Some(FileType::Directory)
        );
        assert!(sorted_names(&**at(b"/dev").inode()).contains(&"urandom".to_string()));
        // A device node made in the upper layer opens the sandbox's device.
        let etc = at(b"/etc");
        etc.inode()
            .mknod(
                b"zero",
                FileType::CharDevice,
                0o666,
                devfs::devno::ZERO,
                Owner::default(),
            )
            .unwrap();
        let z = at(b"/etc/zero").inode().open(&t, O_RDONLY).unwrap();
        let mut b = [1u8; 4];
        assert_eq!(z.read(&mut b, 0).unwrap(), 4);
        assert_eq!(b, [0; 4]);
        assert!(!host.0.join("etc/zero").exists());
    }
}
