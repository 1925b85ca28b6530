//! The systrap platform against real machine code in real stubs.

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

#[test]
fn syscall_round_trip() {
    let mut vm = Vm::new();
    // mov eax, 39; syscall; mov rdi, rax; mov eax, 60; syscall
    vm.load(&concat(&[&mov_eax(39), &SYSCALL, &exit_with_rax()]));
    assert_eq!(vm.run(), Trap::Syscall);
    let r = vm.cpu.regs;
    assert_eq!(r.orig_rax, 39);
    assert_eq!(r.rax, 39);
    assert_eq!(r.rip, CODE + 7);
    assert_eq!(r.rcx, r.rip, "syscall sets rcx to the return address");
    vm.cpu.regs.rax = 1234;
    assert_eq!(vm.run(), Trap::Syscall);
    assert_eq!(vm.cpu.regs.orig_rax, 60);
    assert_eq!(vm.cpu.regs.rdi, 1234);
}

#[test]
fn syscall_arguments_and_registers_survive() {
    let mut vm = Vm::new();
    // syscall; syscall
    vm.load(&concat(&[&SYSCALL, &SYSCALL]));
    let r = &mut vm.cpu.regs;
    r.rax = 0x1_0000; // an unknown number: still just a trap
    (r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9) = (1, 2, 3, 4, 5, 6);
    (r.rbx, r.rbp, r.r12, r.r13, r.r14, r.r15) = (7, 8, 9, 10, 11, 12);
    r.rsp = 0xdead_0000;
    assert_eq!(vm.run(), Trap::Syscall);
    let r = vm.cpu.regs;
    assert_eq!(r.orig_rax, 0x1_0000);
    assert_eq!((r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9), (1, 2, 3, 4, 5, 6));
    assert_eq!(
        (r.rbx, r.rbp, r.r12, r.r13, r.r14, r.r15),
        (7, 8, 9, 10, 11, 12)
    );
    assert_eq!(
        r.rsp, 0xdead_0000,
        "any rsp works: the handler has its own stack"
    );
    assert_eq!((r.cs, r.ss), (0x33, 0x2b));
    // Change many registers at once: all of them arrive.
    vm.cpu.regs.rax = 77;
    vm.cpu.regs.rbx = 70;
    vm.cpu.regs.r15 = 71;
    assert_eq!(vm.run(), Trap::Syscall);
    assert_eq!(vm.cpu.regs.rip, CODE + 4);
    assert_eq!(vm.cpu.regs.orig_rax, 77);
    assert_eq!((vm.cpu.regs.rbx, vm.cpu.regs.r15), (70, 71));
}

#[test]
fn host_syscalls_never_run() {
    let mut vm = Vm::new();
    // exit_group(0) would kill the stub if the host ran it; then write.
    let code = concat(&[&mov_eax(231), &SYSCALL, &mov_eax(1), &SYSCALL]);
    vm.load(&code);
    vm.cpu.regs.rdi = 0;
    assert_eq!(vm.run(), Trap::Syscall);
    assert_eq!(vm.cpu.regs.orig_rax, 231);
    assert_eq!(vm.run(), Trap::Syscall);
    assert_eq!(vm.cpu.regs.orig_rax, 1);
    assert!(process_exists(vm.stub_pid()));
}

#[test]
fn read_fault_then_map_and_resume() {
    let mut vm = Vm::new();
    // mov rax, [0x10000000]; mov rdi, rax; mov eax, 60; syscall
    let code = concat(&[
        &[0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x10],
        &exit_with_rax(),
    ]);
    vm.load(&code);
    assert_eq!(
        vm.run(),
        Trap::PageFault {
            addr: 0x1000_0000,
            access: Access::Read
        }
    );
    assert_eq!(
        vm.cpu.regs.rip, CODE,
        "a fault leaves rip at the instruction"
    );
    vm.map_bytes(0x1000_0000, &0xdead_beef_u64.to_le_bytes(), Prot::READ);
    assert_eq!(vm.run(), Trap::Syscall);
    assert_eq!(vm.cpu.regs.rdi, 0xdead_beef);
}

