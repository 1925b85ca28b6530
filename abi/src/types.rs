//! Structures that cross the user/kernel boundary, laid out as on x86-64
//! Linux. Every type derives the zerocopy traits so it can be read from and
//! written to application memory as bytes; sizes are asserted below.

use core::mem::{offset_of, size_of};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

macro_rules! abi_struct {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident : $t:ty),* $(,)? } size $size:expr;) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
        pub struct $name { $($(#[$fm])* pub $f: $t),* }
        impl Default for $name {
            fn default() -> Self {
                <Self as zerocopy::FromZeros>::new_zeroed()
            }
        }
        const _: () = assert!(size_of::<$name>() == $size);
    };
}

abi_struct! {
    /// `struct timespec`.
    pub struct Timespec { pub tv_sec: i64, pub tv_nsec: i64 } size 16;
}
abi_struct! {
    /// `struct timeval`.
    pub struct Timeval { pub tv_sec: i64, pub tv_usec: i64 } size 16;
}
abi_struct! {
    /// `struct timezone`.
    pub struct Timezone { pub tz_minuteswest: i32, pub tz_dsttime: i32 } size 8;
}
abi_struct! {
    /// `struct iovec`.
    pub struct Iovec { pub base: u64, pub len: u64 } size 16;
}
abi_struct! {
    /// `struct stat` as returned by stat/fstat/lstat/newfstatat on x86-64.
    pub struct Stat {
        pub st_dev: u64,
        pub st_ino: u64,
        pub st_nlink: u64,
        pub st_mode: u32,
        pub st_uid: u32,
        pub st_gid: u32,
        pub pad0: u32,
        pub st_rdev: u64,
        pub st_size: i64,
        pub st_blksize: i64,
        pub st_blocks: i64,
        pub st_atime: i64,
        pub st_atime_nsec: i64,
        pub st_mtime: i64,
        pub st_mtime_nsec: i64,
        pub st_ctime: i64,
        pub st_ctime_nsec: i64,
        pub unused: [i64; 3],
    } size 144;
}
const _: () = assert!(offset_of!(Stat, st_mode) == 24);
const _: () = assert!(offset_of!(Stat, st_size) == 48);

abi_struct! {
    /// `struct statx_timestamp`.
    pub struct StatxTimestamp { pub tv_sec: i64, pub tv_nsec: u32, pub reserved: i32 } size 16;
}
abi_struct! {
    /// `struct statx`.
    pub struct Statx {
        pub stx_mask: u32,
        pub stx_blksize: u32,
        pub stx_attributes: u64,
        pub stx_nlink: u32,
        pub stx_uid: u32,
        pub stx_gid: u32,
        pub stx_mode: u16,
        pub spare0: u16,
        pub stx_ino: u64,
        pub stx_size: u64,
        pub stx_blocks: u64,
        pub stx_attributes_mask: u64,
        pub stx_atime: StatxTimestamp,
        pub stx_btime: StatxTimestamp,
        pub stx_ctime: StatxTimestamp,
        pub stx_mtime: StatxTimestamp,
        pub stx_rdev_major: u32,
        pub stx_rdev_minor: u32,
        pub stx_dev_major: u32,
        pub stx_dev_minor: u32,
        pub stx_mnt_id: u64,
        pub stx_dio_mem_align: u32,
        pub stx_dio_offset_align: u32,
        pub spare3: [u64; 12],
    } size 256;
}
const _: () = assert!(offset_of!(Statx, stx_atime) == 64);
const _: () = assert!(offset_of!(Statx, stx_rdev_major) == 128);

abi_struct! {
    /// `struct statfs`.
    pub struct Statfs {
        pub f_type: i64,
        pub f_bsize: i64,
        pub f_blocks: u64,
        pub f_bfree: u64,
        pub f_bavail: u64,
        pub f_files: u64,
        pub f_ffree: u64,
        pub f_fsid: [i32; 2],
        pub f_namelen: i64,
        pub f_frsize: i64,
        pub f_flags: i64,
        pub f_spare: [i64; 4],
    } size 120;
}

abi_struct! {
    /// `struct new_utsname`: six 65-byte NUL-terminated fields.
    pub struct Utsname {
        pub sysname: [u8; 65],
        pub nodename: [u8; 65],
        pub release: [u8; 65],
        pub version: [u8; 65],
        pub machine: [u8; 65],
        pub domainname: [u8; 65],
    } size 390;
}

abi_struct! {
    /// `struct rlimit` / `struct rlimit64`.
    pub struct Rlimit { pub cur: u64, pub max: u64 } size 16;
}

abi_struct! {
    /// `struct sysinfo`.
    pub struct Sysinfo {
        pub uptime: i64,
        pub loads: [u64; 3],
        pub totalram: u64,
        pub freeram: u64,
        pub sharedram: u64,
        pub bufferram: u64,
        pub totalswap: u64,
        pub freeswap: u64,
        pub procs: u16,
        pub pad: u16,
        pub pad2: u32,
        pub totalhigh: u64,
        pub freehigh: u64,
        pub mem_unit: u32,
        pub pad3: u32,
    } size 112;
}

abi_struct! {
    /// `struct tms`.
    pub struct Tms { pub utime: i64, pub stime: i64, pub cutime: i64, pub cstime: i64 } size 32;
}

abi_struct! {
    /// `struct rusage`.
    pub struct Rusage {
        pub utime: Timeval,
        pub stime: Timeval,
        pub rest: [i64; 14],
    } size 144;
}

abi_struct! {
    /// The fixed head of `struct linux_dirent64`; the NUL-terminated name
    /// follows and the record is padded to 8 bytes.
    pub struct Dirent64Head { pub d_ino: u64, pub d_off: i64, pub d_reclen: u16, pub d_type: u8, pub pad: [u8; 5] } size 24;
}
/// Offset of `d_name` in `struct linux_dirent64`.
pub const DIRENT64_NAME_OFFSET: usize = 19;

abi_struct! {
    /// The kernel's `struct sigaction` as rt_sigaction takes it.
    pub struct KernelSigaction { pub handler: u64, pub flags: u64, pub restorer: u64, pub mask: u64 } size 32;
}

abi_struct! {
    /// `stack_t`.
    pub struct SigaltStack { pub sp: u64, pub flags: i32, pub pad: u32, pub size: u64 } size 24;
}

abi_struct! {
    /// `siginfo_t`: the common head and the union as raw words.
    pub struct Siginfo { pub signo: i32, pub errno: i32, pub code: i32, pub pad: i32, pub fields: [u64; 14] } size 128;
}

abi_struct! {
    /// `struct sigcontext` on x86-64 (`uc_mcontext` of a signal frame):
    /// the general registers in Linux's order, then the trap details and
    /// the pointer to the FP state.
    pub struct Sigcontext {
        pub r8: u64,
        pub r9: u64,
        pub r10: u64,
        pub r11: u64,
        pub r12: u64,
        pub r13: u64,
        pub r14: u64,
        pub r15: u64,
        pub rdi: u64,
        pub rsi: u64,
        pub rbp: u64,
        pub rbx: u64,
        pub rdx: u64,
        pub rax: u64,
        pub rcx: u64,
        pub rsp: u64,
        pub rip: u64,
        pub eflags: u64,
        pub cs: u16,
        pub gs: u16,
        pub fs: u16,
        pub ss: u16,
        pub err: u64,
        pub trapno: u64,
        pub oldmask: u64,
        pub cr2: u64,
        pub fpstate: u64,
        pub reserved1: [u64; 8],
    } size 256;
}
const _: () = assert!(offset_of!(Sigcontext, rip) == 128);
const _: () = assert!(offset_of!(Sigcontext, cs) == 144);
const _: () = assert!(offset_of!(Sigcontext, ss) == 150);
const _: () = assert!(offset_of!(Sigcontext, err) == 152);
const _: () = assert!(offset_of!(Sigcontext, fpstate) == 184);

abi_struct! {
    /// The kernel's `struct ucontext` on x86-64 (with the kernel's 8-byte
    /// `sigset_t`; the C libraries' `ucontext_t` is longer).
    pub struct Ucontext {
        pub uc_flags: u64,
        pub uc_link: u64,
        pub uc_stack: SigaltStack,
        pub uc_mcontext: Sigcontext,
        pub uc_sigmask: u64,
    } size 304;
}
const _: () = assert!(offset_of!(Ucontext, uc_stack) == 16);
const _: () = assert!(offset_of!(Ucontext, uc_mcontext) == 40);
const _: () = assert!(offset_of!(Ucontext, uc_sigmask) == 296);

abi_struct! {
    /// `struct rt_sigframe` on x86-64: what a signal handler finds at its
    /// stack pointer. The FP state lies above it, 64-byte aligned.
    pub struct RtSigframe {
        pub pretcode: u64,
        pub uc: Ucontext,
        pub info: Siginfo,
    } size 440;
}
const _: () = assert!(offset_of!(RtSigframe, uc) == 8);
const _: () = assert!(offset_of!(RtSigframe, info) == 312);

abi_struct! {
    /// `struct user_regs_struct`: the general registers as ptrace sees them.
    pub struct PtRegs {
        pub r15: u64,
        pub r14: u64,
        pub r13: u64,
        pub r12: u64,
        pub rbp: u64,
        pub rbx: u64,
        pub r11: u64,
        pub r10: u64,
        pub r9: u64,
        pub r8: u64,
        pub rax: u64,
        pub rcx: u64,
        pub rdx: u64,
        pub rsi: u64,
        pub rdi: u64,
        pub orig_rax: u64,
        pub rip: u64,
        pub cs: u64,
        pub eflags: u64,
        pub rsp: u64,
        pub ss: u64,
        pub fs_base: u64,
        pub gs_base: u64,
        pub ds: u64,
        pub es: u64,
        pub fs: u64,
        pub gs: u64,
    } size 216;
}

abi_struct! {
    /// The kernel's `struct termios` (TCGETS / TCSETS).
    pub struct Termios {
        pub c_iflag: u32,
        pub c_oflag: u32,
        pub c_cflag: u32,
        pub c_lflag: u32,
        pub c_line: u8,
        pub c_cc: [u8; 19],
    } size 36;
}

abi_struct! {
    /// `struct winsize`.
    pub struct Winsize { pub ws_row: u16, pub ws_col: u16, pub ws_xpixel: u16, pub ws_ypixel: u16 } size 8;
}

abi_struct! {
    /// `struct pollfd`.
    pub struct Pollfd { pub fd: i32, pub events: i16, pub revents: i16 } size 8;
}

abi_struct! {
    /// `Elf64_Ehdr`.
    pub struct Elf64Ehdr {
        pub e_ident: [u8; 16],
        pub e_type: u16,
        pub e_machine: u16,
        pub e_version: u32,
        pub e_entry: u64,
        pub e_phoff: u64,
        pub e_shoff: u64,
        pub e_flags: u32,
        pub e_ehsize: u16,
        pub e_phentsize: u16,
        pub e_phnum: u16,
        pub e_shentsize: u16,
        pub e_shnum: u16,
        pub e_shstrndx: u16,
    } size 64;
}

abi_struct! {
    /// `Elf64_Phdr`.
    pub struct Elf64Phdr {
        pub p_type: u32,
        pub p_flags: u32,
        pub p_offset: u64,
        pub p_vaddr: u64,
        pub p_paddr: u64,
        pub p_filesz: u64,
        pub p_memsz: u64,
        pub p_align: u64,
    } size 56;
}

abi_struct! {
    /// `struct epoll_event`, which x86-64 packs: the 64-bit user data
    /// follows the event mask at offset 4 (kept as bytes here, little
    /// endian, so the structure has no padding and alignment 4).
    pub struct EpollEvent { pub events: u32, pub data: [u8; 8] } size 12;
}

abi_struct! {
    /// `struct inotify_event`: the fixed part of each event a read of an
    /// inotify descriptor returns; `len` bytes of NUL-padded name follow.
    pub struct InotifyEvent { pub wd: i32, pub mask: u32, pub cookie: u32, pub len: u32 } size 16;
}

abi_struct! {
    /// `struct signalfd_siginfo`: what a read of a signalfd returns per
    /// signal.
    pub struct SignalfdSiginfo {
        pub ssi_signo: u32,
        pub ssi_errno: i32,
        pub ssi_code: i32,
        pub ssi_pid: u32,
        pub ssi_uid: u32,
        pub ssi_fd: i32,
        pub ssi_tid: u32,
        pub ssi_band: u32,
        pub ssi_overrun: u32,
        pub ssi_trapno: u32,
        pub ssi_status: i32,
        pub ssi_int: i32,
        pub ssi_ptr: u64,
        pub ssi_utime: u64,
        pub ssi_stime: u64,
        pub ssi_addr: u64,
        pub ssi_addr_lsb: u16,
        pub pad2: u16,
        pub ssi_syscall: i32,
        pub ssi_call_addr: u64,
        pub ssi_arch: u32,
        pub pad: [u8; 28],
    } size 128;
}
const _: () = assert!(offset_of!(SignalfdSiginfo, ssi_ptr) == 48);
const _: () = assert!(offset_of!(SignalfdSiginfo, ssi_call_addr) == 88);

/// ELF constants the loader needs.
pub mod elf {
    /// `\x7fELF`.
    pub const MAGIC: [u8; 4] = [0x7f, b'E', b'L', b'F'];
    /// 64-bit class.
    pub const CLASS64: u8 = 2;
    /// Little endian.
    pub const DATA2LSB: u8 = 1;
    /// Executable file.
    pub const ET_EXEC: u16 = 2;
    /// Shared object / PIE.
    pub const ET_DYN: u16 = 3;
    /// x86-64.
    pub const EM_X86_64: u16 = 62;
    /// Loadable segment.
    pub const PT_LOAD: u32 = 1;
    /// Interpreter path.
    pub const PT_INTERP: u32 = 3;
    /// Program header table.
    pub const PT_PHDR: u32 = 6;
    /// Stack flags.
    pub const PT_GNU_STACK: u32 = 0x6474_e551;
    /// Execute permission.
    pub const PF_X: u32 = 1;
    /// Write permission.
    pub const PF_W: u32 = 2;
    /// Read permission.
    pub const PF_R: u32 = 4;
}

abi_struct! {
    /// `struct itimerval` (setitimer, getitimer).
    pub struct Itimerval { pub it_interval: Timeval, pub it_value: Timeval } size 32;
}

abi_struct! {
    /// `struct itimerspec` (timer_settime, timerfd_settime).
    pub struct Itimerspec { pub it_interval: Timespec, pub it_value: Timespec } size 32;
}

abi_struct! {
    /// `struct sigevent` (timer_create): the value, signal and notification
    /// kind, then the union whose first word is the target thread of
    /// `SIGEV_THREAD_ID` (`sigev_notify_thread_id`).
    pub struct Sigevent {
        pub sigev_value: u64,
        pub sigev_signo: i32,
        pub sigev_notify: i32,
        pub sigev_tid: i32,
        pub pad: [i32; 11],
    } size 64;
}

abi_struct! {
    /// `struct clone_args` (clone3), version 2 (88 bytes); version 0 is the
    /// first 64 bytes, version 1 the first 80.
    pub struct CloneArgs {
        pub flags: u64,
        pub pidfd: u64,
        pub child_tid: u64,
        pub parent_tid: u64,
        pub exit_signal: u64,
        pub stack: u64,
        pub stack_size: u64,
        pub tls: u64,
        pub set_tid: u64,
        pub set_tid_size: u64,
        pub cgroup: u64,
    } size 88;
}

abi_struct! {
    /// `struct __user_cap_header_struct` (capget, capset).
    pub struct CapUserHeader { pub version: u32, pub pid: i32 } size 8;
}

abi_struct! {
    /// `struct __user_cap_data_struct`: one 32-bit word of each set
    /// (version 1 passes one, versions 2 and 3 two).
    pub struct CapUserData { pub effective: u32, pub permitted: u32, pub inheritable: u32 } size 12;
}

abi_struct! {
    /// `struct flock` (fcntl record locks): type and whence as shorts, then
    /// start, length and the holder's pid; the tail is padding.
    pub struct Flock {
        pub l_type: i16,
        pub l_whence: i16,
        pub pad0: u32,
        pub l_start: i64,
        pub l_len: i64,
        pub l_pid: i32,
        pub pad1: u32,
    } size 32;
}

abi_struct! {
    /// `struct futex_waitv` (futex_waitv, futex_requeue).
    pub struct FutexWaitv { pub val: u64, pub uaddr: u64, pub flags: u32, pub reserved: u32 } size 24;
}

abi_struct! {
    /// `struct robust_list_head` (set_robust_list): the list's first
    /// pointer (bit 0: a PI futex), the offset from an entry to its futex
    /// word, and the entry being added or removed.
    pub struct RobustListHead { pub list: u64, pub futex_offset: i64, pub list_op_pending: u64 } size 24;
}
