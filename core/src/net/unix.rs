//! Unix-domain sockets (`AF_UNIX`): stream, datagram and seqpacket.
//!
//! Follows Linux's net/unix/af_unix.c:
//! - Addresses are filesystem paths or abstract names (`sun_path[0] ==
//!   0`). Binding a path creates an `S_IFSOCK` inode (mode `0777 &
//!   ~umask`; `EADDRINUSE` if the name exists); a socket bound to a path is
//!   found again through the [`UnixNamespace`] by the inode's identity
//!   (`st_dev`, `st_ino`), so a connect through another name of the same
//!   inode (a hard link, a bind mount) reaches it and a removed path leaves
//!   it unreachable. Abstract names live in a separate table and vanish
//!   with the socket. `bind` with only the family autobinds to an
//!   abstract name of five hex digits, as does connect or send with
//!   `SO_PASSCRED` on an unbound socket.
//! - Stream and seqpacket sockets connect to a listener: connect makes
//!   the server end at once (an "embryo" queued on the listener, which
//!   counts against the backlog: `backlog + 1` may wait, as Linux's
//!   `unix_recvq_full`) and accept takes it off. Datagram sockets
//!   connect to set a default destination; a datagram socket connected to
//!   another that is not connected back may send to it only while its
//!   queue holds at most `max_dgram_qlen` (10) messages.
//! - Each message carries the sender's address, descriptions passed with
//!   it (SCM_RIGHTS) and the sender's credentials (recorded when either
//!   end has SO_PASSCRED or the sender gave SCM_CREDENTIALS). A stream
//!   read joins messages, but never past one that carried descriptions,
//!   nor across different credentials when the reader has SO_PASSCRED.
//!   Datagram and seqpacket reads take one message and drop what does not
//!   fit (MSG_TRUNC).
//! - Flow control is the sender's: bytes sent and not yet read count
//!   against the sender's SO_SNDBUF (plus a fixed overhead per datagram);
//!   a send waits while they reach it, and poll reports POLLOUT once they
//!   are at most a quarter of it (Linux's `unix_writable`). A stream send
//!   goes out in pieces of at most half the buffer.
//! - Closing a connected stream or seqpacket socket shuts the peer down
//!   both ways (reads drain then see end of file, writes fail with
//!   EPIPE); if the closing side left data unread, or was never
//!   accepted, the peer gets ECONNRESET once. A datagram sender whose
//!   peer closed gets ECONNREFUSED once, then ENOTCONN.
//!
//! - Descriptions in flight are counted per namespace (unix sockets, by
//!   description) and per sending user (all kinds): a user with more in
//!   flight than its RLIMIT_NOFILE gets `ETOOMANYREFS` (Linux's
//!   too_many_unix_fds). Every close of a unix socket while sockets are in
//!   flight runs the collector ([`UnixNamespace::collect`], Linux's
//!   unix_gc): sockets whose every reference is in flight, and only in
//!   the queues of other such sockets not reachable from a live one, have
//!   their queues purged, which frees cycles (a socket passed over itself,
//!   two passed to each other, a listener passed to its own unaccepted
//!   connection).
//!
//! - MSG_OOB on streams (Linux 5.15+): a send's last byte is queued as
//!   the out-of-band byte (a newer one turns the older into plain data)
//!   and the receiver's owner gets SIGURG; recv(MSG_OOB) takes it
//!   (`EINVAL` if none, or with SO_OOBINLINE), leaving an empty message
//!   as the mark. Plain reads stop at the byte and at the mark, and drop
//!   a byte not taken unless SO_OOBINLINE (Linux's manage_oob);
//!   SIOCATMARK and POLLPRI report them. Datagram and seqpacket sockets
//!   answer `EOPNOTSUPP`.
//!
//! Left out: SO_PEEK_OFF offsets, SCM_PIDFD and SO_PEERPIDFD, and
//! `/proc/net/unix`.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec;
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use spin::Mutex;
use veil_abi::flags::{
    AT_FDCWD, CAP_SYS_ADMIN, CAP_SYS_RESOURCE, EPOLLWRBAND, FIONREAD, POLLERR, POLLHUP, POLLIN,
    POLLOUT, POLLPRI, POLLRDHUP, POLLRDNORM, POLLWRNORM, RLIMIT_NOFILE, SIGURG, SI_KERNEL,
    S_IFSOCK, W_OK,
};
use veil_abi::socket::*;
use veil_abi::{Errno, Timeval};
use zerocopy::{FromBytes, IntoBytes};

use super::{RecvMsg, SendMsg, Socket, SocketFile};
use crate::task::Task;
use crate::vfs::node::PollMask;
use crate::vfs::waitq::WaitQueue;
use crate::vfs::walk::{self, WalkFlags};
use crate::vfs::{pathops, perm, FileType, OpenFile};
use crate::UserAddr;

/// net.core.wmem_default / rmem_default.
pub const DEFAULT_BUF: usize = 212_992;
/// net.core.wmem_max / rmem_max: SO_SNDBUF and SO_RCVBUF clamp to it.
const BUF_MAX: usize = 212_992;
/// Linux's SOCK_MIN_SNDBUF and SOCK_MIN_RCVBUF.
const MIN_SNDBUF: usize = 4608;
const MIN_RCVBUF: usize = 2304;
/// What a datagram costs its sender beyond its bytes (an skb's overhead).
const DGRAM_OVERHEAD: usize = 512;
/// CAP_NET_ADMIN (SO_DEBUG, the *BUFFORCE options, high priorities).
const CAP_NET_ADMIN: u32 = 12;
/// The SIOCATMARK ioctl: is the next read at the out-of-band mark?
const SIOCATMARK: u32 = 0x8905;
/// net.unix.max_dgram_qlen.
const MAX_DGRAM_QLEN: usize = 10;

/// RCV_SHUTDOWN and SEND_SHUTDOWN.
const RCV_SHUTDOWN: u8 = 1;
const SEND_SHUTDOWN: u8 = 2;
const SHUTDOWN_MASK: u8 = 3;

/// `struct ucred` reported where there is none (pid 0, the overflow ids
/// of an invalid uid / gid).
const NO_CREDS: Ucred = Ucred {
    pid: 0,
    uid: 65534,
    gid: 65534,
};

static NEXT_INO: AtomicU64 = AtomicU64::new(1);

/// Where a bound socket is found.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    /// A filesystem path's inode: (st_dev, st_ino).
    Path(u64, u64),
    /// An abstract name (without the leading NUL).
    Abstract(Vec<u8>),
}

/// The bound sockets of one sandbox: Linux's unix socket hash tables.
#[derive(Default)]
pub struct UnixNamespace {
    bound: Mutex<BTreeMap<Key, Weak<UnixSocket>>>,
    next_auto: AtomicU32,
    /// Descriptions in flight in this namespace's queues.
    inflight: Mutex<Inflight>,
    /// A collection runs; another was asked for meanwhile.
    gc_running: AtomicBool,
    gc_again: AtomicBool,
}

impl UnixNamespace {
    fn find(&self, key: &Key) -> Option<Arc<UnixSocket>> {
        self.bound.lock().get(key).and_then(Weak::upgrade)
    }

    /// Registers `sock` under `key` unless a live socket holds it.
    fn insert(&self, key: Key, sock: &Arc<UnixSocket>) -> Result<(), Errno> {
        let mut b = self.bound.lock();
        if b.get(&key).is_some_and(|w| w.strong_count() > 0) {
            return Err(Errno::EADDRINUSE);
        }
        b.insert(key, Arc::downgrade(sock));
        Ok(())
    }

    fn remove(&self, key: &Key, sock: *const UnixSocket) {
        let mut b = self.bound.lock();
        if b.get(key).is_some_and(|w| w.as_ptr() == sock) {
            b.remove(key);
        }
    }
}

/// One message in a receive queue.
struct Message {
    data: Vec<u8>,
    /// Bytes of `data` already read (streams).
    off: usize,
    from: Option<Vec<u8>>,
    creds: Option<Ucred>,
    rights: Rights,
    /// Who sent it, and what it still costs them.
    sender: Weak<UnixSocket>,
    charge: usize,
    /// The out-of-band byte waiting (Linux's `oob_skb`). Once taken with
    /// MSG_OOB the message stays, read to its end, as the mark.
    oob: bool,
}

impl Message {
    fn left(&self) -> usize {
        self.data.len() - self.off
    }
}

impl Drop for Message {
    /// Gives the sender its buffer space back. Messages are dropped
    /// outside every socket lock (the sender's queue is notified).
    fn drop(&mut self) {
        if let Some(s) = self.sender.upgrade() {
            s.uncharge(self.charge);
        }
    }
}

enum Conn {
    /// Not connected (a datagram socket without a default peer).
    Closed,
    /// Listening, with connections not yet accepted.
    Listening {
        backlog: usize,
        pending: VecDeque<Arc<UnixSocket>>,
    },
    /// Connected (the peer may since have closed).
    Connected,
}

struct State {
    addr: Option<Vec<u8>>,
    key: Option<Key>,
    conn: Conn,
    peer: Option<Arc<UnixSocket>>,
    rx: VecDeque<Message>,
    rx_bytes: usize,
    shutdown: u8,
    err: Option<Errno>,
    peercred: Option<Ucred>,
    passcred: bool,
    sndbuf: usize,
    rcvbuf: usize,
    rcvtimeo: Option<u64>,
    sndtimeo: Option<u64>,
    /// Options kept only to be read back: SO_REUSEADDR and friends.
    flags: BTreeMap<i32, i32>,
    linger: Linger,
    released: bool,
    /// Senders told to wait for room here (full datagram queue, full
    /// backlog): woken when a message or connection is taken.
    waiting: Vec<Weak<UnixSocket>>,
    /// A message of `rx` is the out-of-band byte.
    has_oob: bool,
}

