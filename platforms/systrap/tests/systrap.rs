//! The systrap platform against real machine code in real stubs: the
//! shared conformance suite (`veil_host::conformance`), and what only
//! systrap has.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use veil_core::platform::{
    Access, AddressSpace, Context, CpuState, MemoryFile, Platform, PlatformError, Prot, Trap,
};
use veil_core::{FileOffset, UserAddr};
use veil_host::HostMemoryFile;
use veil_platform_systrap::{SpaceOp, SystrapOptions, SystrapPlatform};

veil_host::conformance_suite!(Systrap);

#[test]
fn the_stub_holds_only_its_region_and_two_descriptors() {
    let mut vm = Vm::new();
    let pid = vm.stub_pid();
    let r = vm.platform.stub_address();
    let check = |maps: &str, app: usize| {
        let lines: Vec<&str> = maps.lines().collect();
        assert_eq!(lines.len(), 4 + app, "{maps}");
        for l in &lines {
            let start = u64::from_str_radix(l.split('-').next().unwrap(), 16).unwrap();
            let app_mapping = l.contains("veil-memory");
            assert!(
                start >= r || l.contains("[vsyscall]") || app_mapping,
                "foreign mapping in the stub: {l}\n{maps}"
            );
        }
        let code = lines
            .iter()
            .find(|l| l.starts_with(&format!("{r:x}-")))
            .unwrap();
        assert!(code.contains("r-xp"), "{maps}");
        let ctl = format!("{:x}-", r + 0x1000);
        let ctl = lines.iter().find(|l| l.starts_with(&ctl)).unwrap();
        assert!(
            ctl.contains("r--s") && ctl.contains("veil-systrap"),
            "{maps}"
        );
    };
    check(&maps(pid), 0);
    vm.load(&concat(&[&mov_eax(39), &SYSCALL]));
    assert_eq!(vm.run(), Trap::Syscall);
    check(&maps(pid), 1);
    // The memory file and the executor's eventfd, nothing else.
    let targets: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| {
            std::fs::read_link(e.unwrap().path())
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(targets.len(), 2, "{targets:?}");
    assert!(targets.iter().any(|t| t.contains("eventfd")), "{targets:?}");
    assert!(
        targets.iter().any(|t| t.contains("veil-memory")),
        "{targets:?}"
    );
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    assert!(
        limits
            .lines()
            .any(|l| l.starts_with("Max core file size") && l.contains(" 0 ")),
        "{limits}"
    );
    // The executor blocks every signal; the application thread none.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("Seccomp:\t2"), "{status}");
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    // (SIGKILL and SIGSTOP cannot be blocked.)
    assert!(status.contains("SigBlk:\tfffffffffffbfeff"), "{status}");
    // (While it waits in the handler, everything is blocked; while it
    // runs application code, nothing.)
    let tid = vm.ctx.stub_tid().unwrap();
    let path = format!("/proc/{pid}/task/{tid}/status");
    let status = std::fs::read_to_string(&path).unwrap();
    assert!(status.contains("SigBlk:\tfffffffffffbfeff"), "{status}");
    vm.load(&JMP_SELF);
    let irq = vm.ctx.interrupter();
    let reader = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        let s = std::fs::read_to_string(&path).unwrap();
        irq.interrupt();
        s
    });
    assert_eq!(vm.run(), Trap::Interrupted);
    let status = reader.join().unwrap();
    assert!(status.contains("SigBlk:\t0000000000000000"), "{status}");
    let filters = |s: &str| -> u32 {
        s.lines()
            .find_map(|l| l.strip_prefix("Seccomp_filters:\t"))
            .map_or(0, |v| v.trim().parse().unwrap())
    };
    let exec_filters = filters(&std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap());
    assert_eq!(filters(&status), exec_filters + 1, "{status}");
    // The handler is the same for every signal, on the alternate stack.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).unwrap();
    assert!(!stat.is_empty());
}

