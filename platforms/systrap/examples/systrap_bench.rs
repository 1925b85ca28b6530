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
use veil_host::testing::{map_latency, median, round_trips, GETPID_LOOP};
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
    mf.grow(1 << 20).unwrap();
    mf.write(FileOffset(0), &GETPID_LOOP).unwrap();
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
        let (median, mean) = round_trips(&mut ctx, &space, &mut cpu_at(CODE), 500, iters);
        rows.push((name.to_string(), median, mean));
    }
    {
        // ptrace with its defaults (stubs pinned to their tracer's CPU).
        let p = PtracePlatform::new().unwrap();
        let space = p.new_address_space().unwrap();
        let pmf = p.memory_file();
        pmf.grow(1 << 20).unwrap();
        pmf.write(FileOffset(0), &GETPID_LOOP).unwrap();
        space
            .map(UserAddr(CODE), 4096, FileOffset(0), Prot::READ | Prot::EXEC)
            .unwrap();
        let mut ctx = p.new_context().unwrap();
        let n = (iters / 5).max(100);
        let (median, mean) = round_trips(&mut *ctx, &space, &mut cpu_at(CODE), 500, n);
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

    let ns = map_latency(&*space, 0x2000_0000, FileOffset(4096), 2000);
    println!("map (one executor command, back to back): median {ns} ns");

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

fn cpu_at(rip: u64) -> CpuState {
    let mut cpu = CpuState::default();
    cpu.regs.rip = rip;
    cpu
}
