//! devpts: the sandbox's `/dev/pts`, a view of its pseudo-terminals
//! ([`veil_core::tty::PtyTable`]).
//!
//! As Linux's devpts with its default mount options: the root (inode 1,
//! mode 0755, owned by root); `ptmx` (inode 2, character device 5:2,
//! mode `ptmxmode`, 0000 by default), which opens a new pair as
//! `/dev/ptmx` does; and one entry `N` per pair whose master is open
//! (inode N + 3, character device 136 + N / 256 : N % 256), owned by the
//! fs uid and gid of the process that opened the master, mode 0600,
//! which opens the slave. chmod, chown and utimensat change a slave's
//! node (old glibc's grantpt did). Nothing can be created, removed or
//! renamed here (`EPERM`, and `EACCES` for `O_CREAT`). Lookups are not
//! cached: an entry goes away when its master closes.

use std::any::Any;
use std::sync::Arc;

use veil_abi::flags::{S_IFCHR, S_IFDIR};
use veil_abi::termios::{DEVPTS_SUPER_MAGIC, TTYAUX_MAJOR};
use veil_abi::{makedev, Errno, Statfs, Timespec};
use veil_core::host::Clock;
use veil_core::task::Task;
use veil_core::tty::{Pty, PtyTable};
use veil_core::vfs::{DirEntry, FileOps, FileType, Inode, InodeAttr, InodeRef, Owner, SetAttr};

use crate::util::{alloc_dev, refuse_dir_changes, DirChange};

/// Inode numbers: the root, `ptmx`, then N + 3 for pty N.
const ROOT_INO: u64 = 1;
const PTMX_INO: u64 = 2;
const FIRST_PTY_INO: u64 = 3;

/// Block size devpts reports.
const BLKSIZE: u32 = 1024;

/// One devpts instance.
struct DevPts {
    table: Arc<PtyTable>,
    dev: u64,
    /// When it was mounted: the root's and `ptmx`'s times.
    mounted: Timespec,
}

impl DevPts {
    fn statfs(&self) -> Statfs {
        Statfs {
            f_type: DEVPTS_SUPER_MAGIC,
            f_bsize: 4096,
            f_namelen: 255,
            f_frsize: 4096,
            f_fsid: [self.dev as i32, (self.dev >> 32) as i32],
            // ST_VALID | ST_NOSUID | ST_NOEXEC | ST_RELATIME
            f_flags: 0x20 | 0x2 | 0x8 | 0x1000,
            ..Default::default()
        }
    }
}

/// A devpts root for the ptys of `table`, to mount at `/dev/pts` (type
/// `devpts`): `mount(&at, Dentry::new_root(root), "devpts", "devpts")`.
pub fn new_root(table: Arc<PtyTable>, clock: Arc<dyn Clock>) -> InodeRef {
    Arc::new(Root(Arc::new(DevPts {
        table,
        dev: alloc_dev(),
        mounted: clock.realtime(),
    })))
}

struct Root(Arc<DevPts>);

/// `/dev/pts/ptmx`.
struct Ptmx(Arc<DevPts>);

/// `/dev/pts/N`.
struct Slave {
    fs: Arc<DevPts>,
    pty: Arc<Pty>,
}

/// The pty number a name stands for: decimal as Linux writes it (no sign,
/// no leading zero).
fn pty_number(name: &[u8]) -> Option<u32> {
    if name.is_empty() || (name.len() > 1 && name[0] == b'0') {
        return None;
    }
    if !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(name).ok()?.parse().ok()
}

/// Changing devpts: EEXIST for a name that is there, else as Linux
/// answers for a directory without the operation (EACCES for O_CREAT,
/// EPERM otherwise).
fn refuse_change(root: &Root, change: DirChange) -> Errno {
    if let DirChange::Create(name, _) = change {
        if name == b"ptmx" || pty_number(name).is_some_and(|n| root.0.table.get(n).is_some()) {
            return Errno::EEXIST;
        }
    }
    change.errno()
}

impl Inode for Root {
    fn attr(&self) -> Result<InodeAttr, Errno> {
        let t = self.0.mounted;
        Ok(InodeAttr {
            dev: self.0.dev,
            ino: ROOT_INO,
            mode: S_IFDIR | 0o755,
            nlink: 2,
            blksize: BLKSIZE,
            atime: t,
            mtime: t,
            ctime: t,
            ..Default::default()
        })
    }

    fn lookup(&self, _cx: &Task, name: &[u8]) -> Result<InodeRef, Errno> {
        if name == b"ptmx" {
            return Ok(Arc::new(Ptmx(self.0.clone())));
        }
        let n = pty_number(name).ok_or(Errno::ENOENT)?;
        let pty = self.0.table.get(n).ok_or(Errno::ENOENT)?;
        Ok(Arc::new(Slave {
            fs: self.0.clone(),
            pty,
        }))
    }

    refuse_dir_changes!(refuse_change);

    fn readdir(&self, offset: u64, sink: &mut dyn FnMut(DirEntry) -> bool) -> Result<(), Errno> {
        // Cookies are inode numbers: entries come in inode order, and one
        // that goes away does not shift the others.
        let mut entries = vec![(PTMX_INO, b"ptmx".to_vec())];
        for n in self.0.table.visible() {
            entries.push((n as u64 + FIRST_PTY_INO, n.to_string().into_bytes()));
        }
        for (ino, name) in entries.into_iter().filter(|(ino, _)| *ino > offset) {
            let more = sink(DirEntry {
                ino,
                kind: FileType::CharDevice,
                name,
                next: ino,
            });
            if !more {
                break;
            }
        }
        Ok(())
    }