#[test]
fn write_faults_are_writes_even_when_unmapped() {
    let mut vm = Vm::new();
    // mov dword [0x20000000], 0x11223344; mov eax, 60; syscall
    let code = concat(&[
        &[
            0xc7, 0x04, 0x25, 0x00, 0x00, 0x00, 0x20, 0x44, 0x33, 0x22, 0x11,
        ],
        &mov_eax(60),
        &SYSCALL,
    ]);
    vm.load(&code);
    // Unlike ptrace, the hardware error code tells a write apart.
    assert_eq!(
        vm.run(),
        Trap::PageFault {
            addr: 0x2000_0000,
            access: Access::Write
        }
    );
    let off = vm.map_bytes(0x2000_0000, &[0; 8], Prot::READ);
    assert_eq!(
        vm.run(),
        Trap::PageFault {
            addr: 0x2000_0000,
            access: Access::Write
        }
    );
    vm.space
        .protect(UserAddr(0x2000_0000), PAGE, Prot::READ | Prot::WRITE)
        .unwrap();
    assert_eq!(vm.run(), Trap::Syscall);
    let mut b = [0u8; 4];
    vm.mf.read(off, &mut b).unwrap();
    assert_eq!(
        u32::from_le_bytes(b),
        0x1122_3344,
        "the stub wrote the memory file"
    );
}

#[test]
fn exec_fault() {
    let mut vm = Vm::new();
    // mov eax, 0x30000000; jmp rax
    vm.load(&concat(&[&mov_eax(0x3000_0000), &[0xff, 0xe0]]));
    assert_eq!(
        vm.run(),
        Trap::PageFault {
            addr: 0x3000_0000,
            access: Access::Exec
        }
    );
    // Mapped without EXEC: still an exec fault.
    let code = concat(&[&mov_eax(60), &SYSCALL]);
    vm.map_bytes(0x3000_0000, &code, Prot::READ);
    assert_eq!(
        vm.run(),
        Trap::PageFault {
            addr: 0x3000_0000,
            access: Access::Exec
        }
    );
    vm.space
        .protect(UserAddr(0x3000_0000), PAGE, Prot::READ | Prot::EXEC)
        .unwrap();
    assert_eq!(vm.run(), Trap::Syscall);
    assert_eq!(vm.cpu.regs.orig_rax, 60);
}

#[test]
fn exceptions() {
    // ud2: SIGILL, ILL_ILLOPN.
    let mut vm = Vm::new();
    vm.load(&[0x0f, 0x0b]);
    assert_eq!(
        vm.run(),
        Trap::Exception {
            signo: libc::SIGILL,
            code: 2,
            addr: CODE
        }
    );
    assert_eq!(vm.cpu.regs.rip, CODE);
    // int3: SIGTRAP, SI_KERNEL, rip past it.
    let mut vm = Vm::new();
    vm.load(&[0xcc]);
    assert_eq!(
        vm.run(),
        Trap::Exception {
            signo: libc::SIGTRAP,
            code: 0x80,
            addr: 0
        }
    );
    assert_eq!(vm.cpu.regs.rip, CODE + 1);
    // xor ecx, ecx; div ecx: SIGFPE, FPE_INTDIV.
    let mut vm = Vm::new();
    vm.load(&[0x31, 0xc9, 0xf7, 0xf1]);
    assert_eq!(
        vm.run(),
        Trap::Exception {
            signo: libc::SIGFPE,
            code: 1,
            addr: CODE + 2
        }
    );
    // hlt: privileged, a general-protection SIGSEGV.
    let mut vm = Vm::new();
    vm.load(&[0xf4]);
    assert_eq!(
        vm.run(),
        Trap::Exception {
            signo: libc::SIGSEGV,
            code: 0x80,
            addr: 0
        }
    );
    // The thread survives all of that: resume it elsewhere.
    vm.load(&concat(&[&mov_eax(39), &SYSCALL]));
    assert_eq!(vm.run(), Trap::Syscall);
}

#[test]
fn int80_is_not_a_syscall() {
    let mut vm = Vm::new();
    // mov eax, 20 (getpid in the 32-bit ABI); int 0x80
    vm.load(&concat(&[&mov_eax(20), &[0xcd, 0x80]]));
    assert_eq!(
        vm.run(),
        Trap::Exception {
            signo: libc::SIGSEGV,
            code: 0x80,
            addr: 0
        }
    );
    assert_eq!(vm.cpu.regs.rip, CODE + 5, "rip at the int 0x80");
}