/// An `AF_UNIX` socket.
pub struct UnixSocket {
    kind: i32,
    ino: u64,
    ns: Arc<UnixNamespace>,
    me: Weak<UnixSocket>,
    /// Bytes (and datagram overhead) sent and not yet read.
    wmem: AtomicUsize,
    st: Mutex<State>,
    queue: WaitQueue,
    /// The description that holds it: its owner gets SIGURG.
    file: Mutex<Weak<OpenFile>>,
}

/// The `struct sockaddr_un` of an unbound socket: the family alone.
fn unnamed() -> Vec<u8> {
    (AF_UNIX as u16).to_ne_bytes().to_vec()
}

/// Linux's unix_validate_addr.
fn validate(addr: &[u8]) -> Result<(), Errno> {
    if addr.len() <= SUN_PATH_OFFSET || addr.len() > SOCKADDR_UN_SIZE {
        return Err(Errno::EINVAL);
    }
    if u16::from_ne_bytes([addr[0], addr[1]]) != AF_UNIX as u16 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// The path of a filesystem address: `sun_path` up to its NUL (or the
/// end of the address).
fn path_of(addr: &[u8]) -> &[u8] {
    let p = &addr[SUN_PATH_OFFSET..];
    let n = p.iter().position(|&b| b == 0).unwrap_or(p.len());
    &p[..n]
}

fn poll_writable(wmem: usize, sndbuf: usize) -> bool {
    wmem.saturating_mul(4) <= sndbuf
}

fn timeval_ns(tv: &Timeval) -> Result<Option<u64>, Errno> {
    if tv.tv_usec < 0 || tv.tv_usec >= 1_000_000 {
        return Err(Errno::EDOM);
    }
    if tv.tv_sec < 0 {
        return Ok(Some(0));
    }
    if tv.tv_sec == 0 && tv.tv_usec == 0 {
        return Ok(None);
    }
    Ok(Some(
        (tv.tv_sec as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(tv.tv_usec as u64 * 1000),
    ))
}

fn ns_timeval(t: Option<u64>) -> Timeval {
    match t {
        None => Timeval::default(),
        Some(ns) => Timeval {
            tv_sec: (ns / 1_000_000_000) as i64,
            tv_usec: ((ns % 1_000_000_000) / 1000) as i64,
        },
    }
}

fn int_bytes(v: i32) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

impl UnixSocket {
    /// A new unconnected socket of `kind` (SOCK_STREAM, SOCK_DGRAM or
    /// SOCK_SEQPACKET).
    pub fn new(ns: &Arc<UnixNamespace>, kind: i32) -> Arc<UnixSocket> {
        Arc::new_cyclic(|me| UnixSocket {
            kind,
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
            ns: ns.clone(),
            me: me.clone(),
            wmem: AtomicUsize::new(0),
            st: Mutex::new(State {
                addr: None,
                key: None,
                conn: Conn::Closed,
                peer: None,
                rx: VecDeque::new(),
                rx_bytes: 0,
                shutdown: 0,
                err: None,
                peercred: None,
                passcred: false,
                sndbuf: DEFAULT_BUF,
                rcvbuf: DEFAULT_BUF,
                rcvtimeo: None,
                sndtimeo: None,
                flags: BTreeMap::new(),
                linger: Linger::default(),
                released: false,
                waiting: Vec::new(),
                has_oob: false,
            }),
            queue: WaitQueue::new(),
            file: Mutex::new(Weak::new()),
        })
    }

    /// Records the description made for the socket (for SIGURG).
    pub fn set_file(&self, file: &Arc<OpenFile>) {
        *self.file.lock() = Arc::downgrade(file);
    }

    /// socketpair(2): two sockets connected to each other, each with
    /// `creds` as its peer's credentials.
    pub fn pair(
        ns: &Arc<UnixNamespace>,
        kind: i32,
        creds: Ucred,
    ) -> (Arc<UnixSocket>, Arc<UnixSocket>) {
        let a = UnixSocket::new(ns, kind);
        let b = UnixSocket::new(ns, kind);
        for (x, y) in [(&a, &b), (&b, &a)] {
            let mut st = x.st.lock();
            st.conn = Conn::Connected;
            st.peer = Some(y.clone());
            st.peercred = Some(creds);
        }
        (a, b)
    }

    fn arc(&self) -> Arc<UnixSocket> {
        // `me` is alive while `self` is borrowed through an Arc.
        self.me.upgrade().expect("unix socket used after drop")
    }

    fn is_stream(&self) -> bool {
        self.kind == SOCK_STREAM
    }

    fn uncharge(&self, n: usize) {
        if n == 0 {
            return;
        }
        let _ = self
            .wmem
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                Some(w.saturating_sub(n))
            });
        self.queue.notify();
    }

    /// Adds `me` to a list of waiting senders (once).
    fn add_waiting(list: &mut Vec<Weak<UnixSocket>>, me: &Weak<UnixSocket>) {
        list.retain(|w| w.strong_count() > 0);
        if !list.iter().any(|w| w.ptr_eq(me)) {
            list.push(me.clone());
        }
    }

    /// Wakes the senders waiting for room here (outside the lock).
    fn wake_waiting(list: Vec<Weak<UnixSocket>>) {
        for w in list {
            if let Some(s) = w.upgrade() {
                s.queue.notify();
            }
        }
    }

    /// Autobinds to a fresh abstract name unless bound (Linux's
    /// unix_autobind).
    fn autobind(&self) -> Result<(), Errno> {
        let mut st = self.st.lock();
        if st.addr.is_some() {
            return Ok(());
        }
        let me = self.arc();
        for _ in 0..0x10_0000u32 {
            let n = self.ns.next_auto.fetch_add(1, Ordering::Relaxed) & 0xf_ffff;
            let mut name = Vec::with_capacity(6);
            name.push(0u8);
            for shift in [16u32, 12, 8, 4, 0] {
                name.push(b"0123456789abcdef"[((n >> shift) & 0xf) as usize]);
            }
            let key = Key::Abstract(name[1..].to_vec());
            if self.ns.insert(key.clone(), &me).is_ok() {
                let mut addr = unnamed();
                addr.extend_from_slice(&name);
                st.addr = Some(addr);
                st.key = Some(key);
                return Ok(());
            }
        }
        Err(Errno::ENOSPC)
    }

    fn passcred(&self) -> bool {
        self.st.lock().passcred
    }

    /// Finds the socket bound to `addr` (Linux's unix_find_other):
    /// `ECONNREFUSED` if none, `EPROTOTYPE` if of another type.
    fn find_other(&self, task: Option<&Task>, addr: &[u8]) -> Result<Arc<UnixSocket>, Errno> {
        let sock = if addr[SUN_PATH_OFFSET] != 0 {
            let task = task.ok_or(Errno::ECONNREFUSED)?;
            let path = path_of(addr);
            let loc = walk::resolve(
                task,
                AT_FDCWD,
                path,
                WalkFlags {
                    follow: true,
                    empty_ok: false,
                },
            )?;
            let attr = loc.inode().attr()?;
            perm::check(&task.creds, &attr, W_OK)?;
            if attr.file_type() != Some(FileType::Socket) {
                return Err(Errno::ECONNREFUSED);
            }
            self.ns
                .find(&Key::Path(attr.dev, attr.ino))
                .ok_or(Errno::ECONNREFUSED)?
        } else {
            let name = addr[SUN_PATH_OFFSET + 1..].to_vec();
            self.ns
                .find(&Key::Abstract(name))
                .ok_or(Errno::ECONNREFUSED)?
        };
        if sock.kind != self.kind {
            return Err(Errno::EPROTOTYPE);
        }
        Ok(sock)
    }

    fn bind_path(&self, task: &Task, addr: &[u8]) -> Result<(), Errno> {
        let path = path_of(addr).to_vec();
        match pathops::mknodat(task, AT_FDCWD, &path, S_IFSOCK | 0o777, 0) {
            Ok(()) => {}
            Err(Errno::EEXIST) => return Err(Errno::EADDRINUSE),
            Err(e) => return Err(e),
        }
        let nofollow = WalkFlags {
            follow: false,
            empty_ok: false,
        };
        let attr = walk::resolve(task, AT_FDCWD, &path, nofollow)?
            .inode()
            .attr()?;
        let key = Key::Path(attr.dev, attr.ino);
        let mut st = self.st.lock();
        if st.addr.is_some() {
            drop(st);
            let _ = pathops::unlinkat(task, AT_FDCWD, &path, false);
            return Err(Errno::EINVAL);
        }
        self.ns.insert(key.clone(), &self.arc())?;
        let mut a = addr[..SUN_PATH_OFFSET].to_vec();
        a.extend_from_slice(&path);
        a.push(0);
        st.addr = Some(a);
        st.key = Some(key);
        Ok(())
    }

    fn bind_abstract(&self, addr: &[u8]) -> Result<(), Errno> {
        let mut st = self.st.lock();
        if st.addr.is_some() {
            return Err(Errno::EINVAL);
        }
        let key = Key::Abstract(addr[SUN_PATH_OFFSET + 1..].to_vec());
        self.ns.insert(key.clone(), &self.arc())?;
        st.addr = Some(addr.to_vec());
        st.key = Some(key);
        Ok(())
    }

    fn connect_stream(&self, task: &Task, addr: &[u8]) -> Result<(), Errno> {
        validate(addr)?;
        if self.passcred() {
            self.autobind()?;
        }
        let other = self.find_other(Some(task), addr)?;
        match self.st.lock().conn {
            Conn::Closed => {}
            Conn::Connected => return Err(Errno::EISCONN),
            Conn::Listening { .. } => return Err(Errno::EINVAL),
        }
        let me = self.arc();
        let creds = Ucred {
            pid: task.pid(),
            uid: task.creds.euid,
            gid: task.creds.egid,
        };
        let embryo = UnixSocket::new(&self.ns, self.kind);
        let listener_creds;
        {
            let mut ost = other.st.lock();
            if ost.shutdown & RCV_SHUTDOWN != 0 || ost.released {
                return Err(Errno::ECONNREFUSED);
            }
            let addr = ost.addr.clone();
            listener_creds = ost.peercred;
            match &mut ost.conn {
                Conn::Listening { backlog, pending } => {
                    if pending.len() > *backlog {
                        Self::add_waiting(&mut ost.waiting, &self.me);
                        return Err(Errno::EAGAIN);
                    }
                    {
                        let mut est = embryo.st.lock();
                        est.conn = Conn::Connected;
                        est.peer = Some(me);
                        est.peercred = Some(creds);
                        est.addr = addr;
                    }
                    pending.push_back(embryo.clone());
                }
                _ => return Err(Errno::ECONNREFUSED),
            }
        }
        other.queue.notify();
        {
            let mut st = self.st.lock();
            st.conn = Conn::Connected;
            st.peer = Some(embryo);
            st.peercred = listener_creds;
        }
        self.queue.notify();
        Ok(())
    }

    fn connect_dgram(&self, task: &Task, addr: &[u8]) -> Result<(), Errno> {
        if addr.len() < SUN_PATH_OFFSET {
            return Err(Errno::EINVAL);
        }
        let other = if u16::from_ne_bytes([addr[0], addr[1]]) == AF_UNSPEC as u16 {
            None
        } else {
            validate(addr)?;
            if self.passcred() {
                self.autobind()?;
            }
            let other = self.find_other(Some(task), addr)?;
            let ost = other.st.lock();
            if ost
                .peer
                .as_ref()
                .is_some_and(|p| !core::ptr::eq(&**p, self))
            {
                return Err(Errno::EPERM);
            }
            drop(ost);
            Some(other)
        };
        let (old, purged) = {
            let mut st = self.st.lock();
            let old = core::mem::replace(&mut st.peer, other.clone());
            st.conn = if other.is_some() {
                Conn::Connected
            } else {
                Conn::Closed
            };
            let changed = match (&old, &other) {
                (Some(o), Some(n)) => !Arc::ptr_eq(o, n),
                (Some(_), None) => true,
                _ => false,
            };
            let purged: Vec<Message> = if changed {
                st.rx_bytes = 0;
                st.rx.drain(..).collect()
            } else {
                Vec::new()
            };
            (if changed { old } else { None }, purged)
        };
        // Linux's unix_dgram_disconnected: messages from the old peer are
        // dropped; if it was connected back, it hears ECONNRESET.
        if let Some(o) = old {
            if !purged.is_empty() {
                let mut ost = o.st.lock();
                if !ost.released && ost.peer.as_ref().is_some_and(|p| core::ptr::eq(&**p, self)) {
                    ost.err = Some(Errno::ECONNRESET);
                }
                drop(ost);
                o.queue.notify();
            }
        }
        drop(purged);
        self.queue.notify();
        Ok(())
    }

    /// Records credentials on a message: the ones given, or the sender's
    /// when either end passes credentials.
    fn creds_for(msg: &SendMsg<'_>, passing: bool) -> Option<Ucred> {
        msg.creds.or(if passing { Some(msg.sender) } else { None })
    }

    /// A stream send; with `oob`, `msg.data` is the one out-of-band byte
    /// (the syscall layer sends the bytes before it first) and the
    /// receiver's owner gets SIGURG (Linux's queue_oob).
    fn send_stream(
        &self,
        task: Option<&Task>,
        msg: SendMsg<'_>,
        oob: bool,
    ) -> Result<usize, Errno> {
        if oob && msg.data.is_empty() {
            return Err(Errno::EOPNOTSUPP);
        }
        let (peer, my_pass, from, sndbuf) = {
            let st = self.st.lock();
            if msg.to.is_some() {
                return Err(match st.conn {
                    Conn::Connected => Errno::EISCONN,
                    _ => Errno::EOPNOTSUPP,
                });
            }
            if st.shutdown & SEND_SHUTDOWN != 0 {
                return Err(Errno::EPIPE);
            }
            let peer = match (&st.conn, &st.peer) {
                (Conn::Connected, Some(p)) => p.clone(),
                _ => return Err(Errno::ENOTCONN),
            };
            (peer, st.passcred, st.addr.clone(), st.sndbuf)
        };
        if msg.data.is_empty() {
            return Ok(0);
        }
        let piece = (sndbuf / 2).saturating_sub(64).max(1);
        let mut rights = self.attach(task, msg.sender.uid, msg.rights)?;
        let mut sent = 0;
        {
            let mut pst = peer.st.lock();
            if pst.released || pst.shutdown & RCV_SHUTDOWN != 0 {
                return Err(Errno::EPIPE);
            }
            let creds = msg.creds.or(if my_pass || pst.passcred {
                Some(msg.sender)
            } else {
                None
            });
            if oob && self.wmem.load(Ordering::Acquire) < sndbuf {
                if let Some(old) = pst.rx.iter_mut().find(|m| m.oob) {
                    old.oob = false;
                }
                pst.has_oob = true;
                self.wmem.fetch_add(1, Ordering::AcqRel);
                pst.rx.push_back(Message {
                    data: msg.data[..1].to_vec(),
                    off: 0,
                    from: from.clone(),
                    creds,
                    rights: core::mem::take(&mut rights),
                    sender: self.me.clone(),
                    charge: 1,
                    oob: true,
                });
                pst.rx_bytes += 1;
                sent = 1;
            }
            while !oob && sent < msg.data.len() && self.wmem.load(Ordering::Acquire) < sndbuf {
                let n = (msg.data.len() - sent).min(piece);
                self.wmem.fetch_add(n, Ordering::AcqRel);
                pst.rx.push_back(Message {
                    data: msg.data[sent..sent + n].to_vec(),
                    off: 0,
                    from: from.clone(),
                    creds,
                    rights: core::mem::take(&mut rights),
                    sender: self.me.clone(),
                    charge: n,
                    oob: false,
                });
                pst.rx_bytes += n;
                sent += n;
            }
        }
        if sent == 0 {
            return Err(Errno::EAGAIN);
        }
        peer.queue.notify();
        if oob {
            let file = peer.file.lock().upgrade();
            if let (Some(t), Some(f)) = (task, file) {
                let owner = *f.fown.lock();
                let urg = crate::vfs::fasync::Fown {
                    signum: SIGURG as u32,
                    ..owner
                };
                crate::vfs::fasync::send(&t.kernel, urg, SI_KERNEL, -1);
            }
        }
        Ok(sent)
    }

    /// recv(MSG_OOB) on a stream (Linux's unix_stream_recv_urg): the
    /// out-of-band byte, `EINVAL` if none waits or it is read inline.
    /// Taken, it leaves its message behind as the mark.
    fn recv_urg(&self, len: usize, flags: u32) -> Result<RecvMsg, Errno> {
        let mut out = RecvMsg::default();
        let mut done = None;
        {
            let mut st = self.st.lock();
            let inline = st.flags.get(&SO_OOBINLINE).copied().unwrap_or(0) != 0;
            if inline || !st.has_oob {
                return Err(Errno::EINVAL);
            }
            let Some(i) = st.rx.iter().position(|m| m.oob) else {
                return Err(Errno::EINVAL);
            };
            let m = &mut st.rx[i];
            out.data = m.data[m.off..m.data.len().min(m.off + len.min(1))].to_vec();
            out.len = 1;
            out.oob = true;
            if flags & MSG_PEEK == 0 {
                m.oob = false;
                m.off = m.data.len();
                st.has_oob = false;
                st.rx_bytes = st.rx_bytes.saturating_sub(1);
                if i > 0 && st.rx[i - 1].left() == 0 {
                    done = st.rx.remove(i - 1);
                }
            }
        }
        drop(done);
        Ok(out)
    }

    fn send_dgram(&self, task: Option<&Task>, mut msg: SendMsg<'_>) -> Result<usize, Errno> {
        if self.kind == SOCK_SEQPACKET && !matches!(self.st.lock().conn, Conn::Connected) {
            return Err(Errno::ENOTCONN);
        }
        let to = if self.kind == SOCK_SEQPACKET {
            None
        } else {
            msg.to
        };
        if let Some(a) = to {
            validate(a)?;
        }
        if self.passcred() {
            self.autobind()?;
        }
        if msg.data.len() > self.max_message().unwrap_or(usize::MAX) {
            return Err(Errno::EMSGSIZE);
        }
        let (my_peer, my_pass, from, sndbuf, shut) = {
            let st = self.st.lock();
            (
                st.peer.clone(),
                st.passcred,
                st.addr.clone(),
                st.sndbuf,
                st.shutdown,
            )
        };
        if shut & SEND_SHUTDOWN != 0 {
            return Err(Errno::EPIPE);
        }
        if self.wmem.load(Ordering::Acquire) >= sndbuf {
            return Err(Errno::EAGAIN);
        }
        let rights = self.attach(task, msg.sender.uid, core::mem::take(&mut msg.rights))?;
        let other = match to {
            Some(a) => self.find_other(task, a)?,
            None => my_peer.clone().ok_or(Errno::ENOTCONN)?,
        };
        let charge = msg.data.len() + DGRAM_OVERHEAD;
        let creds;
        {
            let mut ost = other.st.lock();
            if ost.released {
                drop(ost);
                if self.kind == SOCK_SEQPACKET {
                    return Err(Errno::EPIPE);
                }
                let mut st = self.st.lock();
                if st.peer.as_ref().is_some_and(|p| Arc::ptr_eq(p, &other)) {
                    st.peer = None;
                    st.conn = Conn::Closed;
                }
                return Err(Errno::ECONNREFUSED);
            }
            if self.kind == SOCK_DGRAM
                && ost
                    .peer
                    .as_ref()
                    .is_some_and(|p| !core::ptr::eq(&**p, self))
            {
                return Err(Errno::EPERM);
            }
            if ost.shutdown & RCV_SHUTDOWN != 0 {
                return Err(Errno::EPIPE);
            }
            let connected_back = ost.peer.as_ref().is_some_and(|p| core::ptr::eq(&**p, self));
            if !connected_back && ost.rx.len() > MAX_DGRAM_QLEN {
                Self::add_waiting(&mut ost.waiting, &self.me);
                return Err(Errno::EAGAIN);
            }
            creds = Self::creds_for(&msg, my_pass || ost.passcred);
            self.wmem.fetch_add(charge, Ordering::AcqRel);
            ost.rx_bytes += msg.data.len();
            ost.rx.push_back(Message {
                data: msg.data.to_vec(),
                off: 0,
                from,
                creds,
                rights,
                sender: self.me.clone(),
                charge,
                oob: false,
            });
        }
        other.queue.notify();
        Ok(msg.data.len())
    }

    fn recv_stream(&self, len: usize, flags: u32) -> Result<RecvMsg, Errno> {
        let peek = flags & MSG_PEEK != 0;
        let mut out = RecvMsg::default();
        let mut done: Vec<Message> = Vec::new();
        let mut senders: Vec<Arc<UnixSocket>> = Vec::new();
        let mut taken: Vec<Rights> = Vec::new();
        let mut empty = None;
        {
            let mut st = self.st.lock();
            if !matches!(st.conn, Conn::Connected) {
                return Err(Errno::EINVAL);
            }
            if st.rx.is_empty() {
                if let Some(e) = st.err.take() {
                    return Err(e);
                }
                if st.shutdown & RCV_SHUTDOWN != 0 {
                    return Ok(out);
                }
                return Err(Errno::EAGAIN);
            }
            let passcred = st.passcred;
            let inline = st.flags.get(&SO_OOBINLINE).copied().unwrap_or(0) != 0;
            let mut first = true;
            let mut i = 0;
            while i < st.rx.len() && out.data.len() < len {
                // Linux's manage_oob: a mark (an out-of-band byte taken)
                // ends a read that has bytes unless another byte waits,
                // and is dropped when reached; the waiting byte ends a read
                // that has bytes, and is dropped (its count in FIONREAD
                // stays, as in Linux) unless read inline.
                let copied = !out.data.is_empty();
                if st.rx[i].left() == 0 {
                    if copied && !st.has_oob {
                        break;
                    }
                    if peek {
                        i += 1;
                    } else if let Some(m) = st.rx.remove(i) {
                        done.push(m);
                    }
                    continue;
                }
                if st.rx[i].oob {
                    if copied {
                        break;
                    }
                    if !peek {
                        st.rx[i].oob = false;
                        st.has_oob = false;
                        if !inline {
                            if let Some(m) = st.rx.remove(i) {
                                done.push(m);
                            }
                            continue;
                        }
                    } else if !inline {
                        i += 1;
                        continue;
                    }
                }
                let m = &mut st.rx[i];
                if passcred {
                    let c = m.creds.unwrap_or(NO_CREDS);
                    if first {
                        out.creds = Some(c);
                    } else if out.creds != Some(c) {
                        break;
                    }
                }
                if first {
                    out.from = m.from.clone();
                }
                first = false;
                let n = (len - out.data.len()).min(m.left());
                out.data.extend_from_slice(&m.data[m.off..m.off + n]);
                let had_rights = !m.rights.is_empty();
                if peek {
                    out.rights.extend(m.rights.files.iter().cloned());
                    if had_rights {
                        break;
                    }
                    i += 1;
                    continue;
                }
                taken.push(core::mem::take(&mut m.rights));
                m.off += n;
                m.charge = m.charge.saturating_sub(n);
                if let Some(s) = m.sender.upgrade() {
                    s.wmem
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                            Some(w.saturating_sub(n))
                        })
                        .ok();
                    if !senders.iter().any(|x| Arc::ptr_eq(x, &s)) {
                        senders.push(s);
                    }
                }
                let rest = m.left();
                st.rx_bytes = st.rx_bytes.saturating_sub(n);
                if rest > 0 {
                    break;
                }
                if let Some(m) = st.rx.pop_front() {
                    done.push(m);
                }
                if had_rights {
                    break;
                }
            }
            // Only marks and a skipped byte were there: as if empty.
            if out.data.is_empty() && len > 0 {
                empty = Some(if let Some(e) = st.err.take() {
                    Err(e)
                } else if st.shutdown & RCV_SHUTDOWN != 0 {
                    Ok(())
                } else {
                    Err(Errno::EAGAIN)
                });
            }
        }
        out.len = out.data.len();
        for mut r in taken {
            out.rights.append(&mut r.take());
        }
        drop(done);
        for s in senders {
            s.queue.notify();
        }
        self.queue.notify();
        match empty {
            Some(Err(e)) => Err(e),
            _ => Ok(out),
        }
    }

    fn recv_dgram(&self, len: usize, flags: u32, dontwait: bool) -> Result<RecvMsg, Errno> {
        let peek = flags & MSG_PEEK != 0;
        let mut out = RecvMsg::default();
        let mut rights = Rights::default();
        let (taken, waiting) = {
            let mut st = self.st.lock();
            if self.kind == SOCK_SEQPACKET && !matches!(st.conn, Conn::Connected) {
                return Err(Errno::ENOTCONN);
            }
            let Some(m) = st.rx.front_mut() else {
                if let Some(e) = st.err.take() {
                    return Err(e);
                }
                if st.shutdown & RCV_SHUTDOWN != 0 && (self.kind == SOCK_SEQPACKET || !dontwait) {
                    return Ok(out);
                }
                return Err(Errno::EAGAIN);
            };
            out.len = m.data.len();
            out.truncated = m.data.len() > len;
            out.data = m.data[..m.data.len().min(len)].to_vec();
            out.from = m.from.clone();
            let creds = m.creds;
            if peek {
                out.rights = m.rights.files.clone();
            } else {
                rights = core::mem::take(&mut m.rights);
            }
            if st.passcred {
                out.creds = Some(creds.unwrap_or(NO_CREDS));
            }
            if peek {
                (None, Vec::new())
            } else {
                let m = st.rx.pop_front();
                st.rx_bytes = st.rx_bytes.saturating_sub(out.len);
                (m, core::mem::take(&mut st.waiting))
            }
        };
        out.rights.append(&mut rights.take());
        drop(taken);
        Self::wake_waiting(waiting);
        self.queue.notify();
        Ok(out)
    }

    /// Closes the socket: Linux's unix_release_sock. `embryo` is set for
    /// a connection never accepted (its peer hears ECONNRESET).
    fn close(&self, embryo: bool) {
        let (peer, key, rx, pending, waiting) = {
            let mut st = self.st.lock();
            if st.released {
                return;
            }
            st.released = true;
            st.shutdown = SHUTDOWN_MASK;
            st.rx_bytes = 0;
            let pending = match core::mem::replace(&mut st.conn, Conn::Closed) {
                Conn::Listening { pending, .. } => pending,
                _ => VecDeque::new(),
            };
            (
                st.peer.take(),
                st.key.take(),
                core::mem::take(&mut st.rx),
                pending,
                core::mem::take(&mut st.waiting),
            )
        };
        if let Some(k) = key {
            self.ns.remove(&k, self as *const UnixSocket);
        }
        if let Some(p) = &peer {
            if self.kind != SOCK_DGRAM {
                let mut pst = p.st.lock();
                pst.shutdown = SHUTDOWN_MASK;
                if !rx.is_empty() || embryo {
                    pst.err = Some(Errno::ECONNRESET);
                }
                drop(pst);
                p.queue.notify();
            }
        }
        drop(rx);
        for e in pending {
            e.close(true);
        }
        Self::wake_waiting(waiting);
        self.queue.notify();
        // As Linux's unix_release_sock: any close looks for cycles while
        // sockets are in flight.
        if !embryo && self.ns.sockets_in_flight() > 0 {
            self.ns.collect();
        }
    }

    /// Puts descriptions to send in flight (Linux's unix_attach_fds):
    /// `ETOOMANYREFS` if the sending user already has more in flight than
    /// its RLIMIT_NOFILE, unless it has CAP_SYS_RESOURCE or CAP_SYS_ADMIN.
    /// Runs a collection first when very many sockets are in flight.
    fn attach(
        &self,
        task: Option<&Task>,
        uid: u32,
        files: Vec<Arc<OpenFile>>,
    ) -> Result<Rights, Errno> {
        if files.is_empty() {
            return Ok(Rights::default());
        }
        if let Some(t) = task {
            let n = self.ns.user_in_flight(uid) as u64;
            if n > t.rlimit(RLIMIT_NOFILE)
                && !t.creds.capable(CAP_SYS_RESOURCE)
                && !t.creds.capable(CAP_SYS_ADMIN)
            {
                return Err(Errno::ETOOMANYREFS);
            }
        }
        if self.ns.sockets_in_flight() > GC_TRIGGER {
            self.ns.collect();
        }
        Ok(Rights::new(&self.ns, uid, files))
    }

    fn set_int_opt(&self, task: &Task, name: i32, val: i32) -> Result<(), Errno> {
        let mut st = self.st.lock();
        let b = (val != 0) as i32;
        match name {
            SO_DEBUG => {
                if val != 0 && !task.creds.capable(CAP_NET_ADMIN) {
                    return Err(Errno::EACCES);
                }
                st.flags.insert(name, b);
            }
            SO_REUSEADDR | SO_REUSEPORT | SO_DONTROUTE | SO_BROADCAST | SO_KEEPALIVE
            | SO_OOBINLINE | SO_NO_CHECK | SO_PASSSEC => {
                st.flags.insert(name, b);
            }
            SO_PASSCRED => st.passcred = val != 0,
            SO_SNDBUF | SO_SNDBUFFORCE | SO_RCVBUF | SO_RCVBUFFORCE => {
                let force = name == SO_SNDBUFFORCE || name == SO_RCVBUFFORCE;
                if force && !task.creds.capable(CAP_NET_ADMIN) {
                    return Err(Errno::EPERM);
                }
                // Linux's sock_setsockopt: the *FORCE forms pass the
                // sysctl cap, the value is doubled, never below the floor.
                let max = if force { i32::MAX as usize } else { BUF_MAX };
                let v = ((val as u32) as usize).min(max).min(i32::MAX as usize / 2);
                if name == SO_SNDBUF || name == SO_SNDBUFFORCE {
                    st.sndbuf = (v * 2).max(MIN_SNDBUF);
                } else {
                    st.rcvbuf = (v * 2).max(MIN_RCVBUF);
                }
            }
            SO_PRIORITY => {
                if !(0..=6).contains(&val) && !task.creds.capable(CAP_NET_ADMIN) {
                    return Err(Errno::EPERM);
                }
                st.flags.insert(name, val);
            }
            SO_RCVLOWAT => {
                let v = if val < 0 { i32::MAX } else { val };
                st.flags.insert(name, if v == 0 { 1 } else { v });
            }
            SO_PEEK_OFF => {
                st.flags.insert(name, val);
            }
            SO_BSDCOMPAT => {}
            _ => return Err(Errno::ENOPROTOOPT),
        }
        Ok(())
    }
}

