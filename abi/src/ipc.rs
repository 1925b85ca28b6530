//! System V IPC: the commands, flags and limits of shmget / shmat /
//! shmctl, semget / semop / semctl and msgget / msgsnd / msgrcv / msgctl,
//! and the structures they copy (`struct ipc64_perm`, `shmid64_ds`,
//! `semid64_ds`, `msqid64_ds`, `sembuf`, `shminfo64`, `shm_info`,
//! `seminfo`, `msginfo`), as on x86-64 Linux (`include/uapi/linux/ipc.h`,
//! `shm.h`, `sem.h`, `msg.h`, `asm-generic/*buf.h`).

use core::mem::{offset_of, size_of};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

// Common (ipc.h).
pub const IPC_PRIVATE: i32 = 0;
pub const IPC_CREAT: u32 = 0o1000;
pub const IPC_EXCL: u32 = 0o2000;
pub const IPC_NOWAIT: u32 = 0o4000;
pub const IPC_RMID: i32 = 0;
pub const IPC_SET: i32 = 1;
pub const IPC_STAT: i32 = 2;
pub const IPC_INFO: i32 = 3;
/// Ids: `seq * IPCMNI + index`.
pub const IPCMNI: u32 = 32768;

// Shared memory (shm.h).
pub const SHM_HUGETLB: u32 = 0o4000;
pub const SHM_NORESERVE: u32 = 0o10000;
pub const SHM_RDONLY: u32 = 0o10000;
pub const SHM_RND: u32 = 0o20000;
pub const SHM_REMAP: u32 = 0o40000;
pub const SHM_EXEC: u32 = 0o100000;
pub const SHM_LOCK: i32 = 11;
pub const SHM_UNLOCK: i32 = 12;
pub const SHM_STAT: i32 = 13;
pub const SHM_INFO: i32 = 14;
pub const SHM_STAT_ANY: i32 = 15;
/// Mode bit: removed, destroyed at the last detach.
pub const SHM_DEST: u32 = 0o1000;
/// Mode bit: SHM_LOCK'ed.
pub const SHM_LOCKED: u32 = 0o2000;
/// `SHMLBA` on x86-64: a page.
pub const SHMLBA: u64 = 4096;
pub const SHMMIN: u64 = 1;
/// Default `kernel.shmmax` and `kernel.shmall` (`ULONG_MAX - 2^24`).
pub const SHMMAX: u64 = u64::MAX - (1 << 24);
pub const SHMALL: u64 = u64::MAX - (1 << 24);
pub const SHMMNI: u32 = 4096;

// Semaphores (sem.h).
pub const GETPID: i32 = 11;
pub const GETVAL: i32 = 12;
pub const GETALL: i32 = 13;
pub const GETNCNT: i32 = 14;
pub const GETZCNT: i32 = 15;
pub const SETVAL: i32 = 16;
pub const SETALL: i32 = 17;
pub const SEM_STAT: i32 = 18;
pub const SEM_INFO: i32 = 19;
pub const SEM_STAT_ANY: i32 = 20;
pub const SEM_UNDO: i16 = 0x1000;
pub const SEMMNI: u32 = 32000;
pub const SEMMSL: u32 = 32000;
pub const SEMMNS: u32 = SEMMNI * SEMMSL;
pub const SEMOPM: u32 = 500;
pub const SEMVMX: i32 = 32767;
pub const SEMAEM: i32 = SEMVMX;
pub const SEMUME: u32 = SEMOPM;
pub const SEMMNU: u32 = SEMMNS;
pub const SEMMAP: u32 = SEMMNS;
pub const SEMUSZ: u32 = 20;

// Message queues (msg.h).
pub const MSG_STAT: i32 = 11;
pub const MSG_INFO: i32 = 12;
pub const MSG_STAT_ANY: i32 = 13;
pub const MSG_NOERROR: u32 = 0o10000;
pub const MSG_EXCEPT: u32 = 0o20000;
pub const MSG_COPY: u32 = 0o40000;
pub const MSGMNI: u32 = 32000;
pub const MSGMAX: u32 = 8192;
pub const MSGMNB: u32 = 16384;
pub const MSGPOOL: u32 = MSGMNI * MSGMNB / 1024;
pub const MSGTQL: u32 = MSGMNB;
pub const MSGMAP: u32 = MSGMNB;
pub const MSGSSZ: u32 = 16;
pub const MSGSEG: u16 = 0xffff;

