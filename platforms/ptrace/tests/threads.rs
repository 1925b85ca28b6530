//! Multi-threaded application processes on the ptrace platform: several
//! host threads, each with its own context, running in one address space
//! at once.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::*;
use veil_core::platform::{
    Access, AddressSpace, Context, CpuState, MemoryFile, Platform, PlatformError, Prot, Trap,
};
use veil_core::{FileOffset, UserAddr};
use veil_host::HostMemoryFile;
use veil_platform_ptrace::{PtraceContext, PtracePlatform};

const DATA: u64 = 0x1000_0000;
const FLAG: u64 = 0x2000_0000;

/// `inc qword [rbx]; syscall; jmp back`: one increment per trap.
const COUNT: [u8; 7] = [0x48, 0xff, 0x03, 0x0f, 0x05, 0xeb, 0xf9];
/// `xor eax, eax; loop: add rax, [rdx]; add rdx, 8; dec ecx; jnz loop;
/// syscall`: the sum of `rcx` words at `rdx`, reported as the syscall
/// number.
const SUM: [u8; 15] = [
    0x31, 0xc0, 0x48, 0x03, 0x02, 0x48, 0x83, 0xc2, 0x08, 0xff, 0xc9, 0x75, 0xf5, 0x0f, 0x05,
];
const SUM_AT: u64 = CODE + 0x100;
/// `mov rax, fs:[0]; syscall`.
const FS_LOAD: [u8; 11] = [0x64, 0x48, 0x8b, 0x04, 0x25, 0, 0, 0, 0, 0x0f, 0x05];
const FS_AT: u64 = CODE + 0x200;
/// `loop: mov rax, [FLAG]; test rax, rax; jz loop; syscall`.
const WAIT_FLAG: [u8; 15] = [
    0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x20, 0x48, 0x85, 0xc0, 0x74, 0xf3, 0x0f, 0x05,
];
const WAIT_FLAG_AT: u64 = CODE + 0x300;
/// `loop: mov rax, [FLAG]; jmp loop`.
const READ_FLAG_FOREVER: [u8; 10] = [0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x20, 0xeb, 0xf6];
const READ_FLAG_AT: u64 = CODE + 0x400;
const JMP_SELF_AT: u64 = CODE + 0x500;
/// `syscall`.
const TRAP_AT: u64 = CODE + 0x600;

/// A VM whose code page holds every routine above.
fn vm() -> Vm {
    let mut vm = Vm::new();
    let mut code = vec![0u8; PAGE as usize];
    let mut put = |at: u64, bytes: &[u8]| {
        let o = (at - CODE) as usize;
        code[o..o + bytes.len()].copy_from_slice(bytes);
    };
    put(CODE, &COUNT);
    put(SUM_AT, &SUM);
    put(FS_AT, &FS_LOAD);
    put(WAIT_FLAG_AT, &WAIT_FLAG);
    put(READ_FLAG_AT, &READ_FLAG_FOREVER);
    put(JMP_SELF_AT, &JMP_SELF);
    put(TRAP_AT, &SYSCALL);
    vm.load(&code);
    vm
}

fn read_u64(mf: &HostMemoryFile, off: FileOffset) -> u64 {
    let mut b = [0u8; 8];
    mf.read(off, &mut b).unwrap();
    u64::from_le_bytes(b)
}

fn cpu_at(rip: u64) -> CpuState {
    let mut cpu = CpuState::default();
    cpu.regs.rip = rip;
    cpu
}

/// Switches until something other than an interrupt comes back.
fn run(ctx: &mut PtraceContext, space: &Arc<dyn AddressSpace>, cpu: &mut CpuState) -> Trap {
    loop {
        match ctx.switch(space, cpu).unwrap() {
            Trap::Interrupted => continue,
            t => return t,
        }
    }
}

