//! hostfd: an open file over an inherited host fd.
//!
//! The runtime wraps the sandbox's stdin / stdout / stderr in
//! [`HostFdFile`]s, so programs read from and write to whatever the user
//! gave `veil` (a terminal, a pipe, a file, `/dev/null`).
//!
//! Offsets follow Linux: a host fd on a regular file, a block device or a
//! non-terminal character device (`/dev/null`) is seekable; pipes,
//! sockets and terminals are not (`ESPIPE`). For a seekable fd the host's
//! own file offset is kept in step with the sandbox's: the description is
//! shared with the process that started `veil` (a shell running
//! `(veil do cmd; echo more) > log` expects `more` after the output of
//! `cmd`), so I/O moves the host offset to where core's offset says and
//! then uses read / write, which advance it. [`HostFdFile::host_offset`]
//! gives the starting offset the runtime should put in the open file
//! description.
//!
//! Terminal ioctls (`TCGETS`, `TCSETS*`, `TIOCGWINSZ`, `TIOCSWINSZ`) pass
//! to the host terminal; `TIOCGPGRP` answers the sandbox's own process
//! group, `TIOCSPGRP` is accepted and ignored; `FIONREAD` asks the host.
//! Reads block the calling Sentry thread (acceptable until host I/O is
//! made interruptible).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use veil_abi::flags::{
    FIONREAD, O_ACCMODE, O_APPEND, O_NONBLOCK, TCGETS, TCSETS, TCSETSF, TCSETSW, TIOCGPGRP,
    TIOCGWINSZ, TIOCSPGRP, TIOCSWINSZ,
};
use veil_abi::{Errno, Termios, Timespec, Winsize};
use veil_core::addr::UserAddr;
use veil_core::task::Task;
use veil_core::vfs::node::PollMask;
use veil_core::vfs::{FileOps, InodeAttr, OpenFile};

use crate::sys::{self, errno_of};
use crate::util::Lock;

/// An open file over a host fd it owns (closed on drop).
pub struct HostFdFile {
    fd: OwnedFd,
    seekable: bool,
    tty: bool,
    regular: bool,
    append: bool,
    /// Where the host offset is, if known (seekable fds only); the lock
    /// also keeps seek + transfer together.
    pos: Lock<Option<u64>>,
}

impl HostFdFile {
    /// Wraps `fd` (a descriptor the caller hands over, e.g. a `dup` of
    /// stdin).
    pub fn new(fd: OwnedFd) -> io::Result<HostFdFile> {
        let st = sys::fstat(fd.as_raw_fd())?;
        let fl = sys::getfl(fd.as_raw_fd())?;
        let tty = sys::isatty(fd.as_raw_fd());
        let fmt = st.st_mode & libc::S_IFMT;
        let seekable = match fmt {
            libc::S_IFREG | libc::S_IFBLK => true,
            libc::S_IFCHR => !tty,
            _ => false,
        };
        Ok(HostFdFile {
            fd,
            seekable,
            tty,
            regular: fmt == libc::S_IFREG,
            append: fl & libc::O_APPEND != 0,
            pos: Lock::new(None),
        })
    }

    /// Wraps a `dup` (close-on-exec) of the caller's `fd` (0, 1 or 2 for
    /// the sandbox's stdio); `None` if `fd` is not open.
    pub fn from_stdio(fd: i32) -> Option<HostFdFile> {
        let owned = sys::dup_cloexec(fd).ok()?;
        HostFdFile::new(owned).ok()
    }

    /// An open file description for it, with the host fd's access mode
    /// and status flags ([`status_flags`](Self::status_flags)) and its
    /// current offset ([`host_offset`](Self::host_offset)), ready for the
    /// fd table.
    pub fn into_open_file(self) -> Arc<OpenFile> {
        let flags = self.status_flags();
        let pos = self.host_offset();
        let file = OpenFile::new(Arc::new(self), None, flags);
        file.set_pos(pos);
        file
    }

    /// The host fd's current offset (0 for unseekable fds): the offset to
    /// give the open file description at boot.
    pub fn host_offset(&self) -> u64 {
        if !self.seekable {
            return 0;
        }
        let off = sys::lseek(self.fd.as_raw_fd(), 0, libc::SEEK_CUR).unwrap_or(0);
        *self.pos.lock() = Some(off);
        off
    }

    /// The status flags to give the open file description: the host fd's
    /// access mode, `O_APPEND` and `O_NONBLOCK`.
    pub fn status_flags(&self) -> u32 {
        let fl = sys::getfl(self.fd.as_raw_fd()).unwrap_or(libc::O_RDWR) as u32;
        fl & (O_ACCMODE | O_APPEND | O_NONBLOCK)
    }

