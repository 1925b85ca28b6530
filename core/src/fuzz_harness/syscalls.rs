//! The syscall-sequence harness: programs of several tasks run against
//! core on the fake platform.
//!
//! An input (decoded with `arbitrary`) is a [`Program`]: scripts for up to
//! three top-level tasks, scripts handed to the tasks that fork, vfork and
//! clone make (in the order they are made), and a few extra files. Each
//! script step is a system call (a served number or any number, with
//! arguments that are small integers, fds, pointers into the task's
//! scratch memory or stack, prepared paths, pids, signal numbers or raw
//! words), a load, store or instruction fetch (so memory contents are
//! arbitrary and faults happen), a signal sent from the host, or time
//! passing. Top-level tasks run one after the other over one kernel and
//! filesystem; a forked child or new thread runs to its end inside the
//! parent's call (the inline spawner), so parents see zombies, exit
//! signals and changed files.
//!
//! What it checks beyond "no panic, no hang": no kernel-internal errno
//! (ERESTART*) reaches the application, and once every task is gone no
//! futex waiter and no memory-file page is left.

use alloc::sync::Arc;
use alloc::vec::Vec;

use arbitrary::{Arbitrary, Unstructured};
use veil_abi::{sysno, Errno, PAGE_SIZE};

use super::{put_cstr, Bed, SCRATCH, SCRATCH_LEN, STACK, STACK_LEN};
use crate::fake::{ElfBuilder, Step};
use crate::vfs::{Inode, SetAttr};

/// Most steps one script may have.
pub const MAX_STEPS: usize = 64;
/// Most tasks fork and clone may make in one run.
pub const MAX_SPAWNS: u32 = 6;

/// Paths written at the start of the scratch area (64 bytes apart).
pub const PATHS: &[&[u8]] = &[
    b"/",
    b"/f",
    b"/d",
    b"/d/g",
    b"/l",
    b"/loop",
    b"/bin/prog",
    b"/bin/script",
    b"/new",
    b"/d/new",
    b"f",
    b"..",
    b"/d/../f",
    b"/nonexistent/x",
    b"",
    b"/f/",
];

/// One program: what each task runs.
#[derive(Arbitrary, Debug)]
pub struct Program {
    /// Scripts of the top-level tasks (the first three are used).
    pub tasks: Vec<Script>,
    /// Scripts of the tasks fork / clone make, in order.
    pub children: Vec<Script>,
    /// Extra files in `/d` (name index, contents).
    pub files: Vec<(u8, Vec<u8>)>,
}

/// A task's steps.
#[derive(Arbitrary, Debug)]
pub struct Script(pub Vec<Action>);

/// One step.
#[derive(Arbitrary, Debug)]
pub enum Action {
    /// A system call.
    Call(Nr, [Arg; 6]),
    /// Load bytes.
    Load(Addr, u8),
    /// Store bytes.
    Store(Addr, Vec<u8>),
    /// Fetch an instruction.
    Fetch(Addr),
    /// A signal from outside the sandbox to process `pid`.
    HostSignal(u8, u8),
    /// Time passes (nanoseconds).
    Sleep(u32),
}

/// A system call number.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Nr {
    /// The n-th served syscall (modulo their count).
    Served(u16),
    /// Any number.
    Raw(u16),
}

/// An address.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Addr {
    /// In the scratch area.
    Scratch(u16),
    /// In the stack area.
    Stack(u16),
    /// Anywhere.
    Raw(u64),
}

/// A syscall argument.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Arg {
    /// 0.
    Zero,
    /// A small number.
    Small(u8),
    /// An fd (or -1, AT_FDCWD).
    Fd(i8),
    /// A pointer.
    Ptr(Addr),
    /// One of [`PATHS`].
    Path(u8),
    /// A length.
    Len(u16),
    /// Flags.
    Flags(u32),
    /// A signed int.
    Int(i32),
    /// Anything.
    Raw(u64),
}

fn addr(a: Addr) -> u64 {
    match a {
        Addr::Scratch(o) => SCRATCH + o as u64 % SCRATCH_LEN,
        Addr::Stack(o) => STACK + o as u64 % STACK_LEN,
        Addr::Raw(r) => r,
    }
}

