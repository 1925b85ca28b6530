//! Stub processes: the host processes whose address spaces hold
//! application memory, their threads, and the one page of code they run
//! on the Sentry's behalf.
//!
//! # The stub page
//!
//! One page, mapped once per Sentry process at a fixed address above
//! every application address ([`stub_page`]), holds:
//!
//! | offset  | contents |
//! |---------|----------|
//! | `0x000` | `syscall; int3` (`0f 05 cc`): where injected calls run |
//! | `0x010` | the clone sequence (below) |
//! | `0x040` | an empty `sigset_t` (for the injected `rt_sigprocmask`) |
//! | `0x080` | a `sock_fprog` pointing at the filter below |
//! | `0x100` | the stub's seccomp filter |
//!
//! The clone sequence is where new stub threads are born:
//!
//! ```text
//! 0x10: syscall            ; clone(...) injected into the executor thread
//! 0x12: test rax, rax
//! 0x15: jnz 0x1e           ; the parent (or an error): back to its tracer
//! 0x17: mov eax, 34        ; the child: pause() ...
//! 0x1c: jmp 0x10           ; ... for ever, at the same syscall
//! 0x1e: int3
//! ```
//!
//! A new thread is not traced (nothing asked for CLONE_PTRACE), so it must
//! not run into the `int3` (an untraced SIGTRAP would kill the whole
//! process); it parks in `pause`, with every signal blocked (inherited
//! from the executor thread), until its host thread attaches to it.
//!
//! Nothing in the page is secret: the application can read it and can
//! jump into it, which gains nothing (a `syscall` there is stopped by
//! PTRACE_SYSEMU like any other, and `int3` traps).
//!
//! # Making a stub
//!
//! [`Stub::spawn`] forks the calling Sentry thread (the platform's
//! executor thread, see `executor.rs`) with a raw `clone` (all signals
//! blocked, so no Sentry handler can run in the child). The child makes
//! only raw, async-signal-safe calls: `setsid` (so terminal signals go to
//! the Sentry, not to stubs), `prctl(PR_SET_PDEATHSIG, SIGKILL)`,
//! `ptrace(PTRACE_TRACEME)`, then stops itself with SIGSTOP. The calling
//! thread is now its tracer. It sets PTRACE_O_EXITKILL (the stub dies with
//! its tracer thread) and then *injects* system calls into the stub, one
//! at a time ([`Tracee::inject`]: registers set to `rip` = the stub page,
//! `rax` = number, arguments; PTRACE_CONT; the `int3` stops it again;
//! `rax` is the result) to strip what the fork inherited:
//!
//! 1. `close_range` every descriptor except the memory file's;
//! 2. unregister glibc's rseq area (PTRACE_GET_RSEQ_CONFIGURATION), which
//!    the kernel would otherwise keep writing into application memory;
//! 3. `munmap` everything below and above the stub page: no Sentry memory,
//!    stack or vDSO remains;
//! 4. `prctl(PR_SET_NO_NEW_PRIVS)` and a seccomp filter that lets a system
//!    call through only from the stub page's two `syscall` instructions.
//!    The application's own system calls never reach it (PTRACE_SYSEMU
//!    stops and skips them first); it exists for the one path that
//!    bypasses ptrace: the kernel's vsyscall emulation (`call
//!    0xffffffffff600000`), which then raises SIGSYS instead of reading
//!    host time. Threads inherit the filter when they are cloned;
//! 5. the FP state is reset to Linux's initial one (the fork copied the
//!    Sentry thread's).
//!
//! # Threads of a stub
//!
//! - The **leader** (the forked process itself) is only used for the setup
//!   above and to clone the executor thread; then it stays in its ptrace
//!   stop for good, with every signal blocked. It is never waited for
//!   again until the stub is killed, which is what makes it safe to wait
//!   for it then: a leader's exit is reported only once every other thread
//!   of the process has been reaped, so a wait on the leader of a live
//!   multi-threaded stub could block for as long as some other host
//!   thread does not reap its own stub thread.
//! - The **executor thread**, cloned from the leader and attached by the
//!   same (executor) host thread, runs the calls that host threads without
//!   a stub thread of their own need: it clones application threads
//!   ([`Stub::clone_thread`]) and maps memory for them.
//! - **Application threads**, one per (context, address space), cloned
//!   from the executor thread and attached (PTRACE_SEIZE +
//!   PTRACE_INTERRUPT, [`Tracee::attach`]) by the host thread that runs
//!   them, which unblocks their signals (so interrupts and faults stop
//!   them) and from then on is their only tracer.
//!
//! What remains in a stub's address space is the stub page and the
//! host's `[vsyscall]` page (which user space cannot unmap).