#[test]
fn vsyscall_raises_sigsys() {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    if !maps.contains("[vsyscall]") {
        eprintln!("host has no vsyscall page; skipped");
        return;
    }
    let mut vm = Vm::new();
    vm.stack();
    // mov rax, 0xffffffffff600400 (time); call rax; mov eax, 60; syscall
    vm.load(&concat(&[
        &mov_rax(0xffff_ffff_ff60_0400),
        &[0xff, 0xd0],
        &mov_eax(60),
        &SYSCALL,
    ]));
    vm.cpu.regs.rdi = 0;
    assert_eq!(
        vm.run(),
        Trap::Exception {
            signo: libc::SIGSYS,
            code: 1,
            addr: 0xffff_ffff_ff60_0400
        }
    );
    // Returned to the caller, rax the call's number (201, time).
    assert_eq!(vm.cpu.regs.rip, CODE + 12);
    assert_eq!(vm.cpu.regs.rax, 201);
    assert_eq!(vm.run(), Trap::Syscall);
}

#[test]
fn the_sentry_is_invisible() {
    static SECRET: u64 = 0x5ec7e7;
    let heap = Box::new(0x5ec7e7u64);
    let vm = Vm::new();
    vm.mf.grow(PAGE).unwrap();
    for addr in [
        &SECRET as *const u64 as u64,
        &*heap as *const u64 as u64,
        vm.mf.as_ptr() as u64,
        &vm as *const Vm as u64, // the stack
    ] {
        // movabs rax, [addr]; exit(rax)
        let mut code = vec![0x48, 0xa1];
        code.extend_from_slice(&addr.to_le_bytes());
        code.extend(exit_with_rax());
        let mut vm = Vm::new();
        vm.load(&code);
        match vm.run() {
            Trap::PageFault { addr: a, .. } => assert_eq!(a, addr),
            t => panic!("read of Sentry address {addr:#x} gave {t:?}"),
        }
    }
}

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
fn max_user_address_is_below_the_stub() {
    let mf = Arc::new(HostMemoryFile::with_reserve(1 << 20).unwrap());
    let p = SystrapPlatform::with_memory_file(mf, Default::default()).unwrap();
    assert_eq!(p.max_user_address(), p.stub_address());
    assert!(p.stub_address() >= 0x7f00_0000_0000);
    let space = p.new_systrap_address_space().unwrap();
    let top = p.max_user_address();
    assert_eq!(
        space.map(UserAddr(top), PAGE, FileOffset(0), Prot::READ),
        Err(PlatformError::NoMemory)
    );
    assert_eq!(
        space.unmap(UserAddr(top - PAGE), 2 * PAGE),
        Err(PlatformError::NoMemory)
    );
    assert_eq!(
        space.protect(UserAddr(u64::MAX - PAGE + 1), PAGE, Prot::READ),
        Err(PlatformError::NoMemory)
    );
    assert_eq!(
        space.map(UserAddr(1), PAGE, FileOffset(0), Prot::READ),
        Err(PlatformError::NoMemory)
    );
    assert_eq!(space.map(UserAddr(0), 0, FileOffset(0), Prot::READ), Ok(()));
}