/// `n` host threads count in a shared page (mapped lazily, by whichever
/// thread faults first), each checking its own count after every trap
/// and watching the others' grow; then each sums all the counters in the
/// application and must see every other thread's writes.
fn count_together(n: usize, rounds: u64) {
    let mut vm = vm();
    let data = vm.alloc(&[], 1);
    let faults = AtomicUsize::new(0);
    let barrier = Barrier::new(n);
    let vm = &vm;
    std::thread::scope(|s| {
        for i in 0..n {
            let (faults, barrier) = (&faults, &barrier);
            s.spawn(move || {
                let mut ctx = vm.platform.new_ptrace_context();
                let mut cpu = cpu_at(CODE);
                cpu.regs.rbx = DATA + 8 * i as u64;
                let mine = FileOffset(data.0 + 8 * i as u64);
                let mut k = 0;
                while k < rounds {
                    match run(&mut ctx, &vm.dynspace, &mut cpu) {
                        Trap::PageFault { addr, .. } => {
                            assert_eq!(addr, DATA + 8 * i as u64);
                            faults.fetch_add(1, Ordering::Relaxed);
                            vm.space
                                .map(UserAddr(DATA), PAGE, data, Prot::READ | Prot::WRITE)
                                .unwrap();
                        }
                        Trap::Syscall => {
                            k += 1;
                            assert_eq!(read_u64(&vm.mf, mine), k, "thread {i}");
                        }
                        t => panic!("thread {i}: {t:?}"),
                    }
                }
                barrier.wait();
                // Everyone is done: the sum, computed by the application.
                let mut cpu = cpu_at(SUM_AT);
                cpu.regs.rcx = n as u64;
                cpu.regs.rdx = DATA;
                assert_eq!(run(&mut ctx, &vm.dynspace, &mut cpu), Trap::Syscall);
                assert_eq!(cpu.regs.orig_rax, n as u64 * rounds, "thread {i}");
                barrier.wait();
            });
        }
    });
    let f = faults.load(Ordering::Relaxed);
    assert!((1..=n).contains(&f), "{f} faults");
    // Every context was dropped on its thread: its stub thread is gone.
    assert_eq!(vm.space.stub_threads(), Vec::<i32>::new());
    assert_eq!(task_count(vm.stub_pid()), 2, "leader and executor thread");
}

#[test]
fn two_threads_share_memory() {
    count_together(2, 300);
}

#[test]
fn eight_threads_share_memory() {
    count_together(8, 100);
}

#[test]
fn a_fault_resolved_by_one_thread_serves_the_others() {
    let vm = vm();
    let off = vm.mf.size();
    vm.mf.grow(off + PAGE).unwrap();
    vm.mf.write(FileOffset(off), &7u64.to_le_bytes()).unwrap();
    let vm = &vm;
    // mov rax, [FLAG] from WAIT_FLAG: faults until mapped, then traps
    // with the value.
    let first = std::thread::scope(|s| {
        s.spawn(|| {
            let mut ctx = vm.platform.new_ptrace_context();
            let mut cpu = cpu_at(WAIT_FLAG_AT);
            assert_eq!(
                run(&mut ctx, &vm.dynspace, &mut cpu),
                Trap::PageFault {
                    addr: FLAG,
                    access: Access::Read
                }
            );
            vm.space
                .map(UserAddr(FLAG), PAGE, FileOffset(off), Prot::READ)
                .unwrap();
            assert_eq!(run(&mut ctx, &vm.dynspace, &mut cpu), Trap::Syscall);
            assert_eq!(cpu.regs.orig_rax, 7);
            ctx.stub_tid().unwrap()
        })
        .join()
        .unwrap()
    });
    let second = std::thread::scope(|s| {
        s.spawn(|| {
            let mut ctx = vm.platform.new_ptrace_context();
            let mut cpu = cpu_at(WAIT_FLAG_AT);
            // No fault: the page the other thread mapped is there.
            assert_eq!(run(&mut ctx, &vm.dynspace, &mut cpu), Trap::Syscall);
            assert_eq!(cpu.regs.orig_rax, 7);
            ctx.stub_tid().unwrap()
        })
        .join()
        .unwrap()
    });
    assert_ne!(first, second, "each context has its own stub thread");
}

