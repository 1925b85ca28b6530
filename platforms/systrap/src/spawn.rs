//! Making stub processes.
//!
//! # Where the region goes
//!
//! [`region`] reserves, once per Sentry process, `REGION_LEN` bytes of
//! address space (`PROT_NONE`, `MAP_NORESERVE`, `MADV_DONTFORK`) just
//! below the top of the 47-bit user range, or if that is taken, well
//! below the main stack. Nothing of the Sentry can then live there, so a
//! forked child can map its stub region at the same address without
//! pulling the ground from under the code it is running. Its address `R`
//! is the platform's `max_user_address`.
//!
//! # The spawner thread
//!
//! A stub is a `fork` of the Sentry (a raw `clone(SIGCHLD)`), and it asks
//! the kernel to kill it when its parent dies (`PR_SET_PDEATHSIG`). The
//! "parent" there is the forking *thread*, so every stub is forked by one
//! long-lived spawner thread, started on first use, which never exits and
//! blocks every signal (the child starts with all of them blocked). Any
//! Sentry thread can then make an address space, and the stubs outlive
//! the thread that asked for them but not the Sentry.
//!
//! # The child
//!
//! Between the fork and the jump into the stub code the child runs a few
//! lines of Rust that make raw system calls only (no allocation, no
//! locks, every input prepared by the parent in a [`Plan`]):
//!
//! 1. `setsid` (terminal signals go to the Sentry, not to stubs),
//!    `PR_SET_PDEATHSIG(SIGKILL)`, a check that the parent is still
//!    the Sentry, and `RLIMIT_CORE` 0 (a stub that dies must not dump the
//!    application's memory into a host file);
//! 2. unregister glibc's `rseq` area of the forking thread (the kernel
//!    would otherwise keep writing into what becomes application memory,
//!    or kill the stub when it is unmapped): its address is the thread
//!    pointer plus glibc's `__rseq_offset`;
//! 3. map the region: the code page (private, filled with the stub code,
//!    then `r-x`), the control page `r--` and the rest `rw-` from the
//!    stub's memfd;
//! 4. close every descriptor but the memory file and the eventfd;
//! 5. point every catchable signal at the stub's handler;
//! 6. jump to the stub code's boot entry, which unmaps everything else
//!    and installs the seccomp filter (see [`crate::stub_code`]).
//!
//! Any failure ends the child with a distinct exit code (120 + step), so
//! `new_address_space` reports why.

use std::io;
use std::os::fd::RawFd;
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use crate::layout::*;
use crate::sys;

/// The address of the stub region, reserving it on first use.
pub(crate) fn region() -> io::Result<u64> {
    static ADDR: OnceLock<Result<u64, i32>> = OnceLock::new();
    match ADDR.get_or_init(|| reserve_region().map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))) {
        Ok(a) => Ok(*a),
        Err(e) => Err(io::Error::from_raw_os_error(*e)),
    }
}

fn candidates() -> Vec<u64> {
    const ALIGN: u64 = 2 << 20;
    let mut v = vec![(TASK_SIZE - PAGE - REGION_LEN) & !(ALIGN - 1)];
    let stack_low = std::fs::read_to_string("/proc/self/maps")
        .ok()
        .and_then(|maps| {
            maps.lines().find(|l| l.ends_with("[stack]")).and_then(|l| {
                let start = l.split('-').next()?;
                u64::from_str_radix(start, 16).ok()
            })
        })
        .unwrap_or(0x7ff0_0000_0000);
    let mut a = stack_low.saturating_sub(1 << 30) & !(ALIGN - 1);
    for _ in 0..64 {
        if a < (1 << 46) {
            break;
        }
        v.push(a);
        a -= 16 << 20;
    }
    v
}