#[test]
fn dropping_the_space_kills_the_stub() {
    let mut vm = Vm::new();
    vm.load(&concat(&[&mov_eax(39), &SYSCALL]));
    assert_eq!(vm.run(), Trap::Syscall);
    let pid = vm.stub_pid();
    assert!(process_exists(pid));
    assert_eq!(vm.platform.live_address_spaces(), 1);
    let Vm {
        platform,
        space,
        dynspace,
        ctx,
        ..
    } = vm;
    drop(space);
    assert!(process_exists(pid), "core's Arc still holds it");
    drop(dynspace);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "stub {pid} survived its address space"
    );
    assert_eq!(platform.live_address_spaces(), 0);
    // No zombie either: nothing is left to wait for.
    // SAFETY: waitpid with a valid out-pointer.
    let r = unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG | libc::__WALL) };
    assert_eq!(r, -1);
    drop(ctx);
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
fn foreign_address_space_is_lost() {
    struct NotOurs;
    impl AddressSpace for NotOurs {
        fn map(&self, _: UserAddr, _: u64, _: FileOffset, _: Prot) -> Result<(), PlatformError> {
            Ok(())
        }
        fn unmap(&self, _: UserAddr, _: u64) -> Result<(), PlatformError> {
            Ok(())
        }
        fn protect(&self, _: UserAddr, _: u64, _: Prot) -> Result<(), PlatformError> {
            Ok(())
        }
    }
    let mut vm = Vm::new();
    let other: Arc<dyn AddressSpace> = Arc::new(NotOurs);
    assert_eq!(vm.ctx.switch(&other, &mut vm.cpu), Err(PlatformError::Lost));
}