impl Socket for UnixSocket {
    fn domain(&self) -> i32 {
        AF_UNIX
    }

    fn sock_type(&self) -> i32 {
        self.kind
    }

    fn bind(&self, task: &Task, addr: &[u8]) -> Result<(), Errno> {
        if addr.len() == SUN_PATH_OFFSET && u16::from_ne_bytes([addr[0], addr[1]]) == AF_UNIX as u16
        {
            return self.autobind();
        }
        validate(addr)?;
        if addr[SUN_PATH_OFFSET] != 0 {
            self.bind_path(task, addr)
        } else {
            self.bind_abstract(addr)
        }
    }

    fn listen(&self, task: &Task, backlog: i32) -> Result<(), Errno> {
        if self.kind == SOCK_DGRAM {
            return Err(Errno::EOPNOTSUPP);
        }
        let backlog = if backlog as u32 > SOMAXCONN as u32 {
            SOMAXCONN as usize
        } else {
            backlog as usize
        };
        let mut st = self.st.lock();
        if st.addr.is_none() {
            return Err(Errno::EINVAL);
        }
        match &mut st.conn {
            Conn::Connected => return Err(Errno::EINVAL),
            Conn::Listening { backlog: b, .. } => *b = backlog,
            Conn::Closed => {
                st.conn = Conn::Listening {
                    backlog,
                    pending: VecDeque::new(),
                };
                st.peercred = Some(Ucred {
                    pid: task.pid(),
                    uid: task.creds.euid,
                    gid: task.creds.egid,
                });
            }
        }
        let waiting = core::mem::take(&mut st.waiting);
        drop(st);
        Self::wake_waiting(waiting);
        self.queue.notify();
        Ok(())
    }

