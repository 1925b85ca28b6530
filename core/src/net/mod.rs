//! Sockets: the object behind a socket fd, and the families that make them.
//!
//! A socket is a [`Socket`]: an object with an address, a connection
//! state, queues and options, that answers each call of the socket API
//! (bind, connect, listen, accept, send, receive, shutdown, options)
//! without ever sleeping: an operation that would wait answers `EAGAIN`,
//! and the syscall layer ([`crate::syscalls::socket`]) sleeps on the
//! socket's [`WaitQueue`] and tries again, as it does for pipes. The open
//! file description holds a [`SocketFile`], which makes `poll`, `fstat`,
//! ioctls and the generic copy paths (sendfile, splice) work on a socket fd
//! like on any other file; read(2) and write(2) on a socket are recvmsg
//! and sendmsg without flags, served by the syscall layer (so that they
//! carry the caller's credentials, honour SO_RCVTIMEO / SO_SNDTIMEO, and
//! send a datagram whole however large).
//!
//! Families:
//! - [`unix`]: `AF_UNIX` stream, datagram and seqpacket sockets, bound to
//!   filesystem paths or abstract names, with descriptor and credential
//!   passing.
//!
//! Every other family answers `EAFNOSUPPORT` at socket(2) until the
//! network stack comes (a later issue).

pub mod unix;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;

use veil_abi::socket::Ucred;
use veil_abi::Errno;

use crate::task::Task;
use crate::vfs::node::{FileOps, InodeAttr, PollMask};
use crate::vfs::waitq::WaitQueue;
use crate::vfs::OpenFile;

/// The sandbox's network state: today the unix-socket namespace.
#[derive(Default)]
pub struct Net {
    /// Bound unix sockets, by path inode and by abstract name.
    pub unix: Arc<unix::UnixNamespace>,
}

/// A message to send.
pub struct SendMsg<'a> {
    /// The bytes.
    pub data: &'a [u8],
    /// The destination address (`struct sockaddr` bytes), for sendto.
    pub to: Option<&'a [u8]>,
    /// Descriptions to pass (SCM_RIGHTS).
    pub rights: Vec<Arc<OpenFile>>,
    /// Credentials the sender asked to send (SCM_CREDENTIALS, checked).
    pub creds: Option<Ucred>,
    /// Who sends: the calling process's pid and real ids, recorded with
    /// the message when either end asked for credentials.
    pub sender: Ucred,
}

/// A message received.
#[derive(Default)]
pub struct RecvMsg {
    /// The bytes copied (at most the length asked for).
    pub data: Vec<u8>,
    /// The length of the whole message (datagrams; MSG_TRUNC reports it).
    pub len: usize,
    /// The message was longer than the buffer (MSG_TRUNC in msg_flags).
    pub truncated: bool,
    /// The sender's address, if it has one.
    pub from: Option<Vec<u8>>,
    /// Credentials to report (SCM_CREDENTIALS), if the receiver asked.
    pub creds: Option<Ucred>,
    /// Descriptions passed with the message (SCM_RIGHTS).
    pub rights: Vec<Arc<OpenFile>>,
    /// The out-of-band byte (MSG_OOB in msg_flags).
    pub oob: bool,
}

