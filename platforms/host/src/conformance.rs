//! The platform conformance suite: what every [`Platform`] must do,
//! against real machine code, written once and generic over the
//! platform's [`Harness`].
//!
//! A platform's integration test file instantiates all of it with one
//! line, `veil_host::conformance_suite!(MyHarness);`, which makes a
//! `#[test]` for each function here (plus one that checks the list is
//! complete). Where platforms legitimately differ, the difference is a
//! [`Harness`] constant, never a weaker assertion. Tests of what only one
//! platform has (its stub's layout, its threading model) stay in its own
//! crate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use veil_core::platform::{
    Access, AddressSpace, Context, CpuState, MemoryFile, Platform, PlatformError, Prot, Trap,
};
use veil_core::{FileOffset, UserAddr};

use crate::testing::*;
use crate::HostMemoryFile;

/// Makes a `#[test]` for every test of [`crate::conformance`], run with
/// harness `$h`.
#[macro_export]
macro_rules! conformance_suite {
    ($h:ty) => {
        $crate::conformance_suite!(@tests $h;
            syscall_round_trip,
            syscall_arguments_and_registers_survive,
            host_syscalls_never_run,
            read_fault_then_map_and_resume,
            write_faults,
            exec_fault,
            exceptions,
            int80_is_not_a_syscall,
            vsyscall_raises_sigsys,
            the_sentry_is_invisible,
            max_user_address_is_below_the_stub,
            dropping_the_space_kills_the_stub,
            foreign_address_space_is_lost,
            unmap_and_protect_across_holes,
            unmap_takes_effect_on_a_running_thread,
            shared_memory_is_coherent_both_ways,
            fs_and_gs_base_are_loaded,
            fp_state_in_and_out,
            fp_state_follows_the_thread_to_a_new_space,
            interrupts,
            the_platform_trait_objects_work,
            many_spaces_and_no_leaks,
            several_contexts_run_in_one_space_at_once,
        );
    };
    (@tests $h:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance::$name::<$h>()
            }
        )*

        #[test]
        fn conformance_suite_is_complete() {
            $crate::conformance::assert_complete(&[$(stringify!($name)),*]);
        }
    };
}

/// Checks that `listed` (what [`crate::conformance_suite!`] instantiates) names
/// every test of this module.
pub fn assert_complete(listed: &[&str]) {
    let src = include_str!("conformance.rs");
    let defined: Vec<&str> = src
        .lines()
        .filter_map(|l| l.strip_prefix("pub fn "))
        .filter_map(|l| l.strip_suffix("<H: Harness>() {"))
        .collect();
    assert!(defined.len() > 20, "{defined:?}");
    for d in &defined {
        assert!(
            listed.contains(d),
            "conformance test {d} is not instantiated"
        );
    }
    assert_eq!(listed.len(), defined.len(), "{listed:?} vs {defined:?}");
}

/// `mov rax, [0x10000000]`
const LOAD_0X10000000: [u8; 8] = [0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x10];

/// A `getpid` (39) system call.
fn getpid() -> Vec<u8> {
    concat(&[&mov_eax(39), &SYSCALL])
}

/// Whether stub `pid` is alive (exists and is not a zombie).
fn stub_alive(pid: i32) -> bool {
    process_live(pid)
}