#[test]
fn a_space_outlives_the_thread_that_made_it() {
    let mf = Arc::new(HostMemoryFile::with_reserve(1 << 20).unwrap());
    let p = Arc::new(SystrapPlatform::with_memory_file(mf.clone(), Default::default()).unwrap());
    let p2 = p.clone();
    let space = std::thread::spawn(move || p2.new_systrap_address_space().unwrap())
        .join()
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert!(process_exists(space.stub_pid()));
    mf.grow(PAGE).unwrap();
    mf.write(FileOffset(0), &concat(&[&mov_eax(39), &SYSCALL]))
        .unwrap();
    space
        .map(UserAddr(CODE), PAGE, FileOffset(0), Prot::READ | Prot::EXEC)
        .unwrap();
    let dynspace: Arc<dyn AddressSpace> = space.clone();
    let mut ctx = p.new_systrap_context();
    let mut cpu = CpuState::default();
    cpu.regs.rip = CODE;
    assert_eq!(ctx.switch(&dynspace, &mut cpu), Ok(Trap::Syscall));
    // ... and the context moves between threads too.
    let t = std::thread::spawn(move || {
        cpu.regs.rip = CODE;
        let r = ctx.switch(&dynspace, &mut cpu);
        (r, ctx, dynspace)
    });
    let (r, _ctx, _dynspace) = t.join().unwrap();
    assert_eq!(r, Ok(Trap::Syscall));
}

#[test]
fn batched_operations() {
    let mut vm = Vm::new();
    let a = vm.alloc(&7u64.to_le_bytes(), 1);
    let b = vm.alloc(&8u64.to_le_bytes(), 1);
    let rw = Prot::READ | Prot::WRITE;
    vm.space
        .apply(&[
            SpaceOp::Map {
                addr: UserAddr(0x1000_0000),
                len: PAGE,
                off: a,
                prot: rw,
            },
            SpaceOp::Map {
                addr: UserAddr(0x1000_1000),
                len: PAGE,
                off: b,
                prot: rw,
            },
            SpaceOp::Protect {
                addr: UserAddr(0x1000_0000),
                len: 2 * PAGE,
                prot: Prot::READ,
            },
            SpaceOp::Unmap {
                addr: UserAddr(0x1000_0000),
                len: PAGE,
            },
        ])
        .unwrap();
    // mov rax, [0x10001000]; mov rdi, rax; mov eax, 60; syscall
    vm.load(&concat(&[
        &[0x48, 0x8b, 0x04, 0x25, 0x00, 0x10, 0x00, 0x10],
        &exit_with_rax(),
    ]));
    assert_eq!(vm.run(), Trap::Syscall);
    assert_eq!(vm.cpu.regs.rdi, 8);
    // The first page is gone; the second read-only.
    vm.load(&[0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x10]);
    assert!(matches!(
        vm.run(),
        Trap::PageFault {
            addr: 0x1000_0000,
            ..
        }
    ));
    vm.load(&[0xc6, 0x04, 0x25, 0x00, 0x10, 0x00, 0x10, 1]);
    assert_eq!(
        vm.run(),
        Trap::PageFault {
            addr: 0x1000_1000,
            access: Access::Write
        }
    );
}

#[test]
fn a_waiting_stub_and_a_waiting_sentry_use_no_cpu() {
    let mut vm = Vm::new();
    vm.load(&concat(&[&mov_eax(39), &SYSCALL, &JMP_SELF]));
    assert_eq!(vm.run(), Trap::Syscall);
    let (pid, tid) = (vm.stub_pid(), vm.ctx.stub_tid().unwrap());
    let ticks = |p: &str| -> u64 {
        let s = std::fs::read_to_string(p).unwrap();
        let f: Vec<&str> = s.rsplit(')').next().unwrap().split_whitespace().collect();
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    };
    // The application thread waits in its handler for 500 ms.
    let app = format!("/proc/{pid}/task/{tid}/stat");
    let exec = format!("/proc/{pid}/task/{pid}/stat");
    let (a0, e0) = (ticks(&app), ticks(&exec));
    std::thread::sleep(Duration::from_millis(500));
    let (a1, e1) = (ticks(&app), ticks(&exec));
    assert!(a1 - a0 <= 2, "waiting stub thread used {} ticks", a1 - a0);
    assert!(e1 - e0 <= 2, "idle executor used {} ticks", e1 - e0);
    // The Sentry waits 500 ms for a spinning application.
    let irq = vm.ctx.interrupter();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        irq.interrupt();
    });
    let cpu0 = thread_cpu();
    assert_eq!(vm.run(), Trap::Interrupted);
    let used = thread_cpu() - cpu0;
    t.join().unwrap();
    assert!(
        used < Duration::from_millis(25),
        "the Sentry spun for {used:?}"
    );
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

// ---------------------------------------------------------------------
// The application against its own stub.
// ---------------------------------------------------------------------

