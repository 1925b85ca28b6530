//! The stub's seccomp filters, as classic BPF.
//!
//! Two filters, stacked (the kernel runs every filter a thread has and
//! takes the most severe answer; `RET_TRAP` beats `RET_ALLOW`):
//!
//! - the **base** filter, installed by the boot code on the stub's first
//!   thread and so inherited by every thread of the stub: a system call
//!   whose instruction pointer lies outside the stub code page, or that is
//!   not x86-64 (`int 0x80`, 32-bit code), gets `SECCOMP_RET_TRAP` (SIGSYS
//!   to the handler, which hands it to the Sentry: that is how every
//!   application system call reaches veil). From inside the stub code it
//!   allows exactly the calls the stub code makes, with their arguments
//!   pinned where the call could otherwise reach beyond the stub:
//!   `mmap` only `MAP_SHARED | MAP_FIXED` of the memory file's descriptor
//!   with no more than `rwx`, `clone` only with the one thread flag set,
//!   `write` only to the confirmation eventfd, `futex` only
//!   `FUTEX_WAIT`/`FUTEX_WAKE`, `seccomp` only adding a filter,
//!   `rt_sigprocmask` only `SIG_SETMASK`, `arch_prctl` only the four
//!   `fs`/`gs` base operations; anything else is trapped too.
//! - the **application** filter, which each application thread installs
//!   on itself before it first runs application code: from inside the
//!   stub code it narrows the allowed set to what the signal handler
//!   needs: `futex` (wait/wake), `rt_sigreturn`, `sched_yield`, `exit`
//!   (of the thread) and `arch_prctl` (fs/gs base). Everything else,
//!   `mmap`, `mprotect`, `munmap`, `clone`, `write`, `seccomp`,
//!   `sigaltstack`, `rt_sigprocmask` included, is trapped even from the
//!   stub's own `syscall` instructions. Outside the stub code it defers
//!   (`RET_ALLOW`) to the base filter, which traps.
//!
//! So an application thread that jumps to one of the stub's `syscall`
//! instructions with registers of its choosing gets, for anything that
//! could act beyond its own thread, exactly what its own `syscall` would
//! give it: a trap to the Sentry. The calls left to it act only on the
//! calling thread or on memory it can already write (it may wait on or
//! wake a futex word, return from a frame it forged, yield, end its own
//! thread, or set its own `fs`/`gs` base).
//!
//! Only the executor (the stub's first thread, which never runs
//! application code and reads its commands from the read-only control
//! page) and a new thread before it installs the application filter ever
//! run with the base filter alone.

use crate::stub_code::{CLONE_THREAD_FLAGS, MAP_FLAGS};

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JGT_K: u16 = 0x25;
const BPF_JGE_K: u16 = 0x35;
const BPF_AND_K: u16 = 0x54;
const BPF_RET_K: u16 = 0x06;

const RET_ALLOW: u32 = 0x7fff_0000;
const RET_TRAP: u32 = 0x0003_0000;

/// `AUDIT_ARCH_X86_64`.
pub(crate) const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

// `struct seccomp_data` offsets.
const D_NR: u32 = 0;
const D_ARCH: u32 = 4;
const D_IP_LO: u32 = 8;
const D_IP_HI: u32 = 12;
const fn arg_lo(i: u32) -> u32 {
    16 + 8 * i
}

/// A jump target.
#[derive(Clone, Copy)]
enum T {
    /// The next instruction.
    Next,
    /// A label.
    L(&'static str),
}

/// A tiny assembler for forward-jumping BPF.
#[derive(Default)]
struct Bpf {
    ins: Vec<(u16, T, T, u32)>,
    labels: Vec<(&'static str, usize)>,
}

impl Bpf {
    fn ld(&mut self, off: u32) {
        self.ins.push((BPF_LD_W_ABS, T::Next, T::Next, off));
    }
    fn jeq(&mut self, k: u32, t: T, f: T) {
        self.ins.push((BPF_JEQ_K, t, f, k));
    }
    fn jge(&mut self, k: u32, t: T, f: T) {
        self.ins.push((BPF_JGE_K, t, f, k));
    }
    fn jgt(&mut self, k: u32, t: T, f: T) {
        self.ins.push((BPF_JGT_K, t, f, k));
    }
    fn and(&mut self, k: u32) {
        self.ins.push((BPF_AND_K, T::Next, T::Next, k));
    }
    fn ret(&mut self, k: u32) {
        self.ins.push((BPF_RET_K, T::Next, T::Next, k));
    }
    fn label(&mut self, name: &'static str) {
        self.labels.push((name, self.ins.len()));
    }

