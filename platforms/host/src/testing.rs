//! Test support shared by the platform crates' integration tests (behind
//! the `test-support` feature): a tiny machine — a memory file, a
//! platform, one address space and context — with helpers to place code
//! and data, x86-64 instruction encoders, host `/proc` probes, and the
//! timing helpers of the platforms' cost tests and benchmarks. The tests
//! every platform must pass are in [`crate::conformance`].

use std::sync::Arc;

use veil_core::platform::{AddressSpace, Context, CpuState, MemoryFile, Platform, Prot, Trap};
use veil_core::{FileOffset, UserAddr};

use crate::HostMemoryFile;

/// Page size.
pub const PAGE: u64 = 4096;
/// Where [`Vm::load`] puts code.
pub const CODE: u64 = 0x40_0000;
/// The top of the stack [`Vm::stack`] maps.
pub const STACK_TOP: u64 = 0x7000_0000;

/// How a platform makes the parts of a [`Vm`], and what the shared
/// conformance tests ([`crate::conformance`]) need to know about it.
pub trait Harness {
    /// The platform.
    type Platform: Platform + 'static;
    /// Its address space.
    type Space: AddressSpace + 'static;
    /// Its context.
    type Context: Context + 'static;
    /// Its options.
    type Options: Default;
    /// [`Platform::name`].
    const NAME: &'static str;
    /// Whether a page fault's access kind is exact. If not, a write to an
    /// unmapped page is reported as a read (core maps the page, and a
    /// write to it, if read-only, faults again as a write).
    const EXACT_FAULT_ACCESS: bool;
    /// Whether a context keeps its stub thread in an address space when it
    /// switches into another one (until the space is dropped or the
    /// context releases it); if not, the old thread exits.
    const KEEPS_A_THREAD_PER_SPACE: bool;
    /// A platform on memory file `mf` with options `opts`.
    fn platform(mf: Arc<HostMemoryFile>, opts: Self::Options) -> Self::Platform;
    /// The platform as the runtime makes it (its own memory file, default
    /// options).
    fn default_platform() -> Self::Platform;
    /// A new address space of `p`.
    fn new_space(p: &Self::Platform) -> Arc<Self::Space>;
    /// A new context of `p`.
    fn new_context(p: &Self::Platform) -> Self::Context;
    /// A platform on memory file `mf`, with one address space and context.
    fn build(
        mf: Arc<HostMemoryFile>,
        opts: Self::Options,
    ) -> (Self::Platform, Arc<Self::Space>, Self::Context) {
        let platform = Self::platform(mf, opts);
        let space = Self::new_space(&platform);
        let ctx = Self::new_context(&platform);
        (platform, space, ctx)
    }
    /// Makes an address space and drops it: the host lets us run stubs.
    fn probe(p: &Self::Platform);
    /// How many of `p`'s address spaces are alive.
    fn live_address_spaces(p: &Self::Platform) -> usize;
    /// Where the platform's own code sits in every address space (what
    /// [`Platform::max_user_address`] fences off).
    fn stub_address(p: &Self::Platform) -> u64;
    /// The host pid of the stub behind `space`.
    fn stub_pid(space: &Self::Space) -> i32;
    /// The tid of the stub thread `ctx` last ran in.
    fn stub_tid(ctx: &Self::Context) -> Option<i32>;
}

/// A tiny machine for the tests.
pub struct Vm<H: Harness> {
    /// The platform.
    pub platform: H::Platform,
    /// The memory file.
    pub mf: Arc<HostMemoryFile>,
    /// The address space.
    pub space: Arc<H::Space>,
    /// The same address space, as core holds it.
    pub dynspace: Arc<dyn AddressSpace>,
    /// The context.
    pub ctx: H::Context,
    /// The registers [`Vm::run`] runs with.
    pub cpu: CpuState,
    next_off: u64,
}

impl<H: Harness> Vm<H> {
    /// A machine with the platform's default options.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self::with_options(H::Options::default())
    }

    /// A machine with options `opts`.
    pub fn with_options(opts: H::Options) -> Self {
        let mf = Arc::new(HostMemoryFile::with_reserve(1 << 30).unwrap());
        let (platform, space, ctx) = H::build(mf.clone(), opts);
        let dynspace: Arc<dyn AddressSpace> = space.clone();
        Vm {
            platform,
            mf,
            space,
            dynspace,
            ctx,
            cpu: CpuState::default(),
            next_off: 0,
        }
    }

    /// Allocates `pages` pages of the memory file holding `bytes`.
    pub fn alloc(&mut self, bytes: &[u8], pages: u64) -> FileOffset {
        let off = self.next_off;
        self.next_off += pages * PAGE;
        self.mf.grow(self.next_off).unwrap();
        self.mf.write(FileOffset(off), bytes).unwrap();
        FileOffset(off)
    }

    /// Maps `bytes` at `addr` with `prot`; returns the file offset.
    pub fn map_bytes(&mut self, addr: u64, bytes: &[u8], prot: Prot) -> FileOffset {
        let pages = (bytes.len() as u64).div_ceil(PAGE).max(1);
        let off = self.alloc(bytes, pages);
        self.space
            .map(UserAddr(addr), pages * PAGE, off, prot)
            .unwrap();
        off
    }

    /// Maps `code` at CODE and points rip at it.
    pub fn load(&mut self, code: &[u8]) {
        self.map_bytes(CODE, code, Prot::READ | Prot::EXEC);
        self.cpu.regs.rip = CODE;
    }

    /// Maps a 4-page stack below STACK_TOP and points rsp at its top.
    pub fn stack(&mut self) {
        self.map_bytes(
            STACK_TOP - 4 * PAGE,
            &[0; 4 * PAGE as usize],
            Prot::READ | Prot::WRITE,
        );
        self.cpu.regs.rsp = STACK_TOP;
    }

    /// Runs until the next trap.
    pub fn run(&mut self) -> Trap {
        self.ctx.switch(&self.dynspace, &mut self.cpu).unwrap()
    }

    /// The host pid of the address space's stub.
    pub fn stub_pid(&self) -> i32 {
        H::stub_pid(&self.space)
    }

    /// The tid of the stub thread the context last ran in.
    pub fn stub_tid(&self) -> Option<i32> {
        H::stub_tid(&self.ctx)
    }
}

