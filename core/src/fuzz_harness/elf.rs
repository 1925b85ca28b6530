//! The ELF loader harness: arbitrary bytes as an executable.
//!
//! The input is installed as `/bin/x` (mode 0755) and as `/lib/x.so`, next
//! to a valid static program (`/bin/prog`) and a valid interpreter
//! (`/lib/ld.so`), so that a `PT_INTERP` or a `#!` line in the input can
//! name something real, the input itself, or nothing. execve of `/bin/x`
//! must answer an errno or produce an image whose initial stack is what
//! the System V ABI says: `rsp` 16-byte aligned, pointing at `argc`,
//! followed by `argc` argv pointers to NUL-terminated strings and a NULL,
//! the envp pointers and a NULL, then the auxiliary vector ending with
//! `AT_NULL`. The new image then runs a few steps (fetching at the entry
//! point, touching the stack) until it exits or is killed.

use alloc::vec;
use alloc::vec::Vec;

use veil_abi::elf::*;

use super::syscalls::tiny_elf;
use super::Bed;
use crate::fake::{ElfBuilder, Step};
use crate::vfs::{Inode, SetAttr};
use crate::UserAddr;

/// A small position-independent interpreter.
pub fn tiny_interp() -> Vec<u8> {
    ElfBuilder::new(ET_DYN, 0x1000)
        .segment(0x1000, &[0x90; 32], 32, PF_R | PF_X)
        .build()
}

/// Runs one input. Panics if core panicked or built a broken image.
pub fn run_elf(data: &[u8]) {
    let bed = Bed::new(false, 0);
    let mode = SetAttr {
        mode: Some(0o755),
        ..SetAttr::default()
    };
    let (Ok(bin), Ok(lib)) = (bed.root.add_dir(b"bin"), bed.root.add_dir(b"lib")) else {
        return;
    };
    for (dir, name, body) in [
        (&bin, &b"prog"[..], tiny_elf()),
        (&bin, &b"x"[..], data.to_vec()),
        (&lib, &b"ld.so"[..], tiny_interp()),
        (&lib, &b"x.so"[..], data.to_vec()),
    ] {
        if let Ok(f) = dir.add_file(name, &body) {
            let _ = f.set_attr(&mode);
        }
    }
    let mut t = bed.task();
    let argv = vec![b"x".to_vec(), b"one".to_vec()];
    let envp = vec![b"A=1".to_vec()];
    if crate::loader::exec(&mut t, b"/bin/x", argv, envp).is_err() {
        drop(t);
        bed.finish();
        return;
    }
    check_stack(&t);
    let (rip, rsp) = (t.cpu.regs.rip, t.cpu.regs.rsp);
    let steps = vec![
        Step::Exec(rip),
        Step::Read(rsp, 64),
        Step::Write(rsp.wrapping_sub(256), vec![1; 64]),
    ];
    let mut ctx = bed.platform.fake.context(steps);
    bed.kernel.run(&mut t, &mut ctx);
    bed.kernel.exit_task(&mut t);
    drop((t, ctx));
    bed.finish();
}

fn word(t: &crate::task::Task, at: u64) -> u64 {
    t.mm.read_obj::<u64>(UserAddr(at))
        .unwrap_or_else(|e| panic!("initial stack word at {at:#x} unreadable: {e:?}"))
}

fn check_stack(t: &crate::task::Task) {
    let rsp = t.cpu.regs.rsp;
    assert_eq!(rsp % 16, 0, "initial rsp {rsp:#x} not 16-byte aligned");
    let argc = word(t, rsp);
    assert!((1..=64).contains(&argc), "argc {argc}");
    let mut at = rsp + 8;
    for _ in 0..argc {
        let p = word(t, at);
        t.mm.read_cstring(UserAddr(p), 4096)
            .unwrap_or_else(|e| panic!("argv string at {p:#x}: {e:?}"));
        at += 8;
    }
    assert_eq!(word(t, at), 0, "argv not NULL-terminated");
    at += 8;
    let mut n = 0;
    while word(t, at) != 0 {
        let p = word(t, at);
        t.mm.read_cstring(UserAddr(p), 4096)
            .unwrap_or_else(|e| panic!("envp string at {p:#x}: {e:?}"));
        at += 8;
        n += 1;
        assert!(n <= 64, "envp does not end");
    }
    at += 8;
    for _ in 0..64 {
        let (key, _) = (word(t, at), word(t, at + 8));
        if key == 0 {
            return;
        }
        at += 16;
    }
    panic!("auxv does not end with AT_NULL");
}
