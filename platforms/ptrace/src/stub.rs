//! Stub processes: the host processes whose address spaces hold
//! application memory, and the one page of code they run on the Sentry's
//! behalf.
//!
//! # The stub page
//!
//! One page, mapped once per Sentry process at a fixed address above
//! every application address ([`stub_page`]), holds:
//!
//! | offset  | contents |
//! |---------|----------|
//! | `0x000` | `syscall; int3` (`0f 05 cc`): the only code a stub runs for the Sentry |
//! | `0x040` | an empty `sigset_t` (for the injected `rt_sigprocmask`) |
//! | `0x080` | a `sock_fprog` pointing at the filter below |
//! | `0x100` | the stub's seccomp filter |
//!
//! Nothing in it is secret: the application can read it and can jump into
//! it, which gains nothing (a `syscall` there is stopped by
//! PTRACE_SYSEMU like any other, and `int3` traps).
//!
//! # Making a stub
//!
//! [`Stub::spawn`] forks the calling Sentry thread with a raw `clone`
//! (all signals blocked, so no Sentry handler can run in the child). The
//! child makes only raw, async-signal-safe calls: `setsid` (so terminal
//! signals go to the Sentry, not to stubs), `prctl(PR_SET_PDEATHSIG,
//! SIGKILL)`, `ptrace(PTRACE_TRACEME)`, then stops itself with SIGSTOP. The
//! calling thread is now its tracer. It sets PTRACE_O_EXITKILL (the stub
//! dies with its tracer thread) and then *injects* system calls into the
//! stub, one at a time ([`Stub::inject`]: registers set to `rip` = the
//! stub page, `rax` = number, arguments; PTRACE_CONT; the `int3` stops it
//! again; `rax` is the result) to strip what the fork inherited:
//!
//! 1. `close_range` every descriptor except the memory file's;
//! 2. unregister glibc's rseq area (PTRACE_GET_RSEQ_CONFIGURATION), which
//!    the kernel would otherwise keep writing into application memory;
//! 3. `munmap` everything below and above the stub page: no Sentry memory,
//!    stack or vDSO remains;
//! 4. `prctl(PR_SET_NO_NEW_PRIVS)` and a seccomp filter that lets a system
//!    call through only from the stub page's `syscall` instruction. The
//!    application's own system calls never reach it (PTRACE_SYSEMU stops
//!    and skips them first); it exists for the one path that bypasses
//!    ptrace: the kernel's vsyscall emulation (`call 0xffffffffff600000`),
//!    which then raises SIGSYS instead of reading host time;
//! 5. `rt_sigprocmask` to unblock every signal, so that interrupts and
//!    faults stop the stub.
//!
//! What remains in a stub's address space is the stub page and the
//! host's `[vsyscall]` page (which user space cannot unmap).

use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};

use veil_abi::PtRegs;

use crate::sys::{self, Wait};

/// A page.
pub(crate) const PAGE: u64 = 4096;
/// One past the highest user address of a 4-level-paging x86-64 process.
pub(crate) const TASK_SIZE: u64 = 0x7fff_ffff_f000;

/// Offsets of the pieces of the stub page.
const OFF_SYSCALL: u64 = 0x000;
const OFF_EMPTY_SIGSET: u64 = 0x040;
const OFF_FPROG: u64 = 0x080;
const OFF_FILTER: u64 = 0x100;
/// `syscall; int3`.
const CODE: [u8; 3] = [0x0f, 0x05, 0xcc];
/// Where `rip` is once an injected call has trapped on the `int3`.
const AFTER_INT3: u64 = OFF_SYSCALL + 3;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_RET_K: u16 = 0x06;
const SECCOMP_SET_MODE_FILTER: u64 = 1;
const RSEQ_FLAG_UNREGISTER: u64 = 1;

