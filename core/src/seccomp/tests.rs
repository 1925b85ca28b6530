//! seccomp on the fake platform: installing filters through the system
//! calls, the dispatcher's answers for each action, precedence of stacked
//! filters, strict mode, inheritance and TSYNC.

use alloc::vec::Vec;

use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::Errno;

use super::bpf::*;
use super::*;
use crate::fake::TestBed;
use crate::platform::Prot;
use crate::task::{Credentials, Task};
use crate::UserAddr;

const LDW: u16 = LD | W | ABS;

fn map(t: &Task) -> u64 {
    t.mm.mmap(
        UserAddr(0),
        0x10000,
        Prot::READ | Prot::WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS,
        None,
    )
    .expect("mmap")
    .0
}

/// Writes `insns` and a `sock_fprog` for them to fresh memory; returns the
/// fprog's address.
fn put_prog(t: &Task, insns: &[Insn]) -> u64 {
    let base = map(t);
    let mut raw = Vec::new();
    for i in insns {
        raw.extend_from_slice(&i.code.to_le_bytes());
        raw.extend_from_slice(&[i.jt, i.jf]);
        raw.extend_from_slice(&i.k.to_le_bytes());
    }
    t.mm.copy_out(UserAddr(base + 64), &raw).expect("prog");
    let mut fprog = [0u8; 16];
    fprog[..2].copy_from_slice(&(insns.len() as u16).to_le_bytes());
    fprog[8..].copy_from_slice(&(base + 64).to_le_bytes());
    t.mm.copy_out(UserAddr(base), &fprog).expect("fprog");
    base
}

/// A filter answering `ret` for syscall `nr` and ALLOW otherwise.
fn on(nr: u64, ret: u32) -> Vec<Insn> {
    alloc::vec![
        Insn::stmt(LDW, 0),
        Insn::jump(JMP | JEQ | K, nr as u32, 0, 1),
        Insn::stmt(RET | K, ret),
        Insn::stmt(RET | K, RET_ALLOW),
    ]
}

fn sys(t: &mut Task, nr: u64, a: [u64; 6]) -> Result<u64, Errno> {
    (crate::syscalls::lookup(nr).expect("served"))(t, &a)
}

fn install(t: &mut Task, flags: u64, insns: &[Insn]) -> Result<u64, Errno> {
    let p = put_prog(t, insns);
    sys(t, SECCOMP, [1, flags, p, 0, 0, 0])
}

/// Runs syscall `nr` through the dispatcher; returns rax.
fn call(tb: &TestBed, t: &mut Task, nr: u64, a0: u64) -> u64 {
    t.cpu.regs.orig_rax = nr;
    t.cpu.regs.rax = nr;
    t.cpu.regs.rdi = a0;
    t.cpu.regs.rip = 0x40_1234;
    tb.kernel.dispatch(t);
    t.cpu.regs.rax
}

fn neg(e: Errno) -> u64 {
    (-(e as i64)) as u64
}

fn nnp_task(tb: &TestBed) -> Task {
    let mut t = tb.task_as(Credentials::new(1000, 1000, Vec::new()));
    t.creds.no_new_privs = true;
    t
}

#[test]
fn installing_needs_no_new_privs_or_cap_sys_admin() {
    let tb = TestBed::new();
    let mut user = tb.task_as(Credentials::new(1000, 1000, Vec::new()));
    assert_eq!(
        install(&mut user, 0, &on(GETPID, RET_ERRNO | 1)),
        Err(Errno::EACCES)
    );
    user.creds.no_new_privs = true;
    assert_eq!(install(&mut user, 0, &on(GETPID, RET_ERRNO | 1)), Ok(0));
    let mut root = tb.task();
    assert_eq!(install(&mut root, 0, &on(GETPID, RET_ERRNO | 1)), Ok(0));
    assert_eq!(root.seccomp.mode(), MODE_FILTER);
}