#[test]
fn jumping_into_the_stubs_syscall_instructions_is_trapped() {
    let mut vm = Vm::new();
    vm.load(&concat(&[&mov_eax(39), &SYSCALL]));
    assert_eq!(vm.run(), Trap::Syscall);
    let r = vm.platform.stub_address();
    let memfd = vm.mf.fd() as u64;
    let pid = vm.stub_pid();
    let sites = vm.platform.stub_syscall_sites();
    assert!(sites.len() > 10);
    let map_shared_fixed = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
    let thread_clone = (libc::CLONE_VM
        | libc::CLONE_FS
        | libc::CLONE_FILES
        | libc::CLONE_SIGHAND
        | libc::CLONE_THREAD
        | libc::CLONE_SYSVSEM
        | libc::CLONE_SETTLS
        | libc::CLONE_CHILD_CLEARTID) as u64;
    // Calls that would reach beyond the application's own thread, with
    // the very arguments the stub itself would use.
    let calls: Vec<(i64, [u64; 6])> = vec![
        (
            libc::SYS_mmap,
            [0x5000_0000, PAGE, 7, map_shared_fixed, memfd, 0],
        ),
        (libc::SYS_munmap, [r, PAGE, 0, 0, 0, 0]),
        (libc::SYS_mprotect, [r + 0x1000, PAGE, 3, 0, 0, 0]),
        (libc::SYS_clone, [thread_clone, 0x7000_0000, 0, 0, 0, 0]),
        (libc::SYS_write, [1, r, 8, 0, 0, 0]),
        (libc::SYS_seccomp, [1, 0, r + 0x1030, 0, 0, 0]),
        (libc::SYS_sigaltstack, [0, 0, 0, 0, 0, 0]),
        (libc::SYS_rt_sigprocmask, [2, r + 0x1028, 0, 8, 0, 0]),
        (libc::SYS_execve, [r, 0, 0, 0, 0, 0]),
        (libc::SYS_kill, [pid as u64, 9, 0, 0, 0, 0]),
        (libc::SYS_exit_group, [0; 6]),
        (libc::SYS_getpid, [0; 6]),
        (libc::SYS_futex, [r, 6, 0, 0, 0, 0]), // FUTEX_LOCK_PI
        (
            libc::SYS_rt_sigaction,
            [libc::SIGSYS as u64, 0x7000_0000, 0, 8, 0, 0],
        ),
        (
            libc::SYS_prctl,
            [libc::PR_SET_DUMPABLE as u64, 1, 0, 0, 0, 0],
        ),
        (
            libc::SYS_ptrace,
            [libc::PTRACE_TRACEME as u64, 0, 0, 0, 0, 0],
        ),
        (libc::SYS_openat, [libc::AT_FDCWD as u64, r, 0, 0, 0, 0]),
        (libc::SYS_socket, [libc::AF_INET as u64, 1, 0, 0, 0, 0]),
        (libc::SYS_fork, [0; 6]),
        (libc::SYS_vfork, [0; 6]),
        (libc::SYS_clone3, [0x7000_0000, 88, 0, 0, 0, 0]),
        (libc::SYS_mremap, [r, PAGE, PAGE, 3, 0x5000_0000, 0]),
        (libc::SYS_process_vm_writev, [1, 0, 0, 0, 0, 0]),
        (libc::SYS_dup2, [memfd, 100, 0, 0, 0, 0]),
    ];
    // The eventfd's number is one of the first few.
    let mut calls = calls;
    for fd in 0..16 {
        calls.push((libc::SYS_write, [fd, r + 0x1018, 8, 0, 0, 0]));
    }
    for &site in &sites {
        for (nr, a) in &calls {
            let regs = &mut vm.cpu.regs;
            regs.rax = *nr as u64;
            (regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9) =
                (a[0], a[1], a[2], a[3], a[4], a[5]);
            regs.rip = site;
            let t = vm.run();
            assert_eq!(t, Trap::Syscall, "nr {nr} at {site:#x}");
            assert_eq!(vm.cpu.regs.orig_rax, *nr as u64);
            assert_eq!(vm.cpu.regs.rip, site + 2);
        }
    }
    // Nothing happened on the host.
    let m = maps(pid);
    assert!(!m.contains("50000000-"), "{m}");
    assert!(m
        .lines()
        .any(|l| l.starts_with(&format!("{r:x}-")) && l.contains("r-xp")));
    assert!(process_exists(pid));
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count();
    assert_eq!(tasks, 2, "no thread was cloned");
    // And the thread still works.
    vm.load(&concat(&[&mov_eax(39), &SYSCALL]));
    assert_eq!(vm.run(), Trap::Syscall);
}