    fn connect(&self, task: &Task, addr: &[u8]) -> Result<(), Errno> {
        if self.kind == SOCK_DGRAM {
            self.connect_dgram(task, addr)
        } else {
            self.connect_stream(task, addr)
        }
    }

    fn accept(&self) -> Result<Arc<dyn Socket>, Errno> {
        if self.kind == SOCK_DGRAM {
            return Err(Errno::EOPNOTSUPP);
        }
        let (sock, waiting, passcred) = {
            let mut st = self.st.lock();
            let passcred = st.passcred;
            let sock = match &mut st.conn {
                Conn::Listening { pending, .. } => pending.pop_front().ok_or(Errno::EAGAIN)?,
                _ => return Err(Errno::EINVAL),
            };
            (sock, core::mem::take(&mut st.waiting), passcred)
        };
        sock.st.lock().passcred = passcred;
        Self::wake_waiting(waiting);
        self.queue.notify();
        Ok(sock)
    }

    fn local_name(&self) -> Vec<u8> {
        self.st.lock().addr.clone().unwrap_or_else(unnamed)
    }

    fn peer_name(&self) -> Result<Vec<u8>, Errno> {
        let peer = self.st.lock().peer.clone().ok_or(Errno::ENOTCONN)?;
        Ok(peer.local_name())
    }