/// Thread B spins until the word at FLAG is non-zero; `change` (run on
/// another host thread once B is running) makes it so by remapping FLAG.
fn remap_while_running(change: impl FnOnce(&Vm, FileOffset) + Send) {
    let vm = vm();
    let zero = vm.mf.size();
    vm.mf.grow(zero + 2 * PAGE).unwrap();
    let full = FileOffset(zero + PAGE);
    vm.mf.write(full, &42u64.to_le_bytes()).unwrap();
    vm.space
        .map(UserAddr(FLAG), PAGE, FileOffset(zero), Prot::READ)
        .unwrap();
    let vm = &vm;
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let b = s.spawn(|| {
            let mut ctx = vm.platform.new_ptrace_context();
            let mut cpu = cpu_at(WAIT_FLAG_AT);
            let mut interrupts = 0;
            let trap = loop {
                match ctx.switch(&vm.dynspace, &mut cpu).unwrap() {
                    Trap::Interrupted => interrupts += 1,
                    t => break t,
                }
            };
            done.store(true, Ordering::SeqCst);
            assert_eq!(trap, Trap::Syscall);
            assert_eq!(cpu.regs.orig_rax, 42);
            interrupts
        });
        // Wait until B's stub thread spins in the application.
        wait_for_running_thread(vm);
        std::thread::sleep(Duration::from_millis(20));
        assert!(!done.load(Ordering::SeqCst));
        change(vm, full);
        let interrupts = b.join().unwrap();
        assert_eq!(interrupts, 0, "the change needed no interrupt");
    });
}

/// Waits until some application thread of `vm`'s stub is running.
fn wait_for_running_thread(vm: &Vm) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for tid in vm.space.stub_threads() {
            if thread_state(vm.stub_pid(), tid) == Some('R') {
                return;
            }
        }
        assert!(Instant::now() < deadline, "no thread ever ran");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn map_from_a_thread_with_a_stub_thread_while_another_runs() {
    remap_while_running(|vm, full| {
        let mut ctx = vm.platform.new_ptrace_context();
        // Get a stub thread in the space first (jmp $, interrupted).
        let irq = ctx.interrupter();
        irq.interrupt();
        let mut cpu = cpu_at(JMP_SELF_AT);
        assert_eq!(
            ctx.switch(&vm.dynspace, &mut cpu).unwrap(),
            Trap::Interrupted
        );
        // Interrupted before it ran: the thread exists all the same.
        assert_eq!(vm.space.stub_threads().len(), 2);
        vm.space
            .map(UserAddr(FLAG), PAGE, full, Prot::READ)
            .unwrap();
    });
}

#[test]
fn map_from_a_thread_without_a_stub_thread_while_another_runs() {
    remap_while_running(|vm, full| {
        // This host thread has no stub thread: the executor maps it, at
        // once.
        vm.space
            .map(UserAddr(FLAG), PAGE, full, Prot::READ)
            .unwrap();
    });
}