    fn finish(self) -> Vec<libc::sock_filter> {
        let at = |i: usize, t: T| -> u8 {
            let to = match t {
                T::Next => i + 1,
                T::L(name) => {
                    self.labels
                        .iter()
                        .find(|(n, _)| *n == name)
                        .unwrap_or_else(|| panic!("bpf label {name}"))
                        .1
                }
            };
            let off = to.checked_sub(i + 1).expect("bpf jumps go forward");
            u8::try_from(off).expect("bpf jump too long")
        };
        self.ins
            .iter()
            .enumerate()
            .map(|(i, &(code, t, f, k))| {
                let (jt, jf) = if code & 0x07 == 0x05 {
                    (at(i, t), at(i, f))
                } else {
                    (0, 0)
                };
                libc::sock_filter { code, jt, jf, k }
            })
            .collect()
    }
}

/// What the filters need to know about a stub.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FilterParams {
    /// The stub code's first byte.
    pub code_start: u64,
    /// One past its last byte.
    pub code_end: u64,
    /// The memory file's descriptor in the stub.
    pub memfd: u32,
    /// The confirmation eventfd's descriptor in the stub.
    pub efd: u32,
}

/// Loads the instruction pointer and jumps to `outside` unless it lies in
/// `(code_start, code_end]` (seccomp sees `rip` after the `syscall`).
fn ip_check(b: &mut Bpf, p: &FilterParams, outside: T) {
    assert_eq!(
        p.code_start >> 32,
        p.code_end >> 32,
        "stub code straddles a 4 GiB boundary"
    );
    b.ld(D_IP_HI);
    b.jeq((p.code_start >> 32) as u32, T::Next, outside);
    b.ld(D_IP_LO);
    b.jgt(p.code_start as u32, T::Next, outside);
    b.jgt(p.code_end as u32, outside, T::Next);
}

/// The argument checks both filters share.
fn common_checks(b: &mut Bpf, deny: T) {
    b.label("futex");
    b.ld(arg_lo(1));
    b.jeq(libc::FUTEX_WAIT as u32, T::L("allow"), T::Next);
    b.jeq(libc::FUTEX_WAKE as u32, T::L("allow"), deny);
    b.label("arch_prctl");
    b.ld(arg_lo(0));
    b.jge(0x1001, T::Next, deny); // ARCH_SET_GS
    b.jgt(0x1004, deny, T::L("allow")); // ARCH_GET_GS
}

/// The base filter (see the module docs).
pub(crate) fn base_filter(p: &FilterParams) -> Vec<libc::sock_filter> {
    let mut b = Bpf::default();
    let trap = T::L("trap");
    b.ld(D_ARCH);
    b.jeq(AUDIT_ARCH_X86_64, T::Next, trap);
    ip_check(&mut b, p, trap);
    b.ld(D_NR);
    let allow = T::L("allow");
    b.jeq(libc::SYS_futex as u32, T::L("futex"), T::Next);
    b.jeq(libc::SYS_rt_sigreturn as u32, allow, T::Next);
    b.jeq(libc::SYS_sched_yield as u32, allow, T::Next);
    b.jeq(libc::SYS_exit as u32, allow, T::Next);
    b.jeq(libc::SYS_arch_prctl as u32, T::L("arch_prctl"), T::Next);
    b.jeq(libc::SYS_mmap as u32, T::L("mmap"), T::Next);
    b.jeq(libc::SYS_munmap as u32, allow, T::Next);
    b.jeq(libc::SYS_mprotect as u32, T::L("mprotect"), T::Next);
    b.jeq(libc::SYS_clone as u32, T::L("clone"), T::Next);
    b.jeq(libc::SYS_write as u32, T::L("write"), T::Next);
    b.jeq(libc::SYS_sigaltstack as u32, allow, T::Next);
    b.jeq(libc::SYS_seccomp as u32, T::L("seccomp"), T::Next);
    b.jeq(libc::SYS_rt_sigprocmask as u32, T::L("sigprocmask"), trap);
    common_checks(&mut b, trap);
    b.label("mmap");
    b.ld(arg_lo(3));
    b.jeq(MAP_FLAGS as u32, T::Next, trap);
    b.ld(arg_lo(4));
    b.jeq(p.memfd, T::Next, trap);
    b.ld(arg_lo(2));
    b.and(!7);
    b.jeq(0, allow, trap);
    b.label("mprotect");
    b.ld(arg_lo(2));
    b.and(!7);
    b.jeq(0, allow, trap);
    b.label("clone");
    b.ld(arg_lo(0));
    b.jeq(CLONE_THREAD_FLAGS as u32, T::Next, trap);
    b.ld(arg_lo(0) + 4);
    b.jeq(0, allow, trap);
    b.label("write");
    b.ld(arg_lo(0));
    b.jeq(p.efd, allow, trap);
    b.label("seccomp");
    b.ld(arg_lo(0));
    b.jeq(libc::SECCOMP_SET_MODE_FILTER, T::Next, trap);
    b.ld(arg_lo(1));
    b.jeq(0, allow, trap);
    b.label("sigprocmask");
    b.ld(arg_lo(0));
    b.jeq(libc::SIG_SETMASK as u32, allow, trap);
    b.label("allow");
    b.ret(RET_ALLOW);
    b.label("trap");
    b.ret(RET_TRAP);
    b.finish()
}

/// The application threads' filter (see the module docs).
pub(crate) fn app_filter(p: &FilterParams) -> Vec<libc::sock_filter> {
    let mut b = Bpf::default();
    let allow = T::L("allow");
    let trap = T::L("trap");
    b.ld(D_ARCH);
    b.jeq(AUDIT_ARCH_X86_64, T::Next, allow);
    ip_check(&mut b, p, allow);
    b.ld(D_NR);
    b.jeq(libc::SYS_futex as u32, T::L("futex"), T::Next);
    b.jeq(libc::SYS_rt_sigreturn as u32, allow, T::Next);
    b.jeq(libc::SYS_sched_yield as u32, allow, T::Next);
    b.jeq(libc::SYS_exit as u32, allow, T::Next);
    b.jeq(libc::SYS_arch_prctl as u32, T::L("arch_prctl"), trap);
    common_checks(&mut b, trap);
    b.label("allow");
    b.ret(RET_ALLOW);
    b.label("trap");
    b.ret(RET_TRAP);
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BPF interpreter for the subset we emit.
    fn run(prog: &[libc::sock_filter], data: &[u32; 16]) -> u32 {
        let mut a = 0u32;
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            pc += 1;
            match i.code {
                BPF_LD_W_ABS => a = data[i.k as usize / 4],
                BPF_AND_K => a &= i.k,
                BPF_RET_K => return i.k,
                BPF_JEQ_K | BPF_JGT_K | BPF_JGE_K => {
                    let c = match i.code {
                        BPF_JEQ_K => a == i.k,
                        BPF_JGT_K => a > i.k,
                        _ => a >= i.k,
                    };
                    pc += if c { i.jt } else { i.jf } as usize;
                }
                c => panic!("opcode {c:#x}"),
            }
        }
    }

