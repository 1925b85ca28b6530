//! The ptrace platform against real machine code in real stubs.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use veil_core::platform::{
    Access, AddressSpace, Context, CpuState, MemoryFile, Platform, PlatformError, Prot, Trap,
};
use veil_core::{FileOffset, UserAddr};
use veil_host::HostMemoryFile;
use veil_platform_ptrace::PtracePlatform;

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
    assert_eq!(vm.run(), Trap::Syscall);
    let r = vm.cpu.regs;
    assert_eq!(r.orig_rax, 0x1_0000);
    assert_eq!((r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9), (1, 2, 3, 4, 5, 6));
    assert_eq!(
        (r.rbx, r.rbp, r.r12, r.r13, r.r14, r.r15),
        (7, 8, 9, 10, 11, 12)
    );
    assert_eq!((r.cs, r.ss), (0x33, 0x2b));
    // The host did not run it: a host syscall 0x10000 would be -ENOSYS in
    // rax, but SYSEMU leaves what we set.
    vm.cpu.regs.rax = 77;
    assert_eq!(vm.run(), Trap::Syscall);
    assert_eq!(vm.cpu.regs.rip, CODE + 4);
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
fn write_fault_on_read_only_page_is_write() {
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
    // Unmapped: the kind is unknown, reported as a read.
    assert_eq!(
        vm.run(),
        Trap::PageFault {
            addr: 0x2000_0000,
            access: Access::Read
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
    // ud2
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
    // int3: SI_KERNEL, rip past it.
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
    // xor ecx, ecx; div ecx: FPE_INTDIV.
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
    // Returned to the caller, rax rolled back to the call's number (201,
    // time), as for any seccomp trap; the host computed nothing.
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
fn stub_maps_hold_only_the_stub_page() {
    let mut vm = Vm::new();
    let pid = vm.stub_pid();
    let stub = format!("{:x}-", vm.platform.stub_address());
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let lines: Vec<&str> = maps.lines().collect();
    assert_eq!(lines.len(), 2, "{maps}");
    assert!(
        lines[0].starts_with(&stub) && lines[0].contains("r-xp"),
        "{maps}"
    );
    assert!(lines[1].contains("[vsyscall]"), "{maps}");
    // Three threads: the leader, the executor thread, and (once the
    // context switches in) the application's.
    assert_eq!(task_count(pid), 2);
    vm.load(&[0xcc]);
    assert_eq!(
        vm.run(),
        Trap::Exception {
            signo: libc::SIGTRAP,
            code: 0x80,
            addr: 0
        }
    );
    assert_eq!(task_count(pid), 3);
    // Application mappings are the memory file and nothing else.
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    assert_eq!(maps.lines().count(), 3, "{maps}");
    assert!(
        maps.lines().next().unwrap().contains("veil-memory"),
        "{maps}"
    );
    // Only the memory file is open.
    let fds: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .collect();
    assert_eq!(fds.len(), 1);
    let target = std::fs::read_link(fds[0].as_ref().unwrap().path()).unwrap();
    assert!(
        target.to_string_lossy().contains("veil-memory"),
        "{target:?}"
    );
    let tid = vm.ctx.stub_tid().unwrap();
    // In the application's thread no signal is blocked (none has a
    // handler that could run: the stub is always resumed with none).
    let status = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).unwrap();
    assert!(status.contains("SigBlk:\t0000000000000000"), "{status}");
    assert!(status.contains("Seccomp:\t2"), "{status}");
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    assert!(
        status.contains(&format!("TracerPid:\t{}", this_tid())),
        "{status}"
    );
}

#[test]
fn max_user_address_is_below_the_stub() {
    let mf = Arc::new(HostMemoryFile::with_reserve(1 << 20).unwrap());
    let p = PtracePlatform::with_memory_file(mf, Default::default()).unwrap();
    assert_eq!(p.max_user_address(), p.stub_address());
    assert!(p.stub_address() >= 0x7f00_0000_0000);
    let space = p.new_ptrace_address_space().unwrap();
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
    let vm = Vm::new();
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
        !process_exists(pid),
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
        // The Sentry writes; the application sees it.
        vm.mf.write(off, &(want * 100).to_le_bytes()).unwrap();
        assert_eq!(vm.run(), Trap::Syscall);
        vm.mf.read(off, &mut b).unwrap();
        assert_eq!(u64::from_le_bytes(b), want * 100 + 1);
        vm.mf.write(off, &want.to_le_bytes()).unwrap();
    }
}

#[test]
fn fs_base_is_loaded() {
    let mut vm = Vm::new();
    vm.map_bytes(0x1000_0000, &0x1234_5678_9abc_u64.to_le_bytes(), Prot::READ);
    // mov rax, fs:[0]; exit(rax)
    vm.load(&concat(&[
        &[0x64, 0x48, 0x8b, 0x04, 0x25, 0, 0, 0, 0],
        &exit_with_rax(),
    ]));
    vm.cpu.regs.fs_base = 0x1000_0000;
    assert_eq!(vm.run(), Trap::Syscall);
    assert_eq!(vm.cpu.regs.rdi, 0x1234_5678_9abc);
    assert_eq!(vm.cpu.regs.fs_base, 0x1000_0000);
    // A bad base from core (or the application) does not break switch.
    vm.cpu.regs.fs_base = u64::MAX;
    vm.cpu.regs.cs = 0;
    vm.cpu.regs.rip = CODE;
    assert_eq!(
        vm.run(),
        Trap::PageFault {
            addr: 0,
            access: Access::Read
        }
    );
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
    // Fresh stubs start from the initial state, not the Sentry's.
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
    vm.ctx.reset_fp_state().unwrap();
    vm.ctx.fp_state(&mut st).unwrap();
    assert!(st[160..416].iter().all(|&b| b == 0));
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
    // A second address space, same context: movq rax, xmm0; syscall
    let space2: Arc<dyn AddressSpace> = vm.platform.new_ptrace_address_space().unwrap();
    let code = [0x66, 0x48, 0x0f, 0x7e, 0xc0, 0x0f, 0x05];
    let off = vm.alloc(&code, 1);
    space2
        .map(UserAddr(CODE), PAGE, off, Prot::READ | Prot::EXEC)
        .unwrap();
    vm.cpu.regs.rip = CODE;
    assert_eq!(vm.ctx.switch(&space2, &mut vm.cpu), Ok(Trap::Syscall));
    assert_eq!(vm.cpu.regs.rax, 0x77);
}

#[test]
fn interrupts() {
    let mut vm = Vm::new();
    vm.load(&JMP_SELF);
    // Before the switch: the switch returns at once.
    let irq = vm.ctx.interrupter();
    irq.interrupt();
    assert_eq!(vm.run(), Trap::Interrupted);
    assert_eq!(vm.cpu.regs.rip, CODE);
    // During: from another thread.
    for _ in 0..3 {
        let irq = vm.ctx.interrupter();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            irq.interrupt();
        });
        let start = Instant::now();
        // A stale signal from an earlier interrupt may end a switch early;
        // the one that ends after the interrupt was sent must come.
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
    // ... nor a forged SIGSEGV: it is not a fault.
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGSEGV) };
    assert_eq!(vm.run(), Trap::Interrupted);
    assert!(process_exists(pid));
}