    fn send(&self, task: Option<&Task>, msg: SendMsg<'_>, flags: u32) -> Result<usize, Errno> {
        if self.is_stream() {
            self.send_stream(task, msg, flags & MSG_OOB != 0)
        } else if flags & MSG_OOB != 0 {
            Err(Errno::EOPNOTSUPP)
        } else {
            self.send_dgram(task, msg)
        }
    }

    fn recv(&self, len: usize, flags: u32, dontwait: bool) -> Result<RecvMsg, Errno> {
        if flags & MSG_OOB != 0 {
            if !self.is_stream() {
                return Err(Errno::EOPNOTSUPP);
            }
            return self.recv_urg(len, flags);
        }
        if self.is_stream() {
            self.recv_stream(len, flags)
        } else {
            self.recv_dgram(len, flags, dontwait)
        }
    }

    fn max_message(&self) -> Option<usize> {
        if self.is_stream() {
            None
        } else {
            Some(self.st.lock().sndbuf.saturating_sub(32))
        }
    }

    fn shutdown(&self, how: i32) -> Result<(), Errno> {
        if !(SHUT_RD..=SHUT_RDWR).contains(&how) {
            return Err(Errno::EINVAL);
        }
        let mode = (how + 1) as u8;
        let peer = {
            let mut st = self.st.lock();
            st.shutdown |= mode;
            st.peer.clone()
        };
        self.queue.notify();
        if let Some(p) = peer {
            if self.kind != SOCK_DGRAM {
                let mut peer_mode = 0;
                if mode & RCV_SHUTDOWN != 0 {
                    peer_mode |= SEND_SHUTDOWN;
                }
                if mode & SEND_SHUTDOWN != 0 {
                    peer_mode |= RCV_SHUTDOWN;
                }
                p.st.lock().shutdown |= peer_mode;
                p.queue.notify();
            }
        }
        Ok(())
    }

    fn setsockopt(
        &self,
        task: &Task,
        level: i32,
        name: i32,
        optval: u64,
        optlen: usize,
    ) -> Result<(), Errno> {
        if level != SOL_SOCKET {
            return Err(Errno::EOPNOTSUPP);
        }
        if optlen < 4 {
            return Err(Errno::EINVAL);
        }
        match name {
            SO_LINGER => {
                if optlen < core::mem::size_of::<Linger>() {
                    return Err(Errno::EINVAL);
                }
                let l: Linger = task.mm.read_obj(UserAddr(optval))?;
                let mut st = self.st.lock();
                st.linger = if l.onoff != 0 {
                    Linger {
                        onoff: 1,
                        linger: l.linger,
                    }
                } else {
                    Linger::default()
                };
                Ok(())
            }
            SO_RCVTIMEO_OLD | SO_RCVTIMEO_NEW | SO_SNDTIMEO_OLD | SO_SNDTIMEO_NEW => {
                if optlen < core::mem::size_of::<Timeval>() {
                    return Err(Errno::EINVAL);
                }
                let tv: Timeval = task.mm.read_obj(UserAddr(optval))?;
                let t = timeval_ns(&tv)?;
                let mut st = self.st.lock();
                if matches!(name, SO_RCVTIMEO_OLD | SO_RCVTIMEO_NEW) {
                    st.rcvtimeo = t;
                } else {
                    st.sndtimeo = t;
                }
                Ok(())
            }
            SO_TYPE | SO_PROTOCOL | SO_DOMAIN | SO_ERROR | SO_ACCEPTCONN | SO_PEERCRED
            | SO_SNDLOWAT | SO_PEERSEC => Err(Errno::ENOPROTOOPT),
            _ => {
                let val: i32 = task.mm.read_obj(UserAddr(optval))?;
                self.set_int_opt(task, name, val)
            }
        }
    }