use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::OnceLock;

use veil_abi::PtRegs;

use crate::fpu;
use crate::sys::{self, Wait};

/// A page.
pub(crate) const PAGE: u64 = 4096;
/// One past the highest user address of a 4-level-paging x86-64 process.
pub(crate) const TASK_SIZE: u64 = 0x7fff_ffff_f000;

/// Offsets of the pieces of the stub page.
const OFF_SYSCALL: u64 = 0x000;
const OFF_CLONE: u64 = 0x010;
const OFF_EMPTY_SIGSET: u64 = 0x040;
const OFF_FPROG: u64 = 0x080;
const OFF_FILTER: u64 = 0x100;
/// `syscall; int3`.
const CODE: [u8; 3] = [0x0f, 0x05, 0xcc];
/// The clone sequence (see the module docs).
const CLONE_CODE: [u8; 15] = [
    0x0f, 0x05, // syscall
    0x48, 0x85, 0xc0, // test rax, rax
    0x75, 0x07, // jnz int3
    0xb8, 0x22, 0x00, 0x00, 0x00, // mov eax, SYS_pause
    0xeb, 0xf2, // jmp syscall
    0xcc, // int3
];
/// Where `rip` is once an injected call has trapped on the `int3`.
const AFTER_INT3: u64 = OFF_SYSCALL + 3;
/// Where `rip` is once an injected clone has trapped on its `int3`.
const AFTER_CLONE_INT3: u64 = OFF_CLONE + CLONE_CODE.len() as u64;

/// The flags of the injected clone: a thread sharing everything.
const CLONE_THREAD_FLAGS: u64 = (libc::CLONE_VM
    | libc::CLONE_FS
    | libc::CLONE_FILES
    | libc::CLONE_SIGHAND
    | libc::CLONE_THREAD
    | libc::CLONE_SYSVSEM) as u64;

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
    // seccomp sees rip after `syscall`. Both addresses share their high
    // half: `base` is page-aligned and the offsets are below a page.
    let ip1 = base + OFF_SYSCALL + 2;
    let ip2 = base + OFF_CLONE + 2;
    let filter: [libc::sock_filter; FILTER_LEN] = [
        bpf(BPF_LD_W_ABS, 0, 0, 4), // arch
        bpf(BPF_JEQ_K, 0, 6, AUDIT_ARCH_X86_64),
        bpf(BPF_LD_W_ABS, 0, 0, 12), // instruction_pointer, high half
        bpf(BPF_JEQ_K, 0, 4, (ip1 >> 32) as u32),
        bpf(BPF_LD_W_ABS, 0, 0, 8), // low half
        bpf(BPF_JEQ_K, 1, 0, ip1 as u32),
        bpf(BPF_JEQ_K, 0, 1, ip2 as u32),
        bpf(BPF_RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
        bpf(BPF_RET_K, 0, 0, libc::SECCOMP_RET_TRAP),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: (base + OFF_FILTER) as *mut libc::sock_filter,
    };
    // SAFETY: `base` is a fresh private page we own and nobody else has
    // seen; every write is inside it (offsets and sizes are constants far
    // below PAGE, asserted below), and the page is zero-filled, so the
    // sigset is empty.
    unsafe {
        ptr::copy_nonoverlapping(CODE.as_ptr(), (base + OFF_SYSCALL) as *mut u8, CODE.len());
        ptr::copy_nonoverlapping(
            CLONE_CODE.as_ptr(),
            (base + OFF_CLONE) as *mut u8,
            CLONE_CODE.len(),
        );
        ptr::write_unaligned((base + OFF_FPROG) as *mut libc::sock_fprog, prog);
        ptr::copy_nonoverlapping(
            filter.as_ptr(),
            (base + OFF_FILTER) as *mut libc::sock_filter,
            filter.len(),
        );
    }
    const _: () = assert!(
        OFF_SYSCALL + CODE.len() as u64 <= OFF_CLONE
            && OFF_CLONE + CLONE_CODE.len() as u64 <= OFF_EMPTY_SIGSET
            && OFF_EMPTY_SIGSET + 8 <= OFF_FPROG
            && OFF_FILTER + 8 * FILTER_LEN as u64 <= PAGE
    );
}