#[test]
fn unmap_while_another_runs_faults_it() {
    let vm = vm();
    vm.space
        .map(UserAddr(FLAG), PAGE, FileOffset(0), Prot::READ)
        .unwrap();
    let vm = &vm;
    std::thread::scope(|s| {
        let b = s.spawn(|| {
            let mut ctx = vm.platform.new_ptrace_context();
            let mut cpu = cpu_at(READ_FLAG_AT);
            run(&mut ctx, &vm.dynspace, &mut cpu)
        });
        wait_for_running_thread(vm);
        // From a thread without a stub thread (through the executor),
        // then from one with (its own stub thread).
        vm.space.unmap(UserAddr(FLAG), PAGE).unwrap();
        assert_eq!(
            b.join().unwrap(),
            Trap::PageFault {
                addr: FLAG,
                access: Access::Read
            }
        );
    });
    vm.space
        .map(UserAddr(FLAG), PAGE, FileOffset(0), Prot::READ)
        .unwrap();
    std::thread::scope(|s| {
        let b = s.spawn(|| {
            let mut ctx = vm.platform.new_ptrace_context();
            let mut cpu = cpu_at(READ_FLAG_AT);
            run(&mut ctx, &vm.dynspace, &mut cpu)
        });
        wait_for_running_thread(vm);
        let mut ctx = vm.platform.new_ptrace_context();
        ctx.interrupter().interrupt();
        let mut cpu = cpu_at(JMP_SELF_AT);
        assert_eq!(
            ctx.switch(&vm.dynspace, &mut cpu).unwrap(),
            Trap::Interrupted
        );
        vm.space
            .protect(UserAddr(FLAG), PAGE, Prot::empty())
            .unwrap();
        assert_eq!(
            b.join().unwrap(),
            Trap::PageFault {
                addr: FLAG,
                access: Access::Write
            },
            "a protection fault on a mapped page reads as a write"
        );
    });
}

#[test]
fn fs_base_is_per_thread() {
    let mut vm = vm();
    let n = 4u64;
    let words: Vec<u8> = (0..n).flat_map(|i| (1000 + i).to_le_bytes()).collect();
    vm.map_bytes(DATA, &words, Prot::READ);
    let vm = &vm;
    std::thread::scope(|s| {
        for i in 0..n {
            s.spawn(move || {
                let mut ctx = vm.platform.new_ptrace_context();
                for _ in 0..200 {
                    let mut cpu = cpu_at(FS_AT);
                    cpu.regs.fs_base = DATA + 8 * i;
                    assert_eq!(run(&mut ctx, &vm.dynspace, &mut cpu), Trap::Syscall);
                    assert_eq!(cpu.regs.orig_rax, 1000 + i);
                    assert_eq!(cpu.regs.fs_base, DATA + 8 * i);
                }
            });
        }
    });
}

#[test]
fn interrupts_reach_only_their_thread() {
    let vm = vm();
    let vm = &vm;
    let stop = [AtomicBool::new(false), AtomicBool::new(false)];
    let returns = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let ctxs: Vec<PtraceContext> = (0..2).map(|_| vm.platform.new_ptrace_context()).collect();
    let irqs: Vec<_> = ctxs.iter().map(|c| c.interrupter()).collect();
    std::thread::scope(|s| {
        let mut hs = Vec::new();
        for (i, mut ctx) in ctxs.into_iter().enumerate() {
            let (stop, returns) = (&stop, &returns);
            hs.push(s.spawn(move || {
                let mut cpu = cpu_at(JMP_SELF_AT);
                while !stop[i].load(Ordering::SeqCst) {
                    assert_eq!(
                        ctx.switch(&vm.dynspace, &mut cpu).unwrap(),
                        Trap::Interrupted
                    );
                    assert_eq!(cpu.regs.rip, JMP_SELF_AT);
                    returns[i].fetch_add(1, Ordering::SeqCst);
                }
            }));
        }
        while vm.space.stub_threads().len() < 2 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let tids = vm.space.stub_threads();
        let t0 = cpu_time(vm.stub_pid(), tids[0]);
        let t1 = cpu_time(vm.stub_pid(), tids[1]);
        // Each spins in its own stub thread: both accumulate CPU time.
        let deadline = Instant::now() + Duration::from_secs(10);
        while cpu_time(vm.stub_pid(), tids[0]) <= t0 || cpu_time(vm.stub_pid(), tids[1]) <= t1 {
            assert!(Instant::now() < deadline, "a stub thread never ran");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Interrupting the first ends its switch, not the second's.
        let before = returns[1].load(Ordering::SeqCst);
        stop[0].store(true, Ordering::SeqCst);
        irqs[0].interrupt();
        let h1 = hs.pop().unwrap();
        hs.pop().unwrap().join().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(returns[1].load(Ordering::SeqCst), before);
        stop[1].store(true, Ordering::SeqCst);
        irqs[1].interrupt();
        h1.join().unwrap();
    });
}

#[test]
fn one_thread_exits_the_others_go_on() {
    let mut vm = vm();
    let data = vm.alloc(&[], 1);
    vm.space
        .map(UserAddr(DATA), PAGE, data, Prot::READ | Prot::WRITE)
        .unwrap();
    let vm = &vm;
    let pid = vm.stub_pid();
    let phase = Barrier::new(3);
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        for i in 0..3u64 {
            let phase = &phase;
            handles.push(s.spawn(move || {
                let mut ctx = vm.platform.new_ptrace_context();
                let mut cpu = cpu_at(CODE);
                cpu.regs.rbx = DATA + 8 * i;
                for _ in 0..50 {
                    assert_eq!(run(&mut ctx, &vm.dynspace, &mut cpu), Trap::Syscall);
                }
                let tid = ctx.stub_tid().unwrap();
                assert!(task_exists(pid, tid));
                phase.wait();
                if i == 1 {
                    // This application thread exits: its context goes.
                    drop(ctx);
                    assert!(!task_exists(pid, tid), "stub thread {tid} survived");
                    phase.wait();
                    return tid;
                }
                phase.wait();
                for _ in 0..50 {
                    assert_eq!(run(&mut ctx, &vm.dynspace, &mut cpu), Trap::Syscall);
                }
                assert_eq!(read_u64(&vm.mf, FileOffset(data.0 + 8 * i)), 100);
                tid
            }));
        }
        let tids: Vec<i32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(tids.iter().all(|&t| !task_exists(pid, t)));
    });
    assert!(process_exists(pid));
    assert_eq!(task_count(pid), 2);
    assert_eq!(read_u64(&vm.mf, FileOffset(data.0 + 8)), 50);
}

