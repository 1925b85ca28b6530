//! A tiny machine for the tests: a memory file, a systrap platform, one
//! address space and context, and helpers to place code and data.
#![allow(dead_code)]

use std::sync::Arc;

use veil_core::platform::{AddressSpace, Context, CpuState, MemoryFile, Prot, Trap};
use veil_core::{FileOffset, UserAddr};
use veil_host::HostMemoryFile;
use veil_platform_systrap::{SystrapAddressSpace, SystrapContext, SystrapOptions, SystrapPlatform};

pub const PAGE: u64 = 4096;
pub const CODE: u64 = 0x40_0000;
pub const STACK_TOP: u64 = 0x7000_0000;

pub struct Vm {
    pub platform: SystrapPlatform,
    pub mf: Arc<HostMemoryFile>,
    pub space: Arc<SystrapAddressSpace>,
    pub dynspace: Arc<dyn AddressSpace>,
    pub ctx: SystrapContext,
    pub cpu: CpuState,
    next_off: u64,
}

impl Vm {
    pub fn new() -> Vm {
        Vm::with_options(SystrapOptions::default())
    }

    pub fn with_options(opts: SystrapOptions) -> Vm {
        let mf = Arc::new(HostMemoryFile::with_reserve(1 << 30).unwrap());
        let platform = SystrapPlatform::with_memory_file(mf.clone(), opts).unwrap();
        let space = platform.new_systrap_address_space().unwrap();
        let dynspace: Arc<dyn AddressSpace> = space.clone();
        let ctx = platform.new_systrap_context();
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

    pub fn run(&mut self) -> Trap {
        self.ctx.switch(&self.dynspace, &mut self.cpu).unwrap()
    }

    pub fn stub_pid(&self) -> i32 {
        self.space.stub_pid()
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

pub fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Whether host process `pid` exists (as anything but a zombie).
pub fn process_exists(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.contains(") Z"),
        Err(_) => false,
    }
}

/// A host process's maps, as the host sees them.
pub fn maps(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default()
}