/// The address of the stub page, mapping it on first use.
///
/// The page goes at the top of the 47-bit user address space
/// (`0x7fff_ffff_e000`), which the Sentry's own stack, growing down from
/// below `TASK_SIZE`, practically never reaches. If it is taken anyway,
/// the page goes well below the Sentry's stack (clear of its growth). The
/// application gets everything below the page.
pub(crate) fn stub_page() -> io::Result<u64> {
    static ADDR: OnceLock<Result<u64, i32>> = OnceLock::new();
    match ADDR.get_or_init(|| map_stub_page().map_err(|e| sys::errno(&e))) {
        Ok(a) => Ok(*a),
        Err(e) => Err(io::Error::from_raw_os_error(*e)),
    }
}

fn stub_candidates() -> Vec<u64> {
    let mut v = vec![TASK_SIZE - PAGE];
    // Below the main stack's lowest address, clear of its growth.
    let stack_low = std::fs::read_to_string("/proc/self/maps")
        .ok()
        .and_then(|maps| {
            maps.lines().find(|l| l.ends_with("[stack]")).and_then(|l| {
                let start = l.split('-').next()?;
                u64::from_str_radix(start, 16).ok()
            })
        })
        .unwrap_or(0x7ff0_0000_0000);
    let mut a = stack_low.saturating_sub(1 << 30) & !((2 << 20) - 1);
    for _ in 0..64 {
        if a < (1 << 46) {
            break;
        }
        v.push(a);
        a -= 2 << 20;
    }
    v
}