#[test]
fn the_platform_trait_objects_work() {
    // As the runtime makes it: its own 64 GiB memory file.
    let p: Arc<dyn Platform> = Arc::new(PtracePlatform::new().unwrap());
    assert_eq!(p.name(), "ptrace");
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
    let p = PtracePlatform::with_memory_file(mf, Default::default()).unwrap();
    p.probe().unwrap();
    let mut pids = Vec::new();
    for _ in 0..20 {
        let s = p.new_ptrace_address_space().unwrap();
        pids.push(s.stub_pid());
    }
    assert_eq!(p.live_address_spaces(), 0);
    for pid in pids {
        assert!(!process_exists(pid), "stub {pid} leaked");
    }
}

#[test]
fn getpid_round_trip_cost() {
    for pin in [true, false] {
        let mut vm = Vm::with_options(veil_platform_ptrace::PtraceOptions { pin_stubs: pin });
        // loop: mov eax, 39; syscall; jmp loop
        vm.load(&concat(&[&mov_eax(39), &SYSCALL, &[0xeb, 0xf7]]));
        let n = 2000;
        for _ in 0..100 {
            assert_eq!(vm.run(), Trap::Syscall);
        }
        let t = Instant::now();
        for _ in 0..n {
            vm.run();
            vm.cpu.regs.rax = 1;
        }
        let ns = t.elapsed().as_nanos() / n;
        println!("ptrace getpid round trip (pin_stubs={pin}): {ns} ns");
        assert_eq!(vm.cpu.regs.orig_rax, 39);
    }
}

#[test]
fn map_from_another_thread_is_queued_and_another_thread_can_switch() {
    let mut vm = Vm::new();
    // mov rax, [0x10000000]; exit(rax)
    vm.load(&concat(&[
        &[0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x10],
        &exit_with_rax(),
    ]));
    let off = vm.alloc(&42u64.to_le_bytes(), 1);
    let space = vm.space.clone();
    let dynspace = vm.dynspace.clone();
    let ctx = vm.platform.new_ptrace_context();
    std::thread::spawn(move || {
        // No stub thread here and nothing running: queued, applied by the
        // next switch on any thread.
        space
            .map(UserAddr(0x1000_0000), PAGE, off, Prot::READ)
            .unwrap();
        // This thread runs the application too, in its own stub thread.
        let mut ctx = ctx;
        let mut cpu = CpuState::default();
        cpu.regs.rip = CODE;
        assert_eq!(ctx.switch(&dynspace, &mut cpu), Ok(Trap::Syscall));
        assert_eq!(cpu.regs.rdi, 42);
        assert_eq!(space.stub_threads(), vec![ctx.stub_tid().unwrap()]);
    })
    .join()
    .unwrap();
    assert_eq!(vm.run(), Trap::Syscall);
    assert_eq!(vm.cpu.regs.rdi, 42);
}

fn this_tid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}