/// `mov eax, imm32`
pub fn mov_eax(v: u32) -> Vec<u8> {
    let mut b = vec![0xb8];
    b.extend_from_slice(&v.to_le_bytes());
    b
}

/// `movabs rax, imm64`
pub fn mov_rax(v: u64) -> Vec<u8> {
    let mut b = vec![0x48, 0xb8];
    b.extend_from_slice(&v.to_le_bytes());
    b
}

/// `movabs r<n>, imm64` for n in 0..16 (0 = rax, 7 = rdi, 8 = r8 ...).
pub fn mov_reg(n: u8, v: u64) -> Vec<u8> {
    let rex = 0x48 | if n >= 8 { 1 } else { 0 };
    let mut b = vec![rex, 0xb8 + (n & 7)];
    b.extend_from_slice(&v.to_le_bytes());
    b
}

/// `syscall`
pub const SYSCALL: [u8; 2] = [0x0f, 0x05];
/// `mov rdi, rax`
pub const MOV_RDI_RAX: [u8; 3] = [0x48, 0x89, 0xc7];
/// `jmp $`
pub const JMP_SELF: [u8; 2] = [0xeb, 0xfe];

/// `mov rdi, rax; mov eax, 60; syscall`: exit(rax) as a syscall trap.
pub fn exit_with_rax() -> Vec<u8> {
    let mut b = MOV_RDI_RAX.to_vec();
    b.extend(mov_eax(60));
    b.extend(SYSCALL);
    b
}

/// The parts, one after another.
pub fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// `loop: mov eax, 39; syscall; jmp loop`: a getpid trap per switch.
pub const GETPID_LOOP: [u8; 9] = [0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7];

/// The median of `v` (which it sorts).
pub fn median(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

/// Times getpid round trips (switch -> `Trap::Syscall` -> switch) of
/// `ctx` in `space`, `cpu` at a [`GETPID_LOOP`]: `warmup` untimed, then
/// `n` timed ones. Returns the median and the mean, in ns.
pub fn round_trips(
    ctx: &mut dyn Context,
    space: &Arc<dyn AddressSpace>,
    cpu: &mut CpuState,
    warmup: u32,
    n: u32,
) -> (u64, u128) {
    for _ in 0..warmup {
        assert_eq!(ctx.switch(space, cpu), Ok(Trap::Syscall));
    }
    let mut samples = Vec::with_capacity(n as usize);
    let t = std::time::Instant::now();
    for _ in 0..n {
        let s = std::time::Instant::now();
        let trap = ctx.switch(space, cpu).unwrap();
        debug_assert_eq!(trap, Trap::Syscall);
        cpu.regs.rax = 1; // the "result"
        samples.push(s.elapsed().as_nanos() as u64);
    }
    let mean = t.elapsed().as_nanos() / n.max(1) as u128;
    assert_eq!(cpu.regs.orig_rax, 39);
    (median(&mut samples), mean)
}

/// Times `n` maps of the page at file offset `off` to `addr` (read-only
/// and read-write in turn): the median, in ns.
pub fn map_latency(space: &dyn AddressSpace, addr: u64, off: FileOffset, n: u64) -> u64 {
    let mut samples = Vec::with_capacity(n as usize);
    for i in 0..n {
        let prot = if i % 2 == 0 {
            Prot::READ
        } else {
            Prot::READ | Prot::WRITE
        };
        let s = std::time::Instant::now();
        space.map(UserAddr(addr), PAGE, off, prot).unwrap();
        samples.push(s.elapsed().as_nanos() as u64);
    }
    median(&mut samples)
}

/// Whether the trap is a system call.
pub fn is_syscall(t: Trap) -> bool {
    t == Trap::Syscall
}

/// Whether host process `pid` exists (as anything but a reaped child: a
/// zombie counts).
pub fn pid_exists(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether host process `pid` exists (as anything but a zombie).
pub fn process_live(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.contains(") Z"),
        Err(_) => false,
    }
}

/// Whether thread `tid` of process `pid` exists (as anything but a reaped
/// thread).
pub fn task_exists(pid: i32, tid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}/task/{tid}")).exists()
}

/// How many threads process `pid` has.
pub fn task_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The fields of /proc/PID/task/TID/stat after the command name.
fn stat_fields(pid: i32, tid: i32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(String::from).collect())
}

/// The scheduler state letter of a thread (`R`, `S`, `t`, `Z`, ...).
pub fn thread_state(pid: i32, tid: i32) -> Option<char> {
    stat_fields(pid, tid)?.first()?.chars().next()
}

/// Time a thread has spent on a CPU, in nanoseconds (schedstat).
pub fn cpu_time(pid: i32, tid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A host process's maps, as the host sees them.
pub fn maps(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default()
}