/// Waits up to 5 s for `gone` to hold.
fn wait_gone(what: &str, gone: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !gone() {
        assert!(Instant::now() < deadline, "{what} still there");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A system call traps with its number, arguments and return address;
/// the result core writes to rax reaches the application.
pub fn syscall_round_trip<H: Harness>() {
    let mut vm = Vm::<H>::new();
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

/// Every register goes in and comes out as it was; an unknown number is
/// still just a trap, and the host never runs it.
pub fn syscall_arguments_and_registers_survive<H: Harness>() {
    let mut vm = Vm::<H>::new();
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
    assert_eq!(r.rsp, 0xdead_0000, "any rsp works");
    assert_eq!((r.cs, r.ss), (0x33, 0x2b));
    // The host did not run it: a host syscall 0x10000 would be -ENOSYS in
    // rax. Change many registers at once: all of them arrive.
    vm.cpu.regs.rax = 77;
    vm.cpu.regs.rbx = 70;
    vm.cpu.regs.r15 = 71;
    assert_eq!(vm.run(), Trap::Syscall);
    assert_eq!(vm.cpu.regs.rip, CODE + 4);
    assert_eq!(vm.cpu.regs.orig_rax, 77);
    assert_eq!((vm.cpu.regs.rbx, vm.cpu.regs.r15), (70, 71));
}

/// exit_group is only a trap: the stub lives on.
pub fn host_syscalls_never_run<H: Harness>() {
    let mut vm = Vm::<H>::new();
    // exit_group(0) would kill the stub if the host ran it; then write.
    let code = concat(&[&mov_eax(231), &SYSCALL, &mov_eax(1), &SYSCALL]);
    vm.load(&code);
    vm.cpu.regs.rdi = 0;
    assert_eq!(vm.run(), Trap::Syscall);
    assert_eq!(vm.cpu.regs.orig_rax, 231);
    assert_eq!(vm.run(), Trap::Syscall);
    assert_eq!(vm.cpu.regs.orig_rax, 1);
    assert!(stub_alive(vm.stub_pid()));
}

/// A read of an unmapped page faults at the instruction; mapping the
/// page and switching again completes it.
pub fn read_fault_then_map_and_resume<H: Harness>() {
    let mut vm = Vm::<H>::new();
    // mov rax, [0x10000000]; mov rdi, rax; mov eax, 60; syscall
    vm.load(&concat(&[&LOAD_0X10000000, &exit_with_rax()]));
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

/// A write faults as a write on a read-only page (and, where the platform
/// knows the access kind exactly, on an unmapped one); once writable, the
/// write reaches the memory file.
pub fn write_faults<H: Harness>() {
    let mut vm = Vm::<H>::new();
    // mov dword [0x20000000], 0x11223344; mov eax, 60; syscall
    let code = concat(&[
        &[
            0xc7, 0x04, 0x25, 0x00, 0x00, 0x00, 0x20, 0x44, 0x33, 0x22, 0x11,
        ],
        &mov_eax(60),
        &SYSCALL,
    ]);
    vm.load(&code);
    // Unmapped: with the hardware error code the write is told apart;
    // without it (ptrace), the kind is unknown and reported as a read.
    let unmapped = if H::EXACT_FAULT_ACCESS {
        Access::Write
    } else {
        Access::Read
    };
    assert_eq!(
        vm.run(),
        Trap::PageFault {
            addr: 0x2000_0000,
            access: unmapped
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

/// A jump to an unmapped or non-executable page is an exec fault.
pub fn exec_fault<H: Harness>() {
    let mut vm = Vm::<H>::new();
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

/// CPU exceptions come back with Linux's signal, code and address.
pub fn exceptions<H: Harness>() {
    // ud2: SIGILL, ILL_ILLOPN.
    let mut vm = Vm::<H>::new();
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
    let mut vm = Vm::<H>::new();
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
    let mut vm = Vm::<H>::new();
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
    let mut vm = Vm::<H>::new();
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
    vm.load(&getpid());
    assert_eq!(vm.run(), Trap::Syscall);
}

/// `int 0x80` (the 32-bit ABI) is what Linux without IA32 emulation
/// makes of it: SIGSEGV, SI_KERNEL, rip at the instruction.
pub fn int80_is_not_a_syscall<H: Harness>() {
    let mut vm = Vm::<H>::new();
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

/// A call of the host's vsyscall page is a SIGSYS exception, returned to
/// the caller, the host having computed nothing.
pub fn vsyscall_raises_sigsys<H: Harness>() {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    if !maps.contains("[vsyscall]") {
        eprintln!("host has no vsyscall page; skipped");
        return;
    }
    let mut vm = Vm::<H>::new();
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

/// Nothing of the Sentry (its data, heap, memory-file mapping, stack) is
/// mapped in the application.
pub fn the_sentry_is_invisible<H: Harness>() {
    static SECRET: u64 = 0x5ec7e7;
    let heap = Box::new(0x5ec7e7u64);
    let vm = Vm::<H>::new();
    vm.mf.grow(PAGE).unwrap();
    for addr in [
        &SECRET as *const u64 as u64,
        &*heap as *const u64 as u64,
        vm.mf.as_ptr() as u64,
        &vm as *const Vm<H> as u64, // the stack
    ] {
        // movabs rax, [addr]; exit(rax)
        let mut code = vec![0x48, 0xa1];
        code.extend_from_slice(&addr.to_le_bytes());
        code.extend(exit_with_rax());
        let mut vm = Vm::<H>::new();
        vm.load(&code);
        match vm.run() {
            Trap::PageFault { addr: a, .. } => assert_eq!(a, addr),
            t => panic!("read of Sentry address {addr:#x} gave {t:?}"),
        }
    }
}

/// [`Platform::max_user_address`] fences off the stub, and the address
/// space refuses what lies above it (or is misaligned).
pub fn max_user_address_is_below_the_stub<H: Harness>() {
    let mf = Arc::new(HostMemoryFile::with_reserve(1 << 20).unwrap());
    let p = H::platform(mf, Default::default());
    assert_eq!(p.max_user_address(), H::stub_address(&p));
    assert!(H::stub_address(&p) >= 0x7f00_0000_0000);
    let space = H::new_space(&p);
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

/// The stub dies (and is reaped) with the last reference to its address
/// space, whether or not a context ever ran in it.
pub fn dropping_the_space_kills_the_stub<H: Harness>() {
    for switched in [false, true] {
        let mut vm = Vm::<H>::new();
        if switched {
            vm.load(&getpid());
            assert_eq!(vm.run(), Trap::Syscall);
        }
        let pid = vm.stub_pid();
        assert!(stub_alive(pid));
        assert_eq!(H::live_address_spaces(&vm.platform), 1);
        let Vm {
            platform,
            space,
            dynspace,
            ctx,
            ..
        } = vm;
        drop(space);
        assert!(stub_alive(pid), "core's Arc still holds it");
        drop(dynspace);
        assert!(
            !pid_exists(pid),
            "stub {pid} survived its address space (switched: {switched})"
        );
        assert_eq!(H::live_address_spaces(&platform), 0);
        // No zombie either: nothing is left to wait for.
        // SAFETY: waitpid with a null status pointer, which it allows.
        let r = unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG | libc::__WALL) };
        assert_eq!(r, -1);
        drop(ctx);
    }
}

/// A context switched into an address space of another platform (or
/// none) is lost, not confused.
pub fn foreign_address_space_is_lost<H: Harness>() {
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
    let mut vm = Vm::<H>::new();
    let other: Arc<dyn AddressSpace> = Arc::new(NotOurs);
    assert_eq!(vm.ctx.switch(&other, &mut vm.cpu), Err(PlatformError::Lost));
}

/// `protect` and `unmap` over a span with holes apply to what is mapped.
pub fn unmap_and_protect_across_holes<H: Harness>() {
    let mut vm = Vm::<H>::new();
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
    vm.load(&concat(&[&LOAD_0X10000000, &exit_with_rax()]));
    assert_eq!(
        vm.run(),
        Trap::PageFault {
            addr: 0x1000_0000,
            access: Access::Read
        }
    );
}

/// An unmap from another host thread takes effect on a thread running
/// in the space, without an interrupt.
pub fn unmap_takes_effect_on_a_running_thread<H: Harness>() {
    let mut vm = Vm::<H>::new();
    vm.map_bytes(0x1000_0000, &[1; 8], Prot::READ);
    // loop: mov rax, [0x10000000]; jmp loop
    vm.load(&concat(&[&LOAD_0X10000000, &[0xeb, 0xf6]]));
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

/// The application and the Sentry see each other's writes to the memory
/// file at once.
pub fn shared_memory_is_coherent_both_ways<H: Harness>() {
    let mut vm = Vm::<H>::new();
    let off = vm.map_bytes(0x1000_0000, &5u64.to_le_bytes(), Prot::READ | Prot::WRITE);
    // mov rax, [0x10000000]; add rax, 1; mov [0x10000000], rax; syscall; jmp back
    let code = concat(&[
        &LOAD_0X10000000,
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

/// `fs_base` and `gs_base` are loaded and reported; the application's
/// own `wrfsbase` is seen; bad bases and selectors never break switch.
pub fn fs_and_gs_base_are_loaded<H: Harness>() {
    let mut vm = Vm::<H>::new();
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

/// The FP state starts in Linux's initial state, goes in and comes out,
/// persists, resets, and hostile images never fail a switch.
pub fn fp_state_in_and_out<H: Harness>() {
    let mut vm = Vm::<H>::new();
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

/// A context switched into a second address space (execve) takes its FP
/// state along; its thread in the first space stays or goes as the
/// platform documents ([`Harness::KEEPS_A_THREAD_PER_SPACE`]).
pub fn fp_state_follows_the_thread_to_a_new_space<H: Harness>() {
    let mut vm = Vm::<H>::new();
    // movq xmm0, rdi; syscall
    vm.load(&[0x66, 0x48, 0x0f, 0x6e, 0xc7, 0x0f, 0x05]);
    vm.cpu.regs.rdi = 0x77;
    assert_eq!(vm.run(), Trap::Syscall);
    let old_tid = vm.stub_tid().unwrap();
    // A second address space, same context: movq rax, xmm0; syscall
    let space2: Arc<dyn AddressSpace> = H::new_space(&vm.platform);
    let code = [0x66, 0x48, 0x0f, 0x7e, 0xc0, 0x0f, 0x05];
    let off = vm.alloc(&code, 1);
    space2
        .map(UserAddr(CODE), PAGE, off, Prot::READ | Prot::EXEC)
        .unwrap();
    vm.cpu.regs.rip = CODE;
    assert_eq!(vm.ctx.switch(&space2, &mut vm.cpu), Ok(Trap::Syscall));
    assert_eq!(vm.cpu.regs.rax, 0x77);
    assert_ne!(vm.stub_tid(), Some(old_tid));
    let pid = vm.stub_pid();
    if H::KEEPS_A_THREAD_PER_SPACE {
        assert!(task_exists(pid, old_tid), "the first space's thread stays");
    } else {
        wait_gone("old stub thread", || !task_exists(pid, old_tid));
    }
    assert!(stub_alive(pid), "only the thread went");
}

/// Interrupts end a switch (before it or during it, from another
/// thread); host signals from outside, even forged faults and SIGSYS, are
/// never delivered: they are interrupts too.
pub fn interrupts<H: Harness>() {
    let mut vm = Vm::<H>::new();
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
    assert!(stub_alive(pid));
    // ... nor a forged SIGSEGV, to the process ...
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGSEGV) };
    assert_eq!(vm.run(), Trap::Interrupted);
    assert!(stub_alive(pid));
    // ... or to the thread, nor a SIGSYS: they are not faults or calls.
    let tid = vm.stub_tid().unwrap();
    for sig in [libc::SIGSEGV, libc::SIGSYS] {
        // SAFETY: signalling a thread of our own live child.
        unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, sig) };
        assert_eq!(vm.run(), Trap::Interrupted);
    }
    assert!(stub_alive(pid));
    assert_eq!(vm.cpu.regs.rip, CODE);
}

/// The platform as core holds it: `dyn Platform`, `dyn AddressSpace`,
/// `Box<dyn Context>`, over its own memory file.
pub fn the_platform_trait_objects_work<H: Harness>() {
    // As the runtime makes it: its own 64 GiB memory file.
    let p: Arc<dyn Platform> = Arc::new(H::default_platform());
    assert_eq!(p.name(), H::NAME);
    let space = p.new_address_space().unwrap();
    let mut ctx = p.new_context().unwrap();
    let mf = p.memory_file();
    mf.grow(PAGE).unwrap();
    mf.write(FileOffset(0), &getpid()).unwrap();
    space
        .map(UserAddr(CODE), PAGE, FileOffset(0), Prot::READ | Prot::EXEC)
        .unwrap();
    let mut cpu = CpuState::default();
    cpu.regs.rip = CODE;
    assert_eq!(ctx.switch(&space, &mut cpu), Ok(Trap::Syscall));
    assert_eq!(cpu.regs.orig_rax, 39);
}

/// Address spaces made and dropped leave no stub behind.
pub fn many_spaces_and_no_leaks<H: Harness>() {
    let mf = Arc::new(HostMemoryFile::with_reserve(1 << 20).unwrap());
    let p = H::platform(mf, Default::default());
    H::probe(&p);
    let mut pids = Vec::new();
    for _ in 0..20 {
        let s = H::new_space(&p);
        pids.push(H::stub_pid(&s));
    }
    assert_eq!(H::live_address_spaces(&p), 0);
    for pid in pids {
        assert!(!pid_exists(pid), "stub {pid} leaked");
    }
}

/// Several contexts, each on its own host thread and stub thread, run in
/// one address space at once, while another thread maps and unmaps in it.
pub fn several_contexts_run_in_one_space_at_once<H: Harness>() {
    let mut vm = Vm::<H>::new();
    // loop: mov eax, 39; syscall; jmp loop
    vm.load(&concat(&[&getpid(), &[0xeb, 0xf7]]));
    let threads: Vec<_> = (0..4u64)
        .map(|i| {
            let mut ctx = H::new_context(&vm.platform);
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
                H::stub_tid(&ctx).unwrap()
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