fn reserve_region() -> io::Result<u64> {
    for want in candidates() {
        // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping.
        let p = unsafe {
            libc::mmap(
                want as *mut libc::c_void,
                REGION_LEN as usize,
                libc::PROT_NONE,
                libc::MAP_PRIVATE
                    | libc::MAP_ANONYMOUS
                    | libc::MAP_NORESERVE
                    | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            continue;
        }
        if p as u64 != want {
            // SAFETY: our own fresh, unused mapping.
            unsafe { libc::munmap(p, REGION_LEN as usize) };
            continue;
        }
        // SAFETY: our own reservation; only changes what fork copies.
        unsafe { libc::madvise(p, REGION_LEN as usize, libc::MADV_DONTFORK) };
        return Ok(want);
    }
    Err(io::Error::from_raw_os_error(libc::ENOMEM))
}

/// The kernel's `struct sigaction` (x86-64).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct KernelSigaction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

/// Everything the forked child needs, prepared by the parent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    /// The Sentry's pid.
    pub parent: i32,
    /// `R`.
    pub region: u64,
    /// The stub code (in the Sentry's text, present in the child).
    pub code: usize,
    /// Its length.
    pub code_len: usize,
    /// Offset of the boot entry.
    pub boot: u64,
    /// The stub's memfd (control page, results, slots).
    pub ctlfd: RawFd,
    /// Descriptors the stub keeps: the memory file and the eventfd.
    pub keep: [RawFd; 2],
    /// The handler every catchable signal gets.
    pub act: KernelSigaction,
}

/// Where glibc put the forking thread's rseq area, and the lengths it may
/// have registered it with.
#[derive(Clone, Copy, Debug, Default)]
struct Rseq {
    area: u64,
    lens: [u32; 2],
}

const RSEQ_SIG: u32 = 0x5305_3053;
const RSEQ_FLAG_UNREGISTER: u32 = 1;

/// Reads glibc's `__rseq_offset` / `__rseq_size` (glibc >= 2.35), if the
/// running libc has them.
fn glibc_rseq() -> Option<(isize, u32)> {
    // SAFETY: dlsym with NUL-terminated names; the symbols, when present,
    // are a ptrdiff_t and an unsigned int that glibc never changes after
    // startup.
    unsafe {
        let off = libc::dlsym(libc::RTLD_DEFAULT, c"__rseq_offset".as_ptr());
        let size = libc::dlsym(libc::RTLD_DEFAULT, c"__rseq_size".as_ptr());
        if off.is_null() || size.is_null() {
            return None;
        }
        Some((*(off as *const isize), *(size as *const u32)))
    }
}

/// The calling thread's rseq registration, as far as glibc tells.
fn this_thread_rseq() -> Rseq {
    let Some((off, size)) = glibc_rseq() else {
        return Rseq::default();
    };
    if size == 0 {
        return Rseq::default();
    }
    let mut tp = 0u64;
    // SAFETY: ARCH_GET_FS writes the thread pointer to `tp`.
    let r = unsafe { libc::syscall(libc::SYS_arch_prctl, 0x1003, &mut tp as *mut u64) };
    if r != 0 || tp == 0 {
        return Rseq::default();
    }
    // glibc 2.35-2.39 register 32 bytes and report 32 or 20; later ones
    // register max(__rseq_size, 32).
    Rseq {
        area: tp.wrapping_add_signed(off as i64),
        lens: [32, size.max(32)],
    }
}

struct Request {
    plan: Plan,
    reply: mpsc::Sender<io::Result<i32>>,
}

/// Forks a stub from the spawner thread; returns its pid.
pub(crate) fn spawn(plan: Plan) -> io::Result<i32> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    let tx = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("veil-systrap-spawner".into())
            .spawn(move || spawner(rx))
            .expect("spawn the systrap spawner thread");
        Mutex::new(tx)
    });
    let (rtx, rrx) = mpsc::channel();
    tx.lock()
        .unwrap_or_else(|p| p.into_inner())
        .send(Request { plan, reply: rtx })
        .map_err(|_| io::Error::from_raw_os_error(libc::EAGAIN))?;
    rrx.recv()
        .map_err(|_| io::Error::from_raw_os_error(libc::EAGAIN))?
}

fn spawner(rx: mpsc::Receiver<Request>) {
    // SAFETY: sigset_t is plain data; blocking every signal in this thread
    // only (children start with the same mask).
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
    }
    // Stubs (their executor and application threads) inherit it.
    sys::set_time_slice(crate::handoff::TIME_SLICE);
    let rseq = this_thread_rseq();
    for req in rx {
        let _ = req.reply.send(fork_stub(&req.plan, &rseq));
    }
}

fn fork_stub(plan: &Plan, rseq: &Rseq) -> io::Result<i32> {
    // SAFETY: a raw fork (clone with only SIGCHLD, no new stack): the
    // child runs `stub_child`, which makes only raw system calls and
    // never returns, so the copied state of other threads' locks is never
    // touched; the parent continues normally.
    let pid = unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD as libc::c_long, 0, 0, 0, 0) };
    if pid == 0 {
        // SAFETY: we are the freshly forked child (see above).
        unsafe { stub_child(plan, rseq) }
    }
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pid as i32)
}

