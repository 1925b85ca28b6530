//! Measures the ptrace platform's basic costs on this host:
//! the getpid round trip (switch -> Trap::Syscall -> switch), an injected
//! `map`, and making an address space (fork + strip a stub).
//!
//! `cargo run --release -p veil-platform-ptrace --example ptrace_bench [ITERS]`

use std::sync::Arc;
use std::time::Instant;

use veil_core::platform::{AddressSpace, Context, CpuState, MemoryFile, Prot, Trap};
use veil_core::{FileOffset, UserAddr};
use veil_host::HostMemoryFile;
use veil_platform_ptrace::{PtraceOptions, PtracePlatform};

const CODE: u64 = 0x40_0000;

fn main() {
    let iters: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let mf = Arc::new(HostMemoryFile::new().expect("memfd"));
    // loop: mov eax, 39; syscall; jmp loop
    let code = [0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7];
    mf.grow(2 * 4096).unwrap();
    mf.write(FileOffset(0), &code).unwrap();

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
        for _ in 0..200 {
            assert_eq!(ctx.switch(&dynspace, &mut cpu), Ok(Trap::Syscall));
        }
        let mut samples = Vec::with_capacity(n as usize);
        let t = Instant::now();
        for _ in 0..n {
            let s = Instant::now();
            let trap = ctx.switch(&dynspace, &mut cpu).unwrap();
            debug_assert_eq!(trap, Trap::Syscall);
            cpu.regs.rax = 1; // the "result"
            samples.push(s.elapsed().as_nanos() as u64);
        }
        let mean = t.elapsed().as_nanos() / n as u128;
        println!(
            "getpid round trip, pin_stubs={pin}: median {} ns, mean {mean} ns ({n} iterations; \
             migrations: stub {}, tracer {})",
            median(&mut samples),
            migrations(&format!("/proc/{}/sched", space.stub_pid())),
            migrations("/proc/thread-self/sched"),
        );
    }

    let p = PtracePlatform::with_memory_file(mf.clone(), PtraceOptions::default()).unwrap();
    let space = p.new_ptrace_address_space().unwrap();
    let mut samples = Vec::new();
    for i in 0..2000u64 {
        let prot = if i % 2 == 0 {
            Prot::READ
        } else {
            Prot::READ | Prot::WRITE
        };
        let s = Instant::now();
        space
            .map(UserAddr(0x1000_0000), 4096, FileOffset(4096), prot)
            .unwrap();
        samples.push(s.elapsed().as_nanos() as u64);
    }
    println!(
        "map (one injected mmap): median {} ns",
        median(&mut samples)
    );

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

fn median(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}