#[test]
fn the_application_cannot_write_the_stubs_pages() {
    let mut vm = Vm::new();
    let r = vm.platform.stub_address();
    for addr in [r, r + 0x1000, r + 0x2000] {
        // mov rbx, addr; mov byte [rbx], 1
        vm.load(&concat(&[&mov_reg(3, addr), &[0xc6, 0x03, 0x01]]));
        assert_eq!(
            vm.run(),
            Trap::PageFault {
                addr,
                access: Access::Write
            }
        );
    }
}

#[test]
fn seccomp_and_rt_sigreturn_from_application_code_are_trapped() {
    let mut vm = Vm::new();
    let pid = vm.stub_pid();
    // seccomp(SECCOMP_SET_MODE_FILTER, 0, 0); rt_sigreturn;
    // rt_sigaction(SIGSYS, ...)
    vm.load(&concat(&[
        &mov_eax(317),
        &SYSCALL,
        &mov_eax(15),
        &SYSCALL,
        &mov_eax(13),
        &SYSCALL,
    ]));
    (vm.cpu.regs.rdi, vm.cpu.regs.rsi, vm.cpu.regs.rdx) = (1, 0, 0);
    assert_eq!(vm.run(), Trap::Syscall);
    assert_eq!(vm.cpu.regs.orig_rax, 317);
    let tid = vm.ctx.stub_tid().unwrap();
    let status = || std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).unwrap();
    let line = |s: &str, k: &str| s.lines().find(|l| l.starts_with(k)).map(str::to_owned);
    let before = status();
    assert_eq!(vm.run(), Trap::Syscall);
    assert_eq!(vm.cpu.regs.orig_rax, 15);
    (vm.cpu.regs.rdi, vm.cpu.regs.rsi) = (libc::SIGSYS as u64, 0);
    assert_eq!(vm.run(), Trap::Syscall);
    assert_eq!(vm.cpu.regs.orig_rax, 13);
    let after = status();
    assert_eq!(
        line(&before, "Seccomp_filters"),
        line(&after, "Seccomp_filters")
    );
    assert!(after.contains("SigCgt:\tfffffffffffbfeff"), "{after}");
}

/// Writes a forged `rt_sigframe` for `rt_sigreturn` at `uc` (stack page
/// at STACK_TOP - 4 pages): registers `regs`, signal mask `mask`.
fn forge_frame(vm: &mut Vm, uc: u64, rip: u64, rbx: u64, cs: u16, mask: u64) {
    let mut f = vec![0u8; 512];
    let put =
        |f: &mut Vec<u8>, off: usize, v: u64| f[off..off + 8].copy_from_slice(&v.to_le_bytes());
    put(&mut f, 0, 2); // uc_flags: UC_SIGCONTEXT_SS
    let sc = 40;
    put(&mut f, sc + 88, rbx); // rbx
    put(&mut f, sc + 120, uc - 0x100); // rsp
    put(&mut f, sc + 128, rip); // rip
    put(&mut f, sc + 136, 0x202); // eflags
    f[sc + 144..sc + 146].copy_from_slice(&cs.to_le_bytes());
    f[sc + 150..sc + 152].copy_from_slice(&0x2bu16.to_le_bytes()); // ss
    put(&mut f, 296, mask); // uc_sigmask
    let page = STACK_TOP - 4 * PAGE;
    let off = vm.map_bytes(page, &[0; 4 * PAGE as usize], Prot::READ | Prot::WRITE);
    vm.mf.write(FileOffset(off.0 + (uc - page)), &f).unwrap();
}

#[test]
fn a_forged_rt_sigreturn_frame_only_sets_the_threads_own_registers() {
    let mut vm = Vm::new();
    // At CODE: mov eax, 39; syscall.
    vm.load(&concat(&[&mov_eax(39), &SYSCALL]));
    let uc = STACK_TOP - 0x1000;
    forge_frame(&mut vm, uc, CODE, 0x1234_5678, 0x33, 0);
    // The application "jumps" to the stub's rt_sigreturn with rsp at it.
    vm.cpu.regs.rip = vm.platform.stub_sigreturn_address();
    vm.cpu.regs.rsp = uc;
    assert_eq!(vm.run(), Trap::Syscall);
    assert_eq!(vm.cpu.regs.orig_rax, 39);
    assert_eq!(vm.cpu.regs.rbx, 0x1234_5678);
    assert_eq!(vm.cpu.regs.rip, CODE + 7);

    // Into 32-bit mode, then int 0x80: still only a trap.
    let mut vm = Vm::new();
    vm.load(&concat(&[&mov_eax(20), &[0xcd, 0x80]]));
    forge_frame(&mut vm, uc, CODE, 0, 0x23, 0);
    vm.cpu.regs.rip = vm.platform.stub_sigreturn_address();
    vm.cpu.regs.rsp = uc;
    assert_eq!(
        vm.run(),
        Trap::Exception {
            signo: libc::SIGSEGV,
            code: 0x80,
            addr: 0
        }
    );
    assert_eq!(vm.cpu.regs.cs, 0x23);
}