#[test]
fn release_and_come_back() {
    let mut vm = vm();
    // movq xmm0, rdi; syscall; movq rax, xmm0; syscall
    let code = [
        0x66, 0x48, 0x0f, 0x6e, 0xc7, 0x0f, 0x05, 0x66, 0x48, 0x0f, 0x7e, 0xc0, 0x0f, 0x05,
    ];
    vm.load(&code);
    vm.cpu.regs.rdi = 0x5150;
    assert_eq!(vm.run(), Trap::Syscall);
    let first = vm.ctx.stub_tid().unwrap();
    vm.ctx.release(&vm.dynspace);
    assert!(!task_exists(vm.stub_pid(), first));
    assert_eq!(vm.space.stub_threads(), Vec::<i32>::new());
    assert_eq!(vm.ctx.stub_thread_count(), 0);
    // A new stub thread, with the FP state the context had.
    assert_eq!(vm.run(), Trap::Syscall);
    assert_ne!(vm.ctx.stub_tid().unwrap(), first);
    assert_eq!(vm.cpu.regs.rax, 0x5150);
    assert_eq!(vm.space.stub_threads(), vec![vm.ctx.stub_tid().unwrap()]);
}

#[test]
fn a_context_keeps_a_thread_in_each_space() {
    let mut vm = vm();
    let space2: Arc<dyn AddressSpace> = vm.platform.new_ptrace_address_space().unwrap();
    space2
        .map(UserAddr(CODE), PAGE, FileOffset(0), Prot::READ | Prot::EXEC)
        .unwrap();
    for _ in 0..3 {
        vm.cpu.regs.rip = SUM_AT;
        vm.cpu.regs.rcx = 1;
        vm.cpu.regs.rdx = CODE;
        assert_eq!(vm.run(), Trap::Syscall);
        vm.cpu.regs.rip = SUM_AT;
        vm.cpu.regs.rcx = 1;
        vm.cpu.regs.rdx = CODE;
        assert_eq!(vm.ctx.switch(&space2, &mut vm.cpu), Ok(Trap::Syscall));
    }
    assert_eq!(vm.ctx.stub_thread_count(), 2);
    // The space goes (execve): its stub with it, the context goes on.
    drop(space2);
    assert_eq!(vm.ctx.stub_thread_count(), 1);
    vm.cpu.regs.rip = SUM_AT;
    vm.cpu.regs.rcx = 1;
    vm.cpu.regs.rdx = CODE;
    assert_eq!(vm.run(), Trap::Syscall);
}

