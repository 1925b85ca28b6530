//! Measures the ptrace platform's basic costs on this host:
//! the getpid round trip (switch -> Trap::Syscall -> switch), alone and
//! with several host threads in one address space; adding a thread to an
//! address space (a new context's first switch) and ending it; `map` by
//! each of its three paths; and making an address space (fork + strip a
//! stub).
//!
//! `cargo run --release -p veil-platform-ptrace --example ptrace_bench [ITERS]`

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use veil_core::platform::{AddressSpace, Context, CpuState, MemoryFile, Prot, Trap};
use veil_core::{FileOffset, UserAddr};
use veil_host::testing::{map_latency, median, round_trips, GETPID_LOOP};
use veil_host::HostMemoryFile;
use veil_platform_ptrace::{PtraceOptions, PtracePlatform};

const CODE: u64 = 0x40_0000;
/// `jmp $`, at CODE + JMP_SELF.
const JMP_SELF: u64 = 0x10;
/// `syscall`, at CODE + TRAP.
const TRAP: u64 = 0x20;

fn main() {
    let iters: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let mf = Arc::new(HostMemoryFile::new().expect("memfd"));
    mf.grow(2 * 4096).unwrap();
    mf.write(FileOffset(0), &GETPID_LOOP).unwrap();
    mf.write(FileOffset(JMP_SELF), &[0xeb, 0xfe]).unwrap();
    mf.write(FileOffset(TRAP), &[0x0f, 0x05]).unwrap();

    for pin in [true, false] {
        let p =
            PtracePlatform::with_memory_file(mf.clone(), PtraceOptions { pin_stubs: pin }).unwrap();
        let space = p.new_ptrace_address_space().unwrap();
        let dynspace: Arc<dyn AddressSpace> = space.clone();
        space
            .map(UserAddr(CODE), 4096, FileOffset(0), Prot::READ | Prot::EXEC)
            .unwrap();
        let mut ctx = p.new_ptrace_context();
        let mut cpu = CpuState::default();
        cpu.regs.rip = CODE;
        let n = if pin { iters } else { (iters / 10).max(1) };
        let (median, mean) = round_trips(&mut ctx, &dynspace, &mut cpu, 200, n);
        println!(
            "getpid round trip, pin_stubs={pin}: median {median} ns, mean {mean} ns ({n} iterations; \
             migrations: stub thread {}, tracer {})",
            migrations(&format!(
                "/proc/{}/task/{}/sched",
                space.stub_pid(),
                ctx.stub_tid().unwrap()
            )),
            migrations("/proc/thread-self/sched"),
        );
    }

    let p = PtracePlatform::with_memory_file(mf.clone(), PtraceOptions::default()).unwrap();
    let space = p.new_ptrace_address_space().unwrap();
    let dynspace: Arc<dyn AddressSpace> = space.clone();
    space
        .map(UserAddr(CODE), 4096, FileOffset(0), Prot::READ | Prot::EXEC)
        .unwrap();

    // Several host threads in one space, each in its own stub thread,
    // and for comparison each in a space of its own.
    for (threads, shared) in [(1usize, true), (2, true), (2, false), (4, true), (4, false)] {
        let n = (iters / 4).max(1);
        let start = Barrier::new(threads);
        let per_thread: Vec<u64> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads)
                .map(|_| {
                    let (p, start) = (&p, &start);
                    let dynspace: Arc<dyn AddressSpace> = if shared {
                        dynspace.clone()
                    } else {
                        bench_space(p)
                    };
                    s.spawn(move || {
                        let dynspace = &dynspace;
                        let mut ctx = p.new_ptrace_context();
                        let mut cpu = CpuState::default();
                        cpu.regs.rip = CODE;
                        for _ in 0..200 {
                            assert_eq!(ctx.switch(dynspace, &mut cpu), Ok(Trap::Syscall));
                        }
                        start.wait();
                        let t = Instant::now();
                        for _ in 0..n {
                            ctx.switch(dynspace, &mut cpu).unwrap();
                        }
                        (t.elapsed().as_nanos() / n as u128) as u64
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let place = if shared {
            "in one space"
        } else {
            "each in its own space"
        };
        println!(
            "getpid round trip, {threads} host thread(s) {place}: mean {:?} ns per thread \
             ({n} iterations each)",
            per_thread
        );
    }

    // Adding a thread: a new context's first switch (the executor clones
    // a stub thread, this thread attaches and unblocks its signals), and
    // releasing it (an injected exit).
    let mut add = Vec::new();
    let mut release = Vec::new();
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..200 {
                let mut ctx = p.new_ptrace_context();
                let mut cpu = CpuState::default();
                cpu.regs.rip = CODE + TRAP;
                let t = Instant::now();
                assert_eq!(ctx.switch(&dynspace, &mut cpu), Ok(Trap::Syscall));
                add.push(t.elapsed().as_nanos() as u64);
                let t = Instant::now();
                drop(ctx);
                release.push(t.elapsed().as_nanos() as u64);
            }
        });
    });
    println!(
        "add a thread to a space (first switch of a new context, to its first trap): median {} us",
        median(&mut add) / 1000
    );
    println!(
        "release a thread (context dropped): median {} us",
        median(&mut release) / 1000
    );

    // map, by each path.
    let map_loop = |label: &str| {
        let ns = map_latency(&*space, 0x1000_0000, FileOffset(4096), 2000);
        println!("map, {label}: median {ns} ns");
    };
    // Queued (no stub thread here, nothing running), then applied by the
    // next switch.
    map_loop("queued (caller has no stub thread, nothing runs)");
    let mut ctx = p.new_ptrace_context();
    let mut cpu = CpuState::default();
    cpu.regs.rip = CODE + TRAP;
    let t = Instant::now();
    assert_eq!(ctx.switch(&dynspace, &mut cpu), Ok(Trap::Syscall));
    println!(
        "  first switch applying those 2000 queued maps: {} us",
        t.elapsed().as_micros()
    );
    map_loop("injected into the caller's own stub thread");
    drop(ctx);
    // Through the executor, while another thread runs the application.
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let runner = s.spawn(|| {
            let mut ctx = p.new_ptrace_context();
            let irq = ctx.interrupter();
            let mut cpu = CpuState::default();
            cpu.regs.rip = CODE + JMP_SELF;
            let stopper = {
                let stop = &stop;
                move || {
                    while !stop.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    irq.interrupt();
                }
            };
            std::thread::scope(|s2| {
                s2.spawn(stopper);
                while !stop.load(Ordering::SeqCst) {
                    let _ = ctx.switch(&dynspace, &mut cpu);
                }
            });
        });
        while space.stub_threads().is_empty() {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(10));
        map_loop("through the executor (caller has no stub thread, another runs)");
        stop.store(true, Ordering::SeqCst);
        runner.join().unwrap();
    });

    let mut samples = Vec::new();
    for _ in 0..50 {
        let s = Instant::now();
        drop(p.new_ptrace_address_space().unwrap());
        samples.push(s.elapsed().as_micros() as u64);
    }
    println!(
        "new address space + drop: median {} us",
        median(&mut samples)
    );
    let mut samples = Vec::new();
    for _ in 0..50 {
        let s = Instant::now();
        let space: Arc<dyn AddressSpace> = p.new_ptrace_address_space().unwrap();
        space
            .map(UserAddr(CODE), 4096, FileOffset(0), Prot::READ | Prot::EXEC)
            .unwrap();
        let mut ctx = p.new_ptrace_context();
        let mut cpu = CpuState::default();
        cpu.regs.rip = CODE + TRAP;
        assert_eq!(ctx.switch(&space, &mut cpu), Ok(Trap::Syscall));
        drop(ctx);
        drop(space);
        samples.push(s.elapsed().as_micros() as u64);
    }
    println!(
        "new address space + first trap + drop: median {} us",
        median(&mut samples)
    );
}

/// A new space with the benchmark's code mapped.
fn bench_space(p: &PtracePlatform) -> Arc<dyn AddressSpace> {
    let space = p.new_ptrace_address_space().unwrap();
    space
        .map(UserAddr(CODE), 4096, FileOffset(0), Prot::READ | Prot::EXEC)
        .unwrap();
    space
}

/// `se.nr_migrations` from a /proc sched file.
fn migrations(path: &str) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("se.nr_migrations"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| "?".into())
}