fn map_stub_page() -> io::Result<u64> {
    for want in stub_candidates() {
        // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping.
        let p = unsafe {
            libc::mmap(
                want as *mut libc::c_void,
                PAGE as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            continue;
        }
        if p as u64 != want {
            // A kernel without MAP_FIXED_NOREPLACE took it as a hint.
            // SAFETY: the mapping was just made by us and is unused.
            unsafe { libc::munmap(p, PAGE as usize) };
            continue;
        }
        fill_stub_page(want);
        // SAFETY: our own fresh page; it becomes read+exec for good.
        if unsafe { libc::mprotect(p, PAGE as usize, libc::PROT_READ | libc::PROT_EXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        return Ok(want);
    }
    Err(io::Error::from_raw_os_error(libc::ENOMEM))
}

/// Writes the stub page's contents at `base` (fresh, private, writable).
fn fill_stub_page(base: u64) {
    let ip = base + OFF_SYSCALL + 2; // seccomp sees rip after `syscall`
    let filter: [libc::sock_filter; 8] = [
        bpf(BPF_LD_W_ABS, 0, 0, 4), // arch
        bpf(BPF_JEQ_K, 0, 5, AUDIT_ARCH_X86_64),
        bpf(BPF_LD_W_ABS, 0, 0, 8), // instruction_pointer, low half
        bpf(BPF_JEQ_K, 0, 3, ip as u32),
        bpf(BPF_LD_W_ABS, 0, 0, 12), // high half
        bpf(BPF_JEQ_K, 0, 1, (ip >> 32) as u32),
        bpf(BPF_RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
        bpf(BPF_RET_K, 0, 0, libc::SECCOMP_RET_TRAP),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: (base + OFF_FILTER) as *mut libc::sock_filter,
    };
    // SAFETY: `base` is a fresh private page we own and nobody else has
    // seen; every write is inside it (offsets and sizes are constants far
    // below PAGE), and the page is zero-filled, so the sigset is empty.
    unsafe {
        ptr::copy_nonoverlapping(CODE.as_ptr(), (base + OFF_SYSCALL) as *mut u8, CODE.len());
        ptr::write_unaligned((base + OFF_FPROG) as *mut libc::sock_fprog, prog);
        ptr::copy_nonoverlapping(
            filter.as_ptr(),
            (base + OFF_FILTER) as *mut libc::sock_filter,
            filter.len(),
        );
    }
    const _: () = assert!(OFF_EMPTY_SIGSET + 8 <= OFF_FPROG && OFF_FILTER + 8 * 8 <= PAGE);
}

const fn bpf(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// One stub process, traced by the host thread that made it.
///
/// Dropping it kills and reaps the process (from any thread).
pub(crate) struct Stub {
    /// The stub's pid (and tid: it has one thread).
    pub pid: i32,
    /// A pidfd for it: signals through it can never hit a reused pid.
    pub pidfd: Arc<OwnedFd>,
    /// The host thread that traces it.
    pub tracer: i32,
    /// The stub page's address.
    pub page: u64,
    /// Registers the stub stopped with at creation (valid segment
    /// selectors); the base of injected calls.
    base_regs: PtRegs,
    /// Already reaped (by a wait that saw it exit): never wait again, its
    /// pid may belong to someone else now.
    reaped: AtomicBool,
    /// Keep the stub on its tracer's CPU.
    pin: bool,
    /// The CPU the stub is pinned to, or -1.
    cpu: AtomicI32,
}

impl Stub {
    /// Forks a stub from the calling thread, which becomes its tracer, and
    /// strips it down to the stub page. `memfd` stays open in it.
    pub fn spawn(memfd: RawFd, page: u64, pin: bool) -> io::Result<Stub> {
        let pid = fork_stub()?;
        let pidfd = match sys::pidfd_open(pid) {
            Ok(fd) => fd,
            Err(e) => {
                // SAFETY: our unreaped child: the pid cannot be reused yet.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                let _ = sys::wait(pid);
                return Err(e);
            }
        };
        let mut stub = Stub {
            pid,
            pidfd: Arc::new(pidfd),
            tracer: sys::gettid(),
            page,
            base_regs: PtRegs::default(),
            reaped: AtomicBool::new(false),
            pin,
            cpu: AtomicI32::new(-1),
        };
        // On any error from here on, dropping `stub` kills and reaps it.
        stub.setup(memfd)?;
        Ok(stub)
    }

    fn setup(&mut self, memfd: RawFd) -> io::Result<()> {
        loop {
            match self.wait()? {
                Wait::Stopped {
                    sig: libc::SIGSTOP, ..
                } => break,
                // Nothing else can arrive (all signals are blocked in the
                // child), but never deliver anything to it.
                Wait::Stopped { .. } => sys::resume(libc::PTRACE_CONT, self.pid)?,
                Wait::Gone => return Err(io::Error::from_raw_os_error(libc::ESRCH)),
            }
        }
        let opts = libc::PTRACE_O_TRACESYSGOOD | libc::PTRACE_O_EXITKILL;
        // SAFETY: PTRACE_SETOPTIONS takes the options in `data`.
        unsafe { sys::ptrace(libc::PTRACE_SETOPTIONS, self.pid, 0, opts as usize) }?;
        let mut regs = PtRegs::default();
        sys::get_regs(self.pid, &mut regs)?;
        self.base_regs = regs;

        // 1. Descriptors: keep only the memory file.
        let memfd = memfd as u64;
        if memfd > 0 {
            self.inject_ok(libc::SYS_close_range, &[0, memfd - 1, 0])?;
        }
        self.inject_ok(libc::SYS_close_range, &[memfd + 1, u32::MAX as u64, 0])?;

        // 2. rseq, as glibc registered it for the forking thread.
        let mut rseq = sys::RseqConfiguration::default();
        let size = size_of::<sys::RseqConfiguration>();
        // SAFETY: `rseq` is a valid buffer of `size` bytes.
        let got = unsafe {
            sys::ptrace(
                sys::PTRACE_GET_RSEQ_CONFIGURATION,
                self.pid,
                size,
                &mut rseq as *mut _ as usize,
            )
        };
        if got.is_ok() && rseq.rseq_abi_pointer != 0 {
            self.inject_ok(
                libc::SYS_rseq,
                &[
                    rseq.rseq_abi_pointer,
                    rseq.rseq_abi_size as u64,
                    RSEQ_FLAG_UNREGISTER,
                    rseq.signature as u64,
                ],
            )?;
        }

        // 3. Memory: everything but the stub page.
        self.inject_ok(libc::SYS_munmap, &[0, self.page])?;
        let above = self.page + PAGE;
        if above < TASK_SIZE {
            self.inject_ok(libc::SYS_munmap, &[above, TASK_SIZE - above])?;
        }

        // 4. Seccomp: system calls only from the stub page.
        self.inject_ok(
            libc::SYS_prctl,
            &[libc::PR_SET_NO_NEW_PRIVS as u64, 1, 0, 0, 0],
        )?;
        self.inject_ok(
            libc::SYS_seccomp,
            &[SECCOMP_SET_MODE_FILTER, 0, self.page + OFF_FPROG],
        )?;

        // 5. Unblock signals (the fork inherited "all blocked").
        self.inject_ok(
            libc::SYS_rt_sigprocmask,
            &[libc::SIG_SETMASK as u64, self.page + OFF_EMPTY_SIGSET, 0, 8],
        )?;
        Ok(())
    }

    /// waitpid on the stub; notes when it is gone (and so reaped).
    pub fn wait(&self) -> io::Result<Wait> {
        let w = sys::wait(self.pid);
        match w {
            Ok(Wait::Gone) => self.reaped.store(true, Ordering::Release),
            Err(ref e) if e.raw_os_error() == Some(libc::ECHILD) => {
                self.reaped.store(true, Ordering::Release)
            }
            _ => {}
        }
        w
    }

    /// Whether the stub is known to be dead.
    pub fn is_gone(&self) -> bool {
        self.reaped.load(Ordering::Acquire)
    }

    /// Runs system call `nr` with `args` in the stub; returns the raw
    /// result (`-errno` on failure). Must run on the tracer thread with
    /// the stub stopped. Host signals that arrive meanwhile are dropped.
    pub fn inject(&self, nr: libc::c_long, args: &[u64]) -> io::Result<i64> {
        let mut a = [0u64; 6];
        a[..args.len()].copy_from_slice(args);
        let mut regs = self.base_regs;
        regs.rip = self.page + OFF_SYSCALL;
        regs.rax = nr as u64;
        // Not in a system call: no restart logic may touch rip/rax.
        regs.orig_rax = u64::MAX;
        regs.rdi = a[0];
        regs.rsi = a[1];
        regs.rdx = a[2];
        regs.r10 = a[3];
        regs.r8 = a[4];
        regs.r9 = a[5];
        sys::set_regs(self.pid, &regs)?;
        self.follow_tracer();
        loop {
            sys::resume(libc::PTRACE_CONT, self.pid)?;
            match self.wait()? {
                Wait::Stopped {
                    sig: libc::SIGTRAP, ..
                } => {
                    sys::get_regs(self.pid, &mut regs)?;
                    if regs.rip == self.page + AFTER_INT3 {
                        return Ok(regs.rax as i64);
                    }
                    // A SIGTRAP sent from outside before the call ran.
                }
                // Any other signal: dropped (resumed with none).
                Wait::Stopped { .. } => {}
                Wait::Gone => return Err(io::Error::from_raw_os_error(libc::ESRCH)),
            }
        }
    }

    /// [`inject`](Stub::inject), with a negative result as an error.
    pub fn inject_ok(&self, nr: libc::c_long, args: &[u64]) -> io::Result<u64> {
        let r = self.inject(nr, args)?;
        if (-4095..0).contains(&r) {
            return Err(io::Error::from_raw_os_error(-r as i32));
        }
        Ok(r as u64)
    }

    /// With pinning on, moves the stub to the CPU the tracer runs on now
    /// (if it is not there already), so that the tracer/stub hand-off
    /// never has to wake another, idle CPU. Best effort: a CPU outside our
    /// cpuset is simply not used.
    pub fn follow_tracer(&self) {
        if !self.pin {
            return;
        }
        // SAFETY: sched_getcpu has no preconditions (vDSO).
        let cpu = unsafe { libc::sched_getcpu() };
        if cpu == self.cpu.load(Ordering::Relaxed)
            || cpu < 0
            || cpu as usize >= libc::CPU_SETSIZE as usize
        {
            return;
        }
        // SAFETY: cpu_set_t is plain data; CPU_SET stays in bounds (checked
        // above); sched_setaffinity reads `set`.
        let ok = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu as usize, &mut set);
            libc::sched_setaffinity(self.pid, size_of::<libc::cpu_set_t>(), &set) == 0
        };
        self.cpu.store(if ok { cpu } else { -1 }, Ordering::Relaxed);
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        if self.is_gone() {
            return;
        }
        let _ = sys::pidfd_send_signal(&self.pidfd, libc::SIGKILL);
        // Any thread of the Sentry may reap a (traced) child.
        loop {
            match self.wait() {
                Ok(Wait::Gone) | Err(_) => return,
                Ok(Wait::Stopped { .. }) => {}
            }
        }
    }
}

impl std::fmt::Debug for Stub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stub")
            .field("pid", &self.pid)
            .field("tracer", &self.tracer)
            .field("gone", &self.is_gone())
            .finish()
    }
}

/// Forks the calling thread into a stopped, traced child; returns its pid.
fn fork_stub() -> io::Result<i32> {
    // SAFETY: sigset_t is plain data.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid sigset pointers.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: a raw fork (clone with only SIGCHLD, no new stack): the
    // child runs `stub_child`, which makes only raw system calls and never
    // returns, so the (copied) state of other threads' locks is never
    // touched; the parent continues normally.
    let pid = unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD as libc::c_long, 0, 0, 0, 0) };
    if pid == 0 {
        stub_child(parent);
    }
    let err = io::Error::last_os_error();
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut()) };
    if pid < 0 {
        return Err(err);
    }
    Ok(pid as i32)
}