#[test]
fn unmap_and_protect_across_holes() {
    let mut vm = Vm::new();
    // Two pages with a hole between; protect the whole span read-only.
    vm.map_bytes(0x1000_0000, &[1; 8], Prot::READ | Prot::WRITE);
    vm.map_bytes(0x1000_2000, &[2; 8], Prot::READ | Prot::WRITE);
    vm.space
        .protect(UserAddr(0x1000_0000), 3 * PAGE, Prot::READ)
        .unwrap();
    for addr in [0x1000_0000u32, 0x1000_2000] {
        // mov byte [addr], 1
        let mut code = vec![0xc6, 0x04, 0x25];
        code.extend_from_slice(&addr.to_le_bytes());
        code.push(1);
        vm.load(&code);
        assert_eq!(
            vm.run(),
            Trap::PageFault {
                addr: addr as u64,
                access: Access::Write
            },
            "page {addr:#x} must be read-only"
        );
    }
    // Unmap the first: a read now faults as unmapped.
    vm.space.unmap(UserAddr(0x1000_0000), PAGE).unwrap();
    vm.load(&concat(&[
        &[0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x10],
        &exit_with_rax(),
    ]));
    assert_eq!(
        vm.run(),
        Trap::PageFault {
            addr: 0x1000_0000,
            access: Access::Read
        }
    );
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
fn shared_memory_is_coherent_both_ways() {
    let mut vm = Vm::new();
    let off = vm.map_bytes(0x1000_0000, &5u64.to_le_bytes(), Prot::READ | Prot::WRITE);
    // mov rax, [0x10000000]; add rax, 1; mov [0x10000000], rax; syscall; jmp back
    let code = concat(&[
        &[0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x10],
        &[0x48, 0x83, 0xc0, 0x01],
        &[0x48, 0x89, 0x04, 0x25, 0x00, 0x00, 0x00, 0x10],
        &SYSCALL,
        &[0xeb, 0xe8], // jmp -24: back to the start
    ]);
    vm.load(&code);
    for want in 6..10u64 {
        assert_eq!(vm.run(), Trap::Syscall);
        let mut b = [0u8; 8];
        vm.mf.read(off, &mut b).unwrap();
        assert_eq!(u64::from_le_bytes(b), want);
        vm.mf.write(off, &(want * 100).to_le_bytes()).unwrap();
        assert_eq!(vm.run(), Trap::Syscall);
        vm.mf.read(off, &mut b).unwrap();
        assert_eq!(u64::from_le_bytes(b), want * 100 + 1);
        vm.mf.write(off, &want.to_le_bytes()).unwrap();
    }
}

#[test]
fn fs_and_gs_base_are_loaded() {
    let mut vm = Vm::new();
    vm.map_bytes(0x1000_0000, &0x1234_5678_9abc_u64.to_le_bytes(), Prot::READ);
    vm.map_bytes(0x1100_0000, &0x4242_u64.to_le_bytes(), Prot::READ);
    // mov rax, fs:[0]; mov rbx, gs:[0]; exit(rax)
    vm.load(&concat(&[
        &[0x64, 0x48, 0x8b, 0x04, 0x25, 0, 0, 0, 0],
        &[0x65, 0x48, 0x8b, 0x1c, 0x25, 0, 0, 0, 0],
        &exit_with_rax(),
    ]));
    vm.cpu.regs.fs_base = 0x1000_0000;
    vm.cpu.regs.gs_base = 0x1100_0000;
    assert_eq!(vm.run(), Trap::Syscall);
    assert_eq!(vm.cpu.regs.rdi, 0x1234_5678_9abc);
    assert_eq!(vm.cpu.regs.rbx, 0x4242);
    assert_eq!(vm.cpu.regs.fs_base, 0x1000_0000);
    assert_eq!(vm.cpu.regs.gs_base, 0x1100_0000);
    // The application changes its own fs base (wrfsbase, allowed in user
    // mode on this kernel): the trap reports it.
    // SAFETY: getauxval has no preconditions. HWCAP2_FSGSBASE.
    if unsafe { libc::getauxval(libc::AT_HWCAP2) } & 2 != 0 {
        // mov rax, 0x20000000; wrfsbase rax; syscall
        vm.load(&concat(&[
            &mov_rax(0x2000_0000),
            &[0xf3, 0x48, 0x0f, 0xae, 0xd0],
            &SYSCALL,
        ]));
        assert_eq!(vm.run(), Trap::Syscall);
        assert_eq!(vm.cpu.regs.fs_base, 0x2000_0000);
    }
    // A bad base from core (or the application) does not break switch.
    vm.cpu.regs.fs_base = u64::MAX;
    vm.cpu.regs.cs = 0;
    vm.cpu.regs.ss = 0x10;
    vm.load(&[0x64, 0x48, 0x8b, 0x04, 0x25, 0, 0, 0, 0]);
    assert_eq!(
        vm.run(),
        Trap::PageFault {
            addr: 0,
            access: Access::Read
        }
    );
    assert_eq!((vm.cpu.regs.cs, vm.cpu.regs.ss), (0x33, 0x2b));
}

#[test]
fn fp_state_in_and_out() {
    let mut vm = Vm::new();
    // movq rax, xmm0; movq xmm1, rdi; syscall
    vm.load(&[
        0x66, 0x48, 0x0f, 0x7e, 0xc0, 0x66, 0x48, 0x0f, 0x6e, 0xcf, 0x0f, 0x05,
    ]);
    let mut st = Vec::new();
    vm.ctx.fp_state(&mut st).unwrap();
    assert!(st.len() >= 512);
    assert_eq!(u16::from_le_bytes([st[0], st[1]]), 0x37f);
    assert_eq!(u32::from_le_bytes(st[24..28].try_into().unwrap()), 0x1f80);
    assert!(
        st[160..416].iter().all(|&b| b == 0),
        "xmm registers start zero"
    );
    st[160..168].copy_from_slice(&0xfeed_f00d_u64.to_le_bytes()); // xmm0
    vm.ctx.set_fp_state(&st).unwrap();
    vm.cpu.regs.rdi = 0xabcd;
    assert_eq!(vm.run(), Trap::Syscall);
    assert_eq!(vm.cpu.regs.rax, 0xfeed_f00d);
    vm.ctx.fp_state(&mut st).unwrap();
    assert_eq!(u64::from_le_bytes(st[176..184].try_into().unwrap()), 0xabcd); // xmm1
    assert_eq!(
        u64::from_le_bytes(st[160..168].try_into().unwrap()),
        0xfeed_f00d,
        "xmm0 kept"
    );
    // Without set_fp_state, the state simply persists across switches.
    vm.cpu.regs.rip = CODE;
    vm.cpu.regs.rdi = 0x1111;
    assert_eq!(vm.run(), Trap::Syscall);
    assert_eq!(vm.cpu.regs.rax, 0xfeed_f00d);
    vm.ctx.reset_fp_state().unwrap();
    vm.ctx.fp_state(&mut st).unwrap();
    assert!(st[160..416].iter().all(|&b| b == 0));
    vm.cpu.regs.rip = CODE;
    assert_eq!(vm.run(), Trap::Syscall);
    assert_eq!(vm.cpu.regs.rax, 0, "reset reached the thread");
    // Hostile state (as from a forged signal frame): no failure.
    vm.ctx.set_fp_state(&vec![0xff; st.len() + 100]).unwrap();
    vm.cpu.regs.rip = CODE;
    assert_eq!(vm.run(), Trap::Syscall);
    vm.ctx.set_fp_state(&[1, 2, 3]).unwrap();
    vm.cpu.regs.rip = CODE;
    assert_eq!(vm.run(), Trap::Syscall);
}

#[test]
fn fp_state_follows_the_thread_to_a_new_space() {
    let mut vm = Vm::new();
    // movq xmm0, rdi; syscall
    vm.load(&[0x66, 0x48, 0x0f, 0x6e, 0xc7, 0x0f, 0x05]);
    vm.cpu.regs.rdi = 0x77;
    assert_eq!(vm.run(), Trap::Syscall);
    let old_tid = vm.ctx.stub_tid().unwrap();
    // A second address space, same context: movq rax, xmm0; syscall
    let space2: Arc<dyn AddressSpace> = vm.platform.new_systrap_address_space().unwrap();
    let code = [0x66, 0x48, 0x0f, 0x7e, 0xc0, 0x0f, 0x05];
    let off = vm.alloc(&code, 1);
    space2
        .map(UserAddr(CODE), PAGE, off, Prot::READ | Prot::EXEC)
        .unwrap();
    vm.cpu.regs.rip = CODE;
    assert_eq!(vm.ctx.switch(&space2, &mut vm.cpu), Ok(Trap::Syscall));
    assert_eq!(vm.cpu.regs.rax, 0x77);
    // The thread in the first space was let go.
    let pid = vm.stub_pid();
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::path::Path::new(&format!("/proc/{pid}/task/{old_tid}")).exists() {
        assert!(Instant::now() < deadline, "old stub thread still there");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(process_exists(pid), "only the thread went");
}

#[test]
fn interrupts() {
    let mut vm = Vm::new();
    vm.load(&JMP_SELF);
    // Before the switch: the switch returns at once.
    let irq = vm.ctx.interrupter();
    irq.interrupt();
    assert_eq!(vm.run(), Trap::Interrupted);
    // During: from another thread.
    for _ in 0..3 {
        let irq = vm.ctx.interrupter();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            irq.interrupt();
        });
        let start = Instant::now();
        loop {
            assert_eq!(vm.run(), Trap::Interrupted);
            if start.elapsed() >= Duration::from_millis(25) {
                break;
            }
        }
        assert_eq!(vm.cpu.regs.rip, CODE, "still spinning in jmp $");
        t.join().unwrap();
    }
    // A host signal from outside (a terminal's SIGINT) is not delivered.
    let pid = vm.stub_pid();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        // SAFETY: signalling our own live child.
        unsafe { libc::kill(pid, libc::SIGINT) };
    });
    assert_eq!(vm.run(), Trap::Interrupted);
    t.join().unwrap();
    assert!(process_exists(pid));
    // ... nor a forged SIGSEGV or SIGSYS: they are not faults or calls.
    let tid = vm.ctx.stub_tid().unwrap();
    for sig in [libc::SIGSEGV, libc::SIGSYS] {
        // SAFETY: signalling a thread of our own live child.
        unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, sig) };
        assert_eq!(vm.run(), Trap::Interrupted);
    }
    assert!(process_exists(pid));
    assert_eq!(vm.cpu.regs.rip, CODE);
}

