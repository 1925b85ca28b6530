//! Sockets: address families, socket types, `SOL_SOCKET` options, message
//! flags, control-message types and the structures of the socket calls
//! (`struct msghdr`, `struct mmsghdr`, `struct cmsghdr`, `struct ucred`,
//! `struct linger`), as on x86-64 Linux.

use core::mem::{offset_of, size_of};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

// Address families.
pub const AF_UNSPEC: i32 = 0;
pub const AF_UNIX: i32 = 1;
pub const AF_INET: i32 = 2;
pub const AF_INET6: i32 = 10;
pub const AF_NETLINK: i32 = 16;
/// Linux's NPROTO: families at or above it are `EAFNOSUPPORT`.
pub const AF_MAX: i32 = 46;

// Socket types (the low bits of socket(2)'s `type`).
pub const SOCK_STREAM: i32 = 1;
pub const SOCK_DGRAM: i32 = 2;
pub const SOCK_RAW: i32 = 3;
pub const SOCK_RDM: i32 = 4;
pub const SOCK_SEQPACKET: i32 = 5;
/// Types at or above it are `EINVAL`.
pub const SOCK_MAX: i32 = 11;
pub const SOCK_TYPE_MASK: i32 = 0xf;
pub const SOCK_NONBLOCK: i32 = 0o4000;
pub const SOCK_CLOEXEC: i32 = 0o2000000;

// Levels.
pub const SOL_SOCKET: i32 = 1;

// SOL_SOCKET options.
pub const SO_DEBUG: i32 = 1;
pub const SO_REUSEADDR: i32 = 2;
pub const SO_TYPE: i32 = 3;
pub const SO_ERROR: i32 = 4;
pub const SO_DONTROUTE: i32 = 5;
pub const SO_BROADCAST: i32 = 6;
pub const SO_SNDBUF: i32 = 7;
pub const SO_RCVBUF: i32 = 8;
pub const SO_KEEPALIVE: i32 = 9;
pub const SO_OOBINLINE: i32 = 10;
pub const SO_NO_CHECK: i32 = 11;
pub const SO_PRIORITY: i32 = 12;
pub const SO_LINGER: i32 = 13;
pub const SO_BSDCOMPAT: i32 = 14;
pub const SO_REUSEPORT: i32 = 15;
pub const SO_PASSCRED: i32 = 16;
pub const SO_PEERCRED: i32 = 17;
pub const SO_RCVLOWAT: i32 = 18;
pub const SO_SNDLOWAT: i32 = 19;
pub const SO_RCVTIMEO_OLD: i32 = 20;
pub const SO_SNDTIMEO_OLD: i32 = 21;
pub const SO_ACCEPTCONN: i32 = 30;
pub const SO_PEERSEC: i32 = 31;
pub const SO_SNDBUFFORCE: i32 = 32;
pub const SO_RCVBUFFORCE: i32 = 33;
pub const SO_PASSSEC: i32 = 34;
pub const SO_PROTOCOL: i32 = 38;
pub const SO_DOMAIN: i32 = 39;
pub const SO_PEEK_OFF: i32 = 42;
pub const SO_RCVTIMEO_NEW: i32 = 66;
pub const SO_SNDTIMEO_NEW: i32 = 67;

// Control messages at SOL_SOCKET.
pub const SCM_RIGHTS: i32 = 1;
pub const SCM_CREDENTIALS: i32 = 2;
/// Most descriptors one SCM_RIGHTS message carries.
pub const SCM_MAX_FD: usize = 253;

// Message flags.
pub const MSG_OOB: u32 = 0x1;
pub const MSG_PEEK: u32 = 0x2;
pub const MSG_DONTROUTE: u32 = 0x4;
pub const MSG_CTRUNC: u32 = 0x8;
pub const MSG_TRUNC: u32 = 0x20;
pub const MSG_DONTWAIT: u32 = 0x40;
pub const MSG_EOR: u32 = 0x80;
pub const MSG_WAITALL: u32 = 0x100;
pub const MSG_ERRQUEUE: u32 = 0x2000;
pub const MSG_NOSIGNAL: u32 = 0x4000;
pub const MSG_MORE: u32 = 0x8000;
pub const MSG_WAITFORONE: u32 = 0x10000;
pub const MSG_CMSG_CLOEXEC: u32 = 0x4000_0000;

// shutdown(2).
pub const SHUT_RD: i32 = 0;
pub const SHUT_WR: i32 = 1;
pub const SHUT_RDWR: i32 = 2;

/// SIOCOUTQ (TIOCOUTQ): bytes sent and not yet read by the peer.
pub const SIOCOUTQ: u32 = 0x5411;
/// SIOCINQ (FIONREAD): bytes ready to read.
pub const SIOCINQ: u32 = 0x541B;

/// `offsetof(struct sockaddr_un, sun_path)`.
pub const SUN_PATH_OFFSET: usize = 2;
/// `sizeof(struct sockaddr_un)`.
pub const SOCKADDR_UN_SIZE: usize = 110;
/// `sizeof(struct sockaddr_storage)`: the most any socket call copies in.
pub const SOCKADDR_STORAGE_SIZE: usize = 128;
/// Linux's UIO_MAXIOV: the most iovecs a msghdr may name.
pub const UIO_MAXIOV: usize = 1024;
/// net.core.somaxconn: listen backlogs are clamped to it.
pub const SOMAXCONN: i32 = 4096;

/// `struct msghdr` (user layout).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Msghdr {
    pub name: u64,
    pub namelen: i32,
    pub pad0: u32,
    pub iov: u64,
    pub iovlen: u64,
    pub control: u64,
    pub controllen: u64,
    pub flags: u32,
    pub pad1: u32,
}
const _: () = assert!(size_of::<Msghdr>() == 56);
const _: () = assert!(offset_of!(Msghdr, iov) == 16);
const _: () = assert!(offset_of!(Msghdr, controllen) == 40);
const _: () = assert!(offset_of!(Msghdr, flags) == 48);

/// `struct mmsghdr`.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Mmsghdr {
    pub hdr: Msghdr,
    pub len: u32,
    pub pad: u32,
}
const _: () = assert!(size_of::<Mmsghdr>() == 64);

/// `struct cmsghdr`; the data follows, aligned to 8 bytes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Cmsghdr {
    pub len: u64,
    pub level: i32,
    pub kind: i32,
}
const _: () = assert!(size_of::<Cmsghdr>() == 16);

/// `CMSG_ALIGN`.
pub const fn cmsg_align(n: usize) -> usize {
    (n + 7) & !7
}
/// `CMSG_LEN`: a header and `n` bytes of data.
pub const fn cmsg_len(n: usize) -> usize {
    size_of::<Cmsghdr>() + n
}
/// `CMSG_SPACE`: a header and `n` bytes of data, padded.
pub const fn cmsg_space(n: usize) -> usize {
    size_of::<Cmsghdr>() + cmsg_align(n)
}

/// `struct ucred` (SCM_CREDENTIALS, SO_PEERCRED).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Ucred {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}
const _: () = assert!(size_of::<Ucred>() == 12);

/// `struct linger` (SO_LINGER).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Linger {
    pub onoff: i32,
    pub linger: i32,
}
const _: () = assert!(size_of::<Linger>() == 8);
