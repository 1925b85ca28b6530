//! devfs: the sandbox's `/dev`.
//!
//! A tmpfs (so programs may add to it, as to a devtmpfs) holding the
//! device nodes programs expect, with Linux's numbers and modes:
//!
//! | name      | dev  | behaviour                                        |
//! |-----------|------|--------------------------------------------------|
//! | `null`    | 1:3  | reads EOF, swallows writes                       |
//! | `zero`    | 1:5  | reads zeros, swallows writes                     |
//! | `full`    | 1:7  | reads zeros, writes fail with `ENOSPC`           |
//! | `random`  | 1:8  | reads from the sandbox's [`Random`]              |
//! | `urandom` | 1:9  | the same                                         |
//! | `tty`     | 5:0  | the caller's controlling terminal (`ENXIO` without one) |
//! | `console` | 5:1  | the sandbox's console pty; made only when there is one ([`DevFs::add_console`]), as runc makes it only for a terminal |
//! | `ptmx`    | 5:2  | a new pseudo-terminal master ([`veil_core::tty`]) |
//!
//! plus `stdin`, `stdout`, `stderr` -> `/proc/self/fd/{0,1,2}`, `fd` ->
//! `/proc/self/fd`, an `shm` directory (mode 1777) and a `pts` directory
//! for devpts ([`crate::devpts`]) to be mounted on. A node numbered as a
//! pty slave (136-143:N) outside devpts opens nothing (`EIO`, as Linux).
//!
//! The same [`Devices`] table serves device nodes made by mknod in any
//! tmpfs that is given it (the sandbox root's upper layer): as on Linux, a
//! node opens the device its number names, wherever it lives. Nothing here
//! touches a host device.

use std::sync::Arc;

use veil_abi::Errno;
use veil_core::host::{Clock, Random};
use veil_core::task::Task;
use veil_core::vfs::{Dentry, FileOps, FileType, InodeRef, Owner};

use crate::tmpfs::{DeviceOpen, TmpFs, TmpFsOptions, TMPFS_MAGIC};

/// The device numbers devfs serves.
pub mod devno {
    use veil_abi::makedev;
    /// `/dev/null`.
    pub const NULL: u64 = makedev(1, 3);
    /// `/dev/zero`.
    pub const ZERO: u64 = makedev(1, 5);
    /// `/dev/full`.
    pub const FULL: u64 = makedev(1, 7);
    /// `/dev/random`.
    pub const RANDOM: u64 = makedev(1, 8);
    /// `/dev/urandom`.
    pub const URANDOM: u64 = makedev(1, 9);
    /// `/dev/tty`.
    pub const TTY: u64 = makedev(5, 0);
    /// `/dev/console`.
    pub const CONSOLE: u64 = makedev(5, 1);
    /// `/dev/ptmx`.
    pub const PTMX: u64 = makedev(5, 2);
}

/// The character devices of a sandbox, by number.
pub struct Devices {
    random: Arc<dyn Random>,
}

impl Devices {
    /// The device table, with `random` behind `/dev/random` and
    /// `/dev/urandom`.
    pub fn new(random: Arc<dyn Random>) -> Arc<Devices> {
        Arc::new(Devices { random })
    }
}