fn raw_exit(code: i32) -> ! {
    loop {
        // SAFETY: exit_group never returns.
        unsafe { libc::syscall(libc::SYS_exit_group, code) };
    }
}

/// Closes every descriptor except `keep` (distinct).
///
/// # Safety
/// Only for the forked child: it closes descriptors other code may use.
unsafe fn close_all_but(keep: [RawFd; 2]) {
    let (a, b) = (keep[0].min(keep[1]) as u32, keep[0].max(keep[1]) as u32);
    let close = |lo: u32, hi: u32| {
        if lo <= hi {
            // SAFETY: the caller allows closing these.
            unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0) };
        }
    };
    if a > 0 {
        close(0, a - 1);
    }
    if b > a + 1 {
        close(a + 1, b - 1);
    }
    close(b + 1, u32::MAX);
}

/// The forked child (see the module docs). Every signal is blocked.
///
/// # Safety
/// Must run only in the child of `fork_stub`, which it turns into a stub.
unsafe fn stub_child(p: &Plan, rseq: &Rseq) -> ! {
    // SAFETY (whole body): raw system calls on the child's own state; the
    // pointers passed point at the child's copies of `p` / locals, or at
    // the region this code maps itself.
    unsafe {
        libc::syscall(libc::SYS_setsid);
        libc::syscall(
            libc::SYS_prctl,
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL,
            0,
            0,
            0,
        );
        if libc::syscall(libc::SYS_getppid) != p.parent as libc::c_long {
            raw_exit(120);
        }
        // No core dumps: a stub's memory is the application's.
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::syscall(
            libc::SYS_prlimit64,
            0,
            libc::RLIMIT_CORE,
            &zero as *const libc::rlimit,
            std::ptr::null::<libc::rlimit>(),
        );
        if rseq.area != 0 {
            let mut done = false;
            for len in rseq.lens {
                if libc::syscall(
                    libc::SYS_rseq,
                    rseq.area,
                    len,
                    RSEQ_FLAG_UNREGISTER,
                    RSEQ_SIG,
                ) == 0
                {
                    done = true;
                    break;
                }
            }
            if !done {
                raw_exit(121);
            }
        }
        let r = p.region;
        let map = |addr: u64, len: u64, prot: i32, flags: i32, fd: i32, off: u64| {
            libc::syscall(
                libc::SYS_mmap,
                addr,
                len,
                prot,
                flags | libc::MAP_FIXED,
                fd,
                off,
            ) as u64
                == addr
        };
        let anon = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        if !map(
            r + CODE_OFF,
            CODE_LEN,
            libc::PROT_READ | libc::PROT_WRITE,
            anon,
            -1,
            0,
        ) {
            raw_exit(122);
        }
        std::ptr::copy_nonoverlapping(p.code as *const u8, (r + CODE_OFF) as *mut u8, p.code_len);
        if libc::syscall(
            libc::SYS_mprotect,
            r + CODE_OFF,
            CODE_LEN,
            libc::PROT_READ | libc::PROT_EXEC,
        ) != 0
        {
            raw_exit(123);
        }
        if !map(
            r + CTL_OFF,
            CTL_LEN,
            libc::PROT_READ,
            libc::MAP_SHARED,
            p.ctlfd,
            0,
        ) {
            raw_exit(124);
        }
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        let rest = REGION_LEN - EXR_OFF;
        if !map(
            r + EXR_OFF,
            rest,
            rw,
            libc::MAP_SHARED,
            p.ctlfd,
            EXR_OFF - CTL_OFF,
        ) {
            raw_exit(125);
        }
        close_all_but(p.keep);
        for sig in 1..=64 {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &p.act as *const KernelSigaction,
                std::ptr::null::<u8>(),
                8,
            );
        }
        std::arch::asm!("jmp {entry}", entry = in(reg) r + CODE_OFF + p.boot, options(noreturn));
    }
}

/// Kills and reaps a stub that did not finish booting; describes how it
/// ended.
pub(crate) fn abandon(pid: i32) -> String {
    // SAFETY: our unreaped child: its pid cannot have been reused.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    sys::reap_status(pid)
}