    fn statfs(&self) -> Result<Statfs, Errno> {
        Ok(self.0.statfs())
    }

    fn cacheable(&self) -> bool {
        false
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Inode for Ptmx {
    fn attr(&self) -> Result<InodeAttr, Errno> {
        let t = self.0.mounted;
        Ok(InodeAttr {
            dev: self.0.dev,
            ino: PTMX_INO,
            mode: S_IFCHR | self.0.table.options.ptmxmode,
            nlink: 1,
            rdev: makedev(TTYAUX_MAJOR, 2),
            blksize: BLKSIZE,
            atime: t,
            mtime: t,
            ctime: t,
            ..Default::default()
        })
    }

    fn open(&self, cx: &Task, _flags: u32) -> Result<Arc<dyn FileOps>, Errno> {
        Ok(veil_core::tty::open_ptmx(cx)?)
    }

    fn statfs(&self) -> Result<Statfs, Errno> {
        Ok(self.0.statfs())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Inode for Slave {
    fn attr(&self) -> Result<InodeAttr, Errno> {
        let n = self.pty.node();
        Ok(InodeAttr {
            dev: self.fs.dev,
            ino: self.pty.index as u64 + FIRST_PTY_INO,
            mode: S_IFCHR | (n.mode & 0o7777),
            nlink: 1,
            uid: n.uid,
            gid: n.gid,
            rdev: veil_core::tty::slave_rdev(self.pty.index),
            blksize: BLKSIZE,
            atime: n.atime,
            mtime: n.mtime,
            ctime: n.ctime,
            ..Default::default()
        })
    }

    fn set_attr(&self, set: &SetAttr) -> Result<(), Errno> {
        if set.size.is_some() {
            return Err(Errno::EINVAL);
        }
        self.pty.set_node(|n| {
            if let Some(m) = set.mode {
                n.mode = m & 0o7777;
            }
            if let Some(u) = set.uid {
                n.uid = u;
            }
            if let Some(g) = set.gid {
                n.gid = g;
            }
            if let Some(t) = set.atime {
                n.atime = t;
            }
            if let Some(t) = set.mtime {
                n.mtime = t;
            }
            if let Some(t) = set.ctime {
                n.ctime = t;
            }
        });
        Ok(())
    }

    fn open(&self, cx: &Task, flags: u32) -> Result<Arc<dyn FileOps>, Errno> {
        Ok(veil_core::tty::open_slave(cx, &self.pty, flags, false)?)
    }

    fn statfs(&self) -> Result<Statfs, Errno> {
        Ok(self.fs.statfs())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{sorted_names, task, TestClock};
    use veil_abi::flags::{O_NOCTTY, O_RDWR};
    use veil_core::vfs::OpenFile;

    #[test]
    fn lists_ptmx_and_open_ptys_with_linux_numbers() {
        let t = task();
        let table = t.kernel.ptys.clone();
        let root = new_root(table, Arc::new(TestClock::default()));
        assert_eq!(sorted_names(&*root), vec!["ptmx"]);
        let a = root.attr().unwrap();
        assert_eq!((a.ino, a.mode, a.nlink), (1, 0o40755, 2));
        assert_eq!(root.statfs().unwrap().f_type, DEVPTS_SUPER_MAGIC);
        let ptmx = root.lookup(&t, b"ptmx").unwrap();
        let p = ptmx.attr().unwrap();
        assert_eq!((p.ino, p.mode, p.rdev), (2, 0o20000, makedev(5, 2)));
        let open = || OpenFile::new(ptmx.open(&t, O_RDWR).unwrap(), None, O_RDWR);
        let m0 = open();
        let m1 = open();
        assert_eq!(sorted_names(&*root), vec!["0", "1", "ptmx"]);
        let s1 = root.lookup(&t, b"1").unwrap().attr().unwrap();
        assert_eq!(s1.ino, 4);
        assert_eq!(s1.mode, 0o20600);
        assert_eq!(s1.rdev, makedev(136, 1));
        assert_eq!((s1.uid, s1.gid), (t.creds.fsuid, t.creds.fsgid));
        assert_eq!(root.lookup(&t, b"01").err(), Some(Errno::ENOENT));
        assert_eq!(root.lookup(&t, b"7").err(), Some(Errno::ENOENT));
        // The slave is locked until unlockpt.
        let node = root.lookup(&t, b"0").unwrap();
        assert_eq!(node.open(&t, O_RDWR | O_NOCTTY).err(), Some(Errno::EIO));
        // Closing a master removes its entry, and its number is reused.
        drop(m0);
        assert_eq!(sorted_names(&*root), vec!["1", "ptmx"]);
        let _m = open();
        assert_eq!(sorted_names(&*root), vec!["0", "1", "ptmx"]);
        drop(m1);
        assert_eq!(
            root.mknod(b"x", FileType::Regular, 0o600, 0, Owner::default())
                .err(),
            Some(Errno::EACCES)
        );
        assert_eq!(
            root.mkdir(b"d", 0o700, Owner::default()).err(),
            Some(Errno::EPERM)
        );
        assert_eq!(root.unlink(b"0").err(), Some(Errno::EPERM));
        assert_eq!(
            root.mknod(b"0", FileType::CharDevice, 0o600, 0, Owner::default())
                .err(),
            Some(Errno::EEXIST)
        );
    }
}
