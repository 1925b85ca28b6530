//! Signal tests on the fake platform: frame layout checked byte by byte
//! against Linux's offsets, sigreturn round trips, masks, dispositions,
//! queueing order, restart, the alternate stack, permissions, faults, job
//! control and exit notification.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use spin::Mutex;
use veil_abi::flags::*;
use veil_abi::sysno::*;
use veil_abi::{Errno, KernelSigaction, SigaltStack, Siginfo, Timespec};

use super::*;
use crate::fake::{ScriptLog, Step, TestBed};
use crate::platform::{Access, Context, CpuState, Prot};
use crate::task::{Credentials, ExitStatus, Task, ThreadGroup};
use crate::UserAddr;

const HANDLER: u64 = 0x40_1000;
const RESTORER: u64 = 0x40_2000;
const STACK_LEN: u64 = 0x10000;

/// A test bed whose init (pid 1) exists, so that the tasks tests make are
/// ordinary processes.
fn bed() -> (TestBed, Task) {
    let tb = TestBed::new();
    let init = tb.task();
    assert_eq!(init.pid(), 1);
    tb.kernel.register(&init.tg);
    (tb, init)
}

/// A registered task with a 64 KiB stack mapped; rsp deliberately not
/// 16-byte aligned.
fn task(tb: &TestBed) -> Task {
    task_as(tb, Credentials::new(0, 0, Vec::new()))
}

fn task_as(tb: &TestBed, creds: Credentials) -> Task {
    let mut t = tb.task_as(creds);
    tb.kernel.register(&t.tg);
    let base = map(&t, STACK_LEN);
    t.cpu.regs.rsp = base + STACK_LEN - 0x1008;
    t.cpu.regs.rip = 0x40_0000;
    t.cpu.regs.cs = USER_CS;
    t.cpu.regs.ss = USER_DS;
    t.cpu.regs.eflags = 0x246;
    t
}

fn map(t: &Task, len: u64) -> u64 {
    t.mm.mmap(
        UserAddr(0),
        len,
        Prot::READ | Prot::WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS,
        None,
    )
    .expect("mmap")
    .0
}

fn set_action(t: &Task, sig: i32, handler: u64, flags: u64, mask: u64) {
    t.tg.sigactions.lock()[(sig - 1) as usize] = KernelSigaction {
        handler,
        flags,
        restorer: RESTORER,
        mask,
    };
}

fn sys(t: &mut Task, nr: u64, a: [u64; 6]) -> Result<u64, Errno> {
    (crate::syscalls::lookup(nr).expect("served"))(t, &a)
}

fn errno(e: Errno) -> u64 {
    (-(e as i64)) as u64
}