const FILTER_LEN: usize = 9;

const fn bpf(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// One traced thread of a stub: the leader, the executor thread or an
/// application thread. Only its tracer, the host thread that attached to
/// it, may inject calls into it or resume it; any thread of the Sentry may
/// reap it once it is dead.
pub(crate) struct Tracee {
    /// The thread's tid (the pid, for the leader).
    pub tid: i32,
    /// The host thread that traces it.
    pub tracer: i32,
    /// The stub page's address.
    page: u64,
    /// Registers the thread stopped with when attached (valid segment
    /// selectors); the base of injected calls.
    base_regs: PtRegs,
    /// Already reaped (by a wait that saw it exit): never wait again, its
    /// tid may belong to someone else now.
    reaped: AtomicBool,
    /// Keep the thread on its tracer's CPU.
    pin: bool,
    /// The CPU the thread is pinned to, or -1.
    cpu: AtomicI32,
}

impl Tracee {
    fn new(tid: i32, page: u64, pin: bool) -> Tracee {
        Tracee {
            tid,
            tracer: sys::gettid(),
            page,
            base_regs: PtRegs::default(),
            reaped: AtomicBool::new(false),
            pin,
            cpu: AtomicI32::new(-1),
        }
    }

    /// Attaches the calling host thread to thread `tid` of stub process
    /// `pid`: a thread parked in the clone sequence's `pause`, untraced,
    /// with every signal blocked. PTRACE_SEIZE (with EXITKILL and
    /// TRACESYSGOOD), then PTRACE_INTERRUPT, and wait for the interrupt
    /// stop. If anything fails after the seize, the thread cannot be left
    /// behind half-attached: the whole stub is killed and the thread
    /// reaped, and the caller must treat the stub as lost.
    pub fn attach(pid: i32, tid: i32, page: u64, pin: bool) -> io::Result<Tracee> {
        let opts = libc::PTRACE_O_TRACESYSGOOD | libc::PTRACE_O_EXITKILL;
        // SAFETY: PTRACE_SEIZE takes the options in `data`, no pointers.
        unsafe { sys::ptrace(sys::PTRACE_SEIZE, tid, 0, opts as usize) }?;
        let mut t = Tracee::new(tid, page, pin);
        let r = t.stop_after_seize();
        if r.is_err() {
            // Our pid is unreaped, so `pid` is still the stub (see tgkill).
            let _ = sys::tgkill(pid, tid, libc::SIGKILL);
            t.reap();
        }
        r.map(|()| t)
    }

    fn stop_after_seize(&mut self) -> io::Result<()> {
        loop {
            // SAFETY: PTRACE_INTERRUPT takes no pointers.
            unsafe { sys::ptrace(sys::PTRACE_INTERRUPT, self.tid, 0, 0) }?;
            match self.wait()? {
                Wait::Stopped {
                    event: sys::PTRACE_EVENT_STOP,
                    ..
                } => break,
                // A signal-delivery stop (only SIGKILL is unblocked, so
                // this is a signal sent before the mask was inherited):
                // drop it and interrupt again.
                Wait::Stopped { .. } => sys::resume(libc::PTRACE_CONT, self.tid)?,
                Wait::Gone => return Err(io::Error::from_raw_os_error(libc::ESRCH)),
            }
        }
        sys::get_regs(self.tid, &mut self.base_regs)
    }

    /// waitpid on the thread; notes when it is gone (and so reaped).
    pub fn wait(&self) -> io::Result<Wait> {
        let w = sys::wait(self.tid);
        match w {
            Ok(Wait::Gone) => self.reaped.store(true, Ordering::Release),
            Err(ref e) if e.raw_os_error() == Some(libc::ECHILD) => {
                self.reaped.store(true, Ordering::Release)
            }
            _ => {}
        }
        w
    }

    /// Whether the thread is known to be dead and reaped.
    pub fn is_gone(&self) -> bool {
        self.reaped.load(Ordering::Acquire)
    }

    /// Waits until the thread is gone. Only for a thread that is dying
    /// (its stub was sent SIGKILL) or dead: a live, stopped thread would
    /// block this for ever. Any Sentry thread may call it: a wait considers
    /// the tracees of every thread of the calling process.
    pub fn reap(&self) {
        while !self.is_gone() {
            match self.wait() {
                Ok(Wait::Gone) | Err(_) => return,
                Ok(Wait::Stopped { .. }) => {}
            }
        }
    }

    /// Runs system call `nr` with `args` in the thread; returns the raw
    /// result (`-errno` on failure). Must run on the tracer thread with
    /// the thread stopped. Host signals that arrive meanwhile are dropped.
    pub fn inject(&self, nr: libc::c_long, args: &[u64]) -> io::Result<i64> {
        self.inject_at(OFF_SYSCALL, AFTER_INT3, nr, args)
    }

    /// [`inject`](Tracee::inject), with a negative result as an error.
    pub fn inject_ok(&self, nr: libc::c_long, args: &[u64]) -> io::Result<u64> {
        let r = self.inject(nr, args)?;
        if (-4095..0).contains(&r) {
            return Err(io::Error::from_raw_os_error(-r as i32));
        }
        Ok(r as u64)
    }

    /// Runs the call at `entry` in the stub page and waits for the `int3`
    /// that ends it (`rip` = `done` once it has trapped).
    fn inject_at(&self, entry: u64, done: u64, nr: libc::c_long, args: &[u64]) -> io::Result<i64> {
        let mut regs = self.call_regs(entry, nr, args);
        sys::set_regs(self.tid, &regs)?;
        self.follow_tracer();
        loop {
            sys::resume(libc::PTRACE_CONT, self.tid)?;
            match self.wait()? {
                Wait::Stopped {
                    sig: libc::SIGTRAP,
                    event: 0,
                } => {
                    sys::get_regs(self.tid, &mut regs)?;
                    if regs.rip == self.page + done {
                        return Ok(regs.rax as i64);
                    }
                    // A SIGTRAP sent from outside before the call ran.
                }
                // Any other signal or event stop: dropped (resumed with
                // none).
                Wait::Stopped { .. } => {}
                Wait::Gone => return Err(io::Error::from_raw_os_error(libc::ESRCH)),
            }
        }
    }

    fn call_regs(&self, entry: u64, nr: libc::c_long, args: &[u64]) -> PtRegs {
        let mut a = [0u64; 6];
        a[..args.len()].copy_from_slice(args);
        let mut regs = self.base_regs;
        regs.rip = self.page + entry;
        regs.rax = nr as u64;
        // Not in a system call: no restart logic may touch rip/rax.
        regs.orig_rax = u64::MAX;
        regs.rdi = a[0];
        regs.rsi = a[1];
        regs.rdx = a[2];
        regs.r10 = a[3];
        regs.r8 = a[4];
        regs.r9 = a[5];
        regs
    }

    /// Makes the (stopped) thread exit with `exit(0)`, which ends this
    /// thread only, and reaps it. Must run on the tracer thread.
    pub fn exit_thread(&self) -> io::Result<()> {
        let regs = self.call_regs(OFF_SYSCALL, libc::SYS_exit, &[0]);
        sys::set_regs(self.tid, &regs)?;
        loop {
            sys::resume(libc::PTRACE_CONT, self.tid)?;
            match self.wait()? {
                Wait::Gone => return Ok(()),
                // A signal on the way: dropped, the call goes on.
                Wait::Stopped { .. } => {}
            }
        }
    }

    /// Unblocks every signal in the (stopped) thread, so that interrupts
    /// and faults stop it.
    pub fn unblock_signals(&self) -> io::Result<()> {
        self.inject_ok(
            libc::SYS_rt_sigprocmask,
            &[libc::SIG_SETMASK as u64, self.page + OFF_EMPTY_SIGSET, 0, 8],
        )
        .map(drop)
    }

    /// With pinning on, moves the thread to the CPU the tracer runs on now
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
        // above); sched_setaffinity reads `set`. It acts on thread `tid`
        // only.
        let ok = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu as usize, &mut set);
            libc::sched_setaffinity(self.tid, size_of::<libc::cpu_set_t>(), &set) == 0
        };
        self.cpu.store(if ok { cpu } else { -1 }, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Tracee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracee")
            .field("tid", &self.tid)
            .field("tracer", &self.tracer)
            .field("gone", &self.is_gone())
            .finish()
    }
}

