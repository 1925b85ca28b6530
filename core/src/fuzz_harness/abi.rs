//! The ABI-decoding harness: arbitrary bytes as the structures that cross
//! the user/kernel boundary.
//!
//! First, every `veil-abi` structure is read from the bytes with zerocopy
//! and must write back to the same bytes (no padding or invalid values
//! hide in them). Then the bytes become the task's scratch memory, and the
//! system calls that read structures from user memory are called with
//! pointers into it (offsets and small arguments also come from the
//! bytes), through [`Kernel::dispatch`](crate::Kernel::dispatch) with the
//! strace decoder on, so both the handlers and the decoder parse them:
//! sigaction, sigset, stack_t, rlimit, timespec, timeval, itimerval,
//! fd_set, pollfd, iovec, open_how, siginfo, clone_args, argv / envp
//! arrays, cpu masks, termios, and a whole signal frame (rt_sigreturn).
//! Last, the bytes as a seccomp classic-BPF program: checked, and run if
//! it passes.

use alloc::vec::Vec;

use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::*;
use zerocopy::{FromBytes, IntoBytes};

use super::{put_cstr, Bed, SCRATCH, SCRATCH_LEN};

fn roundtrip<T: FromBytes + IntoBytes + zerocopy::Immutable>(data: &[u8]) {
    if let Ok((v, _)) = T::read_from_prefix(data) {
        assert_eq!(
            v.as_bytes(),
            &data[..core::mem::size_of::<T>()],
            "{} does not write back as read",
            core::any::type_name::<T>()
        );
    }
}

/// Runs one input. Panics if core panicked or a structure did not round
/// trip.
pub fn run_abi(data: &[u8]) {
    macro_rules! all {
        ($($t:ty),* $(,)?) => { $( roundtrip::<$t>(data); )* };
    }
    all!(
        Timespec,
        Timeval,
        Timezone,
        Iovec,
        Stat,
        StatxTimestamp,
        Statx,
        Statfs,
        Utsname,
        Rlimit,
        Sysinfo,
        Tms,
        Rusage,
        Dirent64Head,
        KernelSigaction,
        SigaltStack,
        Siginfo,
        Sigcontext,
        Ucontext,
        RtSigframe,
        PtRegs,
        Termios,
        Winsize,
        Pollfd,
        Elf64Ehdr,
        Elf64Phdr,
    );

    let bed = Bed::new(true, 0);
    let _ = bed.root.add_file(b"f", b"contents");
    let mut t = bed.task();
    let image: Vec<u8> = data.iter().copied().take(SCRATCH_LEN as usize).collect();
    t.mm.copy_out(crate::UserAddr(SCRATCH), &image).unwrap();
    // The tail of the scratch area holds a path and fds to work on.
    let path = put_cstr(&t, SCRATCH + SCRATCH_LEN - 64, b"/f");
    let fd = super::sys(&mut t, OPEN, &[path, O_RDWR as u64]).unwrap_or(0);
    let mut at = 0usize;
    let mut byte = || {
        let b = data.get(at).copied().unwrap_or(0);
        at += 1;
        b as u64
    };
    // Pointers into the image, and small numbers, from the bytes.
    let mut p = || SCRATCH + byte() * 16;
    let calls: Vec<(u64, [u64; 6])> = Vec::from([
        (RT_SIGACTION, [data.len() as u64 % 65, p(), p(), 8, 0, 0]),
        (RT_SIGPROCMASK, [0, p(), p(), 8, 0, 0]),
        (SIGALTSTACK, [p(), p(), 0, 0, 0, 0]),
        (PRLIMIT64, [0, 7, p(), p(), 0, 0]),
        (SETRLIMIT, [3, p(), 0, 0, 0, 0]),
        (NANOSLEEP, [p(), p(), 0, 0, 0, 0]),
        (CLOCK_NANOSLEEP, [1, 0, p(), p(), 0, 0]),
        (CLOCK_NANOSLEEP, [0, 1, p(), 0, 0, 0]),
        (FUTEX, [p(), 0, 0, p(), 0, 0]),
        (FUTEX, [p(), 9, 0, p(), 0, u32::MAX as u64]),
        (SELECT, [8, p(), p(), p(), p(), 0]),
        (PSELECT6, [8, p(), p(), p(), p(), p()]),
        (POLL, [p(), 4, 0, 0, 0, 0]),
        (PPOLL, [p(), 4, p(), p(), 8, 0]),
        (READV, [fd, p(), 3, 0, 0, 0]),
        (WRITEV, [fd, p(), 3, 0, 0, 0]),
        (PREADV, [fd, p(), 2, 5, 0, 0]),
        (PWRITEV, [fd, p(), 2, 5, 0, 0]),
        (OPENAT2, [AT_FDCWD as u32 as u64, path, p(), 24, 0, 0]),
        (UTIMENSAT, [AT_FDCWD as u32 as u64, path, p(), 0, 0, 0]),
        (UTIMES, [path, p(), 0, 0, 0, 0]),
        (RT_SIGQUEUEINFO, [t.pid() as u64, 10, p(), 0, 0, 0]),
        (RT_SIGTIMEDWAIT, [p(), p(), p(), 8, 0, 0]),
        (SCHED_SETAFFINITY, [0, 16, p(), 0, 0, 0]),
        (SETITIMER, [0, p(), p(), 0, 0, 0]),
        (TIMER_CREATE, [1, p(), p(), 0, 0, 0]),
        (IOCTL, [fd, TCSETS as u64, p(), 0, 0, 0]),
        (IOCTL, [0, TIOCSWINSZ as u64, p(), 0, 0, 0]),
        (SET_ROBUST_LIST, [p(), 24, 0, 0, 0, 0]),
        (GETRANDOM, [p(), 16, 0, 0, 0, 0]),
        (STATX, [AT_FDCWD as u32 as u64, path, 0, 0xfff, p(), 0]),
        (CLONE3, [p(), 88, 0, 0, 0, 0]),
        (RT_SIGSUSPEND, [p(), 8, 0, 0, 0, 0]),
        (EXECVE, [path, p(), p(), 0, 0, 0]),
    ]);
    for (nr, args) in calls {
        let r = &mut t.cpu.regs;
        r.orig_rax = nr;
        r.rax = nr;
        r.rdi = args[0];
        r.rsi = args[1];
        r.rdx = args[2];
        r.r10 = args[3];
        r.r8 = args[4];
        r.r9 = args[5];
        bed.kernel.dispatch(&mut t);
        if t.tg.exit_status.lock().is_some() {
            break;
        }
    }
    // A whole signal frame from the bytes.
    t.cpu.regs.rsp = SCRATCH + 8 + (byte() & 0x3f) * 8;
    t.cpu.regs.orig_rax = RT_SIGRETURN;
    bed.kernel.dispatch(&mut t);
    let _ = byte;
    drop(t);
    bed.finish();
    seccomp_program(data);
}

/// The bytes as a seccomp program (8 bytes an instruction), checked as
/// Linux does; one that passes runs over a `seccomp_data` from the bytes.
fn seccomp_program(data: &[u8]) {
    use crate::seccomp::bpf::{Insn, Program};
    let word = |c: &[u8]| u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    let insns: Vec<Insn> = data
        .chunks_exact(8)
        .map(|c| Insn::from_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect();
    if let Ok(prog) = Program::new(insns) {
        let mut d = [0u32; 16];
        for (w, c) in d.iter_mut().zip(data.chunks_exact(4)) {
            *w = word(c);
        }
        let _ = prog.run(&d);
    }
}