#[test]
fn bad_arguments() {
    let tb = TestBed::new();
    let mut t = nnp_task(&tb);
    // Unknown op, unserved or unknown flags.
    assert_eq!(sys(&mut t, SECCOMP, [9, 0, 0, 0, 0, 0]), Err(Errno::EINVAL));
    let p = put_prog(&t, &on(GETPID, RET_ALLOW));
    for flags in [8, 32, 64] {
        assert_eq!(
            sys(&mut t, SECCOMP, [1, flags, p, 0, 0, 0]),
            Err(Errno::EINVAL)
        );
    }
    // The sock_fprog, then the instructions, unreadable.
    assert_eq!(sys(&mut t, SECCOMP, [1, 0, 0, 0, 0, 0]), Err(Errno::EFAULT));
    let base = map(&t);
    let mut fprog = [0u8; 16];
    fprog[0] = 1;
    fprog[8..].copy_from_slice(&0x10u64.to_le_bytes());
    t.mm.copy_out(UserAddr(base), &fprog).unwrap();
    assert_eq!(
        sys(&mut t, SECCOMP, [1, 0, base, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    // Empty program; NULL instructions.
    assert_eq!(install(&mut t, 0, &[]), Err(Errno::EINVAL));
    fprog[8..].fill(0);
    t.mm.copy_out(UserAddr(base), &fprog).unwrap();
    assert_eq!(
        sys(&mut t, SECCOMP, [1, 0, base, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    // Strict mode takes no flags or arguments.
    assert_eq!(sys(&mut t, SECCOMP, [0, 1, 0, 0, 0, 0]), Err(Errno::EINVAL));
    assert_eq!(sys(&mut t, SECCOMP, [0, 0, 8, 0, 0, 0]), Err(Errno::EINVAL));
    assert_eq!(t.seccomp.mode(), MODE_DISABLED);
}

#[test]
fn action_avail_and_notif_sizes() {
    let tb = TestBed::new();
    let mut t = tb.task();
    let base = map(&t);
    for (action, want) in [
        (RET_KILL_PROCESS, Ok(0)),
        (RET_KILL_THREAD, Ok(0)),
        (RET_TRAP, Ok(0)),
        (RET_ERRNO, Ok(0)),
        (RET_USER_NOTIF, Ok(0)),
        (RET_TRACE, Ok(0)),
        (RET_LOG, Ok(0)),
        (RET_ALLOW, Ok(0)),
        (0x0001_0000, Err(Errno::EOPNOTSUPP)),
    ] {
        t.mm.write_obj(UserAddr(base), &action).unwrap();
        assert_eq!(sys(&mut t, SECCOMP, [2, 0, base, 0, 0, 0]), want);
    }
    assert_eq!(
        sys(&mut t, SECCOMP, [2, 1, base, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(sys(&mut t, SECCOMP, [2, 0, 0, 0, 0, 0]), Err(Errno::EFAULT));
    assert_eq!(sys(&mut t, SECCOMP, [3, 0, base, 0, 0, 0]), Ok(0));
    let sizes: [u16; 3] = t.mm.read_obj(UserAddr(base)).unwrap();
    assert_eq!(sizes, [80, 24, 64]);
}

#[test]
fn errno_trace_and_notif_answers() {
    let tb = TestBed::new();
    let mut t = nnp_task(&tb);
    let pid = t.pid() as u64;
    assert_eq!(call(&tb, &mut t, GETPID, 0), pid);
    install(&mut t, 0, &on(GETPID, RET_ERRNO | 13)).unwrap();
    assert_eq!(call(&tb, &mut t, GETPID, 0), neg(Errno::EACCES));
    assert_eq!(call(&tb, &mut t, GETTID, 0), t.tid as u64);
    // Capped at 4095; ERRNO 0 returns 0 without running the call.
    install(&mut t, 0, &on(GETUID, RET_ERRNO | 0xffff)).unwrap();
    assert_eq!(call(&tb, &mut t, GETUID, 0), (-4095i64) as u64);
    install(&mut t, 0, &on(GETEUID, RET_ERRNO)).unwrap();
    assert_eq!(call(&tb, &mut t, GETEUID, 0), 0);
    install(&mut t, 0, &on(GETGID, RET_TRACE)).unwrap();
    assert_eq!(call(&tb, &mut t, GETGID, 0), neg(Errno::ENOSYS));
    install(&mut t, 0, &on(GETEGID, RET_USER_NOTIF)).unwrap();
    assert_eq!(call(&tb, &mut t, GETEGID, 0), neg(Errno::ENOSYS));
    install(&mut t, 0, &on(GETPPID, RET_LOG)).unwrap();
    assert_eq!(call(&tb, &mut t, GETPPID, 0), 0);
    assert_eq!(t.tg.seccomp.status(t.tid), (MODE_FILTER, 6));
}

#[test]
fn the_strictest_filter_wins() {
    let tb = TestBed::new();
    let mut t = nnp_task(&tb);
    // ERRNO(1) then TRAP: TRAP wins; then ALLOW on top changes nothing.
    install(&mut t, 0, &on(GETPID, RET_ERRNO | 1)).unwrap();
    install(&mut t, 0, &on(GETPID, RET_TRAP | 7)).unwrap();
    install(&mut t, 0, &on(GETPID, RET_ALLOW)).unwrap();
    assert_eq!(call(&tb, &mut t, GETPID, 0), GETPID);
    let info = crate::signal::dequeue(&t, 0).expect("SIGSYS queued");
    assert_eq!(info.signo, SIGSYS);
    assert_eq!(info.code, SYS_SECCOMP);
    assert_eq!(info.errno, 7);
    assert_eq!(info.fields[0], 0x40_1234);
    assert_eq!(
        info.fields[1],
        GETPID | (u64::from(AUDIT_ARCH_X86_64) << 32)
    );
    // Two ERRNO answers: the first of equal rank (the newest) wins.
    let mut u = nnp_task(&tb);
    install(&mut u, 0, &on(GETPID, RET_ERRNO | 1)).unwrap();
    install(&mut u, 0, &on(GETPID, RET_ERRNO | 2)).unwrap();
    assert_eq!(call(&tb, &mut u, GETPID, 0), neg(Errno::ENOENT));
}

#[test]
fn kill_process_forces_a_fatal_sigsys() {
    let tb = TestBed::new();
    let mut t = nnp_task(&tb);
    // Even with a handler installed, the disposition goes back to default.
    t.tg.sigactions.lock()[(SIGSYS - 1) as usize].handler = 0x40_0000;
    install(&mut t, 0, &on(GETPID, RET_KILL_PROCESS)).unwrap();
    call(&tb, &mut t, GETPID, 0);
    assert_eq!(
        t.tg.sigactions.lock()[(SIGSYS - 1) as usize].handler,
        SIG_DFL
    );
    let info = crate::signal::dequeue(&t, 0).expect("SIGSYS queued");
    assert_eq!((info.signo, info.code), (SIGSYS, SYS_SECCOMP));
}

#[test]
fn strict_mode() {
    let tb = TestBed::new();
    let mut t = tb.task_as(Credentials::new(1000, 1000, Vec::new()));
    // Strict mode needs no privilege.
    assert_eq!(sys(&mut t, PRCTL, [22, 1, 0, 0, 0, 0]), Ok(0));
    assert_eq!(t.seccomp.mode(), MODE_STRICT);
    assert_eq!(call(&tb, &mut t, WRITE, 99), neg(Errno::EBADF));
    assert!(!t.pending.exited);
    // A filter cannot be added in strict mode.
    t.creds.no_new_privs = true;
    assert_eq!(
        install(&mut t, 0, &on(GETPID, RET_ALLOW)),
        Err(Errno::EINVAL)
    );
    call(&tb, &mut t, GETPID, 0);
    assert!(t.pending.exited);
    assert_eq!(
        *t.tg.exit_status.lock(),
        Some(ExitStatus::Signaled(SIGKILL))
    );
}

#[test]
fn prctl_get_and_set() {
    let tb = TestBed::new();
    let mut t = nnp_task(&tb);
    assert_eq!(sys(&mut t, PRCTL, [21, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(sys(&mut t, PRCTL, [22, 3, 0, 0, 0, 0]), Err(Errno::EINVAL));
    // The classic probe: a NULL filter is EFAULT.
    assert_eq!(sys(&mut t, PRCTL, [22, 2, 0, 0, 0, 0]), Err(Errno::EFAULT));
    let p = put_prog(&t, &on(GETPID, RET_ALLOW));
    assert_eq!(sys(&mut t, PRCTL, [22, 2, p, 0, 0, 0]), Ok(0));
    assert_eq!(sys(&mut t, PRCTL, [21, 0, 0, 0, 0, 0]), Ok(2));
    // No strict mode once filtering.
    assert_eq!(sys(&mut t, PRCTL, [22, 1, 0, 0, 0, 0]), Err(Errno::EINVAL));
}

#[test]
fn too_many_instructions_in_a_stack() {
    let tb = TestBed::new();
    let mut t = nnp_task(&tb);
    // 4096 RET|K translate to 3 + 2 * 4096 = 8195 eBPF instructions:
    // three fit (with 4 each for the two below), a fourth is past 32768.
    let big = alloc::vec![Insn::stmt(RET | K, RET_ALLOW); MAXINSNS];
    for _ in 0..3 {
        install(&mut t, 0, &big).unwrap();
    }
    assert_eq!(install(&mut t, 0, &big), Err(Errno::ENOMEM));
    assert_eq!(t.tg.seccomp.status(t.tid), (MODE_FILTER, 3));
}

#[test]
fn children_inherit_the_stack() {
    let tb = TestBed::new();
    let mut t = nnp_task(&tb);
    install(&mut t, 0, &on(GETPID, RET_ERRNO | 1)).unwrap();
    let mut child = tb.task();
    child.seccomp = TaskSeccomp::inherit(&t, &child.tg, child.tid);
    assert_eq!(call(&tb, &mut child, GETPID, 0), neg(Errno::EPERM));
    assert_eq!(child.tg.seccomp.status(child.tid), (MODE_FILTER, 1));
}

/// A second thread of `t`'s process.
fn thread_of(tb: &TestBed, t: &Task) -> Task {
    let mut b = tb.task_as(t.creds.clone());
    b.tg = t.tg.clone();
    b.seccomp = TaskSeccomp::inherit(t, &t.tg, b.tid);
    t.tg.live_threads.fetch_add(1, Ordering::AcqRel);
    crate::signal::attach(&b);
    b
}

#[test]
fn tsync_reaches_the_other_threads() {
    let tb = TestBed::new();
    let mut a = nnp_task(&tb);
    let mut b = thread_of(&tb, &a);
    b.creds.no_new_privs = false;
    assert!(!b.seccomp.armed(&b.tg));
    assert_eq!(install(&mut a, 1, &on(GETPID, RET_ERRNO | 1)), Ok(0));
    assert!(b.seccomp.armed(&b.tg));
    assert_eq!(call(&tb, &mut b, GETPID, 0), neg(Errno::EPERM));
    assert!(b.creds.no_new_privs);
    assert_eq!(b.tg.seccomp.status(b.tid), (MODE_FILTER, 1));
    // A thread's own filter on top of the shared stack is fine for a later
    // TSYNC from it, but the other thread now has one the caller lacks.
    install(&mut b, 0, &on(GETUID, RET_ERRNO | 2)).unwrap();
    assert_eq!(
        install(&mut a, 1, &on(GETGID, RET_ERRNO | 3)),
        Ok(b.tid as u64)
    );
    assert_eq!(
        install(&mut a, 1 | 16, &on(GETGID, RET_ERRNO | 3)),
        Err(Errno::ESRCH)
    );
    assert_eq!(install(&mut b, 1, &on(GETGID, RET_ERRNO | 3)), Ok(0));
    assert_eq!(call(&tb, &mut a, GETUID, 0), neg(Errno::ENOENT));
    assert_eq!(a.tg.seccomp.status(a.tid), (MODE_FILTER, 3));
    // A thread in strict mode cannot be synchronised.
    let mut c = thread_of(&tb, &a);
    let mut d = thread_of(&tb, &a);
    assert_eq!(install(&mut c, 1, &on(GETPID, RET_ALLOW)), Ok(0));
    sys(&mut d, SECCOMP, [0, 0, 0, 0, 0, 0]).ok();
    call(&tb, &mut d, GETPID, 0);
    // d had filters: strict mode was refused and it lives.
    assert!(!d.pending.exited);
}

#[test]
fn data_layout() {
    let d = seccomp_data(39, 0x1122_3344_5566_7788, &[1, 2, 3, 4, 5, u64::MAX]);
    assert_eq!(d[0], 39);
    assert_eq!(d[1], AUDIT_ARCH_X86_64);
    assert_eq!((d[2], d[3]), (0x5566_7788, 0x1122_3344));
    assert_eq!((d[4], d[5]), (1, 0));
    assert_eq!((d[14], d[15]), (u32::MAX, u32::MAX));
}