/// One stub process: its leader and executor thread, both traced by the
/// host thread that made it (the platform's executor thread).
///
/// Dropping it kills the process and reaps the leader and the executor
/// thread (from any thread); the owner must have reaped the application
/// threads before (see `SpaceInner`'s drop), or the wait for the leader
/// would not return.
pub(crate) struct Stub {
    /// The stub's pid.
    pub pid: i32,
    /// A pidfd for it: signals through it can never hit a reused pid.
    pidfd: OwnedFd,
    /// The stub page's address.
    pub page: u64,
    /// Pin threads to their tracers' CPUs.
    pub pin: bool,
    /// The process's first thread: set up, then left stopped for good.
    leader: Tracee,
    /// The executor thread (`None` only while spawning).
    exec: Option<Tracee>,
    /// Killed, or found dead.
    dead: AtomicBool,
}

impl Stub {
    /// Forks a stub from the calling thread, which becomes the tracer of
    /// its leader and executor thread, and strips it down to the stub
    /// page. `memfd` stays open in it.
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
            pidfd,
            page,
            pin,
            leader: Tracee::new(pid, page, pin),
            exec: None,
            dead: AtomicBool::new(false),
        };
        // On any error from here on, dropping `stub` kills and reaps it.
        stub.setup(memfd)?;
        Ok(stub)
    }

    fn setup(&mut self, memfd: RawFd) -> io::Result<()> {
        let pid = self.pid;
        loop {
            match self.leader.wait()? {
                Wait::Stopped {
                    sig: libc::SIGSTOP, ..
                } => break,
                // Nothing else can arrive (all signals are blocked in the
                // child), but never deliver anything to it.
                Wait::Stopped { .. } => sys::resume(libc::PTRACE_CONT, pid)?,
                Wait::Gone => return Err(io::Error::from_raw_os_error(libc::ESRCH)),
            }
        }
        let opts = libc::PTRACE_O_TRACESYSGOOD | libc::PTRACE_O_EXITKILL;
        // SAFETY: PTRACE_SETOPTIONS takes the options in `data`.
        unsafe { sys::ptrace(libc::PTRACE_SETOPTIONS, pid, 0, opts as usize) }?;
        sys::get_regs(pid, &mut self.leader.base_regs)?;
        let leader = &self.leader;

        // 1. Descriptors: keep only the memory file.
        let memfd = memfd as u64;
        if memfd > 0 {
            leader.inject_ok(libc::SYS_close_range, &[0, memfd - 1, 0])?;
        }
        leader.inject_ok(libc::SYS_close_range, &[memfd + 1, u32::MAX as u64, 0])?;

        // 2. rseq, as glibc registered it for the forking thread.
        let mut rseq = sys::RseqConfiguration::default();
        let size = size_of::<sys::RseqConfiguration>();
        // SAFETY: `rseq` is a valid buffer of `size` bytes.
        let got = unsafe {
            sys::ptrace(
                sys::PTRACE_GET_RSEQ_CONFIGURATION,
                pid,
                size,
                &mut rseq as *mut _ as usize,
            )
        };
        if got.is_ok() && rseq.rseq_abi_pointer != 0 {
            leader.inject_ok(
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
        leader.inject_ok(libc::SYS_munmap, &[0, self.page])?;
        let above = self.page + PAGE;
        if above < TASK_SIZE {
            leader.inject_ok(libc::SYS_munmap, &[above, TASK_SIZE - above])?;
        }

        // 4. Seccomp: system calls only from the stub page.
        leader.inject_ok(
            libc::SYS_prctl,
            &[libc::PR_SET_NO_NEW_PRIVS as u64, 1, 0, 0, 0],
        )?;
        leader.inject_ok(
            libc::SYS_seccomp,
            &[SECCOMP_SET_MODE_FILTER, 0, self.page + OFF_FPROG],
        )?;

        // 5. FP state: Linux's initial one, for every thread cloned from
        // here on.
        let l = fpu::layout(pid)?;
        fpu::write(pid, l, &fpu::init_image(l))?;

        // The executor thread. Signals stay blocked in it (as in the
        // leader), and so in every thread cloned from it until its tracer
        // unblocks them.
        let tid = leader.inject_at(
            OFF_CLONE,
            AFTER_CLONE_INT3,
            libc::SYS_clone,
            &[CLONE_THREAD_FLAGS, 0, 0, 0, 0],
        )?;
        if tid <= 0 {
            return Err(io::Error::from_raw_os_error(-tid as i32));
        }
        self.exec = Some(Tracee::attach(pid, tid as i32, self.page, self.pin)?);
        Ok(())
    }

    /// Clones a new thread from the executor thread and returns its tid.
    /// The thread is parked, untraced, with every signal blocked, for a
    /// host thread to [`attach`](Tracee::attach) to. Must run on the
    /// executor host thread.
    pub fn clone_thread(&self) -> io::Result<i32> {
        let r = self.exec()?.inject_at(
            OFF_CLONE,
            AFTER_CLONE_INT3,
            libc::SYS_clone,
            &[CLONE_THREAD_FLAGS, 0, 0, 0, 0],
        )?;
        if r <= 0 {
            return Err(io::Error::from_raw_os_error(if r == 0 {
                libc::EIO
            } else {
                -r as i32
            }));
        }
        Ok(r as i32)
    }

    /// The executor thread (traced by the executor host thread).
    pub fn exec(&self) -> io::Result<&Tracee> {
        self.exec
            .as_ref()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))
    }

    /// Kills the whole process (every thread), from any thread. Its
    /// threads must be reaped afterwards.
    pub fn kill(&self) {
        self.dead.store(true, Ordering::Release);
        let _ = sys::pidfd_send_signal(&self.pidfd, libc::SIGKILL);
    }

    /// Notes that a thread of the stub was found dead: the process is
    /// going (threads only die by SIGKILL, which kills all of them, or
    /// by an exit we injected, which is never reported as lost).
    pub fn mark_dead(&self) {
        self.dead.store(true, Ordering::Release);
    }

    /// Whether the stub is known to be killed or dead.
    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        if self.leader.is_gone() {
            return;
        }
        self.kill();
        // Any thread of the Sentry may reap a (traced) child; the leader
        // last, since its exit is reported only once the others are gone.
        if let Some(x) = &self.exec {
            x.reap();
        }
        self.leader.reap();
    }
}