#[test]
fn blocking_sigsys_with_a_forged_frame_only_kills_the_stub() {
    let mut vm = Vm::new();
    vm.load(&concat(&[&mov_eax(39), &SYSCALL]));
    let uc = STACK_TOP - 0x1000;
    forge_frame(&mut vm, uc, CODE, 0, 0x33, 1 << (libc::SIGSYS - 1));
    vm.cpu.regs.rip = vm.platform.stub_sigreturn_address();
    vm.cpu.regs.rsp = uc;
    let pid = vm.stub_pid();
    // The blocked SIGSYS is forced: the kernel kills the stub.
    assert_eq!(
        vm.ctx.switch(&vm.dynspace, &mut vm.cpu),
        Err(PlatformError::Lost)
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while process_exists(pid) {
        assert!(Instant::now() < deadline, "stub {pid} still alive");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        vm.ctx.switch(&vm.dynspace, &mut vm.cpu),
        Err(PlatformError::Lost)
    );
    // The platform and a new space are fine.
    let mut vm = Vm::new();
    vm.load(&concat(&[&mov_eax(39), &SYSCALL]));
    assert_eq!(vm.run(), Trap::Syscall);
}

#[test]
fn a_stub_that_ignores_interrupts_is_killed_not_waited_for() {
    let mut vm = Vm::new();
    vm.load(&JMP_SELF);
    let uc = STACK_TOP - 0x1000;
    // Every signal blocked, then spin forever: the handler can never run.
    forge_frame(&mut vm, uc, CODE, 0, 0x33, u64::MAX);
    vm.cpu.regs.rip = vm.platform.stub_sigreturn_address();
    vm.cpu.regs.rsp = uc;
    let irq = vm.ctx.interrupter();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        irq.interrupt();
    });
    let start = Instant::now();
    assert_eq!(
        vm.ctx.switch(&vm.dynspace, &mut vm.cpu),
        Err(PlatformError::Lost)
    );
    assert!(start.elapsed() < Duration::from_secs(10));
    t.join().unwrap();
    let pid = vm.stub_pid();
    let deadline = Instant::now() + Duration::from_secs(5);
    while process_exists(pid) {
        assert!(Instant::now() < deadline, "stub {pid} not killed");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_corrupted_slot_only_hurts_the_application() {
    let mut vm = Vm::new();
    let r = vm.platform.stub_address();
    // The application scribbles over every slot page's state words and
    // its own alternate stack, then makes a system call.
    // mov rbx, slot0; mov rcx, 0x8000/8; loop: mov qword [rbx], -1;
    // add rbx, 8; dec rcx; jnz loop; mov eax, 39; syscall
    let slot0 = r + 0x4000;
    vm.load(&concat(&[
        &mov_reg(3, slot0),
        &mov_reg(1, 0x8000 / 8),
        &[0x48, 0xc7, 0x03, 0xff, 0xff, 0xff, 0xff],
        &[0x48, 0x83, 0xc3, 0x08],
        &[0x48, 0xff, 0xc9],
        &[0x75, 0xf0],
        &mov_eax(39),
        &SYSCALL,
    ]));
    // Either the trap still comes through (the handler rewrote what it
    // needs) or the stub is lost; the Sentry neither hangs nor crashes.
    match vm.ctx.switch(&vm.dynspace, &mut vm.cpu) {
        Ok(Trap::Syscall) => assert_eq!(vm.cpu.regs.orig_rax, 39),
        Ok(t) => panic!("{t:?}"),
        Err(e) => assert_eq!(e, PlatformError::Lost),
    }
}

#[test]
fn getpid_round_trip_cost() {
    use veil_platform_ptrace::PtracePlatform;
    let mut vm = Vm::new();
    vm.load(&GETPID_LOOP);
    let n = 5000;
    let (_, systrap) = round_trips(&mut vm.ctx, &vm.dynspace, &mut vm.cpu, 500, n);

    let p = PtracePlatform::new().unwrap();
    let space = p.new_address_space().unwrap();
    let mf = p.memory_file();
    mf.grow(PAGE).unwrap();
    mf.write(FileOffset(0), &GETPID_LOOP).unwrap();
    space
        .map(UserAddr(CODE), PAGE, FileOffset(0), Prot::READ | Prot::EXEC)
        .unwrap();
    let mut ctx = p.new_context().unwrap();
    let mut cpu = CpuState::default();
    cpu.regs.rip = CODE;
    let (_, ptrace) = round_trips(&mut *ctx, &space, &mut cpu, 200, n / 5);
    println!("getpid round trip: systrap {systrap} ns, ptrace {ptrace} ns");
    let _ = SystrapOptions::default();
}

#[test]
fn forged_executor_results_change_nothing() {
    let mut vm = Vm::new();
    let r = vm.platform.stub_address();
    // At CODE + PAGE, a thread that forever forges the executor's "done"
    // word and its first two results:
    // mov rbx, R + 0x3000; loop: mov [rbx], eax; inc eax;
    // mov qword [rbx+0x100], 0; mov qword [rbx+0x108], -1; jmp loop
    let mut code = vec![0u8; 2 * PAGE as usize];
    let read = concat(&[
        &[0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x30], // mov rax, [0x30000000]
        &SYSCALL,
        &[0xeb, 0xf4], // jmp back
    ]);
    code[..read.len()].copy_from_slice(&read);
    let scribble = concat(&[
        &mov_reg(3, r + 0x3000),
        &[0x89, 0x03, 0xff, 0xc0],
        &[0x48, 0xc7, 0x83, 0x00, 0x01, 0x00, 0x00, 0, 0, 0, 0],
        &[
            0x48, 0xc7, 0x83, 0x08, 0x01, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
        ],
        &[0xeb, 0xe4],
    ]);
    code[PAGE as usize..PAGE as usize + scribble.len()].copy_from_slice(&scribble);
    vm.load(&code);
    let mut evil = vm.platform.new_systrap_context();
    let irq = evil.interrupter();
    let space = vm.dynspace.clone();
    let t = std::thread::spawn(move || {
        let mut cpu = CpuState::default();
        cpu.regs.rip = CODE + PAGE;
        let r = evil.switch(&space, &mut cpu);
        (r, evil)
    });
    std::thread::sleep(Duration::from_millis(20));
    for i in 1..=40u64 {
        let off = vm.alloc(&i.to_le_bytes(), 1);
        vm.space
            .map(UserAddr(0x3000_0000), PAGE, off, Prot::READ | Prot::WRITE)
            .unwrap();
        vm.space
            .protect(UserAddr(0x3000_0000), PAGE, Prot::READ)
            .unwrap();
        vm.cpu.regs.rip = CODE;
        assert_eq!(vm.run(), Trap::Syscall);
        assert_eq!(vm.cpu.regs.rax, i, "the map of round {i} is in force");
        vm.space.unmap(UserAddr(0x3000_0000), PAGE).unwrap();
        vm.cpu.regs.rip = CODE;
        assert_eq!(
            vm.run(),
            Trap::PageFault {
                addr: 0x3000_0000,
                access: Access::Read
            },
            "the unmap of round {i} is in force"
        );
    }
    irq.interrupt();
    let (r, _evil) = t.join().unwrap();
    assert_eq!(r, Ok(Trap::Interrupted));
}

#[test]
fn stubs_die_with_the_sentry() {
    const CHILD: &str = "VEIL_SYSTRAP_TEST_CHILD";
    if std::env::var_os(CHILD).is_some() {
        // The child Sentry: make a stub with a running thread and vanish
        // without cleaning up.
        let mut vm = Vm::new();
        vm.load(&JMP_SELF);
        let irq = vm.ctx.interrupter();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            irq.interrupt();
        });
        assert_eq!(vm.run(), Trap::Interrupted);
        println!("STUB_PID={}", vm.stub_pid());
        std::process::exit(0);
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["stubs_die_with_the_sentry", "--exact", "--nocapture"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let pid: i32 = stdout
        .split("STUB_PID=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("child said: {stdout}"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while process_exists(pid) {
        assert!(Instant::now() < deadline, "stub {pid} outlived its Sentry");
        std::thread::sleep(Duration::from_millis(5));
    }
}