impl DeviceOpen for Devices {
    fn open_device(
        &self,
        cx: &Task,
        kind: FileType,
        rdev: u64,
        flags: u32,
    ) -> Result<Arc<dyn FileOps>, Errno> {
        if kind != FileType::CharDevice {
            return Err(Errno::ENXIO);
        }
        match rdev {
            devno::TTY => return Ok(veil_core::tty::open_current_tty(cx, flags)?),
            devno::CONSOLE => return Ok(veil_core::tty::open_console(cx, flags)?),
            devno::PTMX => return Ok(veil_core::tty::open_ptmx(cx)?),
            _ => {}
        }
        // A pty slave is found through its devpts node only.
        let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
        if (136..144).contains(&major) {
            return Err(Errno::EIO);
        }
        let kind = match rdev {
            devno::NULL => DevKind::Null,
            devno::ZERO => DevKind::Zero,
            devno::FULL => DevKind::Full,
            devno::RANDOM | devno::URANDOM => DevKind::Random,
            _ => return Err(Errno::ENXIO),
        };
        Ok(Arc::new(DevFile {
            kind,
            random: self.random.clone(),
        }))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum DevKind {
    Null,
    Zero,
    Full,
    Random,
}

/// An open memory device.
struct DevFile {
    kind: DevKind,
    random: Arc<dyn Random>,
}

impl FileOps for DevFile {
    fn read(&self, buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        match self.kind {
            DevKind::Null => Ok(0),
            DevKind::Zero | DevKind::Full => {
                buf.fill(0);
                Ok(buf.len())
            }
            DevKind::Random => {
                self.random.fill(buf);
                Ok(buf.len())
            }
        }
    }

    fn write(&self, buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        match self.kind {
            DevKind::Full => Err(Errno::ENOSPC),
            _ => Ok(buf.len()),
        }
    }

    /// The memory devices have no fsync: Linux answers EINVAL.
    fn sync(&self) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }

    /// null, zero and full have no poll operation (epoll refuses them);
    /// the random devices do.
    fn has_poll(&self) -> Option<bool> {
        (self.kind != DevKind::Random).then_some(false)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A fresh, populated devfs root inode, for the runtime to mount at
/// `/dev` (type `devtmpfs`): `mount(&at, Dentry::new_root(root),
/// "devtmpfs", "devtmpfs")`.
pub fn new_root(clock: Arc<dyn Clock>, random: Arc<dyn Random>) -> InodeRef {
    match DevFs::new(clock.clone(), random.clone()) {
        Ok(d) => d.fs.root(),
        // Populating a fresh tmpfs cannot fail; should it, an empty /dev
        // is still a /dev.
        Err(_) => TmpFs::new(clock).root(),
    }
}

/// A devfs instance: keep it to reach the tmpfs behind it.
pub struct DevFs {
    fs: TmpFs,
}

impl DevFs {
    /// A populated `/dev` whose random devices read from `random`.
    pub fn new(clock: Arc<dyn Clock>, random: Arc<dyn Random>) -> Result<DevFs, Errno> {
        let fs = TmpFs::with_options(
            clock,
            TmpFsOptions {
                capacity: Some(64 << 20),
                root_mode: 0o755,
                root_owner: Owner::default(),
                devices: Some(Devices::new(random)),
                magic: TMPFS_MAGIC,
            },
        );
        let root = fs.root();
        let root_owner = Owner::default();
        for (name, rdev) in [
            (&b"null"[..], devno::NULL),
            (b"zero", devno::ZERO),
            (b"full", devno::FULL),
            (b"random", devno::RANDOM),
            (b"urandom", devno::URANDOM),
            (b"tty", devno::TTY),
            (b"ptmx", devno::PTMX),
        ] {
            root.create_node(name, FileType::CharDevice, 0o666, rdev, root_owner)?;
        }
        for (name, target) in [
            (&b"stdin"[..], &b"/proc/self/fd/0"[..]),
            (b"stdout", b"/proc/self/fd/1"),
            (b"stderr", b"/proc/self/fd/2"),
            (b"fd", b"/proc/self/fd"),
        ] {
            root.create_symlink(name, target, root_owner)?;
        }
        root.create_dir(b"shm", 0o1777, root_owner)?;
        root.create_dir(b"pts", 0o755, root_owner)?;
        Ok(DevFs { fs })
    }

    /// Adds `/dev/console` (mode 0600, root's), for a sandbox whose
    /// kernel has a console pty.
    pub fn add_console(&self) -> Result<(), Errno> {
        self.fs.root().create_node(
            b"console",
            FileType::CharDevice,
            0o600,
            devno::CONSOLE,
            Owner::default(),
        )?;
        Ok(())
    }

    /// The root as a VFS root dentry, to mount at `/dev`.
    pub fn root_dentry(&self) -> Arc<Dentry> {
        self.fs.root_dentry()
    }

    /// The tmpfs behind it.
    pub fn tmpfs(&self) -> &TmpFs {
        &self.fs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{sorted_names, task, TestClock, TestRandom};
    use veil_abi::flags::{O_RDONLY, O_RDWR, O_WRONLY};
    use veil_abi::makedev;
    use veil_core::vfs::Inode;

    fn devfs() -> DevFs {
        DevFs::new(
            Arc::new(TestClock::default()),
            Arc::new(TestRandom::default()),
        )
        .unwrap()
    }

    #[test]
    fn layout_and_modes() {
        let d = devfs();
        let t = task();
        let root = d.tmpfs().root();
        assert_eq!(
            sorted_names(&*root),
            vec![
                "fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout",
                "tty", "urandom", "zero"
            ]
        );
        for (name, rdev) in [
            ("null", (1, 3)),
            ("zero", (1, 5)),
            ("full", (1, 7)),
            ("random", (1, 8)),
            ("urandom", (1, 9)),
            ("tty", (5, 0)),
            ("ptmx", (5, 2)),
        ] {
            let a = root.lookup(&t, name.as_bytes()).unwrap().attr().unwrap();
            assert_eq!(a.mode, 0o20666, "{name}");
            assert_eq!(a.rdev, makedev(rdev.0, rdev.1), "{name}");
        }
        let stdin = root.lookup(&t, b"stdin").unwrap();
        assert_eq!(stdin.readlink(&t).unwrap(), b"/proc/self/fd/0");
        assert_eq!(
            root.lookup(&t, b"fd").unwrap().readlink(&t).unwrap(),
            b"/proc/self/fd"
        );
        assert_eq!(
            root.lookup(&t, b"shm").unwrap().attr().unwrap().mode,
            0o41777
        );
        assert_eq!(root.attr().unwrap().mode, 0o40755);
    }

    #[test]
    fn device_io() {
        let d = devfs();
        let t = task();
        let root = d.tmpfs().root();
        let open = |name: &str, flags| root.lookup(&t, name.as_bytes()).unwrap().open(&t, flags);
        let mut buf = [7u8; 32];
        let null = open("null", O_RDWR).unwrap();
        assert_eq!(null.read(&mut buf, 0).unwrap(), 0);
        assert_eq!(null.write(b"abc", 0).unwrap(), 3);
        let zero = open("zero", O_RDWR).unwrap();
        assert_eq!(zero.read(&mut buf, 100).unwrap(), 32);
        assert!(buf.iter().all(|&b| b == 0));
        assert_eq!(zero.write(b"abc", 0).unwrap(), 3);
        let full = open("full", O_WRONLY).unwrap();
        assert_eq!(full.write(b"abc", 0).err(), Some(Errno::ENOSPC));
        buf.fill(7);
        assert_eq!(full.read(&mut buf, 0).unwrap(), 32);
        assert!(buf.iter().all(|&b| b == 0));
        for r in ["random", "urandom"] {
            let f = open(r, O_RDONLY).unwrap();
            let mut a = [0u8; 64];
            assert_eq!(f.read(&mut a, 0).unwrap(), 64);
            assert!(a.iter().any(|&b| b != 0));
            assert_eq!(f.write(b"seed", 0).unwrap(), 4);
        }
        assert_eq!(open("tty", O_RDWR).err(), Some(Errno::ENXIO));
        // A node made by mknod opens the device its number names.
        root.create_node(
            b"mynull",
            FileType::CharDevice,
            0o600,
            devno::NULL,
            Owner::default(),
        )
        .unwrap();
        assert_eq!(open("mynull", O_RDWR).unwrap().write(b"x", 0).unwrap(), 1);
        root.create_node(
            b"odd",
            FileType::CharDevice,
            0o600,
            makedev(42, 1),
            Owner::default(),
        )
        .unwrap();
        assert_eq!(open("odd", O_RDWR).err(), Some(Errno::ENXIO));
        root.create_node(
            b"blk",
            FileType::BlockDevice,
            0o600,
            devno::NULL,
            Owner::default(),
        )
        .unwrap();
        assert_eq!(open("blk", O_RDWR).err(), Some(Errno::ENXIO));
        // shm is an ordinary tmpfs directory.
        let shm = root.lookup(&t, b"shm").unwrap();
        let f = shm
            .mknod(b"seg", FileType::Regular, 0o600, 0, Owner::default())
            .unwrap();
        f.open(&t, O_RDWR).unwrap().write(b"shared", 0).unwrap();
        assert_eq!(f.attr().unwrap().size, 6);
    }
}