    /// What `/proc/self/fd/N` shows for it: a terminal's or `/dev/null`'s
    /// path, `pipe:[ino]` / `socket:[ino]` as the host says, otherwise
    /// `host:[ino]` (host paths are not shown).
    pub fn describe(&self) -> Vec<u8> {
        let link = std::fs::read_link(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
            .map(|p| p.into_os_string().into_encoded_bytes())
            .unwrap_or_default();
        let shown = link.starts_with(b"/dev/pts/")
            || link.starts_with(b"/dev/tty")
            || link == b"/dev/null"
            || link.starts_with(b"pipe:[")
            || link.starts_with(b"socket:[");
        if shown {
            return link;
        }
        let ino = sys::fstat(self.fd.as_raw_fd())
            .map(|s| s.st_ino)
            .unwrap_or(0);
        format!("host:[{ino}]").into_bytes()
    }

    /// The wrapped host fd.
    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    fn err(e: io::Error) -> Errno {
        errno_of(&e)
    }

    /// Moves the host offset to `offset` if it is not there.
    fn seek_to(&self, pos: &mut Option<u64>, offset: u64) -> Result<(), Errno> {
        if *pos != Some(offset) {
            let off = i64::try_from(offset).map_err(|_| Errno::EINVAL)?;
            *pos = None;
            sys::lseek(self.fd.as_raw_fd(), off, libc::SEEK_SET).map_err(Self::err)?;
            *pos = Some(offset);
        }
        Ok(())
    }

    fn require_tty(&self) -> Result<(), Errno> {
        if self.tty {
            Ok(())
        } else {
            Err(Errno::ENOTTY)
        }
    }
}

impl FileOps for HostFdFile {
    fn read(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        if !self.seekable {
            return sys::read(self.fd.as_raw_fd(), buf).map_err(Self::err);
        }
        let mut pos = self.pos.lock();
        self.seek_to(&mut pos, offset)?;
        match sys::read(self.fd.as_raw_fd(), buf) {
            Ok(n) => {
                *pos = Some(offset + n as u64);
                Ok(n)
            }
            Err(e) => {
                *pos = None;
                Err(Self::err(e))
            }
        }
    }

    fn write(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        if !self.seekable {
            return sys::write(self.fd.as_raw_fd(), buf).map_err(Self::err);
        }
        let mut pos = self.pos.lock();
        if !self.append {
            self.seek_to(&mut pos, offset)?;
        }
        match sys::write(self.fd.as_raw_fd(), buf) {
            Ok(n) if !self.append => {
                *pos = Some(offset + n as u64);
                Ok(n)
            }
            Ok(n) => {
                // O_APPEND on the host: the host put it at its end.
                *pos = None;
                Ok(n)
            }
            Err(e) => {
                *pos = None;
                Err(Self::err(e))
            }
        }
    }

    fn seekable(&self) -> bool {
        self.seekable
    }

    fn size(&self) -> Result<u64, Errno> {
        let st = sys::fstat(self.fd.as_raw_fd()).map_err(Self::err)?;
        Ok(st.st_size.max(0) as u64)
    }

    fn truncate(&self, _size: u64) -> Result<(), Errno> {
        // The host file is the user's: the sandbox may write to it through
        // the fd it was given, but not cut it.
        Err(Errno::EINVAL)
    }

    fn sync(&self) -> Result<(), Errno> {
        if self.regular {
            sys::fsync(self.fd.as_raw_fd()).map_err(Self::err)?;
        }
        Ok(())
    }

    fn ioctl(&self, task: &mut Task, cmd: u32, arg: u64) -> Result<u64, Errno> {
        let fd = self.fd.as_raw_fd();
        let addr = UserAddr(arg);
        match cmd {
            TCGETS => {
                self.require_tty()?;
                let mut t = Termios::default();
                sys::ioctl_ptr(fd, TCGETS, &mut t).map_err(Self::err)?;
                task.mm.write_obj(addr, &t)?;
                Ok(0)
            }
            TCSETS | TCSETSW | TCSETSF => {
                self.require_tty()?;
                let mut t: Termios = task.mm.read_obj(addr)?;
                sys::ioctl_ptr(fd, cmd, &mut t).map_err(Self::err)?;
                Ok(0)
            }
            TIOCGWINSZ => {
                self.require_tty()?;
                let mut w = Winsize::default();
                sys::ioctl_ptr(fd, TIOCGWINSZ, &mut w).map_err(Self::err)?;
                task.mm.write_obj(addr, &w)?;
                Ok(0)
            }
            TIOCSWINSZ => {
                self.require_tty()?;
                let mut w: Winsize = task.mm.read_obj(addr)?;
                sys::ioctl_ptr(fd, TIOCSWINSZ, &mut w).map_err(Self::err)?;
                Ok(0)
            }
            TIOCGPGRP => {
                self.require_tty()?;
                let pgrp: i32 = *task.tg.pgid.lock();
                task.mm.write_obj(addr, &pgrp)?;
                Ok(0)
            }
            TIOCSPGRP => {
                self.require_tty()?;
                let _pgrp: i32 = task.mm.read_obj(addr)?;
                Ok(0)
            }
            FIONREAD => {
                let mut n: libc::c_int = 0;
                sys::ioctl_ptr(fd, FIONREAD, &mut n).map_err(Self::err)?;
                task.mm.write_obj(addr, &n)?;
                Ok(0)
            }
            _ => Err(Errno::ENOTTY),
        }
    }