    const P: FilterParams = FilterParams {
        code_start: 0x7fff_ff60_0000,
        code_end: 0x7fff_ff60_1000,
        memfd: 5,
        efd: 7,
    };

    fn data(nr: i64, ip: u64, args: [u64; 6]) -> [u32; 16] {
        let mut d = [0u32; 16];
        d[0] = nr as u32;
        d[1] = AUDIT_ARCH_X86_64;
        d[2] = ip as u32;
        d[3] = (ip >> 32) as u32;
        for (i, a) in args.iter().enumerate() {
            d[4 + 2 * i] = *a as u32;
            d[5 + 2 * i] = (*a >> 32) as u32;
        }
        d
    }

    const IN: u64 = 0x7fff_ff60_0042;

    #[test]
    fn base_filter_decisions() {
        let f = base_filter(&P);
        let both = |nr, ip, args| run(&f, &data(nr, ip, args));
        // Application code: always trapped.
        assert_eq!(both(libc::SYS_getpid, 0x40_1000, [0; 6]), RET_TRAP);
        assert_eq!(both(libc::SYS_futex, 0x40_1000, [0; 6]), RET_TRAP);
        // Just outside the code page, above and below.
        assert_eq!(both(libc::SYS_munmap, P.code_end + 2, [0; 6]), RET_TRAP);
        assert_eq!(both(libc::SYS_munmap, P.code_start, [0; 6]), RET_TRAP);
        // Same low half, another 4 GiB window.
        assert_eq!(both(libc::SYS_munmap, IN - (1 << 32), [0; 6]), RET_TRAP);
        // The stub's calls, with their pinned arguments.
        let mmap_ok = [0x1000, 0x1000, 3, MAP_FLAGS, 5, 0x2000];
        assert_eq!(both(libc::SYS_mmap, IN, mmap_ok), RET_ALLOW);
        let mut bad = mmap_ok;
        bad[4] = 6;
        assert_eq!(both(libc::SYS_mmap, IN, bad), RET_TRAP);
        bad = mmap_ok;
        bad[3] = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64;
        assert_eq!(both(libc::SYS_mmap, IN, bad), RET_TRAP);
        bad = mmap_ok;
        bad[2] = 8;
        assert_eq!(both(libc::SYS_mmap, IN, bad), RET_TRAP);
        assert_eq!(both(libc::SYS_write, IN, [7, 0, 8, 0, 0, 0]), RET_ALLOW);
        assert_eq!(both(libc::SYS_write, IN, [1, 0, 8, 0, 0, 0]), RET_TRAP);
        let cf = CLONE_THREAD_FLAGS;
        assert_eq!(both(libc::SYS_clone, IN, [cf, 0, 0, 0, 0, 0]), RET_ALLOW);
        let fork = libc::SIGCHLD as u64;
        assert_eq!(both(libc::SYS_clone, IN, [fork, 0, 0, 0, 0, 0]), RET_TRAP);
        assert_eq!(both(libc::SYS_futex, IN, [0, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(both(libc::SYS_futex, IN, [0, 6, 0, 0, 0, 0]), RET_TRAP); // LOCK_PI
        assert_eq!(both(libc::SYS_seccomp, IN, [1, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(both(libc::SYS_seccomp, IN, [1, 8, 0, 0, 0, 0]), RET_TRAP); // NEW_LISTENER
        assert_eq!(both(libc::SYS_execve, IN, [0; 6]), RET_TRAP);
        assert_eq!(
            both(libc::SYS_arch_prctl, IN, [0x1002, 0, 0, 0, 0, 0]),
            RET_ALLOW
        );
        assert_eq!(
            both(libc::SYS_arch_prctl, IN, [0x3001, 0, 0, 0, 0, 0]),
            RET_TRAP
        );
        // 32-bit system calls trap wherever they come from.
        let mut d = data(libc::SYS_munmap, IN, [0; 6]);
        d[1] = 0x4000_0003;
        assert_eq!(run(&f, &d), RET_TRAP);
        // x32 numbers are not the stub's.
        assert_eq!(both(libc::SYS_munmap | 0x4000_0000, IN, [0; 6]), RET_TRAP);
    }

    #[test]
    fn app_filter_decisions() {
        let f = app_filter(&P);
        let both = |nr, ip, args| run(&f, &data(nr, ip, args));
        // Outside the stub: defers to the base filter.
        assert_eq!(both(libc::SYS_mmap, 0x40_1000, [0; 6]), RET_ALLOW);
        // Inside: only the handler's calls.
        assert_eq!(both(libc::SYS_rt_sigreturn, IN, [0; 6]), RET_ALLOW);
        assert_eq!(both(libc::SYS_futex, IN, [0, 1, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(both(libc::SYS_futex, IN, [0, 5, 0, 0, 0, 0]), RET_TRAP);
        for nr in [
            libc::SYS_mmap,
            libc::SYS_munmap,
            libc::SYS_mprotect,
            libc::SYS_clone,
            libc::SYS_write,
            libc::SYS_seccomp,
            libc::SYS_sigaltstack,
            libc::SYS_rt_sigprocmask,
            libc::SYS_execve,
            libc::SYS_kill,
        ] {
            let args = [0x1000, 0x1000, 3, MAP_FLAGS, 5, 0];
            assert_eq!(both(nr, IN, args), RET_TRAP, "nr {nr}");
        }
        let mut d = data(libc::SYS_mmap, IN, [0; 6]);
        d[1] = 0x4000_0003;
        assert_eq!(run(&f, &d), RET_ALLOW, "32-bit: the base filter traps");
    }
}