#[test]
fn a_host_thread_that_exits_releases_its_stub_threads() {
    let vm = vm();
    let pid = vm.stub_pid();
    let vm = &vm;
    let tid = std::thread::scope(|s| {
        s.spawn(|| {
            let mut ctx = vm.platform.new_ptrace_context();
            let mut cpu = cpu_at(TRAP_AT);
            assert_eq!(run(&mut ctx, &vm.dynspace, &mut cpu), Trap::Syscall);
            let tid = ctx.stub_tid().unwrap();
            // Neither dropped nor released: the thread's exit hook ends
            // the stub thread (its exit would otherwise kill the stub).
            std::mem::forget(ctx);
            tid
        })
        .join()
        .unwrap()
    });
    assert!(!task_exists(pid, tid));
    assert!(process_exists(pid));
    assert_eq!(vm.space.stub_threads(), Vec::<i32>::new());
    let mut ctx = vm.platform.new_ptrace_context();
    let mut cpu = cpu_at(TRAP_AT);
    assert_eq!(run(&mut ctx, &vm.dynspace, &mut cpu), Trap::Syscall);
}

#[test]
fn a_context_is_bound_to_its_host_thread() {
    let mut vm = vm();
    vm.cpu.regs.rip = TRAP_AT;
    assert_eq!(vm.run(), Trap::Syscall);
    let Vm {
        platform,
        ctx,
        dynspace,
        ..
    } = vm;
    let mut ctx = std::thread::spawn(move || {
        let mut ctx = ctx;
        let mut cpu = cpu_at(TRAP_AT);
        assert_eq!(ctx.switch(&dynspace, &mut cpu), Err(PlatformError::Lost));
        ctx
    })
    .join()
    .unwrap();
    // Back home it works again.
    let space2: Arc<dyn AddressSpace> = platform.new_ptrace_address_space().unwrap();
    space2
        .map(UserAddr(CODE), PAGE, FileOffset(0), Prot::READ | Prot::EXEC)
        .unwrap();
    let mut cpu = cpu_at(TRAP_AT);
    assert_eq!(ctx.switch(&space2, &mut cpu), Ok(Trap::Syscall));
}

#[test]
fn a_killed_stub_is_lost_everywhere_without_hanging() {
    let vm = vm();
    let pid = vm.stub_pid();
    let vm = &vm;
    // One thread holds a stopped stub thread and waits; the stub is
    // killed from outside; everyone then gets Lost, and no one hangs.
    let parked = Barrier::new(2);
    let killed = Barrier::new(2);
    std::thread::scope(|s| {
        let a = s.spawn(|| {
            let mut ctx = vm.platform.new_ptrace_context();
            let mut cpu = cpu_at(TRAP_AT);
            assert_eq!(run(&mut ctx, &vm.dynspace, &mut cpu), Trap::Syscall);
            parked.wait();
            killed.wait();
            ctx.switch(&vm.dynspace, &mut cpu)
        });
        parked.wait();
        // SAFETY: signalling our own live child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let mut ctx = vm.platform.new_ptrace_context();
        let mut cpu = cpu_at(TRAP_AT);
        assert_eq!(ctx.switch(&vm.dynspace, &mut cpu), Err(PlatformError::Lost));
        assert_eq!(
            vm.space
                .map(UserAddr(DATA), PAGE, FileOffset(0), Prot::READ),
            Err(PlatformError::Lost)
        );
        killed.wait();
        assert_eq!(a.join().unwrap(), Err(PlatformError::Lost));
    });
}