    fn is_tty(&self) -> bool {
        self.tty
    }

    fn poll(&self) -> PollMask {
        let ev = libc::POLLIN | libc::POLLOUT;
        match sys::poll_now(self.fd.as_raw_fd(), ev) {
            Ok(r) => r as u16 as PollMask,
            Err(_) => veil_abi::flags::POLLERR,
        }
    }

    fn stat(&self) -> Option<InodeAttr> {
        let st = sys::fstat(self.fd.as_raw_fd()).ok()?;
        Some(InodeAttr {
            dev: st.st_dev,
            ino: st.st_ino,
            mode: st.st_mode,
            nlink: st.st_nlink,
            uid: st.st_uid,
            gid: st.st_gid,
            rdev: st.st_rdev,
            size: st.st_size.max(0) as u64,
            blksize: st.st_blksize.clamp(0, u32::MAX as i64) as u32,
            blocks: st.st_blocks.max(0) as u64,
            atime: Timespec {
                tv_sec: st.st_atime,
                tv_nsec: st.st_atime_nsec,
            },
            mtime: Timespec {
                tv_sec: st.st_mtime,
                tv_nsec: st.st_mtime_nsec,
            },
            ctime: Timespec {
                tv_sec: st.st_ctime,
                tv_nsec: st.st_ctime_nsec,
            },
            btime: None,
        })
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{task, TempDir};
    use std::os::fd::FromRawFd;

    fn pipe() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: `fds` is a valid array of two ints.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: fresh descriptors we own.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    #[test]
    fn pipe_passthrough() {
        let (r, w) = pipe();
        let r = HostFdFile::new(r).unwrap();
        let w = HostFdFile::new(w).unwrap();
        assert!(!r.seekable() && !w.seekable());
        assert!(!r.is_tty());
        assert_eq!(w.write(b"hello", 12345).unwrap(), 5);
        assert!(r.poll() & veil_abi::flags::POLLIN != 0);
        let mut t = task();
        // FIONREAD into task memory is exercised elsewhere; terminal ioctls
        // are ENOTTY on a pipe.
        assert_eq!(r.ioctl(&mut t, TCGETS, 0).err(), Some(Errno::ENOTTY));
        assert_eq!(r.ioctl(&mut t, TIOCGWINSZ, 0).err(), Some(Errno::ENOTTY));
        assert_eq!(r.ioctl(&mut t, 0x1234, 0).err(), Some(Errno::ENOTTY));
        let mut buf = [0u8; 16];
        assert_eq!(r.read(&mut buf, 999).unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");
        assert!(r.describe().starts_with(b"pipe:["));
        let st = r.stat().unwrap();
        assert_eq!(st.mode & libc::S_IFMT, libc::S_IFIFO);
        drop(w);
        assert_eq!(r.read(&mut buf, 0).unwrap(), 0);
    }

    #[test]
    fn regular_file_keeps_host_offset_in_step() {
        let dir = TempDir::new("hostfd");
        let path = dir.0.join("out");
        std::fs::write(&path, b"0123456789").unwrap();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let h = HostFdFile::new(OwnedFd::from(f)).unwrap();
        assert!(h.seekable());
        assert_eq!(h.size().unwrap(), 10);
        let mut buf = [0u8; 4];
        assert_eq!(h.read(&mut buf, 2).unwrap(), 4);
        assert_eq!(&buf, b"2345");
        assert_eq!(h.host_offset(), 6);
        assert_eq!(h.write(b"ab", 10).unwrap(), 2);
        assert_eq!(h.host_offset(), 12);
        assert_eq!(std::fs::read(&path).unwrap(), b"0123456789ab");
        assert!(h.describe().starts_with(b"host:["));
        assert_eq!(h.truncate(0).err(), Some(Errno::EINVAL));
        assert_eq!(h.status_flags() & O_ACCMODE, libc::O_RDWR as u32);
        // O_APPEND host fds append wherever core thinks the offset is.
        let f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        let a = HostFdFile::new(OwnedFd::from(f)).unwrap();
        assert_eq!(a.write(b"Z", 0).unwrap(), 1);
        assert_eq!(std::fs::read(&path).unwrap(), b"0123456789abZ");
    }

    #[test]
    fn stdio_open_file_and_fionread() {
        let dir = TempDir::new("stdio");
        let path = dir.0.join("f");
        std::fs::write(&path, b"abcdef").unwrap();
        let mut f = std::fs::OpenOptions::new().read(true).open(&path).unwrap();
        std::io::Read::read_exact(&mut f, &mut [0u8; 2]).unwrap();
        let h = HostFdFile::from_stdio(std::os::fd::AsRawFd::as_raw_fd(&f)).unwrap();
        let of = h.into_open_file();
        assert_eq!(of.pos(), 2);
        assert!(of.readable() && !of.writable());
        assert!(HostFdFile::from_stdio(-1).is_none());
        // FIONREAD writes into task memory.
        let (r, w) = pipe();
        let r = HostFdFile::new(r).unwrap();
        sys::write(w.as_raw_fd(), b"12345").unwrap();
        let mut t = task();
        let addr =
            t.mm.mmap(
                UserAddr(0),
                4096,
                veil_core::platform::Prot::READ | veil_core::platform::Prot::WRITE,
                veil_abi::flags::MAP_PRIVATE | veil_abi::flags::MAP_ANONYMOUS,
                None,
            )
            .unwrap();
        assert_eq!(r.ioctl(&mut t, FIONREAD, addr.0).unwrap(), 0);
        assert_eq!(t.mm.read_obj::<i32>(addr).unwrap(), 5);
        assert_eq!(r.ioctl(&mut t, FIONREAD, 8).err(), Some(Errno::EFAULT));
    }

    #[test]
    fn terminal_ioctls_pass_through() {
        // A host pseudo-terminal, if this host has one.
        // SAFETY: plain libc calls; every returned fd is checked and owned.
        let master = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
        if master < 0 {
            return;
        }
        // SAFETY: `master` is a fresh fd we own.
        let master = unsafe { OwnedFd::from_raw_fd(master) };
        let mut name = [0 as libc::c_char; 64];
        // SAFETY: valid fd and buffer of the given size.
        let ok = unsafe {
            libc::grantpt(master.as_raw_fd()) == 0
                && libc::unlockpt(master.as_raw_fd()) == 0
                && libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()) == 0
        };
        if !ok {
            return;
        }
        // SAFETY: ptsname_r wrote a NUL-terminated path.
        let slave = unsafe {
            libc::open(
                name.as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            )
        };
        if slave < 0 {
            return;
        }
        // SAFETY: a fresh fd we own.
        let h = HostFdFile::new(unsafe { OwnedFd::from_raw_fd(slave) }).unwrap();
        assert!(h.is_tty());
        assert!(!h.seekable());
        assert!(h.describe().starts_with(b"/dev/pts/"));
        let mut t = task();
        let addr =
            t.mm.mmap(
                UserAddr(0),
                4096,
                veil_core::platform::Prot::READ | veil_core::platform::Prot::WRITE,
                veil_abi::flags::MAP_PRIVATE | veil_abi::flags::MAP_ANONYMOUS,
                None,
            )
            .unwrap();
        let ws = Winsize {
            ws_row: 33,
            ws_col: 101,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        t.mm.write_obj(addr, &ws).unwrap();
        h.ioctl(&mut t, TIOCSWINSZ, addr.0).unwrap();
        t.mm.write_obj(addr, &Winsize::default()).unwrap();
        h.ioctl(&mut t, TIOCGWINSZ, addr.0).unwrap();
        assert_eq!(t.mm.read_obj::<Winsize>(addr).unwrap(), ws);
        h.ioctl(&mut t, TCGETS, addr.0).unwrap();
        let tio: Termios = t.mm.read_obj(addr).unwrap();
        assert_ne!(tio.c_cflag, 0);
        h.ioctl(&mut t, TCSETS, addr.0).unwrap();
        h.ioctl(&mut t, TIOCGPGRP, addr.0).unwrap();
        assert_eq!(t.mm.read_obj::<i32>(addr).unwrap(), t.pid());
        assert_eq!(h.ioctl(&mut t, TCGETS, 16).err(), Some(Errno::EFAULT));
        // Output written to the slave arrives at the master.
        assert_eq!(h.write(b"hi", 0).unwrap(), 2);
        let mut buf = [0u8; 8];
        let n = sys::read(master.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hi");
    }

    #[test]
    fn dev_null_is_seekable() {
        let f = std::fs::File::open("/dev/null").unwrap();
        let h = HostFdFile::new(OwnedFd::from(f)).unwrap();
        assert!(h.seekable());
        assert!(!h.is_tty());
        let mut buf = [0u8; 4];
        assert_eq!(h.read(&mut buf, 0).unwrap(), 0);
        assert_eq!(h.describe(), b"/dev/null");
    }
}
