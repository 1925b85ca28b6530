//! The systrap platform against real machine code in real stubs.

mod common;

use common::*;
use veil_core::platform::{Access, Trap};

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
fn read_fault_then_map_and_resume() {
    let mut vm = Vm::new();
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
    assert_eq!(vm.cpu.regs.rip, CODE);
    vm.map_bytes(0x1000_0000, &0xdead_beef_u64.to_le_bytes(), veil_core::platform::Prot::READ);
    assert_eq!(vm.run(), Trap::Syscall);
    assert_eq!(vm.cpu.regs.rdi, 0xdead_beef);
}