#[test]
fn the_platform_trait_objects_work() {
    // As the runtime makes it: its own 64 GiB memory file.
    let p: Arc<dyn Platform> = Arc::new(SystrapPlatform::new().unwrap());
    assert_eq!(p.name(), "systrap");
    let space = p.new_address_space().unwrap();
    let mut ctx = p.new_context().unwrap();
    let mf = p.memory_file();
    mf.grow(PAGE).unwrap();
    mf.write(FileOffset(0), &concat(&[&mov_eax(39), &SYSCALL]))
        .unwrap();
    space
        .map(UserAddr(CODE), PAGE, FileOffset(0), Prot::READ | Prot::EXEC)
        .unwrap();
    let mut cpu = CpuState::default();
    cpu.regs.rip = CODE;
    assert_eq!(ctx.switch(&space, &mut cpu), Ok(Trap::Syscall));
    assert_eq!(cpu.regs.orig_rax, 39);
}

#[test]
fn many_spaces_and_no_leaks() {
    let mf = Arc::new(HostMemoryFile::with_reserve(1 << 20).unwrap());
    let p = SystrapPlatform::with_memory_file(mf, Default::default()).unwrap();
    p.probe().unwrap();
    let mut pids = Vec::new();
    for _ in 0..20 {
        let s = p.new_systrap_address_space().unwrap();
        pids.push(s.stub_pid());
    }
    assert_eq!(p.live_address_spaces(), 0);
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "stub {pid} leaked"
        );
    }
}