fn arg(a: Arg) -> u64 {
    match a {
        Arg::Zero => 0,
        Arg::Small(v) => v as u64,
        Arg::Fd(v) => {
            if v == -100 {
                veil_abi::flags::AT_FDCWD as u32 as u64
            } else {
                v as i64 as u64
            }
        }
        Arg::Ptr(p) => addr(p),
        Arg::Path(i) => SCRATCH + 64 * (i as u64 % PATHS.len() as u64),
        Arg::Len(l) => l as u64,
        Arg::Flags(f) => f as u64,
        Arg::Int(i) => i as i64 as u64,
        Arg::Raw(r) => r,
    }
}

/// The served syscall numbers.
fn served() -> Vec<u64> {
    (0..sysno::COUNT as u64)
        .filter(|&n| crate::syscalls::support(n))
        .collect()
}

fn steps(bed: &Bed, script: &Script, served: &[u64]) -> Vec<Step> {
    let mut out = Vec::new();
    for a in script.0.iter().take(MAX_STEPS) {
        out.push(match a {
            Action::Call(nr, args) => {
                let nr = match *nr {
                    Nr::Served(i) => served[i as usize % served.len()],
                    Nr::Raw(n) => n as u64,
                };
                Step::Syscall(nr, args.map(arg))
            }
            Action::Load(at, len) => Step::Read(addr(*at), *len as usize),
            Action::Store(at, data) => Step::Write(addr(*at), data[..data.len().min(256)].to_vec()),
            Action::Fetch(at) => Step::Exec(addr(*at)),
            Action::HostSignal(pid, sig) => {
                let kernel = Arc::downgrade(&bed.kernel);
                let (pid, sig) = (*pid as i32 % 12, *sig as i32 % 66);
                Step::Check(alloc::boxed::Box::new(move |_| {
                    if let Some(k) = kernel.upgrade() {
                        let _ = crate::signal::kill_from_host(&k, pid, sig);
                    }
                }))
            }
            Action::Sleep(ns) => {
                let clock = bed.clock.clone();
                let ns = *ns as u64;
                Step::Check(alloc::boxed::Box::new(move |_| clock.advance(ns)))
            }
        });
    }
    out
}

/// The program as text, one step a line, syscalls by name (for reading
/// a crash).
pub fn describe(prog: &Program) -> alloc::string::String {
    use core::fmt::Write;
    let served = served();
    let mut out = alloc::string::String::new();
    let scripts = prog.tasks.iter().take(3).map(|s| ("task", s)).chain(
        prog.children
            .iter()
            .take(MAX_SPAWNS as usize)
            .map(|s| ("child", s)),
    );
    for (who, s) in scripts {
        let _ = writeln!(out, "{who}:");
        for a in s.0.iter().take(MAX_STEPS) {
            match a {
                Action::Call(nr, args) => {
                    let nr = match *nr {
                        Nr::Served(i) => served[i as usize % served.len()],
                        Nr::Raw(n) => n as u64,
                    };
                    let name = sysno::name(nr).unwrap_or("?");
                    let args: Vec<u64> = args.iter().map(|&a| arg(a)).collect();
                    let _ = writeln!(out, "  {name}({nr}) {args:x?}");
                }
                a => {
                    let _ = writeln!(out, "  {a:?}");
                }
            }
        }
    }
    out
}

/// Record kinds of [`flatten`]'s format.
pub mod flat {
    /// `u64 nr, [u64; 6] args`: a system call.
    pub const CALL: u8 = 1;
    /// `u64 addr, u16 len, bytes`: a store.
    pub const STORE: u8 = 2;
    /// `u64 addr, u8 len`: a load.
    pub const LOAD: u8 = 3;
    /// `u64 addr`: an instruction fetch (a call to the address).
    pub const FETCH: u8 = 4;
    /// `u32 ns`: time passes.
    pub const SLEEP: u8 = 5;
    /// The next top-level task's steps follow.
    pub const TASK: u8 = 6;
}