#[test]
fn nothing_is_left_after_drop() {
    let mf = Arc::new(HostMemoryFile::with_reserve(1 << 20).unwrap());
    let platform = PtracePlatform::with_memory_file(mf.clone(), Default::default()).unwrap();
    let p = &platform;
    let exec = p.executor_tid();
    assert!(task_exists(std::process::id() as i32, exec));
    mf.grow(PAGE).unwrap();
    mf.write(FileOffset(0), &SYSCALL).unwrap();
    let space = p.new_ptrace_address_space().unwrap();
    let dynspace: Arc<dyn AddressSpace> = space.clone();
    space
        .map(UserAddr(CODE), PAGE, FileOffset(0), Prot::READ | Prot::EXEC)
        .unwrap();
    let pid = space.stub_pid();
    let (tids, ctxs): (Vec<i32>, Vec<PtraceContext>) = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let dynspace = dynspace.clone();
                s.spawn(move || {
                    let mut ctx = p.new_ptrace_context();
                    let mut cpu = cpu_at(CODE);
                    assert_eq!(run(&mut ctx, &dynspace, &mut cpu), Trap::Syscall);
                    // Keep the thread (and context) while its host thread
                    // lives: end it with the space instead.
                    (ctx.stub_tid().unwrap(), ctx)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).unzip()
    });
    // The host threads exited: their exit hooks released the stub threads.
    assert!(tids.iter().all(|&t| !task_exists(pid, t)));
    drop(ctxs);
    // Stub threads ended with the space instead: make some more, keep
    // their contexts, drop the space first.
    let mut ctx = p.new_ptrace_context();
    let mut cpu = cpu_at(CODE);
    assert_eq!(run(&mut ctx, &dynspace, &mut cpu), Trap::Syscall);
    let tid = ctx.stub_tid().unwrap();
    assert_eq!(task_count(pid), 3);
    drop(space);
    drop(dynspace);
    assert!(!process_exists(pid), "stub {pid} survived its space");
    assert!(!task_exists(pid, tid));
    assert_eq!(ctx.stub_thread_count(), 0);
    drop(ctx);
    // SAFETY: waitpid with a valid out-pointer.
    let r = unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG | libc::__WALL) };
    assert_eq!(r, -1, "no zombie left");
    // The executor thread ends with the platform (no space left).
    let me = std::process::id() as i32;
    drop(platform);
    let deadline = Instant::now() + Duration::from_secs(5);
    while task_exists(me, exec) {
        assert!(Instant::now() < deadline, "executor thread {exec} leaked");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn spaces_outlive_the_platform_object() {
    let mf = Arc::new(HostMemoryFile::with_reserve(1 << 20).unwrap());
    let p = PtracePlatform::with_memory_file(mf.clone(), Default::default()).unwrap();
    let exec = p.executor_tid();
    mf.grow(PAGE).unwrap();
    mf.write(FileOffset(0), &SYSCALL).unwrap();
    let space: Arc<dyn AddressSpace> = p.new_address_space().unwrap();
    let mut ctx = p.new_ptrace_context();
    let ctx2 = p.new_ptrace_context();
    drop(p);
    // The executor lives on for the space: new threads can still join it.
    let me = std::process::id() as i32;
    assert!(task_exists(me, exec));
    space
        .map(UserAddr(CODE), PAGE, FileOffset(0), Prot::READ | Prot::EXEC)
        .unwrap();
    let mut cpu = cpu_at(CODE);
    assert_eq!(ctx.switch(&space, &mut cpu), Ok(Trap::Syscall));
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut ctx = ctx2;
            let mut cpu = cpu_at(CODE);
            assert_eq!(ctx.switch(&space, &mut cpu), Ok(Trap::Syscall));
        });
    });
    drop(space);
    drop(ctx);
    let deadline = Instant::now() + Duration::from_secs(5);
    while task_exists(me, exec) {
        assert!(Instant::now() < deadline, "executor thread {exec} leaked");
        std::thread::sleep(Duration::from_millis(1));
    }
}