impl std::fmt::Debug for Stub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stub")
            .field("pid", &self.pid)
            .field("exec", &self.exec)
            .field("dead", &self.is_dead())
            .finish()
    }
}

/// Forks the calling thread into a stopped, traced child; returns its pid.
fn fork_stub() -> io::Result<i32> {
    // Every signal, glibc's internal ones too (pthread_sigmask would leave
    // those open): the child and every thread later cloned in it inherit
    // this mask until a tracer unblocks it.
    let all: u64 = !0;
    let mut old: u64 = 0;
    // SAFETY: raw rt_sigprocmask with valid 8-byte mask pointers.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &all as *const u64,
            &mut old as *mut u64,
            8,
        )
    };
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
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &old as *const u64,
            ptr::null_mut::<u64>(),
            8,
        )
    };
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

    fn rseq_of(tid: i32) -> Option<u64> {
        let mut rseq = sys::RseqConfiguration::default();
        // SAFETY: `rseq` is a valid buffer of the size passed.
        let r = unsafe {
            sys::ptrace(
                sys::PTRACE_GET_RSEQ_CONFIGURATION,
                tid,
                size_of::<sys::RseqConfiguration>(),
                &mut rseq as *mut _ as usize,
            )
        };
        r.ok().map(|_| rseq.rseq_abi_pointer)
    }

    fn status_field(pid: i32, tid: i32, key: &str) -> String {
        let s = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    #[test]
    fn rseq_is_unregistered_and_injection_works() {
        let page = stub_page().unwrap();
        // Any descriptor number works for the memory file here.
        let stub = Stub::spawn(0, page, false).unwrap();
        if let Some(p) = rseq_of(stub.pid) {
            assert_eq!(p, 0, "the stub still has glibc's rseq area");
        }
        let x = stub.exec().unwrap();
        assert_ne!(x.tid, stub.pid);
        if let Some(p) = rseq_of(x.tid) {
            assert_eq!(p, 0, "the executor thread has an rseq area");
        }
        // getpid, injected into the executor thread: the stub's pid.
        assert_eq!(x.inject_ok(libc::SYS_getpid, &[]).unwrap(), stub.pid as u64);
        assert_eq!(x.inject_ok(libc::SYS_gettid, &[]).unwrap(), x.tid as u64);
        // A failing call reports -errno.
        assert_eq!(
            x.inject(libc::SYS_close, &[1000]).unwrap(),
            -(libc::EBADF as i64)
        );
        let pid = stub.pid;
        drop(stub);
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }

    #[test]
    fn cloned_threads_park_then_attach_and_exit() {
        let page = stub_page().unwrap();
        let stub = Stub::spawn(0, page, false).unwrap();
        let tid = stub.clone_thread().unwrap();
        // Parked in pause, untraced, every signal blocked, under the
        // stub's seccomp filter.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while status_field(stub.pid, tid, "State:") != "S (sleeping)" {
            assert!(std::time::Instant::now() < deadline);
            std::thread::yield_now();
        }
        assert_eq!(status_field(stub.pid, tid, "TracerPid:"), "0");
        // Every signal but SIGKILL and SIGSTOP (which cannot be blocked)
        // and SIGTRAP (the injections' int3 unblocked it in the executor
        // thread, when the kernel forced it).
        let blocked = u64::from_str_radix(&status_field(stub.pid, tid, "SigBlk:"), 16).unwrap();
        let bit = |s: i32| 1u64 << (s - 1);
        assert_eq!(
            blocked | bit(libc::SIGTRAP),
            !(bit(libc::SIGKILL) | bit(libc::SIGSTOP))
        );
        assert_eq!(status_field(stub.pid, tid, "Seccomp:"), "2");
        // Attach from another host thread, as a context does.
        let pid = stub.pid;
        let t = std::thread::spawn(move || {
            let t = Tracee::attach(pid, tid, page, false).unwrap();
            assert_eq!(
                status_field(pid, tid, "TracerPid:"),
                sys::gettid().to_string()
            );
            t.unblock_signals().unwrap();
            assert_eq!(status_field(pid, tid, "SigBlk:"), "0000000000000000");
            assert_eq!(t.inject_ok(libc::SYS_gettid, &[]).unwrap(), tid as u64);
            t.exit_thread().unwrap();
            assert!(t.is_gone());
        });
        t.join().unwrap();
        assert!(!std::path::Path::new(&format!("/proc/{pid}/task/{tid}")).exists());
        // The process and its executor thread live on.
        let x = stub.exec().unwrap();
        assert_eq!(x.inject_ok(libc::SYS_getpid, &[]).unwrap(), pid as u64);
        drop(stub);
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
}