/// A socket of some family. Methods never sleep: what would wait answers
/// `EAGAIN` and the caller sleeps on [`Socket::wait_queue`].
pub trait Socket: Send + Sync {
    /// `SO_DOMAIN`.
    fn domain(&self) -> i32;
    /// `SO_TYPE`.
    fn sock_type(&self) -> i32;
    /// `SO_PROTOCOL`.
    fn protocol(&self) -> i32 {
        0
    }
    /// bind(2) to the address bytes `addr`.
    fn bind(&self, task: &Task, addr: &[u8]) -> Result<(), Errno>;
    /// listen(2).
    fn listen(&self, task: &Task, backlog: i32) -> Result<(), Errno>;
    /// connect(2). `EAGAIN` if the peer's backlog is full.
    fn connect(&self, task: &Task, addr: &[u8]) -> Result<(), Errno>;
    /// Takes a pending connection. `EAGAIN` if there is none.
    fn accept(&self) -> Result<Arc<dyn Socket>, Errno>;
    /// getsockname(2): the address bytes.
    fn local_name(&self) -> Vec<u8>;
    /// getpeername(2): the address bytes, `ENOTCONN` without a peer.
    fn peer_name(&self) -> Result<Vec<u8>, Errno>;
    /// Sends what fits (a stream may take part of `msg.data`); `EAGAIN`
    /// if nothing does. `flags` are `MSG_*`.
    fn send(&self, task: Option<&Task>, msg: SendMsg<'_>, flags: u32) -> Result<usize, Errno>;
    /// Receives at most `len` bytes; `EAGAIN` if nothing is there.
    /// `dontwait` tells whether the caller will sleep on `EAGAIN` (a few
    /// answers differ, as in Linux).
    fn recv(&self, len: usize, flags: u32, dontwait: bool) -> Result<RecvMsg, Errno>;
    /// The largest message a send may carry whole, for message-oriented
    /// sockets (`EMSGSIZE` past it); `None` for streams.
    fn max_message(&self) -> Option<usize>;
    /// shutdown(2).
    fn shutdown(&self, how: i32) -> Result<(), Errno>;
    /// setsockopt(2): reads the value from `optval` itself.
    fn setsockopt(
        &self,
        task: &Task,
        level: i32,
        name: i32,
        optval: u64,
        optlen: usize,
    ) -> Result<(), Errno>;
    /// getsockopt(2): the value's bytes (the caller truncates them).
    fn getsockopt(&self, task: &Task, level: i32, name: i32) -> Result<Vec<u8>, Errno>;
    /// Timeouts (SO_RCVTIMEO, SO_SNDTIMEO) in ns: `None` waits forever.
    fn timeouts(&self) -> (Option<u64>, Option<u64>);
    /// A socket-specific ioctl (FIONREAD, SIOCOUTQ).
    fn ioctl(&self, task: &mut Task, cmd: u32, arg: u64) -> Result<u64, Errno>;
    /// Current readiness.
    fn poll(&self) -> PollMask;
    /// Woken on every change of [`Socket::poll`] and whenever a waiting
    /// call may now succeed.
    fn wait_queue(&self) -> &WaitQueue;
    /// The inode number shown by fstat and `socket:[N]`.
    fn ino(&self) -> u64;
    /// The last descriptor closed.
    fn release(&self);
    /// For downcasting.
    fn as_any(&self) -> &dyn Any;
}

/// The [`FileOps`] of a socket fd.
pub struct SocketFile {
    /// The socket.
    pub sock: Arc<dyn Socket>,
    /// The creator's pid and ids: the owner fstat shows, and the
    /// credentials of data written through [`FileOps::write`] (sendfile,
    /// splice), which does not know the caller.
    pub owner: Ucred,
}

impl SocketFile {
    /// The socket behind `file`, or `ENOTSOCK`.
    pub fn of(file: &OpenFile) -> Result<Arc<dyn Socket>, Errno> {
        file.ops
            .as_any()
            .downcast_ref::<SocketFile>()
            .map(|s| s.sock.clone())
            .ok_or(Errno::ENOTSOCK)
    }
}

impl FileOps for SocketFile {
    fn read(&self, buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        let m = self.sock.recv(buf.len(), 0, false)?;
        buf[..m.data.len()].copy_from_slice(&m.data);
        Ok(m.data.len())
    }

    fn write(&self, buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        if let Some(max) = self.sock.max_message() {
            if buf.len() > max {
                return Err(Errno::EMSGSIZE);
            }
        }
        let msg = SendMsg {
            data: buf,
            to: None,
            rights: Vec::new(),
            creds: None,
            sender: self.owner,
        };
        self.sock.send(None, msg, 0)
    }

    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self) -> PollMask {
        self.sock.poll()
    }

    fn stat(&self) -> Option<InodeAttr> {
        Some(InodeAttr {
            dev: veil_abi::makedev(0, 8),
            ino: self.sock.ino(),
            mode: veil_abi::flags::S_IFSOCK | 0o777,
            nlink: 1,
            uid: self.owner.uid,
            gid: self.owner.gid,
            blksize: 4096,
            ..Default::default()
        })
    }

    fn ioctl(&self, task: &mut Task, cmd: u32, arg: u64) -> Result<u64, Errno> {
        self.sock.ioctl(task, cmd, arg)
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(self.sock.wait_queue())
    }

    fn release(&self) {
        self.sock.release();
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
