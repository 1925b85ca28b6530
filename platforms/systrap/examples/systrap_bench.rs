//! Measures the systrap platform's basic costs on this host, next to the
//! ptrace platform's in the same run: the getpid round trip (switch ->
//! Trap::Syscall -> switch), a page fault served by mapping a page, an
//! executor `map`, and making an address space.
//!
//! `cargo run --release -p veil-platform-systrap --example systrap_bench [ITERS]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use veil_core::platform::{AddressSpace, Context, CpuState, MemoryFile, Platform, Prot, Trap};
use veil_core::{FileOffset, UserAddr};
use veil_host::HostMemoryFile;
use veil_platform_ptrace::PtracePlatform;
use veil_platform_systrap::{SystrapOptions, SystrapPlatform};

const CODE: u64 = 0x40_0000;

fn main() {
    let iters: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50_000);
    let mf = Arc::new(HostMemoryFile::new().expect("memfd"));
    // loop: mov eax, 39; syscall; jmp loop
    let code = [0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7];
    mf.grow(1 << 20).unwrap();
    mf.write(FileOffset(0), &code).unwrap();
    println!(
        "getpid round trip (switch -> Trap::Syscall -> switch), {} CPUs",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let mut rows = Vec::new();
    for (name, opts) in [
        ("systrap", SystrapOptions::default()),
        (
            "systrap, no spinning",
            SystrapOptions {
                max_spin: Duration::ZERO,
                stub_spin: Duration::ZERO,
                ..Default::default()
            },
        ),
        (
            "systrap, planned for 1 CPU",
            SystrapOptions {
                cpus: Some(1),
                ..Default::default()
            },
        ),
    ] {
        let p = SystrapPlatform::with_memory_file(mf.clone(), opts).unwrap();
        let space: Arc<dyn AddressSpace> = p.new_systrap_address_space().unwrap();
        space
            .map(UserAddr(CODE), 4096, FileOffset(0), Prot::READ | Prot::EXEC)
            .unwrap();
        let mut ctx = p.new_systrap_context();
        let (median, mean) = round_trips(&mut ctx, &space, iters);
        rows.push((name.to_string(), median, mean));
    }
    {
        // ptrace with its defaults (stubs pinned to their tracer's CPU).
        let p = PtracePlatform::new().unwrap();
        let space = p.new_address_space().unwrap();
        let pmf = p.memory_file();
        pmf.grow(1 << 20).unwrap();
        pmf.write(FileOffset(0), &code).unwrap();
        space
            .map(UserAddr(CODE), 4096, FileOffset(0), Prot::READ | Prot::EXEC)
            .unwrap();
        let mut ctx = p.new_context().unwrap();
        let (median, mean) = round_trips(&mut *ctx, &space, (iters / 5).max(100));
        rows.push(("ptrace (defaults)".to_string(), median, mean));
    }
    let base = rows[0].1 as f64;
    for (name, median, mean) in &rows {
        println!(
            "  {name:<28} median {median:>7} ns  mean {mean:>7} ns  ({:.1}x systrap)",
            *median as f64 / base
        );
    }

    // Page faults: touch a fresh page each time; the "kernel" maps it.
    // loop: mov [rbx], al; add rbx, 4096; jmp loop
    let fault_code = [
        0x88, 0x03, 0x48, 0x81, 0xc3, 0x00, 0x10, 0x00, 0x00, 0xeb, 0xf5,
    ];
    mf.write(FileOffset(4096), &fault_code).unwrap();
    let p = SystrapPlatform::with_memory_file(mf.clone(), SystrapOptions::default()).unwrap();
    let space = p.new_systrap_address_space().unwrap();
    let s_fault = faults(space.clone(), &mut p.new_systrap_context());
    let pp = PtracePlatform::new().unwrap();
    let pmf = pp.memory_file();
    pmf.grow(3 * 4096).unwrap();
    pmf.write(FileOffset(4096), &fault_code).unwrap();
    let p_fault = faults(
        pp.new_address_space().unwrap(),
        &mut *pp.new_context().unwrap(),
    );
    println!(
        "page fault + map + resume: systrap median {s_fault} ns, ptrace (defaults) median {p_fault} ns"
    );

    let mut samples = Vec::new();
    for i in 0..2000u64 {
        let prot = if i % 2 == 0 {
            Prot::READ
        } else {
            Prot::READ | Prot::WRITE
        };
        let s = Instant::now();
        space
            .map(UserAddr(0x2000_0000), 4096, FileOffset(4096), prot)
            .unwrap();
        samples.push(s.elapsed().as_nanos() as u64);
    }
    println!(
        "map (one executor command, back to back): median {} ns",
        median(&mut samples)
    );

    let mut samples = Vec::new();
    for _ in 0..30 {
        let s = Instant::now();
        let sp: Arc<dyn AddressSpace> = p.new_systrap_address_space().unwrap();
        let mut c = p.new_systrap_context();
        let mut cpu = CpuState::default();
        cpu.regs.rip = 0x1000;
        let _ = c.switch(&sp, &mut cpu).unwrap();
        drop(c);
        drop(sp);
        samples.push(s.elapsed().as_micros() as u64);
    }
    println!(
        "new address space + first switch + drop (systrap): median {} us",
        median(&mut samples)
    );
}

fn faults(space: Arc<dyn AddressSpace>, ctx: &mut dyn Context) -> u64 {
    space
        .map(
            UserAddr(CODE),
            4096,
            FileOffset(4096),
            Prot::READ | Prot::EXEC,
        )
        .unwrap();
    let mut cpu = CpuState::default();
    cpu.regs.rip = CODE;
    cpu.regs.rbx = 0x1000_0000;
    let mut samples = Vec::new();
    for i in 0..400u64 {
        let s = Instant::now();
        let t = ctx.switch(&space, &mut cpu).unwrap();
        let Trap::PageFault { addr, .. } = t else {
            panic!("{t:?}")
        };
        assert_eq!(addr, 0x1000_0000 + i * 4096);
        space
            .map(
                UserAddr(addr),
                4096,
                FileOffset(8192),
                Prot::READ | Prot::WRITE,
            )
            .unwrap();
        samples.push(s.elapsed().as_nanos() as u64);
    }
    median(&mut samples)
}

fn round_trips(ctx: &mut dyn Context, space: &Arc<dyn AddressSpace>, n: u32) -> (u64, u128) {
    let mut cpu = CpuState::default();
    cpu.regs.rip = CODE;
    for _ in 0..500 {
        assert_eq!(ctx.switch(space, &mut cpu), Ok(Trap::Syscall));
    }
    let mut samples = Vec::with_capacity(n as usize);
    let t = Instant::now();
    for _ in 0..n {
        let s = Instant::now();
        let trap = ctx.switch(space, &mut cpu).unwrap();
        debug_assert_eq!(trap, Trap::Syscall);
        cpu.regs.rax = 1; // the "result"
        samples.push(s.elapsed().as_nanos() as u64);
    }
    let mean = t.elapsed().as_nanos() / n as u128;
    assert_eq!(cpu.regs.orig_rax, 39);
    (median(&mut samples), mean)
}

fn median(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}
