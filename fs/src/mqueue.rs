//! The `mqueue` filesystem (`mount -t mqueue none /dev/mqueue`): the
//! sandbox's POSIX message queues ([`MqNamespace`], made by mq_open) as
//! files in one directory, as Linux's mqueue filesystem shows its IPC
//! namespace. Every mount shows the same queues (veil has one namespace
//! per sandbox).
//!
//! As Linux: the root is mode 1777, owned by root; each queue is a regular
//! file of 80 bytes whose read gives `QSIZE:... NOTIFY:... SIGNO:...
//! NOTIFY_PID:...`, and opening it gives a queue descriptor (mq_send and
//! the rest work on it). Creating a file (open with O_CREAT, or mknod of
//! a regular file) makes a queue with the default attributes; unlink
//! removes the name (mq_unlink). Directories, links, symlinks, other node
//! types and rename are `EPERM`. The filesystem takes no options.

use std::any::Any;
use std::sync::{Arc, Weak};

use veil_abi::flags::*;
use veil_abi::{Errno, Statfs};
use veil_core::kernel::Kernel;
use veil_core::syscalls::mqueue::queue::{self, Create, MQUEUE_DEV, ROOT_INO};
use veil_core::task::Task;
use veil_core::vfs::{DirEntry, FileType, Inode, InodeAttr, InodeRef, Owner};

/// The root directory of a mount of the mqueue filesystem.
pub struct MqueueRoot {
    kernel: Weak<Kernel>,
}

/// The root inode for `kernel`'s queues.
pub fn new_root(kernel: &Arc<Kernel>) -> InodeRef {
    Arc::new(MqueueRoot {
        kernel: Arc::downgrade(kernel),
    })
}

impl MqueueRoot {
    fn kernel(&self) -> Result<Arc<Kernel>, Errno> {
        self.kernel.upgrade().ok_or(Errno::ENOENT)
    }
}

impl Inode for MqueueRoot {
    fn attr(&self) -> Result<InodeAttr, Errno> {
        let t = self.kernel()?.mqueue.root_time();
        Ok(InodeAttr {
            dev: MQUEUE_DEV,
            ino: ROOT_INO,
            mode: S_IFDIR | 0o1777,
            nlink: 2,
            uid: 0,
            gid: 0,
            rdev: 0,
            size: 0,
            blksize: 4096,
            blocks: 0,
            atime: t,
            mtime: t,
            ctime: t,
            btime: None,
        })
    }

    fn lookup(&self, _cx: &Task, name: &[u8]) -> Result<InodeRef, Errno> {
        if name.len() > 255 {
            return Err(Errno::ENAMETOOLONG);
        }
        let q = self.kernel()?.mqueue.lookup(name).ok_or(Errno::ENOENT)?;
        Ok(q)
    }

    fn mknod(
        &self,
        name: &[u8],
        kind: FileType,
        mode: u32,
        _rdev: u64,
        owner: Owner,
    ) -> Result<InodeRef, Errno> {
        if kind != FileType::Regular {
            return Err(Errno::EPERM);
        }
        let k = self.kernel()?;
        let q = k.mqueue.create(
            name,
            Create {
                uid: owner.uid,
                owner: (owner.uid, owner.gid),
                // Root in the sandbox keeps every capability.
                privileged: owner.uid == 0,
                mode,
                attr: None,
                rlimit: 819_200,
                now: k.clock.realtime(),
            },
        )?;
        Ok(q)
    }

    fn mkdir(&self, _name: &[u8], _mode: u32, _owner: Owner) -> Result<InodeRef, Errno> {
        Err(Errno::EPERM)
    }

    fn symlink(&self, _name: &[u8], _target: &[u8], _owner: Owner) -> Result<InodeRef, Errno> {
        Err(Errno::EPERM)
    }

    fn link(&self, _name: &[u8], _target: &InodeRef) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }

    fn unlink(&self, name: &[u8]) -> Result<(), Errno> {
        let k = self.kernel()?;
        let now = k.clock.realtime();
        k.mqueue.unlink(name, now)
    }

    fn rmdir(&self, _name: &[u8]) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }

    fn rename(
        &self,
        _old_name: &[u8],
        _new_dir: &InodeRef,
        _new_name: &[u8],
        _flags: u32,
    ) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }

    fn readdir(&self, offset: u64, sink: &mut dyn FnMut(DirEntry) -> bool) -> Result<(), Errno> {
        // Cookies are positions in name order.
        let list = self.kernel()?.mqueue.list();
        for (i, (name, ino)) in list.into_iter().enumerate().skip(offset as usize) {
            let more = sink(DirEntry {
                ino,
                kind: FileType::Regular,
                name,
                next: i as u64 + 1,
            });
            if !more {
                break;
            }
        }
        Ok(())
    }

    fn statfs(&self) -> Result<Statfs, Errno> {
        Ok(queue::statfs())
    }

    fn cacheable(&self) -> bool {
        // mq_open and mq_unlink change the names without this directory.
        false
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