/// The input as a flat list of steps for a program that replays it with
/// real system calls (tests/helpers/fuzzexec.c, run under the real veil
/// binary): each top-level task's steps after a [`flat::TASK`] record,
/// syscall numbers and arguments resolved exactly as [`run_program`]
/// resolves them. Children's scripts are not replayed (a real fork's child
/// runs on in its parent's script) and host signals are left out. `None`
/// if the input does not decode.
pub fn flatten(data: &[u8]) -> Option<Vec<u8>> {
    let prog = Program::arbitrary(&mut Unstructured::new(data)).ok()?;
    let served = served();
    let mut out = Vec::new();
    for script in prog.tasks.iter().take(3) {
        out.push(flat::TASK);
        for a in script.0.iter().take(MAX_STEPS) {
            match a {
                Action::Call(nr, args) => {
                    let nr = match *nr {
                        Nr::Served(i) => served[i as usize % served.len()],
                        Nr::Raw(n) => n as u64,
                    };
                    out.push(flat::CALL);
                    out.extend_from_slice(&nr.to_le_bytes());
                    for a in args {
                        out.extend_from_slice(&arg(*a).to_le_bytes());
                    }
                }
                Action::Store(at, bytes) => {
                    let bytes = &bytes[..bytes.len().min(256)];
                    out.push(flat::STORE);
                    out.extend_from_slice(&addr(*at).to_le_bytes());
                    out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
                    out.extend_from_slice(bytes);
                }
                Action::Load(at, len) => {
                    out.push(flat::LOAD);
                    out.extend_from_slice(&addr(*at).to_le_bytes());
                    out.push(*len);
                }
                Action::Fetch(at) => {
                    out.push(flat::FETCH);
                    out.extend_from_slice(&addr(*at).to_le_bytes());
                }
                Action::Sleep(ns) => {
                    out.push(flat::SLEEP);
                    out.extend_from_slice(&ns.to_le_bytes());
                }
                Action::HostSignal(..) => {}
            }
        }
    }
    Some(out)
}

/// A small static executable: one page of code at 0x401000.
pub fn tiny_elf() -> Vec<u8> {
    use veil_abi::elf::*;
    ElfBuilder::new(ET_EXEC, 0x40_1000)
        .segment(0x40_1000, &[0x90; 64], 64, PF_R | PF_X)
        .segment(0x40_3000, &[1; 16], 0x2000, PF_R | PF_W)
        .build()
}

fn executable(node: &Arc<super::memfs::MemNode>) {
    let _ = node.set_attr(&SetAttr {
        mode: Some(0o755),
        ..SetAttr::default()
    });
}

/// The filesystem every run starts with.
fn populate(bed: &Bed, files: &[(u8, Vec<u8>)]) {
    let root = &bed.root;
    let _ = root.add_file(b"f", b"hello, world\n");
    if let Ok(d) = root.add_dir(b"d") {
        let _ = d.add_file(b"g", &[0u8; 100]);
        for (name, data) in files.iter().take(8) {
            let name = [b'h', b'0' + name % 10];
            let _ = d.add_file(&name, &data[..data.len().min(4096)]);
        }
    }
    let _ = root.add_symlink(b"l", b"/f");
    let _ = root.add_symlink(b"loop", b"/loop");
    if let Ok(bin) = root.add_dir(b"bin") {
        if let Ok(p) = bin.add_file(b"prog", &tiny_elf()) {
            executable(&p);
        }
        if let Ok(s) = bin.add_file(b"script", b"#!/bin/prog -x\n") {
            executable(&s);
        }
    }
}

/// Runs one input. Panics if core panicked or broke a checked property.
pub fn run_syscalls(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(prog) = Program::arbitrary(&mut u) else {
        return;
    };
    run_program(&prog);
}

/// Runs a decoded program (see the module docs).
pub fn run_program(prog: &Program) {
    let served = served();
    let bed = Bed::new(false, MAX_SPAWNS);
    populate(&bed, &prog.files);
    for child in prog.children.iter().take(MAX_SPAWNS as usize) {
        bed.platform.queue(steps(&bed, child, &served));
    }
    let mut logs = Vec::new();
    for script in prog.tasks.iter().take(3) {
        let mut task = bed.task();
        for (i, p) in PATHS.iter().enumerate() {
            put_cstr(&task, SCRATCH + 64 * i as u64, p);
        }
        let mut ctx = bed.platform.fake.context(steps(&bed, script, &served));
        logs.push(ctx.log());
        bed.kernel.run(&mut task, &mut ctx);
        bed.kernel.exit_task(&mut task);
    }
    for log in logs {
        for &r in &log.lock().results {
            let e = (r as i64).wrapping_neg();
            assert!(
                !(512..=516).contains(&e),
                "a kernel-internal errno reached the application: -{e}"
            );
        }
    }
    assert_eq!(
        bed.kernel.futexes.waiters(),
        0,
        "futex waiters left after every task ended"
    );
    bed.finish();
    let _ = (Errno::EINVAL, PAGE_SIZE);
}