/// A 1 KiB XSAVE image: x87/SSE registers and an extended component with
/// a byte pattern, FCW, MXCSR and its mask as a CPU would have them.
fn fp_image() -> Vec<u8> {
    let mut b = vec![0u8; 1024];
    for (i, x) in b.iter_mut().enumerate().take(416).skip(32) {
        *x = i as u8;
    }
    for (i, x) in b.iter_mut().enumerate().skip(576) {
        *x = (i * 7) as u8;
    }
    b[0..2].copy_from_slice(&0x37fu16.to_le_bytes());
    b[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
    b[28..32].copy_from_slice(&0xffffu32.to_le_bytes());
    b[512..520].copy_from_slice(&7u64.to_le_bytes());
    b
}

type Regs = Arc<Mutex<Vec<CpuState>>>;

fn capture(into: &Regs) -> Step {
    let into = into.clone();
    Step::Check(Box::new(move |cpu| into.lock().push(cpu.clone())))
}

fn edit(f: impl FnMut(&mut CpuState) + Send + 'static) -> Step {
    Step::Check(Box::new(f))
}

/// What the handler's `ret` to the restorer does.
fn ret() -> Step {
    edit(|cpu| cpu.regs.rsp += 8)
}

struct Run {
    status: ExitStatus,
    log: ScriptLog,
    fp: Vec<u8>,
}

fn run(tb: &TestBed, t: &mut Task, steps: Vec<Step>, fp: Option<&[u8]>) -> Run {
    let mut ctx = tb.platform.context(steps);
    if let Some(fp) = fp {
        ctx.set_fp_state(fp).unwrap();
    }
    let log = ctx.log();
    let status = tb.kernel.run(t, &mut ctx);
    let mut fp = Vec::new();
    ctx.fp_state(&mut fp).unwrap();
    let log = log.lock().clone();
    Run { status, log, fp }
}

fn read_u64(t: &Task, addr: u64) -> u64 {
    t.mm.read_obj::<u64>(UserAddr(addr)).unwrap()
}

fn read_u32(t: &Task, addr: u64) -> u32 {
    t.mm.read_obj::<u32>(UserAddr(addr)).unwrap()
}

fn read_u16(t: &Task, addr: u64) -> u16 {
    t.mm.read_obj::<u16>(UserAddr(addr)).unwrap()
}

/// Where Linux puts the frame for a thread at `rsp` with `fp_len` bytes of
/// XSAVE state (computed independently of `frame::place`).
fn expected_frame(rsp: u64, fp_len: u64) -> (u64, u64) {
    let fp = (rsp - 128 - (fp_len + 4)) & !63;
    let frame = ((fp - 440) & !15) - 8;
    (frame, fp)
}

// -------------------------------------------------------------------------
// Queues

fn info(sig: i32, value: u64) -> Siginfo {
    let mut i = Siginfo {
        signo: sig,
        code: SI_QUEUE,
        ..Siginfo::default()
    };
    i.fields[1] = value;
    i
}

#[test]
fn queue_order_and_coalescing() {
    let mut q = SigQueue::default();
    q.push(info(SIGUSR2, 1), true);
    q.push(info(SIGUSR2, 2), true);
    q.push(info(40, 1), true);
    q.push(info(SIGUSR1, 0), true);
    q.push(info(40, 2), true);
    q.push(info(35, 0), true);
    q.push(info(SIGSEGV, 0), true);
    q.push(info(40, 3), false);
    assert_eq!(q.queued(), 6, "USR2 coalesced, the third 40 lost its info");
    let order: Vec<(i32, u64)> = core::iter::from_fn(|| q.take_next(0))
        .map(|i| (i.signo, i.fields[1]))
        .collect();
    // Synchronous first, then by number; real-time in arrival order; the
    // entry without info is lost, the signal still counted once more.
    assert_eq!(
        order,
        vec![
            (SIGSEGV, 0),
            (SIGUSR1, 0),
            (SIGUSR2, 1),
            (35, 0),
            (40, 1),
            (40, 2)
        ]
    );
    assert_eq!(q.pending(), 0);
    // A pending bit without an entry dequeues as SI_USER from nobody.
    q.push(info(41, 9), false);
    let i = q.take_next(0).unwrap();
    assert_eq!(
        (i.signo, i.code, i.fields[0], i.fields[1]),
        (41, SI_USER, 0, 0)
    );
}

#[test]
fn queue_respects_blocked_and_discard() {
    let mut q = SigQueue::default();
    q.push(info(SIGUSR1, 0), true);
    q.push(info(SIGTERM, 0), true);
    assert_eq!(q.next(bit(SIGUSR1)), Some(SIGTERM));
    q.discard(bit(SIGTERM));
    assert_eq!(q.next(bit(SIGUSR1)), None);
    assert_eq!(q.next(0), Some(SIGUSR1));
    // Nonsense numbers are refused, never panic.
    q.push(info(0, 0), true);
    q.push(info(65, 0), true);
    q.push(info(-3, 0), true);
    assert_eq!(q.take(0), None);
    assert_eq!(q.take(99), None);
    assert_eq!(q.pending(), bit(SIGUSR1));
}

#[test]
fn default_actions() {
    use DefaultAction::*;
    assert_eq!(default_action(SIGTERM), Terminate);
    assert_eq!(default_action(SIGSEGV), Core);
    assert_eq!(default_action(SIGQUIT), Core);
    assert_eq!(default_action(SIGTSTP), Stop);
    assert_eq!(default_action(SIGCONT), Continue);
    assert_eq!(default_action(SIGCHLD), Ignore);
    assert_eq!(default_action(SIGWINCH), Ignore);
    assert_eq!(default_action(SIGRTMIN + 3), Terminate);
    assert_eq!(super::name(SIGUSR1), "SIGUSR1");
    assert_eq!(super::name(34), "SIGRT_2");
}

// -------------------------------------------------------------------------
// Frames

#[test]
fn frame_layout_matches_linux() {
    let (tb, _init) = bed();
    let mut t = task(&tb);
    let pid = t.pid() as u64;
    let scratch = map(&t, 0x1000);
    let sa_mask = bit(SIGUSR2) | bit(SIGTERM) | bit(SIGKILL);
    set_action(&t, SIGUSR1, HANDLER, SA_SIGINFO | SA_RESTORER, sa_mask);
    let regs: Regs = Arc::default();
    let rsp0 = t.cpu.regs.rsp;
    let steps = vec![
        edit(|c| {
            let r = &mut c.regs;
            (r.rax, r.rbx, r.rcx, r.rbp) = (0xa0, 0xb0, 0xc0, 0xd0);
            (r.r11, r.r12, r.r13, r.r14, r.r15) = (0x11, 0x12, 0x13, 0x14, 0x15);
            r.eflags = 0x246 | 0x400 | 0x100;
        }),
        Step::Syscall(KILL, [pid, SIGUSR1 as u64, 0x3333, 0x4444, 0x5555, 0x6666]),
        capture(&regs),
        Step::Syscall(RT_SIGPROCMASK, [SIG_BLOCK as u64, 0, scratch, 8, 0, 0]),
        Step::Read(scratch, 8),
    ];
    let r = run(&tb, &mut t, steps, Some(&fp_image()));
    assert_eq!(r.status, ExitStatus::Exited(0));

    let (frame, fp) = expected_frame(rsp0, 1024);
    let h = regs.lock()[0].regs;
    assert_eq!(h.rsp, frame);
    assert_eq!((h.rsp + 8) % 16, 0, "ABI alignment at handler entry");
    assert_eq!(h.rip, HANDLER);
    assert_eq!(h.rdi, SIGUSR1 as u64);
    assert_eq!(h.rsi, frame + 312, "&siginfo");
    assert_eq!(h.rdx, frame + 8, "&ucontext");
    assert_eq!(h.rax, 0);
    assert_eq!((h.cs, h.ss), (USER_CS, USER_DS));
    assert_eq!(h.eflags & (0x400 | 0x100), 0, "DF and TF cleared");
    // The handler runs with sa_mask and the signal blocked (never SIGKILL).
    let in_handler = u64::from_le_bytes(r.log.reads[0].clone().try_into().unwrap());
    assert_eq!(in_handler, bit(SIGUSR2) | bit(SIGTERM) | bit(SIGUSR1));

    // struct rt_sigframe, offset by offset.
    assert_eq!(read_u64(&t, frame), RESTORER, "pretcode");
    assert_eq!(
        read_u64(&t, frame + 8),
        7,
        "uc_flags: FP_XSTATE|SIGCONTEXT_SS|STRICT_RESTORE_SS"
    );
    assert_eq!(read_u64(&t, frame + 16), 0, "uc_link");
    assert_eq!(read_u64(&t, frame + 24), 0, "uc_stack.ss_sp");
    assert_eq!(read_u32(&t, frame + 32), 0, "uc_stack.ss_flags");
    assert_eq!(read_u64(&t, frame + 40), 0, "uc_stack.ss_size");
    let mc = frame + 48; // uc_mcontext at 40 in the ucontext
    let gp = [
        ("r8", 0, 0x5555),
        ("r9", 8, 0x6666),
        ("r10", 16, 0x4444),
        ("r11", 24, 0x11),
        ("r12", 32, 0x12),
        ("r13", 40, 0x13),
        ("r14", 48, 0x14),
        ("r15", 56, 0x15),
        ("rdi", 64, pid),
        ("rsi", 72, SIGUSR1 as u64),
        ("rbp", 80, 0xd0),
        ("rbx", 88, 0xb0),
        ("rdx", 96, 0x3333),
        ("rax", 104, 0),
        ("rcx", 112, 0xc0),
        ("rsp", 120, rsp0),
        ("rip", 128, 0x40_0002),
        ("eflags", 136, 0x246 | 0x400 | 0x100),
    ];
    for (reg, off, want) in gp {
        assert_eq!(read_u64(&t, mc + off), want, "sigcontext.{reg}");
    }
    assert_eq!(read_u16(&t, mc + 144), USER_CS as u16, "cs");
    assert_eq!(read_u16(&t, mc + 146), 0, "gs");
    assert_eq!(read_u16(&t, mc + 148), 0, "fs");
    assert_eq!(read_u16(&t, mc + 150), USER_DS as u16, "ss");
    assert_eq!(read_u64(&t, mc + 168), 0, "oldmask (the mask before)");
    assert_eq!(read_u64(&t, mc + 184), fp, "fpstate");
    assert_eq!(
        read_u64(&t, frame + 304),
        0,
        "uc_sigmask at 296 in the ucontext"
    );
    // siginfo at 312: kill's SI_USER with the sender's pid and uid.
    assert_eq!(read_u32(&t, frame + 312) as i32, SIGUSR1, "si_signo");
    assert_eq!(read_u32(&t, frame + 316), 0, "si_errno");
    assert_eq!(read_u32(&t, frame + 320) as i32, SI_USER, "si_code");
    assert_eq!(read_u32(&t, frame + 328) as u64, pid, "si_pid");
    assert_eq!(read_u32(&t, frame + 332), 0, "si_uid");

    // The FP state: 64-byte aligned, above the frame, below the red zone,
    // with Linux's software-reserved bytes and the second magic.
    assert_eq!(fp % 64, 0);
    assert!(fp >= frame + 440 && fp + 1028 <= rsp0 - 128);
    let mut img = vec![0u8; 1024];
    t.mm.copy_in(UserAddr(fp), &mut img).unwrap();
    let orig = fp_image();
    assert_eq!(img[..464], orig[..464]);
    assert_eq!(img[512..], orig[512..]);
    assert_eq!(read_u32(&t, fp + 464), FP_XSTATE_MAGIC1);
    assert_eq!(read_u32(&t, fp + 468), 1028, "extended_size");
    assert_eq!(read_u64(&t, fp + 472), 7, "xfeatures");
    assert_eq!(read_u32(&t, fp + 480), 1024, "xstate_size");
    assert_eq!(read_u32(&t, fp + 1024), FP_XSTATE_MAGIC2);
    // The handler started with the initial FP state.
    assert!(r.fp.iter().all(|&b| b == 0));
}

#[test]
fn frame_without_siginfo_leaves_the_info_alone() {
    let (tb, _init) = bed();
    let mut t = task(&tb);
    let pid = t.pid() as u64;
    set_action(&t, SIGUSR2, HANDLER, SA_RESTORER, 0);
    let (frame, _) = expected_frame(t.cpu.regs.rsp, 512 - 4);
    // Fill the would-be siginfo with a marker.
    t.mm.copy_out(UserAddr(frame + 312), &[0xee; 128]).unwrap();
    let regs: Regs = Arc::default();
    // A 512-byte (FXSAVE only) state: no magic, no XSTATE flag.
    let steps = vec![
        Step::Syscall(KILL, [pid, SIGUSR2 as u64, 0, 0, 0, 0]),
        capture(&regs),
    ];
    run(&tb, &mut t, steps, Some(&[0u8; 512]));
    let frame = regs.lock()[0].regs.rsp;
    assert_eq!(read_u64(&t, frame + 8), 6, "no UC_FP_XSTATE without XSAVE");
    assert_eq!(read_u32(&t, frame + 312), 0xeeee_eeee);
    let fp = read_u64(&t, frame + 48 + 184);
    assert_eq!(read_u32(&t, fp + 464), 0, "no sw bytes for an FXSAVE image");
}

#[test]
fn sigreturn_restores_every_register_fp_state_and_mask() {
    let (tb, _init) = bed();
    let mut t = task(&tb);
    let pid = t.pid() as u64;
    let scratch = map(&t, 0x1000);
    set_action(&t, SIGUSR1, HANDLER, SA_SIGINFO | SA_RESTORER, bit(SIGUSR2));
    signal_mask(&mut t, bit(SIGHUP));
    let regs: Regs = Arc::default();
    let rsp0 = t.cpu.regs.rsp;
    let steps = vec![
        edit(|c| {
            let r = &mut c.regs;
            (r.rbx, r.rcx, r.rbp) = (0xb0, 0xc0, 0xd0);
            (r.r11, r.r12, r.r13, r.r14, r.r15) = (0x11, 0x12, 0x13, 0x14, 0x15);
            r.eflags = 0x202 | 0x1 | 0x800 | 0x400;
        }),
        Step::Syscall(KILL, [pid, SIGUSR1 as u64, 0x3333, 0x4444, 0x5555, 0x6666]),
        capture(&regs),
        // The handler trashes everything, then returns.
        edit(|c| {
            let r = &mut c.regs;
            (r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp) = (1, 2, 3, 4, 5, 6, 7);
            (r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15) = (8, 9, 10, 11, 12, 13, 14, 15);
            r.eflags = 0x202;
            r.fs_base = 0x7777;
        }),
        ret(),
        Step::Syscall(RT_SIGRETURN, [0; 6]),
        capture(&regs),
        Step::Syscall(RT_SIGPROCMASK, [SIG_BLOCK as u64, 0, scratch, 8, 0, 0]),
        Step::Read(scratch, 8),
    ];
    let r = run(&tb, &mut t, steps, Some(&fp_image()));
    assert_eq!(r.status, ExitStatus::Exited(0));
    let got = regs.lock()[1].regs;
    let want = [
        (got.r8, 0x5555),
        (got.r9, 0x6666),
        (got.r10, 0x4444),
        (got.r11, 0x11),
        (got.r12, 0x12),
        (got.r13, 0x13),
        (got.r14, 0x14),
        (got.r15, 0x15),
        (got.rdi, pid),
        (got.rsi, SIGUSR1 as u64),
        (got.rbp, 0xd0),
        (got.rbx, 0xb0),
        (got.rdx, 0x3333),
        (got.rax, 0),
        (got.rcx, 0xc0),
        (got.rsp, rsp0),
        (got.rip, 0x40_0002),
        (got.eflags, 0x202 | 0x1 | 0x800 | 0x400),
        (got.cs, USER_CS),
        (got.ss, USER_DS),
    ];
    for (i, (g, w)) in want.iter().enumerate() {
        assert_eq!(g, w, "register {i}");
    }
    // fs_base is not part of the frame: the handler's change stays.
    assert_eq!(got.fs_base, 0x7777);
    assert_eq!(r.log.results[1], 0, "rt_sigreturn returns the restored rax");
    // The mask from before the signal.
    let after = u64::from_le_bytes(r.log.reads[0].clone().try_into().unwrap());
    assert_eq!(after, bit(SIGHUP));
    // The FP state came back from the frame.
    let orig = fp_image();
    assert_eq!(r.fp.len(), 1024);
    assert_eq!(r.fp[..464], orig[..464]);
    assert_eq!(r.fp[512..], orig[512..]);
}

fn signal_mask(t: &mut Task, m: u64) {
    set_mask(t, m);
}

#[test]
fn forged_frames_cannot_escalate() {
    let (tb, _init) = bed();
    let mut t = task(&tb);
    let pid = t.pid() as u64;
    set_action(&t, SIGUSR1, HANDLER, SA_SIGINFO | SA_RESTORER, 0);
    let mut ctx = tb.platform.context(Vec::new());
    ctx.set_fp_state(&fp_image()).unwrap();
    sys(&mut t, KILL, [pid, SIGUSR1 as u64, 0, 0, 0, 0]).unwrap();
    assert!(before_switch(&mut t, &mut ctx));
    let frame = t.cpu.regs.rsp;
    let mc = frame + 48;
    // Forge: kernel code selector, IOPL 3 + IF cleared + VM86 + NT,
    // a mask with SIGKILL and SIGSTOP, a bad MXCSR.
    t.mm.write_obj(UserAddr(mc + 144), &0x10u16).unwrap();
    t.mm.write_obj(UserAddr(mc + 150), &0x0u16).unwrap();
    t.mm.write_obj(UserAddr(mc + 136), &(0x3000u64 | 0x2_0000 | 0x4000 | 0x1))
        .unwrap();
    t.mm.write_obj(UserAddr(frame + 304), &u64::MAX).unwrap();
    t.cpu.regs.eflags = 0x202;
    t.cpu.regs.rsp = frame + 8;
    sys_sigreturn(&mut t);
    let r = t.cpu.regs;
    assert_eq!((r.cs, r.ss), (USER_CS, USER_DS));
    assert_eq!(
        r.eflags,
        0x202 | 0x1,
        "only FIX_EFLAGS bits come from the frame"
    );
    assert_eq!(
        t.sigmask, !UNBLOCKABLE,
        "SIGKILL and SIGSTOP stay unblockable"
    );
    assert!(matches!(t.signals.fp_restore, Some(FpRestore::Image(_))));

    // A bad MXCSR in the FP state: SIGSEGV (Linux's XRSTOR faults).
    let mut t2 = task(&tb);
    let pid2 = t2.pid() as u64;
    set_action(&t2, SIGUSR1, HANDLER, SA_SIGINFO | SA_RESTORER, 0);
    let mut ctx2 = tb.platform.context(Vec::new());
    ctx2.set_fp_state(&fp_image()).unwrap();
    sys(&mut t2, KILL, [pid2, SIGUSR1 as u64, 0, 0, 0, 0]).unwrap();
    assert!(before_switch(&mut t2, &mut ctx2));
    let frame = t2.cpu.regs.rsp;
    let fp = read_u64(&t2, frame + 48 + 184);
    t2.mm.write_obj(UserAddr(fp + 24), &0xffff_0000u32).unwrap();
    t2.cpu.regs.rsp = frame + 8;
    sys_sigreturn(&mut t2);
    assert_eq!(
        t2.tg.signals.lock().pending_for(t2.tid) & bit(SIGSEGV),
        bit(SIGSEGV)
    );
    assert!(!before_switch(&mut t2, &mut ctx2));
    assert_eq!(
        *t2.tg.exit_status.lock(),
        Some(ExitStatus::Signaled(SIGSEGV))
    );

    // A frame pointer into nothing: SIGSEGV.
    let mut t3 = task(&tb);
    t3.cpu.regs.rsp = 0x10;
    sys_sigreturn(&mut t3);
    let mut ctx3 = tb.platform.context(Vec::new());
    assert!(!before_switch(&mut t3, &mut ctx3));
    assert_eq!(
        *t3.tg.exit_status.lock(),
        Some(ExitStatus::Signaled(SIGSEGV))
    );
}

fn sys_sigreturn(t: &mut Task) {
    let _ = sys(t, RT_SIGRETURN, [0; 6]);
    t.pending.keep_rax = false;
}

#[test]
fn handlers_without_restorer_get_sigsegv() {
    let (tb, _init) = bed();
    let mut t = task(&tb);
    let pid = t.pid() as u64;
    t.tg.sigactions.lock()[(SIGUSR1 - 1) as usize] = KernelSigaction {
        handler: HANDLER,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    let r = run(
        &tb,
        &mut t,
        vec![Step::Syscall(KILL, [pid, SIGUSR1 as u64, 0, 0, 0, 0])],
        None,
    );
    assert_eq!(r.status, ExitStatus::Signaled(SIGSEGV));
}

#[test]
fn nodefer_and_resethand() {
    let (tb, _init) = bed();
    let mut t = task(&tb);
    let pid = t.pid() as u64;
    let scratch = map(&t, 0x1000);
    set_action(
        &t,
        SIGUSR1,
        HANDLER,
        SA_RESTORER | SA_NODEFER | SA_RESETHAND,
        bit(SIGINT),
    );
    let steps = vec![
        Step::Syscall(KILL, [pid, SIGUSR1 as u64, 0, 0, 0, 0]),
        Step::Syscall(RT_SIGPROCMASK, [SIG_BLOCK as u64, 0, scratch, 8, 0, 0]),
        Step::Read(scratch, 8),
    ];
    let r = run(&tb, &mut t, steps, None);
    assert_eq!(r.status, ExitStatus::Exited(0));
    let m = u64::from_le_bytes(r.log.reads[0].clone().try_into().unwrap());
    assert_eq!(
        m,
        bit(SIGINT),
        "SA_NODEFER: the signal itself is not blocked"
    );
    assert_eq!(
        t.tg.sigactions.lock()[(SIGUSR1 - 1) as usize].handler,
        SIG_DFL
    );
    // The next SIGUSR1 takes the default action.
    *t.tg.exit_status.lock() = None;
    let r = run(
        &tb,
        &mut t,
        vec![Step::Syscall(KILL, [pid, SIGUSR1 as u64, 0, 0, 0, 0])],
        None,
    );
    assert_eq!(r.status, ExitStatus::Signaled(SIGUSR1));
}

#[test]
fn several_pending_signals_stack_frames() {
    let (tb, _init) = bed();
    let mut t = task(&tb);
    let pid = t.pid() as u64;
    set_action(&t, SIGUSR1, HANDLER, SA_RESTORER | SA_SIGINFO, 0);
    set_action(&t, SIGUSR2, HANDLER + 0x100, SA_RESTORER | SA_SIGINFO, 0);
    set_mask(&mut t, bit(SIGUSR1) | bit(SIGUSR2));
    let regs: Regs = Arc::default();
    let empty = map(&t, 0x1000);
    let steps = vec![
        Step::Syscall(KILL, [pid, SIGUSR2 as u64, 0, 0, 0, 0]),
        Step::Syscall(KILL, [pid, SIGUSR1 as u64, 0, 0, 0, 0]),
        Step::Syscall(RT_SIGPROCMASK, [SIG_SETMASK as u64, empty, 0, 8, 0, 0]),
        capture(&regs),
        ret(),
        Step::Syscall(RT_SIGRETURN, [0; 6]),
        capture(&regs),
    ];
    let r = run(&tb, &mut t, steps, None);
    assert_eq!(r.status, ExitStatus::Exited(0));
    let regs = regs.lock();
    // USR1 is dequeued first and its frame built first; USR2's frame is
    // on top of it, so USR2's handler runs first, then returns into
    // USR1's handler.
    assert_eq!(regs[0].regs.rip, HANDLER + 0x100);
    assert_eq!(regs[0].regs.rdi, SIGUSR2 as u64);
    assert_eq!(regs[1].regs.rip, HANDLER);
    assert_eq!(regs[1].regs.rdi, SIGUSR1 as u64);
}

// -------------------------------------------------------------------------
// Restart

/// A task with a fake child that never changes state, for wait4.
fn with_child(tb: &TestBed, t: &Task) -> Arc<ThreadGroup> {
    let pid = tb.kernel.alloc_pid();
    let c = Arc::new(ThreadGroup::new(pid, t.pid()));
    tb.kernel.register(&c);
    t.tg.children.lock().push(c.clone());
    c
}

/// Sends `sig` to `t`'s group from "another process" while the script
/// runs (the registry's wake handles interrupt the blocker).
fn send_later(tb: &TestBed, t: &Task, sig: i32) -> Step {
    let kernel = tb.kernel.clone();
    let tg = t.tg.clone();
    Step::Check(Box::new(move |_| {
        let i = Siginfo {
            signo: sig,
            code: SI_USER,
            ..Siginfo::default()
        };
        send(&kernel, &tg, Dest::Group, i, false, None).unwrap();
    }))
}

#[test]
fn erestartsys_restarts_with_sa_restart_and_fails_without() {
    for (flags, want) in [
        (SA_RESTORER | SA_RESTART, WAIT4),
        (SA_RESTORER, errno(Errno::EINTR)),
    ] {
        let (tb, _init) = bed();
        let mut t = task(&tb);
        let c = with_child(&tb, &t);
        set_action(&t, SIGUSR1, HANDLER, flags, 0);
        let regs: Regs = Arc::default();
        let steps = vec![
            send_later(&tb, &t, SIGUSR1),
            Step::Syscall(WAIT4, [c.pid as u64, 0, 0, 0, 0, 0]),
            ret(),
            Step::Syscall(RT_SIGRETURN, [0; 6]),
            capture(&regs),
        ];
        let r = run(&tb, &mut t, steps, None);
        assert_eq!(r.status, ExitStatus::Exited(0));
        // What the interrupted wait4 left in rax, and where rip points.
        let after = regs.lock()[0].regs;
        assert_eq!(after.rax, want, "flags {flags:#x}");
        let rewound = if want == WAIT4 { 0x40_0000 } else { 0x40_0002 };
        assert_eq!(after.rip, rewound);
    }
}

#[test]
fn no_handler_always_restarts() {
    let (tb, _init) = bed();
    let mut t = task(&tb);
    let c = with_child(&tb, &t);
    // A stale wake-up (no signal at all): the call restarts.
    t.blocker.interrupt();
    let r = run(
        &tb,
        &mut t,
        vec![Step::Syscall(WAIT4, [c.pid as u64, 0, 0, 0, 0, 0])],
        None,
    );
    assert_eq!(r.log.results[0], WAIT4, "rax = orig_rax, rip rewound");
    // ERESTARTNOHAND (pause) with an ignored signal: restart.
    let mut t = task(&tb);
    t.tg.sigactions.lock()[(SIGUSR1 - 1) as usize].handler = SIG_IGN;
    let steps = vec![send_later(&tb, &t, SIGUSR1), Step::Syscall(PAUSE, [0; 6])];
    let r = run(&tb, &mut t, steps, None);
    assert_eq!(r.log.results[0], PAUSE);
}

#[test]
fn nanosleep_restarts_through_restart_syscall() {
    let (tb, _init) = bed();
    let mut t = task(&tb);
    let buf = map(&t, 0x1000);
    let req = Timespec {
        tv_sec: 5,
        tv_nsec: 0,
    };
    t.mm.write_obj(UserAddr(buf), &req).unwrap();
    let rem = buf + 64;
    t.blocker.interrupt();
    let steps = vec![
        Step::Syscall(NANOSLEEP, [buf, rem, 0, 0, 0, 0]),
        Step::Syscall(RESTART_SYSCALL, [0; 6]),
        Step::Syscall(RESTART_SYSCALL, [0; 6]),
    ];
    let r = run(&tb, &mut t, steps, None);
    // No handler: restart_syscall is what the rewound rip executes.
    assert_eq!(r.log.results[0], RESTART_SYSCALL);
    let left: Timespec = t.mm.read_obj(UserAddr(rem)).unwrap();
    assert_eq!(left.tv_sec, 5);
    // restart_syscall sleeps to the original deadline.
    assert_eq!(r.log.results[1], 0);
    assert_eq!(tb.clock.now(), 5_000_000_000);
    // Nothing left to restart: EINTR.
    assert_eq!(r.log.results[2], errno(Errno::EINTR));

    // With a handler: EINTR and the time left.
    let mut t = task(&tb);
    let buf = map(&t, 0x1000);
    t.mm.write_obj(UserAddr(buf), &req).unwrap();
    set_action(&t, SIGALRM, HANDLER, SA_RESTORER | SA_RESTART, 0);
    let regs: Regs = Arc::default();
    let steps = vec![
        send_later(&tb, &t, SIGALRM),
        Step::Syscall(NANOSLEEP, [buf, buf + 64, 0, 0, 0, 0]),
        ret(),
        Step::Syscall(RT_SIGRETURN, [0; 6]),
        capture(&regs),
    ];
    run(&tb, &mut t, steps, None);
    assert_eq!(
        regs.lock()[0].regs.rax,
        errno(Errno::EINTR),
        "even with SA_RESTART"
    );
}

#[test]
fn sigsuspend_delivers_with_the_old_mask_saved() {
    let (tb, _init) = bed();
    let mut t = task(&tb);
    let pid = t.pid() as u64;
    let buf = map(&t, 0x1000);
    set_action(&t, SIGUSR1, HANDLER, SA_RESTORER, 0);
    let block = bit(SIGUSR1) | bit(SIGUSR2);
    t.mm.write_obj(UserAddr(buf), &block).unwrap();
    t.mm.write_obj(UserAddr(buf + 8), &bit(SIGUSR2)).unwrap();
    let regs: Regs = Arc::default();
    let steps = vec![
        Step::Syscall(RT_SIGPROCMASK, [SIG_BLOCK as u64, buf, 0, 8, 0, 0]),
        Step::Syscall(KILL, [pid, SIGUSR1 as u64, 0, 0, 0, 0]),
        Step::Syscall(RT_SIGPENDING, [buf + 16, 8, 0, 0, 0, 0]),
        Step::Read(buf + 16, 8),
        Step::Syscall(RT_SIGSUSPEND, [buf + 8, 8, 0, 0, 0, 0]),
        capture(&regs),
        Step::Syscall(RT_SIGPROCMASK, [SIG_BLOCK as u64, 0, buf + 24, 8, 0, 0]),
        Step::Read(buf + 24, 8),
        ret(),
        Step::Syscall(RT_SIGRETURN, [0; 6]),
        capture(&regs),
        Step::Syscall(RT_SIGPROCMASK, [SIG_BLOCK as u64, 0, buf + 32, 8, 0, 0]),
        Step::Read(buf + 32, 8),
    ];
    let r = run(&tb, &mut t, steps, None);
    let word = |i: usize| u64::from_le_bytes(r.log.reads[i].clone().try_into().unwrap());
    assert_eq!(word(0), bit(SIGUSR1), "rt_sigpending");
    assert_eq!(regs.lock()[0].regs.rip, HANDLER);
    assert_eq!(
        word(1),
        bit(SIGUSR1) | bit(SIGUSR2),
        "suspend mask + the signal"
    );
    assert_eq!(regs.lock()[1].regs.rax, errno(Errno::EINTR));
    assert_eq!(word(2), block, "the mask from before sigsuspend");
}

// -------------------------------------------------------------------------
// Waiting for signals, queueing with values

#[test]
fn sigqueueinfo_values_and_sigtimedwait_order() {
    let (tb, _init) = bed();
    let mut t = task(&tb);
    let pid = t.pid() as u64;
    let buf = map(&t, 0x2000);
    set_mask(&mut t, !0);
    for (sig, value) in [(40, 1u64), (SIGUSR2, 0), (35, 7), (40, 2)] {
        let mut i = info(sig, value);
        i.fields[0] = pid;
        t.mm.write_obj(UserAddr(buf), &i).unwrap();
        assert_eq!(
            sys(&mut t, RT_SIGQUEUEINFO, [pid, sig as u64, buf, 0, 0, 0]),
            Ok(0)
        );
    }
    let set = !0u64;
    t.mm.write_obj(UserAddr(buf + 0x800), &set).unwrap();
    let mut got = Vec::new();
    loop {
        match sys(
            &mut t,
            RT_SIGTIMEDWAIT,
            [buf + 0x800, buf + 0x900, 0, 8, 0, 0],
        ) {
            Ok(sig) => {
                let i: Siginfo = t.mm.read_obj(UserAddr(buf + 0x900)).unwrap();
                assert_eq!(i.signo as u64, sig);
                got.push((i.signo, i.code, i.fields[1]));
            }
            Err(e) => {
                // NULL timeout with nothing pending: the fake blocker
                // interrupts, the call asks to restart.
                assert_eq!(e, Errno::ERESTARTNOHAND);
                break;
            }
        }
    }
    assert_eq!(
        got,
        vec![
            (SIGUSR2, SI_QUEUE, 0),
            (35, SI_QUEUE, 7),
            (40, SI_QUEUE, 1),
            (40, SI_QUEUE, 2)
        ]
    );
    // A zero timeout with nothing pending: EAGAIN; a bad one: EINVAL.
    t.mm.write_obj(UserAddr(buf + 0xa00), &Timespec::default())
        .unwrap();
    let ts = buf + 0xa00;
    assert_eq!(
        sys(&mut t, RT_SIGTIMEDWAIT, [buf + 0x800, 0, ts, 8, 0, 0]),
        Err(Errno::EAGAIN)
    );
    t.mm.write_obj(
        UserAddr(ts),
        &Timespec {
            tv_sec: 0,
            tv_nsec: 2_000_000_000,
        },
    )
    .unwrap();
    assert_eq!(
        sys(&mut t, RT_SIGTIMEDWAIT, [buf + 0x800, 0, ts, 8, 0, 0]),
        Err(Errno::EINVAL)
    );
    // A real timeout passes (the fake clock jumps).
    t.mm.write_obj(
        UserAddr(ts),
        &Timespec {
            tv_sec: 1,
            tv_nsec: 0,
        },
    )
    .unwrap();
    assert_eq!(
        sys(&mut t, RT_SIGTIMEDWAIT, [buf + 0x800, 0, ts, 8, 0, 0]),
        Err(Errno::EAGAIN)
    );
    // Forging SI_USER / SI_TKILL for another process: EPERM.
    let other = task(&tb);
    let mut i = info(40, 0);
    i.code = SI_USER;
    t.mm.write_obj(UserAddr(buf), &i).unwrap();
    let op = other.pid() as u64;
    assert_eq!(
        sys(&mut t, RT_SIGQUEUEINFO, [op, 40, buf, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    i.code = SI_QUEUE;
    t.mm.write_obj(UserAddr(buf), &i).unwrap();
    assert_eq!(sys(&mut t, RT_SIGQUEUEINFO, [op, 40, buf, 0, 0, 0]), Ok(0));
    assert_eq!(
        sys(&mut t, RT_SIGQUEUEINFO, [op, 40, 1, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        sys(&mut t, RT_SIGQUEUEINFO, [op, 99, buf, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut t, RT_SIGQUEUEINFO, [0, 40, buf, 0, 0, 0]),
        Err(Errno::ESRCH)
    );
    assert_eq!(
        sys(&mut t, RT_TGSIGQUEUEINFO, [op, 0, 40, buf, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut t, RT_TGSIGQUEUEINFO, [op, op, 40, buf, 0, 0]),
        Ok(0)
    );
}

#[test]
fn rt_queue_is_bounded_by_rlimit_sigpending() {
    let (tb, _init) = bed();
    let mut t = task(&tb);
    let pid = t.pid() as u64;
    let buf = map(&t, 0x1000);
    t.tg.rlimits.lock()[RLIMIT_SIGPENDING as usize].cur = 2;
    set_mask(&mut t, !0);
    let mut i = info(40, 5);
    i.fields[0] = pid;
    t.mm.write_obj(UserAddr(buf), &i).unwrap();
    let q = |t: &mut Task| sys(t, RT_SIGQUEUEINFO, [pid, 40, buf, 0, 0, 0]);
    assert_eq!(q(&mut t), Ok(0));
    assert_eq!(q(&mut t), Ok(0));
    assert_eq!(q(&mut t), Err(Errno::EAGAIN));
    assert_eq!(
        sys(&mut t, TKILL, [pid, 41, 0, 0, 0, 0]),
        Err(Errno::EAGAIN)
    );
    // kill still sends, losing the siginfo; standard signals always queue.
    assert_eq!(sys(&mut t, KILL, [pid, 42, 0, 0, 0, 0]), Ok(0));
    assert_eq!(sys(&mut t, KILL, [pid, SIGUSR1 as u64, 0, 0, 0, 0]), Ok(0));
    assert_eq!(t.tg.signals.lock().queued(), 3);
    let lost = dequeue(&t, !bit(42)).unwrap();
    assert_eq!((lost.code, lost.fields[0]), (SI_USER, 0));
}

// -------------------------------------------------------------------------
// Sending: permissions and errors

#[test]
fn kill_errors_and_permissions() {
    let (tb, init) = bed();
    let mut root = task(&tb);
    let mut user = task_as(&tb, Credentials::new(1000, 1000, Vec::new()));
    let other = task_as(&tb, Credentials::new(2000, 2000, Vec::new()));
    let (rp, up, op) = (root.pid() as u64, user.pid() as u64, other.pid() as u64);
    // Existence checks and permission.
    assert_eq!(sys(&mut user, KILL, [rp, 0, 0, 0, 0, 0]), Err(Errno::EPERM));
    assert_eq!(
        sys(&mut user, KILL, [op, SIGTERM as u64, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    assert_eq!(sys(&mut root, KILL, [up, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(sys(&mut user, KILL, [up, 0, 0, 0, 0, 0]), Ok(0));
    // SIGCONT within the session is allowed.
    *other.tg.sid.lock() = *user.tg.sid.lock();
    assert_eq!(
        sys(&mut user, KILL, [op, SIGCONT as u64, 0, 0, 0, 0]),
        Ok(0)
    );
    // Bad signal numbers, missing processes.
    assert_eq!(
        sys(&mut root, KILL, [up, 65, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut root, KILL, [up, (-1i64) as u64, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut root, KILL, [99_999, SIGTERM as u64, 0, 0, 0, 0]),
        Err(Errno::ESRCH)
    );
    assert_eq!(
        sys(&mut root, KILL, [99_999, 65, 0, 0, 0, 0]),
        Err(Errno::ESRCH)
    );
    assert_eq!(
        sys(&mut root, KILL, [i32::MIN as u32 as u64, 0, 0, 0, 0, 0]),
        Err(Errno::ESRCH)
    );
    assert_eq!(
        sys(&mut root, KILL, [(-99_999i64) as u64, 0, 0, 0, 0, 0]),
        Err(Errno::ESRCH)
    );
    // Process groups: 0 is ours, -pgid another.
    assert_eq!(sys(&mut root, KILL, [0, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(
        sys(&mut root, KILL, [(-(up as i64)) as u64, 0, 0, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(
        sys(&mut user, KILL, [(-(rp as i64)) as u64, 0, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    // -1: everyone but init and the caller; EPERM alone is not an error.
    assert_eq!(
        sys(
            &mut user,
            KILL,
            [(-1i64) as u64, SIGUSR1 as u64, 0, 0, 0, 0]
        ),
        Ok(0)
    );
    assert_eq!(
        sys(&mut user, KILL, [(-1i64) as u64, 65, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        init.tg.signals.lock().shared.pending(),
        0,
        "init left alone"
    );
    assert_eq!(other.tg.signals.lock().shared.pending(), 0, "no permission");
    assert_eq!(root.tg.signals.lock().shared.pending(), 0, "no permission");
    // tkill / tgkill.
    assert_eq!(
        sys(&mut root, TKILL, [0, SIGUSR1 as u64, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut root, TGKILL, [up, 0, SIGUSR1 as u64, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut root, TGKILL, [rp, up, SIGUSR1 as u64, 0, 0, 0]),
        Err(Errno::ESRCH)
    );
    assert_eq!(
        sys(&mut root, TGKILL, [up, up, 65, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut root, TGKILL, [up, 99_999, SIGUSR1 as u64, 0, 0, 0]),
        Err(Errno::ESRCH)
    );
    assert_eq!(
        sys(&mut root, TGKILL, [up, up, SIGUSR2 as u64, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(
        sys(&mut user, TKILL, [op, SIGUSR2 as u64, 0, 0, 0, 0]),
        Err(Errno::EPERM)
    );
    let g = user.tg.signals.lock();
    assert_eq!(
        g.find(user.tid).unwrap().pending.pending(),
        bit(SIGUSR2),
        "tkill is per thread"
    );
    drop(g);
    let i = dequeue(&user, 0).unwrap();
    assert_eq!((i.signo, i.code, i.fields[0]), (SIGUSR2, SI_TKILL, rp));
    // Absurd arguments never panic.
    for a in [
        [u64::MAX; 6],
        [0, u64::MAX, 0, 0, 0, 0],
        [i64::MIN as u64, 1, 0, 0, 0, 0],
    ] {
        for nr in [
            KILL,
            TKILL,
            TGKILL,
            RT_SIGQUEUEINFO,
            RT_TGSIGQUEUEINFO,
            RT_SIGACTION,
            RT_SIGPROCMASK,
        ] {
            let _ = sys(&mut root, nr, a);
        }
    }
}

#[test]
fn ignored_signals_are_dropped_and_flushed() {
    let (tb, _init) = bed();
    let mut t = task(&tb);
    let pid = t.pid() as u64;
    // Default-ignored and unblocked: dropped at once.
    assert_eq!(sys(&mut t, KILL, [pid, SIGCHLD as u64, 0, 0, 0, 0]), Ok(0));
    assert_eq!(t.tg.signals.lock().shared.pending(), 0);
    // Blocked: kept (the handler may change before it is unblocked).
    set_mask(&mut t, bit(SIGCHLD) | bit(SIGUSR1));
    sys(&mut t, KILL, [pid, SIGCHLD as u64, 0, 0, 0, 0]).unwrap();
    sys(&mut t, KILL, [pid, SIGUSR1 as u64, 0, 0, 0, 0]).unwrap();
    assert_eq!(
        t.tg.signals.lock().shared.pending(),
        bit(SIGCHLD) | bit(SIGUSR1)
    );
    // Setting SIG_IGN discards the pending one.
    let buf = map(&t, 0x1000);
    let act = KernelSigaction {
        handler: SIG_IGN,
        flags: SA_RESTORER | 0x400 | (1 << 40),
        restorer: RESTORER,
        mask: !0,
    };
    t.mm.write_obj(UserAddr(buf), &act).unwrap();
    sys(&mut t, RT_SIGACTION, [SIGUSR1 as u64, buf, 0, 8, 0, 0]).unwrap();
    assert_eq!(t.tg.signals.lock().shared.pending(), bit(SIGCHLD));
    // Unknown flag bits and SIGKILL/SIGSTOP in the mask are dropped.
    sys(&mut t, RT_SIGACTION, [SIGUSR1 as u64, 0, buf + 64, 8, 0, 0]).unwrap();
    let old: KernelSigaction = t.mm.read_obj(UserAddr(buf + 64)).unwrap();
    assert_eq!(old.flags, SA_RESTORER);
    assert_eq!(old.mask, !UNBLOCKABLE);
    assert_eq!(
        sys(&mut t, RT_SIGACTION, [SIGKILL as u64, buf, 0, 8, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut t, RT_SIGACTION, [SIGKILL as u64, 0, buf + 64, 8, 0, 0]),
        Ok(0)
    );
    assert_eq!(
        sys(&mut t, RT_SIGACTION, [0, 0, buf + 64, 8, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut t, RT_SIGACTION, [SIGUSR1 as u64, 1, 0, 8, 0, 0]),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        sys(&mut t, RT_SIGACTION, [SIGUSR1 as u64, 0, 0, 4, 0, 0]),
        Err(Errno::EINVAL)
    );
}

#[test]
fn init_ignores_default_signals_from_inside() {
    let (tb, mut init) = bed();
    let mut t = task(&tb);
    assert_eq!(sys(&mut t, KILL, [1, SIGKILL as u64, 0, 0, 0, 0]), Ok(0));
    assert_eq!(sys(&mut t, KILL, [1, SIGTERM as u64, 0, 0, 0, 0]), Ok(0));
    assert_eq!(init.tg.signals.lock().shared.pending(), 0);
    // A handled signal gets through.
    set_action(&init, SIGTERM, HANDLER, SA_RESTORER, 0);
    init.cpu.regs.rsp = map(&init, STACK_LEN) + STACK_LEN - 64;
    sys(&mut t, KILL, [1, SIGTERM as u64, 0, 0, 0, 0]).unwrap();
    assert_eq!(init.tg.signals.lock().shared.pending(), bit(SIGTERM));
    let mut ctx = tb.platform.context(Vec::new());
    assert!(before_switch(&mut init, &mut ctx));
    assert_eq!(init.cpu.regs.rip, HANDLER);
    // From outside the sandbox, SIGKILL works.
    kill_from_host(&tb.kernel, 1, SIGKILL).unwrap();
    assert!(!before_switch(&mut init, &mut ctx));
    assert_eq!(
        *init.tg.exit_status.lock(),
        Some(ExitStatus::Signaled(SIGKILL))
    );
    assert_eq!(
        kill_from_host(&tb.kernel, 77_777, SIGKILL),
        Err(Errno::ESRCH)
    );
    assert_eq!(kill_from_host(&tb.kernel, 1, 0), Err(Errno::EINVAL));
    // init gone: everyone else gets SIGKILL.
    let mut other = task(&tb);
    kill_all(&tb.kernel, 1);
    assert!(!before_switch(&mut other, &mut ctx));
    assert_eq!(
        *other.tg.exit_status.lock(),
        Some(ExitStatus::Signaled(SIGKILL))
    );
}

// -------------------------------------------------------------------------
// Faults

#[test]
fn faults_reach_a_handler_with_si_addr() {
    let (tb, _init) = bed();
    let mut t = task(&tb);
    set_action(&t, SIGSEGV, HANDLER, SA_RESTORER | SA_SIGINFO, 0);
    page_fault(&mut t, 0xdead_b000, Access::Write, Errno::EACCES);
    let mut ctx = tb.platform.context(Vec::new());
    assert!(before_switch(&mut t, &mut ctx));
    let f = t.cpu.regs.rsp;
    assert_eq!(t.cpu.regs.rip, HANDLER);
    assert_eq!(read_u32(&t, f + 312) as i32, SIGSEGV);
    assert_eq!(read_u32(&t, f + 320) as i32, SEGV_ACCERR);
    assert_eq!(read_u64(&t, f + 328), 0xdead_b000, "si_addr");
    let mc = f + 48;
    assert_eq!(read_u64(&t, mc + 160), 14, "trapno: page fault");
    assert_eq!(
        read_u64(&t, mc + 152),
        4 | 2 | 1,
        "err: user, write, protection"
    );
    assert_eq!(read_u64(&t, mc + 176), 0xdead_b000, "cr2");
    assert_eq!(t.sigmask, bit(SIGSEGV));

    // The same fault again, now blocked inside the handler: the default
    // action kills, as Linux's force_sig_fault.
    page_fault(&mut t, 0x10, Access::Read, Errno::EFAULT);
    assert!(!before_switch(&mut t, &mut ctx));
    assert_eq!(
        *t.tg.exit_status.lock(),
        Some(ExitStatus::Signaled(SIGSEGV))
    );
}

#[test]
fn ignored_fault_signals_still_kill_even_init() {
    let (tb, mut init) = bed();
    init.tg.sigactions.lock()[(SIGFPE - 1) as usize].handler = SIG_IGN;
    exception(&mut init, SIGFPE, 1, 0x40_0000);
    let mut ctx = tb.platform.context(Vec::new());
    assert!(!before_switch(&mut init, &mut ctx));
    assert_eq!(
        *init.tg.exit_status.lock(),
        Some(ExitStatus::Signaled(SIGFPE))
    );
    // An unresolvable fault through the run loop, no handler: SIGSEGV.
    let mut t = task(&tb);
    let r = run(&tb, &mut t, vec![Step::Read(0x1000, 8)], None);
    assert_eq!(r.status, ExitStatus::Signaled(SIGSEGV));
}

#[test]
fn a_broken_stack_turns_the_signal_into_sigsegv() {
    let (tb, _init) = bed();
    let mut t = task(&tb);
    let pid = t.pid() as u64;
    set_action(&t, SIGUSR1, HANDLER, SA_RESTORER, 0);
    t.cpu.regs.rsp = 0x2000;
    let r = run(
        &tb,
        &mut t,
        vec![Step::Syscall(KILL, [pid, SIGUSR1 as u64, 0, 0, 0, 0])],
        None,
    );
    assert_eq!(r.status, ExitStatus::Signaled(SIGSEGV));
}

// -------------------------------------------------------------------------
// sigaltstack

#[test]
fn sigaltstack_calls_and_frames() {
    let (tb, _init) = bed();
    let mut t = task(&tb);
    let pid = t.pid() as u64;
    let alt = map(&t, 0x4000);
    let buf = map(&t, 0x1000);
    let ss = |sp: u64, flags: i32, size: u64| SigaltStack {
        sp,
        flags,
        pad: 0,
        size,
    };
    let set = |t: &mut Task, s: SigaltStack| {
        t.mm.write_obj(UserAddr(buf), &s).unwrap();
        sys(t, SIGALTSTACK, [buf, buf + 64, 0, 0, 0, 0])
    };
    // Initially none.
    sys(&mut t, SIGALTSTACK, [0, buf + 64, 0, 0, 0, 0]).unwrap();
    let old: SigaltStack = t.mm.read_obj(UserAddr(buf + 64)).unwrap();
    assert_eq!((old.sp, old.flags, old.size), (0, SS_DISABLE, 0));
    assert_eq!(set(&mut t, ss(alt, 0, 1024)), Err(Errno::ENOMEM));
    assert_eq!(set(&mut t, ss(alt, 4, 0x4000)), Err(Errno::EINVAL));
    assert_eq!(
        sys(&mut t, SIGALTSTACK, [1, 0, 0, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    assert_eq!(set(&mut t, ss(alt, SS_AUTODISARM, 0x4000)), Ok(0));
    sys(&mut t, SIGALTSTACK, [0, buf + 64, 0, 0, 0, 0]).unwrap();
    let old: SigaltStack = t.mm.read_obj(UserAddr(buf + 64)).unwrap();
    assert_eq!((old.sp, old.flags, old.size), (alt, SS_AUTODISARM, 0x4000));

    // A handler with SA_ONSTACK runs on it; SS_AUTODISARM disarms it
    // while the handler runs; sigreturn re-arms it from uc_stack.
    set_action(&t, SIGUSR1, HANDLER, SA_RESTORER | SA_ONSTACK, 0);
    let mut ctx = tb.platform.context(Vec::new());
    ctx.set_fp_state(&fp_image()).unwrap();
    sys(&mut t, KILL, [pid, SIGUSR1 as u64, 0, 0, 0, 0]).unwrap();
    let rsp0 = t.cpu.regs.rsp;
    assert!(before_switch(&mut t, &mut ctx));
    let f = t.cpu.regs.rsp;
    let (want, _) = expected_frame(alt + 0x4000 + 128, 1024);
    assert_eq!(f, want, "the frame tops the alternate stack");
    assert_eq!(read_u64(&t, f + 24), alt, "uc_stack.ss_sp");
    assert_eq!(
        read_u32(&t, f + 32) as i32,
        SS_AUTODISARM,
        "uc_stack.ss_flags"
    );
    assert_eq!(read_u64(&t, f + 40), 0x4000, "uc_stack.ss_size");
    assert_eq!(t.signals.altstack.size, 0, "disarmed in the handler");
    t.cpu.regs.rsp = f + 8;
    sys_sigreturn(&mut t);
    assert_eq!(t.cpu.regs.rsp, rsp0);
    assert_eq!(
        t.signals.altstack,
        AltStack {
            sp: alt,
            size: 0x4000,
            flags: SS_AUTODISARM
        }
    );

    // Without SS_AUTODISARM: changing it from on the stack is EPERM, and
    // a nested signal stays on it, below the running frame.
    assert_eq!(set(&mut t, ss(alt, 0, 0x4000)), Ok(0));
    sys(&mut t, KILL, [pid, SIGUSR1 as u64, 0, 0, 0, 0]).unwrap();
    assert!(before_switch(&mut t, &mut ctx));
    let f1 = t.cpu.regs.rsp;
    assert!(f1 > alt && f1 < alt + 0x4000);
    assert_eq!(set(&mut t, ss(0, SS_DISABLE, 0)), Err(Errno::EPERM));
    sys(&mut t, SIGALTSTACK, [0, buf + 64, 0, 0, 0, 0]).unwrap();
    let old: SigaltStack = t.mm.read_obj(UserAddr(buf + 64)).unwrap();
    assert_eq!(old.flags, SS_ONSTACK);
    set_action(&t, SIGUSR2, HANDLER, SA_RESTORER | SA_ONSTACK, 0);
    sys(&mut t, KILL, [pid, SIGUSR2 as u64, 0, 0, 0, 0]).unwrap();
    assert!(before_switch(&mut t, &mut ctx));
    let f2 = t.cpu.regs.rsp;
    assert!(f2 > alt && f2 < f1 - 128);

    // An alternate stack too small for the frame: SIGSEGV.
    let mut t = task(&tb);
    let pid = t.pid() as u64;
    let alt = map(&t, 0x1000);
    t.signals.altstack = AltStack {
        sp: alt,
        size: 2048,
        flags: 0,
    };
    set_action(&t, SIGUSR1, HANDLER, SA_RESTORER | SA_ONSTACK, 0);
    let mut ctx = tb.platform.context(Vec::new());
    ctx.set_fp_state(&vec![0u8; 4096]).unwrap();
    sys(&mut t, KILL, [pid, SIGUSR1 as u64, 0, 0, 0, 0]).unwrap();
    assert!(!before_switch(&mut t, &mut ctx));
    assert_eq!(
        *t.tg.exit_status.lock(),
        Some(ExitStatus::Signaled(SIGSEGV))
    );
}

#[test]
fn frame_placement_is_aligned_for_any_rsp() {
    let alt = AltStack::default();
    for rsp in (0x7fff_0000u64..0x7fff_0000 + 64).chain([0x1000, 0x200, 8]) {
        for math in [512u64, 516, 1028, 2696, 8196] {
            if let Some((frame, fp)) = frame::place(&alt, rsp, false, math) {
                assert_eq!((frame + 8) % 16, 0);
                assert_eq!(fp % 64, 0);
                if rsp > 0x10000 {
                    assert!(fp + math <= rsp - 128 && frame + 440 <= fp);
                }
            }
        }
    }
    // Wrapping around zero never panics.
    let _ = frame::place(
        &AltStack {
            sp: u64::MAX - 10,
            size: u64::MAX,
            flags: 0,
        },
        0,
        true,
        1028,
    );
}

// -------------------------------------------------------------------------
// Job control and the parent

/// A parent and a child process (registered, linked), the parent with a
/// SIGCHLD handler so that its SIGCHLD is kept.
fn family(tb: &TestBed) -> (Task, Task) {
    let parent = task(tb);
    let mut child = task(tb);
    *child.tg.ppid.lock() = parent.pid();
    parent.tg.children.lock().push(child.tg.clone());
    child.cpu.regs.rip = 0x40_0000;
    set_action(&parent, SIGCHLD, HANDLER, SA_RESTORER | SA_SIGINFO, 0);
    (parent, child)
}

fn chld(parent: &Task) -> Option<(i32, i32, u64, u64)> {
    let i = dequeue(parent, !bit(SIGCHLD))?;
    Some((
        i.signo,
        i.code,
        i.fields[0] & 0xffff_ffff,
        i.fields[1] & 0xffff_ffff,
    ))
}

#[test]
fn stop_and_continue_reach_the_parent_and_wait4() {
    let (tb, _init) = bed();
    let (mut parent, mut child) = family(&tb);
    let cp = child.pid() as u64;
    let buf = map(&parent, 0x1000);
    let mut ctx = tb.platform.context(Vec::new());
    // A child sleeping in a call: SIGSTOP stops it.
    sys(&mut parent, KILL, [cp, SIGSTOP as u64, 0, 0, 0, 0]).unwrap();
    assert!(!before_switch(&mut child, &mut ctx), "stopped: no switch");
    assert!(child.tg.signals.lock().job.stopped);
    assert_eq!(
        chld(&parent),
        Some((SIGCHLD, CLD_STOPPED, cp, SIGSTOP as u64))
    );
    // wait4(WUNTRACED) reports it once.
    let opts = (WNOHANG | WUNTRACED) as u64;
    assert_eq!(sys(&mut parent, WAIT4, [cp, buf, opts, 0, 0, 0]), Ok(cp));
    assert_eq!(read_u32(&parent, buf), 0x137f);
    assert_eq!(sys(&mut parent, WAIT4, [cp, buf, opts, 0, 0, 0]), Ok(0));
    // Still stopped: a second pass through the loop sleeps again.
    assert!(!before_switch(&mut child, &mut ctx));
    // SIGCONT, even ignored, resumes it.
    child.tg.sigactions.lock()[(SIGCONT - 1) as usize].handler = SIG_IGN;
    sys(&mut parent, KILL, [cp, SIGCONT as u64, 0, 0, 0, 0]).unwrap();
    assert!(before_switch(&mut child, &mut ctx));
    assert_eq!(
        chld(&parent),
        Some((SIGCHLD, CLD_CONTINUED, cp, SIGCONT as u64))
    );
    let opts = (WNOHANG | WCONTINUED) as u64;
    assert_eq!(sys(&mut parent, WAIT4, [cp, buf, opts, 0, 0, 0]), Ok(cp));
    assert_eq!(read_u32(&parent, buf), 0xffff);
    // waitid with WNOWAIT keeps a report.
    sys(&mut parent, KILL, [cp, SIGTSTP as u64, 0, 0, 0, 0]).unwrap();
    *child.tg.pgid.lock() = 4242;
    *parent.tg.pgid.lock() = 4343;
    *child.tg.sid.lock() = *parent.tg.sid.lock();
    assert!(
        !before_switch(&mut child, &mut ctx),
        "SIGTSTP stops a non-orphaned group"
    );
    let wid = (WNOHANG | WUNTRACED | WNOWAIT) as u64;
    for _ in 0..2 {
        assert_eq!(sys(&mut parent, WAITID, [1, cp, buf, wid, 0, 0]), Ok(0));
        let i: Siginfo = parent.mm.read_obj(UserAddr(buf)).unwrap();
        assert_eq!(
            (i.signo, i.code, i.fields[1] as i32),
            (SIGCHLD, CLD_STOPPED, SIGTSTP)
        );
    }
    // SIGKILL ends a stopped group.
    sys(&mut parent, KILL, [cp, SIGKILL as u64, 0, 0, 0, 0]).unwrap();
    assert!(!before_switch(&mut child, &mut ctx));
    assert_eq!(
        *child.tg.exit_status.lock(),
        Some(ExitStatus::Signaled(SIGKILL))
    );
}

#[test]
fn sa_nocldstop_orphaned_groups_and_stop_continue_discarding() {
    let (tb, _init) = bed();
    let (mut parent, mut child) = family(&tb);
    let cp = child.pid() as u64;
    let mut ctx = tb.platform.context(Vec::new());
    set_action(&parent, SIGCHLD, HANDLER, SA_RESTORER | SA_NOCLDSTOP, 0);
    // The child's process group has no member whose parent is in another
    // group of the same session: orphaned, so SIGTSTP is discarded;
    // SIGSTOP is not.
    sys(&mut parent, KILL, [cp, SIGTSTP as u64, 0, 0, 0, 0]).unwrap();
    assert!(before_switch(&mut child, &mut ctx));
    assert!(!child.tg.signals.lock().job.stopped);
    sys(&mut parent, KILL, [cp, SIGSTOP as u64, 0, 0, 0, 0]).unwrap();
    assert!(!before_switch(&mut child, &mut ctx));
    assert_eq!(chld(&parent), None, "SA_NOCLDSTOP");
    sys(&mut parent, KILL, [cp, SIGCONT as u64, 0, 0, 0, 0]).unwrap();
    assert!(before_switch(&mut child, &mut ctx));
    assert_eq!(chld(&parent), None, "SA_NOCLDSTOP covers continues too");
    // A stop signal discards a pending SIGCONT, SIGCONT pending stops.
    set_mask(&mut child, bit(SIGCONT) | bit(SIGTSTP));
    sys(&mut parent, KILL, [cp, SIGCONT as u64, 0, 0, 0, 0]).unwrap();
    assert_eq!(child.tg.signals.lock().shared.pending(), bit(SIGCONT));
    sys(&mut parent, KILL, [cp, SIGTSTP as u64, 0, 0, 0, 0]).unwrap();
    assert_eq!(child.tg.signals.lock().shared.pending(), bit(SIGTSTP));
    sys(&mut parent, KILL, [cp, SIGCONT as u64, 0, 0, 0, 0]).unwrap();
    assert_eq!(child.tg.signals.lock().shared.pending(), bit(SIGCONT));
}

#[test]
fn exit_sends_sigchld_and_honours_sig_ign() {
    let (tb, _init) = bed();
    let (parent, mut child) = family(&tb);
    let cp = child.pid() as u64;
    child.exit_group(ExitStatus::Exited(3));
    tb.kernel.exit_task(&mut child);
    assert_eq!(chld(&parent), Some((SIGCHLD, CLD_EXITED, cp, 3)));
    assert_eq!(
        parent.tg.children.lock().len(),
        1,
        "a zombie until waited for"
    );

    let (parent, mut child) = family(&tb);
    let cp = child.pid() as u64;
    child.exit_group(ExitStatus::Signaled(SIGTERM));
    tb.kernel.exit_task(&mut child);
    assert_eq!(
        chld(&parent),
        Some((SIGCHLD, CLD_KILLED, cp, SIGTERM as u64))
    );

    // SIGCHLD ignored: no signal, reaped at once.
    let (mut parent, mut child) = family(&tb);
    parent.tg.sigactions.lock()[(SIGCHLD - 1) as usize].handler = SIG_IGN;
    child.exit_group(ExitStatus::Exited(0));
    tb.kernel.exit_task(&mut child);
    assert_eq!(chld(&parent), None);
    assert!(parent.tg.children.lock().is_empty());
    assert!(tb.kernel.thread_group(child.pid()).is_none());
    assert_eq!(
        sys(&mut parent, WAIT4, [(-1i64) as u64, 0, 0, 0, 0, 0]),
        Err(Errno::ECHILD)
    );

    // SA_NOCLDWAIT with a handler: the signal comes, the zombie does not.
    let (parent, mut child) = family(&tb);
    set_action(&parent, SIGCHLD, HANDLER, SA_RESTORER | SA_NOCLDWAIT, 0);
    child.exit_group(ExitStatus::Exited(1));
    tb.kernel.exit_task(&mut child);
    assert!(chld(&parent).is_some());
    assert!(parent.tg.children.lock().is_empty());

    // A different exit signal (clone's low byte).
    let (parent, mut child) = family(&tb);
    child.tg.signals.set_exit_signal(SIGUSR1);
    child.exit_group(ExitStatus::Exited(0));
    tb.kernel.exit_task(&mut child);
    assert_eq!(
        dequeue(&parent, 0).map(|i| (i.signo, i.code)),
        Some((SIGUSR1, CLD_EXITED))
    );
}

#[test]
fn senders_wake_a_blocked_target() {
    let (tb, _init) = bed();
    let mut t = task(&tb);
    let mut other = task(&tb);
    let pid = t.pid() as u64;
    // A blocked signal wakes nobody.
    set_mask(&mut t, bit(SIGUSR1));
    sys(&mut other, KILL, [pid, SIGUSR1 as u64, 0, 0, 0, 0]).unwrap();
    assert_eq!(t.blocker.block(Some(0)), crate::host::WakeReason::TimedOut);
    // An unblocked one interrupts the target's blocker.
    sys(&mut other, KILL, [pid, SIGUSR2 as u64, 0, 0, 0, 0]).unwrap();
    assert_eq!(t.blocker.block(None), crate::host::WakeReason::Interrupted);
    // Delivery drains the wake-ups it made pointless.
    set_action(&t, SIGUSR2, HANDLER, SA_RESTORER, 0);
    set_action(&t, SIGTERM, HANDLER, SA_RESTORER, 0);
    sys(&mut other, KILL, [pid, SIGTERM as u64, 0, 0, 0, 0]).unwrap();
    let mut ctx = tb.platform.context(Vec::new());
    assert!(before_switch(&mut t, &mut ctx));
    assert_eq!(t.blocker.block(Some(0)), crate::host::WakeReason::TimedOut);
}

#[test]
fn sigpending_reports_blocked_pending_only() {
    let (tb, _init) = bed();
    let mut t = task(&tb);
    let pid = t.pid() as u64;
    let buf = map(&t, 0x1000);
    set_mask(&mut t, bit(SIGUSR1) | bit(SIGHUP));
    sys(&mut t, KILL, [pid, SIGUSR1 as u64, 0, 0, 0, 0]).unwrap();
    sys(&mut t, TKILL, [pid, SIGHUP as u64, 0, 0, 0, 0]).unwrap();
    assert_eq!(sys(&mut t, RT_SIGPENDING, [buf, 8, 0, 0, 0, 0]), Ok(0));
    assert_eq!(read_u64(&t, buf), bit(SIGUSR1) | bit(SIGHUP));
    assert_eq!(
        sys(&mut t, RT_SIGPENDING, [buf, 9, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(&mut t, RT_SIGPENDING, [1, 8, 0, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    // sigprocmask: bad how is EINVAL only with a set; SIGKILL never
    // blocked; EFAULT after the mask changed.
    t.mm.write_obj(UserAddr(buf), &(bit(SIGKILL) | bit(SIGTERM)))
        .unwrap();
    assert_eq!(
        sys(&mut t, RT_SIGPROCMASK, [7, buf, 0, 8, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(sys(&mut t, RT_SIGPROCMASK, [7, 0, 0, 8, 0, 0]), Ok(0));
    assert_eq!(
        sys(
            &mut t,
            RT_SIGPROCMASK,
            [SIG_SETMASK as u64, buf, 1, 8, 0, 0]
        ),
        Err(Errno::EFAULT)
    );
    assert_eq!(t.sigmask, bit(SIGTERM));
}