    fn getsockopt(&self, _task: &Task, level: i32, name: i32) -> Result<Vec<u8>, Errno> {
        if level != SOL_SOCKET {
            return Err(Errno::EOPNOTSUPP);
        }
        let mut st = self.st.lock();
        let v = match name {
            SO_TYPE => self.kind,
            SO_PROTOCOL => 0,
            SO_DOMAIN => AF_UNIX,
            SO_ERROR => st.err.take().map(|e| e as i32).unwrap_or(0),
            SO_ACCEPTCONN => matches!(st.conn, Conn::Listening { .. }) as i32,
            SO_SNDBUF => st.sndbuf as i32,
            SO_RCVBUF => st.rcvbuf as i32,
            SO_PASSCRED => st.passcred as i32,
            SO_SNDLOWAT => 1,
            SO_RCVLOWAT => st.flags.get(&name).copied().unwrap_or(1),
            SO_PEEK_OFF => st.flags.get(&name).copied().unwrap_or(-1),
            SO_BSDCOMPAT => 0,
            SO_DEBUG | SO_REUSEADDR | SO_REUSEPORT | SO_DONTROUTE | SO_BROADCAST | SO_KEEPALIVE
            | SO_OOBINLINE | SO_NO_CHECK | SO_PASSSEC | SO_PRIORITY => {
                st.flags.get(&name).copied().unwrap_or(0)
            }
            SO_PEERCRED => {
                let c = st.peercred.unwrap_or(Ucred {
                    pid: 0,
                    uid: u32::MAX,
                    gid: u32::MAX,
                });
                return Ok(c.as_bytes().to_vec());
            }
            SO_LINGER => return Ok(st.linger.as_bytes().to_vec()),
            SO_RCVTIMEO_OLD | SO_RCVTIMEO_NEW => {
                return Ok(ns_timeval(st.rcvtimeo).as_bytes().to_vec())
            }
            SO_SNDTIMEO_OLD | SO_SNDTIMEO_NEW => {
                return Ok(ns_timeval(st.sndtimeo).as_bytes().to_vec())
            }
            _ => return Err(Errno::ENOPROTOOPT),
        };
        Ok(int_bytes(v))
    }

    fn timeouts(&self) -> (Option<u64>, Option<u64>) {
        let st = self.st.lock();
        (st.rcvtimeo, st.sndtimeo)
    }

    fn ioctl(&self, task: &mut Task, cmd: u32, arg: u64) -> Result<u64, Errno> {
        let v: i32 = match cmd {
            FIONREAD => {
                let st = self.st.lock();
                if matches!(st.conn, Conn::Listening { .. }) {
                    return Err(Errno::EINVAL);
                }
                if self.kind != SOCK_DGRAM {
                    st.rx_bytes as i32
                } else {
                    st.rx.front().map(|m| m.data.len()).unwrap_or(0) as i32
                }
            }
            SIOCATMARK => {
                if !self.is_stream() {
                    return Err(Errno::EOPNOTSUPP);
                }
                let st = self.st.lock();
                let at = st.rx.front().is_some_and(|m| {
                    m.oob || (m.left() == 0 && (!st.has_oob || st.rx.get(1).is_some_and(|n| n.oob)))
                });
                at as i32
            }
            SIOCOUTQ => {
                if matches!(self.st.lock().conn, Conn::Listening { .. }) {
                    return Err(Errno::EINVAL);
                }
                self.wmem.load(Ordering::Acquire) as i32
            }
            _ => return Err(Errno::ENOTTY),
        };
        task.mm.write_obj(UserAddr(arg), &v)?;
        Ok(0)
    }

    fn poll(&self) -> PollMask {
        let (mut m, peer, writable) = {
            let st = self.st.lock();
            let mut m = 0;
            if st.err.is_some() {
                m |= POLLERR;
            }
            if st.shutdown == SHUTDOWN_MASK {
                m |= POLLHUP;
            }
            if st.shutdown & RCV_SHUTDOWN != 0 {
                m |= POLLRDHUP | POLLIN | POLLRDNORM;
            }
            let listening = match &st.conn {
                Conn::Listening { pending, .. } => {
                    if !pending.is_empty() {
                        m |= POLLIN | POLLRDNORM;
                    }
                    true
                }
                Conn::Closed if self.kind != SOCK_DGRAM => {
                    m |= POLLHUP;
                    false
                }
                _ => false,
            };
            if !st.rx.is_empty() {
                m |= POLLIN | POLLRDNORM;
            }
            if st.has_oob {
                m |= POLLPRI;
            }
            let writable =
                !listening && poll_writable(self.wmem.load(Ordering::Acquire), st.sndbuf);
            let peer = if self.kind == SOCK_DGRAM && writable {
                st.peer.clone()
            } else {
                None
            };
            (m, peer, writable)
        };
        let mut writable = writable;
        if let Some(p) = peer {
            // A datagram peer not connected back may be full.
            let mut pst = p.st.lock();
            let back = pst.peer.as_ref().is_some_and(|x| core::ptr::eq(&**x, self));
            if !back && !pst.released && pst.rx.len() > MAX_DGRAM_QLEN {
                Self::add_waiting(&mut pst.waiting, &self.me);
                writable = false;
            }
        }
        if writable {
            m |= POLLOUT | POLLWRNORM | EPOLLWRBAND;
        }
        m
    }

    fn wait_queue(&self) -> &WaitQueue {
        &self.queue
    }

    fn ino(&self) -> u64 {
        self.ino
    }