macro_rules! ipc_struct {
    ($(#[$m:meta])* pub struct $name:ident { $(pub $f:ident : $t:ty),* $(,)? } size $size:expr;) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
        pub struct $name { $(pub $f: $t),* }
        const _: () = assert!(size_of::<$name>() == $size);
    };
}

ipc_struct! {
    /// `struct ipc64_perm`.
    pub struct Ipc64Perm {
        pub key: i32,
        pub uid: u32,
        pub gid: u32,
        pub cuid: u32,
        pub cgid: u32,
        pub mode: u32,
        pub seq: u16,
        pub pad2: u16,
        pub pad3: u32,
        pub unused1: u64,
        pub unused2: u64,
    } size 48;
}

ipc_struct! {
    /// `struct shmid64_ds`.
    pub struct Shmid64Ds {
        pub shm_perm: Ipc64Perm,
        pub shm_segsz: u64,
        pub shm_atime: i64,
        pub shm_dtime: i64,
        pub shm_ctime: i64,
        pub shm_cpid: i32,
        pub shm_lpid: i32,
        pub shm_nattch: u64,
        pub unused4: u64,
        pub unused5: u64,
    } size 112;
}
const _: () = assert!(offset_of!(Shmid64Ds, shm_nattch) == 88);

ipc_struct! {
    /// `struct semid64_ds` (x86-64).
    pub struct Semid64Ds {
        pub sem_perm: Ipc64Perm,
        pub sem_otime: i64,
        pub unused1: u64,
        pub sem_ctime: i64,
        pub unused2: u64,
        pub sem_nsems: u64,
        pub unused3: u64,
        pub unused4: u64,
    } size 104;
}

ipc_struct! {
    /// `struct msqid64_ds`.
    pub struct Msqid64Ds {
        pub msg_perm: Ipc64Perm,
        pub msg_stime: i64,
        pub msg_rtime: i64,
        pub msg_ctime: i64,
        pub msg_cbytes: u64,
        pub msg_qnum: u64,
        pub msg_qbytes: u64,
        pub msg_lspid: i32,
        pub msg_lrpid: i32,
        pub unused4: u64,
        pub unused5: u64,
    } size 120;
}
const _: () = assert!(offset_of!(Msqid64Ds, msg_lspid) == 96);

ipc_struct! {
    /// `struct sembuf`.
    pub struct Sembuf {
        pub sem_num: u16,
        pub sem_op: i16,
        pub sem_flg: i16,
    } size 6;
}

ipc_struct! {
    /// `struct shminfo64` (IPC_INFO).
    pub struct Shminfo64 {
        pub shmmax: u64,
        pub shmmin: u64,
        pub shmmni: u64,
        pub shmseg: u64,
        pub shmall: u64,
        pub unused1: u64,
        pub unused2: u64,
        pub unused3: u64,
        pub unused4: u64,
    } size 72;
}

ipc_struct! {
    /// `struct shm_info` (SHM_INFO).
    pub struct ShmInfo {
        pub used_ids: i32,
        pub pad: u32,
        pub shm_tot: u64,
        pub shm_rss: u64,
        pub shm_swp: u64,
        pub swap_attempts: u64,
        pub swap_successes: u64,
    } size 48;
}

ipc_struct! {
    /// `struct seminfo` (IPC_INFO, SEM_INFO).
    pub struct Seminfo {
        pub semmap: i32,
        pub semmni: i32,
        pub semmns: i32,
        pub semmnu: i32,
        pub semmsl: i32,
        pub semopm: i32,
        pub semume: i32,
        pub semusz: i32,
        pub semvmx: i32,
        pub semaem: i32,
    } size 40;
}

ipc_struct! {
    /// `struct msginfo` (IPC_INFO, MSG_INFO).
    pub struct Msginfo {
        pub msgpool: i32,
        pub msgmap: i32,
        pub msgmax: i32,
        pub msgmnb: i32,
        pub msgmni: i32,
        pub msgssz: i32,
        pub msgtql: i32,
        pub msgseg: u16,
        pub pad: u16,
    } size 32;
}

/// `CAP_IPC_LOCK`: SHM_LOCK without owning the segment.
pub const CAP_IPC_LOCK: u32 = 14;
/// `CAP_IPC_OWNER`: passes every IPC permission check.
pub const CAP_IPC_OWNER: u32 = 15;