/// The forked child, before its tracer takes over. Only raw,
/// async-signal-safe system calls; every signal is blocked.
fn stub_child(parent: libc::pid_t) -> ! {
    // SAFETY: raw system calls with integer arguments only.
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
        // If the Sentry died before PDEATHSIG was set, nobody will trace us.
        if libc::syscall(libc::SYS_getppid) == parent as libc::c_long
            && libc::syscall(libc::SYS_ptrace, libc::PTRACE_TRACEME, 0, 0, 0) == 0
        {
            let me = libc::syscall(libc::SYS_getpid);
            libc::syscall(libc::SYS_kill, me, libc::SIGSTOP);
        }
        // Only reached if tracing failed: the tracer sees us exit.
        loop {
            libc::syscall(libc::SYS_exit_group, 127);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rseq_is_unregistered_and_injection_works() {
        let page = stub_page().unwrap();
        // Any descriptor number works for the memory file here.
        let stub = Stub::spawn(0, page, false).unwrap();
        let mut rseq = sys::RseqConfiguration::default();
        // SAFETY: `rseq` is a valid buffer of the size passed.
        let r = unsafe {
            sys::ptrace(
                sys::PTRACE_GET_RSEQ_CONFIGURATION,
                stub.pid,
                size_of::<sys::RseqConfiguration>(),
                &mut rseq as *mut _ as usize,
            )
        };
        if r.is_ok() {
            assert_eq!(
                rseq.rseq_abi_pointer, 0,
                "the stub still has glibc's rseq area"
            );
        }
        // getpid, injected: the stub's own pid.
        assert_eq!(
            stub.inject_ok(libc::SYS_getpid, &[]).unwrap(),
            stub.pid as u64
        );
        // A failing call reports -errno.
        assert_eq!(
            stub.inject(libc::SYS_close, &[1000]).unwrap(),
            -(libc::EBADF as i64)
        );
        let pid = stub.pid;
        drop(stub);
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
}