#[test]
fn several_contexts_run_in_one_space_at_once() {
    let mut vm = Vm::new();
    // loop: mov eax, 39; syscall; jmp loop
    vm.load(&concat(&[&mov_eax(39), &SYSCALL, &[0xeb, 0xf7]]));
    let threads: Vec<_> = (0..4u64)
        .map(|i| {
            let mut ctx = vm.platform.new_systrap_context();
            let space = vm.dynspace.clone();
            std::thread::spawn(move || {
                let mut cpu = CpuState::default();
                cpu.regs.rip = CODE;
                cpu.regs.rdi = i;
                for n in 0..300u64 {
                    assert_eq!(ctx.switch(&space, &mut cpu), Ok(Trap::Syscall));
                    assert_eq!(cpu.regs.rdi, i + n, "registers stay per thread");
                    cpu.regs.rdi += 1;
                }
                ctx.stub_tid().unwrap()
            })
        })
        .collect();
    // Meanwhile, another thread maps and unmaps in the same space.
    for i in 0..50u64 {
        let off = vm.alloc(&[0; 8], 1);
        vm.space
            .map(UserAddr(0x2000_0000 + i * PAGE), PAGE, off, Prot::READ)
            .unwrap();
    }
    vm.space.unmap(UserAddr(0x2000_0000), 50 * PAGE).unwrap();
    let mut tids: Vec<i32> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    tids.sort();
    tids.dedup();
    assert_eq!(tids.len(), 4, "one stub thread per context");
}

#[test]
fn unmap_takes_effect_on_a_running_thread() {
    let mut vm = Vm::new();
    vm.map_bytes(0x1000_0000, &[1; 8], Prot::READ);
    // loop: mov rax, [0x10000000]; jmp loop
    vm.load(&[0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x10, 0xeb, 0xf6]);
    let space = vm.space.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        space.unmap(UserAddr(0x1000_0000), PAGE).unwrap();
    });
    // No interrupt needed: the host unmaps it under the running thread.
    assert_eq!(
        vm.run(),
        Trap::PageFault {
            addr: 0x1000_0000,
            access: Access::Read
        }
    );
    t.join().unwrap();
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
    // loop: mov eax, 39; syscall; jmp loop
    vm.load(&concat(&[&mov_eax(39), &SYSCALL, &[0xeb, 0xf7]]));
    let n = 5000;
    for _ in 0..500 {
        assert_eq!(vm.run(), Trap::Syscall);
    }
    let t = Instant::now();
    for _ in 0..n {
        vm.run();
        vm.cpu.regs.rax = 1;
    }
    let systrap = t.elapsed().as_nanos() / n;
    assert_eq!(vm.cpu.regs.orig_rax, 39);

    let p = PtracePlatform::new().unwrap();
    let space = p.new_address_space().unwrap();
    let mf = p.memory_file();
    mf.grow(PAGE).unwrap();
    mf.write(
        FileOffset(0),
        &concat(&[&mov_eax(39), &SYSCALL, &[0xeb, 0xf7]]),
    )
    .unwrap();
    space
        .map(UserAddr(CODE), PAGE, FileOffset(0), Prot::READ | Prot::EXEC)
        .unwrap();
    let mut ctx = p.new_context().unwrap();
    let mut cpu = CpuState::default();
    cpu.regs.rip = CODE;
    for _ in 0..200 {
        assert_eq!(ctx.switch(&space, &mut cpu), Ok(Trap::Syscall));
    }
    let t = Instant::now();
    for _ in 0..n / 5 {
        ctx.switch(&space, &mut cpu).unwrap();
    }
    let ptrace = t.elapsed().as_nanos() / (n / 5);
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