    fn release(&self) {
        self.close(false);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

// ---------------------------------------------------------------------------
// Descriptions in flight, and the collector of unreachable sockets

/// Linux's UNIX_INFLIGHT_TRIGGER_GC: a send with rights collects first
/// when more sockets than this are in flight.
const GC_TRIGGER: usize = 16_000;

/// What is in flight in a namespace's queues (Linux's unix_inflight
/// bookkeeping).
#[derive(Default)]
struct Inflight {
    /// Unix socket descriptions in flight, by address: the description
    /// and how many times it is (Linux's `unix_sock::inflight`).
    socks: BTreeMap<usize, (Weak<OpenFile>, usize)>,
    /// Descriptions of any kind in flight, by sending user (real uid):
    /// Linux's `user_struct::unix_inflight`.
    per_user: BTreeMap<u32, usize>,
}

/// The unix socket behind a description, if it is one.
fn unix_of(f: &OpenFile) -> Option<&UnixSocket> {
    f.ops
        .as_any()
        .downcast_ref::<SocketFile>()?
        .sock
        .as_any()
        .downcast_ref::<UnixSocket>()
}

fn addr_of(f: &Arc<OpenFile>) -> usize {
    Arc::as_ptr(f) as usize
}

/// Descriptions passed with a queued message, counted in flight until
/// received or dropped.
#[derive(Default)]
struct Rights {
    files: Vec<Arc<OpenFile>>,
    ns: Option<Arc<UnixNamespace>>,
    uid: u32,
}

impl Rights {
    fn new(ns: &Arc<UnixNamespace>, uid: u32, files: Vec<Arc<OpenFile>>) -> Rights {
        let mut t = ns.inflight.lock();
        *t.per_user.entry(uid).or_insert(0) += files.len();
        for f in &files {
            if unix_of(f).is_some() {
                t.socks
                    .entry(addr_of(f))
                    .or_insert_with(|| (Arc::downgrade(f), 0))
                    .1 += 1;
            }
        }
        drop(t);
        Rights {
            files,
            ns: Some(ns.clone()),
            uid,
        }
    }

    fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Takes the descriptions out of flight. The caller drops them (never
    /// under a socket lock or the in-flight lock: a last reference closes
    /// its file).
    fn take(&mut self) -> Vec<Arc<OpenFile>> {
        let files = core::mem::take(&mut self.files);
        if let Some(ns) = self.ns.take() {
            let mut t = ns.inflight.lock();
            if let Some(n) = t.per_user.get_mut(&self.uid) {
                *n = n.saturating_sub(files.len());
                if *n == 0 {
                    t.per_user.remove(&self.uid);
                }
            }
            for f in &files {
                let k = addr_of(f);
                if let Some(e) = t.socks.get_mut(&k) {
                    e.1 -= 1;
                    if e.1 == 0 {
                        t.socks.remove(&k);
                    }
                }
            }
        }
        files
    }
}

impl Drop for Rights {
    fn drop(&mut self) {
        let files = self.take();
        drop(files);
    }
}

/// Calls `f` with the address of every description in flight in the
/// queue of `sock`, and in those of its connections not yet accepted.
fn each_right(sock: &UnixSocket, mut f: impl FnMut(usize)) {
    let st = sock.st.lock();
    for m in &st.rx {
        m.rights.files.iter().for_each(|r| f(addr_of(r)));
    }
    if let Conn::Listening { pending, .. } = &st.conn {
        for e in pending {
            let est = e.st.lock();
            for m in &est.rx {
                m.rights.files.iter().for_each(|r| f(addr_of(r)));
            }
        }
    }
}

/// Empties the queue of `sock` and of its pending connections into `out`.
fn purge(sock: &UnixSocket, out: &mut Vec<Message>) {
    let mut st = sock.st.lock();
    st.rx_bytes = 0;
    st.has_oob = false;
    out.extend(st.rx.drain(..));
    if let Conn::Listening { pending, .. } = &st.conn {
        for e in pending {
            let mut est = e.st.lock();
            est.rx_bytes = 0;
            out.extend(est.rx.drain(..));
        }
    }
}

impl UnixNamespace {
    /// How many unix sockets are in flight.
    fn sockets_in_flight(&self) -> usize {
        self.inflight.lock().socks.len()
    }

    /// Descriptions `uid` has in flight.
    fn user_in_flight(&self, uid: u32) -> usize {
        self.inflight
            .lock()
            .per_user
            .get(&uid)
            .copied()
            .unwrap_or(0)
    }

    /// Frees the sockets only descriptions in flight in unreachable
    /// sockets' queues keep alive (Linux's unix_gc): a cycle of sockets
    /// passed through each other, or one passed over itself, once no
    /// process has a descriptor to any of them.
    pub fn collect(&self) {
        if self.gc_running.swap(true, Ordering::AcqRel) {
            self.gc_again.store(true, Ordering::Release);
            return;
        }
        loop {
            self.gc_again.store(false, Ordering::Release);
            let (held, purged) = self.find_garbage();
            // Outside every lock: the last references close the files,
            // which closes their sockets.
            drop(held);
            drop(purged);
            if !self.gc_again.load(Ordering::Acquire) {
                break;
            }
        }
        self.gc_running.store(false, Ordering::Release);
    }

    /// One collection under the in-flight lock (which also holds off
    /// sends with rights and receipts of them). Candidates are the
    /// sockets whose every reference is in flight; each reference found
    /// in a candidate's queue is struck off; a candidate with references
    /// left is reachable from outside, as is all that its queue holds,
    /// transitively; the other candidates' queues are emptied. Returns
    /// the references taken and the messages purged, for the caller to
    /// drop.
    fn find_garbage(&self) -> (Vec<Arc<OpenFile>>, Vec<Message>) {
        let t = self.inflight.lock();
        let mut held = Vec::new();
        let mut cands: Vec<Arc<OpenFile>> = Vec::new();
        // Address -> (index in `cands`, references not yet found).
        let mut left: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
        for (&k, (w, n)) in t.socks.iter() {
            let Some(f) = w.upgrade() else { continue };
            // Ours aside, every reference is in flight.
            if Arc::strong_count(&f) - 1 == *n {
                left.insert(k, (cands.len(), *n));
                cands.push(f);
            } else {
                held.push(f);
            }
        }
        let mut purged = Vec::new();
        if !cands.is_empty() {
            for c in &cands {
                if let Some(s) = unix_of(c) {
                    each_right(s, |k| {
                        if let Some(e) = left.get_mut(&k) {
                            e.1 = e.1.saturating_sub(1);
                        }
                    });
                }
            }
            let mut reachable = vec![false; cands.len()];
            let mut work: Vec<usize> = left.values().filter(|e| e.1 > 0).map(|e| e.0).collect();
            for &i in &work {
                reachable[i] = true;
            }
            while let Some(i) = work.pop() {
                if let Some(s) = unix_of(&cands[i]) {
                    each_right(s, |k| {
                        if let Some(&(j, _)) = left.get(&k) {
                            if !reachable[j] {
                                reachable[j] = true;
                                work.push(j);
                            }
                        }
                    });
                }
            }
            for (c, _) in cands.iter().zip(&reachable).filter(|(_, r)| !**r) {
                if let Some(s) = unix_of(c) {
                    purge(s, &mut purged);
                }
            }
        }
        drop(t);
        held.append(&mut cands);
        (held, purged)
    }
}

/// Reads a `struct sockaddr` of `len` bytes for the socket calls (Linux's
/// move_addr_to_kernel): `EINVAL` for a length out of range, `EFAULT`.
pub fn read_sockaddr(task: &Task, addr: u64, len: i32) -> Result<Vec<u8>, Errno> {
    if len < 0 || len as usize > SOCKADDR_STORAGE_SIZE {
        return Err(Errno::EINVAL);
    }
    let mut buf = vec![0u8; len as usize];
    if len > 0 {
        task.mm.copy_in(UserAddr(addr), &mut buf)?;
    }
    Ok(buf)
}

/// Writes an address for getsockname and friends (Linux's
/// move_addr_to_user): the caller's length, read from `lenp`, bounds the
/// copy; the full length is written back.
pub fn write_sockaddr(task: &Task, kaddr: &[u8], uaddr: u64, lenp: u64) -> Result<(), Errno> {
    let len: i32 = task.mm.read_obj(UserAddr(lenp))?;
    let klen = kaddr.len() as i32;
    let len = len.min(klen);
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    task.mm.write_obj(UserAddr(lenp), &klen)?;
    if len > 0 {
        task.mm.copy_out(UserAddr(uaddr), &kaddr[..len as usize])?;
    }
    Ok(())
}

/// Decodes a `struct ucred` from control-message bytes.
pub fn ucred_from(bytes: &[u8]) -> Option<Ucred> {
    Ucred::read_from_bytes(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: Ucred = Ucred {
        pid: 7,
        uid: 1000,
        gid: 1000,
    };

    fn msg(data: &[u8]) -> SendMsg<'_> {
        SendMsg {
            data,
            to: None,
            rights: Vec::new(),
            creds: None,
            sender: ME,
        }
    }

    fn pair(kind: i32) -> (Arc<UnixSocket>, Arc<UnixSocket>) {
        UnixSocket::pair(&Arc::new(UnixNamespace::default()), kind, ME)
    }

    #[test]
    fn stream_joins_writes_and_datagrams_keep_boundaries() {
        let (a, b) = pair(SOCK_STREAM);
        assert_eq!(a.send(None, msg(b"abc"), 0), Ok(3));
        assert_eq!(a.send(None, msg(b"de"), 0), Ok(2));
        assert_eq!(b.recv(4, MSG_PEEK, false).unwrap().data, b"abcd");
        assert_eq!(b.recv(4, 0, false).unwrap().data, b"abcd");
        assert_eq!(b.recv(4, 0, false).unwrap().data, b"e");
        assert_eq!(b.recv(4, 0, false).err(), Some(Errno::EAGAIN));

        let (a, b) = pair(SOCK_DGRAM);
        a.send(None, msg(b"hello"), 0).unwrap();
        a.send(None, msg(b""), 0).unwrap();
        let m = b.recv(2, 0, false).unwrap();
        assert_eq!(
            (m.data.as_slice(), m.len, m.truncated),
            (&b"he"[..], 5, true)
        );
        let m = b.recv(2, 0, false).unwrap();
        assert_eq!((m.data.len(), m.truncated), (0, false));
        assert_eq!(b.recv(2, 0, false).err(), Some(Errno::EAGAIN));
    }

    #[test]
    fn the_senders_buffer_bounds_what_is_in_flight() {
        let (a, b) = pair(SOCK_STREAM);
        let big = vec![7u8; 3 * DEFAULT_BUF];
        let mut sent = 0;
        while let Ok(n) = a.send(None, msg(&big[sent..]), 0) {
            sent += n;
        }
        assert!((DEFAULT_BUF..2 * DEFAULT_BUF).contains(&sent), "{sent}");
        assert_eq!(a.poll() & POLLOUT, 0);
        let mut got = 0;
        while let Ok(m) = b.recv(65536, 0, false) {
            got += m.data.len();
        }
        assert_eq!(got, sent);
        assert_eq!(a.wmem.load(Ordering::Acquire), 0);
        assert_ne!(a.poll() & POLLOUT, 0);
    }

    #[test]
    fn closing_shuts_the_peer_down_and_resets_it_over_unread_data() {
        let (a, b) = pair(SOCK_STREAM);
        a.send(None, msg(b"unread"), 0).unwrap();
        b.send(None, msg(b"xy"), 0).unwrap();
        b.release();
        assert_eq!(a.wmem.load(Ordering::Acquire), 0, "dropped data uncharged");
        let m = a.poll();
        assert_eq!(m & (POLLERR | POLLHUP | POLLIN), POLLERR | POLLHUP | POLLIN);
        assert_eq!(a.recv(8, 0, false).unwrap().data, b"xy");
        assert_eq!(a.recv(8, 0, false).err(), Some(Errno::ECONNRESET));
        assert_eq!(a.recv(8, 0, false).unwrap().data.len(), 0);
        assert_eq!(a.send(None, msg(b"z"), 0), Err(Errno::EPIPE));

        let (a, b) = pair(SOCK_DGRAM);
        b.release();
        assert_eq!(a.send(None, msg(b"z"), 0), Err(Errno::ECONNREFUSED));
        assert_eq!(a.send(None, msg(b"z"), 0), Err(Errno::ENOTCONN));
    }

    #[test]
    fn credentials_are_recorded_when_asked_and_split_stream_reads() {
        let (a, b) = pair(SOCK_STREAM);
        a.send(None, msg(b"no"), 0).unwrap();
        b.st.lock().passcred = true;
        a.send(None, msg(b"yes"), 0).unwrap();
        let other = Ucred { pid: 9, ..ME };
        let mut m = msg(b"!!");
        m.sender = other;
        a.send(None, m, 0).unwrap();
        let r = b.recv(16, 0, false).unwrap();
        assert_eq!((r.data.as_slice(), r.creds), (&b"no"[..], Some(NO_CREDS)));
        let r = b.recv(16, 0, false).unwrap();
        assert_eq!((r.data.as_slice(), r.creds), (&b"yes"[..], Some(ME)));
        let r = b.recv(16, 0, false).unwrap();
        assert_eq!((r.data.as_slice(), r.creds), (&b"!!"[..], Some(other)));
    }

    #[test]
    fn abstract_names_are_unique_and_die_with_their_socket() {
        let ns = Arc::new(UnixNamespace::default());
        let mut addr = unnamed();
        addr.extend_from_slice(b"\0name");
        let a = UnixSocket::new(&ns, SOCK_DGRAM);
        let b = UnixSocket::new(&ns, SOCK_DGRAM);
        assert_eq!(a.bind_abstract(&addr), Ok(()));
        assert_eq!(a.bind_abstract(&addr), Err(Errno::EINVAL));
        assert_eq!(b.bind_abstract(&addr), Err(Errno::EADDRINUSE));
        let mut m = msg(b"hi");
        m.to = Some(&addr);
        assert_eq!(b.send(None, m, 0), Ok(2));
        let r = a.recv(8, 0, false).unwrap();
        assert_eq!((r.data.as_slice(), r.from), (&b"hi"[..], None));
        b.autobind().unwrap();
        assert_eq!(b.local_name().len(), 8);
        a.release();
        let mut m = msg(b"hi");
        m.to = Some(&addr);
        assert_eq!(b.send(None, m, 0), Err(Errno::ECONNREFUSED));
        let c = UnixSocket::new(&ns, SOCK_STREAM);
        assert_eq!(c.bind_abstract(&addr), Ok(()));
    }

    fn file(s: &Arc<UnixSocket>) -> Arc<OpenFile> {
        OpenFile::new(
            Arc::new(SocketFile {
                sock: s.clone(),
                owner: ME,
            }),
            None,
            veil_abi::flags::O_RDWR,
        )
    }

    /// A pair's two descriptions (the sockets themselves not kept).
    fn file_pair(ns: &Arc<UnixNamespace>) -> (Arc<OpenFile>, Arc<OpenFile>) {
        let (a, b) = UnixSocket::pair(ns, SOCK_STREAM, ME);
        (file(&a), file(&b))
    }

    /// Sends `what` on `via` (into the queue of `via`'s peer).
    fn send_fd(via: &Arc<OpenFile>, what: &Arc<OpenFile>) {
        let mut m = msg(b"x");
        m.rights = vec![what.clone()];
        assert_eq!(unix_of(via).unwrap().send(None, m, 0), Ok(1));
    }

    fn sock_weak(f: &Arc<OpenFile>) -> Weak<UnixSocket> {
        unix_of(f).unwrap().me.clone()
    }

    #[test]
    fn a_socket_passed_over_itself_is_collected_at_the_next_close() {
        let ns = Arc::new(UnixNamespace::default());
        let (fa, fb) = file_pair(&ns);
        let (wa, wsa) = (Arc::downgrade(&fa), sock_weak(&fa));
        // b sends a into a's own queue.
        send_fd(&fb, &fa);
        drop(fa);
        assert!(wa.upgrade().is_some(), "in flight, not yet collected");
        assert_eq!(ns.sockets_in_flight(), 1);
        drop(fb);
        assert!(wa.upgrade().is_none() && wsa.upgrade().is_none());
        assert_eq!(ns.sockets_in_flight(), 0);
        assert_eq!(ns.user_in_flight(ME.uid), 0);
    }

    #[test]
    fn a_cycle_is_collected_and_what_a_reachable_socket_holds_is_not() {
        let ns = Arc::new(UnixNamespace::default());
        // a1's queue holds a2 and a2's holds a1.
        let (fa1, fb1) = file_pair(&ns);
        let (fa2, fb2) = file_pair(&ns);
        send_fd(&fb2, &fa1);
        send_fd(&fb1, &fa2);
        let weak: Vec<_> = [&fa1, &fa2].iter().map(|f| Arc::downgrade(f)).collect();
        let socks: Vec<_> = [&fa1, &fa2].iter().map(|f| sock_weak(f)).collect();
        drop((fa1, fa2));
        // Still alive: no close since.
        assert!(weak.iter().all(|w| w.upgrade().is_some()));
        // z's queue holds z2, z is in flight in x's queue, x is open.
        let (fx, fy) = file_pair(&ns);
        let (fz, fz_peer) = file_pair(&ns);
        let (fz2, fz2_peer) = file_pair(&ns);
        send_fd(&fz_peer, &fz2);
        send_fd(&fy, &fz);
        let (wz, wz2) = (Arc::downgrade(&fz), Arc::downgrade(&fz2));
        drop((fz, fz2, fz2_peer));
        drop(fb1);
        assert!(weak.iter().all(|w| w.upgrade().is_none()));
        assert!(wz.upgrade().is_some() && wz2.upgrade().is_some());
        // x gives z back; closing z frees z2.
        let mut got = unix_of(&fx).unwrap().recv(8, 0, false).unwrap();
        assert_eq!(got.rights.len(), 1);
        assert!(Arc::ptr_eq(&got.rights[0], &wz.upgrade().unwrap()));
        got.rights.clear();
        drop((fz_peer, fb2, fx, fy));
        assert!(wz.upgrade().is_none() && wz2.upgrade().is_none());
        // (a2's socket lived on as b2's peer until b2 closed, as in Linux.)
        assert!(socks.iter().all(|w| w.upgrade().is_none()));
        assert_eq!(ns.sockets_in_flight(), 0);
    }

    #[test]
    fn a_listener_passed_to_its_own_unaccepted_connection_is_collected() {
        let ns = Arc::new(UnixNamespace::default());
        let l = UnixSocket::new(&ns, SOCK_STREAM);
        let mut addr = unnamed();
        addr.extend_from_slice(b"\0l");
        l.bind_abstract(&addr).unwrap();
        l.st.lock().conn = Conn::Listening {
            backlog: 5,
            pending: VecDeque::new(),
        };
        let c = UnixSocket::new(&ns, SOCK_STREAM);
        // connect_stream without a task: the embryo by hand.
        let embryo = UnixSocket::new(&ns, SOCK_STREAM);
        {
            let mut est = embryo.st.lock();
            est.conn = Conn::Connected;
            est.peer = Some(c.clone());
        }
        if let Conn::Listening { pending, .. } = &mut l.st.lock().conn {
            pending.push_back(embryo.clone());
        }
        {
            let mut st = c.st.lock();
            st.conn = Conn::Connected;
            st.peer = Some(embryo.clone());
        }
        let (fl, fc) = (file(&l), file(&c));
        let (wl, wsl, we) = (
            Arc::downgrade(&fl),
            Arc::downgrade(&l),
            Arc::downgrade(&embryo),
        );
        drop((l, c, embryo));
        send_fd(&fc, &fl);
        drop(fl);
        assert!(wl.upgrade().is_some());
        drop(fc);
        assert!(wl.upgrade().is_none() && wsl.upgrade().is_none() && we.upgrade().is_none());
    }

    #[test]
    fn an_out_of_band_byte_is_taken_apart_and_marks_the_stream() {
        let (a, b) = pair(SOCK_STREAM);
        a.send(None, msg(b"ab"), 0).unwrap();
        assert_eq!(a.send(None, msg(b"c"), MSG_OOB), Ok(1));
        a.send(None, msg(b"de"), 0).unwrap();
        assert_ne!(b.poll() & POLLPRI, 0);
        let r = b.recv(8, MSG_OOB, false).unwrap();
        assert_eq!((r.data.as_slice(), r.oob), (&b"c"[..], true));
        assert_eq!(b.recv(8, MSG_OOB, false).err(), Some(Errno::EINVAL));
        assert_eq!(b.recv(8, 0, false).unwrap().data, b"ab");
        assert_eq!(b.recv(8, 0, false).unwrap().data, b"de");
        // Not taken, it is skipped.
        a.send(None, msg(b"x"), MSG_OOB).unwrap();
        a.send(None, msg(b"y"), 0).unwrap();
        assert_eq!(b.recv(8, 0, false).unwrap().data, b"y");
        assert_eq!(b.recv(8, 0, false).err(), Some(Errno::EAGAIN));
        let (c, _d) = pair(SOCK_DGRAM);
        assert_eq!(c.send(None, msg(b"x"), MSG_OOB), Err(Errno::EOPNOTSUPP));
    }

    #[test]
    fn a_full_datagram_queue_holds_senders_not_connected_back() {
        let ns = Arc::new(UnixNamespace::default());
        let r = UnixSocket::new(&ns, SOCK_DGRAM);
        let w = UnixSocket::new(&ns, SOCK_DGRAM);
        let mut addr = unnamed();
        addr.extend_from_slice(b"\0r");
        r.bind_abstract(&addr).unwrap();
        {
            let mut st = w.st.lock();
            st.peer = Some(r.clone());
            st.conn = Conn::Connected;
        }
        let mut n = 0;
        while w.send(None, msg(b"m"), 0).is_ok() {
            n += 1;
        }
        assert_eq!(n, MAX_DGRAM_QLEN + 1);
        assert_eq!(w.poll() & POLLOUT, 0);
        r.recv(1, 0, false).unwrap();
        assert_ne!(w.poll() & POLLOUT, 0);
    }
}
