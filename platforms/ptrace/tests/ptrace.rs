//! The ptrace platform against real machine code in real stubs: the
//! shared conformance suite (`veil_host::conformance`), and what only
//! ptrace has.

mod common;

use common::*;
use veil_core::platform::{AddressSpace, Context, CpuState, Prot, Trap};
use veil_core::UserAddr;

veil_host::conformance_suite!(Ptrace);

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
fn getpid_round_trip_cost() {
    for pin in [true, false] {
        let mut vm = Vm::with_options(veil_platform_ptrace::PtraceOptions { pin_stubs: pin });
        vm.load(&GETPID_LOOP);
        let (median, mean) = round_trips(&mut vm.ctx, &vm.dynspace, &mut vm.cpu, 100, 2000);
        println!("ptrace getpid round trip (pin_stubs={pin}): median {median} ns, mean {mean} ns");
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
